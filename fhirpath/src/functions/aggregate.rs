//! `aggregate(aggregator [, init])`: folds the input with `$total`.

use super::{arg, unreachable_family, Func};
use crate::ast::{Ast, TypeSpec};
use crate::error::Error;
use crate::eval::{Eval, Frame};
use crate::value::Collection;

pub fn call<'a>(
    ev: &Eval<'_, 'a>,
    f: Func,
    input: Collection<'a>,
    args: &[Ast],
    _ty: Option<&TypeSpec>,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    let agg = args.first().ok_or_else(|| unreachable_family(f))?;
    let mut total = if args.len() > 1 {
        arg(ev, args, 1, frame)?
    } else {
        Vec::new()
    };
    for (i, item) in input.iter().enumerate() {
        total = super::lambda(ev, agg, item, i, Some(&total))?;
    }
    Ok(total)
}
