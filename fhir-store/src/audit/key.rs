//! The secret that keys the audit chain (`serve --audit-key-file`,
//! `audit verify --audit-key-file`).
//!
//! With a plain hash chain anyone who can write the database can change a
//! record and recompute every hash after it; with HMAC-SHA256 under a key
//! the database does not hold, they cannot. The key is read from a file
//! so it stays out of `ps` and the shell history; its bytes (surrounding
//! whitespace trimmed) are the HMAC key. `openssl` is already the server's
//! crypto library (TLS, JWT), so HMAC comes from it rather than another
//! crate.

use std::path::Path;

use crate::store::StoreError;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// Fewer bytes than this is not a secret worth the name.
pub const MIN_KEY_BYTES: usize = 16;

/// The HMAC key of the audit chain.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// Reads the key file; refuses an empty or short key.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let bytes = std::fs::read(path).map_err(|e| {
            StoreError::Config(format!("cannot read the audit key file {path:?}: {e}"))
        })?;
        Self::new(bytes.trim_ascii().to_vec())
            .map_err(|e| StoreError::Config(format!("audit key file {path:?}: {e}")))
    }

    pub fn new(bytes: Vec<u8>) -> Result<Self, StoreError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(StoreError::Config(format!(
                "the key has {} byte(s); use at least {MIN_KEY_BYTES} random bytes \
                 (e.g. `openssl rand -hex 32 > audit.key`)",
                bytes.len()
            )));
        }
        Ok(Self(bytes))
    }

    /// HMAC-SHA256 of the concatenated `parts`, hex.
    pub fn mac(&self, parts: &[&[u8]]) -> String {
        // Only a broken OpenSSL fails here; a MAC that can never match
        // then makes verification fail rather than the server panic.
        match hmac_sha256(&self.0, parts) {
            Ok(m) => hex(&m),
            Err(e) => {
                log::error!("HMAC failed: {e}");
                String::from("hmac-failed")
            }
        }
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let pkey = PKey::hmac(key)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
    for p in parts {
        signer.update(p)?;
    }
    signer.sign_to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test case 2 has a 4-byte key; `new` refuses short keys,
        // so build the value directly.
        let key = AuditKey(b"Jefe".to_vec());
        assert_eq!(
            key.mac(&[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(AuditKey::new(b"short".to_vec()).is_err());
        assert!(AuditKey::new(vec![7; 32]).is_ok());
    }
}
