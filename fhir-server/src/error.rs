//! The server's one error type and the one place failures become HTTP.
//!
//! Every failure answers with an OperationOutcome (never actix's plain-text
//! bodies): handlers return `Result<_, Error>`, and the extractor error
//! handlers installed in [`crate::app`] convert framework rejections with
//! the same function, [`Error::response`].
//!
//! | variant                | HTTP | `issue.code`      | when |
//! |------------------------|------|-------------------|------|
//! | `Invalid`              | 400  | per issue: `invalid`, `structure`, `value`, `required`, `not-supported` | malformed JSON, not an object, unknown element, bad primitive, wrong `resourceType`, id mismatch, bad parameter, malformed patch document |
//! | `NotFound`             | 404  | `not-found`       | unknown resource, version, resource type or route |
//! | `MethodNotAllowed`     | 405  | `not-supported`   | a known route with a method it does not have (`Allow` lists the ones it has) |
//! | `Conflict`             | 409  | `conflict`        | writers kept colliding on one resource |
//! | `Gone`                 | 410  | `deleted`         | read or vread of a deleted resource/version |
//! | `PayloadTooLarge`      | 413  | `too-costly`      | body over `--max-body-bytes` |
//! | `NotAcceptable`        | 406  | `not-supported`   | `_format` names a format this server does not write |
//! | `PreconditionFailed`   | 412  | `conflict`        | `If-Match` names a version that is not the current one |
//! | `UnsupportedMediaType` | 415  | `not-supported`   | body not sent as FHIR JSON or FHIR XML (or, for PATCH, JSON Patch) |
//! | `Unprocessable`        | 422  | per issue: `processing`, `invalid`, `structure`, `value`, or the validator's own (`invariant`, `code-invalid`, `extension`, `business-rule`, …) | a well-formed PATCH that cannot be applied (path matches nothing or too much, failed `test`) or whose result is not a valid resource; a write that breaks the base spec's write rules (a code outside a required binding, dom-2, dom-4: `StoreError::Unprocessable`) |
//! | `Unauthorized`         | 401  | `login` (`expired`) | bearer token missing, malformed, badly signed, expired, or for another issuer/audience (`WWW-Authenticate: Bearer`, RFC 6750 §3) |
//! | `Forbidden`            | 403  | `forbidden`       | the token's SMART scopes do not grant the interaction (`WWW-Authenticate: Bearer error="insufficient_scope"`) |
//! | `UriTooLong`           | 414  | `too-costly`      | a request target longer than [`crate::request_target::MAX_TARGET_BYTES`] |
//! | `HeadTooLarge`         | 431  | `too-costly`      | a request head (request line and header fields) larger than actix-http reads |
//! | `NotImplemented`       | 501  | `not-supported`   | an operation the specification defines at a level this server does not implement (type-level `$everything`, type/system `$meta`), named in the message |
//! | `Unavailable`          | 503  | `transient`       | database unreachable or busy, or every pooled connection in use for `--pool-timeout-secs`; `Retry-After` says when to try again |
//! | `Fault`                | 500  | `exception`       | a bug or broken database; detail logged, not sent |
//!
//! Client errors (4xx) are logged at `info`, faults at `error`.

use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use fhir_model::{IssueKind, ParseError};
use serde_json::{json, Value};

use crate::store::StoreError;

/// The media type of every body this server sends.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// OperationOutcome `issue.code` values this server uses
/// (valueset-issue-type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    Invalid,
    Structure,
    Required,
    Value,
    NotSupported,
    NotFound,
    Deleted,
    Conflict,
    TooCostly,
    Transient,
    Exception,
    Processing,
    Login,
    Expired,
    Forbidden,
    Timeout,
    Invariant,
    TooLong,
    CodeInvalid,
    Extension,
    BusinessRule,
    Informational,
}

impl IssueCode {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::NotSupported => "not-supported",
            IssueCode::NotFound => "not-found",
            IssueCode::Deleted => "deleted",
            IssueCode::Conflict => "conflict",
            IssueCode::TooCostly => "too-costly",
            IssueCode::Timeout => "timeout",
            IssueCode::Transient => "transient",
            IssueCode::Exception => "exception",
            IssueCode::Processing => "processing",
            IssueCode::Login => "login",
            IssueCode::Expired => "expired",
            IssueCode::Forbidden => "forbidden",
            IssueCode::Invariant => "invariant",
            IssueCode::TooLong => "too-long",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::Extension => "extension",
            IssueCode::BusinessRule => "business-rule",
            IssueCode::Informational => "informational",
        }
    }
}

/// The validator's issue codes, each kept as it is.
impl From<profiles::IssueType> for IssueCode {
    fn from(t: profiles::IssueType) -> IssueCode {
        use profiles::IssueType as T;
        match t {
            T::Invalid => IssueCode::Invalid,
            T::Structure => IssueCode::Structure,
            T::Required => IssueCode::Required,
            T::Value => IssueCode::Value,
            T::Invariant => IssueCode::Invariant,
            T::CodeInvalid => IssueCode::CodeInvalid,
            T::Extension => IssueCode::Extension,
            T::BusinessRule => IssueCode::BusinessRule,
            T::NotSupported => IssueCode::NotSupported,
            T::NotFound => IssueCode::NotFound,
            T::TooLong => IssueCode::TooLong,
            T::Informational => IssueCode::Informational,
            T::Processing => IssueCode::Processing,
        }
    }
}

/// A validator finding as the client sees it: its issue code as the
/// validator gave it (`extension`, `business-rule`, `invariant`, …), its
/// message and its location.
impl From<&profiles::Issue> for Issue {
    fn from(i: &profiles::Issue) -> Issue {
        Issue::new(i.code.into(), i.message.clone()).at(i.expression.clone())
    }
}

/// One OperationOutcome issue: what went wrong and where (a FHIRPath-style
/// expression such as `Patient.birthDate`, when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub code: IssueCode,
    pub diagnostics: String,
    pub expression: Option<String>,
}

impl Issue {
    pub fn new(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self {
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    pub fn at(mut self, expression: impl Into<String>) -> Self {
        let e = expression.into();
        self.expression = (!e.is_empty()).then_some(e);
        self
    }
}

/// Everything that can go wrong while answering a request (see the table in
/// the module doc for status and `issue.code`).
#[derive(Debug)]
pub enum Error {
    /// The request is wrong; carries every issue found, not just the first.
    Invalid(Vec<Issue>),
    NotFound(String),
    MethodNotAllowed {
        method: String,
        allow: &'static str,
    },
    Conflict(String),
    /// http.html#read: a deleted resource answers 410, not 404, so clients
    /// can tell "never existed" from "deleted".
    Gone {
        message: String,
        version: i32,
    },
    PayloadTooLarge {
        limit: usize,
    },
    /// The body did not arrive within `serve --body-timeout-secs`: a slow
    /// (or stalled) client must not hold a worker and its memory forever.
    BodyTimeout {
        secs: u64,
    },
    UnsupportedMediaType(String),
    NotAcceptable(String),
    /// http.html#concurrency: a stale `If-Match` is 412, so a client can tell
    /// "someone else changed it" from a bad request.
    PreconditionFailed(String),
    /// http.html#patch: a patch the server understood but could not apply,
    /// or whose result is not a valid resource, is 422 (RFC 5789 §2.2),
    /// not 400: the patch document itself is well-formed, and the client
    /// must change it for this resource's current content.
    Unprocessable(Vec<Issue>),
    /// RFC 6750 §3: the request carried no usable bearer token. The
    /// problem picks the issue code (`expired` tells a client to refresh)
    /// and whether `WWW-Authenticate` names `invalid_token` (§3.1: not
    /// when no token was sent at all).
    Unauthorized {
        message: String,
        problem: TokenProblem,
    },
    /// RFC 6750 §3.1 `insufficient_scope`: a valid token whose scopes do
    /// not cover the request.
    Forbidden(String),
    /// RFC 9110 §15.5.15: the request target is longer than the server
    /// will read.
    UriTooLong {
        limit: usize,
    },
    /// RFC 6585 §5: the header fields are larger than the server reads
    /// (found by the connection layer, `crate::wire`).
    HeadTooLarge {
        limit: usize,
    },
    /// RFC 9110 §15.6.2: a defined operation this server does not
    /// implement; the message names it, so a client is not told the
    /// operation's name is a bad id or type.
    NotImplemented(String),
    /// 503 rather than 500: the request was fine and may succeed later.
    Unavailable(String),
    Fault(String),
}

/// Why a request is [`Error::Unauthorized`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization: Bearer` header.
    Missing,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// Anything else: malformed, bad signature, unknown key, wrong
    /// issuer or audience, not yet valid.
    Invalid,
}

impl Error {
    /// A single-issue 400.
    pub fn invalid(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Error::Invalid(vec![Issue::new(code, diagnostics)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Gone { .. } => StatusCode::GONE,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Error::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Fault(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The issues the client sees. Fault details stay in the log.
    pub fn issues(&self) -> Vec<Issue> {
        let one = |code, msg: String| vec![Issue::new(code, msg)];
        match self {
            Error::Invalid(issues) | Error::Unprocessable(issues) => issues.clone(),
            Error::NotFound(m) => one(IssueCode::NotFound, m.clone()),
            Error::MethodNotAllowed { method, allow } => one(
                IssueCode::NotSupported,
                format!("method {method} is not allowed here; allowed: {allow}"),
            ),
            Error::Conflict(m) => one(IssueCode::Conflict, m.clone()),
            Error::Gone { message, .. } => one(IssueCode::Deleted, message.clone()),
            Error::BodyTimeout { secs } => one(
                IssueCode::Timeout,
                format!(
                    "the request body did not arrive within {secs} s; send it faster, \
                     or start the server with a higher `serve --body-timeout-secs`"
                ),
            ),
            Error::PayloadTooLarge { limit } => one(
                IssueCode::TooCostly,
                format!(
                    "the request body is larger than this server's limit of {limit} bytes \
                     ({:.1} MiB); send less per request (split a Bundle into several), \
                     or start the server with a higher `serve --max-body-bytes`",
                    *limit as f64 / (1024.0 * 1024.0)
                ),
            ),
            Error::UnsupportedMediaType(m) | Error::NotAcceptable(m) | Error::NotImplemented(m) => {
                one(IssueCode::NotSupported, m.clone())
            }
            Error::UriTooLong { limit } => one(
                IssueCode::TooCostly,
                format!(
                    "the request target (path and query) is longer than this server's limit \
                     of {limit} bytes; send long searches as POST [type]/_search with a form body"
                ),
            ),
            Error::HeadTooLarge { limit } => one(
                IssueCode::TooCostly,
                format!(
                    "the request line and header fields are larger than this server's limit \
                     of {limit} bytes"
                ),
            ),
            Error::PreconditionFailed(m) => one(IssueCode::Conflict, m.clone()),
            Error::Unauthorized { message, problem } => one(
                if *problem == TokenProblem::Expired {
                    IssueCode::Expired
                } else {
                    IssueCode::Login
                },
                message.clone(),
            ),
            Error::Forbidden(m) => one(IssueCode::Forbidden, m.clone()),
            Error::Unavailable(_) => one(
                IssueCode::Transient,
                "the database is unavailable; try again later".to_owned(),
            ),
            Error::Fault(_) => one(
                IssueCode::Exception,
                "internal server error; see the server log".to_owned(),
            ),
        }
    }

    /// The same error with `what` said first in each issue's diagnostics
    /// (`tx-resource[0] cannot be used: …`), for a failure inside one part
    /// of a request; the issue codes and locations stay.
    pub fn context(self, what: &str) -> Error {
        let prefix = |issues: Vec<Issue>| -> Vec<Issue> {
            issues
                .into_iter()
                .map(|mut i| {
                    i.diagnostics = format!("{what}: {}", i.diagnostics);
                    i
                })
                .collect()
        };
        match self {
            Error::Invalid(issues) => Error::Invalid(prefix(issues)),
            Error::Unprocessable(issues) => Error::Unprocessable(prefix(issues)),
            Error::NotFound(m) => Error::NotFound(format!("{what}: {m}")),
            other => other,
        }
    }

    /// The HTTP response: status, headers and OperationOutcome body. Also
    /// logs: faults at `error` with their detail, client errors at `info`
    /// with their issue codes and locations only: diagnostics quote the
    /// request (search values, identifiers), which must not reach the log.
    pub fn response(&self) -> HttpResponse {
        let status = self.status();
        match self {
            Error::Fault(detail) => log::error!("internal error: {detail}"),
            Error::Unavailable(detail) => log::error!("database unavailable: {detail}"),
            other => log::info!("{} {}", status.as_u16(), IssueCodesDisplay(&other.issues())),
        }
        let mut builder = HttpResponse::build(status);
        builder.insert_header((header::CONTENT_TYPE, FHIR_JSON));
        match self {
            Error::MethodNotAllowed { allow, .. } => {
                builder.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            Error::Gone { version, .. } => {
                builder.insert_header((header::ETAG, format!("W/\"{version}\"")));
            }
            Error::Unauthorized {
                problem: TokenProblem::Missing,
                ..
            } => {
                builder.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"fhir\""),
                ));
            }
            Error::Unauthorized { message, .. } => {
                builder.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"fhir\", error=\"invalid_token\", error_description=\"{}\"",
                        message.replace(['"', '\\'], "'")
                    ),
                ));
            }
            Error::Forbidden(_) => {
                builder.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"fhir\", error=\"insufficient_scope\""),
                ));
            }
            // RFC 9110 §10.2.3: a busy pool or a database restart passes
            // in seconds; clients and load balancers that honour it back
            // off instead of hammering the node.
            Error::Unavailable(_) => {
                builder.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&operation_outcome(&self.issues())).unwrap_or_default();
        builder.body(body)
    }
}

/// `Retry-After` of a 503: seconds.
pub const RETRY_AFTER_SECS: u32 = 2;

/// Builds an OperationOutcome (all issues `severity: error`).
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut v =
                json!({"severity": "error", "code": i.code.as_str(), "diagnostics": i.diagnostics});
            if let (Some(e), Value::Object(m)) = (&i.expression, &mut v) {
                m.insert("expression".into(), json!([e]));
            }
            v
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

struct IssuesDisplay<'a>(&'a [Issue]);

impl fmt::Display for IssuesDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, i) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            match &i.expression {
                Some(e) => write!(f, "{e}: {}", i.diagnostics)?,
                None => f.write_str(&i.diagnostics)?,
            }
        }
        Ok(())
    }
}

/// Issues as `code at expression`, without the diagnostics: what a log
/// line may say about a client error.
struct IssueCodesDisplay<'a>(&'a [Issue]);

impl fmt::Display for IssueCodesDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, i) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            f.write_str(i.code.as_str())?;
            if let Some(e) = &i.expression {
                write!(f, " at {e}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Fault(d) | Error::Unavailable(d) => write!(f, "{}: {d}", self.status()),
            other => write!(f, "{}: {}", other.status(), IssuesDisplay(&other.issues())),
        }
    }
}

impl std::error::Error for Error {}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        let issues = e
            .issues
            .into_iter()
            .map(|i| {
                let code = match i.kind {
                    IssueKind::Syntax => IssueCode::Invalid,
                    IssueKind::Structure | IssueKind::UnknownElement => IssueCode::Structure,
                    IssueKind::Value => IssueCode::Value,
                    IssueKind::UnknownResourceType => IssueCode::Invalid,
                };
                Issue::new(code, i.message).at(i.expression)
            })
            .collect();
        Error::Invalid(issues)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Error::NotFound(format!("{what} is not known")),
            StoreError::Gone { what, version, .. } => Error::Gone {
                message: format!("{what} was deleted (version {version})"),
                version,
            },
            StoreError::VersionConflict(m) | StoreError::Contention(m) => Error::Conflict(m),
            StoreError::PreconditionFailed(m) => Error::PreconditionFailed(m),
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::BadRequest(m) => Error::invalid(IssueCode::Value, m),
            StoreError::ReadOnly(m) => Error::MethodNotAllowed {
                method: format!("writing an AuditEvent ({m})"),
                allow: "GET, HEAD",
            },
            StoreError::Unprocessable(issues) => {
                Error::Unprocessable(issues.into_iter().map(|i| Issue::from(&i)).collect())
            }
            StoreError::Config(m) | StoreError::Fault(m) => Error::Fault(m),
        }
    }
}

/// A terminology error as the server answers it: what the request names
/// and the engine does not know (system, code, value set, map) is 404;
/// the rest is the request's fault (400) with the issue code of what is
/// wrong (`too-costly`, `not-supported`, else `invalid`: a resource the
/// engine cannot index, with where, a code of the wrong shape, a bad CSV
/// line).
impl From<terminology::Error> for Error {
    fn from(e: terminology::Error) -> Self {
        use terminology::Error as T;
        if e.category() == terminology::Category::NotFound {
            return Error::NotFound(e.to_string());
        }
        let code = match &e {
            T::TooCostly { .. } => IssueCode::TooCostly,
            T::NotSupported(_) => IssueCode::NotSupported,
            _ => IssueCode::Invalid,
        };
        let issue = Issue::new(code, e.to_string());
        Error::Invalid(vec![match e {
            T::Invalid { path, .. } => issue.at(path),
            _ => issue,
        }])
    }
}

impl From<actix_web::error::BlockingError> for Error {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Error::Fault(format!("blocking task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use fhir_model::ParseIssue;

    use super::*;

    #[test]
    fn validator_issue_codes_are_kept() {
        use profiles::IssueType as T;
        for code in [
            T::Invalid,
            T::Structure,
            T::Required,
            T::Value,
            T::Invariant,
            T::CodeInvalid,
            T::Extension,
            T::BusinessRule,
            T::NotSupported,
            T::NotFound,
            T::TooLong,
            T::Informational,
            T::Processing,
        ] {
            let found =
                profiles::Issue::new(profiles::Severity::Error, code, "Patient.extension[0]", "x");
            let issue = Issue::from(&found);
            assert_eq!(issue.code.as_str(), code.as_str());
            assert_eq!(issue.expression.as_deref(), Some("Patient.extension[0]"));
        }
    }

    #[test]
    fn a_refused_write_keeps_the_validator_codes() {
        let e = Error::from(StoreError::Unprocessable(vec![profiles::Issue::new(
            profiles::Severity::Error,
            profiles::IssueType::BusinessRule,
            "Questionnaire.item[0]",
            "x",
        )]));
        assert_eq!(e.issues()[0].code, IssueCode::BusinessRule);
    }

    async fn outcome(e: Error) -> (u16, Value) {
        let resp = e.response();
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(FHIR_JSON)
        );
        let body = to_bytes(resp.into_body()).await.expect("body");
        (
            status,
            serde_json::from_slice(&body).expect("OperationOutcome JSON"),
        )
    }

    #[actix_web::test]
    async fn every_variant_has_its_status_and_code() {
        let cases = [
            (Error::invalid(IssueCode::Value, "x"), 400, "value"),
            (Error::NotFound("x".into()), 404, "not-found"),
            (
                Error::MethodNotAllowed {
                    method: "PATCH".into(),
                    allow: "GET",
                },
                405,
                "not-supported",
            ),
            (Error::Conflict("x".into()), 409, "conflict"),
            (
                Error::Gone {
                    message: "x".into(),
                    version: 2,
                },
                410,
                "deleted",
            ),
            (Error::PayloadTooLarge { limit: 1 }, 413, "too-costly"),
            (
                Error::UnsupportedMediaType("x".into()),
                415,
                "not-supported",
            ),
            (
                Error::Unprocessable(vec![Issue::new(IssueCode::Processing, "x")]),
                422,
                "processing",
            ),
            (Error::Unavailable("x".into()), 503, "transient"),
            (Error::Fault("x".into()), 500, "exception"),
        ];
        for (e, status, code) in cases {
            let (s, oo) = outcome(e).await;
            assert_eq!(s, status);
            assert_eq!(oo["resourceType"], "OperationOutcome");
            assert_eq!(oo["issue"][0]["code"], code);
            assert_eq!(oo["issue"][0]["severity"], "error");
        }
    }

    /// Issue #18 item 6: a request that found every pooled connection busy
    /// (r2d2's timeout, as `Store` reports it) is a transient 503 that says
    /// when to come back.
    #[test]
    fn an_exhausted_pool_is_a_503_with_retry_after() {
        let e = Error::from(StoreError::Unavailable(
            "timed out waiting for connection".into(),
        ));
        let res = e.response();
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some(RETRY_AFTER_SECS.to_string().as_str())
        );
        assert_eq!(e.issues()[0].code, IssueCode::Transient);
    }

    #[actix_web::test]
    async fn faults_do_not_leak_detail() {
        let (_, oo) = outcome(Error::Fault("SELECT secret FROM t".into())).await;
        assert!(!oo.to_string().contains("secret"));
    }

    #[actix_web::test]
    async fn parse_issues_keep_every_path() {
        let e = ParseError {
            issues: vec![
                ParseIssue {
                    kind: IssueKind::UnknownElement,
                    expression: "Patient.foo".into(),
                    message: "unknown".into(),
                },
                ParseIssue {
                    kind: IssueKind::Value,
                    expression: "Patient.birthDate".into(),
                    message: "bad date".into(),
                },
                ParseIssue {
                    kind: IssueKind::Syntax,
                    expression: String::new(),
                    message: "EOF".into(),
                },
            ],
        };
        let (s, oo) = outcome(e.into()).await;
        assert_eq!(s, 400);
        assert_eq!(oo["issue"][0]["code"], "structure");
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.foo");
        assert_eq!(oo["issue"][1]["code"], "value");
        assert_eq!(oo["issue"][1]["expression"][0], "Patient.birthDate");
        assert_eq!(oo["issue"][2]["code"], "invalid");
        assert!(oo["issue"][2].get("expression").is_none());
    }

    #[test]
    fn store_errors_map_to_http() {
        let gone = StoreError::Gone {
            what: "Patient/1".into(),
            version: 2,
            last_updated: String::new(),
        };
        assert_eq!(Error::from(gone).status(), StatusCode::GONE);
        assert_eq!(
            Error::from(StoreError::NotFound("x".into())).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            Error::from(StoreError::VersionConflict("x".into())).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            Error::from(StoreError::Unavailable("x".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Error::from(StoreError::Fault("x".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[actix_web::test]
    async fn terminology_errors_keep_their_issue_code_and_location() {
        let engine = |bytes: &[u8]| match terminology::ValueSet::from_json(bytes) {
            Err(e) => e,
            Ok(_) => panic!("a ValueSet the engine should refuse"),
        };
        let shape = match terminology::japanese::HotCode::parse_any("12AB") {
            Err(e) => e,
            Ok(c) => panic!("{c:?} is not a HOT code"),
        };
        let cases = [
            (
                engine(br#"{"resourceType":"ValueSet","compose":{"include":[{}]}}"#),
                400,
                "invalid",
            ),
            (shape, 400, "invalid"),
            (
                terminology::Error::NotSupported("the filter 'x' is not supported".into()),
                400,
                "not-supported",
            ),
            (
                terminology::Error::TooCostly {
                    url: "http://ex/vs".into(),
                    limit: 10,
                },
                400,
                "too-costly",
            ),
            (
                terminology::Error::UnknownValueSet {
                    url: "http://ex/nope".into(),
                    version: None,
                },
                404,
                "not-found",
            ),
        ];
        for (e, status, code) in cases {
            let message = e.to_string();
            let (got, body) = outcome(Error::from(e.clone())).await;
            assert_eq!(
                (got, body["issue"][0]["code"].as_str()),
                (status, Some(code)),
                "{e:?}"
            );
            assert_eq!(body["issue"][0]["severity"], "error");
            assert_eq!(
                body["issue"][0]["diagnostics"].as_str(),
                Some(message.as_str())
            );
        }
        let invalid = engine(br#"{"resourceType":"ValueSet","compose":{"include":[{}]}}"#);
        let path = match &invalid {
            terminology::Error::Invalid { path, .. } => path.clone(),
            other => panic!("{other:?} is not Invalid"),
        };
        let (_, body) =
            outcome(Error::from(invalid).context("tx-resource[0] cannot be used")).await;
        assert_eq!(body["issue"][0]["code"], "invalid");
        assert_eq!(
            body["issue"][0]["expression"][0].as_str(),
            Some(path.as_str())
        );
        assert!(body["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.starts_with("tx-resource[0] cannot be used: invalid resource at")));
    }
}
