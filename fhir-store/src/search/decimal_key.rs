//! Exact, order-preserving text keys for decimals, so number and quantity
//! search compare values exactly however many digits or however large an
//! exponent they have (`9007199254740993`, 30-digit values, `0.1e400`:
//! none survives `f64`). FHIR decimals are exact (datatypes.html#decimal),
//! and the store keeps the text as written; the index keeps this key next
//! to the `f64` (which serves sorting and `ap` only).
//!
//! A key is `1` for zero; `2` + the biased decimal exponent (6 digits) +
//! the significant digits for a positive value; `0` + the exponent's
//! complement + the digits' nines' complement + `~` for a negative one.
//! Byte order of the keys is numeric order (SQLite compares text
//! bytewise; the PostgreSQL columns are `COLLATE "C"`). Only adding or
//! taking five at the digit after the last one is needed (the range a
//! value's precision implies), so the arithmetic is done on the digit
//! strings here rather than with a big-number crate.

/// Exponents beyond this (about 10^±500000) have no key; such a value is
/// not indexed.
const MAX_EXPONENT: i64 = 499_999;

/// A decimal as written: `±digits × 10^exp` (digits may have leading or
/// trailing zeros; they carry the precision).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exact {
    negative: bool,
    digits: String,
    exp: i64,
}

/// The keys of a decimal's value and of the range its precision implies
/// (half a unit of the last written digit either side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub value: String,
    pub lo: String,
    pub hi: String,
}

/// The keys of a JSON number's text; `None` unless it is one (or its
/// exponent is beyond [`MAX_EXPONENT`]).
pub fn key_range(text: &str) -> Option<KeyRange> {
    let x = parse(text)?;
    let zero = x.digits.bytes().all(|b| b == b'0');
    let up = format!("{}5", x.digits);
    let down = if zero {
        "5".to_owned()
    } else {
        format!("{}5", decrement(&x.digits))
    };
    let exp = x.exp.checked_sub(1)?;
    // Away from zero the magnitude grows by five, towards zero it shrinks
    // (and crosses zero for a written zero).
    let (lo, hi) = if x.negative {
        (key(true, &up, exp)?, key(!zero, &down, exp)?)
    } else {
        (key(zero, &down, exp)?, key(false, &up, exp)?)
    };
    Some(KeyRange {
        value: key(x.negative, &x.digits, x.exp)?,
        lo,
        hi,
    })
}

fn parse(text: &str) -> Option<Exact> {
    let text = text.trim();
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(Exact {
        negative,
        digits: format!("{int}{frac}"),
        exp: exp.checked_sub(i64::try_from(frac.len()).ok()?)?,
    })
}

/// `digits - 1` for digits that are not all zero.
fn decrement(digits: &str) -> String {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'0' {
            *b = b'9';
        } else {
            *b -= 1;
            break;
        }
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// The key of `±digits × 10^exp`.
fn key(negative: bool, digits: &str, exp: i64) -> Option<String> {
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Some("1".to_owned());
    }
    let dropped = i64::try_from(significant.len() - trimmed.len()).ok()?;
    let len = i64::try_from(trimmed.len()).ok()?;
    // value = 0.trimmed × 10^sci
    let sci = exp.checked_add(dropped)?.checked_add(len)?;
    if sci.abs() > MAX_EXPONENT {
        return None;
    }
    let biased = sci + MAX_EXPONENT + 1;
    Some(if negative {
        let complement: String = trimmed
            .bytes()
            .map(|b| char::from(b'9' - b + b'0'))
            .collect();
        format!("0{:06}{complement}~", 2 * MAX_EXPONENT + 1 - biased)
    } else {
        format!("2{biased:06}{trimmed}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(text: &str) -> String {
        key_range(text).expect(text).value
    }

    #[test]
    fn keys_sort_as_numbers() {
        let ordered = [
            "-1e400",
            "-100",
            "-5.5",
            "-5.45",
            "-5",
            "-0.5",
            "-0.05",
            "0",
            "0.05",
            "0.5",
            "0.55",
            "5",
            "9007199254740992",
            "9007199254740993",
            "123456789012345678901234567890",
            "0.1e400",
            "1e400",
        ];
        for pair in ordered.windows(2) {
            assert!(k(pair[0]) < k(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn same_value_same_key() {
        assert_eq!(k("100"), k("1.00e2"));
        assert_eq!(k("0.1e400"), k("1e399"));
        assert_eq!(k("0"), k("-0.000"));
        assert_eq!(k("+5"), k("5.0"));
    }

    #[test]
    fn ranges_follow_precision() {
        let r = key_range("5.4").expect("5.4");
        assert_eq!((r.lo, r.hi), (k("5.35"), k("5.45")));
        let r = key_range("-3").expect("-3");
        assert_eq!((r.lo, r.hi), (k("-3.5"), k("-2.5")));
        let r = key_range("0").expect("0");
        assert_eq!((r.lo, r.hi), (k("-0.5"), k("0.5")));
        let r = key_range("1e2").expect("1e2");
        assert_eq!((r.lo, r.hi), (k("50"), k("150")));
        let r = key_range("100").expect("100");
        assert_eq!((r.lo, r.hi), (k("99.5"), k("100.5")));
        let r = key_range("9007199254740993").expect("big");
        assert!(r.lo > k("9007199254740992") && r.hi < k("9007199254740994"));
    }

    #[test]
    fn not_numbers() {
        for t in [
            "",
            ".",
            "x",
            "inf",
            "NaN",
            "1e",
            "--1",
            "1.2.3",
            "1e9999999999999999999",
        ] {
            assert!(key_range(t).is_none(), "{t}");
        }
        assert!(key_range("1e600000").is_none());
    }
}
