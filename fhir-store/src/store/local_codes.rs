//! The report of unmapped local codes (`local_code_unmapped`): a row per
//! write that carried a code of an imported local system with no standard
//! mapping, inserted in the write's own transaction (so a rolled-back write
//! leaves none), and the aggregate `CodeSystem/$unmapped-codes` lists.

use diesel::dsl::{count_star, max, min};
use diesel::prelude::*;
use diesel::result::QueryResult;

use super::connection::DbConnection;
use super::{Store, StoreError};

diesel::table! {
    local_code_unmapped (id) {
        id -> BigInt,
        system -> Text,
        code -> Text,
        resource_type -> Text,
        resource_id -> Text,
        seen_at -> Text,
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedCode {
    pub system: String,
    pub code: String,
    /// Writes that carried it.
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
}

/// Records the unmapped `(system, code)`s of one write of `rtype/id`.
pub(super) fn record(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    codes: &[(String, String)],
    at: &str,
) -> QueryResult<()> {
    use local_code_unmapped as t;
    for (system, code) in codes {
        diesel::insert_into(t::table)
            .values((
                t::system.eq(system),
                t::code.eq(code),
                t::resource_type.eq(rtype),
                t::resource_id.eq(id),
                t::seen_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

impl Store {
    /// Every unmapped local code seen, by system and code, with how many
    /// writes carried it and when first and last.
    pub fn unmapped_codes(&self) -> Result<Vec<UnmappedCode>, StoreError> {
        use local_code_unmapped as t;
        let mut conn = self.conn()?;
        type Row = (String, String, i64, Option<String>, Option<String>);
        let rows: Vec<Row> = t::table
            .group_by((t::system, t::code))
            .select((
                t::system,
                t::code,
                count_star(),
                min(t::seen_at),
                max(t::seen_at),
            ))
            .order_by((t::system, t::code))
            .load(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|(system, code, count, first, last)| UnmappedCode {
                system,
                code,
                count,
                first_seen: first.unwrap_or_default(),
                last_seen: last.unwrap_or_default(),
            })
            .collect())
    }
}
