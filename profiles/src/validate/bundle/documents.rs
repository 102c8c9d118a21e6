//! Documents and messages are self-contained (documents.html#content,
//! messages.html): what the Composition's subject, author, encounter,
//! custodian, attester, event detail and section author/focus/entries
//! reference must be in the bundle, and every entry must be reachable by
//! following references from the Composition (forwards, or backwards to
//! something reachable); a message's `MessageHeader.focus` must be in the
//! bundle. A relative reference that does not resolve by the Bundle rules
//! although an entry has the same type and id is an error: the reader of
//! the bundle would not find it.

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::Value as Json;

use super::entries::{collect, reference_of, report, Entry, Index, Ref, MAX_DEPTH};
use crate::json::{field, str_field};
use crate::validate::datatypes::canonical;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

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
    if canonical::has_scheme(reference) {
        return match index.by_url.get(reference).map(Vec::as_slice) {
            None | Some([]) => {
                if !how.optional && !r.is_uri {
                    report(
                        issues,
                        reported,
                        &r.location,
                        IssueType::NotFound,
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
                    IssueType::Invalid,
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
                    IssueType::Invalid,
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
                IssueType::Invalid,
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
                    IssueType::NotFound,
                    format!("Can't find '{reference}' in the bundle ({name})"),
                );
            }
        }
    }
    None
}

/// The Composition's references that must be in the document.
pub(super) fn document(
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
pub(super) fn message(
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
pub(super) fn interlinked(
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
                        IssueType::Invalid,
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
            IssueType::Informational,
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
