//! The terminology operations of terminology-service.html over the
//! `terminology` crate: `CodeSystem/$lookup`, `$validate-code` (CodeSystem
//! and ValueSet), `ValueSet/$expand`, `CodeSystem/$subsumes` and
//! `ConceptMap/$translate`, each at type level (`[base]/[type]/$op`) and
//! instance level (`[base]/[type]/[id]/$op`), by GET (query parameters) or
//! POST (a `Parameters` body). One module per operation; this one holds
//! what they share: the input parameters ([`Params`]), the `Parameters`
//! answer, the error mapping and the [`TerminologyService`].
//!
//! The service is a [`terminology::Registry`] built from the current
//! CodeSystem, ValueSet and ConceptMap resources of the store (packages'
//! ones included, since `serve --package` stores them), over the built-in
//! R4 core ones ([`core`]): a stored resource wins over a core one with
//! the same url (and version). It is built on
//! the first terminology request and rebuilt when one comes after such a
//! resource was written, on this server or another one on the database:
//! each request reads the definition stamps (`store/definitions.rs`, one
//! query of four rows) and compares the Terminology one with the one the
//! registry was built from. Writes of other resources do nothing more
//! than before, and writes of terminology resources pay only the stamp
//! bump: the rebuild runs on the next terminology request.

pub mod core;
pub mod expand;
pub mod lookup;
pub mod subsumes;
pub mod translate;
pub mod validate_code;

use std::sync::{Arc, Mutex, RwLock};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::ResourceType;
use serde_json::{json, Map, Value};
use terminology::Registry;

use crate::app::AppState;
use crate::error::{Error, IssueCode, FHIR_JSON};
use crate::interaction::{parse_resource, read_body, resource_type, run, url_id};
use crate::store::Store;

/// The operations this module answers, as the last URL segment.
pub const OPERATIONS: [&str; 5] = [
    "$lookup",
    "$validate-code",
    "$expand",
    "$subsumes",
    "$translate",
];

/// What the registry was built from: the Terminology definition stamp.
type Stamp = i64;

/// The registry of the store's terminology resources, rebuilt lazily.
#[derive(Default)]
pub struct TerminologyService {
    /// CodeSystems, ValueSets and ConceptMaps (JSON) indexed into every
    /// registry besides the stored ones, which win on the same url and
    /// version (they in turn win over the built-in core): resources the
    /// store cannot hold (another FHIR version's elements, masters too
    /// large to store) or test fixtures.
    seeds: Vec<Vec<u8>>,
    current: RwLock<Option<(Stamp, Arc<Registry>)>>,
    /// One rebuild at a time; the others wait and take its result.
    rebuild: Mutex<()>,
}

impl std::fmt::Debug for TerminologyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminologyService").finish_non_exhaustive()
    }
}

impl TerminologyService {
    /// A service that adds `seeds` (resource JSON) to every registry.
    pub fn with_resources(seeds: Vec<Vec<u8>>) -> TerminologyService {
        TerminologyService {
            seeds,
            ..TerminologyService::default()
        }
    }

    /// The registry for the store as it is now (blocking: call inside
    /// [`run`]).
    pub fn registry(&self, store: &Store) -> Result<Arc<Registry>, Error> {
        store.check_definitions()?;
        let fp = stamp(store);
        if let Some(r) = self.cached(&fp) {
            return Ok(r);
        }
        let _one = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        let fp = stamp(store);
        if let Some(r) = self.cached(&fp) {
            return Ok(r);
        }
        let registry = Arc::new(build(store, &self.seeds)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some((fp, registry.clone()));
        Ok(registry)
    }

    fn cached(&self, fp: &Stamp) -> Option<Arc<Registry>> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|(f, _)| f == fp)
            .map(|(_, r)| r.clone())
    }
}

/// The Terminology stamp as this process last read it.
fn stamp(store: &Store) -> Stamp {
    store
        .definitions()
        .seen()
        .get(crate::store::DefinitionKind::Terminology)
}

/// Indexes one CodeSystem, ValueSet or ConceptMap (JSON) into
/// `registry`; other resource types are ignored.
pub(crate) fn insert_resource(
    registry: &mut Registry,
    resource_type: &str,
    body: &[u8],
) -> Result<(), terminology::Error> {
    match resource_type {
        "CodeSystem" => {
            registry.insert(terminology::CodeSystem::from_json(body)?);
        }
        "ValueSet" => registry.insert_value_set(terminology::ValueSet::from_json(body)?),
        "ConceptMap" => registry.insert_concept_map(terminology::ConceptMap::from_json(body)?),
        _ => {}
    }
    Ok(())
}

/// Reads every current CodeSystem, ValueSet and ConceptMap, over the
/// seeds, over the core. One that the engine cannot index is logged and
/// left out, so one bad resource does not take terminology down.
fn build(store: &Store, seeds: &[Vec<u8>]) -> Result<Registry, Error> {
    let started = std::time::Instant::now();
    let mut registry = Registry::over(core::registry());
    let mut skipped = 0;
    for (i, body) in seeds.iter().enumerate() {
        let kind = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["resourceType"].as_str().map(str::to_owned));
        if let Err(e) = insert_resource(&mut registry, kind.as_deref().unwrap_or_default(), body) {
            skipped += 1;
            log::warn!("terminology resource {i} left out: {e}");
        }
    }
    for rt in fhir_store::store::TERMINOLOGY_TYPES {
        for (id, body) in store.current_bodies(rt.as_str())? {
            if let Err(e) = insert_resource(&mut registry, rt.as_str(), &body) {
                skipped += 1;
                log::warn!("{}/{id} left out of terminology: {e}", rt.as_str());
            }
        }
    }
    log::info!(
        "terminology registry built: {} code systems (stored and seeded) over the R4 core, {} left out, in {:?}",
        registry.len(),
        skipped,
        started.elapsed()
    );
    Ok(registry)
}

/// The input parameters of an operation: from the query string (GET) or
/// a `Parameters` body (POST), each as its `Parameters.parameter` JSON
/// (a query parameter `x=v` becomes `{"name":"x","valueString":"v"}`).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<Map<String, Value>>);

impl Params {
    pub(crate) fn from_query(query: Vec<(String, String)>) -> Params {
        Params(
            query
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "_format" | "_pretty"))
                .map(|(k, v)| {
                    let mut m = Map::new();
                    m.insert("name".into(), Value::String(k));
                    m.insert("valueString".into(), Value::String(v));
                    m
                })
                .collect(),
        )
    }

    pub(crate) fn from_body(body: &Value) -> Params {
        Params(
            body["parameter"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_object().cloned())
                .collect(),
        )
    }

    /// `other`'s parameters after these (a POST's query string).
    pub(crate) fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Map<String, Value>> {
        self.0.iter().filter(move |p| p["name"] == name)
    }

    /// A primitive parameter as text (`valueString`, `valueCode`,
    /// `valueUri`, `valueBoolean`, …, or the query string's text).
    pub fn str(&self, name: &str) -> Option<String> {
        self.strs(name).into_iter().next()
    }

    /// Every value of a repeating primitive parameter.
    pub fn strs(&self, name: &str) -> Vec<String> {
        self.named(name)
            .filter_map(|p| {
                p.iter().find_map(|(k, v)| {
                    if !k.starts_with("value") {
                        return None;
                    }
                    match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Bool(b) => Some(b.to_string()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }
                })
            })
            .collect()
    }

    /// A boolean parameter; text other than `true`/`false` is a 400.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.str(name).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(Error::invalid(
                IssueCode::Value,
                format!("parameter {name} must be true or false, not {other:?}"),
            )),
        }
    }

    /// A non-negative integer parameter.
    pub fn usize(&self, name: &str) -> Result<Option<usize>, Error> {
        self.str(name)
            .map(|s| {
                s.parse::<usize>().map_err(|_| {
                    Error::invalid(
                        IssueCode::Value,
                        format!("parameter {name} must be a non-negative integer, not {s:?}"),
                    )
                })
            })
            .transpose()
    }

    /// A complex parameter (`valueCoding`, `valueCodeableConcept`).
    pub fn complex(&self, name: &str, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .filter(|p| p["name"] == name)
            .find_map(|p| p.get(key))
    }

    /// A resource parameter (`valueSet`, `codeSystem`, `conceptMap`).
    pub fn resource(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .filter(|p| p["name"] == name)
            .find_map(|p| p.get("resource"))
    }
}

/// A coding parameter: `system`, `version`, `code`, `display` of a
/// `valueCoding`.
pub fn coding_fields(
    c: &Value,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let s = |k: &str| c[k].as_str().map(str::to_owned);
    (s("system"), s("version"), s("code"), s("display"))
}

/// A 400 for a missing input.
pub fn missing(what: &str) -> Error {
    Error::invalid(IssueCode::Required, what.to_owned())
}

/// What an operation runs on: a type, or a stored instance's body.
pub enum Target {
    /// `[base]/[type]/$op`.
    Type,
    /// `[base]/[type]/[id]/$op`: the stored resource.
    Instance(Vec<u8>),
}

/// The `Parameters` answer.
pub fn parameters(parameter: Vec<Value>) -> Value {
    json!({"resourceType": "Parameters", "parameter": parameter})
}

fn respond(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body.to_string())
}

async fn read_params(
    req: &HttpRequest,
    state: &AppState,
    query: Vec<(String, String)>,
    payload: web::Payload,
) -> Result<Params, Error> {
    if req.method() != actix_web::http::Method::POST {
        return Ok(Params::from_query(query));
    }
    let body = read_body(req, payload, state.max_body_bytes).await?;
    run(move || {
        // Checked as a Parameters resource first, so a malformed body is a
        // 400 naming the path, as for any write.
        let resource = parse_resource(&body, ResourceType::Parameters)?;
        let json: Value = serde_json::from_slice(&resource.to_json_vec())
            .map_err(|e| Error::Fault(format!("Parameters do not round-trip: {e}")))?;
        let mut params = Params::from_body(&json);
        // The query string may carry parameters too (`_format` aside).
        params.extend(Params::from_query(query));
        Ok::<_, Error>(params)
    })
    .await
}

/// `GET|POST [base]/[type]/$op`.
pub async fn type_level(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let op = req.path().rsplit('/').next().unwrap_or_default().to_owned();
    let params = read_params(&req, &state, query.into_inner(), payload).await?;
    answer(&state, rt, op, Target::Type, params).await
}

/// `GET|POST [base]/[type]/[id]/$op`, from `operation_or_compartment`.
pub async fn instance(
    req: HttpRequest,
    state: web::Data<AppState>,
    rt: String,
    id: String,
    op: String,
    query: Vec<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    check_type(rt, &op)?;
    let params = read_params(&req, &state, query, payload).await?;
    let store = state.store.clone();
    let stored = run(move || store.read(rt, &id)).await?;
    let body = stored.body.unwrap_or_default();
    answer(&state, rt, op, Target::Instance(body), params).await
}

/// The types each terminology operation is defined on.
pub(crate) fn check_type(rt: ResourceType, op: &str) -> Result<(), Error> {
    let ok = match op {
        "$lookup" | "$subsumes" => rt == ResourceType::CodeSystem,
        "$validate-code" => matches!(rt, ResourceType::CodeSystem | ResourceType::ValueSet),
        "$expand" => rt == ResourceType::ValueSet,
        "$translate" => rt == ResourceType::ConceptMap,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            IssueCode::NotSupported,
            format!("the operation {op} is not defined on {}", rt.as_str()),
        ))
    }
}

async fn answer(
    state: &AppState,
    rt: ResourceType,
    op: String,
    target: Target,
    params: Params,
) -> Result<HttpResponse, Error> {
    check_type(rt, &op)?;
    let service = state.terminology.clone();
    let store = state.store.clone();
    let body =
        run(move || run_operation(service.registry(&store)?, rt, &op, &params, &target)).await?;
    Ok(respond(body))
}

/// Runs terminology operation `op` (checked by [`check_type`]) on
/// `registry` (the server's, [`TerminologyService::registry`]): the REST
/// operation's work and a Bundle entry's (`interaction::bundle`).
pub(crate) fn run_operation(
    registry: Arc<Registry>,
    rt: ResourceType,
    op: &str,
    params: &Params,
    target: &Target,
) -> Result<Value, Error> {
    let registry = with_tx_resources(registry, params)?;
    match op {
        "$lookup" => lookup::answer(&registry, params, target),
        "$subsumes" => subsumes::answer(&registry, params, target),
        "$expand" => expand::answer(&registry, params, target),
        "$translate" => translate::answer(&registry, params, target),
        _ if rt == ResourceType::ValueSet => {
            validate_code::value_set_code(&registry, params, target)
        }
        _ => validate_code::code_system(&registry, params, target),
    }
}

/// The server's registry, or, when the request brings `tx-resource`
/// parameters (CodeSystems, ValueSets, ConceptMaps to use for this request
/// only, as the tx ecosystem tests send them), a small registry of those
/// over the server's.
fn with_tx_resources(registry: Arc<Registry>, params: &Params) -> Result<Arc<Registry>, Error> {
    let extra: Vec<&Value> = params
        .0
        .iter()
        .filter(|p| p["name"] == "tx-resource")
        .filter_map(|p| p.get("resource"))
        .collect();
    if extra.is_empty() {
        return Ok(registry);
    }
    let mut over = Registry::over(registry);
    for (i, r) in extra.into_iter().enumerate() {
        let bytes = serde_json::to_vec(r).map_err(|e| Error::Fault(e.to_string()))?;
        let bad = |e: terminology::Error| {
            Error::from(e).context(&format!("tx-resource[{i}] cannot be used"))
        };
        match r["resourceType"].as_str() {
            Some(rt @ ("CodeSystem" | "ValueSet" | "ConceptMap")) => {
                insert_resource(&mut over, rt, &bytes).map_err(bad)?
            }
            other => {
                return Err(Error::invalid(
                    IssueCode::NotSupported,
                    format!(
                    "tx-resource[{i}] is a {}; only CodeSystem, ValueSet and ConceptMap are used",
                    other.unwrap_or("resource without resourceType")
                ),
                ))
            }
        }
    }
    Ok(Arc::new(over))
}

/// The `url` (and `version`) of a stored instance, for operations that
/// take the resource by canonical.
pub fn instance_url(body: &[u8]) -> Result<(String, Option<String>), Error> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::Fault(format!("stored body is not JSON: {e}")))?;
    let url = v["url"].as_str().map(str::to_owned).ok_or_else(|| {
        Error::invalid(
            IssueCode::NotSupported,
            "this resource has no url, so the terminology service cannot find it",
        )
    })?;
    Ok((url, v["version"].as_str().map(str::to_owned)))
}

/// The search modifiers `:in`, `:not-in`, `:above` and `:below` over the
/// registry (see [`crate::search::query::parse_with`]).
pub struct Expander(pub Arc<Registry>);

impl crate::search::query::TokenExpander for Expander {
    fn value_set_codes(&self, url: &str, limit: usize) -> Result<Vec<(String, String)>, String> {
        let options = terminology::ExpandOptions {
            limit,
            ..Default::default()
        };
        let e = self
            .0
            .expand(url, None, &options)
            .map_err(|e| format!("cannot expand {url}: {e}"))?;
        Ok(e.contains.into_iter().map(|c| (c.system, c.code)).collect())
    }

    fn hierarchy_codes(
        &self,
        system: &str,
        code: &str,
        above: bool,
        limit: usize,
    ) -> Result<Vec<(String, String)>, String> {
        let op = if above { "generalizes" } else { "is-a" };
        let vs = json!({"resourceType": "ValueSet", "compose": {"include": [
            {"system": system, "filter": [{"property": "concept", "op": op, "value": code}]}]}});
        let vs = terminology::ValueSet::from_json(vs.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        let options = terminology::ExpandOptions {
            limit,
            ..Default::default()
        };
        let e = self.0.expand_value_set(&vs, &options).map_err(|e| {
            format!(
                "cannot find the codes {} {system}|{code}: {e}",
                if above { "above" } else { "below" }
            )
        })?;
        Ok(e.contains.into_iter().map(|c| (c.system, c.code)).collect())
    }
}

/// The expander for a search, when the request uses one of the
/// terminology modifiers (otherwise the registry is not even looked at).
pub async fn search_expander(
    state: &AppState,
    params: &[(String, String)],
) -> Result<Option<Expander>, Error> {
    let uses = params.iter().any(|(k, _)| {
        [":in", ":not-in", ":above", ":below"]
            .iter()
            .any(|m| k.ends_with(m))
    });
    if !uses {
        return Ok(None);
    }
    let service = state.terminology.clone();
    let store = state.store.clone();
    let registry = run(move || service.registry(&store)).await?;
    Ok(Some(Expander(registry)))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tx_suite;
