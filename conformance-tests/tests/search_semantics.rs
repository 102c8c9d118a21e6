//! Search and history semantics that issue #17 ("Wrong answers", items 7
//! to 14) found broken: chains over missing targets, `ne` without a value,
//! history `_at`, `_query`, width folding, escapes, decimals beyond `f64`
//! and the system of required-bound `code` elements.
//! <https://hl7.org/fhir/R4/search.html>, <https://hl7.org/fhir/R4/http.html#history>

use conformance_tests::{backend_tests, Client, Response, FHIR_JSON};
use serde_json::{json, Value};

/// Percent-encodes a query value (everything but unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The ids of the `match` entries of a searchset, sorted.
fn ids(resp: &Response) -> Vec<String> {
    resp.expect_status(200);
    let bundle = resp.json();
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[track_caller]
fn search(c: &Client, path: &str) -> Vec<String> {
    ids(&c.get(path))
}

#[track_caller]
fn put(c: &Client, resource: Value) {
    let path = format!(
        "/{}/{}",
        resource["resourceType"].as_str().expect("type"),
        resource["id"].as_str().expect("id")
    );
    let resp = c.put(&path, &resource);
    assert!(
        matches!(resp.status, 200 | 201),
        "PUT {path}: {} {}",
        resp.status,
        resp.text()
    );
}

/// PUTs a resource given as raw JSON text (numbers serde_json cannot hold).
#[track_caller]
fn put_raw(c: &Client, path: &str, body: &str) {
    let resp = c.request("PUT", path, Some(FHIR_JSON), body.as_bytes());
    assert!(
        matches!(resp.status, 200 | 201),
        "PUT {path}: {} {}",
        resp.status,
        resp.text()
    );
}

fn observation(id: &str, subject: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "code": {"text": "x"}, "subject": {"reference": subject}})
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

backend_tests! {
    /// Item 7: a chained `:missing`, `:not` or `ne` holds for a target that
    /// exists and lacks (or differs in) the value, never for a reference to
    /// a resource that does not exist or was deleted.
    fn chained_negations_need_an_existing_target(server) {
        let c = server.client();
        put(&c, json!({"resourceType": "Patient", "id": "no-gender"}));
        put(&c, json!({"resourceType": "Patient", "id": "male", "gender": "male",
                       "birthDate": "1970-01-01"}));
        put(&c, json!({"resourceType": "Patient", "id": "gone"}));
        put(&c, observation("o-no-gender", "Patient/no-gender"));
        put(&c, observation("o-male", "Patient/male"));
        put(&c, observation("o-dangling", "Patient/never-was"));
        put(&c, observation("o-deleted", "Patient/gone"));
        c.delete("/Patient/gone").expect_status(204);

        assert_eq!(
            search(&c, "/Observation?subject:Patient.gender:missing=true"),
            strs(&["o-no-gender"])
        );
        assert_eq!(
            search(&c, "/Observation?subject:Patient.gender:not=male"),
            strs(&["o-no-gender"])
        );
        assert_eq!(
            search(&c, "/Observation?subject:Patient.birthdate=ne2000"),
            strs(&["o-male"])
        );
        assert_eq!(
            search(&c, "/Observation?subject:Patient.gender:missing=false"),
            strs(&["o-male"])
        );
    }

    /// Item 8: `ne` needs a value (number, quantity, date); only `:not` and
    /// `:missing` match resources without one.
    fn ne_needs_a_value(server) {
        let c = server.client();
        let obs = |id: &str, extra: Value| {
            let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
                               "code": {"text": "x"}});
            for (k, v) in extra.as_object().expect("object") {
                o[k] = v.clone();
            }
            put(&c, o);
        };
        obs("five", json!({"valueQuantity": {"value": 5}, "effectiveDateTime": "2012-05-01"}));
        obs("ten", json!({"valueQuantity": {"value": 10}, "effectiveDateTime": "2013-03-01"}));
        obs("none", json!({}));
        assert_eq!(search(&c, "/Observation?value-quantity=ne10"), strs(&["five"]));
        assert_eq!(search(&c, "/Observation?date=ne2013"), strs(&["five"]));
        let ra = |id: &str, p: Option<f64>| {
            let mut r = json!({"resourceType": "RiskAssessment", "id": id, "status": "final",
                               "subject": {"reference": "Patient/x"}});
            if let Some(p) = p {
                r["prediction"] = json!([{"probabilityDecimal": p}]);
            }
            put(&c, r);
        };
        ra("quarter", Some(0.25));
        ra("half", Some(0.5));
        ra("unknown", None);
        assert_eq!(search(&c, "/RiskAssessment?probability=ne0.5"), strs(&["quarter"]));
        put(&c, json!({"resourceType": "Patient", "id": "born", "birthDate": "1970-01-01"}));
        put(&c, json!({"resourceType": "Patient", "id": "unborn"}));
        assert_eq!(search(&c, "/Patient?birthdate=ne2000"), strs(&["born"]));
        // Absence is still found by :missing.
        assert_eq!(search(&c, "/Patient?birthdate:missing=true"), strs(&["unborn"]));
    }

    /// Item 9: history `_at` keeps the versions current at some point of
    /// the period (instance, type and system history), and the self link
    /// carries it (and not an ignored parameter).
    fn history_at_selects_the_versions_current_then(server) {
        let c = server.client();
        let mut p = json!({"resourceType": "Patient", "id": "h", "gender": "male"});
        let mut stamps = Vec::new();
        for g in ["male", "female", "other"] {
            p["gender"] = json!(g);
            let resp = c.put("/Patient/h", &p);
            assert!(matches!(resp.status, 200 | 201), "{}", resp.text());
            stamps.push(resp.json()["meta"]["lastUpdated"].as_str().expect("lastUpdated").to_owned());
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        put(&c, json!({"resourceType": "Patient", "id": "later"}));
        let versions = |path: &str| -> (Vec<String>, Value) {
            let resp = c.get(path);
            resp.expect_status(200);
            let b = resp.json();
            let v = b["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| format!("{}/{}", e["resource"]["id"].as_str().unwrap_or("-"),
                                 e["resource"]["meta"]["versionId"].as_str().unwrap_or("-")))
                .collect();
            (v, b)
        };
        for (i, at) in stamps.iter().enumerate() {
            let want = vec![format!("h/{}", i + 1)];
            let (got, _) = versions(&format!("/Patient/h/_history?_at={}", enc(at)));
            assert_eq!(got, want, "instance _at={at}");
            let (got, _) = versions(&format!("/Patient/_history?_at={}", enc(at)));
            assert_eq!(got, want, "type _at={at}");
            // Other types the server writes itself (audit records) aside.
            let (mut got, _) = versions(&format!("/_history?_at={}", enc(at)));
            got.retain(|v| v.starts_with("h/") || v.starts_with("later/"));
            assert_eq!(got, want, "system _at={at}");
        }
        // A year: every version alive in it.
        let year = &stamps[0][..4];
        let (got, bundle) = versions(&format!("/Patient/h/_history?_at={year}&foo=bar"));
        assert_eq!(got, strs(&["h/3", "h/2", "h/1"]));
        let self_link = bundle["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "self")
            .and_then(|l| l["url"].as_str())
            .expect("self link")
            .to_owned();
        assert!(self_link.contains(&format!("_at={year}")), "{self_link}");
        assert!(!self_link.contains("foo"), "{self_link}");
        // Not a date: a 400 naming _at.
        let resp = c.get("/Patient/h/_history?_at=yesterday");
        assert_eq!(resp.status, 400, "{}", resp.text());
    }

    /// Item 10: an unsupported named query is a warning in the searchset
    /// (lenient) or a 400 (strict), never a silent empty result.
    fn named_queries_are_reported(server) {
        let c = server.client();
        put(&c, json!({"resourceType": "Patient", "id": "p"}));
        let resp = c.get("/Patient?_query=everything");
        resp.expect_status(200);
        let bundle = resp.json();
        assert_eq!(ids(&resp), strs(&["p"]), "the criterion is ignored: {bundle}");
        let outcome = bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["search"]["mode"] == "outcome")
            .unwrap_or_else(|| panic!("no outcome entry: {bundle}"));
        assert_eq!(outcome["resource"]["resourceType"], "OperationOutcome");
        assert!(outcome.to_string().contains("_query"), "{outcome}");
        let strict = c
            .try_request_with("GET", "/Patient?_query=everything", None, &[],
                              &[("Prefer", "handling=strict")])
            .expect("request");
        assert_eq!(strict.status, 400, "{}", strict.text());
        assert!(strict.text().contains("_query"), "{}", strict.text());
    }

    /// Item 11: string search folds width (NFKC) as full text does.
    fn string_search_folds_width(server) {
        let c = server.client();
        put(&c, json!({"resourceType": "Patient", "id": "full", "name": [{"family": "ヤマダ"}]}));
        put(&c, json!({"resourceType": "Patient", "id": "half", "name": [{"family": "ﾔﾏﾀﾞ"}]}));
        put(&c, json!({"resourceType": "Patient", "id": "other", "name": [{"family": "ヤマモト"}]}));
        let both = strs(&["full", "half"]);
        assert_eq!(search(&c, &format!("/Patient?family={}", enc("ﾔﾏﾀﾞ"))), both);
        assert_eq!(search(&c, &format!("/Patient?family={}", enc("ヤマダ"))), both);
        assert_eq!(search(&c, &format!("/Patient?name={}", enc("ﾔﾏ"))), strs(&["full", "half", "other"]));
        assert_eq!(search(&c, &format!("/Patient?family:contains={}", enc("ﾏﾀﾞ"))), both);
        assert_eq!(search(&c, &format!("/Patient?_content={}", enc("ﾔﾏﾀﾞ"))), both);
    }

    /// Item 12: a lone backslash, or one escaping nothing, is a literal
    /// backslash: never an empty value that matches every resource.
    fn a_lone_backslash_is_literal(server) {
        let c = server.client();
        put(&c, json!({"resourceType": "Patient", "id": "plain", "name": [{"family": "Yamada"}]}));
        put(&c, json!({"resourceType": "Patient", "id": "slash", "name": [{"family": "\\slash"}]}));
        assert_eq!(search(&c, "/Patient?family=%5C"), strs(&["slash"]));
        assert_eq!(search(&c, "/Patient?family=%5Cs"), strs(&["slash"]));
        assert_eq!(search(&c, "/Patient?family=%5Cx"), Vec::<String>::new());
        assert_eq!(search(&c, "/Patient?family=%5C%5C"), strs(&["slash"]));
        // Only white space: reported, not a match-all prefix.
        let resp = c.get("/Patient?family=%20");
        let bundle = resp.json();
        assert!(ids(&resp).len() == 2 && bundle.to_string().contains("\"outcome\""), "{bundle}");
    }

    /// Item 13: decimals beyond f64 are indexed exactly, so number and
    /// quantity searches find them.
    fn decimals_beyond_f64_are_found(server) {
        let c = server.client();
        let values = [
            ("big-odd", "9007199254740993"),
            ("big-even", "9007199254740992"),
            ("huge", "0.1e400"),
            ("thirty", "123456789012345678901234567890"),
            ("thirty-one", "123456789012345678901234567891"),
        ];
        for (id, v) in values {
            put_raw(&c, &format!("/Observation/{id}"), &format!(
                r#"{{"resourceType":"Observation","id":"{id}","status":"final","code":{{"text":"x"}},"valueQuantity":{{"value":{v}}}}}"#
            ));
            put_raw(&c, &format!("/ChargeItem/{id}"), &format!(
                r#"{{"resourceType":"ChargeItem","id":"{id}","status":"billable","code":{{"text":"x"}},"subject":{{"reference":"Patient/x"}},"factorOverride":{v}}}"#
            ));
        }
        for (path, param) in [("/Observation", "value-quantity"), ("/ChargeItem", "factor-override")] {
            let q = |v: &str| search(&c, &format!("{path}?{param}={}", enc(v)));
            assert_eq!(q("9007199254740993"), strs(&["big-odd"]), "{param}");
            assert_eq!(q("9007199254740992"), strs(&["big-even"]), "{param}");
            assert_eq!(q("0.1e400"), strs(&["huge"]), "{param}");
            assert_eq!(q("123456789012345678901234567890"), strs(&["thirty"]), "{param}");
            assert_eq!(q("gt123456789012345678901234567890"), strs(&["huge", "thirty-one"]), "{param}");
            assert_eq!(q("lt9007199254740993"), strs(&["big-even"]), "{param}");
        }
    }

    /// Item 14: a `code` element with a required binding to one code system
    /// is indexed with that system, so `system|code` finds it.
    fn bound_codes_carry_their_system(server) {
        let c = server.client();
        put(&c, json!({"resourceType": "Patient", "id": "m", "gender": "male"}));
        put(&c, json!({"resourceType": "Patient", "id": "f", "gender": "female"}));
        let q = |v: &str| search(&c, &format!("/Patient?gender={}", enc(v)));
        assert_eq!(q("http://hl7.org/fhir/administrative-gender|male"), strs(&["m"]));
        assert_eq!(q("male"), strs(&["m"]));
        assert_eq!(q("http://example.org/other|male"), Vec::<String>::new());
        put(&c, observation("o", "Patient/m"));
        assert_eq!(
            search(&c, &format!("/Observation?status={}", enc("http://hl7.org/fhir/observation-status|final"))),
            strs(&["o"])
        );
    }
}
