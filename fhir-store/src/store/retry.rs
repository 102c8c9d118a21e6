//! Which database errors are worth running the unit of work again, and the
//! pause between runs.
//!
//! PostgreSQL aborts one of two transactions that wait for each other's
//! row locks (deadlock, SQLSTATE 40P01: two transaction Bundles touching
//! the same resources in opposite orders on two nodes), and a
//! serialization failure (40001) likewise says nothing about the request:
//! the whole transaction, rerun, will usually go through. A lock or
//! statement timeout (55P03, 57014) says the database is held up; the
//! request answers 503 without a rerun that would wait as long again.
//!
//! diesel names only 40001 among these, so the others are recognised by
//! PostgreSQL's message (the server's `lc_messages` must be English, its
//! default).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What a database error means for the unit of work that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transient {
    /// Deadlock or serialization failure: run it again.
    Contention,
    /// Lock or statement timeout: give up, 503.
    Timeout,
}

pub(crate) fn classify(e: &DieselError) -> Option<Transient> {
    let DieselError::DatabaseError(kind, info) = e else {
        return None;
    };
    if matches!(kind, DatabaseErrorKind::SerializationFailure) {
        return Some(Transient::Contention);
    }
    let m = info.message();
    if m.contains("deadlock detected") {
        Some(Transient::Contention)
    } else if m.contains("due to lock timeout")
        || m.contains("due to statement timeout")
        || m.contains("could not obtain lock")
    {
        Some(Transient::Timeout)
    } else {
        None
    }
}

/// Sleeps before run `attempt + 1`: a random time up to 5 ms × 2^attempt
/// (at most 320 ms), so two transactions that collided do not collide
/// again in step.
pub(crate) fn pause(attempt: usize) {
    let ceiling_ms = 5u64 << attempt.min(6);
    // A fresh RandomState is randomly keyed: a random number without a
    // dependency for it.
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    std::thread::sleep(Duration::from_millis(r % (ceiling_ms + 1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified() {
        struct Info(&'static str);
        impl diesel::result::DatabaseErrorInformation for Info {
            fn message(&self) -> &str {
                self.0
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                None
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let err = |m: &'static str| {
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(Info(m)))
        };
        assert_eq!(
            classify(&err("deadlock detected")),
            Some(Transient::Contention)
        );
        assert_eq!(
            classify(&err("canceling statement due to lock timeout")),
            Some(Transient::Timeout)
        );
        assert_eq!(classify(&err("syntax error")), None);
    }
}
