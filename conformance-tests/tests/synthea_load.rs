//! Black-box load of Synthea data (http.html#transaction, #trules): the
//! hospital and practitioner batches (POST with `ifNoneExist`) and then two
//! patient transactions, whose entries name practitioners, organizations
//! and locations by conditional reference (`Practitioner?identifier=…`).
//! Every entry must succeed; the timings are printed for the report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use conformance_tests::{backend_tests, synthea, Client};
use serde_json::Value;

fn data_dir() -> PathBuf {
    synthea::data_dir()
}

fn load_bz2(path: &std::path::Path) -> Value {
    synthea::read_bz2_json(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The files of the data folder whose names start with `prefix`, sorted.
fn files(prefix: &str) -> Vec<PathBuf> {
    let set = synthea::Files::load_default().expect("../shared/data/synthea-120");
    set.in_load_order()
        .into_iter()
        .filter(|p| synthea::name_of(p).starts_with(prefix))
        .collect()
}

/// Posts one Bundle and asserts that every response entry is 2xx.
fn post_all_ok(c: &Client, path: &std::path::Path) -> usize {
    post_bundle(c, path).0
}

/// Posts one Bundle, asserts that every response entry is 2xx, and returns
/// the entry count, the request Bundle and the response Bundle.
fn post_bundle(c: &Client, path: &std::path::Path) -> (usize, Value, Value) {
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
    (n, bundle, out)
}

/// Whether `v` holds a `reference` to `target` anywhere.
fn refers_to(v: &Value, target: &str) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, x)| (k == "reference" && x.as_str() == Some(target)) || refers_to(x, target)),
        Value::Array(a) => a.iter().any(|x| refers_to(x, target)),
        _ => false,
    }
}

/// `Type/id` from a response `location` (`Type/id/_history/1`).
fn type_id(location: &str) -> String {
    location.split('/').take(2).collect::<Vec<_>>().join("/")
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

backend_tests! {
    /// Issue #7: a patient transaction's resources are counted per type as
    /// the file holds them, and `$everything` for the patient with
    /// identifier `X79746011X` returns every resource of its compartment
    /// (the Patient and every resource that refers to it) exactly once,
    /// across pages.
    fn synthea_everything_returns_the_compartment_once(server) {
        let c = Client::with_timeout(server.base_url(), Duration::from_secs(600));
        post_all_ok(&c, &files("0-hospitalInformation")[0]);
        post_all_ok(&c, &files("0-practitionerInformation")[0]);
        let file = data_dir().join("e5a8d3f4-4484-ebfd-7404-d9f02c9fe6a6.json.bz2");
        let (_, request, response) = post_bundle(&c, &file);
        let entries = request["entry"].as_array().expect("entries");
        let answers = response["entry"].as_array().expect("response entries");
        let mut per_type = std::collections::BTreeMap::<String, i64>::new();
        for e in entries {
            *per_type.entry(e["resource"]["resourceType"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        for (ty, n) in &per_type {
            let total = c.get(&format!("/{ty}?_summary=count")).json()["total"].as_i64();
            assert_eq!(total, Some(*n), "{ty}: stored count differs from the file");
        }
        let patient_at = entries
            .iter()
            .position(|e| e["resource"]["resourceType"] == "Patient")
            .expect("a Patient entry");
        let patient_url = entries[patient_at]["fullUrl"].as_str().unwrap_or_default().to_owned();
        let mut expected: Vec<String> = entries
            .iter()
            .zip(answers)
            .enumerate()
            .filter(|(i, (e, _))| *i == patient_at || refers_to(&e["resource"], &patient_url))
            .map(|(_, (_, a))| type_id(a["response"]["location"].as_str().unwrap_or_default()))
            .collect();
        expected.sort();
        let found = c.get("/Patient?identifier=X79746011X").json();
        assert_eq!(found["total"], 1, "{found}");
        let pid = found["entry"][0]["resource"]["id"].as_str().unwrap_or_default().to_owned();
        let mut url = format!("/Patient/{pid}/$everything?_count=200");
        let mut seen = Vec::new();
        for _ in 0..100 {
            let b = c.get(&url).json();
            // Each page also carries what its own matches reference
            // (`search.mode` include), which may repeat across pages; the
            // compartment itself comes once.
            for e in b["entry"].as_array().into_iter().flatten() {
                if e["search"]["mode"] == "include" {
                    continue;
                }
                let r = &e["resource"];
                seen.push(format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or("")));
            }
            match b["link"].as_array().into_iter().flatten().find(|l| l["relation"] == "next") {
                Some(l) => url = l["url"].as_str().unwrap_or_default().to_owned(),
                None => break,
            }
        }
        let pages_total = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), pages_total, "a resource appeared on two pages");
        let missing: Vec<_> = expected.iter().filter(|x| !seen.contains(x)).collect();
        let extra: Vec<_> = seen.iter().filter(|x| !expected.contains(x)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}\nextra {extra:?}");
        eprintln!("$everything: {} resources across pages of 200", seen.len());
    }
}
