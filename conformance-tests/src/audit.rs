//! Helpers of the audit tests (`tests/audit.rs`, `tests/audit_two_nodes.rs`):
//! the test key, `fhir-server audit verify`, the stored records, and SQL
//! straight into a server's database (what an attacker with database
//! access does).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::server_binary;
use crate::{Backend, Client};

/// The HMAC key file every audited test server is started with.
pub const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/audit-test.key");

/// Every stored AuditEvent (following `next` links). Searching is itself
/// audited, so the answer includes records of these searches.
pub fn audits(c: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some("/AuditEvent?_count=200".to_owned());
    while let Some(url) = next.take() {
        let page = c.get(&url);
        page.expect_status(200);
        let b = page.json();
        for e in b["entry"].as_array().into_iter().flatten() {
            out.push(e["resource"].clone());
        }
        next = b["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str().map(str::to_owned));
    }
    out
}

/// `fhir-server audit verify` on `database` (with the checkpoint file when
/// given): success and its output.
pub fn verify_once(database: &str, checkpoints: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(server_binary());
    cmd.args([
        "audit",
        "verify",
        "--database",
        database,
        "--audit-key-file",
        KEY,
    ]);
    if let Some(p) = checkpoints {
        cmd.arg("--audit-checkpoint-file").arg(p);
    }
    let out = cmd.output().expect("fhir-server audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// [`verify_once`] after the sealer has chained every record (records
/// are sealed shortly after commit): retried while records are pending,
/// for up to 20 s.
pub fn verify_sealed(database: &str, checkpoints: Option<&Path>) -> (bool, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, text) = verify_once(database, checkpoints);
        if !ok || text.contains("; 0 pending") || Instant::now() > deadline {
            return (ok, text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The head sequence `audit verify` printed.
pub fn head_seq(verify_output: &str) -> Option<i64> {
    let rest = verify_output.split("head sequence ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// Runs SQL against a database with the backend's CLI.
pub fn sql(backend: Backend, database: &str, statement: &str) {
    let out = match backend {
        // The server's sealer writes too: wait for its lock, as the
        // server's own connections do, rather than fail at once.
        Backend::Sqlite => Command::new("sqlite3")
            .args(["-cmd", ".timeout 10000"])
            .arg(database.trim_start_matches("sqlite:"))
            .arg(statement)
            .output(),
        Backend::Postgres => Command::new("psql")
            .args([database, "-v", "ON_ERROR_STOP=1", "-c", statement])
            .output(),
    }
    .expect("database CLI");
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A SQL literal of the body column's type holding `json`.
pub fn body_literal(backend: Backend, json: &Value) -> String {
    let text = json.to_string().replace('\'', "''");
    match backend {
        Backend::Sqlite => format!("CAST('{text}' AS BLOB)"),
        Backend::Postgres => format!("convert_to('{text}', 'UTF8')"),
    }
}

/// The chain sequence a record carries, if it is sealed.
pub fn seq_of(e: &Value) -> Option<i64> {
    e["extension"].as_array()?.iter().find_map(|x| {
        x["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("audit-chain-sequence"))
            .then(|| x["valueInteger"].as_i64())?
    })
}
