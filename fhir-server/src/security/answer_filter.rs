//! Taking hidden resources out of an answer, shared by the two rules that
//! hide things (the token's scopes and compartment in [`super::guard`],
//! Consent denials in [`super::consent`]): each rule only says which
//! resources are hidden; the shape of answers (one resource, a Bundle, a
//! batch answer whose entries hold searchsets) is handled here once.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::error::Error;

/// Types that carry no patient data and answer operations: never filtered.
const PASS_TYPES: &[&str] = &["OperationOutcome", "Parameters", "CapabilityStatement"];

/// (type, id) of a resource in an answer.
pub type Key = (String, String);

/// A rule that hides: given an answer's items, the keys it hides.
pub type HideRule<'r> = dyn Fn(&[Item]) -> Result<HashSet<Key>, Error> + 'r;

/// One resource of an answer, for a rule to judge: its key and, when the
/// answer holds it (not for deleted versions in a history), its body.
pub struct Item<'a> {
    pub key: Key,
    pub resource: Option<&'a Value>,
}

/// The answer `body` without what `hidden` (given the answer's items,
/// returning the keys it hides) hides. `Ok(None)`: unchanged;
/// `Err(NotFound)`: the answer is one hidden resource. Entries of a
/// `*-response` Bundle answer request entries by position, so they keep
/// their place and become 404s; other Bundles lose the entries.
pub fn filter_answer(body: &[u8], hidden: &HideRule) -> Result<Option<Vec<u8>>, Error> {
    let Ok(mut json) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let Some(rt) = json
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    if rt != "Bundle" {
        if PASS_TYPES.contains(&rt.as_str()) {
            return Ok(None);
        }
        let Some(id) = json.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return Ok(None);
        };
        let key = (rt, id);
        let item = Item {
            key: key.clone(),
            resource: Some(&json),
        };
        return if hidden(&[item])?.contains(&key) {
            Err(Error::NotFound(format!("{}/{} is not known", key.0, key.1)))
        } else {
            Ok(None)
        };
    }
    if !filter_bundle(&mut json, hidden)? {
        return Ok(None);
    }
    serde_json::to_vec(&json)
        .map(Some)
        .map_err(|e| Error::Fault(e.to_string()))
}

/// Takes the hidden entries out of a Bundle, and out of the Bundles its
/// entries hold (a batch answers a search entry with a searchset).
/// Returns whether anything changed.
fn filter_bundle(bundle: &mut Value, hidden: &HideRule) -> Result<bool, Error> {
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return Ok(false);
    };
    let mut changed = false;
    for e in entries.iter_mut() {
        if let Some(inner) = e.get_mut("resource").filter(|r| is_answer_bundle(r)) {
            changed |= filter_bundle(inner, hidden)?;
        }
    }
    let keys: Vec<Option<Key>> = entries.iter().map(entry_key).collect();
    let items: Vec<Item> = entries
        .iter()
        .zip(&keys)
        .filter_map(|(e, k)| {
            k.clone().map(|key| Item {
                key,
                resource: e.get("resource"),
            })
        })
        .collect();
    if items.is_empty() {
        return Ok(changed);
    }
    let gone = hidden(&items)?;
    drop(items);
    let is_hidden = |k: &Option<Key>| k.as_ref().is_some_and(|k| gone.contains(k));
    if !keys.iter().any(is_hidden) {
        return Ok(changed);
    }
    if kind.ends_with("-response") {
        for (e, k) in entries.iter_mut().zip(&keys) {
            if is_hidden(k) {
                if let Some(m) = e.as_object_mut() {
                    m.remove("resource");
                    m.insert("response".into(), json!({"status": "404 Not Found"}));
                }
            }
        }
    } else {
        let mut k = keys.iter();
        entries.retain(|_| !k.next().is_some_and(is_hidden));
    }
    Ok(true)
}

/// The (type, id) an entry is about: its resource's, or for entries
/// without one (deleted versions in a history) its `fullUrl`'s; `None`
/// for operation outcomes and entries about nothing.
fn entry_key(entry: &Value) -> Option<Key> {
    if let Some(r) = entry.get("resource") {
        let t = r.get("resourceType")?.as_str()?;
        if PASS_TYPES.contains(&t) || is_answer_bundle(r) {
            return None;
        }
        if let Some(id) = r.get("id").and_then(Value::as_str) {
            return Some((t.to_owned(), id.to_owned()));
        }
    }
    let url = entry
        .get("fullUrl")
        .and_then(Value::as_str)
        .or_else(|| entry.get("request")?.get("url")?.as_str())?;
    let mut parts = url.split('?').next()?.rsplit('/');
    let mut id = parts.next()?;
    let mut t = parts.next()?;
    if t == "_history" {
        // `Type/id/_history/vid`
        t = parts.next()?;
        id = t;
        t = parts.next()?;
    }
    fhir_model::ResourceType::parse(t).map(|_| (t.to_owned(), id.to_owned()))
}

/// A Bundle the server made to answer (judged entry by entry, by
/// [`filter_bundle`]), as opposed to a stored Bundle resource.
fn is_answer_bundle(r: &Value) -> bool {
    r.get("resourceType").and_then(Value::as_str) == Some("Bundle")
        && matches!(
            r.get("type").and_then(Value::as_str),
            Some("searchset" | "history" | "batch-response" | "transaction-response")
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_keys() {
        let e = json!({"resource": {"resourceType": "Observation", "id": "o1"}});
        assert_eq!(entry_key(&e), Some(("Observation".into(), "o1".into())));
        let e = json!({"fullUrl": "http://x/fhir/Observation/o2"});
        assert_eq!(entry_key(&e), Some(("Observation".into(), "o2".into())));
        let e = json!({"request": {"url": "Observation/o3/_history/2"}});
        assert_eq!(entry_key(&e), Some(("Observation".into(), "o3".into())));
        let e = json!({"resource": {"resourceType": "OperationOutcome"}});
        assert_eq!(entry_key(&e), None);
    }

    fn hide_o2(items: &[Item]) -> Result<HashSet<Key>, Error> {
        Ok(items
            .iter()
            .filter(|i| i.key.1 == "o2")
            .map(|i| i.key.clone())
            .collect())
    }

    #[test]
    fn searchset_loses_entries_and_batch_answer_keeps_places() {
        let body = json!({"resourceType": "Bundle", "type": "batch-response", "entry": [
            {"resource": {"resourceType": "Observation", "id": "o2"}, "response": {"status": "200 OK"}},
            {"resource": {"resourceType": "Bundle", "type": "searchset", "entry": [
                {"resource": {"resourceType": "Observation", "id": "o1"}},
                {"resource": {"resourceType": "Observation", "id": "o2"}}
            ]}, "response": {"status": "200 OK"}}
        ]});
        let out = filter_answer(&serde_json::to_vec(&body).unwrap(), &hide_o2)
            .unwrap()
            .expect("changed");
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["entry"][0]["response"]["status"], "404 Not Found");
        assert!(out["entry"][0].get("resource").is_none());
        let inner = out["entry"][1]["resource"]["entry"].as_array().unwrap();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0]["resource"]["id"], "o1");
    }

    #[test]
    fn one_hidden_resource_is_not_found_and_outcomes_pass() {
        let hidden = json!({"resourceType": "Observation", "id": "o2"});
        assert!(matches!(
            filter_answer(&serde_json::to_vec(&hidden).unwrap(), &hide_o2),
            Err(Error::NotFound(_))
        ));
        let shown = json!({"resourceType": "Observation", "id": "o1"});
        assert!(matches!(
            filter_answer(&serde_json::to_vec(&shown).unwrap(), &hide_o2),
            Ok(None)
        ));
        let oo = json!({"resourceType": "OperationOutcome", "id": "o2"});
        assert!(matches!(
            filter_answer(&serde_json::to_vec(&oo).unwrap(), &hide_o2),
            Ok(None)
        ));
    }
}
