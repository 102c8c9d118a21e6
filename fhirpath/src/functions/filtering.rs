//! Filtering and projection: `where`, `select`, `repeat`, `ofType`, and
//! the function forms of `is` and `as`.

use super::{lambda, unreachable_family, Call, Func};
use crate::error::{eval_err, Error};
use crate::eval::{is_type, is_type_exact, to_bool};
use crate::value::{equals, Collection};

/// `repeat()` stops here: a guard against cycles that equality cannot
/// see and against exponential blow-up.
const MAX_REPEAT: usize = crate::value::MAX_COMPARED;

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, ty) = (c.ev, c.f, c.args, c.ty);
    let need_ty = || ty.ok_or_else(|| Error::Semantic(format!("{f:?} needs a type")));
    Ok(match f {
        Func::Where => {
            let crit = args.first().ok_or_else(|| unreachable_family(f))?;
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                if to_bool(&lambda(ev, crit, item, i, None)?)? == Some(true) {
                    out.push(item.clone());
                }
            }
            out
        }
        Func::Select => {
            let proj = args.first().ok_or_else(|| unreachable_family(f))?;
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(lambda(ev, proj, item, i, None)?);
                crate::value::check_size(out.len())?;
            }
            out
        }
        Func::Repeat => {
            let proj = args.first().ok_or_else(|| unreachable_family(f))?;
            let mut out: Collection<'a> = Vec::new();
            let mut queue = input;
            while !queue.is_empty() {
                let mut next = Vec::new();
                for (i, item) in queue.iter().enumerate() {
                    for r in lambda(ev, proj, item, i, None)? {
                        if !out.iter().any(|o| equals(o, &r) == Some(true)) {
                            out.push(r.clone());
                            next.push(r);
                        }
                    }
                    if out.len() > MAX_REPEAT {
                        return eval_err("repeat() produced too many items");
                    }
                }
                queue = next;
            }
            out
        }
        Func::OfType | Func::As => {
            let ty = need_ty()?;
            if f == Func::As && input.len() > 1 {
                return eval_err("as() needs a single item");
            }
            input.into_iter().filter(|i| is_type_exact(i, ty)).collect()
        }
        Func::Is => {
            let ty = need_ty()?;
            match input.as_slice() {
                [] => Vec::new(),
                [one] => super::boolean(is_type(one, ty)),
                _ => return eval_err("is() needs a single item"),
            }
        }
        _ => return Err(unreachable_family(f)),
    })
}
