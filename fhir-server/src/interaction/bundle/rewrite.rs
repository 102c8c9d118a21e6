//! Rewriting a transaction's links to its own entries
//! (http.html#transaction, "Resolving references in Bundles"): every
//! `fullUrl` of a created or updated entry (`urn:uuid:…`, `urn:oid:…` or a
//! URL) is replaced by the `Type/id` the entry is stored under, wherever a
//! resource in the Bundle links to it — in `Reference.reference`, in every
//! `uri`, `url` and `canonical` element (the DocumentReference → Binary
//! pattern puts a Binary's `urn:uuid` in `Attachment.url`), and in the
//! narrative's `<a href>` and `<img src>`, at any depth (contained
//! resources and extensions included).
//!
//! Elements are found by their FHIR type (the R4 type tables of
//! `fhir_model::meta`), never by the look of a string: an
//! `Identifier.value` of `urn:uuid:…` is a `string` and stays as it is.
//! `oid` and `uuid` elements are left alone too: their formats only hold
//! `urn:oid:` / `urn:uuid:` values, so a `Type/id` cannot go there.

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::{self, Value};
use fhir_model::meta::type_info;
use fhir_model::Resource;

use crate::error::Error;

/// Rewrites every link of `r` that names a key of `targets`.
pub(crate) fn rewrite_references(
    r: &mut Resource,
    targets: &HashMap<String, String>,
) -> Result<(), Error> {
    if targets.is_empty() {
        return Ok(());
    }
    rewrite_with(r, &mut |link| targets.get(link).cloned())
}

/// [`rewrite_references`] before the transaction, when some targets are
/// not known yet (a conditional entry's `fullUrl`, decided when it is
/// planned inside the transaction): false, with `r` left as it was, when
/// a link of `r` names one of `unknown`.
pub(crate) fn rewrite_early(
    r: &mut Resource,
    targets: &HashMap<String, String>,
    unknown: &HashSet<String>,
) -> Result<bool, Error> {
    if targets.is_empty() && unknown.is_empty() {
        return Ok(true);
    }
    let mut waits = false;
    let mut copy = None;
    // Rewritten on a copy only when it can be left half done.
    let target = if unknown.is_empty() {
        &mut *r
    } else {
        copy.insert(r.clone())
    };
    rewrite_with(target, &mut |link| {
        if unknown.contains(link) {
            waits = true;
        }
        targets.get(link).cloned()
    })?;
    if waits {
        return Ok(false);
    }
    if let Some(done) = copy {
        *r = done;
    }
    Ok(true)
}

/// Rewrites the links of `r` to what `target` gives for them.
fn rewrite_with(r: &mut Resource, target: &mut Target<'_>) -> Result<(), Error> {
    let Ok(mut json) = tree::parse(&r.to_json_vec()) else {
        return Ok(());
    };
    if walk(&mut json, "Resource", target) {
        *r = Resource::from_json_slice(&tree::to_json(&json))?;
    }
    Ok(())
}

/// Where a link points now, if it is to change.
type Target<'a> = dyn FnMut(&str) -> Option<String> + 'a;

/// Rewrites inside `v`, a value of FHIR type `ty`; true when it changed.
fn walk(v: &mut Value, ty: &str, targets: &mut Target<'_>) -> bool {
    match v {
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= walk(item, ty, targets);
            }
            changed
        }
        Value::String(s) => match ty {
            "uri" | "url" | "canonical" => match targets(s.as_str()) {
                Some(t) => {
                    *s = t;
                    true
                }
                None => false,
            },
            "xhtml" => match rewrite_narrative(s, targets) {
                Some(new) => {
                    *s = new;
                    true
                }
                None => false,
            },
            _ => false,
        },
        Value::Object(_) => {
            let ty = if ty == "Resource" {
                match field(v, "resourceType") {
                    Some(t) => t,
                    None => return false,
                }
            } else {
                ty.to_owned()
            };
            let Some(info) = type_info(&ty) else {
                return false;
            };
            let Value::Object(map) = v else {
                return false;
            };
            let mut changed = false;
            for (key, child) in map.iter_mut() {
                // `Reference.reference` is a `string`, but a link.
                if ty == "Reference" && key == "reference" {
                    changed |= walk(child, "uri", targets);
                    continue;
                }
                if key.starts_with('_') || key == "resourceType" {
                    continue;
                }
                if let Some((_, _, child_ty)) = info.element_named(key) {
                    changed |= walk(child, child_ty, targets);
                }
            }
            changed
        }
        _ => false,
    }
}

fn field(v: &Value, name: &str) -> Option<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            }),
        _ => None,
    }
}

/// The narrative with each `href="…"` / `src="…"` (either quote) that
/// names a target replaced; `None` when nothing matched.
fn rewrite_narrative(div: &str, targets: &mut Target<'_>) -> Option<String> {
    let mut out = String::with_capacity(div.len());
    let mut rest = div;
    let mut changed = false;
    while let Some(at) = next_attribute(rest) {
        let (name_end, quote) = at;
        let value_start = name_end + 1;
        let Some(len) = rest[value_start..].find(quote) else {
            break;
        };
        let value = &rest[value_start..value_start + len];
        out.push_str(&rest[..value_start]);
        match targets(value) {
            Some(t) => {
                out.push_str(&t);
                changed = true;
            }
            None => out.push_str(value),
        }
        rest = &rest[value_start + len..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The end of the next ` href=` / ` src=` in `s` (the index of its quote)
/// and the quote character.
fn next_attribute(s: &str) -> Option<(usize, char)> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while from < s.len() {
        let hit = ["href=", "src="]
            .iter()
            .filter_map(|n| s[from..].find(n).map(|k| (from + k, n.len())))
            .min()?;
        let (start, len) = hit;
        let preceded = start > 0 && bytes[start - 1].is_ascii_whitespace();
        let quote_at = start + len;
        match bytes.get(quote_at) {
            Some(b'"') if preceded => return Some((quote_at, '"')),
            Some(b'\'') if preceded => return Some((quote_at, '\'')),
            _ => from = quote_at,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> HashMap<String, String> {
        HashMap::from([("urn:uuid:b1".to_owned(), "Binary/x1".to_owned())])
    }

    #[test]
    fn rewrites_links_by_type_not_by_look() {
        let mut r = Resource::from_json_slice(
            br#"{"resourceType":"DocumentReference","status":"current",
                "identifier":[{"system":"urn:ietf:rfc:3986","value":"urn:uuid:b1"}],
                "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"urn:uuid:b1\">doc</a><img src='urn:uuid:b1'/></div>"},
                "subject":{"reference":"urn:uuid:b1"},
                "content":[{"attachment":{"url":"urn:uuid:b1"}}]}"#,
        )
        .expect("parses");
        rewrite_references(&mut r, &targets()).expect("rewrites");
        let json = String::from_utf8(r.to_json_vec()).expect("utf8");
        assert!(json.contains(r#""url":"Binary/x1""#), "{json}");
        assert!(json.contains(r#""reference":"Binary/x1""#), "{json}");
        assert!(json.contains(r#"href=\"Binary/x1\""#), "{json}");
        assert!(json.contains("src='Binary/x1'"), "{json}");
        assert!(json.contains(r#""value":"urn:uuid:b1""#), "{json}");
    }

    #[test]
    fn narrative_without_targets_is_untouched() {
        let t = targets();
        let mut look = |link: &str| t.get(link).cloned();
        assert_eq!(rewrite_narrative("<a href=\"x\">y</a>", &mut look), None);
        assert_eq!(
            rewrite_narrative("<a data-href=\"urn:uuid:b1\">", &mut look),
            None
        );
    }

    #[test]
    fn early_rewrite_waits_for_unknown_targets() {
        let body = br#"{"resourceType":"Observation","status":"final","code":{"text":"x"},
            "subject":{"reference":"urn:uuid:b1"},"focus":[{"reference":"urn:uuid:c1"}]}"#;
        let unknown = HashSet::from(["urn:uuid:c1".to_owned()]);
        let mut r = Resource::from_json_slice(body).expect("parses");
        let before = r.to_json_vec();
        assert!(!rewrite_early(&mut r, &targets(), &unknown).expect("rewrites"));
        assert_eq!(r.to_json_vec(), before, "left as it was");
        assert!(rewrite_early(&mut r, &targets(), &HashSet::new()).expect("rewrites"));
        let json = String::from_utf8(r.to_json_vec()).expect("utf8");
        assert!(json.contains(r#""reference":"Binary/x1""#), "{json}");
        assert!(json.contains(r#""reference":"urn:uuid:c1""#), "{json}");
    }
}
