//! Math (fhirpath.html#math): `abs`, `ceiling`, `exp`, `floor`, `ln`,
//! `log`, `power`, `round`, `sqrt`, `truncate`. The precision functions
//! are in [`super::precision`].

use super::{arg, arg_int, unreachable_family, Call, Func};
use crate::decimal::Decimal;
use crate::error::{eval_err, Error};
use crate::eval::singleton_system;
use crate::value::{to_dec, Collection, Item};

fn float_result<'a>(f: f64) -> Collection<'a> {
    Decimal::from_f64(f)
        .map(Item::Decimal)
        .into_iter()
        .collect()
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let Some(v) = singleton_system(&input)? else {
        return Ok(Vec::new());
    };
    let Some(d) = to_dec(&v) else {
        if let Item::Quantity(q) = &v {
            if f == Func::Abs {
                let mut q = q.clone();
                q.value = q.value.abs();
                return Ok(vec![Item::Quantity(q)]);
            }
        }
        return eval_err(format!("{f:?} needs a number, found {}", v.type_name()));
    };
    let int = matches!(v, Item::Integer(_));
    let x = d.to_f64();
    Ok(match f {
        Func::Abs => vec![if int {
            Item::Integer(d.to_i64().unwrap_or(0).saturating_abs())
        } else {
            Item::Decimal(d.abs())
        }],
        Func::Ceiling => d
            .ceiling()
            .to_i64()
            .map(Item::Integer)
            .into_iter()
            .collect(),
        Func::Floor => d.floor().to_i64().map(Item::Integer).into_iter().collect(),
        Func::Truncate => d
            .truncate()
            .to_i64()
            .map(Item::Integer)
            .into_iter()
            .collect(),
        Func::Round => {
            let p = arg_int(ev, args, 0, frame)?.unwrap_or(0);
            if p < 0 {
                return eval_err("round() precision must not be negative");
            }
            vec![Item::Decimal(d.round(p.min(28) as u32))]
        }
        Func::Exp => float_result(x.exp()),
        Func::Ln => {
            if x <= 0.0 {
                Vec::new()
            } else {
                float_result(x.ln())
            }
        }
        Func::Sqrt => {
            if x < 0.0 {
                Vec::new()
            } else {
                float_result(x.sqrt())
            }
        }
        Func::Log => {
            let Some(base) = singleton_system(&arg(ev, args, 0, frame)?)?.and_then(|b| to_dec(&b))
            else {
                return Ok(Vec::new());
            };
            if x <= 0.0 {
                Vec::new()
            } else {
                float_result(x.ln() / base.to_f64().ln())
            }
        }
        Func::Power => {
            let Some(e) = singleton_system(&arg(ev, args, 0, frame)?)? else {
                return Ok(Vec::new());
            };
            match (&v, &e) {
                (Item::Integer(b), Item::Integer(n)) if *n >= 0 => u32::try_from(*n)
                    .ok()
                    .and_then(|n| b.checked_pow(n))
                    .map(Item::Integer)
                    .into_iter()
                    .collect(),
                _ => {
                    let Some(ed) = to_dec(&e) else {
                        return eval_err("power() needs a number");
                    };
                    let r = x.powf(ed.to_f64());
                    if r.is_nan() {
                        Vec::new()
                    } else {
                        float_result(r)
                    }
                }
            }
        }
        _ => return Err(unreachable_family(f)),
    })
}
