//! The keyed hash chain that makes tampering with stored AuditEvents
//! detectable.
//!
//! Each sealed AuditEvent carries three extensions on the resource root:
//! - [`SEQ_URL`]: its position in the chain (1, 2, 3, …, no gaps);
//! - [`PREVIOUS_URL`]: the hash of the record before it (64 zeros for the
//!   first);
//! - [`HASH_URL`]: HMAC-SHA256 under the audit key ([`AuditKey`]), hex, of
//!   `previous hash ‖ canonical JSON`, where the canonical JSON is the
//!   record as stored (its `meta` included) without the hash extension
//!   itself, object keys sorted, no whitespace.
//!
//! Changing any element of a record changes its hash; without the key
//! nobody can compute the hash that would cover the change, so re-hashing
//! the rest of the chain does not help; removing a record leaves a gap in
//! the sequence. The removal of the *last* records shows against the
//! signed head checkpoints kept outside the database
//! ([`super::checkpoint`]).
//!
//! Records are stored unsealed, in the transaction of the request they
//! record, and sealed after commit by [`super::sealer`]; [`record_mac`]
//! signs an unsealed record so the sealer never chains a row someone
//! slipped into the database.
//!
//! The chain lives in the resources rather than a side table so that a
//! record exported from the server (read, search, bulk) carries its own
//! proof.

use serde_json::Value;

use super::key::AuditKey;

pub const SEQ_URL: &str = "http://fhir-server.local/StructureDefinition/audit-chain-sequence";
pub const PREVIOUS_URL: &str = "http://fhir-server.local/StructureDefinition/audit-chain-previous";
pub const HASH_URL: &str = "http://fhir-server.local/StructureDefinition/audit-chain-hash";

/// The `previous` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The end of a chain: the last record's position and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// The chain links a record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    pub seq: i64,
    pub previous: String,
    pub hash: String,
}

/// Appends `event` (an AuditEvent as stored, without chain extensions)
/// after `head`: adds the sequence and previous-hash extensions, then the
/// keyed hash over the result. Returns the new head.
pub fn seal(event: &mut Value, head: &Head, key: &AuditKey) -> Head {
    let seq = head.seq + 1;
    if let Some(ext) = extensions_mut(event) {
        ext.retain(|e| !is_chain_extension(e));
        ext.push(serde_json::json!({"url": SEQ_URL, "valueInteger": seq}));
        ext.push(serde_json::json!({"url": PREVIOUS_URL, "valueString": head.hash}));
    }
    let hash = hash_of(event, &head.hash, key);
    if let Some(ext) = extensions_mut(event) {
        ext.push(serde_json::json!({"url": HASH_URL, "valueString": hash}));
    }
    Head { seq, hash }
}

/// The links of a record, `None` when it is not a chained record (a
/// client-reported or imported AuditEvent).
pub fn links(event: &Value) -> Option<Links> {
    let ext = event.get("extension")?.as_array()?;
    let find = |url: &str| {
        ext.iter()
            .find(|e| e.get("url").and_then(Value::as_str) == Some(url))
    };
    Some(Links {
        seq: find(SEQ_URL)?.get("valueInteger")?.as_i64()?,
        previous: find(PREVIOUS_URL)?.get("valueString")?.as_str()?.to_owned(),
        hash: find(HASH_URL)?.get("valueString")?.as_str()?.to_owned(),
    })
}

/// The hash `event` should carry given its `previous` link.
pub fn hash_of(event: &Value, previous: &str, key: &AuditKey) -> String {
    let mut body = event.clone();
    if let Some(Value::Array(ext)) = body.as_object_mut().and_then(|m| m.get_mut("extension")) {
        ext.retain(|e| e.get("url").and_then(Value::as_str) != Some(HASH_URL));
    }
    let mut bytes = Vec::new();
    write_canonical(&body, &mut bytes);
    key.mac(&[b"audit-chain\n", previous.as_bytes(), b"\n", &bytes])
}

/// The MAC of an unsealed record (as stored, chain extensions ignored):
/// written next to it by the server, checked by the sealer before it
/// chains the record.
pub fn record_mac(event: &Value, key: &AuditKey) -> String {
    let mut body = event.clone();
    if let Some(Value::Array(ext)) = body.as_object_mut().and_then(|m| m.get_mut("extension")) {
        ext.retain(|e| !is_chain_extension(e));
    }
    let mut bytes = Vec::new();
    write_canonical(&body, &mut bytes);
    key.mac(&[b"audit-record\n", &bytes])
}

/// A verification failure: which record, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The record's id (`None` when the record is missing altogether).
    pub id: Option<String>,
    pub seq: i64,
    pub problem: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(
                f,
                "AuditEvent/{id} (sequence {}): {}",
                self.seq, self.problem
            ),
            None => write!(f, "sequence {}: {}", self.seq, self.problem),
        }
    }
}

/// What [`verify`] found in an unbroken chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub head: Head,
    /// The hash of each record, by sequence (index 0 is sequence 1), for
    /// comparing with checkpoints.
    pub hashes: Vec<String>,
    /// Records without chain links (`(id, body)`): not sealed yet, or
    /// slipped in; the caller judges them.
    pub unchained: Vec<(String, Value)>,
}

/// Walks the records (`(id, body)`, any order) and returns the head, or
/// the first chained record whose body or link does not match.
pub fn verify(
    records: impl IntoIterator<Item = (String, Value)>,
    key: &AuditKey,
) -> Result<Verified, Broken> {
    let mut chained: Vec<(Links, String, Value)> = Vec::new();
    let mut unchained = Vec::new();
    for (id, v) in records {
        match links(&v) {
            Some(l) => chained.push((l, id, v)),
            None => unchained.push((id, v)),
        }
    }
    chained.sort_by_key(|(l, _, _)| l.seq);
    let mut head = Head::genesis();
    let mut hashes = Vec::with_capacity(chained.len());
    for (links, id, body) in chained {
        let broken = |problem: String| Broken {
            id: Some(id.clone()),
            seq: links.seq,
            problem,
        };
        if links.seq == head.seq {
            return Err(broken(format!(
                "a second record claims sequence {}",
                links.seq
            )));
        }
        if links.seq != head.seq + 1 {
            return Err(Broken {
                id: None,
                seq: head.seq + 1,
                problem: format!(
                    "missing: the chain jumps from sequence {} to {} (AuditEvent/{id})",
                    head.seq, links.seq
                ),
            });
        }
        if links.previous != head.hash {
            return Err(broken(
                "its link to the previous record does not match that record's hash".into(),
            ));
        }
        if hash_of(&body, &links.previous, key) != links.hash {
            return Err(broken(
                "its content does not match its keyed hash (modified after it was written, \
                 or sealed with another key)"
                    .into(),
            ));
        }
        hashes.push(links.hash.clone());
        head = Head {
            seq: links.seq,
            hash: links.hash,
        };
    }
    Ok(Verified {
        head,
        hashes,
        unchained,
    })
}

fn is_chain_extension(e: &Value) -> bool {
    matches!(
        e.get("url").and_then(Value::as_str),
        Some(SEQ_URL | PREVIOUS_URL | HASH_URL)
    )
}

/// The root `extension` array (made when missing); `None` when `event`
/// is not an object, which the server never builds.
fn extensions_mut(event: &mut Value) -> Option<&mut Vec<Value>> {
    let ext = event
        .as_object_mut()?
        .entry("extension")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !ext.is_array() {
        *ext = Value::Array(Vec::new());
    }
    ext.as_array_mut()
}

/// JSON with object keys sorted and no whitespace: the same bytes for the
/// same content, whatever order the store or an editor wrote keys in.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> AuditKey {
        AuditKey::new(b"0123456789abcdef0123".to_vec()).unwrap()
    }

    fn chain(n: usize) -> Vec<(String, Value)> {
        let mut head = Head::genesis();
        (0..n)
            .map(|i| {
                let mut e = json!({"resourceType": "AuditEvent", "action": "R", "outcome": "0",
                                   "recorded": format!("2026-01-01T00:00:0{i}Z")});
                e["meta"] = json!({"versionId": "1"});
                head = seal(&mut e, &head, &key());
                (format!("e{i}"), e)
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_in_any_order() {
        let mut c = chain(3);
        c.reverse();
        let v = verify(c, &key()).unwrap();
        assert_eq!(v.head.seq, 3);
        assert_ne!(v.head.hash, GENESIS);
        assert_eq!(v.hashes.len(), 3);
        assert!(v.unchained.is_empty());
    }

    #[test]
    fn a_modified_record_is_named() {
        let mut c = chain(3);
        c[1].1["outcome"] = json!("8");
        let e = verify(c, &key()).unwrap_err();
        assert_eq!((e.id.as_deref(), e.seq), (Some("e1"), 2));
        assert!(e.problem.contains("content"), "{e}");
    }

    #[test]
    fn a_resealed_record_breaks_the_next_link() {
        let mut c = chain(3);
        c[1].1["outcome"] = json!("8");
        let prev = links(&c[1].1).unwrap().previous;
        let h = hash_of(&c[1].1, &prev, &key());
        let ext = c[1].1["extension"].as_array_mut().unwrap();
        ext.last_mut().unwrap()["valueString"] = json!(h);
        let e = verify(c, &key()).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("e2"));
        assert!(e.problem.contains("link"), "{e}");
    }

    #[test]
    fn a_removed_record_is_a_gap() {
        let mut c = chain(3);
        c.remove(1);
        let e = verify(c, &key()).unwrap_err();
        assert_eq!((e.id, e.seq), (None, 2));
    }

    #[test]
    fn key_order_does_not_matter_but_meta_does() {
        let mut c = chain(1);
        let reordered: Value = serde_json::from_str(&reorder(&c[0].1)).unwrap();
        c[0].1 = reordered;
        assert!(verify(c.clone(), &key()).is_ok());
        c[0].1["meta"] = json!({"versionId": "1", "tag": [{"code": "x"}]});
        assert!(verify(c, &key()).is_err());
    }

    /// Someone without the key re-hashes a changed record and every
    /// record after it with the right function but their own key: the
    /// first changed record fails.
    #[test]
    fn rehashing_without_the_key_is_detected() {
        let mut c = chain(3);
        c[1].1["outcome"] = json!("8");
        let other = AuditKey::new(b"not-the-key-0123456".to_vec()).unwrap();
        let mut head = Head {
            seq: 1,
            hash: links(&c[0].1).unwrap().hash,
        };
        for (_, e) in c.iter_mut().skip(1) {
            if let Some(ext) = e["extension"].as_array_mut() {
                ext.clear();
            }
            head = seal(e, &head, &other);
        }
        let e = verify(c, &key()).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("e1"));
    }

    #[test]
    fn unchained_records_are_reported() {
        let mut c = chain(2);
        c.push(("x".into(), json!({"resourceType": "AuditEvent"})));
        let v = verify(c, &key()).unwrap();
        assert_eq!(v.unchained.len(), 1);
        assert_eq!(v.head.seq, 2);
    }

    fn reorder(v: &Value) -> String {
        let m = v.as_object().unwrap();
        let parts: Vec<String> = m
            .iter()
            .rev()
            .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
            .collect();
        format!("{{{}}}", parts.join(","))
    }
}
