//! A Coding answer to an item with an `answerValueSet`
//! (questionnaire.html#valueset) must be in that value set, with a
//! display the code system gives it. Decided here only when the value set
//! says so by itself: its `compose` lists the codes, or includes a whole
//! code system that the loaded packages hold with `content = complete`.
//! Anything needing a terminology server (filters, imported value sets,
//! code systems not loaded) is left unjudged.

use fhir_model::json::tree::Value as Json;

use crate::json::list;
use crate::json::str_field;
use crate::validate::questionnaire::context::Ctx;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

/// A value set by canonical: `#id` among the Questionnaire's contained
/// resources, else through the packages.
fn resolve<'a>(ctx: &Ctx<'a>, url: &str) -> Option<&'a Json> {
    if let Some(id) = url.strip_prefix('#') {
        return list(ctx.q, "contained")
            .iter()
            .find(|c| str_field(c, "id") == Some(id));
    }
    ctx.v
        .packages()
        .by_url(url)
        .and_then(|(p, r)| r.json(p.source()).ok())
}

fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Checks a Coding answer (`value`, at `at`; the value at `vpath`)
/// against the item's answerValueSet `url`.
pub(crate) fn check(
    ctx: &Ctx<'_>,
    url: &str,
    value: &Json,
    at: &str,
    vpath: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(vs) = resolve(ctx, url) else {
        issues.push(Issue::new(
            Severity::Warning,
            IssueType::NotFound,
            at,
            format!("ValueSet '{url}' not found"),
        ));
        return;
    };
    let (Some(system), Some(code)) = (str_field(value, "system"), str_field(value, "code")) else {
        return;
    };
    let name = str_field(vs, "title")
        .or_else(|| str_field(vs, "name"))
        .unwrap_or(url);
    match ctx.v.value_set_provider().lookup(vs, Some(system), code) {
        None => {}
        Some(None) => issues.push(Issue::new(
            Severity::Error,
            IssueType::CodeInvalid,
            at,
            format!(
                "The code '{code}' in the system '{system}' is not in the options value set ({name}) specified by the questionnaire"
            ),
        )),
        Some(Some(valid)) => {
            let Some(display) = str_field(value, "display") else {
                return;
            };
            if valid.is_empty() || valid.iter().any(|v| same_text(v, display)) {
                return;
            }
            let wrong = format!(
                "Wrong Display Name '{display}' for {system}#{code}. Valid display is '{}'",
                valid.join("' or '")
            );
            issues.push(Issue::new(
                Severity::Error,
                IssueType::CodeInvalid,
                format!("{vpath}.display"),
                wrong.clone(),
            ));
            issues.push(Issue::new(
                Severity::Error,
                IssueType::CodeInvalid,
                at,
                format!(
                    "The code '{code}' in the system '{system}' is not in the options value set ({name}) specified by the questionnaire. Terminology Error: {wrong}"
                ),
            ));
        }
    }
}

/// Checks a string answer (at `vpath`) of a `string` item against the
/// item's answerValueSet `url`: the text must be a code of the value set.
pub(crate) fn check_string(
    ctx: &Ctx<'_>,
    url: &str,
    value: &str,
    vpath: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(vs) = resolve(ctx, url) else {
        issues.push(Issue::new(
            Severity::Warning,
            IssueType::NotFound,
            vpath,
            format!("ValueSet '{url}' not found"),
        ));
        return;
    };
    if ctx.v.value_set_provider().lookup(vs, None, value) == Some(None) {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::CodeInvalid,
            vpath,
            format!("The value '{value}' is not in the list of allowed values (value set '{url}')"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::validate::Validator;
    use crate::{Package, PackageSet};

    fn validator() -> Validator {
        let files = [
            r#"{"resourceType":"CodeSystem","id":"cs","url":"http://example.org/cs","status":"active","content":"complete",
                "concept":[{"code":"a","display":"Alpha"},{"code":"b","display":"Beta"}]}"#,
            r#"{"resourceType":"ValueSet","id":"vs","url":"http://example.org/vs","status":"active",
                "compose":{"include":[{"system":"http://example.org/cs"}]}}"#,
            r#"{"resourceType":"Questionnaire","id":"q","url":"http://example.org/q","status":"active",
                "item":[{"linkId":"1","type":"choice","answerValueSet":"http://example.org/vs"},
                        {"linkId":"2","type":"string","repeats":true,"answerValueSet":"http://example.org/vs"}]}"#,
        ];
        let entries: Vec<(String, Vec<u8>)> = files
            .iter()
            .enumerate()
            .map(|(n, f)| (format!("{n}.json"), f.as_bytes().to_vec()))
            .collect();
        let mut set = PackageSet::new();
        if let Ok(p) = Package::from_resources("t", "0.0.0", entries) {
            set.add(p);
        }
        Validator::new(Arc::new(set))
    }

    fn error_count(v: &Validator, coding: &str) -> usize {
        let qr = format!(
            r#"{{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"http://example.org/q",
                "item":[{{"linkId":"1","answer":[{{"valueCoding":{coding}}}]}}]}}"#
        );
        v.validate_json(qr.as_bytes(), &[])
            .iter()
            .filter(|i| i.severity.is_error() && i.expression.contains("answer"))
            .count()
    }

    #[test]
    fn codings_in_and_out_of_the_answer_value_set() {
        let v = validator();
        assert_eq!(
            error_count(
                &v,
                r#"{"system":"http://example.org/cs","code":"a","display":"alpha"}"#
            ),
            0
        );
        // Outside the value set; the code system's own check (an unknown
        // code in a complete, loaded system) may report it too.
        assert!(error_count(&v, r#"{"system":"http://example.org/cs","code":"c"}"#) >= 1);
        assert_eq!(
            error_count(
                &v,
                r#"{"system":"http://example.org/cs","code":"b","display":"Alpha"}"#
            ),
            2
        );
        let qr = |s: &str| {
            format!(
                r#"{{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"http://example.org/q",
                    "item":[{{"linkId":"2","answer":[{{"valueString":"{s}"}}]}}]}}"#
            )
        };
        let errs = |s: &str| {
            v.validate_json(qr(s).as_bytes(), &[])
                .iter()
                .filter(|i| i.severity.is_error())
                .count()
        };
        assert_eq!(errs("a"), 0);
        assert_eq!(errs("Alpha"), 1);
        // A system the value set does not include.
        assert_eq!(
            error_count(&v, r#"{"system":"http://example.org/other","code":"a"}"#),
            1
        );
    }
}
