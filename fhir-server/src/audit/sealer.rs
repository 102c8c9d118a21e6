//! The sealer: chains the records stored unsealed
//! ([`crate::store::Store::seal_audit`]) shortly after they commit, and
//! appends signed head checkpoints ([`super::checkpoint`]).
//!
//! Every `serve --audit` process runs one, on a thread of its own: woken
//! after each audited request and every [`TICK`] (which also picks up
//! records other processes wrote), it seals batches until none is
//! pending, and lets records gather for [`GATHER`] between rounds:
//! under load each batch seals (and indexes) many records in a few
//! statements, instead of one small batch per request. A checkpoint is appended when the head moved and
//! [`CHECKPOINT_EVERY`] has passed since the last one, and at shutdown.
//! Requests never wait for it; a frozen process stalls only its own
//! sealer (the database ends a sealer transaction left idle, and another
//! process's sealer seals the records).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chain::Head;
use super::checkpoint::CheckpointFile;
use super::key::AuditKey;
use crate::store::Store;

/// How often the sealer looks for pending records without being woken.
pub const TICK: Duration = Duration::from_millis(250);
/// The shortest time between two rounds, while the records of the next
/// batch gather; a record is sealed, and found by searches on AuditEvent
/// parameters, within about this long under load.
pub const GATHER: Duration = Duration::from_millis(50);
/// The longest a moved head waits for its checkpoint.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Wakes the sealer; cheap, never blocks.
#[derive(Debug, Clone)]
pub struct Nudge(SyncSender<()>);

impl Nudge {
    pub fn nudge(&self) {
        let _ = self.0.try_send(());
    }
}

/// The running sealer; [`Sealer::stop`] seals what is left and writes
/// the final checkpoint.
pub struct Sealer {
    stop: Arc<AtomicBool>,
    nudge: Nudge,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sealer {
    pub fn start(store: Store, key: AuditKey, checkpoints: Option<CheckpointFile>) -> Self {
        let (tx, rx) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("audit-sealer".into())
            .spawn(move || run(&store, &key, checkpoints.as_ref(), &rx, &stopping))
            .ok();
        if thread.is_none() {
            log::error!("cannot start the audit sealer thread");
        }
        Sealer {
            stop,
            nudge: Nudge(tx),
            thread,
        }
    }

    pub fn nudge(&self) -> Nudge {
        self.nudge.clone()
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        self.nudge.nudge();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    store: &Store,
    key: &AuditKey,
    checkpoints: Option<&CheckpointFile>,
    rx: &Receiver<()>,
    stop: &AtomicBool,
) {
    let mut checkpointed: Option<i64> = None;
    let mut last_checkpoint = Instant::now();
    loop {
        let started = Instant::now();
        let stopping = stop.load(Ordering::Acquire);
        let mut sealed_any = false;
        if let Some((head, sealed)) = seal_all(store, key) {
            sealed_any = sealed > 0;
            let moved = checkpointed != Some(head.seq);
            if let Some(file) = checkpoints.filter(|_| head.seq > 0 && moved) {
                if stopping || last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    match file.append(&head) {
                        Ok(()) => checkpointed = Some(head.seq),
                        Err(e) => log::error!(
                            "cannot append the audit checkpoint to {:?}: {e}",
                            file.path()
                        ),
                    }
                    last_checkpoint = Instant::now();
                }
            }
        }
        if stopping {
            return;
        }
        if !sealed_any {
            match rx.recv_timeout(TICK) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            }
        }
        // At most one round per GATHER, however often it is woken (a
        // round that found another node's sealer at work seals nothing).
        std::thread::sleep(GATHER.saturating_sub(started.elapsed()));
    }
}

/// Seals until nothing is pending; the head reached and how many records
/// were sealed, `None` when the database cannot be reached (tried again
/// on the next tick).
fn seal_all(store: &Store, key: &AuditKey) -> Option<(Head, usize)> {
    let mut total = 0;
    loop {
        match store.seal_audit(key) {
            Ok((head, 0)) => return Some((head, total)),
            Ok((_, n)) => total += n,
            Err(e) => {
                log::warn!("sealing audit records failed (retried): {e}");
                return None;
            }
        }
    }
}
