//! Signed head checkpoints, kept outside the database
//! (`serve --audit-checkpoint-file`, `audit verify --audit-checkpoint-file`).
//!
//! A chain shows a changed or missing record *inside* it, but not the
//! removal of its last records: the shorter chain is a valid chain. So
//! the sealer appends the head it reached (sequence, hash, time, and an
//! HMAC of the three under the audit key) to a file the database does not
//! hold, every [`super::sealer::CHECKPOINT_EVERY`] and at shutdown.
//! `audit verify` then requires every checkpointed sequence to exist with
//! the checkpointed hash: deleting the tail of the chain, or rewriting it
//! with another key, is reported with how many records went missing.
//! Lines are appended with `O_APPEND`, one `write` each, so several
//! server processes may share one file. The operator keeps the file where
//! a database administrator cannot edit it (another host, an append-only
//! volume); a forged line without the key fails its MAC.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::chain::{Head, Verified};
use super::key::AuditKey;

/// One checkpoint line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub recorded: String,
}

/// Appends checkpoints to one file.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
    key: AuditKey,
}

impl CheckpointFile {
    pub fn new(path: PathBuf, key: AuditKey) -> Self {
        Self { path, key }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `head` as one signed line and syncs the file.
    pub fn append(&self, head: &Head) -> std::io::Result<()> {
        let recorded = crate::store::now_instant();
        let text = format!("{} {} {}", head.seq, head.hash, recorded);
        let mac = line_mac(&self.key, &text);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(format!("{text} {mac}\n").as_bytes())?;
        f.sync_data()
    }
}

fn line_mac(key: &AuditKey, text: &str) -> String {
    key.mac(&[b"audit-checkpoint\n", text.as_bytes()])
}

/// Every checkpoint in `path`; an unsigned or malformed line is an error
/// naming it.
pub fn read(path: &Path, key: &AuditKey) -> Result<Vec<Checkpoint>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the checkpoint file {path:?}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("checkpoint file {path:?} line {}: {why}", n + 1);
        let parts: Vec<&str> = line.split(' ').collect();
        let [seq, hash, recorded, mac] = parts.as_slice() else {
            return Err(bad("not `sequence hash time mac`"));
        };
        let signed = format!("{seq} {hash} {recorded}");
        if line_mac(key, &signed) != *mac {
            return Err(bad(
                "its MAC does not match (forged, edited, or another key)",
            ));
        }
        let seq = seq
            .parse()
            .map_err(|_| bad("the sequence is not a number"))?;
        out.push(Checkpoint {
            seq,
            hash: (*hash).to_owned(),
            recorded: (*recorded).to_owned(),
        });
    }
    Ok(out)
}

/// Checks a verified chain against the checkpoints: every checkpointed
/// sequence must be in the chain with the checkpointed hash.
pub fn check(chain: &Verified, checkpoints: &[Checkpoint]) -> Result<(), String> {
    if let Some(last) = checkpoints.iter().max_by_key(|c| c.seq) {
        if last.seq > chain.head.seq {
            return Err(format!(
                "the last {} record(s) are missing: the checkpoint of {} records sequence {}, \
                 the chain ends at sequence {}",
                last.seq - chain.head.seq,
                last.recorded,
                last.seq,
                chain.head.seq
            ));
        }
    }
    for c in checkpoints {
        let at = usize::try_from(c.seq - 1)
            .ok()
            .and_then(|i| chain.hashes.get(i));
        match at {
            None if c.seq == 0 => {}
            Some(h) if *h == c.hash => {}
            _ => {
                return Err(format!(
                    "the record at sequence {} is not the one checkpointed at {} \
                     (the chain was rewritten from there on)",
                    c.seq, c.recorded
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new(b"0123456789abcdef0123".to_vec()).unwrap()
    }

    fn verified(n: i64) -> Verified {
        Verified {
            head: Head {
                seq: n,
                hash: format!("h{n}"),
            },
            hashes: (1..=n).map(|i| format!("h{i}")).collect(),
            unchained: Vec::new(),
        }
    }

    #[test]
    fn lines_round_trip_and_truncation_is_reported() {
        let dir = std::env::temp_dir().join(format!("cp-{}", uuid::Uuid::new_v4()));
        let file = CheckpointFile::new(dir.clone(), key());
        for n in [2, 5] {
            file.append(&Head {
                seq: n,
                hash: format!("h{n}"),
            })
            .unwrap();
        }
        let cps = read(&dir, &key()).unwrap();
        assert_eq!(cps.len(), 2);
        assert!(check(&verified(5), &cps).is_ok());
        let e = check(&verified(3), &cps).unwrap_err();
        assert!(e.contains("last 2 record(s) are missing"), "{e}");
        let mut rewritten = verified(5);
        rewritten.hashes[1] = "other".into();
        assert!(check(&rewritten, &cps).is_err());
        let other = AuditKey::new(b"another-key-0123456".to_vec()).unwrap();
        assert!(read(&dir, &other).unwrap_err().contains("line 1"));
        let _ = std::fs::remove_file(dir);
    }
}
