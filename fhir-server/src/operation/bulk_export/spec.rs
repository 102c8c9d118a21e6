//! The kick-off parameters of `$export` (Bulk Data Access IG 2.0.0,
//! export.html#query-parameters) read into a [`Spec`], the job's plan as
//! stored in the database. Everything is checked here, at kick-off, so a
//! bad request is a 400 and a stored job always runs.

use fhir_model::ResourceType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Issue, IssueCode};
use crate::search::compartment;
use crate::search::param::ParamRegistry;
use crate::search::query;

/// `_outputFormat` values that mean NDJSON (export.html).
const NDJSON: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];

/// Parameters of the IG this server does not implement yet: refused (400)
/// unless `Prefer: handling=lenient`, as the IG asks.
const NOT_YET: [&str; 6] = [
    "_elements",
    "patient",
    "includeAssociatedData",
    "_until",
    "organizeOutputBy",
    "allowPartialManifests",
];

/// What an export covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    /// `[base]/$export`: every resource of the types.
    System,
    /// `[base]/Patient/$export`: every patient's compartment.
    Patient,
    /// `[base]/Group/[id]/$export`: the compartments of the Group's
    /// Patient members (`Group.member.entity`).
    Group(String),
}

/// The job's plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub level: Level,
    /// The types exported, in file order.
    pub types: Vec<String>,
    /// `_since`: resources last updated at or after it.
    pub since: Option<String>,
    /// `_typeFilter`s as (type, query string); several for one type are
    /// OR-ed (each its own search).
    pub type_filters: Vec<(String, String)>,
    /// The server base of the kick-off, for the file URLs.
    pub base: String,
    /// Whether the files need the kick-off's token (authorization on).
    pub requires_access_token: bool,
}

/// `Prefer: handling=lenient`.
pub fn lenient(prefer: &[String]) -> bool {
    prefer
        .iter()
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"))
}

/// What a kick-off asks, beside its parameters.
pub struct KickOff<'a> {
    pub level: Level,
    /// The types the caller may export whole (all on an open server).
    pub allowed: &'a [ResourceType],
    /// `Prefer: handling=lenient`.
    pub lenient: bool,
    pub base: String,
    pub requires_access_token: bool,
}

/// Reads the parameters into the job's plan.
pub fn read(
    registry: &ParamRegistry,
    k: KickOff<'_>,
    params: &[(String, String)],
) -> Result<Spec, Error> {
    let KickOff {
        level,
        allowed,
        lenient,
        base,
        requires_access_token,
    } = k;
    let mut issues = Vec::new();
    let mut bad = |name: &str, code: IssueCode, m: String| {
        issues.push(Issue::new(code, m).at(name.to_owned()));
    };
    let in_scope: Vec<String> = match &level {
        Level::System => allowed.iter().map(|t| t.as_str().to_owned()).collect(),
        Level::Patient | Level::Group(_) => {
            let mut types: Vec<String> = compartment::compartment_types("Patient")
                .into_iter()
                .map(str::to_owned)
                .collect();
            if !types.iter().any(|t| t == "Patient") {
                types.insert(0, "Patient".into());
            }
            types.retain(|t| allowed.iter().any(|a| a.as_str() == t));
            types
        }
    };
    let mut types: Option<Vec<String>> = None;
    let mut since = None;
    let mut filters = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "_outputFormat" if NDJSON.contains(&v.as_str()) => {}
            "_outputFormat" => bad(
                k,
                IssueCode::NotSupported,
                format!("_outputFormat {v:?} is not supported; use application/fhir+ndjson"),
            ),
            "_type" => {
                let mut wanted = types.take().unwrap_or_default();
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if ResourceType::parse(t).is_none() {
                        bad(k, IssueCode::Value, format!("_type: {t:?} is not a resource type"));
                    } else if !in_scope.iter().any(|s| s == t) {
                        bad(
                            k,
                            IssueCode::Value,
                            format!("_type: {t} cannot be exported here (not in the Patient compartment, or not granted)"),
                        );
                    } else if !wanted.iter().any(|w| w == t) {
                        wanted.push(t.to_owned());
                    }
                }
                types = Some(wanted);
            }
            "_since" => match query::criterion(registry, "Patient", "_lastUpdated", &format!("ge{v}"), 0) {
                Ok(_) if v.contains('T') => since = Some(v.clone()),
                Ok(_) => bad(k, IssueCode::Value, format!("_since {v:?} must be an instant (with a time)")),
                Err(e) => bad(k, IssueCode::Value, format!("_since: {e}")),
            },
            "_typeFilter" => match type_filter(registry, v) {
                Ok(f) => filters.push(f),
                Err(m) => bad(k, IssueCode::Invalid, m),
            },
            "_format" | "_pretty" => {}
            other if lenient => log::info!("$export: {other} ignored (Prefer: handling=lenient)"),
            other if NOT_YET.contains(&other) => bad(
                other,
                IssueCode::NotSupported,
                format!("{other} is not supported by this server yet; send Prefer: handling=lenient to export without it"),
            ),
            other => bad(
                other,
                IssueCode::NotSupported,
                format!("{other} is not a parameter of $export"),
            ),
        }
    }
    let types = types.unwrap_or(in_scope);
    for (t, _) in &filters {
        if !types.contains(t) {
            bad(
                "_typeFilter",
                IssueCode::Value,
                format!("_typeFilter on {t}, which this export does not hold"),
            );
        }
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    Ok(Spec {
        level,
        types,
        since,
        type_filters: filters,
        base,
        requires_access_token,
    })
}

/// One `_typeFilter` (`Observation?code=…`), checked by the search engine
/// exactly as a search of that type would be: anything it would not use
/// is an error, since a filter dropped silently would export too much.
fn type_filter(registry: &ParamRegistry, raw: &str) -> Result<(String, String), String> {
    let (t, q) = raw
        .split_once('?')
        .ok_or_else(|| format!("_typeFilter {raw:?} is not [type]?[query]"))?;
    if ResourceType::parse(t).is_none() {
        return Err(format!("_typeFilter: {t:?} is not a resource type"));
    }
    let search = search_of(registry, t, q)?;
    if let Some(i) = search.ignored.first() {
        return Err(format!("_typeFilter {raw:?}: {}: {}", i.name, i.reason));
    }
    Ok((t.to_owned(), q.to_owned()))
}

/// The search of `query` on `t`, as the search interaction parses it.
pub fn search_of(
    registry: &ParamRegistry,
    t: &str,
    q: &str,
) -> Result<query::SearchRequest, String> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(q).map_err(|e| format!("cannot read {q:?}: {e}"))?;
    if let Some((k, _)) = params.iter().find(|(k, _)| {
        matches!(
            k.as_str(),
            "_count"
                | "_sort"
                | "_include"
                | "_revinclude"
                | "_summary"
                | "_elements"
                | "_total"
                | "_cursor"
        )
    }) {
        return Err(format!("{k} has no meaning in a _typeFilter"));
    }
    Ok(query::parse(registry, vec![t.to_owned()], &params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(params: &[(&str, &str)], lenient: bool) -> Result<Vec<String>, Error> {
        let registry = crate::search::registry::core();
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let k = KickOff {
            level: Level::Patient,
            allowed: ResourceType::ALL,
            lenient,
            base: String::new(),
            requires_access_token: false,
        };
        read(&registry, k, &params).map(|s| s.types)
    }

    #[test]
    fn parameters_are_checked_at_kick_off() {
        let types = read_all(&[("_type", "Observation,Patient")], false).unwrap();
        assert_eq!(types, ["Observation", "Patient"]);
        assert!(read_all(&[], false)
            .unwrap()
            .contains(&"Condition".to_owned()));
        assert!(read_all(&[("_type", "Organization")], false).is_err());
        assert!(read_all(&[("_outputFormat", "text/csv")], false).is_err());
        assert!(read_all(&[("_since", "yesterday")], false).is_err());
        assert!(read_all(&[("_typeFilter", "Observation?nonsense=1")], false).is_err());
        assert!(read_all(&[("_typeFilter", "Observation?code=x")], false).is_ok());
        assert!(read_all(&[("_elements", "id")], false).is_err());
        assert!(read_all(&[("_elements", "id")], true).is_ok());
    }
}
