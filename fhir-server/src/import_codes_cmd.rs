//! `fhir-server import-codes --kind lab|drug --system URL [--database URL]
//! FILE.csv`: stores a hospital's local code master as a local CodeSystem
//! and one ConceptMap per standard system (see [`crate::local_codes`]),
//! the same import as `POST [base]/CodeSystem/$import-codes`, and prints
//! the summary: concepts, mappings per target, rows without any mapping.
//! A running server on the same database maps with them from its next
//! write on (the definition stamps, `store/definitions.rs`).

use anyhow::Context;
use clap::{Args, ValueEnum};
use terminology::local_codes::Kind;

/// Which master the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// `local_code,name,unit,specimen,jlac10,jlac11,loinc`.
    Lab,
    /// `local_code,name,hot9,hot13,yj,receipt`.
    Drug,
}

#[derive(Debug, Args)]
pub struct ImportCodesArgs {
    /// The layout of the CSV file.
    #[arg(long, value_enum, env = "FHIR_IMPORT_CODES_KIND")]
    pub kind: KindArg,
    /// The canonical url of the local code system (what `Coding.system`
    /// says in the hospital's resources).
    #[arg(long, env = "FHIR_IMPORT_CODES_SYSTEM")]
    pub system: String,
    /// The database, as for `serve`.
    #[command(flatten)]
    pub database: crate::database_args::DatabaseArgs,
    /// The master, UTF-8 CSV with a header row.
    pub file: std::path::PathBuf,
}

pub fn run(args: ImportCodesArgs) -> anyhow::Result<()> {
    let csv = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let store = args
        .database
        .resolve()?
        .open(&crate::store::PoolConfig::fixed(2))?;
    let kind = match args.kind {
        KindArg::Lab => Kind::Lab,
        KindArg::Drug => Kind::Drug,
    };
    let summary = crate::local_codes::import::run(&store, kind, &args.system, &csv)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    print!("{}", summary.text());
    Ok(())
}
