//! `aggregate(aggregator [, init])`: folds the input with `$total`.

use super::{arg, unreachable_family, Call};
use crate::error::Error;
use crate::value::Collection;

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
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
