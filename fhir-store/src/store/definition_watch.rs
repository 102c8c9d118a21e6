//! The watcher of the definition stamps (`serve` starts it): the way a
//! change committed by another process reaches this one's caches within a
//! second, without any request asking (see `store/definitions.rs`).
//!
//! On PostgreSQL it holds a connection of its own (outside the pool, so
//! it never takes a request's connection) that `LISTEN`s on
//! [`definitions::CHANNEL`]; a notification arrives after the writer's
//! commit, and the watcher then reads the stamps. Looking for delivered
//! notifications reads the socket without a round trip, so it is done
//! every [`definitions::NOTIFY_CHECK`]. The stamps are also read every
//! [`PG_POLL`] whatever arrives: a notification sent while the listening
//! connection was down is lost, the stamps are not. On SQLite there are
//! no notifications; the stamps are read every [`definitions::POLL`]
//! (one indexed read of four rows in the local file).

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::connection::Backend;
use super::definitions::{self, CHANNEL};
use super::Store;

/// PostgreSQL's fallback poll, when notifications carry the changes.
pub const PG_POLL: Duration = Duration::from_millis(500);

/// How long a lost listening connection waits before reconnecting.
const RECONNECT: Duration = Duration::from_secs(1);

impl Store {
    /// Starts the watcher thread (once per process, by `serve`).
    pub fn watch_definitions(&self) {
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("definition-watch".into())
            .spawn(move || match store.backend {
                Backend::Sqlite => poll_forever(&store, definitions::POLL),
                Backend::Postgres => listen_forever(&store),
            });
        if let Err(e) = spawned {
            log::error!("definition watcher not started: {e}");
        }
    }

    /// One reading of the stamps; failures are logged, the watcher goes on.
    fn watch_tick(&self) {
        match self.check_definitions() {
            Ok(changed) if !changed.is_empty() => {
                log::debug!("definitions changed: {changed:?}");
            }
            Ok(_) => {}
            Err(e) => log::warn!("reading the definition stamps failed: {e}"),
        }
    }
}

fn poll_forever(store: &Store, every: Duration) {
    loop {
        store.watch_tick();
        std::thread::sleep(every);
    }
}

fn listen_forever(store: &Store) -> ! {
    loop {
        match listen(store) {
            Ok(mut conn) => {
                // Whatever changed before LISTEN took effect.
                store.watch_tick();
                if let Err(e) = serve_notifications(store, &mut conn) {
                    log::warn!("definition notifications lost ({e}); reconnecting");
                }
            }
            Err(e) => log::warn!("cannot listen for definition changes ({e}); polling"),
        }
        let until = Instant::now() + RECONNECT;
        while Instant::now() < until {
            store.watch_tick();
            std::thread::sleep(PG_POLL.min(RECONNECT));
        }
    }
}

fn listen(store: &Store) -> Result<PgConnection, String> {
    let mut conn = PgConnection::establish(&store.url.target).map_err(|e| e.to_string())?;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Reads the stamps on every notification and every [`PG_POLL`]; returns
/// when the connection fails.
fn serve_notifications(store: &Store, conn: &mut PgConnection) -> Result<(), String> {
    let mut polled = Instant::now();
    loop {
        std::thread::sleep(definitions::NOTIFY_CHECK);
        let mut notified = false;
        for n in conn.notifications_iter() {
            n.map_err(|e| e.to_string())?;
            notified = true;
        }
        let due = polled.elapsed() >= PG_POLL;
        if due {
            // A closed connection shows as an error when the socket is
            // read; one that is silently gone is found by this ping.
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(|e| e.to_string())?;
        }
        if notified || due {
            store.watch_tick();
            polled = Instant::now();
        }
    }
}
