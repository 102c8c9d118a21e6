//! ConceptMaps and `ConceptMap/$translate` (conceptmap.html,
//! conceptmap-operation-translate.html).
//!
//! A [`ConceptMap`] keeps its groups and, at indexing time, two hash maps
//! from (system, code) to mappings: one from source codes (forward) and one
//! from target codes (`reverse = true`), so a translation never scans the
//! map's elements.

use std::collections::HashMap;

use fhir_model::json::tree::{self, Value};

use crate::code_system::{array, invalid, object, opt_string};
use crate::registry::Registry;
use crate::Error;

/// How deep `unmapped.mode = other-map` may chain.
const MAX_CHAIN: usize = 8;

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
struct Mapping {
    group: usize,
    source_code: String,
    source_display: Option<String>,
    target_code: Option<String>,
    target_display: Option<String>,
    equivalence: String,
    comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    source: Option<String>,
    source_version: Option<String>,
    target: Option<String>,
    target_version: Option<String>,
    unmapped: Option<Unmapped>,
}

/// One ConceptMap resource, indexed both ways.
#[derive(Debug, Clone)]
pub struct ConceptMap {
    url: Option<String>,
    version: Option<String>,
    source: Option<String>,
    target: Option<String>,
    groups: Vec<Group>,
    mappings: Vec<Mapping>,
    /// (source system, source code) → mappings.
    forward: HashMap<(String, String), Vec<usize>>,
    /// (target system, target code) → mappings.
    backward: HashMap<(String, String), Vec<usize>>,
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

/// One `match` of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationMatch {
    /// `equivalence` (R4 concept-map-equivalence).
    pub equivalence: String,
    /// The concept mapped to: system, code, display. `None` for an
    /// `unmatched` mapping, which says there is none.
    pub system: Option<String>,
    /// The target system's version.
    pub version: Option<String>,
    /// The code mapped to.
    pub code: Option<String>,
    /// Its display.
    pub display: Option<String>,
    /// The ConceptMap that made this match (`source` of the answer).
    pub source: Option<String>,
    /// The mapping's comment.
    pub comment: Option<String>,
}

/// The answer of `$translate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// Whether at least one match is a real mapping (not `unmatched` or
    /// `disjoint`).
    pub result: bool,
    /// Why not, or notes.
    pub message: Option<String>,
    /// The matches, map by map.
    pub matches: Vec<TranslationMatch>,
}

/// The input of `$translate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TranslateRequest<'a> {
    /// `url`: the map to use; otherwise every map that fits.
    pub url: Option<&'a str>,
    /// `conceptMapVersion`.
    pub map_version: Option<&'a str>,
    /// `system` of the code.
    pub system: Option<&'a str>,
    /// `version` of the code's system.
    pub version: Option<&'a str>,
    /// `code`.
    pub code: &'a str,
    /// `source`: the value set the code comes from (matches the map's
    /// `source[x]`, or its `target[x]` when reversed).
    pub source: Option<&'a str>,
    /// `target`: the value set wanted.
    pub target: Option<&'a str>,
    /// `targetsystem`.
    pub target_system: Option<&'a str>,
    /// `reverse`: map from target codes to source codes.
    pub reverse: bool,
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

    fn label(&self) -> Option<String> {
        self.url.as_ref().map(|u| match &self.version {
            Some(v) => format!("{u}|{v}"),
            None => u.clone(),
        })
    }

    /// Whether the map fits the request's `source`/`target` value sets and
    /// systems (ignoring `url`).
    fn fits(&self, req: &TranslateRequest<'_>) -> bool {
        let (from_vs, to_vs) = if req.reverse {
            (&self.target, &self.source)
        } else {
            (&self.source, &self.target)
        };
        let same = |want: Option<&str>, have: &Option<String>| match (want, have) {
            (None, _) => true,
            (Some(w), Some(h)) => canonical_eq(w, h),
            (Some(_), None) => false,
        };
        same(req.source, from_vs)
            && same(req.target, to_vs)
            && self.groups.iter().any(|g| self.group_fits(g, req))
    }

    fn group_fits(&self, g: &Group, req: &TranslateRequest<'_>) -> bool {
        let (from, to) = if req.reverse {
            (&g.target, &g.source)
        } else {
            (&g.source, &g.target)
        };
        let same = |want: Option<&str>, have: &Option<String>| match (want, have) {
            (None, _) => true,
            (Some(w), Some(h)) => canonical_eq(w, h),
            (Some(_), None) => false,
        };
        same(req.system, from) && same(req.target_system, to)
    }

    /// The matches of one map (no `other-map` chaining).
    fn translate_here(
        &self,
        req: &TranslateRequest<'_>,
        out: &mut Vec<TranslationMatch>,
    ) -> Vec<String> {
        let mut chain = Vec::new();
        let systems: Vec<String> = match req.system {
            Some(s) => vec![strip_version(s).to_owned()],
            // Without a system, every group's source (or target) system.
            None => {
                let mut v: Vec<String> = self
                    .groups
                    .iter()
                    .map(|g| {
                        if req.reverse { &g.target } else { &g.source }
                            .clone()
                            .unwrap_or_default()
                    })
                    .collect();
                v.dedup();
                v
            }
        };
        let index = if req.reverse {
            &self.backward
        } else {
            &self.forward
        };
        let mut found_groups = Vec::new();
        for system in &systems {
            let key = (system.clone(), req.code.to_owned());
            for &i in index.get(&key).into_iter().flatten() {
                let m = &self.mappings[i];
                let g = &self.groups[m.group];
                if !self.group_fits(g, req) {
                    continue;
                }
                found_groups.push(m.group);
                let (system, version, code, display, equivalence) = if req.reverse {
                    (
                        g.source.clone(),
                        g.source_version.clone(),
                        Some(m.source_code.clone()),
                        m.source_display.clone(),
                        reverse_equivalence(&m.equivalence).to_owned(),
                    )
                } else {
                    (
                        g.target.clone(),
                        g.target_version.clone(),
                        m.target_code.clone(),
                        m.target_display.clone(),
                        m.equivalence.clone(),
                    )
                };
                let code_present = code.is_some();
                out.push(TranslationMatch {
                    equivalence,
                    system: if code_present { system } else { None },
                    version: if code_present { version } else { None },
                    code,
                    display,
                    source: self.label(),
                    comment: m.comment.clone(),
                });
            }
        }
        if req.reverse {
            return chain;
        }
        // Groups that fit but had no element for the code: unmapped.
        for (gi, g) in self.groups.iter().enumerate() {
            if found_groups.contains(&gi) || !self.group_fits(g, req) {
                continue;
            }
            if let Some(sys) = req.system {
                if g.source.as_deref().map(strip_version) != Some(strip_version(sys)) {
                    continue;
                }
            }
            let Some(u) = &g.unmapped else { continue };
            match u.mode.as_str() {
                "provided" => out.push(TranslationMatch {
                    equivalence: "equal".to_owned(),
                    system: g.target.clone(),
                    version: g.target_version.clone(),
                    code: Some(req.code.to_owned()),
                    display: None,
                    source: self.label(),
                    comment: None,
                }),
                "fixed" if u.code.is_some() => out.push(TranslationMatch {
                    equivalence: "equivalent".to_owned(),
                    system: g.target.clone(),
                    version: g.target_version.clone(),
                    code: u.code.clone(),
                    display: u.display.clone(),
                    source: self.label(),
                    comment: None,
                }),
                "other-map" => chain.extend(u.url.clone()),
                _ => {}
            }
        }
        chain
    }
}

/// The equivalence seen from the other side: `wider` and `narrower`,
/// `subsumes` and `specializes` swap; the rest are symmetric.
fn reverse_equivalence(e: &str) -> &str {
    match e {
        "wider" => "narrower",
        "narrower" => "wider",
        "subsumes" => "specializes",
        "specializes" => "subsumes",
        other => other,
    }
}

fn strip_version(canonical: &str) -> &str {
    canonical.split('|').next().unwrap_or(canonical)
}

/// Canonicals equal, a version on either side ignored when the other has
/// none.
fn canonical_eq(a: &str, b: &str) -> bool {
    a == b || (strip_version(a) == strip_version(b) && (!a.contains('|') || !b.contains('|')))
}

impl Registry {
    /// Adds a ConceptMap, replacing one with the same url and version.
    pub fn insert_concept_map(&mut self, cm: ConceptMap) {
        let key = cm.url().unwrap_or_default().to_owned();
        let versions = self.concept_maps_mut().entry(key).or_default();
        versions.retain(|v| v.version() != cm.version());
        versions.push(cm);
    }

    /// The ConceptMap for `url` (or `url|version`).
    pub fn concept_map(&self, url: &str, version: Option<&str>) -> Result<&ConceptMap, Error> {
        let (u, v) = match url.split_once('|') {
            Some((u, v)) => (u, version.or(Some(v))),
            None => (url, version),
        };
        let found = self.concept_maps_ref().get(u).and_then(|versions| match v {
            None => versions.last(),
            Some(v) => versions.iter().rev().find(|cm| cm.version() == Some(v)),
        });
        if let (None, Some(p)) = (found, self.parent()) {
            return p.concept_map(url, version);
        }
        found.ok_or_else(|| Error::UnknownConceptMap {
            url: url.to_owned(),
        })
    }

    /// `ConceptMap/$translate`: by the map's `url`, or through every map
    /// whose source and target (value sets and systems) fit the request.
    /// Unmapped codes follow the group's `unmapped` (`provided`, `fixed`,
    /// `other-map`).
    pub fn translate(&self, req: &TranslateRequest<'_>) -> Result<Translation, Error> {
        if req.code.is_empty() {
            return Err(Error::Invalid {
                path: "code".into(),
                message: "$translate needs a code".into(),
            });
        }
        let maps: Vec<&ConceptMap> = match req.url {
            Some(url) => vec![self.concept_map(url, req.map_version)?],
            None => {
                let mut all = Vec::new();
                let mut r = Some(self);
                while let Some(reg) = r {
                    all.extend(
                        reg.concept_maps_ref()
                            .values()
                            .flatten()
                            .filter(|cm| cm.fits(req)),
                    );
                    r = reg.parent();
                }
                all
            }
        };
        let mut matches = Vec::new();
        let mut queue: Vec<(String, usize)> = Vec::new();
        for cm in &maps {
            for next in cm.translate_here(req, &mut matches) {
                queue.push((next, 1));
            }
        }
        let mut visited: Vec<String> = maps.iter().filter_map(|m| m.label()).collect();
        while let Some((url, depth)) = queue.pop() {
            if depth > MAX_CHAIN || visited.contains(&url) {
                continue;
            }
            visited.push(url.clone());
            let Ok(cm) = self.concept_map(&url, None) else {
                continue;
            };
            let sub = TranslateRequest {
                url: None,
                target_system: None,
                ..*req
            };
            for next in cm.translate_here(&sub, &mut matches) {
                queue.push((next, depth + 1));
            }
        }
        let result = matches
            .iter()
            .any(|m| m.equivalence != "unmatched" && m.equivalence != "disjoint");
        let code = match req.system {
            Some(s) => format!("{s}#{}", req.code),
            None => req.code.to_owned(),
        };
        let message = if maps.is_empty() {
            Some(format!("No ConceptMap fits the request for {code}"))
        } else if !result {
            Some(format!(
                "No mappings could be found for {code} ({} map{} searched)",
                maps.len(),
                if maps.len() == 1 { "" } else { "s" }
            ))
        } else {
            None
        };
        Ok(Translation {
            result,
            message,
            matches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"{"resourceType":"ConceptMap","url":"http://ex/map","version":"1",
      "sourceUri":"http://ex/vs-local","targetUri":"http://ex/vs-loinc",
      "group":[{"source":"http://ex/local","target":"http://loinc.org",
        "element":[
          {"code":"L1","display":"Glucose","target":[{"code":"2345-7","display":"Glucose SerPl-mCnc","equivalence":"equivalent"}]},
          {"code":"L2","target":[{"code":"2339-0","equivalence":"wider"},{"code":"2345-7","equivalence":"narrower"}]},
          {"code":"L3","target":[{"equivalence":"unmatched","comment":"no LOINC yet"}]}],
        "unmapped":{"mode":"other-map","url":"http://ex/map2"}}]}"#;
    const MAP2: &str = r#"{"resourceType":"ConceptMap","url":"http://ex/map2",
      "group":[{"source":"http://ex/local","target":"http://loinc.org",
        "element":[{"code":"L9","target":[{"code":"9999-9","equivalence":"inexact"}]}],
        "unmapped":{"mode":"fixed","code":"UNK","display":"Unknown"}}]}"#;
    const MAP3: &str = r#"{"resourceType":"ConceptMap","url":"http://ex/map3",
      "group":[{"source":"http://ex/a","target":"http://ex/b","unmapped":{"mode":"provided"}}]}"#;

    fn registry() -> Registry {
        let mut r = Registry::new();
        for m in [MAP, MAP2, MAP3] {
            r.insert_concept_map(ConceptMap::from_json(m.as_bytes()).unwrap());
        }
        r
    }

    fn req(code: &str) -> TranslateRequest<'_> {
        TranslateRequest {
            system: Some("http://ex/local"),
            code,
            ..Default::default()
        }
    }

    #[test]
    fn forward_by_url_and_by_systems() {
        let r = registry();
        let t = r
            .translate(&TranslateRequest {
                url: Some("http://ex/map"),
                ..req("L1")
            })
            .unwrap();
        assert!(t.result);
        assert_eq!(t.matches.len(), 1);
        let m = &t.matches[0];
        assert_eq!(
            (
                m.equivalence.as_str(),
                m.code.as_deref(),
                m.system.as_deref()
            ),
            ("equivalent", Some("2345-7"), Some("http://loinc.org"))
        );
        assert_eq!(m.source.as_deref(), Some("http://ex/map|1"));
        let by_target = r
            .translate(&TranslateRequest {
                target_system: Some("http://loinc.org"),
                ..req("L2")
            })
            .unwrap();
        // map gives two; map2 fits too, and answers with its fixed code.
        let codes: Vec<_> = by_target
            .matches
            .iter()
            .map(|m| m.code.as_deref().unwrap())
            .collect();
        assert_eq!(codes.len(), 3);
        assert!(codes.contains(&"2339-0") && codes.contains(&"UNK"));
        let by_vs = r
            .translate(&TranslateRequest {
                source: Some("http://ex/vs-local"),
                target: Some("http://ex/vs-loinc"),
                ..req("L1")
            })
            .unwrap();
        assert_eq!(by_vs.matches.len(), 1);
        let none = r
            .translate(&TranslateRequest {
                target_system: Some("http://snomed.info/sct"),
                ..req("L1")
            })
            .unwrap();
        assert!(!none.result && none.message.unwrap().starts_with("No ConceptMap fits"));
    }

    #[test]
    fn unmatched_and_unmapped() {
        let r = registry();
        let l3 = r
            .translate(&TranslateRequest {
                url: Some("http://ex/map"),
                ..req("L3")
            })
            .unwrap();
        assert!(!l3.result);
        assert_eq!(l3.matches[0].equivalence, "unmatched");
        assert!(l3
            .message
            .unwrap()
            .starts_with("No mappings could be found"));
        // other-map → map2 → its element, then fixed.
        let l9 = r
            .translate(&TranslateRequest {
                url: Some("http://ex/map"),
                ..req("L9")
            })
            .unwrap();
        assert!(l9.result);
        assert_eq!(l9.matches[0].code.as_deref(), Some("9999-9"));
        let other = r
            .translate(&TranslateRequest {
                url: Some("http://ex/map"),
                ..req("L7")
            })
            .unwrap();
        assert_eq!(other.matches[0].code.as_deref(), Some("UNK"));
        let provided = r
            .translate(&TranslateRequest {
                url: Some("http://ex/map3"),
                system: Some("http://ex/a"),
                ..req("q")
            })
            .unwrap();
        assert_eq!(
            (
                provided.matches[0].code.as_deref(),
                provided.matches[0].system.as_deref()
            ),
            (Some("q"), Some("http://ex/b"))
        );
        assert!(matches!(
            r.translate(&TranslateRequest {
                url: Some("http://ex/none"),
                ..req("L1")
            }),
            Err(Error::UnknownConceptMap { .. })
        ));
    }

    #[test]
    fn a_registry_over_another_adds_maps() {
        let mut over = Registry::over(std::sync::Arc::new(registry()));
        let extra = r#"{"resourceType":"ConceptMap","url":"http://ex/extra",
          "group":[{"source":"http://ex/local","target":"http://ex/other",
            "element":[{"code":"L1","target":[{"code":"X","equivalence":"equal"}]}]}]}"#;
        over.insert_concept_map(ConceptMap::from_json(extra.as_bytes()).unwrap());
        let t = over.translate(&req("L1")).unwrap();
        let codes: Vec<_> = t.matches.iter().filter_map(|m| m.code.as_deref()).collect();
        assert!(
            codes.contains(&"X") && codes.contains(&"2345-7"),
            "{codes:?}"
        );
        assert!(over.concept_map("http://ex/map", None).is_ok());
    }

    #[test]
    fn reverse_swaps_equivalences() {
        let r = registry();
        let t = r
            .translate(&TranslateRequest {
                system: Some("http://loinc.org"),
                code: "2345-7",
                reverse: true,
                ..Default::default()
            })
            .unwrap();
        let got: Vec<_> = t
            .matches
            .iter()
            .map(|m| (m.code.as_deref().unwrap(), m.equivalence.as_str()))
            .collect();
        assert_eq!(got, [("L1", "equivalent"), ("L2", "wider")]);
        assert_eq!(t.matches[0].system.as_deref(), Some("http://ex/local"));
    }
}
