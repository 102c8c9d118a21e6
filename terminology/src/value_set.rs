//! ValueSets: the index of one ValueSet resource (valueset.html): its
//! `compose` (includes and excludes by concepts, filters and nested value
//! sets) and, for value sets shipped expanded, `expansion.contains`.
//!
//! What the engine does with a value set lives beside it: `$expand` in
//! [`crate::expand`], the filters in [`crate::value_set_filter`], and
//! `$validate-code` in [`crate::membership`]. This module only reads the
//! resource, so it depends on no registry.

use fhir_model::json::tree::{self, Map, Value};

use crate::code_system::{array, coding, invalid, object, opt_string, Coding, Designation};
use crate::members::Members;
use crate::Error;

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
    pub(crate) url: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) name: Option<String>,
    /// `compose.inactive`: `false` leaves inactive codes out.
    pub(crate) inactive: Option<bool>,
    pub(crate) includes: Vec<ConceptSet>,
    pub(crate) excludes: Vec<ConceptSet>,
    pub(crate) has_compose: bool,
    /// `expansion.contains`, flattened, for value sets shipped expanded.
    pub(crate) expanded: Vec<Coding>,
    /// Every code, worked out on the first `$validate-code` and kept: the
    /// registry that holds this value set holds its code systems too and
    /// is rebuilt, not changed, when they change.
    pub(crate) members: std::sync::OnceLock<std::sync::Arc<Members>>,
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
    pub(crate) fn label(&self) -> String {
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
