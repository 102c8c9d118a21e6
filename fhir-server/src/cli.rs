//! The command line: `fhir-server serve [--listen ADDR] [--database URL]
//! [--max-body-bytes N] [--pool-max N] [--package PATH]…`, `import`,
//! `fhirpath` and `validate`.
//!
//! Every flag can also be given in the environment, under the `FHIR_…`
//! name `--help` shows beside it (issue #18 item 8: containers and
//! orchestrators configure by environment, and a secret on the command
//! line shows in `ps`); the command line wins. Repeatable flags take a
//! comma-separated list there (`FHIR_TRUSTED_PROXY=10.0.0.1,10.0.0.2`).

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{AppState, DEFAULT_MAX_BODY_BYTES};

#[derive(Debug, Parser)]
#[command(
    name = "fhir-server",
    version,
    about = "A FHIR R4 server on SQLite or PostgreSQL: the REST API in JSON and XML, search, \
             batch and transaction Bundles, terminology, validation and other operations, \
             TLS and SMART on FHIR"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// `text` (for people) or `json` (one object per line with timestamp,
    /// level, target, message, request_id and node_id, for collectors).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FHIR_LOG_FORMAT",
        default_value_t
    )]
    pub log_format: crate::log_levels::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply database migrations (unless --migrate off) and serve the REST
    /// API under /fhir.
    Serve(Box<ServeArgs>),
    /// Apply the pending database migrations and exit (for `serve
    /// --migrate off` deployments: run once before starting the nodes).
    Migrate(crate::migrate_cmd::MigrateArgs),
    /// Evaluate a FHIRPath expression and print the result as JSON.
    Fhirpath(crate::fhirpath_cmd::FhirpathArgs),
    /// Load Bundles and NDJSON files (plain, .gz, .bz2, or folders of them)
    /// into the database, without HTTP.
    Import(crate::import_cmd::ImportArgs),
    /// Store a hospital's local lab or drug code master (CSV) as a local
    /// CodeSystem plus one ConceptMap per standard code system.
    ImportCodes(crate::import_codes_cmd::ImportCodesArgs),
    /// Validate resources (JSON or XML files) against the base spec and
    /// their profiles; exits 1 when any has an error.
    Validate(crate::validate_cmd::ValidateArgs),
    /// Mint a signed SMART test token from a local key (`token jwks`:
    /// print the JWKS that verifies it, for `serve --auth-jwks`).
    Token(crate::security::token_cmd::TokenArgs),
    /// Turn a Japanese standard code master (JLAC10/11, HOT, YJ, receipt
    /// drug, MEDIS disease; CSV, UTF-8 or Shift_JIS) into a CodeSystem,
    /// written as one NDJSON line for `import`.
    JpMaster(crate::jp_master_cmd::JpMasterArgs),
    /// The audit log: `audit verify` checks the AuditEvent hash chain
    /// (exit 1 naming the first record that does not match).
    Audit(crate::audit::verify_cmd::AuditArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, env = "FHIR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub database: crate::database_args::DatabaseArgs,
    #[command(flatten)]
    pub pool: crate::database_args::PoolArgs,
    #[command(flatten)]
    pub replicas: crate::database_args::ReplicaArgs,
    /// This process's name among the servers sharing the database, in
    /// JSON log lines and AuditEvents (`source.observer`); 1 to 64 of
    /// `[A-Za-z0-9._-]`. Default: HOSTNAME-PID.
    #[arg(long, env = "FHIR_NODE_ID")]
    pub node_id: Option<crate::node_id::NodeId>,
    /// Largest request body accepted, in bytes; larger ones answer 413
    /// with an OperationOutcome. The default, 64 MiB, admits a 50 MB
    /// transaction Bundle; a server holds a few times a body's size in
    /// memory while it works on it, so raise it with care.
    #[arg(long, env = "FHIR_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// `auto`: apply pending migrations at start, under a database lock
    /// (nodes started together apply them once); `off`: refuse to start
    /// while any is pending (run `fhir-server migrate` first).
    #[arg(long, env = "FHIR_MIGRATE", value_enum, default_value_t = MigrateMode::Auto)]
    pub migrate: MigrateMode,
    /// PostgreSQL `statement_timeout` of every connection, in ms (0:
    /// none); a statement that runs longer answers 503.
    #[arg(long, env = "FHIR_STATEMENT_TIMEOUT_MS", default_value_t = crate::store::DEFAULT_STATEMENT_TIMEOUT_MS)]
    pub statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout` of every connection, in ms (0: none); a
    /// request that waits longer for a row or advisory lock answers 503.
    #[arg(long, env = "FHIR_LOCK_TIMEOUT_MS", default_value_t = crate::store::DEFAULT_LOCK_TIMEOUT_MS)]
    pub lock_timeout_ms: u64,
    /// A FHIR package (`.tgz` or folder, npm layout) whose conformance
    /// resources are stored at start; repeatable. Dependencies are taken
    /// from ~/.fhir/packages when there; missing ones are warned about.
    #[arg(
        long = "package",
        value_name = "PATH",
        env = "FHIR_PACKAGE",
        value_delimiter = ','
    )]
    pub packages: Vec<std::path::PathBuf>,
    /// Local codes of imported masters (`import-codes`): `index` adds the
    /// mapped standard codes to the search index only (the stored resource
    /// stays as sent), `enrich` also adds them to the stored resource
    /// (`userSelected=false`, with an extension naming the ConceptMap),
    /// `off` does neither. Unmapped local codes are reported unless `off`.
    #[arg(long, value_enum, env = "FHIR_LOCAL_CODES", default_value_t = crate::local_codes::Mode::Index)]
    pub local_codes: crate::local_codes::Mode,
    /// Validation of writes (see README "Validation"): `off` (the model's
    /// structural check only), `warn` (stored; issues returned as
    /// warnings) or `reject` (422). Default `off`, or `reject` when a
    /// --require-profile is given.
    #[arg(long, value_enum, env = "FHIR_PROFILE_ENFORCEMENT")]
    pub profile_enforcement: Option<crate::profile_enforcement::Mode>,
    /// `TYPE=URL`: every write of TYPE must conform to the profile URL
    /// (its package loaded with --package); repeatable.
    #[arg(
        long = "require-profile",
        value_name = "TYPE=URL",
        env = "FHIR_REQUIRE_PROFILE",
        value_delimiter = ','
    )]
    pub require_profiles: Vec<String>,
    /// Where Bulk Data `$export` writes its NDJSON files (a directory per
    /// job). Nodes sharing a database must share this directory too (any
    /// node may run a job, any node may serve its files). Default: a
    /// `fhir-server-bulk` directory in the system's temporary directory.
    #[arg(long, env = "FHIR_BULK_DIR")]
    pub bulk_dir: Option<std::path::PathBuf>,
    /// How long a node's claim on an export job holds without renewal (it
    /// renews after every page): the job of a node that died is taken over
    /// by another node this long after its last page.
    #[arg(long, env = "FHIR_BULK_LEASE_SECS", default_value_t = crate::operation::bulk_export::runner::DEFAULT_LEASE_SECS)]
    pub bulk_lease_secs: u64,
    /// A reverse proxy (IP address or CIDR block) whose `Forwarded` and
    /// `X-Forwarded-Host`/`-Proto` headers are believed when it is the TCP
    /// peer; repeatable. From any other peer they are ignored, so links
    /// (`Location`, Bundle `fullUrl`) follow the `Host` header.
    #[arg(
        long = "trusted-proxy",
        value_name = "ADDR",
        env = "FHIR_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<crate::forwarded::IpBlock>,
    /// A browser origin (`https://app.example`, exact) allowed to call the
    /// API through CORS; repeatable. Without it no CORS header is sent.
    #[arg(
        long = "cors-origin",
        value_name = "ORIGIN",
        value_parser = crate::http_headers::parse_origin,
        env = "FHIR_CORS_ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Seconds a request body may take to arrive; a slower one (a client
    /// sending a few bytes a second) answers 408 with an OperationOutcome.
    #[arg(
        long,
        env = "FHIR_BODY_TIMEOUT_SECS",
        default_value_t = crate::http_headers::DEFAULT_BODY_TIMEOUT_SECS
    )]
    pub body_timeout_secs: u64,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// `serve --migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrateMode {
    Auto,
    Off,
}

impl From<MigrateMode> for crate::store::Migrate {
    fn from(m: MigrateMode) -> Self {
        match m {
            MigrateMode::Auto => crate::store::Migrate::Auto,
            MigrateMode::Off => crate::store::Migrate::Off,
        }
    }
}

/// TLS and SMART authorization (see README "Security").
#[derive(Debug, Args)]
pub struct SecurityArgs {
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, requires = "tls_key", env = "FHIR_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", env = "FHIR_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// PEM CA certificates: mutual TLS, clients must present a certificate
    /// signed by one of them.
    #[arg(long, requires = "tls_cert", env = "FHIR_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// `iss` of accepted bearer JWTs; turns authorization on.
    #[arg(long, requires_all = ["auth_audience", "auth_jwks"], env = "FHIR_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// `aud` that accepted tokens must carry (usually this server's base URL).
    #[arg(long, requires = "auth_issuer", env = "FHIR_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
    /// The issuer's JWKS: a file, or an http(s) URL (cached, refetched for
    /// an unknown `kid`).
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        requires = "auth_issuer",
        env = "FHIR_AUTH_JWKS"
    )]
    pub auth_jwks: Option<String>,
    /// The authorization endpoint published in the SMART configuration
    /// (default: ISSUER/authorize).
    #[arg(long, requires = "auth_issuer", env = "FHIR_AUTH_AUTHORIZE_URL")]
    pub auth_authorize_url: Option<String>,
    /// The token endpoint published in the SMART configuration (default:
    /// ISSUER/token).
    #[arg(long, requires = "auth_issuer", env = "FHIR_AUTH_TOKEN_URL")]
    pub auth_token_url: Option<String>,
    /// Serve on a non-loopback address without TLS and authorization.
    #[arg(long, env = "FHIR_INSECURE")]
    pub insecure: bool,
    /// Record every request as an AuditEvent on a keyed hash chain (IHE
    /// BALP; `fhir-server audit verify` checks the chain); AuditEvents
    /// become read-only through the API. Needs --audit-key-file.
    #[arg(long, requires = "audit_key_file", env = "FHIR_AUDIT")]
    pub audit: bool,
    /// The HMAC key of the audit chain: a file of at least 16 secret bytes
    /// (e.g. `openssl rand -hex 32`), kept away from the database.
    #[arg(long, requires = "audit", env = "FHIR_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<std::path::PathBuf>,
    /// Append signed head checkpoints of the audit chain to this file
    /// (every second while records arrive, and at shutdown), so that
    /// `audit verify` detects the removal of the last records. Keep it
    /// where a database administrator cannot edit it.
    #[arg(long, requires = "audit", env = "FHIR_AUDIT_CHECKPOINT_FILE")]
    pub audit_checkpoint_file: Option<std::path::PathBuf>,
}

/// Parses the command line, sets up logging and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::log_levels::init(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Migrate(args) => crate::migrate_cmd::run(args),
        Command::Fhirpath(args) => crate::fhirpath_cmd::run(args),
        Command::Import(args) => crate::import_cmd::run(args),
        Command::ImportCodes(args) => crate::import_codes_cmd::run(args),
        Command::Validate(args) => crate::validate_cmd::run(args),
        Command::Token(args) => crate::security::token_cmd::run(args),
        Command::JpMaster(args) => crate::jp_master_cmd::run(args),
        Command::Audit(args) => crate::audit::verify_cmd::run(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let node = args
        .node_id
        .clone()
        .unwrap_or_else(crate::node_id::NodeId::default_for_this_process);
    log::info!("node id {node}");
    let node_name = node.to_string();
    crate::node_id::set(node);
    let database = args.database.resolve()?;
    let sec = &args.security;
    crate::security::check_listen(
        &args.listen,
        sec.tls_cert.is_some(),
        sec.auth_issuer.is_some(),
        sec.insecure,
    )?;
    let mut security = security_config(sec)?;
    let audit_key = match (&sec.audit_key_file, sec.audit) {
        (Some(path), true) => Some(crate::audit::key::AuditKey::from_file(path)?),
        _ => None,
    };
    let tls = match (&sec.tls_cert, &sec.tls_key) {
        (Some(cert), Some(key)) => Some(crate::security::tls::acceptor(
            &crate::security::tls::TlsFiles {
                cert,
                key,
                client_ca: sec.tls_client_ca.as_deref(),
            },
        )?),
        _ => None,
    };
    let db_options = crate::store::DbOptions {
        pool: args.pool.config(),
        migrate: args.migrate.into(),
        statement_timeout_ms: args.statement_timeout_ms,
        lock_timeout_ms: args.lock_timeout_ms,
    };
    let store = args
        .replicas
        .attach(database.open_with(&db_options)?, &db_options)?;
    // Read-your-writes positions of this node's clients (used only with
    // replicas; `read_replicas.rs`).
    let read_your_writes =
        actix_web::web::Data::new(crate::read_replicas::ReadYourWrites::default());
    store.local_codes().set_mode(args.local_codes);
    let packages = crate::packages::install(&store, &args.packages)?;
    crate::profile_enforcement::install(crate::profile_enforcement::Enforcement::new(
        args.profile_enforcement,
        &args.require_profiles,
    )?);
    // Search parameters: the built-in R4 ones plus every SearchParameter
    // stored, the packages' ones included (the store rebuilds this
    // whenever a SearchParameter is written).
    let stored = store
        .rebuild_registry()
        .context("cannot read the stored SearchParameter resources")?;
    log::info!("search parameters: R4 core plus {stored} stored SearchParameter(s)");
    // Definitions changed by another process on the database reach this
    // one's caches through the watcher (`store/definitions.rs`).
    store.watch_definitions();
    // Index rows stored by an older version of the server are rebuilt
    // before the first request (see `store/index_format.rs`), by one node:
    // the others wait for it under the schema lock, then find the index
    // current (without the lock they would each rewrite every row, queue
    // on each other's row locks and end in the lock timeout).
    {
        let _held = store
            .hold(crate::store::ClusterLock::Schema)
            .context("cannot take the lock for reindexing")?;
        store
            .reindex_if_stale()
            .context("cannot bring the search index up to date")?;
    }
    // Planner statistics follow the data as it grows through the API:
    // checked now and every minute, off the request path; taken only once
    // the store is large enough and has doubled since, by one node at a
    // time (`store/statistics.rs`).
    {
        let store = store.clone();
        std::thread::spawn(move || loop {
            match store.refresh_statistics() {
                Ok(crate::store::Refresh::Analyzed { rows, before }) => log::info!(
                    "planner statistics refreshed: {rows} versions stored ({before} at the last pass)"
                ),
                Ok(_) => {}
                Err(e) => log::warn!("refreshing the planner statistics failed: {e}"),
            }
            std::thread::sleep(std::time::Duration::from_secs(60));
        });
    }
    // `--audit`: the sealer chains the records this process (and any
    // other on the database) stores; stopped after the server, so the
    // last records are sealed and checkpointed.
    let sealer = audit_key.map(|key| {
        let checkpoints = sec
            .audit_checkpoint_file
            .clone()
            .map(|p| crate::audit::checkpoint::CheckpointFile::new(p, key.clone()));
        let sealer = crate::audit::sealer::Sealer::start(store.clone(), key.clone(), checkpoints);
        let recorder =
            crate::audit::recorder::Recorder::start(store.clone(), key.clone(), sealer.nudge())
                .context("cannot start the audit recorder thread")?;
        security.audit = Some(std::sync::Arc::new(crate::audit::Trail {
            key,
            recorder,
            nudge: sealer.nudge(),
        }));
        log::info!("audit: every request is recorded as an AuditEvent");
        anyhow::Ok(sealer)
    });
    let sealer = sealer.transpose()?;
    // Bulk Data export: this node runs jobs any node kicked off.
    let bulk_dir = args
        .bulk_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("fhir-server-bulk"));
    std::fs::create_dir_all(&bulk_dir)
        .with_context(|| format!("cannot create --bulk-dir {}", bulk_dir.display()))?;
    crate::operation::bulk_export::runner::start(
        store.clone(),
        bulk_dir.clone(),
        format!("{node_name}/{}", uuid::Uuid::new_v4()),
        std::time::Duration::from_secs(args.bulk_lease_secs.max(1)),
    );
    let bulk_dir = actix_web::web::Data::new(crate::operation::bulk_export::BulkDir(bulk_dir));
    let fetch_store = store.clone();
    let state = AppState {
        store,
        max_body_bytes: args.max_body_bytes,
        // References the validator cannot resolve inside the payload are
        // read from this server's store, so their targets are checked too.
        validator: std::sync::Arc::new(crate::stored_profiles::Profiles::new(
            packages,
            fetch_store.clone(),
            crate::reference_fetch::fetcher(fetch_store),
        )),
        terminology: Default::default(),
    };
    let trusted = actix_web::web::Data::new(crate::forwarded::TrustedProxies(
        args.trusted_proxies.clone(),
    ));
    let cors =
        actix_web::web::Data::new(crate::http_headers::CorsOrigins(args.cors_origins.clone()));
    let body_timeout = actix_web::web::Data::new(crate::http_headers::BodyTimeout(
        std::time::Duration::from_secs(args.body_timeout_secs),
    ));
    let served = actix_web::rt::System::new().block_on(async move {
        // actix-server stops on SIGINT and SIGTERM: it stops accepting, lets
        // in-flight requests (and their storage calls) finish for up to
        // `shutdown_timeout`, then returns; the pool is dropped after that.
        // The connection layer (`wire`) sits between each connection and
        // actix-http, so requests actix-http would refuse with an empty
        // 400 get an OperationOutcome; it builds what HttpServer would.
        let scheme = if tls.is_some() { "https" } else { "http" };
        let bound = crate::wire::server::bind(
            move || {
                crate::app::build_app_with(state.clone(), security.clone())
                    .app_data(read_your_writes.clone())
                    .app_data(trusted.clone())
                    .app_data(cors.clone())
                    .app_data(body_timeout.clone())
                    .app_data(bulk_dir.clone())
                    // Outside the app: preflights are answered before
                    // authorization.
                    .wrap(crate::http_headers::cors(&cors))
                    // Outermost: every answer, a preflight's too, carries
                    // the request id, and every log line of the request
                    // names it.
                    .wrap(actix_web::middleware::from_fn(crate::request_id::assign))
            },
            &args.listen,
            tls,
        )
        .with_context(|| format!("cannot listen on {}", args.listen))?;
        for addr in &bound.addrs {
            log::info!("listening on {scheme}://{addr}/fhir");
        }
        bound.server.await.context("server failed")?;
        log::info!("server stopped");
        Ok(())
    });
    if let Some(sealer) = sealer {
        sealer.stop();
    }
    served
}

/// The authorization of `serve`: none, or a verifier over the JWKS.
fn security_config(args: &SecurityArgs) -> anyhow::Result<crate::security::Security> {
    let (Some(iss), Some(aud), Some(jwks)) =
        (&args.auth_issuer, &args.auth_audience, &args.auth_jwks)
    else {
        log::warn!("no --auth-issuer: every request is allowed (loopback only, or --insecure)");
        return Ok(crate::security::Security::default());
    };
    let verifier = crate::security::jwt::Verifier::new(iss, aud, jwks)
        .with_context(|| format!("cannot load the JWKS {jwks}"))?;
    log::info!("authorization: bearer JWTs from {iss} for {aud}");
    Ok(crate::security::Security {
        verifier: Some(std::sync::Arc::new(verifier)),
        jwks_url: jwks.starts_with("http").then(|| jwks.clone()),
        authorize_url: args.auth_authorize_url.clone(),
        token_url: args.auth_token_url.clone(),
        audit: None,
        consents: Default::default(),
    })
}
