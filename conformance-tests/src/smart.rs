//! SMART tokens for black-box tests of features that depend on who calls
//! (Consent, audit agents): one RSA key per test process (openssl CLI),
//! its JWKS from `fhir-server token jwks`, and tokens from `fhir-server
//! token`, optionally naming the `organization` the client acts for.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::server::server_binary;
use crate::{Backend, Client, TestServer};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://fhir.test/fhir";

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fhir-smart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = dir.join("key.pem");
        let made = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .status()
            .expect("openssl CLI");
        assert!(made.success(), "openssl genpkey");
        let jwks = run(Command::new(server_binary())
            .args(["token", "jwks", "--kid", "k", "--key"])
            .arg(&key));
        std::fs::write(dir.join("jwks.json"), jwks).expect("write JWKS");
        dir
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("fhir-server");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs `test` against a fresh server with authorization on (and `extra`
/// `serve` arguments).
pub fn run_with_auth(backend: Backend, extra: &[&str], test: impl FnOnce(&TestServer)) {
    let jwks = dir().join("jwks.json").display().to_string();
    let mut args = vec![
        "--auth-issuer",
        ISSUER,
        "--auth-audience",
        AUDIENCE,
        "--auth-jwks",
        jwks.as_str(),
    ];
    args.extend_from_slice(extra);
    crate::run_on(backend, &args, test);
}

/// A valid token with `scope`, `sub` `tester`, client `app` and, when
/// given, the `organization` claim.
pub fn token(scope: &str, organization: Option<&str>) -> String {
    let mut cmd = Command::new(server_binary());
    cmd.args(["token", "--kid", "k", "--iss", ISSUER, "--aud", AUDIENCE])
        .args(["--scope", scope, "--sub", "tester", "--key"])
        .arg(dir().join("key.pem"));
    if let Some(o) = organization {
        cmd.args(["--organization", o]);
    }
    run(&mut cmd)
}

/// A client of `server` with [`token`].
pub fn client(server: &TestServer, scope: &str, organization: Option<&str>) -> Client {
    server.client().with_bearer(&token(scope, organization))
}
