//! ConceptMaps (conceptmap.html): the index of one ConceptMap resource;
//! `$translate` over them is [`crate::translate`].
//!
//! A [`ConceptMap`] keeps its groups and, at indexing time, two hash maps
//! from (system, code) to mappings: one from source codes (forward) and one
//! from target codes (`reverse = true`), so a translation never scans the
//! map's elements.

use std::collections::HashMap;

use fhir_model::json::tree::{self, Value};

use crate::code_system::{array, invalid, object, opt_string};
use crate::Error;

/// `ConceptMap.group.unmapped`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// `provided | fixed | other-map`.
    pub mode: String,
    /// The code for `fixed`.
    pub code: Option<String>,
    /// Its display.
    pub display: Option<String>,
    /// The map for `other-map`.
    pub url: Option<String>,
}

/// One mapping: a source code to a target code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) group: usize,
    pub(crate) source_code: String,
    pub(crate) source_display: Option<String>,
    pub(crate) target_code: Option<String>,
    pub(crate) target_display: Option<String>,
    pub(crate) equivalence: String,
    pub(crate) comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) source: Option<String>,
    pub(crate) source_version: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) target_version: Option<String>,
    pub(crate) unmapped: Option<Unmapped>,
}

/// One ConceptMap resource, indexed both ways.
#[derive(Debug, Clone)]
pub struct ConceptMap {
    pub(crate) url: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) groups: Vec<Group>,
    pub(crate) mappings: Vec<Mapping>,
    /// (source system, source code) → mappings.
    pub(crate) forward: HashMap<(String, String), Vec<usize>>,
    /// (target system, target code) → mappings.
    pub(crate) backward: HashMap<(String, String), Vec<usize>>,
}

/// One mapping as [`ConceptMap::mappings`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingView<'a> {
    /// The group's `source` system.
    pub source_system: Option<&'a str>,
    /// The element's `code`.
    pub source_code: &'a str,
    /// The group's `target` system.
    pub target_system: Option<&'a str>,
    /// The target's `code` (`None` for `unmatched`).
    pub target_code: Option<&'a str>,
    /// The target's `display`.
    pub target_display: Option<&'a str>,
    /// The target's `equivalence`.
    pub equivalence: &'a str,
}

impl ConceptMap {
    /// Indexes a ConceptMap from its JSON.
    pub fn from_json(bytes: &[u8]) -> Result<ConceptMap, Error> {
        let value = tree::parse(bytes).map_err(|e| Error::Syntax(e.to_string()))?;
        ConceptMap::from_tree(value)
    }

    /// Indexes a ConceptMap from a `fhir-model` JSON tree.
    pub fn from_tree(value: Value) -> Result<ConceptMap, Error> {
        let Value::Object(mut map) = value else {
            return Err(invalid("ConceptMap", "not a JSON object"));
        };
        match tree::take(&mut map, "resourceType") {
            Some(Value::String(t)) if t == "ConceptMap" => {}
            _ => return Err(invalid("ConceptMap", "resourceType is not ConceptMap")),
        }
        let at = "ConceptMap";
        let mut cm = ConceptMap {
            url: opt_string(&mut map, "url", at)?,
            version: opt_string(&mut map, "version", at)?,
            source: match opt_string(&mut map, "sourceUri", at)? {
                Some(s) => Some(s),
                None => opt_string(&mut map, "sourceCanonical", at)?,
            },
            target: match opt_string(&mut map, "targetUri", at)? {
                Some(s) => Some(s),
                None => opt_string(&mut map, "targetCanonical", at)?,
            },
            groups: Vec::new(),
            mappings: Vec::new(),
            forward: HashMap::new(),
            backward: HashMap::new(),
        };
        for (g, group) in array(&mut map, "group", at)?.into_iter().enumerate() {
            let gpath = format!("ConceptMap.group[{g}]");
            let mut group = object(group, &gpath)?;
            let unmapped = match tree::take(&mut group, "unmapped") {
                None | Some(Value::Null) => None,
                Some(u) => {
                    let upath = format!("{gpath}.unmapped");
                    let mut u = object(u, &upath)?;
                    Some(Unmapped {
                        mode: opt_string(&mut u, "mode", &upath)?
                            .ok_or_else(|| invalid(&upath, "unmapped needs a mode"))?,
                        code: opt_string(&mut u, "code", &upath)?,
                        display: opt_string(&mut u, "display", &upath)?,
                        url: opt_string(&mut u, "url", &upath)?,
                    })
                }
            };
            let gr = Group {
                source: opt_string(&mut group, "source", &gpath)?,
                source_version: opt_string(&mut group, "sourceVersion", &gpath)?,
                target: opt_string(&mut group, "target", &gpath)?,
                target_version: opt_string(&mut group, "targetVersion", &gpath)?,
                unmapped,
            };
            for (e, element) in array(&mut group, "element", &gpath)?
                .into_iter()
                .enumerate()
            {
                let epath = format!("{gpath}.element[{e}]");
                let mut element = object(element, &epath)?;
                let Some(code) = opt_string(&mut element, "code", &epath)? else {
                    continue;
                };
                let display = opt_string(&mut element, "display", &epath)?;
                for (t, target) in array(&mut element, "target", &epath)?
                    .into_iter()
                    .enumerate()
                {
                    let tpath = format!("{epath}.target[{t}]");
                    let mut target = object(target, &tpath)?;
                    let m = Mapping {
                        group: g,
                        source_code: code.clone(),
                        source_display: display.clone(),
                        target_code: opt_string(&mut target, "code", &tpath)?,
                        target_display: opt_string(&mut target, "display", &tpath)?,
                        // Required in R4; "equivalent" when a map leaves
                        // it out is the reading that loses nothing.
                        equivalence: opt_string(&mut target, "equivalence", &tpath)?
                            .unwrap_or_else(|| "equivalent".to_owned()),
                        comment: opt_string(&mut target, "comment", &tpath)?,
                    };
                    let i = cm.mappings.len();
                    cm.forward
                        .entry((gr.source.clone().unwrap_or_default(), code.clone()))
                        .or_default()
                        .push(i);
                    if let Some(tc) = &m.target_code {
                        cm.backward
                            .entry((gr.target.clone().unwrap_or_default(), tc.clone()))
                            .or_default()
                            .push(i);
                    }
                    cm.mappings.push(m);
                }
            }
            cm.groups.push(gr);
        }
        Ok(cm)
    }

    /// The canonical url.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The business version.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `source[x]`: the value set of the source codes.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// `target[x]`: the value set of the target codes.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The source and target systems of the groups.
    pub fn systems(&self) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
        self.groups
            .iter()
            .map(|g| (g.source.as_deref(), g.target.as_deref()))
    }

    /// Every mapping of the map, in document order (for indexes built
    /// over many maps, such as `local_codes::Mapper`).
    pub fn mappings(&self) -> impl Iterator<Item = MappingView<'_>> {
        self.mappings.iter().map(|m| {
            let g = &self.groups[m.group];
            MappingView {
                source_system: g.source.as_deref(),
                source_code: &m.source_code,
                target_system: g.target.as_deref(),
                target_code: m.target_code.as_deref(),
                target_display: m.target_display.as_deref(),
                equivalence: &m.equivalence,
            }
        })
    }

    pub(crate) fn label(&self) -> Option<String> {
        self.url.as_ref().map(|u| match &self.version {
            Some(v) => format!("{u}|{v}"),
            None => u.clone(),
        })
    }
}
