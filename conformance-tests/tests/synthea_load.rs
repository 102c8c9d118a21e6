//! Black-box load of Synthea data (http.html#transaction, #trules): the
//! hospital and practitioner batches (POST with `ifNoneExist`) and then two
//! patient transactions, whose entries name practitioners, organizations
//! and locations by conditional reference (`Practitioner?identifier=…`).
//! Every entry must succeed; the timings are printed for the report.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use conformance_tests::{backend_tests, Client};
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/synthea-120")
}

fn load_bz2(path: &PathBuf) -> Value {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    bzip2::read::BzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files of the data folder whose names start with `prefix`, sorted.
fn files(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("../shared/data/synthea-120")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json.bz2"))
        })
        .collect();
    v.sort();
    v
}

/// Posts one Bundle and asserts that every response entry is 2xx.
fn post_all_ok(c: &Client, path: &PathBuf) -> usize {
    let bundle = load_bz2(path);
    let n = bundle["entry"].as_array().map_or(0, Vec::len);
    let started = Instant::now();
    let r = c.post("", &bundle);
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}: {}", path.display(), r.text());
    let out = r.json();
    let entries = out["entry"].as_array().expect("response entries");
    assert_eq!(entries.len(), n, "{}", path.display());
    for (i, e) in entries.iter().enumerate() {
        let status = e["response"]["status"].as_str().unwrap_or_default();
        assert!(status.starts_with('2'), "{} entry {i}: {e}", path.display());
    }
    eprintln!(
        "{}: {} ({n} entries) in {:.2} s",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default(),
        out["type"].as_str().unwrap_or_default(),
        took.as_secs_f64()
    );
    n
}

backend_tests! {
    /// Hospitals, practitioners, then two patients: no entry fails, and a
    /// second load of the hospital batch matches instead of duplicating.
    fn synthea_bundles_load_without_failures(server) {
        let c = Client::with_timeout(server.base_url(), Duration::from_secs(600));
        let hospitals = files("0-hospitalInformation");
        let practitioners = files("0-practitionerInformation");
        assert!(!hospitals.is_empty() && !practitioners.is_empty(), "Synthea data missing");
        post_all_ok(&c, &hospitals[0]);
        post_all_ok(&c, &practitioners[0]);
        let patients: Vec<PathBuf> = files("")
            .into_iter()
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("0-")))
            .take(2)
            .collect();
        assert_eq!(patients.len(), 2);
        for p in &patients {
            post_all_ok(&c, p);
        }
        // ifNoneExist makes the batch idempotent: every entry now matches.
        let again = c.post("", &load_bz2(&hospitals[0])).json();
        let statuses: Vec<&str> = again["entry"]
            .as_array()
            .map(|es| es.iter().filter_map(|e| e["response"]["status"].as_str()).collect())
            .unwrap_or_default();
        assert!(statuses.iter().all(|s| *s == "200 OK"), "{statuses:?}");
        let orgs = c.get("/Organization?_summary=count").json();
        assert_eq!(orgs["total"].as_i64(), Some(statuses.len() as i64 / 2));
    }
}
