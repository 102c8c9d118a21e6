//! The holes an attacker found in authorization (issue #16), one test
//! each, on both backends. Patients `pa` and `pb`; patient tokens carry
//! the launch context of `pa`; every resource of `pb` has an id ending in
//! `b`. Requests are sent byte for byte (`raw_http`), so percent-encoded
//! spellings reach the server as written.

use conformance_tests::raw_http;
use conformance_tests::smart::{run_with_auth, Token};
use conformance_tests::{Backend, Client, Response, TestServer};
use serde_json::{json, Value};

fn token(scope: &'static str, patient: Option<&'static str>) -> String {
    Token {
        patient,
        ..Token::new(scope)
    }
    .mint()
}

fn raw(
    server: &TestServer,
    token: &str,
    method: &str,
    target: &str,
    body: Option<&Value>,
) -> Response {
    let auth = format!("Bearer {token}");
    let bytes = body
        .map(|b| serde_json::to_vec(b).expect("json"))
        .unwrap_or_default();
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Accept", "application/fhir+json"),
    ];
    if body.is_some() {
        headers.push(("Content-Type", "application/fhir+json"));
    }
    raw_http::send(server.port(), method, target, &headers, &bytes).expect("request")
}

fn obs(id: &str, patient: &str, category: &str) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": "Practitioner/doc"}],
        "note": [{"text": "zebrafinch"}]
    })
}

fn seed(server: &TestServer) -> Client {
    let admin = server.client().with_bearer(&token("system/*.cruds", None));
    let put = |path: &str, body: Value| {
        let r = admin.put(path, &body);
        assert!(
            matches!(r.status, 200 | 201),
            "PUT {path}: {} {}",
            r.status,
            r.text()
        );
    };
    put(
        "/Practitioner/doc",
        json!({"resourceType": "Practitioner", "id": "doc"}),
    );
    put(
        "/Medication/med",
        json!({"resourceType": "Medication", "id": "med"}),
    );
    for p in ["pa", "pb"] {
        put(
            &format!("/Patient/{p}"),
            json!({"resourceType": "Patient", "id": p}),
        );
    }
    put("/Observation/oa", obs("oa", "pa", "vital-signs"));
    put("/Observation/oal", obs("oal", "pa", "laboratory"));
    put("/Observation/ob", obs("ob", "pb", "laboratory"));
    put(
        "/Condition/cb",
        json!({"resourceType": "Condition", "id": "cb", "subject": {"reference": "Patient/pb"}}),
    );
    put(
        "/Binary/bb",
        json!({"resourceType": "Binary", "id": "bb", "contentType": "text/plain",
               "securityContext": {"reference": "Patient/pb"}, "data": "aGVsbG8="}),
    );
    put(
        "/Task/tb",
        json!({"resourceType": "Task", "id": "tb", "status": "requested", "intent": "order",
               "for": {"reference": "Patient/pb"}}),
    );
    put(
        "/Task/ta",
        json!({"resourceType": "Task", "id": "ta", "status": "requested", "intent": "order",
               "for": {"reference": "Patient/pa"}}),
    );
    put(
        "/Device/db",
        json!({"resourceType": "Device", "id": "db", "patient": {"reference": "Patient/pb"}}),
    );
    put(
        "/Bundle/docb",
        json!({"resourceType": "Bundle", "id": "docb", "type": "document",
               "identifier": {"system": "urn:x", "value": "docb"},
               "timestamp": "2026-01-01T00:00:00Z",
               "entry": [{"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
                          "resource": {"resourceType": "Composition", "status": "final",
                                       "type": {"text": "note"}, "date": "2026-01-01",
                                       "title": "t", "author": [{"reference": "Practitioner/doc"}],
                                       "subject": {"reference": "Patient/pb"}}}]}),
    );
    put(
        "/MedicationRequest/mrb",
        json!({"resourceType": "MedicationRequest", "id": "mrb", "status": "active",
               "intent": "order", "medicationReference": {"reference": "Medication/med"},
               "subject": {"reference": "Patient/pb"}}),
    );
    admin
}

fn version(admin: &Client, path: &str) -> String {
    let r = admin.get(path);
    format!("{} {}", r.status, r.json()["meta"]["versionId"])
}

fn ids(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// 1: a token with no clinical scope writes nothing, however the path is
/// spelled.
fn encoded_base_writes_nothing(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        let openid = token("openid fhirUser", None);
        let before = version(&admin, "/Patient/pb");
        let patient = json!({"resourceType": "Patient", "id": "pb", "name": [{"family": "X"}]});
        for (method, target, body) in [
            ("PUT", "/%66hir/Patient/pb", Some(patient.clone())),
            ("POST", "/%66hir/Patient", Some(patient.clone())),
            ("PATCH", "/%66hir/Patient/pb", None),
            ("DELETE", "/%66hir/Observation?subject=Patient/pb", None),
            (
                "POST",
                "/%66hir",
                Some(
                    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                    {"resource": patient, "request": {"method": "PUT", "url": "Patient/pb"}}]}),
                ),
            ),
        ] {
            let r = raw(server, &openid, method, target, body.as_ref());
            assert!(
                matches!(r.status, 400 | 403),
                "{method} {target}: {} {}",
                r.status,
                r.text()
            );
        }
        assert_eq!(version(&admin, "/Patient/pb"), before);
        assert_eq!(admin.get("/Observation/ob").status, 200);
    });
}

/// 2: an encoded type or operation segment is judged as the type or
/// operation it names.
fn encoded_segments_are_judged(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        let rd = token("launch/patient patient/*.rd", Some("pa"));
        let r = raw(server, &rd, "DELETE", "/fhir/Conditio%6E/cb", None);
        assert_eq!(r.status, 404, "{}", r.text());
        assert_eq!(admin.get("/Condition/cb").status, 200);

        let obs_only = token("launch/patient patient/Observation.rs", Some("pa"));
        let meta = json!({"resourceType": "Parameters", "parameter": [{"name": "meta",
            "valueMeta": {"tag": [{"system": "urn:x", "code": "evil"}]}}]});
        let r = raw(
            server,
            &obs_only,
            "POST",
            "/fhir/Patient/pb/%24meta-add",
            Some(&meta),
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(!admin.get("/Patient/pb").text().contains("evil"));

        let openid = token("openid", None);
        let r = raw(server, &openid, "POST", "/fhir/Patient/%24reindex", None);
        assert_eq!(r.status, 403, "{}", r.text());

        let read = token("launch/patient patient/*.rs", Some("pa"));
        let r = raw(server, &read, "GET", "/fhir/Patien%74/pb/$meta", None);
        assert_eq!(r.status, 404, "{}", r.text());
    });
}

/// 4: types outside the Patient compartment that hold a patient's data
/// (Binary by securityContext, Task, Device, a document Bundle) are that
/// patient's.
fn types_outside_the_compartment_are_a_patients(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        seed(server);
        let pa = server
            .client()
            .with_bearer(&token("launch/patient patient/*.rs", Some("pa")));
        for path in ["/Binary/bb", "/Task/tb", "/Device/db", "/Bundle/docb"] {
            assert_eq!(pa.get(path).status, 404, "{path}: {}", pa.get(path).text());
        }
        for search in ["/Binary", "/Task", "/Device", "/Bundle"] {
            let found = ids(&pa.get(search));
            assert!(
                found.iter().all(|id| !id.ends_with('b')),
                "{search}: {found:?}"
            );
        }
        assert_eq!(ids(&pa.get("/Task")), vec!["ta".to_owned()]);
        assert_eq!(pa.get("/Task/ta").status, 200);
        // Reference data stays readable.
        assert_eq!(pa.get("/Medication/med").status, 200);
        assert_eq!(pa.get("/Practitioner/doc").status, 200);
    });
}

/// 5: a conditional reference is a search; a patient token may not run
/// it over every patient (201 or 412 would answer "does pb have …").
fn conditional_references_stay_inside(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        seed(server);
        let pa = token("launch/patient patient/*.cruds", Some("pa"));
        let mut o = obs("probe", "pa", "vital-signs");
        o["derivedFrom"] = json!([{"reference": "Observation?subject=Patient/pb&code=75622-1"}]);
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": o, "request": {"method": "POST", "url": "Observation"}}]});
        let r = raw(server, &pa, "POST", "/fhir", Some(&bundle));
        assert_eq!(r.status, 403, "{}", r.text());
    });
}

/// 8: `_has` and its inner criteria run inside the token's compartment
/// and constraints.
fn has_is_no_oracle(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        let pa = server
            .client()
            .with_bearer(&token("launch/patient patient/*.rs", Some("pa")));
        let q = "/Medication?_has:MedicationRequest:medication:subject=Patient/pb";
        assert_eq!(ids(&admin.get(q)), vec!["med".to_owned()]);
        assert_eq!(ids(&pa.get(q)), Vec::<String>::new());
        let q = "/Practitioner?_has:Observation:performer:_content=zebrafinch&_has:Observation:performer:subject=Patient/pb";
        assert_eq!(ids(&admin.get(q)), vec!["doc".to_owned()]);
        assert_eq!(ids(&pa.get(q)), Vec::<String>::new());
        let constrained = server.client().with_bearer(&token(
            "launch/patient patient/Patient.rs patient/Observation.rs?category=vital-signs",
            Some("pa"),
        ));
        let q = "/Patient?_has:Observation:patient:category=laboratory";
        assert_eq!(ids(&admin.get(q)), vec!["pa".to_owned(), "pb".to_owned()]);
        assert_eq!(ids(&constrained.get(q)), Vec::<String>::new());
        let q = "/Patient?_has:Observation:patient:category=vital-signs";
        assert_eq!(ids(&constrained.get(q)), vec!["pa".to_owned()]);
    });
}

/// 9: a patient token cannot write into another patient's chart by naming
/// itself in a secondary reference.
fn patient_writes_stay_in_their_chart(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        seed(server);
        let pa = server
            .client()
            .with_bearer(&token("launch/patient patient/*.cruds", Some("pa")));
        let mut o = obs("x", "pb", "vital-signs");
        o["performer"] = json!([{"reference": "Patient/pa"}]);
        let r = pa.post("/Observation", &o);
        assert_eq!(r.status, 403, "{}", r.text());
        let r = pa.post("/Observation", &obs("x", "pa", "vital-signs"));
        assert_eq!(r.status, 201, "{}", r.text());
    });
}

/// 13: `$import-codes` changes the mapping of every write: a server-wide
/// write, not for a patient's read-only token.
fn import_codes_is_a_server_write(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        seed(server);
        let pa = token("launch/patient patient/*.rs", Some("pa"));
        let auth = format!("Bearer {pa}");
        let r = raw_http::send(
            server.port(),
            "POST",
            "/fhir/CodeSystem/$import-codes?kind=lab&system=urn:x:lab",
            &[("Authorization", &auth), ("Content-Type", "text/csv")],
            b"local_code,local_display,jlac10,loinc\nX1,glucose,,2345-7\n",
        )
        .expect("request");
        assert_eq!(r.status, 403, "{}", r.text());
    });
}

/// 14: an old version is judged by its own content: after an Observation
/// moves from pb to pa, pa sees only the versions that are pa's.
fn old_versions_are_judged_by_their_content(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        admin
            .put("/Observation/om", &obs("om", "pb", "vital-signs"))
            .expect_status(201);
        admin
            .put("/Observation/om", &obs("om", "pa", "vital-signs"))
            .expect_status(200);
        let pa = server
            .client()
            .with_bearer(&token("launch/patient patient/*.rs", Some("pa")));
        assert_eq!(pa.get("/Observation/om").status, 200);
        assert_eq!(pa.get("/Observation/om/_history/2").status, 200);
        let v1 = pa.get("/Observation/om/_history/1");
        assert_eq!(v1.status, 404, "{}", v1.text());
        let history = pa.get("/Observation/om/_history");
        assert_eq!(history.status, 200);
        assert!(!history.text().contains("Patient/pb"), "{}", history.text());
    });
}

/// 18: conditional create answers with what matched, so it needs read on
/// the type; a patient token cannot create a Patient (the new id is
/// never its own).
fn create_tokens_learn_nothing(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        admin
            .put(
                "/Patient/pb",
                &json!({"resourceType": "Patient", "id": "pb",
                        "identifier": [{"system": "urn:x", "value": "secret"}]}),
            )
            .expect_status(200);
        let create_only = server.client().with_bearer(&token("user/Patient.c", None));
        let r = create_only.post_with(
            "/Patient",
            &json!({"resourceType": "Patient"}),
            &[("If-None-Exist", "identifier=urn:x|secret")],
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(!r.text().contains("pb"), "{}", r.text());

        let count = |c: &Client| c.get("/Patient?_summary=count").json()["total"].clone();
        let before = count(&admin);
        let pa = server
            .client()
            .with_bearer(&token("launch/patient patient/*.cruds", Some("pa")));
        let r = pa.post("/Patient", &json!({"resourceType": "Patient", "id": "pa"}));
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(count(&admin), before);
    });
}

conformance_tests::both_backends!(
    encoded_base_writes_nothing,
    encoded_segments_are_judged,
    types_outside_the_compartment_are_a_patients,
    conditional_references_stay_inside,
    has_is_no_oracle,
    patient_writes_stay_in_their_chart,
    import_codes_is_a_server_write,
    old_versions_are_judged_by_their_content,
    create_tokens_learn_nothing
);
