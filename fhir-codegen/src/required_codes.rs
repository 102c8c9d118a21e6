//! The codes the base spec allows in each `code` element bound `required`
//! (terminologies.html#required), as `profiles/data/required-codes.json`:
//! the table the server checks every write against without loading the
//! core package or running the validator (`profiles::write_rules`).
//!
//! Elements are keyed by the type that holds them as `fhir_model::meta`
//! names it: the resource or data type (`ContactPoint.system`), or the
//! backbone element's struct name (`BundleEntryRequest.method`, as
//! `model.rs` names it). A value set is listed when the package can list
//! it: `include`s of whole complete code systems, of concept lists and of
//! other value sets; value sets over external systems (MIME types,
//! currencies) are left out, and their elements are not judged.
//!
//! Layout: one element a line, sorted, so `tests/required_codes_fresh.rs`
//! compares it byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::package;

/// Where the file goes relative to the workspace root.
pub const DEFAULT_OUT: &str = "profiles/data";

/// The generated file, by name relative to [`DEFAULT_OUT`].
pub fn generate(package_path: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    let defs = package::read_structure_definitions(package_path)?;
    let value_sets = by_url(package::read_resources(package_path, "ValueSet-")?);
    let code_systems = by_url(package::read_resources(package_path, "CodeSystem-")?);
    let terms = Terms {
        value_sets,
        code_systems,
    };
    let mut table: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for sd in &defs {
        let kind = sd.get("kind").and_then(Value::as_str).unwrap_or("");
        if sd.get("derivation").and_then(Value::as_str) == Some("constraint")
            || !matches!(kind, "resource" | "complex-type")
        {
            continue;
        }
        let elements = sd
            .pointer("/snapshot/element")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for e in elements {
            let Some((path, vs)) = required_code_binding(e) else {
                continue;
            };
            let Some((parent, name)) = path.rsplit_once('.') else {
                continue;
            };
            if name.ends_with("[x]") {
                continue;
            }
            let Some(codes) = terms.codes(vs, 0) else {
                continue;
            };
            let owner: String = parent.split('.').map(crate::model::upper_first).collect();
            let url = vs.split('|').next().unwrap_or(vs).to_owned();
            table.insert(format!("{owner}.{name}"), (url, codes));
        }
    }
    let lines: Vec<String> = table
        .iter()
        .map(|(k, (vs, codes))| {
            let codes: Vec<Value> = codes.iter().map(|c| Value::from(c.as_str())).collect();
            format!(
                "{}:{}",
                Value::from(k.as_str()),
                serde_json::json!({"valueSet": vs, "codes": codes})
            )
        })
        .collect();
    let mut out = format!(
        "{{\"generated_by\":{},\"license\":{},\"elements\":{{\n",
        Value::from(crate::invariants::GENERATED_BY),
        Value::from(crate::invariants::LICENSE)
    );
    out.push_str(&lines.join(",\n"));
    out.push_str("\n}}\n");
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("required-codes.json"), out);
    Ok(files)
}

fn by_url(resources: Vec<Value>) -> HashMap<String, Value> {
    resources
        .into_iter()
        .filter_map(|r| Some((r.get("url")?.as_str()?.to_owned(), r)))
        .collect()
}

struct Terms {
    value_sets: HashMap<String, Value>,
    code_systems: HashMap<String, Value>,
}

impl Terms {
    /// Every code of the value set `url` (`url|version` allowed); `None`
    /// when the package cannot list it.
    fn codes(&self, url: &str, depth: usize) -> Option<BTreeSet<String>> {
        if depth > 8 {
            return None;
        }
        let vs = self.value_sets.get(url.split('|').next()?)?;
        let compose = vs.get("compose")?;
        if compose.get("exclude").is_some() {
            return None;
        }
        let mut out = BTreeSet::new();
        for inc in compose.get("include")?.as_array()? {
            if inc.get("filter").is_some() {
                return None;
            }
            let mut part: Option<BTreeSet<String>> = None;
            if let Some(system) = inc.get("system").and_then(Value::as_str) {
                part = Some(match inc.get("concept").and_then(Value::as_array) {
                    Some(concepts) => concepts
                        .iter()
                        .filter_map(|c| c.get("code")?.as_str().map(str::to_owned))
                        .collect(),
                    None => self.system_codes(system)?,
                });
            }
            for other in inc
                .get("valueSet")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let codes = self.codes(other.as_str()?, depth + 1)?;
                part = Some(match part {
                    None => codes,
                    Some(p) => p.intersection(&codes).cloned().collect(),
                });
            }
            out.extend(part?);
        }
        Some(out)
    }

    /// Every code of a complete code system, nested concepts included.
    fn system_codes(&self, url: &str) -> Option<BTreeSet<String>> {
        let cs = self.code_systems.get(url)?;
        if cs.get("content").and_then(Value::as_str) != Some("complete") {
            return None;
        }
        let mut out = BTreeSet::new();
        fn walk(concepts: &[Value], out: &mut BTreeSet<String>) {
            for c in concepts {
                if let Some(code) = c.get("code").and_then(Value::as_str) {
                    out.insert(code.to_owned());
                }
                if let Some(Value::Array(nested)) = c.get("concept") {
                    walk(nested, out);
                }
            }
        }
        walk(cs.get("concept")?.as_array()?, &mut out);
        Some(out)
    }
}

/// The path and value set of a snapshot element that is a `code` with a
/// required binding: what both the write rules' code table and the
/// search index's code systems are built from.
pub(crate) fn required_code_binding(element: &Value) -> Option<(&str, &str)> {
    let types: Vec<&str> = element
        .get("type")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("code").and_then(Value::as_str))
        .collect();
    let binding = element.get("binding")?;
    let strength = binding.get("strength").and_then(Value::as_str);
    let value_set = binding.get("valueSet").and_then(Value::as_str)?;
    let path = element.get("path").and_then(Value::as_str)?;
    (types == ["code"] && strength == Some("required")).then_some((path, value_set))
}
