//! Starting and stopping a real `fhir-server` process for one test.
//!
//! Each [`TestServer`] owns one child process, listening on a free loopback
//! port, with a database nobody else uses: a SQLite file in a fresh temporary
//! directory, or a fresh PostgreSQL database. Dropping it kills the process
//! and removes the database, so tests can run in parallel and leave nothing
//! behind (unless the test process itself is killed).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::Client;
use crate::postgres::PgDatabase;

/// How long a freshly started server may take to answer `/fhir/metadata`.
/// Generous because CI builds in debug mode on two cores and PostgreSQL runs
/// its migrations on start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The storage backend a [`TestServer`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: a SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server named by
    /// `FHIR_TEST_POSTGRES_URL` (default [`crate::postgres::DEFAULT_URL`]).
    Postgres,
}

impl Backend {
    /// The backends a benchmark's `--backend` value names: `sqlite`,
    /// `postgres` or `both`.
    pub fn from_choice(name: &str) -> Option<Vec<Backend>> {
        match name {
            "sqlite" => Some(vec![Backend::Sqlite]),
            "postgres" => Some(vec![Backend::Postgres]),
            "both" => Some(Backend::ALL.to_vec()),
            _ => None,
        }
    }

    /// Both backends, SQLite first.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// `"sqlite"` or `"postgres"`, as used in test names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// True when this backend's tests should be skipped: only PostgreSQL,
    /// and only when `FHIR_TEST_SKIP_POSTGRES=1`. An unreachable PostgreSQL
    /// is otherwise a failure, so that CI cannot silently lose half its tests.
    pub fn skipped(self) -> bool {
        self == Backend::Postgres && std::env::var("FHIR_TEST_SKIP_POSTGRES").as_deref() == Ok("1")
    }
}

/// How [`TestServer::launch`] starts the server; the default is
/// [`TestServer::start`]'s.
#[derive(Default)]
pub struct Launch<'a> {
    /// Extra `serve` arguments.
    pub args: &'a [&'a str],
    /// Environment variables for the server.
    pub env: Vec<(&'a str, String)>,
    /// The listen address and database in `FHIR_LISTEN` and
    /// `FHIR_DATABASE_URL` rather than flags.
    pub by_env: bool,
    /// What the server is told the database is, from its real URL (for
    /// instance, a relay in front of it); [`TestServer::database_url`]
    /// stays the real one.
    pub database_as: Option<&'a dyn Fn(&str) -> String>,
}

/// A running `fhir-server` with its own port and database.
pub struct TestServer {
    backend: Backend,
    child: Child,
    port: u16,
    base: String,
    dir: PathBuf,
    log: PathBuf,
    pg: Option<PgDatabase>,
}

impl TestServer {
    /// Starts the server on `backend` with default options and waits until it
    /// answers. Panics (failing the test) with the server's log if it does not.
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with_args(backend, &[])
    }

    /// Like [`TestServer::start`], with extra `serve` arguments such as
    /// `["--max-body-bytes", "1024"]`.
    pub fn start_with_args(backend: Backend, extra: &[&str]) -> TestServer {
        Self::launch(
            backend,
            Launch {
                args: extra,
                ..Launch::default()
            },
        )
    }

    /// Starts the server as `how` says (see [`Launch`]).
    pub fn launch(backend: Backend, how: Launch<'_>) -> TestServer {
        let extra = how.args;
        let bin = server_binary();
        let dir = fresh_temp_dir(backend);
        let (database, pg) = match backend {
            Backend::Sqlite => (format!("sqlite:{}", dir.join("fhir.db").display()), None),
            Backend::Postgres => {
                let db = PgDatabase::create().unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is needed for this test and is not usable: {e}\n\
                         Start it (see .ci/run), point FHIR_TEST_POSTGRES_URL at one, \
                         or set FHIR_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
                    )
                });
                (db.url().to_string(), Some(db))
            }
        };
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.join("server.log");
        let log_file = fs::File::create(&log).expect("create server log");
        let given = how
            .database_as
            .map_or_else(|| database.clone(), |f| f(&database));
        let mut cmd = Command::new(&bin);
        cmd.arg("serve");
        if how.by_env {
            cmd.env("FHIR_LISTEN", &listen)
                .env("FHIR_DATABASE_URL", &given);
        } else {
            cmd.args(["--listen", &listen, "--database", &given]);
        }
        cmd.args(extra)
            .envs(how.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env(
                "RUST_LOG",
                std::env::var("FHIR_TEST_SERVER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                if let Some(pg) = pg {
                    pg.drop_database();
                }
                panic!("cannot start {}: {e}", bin.display());
            }
        };
        let mut server = TestServer {
            backend,
            child,
            port,
            base: format!("http://127.0.0.1:{port}/fhir"),
            dir,
            log,
            pg,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let client = Client::with_timeout(&self.base, Duration::from_secs(2));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "fhir-server ({}) exited with {status} before answering /fhir/metadata\n--- server log ---\n{}",
                    self.backend.name(),
                    self.log_text()
                );
            }
            if let Ok(resp) = client.try_get("/metadata") {
                if resp.status == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "fhir-server ({}) did not answer 200 on /fhir/metadata within {:?}\n--- server log ---\n{}",
                    self.backend.name(),
                    STARTUP_TIMEOUT,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The backend this server stores into.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The FHIR base URL, e.g. `http://127.0.0.1:41234/fhir` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id (for its memory figures in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A fresh HTTP client bound to this server's base URL.
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// Kills the server with SIGKILL, as a crash or a power cut would stop
    /// it (no shutdown, no flush), then starts it again on the same
    /// database and port and waits until it answers.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let database = self.database_url();
        let log_file = fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open server log");
        let listen = format!("127.0.0.1:{}", self.port);
        self.child = Command::new(server_binary())
            .arg("serve")
            .args(["--listen", &listen, "--database", &database])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .expect("restart fhir-server");
        self.wait_ready();
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) to the server and waits up to
    /// `timeout` for it to exit; `None` if it is still running then (it is
    /// killed by Drop).
    pub fn signal_and_wait(
        &mut self,
        signal: &str,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The `--database` URL the server runs on, for other commands (such as
    /// `fhir-server import`) to write into the same store.
    pub fn database_url(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url().to_string(),
            None => format!("sqlite:{}", self.dir.join("fhir.db").display()),
        }
    }

    /// Everything the server has logged so far (stdout and stderr).
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Keep the log for the failing test, and show where it is.
            eprintln!("fhir-server log kept at {}", self.log.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
        // The database goes only after the process that held it open is gone.
        if let Some(pg) = self.pg.take() {
            pg.drop_database();
        }
    }
}

/// A port that was free a moment ago: bind 127.0.0.1:0, read the port the
/// kernel chose, and release it for the server. Another process could take
/// it in between; on a test machine that is rare enough.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// A name unique to this process and moment: `<pid>_<nanos>`.
pub fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{}", std::process::id(), nanos)
}

fn fresh_temp_dir(backend: Backend) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fhir-ct-{}-{}", backend.name(), unique_suffix()));
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The `fhir-server` executable the tests run.
///
/// `FHIR_SERVER_BIN` wins when set. Otherwise the binary is built once per
/// test process with `cargo build -p fhir-server`, in the profile this crate
/// was built with (release when the tests or the bench run with `--release`),
/// and its path is taken from cargo's own JSON messages, so a custom
/// `CARGO_TARGET_DIR` is honoured.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FHIR_SERVER_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "FHIR_SERVER_BIN={} is not a file", p.display());
            return p;
        }
        cargo_build_bin("fhir-server", "fhir-server")
    })
    .clone()
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance-tests lives in the workspace root")
}

/// Builds binary `bin` of workspace package `package` in this crate's
/// profile and returns the executable's path, as cargo reports it.
pub fn cargo_build_bin(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "-p",
        package,
        "--bin",
        bin,
        "--message-format=json-render-diagnostics",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
    let mut executable = None;
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == bin {
            if let Some(exe) = msg["executable"].as_str() {
                executable = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().expect("wait for cargo build");
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed ({status})"
    );
    executable.unwrap_or_else(|| panic!("cargo build -p {package} reported no {bin} executable"))
}
