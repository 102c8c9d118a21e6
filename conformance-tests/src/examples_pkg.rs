//! The official R4 examples (npm `hl7.fhir.r4.examples@4.0.1`), read straight
//! from the `.tgz` that `scripts/fetch-test-data.sh` caches outside the repo,
//! plus the comparison rules and the known-failures list of the round-trip test.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde_json::Value;

/// The package file name inside the cache directory.
pub const EXAMPLES_TGZ: &str = "hl7.fhir.r4.examples-4.0.1.tgz";

/// The cache directory: `FHIR_TEST_CACHE`, else `$HOME/.cache/fhir-server-tests`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FHIR_TEST_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("fhir-server-tests")
}

/// Where the examples package should be.
pub fn examples_tgz() -> PathBuf {
    cache_dir().join(EXAMPLES_TGZ)
}

/// One example file from the package.
#[derive(Debug, Clone)]
pub struct Example {
    /// The file name inside the package, e.g. `Patient-example.json`.
    pub file: String,
    /// `resourceType` from the file.
    pub resource_type: String,
    /// `id` from the file (every R4 example has one).
    pub id: String,
    /// The file's bytes, exactly as shipped.
    pub bytes: Vec<u8>,
}

/// The package's resources, and the names of the package files that are not
/// resources (`package.json`, `.index.json`, anything without a
/// `resourceType`), which the tests skip.
#[derive(Debug)]
pub struct ExamplePackage {
    /// Every resource file, in package order.
    pub examples: Vec<Example>,
    /// Files that are not FHIR resources.
    pub skipped: Vec<String>,
}

/// Reads the whole examples package into memory (about 70 MB unpacked).
/// The error names the script that fetches it.
pub fn load_examples() -> Result<ExamplePackage, String> {
    let path = examples_tgz();
    if !path.is_file() {
        return Err(format!(
            "the official R4 examples are missing: {} does not exist.\n\
             Run `bash scripts/fetch-test-data.sh` (needs npm) to fetch hl7.fhir.r4.examples@4.0.1 \
             into the cache (FHIR_TEST_CACHE, default ~/.cache/fhir-server-tests).",
            path.display()
        ));
    }
    read_package(&path)
}

fn read_package(path: &Path) -> Result<ExamplePackage, String> {
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut examples = Vec::new();
    let mut skipped = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("{}: {e}", path.display()))?
    {
        let mut entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let file = name.rsplit('/').next().unwrap_or(&name).to_string();
        if !file.ends_with(".json") || file == "package.json" || file.starts_with('.') {
            skipped.push(file);
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| format!("{name}: {e}"))?;
        let v: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => {
                skipped.push(file);
                continue;
            }
        };
        match (v["resourceType"].as_str(), v["id"].as_str()) {
            (Some(rt), Some(id)) => examples.push(Example {
                file,
                resource_type: rt.to_string(),
                id: id.to_string(),
                bytes,
            }),
            _ => skipped.push(file),
        }
    }
    Ok(ExamplePackage { examples, skipped })
}

/// The list of examples expected to fail, with the reason for each:
/// `conformance-tests/known-failures/r4-examples.txt`, one
/// `file<TAB>reason` per line, `#` comments and blank lines ignored.
pub fn known_failures() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("known-failures")
        .join("r4-examples.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (file, reason) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("{}:{}: expected `file<TAB>reason`", path.display(), n + 1));
        assert!(
            !reason.trim().is_empty(),
            "{}:{}: a known failure needs a reason",
            path.display(),
            n + 1
        );
        map.insert(file.trim().to_string(), reason.trim().to_string());
    }
    map
}

/// Removes what the server may legitimately change: `meta.versionId` and
/// `meta.lastUpdated`, and `meta` itself when that leaves it empty.
pub fn strip_server_meta(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        let empty = match obj.get_mut("meta").and_then(Value::as_object_mut) {
            Some(meta) => {
                meta.remove("versionId");
                meta.remove("lastUpdated");
                meta.is_empty()
            }
            None => false,
        };
        if empty {
            obj.remove("meta");
        }
    }
}

/// The first place where `actual` differs from `expected`, as a JSON path
/// with a short description, or `None` when they are equal. Numbers compare
/// by their text (serde_json's `arbitrary_precision` is on in this
/// workspace), so `1.50` differs from `1.5`.
pub fn first_difference(expected: &Value, actual: &Value) -> Option<String> {
    diff_at("$", expected, actual)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(80).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

fn diff_at(path: &str, e: &Value, a: &Value) -> Option<String> {
    match (e, a) {
        (Value::Object(eo), Value::Object(ao)) => {
            for (k, ev) in eo {
                match ao.get(k) {
                    None => return Some(format!("{path}.{k}: missing (expected {})", short(ev))),
                    Some(av) => {
                        if let Some(d) = diff_at(&format!("{path}.{k}"), ev, av) {
                            return Some(d);
                        }
                    }
                }
            }
            ao.iter()
                .find(|(k, _)| !eo.contains_key(*k))
                .map(|(k, av)| format!("{path}.{k}: unexpected {}", short(av)))
        }
        (Value::Array(ea), Value::Array(aa)) => {
            for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                if let Some(d) = diff_at(&format!("{path}[{i}]"), ev, av) {
                    return Some(d);
                }
            }
            (ea.len() != aa.len())
                .then(|| format!("{path}: {} items, expected {}", aa.len(), ea.len()))
        }
        _ if e == a => None,
        _ => Some(format!("{path}: {} (expected {})", short(a), short(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_drops_server_meta_and_an_emptied_meta() {
        let mut v =
            json!({"resourceType": "Patient", "meta": {"versionId": "1", "lastUpdated": "x"}});
        strip_server_meta(&mut v);
        assert_eq!(v, json!({"resourceType": "Patient"}));
        let mut v = json!({"meta": {"versionId": "1", "profile": ["p"]}});
        strip_server_meta(&mut v);
        assert_eq!(v, json!({"meta": {"profile": ["p"]}}));
    }

    #[test]
    fn numbers_compare_by_text() {
        let e: Value = serde_json::from_str(r#"{"v": 1.50}"#).unwrap();
        let a: Value = serde_json::from_str(r#"{"v": 1.5}"#).unwrap();
        assert_eq!(
            first_difference(&e, &a).unwrap(),
            "$.v: 1.5 (expected 1.50)"
        );
        assert_eq!(first_difference(&e, &e.clone()), None);
    }

    #[test]
    fn difference_names_the_path() {
        let e = json!({"a": [{"b": 1}, {"c": "x"}]});
        let a = json!({"a": [{"b": 1}, {"c": "y"}]});
        assert_eq!(
            first_difference(&e, &a).unwrap(),
            "$.a[1].c: \"y\" (expected \"x\")"
        );
        let a = json!({"a": [{"b": 1}]});
        assert_eq!(
            first_difference(&e, &a).unwrap(),
            "$.a: 1 items, expected 2"
        );
        let a = json!({"a": [{"b": 1}, {"c": "x"}], "z": true});
        assert_eq!(first_difference(&e, &a).unwrap(), "$.z: unexpected true");
    }
}
