//! The FHIR additions to FHIRPath (R4 fhirpath.html#functions) on
//! elements: `extension`, `hasValue`, `getValue`, `conformsTo`,
//! `checkModifiers`, `htmlChecks`. `resolve()` is [`super::resolve`];
//! `memberOf`, `subsumes` and `subsumedBy` are [`super::terminology`].

use fhir_model::meta;

use super::{arg_string, boolean, unreachable_family, Call, Func};
use crate::error::{eval_err, Error};
use crate::value::{fhir_is, Collection, Item};

const CORE_SD: &str = "http://hl7.org/fhir/StructureDefinition/";

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
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
