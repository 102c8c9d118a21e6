//! A QuestionnaireResponse against its Questionnaire
//! (questionnaireresponse.html): the Questionnaire named by
//! `QuestionnaireResponse.questionnaire` (a contained one for `#id`, else
//! by canonical URL through the loaded packages) gives each response item
//! its definition by `linkId`.
//!
//! Checked as the HL7 validator does: every linkId exists in the
//! Questionnaire, at its place and in its order; an item that does not
//! repeat is answered once and appears once; required items (and required
//! groups' sub-items) are present unless the response is not completed
//! (then a warning) or the item is not enabled; an item that is not
//! enabled has no answer; display items have no answers and groups only
//! sub-items; each answer's value has the item type's type and meets the
//! item's constraints ([`crate::validate::questionnaire::answers`]).

use std::collections::HashMap;

use fhir_model::json::tree::Value as Json;

use crate::json::list;
use crate::json::{field, resource_type, str_field};
use crate::validate::questionnaire::answers;
use crate::validate::questionnaire::context::Ctx;
use crate::validate::questionnaire::enable_when::{self, Stack};
use crate::validate::questionnaire::items::{extensions, find_item, text};
use crate::validate::IssueType;
use crate::validate::{Issue, Severity, Validator};

pub fn check(v: &Validator, qr: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(canonical) = str_field(qr, "questionnaire") else {
        return;
    };
    let found;
    let q: &Json = if let Some(id) = canonical.strip_prefix('#') {
        match list(qr, "contained")
            .iter()
            .find(|c| str_field(c, "id") == Some(id))
        {
            Some(c) => c,
            None => return,
        }
    } else {
        found = v
            .packages()
            .by_url(canonical)
            .and_then(|(p, r)| r.json(p.source()).ok());
        match found {
            Some(r) => r,
            None => {
                issues.push(Issue::new(
                    Severity::Warning,
                    IssueType::NotFound,
                    location,
                    format!(
                        "The questionnaire '{canonical}' could not be resolved, so no validation can be performed against the base questionnaire"
                    ),
                ));
                return;
            }
        }
    };
    match resource_type(q) {
        Some("Questionnaire") => {}
        other => {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                format!("{location}.questionnaire"),
                format!(
                    "Canonical URL '{canonical}' refers to a resource that has the wrong type. Found {} expecting one of [Questionnaire]",
                    other.unwrap_or("?")
                ),
            ));
            return;
        }
    }
    let ctx = Ctx {
        v,
        q,
        qr,
        not_completed: !matches!(str_field(qr, "status"), Some("completed" | "amended")),
    };
    items(&ctx, list(q, "item"), qr, location, &[], issues);
}

/// The response items under `element` (the response, an item or an
/// answer, at `location`) against the Questionnaire items `qitems`.
fn items<'a>(
    ctx: &Ctx<'a>,
    qitems: &'a [Json],
    element: &'a Json,
    location: &str,
    stack: &Stack<'a>,
    issues: &mut Vec<Issue>,
) {
    let mut by_link: HashMap<&str, Vec<(usize, &'a Json)>> = HashMap::new();
    let mut last = 0;
    for (n, item) in list(element, "item").iter().enumerate() {
        let Some(link) = str_field(item, "linkId").filter(|l| !l.is_empty()) else {
            continue;
        };
        match qitems
            .iter()
            .position(|qi| str_field(qi, "linkId") == Some(link))
        {
            Some(i) => {
                if i < last {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::Structure,
                        location,
                        "Structural Error: items are out of order",
                    ));
                }
                last = i;
                by_link.entry(link).or_default().push((n, item));
            }
            None => match find_item(list(ctx.q, "item"), link) {
                Some(qi) => {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::Structure,
                        location,
                        format!("Structural Error: item with linkid {link} is in the wrong place"),
                    ));
                    let mut inner = stack.to_vec();
                    inner.push((qi, item));
                    one_item(
                        ctx,
                        qi,
                        item,
                        &format!("{location}.item[{n}]"),
                        &inner,
                        issues,
                    );
                }
                None => issues.push(Issue::new(
                    Severity::Error,
                    IssueType::NotFound,
                    location,
                    format!("LinkId '{link}' not found in questionnaire"),
                )),
            },
        }
    }
    for qi in qitems {
        let link = str_field(qi, "linkId").unwrap_or("");
        let enabled = enable_when::is_enabled(ctx.q, ctx.qr, qi, stack);
        match by_link.get(link) {
            Some(found) => {
                if !enabled {
                    for (n, item) in found {
                        if field(item, "answer").is_some() || field(item, "item").is_some() {
                            issues.push(Issue::new(
                                Severity::Error,
                                IssueType::Invalid,
                                format!("{location}.item[{n}]"),
                                format!(
                                    "Item has answer, even though it is not enabled (item id = '{link}')"
                                ),
                            ));
                        }
                    }
                }
                if found.len() > 1 && !is_true(qi, "repeats") {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::Invalid,
                        location,
                        format!(
                            "Only one response item with this linkId allowed - unless the question is repeating (linkId '{link}', found {})",
                            found.len()
                        ),
                    ));
                }
                for (n, item) in found {
                    let mut inner = stack.to_vec();
                    inner.push((qi, *item));
                    one_item(
                        ctx,
                        qi,
                        item,
                        &format!("{location}.item[{n}]"),
                        &inner,
                        issues,
                    );
                }
            }
            None => {
                if enabled && is_true(qi, "required") {
                    issues.push(Issue::new(
                        if ctx.not_completed {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        IssueType::Required,
                        location,
                        format!("No response answer found for required item '{link}'"),
                    ));
                }
            }
        }
    }
}

pub(crate) fn is_true(v: &Json, name: &str) -> bool {
    matches!(field(v, name), Some(Json::Bool(true)))
}

const MIN_OCCURS: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs";
const MAX_OCCURS: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs";

/// One response item (at `location`) against its Questionnaire item;
/// `stack` ends with this pair.
fn one_item<'a>(
    ctx: &Ctx<'a>,
    qi: &'a Json,
    item: &'a Json,
    location: &str,
    stack: &Stack<'a>,
    issues: &mut Vec<Issue>,
) {
    let link = str_field(qi, "linkId").unwrap_or("");
    if let Some(t) = str_field(item, "text") {
        if !t.is_empty() && str_field(qi, "text") != Some(t) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                location,
                format!(
                    "If text exists, it must match the questionnaire definition for linkId {link}"
                ),
            ));
        }
    }
    let ty = str_field(qi, "type").unwrap_or("");
    // R4's abstract `question` type cannot carry answers either.
    let group = matches!(ty, "group" | "question");
    let answers = list(item, "answer");
    let required = is_true(qi, "required");
    if required && answers.is_empty() && !group {
        let parent = &stack[..stack.len().saturating_sub(1)];
        if ctx.not_completed {
            issues.push(Issue::new(
                Severity::Warning,
                IssueType::Required,
                location,
                format!("No response answer found for required item '{link}'"),
            ));
        } else if enable_when::is_enabled(ctx.q, ctx.qr, qi, parent) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Required,
                location,
                format!("No response answer found for required item '{link}'"),
            ));
        }
    }
    answer_count(qi, answers.len(), location, issues);
    for (n, answer) in answers.iter().enumerate() {
        let at = format!("{location}.answer[{n}]");
        match ty {
            "group" | "question" => issues.push(Issue::new(
                Severity::Error,
                IssueType::Structure,
                location,
                "Items of type question should not have answers",
            )),
            "display" => issues.push(Issue::new(
                Severity::Error,
                IssueType::Structure,
                location,
                "Items of type 'display' cannot have answers",
            )),
            _ => answers::check(ctx, qi, ty, answer, answers.len(), &at, issues),
        }
        if !group {
            items(ctx, list(qi, "item"), answer, &at, stack, issues);
        }
    }
    let sub = list(item, "item");
    if group {
        if required && sub.is_empty() {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invariant,
                location,
                "No sub-items found for required group",
            ));
        }
        items(ctx, list(qi, "item"), item, location, stack, issues);
    } else if !sub.is_empty() {
        let msg = if ty == "display" {
            format!("Items of type display should not have items (linkId {link})")
        } else {
            format!(
                "Items not of type group should not have items outside answers (use answer.item not .item) (linkId {link})"
            )
        };
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Structure,
            location,
            msg,
        ));
    }
}

/// How many answers an item may have: one unless it repeats, and within
/// its `minOccurs` / `maxOccurs`.
fn answer_count(qi: &Json, n: usize, location: &str, issues: &mut Vec<Issue>) {
    if n > 1 && !is_true(qi, "repeats") {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Invalid,
            location,
            "Only one response answer item with this linkId allowed",
        ));
    }
    if let Some(max) = occurs(qi, MAX_OCCURS) {
        if n as i64 > max {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                location,
                format!(
                    "The maximum number of answers is {max} but this has {} answers",
                    n
                ),
            ));
        }
    }
    if let Some(min) = occurs(qi, MIN_OCCURS) {
        if (n as i64) < min {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                location,
                format!(
                    "The minimum number of answers is {min} but this has {} answers",
                    n
                ),
            ));
        }
    }
}

/// The integer value of a min/maxOccurs extension.
fn occurs(qi: &Json, url: &str) -> Option<i64> {
    let e = extensions(qi, url).next()?;
    text(field(e, "valueInteger")?)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::validate::{Issue, Validator};
    use crate::{Package, PackageSet};

    const URL: &str = "http://example.org/Questionnaire/t";

    /// Validates a response with `items` against a Questionnaire of
    /// `qitems`; the errors.
    fn errors(qitems: &str, items: &str, status: &str) -> Vec<Issue> {
        let q = format!(
            r#"{{"resourceType":"Questionnaire","id":"t","url":"{URL}","status":"active","item":{qitems}}}"#
        );
        let mut set = PackageSet::new();
        if let Ok(p) =
            Package::from_resources("t", "0.0.0", vec![("q.json".into(), q.into_bytes())])
        {
            set.add(p);
        }
        let v = Validator::new(Arc::new(set));
        let qr = format!(
            r#"{{"resourceType":"QuestionnaireResponse","text":{{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">r</div>"}},"questionnaire":"{URL}","status":"{status}","item":{items}}}"#
        );
        v.validate_json(qr.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .collect()
    }

    /// (Questionnaire items, a good response's items, a bad one's, a
    /// word of the expected message).
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            r#"[{"linkId":"a","type":"string"}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"}]}]"#,
            r#"[{"linkId":"b","answer":[{"valueString":"x"}]}]"#,
            "not found in questionnaire",
        ),
        (
            r#"[{"linkId":"a","type":"string","required":true}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"}]}]"#,
            r#"[{"linkId":"a"}]"#,
            "required item",
        ),
        (
            r#"[{"linkId":"a","type":"string"}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"},{"valueString":"y"}]}]"#,
            "Only one response answer",
        ),
        (
            r#"[{"linkId":"a","type":"integer"}]"#,
            r#"[{"linkId":"a","answer":[{"valueInteger":1}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueCoding":{"code":"x"}}]}]"#,
            "must be of the type integer not Coding",
        ),
        (
            r#"[{"linkId":"a","type":"display"}]"#,
            r#"[{"linkId":"a"}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"}]}]"#,
            "cannot have answers",
        ),
        (
            r#"[{"linkId":"g","type":"group","required":true,"item":[{"linkId":"a","type":"string"}]}]"#,
            r#"[{"linkId":"g","item":[{"linkId":"a","answer":[{"valueString":"x"}]}]}]"#,
            r#"[{"linkId":"g"}]"#,
            "required group",
        ),
        (
            r#"[{"linkId":"c","type":"boolean"},{"linkId":"e","type":"boolean",
                "enableWhen":[{"question":"c","operator":"=","answerBoolean":true}]}]"#,
            r#"[{"linkId":"c","answer":[{"valueBoolean":true}]},{"linkId":"e","answer":[{"valueBoolean":true}]}]"#,
            r#"[{"linkId":"c","answer":[{"valueBoolean":false}]},{"linkId":"e","answer":[{"valueBoolean":true}]}]"#,
            "not enabled",
        ),
        (
            r#"[{"linkId":"a","type":"choice","repeats":true,"answerOption":[
                {"valueCoding":{"system":"http://x.test/s","code":"1"}},
                {"valueCoding":{"system":"http://x.test/s","code":"2"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive","valueBoolean":true}]}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueCoding":{"system":"http://x.test/s","code":"2"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueCoding":{"system":"http://x.test/s","code":"1"}},{"valueCoding":{"system":"http://x.test/s","code":"2"}}]}]"#,
            "exclusive option",
        ),
        (
            r#"[{"linkId":"a","type":"choice","answerOption":[{"valueCoding":{"system":"http://x.test/s","code":"1"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueCoding":{"system":"http://x.test/s","code":"1"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueCoding":{"system":"http://x.test/s","code":"3"}}]}]"#,
            "not in the set of permitted values",
        ),
        (
            r#"[{"linkId":"a","type":"integer","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/minValue","valueInteger":2}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueInteger":2}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueInteger":1}]}]"#,
            "less than the allowed minimum",
        ),
        (
            r#"[{"linkId":"a","type":"date","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/maxValue","valueDate":"2022-06"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueDate":"2022-06"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueDate":"2022-07-01"}]}]"#,
            "greater than the allowed maximum",
        ),
        (
            r#"[{"linkId":"a","type":"decimal","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces","valueInteger":2}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueDecimal":1.25}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueDecimal":1.255}]}]"#,
            "decimal places",
        ),
        (
            r#"[{"linkId":"a","type":"string","maxLength":3,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/regex","valueString":"[a-z]+"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"abc"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"ab1"}]}]"#,
            "regex",
        ),
        (
            r#"[{"linkId":"a","type":"string","maxLength":3}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"abc"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"abcd"}]}]"#,
            "maximum length",
        ),
        (
            r#"[{"linkId":"a","type":"attachment","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/mimeType","valueCode":"image/gif"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueAttachment":{"contentType":"image/gif"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueAttachment":{"contentType":"application/pdf"}}]}]"#,
            "mime type",
        ),
        (
            r#"[{"linkId":"a","type":"quantity","extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity",
                "valueQuantity":{"value":50,"system":"http://unitsofmeasure.org","code":"km"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":60000,"system":"http://unitsofmeasure.org","code":"m"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":10000,"system":"http://unitsofmeasure.org","code":"m"}}]}]"#,
            "less than the allowed minimum",
        ),
        (
            r#"[{"linkId":"a","type":"quantity","extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity",
                "valueQuantity":{"value":50,"system":"http://unitsofmeasure.org","code":"kg"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":60,"system":"http://unitsofmeasure.org","code":"kg"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":60,"system":"http://unitsofmeasure.org","code":"[mi_i]"}}]}]"#,
            "cannot be compared",
        ),
        (
            r#"[{"linkId":"a","type":"quantity","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption",
                "valueCoding":{"system":"http://unitsofmeasure.org","code":"km"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":1,"system":"http://unitsofmeasure.org","code":"km"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":1,"system":"http://unitsofmeasure.org","code":"kg"}}]}]"#,
            "unit that is not valid",
        ),
        (
            r#"[{"linkId":"a","type":"reference","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource","valueCode":"Patient"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueReference":{"reference":"Patient/1"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueReference":{"reference":"Organization/1"}}]}]"#,
            "is not allowed",
        ),
        (
            r#"[{"linkId":"a","type":"reference"}]"#,
            r#"[{"linkId":"a","answer":[{"valueReference":{"reference":"https://x.org/Patient/1"}}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueReference":{"reference":"https://x.org/Chicken/1"}}]}]"#,
            "is not valid",
        ),
        (
            r#"[{"linkId":"a","type":"string","repeats":true,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs","valueInteger":2}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"},{"valueString":"y"}]}]"#,
            r#"[{"linkId":"a","answer":[{"valueString":"x"},{"valueString":"y"},{"valueString":"z"}]}]"#,
            "maximum number of answers",
        ),
    ];

    #[test]
    fn response_rules_fire_on_bad_answers_only() {
        for (qitems, good, bad, word) in CASES {
            let e = errors(qitems, good, "completed");
            assert!(e.is_empty(), "{qitems} / {good}: {e:?}");
            let e = errors(qitems, bad, "completed");
            assert!(
                e.iter().any(|i| i.message.contains(word)),
                "{qitems} / {bad}: expected '{word}', got {e:?}"
            );
        }
    }

    #[test]
    fn a_response_in_progress_only_warns_of_missing_answers() {
        let q =
            r#"[{"linkId":"a","type":"string","required":true},{"linkId":"b","type":"string"}]"#;
        let items = r#"[{"linkId":"b","answer":[{"valueString":"x"}]}]"#;
        assert!(errors(q, items, "in-progress").is_empty());
        assert!(!errors(q, items, "completed").is_empty());
    }

    #[test]
    fn a_canonical_to_another_resource_type_is_an_error() {
        let vs = r#"{"resourceType":"ValueSet","id":"v","url":"http://example.org/vs","status":"active"}"#;
        let mut set = PackageSet::new();
        if let Ok(p) = Package::from_resources("t", "0.0.0", vec![("v.json".into(), vs.into())]) {
            set.add(p);
        }
        let v = Validator::new(Arc::new(set));
        let qr = |url: &str| {
            format!(
                r#"{{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"{url}"}}"#
            )
        };
        let bad = v.validate_json(qr("http://example.org/vs").as_bytes(), &[]);
        assert!(
            bad.iter()
                .any(|i| i.severity.is_error()
                    && i.expression == "QuestionnaireResponse.questionnaire"),
            "{bad:?}"
        );
        let unknown = v.validate_json(qr("http://example.org/q").as_bytes(), &[]);
        assert!(
            !unknown.iter().any(|i| i.severity.is_error()),
            "{unknown:?}"
        );
    }

    #[test]
    fn odd_shapes_do_not_panic() {
        let q = r#"[{"linkId":"a","type":"group","item":[{"linkId":"b","type":"quantity",
            "enableWhen":[{"question":"a","operator":">","answerQuantity":{"value":1}}],
            "extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity","valueQuantity":{"value":1e999}}]}]},
            {"linkId":"c","type":"string","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/regex","valueString":"(["}]}]"#;
        for items in [
            r#"[{"linkId":"a","answer":[{"valueQuantity":{"value":2}}],"item":[{"linkId":"b","answer":[{"valueQuantity":{"value":1e999,"code":"x"}}]}]}]"#,
            r#"[{"linkId":"c","answer":[{"valueString":"x"}]},{"linkId":"a","item":[{"linkId":"zz"}]}]"#,
            r#"[{"linkId":"b","answer":{"valueString":"x"}},{"linkId":1}]"#,
        ] {
            let _ = errors(q, items, "completed");
        }
    }
}
