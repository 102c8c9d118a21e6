//! Number parameters (search.html#number): integer and decimal values with
//! the range their written precision implies: `5.4` is 5.35..5.45, `100`
//! is 99.5..100.5, `1.0e2` is 95..105 (exponents respected). Each row also
//! has the value's exact key ([`crate::search::decimal_key`]), which
//! searches compare, so decimals beyond `f64` are found too.

use fhir_model::json::tree::Value as Json;
use fhirpath::Item;

use crate::search::decimal_key;
use crate::search::index::{IndexEntries, NumberEntry};
use crate::search::ucum::round_sig;

pub(super) fn entries(item: &Item, param: &str, group: i32, out: &mut IndexEntries) {
    let text = match item {
        Item::Node(n) if n.is_primitive() => match n.value {
            Some(Json::Number(t)) => t.to_string(),
            _ => return,
        },
        Item::Integer(i) => i.to_string(),
        Item::Decimal(d) => d.to_string(),
        _ => return,
    };
    if let (Some((value, lo, hi)), Some(keys)) = (parse(&text), decimal_key::key_range(&text)) {
        out.numbers.push(NumberEntry {
            param: param.to_owned(),
            group,
            value,
            lo,
            hi,
            key: keys.value,
        });
    }
}

/// The value of a JSON number's text and the range its precision implies:
/// half a unit of the last written digit either side, as `f64` (for
/// sorting and `ap`; a value beyond `f64`'s range is clamped to its
/// largest, the exact comparison is [`decimal_key`]'s). `None` unless the
/// text is a number.
pub fn parse(text: &str) -> Option<(f64, f64, f64)> {
    let text = text.trim();
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let digits = mantissa.strip_prefix(['-', '+']).unwrap_or(mantissa);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: f64 = text.parse::<f64>().ok()?.clamp(f64::MIN, f64::MAX);
    if value.is_nan() {
        return None;
    }
    let frac_len = i32::try_from(frac.len()).ok()?;
    let half = 0.5 * 10f64.powi(exp.checked_sub(frac_len)?);
    let lo = round_sig(value - half, 15).unwrap_or(f64::MIN);
    let hi = round_sig(value + half, 15).unwrap_or(f64::MAX);
    Some((value, lo, hi))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::search::extract::tests::one;
    use crate::search::param::ParamKind;

    #[test]
    fn precision_ranges() {
        assert_eq!(parse("5.4"), Some((5.4, 5.35, 5.45)));
        assert_eq!(parse("100"), Some((100.0, 99.5, 100.5)));
        assert_eq!(parse("-3"), Some((-3.0, -3.5, -2.5)));
        assert_eq!(parse("1.50"), Some((1.5, 1.495, 1.505)));
        assert_eq!(parse("1.0e2"), Some((100.0, 95.0, 105.0)));
        assert_eq!(parse("1e2"), Some((100.0, 50.0, 150.0)));
        assert_eq!(parse("1.25E-2"), Some((0.0125, 0.01245, 0.01255)));
        assert_eq!(parse("0"), Some((0.0, -0.5, 0.5)));
    }

    #[test]
    fn hostile_numbers() {
        assert_eq!(parse("1e400").map(|p| p.0), Some(f64::MAX));
        assert_eq!(parse("-0.1e400").map(|p| p.0), Some(f64::MIN));
        assert_eq!(parse("NaN"), None);
        assert_eq!(parse("inf"), None);
        assert_eq!(parse("1e99999999999"), None);
        assert_eq!(parse("."), None);
        assert_eq!(parse(""), None);
        let (v, lo, hi) = parse("1.7e308").expect("finite");
        assert!(v.is_finite() && lo.is_finite() && hi.is_finite());
        let (v, lo, hi) = parse("1e-400").expect("underflows to zero");
        assert_eq!((v, lo, hi), (0.0, 0.0, 0.0));
    }

    #[test]
    fn elements_and_system_values() {
        let ra = r#"{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/1"},
            "prediction":[{"probabilityDecimal":0.25},{"probabilityDecimal":1}]}"#;
        let got: Vec<(f64, f64, f64)> = one(
            ParamKind::Number,
            "RiskAssessment.prediction.probability",
            ra,
        )
        .numbers
        .into_iter()
        .map(|n| (n.value, n.lo, n.hi))
        .collect();
        assert_eq!(got, vec![(0.25, 0.245, 0.255), (1.0, 0.5, 1.5)]);
        let got: Vec<f64> = one(ParamKind::Number, "2 + 3", ra)
            .numbers
            .into_iter()
            .map(|n| n.value)
            .collect();
        assert_eq!(got, vec![5.0]);
    }
}
