//! `ValueSet/$expand` (valueset-operation-expand.html): the value set by
//! `url` (+ `valueSetVersion`), given whole as `valueSet`, or the stored
//! instance; `filter`, `offset`, `count`, `activeOnly`, `excludeNotForUI`,
//! `includeDesignations`, `displayLanguage`, `excludeNested`. The answer is
//! the ValueSet itself with its `expansion` (the operation's one output,
//! `return`, is a resource, so it is not wrapped in Parameters).

use serde_json::{json, Map, Value};
use terminology::{ExpandOptions, ParameterValue, Registry, ValueSet};

use super::lookup::coding;
use super::{missing, Params, Target};
use crate::error::{Error, IssueCode};

/// The most codes one expansion may hold before paging.
pub const MAX_EXPANSION: usize = 100_000;

pub fn answer(registry: &Registry, params: &Params, target: &Target) -> Result<Value, Error> {
    let (vs, mut base) = value_set(registry, params, target)?;
    let filter = params.str("filter");
    let display_language = params.str("displayLanguage");
    let options = ExpandOptions {
        filter: filter.as_deref(),
        offset: params.usize("offset")?.unwrap_or(0),
        count: params.usize("count")?,
        active_only: params.bool("activeOnly")?.unwrap_or(false),
        exclude_not_for_ui: params.bool("excludeNotForUI")?.unwrap_or(false),
        include_designations: params.bool("includeDesignations")?.unwrap_or(false),
        display_language: display_language.as_deref(),
        exclude_nested: params.bool("excludeNested")?.unwrap_or(false),
        limit: MAX_EXPANSION,
    };
    let e = registry.expand_value_set(&vs, &options)?;
    let parameter: Vec<Value> = e
        .parameters
        .iter()
        .map(|(name, v)| {
            let (k, v) = match v {
                ParameterValue::String(s) => ("valueString", json!(s)),
                ParameterValue::Boolean(b) => ("valueBoolean", json!(b)),
                ParameterValue::Integer(i) => ("valueInteger", json!(i)),
                ParameterValue::Uri(s) => ("valueUri", json!(s)),
                ParameterValue::Code(s) => ("valueCode", json!(s)),
            };
            json!({"name": name, k: v})
        })
        .collect();
    let contains: Vec<Value> = e
        .contains
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("system".into(), json!(c.system));
            if let Some(v) = &c.version {
                m.insert("version".into(), json!(v));
            }
            if c.abstract_ {
                m.insert("abstract".into(), json!(true));
            }
            if c.inactive {
                m.insert("inactive".into(), json!(true));
            }
            m.insert("code".into(), json!(c.code));
            if let Some(d) = &c.display {
                m.insert("display".into(), json!(d));
            }
            if !c.designations.is_empty() {
                let ds: Vec<Value> = c
                    .designations
                    .iter()
                    .map(|d| {
                        // designation as ValueSet.compose.include.concept
                        // writes it (not as Parameters parts).
                        let mut o = Map::new();
                        if let Some(l) = &d.language {
                            o.insert("language".into(), json!(l));
                        }
                        if let Some(u) = &d.use_ {
                            o.insert("use".into(), coding(u));
                        }
                        o.insert("value".into(), json!(d.value));
                        Value::Object(o)
                    })
                    .collect();
                m.insert("designation".into(), Value::Array(ds));
            }
            Value::Object(m)
        })
        .collect();
    let mut expansion = Map::new();
    expansion.insert(
        "identifier".into(),
        json!(format!("urn:uuid:{}", uuid::Uuid::new_v4())),
    );
    expansion.insert("timestamp".into(), json!(crate::store::now_instant()));
    expansion.insert("total".into(), json!(e.total));
    expansion.insert("offset".into(), json!(e.offset));
    if !parameter.is_empty() {
        expansion.insert("parameter".into(), Value::Array(parameter));
    }
    if !contains.is_empty() {
        expansion.insert("contains".into(), Value::Array(contains));
    }
    base.remove("expansion");
    base.remove("meta");
    base.remove("text");
    base.insert("expansion".into(), Value::Object(expansion));
    Ok(Value::Object(base))
}

/// The value set to work on and its JSON (the answer's base).
pub(crate) fn value_set(
    registry: &Registry,
    params: &Params,
    target: &Target,
) -> Result<(ValueSet, Map<String, Value>), Error> {
    let json: Value = match (target, params.resource("valueSet")) {
        (Target::Instance(body), _) => serde_json::from_slice(body)
            .map_err(|e| Error::Fault(format!("stored ValueSet is not JSON: {e}")))?,
        (Target::Type, Some(v)) => v.clone(),
        (Target::Type, None) => {
            let url = params.str("url").ok_or_else(|| {
                missing("a ValueSet operation needs a url, a valueSet or an instance")
            })?;
            let version = params.str("valueSetVersion");
            // The registry has it indexed; the answer needs its JSON header.
            let vs = registry.value_set(&url, version.as_deref())?.clone();
            let mut base = Map::new();
            base.insert("resourceType".into(), json!("ValueSet"));
            if let Some(u) = vs.url() {
                base.insert("url".into(), json!(u));
            }
            if let Some(v) = vs.version() {
                base.insert("version".into(), json!(v));
            }
            base.insert("status".into(), json!("active"));
            return Ok((vs, base));
        }
    };
    let bytes = serde_json::to_vec(&json).map_err(|e| Error::Fault(e.to_string()))?;
    let vs = ValueSet::from_json(&bytes)
        .map_err(|e| Error::from(e).context("the valueSet cannot be used"))?;
    let Value::Object(base) = json else {
        return Err(Error::invalid(
            IssueCode::Invalid,
            "the valueSet is not an object",
        ));
    };
    Ok((vs, base))
}
