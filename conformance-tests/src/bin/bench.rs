//! Benchmark (a binary, not a timed test). Build and run it in release mode:
//!
//! ```text
//! bash scripts/fetch-test-data.sh
//! cargo run --release -p conformance-tests --bin bench
//! ```
//!
//! It prints:
//! 1. JSON parse + serialize throughput of `fhir_model::Resource` over every
//!    official R4 example (`from_json_slice` then `to_json_vec`);
//! 2. HTTP create (POST) and read (GET) throughput with 1, 4 and 16 concurrent
//!    clients, on SQLite and on PostgreSQL, each configuration against a fresh
//!    server started by the harness (the release `fhir-server` binary).
//!
//! Knobs: `BENCH_REQUESTS` (per configuration and interaction, default
//! 2000), `BENCH_PARSE_PASSES` (default 3), `BENCH_BACKENDS` (`sqlite,postgres`),
//! plus the harness's `FHIR_SERVER_BIN`, `FHIR_TEST_POSTGRES_URL` and
//! `FHIR_TEST_SKIP_POSTGRES=1`. Every loop is bounded by these counts.

use std::time::{Duration, Instant};

use conformance_tests::examples_pkg::load_examples;
use conformance_tests::{location, sample_patient, Backend, Client, TestServer};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful numbers");
    }
    let package = load_examples().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    parse_bench(&package.examples);

    let requests = env_usize("BENCH_REQUESTS", 2000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!();
    println!("HTTP throughput ({requests} requests per row; latency per request)");
    println!(
        "{:<9} {:<7} {:>7} {:>10} {:>9} {:>9}",
        "backend", "op", "clients", "req/s", "p50 ms", "p99 ms"
    );
    for backend in Backend::ALL {
        if !backends.split(',').any(|b| b.trim() == backend.name()) {
            continue;
        }
        if backend.skipped() {
            println!("{:<9} skipped (FHIR_TEST_SKIP_POSTGRES=1)", backend.name());
            continue;
        }
        for clients in [1, 4, 16] {
            let server = TestServer::start(backend);
            let (ids, create) = run_creates(&server, clients, requests);
            print_row(backend, "create", clients, &create);
            let read = run_reads(&server, clients, requests, &ids);
            print_row(backend, "read", clients, &read);
        }
    }
}

/// Parse + serialize every example `passes` times; print MB/s.
fn parse_bench(examples: &[conformance_tests::examples_pkg::Example]) {
    let passes = env_usize("BENCH_PARSE_PASSES", 3).max(1);
    let total_bytes: usize = examples.iter().map(|e| e.bytes.len()).sum();
    let mut failed = 0usize;
    let mut out_bytes = 0usize;
    let mut times = Vec::new();
    for pass in 0..passes {
        let start = Instant::now();
        for ex in examples {
            match fhir_model::Resource::from_json_slice(&ex.bytes) {
                Ok(r) => {
                    let out = r.to_json_vec();
                    if pass == 0 {
                        out_bytes += out.len();
                    }
                    std::hint::black_box(out);
                }
                Err(_) if pass == 0 => failed += 1,
                Err(_) => {}
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let mb = total_bytes as f64 / 1e6;
    println!("JSON parse + serialize (fhir_model::Resource::from_json_slice + to_json_vec)");
    println!(
        "  {} examples, {:.1} MB in, {:.1} MB out, {} rejected by the parser",
        examples.len(),
        mb,
        out_bytes as f64 / 1e6,
        failed
    );
    println!(
        "  median of {passes} passes: {:.3} s per pass = {:.1} MB/s (best {:.1} MB/s)",
        median.as_secs_f64(),
        mb / median.as_secs_f64(),
        mb / times[0].as_secs_f64()
    );
}

struct Stats {
    requests: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    errors: usize,
}

fn print_row(backend: Backend, op: &str, clients: usize, s: &Stats) {
    let pct = |p: f64| {
        let i =
            ((s.latencies.len() as f64 * p).ceil() as usize).clamp(1, s.latencies.len().max(1)) - 1;
        s.latencies
            .get(i)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN)
    };
    println!(
        "{:<9} {:<7} {:>7} {:>10.0} {:>9.2} {:>9.2}{}",
        backend.name(),
        op,
        clients,
        s.requests as f64 / s.wall.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        if s.errors > 0 {
            format!("  ({} errors)", s.errors)
        } else {
            String::new()
        }
    );
}

/// Runs `per_client(client_index, count)` on `clients` threads splitting
/// `requests` between them; each returns its latencies and error count.
fn run_parallel<T: Send>(
    server: &TestServer,
    clients: usize,
    requests: usize,
    work: impl Fn(&Client, usize, usize) -> (Vec<Duration>, usize, Vec<T>) + Sync,
) -> (Stats, Vec<T>) {
    let start = Instant::now();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let n = requests / clients + usize::from(k < requests % clients);
                let c = server.client();
                let work = &work;
                s.spawn(move || work(&c, k, n))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench client panicked"))
            .collect()
    });
    let wall = start.elapsed();
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    let mut out = Vec::new();
    for (l, e, o) in results {
        latencies.extend(l);
        errors += e;
        out.extend(o);
    }
    latencies.sort();
    (
        Stats {
            requests,
            wall,
            latencies,
            errors,
        },
        out,
    )
}

fn run_creates(server: &TestServer, clients: usize, requests: usize) -> (Vec<String>, Stats) {
    let body = serde_json::to_vec(&sample_patient()).expect("serialize");
    let (stats, ids) = run_parallel(server, clients, requests, |c, _, n| {
        let mut lat = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut errors = 0;
        for _ in 0..n {
            let t = Instant::now();
            let resp = c.try_request(
                "POST",
                "/Patient",
                Some(conformance_tests::FHIR_JSON),
                &body,
            );
            lat.push(t.elapsed());
            match resp {
                Ok(r) if r.status == 201 => ids.push(location(&r).id),
                _ => errors += 1,
            }
        }
        (lat, errors, ids)
    });
    (ids, stats)
}

fn run_reads(server: &TestServer, clients: usize, requests: usize, ids: &[String]) -> Stats {
    assert!(
        !ids.is_empty(),
        "no resources were created, nothing to read"
    );
    run_parallel::<()>(server, clients, requests, |c, k, n| {
        let mut lat = Vec::with_capacity(n);
        let mut errors = 0;
        for i in 0..n {
            let id = &ids[(k * 7919 + i) % ids.len()];
            let t = Instant::now();
            let resp = c.try_get(&format!("/Patient/{id}"));
            lat.push(t.elapsed());
            if !matches!(resp, Ok(ref r) if r.status == 200) {
                errors += 1;
            }
        }
        (lat, errors, Vec::new())
    })
    .0
}
