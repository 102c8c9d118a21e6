//! The terminology functions (R4 fhirpath.html#functions): `memberOf`,
//! `subsumes`, `subsumedBy`, answered by the caller's terminology service
//! (empty when there is none, or when it does not know).

use fhir_model::json::tree::Value as Json;

use super::{arg_string, boolean, unreachable_family, Call, Func};
use crate::error::Error;
use crate::value::{fhir_is, Collection, Item, Node};

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    Ok(match f {
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
            any_known(
                codes
                    .iter()
                    .map(|(system, code)| term.member_of(system.as_deref(), code, &vs)),
            )
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
            // Codings of one system only: subsumption does not cross
            // systems.
            let pairs = mine.iter().flat_map(|(sa, ca)| {
                theirs.iter().filter_map(move |(sb, cb)| match (sa, sb) {
                    (Some(sa), Some(sb)) if sa == sb => Some((sa, ca, cb)),
                    _ => None,
                })
            });
            any_known(pairs.map(|(system, ca, cb)| {
                if f == Func::Subsumes {
                    term.subsumes(system, ca, cb)
                } else {
                    term.subsumes(system, cb, ca)
                }
            }))
        }
        _ => return Err(unreachable_family(f)),
    })
}

/// `true` at the first answer that is; else `false` if any answer was
/// known, else empty (the terminology service knew none of the codes).
fn any_known<'a>(answers: impl Iterator<Item = Option<bool>>) -> Collection<'a> {
    let mut known = false;
    for answer in answers {
        match answer {
            Some(true) => return boolean(true),
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
