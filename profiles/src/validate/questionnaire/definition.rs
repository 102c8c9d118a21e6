//! Questionnaire rules the base invariants do not express.
//!
//! A Questionnaire's `item.enableWhen.question` must name another
//! question of the same Questionnaire (questionnaire.html#enableWhen): not
//! the item itself and not one of its own descendants (an item hidden by
//! its own answer can never be enabled), and it should come before the
//! item, as the HL7 validator reports.

use fhir_model::json::tree::Value as Json;

use crate::json::list;
use crate::json::str_field;
use crate::validate::questionnaire::items::find_item;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

pub(crate) fn check(q: &Json, location: &str, issues: &mut Vec<Issue>) {
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
                    IssueType::BusinessRule,
                    loc.clone(),
                    "Questions with an enableWhen cannot refer to an inner question for its enableWhen condition",
                ));
                continue;
            }
            let Some(target) = find_item(list(q, "item"), question) else {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::BusinessRule,
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
                    IssueType::BusinessRule,
                    loc.clone(),
                    "Questions with an enableWhen cannot refer to themselves for their enableWhen condition",
                ));
                continue;
            }
            if let (Some(t), Some(i)) = (pos(target), pos(item)) {
                if t > i {
                    issues.push(Issue::new(
                        Severity::Warning,
                        IssueType::BusinessRule,
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
