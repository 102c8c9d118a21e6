//! history (instance, type, system): https://hl7.org/fhir/R4/http.html#history

use conformance_tests::{
    assert_fhir_json_content_type, assert_outcome, backend_tests, create_patient, sample_patient,
    Client,
};
use serde_json::{json, Value};

/// Fetches `path` and every page behind its `next` links; returns all
/// entries in order, checking each page is a `history` Bundle.
fn all_pages(c: &Client, path: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut next = Some(path.to_string());
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        assert!(pages <= 100, "more than 100 pages: the next links loop");
        let resp = c.get(&url);
        resp.expect_status(200);
        let bundle = resp.json();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "history", "{bundle}");
        entries.extend(bundle["entry"].as_array().cloned().unwrap_or_default());
        next = link(&bundle, "next");
    }
    entries
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)?["url"]
        .as_str()
        .map(str::to_string)
}

fn version_ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            e["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap_or("-")
                .to_string()
        })
        .collect()
}

/// Creates Patient `id` and updates it `updates` times.
fn patient_with_versions(c: &Client, id: &str, updates: usize) {
    let mut p = sample_patient();
    p["id"] = json!(id);
    c.put(&format!("/Patient/{id}"), &p).expect_status(201);
    for i in 0..updates {
        p["name"][0]["given"] = json!([format!("Taro{i}")]);
        c.put(&format!("/Patient/{id}"), &p).expect_status(200);
    }
}

backend_tests! {
    /// Instance history: a `history` Bundle, newest version first, each entry
    /// with fullUrl, resource, request and response.
    fn instance_history_lists_every_version_newest_first(server) {
        let c = server.client();
        patient_with_versions(&c, "h1", 2);
        let resp = c.get("/Patient/h1/_history");
        resp.expect_status(200);
        assert_fhir_json_content_type(&resp);
        let bundle = resp.json();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "history");
        assert!(link(&bundle, "self").is_some(), "history Bundle without a self link: {bundle}");
        if let Some(total) = bundle.get("total") {
            assert_eq!(total, 3);
        }
        let entries = bundle["entry"].as_array().expect("entries");
        assert_eq!(version_ids(entries), ["3", "2", "1"]);
        for e in entries {
            assert_eq!(e["resource"]["id"], "h1");
            let full = e["fullUrl"].as_str().expect("entry.fullUrl");
            assert!(full.ends_with("/fhir/Patient/h1"), "fullUrl {full}");
            assert!(e["request"]["url"].is_string(), "entry.request.url: {e}");
            assert!(e["response"]["status"].is_string(), "entry.response.status: {e}");
        }
        assert_eq!(entries[0]["request"]["method"], "PUT");
        assert_eq!(entries[2]["request"]["method"], "PUT");
        assert_eq!(entries[2]["response"]["status"].as_str().map(|s| &s[..3]), Some("201"));
        assert_eq!(entries[0]["response"]["status"].as_str().map(|s| &s[..3]), Some("200"));
        assert_eq!(entries[0]["resource"]["name"][0]["given"][0], "Taro1");
    }

    /// A resource created by POST shows `request.method` POST in its history.
    fn instance_history_records_post(server) {
        let c = server.client();
        let id = create_patient(&c);
        let entries = all_pages(&c, &format!("/Patient/{id}/_history"));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["request"]["method"], "POST");
    }

    /// History of an id that never existed: http.html#history does not say,
    /// so either a 404 OperationOutcome (as for read) or an empty history
    /// Bundle is accepted; anything else is not.
    fn instance_history_of_unknown_id_is_404_or_empty(server) {
        let c = server.client();
        let resp = c.get("/Patient/nobody/_history");
        if resp.status == 404 {
            assert_outcome(&resp, 404, &["not-found"], None);
        } else {
            resp.expect_status(200);
            let bundle = resp.json();
            assert_eq!(bundle["type"], "history");
            assert!(bundle["entry"].as_array().is_none_or(Vec::is_empty), "{bundle}");
        }
    }

    /// Type history holds every version of every resource of that type, and
    /// nothing of other types.
    fn type_history_covers_one_type(server) {
        let c = server.client();
        patient_with_versions(&c, "t1", 1);
        patient_with_versions(&c, "t2", 0);
        c.put("/Observation/o1", &json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "x"}})).expect_status(201);
        let entries = all_pages(&c, "/Patient/_history");
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert!(entries.iter().all(|e| e["resource"]["resourceType"] == "Patient"));
        let mut keys: Vec<String> = entries
            .iter()
            .map(|e| format!("{}/{}", e["resource"]["id"].as_str().unwrap(), e["resource"]["meta"]["versionId"].as_str().unwrap()))
            .collect();
        keys.sort();
        assert_eq!(keys, ["t1/1", "t1/2", "t2/1"]);
    }

    /// System history holds every version of every type, newest first.
    fn system_history_covers_all_types(server) {
        let c = server.client();
        patient_with_versions(&c, "s1", 1);
        c.put("/Observation/s2", &json!({"resourceType": "Observation", "id": "s2", "status": "final",
            "code": {"text": "x"}})).expect_status(201);
        let entries = all_pages(&c, "/_history");
        let keys: Vec<String> = entries
            .iter()
            .map(|e| format!("{}/{}/{}", e["resource"]["resourceType"].as_str().unwrap(),
                e["resource"]["id"].as_str().unwrap(), e["resource"]["meta"]["versionId"].as_str().unwrap()))
            .collect();
        assert_eq!(keys, ["Observation/s2/1", "Patient/s1/2", "Patient/s1/1"]);
    }

    /// `_count` pages the history; following `next` links visits every
    /// version exactly once, in order.
    fn history_pages_with_next_links(server) {
        let c = server.client();
        patient_with_versions(&c, "p1", 6);
        let first = c.get("/Patient/p1/_history?_count=2");
        first.expect_status(200);
        let bundle = first.json();
        assert_eq!(bundle["entry"].as_array().map(Vec::len), Some(2), "{bundle}");
        assert!(link(&bundle, "next").is_some(), "first page has no next link: {bundle}");
        let entries = all_pages(&c, "/Patient/p1/_history?_count=2");
        assert_eq!(version_ids(&entries), ["7", "6", "5", "4", "3", "2", "1"]);
        let sys = all_pages(&c, "/_history?_count=3");
        assert_eq!(version_ids(&sys), ["7", "6", "5", "4", "3", "2", "1"]);
    }
}
