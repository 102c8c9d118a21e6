//! Durability under faults: the server is killed with SIGKILL in the middle
//! of a write load; after a restart every write it acknowledged is there,
//! and the store is consistent (each resource's history runs 1..n with the
//! current version last). Issue #4, "Durability under faults".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use conformance_tests::{Backend, Client, TestServer};
use serde_json::json;

fn run(backend: Backend) {
    if backend.skipped() {
        eprintln!("skipped: FHIR_TEST_SKIP_POSTGRES=1");
        return;
    }
    let mut server = TestServer::start(backend);
    let base = server.base_url().to_owned();
    // (id, version) of every acknowledged write.
    let acked: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..4 {
            let (acked, stop, base) = (&acked, &stop, &base);
            s.spawn(move || {
                let c = Client::with_timeout(base, Duration::from_secs(5));
                let mut i = 0u32;
                while !stop.load(Ordering::SeqCst) && i < 2_000 {
                    let id = format!("d{w}-{}", i % 5);
                    let version = i / 5 + 1;
                    let body = json!({"resourceType": "Patient", "id": id, "active": true,
                        "name": [{"family": format!("v{version}")}]});
                    let bytes = serde_json::to_vec(&body).expect("json");
                    match c.try_request(
                        "PUT",
                        &format!("/Patient/{id}"),
                        Some("application/fhir+json"),
                        &bytes,
                    ) {
                        Ok(r) if r.status == 200 || r.status == 201 => {
                            acked.lock().expect("lock").push((id, version));
                        }
                        // The kill lands mid-request: no answer, no promise.
                        _ => break,
                    }
                    i += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        server.kill_and_restart();
        stop.store(true, Ordering::SeqCst);
    });
    let acked = acked.into_inner().expect("lock");
    assert!(
        acked.len() > 20,
        "the load ran before the kill ({} writes)",
        acked.len()
    );
    let c = server.client();
    let mut checked = 0;
    for w in 0..4 {
        for k in 0..5 {
            let id = format!("d{w}-{k}");
            let newest = acked
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, v)| *v)
                .max();
            let Some(newest) = newest else { continue };
            // Every acknowledged version is readable...
            let read = c.get(&format!("/Patient/{id}"));
            assert_eq!(read.status, 200, "{id} after restart");
            let current: u32 = read.json()["meta"]["versionId"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("versionId");
            assert!(
                current >= newest,
                "{id}: acknowledged v{newest}, found v{current}"
            );
            for v in 1..=newest {
                let old = c.get(&format!("/Patient/{id}/_history/{v}"));
                assert_eq!(old.status, 200, "{id} v{v}");
                assert_eq!(
                    old.json()["name"][0]["family"],
                    format!("v{v}"),
                    "{id} v{v} content"
                );
                checked += 1;
            }
            // ...and the history is whole: versions current..1, newest first.
            let history = c.get(&format!("/Patient/{id}/_history?_count=1000")).json();
            let versions: Vec<u32> = history["entry"]
                .as_array()
                .expect("entries")
                .iter()
                .filter_map(|e| {
                    e["resource"]["meta"]["versionId"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                })
                .collect();
            let expected: Vec<u32> = (1..=current).rev().collect();
            assert_eq!(versions, expected, "{id} history");
        }
    }
    eprintln!(
        "{}: {} writes acknowledged before SIGKILL, {checked} versions found after restart",
        backend.name(),
        acked.len()
    );
}

#[test]
fn acknowledged_writes_survive_sigkill_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn acknowledged_writes_survive_sigkill_postgres() {
    run(Backend::Postgres);
}
