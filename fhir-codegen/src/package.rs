//! Reading conformance resources out of a FHIR package `.tgz`.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// Every `StructureDefinition-*.json` of the package, parsed.
pub fn read_structure_definitions(path: &Path) -> Result<Vec<Value>, String> {
    read_resources(path, "StructureDefinition-")
}

/// Every `{prefix}*.json` of the package (file names, any folder), parsed,
/// in archive order.
pub fn read_resources(path: &Path, prefix: &str) -> Result<Vec<Value>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let file_name = name.rsplit('/').next().unwrap_or_default();
        if !(file_name.starts_with(prefix) && file_name.ends_with(".json")) {
            continue;
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("{name}: {e}"))?;
        out.push(serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?);
    }
    Ok(out)
}
