//! SMART on FHIR authorization, black-box: the server runs with
//! `--auth-issuer/--auth-audience/--auth-jwks`, tokens come from
//! `fhir-server token`, and each test checks that a request outside the
//! token's scopes or patient compartment is refused (401 for bad tokens,
//! 403 for scopes, 404 for resources of other patients) and that no
//! resource of the other patient appears anywhere in any answer.
//!
//! Data: patient `me` with Observations `me-lab` (laboratory), `me-vital`
//! (vital-signs) and `me-panel` (whose `hasMember` points at the other
//! patient's `other-lab`); patient `other-pat` with `other-lab`; a
//! Practitioner `doc` (outside every patient compartment). Every id of the
//! other patient's data starts with `other-`, so a leak is a substring.

use conformance_tests::smart::{self, Key, Token};
use conformance_tests::{Client, Response, TestServer};
use serde_json::{json, Value};

fn as_token(server: &TestServer, scope: &str, patient: Option<&str>) -> Client {
    smart::patient_client(server, scope, patient)
}

fn obs(id: &str, patient: &str, category: &str) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": "Practitioner/doc"}]
    })
}

/// Loads the data set with a `system/*.cruds` token.
fn seed(server: &TestServer) -> Client {
    let admin = as_token(server, "system/*.cruds", None);
    let put = |path: &str, body: Value| {
        let r = admin.put(path, &body);
        assert!(
            r.status == 200 || r.status == 201,
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
        "/Patient/me",
        json!({"resourceType": "Patient", "id": "me", "name": [{"family": "Mine"}]}),
    );
    put(
        "/Patient/other-pat",
        json!({"resourceType": "Patient", "id": "other-pat", "name": [{"family": "Otherfamily"}]}),
    );
    put("/Observation/me-lab", obs("me-lab", "me", "laboratory"));
    put(
        "/Observation/me-vital",
        obs("me-vital", "me", "vital-signs"),
    );
    put(
        "/Observation/other-lab",
        obs("other-lab", "other-pat", "laboratory"),
    );
    let mut panel = obs("me-panel", "me", "laboratory");
    panel["hasMember"] = json!([{"reference": "Observation/other-lab"}]);
    put("/Observation/me-panel", panel);
    admin
}

/// No resource of the other patient anywhere in the answer: no resource
/// (at any depth: entries, contained, outcomes) whose id starts with
/// `other-` or that is about `Patient/other-pat`. (References to them from
/// the caller's own resources, like `me-panel`'s `hasMember`, are the
/// caller's data.)
#[track_caller]
fn no_leak(r: &Response) {
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Object(m) => {
                if m.contains_key("resourceType") {
                    let id = m.get("id").and_then(Value::as_str).unwrap_or("");
                    assert!(
                        !id.starts_with("other-"),
                        "{path} is the other patient's {id}"
                    );
                    assert_ne!(
                        m.get("subject").and_then(|s| s.get("reference")),
                        Some(&json!("Patient/other-pat")),
                        "{path} is about the other patient"
                    );
                }
                for (k, v) in m {
                    walk(v, &format!("{path}.{k}"));
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }
    if let Some(v) = r.try_json() {
        walk(&v, "answer");
    }
}

#[track_caller]
fn ids(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    let mut ids: Vec<String> = r.json()["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[track_caller]
fn outcome(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json()["resourceType"], "OperationOutcome", "{}", r.text());
}

fn bad_tokens_get_401(server: &TestServer) {
    seed(server);
    let anon = server.client();
    let r = anon.get("/Patient/me");
    outcome(&r, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"fhir\""));
    let scope = "system/*.read";
    let bad = [
        (
            "expired",
            Token {
                ttl: -600,
                ..Token::new(scope)
            }
            .mint(),
        ),
        (
            "wrong issuer",
            Token {
                issuer: "https://evil.test",
                ..Token::new(scope)
            }
            .mint(),
        ),
        (
            "wrong audience",
            Token {
                audience: "https://elsewhere.test",
                ..Token::new(scope)
            }
            .mint(),
        ),
        (
            "bad signature",
            Token {
                key: Key::Impostor,
                ..Token::new(scope)
            }
            .mint(),
        ),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (what, t) in &bad {
        let r = server.client().with_bearer(t).get("/Patient/me");
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        outcome(&r, 401);
        let h = r.header("www-authenticate").unwrap_or("");
        assert!(h.contains("invalid_token"), "{what}: {h}");
        let code = &r.json()["issue"][0]["code"];
        assert_eq!(
            code,
            if *what == "expired" {
                "expired"
            } else {
                "login"
            },
            "{what}"
        );
    }
    // Both algorithms verify.
    let es = Token {
        key: Key::Ec,
        ..Token::new(scope)
    }
    .mint();
    assert_eq!(
        server.client().with_bearer(&es).get("/Patient/me").status,
        200
    );
    assert_eq!(
        server
            .client()
            .with_bearer(&Token::new(scope).mint())
            .get("/Patient/me")
            .status,
        200
    );
    // Public: metadata (with rest.security) and the SMART configuration.
    let cs = anon.get("/metadata");
    assert_eq!(cs.status, 200);
    let sec = &cs.json()["rest"][0]["security"];
    assert_eq!(sec["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    assert_eq!(
        sec["extension"][0]["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    // Under the FHIR base and at the server's root.
    let root = server.base_url().trim_end_matches("/fhir").to_owned();
    for client in [anon, Client::new(&root)] {
        let r = client.get("/.well-known/smart-configuration");
        assert_eq!(r.status, 200, "{}", r.text());
        let doc = r.json();
        assert_eq!(doc["issuer"], smart::ISSUER);
        assert!(doc["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "permission-v2"));
        assert!(doc["token_endpoint"].is_string());
    }
}

/// `patient/*.rs` (v2) and `patient/*.read` (v1) for patient `me`: every
/// read interaction stays in the compartment.
fn patient_reads_stay_in_the_compartment(server: &TestServer) {
    seed(server);
    for scope in ["patient/*.rs", "patient/*.read"] {
        let c = as_token(server, scope, Some("me"));
        // read, vread, history of an instance
        assert_eq!(c.get("/Observation/me-lab").status, 200);
        assert_eq!(c.get("/Patient/me").status, 200);
        for path in [
            "/Observation/other-lab",
            "/Patient/other-pat",
            "/Observation/other-lab/_history/1",
            "/Observation/other-lab/_history",
            "/Patient/other-pat/$everything",
        ] {
            let r = c.get(path);
            outcome(&r, 404);
            no_leak(&r);
        }
        assert_eq!(c.get("/Observation/me-lab/_history/1").status, 200);
        let r = c.get("/Observation/me-lab/_history");
        assert_eq!(ids(&r), ["me-lab"]);
        // Practitioner is in no patient compartment: readable.
        assert_eq!(c.get("/Practitioner/doc").status, 200);
        // search, chain, _has, _include, _revinclude, system search
        let r = c.get("/Observation");
        no_leak(&r);
        assert_eq!(ids(&r), ["me-lab", "me-panel", "me-vital"]);
        assert_eq!(r.json()["total"], 3);
        let r = c.get("/Observation?subject.family=Otherfamily");
        no_leak(&r);
        assert!(ids(&r).is_empty());
        let r = c.get("/Observation?subject:Patient.family=Mine");
        assert_eq!(ids(&r).len(), 3);
        let r = c.get("/Patient?_has:Observation:subject:code=1234-5");
        no_leak(&r);
        assert_eq!(ids(&r), ["me"]);
        let r = c.get("/Observation?_id=me-panel&_include=Observation:has-member");
        no_leak(&r);
        assert_eq!(ids(&r), ["me-panel"]);
        let r = c.get("/Observation?_include=Observation:subject&_include=Observation:performer");
        no_leak(&r);
        assert_eq!(ids(&r), ["doc", "me", "me-lab", "me-panel", "me-vital"]);
        let r = c.get("/Patient?_revinclude=Observation:subject");
        no_leak(&r);
        assert_eq!(ids(&r), ["me", "me-lab", "me-panel", "me-vital"]);
        let r = c.get("/Patient");
        assert_eq!(ids(&r), ["me"]);
        let r = c.get("?_type=Observation,Patient");
        no_leak(&r);
        assert_eq!(ids(&r), ["me", "me-lab", "me-panel", "me-vital"]);
        let r = c.request(
            "POST",
            "/Observation/_search",
            Some("application/x-www-form-urlencoded"),
            b"code=1234-5",
        );
        no_leak(&r);
        assert_eq!(ids(&r).len(), 3);
        // compartment searches and $everything
        assert_eq!(ids(&c.get("/Patient/me/Observation")).len(), 3);
        outcome(&c.get("/Patient/other-pat/Observation"), 403);
        let r = c.get("/Patient/me/$everything");
        no_leak(&r);
        assert!(ids(&r).contains(&"me-lab".to_owned()));
        // history of a type or the system: refused
        outcome(&c.get("/Observation/_history"), 403);
        outcome(&c.get("/_history"), 403);
        // no write scope
        let r = c.post("/Observation", &obs("x", "me", "laboratory"));
        outcome(&r, 403);
        assert!(r
            .header("www-authenticate")
            .unwrap_or("")
            .contains("insufficient_scope"));
    }
}

/// `patient/*.cruds` for `me`: writes must stay in the compartment, and
/// each batch/transaction entry is checked.
fn patient_writes_stay_in_the_compartment(server: &TestServer) {
    let admin = seed(server);
    let c = as_token(server, "patient/*.cruds", Some("me"));
    let r = c.post("/Observation", &obs("ignored", "me", "laboratory"));
    assert_eq!(r.status, 201, "{}", r.text());
    outcome(
        &c.post("/Observation", &obs("x", "other-pat", "laboratory")),
        403,
    );
    outcome(
        &c.put(
            "/Observation/other-lab",
            &obs("other-lab", "me", "laboratory"),
        ),
        404,
    );
    outcome(
        &c.put(
            "/Observation/me-vital",
            &obs("me-vital", "other-pat", "vital-signs"),
        ),
        403,
    );
    assert_eq!(
        c.put(
            "/Observation/me-vital",
            &obs("me-vital", "me", "laboratory")
        )
        .status,
        200
    );
    outcome(&c.delete("/Observation/other-lab"), 404);
    outcome(
        &c.post("/Practitioner", &json!({"resourceType": "Practitioner"})),
        403,
    );
    outcome(
        &c.put(
            "/Patient/other-pat",
            &json!({"resourceType": "Patient", "id": "other-pat"}),
        ),
        404,
    );
    let patch = c.request(
        "PATCH",
        "/Observation/me-lab",
        Some("application/json-patch+json"),
        br#"[{"op":"replace","path":"/status","value":"amended"}]"#,
    );
    outcome(&patch, 403);
    let r = c.request(
        "PUT",
        "/Observation?code=1234-5",
        Some("application/fhir+json"),
        obs("me-lab", "me", "laboratory").to_string().as_bytes(),
    );
    outcome(&r, 403);
    // A transaction with one entry outside the compartment writes nothing.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs("t1", "me", "laboratory"),
         "request": {"method": "PUT", "url": "Observation/t1"}},
        {"resource": obs("t2", "other-pat", "laboratory"),
         "request": {"method": "PUT", "url": "Observation/t2"}}
    ]});
    let r = c.post("", &tx);
    outcome(&r, 403);
    assert_eq!(admin.get("/Observation/t1").status, 404);
    // Absolute URLs name the same resources. A batch's entries are
    // independent: a refused one answers its own 403.
    let refused_alone = |r: &Response| {
        assert_eq!(r.status, 200, "{}", r.text());
        let entry = &r.json()["entry"][0];
        assert_eq!(entry["response"]["status"], "403 Forbidden", "{entry}");
        assert_eq!(
            entry["response"]["outcome"]["resourceType"],
            "OperationOutcome"
        );
        assert!(entry.get("resource").is_none(), "{entry}");
    };
    let abs = format!("{}/Observation/other-lab", server.base_url());
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": obs("other-lab", "me", "laboratory"),
         "request": {"method": "PUT", "url": abs}}
    ]});
    refused_alone(&c.post("", &batch));
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/other-lab"}}
    ]});
    let r = c.post("", &batch);
    refused_alone(&r);
    no_leak(&r);
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/me-lab"}},
        {"request": {"method": "DELETE", "url": "Observation/me-panel"}}
    ]});
    let r = c.post("", &batch);
    assert_eq!(r.status, 200, "{}", r.text());
    no_leak(&r);
    assert_eq!(r.json()["entry"][0]["resource"]["id"], "me-lab");
    assert_eq!(admin.get("/Observation/me-panel").status, 410);
    assert_eq!(admin.get("/Observation/other-lab").status, 200);
}

/// `user/` and `system/` scopes reach beyond one patient but not beyond
/// their types and interactions.
fn user_and_system_scopes(server: &TestServer) {
    seed(server);
    let c = as_token(server, "user/Observation.read", None);
    assert_eq!(c.get("/Observation/other-lab").status, 200);
    assert_eq!(ids(&c.get("/Observation")).len(), 4);
    outcome(&c.get("/Patient/me"), 403);
    outcome(&c.get("/Patient"), 403);
    outcome(&c.post("/Observation", &obs("x", "me", "laboratory")), 403);
    // _include of a type outside the scopes is dropped.
    let r = c.get("/Observation?_include=Observation:subject");
    assert_eq!(ids(&r).len(), 4, "{}", r.text());
    let c = as_token(server, "user/*.write", None);
    outcome(&c.get("/Observation/me-lab"), 403);
    assert_eq!(c.delete("/Observation/other-lab").status / 100, 2);
    let c = as_token(server, "system/*.read", None);
    assert_eq!(c.get("/_history").status, 200);
    outcome(&c.post("/$reindex", &json!({})), 403);
    // A patient scope without a patient in the token grants nothing.
    outcome(
        &as_token(server, "patient/*.rs", None).get("/Observation/me-lab"),
        403,
    );
}

/// v2 constraints: `patient/Observation.rs?category=laboratory`.
fn v2_constraints(server: &TestServer) {
    seed(server);
    let c = as_token(
        server,
        "patient/Observation.rs?category=laboratory",
        Some("me"),
    );
    let r = c.get("/Observation");
    no_leak(&r);
    assert_eq!(ids(&r), ["me-lab", "me-panel"]);
    assert_eq!(c.get("/Observation/me-lab").status, 200);
    outcome(&c.get("/Observation/me-vital"), 404);
    outcome(&c.get("/Observation/other-lab"), 404);
    outcome(&c.get("/Patient/me"), 403);
    let c = as_token(
        server,
        "user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs",
        None,
    );
    assert_eq!(ids(&c.get("/Observation")).len(), 4);
    let c = as_token(server, "user/Observation.rs?category=vital-signs", None);
    assert_eq!(ids(&c.get("/Observation")), ["me-vital"]);
    outcome(&c.post("/Observation", &obs("x", "me", "vital-signs")), 403);
}

/// Each test on both backends, with authorization on.
macro_rules! auth_tests {
    ($($name:ident),*) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    conformance_tests::smart::run_with_auth(conformance_tests::Backend::Sqlite, &[], super::$name);
                }
                #[test]
                fn postgres() {
                    conformance_tests::smart::run_with_auth(conformance_tests::Backend::Postgres, &[], super::$name);
                }
            }
        )*
    };
}

auth_tests!(
    bad_tokens_get_401,
    patient_reads_stay_in_the_compartment,
    patient_writes_stay_in_the_compartment,
    user_and_system_scopes,
    v2_constraints
);
