//! `fhir-server token`: signed test tokens from a local key, so testers and
//! the README can drive an authorizing server without an authorization
//! server; and `fhir-server token jwks` prints the JWKS that verifies them
//! (for `serve --auth-jwks`).
//!
//! ```text
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
//! fhir-server token jwks --key key.pem > jwks.json
//! fhir-server token --key key.pem --iss https://issuer --aud https://fhir \
//!     --scope "patient/*.rs" --patient 123
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::{Args, Subcommand};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkey::{Id, PKey, Private};
use serde_json::json;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: Option<TokenCommand>,
    #[command(flatten)]
    pub mint: MintArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the JWKS (public key) that verifies the tokens of KEY.
    Jwks {
        /// The private key (PEM: RSA, or EC P-256).
        #[arg(long, env = "FHIR_TOKEN_KEY")]
        key: PathBuf,
        /// The key id the tokens name.
        #[arg(long, env = "FHIR_TOKEN_KID", default_value = "test-key")]
        kid: String,
    },
}

#[derive(Debug, Args)]
pub struct MintArgs {
    /// The private key (PEM: RSA for RS256, EC P-256 for ES256).
    #[arg(long, env = "FHIR_TOKEN_KEY")]
    pub key: Option<PathBuf>,
    /// The key id written in the token header.
    #[arg(long, env = "FHIR_TOKEN_KID", default_value = "test-key")]
    pub kid: String,
    /// `iss`: must equal the server's `--auth-issuer`.
    #[arg(long, env = "FHIR_TOKEN_ISS")]
    pub iss: Option<String>,
    /// `aud`: must equal the server's `--auth-audience`.
    #[arg(long, env = "FHIR_TOKEN_AUD")]
    pub aud: Option<String>,
    /// Space-separated SMART scopes, e.g. "patient/*.rs openid".
    #[arg(long, env = "FHIR_TOKEN_SCOPE", default_value = "")]
    pub scope: String,
    /// The `patient` launch context.
    #[arg(long, env = "FHIR_TOKEN_PATIENT")]
    pub patient: Option<String>,
    /// `sub`.
    #[arg(long, env = "FHIR_TOKEN_SUB")]
    pub sub: Option<String>,
    /// `organization`: the Organization the client acts for
    /// (`Organization/id`), which patients' Consents can deny.
    #[arg(long, env = "FHIR_TOKEN_ORGANIZATION")]
    pub organization: Option<String>,
    /// Seconds until `exp` (negative: an already expired token, for tests).
    #[arg(
        long,
        env = "FHIR_TOKEN_TTL",
        default_value_t = 3600,
        allow_negative_numbers = true
    )]
    pub ttl: i64,
    /// RS256 or ES256; by default the one the key's type allows.
    #[arg(long, env = "FHIR_TOKEN_ALG")]
    pub alg: Option<String>,
}

/// The inputs of one token.
pub struct Minted<'a> {
    pub key: &'a Path,
    pub kid: &'a str,
    pub alg: &'a str,
    pub iss: &'a str,
    pub aud: &'a str,
    pub scope: &'a str,
    pub patient: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub organization: Option<&'a str>,
    pub ttl: i64,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    if let Some(TokenCommand::Jwks { key, kid }) = args.command {
        println!("{}", jwks(&key, &kid)?);
        return Ok(());
    }
    let m = args.mint;
    let (Some(key), Some(iss), Some(aud)) = (m.key, m.iss, m.aud) else {
        bail!("fhir-server token needs --key, --iss and --aud (or: token jwks --key KEY)");
    };
    let pkey = read_key(&key)?;
    let alg = match m.alg {
        Some(a) => a,
        None => default_alg(&pkey)?.to_owned(),
    };
    let token = mint(&Minted {
        key: &key,
        kid: &m.kid,
        alg: &alg,
        iss: &iss,
        aud: &aud,
        scope: &m.scope,
        patient: m.patient.as_deref(),
        sub: m.sub.as_deref(),
        organization: m.organization.as_deref(),
        ttl: m.ttl,
    })?;
    println!("{token}");
    Ok(())
}

fn read_key(path: &Path) -> anyhow::Result<PKey<Private>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read the key {}", path.display()))?;
    PKey::private_key_from_pem(&pem)
        .with_context(|| format!("{} is not a PEM private key", path.display()))
}

fn default_alg(key: &PKey<Private>) -> anyhow::Result<&'static str> {
    match key.id() {
        Id::RSA => Ok("RS256"),
        Id::EC => Ok("ES256"),
        other => bail!("keys of type {other:?} are not supported (RSA, EC P-256)"),
    }
}

/// A signed JWT with `iss`, `aud`, `iat`, `nbf`, `exp`, `scope` and the
/// optional `sub` and `patient`.
pub fn mint(m: &Minted<'_>) -> anyhow::Result<String> {
    let pkey = read_key(m.key)?;
    let (alg, key) = match (m.alg, pkey.id()) {
        ("RS256", Id::RSA) => (
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&pkey.rsa()?.private_key_to_der()?),
        ),
        ("ES256", Id::EC) => (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&pkey.private_key_to_pkcs8()?),
        ),
        (alg, id) => {
            bail!("cannot sign {alg} with a key of type {id:?} (RS256: RSA, ES256: EC P-256)")
        }
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": m.iss,
        "aud": m.aud,
        "iat": now,
        "nbf": now,
        "exp": now + m.ttl,
        "scope": m.scope,
    });
    if let Some(p) = m.patient {
        claims["patient"] = json!(p);
    }
    if let Some(s) = m.sub {
        claims["sub"] = json!(s);
    }
    if let Some(o) = m.organization {
        claims["organization"] = json!(o);
    }
    let mut header = Header::new(alg);
    header.kid = Some(m.kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).context("cannot sign the token")
}

/// The public half of `key` as a JWKS with one key.
pub fn jwks(key: &Path, kid: &str) -> anyhow::Result<String> {
    let pkey = read_key(key)?;
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let jwk = match pkey.id() {
        Id::RSA => {
            let rsa = pkey.rsa()?;
            json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                   "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec())})
        }
        Id::EC => {
            let ec = pkey.ec_key()?;
            if ec.group().curve_name() != Some(openssl::nid::Nid::X9_62_PRIME256V1) {
                bail!("only EC keys on P-256 sign ES256");
            }
            let mut ctx = openssl::bn::BigNumContext::new()?;
            let mut x = openssl::bn::BigNum::new()?;
            let mut y = openssl::bn::BigNum::new()?;
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
            json!({"kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                   "x": b64(&x.to_vec_padded(32)?), "y": b64(&y.to_vec_padded(32)?)})
        }
        other => bail!("keys of type {other:?} are not supported (RSA, EC P-256)"),
    };
    Ok(serde_json::to_string_pretty(&json!({ "keys": [jwk] }))?)
}
