//! Search differential test (issue 6, "Done when"): for every token,
//! string, reference, date and uri SearchParameter of the R4 core package
//! that has values in the official examples, the server's results over the
//! loaded examples equal the results worked out independently by
//! `search-diff/expected.js`, which evaluates the parameter's expression
//! with the HL7 reference engine (npm `fhirpath`, R4 model) and applies
//! the matching rules of search.html itself (see the script's header).
//!
//! One server is started and every official example PUT into it (the
//! known round-trip failures are left out). The script picks up to
//! [`MAX_VALUES`] distinct values per parameter and resource type (the most
//! common one, then a deterministic spread) and the ids each must match;
//! each becomes `GET /fhir/{type}?{code}={value}&_count=1000&_elements=id`,
//! following `next` links, and the id sets are compared. Each parameter
//! that disagrees must be explained in `search-diff/known-differences.txt`;
//! an explained one that now agrees fails too, so the list stays true.
//!
//! The examples, node or the npm package missing is a failure under
//! `CI=true`, a loud skip elsewhere ([`tools::require_tool`]).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use conformance_tests::examples_pkg::{self, known_failures, Example};
use conformance_tests::{search_params, tools, Backend, Client, TestServer, FHIR_JSON};
use serde_json::Value;

/// Search values tried per parameter and resource type.
const MAX_VALUES: usize = 3;

/// The parameter types compared here.
const KINDS: &[&str] = &["token", "string", "reference", "date", "uri"];

/// Parameters left out, with the reason.
const LEFT_OUT: &[(&str, &str)] = &[(
    "Resource-lastUpdated",
    "meta.lastUpdated is set by the server on every write, so the examples' values are not what is stored",
)];

fn threads() -> usize {
    std::env::var("FHIR_TEST_CLIENT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// Percent-encodes a query value (everything but the unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// PUTs the examples (same type and id through one thread, in package
/// order, so the last one wins as it would in sequence); returns the
/// examples the server took, one per type and id.
fn load<'a>(server: &TestServer, examples: &'a [Example]) -> Vec<&'a Example> {
    let known = known_failures();
    let n = threads().max(1);
    let mut buckets: Vec<Vec<(usize, &Example)>> = vec![Vec::new(); n];
    for (i, ex) in examples.iter().enumerate() {
        if known.contains_key(&ex.file) {
            continue;
        }
        let mut h = DefaultHasher::new();
        (&ex.resource_type, &ex.id).hash(&mut h);
        buckets[(h.finish() % n as u64) as usize].push((i, ex));
    }
    let stored: Vec<(usize, &Example)> = std::thread::scope(|s| {
        let handles: Vec<_> = buckets
            .iter()
            .map(|bucket| {
                let c = server.client();
                s.spawn(move || {
                    let mut ok = Vec::new();
                    for &(i, ex) in bucket {
                        let path = format!("/{}/{}", ex.resource_type, ex.id);
                        let t = Instant::now();
                        let put = c.try_request("PUT", &path, Some(FHIR_JSON), &ex.bytes);
                        let took = t.elapsed();
                        if took.as_secs() >= 5 {
                            eprintln!("PUT {path} took {took:.1?}");
                        }
                        match put {
                            Ok(r) if matches!(r.status, 200 | 201) => ok.push((i, ex)),
                            Ok(r) => eprintln!("PUT {path} answered {}: left out", r.status),
                            Err(e) => eprintln!("PUT {path}: {e}: left out"),
                        }
                    }
                    ok
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("loading thread panicked"))
            .collect()
    });
    // The last stored version of each type and id.
    let mut last: BTreeMap<(&str, &str), (usize, &Example)> = BTreeMap::new();
    for (i, ex) in stored {
        let key = (ex.resource_type.as_str(), ex.id.as_str());
        if last.get(&key).is_none_or(|(j, _)| *j < i) {
            last.insert(key, (i, ex));
        }
    }
    let mut out: Vec<(usize, &Example)> = last.into_values().collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, ex)| ex).collect()
}

/// Every id the search answers, following `next` links.
fn search_ids(c: &Client, first: &str) -> Result<BTreeSet<String>, String> {
    let mut ids = BTreeSet::new();
    let mut url = first.to_owned();
    for _ in 0..100 {
        let resp = c.try_get(&url)?;
        if resp.status != 200 {
            let text = resp.text();
            return Err(format!(
                "HTTP {}: {}",
                resp.status,
                text.chars().take(300).collect::<String>()
            ));
        }
        let body: Value = serde_json::from_slice(&resp.body).map_err(|e| e.to_string())?;
        for e in body["entry"].as_array().into_iter().flatten() {
            if e["search"]["mode"].as_str().is_some_and(|m| m != "match") {
                continue;
            }
            if let Some(id) = e["resource"]["id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        let next = body["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str());
        match next {
            Some(n) => url = n.to_owned(),
            None => return Ok(ids),
        }
    }
    Err("more than 100 pages".into())
}

struct Query {
    sp: String,
    code: String,
    resource_type: String,
    value: String,
    expected: BTreeSet<String>,
}

fn run(backend: Backend) {
    let started = Instant::now();
    let Some(pkg) = tools::require_tool("the official R4 examples", examples_pkg::load_examples())
    else {
        return;
    };
    let Some(js_engine) = tools::require_tool(
        "node with npm fhirpath",
        tools::node_modules("fhirpath-js", "fhirpath"),
    ) else {
        return;
    };
    if backend.skipped() {
        eprintln!("skipped: FHIR_TEST_SKIP_POSTGRES=1");
        return;
    }
    let (_, params) = search_params::load().expect("core search parameters");
    let params: Vec<_> = params
        .into_iter()
        .filter(|p| KINDS.contains(&p.kind.as_str()))
        .filter(|p| !LEFT_OUT.iter().any(|(id, _)| *id == p.id))
        .collect();

    let largest = pkg
        .examples
        .iter()
        .map(|e| e.bytes.len())
        .max()
        .unwrap_or(0);
    let limit = (largest + (1 << 20)).to_string();
    let server = TestServer::start_with_args(backend, &["--max-body-bytes", &limit]);
    let stored = load(&server, &pkg.examples);
    let loaded_at = started.elapsed();

    // The job for expected.js.
    let dir = std::env::temp_dir().join(format!(
        "search-diff-{}-{}",
        backend.name(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let job_path = dir.join("job.json");
    let out_path = dir.join("expected.json");
    {
        let mut job = std::io::BufWriter::new(std::fs::File::create(&job_path).expect("job"));
        let params_json: Vec<Value> = params
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "code": p.code, "type": p.kind,
                    "expr": p.expression, "base": p.base,
                })
            })
            .collect();
        write!(
            job,
            "{{\"maxValues\":{MAX_VALUES},\"params\":{},\"resources\":[",
            Value::Array(params_json)
        )
        .expect("write job");
        for (i, ex) in stored.iter().enumerate() {
            if i > 0 {
                job.write_all(b",").expect("write job");
            }
            job.write_all(&ex.bytes).expect("write job");
        }
        job.write_all(b"]}").expect("write job");
        job.flush().expect("write job");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("search-diff/expected.js");
    let status = Command::new("node")
        .arg("--max-old-space-size=4096")
        .arg(&script)
        .arg(&job_path)
        .arg(&out_path)
        .env("NODE_PATH", &js_engine)
        .status()
        .expect("run node");
    assert!(status.success(), "expected.js failed");
    let _ = std::fs::remove_file(&job_path);
    let out: Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("out")).expect("out json");
    let computed_at = started.elapsed();

    let queries: Vec<Query> = out["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .map(|q| Query {
            sp: q["sp"].as_str().unwrap_or_default().to_owned(),
            code: q["code"].as_str().unwrap_or_default().to_owned(),
            resource_type: q["resourceType"].as_str().unwrap_or_default().to_owned(),
            value: q["value"].as_str().unwrap_or_default().to_owned(),
            expected: q["expected"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        })
        .collect();

    // Run them, a few at a time.
    let n = threads().max(1);
    let results: Vec<(usize, Result<BTreeSet<String>, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|t| {
                let c = server.client();
                let queries = &queries;
                s.spawn(move || {
                    (t..queries.len())
                        .step_by(n)
                        .map(|i| {
                            let q = &queries[i];
                            let url = format!(
                                "/{}?{}={}&_count=1000&_elements=id",
                                q.resource_type,
                                q.code,
                                encode(&q.value)
                            );
                            (i, search_ids(&c, &url))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("query thread panicked"))
            .collect()
    });

    // Disagreements by search parameter.
    let mut by_sp: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut agree = 0usize;
    let mut report = Vec::new();
    for (i, got) in &results {
        let q = &queries[*i];
        let detail = match got {
            Ok(ids) if *ids == q.expected => {
                agree += 1;
                continue;
            }
            Ok(ids) => {
                let missing: Vec<_> = q.expected.difference(ids).collect();
                let extra: Vec<_> = ids.difference(&q.expected).collect();
                format!(
                    "{} expected, {} answered; missing {:?}; extra {:?}",
                    q.expected.len(),
                    ids.len(),
                    missing.iter().take(5).collect::<Vec<_>>(),
                    extra.iter().take(5).collect::<Vec<_>>()
                )
            }
            Err(e) => format!("error: {e}"),
        };
        let line = format!(
            "{} {}?{}={}: {detail}",
            q.sp, q.resource_type, q.code, q.value
        );
        report.push(serde_json::json!({
            "sp": q.sp, "resourceType": q.resource_type, "code": q.code,
            "value": q.value, "detail": detail,
            "expected": q.expected,
            "answered": got.as_ref().ok(),
        }));
        by_sp.entry(q.sp.as_str()).or_default().push(line);
    }
    let report_path = dir.join("disagreements.json");
    let _ = std::fs::write(
        &report_path,
        serde_json::to_vec_pretty(&Value::Array(report)).unwrap_or_default(),
    );

    let known_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("search-diff/known-differences.txt"),
    )
    .unwrap_or_default();
    let known: BTreeSet<&str> = known_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':').map(|(id, _)| id.trim()))
        .collect();

    let checked: BTreeSet<&str> = queries.iter().map(|q| q.sp.as_str()).collect();
    let skipped = out["skipped"].as_array().cloned().unwrap_or_default();
    for s in &skipped {
        println!(
            "not compared: {} on {}: {}",
            s["sp"].as_str().unwrap_or_default(),
            s["resourceType"].as_str().unwrap_or_default(),
            s["reason"].as_str().unwrap_or_default()
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "search differential on {}: {} resources loaded; {} token/string/reference/date/uri \
         parameters with an expression, {} with values checked; {} queries, {} agree, {} disagree \
         in {} parameters ({} explained); {} parameter×type pairs not compared (fhirpath.js \
         fails); {} fhirpath.js evaluations; load {:.0?}, expected {:.0?}, total {:.0?}; \
         disagreements in full: {}",
        backend.name(),
        stored.len(),
        params.len(),
        checked.len(),
        queries.len(),
        agree,
        queries.len() - agree,
        by_sp.len(),
        by_sp.keys().filter(|k| known.contains(*k)).count(),
        skipped.len(),
        out["evaluations"],
        loaded_at,
        computed_at - loaded_at,
        started.elapsed(),
        report_path.display()
    );

    let mut unexplained = Vec::new();
    for (sp, lines) in &by_sp {
        if !known.contains(sp) {
            unexplained.push(format!("{} ({} queries)", lines[0], lines.len()));
        }
        for l in lines {
            println!("DIFFERS {l}");
        }
    }
    let stale: Vec<_> = known.iter().filter(|k| !by_sp.contains_key(**k)).collect();
    for u in &unexplained {
        let _ = writeln!(std::io::stderr(), "UNEXPLAINED {u}");
    }
    for s in &stale {
        let _ = writeln!(
            std::io::stderr(),
            "NOW AGREES (remove from search-diff/known-differences.txt) {s}"
        );
    }
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{} unexplained, {} stale",
        unexplained.len(),
        stale.len()
    );
}

#[test]
fn search_agrees_with_the_reference_engine_sqlite() {
    run(Backend::Sqlite);
}

/// The same on PostgreSQL. Loading the examples dominates the run (several
/// minutes in a debug build on two cores), so it is run on request:
/// `cargo test -p conformance-tests --test search_differential -- --ignored`.
#[test]
#[ignore = "loads every example a second time; run with --ignored"]
fn search_agrees_with_the_reference_engine_postgres() {
    run(Backend::Postgres);
}
