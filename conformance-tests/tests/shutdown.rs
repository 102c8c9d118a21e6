//! Clean shutdown: on SIGTERM or SIGINT the server stops accepting, finishes
//! what it was doing, and exits 0; what it acknowledged is there on the
//! next start (issue #3, point 6).

use std::time::Duration;

use conformance_tests::{create_patient, Backend, TestServer};

fn stops_cleanly(backend: Backend, signal: &str) {
    if backend.skipped() {
        return;
    }
    let mut server = TestServer::start(backend);
    let id = create_patient(&server.client());
    let status = server
        .signal_and_wait(signal, Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "still running 20 s after SIG{signal}\n{}",
                server.log_text()
            )
        });
    assert!(
        status.success(),
        "exit status after SIG{signal}: {status}\n{}",
        server.log_text()
    );
    assert!(
        server.log_text().contains("server stopped"),
        "{}",
        server.log_text()
    );
    server.kill_and_restart();
    server
        .client()
        .get(&format!("/Patient/{id}"))
        .expect_status(200);
}

#[test]
fn sigterm_stops_the_server_cleanly_sqlite() {
    stops_cleanly(Backend::Sqlite, "TERM");
}

#[test]
fn sigterm_stops_the_server_cleanly_postgres() {
    stops_cleanly(Backend::Postgres, "TERM");
}

#[test]
fn sigint_stops_the_server_cleanly_sqlite() {
    stops_cleanly(Backend::Sqlite, "INT");
}

#[test]
fn sigint_stops_the_server_cleanly_postgres() {
    stops_cleanly(Backend::Postgres, "INT");
}
