//! Reads CodeSystems out of the FHIR packages in `../shared/fhir-packages`.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use terminology::{Error, Registry};

/// The bytes of every `package/CodeSystem-*.json` in a package, by name.
pub fn code_system_files(package: &str) -> Vec<(String, Vec<u8>)> {
    files(package, "package/CodeSystem-")
}

/// The bytes of every `.json` file of a package whose path starts with
/// `prefix` (`package/ValueSet-`), by name.
#[allow(dead_code)] // not every test file uses it
pub fn files(package: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages")
        .join(package);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        if name.starts_with(prefix) && name.ends_with(".json") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read entry");
            out.push((name, bytes));
        }
    }
    out
}

/// Indexes every CodeSystem of a package; returns the registry, the time
/// spent indexing (reading the archive excluded) and the files that failed.
pub fn load(package: &str) -> (Registry, Duration, Vec<(String, Error)>) {
    let files = code_system_files(package);
    let mut registry = Registry::new();
    let mut failures = Vec::new();
    let start = Instant::now();
    for (name, bytes) in &files {
        if let Err(e) = registry.insert_json(bytes) {
            failures.push((name.clone(), e));
        }
    }
    (registry, start.elapsed(), failures)
}
