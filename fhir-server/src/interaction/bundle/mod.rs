//! batch and transaction: `POST [base]` with a Bundle
//! (<https://hl7.org/fhir/R4/http.html#transaction>).
//!
//! Shared here: reading each entry's `request` into an [`EntryOp`], the
//! processing order (DELETE, POST, PUT, GET), and building the response
//! Bundle. [`transaction`] runs the writes in one database transaction
//! after resolving `fullUrl`s; [`batch`] runs each entry on its own.
//!
//! Conditional entries (http.html#trules): `request.ifNoneExist` on a
//! POST, `PUT [type]?criteria` and `DELETE [type]?criteria` become a
//! [`Conditional`] with the same outcomes as over REST; conditional
//! references (`"reference": "Organization?identifier=sys|val"`) are
//! resolved by search inside the same database transaction as the writes
//! and rewritten to `Type/id`. A conditional reference must match exactly
//! one resource: otherwise the transaction fails (412, the outcome naming
//! the entry), and in a batch that entry alone fails. Criteria the server
//! cannot use are a 400 for the entry, never ignored.
//!
//! Entries may also carry `ifMatch` (PUT, PATCH, DELETE, conditional
//! DELETE), `ifNoneMatch` (PUT, DELETE; on a read a 304) and
//! `ifModifiedSince` (on a read a 304), PATCH (JSON Patch as a Binary,
//! FHIRPath Patch as a Parameters), and GETs of searches (type, system,
//! compartment), history (all levels), `metadata` and the read-only
//! operations ([`get`]), answered by the REST handlers' code. Every
//! `request.url` is decoded and classified by the one decoded route
//! (`crate::route`), as the authorization layer judged it; what names no
//! route is refused for its entry, and what is deliberately not supported
//! here (a Bundle in a Bundle, operations that change data) answers 501
//! naming it.
//!
//! Authorization and Consent judge each entry before the handler runs
//! (`crate::security::entry_refusals`): a refused entry of a batch
//! answers its own 403 and does not run; a refused entry of a
//! transaction refuses the whole transaction.

pub mod batch;
pub mod get;
mod rewrite;
pub mod transaction;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::generated::{Bundle, BundleEntry};
use fhir_model::json::tree::{self, Value};
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::create::criteria;
use super::delete::MAX_CONDITIONAL_DELETE;
use super::{headers, read_body, run};
use crate::app::AppState;
use crate::error::{operation_outcome, Error, Issue, IssueCode, FHIR_JSON};
use crate::format::Format;
use crate::search::param::ParamRegistry;
use crate::store::{
    Conditional, Criteria, NoneMatch, Preconditions, StoreError, StoredVersion, Tx, TxError,
    Written,
};
use base64::Engine;

use super::patch::{Patch, PatchFormat};
use crate::route::Route;
use crate::search::query::SearchRequest;
use crate::store::HistoryScope;
pub(crate) use get::{Get, Services};

/// `POST [base]`: a Bundle of type `batch` or `transaction`.
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let store = state.store.clone();
    let base = super::base_url(&req);
    let if_match_header = headers::if_match(req.headers())?;
    if if_match_header.is_some() {
        return Err(Error::invalid(
            IssueCode::NotSupported,
            "If-Match does not apply to a Bundle",
        ));
    }
    let profiles = state.validator.clone();
    // http.html#transaction-response: `Prefer: return=` shapes the entries
    // of writes as it shapes the answer to a single create or update.
    let prefer = headers::prefer_return(req.headers());
    let terminology = state.terminology.clone();
    let access = crate::security::access(&req);
    // Entries authorization or Consent refused (a batch's; a transaction
    // with one never gets here).
    let refused = crate::security::entry_refusals::take(&req);
    let out = run(move || {
        // The validator only where an entry can need it (it is rebuilt
        // after definition changes, which a Bundle of conformance
        // resources makes on every entry): profile enforcement, or a
        // `$validate` entry (a false positive of this byte search only
        // costs the rebuild). It is taken here, before any entry runs,
        // rather than by the `$validate` entry itself: a rebuild reads the
        // store and must not wait for a connection a transaction holds
        // (as with `Services::registry`).
        let wanted = crate::profile_enforcement::current().is_on()
            || body.bytes.windows(9).any(|w| w == b"$validate");
        let validator = if wanted {
            Some(profiles.validator()?)
        } else {
            None
        };
        let services = Services {
            validator: validator.as_deref(),
            terminology: Some(&*terminology),
            access: access.as_ref(),
            registry: None,
        };
        let bundle = match super::parse_resource(&body, ResourceType::Bundle) {
            Ok(Resource::Bundle(b)) => b,
            Ok(_) => return Err(Error::Fault("parse_resource returned another type".into())),
            // A batch's entries are independent: one that does not parse
            // fails alone (http.html#transaction).
            Err(e) => match batch_entries(&body) {
                Some(entries) => {
                    let mapper = store.local_codes().mapper();
                    let out =
                        batch::run_entries(&store, &base, entries, &services, refused, prefer);
                    return Ok(crate::local_codes::scan::annotate_bundle(&mapper, out));
                }
                None => return Err(e),
            },
        };
        // The typed Bundle holds everything now; the bytes would only add
        // one more copy of a large body while it is written.
        drop(body);
        let kind = bundle
            .type_
            .as_ref()
            .and_then(|t| t.value.as_ref())
            .map(|c| c.as_str().to_owned());
        let mapper = store.local_codes().mapper();
        let annotate = |out| crate::local_codes::scan::annotate_bundle(&mapper, out);
        match kind.as_deref() {
            Some("transaction") => {
                if let Some((_, e)) = refused.into_iter().next() {
                    return Err(e);
                }
                if let Some(v) = &validator {
                    crate::profile_enforcement::check_entries(v, &bundle)?;
                }
                transaction::run(&store, &base, *bundle, &services, prefer).map(annotate)
            }
            Some("batch") => Ok(annotate(batch::run(
                &store, &base, *bundle, &services, refused, prefer,
            ))),
            other => Err(Error::Invalid(vec![Issue::new(
                IssueCode::Invalid,
                format!(
                    "POST to the base takes a Bundle of type batch or transaction, not {}",
                    other.unwrap_or("(none)")
                ),
            )
            .at("Bundle.type")])),
        }
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, FHIR_JSON))
        .body(out))
}

/// The entries of a batch whose Bundle did not parse as a whole, each
/// parsed on its own: an entry that does not parse is its error. `None`
/// when the body is not a batch Bundle, or the Bundle apart from its
/// entries does not parse: then the Bundle itself is malformed (400).
fn batch_entries(body: &super::Body) -> Option<Vec<Result<BundleEntry, Error>>> {
    let root = match body.format {
        Format::Json => tree::parse(&body.bytes).ok()?,
        Format::Xml => fhir_model::xml::read(&body.bytes).ok()?,
    };
    let Value::Object(mut root) = root else {
        return None;
    };
    let text = |map: &tree::Map, key: &str| {
        map.iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
    };
    if text(&root, "resourceType").as_deref() != Some("Bundle")
        || text(&root, "type").as_deref() != Some("batch")
    {
        return None;
    }
    let entries = match tree::take(&mut root, "entry") {
        Some(Value::Array(items)) => items,
        _ => return None,
    };
    Resource::from_json_slice(&tree::to_json(&Value::Object(root))).ok()?;
    let one = |i: usize, entry: Value| -> Result<BundleEntry, Error> {
        let alone = obj(vec![
            ("resourceType", string("Bundle")),
            ("type", string("batch")),
            ("entry", Value::Array(vec![entry])),
        ]);
        match Resource::from_json_slice(&tree::to_json(&alone)) {
            Ok(Resource::Bundle(mut b)) => b
                .entry
                .pop()
                .ok_or_else(|| entry_error(i, IssueCode::Required, "the entry is empty")),
            Ok(_) => Err(Error::Fault("a Bundle parsed as another type".into())),
            Err(e) => Err(match Error::from(e) {
                Error::Invalid(issues) => Error::Invalid(
                    issues
                        .into_iter()
                        .map(|mut x| {
                            x.diagnostics = format!("entry {i}: {}", x.diagnostics);
                            x.expression = Some(match x.expression {
                                Some(at) => {
                                    at.replacen("Bundle.entry[0]", &format!("Bundle.entry[{i}]"), 1)
                                }
                                None => format!("Bundle.entry[{i}]"),
                            });
                            x
                        })
                        .collect(),
                ),
                other => other,
            }),
        }
    };
    Some(
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| one(i, e))
            .collect(),
    )
}

/// What one entry asks for.
#[derive(Clone)]
pub(crate) enum EntryOp {
    /// `ifNoneExist`, or a search in `request.url` of a PUT or DELETE
    /// (boxed: criteria make it several times the size of the others).
    Conditional(Box<Conditional>),
    Create(Resource),
    Update {
        resource: Resource,
        pre: Preconditions,
    },
    Delete {
        rt: ResourceType,
        id: Id,
        pre: Preconditions,
    },
    /// `PATCH [type]/[id]`: JSON Patch (a Binary) or FHIRPath Patch (a
    /// Parameters), applied by the REST PATCH's own code.
    Patch {
        rt: ResourceType,
        id: Id,
        patch: Box<Patch>,
        pre: Preconditions,
    },
    Read {
        rt: ResourceType,
        id: Id,
        version: Option<i32>,
        /// `request.ifNoneMatch`: 304 when the version read is among these.
        if_none_match: Option<NoneMatch>,
        /// `request.ifModifiedSince` (an instant): 304 when the version
        /// read is not newer.
        if_modified_since: Option<String>,
    },
    /// A GET that answers a Bundle or a resource of the server's own:
    /// boxed, a search request is large.
    Get(Box<Get>),
}

impl EntryOp {
    /// http.html#transaction: "process any DELETE interactions, then any
    /// POST, then any PUT or PATCH, then any GET or HEAD".
    fn order(&self) -> u8 {
        match self {
            EntryOp::Delete { .. } => 0,
            EntryOp::Conditional(c) => match **c {
                Conditional::Delete { .. } => 0,
                Conditional::Create(..) => 1,
                Conditional::Update(..) => 2,
            },
            EntryOp::Create(_) => 1,
            EntryOp::Update { .. } | EntryOp::Patch { .. } => 2,
            EntryOp::Read { .. } | EntryOp::Get(_) => 3,
        }
    }
}

/// A 400 about entry `i`.
fn entry_error(i: usize, code: IssueCode, message: impl Into<String>) -> Error {
    Error::Invalid(vec![
        Issue::new(code, message).at(format!("Bundle.entry[{i}]"))
    ])
}

/// Turns an entry's `request` (and `resource`) into the operation it asks
/// for, with the URL checked against the resource. The one place an entry's
/// `request.url` is decoded.
pub(crate) fn parse_entry(
    i: usize,
    entry: &mut BundleEntry,
    registry: &ParamRegistry,
    base: &str,
) -> Result<EntryOp, Error> {
    let Some(request) = entry.request.as_deref() else {
        return Err(entry_error(i, IssueCode::Required, "entry has no request"));
    };
    let method = request
        .method
        .as_ref()
        .and_then(|m| m.value.as_ref())
        .map(|m| m.as_str().to_owned());
    let url = request
        .url
        .as_ref()
        .and_then(|u| u.value.as_ref())
        .map(|u| u.as_str().to_owned());
    let (Some(method), Some(url)) = (method, url) else {
        return Err(entry_error(
            i,
            IssueCode::Required,
            "request.method and request.url are required",
        ));
    };
    let if_none_exist = request
        .if_none_exist
        .as_ref()
        .and_then(|v| v.value.as_deref())
        .map(str::to_owned);
    let if_modified_since = request
        .if_modified_since
        .as_ref()
        .and_then(|v| v.value.as_ref())
        .map(|v| v.as_str().to_owned());
    let if_match = match request.if_match.as_ref().and_then(|m| m.value.as_deref()) {
        None => None,
        Some(tag) => Some(headers::version_of(tag).ok_or_else(|| {
            entry_error(
                i,
                IssueCode::Invalid,
                format!("ifMatch {tag:?} is not a version ETag such as W/\"3\""),
            )
        })?),
    };
    let if_none_match = match request
        .if_none_match
        .as_ref()
        .and_then(|m| m.value.as_deref())
    {
        None => None,
        Some(tag) => Some(headers::none_match_of(tag).ok_or_else(|| {
            entry_error(
                i,
                IssueCode::Invalid,
                format!("ifNoneMatch {tag:?} is neither * nor a list of version ETags"),
            )
        })?),
    };
    let pre = Preconditions {
        if_match,
        if_none_match,
    };
    // Decoded exactly as the authorization layer decoded it
    // (`crate::route::classify_url`), so the entry that runs is the one
    // that was judged.
    let (decoded, query) = crate::route::entry_target(&url)
        .map_err(|e| entry_error(i, IssueCode::Invalid, format!("request.url {url:?}: {e}")))?;
    let query = url.contains('?').then_some(query);
    let joined = decoded.segments[1..].join("/");
    let path = joined.as_str();
    let parts: Vec<&str> = path.split('/').collect();
    // Classified as the authorization layer classified it: what names no
    // route of this server is refused here (deny by default).
    let http_method = actix_web::http::Method::from_bytes(method.as_bytes()).map_err(|_| {
        entry_error(
            i,
            IssueCode::Invalid,
            format!("{method:?} is not an HTTP method"),
        )
    })?;
    let route = crate::route::classify(&http_method, &decoded).route;
    let criteria_of = |rt: ResourceType, text: &str| {
        criteria(registry, rt, text, base).map_err(|e| at_entry(i, e))
    };
    let conditional_delete = method == "DELETE" && query.is_some();
    let preconditions_allowed = match method.as_str() {
        "PUT" | "PATCH" => query.is_none(),
        "DELETE" => query.is_none() || pre.if_none_match.is_none(),
        "GET" | "HEAD" => pre.if_match.is_none(),
        _ => false,
    };
    let is_read = matches!(route, Route::Read(..) | Route::Vread(..));
    if (if_modified_since.is_some() || pre.if_none_match.is_some())
        && matches!(method.as_str(), "GET" | "HEAD")
        && !is_read
    {
        return Err(Error::NotImplemented(format!(
            "entry {i}: {method} {url}: ifNoneMatch and ifModifiedSince are supported on reads \
             of one resource ([type]/[id], [type]/[id]/_history/[vid]), not here"
        )));
    }
    if if_modified_since.is_some() && !is_read {
        return Err(entry_error(
            i,
            IssueCode::NotSupported,
            format!("ifModifiedSince does not apply to {method} {url}"),
        ));
    }
    if !pre.is_empty() && (!preconditions_allowed || if_none_exist.is_some()) {
        return Err(entry_error(
            i,
            IssueCode::NotSupported,
            format!(
                "ifMatch/ifNoneMatch do not apply to {method} {url}{}",
                if conditional_delete {
                    " (a conditional delete takes ifMatch only)"
                } else {
                    ""
                }
            ),
        ));
    }
    let rt_of = |name: &str| {
        ResourceType::parse(name).ok_or_else(|| {
            entry_error(
                i,
                IssueCode::NotFound,
                format!("{name:?} is not a resource type"),
            )
        })
    };
    let id_of = |s: &str| {
        Id::new(s).map_err(|_| entry_error(i, IssueCode::Value, format!("{s:?} is not a valid id")))
    };
    let resource = entry.resource.take();
    let with_type = |rt: ResourceType, resource: Option<Resource>| match resource {
        Some(r) if r.resource_type() == rt => Ok(r),
        Some(r) => Err(entry_error(
            i,
            IssueCode::Invalid,
            format!(
                "the resource is a {}, the URL names {}",
                r.resource_type(),
                rt
            ),
        )),
        None => Err(entry_error(
            i,
            IssueCode::Required,
            format!("{method} needs a resource"),
        )),
    };
    if if_none_exist.is_some() && (method != "POST" || query.is_some()) {
        return Err(entry_error(
            i,
            IssueCode::Invalid,
            "ifNoneExist belongs to a POST to [type]",
        ));
    }
    let search_of = |types: Vec<String>, params: &mut Vec<(String, String)>| {
        // References to this server may be written absolute.
        let own = format!("{base}/");
        for (_, v) in params.iter_mut() {
            if v.contains(&own) {
                *v = v.replace(&own, "");
            }
        }
        crate::search::query::parse_with(registry, types, params, None)
    };
    let search_params = || query_params(query.unwrap_or("")).map_err(|e| at_entry(i, e));
    let boxed = |search: SearchRequest, self_path: String| -> Result<EntryOp, Error> {
        Ok(EntryOp::Get(Box::new(Get::Search {
            search: Box::new(search),
            self_path,
        })))
    };
    match &route {
        Route::Unknown(m) => {
            return Err(Error::NotFound(format!("entry {i}: {method} {url}: {m}")));
        }
        Route::Invalid(m) => {
            return Err(entry_error(
                i,
                IssueCode::Value,
                format!("{method} {url}: {m}"),
            ))
        }
        Route::MethodNotAllowed => {
            return Err(entry_error(
                i,
                IssueCode::NotSupported,
                format!("{method} is not an interaction on {url}"),
            ))
        }
        Route::Bundle | Route::SmartConfiguration => {
            return Err(Error::NotImplemented(format!(
                "entry {i}: {method} {url}: a batch or transaction (or the SMART configuration) \
                 is not supported inside a Bundle entry"
            )))
        }
        Route::Search(rt) => {
            let mut params = search_params()?;
            let search = search_of(vec![rt.as_str().to_owned()], &mut params);
            return boxed(search, rt.as_str().to_owned());
        }
        Route::SystemSearch => {
            let mut params = search_params()?;
            let types =
                super::search::system_types(registry, &params).map_err(|e| at_entry(i, e))?;
            let mut search = search_of(types, &mut params);
            if params.iter().any(|(k, _)| k == "_type") {
                let listed = search.types.join(",");
                search.used.insert(0, ("_type".into(), listed));
            }
            return boxed(search, String::new());
        }
        Route::CompartmentSearch {
            compartment,
            id,
            target,
        } => {
            let (scope, types) = super::search::CompartmentScope::of(*compartment, id, *target)
                .map_err(|e| at_entry(i, e))?;
            let mut params = search_params()?;
            let mut search = search_of(types, &mut params);
            super::search::add_compartment(&mut search, &scope).map_err(|e| at_entry(i, e))?;
            let self_path = scope.self_path(&search.types);
            return boxed(search, self_path);
        }
        Route::SystemOperation(_)
        | Route::TypeOperation(..)
        | Route::InstanceOperation(..)
        | Route::VersionOperation(..) => {
            return get::operation_entry(
                i,
                &method,
                &url,
                &route,
                query.unwrap_or(""),
                resource,
                registry,
            )
            .map(|g| EntryOp::Get(Box::new(g)));
        }
        _ => {}
    }
    match (method.as_str(), parts.as_slice(), query) {
        ("POST", [t], None) => {
            let rt = rt_of(t)?;
            let resource = with_type(rt, resource)?;
            Ok(match if_none_exist {
                None => EntryOp::Create(resource),
                Some(text) => {
                    EntryOp::Conditional(Box::new(Conditional::Create(
                        resource,
                        criteria_of(rt, &text)?,
                    )))
                }
            })
        }
        ("PUT", [t], Some(q)) => {
            let rt = rt_of(t)?;
            let resource = with_type(rt, resource)?;
            Ok(EntryOp::Conditional(Box::new(Conditional::Update(
                resource,
                criteria_of(rt, q)?,
            ))))
        }
        ("DELETE", [t], Some(q)) => {
            let rt = rt_of(t)?;
            Ok(EntryOp::Conditional(Box::new(Conditional::Delete {
                resource_type: rt,
                criteria: criteria_of(rt, q)?,
                max: MAX_CONDITIONAL_DELETE,
                if_match: pre.if_match,
            })))
        }
        ("GET" | "HEAD", ["metadata"], _) => Ok(EntryOp::Get(Box::new(Get::Metadata))),
        ("GET" | "HEAD", ["_history"] | [_, "_history"] | [_, _, "_history"], _) => {
            let scope = match parts.as_slice() {
                [t, id, _] => HistoryScope::Instance(rt_of(t)?, id_of(id)?),
                [t, _] => HistoryScope::Type(rt_of(t)?),
                _ => HistoryScope::System,
            };
            let params = query_params(query.unwrap_or("")).map_err(|e| at_entry(i, e))?;
            let (query, paging) =
                super::history::history_query(scope, &params).map_err(|e| at_entry(i, e))?;
            Ok(EntryOp::Get(Box::new(Get::History {
                query: Box::new(query),
                paging: Box::new(paging),
                path: format!("/fhir/{path}"),
            })))
        }
        (_, _, Some(_)) => Err(entry_error(
            i,
            IssueCode::NotSupported,
            format!("{method} {url}: a search in request.url is supported for PUT and DELETE on a type, not here"),
        )),
        ("PUT", [t, id], None) => {
            let (rt, id) = (rt_of(t)?, id_of(id)?);
            let resource = with_type(rt, resource)?;
            if resource.id() != Some(&id) {
                return Err(entry_error(
                    i,
                    IssueCode::Invalid,
                    "the resource's id must be the id in request.url",
                ));
            }
            Ok(EntryOp::Update { resource, pre })
        }
        ("PATCH", [t, id], None) => {
            let (rt, id) = (rt_of(t)?, id_of(id)?);
            let patch = patch_of(resource).map_err(|e| at_entry(i, e))?;
            Ok(EntryOp::Patch {
                rt,
                id,
                patch: Box::new(patch),
                pre,
            })
        }
        ("DELETE", [t, id], None) => Ok(EntryOp::Delete {
            rt: rt_of(t)?,
            id: id_of(id)?,
            pre,
        }),
        ("GET" | "HEAD", [t, id], None) => Ok(EntryOp::Read {
            rt: rt_of(t)?,
            id: id_of(id)?,
            version: None,
            if_none_match: pre.if_none_match,
            if_modified_since,
        }),
        ("GET" | "HEAD", [t, id, "_history", v], None) => {
            let version =
                v.parse::<i32>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    entry_error(i, IssueCode::NotFound, format!("no version {v:?}"))
                })?;
            Ok(EntryOp::Read {
                rt: rt_of(t)?,
                id: id_of(id)?,
                version: Some(version),
                if_none_match: pre.if_none_match,
                if_modified_since,
            })
        }
        _ => Err(entry_error(
            i,
            IssueCode::NotSupported,
            format!("{method} {url} is not an interaction a Bundle entry can carry here"),
        )),
    }
}

/// The parameters of an entry URL's query, decoded.
fn query_params(q: &str) -> Result<Vec<(String, String)>, Error> {
    serde_urlencoded::from_str(q).map_err(|e| {
        Error::invalid(
            IssueCode::Invalid,
            format!("cannot read the query {q:?}: {e}"),
        )
    })
}

/// The patch a PATCH entry carries (http.html#transaction: "the body of
/// the patch is a Binary" for JSON Patch, a Parameters resource for
/// FHIRPath Patch), read by the REST PATCH's parser.
fn patch_of(resource: Option<Resource>) -> Result<Patch, Error> {
    match resource {
        Some(Resource::Binary(b)) => {
            let content_type = b
                .content_type
                .as_ref()
                .and_then(|c| c.value.as_ref())
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            if !content_type.eq_ignore_ascii_case(super::patch::JSON_PATCH) {
                return Err(Error::invalid(
                    IssueCode::Invalid,
                    format!(
                        "a PATCH entry's Binary must have contentType {}, not {content_type:?}",
                        super::patch::JSON_PATCH
                    ),
                ));
            }
            let data = b
                .data
                .as_ref()
                .and_then(|d| d.value.as_ref())
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| {
                    Error::invalid(
                        IssueCode::Invalid,
                        format!("the PATCH entry's Binary.data is not base64: {e}"),
                    )
                })?;
            Patch::parse(PatchFormat::JsonPatch, &bytes)
        }
        Some(p @ Resource::Parameters(_)) => {
            Patch::parse(PatchFormat::FhirPath(Format::Json), &p.to_json_vec())
        }
        Some(other) => Err(Error::invalid(
            IssueCode::Invalid,
            format!(
                "a PATCH entry carries a Binary (JSON Patch) or a Parameters (FHIRPath Patch), not a {}",
                other.resource_type()
            ),
        )),
        None => Err(Error::invalid(
            IssueCode::Required,
            "a PATCH entry needs a Binary (JSON Patch) or Parameters (FHIRPath Patch) resource",
        )),
    }
}

/// The resource of a POST (plain or `ifNoneExist`), which gets a new id.
pub(crate) fn posted_resource(op: &mut EntryOp) -> Option<&mut Resource> {
    match op {
        EntryOp::Create(r) => Some(r),
        EntryOp::Conditional(c) => match &mut **c {
            Conditional::Create(r, _) => Some(r),
            _ => None,
        },
        _ => None,
    }
}

/// The resource type a conditional entry is about.
pub(crate) fn conditional_type(c: &Conditional) -> ResourceType {
    match c {
        Conditional::Create(r, _) | Conditional::Update(r, _) => r.resource_type(),
        Conditional::Delete { resource_type, .. } => *resource_type,
    }
}

/// An error about entry `i`'s criteria: each issue names the entry.
fn at_entry(i: usize, e: Error) -> Error {
    match e {
        Error::Invalid(issues) => Error::Invalid(
            issues
                .into_iter()
                .map(|mut issue| {
                    issue.diagnostics = format!("entry {i}: {}", issue.diagnostics);
                    issue.expression = Some(format!("Bundle.entry[{i}].request"));
                    issue
                })
                .collect(),
        ),
        other => other,
    }
}

/// A conditional reference of some entry: the reference text as written
/// and its parsed criteria.
#[derive(Clone)]
pub(crate) struct CondRef {
    pub text: String,
    pub criteria: Criteria,
}

/// The distinct conditional references (`Type?criteria`, relative, as
/// http.html#trules writes them) anywhere in `r` (contained resources and
/// extensions included), parsed; a reference whose criteria cannot be used
/// fails entry `i`.
pub(crate) fn conditional_refs(
    i: usize,
    r: &Resource,
    registry: &ParamRegistry,
    base: &str,
) -> Result<Vec<CondRef>, Error> {
    let Ok(json) = tree::parse(&r.to_json_vec()) else {
        return Ok(Vec::new());
    };
    let mut texts = Vec::new();
    collect_refs(&json, &mut texts);
    texts.sort();
    texts.dedup();
    let mut out = Vec::with_capacity(texts.len());
    for text in texts {
        let Some((t, q)) = text.split_once('?') else {
            continue;
        };
        let Some(rt) = ResourceType::parse(t) else {
            return Err(entry_error(
                i,
                IssueCode::Invalid,
                format!("conditional reference {text:?}: {t:?} is not a resource type"),
            ));
        };
        let criteria = criteria(registry, rt, q, base).map_err(|e| {
            at_entry(
                i,
                match e {
                    Error::Invalid(issues) => Error::Invalid(
                        issues
                            .into_iter()
                            .map(|mut x| {
                                x.diagnostics =
                                    format!("conditional reference {text:?}: {}", x.diagnostics);
                                x
                            })
                            .collect(),
                    ),
                    other => other,
                },
            )
        })?;
        out.push(CondRef { text, criteria });
    }
    Ok(out)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter() {
                match child {
                    Value::String(s) if k == "reference" => {
                        let looks_conditional = s
                            .split_once('?')
                            .is_some_and(|(t, _)| !t.is_empty() && !t.contains(['/', ':']));
                        if looks_conditional {
                            out.push(s.clone());
                        }
                    }
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Resolves one conditional reference inside `tx`: exactly one match, or
/// the entry fails with 412 (http.html#trules: "If there are no matches,
/// or multiple matches, the transaction fails").
pub(crate) fn resolve_ref(tx: &mut Tx<'_>, r: &CondRef) -> Result<String, TxError> {
    let found = tx.matching(&r.criteria.request, 2)?;
    match found.as_slice() {
        [(t, id)] => Ok(format!("{t}/{id}")),
        [] => Err(TxError::Store(StoreError::PreconditionFailed(format!(
            "the conditional reference {:?} matches no resource",
            r.text
        )))),
        _ => Err(TxError::Store(StoreError::PreconditionFailed(format!(
            "the conditional reference {:?} matches more than one resource",
            r.text
        )))),
    }
}

/// Turns a [`Written`]-less match of a conditional create into the
/// response entry of an existing resource.
fn written_from(v: StoredVersion) -> Written {
    Written {
        version: v.version,
        last_updated: v.last_updated,
        created: false,
        body: v.body,
    }
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// One response entry, serialized. A stored body goes in as the bytes it
/// is (they are what a read answers, so they are valid JSON), never parsed
/// back into a tree: for a large Bundle that tree, and the bytes written
/// from it, were the biggest copies the server made (`ingest_bench`'s big
/// row measures them).
pub(crate) type EntryJson = Vec<u8>;

/// `{"fullUrl":…,"resource":…,"response":…}`, with `resource` copied in
/// as stored.
fn entry_json(resource: Option<(String, Vec<u8>)>, response: Value) -> EntryJson {
    let response = tree::to_json(&response);
    let size = resource.as_ref().map_or(0, |(u, b)| u.len() + b.len());
    let mut out = Vec::with_capacity(size + response.len() + 40);
    out.push(b'{');
    if let Some((url, body)) = resource.filter(|(_, b)| !b.is_empty()) {
        out.extend_from_slice(b"\"fullUrl\":");
        out.extend_from_slice(&tree::to_json(&string(url)));
        out.extend_from_slice(b",\"resource\":");
        out.extend_from_slice(&body);
        out.push(b',');
    }
    out.extend_from_slice(b"\"response\":");
    out.extend_from_slice(&response);
    out.push(b'}');
    out
}

/// The response entry of a stored write (`None`: a delete of nothing).
/// `fullUrl` is absolute, as Bundle.entry.fullUrl must be. `prefer`
/// (`Prefer: return=`) decides what comes with the response: the stored
/// resource (the default), nothing (`minimal`: a load that only wants
/// the statuses gets no copy of what it sent), or an OperationOutcome in
/// `response.outcome`.
fn written_entry(
    base: &str,
    rt: ResourceType,
    id: &str,
    status: StatusCode,
    w: Option<Written>,
    prefer: headers::Return,
) -> EntryJson {
    let Some(w) = w else {
        let status = string(status_line(StatusCode::NO_CONTENT));
        return entry_json(None, obj(vec![("status", status)]));
    };
    let mut response = vec![("status", string(status_line(status)))];
    if status != StatusCode::NO_CONTENT {
        response.push((
            "location",
            string(format!("{rt}/{id}/_history/{}", w.version)),
        ));
    }
    response.push(("etag", string(super::etag(w.version))));
    response.push(("lastModified", string(w.last_updated)));
    match prefer {
        headers::Return::Representation => {
            let resource = w.body.map(|b| (format!("{base}/{rt}/{id}"), b));
            entry_json(resource, obj(response))
        }
        headers::Return::Minimal => entry_json(None, obj(response)),
        headers::Return::OperationOutcome => {
            let what = match status {
                StatusCode::CREATED => "created",
                StatusCode::NO_CONTENT => "deleted",
                _ => "stored",
            };
            let outcome = serde_json::json!({
                "resourceType": "OperationOutcome",
                "issue": [{
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": format!("{rt}/{id} {what} as version {}", w.version),
                }],
            });
            response.push(("outcome", Value::from(outcome)));
            entry_json(None, obj(response))
        }
    }
}

/// The response entry of a read.
fn read_entry(base: &str, v: StoredVersion) -> EntryJson {
    let url = format!("{base}/{}/{}", v.resource_type, v.id);
    let response = obj(vec![
        ("status", string(status_line(StatusCode::OK))),
        ("etag", string(super::etag(v.version))),
        ("lastModified", string(v.last_updated)),
    ]);
    entry_json(v.body.map(|b| (url, b)), response)
}

/// The response entry of a read, or 304 when `if_none_match`
/// (`request.ifNoneMatch`) names the version read or, without it,
/// `if_modified_since` (`request.ifModifiedSince`) is not older than it
/// (the rules of a direct read's headers, `headers::not_modified`).
fn read_result(
    base: &str,
    v: StoredVersion,
    if_none_match: Option<&NoneMatch>,
    if_modified_since: Option<&str>,
) -> EntryJson {
    let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let not_modified = match (if_none_match, if_modified_since) {
        (Some(NoneMatch::Any), _) => true,
        (Some(NoneMatch::Versions(list)), _) => list.contains(&v.version),
        (None, Some(since)) => match (instant(&v.last_updated), instant(since)) {
            (Some(updated), Some(since)) => updated <= since,
            _ => false,
        },
        (None, None) => false,
    };
    if !not_modified {
        return read_entry(base, v);
    }
    let response = obj(vec![
        ("status", string(status_line(StatusCode::NOT_MODIFIED))),
        ("etag", string(super::etag(v.version))),
        ("lastModified", string(v.last_updated)),
    ]);
    entry_json(None, response)
}

/// The response entry of a failed batch entry: its status and why.
fn error_entry(e: &Error) -> EntryJson {
    entry_json(
        None,
        obj(vec![
            ("status", string(status_line(e.status()))),
            ("outcome", Value::from(operation_outcome(&e.issues()))),
        ]),
    )
}

/// The response Bundle around its entries, each dropped once copied in.
fn response_bundle(kind: &str, entries: Vec<EntryJson>) -> Vec<u8> {
    let head = tree::to_json(&obj(vec![
        ("resourceType", string("Bundle")),
        ("type", string(kind)),
    ]));
    let size: usize = entries.iter().map(|e| e.len().max(4) + 1).sum();
    let mut out = Vec::with_capacity(head.len() + size + 16);
    // `head` is `{…}`: reopen it for the entries.
    out.extend_from_slice(head.strip_suffix(b"}").unwrap_or(&head));
    out.extend_from_slice(b",\"entry\":[");
    for (k, e) in entries.into_iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        // Every slot is filled; `null` would only mark a bug, not break JSON.
        out.extend_from_slice(if e.is_empty() { b"null" } else { &e });
    }
    out.extend_from_slice(b"]}");
    out
}

/// The entries in processing order, with their original index.
fn in_processing_order(ops: Vec<EntryOp>) -> Vec<(usize, EntryOp)> {
    let mut ops: Vec<(usize, EntryOp)> = ops.into_iter().enumerate().collect();
    ops.sort_by_key(|(i, op)| (op.order(), *i));
    ops
}

fn entries_of(bundle: &mut Bundle) -> Vec<BundleEntry> {
    std::mem::take(&mut bundle.entry)
}

#[cfg(test)]
mod conditional_tests;
