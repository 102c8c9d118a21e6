//! How long a definition change committed through one server takes to be
//! honoured by another server on the same database (issue #18 item 1: the
//! target is 1 s). A benchmark, not a test: it prints figures.
//!
//! ```text
//! cargo run --release -p conformance-tests --bin definition_feed_bench
//! ```
//!
//! For each backend, nodes A and B share a fresh database; each trial PUTs
//! a new SearchParameter through A and then searches B with it until B
//! stops answering that the parameter is unknown (B learns of it through
//! its watcher: NOTIFY on PostgreSQL, a stamp poll on SQLite). Prints the
//! minimum, median, 95th percentile and maximum delay.
//!
//! Knobs: `BENCH_TRIALS` (default 30), `BENCH_BACKENDS`
//! (`sqlite,postgres`), plus the harness's `FHIR_SERVER_BIN`,
//! `FHIR_TEST_POSTGRES_URL` and `FHIR_TEST_SKIP_POSTGRES=1`. Each wait is
//! bounded (10 s).

use std::time::{Duration, Instant};

use conformance_tests::second_node::SecondNode;
use conformance_tests::{Backend, TestServer};
use serde_json::json;

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful numbers");
    }
    let trials: usize = std::env::var("BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for name in backends.split(',') {
        let backend = match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => {
                eprintln!("unknown backend {other:?}");
                std::process::exit(2);
            }
        };
        if backend.skipped() {
            continue;
        }
        let mut delays = run(backend, trials);
        delays.sort();
        let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
        println!(
            "{:<8} SearchParameter via A -> honoured by B: n={} min={:?} median={:?} p95={:?} max={:?}",
            backend.name(),
            delays.len(),
            at(0.0),
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
}

fn run(backend: Backend, trials: usize) -> Vec<Duration> {
    let a = TestServer::start_with_args(backend, &["--pool-size", "4"]);
    let b = SecondNode::start(&a, &["--pool-size", "4"]);
    let (ca, cb) = (a.client(), b.client());
    let mut out = Vec::with_capacity(trials);
    for i in 0..trials {
        let code = format!("bench{i}");
        ca.put(
            &format!("/SearchParameter/{code}"),
            &json!({"resourceType": "SearchParameter", "id": code,
                "url": format!("http://example.org/SearchParameter/{code}"),
                "name": code, "status": "active", "description": "bench",
                "code": code, "base": ["Patient"], "type": "string",
                "expression": "Patient.name.family"}),
        )
        .expect_status(201);
        let start = Instant::now();
        let query = format!("/Patient?{code}=x");
        while cb.get(&query).text().contains("ignored") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "B never honoured {code}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        out.push(start.elapsed());
    }
    out
}
