//! Every official R4 example (npm `hl7.fhir.r4.examples@4.0.1`) PUT to
//! `/fhir/{resourceType}/{id}` and read back must be JSON-equal to the file,
//! apart from `meta.versionId` and `meta.lastUpdated` (issue 3, "Done when").
//!
//! Examples that cannot pass are listed, with the reason, in
//! `known-failures/r4-examples.txt`. The test fails on any failure not listed
//! there and on any listed example that now passes, so the list stays true.
//! The package is read from the cache filled by `scripts/fetch-test-data.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;

use conformance_tests::examples_pkg::{
    first_difference, known_failures, load_examples, strip_server_meta, Example,
};
use conformance_tests::{Backend, Client, TestServer, FHIR_JSON};
use serde_json::Value;

/// Client threads; the server does the work, so a few keep it busy on two cores.
fn threads() -> usize {
    std::env::var("FHIR_TEST_CLIENT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// PUTs one example and reads it back; `Err` says what went wrong.
fn round_trip(c: &Client, ex: &Example) -> Result<(), String> {
    let path = format!("/{}/{}", ex.resource_type, ex.id);
    let put = c
        .try_request("PUT", &path, Some(FHIR_JSON), &ex.bytes)
        .map_err(|e| format!("PUT: {e}"))?;
    if !matches!(put.status, 200 | 201) {
        return Err(format!(
            "PUT answered {}: {}",
            put.status,
            outcome_text(&put.body)
        ));
    }
    let get = c.try_get(&path).map_err(|e| format!("GET: {e}"))?;
    if get.status != 200 {
        return Err(format!(
            "GET answered {}: {}",
            get.status,
            outcome_text(&get.body)
        ));
    }
    let mut actual: Value =
        serde_json::from_slice(&get.body).map_err(|e| format!("GET body is not JSON: {e}"))?;
    let mut expected: Value =
        serde_json::from_slice(&ex.bytes).map_err(|e| format!("file is not JSON: {e}"))?;
    strip_server_meta(&mut actual);
    strip_server_meta(&mut expected);
    match first_difference(&expected, &actual) {
        None => Ok(()),
        Some(d) => Err(format!("read back differs at {d}")),
    }
}

/// The diagnostics of an OperationOutcome, or the start of the body.
fn outcome_text(body: &[u8]) -> String {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let issues = v["issue"].as_array()?;
            Some(
                issues
                    .iter()
                    .map(|i| {
                        let expr = i["expression"][0].as_str().unwrap_or("");
                        let diag = i["diagnostics"]
                            .as_str()
                            .or(i["details"]["text"].as_str())
                            .unwrap_or("");
                        format!("{} {expr} {diag}", i["code"].as_str().unwrap_or(""))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let one_line = text.replace(['\n', '\t'], " ");
    one_line.chars().take(300).collect()
}

fn run(backend: Backend) {
    if backend.skipped() {
        eprintln!("skipped: FHIR_TEST_SKIP_POSTGRES=1");
        return;
    }
    let package = load_examples().unwrap_or_else(|e| panic!("{e}"));
    let known = known_failures();
    // The largest examples (Bundle-resources.json, 35 MB) are over the
    // server's default body limit; this test is about round-tripping, so the
    // limit is raised to fit the package (the limit has its own test).
    let largest = package
        .examples
        .iter()
        .map(|e| e.bytes.len())
        .max()
        .unwrap_or(0);
    let limit = (largest + (1 << 20)).to_string();
    let server = TestServer::start_with_args(backend, &["--max-body-bytes", &limit]);

    // Examples that share a type and id (ImplementationGuide/fhir is shipped
    // twice) must go through one thread in package order, or one PUT could
    // land between the other's PUT and GET.
    let n = threads().max(1);
    let mut buckets: Vec<Vec<&Example>> = vec![Vec::new(); n];
    for ex in &package.examples {
        let mut h = DefaultHasher::new();
        (&ex.resource_type, &ex.id).hash(&mut h);
        buckets[(h.finish() % n as u64) as usize].push(ex);
    }
    let results: BTreeMap<String, Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = buckets
            .iter()
            .map(|bucket| {
                let c = server.client();
                s.spawn(move || {
                    bucket
                        .iter()
                        .map(|ex| (ex.file.clone(), round_trip(&c, ex)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread panicked"))
            .collect()
    });

    let failures: BTreeMap<&str, &str> = results
        .iter()
        .filter_map(|(f, r)| r.as_ref().err().map(|e| (f.as_str(), e.as_str())))
        .collect();
    let passed = results.len() - failures.len();
    let unexpected: Vec<(&str, &str)> = failures
        .iter()
        .filter(|(f, _)| !known.contains_key(**f))
        .map(|(f, e)| (*f, *e))
        .collect();
    let now_pass: Vec<&str> = known
        .keys()
        .filter(|f| matches!(results.get(*f), Some(Ok(()))))
        .map(String::as_str)
        .collect();
    let files: BTreeSet<&str> = package.examples.iter().map(|e| e.file.as_str()).collect();
    let stale: Vec<&str> = known
        .keys()
        .map(String::as_str)
        .filter(|f| !files.contains(f))
        .collect();

    // The whole failure list, in the known-failures format, for whoever
    // updates that file.
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("r4-examples-failures-{}.txt", backend.name()));
    if let Ok(mut f) = std::fs::File::create(&out) {
        for (file, reason) in &failures {
            let _ = writeln!(f, "{file}\t{reason}");
        }
    }

    // Written to the stderr handle, not through `eprintln!`, so that the
    // counts show even when the test passes and libtest captures output.
    let _ = writeln!(
        std::io::stderr(),
        "r4 examples on {}: {} resources, {} passed, {} known failures, {} unexpected failures, \
         {} known failures now pass; skipped non-resource files: {:?}",
        backend.name(),
        results.len(),
        passed,
        failures.len() - unexpected.len(),
        unexpected.len(),
        now_pass.len(),
        package.skipped
    );
    let mut report = String::new();
    for (file, reason) in unexpected.iter().take(40) {
        report.push_str(&format!("  FAIL {file}: {reason}\n"));
    }
    if unexpected.len() > 40 {
        report.push_str(&format!("  … and {} more\n", unexpected.len() - 40));
    }
    for file in &now_pass {
        report.push_str(&format!(
            "  NOW PASSES (remove it from known-failures/r4-examples.txt) {file}\n"
        ));
    }
    for file in &stale {
        report.push_str(&format!(
            "  NOT IN THE PACKAGE (remove it from known-failures/r4-examples.txt) {file}\n"
        ));
    }
    assert!(
        unexpected.is_empty() && now_pass.is_empty() && stale.is_empty(),
        "r4 examples on {}: {} unexpected failures, {} known failures now pass, {} stale entries \
         (every failure is in {})\n{report}",
        backend.name(),
        unexpected.len(),
        now_pass.len(),
        stale.len(),
        out.display()
    );
}

#[test]
fn r4_examples_round_trip_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn r4_examples_round_trip_postgres() {
    run(Backend::Postgres);
}
