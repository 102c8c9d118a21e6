//! The FHIR primitive value types.
//!
//! String-based primitives are newtypes that can only be built through a
//! check of the format the specification gives for the type
//! (datatypes.html#primitive), so a value held in the model is always valid.
//! `decimal` keeps the text it was written with: `1.50` and `1.0e2` carry
//! precision that a float would lose, and FHIR requires it to survive.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A primitive value that breaks its type's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {type_name} value {value:?}")]
pub struct PrimitiveError {
    pub type_name: &'static str,
    pub value: String,
}

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $fhir:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The FHIR type name, as StructureDefinitions spell it.
            pub const FHIR_TYPE: &'static str = $fhir;

            /// Checks `value` against the type's format.
            pub fn new(value: impl Into<String>) -> Result<Self, PrimitiveError> {
                let value = value.into();
                let check: fn(&str) -> bool = $check;
                if control_char(&value).is_none() && check(&value) {
                    Ok(Self(value))
                } else {
                    Err(PrimitiveError { type_name: $fhir, value })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Compiles a regex anchored at both ends, as the spec's regexes are meant.
fn anchored(pattern: &str) -> Regex {
    match Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => re,
        // The patterns are literals of this file; a typo is caught by the tests.
        Err(e) => panic!("bad built-in pattern {pattern}: {e}"),
    }
}

static ID: LazyLock<Regex> = LazyLock::new(|| anchored(r"[A-Za-z0-9\-\.]{1,64}"));
// `\s` in the spec's patterns is XML Schema's: space, tab, CR and LF only,
// so a no-break space is an ordinary character there (and in the HL7 tools).
static CODE: LazyLock<Regex> = LazyLock::new(|| anchored(r"[^ \t\r\n]+( [^ \t\r\n]+)*"));
const YEAR: &str = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)";
const MONTH: &str = r"(0[1-9]|1[0-2])";
const DAY: &str = r"(0[1-9]|[1-2][0-9]|3[0-1])";
const TIME: &str = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?";
const ZONE: &str = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))";
static DATE: LazyLock<Regex> = LazyLock::new(|| anchored(&format!(r"{YEAR}(-{MONTH}(-{DAY})?)?")));
static DATE_TIME: LazyLock<Regex> =
    LazyLock::new(|| anchored(&format!(r"{YEAR}(-{MONTH}(-{DAY}(T{TIME}{ZONE})?)?)?")));
static INSTANT: LazyLock<Regex> =
    LazyLock::new(|| anchored(&format!(r"{YEAR}-{MONTH}-{DAY}T{TIME}{ZONE}")));
static TIME_RE: LazyLock<Regex> = LazyLock::new(|| anchored(TIME));
static OID: LazyLock<Regex> = LazyLock::new(|| anchored(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    anchored(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
});
static BASE64: LazyLock<Regex> = LazyLock::new(|| anchored(r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+"));
static DECIMAL: LazyLock<Regex> =
    LazyLock::new(|| anchored(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"));

/// The calendar check the regexes cannot make: `2023-02-30` matches the date
/// pattern but names no day.
fn day_exists(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 10 || b.get(7) != Some(&b'-') {
        return true; // year or year-month precision: nothing more to check
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let max = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= max
}

/// The first character below U+0020 other than tab, CR and LF: strings
/// SHALL NOT contain them (datatypes.html#string), and XML cannot carry
/// them, so a resource holding one could not be written as XML.
pub fn control_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| *c < ' ' && !matches!(c, '\t' | '\r' | '\n'))
}

/// The issue message for a string holding `c` (see [`control_char`]).
pub fn control_char_message(c: char) -> String {
    format!(
        "a string must not contain the control character U+{:04X}: below U+0020 only tab, CR and LF are allowed",
        c as u32
    )
}

fn non_empty(s: &str) -> bool {
    !s.is_empty()
}

/// The spec's `\S*` for URIs, with XML Schema's white space.
fn uri_like(s: &str) -> bool {
    non_empty(s) && !s.bytes().any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

checked_string!(
    /// `id`: 1 to 64 letters, digits, `-` and `.`.
    Id, "id", |s| ID.is_match(s)
);
checked_string!(
    /// `code`: tokens separated by single spaces, no leading or trailing space.
    Code, "code", |s| CODE.is_match(s)
);
checked_string!(
    /// `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, with no time zone.
    Date, "date", |s| DATE.is_match(s) && day_exists(s)
);
checked_string!(
    /// `dateTime`: a date of any precision, or a full time with a zone.
    DateTime, "dateTime", |s| DATE_TIME.is_match(s) && day_exists(s)
);
checked_string!(
    /// `instant`: a full date and time with a zone.
    Instant, "instant", |s| INSTANT.is_match(s) && day_exists(s)
);
checked_string!(
    /// `time`: `hh:mm:ss` with optional fraction, no zone.
    Time, "time", |s| TIME_RE.is_match(s)
);
checked_string!(
    /// `oid`: `urn:oid:` and a dotted OID.
    Oid, "oid", |s| OID.is_match(s)
);
checked_string!(
    /// `uuid`: `urn:uuid:` and a lower-case UUID.
    Uuid, "uuid", |s| UUID.is_match(s)
);
checked_string!(
    /// `base64Binary`: base64 text, white space allowed between quads.
    Base64Binary, "base64Binary", |s| BASE64.is_match(s)
);
checked_string!(
    /// `uri`: any URI; the spec only forbids white space.
    Uri, "uri", uri_like
);
checked_string!(
    /// `url`: a URI that is a URL.
    Url, "url", uri_like
);
checked_string!(
    /// `canonical`: a URI, optionally with `|version`.
    Canonical, "canonical", uri_like
);
checked_string!(
    /// `markdown`: any non-empty string.
    Markdown, "markdown", non_empty
);
checked_string!(
    /// `xhtml`: the narrative `div`, kept as the exact text received; only
    /// XHTML that [`crate::xhtml::check`] accepts.
    Xhtml, "xhtml", |s| crate::xhtml::check(s).is_ok()
);

impl Xhtml {
    /// Like [`Xhtml::new`], with the reason a narrative is refused.
    pub fn checked(value: String) -> Result<Self, String> {
        crate::xhtml::check(&value)?;
        Ok(Self(value))
    }
}
checked_string!(
    /// `decimal`, kept as the JSON text it was written with.
    Decimal, "decimal", |s| DECIMAL.is_match(s)
);

/// `positiveInt`: 1 to 2,147,483,647.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PositiveInt(u32);

impl PositiveInt {
    pub const FHIR_TYPE: &'static str = "positiveInt";

    pub fn new(value: i64) -> Result<Self, PrimitiveError> {
        match u32::try_from(value) {
            Ok(v) if v >= 1 && v <= i32::MAX as u32 => Ok(Self(v)),
            _ => Err(PrimitiveError {
                type_name: Self::FHIR_TYPE,
                value: value.to_string(),
            }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// `unsignedInt`: 0 to 2,147,483,647.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnsignedInt(u32);

impl UnsignedInt {
    pub const FHIR_TYPE: &'static str = "unsignedInt";

    pub fn new(value: i64) -> Result<Self, PrimitiveError> {
        match u32::try_from(value) {
            Ok(v) if v <= i32::MAX as u32 => Ok(Self(v)),
            _ => Err(PrimitiveError {
                type_name: Self::FHIR_TYPE,
                value: value.to_string(),
            }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_spec_and_the_calendar() {
        for ok in ["2020", "2020-02", "2020-02-29", "0001-01-01"] {
            assert!(Date::new(ok).is_ok(), "{ok}");
        }
        for bad in ["2019-02-29", "2020-13", "2020-1-1", "20", "2020-02-30T"] {
            assert!(Date::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_times_need_a_zone_with_a_time() {
        assert!(DateTime::new("2015-02-07T13:28:17-05:00").is_ok());
        assert!(DateTime::new("2015-02-07T13:28:17.239+02:00").is_ok());
        assert!(DateTime::new("2015-02-07T13:28:17").is_err());
        assert!(Instant::new("2015-02-07").is_err());
        assert!(Instant::new("2015-02-07T13:28:17Z").is_ok());
    }

    #[test]
    fn ids_codes_and_numbers() {
        assert!(Id::new("a-b.C1").is_ok());
        assert!(Id::new("a_b").is_err());
        assert!(Id::new("x".repeat(65)).is_err());
        assert!(Code::new("a b").is_ok());
        assert!(Code::new(" a").is_err());
        assert!(Code::new("a  b").is_err());
        assert!(
            Code::new("KIDN\u{a0}").is_ok(),
            "only XML Schema white space counts"
        );
        assert!(PositiveInt::new(0).is_err());
        assert!(UnsignedInt::new(0).is_ok());
        assert!(UnsignedInt::new(-1).is_err());
        assert!(Decimal::new("1.0e2").is_ok());
        assert!(Decimal::new("01").is_err());
        assert!(Oid::new("urn:oid:1.2.3").is_ok());
        assert!(Uuid::new("urn:uuid:C757873D-EC9A-4326-A141-556F43239520").is_err());
        assert!(Time::new("24:00:00").is_err());
        assert!(Base64Binary::new("aGVsbG8=").is_ok());
        assert!(Base64Binary::new("a").is_err());
    }

    #[test]
    fn control_characters_are_refused_in_every_string_type() {
        assert_eq!(control_char("a\tb\r\nc"), None);
        assert_eq!(control_char("A\u{0}B"), Some('\u{0}'));
        assert!(Code::new("a\u{1}").is_err());
        assert!(Uri::new("http://x/\u{1f}").is_err());
        assert!(Markdown::new("x\u{0}").is_err());
        assert!(Markdown::new("line\nbreak\ttab").is_ok());
    }
}
