//! MEDIS's HOT codes for drugs (医薬品HOTコード), four nested levels of one
//! all-digit number:
//!
//! | level | digits | adds | names |
//! |---|---|---|---|
//! | HOT7 | 7 | 処方用番号 | the product for prescribing (name, strength, form) |
//! | HOT9 | 9 | + 会社識別 2 | the product of one company (the level JP Core prefers) |
//! | HOT11 | 11 | + 調剤用 2 | a dispensing unit |
//! | HOT13 | 13 | + 物流用 2 | a package (MEDIS's 基準番号, the master's key) |
//!
//! Each level is the prefix of the next, so a HOT7 code subsumes every
//! HOT9, HOT11 and HOT13 code that starts with it: `$subsumes` follows the
//! nesting across the levels' code systems without a master.

use std::fmt;

use super::shape::{part, split, Charset, Part, ShapeError};
use crate::Error;

/// The four HOT levels, by their number of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HotLevel {
    /// 7 digits.
    Hot7,
    /// 9 digits.
    Hot9,
    /// 11 digits.
    Hot11,
    /// 13 digits.
    Hot13,
}

impl HotLevel {
    /// Every level, shortest first.
    pub const ALL: [HotLevel; 4] = [
        HotLevel::Hot7,
        HotLevel::Hot9,
        HotLevel::Hot11,
        HotLevel::Hot13,
    ];

    /// The number of digits.
    pub fn digits(self) -> usize {
        match self {
            HotLevel::Hot7 => 7,
            HotLevel::Hot9 => 9,
            HotLevel::Hot11 => 11,
            HotLevel::Hot13 => 13,
        }
    }

    /// The level with this many digits.
    pub fn from_digits(n: usize) -> Option<HotLevel> {
        HotLevel::ALL.into_iter().find(|l| l.digits() == n)
    }

    /// The next shorter level, whose code is this one's parent.
    pub fn parent(self) -> Option<HotLevel> {
        match self {
            HotLevel::Hot7 => None,
            HotLevel::Hot9 => Some(HotLevel::Hot7),
            HotLevel::Hot11 => Some(HotLevel::Hot9),
            HotLevel::Hot13 => Some(HotLevel::Hot11),
        }
    }

    /// `HOT7`, `HOT9`, …
    pub fn name(self) -> &'static str {
        match self {
            HotLevel::Hot7 => "HOT7",
            HotLevel::Hot9 => "HOT9",
            HotLevel::Hot11 => "HOT11",
            HotLevel::Hot13 => "HOT13",
        }
    }

    fn parts(self) -> &'static [Part] {
        const ALL: [Part; 4] = [
            part("prescription number (HOT7)", 7, &[Charset::Digits]),
            part("company", 2, &[Charset::Digits]),
            part("dispensing", 2, &[Charset::Digits]),
            part("logistics", 2, &[Charset::Digits]),
        ];
        match self {
            HotLevel::Hot7 => &ALL[..1],
            HotLevel::Hot9 => &ALL[..2],
            HotLevel::Hot11 => &ALL[..3],
            HotLevel::Hot13 => &ALL[..4],
        }
    }
}

impl fmt::Display for HotLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A HOT code of a known level. Built only through its shape check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HotCode {
    code: String,
    level: HotLevel,
}

impl HotCode {
    /// A code of the given level: exactly that many digits.
    pub fn parse(code: &str, level: HotLevel) -> Result<HotCode, Error> {
        split(level.name(), code, level.parts())?;
        Ok(HotCode {
            code: code.to_owned(),
            level,
        })
    }

    /// A code of any level, the level read from its length (7, 9, 11 or
    /// 13 digits).
    pub fn parse_any(code: &str) -> Result<HotCode, Error> {
        match HotLevel::from_digits(code.len()) {
            Some(level) => HotCode::parse(code, level),
            None => {
                // Report the digits first when there are bad characters.
                split("HOT", code, &[part("code", code.len(), &[Charset::Digits])])?;
                Err(Error::Shape(ShapeError {
                    system: "HOT",
                    code: code.to_owned(),
                    reason: format!(
                        "expected 7, 9, 11 or 13 digits (HOT7, HOT9, HOT11, HOT13), found {}",
                        code.chars().count()
                    ),
                }))
            }
        }
    }

    /// The whole code.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// Its level.
    pub fn level(&self) -> HotLevel {
        self.level
    }

    /// The code at a shorter (or the same) level: its first digits.
    pub fn prefix(&self, level: HotLevel) -> Option<&str> {
        (level <= self.level).then(|| &self.code[..level.digits()])
    }

    /// The code one level up (HOT13 → HOT11 → HOT9 → HOT7).
    pub fn parent(&self) -> Option<HotCode> {
        let level = self.level.parent()?;
        Some(HotCode {
            code: self.code[..level.digits()].to_owned(),
            level,
        })
    }

    /// Whether this code is `other` or one of its ancestors.
    pub fn is_prefix_of(&self, other: &HotCode) -> bool {
        self.level <= other.level && other.code.starts_with(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_prefixes() {
        let c = HotCode::parse_any("1038316010101").unwrap();
        assert_eq!(c.level(), HotLevel::Hot13);
        assert_eq!(c.prefix(HotLevel::Hot9), Some("103831601"));
        assert_eq!(c.prefix(HotLevel::Hot7), Some("1038316"));
        let p = c.parent().unwrap();
        assert_eq!((p.as_str(), p.level()), ("10383160101", HotLevel::Hot11));
        let hot9 = HotCode::parse("103831601", HotLevel::Hot9).unwrap();
        assert!(hot9.is_prefix_of(&c) && !c.is_prefix_of(&hot9));
        assert_eq!(hot9.prefix(HotLevel::Hot13), None);
        assert!(HotCode::parse("1038316", HotLevel::Hot7)
            .unwrap()
            .parent()
            .is_none());
    }

    #[test]
    fn shape_errors() {
        let e = HotCode::parse("1038316", HotLevel::Hot9)
            .unwrap_err()
            .into_shape();
        assert_eq!(
            e.to_string(),
            "'1038316' is not a valid HOT9 code: expected 9 characters (prescription number (HOT7) 7, company 2), found 7"
        );
        let e = HotCode::parse("10383160A", HotLevel::Hot9)
            .unwrap_err()
            .into_shape();
        assert!(e.reason.contains("company part '0A'"), "{}", e.reason);
        let e = HotCode::parse_any("12345678").unwrap_err().into_shape();
        assert!(
            e.reason.starts_with("expected 7, 9, 11 or 13 digits"),
            "{}",
            e.reason
        );
        let e = HotCode::parse_any("12345A78").unwrap_err().into_shape();
        assert!(e.reason.contains("must be digits"), "{}", e.reason);
    }
}
