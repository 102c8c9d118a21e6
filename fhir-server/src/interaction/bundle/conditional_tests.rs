//! Conditional entries and conditional references in batch and
//! transaction Bundles, on both backends (http.html#trules).

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::interaction::testutil::{app, backends, send, with_json, Reply};

fn bundle(kind: &str, entries: Value) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn org(value: &str) -> Value {
    json!({"resourceType": "Organization", "name": value,
           "identifier": [{"system": "urn:org", "value": value}]})
}

const ORG_URL: &str = "urn:uuid:7f0ad8f2-67c4-4c53-9a53-5a1a1dd0a6f1";

async fn total<S, B>(app: &S, query: &str) -> i64
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let r = send(
        app,
        TestRequest::get().uri(&format!("/fhir/{query}&_total=accurate")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["total"].as_i64().expect("total")
}

fn status(r: &Reply, n: usize) -> String {
    r.json()["entry"][n]["response"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// An `ifNoneExist` entry referenced by `urn:uuid` from another entry:
/// the first transaction creates it, the second matches it, and in both
/// the reference points at the one Organization.
#[actix_web::test]
async fn transaction_if_none_exist_and_urn_references() {
    for db in backends() {
        let app = app(&db.store).await;
        let tx = |family: &str| {
            bundle(
                "transaction",
                json!([
                    {"fullUrl": ORG_URL, "resource": org("acme"),
                     "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=urn:org|acme"}},
                    {"resource": {"resourceType": "Patient", "name": [{"family": family}],
                                  "managingOrganization": {"reference": ORG_URL}},
                     "request": {"method": "POST", "url": "Patient"}}
                ]),
            )
        };
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir"), &tx("One")),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(status(&r, 0), "201 Created");
        let loc = r.json()["entry"][0]["response"]["location"]
            .as_str()
            .expect("location")
            .to_owned();
        let org_ref = loc.split("/_history").next().expect("Type/id").to_owned();
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir"), &tx("Two")),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        let out = r.json();
        assert_eq!(status(&r, 0), "200 OK", "{}", db.label);
        assert_eq!(out["entry"][0]["response"]["location"], loc.as_str());
        assert_eq!(out["entry"][0]["response"]["etag"], "W/\"1\"");
        assert_eq!(status(&r, 1), "201 Created");
        assert_eq!(
            out["entry"][1]["resource"]["managingOrganization"]["reference"],
            org_ref.as_str()
        );
        assert_eq!(
            total(&app, "Organization?identifier=urn:org%7Cacme").await,
            1,
            "{}",
            db.label
        );
        assert_eq!(
            total(&app, &format!("Patient?organization={org_ref}")).await,
            2
        );
    }
}

/// `PUT T?query` and `DELETE T?query` entries.
#[actix_web::test]
async fn transaction_conditional_update_and_delete() {
    for db in backends() {
        let app = app(&db.store).await;
        send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Organization"), &org("upd")),
        )
        .await;
        send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Organization"), &org("gone")),
        )
        .await;
        let mut changed = org("upd");
        changed["name"] = json!("Updated");
        let b = bundle(
            "transaction",
            json!([
                {"resource": changed, "request": {"method": "PUT", "url": "Organization?identifier=urn:org|upd"}},
                {"resource": org("fresh"), "request": {"method": "PUT", "url": "Organization?identifier=urn:org|fresh"}},
                {"request": {"method": "DELETE", "url": "Organization?identifier=urn:org|gone"}}
            ]),
        );
        let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &b)).await;
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(status(&r, 0), "200 OK");
        assert_eq!(r.json()["entry"][0]["resource"]["name"], "Updated");
        assert_eq!(status(&r, 1), "201 Created");
        assert_eq!(status(&r, 2), "204 No Content");
        assert_eq!(
            total(&app, "Organization?identifier=urn:org%7Cgone").await,
            0
        );
        assert_eq!(
            total(&app, "Organization?identifier=urn:org%7Cfresh").await,
            1
        );
    }
}

/// Conditional references: one match is rewritten to `Type/id`; no match
/// or two fail the whole transaction (nothing written) naming the entry;
/// in a batch only the entry with the bad reference fails.
#[actix_web::test]
async fn conditional_references() {
    for db in backends() {
        let app = app(&db.store).await;
        let one = send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Organization"), &org("one")),
        )
        .await;
        let one_id = one.json()["id"].as_str().expect("id").to_owned();
        for _ in 0..2 {
            send(
                &app,
                with_json(TestRequest::post().uri("/fhir/Organization"), &org("two")),
            )
            .await;
        }
        let with_ref = |family: &str, reference: &str| {
            json!({"resource": {"resourceType": "Patient", "name": [{"family": family}],
                                "managingOrganization": {"reference": reference}},
                   "request": {"method": "POST", "url": "Patient"}})
        };
        // One match: rewritten.
        let b = bundle(
            "transaction",
            json!([with_ref("Ok", "Organization?identifier=urn:org|one")]),
        );
        let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &b)).await;
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.json()["entry"][0]["resource"]["managingOrganization"]["reference"],
            format!("Organization/{one_id}")
        );
        // None and two: the transaction fails, nothing is written.
        for bad in [
            "Organization?identifier=urn:org|none",
            "Organization?identifier=urn:org|two",
        ] {
            let b = bundle(
                "transaction",
                json!([
                    with_ref("Before", "Organization?identifier=urn:org|one"),
                    with_ref("Bad", bad)
                ]),
            );
            let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &b)).await;
            let oo = r.assert_outcome(412, "conflict");
            assert!(oo.to_string().contains("entry 1"), "{}: {oo}", db.label);
            assert_eq!(
                total(&app, "Patient?family=Before").await,
                0,
                "{}",
                db.label
            );
        }
        // Unusable criteria in a reference: 400.
        let b = bundle(
            "transaction",
            json!([with_ref("X", "Organization?nonsense=1")]),
        );
        let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &b)).await;
        assert_eq!(r.status, 400, "{}", db.label);
        // A batch: only the bad entry fails.
        let b = bundle(
            "batch",
            json!([
                with_ref("BatchOk", "Organization?identifier=urn:org|one"),
                with_ref("BatchBad", "Organization?identifier=urn:org|two"),
                with_ref("BatchNone", "Organization?identifier=urn:org|none"),
                {"resource": org("batch"), "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=urn:org|one"}}
            ]),
        );
        let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &b)).await;
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(status(&r, 0), "201 Created", "{}", db.label);
        assert_eq!(status(&r, 1), "412 Precondition Failed", "{}", db.label);
        assert_eq!(status(&r, 2), "412 Precondition Failed", "{}", db.label);
        assert_eq!(status(&r, 3), "200 OK", "{}", db.label);
        assert_eq!(total(&app, "Patient?family=BatchOk").await, 1);
        assert_eq!(total(&app, "Patient?family=BatchBad").await, 0);
    }
}

/// ifNoneExist matching several resources fails the transaction with 412.
#[actix_web::test]
async fn transaction_if_none_exist_with_many_matches_fails() {
    for db in backends() {
        let app = app(&db.store).await;
        for _ in 0..2 {
            send(
                &app,
                with_json(TestRequest::post().uri("/fhir/Organization"), &org("dup")),
            )
            .await;
        }
        let b = bundle(
            "transaction",
            json!([
                {"resource": {"resourceType": "Patient", "name": [{"family": "Never"}]},
                 "request": {"method": "POST", "url": "Patient"}},
                {"resource": org("dup"),
                 "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=urn:org|dup"}}
            ]),
        );
        let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &b)).await;
        r.assert_outcome(412, "conflict");
        assert_eq!(total(&app, "Patient?family=Never").await, 0, "{}", db.label);
        assert_eq!(
            total(&app, "Organization?identifier=urn:org%7Cdup").await,
            2
        );
    }
}
