//! Consent before a request runs: writes and operations whose answers or
//! effects the answer filter cannot judge afterwards (see the rules in
//! the module doc of [`super`]). One entry point, [`check`], called by the
//! Consent middleware for every route [`judged`] names; Bundle entries
//! are classified by [`crate::route::classify_url`] and judged as if they
//! came alone.

use actix_web::http::Method;
use serde_json::Value;

use super::rules::{self, Denial};
use super::Consents;
use crate::error::{Error, Issue, IssueCode};
use crate::interaction::patch::{Patch, PatchFormat};
use crate::route::{classify_url, Route};
use crate::security::answer_filter::Item;
use crate::security::guard::compartment_filter;
use crate::store::{Store, StoreError};
use fhir_model::json::tree;
use fhir_model::primitives::Id;
use fhir_model::ResourceType;

/// One request, as [`check`] needs it.
pub struct Request<'a> {
    pub route: &'a Route,
    /// The caller's Organization (token claim), if any.
    pub organization: Option<&'a str>,
    /// This server's base URL as the client addressed it.
    pub base: &'a str,
    /// The request's resource (or Bundle) as JSON, when [`needs_body`].
    pub body: Option<&'a Value>,
    /// A PATCH document and its format, for a PATCH of a Consent.
    pub patch: Option<(PatchFormat, &'a [u8])>,
    /// `If-None-Exist` was sent.
    pub if_none_exist: bool,
}

/// True for the routes [`check`] judges: every write, and operations on
/// an instance or version.
pub fn judged(route: &Route) -> bool {
    route.writes()
        || matches!(
            route,
            Route::InstanceOperation(..) | Route::VersionOperation(..)
        )
}

/// True when [`check`] needs the request body: Bundles, and writes of a
/// Consent's content.
pub fn needs_body(route: &Route) -> bool {
    matches!(route, Route::Bundle)
        || matches!(
            route,
            Route::Create(ResourceType::Consent)
                | Route::Update(ResourceType::Consent, _)
                | Route::ConditionalUpdate(ResourceType::Consent)
                | Route::Patch(ResourceType::Consent, _)
        )
}

/// Refuses what Consent forbids before it runs: a Consent that would not
/// be enforced as written (422, for anyone), and for a caller some Consent
/// denies: writes to hidden data or to a Consent denying it, conditional
/// writes that could reach hidden data (403), operations on hidden
/// instances (404). Blocking (reads the store).
pub fn check(store: &Store, consents: &Consents, req: &Request<'_>) -> Result<(), Error> {
    check_consent_content(store, req)?;
    let Some(org) = req.organization else {
        return Ok(());
    };
    let caller = Caller {
        store,
        org,
        active: consents.against(store, org)?,
        naming: consents.naming(store, org)?,
    };
    if caller.naming.is_empty() {
        return Ok(());
    }
    if *req.route == Route::Bundle {
        return match caller.entries(req.body).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        };
    }
    caller.judge(req.route, req.if_none_exist)
}

/// [`check`] for a batch or transaction, entry by entry: each refused
/// entry with its error (a batch answers each alone; a transaction is
/// refused whole). Blocking.
pub fn bundle_refusals(
    store: &Store,
    consents: &Consents,
    req: &Request<'_>,
) -> Result<Vec<(usize, Error)>, Error> {
    let mut refused = each_entry(req.body, |i, _, entry| consent_entry(req.base, i, entry));
    if let Some(org) = req.organization {
        let caller = Caller {
            store,
            org,
            active: consents.against(store, org)?,
            naming: consents.naming(store, org)?,
        };
        if !caller.naming.is_empty() {
            refused.extend(caller.entries(req.body));
        }
    }
    // One error per entry: the first found.
    refused.sort_by_key(|(i, _)| *i);
    refused.dedup_by_key(|(i, _)| *i);
    Ok(refused)
}

/// A Consent about to be written (as a body, a patched Consent, or a
/// Bundle entry) must be enforceable: 422 otherwise.
fn check_consent_content(store: &Store, req: &Request<'_>) -> Result<(), Error> {
    match req.route {
        Route::Create(ResourceType::Consent)
        | Route::Update(ResourceType::Consent, _)
        | Route::ConditionalUpdate(ResourceType::Consent) => match req.body {
            Some(b) => refuse(rules::check_references(b, req.base, false), ""),
            None => Ok(()), // no resource: the handler's 400
        },
        Route::Patch(ResourceType::Consent, id) => {
            let Some((format, bytes)) = req.patch else {
                return Ok(());
            };
            let stored = match store.read(ResourceType::Consent, id) {
                Ok(v) => v.body,
                Err(StoreError::NotFound(_) | StoreError::Gone { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            // A patch that does not parse or apply is the handler's to refuse.
            let patched = stored.and_then(|body| {
                let mut tree = tree::parse(&body).ok()?;
                Patch::parse(format, bytes).ok()?.apply(&mut tree).ok()?;
                serde_json::from_slice::<Value>(&tree::to_json(&tree)).ok()
            });
            match patched {
                Some(p) => refuse(
                    rules::check_references(&p, req.base, false),
                    "the patched Consent: ",
                ),
                None => Ok(()),
            }
        }
        Route::Bundle => {
            match each_entry(req.body, |i, _, entry| consent_entry(req.base, i, entry))
                .into_iter()
                .next()
            {
                Some((_, e)) => Err(e),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// 422 with `issues` (each after `prefix`), when there are any.
fn refuse(issues: Vec<String>, prefix: &str) -> Result<(), Error> {
    if issues.is_empty() {
        return Ok(());
    }
    Err(Error::Unprocessable(
        issues
            .into_iter()
            .map(|m| Issue::new(IssueCode::Value, format!("{prefix}{m}")))
            .collect(),
    ))
}

/// A Consent in entry `i` must be enforceable: 422 otherwise.
fn consent_entry(base: &str, i: usize, entry: &Value) -> Result<(), Error> {
    let consent = entry
        .get("resource")
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Consent"));
    let Some(c) = consent else {
        return Ok(());
    };
    refuse(
        rules::check_references(c, base, true),
        &format!("Bundle.entry[{i}].resource: "),
    )
}

/// Runs `f` on every entry of a Bundle whose `request` classifies as a
/// route (entries that do not are the handler's to refuse, and the
/// authorization guard's), collecting the entries it refuses.
fn each_entry(
    bundle: Option<&Value>,
    mut f: impl FnMut(usize, Route, &Value) -> Result<(), Error>,
) -> Vec<(usize, Error)> {
    let mut refused = Vec::new();
    let entries = bundle
        .and_then(|b| b.get("entry"))
        .and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let request = entry.get("request");
        let field = |k: &str| request.and_then(|r| r.get(k)).and_then(Value::as_str);
        let (Some(method), Some(url)) = (field("method"), field("url")) else {
            continue;
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            continue;
        };
        if let Ok((classified, _)) = classify_url(&method, url) {
            if let Err(e) = f(i, classified.route, entry) {
                refused.push((i, e));
            }
        }
    }
    refused
}

fn in_entry(i: usize, e: Error) -> Error {
    match e {
        Error::Forbidden(m) | Error::NotFound(m) => {
            Error::Forbidden(format!("Bundle.entry[{i}]: {m}"))
        }
        other => other,
    }
}

/// The stored resource (or one version of it) as JSON; `None` when there
/// is none (unknown, deleted, or a deletion).
fn stored(
    store: &Store,
    rt: ResourceType,
    id: &Id,
    version: Option<&Id>,
) -> Result<Option<Value>, Error> {
    let version = match version {
        Some(v) => match v.as_str().parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => return Ok(None),
        },
        None => None,
    };
    match store.read_version(rt, id, version) {
        Ok(v) => Ok(v.body.and_then(|b| serde_json::from_slice(&b).ok())),
        Err(StoreError::NotFound(_) | StoreError::Gone { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A caller some Consent denies.
struct Caller<'a> {
    store: &'a Store,
    org: &'a str,
    /// Denials in force now.
    active: Vec<Denial>,
    /// Every denial naming the Organization, in any period.
    naming: Vec<Denial>,
}

impl Caller<'_> {
    /// The entries of a Bundle this caller may not run, each judged as if
    /// it came alone.
    fn entries(&self, bundle: Option<&Value>) -> Vec<(usize, Error)> {
        each_entry(bundle, |i, route, entry| {
            let conditional = entry
                .get("request")
                .and_then(|r| r.get("ifNoneExist"))
                .is_some();
            let at = |e: Error| in_entry(i, e);
            self.judge(&route, conditional).map_err(at)?;
            if let Some(r) = entry.get("resource") {
                self.conditional_references(r).map_err(at)?;
            }
            Ok(())
        })
    }

    fn forbidden(&self, what: impl std::fmt::Display) -> Error {
        Error::Forbidden(format!(
            "{what}: a patient's Consent restricts Organization/{}, and its clients may not \
             change what the Consent protects",
            self.org
        ))
    }

    /// One route (the request's, or a Bundle entry's).
    fn judge(&self, route: &Route, conditional: bool) -> Result<(), Error> {
        match route {
            Route::Create(rt) if conditional => self.conditional(*rt),
            Route::ConditionalUpdate(rt) | Route::ConditionalDelete(rt) => self.conditional(*rt),
            Route::Update(rt, id) | Route::Patch(rt, id) | Route::Delete(rt, id) => {
                self.write_target(*rt, id, None)
            }
            Route::InstanceOperation(rt, id, _) if route.writes() => {
                self.write_target(*rt, id, None)
            }
            Route::VersionOperation(rt, id, v, _) if route.writes() => {
                self.write_target(*rt, id, None)?;
                self.write_target(*rt, id, Some(v))
            }
            Route::InstanceOperation(rt, id, _) => self.read_target(*rt, id, None),
            Route::VersionOperation(rt, id, v, _) => self.read_target(*rt, id, Some(v)),
            _ => Ok(()),
        }
    }

    /// A conditional write on `rt`: refused when a denial against the
    /// caller covers the type (whatever labels it names: the labels of
    /// what the search would match are not known before it runs), or for
    /// Consents when any Consent names the caller.
    fn conditional(&self, rt: ResourceType) -> Result<(), Error> {
        let refuse = || {
            Err(self.forbidden(format!(
                "a conditional write on {rt} could match data hidden from it"
            )))
        };
        if rt == ResourceType::Consent {
            return refuse();
        }
        let patient_data =
            rt == ResourceType::Patient || compartment_filter(rt.as_str(), "-").is_some();
        let covered = self
            .active
            .iter()
            .any(|d| d.classes.is_empty() || d.classes.iter().any(|c| c == rt.as_str()));
        if patient_data && covered {
            refuse()
        } else {
            Ok(())
        }
    }

    /// Conditional references (`Observation?subject=…`) a transaction would
    /// resolve by searching, anywhere in an entry's resource.
    fn conditional_references(&self, resource: &Value) -> Result<(), Error> {
        match resource {
            Value::Object(m) => {
                if let Some(r) = m.get("reference").and_then(Value::as_str) {
                    if let Some((t, _)) = r.split_once('?') {
                        if let Some(rt) = ResourceType::parse(t) {
                            self.conditional(rt)?;
                        }
                    }
                }
                m.values().try_for_each(|v| self.conditional_references(v))
            }
            Value::Array(a) => a.iter().try_for_each(|v| self.conditional_references(v)),
            _ => Ok(()),
        }
    }

    /// A write to a stored resource (or a version of it): refused when it
    /// is a Consent naming the caller, or hidden from the caller.
    fn write_target(&self, rt: ResourceType, id: &Id, version: Option<&Id>) -> Result<(), Error> {
        let Some(body) = stored(self.store, rt, id, version)? else {
            return Ok(());
        };
        if rt == ResourceType::Consent
            && rules::denials(&body)
                .iter()
                .any(|d| d.organization == self.org)
        {
            return Err(self.forbidden(format!("Consent/{id} denies it access")));
        }
        if self.hidden(rt, id, &body)? {
            return Err(self.forbidden(format!("{rt}/{id} is hidden from it")));
        }
        Ok(())
    }

    /// An operation reading a stored resource: 404 when hidden, as a read.
    fn read_target(&self, rt: ResourceType, id: &Id, version: Option<&Id>) -> Result<(), Error> {
        let Some(body) = stored(self.store, rt, id, version)? else {
            return Ok(()); // the handler's 404
        };
        if self.hidden(rt, id, &body)? {
            return Err(Error::NotFound(format!("{rt}/{id} is not known")));
        }
        Ok(())
    }

    fn hidden(&self, rt: ResourceType, id: &Id, body: &Value) -> Result<bool, Error> {
        if self.active.is_empty() {
            return Ok(false);
        }
        let key = (rt.as_str().to_owned(), id.as_str().to_owned());
        let item = Item {
            key: key.clone(),
            resource: Some(body),
        };
        Ok(super::filter::hidden(self.store, &self.active, &[item])?.contains(&key))
    }
}
