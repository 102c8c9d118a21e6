//! One AuditEvent per interaction, shaped by the IHE Basic Audit Log
//! Patterns (BALP) for RESTful FHIR interactions:
//!
//! - `type` `rest` (http://terminology.hl7.org/CodeSystem/audit-event-type),
//!   `subtype` the interaction code of http://hl7.org/fhir/restful-interaction
//!   (`read`, `vread`, `search-type`, `create`, `update`, `patch`, `delete`,
//!   `history-*`, `operation`, `batch`, `transaction`, `capabilities`);
//! - `action` C/R/U/D/E (searches and operations are E, as BALP's Query);
//! - `outcome` from the HTTP status: `0` below 400, `4` (minor failure) for
//!   4xx, `8` (serious failure) for 5xx; `outcomeDesc` the
//!   OperationOutcome's first diagnostics;
//! - `agent`: the client (DICOM 110153 Source Role ID, `client_id`, with its
//!   network address), the user (`sub`, `requestor`) when the token names
//!   one, and this server (110152 Destination Role ID). Without
//!   authorization the client is `anonymous`; a request refused before its
//!   token was accepted names `unauthenticated`;
//! - `source`: this server (security-source-type 4, application server);
//! - `entity`: the patient (audit-entity-type 1, object-role 1) when known,
//!   the resource (`Type/id`, with `_history/v` for a vread; object-role 4)
//!   and, for searches, the query string base64-encoded (object-role 24).
//!
//! The patient is the token's launch patient, else the Patient the URL
//! names (`Patient/x`, `Patient/x/$everything`, `Patient/x/Observation`),
//! else the `subject`/`patient` of the resource answered. A search across
//! many patients is one record whose query says what was asked.

use actix_web::http::Method;
use base64::Engine;
use serde_json::{json, Value};

use crate::route::{Operation, Route};
use crate::security::Access;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const BALP: &str = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/";

/// Who asked, as the audit record names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A verified token.
    Token(Access),
    /// Authorization is on and the request was refused before a token was
    /// accepted.
    Unauthenticated,
    /// An open server (no `--auth-issuer`).
    Anonymous,
}

/// What the audit middleware saw of one request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub status: u16,
    pub caller: &'a Caller,
    /// The client's network address (behind a `--trusted-proxy`, the
    /// client the proxy names: [`crate::forwarded::client_addr`]).
    pub peer: Option<String>,
    /// The server's name as the request addressed it (`Host`).
    pub host: &'a str,
    /// This server process (`serve --node-id`), when known.
    pub node: Option<&'a str>,
    /// The answer's body, when it is JSON.
    pub answer: Option<&'a Value>,
    /// `Location` or `Content-Location` of the answer.
    pub location: Option<&'a str>,
    pub recorded: &'a str,
}

/// The interaction code and action of a request, from its decoded route
/// (a path that does not decode is recorded as an operation).
pub fn interaction(
    method: &Method,
    path: &str,
    answer: Option<&Value>,
) -> (&'static str, &'static str) {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let route = match crate::route::classify_path(method, path) {
        Ok(c) => c.route,
        Err(_) => return ("operation", "E"),
    };
    match route {
        Route::Metadata | Route::SmartConfiguration => ("capabilities", "R"),
        Route::Search(_) | Route::CompartmentSearch { .. } => ("search-type", "E"),
        Route::SystemSearch => ("search-system", "E"),
        Route::Create(_) => ("create", "C"),
        Route::ConditionalDelete(_) | Route::Delete(..) => ("delete", "D"),
        Route::ConditionalUpdate(_) | Route::Update(..) => ("update", "U"),
        Route::Patch(..) => ("patch", "U"),
        Route::InstanceOperation(_, _, Operation::MetaAdd | Operation::MetaDelete)
        | Route::VersionOperation(_, _, _, Operation::MetaAdd | Operation::MetaDelete) => {
            ("operation", "U")
        }
        Route::Vread(..) => ("vread", "R"),
        Route::History(..) => ("history-instance", "R"),
        Route::Read(..) => ("read", "R"),
        Route::TypeHistory(_) => ("history-type", "R"),
        Route::SystemHistory => ("history-system", "R"),
        Route::Bundle => {
            let kind = answer.and_then(|a| a.get("type")).and_then(Value::as_str);
            if kind == Some("transaction-response") {
                ("transaction", "E")
            } else {
                ("batch", "E")
            }
        }
        // Never recorded (see `audit::middleware::record`); listed so a
        // new route must be placed here on purpose.
        Route::Liveness | Route::Readiness => ("operation", "E"),
        // Bulk Data export: a status poll or cancel, a file download.
        Route::ExportStatus(_) => ("operation", "E"),
        Route::ExportFile(..) => ("operation", "R"),
        Route::SystemOperation(_)
        | Route::TypeOperation(..)
        | Route::InstanceOperation(..)
        | Route::VersionOperation(..)
        | Route::MethodNotAllowed
        | Route::Unknown(_)
        | Route::Invalid(_) => ("operation", "E"),
    }
}

/// The BALP outcome code of an HTTP status.
pub fn outcome(status: u16) -> &'static str {
    match status {
        0..=399 => "0",
        400..=499 => "4",
        _ => "8",
    }
}

/// The AuditEvent (JSON, id `id`) recording `x`.
pub fn build(id: &str, x: &Exchange<'_>) -> Value {
    let (code, action) = interaction(x.method, x.path, x.answer);
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": id,
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation"
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": code}],
        "action": action,
        "recorded": x.recorded,
        "outcome": outcome(x.status),
        "agent": agents(x),
        "source": {
            "observer": observer(x),
            "type": [{
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server"
            }]
        }
    });
    if let Some(profile) = balp_profile(action, code) {
        event["meta"] = json!({"profile": [format!("{BALP}{profile}")]});
    }
    if x.status >= 400 {
        let desc = x
            .answer
            .and_then(|a| a.get("issue")?.get(0)?.get("diagnostics")?.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {}", x.status));
        event["outcomeDesc"] = json!(desc);
    }
    let entities = entities(x, code);
    if !entities.is_empty() {
        event["entity"] = Value::Array(entities);
    }
    event
}

/// The identifier system of node ids (`serve --node-id`).
pub const NODE_SYSTEM: &str = "http://fhir-server.local/fhir/NamingSystem/node-id";

/// `source.observer`, "the identity of source detecting the event": this
/// server as addressed, and the node (process) among several on one
/// database that recorded it.
fn observer(x: &Exchange<'_>) -> Value {
    match x.node {
        Some(node) => json!({
            "identifier": {"system": NODE_SYSTEM, "value": node},
            "display": format!("fhir-server node {node} at {}", x.host)
        }),
        None => json!({"display": format!("fhir-server at {}", x.host)}),
    }
}

fn balp_profile(action: &str, code: &str) -> Option<&'static str> {
    Some(match (action, code) {
        ("C", _) => "IHE.BasicAudit.Create",
        ("R", "read" | "vread") => "IHE.BasicAudit.Read",
        ("U", _) => "IHE.BasicAudit.Update",
        ("D", _) => "IHE.BasicAudit.Delete",
        (_, "search-type" | "search-system") => "IHE.BasicAudit.Query",
        _ => return None,
    })
}

fn agent_type(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": DCM, "code": code, "display": display}]})
}

fn agents(x: &Exchange<'_>) -> Vec<Value> {
    let (client, user) = match x.caller {
        Caller::Token(a) => (
            a.client_id
                .clone()
                .unwrap_or_else(|| "unknown client".into()),
            a.subject.clone(),
        ),
        Caller::Unauthenticated => ("unauthenticated".to_owned(), None),
        Caller::Anonymous => ("anonymous".to_owned(), None),
    };
    let mut client_agent = json!({
        "type": agent_type("110153", "Source Role ID"),
        "who": {"identifier": {"value": client}},
        "requestor": user.is_none(),
    });
    if let Some(addr) = &x.peer {
        client_agent["network"] = json!({"address": addr, "type": "2"});
    }
    let mut out = vec![client_agent];
    if let Some(sub) = user {
        out.push(json!({
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                "code": "humanuser",
                "display": "human user"
            }]},
            "who": {"identifier": {"value": sub}},
            "requestor": true,
        }));
    }
    out.push(json!({
        "type": agent_type("110152", "Destination Role ID"),
        "who": {"display": "fhir-server"},
        "requestor": false,
        "network": {"address": x.host, "type": "1"},
    }));
    out
}

fn entities(x: &Exchange<'_>, code: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(p) = patient(x) {
        out.push(json!({
            "what": {"reference": format!("Patient/{p}")},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        }));
    }
    if let Some(what) = resource_reference(x) {
        out.push(json!({
            "what": {"reference": what},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource"},
        }));
    }
    if code.starts_with("search") && !x.query.is_empty() {
        out.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"},
            "query": base64::engine::general_purpose::STANDARD.encode(x.query),
        }));
    }
    out
}

/// The path after `/fhir/`, split.
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix("/fhir")
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// `Type/id` (or `Type/id/_history/v`) of the resource the request is
/// about: from the URL, else (create) from the answer or its `Location`.
fn resource_reference(x: &Exchange<'_>) -> Option<String> {
    let s = segments(x.path);
    let is_type = |t: &str| fhir_model::ResourceType::parse(t).is_some();
    match s.as_slice() {
        [t, id, "_history", v, ..] if is_type(t) && !id.starts_with('$') => {
            return Some(format!("{t}/{id}/_history/{v}"))
        }
        [t, id, ..] if is_type(t) && !id.starts_with('$') && !id.starts_with('_') => {
            return Some(format!("{t}/{id}"))
        }
        _ => {}
    }
    if x.status >= 400 {
        return None;
    }
    if let Some(a) = x.answer {
        let t = a.get("resourceType").and_then(Value::as_str)?;
        if !matches!(
            t,
            "Bundle" | "OperationOutcome" | "Parameters" | "CapabilityStatement"
        ) {
            let id = a.get("id").and_then(Value::as_str)?;
            return Some(format!("{t}/{id}"));
        }
    }
    let loc = x.location?;
    let tail = loc.split("/fhir/").nth(1)?;
    let mut p = tail.split('/');
    Some(format!("{}/{}", p.next()?, p.next()?))
}

fn patient(x: &Exchange<'_>) -> Option<String> {
    if let Caller::Token(Access {
        patient: Some(p), ..
    }) = x.caller
    {
        return Some(p.clone());
    }
    if let ["Patient", id, ..] = segments(x.path).as_slice() {
        if !id.starts_with('$') && !id.starts_with('_') {
            return Some((*id).to_owned());
        }
    }
    let a = x.answer?;
    if a.get("resourceType").and_then(Value::as_str) == Some("Patient") {
        return a.get("id").and_then(Value::as_str).map(str::to_owned);
    }
    ["subject", "patient"].iter().find_map(|k| {
        a.get(*k)?
            .get("reference")?
            .as_str()?
            .strip_prefix("Patient/")
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x<'a>(
        method: &'a Method,
        path: &'a str,
        query: &'a str,
        status: u16,
        caller: &'a Caller,
        answer: Option<&'a Value>,
    ) -> Exchange<'a> {
        Exchange {
            method,
            path,
            query,
            status,
            caller,
            peer: Some("127.0.0.1".into()),
            host: "localhost",
            node: Some("node-a"),
            answer,
            location: None,
            recorded: "2026-12-05T00:00:00.000Z",
        }
    }

    #[test]
    fn interactions() {
        let i = |m: Method, p: &str| interaction(&m, p, None);
        assert_eq!(i(Method::GET, "/fhir/Patient/1"), ("read", "R"));
        assert_eq!(i(Method::GET, "/fhir/Patient/1/_history/2"), ("vread", "R"));
        assert_eq!(
            i(Method::GET, "/fhir/Patient/1/_history"),
            ("history-instance", "R")
        );
        assert_eq!(i(Method::GET, "/fhir/Patient"), ("search-type", "E"));
        assert_eq!(i(Method::POST, "/fhir/Patient"), ("create", "C"));
        assert_eq!(i(Method::PUT, "/fhir/Patient/1"), ("update", "U"));
        assert_eq!(i(Method::PATCH, "/fhir/Patient/1"), ("patch", "U"));
        assert_eq!(i(Method::DELETE, "/fhir/Patient?name=x"), ("delete", "D"));
        assert_eq!(
            i(Method::GET, "/fhir/Patient/1/$everything"),
            ("operation", "E")
        );
        let t = json!({"resourceType": "Bundle", "type": "transaction-response"});
        assert_eq!(
            interaction(&Method::POST, "/fhir", Some(&t)),
            ("transaction", "E")
        );
    }

    #[test]
    fn a_read_by_a_patient_token() {
        let access = Access {
            subject: Some("alice".into()),
            client_id: Some("app".into()),
            scopes: crate::security::scopes::ScopeSet::parse("patient/*.rs"),
            patient: Some("p1".into()),
            organization: None,
        };
        let caller = Caller::Token(access);
        let answer = json!({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}});
        let e = build(
            "a1",
            &x(
                &Method::GET,
                "/fhir/Observation/o1",
                "",
                200,
                &caller,
                Some(&answer),
            ),
        );
        assert_eq!(e["subtype"][0]["code"], "read");
        assert_eq!(e["source"]["observer"]["identifier"]["value"], "node-a");
        assert_eq!(e["outcome"], "0");
        assert_eq!(e["agent"][0]["who"]["identifier"]["value"], "app");
        assert_eq!(e["agent"][1]["who"]["identifier"]["value"], "alice");
        assert_eq!(e["agent"][1]["requestor"], true);
        assert_eq!(e["entity"][0]["what"]["reference"], "Patient/p1");
        assert_eq!(e["entity"][1]["what"]["reference"], "Observation/o1");
        assert_eq!(
            e["meta"]["profile"][0],
            format!("{BALP}IHE.BasicAudit.Read")
        );
        assert_valid(&e);
    }

    /// The store keeps records as built (it does not parse them into the
    /// model), so every record must be a valid R4 AuditEvent.
    fn assert_valid(e: &Value) {
        let bytes = serde_json::to_vec(e).unwrap();
        if let Err(issues) = fhir_model::Resource::from_json_slice(&bytes) {
            panic!("not a valid AuditEvent: {issues}\n{e:#}");
        }
    }

    #[test]
    fn a_failed_anonymous_search_keeps_its_query() {
        let oo = json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "bad"}]});
        let e = build(
            "a2",
            &x(
                &Method::GET,
                "/fhir/Observation",
                "code=x",
                400,
                &Caller::Anonymous,
                Some(&oo),
            ),
        );
        assert_eq!(e["outcome"], "4");
        assert_eq!(e["outcomeDesc"], "bad");
        assert_eq!(e["agent"][0]["who"]["identifier"]["value"], "anonymous");
        let q = e["entity"][0]["query"].as_str().unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(q).unwrap(),
            b"code=x"
        );
        assert_valid(&e);
    }
}
