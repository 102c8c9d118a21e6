//! CodeSystem rules (codesystem.html): a supplement (`supplements` set)
//! declares `content` = `supplement`, and a code system that says its
//! content is `not-present` lists no concepts.

use fhir_model::json::tree::Value as Json;

use super::{field, str_field, Issue, Severity};

pub(crate) fn check(cs: &Json, location: &str, issues: &mut Vec<Issue>) {
    let content = str_field(cs, "content");
    if field(cs, "supplements").is_some() && content.is_some_and(|c| c != "supplement") {
        issues.push(Issue::new(
            Severity::Error,
            "business-rule",
            format!("{location}.content"),
            "CodeSystem Supplements SHALL have a content value of 'supplement'",
        ));
    }
    if content == Some("not-present") {
        if let Some(Json::Array(concepts)) = field(cs, "concept") {
            if !concepts.is_empty() {
                issues.push(Issue::new(
                    Severity::Error,
                    "business-rule",
                    format!("{location}.concept[0]"),
                    "The code system says it has no content present, but concepts are found",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::Validator;

    fn errors(extra: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"CodeSystem","url":"http://example.org/cs","status":"draft",{extra},
            "concept":[{{"code":"a"}}]}}"#
        );
        Validator::default()
            .validate_json(json.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    #[test]
    fn supplements_and_content() {
        assert!(errors(r#""content":"complete""#).is_empty());
        assert!(errors(r#""content":"supplement","supplements":"http://loinc.org""#).is_empty());
        let e = errors(r#""content":"complete","supplements":"http://loinc.org""#);
        assert!(
            e.len() == 1 && e[0].starts_with("CodeSystem.content:"),
            "{e:?}"
        );
        let e = errors(r#""content":"not-present""#);
        assert!(
            e.len() == 1 && e[0].starts_with("CodeSystem.concept[0]:"),
            "{e:?}"
        );
    }
}
