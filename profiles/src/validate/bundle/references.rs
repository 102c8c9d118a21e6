//! References inside a Bundle (bundle.html#references): a reference in an
//! entry's resource is looked up among the entries by `fullUrl`. An
//! absolute reference is a fullUrl; a relative one (`Type/id`) is taken
//! relative to the entry's own fullUrl: against a RESTful fullUrl
//! (`http://x/fhir/Observation/1`) it means `http://x/fhir/Type/id`,
//! against a `urn:uuid:` fullUrl it means `urn:uuid:id`; a version
//! (`Type/id/_history/2`) picks the entry whose `meta.versionId` is `2`.
//!
//! - A reference that matches several entries is ambiguous (an error), and
//!   one whose matching entry holds another type of resource than the
//!   reference names is wrong (an error).
//! - Documents and messages are self-contained ([`super::documents`]).
//!
//! A reference inside a Bundle nested in an entry belongs to that inner
//! Bundle and is checked with it.

use std::collections::HashSet;

use fhir_model::json::tree::Value as Json;

use super::documents::{document, interlinked, message};
use super::entries::{collect, report, Entry, Index, Ref};
use crate::json::{field, resource_type, str_field};
use crate::validate::datatypes::canonical;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

/// Checks the references of `bundle` (at `location`).
pub fn check(bundle: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(Json::Array(list)) = field(bundle, "entry") else {
        return;
    };
    let ty = str_field(bundle, "type").unwrap_or("");
    let entries: Vec<Entry> = list
        .iter()
        .map(|e| {
            let resource = field(e, "resource");
            Entry {
                full_url: str_field(e, "fullUrl"),
                resource,
                rtype: resource.and_then(resource_type).unwrap_or(""),
                id: resource.and_then(|r| str_field(r, "id")),
                version: resource
                    .and_then(|r| field(r, "meta"))
                    .and_then(|m| str_field(m, "versionId")),
            }
        })
        .collect();
    let index = Index::new(&entries);
    let mut reported: HashSet<String> = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(resource) = entry.resource else {
            continue;
        };
        let mut refs = Vec::new();
        collect(
            resource,
            entry.rtype,
            &format!("{location}.entry[{i}].resource"),
            &mut refs,
            0,
        );
        for r in refs.iter().filter(|r| !r.is_uri) {
            from_bundle(&entries, r, entry.full_url, ty, issues, &mut reported);
        }
    }
    match ty {
        "document" => document(&entries, &index, location, issues, &mut reported),
        "message" => message(&entries, &index, location, issues, &mut reported),
        _ => return,
    }
    interlinked(
        bundle,
        &entries,
        &index,
        ty == "message",
        location,
        issues,
        &mut reported,
    );
}

/// The lookup of one reference as every resource in a Bundle gets it.
fn from_bundle(
    entries: &[Entry],
    r: &Ref,
    full_url: Option<&str>,
    bundle_type: &str,
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
) -> Option<()> {
    let reference = r.value.as_str();
    if reference.starts_with('#') || reference.is_empty() {
        return None;
    }
    let (target, version, expected_type) = target_of(r, full_url, bundle_type, issues, reported)?;
    let matches: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.full_url == Some(target.as_str())
                && (version.is_empty() || e.version == Some(version))
        })
        .map(|(i, _)| i)
        .collect();
    if matches.len() > 1 {
        report(
            issues,
            reported,
            &r.location,
            IssueType::Invalid,
            format!(
                "Multiple matches in bundle for reference {reference} ({} entries have the fullUrl {target})",
                matches.len()
            ),
        );
    }
    if let (Some(&m), Some(t)) = (matches.last(), expected_type) {
        let found = entries[m].rtype;
        if entries[m].resource.is_some() && found != t {
            report(
                issues,
                reported,
                &r.location,
                IssueType::Invalid,
                format!("Matching reference for reference {reference} has resourceType {found}"),
            );
        }
    }
    if matches.is_empty() && !canonical::has_scheme(reference) {
        let mut parts = reference.split('/');
        let (t, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        for (j, e) in entries.iter().enumerate() {
            if e.resource.is_some() && e.rtype == t && e.id == Some(id) {
                issues.push(Issue::new(
                    Severity::Warning,
                    IssueType::Invalid,
                    r.location.clone(),
                    format!(
                        "Entry {j} matches the reference {reference} by type and id but its fullUrl {} does not match the full target URL {target} by Bundle resolution rules",
                        e.full_url.unwrap_or("(none)")
                    ),
                ));
            }
        }
    }
    Some(())
}

/// Where reference `r` points by the Bundle's resolution rules: the full
/// target URL, the version it asks for and the type it names (when the
/// entry's must match); `None` when it cannot name an entry (reported
/// when it is malformed).
fn target_of<'r>(
    r: &'r Ref,
    full_url: Option<&str>,
    bundle_type: &str,
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
) -> Option<(String, &'r str, Option<&'r str>)> {
    let reference = r.value.as_str();
    let mut version = "";
    let mut expected_type: Option<&str> = None;
    let target: String;
    if canonical::has_scheme(reference) {
        target = match reference.find("/_history/") {
            Some(h) => {
                version = &reference[h + 10..];
                reference[..h].to_owned()
            }
            None => reference.to_owned(),
        };
    } else {
        let full_url = full_url?;
        let slashes = reference.matches('/').count();
        if slashes != 1 && slashes != 3 {
            let search = is_search_url(reference);
            if !(bundle_type == "transaction" && search) {
                let message = if search {
                    format!("Conditional references ('{reference}') are only allowed in transactions (http.html#trules), not in a Bundle of type '{bundle_type}'")
                } else {
                    format!("Relative URLs must be of the format [ResourceName]/[id], or a search URL is allowed ([type]?parameters. Encountered {reference})")
                };
                report(issues, reported, &r.location, IssueType::Invalid, message);
            }
            return None;
        }
        let base = if full_url.starts_with("urn") {
            match full_url.rfind(':') {
                Some(i) => &full_url[..=i],
                None => "",
            }
        } else {
            let trimmed = full_url.trim_end_matches('/');
            let mut cut = trimmed;
            for _ in 0..2 {
                cut = cut.rfind('/').map_or("", |i| &cut[..i]);
            }
            if cut.is_empty() {
                ""
            } else {
                &trimmed[..cut.len() + 1]
            }
        };
        let mut parts = reference.split('/');
        let (t, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if let Some(h) = reference.find("/_history/") {
            version = &reference[h + 10..];
            expected_type = Some(t);
            target = format!("{base}{t}/{id}");
        } else if base.starts_with("urn") {
            expected_type = Some(t);
            target = format!("{base}{id}");
        } else {
            target = format!("{base}{reference}");
        }
    }
    Some((target, version, expected_type))
}

/// `[base/]Type?query` with a resource type.
fn is_search_url(reference: &str) -> bool {
    match reference.split_once('?') {
        Some((t, q)) => fhir_model::ResourceType::parse(t).is_some() && !q.is_empty(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn run(json: &str) -> Vec<(String, String)> {
        let v = tree::parse(json.as_bytes()).expect("json");
        let mut issues = Vec::new();
        check(&v, "Bundle", &mut issues);
        issues
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| (i.expression, i.message))
            .collect()
    }

    #[test]
    fn wrong_type_and_ambiguous() {
        let bad = r#"{"resourceType":"Bundle","type":"collection","entry":[
            {"fullUrl":"urn:uuid:54fc3e09-e279-4b74-a8ff-2649ec968642","resource":{"resourceType":"Patient",
              "generalPractitioner":[{"reference":"Practitioner/5d9588d8-3cd6-4b32-8fb7-ad13694e069d"}]}},
            {"fullUrl":"urn:uuid:5d9588d8-3cd6-4b32-8fb7-ad13694e069d","resource":{"resourceType":"Organization"}}]}"#;
        let m = run(bad);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].0, "Bundle.entry[0].resource.generalPractitioner[0]");
        assert!(m[0].1.contains("has resourceType Organization"));
        let twice = r#"{"resourceType":"Bundle","type":"collection","entry":[
            {"fullUrl":"http://x.org/Patient/1","resource":{"resourceType":"Patient","id":"1","link":[{"other":{"reference":"Patient/2"}}]}},
            {"fullUrl":"http://x.org/Patient/2","resource":{"resourceType":"Patient","id":"2","meta":{"versionId":"1"}}},
            {"fullUrl":"http://x.org/Patient/2","resource":{"resourceType":"Patient","id":"2","meta":{"versionId":"2"}}}]}"#;
        let m = run(twice);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0]
            .1
            .starts_with("Multiple matches in bundle for reference Patient/2"));
        let versioned = twice.replace("\"Patient/2\"", "\"Patient/2/_history/2\"");
        assert!(run(&versioned).is_empty(), "{:?}", run(&versioned));
    }

    #[test]
    fn documents_are_self_contained() {
        let good = r#"{"resourceType":"Bundle","type":"document","entry":[
            {"fullUrl":"http://x.org/Composition/c","resource":{"resourceType":"Composition","id":"c",
              "subject":{"reference":"Patient/p"},"author":[{"reference":"Practitioner/d"}],
              "section":[{"entry":[{"reference":"Observation/o"}]}]}},
            {"fullUrl":"http://x.org/Patient/p","resource":{"resourceType":"Patient","id":"p"}},
            {"fullUrl":"http://x.org/Practitioner/d","resource":{"resourceType":"Practitioner","id":"d"}},
            {"fullUrl":"http://x.org/Observation/o","resource":{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/p"}}},
            {"fullUrl":"http://x.org/Provenance/v","resource":{"resourceType":"Provenance","id":"v","target":[{"reference":"Composition/c"}]}}]}"#;
        assert!(run(good).is_empty(), "{:?}", run(good));
        let uuid = r#"{"resourceType":"Bundle","type":"document","entry":[
            {"fullUrl":"urn:uuid:10a67a86-a9ec-427e-ba3f-f042cef21733","resource":{"resourceType":"Composition",
              "author":[{"reference":"Organization/666"}]}},
            {"fullUrl":"urn:uuid:2aaf815f-3ebe-4a03-9b87-05d0700313b2","resource":{"resourceType":"Organization","id":"666"}}]}"#;
        let m = run(uuid);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].0, "Bundle.entry[0].resource.author[0]");
        assert!(m[0].1.starts_with("Can't find 'Organization/666' in the bundle (Composition.author). Note that there is a resource"));
        assert!(m[1].1.contains("isn't reachable"));
        let missing = r#"{"resourceType":"Bundle","type":"document","entry":[
            {"fullUrl":"http://x.org/Composition/c","resource":{"resourceType":"Composition","id":"c","subject":{"reference":"Patient/p"}}}]}"#;
        let m = run(missing);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0]
            .1
            .starts_with("Can't find 'Patient/p' in the bundle (Composition.subject)"));
    }

    #[test]
    fn conditional_references_only_in_transactions() {
        let tx = r#"{"resourceType":"Bundle","type":"transaction","entry":[
            {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","managingOrganization":{"reference":"Organization?identifier=x"}}}]}"#;
        assert!(run(tx).is_empty());
        let batch = tx.replace("transaction", "batch");
        assert_eq!(run(&batch).len(), 1);
    }
}
