//! Ingest benchmark on the 120-patient Synthea set (a binary, not a timed
//! test). Build and run it in release mode:
//!
//! ```text
//! cargo run --release -p conformance-tests --bin ingest_bench -- \
//!     [--backend sqlite|postgres|both] [--patients N] [--uploaders 1,2,4] \
//!     [--no-import] [--big-mb 50] [--url BASE [--pid PID]]
//! ```
//!
//! For each backend, each load runs on a fresh server and database (the
//! release `fhir-server`, through the test harness):
//! - `http xN`: the set over HTTP (`POST /fhir`) with N concurrent
//!   uploaders: the two `0-*` batch Bundles first (the patients refer to
//!   them), then the patient transactions, each uploader taking the next
//!   file not yet sent. Peak memory is the server's `VmHWM`.
//! - `import`: `fhir-server import` of the same files (hospitals and
//!   practitioners first); peak memory is the import process's
//!   (`wait4`'s `ru_maxrss`).
//!
//! Each load is checked: no failed entry, and every type's
//! `GET [type]?_summary=count` equals the count worked out from the files
//! (`synthea::Expected`: conditional creates of the `0-*` Bundles dedupe).
//! Any difference makes the run exit non-zero, so a figure in the table is
//! always the figure of a complete, correct load.
//!
//! Then `big`: one transaction Bundle of about `--big-mb` MB (default 50;
//! 0 skips it), built in memory (Patients with Observations that name
//! them by `urn:uuid` fullUrl, each with a few KB of narrative), posted to
//! a fresh server with the default `--max-body-bytes`. It prints the time
//! and the server's `VmHWM` before and after, so the peak memory a body
//! costs can be read as a multiple of its size.
//!
//! With `--url`, the set is loaded over HTTP (one `http xN` load per
//! `--uploaders` value, nothing else) into the server already running
//! there, which must start empty: how `scripts/compare-helios.sh` loads
//! another FHIR server the same way. `--pid` names that server's process,
//! for its peak memory.
//!
//! Memory figures are of the `fhir-server` process only: on PostgreSQL
//! the database's own processes are not counted.
//!
//! Knobs beside the flags: `SYNTHEA_DIR`, and the harness's
//! `FHIR_SERVER_BIN`, `FHIR_TEST_POSTGRES_URL`.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use conformance_tests::memory::{peak_kib, rss_kib, run_measured};
use conformance_tests::server::server_binary;
use conformance_tests::synthea::{self, failed_entries, name_of, Expected, Files};
use conformance_tests::{Backend, Client, TestServer, FHIR_JSON};

/// The flags.
struct Opts {
    backends: Vec<Backend>,
    patients: Option<usize>,
    uploaders: Vec<usize>,
    import: bool,
    big_mb: usize,
    /// A running server to load over HTTP instead of fresh ones.
    url: Option<String>,
    /// Its process, for its peak memory.
    pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: ingest_bench [--backend sqlite|postgres|both] [--patients N] \
         [--uploaders 1,2,4] [--no-import] [--big-mb MB] [--url BASE [--pid PID]]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        backends: Backend::ALL.to_vec(),
        patients: None,
        uploaders: vec![1, 2, 4],
        import: true,
        big_mb: 50,
        url: None,
        pid: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--backend" => o.backends = Backend::from_choice(&value()).unwrap_or_else(|| usage()),
            "--patients" => o.patients = Some(value().parse().unwrap_or_else(|_| usage())),
            "--uploaders" => {
                o.uploaders = value()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .filter(|n| *n > 0)
                    .collect()
            }
            "--no-import" => o.import = false,
            "--big-mb" => o.big_mb = value().parse().unwrap_or_else(|_| usage()),
            "--url" => o.url = Some(value()),
            "--pid" => o.pid = Some(value().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    o
}

/// One file to send: its name, its JSON and its entry count.
struct Upload {
    name: String,
    bytes: Vec<u8>,
    entries: usize,
}

/// The set, read and decompressed before any clock starts.
struct Data {
    files: Files,
    batches: Vec<Upload>,
    patients: Vec<Upload>,
    expected: Expected,
}

fn read_data(files: Files) -> Result<Data, String> {
    let mut expected = Expected::default();
    let mut read = |paths: &[std::path::PathBuf]| -> Result<Vec<Upload>, String> {
        paths
            .iter()
            .map(|p| {
                let bytes = synthea::read_bz2(p)?;
                let json: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
                let before = expected.entries;
                expected.add_bundle(&json);
                Ok(Upload {
                    name: name_of(p).to_owned(),
                    bytes,
                    entries: expected.entries - before,
                })
            })
            .collect()
    };
    let batches = read(&files.batches)?;
    let patients = read(&files.patients)?;
    Ok(Data {
        files,
        batches,
        patients,
        expected,
    })
}

/// One line of the final table.
struct Row {
    backend: &'static str,
    load: String,
    resources: usize,
    secs: f64,
    peak_mib: f64,
    problems: Vec<String>,
}

impl Row {
    fn print(&self) {
        println!(
            "{:<9} {:<8} {:>9} {:>9.1} {:>11.0} {:>10.0}  {}",
            self.backend,
            self.load,
            self.resources,
            self.secs,
            self.resources as f64 / self.secs.max(1e-9),
            self.peak_mib,
            if self.problems.is_empty() {
                "ok".to_owned()
            } else {
                format!("FAILED ({} problems)", self.problems.len())
            }
        );
        for p in self.problems.iter().take(10) {
            println!("    {p}");
        }
        let _ = std::io::stdout().flush();
    }
}

fn header() {
    println!(
        "{:<9} {:<8} {:>9} {:>9} {:>11} {:>10}  check",
        "backend", "load", "resources", "seconds", "resources/s", "peak MiB"
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Sends one Bundle; returns its failed entries as lines.
fn post(client: &Client, u: &Upload, failed: &Mutex<Vec<String>>) {
    let lines = match client.try_request("POST", "", Some(FHIR_JSON), &u.bytes) {
        Ok(r) => failed_entries(r.status, &r.body, u.entries).1,
        Err(e) => vec![format!("transport: {e}")],
    };
    if !lines.is_empty() {
        let mut all = failed.lock().unwrap_or_else(|p| p.into_inner());
        all.extend(lines.into_iter().map(|l| format!("{}: {l}", u.name)));
    }
}

/// The set over HTTP with `uploaders` concurrent clients, into a fresh
/// server.
fn http_load(backend: Backend, data: &Data, uploaders: usize) -> Row {
    let server = TestServer::start(backend);
    let mut row = http_load_into(server.base_url(), Some(server.pid()), data, uploaders);
    row.backend = backend.name();
    row
}

/// The set over HTTP with `uploaders` concurrent clients, into the empty
/// server at `base` (process `pid`, when known).
fn http_load_into(base: &str, pid: Option<u32>, data: &Data, uploaders: usize) -> Row {
    let client = Client::with_timeout(base, Duration::from_secs(1800));
    let failed = Mutex::new(Vec::new());
    let started = Instant::now();
    for b in &data.batches {
        post(&client, b, &failed);
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..uploaders {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(u) = data.patients.get(i) else { break };
                post(&client, u, &failed);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let peak = pid.and_then(peak_kib).unwrap_or(0);
    let mut problems = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    problems.extend(data.expected.mismatches(&client));
    Row {
        backend: "url",
        load: format!("http x{uploaders}"),
        resources: data.expected.entries,
        secs,
        peak_mib: mib(peak),
        problems,
    }
}

/// The set through `fhir-server import` into a fresh server's database.
fn import_load(backend: Backend, data: &Data) -> Row {
    let server = TestServer::start(backend);
    let started = Instant::now();
    let measured = run_measured(
        Command::new(server_binary())
            .args(["import", "--database", &server.database_url()])
            .args(data.files.in_load_order()),
    );
    let secs = started.elapsed().as_secs_f64();
    let mut problems = Vec::new();
    let peak = match measured {
        Ok(m) => {
            if m.code != Some(0) {
                problems.push(format!("import exited with {:?}", m.code));
                problems.extend(m.stdout.lines().map(str::to_owned));
            }
            m.peak_kib
        }
        Err(e) => {
            problems.push(format!("cannot run fhir-server import: {e}"));
            0
        }
    };
    let client = Client::with_timeout(server.base_url(), Duration::from_secs(600));
    problems.extend(data.expected.mismatches(&client));
    Row {
        backend: backend.name(),
        load: "import".into(),
        resources: data.expected.entries,
        secs,
        peak_mib: mib(peak),
        problems,
    }
}

/// A transaction Bundle of at least `target` bytes: Patients, each followed
/// by nine Observations whose `subject` is the Patient's `urn:uuid`
/// fullUrl; every resource carries about 4 KB of narrative, so the Bundle
/// is large without being mostly per-resource overhead. Returns the JSON,
/// the Patient count and the Observation count.
fn big_transaction(target: usize) -> (Vec<u8>, usize, usize) {
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(72);
    let div = |what: &str| {
        format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{what}</p><p>{filler}</p></div>")
    };
    let mut out = br#"{"resourceType":"Bundle","type":"transaction","entry":["#.to_vec();
    let (mut patients, mut observations, mut n) = (0usize, 0usize, 0u64);
    let mut uuid = || {
        n += 1;
        format!("urn:uuid:00000000-0000-4000-8000-{n:012x}")
    };
    let push = |out: &mut Vec<u8>, entry: serde_json::Value| {
        if out.last() != Some(&b'[') {
            out.push(b',');
        }
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &entry);
    };
    while out.len() < target {
        let patient = uuid();
        patients += 1;
        push(
            &mut out,
            serde_json::json!({
                "fullUrl": patient,
                "resource": {
                    "resourceType": "Patient",
                    "text": {"status": "generated", "div": div(&format!("Patient {patients}"))},
                    "identifier": [{"system": "urn:bench", "value": format!("p{patients}")}],
                    "name": [{"family": format!("Bench{patients}"), "given": ["Big"]}],
                    "gender": "female",
                    "birthDate": "1970-01-01"
                },
                "request": {"method": "POST", "url": "Patient"}
            }),
        );
        for k in 0..9 {
            observations += 1;
            push(
                &mut out,
                serde_json::json!({
                    "fullUrl": uuid(),
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "text": {"status": "generated", "div": div(&format!("Observation {k}"))},
                        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                        "subject": {"reference": patient},
                        "effectiveDateTime": "2020-01-01T10:00:00Z",
                        "valueQuantity": {"value": 60 + k, "unit": "/min",
                            "system": "http://unitsofmeasure.org", "code": "/min"}
                    },
                    "request": {"method": "POST", "url": "Observation"}
                }),
            );
        }
    }
    out.extend_from_slice(b"]}");
    (out, patients, observations)
}

/// The big transaction on a fresh server with the default body limit.
fn big_load(backend: Backend, megabytes: usize) -> Row {
    let (body, patients, observations) = big_transaction(megabytes * 1_000_000);
    let server = TestServer::start(backend);
    let client = Client::with_timeout(server.base_url(), Duration::from_secs(1800));
    let pid = server.pid();
    let before = peak_kib(pid).unwrap_or(0);
    let started = Instant::now();
    let resp = client.try_request("POST", "", Some(FHIR_JSON), &body);
    let secs = started.elapsed().as_secs_f64();
    let after = peak_kib(pid).unwrap_or(0);
    let rss_after = rss_kib(pid).unwrap_or(0);
    let entries = patients + observations;
    let mut problems = match &resp {
        Ok(r) => failed_entries(r.status, &r.body, entries).1,
        Err(e) => vec![format!("transport: {e}")],
    };
    let mut expected = Expected::default();
    expected.per_type.insert("Patient".into(), patients as i64);
    expected
        .per_type
        .insert("Observation".into(), observations as i64);
    problems.extend(expected.mismatches(&client));
    let body_mib = body.len() as f64 / (1024.0 * 1024.0);
    println!(
        "{} big: {:.1} MiB transaction ({entries} entries) in {secs:.1} s; server VmHWM \
         {:.0} MiB before, {:.0} MiB after (+{:.0} MiB = {:.1} x the body); VmRSS after {:.0} MiB; \
         response {:.1} MiB",
        backend.name(),
        body_mib,
        mib(before),
        mib(after),
        mib(after.saturating_sub(before)),
        mib(after.saturating_sub(before)) / body_mib.max(1e-9),
        mib(rss_after),
        resp.as_ref()
            .map_or(0.0, |r| r.body.len() as f64 / (1024.0 * 1024.0)),
    );
    Row {
        backend: backend.name(),
        load: format!("big {megabytes}MB"),
        resources: entries,
        secs,
        peak_mib: mib(after),
        problems,
    }
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful numbers");
    }
    let opts = parse_opts();
    let files = Files::load_default_first(opts.patients).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let data = match read_data(files) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "Synthea: {} batch + {} patient Bundles, {} entries, {} resources to store ({} types)",
        data.batches.len(),
        data.patients.len(),
        data.expected.entries,
        data.expected.resources(),
        data.expected.per_type.len()
    );
    let mut rows = Vec::new();
    header();
    if let Some(url) = &opts.url {
        for &n in &opts.uploaders {
            let row = http_load_into(url, opts.pid, &data, n);
            row.print();
            rows.push(row);
        }
    }
    let backends = if opts.url.is_some() {
        &[][..]
    } else {
        &opts.backends[..]
    };
    for &backend in backends {
        if backend.skipped() {
            println!("{}: skipped (FHIR_TEST_SKIP_POSTGRES=1)", backend.name());
            continue;
        }
        for &n in &opts.uploaders {
            let row = http_load(backend, &data, n);
            row.print();
            rows.push(row);
        }
        if opts.import {
            let row = import_load(backend, &data);
            row.print();
            rows.push(row);
        }
        if opts.big_mb > 0 {
            let row = big_load(backend, opts.big_mb);
            row.print();
            rows.push(row);
        }
    }
    println!();
    header();
    for r in &rows {
        r.print();
    }
    if rows.iter().any(|r| !r.problems.is_empty()) {
        eprintln!("some loads failed their checks");
        std::process::exit(1);
    }
}
