//! The local-code operations (see [`crate::local_codes`]):
//!
//! - `POST [base]/CodeSystem/$import-codes?kind=lab|drug&system=URL` with
//!   the master as a `text/csv` body: the same import as the CLI's
//!   `import-codes` ([`crate::local_codes::import`]); answers a Parameters
//!   summary (`concepts`, one `conceptMap` part per target system with its
//!   url and number of mappings, one `withoutMapping` per local code that
//!   maps to nothing).
//! - `GET [base]/CodeSystem/$unmapped-codes`: the report of local codes
//!   written without a mapping, still unmapped now: one `code` part per
//!   (system, code) with `count` (writes carrying it), `firstSeen` and
//!   `lastSeen`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use terminology::local_codes::Kind;

use crate::app::AppState;
use crate::error::{Error, IssueCode, FHIR_JSON};
use crate::interaction::{read_bytes, run};

fn respond(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body.to_string())
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Result<&'a str, Error> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            Error::invalid(
                IssueCode::Required,
                format!("$import-codes needs the query parameter {name}"),
            )
        })
}

/// `POST [base]/CodeSystem/$import-codes`.
pub async fn import_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let query = query.into_inner();
    let kind_text = param(&query, "kind")?;
    let kind = Kind::parse(kind_text).ok_or_else(|| {
        Error::invalid(
            IssueCode::Value,
            format!("kind must be lab or drug, not {kind_text:?}"),
        )
    })?;
    let system = param(&query, "system")?.to_owned();
    let csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().eq_ignore_ascii_case("text/csv"))
        .unwrap_or(false);
    if !csv {
        return Err(Error::UnsupportedMediaType(
            "$import-codes takes the master as a text/csv body".into(),
        ));
    }
    let body = read_bytes(&req, payload, state.max_body_bytes).await?;
    let store = state.store.clone();
    let summary =
        run(move || crate::local_codes::import::run(&store, kind, &system, &body)).await?;
    Ok(respond(summary.parameters()))
}

/// `GET [base]/CodeSystem/$unmapped-codes`.
pub async fn unmapped_codes(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let store = state.store.clone();
    let body = run(move || {
        let mapper = store.local_codes().snapshot(&store)?.mapper;
        let rows = store.unmapped_codes()?;
        let parameter: Vec<Value> = rows
            .into_iter()
            // A code mapped since it was seen is no longer a problem.
            .filter(|r| {
                mapper
                    .lookup(&r.system, &r.code)
                    .is_none_or(<[_]>::is_empty)
            })
            .map(|r| {
                json!({"name": "code", "part": [
                    {"name": "system", "valueUri": r.system},
                    {"name": "code", "valueCode": r.code},
                    {"name": "count", "valueInteger": r.count},
                    {"name": "firstSeen", "valueInstant": r.first_seen},
                    {"name": "lastSeen", "valueInstant": r.last_seen},
                ]})
            })
            .collect();
        Ok::<_, Error>(json!({"resourceType": "Parameters", "parameter": parameter}))
    })
    .await?;
    Ok(respond(body))
}
