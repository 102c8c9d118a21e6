//! Search benchmark on the 120-patient Synthea set (a binary, not a timed
//! test). Build and run it in release mode:
//!
//! ```text
//! cargo run --release -p conformance-tests --bin search_bench
//! ```
//!
//! For each backend it starts a fresh server (the release `fhir-server`
//! binary, through the test harness), loads `../shared/data/synthea-120`
//! with `fhir-server import` (the same code path as `POST /fhir`, without
//! HTTP; its own timing is printed as the ingest rate), then runs each
//! query shape and prints:
//! - `count ms`: the median time of `_summary=count` over 5 runs;
//! - `matches` and `download/s`: every page of the full result
//!   (`_count=1000`, following `next` links), in resources per second
//!   (included resources count too).
//!
//! Knobs: `BENCH_BACKENDS` (`sqlite,postgres`), `SYNTHEA_DIR`, and the
//! harness's `FHIR_SERVER_BIN`, `FHIR_TEST_POSTGRES_URL`,
//! `FHIR_TEST_SKIP_POSTGRES=1`.

use std::process::Command;
use std::time::Instant;

use conformance_tests::server::server_binary;
use conformance_tests::{Backend, Client, TestServer};

/// The query shapes of issue #6, as (label, query). `{patient}` is
/// replaced by a patient id found after loading.
const SHAPES: &[(&str, &str)] = &[
    ("single code", "/Observation?code=http://loinc.org|8867-4"),
    (
        "10 codes",
        "/Observation?code=http://loinc.org|29463-7,http://loinc.org|85354-9,\
         http://loinc.org|8867-4,http://loinc.org|9279-1,http://loinc.org|8302-2,\
         http://loinc.org|72514-3,http://loinc.org|39156-5,http://loinc.org|72166-2,\
         http://loinc.org|2708-6,http://loinc.org|718-7",
    ),
    (
        "code+date",
        "/Observation?code=http://loinc.org|8867-4&date=ge2015-01-01&date=lt2019-01-01",
    ),
    (
        "code+patient",
        "/Observation?code=http://loinc.org|8867-4&patient=Patient/{patient}",
    ),
    (
        "category+date",
        "/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&date=ge2018-01-01",
    ),
    // Every page of a large result (issue #27: each page cost more than
    // the one before).
    (
        "category (all)",
        "/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
    ),
    ("chain patient.gender", "/Observation?patient.gender=female&code=http://loinc.org|8867-4"),
    ("_has", "/Patient?_has:Observation:patient:code=http://loinc.org|718-7"),
    (
        "_include",
        "/Observation?code=http://loinc.org|718-7&_include=Observation:patient",
    ),
    // Full text (issue #6): a word, an OR, a phrase in the narrative, and
    // a word next to a selective parameter.
    ("_content word", "/Condition?_content=diabetes"),
    ("_content OR", "/Condition?_content=diabetes%20OR%20hypertension"),
    ("_text phrase", "/Observation?_text=%22body%20mass%20index%22"),
    (
        "_content+patient",
        "/Observation?patient=Patient/{patient}&_content=glucose",
    ),
];

fn encode(q: &str) -> String {
    q.replace('|', "%7C")
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful numbers");
    }
    let dir = conformance_tests::synthea::data_dir();
    if !dir.is_dir() {
        eprintln!("{} is missing", dir.display());
        std::process::exit(2);
    }
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in Backend::ALL {
        if !backends.split(',').any(|b| b.trim() == backend.name()) {
            continue;
        }
        if backend.skipped() {
            println!("{}: skipped (FHIR_TEST_SKIP_POSTGRES=1)", backend.name());
            continue;
        }
        let server = TestServer::start(backend);
        let started = Instant::now();
        let out = Command::new(server_binary())
            .args(["import", "--database", &server.database_url()])
            .arg(&dir)
            .output()
            .expect("run fhir-server import");
        let secs = started.elapsed().as_secs_f64();
        let summary = String::from_utf8_lossy(&out.stdout);
        let client = Client::new(server.base_url());
        let total =
            count(&client, "/Observation").unwrap_or(0) + count(&client, "/Patient").unwrap_or(0);
        println!(
            "\n{}: import of {} in {secs:.1} s (exit {}): {}",
            backend.name(),
            dir.display(),
            out.status.code().unwrap_or(-1),
            summary.lines().last().unwrap_or("").trim()
        );
        println!("  Patients + Observations stored: {total}");
        let patient = client.get("/Patient?_count=1&_sort=birthdate").json()["entry"][0]
            ["resource"]["id"]
            .as_str()
            .unwrap_or("none")
            .to_owned();
        println!(
            "  {:<22} {:>9} {:>9} {:>12}",
            "query", "count ms", "matches", "download/s"
        );
        for (label, q) in SHAPES {
            let q = q.replace("{patient}", &patient);
            let mut times = Vec::new();
            let mut n = 0;
            for _ in 0..5 {
                let t = Instant::now();
                n = count(&client, &q).unwrap_or(-1);
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let (fetched, secs) = download(&client, &q);
            println!(
                "  {label:<22} {:>9.2} {n:>9} {:>12.0}",
                times[2],
                fetched as f64 / secs.max(1e-9)
            );
        }
    }
}

fn count(client: &Client, q: &str) -> Option<i64> {
    let sep = if q.contains('?') { '&' } else { '?' };
    let r = client.get(&format!("{}{sep}_summary=count", encode(q)));
    if r.status != 200 {
        eprintln!("{q}: {} {}", r.status, r.text());
        return None;
    }
    r.json()["total"].as_i64()
}

/// Every page of the result; returns (resources received, seconds).
fn download(client: &Client, q: &str) -> (usize, f64) {
    let sep = if q.contains('?') { '&' } else { '?' };
    let mut url = format!("{}{sep}_count=1000", encode(q));
    let start = Instant::now();
    let mut n = 0;
    for _ in 0..10_000 {
        let r = client.get(&url);
        if r.status != 200 {
            eprintln!("{url}: {} {}", r.status, r.text());
            break;
        }
        let b = r.json();
        n += b["entry"].as_array().map_or(0, Vec::len);
        match b["link"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str())
        {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    (n, start.elapsed().as_secs_f64())
}
