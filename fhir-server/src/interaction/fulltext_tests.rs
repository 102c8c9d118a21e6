//! `_text` and `_content` over HTTP on both backends: words, AND/OR/NOT,
//! phrases, prefixes, Japanese without spaces, narrative versus all text,
//! updates and deletes, other parameters, chains, paging, and the 400s of
//! unusable queries.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use super::tests::{enc, ids, sorted};
use crate::interaction::testutil::{app, backends, send, with_json, Reply};

fn div(text: &str) -> Value {
    json!({"status": "generated",
        "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{text}</div>")})
}

fn fixtures() -> Vec<Value> {
    vec![
        json!({"resourceType": "Patient", "id": "p1", "text": div("山田 太郎"),
            "name": [{"family": "山田", "given": ["太郎"]}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Smith"}]}),
        json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
            "text": div("<p>Patient has <b>type 2 dia</b>betes mellitus.</p><p>2型糖尿病</p>"),
            "code": {"text": "Diabetes mellitus type 2"}}),
        // No narrative: its words are only in `code.text` and `note`.
        json!({"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/p1"},
            "code": {"text": "高血圧症"}, "note": [{"text": "liver metastases"}]}),
        json!({"resourceType": "Condition", "id": "c3", "subject": {"reference": "Patient/p2"},
            "text": div("Bone metastases; カリウム値が高い"),
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "363346000", "display": "Bone cancer"}]}}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "血清カリウム"}, "subject": {"reference": "Patient/p2"}}),
    ]
}

/// GET `q` (percent-encoded here) with `Prefer: handling=strict`, so an
/// unusable parameter is a 400 rather than silently dropped.
async fn strict<S, B>(app: &S, q: &str) -> Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let req = TestRequest::get()
        .uri(&enc(q))
        .insert_header(("prefer", "handling=strict"));
    send(app, req).await
}

async fn put_all<S, B>(app: &S, resources: &[Value])
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    for r in resources {
        let url = format!(
            "/fhir/{}/{}",
            r["resourceType"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or("")
        );
        let rep = send(app, with_json(TestRequest::put().uri(&url), r)).await;
        assert!(
            rep.status == 200 || rep.status == 201,
            "{url}: {}",
            rep.status
        );
    }
}

#[actix_web::test]
async fn full_text_search_on_both_backends() {
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        put_all(&app, &fixtures()).await;
        let search = |q: &'static str| {
            let app = &app;
            async move {
                let r = strict(app, q).await;
                assert_eq!(
                    r.status,
                    200,
                    "{label} {q}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                sorted(ids(&r.json()))
            }
        };
        let cases: &[(&str, &[&str])] = &[
            // words, folded; AND by white space and by repetition
            ("/fhir/Condition?_content=diabetes", &["c1"]),
            ("/fhir/Condition?_content=DIABETES", &["c1"]),
            ("/fhir/Condition?_content=diabetes mellitus", &["c1"]),
            ("/fhir/Condition?_content=diabetes cancer", &[]),
            (
                "/fhir/Condition?_content=diabetes&_content=mellitus",
                &["c1"],
            ),
            ("/fhir/Condition?_content=diabetes&_content=metastases", &[]),
            // OR: the operator and the comma
            ("/fhir/Condition?_content=diabetes OR cancer", &["c1", "c3"]),
            ("/fhir/Condition?_content=diabetes,cancer", &["c1", "c3"]),
            (
                "/fhir/Condition?_content=(bone OR liver) and metastases",
                &["c2", "c3"],
            ),
            ("/fhir/Condition?_content=metastases NOT liver", &["c3"]),
            // phrases: words next to each other, in order
            ("/fhir/Condition?_content=\"type 2 diabetes\"", &["c1"]),
            ("/fhir/Condition?_content=\"diabetes type\"", &[]),
            // inline markup does not split a word; words match whole unless `*`
            ("/fhir/Condition?_text=diabetes", &["c1"]),
            ("/fhir/Condition?_content=diab", &[]),
            ("/fhir/Condition?_content=diab*", &["c1"]),
            // narrative only versus all the text
            ("/fhir/Condition?_content=metastases", &["c2", "c3"]),
            ("/fhir/Condition?_text=metastases", &["c3"]),
            ("/fhir/Condition?_content=高血圧", &["c2"]),
            ("/fhir/Condition?_text=高血圧", &[]),
            ("/fhir/Condition?_content=cancer", &["c3"]),
            ("/fhir/Condition?_text=cancer", &[]),
            // what is not text: ids, references, systems
            ("/fhir/Condition?_content=snomed", &[]),
            ("/fhir/Condition?_content=c1", &[]),
            // Japanese: substrings of two characters and more, one character
            ("/fhir/Condition?_content=糖尿病", &["c1"]),
            ("/fhir/Condition?_content=糖尿", &["c1"]),
            ("/fhir/Condition?_content=尿病", &["c1"]),
            ("/fhir/Condition?_content=2型糖尿病", &["c1"]),
            ("/fhir/Condition?_content=3型糖尿病", &[]),
            ("/fhir/Condition?_content=血圧", &["c2"]),
            ("/fhir/Condition?_content=圧", &["c2"]),
            ("/fhir/Condition?_content=病", &["c1"]),
            ("/fhir/Condition?_content=尿病型", &[]),
            ("/fhir/Condition?_text=カリウム", &["c3"]),
            ("/fhir/Condition?_text=ｶﾘｳﾑ", &["c3"]),
            ("/fhir/Condition?_content=カリウム 高い", &["c3"]),
            ("/fhir/Condition?_content=\"カリウム 高い\"", &[]),
            ("/fhir/Observation?_content=カリウム", &["o1"]),
            ("/fhir/Observation?_text=カリウム", &[]),
            ("/fhir/Patient?_content=山田", &["p1"]),
            ("/fhir/Patient?_text=太郎", &["p1"]),
            // with other parameters, chains, _has, several types
            (
                "/fhir/Condition?_content=metastases&subject=Patient/p1",
                &["c2"],
            ),
            (
                "/fhir/Condition?subject=Patient/p2&_text=metastases",
                &["c3"],
            ),
            (
                "/fhir/Condition?subject:Patient._content=山田",
                &["c1", "c2"],
            ),
            (
                "/fhir/Patient?_has:Condition:subject:_text=diabetes",
                &["p1"],
            ),
            (
                "/fhir?_type=Condition,Observation&_content=カリウム",
                &["c3", "o1"],
            ),
        ];
        for (q, want) in cases {
            assert_eq!(
                search(q).await,
                sorted(want.iter().map(|s| s.to_string()).collect()),
                "{label} {q}"
            );
        }

        // updates replace the old text, deletes remove it
        put_all(&app, &[json!({"resourceType": "Condition", "id": "c1",
            "subject": {"reference": "Patient/p1"}, "text": div("Asthma"), "code": {"text": "喘息"}})])
        .await;
        assert!(
            search("/fhir/Condition?_content=diabetes").await.is_empty(),
            "{label}"
        );
        assert!(
            search("/fhir/Condition?_content=糖尿病").await.is_empty(),
            "{label}"
        );
        assert_eq!(
            search("/fhir/Condition?_text=asthma").await,
            ["c1"],
            "{label}"
        );
        assert_eq!(
            search("/fhir/Condition?_content=喘息").await,
            ["c1"],
            "{label}"
        );
        let r = send(&app, TestRequest::delete().uri("/fhir/Condition/c3")).await;
        assert!(r.status == 200 || r.status == 204, "{label}: {}", r.status);
        assert_eq!(
            search("/fhir/Condition?_content=metastases").await,
            ["c2"],
            "{label}"
        );
        assert!(
            search("/fhir/Condition?_text=カリウム").await.is_empty(),
            "{label}"
        );
    }
}

#[actix_web::test]
async fn full_text_results_page() {
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        let many: Vec<Value> = (0..7)
            .map(|i| {
                json!({"resourceType": "Basic", "id": format!("b{i}"),
                "code": {"text": format!("検査メモ number{i}")}})
            })
            .collect();
        put_all(&app, &many).await;
        let mut url = enc("/fhir/Basic?_content=検査&_count=3");
        let mut seen = Vec::new();
        for _ in 0..10 {
            let b = send(&app, TestRequest::get().uri(&url)).await.json();
            assert_eq!(b["total"], 7, "{label}");
            seen.extend(ids(&b));
            let next = b["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .map(|u| u[u.find("/fhir").unwrap_or(0)..].to_owned());
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        assert_eq!(
            sorted(seen),
            (0..7).map(|i| format!("b{i}")).collect::<Vec<_>>(),
            "{label}"
        );
    }
}

#[actix_web::test]
async fn unusable_full_text_queries_are_reported() {
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        put_all(&app, &fixtures()).await;
        for q in [
            "/fhir/Condition?_content=NOT diabetes",
            "/fhir/Condition?_content=diabetes OR NOT cancer",
            "/fhir/Condition?_content=\"diabetes",
            "/fhir/Condition?_content=(diabetes",
            "/fhir/Condition?_content=!!!",
            "/fhir/Condition?_content:exact=diabetes",
            "/fhir/Bundle?_text=x",
        ] {
            let r = strict(&app, q).await;
            assert_eq!(r.status, 400, "{label} {q}");
            r.assert_outcome(400, "not-supported");
        }
        // Lenient (the default): ignored, and said so in the Bundle.
        let b = send(
            &app,
            TestRequest::get().uri(&enc("/fhir/Condition?_content=NOT diabetes")),
        )
        .await
        .json();
        assert_eq!(sorted(ids(&b)), ["c1", "c2", "c3"], "{label}");
        let outcome = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["search"]["mode"] == "outcome")
            .expect("an outcome entry");
        assert_eq!(
            outcome["resource"]["issue"][0]["expression"][0], "_content",
            "{label}"
        );
    }
}
