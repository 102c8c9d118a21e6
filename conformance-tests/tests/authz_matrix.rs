//! The authorization matrix: every route of the route table, spelled
//! canonically, percent-encoded, double-encoded and case-changed, sent
//! byte for byte (as `curl --path-as-is` would), under every kind of
//! token. Deny by default means:
//! - a percent-encoded spelling gets exactly the answer of the canonical
//!   one (it is the same route, judged the same way);
//! - a double-encoded or otherwise ambiguous spelling is a 400, and a
//!   case-changed one names nothing (401 without a token, else 404, or
//!   400 where it reads as a malformed id);
//! - no token without the scope for it ever changes anything: the data
//!   of patient `pb` and the server-wide state are the same after the
//!   whole matrix as before;
//! - nothing answers 5xx.
//!
//! Patients `pa` and `pb`; patient tokens carry the launch context of
//! `pa`; Organization `B` is denied `pb`'s data by a Consent.

use conformance_tests::raw_http;
use conformance_tests::smart::{run_with_auth, Token};
use conformance_tests::{Backend, Client, Response, TestServer};
use serde_json::{json, Value};

/// A kind of caller: a name and the `Authorization` header it sends.
struct Caller {
    name: &'static str,
    bearer: Option<String>,
    /// May write anything: its writes are not part of the "nothing
    /// changes" check.
    admin: bool,
}

fn callers() -> Vec<Caller> {
    let mint = |scope: &'static str, patient: Option<&'static str>, org: Option<&'static str>| {
        Some(
            Token {
                patient,
                organization: org,
                ..Token::new(scope)
            }
            .mint(),
        )
    };
    let c = |name, bearer, admin| Caller {
        name,
        bearer,
        admin,
    };
    vec![
        c("none", None, false),
        c("openid", mint("openid fhirUser", None, None), false),
        c(
            "patient-read",
            mint("launch/patient patient/*.rs", Some("pa"), None),
            false,
        ),
        c(
            "patient-write",
            mint("launch/patient patient/*.cruds", Some("pa"), None),
            false,
        ),
        c(
            "patient-constrained",
            mint(
                "launch/patient patient/Observation.rs?category=vital-signs",
                Some("pa"),
                None,
            ),
            false,
        ),
        c("user-read", mint("user/*.rs", None, None), false),
        c(
            "denied-org",
            mint("user/*.rs", None, Some("Organization/B")),
            false,
        ),
        c("system", mint("system/*.cruds", None, None), true),
    ]
}

/// One request of the matrix: method, path segments (from the root),
/// query, body and whether it writes.
struct Req {
    method: &'static str,
    segments: Vec<&'static str>,
    query: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    writes: bool,
}

fn req(method: &'static str, path: &'static str, query: &'static str) -> Req {
    Req {
        method,
        segments: path.split('/').filter(|s| !s.is_empty()).collect(),
        query,
        content_type: "application/fhir+json",
        body: Vec::new(),
        writes: !matches!(method, "GET" | "HEAD"),
    }
}

fn with_body(mut r: Req, body: Value) -> Req {
    r.body = serde_json::to_vec(&body).expect("json");
    r
}

fn obs(id: &str, patient: &str, category: &str) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": format!("Patient/{patient}")}]
    })
}

/// Every route of the route table, aimed at `pb`'s data or at the whole
/// server.
fn routes() -> Vec<Req> {
    let patient_pb =
        json!({"resourceType": "Patient", "id": "pb", "name": [{"family": "Changed"}]});
    let meta = json!({"resourceType": "Parameters", "parameter": [{"name": "meta",
        "valueMeta": {"tag": [{"system": "urn:x", "code": "changed"}]}}]});
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient_pb, "request": {"method": "PUT", "url": "Patient/pb"}}]});
    let mut patch = req("PATCH", "fhir/Patient/pb", "");
    patch.content_type = "application/json-patch+json";
    patch.body = br#"[{"op":"replace","path":"/name/0/family","value":"Patched"}]"#.to_vec();
    let mut search = req("POST", "fhir/Observation/_search", "");
    search.content_type = "application/x-www-form-urlencoded";
    search.body = b"subject=Patient/pb".to_vec();
    search.writes = false;
    let mut import = req(
        "POST",
        "fhir/CodeSystem/$import-codes",
        "kind=lab&system=urn:x:lab",
    );
    import.content_type = "text/csv";
    import.body = b"local_code,local_display,jlac10,loinc\nX1,glucose,,2345-7\n".to_vec();
    vec![
        req("GET", "fhir/metadata", ""),
        req("GET", "fhir/Patient/pb", ""),
        req("GET", "fhir/Patient/pb/_history", ""),
        req("GET", "fhir/Patient/pb/_history/1", ""),
        req("GET", "fhir/Observation/ob/$meta", ""),
        req("GET", "fhir/Patient/pb/$everything", ""),
        req("GET", "fhir/Patient/pb/Observation", ""),
        req("GET", "fhir/Observation", "subject=Patient/pb"),
        req("GET", "fhir/Observation/_history", ""),
        req("GET", "fhir/_history", ""),
        req("GET", "fhir/CodeSystem/$unmapped-codes", ""),
        search,
        with_body(req("PUT", "fhir/Patient/pb", ""), patient_pb),
        req("DELETE", "fhir/Condition/cb", ""),
        patch,
        with_body(req("POST", "fhir/Patient/pb/$meta-add", ""), meta.clone()),
        with_body(
            req("POST", "fhir/Patient/pb/_history/1/$meta-add", ""),
            meta,
        ),
        req("POST", "fhir/Patient/$reindex", ""),
        req("POST", "fhir/$reindex", ""),
        with_body(
            req("POST", "fhir/Observation", ""),
            obs("new", "pb", "laboratory"),
        ),
        req("DELETE", "fhir/Observation", "subject=Patient/pb"),
        with_body(req("POST", "fhir", ""), transaction),
        import,
    ]
}

/// The spellings of a path: (label, target, what it must answer).
enum Expect {
    /// The canonical route's answer.
    SameAsCanonical,
    /// 400 whoever asks (refused before authentication).
    BadRequest,
    /// Names nothing: 401 without a token, else 404.
    Nothing,
}

fn target(segments: &[String], query: &str) -> String {
    let mut t = String::new();
    for s in segments {
        t.push('/');
        t.push_str(s);
    }
    if !query.is_empty() {
        t.push('?');
        t.push_str(query);
    }
    t
}

fn spellings(r: &Req) -> Vec<(String, String, Expect)> {
    let canon: Vec<String> = r.segments.iter().map(|s| s.to_string()).collect();
    let mut out = vec![(
        "canonical".to_owned(),
        target(&canon, r.query),
        Expect::SameAsCanonical,
    )];
    for i in 0..canon.len() {
        let seg = &canon[i];
        let first = seg.as_bytes()[0];
        let tail = &seg[1..];
        let mut with = |label: &str, replaced: String, expect: Expect| {
            let mut segs = canon.clone();
            segs[i] = replaced;
            out.push((
                format!("{label} segment {i}"),
                target(&segs, r.query),
                expect,
            ));
        };
        with(
            "encoded",
            format!("%{first:02X}{tail}"),
            Expect::SameAsCanonical,
        );
        with(
            "lower-hex",
            format!("%{first:02x}{tail}"),
            Expect::SameAsCanonical,
        );
        with(
            "double-encoded",
            format!("%25{first:02X}{tail}"),
            Expect::BadRequest,
        );
        with("encoded-slash", format!("{seg}%2F"), Expect::BadRequest);
        // Ids are case-sensitive values of their own; every other segment
        // is a fixed name that changes meaning with its case.
        let is_id = i >= 2 && !seg.starts_with('$') && !seg.starts_with('_') && i != 1;
        let flipped: String = seg
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        if !is_id && flipped != *seg {
            with("case-changed", flipped, Expect::Nothing);
        }
    }
    let mut segs = canon.clone();
    segs.insert(1.min(segs.len()), ".".into());
    out.push((
        "dot segment".into(),
        target(&segs, r.query),
        Expect::BadRequest,
    ));
    let mut segs = canon;
    segs.insert(1.min(segs.len()), "..".into());
    out.push((
        "dot-dot segment".into(),
        target(&segs, r.query),
        Expect::BadRequest,
    ));
    out
}

fn send(server: &TestServer, caller: &Caller, r: &Req, target: &str) -> Response {
    let auth = caller.bearer.as_ref().map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Accept", "application/fhir+json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if !r.body.is_empty() {
        headers.push(("Content-Type", r.content_type));
    }
    raw_http::send(server.port(), r.method, target, &headers, &r.body)
        .unwrap_or_else(|e| panic!("{} {target}: {e}", r.method))
}

/// What `pb`'s data and the server-wide state look like to an admin.
fn snapshot(admin: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for path in [
        "/Patient/pb",
        "/Condition/cb",
        "/Observation/ob",
        "/Observation?subject=Patient/pb&_count=100",
        "/CodeSystem?_count=100",
        "/ConceptMap?_count=100",
    ] {
        let r = admin.get(path);
        let mut v: Value = r.try_json().unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            // Searchsets carry a fresh id and time on every answer.
            o.remove("id");
            o.remove("meta");
            o.remove("link");
        }
        out.push(format!("{path}: {} {v}", r.status));
    }
    out
}

fn seed(admin: &Client) {
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
        "/Organization/B",
        json!({"resourceType": "Organization", "id": "B"}),
    );
    put(
        "/Practitioner/doc",
        json!({"resourceType": "Practitioner", "id": "doc"}),
    );
    for p in ["pa", "pb"] {
        put(
            &format!("/Patient/{p}"),
            json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]}),
        );
        put(
            &format!("/Condition/c{}", &p[1..]),
            json!({"resourceType": "Condition", "id": format!("c{}", &p[1..]),
                   "subject": {"reference": format!("Patient/{p}")}}),
        );
    }
    put("/Observation/oa", obs("oa", "pa", "vital-signs"));
    put("/Observation/ob", obs("ob", "pb", "laboratory"));
    put(
        "/Consent/deny-b",
        json!({
            "resourceType": "Consent", "id": "deny-b", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/pb"},
            "provision": {"type": "permit", "provision": [{"type": "deny", "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                     "code": "IRCP"}]},
                "reference": {"reference": "Organization/B"}}]}]}
        }),
    );
}

fn matrix(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let callers = callers();
        let admin_token = callers
            .iter()
            .find(|c| c.admin)
            .and_then(|c| c.bearer.clone())
            .expect("admin token");
        let admin = server.client().with_bearer(&admin_token);
        seed(&admin);
        let before = snapshot(&admin);
        let mut failures = Vec::new();
        for r in routes() {
            let spelled = spellings(&r);
            for caller in callers.iter().filter(|c| !(c.admin && r.writes)) {
                let canonical = send(server, caller, &r, &spelled[0].1);
                if canonical.status >= 500 {
                    failures.push(format!(
                        "{} {} as {}: {} {}",
                        r.method,
                        spelled[0].1,
                        caller.name,
                        canonical.status,
                        canonical.text()
                    ));
                }
                if r.writes && !matches!(canonical.status, 401 | 403 | 404 | 405) {
                    failures.push(format!(
                        "{} {} as {} was not refused: {} {}",
                        r.method,
                        spelled[0].1,
                        caller.name,
                        canonical.status,
                        canonical.text()
                    ));
                }
                for (label, t, expect) in &spelled[1..] {
                    let got = send(server, caller, &r, t);
                    let ok = match expect {
                        Expect::SameAsCanonical => got.status == canonical.status,
                        Expect::BadRequest => got.status == 400,
                        Expect::Nothing if caller.bearer.is_none() => got.status == 401,
                        // Another route's name misread as an id is a 400.
                        Expect::Nothing => matches!(got.status, 400 | 404),
                    };
                    if !ok || got.status >= 500 {
                        failures.push(format!(
                            "{} {t} ({label}) as {}: {} (canonical {}) {}",
                            r.method,
                            caller.name,
                            got.status,
                            canonical.status,
                            got.text().chars().take(300).collect::<String>()
                        ));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(snapshot(&admin), before, "a refused caller changed data");

        // The admin's encoded spellings do what the canonical ones do.
        let r = raw_http::send(
            server.port(),
            "PUT",
            "/%66hir/Patien%74/pb",
            &[
                ("Authorization", &format!("Bearer {admin_token}")),
                ("Content-Type", "application/fhir+json"),
            ],
            br#"{"resourceType":"Patient","id":"pb","name":[{"family":"Admin"}]}"#,
        )
        .expect("PUT");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            admin.get("/Patient/pb").json()["name"][0]["family"],
            "Admin"
        );
    });
}

#[test]
fn authorization_matrix_sqlite() {
    matrix(Backend::Sqlite);
}

#[test]
fn authorization_matrix_postgres() {
    matrix(Backend::Postgres);
}
