//! Row structs for the tables in `schema.rs`, written by hand (the schema
//! is generated). Column order in the `Queryable` structs matches the
//! `select` tuples in `queries.rs`.

use diesel::prelude::*;

use super::schema::{resource_versions, resources};

/// The current-version row of one resource.
#[derive(Debug, Clone, Queryable)]
pub struct CurrentRow {
    pub version: i32,
    pub deleted: bool,
}

/// One stored version, as read back.
#[derive(Debug, Clone, Queryable)]
pub struct VersionRow {
    pub seq: i64,
    pub resource_type: String,
    pub resource_id: String,
    pub version: i32,
    pub last_updated: String,
    pub deleted: bool,
    pub method: String,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = resource_versions)]
pub struct NewVersion<'a> {
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub version: i32,
    pub last_updated: &'a str,
    pub deleted: bool,
    pub method: &'a str,
    pub body: Option<&'a [u8]>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = resources)]
pub struct NewCurrent<'a> {
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub version: i32,
    pub last_updated: &'a str,
    pub deleted: bool,
}

impl<'a> NewCurrent<'a> {
    /// The current-version row of the version `v`.
    pub fn of(v: &NewVersion<'a>) -> Self {
        NewCurrent {
            resource_type: v.resource_type,
            resource_id: v.resource_id,
            version: v.version,
            last_updated: v.last_updated,
            deleted: v.deleted,
        }
    }
}
