//! Several `serve` processes on one database (issue #18, the database
//! parts): nodes started together all come up and apply the migrations
//! once; the same `--package` on two nodes is stored once; transactions
//! touching the same resources in opposite orders on different nodes
//! never answer 500; history is in `lastUpdated` order across nodes and a
//! `_since` poller misses no write; `fhir-server migrate` then `serve
//! --migrate off` works, and `--migrate off` refuses an unmigrated
//! database. PostgreSQL is the deployment these are about; SQLite (several
//! processes on one file) is held to the same answers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use conformance_tests::nodes::Cluster;
use conformance_tests::{location, Backend, Client};
use serde_json::{json, Value};

fn jp_core() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages/jp-core.r4-1.1.2.tgz");
    p.to_string_lossy().into_owned()
}

/// How many nodes a test starts: three on PostgreSQL, two processes on a
/// SQLite file.
fn node_count(backend: Backend) -> usize {
    match backend {
        Backend::Postgres => 3,
        Backend::Sqlite => 2,
    }
}

/// Nodes started together on a fresh database, all with the same package:
/// every one comes up (no migration race) and the package's conformance
/// resources are stored once (version 1 only).
fn simultaneous_start(backend: Backend) {
    let mut cluster = Cluster::new(backend);
    let package = jp_core();
    let n = node_count(backend);
    cluster.start(n, &["--package", &package]);
    let c = cluster.node(n - 1).client();
    let total = |path: &str| c.get(path).json()["total"].as_i64();
    // The numbers packages.rs checks for one node: one version each.
    assert_eq!(total("/StructureDefinition/_history?_count=0"), Some(89));
    assert_eq!(total("/CodeSystem/_history?_count=0"), Some(22));
    assert_eq!(total("/ValueSet/_history?_count=0"), Some(37));
    assert_eq!(total("/SearchParameter/_history?_count=0"), Some(8));
    let applied: usize = cluster
        .nodes()
        .iter()
        .filter(|n| n.log_text().contains("database migration(s)"))
        .count();
    assert_eq!(applied, 1, "exactly one node applies the migrations");
}

fn put_entry(id: &str, family: &str) -> Value {
    json!({
        "resource": {"resourceType": "Patient", "id": id, "name": [{"family": family}]},
        "request": {"method": "PUT", "url": format!("Patient/{id}")}
    })
}

/// Transactions that update the same two resources in opposite orders,
/// from every node at once: each answers 200 or 409 (with an
/// OperationOutcome), never 500; the database deadlocks them and the
/// server reruns the loser.
fn opposite_order_transactions(backend: Backend) {
    let mut cluster = Cluster::new(backend);
    let n = node_count(backend);
    cluster.start(n, &[]);
    let c = cluster.node(0).client();
    for id in ["dl-a", "dl-b"] {
        c.put(
            &format!("/Patient/{id}"),
            &json!({"resourceType": "Patient", "id": id}),
        )
        .expect_status(201);
    }
    const PER_THREAD: usize = 15;
    let bases: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.base_url().to_owned())
        .collect();
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2 * n)
            .map(|t| {
                let base = bases[t % n].clone();
                s.spawn(move || {
                    let c = Client::new(&base);
                    (0..PER_THREAD)
                        .map(|i| {
                            let family = format!("T{t}x{i}");
                            let entries = if t % 2 == 0 {
                                vec![put_entry("dl-a", &family), put_entry("dl-b", &family)]
                            } else {
                                vec![put_entry("dl-b", &family), put_entry("dl-a", &family)]
                            };
                            let r = c.post(
                                "",
                                &json!({"resourceType": "Bundle", "type": "transaction",
                                        "entry": entries}),
                            );
                            (r.status, r.text())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a client thread"))
            .collect()
    });
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (status, body) in &statuses {
        *by_status.entry(*status).or_default() += 1;
        assert!(
            *status == 200 || *status == 409,
            "a transaction answered {status}: {body}"
        );
        if *status == 409 {
            assert!(body.contains("OperationOutcome"), "{body}");
        }
    }
    eprintln!(
        "{}: opposite-order transactions: {by_status:?}",
        backend.name()
    );
    // Each committed transaction moved both resources: their versions agree.
    let version = |id: &str| c.get(&format!("/Patient/{id}")).json()["meta"]["versionId"].clone();
    assert_eq!(version("dl-a"), version("dl-b"));
}

/// `lastUpdated` of a history entry (its resource's, or the deletion's
/// `response.lastModified`).
fn stamp(e: &Value) -> String {
    e["resource"]["meta"]["lastUpdated"]
        .as_str()
        .or_else(|| e["response"]["lastModified"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// One `_since` poll, following `next` links; returns the entries and the
/// Bundle's `meta.lastUpdated` (the next poll's `_since`). Asserts each
/// page is in `lastUpdated` order, newest first.
fn poll(c: &Client, since: &str) -> (Vec<(String, String)>, String) {
    let mut url = format!("/_history?_since={}&_count=500", since.replace('+', "%2B"));
    let mut seen = Vec::new();
    let mut horizon = None;
    loop {
        let page = c.get(&url);
        page.expect_status(200);
        let b = page.json();
        horizon.get_or_insert_with(|| {
            b["meta"]["lastUpdated"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        });
        let entries = b["entry"].as_array().cloned().unwrap_or_default();
        let stamps: Vec<String> = entries.iter().map(stamp).collect();
        assert!(
            stamps.windows(2).all(|w| w[0] >= w[1]),
            "history not in lastUpdated order: {stamps:?}"
        );
        for e in &entries {
            seen.push((
                e["resource"]["id"].as_str().unwrap_or_default().to_owned(),
                e["resource"]["meta"]["versionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ));
        }
        match conformance_tests::next_link(&b) {
            Some(n) => url = n[c.base().len()..].to_owned(),
            None => break,
        }
    }
    (seen, horizon.unwrap_or_default())
}

/// Writers on every node and a poller on one: every write the writers
/// were acknowledged is seen by the poller, which only ever asks
/// `_since=` the previous answer's `meta.lastUpdated`; and the whole
/// history is in `lastUpdated` order.
fn since_poller_misses_nothing(backend: Backend) {
    let mut cluster = Cluster::new(backend);
    let n = node_count(backend);
    cluster.start(n, &[]);
    let bases: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.base_url().to_owned())
        .collect();
    let poller = cluster.node(0).client();
    let done = std::sync::atomic::AtomicBool::new(false);
    const PER_WRITER: usize = 40;
    let (written, seen) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2 * n)
            .map(|t| {
                let base = bases[t % n].clone();
                s.spawn(move || {
                    let c = Client::new(&base);
                    (0..PER_WRITER)
                        .map(|i| {
                            let r = c.post(
                                "/Patient",
                                &json!({"resourceType": "Patient",
                                        "name": [{"family": format!("P{t}x{i}")}]}),
                            );
                            r.expect_status(201);
                            location(&r).id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let polling = s.spawn(|| {
            let mut since = "2000-01-01T00:00:00Z".to_owned();
            let mut seen = BTreeSet::new();
            let mut last = false;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (entries, next) = poll(&poller, &since);
                seen.extend(entries.into_iter().map(|(id, _)| id));
                assert!(next >= since, "the horizon went back: {since} then {next}");
                since = next;
                if last {
                    break;
                }
                // One more poll after the writers finished, once the
                // horizon has passed their last write.
                last = finished;
                std::thread::sleep(Duration::from_millis(if finished { 20 } else { 5 }));
            }
            seen
        });
        let written: Vec<String> = writers
            .into_iter()
            .flat_map(|h| h.join().expect("a writer"))
            .collect();
        // The last write's millisecond must be behind the horizon.
        std::thread::sleep(Duration::from_millis(5));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (written, polling.join().expect("the poller"))
    });
    let missed: Vec<&String> = written.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missed.is_empty(),
        "{} of {} writes never reached the _since poller: {missed:?}",
        missed.len(),
        written.len()
    );
    // And the whole history, read on another node, is in lastUpdated order.
    let (all, _) = poll(&cluster.node(n - 1).client(), "2000-01-01T00:00:00Z");
    assert_eq!(all.len(), written.len());
}

/// `fhir-server migrate` on a fresh database, then nodes with `--migrate
/// off` start; `migrate` again has nothing to do.
fn migrate_then_serve_off(backend: Backend) {
    let mut cluster = Cluster::new(backend);
    let db = cluster.database_url();
    let out = cluster.run(&["migrate", "--database", &db]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("applied"), "{text}");
    cluster.start(2, &["--migrate", "off"]);
    cluster
        .node(1)
        .client()
        .post("/Patient", &json!({"resourceType": "Patient"}))
        .expect_status(201);
    let again = cluster.run(&["migrate", "--database", &db]);
    let text = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        again.status.success() && text.contains("up to date"),
        "{text}"
    );
}

/// `serve --migrate off` on a database that was never migrated exits
/// with a message naming what is pending and what to run.
fn migrate_off_refuses_unmigrated(backend: Backend) {
    let mut cluster = Cluster::new(backend);
    let i = cluster.spawn(&["--migrate", "off"]);
    let started = Instant::now();
    let (ok, log) = cluster.wait_exit(i);
    assert!(
        !ok,
        "serve --migrate off started on an unmigrated database:\n{log}"
    );
    assert!(
        log.contains("migration(s) pending") && log.contains("fhir-server migrate"),
        "the refusal says what to do:\n{log}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A write queued behind a row lock that another session (a stuck node)
/// holds answers 503 with an OperationOutcome after `--lock-timeout-ms`,
/// not 500 and not forever. PostgreSQL only (SQLite has no such setting;
/// its `busy_timeout` answers 503 already).
#[test]
fn lock_timeout_answers_503_postgres() {
    if Backend::Postgres.skipped() {
        return;
    }
    let mut cluster = Cluster::new(Backend::Postgres);
    cluster.start(1, &["--lock-timeout-ms", "300"]);
    let c = cluster.node(0).client();
    c.put(
        "/Patient/held",
        &json!({"resourceType": "Patient", "id": "held"}),
    )
    .expect_status(201);
    let url = cluster.database_url();
    let mut holder = std::process::Command::new("psql")
        .args(["-X", "-q", "-d", &url, "-c"])
        .arg(
            "BEGIN; SELECT 1 FROM resources WHERE resource_id = 'held' FOR UPDATE; \
             SELECT pg_sleep(4); COMMIT;",
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run psql");
    std::thread::sleep(Duration::from_millis(800));
    let started = Instant::now();
    let r = c.put(
        "/Patient/held",
        &json!({"resourceType": "Patient", "id": "held", "gender": "male"}),
    );
    let waited = started.elapsed();
    let _ = holder.wait();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("OperationOutcome"), "{}", r.text());
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    // The lock gone, the write goes through.
    c.put(
        "/Patient/held",
        &json!({"resourceType": "Patient", "id": "held", "gender": "male"}),
    )
    .expect_status(200);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(conformance_tests::paste::paste! {
            #[test]
            fn [<$name _sqlite>]() {
                $name(Backend::Sqlite);
            }
            #[test]
            fn [<$name _postgres>]() {
                if !Backend::Postgres.skipped() {
                    $name(Backend::Postgres);
                }
            }
        })*
    };
}

on_both!(
    simultaneous_start,
    opposite_order_transactions,
    since_poller_misses_nothing,
    migrate_then_serve_off,
    migrate_off_refuses_unmigrated,
);
