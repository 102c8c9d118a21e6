//! Several nodes on one PostgreSQL database (issue #18): create and read
//! throughput with 1 and 2 `serve` processes, with and without `--audit`,
//! and what each request costs the database. A binary, not a timed test:
//!
//! ```text
//! cargo build --release -p fhir-server --bins
//! FHIR_SERVER_BIN=target/release/fhir-server \
//!   cargo run --release -p conformance-tests --bin nodes_bench
//! ```
//!
//! Per row: requests/s (all nodes together; the clients spread round
//! robin over the nodes), and per request the CPU time of the PostgreSQL
//! backends serving this database (from `/proc/PID/stat` of the pids
//! `pg_stat_activity` lists for it), the CPU time of all PostgreSQL
//! processes (WAL writer, checkpointer… included; other databases on the
//! server too, so run it on a quiet one), the transactions committed and
//! (`pg_stat_database`; statements outside a transaction count one each)
//! and the rows added to all tables (counted). The statistics counters are
//! read 1.5 s after each phase: a backend flushes them within a second of
//! going idle.
//! `pg_stat_statements` is used for statements per request when the
//! server preloads it.
//!
//! The last rows (`2+r`) are 2 nodes with a streaming replica
//! (`--replica-database`, started as in `conformance_tests::replica`):
//! reads then cost the primary's database backends next to nothing. They
//! are left out, with a note, when the replica cannot be started.
//!
//! Knobs: `BENCH_REQUESTS` (per row, default 2000), `BENCH_CLIENTS`
//! (default 8), `BENCH_BACKEND` (`postgres`, the default, or `sqlite`:
//! the nodes share one SQLite file, and the database columns are not
//! measured), `FHIR_SERVER_BIN`, `FHIR_TEST_POSTGRES_URL`.

use std::process::Command;
use std::time::{Duration, Instant};

use conformance_tests::nodes::Cluster;
use conformance_tests::replica::Replica;
use conformance_tests::{location, sample_patient, Backend, Client};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `psql -At` of one query on `url`: its rows, `|`-separated.
fn psql(url: &str, sql: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args(["-X", "-At", "-d", url, "-c", sql])
        .output()
        .expect("run psql");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// utime + stime of a process, in seconds (clock ticks of 1/100 s).
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// Every process named `postgres`.
fn all_postgres_pids() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}

/// The database's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    backend_cpu: f64,
    all_cpu: f64,
    commits: f64,
    inserts: f64,
    statements: Option<f64>,
}

fn snapshot(url: &str, db: &str) -> Snapshot {
    let backends = psql(
        url,
        &format!("SELECT pid FROM pg_stat_activity WHERE datname = '{db}'"),
    );
    let num = |rows: Vec<String>| {
        rows.first()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let statements = psql(
        url,
        "SELECT sum(calls) FROM pg_stat_statements WHERE dbid = \
         (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .first()
    .and_then(|s| s.trim().parse::<f64>().ok());
    Snapshot {
        backend_cpu: backends.iter().map(|p| cpu_secs(p)).sum(),
        all_cpu: all_postgres_pids().iter().map(|p| cpu_secs(p)).sum(),
        commits: num(psql(
            url,
            &format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'"),
        )),
        inserts: {
            let sum = psql(
                url,
                "SELECT string_agg(format('(SELECT count(*) FROM %I)', relname), '+') \
                 FROM pg_stat_user_tables",
            );
            num(psql(
                url,
                &format!("SELECT {}", sum.first().map_or("0", |s| s)),
            ))
        },
        statements,
    }
}

/// Runs `work(client, index)` `requests` times over `clients` threads,
/// clients spread round robin over `bases`; returns the wall time and the
/// failures.
fn run(
    bases: &[String],
    clients: usize,
    requests: usize,
    work: impl Fn(&Client, usize) -> bool + Sync,
) -> (Duration, usize) {
    let start = Instant::now();
    let failures: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let c = Client::new(&bases[k % bases.len()]);
                let work = &work;
                s.spawn(move || {
                    (0..requests)
                        .skip(k)
                        .step_by(clients)
                        .filter(|&i| !work(&c, i))
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(1)).sum()
    });
    (start.elapsed(), failures)
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with --release for meaningful numbers");
    }
    let requests = env_usize("BENCH_REQUESTS", 2000);
    let clients = env_usize("BENCH_CLIENTS", 8);
    let backend = match std::env::var("BENCH_BACKEND").as_deref() {
        Ok("sqlite") => Backend::Sqlite,
        _ => Backend::Postgres,
    };
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/audit-test.key");
    println!(
        "nodes on one {} database: {requests} requests per row, {clients} clients",
        backend.name()
    );
    println!(
        "{:<5} {:<7} {:<6} {:>8} {:>6} {:>13} {:>12} {:>9} {:>9} {:>10}",
        "nodes",
        "audit",
        "op",
        "req/s",
        "fails",
        "pg-db ms/req",
        "pg ms/req",
        "xact/req",
        "rows/req",
        "stmts/req"
    );
    let body = serde_json::to_vec(&sample_patient()).expect("serialize");
    let plain = [(false, 1), (false, 2), (true, 1), (true, 2)].map(|(a, n)| (a, n, false));
    // A replica is a PostgreSQL streaming replica: SQLite has no such rows.
    let replica_rows: &[(bool, usize, bool)] = if backend == Backend::Postgres {
        &[(false, 2, true)]
    } else {
        &[]
    };
    let measured = backend == Backend::Postgres;
    let snapshot = |url: &str, db: &str| {
        if measured {
            snapshot(url, db)
        } else {
            Snapshot::default()
        }
    };
    for (audit, nodes, with_replica) in plain.into_iter().chain(replica_rows.iter().copied()) {
        let mut cluster = Cluster::new(backend);
        let mut args: Vec<String> = if audit {
            vec!["--audit".into(), "--audit-key-file".into(), key.into()]
        } else {
            Vec::new()
        };
        let url = cluster.database_url();
        let db = url.rsplit('/').next().unwrap_or_default().to_owned();
        let _replica = if with_replica {
            match Replica::start() {
                Ok(r) => {
                    args.extend(["--replica-database".into(), r.url(&db)]);
                    Some(r)
                }
                Err(e) => {
                    println!("(no replica rows: {e})");
                    continue;
                }
            }
        } else {
            None
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cluster.start(nodes, &args);
        let label = if with_replica {
            format!("{nodes}+r")
        } else {
            nodes.to_string()
        };
        if measured {
            let _ = psql(&url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        }
        let bases: Vec<String> = cluster
            .nodes()
            .iter()
            .map(|n| n.base_url().to_owned())
            .collect();
        let ids = std::sync::Mutex::new(Vec::with_capacity(requests));
        let before = snapshot(&url, &db);
        let (wall, fails) = run(&bases, clients, requests, |c, _| {
            match c.try_request(
                "POST",
                "/Patient",
                Some(conformance_tests::FHIR_JSON),
                &body,
            ) {
                Ok(r) if r.status == 201 => ids.lock().map(|mut v| v.push(location(&r).id)).is_ok(),
                _ => false,
            }
        });
        std::thread::sleep(Duration::from_millis(1500));
        let after = snapshot(&url, &db);
        row(
            &label, audit, "create", requests, wall, fails, before, after,
        );
        let ids = ids.into_inner().unwrap_or_default();
        if ids.is_empty() {
            continue;
        }
        let before = snapshot(&url, &db);
        let (wall, fails) = run(&bases, clients, requests, |c, i| {
            let id = &ids[(i * 7919) % ids.len()];
            matches!(c.try_get(&format!("/Patient/{id}")), Ok(r) if r.status == 200)
        });
        std::thread::sleep(Duration::from_millis(1500));
        let after = snapshot(&url, &db);
        row(&label, audit, "read", requests, wall, fails, before, after);
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    nodes: &str,
    audit: bool,
    op: &str,
    requests: usize,
    wall: Duration,
    fails: usize,
    before: Snapshot,
    after: Snapshot,
) {
    let per = |a: f64, b: f64| (a - b) / requests as f64;
    let stmts = match (after.statements, before.statements) {
        (Some(a), Some(b)) => format!("{:.1}", per(a, b)),
        _ => "n/a".into(),
    };
    println!(
        "{:<5} {:<7} {:<6} {:>8.0} {:>6} {:>13.3} {:>12.3} {:>9.2} {:>9.1} {:>10}",
        nodes,
        if audit { "on" } else { "off" },
        op,
        requests as f64 / wall.as_secs_f64(),
        fails,
        1000.0 * per(after.backend_cpu, before.backend_cpu),
        1000.0 * per(after.all_cpu, before.all_cpu),
        per(after.commits, before.commits),
        per(after.inserts, before.inserts),
        stmts
    );
}
