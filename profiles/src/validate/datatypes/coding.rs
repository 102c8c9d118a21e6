//! Coding rules (datatypes.html#Coding): the system is an absolute URI;
//! a local reference (`Location1`, `#cs`) names no code system anyone
//! else can know. It names a code system, not a supplement of one
//! (codesystem.html#supplements: supplements add designations and
//! properties, they define no codes). When that code system is at hand
//! and complete (every code it defines is listed), the code is one of
//! them.

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use crate::validate::datatypes::canonical;
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

pub(crate) fn check(v: &Validator, node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    let Some(coding) = node.value else {
        return;
    };
    if let Some(Json::String(system)) = crate::json::field(coding, "system") {
        let supplement = || {
            v.packages().json_by_canonical(system).is_some_and(|cs| {
                crate::json::resource_type(cs) == Some("CodeSystem")
                    && (crate::json::str_field(cs, "content") == Some("supplement")
                        || crate::json::field(cs, "supplements").is_some())
            })
        };
        if canonical::is_absolute(system) && supplement() {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                format!("{location}.system"),
                format!(
                    "CodeSystem {system} is a supplement, so can't be used as a value in Coding.system"
                ),
            ));
        }
        if canonical::is_absolute(system) {
            unknown_code(v, coding, system, location, issues);
        }
        if !canonical::is_absolute(system) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                format!("{location}.system"),
                format!(
                    "Coding.system must be an absolute reference, not a local reference ({system})"
                ),
            ));
        }
    }
}

/// The code of a Coding whose complete code system is loaded must be
/// one of its concepts. With several versions loaded and none named, a
/// code any of them defines is accepted.
fn unknown_code(
    v: &Validator,
    coding: &Json,
    system: &str,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(code) = crate::json::str_field(coding, "code") else {
        return;
    };
    // Most systems (LOINC, SNOMED CT) are not loaded: one index lookup.
    // The large external terminologies are never complete in a package,
    // even when one mislabels a fragment of them (JP-CLINS 1.5.2 ships a
    // two-code `http://loinc.org` marked `complete`): their codes are a
    // terminology server's business.
    if is_external_terminology(system) || v.packages().by_url(system).is_none() {
        return;
    }
    let version = crate::json::str_field(coding, "version");
    let mut any = false;
    for (pkg, res) in v.packages().of_type("CodeSystem") {
        if res.url.as_deref() != Some(system) {
            continue;
        }
        if version.is_some() && res.version.as_deref() != version {
            continue;
        }
        let Ok(cs) = res.json(pkg.source()) else {
            return;
        };
        if crate::json::str_field(cs, "content") != Some("complete")
            || crate::json::field(cs, "supplements").is_some()
        {
            return;
        }
        let case_sensitive = !matches!(
            crate::json::field(cs, "caseSensitive"),
            Some(Json::Bool(false))
        );
        if defines(crate::json::field(cs, "concept"), code, case_sensitive, 0) {
            return;
        }
        any = true;
    }
    if any {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::CodeInvalid,
            format!("{location}.code"),
            format!(
                "Unknown code '{code}' in the CodeSystem '{system}' version '{}'",
                version.unwrap_or("null")
            ),
        ));
    }
}

/// Code systems defined outside FHIR whose content no package holds in
/// full (terminologies.html#external, and the ones HL7 publishes
/// `sid` URLs for).
fn is_external_terminology(system: &str) -> bool {
    const EXTERNAL: &[&str] = &[
        "http://loinc.org",
        "http://snomed.info/sct",
        "http://unitsofmeasure.org",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://www.ama-assn.org/go/cpt",
        "urn:ietf:bcp:47",
        "urn:ietf:bcp:13",
        "urn:iso:std:iso:3166",
        "urn:iso:std:iso:4217",
    ];
    EXTERNAL.contains(&system) || system.starts_with("http://hl7.org/fhir/sid/")
}

/// Whether a concept list (at any depth) defines `code`.
fn defines(list: Option<&Json>, code: &str, case_sensitive: bool, depth: usize) -> bool {
    let Some(Json::Array(concepts)) = list else {
        return false;
    };
    depth < 64
        && concepts.iter().any(|c| {
            crate::json::str_field(c, "code").is_some_and(|k| {
                if case_sensitive {
                    k == code
                } else {
                    k.eq_ignore_ascii_case(code)
                }
            }) || defines(
                crate::json::field(c, "concept"),
                code,
                case_sensitive,
                depth + 1,
            )
        })
}

#[cfg(test)]
mod tests {
    use crate::validate::Validator;

    fn errors(system: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"Patient","maritalStatus":{{"coding":[{{"system":"{system}","code":"M"}}]}}}}"#
        );
        crate::validate::tests::base_errors(&json)
    }

    #[test]
    fn a_coding_system_is_absolute() {
        assert!(errors("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus").is_empty());
        let e = errors("Location1");
        assert!(
            e.len() == 1 && e[0].starts_with("Patient.maritalStatus.coding[0].system:"),
            "{e:?}"
        );
    }

    #[test]
    fn a_supplement_is_no_coding_system() {
        use std::sync::Arc;
        let cs = br#"{"resourceType":"CodeSystem","id":"s","url":"http://example.org/supp",
            "status":"draft","content":"supplement","supplements":"http://loinc.org"}"#;
        let mut set = crate::PackageSet::new();
        set.add(
            crate::Package::from_resources("t", "0.0.0", vec![("s.json".to_owned(), cs.to_vec())])
                .expect("package"),
        );
        let v = Validator::new(Arc::new(set));
        let e: Vec<String> = v
            .validate_json(
                br#"{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://example.org/supp","code":"M"}]}}"#,
                &[],
            )
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| i.expression)
            .collect();
        assert_eq!(e, vec!["Patient.maritalStatus.coding[0].system"]);
    }

    #[test]
    fn a_code_of_a_complete_loaded_code_system_is_defined_there() {
        use std::sync::Arc;
        let cs = br#"{"resourceType":"CodeSystem","id":"c","url":"http://example.org/cs",
            "status":"draft","content":"complete","concept":[{"code":"a","concept":[{"code":"b"}]}]}"#;
        let mut set = crate::PackageSet::new();
        set.add(
            crate::Package::from_resources("t", "0.0.0", vec![("c.json".to_owned(), cs.to_vec())])
                .expect("package"),
        );
        let v = Validator::new(Arc::new(set));
        let e = |code: &str| {
            let json = format!(
                r#"{{"resourceType":"Patient","maritalStatus":{{"coding":[{{"system":"http://example.org/cs","code":"{code}"}}]}}}}"#
            );
            v.validate_json(json.as_bytes(), &[])
                .into_iter()
                .filter(|i| i.severity.is_error())
                .map(|i| i.expression)
                .collect::<Vec<_>>()
        };
        assert!(e("a").is_empty());
        assert!(e("b").is_empty());
        assert_eq!(e("c"), vec!["Patient.maritalStatus.coding[0].code"]);
    }

    #[test]
    fn a_package_fragment_of_an_external_terminology_is_not_complete() {
        use std::sync::Arc;
        let cs = br#"{"resourceType":"CodeSystem","id":"l","url":"http://loinc.org",
            "status":"draft","content":"complete","concept":[{"code":"18842-5"}]}"#;
        let mut set = crate::PackageSet::new();
        set.add(
            crate::Package::from_resources("t", "0.0.0", vec![("l.json".to_owned(), cs.to_vec())])
                .expect("package"),
        );
        let v = Validator::new(Arc::new(set));
        let json = br#"{"resourceType":"Observation","status":"final",
            "code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]}}"#;
        let errors: Vec<_> = v
            .validate_json(json, &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}
