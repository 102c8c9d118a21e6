//! TLS for `serve`: an openssl acceptor from `--tls-cert` (PEM, the
//! certificate chain) and `--tls-key` (PEM private key), and with
//! `--tls-client-ca` mutual TLS: the handshake fails for a client that
//! presents no certificate signed by that CA, for system-to-system links
//! where both ends are machines.

use std::path::Path;

use anyhow::Context;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVerifyMode};

/// The TLS files of `serve`.
#[derive(Debug, Clone)]
pub struct TlsFiles<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub client_ca: Option<&'a Path>,
}

/// An acceptor with Mozilla's "intermediate" settings (TLS 1.2 and 1.3,
/// no weak ciphers), the server's chain and key, and client verification
/// when a client CA is given. Fails, naming the file, when a file is
/// missing or the key does not match the certificate.
pub fn acceptor(files: &TlsFiles<'_>) -> anyhow::Result<SslAcceptorBuilder> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .context("cannot set up openssl")?;
    builder
        .set_certificate_chain_file(files.cert)
        .with_context(|| format!("cannot read the TLS certificate {}", files.cert.display()))?;
    builder
        .set_private_key_file(files.key, SslFiletype::PEM)
        .with_context(|| format!("cannot read the TLS key {}", files.key.display()))?;
    builder
        .check_private_key()
        .context("the TLS key does not match the certificate")?;
    if let Some(ca) = files.client_ca {
        builder
            .set_ca_file(ca)
            .with_context(|| format!("cannot read the client CA {}", ca.display()))?;
        // Also tell clients which CA to pick a certificate for.
        let pem = std::fs::read(ca)
            .with_context(|| format!("cannot read the client CA {}", ca.display()))?;
        let mut names = openssl::stack::Stack::new()?;
        for cert in openssl::x509::X509::stack_from_pem(&pem)? {
            names.push(cert.subject_name().to_owned()?)?;
        }
        builder.set_client_ca_list(names);
        builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(builder)
}
