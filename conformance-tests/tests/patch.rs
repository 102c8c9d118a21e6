//! patch (PATCH [base]/[type]/[id]): https://hl7.org/fhir/R4/http.html#patch
//! with JSON Patch (RFC 6902) and FHIRPath Patch
//! (https://hl7.org/fhir/R4/fhirpatch.html), over HTTP on both backends.

use conformance_tests::{assert_outcome, backend_tests, create_patient, etag_version, TestServer};
use serde_json::{json, Value};

const JSON_PATCH: &str = "application/json-patch+json";
const FHIR_JSON: &str = "application/fhir+json";
const FHIR_XML: &str = "application/fhir+xml";

/// A PATCH with optional extra headers; returns status, ETag and body.
fn patch(
    server: &TestServer,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Option<String>, Vec<u8>) {
    let url = server.client().url(path);
    let mut req = ureq::request("PATCH", &url)
        .set("Content-Type", content_type)
        .set("Accept", FHIR_JSON);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("PATCH {url}: {e}"),
    };
    let status = resp.status();
    let etag = resp.header("etag").map(str::to_owned);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).expect("body");
    (status, etag, bytes)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// A FHIRPath Patch `Parameters` with one operation.
fn fhirpath_op(parts: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "resourceType": "Parameters",
        "parameter": [{"name": "operation", "part": parts}],
    }))
    .expect("json")
}

backend_tests! {
    /// JSON Patch changes the resource: 200 with the new version, ETag and
    /// Last-Modified, and a read shows the change.
    fn json_patch_updates_the_resource(server) {
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        let body = br#"[{"op":"test","path":"/gender","value":"male"},
                        {"op":"replace","path":"/gender","value":"female"},
                        {"op":"add","path":"/name/0/given/-","value":"Jiro"}]"#;
        let (status, etag, resp) = patch(server, &path, JSON_PATCH, &[], body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(etag.as_deref(), Some("W/\"2\""));
        let r = json_of(&resp);
        assert_eq!(r["gender"], "female");
        assert_eq!(r["meta"]["versionId"], "2");
        let read = c.get(&path);
        assert_eq!(etag_version(&read), "2");
        assert!(read.header("last-modified").is_some());
        assert_eq!(read.json()["name"][0]["given"], json!(["Taro", "Jiro"]));
    }

    /// FHIRPath Patch in JSON and in XML.
    fn fhirpath_patch_updates_the_resource(server) {
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        let body = fhirpath_op(json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.birthDate"},
            {"name": "value", "valueDate": "1980-02-03"},
        ]));
        let (status, _, resp) = patch(server, &path, FHIR_JSON, &[], &body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(json_of(&resp)["birthDate"], "1980-02-03");

        let xml = br#"<Parameters xmlns="http://hl7.org/fhir">
          <parameter><name value="operation"/>
            <part><name value="type"/><valueCode value="add"/></part>
            <part><name value="path"/><valueString value="Patient"/></part>
            <part><name value="name"/><valueString value="deceased"/></part>
            <part><name value="value"/><valueBoolean value="false"/></part>
          </parameter>
        </Parameters>"#;
        let (status, etag, resp) = patch(server, &path, FHIR_XML, &[], xml);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(etag.as_deref(), Some("W/\"3\""));
        let read = c.get(&path).json();
        assert_eq!(read["deceasedBoolean"], false);
        assert_eq!(read["birthDate"], "1980-02-03");
    }

    /// A patch whose result is not a valid resource is 422 and changes
    /// nothing (http.html#patch).
    fn patch_making_the_resource_invalid_is_422(server) {
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        let before = c.get(&path).json();
        let (status, _, resp) = patch(server, &path, JSON_PATCH, &[],
            br#"[{"op":"replace","path":"/birthDate","value":"not a date"}]"#);
        assert_eq!(status, 422, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(json_of(&resp)["resourceType"], "OperationOutcome");
        let (status, _, _) = patch(server, &path, JSON_PATCH, &[],
            br#"[{"op":"add","path":"/colour","value":"blue"}]"#);
        assert_eq!(status, 422);
        let body = fhirpath_op(json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.active"},
            {"name": "value", "valueString": "yes"},
        ]));
        let (status, _, _) = patch(server, &path, FHIR_JSON, &[], &body);
        assert_eq!(status, 422);
        let after = c.get(&path);
        assert_eq!(etag_version(&after), "1", "nothing was stored");
        assert_eq!(after.json(), before);
    }

    /// A patch that does not apply (failed test, a path that matches
    /// nothing) is 422; a malformed one 400; neither stores anything.
    fn patches_that_do_not_apply_or_parse_fail(server) {
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        let (status, _, _) = patch(server, &path, JSON_PATCH, &[],
            br#"[{"op":"test","path":"/gender","value":"female"},{"op":"remove","path":"/gender"}]"#);
        assert_eq!(status, 422);
        let body = fhirpath_op(json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.maritalStatus"},
            {"name": "value", "valueCodeableConcept": {"text": "single"}},
        ]));
        let (status, _, _) = patch(server, &path, FHIR_JSON, &[], &body);
        assert_eq!(status, 422);
        for bad in [&b"{\"op\":\"add\"}"[..], b"[{\"op\":\"fly\",\"path\":\"/a\"}]", b"not json"] {
            let (status, _, resp) = patch(server, &path, JSON_PATCH, &[], bad);
            assert_eq!(status, 400, "{}", String::from_utf8_lossy(&resp));
        }
        let body = fhirpath_op(json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.name.where("},
            {"name": "value", "valueString": "x"},
        ]));
        let (status, _, _) = patch(server, &path, FHIR_JSON, &[], &body);
        assert_eq!(status, 400);
        let (status, _, _) = patch(server, &path, "text/plain", &[], b"[]");
        assert_eq!(status, 415);
        assert_eq!(etag_version(&c.get(&path)), "1");
    }

    /// `If-Match` with the current version patches; a stale one is 412 and
    /// changes nothing.
    fn if_match_guards_patches(server) {
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        let body = br#"[{"op":"replace","path":"/active","value":false}]"#;
        let (status, etag, _) = patch(server, &path, JSON_PATCH, &[("If-Match", "W/\"1\"")], body);
        assert_eq!(status, 200);
        assert_eq!(etag.as_deref(), Some("W/\"2\""));
        let (status, _, resp) = patch(server, &path, JSON_PATCH, &[("If-Match", "W/\"1\"")],
            br#"[{"op":"replace","path":"/active","value":true}]"#);
        assert_eq!(status, 412, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(json_of(&resp)["resourceType"], "OperationOutcome");
        let read = c.get(&path);
        assert_eq!(etag_version(&read), "2");
        assert_eq!(read.json()["active"], false);
    }

    /// Unknown resources are 404, deleted ones 410; a patch may not change
    /// the id (422).
    fn patch_of_missing_deleted_or_renamed(server) {
        let c = server.client();
        let body = br#"[{"op":"replace","path":"/active","value":false}]"#;
        let (status, _, _) = patch(server, "/Patient/nobody", JSON_PATCH, &[], body);
        assert_eq!(status, 404);
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        let (status, _, _) = patch(server, &path, JSON_PATCH, &[],
            br#"[{"op":"replace","path":"/id","value":"other"}]"#);
        assert_eq!(status, 422);
        let d = c.delete(&path);
        assert!(matches!(d.status, 200 | 204));
        let (status, _, resp) = patch(server, &path, JSON_PATCH, &[], body);
        assert_eq!(status, 410, "{}", String::from_utf8_lossy(&resp));
    }

    /// Concurrent patches without `If-Match` each apply to the version
    /// current when they are written: none is lost.
    fn concurrent_patches_lose_nothing(server) {
        const WRITERS: usize = 8;
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        std::thread::scope(|s| {
            for n in 0..WRITERS {
                let path = &path;
                s.spawn(move || {
                    let body = format!(r#"[{{"op":"add","path":"/name/0/given/-","value":"g{n}"}}]"#);
                    let (status, _, resp) = patch(server, path, JSON_PATCH, &[], body.as_bytes());
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
                });
            }
        });
        let read = c.get(&path);
        assert_eq!(etag_version(&read), (WRITERS + 1).to_string());
        let given = read.json()["name"][0]["given"].clone();
        let given = given.as_array().expect("given");
        assert_eq!(given.len(), WRITERS + 1, "{given:?}");
        for n in 0..WRITERS {
            assert!(given.contains(&json!(format!("g{n}"))), "g{n} lost: {given:?}");
        }
    }

    /// PATCH is listed in `Allow`, and in the CapabilityStatement.
    fn patch_is_advertised(server) {
        let c = server.client();
        let r = c.request("POST", "/Patient/x", None, &[]);
        assert_outcome(&r, 405, &["not-supported"], None);
        assert!(r.header("allow").is_some_and(|a| a.contains("PATCH")), "{:?}", r.header("allow"));
        let cs = c.get("/metadata").json();
        let codes: Vec<&str> = cs["rest"][0]["resource"][0]["interaction"]
            .as_array().expect("interaction").iter().filter_map(|i| i["code"].as_str()).collect();
        assert!(codes.contains(&"patch"), "{codes:?}");
    }
}
