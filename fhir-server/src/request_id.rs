//! One id per request (issue #18 item 9): taken from the client's (or the
//! load balancer's) `X-Request-Id` when it is a sane token, generated
//! otherwise, echoed as `X-Request-Id` on every response, and attached to
//! every log line written while the request is served (the access log
//! line included), so one request can be followed across a proxy, a node
//! and its log.
//!
//! An incoming id is only taken when it is 1 to 64 characters of
//! `[A-Za-z0-9._-]`: anything else (spaces, quotes, newlines, a megabyte)
//! could forge or break log lines, so it is replaced by a fresh UUID
//! rather than refused: the request itself is fine.

use std::cell::RefCell;
use std::future::Future;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use crate::node_id::is_token_byte;

/// The header read and echoed.
pub const HEADER: &str = "x-request-id";

/// Longest incoming id taken as is.
const MAX_LEN: usize = 64;

/// A request's id, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The client's id when it is a sane token, else a new one.
    pub fn from_header(value: Option<&[u8]>) -> Self {
        match value {
            Some(v)
                if !v.is_empty() && v.len() <= MAX_LEN && v.iter().all(|b| is_token_byte(*b)) =>
            {
                // All ASCII, so this is the same text.
                RequestId(String::from_utf8_lossy(v).into_owned())
            }
            _ => RequestId::generate(),
        }
    }

    pub fn generate() -> Self {
        RequestId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

tokio::task_local! {
    /// The id of the request whose future is being polled.
    static CURRENT: RequestId;
}

thread_local! {
    /// The id of the request a blocking call or a late log line (the access
    /// log, written when the body is sent) belongs to.
    static ON_THREAD: RefCell<Option<RequestId>> = const { RefCell::new(None) };
}

/// The id of the request this code runs for, if any: what the logger
/// attaches to a line.
pub fn current() -> Option<RequestId> {
    ON_THREAD
        .with(|c| c.borrow().clone())
        .or_else(|| CURRENT.try_with(Clone::clone).ok())
}

/// Runs `f` with `id` as [`current`] on this thread (blocking calls; the
/// access log line); the previous one is restored afterwards.
pub fn on_this_thread<T>(id: Option<RequestId>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<RequestId>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            ON_THREAD.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = ON_THREAD.with(|c| c.replace(id));
    let _restore = Restore(previous);
    f()
}

/// Runs the request future `f` with `id` as [`current`].
async fn within<F: Future>(id: RequestId, f: F) -> F::Output {
    CURRENT.scope(id, f).await
}

/// Middleware (outermost): gives the request its id and echoes it.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = RequestId::from_header(req.headers().get(HEADER).map(HeaderValue::as_bytes));
    req.extensions_mut().insert(id.clone());
    let header = HeaderValue::from_str(id.as_str()).ok();
    let mut res = within(id, next.call(req)).await?.map_into_boxed_body();
    if let Some(v) = header {
        res.headers_mut().insert(HeaderName::from_static(HEADER), v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        let id = |v: &[u8]| RequestId::from_header(Some(v)).0;
        assert_eq!(id(b"abc-123_X.y"), "abc-123_X.y");
        assert_eq!(id(&[b'a'; 64]), "a".repeat(64));
        for bad in [
            &b""[..],
            b"a b",
            b"a\"b",
            b"x\ny",
            &[b'a'; 65],
            "é".as_bytes(),
        ] {
            let got = id(bad);
            assert_ne!(got.as_bytes(), bad);
            assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
        }
        assert!(uuid::Uuid::parse_str(&RequestId::from_header(None).0).is_ok());
    }

    #[test]
    fn the_thread_id_is_restored() {
        assert_eq!(current(), None);
        let id = RequestId::generate();
        on_this_thread(Some(id.clone()), || assert_eq!(current(), Some(id.clone())));
        assert_eq!(current(), None);
    }
}
