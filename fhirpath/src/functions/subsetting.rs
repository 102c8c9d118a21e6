//! Subsetting: `single`, `first`, `last`, `tail`, `skip`, `take`,
//! `intersect`, `exclude`.

use super::{arg, arg_int, unreachable_family, Call, Func};
use crate::error::{eval_err, Error};
use crate::value::{equals, Collection};

pub fn call<'a>(c: Call<'_, 'a>, mut input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let count = |n: Option<i64>| usize::try_from(n.unwrap_or(0).max(0)).unwrap_or(0);
    Ok(match f {
        Func::Single => {
            if input.len() > 1 {
                return eval_err("single() on more than one item");
            }
            input
        }
        Func::First => input.into_iter().take(1).collect(),
        Func::Last => input.pop().into_iter().collect(),
        Func::Tail => input.into_iter().skip(1).collect(),
        Func::Skip => {
            let n = count(arg_int(ev, args, 0, frame)?);
            input.into_iter().skip(n).collect()
        }
        Func::Take => {
            let n = count(arg_int(ev, args, 0, frame)?);
            input.into_iter().take(n).collect()
        }
        Func::Intersect => {
            let other = arg(ev, args, 0, frame)?;
            let kept: Collection<'a> = input
                .into_iter()
                .filter(|x| other.iter().any(|y| equals(x, y) == Some(true)))
                .collect();
            crate::eval::union(kept, Vec::new())?
        }
        Func::Exclude => {
            let other = arg(ev, args, 0, frame)?;
            input
                .into_iter()
                .filter(|x| !other.iter().any(|y| equals(x, y) == Some(true)))
                .collect()
        }
        _ => return Err(unreachable_family(f)),
    })
}
