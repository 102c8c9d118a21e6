//! The query planner: a parsed [`SearchRequest`] becomes one SQL statement
//! over the index tables, written once for both backends (only the bind
//! placeholder differs: `?` on SQLite, `$n` on PostgreSQL).
//!
//! Every criterion is a set of resource ids of one type, expressed as a
//! subquery on the index table of its parameter type, and the search is
//! `resource_id IN (set) AND …`. Both planners drive such a query from the
//! most selective index lookup and probe the `resources` primary key with
//! its results, so no query scans every resource of a type (see the EXPLAIN
//! test in `store/explain_tests.rs`). Negative criteria (`:not`, `ne`,
//! `:missing=true`) are `NOT IN` and only filter.
//!
//! Paging is by keyset: rows are ordered by the sort keys and then by
//! (type, id), and a `next` link carries the last row's keys, so a page
//! starts right after the previous one however many writes happen between
//! requests (an offset would skip or repeat rows).

use std::fmt::Write as _;

use super::fulltext::{Field, Query};
use super::index::EpochMillis;
use super::param::{ParamDef, ParamKind};
use super::query::{Criterion, Modifier, SearchRequest, SortKey, Value};
use super::value::{NumberRange, Prefix};
use crate::store::Backend;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

/// SQL text with its binds, in order.
#[derive(Debug, Clone)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
    backend: Backend,
}

/// Sorts after every string the index holds (U+10FFFF is the largest
/// code point); the upper bound of prefix ranges and the "missing" value of
/// ascending string sort keys.
pub const TEXT_MAX: &str = "\u{10FFFF}";

impl Sql {
    pub fn new(backend: Backend) -> Self {
        Self {
            text: String::with_capacity(512),
            binds: Vec::new(),
            backend,
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder for `b`.
    pub fn bind(&mut self, b: Bind) -> &mut Self {
        self.binds.push(b);
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                let _ = write!(self.text, "${}", self.binds.len());
            }
        }
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.bind(Bind::Text(s.to_owned()))
    }

    fn int(&mut self, i: i64) -> &mut Self {
        self.bind(Bind::Int(i))
    }

    fn real(&mut self, f: f64) -> &mut Self {
        self.bind(Bind::Real(f))
    }

    /// `(a, b, c)` of text binds.
    pub fn text_list<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.push("(");
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(s);
        }
        self.push(")")
    }
}

/// The index table of a parameter type.
pub fn table(kind: ParamKind) -> Option<&'static str> {
    Some(match kind {
        ParamKind::String => "idx_string",
        ParamKind::Token => "idx_token",
        ParamKind::Reference => "idx_reference",
        ParamKind::Date => "idx_date",
        ParamKind::Number => "idx_number",
        ParamKind::Quantity => "idx_quantity",
        ParamKind::Uri => "idx_uri",
        ParamKind::Composite | ParamKind::Special => return None,
    })
}

/// Every criterion, each joined with `AND` (leading `AND` included).
/// `rtype` is the single type searched.
///
/// The most selective positive criterion (by [`rank`]) drives the query:
/// `id IN (set)`, which both planners run as an index lookup whose ids
/// probe the `resources` primary key. Every other criterion is a
/// correlated `EXISTS` (or `NOT EXISTS`) probe on the `(type, id)` index
/// of its table, so a broad criterion (a date range, a category) filters
/// the few driving rows instead of being materialised whole.
pub fn criteria(q: &mut Sql, rtype: &str, id_col: &str, criteria: &[Criterion]) {
    let driver = criteria
        .iter()
        .enumerate()
        .filter(|(_, c)| !is_negative(c))
        .min_by_key(|(_, c)| rank(c))
        .map(|(i, _)| i);
    for (i, c) in criteria.iter().enumerate() {
        let negated = is_negative(c);
        if Some(i) == driver {
            let _ = write!(q.text, " AND {id_col} IN (");
            set_for(q, rtype, c, None);
        } else {
            let _ = write!(q.text, " AND {}EXISTS (", if negated { "NOT " } else { "" });
            set_for(q, rtype, c, Some(id_col));
        }
        q.push(")");
    }
}

/// How selective a criterion usually is (lower drives the query): ids and
/// exact codes or references pick few rows; prefixes more; ranges and
/// `:missing` many.
fn rank(c: &Criterion) -> u8 {
    match c {
        Criterion::Id(_) | Criterion::List(_) => 0,
        Criterion::PatientLinked { .. } => 1,
        Criterion::All(cs) => cs.iter().map(rank).min().unwrap_or(7),
        Criterion::Chain { .. } | Criterion::Has { .. } => 4,
        // Words are usually rarer than a type's common codes, and the
        // full-text index lists them directly.
        Criterion::Text { .. } => 3,
        Criterion::Missing { .. } => 7,
        Criterion::Param {
            param, modifier, ..
        } => match (param.kind, modifier) {
            (_, Modifier::Contains | Modifier::Text) => 6,
            // One resource's references: a patient's, an encounter's.
            (ParamKind::Reference, _) => 1,
            (ParamKind::String, Modifier::Exact) => 2,
            (ParamKind::String, _) => 3,
            (ParamKind::Uri, Modifier::Above | Modifier::Below) => 4,
            (ParamKind::Token | ParamKind::Uri | ParamKind::Composite, _) => 2,
            _ => 5,
        },
    }
}

/// True when the criterion is evaluated as `NOT IN` of its positive set:
/// `:not` and `:missing=true`, the only ones that match a resource without
/// a value. `ne` is not among them: it needs a value that is not equal
/// (search.html#prefix compares the resource's values), so it is a
/// positive condition on the index rows.
fn is_negative(c: &Criterion) -> bool {
    match c {
        Criterion::Missing { missing, .. } => *missing,
        Criterion::PatientLinked { negated, .. } => *negated,
        Criterion::Param { modifier, .. } => *modifier == Modifier::Not,
        _ => false,
    }
}

/// Appends `SELECT resource_id FROM … WHERE …`: the ids of `rtype`
/// resources matching `c` (for a negative criterion, the ids matching its
/// positive form).
pub fn set(q: &mut Sql, rtype: &str, c: &Criterion) {
    set_for(q, rtype, c, None)
}

/// [`set`], correlated to an outer id column when `corr` is given (for an
/// `EXISTS` probe): the set is then limited to that one resource.
fn set_for(q: &mut Sql, rtype: &str, c: &Criterion, corr: Option<&str>) {
    // In a probe on SQLite, `+param` (like `+col` for values below) leaves
    // only the (type, id) index usable, which finds the resource's few rows
    // whatever the statistics say.
    let pp = if corr.is_some() && q.backend == Backend::Sqlite {
        "+"
    } else {
        ""
    };
    let same = |q: &mut Sql, col: &str| {
        if let Some(outer) = corr {
            let _ = write!(q.text, " AND {col} = {outer}");
        }
    };
    match c {
        Criterion::Id(ids) => {
            q.push("SELECT resource_id FROM resources WHERE resource_type = ");
            q.text(rtype);
            same(q, "resource_id");
            q.push(" AND resource_id IN ");
            q.text_list(ids.iter().map(String::as_str));
        }
        Criterion::Missing { param, .. } => {
            let table = match param.kind {
                ParamKind::Composite => param
                    .components
                    .first()
                    .and_then(|c| table(c.kind))
                    .unwrap_or("idx_token"),
                k => table(k).unwrap_or("idx_token"),
            };
            let code = if param.kind == ParamKind::Composite {
                format!("{}#0", param.code)
            } else {
                param.code.clone()
            };
            let _ = write!(
                q.text,
                "SELECT resource_id FROM {table} WHERE resource_type = "
            );
            q.text(rtype);
            same(q, "resource_id");
            let _ = write!(q.text, " AND {pp}param = ");
            q.text(&code);
        }
        Criterion::Param {
            param,
            modifier,
            values,
        } => {
            if param.kind == ParamKind::Composite {
                composite(q, rtype, param, values, corr);
                return;
            }
            let Some(table) = table(param.kind) else {
                q.push("SELECT resource_id FROM resources WHERE 1 = 0");
                return;
            };
            let _ = write!(
                q.text,
                "SELECT resource_id FROM {table} WHERE resource_type = "
            );
            q.text(rtype);
            same(q, "resource_id");
            let _ = write!(q.text, " AND {pp}param = ");
            q.text(&param.code);
            q.push(" AND (");
            // In a probe, SQLite must look the row up by (type, id), not
            // by value: `+col` keeps a column out of index selection there
            // (PostgreSQL's planner weighs its statistics instead).
            let p = if corr.is_some() && q.backend == Backend::Sqlite {
                "+"
            } else {
                ""
            };
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                q.push("(");
                value_condition(q, p, param.kind, *modifier, v);
                q.push(")");
            }
            q.push(")");
        }
        Criterion::Chain { param, targets } => {
            q.push("SELECT resource_id FROM idx_reference WHERE resource_type = ");
            q.text(rtype);
            same(q, "resource_id");
            let _ = write!(q.text, " AND {pp}param = ");
            q.text(&param.code);
            q.push(" AND (");
            for (i, (target, inner)) in targets.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                let p = if corr.is_some() && q.backend == Backend::Sqlite {
                    "+"
                } else {
                    ""
                };
                let _ = write!(q.text, "({p}target_type = ");
                q.text(target);
                let _ = write!(q.text, " AND {p}target_id IN (");
                if is_negative(inner) {
                    // `:not` / `:missing=true` hold for a target that lacks
                    // the value, never for one that does not exist: only
                    // current resources of the target type qualify.
                    q.push("SELECT resource_id FROM resources WHERE resource_type = ");
                    q.text(target);
                    q.push(" AND NOT deleted AND resource_id NOT IN (");
                    set(q, target, inner);
                    q.push(")");
                } else {
                    set(q, target, inner);
                }
                q.push("))");
            }
            q.push(")");
        }
        Criterion::Text { field, query } => fulltext(q, rtype, *field, query, corr),
        Criterion::List(lists) => {
            q.push(
                "SELECT target_id FROM idx_reference WHERE resource_type = 'List' \
                 AND param = 'item' AND target_type = ",
            );
            q.text(rtype);
            same(q, "target_id");
            q.push(" AND resource_id IN ");
            q.text_list(lists.iter().map(String::as_str));
        }
        Criterion::All(cs) => {
            // A fresh alias: the criteria below correlate on it.
            let alias = format!("all{}", q.text.len());
            let _ = write!(
                q.text,
                "SELECT {alias}.resource_id FROM resources {alias} WHERE NOT {alias}.deleted \
                 AND {alias}.resource_type = "
            );
            q.text(rtype);
            same(q, &format!("{alias}.resource_id"));
            criteria(q, rtype, &format!("{alias}.resource_id"), cs);
        }
        Criterion::PatientLinked {
            patient,
            params,
            owner,
            others,
            ..
        } => {
            q.push("SELECT resource_id FROM idx_reference WHERE resource_type = ");
            q.text(rtype);
            same(q, "resource_id");
            q.push(" AND param IN ");
            if params.is_empty() {
                q.push("(NULL)");
            } else {
                q.text_list(params.iter().map(String::as_str));
            }
            let op = if *others { "<>" } else { "=" };
            let _ = write!(q.text, " AND target_type = 'Patient' AND target_id {op} ");
            q.text(patient);
            if *owner && rtype == "Patient" {
                q.push(" UNION SELECT resource_id FROM resources WHERE resource_type = 'Patient'");
                same(q, "resource_id");
                q.push(" AND resource_id = ");
                q.text(patient);
            }
        }
        Criterion::Has {
            source_type,
            param,
            inner,
        } => {
            q.push("SELECT target_id FROM idx_reference WHERE resource_type = ");
            q.text(source_type);
            let _ = write!(q.text, " AND {pp}param = ");
            q.text(&param.code);
            q.push(" AND target_type = ");
            q.text(rtype);
            same(q, "target_id");
            let negated = is_negative(inner);
            let _ = write!(
                q.text,
                " AND resource_id {}IN (",
                if negated { "NOT " } else { "" }
            );
            set(q, source_type, inner);
            q.push(")");
        }
    }
}

/// `_text` / `_content` (see `search/fulltext/`): the full-text index
/// lists the matching documents, by rowid of `idx_fulltext_doc` on SQLite
/// and by (type, id) on PostgreSQL.
fn fulltext(q: &mut Sql, rtype: &str, field: Field, query: &Query, corr: Option<&str>) {
    let col = field.column();
    match q.backend {
        Backend::Sqlite => {
            // Driving, the FTS5 match lists rowids and each is found by
            // the primary key of idx_fulltext_doc (`+` keeps SQLite from
            // walking every document of the type in the (type, id) index
            // instead); probing, that index finds the one document and its
            // rowid is looked up in the match list, computed once (`+d.id`:
            // never one pass over the whole list per probe).
            let (plus, id_plus) = if corr.is_some() { ("", "+") } else { ("+", "") };
            let _ = write!(
                q.text,
                "SELECT d.resource_id FROM idx_fulltext_doc d WHERE {plus}d.resource_type = "
            );
            q.text(rtype);
            if let Some(outer) = corr {
                let _ = write!(q.text, " AND d.resource_id = {outer}");
            }
            let _ = write!(
                q.text,
                " AND {id_plus}d.id IN (SELECT rowid FROM idx_fulltext WHERE {col} MATCH "
            );
            q.text(&query.to_fts5());
            q.push(")");
        }
        Backend::Postgres => {
            // Driving, only the GIN index may answer: on a small table
            // PostgreSQL would otherwise walk every document of the type
            // by the primary key and test each (`|| ''` hides the type
            // from that index, as `+` does on SQLite). Probing, the
            // primary key finds the one document.
            match corr {
                None => q.push("SELECT resource_id FROM idx_fulltext WHERE resource_type || '' = "),
                Some(_) => q.push("SELECT resource_id FROM idx_fulltext WHERE resource_type = "),
            };
            q.text(rtype);
            if let Some(outer) = corr {
                let _ = write!(q.text, " AND resource_id = {outer}");
            }
            let _ = write!(q.text, " AND {col} @@ CAST(");
            q.text(&query.to_tsquery());
            q.push(" AS tsquery)");
        }
    }
}

/// A composite: the component rows of one `grp` must all match. Rows of
/// component n are stored under `code#n` in the component type's table.
fn composite(q: &mut Sql, rtype: &str, param: &ParamDef, values: &[Value], corr: Option<&str>) {
    for (vi, v) in values.iter().enumerate() {
        if vi > 0 {
            q.push(" UNION ");
        }
        let Value::Composite(parts) = v else { continue };
        let tables: Vec<_> = param
            .components
            .iter()
            .map(|c| table(c.kind).unwrap_or("idx_token"))
            .collect();
        let _ = write!(q.text, "SELECT c0.resource_id FROM {} c0", tables[0]);
        for (n, t) in tables.iter().enumerate().skip(1) {
            let _ = write!(
                q.text,
                " JOIN {t} c{n} ON c{n}.resource_type = c0.resource_type \
                 AND c{n}.resource_id = c0.resource_id AND c{n}.grp = c0.grp AND c{n}.param = "
            );
            q.text(&format!("{}#{n}", param.code));
        }
        q.push(" WHERE c0.resource_type = ");
        q.text(rtype);
        let pp = match corr {
            Some(outer) => {
                let _ = write!(q.text, " AND c0.resource_id = {outer}");
                if q.backend == Backend::Sqlite {
                    "+"
                } else {
                    ""
                }
            }
            None => "",
        };
        let _ = write!(q.text, " AND {pp}c0.param = ");
        q.text(&format!("{}#0", param.code));
        for (n, (part, comp)) in parts.iter().zip(&param.components).enumerate() {
            q.push(" AND (");
            value_condition(q, &format!("c{n}."), comp.kind, Modifier::None, part);
            q.push(")");
        }
    }
}

/// The condition one index row must meet to match `v`. `p` prefixes the
/// column names (a table alias and a dot, or nothing).
fn value_condition(q: &mut Sql, p: &str, kind: ParamKind, modifier: Modifier, v: &Value) {
    match v {
        Value::Text(s) => match (kind, modifier) {
            (ParamKind::String, Modifier::Exact) => {
                let _ = write!(q.text, "{p}exact = ");
                q.text(s);
            }
            (ParamKind::String, Modifier::Contains) => {
                let _ = write!(q.text, "{p}normalized LIKE ");
                q.text(&format!("%{}%", like_escape(&super::normalize::fold(s))));
                q.push(" ESCAPE '\\'");
            }
            (ParamKind::String, _) => {
                let folded = super::normalize::fold(s);
                prefix_range(q, &format!("{p}normalized"), &folded);
            }
            (ParamKind::Token, _) => {
                // `:text`: the folded display text starts with the value,
                // or one of its words does.
                let e = like_escape(s);
                let _ = write!(q.text, "{p}text LIKE ");
                q.text(&format!("{e}%"));
                let _ = write!(q.text, " ESCAPE '\\' OR {p}text LIKE ");
                q.text(&format!("% {e}%"));
                q.push(" ESCAPE '\\'");
            }
            (_, Modifier::Below) => prefix_range(q, &format!("{p}uri"), s),
            (_, Modifier::Above) => {
                let _ = write!(q.text, "{p}uri IN ");
                let prefixes = uri_prefixes(s);
                q.text_list(prefixes.iter().map(String::as_str));
            }
            _ => {
                let _ = write!(q.text, "{p}uri = ");
                q.text(s);
            }
        },
        Value::Token { system, code } => {
            let mut first = true;
            if let Some(c) = code {
                let _ = write!(q.text, "{p}code = ");
                q.text(c);
                first = false;
            }
            match system.as_deref() {
                None => {}
                Some("") => {
                    if !first {
                        q.push(" AND ");
                    }
                    let _ = write!(q.text, "{p}system IS NULL");
                    first = false;
                }
                Some(s) => {
                    if !first {
                        q.push(" AND ");
                    }
                    let _ = write!(q.text, "{p}system = ");
                    q.text(s);
                    first = false;
                }
            }
            if first {
                q.push("1 = 1");
            }
        }
        Value::OfType {
            system,
            code,
            value,
        } => {
            let _ = write!(q.text, "{p}type_system = ");
            q.text(system);
            let _ = write!(q.text, " AND {p}type_code = ");
            q.text(code);
            let _ = write!(q.text, " AND {p}code = ");
            q.text(value);
        }
        Value::Reference {
            target_type,
            id,
            version,
        } => {
            q.push("(");
            let _ = write!(q.text, "{p}target_id = ");
            q.text(id);
            if let Some(t) = target_type {
                let _ = write!(q.text, " AND {p}target_type = ");
                q.text(t);
            }
            if let Some(v) = version {
                let _ = write!(q.text, " AND {p}target_version = ");
                q.text(v);
            }
            q.push(")");
        }
        Value::Url { url, version } => {
            let _ = write!(q.text, "{p}url = ");
            q.text(url);
            if let Some(v) = version {
                let _ = write!(q.text, " AND {p}url_version = ");
                q.text(v);
            }
        }
        Value::Identifier { system, value } => {
            let _ = write!(q.text, "{p}identifier_value = ");
            q.text(value);
            if let Some(s) = system {
                let _ = write!(q.text, " AND {p}identifier_system = ");
                q.text(s);
            }
        }
        Value::Date { prefix, lo, hi } => date_condition(q, p, *prefix, *lo, *hi),
        Value::Number { prefix, range } => {
            number_condition(
                q,
                &format!("{p}value"),
                Some(format!("{p}value_key").as_str()),
                *prefix,
                range,
            );
        }
        Value::Quantity {
            prefix,
            range,
            system,
            code,
        } => {
            quantity_condition(q, p, *prefix, range, system.as_deref(), code.as_deref());
        }
        Value::Composite(_) => {
            q.push("1 = 0");
        }
    }
}

/// `col >= s AND col < s || U+10FFFF`: a prefix match that is an index
/// range scan on both backends (LIKE is not, on PostgreSQL without a
/// special operator class).
fn prefix_range(q: &mut Sql, col: &str, s: &str) {
    let _ = write!(q.text, "{col} >= ");
    q.text(s);
    let _ = write!(q.text, " AND {col} < ");
    q.text(&format!("{s}{TEXT_MAX}"));
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every prefix of a URL at a `/` boundary, itself included (`:above`).
fn uri_prefixes(s: &str) -> Vec<String> {
    let mut out = vec![s.to_owned()];
    let start = s.find("://").map_or(0, |i| i + 3);
    let mut cut = s.len();
    while let Some(i) = s[..cut].rfind('/') {
        if i < start {
            break;
        }
        out.push(s[..i].to_owned());
        cut = i;
    }
    out
}

/// Dates are stored as ranges `[lo, hi]` (`lo <= hi`) and the search value
/// is a range `[qlo, qhi]`; the prefixes compare ranges as
/// search.html#prefix says. Each condition bounds `lo` or `hi` on its own
/// (adding bounds the others imply where needed: `eq` bounds `lo` from
/// both sides, `ge` and `le` state the bound both of their cases share),
/// so that it is a range scan of the (param, lo) or (param, hi) index, not
/// a walk over every date of the parameter (see store/explain_tests.rs).
fn date_condition(q: &mut Sql, p: &str, prefix: Prefix, qlo: EpochMillis, qhi: EpochMillis) {
    let lo = format!("{p}lo");
    let hi = format!("{p}hi");
    let contained = |q: &mut Sql| {
        let _ = write!(q.text, "{lo} >= ");
        q.int(qlo);
        let _ = write!(q.text, " AND {lo} <= ");
        q.int(qhi);
        let _ = write!(q.text, " AND {hi} <= ");
        q.int(qhi);
    };
    match prefix {
        Prefix::Eq => contained(q),
        Prefix::Ne => {
            q.push("NOT (");
            contained(q);
            q.push(")");
        }
        Prefix::Gt => {
            let _ = write!(q.text, "{hi} > ");
            q.int(qhi);
        }
        Prefix::Lt => {
            let _ = write!(q.text, "{lo} < ");
            q.int(qlo);
        }
        Prefix::Ge => {
            // Both cases end at or after qlo.
            let _ = write!(q.text, "{hi} >= ");
            q.int(qlo);
            let _ = write!(q.text, " AND ({hi} > ");
            q.int(qhi);
            q.push(" OR (");
            contained(q);
            q.push("))");
        }
        Prefix::Le => {
            // Both cases start at or before qhi.
            let _ = write!(q.text, "{lo} <= ");
            q.int(qhi);
            let _ = write!(q.text, " AND ({lo} < ");
            q.int(qlo);
            q.push(" OR (");
            contained(q);
            q.push("))");
        }
        Prefix::Sa => {
            let _ = write!(q.text, "{lo} > ");
            q.int(qhi);
        }
        Prefix::Eb => {
            let _ = write!(q.text, "{hi} < ");
            q.int(qlo);
        }
        Prefix::Ap => {
            // search.html#prefix leaves "approximately" to the server: the
            // ranges overlap once the value is widened by 10% of its
            // distance from now (at least a day).
            let now = chrono::Utc::now().timestamp_millis();
            let slack = ((now - qlo).abs() / 10).max(86_400_000);
            let _ = write!(q.text, "{lo} <= ");
            q.int(qhi.saturating_add(slack));
            let _ = write!(q.text, " AND {hi} >= ");
            q.int(qlo.saturating_sub(slack));
        }
    }
}

/// Numbers: `eq` is "within the precision of the search value", the
/// order prefixes compare the value itself. With `key_col` and an exact
/// search value, the comparison is exact on the rows' decimal keys
/// ([`super::decimal_key`]); `ap` (approximate by definition) and UCUM
/// canonical values compare `f64`.
fn number_condition(
    q: &mut Sql,
    col: &str,
    key_col: Option<&str>,
    prefix: Prefix,
    r: &NumberRange,
) {
    if let (Some(kc), Some(x), false) = (key_col, &r.exact, prefix == Prefix::Ap) {
        let cmp = |q: &mut Sql, op: &str, key: &str| {
            let _ = write!(q.text, "{kc} {op} ");
            q.text(key);
        };
        match prefix {
            Prefix::Eq | Prefix::Ne => {
                if prefix == Prefix::Ne {
                    q.push("NOT (");
                }
                cmp(q, ">=", &x.lo);
                q.push(" AND ");
                cmp(q, "<", &x.hi);
                if prefix == Prefix::Ne {
                    q.push(")");
                }
            }
            Prefix::Gt | Prefix::Sa => cmp(q, ">", &x.value),
            Prefix::Lt | Prefix::Eb => cmp(q, "<", &x.value),
            Prefix::Ge => cmp(q, ">=", &x.value),
            Prefix::Le | Prefix::Ap => cmp(q, "<=", &x.value),
        }
        return;
    }
    let within = |q: &mut Sql| {
        let _ = write!(q.text, "{col} >= ");
        q.real(r.lo);
        let _ = write!(q.text, " AND {col} < ");
        q.real(r.hi);
    };
    let cmp = |q: &mut Sql, op: &str, v: f64| {
        let _ = write!(q.text, "{col} {op} ");
        q.real(v);
    };
    match prefix {
        Prefix::Eq => within(q),
        Prefix::Ne => {
            q.push("NOT (");
            within(q);
            q.push(")");
        }
        Prefix::Gt | Prefix::Sa => cmp(q, ">", r.value),
        Prefix::Lt | Prefix::Eb => cmp(q, "<", r.value),
        Prefix::Ge => cmp(q, ">=", r.value),
        Prefix::Le => cmp(q, "<=", r.value),
        Prefix::Ap => {
            let slack = (r.value.abs() * 0.1).max(r.hi - r.lo);
            cmp(q, ">=", r.value - slack);
            q.push(" AND ");
            cmp(q, "<=", r.value + slack);
        }
    }
}

const UCUM: &str = "http://unitsofmeasure.org";

/// Quantities: with a UCUM unit both sides are compared in canonical
/// units (`mg` and `ug` alike); otherwise by the value and the code (or
/// unit text) as given.
fn quantity_condition(
    q: &mut Sql,
    p: &str,
    prefix: Prefix,
    r: &NumberRange,
    system: Option<&str>,
    code: Option<&str>,
) {
    if let (Some(UCUM) | None, Some(c)) = (system, code) {
        let scaled = (
            super::ucum::canonical(c, r.value),
            super::ucum::canonical(c, r.lo),
            super::ucum::canonical(c, r.hi),
        );
        if let (Some((cc, value)), Some((_, lo)), Some((_, hi))) = scaled {
            if system == Some(UCUM) || cc != c {
                let _ = write!(q.text, "{p}canonical_code = ");
                q.text(&cc);
                q.push(" AND (");
                number_condition(
                    q,
                    &format!("({p}canonical_lo + {p}canonical_hi) / 2"),
                    None,
                    prefix,
                    &NumberRange {
                        value,
                        lo,
                        hi,
                        exact: None,
                    },
                );
                q.push(")");
                return;
            }
        }
    }
    if let Some(s) = system {
        let _ = write!(q.text, "{p}system = ");
        q.text(s);
        q.push(" AND ");
    }
    if let Some(c) = code {
        let _ = write!(q.text, "({p}code = ");
        q.text(c);
        if system.is_none() {
            let _ = write!(q.text, " OR {p}unit = ");
            q.text(c);
        }
        q.push(") AND ");
    }
    q.push("(");
    number_condition(
        q,
        &format!("{p}value"),
        Some(format!("{p}value_key").as_str()),
        prefix,
        r,
    );
    q.push(")");
}

/// The sort key expression of one `_sort` key: the lowest value of the
/// parameter for ascending, the highest for descending (search.html#sort),
/// with a stand-in for "no value" that sorts last either way, so the key
/// is never NULL and keyset paging can compare it.
pub fn sort_key(q: &mut Sql, key: &SortKey, type_col: &str, id_col: &str) {
    let (table, col, missing) = match key.param.kind {
        ParamKind::String => ("idx_string", "normalized", SortMissing::Text),
        ParamKind::Token => ("idx_token", "code", SortMissing::Text),
        ParamKind::Uri => ("idx_uri", "uri", SortMissing::Text),
        ParamKind::Reference => ("idx_reference", "target_id", SortMissing::Text),
        ParamKind::Date if key.descending => ("idx_date", "hi", SortMissing::Int),
        ParamKind::Date => ("idx_date", "lo", SortMissing::Int),
        ParamKind::Number => ("idx_number", "value", SortMissing::Real),
        ParamKind::Quantity => ("idx_quantity", "value", SortMissing::Real),
        _ => ("idx_token", "code", SortMissing::Text),
    };
    let agg = if key.descending { "MAX" } else { "MIN" };
    let _ = write!(
        q.text,
        "COALESCE((SELECT {agg}(s.{col}) FROM {table} s WHERE s.resource_type = {type_col} \
         AND s.resource_id = {id_col} AND s.param = "
    );
    q.text(&key.param.code);
    q.push("), ");
    match (missing, key.descending) {
        (SortMissing::Text, false) => q.text(TEXT_MAX),
        (SortMissing::Text, true) => q.text(""),
        (SortMissing::Int, false) => q.int(i64::MAX),
        (SortMissing::Int, true) => q.int(i64::MIN),
        (SortMissing::Real, false) => q.real(f64::MAX),
        (SortMissing::Real, true) => q.real(f64::MIN),
    };
    q.push(")");
}

#[derive(Clone, Copy)]
enum SortMissing {
    Text,
    Int,
    Real,
}

/// The value kind of a sort key, for reading it back into a cursor.
pub fn sort_value_kind(key: &SortKey) -> SortValueKind {
    match key.param.kind {
        ParamKind::Date => SortValueKind::Int,
        ParamKind::Number | ParamKind::Quantity => SortValueKind::Real,
        _ => SortValueKind::Text,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortValueKind {
    Text,
    Int,
    Real,
}

/// Whether any criterion of the request is negative only (cannot drive).
pub fn has_positive(req: &SearchRequest) -> bool {
    req.criteria.iter().any(|c| !is_negative(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend() {
        let mut q = Sql::new(Backend::Postgres);
        q.push("a = ").text("x").push(" AND b = ").int(1);
        assert_eq!(q.text, "a = $1 AND b = $2");
        let mut q = Sql::new(Backend::Sqlite);
        q.push("a = ").text("x");
        assert_eq!(q.text, "a = ?");
    }

    #[test]
    fn uri_prefixes_stop_at_the_authority() {
        assert_eq!(
            uri_prefixes("http://a.org/fhir/ValueSet/x"),
            [
                "http://a.org/fhir/ValueSet/x",
                "http://a.org/fhir/ValueSet",
                "http://a.org/fhir",
                "http://a.org"
            ]
        );
        assert_eq!(like_escape("50%_a\\"), "50\\%\\_a\\\\");
    }
}
