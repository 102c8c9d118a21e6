//! Measure and MeasureReport rules beyond the invariants
//! (measure.html, measurereport.html):
//!
//! - a Measure's CQL stratifier criteria name a definition of one of its
//!   libraries: with no library at all there is nothing to evaluate; with
//!   every library resolved, `Lib.Name` must name one of them, and when
//!   the library carries its ELM (`application/elm+xml` or `+json`), the
//!   definition must be among its statements;
//! - a MeasureReport whose Measure is known is checked against it: each
//!   group, population and stratifier of the report carries a code
//!   matching one of the Measure's (a single group may go without), none
//!   twice, none of the Measure's missing; a `subject-list` report's
//!   population count is the number of subjects listed, other reports
//!   list none; the `measureScore` fits the Measure's scoring (none for a
//!   `cohort` or a `data-collection` report, a unitless 0..1 proportion).
//!
//! Codes match when they share a coding (system and code), or, for
//! stratifiers, when neither has codings and their texts are equal.

use fhir_model::json::tree::{self, Value as Json};

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

const MEASURE_POPULATION: &str = "http://terminology.hl7.org/CodeSystem/measure-population";

fn list<'a>(v: &'a Json, name: &str) -> &'a [Json] {
    match field(v, name) {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}

fn error(issues: &mut Vec<Issue>, location: &str, message: String) {
    issues.push(Issue::new(
        Severity::Error,
        IssueType::BusinessRule,
        location,
        message,
    ));
}

/// The codings of a CodeableConcept as (system, code) pairs.
fn codings(cc: &Json) -> Vec<(&str, &str)> {
    list(cc, "coding")
        .iter()
        .filter_map(|c| Some((str_field(c, "system")?, str_field(c, "code")?)))
        .collect()
}

fn share_coding(a: &Json, b: &Json) -> bool {
    let b = codings(b);
    codings(a).iter().any(|c| b.contains(c))
}

/// How a code is shown in a message: its first coding or its text.
fn display(cc: Option<&Json>) -> String {
    let Some(cc) = cc else {
        return String::new();
    };
    match codings(cc).first() {
        Some((s, c)) => format!("{s}#{c}"),
        None => str_field(cc, "text").unwrap_or("").to_owned(),
    }
}

/// A CodeableConcept element, the first when it repeats
/// (`MeasureReport.group.stratifier.code` is 0..*).
fn code_of(v: &Json) -> Option<&Json> {
    match field(v, "code")? {
        Json::Array(a) => a.first(),
        cc @ Json::Object(_) => Some(cc),
        _ => None,
    }
}

/// A contained resource by `#id`, or a conformance resource by canonical.
fn resolve<'a>(v: &'a Validator, host: &'a Json, url: &str) -> Option<&'a Json> {
    match url.strip_prefix('#') {
        Some(id) => list(host, "contained")
            .iter()
            .find(|c| str_field(c, "id") == Some(id)),
        None => v.packages().json_by_canonical(url),
    }
}

// ---- Measure -------------------------------------------------------------

pub(crate) fn check_measure(v: &Validator, m: &Json, location: &str, issues: &mut Vec<Issue>) {
    let declared = list(m, "library");
    let libraries: Vec<&Json> = declared
        .iter()
        .filter_map(|l| match l {
            Json::String(url) => resolve(v, m, url),
            _ => None,
        })
        .filter(|l| crate::json::resource_type(l) == Some("Library"))
        .collect();
    let all_resolved = libraries.len() == declared.len();
    for (g, group) in list(m, "group").iter().enumerate() {
        for (s, strat) in list(group, "stratifier").iter().enumerate() {
            let at = format!("{location}.group[{g}].stratifier[{s}]");
            if let Some(crit) = field(strat, "criteria") {
                criteria(
                    crit,
                    &libraries,
                    declared.is_empty(),
                    all_resolved,
                    &at,
                    issues,
                );
            }
            for (c, comp) in list(strat, "component").iter().enumerate() {
                if let Some(crit) = field(comp, "criteria") {
                    let at = format!("{at}.component[{c}]");
                    criteria(
                        crit,
                        &libraries,
                        declared.is_empty(),
                        all_resolved,
                        &at,
                        issues,
                    );
                }
            }
        }
    }
}

/// One CQL criteria (an Expression) at `at` (its holder's location).
fn criteria(
    crit: &Json,
    libraries: &[&Json],
    none_declared: bool,
    all_resolved: bool,
    at: &str,
    issues: &mut Vec<Issue>,
) {
    if !matches!(
        str_field(crit, "language"),
        Some("text/cql" | "text/cql.identifier")
    ) {
        return;
    }
    let Some(expr) = str_field(crit, "expression") else {
        return;
    };
    let at = format!("{at}.criteria");
    if none_declared {
        error(
            issues,
            &at,
            "No CQL Libraries found on this Measure".to_owned(),
        );
        return;
    }
    if !all_resolved {
        return;
    }
    let (lib, name) = match expr.split_once('.') {
        Some((lib_name, def)) => {
            let named: Vec<&&Json> = libraries
                .iter()
                .filter(|l| str_field(l, "name") == Some(lib_name))
                .collect();
            match named.as_slice() {
                [one] => (**one, def),
                [] => {
                    error(
                        issues,
                        &at,
                        format!("No matching Library found for the namespace {lib_name}"),
                    );
                    return;
                }
                _ => {
                    error(
                        issues,
                        &at,
                        format!("Multiple matching libraries found for the namespace {lib_name}"),
                    );
                    return;
                }
            }
        }
        None => match libraries {
            [one] => (*one, expr),
            _ => {
                error(
                    issues,
                    &at,
                    format!(
                        "The CQL expression '{expr}' does not name its library, and there is more than one library"
                    ),
                );
                return;
            }
        },
    };
    if let Some(defs) = elm_definitions(lib) {
        if !defs.iter().any(|d| d == name) {
            error(
                issues,
                &at,
                format!(
                    "The function {name} does not exist in the library {}",
                    str_field(lib, "url").unwrap_or("")
                ),
            );
        }
    }
}

/// The names a Library's ELM defines (`library.statements.def`), when the
/// Library carries its ELM.
fn elm_definitions(lib: &Json) -> Option<Vec<String>> {
    for content in list(lib, "content") {
        let Some(data) = str_field(content, "data").and_then(decode_base64) else {
            continue;
        };
        match str_field(content, "contentType") {
            Some("application/elm+xml") => {
                return Some(elm_xml_definitions(&String::from_utf8_lossy(&data)))
            }
            Some("application/elm+json") => {
                let elm = tree::parse(&data).ok()?;
                let defs = field(&elm, "library")
                    .and_then(|l| field(l, "statements"))
                    .map(|s| list(s, "def"))
                    .unwrap_or(&[]);
                return Some(
                    defs.iter()
                        .filter_map(|d| str_field(d, "name").map(str::to_owned))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    None
}

/// The `name` attributes of the `<def>` elements inside `<statements>`.
fn elm_xml_definitions(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(start) = xml.find("<statements") else {
        return out;
    };
    let end = xml[start..]
        .find("</statements>")
        .map_or(xml.len(), |e| start + e);
    let mut rest = &xml[start..end];
    while let Some(i) = rest.find("<def") {
        rest = &rest[i + 4..];
        if !rest.starts_with(|c: char| c.is_whitespace()) {
            continue;
        }
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(n) = tag.find(" name=\"").or_else(|| tag.find("\tname=\"")) {
            let value = &tag[n + 7..];
            if let Some(q) = value.find('"') {
                out.push(unescape(&value[..q]));
            }
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Standard base64 (whitespace ignored); `None` when malformed.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---- MeasureReport -------------------------------------------------------

pub(crate) fn check_report(v: &Validator, r: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(url) = str_field(r, "measure") else {
        return;
    };
    let Some(m) = resolve(v, r, url).filter(|m| crate::json::resource_type(m) == Some("Measure"))
    else {
        return;
    };
    let ctx = Report {
        scoring: field(m, "scoring")
            .and_then(|s| codings(s).first().map(|(_, c)| *c))
            .unwrap_or(""),
        report_type: str_field(r, "type").unwrap_or(""),
        complete: str_field(r, "status") == Some("complete"),
    };
    let report_groups = list(r, "group");
    let measure_groups = list(m, "group");
    if let ([rg], [mg]) = (report_groups, measure_groups) {
        // A single group may be anonymous; when both have codes they agree.
        let at = format!("{location}.group[0]");
        if let (Some(rc), Some(mc)) = (code_of(rg), code_of(mg)) {
            if codings(rc).is_empty() {
                error(
                    issues,
                    &at,
                    "The group code has no coding with both a system and a code".to_owned(),
                );
            } else if !share_coding(rc, mc) {
                error(
                    issues,
                    &at,
                    format!(
                        "The group code {} does not match the measure's group code {}",
                        display(Some(rc)),
                        display(Some(mc))
                    ),
                );
            }
        }
        ctx.group(rg, mg, &at, issues);
        return;
    }
    let mut seen: Vec<usize> = Vec::new();
    for (i, rg) in report_groups.iter().enumerate() {
        let at = format!("{location}.group[{i}]");
        let found = code_of(rg).and_then(|rc| {
            measure_groups
                .iter()
                .position(|mg| code_of(mg).is_some_and(|mc| share_coding(rc, mc)))
        });
        match found {
            None => error(
                issues,
                &at,
                "Group should have a code that matches the group definition in the measure"
                    .to_owned(),
            ),
            Some(n) if seen.contains(&n) => error(
                issues,
                &at,
                "This group's code matches the same measure group as another group".to_owned(),
            ),
            Some(n) => {
                seen.push(n);
                ctx.group(rg, &measure_groups[n], &at, issues);
            }
        }
    }
    if ctx.report_type != "data-collection" {
        for (n, mg) in measure_groups.iter().enumerate() {
            if !seen.contains(&n) {
                error(
                    issues,
                    location,
                    format!(
                        "The MeasureReport does not include a group for the group with code '{}'",
                        display(code_of(mg))
                    ),
                );
            }
        }
    }
}

struct Report<'a> {
    scoring: &'a str,
    report_type: &'a str,
    complete: bool,
}

impl Report<'_> {
    fn group(&self, rg: &Json, mg: &Json, at: &str, issues: &mut Vec<Issue>) {
        self.populations(rg, mg, at, issues);
        self.score(rg, at, issues);
        stratifiers(rg, mg, at, issues);
    }

    fn populations(&self, rg: &Json, mg: &Json, at: &str, issues: &mut Vec<Issue>) {
        let defined = list(mg, "population");
        let mut seen: Vec<usize> = Vec::new();
        for (i, p) in list(rg, "population").iter().enumerate() {
            let pat = format!("{at}.population[{i}]");
            let Some(rc) = code_of(p) else {
                error(
                    issues,
                    &pat,
                    "A group population needs a code to match it to the measure's definition"
                        .to_owned(),
                );
                continue;
            };
            match defined
                .iter()
                .position(|d| code_of(d).is_some_and(|dc| share_coding(rc, dc)))
            {
                None => error(
                    issues,
                    &pat,
                    "The code for this group population has no match in the measure definition"
                        .to_owned(),
                ),
                Some(n) if seen.contains(&n) => error(
                    issues,
                    &pat,
                    "The code for this group population matches the same population definition as another"
                        .to_owned(),
                ),
                Some(n) => {
                    seen.push(n);
                    self.population(p, &pat, issues);
                }
            }
        }
        for (n, d) in defined.iter().enumerate() {
            let observation = code_of(d)
                .is_some_and(|c| codings(c).contains(&(MEASURE_POPULATION, "measure-observation")));
            if !seen.contains(&n) && !observation {
                error(
                    issues,
                    at,
                    format!(
                        "The MeasureReport does not include a population for the population with code '{}'",
                        display(code_of(d))
                    ),
                );
            }
        }
    }

    fn population(&self, p: &Json, at: &str, issues: &mut Vec<Issue>) {
        let results = field(p, "subjectResults");
        if self.report_type == "subject-list" {
            let Some(count) = field(p, "count").and_then(|c| match c {
                Json::Number(n) => n.parse::<usize>().ok(),
                _ => None,
            }) else {
                return;
            };
            // The subjects listed: the one a reference to a single subject
            // names; a List's entries are counted only when it is at hand.
            let listed = match results.and_then(|r| str_field(r, "reference")) {
                None => Some(0),
                Some(r) if r.starts_with("List/") || r.starts_with('#') => None,
                Some(_) => Some(1),
            };
            if let Some(listed) = listed {
                if listed != count {
                    error(
                        issues,
                        at,
                        format!("Mismatch between count {count} and number of subjects {listed}"),
                    );
                }
            }
        } else {
            if results.is_some() {
                error(
                    issues,
                    at,
                    "Reports where type is not 'subject-list' don't have subjects listed"
                        .to_owned(),
                );
            }
            if field(p, "count").is_none() {
                issues.push(Issue::new(
                    Severity::Warning,
                    IssueType::BusinessRule,
                    at,
                    "Count should be present for reports where type is not 'subject-list'",
                ));
            }
        }
    }

    fn score(&self, rg: &Json, at: &str, issues: &mut Vec<Issue>) {
        let score = field(rg, "measureScore");
        let sat = format!("{at}.measureScore");
        if self.report_type == "data-collection" {
            if score.is_some() {
                error(
                    issues,
                    &sat,
                    "No measureScore when the type of the report is 'data-collection'".to_owned(),
                );
            }
            return;
        }
        match self.scoring {
            "cohort" if score.is_some() => error(
                issues,
                &sat,
                "No measureScore when the scoring of the message is 'cohort'".to_owned(),
            ),
            "proportion" | "ratio" | "continuous-variable" => {
                let Some(score) = score else {
                    if self.complete {
                        error(
                            issues,
                            at,
                            format!(
                                "A measureScore is required when the scoring of the measure is '{}'",
                                self.scoring
                            ),
                        );
                    }
                    return;
                };
                let value = field(score, "value");
                if value.is_none() {
                    error(
                        issues,
                        &sat,
                        format!(
                            "A value is required when the scoring of the measure is '{}'",
                            self.scoring
                        ),
                    );
                }
                if self.scoring == "proportion" {
                    for unit in ["unit", "system", "code"] {
                        if field(score, unit).is_some() {
                            error(
                                issues,
                                &format!("{sat}.{unit}"),
                                "A measureScore for a proportion has no units".to_owned(),
                            );
                        }
                    }
                    if let Some(Json::Number(n)) = value {
                        if n.parse::<f64>().is_ok_and(|x| !(0.0..=1.0).contains(&x)) {
                            error(
                                issues,
                                &format!("{sat}.value"),
                                "A proportion's measureScore is between 0 and 1".to_owned(),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn stratifier_matches(rc: &Json, mc: &Json) -> bool {
    if share_coding(rc, mc) {
        return true;
    }
    let no_codings = |c: &Json| list(c, "coding").is_empty();
    no_codings(rc)
        && no_codings(mc)
        && str_field(rc, "text").is_some()
        && str_field(rc, "text") == str_field(mc, "text")
}

fn stratifiers(rg: &Json, mg: &Json, at: &str, issues: &mut Vec<Issue>) {
    let defined = list(mg, "stratifier");
    let mut seen: Vec<usize> = Vec::new();
    for (i, s) in list(rg, "stratifier").iter().enumerate() {
        let sat = format!("{at}.stratifier[{i}]");
        let found = code_of(s).and_then(|rc| {
            defined
                .iter()
                .position(|d| code_of(d).is_some_and(|dc| stratifier_matches(rc, dc)))
        });
        match found {
            None => error(
                issues,
                &sat,
                "Group should have a code that matches the group stratifier definition in the measure"
                    .to_owned(),
            ),
            Some(n) if seen.contains(&n) => error(
                issues,
                &sat,
                "The code for this stratifier matches the same stratifier definition as another"
                    .to_owned(),
            ),
            Some(n) => seen.push(n),
        }
    }
    for (n, d) in defined.iter().enumerate() {
        if !seen.contains(&n) {
            let id = str_field(d, "id")
                .map(|id| format!(" (id = '{id}')"))
                .unwrap_or_default();
            error(
                issues,
                at,
                format!(
                    "The MeasureReport does not include a stratifier for the stratifier with code '{}'{id}",
                    display(code_of(d))
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Package, PackageSet};

    const MEASURE: &str = r#"{"resourceType":"Measure","id":"m","url":"http://example.org/Measure/m",
        "status":"active","scoring":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/measure-scoring","code":"cohort"}]},
        "group":[{"population":[{"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/measure-population","code":"initial-population"}]},
        "criteria":{"language":"text/cql","expression":"Lib.Pop"}}],
        "stratifier":[{"code":{"text":"age"},"criteria":{"language":"text/cql","expression":"Lib.Age"}}]}]}"#;

    fn validator() -> Validator {
        let mut set = PackageSet::new();
        let p = Package::from_resources(
            "test",
            "0.0.0",
            vec![("m.json".to_owned(), MEASURE.as_bytes().to_vec())],
        )
        .expect("package");
        set.add(p);
        Validator::new(Arc::new(set))
    }

    fn report(pop_code: &str, extra: &str) -> String {
        format!(
            r#"{{"resourceType":"MeasureReport","status":"complete","type":"summary",
            "measure":"http://example.org/Measure/m","period":{{"start":"2020"}},
            "group":[{{"population":[{{"code":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/measure-population","code":"{pop_code}"}}]}},
            "count":3}}],"stratifier":[{{"code":[{{"text":"age"}}]}}]{extra}}}]}}"#
        )
    }

    fn errors(v: &Validator, json: &str) -> Vec<Issue> {
        v.validate_json(json.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .collect()
    }

    #[test]
    fn a_report_matching_its_measure_is_clean() {
        let v = validator();
        let e = errors(&v, &report("initial-population", ""));
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn an_unknown_population_code_is_an_error() {
        let v = validator();
        let e = errors(&v, &report("numerator", ""));
        assert!(
            e.iter()
                .any(|i| i.expression == "MeasureReport.group[0].population[0]"
                    && i.message.contains("no match")),
            "{e:?}"
        );
    }

    #[test]
    fn a_cohort_has_no_measure_score() {
        let v = validator();
        let e = errors(
            &v,
            &report("initial-population", r#","measureScore":{"value":1}"#),
        );
        assert!(
            e.iter()
                .any(|i| i.expression == "MeasureReport.group[0].measureScore"),
            "{e:?}"
        );
    }

    #[test]
    fn a_summary_lists_no_subjects() {
        let v = validator();
        let json = report("initial-population", "").replace(
            r#""count":3"#,
            r#""count":3,"subjectResults":{"reference":"List/l"}"#,
        );
        let e = errors(&v, &json);
        assert!(
            e.iter()
                .any(|i| i.message.contains("don't have subjects listed")),
            "{e:?}"
        );
    }

    #[test]
    fn elm_statements_are_read() {
        let xml = r#"<library xmlns="urn:hl7-org:elm:r1"><usings><def localIdentifier="FHIR"/></usings>
            <statements><def name="Patient" context="Patient"/><def localId="3" name="Initial &amp; Pop">
            <expression/></def></statements></library>"#;
        assert_eq!(elm_xml_definitions(xml), vec!["Patient", "Initial & Pop"]);
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn cql_criteria_need_a_library() {
        let e = errors(&Validator::default(), MEASURE);
        assert!(
            e.iter()
                .any(|i| i.expression == "Measure.group[0].stratifier[0].criteria"),
            "{e:?}"
        );
        let with_lib = MEASURE.replace(
            r#""status":"active","#,
            r#""status":"active","library":["http://example.org/Library/lib"],"#,
        );
        let e = errors(&Validator::default(), &with_lib);
        assert!(e.is_empty(), "{e:?}");
    }
}
