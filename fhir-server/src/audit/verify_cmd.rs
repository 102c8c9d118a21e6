//! `fhir-server audit verify --database URL`: walks the AuditEvent hash
//! chain ([`super::chain`]) and exits 0 when it is intact, 1 naming the
//! first record whose content or link does not match (or the first
//! missing sequence number).

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::store::Store;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the stored AuditEvents.
    Verify {
        /// The server's database (same forms as `serve --database`).
        #[arg(long, default_value = "sqlite:fhir.db")]
        database: String,
    },
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::Verify { database } = args.command;
    let store =
        Store::open(&database, 1).with_context(|| format!("cannot open database {database:?}"))?;
    let records = store
        .audit_records()
        .context("cannot read the AuditEvents")?;
    match super::chain::verify(records) {
        Ok(head) => {
            println!(
                "audit chain intact: {} record(s); head sequence {} hash {}",
                head.seq, head.seq, head.hash
            );
            Ok(())
        }
        Err(broken) => anyhow::bail!("audit chain broken at {broken}"),
    }
}
