//! Store tests; each runs on SQLite and on PostgreSQL (see `testutil`).

use std::sync::Arc;

use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};
use serde_json::{json, Value};

use super::testutil::{backends, TestDb};
use super::*;

fn patient(id: &str, family: &str) -> Resource {
    Resource::from_json_value(
        json!({"resourceType": "Patient", "id": id, "name": [{"family": family}]}),
    )
    .expect("valid test patient")
}

fn id(s: &str) -> Id {
    Id::new(s).expect("valid test id")
}

fn body_json(v: &StoredVersion) -> Value {
    serde_json::from_slice(v.body.as_deref().expect("a body")).expect("stored body is JSON")
}

fn each(f: impl Fn(&TestDb)) {
    for db in backends() {
        f(&db);
    }
}

#[test]
fn url_forms() {
    let p = DatabaseUrl::parse("sqlite:fhir.db").expect("sqlite url");
    assert_eq!((p.backend, p.target.as_str()), (Backend::Sqlite, "fhir.db"));
    let p = DatabaseUrl::parse("sqlite:///tmp/x.db").expect("sqlite url");
    assert_eq!(p.target, "/tmp/x.db");
    assert!(DatabaseUrl::parse("sqlite::memory:")
        .expect("memory url")
        .is_memory());
    let p = DatabaseUrl::parse("postgres://u@h:5432/db").expect("pg url");
    assert_eq!(p.backend, Backend::Postgres);
    assert!(matches!(
        DatabaseUrl::parse("mysql://x"),
        Err(StoreError::Config(_))
    ));
    assert!(matches!(
        DatabaseUrl::parse("sqlite:"),
        Err(StoreError::Config(_))
    ));
}

#[test]
fn memory_sqlite_works() {
    let store = Store::open("sqlite::memory:", 8).expect("memory store");
    store.update(&mut patient("m1", "A")).expect("write");
    assert_eq!(
        store
            .read(ResourceType::Patient, &id("m1"))
            .expect("read")
            .version,
        1
    );
}

#[test]
fn create_then_read_returns_stored_bytes_with_meta() {
    each(|db| {
        let w = db
            .store
            .create(&mut patient("p1", "Smith"))
            .expect("create");
        assert_eq!((w.version, w.created), (1, true), "{}", db.label);
        let r = db
            .store
            .read(ResourceType::Patient, &id("p1"))
            .expect("read");
        assert_eq!(r.body, w.body, "{}", db.label);
        let j = body_json(&r);
        assert_eq!(j["meta"]["versionId"], "1");
        assert_eq!(
            j["meta"]["lastUpdated"],
            Value::String(w.last_updated.clone())
        );
        assert_eq!(j["name"][0]["family"], "Smith");
        assert_eq!(r.method, "POST");
        assert!(matches!(
            db.store.create(&mut patient("p1", "Again")),
            Err(StoreError::VersionConflict(_))
        ));
    });
}

#[test]
fn update_creates_then_advances() {
    each(|db| {
        let w1 = db
            .store
            .update(&mut patient("u1", "A"))
            .expect("update-as-create");
        assert_eq!((w1.version, w1.created), (1, true), "{}", db.label);
        let w2 = db.store.update(&mut patient("u1", "B")).expect("update");
        assert_eq!((w2.version, w2.created), (2, false), "{}", db.label);
        let r = db
            .store
            .read(ResourceType::Patient, &id("u1"))
            .expect("read");
        assert_eq!(body_json(&r)["name"][0]["family"], "B");
        let v1 = db
            .store
            .vread(ResourceType::Patient, &id("u1"), 1)
            .expect("vread 1");
        assert_eq!(body_json(&v1)["name"][0]["family"], "A");
        assert!(matches!(
            db.store.vread(ResourceType::Patient, &id("u1"), 3),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            db.store.read(ResourceType::Observation, &id("u1")),
            Err(StoreError::NotFound(_))
        ));
    });
}

#[test]
fn delete_leaves_a_gone_version_and_put_recreates() {
    each(|db| {
        let p = ResourceType::Patient;
        assert_eq!(
            db.store.delete(p, &id("nobody")).expect("delete missing"),
            None
        );
        db.store.update(&mut patient("d1", "A")).expect("create");
        let d = db
            .store
            .delete(p, &id("d1"))
            .expect("delete")
            .expect("a deletion version");
        assert_eq!((d.version, d.body.as_ref()), (2, None), "{}", db.label);
        assert!(matches!(
            db.store.read(p, &id("d1")),
            Err(StoreError::Gone { version: 2, .. })
        ));
        assert!(matches!(
            db.store.vread(p, &id("d1"), 2),
            Err(StoreError::Gone { .. })
        ));
        assert!(db.store.vread(p, &id("d1"), 1).is_ok());
        assert_eq!(db.store.delete(p, &id("d1")).expect("delete again"), None);
        let w = db.store.update(&mut patient("d1", "B")).expect("recreate");
        assert_eq!((w.version, w.created), (3, true), "{}", db.label);
        assert_eq!(db.store.read(p, &id("d1")).expect("read").version, 3);
    });
}

#[test]
fn history_pages_newest_first_with_a_stable_cursor() {
    each(|db| {
        for i in 0..5 {
            db.store
                .update(&mut patient("h1", &format!("v{i}")))
                .expect("write h1");
        }
        db.store.update(&mut patient("h2", "x")).expect("write h2");
        let mut obs = Resource::from_json_value(
            json!({"resourceType": "Observation", "id": "o1", "status": "final"}),
        )
        .expect("observation");
        db.store.update(&mut obs).expect("write o1");
        db.store
            .delete(ResourceType::Patient, &id("h2"))
            .expect("delete h2");

        let q = |scope, before, count| HistoryQuery {
            scope,
            since: None,
            at: None,
            before,
            count,
        };
        let sys = db
            .store
            .history(&q(HistoryScope::System, None, 100))
            .expect("system");
        assert_eq!(sys.total, 8, "{}", db.label);
        assert!(
            sys.entries.windows(2).all(|w| w[0].seq > w[1].seq),
            "newest first"
        );
        assert!(sys.entries[0].deleted);
        assert_eq!(sys.next_before, None);

        let ty = db
            .store
            .history(&q(HistoryScope::Type(ResourceType::Patient), None, 100))
            .expect("type");
        assert_eq!(ty.total, 7);

        let inst = HistoryScope::Instance(ResourceType::Patient, id("h1"));
        let p1 = db.store.history(&q(inst.clone(), None, 2)).expect("page 1");
        assert_eq!(
            p1.entries.iter().map(|e| e.version).collect::<Vec<_>>(),
            [5, 4]
        );
        assert_eq!(p1.total, 5);
        // A write between pages must not shift the next page.
        db.store
            .update(&mut patient("h1", "late"))
            .expect("late write");
        let p2 = db
            .store
            .history(&q(inst.clone(), p1.next_before, 2))
            .expect("page 2");
        assert_eq!(
            p2.entries.iter().map(|e| e.version).collect::<Vec<_>>(),
            [3, 2]
        );
        let p3 = db
            .store
            .history(&q(inst, p2.next_before, 2))
            .expect("page 3");
        assert_eq!(
            p3.entries.iter().map(|e| e.version).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(p3.next_before, None);

        let newest = &sys.entries[0].last_updated;
        let since = HistoryQuery {
            scope: HistoryScope::System,
            since: Some(newest.clone()),
            at: None,
            before: None,
            count: 100,
        };
        let s = db.store.history(&since).expect("since");
        assert!(s.total >= 1 && s.total < 9, "{}: {}", db.label, s.total);
        assert!(s.entries.iter().all(|e| &e.last_updated >= newest));

        let zero = db
            .store
            .history(&q(HistoryScope::System, None, 0))
            .expect("count 0");
        assert!(zero.entries.is_empty());
        assert_eq!(zero.total, 9);
    });
}

#[test]
fn concurrent_writers_lose_no_update() {
    each(|db| {
        // Two stores on one database stand for two server processes: they
        // share no in-process lock, only the database's. All threads start
        // on a resource that does not exist yet, so the first writes race
        // on the insert as well.
        let other = Arc::new(Store::open(&db.url, 4).expect("second store"));
        let store = Arc::new(db.store.clone());
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let store = if t % 2 == 0 {
                    Arc::clone(&store)
                } else {
                    Arc::clone(&other)
                };
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..8 {
                        match store.update(&mut patient("c1", &format!("t{t}i{i}"))) {
                            Ok(_) => ok += 1,
                            Err(StoreError::VersionConflict(_)) => {}
                            Err(e) => panic!("unexpected error: {e}"),
                        }
                    }
                    ok
                })
            })
            .collect();
        let ok: i32 = threads
            .into_iter()
            .map(|t| t.join().expect("writer thread"))
            .sum();
        assert!(ok >= 40, "{}: only {ok} of 48 writes succeeded", db.label);
        let cur = db
            .store
            .read(ResourceType::Patient, &id("c1"))
            .expect("read");
        assert_eq!(
            cur.version, ok,
            "{}: every acknowledged write is a version",
            db.label
        );
        let hist = db
            .store
            .history(&HistoryQuery {
                scope: HistoryScope::Instance(ResourceType::Patient, id("c1")),
                since: None,
                at: None,
                before: None,
                count: 1000,
            })
            .expect("history");
        let mut versions: Vec<i32> = hist.entries.iter().map(|e| e.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=ok).collect::<Vec<_>>(), "{}", db.label);
    });
}

#[test]
fn sqlite_connections_are_durable_and_wal() {
    use diesel::sql_types::{Integer, Text};
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Sync {
        #[diesel(sql_type = Integer)]
        synchronous: i32,
    }
    #[derive(diesel::QueryableByName)]
    struct Fk {
        #[diesel(sql_type = Integer)]
        foreign_keys: i32,
    }
    let db = super::testutil::sqlite();
    let mut conn = db.store.conn().expect("a connection");
    let connection::DbConnection::Sqlite(c) = &mut *conn else {
        panic!("expected SQLite")
    };
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(c)
        .expect("journal_mode");
    let sync: Sync = diesel::sql_query("PRAGMA synchronous")
        .get_result(c)
        .expect("synchronous");
    let fk: Fk = diesel::sql_query("PRAGMA foreign_keys")
        .get_result(c)
        .expect("foreign_keys");
    assert_eq!(
        (
            mode.journal_mode.as_str(),
            sync.synchronous,
            fk.foreign_keys
        ),
        ("wal", 2, 1)
    );
}

/// Diesel keys migrations by the version before the first `_`: two
/// folders with one version (two branches each adding a migration on the
/// same day) would run only one of them, silently.
#[test]
fn migration_versions_are_unique() {
    for backend in ["sqlite", "postgres"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut seen = std::collections::HashMap::new();
        for entry in std::fs::read_dir(&dir).expect("migrations folder") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let version = name.split('_').next().unwrap_or_default().to_owned();
            if let Some(other) = seen.insert(version.clone(), name.clone()) {
                panic!("{backend}: {name} and {other} share version {version}");
            }
        }
        assert!(seen.len() >= 7, "{backend}: {seen:?}");
    }
}
