//! The 1,378 R4 core SearchParameters and their FHIRPath expressions, for
//! the FHIRPath differential test and benchmark (issue 5). Read from
//! `../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz`.

use std::io::Read;
use std::path::PathBuf;

use flate2::read::GzDecoder;

/// One search parameter with an expression.
#[derive(Debug, Clone)]
pub struct SearchParam {
    pub id: String,
    /// The name used in search URLs (`code`).
    pub code: String,
    /// The parameter type (`token`, `string`, `reference`, `date`, …).
    pub kind: String,
    pub expression: String,
    /// The resource types it applies to (`Resource` and `DomainResource`
    /// mean all).
    pub base: Vec<String>,
}

impl SearchParam {
    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.base
            .iter()
            .any(|b| b == resource_type || b == "Resource" || b == "DomainResource")
    }
}

pub fn core_package() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz")
}

/// Every `SearchParameter-*.json` of the core package (sorted by id),
/// with the ones without an expression left out.
pub fn load() -> Result<(usize, Vec<SearchParam>), String> {
    let path = core_package();
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut total = 0;
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if !name.starts_with("package/SearchParameter-") || !name.ends_with(".json") {
            continue;
        }
        total += 1;
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("{name}: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        let Some(expression) = v["expression"].as_str() else {
            continue;
        };
        out.push(SearchParam {
            id: v["id"].as_str().unwrap_or_default().to_owned(),
            code: v["code"].as_str().unwrap_or_default().to_owned(),
            kind: v["type"].as_str().unwrap_or_default().to_owned(),
            expression: expression.to_owned(),
            base: v["base"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((total, out))
}
