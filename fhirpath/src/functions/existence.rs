//! Existence: `empty`, `exists`, `all`, `allTrue`, …, `count`, `distinct`.

use super::{arg, boolean, lambda, unreachable_family, Call, Func};
use crate::error::{eval_err, Error};
use crate::eval::to_bool;
use crate::value::{equals, Collection, Item};

fn contains(c: &[Item], x: &Item) -> bool {
    c.iter().any(|y| equals(x, y) == Some(true))
}

fn bools(input: &[Item]) -> Result<Vec<bool>, Error> {
    input
        .iter()
        .map(|i| match i.system() {
            Some(Item::Boolean(b)) => Ok(b),
            _ => eval_err("expected booleans"),
        })
        .collect()
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    Ok(match f {
        Func::Empty => boolean(input.is_empty()),
        Func::Exists => match args.first() {
            None => boolean(!input.is_empty()),
            Some(crit) => {
                for (i, item) in input.iter().enumerate() {
                    if to_bool(&lambda(ev, crit, item, i, None)?)? == Some(true) {
                        return Ok(boolean(true));
                    }
                }
                boolean(false)
            }
        },
        Func::All => {
            let crit = args.first().ok_or_else(|| unreachable_family(f))?;
            for (i, item) in input.iter().enumerate() {
                if to_bool(&lambda(ev, crit, item, i, None)?)? != Some(true) {
                    return Ok(boolean(false));
                }
            }
            boolean(true)
        }
        Func::AllTrue => boolean(bools(&input)?.iter().all(|b| *b)),
        Func::AnyTrue => boolean(bools(&input)?.iter().any(|b| *b)),
        Func::AllFalse => boolean(bools(&input)?.iter().all(|b| !*b)),
        Func::AnyFalse => boolean(bools(&input)?.iter().any(|b| !*b)),
        Func::SubsetOf => {
            let other = arg(ev, args, 0, frame)?;
            boolean(input.iter().all(|x| contains(&other, x)))
        }
        Func::SupersetOf => {
            let other = arg(ev, args, 0, frame)?;
            boolean(other.iter().all(|x| contains(&input, x)))
        }
        Func::Count => vec![Item::Integer(input.len() as i64)],
        Func::Distinct => crate::eval::union(input, Vec::new())?,
        Func::IsDistinct => {
            let n = input.len();
            boolean(crate::eval::union(input, Vec::new())?.len() == n)
        }
        _ => return Err(unreachable_family(f)),
    })
}
