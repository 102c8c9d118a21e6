//! The values an expression works on: nodes of the JSON tree with their
//! FHIR type, and System values (Boolean, Integer, Decimal, String, Date,
//! DateTime, Time, Quantity).
//!
//! A primitive FHIR element is a node that carries both its value and its
//! `_name` sibling, so `extension()` and `id` work on primitives; it turns
//! into a System value ([`Item::system`]) when an operator needs one.

use std::cmp::Ordering;

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use crate::datetime::Temporal;
use crate::decimal::Decimal;
use crate::error::{eval_err, Error};
use crate::quantity::Quantity;

/// A node of the JSON tree.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// The value: an object, or a primitive's JSON value. `None` for a
    /// primitive that only has extensions.
    pub value: Option<&'a Json>,
    /// A primitive's `_name` object (id and extensions).
    pub ext: Option<&'a Json>,
    /// The FHIR type (`string`, `HumanName`, `Patient`, `PatientContact`).
    pub ty: &'a str,
}

/// One item of a collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    Node(Node<'a>),
    Boolean(bool),
    Integer(i64),
    Decimal(Decimal),
    String(String),
    Date(Temporal),
    DateTime(Temporal),
    Time(Temporal),
    Quantity(Quantity),
    /// What `type()` returns: a namespace (`System`, `FHIR`) and a name.
    TypeInfo(&'static str, String),
}

/// The longest string an operation may build (16 MiB): `replace` and `&`
/// can double a string per step, so a short expression could otherwise ask
/// for gigabytes.
pub const MAX_STRING: usize = 1 << 24;

/// The largest collection an operation may build. `select` and `combine`
/// can multiply sizes per nesting level, and `|`/`distinct` compare all
/// pairs, so without a cap a short expression could take all memory or
/// hours of CPU; real resources stay far below it.
pub const MAX_ITEMS: usize = 100_000;

/// The largest collection `|`, `distinct()` and `isDistinct()` take:
/// they compare every pair (FHIRPath equality has no hash), so 10,000
/// items already cost 50 million comparisons.
pub const MAX_COMPARED: usize = 10_000;

/// `Err` when a collection is too large to deduplicate.
pub fn check_compared(n: usize) -> Result<(), crate::Error> {
    if n > MAX_COMPARED {
        return Err(crate::Error::Evaluation(format!(
            "cannot remove duplicates from more than {MAX_COMPARED} items"
        )));
    }
    Ok(())
}

/// `Err` when a collection has grown past [`MAX_ITEMS`].
pub fn check_size(n: usize) -> Result<(), crate::Error> {
    if n > MAX_ITEMS {
        return Err(crate::Error::Evaluation(format!(
            "collection of more than {MAX_ITEMS} items"
        )));
    }
    Ok(())
}

/// The result of an evaluation: an ordered collection.
pub type Collection<'a> = Vec<Item<'a>>;

/// FHIR primitive types and the type each specializes.
const PRIMITIVE_BASES: &[(&str, &str)] = &[
    ("base64Binary", ""),
    ("boolean", ""),
    ("canonical", "uri"),
    ("code", "string"),
    ("date", ""),
    ("dateTime", ""),
    ("decimal", ""),
    ("id", "string"),
    ("instant", ""),
    ("integer", ""),
    ("markdown", "string"),
    ("oid", "uri"),
    ("positiveInt", "integer"),
    ("string", ""),
    ("time", ""),
    ("unsignedInt", "integer"),
    ("uri", ""),
    ("url", "uri"),
    ("uuid", "uri"),
    ("xhtml", ""),
];

pub fn is_primitive_type(ty: &str) -> bool {
    PRIMITIVE_BASES.iter().any(|(t, _)| *t == ty)
}

/// The FHIR base of a type, following the generated metadata and the
/// abstract types it does not list.
pub fn fhir_base(ty: &str) -> Option<&'static str> {
    if let Some((_, b)) = PRIMITIVE_BASES.iter().find(|(t, _)| *t == ty) {
        return Some(if b.is_empty() { "Element" } else { b });
    }
    match ty {
        "Element" | "Resource" | "Base" => return None,
        "DomainResource" => return Some("Resource"),
        "BackboneElement" => return Some("Element"),
        _ => {}
    }
    let info = meta::type_info(ty)?;
    match info.kind {
        Kind::Backbone => Some(if info.base.is_empty() {
            "BackboneElement"
        } else {
            info.base
        }),
        _ => Some(info.base),
    }
}

/// Whether FHIR type `ty` is `name` or derives from it.
pub fn fhir_is(ty: &str, name: &str) -> bool {
    let mut cur: &str = ty;
    for _ in 0..16 {
        if cur == name {
            return true;
        }
        match fhir_base(cur) {
            Some(b) if !b.is_empty() => cur = b,
            _ => return false,
        }
    }
    false
}

/// Whether `name` names a type: System, FHIR primitive, FHIR complex
/// type, resource, or one of the abstract bases.
pub fn known_type(namespace: Option<&str>, name: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity",
    ];
    const ABSTRACT: &[&str] = &["Resource", "DomainResource", "Element", "BackboneElement"];
    let system = SYSTEM.contains(&name);
    let fhir =
        is_primitive_type(name) || ABSTRACT.contains(&name) || meta::type_info(name).is_some();
    match namespace {
        Some("System") => system,
        Some("FHIR") => fhir,
        Some(_) => false,
        None => system || fhir,
    }
}

/// The FHIRPath name of a node's type: backbone elements are
/// `BackboneElement` (or `Element`).
pub fn fhirpath_type_name(ty: &str) -> &str {
    match meta::type_info(ty) {
        Some(info) if info.kind == Kind::Backbone => info.base,
        _ => ty,
    }
}

impl<'a> Node<'a> {
    pub fn object(&self) -> Option<&'a [(String, Json)]> {
        match self.value {
            Some(Json::Object(m)) => Some(m),
            _ => None,
        }
    }

    pub fn is_primitive(&self) -> bool {
        is_primitive_type(self.ty)
    }

    /// A resource node: the root or a contained/entry resource.
    pub fn is_resource(&self) -> bool {
        self.object()
            .map(|m| m.iter().any(|(k, _)| k == "resourceType"))
            .unwrap_or(false)
    }

    /// A resource as a node typed by its `resourceType`.
    pub fn resource(json: &'a Json) -> Node<'a> {
        let ty = match json {
            Json::Object(m) => m
                .iter()
                .find(|(k, _)| k == "resourceType")
                .and_then(|(_, v)| match v {
                    Json::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .unwrap_or("Resource"),
            _ => "Resource",
        };
        Node {
            value: Some(json),
            ext: None,
            ty,
        }
    }

    pub fn field(&self, name: &str) -> Option<&'a Json> {
        self.object()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn str_field(&self, name: &str) -> Option<&'a str> {
        match self.field(name) {
            Some(Json::String(s)) => Some(s),
            _ => None,
        }
    }
}

impl<'a> Item<'a> {
    /// The type name as the official tests write it.
    pub fn type_name(&self) -> &str {
        match self {
            Item::Node(n) => fhirpath_type_name(n.ty),
            Item::Boolean(_) => "boolean",
            Item::Integer(_) => "integer",
            Item::Decimal(_) => "decimal",
            Item::String(_) => "string",
            Item::Date(_) => "date",
            Item::DateTime(_) => "dateTime",
            Item::Time(_) => "time",
            Item::Quantity(_) => "Quantity",
            Item::TypeInfo(..) => "TypeInfo",
        }
    }

    /// The System type name (`Boolean`, …) of a System value.
    pub fn system_type(&self) -> Option<&'static str> {
        Some(match self {
            Item::Node(_) => return None,
            Item::Boolean(_) => "Boolean",
            Item::Integer(_) => "Integer",
            Item::Decimal(_) => "Decimal",
            Item::String(_) => "String",
            Item::Date(_) => "Date",
            Item::DateTime(_) => "DateTime",
            Item::Time(_) => "Time",
            Item::Quantity(_) => "Quantity",
            Item::TypeInfo(..) => return None,
        })
    }

    /// The System value of a primitive or Quantity node; System values
    /// are returned as they are. `None` for other nodes and for primitives
    /// without a value.
    pub fn system(&self) -> Option<Item<'static>> {
        let n = match self {
            Item::Node(n) => n,
            Item::Boolean(b) => return Some(Item::Boolean(*b)),
            Item::Integer(i) => return Some(Item::Integer(*i)),
            Item::Decimal(d) => return Some(Item::Decimal(*d)),
            Item::String(s) => return Some(Item::String(s.clone())),
            Item::Date(t) => return Some(Item::Date(*t)),
            Item::DateTime(t) => return Some(Item::DateTime(*t)),
            Item::Time(t) => return Some(Item::Time(*t)),
            Item::Quantity(q) => return Some(Item::Quantity(q.clone())),
            Item::TypeInfo(..) => return None,
        };
        if !n.is_primitive() {
            if fhir_is(n.ty, "Quantity") {
                let value = match n.field("value") {
                    Some(Json::Number(t)) => Decimal::parse(t)?,
                    _ => return None,
                };
                let unit = n
                    .str_field("code")
                    .or_else(|| n.str_field("unit"))
                    .unwrap_or("1");
                return Some(Item::Quantity(Quantity::new(value, unit)));
            }
            return None;
        }
        let v = n.value?;
        Some(match (n.ty, v) {
            (_, Json::Bool(b)) => Item::Boolean(*b),
            ("integer" | "positiveInt" | "unsignedInt", Json::Number(t)) => {
                Item::Integer(t.parse().ok()?)
            }
            (_, Json::Number(t)) => Item::Decimal(Decimal::parse(t)?),
            ("date", Json::String(s)) => Item::Date(Temporal::parse_date(s)?),
            ("dateTime" | "instant", Json::String(s)) => {
                Item::DateTime(Temporal::parse_datetime(s)?)
            }
            ("time", Json::String(s)) => Item::Time(Temporal::parse_time(s)?),
            (_, Json::String(s)) => Item::String(s.clone()),
            _ => return None,
        })
    }

    pub fn as_str(&self) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            Item::String(s) => Some(std::borrow::Cow::Owned(s.clone())),
            Item::Node(n) if n.is_primitive() => match n.value {
                Some(Json::String(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Primitive types whose JSON string is compared as it is.
fn plain_string_type(ty: &str) -> bool {
    is_primitive_type(ty) && !matches!(ty, "date" | "dateTime" | "instant" | "time")
}

/// Equality (`=`): `None` when unknown (different precisions).
pub fn equals(a: &Item, b: &Item) -> Option<bool> {
    if let (Item::Node(x), Item::Node(y)) = (a, b) {
        // Fast paths (union and distinct compare every pair): the same
        // node, or two plain strings, need no conversion.
        if let (Some(vx), Some(vy)) = (x.value, y.value) {
            if std::ptr::eq(vx, vy) && x.ty == y.ty {
                return Some(true);
            }
            if let (Json::String(sx), Json::String(sy)) = (vx, vy) {
                if plain_string_type(x.ty) && plain_string_type(y.ty) {
                    return Some(sx == sy);
                }
            }
        }
        if !(x.is_primitive()
            || y.is_primitive()
            || (fhir_is(x.ty, "Quantity") && fhir_is(y.ty, "Quantity")))
        {
            return Some(json_equal(x.value, y.value));
        }
    }
    let (a, b) = (a.system()?, b.system()?);
    match (&a, &b) {
        (Item::Boolean(x), Item::Boolean(y)) => Some(x == y),
        (Item::String(x), Item::String(y)) => Some(x == y),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            Some(to_dec(&a)?.cmp_to(&to_dec(&b)?) == Ordering::Equal)
        }
        (Item::Date(x) | Item::DateTime(x), Item::Date(y) | Item::DateTime(y)) => {
            x.compare(y, false).map(|o| o == Ordering::Equal)
        }
        (Item::Time(x), Item::Time(y)) => x.compare(y, true).map(|o| o == Ordering::Equal),
        (Item::Quantity(x), Item::Quantity(y)) => x.equals(y),
        _ => Some(false),
    }
}

/// Equivalence (`~`): never unknown.
pub fn equivalent(a: &Item, b: &Item) -> bool {
    if let (Item::Node(x), Item::Node(y)) = (a, b) {
        if !(x.is_primitive()
            || y.is_primitive()
            || (fhir_is(x.ty, "Quantity") && fhir_is(y.ty, "Quantity")))
        {
            return json_equivalent(x.value, y.value);
        }
    }
    let (Some(a), Some(b)) = (a.system(), b.system()) else {
        return false;
    };
    match (&a, &b) {
        (Item::Boolean(x), Item::Boolean(y)) => x == y,
        (Item::String(x), Item::String(y)) => normalize_ws(x) == normalize_ws(y),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            match (to_dec(&a), to_dec(&b)) {
                (Some(x), Some(y)) => {
                    let p = x.normalized().scale.min(y.normalized().scale);
                    x.round(p).cmp_to(&y.round(p)) == Ordering::Equal
                }
                _ => false,
            }
        }
        (Item::Date(x) | Item::DateTime(x), Item::Date(y) | Item::DateTime(y)) => {
            x.compare(y, false) == Some(Ordering::Equal)
        }
        (Item::Time(x), Item::Time(y)) => x.compare(y, true) == Some(Ordering::Equal),
        (Item::Quantity(x), Item::Quantity(y)) => x.equivalent(y),
        _ => false,
    }
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub fn to_dec(i: &Item) -> Option<Decimal> {
    match i {
        Item::Integer(n) => Some(Decimal::from_int(*n)),
        Item::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn json_equal(a: Option<&Json>, b: Option<&Json>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => json_eq(x, y, false),
        (None, None) => true,
        _ => false,
    }
}

fn json_equivalent(a: Option<&Json>, b: Option<&Json>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => json_eq(x, y, true),
        (None, None) => true,
        _ => false,
    }
}

/// Structural equality of two subtrees; equivalence ignores `id` and
/// order of properties and compares strings loosely.
fn json_eq(a: &Json, b: &Json, equiv: bool) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let keep = |k: &String| !(equiv && k == "id");
            let xs: Vec<_> = x.iter().filter(|(k, _)| keep(k)).collect();
            let ys: Vec<_> = y.iter().filter(|(k, _)| keep(k)).collect();
            xs.len() == ys.len()
                && xs.iter().all(|(k, v)| {
                    ys.iter()
                        .find(|(k2, _)| k2 == k)
                        .map(|(_, v2)| json_eq(v, v2, equiv))
                        .unwrap_or(false)
                })
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q, equiv))
        }
        (Json::Number(x), Json::Number(y)) => match (Decimal::parse(x), Decimal::parse(y)) {
            (Some(p), Some(q)) => p.cmp_to(&q) == Ordering::Equal,
            _ => x == y,
        },
        (Json::String(x), Json::String(y)) if equiv => normalize_ws(x) == normalize_ws(y),
        _ => a == b,
    }
}

/// Ordering for `<`, `>`, … : `Ok(None)` when unknown, `Err` when the
/// types cannot be compared.
pub fn compare(a: &Item, b: &Item) -> Result<Option<Ordering>, Error> {
    let (Some(x), Some(y)) = (a.system(), b.system()) else {
        return eval_err(format!(
            "cannot compare {} with {}",
            a.type_name(),
            b.type_name()
        ));
    };
    Ok(match (&x, &y) {
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            match (to_dec(&x), to_dec(&y)) {
                (Some(p), Some(q)) => Some(p.cmp_to(&q)),
                _ => None,
            }
        }
        (Item::String(p), Item::String(q)) => Some(p.cmp(q)),
        (Item::Date(p) | Item::DateTime(p), Item::Date(q) | Item::DateTime(q)) => {
            p.compare(q, false)
        }
        (Item::Time(p), Item::Time(q)) => p.compare(q, true),
        (Item::Quantity(p), Item::Quantity(q)) => match p.compare(q) {
            Some(o) => Some(o),
            None => {
                return eval_err(format!(
                    "cannot compare quantities in '{}' and '{}'",
                    p.unit, q.unit
                ))
            }
        },
        _ => {
            return eval_err(format!(
                "cannot compare {} with {}",
                a.type_name(),
                b.type_name()
            ))
        }
    })
}
