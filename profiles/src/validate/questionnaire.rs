//! Questionnaire rules the base invariants do not express, and the entry
//! point of QuestionnaireResponse validation against its Questionnaire
//! ([`super::questionnaire_response`]).
//!
//! A Questionnaire's `item.enableWhen.question` must name another
//! question of the same Questionnaire (questionnaire.html#enableWhen): not
//! the item itself and not one of its own descendants (an item hidden by
//! its own answer can never be enabled), and it should come before the
//! item, as the HL7 validator reports.

use fhir_model::json::tree::Value as Json;

use super::{field, resource_type, str_field, Issue, Severity, Validator};

/// Runs the Questionnaire or QuestionnaireResponse rules on one resource
/// found at `location` (the root, a contained or a Bundle entry resource).
pub fn check(v: &Validator, resource: &Json, location: &str, issues: &mut Vec<Issue>) {
    match resource_type(resource) {
        Some("Questionnaire") => check_questionnaire(resource, location, issues),
        Some("QuestionnaireResponse") => {
            super::questionnaire_response::check(v, resource, location, issues)
        }
        _ => {}
    }
}

/// The elements of an array property (`[]` when absent or not an array).
pub(crate) fn list<'a>(v: &'a Json, name: &str) -> &'a [Json] {
    match field(v, name) {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}

/// The extensions of `v` with this url.
pub(crate) fn extensions<'a>(v: &'a Json, url: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    list(v, "extension")
        .iter()
        .filter(move |e| str_field(e, "url") == Some(url))
}

/// The `value[x]` (or other choice `prefix[x]`) of an object: the type
/// suffix as written (`Coding`, `Integer`) and the value.
pub(crate) fn choice<'a>(v: &'a Json, prefix: &str) -> Option<(&'a str, &'a Json)> {
    let Json::Object(m) = v else {
        return None;
    };
    m.iter().find_map(|(k, val)| {
        let rest = k.strip_prefix(prefix)?;
        rest.starts_with(|c: char| c.is_ascii_uppercase())
            .then_some((rest, val))
    })
}

/// The `value[x]` of the first extension with this url.
pub(crate) fn ext_value<'a>(v: &'a Json, url: &'a str) -> Option<(&'a str, &'a Json)> {
    extensions(v, url).find_map(|e| choice(e, "value"))
}

/// A primitive's text: strings as they are, numbers as written, booleans.
pub(crate) fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) | Json::Number(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The FHIR type name of a choice suffix: `Integer` → `integer`,
/// `DateTime` → `dateTime`, `Coding` stays.
pub(crate) fn type_of_suffix(suffix: &str) -> String {
    match suffix {
        "Boolean" | "Integer" | "Decimal" | "Date" | "DateTime" | "Time" | "String" | "Uri"
        | "Url" | "Canonical" | "Code" | "Id" | "Oid" | "Uuid" | "Markdown" | "Base64Binary"
        | "Instant" | "PositiveInt" | "UnsignedInt" => {
            let mut c = suffix.chars();
            match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => String::new(),
            }
        }
        other => other.to_owned(),
    }
}

/// The item with this linkId anywhere under `items`.
pub(crate) fn find_item<'a>(items: &'a [Json], link_id: &str) -> Option<&'a Json> {
    for i in items {
        if str_field(i, "linkId") == Some(link_id) {
            return Some(i);
        }
        if let Some(t) = find_item(list(i, "item"), link_id) {
            return Some(t);
        }
    }
    None
}

fn check_questionnaire(q: &Json, location: &str, issues: &mut Vec<Issue>) {
    // Items in document order, to say whether a target comes first.
    let mut order: Vec<*const Json> = Vec::new();
    fn collect(items: &[Json], out: &mut Vec<*const Json>) {
        for i in items {
            out.push(i as *const Json);
            collect(list(i, "item"), out);
        }
    }
    collect(list(q, "item"), &mut order);
    let pos = |i: &Json| order.iter().position(|p| std::ptr::eq(*p, i));
    walk_items(q, list(q, "item"), location, &pos, issues);
}

fn walk_items(
    q: &Json,
    items: &[Json],
    location: &str,
    pos: &dyn Fn(&Json) -> Option<usize>,
    issues: &mut Vec<Issue>,
) {
    for (n, item) in items.iter().enumerate() {
        let loc = format!("{location}.item[{n}]");
        for ew in list(item, "enableWhen") {
            let Some(question) = str_field(ew, "question") else {
                continue;
            };
            if find_item(list(item, "item"), question).is_some() {
                issues.push(Issue::new(
                    Severity::Error,
                    "business-rule",
                    loc.clone(),
                    "Questions with an enableWhen cannot refer to an inner question for its enableWhen condition",
                ));
                continue;
            }
            let Some(target) = find_item(list(q, "item"), question) else {
                issues.push(Issue::new(
                    Severity::Error,
                    "business-rule",
                    loc.clone(),
                    format!(
                        "Unable to find the target '{question}' of this enableWhen in the questionnaire (item '{}')",
                        str_field(item, "linkId").unwrap_or("")
                    ),
                ));
                continue;
            };
            if std::ptr::eq(target, item) {
                issues.push(Issue::new(
                    Severity::Error,
                    "business-rule",
                    loc.clone(),
                    "Questions with an enableWhen cannot refer to themselves for their enableWhen condition",
                ));
                continue;
            }
            if let (Some(t), Some(i)) = (pos(target), pos(item)) {
                if t > i {
                    issues.push(Issue::new(
                        Severity::Warning,
                        "business-rule",
                        loc.clone(),
                        format!(
                            "The target of this enableWhen rule ({question}) comes after the question itself"
                        ),
                    ));
                }
            }
        }
        walk_items(q, list(item, "item"), &loc, pos, issues);
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::{has_errors, Validator};

    fn q(items: &str) -> String {
        format!(
            r#"{{"resourceType":"Questionnaire","status":"draft","text":{{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">q</div>"}},"item":{items}}}"#
        )
    }

    #[test]
    fn enable_when_on_an_inner_question_is_an_error() {
        let bad = q(
            r#"[{"linkId":"g","type":"group","enableWhen":[{"question":"c","operator":"=","answerBoolean":true}],
                "item":[{"linkId":"c","type":"boolean"}]}]"#,
        );
        let issues = Validator::default().validate_json(bad.as_bytes(), &[]);
        assert!(
            issues.iter().any(|i| i.severity.is_error()
                && i.expression == "Questionnaire.item[0]"
                && i.message.contains("inner question")),
            "{issues:?}"
        );
        let good = q(r#"[{"linkId":"c","type":"boolean"},
                {"linkId":"g","type":"group","enableWhen":[{"question":"c","operator":"=","answerBoolean":true}],
                "item":[{"linkId":"d","type":"boolean"}]}]"#);
        let issues = Validator::default().validate_json(good.as_bytes(), &[]);
        assert!(!has_errors(&issues), "{issues:?}");
    }

    #[test]
    fn two_enable_when_need_an_enable_behavior() {
        let bad = q(
            r#"[{"linkId":"a","type":"integer"},{"linkId":"b","type":"integer"},
                {"linkId":"c","type":"integer","enableWhen":[
                  {"question":"a","operator":"=","answerInteger":1},
                  {"question":"b","operator":"=","answerInteger":1}]}]"#,
        );
        let issues = Validator::default().validate_json(bad.as_bytes(), &[]);
        assert!(
            issues.iter().any(|i| i.severity.is_error()
                && i.expression == "Questionnaire.item[2]"
                && i.message.contains("que-12")),
            "{issues:?}"
        );
        let good = bad.replace(
            r#""linkId":"c","type":"integer","#,
            r#""linkId":"c","type":"integer","enableBehavior":"all","#,
        );
        let issues = Validator::default().validate_json(good.as_bytes(), &[]);
        assert!(!has_errors(&issues), "{issues:?}");
    }
}
