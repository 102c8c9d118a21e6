//! Two `serve --audit` processes on one database (SQLite file, PostgreSQL
//! database), writing concurrently through both: every committed write
//! has its AuditEvent (stored in the write's own transaction), no request
//! answers 500, and `audit verify` finds one intact chain sealed by both
//! processes' sealers without a cluster-wide lock on the request path;
//! and a node frozen in the middle of its work stalls no other.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conformance_tests::audit::{audits, verify_sealed, KEY};
use conformance_tests::nodes::Cluster;
use conformance_tests::second_node::SecondNode;
use conformance_tests::{location, sample_patient, Backend, Client, TestServer, FHIR_JSON};
use serde_json::json;

fn concurrent_writes_on_two_nodes(backend: Backend) {
    if backend.skipped() {
        return;
    }
    let first = TestServer::start_with_args(backend, &["--audit", "--audit-key-file", KEY]);
    let second = SecondNode::start(&first, &["--audit", "--audit-key-file", KEY]);
    let bases = [first.base_url().to_owned(), second.base.clone()];
    const THREADS: usize = 4;
    const PER_THREAD: usize = 15;
    let results: Vec<(String, u16)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let bases = &bases;
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in 0..PER_THREAD {
                        let c = Client::new(&bases[(t + i) % 2]);
                        let r = c.post(
                            "/Patient",
                            &json!({"resourceType": "Patient",
                            "name": [{"family": format!("Node{t}x{i}")}]}),
                        );
                        let id = if r.status == 201 {
                            location(&r).id
                        } else {
                            String::new()
                        };
                        out.push((id, r.status));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let failed: Vec<&(String, u16)> = results.iter().filter(|(_, s)| *s != 201).collect();
    assert!(failed.is_empty(), "writes not answered 201: {failed:?}");

    let (ok, text) = verify_sealed(&first.database_url(), None);
    assert!(ok, "{text}");
    assert!(text.contains("; 0 pending"), "{text}");
    let all = audits(&first.client());
    for (id, _) in &results {
        let what = format!("Patient/{id}");
        let records = all
            .iter()
            .filter(|e| {
                e["subtype"][0]["code"] == "create"
                    && e["entity"].as_array().into_iter().flatten().any(|x| {
                        x["what"]["reference"] == what.as_str() && x["role"]["code"] == "4"
                    })
            })
            .count();
        assert_eq!(records, 1, "records of the create of {what}");
    }
    drop(second);
}

#[test]
fn concurrent_writes_on_two_nodes_sqlite() {
    concurrent_writes_on_two_nodes(Backend::Sqlite);
}

#[test]
fn concurrent_writes_on_two_nodes_postgres() {
    concurrent_writes_on_two_nodes(Backend::Postgres);
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Resumes a frozen node and stops its load when dropped, so a failed
/// assertion does not leave the test waiting for the load threads.
struct Thaw<'a> {
    pid: u32,
    busy: &'a AtomicBool,
}

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
        signal(self.pid, "CONT");
    }
}

/// A node stopped with SIGSTOP while it serves requests, stores their
/// records and seals (so it may be frozen inside any of its transactions,
/// the sealer's included) stalls no other node: the live node answers
/// creates and reads, records them, and its sealer seals every committed
/// record, the frozen node's too, while the frozen node stays stopped.
/// PostgreSQL only: several nodes share a PostgreSQL database; on one
/// SQLite file a stopped writer holds the file's write lock by design.
#[test]
fn a_frozen_node_stalls_no_other_postgres() {
    if Backend::Postgres.skipped() {
        return;
    }
    let mut cluster = Cluster::new(Backend::Postgres);
    cluster.start(2, &["--audit", "--audit-key-file", KEY]);
    let (live, frozen) = (cluster.node(0), cluster.node(1));
    let body = serde_json::to_vec(&sample_patient()).expect("serialize");
    let busy = AtomicBool::new(true);
    std::thread::scope(|s| {
        let thaw = Thaw {
            pid: frozen.pid(),
            busy: &busy,
        };
        for _ in 0..4 {
            s.spawn(|| {
                let c = Client::with_timeout(frozen.base_url(), Duration::from_secs(2));
                while busy.load(Ordering::Acquire) {
                    let _ = c.try_request("POST", "/Patient", Some(FHIR_JSON), &body);
                    let _ = c.try_get("/Patient?_count=1");
                }
            });
        }
        std::thread::sleep(Duration::from_millis(700));
        assert!(signal(frozen.pid(), "STOP"), "cannot stop the node");
        let c = live.client();
        for i in 0..20 {
            let r = c.post(
                "/Patient",
                &json!({"resourceType": "Patient", "name": [{"family": format!("Live{i}")}]}),
            );
            assert_eq!(r.status, 201, "create {i} on the live node: {}", r.text());
            let id = location(&r).id;
            c.get(&format!("/Patient/{id}")).expect_status(200);
        }
        let (ok, text) = verify_sealed(&cluster.database_url(), None);
        assert!(ok, "{text}");
        assert!(
            text.contains("; 0 pending"),
            "not sealed while a node is frozen: {text}"
        );
        drop(thaw);
    });
}
