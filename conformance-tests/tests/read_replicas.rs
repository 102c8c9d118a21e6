//! `serve --replica-database` (issue #18): two nodes on one PostgreSQL
//! primary with a real streaming replica (`conformance_tests::replica`,
//! Debian's server binaries). With the replica's replay paused, a read
//! without a commit position answers the replica's older data (so reads
//! are served by the replica), while the writer's reads, on its own node
//! (remembered) and on the other node (`X-Commit-Position`), see its write;
//! a node whose lag bound the paused replica exceeds reads the primary;
//! with the replica stopped, reads fall back to the primary. Replicas
//! behind SQLite, and a "replica" that is a primary, are refused at start.

use std::time::{Duration, Instant};

use conformance_tests::nodes::Cluster;
use conformance_tests::replica::Replica;
use conformance_tests::tools::require_tool;
use conformance_tests::{Backend, Client, Response};
use serde_json::{json, Value};

const HEADER: &str = "X-Commit-Position";

fn database_name(url: &str) -> String {
    let path = url.rsplit('/').next().unwrap_or_default();
    path.split('?').next().unwrap_or_default().to_string()
}

fn patient(id: &str, family: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": family}]})
}

fn get_at(c: &Client, path: &str, position: &str) -> Response {
    c.try_request_with("GET", path, None, b"", &[(HEADER, position)])
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The family name of a read, or of a search's single match.
fn family(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let resource = match v["resourceType"].as_str() {
        Some("Bundle") => {
            let entries = v["entry"].as_array().cloned().unwrap_or_default();
            assert_eq!(entries.len(), 1, "{v}");
            entries[0]["resource"].clone()
        }
        _ => v,
    };
    resource["name"][0]["family"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A write, and the commit position it answers.
fn write(c: &Client, id: &str, family: &str) -> String {
    let r = c.put(&format!("/Patient/{id}"), &patient(id, family));
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    r.header(HEADER)
        .unwrap_or_else(|| panic!("a write answers {HEADER}"))
        .to_string()
}

#[test]
fn reads_go_to_the_replica_and_writers_read_their_writes() {
    if Backend::Postgres.skipped() {
        return;
    }
    let mut cluster = Cluster::new(Backend::Postgres);
    let Some(mut replica) = require_tool("a PostgreSQL streaming replica", Replica::start()) else {
        return;
    };
    let name = database_name(&cluster.database_url());
    // Trust authentication ignores the password; it must not reach a log.
    let url = format!(
        "postgres://postgres:hunter2@127.0.0.1:{}/{name}",
        replica.port()
    );
    // The bound is tested below, on a node of its own: here it is large,
    // since every database of the primary (other tests') streams too.
    let replica_args = [
        "--replica-database",
        &url,
        "--replica-max-lag-bytes",
        "1073741824",
    ];
    cluster.start(2, &replica_args);
    for node in cluster.nodes() {
        let log = node.log_text();
        assert!(!log.contains("hunter2"), "{log}");
        assert!(log.contains("postgres://postgres:***@127.0.0.1"), "{log}");
    }
    let (a, b) = (cluster.node(0).client(), cluster.node(1).client());

    let first = write(&a, "r1", "Before");
    replica
        .wait_replayed(&first, Duration::from_secs(120))
        .unwrap();
    assert_eq!(family(&b.get("/Patient/r1")), "Before");

    // The replica stops replaying: it keeps showing "Before".
    replica.sql("SELECT pg_wal_replay_pause()").unwrap();
    let second = write(&a, "r1", "After");
    assert_ne!(second, first);

    // Node b has no write of this client: the replica answers.
    assert_eq!(family(&b.get("/Patient/r1")), "Before");
    assert_eq!(family(&b.get("/Patient?_id=r1")), "Before");
    assert_eq!(family(&b.get("/Patient/r1/_history/1")), "Before");
    assert_eq!(
        b.get("/Patient/r1/_history/2").status,
        404,
        "version 2 is not on the replica yet"
    );

    // With the writer's position, node b reads the write (the primary).
    assert_eq!(family(&get_at(&b, "/Patient/r1", &second)), "After");
    assert_eq!(family(&get_at(&b, "/Patient?_id=r1", &second)), "After");
    // Node a remembers its client's write: no header needed.
    assert_eq!(family(&a.get("/Patient/r1")), "After");
    assert_eq!(family(&a.get("/Patient?_id=r1")), "After");
    // An older position does not hold the read back.
    assert_eq!(family(&get_at(&b, "/Patient/r1", &first)), "Before");

    // A node whose bound the paused replica exceeds (any WAL received and
    // not replayed) reads the primary, header or not.
    replica
        .wait_received(&second, Duration::from_secs(120))
        .unwrap();
    let strict = cluster.spawn(&["--replica-database", &url, "--replica-max-lag-bytes", "0"]);
    cluster.wait_ready(strict).unwrap();
    let c = cluster.node(strict).client();
    assert_eq!(family(&c.get("/Patient/r1")), "After");
    assert_eq!(family(&c.get("/Patient?_id=r1")), "After");

    // A position that cannot be read is refused, not ignored.
    let bad = get_at(&b, "/Patient/r1", "yesterday");
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["resourceType"], "OperationOutcome");

    // Replay resumes: node b's plain reads catch up.
    replica.sql("SELECT pg_wal_replay_resume()").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while family(&b.get("/Patient/r1")) != "After" {
        assert!(Instant::now() < deadline, "the replica never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The replica is gone: reads fall back to the primary.
    replica.stop().unwrap();
    write(&a, "r2", "Later");
    assert_eq!(family(&b.get("/Patient/r2")), "Later");
    assert_eq!(family(&b.get("/Patient?_id=r2")), "Later");
    assert_eq!(family(&b.get("/Patient/r1")), "After");
    let log = cluster.node(1).log_text();
    assert!(log.contains("skipped"), "{log}");
}

#[test]
fn replicas_need_a_postgresql_primary() {
    let mut cluster = Cluster::new(Backend::Sqlite);
    let i = cluster.spawn(&[
        "--replica-database",
        "postgres://postgres:hunter2@127.0.0.1:1/fhir",
    ]);
    let (ok, log) = cluster.wait_exit(i);
    assert!(!ok, "{log}");
    assert!(log.contains("needs a PostgreSQL primary"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}

#[test]
fn a_replica_that_is_a_primary_is_refused() {
    if Backend::Postgres.skipped() {
        return;
    }
    let mut cluster = Cluster::new(Backend::Postgres);
    let primary = cluster.database_url();
    let i = cluster.spawn(&["--replica-database", &primary]);
    let (ok, log) = cluster.wait_exit(i);
    assert!(!ok, "{log}");
    assert!(log.contains("is not a replica"), "{log}");
}
