//! Issue #18, the operational parts: configuration from the environment
//! (`FHIR_…`, shown in `--help`), `--database-password-file` and masked
//! database URLs, `/healthz` and `/readyz`, request ids, JSON logs, the
//! node and the forwarded client in AuditEvents, and the pool's 503 with
//! `Retry-After`. Each test that involves a database runs on SQLite and
//! PostgreSQL.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance_tests::audit::{audits, KEY};
use conformance_tests::server::Launch;
use conformance_tests::server::{server_binary, unique_suffix};
use conformance_tests::{backend_tests, sample_patient, Backend, Client, TestServer};
use serde_json::Value;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fhir-ops-{}", unique_suffix()));
    fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs a `fhir-server` command to its end: success, and stdout and
/// stderr together.
fn run_cli(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run fhir-server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn root_client(server: &TestServer) -> Client {
    Client::with_timeout(
        &format!("http://127.0.0.1:{}", server.port()),
        Duration::from_secs(20),
    )
}

/// Every line of `log` as JSON; panics naming a line that is not.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

/// Polls `log` until `pred` holds for it (log lines are written as
/// answers finish), for up to 10 s.
fn wait_for_log(log: impl Fn() -> String, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = log();
        if pred(&text) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_env_only(backend: Backend) {
    if backend.skipped() {
        return;
    }
    let server = TestServer::launch(
        backend,
        Launch {
            by_env: true,
            env: vec![
                ("FHIR_NODE_ID", "env-node-1".into()),
                ("FHIR_LOG_FORMAT", "json".into()),
                ("FHIR_POOL_MAX", "3".into()),
                ("FHIR_MAX_BODY_BYTES", "2000".into()),
            ],
            ..Launch::default()
        },
    );
    let c = server.client();
    let created = c.post("/Patient", &sample_patient());
    assert_eq!(created.status, 201, "{}", created.text());
    // FHIR_MAX_BODY_BYTES took effect.
    let mut big = sample_patient();
    big["text"] = serde_json::json!({"status": "generated", "div": format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", "x".repeat(3000))});
    assert_eq!(c.post("/Patient", &big).status, 413);
    let log = wait_for_log(|| server.log_text(), |t| t.contains("POST /fhir/Patient"));
    let lines = json_lines(&log);
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("listening on http://127.0.0.1"))),
        "{log}"
    );
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "access").collect();
    assert!(!access.is_empty(), "{log}");
    assert!(access.iter().all(|l| l["node_id"] == "env-node-1"), "{log}");
}

#[test]
fn a_server_configured_by_the_environment_only_sqlite() {
    run_env_only(Backend::Sqlite);
}

#[test]
fn a_server_configured_by_the_environment_only_postgres() {
    run_env_only(Backend::Postgres);
}

/// The option blocks of `fhir-server ARGS --help`: each flag's lines.
fn help_blocks(args: &[&str]) -> Vec<String> {
    let out = Command::new(server_binary())
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("fhir-server --help");
    assert!(out.status.success(), "{args:?} --help failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let options = text.split("Options:").nth(1).unwrap_or("").to_owned();
    let mut blocks: Vec<String> = Vec::new();
    for line in options.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') && line.len() - trimmed.len() <= 6 {
            blocks.push(String::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks
}

/// Every flag of every subcommand names its environment variable in
/// `--help` (only `--help` and `--version` have none).
#[test]
fn help_lists_an_environment_variable_for_every_flag() {
    let commands: [&[&str]; 10] = [
        &["serve"],
        &["import"],
        &["import-codes"],
        &["validate"],
        &["fhirpath"],
        &["token"],
        &["token", "jwks"],
        &["jp-master"],
        &["audit", "verify"],
        &["serve", "--log-format", "json"],
    ];
    for args in commands {
        let blocks = help_blocks(args);
        assert!(!blocks.is_empty(), "{args:?}: no options in --help");
        for b in &blocks {
            let flag = b.trim_start();
            if flag.starts_with("-h, --help") || flag.starts_with("-V, --version") {
                continue;
            }
            assert!(b.contains("[env: FHIR_"), "{args:?}: no variable for\n{b}");
        }
    }
    let serve = help_blocks(&["serve"]).concat();
    for var in [
        "FHIR_DATABASE_URL",
        "FHIR_DATABASE_PASSWORD_FILE",
        "FHIR_LISTEN",
        "FHIR_POOL_MAX",
        "FHIR_POOL_MIN_IDLE",
        "FHIR_POOL_TIMEOUT_SECS",
        "FHIR_REPLICA_DATABASE",
        "FHIR_NODE_ID",
        "FHIR_LOG_FORMAT",
        "FHIR_TRUSTED_PROXY",
    ] {
        assert!(serve.contains(var), "serve --help lacks {var}");
    }
    for sub in [&["import"][..], &["import-codes"], &["audit", "verify"]] {
        assert!(
            help_blocks(sub)
                .concat()
                .contains("[env: FHIR_DATABASE_URL"),
            "{sub:?}"
        );
    }
}

/// `DATABASE_URL` is some other tool's variable: a node that sees only it
/// stops and says which variable it reads, instead of quietly running on
/// a local SQLite file of its own (issue #18 item 8).
#[test]
fn the_generic_database_url_alone_is_refused() {
    let (ok, text) = run_cli(
        Command::new(server_binary())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env(
                "DATABASE_URL",
                "postgres://fhir:Generic-Secret@127.0.0.1:1/fhir",
            ),
    );
    assert!(!ok, "{text}");
    assert!(text.contains("FHIR_DATABASE_URL"), "{text}");
    assert!(!text.contains("Generic-Secret"), "{text}");
}

/// The password comes from a file, reaches PostgreSQL, and is printed
/// nowhere: not by `serve` (log and output), not by `import`, not in
/// errors; a password in the URL itself is masked the same way.
#[test]
fn the_password_file_is_used_and_the_password_never_printed_postgres() {
    if Backend::Postgres.skipped() {
        return;
    }
    let dir = temp_dir();
    const SECRET: &str = "Pw-File-Secret-71";
    let pw = dir.join("db-password");
    fs::write(&pw, format!("{SECRET}\n")).unwrap();
    let server = TestServer::launch(
        Backend::Postgres,
        Launch {
            by_env: true,
            env: vec![("FHIR_DATABASE_PASSWORD_FILE", pw.display().to_string())],
            ..Launch::default()
        },
    );
    let url = server.database_url();
    assert_eq!(
        server.client().post("/Patient", &sample_patient()).status,
        201
    );
    let log = server.log_text();
    assert!(log.contains(":***@"), "the masked URL is logged: {log}");
    assert!(!log.contains(SECRET), "{log}");
    // `import` reads the same variables.
    let ndjson = dir.join("p.ndjson");
    fs::write(&ndjson, sample_patient().to_string() + "\n").unwrap();
    let (ok, text) = run_cli(
        Command::new(server_binary())
            .arg("import")
            .arg(&ndjson)
            .env("FHIR_DATABASE_URL", &url)
            .env("FHIR_DATABASE_PASSWORD_FILE", &pw)
            .env("RUST_LOG", "info"),
    );
    assert!(ok, "{text}");
    assert!(text.contains(":***@") && !text.contains(SECRET), "{text}");
    // A password inside the URL is masked too, in the log and in errors.
    let inline = url.replacen(
        "postgres://postgres@",
        "postgres://postgres:Inline-Secret-9@",
        1,
    );
    let (_, text) = run_cli(
        Command::new(server_binary())
            .args(["import", "--database", &inline, "/nonexistent.ndjson"])
            .env("RUST_LOG", "info"),
    );
    assert!(text.contains("postgres://postgres:***@"), "{text}");
    assert!(!text.contains("Inline-Secret-9"), "{text}");
    // A password file with a URL that already has one, or with SQLite.
    for bad in [inline.as_str(), "sqlite:x.db"] {
        let (ok, text) = run_cli(
            Command::new(server_binary())
                .args(["import", "--database", bad, "/nonexistent.ndjson"])
                .env("FHIR_DATABASE_PASSWORD_FILE", &pw),
        );
        assert!(!ok, "{bad}: {text}");
        assert!(text.contains("password"), "{text}");
        assert!(
            !text.contains(SECRET) && !text.contains("Inline-Secret-9"),
            "{text}"
        );
    }
    fs::remove_dir_all(&dir).ok();
}

/// Counts AuditEvents with a search (itself recorded once).
fn audit_count(c: &Client) -> u64 {
    let r = c.get("/AuditEvent?_summary=count");
    r.expect_status(200);
    r.json()["total"].as_u64().expect("total")
}

backend_tests! {
    /// `/healthz` and `/readyz` answer 200 with JSON outside `/fhir`, need
    /// no token, are routed (other methods 405, `/fhir/healthz` 404) and
    /// are not audited.
    fn health_endpoints_answer_and_are_not_audited(server) with ["--audit", "--audit-key-file", KEY] {
        let root = root_client(server);
        let live = root.get("/healthz");
        assert_eq!(live.status, 200, "{}", live.text());
        assert_eq!(live.json()["status"], "alive");
        assert_eq!(live.header("cache-control"), Some("no-store"));
        let ready = root.get("/readyz");
        assert_eq!(ready.status, 200, "{}", ready.text());
        assert_eq!(ready.json()["status"], "ready");
        assert_eq!(ready.json()["checks"]["migrations"], "ok");
        assert!(live.header("content-type").unwrap_or("").starts_with("application/json"));
        assert_eq!(root.request("HEAD", "/readyz", None, b"").status, 200);
        assert_eq!(root.request("POST", "/readyz", Some("application/json"), b"{}").status, 405);
        assert_eq!(root.request("DELETE", "/healthz", None, b"").status, 405);
        assert_eq!(server.client().get("/healthz").status, 404);
        let c = server.client();
        let before = audit_count(&c);
        for _ in 0..5 {
            assert_eq!(root.get("/healthz").status, 200);
            assert_eq!(root.get("/readyz").status, 200);
        }
        let after = audit_count(&c);
        assert_eq!(after, before + 1, "only the count search itself is recorded");
    }

    /// `X-Request-Id`: a sane incoming id is echoed; a missing one is
    /// generated; a bad one (too long, odd characters) is replaced; every
    /// answer carries one, errors and probes included; the access log
    /// line names it.
    fn request_ids_are_echoed_generated_and_sanitised(server) {
        let c = server.client();
        let with = |id: &str| {
            c.try_request_with("GET", "/metadata", None, b"", &[("X-Request-Id", id)])
                .expect("GET metadata")
        };
        let r = with("trace-42.abc_DEF");
        assert_eq!(r.header("x-request-id"), Some("trace-42.abc_DEF"));
        let generated = c.get("/metadata");
        let id = generated.header("x-request-id").expect("a generated id").to_owned();
        assert_eq!(id.len(), 36, "{id}");
        assert_ne!(c.get("/metadata").header("x-request-id"), Some(id.as_str()));
        for bad in ["has space", "quote\"d", &"x".repeat(65), "semi;colon", "a/b", "<script>"] {
            let r = with(bad);
            let got = r.header("x-request-id").expect("an id");
            assert_ne!(got, bad);
            assert_eq!(got.len(), 36, "{got}");
        }
        assert_eq!(with(&"y".repeat(64)).header("x-request-id"), Some("y".repeat(64).as_str()));
        let missing = c.get("/Patient/nope");
        assert_eq!(missing.status, 404);
        assert!(missing.header("x-request-id").is_some());
        assert!(root_client(server).get("/healthz").header("x-request-id").is_some());
        assert!(root_client(server).get("/nowhere").header("x-request-id").is_some());
        let log = wait_for_log(|| server.log_text(), |t| t.contains("trace-42.abc_DEF"));
        let line = log
            .lines()
            .find(|l| l.contains("trace-42.abc_DEF"))
            .unwrap_or_else(|| panic!("no access line with the id:\n{log}"));
        assert!(line.contains("GET /fhir/metadata"), "{line}");
    }

    /// `--log-format json`: every line the server writes is one JSON object
    /// with timestamp, level, target, message and node_id; the lines of a
    /// request (its error line and its access line) carry its request id.
    fn json_logs_carry_request_and_node_ids(server) with ["--log-format", "json", "--node-id", "json-node"] {
        let c = server.client();
        let r = c
            .try_request_with("GET", "/Patient/missing-one", None, b"", &[("X-Request-Id", "req-json-1")])
            .expect("GET");
        assert_eq!(r.status, 404);
        let log = wait_for_log(|| server.log_text(), |t| t.contains("/fhir/Patient/missing-one"));
        let lines = json_lines(&log);
        for l in &lines {
            for k in ["timestamp", "level", "target", "message"] {
                assert!(l[k].is_string(), "{k} missing in {l}");
            }
        }
        let mine: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == "req-json-1").collect();
        assert!(
            mine.iter().any(|l| l["target"] == "access"
                && l["message"].as_str().unwrap_or("").contains("GET /fhir/Patient/missing-one")),
            "{log}"
        );
        assert!(
            mine.iter().any(|l| l["target"] != "access" && l["message"].as_str().unwrap_or("").contains("404")),
            "the handler's own line carries the id too:\n{log}"
        );
        assert!(mine.iter().all(|l| l["node_id"] == "json-node"), "{log}");
    }

    /// The AuditEvent names the node (`source.observer.identifier`) and,
    /// behind a trusted proxy, the client the proxy names
    /// (`agent.network.address`); an untrusted peer's header is ignored.
    fn audit_events_name_the_node_and_the_forwarded_client(server) with [
        "--audit", "--audit-key-file", KEY, "--node-id", "audit-node-7", "--trusted-proxy", "127.0.0.1",
    ] {
        let c = server.client();
        let r = c.post_with(
            "/Patient",
            &sample_patient(),
            &[("X-Forwarded-For", "198.51.100.23, 127.0.0.1")],
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let loc = r.header("location").expect("location").to_owned();
        let id = loc.split("/Patient/").nth(1).unwrap().split('/').next().unwrap().to_owned();
        let events = audits(&c);
        let create = events
            .iter()
            .find(|e| e["subtype"][0]["code"] == "create"
                && e["entity"].as_array().into_iter().flatten().any(|x| x["what"]["reference"] == format!("Patient/{id}")))
            .unwrap_or_else(|| panic!("no create record: {events:?}"));
        assert_eq!(create["source"]["observer"]["identifier"]["value"], "audit-node-7");
        assert_eq!(create["agent"][0]["network"]["address"], "198.51.100.23");
    }

    fn an_untrusted_peer_cannot_name_the_client(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        let r = c.post_with("/Patient", &sample_patient(), &[("X-Forwarded-For", "198.51.100.23")]);
        assert_eq!(r.status, 201);
        let events = audits(&c);
        let create = events.iter().find(|e| e["subtype"][0]["code"] == "create").expect("create record");
        assert_eq!(create["agent"][0]["network"]["address"], "127.0.0.1");
        assert!(create["source"]["observer"]["identifier"]["value"].as_str().is_some_and(|n| !n.is_empty()));
    }
}

/// With authorization on, the probes need no token (and data still does).
fn health_is_public(backend: Backend) {
    conformance_tests::smart::run_with_auth(backend, &[], |server| {
        let root = root_client(server);
        assert_eq!(root.get("/healthz").status, 200);
        assert_eq!(root.get("/readyz").status, 200);
        assert_eq!(server.client().get("/Patient").status, 401);
    });
}

#[test]
fn health_endpoints_are_public_under_authorization_sqlite() {
    health_is_public(Backend::Sqlite);
}

#[test]
fn health_endpoints_are_public_under_authorization_postgres() {
    health_is_public(Backend::Postgres);
}

/// A TCP relay between the server and PostgreSQL that the test can cut:
/// "the database became unreachable" without stopping the shared
/// PostgreSQL other tests use.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay port");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut2, streams2) = (cut.clone(), streams.clone());
        std::thread::spawn(move || {
            // Bounded: the relay lives at most as long as a test may.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !cut2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).ok();
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        let mut all = streams2.lock().unwrap();
                        all.push(client.try_clone().unwrap());
                        all.push(server.try_clone().unwrap());
                        for (mut from, mut to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server, client),
                        ] {
                            std::thread::spawn(move || {
                                let mut buf = [0u8; 16384];
                                while let Ok(n) = from.read(&mut buf) {
                                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                let _ = to.shutdown(Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            // Dropping the listener refuses new connections from here on.
        });
        Relay { port, cut, streams }
    }

    /// Closes every relayed connection and stops accepting.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `host:port` and the URL of `db` reached through `relay_port`.
fn through_relay(db_url: &str, relay_port: u16) -> (String, String) {
    let rest = db_url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    let relayed = db_url.replacen(
        authority,
        &authority.replace(
            authority.rsplit_once('@').map_or(authority, |(_, h)| h),
            &format!("127.0.0.1:{relay_port}"),
        ),
        1,
    );
    (hostport, relayed)
}

/// With PostgreSQL unreachable, `/readyz` says 503 with a reason within a
/// few seconds, `/healthz` and `/fhir/metadata` still answer 200, and a
/// data request is a transient 503 with `Retry-After`.
#[test]
fn readyz_is_503_when_the_database_is_unreachable_postgres() {
    if Backend::Postgres.skipped() {
        return;
    }
    let url = conformance_tests::postgres::admin_url();
    let (upstream, _) = through_relay(&url, 0);
    let relay = Relay::start(upstream);
    let relay_port = relay.port;
    let via_relay = move |real: &str| through_relay(real, relay_port).1;
    let server = TestServer::launch(
        Backend::Postgres,
        Launch {
            args: &["--pool-timeout-secs", "1"],
            database_as: Some(&via_relay),
            ..Launch::default()
        },
    );
    let root = root_client(&server);
    assert_eq!(root.get("/readyz").status, 200, "{}", server.log_text());
    let id = {
        let r = server.client().post("/Patient", &sample_patient());
        assert_eq!(r.status, 201);
        r.header("location")
            .unwrap()
            .split("/Patient/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    };
    relay.cut();
    let started = Instant::now();
    let ready = root.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ready.json()["status"], "not ready");
    assert!(ready.json()["reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(root.get("/healthz").status, 200);
    assert_eq!(server.client().get("/metadata").status, 200);
    let read = server.client().get(&format!("/Patient/{id}"));
    assert_eq!(read.status, 503, "{}", read.text());
    assert!(read.header("retry-after").is_some(), "{:?}", read.headers);
    assert_eq!(read.json()["issue"][0]["code"], "transient");
}

/// Holds the database's write lock (SQLite) or a table lock (PostgreSQL)
/// from a CLI session until dropped.
struct Holder(Child);

impl Holder {
    fn start(backend: Backend, database: &str) -> Holder {
        let (mut child, sql) = match backend {
            Backend::Sqlite => (
                Command::new("sqlite3")
                    .arg(database.trim_start_matches("sqlite:"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("sqlite3"),
                "BEGIN EXCLUSIVE;\nSELECT 1;\n",
            ),
            Backend::Postgres => (
                Command::new("psql")
                    .args(["-X", "-q", database])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("psql"),
                "BEGIN; LOCK TABLE resources, resource_versions IN ACCESS EXCLUSIVE MODE;\n",
            ),
        };
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        // Let the lock be taken before the server is asked anything.
        std::thread::sleep(Duration::from_millis(700));
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.0.stdin.take() {
            let _ = stdin.write_all(b"ROLLBACK;\n");
        }
        let _ = self.0.wait();
    }
}

backend_tests! {
    /// `--pool-max 1`: while the one connection is held by a request
    /// stuck on a database lock, the next request waits
    /// `--pool-timeout-secs` and is answered 503 with `Retry-After` and a
    /// transient OperationOutcome; after the lock goes, requests succeed.
    fn an_exhausted_pool_answers_503_with_retry_after(server) with [
        "--pool-max", "1", "--pool-min-idle", "1", "--pool-timeout-secs", "1",
    ] {
        let c = server.client();
        let id = {
            let r = c.post("/Patient", &sample_patient());
            assert_eq!(r.status, 201);
            r.header("location").unwrap().split("/Patient/").nth(1).unwrap().split('/').next().unwrap().to_owned()
        };
        let holder = Holder::start(server.backend(), &server.database_url());
        // SQLite readers pass a writer's lock: the stuck request is a write.
        let base = server.base_url().to_owned();
        let stuck = std::thread::spawn(move || {
            Client::with_timeout(&base, Duration::from_secs(30))
                .try_request("PUT", "/Patient/held", Some("application/fhir+json"),
                    br#"{"resourceType":"Patient","id":"held"}"#)
                .map(|r| r.status)
        });
        std::thread::sleep(Duration::from_millis(700));
        let started = Instant::now();
        let r = c.get(&format!("/Patient/{id}"));
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(r.json()["issue"][0]["code"], "transient");
        drop(holder);
        let _ = stuck.join();
        assert_eq!(c.get(&format!("/Patient/{id}")).status, 200);
    }
}
