//! Conditional create, update and delete over HTTP on both backends
//! (http.html#ccreate, #cond-update, #3.1.0.7.1): the 0/1/many outcomes,
//! criteria that cannot be used (400), and concurrent identical
//! conditional creates (exactly one resource).

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::interaction::testutil::{app, backends, send, with_json};
use crate::search::query;
use crate::store::{CondOutcome, Conditional, Criteria, Store};

fn patient(mrn: &str, family: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}],
           "name": [{"family": family}]})
}

/// How many current Patients carry `urn:mrn|mrn`.
async fn count<S, B>(app: &S, mrn: &str) -> i64
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
        TestRequest::get().uri(&format!(
            "/fhir/Patient?identifier=urn:mrn%7C{mrn}&_total=accurate"
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["total"].as_i64().expect("total")
}

#[actix_web::test]
async fn conditional_create_zero_one_many() {
    for db in backends() {
        let app = app(&db.store).await;
        let post = |mrn: &str, family: &str, cond: &str| {
            with_json(
                TestRequest::post().uri("/fhir/Patient"),
                &patient(mrn, family),
            )
            .insert_header(("if-none-exist", cond.to_owned()))
        };
        // 0 matches: created.
        let r = send(&app, post("c1", "First", "identifier=urn:mrn|c1")).await;
        assert_eq!(
            r.status,
            201,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        let id = r.json()["id"].as_str().expect("id").to_owned();
        // 1 match: 200 with the existing resource, nothing written.
        let r = send(&app, post("c1", "Second", "identifier=urn:mrn|c1")).await;
        assert_eq!(r.status, 200, "{}", db.label);
        assert_eq!(r.json()["id"], id.as_str());
        assert_eq!(r.json()["name"][0]["family"], "First");
        assert_eq!(r.header("etag"), Some("W/\"1\""));
        assert_eq!(count(&app, "c1").await, 1);
        // The same with Prefer: return=minimal.
        let r = send(
            &app,
            post("c1", "Third", "identifier=urn:mrn|c1")
                .insert_header(("prefer", "return=minimal")),
        )
        .await;
        assert_eq!((r.status, r.body.len()), (200, 0), "{}", db.label);
        // Many matches: 412, nothing written.
        send(&app, post("c2", "A", "identifier=urn:mrn|c2")).await;
        send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/Patient"),
                &patient("c2", "B"),
            ),
        )
        .await;
        assert_eq!(count(&app, "c2").await, 2);
        send(&app, post("c2", "C", "identifier=urn:mrn|c2"))
            .await
            .assert_outcome(412, "conflict");
        assert_eq!(count(&app, "c2").await, 2, "{}", db.label);
        // The criteria may name the type, as a Bundle's ifNoneExist may.
        let r = send(&app, post("c1", "X", "Patient?identifier=urn:mrn|c1")).await;
        assert_eq!(r.status, 200, "{}", db.label);
    }
}

#[actix_web::test]
async fn unusable_criteria_are_400_never_ignored() {
    for db in backends() {
        let app = app(&db.store).await;
        let body = patient("b1", "Bad");
        for cond in [
            "nonsense=1",
            "identifier=urn:mrn|b1&nonsense=1",
            "",
            "_count=1",
            "identifier=",
            "birthdate=notadate",
        ] {
            let r = send(
                &app,
                with_json(TestRequest::post().uri("/fhir/Patient"), &body)
                    .insert_header(("if-none-exist", cond)),
            )
            .await;
            assert_eq!(
                r.status,
                400,
                "{}: If-None-Exist {cond:?}: {}",
                db.label,
                String::from_utf8_lossy(&r.body)
            );
        }
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Patient"), &body)
                .insert_header(("if-none-exist", "Observation?code=x")),
        )
        .await;
        r.assert_outcome(400, "invalid");
        for uri in [
            "/fhir/Patient",
            "/fhir/Patient?nonsense=1",
            "/fhir/Patient?identifier=",
        ] {
            let r = send(&app, with_json(TestRequest::put().uri(uri), &body)).await;
            assert_eq!(r.status, 400, "{}: PUT {uri}", db.label);
            let r = send(&app, TestRequest::delete().uri(uri)).await;
            assert_eq!(r.status, 400, "{}: DELETE {uri}", db.label);
        }
        assert_eq!(count(&app, "b1").await, 0, "{}", db.label);
    }
}

#[actix_web::test]
async fn conditional_update_zero_one_many() {
    for db in backends() {
        let app = app(&db.store).await;
        let put = |uri: &str, body: &Value| with_json(TestRequest::put().uri(uri), body);
        // 0 matches, no id: created under a new id.
        let r = send(
            &app,
            put("/fhir/Patient?identifier=urn:mrn%7Cu1", &patient("u1", "A")),
        )
        .await;
        assert_eq!(
            r.status,
            201,
            "{}: {}",
            db.label,
            String::from_utf8_lossy(&r.body)
        );
        let id = r.json()["id"].as_str().expect("id").to_owned();
        assert!(r
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/Patient/{id}/_history/1"))));
        // 1 match, no id: that resource is updated.
        let r = send(
            &app,
            put("/fhir/Patient?identifier=urn:mrn%7Cu1", &patient("u1", "B")),
        )
        .await;
        assert_eq!(r.status, 200, "{}", db.label);
        assert_eq!(r.json()["id"], id.as_str());
        assert_eq!(r.json()["meta"]["versionId"], "2");
        // 1 match, the same id in the body: updated.
        let mut same = patient("u1", "C");
        same["id"] = json!(id);
        let r = send(&app, put("/fhir/Patient?identifier=urn:mrn%7Cu1", &same)).await;
        assert_eq!(
            (r.status, r.header("etag")),
            (200, Some("W/\"3\"")),
            "{}",
            db.label
        );
        // 1 match, another id in the body: 400.
        let mut other = patient("u1", "D");
        other["id"] = json!("someone-else");
        send(&app, put("/fhir/Patient?identifier=urn:mrn%7Cu1", &other))
            .await
            .assert_outcome(400, "value");
        // 0 matches, an id in the body: created under that id.
        let mut with_id = patient("u2", "E");
        with_id["id"] = json!("chosen-id");
        let r = send(&app, put("/fhir/Patient?identifier=urn:mrn%7Cu2", &with_id)).await;
        assert_eq!(r.status, 201, "{}", db.label);
        assert_eq!(r.json()["id"], "chosen-id");
        // Many matches: 412.
        send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/Patient"),
                &patient("u1", "F"),
            ),
        )
        .await;
        send(
            &app,
            put("/fhir/Patient?identifier=urn:mrn%7Cu1", &patient("u1", "G")),
        )
        .await
        .assert_outcome(412, "conflict");
        // If-Match does not combine with a conditional update.
        send(
            &app,
            put("/fhir/Patient?identifier=urn:mrn%7Cu2", &patient("u2", "H"))
                .insert_header(("if-match", "W/\"1\"")),
        )
        .await
        .assert_outcome(400, "not-supported");
    }
}

#[actix_web::test]
async fn conditional_delete_zero_one_many_and_the_limit() {
    for db in backends() {
        let app = app(&db.store).await;
        // 0 matches: 204, nothing happens.
        let r = send(
            &app,
            TestRequest::delete().uri("/fhir/Patient?identifier=urn:mrn%7Cd0"),
        )
        .await;
        assert_eq!((r.status, r.header("etag")), (204, None), "{}", db.label);
        // 1 match: deleted, with its etag.
        let r = send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/Patient"),
                &patient("d1", "A"),
            ),
        )
        .await;
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let r = send(
            &app,
            TestRequest::delete().uri("/fhir/Patient?identifier=urn:mrn%7Cd1"),
        )
        .await;
        assert_eq!(
            (r.status, r.header("etag")),
            (204, Some("W/\"2\"")),
            "{}",
            db.label
        );
        send(&app, TestRequest::get().uri(&format!("/fhir/Patient/{id}")))
            .await
            .assert_outcome(410, "deleted");
        // Several matches: all deleted.
        for n in 0..3 {
            send(
                &app,
                with_json(
                    TestRequest::post().uri("/fhir/Patient"),
                    &patient("d3", &n.to_string()),
                ),
            )
            .await;
        }
        let other = send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/Patient"),
                &patient("keep", "K"),
            ),
        )
        .await;
        assert_eq!(other.status, 201);
        let r = send(
            &app,
            TestRequest::delete().uri("/fhir/Patient?identifier=urn:mrn%7Cd3"),
        )
        .await;
        assert_eq!(r.status, 204, "{}", db.label);
        assert_eq!(count(&app, "d3").await, 0, "{}", db.label);
        assert_eq!(count(&app, "keep").await, 1, "{}", db.label);
        // Above the limit: 412 and nothing deleted.
        let over = crate::interaction::delete::MAX_CONDITIONAL_DELETE + 1;
        let mut writes: Vec<crate::store::TxWrite> = (0..over)
            .map(|n| {
                let mut v = patient("many", "M");
                v["id"] = json!(format!("many-{n}"));
                crate::store::TxWrite::Create(
                    fhir_model::Resource::from_json_slice(v.to_string().as_bytes())
                        .expect("patient"),
                )
            })
            .collect();
        db.store
            .transaction(&mut writes)
            .map_err(|(_, e)| e)
            .expect("stored");
        send(
            &app,
            TestRequest::delete().uri("/fhir/Patient?identifier=urn:mrn%7Cmany"),
        )
        .await
        .assert_outcome(412, "conflict");
        assert_eq!(count(&app, "many").await, over as i64, "{}", db.label);
    }
}

#[actix_web::test]
async fn capability_statement_announces_conditional_writes() {
    let db = crate::store::testutil::sqlite();
    let app = app(&db.store).await;
    let cs = send(&app, TestRequest::get().uri("/fhir/metadata"))
        .await
        .json();
    let patient = &cs["rest"][0]["resource"][0];
    assert_eq!(patient["conditionalCreate"], true);
    assert_eq!(patient["conditionalUpdate"], true);
    assert_eq!(patient["conditionalDelete"], "multiple");
}

fn criteria(store: &Store, q: &[(&str, &str)]) -> Criteria {
    let params: Vec<(String, String)> = q
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let req = query::parse(&store.registry(), vec!["Patient".into()], &params);
    assert!(req.ignored.is_empty() && !req.criteria.is_empty());
    Criteria::new(req)
}

/// Eight threads send the same conditional create at once; exactly one
/// resource is created, and every thread sees that one.
#[test]
fn concurrent_identical_conditional_creates_create_one_resource() {
    for db in backends() {
        for round in 0..3 {
            let mrn = format!("race-{round}");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let store = db.store.clone();
                    let barrier = barrier.clone();
                    let mrn = mrn.clone();
                    std::thread::spawn(move || {
                        let c = criteria(&store, &[("identifier", &format!("urn:mrn|{mrn}"))]);
                        let mut v = patient(&mrn, &format!("T{t}"));
                        v["id"] = json!(format!("{mrn}-t{t}"));
                        let r = fhir_model::Resource::from_json_slice(v.to_string().as_bytes())
                            .expect("patient");
                        barrier.wait();
                        store.conditional(Conditional::Create(r, c))
                    })
                })
                .collect();
            let mut created = Vec::new();
            let mut matched = Vec::new();
            for h in handles {
                match h.join().expect("thread").expect("conditional create") {
                    CondOutcome::Created { id, .. } => created.push(id),
                    CondOutcome::Matched(v) => matched.push(v.id),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(created.len(), 1, "{}: {created:?}", db.label);
            assert!(matched.iter().all(|m| *m == created[0]), "{}", db.label);
            let c = criteria(&db.store, &[("identifier", &format!("urn:mrn|{mrn}"))]);
            let page = db.store.search(&c.request).expect("search");
            assert_eq!(page.total, Some(1), "{}", db.label);
        }
    }
}

/// `fhir-server import` has no base: URLs in criteria stay as written.
/// With a base, references to this server become relative, as in search.
#[test]
fn criteria_keep_urls_without_a_base() {
    let db = crate::store::testutil::sqlite();
    let registry = db.store.registry();
    let rt = fhir_model::ResourceType::Patient;
    let c = super::criteria(&registry, rt, "identifier=https://x.org/a|1", "").expect("criteria");
    assert_eq!(c.text, "Patient?identifier=https://x.org/a|1");
    let c = super::criteria(
        &registry,
        rt,
        "general-practitioner=http://h/fhir/Practitioner/1",
        "http://h/fhir",
    )
    .expect("criteria");
    assert_eq!(c.text, "Patient?general-practitioner=Practitioner/1");
}
