//! Reading FHIR JSON into the generated types.
//!
//! Problems do not abort the read: each is recorded in [`Cx`] with the path
//! where it happened, and reading goes on, so one answer lists every broken
//! element. The path is built only when something is wrong: each object
//! notes how many issues existed before a property ([`Cx::mark`]) and, after
//! it, prefixes the property name to the issues that property added
//! ([`Cx::at_key`]). A valid document never pays for paths.

use crate::json::tree::{take, Map, Value};

use crate::error::{IssueKind, ParseError, ParseIssue};
use crate::generated::Extension;
use crate::json::Primitive;
use crate::primitives::*;
use crate::resource::Resource;

/// More issues than this and the document is garbage; stop collecting.
const MAX_ISSUES: usize = 100;

enum Seg {
    Key(String),
    Index(usize),
}

struct Pending {
    kind: IssueKind,
    message: String,
    /// Innermost segment first.
    path: Vec<Seg>,
}

/// The parse context: the issues found so far.
#[derive(Default)]
pub struct Cx {
    issues: Vec<Pending>,
}

impl Cx {
    pub fn mark(&self) -> usize {
        self.issues.len()
    }

    /// Prefixes `key` to the path of every issue added since `mark`. A
    /// primitive's `_name` is reported as `name`, as FHIRPath names it.
    pub fn at_key(&mut self, mark: usize, key: &str) {
        if self.issues.len() > mark {
            let key = key.strip_prefix('_').unwrap_or(key);
            for p in &mut self.issues[mark..] {
                p.path.push(Seg::Key(key.to_owned()));
            }
        }
    }

    pub fn at_index(&mut self, mark: usize, index: usize) {
        for p in self.issues.iter_mut().skip(mark) {
            p.path.push(Seg::Index(index));
        }
    }

    pub fn issue(&mut self, kind: IssueKind, message: impl Into<String>) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(Pending {
                kind,
                message: message.into(),
                path: Vec::new(),
            });
        }
    }

    pub fn unknown(&mut self, key: &str) {
        self.issue(
            IssueKind::UnknownElement,
            format!("unknown element '{key}'"),
        );
    }

    fn structure(&mut self, message: impl Into<String>) {
        self.issue(IssueKind::Structure, message);
    }

    /// The issues found, with paths rooted at `root` (a resource type name,
    /// or empty for a bare value).
    pub fn finish(self, root: &str) -> Result<(), ParseError> {
        if self.issues.is_empty() {
            return Ok(());
        }
        let issues = self
            .issues
            .into_iter()
            .map(|p| {
                let mut expression = root.to_owned();
                for seg in p.path.iter().rev() {
                    match seg {
                        Seg::Key(k) => {
                            if !expression.is_empty() {
                                expression.push('.');
                            }
                            expression.push_str(k);
                        }
                        Seg::Index(i) => {
                            expression.push('[');
                            expression.push_str(&i.to_string());
                            expression.push(']');
                        }
                    }
                }
                ParseIssue {
                    kind: p.kind,
                    expression,
                    message: p.message,
                }
            })
            .collect();
        Err(ParseError { issues })
    }
}

/// A JSON shape name for messages.
fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A complex type or backbone element read from a JSON object.
pub trait FromJson: Sized {
    fn from_map(map: Map, cx: &mut Cx) -> Self;
}

/// The value of a primitive type, read from its JSON form.
pub trait PrimitiveValue: Sized {
    const FHIR_TYPE: &'static str;
    /// Returns the reason on failure.
    fn from_json(v: Value) -> Result<Self, String>;
}

/// FHIR forbids empty objects: an element is either absent or has content.
pub fn object(v: Value, cx: &mut Cx) -> Option<Map> {
    match v {
        Value::Object(m) if m.is_empty() => {
            cx.structure("an object must not be empty");
            None
        }
        Value::Object(m) => Some(m),
        other => {
            cx.structure(format!("expected an object, found {}", shape(&other)));
            None
        }
    }
}

/// The array behind a repeating element: an array, never empty, never a
/// lone value.
fn array(v: Value, cx: &mut Cx) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) if a.is_empty() => {
            cx.structure("an array must not be empty");
            None
        }
        Value::Array(a) => Some(a),
        other => {
            cx.structure(format!(
                "this element repeats, so it must be an array, found {}",
                shape(&other)
            ));
            None
        }
    }
}

fn not_array(v: Value, cx: &mut Cx) -> Option<Value> {
    if v.is_array() {
        cx.structure("this element does not repeat, so it must not be an array");
        None
    } else {
        Some(v)
    }
}

fn complex<T: FromJson>(v: Value, cx: &mut Cx) -> Option<T> {
    object(v, cx).map(|m| T::from_map(m, cx))
}

/// A complex element with max cardinality 1.
pub fn single<T: FromJson>(slot: &mut Option<Box<T>>, v: Value, cx: &mut Cx) {
    if let Some(v) = not_array(v, cx) {
        *slot = complex(v, cx).map(Box::new);
    }
}

/// A repeating complex element.
pub fn many<T: FromJson>(slot: &mut Vec<T>, v: Value, cx: &mut Cx) {
    let Some(items) = array(v, cx) else { return };
    slot.reserve(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mark = cx.mark();
        if let Some(t) = complex(item, cx) {
            slot.push(t);
        }
        cx.at_index(mark, i);
    }
}

/// An element whose type is `Resource`: any resource, named by its own
/// `resourceType`.
pub fn resource(v: Value, cx: &mut Cx) -> Option<Resource> {
    let mut map = object(v, cx)?;
    let name = match take(&mut map, "resourceType") {
        Some(Value::String(s)) => s,
        Some(other) => {
            cx.issue(
                IssueKind::UnknownResourceType,
                format!("resourceType must be a string, found {}", shape(&other)),
            );
            return None;
        }
        None => {
            cx.issue(IssueKind::UnknownResourceType, "missing resourceType");
            return None;
        }
    };
    match Resource::from_map(&name, map, cx) {
        Some(r) => Some(r),
        None => {
            let mark = cx.mark();
            cx.issue(
                IssueKind::UnknownResourceType,
                format!("unknown resource type '{name}'"),
            );
            cx.at_key(mark, "resourceType");
            None
        }
    }
}

pub fn resource_single(slot: &mut Option<Resource>, v: Value, cx: &mut Cx) {
    if let Some(v) = not_array(v, cx) {
        *slot = resource(v, cx);
    }
}

pub fn resource_many(slot: &mut Vec<Resource>, v: Value, cx: &mut Cx) {
    let Some(items) = array(v, cx) else { return };
    for (i, item) in items.into_iter().enumerate() {
        let mark = cx.mark();
        if let Some(r) = resource(item, cx) {
            slot.push(r);
        }
        cx.at_index(mark, i);
    }
}

/// `Element.id` and `Extension.url`: plain strings with no extensions.
pub fn plain_string(slot: &mut Option<String>, v: Value, cx: &mut Cx) {
    match v {
        Value::String(s) if control_char(&s).is_some() => {
            if let Some(c) = control_char(&s) {
                cx.issue(IssueKind::Value, control_char_message(c))
            }
        }
        Value::String(s) if !s.is_empty() => *slot = Some(s),
        Value::String(_) => cx.issue(IssueKind::Value, "a string must not be empty"),
        other => cx.structure(format!("expected a string, found {}", shape(&other))),
    }
}

/// `Resource.id`: an `id`, with no extensions.
pub fn resource_id(slot: &mut Option<Id>, v: Value, cx: &mut Cx) {
    match Id::from_json(v) {
        Ok(id) => *slot = Some(id),
        Err(e) => cx.issue(IssueKind::Value, e),
    }
}

fn read_prim<T: PrimitiveValue>(v: Value, cx: &mut Cx) -> Option<T> {
    match v {
        Value::Array(_) => {
            cx.structure("this element does not repeat, so it must not be an array");
            None
        }
        Value::Object(_) => {
            cx.structure(format!(
                "expected a {} value, found an object",
                T::FHIR_TYPE
            ));
            None
        }
        Value::Null => {
            cx.structure("null is only allowed as a placeholder in an array of primitives");
            None
        }
        Value::String(s) if control_char(&s).is_some() => {
            if let Some(c) = control_char(&s) {
                cx.issue(IssueKind::Value, control_char_message(c));
            }
            None
        }
        v => match T::from_json(v) {
            Ok(t) => Some(t),
            Err(e) => {
                cx.issue(IssueKind::Value, e);
                None
            }
        },
    }
}

/// The `_name` object of a primitive: only `id` and `extension`.
fn read_prim_ext<T>(p: &mut Primitive<T>, v: Value, cx: &mut Cx) {
    let Some(map) = object(v, cx) else { return };
    for (k, v) in map {
        let mark = cx.mark();
        match k.as_str() {
            "id" => plain_string(&mut p.id, v, cx),
            "extension" => many::<Extension>(&mut p.extension, v, cx),
            _ => cx.unknown(&k),
        }
        cx.at_key(mark, &k);
    }
}

/// The value part (`name`) of a single primitive.
pub fn prim<T: PrimitiveValue>(slot: &mut Option<Primitive<T>>, v: Value, cx: &mut Cx) {
    if let Some(t) = read_prim::<T>(v, cx) {
        slot.get_or_insert_with(Primitive::default).value = Some(t);
    }
}

/// The extension part (`_name`) of a single primitive.
pub fn prim_ext<T>(slot: &mut Option<Primitive<T>>, v: Value, cx: &mut Cx) {
    if let Some(v) = not_array(v, cx) {
        read_prim_ext(slot.get_or_insert_with(Primitive::default), v, cx);
    }
}

/// Lines up the two arrays of a repeating primitive: `name` and `_name`
/// must have the same length when both are present.
fn align<T>(slot: &mut Vec<Primitive<T>>, len: usize, cx: &mut Cx) -> bool {
    if slot.is_empty() {
        slot.resize_with(len, Primitive::default);
        true
    } else if slot.len() == len {
        true
    } else {
        cx.structure(format!(
            "the value array has {} items and the extension array {len}; they must match",
            slot.len()
        ));
        false
    }
}

/// The value array (`name`) of a repeating primitive; `null` marks an item
/// that has only extensions.
pub fn prim_many<T: PrimitiveValue>(slot: &mut Vec<Primitive<T>>, v: Value, cx: &mut Cx) {
    let Some(items) = array(v, cx) else { return };
    if !align(slot, items.len(), cx) {
        return;
    }
    for (i, (item, p)) in items.into_iter().zip(slot.iter_mut()).enumerate() {
        if item.is_null() {
            continue;
        }
        let mark = cx.mark();
        p.value = read_prim::<T>(item, cx);
        cx.at_index(mark, i);
    }
}

/// The extension array (`_name`) of a repeating primitive.
pub fn prim_many_ext<T>(slot: &mut Vec<Primitive<T>>, v: Value, cx: &mut Cx) {
    let Some(items) = array(v, cx) else { return };
    if !align(slot, items.len(), cx) {
        return;
    }
    for (i, (item, p)) in items.into_iter().zip(slot.iter_mut()).enumerate() {
        if item.is_null() {
            continue;
        }
        let mark = cx.mark();
        read_prim_ext(p, item, cx);
        cx.at_index(mark, i);
    }
}

/// After an object is read: every item of a repeating primitive must have
/// a value or extensions (a `null` in both arrays says nothing). Skipped
/// when the object already has issues (`start` is the mark taken before
/// it), since an item whose value was rejected is empty for that reason.
pub fn check_prim_many<T>(slot: &[Primitive<T>], key: &str, start: usize, cx: &mut Cx) {
    if cx.mark() != start {
        return;
    }
    for (i, p) in slot.iter().enumerate() {
        if p.value.is_none() && !p.has_extension_part() {
            let mark = cx.mark();
            cx.structure("null with no value and no extension");
            cx.at_index(mark, i);
            cx.at_key(mark, key);
        }
    }
}

/// A choice element (`value[x]`) given under two types at once.
pub fn duplicate_choice(cx: &mut Cx) {
    cx.structure("a choice element must be given under one type only");
}

/// One part of a primitive choice: its value (`valueString`) or its
/// extensions (`_valueString`).
pub fn choice_prim<T: PrimitiveValue>(p: &mut Primitive<T>, ext: bool, v: Value, cx: &mut Cx) {
    if ext {
        if let Some(v) = not_array(v, cx) {
            read_prim_ext(p, v, cx);
        }
    } else if let Some(t) = read_prim::<T>(v, cx) {
        p.value = Some(t);
    }
}

/// A complex choice (`valueQuantity`).
pub fn choice_complex<E, T: FromJson>(
    slot: &mut Option<E>,
    v: Value,
    cx: &mut Cx,
    variant: fn(Box<T>) -> E,
) {
    if slot.is_some() {
        return duplicate_choice(cx);
    }
    if let Some(t) = not_array(v, cx).and_then(|v| complex::<T>(v, cx)) {
        *slot = Some(variant(Box::new(t)));
    }
}

/// A resource as a choice (`Parameters.parameter` has none in R4, but the
/// shape is allowed by the definitions).
pub fn choice_resource<E>(slot: &mut Option<E>, v: Value, cx: &mut Cx, variant: fn(Resource) -> E) {
    if slot.is_some() {
        return duplicate_choice(cx);
    }
    if let Some(r) = not_array(v, cx).and_then(|v| resource(v, cx)) {
        *slot = Some(variant(r));
    }
}

fn wrong(type_name: &str, v: &Value) -> String {
    format!("expected a {type_name} value, found {}", shape(v))
}

fn number_text(v: Value, type_name: &str) -> Result<String, String> {
    match v {
        Value::Number(n) => Ok(n),
        other => Err(wrong(type_name, &other)),
    }
}

fn integer_of(v: Value, type_name: &str) -> Result<i64, String> {
    let text = number_text(v, type_name)?;
    text.parse::<i64>()
        .map_err(|_| format!("{text} is not a valid {type_name}"))
}

impl PrimitiveValue for bool {
    const FHIR_TYPE: &'static str = "boolean";
    fn from_json(v: Value) -> Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(wrong("boolean", &other)),
        }
    }
}

impl PrimitiveValue for i32 {
    const FHIR_TYPE: &'static str = "integer";
    fn from_json(v: Value) -> Result<Self, String> {
        let n = integer_of(v, "integer")?;
        i32::try_from(n).map_err(|_| format!("{n} is out of range for integer"))
    }
}

impl PrimitiveValue for String {
    const FHIR_TYPE: &'static str = "string";
    fn from_json(v: Value) -> Result<Self, String> {
        match v {
            Value::String(s) if s.is_empty() => Err("a string must not be empty".into()),
            Value::String(s) => Ok(s),
            other => Err(wrong("string", &other)),
        }
    }
}

impl PrimitiveValue for Decimal {
    const FHIR_TYPE: &'static str = "decimal";
    fn from_json(v: Value) -> Result<Self, String> {
        Decimal::new(number_text(v, "decimal")?).map_err(|e| e.to_string())
    }
}

impl PrimitiveValue for PositiveInt {
    const FHIR_TYPE: &'static str = "positiveInt";
    fn from_json(v: Value) -> Result<Self, String> {
        PositiveInt::new(integer_of(v, "positiveInt")?).map_err(|e| e.to_string())
    }
}

impl PrimitiveValue for UnsignedInt {
    const FHIR_TYPE: &'static str = "unsignedInt";
    fn from_json(v: Value) -> Result<Self, String> {
        UnsignedInt::new(integer_of(v, "unsignedInt")?).map_err(|e| e.to_string())
    }
}

macro_rules! string_primitive {
    ($($t:ident),*) => {$(
        impl PrimitiveValue for $t {
            const FHIR_TYPE: &'static str = $t::FHIR_TYPE;
            fn from_json(v: Value) -> Result<Self, String> {
                match v {
                    Value::String(s) => $t::new(s).map_err(|e| e.to_string()),
                    other => Err(wrong($t::FHIR_TYPE, &other)),
                }
            }
        }
    )*};
}
string_primitive!(
    Id,
    Code,
    Date,
    DateTime,
    Instant,
    Time,
    Oid,
    Uuid,
    Base64Binary,
    Uri,
    Url,
    Canonical,
    Markdown
);

impl PrimitiveValue for Xhtml {
    const FHIR_TYPE: &'static str = Xhtml::FHIR_TYPE;
    fn from_json(v: Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Xhtml::checked(s),
            other => Err(wrong(Xhtml::FHIR_TYPE, &other)),
        }
    }
}
