//! `fhir-server migrate --database URL`: applies the pending migrations
//! and exits, for deployments that start their nodes with `serve --migrate
//! off` (a schema change is then a step of its own, run once, rather than
//! something the first node to start does). It takes the same database
//! lock as `serve --migrate auto`, so it is safe beside starting nodes too.

use clap::Args;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: crate::database_args::DatabaseArgs,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let applied = args.database.resolve()?.migrate()?;
    if applied.is_empty() {
        println!("the database schema is up to date: no migration pending");
    } else {
        println!("applied {} migration(s):", applied.len());
        for name in &applied {
            println!("  {name}");
        }
    }
    Ok(())
}
