//! history: `GET [base]/[type]/[id]/_history`, `GET [base]/[type]/_history`
//! and `GET [base]/_history` (<https://hl7.org/fhir/R4/http.html#history>).
//!
//! Answers a `history` Bundle, newest first (by `lastUpdated`, which is
//! the database's clock: see `store/write_clock.rs`). Parameters: `_count` (page
//! size, default 50, at most 1000; `0` returns only `total`), `_since` (an
//! instant; versions written at or after it), `_at` (a date at any
//! precision: the versions current at some point of the period it stands
//! for, so `_at=2020` is every version alive in 2020) and `_cursor`, which the server
//! puts in `next` links: it is the global write position of the last entry
//! shown, so the next page starts right after it however many versions are
//! written meanwhile (an offset would shift under concurrent writes).
//! Unknown parameters are ignored (the spec's lenient handling); the
//! `self` link lists only the parameters applied. The history of an id
//! that never existed is 404, like its read.
//!
//! Polling: a `_since` answer lists only versions stamped before its
//! Bundle `meta.lastUpdated`, a horizon under which no write still in
//! flight (on any node) can appear later; a client that sends that value
//! as its next `_since` misses no write (`store/write_clock.rs`). Without
//! `_since`, a write still in flight while a page is read can be skipped
//! by the pages after it (a new first page shows it).
//!
//! Entry bodies are spliced into the Bundle as stored, never re-parsed.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{base_url, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode, FHIR_JSON};
use crate::store::{
    format_instant, now_instant, HistoryPage, HistoryQuery, HistoryScope, StoreError, StoredVersion,
};

const DEFAULT_COUNT: i64 = 50;
const MAX_COUNT: i64 = 1000;

type Params = web::Query<Vec<(String, String)>>;

pub async fn instance(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    params: Params,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let scope = HistoryScope::Instance(resource_type(&rt)?, url_id(&id)?);
    respond(req, state, scope, params).await
}

pub async fn type_level(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: Params,
) -> Result<HttpResponse, Error> {
    let scope = HistoryScope::Type(resource_type(&path)?);
    respond(req, state, scope, params).await
}

pub async fn system(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, Error> {
    respond(req, state, HistoryScope::System, params).await
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Paging {
    count: i64,
    since: Option<String>,
    /// `_at` as given, and the inclusive period it stands for.
    at: Option<(String, (String, String))>,
    cursor: Option<i64>,
}

/// The inclusive period of an `_at` value, in the stored instant form.
fn at_period(v: &str) -> Option<(String, String)> {
    let (lo, hi) = crate::search::value::date_range(v)?;
    let instant = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(format_instant)
            .unwrap_or_else(|| {
                if ms < 0 {
                    String::new()
                } else {
                    "9".repeat(24)
                }
            })
    };
    Some((instant(lo), instant(hi)))
}

fn parse_params(params: &[(String, String)]) -> Result<Paging, Error> {
    let mut p = Paging {
        count: DEFAULT_COUNT,
        ..Paging::default()
    };
    let mut issues = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "_count" => match v.parse::<i64>() {
                Ok(n) if n >= 0 => p.count = n.min(MAX_COUNT),
                _ => issues.push(
                    Issue::new(IssueCode::Value, format!("_count must be a non-negative integer, not {v:?}")).at("_count"),
                ),
            },
            "_since" => match chrono::DateTime::parse_from_rfc3339(v) {
                Ok(t) => p.since = Some(format_instant(t.with_timezone(&chrono::Utc))),
                Err(_) => issues.push(
                    Issue::new(
                        IssueCode::Value,
                        format!("_since must be an instant with time zone (e.g. 2026-01-01T00:00:00Z), not {v:?}"),
                    )
                    .at("_since"),
                ),
            },
            "_at" => match at_period(v) {
                Some(period) => p.at = Some((v.clone(), period)),
                None => issues.push(
                    Issue::new(
                        IssueCode::Value,
                        format!("_at must be a date, dateTime or instant (e.g. 2026-01-01), not {v:?}"),
                    )
                    .at("_at"),
                ),
            },
            "_cursor" => match v.parse::<i64>() {
                Ok(n) if n > 0 => p.cursor = Some(n),
                _ => issues.push(
                    Issue::new(IssueCode::Value, format!("_cursor {v:?} is not one this server issued")).at("_cursor"),
                ),
            },
            _ => {}
        }
    }
    if issues.is_empty() {
        Ok(p)
    } else {
        Err(Error::Invalid(issues))
    }
}

async fn respond(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: HistoryScope,
    params: Params,
) -> Result<HttpResponse, Error> {
    let (query, paging) = history_query(scope, &params)?;
    let store = state.store.clone();
    let page = run(move || {
        let page = store.history(&query)?;
        // The history of an id that never existed is a 404, as its read
        // is; a deleted resource's history still lists its versions.
        if let (0, HistoryScope::Instance(rt, id)) = (page.total, &query.scope) {
            if let Err(e @ StoreError::NotFound(_)) = store.read(*rt, id) {
                return Err(e);
            }
        }
        Ok(page)
    })
    .await?;
    let base = base_url(&req);
    let body = history_bundle(&base, req.path(), &paging, &page);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body))
}

/// What a history request asks for (its parameters checked) and its
/// paging; also what a Bundle entry's `_history` runs.
pub(crate) fn history_query(
    scope: HistoryScope,
    params: &[(String, String)],
) -> Result<(HistoryQuery, Paging), Error> {
    let paging = parse_params(params)?;
    let query = HistoryQuery {
        scope,
        since: paging.since.clone(),
        at: paging.at.as_ref().map(|(_, period)| period.clone()),
        before: paging.cursor,
        count: paging.count,
    };
    Ok((query, paging))
}

/// The history Bundle of one page: `path` is the request path
/// (`/fhir/Patient/x/_history`) its links name; both links carry the
/// parameters applied, and nothing that was ignored.
pub(crate) fn history_bundle(
    base: &str,
    path: &str,
    paging: &Paging,
    page: &HistoryPage,
) -> Vec<u8> {
    let page_url = |cursor: Option<i64>| {
        let mut url = format!(
            "{}{}?_count={}",
            base.trim_end_matches("/fhir"),
            path,
            paging.count
        );
        if let Some(s) = &paging.since {
            url.push_str("&_since=");
            url.push_str(&encode_query_value(s));
        }
        if let Some((at, _)) = &paging.at {
            url.push_str("&_at=");
            url.push_str(&encode_query_value(at));
        }
        if let Some(c) = cursor {
            url.push_str(&format!("&_cursor={c}"));
        }
        url
    };
    let self_url = page_url(paging.cursor);
    let next_url = page.next_before.map(|cursor| page_url(Some(cursor)));
    bundle(base, &self_url, next_url.as_deref(), page)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn push_field(out: &mut Vec<u8>, first: &mut bool, key: &str, value: &[u8]) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value);
}

/// Opens a Bundle of `kind` (`history`, `searchset`) written by hand:
/// `{`, resourceType, a fresh id, meta.lastUpdated and type.
pub(crate) fn bundle_head(out: &mut Vec<u8>, first: &mut bool, kind: &str) {
    bundle_head_at(out, first, kind, &now_instant());
}

/// [`bundle_head`] with a given `meta.lastUpdated` (a `_since` history
/// page states its safe horizon there).
fn bundle_head_at(out: &mut Vec<u8>, first: &mut bool, kind: &str, last_updated: &str) {
    out.push(b'{');
    push_field(out, first, "resourceType", b"\"Bundle\"");
    push_field(
        out,
        first,
        "id",
        &to_json(&json!(uuid::Uuid::new_v4().to_string())),
    );
    push_field(
        out,
        first,
        "meta",
        &to_json(&json!({ "lastUpdated": last_updated })),
    );
    push_field(out, first, "type", &to_json(&json!(kind)));
}

pub(crate) fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Serialises the Bundle by hand so stored resource bytes go in unchanged.
fn bundle(base: &str, self_url: &str, next_url: Option<&str>, page: &HistoryPage) -> Vec<u8> {
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(n) = next_url {
        links.push(json!({"relation": "next", "url": n}));
    }
    let mut out = Vec::with_capacity(
        256 + page
            .entries
            .iter()
            .map(|e| e.body.as_ref().map_or(0, Vec::len) + 256)
            .sum::<usize>(),
    );
    let mut first = true;
    // With `_since`, the horizon before which this answer is complete:
    // the `_since` of the next poll (`store/write_clock.rs`).
    let last_updated = page.as_of.clone().unwrap_or_else(now_instant);
    bundle_head_at(&mut out, &mut first, "history", &last_updated);
    push_field(
        &mut out,
        &mut first,
        "total",
        page.total.to_string().as_bytes(),
    );
    push_field(&mut out, &mut first, "link", &to_json(&Value::Array(links)));
    if !page.entries.is_empty() {
        let mut entries = vec![b'['];
        for (n, e) in page.entries.iter().enumerate() {
            if n > 0 {
                entries.push(b',');
            }
            entry(&mut entries, base, e);
        }
        entries.push(b']');
        push_field(&mut out, &mut first, "entry", &entries);
    }
    out.push(b'}');
    out
}

fn entry(out: &mut Vec<u8>, base: &str, e: &StoredVersion) {
    let (url, status) = match e.method.as_str() {
        "POST" => (e.resource_type.clone(), "201 Created"),
        "DELETE" => (format!("{}/{}", e.resource_type, e.id), "204 No Content"),
        _ if e.version == 1 => (format!("{}/{}", e.resource_type, e.id), "201 Created"),
        _ => (format!("{}/{}", e.resource_type, e.id), "200 OK"),
    };
    let mut first = true;
    out.push(b'{');
    push_field(
        out,
        &mut first,
        "fullUrl",
        &to_json(&json!(format!("{base}/{}/{}", e.resource_type, e.id))),
    );
    if let (Some(body), false) = (&e.body, e.deleted) {
        push_field(out, &mut first, "resource", body);
    }
    push_field(
        out,
        &mut first,
        "request",
        &to_json(&json!({"method": e.method, "url": url})),
    );
    push_field(
        out,
        &mut first,
        "response",
        &to_json(
            &json!({"status": status, "etag": super::etag(e.version), "lastModified": e.last_updated}),
        ),
    );
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn params_defaults_and_limits() {
        assert_eq!(parse_params(&[]).expect("empty").count, 50);
        assert_eq!(
            parse_params(&pairs(&[("_count", "5000")]))
                .expect("clamped")
                .count,
            1000
        );
        let p = parse_params(&pairs(&[
            ("_since", "2026-01-01T01:00:00+01:00"),
            ("_cursor", "7"),
        ]))
        .expect("ok");
        assert_eq!(p.since.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(p.cursor, Some(7));
        match parse_params(&pairs(&[("_count", "-1"), ("_since", "yesterday")])) {
            Err(Error::Invalid(issues)) => assert_eq!(issues.len(), 2),
            other => panic!("expected two issues, got {other:?}"),
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query_value("2026-01-01T00:00:00.000Z"),
            "2026-01-01T00%3A00%3A00.000Z"
        );
    }

    #[actix_web::test]
    async fn bundles_page_through_next_links() {
        use actix_web::test::TestRequest;

        use crate::interaction::testutil::{app, backends, send, with_json};

        for db in backends() {
            let app = app(&db.store).await;
            for i in 0..3 {
                let body = json!({"resourceType": "Patient", "id": "h1", "gender": if i % 2 == 0 { "male" } else { "female" }});
                send(
                    &app,
                    with_json(TestRequest::put().uri("/fhir/Patient/h1"), &body),
                )
                .await;
            }
            let obs =
                json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
            send(
                &app,
                with_json(TestRequest::post().uri("/fhir/Observation"), &obs),
            )
            .await;
            send(&app, TestRequest::delete().uri("/fhir/Patient/h1")).await;

            let r = send(
                &app,
                TestRequest::get().uri("/fhir/Patient/h1/_history?_count=2"),
            )
            .await;
            assert_eq!(r.status, 200, "{}", db.label);
            let b = r.json();
            assert_eq!(
                (
                    b["resourceType"].as_str(),
                    b["type"].as_str(),
                    b["total"].as_i64()
                ),
                (Some("Bundle"), Some("history"), Some(4))
            );
            let e0 = &b["entry"][0];
            assert!(e0.get("resource").is_none(), "a deletion has no resource");
            assert_eq!(e0["request"]["method"], "DELETE");
            assert_eq!(e0["response"]["etag"], "W/\"4\"");
            assert!(e0["fullUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with("/fhir/Patient/h1")));
            assert_eq!(b["entry"][1]["resource"]["meta"]["versionId"], "3");
            assert_eq!(b["entry"][1]["response"]["status"], "200 OK");
            let next = b["link"][1]["url"]
                .as_str()
                .expect("a next link")
                .to_owned();
            assert_eq!(b["link"][1]["relation"], "next");
            let path = &next[next.find("/fhir/").expect("absolute URL")..];
            let b2 = send(&app, TestRequest::get().uri(path)).await.json();
            let versions: Vec<_> = b2["entry"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["response"]["etag"].clone())
                .collect();
            assert_eq!(
                versions,
                [json!("W/\"2\""), json!("W/\"1\"")],
                "{}",
                db.label
            );
            assert_eq!(
                b2["entry"][1]["request"],
                json!({"method": "PUT", "url": "Patient/h1"})
            );
            assert_eq!(b2["entry"][1]["response"]["status"], "201 Created");
            assert_eq!(
                b2["link"].as_array().map(Vec::len),
                Some(1),
                "last page has no next"
            );

            let ty = send(&app, TestRequest::get().uri("/fhir/Observation/_history"))
                .await
                .json();
            assert_eq!(ty["total"], 1);
            assert_eq!(
                ty["entry"][0]["request"],
                json!({"method": "POST", "url": "Observation"})
            );
            let sys = send(&app, TestRequest::get().uri("/fhir/_history"))
                .await
                .json();
            assert_eq!(sys["total"], 5);
            let since = send(
                &app,
                TestRequest::get().uri("/fhir/_history?_since=2999-01-01T00:00:00Z"),
            )
            .await
            .json();
            assert_eq!(since["total"], 0);
            assert!(since.get("entry").is_none());
            send(&app, TestRequest::get().uri("/fhir/_history?_count=x"))
                .await
                .assert_outcome(400, "value");
        }
    }
}
