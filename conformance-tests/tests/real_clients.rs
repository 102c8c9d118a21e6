//! Real clients (issue 4): the server, unmodified, driven by three FHIR
//! client libraries through their own APIs — the Python packages
//! `fhirclient` and `fhirpy` and the npm package `fhir-kit-client` — with
//! the scripts in `conformance-tests/clients/`: create, read, update, search
//! by identifier (and paging through next links), history, delete, and a
//! read after the delete that the library must report as 410 Gone. Every
//! response body the clients receive also parses with the PyPI package
//! `fhir.resources` (`clients/validate_bodies.py`).
//!
//! The libraries live in the test cache (`scripts/fetch-test-data.sh`
//! installs them: a venv in `$FHIR_TEST_CACHE/python-clients`, npm packages
//! in `$FHIR_TEST_CACHE/fhir-kit-client-js`). What it needs missing is a
//! failure under `CI=true`, a loud skip elsewhere ([`tools::require_tool`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conformance_tests::server::unique_suffix;
use conformance_tests::{backend_tests, tools, TestServer};

/// How long one client script may run; a hung client fails the test.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// The venv's python when it has the client packages.
fn python() -> Option<PathBuf> {
    tools::require_tool(
        "the Python client venv (fhirclient, fhirpy, fhir.resources)",
        tools::python_venv(
            "python-clients",
            &["fhirclient", "fhirpy", "fhir.resources"],
        ),
    )
}

/// Runs `cmd` with a time limit; panics with everything it printed (and
/// the server's log) unless it exits 0. Returns its standard output.
fn run_script(what: &str, mut cmd: Command, server: &TestServer) -> String {
    let dir = std::env::temp_dir().join(format!("fhir-real-clients-{}", unique_suffix()));
    fs::create_dir_all(&dir).expect("temp dir");
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for client script") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_dir_all(&dir);
    eprintln!(
        "{what} on {} ({:.1?}):\n{stdout}{stderr}",
        server.backend().name(),
        started.elapsed()
    );
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!(
            "{what} failed on {} ({s})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
            server.backend().name(),
            server.log_text()
        ),
        None => panic!(
            "{what} did not finish within {SCRIPT_TIMEOUT:?} on {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
            server.backend().name(),
            server.log_text()
        ),
    }
}

fn python_flow(server: &TestServer, script: &str) {
    let Some(python) = python() else {
        return;
    };
    let mut cmd = Command::new(python);
    cmd.arg(clients_dir().join(script))
        .arg(server.base_url())
        // no __pycache__ inside the repository
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(clients_dir());
    let out = run_script(script, cmd, server);
    assert!(
        out.contains("flow passed"),
        "{script} did not report success:\n{out}"
    );
}

backend_tests! {
    /// fhirclient (SMART on FHIR's Python client) with its resource models.
    fn fhirclient_create_read_update_search_history_delete(server) {
        python_flow(server, "fhirclient_flow.py");
    }

    /// fhirpy's synchronous client.
    fn fhirpy_create_read_update_search_history_delete(server) {
        python_flow(server, "fhirpy_flow.py");
    }

    /// fhir-kit-client on node; the bodies it received are then parsed
    /// with fhir.resources.
    fn fhir_kit_client_create_read_update_search_history_delete(server) {
        let Some(python) = python() else {
            return;
        };
        let Some(kit_modules) = tools::require_tool(
            "node with npm fhir-kit-client",
            tools::node_modules("fhir-kit-client-js", "fhir-kit-client"),
        ) else {
            return;
        };
        let bodies = std::env::temp_dir().join(format!("fhir-kit-bodies-{}.json", unique_suffix()));
        let mut node = Command::new("node");
        node.arg(clients_dir().join("fhir_kit_client_flow.js"))
            .arg(server.base_url())
            .arg(&bodies)
            .env("FHIR_KIT_CLIENT_MODULES", &kit_modules)
            .current_dir(clients_dir());
        let out = run_script("fhir_kit_client_flow.js", node, server);
        assert!(out.contains("flow passed"), "fhir_kit_client_flow.js did not report success:\n{out}");

        let mut validate = Command::new(python);
        validate
            .arg(clients_dir().join("validate_bodies.py"))
            .arg(&bodies)
            .env("PYTHONDONTWRITEBYTECODE", "1");
        run_script("validate_bodies.py (fhir-kit-client bodies)", validate, server);
        let _ = fs::remove_file(&bodies);
    }
}
