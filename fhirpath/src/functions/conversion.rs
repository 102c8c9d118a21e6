//! Conversion: `toBoolean`, `toInteger`, `toDecimal`, `toString`,
//! `toDate`, `toDateTime`, `toTime`, `toQuantity` and their `convertsTo*`
//! companions (fhirpath.html#conversion).

use super::{arg_string, boolean, unreachable_family, Call, Func};
use crate::datetime::{Temporal, DAY};
use crate::decimal::Decimal;
use crate::error::Error;
use crate::eval::singleton_system;
use crate::quantity::{is_calendar_word, Quantity};
use crate::value::{Collection, Item};

pub fn to_boolean(i: &Item) -> Option<bool> {
    match i {
        Item::Boolean(b) => Some(*b),
        Item::Integer(1) => Some(true),
        Item::Integer(0) => Some(false),
        Item::Decimal(d) => match d.normalized().to_string().as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        },
        Item::String(s) => match s.to_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn to_integer(i: &Item) -> Option<i64> {
    match i {
        Item::Integer(n) => Some(*n),
        Item::Boolean(b) => Some(i64::from(*b)),
        Item::String(s) => {
            let t = s.strip_prefix('+').unwrap_or(s);
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse::<i32>().ok().map(i64::from)
        }
        _ => None,
    }
}

fn to_decimal(i: &Item) -> Option<Decimal> {
    match i {
        Item::Integer(n) => Some(Decimal::from_int(*n)),
        Item::Decimal(d) => Some(*d),
        Item::Boolean(b) => Decimal::parse(if *b { "1.0" } else { "0.0" }),
        Item::String(s) => {
            if s.contains(['e', 'E']) || s.ends_with('.') || s.starts_with('.') {
                return None;
            }
            Decimal::parse(s)
        }
        _ => None,
    }
}

/// The string form of a System value (`toString()`, `&`).
pub fn to_string(i: &Item) -> Option<String> {
    Some(match i {
        Item::String(s) => s.clone(),
        Item::Boolean(b) => b.to_string(),
        Item::Integer(n) => n.to_string(),
        Item::Decimal(d) => d.to_string(),
        Item::Date(t) => t.format_date(),
        Item::DateTime(t) => t.format_datetime(),
        Item::Time(t) => t.format_time(),
        Item::Quantity(q) => q.to_text(),
        _ => return None,
    })
}

fn to_date(i: &Item) -> Option<Temporal> {
    match i {
        Item::Date(t) => Some(*t),
        Item::DateTime(t) => {
            let mut d = *t;
            d.precision = d.precision.min(DAY);
            d.tz = None;
            Some(d)
        }
        Item::String(s) => {
            let t = Temporal::parse_datetime(s)?;
            to_date(&Item::DateTime(t))
        }
        _ => None,
    }
}

fn to_datetime(i: &Item) -> Option<Temporal> {
    match i {
        Item::Date(t) | Item::DateTime(t) => Some(*t),
        Item::String(s) => Temporal::parse_datetime(s),
        _ => None,
    }
}

fn to_time(i: &Item) -> Option<Temporal> {
    match i {
        Item::Time(t) => Some(*t),
        Item::String(s) => Temporal::parse_time(s),
        _ => None,
    }
}

/// `5 'mg'`, `5.0 'mg'`, `4 days`, or a plain number (unit `1`).
fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let (num, unit) = match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    };
    if num.contains(['e', 'E']) {
        return None;
    }
    let value = Decimal::parse(num)?;
    let unit = if unit.is_empty() {
        "1".to_owned()
    } else if let Some(u) = unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
        u.to_owned()
    } else if is_calendar_word(unit) {
        unit.to_owned()
    } else {
        return None;
    };
    Some(Quantity { value, unit })
}

fn to_quantity(i: &Item, unit: Option<&str>) -> Option<Quantity> {
    let q = match i {
        Item::Quantity(q) => q.clone(),
        Item::Integer(_) | Item::Decimal(_) => Quantity::new(crate::value::to_dec(i)?, "1"),
        Item::Boolean(b) => Quantity::new(Decimal::parse(if *b { "1.0" } else { "0.0" })?, "1"),
        Item::String(s) => parse_quantity(s)?,
        _ => return None,
    };
    match unit {
        None => Some(q),
        Some(u) if u == q.unit => Some(q),
        Some(u) => {
            let zero = Quantity::new(Decimal::from_int(0), u);
            let converted = zero.add(&q, false)?;
            Some(converted)
        }
    }
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let Some(v) = singleton_system(&input)? else {
        return Ok(Vec::new());
    };
    let one = |i: Option<Item<'a>>| -> Collection<'a> { i.into_iter().collect() };
    Ok(match f {
        Func::ToBoolean => one(to_boolean(&v).map(Item::Boolean)),
        Func::ConvertsToBoolean => boolean(to_boolean(&v).is_some()),
        Func::ToInteger => one(to_integer(&v).map(Item::Integer)),
        Func::ConvertsToInteger => boolean(to_integer(&v).is_some()),
        Func::ToDecimal => one(to_decimal(&v).map(Item::Decimal)),
        Func::ConvertsToDecimal => boolean(to_decimal(&v).is_some()),
        Func::ToString => one(to_string(&v).map(Item::String)),
        Func::ConvertsToString => boolean(to_string(&v).is_some()),
        Func::ToDate => one(to_date(&v).map(Item::Date)),
        Func::ConvertsToDate => boolean(to_date(&v).is_some()),
        Func::ToDateTime => one(to_datetime(&v).map(Item::DateTime)),
        Func::ConvertsToDateTime => boolean(to_datetime(&v).is_some()),
        Func::ToTime => one(to_time(&v).map(Item::Time)),
        Func::ConvertsToTime => boolean(to_time(&v).is_some()),
        Func::ToQuantity | Func::ConvertsToQuantity => {
            let unit = arg_string(ev, args, 0, frame)?;
            let q = to_quantity(&v, unit.as_deref());
            if f == Func::ToQuantity {
                one(q.map(Item::Quantity))
            } else {
                boolean(q.is_some())
            }
        }
        _ => return Err(unreachable_family(f)),
    })
}
