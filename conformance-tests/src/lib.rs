//! Black-box harness: starts the real `fhir-server` binary and talks HTTP.
//!
//! # Brief overview
//!
//! A test asks for a [`TestServer`] on a [`Backend`]. The harness finds the
//! server executable ([`server::server_binary`]: `FHIR_SERVER_BIN`, or a
//! `cargo build -p fhir-server` run once per test process), gives it a
//! database of its own (a SQLite file in a temporary directory, or a fresh
//! PostgreSQL database, see [`postgres`]), starts it on a free loopback port
//! and waits until `GET /fhir/metadata` answers. The test then drives it with
//! a [`Client`], whose [`Response`]s carry status, headers and body even for
//! 4xx and 5xx answers. Dropping the server kills the process and removes its
//! database.
//!
//! [`backend_tests!`] writes each test twice, as `<name>_sqlite` and
//! `<name>_postgres`. The PostgreSQL variants fail when PostgreSQL cannot be
//! reached, unless `FHIR_TEST_SKIP_POSTGRES=1`.
//!
//! [`examples_pkg`] reads the official R4 examples package for the
//! round-trip test and the benchmark; [`synthea`] the Synthea set for the
//! loading tests and benchmarks, and [`memory`] measures the peak memory
//! of the processes a benchmark starts. [`tools`] holds the one rule for a
//! test whose tool (node, a Python venv, the fetched examples, curl) is
//! missing: a failure under `CI=true`, a loud skip elsewhere.
//!
//! Nothing here links to `fhir-server`: the only way in is HTTP.

pub mod audit;
pub mod consent;
pub mod examples_pkg;
pub mod http;
pub mod memory;
pub mod nodes;
pub mod postgres;
pub mod raw_http;
pub mod replica;
pub mod search_params;
pub mod second_node;
pub mod server;
pub mod smart;
pub mod synthea;
pub mod tools;

pub use http::{Client, Response, FHIR_JSON};
pub use server::{Backend, TestServer};

#[doc(hidden)]
pub use paste;

use serde_json::Value;

/// Runs `test` against a fresh server on `backend` and stops the server
/// afterwards. Skips (returns at once, saying so on stderr) when
/// [`Backend::skipped`].
pub fn run_on(backend: Backend, extra_args: &[&str], test: impl FnOnce(&TestServer)) {
    if backend.skipped() {
        eprintln!("skipped: FHIR_TEST_SKIP_POSTGRES=1");
        return;
    }
    let server = TestServer::start_with_args(backend, extra_args);
    test(&server);
}

/// Declares each test once and gets it on both backends.
///
/// ```ignore
/// backend_tests! {
///     /// Doc comments and attributes are kept.
///     fn read_answers_200(server) {
///         let c = server.client();
///         // …
///     }
///     fn too_big(server) with ["--max-body-bytes", "1024"] {
///         // the server was started with these extra `serve` arguments
///     }
/// }
/// ```
///
/// expands to `#[test] fn read_answers_200_sqlite()` and
/// `#[test] fn read_answers_200_postgres()`, each with its own server.
#[macro_export]
macro_rules! backend_tests {
    () => {};
    ($(#[$meta:meta])* fn $name:ident($server:ident) with [$($arg:expr),* $(,)?] $body:block $($rest:tt)*) => {
        $crate::backend_tests!(@one [$(#[$meta])*] $name $server [$($arg),*] $body);
        $crate::backend_tests!($($rest)*);
    };
    ($(#[$meta:meta])* fn $name:ident($server:ident) $body:block $($rest:tt)*) => {
        $crate::backend_tests!(@one [$(#[$meta])*] $name $server [] $body);
        $crate::backend_tests!($($rest)*);
    };
    (@one [$(#[$meta:meta])*] $name:ident $server:ident [$($arg:expr),*] $body:block) => {
        $crate::paste::paste! {
            $(#[$meta])*
            #[test]
            fn [<$name _sqlite>]() {
                $crate::run_on($crate::Backend::Sqlite, &[$($arg),*], |$server: &$crate::TestServer| $body);
            }
            $(#[$meta])*
            #[test]
            fn [<$name _postgres>]() {
                $crate::run_on($crate::Backend::Postgres, &[$($arg),*], |$server: &$crate::TestServer| $body);
            }
        }
    };
}

/// Gets each test function `f(Backend)` (which starts its own server, for
/// example with [`smart::run_with_auth`]) as `f_sqlite` and `f_postgres`.
///
/// ```ignore
/// both_backends!(authorization_per_entry, consent_per_entry);
/// ```
#[macro_export]
macro_rules! both_backends {
    ($($f:ident),* $(,)?) => {
        $(
            $crate::paste::paste! {
                #[test]
                fn [<$f _sqlite>]() { $f($crate::Backend::Sqlite) }
                #[test]
                fn [<$f _postgres>]() { $f($crate::Backend::Postgres) }
            }
        )*
    };
}

/// The FHIR JSON content type every answer with a body must carry.
pub const FHIR_JSON_UTF8: &str = "application/fhir+json; charset=utf-8";

/// Asserts that `resp` carries `Content-Type: application/fhir+json; charset=utf-8`
/// (compared without case and spaces, as media-type parameters allow).
#[track_caller]
pub fn assert_fhir_json_content_type(resp: &Response) {
    let ct = resp
        .header("content-type")
        .unwrap_or_else(|| panic!("no Content-Type; body: {}", resp.text()));
    let norm = |s: &str| s.to_ascii_lowercase().replace(' ', "");
    assert_eq!(norm(ct), norm(FHIR_JSON_UTF8), "Content-Type");
}

/// Asserts that `resp` is an error OperationOutcome as the FHIR http page
/// asks: the given `status`, a FHIR JSON body with `resourceType`
/// `OperationOutcome`, a first issue with severity `error` whose `code` is one
/// of `codes` (the IssueType codes that fit the failure), a non-empty
/// human-readable text, and, when `expression` is given, an issue whose
/// `expression` list names exactly that path.
#[track_caller]
pub fn assert_outcome(
    resp: &Response,
    status: u16,
    codes: &[&str],
    expression: Option<&str>,
) -> Value {
    assert_eq!(resp.status, status, "HTTP status; body: {}", resp.text());
    assert_fhir_json_content_type(resp);
    let body = resp.json();
    assert_eq!(body["resourceType"], "OperationOutcome", "body: {body}");
    let issues = body["issue"]
        .as_array()
        .unwrap_or_else(|| panic!("OperationOutcome without issue: {body}"));
    assert!(!issues.is_empty(), "OperationOutcome with no issue: {body}");
    let first = &issues[0];
    assert_eq!(first["severity"], "error", "issue[0].severity: {body}");
    let code = first["code"]
        .as_str()
        .unwrap_or_else(|| panic!("issue[0].code missing: {body}"));
    assert!(
        codes.contains(&code),
        "issue[0].code is {code:?}, expected one of {codes:?}: {body}"
    );
    let text = first["diagnostics"]
        .as_str()
        .or_else(|| first["details"]["text"].as_str())
        .unwrap_or("");
    assert!(
        !text.trim().is_empty(),
        "issue[0] says nothing (no diagnostics or details.text): {body}"
    );
    if let Some(expr) = expression {
        let named = issues.iter().any(|i| {
            i["expression"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e == expr))
                || i["location"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e == expr))
        });
        assert!(named, "no issue names {expr:?} in expression: {body}");
    }
    body
}

/// The version in a weak ETag `W/"3"` → `"3"`; panics on another shape.
#[track_caller]
pub fn etag_version(resp: &Response) -> String {
    let etag = resp
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag header; status {}", resp.status));
    etag.strip_prefix("W/\"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("ETag {etag:?} is not W/\"n\""))
        .to_string()
}

/// A small valid Patient with no id, for creates.
pub fn sample_patient() -> Value {
    serde_json::json!({
        "resourceType": "Patient",
        "active": true,
        "name": [{"family": "Yamada", "given": ["Taro"]}],
        "gender": "male",
        "birthDate": "1970-01-01"
    })
}

/// POSTs a sample Patient and returns its server-assigned id (read from the
/// `Location` header, which the spec requires); asserts 201.
#[track_caller]
pub fn create_patient(client: &Client) -> String {
    let resp = client.post("/Patient", &sample_patient());
    resp.expect_status(201);
    location(&resp).id
}

/// PUTs `r` at its own `[type]/[id]`; asserts 200 or 201.
#[track_caller]
pub fn put_resource(client: &Client, r: Value) {
    let path = format!(
        "/{}/{}",
        r["resourceType"].as_str().unwrap_or(""),
        r["id"].as_str().unwrap_or("")
    );
    let resp = client.put(&path, &r);
    assert!(
        resp.status == 200 || resp.status == 201,
        "PUT {path}: {} {}",
        resp.status,
        resp.text()
    );
}

/// The parts of a `Location: …/fhir/{type}/{id}/_history/{vid}` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The resource type segment.
    pub resource_type: String,
    /// The logical id.
    pub id: String,
    /// The version id.
    pub version: String,
}

/// Parses the `Location` header of a create or update answer; panics unless
/// it has the shape `[base]/{type}/{id}/_history/{vid}` with base ending in `/fhir`.
#[track_caller]
pub fn location(resp: &Response) -> Location {
    let loc = resp
        .header("location")
        .unwrap_or_else(|| panic!("no Location header; status {}", resp.status));
    let path = loc
        .split_once("/fhir/")
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("Location {loc:?} is not under /fhir/"));
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [rt, id, "_history", vid] if !rt.is_empty() && !id.is_empty() && !vid.is_empty() => {
            Location {
                resource_type: rt.to_string(),
                id: id.to_string(),
                version: vid.to_string(),
            }
        }
        _ => panic!("Location {loc:?} is not [base]/{{type}}/{{id}}/_history/{{vid}}"),
    }
}

/// The `next` link of a Bundle, when it has one.
pub fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}
