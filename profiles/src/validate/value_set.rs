//! ValueSet rules (valueset.html): `compose.include.system` and
//! `compose.exclude.system` are absolute URIs. A contained code system is
//! named by its own absolute URL (with the `valueset-system` extension
//! pointing at it), never by `#id`.

use fhir_model::json::tree::Value as Json;

use super::{canonical, field, Issue, Severity};

pub(crate) fn check(vs: &Json, location: &str, issues: &mut Vec<Issue>) {
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
            if !canonical::is_absolute(system) {
                issues.push(Issue::new(
                    Severity::Error,
                    "invalid",
                    format!("{location}.compose.{part}[{i}]"),
                    format!(
                        "URI values in ValueSet.compose.{part}.system must be absolute ({system}). To reference a contained code system, use the full CodeSystem URL and reference it using the http://hl7.org/fhir/StructureDefinition/valueset-system extension"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::Validator;

    fn errors(system: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"ValueSet","url":"http://example.org/vs","status":"draft",
            "compose":{{"include":[{{"system":"{system}"}}]}}}}"#
        );
        Validator::default()
            .validate_json(json.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
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
}
