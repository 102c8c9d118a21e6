//! YJ codes (個別医薬品コード): 12 characters naming one drug product, as
//! drug information services and the JP-CLINS prescriptions use them
//! (`2233002F1280`). The first 7 characters are those of the MHLW drug
//! price list code (薬価基準収載医薬品コード) the product is listed under.
//!
//! | part | chars | characters |
//! |---|---|---|
//! | therapeutic class (薬効分類) | 4 | 0-9 |
//! | route and ingredient (投与経路・成分) | 3 | 0-9 A-Z |
//! | dosage form (剤形) | 1 | A-Z |
//! | strength (規格) | 1 | 0-9 A-Z |
//! | brand (銘柄) | 2 | 0-9 A-Z |
//! | check digit | 1 | 0-9 |
//!
//! The check digit is not recomputed: its algorithm is not part of the
//! published description the engine relies on, and a wrong guess would
//! reject real codes.

use super::shape::{part, split, Charset, Part};
use crate::Error;

const PARTS: &[Part] = &[
    part("therapeutic-class", 4, &[Charset::Digits]),
    part("route-ingredient", 3, &[Charset::UpperAlnum]),
    part("dosage-form", 1, &[Charset::Upper]),
    part("strength", 1, &[Charset::UpperAlnum]),
    part("brand", 2, &[Charset::UpperAlnum]),
    part("check-digit", 1, &[Charset::Digits]),
];

/// A YJ code with a valid shape. Built only by [`YjCode::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct YjCode(String);

impl YjCode {
    /// Checks the shape: 12 ASCII characters in the parts above.
    pub fn parse(code: &str) -> Result<YjCode, Error> {
        split("YJ", code, PARTS)?;
        Ok(YjCode(code.to_owned()))
    }

    /// The whole code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 薬効分類番号, characters 1-4.
    pub fn therapeutic_class(&self) -> &str {
        &self.0[0..4]
    }

    /// 剤形, character 8.
    pub fn dosage_form(&self) -> &str {
        &self.0[7..8]
    }

    /// The parts as (property name, value), in code order.
    pub fn parts(&self) -> Vec<(&'static str, &str)> {
        super::shape::parts_of(&self.0, PARTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_and_errors() {
        for code in [
            "2233002F1280",
            "2171022F6276",
            "2456001F1310",
            "2171014F1020",
        ] {
            assert!(YjCode::parse(code).is_ok(), "{code}");
        }
        let c = YjCode::parse("2233002F1280").unwrap();
        assert_eq!(c.therapeutic_class(), "2233");
        assert_eq!(c.dosage_form(), "F");
        assert_eq!(c.parts()[4], ("brand", "28"));
        let e = YjCode::parse("22330021F280").unwrap_err().into_shape();
        assert_eq!(
            e.reason,
            "character 8 ('1'), the dosage-form part, must be upper-case letters A-Z"
        );
        assert!(YjCode::parse("2233002F128").is_err());
    }
}
