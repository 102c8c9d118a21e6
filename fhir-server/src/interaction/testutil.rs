//! Helpers for the REST tests: an in-process app per backend and a small
//! reply type that reads status, headers and body in one go.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::test;
use serde_json::Value;

use crate::app::{build_app, AppState};
use crate::store::Store;

/// Small, so the 413 test need not send megabytes.
pub(crate) const TEST_BODY_LIMIT: usize = 64 * 1024;

pub(crate) use crate::store::testutil::backends;

pub(crate) async fn app(
    store: &Store,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(build_app(AppState {
        store: store.clone(),
        max_body_bytes: TEST_BODY_LIMIT,
        validator: Default::default(),
        terminology: Default::default(),
    }))
    .await
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an OperationOutcome error with this status and first issue code.
    pub fn assert_outcome(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some(crate::error::FHIR_JSON));
        let oo = self.json();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["code"], code, "{oo}");
        oo
    }
}

pub(crate) async fn send<S, B>(app: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = test::read_body(resp).await.to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// A request with a FHIR JSON body.
pub(crate) fn with_json(req: test::TestRequest, body: &Value) -> test::TestRequest {
    req.insert_header(("content-type", "application/fhir+json"))
        .set_payload(body.to_string())
}
