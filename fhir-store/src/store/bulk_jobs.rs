//! Bulk Data `$export` jobs (table `bulk_export_jobs`): the kick-off
//! inserts one, any node answers its status from here, and a node runs it
//! under a lease ([`Store::claim_export_job`]), renewing the lease as it
//! goes ([`Store::renew_export_job`]). A node that dies stops renewing, so
//! once the lease has run out another node (or the restarted one) claims
//! the job and runs it again: a job never stays "in progress" forever.
//! Cancelling deletes the row; the runner sees its next renewal fail and
//! stops. The store knows nothing of what a job exports: `spec` and
//! `manifest` are the server's JSON.

use diesel::prelude::*;

use super::{Store, StoreError};

diesel::table! {
    bulk_export_jobs (id) {
        id -> Text,
        owner -> Nullable<Text>,
        request -> Text,
        spec -> Text,
        state -> Text,
        transaction_time -> Text,
        created_ms -> BigInt,
        lease_holder -> Nullable<Text>,
        lease_until_ms -> BigInt,
        progress -> Nullable<Text>,
        manifest -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

use bulk_export_jobs as t;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Kicked off, not yet claimed by a node.
    Accepted,
    /// Claimed by a node holding the lease.
    Running,
    /// The manifest is ready.
    Completed,
    /// Ended with an error (in `error`).
    Failed,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Accepted => "accepted",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<JobState, StoreError> {
        Ok(match s {
            "accepted" => JobState::Accepted,
            "running" => JobState::Running,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            other => {
                return Err(StoreError::Fault(format!(
                    "bulk_export_jobs holds an unknown state {other:?}"
                )))
            }
        })
    }
}

/// A new job, as the kick-off describes it.
#[derive(Debug, Clone)]
pub struct NewExportJob {
    pub id: String,
    /// Who kicked it off (the token's client or subject); only they may
    /// see its status and files. `None` on a server without authorization.
    pub owner: Option<String>,
    /// The kick-off URL, for the manifest's `request`.
    pub request: String,
    pub spec: String,
    pub transaction_time: String,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportJob {
    pub id: String,
    pub owner: Option<String>,
    pub request: String,
    pub spec: String,
    pub state: JobState,
    pub transaction_time: String,
    pub progress: Option<String>,
    pub manifest: Option<String>,
    pub error: Option<String>,
}

type Row = (
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn job(row: Row) -> Result<ExportJob, StoreError> {
    let (id, owner, request, spec, state, transaction_time, progress, manifest, error) = row;
    Ok(ExportJob {
        id,
        owner,
        request,
        spec,
        state: JobState::parse(&state)?,
        transaction_time,
        progress,
        manifest,
        error,
    })
}

macro_rules! job_columns {
    () => {
        (
            t::id,
            t::owner,
            t::request,
            t::spec,
            t::state,
            t::transaction_time,
            t::progress,
            t::manifest,
            t::error,
        )
    };
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Stores a kicked-off job, free for any node to claim.
    pub fn insert_export_job(&self, new: &NewExportJob) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(t::table)
            .values((
                t::id.eq(&new.id),
                t::owner.eq(&new.owner),
                t::request.eq(&new.request),
                t::spec.eq(&new.spec),
                t::state.eq(JobState::Accepted.as_str()),
                t::transaction_time.eq(&new.transaction_time),
                t::created_ms.eq(now_ms()),
                t::lease_until_ms.eq(0i64),
            ))
            .execute(&mut conn)?;
        Ok(())
    }

    /// The job, if it exists (a cancelled job does not).
    pub fn export_job(&self, id: &str) -> Result<Option<ExportJob>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<Row> = t::table
            .filter(t::id.eq(id))
            .select(job_columns!())
            .first(&mut conn)
            .optional()?;
        row.map(job).transpose()
    }

    /// Claims one job that is waiting, or whose runner's lease has run
    /// out, for `holder` until `lease_ms` from now. The claim is one
    /// conditional UPDATE, so of nodes racing for a job exactly one wins.
    pub fn claim_export_job(
        &self,
        holder: &str,
        lease_ms: i64,
    ) -> Result<Option<ExportJob>, StoreError> {
        let mut conn = self.conn()?;
        let now = now_ms();
        let open = [JobState::Accepted.as_str(), JobState::Running.as_str()];
        let candidates: Vec<String> = t::table
            .filter(t::state.eq_any(open))
            .filter(t::lease_until_ms.lt(now))
            .order(t::created_ms)
            .select(t::id)
            .limit(8)
            .load(&mut conn)?;
        for id in candidates {
            let won = diesel::update(
                t::table
                    .filter(t::id.eq(&id))
                    .filter(t::state.eq_any(open))
                    .filter(t::lease_until_ms.lt(now)),
            )
            .set((
                t::state.eq(JobState::Running.as_str()),
                t::lease_holder.eq(holder),
                t::lease_until_ms.eq(now + lease_ms),
            ))
            .execute(&mut conn)?;
            if won == 1 {
                drop(conn);
                return self.export_job(&id);
            }
        }
        Ok(None)
    }

    /// Extends `holder`'s lease on a running job and records its progress.
    /// `false` when the job is no longer `holder`'s to run (cancelled, or
    /// taken over after the lease ran out): the runner must stop.
    pub fn renew_export_job(
        &self,
        id: &str,
        holder: &str,
        lease_ms: i64,
        progress: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = diesel::update(owned_running(id, holder))
            .set((
                t::lease_until_ms.eq(now_ms() + lease_ms),
                t::progress.eq(progress),
            ))
            .execute(&mut conn)?;
        Ok(n == 1)
    }

    /// Ends `holder`'s run of a job: the manifest (`Ok`) or the error.
    /// `false` when the job was no longer `holder`'s.
    pub fn finish_export_job(
        &self,
        id: &str,
        holder: &str,
        outcome: Result<&str, &str>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let (state, manifest, error) = match outcome {
            Ok(m) => (JobState::Completed, Some(m), None),
            Err(e) => (JobState::Failed, None, Some(e)),
        };
        let n = diesel::update(owned_running(id, holder))
            .set((
                t::state.eq(state.as_str()),
                t::manifest.eq(manifest),
                t::error.eq(error),
                t::lease_holder.eq(None::<String>),
            ))
            .execute(&mut conn)?;
        Ok(n == 1)
    }

    /// Deletes a job (cancel, or the client's DELETE after completion);
    /// `false` when there was none.
    pub fn delete_export_job(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = diesel::delete(t::table.filter(t::id.eq(id))).execute(&mut conn)?;
        Ok(n == 1)
    }
}

/// The filter of [`owned_running`]: id, holder, state.
type OwnedRunning<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<t::table, diesel::dsl::Eq<t::id, &'a str>>,
        diesel::dsl::Eq<t::lease_holder, &'a str>,
    >,
    diesel::dsl::Eq<t::state, &'static str>,
>;

/// The row of job `id` while `holder` runs it.
fn owned_running<'a>(id: &'a str, holder: &'a str) -> OwnedRunning<'a> {
    t::table
        .filter(t::id.eq(id))
        .filter(t::lease_holder.eq(holder))
        .filter(t::state.eq(JobState::Running.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil;

    #[test]
    fn a_job_is_claimed_once_renewed_by_its_holder_and_taken_over_after_its_lease() {
        for db in testutil::backends() {
            let store = &db.store;
            store
                .insert_export_job(&NewExportJob {
                    id: "j1".into(),
                    owner: Some("client".into()),
                    request: "http://x/fhir/$export".into(),
                    spec: "{}".into(),
                    transaction_time: "2026-01-01T00:00:00.000Z".into(),
                })
                .unwrap();
            let got = store.claim_export_job("a", 60_000).unwrap().unwrap();
            assert_eq!(got.state, JobState::Running);
            assert_eq!(got.owner.as_deref(), Some("client"));
            assert!(store.claim_export_job("b", 60_000).unwrap().is_none());
            assert!(store.renew_export_job("j1", "a", 0, "1/2").unwrap());
            assert!(!store.renew_export_job("j1", "b", 0, "1/2").unwrap());
            // The lease ran out (0 ms): another node takes the job over.
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert!(store.claim_export_job("b", 60_000).unwrap().is_some());
            assert!(!store.renew_export_job("j1", "a", 60_000, "2/2").unwrap());
            assert!(store.finish_export_job("j1", "b", Ok("{}")).unwrap());
            let done = store.export_job("j1").unwrap().unwrap();
            assert_eq!(done.state, JobState::Completed);
            assert_eq!(done.manifest.as_deref(), Some("{}"));
            assert!(store.delete_export_job("j1").unwrap());
            assert!(store.export_job("j1").unwrap().is_none());
        }
    }
}
