//! A hospital's local code masters, turned into FHIR terminology: a local
//! CodeSystem plus one ConceptMap per standard code system the master maps
//! to, and the in-memory [`Mapper`] the server consults on every write.
//!
//! Japanese hospitals code lab tests and drugs with their own codes and
//! keep a master table (exported as CSV) that maps each local code to the
//! national standards: JLAC10/JLAC11 and LOINC for lab tests, HOT9/HOT13,
//! YJ and the receipt (レセプト電算) code for drugs. Importing the master
//! once lets the server find records written with local codes by the
//! standard codes, and `$translate` answer the mapping both ways.
//!
//! - [`csv_file`] reads the two CSV layouts ([`Kind::Lab`], [`Kind::Drug`]).
//! - [`resources`] writes the CodeSystem and ConceptMaps ([`build`]).
//! - [`mapper`] indexes stored ConceptMaps of local systems for hash
//!   lookups by (local system, code).
//!
//! No IO here: callers hand in the CSV bytes and store the JSON they get.

pub mod csv_file;
pub mod mapper;
pub mod resources;

pub use csv_file::{parse, Row};
pub use mapper::{Mapped, Mapper};
pub use resources::{build, Imported, MapSummary};

use crate::japanese::{HotLevel, JpSystem};

/// The canonical base of the resources and extensions this project
/// defines itself. The project has no published canonical site yet; a
/// `.local` host cannot collide with anyone's real URLs.
pub const PROJECT_BASE: &str = "http://fhir-server.local/fhir";

/// `meta.tag` system on every CodeSystem and ConceptMap `import-codes`
/// writes; the tag code is [`LOCAL_CODES_TAG`]. The server treats the
/// systems of CodeSystems carrying it as "local": codes of other systems
/// are never enriched nor reported.
pub const TAG_SYSTEM: &str = "http://fhir-server.local/fhir/CodeSystem/tags";

/// See [`TAG_SYSTEM`].
pub const LOCAL_CODES_TAG: &str = "local-codes";

/// Extension on a Coding the server added from a ConceptMap
/// (`serve --local-codes enrich`): `valueCanonical` names the map, so a
/// reader can tell the server's codings from the sender's own (which also
/// differ by `userSelected = false`).
pub const MAPPED_FROM_EXTENSION: &str =
    "http://fhir-server.local/fhir/StructureDefinition/mapped-from-conceptmap";

/// Which master a CSV file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `local_code,name,unit,specimen,jlac10,jlac11,loinc`.
    Lab,
    /// `local_code,name,hot9,hot13,yj,receipt`.
    Drug,
}

impl Kind {
    /// `lab` or `drug`, as the CLI and the REST operation spell it.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "lab" => Some(Kind::Lab),
            "drug" => Some(Kind::Drug),
            _ => None,
        }
    }

    /// The columns of this layout, in the documented order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Lab => &[
                "local_code",
                "name",
                "unit",
                "specimen",
                "jlac10",
                "jlac11",
                "loinc",
            ],
            Kind::Drug => &["local_code", "name", "hot9", "hot13", "yj", "receipt"],
        }
    }

    /// The standard systems this layout maps to.
    pub fn targets(self) -> &'static [Target] {
        match self {
            Kind::Lab => &LAB_TARGETS,
            Kind::Drug => &DRUG_TARGETS,
        }
    }

    /// The descriptive (non-mapping) columns kept as concept properties.
    pub fn properties(self) -> &'static [&'static str] {
        match self {
            Kind::Lab => &["unit", "specimen"],
            Kind::Drug => &[],
        }
    }
}

/// A standard code system a master column maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The CSV column.
    pub column: &'static str,
    /// Short name, used in the ConceptMap url (`…-to-loinc`).
    pub name: &'static str,
    standard: Standard,
}

/// LOINC, or one of the Japanese systems, whose canonical urls live in
/// one place ([`JpSystem::url`], with the reasons for the two that no
/// publisher has assigned: JLAC11 and the receipt drug code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standard {
    Loinc,
    Jp(JpSystem),
}

impl Target {
    /// The target system's canonical url.
    pub fn system(&self) -> &'static str {
        match self.standard {
            Standard::Loinc => "http://loinc.org",
            Standard::Jp(s) => s.url(),
        }
    }
}

const fn target(column: &'static str, standard: Standard) -> Target {
    Target {
        column,
        name: column,
        standard,
    }
}

const LAB_TARGETS: [Target; 3] = [
    target("jlac10", Standard::Jp(JpSystem::Jlac10)),
    target("jlac11", Standard::Jp(JpSystem::Jlac11)),
    target("loinc", Standard::Loinc),
];

const DRUG_TARGETS: [Target; 4] = [
    target("hot9", Standard::Jp(JpSystem::Hot(HotLevel::Hot9))),
    target("hot13", Standard::Jp(JpSystem::Hot(HotLevel::Hot13))),
    target("yj", Standard::Jp(JpSystem::Yj)),
    target("receipt", Standard::Jp(JpSystem::ReceiptDrug)),
];

/// The ConceptMap url for `system` → `target`: `…/CodeSystem/x` becomes
/// `…/ConceptMap/x-to-loinc`; other urls get `-to-loinc` appended.
pub fn concept_map_url(system: &str, target: &Target) -> String {
    match system.rsplit_once("/CodeSystem/") {
        Some((base, name)) => format!("{base}/ConceptMap/{name}-to-{}", target.name),
        None => format!("{system}-to-{}", target.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_urls_follow_the_system_url() {
        let loinc = &Kind::Lab.targets()[2];
        assert_eq!(
            concept_map_url("http://h.example/fhir/CodeSystem/lab", loinc),
            "http://h.example/fhir/ConceptMap/lab-to-loinc"
        );
        assert_eq!(
            concept_map_url("urn:oid:1.2.3", loinc),
            "urn:oid:1.2.3-to-loinc"
        );
    }

    #[test]
    fn targets_use_the_canonical_urls_of_the_japanese_systems() {
        let urls: Vec<&str> = Kind::Drug.targets().iter().map(Target::system).collect();
        assert_eq!(
            urls,
            [
                "http://medis.or.jp/CodeSystem/master-HOT9",
                "http://medis.or.jp/CodeSystem/master-HOT13",
                "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code",
                JpSystem::ReceiptDrug.url(),
            ]
        );
        assert_eq!(Kind::Lab.targets()[0].system(), JpSystem::Jlac10.url());
        assert_eq!(Kind::Lab.targets()[2].system(), "http://loinc.org");
    }

    #[test]
    fn kinds_are_spelled_as_on_the_command_line() {
        assert_eq!(Kind::parse("lab"), Some(Kind::Lab));
        assert_eq!(Kind::parse("drug"), Some(Kind::Drug));
        assert_eq!(Kind::parse("Lab"), None);
    }
}
