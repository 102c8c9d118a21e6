//! Date parameters (search.html#date): date, dateTime and instant (the
//! interval their precision implies: `2013-01` is all of January), Period
//! (an open start is `i64::MIN`, an open end `i64::MAX`), and Timing (each
//! event, plus `repeat.boundsPeriod`). Times with an offset are converted
//! to UTC; values without one are taken as UTC.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use fhir_model::json::tree::Value as Json;
use fhirpath::datetime::{Temporal, DAY, HOUR, MILLI, MINUTE, MONTH, SECOND, YEAR};
use fhirpath::Item;

use super::{field, node, str_field, strs};
use crate::search::index::{DateEntry, EpochMillis, IndexEntries};

pub(super) fn entries(item: &Item, param: &str, group: i32, out: &mut IndexEntries) {
    let mut push = |range: Option<(EpochMillis, EpochMillis)>| {
        if let Some((lo, hi)) = range {
            out.dates.push(DateEntry {
                param: param.to_owned(),
                group,
                lo,
                hi,
            });
        }
    };
    match item {
        Item::Date(t) | Item::DateTime(t) => push(range(t)),
        Item::String(s) => push(parse(s)),
        Item::Node(_) => {
            let Some((ty, json)) = node(item) else { return };
            match (ty, json) {
                ("date" | "dateTime" | "instant", Json::String(s)) => push(parse(s)),
                ("Period", _) => push(period(json)),
                ("Timing", _) => {
                    for event in strs(json, "event") {
                        push(parse(event));
                    }
                    if let Some(bounds) =
                        field(json, "repeat").and_then(|r| field(r, "boundsPeriod"))
                    {
                        push(period(bounds));
                    }
                }
                _ => {
                    log::debug!("date parameter {param}: cannot index a {ty}");
                }
            }
        }
        _ => {}
    }
}

/// A Period: from the start of `start` to the end of `end`; a missing
/// bound is open. `None` when both are missing or one cannot be read.
fn period(json: &Json) -> Option<(EpochMillis, EpochMillis)> {
    let start = str_field(json, "start");
    let end = str_field(json, "end");
    if start.is_none() && end.is_none() {
        return None;
    }
    let lo = match start {
        Some(s) => parse(s)?.0,
        None => i64::MIN,
    };
    let hi = match end {
        Some(s) => parse(s)?.1,
        None => i64::MAX,
    };
    Some((lo, hi))
}

/// The interval a FHIR date, dateTime or instant stands for.
pub fn parse(s: &str) -> Option<(EpochMillis, EpochMillis)> {
    range(&Temporal::parse_datetime(s.trim())?)
}

/// The first and last millisecond of the interval `t` stands for, in UTC.
fn range(t: &Temporal) -> Option<(EpochMillis, EpochMillis)> {
    let date = NaiveDate::from_ymd_opt(t.year, t.month.max(1), t.day.max(1))?;
    let start: NaiveDateTime = date.and_hms_milli_opt(t.hour, t.minute, t.second, t.millis)?;
    let end = match t.precision {
        YEAR => NaiveDate::from_ymd_opt(t.year.checked_add(1)?, 1, 1)?.and_hms_opt(0, 0, 0)?,
        MONTH => {
            let (y, m) = if date.month() == 12 {
                (t.year.checked_add(1)?, 1)
            } else {
                (t.year, date.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?
        }
        DAY => start.checked_add_signed(Duration::days(1))?,
        HOUR => start.checked_add_signed(Duration::hours(1))?,
        MINUTE => start.checked_add_signed(Duration::minutes(1))?,
        SECOND => start.checked_add_signed(Duration::seconds(1))?,
        MILLI => {
            // `.5` stands for 500–599 ms; three or more digits for one ms.
            let unit = match t.frac_digits {
                1 => 100,
                2 => 10,
                _ => 1,
            };
            start.checked_add_signed(Duration::milliseconds(unit))?
        }
        _ => return None,
    };
    let offset_ms = i64::from(t.tz.unwrap_or(0)) * 60_000;
    let lo = start.and_utc().timestamp_millis().checked_sub(offset_ms)?;
    let hi = end
        .and_utc()
        .timestamp_millis()
        .checked_sub(offset_ms)?
        .checked_sub(1)?;
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::search::extract::tests::one;
    use crate::search::param::ParamKind;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("test timestamp")
            .timestamp_millis()
    }

    fn dates(expr: &str, res: &str) -> Vec<(i64, i64)> {
        one(ParamKind::Date, expr, res)
            .dates
            .into_iter()
            .map(|d| (d.lo, d.hi))
            .collect()
    }

    #[test]
    fn partial_dates_are_ranges() {
        assert_eq!(
            parse("2013"),
            Some((ms("2013-01-01T00:00:00Z"), ms("2013-12-31T23:59:59.999Z")))
        );
        assert_eq!(
            parse("2013-01"),
            Some((ms("2013-01-01T00:00:00Z"), ms("2013-01-31T23:59:59.999Z")))
        );
        assert_eq!(
            parse("2012-02"),
            Some((ms("2012-02-01T00:00:00Z"), ms("2012-02-29T23:59:59.999Z")))
        );
        assert_eq!(
            parse("2013-12"),
            Some((ms("2013-12-01T00:00:00Z"), ms("2013-12-31T23:59:59.999Z")))
        );
        assert_eq!(
            parse("2013-01-15"),
            Some((ms("2013-01-15T00:00:00Z"), ms("2013-01-15T23:59:59.999Z")))
        );
    }

    #[test]
    fn times_and_zones() {
        assert_eq!(
            parse("2013-01-15T10:00:00+02:00"),
            Some((ms("2013-01-15T08:00:00Z"), ms("2013-01-15T08:00:00.999Z")))
        );
        // Across midnight and the year.
        assert_eq!(
            parse("2013-01-01T01:30:00+05:30"),
            Some((ms("2012-12-31T20:00:00Z"), ms("2012-12-31T20:00:00.999Z")))
        );
        assert_eq!(
            parse("2013-01-15T10:00:00-05:00"),
            Some((ms("2013-01-15T15:00:00Z"), ms("2013-01-15T15:00:00.999Z")))
        );
        assert_eq!(
            parse("2013-01-15T10:00:00Z").map(|r| r.0),
            Some(ms("2013-01-15T10:00:00Z"))
        );
        // No zone: UTC.
        assert_eq!(
            parse("2013-01-15T10:00:00"),
            Some((ms("2013-01-15T10:00:00Z"), ms("2013-01-15T10:00:00.999Z")))
        );
        assert_eq!(
            parse("2013-01-15T10:00:00.123+01:00"),
            Some((
                ms("2013-01-15T09:00:00.123Z"),
                ms("2013-01-15T09:00:00.123Z")
            ))
        );
        assert_eq!(
            parse("2013-01-15T10:00:00.5Z"),
            Some((ms("2013-01-15T10:00:00.5Z"), ms("2013-01-15T10:00:00.599Z")))
        );
        assert_eq!(
            parse("2013-01-15T10:00:00.123456Z"),
            Some((
                ms("2013-01-15T10:00:00.123Z"),
                ms("2013-01-15T10:00:00.123Z")
            ))
        );
    }

    #[test]
    fn hostile_dates() {
        for s in [
            "",
            "x",
            "2013-13",
            "2013-02-30",
            "2013-01-15T25:00:00Z",
            "2013-01-15T10:00:60Z",
            "2013-01-15T10:00:00+99:00",
            "99999",
            "-001",
            "2013-01-15T10:00:00.Z",
            "\u{0663}\u{0660}\u{0661}\u{0663}",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
        assert!(parse("9999-12-31T23:59:59-14:00").is_some());
        assert!(parse("0001-01-01T00:00:00+14:00").is_some());
    }

    #[test]
    fn elements() {
        let obs = r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},
            "effectiveDateTime":"2013-01","issued":"2013-01-15T10:00:00.000+01:00"}"#;
        assert_eq!(
            dates("Observation.effective", obs),
            vec![(ms("2013-01-01T00:00:00Z"), ms("2013-01-31T23:59:59.999Z"))]
        );
        assert_eq!(
            dates("Observation.issued", obs),
            vec![(ms("2013-01-15T09:00:00Z"), ms("2013-01-15T09:00:00Z"))]
        );
        let pat = r#"{"resourceType":"Patient","birthDate":"1970-03-04"}"#;
        assert_eq!(
            dates("Patient.birthDate", pat),
            vec![(ms("1970-03-04T00:00:00Z"), ms("1970-03-04T23:59:59.999Z"))]
        );
    }

    #[test]
    fn periods() {
        let enc = |period: &str| {
            format!(
                r#"{{"resourceType":"Encounter","status":"finished","class":{{"code":"AMB"}},"period":{period}}}"#
            )
        };
        assert_eq!(
            dates(
                "Encounter.period",
                &enc(r#"{"start":"2013-01-10","end":"2013-01-12"}"#)
            ),
            vec![(ms("2013-01-10T00:00:00Z"), ms("2013-01-12T23:59:59.999Z"))]
        );
        assert_eq!(
            dates("Encounter.period", &enc(r#"{"start":"2013-01-10"}"#)),
            vec![(ms("2013-01-10T00:00:00Z"), i64::MAX)]
        );
        assert_eq!(
            dates("Encounter.period", &enc(r#"{"end":"2013"}"#)),
            vec![(i64::MIN, ms("2013-12-31T23:59:59.999Z"))]
        );
        assert!(dates("Encounter.period", &enc(r#"{"id":"x"}"#)).is_empty());
        assert!(dates("Encounter.period", &enc(r#"{"start":"junk"}"#)).is_empty());
    }

    #[test]
    fn timing() {
        let req = r#"{"resourceType":"MedicationRequest","status":"active","intent":"order",
            "subject":{"reference":"Patient/1"},"medicationCodeableConcept":{"text":"x"},
            "dosageInstruction":[{"timing":{"event":["2013-01-01","2013-01-02T08:00:00Z"],
              "repeat":{"boundsPeriod":{"start":"2013-01-01","end":"2013-01-31"},"frequency":1}}}]}"#;
        assert_eq!(
            dates("MedicationRequest.dosageInstruction.timing", req),
            vec![
                (ms("2013-01-01T00:00:00Z"), ms("2013-01-01T23:59:59.999Z")),
                (ms("2013-01-02T08:00:00Z"), ms("2013-01-02T08:00:00.999Z")),
                (ms("2013-01-01T00:00:00Z"), ms("2013-01-31T23:59:59.999Z")),
            ]
        );
    }

    #[test]
    fn system_values() {
        let pat = r#"{"resourceType":"Patient","birthDate":"1970-03-04"}"#;
        assert_eq!(
            dates("@2014-05", pat),
            vec![(ms("2014-05-01T00:00:00Z"), ms("2014-05-31T23:59:59.999Z"))]
        );
    }
}
