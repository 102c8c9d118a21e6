//! Local lab and drug codes mapped to standard codes on write (the
//! library side is `terminology::local_codes`).
//!
//! `import-codes` (CLI, fhir-server's `local_codes::import`) or `CodeSystem/$import-codes` (REST,
//! `operation::local_codes`) store a hospital's master as a local
//! CodeSystem plus ConceptMaps, tagged as local. Every write then consults
//! a [`Mapper`] of those maps, by `serve --local-codes` ([`Mode`]):
//!
//! - `index` (the default): the stored resource is exactly what the client
//!   sent; the standard codes of its mapped local codings are added only
//!   as search index rows, so `Observation?code=http://loinc.org|2823-3`
//!   finds a result coded `L0123`. Records are not rewritten behind the
//!   sender's back, which is why this is the default.
//! - `enrich`: a CodeableConcept coded only with local codes gets the
//!   standard codings added before it is stored, each with
//!   `userSelected = false` and the extension
//!   [`terminology::local_codes::MAPPED_FROM_EXTENSION`] naming the
//!   ConceptMap, so readers see the standard codes too.
//! - `off`: nothing.
//!
//! A CodeSystem stored through plain REST counts as local too when a
//! stored ConceptMap maps from it (see [`build`]), so a hospital keeping
//! its master and maps as ordinary FHIR resources gets the same.
//!
//! Either way a local code with no mapping is recorded in the report
//! (`store::local_codes`, `CodeSystem/$unmapped-codes`) and comes back as a
//! warning where the response carries an OperationOutcome ([`scan`]).
//! Codes of systems that were never imported are not local and are left
//! alone. Mappings apply to writes after the import; `$reindex` applies
//! them to the index of resources stored before (index mode).
//!
//! The mapper is rebuilt when the stored CodeSystems or ConceptMaps change,
//! noticed through the Terminology stamp of the definition change feed
//! (`store/definitions.rs`): every write reads the stamps before it takes
//! its [`Snapshot`], so a write that starts after an import committed on
//! any process maps with it.

pub mod scan;

use std::sync::{Arc, Mutex, RwLock};

use terminology::local_codes::{Mapper, LOCAL_CODES_TAG, TAG_SYSTEM};

use crate::search::index::IndexEntries;
use crate::store::{DefinitionKind, Store, StoreError};

/// A coding of a local system: (system, code).
pub type LocalCode = (String, String);

/// `serve --local-codes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Add the standard codings to the stored resource.
    Enrich,
    /// Add the standard codes to the search index only.
    #[default]
    Index,
    /// No mapping, no report.
    Off,
}

struct Loaded {
    /// The Terminology stamp the mapper was built from (`None`: never).
    stamp: Option<i64>,
    /// The version stamps of CodeSystem and ConceptMap it was built from:
    /// the Terminology stamp also moves for ValueSets, which the mapper
    /// does not read, and rebuilding on each of them made loading a
    /// package or the R4 examples quadratic.
    sources: Option<[(i64, i64); 2]>,
    mapper: Arc<Mapper>,
}

/// The store's local-code state: the mode and the current mapper.
pub struct LocalCodes {
    mode: RwLock<Mode>,
    loaded: RwLock<Loaded>,
    rebuild: Mutex<()>,
}

impl Default for LocalCodes {
    fn default() -> Self {
        LocalCodes {
            mode: RwLock::new(Mode::default()),
            loaded: RwLock::new(Loaded {
                stamp: None,
                sources: None,
                mapper: Arc::new(Mapper::new()),
            }),
            rebuild: Mutex::new(()),
        }
    }
}

impl std::fmt::Debug for LocalCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCodes")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// What one write (or transaction) maps with.
#[derive(Clone)]
pub struct Snapshot {
    pub mode: Mode,
    pub mapper: Arc<Mapper>,
}

impl Snapshot {
    /// A snapshot that maps nothing (tests, and `Mode::Off`).
    pub fn none() -> Snapshot {
        Snapshot {
            mode: Mode::Off,
            mapper: Arc::new(Mapper::new()),
        }
    }

    fn active(&self) -> bool {
        self.mode != Mode::Off && !self.mapper.is_empty()
    }

    /// Before a body is stored: in enrich mode, adds the standard codings
    /// (the resource and body are replaced); in every active mode, returns
    /// the unmapped local codes it carries, for the report.
    pub fn prepare(
        &self,
        resource: &mut fhir_model::Resource,
        body: Vec<u8>,
    ) -> Result<(Vec<u8>, Vec<LocalCode>), StoreError> {
        if !self.active() || !scan::mentions_local(&self.mapper, &body) {
            return Ok((body, Vec::new()));
        }
        let mut value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| StoreError::Fault(format!("a body to store is not JSON: {e}")))?;
        let found = scan::scan(&mut value, &self.mapper, self.mode == Mode::Enrich);
        if !found.changed {
            return Ok((body, found.unmapped));
        }
        let bytes = serde_json::to_vec(&value).map_err(|e| StoreError::Fault(e.to_string()))?;
        *resource = fhir_model::Resource::from_json_slice(&bytes)
            .map_err(|e| StoreError::Fault(format!("the enriched resource does not parse: {e}")))?;
        Ok((resource.to_json_vec(), found.unmapped))
    }

    /// In index mode, adds a token row with the standard code beside each
    /// token row of a mapped local code (same parameter and group, so
    /// composites such as `code-value-quantity` find it too).
    pub fn add_index_rows(&self, entries: &mut IndexEntries) {
        if self.mode != Mode::Index || self.mapper.is_empty() {
            return;
        }
        let mut extra = Vec::new();
        for t in &entries.tokens {
            let (Some(system), Some(code)) = (&t.system, &t.code) else {
                continue;
            };
            for m in self.mapper.lookup(system, code).unwrap_or_default() {
                let dup = |x: &crate::search::index::TokenEntry| {
                    x.param == t.param
                        && x.group == t.group
                        && x.system.as_deref() == Some(m.system.as_str())
                        && x.code.as_deref() == Some(m.code.as_str())
                };
                if !entries.tokens.iter().any(dup) && !extra.iter().any(dup) {
                    let mut row = t.clone();
                    row.system = Some(m.system.clone());
                    row.code = Some(m.code.clone());
                    extra.push(row);
                }
            }
        }
        entries.tokens.extend(extra);
    }
}

impl LocalCodes {
    /// The mode writes map with.
    pub fn mode(&self) -> Mode {
        *self.mode.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the mode (`serve`, `import` at start).
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.write().unwrap_or_else(|p| p.into_inner()) = mode;
    }

    /// The mapper as of the Terminology stamp the store last saw: rebuilt
    /// first when it moved. Never called inside a write transaction (the
    /// store's write path reads the stamps just before).
    pub fn snapshot(self: &Arc<Self>, store: &Store) -> Result<Snapshot, StoreError> {
        let mode = self.mode();
        if mode == Mode::Off {
            return Ok(Snapshot::none());
        }
        let want = store.definitions().seen().get(DefinitionKind::Terminology);
        let current = {
            let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            l.stamp.is_some_and(|b| b >= want)
        };
        if !current {
            self.refresh(store, want)?;
        }
        let mapper = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .mapper
            .clone();
        Ok(Snapshot { mode, mapper })
    }

    /// The current mapper, without checking for changes (responses).
    pub fn mapper(&self) -> Arc<Mapper> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .mapper
            .clone()
    }

    /// Builds the mapper for Terminology stamp `want`, once: threads
    /// that waited for another's rebuild take its result.
    fn refresh(&self, store: &Store, want: i64) -> Result<(), StoreError> {
        let _one = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        let built = self.loaded.read().unwrap_or_else(|p| p.into_inner()).stamp;
        if built.is_some_and(|b| b >= want) {
            return Ok(());
        }
        // Built from what is stored now, which is at least `want`: a
        // change committed meanwhile moves the stamp on, and the next
        // snapshot builds again.
        let sources = [
            store.version_stamp(fhir_model::ResourceType::CodeSystem)?,
            store.version_stamp(fhir_model::ResourceType::ConceptMap)?,
        ];
        let unchanged = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sources
            == Some(sources);
        if unchanged {
            self.loaded.write().unwrap_or_else(|p| p.into_inner()).stamp = Some(want);
            return Ok(());
        }
        let m = Arc::new(build(store)?);
        let mut l = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        l.stamp = Some(want);
        l.sources = Some(sources);
        if !m.is_empty() || !l.mapper.is_empty() {
            log::info!(
                "local codes: {} local systems, {} mappings",
                m.systems().count(),
                m.len()
            );
        }
        l.mapper = m;
        Ok(())
    }
}

/// Whether a stored CodeSystem body carries the local-codes tag.
fn is_local_code_system(v: &serde_json::Value) -> bool {
    v["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["system"] == TAG_SYSTEM && t["code"] == LOCAL_CODES_TAG)
}

/// Whether a stored CodeSystem holds the codes of its system here: not a
/// `not-present` stub of an external system, not a supplement.
fn is_kept_here(v: &serde_json::Value) -> bool {
    !matches!(v["content"].as_str(), Some("not-present" | "supplement"))
}

/// Whether `url` is an R4 core code system: the core's own ConceptMaps
/// between core systems are not a hospital's mappings, and `serve
/// --package` may store both.
fn is_core_system(url: &str) -> bool {
    profiles::builtin::r4_core().is_ok_and(|core| core.by_url(url).is_some())
}

/// The mapper of the local CodeSystems and the ConceptMaps from them.
///
/// A CodeSystem is local when `import-codes` tagged it, or when it was
/// stored like any resource (PUT through REST) and a stored ConceptMap
/// maps from it with `equivalent`/`equal` mappings ([`is_kept_here`]):
/// a hospital that keeps its master and its maps to LOINC or JLAC10 as
/// plain FHIR resources gets the same mapping as one that imported them.
/// ConceptMaps are read first (there are few), so only CodeSystem bodies
/// that mention the tag or a mapped source url are parsed.
fn build(store: &Store) -> Result<Mapper, StoreError> {
    let mut maps = Vec::new();
    let mut sources = std::collections::HashSet::new();
    for (id, body) in store.current_bodies("ConceptMap")? {
        match terminology::ConceptMap::from_json(&body) {
            Ok(cm) => {
                sources.extend(
                    cm.mappings()
                        .filter(|m| matches!(m.equivalence, "equivalent" | "equal"))
                        .filter_map(|m| m.source_system.map(str::to_owned)),
                );
                maps.push(cm);
            }
            Err(e) => log::warn!("ConceptMap/{id} left out of the local code mappings: {e}"),
        }
    }
    sources.retain(|s| !is_core_system(s));
    let mut mapper = Mapper::new();
    for (id, body) in store.current_bodies("CodeSystem")? {
        let tagged = contains(&body, LOCAL_CODES_TAG);
        if !tagged && !sources.iter().any(|s| contains(&body, s)) {
            continue;
        }
        let v = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => v,
            Err(e) => {
                log::warn!("CodeSystem/{id} is not JSON: {e}");
                continue;
            }
        };
        let Some(url) = v["url"].as_str() else {
            continue;
        };
        if (tagged && is_local_code_system(&v)) || (sources.contains(url) && is_kept_here(&v)) {
            mapper.add_local_system(url);
        }
    }
    if mapper.is_empty() {
        return Ok(mapper);
    }
    for cm in &maps {
        mapper.add_concept_map(cm);
    }
    Ok(mapper)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    !n.is_empty() && haystack.windows(n.len()).any(|w| w == n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::index::TokenEntry;

    fn token(param: &str, group: i32, system: &str, code: &str) -> TokenEntry {
        TokenEntry {
            param: param.into(),
            group,
            system: Some(system.into()),
            code: Some(code.into()),
            text: Some("potassium".into()),
            type_system: None,
            type_code: None,
        }
    }

    fn snapshot(mode: Mode) -> Snapshot {
        let mut m = Mapper::new();
        m.add_local_system("http://h/lab");
        let cm = terminology::ConceptMap::from_json(
            br#"{"resourceType":"ConceptMap","url":"http://h/map",
              "group":[{"source":"http://h/lab","target":"http://loinc.org",
                "element":[{"code":"L1","target":[{"code":"2823-3","equivalence":"equivalent"}]}]}]}"#,
        )
        .expect("map");
        m.add_concept_map(&cm);
        Snapshot {
            mode,
            mapper: Arc::new(m),
        }
    }

    #[test]
    fn index_mode_adds_a_row_per_mapped_code_beside_the_local_one() {
        let mut e = IndexEntries::default();
        e.tokens.push(token("code", 0, "http://h/lab", "L1"));
        e.tokens.push(token("combo-code", 0, "http://h/lab", "L1"));
        e.tokens.push(token("code", 0, "http://h/lab", "L9"));
        e.tokens.push(token("code", 0, "http://other", "L1"));
        snapshot(Mode::Index).add_index_rows(&mut e);
        let added: Vec<(&str, &str)> = e.tokens[4..]
            .iter()
            .map(|t| (t.param.as_str(), t.code.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(added, vec![("code", "2823-3"), ("combo-code", "2823-3")]);
        assert_eq!(e.tokens[4].system.as_deref(), Some("http://loinc.org"));
        assert_eq!(e.tokens[4].text.as_deref(), Some("potassium"));
        snapshot(Mode::Index).add_index_rows(&mut e);
        assert_eq!(e.tokens.len(), 6, "rows already there are not added twice");

        let mut e = IndexEntries::default();
        e.tokens.push(token("code", 0, "http://h/lab", "L1"));
        snapshot(Mode::Enrich).add_index_rows(&mut e);
        assert_eq!(e.tokens.len(), 1, "enrich mode indexes the stored codings");
    }
}
