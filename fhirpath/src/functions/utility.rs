//! Utility: `iif`, `trace`, `now`, `today`, `timeOfDay`, `not`, `type`,
//! `sort`.

use std::cmp::Ordering;

use super::{arg, arg_string, boolean, lambda, unreachable_family, Call, Func};
use crate::ast::Ast;
use crate::datetime::{Temporal, DAY, MILLI};
use crate::error::{eval_err, Error};
use crate::eval::{to_bool, Eval, Frame};
use crate::value::{compare, fhirpath_type_name, Collection, Item};

/// The current instant in UTC, with millisecond precision.
pub fn current_time() -> Temporal {
    let mut t = Temporal::parse_date("2000-01-01").unwrap_or_else(unreachable_date);
    t.set_fields(&chrono::Utc::now());
    t.precision = MILLI;
    t.tz = Some(0);
    t
}

fn unreachable_date() -> Temporal {
    Temporal {
        year: 2000,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        millis: 0,
        precision: DAY,
        tz: None,
        frac_digits: 0,
    }
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    Ok(match f {
        Func::Iif => {
            if input.len() > 1 {
                return eval_err("iif() on more than one item");
            }
            // `$this` in the branches is the input item when called on one.
            let this: &[Item<'a>] = if args.is_empty() { frame.this } else { &input };
            let inner = Frame {
                this: if input.is_empty() { frame.this } else { this },
                index: frame.index,
                total: frame.total,
            };
            let crit = arg(ev, args, 0, &inner)?;
            let cond = match crit.as_slice() {
                [] => None,
                [one] => match one.system() {
                    Some(Item::Boolean(b)) => Some(b),
                    _ => {
                        if ev.ctx.strict {
                            return Err(Error::Semantic("iif() criterion is not a boolean".into()));
                        }
                        Some(true)
                    }
                },
                _ => return eval_err("iif() criterion has more than one item"),
            };
            if cond == Some(true) {
                arg(ev, args, 1, &inner)?
            } else if args.len() > 2 {
                arg(ev, args, 2, &inner)?
            } else {
                Vec::new()
            }
        }
        Func::Trace => {
            // trace(name [, projection]) logs and passes its input through
            // (fhirpath.html#utility); the log is the server's, at debug.
            let name = arg_string(ev, args, 0, frame)?.unwrap_or_default();
            let mut shown = Vec::new();
            if args.len() > 1 {
                for (i, item) in input.iter().enumerate() {
                    shown.extend(lambda(ev, &args[1], item, i, None)?);
                }
            }
            if log::log_enabled!(log::Level::Debug) {
                let items = if args.len() > 1 { &shown } else { &input };
                log::debug!("FHIRPath trace {name}: {}", crate::result_json(items));
            }
            input
        }
        Func::Now => vec![Item::DateTime(ev.now())],
        Func::Today => {
            let mut t = ev.now();
            t.precision = DAY;
            t.tz = None;
            vec![Item::Date(t)]
        }
        Func::TimeOfDay => {
            let mut t = ev.now();
            t.tz = None;
            vec![Item::Time(t)]
        }
        Func::Not => match to_bool(&input)? {
            None => Vec::new(),
            Some(b) => boolean(!b),
        },
        Func::Type => input
            .iter()
            .map(|i| match i {
                Item::Node(n) => Item::TypeInfo("FHIR", fhirpath_type_name(n.ty).to_owned()),
                other => Item::TypeInfo("System", other.system_type().unwrap_or("Any").to_owned()),
            })
            .collect(),
        Func::Sort => sort(ev, input, args)?,
        _ => return Err(unreachable_family(f)),
    })
}

/// `sort(key, -key2, …)`: a leading `-` on a key sorts descending.
fn sort<'a>(
    ev: &Eval<'_, 'a>,
    input: Collection<'a>,
    args: &[Ast],
) -> Result<Collection<'a>, Error> {
    let mut keyed: Vec<(Vec<Collection<'a>>, Item<'a>)> = Vec::with_capacity(input.len());
    for (i, item) in input.into_iter().enumerate() {
        let mut keys = Vec::new();
        if args.is_empty() {
            keys.push(vec![item.clone()]);
        }
        for a in args {
            let expr = match a {
                Ast::Neg(inner) => inner.as_ref(),
                other => other,
            };
            keys.push(lambda(ev, expr, &item, i, None)?);
        }
        keyed.push((keys, item));
    }
    let desc: Vec<bool> = if args.is_empty() {
        vec![false]
    } else {
        args.iter().map(|a| matches!(a, Ast::Neg(_))).collect()
    };
    keyed.sort_by(|(ka, _), (kb, _)| {
        for (i, (a, b)) in ka.iter().zip(kb).enumerate() {
            // Empty keys sort first in either direction.
            let rev = desc.get(i).copied().unwrap_or(false);
            let o = match (a.first(), b.first()) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => {
                    let o = compare(x, y).ok().flatten().unwrap_or(Ordering::Equal);
                    if rev {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(keyed.into_iter().map(|(_, i)| i).collect())
}
