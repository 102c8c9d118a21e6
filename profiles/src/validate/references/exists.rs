//! With [`crate::validate::Policy::check_references_exist`] (the HL7 validator's
//! `validateReference: CHECK_EXISTS`), a literal reference must name a
//! resource the validator can see: one in the enclosing Bundle (by
//! fullUrl, or by type and id), one carried by the enclosing Parameters
//! (parameters.html: a parameter's resource may reference another one),
//! or the resource itself. Contained references (`#id`) are ref-1's;
//! absolute URLs that do not end in `Type/id` are not FHIR resource
//! references and are left alone. Off by default: a server checks
//! existence against its store, not against the payload.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use crate::json::{field, resource_type, str_field};
use crate::validate::base::children::children;
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

const MAX_DEPTH: usize = 128;

/// Where a reference may find its target.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Bundle(&'a Json),
    Parameters(&'a Json),
    Resource(&'a Json),
}

/// Checks every reference in `resource` (at `location`).
pub fn check(resource: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(ty) = resource_type(resource) else {
        return;
    };
    let mut scopes = Vec::new();
    walk_resource(resource, ty, location, &mut scopes, issues, 0);
}

fn walk_resource<'a>(
    r: &'a Json,
    ty: &str,
    location: &str,
    scopes: &mut Vec<Scope<'a>>,
    issues: &mut Vec<Issue>,
    depth: usize,
) {
    let scope = match ty {
        "Bundle" => Scope::Bundle(r),
        "Parameters" => Scope::Parameters(r),
        _ => Scope::Resource(r),
    };
    scopes.push(scope);
    walk(r, ty, location, scopes, issues, depth);
    scopes.pop();
}

fn walk<'a>(
    v: &'a Json,
    ty: &str,
    location: &str,
    scopes: &mut Vec<Scope<'a>>,
    issues: &mut Vec<Issue>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let (Some(info), Json::Object(_)) = (meta::type_info(ty), v) else {
        return;
    };
    if ty == "Reference" {
        if let Some(reference) = str_field(v, "reference") {
            if let Some((t, id)) = target(reference) {
                if !scopes.iter().any(|s| finds(*s, reference, t, id)) {
                    issues.push(Issue::new(
                        Severity::Error,
                        IssueType::NotFound,
                        location,
                        format!("Unable to resolve resource with reference '{reference}'"),
                    ));
                }
            }
        }
    }
    for child in children(info, v, location) {
        let (t, item, loc) = (child.ty, child.value, child.location);
        if t == "Resource" {
            if let Some(rt) = resource_type(item) {
                walk_resource(item, rt, &loc, scopes, issues, depth + 1);
            }
        } else if matches!(item, Json::Object(_))
            && meta::type_info(t).is_some_and(|x| x.kind != Kind::Resource)
        {
            walk(item, t, &loc, scopes, issues, depth + 1);
        }
    }
}

/// The `Type/id` a reference names, when it is a resource reference
/// (relative, or an absolute URL ending in `Type/id[/_history/v]`).
fn target(reference: &str) -> Option<(&str, &str)> {
    if reference.starts_with('#') || reference.contains('?') {
        return None;
    }
    let mut parts: Vec<&str> = reference.split('/').collect();
    if parts.len() >= 4 && parts[parts.len() - 2] == "_history" {
        parts.truncate(parts.len() - 2);
    }
    let id = *parts.last()?;
    let t = *parts.get(parts.len().checked_sub(2)?)?;
    fhir_model::ResourceType::parse(t)?;
    let relative = !reference.contains(':');
    (!relative || parts.len() == 2).then_some((t, id))
}

fn is(r: &Json, t: &str, id: &str) -> bool {
    resource_type(r) == Some(t) && str_field(r, "id") == Some(id)
}

fn finds(scope: Scope<'_>, reference: &str, t: &str, id: &str) -> bool {
    match scope {
        Scope::Resource(r) => is(r, t, id),
        Scope::Bundle(b) => {
            is(b, t, id)
                || match field(b, "entry") {
                    Some(Json::Array(entries)) => entries.iter().any(|e| {
                        str_field(e, "fullUrl") == Some(reference)
                            || field(e, "resource").is_some_and(|r| is(r, t, id))
                    }),
                    _ => false,
                }
        }
        Scope::Parameters(p) => is(p, t, id) || in_parameters(p, t, id, 0),
    }
}

fn in_parameters(v: &Json, t: &str, id: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let list = field(v, "parameter").or_else(|| field(v, "part"));
    let Some(Json::Array(list)) = list else {
        return false;
    };
    list.iter().any(|p| {
        field(p, "resource").is_some_and(|r| is(r, t, id))
            || (field(p, "part").is_some() && in_parameters(p, t, id, depth + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn run(json: &str) -> Vec<String> {
        let v = tree::parse(json.as_bytes()).expect("json");
        let mut issues = Vec::new();
        check(&v, "Parameters", &mut issues);
        issues.into_iter().map(|i| i.expression).collect()
    }

    #[test]
    fn references_inside_parameters() {
        let good = r##"{"resourceType":"Parameters","parameter":[
            {"name":"p","resource":{"resourceType":"Patient","id":"1"}},
            {"name":"c","resource":{"resourceType":"Coverage","id":"c","beneficiary":{"reference":"Patient/1"},
              "contained":[{"resourceType":"Organization","id":"o","endpoint":[{"reference":"http://x.org/fhir"}]}],
              "payor":[{"reference":"#o"}]}}]}"##;
        assert!(run(good).is_empty(), "{:?}", run(good));
        let bad = good.replace("\"Patient/1\"", "\"Patient/2\"");
        assert_eq!(run(&bad), ["Parameters.parameter[1].resource.beneficiary"]);
    }
}
