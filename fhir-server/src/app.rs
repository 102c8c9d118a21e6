//! The route table: every URL the server answers, in one place.
//!
//! | method | path                                  | interaction |
//! |--------|---------------------------------------|-------------|
//! | GET, HEAD | `/fhir/metadata` (`mode=terminology`: TerminologyCapabilities) | [`capabilities`] |
//! | GET, HEAD | `/.well-known/smart-configuration`, `/fhir/.well-known/smart-configuration` | [`smart_config`] (public; 404 without authorization) |
//! | GET, HEAD | `/healthz`, `/readyz`                 | [`health`] (public, not audited, plain JSON) |
//! | GET, HEAD | `/fhir/_history`                   | [`history::system`] |
//! | POST   | `/fhir`                               | [`bundle`] (batch, transaction) |
//! | GET, HEAD | `/fhir`                            | [`search::system`] (`_type`) |
//! | GET, HEAD, POST | `/fhir/$meta`, `/fhir/$everything` | [`not_implemented`] (501 naming the operation) |
//! | POST   | `/fhir/_search`                       | [`search::post_system`] |
//! | POST   | `/fhir/{type}`                        | [`create`] (`If-None-Exist`: conditional) |
//! | PUT    | `/fhir/{type}?…`                      | [`update::conditional`] |
//! | DELETE | `/fhir/{type}?…`                      | [`delete::conditional`] |
//! | GET, HEAD | `/fhir/{type}`                     | [`search`] |
//! | POST   | `/fhir/{type}/_search`                | [`search::post_type`] |
//! | POST   | `/fhir/$reindex`, `/fhir/{type}/$reindex` | [`reindex`] |
//! | POST   | `/fhir/{type}/$validate`; GET, POST `/fhir/{type}/{id}/$validate` | [`validate`] |
//! | GET, HEAD | `/fhir/{type}/_history`            | [`history::type_level`] |
//! | GET, HEAD, POST | `/fhir/{type}/$everything`, `/fhir/{type}/$meta` | [`not_implemented`] (501 naming the operation) |
//! | GET, HEAD | `/fhir/{type}/{id}`                | [`read`] (HEAD: headers only) |
//! | PUT    | `/fhir/{type}/{id}`                   | [`update`] |
//! | PATCH  | `/fhir/{type}/{id}`                   | [`patch`] |
//! | DELETE | `/fhir/{type}/{id}`                   | [`delete`] |
//! | GET, HEAD | `/fhir/{type}/{id}/_history`       | [`history::instance`] |
//! | GET, HEAD | `/fhir/{type}/{id}/_history/{vid}` | [`vread`] |
//! | GET, HEAD, POST | `/fhir/{type}/{id}/$meta`, `$meta-add`, `$meta-delete` | [`meta::instance`] |
//! | GET, HEAD | `/fhir/{Compartment}/{id}/{type}` (or `*`) | [`search::compartment`] |
//! | GET, HEAD, POST | `/fhir/Patient/{id}/$everything`, `/fhir/Encounter/{id}/$everything` | [`everything`] |
//! | GET, HEAD, POST | `/fhir/{type}/{id}/_history/{vid}/$meta…` | [`meta::version`] |
//! | GET, HEAD, POST | `/fhir/{type}/$lookup`, `$validate-code`, `$expand`, `$subsumes`, `$translate` (and on `/fhir/{type}/{id}/…`) | [`terminology`] |
//! | POST   | `/fhir/CodeSystem/$import-codes` (`text/csv`) | [`local_codes::import_codes`] |
//! | GET, POST | `/fhir/$export`, `/fhir/Patient/$export`, `/fhir/Group/{id}/$export` | [`bulk_export::kick_off`] (`Prefer: respond-async`) |
//! | GET, DELETE | `/fhir/_export/{job}` | [`bulk_export::status`], [`bulk_export::cancel`] |
//! | GET, HEAD | `/fhir/_export/{job}/{file}` | [`bulk_export::file`] (NDJSON) |
//! | GET, HEAD | `/fhir/CodeSystem/$unmapped-codes` | [`local_codes::unmapped_codes`] |
//!
//! With authorization on (`serve --auth-issuer`), every route but
//! `metadata` and the SMART configuration needs a bearer token; see
//! [`crate::security`].
//!
//! Every GET route also answers HEAD (RFC 9110 §9.1): the same handler,
//! so the same status and headers; actix-http sends no body for HEAD.
//!
//! Any other method on these paths answers 405 with `Allow`; any other path
//! 404. Both, and every extractor failure, answer with an OperationOutcome
//! (see [`crate::error`]), never actix's plain-text bodies.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App, HttpRequest};

use crate::error::{Error, IssueCode};
use crate::health;
use crate::interaction::{
    bundle, capabilities, create, delete, history, patch, read, search, update, vread,
};
use crate::operation::terminology::{self, TerminologyService};
use crate::operation::validate;
use crate::operation::{bulk_export, everything, local_codes, meta, reindex};
use crate::route::{Operation, Route};
use crate::security::{smart_config, Security};
use crate::store::Store;

/// Default `--max-body-bytes`: 64 MiB, so that every official R4 example
/// (the largest, `Bundle-resources.json`, is 35 MB) can be stored as
/// shipped and a 50 MB transaction Bundle (issue #7; `ingest_bench`
/// measures one) is accepted. Bodies are held in memory (a few copies while
/// a Bundle is parsed and written), so the limit is what bounds the memory
/// one request can take.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

// Lowering the default below a 50 MB Bundle breaks the build, not a user.
const _: () = assert!(DEFAULT_MAX_BODY_BYTES >= 50_000_000);

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// Request bodies above this answer 413.
    pub max_body_bytes: usize,
    /// `$validate` and profile enforcement: the validator over the
    /// packages of `serve --package` and the stored conformance resources
    /// (`stored_profiles`), caching compiled profiles across requests.
    pub validator: std::sync::Arc<crate::stored_profiles::Profiles>,
    /// The terminology operations' registry, built from the stored
    /// CodeSystems, ValueSets and ConceptMaps on first use and shared by
    /// every worker.
    pub terminology: std::sync::Arc<TerminologyService>,
}

/// A path under the FHIR base with its handlers; other methods answer 405
/// listing `allow`. It serves only requests whose decoded route names
/// this path ([`crate::route::guard`]).
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    resource_at(&format!("{}{path}", crate::route::BASE), path, allow)
}

/// A resource registered as `path` (relative to its scope) whose full
/// pattern is `pattern`.
fn resource_at(pattern: &str, path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path)
        .guard(crate::route::guard::Pattern(pattern.to_owned()))
        .default_service(web::to(move |req: HttpRequest| async move {
            Err::<actix_web::HttpResponse, _>(Error::MethodNotAllowed {
                method: req.method().to_string(),
                allow,
            })
        }))
}

/// `GET|POST [base]/{a}/{b}/{c}`: an operation on an instance, or a
/// compartment search, as the decoded route says.
async fn operation_or_compartment(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    params: web::Query<Vec<(String, String)>>,
    payload: web::Payload,
) -> Result<actix_web::HttpResponse, Error> {
    let route = crate::route::middleware::route_of(&req);
    let (a, b, c) = path.into_inner();
    match route {
        Some(Route::InstanceOperation(_, _, Operation::Everything)) => {
            everything::handle(req, state, a, b, params.into_inner()).await
        }
        Some(Route::InstanceOperation(_, _, Operation::Export)) => {
            let limit = state.max_body_bytes;
            let body = if req.method() == actix_web::http::Method::POST {
                crate::interaction::read_bytes(&req, payload, limit).await?
            } else {
                web::Bytes::new()
            };
            bulk_export::kick_off(req, state, params, body).await
        }
        Some(Route::InstanceOperation(_, _, Operation::Validate)) => {
            validate::instance(req, state, a, b, params.into_inner(), payload).await
        }
        Some(Route::InstanceOperation(_, _, op)) if op.is_terminology() => {
            terminology::instance(req, state, a, b, c, params.into_inner(), payload).await
        }
        Some(Route::InstanceOperation(
            _,
            _,
            Operation::Meta | Operation::MetaAdd | Operation::MetaDelete,
        )) => meta::handle(req, state, (a, b, None, c), payload).await,
        Some(Route::CompartmentSearch { .. }) => {
            search::compartment(req, state, a, b, c, params.into_inner()).await
        }
        _ => unknown_route(req).await,
    }
}

/// `GET|POST /fhir/{type}/$lookup` and the other terminology operations.
fn terminology_routes(cfg: &mut web::ServiceConfig) {
    for op in terminology::OPERATIONS {
        cfg.service(
            resource(&format!("/{{type}}/{op}"), "GET, HEAD, POST")
                .route(web::get().to(terminology::type_level))
                .route(web::head().to(terminology::type_level))
                .route(web::post().to(terminology::type_level)),
        );
    }
}

/// Operations the specification defines at the system level (`prefix`
/// empty) or type level (`/{type}`) that this server does not implement:
/// 501 naming them, rather than reading `$meta` as a resource type or
/// `$everything` as an id.
fn unimplemented_operations(prefix: &'static str) -> impl Fn(&mut web::ServiceConfig) {
    move |cfg| {
        for op in ["$meta", "$everything"] {
            cfg.service(
                resource(&format!("{prefix}/{op}"), "GET, HEAD, POST")
                    .route(web::get().to(not_implemented))
                    .route(web::head().to(not_implemented))
                    .route(web::post().to(not_implemented)),
            );
        }
    }
}

/// 501 `not-supported` for an operation at a level this server does not
/// implement (patient-operation-everything.html allows the type level;
/// resource-operation-meta.html the type and system levels).
async fn not_implemented(req: HttpRequest) -> Result<actix_web::HttpResponse, Error> {
    let path = req.path().trim_start_matches("/fhir/");
    let (level, op) = match path.split_once('/') {
        Some((t, op)) => (format!("type-level ({t})"), op),
        None => ("system-level".to_owned(), path),
    };
    Err(Error::NotImplemented(format!(
        "{level} {op} is not implemented by this server; call it on an instance \
         ([type]/[id]/{op})"
    )))
}

async fn unknown_route(req: HttpRequest) -> Result<actix_web::HttpResponse, Error> {
    Err(Error::NotFound(format!(
        "no FHIR endpoint at {} {}",
        req.method(),
        req.path()
    )))
}

/// The application of an open server (no authorization): what tests and
/// tools use.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    build_app_with(state, Security::default())
}

/// The application: routes, shared state, the extractor error handlers
/// and, inside the format middleware (so its answers are formatted like
/// any other), the authorization middleware of [`crate::security`].
pub fn build_app_with(
    state: AppState,
    security: Security,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.max_body_bytes;
    App::new()
        .wrap(middleware::from_fn(crate::audit::middleware::bind))
        .wrap(middleware::from_fn(
            crate::security::consent::filter::enforce,
        ))
        .wrap(middleware::from_fn(crate::read_replicas::route))
        .wrap(middleware::from_fn(crate::security::middleware::authorize))
        .wrap(middleware::from_fn(crate::route::middleware::decode))
        .wrap(middleware::from_fn(crate::audit::middleware::record))
        .wrap(middleware::from_fn(crate::format::negotiate))
        .wrap(middleware::from_fn(crate::http_headers::no_store))
        .app_data(web::Data::new(state))
        .app_data(web::Data::new(security))
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            Error::invalid(IssueCode::Invalid, format!("cannot read the URL path: {e}")).into()
        }))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            Error::invalid(
                IssueCode::Invalid,
                format!("cannot read the query string: {e}"),
            )
            .into()
        }))
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(move |e, _| {
                    match e {
                        actix_web::error::JsonPayloadError::Overflow { .. }
                        | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                            Error::PayloadTooLarge { limit }
                        }
                        other => {
                            Error::invalid(IssueCode::Invalid, format!("malformed JSON: {other}"))
                        }
                    }
                    .into()
                }),
        )
        .app_data(web::PayloadConfig::new(limit))
        .wrap(middleware::from_fn(crate::access_log::log))
        .service(
            resource_at(
                "/.well-known/smart-configuration",
                "/.well-known/smart-configuration",
                "GET, HEAD",
            )
            .route(web::get().to(smart_config::handle))
            .route(web::head().to(smart_config::handle)),
        )
        .service(
            resource_at("/healthz", "/healthz", "GET, HEAD")
                .route(web::get().to(health::liveness))
                .route(web::head().to(health::liveness)),
        )
        .service(
            resource_at("/readyz", "/readyz", "GET, HEAD")
                .route(web::get().to(health::readiness))
                .route(web::head().to(health::readiness)),
        )
        .service(
            web::scope(crate::route::BASE)
                .service(
                    resource("/metadata", "GET, HEAD")
                        .route(web::get().to(capabilities::handle))
                        .route(web::head().to(capabilities::handle)),
                )
                .service(
                    resource("/.well-known/smart-configuration", "GET, HEAD")
                        .route(web::get().to(smart_config::handle))
                        .route(web::head().to(smart_config::handle)),
                )
                .service(
                    resource("/_history", "GET, HEAD")
                        .route(web::get().to(history::system))
                        .route(web::head().to(history::system)),
                )
                .service(
                    resource("", "GET, HEAD, POST")
                        .route(web::post().to(bundle::handle))
                        .route(web::get().to(search::system))
                        .route(web::head().to(search::system)),
                )
                // Before `/{type}`, which would take them for a type.
                .configure(unimplemented_operations(""))
                .service(resource("/_search", "POST").route(web::post().to(search::post_system)))
                // Bulk Data export: the kick-offs, the status URL, the files.
                .service(
                    resource("/$export", "GET, POST")
                        .route(web::get().to(bulk_export::kick_off))
                        .route(web::post().to(bulk_export::kick_off)),
                )
                .service(
                    resource("/Patient/$export", "GET, POST")
                        .route(web::get().to(bulk_export::kick_off))
                        .route(web::post().to(bulk_export::kick_off)),
                )
                .service(
                    resource("/_export/{job}", "GET, HEAD, DELETE")
                        .route(web::get().to(bulk_export::status))
                        .route(web::head().to(bulk_export::status))
                        .route(web::delete().to(bulk_export::cancel)),
                )
                .service(
                    resource("/_export/{job}/{file}", "GET, HEAD")
                        .route(web::get().to(bulk_export::file))
                        .route(web::head().to(bulk_export::file)),
                )
                // Before `/{type}`, which would take `$reindex` for a type.
                .service(resource("/$reindex", "POST").route(web::post().to(reindex::system)))
                .service(
                    resource("/{type}", "GET, HEAD, POST, PUT, DELETE")
                        .route(web::post().to(create::handle))
                        .route(web::get().to(search::handle))
                        .route(web::head().to(search::handle))
                        .route(web::put().to(update::conditional))
                        .route(web::delete().to(delete::conditional)),
                )
                .service(
                    resource("/{type}/_search", "POST").route(web::post().to(search::post_type)),
                )
                .service(
                    resource("/{type}/_history", "GET, HEAD")
                        .route(web::get().to(history::type_level))
                        .route(web::head().to(history::type_level)),
                )
                // Before `/{type}/{id}`, which would take them for an id.
                .configure(unimplemented_operations("/{type}"))
                // Before `/{type}/{id}`, which would take `$expand` for an id.
                // Before `/{type}/{id}`, which would take them for an id.
                .service(
                    resource("/CodeSystem/$import-codes", "POST")
                        .route(web::post().to(local_codes::import_codes)),
                )
                .service(
                    resource("/CodeSystem/$unmapped-codes", "GET, HEAD")
                        .route(web::get().to(local_codes::unmapped_codes))
                        .route(web::head().to(local_codes::unmapped_codes)),
                )
                .configure(terminology_routes)
                // Before `/{type}/{id}`, which would take `$validate` for an id.
                .service(
                    resource("/{type}/$validate", "POST")
                        .route(web::post().to(validate::type_level)),
                )
                // Before `/{type}/{id}`, which would take `$reindex` for an id.
                .service(
                    resource("/{type}/$reindex", "POST").route(web::post().to(reindex::type_level)),
                )
                .service(
                    resource("/{type}/{id}", "GET, HEAD, PUT, PATCH, DELETE")
                        .route(web::get().to(read::handle))
                        .route(web::head().to(read::handle))
                        .route(web::put().to(update::handle))
                        .route(web::patch().to(patch::handle))
                        .route(web::delete().to(delete::handle)),
                )
                .service(
                    resource("/{type}/{id}/_history", "GET, HEAD")
                        .route(web::get().to(history::instance))
                        .route(web::head().to(history::instance)),
                )
                .service(
                    resource("/{type}/{id}/_history/{vid}", "GET, HEAD")
                        .route(web::get().to(vread::handle))
                        .route(web::head().to(vread::handle)),
                )
                .service(
                    resource("/{type}/{id}/_history/{vid}/{operation}", "GET, HEAD, POST")
                        .route(web::get().to(meta::version))
                        .route(web::head().to(meta::version))
                        .route(web::post().to(meta::version)),
                )
                .service(
                    resource("/{type}/{id}/{operation}", "GET, HEAD, POST")
                        .route(web::get().to(operation_or_compartment))
                        .route(web::head().to(operation_or_compartment))
                        .route(web::post().to(operation_or_compartment)),
                ),
        )
        .default_service(web::to(unknown_route))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use crate::interaction::testutil::{app, send};

    #[actix_web::test]
    async fn unknown_routes_and_methods_answer_operation_outcomes() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        send(&app, TestRequest::get().uri("/nothing"))
            .await
            .assert_outcome(404, "not-found");
        send(&app, TestRequest::get().uri("/fhir/Patient/1/_history/1/x"))
            .await
            .assert_outcome(404, "not-found");
        let r = send(&app, TestRequest::post().uri("/fhir/Patient/1")).await;
        r.assert_outcome(405, "not-supported");
        assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, PATCH, DELETE"));
        send(&app, TestRequest::post().uri("/fhir/metadata"))
            .await
            .assert_outcome(405, "not-supported");
        send(&app, TestRequest::patch().uri("/fhir/Patient"))
            .await
            .assert_outcome(405, "not-supported");
        send(&app, TestRequest::put().uri("/fhir/Patient/_history"))
            .await
            .assert_outcome(405, "not-supported");
    }
}
