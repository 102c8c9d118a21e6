//! Whether a Questionnaire item is enabled in a QuestionnaireResponse
//! (questionnaire.html#enableWhen): its `enableWhen` conditions, combined
//! by `enableBehavior`, or an enableWhen expression extension (SDC
//! `sdc-questionnaire-enableWhenExpression`, or the Finnish PHR one)
//! evaluated with FHIRPath on the response.
//!
//! The answers a condition looks at are found as the HL7 validator finds
//! them: from the innermost group of the Questionnaire holding both the
//! item and the question it names, in the response item that answers that
//! group (or the whole response when they share no group). A condition
//! this engine cannot evaluate (an answer of another type than the
//! condition's, an expression naming a variable it does not have) counts
//! as enabled: an item is never said to be disabled on a guess.

use std::cmp::Ordering;

use fhir_model::json::tree::Value as Json;
use fhirpath::datetime::Temporal;
use fhirpath::decimal::Decimal;
use fhirpath::{Context, Expression, Item};

use crate::json::list;
use crate::json::str_field;
use crate::validate::questionnaire::items::{choice, ext_value, find_item, text};

const EXPR_SDC: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";
const EXPR_KANTA: &str =
    "http://phr.kanta.fi/StructureDefinition/fiphr-ext-questionnaire-enablewhen";

/// The Questionnaire item and the response element (item or answer) of
/// each enclosing level, outermost first.
pub type Stack<'a> = [(&'a Json, &'a Json)];

/// Whether `qitem` is enabled; `q` the Questionnaire, `qr` the response,
/// `stack` the levels enclosing the item being judged.
pub fn is_enabled(q: &Json, qr: &Json, qitem: &Json, stack: &Stack<'_>) -> bool {
    if let Some(expr) = expression(qitem) {
        return expression_enabled(&expr, qr).unwrap_or(true);
    }
    let conditions = list(qitem, "enableWhen");
    if conditions.is_empty() {
        return true;
    }
    let mut results = Vec::with_capacity(conditions.len());
    for c in conditions {
        match condition(q, qr, qitem, c, stack) {
            Some(r) => results.push(r),
            None => return true,
        }
    }
    match str_field(qitem, "enableBehavior") {
        _ if results.len() == 1 => results[0],
        Some("any") => results.iter().any(|r| *r),
        Some("all") => results.iter().all(|r| *r),
        // Several conditions and no behaviour: que-12 reports it.
        _ => true,
    }
}

fn expression(qitem: &Json) -> Option<String> {
    if let Some((_, Json::String(s))) = ext_value(qitem, EXPR_KANTA) {
        return Some(s.clone());
    }
    let (ty, v) = ext_value(qitem, EXPR_SDC)?;
    if ty != "Expression" || str_field(v, "language") != Some("text/fhirpath") {
        return None;
    }
    str_field(v, "expression").map(str::to_owned)
}

/// `None` when the expression cannot be evaluated here.
fn expression_enabled(expr: &str, qr: &Json) -> Option<bool> {
    // Variables other than the ones FHIRPath itself supplies (launch
    // contexts, `variable` extensions) are not available.
    let mut rest = expr;
    while let Some(i) = rest.find('%') {
        rest = &rest[i + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !matches!(
            name.as_str(),
            "resource" | "rootResource" | "context" | "ucum" | "sct" | "loinc" | ""
        ) {
            return None;
        }
    }
    let compiled = Expression::compile(expr).ok()?;
    let out = compiled.evaluate(&Context::new(qr)).ok()?;
    Some(match out.as_slice() {
        [] => false,
        [Item::Boolean(b)] => *b,
        [one] => match one.system() {
            Some(Item::Boolean(b)) => b,
            _ => true,
        },
        _ => true,
    })
}

/// One enableWhen condition; `None` when it cannot be evaluated.
fn condition(q: &Json, qr: &Json, source: &Json, cond: &Json, stack: &Stack<'_>) -> Option<bool> {
    let question = str_field(cond, "question")?;
    let operator = str_field(cond, "operator")?;
    let (ety, expected) = choice(cond, "answer")?;
    let answers = question_answers(q, qr, source, question, stack);
    if operator == "exists" {
        let Json::Bool(b) = expected else {
            return None;
        };
        return Some(*b != answers.is_empty());
    }
    let mut result = false;
    for a in answers {
        let Some((aty, actual)) = choice(a, "value") else {
            continue;
        };
        if aty != ety {
            return None;
        }
        result |= compare(ety, actual, expected, operator)?;
    }
    Some(result)
}

fn compare(ty: &str, actual: &Json, expected: &Json, op: &str) -> Option<bool> {
    let ord = match ty {
        "Coding" => {
            let same = coding_matches(expected, actual);
            return match op {
                "=" => Some(same),
                "!=" => Some(!same),
                _ => None,
            };
        }
        "Boolean" => {
            let (Json::Bool(a), Json::Bool(b)) = (actual, expected) else {
                return None;
            };
            a.cmp(b)
        }
        "Integer" | "Decimal" => {
            Decimal::parse(&text(actual)?)?.cmp_to(&Decimal::parse(&text(expected)?)?)
        }
        "Quantity" => Decimal::parse(&text(crate::json::field(actual, "value")?)?)?.cmp_to(
            &Decimal::parse(&text(crate::json::field(expected, "value")?)?)?,
        ),
        "Date" | "DateTime" => {
            start_of(&text(actual)?)?.compare(&start_of(&text(expected)?)?, false)?
        }
        "String" | "Time" => text(actual)?.cmp(&text(expected)?),
        "Reference" => {
            let same = str_field(actual, "reference") == str_field(expected, "reference");
            return match op {
                "=" => Some(same),
                "!=" => Some(!same),
                _ => None,
            };
        }
        _ => return None,
    };
    Some(match op {
        "=" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        ">" => ord == Ordering::Greater,
        "<" => ord == Ordering::Less,
        ">=" => ord != Ordering::Less,
        "<=" => ord != Ordering::Greater,
        _ => return None,
    })
}

/// A date or dateTime as the instant it starts at (`2022-06` is
/// `2022-06-01T00:00:00`), as the HL7 validator compares them.
pub(crate) fn start_of(s: &str) -> Option<Temporal> {
    let mut t = Temporal::parse_datetime(s).or_else(|| Temporal::parse_date(s))?;
    t.month = t.month.max(1);
    t.day = t.day.max(1);
    t.precision = fhirpath::datetime::MILLI;
    Some(t)
}

/// A system and code that match the expected Coding's (an expected
/// Coding without a system matches any system).
fn coding_matches(expected: &Json, actual: &Json) -> bool {
    let (es, as_) = (str_field(expected, "system"), str_field(actual, "system"));
    if es.is_some() && es != as_ {
        return false;
    }
    str_field(expected, "code") == str_field(actual, "code")
}

/// The answers (response `answer` objects) given to `question`, looked
/// for under the response element of the innermost group holding both
/// `source` and `question`.
fn question_answers<'a>(
    q: &'a Json,
    qr: &'a Json,
    source: &Json,
    question: &str,
    stack: &Stack<'a>,
) -> Vec<&'a Json> {
    let mut out = Vec::new();
    let items = list(q, "item");
    let Some(target) = find_item(items, question) else {
        return out;
    };
    let focus = match common_group(items, source, target) {
        None => qr,
        Some(g) => match stack.iter().rev().find(|(qi, _)| std::ptr::eq(*qi, g)) {
            Some((_, a)) => a,
            None => return out,
        },
    };
    answers_on(focus, question, &mut out);
    out
}

/// The innermost item holding both `a` and `b` as descendants.
fn common_group<'a>(items: &'a [Json], a: &Json, b: &Json) -> Option<&'a Json> {
    fn path<'a>(items: &'a [Json], x: &Json, out: &mut Vec<&'a Json>) -> bool {
        for i in items {
            if std::ptr::eq(i, x) {
                return true;
            }
            out.push(i);
            if path(list(i, "item"), x, out) {
                return true;
            }
            out.pop();
        }
        false
    }
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    if !path(items, a, &mut pa) || !path(items, b, &mut pb) {
        return None;
    }
    pa.iter()
        .zip(&pb)
        .take_while(|(x, y)| std::ptr::eq(**x, **y))
        .last()
        .map(|(x, _)| *x)
}

fn answers_on<'a>(focus: &'a Json, question: &str, out: &mut Vec<&'a Json>) {
    for item in list(focus, "item") {
        if str_field(item, "linkId") == Some(question) {
            out.extend(list(item, "answer"));
        }
        answers_on(item, question, out);
    }
    for answer in list(focus, "answer") {
        answers_on(answer, question, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree::parse;

    #[test]
    fn conditions_on_answers() {
        let q = parse(
            br#"{"item":[{"linkId":"c","type":"boolean"},
              {"linkId":"e","type":"boolean","enableWhen":[{"question":"c","operator":"=","answerBoolean":true}]}]}"#,
        )
        .unwrap();
        let yes = parse(br#"{"item":[{"linkId":"c","answer":[{"valueBoolean":true}]}]}"#).unwrap();
        let no = parse(br#"{"item":[{"linkId":"c","answer":[{"valueBoolean":false}]}]}"#).unwrap();
        let e = &list(&q, "item")[1];
        assert!(is_enabled(&q, &yes, e, &[]));
        assert!(!is_enabled(&q, &no, e, &[]));
    }

    #[test]
    fn expressions_with_unknown_variables_count_as_enabled() {
        let q = parse(br#"{"item":[]}"#).unwrap();
        let qr = parse(br#"{"resourceType":"QuestionnaireResponse"}"#).unwrap();
        let item = parse(
            br#"{"linkId":"e","extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression",
              "valueExpression":{"language":"text/fhirpath","expression":"%patient.active"}}]}"#,
        )
        .unwrap();
        assert!(is_enabled(&q, &qr, &item, &[]));
        let item = parse(
            br#"{"linkId":"e","extension":[{"url":"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression",
              "valueExpression":{"language":"text/fhirpath","expression":"false"}}]}"#,
        )
        .unwrap();
        assert!(!is_enabled(&q, &qr, &item, &[]));
    }
}
