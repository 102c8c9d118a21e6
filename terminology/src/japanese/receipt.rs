//! Receipt drug codes (レセプト電算処理システム用医薬品コード): the 9-digit codes
//! of the drug master (医薬品マスター) that the claims payment fund (支払基金)
//! publishes for electronic claims. Every code of that master starts with
//! `6` (the leading digit tells the claim masters apart: drugs 6,
//! materials 7, comments 8, procedures 1), so a code with another first
//! digit is a code of a different master.

use super::shape::{part, split, Charset, Part};
use crate::Error;

const PARTS: &[Part] = &[
    part("master", 1, &[Charset::Exactly('6')]),
    part("number", 8, &[Charset::Digits]),
];

/// A receipt drug code with a valid shape. Built only by
/// [`ReceiptDrugCode::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceiptDrugCode(String);

impl ReceiptDrugCode {
    /// Checks the shape: 9 digits, the first `6`.
    pub fn parse(code: &str) -> Result<ReceiptDrugCode, Error> {
        split("receipt drug", code, PARTS)?;
        Ok(ReceiptDrugCode(code.to_owned()))
    }

    /// The whole code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_digits_from_six() {
        assert_eq!(
            ReceiptDrugCode::parse("620000033").unwrap().as_str(),
            "620000033"
        );
        let e = ReceiptDrugCode::parse("160000033")
            .unwrap_err()
            .into_shape();
        assert_eq!(e.reason, "character 1 ('1'), the master part, must be '6'");
        let e = ReceiptDrugCode::parse("62000003").unwrap_err().into_shape();
        assert_eq!(
            e.reason,
            "expected 9 characters (master 1, number 8), found 8"
        );
    }
}
