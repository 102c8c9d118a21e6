//! The Japanese standard code systems: JLAC10 and JLAC11 lab codes, HOT
//! drug codes (HOT7, HOT9, HOT11, HOT13), YJ codes, receipt drug codes and
//! MEDIS disease exchange codes.
//!
//! Their official masters cannot be shipped, so the engine knows each
//! system's *shape* and works without a master:
//! - [`JpSystem::check`] (and the code types [`Jlac10Code`],
//!   [`Jlac11Code`], [`HotCode`], [`YjCode`], [`ReceiptDrugCode`],
//!   [`DiseaseExchangeCode`], each built only through its shape check)
//!   says which part of a malformed code is wrong;
//! - when no CodeSystem with the system's url is loaded, the
//!   [`crate::Registry`] answers `$validate-code` by shape (saying so),
//!   `$lookup` with the parts of a code as properties (the HOT level and
//!   parent for HOT codes), and `$subsumes` along the HOT nesting
//!   (`builtin.rs`);
//! - when one is loaded (a master imported with [`master::load`]), the
//!   master answers, and malformed codes are still refused by shape.
//!
//! # Canonical URLs
//!
//! Each system has the url the JP-CLINS IG's code table gives (the
//! `medis.or.jp` and `capstandard.jp` ones JP Core binds to, first in
//! [`JpSystem::urls`], used for loaded masters), plus the aliases JP Core
//! 1.1.2's NamingSystems and the e-prescription CDA tables give for the
//! same system (`urn:oid:…`, `http://jpfhir.jp/fhir/core/CodeSystem/…`),
//! all accepted. Two systems have no published canonical url: HOT11 uses
//! `http://medis.or.jp/CodeSystem/master-HOT11`, following its siblings'
//! pattern, and JLAC11 `http://jpfhir.jp/fhir/core/CodeSystem/JLAC11`
//! (JP-CLINS only names value-set-specific JLAC11 subsets); both are the
//! engine's choice, kept in one place ([`JpSystem::urls`]) to change when
//! a publisher assigns one. JP-CLINS's own subsets
//! (`http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/…`) are not these
//! systems: they hold grouping codes such as `ALB`, so no shape applies.

mod builtin;
mod hot;
mod jlac10;
mod jlac11;
pub mod master;
mod master_csv;
mod medis_disease;
mod receipt;
mod shape;
mod yj;

pub(crate) use builtin::malformed;
pub use hot::{HotCode, HotLevel};
pub use jlac10::Jlac10Code;
pub use jlac11::Jlac11Code;
pub use medis_disease::DiseaseExchangeCode;
pub use receipt::ReceiptDrugCode;
pub use shape::ShapeError;
pub use yj::YjCode;

/// One of the Japanese standard code systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JpSystem {
    /// JLAC10 17-character lab codes.
    Jlac10,
    /// JLAC11 17-character lab codes.
    Jlac11,
    /// HOT drug codes of one level.
    Hot(HotLevel),
    /// YJ codes (個別医薬品コード).
    Yj,
    /// Receipt drug codes (レセプト電算処理システム用医薬品コード).
    ReceiptDrug,
    /// MEDIS disease exchange codes (病名交換用コード).
    MedisDisease,
}

impl JpSystem {
    /// Every system.
    pub const ALL: [JpSystem; 9] = [
        JpSystem::Jlac10,
        JpSystem::Jlac11,
        JpSystem::Hot(HotLevel::Hot7),
        JpSystem::Hot(HotLevel::Hot9),
        JpSystem::Hot(HotLevel::Hot11),
        JpSystem::Hot(HotLevel::Hot13),
        JpSystem::Yj,
        JpSystem::ReceiptDrug,
        JpSystem::MedisDisease,
    ];

    /// The urls that name this system: the canonical one first, then the
    /// aliases (see the module doc for where each comes from).
    pub fn urls(self) -> &'static [&'static str] {
        match self {
            JpSystem::Jlac10 => &[
                "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",
                "urn:oid:1.2.392.200119.4.504",
                "http://jpfhir.jp/fhir/core/CodeSystem/JP_ObservationLabResultCode_CS",
            ],
            JpSystem::Jlac11 => &["http://jpfhir.jp/fhir/core/CodeSystem/JLAC11"],
            JpSystem::Hot(HotLevel::Hot7) => &[
                "http://medis.or.jp/CodeSystem/master-HOT7",
                "urn:oid:1.2.392.200119.4.403.2",
                "http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeHOT7_CS",
            ],
            JpSystem::Hot(HotLevel::Hot9) => &[
                "http://medis.or.jp/CodeSystem/master-HOT9",
                "urn:oid:1.2.392.200119.4.403.1",
                "urn:oid:1.2.392.100495.20.2.74",
                "http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeHOT9_CS",
            ],
            JpSystem::Hot(HotLevel::Hot11) => &["http://medis.or.jp/CodeSystem/master-HOT11"],
            JpSystem::Hot(HotLevel::Hot13) => &[
                "http://medis.or.jp/CodeSystem/master-HOT13",
                "urn:oid:1.2.392.200119.4.402.1",
                "http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeHOT13_CS",
            ],
            JpSystem::Yj => &[
                "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code",
                "urn:oid:1.2.392.100495.20.2.73",
                // JP Core 1.1.2's NamingSystem spells the OID with .1.73.
                "urn:oid:1.2.392.100495.20.1.73",
                "http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeYJ_CS",
            ],
            JpSystem::ReceiptDrug => &["urn:oid:1.2.392.100495.20.2.71"],
            JpSystem::MedisDisease => &[
                "http://medis.or.jp/CodeSystem/master-disease-exCode",
                "urn:oid:1.2.392.200119.4.101.6",
            ],
        }
    }

    /// A short lower-case key, for command lines and resource ids:
    /// `jlac10`, `jlac11`, `hot7`, `hot9`, `hot11`, `hot13`, `yj`,
    /// `receipt`, `medis-disease`.
    pub fn key(self) -> &'static str {
        match self {
            JpSystem::Jlac10 => "jlac10",
            JpSystem::Jlac11 => "jlac11",
            JpSystem::Hot(HotLevel::Hot7) => "hot7",
            JpSystem::Hot(HotLevel::Hot9) => "hot9",
            JpSystem::Hot(HotLevel::Hot11) => "hot11",
            JpSystem::Hot(HotLevel::Hot13) => "hot13",
            JpSystem::Yj => "yj",
            JpSystem::ReceiptDrug => "receipt",
            JpSystem::MedisDisease => "medis-disease",
        }
    }

    /// The system with this [`JpSystem::key`] (any case).
    pub fn from_key(key: &str) -> Option<JpSystem> {
        JpSystem::ALL
            .into_iter()
            .find(|s| s.key().eq_ignore_ascii_case(key))
    }

    /// The canonical url, the one a loaded master gets.
    pub fn url(self) -> &'static str {
        self.urls()[0]
    }

    /// A short name: `JLAC10`, `HOT9`, `YJ`, …
    pub fn name(self) -> &'static str {
        match self {
            JpSystem::Jlac10 => "JLAC10",
            JpSystem::Jlac11 => "JLAC11",
            JpSystem::Hot(level) => level.name(),
            JpSystem::Yj => "YJ",
            JpSystem::ReceiptDrug => "receipt drug",
            JpSystem::MedisDisease => "MEDIS disease exchange",
        }
    }

    /// The system's Japanese title, for a loaded master's `title`.
    pub fn title(self) -> &'static str {
        match self {
            JpSystem::Jlac10 => "臨床検査項目分類コード JLAC10 (17桁)",
            JpSystem::Jlac11 => "臨床検査項目分類コード JLAC11 (17桁)",
            JpSystem::Hot(HotLevel::Hot7) => "医薬品HOTコード HOT7 (処方用番号)",
            JpSystem::Hot(HotLevel::Hot9) => "医薬品HOTコード HOT9",
            JpSystem::Hot(HotLevel::Hot11) => "医薬品HOTコード HOT11",
            JpSystem::Hot(HotLevel::Hot13) => "医薬品HOTコード HOT13 (基準番号)",
            JpSystem::Yj => "個別医薬品コード (YJコード)",
            JpSystem::ReceiptDrug => "レセプト電算処理システム用医薬品コード",
            JpSystem::MedisDisease => "MEDIS 標準病名マスター 病名交換用コード",
        }
    }

    /// Checks a code's shape for this system.
    pub fn check(self, code: &str) -> Result<JpCode, crate::Error> {
        Ok(match self {
            JpSystem::Jlac10 => JpCode::Jlac10(Jlac10Code::parse(code)?),
            JpSystem::Jlac11 => JpCode::Jlac11(Jlac11Code::parse(code)?),
            JpSystem::Hot(level) => JpCode::Hot(HotCode::parse(code, level)?),
            JpSystem::Yj => JpCode::Yj(YjCode::parse(code)?),
            JpSystem::ReceiptDrug => JpCode::ReceiptDrug(ReceiptDrugCode::parse(code)?),
            JpSystem::MedisDisease => JpCode::MedisDisease(DiseaseExchangeCode::parse(code)?),
        })
    }
}

/// The Japanese system a code system url (or `url|version`) names, if any.
pub fn system_for(url: &str) -> Option<JpSystem> {
    let url = url.split_once('|').map_or(url, |(u, _)| u);
    JpSystem::ALL.into_iter().find(|s| s.urls().contains(&url))
}

/// A code with a valid shape, of one of the systems.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JpCode {
    /// A JLAC10 code.
    Jlac10(Jlac10Code),
    /// A JLAC11 code.
    Jlac11(Jlac11Code),
    /// A HOT code of some level.
    Hot(HotCode),
    /// A YJ code.
    Yj(YjCode),
    /// A receipt drug code.
    ReceiptDrug(ReceiptDrugCode),
    /// A MEDIS disease exchange code.
    MedisDisease(DiseaseExchangeCode),
}

impl JpCode {
    /// The code.
    pub fn as_str(&self) -> &str {
        match self {
            JpCode::Jlac10(c) => c.as_str(),
            JpCode::Jlac11(c) => c.as_str(),
            JpCode::Hot(c) => c.as_str(),
            JpCode::Yj(c) => c.as_str(),
            JpCode::ReceiptDrug(c) => c.as_str(),
            JpCode::MedisDisease(c) => c.as_str(),
        }
    }

    /// The named parts a `$lookup` reports (empty for systems whose codes
    /// are opaque numbers).
    pub fn parts(&self) -> Vec<(&'static str, &str)> {
        match self {
            JpCode::Jlac10(c) => c.parts(),
            JpCode::Jlac11(c) => c.parts(),
            JpCode::Yj(c) => c.parts(),
            JpCode::Hot(_) | JpCode::ReceiptDrug(_) | JpCode::MedisDisease(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_one_system_each() {
        let mut seen = std::collections::HashSet::new();
        for s in JpSystem::ALL {
            for u in s.urls() {
                assert!(seen.insert(*u), "{u} twice");
                assert_eq!(system_for(u), Some(s));
            }
        }
        for s in JpSystem::ALL {
            assert_eq!(JpSystem::from_key(&s.key().to_uppercase()), Some(s));
        }
        assert_eq!(
            system_for("http://medis.or.jp/CodeSystem/master-HOT9|2024"),
            Some(JpSystem::Hot(HotLevel::Hot9))
        );
        assert_eq!(
            system_for(
                "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS"
            ),
            None
        );
    }

    #[test]
    fn check_by_system() {
        let c = JpSystem::Jlac10.check("3A015000002327101").unwrap();
        assert_eq!(c.parts()[2], ("material", "023"));
        assert!(JpSystem::Hot(HotLevel::Hot9).check("1038316").is_err());
        assert!(JpSystem::ReceiptDrug
            .check("620000033")
            .unwrap()
            .parts()
            .is_empty());
    }
}
