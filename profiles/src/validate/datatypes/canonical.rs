//! URLs that name things: `canonical` values, the defining `url` of a
//! canonical resource, and `urn:uuid:` URIs. (Finding the resource a
//! canonical names is [`crate::PackageSet::by_canonical`].)
//!
//! The spec (references.html#canonical) makes a canonical reference an
//! absolute URL, or a `#fragment` pointing at a contained resource; the
//! HL7 validator reports a relative one (`Library/x`) as an error. A
//! canonical resource's own `url` must be absolute too (there is no
//! fragment form of an identity), inside a container as well. A
//! `urn:uuid:` URI carries a UUID in the lowercase RFC 4122 form
//! (datatypes.html#uuid).

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

/// The R4 resources whose `url` is their canonical identity.
const CANONICAL_RESOURCES: &[&str] = &[
    "ActivityDefinition",
    "CapabilityStatement",
    "ChargeItemDefinition",
    "CodeSystem",
    "CompartmentDefinition",
    "ConceptMap",
    "EffectEvidenceSynthesis",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "GraphDefinition",
    "ImplementationGuide",
    "Library",
    "Measure",
    "MessageDefinition",
    "OperationDefinition",
    "PlanDefinition",
    "Questionnaire",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "RiskEvidenceSynthesis",
    "SearchParameter",
    "StructureDefinition",
    "StructureMap",
    "TerminologyCapabilities",
    "TestScript",
    "ValueSet",
];

/// Whether `url` starts with a scheme (RFC 3986: a letter, then letters,
/// digits, `+`, `-`, `.`, then a colon), as `Extension.url`, Bundle
/// `fullUrl`s and references are judged absolute.
pub(crate) fn has_scheme(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Whether `url` is absolute: a lowercase scheme (a letter, then
/// letters, digits, `+`, `-`, `.`), a colon, and something after it with
/// no spaces.
pub(crate) fn is_absolute(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !rest.contains(' ')
}

/// The check of one primitive node of the base walk: `paths[0]` is its
/// element path (`ValueSet.url`), `contained` whether its resource sits
/// inside another.
pub(crate) fn check(
    node: Node<'_>,
    paths: &[&str],
    contained: bool,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(Json::String(value)) = node.value else {
        return;
    };
    if !matches!(node.ty, "uri" | "url" | "canonical" | "uuid") {
        return;
    }
    if let Some(uuid) = value.strip_prefix("urn:uuid:") {
        if !is_lowercase_uuid(uuid) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                location,
                format!("UUIDs must be valid and lowercase ({uuid})"),
            ));
            return;
        }
    }
    if node.ty == "canonical" && !value.starts_with('#') && !is_absolute(value) {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Invalid,
            location,
            format!(
                "Canonical URLs must be absolute URLs if they are not fragment references ({value})"
            ),
        ));
    }
    let defining = paths.first().and_then(|p| p.strip_suffix(".url"));
    if node.ty == "uri"
        && defining.is_some_and(|t| CANONICAL_RESOURCES.contains(&t))
        && !is_absolute(value)
    {
        let message = if contained {
            format!(
                "Canonical URLs in contained resources must be absolute URLs if present ({value})"
            )
        } else {
            format!(
                "Canonical URLs must be absolute URLs if they are not fragment references ({value})"
            )
        };
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Invalid,
            location,
            message,
        ));
    }
}

/// 8-4-4-4-12 lowercase hex digits.
fn is_lowercase_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Validator;

    fn errors(json: &str) -> Vec<Issue> {
        Validator::default()
            .validate_json(json.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .collect()
    }

    #[test]
    fn absolute_urls() {
        assert!(is_absolute("http://example.org/x"));
        assert!(is_absolute("urn:oid:1.2.3"));
        assert!(!is_absolute("Library/x"));
        assert!(!is_absolute("#c1"));
        assert!(!is_absolute("c1"));
        assert!(!is_absolute("HTTP://x"));
        assert!(!is_absolute("http:"));
    }

    #[test]
    fn a_relative_canonical_is_an_error() {
        let measure = |lib: &str| {
            format!(r#"{{"resourceType":"Measure","status":"draft","library":["{lib}"]}}"#)
        };
        let e = errors(&measure("Library/x"));
        assert!(
            e.iter()
                .any(|i| i.expression == "Measure.library[0]"
                    && i.message.contains("must be absolute")),
            "{e:?}"
        );
        assert!(errors(&measure("http://example.org/Library/x")).is_empty());
        assert!(errors(&measure("#lib")).is_empty());
    }

    #[test]
    fn a_defining_url_is_absolute_even_when_contained() {
        let vs = |url: &str, cs_url: &str| {
            format!(
                r#"{{"resourceType":"ValueSet","url":"{url}","status":"draft",
                    "contained":[{{"resourceType":"CodeSystem","id":"c1","url":"{cs_url}",
                    "status":"draft","content":"complete"}}]}}"#
            )
        };
        let e = errors(&vs("ValueSet/x", "c1"));
        assert!(e.iter().any(|i| i.expression == "ValueSet.url"), "{e:?}");
        assert!(
            e.iter()
                .any(|i| i.expression == "ValueSet.contained[0].url"
                    && i.message.contains("contained")),
            "{e:?}"
        );
        let good = errors(&vs(
            "http://example.org/ValueSet/x",
            "urn:uuid:f3b2bd36-199b-4591-b4db-f49db0912b62",
        ));
        assert!(good.is_empty(), "{good:?}");
    }

    #[test]
    fn urn_uuids_are_valid_and_lowercase() {
        let e = |u: &str| {
            errors(&format!(
                r#"{{"resourceType":"Patient","identifier":[{{"system":"{u}","value":"1"}}]}}"#
            ))
        };
        assert!(!e("urn:uuid:f3b2bd36-199b-4591-b4db-f49db0912b6").is_empty());
        assert!(!e("urn:uuid:F3B2BD36-199B-4591-B4DB-F49DB0912B62").is_empty());
        assert!(e("urn:uuid:f3b2bd36-199b-4591-b4db-f49db0912b62").is_empty());
    }
}
