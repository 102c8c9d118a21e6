//! Search over HTTP on both backends: every parameter type, prefixes,
//! modifiers, chains, `_has`, includes, sorting, paging, compartments and
//! the lenient/strict handling of parameters the server cannot use.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::interaction::testutil::{app, backends, send, with_json};

/// The ids of the `match` entries, in order.
pub(super) fn ids(b: &Value) -> Vec<String> {
    b["entry"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes what a URI may not carry raw (`|`, non-ASCII, …).
pub(super) fn enc(q: &str) -> String {
    let mut out = String::new();
    for c in q.chars() {
        if c.is_ascii_alphanumeric() || "/?&=:,.-_*$~%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

pub(super) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn fixtures() -> Vec<Value> {
    vec![
        json!({"resourceType": "Patient", "id": "p1", "active": true,
            "meta": {"tag": [{"system": "urn:tags", "code": "vip"}],
                "profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"],
                "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
                "source": "urn:system:emr1"},
            "identifier": [{"system": "urn:mrn", "value": "111",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}],
            "name": [{"family": "Müller", "given": ["Anna"]}], "gender": "female",
            "birthDate": "1980-05-12", "telecom": [{"system": "phone", "value": "555-1234"}],
            "address": [{"city": "Tokyo"}]}),
        json!({"resourceType": "Patient", "id": "p2", "active": false,
            "identifier": [{"system": "urn:mrn", "value": "222"}],
            "name": [{"family": "Smith", "given": ["Bob"]}], "gender": "male",
            "birthDate": "1975", "generalPractitioner": [{"reference": "Practitioner/dr1"}]}),
        json!({"resourceType": "Patient", "id": "p3",
            "name": [{"family": "Mullins", "given": ["Carl"]}], "gender": "male",
            "birthDate": "1990-01-01"}),
        json!({"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "House"}]}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}], "text": "Blood sugar"},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2020-03-01T10:00:00+09:00",
            "valueQuantity": {"value": 5.4, "system": "http://unitsofmeasure.org", "code": "mg", "unit": "mg"}}),
        json!({"resourceType": "Observation", "id": "o2", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "Patient/p2"}, "effectiveDateTime": "2021-07-15",
            "valueQuantity": {"value": 7200, "system": "http://unitsofmeasure.org", "code": "ug"}}),
        json!({"resourceType": "Observation", "id": "o3", "status": "preliminary",
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2019-01-01", "end": "2019-06-30"},
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}),
        json!({"resourceType": "List", "id": "l1", "status": "current", "mode": "working",
            "entry": [{"item": {"reference": "Patient/p1"}}, {"item": {"reference": "Patient/p3"}}]}),
        json!({"resourceType": "ValueSet", "id": "vs1", "status": "active",
            "url": "http://example.org/fhir/ValueSet/colours"}),
        json!({"resourceType": "RiskAssessment", "id": "ra1", "status": "final",
            "subject": {"reference": "Patient/p1"},
            "prediction": [{"probabilityDecimal": 0.25}]}),
    ]
}

#[actix_web::test]
async fn every_parameter_type_on_both_backends() {
    for db in backends() {
        let app = app(&db.store).await;
        for r in fixtures() {
            let url = format!(
                "/fhir/{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            let rep = send(&app, with_json(TestRequest::put().uri(&url), &r)).await;
            assert!(
                rep.status == 201 || rep.status == 200,
                "{url}: {}",
                String::from_utf8_lossy(&rep.body)
            );
        }
        let label = db.label;
        let search = |q: &'static str| {
            let app = &app;
            async move {
                let r = send(app, TestRequest::get().uri(&enc(q))).await;
                assert_eq!(
                    r.status,
                    200,
                    "{label} {q}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                let b = r.json();
                assert_eq!(b["type"], "searchset");
                b
            }
        };
        let cases: &[(&str, &[&str])] = &[
            // string: prefix, folded case and accents, :exact, :contains
            ("/fhir/Patient?family=mul", &["p1", "p3"]),
            ("/fhir/Patient?family=MULLER", &["p1"]),
            ("/fhir/Patient?family:exact=Müller", &["p1"]),
            ("/fhir/Patient?family:exact=muller", &[]),
            ("/fhir/Patient?name:contains=ulli", &["p3"]),
            ("/fhir/Patient?address-city=tok", &["p1"]),
            ("/fhir/Patient?family=smith,house", &["p2"]),
            // token: code, system|code, |code, system|, :not, :text, :of-type
            ("/fhir/Patient?gender=male", &["p2", "p3"]),
            ("/fhir/Patient?gender:not=male", &["p1"]),
            ("/fhir/Patient?identifier=urn:mrn|111", &["p1"]),
            ("/fhir/Patient?identifier=urn:mrn|", &["p1", "p2"]),
            ("/fhir/Patient?identifier=|111", &[]),
            ("/fhir/Patient?active=true", &["p1"]),
            ("/fhir/Patient?telecom=555-1234", &["p1"]),
            ("/fhir/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|111", &["p1"]),
            ("/fhir/Observation?code=http://loinc.org|2345-7", &["o1", "o2"]),
            ("/fhir/Observation?code=2345-7,718-7", &["o1", "o2", "o3"]),
            ("/fhir/Observation?code:text=blood", &["o1"]),
            ("/fhir/Observation?code:text=gluc", &["o1"]),
            ("/fhir/Observation?status=final&code=718-7", &[]),
            ("/fhir/Observation?_id=o1,o3", &["o1", "o3"]),
            // date prefixes with range semantics
            ("/fhir/Patient?birthdate=1975", &["p2"]),
            ("/fhir/Patient?birthdate=1975-06", &[]),
            ("/fhir/Patient?birthdate=gt1979", &["p1", "p3"]),
            ("/fhir/Patient?birthdate=lt1980", &["p2"]),
            ("/fhir/Patient?birthdate=ge1980-05-12&birthdate=le1990-01-01", &["p1", "p3"]),
            ("/fhir/Patient?birthdate=ne1990-01-01", &["p1", "p2"]),
            ("/fhir/Patient?birthdate=sa1980", &["p3"]),
            ("/fhir/Patient?birthdate=eb1980", &["p2"]),
            ("/fhir/Observation?date=2020-03-01", &["o1"]),
            ("/fhir/Observation?date=2020-03-01T01:00:00Z", &["o1"]),
            ("/fhir/Observation?date=2019-03", &[]),
            ("/fhir/Observation?date=2019", &["o3"]),
            ("/fhir/Observation?date=ge2019-03-01&date=le2019-04-01", &["o3"]),
            // quantity with UCUM canonical units; number
            ("/fhir/Observation?value-quantity=5.4|http://unitsofmeasure.org|mg", &["o1"]),
            ("/fhir/Observation?value-quantity=5400|http://unitsofmeasure.org|ug", &["o1"]),
            ("/fhir/Observation?value-quantity=gt5|http://unitsofmeasure.org|mg", &["o1", "o2"]),
            ("/fhir/Observation?value-quantity=lt6|http://unitsofmeasure.org|mg", &["o1"]),
            ("/fhir/Observation?value-quantity=5.4", &["o1"]),
            ("/fhir/RiskAssessment?probability=0.25", &["ra1"]),
            ("/fhir/RiskAssessment?probability=gt0.3", &[]),
            // composite
            ("/fhir/Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100", &["o3"]),
            ("/fhir/Observation?component-code-value-quantity=http://loinc.org|8480-6$lt100", &[]),
            // reference: Type/id, id, :Type, :missing, chains, _has
            ("/fhir/Observation?subject=Patient/p1", &["o1", "o3"]),
            ("/fhir/Observation?subject=p2", &["o2"]),
            ("/fhir/Observation?subject:Patient=p2", &["o2"]),
            ("/fhir/Observation?patient=p1&status=preliminary", &["o3"]),
            ("/fhir/Observation?subject.gender=male", &["o2"]),
            ("/fhir/Observation?subject:Patient.name=anna", &["o1", "o3"]),
            ("/fhir/Observation?subject:Patient.general-practitioner.name=house", &["o2"]),
            ("/fhir/Patient?_has:Observation:patient:code=718-7", &["p1"]),
            ("/fhir/Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:code=2345-7", &["dr1"]),
            ("/fhir/Patient?general-practitioner:missing=true", &["p1", "p3"]),
            ("/fhir/Patient?general-practitioner:missing=false", &["p2"]),
            ("/fhir/Patient?birthdate:missing=false&gender=male", &["p2", "p3"]),
            // the parameters of every resource
            ("/fhir/Patient?_tag=urn:tags|vip", &["p1"]),
            ("/fhir/Patient?_tag:not=urn:tags|vip", &["p2", "p3"]),
            ("/fhir/Patient?_profile=http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient", &["p1"]),
            ("/fhir/Patient?_security=R", &["p1"]),
            ("/fhir/Patient?_source=urn:system:emr1", &["p1"]),
            ("/fhir/Patient?_lastUpdated=gt2000-01-01", &["p1", "p2", "p3"]),
            ("/fhir/Patient?_lastUpdated=lt2000-01-01", &[]),
            // _list: the members of a List
            ("/fhir/Patient?_list=l1", &["p1", "p3"]),
            ("/fhir/Patient?_list=l1&gender=male", &["p3"]),
            ("/fhir/Patient?gender=male&_list=l1,nope", &["p3"]),
            ("/fhir/Observation?_list=l1", &[]),
            // uri with :above / :below
            ("/fhir/ValueSet?url=http://example.org/fhir/ValueSet/colours", &["vs1"]),
            ("/fhir/ValueSet?url:below=http://example.org/fhir", &["vs1"]),
            ("/fhir/ValueSet?url:above=http://example.org/fhir/ValueSet/colours/v2", &["vs1"]),
            ("/fhir/ValueSet?url:below=http://example.org/other", &[]),
        ];
        for (q, want) in cases {
            let b = search(q).await;
            assert_eq!(sorted(ids(&b)), *want, "{label} {q}");
            assert_eq!(b["total"], want.len(), "{label} {q}: total");
        }

        // system search and compartments
        let b = search("/fhir?_type=Patient,Practitioner&_id=dr1,p2").await;
        assert_eq!(sorted(ids(&b)), ["dr1", "p2"], "{label}");
        let b = search("/fhir/Patient/p1/Observation").await;
        assert_eq!(sorted(ids(&b)), ["o1", "o3"], "{label}");
        let b = search("/fhir/Patient/p1/Observation?code=718-7").await;
        assert_eq!(ids(&b), ["o3"], "{label}");
        let b = search("/fhir/Patient/p1/*").await;
        assert_eq!(sorted(ids(&b)), ["o1", "o3", "ra1"], "{label}");

        // POST _search with a form body
        let r = send(
            &app,
            TestRequest::post()
                .uri("/fhir/Patient/_search")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload("gender=male&family=smith"),
        )
        .await;
        assert_eq!(ids(&r.json()), ["p2"], "{label}");

        // deleting removes from results; updating re-indexes
        send(&app, TestRequest::delete().uri("/fhir/Patient/p3")).await;
        let b = search("/fhir/Patient?gender=male").await;
        assert_eq!(ids(&b), ["p2"], "{label}");
        let p2 = json!({"resourceType": "Patient", "id": "p2", "gender": "female"});
        send(
            &app,
            with_json(TestRequest::put().uri("/fhir/Patient/p2"), &p2),
        )
        .await;
        let b = search("/fhir/Patient?gender=male").await;
        assert!(ids(&b).is_empty(), "{label}");
        let b = search("/fhir/Patient?_tag=urn:x|y").await;
        assert!(ids(&b).is_empty(), "{label}");
    }
}

#[actix_web::test]
async fn includes_sorting_paging_and_handling() {
    for db in backends() {
        let app = app(&db.store).await;
        let label = db.label;
        for r in fixtures() {
            let url = format!(
                "/fhir/{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            send(&app, with_json(TestRequest::put().uri(&url), &r)).await;
        }
        let get = |q: String| {
            let app = &app;
            async move {
                let r = send(app, TestRequest::get().uri(&q)).await;
                assert_eq!(
                    r.status,
                    200,
                    "{label} {q}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                r.json()
            }
        };
        // _include, _revinclude, :iterate
        let b = get("/fhir/Observation?_id=o2&_include=Observation:subject".into()).await;
        let modes: Vec<(String, String)> = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["resource"]["id"].as_str().unwrap_or("").to_owned(),
                    e["search"]["mode"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            modes,
            [
                ("o2".into(), "match".into()),
                ("p2".into(), "include".into())
            ],
            "{label}"
        );
        assert_eq!(b["total"], 1, "{label}: includes are not counted");
        let b = get("/fhir/Observation?_id=o2&_include=Observation:subject&_include:iterate=Patient:general-practitioner".into()).await;
        assert_eq!(b["entry"].as_array().map(Vec::len), Some(3), "{label}");
        let b = get("/fhir/Patient?_id=p1&_revinclude=Observation:subject".into()).await;
        let included: Vec<&str> = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == "include")
            .filter_map(|e| e["resource"]["id"].as_str())
            .collect();
        assert_eq!(
            sorted(included.iter().map(|s| s.to_string()).collect()),
            ["o1", "o3"],
            "{label}"
        );
        let b = get("/fhir/Observation?_id=o1&_include=*".into()).await;
        assert_eq!(b["entry"].as_array().map(Vec::len), Some(2), "{label}");

        // _sort on several keys, both directions
        let b = get("/fhir/Patient?_sort=birthdate".into()).await;
        assert_eq!(ids(&b), ["p2", "p1", "p3"], "{label}");
        let b = get("/fhir/Patient?_sort=-birthdate".into()).await;
        assert_eq!(ids(&b), ["p3", "p1", "p2"], "{label}");
        let b = get("/fhir/Patient?_sort=gender,-family".into()).await;
        assert_eq!(ids(&b), ["p1", "p2", "p3"], "{label}");
        let b = get("/fhir/Observation?_sort=-value-quantity".into()).await;
        assert_eq!(ids(&b)[0], "o2", "{label}");

        // paging: next links walk every match once, also with _sort and
        // while resources are added between pages
        // (`_sort=_id` and `-_id` page on the primary key: in id order.)
        for (q, in_order) in [
            ("/fhir/Patient?_count=1", None),
            ("/fhir/Patient?_count=1&_sort=-birthdate", None),
            ("/fhir/Patient?_count=1&_sort=_id", Some(["p1", "p2", "p3"])),
            (
                "/fhir/Patient?_count=1&_sort=-_id",
                Some(["p3", "p2", "p1"]),
            ),
        ] {
            let mut url = q.to_owned();
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let b = get(url.clone()).await;
                assert_eq!(
                    b["total"].as_i64().unwrap_or(3),
                    3,
                    "{label} {url}: total stays the first count"
                );
                seen.extend(ids(&b));
                pages += 1;
                if pages == 1 {
                    let extra = json!({"resourceType": "Observation", "id": format!("x{pages}"), "status": "final", "code": {"text": "x"}});
                    send(
                        &app,
                        with_json(
                            TestRequest::put().uri(&format!("/fhir/Observation/x{pages}")),
                            &extra,
                        ),
                    )
                    .await;
                }
                let next = b["link"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|l| l["relation"] == "next")
                    .and_then(|l| l["url"].as_str())
                    .map(str::to_owned);
                match next {
                    Some(n) => url = n[n.find("/fhir").unwrap_or(0)..].to_owned(),
                    None => break,
                }
                assert!(pages < 10, "{label}: paging does not end");
            }
            assert_eq!(
                sorted(seen.clone()),
                ["p1", "p2", "p3"],
                "{label} {q}: {seen:?}"
            );
            if let Some(order) = in_order {
                assert_eq!(seen, order, "{label} {q}");
            }
        }
        let b = get("/fhir/Patient?_summary=count".into()).await;
        assert_eq!(
            (b["total"].as_i64(), b.get("entry").is_none()),
            (Some(3), true),
            "{label}"
        );
        let b = get("/fhir/Patient?_total=none&_id=p1".into()).await;
        assert!(b.get("total").is_none(), "{label}");
        let b = get("/fhir/Patient?_id=p1&_elements=gender".into()).await;
        let p = &b["entry"][0]["resource"];
        assert_eq!(
            (p["gender"].as_str(), p.get("name").is_none()),
            (Some("female"), true),
            "{label}"
        );
        let tags: Vec<&str> = p["meta"]["tag"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["code"].as_str())
            .collect();
        assert!(tags.contains(&"SUBSETTED"), "{label}: {tags:?}");
        let self_link = b["link"][0]["url"].as_str().unwrap_or("");
        assert!(
            self_link.ends_with("/fhir/Patient?_id=p1&_elements=gender"),
            "{label}: {self_link}"
        );

        // lenient (default): unknown parameters ignored and reported
        let b = get("/fhir/Patient?nonsense=1&gender=male".into()).await;
        assert_eq!(sorted(ids(&b)), ["p2", "p3"], "{label}");
        let outcome = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["search"]["mode"] == "outcome")
            .expect("an outcome entry");
        assert_eq!(
            outcome["resource"]["issue"][0]["expression"][0], "nonsense",
            "{label}"
        );
        assert!(
            !b["link"][0]["url"]
                .as_str()
                .unwrap_or("")
                .contains("nonsense"),
            "{label}"
        );
        // strict: 400
        let r = send(
            &app,
            TestRequest::get()
                .uri("/fhir/Patient?nonsense=1")
                .insert_header(("prefer", "handling=strict")),
        )
        .await;
        r.assert_outcome(400, "not-supported");
        // bad values are reported, not 500
        for q in [
            "/fhir/Patient?birthdate=notadate",
            "/fhir/Observation?value-quantity=abc",
            "/fhir/Patient?_count=x",
            "/fhir/Patient?gender:nonsense=x",
            "/fhir/Patient?_sort=nonsense",
            "/fhir/Observation?subject.nonsense=1",
            "/fhir/Patient?_has:Observation:nonsense:code=1",
        ] {
            let r = send(
                &app,
                TestRequest::get()
                    .uri(&enc(q))
                    .insert_header(("prefer", "handling=strict")),
            )
            .await;
            r.assert_outcome(400, "not-supported");
        }
        let r = send(
            &app,
            TestRequest::get().uri("/fhir/Patient?_cursor=garbage"),
        )
        .await;
        r.assert_outcome(400, "value");
        send(&app, TestRequest::get().uri("/fhir/Nonsense?x=1"))
            .await
            .assert_outcome(404, "not-found");
        send(&app, TestRequest::get().uri("/fhir?_type=Nonsense"))
            .await
            .assert_outcome(400, "value");
    }
}
