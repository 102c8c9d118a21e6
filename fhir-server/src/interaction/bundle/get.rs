//! The entries of a batch or transaction that read and answer something
//! other than one stored version: searches (type, system `?_type=`,
//! compartment `Patient/1/Observation`), history (all levels), `metadata`
//! and the operations that change nothing (`$everything`, `$meta`,
//! `$validate`, the terminology operations, by GET or by POST with a
//! Parameters resource). Each is answered by the code that answers the
//! direct request (`search::searchset`, `history::history_bundle`,
//! `everything::search_of`, `meta::meta_parameters`,
//! `validate::validate_body`, `terminology::run_operation`), so a Bundle
//! entry and a request give the same answer, bounded by the caller's token
//! the same way (`guard::restrict_search`).
//!
//! They read through a [`Reader`]: the store in a batch, the
//! transaction's own connection in a transaction (after its writes, so
//! they see them; http.html#transaction). Operations that change data
//! (`$meta-add`, `$meta-delete`, `$reindex`, `$import-codes`) and levels
//! this server does not implement answer 501 naming the operation, never
//! silently.

use std::sync::Arc;

use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};
use profiles::Validator;
use terminology::Registry;

use super::{at_entry, obj, query_params, status_line, string, EntryJson};
use crate::error::{Error, IssueCode};
use crate::interaction::history::Paging;
use crate::operation::terminology::{self as term_op, Params, Target, TerminologyService};
use crate::operation::{everything, meta, validate};
use crate::route::{Operation, Route};
use crate::search::param::ParamRegistry;
use crate::search::query::{SearchRequest, MAX_COUNT};
use crate::security::Access;
use crate::store::{HistoryPage, HistoryQuery, SearchPage, Store, StoredVersion, Tx, TxError};
use actix_web::http::StatusCode;
use fhir_model::json::tree;

/// Where GET entries read: the store (batch) or the transaction (which
/// sees its own writes).
pub(crate) trait Reader {
    fn read_version(
        &mut self,
        rt: ResourceType,
        id: &Id,
        version: Option<i32>,
    ) -> Result<StoredVersion, TxError>;
    fn search(&mut self, req: &SearchRequest) -> Result<SearchPage, TxError>;
    fn history(&mut self, q: &HistoryQuery) -> Result<HistoryPage, TxError>;
}

impl Reader for &Store {
    fn read_version(
        &mut self,
        rt: ResourceType,
        id: &Id,
        version: Option<i32>,
    ) -> Result<StoredVersion, TxError> {
        Ok(Store::read_version(self, rt, id, version)?)
    }
    fn search(&mut self, req: &SearchRequest) -> Result<SearchPage, TxError> {
        Ok(Store::search(self, req)?)
    }
    fn history(&mut self, q: &HistoryQuery) -> Result<HistoryPage, TxError> {
        Ok(Store::history(self, q)?)
    }
}

impl Reader for Tx<'_> {
    fn read_version(
        &mut self,
        rt: ResourceType,
        id: &Id,
        version: Option<i32>,
    ) -> Result<StoredVersion, TxError> {
        self.read(rt, id, version)
    }
    fn search(&mut self, req: &SearchRequest) -> Result<SearchPage, TxError> {
        Tx::search(self, req)
    }
    fn history(&mut self, q: &HistoryQuery) -> Result<HistoryPage, TxError> {
        Tx::history(self, q)
    }
}

/// What entries need besides the store. `fhir-server import` runs Bundles
/// without them: an operation entry there answers that it is unavailable.
#[derive(Clone, Copy, Default)]
pub struct Services<'a> {
    /// Profile enforcement of written resources, and `$validate`.
    pub validator: Option<&'a Validator>,
    /// The terminology operations.
    pub terminology: Option<&'a TerminologyService>,
    /// The caller, when authorization is on: searches in entries are
    /// bounded by its token exactly as a direct search is.
    pub access: Option<&'a Access>,
    /// The terminology registry, taken before a transaction starts: built
    /// from the store, it must not wait for a connection the transaction
    /// holds.
    pub registry: Option<&'a Arc<Registry>>,
}

impl Services<'_> {
    /// The terminology registry, or why there is none.
    fn terminology_registry(&self, store: &Store, op: Operation) -> Result<Arc<Registry>, Error> {
        if let Some(r) = self.registry {
            return Ok(r.clone());
        }
        match self.terminology {
            Some(service) => service.registry(store),
            None => Err(unavailable(op.name())),
        }
    }
}

/// A GET (or read-only POST operation) entry, parsed.
#[derive(Clone)]
pub(crate) enum Get {
    /// `GET [type]?…`, `[base]?_type=…`, `[Compartment]/[id]/[type]`;
    /// `self_path` is the searchset's link path.
    Search {
        search: Box<SearchRequest>,
        self_path: String,
    },
    /// `GET [type]/[id]/_history`, `[type]/_history`, `_history`.
    History {
        query: Box<HistoryQuery>,
        paging: Box<Paging>,
        /// The request path (`/fhir/Patient/x/_history`).
        path: String,
    },
    /// `GET metadata`.
    Metadata,
    /// `[Patient|Encounter]/[id]/$everything`: one page of the
    /// compartment with what it references (the whole set streamed in one
    /// Bundle is for the direct request; an entry holds one searchset with
    /// up to `_count`, else the largest page, and a `next` link).
    Everything {
        owner: ResourceType,
        id: Id,
        search: Box<SearchRequest>,
        self_path: String,
    },
    /// `[type]/[id]/$meta`, `[type]/[id]/_history/[vid]/$meta`.
    Meta {
        rt: ResourceType,
        id: Id,
        version: Option<i32>,
    },
    /// `$validate`: the entry's resource (type level, or a POST on an
    /// instance), or the stored instance.
    Validate {
        rt: ResourceType,
        body: Option<Vec<u8>>,
        stored: Option<Id>,
        profiles: Vec<String>,
    },
    /// `$lookup`, `$validate-code`, `$expand`, `$subsumes`, `$translate`.
    Terminology {
        rt: ResourceType,
        op: Operation,
        id: Option<Id>,
        params: Params,
    },
}

impl Get {
    /// True for the terminology operations, which read the server's
    /// terminology registry rather than the transaction.
    pub(crate) fn is_terminology(&self) -> bool {
        matches!(self, Get::Terminology { .. })
    }

    /// Runs the entry on `r`. The outer error is the store's (a
    /// transaction may be rerun); the inner one is the entry's own.
    pub(crate) fn run(
        &self,
        r: &mut dyn Reader,
        store: &Store,
        base: &str,
        services: &Services<'_>,
    ) -> Result<Result<EntryJson, Error>, TxError> {
        Ok(self.body(r, store, base, services)?.map(|body| {
            let response =
                tree::to_json(&obj(vec![("status", string(status_line(StatusCode::OK)))]));
            let mut out = Vec::with_capacity(body.len() + response.len() + 32);
            out.extend_from_slice(b"{\"resource\":");
            out.extend_from_slice(&body);
            out.extend_from_slice(b",\"response\":");
            out.extend_from_slice(&response);
            out.push(b'}');
            out
        }))
    }

    /// The resource the entry answers with.
    fn body(
        &self,
        r: &mut dyn Reader,
        store: &Store,
        base: &str,
        services: &Services<'_>,
    ) -> Result<Result<Vec<u8>, Error>, TxError> {
        macro_rules! entry {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                }
            };
        }
        let bounded = |search: &SearchRequest| -> Result<SearchRequest, Error> {
            let mut search = search.clone();
            crate::security::guard::restrict_search(services.access, store, &mut search)?;
            Ok(search)
        };
        Ok(Ok(match self {
            Get::Search { search, self_path } => {
                let search = entry!(bounded(search));
                let page = r.search(&search)?;
                entry!(crate::interaction::search::searchset(
                    base, self_path, &search, &page
                ))
            }
            Get::History {
                query,
                paging,
                path,
            } => {
                let page = r.history(query)?;
                crate::interaction::history::history_bundle(base, path, paging, &page)
            }
            Get::Metadata => entry!(serde_json::to_vec(
                &crate::interaction::capabilities::capability_statement(base, &store.registry())
            )
            .map_err(|e| Error::Fault(e.to_string()))),
            Get::Everything {
                owner,
                id,
                search,
                self_path,
            } => {
                // The owner must exist (404/410 otherwise), as for a read.
                r.read_version(*owner, id, None)?;
                let search = entry!(bounded(search));
                let page = r.search(&search)?;
                entry!(crate::interaction::search::searchset(
                    base, self_path, &search, &page
                ))
            }
            Get::Meta { rt, id, version } => {
                let v = r.read_version(*rt, id, *version)?;
                entry!(meta::meta_parameters(v.body.as_deref().unwrap_or_default()))
            }
            Get::Validate {
                rt,
                body,
                stored,
                profiles,
            } => {
                let validator = entry!(services.validator.ok_or_else(|| unavailable("$validate")));
                let issues = match (body, stored) {
                    (Some(json), _) => {
                        validate::validate_body(validator, rt.as_str(), json, profiles.clone())
                    }
                    (None, Some(id)) => {
                        let v = r.read_version(*rt, id, None)?;
                        let refs: Vec<&str> = profiles.iter().map(String::as_str).collect();
                        validator.validate_json(v.body.as_deref().unwrap_or_default(), &refs)
                    }
                    (None, None) => {
                        return Ok(Err(Error::Fault("a $validate entry without input".into())))
                    }
                };
                validate::outcome_json(&issues)
            }
            Get::Terminology { rt, op, id, params } => {
                let registry = entry!(services.terminology_registry(store, *op));
                let target = match id {
                    Some(id) => {
                        Target::Instance(r.read_version(*rt, id, None)?.body.unwrap_or_default())
                    }
                    None => Target::Type,
                };
                let answer = entry!(term_op::run_operation(
                    registry,
                    *rt,
                    op.name(),
                    params,
                    &target
                ));
                entry!(serde_json::to_vec(&answer).map_err(|e| Error::Fault(e.to_string())))
            }
        }))
    }
}

fn unavailable(op: &str) -> Error {
    Error::NotImplemented(format!(
        "{op} is not available where this Bundle runs (fhir-server import); send it to the server"
    ))
}

/// An operation entry (`request.url` classified as `route`), or 501
/// naming what is not supported in an entry. `resource` is the entry's
/// (a POST operation's Parameters, or what `$validate` checks).
pub(crate) fn operation_entry(
    i: usize,
    method: &str,
    url: &str,
    route: &Route,
    query: &str,
    resource: Option<Resource>,
    registry: &ParamRegistry,
) -> Result<Get, Error> {
    let not_here = |what: &str| {
        Error::NotImplemented(format!(
            "entry {i}: {method} {url}: {what} is not supported in a Bundle entry"
        ))
    };
    let invalid = |code: IssueCode, message: String| {
        at_entry(
            i,
            Error::invalid(code, format!("{method} {url}: {message}")),
        )
    };
    let post = method == "POST";
    if !post && resource.is_some() {
        return Err(invalid(
            IssueCode::Invalid,
            "only a POST operation entry carries a resource".into(),
        ));
    }
    let params = query_params(query).map_err(|e| at_entry(i, e))?;
    match route {
        Route::InstanceOperation(rt, id, Operation::Everything) => {
            if resource.is_some() {
                return Err(invalid(
                    IssueCode::NotSupported,
                    "$everything takes its parameters in request.url, not a resource".into(),
                ));
            }
            let (mut search, paged) = everything::search_of(registry, rt.as_str(), id, &params)
                .map_err(|e| at_entry(i, e))?;
            search.includes.push(everything::referenced());
            if !paged {
                search.count = MAX_COUNT;
            }
            Ok(Get::Everything {
                owner: *rt,
                id: id.clone(),
                search: Box::new(search),
                self_path: format!("{rt}/{id}/$everything"),
            })
        }
        Route::InstanceOperation(rt, id, Operation::Meta)
        | Route::VersionOperation(rt, id, _, Operation::Meta) => {
            if resource.is_some() {
                return Err(invalid(
                    IssueCode::NotSupported,
                    "$meta takes no input".into(),
                ));
            }
            let version = match route {
                Route::VersionOperation(_, _, v, _) => Some(
                    v.as_str()
                        .parse::<i32>()
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "entry {i}: {rt}/{id}/_history/{v} is not known"
                            ))
                        })?,
                ),
                _ => None,
            };
            Ok(Get::Meta {
                rt: *rt,
                id: id.clone(),
                version,
            })
        }
        Route::InstanceOperation(rt, _, Operation::Validate)
        | Route::TypeOperation(rt, Operation::Validate) => {
            let stored = match route {
                Route::InstanceOperation(_, id, _) => Some(id.clone()),
                _ => None,
            };
            let body = resource.map(|r| r.to_json_vec());
            if body.is_none() && (post || stored.is_none()) {
                return Err(invalid(
                    IssueCode::Required,
                    "$validate needs the resource to check (or a Parameters with `resource`)"
                        .into(),
                ));
            }
            Ok(Get::Validate {
                rt: *rt,
                body,
                stored,
                profiles: validate::query_profiles(&params),
            })
        }
        Route::TypeOperation(rt, op) | Route::InstanceOperation(rt, _, op)
            if op.is_terminology() =>
        {
            term_op::check_type(*rt, op.name()).map_err(|e| at_entry(i, e))?;
            let mut given = match resource {
                None => Params::default(),
                Some(p @ Resource::Parameters(_)) => {
                    let json: serde_json::Value = serde_json::from_slice(&p.to_json_vec())
                        .map_err(|e| Error::Fault(format!("Parameters do not round-trip: {e}")))?;
                    Params::from_body(&json)
                }
                Some(other) => {
                    return Err(invalid(
                        IssueCode::Invalid,
                        format!(
                            "a POST operation entry carries a Parameters resource, not a {}",
                            other.resource_type()
                        ),
                    ))
                }
            };
            given.extend(Params::from_query(params));
            let id = match route {
                Route::InstanceOperation(_, id, _) => Some(id.clone()),
                _ => None,
            };
            Ok(Get::Terminology {
                rt: *rt,
                op: *op,
                id,
                params: given,
            })
        }
        Route::InstanceOperation(_, _, op) | Route::VersionOperation(_, _, _, op)
            if matches!(op, Operation::MetaAdd | Operation::MetaDelete) =>
        {
            Err(not_here(&format!(
                "{op} (it changes a stored version in place; call it directly)"
            )))
        }
        Route::SystemOperation(op)
        | Route::TypeOperation(_, op)
        | Route::InstanceOperation(_, _, op)
        | Route::VersionOperation(_, _, _, op) => {
            Err(not_here(&format!("the operation {op} here")))
        }
        _ => Err(Error::Fault(format!(
            "entry {i}: {url} reached the operation entries without an operation"
        ))),
    }
}
