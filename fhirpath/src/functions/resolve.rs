//! `resolve()` (R4 fhirpath.html#functions): a reference to the resource
//! it names, found contained, in the enclosing Bundle, or through the
//! caller's resolver.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta;

use super::{unreachable_family, Call, Func};
use crate::error::Error;
use crate::eval::Eval;
use crate::value::{Collection, Item, Node};

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f) = (c.ev, c.f);
    Ok(match f {
        Func::Resolve => {
            let mut out = Vec::new();
            for item in &input {
                let reference = match item {
                    Item::Node(n) if !n.is_primitive() => {
                        n.str_field("reference").map(str::to_owned)
                    }
                    other => other.as_str().map(|s| s.into_owned()),
                };
                if let Some(r) = reference {
                    if let Some(found) = resolve(ev, &r) {
                        out.push(Item::Node(Node::resource(found)));
                    } else if ev.ctx.reference_types {
                        if let Some(ty) = reference_type(&r) {
                            out.push(Item::Node(Node {
                                value: None,
                                ext: None,
                                ty,
                            }));
                        }
                    }
                }
            }
            out
        }
        _ => return Err(unreachable_family(f)),
    })
}

/// Finds a referenced resource: contained (`#id`), in the enclosing
/// Bundle (by `fullUrl` or `Type/id`), then through the resolver.
fn resolve<'a>(ev: &Eval<'_, 'a>, reference: &str) -> Option<&'a Json> {
    let ctx = ev.ctx;
    if let Some(id) = reference.strip_prefix('#') {
        for res in [ctx.resource, ctx.root_resource].into_iter().flatten() {
            let node = Node::resource(res);
            if let Some(Json::Array(cs)) = node.field("contained") {
                if let Some(found) = cs
                    .iter()
                    .find(|c| Node::resource(c).str_field("id") == Some(id))
                {
                    return Some(found);
                }
            }
        }
        // Evaluated on a Bundle, a reference cannot say which entry holds
        // it; a contained resource of one entry (only one) is the target.
        return bundle_contained(ctx.resource, id);
    }
    for root in [ctx.root_resource, ctx.resource].into_iter().flatten() {
        let node = Node::resource(root);
        if node.ty != "Bundle" {
            continue;
        }
        let Some(Json::Array(entries)) = node.field("entry") else {
            continue;
        };
        for e in entries {
            let en = Node {
                value: Some(e),
                ext: None,
                ty: "BundleEntry",
            };
            let Some(res) = en.field("resource") else {
                continue;
            };
            if en.str_field("fullUrl") == Some(reference) {
                return Some(res);
            }
            let rn = Node::resource(res);
            if let Some(id) = rn.str_field("id") {
                let local = format!("{}/{id}", rn.ty);
                if reference == local || reference.ends_with(&format!("/{local}")) {
                    return Some(res);
                }
            }
        }
    }
    let r = ctx.resolver?;
    r.resolve(reference)
}

/// The resource with this id contained in exactly one entry of `bundle`.
fn bundle_contained<'a>(bundle: Option<&'a Json>, id: &str) -> Option<&'a Json> {
    let node = Node::resource(bundle?);
    if node.ty != "Bundle" {
        return None;
    }
    let Some(Json::Array(entries)) = node.field("entry") else {
        return None;
    };
    let mut found = entries.iter().filter_map(|e| {
        let en = Node {
            value: Some(e),
            ext: None,
            ty: "BundleEntry",
        };
        let res = Node::resource(en.field("resource")?);
        match res.field("contained") {
            Some(Json::Array(cs)) => cs
                .iter()
                .find(|c| Node::resource(c).str_field("id") == Some(id)),
            _ => None,
        }
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The resource type named by a reference `[base/]Type/id[/_history/v]`.
fn reference_type(reference: &str) -> Option<&'static str> {
    let path = reference.split(['?', '#']).next()?;
    let parts: Vec<&str> = path.split('/').collect();
    let at = match parts.iter().position(|p| *p == "_history") {
        Some(h) => h.checked_sub(2)?,
        None => parts.len().checked_sub(2)?,
    };
    let info = meta::type_info(parts.get(at)?)?;
    (info.kind == meta::Kind::Resource).then_some(info.name)
}
