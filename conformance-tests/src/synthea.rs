//! The Synthea 120-patient set (`../shared/data/synthea-120`) as the
//! loading tests and benchmarks use it: which files, in which order, what
//! the server must hold once they are loaded, and whether it does.
//!
//! The two `0-*` batch Bundles (hospitals, practitioners) are conditional
//! creates (`ifNoneExist`) that the patient transactions refer to by
//! conditional reference, so they are loaded first. Their conditional
//! creates dedupe: an entry whose `(type, ifNoneExist)` was already seen
//! stores nothing new. [`Expected`] counts the resources per type that way,
//! from the files themselves, so a check does not depend on numbers
//! written down somewhere else.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::http::Client;

/// `SYNTHEA_DIR`, or `../shared/data/synthea-120` beside the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var("SYNTHEA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/synthea-120")
        })
}

/// The files of the set, split the way they must be loaded.
#[derive(Debug, Clone)]
pub struct Files {
    /// The `0-*` batch Bundles, hospitals before practitioners (name order).
    pub batches: Vec<PathBuf>,
    /// The patient transactions, in name order.
    pub patients: Vec<PathBuf>,
}

impl Files {
    /// The `.json.bz2` files of `dir`; an error when the folder cannot be
    /// read or holds no batch Bundle.
    pub fn in_dir(dir: &Path) -> Result<Files, String> {
        let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| name_of(p).ends_with(".json.bz2"))
            .collect();
        all.sort();
        let (batches, patients): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|p| name_of(p).starts_with("0-"));
        if batches.is_empty() {
            return Err(format!("{}: no 0-* batch Bundles", dir.display()));
        }
        Ok(Files { batches, patients })
    }

    /// The set in [`data_dir`].
    pub fn load_default() -> Result<Files, String> {
        Files::in_dir(&data_dir())
    }

    /// The set in [`data_dir`], only its first `patients` patient files
    /// when given (a benchmark's `--patients`).
    pub fn load_default_first(patients: Option<usize>) -> Result<Files, String> {
        let files = Files::load_default()?;
        Ok(match patients {
            Some(n) => files.first_patients(n),
            None => files,
        })
    }

    /// Keeps only the first `n` patient files.
    pub fn first_patients(mut self, n: usize) -> Files {
        self.patients.truncate(n);
        self
    }

    /// Every file, batches first: the order a single loader uses.
    pub fn in_load_order(&self) -> Vec<PathBuf> {
        self.batches.iter().chain(&self.patients).cloned().collect()
    }
}

/// The file name, or `""`.
pub fn name_of(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// The decompressed bytes of a `.bz2` file.
pub fn read_bz2(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    bzip2::read::BzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes)
}

/// A `.bz2` JSON file, parsed.
pub fn read_bz2_json(path: &Path) -> Result<Value, String> {
    let bytes = read_bz2(path)?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// What the server must hold after a load: resources per type.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Stored resources per resource type.
    pub per_type: BTreeMap<String, i64>,
    /// Entries in the Bundles (what a loader sends), dedupes included.
    pub entries: usize,
    /// `(type, ifNoneExist)` already counted.
    seen_conditions: BTreeSet<(String, String)>,
}

impl Expected {
    /// Counts the entries of one batch or transaction Bundle. POSTs store
    /// one resource each, unless their `ifNoneExist` repeats one counted
    /// before (the conditional create then matches instead).
    pub fn add_bundle(&mut self, bundle: &Value) {
        for e in bundle["entry"].as_array().into_iter().flatten() {
            self.entries += 1;
            let Some(ty) = e["resource"]["resourceType"].as_str() else {
                continue;
            };
            if let Some(cond) = e["request"]["ifNoneExist"].as_str() {
                if !self
                    .seen_conditions
                    .insert((ty.to_owned(), cond.to_owned()))
                {
                    continue;
                }
            }
            *self.per_type.entry(ty.to_owned()).or_default() += 1;
        }
    }

    /// The resources the server must hold in all.
    pub fn resources(&self) -> i64 {
        self.per_type.values().sum()
    }

    /// Compares every type's `GET [type]?_summary=count` with the expected
    /// count; returns one line per difference (empty: all match).
    pub fn mismatches(&self, client: &Client) -> Vec<String> {
        let mut out = Vec::new();
        for (ty, want) in &self.per_type {
            let r = client.get(&format!("/{ty}?_summary=count"));
            let got = r.try_json().and_then(|b| b["total"].as_i64());
            if r.status != 200 || got != Some(*want) {
                out.push(format!(
                    "{ty}: expected {want}, the server says {} (HTTP {})",
                    got.map_or_else(|| "nothing".to_owned(), |n| n.to_string()),
                    r.status
                ));
            }
        }
        out
    }
}

/// The failed entries of a batch- or transaction-response to a Bundle of
/// `sent` entries: one line per entry whose status is not 2xx, or one line
/// for the whole Bundle when the answer is not a response Bundle with as
/// many entries as were sent (then all `sent` count as failed).
pub fn failed_entries(status: u16, body: &[u8], sent: usize) -> (usize, Vec<String>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let entries = parsed
        .as_ref()
        .filter(|_| status == 200)
        .and_then(|b| b["entry"].as_array())
        .filter(|es| es.len() == sent);
    let Some(entries) = entries else {
        let text = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
        return (sent, vec![format!("HTTP {status}: {text}")]);
    };
    let lines: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            !e["response"]["status"]
                .as_str()
                .is_some_and(|s| s.starts_with('2'))
        })
        .map(|(i, e)| format!("entry {i}: {}", e["response"]))
        .collect();
    (lines.len(), lines)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditional_creates_count_once_per_criteria() {
        let mut x = Expected::default();
        let batch = json!({"entry": [
            {"resource": {"resourceType": "Organization"}, "request": {"ifNoneExist": "identifier=a"}},
            {"resource": {"resourceType": "Organization"}, "request": {"ifNoneExist": "identifier=a"}},
            {"resource": {"resourceType": "Location"}, "request": {"ifNoneExist": "identifier=a"}},
            {"resource": {"resourceType": "PractitionerRole"}, "request": {}},
            {"resource": {"resourceType": "PractitionerRole"}, "request": {}},
        ]});
        x.add_bundle(&batch);
        assert_eq!(x.entries, 5);
        assert_eq!(x.per_type["Organization"], 1);
        assert_eq!(x.per_type["Location"], 1);
        assert_eq!(x.per_type["PractitionerRole"], 2);
        assert_eq!(x.resources(), 4);
    }

    #[test]
    fn failed_entries_reads_statuses_and_whole_failures() {
        let ok = br#"{"entry":[{"response":{"status":"201 Created"}},{"response":{"status":"200 OK"}}]}"#;
        assert_eq!(failed_entries(200, ok, 2).0, 0);
        let one_bad = br#"{"entry":[{"response":{"status":"201 Created"}},{"response":{"status":"412 Precondition Failed"}}]}"#;
        assert_eq!(failed_entries(200, one_bad, 2).0, 1);
        assert_eq!(failed_entries(200, ok, 3).0, 3, "missing entries");
        let outcome = br#"{"resourceType":"OperationOutcome"}"#;
        let (n, lines) = failed_entries(400, outcome, 7);
        assert_eq!(n, 7);
        assert!(lines[0].contains("HTTP 400"), "{lines:?}");
    }
}
