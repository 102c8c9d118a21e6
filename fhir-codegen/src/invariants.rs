//! The base-spec invariants the profile engine checks with no package
//! loaded: for every element of every core resource and data type
//! StructureDefinition (snapshot), its `constraint`s, as
//! `profiles/data/core-constraints.json`.
//!
//! Layout: `constraints` is the list of distinct constraints (key,
//! severity, human, expression; `ele-1` alone is on ~7,800 elements, so
//! each is written once) and `elements` maps an element path
//! (`Patient.contact`) to the indices of its constraints. One entry a line,
//! sorted, so the output is deterministic and
//! `tests/invariants_fresh.rs` compares it byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::package;

/// The header: where it comes from, and why committing it is allowed.
pub const GENERATED_BY: &str = crate::search_data::GENERATED_BY;
/// The license of the content (HL7's FHIR specification content is CC0).
pub const LICENSE: &str =
    "CC0-1.0: FHIR R4 specification content (http://hl7.org/fhir/R4/license.html)";

/// Where the file goes relative to the workspace root.
pub const DEFAULT_OUT: &str = "profiles/data";

/// The generated file, by name relative to [`DEFAULT_OUT`].
pub fn generate(package_path: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    let defs = package::read_structure_definitions(package_path)?;
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("core-constraints.json"),
        constraints_file(&defs)?,
    );
    Ok(files)
}

/// Whether `sd` is a core type definition (not a profile or logical model).
fn is_core_type(sd: &Value) -> bool {
    let kind = sd.get("kind").and_then(Value::as_str).unwrap_or("");
    sd.get("derivation").and_then(Value::as_str) != Some("constraint")
        && matches!(kind, "resource" | "complex-type" | "primitive-type")
}

/// The whole file.
pub fn constraints_file(defs: &[Value]) -> Result<String, String> {
    // Distinct constraints (by their four fields) in first-seen order of
    // the sorted element paths, so indices are stable.
    let mut by_path: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for sd in defs.iter().filter(|sd| is_core_type(sd)) {
        let name = sd.get("id").and_then(Value::as_str).unwrap_or("?");
        let elements = sd
            .pointer("/snapshot/element")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("StructureDefinition/{name}: no snapshot"))?;
        for e in elements {
            let Some(path) = e.get("path").and_then(Value::as_str) else {
                return Err(format!(
                    "StructureDefinition/{name}: an element without path"
                ));
            };
            let mut list = Vec::new();
            for c in e
                .get("constraint")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
                let mut out = Map::new();
                out.insert("key".into(), field("key").into());
                out.insert("severity".into(), field("severity").into());
                out.insert("human".into(), field("human").into());
                out.insert("expression".into(), field("expression").into());
                list.push(Value::Object(out));
            }
            if !list.is_empty() {
                by_path.entry(path.to_owned()).or_default().extend(list);
            }
        }
    }
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut constraints: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for (path, list) in &by_path {
        let mut ids = Vec::new();
        for c in list {
            let text = c.to_string();
            let i = match index.get(&text) {
                Some(i) => *i,
                None => {
                    index.insert(text.clone(), constraints.len());
                    constraints.push(text);
                    constraints.len() - 1
                }
            };
            if !ids.contains(&i) {
                ids.push(i);
            }
        }
        let ids: Vec<String> = ids.iter().map(usize::to_string).collect();
        lines.push(format!(
            "{}:[{}]",
            Value::from(path.as_str()),
            ids.join(",")
        ));
    }
    let mut out = format!(
        "{{\"generated_by\":{},\"license\":{},\"constraints\":[\n",
        Value::from(GENERATED_BY),
        Value::from(LICENSE)
    );
    out.push_str(&constraints.join(",\n"));
    out.push_str("\n],\"elements\":{\n");
    out.push_str(&lines.join(",\n"));
    out.push_str("\n}}\n");
    Ok(out)
}
