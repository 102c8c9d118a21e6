//! A Bundle's entries as the reference rules read them: each entry's
//! fullUrl, type, id and version, an index by fullUrl and by `Type/id`,
//! and the references (and uris) inside a resource.

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use crate::json::{resource_type, str_field};
use crate::validate::base::children::children;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

/// Deeper than this is not a resource.
pub(super) const MAX_DEPTH: usize = 128;

/// One entry: its fullUrl and the identity of its resource.
pub(super) struct Entry<'a> {
    pub(super) full_url: Option<&'a str>,
    pub(super) resource: Option<&'a Json>,
    pub(super) rtype: &'a str,
    pub(super) id: Option<&'a str>,
    pub(super) version: Option<&'a str>,
}

/// One reference (or, for the reachability of documents and messages, a
/// uri that may name an entry) and where it is.
#[derive(Debug, Clone)]
pub(super) struct Ref {
    pub(super) value: String,
    pub(super) location: String,
    pub(super) is_uri: bool,
}

/// The entries by fullUrl and by `Type/id`, each also with its version.
pub(super) struct Index<'a> {
    pub(super) by_url: HashMap<String, Vec<usize>>,
    pub(super) by_type_id: HashMap<String, Vec<usize>>,
    pub(super) _entries: std::marker::PhantomData<&'a ()>,
}

impl<'a> Index<'a> {
    pub(super) fn new(entries: &[Entry<'a>]) -> Index<'a> {
        let mut by_url: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_type_id: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(fu) = e.full_url {
                by_url.entry(fu.to_owned()).or_default().push(i);
                if let Some(v) = e.version {
                    by_url
                        .entry(format!("{fu}/_history/{v}"))
                        .or_default()
                        .push(i);
                }
            }
            if e.resource.is_none() {
                continue;
            }
            if let Some(id) = e.id {
                let rl = format!("{}/{id}", e.rtype);
                if let Some(v) = e.version {
                    by_type_id
                        .entry(format!("{rl}/_history/{v}"))
                        .or_default()
                        .push(i);
                }
                by_type_id.entry(rl).or_default().push(i);
            }
        }
        Index {
            by_url,
            by_type_id,
            _entries: std::marker::PhantomData,
        }
    }
}

/// Reports an error once per location (the first rule that fails wins).
pub(super) fn report(
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
    location: &str,
    code: IssueType,
    message: String,
) {
    if reported.insert(location.to_owned()) {
        issues.push(Issue::new(Severity::Error, code, location, message));
    }
}

pub(super) fn reference_of(v: &Json, location: &str) -> Option<Ref> {
    let value = str_field(v, "reference")?;
    Some(Ref {
        value: value.to_owned(),
        location: location.to_owned(),
        is_uri: false,
    })
}

/// The references (and uris) in `v`, of FHIR type `ty`, at `location`;
/// nested Bundles are left to themselves.
pub(super) fn collect(v: &Json, ty: &str, location: &str, out: &mut Vec<Ref>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(info) = meta::type_info(ty) else {
        return;
    };
    if !matches!(v, Json::Object(_)) {
        return;
    }
    if ty == "Reference" {
        if let Some(r) = reference_of(v, location) {
            out.push(r);
        }
    }
    for child in children(info, v, location) {
        let (e, t, item, loc) = (child.element, child.ty, child.value, child.location);
        match (t, item) {
            ("uri" | "url", Json::String(s)) => {
                let excluded = e.name == "system"
                    || matches!(
                        (info.name, e.name),
                        ("Extension", "url")
                            | ("BundleEntry", "fullUrl")
                            | ("MessageHeaderSource", "endpoint")
                            | ("MessageHeaderDestination", "endpoint")
                            | ("Endpoint", "address")
                    );
                if !excluded {
                    out.push(Ref {
                        value: s.clone(),
                        location: loc,
                        is_uri: true,
                    });
                }
            }
            ("Resource", r) => {
                if let Some(rt) = resource_type(r).filter(|rt| *rt != "Bundle") {
                    collect(r, rt, &loc, out, depth + 1);
                }
            }
            (t, Json::Object(_)) => {
                let known = meta::type_info(t).is_some_and(|x| x.kind != Kind::Resource);
                if known {
                    collect(item, t, &loc, out, depth + 1);
                }
            }
            _ => {}
        }
    }
}
