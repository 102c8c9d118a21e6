//! Search values as the query side reads them (search.html#prefix): the
//! prefix, and the range a date or number stands for at its precision.

/// The comparison prefix of a number, date or quantity value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// Splits a leading two-letter prefix off; none means `eq`.
pub fn prefix(raw: &str) -> (Prefix, &str) {
    let p = match raw.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, raw),
    };
    (p, &raw[2..])
}

/// A number with the interval its significant digits imply: `100` is
/// 99.5 to 100.5, `1e2` is 50 to 150 (search.html#number); parsed as the
/// index side parses it.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRange {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    /// The same exactly ([`super::decimal_key`]), which the planner
    /// compares with the rows' exact keys; `None` for a range computed in
    /// `f64` (UCUM canonical units).
    pub exact: Option<super::decimal_key::KeyRange>,
}

pub fn number_range(text: &str) -> Option<NumberRange> {
    let (value, lo, hi) = super::extract::number::parse(text)?;
    Some(NumberRange {
        value,
        lo,
        hi,
        exact: Some(super::decimal_key::key_range(text)?),
    })
}

/// The inclusive range (epoch milliseconds, UTC) a FHIR date, dateTime or
/// instant stands for: `2013` is all of 2013; a time without a zone is
/// taken as UTC. The same parser as the index side, so a value and the
/// search for it always agree.
pub fn date_range(text: &str) -> Option<(i64, i64)> {
    // An unencoded `+` of a zone offset arrives as a space.
    super::extract::date::parse(&text.trim().replace(' ', "+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(prefix("ge2013"), (Prefix::Ge, "2013"));
        assert_eq!(prefix("2013"), (Prefix::Eq, "2013"));
    }

    #[test]
    fn number_ranges_follow_precision() {
        let r = number_range("100").expect("number");
        assert_eq!((r.lo, r.hi), (99.5, 100.5));
        let r = number_range("5.4").expect("number");
        assert!((r.lo - 5.35).abs() < 1e-9 && (r.hi - 5.45).abs() < 1e-9);
        let r = number_range("1e2").expect("number");
        assert_eq!((r.lo, r.hi), (50.0, 150.0));
        assert!(number_range("x").is_none());
        assert!(number_range("inf").is_none());
        let r = number_range("0.1e400").expect("beyond f64");
        assert_eq!(r.value, f64::MAX);
        assert!(r.exact.is_some());
    }

    #[test]
    fn date_ranges_follow_precision() {
        let (lo, hi) = date_range("2013").expect("year");
        assert_eq!(lo, 1_356_998_400_000);
        assert_eq!(hi, 1_388_534_400_000 - 1);
        let (lo, hi) = date_range("2013-02").expect("month");
        assert_eq!(hi - lo + 1, 28 * 86_400_000);
        let (lo, hi) = date_range("2013-12-31").expect("day");
        assert_eq!(hi - lo + 1, 86_400_000);
        let (lo, hi) = date_range("2013-01-01T09:00:00+09:00").expect("seconds");
        assert_eq!((lo, hi), (1_356_998_400_000, 1_356_998_400_999));
        let (lo, hi) = date_range("2013-01-01T00:00Z").expect("minutes");
        assert_eq!(hi - lo + 1, 60_000);
        let (lo, hi) = date_range("2013-01-01T00:00:00.5Z").expect("tenths");
        assert_eq!((lo, hi - lo + 1), (1_356_998_400_500, 100));
        assert_eq!(
            date_range("2013-01-01T00:00:00").map(|r| r.0),
            Some(1_356_998_400_000)
        );
        assert!(date_range("2013-13").is_none());
        assert!(date_range("yesterday").is_none());
    }
}
