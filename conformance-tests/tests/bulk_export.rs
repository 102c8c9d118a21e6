//! Bulk Data `$export` (Bulk Data Access IG 2.0.0, export.html), black
//! box on both backends: the kick-off on the three endpoints, the status
//! URL, the manifest, every NDJSON line, the parameters, Group scoping,
//! cancellation and the 400s (issue #21).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use conformance_tests::nodes::Cluster;
use conformance_tests::smart::{run_with_auth, Token};
use conformance_tests::{
    assert_outcome, backend_tests, both_backends, put_resource, Backend, Client, Response,
};
use serde_json::{json, Value};

const ASYNC: (&str, &str) = ("Prefer", "respond-async");

fn get(c: &Client, path: &str, headers: &[(&str, &str)]) -> Response {
    c.try_request_with("GET", path, None, &[], headers)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Three patients with an Observation and a Condition each, an
/// Organization nobody's compartment holds, and a Group of p1 and p2.
fn load(c: &Client) {
    for p in ["p1", "p2", "p3"] {
        put_resource(
            c,
            json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]}),
        );
        put_resource(
            c,
            json!({"resourceType": "Observation", "id": format!("o-{p}"), "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": format!("Patient/{p}")}}),
        );
        put_resource(
            c,
            json!({"resourceType": "Condition", "id": format!("c-{p}"),
            "subject": {"reference": format!("Patient/{p}")}}),
        );
    }
    put_resource(
        c,
        json!({"resourceType": "Observation", "id": "o-p1-bp", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/p1"}}),
    );
    put_resource(
        c,
        json!({"resourceType": "Organization", "id": "org1", "name": "Clinic"}),
    );
    put_resource(
        c,
        json!({"resourceType": "Group", "id": "g1", "type": "person", "actual": true,
        "member": [{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Patient/p2"}}]}),
    );
}

/// Kicks off `path`, checks the 202, and returns the status URL.
fn kick_off(c: &Client, path: &str) -> String {
    let r = get(c, path, &[ASYNC]);
    assert_eq!(r.status, 202, "{path}: {}", r.text());
    r.header("content-location")
        .unwrap_or_else(|| panic!("{path}: no Content-Location"))
        .to_owned()
}

/// Polls the status URL until the manifest (checking each 202's headers).
fn manifest(c: &Client, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = get(c, status, &[]);
        match r.status {
            200 => return r.json(),
            202 => {
                assert!(r.header("x-progress").is_some(), "202 without X-Progress");
                assert!(r.header("retry-after").is_some(), "202 without Retry-After");
            }
            s => panic!("status {s}: {}", r.text()),
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the export never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every file of the manifest, read and checked line by line: type →
/// ids. Each line parses, has the file's type, and the count matches.
fn files(c: &Client, m: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for o in m["output"].as_array().expect("output") {
        let t = o["type"].as_str().expect("type").to_owned();
        let r = get(c, o["url"].as_str().expect("url"), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/fhir+ndjson"));
        let mut ids = BTreeSet::new();
        for line in r.text().lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["resourceType"], t.as_str(), "{line}");
            assert!(
                ids.insert(v["id"].as_str().expect("id").to_owned()),
                "{line} twice"
            );
        }
        assert_eq!(o["count"], ids.len(), "{t}: count");
        assert!(out.insert(t.clone(), ids).is_none(), "{t}: two files");
    }
    out
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn count(c: &Client, query: &str) -> u64 {
    let r = c.get(&format!("{query}&_summary=count"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["total"].as_u64().expect("total")
}

backend_tests! {
    /// A system export: the manifest's fields, every line of every file,
    /// each type's count equal to the server's `_summary=count`.
    fn system_export_matches_the_store(server) {
        let c = server.client();
        load(&c);
        let status = kick_off(&c, "/$export");
        let m = manifest(&c, &status);
        assert!(m["transactionTime"].as_str().is_some_and(|t| t.contains('T')), "{m}");
        assert!(m["request"].as_str().is_some_and(|r| r.ends_with("/$export")), "{m}");
        assert_eq!(m["requiresAccessToken"], false);
        assert_eq!(m["error"], json!([]));
        let got = files(&c, &m);
        for (t, ids) in &got {
            assert_eq!(ids.len() as u64, count(&c, &format!("/{t}?")), "{t}");
        }
        for t in ["Patient", "Observation", "Condition", "Organization", "Group"] {
            assert!(got.contains_key(t), "{t} missing: {got:?}");
        }
        assert_eq!(got["Observation"].len(), 4);
        // The capability statement names the operation.
        let cs = c.get("/metadata").json();
        assert!(cs["rest"][0]["operation"].as_array().into_iter().flatten()
            .any(|o| o["name"] == "export"), "{cs}");
    }

    /// `_type`, `_since` and `_typeFilter` narrow the export exactly as
    /// the search engine would.
    fn parameters_narrow_the_export(server) {
        let c = server.client();
        load(&c);
        let m = manifest(&c, &kick_off(&c, "/$export?_type=Observation,Patient&_outputFormat=application/fhir%2Bndjson"));
        let got = files(&c, &m);
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ["Observation", "Patient"]);

        std::thread::sleep(Duration::from_millis(20));
        put_resource(&c, json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "changed"}]}));
        let later = c.get("/Patient/p2").json()["meta"]["lastUpdated"].as_str().expect("lu").to_owned();
        let m = manifest(&c, &kick_off(&c, &format!("/$export?_type=Patient&_since={}", later.replace('+', "%2B"))));
        assert_eq!(files(&c, &m)["Patient"], ids(&["p2"]));

        let filter = "Observation%3Fcode%3Dhttp%3A%2F%2Floinc.org%7C85354-9";
        let m = manifest(&c, &kick_off(&c, &format!("/$export?_type=Observation&_typeFilter={filter}")));
        assert_eq!(files(&c, &m)["Observation"], ids(&["o-p1-bp"]));
        // Two filters of one type are OR-ed, each resource written once.
        let m = manifest(&c, &kick_off(&c, &format!(
            "/$export?_type=Observation&_typeFilter={filter}&_typeFilter=Observation%3Fsubject%3DPatient%2Fp1")));
        assert_eq!(files(&c, &m)["Observation"], ids(&["o-p1", "o-p1-bp"]));
    }

    /// Patient and Group exports hold the members' compartments (the
    /// Patients included) and nothing else; an unknown Group is a 404.
    fn group_and_patient_exports_are_compartments(server) {
        let c = server.client();
        load(&c);
        let g = files(&c, &manifest(&c, &kick_off(&c, "/Group/g1/$export")));
        assert_eq!(g["Patient"], ids(&["p1", "p2"]));
        assert_eq!(g["Observation"], ids(&["o-p1", "o-p1-bp", "o-p2"]));
        assert_eq!(g["Condition"], ids(&["c-p1", "c-p2"]));
        assert!(!g.contains_key("Organization"), "{g:?}");
        let p = files(&c, &manifest(&c, &kick_off(&c, "/Patient/$export?_type=Patient,Condition")));
        assert_eq!(p["Patient"], ids(&["p1", "p2", "p3"]));
        assert_eq!(p["Condition"], ids(&["c-p1", "c-p2", "c-p3"]));
        assert_outcome(&get(&c, "/Group/nope/$export", &[ASYNC]), 404, &["not-found"], None);
        // A type outside the Patient compartment cannot be asked for.
        assert_outcome(&get(&c, "/Patient/$export?_type=Organization", &[ASYNC]), 400, &["value"], None);
    }

    /// DELETE on the status URL: 202, then the job and its files are gone.
    fn cancel_removes_the_job_and_its_files(server) {
        let c = server.client();
        load(&c);
        let status = kick_off(&c, "/$export?_type=Patient");
        let m = manifest(&c, &status);
        let file = m["output"][0]["url"].as_str().expect("url").to_owned();
        assert_eq!(get(&c, &file, &[]).status, 200);
        let r = c.delete(&status);
        assert_eq!(r.status, 202, "{}", r.text());
        assert_outcome(&get(&c, &status, &[]), 404, &["not-found"], None);
        assert_outcome(&get(&c, &file, &[]), 404, &["not-found"], None);
        // Cancelled right after the kick-off, whether it ran yet or not.
        let status = kick_off(&c, "/$export");
        assert_eq!(c.delete(&status).status, 202);
        assert_outcome(&get(&c, &status, &[]), 404, &["not-found"], None);
    }

    /// What the server cannot do as asked is a 400 with an
    /// OperationOutcome, not a job.
    fn bad_kick_offs_are_400(server) {
        let c = server.client();
        load(&c);
        let r = get(&c, "/$export", &[]);
        assert_outcome(&r, 400, &["invalid"], None);
        for q in [
            "_outputFormat=text/csv",
            "_type=Nonsense",
            "_since=yesterday",
            "_typeFilter=Observation%3Fbogus%3D1",
            "_typeFilter=Observation",
            "_typeFilter=Condition%3Fcode%3Dx&_type=Patient",
            "unknown=1",
            "_elements=id",
        ] {
            let r = get(&c, &format!("/$export?{q}"), &[ASYNC]);
            assert_eq!(r.status, 400, "{q}: {}", r.text());
            assert_outcome(&r, 400, &["invalid", "value", "not-supported"], None);
        }
        // Prefer: handling=lenient lets unsupported parameters pass.
        let r = get(&c, "/$export?_type=Patient&_elements=id", &[("Prefer", "respond-async, handling=lenient")]);
        assert_eq!(r.status, 202, "{}", r.text());
        // POST with Parameters is the same kick-off.
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "_type", "valueString": "Condition"}]});
        let r = c.post_with("/$export", &body, &[ASYNC]);
        assert_eq!(r.status, 202, "{}", r.text());
        let status = r.header("content-location").expect("location").to_owned();
        let got = files(&c, &manifest(&c, &status));
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ["Condition"]);
    }
}

/// With authorization on: the token's scopes limit the exported types, a
/// token bounded to a patient cannot export, and the status and files
/// answer only the client that kicked the export off.
fn scopes_limit_the_export_and_files_need_the_token(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = server
            .client()
            .with_bearer(&Token::new("system/*.*").mint());
        load(&admin);
        let obs = server.client().with_bearer(
            &Token {
                subject: "analytics",
                ..Token::new("system/Observation.rs")
            }
            .mint(),
        );
        let status = kick_off(&obs, "/$export");
        let m = manifest(&obs, &status);
        assert_eq!(m["requiresAccessToken"], true);
        let got = files(&obs, &m);
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ["Observation"]);
        assert_eq!(got["Observation"].len(), 4);
        let file = m["output"][0]["url"].as_str().expect("url").to_owned();
        // No token: 401; another client's token: 404, as for no job at all.
        assert_eq!(get(&server.client(), &file, &[]).status, 401);
        assert_outcome(&get(&admin, &file, &[]), 404, &["not-found"], None);
        assert_outcome(&get(&admin, &status, &[]), 404, &["not-found"], None);
        assert_eq!(admin.delete(&status).status, 404);
        // A type the token cannot search whole is refused, not dropped.
        let r = get(&obs, "/$export?_type=Patient", &[ASYNC]);
        assert_outcome(&r, 400, &["value"], None);
        // A token bounded to one patient cannot export.
        let patient = server.client().with_bearer(
            &Token {
                patient: Some("p1"),
                ..Token::new("patient/*.rs")
            }
            .mint(),
        );
        assert_outcome(
            &get(&patient, "/$export", &[ASYNC]),
            403,
            &["forbidden"],
            None,
        );
        // Exports do not apply Consent yet: a client acting for an
        // Organization (which a Consent may deny) is refused.
        let org = server.client().with_bearer(
            &Token {
                organization: Some("Organization/B"),
                ..Token::new("system/*.rs")
            }
            .mint(),
        );
        assert_outcome(&get(&org, "/$export", &[ASYNC]), 403, &["forbidden"], None);
        assert_outcome(
            &get(&patient, "/Group/g1/$export", &[ASYNC]),
            403,
            &["forbidden"],
            None,
        );
    });
}

both_backends!(scopes_limit_the_export_and_files_need_the_token);

/// A node killed (SIGKILL) while it runs an export: another node takes
/// the job over once the lease has run out, and the manifest is complete;
/// the status never stays 202.
fn a_killed_nodes_job_is_finished_by_another(backend: Backend) {
    if backend.skipped() {
        eprintln!("skipped: FHIR_TEST_SKIP_POSTGRES=1");
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "fhir-bulk-{}",
        conformance_tests::server::unique_suffix()
    ));
    let dir = dir.display().to_string();
    let args = ["--bulk-dir", dir.as_str(), "--bulk-lease-secs", "2"];
    let mut cluster = Cluster::new(backend);
    let first = cluster.spawn(&args);
    cluster.wait_ready(first).expect("first node");
    let c = cluster.node(first).client();
    load(&c);
    let entries: Vec<Value> = (0..600)
        .map(|i| {
            json!({"resource": {"resourceType": "Observation", "id": format!("bulk-{i}"),
            "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}},
            "request": {"method": "PUT", "url": format!("Observation/bulk-{i}")}})
        })
        .collect();
    let r = c.post(
        "",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let status = kick_off(&c, "/$export");
    // Kill it once it runs (or has run) the job.
    let start = Instant::now();
    loop {
        let r = get(&c, &status, &[]);
        if r.status == 200 || r.header("x-progress").is_some_and(|p| p != "queued") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = cluster.node(first).pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let second = cluster.spawn(&args);
    cluster.wait_ready(second).expect("second node");
    let c2 = cluster.node(second).client();
    let path = status
        .split("/fhir")
        .nth(1)
        .expect("status path")
        .to_owned();
    let m = manifest(&c2, &path);
    // The file URLs are on the kick-off's base (one address in front of
    // all nodes in production; here the dead node's): read them from the
    // second node.
    let first_base = cluster.node(first).base_url().to_owned();
    let m: Value =
        serde_json::from_str(&m.to_string().replace(&first_base, c2.base())).expect("manifest");
    let got = files(&c2, &m);
    assert_eq!(got["Observation"].len(), 604);
    assert_eq!(got["Patient"].len(), 3);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

both_backends!(a_killed_nodes_job_is_finished_by_another);
