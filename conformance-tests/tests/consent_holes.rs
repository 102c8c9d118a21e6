//! The Consent holes of issue 16, black-box on both backends with
//! authorization on: patient `pb` has Consents denying Organization B; a
//! client for B (token claim `organization`, `system/*.cruds`) must get
//! none of pb's data from write answers (6), cannot lift its own denial
//! (7), Consents with absolute references are enforced or refused and the
//! denials follow every spelling of a Consent write (16), and `$meta` and
//! `$validate` on hidden resources answer 404 like a read (17).

use conformance_tests::consent::{
    deny, privacy_consent as consent, put_all, CONFIDENTIALITY, IDENTIFIER as IDENT,
};
use conformance_tests::smart::{client, run_with_auth};
use conformance_tests::{Backend, Client, Response, TestServer};
use serde_json::json;

const SCOPE: &str = "system/*.cruds";
const JSON_PATCH: &str = "application/json-patch+json";

/// Organizations A and B; patient pb (family `Hidden`, identifier
/// `pb-ident`) with an Observation and a Condition labelled `R`; returns
/// the admin client (no organization, so no Consent applies to it).
fn seed(server: &TestServer) -> Client {
    let admin = client(server, SCOPE, None);
    put_all(
        &admin,
        &[
            json!({"resourceType": "Organization", "id": "A"}),
            json!({"resourceType": "Organization", "id": "B"}),
            json!({"resourceType": "Patient", "id": "pb", "name": [{"family": "Hidden"}],
                   "identifier": [{"system": IDENT, "value": "pb-ident"}]}),
            json!({"resourceType": "Observation", "id": "pb-obs", "status": "final",
                   "code": {"text": "glucose"}, "subject": {"reference": "Patient/pb"}}),
            json!({"resourceType": "Condition", "id": "pb-cond",
                   "meta": {"security": [{"system": CONFIDENTIALITY, "code": "R"}]},
                   "code": {"text": "restricted"}, "subject": {"reference": "Patient/pb"}}),
        ],
    );
    admin
}

/// [`seed`] and a Consent of pb denying B all of pb's data; the admin
/// client, B's and A's.
fn seed_denying_all(server: &TestServer) -> (Client, Client, Client) {
    let admin = seed(server);
    let all = consent("c1", "Patient/pb", vec![deny("Organization/B", &[], &[])]);
    admin.put("/Consent/c1", &all).expect_status(201);
    let (b, a) = b_and_a(server);
    (admin, b, a)
}

fn b_and_a(server: &TestServer) -> (Client, Client) {
    (
        client(server, SCOPE, Some("Organization/B")),
        client(server, SCOPE, Some("Organization/A")),
    )
}

fn is_outcome(r: &Response) -> bool {
    r.try_json()
        .is_some_and(|v| v["resourceType"] == "OperationOutcome")
}

/// Item 6: a conditional create that matches pb's Patient and a no-op
/// PATCH of pb's Observation do not hand B the hidden resource, and change
/// nothing.
fn write_answers_carry_no_hidden_data(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let (admin, b, a) = seed_denying_all(server);
        let new_patient = json!({"resourceType": "Patient",
            "identifier": [{"system": IDENT, "value": "pb-ident"}]});
        let criteria = format!("identifier={IDENT}|pb-ident");
        let headers = [("If-None-Exist", criteria.as_str())];
        let r = b.post_with("/Patient", &new_patient, &headers);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(is_outcome(&r), "{}", r.text());
        assert!(!r.text().contains("Hidden"), "{}", r.text());
        // Nothing was created either.
        let found = admin.get(&format!("/Patient?{criteria}")).json();
        assert_eq!(found["entry"].as_array().map(Vec::len), Some(1), "{found}");
        // A (not denied) gets the existing Patient, as the spec says.
        let r = a.post_with("/Patient", &new_patient, &headers);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("Hidden"));

        let noop = br#"[{"op": "test", "path": "/status", "value": "final"}]"#;
        let r = b.request("PATCH", "/Observation/pb-obs", Some(JSON_PATCH), noop);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(is_outcome(&r), "{}", r.text());
        assert!(!r.text().contains("glucose"), "{}", r.text());
        let obs = admin.get("/Observation/pb-obs").json();
        assert_eq!(obs["meta"]["versionId"], "1", "{obs}");
        // B still writes its own new data, and gets its own answer.
        let own = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "b's own"}, "subject": {"reference": "Patient/pb"}});
        let r = b.post("/Observation", &own);
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.text().contains("b's own"));
    });
}

/// Item 7: B cannot change or delete the Consent that restricts it by any
/// route, nor strip the label that hides a resource from it.
fn denied_party_cannot_lift_its_denial(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        // Denies B pb's Observations and pb's data labelled R: the
        // Consent itself stays visible to B.
        let c1 = consent(
            "c1",
            "Patient/pb",
            vec![
                deny("Organization/B", &["Observation"], &[]),
                deny("Organization/B", &[], &["R"]),
            ],
        );
        admin.put("/Consent/c1", &c1).expect_status(201);
        let (b, _) = b_and_a(server);
        assert_eq!(b.get("/Consent/c1").status, 200);
        assert_eq!(b.get("/Condition/pb-cond").status, 404);

        let mut inactive = c1.clone();
        inactive["status"] = json!("inactive");
        let refusals = [
            ("DELETE", b.delete("/Consent/c1")),
            ("PUT", b.put("/Consent/c1", &inactive)),
            (
                "PATCH",
                b.request(
                    "PATCH",
                    "/Consent/c1",
                    Some(JSON_PATCH),
                    br#"[{"op": "replace", "path": "/status", "value": "inactive"}]"#,
                ),
            ),
            (
                "conditional DELETE",
                b.delete(&format!("/Consent?identifier={IDENT}|c1")),
            ),
            (
                "conditional PUT",
                b.put(&format!("/Consent?identifier={IDENT}|c1"), &inactive),
            ),
            (
                "transaction DELETE",
                b.post(
                    "",
                    &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                        {"request": {"method": "DELETE", "url": "Consent/c1"}}]}),
                ),
            ),
            (
                "$meta-add on the Consent",
                b.post(
                    "/Consent/c1/$meta-add",
                    &json!({"resourceType": "Parameters", "parameter": [{"name": "meta",
                        "valueMeta": {"tag": [{"system": "urn:x", "code": "lifted"}]}}]}),
                ),
            ),
            (
                "$meta-delete of the hiding label",
                b.request(
                    "POST",
                    "/Condition/pb-cond/%24meta-delete",
                    Some("application/fhir+json"),
                    json!({"resourceType": "Parameters", "parameter": [{"name": "meta",
                        "valueMeta": {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}}]})
                    .to_string()
                    .as_bytes(),
                ),
            ),
        ];
        for (what, r) in &refusals {
            assert_eq!(r.status, 403, "{what}: {}", r.text());
            assert!(is_outcome(r), "{what}: {}", r.text());
        }
        // Nothing changed: the Consent is version 1 and still denies.
        let stored = admin.get("/Consent/c1").json();
        assert_eq!(stored["meta"]["versionId"], "1", "{stored}");
        assert_eq!(stored["status"], "active");
        assert!(stored["meta"].get("tag").is_none(), "{stored}");
        let cond = admin.get("/Condition/pb-cond").json();
        assert_eq!(cond["meta"]["security"][0]["code"], "R", "{cond}");
        assert_eq!(b.get("/Observation/pb-obs").status, 404);
        assert_eq!(b.get("/Condition/pb-cond").status, 404);
        // The patient's own side (no organization) still may.
        admin.delete("/Consent/c1").expect_status(204);
        assert_eq!(b.get("/Observation/pb-obs").status, 200);
    });
}

/// Item 16: absolute references naming this server are enforced, others
/// refused; denials follow Consent writes in transactions and conditional
/// updates at once.
fn consent_references_and_cache(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        let (b, _) = b_and_a(server);
        let base = server.base_url();
        let absolute = consent(
            "c1",
            &format!("{base}/Patient/pb"),
            vec![deny(&format!("{base}/Organization/B"), &["Patient"], &[])],
        );
        admin.put("/Consent/c1", &absolute).expect_status(201);
        assert_eq!(b.get("/Patient/pb").status, 404);

        let elsewhere = consent(
            "c9",
            "https://elsewhere.example/fhir/Patient/pb",
            vec![deny("Organization/B", &[], &[])],
        );
        let r = admin.put("/Consent/c9", &elsewhere);
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(r.text().contains("Consent.patient"), "{}", r.text());
        let foreign_actor = consent(
            "c9",
            "Patient/pb",
            vec![deny(
                "https://elsewhere.example/fhir/Organization/B",
                &[],
                &[],
            )],
        );
        let r = admin.post("/Consent", &foreign_actor);
        assert_eq!(r.status, 422, "{}", r.text());
        let in_bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "PUT", "url": "Consent/c9"}, "resource": elsewhere}]});
        assert_eq!(admin.post("", &in_bundle).status, 422);
        assert_eq!(admin.get("/Consent/c9").status, 404);

        // A Consent written in a transaction is in force at once…
        let c2 = consent(
            "c2",
            "Patient/pb",
            vec![deny("Organization/B", &["Observation"], &[])],
        );
        assert_eq!(b.get("/Observation/pb-obs").status, 200);
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "PUT", "url": "Consent/c2"}, "resource": c2}]});
        admin.post("", &tx).expect_status(200);
        assert_eq!(b.get("/Observation/pb-obs").status, 404);
        // …and lifted at once by a conditional update.
        let mut inactive = c2.clone();
        inactive["status"] = json!("inactive");
        admin
            .put(&format!("/Consent?identifier={IDENT}|c2"), &inactive)
            .expect_status(200);
        assert_eq!(b.get("/Observation/pb-obs").status, 200);
    });
}

/// Item 17: `$meta` and instance `$validate` on a hidden resource answer
/// 404, like a read.
fn operations_on_hidden_resources_are_not_found(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let (_, b, a) = seed_denying_all(server);
        for path in [
            "/Patient/pb/$meta",
            "/Patient/pb/_history/1/$meta",
            "/Observation/pb-obs/$validate",
            "/Observation/pb-obs/%24meta",
        ] {
            let r = b.get(path);
            assert_eq!(r.status, 404, "{path}: {}", r.text());
            assert!(is_outcome(&r), "{path}: {}", r.text());
            assert_eq!(a.get(path).status, 200, "{path} for A");
        }
    });
}

/// #16 item 14: after pb's Observation moves to another patient, the
/// version that was pb's stays hidden from B (judged by its own content).
fn old_versions_stay_hidden(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let (admin, b, _) = seed_denying_all(server);
        admin
            .put(
                "/Patient/pa",
                &json!({"resourceType": "Patient", "id": "pa"}),
            )
            .expect_status(201);
        admin
            .put(
                "/Observation/pb-obs",
                &json!({"resourceType": "Observation", "id": "pb-obs", "status": "final",
                        "code": {"text": "glucose"}, "subject": {"reference": "Patient/pa"}}),
            )
            .expect_status(200);
        assert_eq!(b.get("/Observation/pb-obs").status, 200);
        let v1 = b.get("/Observation/pb-obs/_history/1");
        assert_eq!(v1.status, 404, "{}", v1.text());
        let history = b.get("/Observation/pb-obs/_history");
        assert_eq!(history.status, 200);
        assert!(!history.text().contains("Patient/pb"), "{}", history.text());
    });
}

/// Each test on both backends, as `<name>_sqlite` and `<name>_postgres`
/// (`backend_tests!` starts servers without authorization).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        conformance_tests::paste::paste! {
            #[test]
            fn [<$name _sqlite>]() {
                $name(Backend::Sqlite);
            }
            #[test]
            fn [<$name _postgres>]() {
                $name(Backend::Postgres);
            }
        }
    )*};
}

on_both_backends!(
    write_answers_carry_no_hidden_data,
    denied_party_cannot_lift_its_denial,
    consent_references_and_cache,
    operations_on_hidden_resources_are_not_found,
    old_versions_stay_hidden,
);
