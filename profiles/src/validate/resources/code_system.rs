//! CodeSystem rules (codesystem.html): a supplement (`supplements` set)
//! declares `content` = `supplement`; a code system that says its
//! content is `not-present` lists no concepts; properties are declared
//! once (by code and by URI), one that names a standard concept property
//! (`http://hl7.org/fhir/concept-properties#…`) has that property's type,
//! and a concept's property values have their declared type.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

pub(crate) fn check(cs: &Json, location: &str, issues: &mut Vec<Issue>) {
    let content = str_field(cs, "content");
    if field(cs, "supplements").is_some() && content.is_some_and(|c| c != "supplement") {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::BusinessRule,
            format!("{location}.content"),
            "CodeSystem Supplements SHALL have a content value of 'supplement'",
        ));
    }
    properties(cs, location, issues);
    if content == Some("not-present") {
        if let Some(Json::Array(concepts)) = field(cs, "concept") {
            if !concepts.is_empty() {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::BusinessRule,
                    format!("{location}.concept[0]"),
                    "The code system says it has no content present, but concepts are found",
                ));
            }
        }
    }
}

/// The standard concept properties and their types.
const CONCEPT_PROPERTIES: &[(&str, &str)] = &[
    ("status", "code"),
    ("inactive", "boolean"),
    ("effectiveDate", "dateTime"),
    ("deprecated", "dateTime"),
    ("deprecationDate", "dateTime"),
    ("retirementDate", "dateTime"),
    ("notSelectable", "boolean"),
    ("parent", "code"),
    ("child", "code"),
    ("partOf", "code"),
    ("synonym", "code"),
    ("comment", "string"),
    ("itemWeight", "decimal"),
];

fn properties(cs: &Json, location: &str, issues: &mut Vec<Issue>) {
    let mut declared: Vec<(&str, &str)> = Vec::new();
    let mut uris: Vec<&str> = Vec::new();
    if let Some(Json::Array(props)) = field(cs, "property") {
        for (i, p) in props.iter().enumerate() {
            let at = format!("{location}.property[{i}]");
            let (code, ty) = (str_field(p, "code"), str_field(p, "type"));
            if let (Some(uri), Some(ty)) = (str_field(p, "uri"), ty) {
                let known = uri
                    .strip_prefix("http://hl7.org/fhir/concept-properties#")
                    .and_then(|name| CONCEPT_PROPERTIES.iter().find(|(n, _)| *n == name));
                if let Some((_, known_ty)) = known {
                    if *known_ty != ty {
                        issues.push(Issue::new(
                            Severity::Error,
                            IssueType::BusinessRule,
                            &at,
                            format!(
                                "Wrong type '{ty}': The URI '{uri}' identifies a property that has the type '{known_ty}'"
                            ),
                        ));
                    }
                }
            }
            if let Some(code) = code {
                if declared.iter().any(|(c, _)| *c == code) {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::BusinessRule,
                        &at,
                        format!("A property is already defined with the code '{code}'"),
                    ));
                } else if let Some(ty) = ty {
                    declared.push((code, ty));
                }
            }
            if let Some(uri) = str_field(p, "uri") {
                if uris.contains(&uri) {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::BusinessRule,
                        &at,
                        format!("A property is already defined with the URI '{uri}'"),
                    ));
                } else {
                    uris.push(uri);
                }
            }
        }
    }
    concept_values(
        field(cs, "concept"),
        &declared,
        &format!("{location}.concept"),
        0,
        issues,
    );
}

/// The property values of the concepts (at any depth) against the
/// declared types.
fn concept_values(
    list: Option<&Json>,
    declared: &[(&str, &str)],
    at: &str,
    depth: usize,
    issues: &mut Vec<Issue>,
) {
    let Some(Json::Array(concepts)) = list else {
        return;
    };
    if depth > 32 {
        return;
    }
    for (i, c) in concepts.iter().enumerate() {
        let cat = format!("{at}[{i}]");
        if let Some(Json::Array(props)) = field(c, "property") {
            for (j, p) in props.iter().enumerate() {
                let Some(code) = str_field(p, "code") else {
                    continue;
                };
                let Some((_, ty)) = declared.iter().find(|(c, _)| *c == code) else {
                    continue;
                };
                let Json::Object(m) = p else {
                    continue;
                };
                let Some(value_ty) = m.iter().find_map(|(k, _)| k.strip_prefix("value")) else {
                    continue;
                };
                let mut chars = value_ty.chars();
                let value_ty: String = match chars.next() {
                    // `valueCoding` is a Coding; the primitives start lower case.
                    Some(f) if value_ty != "Coding" => f.to_lowercase().chain(chars).collect(),
                    _ => value_ty.to_owned(),
                };
                if value_ty != *ty {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::BusinessRule,
                        format!("{cat}.property[{j}]"),
                        format!(
                            "The property '{code}' has the invalid type '{value_ty}', when it is defined to have the type '{ty}'"
                        ),
                    ));
                }
            }
        }
        concept_values(
            field(c, "concept"),
            declared,
            &format!("{cat}.concept"),
            depth + 1,
            issues,
        );
    }
}

#[cfg(test)]
mod tests {

    fn errors(extra: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"CodeSystem","url":"http://example.org/cs","status":"draft",{extra},
            "concept":[{{"code":"a"}}]}}"#
        );
        crate::validate::tests::base_errors(&json)
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

    #[test]
    fn property_declarations_and_values() {
        let cs = |props: &str, value: &str| {
            let json = format!(
                r#"{{"resourceType":"CodeSystem","url":"http://example.org/cs","status":"draft",
                "content":"complete","property":[{props}],
                "concept":[{{"code":"a","property":[{{"code":"notSelectable",{value}}}]}}]}}"#
            );
            crate::validate::Validator::default()
                .validate_json(json.as_bytes(), &[])
                .into_iter()
                .filter(|i| i.severity.is_error())
                .map(|i| i.expression)
                .collect::<Vec<_>>()
        };
        let good = r#"{"code":"notSelectable","uri":"http://hl7.org/fhir/concept-properties#notSelectable","type":"boolean"}"#;
        assert!(cs(good, r#""valueBoolean":true"#).is_empty());
        assert_eq!(
            cs(good, r#""valueCode":"x""#),
            vec!["CodeSystem.concept[0].property[0]"]
        );
        let wrong = good.replace("boolean", "dateTime");
        assert!(cs(&wrong, r#""valueDateTime":"2020""#) == vec!["CodeSystem.property[0]"]);
        let twice = format!("{good},{good}");
        assert_eq!(
            cs(&twice, r#""valueBoolean":true"#),
            vec!["CodeSystem.property[1]", "CodeSystem.property[1]"]
        );
    }
}
