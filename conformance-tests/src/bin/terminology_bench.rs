//! Terminology benchmark over REST (a binary, not a timed test): a
//! 100,000-concept CodeSystem, a ValueSet over all of it and a 100,000-entry
//! ConceptMap are stored in a fresh server, then it prints
//! - the time of the first operation (the server indexes its terminology);
//! - `CodeSystem/$validate-code`, `ValueSet/$validate-code` and
//!   `ConceptMap/$translate` (both ways) in requests/s, with `CLIENTS`
//!   concurrent clients for `SECONDS` each, every request a different code;
//! - `ValueSet/$expand` of the whole 100,000 codes, and a filtered page.
//!
//! ```text
//! cargo run --release -p conformance-tests --bin terminology_bench
//! ```
//!
//! Knobs: `BENCH_BACKENDS` (`sqlite`), `BENCH_CLIENTS` (4),
//! `BENCH_SECONDS` (5), and the harness's `FHIR_SERVER_BIN`.

use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conformance_tests::{Backend, Client, TestServer};
use serde_json::{json, Value};

/// Concepts in the CodeSystem: a root, 100 groups and the leaf codes.
const CONCEPTS: usize = 100_000;
/// The leaf codes (what the operations and the ConceptMap use).
const LEAVES: usize = CONCEPTS - 101;
const CS_URL: &str = "http://example.org/bench/large";
const VS_URL: &str = "http://example.org/bench/vs/large";
const CM_URL: &str = "http://example.org/bench/cm/large";
const TARGET: &str = "http://example.org/bench/target";

/// 100 groups of (up to) 1,000 leaf codes under one root, 100,000
/// concepts in all, each leaf with a Japanese designation, as JSON text (built by hand: 100k `json!` values would
/// dominate the set-up time).
fn code_system() -> String {
    let mut s = format!(
        r#"{{"resourceType":"CodeSystem","id":"large","url":"{CS_URL}","status":"active","content":"complete","hierarchyMeaning":"is-a","concept":[{{"code":"root","display":"Root","concept":["#
    );
    for g in 0..CONCEPTS / 1_000 {
        if g > 0 {
            s.push(',');
        }
        let _ = write!(s, r#"{{"code":"G{g}","display":"Group {g}","concept":["#);
        for c in (0..1_000).take_while(|c| g * 1_000 + c < LEAVES) {
            if c > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"code":"C{g}-{c}","display":"Code {g} {c}","designation":[{{"language":"ja","value":"コード{g}の{c}"}}]}}"#
            );
        }
        s.push_str("]}");
    }
    s.push_str("]}]}");
    s
}

fn concept_map() -> String {
    let mut s = format!(
        r#"{{"resourceType":"ConceptMap","id":"large","url":"{CM_URL}","status":"active","group":[{{"source":"{CS_URL}","target":"{TARGET}","element":["#
    );
    for i in 0..LEAVES {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            r#"{{"code":"{}","target":[{{"code":"T{i}","equivalence":"equivalent"}}]}}"#,
            code(i)
        );
    }
    s.push_str("]}]}");
    s
}

fn code(i: usize) -> String {
    format!("C{}-{}", (i / 1_000) % 100, i % 1_000)
}

fn put_raw(client: &Client, path: &str, body: &str) {
    let value: Value = serde_json::from_str(body).expect("bench JSON");
    let r = client.put(path, &value);
    assert!(r.status < 300, "PUT {path}: {} {}", r.status, r.text());
}

/// Requests/s of `path(i)` GETs from `clients` threads for `seconds`; every
/// answer must be 200 with `result` true (or a ValueSet).
fn rate(base: &str, clients: usize, seconds: u64, path: impl Fn(usize) -> String + Sync) -> f64 {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let client = Client::new(base);
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed) * 7_919 % LEAVES;
                    let r = client.get(&path(i));
                    assert_eq!(r.status, 200, "{}: {}", path(i), r.text());
                    let body = r.json();
                    let ok = body["parameter"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == "result" && p["valueBoolean"] == true);
                    assert!(ok, "{}: {body}", path(i));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    let clients: usize = std::env::var("BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let cs = code_system();
    let cm = concept_map();
    for name in backends.split(',') {
        let backend = match name.trim() {
            "postgres" => Backend::Postgres,
            _ => Backend::Sqlite,
        };
        let server = TestServer::start(backend);
        let client = Client::new(server.base_url());
        let start = Instant::now();
        put_raw(&client, "/CodeSystem/large", &cs);
        put_raw(
            &client,
            "/ValueSet/large",
            &json!({"resourceType": "ValueSet", "id": "large", "url": VS_URL, "status": "active",
                "compose": {"include": [{"system": CS_URL}]}})
            .to_string(),
        );
        put_raw(&client, "/ConceptMap/large", &cm);
        let stored = start.elapsed();
        let start = Instant::now();
        let first = client.get(&format!(
            "/CodeSystem/$validate-code?url={CS_URL}&code=C1-1"
        ));
        assert_eq!(first.status, 200, "{}", first.text());
        let indexed = start.elapsed();

        println!(
            "terminology bench ({}, {clients} clients, {seconds} s each): {CONCEPTS} concepts \
             ({:.1} MB CodeSystem, {:.1} MB ConceptMap) stored in {stored:.2?}; first operation \
             (indexing) {indexed:.2?}",
            backend.name(),
            cs.len() as f64 / 1e6,
            cm.len() as f64 / 1e6,
        );
        let base = server.base_url().to_owned();
        let cs_rate = rate(&base, clients, seconds, |i| {
            format!("/CodeSystem/$validate-code?url={CS_URL}&code={}", code(i))
        });
        println!("  CodeSystem/$validate-code    {cs_rate:>8.0} requests/s");
        let vs_rate = rate(&base, clients, seconds, |i| {
            format!(
                "/ValueSet/$validate-code?url={VS_URL}&system={CS_URL}&code={}",
                code(i)
            )
        });
        println!("  ValueSet/$validate-code      {vs_rate:>8.0} requests/s");
        let tr_rate = rate(&base, clients, seconds, |i| {
            format!(
                "/ConceptMap/$translate?url={CM_URL}&system={CS_URL}&code={}",
                code(i)
            )
        });
        println!("  ConceptMap/$translate        {tr_rate:>8.0} requests/s");
        let rev_rate = rate(&base, clients, seconds, |i| {
            format!("/ConceptMap/$translate?url={CM_URL}&system={TARGET}&code=T{i}&reverse=true")
        });
        println!("  ConceptMap/$translate reverse {rev_rate:>7.0} requests/s");

        let start = Instant::now();
        let all = client.get(&format!("/ValueSet/$expand?url={VS_URL}"));
        let full = start.elapsed();
        assert_eq!(all.status, 200, "{}", all.text());
        let total = all.json()["expansion"]["total"].as_u64().unwrap_or(0);
        assert_eq!(total as usize, CONCEPTS);
        let start = Instant::now();
        let page = client.get(&format!(
            "/ValueSet/$expand?url={VS_URL}&filter=code%2099&offset=500&count=20"
        ));
        let paged = start.elapsed();
        assert_eq!(page.status, 200, "{}", page.text());
        println!(
            "  ValueSet/$expand             {full:>8.2?} for all {total} codes ({:.1} MB answer); \
             filtered page of 20 in {paged:.2?}",
            all.body.len() as f64 / 1e6
        );
    }
}
