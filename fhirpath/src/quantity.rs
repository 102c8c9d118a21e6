//! Quantities and the UCUM units FHIRPath must compare: mass, length,
//! time and volume, plus the calendar duration words (`year`, `days`).
//!
//! Only common units are known; two quantities in units we cannot relate
//! are not comparable (equality is unknown), as the spec allows.

use std::cmp::Ordering;

use crate::decimal::Decimal;

#[derive(Debug, Clone)]
pub struct Quantity {
    pub value: Decimal,
    /// A UCUM code or a calendar word (`year`, `months`).
    pub unit: String,
}

/// Unit → (dimension, factor to the base unit as decimal text).
const UNITS: &[(&str, &str, &str)] = &[
    ("1", "1", "1"),
    ("%", "1", "0.01"),
    ("g", "M", "1"),
    ("kg", "M", "1000"),
    ("mg", "M", "0.001"),
    ("ug", "M", "0.000001"),
    ("ng", "M", "0.000000001"),
    ("[lb_av]", "M", "453.59237"),
    ("[oz_av]", "M", "28.349523125"),
    ("m", "L", "1"),
    ("km", "L", "1000"),
    ("cm", "L", "0.01"),
    ("mm", "L", "0.001"),
    ("um", "L", "0.000001"),
    ("[in_i]", "L", "0.0254"),
    ("[ft_i]", "L", "0.3048"),
    ("[yd_i]", "L", "0.9144"),
    ("[mi_i]", "L", "1609.344"),
    ("s", "T", "1"),
    ("ms", "T", "0.001"),
    ("min", "T", "60"),
    ("h", "T", "3600"),
    ("d", "T", "86400"),
    ("wk", "T", "604800"),
    ("L", "V", "1"),
    ("l", "V", "1"),
    ("dL", "V", "0.1"),
    ("cL", "V", "0.01"),
    ("mL", "V", "0.001"),
    ("uL", "V", "0.000001"),
    ("m3", "V", "1000"),
    ("cm3", "V", "0.001"),
    ("[degF]", "F", "1"),
    ("Cel", "C", "1"),
    ("K", "K", "1"),
];

/// The unit whose factor is 1 in a dimension.
fn base_unit(dim: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(_, d, f)| *d == dim && *f == "1")
        .map(|(u, _, _)| *u)
}

/// Calendar words with a definite UCUM equivalent (week and below).
fn calendar_to_ucum(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        _ => return None,
    })
}

pub fn is_calendar_word(unit: &str) -> bool {
    matches!(
        unit,
        "year"
            | "years"
            | "month"
            | "months"
            | "week"
            | "weeks"
            | "day"
            | "days"
            | "hour"
            | "hours"
            | "minute"
            | "minutes"
            | "second"
            | "seconds"
            | "millisecond"
            | "milliseconds"
    )
}

/// Singular form of a calendar word.
pub fn calendar_singular(unit: &str) -> &str {
    if is_calendar_word(unit) {
        unit.strip_suffix('s').unwrap_or(unit)
    } else {
        unit
    }
}

fn lookup(unit: &str) -> Option<(&'static str, Decimal)> {
    let unit = calendar_to_ucum(unit).unwrap_or(unit);
    UNITS
        .iter()
        .find(|(u, _, _)| *u == unit)
        .and_then(|(_, dim, f)| Decimal::parse(f).map(|d| (*dim, d)))
}

impl Quantity {
    pub fn new(value: Decimal, unit: &str) -> Quantity {
        Quantity {
            value,
            unit: unit.to_owned(),
        }
    }

    /// Both values in a common base, when the units are related.
    fn common(&self, o: &Quantity) -> Option<(Decimal, Decimal)> {
        if self.unit == o.unit
            || (is_calendar_word(&self.unit)
                && is_calendar_word(&o.unit)
                && calendar_singular(&self.unit) == calendar_singular(&o.unit))
        {
            return Some((self.value, o.value));
        }
        // Years and months are not definite durations: only equal to themselves.
        let (da, fa) = lookup(&self.unit)?;
        let (db, fb) = lookup(&o.unit)?;
        if da != db {
            return None;
        }
        Some((self.value.mul(&fa)?, o.value.mul(&fb)?))
    }

    pub fn compare(&self, o: &Quantity) -> Option<Ordering> {
        let (a, b) = self.common(o)?;
        Some(a.cmp_to(&b))
    }

    pub fn equals(&self, o: &Quantity) -> Option<bool> {
        match self.common(o) {
            Some((a, b)) => Some(a.cmp_to(&b) == Ordering::Equal),
            None => {
                if lookup(&self.unit).is_some() && lookup(&o.unit).is_some() {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    pub fn equivalent(&self, o: &Quantity) -> bool {
        match self.common(o) {
            Some((a, b)) => {
                let p = a.normalized().scale.min(b.normalized().scale);
                a.round(p).cmp_to(&b.round(p)) == Ordering::Equal
            }
            None => false,
        }
    }

    /// `self * o` with the unit as UCUM writes a product. Two units of one
    /// dimension are first brought to its base unit (`cm * m` is `m2`).
    pub fn mul(&self, o: &Quantity) -> Option<Quantity> {
        if self.unit != o.unit {
            if let (Some((da, fa)), Some((db, fb))) = (lookup(&self.unit), lookup(&o.unit)) {
                if da == db && da != "1" {
                    if let Some(base) = base_unit(da) {
                        return Some(Quantity {
                            value: self.value.mul(&fa)?.mul(&o.value.mul(&fb)?)?,
                            unit: format!("{base}2"),
                        });
                    }
                }
            }
        }
        let unit = match (self.unit.as_str(), o.unit.as_str()) {
            ("1", u) | (u, "1") => u.to_owned(),
            (a, b) if a == b => format!("{a}2"),
            (a, b) => format!("{a}.{b}"),
        };
        Some(Quantity {
            value: self.value.mul(&o.value)?,
            unit,
        })
    }

    pub fn div(&self, o: &Quantity) -> Option<Quantity> {
        let (value, unit) = if let Some((a, b)) = self
            .common(o)
            .filter(|_| lookup(&self.unit).is_some() || self.unit == o.unit)
        {
            (a.div(&b)?, "1".to_owned())
        } else {
            let unit = match o.unit.as_str() {
                "1" => self.unit.clone(),
                u => format!("{}/{u}", self.unit),
            };
            (self.value.div(&o.value)?, unit)
        };
        Some(Quantity { value, unit })
    }

    /// `self + o` or `self - o` (when `neg`), in `self`'s unit.
    pub fn add(&self, o: &Quantity, neg: bool) -> Option<Quantity> {
        let other = if self.unit == o.unit {
            o.value
        } else {
            let (da, fa) = lookup(&self.unit)?;
            let (db, fb) = lookup(&o.unit)?;
            if da != db {
                return None;
            }
            o.value.mul(&fb)?.div(&fa)?
        };
        let other = if neg { other.neg() } else { other };
        Some(Quantity {
            value: self.value.add(&other)?,
            unit: self.unit.clone(),
        })
    }

    /// The text form FHIRPath uses: `4 'g'`, `1 year`.
    pub fn to_text(&self) -> String {
        if is_calendar_word(&self.unit) {
            format!("{} {}", self.value, self.unit)
        } else {
            format!("{} '{}'", self.value, self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_and_milligrams_compare() {
        let d = |s: &str| Decimal::parse(s).expect(s);
        let a = Quantity::new(d("4"), "g");
        let b = Quantity::new(d("4000"), "mg");
        assert_eq!(a.equals(&b), Some(true));
        assert_eq!(
            Quantity::new(d("1"), "m").equals(&Quantity::new(d("1"), "g")),
            Some(false)
        );
    }
}
