//! ValueSets: the index of one ValueSet resource, `$expand` and
//! `ValueSet/$validate-code` over the CodeSystems of a [`Registry`]
//! (valueset.html, valueset-operation-expand.html,
//! valueset-operation-validate-code.html).
//!
//! An expansion is worked out from `compose`: each `include` gives a list of
//! codes (explicit `concept`s, or filters over one code system, or the whole
//! system), intersected with the expansions of its nested `valueSet`s; the
//! `exclude`s are worked out the same way and removed. Codes keep the order
//! of the first include that names them (document order within a system).
//! A ValueSet without `compose` but with `expansion.contains` (a
//! pre-expanded one) answers with those codes.
//!
//! Filters evaluate over one code system's index: hierarchy filters
//! (`is-a`, `descendent-of`, `generalizes`, `is-not-a`) walk the parent and
//! child lists from the named concept; property filters (`=`, `regex`,
//! `in`, `not-in`, `exists`) test each concept's properties, which is the
//! one place the engine visits every concept of a system — a filter asks
//! for that.

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::{self, Map, Value};

use crate::code_system::{array, coding, invalid, object, opt_string, CodeSystem, Concept};
use crate::code_system::{Coding, Designation, PropertyValue};
use crate::operations::{ValidateOptions, Validation};
use crate::registry::Registry;
use crate::Error;

/// How deep `valueSet` nesting may go before the engine calls it a cycle.
const MAX_NESTING: usize = 32;

/// `compose.include.filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The property (`concept`, `code`, `display`, or a property code).
    pub property: String,
    /// The operator (`=`, `is-a`, …).
    pub op: String,
    /// The value.
    pub value: String,
}

/// `compose.include.concept`: a code and the display the value set gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConceptReference {
    /// The code.
    pub code: String,
    /// The display the value set prefers.
    pub display: Option<String>,
    /// Designations the value set adds.
    pub designations: Vec<Designation>,
}

/// `compose.include` or `compose.exclude`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConceptSet {
    /// The code system.
    pub system: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// Explicit codes.
    pub concepts: Vec<ConceptReference>,
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
    /// Value sets whose expansions intersect this set.
    pub value_sets: Vec<String>,
}

/// One ValueSet resource, indexed for expansion.
#[derive(Debug, Clone)]
pub struct ValueSet {
    url: Option<String>,
    version: Option<String>,
    name: Option<String>,
    /// `compose.inactive`: `false` leaves inactive codes out.
    inactive: Option<bool>,
    includes: Vec<ConceptSet>,
    excludes: Vec<ConceptSet>,
    has_compose: bool,
    /// `expansion.contains`, flattened, for value sets shipped expanded.
    expanded: Vec<Coding>,
    /// Every code, worked out on the first `$validate-code` and kept: the
    /// registry that holds this value set holds its code systems too and
    /// is rebuilt, not changed, when they change.
    members: std::sync::OnceLock<std::sync::Arc<Members>>,
}

/// A value set's codes with a hash index, for membership checks.
#[derive(Debug)]
struct Members {
    items: Vec<Item>,
    index: HashMap<(String, String), usize>,
}

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

impl ValueSet {
    /// Indexes a ValueSet from its JSON.
    pub fn from_json(bytes: &[u8]) -> Result<ValueSet, Error> {
        let value = tree::parse(bytes).map_err(|e| Error::Syntax(e.to_string()))?;
        ValueSet::from_tree(value)
    }

    /// Indexes a ValueSet from a `fhir-model` JSON tree.
    pub fn from_tree(value: Value) -> Result<ValueSet, Error> {
        let Value::Object(mut map) = value else {
            return Err(invalid("ValueSet", "not a JSON object"));
        };
        match tree::take(&mut map, "resourceType") {
            Some(Value::String(t)) if t == "ValueSet" => {}
            _ => return Err(invalid("ValueSet", "resourceType is not ValueSet")),
        }
        let mut vs = ValueSet {
            url: opt_string(&mut map, "url", "ValueSet")?,
            version: opt_string(&mut map, "version", "ValueSet")?,
            name: opt_string(&mut map, "name", "ValueSet")?,
            inactive: None,
            includes: Vec::new(),
            excludes: Vec::new(),
            has_compose: false,
            expanded: Vec::new(),
            members: std::sync::OnceLock::new(),
        };
        if let Some(c) = tree::take(&mut map, "compose") {
            let mut c = object(c, "ValueSet.compose")?;
            vs.has_compose = true;
            vs.inactive = match tree::take(&mut c, "inactive") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(b),
                Some(_) => return Err(invalid("ValueSet.compose.inactive", "not a boolean")),
            };
            for (key, out) in [("include", &mut vs.includes), ("exclude", &mut vs.excludes)] {
                for (i, s) in array(&mut c, key, "ValueSet.compose")?
                    .into_iter()
                    .enumerate()
                {
                    out.push(concept_set(s, &format!("ValueSet.compose.{key}[{i}]"))?);
                }
            }
        }
        if let Some(e) = tree::take(&mut map, "expansion") {
            let mut e = object(e, "ValueSet.expansion")?;
            let contains = array(&mut e, "contains", "ValueSet.expansion")?;
            flatten_contains(contains, "ValueSet.expansion", &mut vs.expanded)?;
        }
        Ok(vs)
    }

    /// The canonical url.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The business version.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `url|version`, or the url, for messages.
    fn label(&self) -> String {
        let url = self.url.as_deref().unwrap_or("(anonymous value set)");
        match &self.version {
            Some(v) => format!("{url}|{v}"),
            None => url.to_owned(),
        }
    }

    /// `compose.include`.
    pub fn includes(&self) -> &[ConceptSet] {
        &self.includes
    }

    /// `compose.exclude`.
    pub fn excludes(&self) -> &[ConceptSet] {
        &self.excludes
    }
}

fn concept_set(v: Value, path: &str) -> Result<ConceptSet, Error> {
    let mut m = object(v, path)?;
    let mut set = ConceptSet {
        system: opt_string(&mut m, "system", path)?,
        version: opt_string(&mut m, "version", path)?,
        ..ConceptSet::default()
    };
    for (i, c) in array(&mut m, "concept", path)?.into_iter().enumerate() {
        let cpath = format!("{path}.concept[{i}]");
        let mut c = object(c, &cpath)?;
        let mut designations = Vec::new();
        for (j, d) in array(&mut c, "designation", &cpath)?
            .into_iter()
            .enumerate()
        {
            let dpath = format!("{cpath}.designation[{j}]");
            let mut d = object(d, &dpath)?;
            let use_ = match tree::take(&mut d, "use") {
                None | Some(Value::Null) => None,
                Some(v) => Some(coding(v, &format!("{dpath}.use"))?),
            };
            designations.push(Designation {
                language: opt_string(&mut d, "language", &dpath)?,
                value: opt_string(&mut d, "value", &dpath)?
                    .ok_or_else(|| invalid(&dpath, "a designation needs a value"))?,
                use_,
            });
        }
        set.concepts.push(ConceptReference {
            code: opt_string(&mut c, "code", &cpath)?
                .ok_or_else(|| invalid(&cpath, "a concept needs a code"))?,
            display: opt_string(&mut c, "display", &cpath)?,
            designations,
        });
    }
    for (i, f) in array(&mut m, "filter", path)?.into_iter().enumerate() {
        let fpath = format!("{path}.filter[{i}]");
        let mut f = object(f, &fpath)?;
        let mut req = |key: &str| {
            opt_string(&mut f, key, &fpath)?
                .ok_or_else(|| invalid(&fpath, &format!("a filter needs a {key}")))
        };
        set.filters.push(Filter {
            property: req("property")?,
            op: req("op")?,
            value: req("value")?,
        });
    }
    for (i, v) in array(&mut m, "valueSet", path)?.into_iter().enumerate() {
        match v {
            Value::String(s) => set.value_sets.push(s),
            _ => return Err(invalid(&format!("{path}.valueSet[{i}]"), "not a string")),
        }
    }
    if set.system.is_none() && set.value_sets.is_empty() {
        return Err(invalid(path, "a concept set needs a system or a valueSet"));
    }
    if set.system.is_none() && (!set.concepts.is_empty() || !set.filters.is_empty()) {
        return Err(invalid(path, "concepts and filters need a system"));
    }
    Ok(set)
}

fn flatten_contains(items: Vec<Value>, at: &str, out: &mut Vec<Coding>) -> Result<(), Error> {
    for (i, c) in items.into_iter().enumerate() {
        let path = format!("{at}.contains[{i}]");
        let mut c: Map = object(c, &path)?;
        let nested = array(&mut c, "contains", &path)?;
        let system = opt_string(&mut c, "system", &path)?;
        let code = opt_string(&mut c, "code", &path)?;
        if system.is_some() && code.is_some() {
            out.push(Coding {
                system,
                version: opt_string(&mut c, "version", &path)?,
                code,
                display: opt_string(&mut c, "display", &path)?,
            });
        }
        flatten_contains(nested, &path, out)?;
    }
    Ok(())
}

/// A code of an expansion being worked out.
#[derive(Debug, Clone)]
struct Item {
    system: String,
    version: Option<String>,
    /// The version the value set's include asked for (maybe a pattern).
    pinned: Option<String>,
    code: String,
    display: Option<String>,
    inactive: bool,
    abstract_: bool,
    designations: Vec<Designation>,
}

impl Item {
    fn key(&self) -> (String, String) {
        (self.system.clone(), self.code.clone())
    }
}

/// State shared across the nested expansions of one request.
struct Run<'o> {
    options: &'o ExpandOptions<'o>,
    /// Value sets being expanded, to refuse cycles.
    stack: Vec<String>,
    used: Vec<String>,
    warnings: Vec<String>,
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
        let mut run = Run {
            options,
            stack: Vec::new(),
            used: Vec::new(),
            warnings: Vec::new(),
        };
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
    fn items(&self, vs: &ValueSet, run: &mut Run<'_>) -> Result<Vec<Item>, Error> {
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

/// The concepts of `cs` that one filter selects, as a mask over its
/// concept vector.
fn filter_mask(cs: &CodeSystem, f: &Filter) -> Result<Vec<bool>, Error> {
    let n = cs.len();
    let hierarchy = matches!(f.property.as_str(), "concept" | "code" | "parent" | "child");
    let unsupported = || {
        Error::NotSupported(format!(
            "The filter '{} {} {}' is not supported on the CodeSystem '{}'",
            f.property,
            f.op,
            f.value,
            cs.url()
        ))
    };
    let of = |idxs: &mut dyn Iterator<Item = u32>| {
        let mut m = vec![false; n];
        for i in idxs {
            m[i as usize] = true;
        }
        m
    };
    let root = || {
        cs.find(&f.value).ok_or_else(|| {
            Error::NotSupported(format!(
                "The filter '{} {} {}' names a code the CodeSystem '{}' does not have",
                f.property,
                f.op,
                f.value,
                cs.url()
            ))
        })
    };
    Ok(match f.op.as_str() {
        "is-a" | "descendent-of" | "generalizes" | "is-not-a"
            if f.property == "concept" || f.property == "code" =>
        {
            let r = root();
            match (f.op.as_str(), r) {
                ("is-not-a", Err(_)) => vec![true; n],
                (_, Err(e)) => return Err(e),
                ("is-a", Ok(r)) => of(&mut std::iter::once(r).chain(cs.descendants(r))),
                ("descendent-of", Ok(r)) => of(&mut cs.descendants(r).into_iter()),
                ("generalizes", Ok(r)) => of(&mut std::iter::once(r).chain(cs.ancestors(r))),
                (_, Ok(r)) => {
                    let m = of(&mut std::iter::once(r).chain(cs.descendants(r)));
                    m.into_iter().map(|b| !b).collect()
                }
            }
        }
        "=" if hierarchy => match (f.property.as_str(), cs.find(&f.value)) {
            (_, None) => vec![false; n],
            ("parent", Some(r)) => of(&mut cs.children(cs.get(r)).filter_map(|c| cs.find(&c.code))),
            ("child", Some(r)) => of(&mut cs.parents(cs.get(r)).filter_map(|c| cs.find(&c.code))),
            (_, Some(r)) => of(&mut std::iter::once(r)),
        },
        "in" | "not-in" if hierarchy && f.property != "parent" && f.property != "child" => {
            let mut m = of(&mut f.value.split(',').filter_map(|c| cs.find(c.trim())));
            if f.op == "not-in" {
                m.iter_mut().for_each(|b| *b = !*b);
            }
            m
        }
        "regex" => {
            let re = regex::Regex::new(&format!("^(?:{})$", f.value)).map_err(|e| {
                Error::NotSupported(format!("The regex '{}' is not valid: {e}", f.value))
            })?;
            cs.concepts()
                .map(|c| {
                    property_values(cs, c, &f.property)
                        .iter()
                        .any(|v| re.is_match(v))
                })
                .collect()
        }
        "=" | "in" | "not-in" | "exists" => {
            let wanted: Vec<&str> = match f.op.as_str() {
                "=" => vec![f.value.as_str()],
                _ => f.value.split(',').map(str::trim).collect(),
            };
            let exists = match f.op.as_str() {
                "exists" => Some(match f.value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(unsupported()),
                }),
                _ => None,
            };
            cs.concepts()
                .map(|c| {
                    let values = property_values(cs, c, &f.property);
                    match (f.op.as_str(), exists) {
                        (_, Some(want)) => values.is_empty() != want,
                        ("not-in", _) => !values.iter().any(|v| wanted.contains(&v.as_str())),
                        _ => values.iter().any(|v| wanted.contains(&v.as_str())),
                    }
                })
                .collect()
        }
        _ => return Err(unsupported()),
    })
}

/// A concept's values of a property, as text: `code`, `display`, the
/// flags the index keeps (`inactive`, `notSelectable`), the hierarchy
/// (`parent`, `child`), and declared properties.
fn property_values(cs: &CodeSystem, c: &Concept, property: &str) -> Vec<String> {
    match property {
        "code" | "concept" => return vec![c.code.clone()],
        "display" => return c.display.iter().cloned().collect(),
        "parent" => return cs.parents(c).map(|p| p.code.clone()).collect(),
        "child" => return cs.children(c).map(|p| p.code.clone()).collect(),
        _ => {}
    }
    let mut out: Vec<String> = c
        .properties
        .iter()
        .filter(|p| p.code == property)
        .map(|p| match &p.value {
            PropertyValue::Code(s)
            | PropertyValue::String(s)
            | PropertyValue::DateTime(s)
            | PropertyValue::Decimal(s) => s.clone(),
            PropertyValue::Integer(i) => i.to_string(),
            PropertyValue::Boolean(b) => b.to_string(),
            PropertyValue::Coding(c) => c.code.clone().unwrap_or_default(),
        })
        .collect();
    if out.is_empty() {
        match property {
            "inactive" if c.inactive => out.push("true".into()),
            "notSelectable" if c.abstract_ => out.push("true".into()),
            _ => {}
        }
    }
    out
}

/// What `ValueSet/$validate-code` checks: one coding (`code`, `system`,
/// `display`), or the codings of a CodeableConcept, any of which may be
/// valid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodingToCheck {
    /// `system`.
    pub system: Option<String>,
    /// `systemVersion` or `coding.version`.
    pub version: Option<String>,
    /// `code`.
    pub code: String,
    /// `display`.
    pub display: Option<String>,
}

impl Registry {
    /// The codes of a value set with a hash index, worked out once per
    /// ValueSet object.
    fn members(&self, vs: &ValueSet) -> Result<std::sync::Arc<Members>, Error> {
        if let Some(m) = vs.members.get() {
            return Ok(m.clone());
        }
        let options = ExpandOptions::default();
        let mut run = Run {
            options: &options,
            stack: Vec::new(),
            used: Vec::new(),
            warnings: Vec::new(),
        };
        let items = self.items(vs, &mut run)?;
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.key(), i))
            .collect();
        let m = std::sync::Arc::new(Members { items, index });
        // Another thread may have set it meanwhile: the same answer.
        let _ = vs.members.set(m.clone());
        Ok(m)
    }

    /// `ValueSet/$validate-code`: whether any of the codings is in the
    /// value set (and, when it is, valid in its code system: display,
    /// abstract, inactive), with a `message` saying why not.
    pub fn validate_in_value_set(
        &self,
        vs: &ValueSet,
        codings: &[CodingToCheck],
        display_language: Option<&str>,
        active_only: bool,
    ) -> Result<Validation, Error> {
        let all = match self.members(vs) {
            Ok(all) => all,
            // A code system (version) the value set needs is missing: the
            // code cannot be validated, which is an answer, not an error.
            Err(Error::UnknownSystem { system, version }) => {
                let version = version
                    .map(|v| format!(" version '{v}'"))
                    .unwrap_or_default();
                return Ok(Validation {
                    result: false,
                    message: Some(format!(
                        "A definition for CodeSystem '{system}'{version} could not be found, so the code cannot be validated"
                    )),
                    display: None,
                    inactive: false,
                });
            }
            Err(e) => return Err(e),
        };
        let lookup = |system: &str, code: &str| {
            all.index
                .get(&(system.to_owned(), code.to_owned()))
                .map(|&i| &all.items[i])
        };
        let mut messages = Vec::new();
        let mut first: Option<Validation> = None;
        for c in codings {
            // A code without a system: the value set's one system, when
            // it has only one (the tx ecosystem's "implied system").
            let implied = match c.system.as_deref() {
                Some(_) => None,
                None => {
                    let mut systems = all.items.iter().map(|i| i.system.as_str());
                    let first = systems.next();
                    first.filter(|f| systems.all(|s| s == *f))
                }
            };
            let Some(system) = c.system.as_deref().or(implied) else {
                messages.push(format!(
                    "The code '{}' has no system, so it cannot be validated against the value set '{}'",
                    c.code,
                    vs.label()
                ));
                continue;
            };
            let found = lookup(system, &c.code).or_else(|| {
                // Case-insensitive systems match their codes folded.
                let cs = self.get(system, c.version.as_deref()).ok()?;
                let concept = cs.concept(&c.code)?;
                lookup(system, &concept.code)
            });
            let Some(item) = found else {
                let known = self.get(system, c.version.as_deref());
                let mut m = match known {
                    Err(_) if c.version.is_none() => format!(
                        "A definition for CodeSystem '{system}' could not be found, so the code cannot be validated"
                    ),
                    _ => format!(
                        "The provided code '{system}#{}' was not found in the value set '{}'",
                        c.code,
                        vs.label()
                    ),
                };
                if let Ok(cs) = known {
                    if cs.concept(&c.code).is_none() && !cs.is_empty() {
                        m = format!(
                            "Unknown code '{}' in the CodeSystem '{system}'; {m}",
                            c.code
                        );
                    }
                }
                messages.push(m);
                continue;
            };
            // The coding's version must be the one the value set pins (a
            // pattern such as 1.x matches several); unpinned, the coding's
            // version is the one checked.
            let mut check_version = item.version.clone();
            if let Some(given) = &c.version {
                let ok = match &item.pinned {
                    Some(p) => p == given || crate::registry::version_matches(p, given),
                    None => true,
                };
                let used = item.version.clone().unwrap_or_default();
                if ok && self.get(system, Some(given)).is_ok() {
                    check_version = Some(given.clone());
                } else if given != &used {
                    messages.push(format!(
                        "The code system '{system}' version '{used}' in the ValueSet include is different to the one in the value ('{given}')"
                    ));
                    first.get_or_insert(Validation {
                        result: false,
                        message: None,
                        display: item.display.clone(),
                        inactive: item.inactive,
                    });
                    continue;
                }
            }
            let v = match self.get(system, check_version.as_deref()) {
                Ok(cs) if cs.concept(&item.code).is_some() => {
                    let mut v = cs.validate_code(
                        &item.code,
                        &ValidateOptions {
                            display: c.display.as_deref(),
                            display_language,
                            abstract_allowed: false,
                        },
                    );
                    if active_only && v.inactive {
                        v.result = false;
                    }
                    v
                }
                // A concept the value set lists from a system without
                // concepts: the value set's display is the one to check.
                _ => {
                    let ok = match (&c.display, &item.display) {
                        (Some(given), Some(d)) => given == d,
                        _ => true,
                    };
                    Validation {
                        result: ok,
                        message: (!ok).then(|| {
                            format!(
                                "Wrong Display Name '{}' for {system}#{}. Valid display is '{}'",
                                c.display.as_deref().unwrap_or(""),
                                c.code,
                                item.display.as_deref().unwrap_or("")
                            )
                        }),
                        display: item.display.clone(),
                        inactive: false,
                    }
                }
            };
            if v.result {
                return Ok(v);
            }
            messages.extend(v.message.clone());
            first.get_or_insert(v);
        }
        let message = (!messages.is_empty()).then(|| messages.join("; "));
        Ok(match first {
            Some(mut v) => {
                v.message = message;
                v
            }
            None => Validation {
                result: false,
                message,
                display: None,
                inactive: false,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: &str = r#"{"resourceType":"CodeSystem","url":"http://ex/cs","version":"1","language":"en",
      "property":[{"code":"kind","type":"code"},{"code":"status","uri":"http://hl7.org/fhir/concept-properties#status","type":"code"},
                 {"code":"notSelectable","uri":"http://hl7.org/fhir/concept-properties#notSelectable","type":"boolean"}],
      "concept":[
        {"code":"root","display":"Root","property":[{"code":"notSelectable","valueBoolean":true}],"concept":[
          {"code":"a","display":"Alpha","designation":[{"language":"ja","value":"アルファ"}],
           "property":[{"code":"kind","valueCode":"x"}],
           "concept":[{"code":"a1","display":"Alpha one","property":[{"code":"kind","valueCode":"y"}]},
                      {"code":"a2","display":"Alpha two","property":[{"code":"status","valueCode":"retired"}]}]},
          {"code":"b","display":"Beta","property":[{"code":"kind","valueCode":"y"}]}]},
        {"code":"z","display":"Zed"}]}"#;

    fn registry(value_sets: &[&str]) -> Registry {
        let mut r = Registry::new();
        r.insert_json(CS.as_bytes()).unwrap();
        for vs in value_sets {
            r.insert_value_set(ValueSet::from_json(vs.as_bytes()).unwrap());
        }
        r
    }

    fn vs(url: &str, compose: &str) -> String {
        format!(r#"{{"resourceType":"ValueSet","url":"{url}","version":"2","compose":{compose}}}"#)
    }

    fn codes(e: &Expansion) -> Vec<&str> {
        e.contains.iter().map(|c| c.code.as_str()).collect()
    }

    fn expand(r: &Registry, url: &str) -> Result<Expansion, Error> {
        r.expand(url, None, &ExpandOptions::default())
    }

    #[test]
    fn include_by_concepts_filters_and_whole_system_with_exclude() {
        let main = vs(
            "http://ex/vs",
            r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]},
                           {"system":"http://ex/cs","concept":[{"code":"z","display":"Zee"}]}],
                "exclude":[{"system":"http://ex/cs","concept":[{"code":"a2"}]}]}"#,
        );
        let all = vs(
            "http://ex/all",
            r#"{"include":[{"system":"http://ex/cs"}]}"#,
        );
        let r = registry(&[&main, &all]);
        let e = expand(&r, "http://ex/vs").unwrap();
        assert_eq!(codes(&e), ["a", "a1", "z"]);
        assert_eq!(e.total, 3);
        assert_eq!(e.contains[2].display.as_deref(), Some("Zee"));
        assert!(e.parameters.contains(&(
            "used-codesystem".into(),
            ParameterValue::Uri("http://ex/cs|1".into())
        )));
        assert_eq!(expand(&r, "http://ex/all").unwrap().total, 6);
        assert_eq!(expand(&r, "http://ex/vs|2").unwrap().total, 3);
        assert!(matches!(
            expand(&r, "http://ex/none"),
            Err(Error::UnknownValueSet { .. })
        ));
    }

    #[test]
    fn every_filter_operator() {
        let r = registry(&[]);
        let run = |property: &str, op: &str, value: &str| -> Result<Vec<String>, Error> {
            let json = vs(
                "http://ex/f",
                &format!(
                    r#"{{"include":[{{"system":"http://ex/cs","filter":[{{"property":"{property}","op":"{op}","value":"{value}"}}]}}]}}"#
                ),
            );
            let v = ValueSet::from_json(json.as_bytes()).unwrap();
            let e = r.expand_value_set(&v, &ExpandOptions::default())?;
            Ok(e.contains.into_iter().map(|c| c.code).collect())
        };
        assert_eq!(run("concept", "is-a", "a").unwrap(), ["a", "a1", "a2"]);
        assert_eq!(run("concept", "descendent-of", "a").unwrap(), ["a1", "a2"]);
        assert_eq!(run("concept", "is-not-a", "a").unwrap(), ["root", "b", "z"]);
        assert_eq!(
            run("concept", "generalizes", "a1").unwrap(),
            ["root", "a", "a1"]
        );
        assert_eq!(run("concept", "=", "b").unwrap(), ["b"]);
        assert_eq!(run("concept", "in", "b,z,nope").unwrap(), ["b", "z"]);
        assert_eq!(
            run("code", "not-in", "b,z").unwrap(),
            ["root", "a", "a1", "a2"]
        );
        assert_eq!(run("code", "regex", "a[0-9]").unwrap(), ["a1", "a2"]);
        assert_eq!(
            run("display", "regex", "Alpha.*").unwrap(),
            ["a", "a1", "a2"]
        );
        assert_eq!(run("kind", "=", "y").unwrap(), ["a1", "b"]);
        assert_eq!(run("kind", "in", "x,y").unwrap(), ["a", "a1", "b"]);
        assert_eq!(
            run("kind", "not-in", "y").unwrap(),
            ["root", "a", "a2", "z"]
        );
        assert_eq!(run("kind", "exists", "true").unwrap(), ["a", "a1", "b"]);
        assert_eq!(run("kind", "exists", "false").unwrap(), ["root", "a2", "z"]);
        assert_eq!(run("parent", "=", "a").unwrap(), ["a1", "a2"]);
        assert_eq!(run("status", "=", "retired").unwrap(), ["a2"]);
        assert!(matches!(
            run("kind", "is-a", "x"),
            Err(Error::NotSupported(_))
        ));
        assert!(matches!(
            run("concept", "is-a", "nope"),
            Err(Error::NotSupported(_))
        ));
        assert!(matches!(
            run("code", "regex", "("),
            Err(Error::NotSupported(_))
        ));
    }

    #[test]
    fn nested_value_sets_intersect_and_cycles_fail() {
        let a = vs(
            "http://ex/a",
            r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}"#,
        );
        let y = vs(
            "http://ex/y",
            r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"kind","op":"=","value":"y"}]}]}"#,
        );
        let both = vs(
            "http://ex/both",
            r#"{"include":[{"valueSet":["http://ex/a","http://ex/y"]}]}"#,
        );
        let union = vs(
            "http://ex/union",
            r#"{"include":[{"valueSet":["http://ex/a"]},{"valueSet":["http://ex/y"]}]}"#,
        );
        let with_system = vs(
            "http://ex/ws",
            r#"{"include":[{"system":"http://ex/cs","concept":[{"code":"b"},{"code":"a1"}],"valueSet":["http://ex/a"]}]}"#,
        );
        let cyc1 = vs(
            "http://ex/c1",
            r#"{"include":[{"valueSet":["http://ex/c2"]}]}"#,
        );
        let cyc2 = vs(
            "http://ex/c2",
            r#"{"include":[{"valueSet":["http://ex/c1"]}]}"#,
        );
        let r = registry(&[&a, &y, &both, &union, &with_system, &cyc1, &cyc2]);
        assert_eq!(codes(&expand(&r, "http://ex/both").unwrap()), ["a1"]);
        assert_eq!(
            codes(&expand(&r, "http://ex/union").unwrap()),
            ["a", "a1", "a2", "b"]
        );
        assert_eq!(codes(&expand(&r, "http://ex/ws").unwrap()), ["a1"]);
        assert!(matches!(
            expand(&r, "http://ex/c1"),
            Err(Error::NotSupported(_))
        ));
    }

    #[test]
    fn expansion_parameters() {
        let all = vs(
            "http://ex/all",
            r#"{"include":[{"system":"http://ex/cs"}]}"#,
        );
        let r = registry(&[&all]);
        let opts = |f: &dyn Fn(&mut ExpandOptions<'static>)| {
            let mut o = ExpandOptions::default();
            f(&mut o);
            r.expand("http://ex/all", None, &o).unwrap()
        };
        let page = opts(&|o| {
            o.offset = 1;
            o.count = Some(2);
        });
        assert_eq!((page.total, page.offset), (6, 1));
        assert_eq!(codes(&page), ["a", "a1"]);
        assert_eq!(codes(&opts(&|o| o.filter = Some("alpha ONE"))), ["a1"]);
        assert_eq!(opts(&|o| o.active_only = true).total, 5);
        let selectable = opts(&|o| o.exclude_not_for_ui = true);
        assert_eq!(selectable.total, 5);
        assert!(!codes(&selectable).contains(&"root"));
        assert!(opts(&|_| {})
            .contains
            .iter()
            .any(|c| c.code == "root" && c.abstract_));
        let ja = opts(&|o| {
            o.display_language = Some("ja");
            o.include_designations = true;
        });
        assert_eq!(ja.contains[1].display.as_deref(), Some("アルファ"));
        assert_eq!(ja.contains[1].designations.len(), 1);
        assert!(opts(&|_| {}).contains[1].designations.is_empty());
        let inactive = opts(&|_| {});
        assert!(inactive.contains[3].inactive);
        let small = ExpandOptions {
            limit: 3,
            ..ExpandOptions::default()
        };
        assert!(matches!(
            r.expand("http://ex/all", None, &small),
            Err(Error::TooCostly { .. })
        ));
    }

    #[test]
    fn unknown_systems_and_codes() {
        let unknown = vs(
            "http://ex/u",
            r#"{"include":[{"system":"http://nope","concept":[{"code":"x"}]}]}"#,
        );
        let missing_code = vs(
            "http://ex/m",
            r#"{"include":[{"system":"http://ex/cs","concept":[{"code":"b"},{"code":"nope"}]}]}"#,
        );
        let r = registry(&[&unknown, &missing_code]);
        assert!(matches!(
            expand(&r, "http://ex/u"),
            Err(Error::UnknownSystem { .. })
        ));
        let e = expand(&r, "http://ex/m").unwrap();
        assert_eq!(codes(&e), ["b"]);
        assert!(e.parameters.iter().any(|(n, _)| n == "warning"));
        assert!(matches!(
            ValueSet::from_json(br#"{"resourceType":"ValueSet","compose":{"include":[{}]}}"#),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn pre_expanded_value_sets() {
        let pre = r#"{"resourceType":"ValueSet","url":"http://ex/pre","expansion":{"contains":[
            {"system":"http://s","code":"1","display":"One","contains":[{"system":"http://s","code":"2"}]}]}}"#;
        let r = registry(&[pre]);
        assert_eq!(codes(&expand(&r, "http://ex/pre").unwrap()), ["1", "2"]);
    }

    #[test]
    fn validate_code_in_value_set() {
        let main = vs(
            "http://ex/vs",
            r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}"#,
        );
        let r = registry(&[&main]);
        let vs = r.value_set("http://ex/vs", None).unwrap();
        let check = |system: Option<&str>, code: &str, display: Option<&str>| CodingToCheck {
            system: system.map(str::to_owned),
            version: None,
            code: code.to_owned(),
            display: display.map(str::to_owned),
        };
        let ok = r
            .validate_in_value_set(
                vs,
                &[check(Some("http://ex/cs"), "a1", Some("Alpha one"))],
                None,
                false,
            )
            .unwrap();
        assert!(ok.result, "{ok:?}");
        let out = r
            .validate_in_value_set(vs, &[check(Some("http://ex/cs"), "b", None)], None, false)
            .unwrap();
        assert!(!out.result);
        assert_eq!(
            out.message.as_deref(),
            Some("The provided code 'http://ex/cs#b' was not found in the value set 'http://ex/vs|2'")
        );
        let wrong = r
            .validate_in_value_set(
                vs,
                &[check(Some("http://ex/cs"), "a", Some("Nope"))],
                None,
                false,
            )
            .unwrap();
        assert!(!wrong.result && wrong.message.unwrap().starts_with("Wrong Display Name"));
        // A CodeableConcept: any valid coding makes it valid.
        let cc = r
            .validate_in_value_set(
                vs,
                &[
                    check(Some("http://ex/cs"), "z", None),
                    check(Some("http://ex/cs"), "a", None),
                ],
                None,
                false,
            )
            .unwrap();
        assert!(cc.result);
        let retired = r
            .validate_in_value_set(vs, &[check(Some("http://ex/cs"), "a2", None)], None, true)
            .unwrap();
        assert!(!retired.result);
        let unknown = r
            .validate_in_value_set(vs, &[check(Some("http://nope"), "a", None)], None, false)
            .unwrap();
        assert!(unknown.message.unwrap().contains("could not be found"));
    }
}
