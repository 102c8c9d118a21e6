//! The one decoded route of a request.
//!
//! A request target is percent-decoded once ([`decode`]) and classified
//! once ([`classify`]) into a typed [`Route`]: which interaction or
//! operation, on which [`ResourceType`], instance [`Id`] and version. The
//! [`middleware`] does both before anything else looks at the request,
//! rewrites the URI to the canonical path, and puts the [`Classified`]
//! route into the request's extensions. From there:
//! - the router only runs a handler whose path pattern is the one the
//!   route names ([`guard`]), so the route that was judged is the route
//!   that runs;
//! - authorization ([`crate::security`]), Consent and audit read the
//!   route, never the path;
//! - batch and transaction entries are decoded and classified by the same
//!   functions ([`classify_url`]).
//!
//! A target that is not a route of this server is [`Route::Unknown`]
//! (404) or [`Route::Invalid`] (400), answered before any handler: deny
//! by default.

pub mod decode;
pub mod guard;
pub mod middleware;
pub mod operation;

use std::borrow::Cow;

use actix_web::http::Method;
use fhir_model::primitives::Id;
use fhir_model::ResourceType;

pub use decode::{decode_path, DecodedPath, PathError};
pub use operation::Operation;

use crate::error::{Error, IssueCode};

/// The FHIR base path of this server.
pub const BASE: &str = "/fhir";

/// One request, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET [base]/metadata`.
    Metadata,
    /// `GET /.well-known/smart-configuration` (also under the base).
    SmartConfiguration,
    /// `GET /healthz`: the process is alive (outside the FHIR base,
    /// public, not audited; [`crate::health`]).
    Liveness,
    /// `GET /readyz`: this node can serve (database, migrations, caches;
    /// public, not audited; [`crate::health`]).
    Readiness,
    /// `POST [base]`: batch or transaction.
    Bundle,
    /// `GET [base]?_type=…`, `POST [base]/_search`.
    SystemSearch,
    /// `GET [base]/_history`.
    SystemHistory,
    /// `[base]/$op`.
    SystemOperation(Operation),
    /// `GET [base]/[type]`, `POST [base]/[type]/_search`.
    Search(ResourceType),
    /// `POST [base]/[type]`.
    Create(ResourceType),
    /// `PUT [base]/[type]?criteria`.
    ConditionalUpdate(ResourceType),
    /// `DELETE [base]/[type]?criteria`.
    ConditionalDelete(ResourceType),
    /// `GET [base]/[type]/_history`.
    TypeHistory(ResourceType),
    /// `[base]/[type]/$op`.
    TypeOperation(ResourceType, Operation),
    /// `GET|HEAD [base]/[type]/[id]`.
    Read(ResourceType, Id),
    /// `PUT [base]/[type]/[id]`.
    Update(ResourceType, Id),
    /// `PATCH [base]/[type]/[id]`.
    Patch(ResourceType, Id),
    /// `DELETE [base]/[type]/[id]`.
    Delete(ResourceType, Id),
    /// `GET [base]/[type]/[id]/_history`.
    History(ResourceType, Id),
    /// `GET|HEAD [base]/[type]/[id]/_history/[vid]`.
    Vread(ResourceType, Id, Id),
    /// `[base]/[type]/[id]/$op`.
    InstanceOperation(ResourceType, Id, Operation),
    /// `[base]/[type]/[id]/_history/[vid]/$op`.
    VersionOperation(ResourceType, Id, Id, Operation),
    /// `GET [base]/[Compartment]/[id]/[type or *]`.
    CompartmentSearch {
        compartment: ResourceType,
        id: Id,
        target: Option<ResourceType>,
    },
    /// `GET|DELETE [base]/_export/[job]`: a Bulk Data export's status,
    /// or its cancellation ([`crate::operation::bulk_export`]).
    ExportStatus(Id),
    /// `GET [base]/_export/[job]/[file]`: one NDJSON file of an export.
    ExportFile(Id, Id),
    /// A path this server serves, with a method it does not serve there:
    /// the router answers 405 with `Allow` (no handler runs).
    MethodNotAllowed,
    /// Names nothing here: 404.
    Unknown(String),
    /// Names something in a form that is wrong (an invalid id): 400.
    Invalid(String),
}

impl Route {
    /// The answer to a route that no handler may take, if this is one.
    pub fn refusal(&self) -> Option<Error> {
        match self {
            Route::Unknown(m) => Some(Error::NotFound(m.clone())),
            Route::Invalid(m) => Some(Error::invalid(IssueCode::Value, m.clone())),
            _ => None,
        }
    }

    /// The resource type the route is about, if one.
    pub fn resource_type(&self) -> Option<ResourceType> {
        match self {
            Route::Search(t)
            | Route::Create(t)
            | Route::ConditionalUpdate(t)
            | Route::ConditionalDelete(t)
            | Route::TypeHistory(t)
            | Route::TypeOperation(t, _)
            | Route::Read(t, _)
            | Route::Update(t, _)
            | Route::Patch(t, _)
            | Route::Delete(t, _)
            | Route::History(t, _)
            | Route::Vread(t, _, _)
            | Route::InstanceOperation(t, _, _)
            | Route::VersionOperation(t, _, _, _) => Some(*t),
            Route::CompartmentSearch { compartment, .. } => Some(*compartment),
            _ => None,
        }
    }

    /// The instance the route is about, if one.
    pub fn instance(&self) -> Option<(ResourceType, &Id)> {
        match self {
            Route::Read(t, id)
            | Route::Update(t, id)
            | Route::Patch(t, id)
            | Route::Delete(t, id)
            | Route::History(t, id)
            | Route::Vread(t, id, _)
            | Route::InstanceOperation(t, id, _)
            | Route::VersionOperation(t, id, _, _) => Some((*t, id)),
            Route::CompartmentSearch {
                compartment, id, ..
            } => Some((*compartment, id)),
            _ => None,
        }
    }

    /// The routes any caller may ask for, with no token: the
    /// CapabilityStatement, the SMART configuration and the health checks.
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            Route::Metadata | Route::SmartConfiguration | Route::Liveness | Route::Readiness
        )
    }

    /// The health checks, which a load balancer polls every few seconds:
    /// not audited (they touch no resource and would flood the trail).
    pub fn is_health_check(&self) -> bool {
        matches!(self, Route::Liveness | Route::Readiness)
    }

    /// True for routes that change stored data.
    pub fn writes(&self) -> bool {
        match self {
            Route::Bundle
            | Route::Create(_)
            | Route::ConditionalUpdate(_)
            | Route::ConditionalDelete(_)
            | Route::Update(..)
            | Route::Patch(..)
            | Route::Delete(..) => true,
            Route::SystemOperation(op)
            | Route::TypeOperation(_, op)
            | Route::InstanceOperation(_, _, op)
            | Route::VersionOperation(_, _, _, op) => matches!(
                op,
                Operation::MetaAdd
                    | Operation::MetaDelete
                    | Operation::Reindex
                    | Operation::ImportCodes
            ),
            _ => false,
        }
    }
}

/// A route and the router pattern (relative to the server root) of the
/// one resource that may serve it: `/fhir/{type}/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub route: Route,
    pub pattern: Cow<'static, str>,
}

impl Classified {
    fn new(route: Route, pattern: impl Into<Cow<'static, str>>) -> Self {
        Classified {
            route,
            pattern: pattern.into(),
        }
    }

    fn unknown(message: String) -> Self {
        Classified::new(Route::Unknown(message), "")
    }

    fn invalid(message: String) -> Self {
        Classified::new(Route::Invalid(message), "")
    }
}

/// A resource type in a URL, or the route's 404.
fn resource_type(name: &str) -> Result<ResourceType, Classified> {
    ResourceType::parse(name).ok_or_else(|| {
        Classified::unknown(format!(
            "{name:?} is not a FHIR R4 resource type this server knows"
        ))
    })
}

/// An id in a URL, or the route's 400.
fn id(text: &str) -> Result<Id, Classified> {
    Id::new(text).map_err(|_| {
        Classified::invalid(format!(
            "{text:?} in the URL is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})"
        ))
    })
}

/// A `$name` segment that must be an operation this server knows.
fn operation(segment: &str) -> Result<Operation, Classified> {
    Operation::parse(segment)
        .ok_or_else(|| Classified::unknown(format!("{segment} is not an operation of this server")))
}

/// Classifies a decoded path (segments from the server root).
pub fn classify(method: &Method, path: &DecodedPath) -> Classified {
    let segs: Vec<&str> = path.segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        [".well-known", "smart-configuration"] => only_get(
            method,
            Route::SmartConfiguration,
            "/.well-known/smart-configuration",
        ),
        ["healthz"] => only_get(method, Route::Liveness, "/healthz"),
        ["readyz"] => only_get(method, Route::Readiness, "/readyz"),
        ["fhir", rest @ ..] => classify_fhir(method, rest).unwrap_or_else(|c| c),
        _ => Classified::unknown(format!("no FHIR endpoint at {}", path.canonical())),
    }
}

/// `route` for GET and HEAD, 405 for other methods.
fn only_get(method: &Method, route: Route, pattern: &'static str) -> Classified {
    let route = if is_get(method) {
        route
    } else {
        Route::MethodNotAllowed
    };
    Classified::new(route, pattern)
}

fn is_get(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Segments after the base.
fn classify_fhir(method: &Method, segs: &[&str]) -> Result<Classified, Classified> {
    let get = is_get(method);
    let post = method == Method::POST;
    let (put, patch, delete) = (
        method == Method::PUT,
        method == Method::PATCH,
        method == Method::DELETE,
    );
    let na = Route::MethodNotAllowed;
    let c = |route: Route, pattern: &'static str| Ok(Classified::new(route, pattern));
    match segs {
        [] => c(
            if post {
                Route::Bundle
            } else if get {
                Route::SystemSearch
            } else {
                na
            },
            "/fhir",
        ),
        ["metadata"] => Ok(only_get(method, Route::Metadata, "/fhir/metadata")),
        [".well-known", "smart-configuration"] => Ok(only_get(
            method,
            Route::SmartConfiguration,
            "/fhir/.well-known/smart-configuration",
        )),
        ["_history"] => Ok(only_get(method, Route::SystemHistory, "/fhir/_history")),
        ["_search"] => c(if post { Route::SystemSearch } else { na }, "/fhir/_search"),
        ["_export", job] => {
            let route = if get || method == Method::DELETE {
                Route::ExportStatus(id(job)?)
            } else {
                na
            };
            c(route, "/fhir/_export/{job}")
        }
        ["_export", job, file] => {
            let (job, file) = (id(job)?, id(file)?);
            Ok(only_get(
                method,
                Route::ExportFile(job, file),
                "/fhir/_export/{job}/{file}",
            ))
        }
        [op] if op.starts_with('$') => {
            let op = operation(op)?;
            let route = if get || post {
                Route::SystemOperation(op)
            } else {
                na
            };
            Ok(Classified::new(route, format!("/fhir/{}", op.name())))
        }
        [t] => {
            let t = resource_type(t)?;
            let route = if get {
                Route::Search(t)
            } else if post {
                Route::Create(t)
            } else if put {
                Route::ConditionalUpdate(t)
            } else if delete {
                Route::ConditionalDelete(t)
            } else {
                na
            };
            c(route, "/fhir/{type}")
        }
        [t, "_search"] => {
            let t = resource_type(t)?;
            c(
                if post { Route::Search(t) } else { na },
                "/fhir/{type}/_search",
            )
        }
        [t, "_history"] => {
            let t = resource_type(t)?;
            Ok(only_get(
                method,
                Route::TypeHistory(t),
                "/fhir/{type}/_history",
            ))
        }
        [t, op] if op.starts_with('$') => {
            let t = resource_type(t)?;
            let op = operation(op)?;
            let route = if get || post {
                Route::TypeOperation(t, op)
            } else {
                na
            };
            Ok(Classified::new(route, type_operation_pattern(t, op)))
        }
        [t, i] => {
            let t = resource_type(t)?;
            let i = id(i)?;
            let route = if get {
                Route::Read(t, i)
            } else if put {
                Route::Update(t, i)
            } else if patch {
                Route::Patch(t, i)
            } else if delete {
                Route::Delete(t, i)
            } else {
                na
            };
            c(route, "/fhir/{type}/{id}")
        }
        [t, i, "_history"] => {
            let (t, i) = (resource_type(t)?, id(i)?);
            Ok(only_get(
                method,
                Route::History(t, i),
                "/fhir/{type}/{id}/_history",
            ))
        }
        [t, i, "_history", v] => {
            let (t, i, v) = (resource_type(t)?, id(i)?, id(v)?);
            Ok(only_get(
                method,
                Route::Vread(t, i, v),
                "/fhir/{type}/{id}/_history/{vid}",
            ))
        }
        [t, i, "_history", v, op] => {
            let (t, i, v) = (resource_type(t)?, id(i)?, id(v)?);
            if !op.starts_with('$') {
                return Err(Classified::unknown(format!(
                    "no FHIR endpoint at /fhir/{}",
                    segs.join("/")
                )));
            }
            let op = operation(op)?;
            let route = if get || post {
                Route::VersionOperation(t, i, v, op)
            } else {
                na
            };
            c(route, "/fhir/{type}/{id}/_history/{vid}/{operation}")
        }
        [t, i, op] if op.starts_with('$') => {
            let (t, i) = (resource_type(t)?, id(i)?);
            let op = operation(op)?;
            let route = if get || post {
                Route::InstanceOperation(t, i, op)
            } else {
                na
            };
            c(route, "/fhir/{type}/{id}/{operation}")
        }
        [comp, i, target] => {
            let (compartment, i) = (resource_type(comp)?, id(i)?);
            let target = match *target {
                "*" => None,
                t => Some(resource_type(t)?),
            };
            let route = if get {
                Route::CompartmentSearch {
                    compartment,
                    id: i,
                    target,
                }
            } else {
                na
            };
            c(route, "/fhir/{type}/{id}/{operation}")
        }
        _ => Err(Classified::unknown(format!(
            "no FHIR endpoint at /fhir/{}",
            segs.join("/")
        ))),
    }
}

/// The router pattern of `[base]/[type]/$op`: the operations with a
/// resource of their own in the route table.
fn type_operation_pattern(t: ResourceType, op: Operation) -> String {
    match op {
        Operation::ImportCodes | Operation::UnmappedCodes if t == ResourceType::CodeSystem => {
            format!("/fhir/CodeSystem/{}", op.name())
        }
        Operation::Export if t == ResourceType::Patient => "/fhir/Patient/$export".to_owned(),
        _ => format!("/fhir/{{type}}/{}", op.name()),
    }
}

/// Decodes and classifies a request path (the path part of a target).
pub fn classify_path(method: &Method, raw_path: &str) -> Result<Classified, PathError> {
    decode_path(raw_path).map(|p| classify(method, &p))
}

/// A batch or transaction entry's `request.url`: relative to the base
/// (`Patient/1`, `Patient?x=1`) or absolute with this server's base. The
/// path part is decoded like a request's (from the server root, so it
/// starts with the base's segment); the query is returned as written.
pub fn entry_target(url: &str) -> Result<(DecodedPath, &str), PathError> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    // An absolute URL names this server's base (`http://host/fhir/Type/id`).
    let relative = match path.split_once("://") {
        Some((_, rest)) => match rest.split_once(BASE) {
            Some((_, after)) => after,
            None => {
                return Err(PathError(
                    format!("{url:?} is not a URL on this server's base"),
                    IssueCode::Invalid,
                ))
            }
        },
        None => path,
    };
    let relative = relative.trim_start_matches('/');
    let full = if relative.is_empty() {
        BASE.to_owned()
    } else {
        format!("{BASE}/{relative}")
    };
    Ok((decode_path(&full)?, query))
}

/// [`entry_target`], classified.
pub fn classify_url<'u>(method: &Method, url: &'u str) -> Result<(Classified, &'u str), PathError> {
    let (path, query) = entry_target(url)?;
    Ok((classify(method, &path), query))
}

/// The property the route table rests on, for the fuzz target and the
/// tests: a decodable path decodes to a canonical path that decodes to
/// itself and classifies the same; and when its route may be served, the
/// router pattern it names matches the canonical path with the same type,
/// id, version and operation the route holds. So the handler that runs is
/// handed exactly what the authorization layer judged.
pub fn check_consistent(method: &Method, raw_path: &str) -> Result<(), String> {
    let Ok(decoded) = decode_path(raw_path) else {
        return Ok(()); // refused before anything runs
    };
    let canonical = decoded.canonical();
    let again = decode_path(&canonical).map_err(|e| format!("{canonical} does not decode: {e}"))?;
    if again != decoded {
        return Err(format!("{raw_path}: {canonical} decodes differently"));
    }
    let first = classify(method, &decoded);
    if classify(method, &again) != first {
        return Err(format!(
            "{raw_path}: the canonical path classifies differently"
        ));
    }
    if matches!(first.route, Route::Unknown(_) | Route::Invalid(_)) {
        return Ok(());
    }
    let def = actix_web::dev::ResourceDef::new(first.pattern.as_ref());
    let mut path = actix_web::dev::Path::new(canonical.as_str());
    if !def.capture_match_info(&mut path) {
        return Err(format!(
            "{raw_path}: pattern {} does not match {canonical}",
            first.pattern
        ));
    }
    let (t, i, v, op) = match &first.route {
        Route::Read(t, i)
        | Route::Update(t, i)
        | Route::Patch(t, i)
        | Route::Delete(t, i)
        | Route::History(t, i) => (Some(*t), Some(i), None, None),
        Route::Vread(t, i, v) => (Some(*t), Some(i), Some(v), None),
        Route::InstanceOperation(t, i, op) => (Some(*t), Some(i), None, Some(*op)),
        Route::VersionOperation(t, i, v, op) => (Some(*t), Some(i), Some(v), Some(*op)),
        Route::CompartmentSearch {
            compartment, id, ..
        } => (Some(*compartment), Some(id), None, None),
        other => (other.resource_type(), None, None, None),
    };
    let captured = |name: &str| path.get(name).map(str::to_owned);
    let expect = |name: &str, want: Option<String>| -> Result<(), String> {
        match (captured(name), want) {
            (Some(got), Some(want)) if got != want => Err(format!(
                "{raw_path}: the router hands {name}={got:?}, the route judged {want:?}"
            )),
            _ => Ok(()),
        }
    };
    expect("type", t.map(|t| t.as_str().to_owned()))?;
    expect("id", i.map(|i| i.as_str().to_owned()))?;
    expect("vid", v.map(|v| v.as_str().to_owned()))?;
    expect("operation", op.map(|o| o.name().to_owned()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`check_consistent`] over every path of up to four segments from
    /// a vocabulary of route names, ids and their encodings.
    #[test]
    fn every_spelling_runs_the_route_it_was_judged_as() {
        let vocab = [
            "fhir",
            "%66hir",
            "Patient",
            "Patien%74",
            "pa",
            "%70a",
            "_history",
            "1",
            "$meta-add",
            "%24meta",
            "$everything",
            "*",
            "_search",
            "$reindex",
            "CodeSystem",
            "$import-codes",
            "%2e%2e",
            "%2F",
            "metadata",
            "$validate",
            "healthz",
            "readyz",
            "_export",
            "$export",
        ];
        let methods = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &paths {
                for s in vocab {
                    let path = format!("{p}/{s}");
                    for m in &methods {
                        if let Err(e) = check_consistent(m, &path) {
                            panic!("{m} {e}");
                        }
                        checked += 1;
                    }
                    next.push(path);
                }
            }
            paths = next;
        }
        assert!(checked > 1_000_000, "{checked}");
    }

    fn route(m: Method, p: &str) -> Route {
        classify_path(&m, p).unwrap().route
    }

    fn id(s: &str) -> Id {
        Id::new(s).unwrap()
    }

    #[test]
    fn routes() {
        use ResourceType as T;
        assert_eq!(route(Method::GET, "/fhir/metadata"), Route::Metadata);
        assert_eq!(route(Method::POST, "/fhir"), Route::Bundle);
        assert_eq!(route(Method::POST, "/%66hir"), Route::Bundle);
        assert_eq!(route(Method::GET, "/fhir/"), Route::SystemSearch);
        assert_eq!(
            route(Method::GET, "/fhir/Observation"),
            Route::Search(T::Observation)
        );
        assert_eq!(
            route(Method::PUT, "/fhir/Observation"),
            Route::ConditionalUpdate(T::Observation)
        );
        assert_eq!(
            route(Method::DELETE, "/fhir/Conditio%6E/cb"),
            Route::Delete(T::Condition, id("cb"))
        );
        assert_eq!(
            route(Method::GET, "/fhir/Observation/1/_history/2"),
            Route::Vread(T::Observation, id("1"), id("2"))
        );
        assert_eq!(
            route(Method::POST, "/fhir/Observation/1/_history/2/$meta-add"),
            Route::VersionOperation(T::Observation, id("1"), id("2"), Operation::MetaAdd)
        );
        assert_eq!(
            route(Method::POST, "/fhir/Patient/pb/%24meta-add"),
            Route::InstanceOperation(T::Patient, id("pb"), Operation::MetaAdd)
        );
        assert_eq!(
            route(Method::POST, "/fhir/Patient/%24reindex"),
            Route::TypeOperation(T::Patient, Operation::Reindex)
        );
        assert_eq!(
            route(Method::GET, "/fhir/Patient/1/*"),
            Route::CompartmentSearch {
                compartment: T::Patient,
                id: id("1"),
                target: None
            }
        );
        assert_eq!(
            route(Method::POST, "/fhir/$reindex"),
            Route::SystemOperation(Operation::Reindex)
        );
        assert_eq!(
            route(Method::GET, "/.well-known/smart-configuration"),
            Route::SmartConfiguration
        );
        assert_eq!(
            route(Method::DELETE, "/fhir/_export/j-1"),
            Route::ExportStatus(id("j-1"))
        );
        assert_eq!(
            route(Method::GET, "/fhir/_export/j-1/Patient.ndjson"),
            Route::ExportFile(id("j-1"), id("Patient.ndjson"))
        );
        assert_eq!(
            route(Method::POST, "/fhir/Group/g/$export"),
            Route::InstanceOperation(T::Group, id("g"), Operation::Export)
        );
        assert_eq!(route(Method::GET, "/healthz"), Route::Liveness);
        assert_eq!(route(Method::HEAD, "/readyz"), Route::Readiness);
        assert_eq!(route(Method::POST, "/readyz"), Route::MethodNotAllowed);
        assert!(matches!(
            route(Method::GET, "/fhir/healthz"),
            Route::Unknown(_)
        ));
        assert!(matches!(
            route(Method::GET, "/elsewhere"),
            Route::Unknown(_)
        ));
        assert!(matches!(
            route(Method::GET, "/FHIR/Patient"),
            Route::Unknown(_)
        ));
        assert!(matches!(
            route(Method::GET, "/fhir/patient/1"),
            Route::Unknown(_)
        ));
        assert!(matches!(
            route(Method::GET, "/fhir/Patient/$nothing"),
            Route::Unknown(_)
        ));
        assert!(matches!(
            route(Method::GET, "/fhir/Patient/a_b"),
            Route::Invalid(_)
        ));
        assert_eq!(
            route(Method::POST, "/fhir/Patient/1"),
            Route::MethodNotAllowed
        );
    }

    #[test]
    fn bundle_entry_urls() {
        let (c, q) = classify_url(&Method::DELETE, "Observation?subject=Patient/pb").unwrap();
        assert_eq!(c.route, Route::ConditionalDelete(ResourceType::Observation));
        assert_eq!(q, "subject=Patient/pb");
        let (c, _) = classify_url(&Method::GET, "http://example.org/fhir/Patien%74/pb").unwrap();
        assert_eq!(c.route, Route::Read(ResourceType::Patient, id("pb")));
        assert!(classify_url(&Method::GET, "Patient%2Fpb").is_err());
        assert!(classify_url(&Method::GET, "http://example.org/other/Patient/pb").is_err());
    }
}
