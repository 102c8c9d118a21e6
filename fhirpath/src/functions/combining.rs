//! Combining: `union` (without duplicates) and `combine` (with).

use super::{arg, unreachable_family, Call, Func};
use crate::error::Error;
use crate::value::Collection;

pub fn call<'a>(c: Call<'_, 'a>, mut input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let other = arg(ev, args, 0, frame)?;
    crate::value::check_size(input.len() + other.len())?;
    Ok(match f {
        Func::Union => crate::eval::union(input, other)?,
        Func::Combine => {
            input.extend(other);
            input
        }
        _ => return Err(unreachable_family(f)),
    })
}
