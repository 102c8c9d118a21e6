//! `minValue[x]` / `maxValue[x]` of an element definition
//! (elementdefinition-definitions.html#ElementDefinition.minValue_x_) for
//! the types other than plain numbers (which [`crate::validate::profile`] checks):
//! `date`, `dateTime`, `instant` and `time` values compared in time order;
//! `Quantity` compared by value, after converting metric-prefixed UCUM
//! units (`g` against `kg`); and a `Duration` bound on a date or dateTime,
//! which the HL7 validator reads relative to now (`minValueDuration` 100 a:
//! not more than 100 years ago). Bounds and values it cannot compare
//! (different units, unparseable text) are not judged.

use std::time::{SystemTime, UNIX_EPOCH};

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

/// The non-numeric bounds of one element.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    min: Option<(String, Json)>,
    max: Option<(String, Json)>,
}

impl Bounds {
    /// Reads `minValue<Type>` / `maxValue<Type>` of an element definition.
    pub(crate) fn compile(e: &Json) -> Bounds {
        let Json::Object(m) = e else {
            return Bounds::default();
        };
        let find = |prefix: &str| {
            m.iter().find_map(|(k, v)| {
                let ty = k.strip_prefix(prefix)?;
                matches!(
                    ty,
                    "Date" | "DateTime" | "Instant" | "Time" | "Quantity" | "Duration"
                )
                .then(|| (ty.to_owned(), v.clone()))
            })
        };
        Bounds {
            min: find("minValue"),
            max: find("maxValue"),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }

    /// Checks one value (of FHIR type `ty`) at `loc`.
    pub(crate) fn check(&self, ty: &str, value: Option<&Json>, loc: &str, issues: &mut Vec<Issue>) {
        let Some(value) = value else {
            return;
        };
        for (is_min, bound) in [(true, &self.min), (false, &self.max)] {
            let Some((bty, b)) = bound else {
                continue;
            };
            if let Some(msg) = violation(is_min, bty, b, ty, value) {
                issues.push(Issue::new(Severity::Error, IssueType::Value, loc, msg));
            }
        }
    }
}

fn violation(is_min: bool, bty: &str, bound: &Json, ty: &str, value: &Json) -> Option<String> {
    let word = if is_min { "less" } else { "greater" };
    let which = if is_min { "minimum" } else { "maximum" };
    match (bty, value) {
        ("Date" | "DateTime" | "Instant" | "Time", Json::String(v)) => {
            let Json::String(b) = bound else {
                return None;
            };
            let ord = compare_times(v, b)?;
            let bad = if is_min { ord.is_lt() } else { ord.is_gt() };
            bad.then(|| format!("date/time value is {word} than permitted {which} value of {b}"))
        }
        ("Duration", Json::String(v)) if matches!(ty, "date" | "dateTime" | "instant") => {
            let amount: f64 = match field(bound, "value") {
                Some(Json::Number(n)) => n.parse().ok()?,
                _ => return None,
            };
            let unit = str_field(bound, "code").or_else(|| str_field(bound, "unit"))?;
            let limit = shift_now(if is_min { -amount } else { amount }, unit)?;
            let ord = compare_times(v, &limit)?;
            let bad = if is_min { ord.is_lt() } else { ord.is_gt() };
            let side = if is_min { "before" } else { "after" };
            bad.then(|| {
                format!(
                    "The date/time value '{v}' is not legal: {} is {amount}{unit} {side} now (which is {limit})",
                    if is_min { "minValue" } else { "maxValue" }
                )
            })
        }
        ("Quantity", Json::Object(_)) if ty == "Quantity" || ty.is_empty() => {
            let (v, vu) = quantity(value)?;
            let (b, bu) = quantity(bound)?;
            let (v_c, b_c) = if vu == bu {
                (v, b)
            } else {
                let (fv, base_v) = prefixed(&vu)?;
                let (fb, base_b) = prefixed(&bu)?;
                if base_v != base_b {
                    return None;
                }
                (v * fv, b * fb)
            };
            let bad = if is_min { v_c < b_c } else { v_c > b_c };
            bad.then(|| {
                format!(
                    "The value in the instance ({v} {vu}) is {word} than the specified {} ({b} {bu}) after UCUM conversion",
                    if is_min { "minValue" } else { "maxValue" }
                )
            })
        }
        _ => None,
    }
}

/// (value, unit code) of a Quantity.
fn quantity(q: &Json) -> Option<(f64, String)> {
    let v = match field(q, "value") {
        Some(Json::Number(n)) => n.parse().ok()?,
        _ => return None,
    };
    let unit = str_field(q, "code")
        .or_else(|| str_field(q, "unit"))
        .unwrap_or("");
    Some((v, unit.to_owned()))
}

/// A metric-prefixed UCUM unit of a base that takes prefixes: its factor
/// to the unprefixed base, and that base.
fn prefixed(unit: &str) -> Option<(f64, &str)> {
    const BASES: [&str; 6] = ["g", "m", "L", "l", "s", "mol"];
    const PREFIXES: [(&str, f64); 10] = [
        ("k", 1e3),
        ("h", 1e2),
        ("da", 1e1),
        ("d", 1e-1),
        ("c", 1e-2),
        ("m", 1e-3),
        ("u", 1e-6),
        ("n", 1e-9),
        ("p", 1e-12),
        ("M", 1e6),
    ];
    if BASES.contains(&unit) {
        return Some((1.0, unit));
    }
    PREFIXES.iter().find_map(|(p, f)| {
        let base = unit.strip_prefix(p)?;
        BASES.contains(&base).then_some((*f, base))
    })
}

/// Orders two date, dateTime, instant or time texts on their common
/// precision (`2024` against `2025-01-01` compares the years); the time
/// zone is not taken into account. `None` when either is not such a text.
fn compare_times(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let key = |s: &str| -> Option<String> {
        let core: String = s.chars().take_while(|c| !matches!(c, 'Z' | '+')).collect();
        // A negative offset follows the time: cut at a '-' after a 'T'.
        let core = match core.find('T') {
            Some(t) => match core[t..].find('-') {
                Some(m) => core[..t + m].to_owned(),
                None => core,
            },
            None => core,
        };
        core.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | 'T' | '.'))
            .then_some(core)
    };
    let (a, b) = (key(a)?, key(b)?);
    let n = a.len().min(b.len());
    Some(a[..n].cmp(&b[..n]))
}

/// Today (UTC) moved by `amount` of a UCUM time unit, as `YYYY-MM-DD`.
fn shift_now(amount: f64, unit: &str) -> Option<String> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (y, m, d) = match unit {
        "a" => (y + amount.trunc() as i64, m, d),
        "mo" => {
            let total = y * 12 + (m as i64 - 1) + amount.trunc() as i64;
            (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32, d)
        }
        "wk" | "d" | "h" | "min" | "s" => {
            let per_day = match unit {
                "wk" => 1.0 / 7.0,
                "d" => 1.0,
                "h" => 24.0,
                "min" => 1_440.0,
                _ => 86_400.0,
            };
            civil_from_days(days + (amount / per_day).trunc() as i64)
        }
        _ => return None,
    };
    // Moving by years or months can land on a day the month lacks.
    let d = if matches!(unit, "a" | "mo") {
        d.min(28)
    } else {
        d
    };
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn issues(def: &str, ty: &str, value: &str) -> Vec<Issue> {
        let b = Bounds::compile(&tree::parse(def.as_bytes()).expect("def"));
        let v = tree::parse(value.as_bytes()).expect("value");
        let mut out = Vec::new();
        b.check(ty, Some(&v), "X", &mut out);
        out
    }

    #[test]
    fn dates_and_times_outside_their_bounds_are_errors() {
        let d = r#"{"minValueDate":"2025-01-01"}"#;
        assert_eq!(issues(d, "date", r#""2024-01-01""#).len(), 1);
        assert!(issues(d, "date", r#""2025-03-01""#).is_empty());
        let t = r#"{"minValueTime":"01:00:00","maxValueTime":"03:00:00"}"#;
        assert_eq!(issues(t, "time", r#""00:30:00""#).len(), 1);
        assert_eq!(issues(t, "time", r#""14:12:00""#).len(), 1);
        assert!(issues(t, "time", r#""02:15:00""#).is_empty());
    }

    #[test]
    fn quantities_compare_after_unit_conversion() {
        let q = r#"{"minValueQuantity":{"value":0,"code":"kg"},"maxValueQuantity":{"value":1,"code":"kg"}}"#;
        assert_eq!(issues(q, "Quantity", r#"{"value":-1,"code":"g"}"#).len(), 1);
        assert_eq!(
            issues(q, "Quantity", r#"{"value":1100,"code":"g"}"#).len(),
            1
        );
        assert!(issues(q, "Quantity", r#"{"value":900,"code":"g"}"#).is_empty());
        // Units that do not convert are not judged.
        assert!(issues(q, "Quantity", r#"{"value":-1,"code":"mm[Hg]"}"#).is_empty());
    }

    #[test]
    fn durations_bound_dates_relative_to_now() {
        let min = r#"{"minValueDuration":{"value":100,"code":"a"}}"#;
        assert_eq!(issues(min, "date", r#""1850-01-01""#).len(), 1);
        assert!(issues(min, "date", r#""1990-01-01""#).is_empty());
        let max = r#"{"maxValueDuration":{"value":10,"code":"a"}}"#;
        assert_eq!(issues(max, "date", r#""2100-01-01""#).len(), 1);
        assert!(issues(max, "date", r#""2000-01-01""#).is_empty());
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
