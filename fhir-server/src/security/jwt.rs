//! Bearer JWT verification, as a SMART on FHIR resource server does it:
//! the signature (RS256 or ES256) against the issuer's JWKS, picked by
//! `kid`; `iss` and `aud` against the configured values; `exp` and `nbf`
//! with a small leeway for clock skew.
//!
//! The JOSE work is the `jsonwebtoken` crate's (JWK to key, signature
//! formats, claim checks); this module adds the JWKS source and cache and
//! turns the claims into an [`Access`].
//!
//! The JWKS comes from a file (read once) or an `http(s)` URL (fetched at
//! start, and again when a token names an unknown `kid`, at most once a
//! minute, so key rotation at the issuer works without a restart and a
//! flood of bad tokens cannot make the server hammer the issuer). The
//! refetch is single-flight: requests that find an unknown `kid` at once
//! wait for one fetch instead of each starting their own, and a failed
//! fetch counts as an attempt too.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::context::Access;
use super::scopes::ScopeSet;
use crate::error::{Error, TokenProblem};

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
/// The shortest interval between two fetches of a JWKS URL.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// What `serve --auth-issuer --auth-audience --auth-jwks` configures.
#[derive(Debug)]
pub struct Verifier {
    pub issuer: String,
    pub audience: String,
    source: String,
    /// The keys and, for a URL, when they were last fetched (or tried).
    keys: RwLock<(JwkSet, Option<Instant>)>,
    /// Held while refetching: the one refetch in flight.
    refetching: Mutex<()>,
    /// How the JWKS is fetched ([`load`]; a counting one in tests).
    fetch: fn(&str) -> anyhow::Result<JwkSet>,
}

/// The claims the server reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    client_id: Option<String>,
    azp: Option<String>,
    #[serde(default)]
    scope: ScopeClaim,
    patient: Option<String>,
    organization: Option<String>,
}

/// `scope` as a space-separated string (RFC 8693, SMART) or, as some
/// issuers write it, an array.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    #[default]
    None,
    Text(String),
    List(Vec<String>),
}

impl Verifier {
    /// Loads the JWKS from `source` (a path, or an `http://`/`https://`
    /// URL). Fails when it cannot be read or holds no usable key.
    pub fn new(issuer: &str, audience: &str, source: &str) -> anyhow::Result<Verifier> {
        let keys = load(source)?;
        if keys.keys.is_empty() {
            anyhow::bail!("the JWKS {source} has no keys");
        }
        let fetched = is_url(source).then(Instant::now);
        Ok(Verifier {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            source: source.to_owned(),
            keys: RwLock::new((keys, fetched)),
            refetching: Mutex::new(()),
            fetch: load,
        })
    }

    /// Checks `token` and returns the caller. Blocking: may fetch the
    /// JWKS URL (call it off the async workers).
    pub fn verify(&self, token: &str) -> Result<Access, Error> {
        let invalid = |m: String| Error::Unauthorized {
            message: m,
            problem: TokenProblem::Invalid,
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("the bearer token is not a JWT: {e}")))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid(format!(
                "tokens signed with {:?} are not accepted (RS256, ES256)",
                header.alg
            )));
        }
        let key = self.key(header.kid.as_deref())?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let (problem, message) = match e.kind() {
                ErrorKind::ExpiredSignature => {
                    (TokenProblem::Expired, "the token has expired".into())
                }
                ErrorKind::ImmatureSignature => (
                    TokenProblem::Invalid,
                    "the token is not valid yet (nbf)".into(),
                ),
                ErrorKind::InvalidIssuer => (
                    TokenProblem::Invalid,
                    format!("the token was not issued by {}", self.issuer),
                ),
                ErrorKind::InvalidAudience => (
                    TokenProblem::Invalid,
                    format!("the token is not for audience {}", self.audience),
                ),
                ErrorKind::InvalidSignature => (
                    TokenProblem::Invalid,
                    "the token's signature is wrong".into(),
                ),
                other => (
                    TokenProblem::Invalid,
                    format!("the token is not valid: {other:?}"),
                ),
            };
            Error::Unauthorized { message, problem }
        })?;
        let c = data.claims;
        let scope = match c.scope {
            ScopeClaim::None => String::new(),
            ScopeClaim::Text(s) => s,
            ScopeClaim::List(l) => l.join(" "),
        };
        Ok(Access {
            subject: c.sub,
            client_id: c.client_id.or(c.azp),
            scopes: ScopeSet::parse(&scope),
            patient: c.patient.filter(|p| !p.is_empty()),
            organization: c
                .organization
                .map(|o| o.trim_start_matches("Organization/").to_owned())
                .filter(|o| !o.is_empty()),
        })
    }

    /// The key for `kid` (or the only key, when the token names none),
    /// refetching a URL JWKS once when the `kid` is unknown.
    fn key(&self, kid: Option<&str>) -> Result<DecodingKey, Error> {
        if let Some(k) = self.lookup(kid)? {
            return Ok(k);
        }
        if self.refetch_due()? {
            let _one = self
                .refetching
                .lock()
                .map_err(|_| Error::Fault("JWKS refetch lock".into()))?;
            // Another request may have refetched while this one waited.
            if self.refetch_due()? {
                let fetched = (self.fetch)(&self.source);
                let mut keys = self
                    .keys
                    .write()
                    .map_err(|_| Error::Fault("JWKS lock".into()))?;
                keys.1 = Some(Instant::now());
                match fetched {
                    Ok(fresh) => keys.0 = fresh,
                    Err(e) => log::warn!("refetching the JWKS {} failed: {e:#}", self.source),
                }
            }
            if let Some(k) = self.lookup(kid)? {
                return Ok(k);
            }
        }
        Err(Error::Unauthorized {
            message: format!("no key {kid:?} in the issuer's JWKS"),
            problem: TokenProblem::Invalid,
        })
    }

    /// Whether the JWKS is a URL last fetched more than
    /// [`REFETCH_AFTER`] ago.
    fn refetch_due(&self) -> Result<bool, Error> {
        let keys = self
            .keys
            .read()
            .map_err(|_| Error::Fault("JWKS lock".into()))?;
        Ok(keys.1.is_some_and(|at| at.elapsed() > REFETCH_AFTER))
    }

    fn lookup(&self, kid: Option<&str>) -> Result<Option<DecodingKey>, Error> {
        let keys = self
            .keys
            .read()
            .map_err(|_| Error::Fault("JWKS lock".into()))?;
        let jwk = match kid {
            Some(kid) => keys.0.find(kid),
            None if keys.0.keys.len() == 1 => keys.0.keys.first(),
            None => None,
        };
        jwk.map(|j| {
            DecodingKey::from_jwk(j).map_err(|e| Error::Unauthorized {
                message: format!("the issuer's key {kid:?} is not usable: {e}"),
                problem: TokenProblem::Invalid,
            })
        })
        .transpose()
    }
}

fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

fn load(source: &str) -> anyhow::Result<JwkSet> {
    use anyhow::Context;
    let text = if is_url(source) {
        ureq::get(source)
            .timeout(Duration::from_secs(10))
            .call()
            .with_context(|| format!("cannot fetch the JWKS {source}"))?
            .into_string()
            .with_context(|| format!("cannot read the JWKS {source}"))?
    } else {
        std::fs::read_to_string(source)
            .with_context(|| format!("cannot read the JWKS file {source}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{source} is not a JWKS"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::token_cmd::{jwks, mint, Minted};

    fn key_file(dir: &std::path::Path, alg: &str) -> std::path::PathBuf {
        let pkey = match alg {
            "ES256" => {
                let group =
                    openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                        .unwrap();
                openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap())
                    .unwrap()
            }
            _ => openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap(),
        };
        let path = dir.join(format!("{alg}.pem"));
        std::fs::write(&path, pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
        path
    }

    fn verifier_for(key: &std::path::Path, dir: &std::path::Path) -> Verifier {
        let set = jwks(key, "k1").unwrap();
        let path = dir.join("jwks.json");
        std::fs::write(&path, set).unwrap();
        Verifier::new("https://issuer", "https://fhir", path.to_str().unwrap()).unwrap()
    }

    fn token(key: &std::path::Path, alg: &str, iss: &str, aud: &str, ttl: i64) -> String {
        mint(&Minted {
            key,
            kid: "k1",
            alg,
            iss,
            aud,
            scope: "patient/*.rs",
            patient: Some("p1"),
            sub: Some("u1"),
            organization: None,
            ttl,
        })
        .unwrap()
    }

    #[test]
    fn good_tokens_pass_and_bad_ones_are_told_apart() {
        let dir = std::env::temp_dir().join(format!("jwt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for alg in ["RS256", "ES256"] {
            let key = key_file(&dir, alg);
            let v = verifier_for(&key, &dir);
            let access = v
                .verify(&token(&key, alg, "https://issuer", "https://fhir", 60))
                .unwrap();
            assert_eq!(access.patient.as_deref(), Some("p1"));
            assert_eq!(access.subject.as_deref(), Some("u1"));
            assert_eq!(access.scopes.scopes.len(), 1);
            let problem = |t: &str| match v.verify(t) {
                Err(Error::Unauthorized { problem, .. }) => problem,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                problem(&token(&key, alg, "https://issuer", "https://fhir", -600)),
                TokenProblem::Expired
            );
            assert_eq!(
                problem(&token(&key, alg, "https://other", "https://fhir", 60)),
                TokenProblem::Invalid
            );
            assert_eq!(
                problem(&token(&key, alg, "https://issuer", "https://other", 60)),
                TokenProblem::Invalid
            );
            let other = dir.join("other");
            std::fs::create_dir_all(&other).unwrap();
            let other_key = key_file(&other, alg);
            assert_eq!(
                problem(&token(
                    &other_key,
                    alg,
                    "https://issuer",
                    "https://fhir",
                    60
                )),
                TokenProblem::Invalid
            );
            assert_eq!(problem("not-a-token"), TokenProblem::Invalid);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A verifier over a URL JWKS with no keys, last fetched long ago,
    /// that fetches with `fetch`.
    fn stale_verifier(fetch: fn(&str) -> anyhow::Result<JwkSet>) -> Verifier {
        Verifier {
            issuer: "https://issuer".into(),
            audience: "https://fhir".into(),
            source: "https://issuer/jwks".into(),
            keys: RwLock::new((
                JwkSet { keys: Vec::new() },
                Instant::now().checked_sub(REFETCH_AFTER * 2),
            )),
            refetching: Mutex::new(()),
            fetch,
        }
    }

    /// A JWT whose header names `kid` (the rest is never looked at: the
    /// key is missing).
    fn token_with_kid(kid: &str) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}"}}"#));
        format!("{header}.{}.c2ln", b64.encode("{}"))
    }

    /// 12 requests at once with unknown `kid`s, twice over.
    fn flood(v: &Verifier) {
        for round in 0..2 {
            let start = std::sync::Barrier::new(12);
            std::thread::scope(|s| {
                for i in 0..12 {
                    let start = &start;
                    s.spawn(move || {
                        start.wait();
                        let r = v.verify(&token_with_kid(&format!("unknown-{round}-{i}")));
                        assert!(matches!(r, Err(Error::Unauthorized { .. })), "{r:?}");
                    });
                }
            });
        }
    }

    #[test]
    fn unknown_kids_cause_one_fetch() {
        static FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn counting(_: &str) -> anyhow::Result<JwkSet> {
            FETCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Slow, like a real issuer, so the requests overlap it.
            std::thread::sleep(Duration::from_millis(200));
            Ok(JwkSet { keys: Vec::new() })
        }
        flood(&stale_verifier(counting));
        assert_eq!(FETCHES.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_fetch_is_rate_limited_too() {
        static FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn failing(_: &str) -> anyhow::Result<JwkSet> {
            FETCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            anyhow::bail!("issuer down")
        }
        flood(&stale_verifier(failing));
        assert_eq!(FETCHES.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
