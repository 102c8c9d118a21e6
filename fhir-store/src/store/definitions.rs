//! The change feed of definitions: the one signal that tells every
//! in-process cache built from stored resources (search parameters,
//! terminology, local-code mappings, Consent denials, profiles) that what
//! it was built from changed, on this server process or on any other one
//! sharing the database.
//!
//! **Stamps.** The table `definition_stamps` holds one counter per
//! [`DefinitionKind`]. Every write of a resource of that kind bumps it
//! ([`note_write`], called by the one write path `store_version`) in the
//! write's own transaction, so the counter moves exactly when the change
//! commits, and a rolled-back write moves nothing. On PostgreSQL the same
//! transaction sends `NOTIFY fhir_definitions` with the kind, which
//! PostgreSQL delivers only after the commit. The `UPDATE` row lock also
//! orders concurrent writers of one kind, so each commit leaves a distinct,
//! larger value (counting versions, as `max(seq)` would, could miss a
//! transaction that took a smaller `seq` but committed later).
//!
//! **What a process knows** is [`DefinitionFeed::seen`]: the stamps it
//! last read. Each cache remembers the stamp it was built from and
//! rebuilds when `seen` differs (so the caches read no database to know
//! they are current). `seen` moves forward when:
//! - this process commits a definition write (the store's write guard
//!   reads the stamps right after the commit: read-your-writes on one node);
//! - the watcher ([`crate::store::Store::watch_definitions`], started by
//!   `serve`) sees a NOTIFY (PostgreSQL, checked every
//!   [`NOTIFY_CHECK`]) or polls the stamps (every [`POLL`]: SQLite, and
//!   PostgreSQL as the fallback when a notification is lost with its
//!   connection): another node's change is honoured within a second;
//! - a write is about to index or map resources
//!   (`Store::check_definitions`, one query of four rows): a write never
//!   uses search parameters or local-code mappings older than the last
//!   committed change, whatever the watcher's delay, so a `$reindex`
//!   through a node that has not heard of a new SearchParameter yet does
//!   not drop that parameter's index, and a write right after an
//!   `$import-codes` elsewhere is mapped.

use std::cell::Cell;
use std::sync::RwLock;
use std::time::Duration;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use fhir_model::ResourceType;

use super::connection::DbConnection;
use super::schema::definition_stamps as ds;

/// The PostgreSQL channel the writing transaction notifies.
pub const CHANNEL: &str = "fhir_definitions";

/// How often the watcher reads the stamps regardless of notifications.
pub const POLL: Duration = Duration::from_millis(250);

/// How often the PostgreSQL watcher looks for delivered notifications
/// (no round trip: it reads what the socket already holds).
pub const NOTIFY_CHECK: Duration = Duration::from_millis(20);

/// A kind of stored definition that some cache is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    /// SearchParameter: the search registry every write indexes by.
    SearchParameter,
    /// CodeSystem, ValueSet, ConceptMap: the terminology service, the
    /// local-code mapper (`$import-codes` writes these) and the validator.
    Terminology,
    /// StructureDefinition and the other conformance resources of
    /// packages: the validator (`$validate`, profile enforcement).
    Conformance,
    /// Consent: the denials the Consent filter enforces.
    Consent,
}

impl DefinitionKind {
    pub const ALL: [DefinitionKind; 4] = [
        DefinitionKind::SearchParameter,
        DefinitionKind::Terminology,
        DefinitionKind::Conformance,
        DefinitionKind::Consent,
    ];

    /// The kind a resource type's writes change, if any.
    pub fn of(rt: ResourceType) -> Option<DefinitionKind> {
        use ResourceType as R;
        Some(match rt {
            R::SearchParameter => DefinitionKind::SearchParameter,
            R::CodeSystem | R::ValueSet | R::ConceptMap => DefinitionKind::Terminology,
            R::StructureDefinition
            | R::ImplementationGuide
            | R::NamingSystem
            | R::StructureMap
            | R::CompartmentDefinition => DefinitionKind::Conformance,
            R::Consent => DefinitionKind::Consent,
            _ => return None,
        })
    }

    /// The row name in `definition_stamps` (and the NOTIFY payload).
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::SearchParameter => "SearchParameter",
            DefinitionKind::Terminology => "Terminology",
            DefinitionKind::Conformance => "Conformance",
            DefinitionKind::Consent => "Consent",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One counter per kind, as read from `definition_stamps`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps([i64; 4]);

impl Stamps {
    /// The counter of `kind`: a cache built at this value is current
    /// while it stays the same.
    pub fn get(&self, kind: DefinitionKind) -> i64 {
        self.0[kind.index()]
    }
}

/// Which kinds moved between two readings of the stamps: the
/// "definitions changed" signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefinitionsChanged([bool; 4]);

impl DefinitionsChanged {
    pub fn contains(&self, kind: DefinitionKind) -> bool {
        self.0[kind.index()]
    }

    pub fn is_empty(&self) -> bool {
        !self.0.iter().any(|c| *c)
    }
}

/// What this process knows of the stamps (see the module doc).
#[derive(Debug, Default)]
pub struct DefinitionFeed {
    seen: RwLock<Stamps>,
}

impl DefinitionFeed {
    /// The stamps as last read; what caches compare theirs with.
    pub fn seen(&self) -> Stamps {
        *self.seen.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in a reading of the database; returns the kinds that moved.
    /// Stamps only grow: a reading older than one taken in meanwhile by
    /// another thread changes nothing.
    pub fn observe(&self, read: Stamps) -> DefinitionsChanged {
        let mut seen = self.seen.write().unwrap_or_else(|p| p.into_inner());
        let mut changed = DefinitionsChanged::default();
        for k in DefinitionKind::ALL {
            let i = k.index();
            if read.0[i] > seen.0[i] {
                seen.0[i] = read.0[i];
                changed.0[i] = true;
            }
        }
        changed
    }
}

thread_local! {
    /// Set when the thread's current write touched a definition; the
    /// write guard reads the stamps after the commit when it is set.
    static DEFINITION_WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// Called by every write of a resource, inside its transaction: bumps the
/// stamp of the resource's kind (and notifies, on PostgreSQL).
pub(super) fn note_write(conn: &mut DbConnection, rt: ResourceType) -> diesel::QueryResult<()> {
    let Some(kind) = DefinitionKind::of(rt) else {
        return Ok(());
    };
    DEFINITION_WRITTEN.with(|w| w.set(true));
    diesel::update(ds::table.filter(ds::kind.eq(kind.as_str())))
        .set(ds::stamp.eq(ds::stamp + 1i64))
        .execute(conn)?;
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANNEL)
            .bind::<diesel::sql_types::Text, _>(kind.as_str())
            .execute(pg)?;
    }
    Ok(())
}

/// Clears the flag [`note_write`] sets (a write guard being taken).
pub(super) fn reset_written() {
    DEFINITION_WRITTEN.with(|w| w.set(false));
}

/// Whether the thread wrote a definition since the last reset; clears it.
pub(super) fn take_written() -> bool {
    DEFINITION_WRITTEN.with(|w| w.replace(false))
}

/// Reads the stamps (one query, four rows). A kind without its row (a
/// database whose rows were removed by hand) reads as 0.
pub(super) fn read(conn: &mut DbConnection) -> diesel::QueryResult<Stamps> {
    let rows: Vec<(String, i64)> = ds::table.select((ds::kind, ds::stamp)).load(conn)?;
    let mut stamps = Stamps::default();
    for (kind, stamp) in rows {
        if let Some(k) = DefinitionKind::ALL.iter().find(|k| k.as_str() == kind) {
            stamps.0[k.index()] = stamp;
        }
    }
    Ok(stamps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conformance_type_has_a_kind_but_search_parameters_stand_alone() {
        for name in profiles::CONFORMANCE_TYPES {
            let rt = ResourceType::parse(name).expect("an R4 type");
            if matches!(
                rt,
                ResourceType::CapabilityStatement | ResourceType::OperationDefinition
            ) {
                // Nothing in the server is built from these.
                continue;
            }
            assert!(DefinitionKind::of(rt).is_some(), "{name}");
        }
        assert_eq!(DefinitionKind::of(ResourceType::Patient), None);
    }

    #[test]
    fn observing_keeps_the_largest_stamps() {
        let feed = DefinitionFeed::default();
        let changed = feed.observe(Stamps([1, 0, 0, 2]));
        assert!(changed.contains(DefinitionKind::SearchParameter));
        assert!(changed.contains(DefinitionKind::Consent));
        assert!(!changed.contains(DefinitionKind::Terminology));
        assert!(feed.observe(Stamps([0, 0, 0, 1])).is_empty());
        assert_eq!(feed.seen(), Stamps([1, 0, 0, 2]));
    }
}
