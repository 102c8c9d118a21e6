//! Versioned resource storage on SQLite or PostgreSQL through diesel.
//!
//! [`Store`] is the public API; everything else in this module is behind it.
//! Two tables (see `migrations/`): `resource_versions` keeps every version
//! of every resource (type, id, version, lastUpdated, deleted flag, the
//! compact JSON body with `meta` already set, so reads return stored bytes
//! without parsing) and `resources` holds the current version of each
//! resource, the row every writer guards.
//!
//! **No lost updates.** A write reads the current row, then either inserts
//! it (the primary key rejects a concurrent insert) or moves it with
//! `UPDATE … WHERE version = expected` (a concurrent writer leaves zero rows
//! matched). Either way the transaction is retried, and after a few tries the
//! write fails as a version conflict. Each write transaction starts with a
//! no-op update of the resource's row ([`queries::lock_current`]), which
//! queues writers of one resource on PostgreSQL and takes SQLite's write
//! lock up front. SQLite additionally serialises writers
//! in-process with a mutex: two deferred transactions that both read and
//! then try to write deadlock in SQLite and one gets `SQLITE_BUSY` at once,
//! without waiting for `busy_timeout`.
//!
//! diesel is synchronous: callers on the async side run these methods inside
//! `actix_web::web::block`.

mod audit;
mod bulk_jobs;
mod cluster_lock;
mod conditional;
mod connection;
mod definition_watch;
mod definitions;
pub mod encryption;
mod index_format;
mod index_rows;
mod local_codes;
mod model;
mod precondition;
mod queries;
pub mod replica;
mod retry;
mod schema;
mod search;
mod statistics;
mod write_clock;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use diesel::r2d2::{Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use fhir_model::primitives::{Id, Instant};
use fhir_model::{Resource, ResourceType};

pub use audit::{AuditRecord, PendingRecord};
pub use bulk_jobs::{ExportJob, JobState, NewExportJob};
pub use cluster_lock::{ClusterLock, Held};
pub use conditional::{CondOutcome, Conditional, Criteria};
pub use conditional::{Plan, Tx};
pub use connection::{
    masked, Backend, DatabaseUrl, DbOptions, Migrate, PoolConfig, DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
};
use connection::{DbConnection, Manager};
pub use definitions::{DefinitionFeed, DefinitionKind, DefinitionsChanged, Stamps};
pub use index_format::INDEX_FORMAT;
use index_rows::PendingRows;
pub use local_codes::UnmappedCode;

/// The terminology resources (their writes move the Terminology
/// definition stamp, see [`definitions`]).
pub const TERMINOLOGY_TYPES: [ResourceType; 3] = [
    ResourceType::CodeSystem,
    ResourceType::ValueSet,
    ResourceType::ConceptMap,
];
use model::{NewVersion, VersionRow};
pub use precondition::{NoneMatch, Preconditions};
use queries::HistoryFilter;
pub use search::{Found, SearchPage, MAX_INCLUDED};
pub use statistics::Refresh;

use crate::search::param::ParamRegistry;

/// How many times a write is retried after losing a race to another writer.
const WRITE_ATTEMPTS: usize = 8;

/// Why a storage call failed. The HTTP layer maps each to a status once, in
/// `crate::error`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No resource (or no such version) was ever stored under that id.
    #[error("{0} is not known")]
    NotFound(String),
    /// The resource exists but its newest version is a deletion.
    #[error("{what} was deleted (version {version})")]
    Gone {
        what: String,
        version: i32,
        last_updated: String,
    },
    /// Another writer kept winning the race for this resource, or a create
    /// hit an id that is taken.
    #[error("version conflict: {0}")]
    VersionConflict(String),
    /// The database aborted the unit of work for a deadlock or a
    /// serialization failure with another transaction (see
    /// `store/retry.rs`); rerun it, and after the last run answer 409.
    #[error("conflict with a concurrent transaction: {0}")]
    Contention(String),
    /// The write named a version (`If-Match`) that is not the current one.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The database cannot be reached or is busy; trying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The request cannot be answered as asked (a search cursor this
    /// server did not issue, …); the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// The write would change an AuditEvent (see `store/audit.rs`).
    #[error("{0}")]
    ReadOnly(String),
    /// The resource breaks a closed rule of the base spec that every write
    /// must meet ([`profiles::write_rules`]: a code outside a required
    /// binding, dom-2, dom-4); each issue names the element. Checked here,
    /// on the one path every write takes, so no interaction can skip it.
    #[error("the resource breaks rules of the base specification: {}", issue_list(.0))]
    Unprocessable(Vec<profiles::Issue>),
    /// The `--database` value cannot be used.
    #[error("{0}")]
    Config(String),
    /// Anything else: a bug or a broken database. Logged, never shown.
    #[error("storage fault: {0}")]
    Fault(String),
}

/// `location: message; …` for messages and logs (the import reports them).
fn issue_list(issues: &[profiles::Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("{}: {}", i.expression, i.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            // SQLite reports a lock it could not get within busy_timeout this way.
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("database is locked")
                    || info.message().contains("busy") =>
            {
                StoreError::Unavailable(info.message().to_owned())
            }
            ref other => match retry::classify(other) {
                Some(retry::Transient::Contention) => StoreError::Contention(other.to_string()),
                Some(retry::Transient::Timeout) => StoreError::Unavailable(other.to_string()),
                None => StoreError::Fault(other.to_string()),
            },
        }
    }
}

/// What a successful write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub version: i32,
    pub last_updated: String,
    /// True when the resource did not exist (or was deleted) before.
    pub created: bool,
    /// The stored body (`None` for a deletion).
    pub body: Option<Vec<u8>>,
}

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// Global write position; history paging uses it as its cursor.
    pub seq: i64,
    pub resource_type: String,
    pub id: String,
    pub version: i32,
    pub last_updated: String,
    pub deleted: bool,
    /// The HTTP method that wrote this version (`POST`, `PUT`, `DELETE`).
    pub method: String,
    /// Compact FHIR JSON with `meta.versionId`/`meta.lastUpdated` set;
    /// `None` for a deletion.
    pub body: Option<Vec<u8>>,
}

impl From<VersionRow> for StoredVersion {
    fn from(r: VersionRow) -> Self {
        Self {
            seq: r.seq,
            resource_type: r.resource_type,
            id: r.resource_id,
            version: r.version,
            last_updated: r.last_updated,
            deleted: r.deleted,
            method: r.method,
            body: r.body,
        }
    }
}

/// Which resources a history request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(ResourceType),
    Instance(ResourceType, Id),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Normalised with [`format_instant`]-compatible text (UTC, millis).
    pub since: Option<String>,
    /// `_at`: the inclusive period (same text form as `since`) in which a
    /// version must have been current.
    pub at: Option<(String, String)>,
    /// Cursor: only versions written before this `seq`.
    pub before: Option<i64>,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Newest first.
    pub entries: Vec<StoredVersion>,
    /// All versions the scope and `since` select, ignoring paging.
    pub total: i64,
    /// The cursor for the next page, when there is one.
    pub next_before: Option<i64>,
    /// With `since`: the safe horizon the page stops before (see
    /// `store/write_clock.rs`); what the next poll sends as `_since`.
    pub as_of: Option<String>,
}

/// What a write does to a resource.
enum Change<'a> {
    /// Store `Resource` as version 1; fail if the id is taken.
    Create(&'a mut Resource),
    /// Store the next version, creating the resource when it is missing;
    /// with a version, only if that is the current one (`If-Match`).
    Update(&'a mut Resource, Option<i32>),
    Delete,
}

/// One write of a [`Store::transaction`].
pub enum TxWrite {
    /// Store as version 1 under the id the resource carries.
    Create(Resource),
    /// Store the next version (update-as-create), optionally `If-Match`.
    Update(Resource, Option<i32>),
    Delete(ResourceType, Id),
}

/// Why one attempt of a write transaction failed: a database error, a
/// refusal to report, or a lost race that reruns the transaction.
pub enum TxError {
    Db(DieselError),
    Store(StoreError),
    /// Lost a race; run the transaction again.
    Retry,
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Contention(_) => TxError::Retry,
            e => TxError::Store(e),
        }
    }
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
            | DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                TxError::Retry
            }
            other if retry::classify(&other) == Some(retry::Transient::Contention) => {
                TxError::Retry
            }
            other => TxError::Db(other),
        }
    }
}

/// The storage handle; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    backend: Backend,
    /// SQLite only: one writer at a time in this process (see the module doc).
    write_lock: Option<Arc<Mutex<()>>>,
    /// The search parameters every write is indexed by; replaced when
    /// packages or SearchParameter resources add parameters.
    registry: Arc<RwLock<ParamRegistry>>,
    /// The `definitions` stamp of SearchParameters `registry` was built
    /// from ([`definitions`]).
    registry_stamp: Arc<AtomicI64>,
    /// Local code mappings applied to writes (`serve --local-codes`).
    local_codes: Arc<crate::local_codes::LocalCodes>,
    /// What this process knows of the stored definitions ([`definitions`]).
    definitions: Arc<DefinitionFeed>,
    /// The database, for the connections opened outside the pool: the
    /// definition watcher's, and the session [`cluster_lock`] holds an
    /// advisory lock on.
    url: Arc<DatabaseUrl>,
    /// `serve --replica-database`: where reads may go ([`replica`]).
    replicas: Option<Arc<replica::Replicas>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The current time as a FHIR instant: UTC with milliseconds, fixed width,
/// so text comparison in SQL is time comparison.
pub fn now_instant() -> String {
    format_instant(chrono::Utc::now())
}

pub fn format_instant(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Store {
    /// Connects (see [`DatabaseUrl::parse`] for the URL forms), applies the
    /// embedded migrations and returns the store.
    pub fn open(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        Self::open_with(url, &DbOptions::new(pool_size))
    }

    /// [`Store::open`] with `serve`'s choices: migrations applied or only
    /// checked, the PostgreSQL timeouts.
    pub fn open_with(url: &str, opts: &DbOptions) -> Result<Self, StoreError> {
        let url = DatabaseUrl::parse(url)?;
        let pool = connection::open_pool(&url, opts)?;
        let write_lock = (url.backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let store = Self {
            pool,
            backend: url.backend,
            write_lock,
            registry: Arc::new(RwLock::new(crate::search::registry::core())),
            registry_stamp: Arc::new(AtomicI64::new(-1)),
            local_codes: Default::default(),
            definitions: Default::default(),
            url: Arc::new(url),
            replicas: None,
        };
        // The stamps as of now, so caches built at start are keyed right.
        let stamps = definitions::read(&mut *store.conn()?)?;
        store.definitions.observe(stamps);
        Ok(store)
    }

    /// What this process knows of the stored definitions: the stamps the
    /// in-process caches compare theirs with ([`definitions`]).
    pub fn definitions(&self) -> &DefinitionFeed {
        &self.definitions
    }

    /// Reads the definition stamps (one small query) and, when the
    /// SearchParameters changed, rebuilds the search registry before
    /// returning; the other caches rebuild on their next use. Blocking.
    pub fn check_definitions(&self) -> Result<DefinitionsChanged, StoreError> {
        let stamps = {
            let mut conn = self.conn()?;
            definitions::read(&mut conn)?
        };
        let changed = self.definitions.observe(stamps);
        let want = self.definitions.seen().get(DefinitionKind::SearchParameter);
        if self.registry_stamp.load(Ordering::Acquire) != want {
            let n = self.rebuild_registry()?;
            log::info!("search parameters reloaded ({n} stored SearchParameters)");
        }
        Ok(changed)
    }

    /// What a write maps and indexes with, as of the last committed
    /// definition change on any node: the stamps are read first (see
    /// [`definitions`]: a write never indexes with search parameters or
    /// maps with local codes older than what is committed when it starts).
    fn write_snapshot(&self) -> Result<crate::local_codes::Snapshot, StoreError> {
        self.check_definitions()?;
        self.local_codes.snapshot(self)
    }

    /// Called after a write that touched a definition committed (or rolled
    /// back, which changes nothing): this process sees its own change at
    /// once. The write stays successful if this fails; logged.
    fn definitions_written(&self) {
        if let Err(e) = self.check_definitions() {
            log::error!("definition stamps not read after a write: {e}");
        }
    }

    /// `fhir-server migrate`: applies the pending migrations (under the
    /// lock every starting node takes) and returns their names.
    pub fn migrate(url: &str) -> Result<Vec<String>, StoreError> {
        connection::migrate(&DatabaseUrl::parse(url)?)
    }

    /// The local code mappings writes apply ([`crate::local_codes`]).
    pub fn local_codes(&self) -> &Arc<crate::local_codes::LocalCodes> {
        &self.local_codes
    }

    /// The search parameters writes are indexed by (and queries may use).
    pub fn registry(&self) -> ParamRegistry {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the search parameters. Resources stored before keep their
    /// old index rows until they are written again or reindexed.
    pub fn set_registry(&self, registry: ParamRegistry) {
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = registry;
    }

    /// [`Store::set_registry`] for a registry built from the stored
    /// SearchParameters as of `stamp`.
    fn set_registry_at(&self, registry: ParamRegistry, stamp: i64) {
        self.set_registry(registry);
        self.registry_stamp.store(stamp, Ordering::Release);
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Refreshes the query planner's statistics. SQLite plans search
    /// queries from `sqlite_stat1`, which only ANALYZE writes: without it a
    /// freshly loaded database can get plans that walk a whole index per
    /// row. `analysis_limit` keeps it a sampled, sub-second pass.
    /// PostgreSQL's autovacuum keeps its own statistics; an explicit
    /// ANALYZE after a bulk load just saves waiting for it.
    pub fn analyze(&self) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection;
        let mut conn = self.conn()?;
        match &mut *conn {
            DbConnection::Sqlite(c) => c.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;"),
            DbConnection::Postgresql(c) => c.batch_execute("ANALYZE"),
        }
        .map_err(Into::into)
    }

    /// `/readyz`: a connection within `timeout` that answers, and no
    /// migration of this binary left to apply.
    pub fn check_ready(&self, timeout: std::time::Duration) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .get_timeout(timeout)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        diesel::r2d2::R2D2Connection::ping(&mut *conn)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if connection::has_pending_migrations(&mut conn)? {
            return Err(StoreError::Unavailable(
                "database migrations of this version are not applied yet".into(),
            ));
        }
        Ok(())
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Stores `resource` (whose id the caller assigned) as version 1.
    pub fn create(&self, resource: &mut Resource) -> Result<Written, StoreError> {
        let (rt, id) = type_and_id(resource)?;
        self.write(rt, &id, Change::Create(resource))?
            .ok_or_else(|| StoreError::Fault("create stored nothing".into()))
    }

    /// Stores the next version of `resource`, or version 1 when the resource
    /// does not exist (update-as-create) or was deleted.
    pub fn update(&self, resource: &mut Resource) -> Result<Written, StoreError> {
        self.update_if(resource, None)
    }

    /// [`Store::update`], but only when `if_match` (when given) is the
    /// current version; checked inside the write transaction, so two clients
    /// updating the same version cannot both succeed
    /// (http.html#concurrency).
    pub fn update_if(
        &self,
        resource: &mut Resource,
        if_match: Option<i32>,
    ) -> Result<Written, StoreError> {
        let (rt, id) = type_and_id(resource)?;
        self.write(rt, &id, Change::Update(resource, if_match))?
            .ok_or_else(|| StoreError::Fault("update stored nothing".into()))
    }

    /// Records a deletion as a new version. Deleting what does not exist or
    /// is already deleted changes nothing and returns `None` (http.html#delete:
    /// "has no effect").
    pub fn delete(&self, rt: ResourceType, id: &Id) -> Result<Option<Written>, StoreError> {
        self.write(rt, id.as_str(), Change::Delete)
    }

    /// Serialises writers on SQLite (see the module doc); no lock on
    /// PostgreSQL. A poisoned lock only means another writer panicked; the
    /// database transaction it held was rolled back, so the lock is still
    /// good. Every write holds this guard until after its commit, so its
    /// drop is where the search parameters are rebuilt after a write of a
    /// SearchParameter (see [`search::WriteGuard`]).
    fn write_guard(&self) -> search::WriteGuard<'_> {
        let lock = self
            .write_lock
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
        search::WriteGuard::new(self, lock)
    }

    /// The current version; `Gone` when it is a deletion.
    pub fn read(&self, rt: ResourceType, id: &Id) -> Result<StoredVersion, StoreError> {
        let row = self.on_reader(|c| Ok(queries::latest(c, rt.as_str(), id.as_str())?))?;
        live(row, || format!("{}/{}", rt.as_str(), id.as_str())).map(Into::into)
    }

    /// [`Store::read`] for `None`, [`Store::vread`] for a version.
    pub fn read_version(
        &self,
        rt: ResourceType,
        id: &Id,
        version: Option<i32>,
    ) -> Result<StoredVersion, StoreError> {
        match version {
            None => self.read(rt, id),
            Some(v) => self.vread(rt, id, v),
        }
    }

    /// One version; `Gone` when that version is a deletion.
    pub fn vread(
        &self,
        rt: ResourceType,
        id: &Id,
        version: i32,
    ) -> Result<StoredVersion, StoreError> {
        let row =
            self.on_reader(|c| Ok(queries::version(c, rt.as_str(), id.as_str(), version)?))?;
        live(row, || {
            format!("{}/{}/_history/{}", rt.as_str(), id.as_str(), version)
        })
        .map(Into::into)
    }

    /// Changes the `meta` of one stored version in place, without making a
    /// new version: $meta-add and $meta-delete work this way
    /// (resource-operations.html#meta-add: "executing this operation does
    /// not cause a new version of the resource to be created"). `version`
    /// `None` means the current one. Returns the version as now stored.
    pub fn change_meta(
        &self,
        rt: ResourceType,
        id: &Id,
        version: Option<i32>,
        change: impl FnOnce(&mut fhir_model::generated::Meta),
    ) -> Result<StoredVersion, StoreError> {
        let local = self.write_snapshot()?;
        let _guard = self.write_guard();
        let registry = self.registry();
        let mut conn = self.conn()?;
        let (rtype, rid) = (rt.as_str(), id.as_str());
        let what = || format!("{rtype}/{rid}");
        conn.transaction(|c| {
            audit::refuse_audit_write(c, rt)?;
            queries::lock_current(c, rtype, rid).map_err(TxError::Db)?;
            let row = match version {
                None => queries::latest(c, rtype, rid),
                Some(v) => queries::version(c, rtype, rid, v),
            }
            .map_err(TxError::Db)?;
            let mut row = live(row, what).map_err(TxError::Store)?;
            let body = row.body.as_deref().unwrap_or_default();
            let mut resource = Resource::from_json_slice(body).map_err(|e| {
                TxError::Store(StoreError::Fault(format!("stored {}: {e}", what())))
            })?;
            change(resource.meta_mut().get_or_insert_with(Default::default));
            let body = resource.to_json_vec();
            queries::set_body(c, rtype, rid, row.version, &body).map_err(TxError::Db)?;
            // `_tag`, `_profile` and `_security` search the current version.
            let current = queries::current(c, rtype, rid).map_err(TxError::Db)?;
            if current.is_some_and(|cur| cur.version == row.version) {
                index_rows::delete(c, rtype, rid, None).map_err(TxError::Db)?;
                let entries = index_entries(&registry, &local, rtype, &body);
                index_rows::insert(c, rtype, rid, &entries).map_err(TxError::Db)?;
            }
            let written = Written {
                version: row.version,
                last_updated: row.last_updated.clone(),
                created: false,
                body: Some(body.clone()),
            };
            if crate::audit::active().is_some() {
                // The change's own moment: the version keeps its stamp.
                let stamp = write_clock::now(c)?;
                audit::record_write(c, rt, rid, "POST", &written, &stamp)?;
            }
            row.body = Some(body);
            Ok(row.into())
        })
        .map_err(|e| match e {
            TxError::Db(e) => e.into(),
            TxError::Store(e) => e,
            TxError::Retry => StoreError::VersionConflict(what()),
        })
    }

    /// How many versions of `rtype` were ever written and the newest one's
    /// sequence number: a fingerprint of the type's changes that reads no
    /// body (the local-code mapper checks it so that a ValueSet write,
    /// which moves the Terminology stamp, does not rebuild a mapper built
    /// from CodeSystems and ConceptMaps only).
    pub fn version_stamp(&self, rtype: ResourceType) -> Result<(i64, i64), StoreError> {
        use diesel::dsl::{count_star, max};
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        use schema::resource_versions as v;
        let mut conn = self.conn()?;
        let (n, newest): (i64, Option<i64>) = v::table
            .filter(v::resource_type.eq(rtype.as_str()))
            .select((count_star(), max(v::seq)))
            .first(&mut *conn)?;
        Ok((n, newest.unwrap_or(0)))
    }

    /// One page of history, newest first. Runs in one transaction so that
    /// `total` and the page agree.
    /// Without `_since` it may read a replica; with it, the primary: its
    /// horizon is the primary's writers' (`write_clock::horizon`).
    pub fn history(&self, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        if q.since.is_some() {
            return history_on(&mut *self.conn()?, q, false);
        }
        self.on_reader(|c| history_on(c, q, false))
    }

    /// Runs several writes in ONE database transaction: all are stored or
    /// none is (http.html#transaction). A lost race reruns the whole
    /// transaction; any other failure rolls everything back and says which
    /// write (by its index in `writes`) failed.
    pub fn transaction(
        &self,
        writes: &mut [TxWrite],
    ) -> Result<Vec<Option<Written>>, (Option<usize>, StoreError)> {
        let local = self.write_snapshot().map_err(|e| (None, e))?;
        let mut prepared = prepare_all(&self.registry(), &local, writes);
        let _guard = self.write_guard();
        let registry = self.registry();
        let mut conn = self.conn().map_err(|e| (None, e))?;
        for attempt in 1..=WRITE_ATTEMPTS {
            let mut failed_at = None;
            let result = conn.transaction(|c| {
                let mut fulltext = PendingRows::default();
                let mut out = Vec::with_capacity(writes.len());
                for ((i, w), prepared) in writes.iter_mut().enumerate().zip(&mut prepared) {
                    failed_at = Some(i);
                    let (rt, id, change) = match w {
                        TxWrite::Create(r) => {
                            let (rt, id) = type_and_id(r).map_err(TxError::Store)?;
                            (rt, id, Change::Create(r))
                        }
                        TxWrite::Update(r, if_match) => {
                            let (rt, id) = type_and_id(r).map_err(TxError::Store)?;
                            (rt, id, Change::Update(r, *if_match))
                        }
                        TxWrite::Delete(rt, id) => (*rt, id.as_str().to_owned(), Change::Delete),
                    };
                    let mut change = change;
                    out.push(write_once(
                        c,
                        &registry,
                        &local,
                        rt,
                        &id,
                        &mut change,
                        prepared,
                        Some(&mut fulltext),
                    )?);
                }
                failed_at = None;
                fulltext.flush(c)?;
                Ok(out)
            });
            match result {
                Ok(w) => return Ok(w),
                Err(TxError::Retry) => {
                    log::debug!("transaction lost a race (attempt {attempt}); retrying");
                    retry::pause(attempt);
                }
                Err(TxError::Store(e)) => return Err((failed_at, e)),
                Err(TxError::Db(e)) => return Err((failed_at, e.into())),
            }
        }
        Err((
            None,
            StoreError::VersionConflict(
                "the transaction kept colliding with other writers; try again".into(),
            ),
        ))
    }

    fn write(
        &self,
        rt: ResourceType,
        id: &str,
        mut change: Change<'_>,
    ) -> Result<Option<Written>, StoreError> {
        let local = self.write_snapshot()?;
        // The CPU work first, so the writer lock is held for the database
        // writes only (#17 item 25).
        let mut prepared = match &mut change {
            Change::Create(r) | Change::Update(r, _) => prepare(&self.registry(), &local, r),
            Change::Delete => None,
        };
        let _guard = self.write_guard();
        let registry = self.registry();
        let mut conn = self.conn()?;
        for attempt in 1..=WRITE_ATTEMPTS {
            match conn.transaction(|c| {
                write_once(
                    c,
                    &registry,
                    &local,
                    rt,
                    id,
                    &mut change,
                    &mut prepared,
                    None,
                )
            }) {
                Ok(w) => return Ok(w),
                Err(TxError::Retry) => {
                    log::debug!(
                        "write to {}/{id} lost a race (attempt {attempt}); retrying",
                        rt.as_str()
                    );
                    retry::pause(attempt);
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Db(e)) => return Err(e.into()),
            }
        }
        Err(StoreError::VersionConflict(format!(
            "{}/{id} is being changed by other writers; try again",
            rt.as_str()
        )))
    }
}

/// One page of history read on `conn` (a transaction's own connection
/// sees its writes; `in_write` says `conn` is in one).
fn history_on(
    conn: &mut DbConnection,
    q: &HistoryQuery,
    in_write: bool,
) -> Result<HistoryPage, StoreError> {
    // Before the page's own transaction: PostgreSQL reads
    // `pg_stat_activity` once per transaction.
    let horizon = match &q.since {
        Some(_) => Some(write_clock::horizon(conn, in_write)?),
        None => None,
    };
    let (rtype, rid) = match &q.scope {
        HistoryScope::System => (None, None),
        HistoryScope::Type(rt) => (Some(rt.as_str()), None),
        HistoryScope::Instance(rt, id) => (Some(rt.as_str()), Some(id.as_str())),
    };
    let filter = HistoryFilter {
        resource_type: rtype,
        resource_id: rid,
        since: q.since.as_deref(),
        until: horizon.as_deref(),
        at: q.at.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
    };
    let count = q.count.max(0);
    let (total, mut rows) = conn.transaction::<_, DieselError, _>(|c| {
        let total = queries::history_count(c, filter)?;
        let rows = if count == 0 {
            Vec::new()
        } else {
            queries::history_page(c, filter, q.before, count + 1)?
        };
        Ok((total, rows))
    })?;
    let mut next_before = None;
    if rows.len() as i64 > count {
        rows.truncate(count as usize);
        next_before = rows.last().map(|r| r.seq);
    }
    Ok(HistoryPage {
        entries: rows.into_iter().map(Into::into).collect(),
        total,
        next_before,
        // A transaction that began before the last poll but took its
        // transaction id after it can pull the horizon below that poll's
        // `_since`; it still stamps after it, so the poll's own `_since`
        // stays the next one (the answer's marker never goes back).
        as_of: horizon.map(|h| match &q.since {
            Some(since) if *since > h => since.clone(),
            _ => h,
        }),
    })
}

/// A stored row that holds a resource: `NotFound` when there is none,
/// `Gone` when it records a deletion (http.html#read: 410, not 404).
fn live(row: Option<VersionRow>, what: impl Fn() -> String) -> Result<VersionRow, StoreError> {
    match row {
        None => Err(StoreError::NotFound(what())),
        Some(r) if r.deleted => Err(StoreError::Gone {
            what: what(),
            version: r.version,
            last_updated: r.last_updated,
        }),
        Some(r) => Ok(r),
    }
}

/// The search index rows of a body about to be stored. The body was just
/// written by the model, so it parses; if it somehow does not, the resource
/// is stored unindexed rather than refused.
fn index_entries(
    registry: &ParamRegistry,
    local: &crate::local_codes::Snapshot,
    rtype: &str,
    body: &[u8],
) -> crate::search::index::IndexEntries {
    match fhir_model::json::tree::parse(body) {
        Ok(tree) => index_tree(registry, local, rtype, &tree),
        Err(e) => {
            log::error!("{rtype}: stored body does not parse for indexing: {e}");
            Default::default()
        }
    }
}

/// [`index_entries`] of a body already parsed.
fn index_tree(
    registry: &ParamRegistry,
    local: &crate::local_codes::Snapshot,
    rtype: &str,
    tree: &fhir_model::json::tree::Value,
) -> crate::search::index::IndexEntries {
    let mut entries = crate::search::extract::extract(registry, rtype, tree);
    local.add_index_rows(&mut entries);
    entries.fulltext = crate::search::fulltext::document(tree);
    entries
}

/// The tree of a body about to be stored, once it meets the base spec's
/// write rules (the same tree then feeds the index: one parse per write).
fn checked_tree(
    rtype: &str,
    body: &[u8],
) -> Result<Option<fhir_model::json::tree::Value>, TxError> {
    let tree = match fhir_model::json::tree::parse(body) {
        Ok(tree) => tree,
        Err(e) => {
            log::error!("{rtype}: stored body does not parse for indexing: {e}");
            return Ok(None);
        }
    };
    let issues = profiles::write_rules::check(&tree);
    if issues.is_empty() {
        Ok(Some(tree))
    } else {
        Err(TxError::Store(StoreError::Unprocessable(issues)))
    }
}

/// A write's CPU work done before the writer lock (#17 item 25: one
/// 6 MB Patient held every other write for seconds): the body serialised
/// with placeholder `meta.versionId`/`meta.lastUpdated`, parsed, checked
/// against the base write rules and indexed by every parameter that does
/// not read `meta`, with its full-text tokens (which skip `meta`). Under
/// the lock, [`Prepared::finish`] puts the real version and time into the
/// tree and evaluates only the parameters that read `meta`; the stored
/// body is serialised there from the resource as before. The work is
/// redone under the lock instead when the parameters changed in between
/// ([`ParamRegistry::same_as`]) or the update keeps security labels the
/// body lacked ([`keep_security_labels`]).
pub struct Prepared {
    registry: ParamRegistry,
    /// The local-code mapping it was made with (see `write_once`).
    mapper: Arc<terminology::local_codes::Mapper>,
    local_mode: crate::local_codes::Mode,
    tree: fhir_model::json::tree::Value,
    /// The base write rules' issues: reported under the lock, where the
    /// other refusals (an AuditEvent, a taken id, `If-Match`) come first,
    /// as they did before.
    issues: Vec<profiles::Issue>,
    /// The rows of the parameters that do not read `meta`, local-code
    /// rows and the full-text tokens.
    entries: crate::search::index::IndexEntries,
}

/// [`Prepared`] for a resource about to be written; `None` when the body
/// does not come out as expected, leaving the work to the lock's side,
/// which reports it.
fn prepare(
    registry: &ParamRegistry,
    local: &crate::local_codes::Snapshot,
    r: &mut Resource,
) -> Option<Prepared> {
    let rtype = r.resource_type().as_str();
    let vid = Id::new("1".to_owned()).ok()?;
    let lu = Instant::new(now_instant()).ok()?;
    r.set_version_meta(&vid, &lu);
    let (body, _) = local.prepare(r, r.to_json_vec()).ok()?;
    let tree = fhir_model::json::tree::parse(&body).ok()?;
    let issues = profiles::write_rules::check(&tree);
    let mut entries = crate::search::index::IndexEntries::default();
    if issues.is_empty() {
        entries = crate::search::extract::extract_some(registry, rtype, &tree, |d| {
            !crate::search::extract::reads_meta(d)
        });
        local.add_index_rows(&mut entries);
        entries.fulltext = crate::search::fulltext::document(&tree);
    }
    Some(Prepared {
        registry: registry.clone(),
        mapper: local.mapper.clone(),
        local_mode: local.mode,
        tree,
        issues,
        entries,
    })
}

/// [`prepare`] for each write of a transaction, spread over the cores.
fn prepare_all(
    registry: &ParamRegistry,
    local: &crate::local_codes::Snapshot,
    writes: &mut [TxWrite],
) -> Vec<Option<Prepared>> {
    on_all_cores(writes, |w| match w {
        TxWrite::Create(r) | TxWrite::Update(r, _) => prepare(registry, local, r),
        TxWrite::Delete(..) => None,
    })
}

/// `one` of each item, the items split over the cores, results in order.
/// A part that panicked gives `None` for its items (their work is then
/// done under the writer lock, which reports what went wrong).
fn on_all_cores<T: Send, R: Send>(
    items: &mut [T],
    one: impl Fn(&mut T) -> Option<R> + Sync,
) -> Vec<Option<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 2 {
        return items.iter_mut().map(one).collect();
    }
    let one = &one;
    let size = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks_mut(size)
            .map(|part| {
                let len = part.len();
                (
                    len,
                    s.spawn(move || part.iter_mut().map(one).collect::<Vec<_>>()),
                )
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|(len, h)| {
                h.join()
                    .unwrap_or_else(|_| (0..len).map(|_| None).collect())
            })
            .collect()
    })
}

impl Store {
    /// The CPU work of many writes done before the writer lock, on all
    /// cores (issue #27: a transaction Bundle parsed, checked and indexed
    /// its entries one at a time while it held the lock). `f` readies an
    /// item (a Bundle entry's links rewritten, say) and gives the resource
    /// it will write, or `None` to leave that item's work to the lock's
    /// side. Hand each result to [`Tx::write_with`] with the same resource,
    /// unchanged; a result that no longer fits (the search parameters or
    /// local codes changed meanwhile) is redone there.
    pub fn prepare_each<T: Send>(
        &self,
        items: &mut [T],
        f: impl Fn(&mut T) -> Option<&mut Resource> + Sync,
    ) -> Vec<Option<Prepared>> {
        let local = match self.write_snapshot() {
            Ok(local) => local,
            // The lock's side reads the snapshot again and reports this.
            Err(_) => return items.iter().map(|_| None).collect(),
        };
        let registry = self.registry();
        on_all_cores(items, |item| {
            f(item).and_then(|r| prepare(&registry, &local, r))
        })
    }

    /// The `(type, id)` of at most `limit` current resources matching
    /// `req`, outside any transaction: what a write will likely find when
    /// it searches again inside its own (a transaction's conditional
    /// references, resolved early so its entries can be readied).
    pub fn matching(
        &self,
        req: &crate::search::query::SearchRequest,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn()?;
        Ok(search::matching_ids(&mut conn, self.backend, req, limit)?)
    }
}

impl Prepared {
    /// The index rows of the body as stored under `version` at
    /// `last_updated`, or the write rules' refusal.
    fn finish(
        mut self,
        registry: &ParamRegistry,
        local: &crate::local_codes::Snapshot,
        rtype: &str,
        version: i32,
        last_updated: &str,
    ) -> Result<crate::search::index::IndexEntries, TxError> {
        use fhir_model::json::tree::Value;
        if !self.issues.is_empty() {
            return Err(TxError::Store(StoreError::Unprocessable(self.issues)));
        }
        if let Value::Object(root) = &mut self.tree {
            if let Some((_, Value::Object(meta))) = root.iter_mut().find(|(k, _)| k == "meta") {
                for (k, v) in meta.iter_mut() {
                    match k.as_str() {
                        "versionId" => *v = Value::String(version.to_string()),
                        "lastUpdated" => *v = Value::String(last_updated.to_owned()),
                        _ => {}
                    }
                }
            }
        }
        let mut meta = crate::search::extract::extract_some(
            registry,
            rtype,
            &self.tree,
            crate::search::extract::reads_meta,
        );
        local.add_index_rows(&mut meta);
        self.entries.append(meta);
        Ok(self.entries)
    }
}

/// The security labels of a resource, to see whether an update kept
/// the stored ones.
fn security_labels(r: &Resource) -> usize {
    r.meta().map_or(0, |m| m.security.len())
}

fn type_and_id(resource: &Resource) -> Result<(ResourceType, String), StoreError> {
    let id = resource
        .id()
        .map(|i| i.as_str().to_owned())
        .ok_or_else(|| StoreError::Fault("resource to store has no id".into()))?;
    if only_dots(&id) {
        return Err(StoreError::BadRequest(format!(
            "id {id:?} is made only of dots: the id format allows it, but `.` and `..` \
             are path segments URLs resolve away, so the resource could never be addressed"
        )));
    }
    Ok((resource.resource_type(), id))
}

/// An update that carries no `meta.security` keeps the labels of the
/// version it replaces: a client that PUTs back a resource without its
/// `meta` (many do) must not strip the labels access decisions rest on.
/// Labels are removed with `$meta-delete`; an update that names labels
/// sets exactly those. The CapabilityStatement says so.
fn keep_security_labels(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    r: &mut Resource,
) -> Result<(), TxError> {
    if r.meta().is_some_and(|m| !m.security.is_empty()) {
        return Ok(());
    }
    let Some(body) = queries::latest(conn, rtype, id)?.and_then(|row| row.body) else {
        return Ok(());
    };
    // Most resources have no labels: do not parse those.
    if !body.windows(10).any(|w| w == b"\"security\"") {
        return Ok(());
    }
    let labels = match Resource::from_json_slice(&body) {
        Ok(old) => old.meta().map(|m| m.security.clone()).unwrap_or_default(),
        Err(e) => {
            log::error!("{rtype}/{id}: stored body does not parse: {e}");
            return Ok(());
        }
    };
    if !labels.is_empty() {
        r.meta_mut().get_or_insert_with(Default::default).security = labels;
    }
    Ok(())
}

/// An id of dots only (`.`, `..`, `...`): legal by the id regex, but
/// RFC 3986 §5.2.4 removes `.` and `..` from paths, so
/// `[base]/Patient/..` is no resource's URL. Every write refuses them.
pub fn only_dots(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'.')
}

/// One write in an open transaction, as every write path makes it: refused
/// for AuditEvents, and recorded in the same transaction when the request
/// is audited ([`audit::record_write`]).
/// `prepared` is the work [`prepare`] did before the writer lock (taken:
/// a rerun after a lost race does the work again); `fulltext`, when given,
/// holds the index and full-text rows for the transaction ([`PendingRows`]).
#[allow(clippy::too_many_arguments)]
fn write_once(
    conn: &mut DbConnection,
    registry: &ParamRegistry,
    local: &crate::local_codes::Snapshot,
    rt: ResourceType,
    id: &str,
    change: &mut Change<'_>,
    prepared: &mut Option<Prepared>,
    fulltext: Option<&mut PendingRows>,
) -> Result<Option<Written>, TxError> {
    audit::refuse_audit_write(conn, rt)?;
    let method = match change {
        Change::Create(_) => "POST",
        Change::Update(..) => "PUT",
        Change::Delete => "DELETE",
    };
    // Made with the parameters and local codes this write uses, or redone.
    let prepared = prepared.take().filter(|p| {
        p.registry.same_as(registry)
            && Arc::ptr_eq(&p.mapper, &local.mapper)
            && p.local_mode == local.mode
    });
    let written = store_version(conn, registry, local, rt, id, change, prepared, fulltext)?;
    if let Some(w) = &written {
        audit::record_write(conn, rt, id, method, w, &w.last_updated)?;
    }
    Ok(written)
}

/// Stores one version (or deletion) of `rt/id`: the row moves, the
/// version is inserted, the index follows. Takes [`write_once`]'s
/// arguments as they are.
#[allow(clippy::too_many_arguments)]
fn store_version(
    conn: &mut DbConnection,
    registry: &ParamRegistry,
    local: &crate::local_codes::Snapshot,
    rt: ResourceType,
    id: &str,
    change: &mut Change<'_>,
    mut prepared: Option<Prepared>,
    fulltext: Option<&mut PendingRows>,
) -> Result<Option<Written>, TxError> {
    let rtype = rt.as_str();
    definitions::note_write(conn, rt)?;
    queries::lock_current(conn, rtype, id)?;
    let current = queries::current(conn, rtype, id)?;
    let (method, deleted) = match (&*change, &current) {
        (Change::Create(_), Some(_)) => {
            return Err(TxError::Store(StoreError::VersionConflict(format!(
                "{rtype}/{id} already exists"
            ))))
        }
        (Change::Delete, None) => return Ok(None),
        (Change::Delete, Some(c)) if c.deleted => return Ok(None),
        (Change::Delete, Some(_)) => ("DELETE", true),
        (Change::Create(_), None) => ("POST", false),
        (Change::Update(_, Some(expected)), current) => {
            let live = current.as_ref().filter(|c| !c.deleted).map(|c| c.version);
            if live != Some(*expected) {
                return Err(TxError::Store(StoreError::PreconditionFailed(match live {
                    Some(v) => format!("{rtype}/{id} is at version {v}, not {expected}"),
                    None => {
                        format!("{rtype}/{id} does not exist, so it is not at version {expected}")
                    }
                })));
            }
            ("PUT", false)
        }
        (Change::Update(_, None), _) => ("PUT", false),
    };
    let version = current.as_ref().map_or(1, |c| c.version + 1);
    // The database's clock, read inside this transaction (see
    // `write_clock.rs`: why history order and `_since` depend on it).
    let last_updated = write_clock::now(conn)?;
    // Local codes: enriched in the body (enrich mode) and the unmapped
    // ones recorded for the report, in this transaction.
    let mut unmapped = Vec::new();
    let body = match change {
        Change::Create(r) | Change::Update(r, _) => {
            if method == "PUT" && current.as_ref().is_some_and(|c| !c.deleted) {
                let labels = security_labels(r);
                keep_security_labels(conn, rtype, id, r)?;
                if security_labels(r) != labels {
                    // Prepared without the labels the update keeps.
                    prepared = None;
                }
            }
            let vid = Id::new(version.to_string())
                .map_err(|e| TxError::Store(StoreError::Fault(e.to_string())))?;
            let lu = Instant::new(last_updated.clone())
                .map_err(|e| TxError::Store(StoreError::Fault(e.to_string())))?;
            r.set_version_meta(&vid, &lu);
            let (body, codes) = local.prepare(r, r.to_json_vec())?;
            unmapped = codes;
            Some(body)
        }
        Change::Delete => None,
    };
    let entries = match (&body, prepared) {
        (None, _) => None,
        (Some(_), Some(p)) => Some(p.finish(registry, local, rtype, version, &last_updated)?),
        (Some(b), None) => {
            checked_tree(rtype, b)?.map(|tree| index_tree(registry, local, rtype, &tree))
        }
    };
    let row = NewVersion {
        resource_type: rtype,
        resource_id: id,
        version,
        last_updated: &last_updated,
        deleted,
        method,
        body: body.as_deref(),
    };
    match &current {
        None => queries::insert_current(conn, &row)?,
        Some(c) => {
            if !queries::advance_current(conn, &row, c.version)? {
                return Err(TxError::Retry);
            }
        }
    }
    queries::insert_version(conn, &row)?;
    let mut fulltext = fulltext;
    if current.is_some() {
        index_rows::delete(conn, rtype, id, fulltext.as_deref_mut())?;
    }
    if let Some(entries) = entries {
        index_rows::insert_or_hold(conn, rtype, id, entries, fulltext)?;
    }
    local_codes::record(conn, rtype, id, &unmapped, &last_updated)?;
    let created = current.as_ref().is_none_or(|c| c.deleted);
    Ok(Some(Written {
        version,
        last_updated,
        created,
        body,
    }))
}

/// Throwaway test databases, for this crate's tests and (feature
/// `testutil`) the server's.
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "explain_tests.rs"]
mod explain_tests;
