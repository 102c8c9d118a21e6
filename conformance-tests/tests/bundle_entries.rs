//! Bundle entries carry what http.html allows and clients use (issue #17
//! item 19), in batch AND transaction, on both backends: type, system and
//! compartment searches, history at every level, `metadata`, operations
//! (`$everything`, `$validate`, `$meta`, `ValueSet/$expand`, a POST
//! operation with a Parameters resource), PATCH in both flavours, and
//! `ifNoneMatch`/`ifModifiedSince` on reads (304 in the entry). Every entry
//! is judged by the same authorization and Consent as a direct request: a
//! refused batch entry answers its own 403 while the others run; a
//! refused transaction entry refuses the transaction. A transaction is all
//! or nothing, and its GETs run after its writes and see them. What an
//! entry deliberately cannot do answers 501 naming it.

use base64::Engine;
use conformance_tests::smart::{run_with_auth, Token};
use conformance_tests::{backend_tests, Backend, Client, TestServer};
use serde_json::{json, Value};

fn bundle(kind: &str, entries: Value) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn get(url: &str) -> Value {
    json!({"request": {"method": "GET", "url": url}})
}

fn status(out: &Value, k: usize) -> String {
    out["entry"][k]["response"]["status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn patient(id: &str, family: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "gender": "male",
           "name": [{"family": family}]})
}

fn obs(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": format!("Patient/{patient}")}})
}

fn put(resource: &Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or(""),
        resource["id"].as_str().unwrap_or("")
    );
    json!({"resource": resource, "request": {"method": "PUT", "url": url}})
}

/// The ids of a searchset's `match` entries, sorted.
fn matches(searchset: &Value) -> Vec<String> {
    let mut ids: Vec<String> = searchset["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] != "include" && e["search"]["mode"] != "outcome")
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap_or(""),
                e["resource"]["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    ids.sort();
    ids
}

fn seed(c: &Client) {
    for r in [
        patient("be-p1", "Zanzibar"),
        patient("be-p2", "Other"),
        obs("be-o1", "be-p1"),
        obs("be-o2", "be-p2"),
    ] {
        let path = format!(
            "/{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        let s = c.put(&path, &r).status;
        assert!(matches!(s, 200 | 201), "PUT {path}: {s}");
    }
    // A second version of be-p1, for history and ifNoneMatch.
    c.put("/Patient/be-p1", &patient("be-p1", "Zanzibar"))
        .expect_status(200);
}

/// The GET and operation entries, the same in either kind of Bundle.
fn read_entries() -> Value {
    json!([
        get("Patient?name=Zanzibar"),
        get("?_type=Patient,Observation&_id=be-p1,be-o2"),
        get("Patient/be-p1/Observation"),
        get("Patient/be-p1/_history"),
        get("Patient/_history?_count=2"),
        get("_history?_count=1"),
        get("metadata"),
        get("Patient/be-p1/$everything"),
        get("Patient/be-p1/$meta"),
        get("Patient/be-p1/$validate"),
        get("ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender"),
        {"resource": {"resourceType": "Parameters", "parameter": [
            {"name": "url", "valueUri": "http://hl7.org/fhir/ValueSet/administrative-gender"},
            {"name": "code", "valueCode": "male"},
            {"name": "system", "valueUri": "http://hl7.org/fhir/administrative-gender"}]},
         "request": {"method": "POST", "url": "ValueSet/$validate-code"}},
        {"resource": {"resourceType": "Patient", "gender": "bogus"},
         "request": {"method": "POST", "url": "Patient/$validate"}}
    ])
}

/// What [`read_entries`] answer, checked entry by entry.
fn check_reads(out: &Value, kind: &str) {
    for k in 0..13 {
        assert_eq!(
            status(out, k),
            "200 OK",
            "{kind} entry {k}: {}",
            out["entry"][k]
        );
    }
    let r = |k: usize| &out["entry"][k]["resource"];
    assert_eq!(matches(r(0)), ["Patient/be-p1"], "{kind} type search");
    assert_eq!(
        matches(r(1)),
        ["Observation/be-o2", "Patient/be-p1"],
        "{kind} system search"
    );
    assert_eq!(
        matches(r(2)),
        ["Observation/be-o1"],
        "{kind} compartment search"
    );
    assert_eq!(r(3)["type"], "history");
    assert_eq!(
        r(3)["entry"].as_array().map(Vec::len),
        Some(2),
        "{kind} instance history"
    );
    assert_eq!(r(4)["type"], "history");
    assert_eq!(
        r(4)["entry"].as_array().map(Vec::len),
        Some(2),
        "{kind} type history _count"
    );
    assert_eq!(
        r(5)["entry"].as_array().map(Vec::len),
        Some(1),
        "{kind} system history"
    );
    assert_eq!(r(6)["resourceType"], "CapabilityStatement");
    let everything = matches(r(7));
    assert!(
        everything.contains(&"Patient/be-p1".to_owned())
            && everything.contains(&"Observation/be-o1".to_owned())
            && !everything.contains(&"Observation/be-o2".to_owned()),
        "{kind} $everything: {everything:?}"
    );
    assert_eq!(r(8)["resourceType"], "Parameters");
    assert_eq!(
        r(8)["parameter"][0]["valueMeta"]["versionId"],
        "2",
        "{kind} $meta"
    );
    assert_eq!(
        r(9)["resourceType"],
        "OperationOutcome",
        "{kind} instance $validate"
    );
    assert_eq!(r(10)["resourceType"], "ValueSet", "{kind} $expand");
    let codes: Vec<&str> = r(10)["expansion"]["contains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(codes.contains(&"male"), "{kind} $expand: {codes:?}");
    assert_eq!(
        r(11)["resourceType"],
        "Parameters",
        "{kind} POST $validate-code"
    );
    let result = r(11)["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "result")
        .map(|p| p["valueBoolean"].clone());
    assert_eq!(result, Some(json!(true)), "{kind}: {}", r(11));
    // POST $validate with a resource: the answer reports the bad code as
    // an error (the operation itself succeeds).
    assert_eq!(r(12)["resourceType"], "OperationOutcome");
    let errors = r(12)["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["severity"] == "error")
        .count();
    assert!(errors > 0, "{kind} type $validate: {}", r(12));
}

backend_tests! {
    /// Searches (type, system, compartment), history (instance, type,
    /// system), `metadata` and operations in a batch.
    fn batch_reads_and_operations(server) {
        let c = server.client();
        seed(&c);
        let r = c.post("", &bundle("batch", read_entries()));
        assert_eq!(r.status, 200, "{}", r.text());
        check_reads(&r.json(), "batch");
    }

    /// The same entries in a transaction.
    fn transaction_reads_and_operations(server) {
        let c = server.client();
        seed(&c);
        let r = c.post("", &bundle("transaction", read_entries()));
        assert_eq!(r.status, 200, "{}", r.text());
        check_reads(&r.json(), "transaction");
    }

    /// In a transaction the GETs run after the writes, whatever their
    /// place, and see them: a search, a compartment search, `$everything`
    /// and `$meta` all find what the same transaction writes.
    fn transaction_gets_see_its_writes(server) {
        let c = server.client();
        let r = c.post("", &bundle("transaction", json!([
            get("Patient?name=Quetzal"),
            get("Patient/be-new/Observation"),
            get("Patient/be-new/$everything"),
            get("Patient/be-new/$meta"),
            put(&patient("be-new", "Quetzal")),
            put(&obs("be-new-o", "be-new")),
        ])));
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(matches(&out["entry"][0]["resource"]), ["Patient/be-new"], "{out}");
        assert_eq!(matches(&out["entry"][1]["resource"]), ["Observation/be-new-o"], "{out}");
        assert_eq!(
            matches(&out["entry"][2]["resource"]),
            ["Observation/be-new-o", "Patient/be-new"],
            "{out}"
        );
        assert_eq!(out["entry"][3]["resource"]["parameter"][0]["valueMeta"]["versionId"], "1");
        assert_eq!(status(&out, 4), "201 Created");
    }

    /// PATCH in both flavours (JSON Patch in a Binary, base64; FHIRPath
    /// Patch in a Parameters), in a batch and in a transaction.
    fn patch_both_flavours(server) {
        let c = server.client();
        seed(&c);
        let encode = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let json_patch = |value: &str| json!({
            "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                         "data": encode(format!(r#"[{{"op":"replace","path":"/gender","value":"{value}"}}]"#).as_bytes())},
            "request": {"method": "PATCH", "url": "Patient/be-p1"}});
        let fhirpath_patch = |family: &str| json!({
            "resource": {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
                {"name": "type", "valueCode": "replace"},
                {"name": "path", "valueString": "Patient.name.family"},
                {"name": "value", "valueString": family}]}]},
            "request": {"method": "PATCH", "url": "Patient/be-p2"}});
        for (kind, gender, family) in [("batch", "female", "Batched"), ("transaction", "other", "Transacted")] {
            let r = c.post("", &bundle(kind, json!([json_patch(gender), fhirpath_patch(family)])));
            assert_eq!(r.status, 200, "{kind}: {}", r.text());
            let out = r.json();
            assert_eq!(status(&out, 0), "200 OK", "{kind}: {out}");
            assert_eq!(status(&out, 1), "200 OK", "{kind}: {out}");
            assert_eq!(c.get("/Patient/be-p1").json()["gender"], gender);
            assert_eq!(c.get("/Patient/be-p2").json()["name"][0]["family"], family);
        }
    }

    /// `ifNoneMatch` and `ifModifiedSince` on reads answer 304 in the
    /// entry when the client's copy is current, the resource otherwise.
    fn conditional_reads_answer_304(server) {
        let c = server.client();
        seed(&c);
        let current = c.get("/Patient/be-p1").json();
        let updated = current["meta"]["lastUpdated"].as_str().expect("lastUpdated").to_owned();
        let read = |extra: Value| {
            let mut request = json!({"method": "GET", "url": "Patient/be-p1"});
            for (k, v) in extra.as_object().expect("object") {
                request[k] = v.clone();
            }
            json!({"request": request})
        };
        for kind in ["batch", "transaction"] {
            let r = c.post("", &bundle(kind, json!([
                read(json!({"ifNoneMatch": "W/\"2\""})),
                read(json!({"ifNoneMatch": "W/\"1\""})),
                read(json!({"ifModifiedSince": updated})),
                read(json!({"ifModifiedSince": "2001-01-01T00:00:00Z"})),
                {"request": {"method": "GET", "url": "Patient/be-p1/_history/1", "ifNoneMatch": "W/\"1\""}}
            ])));
            assert_eq!(r.status, 200, "{kind}: {}", r.text());
            let out = r.json();
            assert_eq!(status(&out, 0), "304 Not Modified", "{kind}: {out}");
            assert!(out["entry"][0].get("resource").is_none());
            assert_eq!(status(&out, 1), "200 OK", "{kind}: {out}");
            assert_eq!(out["entry"][1]["resource"]["id"], "be-p1");
            assert_eq!(status(&out, 2), "304 Not Modified", "{kind}: {out}");
            assert_eq!(status(&out, 3), "200 OK", "{kind}: {out}");
            assert_eq!(status(&out, 4), "304 Not Modified", "{kind}: {out}");
        }
        // On a search they do not apply: said, never ignored.
        let r = c.post("", &bundle("batch", json!([
            {"request": {"method": "GET", "url": "Patient?name=x", "ifNoneMatch": "W/\"1\""}}
        ])));
        assert_eq!(status(&r.json(), 0), "501 Not Implemented", "{}", r.text());
    }

    /// What an entry deliberately cannot do answers 501 naming it in a
    /// batch, and fails a transaction with an OperationOutcome naming the
    /// entry; what names no route is refused (deny by default).
    fn unsupported_entries_are_named(server) {
        let c = server.client();
        seed(&c);
        let r = c.post("", &bundle("batch", json!([
            {"resource": {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [{"system": "http://x", "code": "y"}]}}]},
             "request": {"method": "POST", "url": "Patient/be-p1/$meta-add"}},
            get("Patient/$everything"),
            {"resource": {"resourceType": "Bundle", "type": "batch"}, "request": {"method": "POST", "url": server.base_url()}},
            get("Patient/be-p1/$nothing"),
            get("Patient/be-p1")
        ])));
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        for (k, what) in [(0, "$meta-add"), (1, "$everything"), (2, "Bundle")] {
            assert_eq!(status(&out, k), "501 Not Implemented", "entry {k}: {out}");
            let outcome = out["entry"][k]["response"]["outcome"].to_string();
            assert!(outcome.contains(what) && outcome.contains("not-supported"), "entry {k}: {outcome}");
        }
        assert!(status(&out, 3).starts_with('4'), "{out}");
        assert_eq!(out["entry"][3]["response"]["outcome"]["resourceType"], "OperationOutcome");
        assert_eq!(status(&out, 4), "200 OK");
        // $meta-add in a transaction fails it, naming the entry, and the
        // transaction's write is not stored.
        let r = c.post("", &bundle("transaction", json!([
            put(&patient("be-never", "Never")),
            {"resource": {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [{"system": "http://x", "code": "y"}]}}]},
             "request": {"method": "POST", "url": "Patient/be-p1/$meta-add"}}
        ])));
        assert_eq!(r.status, 501, "{}", r.text());
        let text = r.text();
        assert!(text.contains("entry 1") && text.contains("OperationOutcome"), "{text}");
        c.get("/Patient/be-never").expect_status(404);
        // A terminology operation cannot see a ValueSet its transaction
        // writes: refused, not answered from the old state.
        let r = c.post("", &bundle("transaction", json!([
            put(&json!({"resourceType": "ValueSet", "id": "be-vs", "status": "active",
                        "url": "http://example.org/be-vs",
                        "compose": {"include": [{"system": "http://example.org/cs", "concept": [{"code": "a"}]}]}})),
            get("ValueSet/$expand?url=http://example.org/be-vs")
        ])));
        assert_eq!(r.status, 501, "{}", r.text());
        assert!(r.text().contains("entry 1"), "{}", r.text());
        c.get("/ValueSet/be-vs").expect_status(404);
    }

    /// All or nothing: a failing GET, search or operation fails the whole
    /// transaction and nothing is stored; the outcome names the entry.
    fn transaction_is_all_or_nothing(server) {
        let c = server.client();
        seed(&c);
        for (k, failing) in [
            get("Patient/be-missing/$everything"),
            get("Patient/be-missing/$meta"),
            get("Patient/be-p1/_history/99"),
            get("Patient/be-p1/Nonsense"),
            get("ValueSet/$expand?url=http://example.org/no-such-vs"),
        ].into_iter().enumerate() {
            let r = c.post("", &bundle("transaction", json!([
                put(&patient("be-aon", "AllOrNothing")),
                failing,
            ])));
            assert!(r.status >= 400, "case {k}: {} {}", r.status, r.text());
            let out = r.json();
            assert_eq!(out["resourceType"], "OperationOutcome", "case {k}: {out}");
            assert!(out.to_string().contains("entry 1") || out.to_string().contains("Bundle.entry[1]"), "case {k}: {out}");
            c.get("/Patient/be-aon").expect_status(404);
        }
    }
}

/// Authorization inside Bundles: the same decisions as direct requests.
/// A patient token for `be-p1` with `patient/*.rs`: in a batch, its
/// search is bounded to its compartment, its entries outside it answer
/// 403 alone, its write (not granted) answers 403 alone, and the others
/// run; a transaction with one such entry is refused whole and stores
/// nothing.
fn authorization_per_entry(backend: Backend) {
    run_with_auth(backend, &[], |server: &TestServer| {
        let admin = server
            .client()
            .with_bearer(&Token::new("system/*.cruds").mint());
        seed(&admin);
        let reader = server.client().with_bearer(
            &Token {
                patient: Some("be-p1"),
                ..Token::new("launch/patient patient/*.rs")
            }
            .mint(),
        );
        let r = reader.post(
            "",
            &bundle(
                "batch",
                json!([
                    get("Observation"),
                    get("Patient/be-p2"),
                    put(&patient("be-p1", "Changed")),
                    get("Patient/be-p1/$everything"),
                    get("Patient/be-p2/$everything"),
                    get("Patient/be-p1"),
                    get("Patient/be-p2/_history"),
                ]),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        let text = out.to_string();
        assert!(
            !text.contains("be-o2") && !text.contains("\"be-p2\""),
            "another patient's data leaked: {text}"
        );
        assert_eq!(status(&out, 0), "200 OK", "{out}");
        assert_eq!(
            matches(&out["entry"][0]["resource"]),
            ["Observation/be-o1"],
            "the search is bounded: {out}"
        );
        for k in [1, 2, 4, 6] {
            assert_eq!(status(&out, k), "403 Forbidden", "entry {k}: {out}");
            assert_eq!(
                out["entry"][k]["response"]["outcome"]["resourceType"],
                "OperationOutcome"
            );
            assert!(
                out["entry"][k]["response"]["outcome"]
                    .to_string()
                    .contains(&format!("Bundle.entry[{k}]")),
                "entry {k}: {out}"
            );
        }
        assert_eq!(status(&out, 3), "200 OK", "{out}");
        assert_eq!(status(&out, 5), "200 OK", "{out}");
        assert_eq!(
            admin.get("/Patient/be-p1").json()["name"][0]["family"],
            "Zanzibar",
            "the refused PUT did not run"
        );
        // A transaction with a refused entry is refused whole.
        let writer = server.client().with_bearer(
            &Token {
                patient: Some("be-p1"),
                ..Token::new("launch/patient patient/*.cruds")
            }
            .mint(),
        );
        let r = writer.post(
            "",
            &bundle(
                "transaction",
                json!([put(&obs("be-tx-ok", "be-p1")), get("Patient/be-p2/$meta"),]),
            ),
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("Bundle.entry[1]"), "{}", r.text());
        admin.get("/Observation/be-tx-ok").expect_status(404);
        // The same entries alone in a batch: the allowed one is stored.
        let r = writer.post(
            "",
            &bundle(
                "batch",
                json!([put(&obs("be-tx-ok", "be-p1")), get("Patient/be-p2/$meta"),]),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(status(&out, 0), "201 Created", "{out}");
        assert_eq!(status(&out, 1), "403 Forbidden", "{out}");
        admin.get("/Observation/be-tx-ok").expect_status(200);
    });
}

/// Consent inside Bundles: an Organization a patient's Consent denies
/// gets 403 for a write to that patient's data in a batch entry (alone),
/// and a transaction carrying it is refused whole.
fn consent_per_entry(backend: Backend) {
    use conformance_tests::consent::{deny, privacy_consent, put_all};
    run_with_auth(backend, &[], |server: &TestServer| {
        let admin = server
            .client()
            .with_bearer(&Token::new("system/*.cruds").mint());
        seed(&admin);
        put_all(
            &admin,
            &[
                json!({"resourceType": "Organization", "id": "B", "name": "B"}),
                privacy_consent(
                    "be-c2",
                    "Patient/be-p2",
                    vec![deny("Organization/B", &[], &[])],
                ),
            ],
        );
        let b = server.client().with_bearer(
            &Token {
                organization: Some("Organization/B"),
                ..Token::new("user/*.cruds")
            }
            .mint(),
        );
        let r = b.post(
            "",
            &bundle(
                "batch",
                json!([
                    put(&obs("be-o2", "be-p2")),
                    put(&obs("be-b-ok", "be-p1")),
                    get("Observation?subject=Patient/be-p2"),
                ]),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(status(&out, 0), "403 Forbidden", "{out}");
        assert_eq!(status(&out, 1), "201 Created", "{out}");
        assert_eq!(status(&out, 2), "200 OK", "{out}");
        assert!(
            matches(&out["entry"][2]["resource"]).is_empty(),
            "hidden by Consent: {out}"
        );
        let r = b.post(
            "",
            &bundle(
                "transaction",
                json!([put(&obs("be-b-tx", "be-p1")), put(&obs("be-o2", "be-p2")),]),
            ),
        );
        assert_eq!(r.status, 403, "{}", r.text());
        admin.get("/Observation/be-b-tx").expect_status(404);
    });
}

conformance_tests::both_backends!(authorization_per_entry, consent_per_entry);
