//! The FHIR additions to FHIRPath (R4 fhirpath.html#functions):
//! `extension`, `hasValue`, `getValue`, `resolve`, `memberOf`,
//! `conformsTo`, `htmlChecks`.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta;

use super::{arg_string, boolean, unreachable_family, Func};
use crate::ast::{Ast, TypeSpec};
use crate::error::{eval_err, Error};
use crate::eval::{Eval, Frame};
use crate::value::{fhir_is, Collection, Item, Node};

const CORE_SD: &str = "http://hl7.org/fhir/StructureDefinition/";

pub fn call<'a>(
    ev: &Eval<'_, 'a>,
    f: Func,
    input: Collection<'a>,
    args: &[Ast],
    _ty: Option<&TypeSpec>,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    Ok(match f {
        Func::Extension => {
            let Some(url) = arg_string(ev, args, 0, frame)? else {
                return Ok(Vec::new());
            };
            let mut exts = Vec::new();
            for item in &input {
                ev.child(item, "extension", &mut exts)?;
            }
            exts.into_iter()
                .filter(|e| matches!(e, Item::Node(n) if n.str_field("url") == Some(url.as_str())))
                .collect()
        }
        Func::HasValue => match input.as_slice() {
            [Item::Node(n)] => boolean(n.is_primitive() && n.value.is_some()),
            [_] => boolean(true),
            _ => boolean(false),
        },
        Func::GetValue => match input.as_slice() {
            [item @ Item::Node(n)] if n.is_primitive() => item.system().into_iter().collect(),
            _ => Vec::new(),
        },
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
        Func::MemberOf => {
            let Some(vs) = arg_string(ev, args, 0, frame)? else {
                return Ok(Vec::new());
            };
            let Some(term) = ev.ctx.terminology else {
                return Ok(Vec::new());
            };
            let Some(item) = input.first() else {
                return Ok(Vec::new());
            };
            let codes = codes_of(item);
            let mut known = false;
            for (system, code) in &codes {
                match term.member_of(system.as_deref(), code, &vs) {
                    Some(true) => return Ok(boolean(true)),
                    Some(false) => known = true,
                    None => {}
                }
            }
            if known {
                boolean(false)
            } else {
                Vec::new()
            }
        }
        Func::ConformsTo => {
            let Some(url) = arg_string(ev, args, 0, frame)? else {
                return Ok(Vec::new());
            };
            let Some(ty) = url.strip_prefix(CORE_SD) else {
                return eval_err(format!("unknown profile {url}"));
            };
            if meta::type_info(ty).is_none() {
                return eval_err(format!("unknown profile {url}"));
            }
            match input.as_slice() {
                [] => Vec::new(),
                [Item::Node(n)] => boolean(fhir_is(n.ty, ty)),
                [_] => boolean(false),
                _ => return eval_err("conformsTo() on more than one item"),
            }
        }
        Func::Subsumes | Func::SubsumedBy => {
            let Some(term) = ev.ctx.terminology else {
                return Ok(Vec::new());
            };
            let other = super::arg(ev, args, 0, frame)?;
            let (Some(a), Some(b)) = (input.first(), other.first()) else {
                return Ok(Vec::new());
            };
            let (mine, theirs) = (codes_of(a), codes_of(b));
            let mut known = false;
            for (sa, ca) in &mine {
                for (sb, cb) in &theirs {
                    let (Some(sa), Some(sb)) = (sa, sb) else {
                        continue;
                    };
                    if sa != sb {
                        continue;
                    }
                    let r = if f == Func::Subsumes {
                        term.subsumes(sa, ca, cb)
                    } else {
                        term.subsumes(sa, cb, ca)
                    };
                    match r {
                        Some(true) => return Ok(boolean(true)),
                        Some(false) => known = true,
                        None => {}
                    }
                }
            }
            if known {
                boolean(false)
            } else {
                Vec::new()
            }
        }
        Func::CheckModifiers => {
            // The input passes through unless it carries a modifier
            // extension not named in the arguments (R4 fhirpath.html).
            let mut allowed = Vec::new();
            for i in 0..args.len() {
                if let Some(u) = arg_string(ev, args, i, frame)? {
                    allowed.push(u);
                }
            }
            for item in &input {
                let mut mods = Vec::new();
                ev.child_lenient(item, "modifierExtension", &mut mods)?;
                for m in &mods {
                    if let Item::Node(n) = m {
                        let url = n.str_field("url").unwrap_or_default();
                        if !allowed.iter().any(|a| a == url) {
                            return eval_err(format!("unknown modifier extension {url}"));
                        }
                    }
                }
            }
            input
        }
        Func::HtmlChecks => match input.as_slice() {
            [] => Vec::new(),
            [item] => match item.as_str() {
                Some(s) => boolean(html_ok(&s)),
                None => boolean(false),
            },
            _ => return eval_err("htmlChecks() on more than one item"),
        },
        _ => return Err(unreachable_family(f)),
    })
}

/// txt-1, the narrative rules of R4 (narrative.html#xhtml): the one check
/// the model reads every narrative with (a `div` in the XHTML namespace,
/// well-formed, only basic XHTML: no scripts, forms, event handlers or
/// `javascript:` links).
fn html_ok(s: &str) -> bool {
    fhir_model::xhtml::check(s).is_ok()
}

/// (system, code) pairs of a code, Coding or CodeableConcept.
fn codes_of(item: &Item) -> Vec<(Option<String>, String)> {
    match item {
        Item::Node(n) if fhir_is(n.ty, "Coding") => n
            .str_field("code")
            .map(|c| vec![(n.str_field("system").map(str::to_owned), c.to_owned())])
            .unwrap_or_default(),
        Item::Node(n) if fhir_is(n.ty, "CodeableConcept") => match n.field("coding") {
            Some(Json::Array(cs)) => cs
                .iter()
                .filter_map(|c| {
                    let node = Node {
                        value: Some(c),
                        ext: None,
                        ty: "Coding",
                    };
                    node.str_field("code")
                        .map(|code| (node.str_field("system").map(str::to_owned), code.to_owned()))
                })
                .collect(),
            _ => Vec::new(),
        },
        other => other
            .as_str()
            .map(|s| vec![(None, s.into_owned())])
            .unwrap_or_default(),
    }
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
