//! Two `serve --audit` processes on one database (SQLite file, PostgreSQL
//! database), writing concurrently through both: every committed write
//! has its AuditEvent (stored in the write's own transaction), no request
//! answers 500, and `audit verify` finds one intact chain sealed by both
//! processes' sealers without a cluster-wide lock on the request path.

use conformance_tests::audit::{audits, verify_sealed, KEY};
use conformance_tests::second_node::SecondNode;
use conformance_tests::{location, Backend, Client, TestServer};
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
