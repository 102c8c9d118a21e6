//! The terminology operations over HTTP on both backends: a small
//! CodeSystem with a hierarchy and Japanese designations, a ValueSet
//! (is-a filter, an explicit concept, an exclude) and a ConceptMap; every
//! operation by GET and POST, at type and instance level, paging of
//! `$expand`, rebuilds after writes, and the error answers.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::interaction::testutil::{app, backends, send, with_json};

const CS: &str = "http://example.org/cs/lab";
const VS: &str = "http://example.org/vs/chem";
const CM: &str = "http://example.org/cm/lab-to-loinc";

fn code_system() -> Value {
    json!({"resourceType": "CodeSystem", "id": "lab", "url": CS, "version": "1",
        "name": "LocalLab", "status": "active", "content": "complete", "language": "en",
        "property": [{"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"}],
        "concept": [
            {"code": "chem", "display": "Chemistry", "concept": [
                {"code": "glu", "display": "Glucose",
                 "designation": [{"language": "ja", "value": "グルコース"}],
                 "concept": [{"code": "glu-f", "display": "Fasting glucose"}]},
                {"code": "alb", "display": "Albumin"},
                {"code": "old", "display": "Old test",
                 "property": [{"code": "status", "valueCode": "retired"}]}]},
            {"code": "hem", "display": "Hematology", "concept": [
                {"code": "hb", "display": "Hemoglobin"}]}]})
}

fn value_set() -> Value {
    json!({"resourceType": "ValueSet", "id": "chem", "url": VS, "version": "1",
        "status": "active",
        "compose": {
            "include": [
                {"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "chem"}]},
                {"system": CS, "concept": [{"code": "hb"}]}],
            "exclude": [{"system": CS, "concept": [{"code": "alb"}]}]}})
}

fn concept_map() -> Value {
    json!({"resourceType": "ConceptMap", "id": "lab-loinc", "url": CM, "status": "active",
        "group": [{"source": CS, "target": "http://loinc.org", "element": [
            {"code": "glu", "target": [{"code": "2345-7", "display": "Glucose", "equivalence": "equivalent"}]},
            {"code": "hb", "target": [{"code": "718-7", "equivalence": "wider"}]}]}]})
}

fn param<'a>(p: &'a Value, name: &str) -> Option<&'a Value> {
    p["parameter"]
        .as_array()?
        .iter()
        .find(|x| x["name"] == name)
}

fn codes(vs: &Value) -> Vec<String> {
    vs["expansion"]["contains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect()
}

#[actix_web::test]
async fn every_operation_by_get_and_post_on_both_backends() {
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        for (path, body) in [
            ("CodeSystem/lab", code_system()),
            ("ValueSet/chem", value_set()),
            ("ConceptMap/lab-loinc", concept_map()),
        ] {
            let r = send(
                &app,
                with_json(TestRequest::put().uri(&format!("/fhir/{path}")), &body),
            )
            .await;
            assert!(
                r.status < 300,
                "{label} {path}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
        let get = |uri: String| TestRequest::get().uri(&uri);
        let ok = |r: crate::interaction::testutil::Reply| {
            assert_eq!(
                r.status,
                200,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            r.json()
        };

        // $lookup: type level GET, with the Japanese display and hierarchy.
        let l = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$lookup?system={CS}&code=glu&displayLanguage=ja"
            )),
        )
        .await);
        assert_eq!(param(&l, "name").unwrap()["valueString"], "LocalLab");
        assert_eq!(param(&l, "display").unwrap()["valueString"], "グルコース");
        let props: Vec<(String, String)> = l["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "property")
            .map(|p| {
                (
                    p["part"][0]["valueCode"].as_str().unwrap().to_owned(),
                    p["part"][1]["valueCode"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert!(
            props.contains(&("parent".into(), "chem".into())),
            "{label} {props:?}"
        );
        assert!(props.contains(&("child".into(), "glu-f".into())));
        assert_eq!(
            param(&l, "designation").unwrap()["part"][1]["valueString"],
            "グルコース"
        );
        // POST with a coding, and instance level.
        let l = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/CodeSystem/$lookup"),
                &json!({"resourceType": "Parameters", "parameter": [
                {"name": "coding", "valueCoding": {"system": CS, "code": "hb"}}]}),
            ),
        )
        .await);
        assert_eq!(param(&l, "display").unwrap()["valueString"], "Hemoglobin");
        let l = ok(send(&app, get("/fhir/CodeSystem/lab/$lookup?code=alb".into())).await);
        assert_eq!(param(&l, "display").unwrap()["valueString"], "Albumin");

        // CodeSystem/$validate-code.
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$validate-code?url={CS}&code=glu&display=Glucose"
            )),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], true);
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$validate-code?url={CS}&code=glu&display=Sugar"
            )),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], false);
        assert!(param(&v, "message").unwrap()["valueString"]
            .as_str()
            .unwrap()
            .starts_with("Wrong Display Name 'Sugar'"));
        let v = ok(send(
            &app,
            get("/fhir/CodeSystem/lab/$validate-code?code=nope".into()),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], false);
        let v = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/CodeSystem/$validate-code"),
                &json!({"resourceType": "Parameters", "parameter": [
                {"name": "codeableConcept", "valueCodeableConcept": {"coding": [
                    {"system": CS, "code": "nope"}, {"system": CS, "code": "hb"}]}}]}),
            ),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], true);

        // $subsumes.
        let s = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$subsumes?system={CS}&codeA=chem&codeB=glu-f"
            )),
        )
        .await);
        assert_eq!(param(&s, "outcome").unwrap()["valueCode"], "subsumes");
        let s = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/CodeSystem/lab/$subsumes"),
                &json!({"resourceType": "Parameters", "parameter": [
                {"name": "codingA", "valueCoding": {"system": CS, "code": "hb"}},
                {"name": "codingB", "valueCoding": {"system": CS, "code": "hem"}}]}),
            ),
        )
        .await);
        assert_eq!(param(&s, "outcome").unwrap()["valueCode"], "subsumed-by");
        let s = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$subsumes?system={CS}&codeA=hb&codeB=alb"
            )),
        )
        .await);
        assert_eq!(param(&s, "outcome").unwrap()["valueCode"], "not-subsumed");

        // $expand: type (url) and instance level, paging, filter.
        let e = ok(send(&app, get(format!("/fhir/ValueSet/$expand?url={VS}"))).await);
        assert_eq!(e["resourceType"], "ValueSet");
        assert_eq!(codes(&e), ["chem", "glu", "glu-f", "old", "hb"], "{label}");
        assert_eq!(e["expansion"]["total"], 5);
        let page = ok(send(
            &app,
            get("/fhir/ValueSet/chem/$expand?offset=1&count=2".into()),
        )
        .await);
        assert_eq!(codes(&page), ["glu", "glu-f"]);
        assert_eq!(
            (
                page["expansion"]["total"].clone(),
                page["expansion"]["offset"].clone()
            ),
            (json!(5), json!(1))
        );
        let page = ok(send(
            &app,
            get("/fhir/ValueSet/chem/$expand?offset=4&count=2".into()),
        )
        .await);
        assert_eq!(codes(&page), ["hb"]);
        let f = ok(send(
            &app,
            get("/fhir/ValueSet/chem/$expand?filter=glucose&activeOnly=true".into()),
        )
        .await);
        assert_eq!(codes(&f), ["glu", "glu-f"]);
        let active = ok(send(
            &app,
            get("/fhir/ValueSet/chem/$expand?activeOnly=true".into()),
        )
        .await);
        assert_eq!(active["expansion"]["total"], 4);
        let posted = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/ValueSet/$expand"),
                &json!({"resourceType": "Parameters", "parameter": [
                {"name": "valueSet", "resource": {"resourceType": "ValueSet", "status": "draft",
                    "compose": {"include": [{"system": CS, "filter": [
                        {"property": "concept", "op": "descendent-of", "value": "hem"}]}]}}},
                {"name": "includeDesignations", "valueBoolean": true}]}),
            ),
        )
        .await);
        assert_eq!(codes(&posted), ["hb"]);
        let ja = ok(send(
            &app,
            get(format!(
                "/fhir/ValueSet/$expand?url={VS}&displayLanguage=ja&includeDesignations=true"
            )),
        )
        .await);
        assert_eq!(ja["expansion"]["contains"][1]["display"], "グルコース");
        assert_eq!(
            ja["expansion"]["contains"][1]["designation"][0]["language"],
            "ja"
        );

        // ValueSet/$validate-code.
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/ValueSet/$validate-code?url={VS}&system={CS}&code=glu-f"
            )),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], true);
        assert_eq!(
            param(&v, "display").unwrap()["valueString"],
            "Fasting glucose"
        );
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/ValueSet/chem/$validate-code?system={CS}&code=alb"
            )),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], false);
        assert_eq!(
            param(&v, "message").unwrap()["valueString"],
            format!("The provided code '{CS}#alb' was not found in the value set '{VS}|1'")
        );
        let v = ok(send(&app, with_json(TestRequest::post().uri("/fhir/ValueSet/chem/$validate-code"),
            &json!({"resourceType": "Parameters", "parameter": [
                {"name": "coding", "valueCoding": {"system": CS, "code": "hb", "display": "Hemoglobin"}}]}))).await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], true);

        // $translate: by url, by systems, reverse, instance, POST.
        let t = ok(send(
            &app,
            get(format!(
                "/fhir/ConceptMap/$translate?url={CM}&system={CS}&code=glu"
            )),
        )
        .await);
        assert_eq!(param(&t, "result").unwrap()["valueBoolean"], true);
        let m = param(&t, "match").unwrap();
        assert_eq!(m["part"][0]["valueCode"], "equivalent");
        assert_eq!(m["part"][1]["valueCoding"]["code"], "2345-7");
        assert_eq!(m["part"][2]["valueUri"], CM);
        let t = ok(send(
            &app,
            get(format!(
                "/fhir/ConceptMap/$translate?system={CS}&code=hb&targetsystem=http://loinc.org"
            )),
        )
        .await);
        assert_eq!(
            param(&t, "match").unwrap()["part"][1]["valueCoding"]["code"],
            "718-7"
        );
        let t = ok(send(&app, get("/fhir/ConceptMap/lab-loinc/$translate?system=http://loinc.org&code=718-7&reverse=true".into())).await);
        let m = param(&t, "match").unwrap();
        assert_eq!(
            (
                m["part"][0]["valueCode"].clone(),
                m["part"][1]["valueCoding"]["code"].clone()
            ),
            (json!("narrower"), json!("hb"))
        );
        let t = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/ConceptMap/$translate"),
                &json!({"resourceType": "Parameters", "parameter": [
                {"name": "coding", "valueCoding": {"system": CS, "code": "alb"}},
                {"name": "targetsystem", "valueUri": "http://loinc.org"}]}),
            ),
        )
        .await);
        assert_eq!(param(&t, "result").unwrap()["valueBoolean"], false);
        assert!(param(&t, "message").unwrap()["valueString"]
            .as_str()
            .unwrap()
            .starts_with("No mappings could be found"));

        // Writes are seen: a new concept appears in the next expansion.
        let mut cs2 = code_system();
        cs2["concept"][0]["concept"]
            .as_array_mut()
            .unwrap()
            .push(json!({"code": "crp", "display": "CRP"}));
        let r = send(
            &app,
            with_json(TestRequest::put().uri("/fhir/CodeSystem/lab"), &cs2),
        )
        .await;
        assert!(r.status < 300);
        let e = ok(send(&app, get(format!("/fhir/ValueSet/$expand?url={VS}"))).await);
        assert!(
            codes(&e).contains(&"crp".to_owned()),
            "{label}: rebuilt after a write"
        );

        // Errors.
        send(
            &app,
            get("/fhir/CodeSystem/$lookup?system=http://nope&code=x".into()),
        )
        .await
        .assert_outcome(404, "not-found");
        send(
            &app,
            get(format!("/fhir/CodeSystem/$lookup?system={CS}&code=zzz")),
        )
        .await
        .assert_outcome(404, "not-found");
        send(&app, get(format!("/fhir/CodeSystem/$lookup?system={CS}")))
            .await
            .assert_outcome(400, "required");
        send(&app, get("/fhir/ValueSet/$expand?url=http://nope".into()))
            .await
            .assert_outcome(404, "not-found");
        send(
            &app,
            get(format!("/fhir/ValueSet/$expand?url={VS}&count=x")),
        )
        .await
        .assert_outcome(400, "value");
        send(&app, get("/fhir/ValueSet/missing/$expand".into()))
            .await
            .assert_outcome(404, "not-found");
        send(&app, get("/fhir/Patient/$expand".into()))
            .await
            .assert_outcome(400, "not-supported");
        send(
            &app,
            get("/fhir/ConceptMap/$translate?url=http://nope&code=x&system=y".into()),
        )
        .await
        .assert_outcome(404, "not-found");
        send(
            &app,
            get(format!("/fhir/CodeSystem/$subsumes?system={CS}&codeA=glu")),
        )
        .await
        .assert_outcome(400, "required");
        let bad = with_json(
            TestRequest::post().uri("/fhir/ValueSet/$expand"),
            &json!({"resourceType": "Patient"}),
        );
        send(&app, bad).await.assert_outcome(400, "invalid");
        // A read of an id is still a read.
        let r = send(&app, get("/fhir/CodeSystem/lab".into())).await;
        assert_eq!(r.json()["id"], "lab");
    }
}

#[actix_web::test]
async fn token_search_modifiers_in_not_in_above_below() {
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        for (path, body) in [
            ("CodeSystem/lab", code_system()),
            ("ValueSet/chem", value_set()),
        ] {
            let r = send(
                &app,
                with_json(TestRequest::put().uri(&format!("/fhir/{path}")), &body),
            )
            .await;
            assert!(r.status < 300, "{label} {path}");
        }
        for code in ["glu", "glu-f", "alb", "hb"] {
            let o = json!({"resourceType": "Observation", "id": format!("o-{code}"), "status": "final",
                "code": {"coding": [{"system": CS, "code": code}]}});
            let r = send(
                &app,
                with_json(
                    TestRequest::put().uri(&format!("/fhir/Observation/o-{code}")),
                    &o,
                ),
            )
            .await;
            assert!(r.status < 300, "{label}");
        }
        let ids = |b: Value| -> Vec<String> {
            let mut v: Vec<String> = b["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect();
            v.sort();
            v
        };
        let search = |q: String| TestRequest::get().uri(&q);
        let r = send(&app, search(format!("/fhir/Observation?code:in={VS}"))).await;
        assert_eq!(ids(r.json()), ["o-glu", "o-glu-f", "o-hb"], "{label}");
        let r = send(&app, search(format!("/fhir/Observation?code:not-in={VS}"))).await;
        assert_eq!(ids(r.json()), ["o-alb"], "{label}");
        let r = send(
            &app,
            search(format!("/fhir/Observation?code:below={CS}%7Cchem")),
        )
        .await;
        assert_eq!(ids(r.json()), ["o-alb", "o-glu", "o-glu-f"], "{label}");
        let r = send(
            &app,
            search(format!("/fhir/Observation?code:above={CS}%7Cglu-f")),
        )
        .await;
        assert_eq!(ids(r.json()), ["o-glu", "o-glu-f"], "{label}");
        // An unknown value set is a parameter the server cannot use:
        // reported under strict handling.
        let strict = search("/fhir/Observation?code:in=http://nope".into())
            .insert_header(("prefer", "handling=strict"));
        let oo = send(&app, strict)
            .await
            .assert_outcome(400, "not-supported");
        assert!(oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("http://nope"));
    }
}

#[actix_web::test]
async fn tx_resources_and_a_posted_concept_map_serve_one_request() {
    let db = crate::store::testutil::sqlite();
    let app = app(&db.store).await;
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": "http://example.org/vs/tmp"},
        {"name": "tx-resource", "resource": code_system()},
        {"name": "tx-resource", "resource": {"resourceType": "ValueSet",
            "url": "http://example.org/vs/tmp", "status": "draft",
            "compose": {"include": [{"system": CS, "filter": [
                {"property": "concept", "op": "is-a", "value": "hem"}]}]}}}]});
    let r = send(
        &app,
        with_json(TestRequest::post().uri("/fhir/ValueSet/$expand"), &body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(codes(&r.json()), ["hem", "hb"]);
    // Nothing stayed behind.
    send(
        &app,
        TestRequest::get().uri("/fhir/ValueSet/$expand?url=http://example.org/vs/tmp"),
    )
    .await
    .assert_outcome(404, "not-found");
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "conceptMap", "resource": concept_map()},
        {"name": "system", "valueUri": CS},
        {"name": "code", "valueCode": "glu"}]});
    let r = send(
        &app,
        with_json(
            TestRequest::post().uri("/fhir/ConceptMap/$translate"),
            &body,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(param(&r.json(), "result").unwrap()["valueBoolean"], true);
    let bad = json!({"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": VS},
        {"name": "tx-resource", "resource": {"resourceType": "Patient"}}]});
    send(
        &app,
        with_json(TestRequest::post().uri("/fhir/ValueSet/$expand"), &bad),
    )
    .await
    .assert_outcome(400, "not-supported");
}

/// The Japanese standard systems with no master stored: `$validate-code`
/// checks the shape (and says so), `$lookup` gives a code's parts, and
/// `$subsumes` follows the HOT nesting across the levels' urls; once a
/// master is stored, it answers.
#[actix_web::test]
async fn japanese_systems_without_a_master_answer_by_shape() {
    const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
    const HOT7: &str = "http://medis.or.jp/CodeSystem/master-HOT7";
    const HOT9: &str = "http://medis.or.jp/CodeSystem/master-HOT9";
    const HOT13: &str = "http://medis.or.jp/CodeSystem/master-HOT13";
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        let get = |uri: String| TestRequest::get().uri(&uri);
        let ok = |r: crate::interaction::testutil::Reply| {
            assert_eq!(
                r.status,
                200,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            r.json()
        };
        let message = |p: &Value| {
            param(p, "message").unwrap()["valueString"]
                .as_str()
                .unwrap()
                .to_owned()
        };

        // $validate-code: a well-formed JLAC10 code (from the JP-CLINS
        // examples) is valid by shape only; a malformed one names the part.
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$validate-code?url={JLAC10}&code=3H015000002326101"
            )),
        )
        .await);
        assert_eq!(
            param(&v, "result").unwrap()["valueBoolean"],
            true,
            "{label}"
        );
        assert!(
            message(&v).contains("checked for shape only"),
            "{label} {v}"
        );
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$validate-code?url={JLAC10}&code=3H01500000232610"
            )),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], false);
        assert!(message(&v).contains("expected 17 characters"), "{v}");
        // A YJ code in a coding, by POST.
        let v = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/CodeSystem/$validate-code"),
                &json!({"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding":
                    {"system": "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "code": "2233002F1280"}}]}),
            ),
        )
        .await);
        assert_eq!(param(&v, "result").unwrap()["valueBoolean"], true);

        // $lookup: the five JLAC10 parts; HOT level and parent.
        let l = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$lookup?system={JLAC10}&code=3A015000002327101"
            )),
        )
        .await);
        assert_eq!(param(&l, "name").unwrap()["valueString"], "JLAC10");
        assert!(param(&l, "display").is_none());
        let props: Vec<(String, Value)> = l["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "property")
            .map(|p| {
                (
                    p["part"][0]["valueCode"].as_str().unwrap().to_owned(),
                    p["part"][1].clone(),
                )
            })
            .collect();
        assert_eq!(props.len(), 5, "{label} {props:?}");
        assert_eq!(
            props[0],
            (
                "analyte".into(),
                json!({"name": "value", "valueCode": "3A015"})
            )
        );
        assert_eq!(props[2].1["valueCode"], "023");
        let l = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$lookup?system={HOT13}&code=1038316010101&property=parent"
            )),
        )
        .await);
        let parent = param(&l, "property").unwrap();
        assert_eq!(parent["part"][0]["valueCode"], "parent");
        assert_eq!(
            parent["part"][1]["valueCoding"],
            json!({"system": "http://medis.or.jp/CodeSystem/master-HOT11", "code": "10383160101"})
        );
        send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$lookup?system={HOT9}&code=10383160"
            )),
        )
        .await
        .assert_outcome(400, "invalid");

        // $subsumes across the HOT levels, and within one.
        let s = ok(send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/CodeSystem/$subsumes"),
                &json!({"resourceType": "Parameters", "parameter": [
                    {"name": "codingA", "valueCoding": {"system": HOT7, "code": "1038316"}},
                    {"name": "codingB", "valueCoding": {"system": HOT13, "code": "1038316010101"}}]}),
            ),
        )
        .await);
        assert_eq!(
            param(&s, "outcome").unwrap()["valueCode"],
            "subsumes",
            "{label}"
        );
        let s = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$subsumes?system={HOT9}&codeA=103831601&codeB=121431401"
            )),
        )
        .await);
        assert_eq!(param(&s, "outcome").unwrap()["valueCode"], "not-subsumed");
        send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/CodeSystem/$subsumes"),
                &json!({"resourceType": "Parameters", "parameter": [
                    {"name": "codingA", "valueCoding": {"system": HOT7, "code": "1038316"}},
                    {"name": "codingB", "valueCoding": {"system": JLAC10, "code": "3A015000002327101"}}]}),
            ),
        )
        .await
        .assert_outcome(400, "not-supported");

        // A stored HOT9 master answers display and existence.
        let master = json!({"resourceType": "CodeSystem", "id": "hot9", "url": HOT9, "name": "HOT9",
            "status": "active", "content": "complete",
            "concept": [{"code": "103831601", "display": "カルボシステイン錠２５０ｍｇ「サワイ」"}]});
        let r = send(
            &app,
            with_json(TestRequest::put().uri("/fhir/CodeSystem/hot9"), &master),
        )
        .await;
        assert!(
            r.status < 300,
            "{label}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$validate-code?url={HOT9}&code=103831601"
            )),
        )
        .await);
        assert_eq!(
            param(&v, "display").unwrap()["valueString"],
            "カルボシステイン錠２５０ｍｇ「サワイ」"
        );
        let v = ok(send(
            &app,
            get(format!(
                "/fhir/CodeSystem/$validate-code?url={HOT9}&code=121431401"
            )),
        )
        .await);
        assert_eq!(
            param(&v, "result").unwrap()["valueBoolean"],
            false,
            "{label}"
        );
        assert!(message(&v).starts_with("Unknown code"), "{v}");
    }
}
