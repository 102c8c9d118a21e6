//! `fhir-server audit verify --database URL --audit-key-file PATH
//! [--audit-checkpoint-file PATH]`: walks the keyed AuditEvent chain
//! ([`super::chain`]) and exits 0 when it is intact, 1 naming the first
//! problem: a record whose content or link does not match, a missing
//! sequence number, a record that is not chained (not sealed within
//! `--pending-grace` seconds, or never queued for sealing), or, against the
//! checkpoint file, records missing from the end of the chain.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::key::AuditKey;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the keyed hash chain of the stored AuditEvents.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The server's database (as `serve`).
    #[command(flatten)]
    pub database: crate::database_args::DatabaseArgs,
    /// The key the server signs its chain with (`serve --audit-key-file`).
    #[arg(long, env = "FHIR_AUDIT_KEY_FILE")]
    pub audit_key_file: PathBuf,
    /// The checkpoints the server appended (`serve --audit-checkpoint-file`):
    /// without it, the removal of the last records cannot be seen.
    #[arg(long, env = "FHIR_AUDIT_CHECKPOINT_FILE")]
    pub audit_checkpoint_file: Option<PathBuf>,
    /// How many seconds a record may wait for the sealer before it counts
    /// as unchained.
    #[arg(long, env = "FHIR_AUDIT_PENDING_GRACE", default_value_t = 60)]
    pub pending_grace: i64,
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::Verify(args) = args.command;
    let key = AuditKey::from_file(&args.audit_key_file)?;
    let store = args
        .database
        .resolve()?
        .open(&crate::store::PoolConfig::fixed(1))?;
    let pending: HashMap<String, String> = store
        .audit_pending()
        .context("cannot read the pending AuditEvents")?
        .into_iter()
        .map(|p| (p.id, p.recorded))
        .collect();
    let records = store
        .audit_records()
        .context("cannot read the AuditEvents")?;
    let chain = super::chain::verify(records, &key)
        .map_err(|broken| anyhow::anyhow!("audit chain broken at {broken}"))?;
    let oldest_allowed = crate::store::format_instant(
        chrono::Utc::now() - chrono::Duration::seconds(args.pending_grace.max(0)),
    );
    let mut waiting = 0;
    for (id, _) in &chain.unchained {
        match pending.get(id) {
            Some(recorded) if *recorded >= oldest_allowed => waiting += 1,
            Some(recorded) => anyhow::bail!(
                "audit chain broken at AuditEvent/{id}: unchained record, written at \
                 {recorded} and still not sealed (is a server with --audit running?)"
            ),
            None => anyhow::bail!(
                "audit chain broken at AuditEvent/{id}: unchained record, not written by \
                 the server's audit trail (or its queue entry was removed)"
            ),
        }
    }
    if let Some(path) = &args.audit_checkpoint_file {
        let checkpoints =
            super::checkpoint::read(path, &key).map_err(|e| anyhow::anyhow!("{e}"))?;
        super::checkpoint::check(&chain, &checkpoints)
            .map_err(|e| anyhow::anyhow!("audit chain broken: {e}"))?;
    }
    println!(
        "audit chain intact: {} record(s); head sequence {} hash {}; {waiting} pending",
        chain.head.seq, chain.head.seq, chain.head.hash
    );
    Ok(())
}
