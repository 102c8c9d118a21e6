//! Obligation profiles (the `obligation-profile` flag extension, FHIR
//! tooling / R5 obligations): a profile that only adds obligations to
//! its base. Its differential names elements of the base (by id) and
//! states nothing but obligations, mustSupport, cardinality and
//! additional bindings (with the base's binding strength); and a profile
//! that inherits obligations (`inherit-obligations`) takes them from an
//! obligation profile on the same base.

use fhir_model::json::tree::Value as Json;

use super::{canonical, field, str_field, Issue, Severity, Validator};

const FLAG: &[&str] = &[
    "http://hl7.org/fhir/StructureDefinition/obligation-profile",
    "http://hl7.org/fhir/tools/StructureDefinition/obligation-profile",
];
const INHERITS: &[&str] = &[
    "http://hl7.org/fhir/StructureDefinition/inherit-obligations",
    "http://hl7.org/fhir/tools/StructureDefinition/inherit-obligations",
];
const OBLIGATION: &[&str] = &[
    "http://hl7.org/fhir/StructureDefinition/obligation",
    "http://hl7.org/fhir/tools/StructureDefinition/obligation",
];
const ADDITIONAL_BINDING: &str = "http://hl7.org/fhir/tools/StructureDefinition/additional-binding";

fn list<'a>(v: &'a Json, name: &str) -> &'a [Json] {
    match field(v, name) {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}

fn error(issues: &mut Vec<Issue>, location: impl Into<String>, message: String) {
    issues.push(Issue::new(Severity::Error, "invalid", location, message));
}

/// Whether a StructureDefinition carries the obligation-profile flag.
fn is_obligation_profile(sd: &Json) -> bool {
    list(sd, "extension").iter().any(|e| {
        str_field(e, "url").is_some_and(|u| FLAG.contains(&u))
            && matches!(field(e, "valueBoolean"), Some(Json::Bool(true)))
    })
}

fn sd_fetch<'a>(v: &'a Validator, url: &str) -> Option<&'a Json> {
    canonical::fetch(v.packages(), url)
        .filter(|r| super::resource_type(r) == Some("StructureDefinition"))
}

pub(crate) fn check(v: &Validator, sd: &Json, location: &str, issues: &mut Vec<Issue>) {
    let base_url = str_field(sd, "baseDefinition").unwrap_or("");
    for (i, ext) in list(sd, "extension").iter().enumerate() {
        if !str_field(ext, "url").is_some_and(|u| INHERITS.contains(&u)) {
            continue;
        }
        let target = str_field(ext, "valueCanonical").or_else(|| str_field(ext, "valueUri"));
        let Some(target_sd) = target.and_then(|t| sd_fetch(v, t)) else {
            continue;
        };
        let target = target.unwrap_or("");
        let at = format!("{location}.extension[{i}]");
        if !is_obligation_profile(target_sd) {
            error(
                issues,
                &at,
                format!("The profile '{target}' is not marked as an obligation profile"),
            );
        } else if let Some(tb) = str_field(target_sd, "baseDefinition") {
            if tb != base_url {
                error(
                    issues,
                    &at,
                    format!(
                        "The profile '{target}' has a different base '{tb}' from that expected '{base_url}'"
                    ),
                );
            }
        }
    }
    if !is_obligation_profile(sd) {
        return;
    }
    if str_field(sd, "derivation") != Some("constraint") {
        error(
            issues,
            location,
            "An obligation profile is a constraint on its base (derivation = constraint)"
                .to_owned(),
        );
        return;
    }
    let Some(base) = sd_fetch(v, base_url).and_then(|b| crate::snapshot::elements(v.packages(), b))
    else {
        return;
    };
    let Some(diff) = field(sd, "differential") else {
        return;
    };
    for (i, e) in list(diff, "element").iter().enumerate() {
        let at = format!("{location}.differential.element[{i}]");
        element(e, &base, base_url, &at, issues);
    }
}

fn element(e: &Json, base: &[Json], base_url: &str, at: &str, issues: &mut Vec<Issue>) {
    let Some(id) = str_field(e, "id") else {
        return;
    };
    let Some(b) = base.iter().find(|b| str_field(b, "id") == Some(id)) else {
        error(
            issues,
            at,
            format!("The element '{id}' is not found in the base profile {base_url}"),
        );
        return;
    };
    let Json::Object(props) = e else {
        return;
    };
    for (key, value) in props {
        let name = key.strip_prefix('_').unwrap_or(key);
        match name {
            "id" | "mustSupport" | "min" | "max" => {}
            "path" => {
                if key == name && str_field(e, "path") != str_field(b, "path") {
                    error(
                        issues,
                        format!("{at}.path"),
                        format!(
                            "The element '{id}' has the path {} where the base has {}",
                            str_field(e, "path").unwrap_or(""),
                            str_field(b, "path").unwrap_or("")
                        ),
                    );
                }
            }
            "extension" if key == name => {
                for (k, ext) in list(e, "extension").iter().enumerate() {
                    let url = str_field(ext, "url").unwrap_or("");
                    if !OBLIGATION.contains(&url) {
                        error(
                            issues,
                            format!("{at}.extension[{k}]"),
                            format!(
                                "The element '{id}' has a property 'extension#{url}' which is not allowed in Obligation profiles"
                            ),
                        );
                    }
                }
            }
            "binding" if key == name => binding(id, value, b, at, issues),
            other => error(
                issues,
                format!("{at}.{other}"),
                format!(
                    "The element '{id}' has a property '{other}' which is not allowed in Obligation profiles"
                ),
            ),
        }
    }
}

/// An obligation profile's binding adds bindings; the rest stays the base's.
fn binding(id: &str, binding: &Json, base: &Json, at: &str, issues: &mut Vec<Issue>) {
    let at = format!("{at}.binding");
    let Some(base_binding) = field(base, "binding") else {
        error(
            issues,
            &at,
            format!("The element '{id}' has a binding, which is not allowed in Obligation profiles where the base has none"),
        );
        return;
    };
    let Json::Object(props) = binding else {
        return;
    };
    for (key, _) in props {
        match key.as_str() {
            "strength" => {
                let (mine, theirs) = (
                    str_field(binding, "strength").unwrap_or(""),
                    str_field(base_binding, "strength").unwrap_or(""),
                );
                if !theirs.is_empty() && mine != theirs {
                    error(
                        issues,
                        format!("{at}.strength"),
                        format!(
                            "The element '{id}' has a different binding strength ('{mine}') from the base ('{theirs}') which is not allowed in Obligation profiles"
                        ),
                    );
                }
            }
            "extension" => {
                for (k, ext) in list(binding, "extension").iter().enumerate() {
                    if str_field(ext, "url") != Some(ADDITIONAL_BINDING) {
                        error(
                            issues,
                            format!("{at}.extension[{k}]"),
                            format!(
                                "The element '{id}' has a binding extension {} which is not allowed in Obligation profiles",
                                str_field(ext, "url").unwrap_or("")
                            ),
                        );
                        continue;
                    }
                    let purpose = list(ext, "extension")
                        .iter()
                        .find(|x| str_field(x, "url") == Some("purpose"))
                        .and_then(|x| str_field(x, "valueCode"));
                    if let Some(p @ ("maximum" | "required" | "extensible")) = purpose {
                        error(
                            issues,
                            format!("{at}.extension[{k}]"),
                            format!(
                                "The element '{id}' has an additional binding with the purpose '{p}', which is not allowed in Obligation profiles"
                            ),
                        );
                    }
                }
            }
            other => error(
                issues,
                format!("{at}.{}", other.strip_prefix('_').unwrap_or(other)),
                format!(
                    "The element '{id}' has a binding property '{}' which is not allowed in Obligation profiles",
                    other.strip_prefix('_').unwrap_or(other)
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::validate::Validator;
    use crate::{Package, PackageSet};

    const BASE: &str = r#"{"resourceType":"StructureDefinition","id":"b",
        "url":"http://example.org/b","name":"B","status":"draft","kind":"resource",
        "abstract":false,"type":"Patient","derivation":"constraint",
        "baseDefinition":"http://example.org/none",
        "extension":[{"url":"http://hl7.org/fhir/StructureDefinition/obligation-profile","valueBoolean":true}],
        "snapshot":{"element":[{"id":"Patient","path":"Patient"},
        {"id":"Patient.birthDate","path":"Patient.birthDate"},
        {"id":"Patient.maritalStatus","path":"Patient.maritalStatus",
         "binding":{"strength":"extensible","valueSet":"http://example.org/vs"}}]}}"#;

    fn errors(extra: &str, elements: &str) -> Vec<String> {
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources(
                "t",
                "0.0.0",
                vec![("b.json".to_owned(), BASE.as_bytes().to_vec())],
            )
            .expect("package"),
        );
        let sd = format!(
            r#"{{"resourceType":"StructureDefinition","url":"http://example.org/op","name":"Op",
            "status":"draft","kind":"resource","abstract":false,"type":"Patient",
            "derivation":"constraint","baseDefinition":"http://example.org/b",
            {extra}"differential":{{"element":[{elements}]}}}}"#,
            extra = if extra.is_empty() {
                String::new()
            } else {
                format!(r#""extension":[{extra}],"#)
            }
        );
        Validator::new(Arc::new(set))
            .validate_json(sd.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error() && !i.message.contains("could not be found"))
            .map(|i| i.expression)
            .collect()
    }

    const FLAG: &str = r#"{"url":"http://hl7.org/fhir/StructureDefinition/obligation-profile","valueBoolean":true}"#;

    #[test]
    fn an_obligation_profile_adds_obligations_only() {
        let good = r#"{"id":"Patient.birthDate","path":"Patient.birthDate","mustSupport":true,
            "extension":[{"url":"http://hl7.org/fhir/tools/StructureDefinition/obligation",
            "extension":[{"url":"code","valueCode":"can-send"}]}]}"#;
        assert!(errors(FLAG, good).is_empty(), "{:?}", errors(FLAG, good));
        let bad = r#"{"id":"Patient.maritalStatus","path":"Patient.maritalStatus",
            "short":"x","binding":{"strength":"example","description":"d"}}"#;
        assert_eq!(
            errors(FLAG, bad),
            vec![
                "StructureDefinition.differential.element[0].short",
                "StructureDefinition.differential.element[0].binding.strength",
                "StructureDefinition.differential.element[0].binding.description",
            ]
        );
        // Without the flag, a profile may say anything.
        assert!(errors("", bad).is_empty());
    }

    #[test]
    fn inherited_obligations_come_from_an_obligation_profile_on_the_same_base() {
        let inherit = |target: &str| {
            format!(
                r#"{{"url":"http://hl7.org/fhir/StructureDefinition/inherit-obligations","valueCanonical":"{target}"}}"#
            )
        };
        // The base itself is flagged but has another base.
        assert_eq!(
            errors(
                &inherit("http://example.org/b"),
                r#"{"id":"Patient","path":"Patient"}"#
            ),
            vec!["StructureDefinition.extension[0]"]
        );
    }
}
