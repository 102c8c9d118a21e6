//! Several real `fhir-server serve` processes on one database: the
//! multi-node harness (issue #18). [`Cluster::new`] makes the database (a
//! fresh PostgreSQL database, or a SQLite file in a fresh directory that
//! every node opens); [`Cluster::spawn`] starts a node without waiting, so
//! nodes can be started together; [`Cluster::wait_ready`] waits for one.
//! Dropping the cluster kills every node, then removes the database.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::http::Client;
use crate::postgres::PgDatabase;
use crate::server::{server_binary, unique_suffix, Backend};

/// How long a node may take to answer `/fhir/metadata` (several start on
/// two cores at once, each applying or waiting for migrations).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// One `serve` process of a [`Cluster`].
pub struct Node {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Node {
    /// `http://127.0.0.1:PORT/fhir`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the node has logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The database all nodes of a [`Cluster`] share, and its nodes.
pub struct Cluster {
    backend: Backend,
    dir: PathBuf,
    pg: Option<PgDatabase>,
    nodes: Vec<Node>,
}

impl Cluster {
    /// A fresh, empty database and no node yet.
    pub fn new(backend: Backend) -> Cluster {
        let dir =
            std::env::temp_dir().join(format!("fhir-nodes-{}-{}", backend.name(), unique_suffix()));
        fs::create_dir_all(&dir).expect("create the cluster's directory");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is needed for this test and is not usable: {e}\n\
                     Point FHIR_TEST_POSTGRES_URL at one, or set \
                     FHIR_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
                )
            })),
        };
        Cluster {
            backend,
            dir,
            pg,
            nodes: Vec::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The `--database` every node gets.
    pub fn database_url(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url().to_string(),
            None => format!("sqlite:{}", self.dir.join("fhir.db").display()),
        }
    }

    /// Starts a node with `serve --listen … --database …` and `extra`,
    /// without waiting for it; returns its index.
    pub fn spawn(&mut self, extra: &[&str]) -> usize {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let i = self.nodes.len();
        let log = self.dir.join(format!("node{i}.log"));
        let file = fs::File::create(&log).expect("create the node's log");
        let child = Command::new(server_binary())
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", &self.database_url()])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("FHIR_TEST_SERVER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log handle"))
            .stderr(file)
            .spawn()
            .expect("start a node");
        self.nodes.push(Node {
            child,
            base: format!("http://127.0.0.1:{port}/fhir"),
            log,
        });
        i
    }

    /// Waits until node `i` answers `/fhir/metadata` with 200; `Err` with
    /// its exit status and log when it exits first or takes too long.
    pub fn wait_ready(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let client = Client::with_timeout(&node.base, Duration::from_secs(2));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!(
                    "node {i} exited with {status}\n--- log ---\n{}",
                    node.log_text()
                ));
            }
            if client.try_get("/metadata").is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {i} did not answer within {STARTUP_TIMEOUT:?}\n--- log ---\n{}",
                    node.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until node `i` exits (it is expected to refuse to start);
    /// returns whether it succeeded and its log.
    pub fn wait_exit(&mut self, i: usize) -> (bool, String) {
        let node = &mut self.nodes[i];
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return (status.success(), node.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "node {i} neither started nor exited:\n{}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `n` nodes together (all spawned before any is waited for)
    /// and waits for each; panics with the logs of those that fail.
    pub fn start(&mut self, n: usize, extra: &[&str]) -> Vec<usize> {
        let ids: Vec<usize> = (0..n).map(|_| self.spawn(extra)).collect();
        let failed: Vec<String> = ids
            .iter()
            .filter_map(|&i| self.wait_ready(i).err())
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n\n"));
        ids
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Runs another `fhir-server` command (`migrate`, …) to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(server_binary())
            .args(args)
            .output()
            .expect("run fhir-server")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("node logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if let Some(pg) = self.pg.take() {
            pg.drop_database();
        }
    }
}
