//! Runs searches: the page, the total and the included resources, in one
//! read transaction so that they agree. The SQL comes from
//! [`crate::search::sql`]; this module binds it and reads the rows.

use std::collections::{BTreeSet, HashSet};

use diesel::connection::Connection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Double, Nullable, Text};

use super::connection::DbConnection;
use super::{Backend, Store, StoreError};
use crate::search::query::{Criterion, Include, SearchRequest, TotalMode};
use crate::search::sql::{self, Bind, SortValueKind, Sql};

type Db = <DbConnection as Connection>::Backend;

/// At most this many resources are added by `_include`/`_revinclude`
/// (each iteration included) to one page, so that a page stays bounded.
pub const MAX_INCLUDED: usize = 5000;
/// `:iterate` rounds at most.
const MAX_ITERATIONS: usize = 4;

/// One resource of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub resource_type: String,
    pub id: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    pub matches: Vec<Found>,
    pub included: Vec<Found>,
    /// `None` when `_total=none` asked not to count.
    pub total: Option<i64>,
    /// The `_cursor` of the next page, when there is one.
    pub next_cursor: Option<String>,
    /// True when `_include`/`_revinclude` stopped at [`MAX_INCLUDED`].
    pub included_truncated: bool,
}

#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = Text)]
    rt: String,
    #[diesel(sql_type = Text)]
    rid: String,
    #[diesel(sql_type = Nullable<Binary>)]
    body: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    k0t: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    k0i: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    k0r: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    k1t: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    k1i: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    k1r: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    k2t: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    k2i: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    k2r: Option<f64>,
}

impl PageRow {
    fn key(&self, n: usize) -> serde_json::Value {
        let (t, i, r) = match n {
            0 => (&self.k0t, self.k0i, self.k0r),
            1 => (&self.k1t, self.k1i, self.k1r),
            _ => (&self.k2t, self.k2i, self.k2r),
        };
        match (t, i, r) {
            (Some(t), _, _) => serde_json::Value::String(t.clone()),
            (_, Some(i), _) => serde_json::Value::from(i),
            (_, _, Some(r)) => serde_json::Number::from_f64(r)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
        }
    }
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct RefRow {
    #[diesel(sql_type = Text)]
    rt: String,
    #[diesel(sql_type = Text)]
    rid: String,
}

#[derive(QueryableByName)]
struct BodyRow {
    #[diesel(sql_type = Text)]
    rt: String,
    #[diesel(sql_type = Text)]
    rid: String,
    #[diesel(sql_type = Nullable<Binary>)]
    body: Option<Vec<u8>>,
}

fn bound<'a>(
    sql: Sql,
) -> diesel::query_builder::BoxedSqlQuery<'a, Db, diesel::query_builder::SqlQuery> {
    let mut q = diesel::sql_query(sql.text).into_boxed::<Db>();
    for b in sql.binds {
        q = match b {
            Bind::Text(s) => q.bind::<Text, _>(s),
            Bind::Int(i) => q.bind::<BigInt, _>(i),
            Bind::Real(f) => q.bind::<Double, _>(f),
        };
    }
    q
}

/// A cursor value could not be read: it was not issued by this server for
/// this search.
fn bad_cursor() -> StoreError {
    StoreError::BadRequest(
        "the _cursor does not belong to this search; start again from the first page".into(),
    )
}

impl Store {
    /// One page of a search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, StoreError> {
        let backend = self.backend;
        self.on_reader(|conn| conn.transaction::<_, StoreError, _>(|c| search_on(c, backend, req)))
    }
}

/// One page of a search, read on `c` (a transaction's own connection sees
/// its writes: a search inside a transaction Bundle runs here).
pub(super) fn search_on(
    c: &mut DbConnection,
    backend: Backend,
    req: &SearchRequest,
) -> Result<SearchPage, StoreError> {
    let cursor = match &req.cursor {
        Some(c) => Some(parse_cursor(c, req)?),
        None => None,
    };
    let total = match (req.total, req.summary.as_deref()) {
        (TotalMode::None, Some(s)) if s != "count" => None,
        (TotalMode::None, None) => None,
        _ if req.cursor.is_some() && req.total != TotalMode::Accurate => None,
        _ => {
            let mut q = Sql::new(backend);
            q.push("SELECT COUNT(*) AS n FROM resources r WHERE ");
            filters(&mut q, req);
            Some(bound(q).get_result::<CountRow>(c)?.n)
        }
    };
    if req.count == 0 || req.summary.as_deref() == Some("count") {
        return Ok(SearchPage {
            total,
            ..SearchPage::default()
        });
    }
    let q = page_query(backend, req, cursor.as_ref());
    let mut rows: Vec<PageRow> = bound(q).load(c)?;
    let mut next_cursor = None;
    if rows.len() > req.count {
        rows.truncate(req.count);
        if let Some(last) = rows.last() {
            let mut keys: Vec<serde_json::Value> =
                (0..cursor_keys(req).len()).map(|n| last.key(n)).collect();
            keys.push(last.rt.clone().into());
            keys.push(last.rid.clone().into());
            next_cursor = Some(serde_json::Value::Array(keys).to_string());
        }
    }
    let matches: Vec<Found> = rows
        .into_iter()
        .filter_map(|r| {
            r.body.map(|body| Found {
                resource_type: r.rt,
                id: r.rid,
                body,
            })
        })
        .collect();
    let (included, included_truncated) = includes(c, backend, req, &matches)?;
    Ok(SearchPage {
        matches,
        included,
        total,
        next_cursor,
        included_truncated,
    })
}

impl Store {
    /// The targets of every reference the given resources hold, one level
    /// (their `idx_reference` rows): what `$everything` adds to the
    /// compartment. Dangling targets are listed; [`Store::current_of`]
    /// leaves them out.
    pub fn referenced(
        &self,
        from: &[(String, String)],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let every = Include {
            source_type: "*".into(),
            param: None,
            target_type: None,
            iterate: false,
        };
        self.on_reader(|c| refs(c, self.backend, &every, from, false))
    }

    /// The current bodies of the given resources; deleted and unknown ones
    /// are left out.
    pub fn current_of(&self, keys: &BTreeSet<(String, String)>) -> Result<Vec<Found>, StoreError> {
        self.on_reader(|c| load(c, self.backend, keys))
    }
}

/// The `(type, id)` of at most `limit` current resources matching `req`'s
/// criteria, in id order, read on `c` — inside the caller's transaction,
/// so that conditional writes search and write against the same state
/// (http.html#ccreate, #cond-update, #3.1.0.7.1). Paging, sorting and
/// includes of `req` play no part.
pub(super) fn matching_ids(
    c: &mut DbConnection,
    backend: Backend,
    req: &SearchRequest,
    limit: usize,
) -> Result<Vec<(String, String)>, diesel::result::Error> {
    let mut q = Sql::new(backend);
    q.push("SELECT r.resource_type AS rt, r.resource_id AS rid FROM resources r WHERE ");
    filters(&mut q, req);
    q.push(" ORDER BY r.resource_type, r.resource_id LIMIT ");
    q.bind(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let rows: Vec<RefRow> = bound(q).load(c)?;
    Ok(rows.into_iter().map(|r| (r.rt, r.rid)).collect())
}

/// `WHERE` of the main query over `resources r`: type, not deleted, the
/// criteria.
fn filters(q: &mut Sql, req: &SearchRequest) {
    q.push("NOT r.deleted");
    if let Some(comp) = &req.compartment {
        q.push(" AND (");
        for (i, (t, params)) in comp.params.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(r.resource_type = ");
            q.text(t);
            q.push(" AND r.resource_id IN (SELECT resource_id FROM idx_reference WHERE resource_type = ");
            q.text(t);
            q.push(" AND param IN ");
            q.text_list(params.iter().map(String::as_str));
            q.push(" AND target_id = ");
            q.text(&comp.id);
            q.push(" AND target_type = ");
            q.text(&comp.compartment);
            q.push("))");
        }
        if comp.include_owner {
            q.push(" OR (r.resource_type = ");
            q.text(&comp.compartment);
            q.push(" AND r.resource_id = ");
            q.text(&comp.id);
            q.push(")");
        }
        q.push(")");
    }
    for (t, c) in &req.type_criteria {
        q.push(" AND (r.resource_type <> ");
        q.text(t);
        q.push(" OR r.resource_id IN (");
        sql::set(q, t, c);
        q.push(")");
        // A resource without any value for the parameter is kept.
        if let Criterion::Param { param, .. } = c {
            q.push(" OR r.resource_id NOT IN (");
            let missing = Criterion::Missing {
                param: param.clone(),
                missing: true,
            };
            sql::set(q, t, &missing);
            q.push(")");
        }
        q.push(")");
    }
    match req.types.as_slice() {
        [one] => {
            q.push(" AND r.resource_type = ");
            q.text(one);
            sql::criteria(q, one, "r.resource_id", &req.criteria);
        }
        many => {
            q.push(" AND r.resource_type IN ");
            q.text_list(many.iter().map(String::as_str));
            if !req.criteria.is_empty() {
                q.push(" AND (");
                for (i, t) in many.iter().enumerate() {
                    if i > 0 {
                        q.push(" OR ");
                    }
                    q.push("(r.resource_type = ");
                    q.text(t);
                    sql::criteria(q, t, "r.resource_id", &req.criteria);
                    q.push(")");
                }
                q.push(")");
            }
        }
    }
}

/// An order the primary key of `resources` (type, id) gives by itself, so
/// that a page is a range seek on it: no `_sort` (type, then id), or
/// `_sort=_id` / `_sort=-_id` on one type (the `_id` key is the id, so
/// computing it per match, as other sort keys are, only made every page
/// walk the whole result again: #27).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyOrder {
    Ascending,
    Descending,
}

fn key_order(req: &SearchRequest) -> Option<KeyOrder> {
    match (req.sort.as_slice(), req.types.len()) {
        ([], _) => Some(KeyOrder::Ascending),
        ([k], 1) if k.param.code == "_id" => Some(if k.descending {
            KeyOrder::Descending
        } else {
            KeyOrder::Ascending
        }),
        _ => None,
    }
}

/// The sort keys a cursor carries before the type and id: none when the
/// primary key gives the order.
fn cursor_keys(req: &SearchRequest) -> &[crate::search::query::SortKey] {
    match key_order(req) {
        Some(_) => &[],
        None => &req.sort,
    }
}

/// The cursor: the sort key values of the last row shown, then its type
/// and id, as a JSON array.
fn parse_cursor(text: &str, req: &SearchRequest) -> Result<Vec<Bind>, StoreError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|_| bad_cursor())?;
    let keys = cursor_keys(req);
    if values.len() != keys.len() + 2 {
        return Err(bad_cursor());
    }
    let mut out = Vec::with_capacity(values.len());
    for (n, v) in values.iter().enumerate() {
        let kind = keys
            .get(n)
            .map_or(SortValueKind::Text, sql::sort_value_kind);
        out.push(match kind {
            SortValueKind::Text => Bind::Text(v.as_str().ok_or_else(bad_cursor)?.to_owned()),
            SortValueKind::Int => Bind::Int(v.as_i64().ok_or_else(bad_cursor)?),
            SortValueKind::Real => Bind::Real(v.as_f64().ok_or_else(bad_cursor)?),
        });
    }
    Ok(out)
}

const NO_KEYS: &str = "CAST(NULL AS TEXT) AS k0t, CAST(NULL AS BIGINT) AS k0i, \
    CAST(NULL AS DOUBLE PRECISION) AS k0r, CAST(NULL AS TEXT) AS k1t, \
    CAST(NULL AS BIGINT) AS k1i, CAST(NULL AS DOUBLE PRECISION) AS k1r, \
    CAST(NULL AS TEXT) AS k2t, CAST(NULL AS BIGINT) AS k2i, \
    CAST(NULL AS DOUBLE PRECISION) AS k2r";

fn page_query(backend: Backend, req: &SearchRequest, cursor: Option<&Vec<Bind>>) -> Sql {
    let mut q = Sql::new(backend);
    let limit = req.count as i64 + 1;
    if let Some(order) = key_order(req) {
        let (after, direction) = match order {
            KeyOrder::Ascending => (">", "ASC"),
            KeyOrder::Descending => ("<", "DESC"),
        };
        q.push("SELECT r.resource_type AS rt, r.resource_id AS rid, v.body AS body, ");
        q.push(NO_KEYS);
        q.push(
            " FROM resources r JOIN resource_versions v ON v.resource_type = r.resource_type \
             AND v.resource_id = r.resource_id AND v.version = r.version WHERE ",
        );
        filters(&mut q, req);
        match (cursor, req.types.as_slice()) {
            // One type: a plain range on the id, which SQLite seeks in the
            // primary key, so a page starts where the last one ended. The
            // `OR` form made it walk every match before the cursor again,
            // so each page cost more than the one before (#27).
            (Some(c), [one]) if matches!(&c[0], Bind::Text(t) if t == one) => {
                q.push(&format!(" AND r.resource_id {after} "));
                q.bind(c[1].clone());
            }
            // Several types (ascending only): the same range as a row
            // value, which both databases seek in the primary key too.
            (Some(c), _) => {
                q.push(&format!(" AND (r.resource_type, r.resource_id) {after} ("));
                q.bind(c[0].clone());
                q.push(", ");
                q.bind(c[1].clone());
                q.push(")");
            }
            (None, _) => {}
        }
        q.push(&format!(
            " ORDER BY r.resource_type {direction}, r.resource_id {direction} LIMIT "
        ));
        q.bind(Bind::Int(limit));
        return q;
    }
    // Sorted: the keys are computed in a derived table, then compared with
    // the cursor and ordered; every key is non-NULL (see `sql::sort_key`).
    q.push("SELECT t.rt AS rt, t.rid AS rid, v.body AS body");
    for n in 0..3 {
        match req.sort.get(n).map(sql::sort_value_kind) {
            Some(SortValueKind::Text) => {
                q.push(&format!(", t.k{n} AS k{n}t, CAST(NULL AS BIGINT) AS k{n}i, CAST(NULL AS DOUBLE PRECISION) AS k{n}r"));
            }
            Some(SortValueKind::Int) => {
                q.push(&format!(", CAST(NULL AS TEXT) AS k{n}t, t.k{n} AS k{n}i, CAST(NULL AS DOUBLE PRECISION) AS k{n}r"));
            }
            Some(SortValueKind::Real) => {
                q.push(&format!(
                    ", CAST(NULL AS TEXT) AS k{n}t, CAST(NULL AS BIGINT) AS k{n}i, t.k{n} AS k{n}r"
                ));
            }
            None => {
                q.push(&format!(", CAST(NULL AS TEXT) AS k{n}t, CAST(NULL AS BIGINT) AS k{n}i, CAST(NULL AS DOUBLE PRECISION) AS k{n}r"));
            }
        }
    }
    q.push(" FROM (SELECT r.resource_type AS rt, r.resource_id AS rid, r.version AS ver");
    for (n, key) in req.sort.iter().enumerate() {
        q.push(", ");
        sql::sort_key(&mut q, key, "r.resource_type", "r.resource_id");
        q.push(&format!(" AS k{n}"));
    }
    q.push(" FROM resources r WHERE ");
    filters(&mut q, req);
    q.push(
        ") t JOIN resource_versions v ON v.resource_type = t.rt AND v.resource_id = t.rid \
         AND v.version = t.ver",
    );
    if let Some(c) = cursor {
        // (k0, k1, …, rt, rid) after the cursor, each key in its direction.
        let mut cols: Vec<(String, bool)> = req
            .sort
            .iter()
            .enumerate()
            .map(|(n, k)| (format!("t.k{n}"), k.descending))
            .collect();
        cols.push(("t.rt".into(), false));
        cols.push(("t.rid".into(), false));
        q.push(" WHERE (");
        for i in 0..cols.len() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(");
            for (j, (col, _)) in cols.iter().enumerate().take(i) {
                q.push(&format!("{col} = "));
                q.bind(c[j].clone());
                q.push(" AND ");
            }
            let (col, desc) = &cols[i];
            q.push(&format!("{col} {} ", if *desc { "<" } else { ">" }));
            q.bind(c[i].clone());
            q.push(")");
        }
        q.push(")");
    }
    q.push(" ORDER BY ");
    for (n, key) in req.sort.iter().enumerate() {
        q.push(&format!(
            "t.k{n} {}, ",
            if key.descending { "DESC" } else { "ASC" }
        ));
    }
    q.push("t.rt, t.rid LIMIT ");
    q.bind(Bind::Int(limit));
    q
}

/// `_include` and `_revinclude` (with `:iterate`) for one page.
fn includes(
    c: &mut DbConnection,
    backend: Backend,
    req: &SearchRequest,
    matches: &[Found],
) -> Result<(Vec<Found>, bool), StoreError> {
    if req.includes.is_empty() && req.revincludes.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut seen: HashSet<(String, String)> = matches
        .iter()
        .map(|m| (m.resource_type.clone(), m.id.clone()))
        .collect();
    let mut out: Vec<Found> = Vec::new();
    let mut frontier: Vec<(String, String)> = seen.iter().cloned().collect();
    let mut truncated = false;
    for round in 0..=MAX_ITERATIONS {
        if frontier.is_empty() {
            break;
        }
        let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
        let applies = |inc: &Include| round == 0 || inc.iterate;
        for inc in req.includes.iter().filter(|i| applies(i)) {
            for (rt, rid) in refs(c, backend, inc, &frontier, false)? {
                wanted.insert((rt, rid));
            }
        }
        for inc in req.revincludes.iter().filter(|i| applies(i)) {
            for (rt, rid) in refs(c, backend, inc, &frontier, true)? {
                wanted.insert((rt, rid));
            }
        }
        wanted.retain(|k| !seen.contains(k));
        if out.len() + wanted.len() > MAX_INCLUDED {
            truncated = true;
            let room = MAX_INCLUDED.saturating_sub(out.len());
            wanted = wanted.into_iter().take(room).collect();
        }
        let found = load(c, backend, &wanted)?;
        frontier = found
            .iter()
            .map(|f| (f.resource_type.clone(), f.id.clone()))
            .collect();
        seen.extend(frontier.iter().cloned());
        out.extend(found);
        if truncated {
            break;
        }
    }
    Ok((out, truncated))
}

/// The (type, id) pairs one include adds for `from`: the targets of their
/// references (`_include`), or the resources referring to them
/// (`_revinclude`).
fn refs(
    c: &mut DbConnection,
    backend: Backend,
    inc: &Include,
    from: &[(String, String)],
    reverse: bool,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    let mut by_type: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (t, id) in from {
        by_type.entry(t.as_str()).or_default().push(id.as_str());
    }
    for (t, ids) in by_type {
        if !reverse && inc.source_type != "*" && inc.source_type != t {
            continue;
        }
        for chunk in ids.chunks(500) {
            let mut q = Sql::new(backend);
            if reverse {
                q.push(
                    "SELECT DISTINCT resource_type AS rt, resource_id AS rid FROM idx_reference \
                     WHERE target_type = ",
                );
                q.text(t);
                q.push(" AND target_id IN ");
                q.text_list(chunk.iter().copied());
                if inc.source_type != "*" {
                    q.push(" AND resource_type = ");
                    q.text(&inc.source_type);
                }
            } else {
                q.push(
                    "SELECT DISTINCT target_type AS rt, target_id AS rid FROM idx_reference \
                     WHERE resource_type = ",
                );
                q.text(t);
                q.push(" AND resource_id IN ");
                q.text_list(chunk.iter().copied());
                q.push(" AND target_type IS NOT NULL AND target_id IS NOT NULL");
                if let Some(target) = &inc.target_type {
                    q.push(" AND target_type = ");
                    q.text(target);
                }
            }
            if let Some(p) = &inc.param {
                q.push(" AND param = ");
                q.text(p);
            }
            if reverse {
                if let Some(target) = &inc.target_type {
                    if target != t {
                        continue;
                    }
                }
            }
            let rows: Vec<RefRow> = bound(q).load(c)?;
            out.extend(rows.into_iter().map(|r| (r.rt, r.rid)));
        }
    }
    Ok(out)
}

/// The current bodies of the given resources (deleted ones left out).
fn load(
    c: &mut DbConnection,
    backend: Backend,
    wanted: &BTreeSet<(String, String)>,
) -> Result<Vec<Found>, StoreError> {
    let mut by_type: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (t, id) in wanted {
        by_type.entry(t.as_str()).or_default().push(id.as_str());
    }
    let mut out = Vec::new();
    for (t, ids) in by_type {
        for chunk in ids.chunks(500) {
            let mut q = Sql::new(backend);
            q.push(
                "SELECT r.resource_type AS rt, r.resource_id AS rid, v.body AS body \
                 FROM resources r JOIN resource_versions v ON v.resource_type = r.resource_type \
                 AND v.resource_id = r.resource_id AND v.version = r.version \
                 WHERE NOT r.deleted AND r.resource_type = ",
            );
            q.text(t);
            q.push(" AND r.resource_id IN ");
            q.text_list(chunk.iter().copied());
            let rows: Vec<BodyRow> = bound(q).load(c)?;
            out.extend(rows.into_iter().filter_map(|r| {
                r.body.map(|body| Found {
                    resource_type: r.rt,
                    id: r.rid,
                    body,
                })
            }));
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    parent: i32,
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    rid: String,
}

#[derive(QueryableByName)]
struct TypeRow {
    #[diesel(sql_type = Text)]
    rt: String,
}

#[derive(QueryableByName)]
struct IdBodyRow {
    #[diesel(sql_type = Text)]
    rid: String,
    #[diesel(sql_type = Nullable<Binary>)]
    body: Option<Vec<u8>>,
}

/// Resources per transaction of `$reindex`, and per read of
/// [`Store::current_bodies`].
pub const REINDEX_CHUNK: usize = 500;

/// Serialises registry rebuilds, so that the registry set last was read
/// last: a rebuild that starts after a SearchParameter write committed
/// always wins over one that started before it.
static REBUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Store {
    /// The plan the database chooses for the first page of `req`:
    /// SQLite's `EXPLAIN QUERY PLAN` (one line per step, indented by
    /// depth) or PostgreSQL's `EXPLAIN` text. The test in
    /// `store/explain_tests.rs` checks that indexed parameters never make
    /// it scan `resources` or `resource_versions`.
    pub fn explain(&self, req: &SearchRequest) -> Result<String, StoreError> {
        let mut conn = self.conn()?;
        explain_on(&mut conn, self.backend, req)
    }

    /// Rebuilds the search parameter registry: the built-in R4 ones plus
    /// every SearchParameter resource stored (packages' ones included).
    /// Stored copies of the built-in R4 parameters (same `url`, from the
    /// `hl7.fhir.r4.core` package) are skipped: the built-in data already
    /// holds them. Returns how many stored SearchParameters were added;
    /// the ones that could not be used are logged as warnings by
    /// [`crate::search::registry::build`].
    pub fn rebuild_registry(&self) -> Result<usize, StoreError> {
        let _serial = REBUILD.lock().unwrap_or_else(|p| p.into_inner());
        // Read before the bodies: a change committed meanwhile moves the
        // stamp past this one, and the next check rebuilds again.
        let stamp = self
            .definitions()
            .seen()
            .get(super::DefinitionKind::SearchParameter);
        let core_urls = core_urls();
        let mut trees = Vec::new();
        for (id, body) in self.current_bodies("SearchParameter")? {
            match fhir_model::json::tree::parse(&body) {
                Ok(tree) => {
                    if !url_of(&tree).is_some_and(|u| core_urls.contains(u)) {
                        trees.push(tree);
                    }
                }
                Err(e) => log::warn!("SearchParameter/{id}: stored body does not parse: {e}"),
            }
        }
        let refs: Vec<&fhir_model::json::tree::Value> = trees.iter().collect();
        let (registry, _warnings) = crate::search::registry::build(&refs);
        self.set_registry_at(registry, stamp);
        Ok(trees.len())
    }

    /// `(id, body)` of every current (not deleted) resource of `rtype`, in
    /// id order, read [`REINDEX_CHUNK`] at a time.
    pub fn current_bodies(&self, rtype: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut conn = self.conn()?;
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let mut q = Sql::new(self.backend);
            q.push(
                "SELECT r.resource_id AS rid, v.body AS body FROM resources r \
                 JOIN resource_versions v ON v.resource_type = r.resource_type \
                 AND v.resource_id = r.resource_id AND v.version = r.version \
                 WHERE r.resource_type = ",
            );
            q.text(rtype);
            q.push(" AND NOT r.deleted AND r.resource_id > ");
            q.text(&after);
            q.push(" ORDER BY r.resource_id LIMIT ");
            q.bind(Bind::Int(REINDEX_CHUNK as i64));
            let rows: Vec<IdBodyRow> = bound(q).load(&mut conn)?;
            let n = rows.len();
            if let Some(last) = rows.last() {
                after = last.rid.clone();
            }
            out.extend(rows.into_iter().filter_map(|r| r.body.map(|b| (r.rid, b))));
            if n < REINDEX_CHUNK {
                return Ok(out);
            }
        }
    }

    /// `$reindex`: extracts the index rows of every current resource of
    /// `rtype` (every type when `None`) again with the current registry,
    /// [`REINDEX_CHUNK`] resources per transaction, so that parameters
    /// added after a resource was stored find it. Returns how many
    /// resources were indexed. Writes go on meanwhile: each resource is
    /// locked (as a writer locks it) before its body is read, so a
    /// concurrent update is either seen or comes after.
    pub fn reindex(&self, rtype: Option<&str>) -> Result<usize, StoreError> {
        let types: Vec<String> = match rtype {
            Some(t) => vec![t.to_owned()],
            None => {
                let mut conn = self.conn()?;
                let rows: Vec<TypeRow> = diesel::sql_query(
                    "SELECT DISTINCT resource_type AS rt FROM resources ORDER BY resource_type",
                )
                .load(&mut conn)?;
                rows.into_iter().map(|r| r.rt).collect()
            }
        };
        // The stamps first: a node that has not heard of a new
        // SearchParameter yet must not reindex without it (store/definitions.rs).
        self.check_definitions()?;
        let registry = self.registry();
        let mut done = 0;
        for t in &types {
            let mut after = String::new();
            loop {
                let ids = {
                    let mut conn = self.conn()?;
                    let mut q = Sql::new(self.backend);
                    q.push("SELECT resource_id AS rid FROM resources WHERE resource_type = ");
                    q.text(t);
                    q.push(" AND NOT deleted AND resource_id > ");
                    q.text(&after);
                    q.push(" ORDER BY resource_id LIMIT ");
                    q.bind(Bind::Int(REINDEX_CHUNK as i64));
                    let rows: Vec<IdRow> = bound(q).load(&mut conn)?;
                    rows.into_iter().map(|r| r.rid).collect::<Vec<_>>()
                };
                let Some(last) = ids.last() else { break };
                after = last.clone();
                done += self.reindex_chunk(&registry, t, &ids)?;
                if ids.len() < REINDEX_CHUNK {
                    break;
                }
            }
        }
        Ok(done)
    }

    fn reindex_chunk(
        &self,
        registry: &crate::search::param::ParamRegistry,
        rtype: &str,
        ids: &[String],
    ) -> Result<usize, StoreError> {
        let local = self.write_snapshot()?;
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let n = conn.transaction::<_, diesel::result::Error, _>(|c| {
            let mut n = 0;
            for id in ids {
                super::queries::lock_current(c, rtype, id)?;
                let Some(row) = super::queries::latest(c, rtype, id)? else {
                    continue;
                };
                // Deleted since it was listed: its rows went with it.
                let (false, Some(body)) = (row.deleted, row.body) else {
                    continue;
                };
                super::index_rows::delete(c, rtype, id, None)?;
                let entries = super::index_entries(registry, &local, rtype, &body);
                super::index_rows::insert(c, rtype, id, &entries)?;
                n += 1;
            }
            Ok(n)
        })?;
        Ok(n)
    }
}

/// The `url` of a resource's JSON tree.
fn url_of(tree: &fhir_model::json::tree::Value) -> Option<&str> {
    use fhir_model::json::tree::Value;
    let Value::Object(m) = tree else { return None };
    m.iter()
        .find(|(k, _)| k == "url")
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The urls of the built-in parameters.
fn core_urls() -> &'static HashSet<String> {
    static URLS: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
    URLS.get_or_init(|| {
        let core = crate::search::registry::core();
        core.resource_types()
            .iter()
            .flat_map(|t| core.for_type(t).map(|p| p.url.clone()).collect::<Vec<_>>())
            .filter(|u| !u.is_empty())
            .collect()
    })
}

/// [`Store::explain`] on a given connection (the test sets planner
/// options on it first).
pub(super) fn explain_on(
    c: &mut DbConnection,
    backend: Backend,
    req: &SearchRequest,
) -> Result<String, StoreError> {
    let mut q = page_query(backend, req, None);
    match backend {
        Backend::Sqlite => {
            q.text = format!("EXPLAIN QUERY PLAN {}", q.text);
            let rows: Vec<SqlitePlanRow> = bound(q).load(c)?;
            let mut depth: std::collections::HashMap<i32, usize> = Default::default();
            let mut out = String::new();
            for r in rows {
                let d = depth.get(&r.parent).map_or(0, |d| d + 1);
                depth.insert(r.id, d);
                out.push_str(&"  ".repeat(d));
                out.push_str(&r.detail);
                out.push('\n');
            }
            Ok(out)
        }
        Backend::Postgres => {
            q.text = format!("EXPLAIN {}", q.text);
            let rows: Vec<PgPlanRow> = bound(q).load(c)?;
            Ok(rows.into_iter().map(|r| r.line + "\n").collect())
        }
    }
}

/// The guard every write path of the store holds from before its
/// transaction until after its commit (`Store::write_guard`): SQLite's
/// in-process writer lock, and the one place where this process takes in
/// its own definition changes. When the thread wrote a definition
/// meanwhile (`definitions::note_write`), dropping the guard releases the
/// writer lock, then reads the definition stamps (and rebuilds the search
/// registry when SearchParameters changed). Writes of other types only pay
/// for reading a thread-local flag. A rolled-back write of a definition
/// reads them too, which changes nothing.
pub(super) struct WriteGuard<'a> {
    store: &'a Store,
    lock: Option<std::sync::MutexGuard<'a, ()>>,
}

impl<'a> WriteGuard<'a> {
    pub(super) fn new(store: &'a Store, lock: Option<std::sync::MutexGuard<'a, ()>>) -> Self {
        // A flag left by a write that never reached a guard's drop (a
        // panic) must not trigger this one.
        super::definitions::reset_written();
        Self { store, lock }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        drop(self.lock.take());
        if super::definitions::take_written() && !std::thread::panicking() {
            self.store.definitions_written();
        }
    }
}
