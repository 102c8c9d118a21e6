//! A second `serve` process on the database of a [`TestServer`], for the
//! tests of several servers on one database (`audit_two_nodes.rs`,
//! `cache_invalidation.rs`). Its output is discarded; it is killed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::server_binary;
use crate::{Client, TestServer};

pub struct SecondNode {
    child: Child,
    /// `http://127.0.0.1:PORT/fhir`.
    pub base: String,
}

impl SecondNode {
    /// Starts `serve` on `first`'s database with `extra` arguments and
    /// waits until it answers `/metadata`.
    pub fn start(first: &TestServer, extra: &[&str]) -> SecondNode {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(server_binary())
            .args(["serve", "--listen", &listen])
            .args(["--database", &first.database_url()])
            .args(extra)
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
            std::thread::sleep(Duration::from_millis(50));
        }
        SecondNode { child, base }
    }

    /// A client of this node.
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }
}

impl Drop for SecondNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
