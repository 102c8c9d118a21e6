//! A search request, parsed: the criteria (search.html#ptypes, modifiers,
//! chains, `_has`) and the result parameters (`_sort`, `_count`,
//! `_include`, …). Parsing knows the parameters' types from the registry
//! and never touches the database; [`super::sql`] turns the result into SQL.
//!
//! Problems are collected, not thrown: each becomes an [`Ignored`] with
//! the reason, and the handler either reports them in the result Bundle
//! (`Prefer: handling=lenient`, the default) or answers 400
//! (`handling=strict`), as search.html#errors says.

use std::sync::Arc;

use super::param::{ParamDef, ParamKind, ParamRegistry};
use super::value::{self, NumberRange, Prefix};

pub const DEFAULT_COUNT: usize = 50;
pub const MAX_COUNT: usize = 1000;
/// Chains deeper than this are refused: each hop is a nested subquery.
pub const MAX_CHAIN: usize = 4;
/// At most this many `_sort` keys (each is a correlated subquery).
pub const MAX_SORT: usize = 3;

/// The whole request.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The resource types searched: one for a type search, the `_type`
    /// list (or every type) for a system search.
    pub types: Vec<String>,
    /// Every criterion must hold (AND); each has its own OR list.
    pub criteria: Vec<Criterion>,
    /// Criteria that hold for one type only (other types are not
    /// filtered by them), and only for resources that have a value for the
    /// parameter: `$everything`'s care dates apply to the types that have
    /// a clinical date, and keep resources that carry none.
    pub type_criteria: Vec<(String, Criterion)>,
    pub sort: Vec<SortKey>,
    pub count: usize,
    pub total: TotalMode,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    /// `_summary` and `_elements`, applied to each entry when written.
    pub summary: Option<String>,
    pub elements: Option<String>,
    /// A compartment search: only resources in this compartment.
    pub compartment: Option<CompartmentFilter>,
    /// The keyset cursor of a `next` link.
    pub cursor: Option<String>,
    /// The parameters as understood, for `Bundle.link[self]` and paging.
    pub used: Vec<(String, String)>,
    /// What was not understood, with the reason.
    pub ignored: Vec<Ignored>,
}

/// `[Compartment]/[id]/[type]`: a resource of type T is in the
/// compartment when one of T's compartment parameters refers to
/// `compartment/id` (compartmentdefinition.html).
#[derive(Debug, Clone, Default)]
pub struct CompartmentFilter {
    pub compartment: String,
    pub id: String,
    /// For each searched type, its compartment parameters.
    pub params: Vec<(String, Vec<String>)>,
    /// Whether the compartment's own resource is part of the result
    /// (`$everything`: "the patient resource itself").
    pub include_owner: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TotalMode {
    None,
    Estimate,
    #[default]
    Accurate,
}

#[derive(Debug, Clone)]
pub struct Ignored {
    pub name: String,
    pub reason: String,
}

/// One criterion over the resources of one type.
#[derive(Debug, Clone)]
pub enum Criterion {
    /// `_id`: the ids themselves (OR).
    Id(Vec<String>),
    /// `_list`: the resources that the List resources with these ids name
    /// in `List.entry.item` (search.html#list).
    List(Vec<String>),
    /// A parameter with its modifier and OR-ed values.
    Param {
        param: Arc<ParamDef>,
        modifier: Modifier,
        values: Vec<Value>,
    },
    /// `param:missing=true|false`.
    Missing { param: Arc<ParamDef>, missing: bool },
    /// `ref.x=…` / `ref:Type.x=…`: resources whose reference `param`
    /// points to a resource of one of the target types matching `inner`.
    Chain {
        param: Arc<ParamDef>,
        targets: Vec<(String, Box<Criterion>)>,
    },
    /// `_text` / `_content`: full-text search of the narrative or of all
    /// the text (the comma values already OR-ed into `query`).
    Text {
        field: super::fulltext::Field,
        query: super::fulltext::Query,
    },
    /// `_has:Type:ref:x=…`: resources that some `source_type` resource
    /// references through `param` and that matches `inner`.
    Has {
        source_type: String,
        param: Arc<ParamDef>,
        inner: Box<Criterion>,
    },
    /// Every one of these (AND): how the caller's bounds are added to a
    /// sub-search (a chain's target, a `_has` source), which has room for
    /// one criterion only.
    All(Vec<Criterion>),
    /// Resources whose reference `params` name `Patient/patient` (or, with
    /// `others`, name any other Patient), plus that Patient itself when
    /// `owner`; `negated` selects the rest. Never parsed from a request:
    /// the authorization layer's bound of a patient-limited token.
    PatientLinked {
        patient: String,
        params: Vec<String>,
        owner: bool,
        others: bool,
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    None,
    Exact,
    Contains,
    Text,
    Not,
    Above,
    Below,
    OfType,
    Identifier,
    /// `:[type]` on a reference.
    Type,
}

/// One value of an OR list, typed by the parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// string, uri; for `:text` on a token, the folded text.
    Text(String),
    /// token: `[system]|[code]`; `system` `Some("")` means "no system"
    /// (`|code`), `None` means any system.
    Token {
        system: Option<String>,
        code: Option<String>,
    },
    /// token `:of-type`: `system|code|value`.
    OfType {
        system: String,
        code: String,
        value: String,
    },
    /// reference: `Type/id[/_history/v]`, or an id with an optional type
    /// from `:Type`, or an absolute/canonical URL.
    Reference {
        target_type: Option<String>,
        id: String,
        version: Option<String>,
    },
    Url {
        url: String,
        version: Option<String>,
    },
    /// reference `:identifier`: `system|value`.
    Identifier {
        system: Option<String>,
        value: String,
    },
    Date {
        prefix: Prefix,
        lo: i64,
        hi: i64,
    },
    Number {
        prefix: Prefix,
        range: NumberRange,
    },
    Quantity {
        prefix: Prefix,
        range: NumberRange,
        system: Option<String>,
        code: Option<String>,
    },
    /// composite: one value per component.
    Composite(Vec<Value>),
}

#[derive(Debug, Clone)]
pub struct SortKey {
    pub param: Arc<ParamDef>,
    pub descending: bool,
}

/// `_include` / `_revinclude`: `source_type:param[:target_type]`, or
/// `*`; `iterate` applies it to included resources too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub source_type: String,
    /// `None` for `*` (every reference parameter of the source type).
    pub param: Option<String>,
    pub target_type: Option<String>,
    pub iterate: bool,
}

/// The result parameters every search understands (search.html#table);
/// anything else starting with `_` must be a search parameter.
const CONTROL: &[&str] = &[
    "_sort",
    "_count",
    "_total",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_cursor",
    "_format",
    "_pretty",
    "_type",
];

/// The most codes a `:in`, `:not-in`, `:above` or `:below` value may stand
/// for; a larger value set is refused rather than sent as a huge `IN` list.
pub const MAX_EXPANDED_CODES: usize = 10_000;

/// What the token modifiers `:in`, `:not-in`, `:above` and `:below` need
/// from the terminology service: the codes they stand for, each as
/// (system, code). Errors are the reason the parameter is not used.
pub trait TokenExpander {
    /// The codes of the value set with this canonical url.
    fn value_set_codes(&self, url: &str, limit: usize) -> Result<Vec<(String, String)>, String>;
    /// `system|code` and its descendants (`above = false`, `:below`) or its
    /// ancestors (`above = true`, `:above`).
    fn hierarchy_codes(
        &self,
        system: &str,
        code: &str,
        above: bool,
        limit: usize,
    ) -> Result<Vec<(String, String)>, String>;
}

/// Parses the parameters of a search on `types` (one type, or several for
/// a system search), without a terminology service: the token modifiers
/// `:in`, `:not-in`, `:above` and `:below` are reported as not used.
pub fn parse(
    registry: &ParamRegistry,
    types: Vec<String>,
    params: &[(String, String)],
) -> SearchRequest {
    parse_with(registry, types, params, None)
}

/// [`parse`], with a terminology service for the token modifiers `:in`,
/// `:not-in`, `:above` and `:below`, which are expanded here into the
/// codes they stand for (`:not-in` becomes `:not` over them).
pub fn parse_with(
    registry: &ParamRegistry,
    types: Vec<String>,
    params: &[(String, String)],
    tx: Option<&dyn TokenExpander>,
) -> SearchRequest {
    let mut req = SearchRequest {
        types,
        count: DEFAULT_COUNT,
        ..SearchRequest::default()
    };
    for (name, raw) in params {
        let (base, modifier) = match name.split_once(':') {
            Some((b, m)) => (b, Some(m)),
            None => (name.as_str(), None),
        };
        if CONTROL.contains(&base) {
            control(registry, &mut req, name, base, modifier, raw);
            continue;
        }
        if raw.is_empty() {
            // search.html#errors: "empty parameters … ignored".
            continue;
        }
        let result = if base == "_has" {
            parse_has(registry, tx, &req.types, name, raw, 0)
        } else {
            criterion_for_types(registry, tx, &req.types, name, raw, 0)
        };
        match result {
            Ok(c) => {
                req.criteria.push(c);
                req.used.push((name.clone(), raw.clone()));
            }
            Err(reason) => req.ignored.push(Ignored {
                name: name.clone(),
                reason,
            }),
        }
    }
    req
}

fn control(
    registry: &ParamRegistry,
    req: &mut SearchRequest,
    name: &str,
    base: &str,
    modifier: Option<&str>,
    raw: &str,
) {
    let mut ignore = |reason: String| {
        req.ignored.push(Ignored {
            name: name.to_owned(),
            reason,
        })
    };
    match base {
        "_count" => match raw.parse::<usize>() {
            Ok(n) => {
                req.count = n.min(MAX_COUNT);
                req.used.push((name.to_owned(), req.count.to_string()));
            }
            Err(_) => ignore(format!(
                "_count must be a non-negative integer, not {raw:?}"
            )),
        },
        "_total" => {
            req.total = match raw {
                "none" => TotalMode::None,
                "estimate" => TotalMode::Estimate,
                "accurate" => TotalMode::Accurate,
                _ => {
                    return ignore(format!(
                        "_total must be none, estimate or accurate, not {raw:?}"
                    ))
                }
            };
            req.used.push((name.to_owned(), raw.to_owned()));
        }
        "_sort" => {
            for key in raw.split(',').filter(|k| !k.is_empty()) {
                let (descending, code) = match key.strip_prefix('-') {
                    Some(c) => (true, c),
                    None => (false, key),
                };
                let param = req
                    .types
                    .iter()
                    .find_map(|t| registry.get(t, code))
                    .filter(|p| sortable(p.kind));
                match param {
                    Some(p) if req.sort.len() < MAX_SORT => req.sort.push(SortKey {
                        param: p.clone(),
                        descending,
                    }),
                    Some(_) => ignore(format!("at most {MAX_SORT} _sort keys are supported")),
                    None => ignore(format!(
                        "cannot sort by {code:?}: not a sortable search parameter of {}",
                        req.types.join(", ")
                    )),
                }
            }
            if !req.sort.is_empty() {
                let text: Vec<String> = req
                    .sort
                    .iter()
                    .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.param.code))
                    .collect();
                req.used.push((name.to_owned(), text.join(",")));
            }
        }
        "_include" | "_revinclude" => {
            let iterate = matches!(modifier, Some("iterate") | Some("recurse"));
            if modifier.is_some() && !iterate {
                return ignore(format!("unknown modifier on {base}"));
            }
            match parse_include(registry, raw, iterate) {
                Ok(inc) => {
                    if base == "_include" {
                        req.includes.push(inc);
                    } else {
                        req.revincludes.push(inc);
                    }
                    req.used.push((name.to_owned(), raw.to_owned()));
                }
                Err(e) => ignore(e),
            }
        }
        "_summary" => match raw {
            "true" | "text" | "data" | "count" | "false" => {
                req.summary = Some(raw.to_owned());
                req.used.push((name.to_owned(), raw.to_owned()));
            }
            _ => ignore(format!(
                "_summary must be true, text, data, count or false, not {raw:?}"
            )),
        },
        "_elements" => {
            req.elements = Some(raw.to_owned());
            req.used.push((name.to_owned(), raw.to_owned()));
        }
        "_cursor" => req.cursor = Some(raw.to_owned()),
        // `_type` is read by the system-search handler; the format
        // parameters by the format middleware.
        _ => {}
    }
}

fn sortable(kind: ParamKind) -> bool {
    matches!(
        kind,
        ParamKind::String
            | ParamKind::Token
            | ParamKind::Date
            | ParamKind::Number
            | ParamKind::Quantity
            | ParamKind::Uri
            | ParamKind::Reference
    )
}

fn parse_include(registry: &ParamRegistry, raw: &str, iterate: bool) -> Result<Include, String> {
    let mut parts = raw.split(':');
    let source = parts.next().unwrap_or_default();
    let param = parts.next();
    let target = parts.next();
    if source == "*" && param.is_none() {
        return Ok(Include {
            source_type: "*".into(),
            param: None,
            target_type: None,
            iterate,
        });
    }
    if registry.get(source, "_id").is_none() {
        return Err(format!("{raw:?}: {source:?} is not a resource type"));
    }
    let param = match param {
        None | Some("*") => None,
        Some(p) => match registry.get(source, p) {
            Some(d) if d.kind == ParamKind::Reference => Some(p.to_owned()),
            _ => {
                return Err(format!(
                    "{raw:?}: {p:?} is not a reference search parameter of {source}"
                ))
            }
        },
    };
    if let Some(t) = target {
        if registry.get(t, "_id").is_none() {
            return Err(format!("{raw:?}: {t:?} is not a resource type"));
        }
    }
    Ok(Include {
        source_type: source.to_owned(),
        param,
        target_type: target.map(str::to_owned),
        iterate,
    })
}

/// A criterion that must hold for each of `types` (a system search with
/// several types needs the parameter on each).
fn criterion_for_types(
    registry: &ParamRegistry,
    tx: Option<&dyn TokenExpander>,
    types: &[String],
    name: &str,
    raw: &str,
    depth: usize,
) -> Result<Criterion, String> {
    let first = types
        .first()
        .ok_or_else(|| "no resource type to search".to_owned())?;
    let c = criterion_tx(registry, tx, first, name, raw, depth)?;
    for t in &types[1..] {
        criterion_tx(registry, tx, t, name, raw, depth)?;
    }
    Ok(c)
}

/// `name=raw` on resources of `rtype`.
pub fn criterion(
    registry: &ParamRegistry,
    rtype: &str,
    name: &str,
    raw: &str,
    depth: usize,
) -> Result<Criterion, String> {
    criterion_tx(registry, None, rtype, name, raw, depth)
}

fn criterion_tx(
    registry: &ParamRegistry,
    tx: Option<&dyn TokenExpander>,
    rtype: &str,
    name: &str,
    raw: &str,
    depth: usize,
) -> Result<Criterion, String> {
    if depth > MAX_CHAIN {
        return Err(format!("chains longer than {MAX_CHAIN} are not supported"));
    }
    if name == "_has" || name.starts_with("_has:") {
        return parse_has(registry, tx, &[rtype.to_owned()], name, raw, depth);
    }
    // A chain: `subject.name`, `subject:Patient.name`, `a.b.c`.
    if let Some((head, rest)) = name.split_once('.') {
        let (code, type_mod) = match head.split_once(':') {
            Some((c, t)) => (c, Some(t)),
            None => (head, None),
        };
        let param = lookup(registry, rtype, code)?;
        if param.kind != ParamKind::Reference {
            return Err(format!(
                "{name:?}: {code:?} is not a reference parameter, so it cannot be chained"
            ));
        }
        let candidates: Vec<String> = match type_mod {
            Some(t) => vec![t.to_owned()],
            None => param.targets.clone(),
        };
        let mut targets = Vec::new();
        let mut last_err = None;
        for t in candidates {
            match criterion_tx(registry, tx, &t, rest, raw, depth + 1) {
                Ok(c) => targets.push((t, Box::new(c))),
                Err(e) => last_err = Some(e),
            }
        }
        if targets.is_empty() {
            return Err(last_err.unwrap_or_else(|| {
                format!("{name:?}: no target type of {code:?} has the chained parameter")
            }));
        }
        return Ok(Criterion::Chain { param, targets });
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    if code == "_id" && modifier.is_none() {
        return Ok(Criterion::Id(
            raw.split(',').map(|s| s.trim().to_owned()).collect(),
        ));
    }
    if code == "_list" && modifier.is_none() {
        return Ok(Criterion::List(
            raw.split(',').map(|s| s.trim().to_owned()).collect(),
        ));
    }
    let param = lookup(registry, rtype, code)?;
    if let Some(field) = super::fulltext::Field::from_code(code) {
        if let Some(m) = modifier {
            return Err(format!(
                "{code}: modifier :{m} is not supported on full-text search"
            ));
        }
        let query = super::fulltext::parse(&split_or(raw)).map_err(|e| format!("{code}: {e}"))?;
        return Ok(Criterion::Text { field, query });
    }
    if param.expression.is_none() {
        // Nothing is indexed for it, so any criterion would silently
        // match nothing (or, negated, everything).
        return Err(if code == "_query" {
            format!("_query={raw}: named queries are not supported by this server")
        } else {
            format!("{code:?} has no expression, so this server cannot search by it")
        });
    }
    if modifier == Some("missing") {
        return match raw {
            "true" => Ok(Criterion::Missing {
                param,
                missing: true,
            }),
            "false" => Ok(Criterion::Missing {
                param,
                missing: false,
            }),
            _ => Err(format!("{name}: :missing takes true or false, not {raw:?}")),
        };
    }
    if let (ParamKind::Token, Some(m @ ("in" | "not-in" | "above" | "below"))) =
        (param.kind, modifier)
    {
        return terminology_criterion(tx, param, m, raw);
    }
    let modifier = parse_modifier(registry, &param, modifier)?;
    let mut values = Vec::new();
    for part in split_or(raw) {
        values.push(parse_value(
            &param,
            modifier.0,
            modifier.1.as_deref(),
            &part,
        )?);
    }
    Ok(Criterion::Param {
        param,
        modifier: modifier.0,
        values,
    })
}

/// `:in`/`:not-in` (value set urls) and `:above`/`:below` (`system|code`)
/// on a token parameter: the codes they stand for, as token values, so the
/// planner sees a plain OR list (`:not-in` as `:not`).
fn terminology_criterion(
    tx: Option<&dyn TokenExpander>,
    param: Arc<ParamDef>,
    m: &str,
    raw: &str,
) -> Result<Criterion, String> {
    let tx = tx.ok_or_else(|| {
        format!(
            "{}:{m}: no terminology service is available for this search",
            param.code
        )
    })?;
    let mut codes: Vec<(String, String)> = Vec::new();
    for part in split_or(raw) {
        let left = MAX_EXPANDED_CODES - codes.len().min(MAX_EXPANDED_CODES);
        let more = match m {
            "in" | "not-in" => tx.value_set_codes(&unescape(&part), left)?,
            _ => {
                let (system, code) = split_pipe(&part)
                    .filter(|(s, c)| !s.is_empty() && !c.is_empty())
                    .ok_or_else(|| format!("{}:{m}: {part:?} must be system|code", param.code))?;
                tx.hierarchy_codes(&unescape(&system), &unescape(&code), m == "above", left)?
            }
        };
        codes.extend(more);
        if codes.len() > MAX_EXPANDED_CODES {
            return Err(format!(
                "{}:{m}: {raw:?} stands for more than {MAX_EXPANDED_CODES} codes; narrow the value set",
                param.code
            ));
        }
    }
    let mut values: Vec<Value> = codes
        .into_iter()
        .map(|(system, code)| Value::Token {
            system: Some(system),
            code: Some(code),
        })
        .collect();
    if values.is_empty() {
        // An empty value set: no code matches it. A token no index row can
        // hold (codes are never empty) keeps the plan a plain OR list.
        values.push(Value::Token {
            system: Some("urn:fhir-server:empty-value-set".to_owned()),
            code: Some(String::new()),
        });
    }
    Ok(Criterion::Param {
        param,
        modifier: if m == "not-in" {
            Modifier::Not
        } else {
            Modifier::None
        },
        values,
    })
}

fn lookup(registry: &ParamRegistry, rtype: &str, code: &str) -> Result<Arc<ParamDef>, String> {
    registry
        .get(rtype, code)
        .cloned()
        .ok_or_else(|| format!("{code:?} is not a search parameter of {rtype}"))
}

/// The modifier, checked against the parameter type; the second part is
/// the resource type of a `:[type]` modifier.
fn parse_modifier(
    registry: &ParamRegistry,
    param: &ParamDef,
    m: Option<&str>,
) -> Result<(Modifier, Option<String>), String> {
    use ParamKind as K;
    let Some(m) = m else {
        return Ok((Modifier::None, None));
    };
    let modifier = match (param.kind, m) {
        (K::String, "exact") => Modifier::Exact,
        (K::String, "contains") => Modifier::Contains,
        (K::Token, "text") => Modifier::Text,
        (K::Token, "not") => Modifier::Not,
        (K::Token, "of-type") => Modifier::OfType,
        (K::Uri, "above") => Modifier::Above,
        (K::Uri, "below") => Modifier::Below,
        (K::Reference, "identifier") => Modifier::Identifier,
        (K::Reference, t) if registry.get(t, "_id").is_some() => {
            return Ok((Modifier::Type, Some(t.to_owned())))
        }
        (K::Token, "in" | "not-in" | "above" | "below") => {
            return Err(format!(
                "{}:{m}: value-set and subsumption modifiers need the terminology service",
                param.code
            ))
        }
        _ => {
            return Err(format!(
                "modifier :{m} is not valid on the {} parameter {}",
                param.kind.as_str(),
                param.code
            ))
        }
    };
    Ok((modifier, None))
}

/// Splits an OR list at commas not escaped with `\` (search.html#escaping),
/// unescaping `\,` `\$` `\|` `\\`.
pub fn split_or(raw: &str) -> Vec<String> {
    split_escaped(raw, ',')
}

fn split_escaped(raw: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) if n == sep => out.last_mut().map(|s| s.push(n)).unwrap_or(()),
                Some(n) => {
                    if let Some(s) = out.last_mut() {
                        s.push('\\');
                        s.push(n);
                    }
                }
                None => {
                    if let Some(s) = out.last_mut() {
                        s.push('\\')
                    }
                }
            }
        } else if c == sep {
            out.push(String::new());
        } else if let Some(s) = out.last_mut() {
            s.push(c);
        }
    }
    out
}

/// Removes the remaining escapes (`\,`, `\|`, `\$`, `\\`). A backslash
/// that escapes nothing (`\x`, or one at the very end) is a literal
/// backslash (search.html#escaping names only these four): dropping it
/// would turn `family=\` into an empty value, which matches everything.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&n @ (',' | '$' | '|' | '\\')) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits `a|b` at the first unescaped `|`.
fn split_pipe(s: &str) -> Option<(String, String)> {
    let parts = split_escaped(s, '|');
    if parts.len() < 2 {
        return None;
    }
    Some((parts[0].clone(), parts[1..].join("|")))
}

fn parse_value(
    param: &ParamDef,
    modifier: Modifier,
    type_mod: Option<&str>,
    raw: &str,
) -> Result<Value, String> {
    parse_kind_value(param.kind, &param.code, modifier, type_mod, raw, param)
}

fn parse_kind_value(
    kind: ParamKind,
    code: &str,
    modifier: Modifier,
    type_mod: Option<&str>,
    raw: &str,
    param: &ParamDef,
) -> Result<Value, String> {
    let bad = |what: &str| format!("{code}: {raw:?} is not a valid {what}");
    Ok(match kind {
        ParamKind::String if modifier != Modifier::Exact => {
            let text = unescape(raw);
            if super::normalize::fold(&text).is_empty() {
                // Folds to nothing (only spaces): as a prefix it would
                // match every string.
                return Err(format!("{code}: {raw:?} has no searchable characters"));
            }
            Value::Text(text)
        }
        ParamKind::String | ParamKind::Uri => Value::Text(unescape(raw)),
        ParamKind::Token => match modifier {
            Modifier::Text => Value::Text(super::normalize::fold(&unescape(raw))),
            Modifier::OfType => {
                let parts = split_escaped(raw, '|');
                if parts.len() != 3 || parts.iter().any(String::is_empty) {
                    return Err(bad(":of-type value (system|code|value)"));
                }
                Value::OfType {
                    system: parts[0].clone(),
                    code: parts[1].clone(),
                    value: unescape(&parts[2]),
                }
            }
            _ => match split_pipe(raw) {
                Some((s, c)) => Value::Token {
                    system: Some(unescape(&s)),
                    code: (!c.is_empty()).then(|| unescape(&c)),
                },
                None => Value::Token {
                    system: None,
                    code: Some(unescape(raw)),
                },
            },
        },
        ParamKind::Reference => reference_value(modifier, type_mod, raw, param)?,
        ParamKind::Date => {
            let (prefix, rest) = value::prefix(raw);
            let (lo, hi) = value::date_range(rest).ok_or_else(|| bad("date"))?;
            Value::Date { prefix, lo, hi }
        }
        ParamKind::Number => {
            let (prefix, rest) = value::prefix(raw);
            Value::Number {
                prefix,
                range: value::number_range(rest).ok_or_else(|| bad("number"))?,
            }
        }
        ParamKind::Quantity => {
            let (prefix, rest) = value::prefix(raw);
            let parts = split_escaped(rest, '|');
            let range = value::number_range(&parts[0]).ok_or_else(|| bad("quantity"))?;
            let (system, unit) = match parts.len() {
                1 => (None, None),
                3 => (
                    (!parts[1].is_empty()).then(|| parts[1].clone()),
                    (!parts[2].is_empty()).then(|| parts[2].clone()),
                ),
                _ => return Err(bad("quantity (number|system|code)")),
            };
            Value::Quantity {
                prefix,
                range,
                system,
                code: unit,
            }
        }
        ParamKind::Composite => {
            let parts = split_escaped(raw, '$');
            if parts.len() != param.components.len() {
                return Err(format!(
                    "{code}: a composite value needs {} parts separated by $",
                    param.components.len()
                ));
            }
            let mut values = Vec::new();
            for (part, comp) in parts.iter().zip(&param.components) {
                values.push(parse_kind_value(
                    comp.kind,
                    code,
                    Modifier::None,
                    None,
                    part,
                    param,
                )?);
            }
            Value::Composite(values)
        }
        ParamKind::Special => {
            return Err(format!(
                "{code}: special parameters are not supported by this server"
            ))
        }
    })
}

fn reference_value(
    modifier: Modifier,
    type_mod: Option<&str>,
    raw: &str,
    param: &ParamDef,
) -> Result<Value, String> {
    if modifier == Modifier::Identifier {
        return Ok(match split_pipe(raw) {
            Some((s, v)) => Value::Identifier {
                system: (!s.is_empty()).then(|| unescape(&s)),
                value: unescape(&v),
            },
            None => Value::Identifier {
                system: None,
                value: unescape(raw),
            },
        });
    }
    let raw = unescape(raw);
    if raw.contains("://") || raw.starts_with("urn:") {
        // Absolute: a canonical (`url|version`) or a resource on another
        // server. References to this server arrive relative (the handler
        // strips its own base first).
        return Ok(match raw.split_once('|') {
            Some((u, v)) => Value::Url {
                url: u.to_owned(),
                version: Some(v.to_owned()),
            },
            None => Value::Url {
                url: raw,
                version: None,
            },
        });
    }
    let segments: Vec<&str> = raw.split('/').collect();
    let (target_type, id, version) = match segments.as_slice() {
        [id] => (type_mod.map(str::to_owned), (*id).to_owned(), None),
        [t, id] => ((*t).to_owned().into(), (*id).to_owned(), None),
        [t, id, "_history", v] => (
            Some((*t).to_owned()),
            (*id).to_owned(),
            Some((*v).to_owned()),
        ),
        _ => {
            return Err(format!(
                "{}: {raw:?} is not a reference (Type/id, id or a URL)",
                param.code
            ))
        }
    };
    if let (Some(t), Some(m)) = (&target_type, type_mod) {
        if t != m {
            return Err(format!("{}: {raw:?} is not a {m}", param.code));
        }
    }
    if id.is_empty() {
        return Err(format!("{}: {raw:?} has no id", param.code));
    }
    Ok(Value::Reference {
        target_type,
        id,
        version,
    })
}

/// `_has:Source:ref:rest=value` (rest may itself be `_has:…`).
fn parse_has(
    registry: &ParamRegistry,
    tx: Option<&dyn TokenExpander>,
    types: &[String],
    name: &str,
    raw: &str,
    depth: usize,
) -> Result<Criterion, String> {
    if depth > MAX_CHAIN {
        return Err(format!(
            "_has nested deeper than {MAX_CHAIN} is not supported"
        ));
    }
    let mut parts = name.splitn(4, ':');
    let (_, source, ref_code, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(source), Some(ref_code), Some(rest)) = (source, ref_code, rest) else {
        return Err(format!(
            "{name:?}: _has takes the form _has:Type:reference:parameter"
        ));
    };
    let param = lookup(registry, source, ref_code)?;
    if param.kind != ParamKind::Reference {
        return Err(format!("{name:?}: {ref_code} is not a reference parameter"));
    }
    for t in types {
        if !param.targets.is_empty() && !param.targets.iter().any(|x| x == t) {
            return Err(format!("{name:?}: {source}.{ref_code} cannot refer to {t}"));
        }
    }
    let inner = criterion_tx(registry, tx, source, rest, raw, depth + 1)?;
    Ok(Criterion::Has {
        source_type: source.to_owned(),
        param,
        inner: Box::new(inner),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_lists_respect_escapes() {
        assert_eq!(split_or("a,b\\,c,d"), ["a", "b,c", "d"]);
        assert_eq!(
            split_pipe("http://x|1\\|2"),
            Some(("http://x".into(), "1|2".into()))
        );
        assert_eq!(unescape("1\\|2\\$3"), "1|2$3");
    }

    #[test]
    fn a_lone_or_unknown_escape_is_a_literal_backslash() {
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("a\\x"), "a\\x");
        assert_eq!(unescape("a\\\\"), "a\\");
        assert_eq!(
            split_or("\\")
                .iter()
                .map(|s| unescape(s))
                .collect::<Vec<_>>(),
            ["\\"]
        );
    }
}
