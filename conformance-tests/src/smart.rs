//! SMART tokens for black-box tests of everything that depends on who
//! calls (authorization, Consent, audit agents). Keys are made once per
//! test process with the openssl CLI: an RSA key (kid `rsa`) and an EC
//! P-256 key (kid `ec`), both in the JWKS the server trusts (from
//! `fhir-server token jwks`), and an RSA impostor the JWKS does not hold.
//! Tokens come from `fhir-server token`, so the tests also cover that
//! command.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::server::server_binary;
use crate::{Backend, Client, TestServer};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://fhir.test/fhir";

/// Which key signs a token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Key {
    /// RS256, trusted.
    Rsa,
    /// ES256, trusted.
    Ec,
    /// RS256 under the `rsa` kid, but not the key the JWKS holds.
    Impostor,
}

impl Key {
    fn file(self) -> &'static str {
        match self {
            Key::Rsa => "rsa.pem",
            Key::Ec => "ec.pem",
            Key::Impostor => "impostor.pem",
        }
    }

    fn kid(self) -> &'static str {
        match self {
            Key::Ec => "ec",
            Key::Rsa | Key::Impostor => "rsa",
        }
    }
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fhir-smart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let gen = |key: Key, args: &[&str]| {
            let made = Command::new("openssl")
                .arg("genpkey")
                .args(args)
                .arg("-out")
                .arg(dir.join(key.file()))
                .status()
                .expect("openssl CLI");
            assert!(made.success(), "openssl genpkey {args:?}");
        };
        let rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
        gen(Key::Rsa, &rsa);
        gen(Key::Impostor, &rsa);
        gen(
            Key::Ec,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        );
        let jwks = |key: Key| -> Value {
            let text = run(Command::new(server_binary())
                .args(["token", "jwks", "--kid", key.kid(), "--key"])
                .arg(dir.join(key.file())));
            serde_json::from_str(&text).expect("JWKS JSON")
        };
        let mut all = jwks(Key::Rsa);
        let ec = jwks(Key::Ec);
        if let (Some(keys), Some(more)) = (all["keys"].as_array_mut(), ec["keys"].as_array()) {
            keys.extend(more.iter().cloned());
        }
        std::fs::write(dir.join("jwks.json"), all.to_string()).expect("write JWKS");
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

/// The trusted JWKS (both keys) as JSON text.
pub fn jwks_text() -> String {
    std::fs::read_to_string(dir().join("jwks.json")).expect("JWKS file")
}

/// A token signed by the trusted RSA key but naming `kid`, which the JWKS
/// may not hold.
pub fn mint_with_kid(kid: &str, scope: &str) -> String {
    run(Command::new(server_binary())
        .args(["token", "--kid", kid, "--key"])
        .arg(dir().join(Key::Rsa.file()))
        .args(["--iss", ISSUER, "--aud", AUDIENCE])
        .args(["--scope", scope, "--sub", "tester", "--ttl", "600"]))
}

/// The `serve` arguments that turn authorization on, trusting the JWKS.
pub fn auth_args() -> Vec<String> {
    vec![
        "--auth-issuer".into(),
        ISSUER.into(),
        "--auth-audience".into(),
        AUDIENCE.into(),
        "--auth-jwks".into(),
        dir().join("jwks.json").display().to_string(),
    ]
}

/// Runs `test` against a fresh server with authorization on (and `extra`
/// `serve` arguments).
pub fn run_with_auth(backend: Backend, extra: &[&str], test: impl FnOnce(&TestServer)) {
    let auth = auth_args();
    let mut args: Vec<&str> = auth.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    crate::run_on(backend, &args, test);
}

/// A token to mint: trusted issuer, audience and RSA key, `sub` `tester`,
/// ten minutes to live, unless changed.
#[derive(Clone, Debug)]
pub struct Token<'a> {
    pub key: Key,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub scope: &'a str,
    /// The `patient` launch context.
    pub patient: Option<&'a str>,
    /// The `organization` claim (Consent actors).
    pub organization: Option<&'a str>,
    /// Seconds until expiry; negative for an expired token.
    pub ttl: i64,
    /// `sub`: who the token was issued for.
    pub subject: &'a str,
}

impl<'a> Token<'a> {
    pub fn new(scope: &'a str) -> Token<'a> {
        Token {
            key: Key::Rsa,
            issuer: ISSUER,
            audience: AUDIENCE,
            scope,
            patient: None,
            organization: None,
            ttl: 600,
            subject: "tester",
        }
    }

    /// The signed JWT, from `fhir-server token`.
    pub fn mint(&self) -> String {
        let mut cmd = Command::new(server_binary());
        cmd.args(["token", "--kid", self.key.kid(), "--key"])
            .arg(dir().join(self.key.file()))
            .args(["--iss", self.issuer, "--aud", self.audience])
            .args(["--scope", self.scope, "--sub", self.subject])
            .args(["--ttl", &self.ttl.to_string()]);
        if let Some(p) = self.patient {
            cmd.args(["--patient", p]);
        }
        if let Some(o) = self.organization {
            cmd.args(["--organization", o]);
        }
        run(&mut cmd)
    }
}

/// A valid token with `scope` and, when given, the `organization` claim.
pub fn token(scope: &str, organization: Option<&str>) -> String {
    Token {
        organization,
        ..Token::new(scope)
    }
    .mint()
}

/// A client of `server` with [`token`].
pub fn client(server: &TestServer, scope: &str, organization: Option<&str>) -> Client {
    server.client().with_bearer(&token(scope, organization))
}

/// A client of `server` with a valid token for `scope` in the launch
/// context of `patient`.
pub fn patient_client(server: &TestServer, scope: &str, patient: Option<&str>) -> Client {
    let token = Token {
        patient,
        ..Token::new(scope)
    }
    .mint();
    server.client().with_bearer(&token)
}
