//! Tree navigation: `children()` and `descendants()`.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta;

use super::{unreachable_family, Call, Func};
use crate::error::{eval_err, Error};
use crate::eval::Eval;
use crate::model::upper_first;
use crate::value::{Collection, Item};

/// `descendants()` stops here, far beyond any real resource.
const MAX_DESCENDANTS: usize = crate::value::MAX_ITEMS;

/// The element names present in a node, in document order.
fn child_names(item: &Item) -> Vec<String> {
    let Item::Node(n) = item else {
        return Vec::new();
    };
    let obj = if n.is_primitive() {
        match n.ext {
            Some(Json::Object(m)) => m,
            _ => return Vec::new(),
        }
    } else {
        match n.object() {
            Some(m) => m,
            None => return Vec::new(),
        }
    };
    let info = meta::type_info(n.ty);
    let mut names: Vec<String> = Vec::new();
    for (k, _) in obj {
        if k == "resourceType" || k == "fhir_comments" {
            continue;
        }
        let k = k.strip_prefix('_').unwrap_or(k);
        let name = match info {
            Some(info) if info.element(k).is_none() => info
                .elements
                .iter()
                .filter(|e| e.choice)
                .find(|e| {
                    k.strip_prefix(e.name)
                        .is_some_and(|s| e.types.iter().any(|t| upper_first(t) == s))
                })
                .map(|e| e.name.to_owned())
                .unwrap_or_else(|| k.to_owned()),
            _ => k.to_owned(),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

pub fn children<'a>(ev: &Eval<'_, 'a>, input: &[Item<'a>]) -> Result<Collection<'a>, Error> {
    let mut out = Vec::new();
    for item in input {
        for name in child_names(item) {
            // Lenient lookup: the names come from the data itself.
            let _ = ev.child_lenient(item, &name, &mut out);
        }
    }
    Ok(out)
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f) = (c.ev, c.f);
    match f {
        Func::Children => children(ev, &input),
        Func::Descendants => {
            let mut out = Vec::new();
            let mut level = children(ev, &input)?;
            while !level.is_empty() {
                let next = children(ev, &level)?;
                out.extend(level);
                if out.len() > MAX_DESCENDANTS {
                    return eval_err("descendants() produced too many items");
                }
                level = next;
            }
            Ok(out)
        }
        _ => Err(unreachable_family(f)),
    }
}
