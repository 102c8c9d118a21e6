//! JLAC11, the 11th revision of JSLM's laboratory codes: the same five
//! 17-character parts as JLAC10 with new meanings. The analyte
//! (測定物) is coded afresh, the method is the code of one reagent or
//! measurement product, and the last part is the result unit (結果単位)
//! instead of JLAC10's result identification. A JLAC11 code determines
//! its JLAC10 code (the JLAC11 code table carries it beside each code)
//! but not the reverse, and the parts do not translate one by one: only
//! a loaded master ([`super::master`], the `jlac10` property) links them.
//!
//! | part | chars | characters | example (`C2008-0000-250-009-F7` as written with separators) |
//! |---|---|---|---|
//! | analyte (測定物) | 5 | 0-9 A-Z | `C2008` (AST) |
//! | identification (識別) | 4 | 0-9 A-Z | `0000` |
//! | material (材料) | 3 | 0-9 A-Z | `250` (serum) |
//! | method (測定法) | 3 | 0-9 A-Z | `009` |
//! | result unit (結果単位) | 2 | first 0-9 or A-Z except I and O, second 0-9 | `F7` (U/L) |
//!
//! The code is the 17 characters without separators; the hyphenated form
//! is only how tables print it.

use super::shape::{lab_code_parts, part, split, Charset, Part};
use crate::Error;

/// The layout of a JLAC11 code.
pub(crate) const PARTS: &[Part] = &[
    part("analyte", 5, &[Charset::UpperAlnum]),
    part("identification", 4, &[Charset::UpperAlnum]),
    part("material", 3, &[Charset::UpperAlnum]),
    part("method", 3, &[Charset::UpperAlnum]),
    part("result-unit", 2, &[Charset::UnitLead, Charset::Digits]),
];

/// A JLAC11 code with a valid shape. Built only by [`Jlac11Code::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jlac11Code(String);

impl Jlac11Code {
    /// Checks the shape: 17 ASCII characters in the five parts above.
    pub fn parse(code: &str) -> Result<Jlac11Code, Error> {
        split("JLAC11", code, PARTS)?;
        Ok(Jlac11Code(code.to_owned()))
    }

    /// 結果単位コード, characters 16-17.
    pub fn result_unit(&self) -> &str {
        &self.0[15..17]
    }
}

lab_code_parts!(Jlac11Code);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_unit_rule() {
        // JSLM's published example, AST by one reagent in U/L.
        let c = Jlac11Code::parse("C20080000250009F7").unwrap();
        assert_eq!(c.analyte(), "C2008");
        assert_eq!(c.method(), "009");
        assert_eq!(c.result_unit(), "F7");
        let e = Jlac11Code::parse("C20080000250009O7")
            .unwrap_err()
            .into_shape();
        assert_eq!(
            e.reason,
            "character 16 ('O') of the result-unit part 'O7' (characters 16-17) must be digits 0-9 or upper-case letters A-Z other than I and O"
        );
        let e = Jlac11Code::parse("C20080000250009FF")
            .unwrap_err()
            .into_shape();
        assert!(e.reason.starts_with("character 17 ('F')"), "{}", e.reason);
        assert!(Jlac11Code::parse("C2008-0000-250-009-F7").is_err());
    }
}
