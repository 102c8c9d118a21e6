//! The README's curl walk-through runs as written (issue 17, README): every
//! `sh` block between `<!-- walkthrough -->` and `<!-- /walkthrough -->`
//! in `README.md`, command by command and in order, against one fresh
//! server, with the README's `http://127.0.0.1:8080/fhir` replaced by the
//! server's base. Each command must succeed: curl exits 0 and the answer is
//! 2xx, or 304 for a read with `If-None-Match`. So a README step that
//! depends on an earlier one (or is broken by a later one, as deleting
//! `Patient/example` before the steps that read it was) fails here.
//!
//! A command is a line starting with `curl ` and the lines after it up to
//! the next such line (continuations and multi-line quoted bodies); a block
//! holding anything else fails, so the test cannot silently run less than
//! the README shows.

use std::path::Path;
use std::process::Command;

use conformance_tests::{backend_tests, tools, TestServer};

/// The base URL the README's commands use.
const README_BASE: &str = "http://127.0.0.1:8080/fhir";

/// The README's walk-through commands, in order.
fn walkthrough_commands() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    commands(&text)
}

/// The curl commands of the `sh` blocks inside the walkthrough markers.
fn commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut in_section, mut in_block) = (false, false);
    for (n, line) in readme.lines().enumerate() {
        let n = n + 1;
        match line.trim() {
            "<!-- walkthrough -->" => {
                assert!(!in_section, "README.md:{n}: nested walkthrough marker");
                in_section = true;
                continue;
            }
            "<!-- /walkthrough -->" => {
                assert!(in_section && !in_block, "README.md:{n}: stray end marker");
                in_section = false;
                continue;
            }
            _ => {}
        }
        if !in_section {
            continue;
        }
        if line.starts_with("```") {
            in_block = if in_block {
                false
            } else {
                assert_eq!(line, "```sh", "README.md:{n}: walkthrough blocks are sh");
                true
            };
            continue;
        }
        if !in_block {
            continue;
        }
        if line.starts_with("curl ") {
            out.push(line.to_owned());
        } else if let Some(cmd) = out.last_mut().filter(|_| !line.trim().is_empty()) {
            cmd.push('\n');
            cmd.push_str(line);
        } else {
            panic!(
                "README.md:{n}: a walkthrough line that is not part of a curl command: {line:?}"
            );
        }
    }
    assert!(!in_section, "README.md: walkthrough section not closed");
    out
}

/// Runs one README command through bash with `curl` wrapped so that it
/// prints the status; returns the status and everything printed.
fn run(command: &str, server: &TestServer) -> (u16, String) {
    assert!(
        command.contains(README_BASE),
        "a walkthrough command that does not use {README_BASE}: {command}"
    );
    let command = command.replace(README_BASE, server.base_url());
    let script = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --silent --show-error --write-out '\\nHTTP_STATUS %{{http_code}}\\n' \"$@\"; }}\n\
         {command}\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "curl failed ({}):\n{command}\n{text}",
        out.status
    );
    let status = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("HTTP_STATUS "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no status from:\n{command}\n{text}"));
    (status, text)
}

backend_tests! {
    /// Every command of the walk-through succeeds, in order, on a fresh
    /// server.
    fn readme_walkthrough_runs_in_order(server) {
        if tools::require_tool("curl", tools::program("curl", "--version")).is_none() {
            return;
        }
        let commands = walkthrough_commands();
        assert!(commands.len() >= 20, "only {} walkthrough commands found", commands.len());
        for (i, command) in commands.iter().enumerate() {
            let (status, text) = run(command, server);
            let ok = (200..300).contains(&status)
                || (status == 304 && command.contains("If-None-Match"));
            assert!(
                ok,
                "walkthrough command {} answered {status}:\n{command}\n{text}\n--- server log ---\n{}",
                i + 1,
                server.log_text()
            );
        }
    }
}

#[test]
fn commands_are_split_at_each_curl() {
    let readme = "text\n<!-- walkthrough -->\n```sh\ncurl -X POST http://127.0.0.1:8080/fhir \\\n  -d '{\n  \"a\": 1}'\ncurl http://127.0.0.1:8080/fhir/metadata\n```\n<!-- /walkthrough -->\n```sh\ncurl elsewhere\n```\n";
    assert_eq!(
        commands(readme),
        vec![
            "curl -X POST http://127.0.0.1:8080/fhir \\\n  -d '{\n  \"a\": 1}'".to_owned(),
            "curl http://127.0.0.1:8080/fhir/metadata".to_owned(),
        ]
    );
}
