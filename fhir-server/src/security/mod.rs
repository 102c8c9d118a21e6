//! Security: TLS (and mutual TLS) for the listener, and authorization as
//! a SMART on FHIR resource server.
//!
//! - [`tls`] builds the openssl acceptor of `serve --tls-cert --tls-key
//!   [--tls-client-ca]`.
//! - [`jwt`] checks bearer JWTs against the configured issuer, audience
//!   and JWKS; [`scopes`] reads SMART v1/v2 scopes; [`context`] holds the
//!   checked caller ([`Access`]), which [`middleware`] puts into each
//!   request's extensions: the one place later audit and consent code
//!   reads the caller from.
//! - [`guard`] decides each request's [`crate::route::Route`]: scopes, the patient
//!   compartment of a `patient` launch context, v2 constraints.
//! - [`consent`] hides a patient's data from the Organizations the
//!   patient's Consent denies, on every answer.
//! - [`entry_refusals`] carries the batch entries either refuses to the
//!   batch, which answers each alone.
//! - [`smart_config`] answers `/.well-known/smart-configuration` and the
//!   CapabilityStatement `rest.security`; [`token_cmd`] is
//!   `fhir-server token`.
//!
//! Without `--auth-issuer` the server is open, which [`check_listen`] allows
//! on loopback addresses only (unless `--insecure`).

pub mod answer_filter;
pub mod consent;
pub mod context;
pub mod entry_refusals;
pub mod guard;
pub mod jwt;
pub mod middleware;
pub mod patient_link;
pub mod scopes;
pub mod smart_config;
pub mod tls;
pub mod token_cmd;

use std::sync::Arc;

pub use context::Access;

/// Authorization as configured for `serve`; `verifier: None` is an open
/// server.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub verifier: Option<Arc<jwt::Verifier>>,
    /// The JWKS when it is a URL (published as `jwks_uri`).
    pub jwks_url: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    /// `serve --audit`: record every request as an AuditEvent
    /// ([`crate::audit`]); `None` when auditing is off.
    pub audit: Option<Arc<crate::audit::Trail>>,
    /// The Consent denials in force, shared by every worker.
    pub consents: Arc<consent::Consents>,
}

impl Security {
    /// `--auth-authorize-url`, else `{issuer}/authorize`.
    pub fn authorize_endpoint(&self) -> String {
        self.endpoint(&self.authorize_url, "authorize")
    }

    /// `--auth-token-url`, else `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        self.endpoint(&self.token_url, "token")
    }

    fn endpoint(&self, given: &Option<String>, name: &str) -> String {
        match (given, &self.verifier) {
            (Some(u), _) => u.clone(),
            (None, Some(v)) => format!("{}/{name}", v.issuer.trim_end_matches('/')),
            (None, None) => String::new(),
        }
    }
}

/// The caller of a request, when authorization is on.
pub fn access(req: &actix_web::HttpRequest) -> Option<Access> {
    use actix_web::HttpMessage;
    req.extensions().get::<Access>().cloned()
}

/// Step 2 of [`guard`] for a search handler: narrows `search` to what the
/// request's token may see (nothing to do on an open server).
pub fn restrict_search(
    req: &actix_web::HttpRequest,
    store: &crate::store::Store,
    search: &mut crate::search::query::SearchRequest,
) -> Result<(), crate::error::Error> {
    guard::restrict_search(access(req).as_ref(), store, search)
}

/// Refuses to serve on a non-loopback address without both TLS and
/// authorization, unless `insecure`: patient data must not cross a
/// network in clear text or to anyone who asks. The message says why and
/// what to pass.
pub fn check_listen(listen: &str, tls: bool, auth: bool, insecure: bool) -> anyhow::Result<()> {
    if insecure || (tls && auth) {
        return Ok(());
    }
    let loopback = listen_is_loopback(listen);
    if loopback {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !tls {
        missing.push("TLS (--tls-cert, --tls-key)");
    }
    if !auth {
        missing.push("authorization (--auth-issuer, --auth-audience, --auth-jwks)");
    }
    anyhow::bail!(
        "refusing to listen on {listen} without {}: it is not a loopback address, so patient \
         data would be reachable from the network unprotected. Configure them, listen on \
         127.0.0.1, or pass --insecure to accept the risk",
        missing.join(" and ")
    )
}

fn listen_is_loopback(listen: &str) -> bool {
    use std::net::ToSocketAddrs;
    match listen.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_tls_and_auth_or_insecure() {
        assert!(check_listen("127.0.0.1:0", false, false, false).is_ok());
        assert!(check_listen("[::1]:0", false, false, false).is_ok());
        assert!(check_listen("localhost:0", false, false, false).is_ok());
        let e = check_listen("0.0.0.0:0", true, false, false).unwrap_err();
        assert!(e.to_string().contains("authorization"), "{e}");
        assert!(!e.to_string().contains("TLS ("), "{e}");
        assert!(check_listen("0.0.0.0:0", false, false, true).is_ok());
        assert!(check_listen("0.0.0.0:0", true, true, false).is_ok());
    }
}
