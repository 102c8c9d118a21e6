//! Two `serve --audit` processes on one database (SQLite file, PostgreSQL
//! database), writing concurrently through both: every committed write
//! has its AuditEvent (stored in the write's own transaction), no request
//! answers 500, and `audit verify` finds one intact chain sealed by both
//! processes' sealers without a cluster-wide lock on the request path.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conformance_tests::audit::{audits, verify_sealed, KEY};
use conformance_tests::server::server_binary;
use conformance_tests::{location, Backend, Client, TestServer};
use serde_json::json;

/// A second server process on the database of `first`, killed on drop.
struct SecondNode {
    child: Child,
    base: String,
}

impl SecondNode {
    fn start(first: &TestServer) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(server_binary())
            .args([
                "serve",
                "--listen",
                &listen,
                "--database",
                &first.database_url(),
            ])
            .args(["--audit", "--audit-key-file", KEY])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the second node");
        let base = format!("http://127.0.0.1:{port}/fhir");
        let probe = Client::new(&base);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !probe.try_get("/metadata").is_ok_and(|r| r.status == 200) {
            assert!(Instant::now() < deadline, "the second node did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        SecondNode { child, base }
    }
}

impl Drop for SecondNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn concurrent_writes_on_two_nodes(backend: Backend) {
    if backend.skipped() {
        return;
    }
    let first = TestServer::start_with_args(backend, &["--audit", "--audit-key-file", KEY]);
    let second = SecondNode::start(&first);
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
