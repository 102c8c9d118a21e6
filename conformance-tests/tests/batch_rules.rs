//! A batch is independent (http.html#transaction): each malformed entry
//! fails alone with its own status and OperationOutcome; only a malformed
//! Bundle is a 400. Entries may search, read history and PATCH.

use base64::Engine;
use conformance_tests::backend_tests;
use serde_json::{json, Value};

fn batch(entries: Value) -> Value {
    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
}

backend_tests! {
    /// Item 17: an unparseable resource, an unknown method, a wrong
    /// resourceType and a bad URL each fail alone; the good entries are
    /// stored.
    fn malformed_entries_fail_alone(server) {
        let c = server.client();
        let bundle = batch(json!([
            {"resource": {"resourceType": "Patient", "id": "bm1"}, "request": {"method": "PUT", "url": "Patient/bm1"}},
            {"resource": {"resourceType": "Patient", "birthDate": "1990-13-01"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "FETCH", "url": "Patient"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Nonsense/1"}},
            {"resource": {"resourceType": "Patient", "id": "bm2"}, "request": {"method": "PUT", "url": "Patient/bm2"}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(out["type"], "batch-response");
        let status = |k: usize| out["entry"][k]["response"]["status"].as_str().unwrap_or("").to_owned();
        assert_eq!(status(0), "201 Created", "{out}");
        assert_eq!(status(5), "201 Created", "{out}");
        for k in 1..=4 {
            assert!(status(k).starts_with('4'), "entry {k}: {out}");
            assert_eq!(out["entry"][k]["response"]["outcome"]["resourceType"], "OperationOutcome", "entry {k}: {out}");
        }
        let birth = &out["entry"][1]["response"]["outcome"]["issue"][0]["expression"][0];
        assert!(birth.as_str().unwrap_or("").starts_with("Bundle.entry[1]"), "{out}");
        c.get("/Patient/bm1").expect_status(200);
        c.get("/Patient/bm2").expect_status(200);
        // The Bundle itself malformed is still a 400.
        let r = c.post("", &json!({"resourceType": "Bundle", "type": "batch", "timestamp": "yesterday", "entry": []}));
        assert_eq!(r.status, 400, "{}", r.text());
        let r = c.post("", &json!({"resourceType": "Bundle", "type": "searchset"}));
        assert_eq!(r.status, 400, "{}", r.text());
    }

    /// Item 19: a batch searches, reads history and `metadata`, and
    /// PATCHes; a patch that does not apply fails alone.
    fn entries_search_history_metadata_and_patch(server) {
        let c = server.client();
        let mut p = conformance_tests::sample_patient();
        p["id"] = json!("bp1");
        c.put("/Patient/bp1", &p).expect_status(201);
        let encode = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let bundle = batch(json!([
            {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": encode(br#"[{"op":"replace","path":"/gender","value":"female"}]"#)},
             "request": {"method": "PATCH", "url": "Patient/bp1"}},
            {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": encode(br#"[{"op":"remove","path":"/nothing"}]"#)},
             "request": {"method": "PATCH", "url": "Patient/bp1"}},
            {"request": {"method": "GET", "url": "Patient?_id=bp1&gender=female"}},
            {"request": {"method": "GET", "url": "Patient/_history?_count=1"}},
            {"request": {"method": "GET", "url": "_history"}},
            {"request": {"method": "GET", "url": "metadata"}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(out["entry"][0]["response"]["status"], "200 OK", "{out}");
        assert!(out["entry"][1]["response"]["status"].as_str().unwrap_or("").starts_with('4'), "{out}");
        let search = &out["entry"][2]["resource"];
        assert_eq!((search["type"].clone(), search["total"].clone()), (json!("searchset"), json!(1)), "the search sees the patch: {out}");
        assert_eq!(out["entry"][3]["resource"]["type"], "history", "{out}");
        assert_eq!(out["entry"][3]["resource"]["entry"].as_array().map(Vec::len), Some(1), "{out}");
        assert_eq!(out["entry"][4]["resource"]["type"], "history", "{out}");
        assert_eq!(out["entry"][5]["resource"]["resourceType"], "CapabilityStatement");
        assert_eq!(c.get("/Patient/bp1").json()["gender"], "female");
    }
}
