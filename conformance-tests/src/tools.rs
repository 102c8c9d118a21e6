//! What a test needs from outside the repository — node, npm packages and a
//! Python venv in the test cache, the fetched official examples, `curl` —
//! and the one rule for when it is missing.
//!
//! `scripts/fetch-test-data.sh` fetches these and `.ci/run` installs what
//! that script needs, so in CI nothing may be missing: under `CI=true` (which
//! `.ci/run` sets) a missing tool fails the test, naming what is missing and
//! how to get it. A suite that passes because its tool is absent would say
//! "green" about code it never ran. Outside CI a developer without node or
//! Python can still run the rest: the test prints a loud `SKIPPED` and
//! returns.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::examples_pkg;

/// True under CI: `CI` is `true` or `1` (any case), as CI services and
/// `.ci/run` set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
}

/// The rule: `found` is what the test needs, or why it is missing. Gives
/// it back when there; when missing, panics under CI and otherwise says
/// `SKIPPED` on stderr and gives `None`, for the test to return.
#[track_caller]
pub fn require_tool<T>(what: &str, found: Result<T, String>) -> Option<T> {
    let why = match found {
        Ok(t) => return Some(t),
        Err(why) => why,
    };
    let fix = "run `bash scripts/fetch-test-data.sh` (`.ci/run` installs what it needs: \
               node, npm, python3-venv, curl)";
    if in_ci() {
        panic!("missing {what} (under CI=true a missing tool fails the test): {why}\n{fix}");
    }
    eprintln!(
        "\n**********\nSKIPPED, missing {what}: {why}\n{fix}\n\
         (under CI=true this test fails)\n**********\n"
    );
    None
}

/// `program` when it runs (`program ARG` exits 0), else why not.
pub fn program(program: &str, arg: &str) -> Result<PathBuf, String> {
    match Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(PathBuf::from(program)),
        Ok(s) => Err(format!("`{program} {arg}` exited with {s}")),
        Err(e) => Err(format!("cannot run `{program}`: {e}")),
    }
}

/// The `node_modules` folder under `$FHIR_TEST_CACHE/{dir}` when it holds
/// npm `package` and `node` runs, else why not.
pub fn node_modules(dir: &str, package: &str) -> Result<PathBuf, String> {
    program("node", "--version")?;
    let modules = examples_pkg::cache_dir().join(dir).join("node_modules");
    if modules.join(package).join("package.json").is_file() {
        Ok(modules)
    } else {
        Err(format!(
            "npm `{package}` is not installed in {}",
            modules.display()
        ))
    }
}

/// The python of the venv `$FHIR_TEST_CACHE/{dir}` when it can import
/// every module of `imports`, else why not.
pub fn python_venv(dir: &str, imports: &[&str]) -> Result<PathBuf, String> {
    let python = examples_pkg::cache_dir().join(dir).join("bin/python");
    let out = Command::new(&python)
        .arg("-c")
        .arg(format!("import {}", imports.join(", ")))
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if out.status.success() {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import {}: {}",
            python.display(),
            imports.join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
