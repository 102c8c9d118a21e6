//! The command line: `fhir-server serve [--listen ADDR] [--database URL]
//! [--max-body-bytes N] [--pool-size N] [--package PATH]…`, `import`,
//! `fhirpath` and `validate`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{build_app, AppState, DEFAULT_MAX_BODY_BYTES};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "fhir-server",
    version,
    about = "A FHIR R4 server (JSON, REST) on SQLite or PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply database migrations and serve the REST API under /fhir.
    Serve(ServeArgs),
    /// Evaluate a FHIRPath expression and print the result as JSON.
    Fhirpath(crate::fhirpath_cmd::FhirpathArgs),
    /// Load Bundles and NDJSON files (plain, .gz, .bz2, or folders of them)
    /// into the database, without HTTP.
    Import(crate::import_cmd::ImportArgs),
    /// Validate resources (JSON or XML files) against the base spec and
    /// their profiles; exits 1 when any has an error.
    Validate(crate::validate_cmd::ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// `sqlite:PATH` (created if missing), `sqlite::memory:`, or
    /// `postgres://user@host:port/db`.
    #[arg(long, default_value = "sqlite:fhir.db")]
    pub database: String,
    /// Largest request body accepted; larger ones answer 413.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Database connections in the pool.
    #[arg(long, default_value_t = 16)]
    pub pool_size: u32,
    /// A FHIR package (`.tgz` or folder, npm layout) whose conformance
    /// resources are stored at start; repeatable. Dependencies are taken
    /// from ~/.fhir/packages when there; missing ones are warned about.
    #[arg(long = "package", value_name = "PATH")]
    pub packages: Vec<std::path::PathBuf>,
}

/// Parses the command line, sets up logging and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Fhirpath(args) => crate::fhirpath_cmd::run(args),
        Command::Import(args) => crate::import_cmd::run(args),
        Command::Validate(args) => crate::validate_cmd::run(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.database, args.pool_size)
        .with_context(|| format!("cannot open database {:?}", args.database))?;
    log::info!("database {:?} ready ({:?})", args.database, store.backend());
    let packages = crate::packages::install(&store, &args.packages)?;
    // Search parameters: the built-in R4 ones plus every SearchParameter
    // stored, the packages' ones included (the store rebuilds this
    // whenever a SearchParameter is written).
    let stored = store
        .rebuild_registry()
        .context("cannot read the stored SearchParameter resources")?;
    log::info!("search parameters: R4 core plus {stored} stored SearchParameter(s)");
    // Planner statistics follow the data as it grows through the API (see
    // `Store::analyze`): refreshed now and every 10 minutes, off the
    // request path.
    {
        let store = store.clone();
        std::thread::spawn(move || loop {
            if let Err(e) = store.analyze() {
                log::warn!("refreshing the planner statistics failed: {e}");
            }
            std::thread::sleep(std::time::Duration::from_secs(600));
        });
    }
    let state = AppState {
        store,
        max_body_bytes: args.max_body_bytes,
        validator: std::sync::Arc::new(profiles::Validator::new(std::sync::Arc::new(packages))),
        terminology: Default::default(),
    };
    actix_web::rt::System::new().block_on(async move {
        // actix-web stops on SIGINT and SIGTERM: it stops accepting, lets
        // in-flight requests (and their storage calls) finish for up to
        // `shutdown_timeout`, then returns; the pool is dropped after that.
        let server = actix_web::HttpServer::new(move || build_app(state.clone()))
            .shutdown_timeout(30)
            .bind(&args.listen)
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        for addr in server.addrs() {
            log::info!("listening on http://{addr}/fhir");
        }
        server.run().await.context("server failed")?;
        log::info!("server stopped");
        Ok(())
    })
}
