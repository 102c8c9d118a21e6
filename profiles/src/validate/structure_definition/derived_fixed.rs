//! A constraint profile may narrow its base but never contradict it
//! (profiling.html#constraint): where the base definition fixes a value
//! (`fixed[x]`), the profile's differential may not fix a different one.
//! An extension derived from another that restates `Extension.url` is
//! the usual case: its instances could never conform to both.
//!
//! Checked when validating a StructureDefinition whose base definition is
//! in the package set; the issue is located at the element's path
//! (`Extension.url`), as the HL7 validator's snapshot generator reports
//! it.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

/// Checks the differential of StructureDefinition `sd` against its base.
pub(crate) fn check(v: &Validator, sd: &Json, issues: &mut Vec<Issue>) {
    if str_field(sd, "derivation") != Some("constraint") {
        return;
    }
    let Some(Json::Array(diff)) = field(sd, "differential").and_then(|d| field(d, "element"))
    else {
        return;
    };
    let Some(base_url) = str_field(sd, "baseDefinition") else {
        return;
    };
    let packages = v.packages();
    let Some((pkg, res)) = packages
        .by_url(base_url)
        .or_else(|| packages.by_url(base_url.split('|').next().unwrap_or(base_url)))
    else {
        return;
    };
    let Ok(base) = res.json(pkg.source()) else {
        return;
    };
    let Some(base_elements) = crate::snapshot::elements(packages, base) else {
        return;
    };
    for d in diff {
        let Some((key, value)) = fixed(d) else {
            continue;
        };
        let id = str_field(d, "id").or_else(|| str_field(d, "path"));
        let Some(id) = id else {
            continue;
        };
        let Some(b) = base_elements
            .iter()
            .find(|b| str_field(b, "id").or_else(|| str_field(b, "path")) == Some(id))
        else {
            continue;
        };
        let Some((base_key, base_value)) = fixed(b) else {
            continue;
        };
        if base_key == key && base_value != value {
            let path = str_field(d, "path").unwrap_or(id);
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Value,
                path,
                format!(
                    "Value is {} but is fixed to {} in the base definition {base_url}: a profile may not change a fixed value",
                    show(value),
                    show(base_value)
                ),
            ));
        }
    }
}

/// An element's `fixed[x]`: (property name, value).
fn fixed(e: &Json) -> Option<(&str, &Json)> {
    match e {
        Json::Object(m) => m
            .iter()
            .find(|(k, _)| k.starts_with("fixed") && k.len() > 5)
            .map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => format!("'{s}'"),
        other => String::from_utf8_lossy(&fhir_model::json::tree::to_json(other)).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Package, PackageSet, Validator};

    const BASE: &str = r#"{"resourceType":"StructureDefinition","id":"ext-base",
 "url":"http://x.test/ext-base","name":"Base","status":"draft","kind":"complex-type","abstract":false,
 "type":"Extension","derivation":"constraint","context":[{"type":"element","expression":"Patient"}],
 "snapshot":{"element":[
  {"id":"Extension","path":"Extension","min":0,"max":"*"},
  {"id":"Extension.url","path":"Extension.url","min":1,"max":"1","fixedUri":"http://x.test/ext-base"}]}}"#;

    fn derived(url: &str) -> String {
        format!(
            r#"{{"resourceType":"StructureDefinition","id":"ext-derived","url":"http://x.test/ext-derived",
            "name":"Derived","status":"draft","kind":"complex-type","abstract":false,"type":"Extension",
            "baseDefinition":"http://x.test/ext-base","derivation":"constraint",
            "context":[{{"type":"element","expression":"Patient"}}],
            "differential":{{"element":[{{"id":"Extension.url","path":"Extension.url","fixedUri":"{url}"}}]}}}}"#
        )
    }

    fn errors(sd: &str) -> Vec<String> {
        let files = [(
            "StructureDefinition-ext-base.json".to_owned(),
            BASE.as_bytes().to_vec(),
        )];
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        Validator::new(Arc::new(set))
            .validate_json(sd.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    #[test]
    fn a_profile_may_not_change_a_value_its_base_fixes() {
        let e = errors(&derived("http://x.test/ext-derived"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("Extension.url: Value is 'http://x.test/ext-derived'"));
        assert!(errors(&derived("http://x.test/ext-base")).is_empty());
    }
}
