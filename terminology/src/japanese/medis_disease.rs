//! MEDIS disease exchange codes (病名交換用コード) of the standard disease
//! name master (ICD10対応標準病名マスター): 4 characters, digits and
//! upper-case letters (`L3RF`, 噴門癌), one per disease name. The master's
//! other key, the 8-digit disease management number (病名管理番号), is a
//! property of the loaded master, not a code of this system.

use super::shape::{part, split, Charset, Part};
use crate::Error;

const PARTS: &[Part] = &[part("code", 4, &[Charset::UpperAlnum])];

/// A disease exchange code with a valid shape. Built only by
/// [`DiseaseExchangeCode::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiseaseExchangeCode(String);

impl DiseaseExchangeCode {
    /// Checks the shape: 4 characters, `0-9` or `A-Z`.
    pub fn parse(code: &str) -> Result<DiseaseExchangeCode, Error> {
        split("MEDIS disease exchange", code, PARTS)?;
        Ok(DiseaseExchangeCode(code.to_owned()))
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
    fn four_characters() {
        assert!(DiseaseExchangeCode::parse("L3RF").is_ok());
        let e = DiseaseExchangeCode::parse("l3RF").unwrap_err().into_shape();
        assert_eq!(
            e.reason,
            "character 1 ('l') must be digits 0-9 or upper-case letters A-Z"
        );
        assert!(DiseaseExchangeCode::parse("20054178").is_err());
    }
}
