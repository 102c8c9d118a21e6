//! JLAC10, the 10th revision of the Japanese Society of Laboratory
//! Medicine's laboratory test codes (臨床検査項目分類コード), as the 17-character
//! codes of MEDIS's 臨床検査マスター (the "17桁コード表" JP Core binds to).
//!
//! Five parts, in order (JSLM's code table names them 第1〜第5要素):
//!
//! | part | chars | characters | meaning | example (`3A015000002327101`) |
//! |---|---|---|---|---|
//! | analyte (分析物) | 5 | 0-9 A-Z | what is measured: major class digit, minor class letter, number | `3A015` (albumin) |
//! | identification (識別) | 4 | 0-9 A-Z | load, timing, fraction | `0000` |
//! | material (材料) | 3 | 0-9 | specimen | `023` (serum) |
//! | method (測定法) | 3 | 0-9 | measurement method class | `271` |
//! | result identification (結果識別) | 2 | 0-9 | kind of result (quantitative, qualitative, …) | `01` |
//!
//! JLAC10 is flat: no 17-character code stands for another's group. The
//! analyte alone is not a code of the system (it has 5 characters, not
//! 17), so the engine offers it as a `$lookup` property, not as a parent
//! for `$subsumes`: two codes with the same analyte are siblings, and a
//! client that wants "every albumin result" filters on the property.

use super::shape::{lab_code_parts, part, split, Charset, Part};
use crate::Error;

/// The layout of a JLAC10 code.
pub(crate) const PARTS: &[Part] = &[
    part("analyte", 5, &[Charset::UpperAlnum]),
    part("identification", 4, &[Charset::UpperAlnum]),
    part("material", 3, &[Charset::Digits]),
    part("method", 3, &[Charset::Digits]),
    part("result-identification", 2, &[Charset::Digits]),
];

/// A JLAC10 code with a valid shape. Built only by [`Jlac10Code::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jlac10Code(String);

impl Jlac10Code {
    /// Checks the shape: 17 ASCII characters in the five parts above.
    pub fn parse(code: &str) -> Result<Jlac10Code, Error> {
        split("JLAC10", code, PARTS)?;
        Ok(Jlac10Code(code.to_owned()))
    }

    /// 結果識別コード, characters 16-17.
    pub fn result_identification(&self) -> &str {
        &self.0[15..17]
    }
}

lab_code_parts!(Jlac10Code);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_real_codes() {
        // From the JP-CLINS examples (potassium, eGFR) and JP-CLINS's
        // core lab code system (albumin).
        let k = Jlac10Code::parse("3H015000002326101").unwrap();
        assert_eq!(
            k.parts(),
            [
                ("analyte", "3H015"),
                ("identification", "0000"),
                ("material", "023"),
                ("method", "261"),
                ("result-identification", "01"),
            ]
        );
        assert_eq!(
            Jlac10Code::parse("8A065000002391901").unwrap().method(),
            "919"
        );
        assert_eq!(
            Jlac10Code::parse("3A015000002327101").unwrap().analyte(),
            "3A015"
        );
    }

    #[test]
    fn malformed_codes_name_the_part() {
        let e = Jlac10Code::parse("3H01500000232610")
            .unwrap_err()
            .into_shape();
        assert_eq!(
            e.reason,
            "expected 17 characters (analyte 5, identification 4, material 3, method 3, result-identification 2), found 16"
        );
        let e = Jlac10Code::parse("3H0150000023261A1")
            .unwrap_err()
            .into_shape();
        assert!(
            e.reason.contains("result-identification part 'A1'"),
            "{}",
            e.reason
        );
        let e = Jlac10Code::parse("3h015000002326101")
            .unwrap_err()
            .into_shape();
        assert!(e.reason.contains("analyte part '3h015'"), "{}", e.reason);
        assert!(Jlac10Code::parse("3H015-0000-023-261-01").is_err());
    }
}
