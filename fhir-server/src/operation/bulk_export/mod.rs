//! Bulk Data `$export` (Bulk Data Access IG 2.0.0, export.html): the
//! asynchronous request pattern over jobs kept in the database.
//!
//! - Kick-off: `GET|POST [base]/$export`, `[base]/Patient/$export`,
//!   `[base]/Group/[id]/$export` with `Prefer: respond-async` (400
//!   without) → 202 and `Content-Location` naming the status URL
//!   `[base]/_export/[job]`. The parameters are checked here ([`spec`]),
//!   so a bad one is a 400 with an OperationOutcome (unsupported ones too,
//!   unless `Prefer: handling=lenient`); the job is stored for any node's
//!   runner ([`runner`]).
//! - Status: `GET [base]/_export/[job]` → 202 with `X-Progress` and
//!   `Retry-After` while running, 200 with the manifest when done, 500
//!   with an OperationOutcome when the job failed.
//! - Cancel or clean up: `DELETE [base]/_export/[job]` → 202; the job and
//!   its files are gone (a later status request is a 404).
//! - Files: `GET [base]/_export/[job]/[Type].ndjson`, streamed from
//!   `--bulk-dir`.
//!
//! With authorization on, an export holds only the types the token may
//! search whole (`security::guard::export_types`), and its status and
//! files are answered to the same client only (another gets 404), so the
//! manifest says `requiresAccessToken: true`.

pub mod runner;
pub mod spec;

use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use fhir_model::ResourceType;

use self::spec::Level;
use crate::app::AppState;
use crate::error::{Error, IssueCode};
use crate::interaction::{base_url, run};
use crate::route::Route;
use crate::store::{ExportJob, JobState, NewExportJob};

/// The NDJSON media type of the files.
pub const NDJSON: &str = "application/fhir+ndjson";

/// Where export files are written (`serve --bulk-dir`).
#[derive(Debug, Clone)]
pub struct BulkDir(pub PathBuf);

fn dir(req: &HttpRequest) -> Result<PathBuf, Error> {
    req.app_data::<web::Data<BulkDir>>()
        .map(|d| d.0.clone())
        .ok_or_else(|| Error::NotImplemented("$export is not enabled on this server".into()))
}

/// The caller a job belongs to: the token's client AND subject (two users
/// of one app must not see each other's exports, nor two apps of one
/// user); `None` on an open server only.
fn caller(req: &HttpRequest) -> Option<String> {
    crate::security::access(req).map(|a| {
        format!(
            "client={}\u{1f}sub={}",
            a.client_id.as_deref().unwrap_or_default(),
            a.subject.as_deref().unwrap_or_default()
        )
    })
}

fn prefer(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// The kick-off, on any of the three levels (the decoded route says
/// which).
pub async fn kick_off(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    dir(&req)?;
    let prefer = prefer(&req);
    if !prefer
        .iter()
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
    {
        return Err(Error::invalid(
            IssueCode::Invalid,
            "$export is asynchronous: send Prefer: respond-async",
        ));
    }
    let level = match crate::route::middleware::route_of(&req) {
        Some(Route::SystemOperation(_)) => Level::System,
        Some(Route::TypeOperation(ResourceType::Patient, _)) => Level::Patient,
        Some(Route::InstanceOperation(ResourceType::Group, id, _)) => {
            Level::Group(id.as_str().to_owned())
        }
        _ => return Err(Error::NotFound("no $export at this URL".into())),
    };
    let mut params = params.into_inner();
    if req.method() == actix_web::http::Method::POST && !body.is_empty() {
        params.extend(parameters(&body)?);
    }
    let access = crate::security::access(&req);
    let allowed = match &access {
        Some(a) => crate::security::guard::export_types(a),
        None => ResourceType::ALL.to_vec(),
    };
    let base = base_url(&req);
    let kick = spec::KickOff {
        level,
        allowed: &allowed,
        lenient: spec::lenient(&prefer),
        base: base.clone(),
        requires_access_token: access.is_some(),
    };
    let spec = spec::read(&state.store.registry(), kick, &params)?;
    if let Level::Group(id) = &spec.level {
        // An unknown Group is a 404 now, not a failed job later.
        let store = state.store.clone();
        let gid = crate::interaction::url_id(id)?;
        run(move || store.read(ResourceType::Group, &gid)).await?;
    }
    let job = NewExportJob {
        id: uuid::Uuid::new_v4().to_string(),
        owner: caller(&req),
        request: format!(
            "{base}{}",
            req.uri()
                .path_and_query()
                .map_or("", |p| p.as_str())
                .trim_start_matches(crate::route::BASE)
        ),
        spec: serde_json::to_string(&spec).map_err(|e| Error::Fault(e.to_string()))?,
        transaction_time: crate::store::now_instant(),
    };
    let status_url = format!("{base}/_export/{}", job.id);
    let store = state.store.clone();
    run(move || store.insert_export_job(&job)).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::CONTENT_LOCATION, status_url))
        .finish())
}

/// A POST kick-off's `Parameters`, as name/value pairs like a query's.
fn parameters(body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let bad = |m: String| Error::invalid(IssueCode::Invalid, m);
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    if v["resourceType"] != "Parameters" {
        return Err(bad("a POST $export takes a Parameters resource".into()));
    }
    let mut out = Vec::new();
    for p in v["parameter"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let value = p.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.starts_with("value"))
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
        });
        match value {
            Some(value) => out.push((name, value)),
            None => return Err(bad(format!("parameter {name:?} has no string value"))),
        }
    }
    Ok(out)
}

/// The caller's job, or 404 (also for another caller's job, so that job
/// ids cannot be probed).
async fn own_job(req: &HttpRequest, state: &AppState, id: &str) -> Result<ExportJob, Error> {
    let store = state.store.clone();
    let key = id.to_owned();
    let job = run(move || store.export_job(&key)).await?;
    match job {
        // A job kicked off while the server was open (no owner) is not
        // shown to a token holder after authorization is turned on.
        Some(j) if j.owner == caller(req) => Ok(j),
        _ => Err(Error::NotFound(format!("no export job {id}"))),
    }
}

/// `GET [base]/_export/[job]`: progress, the manifest, or the error.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let job = own_job(&req, &state, &path).await?;
    match job.state {
        JobState::Accepted | JobState::Running => Ok(HttpResponse::Accepted()
            .insert_header((
                "X-Progress",
                job.progress.unwrap_or_else(|| "queued".into()),
            ))
            .insert_header((header::RETRY_AFTER, "1"))
            .finish()),
        JobState::Completed => Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .body(job.manifest.unwrap_or_default())),
        JobState::Failed => Err(Error::Fault(format!(
            "export {} failed: {}",
            job.id,
            job.error.unwrap_or_default()
        ))),
    }
}

/// `DELETE [base]/_export/[job]`: cancels a running job or removes a
/// finished one, with its files.
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let root = dir(&req)?;
    let job = own_job(&req, &state, &path).await?;
    let store = state.store.clone();
    let id = job.id.clone();
    run(move || store.delete_export_job(&id)).await?;
    // A runner still writing notices at its next page and removes what it
    // wrote after this.
    let _ = std::fs::remove_dir_all(runner::job_dir(&root, &job.id));
    Ok(HttpResponse::Accepted().finish())
}

/// `GET [base]/_export/[job]/[file]`: one file of a completed job,
/// streamed from disk.
pub async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let root = dir(&req)?;
    let (id, name) = path.into_inner();
    let job = own_job(&req, &state, &id).await?;
    let listed = job.state == JobState::Completed
        && job.manifest.as_deref().is_some_and(|m| {
            serde_json::from_str::<serde_json::Value>(m).is_ok_and(|v| {
                v["output"].as_array().into_iter().flatten().any(|o| {
                    o["url"]
                        .as_str()
                        .is_some_and(|u| u.rsplit('/').next() == Some(name.as_str()))
                })
            })
        });
    // Only a name the manifest lists is opened: no other path is reachable.
    if !listed {
        return Err(Error::NotFound(format!("no file {name} in export {id}")));
    }
    let path = runner::job_dir(&root, &job.id).join(&name);
    let file = std::fs::File::open(&path)
        .map_err(|e| Error::NotFound(format!("the file {name} of export {id} is gone: {e}")))?;
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header((header::CONTENT_TYPE, NDJSON))
        .body(FileBody(file)))
}

/// A file as a response body, read in 64 KiB chunks as the connection
/// takes them (a local read of one chunk at a time; never the whole file).
struct FileBody(std::fs::File);

impl MessageBody for FileBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let mut buf = vec![0u8; 64 * 1024];
        match self.get_mut().0.read(&mut buf) {
            Ok(0) => Poll::Ready(None),
            Ok(n) => {
                buf.truncate(n);
                Poll::Ready(Some(Ok(Bytes::from(buf))))
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}
