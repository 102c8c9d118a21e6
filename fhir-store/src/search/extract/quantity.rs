//! Quantity parameters (search.html#quantity): Quantity and its profiles
//! (SimpleQuantity, Age, Duration, Distance, Count, MoneyQuantity), Money
//! (value with the currency as code, system ISO 4217), Range (low..high),
//! and plain numbers (no unit). UCUM quantities also get their canonical
//! form ([`crate::search::ucum`]) so searches in another unit match.

use fhir_model::json::tree::Value as Json;
use fhirpath::value::fhir_is;
use fhirpath::Item;

use super::number;
use super::{field, node, num_field, str_field};
use crate::search::decimal_key;
use crate::search::index::{IndexEntries, QuantityEntry};
use crate::search::ucum;

pub const UCUM: &str = "http://unitsofmeasure.org";
pub const ISO_4217: &str = "urn:iso:std:iso:4217";

pub(super) fn entries(item: &Item, param: &str, group: i32, out: &mut IndexEntries) {
    let entry = match item {
        Item::Node(n) if n.is_primitive() => match n.value {
            Some(Json::Number(t)) => plain(t),
            _ => None,
        },
        Item::Node(_) => match node(item) {
            Some(("Money", json)) => money(json),
            Some(("Range", json)) => range(json),
            Some((ty, json)) if fhir_is(ty, "Quantity") => quantity(json),
            _ => None,
        },
        Item::Quantity(q) => plain(&q.value.to_string()).map(|p| Parts {
            code: Some(q.unit.clone()),
            unit: Some(q.unit.clone()),
            ..p
        }),
        Item::Integer(i) => plain(&i.to_string()),
        Item::Decimal(d) => plain(&d.to_string()),
        _ => None,
    };
    let Some(p) = entry else { return };
    let canonical = canonical(&p);
    out.quantities.push(QuantityEntry {
        param: param.to_owned(),
        group,
        value: p.value,
        lo: p.lo,
        hi: p.hi,
        key: p.key,
        system: p.system,
        code: p.code,
        unit: p.unit,
        canonical_code: canonical.as_ref().map(|c| c.0.clone()),
        canonical_lo: canonical.as_ref().map(|c| c.1),
        canonical_hi: canonical.as_ref().map(|c| c.2),
    });
}

struct Parts {
    value: f64,
    lo: f64,
    hi: f64,
    /// The exact key of the value ([`decimal_key`]).
    key: Option<String>,
    system: Option<String>,
    code: Option<String>,
    unit: Option<String>,
}

/// A number without a unit.
fn plain(text: &str) -> Option<Parts> {
    let (value, lo, hi) = number::parse(text)?;
    Some(Parts {
        value,
        lo,
        hi,
        key: Some(decimal_key::key_range(text)?.value),
        system: None,
        code: None,
        unit: None,
    })
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn quantity(json: &Json) -> Option<Parts> {
    Some(Parts {
        system: owned(str_field(json, "system")),
        code: owned(str_field(json, "code")),
        unit: owned(str_field(json, "unit")),
        ..plain(num_field(json, "value")?)?
    })
}

fn money(json: &Json) -> Option<Parts> {
    let currency = str_field(json, "currency");
    Some(Parts {
        system: currency.map(|_| ISO_4217.to_owned()),
        code: owned(currency),
        ..plain(num_field(json, "value")?)?
    })
}

/// A Range: from the low end of `low` to the high end of `high`, an open
/// side unbounded; the value, system and unit from `low`, else `high`.
fn range(json: &Json) -> Option<Parts> {
    let low = field(json, "low").and_then(quantity);
    let high = field(json, "high").and_then(quantity);
    let first = low.as_ref().or(high.as_ref())?;
    Some(Parts {
        value: first.value,
        lo: low.as_ref().map_or(f64::MIN, |l| l.lo),
        hi: high.as_ref().map_or(f64::MAX, |h| h.hi),
        key: first.key.clone(),
        system: first.system.clone(),
        code: first.code.clone(),
        unit: first.unit.clone(),
    })
}

/// The UCUM canonical code and range, when the system is UCUM and the
/// unit is understood. Open Range ends stay open.
fn canonical(p: &Parts) -> Option<(String, f64, f64)> {
    if p.system.as_deref() != Some(UCUM) {
        return None;
    }
    let code = p.code.as_deref()?;
    let edge = |x: f64| -> Option<(String, f64)> {
        if x == f64::MIN || x == f64::MAX {
            // An open end: only the unit is needed.
            let (c, _) = ucum::canonical(code, 1.0)?;
            Some((c, x))
        } else {
            ucum::canonical(code, x)
        }
    };
    let (c, lo) = edge(p.lo)?;
    let (_, hi) = edge(p.hi)?;
    Some((c, lo, hi))
}

#[cfg(test)]
mod tests {
    use crate::search::extract::tests::one;
    use crate::search::index::QuantityEntry;
    use crate::search::param::ParamKind;

    fn quantities(expr: &str, res: &str) -> Vec<QuantityEntry> {
        one(ParamKind::Quantity, expr, res).quantities
    }

    fn obs(value: &str) -> String {
        format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},{value}}}"#
        )
    }

    #[test]
    fn ucum_quantity_gets_canonical() {
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueQuantity":{"value":5.4,"unit":"milligram","system":"http://unitsofmeasure.org","code":"mg"}"#,
            ),
        );
        assert_eq!(got.len(), 1);
        let q = &got[0];
        assert_eq!((q.value, q.lo, q.hi), (5.4, 5.35, 5.45));
        assert_eq!(q.system.as_deref(), Some("http://unitsofmeasure.org"));
        assert_eq!(
            (q.code.as_deref(), q.unit.as_deref()),
            (Some("mg"), Some("milligram"))
        );
        assert_eq!(q.canonical_code.as_deref(), Some("g"));
        assert_eq!(
            (q.canonical_lo, q.canonical_hi),
            (Some(0.00535), Some(0.00545))
        );

        let ug = quantities(
            "Observation.value",
            &obs(
                r#""valueQuantity":{"value":5400,"system":"http://unitsofmeasure.org","code":"ug"}"#,
            ),
        );
        assert_eq!(ug[0].canonical_code.as_deref(), Some("g"));
        assert_eq!(
            (ug[0].canonical_lo, ug[0].canonical_hi),
            (Some(0.0053995), Some(0.0054005))
        );
    }

    #[test]
    fn non_ucum_and_unknown_units() {
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueQuantity":{"value":3,"unit":"tablets","system":"http://example.org/units","code":"TAB"}"#,
            ),
        );
        assert_eq!(got[0].code.as_deref(), Some("TAB"));
        assert_eq!(got[0].canonical_code, None);
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueQuantity":{"value":3,"system":"http://unitsofmeasure.org","code":"foo"}"#,
            ),
        );
        assert_eq!((got.len(), got[0].canonical_code.as_ref()), (1, None));
        let got = quantities(
            "Observation.value",
            &obs(r#""valueQuantity":{"unit":"mg"}"#),
        );
        assert!(got.is_empty());
    }

    #[test]
    fn quantity_profiles() {
        let cond = r#"{"resourceType":"Condition","subject":{"reference":"Patient/1"},
            "onsetAge":{"value":52,"unit":"yr","system":"http://unitsofmeasure.org","code":"a"}}"#;
        let got = quantities("Condition.onset.as(Age)", cond);
        assert_eq!(got[0].canonical_code.as_deref(), Some("s"));
        assert_eq!(got[0].value, 52.0);
        let req = r#"{"resourceType":"MedicationRequest","status":"active","intent":"order",
            "subject":{"reference":"Patient/1"},"medicationCodeableConcept":{"text":"x"},
            "dispenseRequest":{"quantity":{"value":30,"unit":"tablet"},
              "expectedSupplyDuration":{"value":30,"system":"http://unitsofmeasure.org","code":"d"}}}"#;
        let got = quantities(
            "MedicationRequest.dispenseRequest.quantity | MedicationRequest.dispenseRequest.expectedSupplyDuration",
            req,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].value, got[0].unit.as_deref(), got[0].system.as_ref()),
            (30.0, Some("tablet"), None)
        );
        assert_eq!(
            (got[1].canonical_code.as_deref(), got[1].canonical_lo),
            (Some("s"), Some(29.5 * 86_400.0))
        );
    }

    #[test]
    fn money() {
        let claim = r#"{"resourceType":"ChargeItem","status":"billable","code":{"text":"x"},
            "subject":{"reference":"Patient/1"},"priceOverride":{"value":12.50,"currency":"EUR"}}"#;
        let got = quantities("ChargeItem.priceOverride", claim);
        assert_eq!(got.len(), 1);
        let m = &got[0];
        assert_eq!((m.value, m.lo, m.hi), (12.5, 12.495, 12.505));
        assert_eq!(m.system.as_deref(), Some("urn:iso:std:iso:4217"));
        assert_eq!(m.code.as_deref(), Some("EUR"));
        assert_eq!(m.canonical_code, None);
    }

    #[test]
    fn ranges() {
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueRange":{"low":{"value":1,"system":"http://unitsofmeasure.org","code":"mg"},
                 "high":{"value":2.5,"system":"http://unitsofmeasure.org","code":"mg"}}"#,
            ),
        );
        let r = &got[0];
        assert_eq!((r.value, r.lo, r.hi), (1.0, 0.5, 2.55));
        assert_eq!(r.canonical_code.as_deref(), Some("g"));
        assert_eq!(
            (r.canonical_lo, r.canonical_hi),
            (Some(0.0005), Some(0.00255))
        );
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueRange":{"high":{"value":10,"system":"http://unitsofmeasure.org","code":"mg"}}"#,
            ),
        );
        let r = &got[0];
        assert_eq!((r.value, r.lo, r.hi), (10.0, f64::MIN, 10.5));
        assert_eq!(
            (r.canonical_lo, r.canonical_hi),
            (Some(f64::MIN), Some(0.0105))
        );
        assert!(quantities("Observation.value", &obs(r#""valueRange":{"id":"r"}"#)).is_empty());
    }

    #[test]
    fn hostile_values() {
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueQuantity":{"value":1e400,"system":"http://unitsofmeasure.org","code":"mg"}"#,
            ),
        );
        // Beyond f64: indexed by its exact key, the f64 value clamped.
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value, f64::MAX);
        assert_eq!(
            got[0].key,
            crate::search::decimal_key::key_range("1e400").map(|k| k.value)
        );
        let got = quantities(
            "Observation.value",
            &obs(
                r#""valueQuantity":{"value":1e300,"system":"http://unitsofmeasure.org","code":"Ym3"}"#,
            ),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].canonical_code, None);
    }
}
