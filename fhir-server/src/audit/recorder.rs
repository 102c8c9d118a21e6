//! Group commit of the records of requests that wrote nothing (reads,
//! searches, refusals): a writer thread stores the records that arrive
//! together in ONE transaction ([`Store::append_audits`]), and
//! each request waits for the commit of its batch before it is answered.
//!
//! Why: a read's record in a transaction of its own cost a commit (a log
//! flush) and a round trip per table for every read, several times the
//! read itself. Batched, the records of concurrent requests share one
//! commit and one multi-row statement per table, and no read is answered
//! before its record has committed (it reaches the disk with the next
//! flushing commit, within a fraction of a second: see
//! `Store::append_audits`). Batches form by themselves: while one
//! commits, the records that arrive meanwhile queue for the next, so the
//! busier the server the larger the batch, and an idle server commits a
//! lone record at once (no timer).
//!
//! Nothing here is shared between processes: a frozen node stalls only
//! its own requests.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::oneshot;

use super::key::AuditKey;
use super::sealer::Nudge;
use crate::store::{AuditRecord, Store};

/// The most records one transaction stores.
const MAX_BATCH: usize = 256;

/// Writer threads: while one commits a batch, another gathers and writes
/// the next, so a batch's round trips (milliseconds on a busy host) do
/// not bound the throughput of the whole server.
const WRITERS: usize = 2;

/// One record waiting for its batch, and who waits for it.
struct Job {
    record: AuditRecord,
    done: oneshot::Sender<Result<(), String>>,
}

/// The request side of the group commit; cheap to clone. The thread
/// ends when the last clone is dropped.
#[derive(Clone)]
pub struct Recorder(Sender<Job>);

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// Starts the writer thread; `nudge` wakes the sealer after each
    /// batch.
    pub fn start(store: Store, key: AuditKey, nudge: Nudge) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WRITERS {
            let (store, key, nudge, rx) = (store.clone(), key.clone(), nudge.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("audit-recorder-{i}"))
                .spawn(move || run(&store, &key, &nudge, &rx))?;
        }
        Ok(Recorder(tx))
    }

    /// Stores `event` (an AuditEvent as JSON, with its id); resolves once
    /// the transaction holding it has committed, or with why it could not.
    pub async fn record(&self, event: &Value) -> Result<(), String> {
        let record = AuditRecord::new(event).map_err(|e| e.to_string())?;
        let (done, wait) = oneshot::channel();
        let stopped = || "the audit recorder has stopped".to_owned();
        self.0.send(Job { record, done }).map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

/// One writer: takes the queue, waits for a record, takes every record
/// queued behind it, lets the queue go, and stores the batch.
fn run(store: &Store, key: &AuditKey, nudge: &Nudge, rx: &Mutex<Receiver<Job>>) {
    loop {
        let jobs = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            let Ok(first) = rx.recv() else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            jobs
        };
        let (mut records, waiting): (Vec<AuditRecord>, Vec<_>) =
            jobs.into_iter().map(|j| (j.record, j.done)).unzip();
        let result = store
            .append_audits(&mut records, key)
            .map_err(|e| e.to_string());
        if result.is_ok() {
            nudge.nudge();
        }
        for done in waiting {
            // A request that went away no longer waits; nothing to do.
            let _ = done.send(result.clone());
        }
    }
}
