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
//! - A document is self-contained (documents.html#content): what the
//!   Composition's subject, author, encounter, custodian, attester,
//!   event detail and section author/focus/entries reference must be in
//!   the bundle, and every entry must be reachable by following references
//!   from the Composition (forwards, or backwards to something reachable).
//!   A message's `MessageHeader.focus` must be in the bundle.
//! - Inside documents and messages, a relative reference that does not
//!   resolve by these rules although an entry has the same type and id is
//!   an error: the reader of the bundle would not find it.
//!
//! A reference inside a Bundle nested in an entry belongs to that inner
//! Bundle and is checked with it.

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use super::{field, resource_type, str_field, Issue, Severity};

/// Deeper than this is not a resource.
const MAX_DEPTH: usize = 128;

struct Entry<'a> {
    full_url: Option<&'a str>,
    resource: Option<&'a Json>,
    rtype: &'a str,
    id: Option<&'a str>,
    version: Option<&'a str>,
}

/// One reference (or, for the reachability of documents and messages, a
/// uri that may name an entry) and where it is.
#[derive(Debug, Clone)]
struct Ref {
    value: String,
    location: String,
    is_uri: bool,
}

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
) {
    let reference = r.value.as_str();
    if reference.starts_with('#') || reference.is_empty() {
        return;
    }
    let mut version = "";
    let mut expected_type: Option<&str> = None;
    let target: String;
    if super::canonical::has_scheme(reference) {
        target = match reference.find("/_history/") {
            Some(h) => {
                version = &reference[h + 10..];
                reference[..h].to_owned()
            }
            None => reference.to_owned(),
        };
    } else {
        let Some(full_url) = full_url else {
            return;
        };
        let slashes = reference.matches('/').count();
        if slashes != 1 && slashes != 3 {
            let search = is_search_url(reference);
            if !(bundle_type == "transaction" && search) {
                let message = if search {
                    format!("Conditional references ('{reference}') are only allowed in transactions (http.html#trules), not in a Bundle of type '{bundle_type}'")
                } else {
                    format!("Relative URLs must be of the format [ResourceName]/[id], or a search URL is allowed ([type]?parameters. Encountered {reference})")
                };
                report(issues, reported, &r.location, "invalid", message);
            }
            return;
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
            "invalid",
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
                "invalid",
                format!("Matching reference for reference {reference} has resourceType {found}"),
            );
        }
    }
    if matches.is_empty() && !super::canonical::has_scheme(reference) {
        let mut parts = reference.split('/');
        let (t, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        for (j, e) in entries.iter().enumerate() {
            if e.resource.is_some() && e.rtype == t && e.id == Some(id) {
                issues.push(Issue::new(
                    Severity::Warning,
                    "invalid",
                    r.location.clone(),
                    format!(
                        "Entry {j} matches the reference {reference} by type and id but its fullUrl {} does not match the full target URL {target} by Bundle resolution rules",
                        e.full_url.unwrap_or("(none)")
                    ),
                ));
            }
        }
    }
}

/// The entries by fullUrl and by `Type/id`, each also with its version.
struct Index<'a> {
    by_url: HashMap<String, Vec<usize>>,
    by_type_id: HashMap<String, Vec<usize>>,
    _entries: std::marker::PhantomData<&'a ()>,
}

impl<'a> Index<'a> {
    fn new(entries: &[Entry<'a>]) -> Index<'a> {
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

/// How a reference that must be in the bundle fares.
struct Lookup<'s> {
    /// The entry of the referencing resource: its fullUrl, type and id.
    full_url: Option<&'s str>,
    rtype: &'s str,
    id: Option<&'s str>,
    /// What the reference is ("Composition.subject", "Section Entry").
    name: &'s str,
    /// Not being in the bundle is worth a note only.
    optional: bool,
}

/// Resolves `r` among the entries as document and message rules do;
/// reports what fails and gives the entry found.
fn resolve(
    index: &Index,
    r: &Ref,
    how: &Lookup,
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
) -> Option<usize> {
    let reference = r.value.split('#').next().unwrap_or("");
    if reference.is_empty() {
        return None;
    }
    let name = how.name;
    if super::canonical::has_scheme(reference) {
        return match index.by_url.get(reference).map(Vec::as_slice) {
            None | Some([]) => {
                if !how.optional && !r.is_uri {
                    report(
                        issues,
                        reported,
                        &r.location,
                        "not-found",
                        format!("Can't find '{reference}' in the bundle ({name})"),
                    );
                }
                None
            }
            Some([one]) => Some(*one),
            Some(many) => {
                report(
                    issues,
                    reported,
                    &r.location,
                    "invalid",
                    format!(
                        "Found {} matches for '{reference}' in the bundle ({name})",
                        many.len()
                    ),
                );
                None
            }
        };
    }
    let restful_base = how.full_url.filter(|fu| is_restful(fu)).and_then(|fu| {
        let own = format!("{}/{}", how.rtype, how.id?);
        fu.strip_suffix(&own).map(str::to_owned)
    });
    if let Some(base) = restful_base {
        let u = format!("{base}{reference}");
        match index.by_url.get(&u).map(Vec::as_slice) {
            Some([one]) => return Some(*one),
            Some(many) if many.len() > 1 => {
                report(
                    issues,
                    reported,
                    &r.location,
                    "invalid",
                    format!(
                        "Found {} matches for '{reference}' in the bundle ({name})",
                        many.len()
                    ),
                );
                return None;
            }
            _ => {}
        }
    }
    let mut parts = reference.split('/');
    let (Some(t), Some(id)) = (parts.next(), parts.next()) else {
        return None;
    };
    fhir_model::ResourceType::parse(t)?;
    match index.by_type_id.get(&format!("{t}/{id}")) {
        Some(found) if !found.is_empty() => {
            report(
                issues,
                reported,
                &r.location,
                "invalid",
                format!(
                    "Can't find '{reference}' in the bundle ({name}). Note that {} in the bundle with the same type and id, but {} not match because of the fullUrl based rules around matching relative references (the referencing entry's fullUrl is '{}')",
                    if found.len() == 1 { "there is a resource" } else { "there are resources" },
                    if found.len() == 1 { "it does" } else { "they do" },
                    how.full_url.unwrap_or("(none)")
                ),
            );
        }
        _ => {
            if !how.optional && !r.is_uri {
                report(
                    issues,
                    reported,
                    &r.location,
                    "not-found",
                    format!("Can't find '{reference}' in the bundle ({name})"),
                );
            }
        }
    }
    None
}

/// The Composition's references that must be in the document.
fn document(
    entries: &[Entry],
    index: &Index,
    location: &str,
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
) {
    let Some(first) = entries.first() else {
        return;
    };
    let Some(comp) = first.resource.filter(|_| first.rtype == "Composition") else {
        return;
    };
    let at = format!("{location}.entry[0].resource");
    let mut targets: Vec<(Ref, String)> = Vec::new();
    let one = |v: &Json,
               name: &str,
               at: &str,
               repeats: bool,
               out: &mut Vec<(Ref, String)>,
               title: &str| {
        match field(v, name) {
            Some(Json::Array(items)) => {
                for (i, item) in items
                    .iter()
                    .enumerate()
                    .take(if repeats { usize::MAX } else { 1 })
                {
                    if let Some(r) = reference_of(item, &format!("{at}.{name}[{i}]")) {
                        out.push((r, format!("{title}.{name}")));
                    }
                }
            }
            Some(item) => {
                if let Some(r) = reference_of(item, &format!("{at}.{name}")) {
                    out.push((r, format!("{title}.{name}")));
                }
            }
            None => {}
        }
    };
    for (name, repeats) in [
        ("subject", false),
        ("author", true),
        ("encounter", false),
        ("custodian", false),
    ] {
        one(comp, name, &at, repeats, &mut targets, "Composition");
    }
    for (parent, child, repeats) in [("attester", "party", false), ("event", "detail", true)] {
        if let Some(Json::Array(items)) = field(comp, parent) {
            for (i, item) in items.iter().enumerate() {
                let title = format!("Composition.{parent}");
                one(
                    item,
                    child,
                    &format!("{at}.{parent}[{i}]"),
                    repeats,
                    &mut targets,
                    &title,
                );
            }
        }
    }
    sections(comp, &at, 0, &mut targets);
    let how = |name: &'static str| Lookup {
        full_url: first.full_url,
        rtype: "Composition",
        id: first.id,
        name,
        optional: false,
    };
    for (r, name) in targets {
        let lookup = Lookup {
            name: &name,
            ..how("")
        };
        resolve(index, &r, &lookup, issues, reported);
    }
}

/// Section author, focus and entries, nested sections too.
fn sections(v: &Json, at: &str, depth: usize, out: &mut Vec<(Ref, String)>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(Json::Array(list)) = field(v, "section") else {
        return;
    };
    for (i, s) in list.iter().enumerate() {
        let sat = format!("{at}.section[{i}]");
        if let Some(Json::Array(authors)) = field(s, "author") {
            for (j, a) in authors.iter().enumerate() {
                if let Some(r) = reference_of(a, &format!("{sat}.author[{j}]")) {
                    out.push((r, "Section.author".to_owned()));
                }
            }
        }
        if let Some(f) = field(s, "focus") {
            if let Some(r) = reference_of(f, &format!("{sat}.focus")) {
                out.push((r, "Section.focus".to_owned()));
            }
        }
        if let Some(Json::Array(es)) = field(s, "entry") {
            for (j, e) in es.iter().enumerate() {
                if let Some(r) = reference_of(e, &format!("{sat}.entry[{j}]")) {
                    out.push((r, "Section Entry".to_owned()));
                }
            }
        }
        sections(s, &sat, depth + 1, out);
    }
}

/// `MessageHeader.focus` must be in the message.
fn message(
    entries: &[Entry],
    index: &Index,
    location: &str,
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
) {
    let Some(first) = entries.first() else {
        return;
    };
    let Some(header) = first.resource.filter(|_| first.rtype == "MessageHeader") else {
        return;
    };
    let Some(Json::Array(focus)) = field(header, "focus") else {
        return;
    };
    let how = Lookup {
        full_url: first.full_url,
        rtype: "MessageHeader",
        id: first.id,
        name: "MessageHeader Data",
        optional: false,
    };
    for (i, f) in focus.iter().enumerate() {
        if let Some(r) = reference_of(f, &format!("{location}.entry[0].resource.focus[{i}]")) {
            resolve(index, &r, &how, issues, reported);
        }
    }
}

/// Every entry of a document must be reachable from the Composition (of a
/// message, from the MessageHeader: a warning there), following
/// references forwards, or backwards from an entry that references
/// something reachable (only Provenance is expected to do that).
fn interlinked(
    bundle: &Json,
    entries: &[Entry],
    index: &Index,
    is_message: bool,
    location: &str,
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
) {
    let raw: &[Json] = match field(bundle, "entry") {
        Some(Json::Array(list)) => list,
        _ => &[],
    };
    let with_resource: Vec<usize> = (0..entries.len())
        .filter(|i| entries[*i].resource.is_some())
        .collect();
    let mut targets: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &with_resource {
        let e = &entries[i];
        let mut refs = Vec::new();
        if let Some(raw) = raw.get(i) {
            collect(
                raw,
                "BundleEntry",
                &format!("{location}.entry[{i}]"),
                &mut refs,
                0,
            );
        }
        let mut seen: HashSet<String> = HashSet::new();
        for r in refs {
            if r.value.starts_with('#') || !seen.insert(r.value.clone()) {
                continue;
            }
            let how = Lookup {
                full_url: e.full_url,
                rtype: e.rtype,
                id: e.id,
                name: &r.location,
                optional: true,
            };
            if let Some(t) = resolve(index, &r, &how, issues, reported) {
                if t != i && entries.get(t).is_some_and(|x| x.resource.is_some()) {
                    targets.entry(i).or_default().push(t);
                }
            }
        }
    }
    let mut visited: HashSet<usize> = HashSet::new();
    if let Some(&first) = with_resource.first() {
        visit(first, &targets, &mut visited);
    }
    // A stylesheet of the bundle is reached through Bundle.link.
    if let Some(Json::Array(links)) = field(bundle, "link") {
        for l in links {
            if str_field(l, "relation") != Some("stylesheet") {
                continue;
            }
            let Some(url) = str_field(l, "url") else {
                continue;
            };
            if let Some(&i) = with_resource.iter().find(|i| {
                format!("{}/{}", entries[**i].rtype, entries[**i].id.unwrap_or("")) == url
            }) {
                visited.insert(i);
            }
        }
    }
    loop {
        let mut found = false;
        for &i in &with_resource {
            if visited.contains(&i) {
                continue;
            }
            let back = targets
                .get(&i)
                .is_some_and(|ts| ts.iter().any(|t| visited.contains(t)));
            if back {
                if !is_message && entries[i].rtype != "Provenance" {
                    issues.push(Issue::new(
                        Severity::Warning,
                        "invalid",
                        format!("{location}.entry[{i}]"),
                        format!(
                            "Entry '{}' isn't reachable by traversing forwards from the Composition. Only Provenance is approved to be used this way (R4 section 3.3.1)",
                            entries[i].full_url.unwrap_or("")
                        ),
                    ));
                }
                visit(i, &targets, &mut visited);
                found = true;
            }
        }
        if !found {
            break;
        }
    }
    for &i in &with_resource {
        if visited.contains(&i) {
            continue;
        }
        let (severity, from) = if is_message {
            (Severity::Warning, "MessageHeader")
        } else {
            (Severity::Error, "Composition")
        };
        issues.push(Issue::new(
            severity,
            "informational",
            format!("{location}.entry[{i}]"),
            format!(
                "Entry '{}' isn't reachable by traversing links (forward or backward) from the {from}",
                entries[i].full_url.unwrap_or("")
            ),
        ));
    }
}

fn visit(i: usize, targets: &HashMap<usize, Vec<usize>>, visited: &mut HashSet<usize>) {
    let mut stack = vec![i];
    while let Some(n) = stack.pop() {
        if visited.insert(n) {
            if let Some(ts) = targets.get(&n) {
                stack.extend(ts.iter().copied());
            }
        }
    }
}

/// Reports an error once per location (the first rule that fails wins).
fn report(
    issues: &mut Vec<Issue>,
    reported: &mut HashSet<String>,
    location: &str,
    code: &'static str,
    message: String,
) {
    if reported.insert(location.to_owned()) {
        issues.push(Issue::new(Severity::Error, code, location, message));
    }
}

fn reference_of(v: &Json, location: &str) -> Option<Ref> {
    let value = str_field(v, "reference")?;
    Some(Ref {
        value: value.to_owned(),
        location: location.to_owned(),
        is_uri: false,
    })
}

/// The references (and uris) in `v`, of FHIR type `ty`, at `location`;
/// nested Bundles are left to themselves.
fn collect(v: &Json, ty: &str, location: &str, out: &mut Vec<Ref>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(info) = meta::type_info(ty) else {
        return;
    };
    let Json::Object(m) = v else {
        return;
    };
    if ty == "Reference" {
        if let Some(r) = reference_of(v, location) {
            out.push(r);
        }
    }
    for (k, val) in m {
        let Some((_, e, t)) = info.element_named(k) else {
            continue;
        };
        let items: Vec<(Option<usize>, &Json)> = match val {
            Json::Array(a) => a.iter().enumerate().map(|(i, x)| (Some(i), x)).collect(),
            x => vec![(None, x)],
        };
        for (i, item) in items {
            let loc = match i {
                Some(i) => format!("{location}.{}[{i}]", e.name),
                None => format!("{location}.{}", e.name),
            };
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
}

/// `[base/]Type?query` with a resource type.
fn is_search_url(reference: &str) -> bool {
    match reference.split_once('?') {
        Some((t, q)) => fhir_model::ResourceType::parse(t).is_some() && !q.is_empty(),
        None => false,
    }
}

/// An http(s) URL ending in `Type/id` (or `Type/id/_history/v`).
fn is_restful(url: &str) -> bool {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return false;
    }
    let mut parts: Vec<&str> = url.split('/').collect();
    if parts.len() >= 4 && parts[parts.len() - 2] == "_history" {
        parts.truncate(parts.len() - 2);
    }
    parts.len() >= 5
        && parts
            .get(parts.len() - 2)
            .is_some_and(|t| fhir_model::ResourceType::parse(t).is_some())
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
