//! Which requests may read from a replica (`serve --replica-database`,
//! issue #18), and read-your-writes across the replicas and the nodes.
//!
//! - A read-only request (read, vread, search — `POST _search` too —,
//!   history, compartment search, `$everything`) runs in a
//!   [`ReplicaRead`] scope, which `interaction::run` carries to the
//!   blocking thread; the store then serves its read calls from a replica
//!   that has replayed the scope's position (`fhir_store::store::replica`).
//!   Every other request (writes, Bundles, every other operation) has no
//!   scope, so all it does is on the primary.
//! - After any other request that may write (not GET, HEAD or OPTIONS)
//!   the primary's WAL position is read (at or
//!   past every commit the request made) and answered in
//!   `X-Commit-Position` (`0/16B3748`), and remembered for the client in
//!   this node ([`ReadYourWrites`]). A read's position is the later of the
//!   header it carries (another node's answer: a client behind a load
//!   balancer sends it back) and what this node remembers for the client.
//! - The client is the token's subject and app when authorization is on,
//!   else the client's address ([`crate::forwarded::client_addr`]).
//!
//! A malformed `X-Commit-Position` is a 400: silently ignoring it would
//! turn a client's read-your-writes into a possibly stale read.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use crate::app::AppState;
use crate::error::{Error, IssueCode};
use crate::route::{Classified, Operation, Route};
use crate::security::context::Access;
use crate::store::replica::{CommitPosition, ReplicaRead};

/// The header a write's commit position is answered in and a read's is
/// taken from.
pub const HEADER: &str = "x-commit-position";

/// Clients remembered per node; past this the table is emptied and its
/// latest position becomes everyone's floor (reads then wait for more
/// than they need, never for less).
const MAX_CLIENTS: usize = 100_000;

/// The last write position of each client of this node.
#[derive(Debug, Default)]
pub struct ReadYourWrites {
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    by_client: HashMap<String, CommitPosition>,
    /// The latest position of the clients forgotten.
    floor: Option<CommitPosition>,
}

impl ReadYourWrites {
    fn wrote(&self, client: String, at: CommitPosition) {
        let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if k.by_client.len() >= MAX_CLIENTS && !k.by_client.contains_key(&client) {
            let newest = k.by_client.drain().map(|(_, p)| p).max();
            k.floor = k.floor.max(newest);
        }
        let slot = k.by_client.entry(client).or_insert(at);
        *slot = (*slot).max(at);
    }

    fn last_write(&self, client: &str) -> Option<CommitPosition> {
        let k = self.known.lock().unwrap_or_else(|p| p.into_inner());
        k.by_client.get(client).copied().max(k.floor)
    }
}

tokio::task_local! {
    /// The replica scope of the read request whose future is polled.
    static READ: ReplicaRead;
}

/// The replica scope of the request this code runs for: `None` (the
/// primary) outside a read-only request.
pub fn current() -> Option<ReplicaRead> {
    READ.try_with(|r| *r).ok()
}

/// Whether `route` only reads data, so it may be served by a replica.
fn reads_only(route: &Route, method: &Method) -> bool {
    match route {
        Route::Read(..)
        | Route::Vread(..)
        | Route::History(..)
        | Route::TypeHistory(_)
        | Route::SystemHistory
        | Route::CompartmentSearch { .. } => true,
        // `POST [type]/_search` is classified here too.
        Route::Search(_) | Route::SystemSearch => true,
        Route::InstanceOperation(_, _, Operation::Everything)
        | Route::TypeOperation(_, Operation::Everything) => {
            method == Method::GET || method == Method::HEAD
        }
        _ => false,
    }
}

/// Who the client is, for [`ReadYourWrites`].
fn client_key(req: &ServiceRequest) -> String {
    if let Some(a) = req.extensions().get::<Access>() {
        return format!(
            "token {} {}",
            a.subject.as_deref().unwrap_or(""),
            a.client_id.as_deref().unwrap_or("")
        );
    }
    match crate::forwarded::client_addr(req.request()) {
        Some(ip) => format!("address {ip}"),
        None => "address unknown".into(),
    }
}

/// Middleware (inside authorization, so the caller is known; only active
/// when the store has replicas): see the module doc.
pub async fn route(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ryw = req.app_data::<web::Data<ReadYourWrites>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let route = req
        .extensions()
        .get::<Classified>()
        .map(|c| c.route.clone());
    let (Some(ryw), Some(state), Some(route)) = (ryw, state, route) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if state.store.replicas().is_none() {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let carried = match req.headers().get(HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) => match text.trim().parse::<CommitPosition>() {
            Ok(p) => Some(p),
            Err(e) => {
                let e = Error::invalid(IssueCode::Invalid, format!("{HEADER}: {e}"));
                return Ok(req.into_response(e.response()));
            }
        },
        Some(Err(_)) => {
            let e = Error::invalid(IssueCode::Invalid, format!("{HEADER} is not ASCII"));
            return Ok(req.into_response(e.response()));
        }
    };
    let client = client_key(&req);
    let method = req.method().clone();
    if reads_only(&route, &method) {
        let read = ReplicaRead {
            at: carried.max(ryw.last_write(&client)),
        };
        return READ
            .scope(read, next.call(req))
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        // Changes no data (metadata, the other operations): the primary,
        // and no position to hand out.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let store = state.store.clone();
    match web::block(move || store.commit_position()).await {
        Ok(Ok(Some(at))) => {
            ryw.wrote(client, at);
            if let Ok(v) = HeaderValue::from_str(&at.to_string()) {
                res.headers_mut().insert(HeaderName::from_static(HEADER), v);
            }
        }
        Ok(Ok(None)) => {}
        // The answer stands; the client's next read may be stale.
        Ok(Err(e)) => log::warn!("commit position not read after a write: {e}"),
        Err(e) => log::warn!("commit position not read after a write: {e}"),
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> CommitPosition {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_reads_at_its_latest_write_and_forgotten_ones_at_the_floor() {
        let ryw = ReadYourWrites::default();
        assert_eq!(ryw.last_write("a"), None);
        ryw.wrote("a".into(), at("0/20"));
        ryw.wrote("a".into(), at("0/10"));
        assert_eq!(ryw.last_write("a"), Some(at("0/20")));
        assert_eq!(ryw.last_write("b"), None);
        {
            let mut k = ryw.known.lock().unwrap();
            for i in 0..MAX_CLIENTS {
                k.by_client.insert(format!("c{i}"), at("0/5"));
            }
        }
        ryw.wrote("new".into(), at("0/30"));
        // "a" was forgotten: it now reads at the floor, no earlier.
        assert_eq!(ryw.last_write("a"), Some(at("0/20")));
        assert_eq!(ryw.last_write("new"), Some(at("0/30")));
        assert_eq!(ryw.last_write("b"), Some(at("0/20")));
    }

    #[test]
    fn clients_are_told_apart_by_token_else_by_address() {
        use actix_web::test::TestRequest;
        let token = |sub: &str| {
            let req = TestRequest::default()
                .peer_addr("10.0.0.1:5000".parse().unwrap())
                .to_srv_request();
            req.extensions_mut().insert(Access {
                subject: Some(sub.into()),
                client_id: Some("app".into()),
                scopes: Default::default(),
                patient: None,
                organization: None,
            });
            client_key(&req)
        };
        assert_eq!(token("alice"), token("alice"));
        assert_ne!(token("alice"), token("bob"));
        let by_address = |ip: &str| {
            let req = TestRequest::default()
                .peer_addr(format!("{ip}:5000").parse().unwrap())
                .to_srv_request();
            client_key(&req)
        };
        assert_ne!(by_address("10.0.0.1"), by_address("10.0.0.2"));
        assert_ne!(by_address("10.0.0.1"), token("alice"));
    }

    #[test]
    fn only_reads_may_use_a_replica() {
        let rt = fhir_model::ResourceType::Patient;
        let id = || fhir_model::primitives::Id::new("p").unwrap();
        assert!(reads_only(&Route::Read(rt, id()), &Method::GET));
        assert!(reads_only(&Route::Search(rt), &Method::POST));
        assert!(reads_only(
            &Route::InstanceOperation(rt, id(), Operation::Everything),
            &Method::GET
        ));
        assert!(!reads_only(
            &Route::InstanceOperation(rt, id(), Operation::Everything),
            &Method::POST
        ));
        for write in [
            Route::Create(rt),
            Route::Update(rt, id()),
            Route::Delete(rt, id()),
            Route::ConditionalUpdate(rt),
            Route::Bundle,
        ] {
            assert!(!reads_only(&write, &Method::GET), "{write:?}");
        }
    }
}
