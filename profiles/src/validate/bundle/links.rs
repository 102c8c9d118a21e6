//! Bundle.link (bundle.html#links, http.html#paging): the paging
//! relations `first`, `previous`, `next`, `last` belong to search and
//! history results only; in those each of them and `self` occurs at most
//! once, and elsewhere `self` occurs at most once. A document's relative
//! `stylesheet` link names a resource of the bundle (documents.html#css).

use fhir_model::json::tree::Value as Json;

use crate::json::{field, resource_type, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

const PAGING: [&str; 4] = ["first", "previous", "next", "last"];

/// Checks the links of `bundle` (at `location`).
pub fn check(bundle: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(Json::Array(links)) = field(bundle, "link") else {
        return;
    };
    let ty = str_field(bundle, "type").unwrap_or("");
    let known = matches!(
        ty,
        "document"
            | "message"
            | "collection"
            | "subscription-notification"
            | "searchset"
            | "history"
            | "transaction"
            | "transaction-response"
            | "batch"
            | "batch-response"
    );
    if !known {
        return;
    }
    let paged = matches!(ty, "searchset" | "history");
    for (i, link) in links.iter().enumerate() {
        let rel = relation(link);
        let loc = format!("{location}.link[{i}]");
        if !paged && PAGING.contains(&rel) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                format!("{loc}.relation"),
                format!(
                    "The link relationship type '{rel}' is only for search and history results (paging), not in a Bundle of type '{ty}'"
                ),
            ));
        }
        let unique = rel == "self" || (paged && PAGING.contains(&rel));
        if unique && links[..i].iter().any(|l| relation(l) == rel) {
            let at = if paged {
                loc.clone()
            } else {
                format!("{loc}.relation")
            };
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                at,
                format!("The link relationship type '{rel}' can only occur once"),
            ));
        }
        if ty == "document" && rel == "stylesheet" {
            stylesheet(bundle, link, &loc, issues);
        }
    }
}

/// A relative stylesheet url must be `Type/id` of an entry.
fn stylesheet(bundle: &Json, link: &Json, loc: &str, issues: &mut Vec<Issue>) {
    let Some(url) = str_field(link, "url") else {
        return;
    };
    if url.contains(':') {
        return;
    }
    let found = match field(bundle, "entry") {
        Some(Json::Array(entries)) => entries.iter().any(|e| {
            field(e, "resource").is_some_and(|r| {
                format!(
                    "{}/{}",
                    resource_type(r).unwrap_or(""),
                    str_field(r, "id").unwrap_or("")
                ) == url
            })
        }),
        _ => false,
    };
    if !found {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::NotFound,
            format!("{loc}.url"),
            format!("The stylesheet reference '{url}' could not be resolved in this bundle"),
        ));
    }
}

fn relation(link: &Json) -> &str {
    str_field(link, "relation").unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn run(json: &str) -> Vec<String> {
        let v = tree::parse(json.as_bytes()).expect("json");
        let mut issues = Vec::new();
        check(&v, "Bundle", &mut issues);
        issues.into_iter().map(|i| i.expression).collect()
    }

    #[test]
    fn link_relations() {
        let good = r#"{"resourceType":"Bundle","type":"searchset","link":[
            {"relation":"self","url":"http://x/Patient"},{"relation":"next","url":"http://x/Patient?p=2"}]}"#;
        assert!(run(good).is_empty());
        let bad = r#"{"resourceType":"Bundle","type":"searchset","link":[
            {"relation":"self","url":"a"},{"relation":"self","url":"a"},
            {"relation":"first","url":"a"},{"relation":"first","url":"a"}]}"#;
        assert_eq!(run(bad), ["Bundle.link[1]", "Bundle.link[3]"]);
        let coll = r#"{"resourceType":"Bundle","type":"collection","link":[{"relation":"next","url":"a"}]}"#;
        assert_eq!(run(coll), ["Bundle.link[0].relation"]);
        let doc = r#"{"resourceType":"Bundle","type":"document","link":[{"relation":"stylesheet","url":"Binary/css"},
            {"relation":"stylesheet","url":"Binary/x"}],
            "entry":[{"fullUrl":"http://x/Binary/css","resource":{"resourceType":"Binary","id":"css"}}]}"#;
        assert_eq!(run(doc), ["Bundle.link[1].url"]);
    }
}
