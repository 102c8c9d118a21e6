//! `ConceptMap/$translate` over the ConceptMaps of a [`Registry`]
//! (conceptmap-operation-translate.html): by the map's url or by the
//! source/target value sets and systems, `reverse`, and the groups'
//! `unmapped` (`provided`, `fixed`, `other-map`).
//!
//! Each [`ConceptMap`] is indexed both ways at load (source code →
//! targets, target code → sources), so a translation never scans a map's
//! elements.

use crate::concept_map::{ConceptMap, Group};
use crate::registry::Registry;
use crate::Error;

/// How deep `unmapped.mode = other-map` may chain.
const MAX_CHAIN: usize = 8;

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
    /// Whether the map fits the request's `source`/`target` value sets and
    /// systems (ignoring `url`).
    fn fits(&self, req: &TranslateRequest<'_>) -> bool {
        let (from_vs, to_vs) = if req.reverse {
            (&self.target, &self.source)
        } else {
            (&self.source, &self.target)
        };
        fits_canonical(req.source, from_vs)
            && fits_canonical(req.target, to_vs)
            && self.groups.iter().any(|g| self.group_fits(g, req))
    }

    fn group_fits(&self, g: &Group, req: &TranslateRequest<'_>) -> bool {
        let (from, to) = if req.reverse {
            (&g.target, &g.source)
        } else {
            (&g.source, &g.target)
        };
        fits_canonical(req.system, from) && fits_canonical(req.target_system, to)
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

/// Whether a canonical the request names (if any) is the one the map
/// has.
fn fits_canonical(want: Option<&str>, have: &Option<String>) -> bool {
    match (want, have) {
        (None, _) => true,
        (Some(w), Some(h)) => canonical_eq(w, h),
        (Some(_), None) => false,
    }
}

/// Canonicals equal, a version on either side ignored when the other has
/// none.
fn canonical_eq(a: &str, b: &str) -> bool {
    a == b || (strip_version(a) == strip_version(b) && (!a.contains('|') || !b.contains('|')))
}

impl Registry {
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
                    all.extend(reg.own_concept_maps().filter(|cm| cm.fits(req)));
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
