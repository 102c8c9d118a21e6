//! Search benchmark on the 120-patient Synthea set (a binary, not a timed
//! test). Build and run it in release mode:
//!
//! ```text
//! cargo run --release -p conformance-tests --bin search_bench -- \
//!     [--backend sqlite|postgres|both] [--patients N] [--url BASE] [--peer BASE]
//! ```
//!
//! Without `--url`, for each backend it starts a fresh server (the release
//! `fhir-server` binary, through the test harness) and loads
//! `../shared/data/synthea-120` (the first `--patients N` patient Bundles
//! only, when given) with `fhir-server import` (the same code path as
//! `POST /fhir`, without HTTP; its own timing is printed as the ingest
//! rate). With `--url` it runs against a server that is already loaded.
//! `--peer` names a second, equally loaded server (another FHIR server,
//! e.g. Helios: `scripts/compare-helios.sh`): every query runs against
//! both and the table gains the peer's figures and the ratios.
//!
//! The patient of the `{patient}` queries is the one with the most
//! Observations; on the peer it is found by its Synthea identifier (ids
//! are assigned by each server). For each query shape it prints:
//! - `count ms`: the median time of `_summary=count` over 5 runs (`-` for
//!   `$everything`, which has no count);
//! - `matches`: that count;
//! - `all ms` and `per s`: every page of the full result (`_count=1000`,
//!   following `next` links; `$everything` with its default paging), in
//!   milliseconds and in resources per second (included resources count
//!   too);
//! - `pages`, `first ms`, `last ms`: how many pages, and the time of the
//!   first and the last one: paging by keyset makes them equal (#27).
//!
//! With a peer, `count x` and `all x` are the peer's time over ours: above
//! 1 we are faster.
//!
//! Knobs: `BENCH_BACKENDS` (`sqlite,postgres`, when `--backend` is not
//! given), `SYNTHEA_DIR`, and the harness's `FHIR_SERVER_BIN`,
//! `FHIR_TEST_POSTGRES_URL`, `FHIR_TEST_SKIP_POSTGRES=1`.

use std::process::Command;
use std::time::{Duration, Instant};

use conformance_tests::server::server_binary;
use conformance_tests::synthea::Files;
use conformance_tests::{Backend, Client, TestServer};

/// Counted searches and operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A search: counted, downloaded with `_count=1000`.
    Search,
    /// An operation: not counted, downloaded with its default paging.
    Operation,
}

/// The query shapes of issues #6 and #27, as (label, kind, query).
/// `{patient}` is replaced by the patient with the most Observations.
const SHAPES: &[(&str, Kind, &str)] = &[
    (
        "single code",
        Kind::Search,
        "/Observation?code=http://loinc.org|8867-4",
    ),
    (
        "10 codes",
        Kind::Search,
        "/Observation?code=http://loinc.org|29463-7,http://loinc.org|85354-9,\
         http://loinc.org|8867-4,http://loinc.org|9279-1,http://loinc.org|8302-2,\
         http://loinc.org|72514-3,http://loinc.org|39156-5,http://loinc.org|72166-2,\
         http://loinc.org|2708-6,http://loinc.org|718-7",
    ),
    (
        "code+date",
        Kind::Search,
        "/Observation?code=http://loinc.org|8867-4&date=ge2015-01-01&date=lt2019-01-01",
    ),
    (
        "code+patient",
        Kind::Search,
        "/Observation?code=http://loinc.org|8867-4&patient=Patient/{patient}",
    ),
    // One patient's whole record of Observations (#27: <= 40 ms for 2,265).
    (
        "patient's Obs",
        Kind::Search,
        "/Observation?patient=Patient/{patient}",
    ),
    (
        "category+date",
        Kind::Search,
        "/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&date=ge2018-01-01",
    ),
    // Every page of a large result (issue #27: each page cost more than
    // the one before), in the default order and sorted by id.
    (
        "category (all)",
        Kind::Search,
        "/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
    ),
    (
        "category _sort=_id",
        Kind::Search,
        "/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&_sort=_id",
    ),
    ("all Observations", Kind::Search, "/Observation"),
    ("Patient gender", Kind::Search, "/Patient?gender=male"),
    (
        "chain patient.gender",
        Kind::Search,
        "/Observation?patient.gender=female&code=http://loinc.org|8867-4",
    ),
    (
        "_has",
        Kind::Search,
        "/Patient?_has:Observation:patient:code=http://loinc.org|718-7",
    ),
    (
        "_include",
        Kind::Search,
        "/Observation?code=http://loinc.org|718-7&_include=Observation:patient",
    ),
    // Full text (issue #6): a word, an OR, a phrase in the narrative, and
    // a word next to a selective parameter.
    ("_content word", Kind::Search, "/Condition?_content=diabetes"),
    (
        "_content OR",
        Kind::Search,
        "/Condition?_content=diabetes%20OR%20hypertension",
    ),
    (
        "_text phrase",
        Kind::Search,
        "/Observation?_text=%22body%20mass%20index%22",
    ),
    (
        "_content+patient",
        Kind::Search,
        "/Observation?patient=Patient/{patient}&_content=glucose",
    ),
    // The whole record with the operation's default paging (#27: <= 100 ms
    // for the 2,265-Observation patient).
    (
        "$everything",
        Kind::Operation,
        "/Patient/{patient}/$everything",
    ),
];

/// Synthea's patient identifier system: the same value on every server.
const SYNTHEA_ID: &str = "https://github.com/synthetichealth/synthea";

/// The flags.
struct Opts {
    backends: Vec<Backend>,
    patients: Option<usize>,
    url: Option<String>,
    peer: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: search_bench [--backend sqlite|postgres|both] [--patients N] \
         [--url BASE] [--peer BASE]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let names = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut o = Opts {
        backends: Backend::ALL
            .into_iter()
            .filter(|b| names.split(',').any(|n| n.trim() == b.name()))
            .collect(),
        patients: None,
        url: None,
        peer: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--backend" => o.backends = Backend::from_choice(&value()).unwrap_or_else(|| usage()),
            "--patients" => o.patients = Some(value().parse().unwrap_or_else(|_| usage())),
            "--url" => o.url = Some(value()),
            "--peer" => o.peer = Some(value()),
            _ => usage(),
        }
    }
    o
}

fn encode(q: &str) -> String {
    q.replace('|', "%7C")
}

fn client(base: &str) -> Client {
    Client::with_timeout(base, Duration::from_secs(1800))
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful numbers");
    }
    let opts = parse_opts();
    let peer = opts.peer.as_deref().map(client);
    if let Some(url) = &opts.url {
        println!("\n{url}");
        run(&client(url), peer.as_ref());
        return;
    }
    let files = Files::load_default_first(opts.patients).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    for backend in opts.backends {
        if backend.skipped() {
            println!("{}: skipped (FHIR_TEST_SKIP_POSTGRES=1)", backend.name());
            continue;
        }
        let server = TestServer::start(backend);
        let started = Instant::now();
        let out = Command::new(server_binary())
            .args(["import", "--database", &server.database_url()])
            .args(files.in_load_order())
            .output()
            .expect("run fhir-server import");
        let secs = started.elapsed().as_secs_f64();
        let summary = String::from_utf8_lossy(&out.stdout);
        println!(
            "\n{}: import of {} patient Bundles in {secs:.1} s (exit {}): {}",
            backend.name(),
            files.patients.len(),
            out.status.code().unwrap_or(-1),
            summary.lines().last().unwrap_or("").trim()
        );
        run(&client(server.base_url()), peer.as_ref());
    }
}

/// Every shape against `ours` (and `peer`), printed as a table.
fn run(ours: &Client, peer: Option<&Client>) {
    let total = count(ours, "/Observation").unwrap_or(0) + count(ours, "/Patient").unwrap_or(0);
    println!("  Patients + Observations stored: {total}");
    let Some((patient, identifier, observations)) = busiest_patient(ours) else {
        eprintln!("no patient with an Observation");
        return;
    };
    println!("  {{patient}}: Patient/{patient}, {observations} Observations");
    let peer_patient = peer.map(|p| (p, find_patient(p, &identifier)));
    print!(
        "  {:<20} {:>8} {:>7} {:>8} {:>7} {:>5} {:>8} {:>8}",
        "query", "count ms", "matches", "all ms", "per s", "pages", "first ms", "last ms"
    );
    if peer.is_some() {
        print!(
            " | {:>8} {:>7} {:>8} {:>7} {:>8} {:>8} | {:>7} {:>7}",
            "count ms", "matches", "all ms", "per s", "first ms", "last ms", "count x", "all x"
        );
    }
    println!();
    for (label, kind, q) in SHAPES {
        let ours_fig = measure(ours, *kind, &q.replace("{patient}", &patient));
        print!("  {label:<20} {}", ours_fig.columns(true));
        if let Some((p, pid)) = &peer_patient {
            let fig = match pid {
                Some(pid) => measure(p, *kind, &q.replace("{patient}", pid)),
                None if q.contains("{patient}") => Figures::default(),
                None => measure(p, *kind, q),
            };
            print!(" | {}", fig.columns(false));
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:>7.2}", a / b),
                _ => format!("{:>7}", "-"),
            };
            print!(
                " | {} {}",
                ratio(fig.count_ms, ours_fig.count_ms),
                ratio(fig.all_ms(), ours_fig.all_ms())
            );
        }
        println!();
    }
}

/// What one shape measured on one server.
#[derive(Default)]
struct Figures {
    count_ms: Option<f64>,
    matches: Option<i64>,
    download: Option<Download>,
}

impl Figures {
    fn all_ms(&self) -> Option<f64> {
        self.download.as_ref().map(|d| d.secs * 1000.0)
    }

    fn columns(&self, with_pages: bool) -> String {
        let opt = |v: Option<f64>, w: usize, p: usize| match v {
            Some(v) => format!("{v:>w$.p$}"),
            None => format!("{:>w$}", "-"),
        };
        let d = self.download.as_ref();
        let mut s = format!(
            "{} {} {} {}",
            opt(self.count_ms, 8, 2),
            match self.matches {
                Some(n) => format!("{n:>7}"),
                None => format!("{:>7}", "-"),
            },
            opt(self.all_ms(), 8, 0),
            opt(d.map(|d| d.resources as f64 / d.secs.max(1e-9)), 7, 0),
        );
        if with_pages {
            s.push_str(&format!(
                " {:>5}",
                d.map_or("-".to_owned(), |d| d.pages.to_string())
            ));
        }
        s.push_str(&format!(
            " {} {}",
            opt(d.map(|d| d.first_ms), 8, 1),
            opt(d.map(|d| d.last_ms), 8, 1)
        ));
        s
    }
}

fn measure(client: &Client, kind: Kind, q: &str) -> Figures {
    let mut fig = Figures::default();
    if kind == Kind::Search {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            fig.matches = count(client, q);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        fig.count_ms = fig.matches.map(|_| times[2]);
    }
    let first = match kind {
        Kind::Search => {
            let sep = if q.contains('?') { '&' } else { '?' };
            format!("{}{sep}_count=1000", encode(q))
        }
        Kind::Operation => encode(q),
    };
    fig.download = download(client, &first);
    fig
}

fn count(client: &Client, q: &str) -> Option<i64> {
    let sep = if q.contains('?') { '&' } else { '?' };
    let r = client.try_get(&format!("{}{sep}_summary=count", encode(q)));
    match r {
        Ok(r) if r.status == 200 => r.try_json()?["total"].as_i64(),
        Ok(r) => {
            eprintln!("{q}: {} {}", r.status, r.text());
            None
        }
        Err(e) => {
            eprintln!("{q}: {e}");
            None
        }
    }
}

/// Every page of one result.
struct Download {
    /// Resources received (included ones too).
    resources: usize,
    secs: f64,
    pages: usize,
    first_ms: f64,
    last_ms: f64,
}

/// Every page of the result from `url`, following `next` links.
fn download(client: &Client, url: &str) -> Option<Download> {
    let mut url = url.to_owned();
    let start = Instant::now();
    let mut d = Download {
        resources: 0,
        secs: 0.0,
        pages: 0,
        first_ms: 0.0,
        last_ms: 0.0,
    };
    for _ in 0..10_000 {
        let t = Instant::now();
        let r = match client.try_get(&url) {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                eprintln!("{url}: {} {}", r.status, r.text());
                return None;
            }
            Err(e) => {
                eprintln!("{url}: {e}");
                return None;
            }
        };
        let b = r.try_json()?;
        d.last_ms = t.elapsed().as_secs_f64() * 1000.0;
        if d.pages == 0 {
            d.first_ms = d.last_ms;
        }
        d.pages += 1;
        d.resources += b["entry"].as_array().map_or(0, Vec::len);
        match b["link"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str())
        {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    d.secs = start.elapsed().as_secs_f64();
    Some(d)
}

/// The patient with the most Observations: its id, its Synthea
/// identifier and that count.
fn busiest_patient(client: &Client) -> Option<(String, String, i64)> {
    let mut best: Option<(String, String, i64)> = None;
    let mut url = "/Patient?_count=1000".to_owned();
    loop {
        let b = client.try_get(&url).ok()?.try_json()?;
        for e in b["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            let Some(id) = r["id"].as_str() else { continue };
            let identifier = r["identifier"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["system"] == SYNTHEA_ID)
                .and_then(|i| i["value"].as_str())
                .unwrap_or_default();
            let n = count(client, &format!("/Observation?patient=Patient/{id}")).unwrap_or(0);
            if best.as_ref().is_none_or(|(_, _, m)| n > *m) {
                best = Some((id.to_owned(), identifier.to_owned(), n));
            }
        }
        match b["link"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str())
        {
            Some(next) => url = next.to_owned(),
            None => return best,
        }
    }
}

/// The id `client` gave the patient with this Synthea identifier.
fn find_patient(client: &Client, identifier: &str) -> Option<String> {
    let b = client
        .try_get(&encode(&format!(
            "/Patient?identifier={SYNTHEA_ID}|{identifier}"
        )))
        .ok()?
        .try_json()?;
    let id = b["entry"][0]["resource"]["id"].as_str().map(str::to_owned);
    if id.is_none() {
        eprintln!("the peer has no Patient with identifier {identifier}");
    }
    id
}
