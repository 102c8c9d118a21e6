//! Several servers on one database keep no state another node can change
//! without them knowing (issue #18 item 1): two real `serve` processes on
//! one PostgreSQL database, and two on one SQLite file. For each cache
//! built from stored definitions, a change through node A is honoured by
//! node B:
//! - a custom SearchParameter written through A indexes B's next write
//!   at once (a write reads the definition stamps first), B's search uses
//!   it, and `$reindex` through B keeps its index;
//! - a deny Consent written through A is enforced by B, and its deletion
//!   through A lifts it on B;
//! - after `$import-codes` on A, the very next write on B is mapped;
//! - JP Core stored by A (`--package`) is known to B started without
//!   `--package` (profile enforcement), and a profile PUT through A is
//!   known to B's `$validate`.
//!
//! Reads on B follow A's change through B's watcher (NOTIFY on
//! PostgreSQL, a stamp poll on both); the tests wait for it with a
//! generous deadline and print the delay seen (the 1 s target is measured,
//! not asserted: no timed tests).

use std::time::{Duration, Instant};

use conformance_tests::consent::{deny, privacy_consent, put_all};
use conformance_tests::second_node::SecondNode as NodeB;
use conformance_tests::smart::{auth_args, client, token};
use conformance_tests::{Backend, Client, TestServer};
use serde_json::{json, Value};

/// How long B may take to honour a change before the test fails: far
/// above the 1 s target, so CI noise does not fail it.
const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `seen` until it holds; returns how long that took. Panics with
/// `what` after [`DEADLINE`].
fn until(what: &str, mut seen: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if seen() {
            let took = start.elapsed();
            eprintln!("node B honoured {what} after {took:?}");
            return took;
        }
        assert!(start.elapsed() < DEADLINE, "node B never honoured {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The ids a search answers.
fn ids(c: &Client, query: &str) -> Vec<String> {
    let r = c.get(query);
    r.expect_status(200);
    r.json()["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// Whether the searchset says the parameter was not used.
fn ignored(c: &Client, query: &str) -> bool {
    c.get(query).text().contains("ignored")
}

fn search_parameter(a: &TestServer, b: &NodeB) {
    let (ca, cb) = (a.client(), b.client());
    // B knows the parameter's name before anything: nothing yet.
    assert!(ignored(&cb, "/Patient?nickname=Bobby"));
    ca.put(
        "/SearchParameter/nickname",
        &json!({"resourceType": "SearchParameter", "id": "nickname",
            "url": "http://example.org/SearchParameter/nickname",
            "name": "nickname", "status": "active",
            "description": "A given name used as a nickname",
            "code": "nickname", "base": ["Patient"], "type": "string",
            "expression": "Patient.name.where(use = 'nickname').given"}),
    )
    .expect_status(201);
    // The very next write through B is indexed with it: no waiting.
    cb.put(
        "/Patient/nick",
        &json!({"resourceType": "Patient", "id": "nick",
            "name": [{"use": "nickname", "given": ["Bobby"]}]}),
    )
    .expect_status(201);
    until("a SearchParameter written through A (search)", || {
        !ignored(&cb, "/Patient?nickname=Bobby")
    });
    assert_eq!(ids(&cb, "/Patient?nickname=Bobby"), ["nick"]);
    // $reindex through B keeps that index.
    cb.request("POST", "/Patient/$reindex", None, b"")
        .expect_status(200);
    assert_eq!(ids(&cb, "/Patient?nickname=Bobby"), ["nick"]);
    assert_eq!(ids(&ca, "/Patient?nickname=Bobby"), ["nick"]);
}

fn consent(a: &TestServer, b: &NodeB) {
    let admin_a = client(a, "system/*.cruds", None);
    put_all(
        &admin_a,
        &[
            json!({"resourceType": "Organization", "id": "B"}),
            json!({"resourceType": "Patient", "id": "denied", "name": [{"family": "Hidden"}]}),
        ],
    );
    let org_b_on_b =
        Client::new(&b.base).with_bearer(&token("system/*.cruds", Some("Organization/B")));
    org_b_on_b.get("/Patient/denied").expect_status(200);
    admin_a
        .put(
            "/Consent/deny-b",
            &privacy_consent(
                "deny-b",
                "Patient/denied",
                vec![deny("Organization/B", &[], &[])],
            ),
        )
        .expect_status(201);
    until("a deny Consent written through A", || {
        org_b_on_b.get("/Patient/denied").status == 404
    });
    let gone = admin_a.delete("/Consent/deny-b");
    assert!(matches!(gone.status, 200 | 204), "{}", gone.text());
    until("the deletion of a Consent through A", || {
        org_b_on_b.get("/Patient/denied").status == 200
    });
}

const LAB: &str = "http://hospital.example/fhir/CodeSystem/lab";

fn local_codes(a: &TestServer, b: &NodeB) {
    let csv = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/local-codes/lab-master.csv"),
    )
    .expect("fixture");
    let first = csv_first_mapped(&csv);
    let cb = b.client();
    // B writes once before, so any mapper it keeps is built.
    cb.post("/Observation", &observation(&first.0))
        .expect_status(201);
    a.client()
        .request(
            "POST",
            &format!("/CodeSystem/$import-codes?kind=lab&system={LAB}"),
            Some("text/csv"),
            &csv,
        )
        .expect_status(200);
    // The very next write through B is mapped: no waiting.
    let r = cb.post("/Observation", &observation(&first.0));
    r.expect_status(201);
    let id = r
        .header("location")
        .and_then(|l| l.split("/Observation/").nth(1))
        .and_then(|l| l.split('/').next())
        .expect("a Location")
        .to_owned();
    let query = format!("/Observation?code=http://loinc.org|{}", first.1);
    let found = ids(&cb, &query);
    assert!(
        found.contains(&id),
        "{query} on B found {found:?}, not {id}"
    );
}

/// The first row of the lab master with a LOINC code: (local, LOINC).
fn csv_first_mapped(csv: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(csv);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let local = col("local_code").or_else(|| col("code")).unwrap_or(0);
    let loinc = col("loinc").expect("a LOINC column");
    lines
        .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
        .find(|r| r.get(loinc).is_some_and(|c| !c.is_empty()))
        .map(|r| (r[local].clone(), r[loinc].clone()))
        .expect("a mapped row")
}

fn observation(code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": LAB, "code": code}]},
           "valueQuantity": {"value": 4.1, "unit": "mmol/L"}})
}

fn jp_core() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages/jp-core.r4-1.1.2.tgz")
        .to_string_lossy()
        .into_owned()
}

const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
const BIRTH_PROFILE: &str = "http://example.org/StructureDefinition/patient-with-birthdate";

fn profiles(a: &TestServer, b: &NodeB) {
    let cb = b.client();
    // B was started without `--package`, requiring JP_Patient (which
    // requires an identifier): known from the database.
    let r = cb.post(
        "/Patient",
        &json!({"resourceType": "Patient", "name": [{"family": "山田"}]}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(!r.text().contains("is not known"), "{}", r.text());
    // A profile PUT through A: B's $validate knows it.
    let validate = || {
        cb.request(
            "POST",
            &format!("/Patient/$validate?profile={BIRTH_PROFILE}"),
            Some("application/fhir+json"),
            br#"{"resourceType":"Patient","identifier":[{"system":"urn:x","value":"1"}]}"#,
        )
        .text()
    };
    assert!(validate().contains("is not known"));
    a.client()
        .put(
            "/StructureDefinition/patient-with-birthdate",
            &json!({"resourceType": "StructureDefinition", "id": "patient-with-birthdate",
                "url": BIRTH_PROFILE, "name": "PatientWithBirthDate", "status": "active",
                "fhirVersion": "4.0.1", "kind": "resource", "abstract": false,
                "type": "Patient", "derivation": "constraint",
                "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
                "differential": {"element": [
                    {"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1}]}}),
        )
        .expect_status(201);
    until("a StructureDefinition written through A", || {
        let text = validate();
        !text.contains("is not known") && text.contains("birthDate")
    });
}

fn two_nodes(backend: Backend, a_args: &[&str], b_args: &[&str], test: fn(&TestServer, &NodeB)) {
    if backend.skipped() {
        return;
    }
    // Small pools: the test's databases share one PostgreSQL server.
    fn small<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["--pool-size", "4"];
        v.extend_from_slice(args);
        v
    }
    let a = TestServer::start_with_args(backend, &small(a_args));
    let b = NodeB::start(&a, &small(b_args));
    test(&a, &b);
}

fn with_auth(extra: &[&str]) -> Vec<String> {
    let mut v = auth_args();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Runs `test` on two nodes of `backend`, A and B started with `a` and
/// `b` (owned, so the argument lists can be built per test).
fn run_pair(backend: Backend, a: Vec<String>, b: Vec<String>, test: fn(&TestServer, &NodeB)) {
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    two_nodes(backend, &a, &b, test);
}

macro_rules! on_both {
    ($name:ident, $a:expr, $b:expr, $test:ident) => {
        paste::paste! {
            #[test]
            fn [<$name _sqlite>]() {
                run_pair(Backend::Sqlite, $a, $b, $test);
            }
            #[test]
            fn [<$name _postgres>]() {
                run_pair(Backend::Postgres, $a, $b, $test);
            }
        }
    };
}

on_both!(
    search_parameter_through_a_indexes_and_searches_on_b,
    vec![],
    vec![],
    search_parameter
);
on_both!(
    consent_through_a_is_enforced_and_lifted_on_b,
    with_auth(&[]),
    with_auth(&[]),
    consent
);
on_both!(
    import_codes_on_a_maps_the_next_write_on_b,
    vec![],
    vec![],
    local_codes
);
on_both!(
    profiles_stored_through_a_are_known_to_b,
    vec!["--package".into(), jp_core()],
    vec!["--require-profile".into(), format!("Patient={JP_PATIENT}")],
    profiles
);
