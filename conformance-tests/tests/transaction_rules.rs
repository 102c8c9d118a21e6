//! The rules of transaction processing (http.html#transaction) that issue
//! #17 found broken: preconditions on DELETE and `If-None-Match` (REST and
//! in entries), overlapping identities, `urn:uuid` links outside
//! `Reference.reference`, a failing GET failing the whole transaction, and
//! entries that search, read history or `metadata` or PATCH.

use base64::Engine;
use conformance_tests::{backend_tests, create_patient, etag_version, sample_patient, TestServer};
use serde_json::{json, Value};

fn transaction(entries: Value) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn patient(id: &str, family: &str) -> Value {
    let mut p = sample_patient();
    p["id"] = json!(id);
    p["name"] = json!([{"family": family}]);
    p
}

/// A request with extra headers; 4xx/5xx answers are returned too.
fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> conformance_tests::http::Response {
    let bytes = body
        .map(|b| serde_json::to_vec(b).expect("json"))
        .unwrap_or_default();
    let ct = body.map(|_| "application/fhir+json");
    server
        .client()
        .try_request_with(method, path, ct, &bytes, headers)
        .expect("request")
}

/// The issues' expressions of an OperationOutcome.
fn expressions(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["expression"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

backend_tests! {
    /// Item 1: `DELETE` with a stale `If-Match` is 412 and deletes nothing;
    /// with the current version it deletes. The same as `request.ifMatch`
    /// of a transaction entry (the whole transaction fails) and of a
    /// conditional delete, whose criteria must name one resource.
    fn delete_honours_if_match(server) {
        let c = server.client();
        let id = create_patient(&c);
        let path = format!("/Patient/{id}");
        c.put(&path, &patient(&id, "Two")).expect_status(200);
        let r = send(server, "DELETE", &path, &[("If-Match", "W/\"1\"")], None);
        assert_eq!(r.status, 412, "{}", r.text());
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
        assert_eq!(etag_version(&c.get(&path)), "2", "still there");

        let bundle = transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "dim-new"}, "request": {"method": "PUT", "url": "Patient/dim-new"}},
            {"request": {"method": "DELETE", "url": format!("Patient/{id}"), "ifMatch": "W/\"1\""}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 412, "{}", r.text());
        assert!(r.text().contains("entry 1"), "{}", r.text());
        c.get("/Patient/dim-new").expect_status(404);
        c.get(&path).expect_status(200);

        let mut tagged = patient("dim-c", "Cond");
        tagged["identifier"] = json!([{"system": "urn:test:dim", "value": "c1"}]);
        c.put("/Patient/dim-c", &tagged).expect_status(201);
        let r = send(server, "DELETE", "/Patient?identifier=urn:test:dim|c1", &[("If-Match", "W/\"2\"")], None);
        assert_eq!(r.status, 412, "conditional delete, stale version: {}", r.text());
        c.get("/Patient/dim-c").expect_status(200);
        let r = send(server, "DELETE", "/Patient?identifier=urn:test:dim|c1", &[("If-Match", "W/\"1\"")], None);
        assert_eq!(r.status, 204, "{}", r.text());
        c.get("/Patient/dim-c").expect_status(410);

        let r = send(server, "DELETE", &path, &[("If-Match", "W/\"2\"")], None);
        assert_eq!(r.status, 204, "{}", r.text());
        c.get(&path).expect_status(410);
    }

    /// Item 2: a transaction whose entries change the same resource twice
    /// (two PUTs; a DELETE and a PUT; a conditional update resolving to an
    /// id another entry names) fails with a 400 naming both entries, and
    /// stores nothing.
    fn overlapping_identities_fail_the_transaction(server) {
        let c = server.client();
        let two_puts = transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "ov-other"}, "request": {"method": "PUT", "url": "Patient/ov-other"}},
            {"resource": {"resourceType": "Patient", "id": "dup1", "active": true}, "request": {"method": "PUT", "url": "Patient/dup1"}},
            {"resource": {"resourceType": "Patient", "id": "dup1", "active": false}, "request": {"method": "PUT", "url": "Patient/dup1"}}
        ]));
        let r = c.post("", &two_puts);
        assert_eq!(r.status, 400, "{}", r.text());
        let named = expressions(&r.json());
        assert!(named.contains(&"Bundle.entry[1]".to_owned()) && named.contains(&"Bundle.entry[2]".to_owned()), "{}", r.text());
        c.get("/Patient/dup1").expect_status(404);
        c.get("/Patient/ov-other").expect_status(404);

        let id = create_patient(&c);
        let delete_and_put = transaction(json!([
            {"request": {"method": "DELETE", "url": format!("Patient/{id}")}},
            {"resource": patient(&id, "Again"), "request": {"method": "PUT", "url": format!("Patient/{id}")}}
        ]));
        let r = c.post("", &delete_and_put);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(etag_version(&c.get(&format!("/Patient/{id}"))), "1");

        let mut tagged = patient("ov-cond", "Cond");
        tagged["identifier"] = json!([{"system": "urn:test:ov", "value": "x"}]);
        c.put("/Patient/ov-cond", &tagged).expect_status(201);
        let resolved = transaction(json!([
            {"resource": {"resourceType": "Patient", "active": false}, "request": {"method": "PUT", "url": "Patient?identifier=urn:test:ov|x"}},
            {"request": {"method": "DELETE", "url": "Patient/ov-cond"}}
        ]));
        let r = c.post("", &resolved);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(etag_version(&c.get("/Patient/ov-cond")), "1");

        // Reads are not writes, and two conditional creates that match the
        // same resource write nothing: no overlap.
        let fine = transaction(json!([
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:test:ov|x"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:test:ov|x"}},
            {"request": {"method": "GET", "url": "Patient/ov-cond"}},
            {"request": {"method": "GET", "url": "Patient/ov-cond"}}
        ]));
        c.post("", &fine).expect_status(200);
    }

    /// Item 3: `If-None-Match: *` on PUT creates when the resource is
    /// absent and is 412 when it exists (RFC 9110 §13.1.2), over REST and
    /// as `request.ifNoneMatch`.
    fn if_none_match_star_only_creates(server) {
        let c = server.client();
        let r = send(server, "PUT", "/Patient/inm1", &[("If-None-Match", "*")], Some(&patient("inm1", "First")));
        assert_eq!(r.status, 201, "{}", r.text());
        let r = send(server, "PUT", "/Patient/inm1", &[("If-None-Match", "*")], Some(&patient("inm1", "Second")));
        assert_eq!(r.status, 412, "{}", r.text());
        let now = c.get("/Patient/inm1");
        assert_eq!((etag_version(&now), now.json()["name"][0]["family"].clone()), ("1".to_owned(), json!("First")));

        let put = |family: &str| transaction(json!([
            {"resource": patient("inm2", family), "request": {"method": "PUT", "url": "Patient/inm2", "ifNoneMatch": "*"}}
        ]));
        let r = c.post("", &put("First"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["entry"][0]["response"]["status"], "201 Created");
        let r = c.post("", &put("Second"));
        assert_eq!(r.status, 412, "{}", r.text());
        assert_eq!(c.get("/Patient/inm2").json()["name"][0]["family"], "First");
    }

    /// Item 4: a Binary's `urn:uuid` is replaced in
    /// `DocumentReference.content.attachment.url` and in the narrative's
    /// `<a href>`; an `Identifier.value` (a string) that looks the same is
    /// left alone.
    fn urn_uuid_is_replaced_in_uri_elements_and_narrative(server) {
        let c = server.client();
        let binary = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0";
        let bundle = transaction(json!([
            {"fullUrl": binary, "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="},
             "request": {"method": "POST", "url": "Binary"}},
            {"resource": {"resourceType": "DocumentReference", "status": "current",
              "identifier": [{"system": "urn:ietf:rfc:3986", "value": binary}],
              "text": {"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"{binary}\">the document</a></div>")},
              "content": [{"attachment": {"contentType": "text/plain", "url": binary}}]},
             "request": {"method": "POST", "url": "DocumentReference"}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        let binary_ref = out["entry"][0]["response"]["location"].as_str().expect("location").split("/_history").next().expect("Type/id").to_owned();
        let doc_loc = out["entry"][1]["response"]["location"].as_str().expect("location");
        let doc = c.get(&format!("/{}", doc_loc.split("/_history").next().expect("Type/id"))).json();
        assert_eq!(doc["content"][0]["attachment"]["url"], binary_ref.as_str(), "{doc}");
        let div = doc["text"]["div"].as_str().expect("div");
        assert!(div.contains(&format!("href=\"{binary_ref}\"")), "{div}");
        assert_eq!(doc["identifier"][0]["value"], binary, "a string is not a link");
        c.get(&format!("/{binary_ref}")).expect_status(200);
    }

    /// Item 18: a GET that answers 404 fails the whole transaction: the
    /// outcome names the entry and the other entries are not stored.
    fn failing_get_fails_the_transaction(server) {
        let c = server.client();
        let bundle = transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "fg-new"}, "request": {"method": "PUT", "url": "Patient/fg-new"}},
            {"request": {"method": "GET", "url": "Patient/fg-nobody"}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 404, "{}", r.text());
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
        assert!(r.text().contains("entry 1"), "{}", r.text());
        c.get("/Patient/fg-new").expect_status(404);
    }

    /// Item 19: a transaction's entries may search, read history and
    /// `metadata` and PATCH (JSON Patch in a Binary, FHIRPath Patch in a
    /// Parameters); the GETs run after the writes and see them.
    fn entries_search_history_metadata_and_patch(server) {
        let c = server.client();
        c.put("/Patient/tp1", &patient("tp1", "Before")).expect_status(201);
        c.put("/Patient/tp2", &patient("tp2", "Other")).expect_status(201);
        let json_patch = base64::engine::general_purpose::STANDARD
            .encode(br#"[{"op":"replace","path":"/name/0/family","value":"Patched"}]"#);
        let fhirpath_patch = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.active"},
            {"name": "value", "valueBoolean": false}]}]});
        let bundle = transaction(json!([
            {"request": {"method": "GET", "url": "Patient?family=Patched"}},
            {"request": {"method": "GET", "url": "Patient/tp1/_history"}},
            {"request": {"method": "GET", "url": "metadata"}},
            {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": json_patch},
             "request": {"method": "PATCH", "url": "Patient/tp1"}},
            {"resource": fhirpath_patch, "request": {"method": "PATCH", "url": "Patient/tp2"}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        let search = &out["entry"][0]["resource"];
        assert_eq!((search["type"].clone(), search["total"].clone()), (json!("searchset"), json!(1)), "{out}");
        assert_eq!(search["entry"][0]["resource"]["id"], "tp1");
        let history = &out["entry"][1]["resource"];
        assert_eq!((history["type"].clone(), history["total"].clone()), (json!("history"), json!(2)), "{out}");
        assert_eq!(out["entry"][2]["resource"]["resourceType"], "CapabilityStatement");
        assert_eq!(out["entry"][3]["response"]["status"], "200 OK");
        assert_eq!(c.get("/Patient/tp1").json()["name"][0]["family"], "Patched");
        assert_eq!(c.get("/Patient/tp2").json()["active"], false);
        // A patch that does not apply fails the transaction, naming it.
        let bad = transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "tp-new"}, "request": {"method": "PUT", "url": "Patient/tp-new"}},
            {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64::engine::general_purpose::STANDARD.encode(br#"[{"op":"remove","path":"/nothing/here"}]"#)},
             "request": {"method": "PATCH", "url": "Patient/tp1"}}
        ]));
        let r = c.post("", &bad);
        assert!(r.status == 400 || r.status == 422, "{}", r.text());
        assert!(expressions(&r.json()).contains(&"Bundle.entry[1]".to_owned()), "{}", r.text());
        c.get("/Patient/tp-new").expect_status(404);
    }
}
