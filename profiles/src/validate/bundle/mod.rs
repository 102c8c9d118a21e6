//! Bundle rules about `entry.fullUrl` (bundle.html#bundle-unique,
//! references.html#absolute): outside transactions and batches every
//! entry with a resource has a fullUrl, which is absolute, and a RESTful
//! one (`…/Patient/123`) ends with the resource's own type and id.

pub mod documents;
mod entries;
pub mod links;
pub mod references;

use fhir_model::json::tree::Value as Json;

use crate::json::{field, resource_type, str_field};
use crate::validate::IssueType;

use crate::validate::datatypes::canonical;
use crate::validate::{Issue, Severity};

/// Checks `bundle` (at `location`) and pushes what it finds.
pub fn check(bundle: &Json, location: &str, issues: &mut Vec<Issue>) {
    links::check(bundle, location, issues);
    references::check(bundle, location, issues);
    full_urls(bundle, location, issues);
}

/// The fullUrl rules of the entries.
fn full_urls(bundle: &Json, location: &str, issues: &mut Vec<Issue>) {
    let ty = str_field(bundle, "type").unwrap_or("");
    // Transactions and batches may create resources, so their entries need
    // not have an identity yet; their responses name none.
    let needs_full_url = !matches!(
        ty,
        "transaction" | "batch" | "transaction-response" | "batch-response"
    );
    let Some(Json::Array(entries)) = field(bundle, "entry") else {
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let loc = format!("{location}.entry[{i}]");
        let resource = field(entry, "resource");
        let Some(full_url) = str_field(entry, "fullUrl") else {
            if needs_full_url && resource.is_some() {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::Invalid,
                    loc,
                    "Except for transactions and batches, each entry in a Bundle must have a fullUrl which is the identity of the resource in the entry",
                ));
            }
            continue;
        };
        if !canonical::has_scheme(full_url) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                loc,
                format!("The fullUrl must be an absolute URL (not '{full_url}')"),
            ));
            continue;
        }
        let Some(resource) = resource else {
            continue;
        };
        let Some((url_type, url_id)) = restful_tail(full_url) else {
            continue;
        };
        let rtype = resource_type(resource).unwrap_or("");
        match str_field(resource, "id") {
            None => issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                loc,
                format!(
                    "The fullUrl '{full_url}' looks like a RESTful server URL, but the resource has no id"
                ),
            )),
            Some(id) if id != url_id || rtype != url_type => issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                loc,
                format!(
                    "The fullUrl '{full_url}' looks like a RESTful server URL, so it must end with the correct type and id (/{rtype}/{id})"
                ),
            )),
            Some(_) => {}
        }
    }
}

/// The (type, id) a RESTful http(s) URL ends with (`…/Patient/1`, or
/// `…/Patient/1/_history/2`), when the type is a resource type.
fn restful_tail(url: &str) -> Option<(&str, &str)> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    let mut parts: Vec<&str> = url.split('/').collect();
    if parts.len() >= 4 && parts[parts.len() - 2] == "_history" {
        parts.truncate(parts.len() - 2);
    }
    let id = *parts.last()?;
    let ty = *parts.get(parts.len().checked_sub(2)?)?;
    fhir_model::ResourceType::parse(ty)?;
    Some((ty, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn run(json: &str) -> Vec<String> {
        let v = tree::parse(json.as_bytes()).expect("json");
        let mut issues = Vec::new();
        full_urls(&v, "Bundle", &mut issues);
        issues.into_iter().map(|i| i.message).collect()
    }

    #[test]
    fn full_url_rules() {
        let ok = r#"{"resourceType":"Bundle","type":"collection","entry":[
            {"fullUrl":"http://x.org/fhir/Patient/1","resource":{"resourceType":"Patient","id":"1"}},
            {"fullUrl":"urn:uuid:0d2b2d4e-5b8d-4c8e-9d5b-1d8f6c1b2a3c","resource":{"resourceType":"Patient"}}]}"#;
        assert!(run(ok).is_empty(), "{:?}", run(ok));
        let bad = r#"{"resourceType":"Bundle","type":"document","entry":[
            {"resource":{"resourceType":"Patient","id":"1"}},
            {"fullUrl":"Patient/2","resource":{"resourceType":"Patient","id":"2"}},
            {"fullUrl":"http://x.org/Patient/3","resource":{"resourceType":"Observation","id":"3"}},
            {"fullUrl":"http://x.org/Patient/4","resource":{"resourceType":"Patient"}}]}"#;
        let m = run(bad);
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(m[0].starts_with("Except for transactions"));
        assert!(m[1].contains("absolute"));
        assert!(m[2].contains("(/Observation/3)"));
        assert!(m[3].contains("has no id"));
        let tx = r#"{"resourceType":"Bundle","type":"transaction","entry":[
            {"resource":{"resourceType":"Patient"}}]}"#;
        assert!(run(tx).is_empty());
    }
}
