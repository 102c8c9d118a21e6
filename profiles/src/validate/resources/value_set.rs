//! ValueSet rules (valueset.html): `compose.include.system` and
//! `compose.exclude.system` are absolute URIs. A contained code system is
//! named by its own absolute URL (with the `valueset-system` extension
//! pointing at it), never by `#id`. A filter on a Coding-typed property
//! of a loaded code system has a `system(|version)#code` value, whose code
//! the named system defines when that one is loaded and complete.

use fhir_model::json::tree::Value as Json;

use crate::validate::datatypes::canonical;
use crate::validate::IssueType;

use crate::json::{field, str_field};

use crate::validate::{Issue, Severity, Validator};

pub(crate) fn check(v: &Validator, vs: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(compose) = field(vs, "compose") else {
        return;
    };
    for part in ["include", "exclude"] {
        let Some(Json::Array(list)) = field(compose, part) else {
            continue;
        };
        for (i, inc) in list.iter().enumerate() {
            let Some(Json::String(system)) = field(inc, "system") else {
                continue;
            };
            filters(
                v,
                inc,
                system,
                &format!("{location}.compose.{part}[{i}]"),
                issues,
            );
            if !canonical::is_absolute(system) {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::Invalid,
                    format!("{location}.compose.{part}[{i}]"),
                    format!(
                        "URI values in ValueSet.compose.{part}.system must be absolute ({system}). To reference a contained code system, use the full CodeSystem URL and reference it using the http://hl7.org/fhir/StructureDefinition/valueset-system extension"
                    ),
                ));
            }
        }
    }
}

/// The filters of one include on the properties of its (loaded) system.
fn filters(v: &Validator, inc: &Json, system: &str, at: &str, issues: &mut Vec<Issue>) {
    let Some(Json::Array(list)) = field(inc, "filter") else {
        return;
    };
    let Some(cs) = v
        .packages()
        .json_by_canonical(system)
        .filter(|cs| crate::json::resource_type(cs) == Some("CodeSystem"))
    else {
        return;
    };
    let Some(Json::Array(props)) = field(cs, "property") else {
        return;
    };
    for (f, filter) in list.iter().enumerate() {
        let (Some(property), Some(value)) =
            (str_field(filter, "property"), str_field(filter, "value"))
        else {
            continue;
        };
        if str_field(filter, "op") != Some("=") {
            continue;
        }
        let Some(decl) = props
            .iter()
            .find(|p| str_field(p, "code") == Some(property))
        else {
            continue;
        };
        if str_field(decl, "type") != Some("Coding") {
            continue;
        }
        let fat = format!("{at}.filter[{f}]");
        let parsed = value
            .split_once('#')
            .filter(|(sys, code)| !sys.is_empty() && !code.is_empty());
        let Some((sys, code)) = parsed else {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                fat,
                format!(
                    "The value for a filter based on property '{property}' must be in the format system(|version)#code, not '{value}'"
                ),
            ));
            continue;
        };
        let target = v
            .packages()
            .json_by_canonical(sys)
            .filter(|t| crate::json::resource_type(t) == Some("CodeSystem"))
            .filter(|t| str_field(t, "content") == Some("complete"));
        if let Some(target) = target {
            if !defines(field(target, "concept"), code, 0) {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::Invalid,
                    fat,
                    format!(
                        "The value for a filter based on property '{property}' is '{value}' which is not a valid code (Unknown code '{code}' in the CodeSystem '{sys}')"
                    ),
                ));
            }
        }
    }
}

fn defines(list: Option<&Json>, code: &str, depth: usize) -> bool {
    let Some(Json::Array(concepts)) = list else {
        return false;
    };
    depth < 64
        && concepts.iter().any(|c| {
            str_field(c, "code") == Some(code) || defines(field(c, "concept"), code, depth + 1)
        })
}

#[cfg(test)]
mod tests {
    use crate::validate::Validator;

    fn errors(system: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"ValueSet","url":"http://example.org/vs","status":"draft",
            "compose":{{"include":[{{"system":"{system}"}}]}}}}"#
        );
        crate::validate::tests::base_errors(&json)
    }

    #[test]
    fn an_included_system_is_absolute() {
        assert!(errors("http://example.org/cs").is_empty());
        let e = errors("#c1");
        assert!(
            e.len() == 1 && e[0].starts_with("ValueSet.compose.include[0]:"),
            "{e:?}"
        );
    }

    #[test]
    fn a_filter_on_a_coding_property_names_a_code() {
        use std::sync::Arc;
        let cs = |id: &str, extra: &str| {
            (
                format!("{id}.json"),
                format!(
                    r#"{{"resourceType":"CodeSystem","id":"{id}","url":"http://example.org/{id}",
                    "status":"draft","content":"complete"{extra},"concept":[{{"code":"a"}}]}}"#
                )
                .into_bytes(),
            )
        };
        let mut set = crate::PackageSet::new();
        set.add(
            crate::Package::from_resources(
                "t",
                "0.0.0",
                vec![
                    cs("main", r#","property":[{"code":"p","type":"Coding"}]"#),
                    cs("other", ""),
                ],
            )
            .expect("package"),
        );
        let v = Validator::new(Arc::new(set));
        let e = |value: &str| {
            let json = format!(
                r#"{{"resourceType":"ValueSet","url":"http://example.org/vs","status":"draft",
                "compose":{{"include":[{{"system":"http://example.org/main",
                "filter":[{{"property":"p","op":"=","value":"{value}"}}]}}]}}}}"#
            );
            v.validate_json(json.as_bytes(), &[])
                .into_iter()
                .filter(|i| i.severity.is_error())
                .map(|i| i.expression)
                .collect::<Vec<_>>()
        };
        assert!(e("http://example.org/other#a").is_empty());
        assert_eq!(e("a"), vec!["ValueSet.compose.include[0].filter[0]"]);
        assert_eq!(
            e("http://example.org/other#b"),
            vec!["ValueSet.compose.include[0].filter[0]"]
        );
    }
}
