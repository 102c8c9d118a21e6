//! StructureDefinition rules beyond its invariants (structuredefinition.html,
//! profiling.html), as the HL7 validator applies them:
//!
//! - a logical model's `type` is a FHIR type or an absolute URL (a bare
//!   name would clash with the types the specification defines);
//! - a specialization has a type of its own, a constraint keeps its base's;
//! - every element path starts with the structure's type name (the last
//!   segment of a URL type);
//! - a `type.profile` is a profile of that type (`Count` specializes
//!   `Quantity`, so it is not a profile a `Quantity` may name);
//! - a constraint's differential paths name elements of the type (a
//!   snapshot cannot be generated otherwise);
//! - a slicing discriminator's path names an element of the sliced
//!   element's type.
//!
//! Paths are checked against the R4 type tables of `fhir_model::meta`;
//! what those cannot answer (a choice left open, a FHIRPath function in a
//! discriminator, a type outside the core) is not judged.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta;

use super::{canonical, field, str_field, Issue, Severity, Validator};
use crate::PackageSet;

const CORE_SD: &str = "http://hl7.org/fhir/StructureDefinition/";

fn list<'a>(v: &'a Json, name: &str) -> &'a [Json] {
    match field(v, name) {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}

fn error(issues: &mut Vec<Issue>, location: impl Into<String>, message: String) {
    issues.push(Issue::new(Severity::Error, "structure", location, message));
}

pub(crate) fn check(v: &Validator, sd: &Json, location: &str, issues: &mut Vec<Issue>) {
    let packages = v.packages();
    let Some(ty) = str_field(sd, "type") else {
        return;
    };
    let kind = str_field(sd, "kind").unwrap_or("");
    let derivation = str_field(sd, "derivation").unwrap_or("");
    if kind == "logical"
        && !canonical::is_absolute(ty)
        && packages.by_url(&format!("{CORE_SD}Element")).is_some()
        // A core type, or an element of one (`date.id`, the core's data
        // element definitions).
        && packages
            .by_url(&format!("{CORE_SD}{}", ty.split('.').next().unwrap_or(ty)))
            .is_none()
    {
        error(
            issues,
            format!("{location}.type"),
            format!(
                "The type {ty} is not legal because it is not defined in the FHIR specification. Other types must have a namespace on them"
            ),
        );
    }
    if let Some(base_url) = str_field(sd, "baseDefinition") {
        if let Some(base_ty) = sd_fetch(packages, base_url).and_then(|b| str_field(b, "type")) {
            if derivation == "specialization" && base_ty == ty {
                error(
                    issues,
                    location,
                    format!(
                        "The type {ty} must not be the same as the type in the base structure {base_url} that is being specialised"
                    ),
                );
            }
            if derivation == "constraint" && base_ty != ty {
                error(
                    issues,
                    location,
                    format!(
                        "The type {ty} must be the same as the type {base_ty} of the base structure {base_url} that is being constrained"
                    ),
                );
            }
        }
    }
    let type_name = ty.rsplit('/').next().unwrap_or(ty);
    // The root of the meta navigation: a type the R4 tables know.
    let root = (kind != "logical")
        .then(|| meta::type_info(type_name))
        .flatten()
        .map(|t| t.name);
    // The base's snapshot elements, read when a fixed value needs them.
    let base_elements: std::cell::OnceCell<Option<Vec<Json>>> = std::cell::OnceCell::new();
    // The paths of the base's snapshot, read when a path needs them.
    let base_paths: std::cell::OnceCell<Option<Vec<String>>> = std::cell::OnceCell::new();
    for list_name in ["differential", "snapshot"] {
        let Some(holder) = field(sd, list_name) else {
            continue;
        };
        for (i, e) in list(holder, "element").iter().enumerate() {
            let at = format!("{location}.{list_name}.element[{i}]");
            let Some(path) = str_field(e, "path") else {
                continue;
            };
            if path != type_name && !path.starts_with(&format!("{type_name}.")) {
                error(
                    issues,
                    &at,
                    format!(
                        "The path {path} must start with the type of the structure {type_name}"
                    ),
                );
                continue;
            }
            type_profiles(packages, e, path, &at, issues);
            if list_name == "differential" && derivation == "constraint" {
                if let Some(base) = base_elements.get_or_init(|| {
                    str_field(sd, "baseDefinition")
                        .and_then(|b| sd_fetch(packages, b))
                        .and_then(|b| crate::snapshot::elements(packages, b))
                }) {
                    fixed_kept(
                        e,
                        base,
                        str_field(sd, "baseDefinition").unwrap_or(""),
                        &at,
                        issues,
                    );
                }
            }
            let Some(root) = root else {
                continue;
            };
            if list_name == "differential" && derivation == "constraint" {
                let in_base = || {
                    base_paths
                        .get_or_init(|| {
                            str_field(sd, "baseDefinition")
                                .and_then(|b| sd_fetch(packages, b))
                                .and_then(|b| crate::snapshot::elements(packages, b))
                                .map(|els| {
                                    els.iter()
                                        .filter_map(|e| str_field(e, "path").map(str::to_owned))
                                        .collect()
                                })
                        })
                        .as_ref()
                        // No base at hand: nothing to judge against.
                        .is_none_or(|paths| paths.iter().any(|p| p == path))
                };
                if let (Err(seg), false) = (navigate(root, path), in_base()) {
                    error(
                        issues,
                        location,
                        format!(
                            "Error generating Snapshot: the path {path} (differential element {i}) is not valid: {root} has no element '{seg}' there (this usually arises from a problem in the differential)"
                        ),
                    );
                }
            }
            discriminators(e, root, path, &at, issues);
        }
    }
}

/// A value the base fixes stays fixed: a differential may repeat it, not
/// change it (profiling.html: a profile only constrains its base).
fn fixed_kept(e: &Json, base: &[Json], base_url: &str, at: &str, issues: &mut Vec<Issue>) {
    let Json::Object(props) = e else {
        return;
    };
    let Some((key, value)) = props.iter().find(|(k, _)| k.starts_with("fixed")) else {
        return;
    };
    // By id only: a path alone cannot tell slices apart.
    let Some(id) = str_field(e, "id") else {
        return;
    };
    let Some(b) = base.iter().find(|b| str_field(b, "id") == Some(id)) else {
        return;
    };
    let Json::Object(bprops) = b else {
        return;
    };
    let Some((bkey, bvalue)) = bprops.iter().find(|(k, _)| k.starts_with("fixed")) else {
        return;
    };
    if key != bkey || value != bvalue {
        let show = |v: &Json| match v {
            Json::String(s) => s.clone(),
            other => String::from_utf8_lossy(&fhir_model::json::tree::to_json(other)).into_owned(),
        };
        error(
            issues,
            format!("{at}.{key}"),
            format!(
                "Value is '{}' but is fixed to '{}' in the profile {base_url}, because the value must match the fixed value defined in '{base_url}'",
                show(value),
                show(bvalue)
            ),
        );
    }
}

fn sd_fetch<'a>(packages: &'a PackageSet, url: &str) -> Option<&'a Json> {
    canonical::fetch(packages, url)
        .filter(|r| super::resource_type(r) == Some("StructureDefinition"))
}

/// Each `type.profile` must constrain that type (or a type it
/// specializes, up to the abstract bases).
fn type_profiles(packages: &PackageSet, e: &Json, path: &str, at: &str, issues: &mut Vec<Issue>) {
    for (j, t) in list(e, "type").iter().enumerate() {
        let Some(code) = str_field(t, "code") else {
            continue;
        };
        for (k, p) in list(t, "profile").iter().enumerate() {
            let Json::String(url) = p else {
                continue;
            };
            let Some(base) = sd_fetch(packages, url).and_then(|sd| base_type(packages, sd)) else {
                continue;
            };
            if !is_instance_of(packages, base, code) {
                error(
                    issues,
                    format!("{at}.type[{j}].profile[{k}]"),
                    format!(
                        "Profile {url} is for type {}, but the {path} element has type {code}",
                        str_field(base, "type").unwrap_or("?")
                    ),
                );
            }
        }
    }
}

/// The structure a profile constrains: its base definitions followed
/// while they are constraints.
fn base_type<'a>(packages: &'a PackageSet, sd: &'a Json) -> Option<&'a Json> {
    let mut sd = sd;
    for _ in 0..16 {
        if str_field(sd, "derivation") != Some("constraint") {
            return Some(sd);
        }
        sd = sd_fetch(packages, str_field(sd, "baseDefinition")?)?;
    }
    None
}

/// Whether structure `sd` is of type `code`: itself, or through the
/// abstract (or logical) structures it specializes.
fn is_instance_of(packages: &PackageSet, sd: &Json, code: &str) -> bool {
    let mut sd = sd;
    for _ in 0..16 {
        if str_field(sd, "type") == Some(code) || str_field(sd, "url") == Some(code) {
            return true;
        }
        let Some(next) = str_field(sd, "baseDefinition").and_then(|b| sd_fetch(packages, b)) else {
            return false;
        };
        let abstract_ = matches!(field(next, "abstract"), Some(Json::Bool(true)));
        if !abstract_ && str_field(next, "kind") != Some("logical") {
            return false;
        }
        sd = next;
    }
    false
}

/// Follows an element path from the root type through the R4 type
/// tables: `Ok(Some(type))` where it ends, `Ok(None)` when the tables
/// cannot tell (an open choice, a primitive's inside), `Err(segment)` at
/// a name the type there does not have.
fn navigate<'p>(root: &'static str, path: &'p str) -> Result<Option<&'static str>, &'p str> {
    let mut segs = path.split('.');
    if segs.next() != Some(root) {
        return Ok(None);
    }
    let mut ty = root;
    for seg in segs {
        match step(ty, seg).map_err(|()| seg)? {
            Some(t) => ty = t,
            None => return Ok(None),
        }
    }
    Ok(Some(ty))
}

/// One step of [`navigate`].
fn step(ty: &'static str, seg: &str) -> Result<Option<&'static str>, ()> {
    let Some(info) = meta::type_info(ty) else {
        return Ok(None);
    };
    if let Some(name) = seg.strip_suffix("[x]") {
        return match info.element(name) {
            Some(e) if e.choice => Ok(match e.types {
                [one] => Some(one),
                _ => None,
            }),
            _ => Err(()),
        };
    }
    match info.element_named(seg) {
        Some((_, _, t)) => Ok(Some(t)),
        None => Err(()),
    }
}

/// A discriminator path (`url`, `code.coding.system`, `$this`) must name
/// an element of the sliced element's type; paths with functions are not
/// judged.
fn discriminators(e: &Json, root: &'static str, path: &str, at: &str, issues: &mut Vec<Issue>) {
    let Some(slicing) = field(e, "slicing") else {
        return;
    };
    let Ok(Some(sliced)) = navigate(root, path) else {
        return;
    };
    for (d, disc) in list(slicing, "discriminator").iter().enumerate() {
        let Some(dpath) = str_field(disc, "path") else {
            continue;
        };
        if dpath.contains(['(', '[', ' ', '\'', '%']) {
            continue;
        }
        let mut ty = sliced;
        let mut valid = true;
        for seg in dpath.split('.') {
            if seg == "$this" {
                continue;
            }
            let Some(info) = meta::type_info(ty) else {
                break;
            };
            // FHIRPath names a choice by its bare name (`value`).
            let next = match info.element(seg) {
                Some(el) if el.choice => None,
                Some(el) => el.types.first().copied(),
                None => match info.element_named(seg) {
                    Some((_, _, t)) => Some(t),
                    None => {
                        valid = false;
                        break;
                    }
                },
            };
            match next {
                Some(t) => ty = t,
                None => break,
            }
        }
        if !valid {
            error(
                issues,
                format!("{at}.slicing.discriminator[{d}]"),
                format!(
                    "The discriminator path '{dpath}' does not appear to be valid for the element that is being sliced '{path}'"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_through_the_type_tables() {
        assert_eq!(
            navigate("Observation", "Observation.valueQuantity"),
            Ok(Some("Quantity"))
        );
        assert_eq!(navigate("Observation", "Observation.value[x]"), Ok(None));
        assert_eq!(
            navigate("Observation", "Observation.valueBla"),
            Err("valueBla")
        );
        assert_eq!(
            navigate("Patient", "Patient.contact.name.family"),
            Ok(Some("string"))
        );
        assert_eq!(
            navigate("AuditEvent", "AuditEvent.agent.extension"),
            Ok(Some("Extension"))
        );
        assert_eq!(navigate("Patient", "Patient.birthDate.extension"), Ok(None));
    }

    /// A stand-in for the core Observation, with the paths the tests use.
    const BASE: &str = r#"{"resourceType":"StructureDefinition","id":"Observation",
        "url":"http://hl7.org/fhir/StructureDefinition/Observation","name":"Observation",
        "status":"active","kind":"resource","abstract":false,"type":"Observation",
        "derivation":"specialization","snapshot":{"element":[
        {"id":"Observation","path":"Observation"},
        {"id":"Observation.value[x]","path":"Observation.value[x]"},
        {"id":"Observation.component","path":"Observation.component"},
        {"id":"Observation.component.code","path":"Observation.component.code"}]}}"#;

    /// Stand-ins for Element, Quantity and two structures on it.
    fn type_sd(id: &str, ty: &str, base: &str, derivation: &str) -> (String, Vec<u8>) {
        (
            format!("{id}.json"),
            format!(
                r#"{{"resourceType":"StructureDefinition","id":"{id}",
                "url":"http://hl7.org/fhir/StructureDefinition/{id}","name":"{id}",
                "status":"active","kind":"complex-type","abstract":false,"type":"{ty}",
                "baseDefinition":"http://hl7.org/fhir/StructureDefinition/{base}",
                "derivation":"{derivation}"}}"#
            )
            .into_bytes(),
        )
    }

    fn errors(sd: &str) -> Vec<String> {
        let mut set = PackageSet::new();
        set.add(
            crate::Package::from_resources(
                "t",
                "0.0.0",
                vec![
                    ("o.json".to_owned(), BASE.as_bytes().to_vec()),
                    type_sd("Element", "Element", "Base", "specialization"),
                    type_sd("Quantity", "Quantity", "Element", "specialization"),
                    type_sd("Count", "Count", "Quantity", "specialization"),
                    type_sd("SimpleQuantity", "Quantity", "Quantity", "constraint"),
                ],
            )
            .expect("package"),
        );
        Validator::new(std::sync::Arc::new(set))
            .validate_json(sd.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    fn profile(elements: &str) -> String {
        format!(
            r#"{{"resourceType":"StructureDefinition","url":"http://example.org/sd","name":"X",
            "status":"draft","kind":"resource","abstract":false,"type":"Observation",
            "baseDefinition":"http://hl7.org/fhir/StructureDefinition/Observation",
            "derivation":"constraint","differential":{{"element":[{elements}]}}}}"#
        )
    }

    #[test]
    fn differential_paths_name_elements_of_the_type() {
        let good = errors(&profile(
            r#"{"id":"Observation.valueQuantity","path":"Observation.valueQuantity"},
               {"id":"Observation.component.code","path":"Observation.component.code"}"#,
        ));
        assert!(good.is_empty(), "{good:?}");
        let bad = errors(&profile(
            r#"{"id":"Observation.valueQuantity","path":"Observation.valueBla"}"#,
        ));
        assert!(
            bad.iter()
                .any(|m| m.starts_with("StructureDefinition: Error generating Snapshot")),
            "{bad:?}"
        );
        let bad = errors(&profile(r#"{"id":"Patient.name","path":"Patient.name"}"#));
        assert!(
            bad.iter().any(|m| m
                .starts_with("StructureDefinition.differential.element[0]: The path Patient.name")),
            "{bad:?}"
        );
    }

    #[test]
    fn discriminator_paths_name_elements_of_the_sliced_type() {
        let sliced = |p: &str| {
            profile(&format!(
                r#"{{"id":"Observation.component.extension","path":"Observation.component.extension",
                "slicing":{{"discriminator":[{{"type":"value","path":"{p}"}}],"rules":"open"}}}}"#
            ))
        };
        assert!(errors(&sliced("url")).is_empty());
        assert!(errors(&sliced("value")).is_empty());
        assert!(errors(&sliced("extension('x').value")).is_empty());
        let bad = errors(&sliced("type"));
        assert!(
            bad.iter().any(|m| m.starts_with(
                "StructureDefinition.differential.element[0].slicing.discriminator[0]:"
            )),
            "{bad:?}"
        );
    }

    #[test]
    fn a_type_profile_constrains_that_type() {
        let with = |p: &str| {
            errors(&profile(&format!(
                r#"{{"id":"Observation.valueQuantity","path":"Observation.valueQuantity",
                "type":[{{"code":"Quantity","profile":["http://hl7.org/fhir/StructureDefinition/{p}"]}}]}}"#
            )))
        };
        assert!(
            with("SimpleQuantity").is_empty(),
            "{:?}",
            with("SimpleQuantity")
        );
        let e = with("Count");
        assert!(
            e.iter().any(|m| m.starts_with(
                "StructureDefinition.differential.element[0].type[0].profile[0]: Profile"
            )),
            "{e:?}"
        );
    }

    #[test]
    fn a_logical_model_type_is_a_url_or_a_fhir_type() {
        let logical = |ty: &str| {
            errors(&format!(
                r#"{{"resourceType":"StructureDefinition","url":"http://example.org/Boo","name":"Boo",
                "status":"draft","kind":"logical","abstract":false,"type":"{ty}",
                "baseDefinition":"http://hl7.org/fhir/StructureDefinition/Element",
                "derivation":"specialization","differential":{{"element":[
                {{"id":"{root}","path":"{root}"}}]}}}}"#,
                root = ty.rsplit('/').next().unwrap_or(ty)
            ))
        };
        assert!(logical("http://example.org/Boo").is_empty());
        assert!(logical("Quantity").is_empty());
        let e = logical("Boo");
        assert!(
            e.iter().any(|m| m.starts_with("StructureDefinition.type:")),
            "{e:?}"
        );
    }

    #[test]
    fn a_fixed_value_of_the_base_stays() {
        let ext = |id: &str, base: &str, url: &str| {
            (
                format!("{id}.json"),
                format!(
                    r#"{{"resourceType":"StructureDefinition","id":"{id}",
                    "url":"http://example.org/{id}","name":"E","status":"draft",
                    "kind":"complex-type","abstract":false,"type":"Extension",
                    "baseDefinition":"{base}","derivation":"constraint",
                    "snapshot":{{"element":[{{"id":"Extension","path":"Extension"}},
                    {{"id":"Extension.url","path":"Extension.url","fixedUri":"{url}"}}]}}}}"#
                )
                .into_bytes(),
            )
        };
        let mut set = PackageSet::new();
        set.add(
            crate::Package::from_resources(
                "t",
                "0.0.0",
                vec![ext(
                    "base",
                    "http://example.org/x",
                    "http://example.org/base",
                )],
            )
            .expect("package"),
        );
        let v = Validator::new(std::sync::Arc::new(set));
        let derived = |url: &str| {
            let sd = format!(
                r#"{{"resourceType":"StructureDefinition","url":"http://example.org/d","name":"D",
                "status":"draft","kind":"complex-type","abstract":false,"type":"Extension",
                "baseDefinition":"http://example.org/base","derivation":"constraint",
                "context":[{{"type":"element","expression":"Element"}}],
                "differential":{{"element":[{{"id":"Extension.url","path":"Extension.url","fixedUri":"{url}"}}]}}}}"#
            );
            v.validate_json(sd.as_bytes(), &[])
                .into_iter()
                .filter(|i| i.severity.is_error())
                .map(|i| i.expression)
                .collect::<Vec<_>>()
        };
        assert!(derived("http://example.org/base").is_empty());
        assert_eq!(
            derived("http://example.org/d"),
            vec!["StructureDefinition.differential.element[0].fixedUri"]
        );
    }
}
