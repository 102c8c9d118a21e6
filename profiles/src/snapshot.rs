//! Snapshot generation for StructureDefinitions that carry only a
//! differential (profiling.html#snapshot): the base definition's snapshot
//! (itself generated when needed) with each differential element applied.
//!
//! What it does, in the order of profiling.html's rules:
//! - an element the base has (same id) takes every property the
//!   differential states; `constraint`s are added to the base's, the rest
//!   replace;
//! - a new slice (`sliceName`) is a copy of its sliced element, placed
//!   after that element and its earlier slices, with the differential's
//!   properties applied;
//! - an element below a data type the base does not expand
//!   (`Patient.identifier.system`) is copied from that type's definition,
//!   creating the elements between as needed.
//!
//! Ids follow elementdefinition.html#id (`Patient.identifier:mrn.system`);
//! a differential without ids gets them from its paths and slice names.
//! The output is enough for [`crate::validate::profile`], which reads
//! ids, paths and the constraining properties; it does not fill in
//! `base`, `mapping` or text the way a publishing tool would.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::PackageSet;

/// How many `baseDefinition` steps are followed before giving up (a
/// cycle, or an absurd chain).
const MAX_DEPTH: usize = 16;

/// The snapshot elements of `sd`: its own snapshot when it has one,
/// otherwise one generated from its base and differential. `None` when
/// neither works (no base definition in the set).
pub fn elements(packages: &PackageSet, sd: &Json) -> Option<Vec<Json>> {
    elements_at(packages, sd, 0)
}

fn elements_at(packages: &PackageSet, sd: &Json, depth: usize) -> Option<Vec<Json>> {
    if let Some(Json::Array(list)) = field(sd, "snapshot").and_then(|s| field(s, "element")) {
        if !list.is_empty() {
            return Some(list.clone());
        }
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    let base_url = str_field(sd, "baseDefinition")?;
    let (pkg, res) = packages
        .by_url(base_url)
        .or_else(|| packages.by_url(base_url.split('|').next().unwrap_or(base_url)))?;
    let base = res.json(pkg.source()).ok()?;
    let mut snapshot = elements_at(packages, base, depth + 1)?;
    let Some(Json::Array(diff)) = field(sd, "differential").and_then(|d| field(d, "element"))
    else {
        return Some(snapshot);
    };
    // A profile of a type other than its base's root (rare: a logical
    // model) is not supported; its elements keep the base's paths.
    let mut slice_ctx: Vec<(String, String)> = Vec::new();
    for d in diff {
        let Some(path) = str_field(d, "path") else {
            continue;
        };
        let id = element_id(d, path, &mut slice_ctx);
        if let Some((path, id, ty)) = choice_renamed(packages, &mut snapshot, &id, path) {
            apply(packages, &mut snapshot, d, &id, &path);
            if let Some(e) = snapshot.iter_mut().find(|e| id_of(e) == id) {
                if let Some(Json::Array(types)) = field(e, "type") {
                    let only: Vec<Json> = types
                        .iter()
                        .filter(|t| {
                            str_field(t, "code").is_some_and(|c| c.eq_ignore_ascii_case(&ty))
                        })
                        .cloned()
                        .collect();
                    if !only.is_empty() {
                        set(e, "type", Json::Array(only));
                    }
                }
            }
            continue;
        }
        apply(packages, &mut snapshot, d, &id, path);
    }
    Some(snapshot)
}

/// A differential element named by a choice's type-specific name
/// (`Observation.valueQuantity`, profiling.html#choices) is the type slice
/// `Observation.value[x]:valueQuantity`, limited to that type; the choice
/// gets the implied type slicing. Gives (path, id, type), or `None` when
/// the element names no such choice.
fn choice_renamed(
    packages: &PackageSet,
    snapshot: &mut Vec<Json>,
    id: &str,
    path: &str,
) -> Option<(String, String, String)> {
    if snapshot.iter().any(|e| id_of(e) == id) {
        return None;
    }
    let (parent_path, last) = path.rsplit_once('.')?;
    let (parent_id, last_id) = split_last(id)?;
    if last_id != last {
        return None;
    }
    let name = snapshot.iter().find_map(|e| {
        let p = str_field(e, "path")?;
        let name = p
            .strip_prefix(parent_path)?
            .strip_prefix('.')?
            .strip_suffix("[x]")?;
        let ty = last.strip_prefix(name)?;
        ty.starts_with(|c: char| c.is_ascii_uppercase())
            .then(|| name.to_owned())
    })?;
    let ty = last[name.len()..].to_owned();
    let choice_path = format!("{parent_path}.{name}[x]");
    let choice_id = format!("{parent_id}.{name}[x]");
    let at = ensure(packages, snapshot, &choice_id, &choice_path)?;
    if field(&snapshot[at], "slicing").is_none() {
        let slicing = fhir_model::json::tree::parse(
            br#"{"discriminator":[{"type":"type","path":"$this"}],"rules":"open"}"#,
        )
        .ok()?;
        set(&mut snapshot[at], "slicing", slicing);
    }
    Some((choice_path, format!("{choice_id}:{last}"), ty))
}

/// The element's id: its own, or built from its path and the slices
/// opened so far (`slice_ctx`: (path, id) of each open slice).
fn element_id(d: &Json, path: &str, slice_ctx: &mut Vec<(String, String)>) -> String {
    let id = match str_field(d, "id") {
        Some(id) => id.to_owned(),
        None => {
            slice_ctx.retain(|(p, _)| path.starts_with(&format!("{p}.")) || path == p);
            let mut id = path.to_owned();
            if let Some((p, sid)) = slice_ctx.last() {
                if let Some(rest) = path.strip_prefix(p.as_str()) {
                    if !rest.is_empty() {
                        id = format!("{sid}{rest}");
                    }
                }
            }
            if let Some(name) = str_field(d, "sliceName") {
                id = format!("{id}:{name}");
            }
            id
        }
    };
    if str_field(d, "sliceName").is_some() {
        slice_ctx.push((path.to_owned(), id.clone()));
    }
    id
}

fn id_of(e: &Json) -> &str {
    str_field(e, "id")
        .or_else(|| str_field(e, "path"))
        .unwrap_or("")
}

/// Applies one differential element to the snapshot.
fn apply(packages: &PackageSet, snapshot: &mut Vec<Json>, d: &Json, id: &str, path: &str) {
    if let Some(i) = snapshot.iter().position(|e| id_of(e) == id) {
        merge(&mut snapshot[i], d);
        return;
    }
    let Some(at) = ensure(packages, snapshot, id, path) else {
        return;
    };
    merge(&mut snapshot[at], d);
}

/// Makes sure an element with `id` exists and returns its index: a slice
/// copied from its sliced element, or a child copied from its parent's
/// type definition.
fn ensure(packages: &PackageSet, snapshot: &mut Vec<Json>, id: &str, path: &str) -> Option<usize> {
    if let Some(i) = snapshot.iter().position(|e| id_of(e) == id) {
        return Some(i);
    }
    let (parent_id, last) = split_last(id)?;
    if let Some((sliced, name)) = last.split_once(':') {
        // A slice (or reslice): a copy of the element it slices.
        let base_id = format!("{}{sliced}", parent_prefix(parent_id));
        let base_at = ensure(packages, snapshot, &base_id, path)?;
        let mut copy = snapshot[base_at].clone();
        set(&mut copy, "id", Json::String(id.to_owned()));
        set(&mut copy, "sliceName", Json::String(name.to_owned()));
        remove(&mut copy, "slicing");
        let at = end_of(snapshot, &base_id);
        snapshot.insert(at, copy);
        return Some(at);
    }
    // A child: its parent first, then the parent's type definition.
    let parent_path = path.rsplit_once('.').map(|(p, _)| p)?;
    let parent_at = ensure(packages, snapshot, parent_id, parent_path)?;
    // A child of a slice (`referenceRange:Slice1.type`) is a copy of the
    // same child of the sliced element when the snapshot has it (a
    // backbone element's children): a slice has all its children.
    if let Some((_, seg)) = split_last(parent_id) {
        if let Some((name, _)) = seg.split_once(':') {
            let prefix = &parent_id[..parent_id.len() - seg.len()];
            let base_id = format!("{prefix}{name}.{last}");
            if let Some(base_at) = snapshot.iter().position(|e| id_of(e) == base_id) {
                let mut copy = snapshot[base_at].clone();
                set(&mut copy, "id", Json::String(id.to_owned()));
                let at = end_of(snapshot, parent_id);
                snapshot.insert(at, copy);
                return Some(at);
            }
        }
    }
    let type_code = match field(&snapshot[parent_at], "type") {
        Some(Json::Array(ts)) if ts.len() == 1 => str_field(&ts[0], "code")?.to_owned(),
        _ => return None,
    };
    let name = last;
    let url = format!("http://hl7.org/fhir/StructureDefinition/{type_code}");
    let (pkg, res) = packages.by_url(&url)?;
    let type_sd = res.json(pkg.source()).ok()?;
    let Some(Json::Array(list)) = field(type_sd, "snapshot").and_then(|s| field(s, "element"))
    else {
        return None;
    };
    let wanted = format!("{type_code}.{name}");
    let mut copy = list
        .iter()
        .find(|e| str_field(e, "path") == Some(wanted.as_str()))?
        .clone();
    set(&mut copy, "id", Json::String(id.to_owned()));
    set(&mut copy, "path", Json::String(path.to_owned()));
    let at = end_of(snapshot, parent_id);
    snapshot.insert(at, copy);
    Some(at)
}

/// `a.b:s.c` → (`a.b:s`, `c`); `a.b:s` → (`a`, `b:s`).
fn split_last(id: &str) -> Option<(&str, &str)> {
    // The last `.` that is not inside a slice name (slice names may hold
    // dots, e.g. a url; ids use `/` there, but be lenient).
    let colon = id.rfind(':').unwrap_or(0);
    let dot = id.rfind('.')?;
    if dot > colon {
        Some((&id[..dot], &id[dot + 1..]))
    } else {
        let dot = id[..colon].rfind('.')?;
        Some((&id[..dot], &id[dot + 1..]))
    }
}

fn parent_prefix(parent_id: &str) -> String {
    format!("{parent_id}.")
}

/// The index after element `id`, its descendants and its slices.
fn end_of(snapshot: &[Json], id: &str) -> usize {
    let start = snapshot
        .iter()
        .position(|e| id_of(e) == id)
        .unwrap_or(snapshot.len());
    let mut at = start + 1;
    while at < snapshot.len() {
        let e = id_of(&snapshot[at]);
        let below = e
            .strip_prefix(id)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with(':'));
        if !below {
            break;
        }
        at += 1;
    }
    at.min(snapshot.len())
}

/// Applies the differential's properties to a snapshot element:
/// `constraint`s are appended, anything else replaces.
fn merge(target: &mut Json, d: &Json) {
    let Json::Object(props) = d else {
        return;
    };
    for (k, v) in props {
        match k.as_str() {
            "id" | "path" => {}
            "constraint" => {
                let mut list = match field(target, "constraint") {
                    Some(Json::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                if let Json::Array(add) = v {
                    list.extend(add.iter().cloned());
                }
                set(target, "constraint", Json::Array(list));
            }
            _ => {
                // A fixed or pattern value replaces any other of either kind.
                if k.starts_with("fixed") || k.starts_with("pattern") {
                    if let Json::Object(m) = target {
                        m.retain(|(key, _)| {
                            !(key.starts_with("fixed") || key.starts_with("pattern"))
                        });
                    }
                }
                set(target, k, v.clone());
            }
        }
    }
}

fn set(target: &mut Json, key: &str, value: Json) {
    if let Json::Object(m) = target {
        match m.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => m.push((key.to_owned(), value)),
        }
    }
}

fn remove(target: &mut Json, key: &str) {
    if let Json::Object(m) = target {
        m.retain(|(k, _)| k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Package;
    use fhir_model::json::tree;

    const BASE: &str = r#"{"resourceType":"StructureDefinition","id":"b","url":"http://x/b","type":"Patient",
      "snapshot":{"element":[
        {"id":"Patient","path":"Patient","min":0,"max":"*"},
        {"id":"Patient.identifier","path":"Patient.identifier","min":0,"max":"*","type":[{"code":"Identifier"}]},
        {"id":"Patient.name","path":"Patient.name","min":0,"max":"*","type":[{"code":"HumanName"}]}]}}"#;
    const IDENTIFIER: &str = r#"{"resourceType":"StructureDefinition","id":"Identifier",
      "url":"http://hl7.org/fhir/StructureDefinition/Identifier","type":"Identifier",
      "snapshot":{"element":[
        {"id":"Identifier","path":"Identifier","min":0,"max":"*"},
        {"id":"Identifier.system","path":"Identifier.system","min":0,"max":"1","type":[{"code":"uri"}]}]}}"#;
    const PROFILE: &str = r#"{"resourceType":"StructureDefinition","id":"p","url":"http://x/p","type":"Patient",
      "baseDefinition":"http://x/b","differential":{"element":[
        {"path":"Patient.identifier","slicing":{"rules":"open"},"min":1},
        {"path":"Patient.identifier","sliceName":"mrn","min":1,"max":"1"},
        {"path":"Patient.identifier.system","fixedUri":"urn:mrn"},
        {"path":"Patient.name","max":"1","constraint":[{"key":"x-1"}]}]}}"#;

    fn set_of(files: &[&str]) -> PackageSet {
        let mut set = PackageSet::new();
        let files = files
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("r{i}.json"), f.as_bytes().to_vec()));
        set.add(Package::from_resources("t", "1", files).expect("package"));
        set
    }

    #[test]
    fn differential_over_base_with_slice_and_type_child() {
        let set = set_of(&[BASE, IDENTIFIER, PROFILE]);
        let sd = tree::parse(PROFILE.as_bytes()).expect("json");
        let els = elements(&set, &sd).expect("snapshot");
        let ids: Vec<&str> = els.iter().map(id_of).collect();
        assert_eq!(
            ids,
            [
                "Patient",
                "Patient.identifier",
                "Patient.identifier:mrn",
                "Patient.identifier:mrn.system",
                "Patient.name"
            ]
        );
        assert!(matches!(field(&els[1], "min"), Some(Json::Number(n)) if n == "1"));
        assert!(field(&els[1], "slicing").is_some());
        assert!(field(&els[2], "slicing").is_none());
        assert_eq!(str_field(&els[2], "sliceName"), Some("mrn"));
        assert_eq!(str_field(&els[3], "fixedUri"), Some("urn:mrn"));
        assert_eq!(
            str_field(&els[3], "path"),
            Some("Patient.identifier.system")
        );
        assert_eq!(str_field(&els[4], "max"), Some("1"));
        assert!(matches!(field(&els[4], "constraint"), Some(Json::Array(a)) if a.len() == 1));
    }

    #[test]
    fn a_child_of_a_backbone_slice_is_copied_from_the_sliced_element() {
        let base = r#"{"resourceType":"StructureDefinition","id":"o","url":"http://x/o","type":"Observation",
          "snapshot":{"element":[
            {"id":"Observation","path":"Observation","min":0,"max":"*"},
            {"id":"Observation.referenceRange","path":"Observation.referenceRange","min":0,"max":"*","type":[{"code":"BackboneElement"}]},
            {"id":"Observation.referenceRange.type","path":"Observation.referenceRange.type","min":0,"max":"1","type":[{"code":"CodeableConcept"}]}]}}"#;
        let profile = r#"{"resourceType":"StructureDefinition","id":"q","url":"http://x/q","type":"Observation",
          "baseDefinition":"http://x/o","differential":{"element":[
            {"id":"Observation.referenceRange","path":"Observation.referenceRange","slicing":{"rules":"open"}},
            {"id":"Observation.referenceRange:s","path":"Observation.referenceRange","sliceName":"s"},
            {"id":"Observation.referenceRange:s.type","path":"Observation.referenceRange.type","min":1,
             "patternCodeableConcept":{"text":"x"}}]}}"#;
        let set = set_of(&[base, profile]);
        let sd = tree::parse(profile.as_bytes()).expect("json");
        let els = elements(&set, &sd).expect("snapshot");
        let e = els
            .iter()
            .find(|e| id_of(e) == "Observation.referenceRange:s.type")
            .expect("slice child");
        assert_eq!(
            str_field(e, "path"),
            Some("Observation.referenceRange.type")
        );
        assert!(field(e, "patternCodeableConcept").is_some());
        assert!(matches!(field(e, "type"), Some(Json::Array(t)) if t.len() == 1));
    }

    #[test]
    fn a_type_specific_choice_name_becomes_a_type_slice() {
        let base = r#"{"resourceType":"StructureDefinition","id":"o","url":"http://x/o","type":"Observation",
          "snapshot":{"element":[
            {"id":"Observation","path":"Observation","min":0,"max":"*"},
            {"id":"Observation.value[x]","path":"Observation.value[x]","min":0,"max":"1",
             "type":[{"code":"Quantity"},{"code":"string"}]}]}}"#;
        let profile = r#"{"resourceType":"StructureDefinition","id":"q","url":"http://x/q","type":"Observation",
          "baseDefinition":"http://x/o","differential":{"element":[
            {"path":"Observation.valueQuantity","minValueQuantity":{"value":0,"code":"kg"}}]}}"#;
        let set = set_of(&[base, profile]);
        let sd = tree::parse(profile.as_bytes()).expect("json");
        let els = elements(&set, &sd).expect("snapshot");
        let ids: Vec<&str> = els.iter().map(id_of).collect();
        assert_eq!(
            ids,
            [
                "Observation",
                "Observation.value[x]",
                "Observation.value[x]:valueQuantity"
            ]
        );
        assert!(field(&els[1], "slicing").is_some());
        assert_eq!(str_field(&els[2], "path"), Some("Observation.value[x]"));
        assert!(matches!(field(&els[2], "type"), Some(Json::Array(t)) if t.len() == 1));
        assert!(field(&els[2], "minValueQuantity").is_some());
    }

    #[test]
    fn missing_base_gives_none() {
        let set = set_of(&[PROFILE]);
        let sd = tree::parse(PROFILE.as_bytes()).expect("json");
        assert!(elements(&set, &sd).is_none());
    }
}
