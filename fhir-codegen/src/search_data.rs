//! The built-in search data of `fhir-server`: every R4 core SearchParameter
//! and the five CompartmentDefinitions, cut down to what the server's
//! registry reads, as `fhir-store/data/search-parameters.json` and
//! `fhir-store/data/compartments.json`; and `code-systems.json`, the code
//! system of every `code` element whose required binding draws from one
//! code system (`Patient.gender` → administrative-gender), so token search
//! indexes such codes with their system (`gender=system|male`).
//!
//! Why generated rather than read at start: the server then needs no
//! package to know the core parameters, and the files are small enough to
//! `include_str!`. Why one parameter (or compartment) per line, sorted:
//! the output is deterministic, so `tests/search_data_fresh.rs` can compare
//! it byte for byte, and a change to the generator shows as a readable diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::package;

/// The header every generated file carries: where it comes from, and why
/// committing HL7's content is allowed.
pub const GENERATED_BY: &str = "cargo run -p fhir-codegen (from hl7.fhir.r4.core 4.0.1, CC0)";

/// Where the files go relative to the workspace root.
pub const DEFAULT_DATA_OUT: &str = "fhir-store/data";

/// The generated files, by name relative to the data folder.
pub fn generate(package_path: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    let params = package::read_resources(package_path, "SearchParameter-")?;
    let compartments = package::read_resources(package_path, "CompartmentDefinition-")?;
    let structures = package::read_structure_definitions(package_path)?;
    let value_sets = package::read_resources(package_path, "ValueSet-")?;
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("code-systems.json"),
        code_systems(&structures, &value_sets)?,
    );
    files.insert(
        PathBuf::from("search-parameters.json"),
        search_parameters(&params)?,
    );
    files.insert(
        PathBuf::from("compartments.json"),
        compartment_file(&compartments)?,
    );
    Ok(files)
}

/// `{"generated_by": …, "parameters": [...]}`, sorted by url, one
/// parameter a line.
pub fn search_parameters(resources: &[Value]) -> Result<String, String> {
    let mut params = BTreeMap::new();
    for resource in resources {
        let (url, param) = search_parameter(resource)?;
        if params.insert(url.clone(), param).is_some() {
            return Err(format!("SearchParameter {url} appears twice"));
        }
    }
    let mut out = format!(
        "{{\"generated_by\":{},\"parameters\":[\n",
        Value::from(GENERATED_BY)
    );
    let lines: Vec<String> = params.values().map(Value::to_string).collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n]}\n");
    Ok(out)
}

/// One SearchParameter with only the fields the registry reads, in a
/// fixed key order.
fn search_parameter(resource: &Value) -> Result<(String, Value), String> {
    let id = resource.get("id").and_then(Value::as_str).unwrap_or("?");
    let text = |key: &str| -> Result<String, String> {
        resource
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("SearchParameter/{id}: no {key}"))
    };
    let strings = |key: &str| -> Result<Vec<Value>, String> {
        match resource.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(_) => Ok(v.clone()),
                    _ => Err(format!("SearchParameter/{id}: {key} holds a non-string")),
                })
                .collect(),
            Some(_) => Err(format!("SearchParameter/{id}: {key} is not an array")),
        }
    };
    let url = text("url")?;
    let mut out = Map::new();
    out.insert("url".into(), url.clone().into());
    out.insert("code".into(), text("code")?.into());
    let base = strings("base")?;
    if base.is_empty() {
        return Err(format!("SearchParameter/{id}: no base"));
    }
    out.insert("base".into(), Value::Array(base));
    out.insert("type".into(), text("type")?.into());
    if let Some(expression) = resource.get("expression").and_then(Value::as_str) {
        out.insert("expression".into(), expression.into());
    }
    let target = strings("target")?;
    if !target.is_empty() {
        out.insert("target".into(), Value::Array(target));
    }
    let mut components = Vec::new();
    for component in resource
        .get("component")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| -> Result<Value, String> {
            component
                .get(key)
                .and_then(Value::as_str)
                .map(Value::from)
                .ok_or_else(|| format!("SearchParameter/{id}: a component without {key}"))
        };
        let mut c = Map::new();
        c.insert("definition".into(), field("definition")?);
        c.insert("expression".into(), field("expression")?);
        components.push(Value::Object(c));
    }
    if !components.is_empty() {
        out.insert("component".into(), Value::Array(components));
    }
    Ok((url, Value::Object(out)))
}

/// `{"generated_by": …, "compartments": {"Patient": {"Observation":
/// ["subject", …], …}, …}}`: compartments and resource types sorted, the
/// params in the definition's order, one compartment a line. Resource
/// types without params are not in the compartment and are left out.
pub fn compartment_file(resources: &[Value]) -> Result<String, String> {
    let mut compartments = BTreeMap::new();
    for resource in resources {
        let id = resource.get("id").and_then(Value::as_str).unwrap_or("?");
        let code = resource
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("CompartmentDefinition/{id}: no code"))?;
        let mut members = BTreeMap::new();
        for entry in resource
            .get("resource")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ty = entry
                .get("code")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("CompartmentDefinition/{id}: a resource without code"))?;
            let params: Vec<Value> = entry
                .get("param")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| p.is_string())
                .cloned()
                .collect();
            if !params.is_empty() {
                members.insert(ty.to_owned(), Value::Array(params));
            }
        }
        let members: Map<String, Value> = members.into_iter().collect();
        if compartments
            .insert(code.to_owned(), Value::Object(members))
            .is_some()
        {
            return Err(format!("compartment {code} is defined twice"));
        }
    }
    let mut out = format!(
        "{{\"generated_by\":{},\"compartments\":{{\n",
        Value::from(GENERATED_BY)
    );
    let lines: Vec<String> = compartments
        .iter()
        .map(|(code, members)| format!("{}:{members}", Value::from(code.as_str())))
        .collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n}}\n");
    Ok(out)
}

/// `{"generated_by": …, "code_systems": {"Address.use": "http://hl7.org/fhir/address-use", …}}`:
/// for every element of the core resources and data types (their
/// definitions, not profiles) whose only type is `code` and whose binding
/// is `required` to a value set drawing from exactly one code system, that
/// system; paths sorted, one a line. Value sets with several systems, other
/// value sets included, or not in the package give no entry: such a code
/// stays indexed without a system.
pub fn code_systems(structures: &[Value], value_sets: &[Value]) -> Result<String, String> {
    let mut systems_of_value_set = BTreeMap::new();
    for vs in value_sets {
        if let (Some(url), Some(system)) =
            (vs.get("url").and_then(Value::as_str), single_system(vs))
        {
            systems_of_value_set.insert(url.to_owned(), system);
        }
    }
    let mut by_path = BTreeMap::new();
    for sd in structures {
        let field = |key: &str| sd.get(key).and_then(Value::as_str);
        if field("derivation") != Some("specialization")
            || !matches!(field("kind"), Some("resource" | "complex-type"))
        {
            continue;
        }
        for element in sd
            .pointer("/snapshot/element")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some((path, value_set)) = crate::required_codes::required_code_binding(element)
            else {
                continue;
            };
            let url = value_set.split('|').next().unwrap_or(value_set);
            if let Some(system) = systems_of_value_set.get(url) {
                by_path.insert(path.to_owned(), system.clone());
            }
        }
    }
    let mut out = format!(
        "{{\"generated_by\":{},\"code_systems\":{{\n",
        Value::from(GENERATED_BY)
    );
    let lines: Vec<String> = by_path
        .iter()
        .map(|(path, system)| {
            format!(
                "{}:{}",
                Value::from(path.as_str()),
                Value::from(system.as_str())
            )
        })
        .collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n}}\n");
    Ok(out)
}

/// The one code system a value set's `compose.include` draws from, if it
/// names exactly one and includes no other value set.
fn single_system(vs: &Value) -> Option<String> {
    let includes = vs.pointer("/compose/include")?.as_array()?;
    let mut system: Option<&str> = None;
    for include in includes {
        if include.get("valueSet").is_some() {
            return None;
        }
        let s = include.get("system")?.as_str()?;
        match system {
            Some(seen) if seen != s => return None,
            _ => system = Some(s),
        }
    }
    system.map(str::to_owned)
}
