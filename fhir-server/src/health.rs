//! `/healthz` and `/readyz`, for load balancers and orchestrators (issue
//! #18 item 7), outside the FHIR base, public and not audited, but routed
//! like everything else: the route classifier names them
//! ([`crate::route::Route::Liveness`], [`crate::route::Route::Readiness`]),
//! so the deny-by-default layers know them.
//!
//! - `/healthz` answers 200 while the process can serve HTTP at all: a
//!   failing liveness check means "restart me".
//! - `/readyz` answers 200 only when this node can answer FHIR requests:
//!   a database connection within [`DATABASE_TIMEOUT`] that answers, no
//!   migration of this binary left to apply, and the caches loaded at
//!   start (the server listens only once they are). Otherwise 503 with a
//!   JSON reason: "take me out of rotation", not "restart me". With the
//!   database down, `/fhir/metadata` still answers (it needs none), and
//!   `/readyz` is what tells the load balancer.
//!
//! The bodies are plain JSON (`application/json`), not FHIR: probes read
//! the status; people read the reason. They never carry data, and say
//! `Cache-Control: no-store` so no proxy answers for a node.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;

/// How long `/readyz` waits for a database connection. A probe runs every
/// few seconds with a timeout of its own (often 1 to 5 s); answering 503
/// within it beats the probe timing out.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`.
pub async fn liveness() -> HttpResponse {
    answer(true, json!({"status": "alive", "node": node()}))
}

/// `GET /readyz`.
pub async fn readiness(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let check = web::block(move || store.check_ready(DATABASE_TIMEOUT));
    // The blocking pool itself may be saturated (or a connect may hang in
    // the kernel): the answer must not wait longer than the check.
    let reason = match actix_web::rt::time::timeout(DATABASE_TIMEOUT * 2, check).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e.to_string()),
        Ok(Err(e)) => Some(format!("the readiness check failed: {e}")),
        Err(_) => Some(format!(
            "the database did not answer within {} s",
            (DATABASE_TIMEOUT * 2).as_secs()
        )),
    };
    match reason {
        None => answer(
            true,
            json!({
                "status": "ready",
                "node": node(),
                "checks": {"database": "ok", "migrations": "ok", "caches": "ok"}
            }),
        ),
        Some(reason) => {
            log::warn!("not ready: {reason}");
            answer(
                false,
                json!({"status": "not ready", "node": node(), "reason": reason}),
            )
        }
    }
}

fn node() -> Option<&'static str> {
    crate::node_id::get().map(|n| n.as_str())
}

fn answer(ok: bool, body: serde_json::Value) -> HttpResponse {
    let mut res = if ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body.to_string())
}
