//! `ValueSet/$expand` over the CodeSystems of a [`Registry`]
//! (valueset-operation-expand.html).
//!
//! An expansion is worked out from `compose`: each `include` gives a list of
//! codes (explicit `concept`s, or filters over one code system, or the whole
//! system), intersected with the expansions of its nested `valueSet`s; the
//! `exclude`s are worked out the same way and removed. Codes keep the order
//! of the first include that names them (document order within a system).
//! A ValueSet without `compose` but with `expansion.contains` (a
//! pre-expanded one) answers with those codes.

use std::collections::HashSet;

use crate::code_system::{Concept, Designation};
use crate::members::Item;
use crate::registry::Registry;
use crate::value_set::{ConceptSet, ValueSet};
use crate::value_set_filter::filter_mask;
use crate::Error;

/// How deep `valueSet` nesting may go before the engine calls it a cycle.
const MAX_NESTING: usize = 32;

/// The parameters of `$expand` beside the value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpandOptions<'a> {
    /// `filter`: text every code's display (or code) must match; each
    /// whitespace-separated word is a case-insensitive substring.
    pub filter: Option<&'a str>,
    /// `offset`: codes to skip.
    pub offset: usize,
    /// `count`: codes to return at most.
    pub count: Option<usize>,
    /// `activeOnly`: leave inactive codes out.
    pub active_only: bool,
    /// `excludeNotForUI`: leave abstract (`notSelectable`) codes out, as a
    /// pick list for users must (and as the R4 publication's expansions do).
    pub exclude_not_for_ui: bool,
    /// `includeDesignations`: carry each code's designations.
    pub include_designations: bool,
    /// `displayLanguage`: displays in this language where one exists.
    pub display_language: Option<&'a str>,
    /// `excludeNested`: a flat list (this engine always answers flat; the
    /// parameter is echoed).
    pub exclude_nested: bool,
    /// The most codes the whole expansion (before paging) may have.
    pub limit: usize,
}

impl Default for ExpandOptions<'_> {
    fn default() -> Self {
        ExpandOptions {
            filter: None,
            offset: 0,
            count: None,
            active_only: false,
            exclude_not_for_ui: false,
            include_designations: false,
            display_language: None,
            exclude_nested: false,
            limit: 1_000_000,
        }
    }
}

/// One code of an expansion (`ValueSet.expansion.contains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpansionEntry {
    /// The code system.
    pub system: String,
    /// Its version, when the code system has one.
    pub version: Option<String>,
    /// The code.
    pub code: String,
    /// The display (in `displayLanguage` when asked and available).
    pub display: Option<String>,
    /// Inactive in its code system.
    pub inactive: bool,
    /// Abstract (`notSelectable`): not for use in data.
    pub abstract_: bool,
    /// Designations, with `includeDesignations`.
    pub designations: Vec<Designation>,
}

/// A value of `ValueSet.expansion.parameter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterValue {
    /// `valueString`.
    String(String),
    /// `valueBoolean`.
    Boolean(bool),
    /// `valueInteger`.
    Integer(i64),
    /// `valueUri`.
    Uri(String),
    /// `valueCode`.
    Code(String),
}

/// The answer of `$expand`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The value set's url.
    pub url: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Codes in the whole expansion (before paging).
    pub total: usize,
    /// Where this page starts.
    pub offset: usize,
    /// `expansion.parameter`: the parameters that shaped the expansion,
    /// `used-codesystem` for each code system, and `warning`s (codes a
    /// value set names that its code system lacks).
    pub parameters: Vec<(String, ParameterValue)>,
    /// This page of codes.
    pub contains: Vec<ExpansionEntry>,
}

/// State shared across the nested expansions of one request.
pub(crate) struct Run<'o> {
    options: &'o ExpandOptions<'o>,
    /// Value sets being expanded, to refuse cycles.
    stack: Vec<String>,
    used: Vec<String>,
    warnings: Vec<String>,
}

impl<'o> Run<'o> {
    /// A request's run, before any value set is expanded.
    pub(crate) fn new(options: &'o ExpandOptions<'o>) -> Run<'o> {
        Run {
            options,
            stack: Vec::new(),
            used: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl Registry {
    /// `ValueSet/$expand` of the value set with this url (`url|version`
    /// accepted) and optional version.
    pub fn expand(
        &self,
        url: &str,
        version: Option<&str>,
        options: &ExpandOptions<'_>,
    ) -> Result<Expansion, Error> {
        let vs = self.value_set(url, version)?;
        self.expand_value_set(vs, options)
    }

    /// `ValueSet/$expand` of a value set given whole (a `valueSet`
    /// parameter, or one read from the store).
    pub fn expand_value_set(
        &self,
        vs: &ValueSet,
        options: &ExpandOptions<'_>,
    ) -> Result<Expansion, Error> {
        let mut run = Run::new(options);
        let mut items = self.items(vs, &mut run)?;
        if options.active_only {
            items.retain(|i| !i.inactive);
        }
        if options.exclude_not_for_ui {
            items.retain(|i| !i.abstract_);
        }
        if let Some(text) = options.filter {
            let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
            items.retain(|i| {
                let hay = format!(
                    "{} {}",
                    i.code.to_lowercase(),
                    i.display.as_deref().unwrap_or("").to_lowercase()
                );
                words.iter().all(|w| hay.contains(w.as_str()))
            });
        }
        let total = items.len();
        let mut parameters = Vec::new();
        if let Some(f) = options.filter {
            parameters.push(("filter".to_owned(), ParameterValue::String(f.to_owned())));
        }
        if options.active_only {
            parameters.push(("activeOnly".to_owned(), ParameterValue::Boolean(true)));
        }
        if options.exclude_not_for_ui {
            parameters.push(("excludeNotForUI".to_owned(), ParameterValue::Boolean(true)));
        }
        if options.include_designations {
            parameters.push((
                "includeDesignations".to_owned(),
                ParameterValue::Boolean(true),
            ));
        }
        if let Some(l) = options.display_language {
            parameters.push((
                "displayLanguage".to_owned(),
                ParameterValue::Code(l.to_owned()),
            ));
        }
        if options.exclude_nested {
            parameters.push(("excludeNested".to_owned(), ParameterValue::Boolean(true)));
        }
        if options.offset > 0 {
            parameters.push((
                "offset".to_owned(),
                ParameterValue::Integer(options.offset as i64),
            ));
        }
        if let Some(c) = options.count {
            parameters.push(("count".to_owned(), ParameterValue::Integer(c as i64)));
        }
        for u in run.used {
            parameters.push(("used-codesystem".to_owned(), ParameterValue::Uri(u)));
        }
        for w in run.warnings {
            parameters.push(("warning".to_owned(), ParameterValue::String(w)));
        }
        let contains = items
            .into_iter()
            .skip(options.offset)
            .take(options.count.unwrap_or(usize::MAX))
            .map(|i| ExpansionEntry {
                system: i.system,
                version: i.version,
                code: i.code,
                display: i.display,
                inactive: i.inactive,
                abstract_: i.abstract_,
                designations: i.designations,
            })
            .collect();
        Ok(Expansion {
            url: vs.url.clone(),
            version: vs.version.clone(),
            name: vs.name.clone(),
            total,
            offset: options.offset,
            parameters,
            contains,
        })
    }

    /// The codes of a value set, in order, each once.
    pub(crate) fn items(&self, vs: &ValueSet, run: &mut Run<'_>) -> Result<Vec<Item>, Error> {
        let label = vs.label();
        if run.stack.contains(&label) || run.stack.len() >= MAX_NESTING {
            return Err(Error::NotSupported(format!(
                "value set {label} includes itself (through {})",
                run.stack.join(" → ")
            )));
        }
        run.stack.push(label.clone());
        let result = self.items_inner(vs, run, &label);
        run.stack.pop();
        result
    }

    fn items_inner(
        &self,
        vs: &ValueSet,
        run: &mut Run<'_>,
        label: &str,
    ) -> Result<Vec<Item>, Error> {
        if !vs.has_compose {
            return Ok(vs
                .expanded
                .iter()
                .filter_map(|c| {
                    Some(Item {
                        system: c.system.clone()?,
                        version: c.version.clone(),
                        pinned: None,
                        code: c.code.clone()?,
                        display: c.display.clone(),
                        inactive: false,
                        abstract_: false,
                        designations: Vec::new(),
                    })
                })
                .collect());
        }
        let mut out: Vec<Item> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for set in &vs.includes {
            for item in self.concept_set_items(set, run)? {
                if vs.inactive == Some(false) && item.inactive {
                    continue;
                }
                if seen.insert(item.key()) {
                    out.push(item);
                    if out.len() > run.options.limit {
                        return Err(Error::TooCostly {
                            url: label.to_owned(),
                            limit: run.options.limit,
                        });
                    }
                }
            }
        }
        if !vs.excludes.is_empty() {
            let mut excluded: HashSet<(String, String)> = HashSet::new();
            for set in &vs.excludes {
                excluded.extend(self.concept_set_items(set, run)?.iter().map(Item::key));
            }
            out.retain(|i| !excluded.contains(&(i.system.clone(), i.code.clone())));
        }
        Ok(out)
    }

    fn concept_set_items(&self, set: &ConceptSet, run: &mut Run<'_>) -> Result<Vec<Item>, Error> {
        let mut items: Option<Vec<Item>> = None;
        if let Some(system) = &set.system {
            items = Some(self.system_items(system, set, run)?);
        }
        for url in &set.value_sets {
            let vs = self.value_set(url, None)?;
            let sub = self.items(vs, run)?;
            items = Some(match items {
                None => sub,
                Some(prev) => {
                    let keys: HashSet<(String, String)> = sub.iter().map(Item::key).collect();
                    prev.into_iter()
                        .filter(|i| keys.contains(&(i.system.clone(), i.code.clone())))
                        .collect()
                }
            });
        }
        Ok(items.unwrap_or_default())
    }

    fn system_items(
        &self,
        system: &str,
        set: &ConceptSet,
        run: &mut Run<'_>,
    ) -> Result<Vec<Item>, Error> {
        let cs = self.get(system, set.version.as_deref())?;
        let used = match cs.version() {
            Some(v) => format!("{}|{v}", cs.url()),
            None => cs.url().to_owned(),
        };
        if !run.used.contains(&used) {
            run.used.push(used);
        }
        let language = run.options.display_language;
        let designations = run.options.include_designations;
        let item = |c: &Concept, display: Option<&str>, extra: &[Designation]| Item {
            system: cs.url().to_owned(),
            version: cs.version().map(str::to_owned),
            pinned: set.version.clone(),
            code: c.code.clone(),
            display: match (display, language) {
                (Some(d), None) => Some(d.to_owned()),
                _ => cs.display_for(c, language).or(display).map(str::to_owned),
            },
            inactive: c.inactive,
            abstract_: c.abstract_,
            designations: if designations {
                c.designations.iter().chain(extra).cloned().collect()
            } else {
                Vec::new()
            },
        };
        if !set.concepts.is_empty() {
            let mut out = Vec::with_capacity(set.concepts.len());
            for r in &set.concepts {
                match cs.concept(&r.code) {
                    Some(c) => out.push(item(c, r.display.as_deref(), &r.designations)),
                    // A system shipped without its concepts cannot check
                    // the code: take the value set's word for it.
                    None if cs.is_empty() => out.push(Item {
                        system: cs.url().to_owned(),
                        version: cs.version().map(str::to_owned),
                        pinned: set.version.clone(),
                        code: r.code.clone(),
                        display: r.display.clone(),
                        inactive: false,
                        abstract_: false,
                        designations: if designations {
                            r.designations.clone()
                        } else {
                            Vec::new()
                        },
                    }),
                    None => run.warnings.push(format!(
                        "The code '{}' is not in the CodeSystem '{}', so it is left out of the expansion",
                        r.code,
                        cs.url()
                    )),
                }
            }
            return Ok(out);
        }
        if cs.is_empty() && cs.content() != Some("complete") {
            return Err(Error::NotSupported(format!(
                "The CodeSystem '{}' has no concepts here (content = {}), so the value set cannot be expanded",
                cs.url(),
                cs.content().unwrap_or("not stated")
            )));
        }
        let mut mask = vec![true; cs.len()];
        for f in &set.filters {
            let m = filter_mask(cs, f)?;
            for (keep, hit) in mask.iter_mut().zip(m) {
                *keep &= hit;
            }
        }
        Ok(cs
            .concepts()
            .zip(mask)
            .filter(|(_, keep)| *keep)
            .map(|(c, _)| item(c, None, &[]))
            .collect())
    }
}
