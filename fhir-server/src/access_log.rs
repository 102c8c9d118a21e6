//! The access log: one line per request, written when the answer has been
//! sent (so it has the size and the whole time), at `info` with target
//! `access`: client address, the redacted request line (parameter names
//! only, see [`crate::http_headers::redacted_request_line`]), status,
//! bytes, user agent, seconds and the request id. Replaces actix's
//! `Logger`, which writes after the request's task has moved on and so
//! cannot tie its line to the request id.
//!
//! The client address is the TCP peer, or behind a `--trusted-proxy` the
//! client the proxy names ([`crate::forwarded::client_addr`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;

use crate::request_id::RequestId;

/// What the line says about the request, gathered before it runs.
struct Line {
    client: String,
    request: String,
    user_agent: String,
    id: Option<RequestId>,
    start: Instant,
    status: u16,
}

/// Middleware, inside [`crate::request_id::assign`].
pub async fn log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let line = Line {
        client: crate::forwarded::client_addr(req.request())
            .map_or_else(|| "-".to_owned(), |a| a.to_string()),
        request: crate::http_headers::redacted_request_line(&req),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned(),
        id: req.extensions().get::<RequestId>().cloned(),
        start: Instant::now(),
        status: 0,
    };
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    Ok(res.map_body(move |_, body| {
        BoxBody::new(Logged {
            body: BoxBody::new(body),
            line: Some(Line { status, ..line }),
            sent: 0,
        })
    }))
}

/// The answer's body, counting what is sent; writes the line when dropped
/// (sent whole, or the connection closed).
struct Logged {
    body: BoxBody,
    line: Option<Line>,
    sent: u64,
}

impl MessageBody for Logged {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            this.sent += chunk.len() as u64;
        }
        polled
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(l) = self.line.take() else {
            return;
        };
        let id = l.id.clone();
        let text = format!(
            "{} \"{}\" {} {} \"{}\" {:.6} {}",
            l.client,
            l.request,
            l.status,
            self.sent,
            l.user_agent.replace(['"', '\\'], "'"),
            l.start.elapsed().as_secs_f64(),
            id.as_ref().map_or("-", RequestId::as_str),
        );
        crate::request_id::on_this_thread(id, || log::info!(target: "access", "{text}"));
    }
}
