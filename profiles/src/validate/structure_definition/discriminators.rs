//! A slicing discriminator's path must name something the sliced element
//! has (profiling.html#discriminator): `url` on an extension, `type` on
//! `AuditEvent.agent`, not `type` on an extension, which has none. A
//! profile slicing by a path its element lacks can never sort instances
//! into its slices.
//!
//! Checked on a StructureDefinition's differential, walking the path
//! through the generated type tables; paths through functions
//! (`resolve()`, `ofType()`, `extension('…')`), choices with several
//! types and types the tables do not know are not judged.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta;

use crate::json::{field, str_field};
use crate::validate::base::types::path_type;
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

/// Checks the discriminators of StructureDefinition `sd` at `location`.
pub(crate) fn check(sd: &Json, location: &str, issues: &mut Vec<Issue>) {
    if str_field(sd, "kind") == Some("logical") {
        return;
    }
    let Some(Json::Array(elements)) = field(sd, "differential").and_then(|d| field(d, "element"))
    else {
        return;
    };
    for (ei, e) in elements.iter().enumerate() {
        let Some(Json::Array(discriminators)) =
            field(e, "slicing").and_then(|s| field(s, "discriminator"))
        else {
            continue;
        };
        let Some(path) = str_field(e, "path") else {
            continue;
        };
        let Some(ty) = element_type(e, path) else {
            continue;
        };
        for (di, d) in discriminators.iter().enumerate() {
            let Some(dpath) = str_field(d, "path") else {
                continue;
            };
            if !valid(ty, dpath) {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::Invalid,
                    format!("{location}.differential.element[{ei}].slicing.discriminator[{di}]"),
                    format!(
                        "The discriminator path '{dpath}' does not appear to be valid for the element that is being sliced '{path}'"
                    ),
                ));
            }
        }
    }
}

/// The sliced element's one type: its own `type` when it names one,
/// else the type its path has in the base resource.
fn element_type(e: &Json, path: &str) -> Option<&'static str> {
    if let Some(Json::Array(types)) = field(e, "type") {
        return match types.as_slice() {
            [t] => meta::type_info(str_field(t, "code")?).map(|i| i.name),
            _ => None,
        };
    }
    path_type(path)
}

/// Whether `dpath` can be followed from type `ty`.
fn valid(ty: &'static str, dpath: &str) -> bool {
    let mut ty = ty;
    for seg in dpath.split('.') {
        if seg == "$this" {
            continue;
        }
        if seg.contains('(') || seg.contains('@') || seg.is_empty() {
            return true;
        }
        let Some(info) = meta::type_info(ty) else {
            return true;
        };
        // Primitives' FHIRPath value and resource/type names are not
        // elements of the tables.
        let Some(e) = info.element(seg) else {
            return false;
        };
        match e.types {
            [one] => ty = one,
            _ => return true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use fhir_model::json::tree;

    fn run(element: &str) -> Vec<super::Issue> {
        let sd = format!(
            r#"{{"resourceType":"StructureDefinition","kind":"resource","differential":{{"element":[{element}]}}}}"#
        );
        let sd = tree::parse(sd.as_bytes()).expect("sd");
        let mut issues = Vec::new();
        super::check(&sd, "StructureDefinition", &mut issues);
        issues
    }

    #[test]
    fn a_discriminator_path_must_exist_on_the_sliced_element() {
        let slicing = |path: &str, d: &str| {
            format!(
                r#"{{"path":"{path}","slicing":{{"discriminator":[{{"type":"value","path":"{d}"}}],"rules":"open"}}}}"#
            )
        };
        for (path, d) in [
            ("AuditEvent.agent.extension", "url"),
            ("AuditEvent.agent", "type"),
            ("Observation.component", "code.coding.code"),
            ("Observation.value[x]", "$this"),
            ("Bundle.entry", "resource.ofType(Patient)"),
            ("Observation.extension", "extension('x').value"),
        ] {
            assert!(run(&slicing(path, d)).is_empty(), "{path} / {d}");
        }
        let bad = run(&slicing("AuditEvent.agent.extension", "type"));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(
            bad[0].expression,
            "StructureDefinition.differential.element[0].slicing.discriminator[0]"
        );
        assert!(run(&slicing("Observation.component", "code.nothing")).len() == 1);
    }
}
