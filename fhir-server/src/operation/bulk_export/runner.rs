//! Runs export jobs: a thread per `serve` process claims a job from the
//! database under a lease (`serve --bulk-lease-secs`), writes one NDJSON file per type
//! into the job's directory of `--bulk-dir`, page by page from the search
//! engine's keyset paging (memory holds one page of bodies, never a type),
//! renews the lease after every page, and stores the manifest. A job whose
//! node died is claimed again once its lease has run out and starts over;
//! a job cancelled meanwhile is noticed at the next renewal, and its files
//! are removed.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::spec::{search_of, Level, Spec};
use crate::error::Error;
use crate::search::compartment;
use crate::search::query::{self, CompartmentFilter, SearchRequest, TotalMode, MAX_COUNT};
use crate::store::{ExportJob, Found, Store};

/// How long a claim holds without renewal by default: a killed node's
/// job is taken over this long after its last page.
pub const DEFAULT_LEASE_SECS: u64 = 30;

/// How often an idle node looks for a job.
const IDLE: Duration = Duration::from_millis(500);

/// Starts the runner thread of this process; `lease` is how long its
/// claim on a job holds without renewal.
pub fn start(store: Store, dir: PathBuf, holder: String, lease: Duration) {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    std::thread::spawn(move || loop {
        match store.claim_export_job(&holder, lease_ms) {
            Ok(Some(job)) => {
                let id = job.id.clone();
                log::info!("bulk export {id}: started");
                match Run::new(&store, &dir, &holder, lease_ms, job).and_then(|mut r| r.all()) {
                    Ok(()) => log::info!("bulk export {id}: done"),
                    Err(e) => log::warn!("bulk export {id}: {e}"),
                }
            }
            Ok(None) => std::thread::sleep(IDLE),
            Err(e) => {
                log::warn!("bulk export: cannot claim a job: {e}");
                std::thread::sleep(IDLE * 4);
            }
        }
    });
}

/// The directory of a job's files.
pub fn job_dir(dir: &Path, job: &str) -> PathBuf {
    dir.join(job)
}

/// The job ended for this node without a manifest: cancelled (its row is
/// gone) or taken over by another node.
#[derive(Debug)]
struct Lost;

struct Run<'a> {
    store: &'a Store,
    holder: &'a str,
    lease_ms: i64,
    job: ExportJob,
    spec: Spec,
    dir: PathBuf,
}

impl<'a> Run<'a> {
    fn new(
        store: &'a Store,
        root: &Path,
        holder: &'a str,
        lease_ms: i64,
        job: ExportJob,
    ) -> Result<Self, Error> {
        let spec: Spec = match serde_json::from_str(&job.spec) {
            Ok(s) => s,
            Err(e) => {
                let m = format!("the stored job cannot be read: {e}");
                store.finish_export_job(&job.id, holder, Err(&m))?;
                return Err(Error::Fault(m));
            }
        };
        let dir = job_dir(root, &job.id);
        Ok(Run {
            store,
            holder,
            lease_ms,
            job,
            spec,
            dir,
        })
    }

    /// Runs the job to its manifest (or its error, stored for the client).
    fn all(&mut self) -> Result<(), Error> {
        // A job taken over starts over: what a dead node wrote is dropped.
        let _ = std::fs::remove_dir_all(&self.dir);
        let outcome = std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::Fault(format!("cannot create {}: {e}", self.dir.display())))
            .and_then(|()| self.files());
        let finished = match outcome {
            Ok(Ok(manifest)) => self.store.finish_export_job(
                &self.job.id,
                self.holder,
                Ok(&manifest.to_string()),
            )?,
            Ok(Err(Lost)) => false,
            Err(e) => {
                log::warn!("bulk export {} failed: {e}", self.job.id);
                self.store
                    .finish_export_job(&self.job.id, self.holder, Err(&e.to_string()))?
            }
        };
        if !finished && self.store.export_job(&self.job.id)?.is_none() {
            // Cancelled while running: nothing of it stays.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(())
    }

    /// Writes every type's file; the manifest.
    fn files(&mut self) -> Result<Result<serde_json::Value, Lost>, Error> {
        let mut output = Vec::new();
        let types = self.spec.types.clone();
        let patients = self.patients()?;
        for (n, t) in types.iter().enumerate() {
            let name = format!("{t}.ndjson");
            let path = self.dir.join(&name);
            let file = std::fs::File::create(&path)
                .map_err(|e| Error::Fault(format!("cannot create {}: {e}", path.display())))?;
            let mut out = std::io::BufWriter::new(file);
            let progress = format!("{t} ({} of {} types)", n + 1, types.len());
            let count = match self.one_type(t, patients.as_deref(), &mut out, &progress)? {
                Ok(c) => c,
                Err(Lost) => return Ok(Err(Lost)),
            };
            out.flush()
                .map_err(|e| Error::Fault(format!("cannot write {}: {e}", path.display())))?;
            if count == 0 {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            output.push(json!({
                "type": t,
                "url": format!("{}/_export/{}/{name}", self.spec.base, self.job.id),
                "count": count,
            }));
        }
        Ok(Ok(json!({
            "transactionTime": self.job.transaction_time,
            "request": self.job.request,
            "requiresAccessToken": self.spec.requires_access_token,
            "output": output,
            "error": [],
        })))
    }

    /// The Patient ids of a Patient or Group export (`None`: system).
    fn patients(&self) -> Result<Option<Vec<String>>, Error> {
        match &self.spec.level {
            Level::System => Ok(None),
            Level::Group(id) => {
                let gid = crate::interaction::url_id(id)?;
                let group = self.store.read(fhir_model::ResourceType::Group, &gid)?;
                let body: serde_json::Value =
                    serde_json::from_slice(group.body.as_deref().unwrap_or_default())
                        .map_err(|e| Error::Fault(format!("stored Group/{id}: {e}")))?;
                let mut ids: Vec<String> = body["member"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["entity"]["reference"].as_str())
                    .filter_map(|r| r.strip_prefix("Patient/"))
                    .map(str::to_owned)
                    .collect();
                ids.sort();
                ids.dedup();
                Ok(Some(ids))
            }
            Level::Patient => {
                let mut ids = Vec::new();
                let mut search = self.plain("Patient");
                loop {
                    let page = self.store.search(&search)?;
                    ids.extend(page.matches.into_iter().map(|f| f.id));
                    match page.next_cursor {
                        Some(c) => search.cursor = Some(c),
                        None => break,
                    }
                }
                Ok(Some(ids))
            }
        }
    }

    /// Every current resource of `t` at the transaction time, keyset
    /// paged, without the export's filters.
    fn plain(&self, t: &str) -> SearchRequest {
        let mut s = SearchRequest {
            types: vec![t.to_owned()],
            count: MAX_COUNT,
            total: TotalMode::None,
            ..SearchRequest::default()
        };
        let registry = self.store.registry();
        if let Ok(c) = query::criterion(
            &registry,
            t,
            "_lastUpdated",
            &format!("le{}", self.job.transaction_time),
            0,
        ) {
            s.criteria.push(c);
        }
        s
    }

    /// The searches whose union is `t`'s part of the export: one per
    /// `_typeFilter` of `t` (OR), or one.
    fn searches(&self, t: &str) -> Result<Vec<SearchRequest>, Error> {
        let registry = self.store.registry();
        let filters: Vec<&String> = self
            .spec
            .type_filters
            .iter()
            .filter(|(ft, _)| ft == t)
            .map(|(_, q)| q)
            .collect();
        let mut out = Vec::new();
        let mut base = self.plain(t);

        if let Some(since) = &self.spec.since {
            let c = query::criterion(&registry, t, "_lastUpdated", &format!("ge{since}"), 0)
                .map_err(|e| Error::Fault(format!("_since: {e}")))?;
            base.criteria.push(c);
        }
        if filters.is_empty() {
            return Ok(vec![base]);
        }
        for q in filters {
            let f = search_of(&registry, t, q).map_err(Error::Fault)?;
            let mut s = base.clone();
            s.criteria.extend(f.criteria);
            s.type_criteria.extend(f.type_criteria);
            out.push(s);
        }
        Ok(out)
    }

    /// Writes `t`'s resources; their count.
    fn one_type(
        &self,
        t: &str,
        patients: Option<&[String]>,
        out: &mut impl Write,
        progress: &str,
    ) -> Result<Result<u64, Lost>, Error> {
        let searches = self.searches(t)?;
        // A resource may match two filters, or sit in two members'
        // compartments: written once (the ids of one type only).
        let dedupe = searches.len() > 1 || patients.is_some();
        let mut seen = HashSet::new();
        let mut count = 0u64;
        let scoped: Vec<SearchRequest> = match patients {
            None => searches,
            Some(ids) => ids
                .iter()
                .flat_map(|p| {
                    searches
                        .iter()
                        .map(move |s| in_compartment(s.clone(), t, p))
                })
                .collect::<Result<_, _>>()?,
        };
        for mut search in scoped {
            loop {
                let page = self.store.search(&search)?;
                for f in &page.matches {
                    if dedupe && !seen.insert(f.id.clone()) {
                        continue;
                    }
                    line(out, f)?;
                    count += 1;
                }
                if !self.store.renew_export_job(
                    &self.job.id,
                    self.holder,
                    self.lease_ms,
                    progress,
                )? {
                    return Ok(Err(Lost));
                }
                match page.next_cursor {
                    Some(c) => search.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(Ok(count))
    }
}

/// `search` narrowed to Patient/`patient`'s compartment (for `t` =
/// Patient, that Patient).
fn in_compartment(
    mut search: SearchRequest,
    t: &str,
    patient: &str,
) -> Result<SearchRequest, Error> {
    if t == "Patient" {
        let registry = crate::search::registry::core();
        let c = query::criterion(&registry, t, "_id", patient, 0).map_err(Error::Fault)?;
        search.criteria.push(c);
        return Ok(search);
    }
    let params = compartment::compartment_params("Patient", t).to_vec();
    search.compartment = Some(CompartmentFilter {
        compartment: "Patient".into(),
        id: patient.to_owned(),
        params: vec![(t.to_owned(), params)],
        include_owner: false,
    });
    Ok(search)
}

/// One NDJSON line: the stored compact JSON (never holding a newline).
fn line(out: &mut impl Write, f: &Found) -> Result<(), Error> {
    out.write_all(&f.body)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| Error::Fault(format!("cannot write {}/{}: {e}", f.resource_type, f.id)))
}
