//! One QuestionnaireResponse answer against its Questionnaire item: the
//! value's type must be the item type's (questionnaire.html#itemtype:
//! `string` and `text` take valueString, `url` valueUri, `choice` and
//! `open-choice` a Coding or a date, time, integer or string), it must
//! be one of the item's `answerOption`s when it has them (an
//! `optionExclusive` option alone), and it must meet the limits the item
//! states with the core and SDC extensions: `minValue`/`maxValue`,
//! `maxDecimalPlaces`, `minLength`/`maxLength`, `regex`, `mimeType`,
//! `maxSize`, `sdc-questionnaire-minQuantity`/`maxQuantity` (compared in
//! UCUM when the units differ), `questionnaire-unitOption`,
//! `questionnaire-unitValueSet` and `questionnaire-referenceResource`.

use std::cmp::Ordering;

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};
use fhirpath::decimal::Decimal;
use fhirpath::quantity::Quantity;

use crate::json::list;
use crate::json::{field, str_field};
use crate::validate::datatypes::attachment::decoded_len;
use crate::validate::questionnaire::answer_value_set;
use crate::validate::questionnaire::context::Ctx;
use crate::validate::questionnaire::enable_when::start_of;
use crate::validate::questionnaire::items::{choice, ext_value, extensions, text, type_of_suffix};
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

const MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
const MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
const MAX_DECIMALS: &str = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces";
const MIN_LENGTH: &str = "http://hl7.org/fhir/StructureDefinition/minLength";
const REGEX: &str = "http://hl7.org/fhir/StructureDefinition/regex";
const ENTRY_FORMAT: &str = "http://hl7.org/fhir/StructureDefinition/entryFormat";
const MIME_TYPE: &str = "http://hl7.org/fhir/StructureDefinition/mimeType";
const MAX_SIZE: &str = "http://hl7.org/fhir/StructureDefinition/maxSize";
const MIN_QUANTITY: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity";
const MAX_QUANTITY: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity";
const UNIT_OPTION: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption";
const UNIT_VALUE_SET: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitValueSet";
const REFERENCE_RESOURCE: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource";
const OPTION_EXCLUSIVE: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive";
const UCUM: &str = "http://unitsofmeasure.org";

fn err(issues: &mut Vec<Issue>, at: &str, msg: String) {
    issues.push(Issue::new(Severity::Error, IssueType::Invariant, at, msg));
}

/// Checks `answer` (at `at`, one of `count` answers) of an item of type
/// `ty` (not group or display).
pub(crate) fn check(
    ctx: &Ctx<'_>,
    qi: &Json,
    ty: &str,
    answer: &Json,
    count: usize,
    at: &str,
    issues: &mut Vec<Issue>,
) {
    let allowed: &[&str] = match ty {
        "boolean" => &["Boolean"],
        "decimal" => &["Decimal"],
        "integer" => &["Integer"],
        "date" => &["Date"],
        "dateTime" => &["DateTime"],
        "time" => &["Time"],
        "string" | "text" => &["String"],
        "url" => &["Uri"],
        "attachment" => &["Attachment"],
        "reference" => &["Reference"],
        "quantity" => &["Quantity"],
        "choice" | "open-choice" => &["Coding", "Date", "Time", "Integer", "String"],
        _ => return,
    };
    // Only the types QuestionnaireResponse.item.answer.value[x] has; any
    // other name is a structure error reported by the parser.
    let Some((suffix, value)) = choice(answer, "value").filter(|(s, _)| {
        matches!(
            *s,
            "Boolean"
                | "Decimal"
                | "Integer"
                | "Date"
                | "DateTime"
                | "Time"
                | "String"
                | "Uri"
                | "Attachment"
                | "Coding"
                | "Quantity"
                | "Reference"
        )
    }) else {
        return;
    };
    let vpath = format!("{at}.value.ofType({})", type_of_suffix(suffix));
    if !allowed.contains(&suffix) {
        let names: Vec<String> = allowed.iter().map(|s| type_of_suffix(s)).collect();
        err(
            issues,
            &vpath,
            format!(
                "Answer value must be of the type {} not {}",
                names.join(", "),
                type_of_suffix(suffix)
            ),
        );
        return;
    }
    match ty {
        "decimal" => decimal(qi, value, &vpath, issues),
        "integer" => {
            integer(qi, value, &vpath, issues);
            option(qi, "Integer", value, &vpath, false, issues);
        }
        "date" | "dateTime" => {
            date(qi, value, &vpath, issues);
            option(qi, "Date", value, &vpath, false, issues);
        }
        "time" => {
            time(qi, value, &vpath, issues);
            option(qi, "Time", value, &vpath, false, issues);
        }
        "string" => {
            string(qi, value, &vpath, issues);
            if let (Some(url), Json::String(v)) = (str_field(qi, "answerValueSet"), value) {
                answer_value_set::check_string(ctx, url, v, &vpath, issues);
            }
            option(qi, "String", value, &vpath, false, issues);
        }
        "attachment" => attachment(qi, value, at, issues),
        "reference" => reference(qi, value, &vpath, issues),
        "quantity" => quantity(ctx, qi, value, &vpath, issues),
        "choice" | "open-choice" => {
            let open = ty == "open-choice";
            if suffix == "Coding" {
                if !list(qi, "answerOption").is_empty() {
                    coding(qi, value, count, at, open, issues);
                } else if let Some(url) = str_field(qi, "answerValueSet") {
                    answer_value_set::check(ctx, url, value, at, &vpath, issues);
                }
            } else if list(qi, "answerOption").is_empty() {
                issues.push(Issue::new(
                    Severity::Information,
                    IssueType::Informational,
                    at,
                    format!(
                        "Cannot validate {} answer option because no option list is provided",
                        type_of_suffix(suffix)
                    ),
                ));
            } else {
                option(qi, suffix, value, at, open, issues);
            }
        }
        _ => {}
    }
}

/// The answer must be among the item's `answerOption`s of its type.
fn option(qi: &Json, suffix: &str, value: &Json, at: &str, open: bool, issues: &mut Vec<Issue>) {
    let options = list(qi, "answerOption");
    if options.is_empty() {
        return;
    }
    let Some(v) = text(value) else {
        return;
    };
    let ty = type_of_suffix(suffix);
    let same: Vec<String> = options
        .iter()
        .filter_map(|o| match choice(o, "value") {
            Some((s, x)) if s == suffix => text(x),
            _ => None,
        })
        .collect();
    if open && suffix == "String" {
        // Free text naming one of the coded options is probably a mistake.
        let names_option = options.iter().any(|o| match choice(o, "value") {
            Some(("Coding", c)) => ["display", "code"]
                .iter()
                .any(|k| str_field(c, k).is_some_and(|d| d.eq_ignore_ascii_case(&v))),
            _ => false,
        });
        if names_option {
            issues.push(Issue::new(
                Severity::Warning,
                IssueType::Invariant,
                at,
                format!("The string value '{v}' matches an entry in the list of valid Codings, so this is probably an error"),
            ));
        }
        return;
    }
    if same.is_empty() {
        if !open {
            err(
                issues,
                at,
                format!("Option list has no option values of type {ty}"),
            );
        }
        return;
    }
    if !same.contains(&v) {
        err(
            issues,
            at,
            format!("The {ty} {v} is not in the set of permitted values"),
        );
    }
}

/// A Coding answer: among the Coding options (by system and code), and
/// an exclusive option only alone.
fn coding(qi: &Json, value: &Json, count: usize, at: &str, open: bool, issues: &mut Vec<Issue>) {
    let options = list(qi, "answerOption");
    if options.is_empty() {
        return;
    }
    let system = str_field(value, "system");
    let code = str_field(value, "code");
    let codings: Vec<(&Json, bool)> = options
        .iter()
        .filter_map(|o| match choice(o, "value") {
            Some(("Coding", c)) => Some((
                c,
                matches!(ext_value(o, OPTION_EXCLUSIVE), Some((_, Json::Bool(true)))),
            )),
            _ => None,
        })
        .collect();
    if codings.is_empty() {
        if !open {
            err(
                issues,
                at,
                "Option list has no option values of type coding".to_owned(),
            );
        }
        return;
    }
    match codings
        .iter()
        .find(|(c, _)| str_field(c, "system") == system && str_field(c, "code") == code)
    {
        Some((_, true)) if count != 1 => err(
            issues,
            at,
            format!(
                "Selected answer {}#{} is an exclusive option - can't select anything else at the same time",
                system.unwrap_or(""),
                code.unwrap_or("")
            ),
        ),
        Some(_) => {}
        None => err(
            issues,
            at,
            format!(
                "The code {}::{} is not in the set of permitted values",
                system.unwrap_or(""),
                code.unwrap_or("")
            ),
        ),
    }
}

fn bound(qi: &Json, url: &str) -> Option<String> {
    ext_value(qi, url).and_then(|(_, v)| text(v))
}

fn decimal(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let Some(v) = text(value) else {
        return;
    };
    if let Some(d) = Decimal::parse(&v) {
        for (url, min) in [(MIN_VALUE, true), (MAX_VALUE, false)] {
            if let Some(b) = bound(qi, url) {
                if let Some(bd) = Decimal::parse(&b) {
                    out_of_range(d.cmp_to(&bd), min, &v, &b, at, issues);
                }
            }
        }
    }
    max_decimals(qi, &v, at, issues);
}

fn max_decimals(qi: &Json, v: &str, at: &str, issues: &mut Vec<Issue>) {
    let Some(limit) = bound(qi, MAX_DECIMALS).and_then(|b| b.parse::<usize>().ok()) else {
        return;
    };
    if v.contains(['e', 'E']) {
        return;
    }
    let places = v.split_once('.').map_or(0, |(_, f)| f.len());
    if places > limit {
        err(
            issues,
            at,
            format!("The value {v} has too many decimal places (limit = {limit})"),
        );
    }
}

fn out_of_range(ord: Ordering, min: bool, v: &str, b: &str, at: &str, issues: &mut Vec<Issue>) {
    if min && ord == Ordering::Less {
        err(
            issues,
            at,
            format!("The value {v} is less than the allowed minimum of {b}"),
        );
    } else if !min && ord == Ordering::Greater {
        err(
            issues,
            at,
            format!("The value {v} is greater than the allowed maximum of {b}"),
        );
    }
}

fn integer(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let Some(v) = text(value) else {
        return;
    };
    let Ok(n) = v.parse::<i64>() else {
        return;
    };
    for (url, min) in [(MIN_VALUE, true), (MAX_VALUE, false)] {
        if let Some(b) = bound(qi, url) {
            if let Ok(bn) = b.parse::<i64>() {
                out_of_range(n.cmp(&bn), min, &v, &b, at, issues);
            }
        }
    }
}

/// Dates and dateTimes compare by the instant they start at
/// (`2022-06-30` is after a maximum of `2022-06`).
fn date(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let Some(v) = text(value) else {
        return;
    };
    let Some(t) = start_of(&v) else {
        return;
    };
    for (url, min) in [(MIN_VALUE, true), (MAX_VALUE, false)] {
        if let Some(b) = bound(qi, url) {
            if let Some(ord) = start_of(&b).and_then(|bt| t.compare(&bt, false)) {
                out_of_range(ord, min, &v, &b, at, issues);
            }
        }
    }
}

fn time(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let Some(v) = text(value) else {
        return;
    };
    for (url, min) in [(MIN_VALUE, true), (MAX_VALUE, false)] {
        if let Some(b) = bound(qi, url) {
            out_of_range(v.as_str().cmp(b.as_str()), min, &v, &b, at, issues);
        }
    }
}

fn string(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let Json::String(v) = value else {
        return;
    };
    let len = v.chars().count();
    if let Some(min) = bound(qi, MIN_LENGTH).and_then(|b| b.parse::<usize>().ok()) {
        if len < min {
            err(
                issues,
                at,
                format!("The answer '{v}' is shorter than the required minimum length of {min}"),
            );
        }
    }
    if let Some(max) = field(qi, "maxLength")
        .and_then(text)
        .and_then(|b| b.parse::<usize>().ok())
    {
        if len > max {
            err(
                issues,
                at,
                format!("The answer '{v}' is longer than the allowed maximum length of {max}"),
            );
        }
    }
    if let Some(re) = bound(qi, REGEX) {
        // The extension's regex must match the whole answer.
        if let Ok(compiled) = regex::Regex::new(&format!("^(?:{re})$")) {
            if !compiled.is_match(v) {
                let msg = match bound(qi, ENTRY_FORMAT) {
                    Some(ef) => format!(
                        "The answer '{v}' does not conform to the expected format '{ef}' (regex '{re}')"
                    ),
                    None => format!("The answer '{v}' does not match the regex '{re}'"),
                };
                err(issues, at, msg);
            }
        }
    }
    if v.contains(['\r', '\n']) {
        issues.push(Issue::new(
            Severity::Warning,
            IssueType::Invariant,
            at,
            "The answer should not contain new line characters",
        ));
    }
}

fn attachment(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let allowed: Vec<String> = extensions(qi, MIME_TYPE)
        .filter_map(|e| choice(e, "value").and_then(|(_, v)| text(v)))
        .collect();
    if !allowed.is_empty() {
        match str_field(value, "contentType") {
            None => err(
                issues,
                at,
                format!(
                    "The attachment has no mime type (allowed = {})",
                    allowed.join(", ")
                ),
            ),
            Some(mt) if !allowed.iter().any(|a| mt.starts_with(a.as_str())) => err(
                issues,
                at,
                format!(
                    "The mime type {mt} is not valid for this answer (allowed = {})",
                    allowed.join(", ")
                ),
            ),
            Some(_) => {}
        }
    }
    let max = bound(qi, MAX_SIZE)
        .and_then(|b| Decimal::parse(&b))
        .and_then(|d| d.truncate().to_i64());
    if let (Some(max), Some(data)) = (max, str_field(value, "data")) {
        let len = decoded_len(data) as i64;
        if max > 0 && len > max {
            err(
                issues,
                at,
                format!("The attachment is too large (allowed = {max}, found = {len})"),
            );
        }
    }
}

/// The resource type a reference names (`Patient/1`,
/// `https://x.org/fhir/Patient/1/_history/2`), when it names one.
fn reference_type(r: &str) -> Option<&str> {
    if r.starts_with('#') || r.starts_with("urn:") {
        return None;
    }
    let r = r.split(['?', '#']).next().unwrap_or(r);
    let r = r.split("/_history/").next().unwrap_or(r);
    let parts: Vec<&str> = r.split('/').collect();
    let ty = *parts.get(parts.len().checked_sub(2)?)?;
    (ty.starts_with(|c: char| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_ascii_alphanumeric()))
    .then_some(ty)
}

fn reference(qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let Some(r) = str_field(value, "reference") else {
        return;
    };
    if r.contains(char::is_whitespace) {
        err(
            issues,
            at,
            format!("The reference '{r}' is not a valid reference"),
        );
    }
    let Some(rt) = reference_type(r) else {
        return;
    };
    let allowed: Vec<String> = extensions(qi, REFERENCE_RESOURCE)
        .filter_map(|e| choice(e, "value").and_then(|(_, v)| text(v)))
        .collect();
    if !allowed.is_empty() {
        if !allowed.iter().any(|a| a == rt) {
            err(
                issues,
                at,
                format!(
                    "The resource type '{rt}' in the reference {r} is not allowed (allowed = {})",
                    allowed.join(",")
                ),
            );
        }
    } else if !meta::type_info(rt).is_some_and(|t| t.kind == Kind::Resource) {
        err(
            issues,
            at,
            format!("The resource type {rt} in the reference {r} is not valid"),
        );
    }
}

/// A Quantity as the HL7 validator shows it: `10 Kg (UCUM#kg)`.
fn show(q: &Json) -> String {
    let mut s = String::new();
    if let Some(c) = str_field(q, "comparator") {
        s.push_str(c);
    }
    s.push_str(&field(q, "value").and_then(text).unwrap_or_default());
    if let Some(u) = str_field(q, "unit") {
        s.push(' ');
        s.push_str(u);
    }
    let (system, code) = (str_field(q, "system"), str_field(q, "code"));
    if system.is_some() || code.is_some() {
        let name = match system {
            Some(UCUM) => "UCUM",
            Some(s) => s,
            None => "",
        };
        s.push_str(&format!(" ({name}#{})", code.unwrap_or("null")));
    }
    s
}

fn quantity(ctx: &Ctx<'_>, qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let v = field(value, "value").and_then(text);
    quantity_bounds(qi, value, v.as_deref(), at, issues);
    if let Some(v) = &v {
        max_decimals(qi, v, at, issues);
    }
    quantity_unit(ctx, qi, value, at, issues);
}

/// The SDC `minQuantity` / `maxQuantity` of the item: compared in the
/// same unit, or in UCUM units of one dimension.
fn quantity_bounds(qi: &Json, value: &Json, v: Option<&str>, at: &str, issues: &mut Vec<Issue>) {
    let dv = v.and_then(Decimal::parse);
    let (system, code) = (str_field(value, "system"), str_field(value, "code"));
    for (url, min) in [(MIN_QUANTITY, true), (MAX_QUANTITY, false)] {
        let Some(("Quantity", b)) = ext_value(qi, url) else {
            continue;
        };
        let Some(dv) = dv else {
            continue;
        };
        let Some(db) = field(b, "value")
            .and_then(text)
            .and_then(|t| Decimal::parse(&t))
        else {
            continue;
        };
        let which = if min { "minimum" } else { "maximum" };
        let (bs, bc) = (str_field(b, "system"), str_field(b, "code"));
        let (Some(vs), Some(vc), Some(bs), Some(bc)) = (system, code, bs, bc) else {
            err(
                issues,
                at,
                format!(
                    "The quantity {} cannot be compared to the allowed {which} of {} because no formal units are specified",
                    show(value),
                    show(b)
                ),
            );
            continue;
        };
        let ord = if vs == bs && vc == bc {
            Some(dv.cmp_to(&db))
        } else if vs == UCUM && bs == UCUM {
            let (a, c) = (Quantity::new(dv, vc), Quantity::new(db, bc));
            match a.compare(&c) {
                Some(o) => Some(o),
                // Units of one table but different dimensions cannot be
                // compared; units this engine does not know are let be.
                None if a.equals(&c) == Some(false) => None,
                None => continue,
            }
        } else {
            None
        };
        match ord {
            Some(o) => {
                if min && o == Ordering::Less {
                    err(
                        issues,
                        at,
                        format!(
                            "The quantity {} is less than the allowed minimum of {}",
                            show(value),
                            show(b)
                        ),
                    );
                } else if !min && o == Ordering::Greater {
                    err(
                        issues,
                        at,
                        format!(
                            "The quantity {} is greater than the allowed maximum of {}",
                            show(value),
                            show(b)
                        ),
                    );
                }
            }
            None => err(
                issues,
                at,
                format!(
                    "The quantity {} cannot be compared to the allowed {which} of {}",
                    show(value),
                    show(b)
                ),
            ),
        }
    }
}

/// The unit must be one of the item's `unitOption`s and in its
/// `unitValueSet`.
fn quantity_unit(ctx: &Ctx<'_>, qi: &Json, value: &Json, at: &str, issues: &mut Vec<Issue>) {
    let (system, code) = (str_field(value, "system"), str_field(value, "code"));
    let options: Vec<&Json> = extensions(qi, UNIT_OPTION)
        .filter_map(|e| field(e, "valueCoding"))
        .collect();
    if !options.is_empty() {
        let unit = str_field(value, "unit");
        let matches = options.iter().any(|c| {
            str_field(c, "system").is_none_or(|s| Some(s) == system)
                && str_field(c, "code").is_none_or(|s| Some(s) == code)
                && str_field(c, "display").is_none_or(|s| Some(s) == unit)
        });
        if !matches {
            let shown: Vec<String> = options.iter().map(|c| show_coding(c)).collect();
            err(
                issues,
                at,
                format!(
                    "The value {} has a unit that is not valid (allowed = {})",
                    show(value),
                    shown.join(",")
                ),
            );
        }
    }
    if let Some(url) = bound(qi, UNIT_VALUE_SET) {
        let vs = ctx
            .v
            .packages()
            .by_url(&url)
            .and_then(|(p, r)| r.json(p.source()).ok());
        match vs {
            None => issues.push(Issue::new(
                Severity::Warning,
                IssueType::NotFound,
                at,
                format!(
                    "The unit value set '{url}' could not be found, so the unit was not checked"
                ),
            )),
            Some(vs) => {
                if ctx.v.value_set_provider().by_compose(vs, system, code) == Some(false) {
                    err(
                        issues,
                        at,
                        format!(
                            "The value {} has a unit that is not in the unit value set '{url}'",
                            show(value)
                        ),
                    );
                }
            }
        }
    }
}

fn show_coding(c: &Json) -> String {
    let mut s = str_field(c, "display").unwrap_or("").to_owned();
    let (system, code) = (str_field(c, "system"), str_field(c, "code"));
    if system.is_some() || code.is_some() {
        let name = match system {
            Some(UCUM) => "UCUM",
            Some(s) => s,
            None => "",
        };
        s.push_str(&format!(" ({name}#{})", code.unwrap_or("null")));
    }
    s
}
