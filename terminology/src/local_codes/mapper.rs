//! [`Mapper`]: local (system, code) → standard codings, by hash.
//!
//! The server rebuilds one when local CodeSystems or ConceptMaps change
//! and consults it for every coding of every write, so a lookup is two
//! hash probes on borrowed strings, never a scan and never a query.

use std::collections::HashMap;

use crate::ConceptMap;

/// A standard coding a local code maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The standard system.
    pub system: String,
    /// The standard code.
    pub code: String,
    /// Its display, when the map gives one.
    pub display: Option<String>,
    /// The canonical url of the ConceptMap that says so.
    pub concept_map: String,
}

/// The mappings of the local code systems.
#[derive(Debug, Clone, Default)]
pub struct Mapper {
    /// Local system → code → what it maps to (empty: a local code of the
    /// system that no map maps; codes not listed are unmapped too).
    systems: HashMap<String, HashMap<String, Vec<Mapped>>>,
    mappings: usize,
}

impl Mapper {
    /// An empty mapper: no local systems, so nothing is local.
    pub fn new() -> Mapper {
        Mapper::default()
    }

    /// Declares `system` local: its codes are enriched when mapped and
    /// reported when not. Codes of other systems are left alone.
    pub fn add_local_system(&mut self, system: &str) {
        self.systems.entry(system.to_owned()).or_default();
    }

    /// Adds the `equivalent` and `equal` mappings of `cm` whose source is
    /// a local system (declare the systems first). Wider, narrower and
    /// inexact mappings are left out: a coding added to a record must
    /// mean what the sender's code means. Returns how many were added.
    pub fn add_concept_map(&mut self, cm: &ConceptMap) -> usize {
        let url = cm.url().unwrap_or_default();
        let mut added = 0;
        for m in cm.mappings() {
            let (Some(source), Some(target), Some(code)) =
                (m.source_system, m.target_system, m.target_code)
            else {
                continue;
            };
            if !matches!(m.equivalence, "equivalent" | "equal") {
                continue;
            }
            let Some(codes) = self.systems.get_mut(source) else {
                continue;
            };
            let list = codes.entry(m.source_code.to_owned()).or_default();
            if list.iter().any(|x| x.system == target && x.code == code) {
                continue;
            }
            list.push(Mapped {
                system: target.to_owned(),
                code: code.to_owned(),
                display: m.target_display.map(str::to_owned),
                concept_map: url.to_owned(),
            });
            added += 1;
        }
        self.mappings += added;
        added
    }

    /// True when no system is local (the server then skips all work).
    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }

    /// Whether `system` is a local system.
    pub fn is_local(&self, system: &str) -> bool {
        self.systems.contains_key(system)
    }

    /// The local systems.
    pub fn systems(&self) -> impl Iterator<Item = &str> {
        self.systems.keys().map(String::as_str)
    }

    /// How many mappings in all.
    pub fn len(&self) -> usize {
        self.mappings
    }

    /// What a coding maps to: `None` when `system` is not local, an empty
    /// slice when the local code has no mapping.
    pub fn lookup(&self, system: &str, code: &str) -> Option<&[Mapped]> {
        let codes = self.systems.get(system)?;
        Some(codes.get(code).map_or(&[][..], Vec::as_slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"{"resourceType":"ConceptMap","url":"http://h/ConceptMap/lab-to-loinc",
      "group":[{"source":"http://h/CodeSystem/lab","target":"http://loinc.org","element":[
        {"code":"L1","target":[{"code":"2345-7","equivalence":"equivalent"}]},
        {"code":"L2","target":[{"code":"718-7","equivalence":"wider"}]}]},
       {"source":"http://other/system","target":"http://loinc.org","element":[
        {"code":"X","target":[{"code":"1-1","equivalence":"equivalent"}]}]}]}"#;

    #[test]
    fn maps_equivalent_codes_of_local_systems_only() {
        let mut m = Mapper::new();
        assert!(m.is_empty());
        m.add_local_system("http://h/CodeSystem/lab");
        let cm = ConceptMap::from_json(MAP.as_bytes()).expect("map");
        assert_eq!(m.add_concept_map(&cm), 1);
        assert_eq!(m.add_concept_map(&cm), 0, "the same mapping twice is one");
        let l1 = m.lookup("http://h/CodeSystem/lab", "L1").expect("local");
        assert_eq!(l1.len(), 1);
        assert_eq!(l1[0].system, "http://loinc.org");
        assert_eq!(l1[0].code, "2345-7");
        assert_eq!(l1[0].concept_map, "http://h/ConceptMap/lab-to-loinc");
        assert_eq!(m.lookup("http://h/CodeSystem/lab", "L2"), Some(&[][..]));
        assert_eq!(m.lookup("http://h/CodeSystem/lab", "nope"), Some(&[][..]));
        assert_eq!(m.lookup("http://other/system", "X"), None);
        assert!(m.is_local("http://h/CodeSystem/lab"));
        assert_eq!(m.len(), 1);
    }
}
