//! batch and transaction: `POST [base]` with a Bundle
//! (<https://hl7.org/fhir/R4/http.html#transaction>).
//!
//! Shared here: reading each entry's `request` into an [`EntryOp`], the
//! processing order (DELETE, POST, PUT, GET), and building the response
//! Bundle. [`transaction`] runs the writes in one database transaction
//! after resolving `fullUrl`s; [`batch`] runs each entry on its own.
//!
//! Conditional entries (`ifNoneExist`, a search in `request.url`,
//! conditional references) need search, which this server does not have
//! yet: they are refused with a clear OperationOutcome, never ignored.

pub mod batch;
pub mod transaction;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::generated::{Bundle, BundleEntry};
use fhir_model::json::tree::{self, Value};
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::{headers, read_body, run};
use crate::app::AppState;
use crate::error::{operation_outcome, Error, Issue, IssueCode, FHIR_JSON};
use crate::store::{StoredVersion, Written};

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
    let out = run(move || {
        let bundle = match super::parse_resource(&body, ResourceType::Bundle)? {
            Resource::Bundle(b) => b,
            _ => return Err(Error::Fault("parse_resource returned another type".into())),
        };
        let kind = bundle
            .type_
            .as_ref()
            .and_then(|t| t.value.as_ref())
            .map(|c| c.as_str().to_owned());
        match kind.as_deref() {
            Some("transaction") => transaction::run(&store, &base, *bundle),
            Some("batch") => Ok(batch::run(&store, &base, *bundle)),
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

/// What one entry asks for.
pub(crate) enum EntryOp {
    Create(Resource),
    Update {
        resource: Resource,
        if_match: Option<i32>,
    },
    Delete(ResourceType, Id),
    Read {
        rt: ResourceType,
        id: Id,
        version: Option<i32>,
    },
}

impl EntryOp {
    /// http.html#transaction: "process any DELETE interactions, then any
    /// POST, then any PUT or PATCH, then any GET or HEAD".
    fn order(&self) -> u8 {
        match self {
            EntryOp::Delete(..) => 0,
            EntryOp::Create(_) => 1,
            EntryOp::Update { .. } => 2,
            EntryOp::Read { .. } => 3,
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
/// for, with the URL checked against the resource.
pub(crate) fn parse_entry(i: usize, entry: &mut BundleEntry) -> Result<EntryOp, Error> {
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
    if request.if_none_exist.is_some() || url.contains('?') {
        return Err(entry_error(
            i,
            IssueCode::NotSupported,
            "conditional operations (ifNoneExist, a search in request.url) need search, which this server does not support yet",
        ));
    }
    if request.if_none_match.is_some() || request.if_modified_since.is_some() {
        return Err(entry_error(
            i,
            IssueCode::NotSupported,
            "ifNoneMatch and ifModifiedSince in a Bundle are not supported yet",
        ));
    }
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
    let path = url.trim_start_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
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
    match (method.as_str(), parts.as_slice()) {
        ("POST", [t]) => Ok(EntryOp::Create(with_type(rt_of(t)?, resource)?)),
        ("PUT", [t, id]) => {
            let (rt, id) = (rt_of(t)?, id_of(id)?);
            let resource = with_type(rt, resource)?;
            if resource.id() != Some(&id) {
                return Err(entry_error(
                    i,
                    IssueCode::Invalid,
                    "the resource's id must be the id in request.url",
                ));
            }
            Ok(EntryOp::Update { resource, if_match })
        }
        ("DELETE", [t, id]) => Ok(EntryOp::Delete(rt_of(t)?, id_of(id)?)),
        ("GET" | "HEAD", [t, id]) => Ok(EntryOp::Read {
            rt: rt_of(t)?,
            id: id_of(id)?,
            version: None,
        }),
        ("GET" | "HEAD", [t, id, "_history", v]) => {
            let version =
                v.parse::<i32>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    entry_error(i, IssueCode::NotFound, format!("no version {v:?}"))
                })?;
            Ok(EntryOp::Read {
                rt: rt_of(t)?,
                id: id_of(id)?,
                version: Some(version),
            })
        }
        ("PATCH", _) => Err(entry_error(
            i,
            IssueCode::NotSupported,
            "PATCH inside a Bundle is not supported yet",
        )),
        _ => Err(entry_error(
            i,
            IssueCode::NotSupported,
            format!("{method} {url} is not an interaction a Bundle entry can carry here"),
        )),
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

/// The response entry of a stored write (`None`: a delete of nothing).
/// `fullUrl` is absolute, as Bundle.entry.fullUrl must be.
fn written_entry(
    base: &str,
    rt: ResourceType,
    id: &str,
    status: StatusCode,
    w: Option<Written>,
) -> Value {
    let Some(w) = w else {
        return obj(vec![(
            "response",
            obj(vec![(
                "status",
                string(status_line(StatusCode::NO_CONTENT)),
            )]),
        )]);
    };
    let mut response = vec![("status", string(status_line(status)))];
    if status != StatusCode::NO_CONTENT {
        response.push((
            "location",
            string(format!("{rt}/{id}/_history/{}", w.version)),
        ));
    }
    response.push(("etag", string(super::etag(w.version))));
    response.push(("lastModified", string(w.last_updated.clone())));
    let mut entry = Vec::new();
    if let Some(body) = w.body.as_deref().and_then(|b| tree::parse(b).ok()) {
        entry.push(("fullUrl", string(format!("{base}/{rt}/{id}"))));
        entry.push(("resource", body));
    }
    entry.push(("response", obj(response)));
    obj(entry)
}

/// The response entry of a read.
fn read_entry(base: &str, v: StoredVersion) -> Value {
    let body = v
        .body
        .as_deref()
        .and_then(|b| tree::parse(b).ok())
        .unwrap_or(Value::Null);
    obj(vec![
        (
            "fullUrl",
            string(format!("{base}/{}/{}", v.resource_type, v.id)),
        ),
        ("resource", body),
        (
            "response",
            obj(vec![
                ("status", string(status_line(StatusCode::OK))),
                ("etag", string(super::etag(v.version))),
                ("lastModified", string(v.last_updated)),
            ]),
        ),
    ])
}

/// The response entry of a failed batch entry: its status and why.
fn error_entry(e: &Error) -> Value {
    obj(vec![(
        "response",
        obj(vec![
            ("status", string(status_line(e.status()))),
            ("outcome", Value::from(operation_outcome(&e.issues()))),
        ]),
    )])
}

fn response_bundle(kind: &str, entries: Vec<Value>) -> Vec<u8> {
    tree::to_json(&obj(vec![
        ("resourceType", string("Bundle")),
        ("type", string(kind)),
        ("entry", Value::Array(entries)),
    ]))
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
