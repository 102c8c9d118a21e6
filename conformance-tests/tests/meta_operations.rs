//! `$meta`, `$meta-add`, `$meta-delete`
//! (https://hl7.org/fhir/R4/resource-operations.html#meta).

use conformance_tests::{assert_outcome, backend_tests, create_patient, etag_version};
use serde_json::{json, Value};

fn meta_param(meta: Value) -> Value {
    json!({"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": meta}]})
}

fn returned(resp: &conformance_tests::Response) -> Value {
    let body = resp.json();
    assert_eq!(body["resourceType"], "Parameters", "{body}");
    assert_eq!(body["parameter"][0]["name"], "return");
    body["parameter"][0]["valueMeta"].clone()
}

backend_tests! {
    /// Tags, security labels and profiles are added as sets and removed by
    /// system and code, without a new version.
    fn meta_add_and_delete_change_meta_in_place(server) {
        let c = server.client();
        let id = create_patient(&c);
        let add = meta_param(json!({
            "tag": [{"system": "http://example.org/t", "code": "a", "display": "A"}, {"system": "http://example.org/t", "code": "b"}],
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
            "profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"]
        }));
        let r = c.post(&format!("/Patient/{id}/$meta-add"), &add);
        r.expect_status(200);
        let meta = returned(&r);
        assert_eq!(meta["tag"].as_array().map(Vec::len), Some(2));
        assert_eq!(meta["versionId"], "1", "no new version");
        // Adding again changes nothing: they are sets.
        let meta = returned(&c.post(&format!("/Patient/{id}/$meta-add"), &add));
        assert_eq!(meta["tag"].as_array().map(Vec::len), Some(2));
        let read = c.get(&format!("/Patient/{id}"));
        assert_eq!(etag_version(&read), "1");
        assert_eq!(read.json()["meta"]["security"][0]["code"], "R");
        let del = meta_param(json!({"tag": [{"system": "http://example.org/t", "code": "a"}]}));
        let meta = returned(&c.post(&format!("/Patient/{id}/$meta-delete"), &del));
        assert_eq!(meta["tag"], json!([{"system": "http://example.org/t", "code": "b"}]));
        let meta = returned(&c.get(&format!("/Patient/{id}/$meta")));
        assert_eq!(meta["profile"], json!(["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"]));
        let history = c.get(&format!("/Patient/{id}/_history")).json();
        assert_eq!(history["total"], 1);
    }

    /// Historical versions can be read and changed the same way.
    fn meta_on_a_version(server) {
        let c = server.client();
        let id = create_patient(&c);
        let mut p = c.get(&format!("/Patient/{id}")).json();
        p["active"] = json!(false);
        c.put(&format!("/Patient/{id}"), &p).expect_status(200);
        let add = meta_param(json!({"tag": [{"system": "http://example.org/t", "code": "old"}]}));
        let meta = returned(&c.post(&format!("/Patient/{id}/_history/1/$meta-add"), &add));
        assert_eq!(meta["versionId"], "1");
        assert_eq!(c.get(&format!("/Patient/{id}/_history/1")).json()["meta"]["tag"][0]["code"], "old");
        assert!(c.get(&format!("/Patient/{id}")).json()["meta"].get("tag").is_none(), "current version untouched");
    }

    /// Bad input: no meta parameter, an unknown operation, a missing resource.
    fn meta_errors(server) {
        let c = server.client();
        let id = create_patient(&c);
        let r = c.post(&format!("/Patient/{id}/$meta-add"), &json!({"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "y"}]}));
        assert_outcome(&r, 400, &["required"], None);
        let r = c.post(&format!("/Patient/{id}/$meta-add"), &json!({"resourceType": "Patient"}));
        assert_outcome(&r, 400, &["invalid"], None);
        assert_outcome(&c.get(&format!("/Patient/{id}/$nothing")), 404, &["not-found"], None);
        assert_outcome(&c.get("/Patient/missing/$meta"), 404, &["not-found"], None);
        assert_outcome(&c.get(&format!("/Patient/{id}/$meta-add")), 405, &["not-supported"], None);
    }
}
