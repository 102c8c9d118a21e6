//! Combining: `union` (without duplicates) and `combine` (with).

use super::{arg, unreachable_family, Func};
use crate::ast::{Ast, TypeSpec};
use crate::error::Error;
use crate::eval::{Eval, Frame};
use crate::value::Collection;

pub fn call<'a>(
    ev: &Eval<'_, 'a>,
    f: Func,
    mut input: Collection<'a>,
    args: &[Ast],
    _ty: Option<&TypeSpec>,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
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
