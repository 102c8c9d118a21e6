//! The precision functions of FHIRPath N1 (fhirpath.html#functions):
//! `precision`, `lowBoundary`, `highBoundary`, and `comparable` for
//! quantities.

use super::{arg, arg_int, boolean, unreachable_family, Call, Func};
use crate::datetime::{Temporal, DAY, HOUR, MILLI, MINUTE, MONTH, SECOND, YEAR};
use crate::decimal::Decimal;
use crate::error::Error;
use crate::eval::singleton_system;
use crate::value::{to_dec, Collection, Item};

/// The most digits a decimal boundary may have.
const MAX_PRECISION: i64 = 28;

fn dec_boundary(v: &Decimal, p: i64, high: bool) -> Option<Decimal> {
    if !(0..=MAX_PRECISION).contains(&p) {
        return None;
    }
    let p = p as u32;
    let half = Decimal {
        mantissa: 5,
        scale: v.scale + 1,
    };
    let b = if high { v.add(&half)? } else { v.sub(&half)? };
    if b.scale <= p {
        let f = 10i128.checked_pow(p - b.scale)?;
        return Some(Decimal {
            mantissa: b.mantissa.checked_mul(f)?,
            scale: p,
        });
    }
    let f = 10i128.checked_pow(b.scale - p)?;
    let mut q = b.mantissa / f;
    let rem = b.mantissa % f;
    if rem != 0 {
        if high && b.mantissa > 0 {
            q += 1;
        } else if !high && b.mantissa < 0 {
            q -= 1;
        }
    }
    Some(Decimal {
        mantissa: q,
        scale: p,
    })
}

fn level(digits: i64, time: bool) -> Option<u8> {
    Some(if time {
        match digits {
            2 => HOUR,
            4 => MINUTE,
            6 => SECOND,
            9 => MILLI,
            _ => return None,
        }
    } else {
        match digits {
            4 => YEAR,
            6 => MONTH,
            8 => DAY,
            10 => HOUR,
            12 => MINUTE,
            14 => SECOND,
            17 => MILLI,
            _ => return None,
        }
    })
}

fn temporal_boundary(t: &Temporal, target: u8, high: bool, datetime: bool) -> Temporal {
    let mut r = *t;
    // An hour alone is not a FHIR time: it is read as `hh:00` first.
    let p = if t.precision == HOUR {
        MINUTE
    } else {
        t.precision
    };
    if p < MONTH {
        r.month = if high { 12 } else { 1 };
    }
    if p < DAY {
        r.day = if high { r.days_in_month() } else { 1 };
    }
    if p < HOUR {
        r.hour = if high { 23 } else { 0 };
    }
    if p < MINUTE {
        r.minute = if high { 59 } else { 0 };
    }
    if p < SECOND {
        r.second = if high { 59 } else { 0 };
    }
    if p < MILLI {
        r.millis = if high { 999 } else { 0 };
    }
    r.precision = target;
    if datetime && target >= HOUR && r.tz.is_none() {
        r.tz = Some(if high { -12 * 60 } else { 14 * 60 });
    }
    if target <= DAY {
        r.tz = None;
    }
    r
}

fn precision_of(i: &Item) -> Option<i64> {
    Some(match i {
        Item::Decimal(d) => i64::from(d.scale),
        Item::Integer(_) => 0,
        Item::Date(t) | Item::DateTime(t) => match t.precision {
            YEAR => 4,
            MONTH => 6,
            DAY => 8,
            HOUR => 10,
            MINUTE => 12,
            SECOND => 14,
            _ => 17,
        },
        Item::Time(t) => match t.precision {
            HOUR => 2,
            MINUTE => 4,
            SECOND => 6,
            _ => 9,
        },
        _ => return None,
    })
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let Some(v) = singleton_system(&input)? else {
        return Ok(Vec::new());
    };
    if matches!(f, Func::LowBoundary | Func::HighBoundary) {
        let high = f == Func::HighBoundary;
        let p = if args.is_empty() {
            None
        } else {
            match arg_int(ev, args, 0, frame)? {
                Some(p) => Some(p),
                None => return Ok(Vec::new()),
            }
        };
        let one = |i: Option<Item<'a>>| -> Collection<'a> { i.into_iter().collect() };
        return Ok(match &v {
            Item::Integer(_) | Item::Decimal(_) => {
                let d = to_dec(&v).unwrap_or(Decimal::from_int(0));
                one(dec_boundary(&d, p.unwrap_or(8), high).map(Item::Decimal))
            }
            Item::Quantity(q) => one(dec_boundary(&q.value, p.unwrap_or(8), high).map(|d| {
                let mut q = q.clone();
                q.value = d;
                Item::Quantity(q)
            })),
            Item::Date(t) => one(level(p.unwrap_or(8), false)
                .filter(|l| *l <= DAY)
                .map(|l| Item::Date(temporal_boundary(t, l, high, false)))),
            Item::DateTime(t) => one(level(p.unwrap_or(17), false)
                .map(|l| Item::DateTime(temporal_boundary(t, l, high, true)))),
            Item::Time(t) => one(level(p.unwrap_or(9), true).map(|l| {
                let mut r = temporal_boundary(t, l, high, false);
                r.tz = None;
                Item::Time(r)
            })),
            _ => Vec::new(),
        });
    }
    if f == Func::Precision {
        return Ok(precision_of(&v).map(Item::Integer).into_iter().collect());
    }
    if f == Func::Comparable {
        let other = singleton_system(&arg(ev, args, 0, frame)?)?;
        return Ok(match (&v, other) {
            (Item::Quantity(a), Some(Item::Quantity(b))) => boolean(a.compare(&b).is_some()),
            _ => Vec::new(),
        });
    }
    Err(unreachable_family(f))
}
