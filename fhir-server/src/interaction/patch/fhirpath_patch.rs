//! FHIRPath Patch (<https://hl7.org/fhir/R4/fhirpatch.html>) over the JSON
//! tree of the resource.
//!
//! Each operation's `path` is evaluated with the `fhirpath` engine, whose
//! results are nodes that point into the tree. The tree is indexed by
//! address first, so every node found maps back to a location (the object
//! that holds it, its JSON key, its index in a list); the tree is then
//! changed through that location. Primitive extensions (`_birthDate`) move
//! with their values, and choice elements get their type suffix
//! (`deceased` + `valueBoolean` → `deceasedBoolean`) from the type tables
//! in `fhir_model::meta`.
//!
//! The spec's rules on how many elements a path may match: `delete` of a
//! path that matches nothing does nothing; every other operation needs
//! its path to match exactly one element (`insert` and `move` one list),
//! otherwise the patch fails. A patch document that cannot be read
//! (missing parts, unknown operation, FHIRPath that does not compile) is a
//! 400; one that does not fit the resource is a 422.

use std::collections::HashMap;

use fhir_model::json::tree::{self, Map, Value};
use fhir_model::meta::{self, ElementInfo};
use fhirpath::{Context, Expression, Item};

use crate::error::{Error, Issue, IssueCode};

/// A parsed FHIRPath Patch: the operations of a `Parameters` resource.
#[derive(Debug, Clone)]
pub struct FhirPathPatch {
    ops: Vec<Operation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

#[derive(Debug, Clone)]
struct Operation {
    kind: Kind,
    path: Expression,
    name: Option<String>,
    value: Option<NewValue>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

/// The `value` of an operation, as sent.
#[derive(Debug, Clone)]
enum NewValue {
    /// `value[x]` (with its `_value[x]` extensions) or `resource`.
    Typed {
        suffix: String,
        value: Option<Value>,
        ext: Option<Value>,
    },
    /// A complex value spelled out as `part`s (fhirpatch.html: "anonymous
    /// types", such as a backbone element).
    Parts(Vec<Value>),
}

/// A JSON value built from a [`NewValue`], ready to put into the tree.
struct Built {
    value: Option<Value>,
    ext: Option<Value>,
    suffix: String,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::invalid(IssueCode::Invalid, msg)
}

fn failed(op: usize, path: &Expression, msg: impl Into<String>) -> Error {
    Error::Unprocessable(vec![Issue::new(
        IssueCode::Processing,
        format!(
            "FHIRPath Patch operation {op} ({}): {}",
            path.text(),
            msg.into()
        ),
    )])
}

fn field<'v>(m: &'v Map, key: &str) -> Option<&'v Value> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn field_mut<'v>(m: &'v mut Map, key: &str) -> Option<&'v mut Value> {
    m.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A `part`'s name.
fn part_name(part: &Map) -> Option<&str> {
    match field(part, "name") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The `value[x]` of a parameter or part: its type suffix, value and
/// extension object.
fn typed_value(part: &Map) -> Option<NewValue> {
    for (k, v) in part {
        if let Some(suffix) = k.strip_prefix("value").filter(|s| !s.is_empty()) {
            let ext = field(part, &format!("_{k}")).cloned();
            return Some(NewValue::Typed {
                suffix: suffix.to_owned(),
                value: Some(v.clone()),
                ext,
            });
        }
    }
    for (k, v) in part {
        if let Some(suffix) = k.strip_prefix("_value").filter(|s| !s.is_empty()) {
            return Some(NewValue::Typed {
                suffix: suffix.to_owned(),
                value: None,
                ext: Some(v.clone()),
            });
        }
    }
    if let Some(r) = field(part, "resource") {
        return Some(NewValue::Typed {
            suffix: String::new(),
            value: Some(r.clone()),
            ext: None,
        });
    }
    match field(part, "part") {
        Some(Value::Array(parts)) => Some(NewValue::Parts(parts.clone())),
        _ => None,
    }
}

fn index_part(part: &Map, what: &str) -> Result<usize, Error> {
    match field(part, "valueInteger") {
        Some(Value::Number(n)) => n
            .parse::<usize>()
            .map_err(|_| malformed(format!("FHIRPath Patch: {what} {n} is not an index"))),
        _ => Err(malformed(format!(
            "FHIRPath Patch: {what} must be a valueInteger"
        ))),
    }
}

fn string_part(part: &Map, what: &str) -> Result<String, Error> {
    part.iter()
        .find_map(|(k, v)| match v {
            Value::String(s) if k.starts_with("value") => Some(s.clone()),
            _ => None,
        })
        .ok_or_else(|| malformed(format!("FHIRPath Patch: {what} must be a string")))
}

impl FhirPathPatch {
    /// Reads the operations from a `Parameters` resource's JSON tree
    /// (already checked as a valid `Parameters` by the caller).
    pub fn from_parameters(params: &Value) -> Result<FhirPathPatch, Error> {
        let Value::Object(m) = params else {
            return Err(malformed("a FHIRPath Patch must be a Parameters resource"));
        };
        if !matches!(field(m, "resourceType"), Some(Value::String(s)) if s == "Parameters") {
            return Err(malformed(
                "a FHIRPath Patch must be a Parameters resource (or send application/json-patch+json)",
            ));
        }
        let params: &[Value] = match field(m, "parameter") {
            Some(Value::Array(a)) => a,
            _ => &[],
        };
        let mut ops = Vec::with_capacity(params.len());
        for (n, p) in params.iter().enumerate() {
            let Value::Object(p) = p else {
                return Err(malformed("FHIRPath Patch: a parameter is not an object"));
            };
            if part_name(p) != Some("operation") {
                return Err(malformed(format!(
                    "FHIRPath Patch: parameter {n} is named {:?}; only \"operation\" is allowed",
                    part_name(p).unwrap_or("")
                )));
            }
            ops.push(Operation::parse(n, p)?);
        }
        Ok(FhirPathPatch { ops })
    }

    /// Applies every operation in order. On error `doc` may be half
    /// patched; callers patch a copy and drop it.
    pub fn apply(&self, doc: &mut Value) -> Result<(), Error> {
        for (n, op) in self.ops.iter().enumerate() {
            op.apply(doc).map_err(|e| failed(n, &op.path, e))?;
            if op.kind == Kind::Delete {
                prune(doc);
            }
        }
        Ok(())
    }
}

/// Removes objects and lists that a delete left empty (deleting
/// `Patient.contact[0].name.text` must not leave `"name": {}`, which FHIR
/// JSON forbids); the resource itself stays.
fn prune(doc: &mut Value) {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty() || a.iter().all(Value::is_null),
            _ => false,
        }
    }
    match doc {
        Value::Object(m) => {
            for (k, c) in m.iter_mut() {
                prune(c);
                if let Value::Array(items) = c {
                    if k.starts_with('_') {
                        // `_given` lines up with `given`: an item left
                        // empty keeps its place as null.
                        for item in items.iter_mut() {
                            if empty(item) {
                                *item = Value::Null;
                            }
                        }
                    } else if items.iter().all(|i| !i.is_null()) {
                        items.retain(|item| !empty(item));
                    }
                }
            }
            m.retain(|(_, c)| !empty(c));
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

impl Operation {
    fn parse(n: usize, p: &Map) -> Result<Operation, Error> {
        let parts: &[Value] = match field(p, "part") {
            Some(Value::Array(a)) => a,
            _ => &[],
        };
        let mut kind = None;
        let mut path = None;
        let mut op = Operation {
            kind: Kind::Add,
            path: Expression::compile("%resource").map_err(|e| malformed(e.to_string()))?,
            name: None,
            value: None,
            index: None,
            source: None,
            destination: None,
        };
        for part in parts {
            let Value::Object(part) = part else {
                return Err(malformed("FHIRPath Patch: a part is not an object"));
            };
            match part_name(part).unwrap_or("") {
                "type" => {
                    kind = Some(match string_part(part, "type")?.as_str() {
                        "add" => Kind::Add,
                        "insert" => Kind::Insert,
                        "delete" => Kind::Delete,
                        "replace" => Kind::Replace,
                        "move" => Kind::Move,
                        other => {
                            return Err(malformed(format!(
                                "FHIRPath Patch operation {n}: unknown type {other:?} (expected add, insert, delete, replace or move)"
                            )))
                        }
                    })
                }
                "path" => {
                    let text = string_part(part, "path")?;
                    path = Some(Expression::compile(&text).map_err(|e| {
                        malformed(format!(
                            "FHIRPath Patch operation {n}: path {text:?} is not valid FHIRPath: {e}"
                        ))
                    })?);
                }
                "name" => op.name = Some(string_part(part, "name")?),
                "value" => {
                    op.value = Some(typed_value(part).ok_or_else(|| {
                        malformed(format!("FHIRPath Patch operation {n}: value has no value[x] or parts"))
                    })?)
                }
                "index" => op.index = Some(index_part(part, "index")?),
                "source" => op.source = Some(index_part(part, "source")?),
                "destination" => op.destination = Some(index_part(part, "destination")?),
                other => {
                    return Err(malformed(format!(
                        "FHIRPath Patch operation {n}: unknown part {other:?}"
                    )))
                }
            }
        }
        op.kind =
            kind.ok_or_else(|| malformed(format!("FHIRPath Patch operation {n}: no type")))?;
        op.path =
            path.ok_or_else(|| malformed(format!("FHIRPath Patch operation {n}: no path")))?;
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(malformed(format!(
                    "FHIRPath Patch operation {n}: {what} is required for this type"
                )))
            }
        };
        match op.kind {
            Kind::Add => {
                need(op.name.is_some(), "name")?;
                need(op.value.is_some(), "value")?;
            }
            Kind::Insert => {
                need(op.index.is_some(), "index")?;
                need(op.value.is_some(), "value")?;
            }
            Kind::Replace => need(op.value.is_some(), "value")?,
            Kind::Move => {
                need(op.source.is_some(), "source")?;
                need(op.destination.is_some(), "destination")?;
            }
            Kind::Delete => {}
        }
        Ok(op)
    }

    fn apply(&self, doc: &mut Value) -> Result<(), String> {
        let found = locate(doc, &self.path)?;
        match self.kind {
            Kind::Add => {
                let target = one(found, "adding")?;
                let name = self.name.as_deref().unwrap_or_default();
                if fhirpath::value::is_primitive_type(&target.ty) {
                    return add_to_primitive(doc, &target.loc, name, self.value.as_ref());
                }
                let elem = meta::type_info(&target.ty).and_then(|t| t.element(name));
                let built = build(self.value.as_ref(), elem.and_then(element_type))?;
                let key = json_key(name, elem, &built.suffix);
                let obj = match target.loc.get_mut(doc) {
                    Some(Value::Object(m)) => m,
                    _ => {
                        return Err(format!(
                            "cannot add {name:?}: the target is not an element with children"
                        ))
                    }
                };
                let many = elem.is_some_and(|e| e.many);
                if !many && element_present(obj, name, elem) {
                    return Err(format!(
                        "{name:?} already has a value and does not repeat; use replace"
                    ));
                }
                put(obj, &key, built, many);
                Ok(())
            }
            Kind::Insert => {
                let (list, ty) = self.list(doc, found)?;
                let index = self.index.unwrap_or_default();
                let built = build(self.value.as_ref(), ty)?;
                let Some(Value::Object(obj)) = list.parent_mut(doc) else {
                    return Err("the list's parent is not an object".into());
                };
                let len = list_len(obj, &list.key);
                if index > len {
                    return Err(format!(
                        "index {index} is past the end of the list ({len} items)"
                    ));
                }
                insert_at(obj, &list.key, index, built);
                Ok(())
            }
            Kind::Delete => {
                if found.is_empty() {
                    return Ok(());
                }
                let target = one(found, "deleting")?;
                let Some(key) = target.loc.key.clone() else {
                    return Err("cannot delete the resource itself".into());
                };
                let Some(Value::Object(obj)) = target.loc.parent_mut(doc) else {
                    return Err("the element's parent is not an object".into());
                };
                match target.loc.index {
                    Some(i) => {
                        remove_at(obj, &key, i);
                    }
                    None => {
                        tree::take(obj, &key);
                        tree::take(obj, &format!("_{key}"));
                    }
                }
                Ok(())
            }
            Kind::Replace => {
                let target = one(found, "replacing")?;
                let Some(key) = target.loc.key.clone() else {
                    return Err("cannot replace the resource itself".into());
                };
                let built = build(self.value.as_ref(), Some(target.ty.clone()))?;
                let Some(Value::Object(obj)) = target.loc.parent_mut(doc) else {
                    return Err("the element's parent is not an object".into());
                };
                match target.loc.index {
                    Some(i) => {
                        remove_at(obj, &key, i);
                        insert_at(obj, &key, i, built);
                    }
                    None => {
                        let new_key = rename_choice(&key, &target.ty, &built.suffix);
                        tree::take(obj, &key);
                        tree::take(obj, &format!("_{key}"));
                        put(obj, &new_key, built, false);
                    }
                }
                Ok(())
            }
            Kind::Move => {
                let (list, _) = self.list(doc, found)?;
                let (from, to) = (
                    self.source.unwrap_or_default(),
                    self.destination.unwrap_or_default(),
                );
                let Some(Value::Object(obj)) = list.parent_mut(doc) else {
                    return Err("the list's parent is not an object".into());
                };
                let len = list_len(obj, &list.key);
                if from >= len || to >= len {
                    return Err(format!(
                        "source {from} or destination {to} is outside the list ({len} items)"
                    ));
                }
                let item = remove_at(obj, &list.key, from);
                insert_at(obj, &list.key, to, item);
                Ok(())
            }
        }
    }

    /// The list `path` names for insert and move: the items it matched must
    /// all sit in one list. An insert into a list that is still empty
    /// matches nothing; then the path must end in `.name`, and the element
    /// before it must match one element that can hold that list.
    fn list(&self, doc: &Value, found: Vec<Target>) -> Result<(ListLoc, Option<String>), String> {
        if let Some(first) = found.first() {
            let (Some(key), Some(_)) = (&first.loc.key, first.loc.index) else {
                return Err("the path does not name a list".into());
            };
            let same = found.iter().all(|t| {
                t.loc.parent == first.loc.parent
                    && t.loc.key.as_ref() == Some(key)
                    && t.loc.index.is_some()
            });
            if !same {
                return Err("the path matches items of more than one list".into());
            }
            return Ok((
                ListLoc {
                    parent: first.loc.parent.clone(),
                    key: key.clone(),
                },
                Some(first.ty.clone()),
            ));
        }
        if self.kind != Kind::Insert {
            return Err("the path matches no list".into());
        }
        let text = self.path.text().trim();
        let split = text.rfind('.').filter(|at| {
            let tail = &text[at + 1..];
            !tail.is_empty() && tail.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let Some(at) = split else {
            return Err("the path matches no list".into());
        };
        let (head, name) = (&text[..at], &text[at + 1..]);
        let head = Expression::compile(head).map_err(|e| e.to_string())?;
        let owner = one(locate(doc, &head)?, "inserting")?;
        let elem = meta::type_info(&owner.ty).and_then(|t| t.element(name));
        let mut parent = owner.loc.parent.clone();
        if let Some(k) = &owner.loc.key {
            parent.push(Step::Key(k.clone()));
        }
        if let Some(i) = owner.loc.index {
            parent.push(Step::Index(i));
        }
        Ok((
            ListLoc {
                parent,
                key: name.to_owned(),
            },
            elem.and_then(|e| e.types.first()).map(|t| (*t).to_owned()),
        ))
    }
}

/// One step from a JSON value to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where an element sits: the path to the object holding it, its key
/// (without `_`), and its index when it is an item of a list. The
/// resource itself has no key.
#[derive(Debug, Clone)]
struct Loc {
    parent: Vec<Step>,
    key: Option<String>,
    index: Option<usize>,
}

struct ListLoc {
    parent: Vec<Step>,
    key: String,
}

struct Target {
    loc: Loc,
    /// The FHIR type of the element (`Patient`, `HumanName`, `date`).
    ty: String,
}

fn walk_mut<'v>(doc: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    let mut cur = doc;
    for s in steps {
        cur = match (s, cur) {
            (Step::Key(k), Value::Object(m)) => field_mut(m, k)?,
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

impl Loc {
    fn parent_mut<'v>(&self, doc: &'v mut Value) -> Option<&'v mut Value> {
        walk_mut(doc, &self.parent)
    }

    fn get_mut<'v>(&self, doc: &'v mut Value) -> Option<&'v mut Value> {
        let mut steps = self.parent.clone();
        if let Some(k) = &self.key {
            steps.push(Step::Key(k.clone()));
        }
        if let Some(i) = self.index {
            steps.push(Step::Index(i));
        }
        walk_mut(doc, &steps)
    }
}

impl ListLoc {
    fn parent_mut<'v>(&self, doc: &'v mut Value) -> Option<&'v mut Value> {
        walk_mut(doc, &self.parent)
    }
}

/// Every value of the tree by address, with the steps that reach it.
fn index_tree(v: &Value, path: &mut Vec<Step>, out: &mut HashMap<usize, Vec<Step>>) {
    out.insert(v as *const Value as usize, path.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                path.push(Step::Key(k.clone()));
                index_tree(c, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(Step::Index(i));
                index_tree(c, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Turns the steps to a value (or to its `_name` extension object) into
/// a [`Loc`].
fn loc_of(mut steps: Vec<Step>) -> Option<Loc> {
    let index = match steps.last() {
        Some(Step::Index(i)) => {
            let i = *i;
            steps.pop();
            Some(i)
        }
        _ => None,
    };
    let key = match steps.pop() {
        Some(Step::Key(k)) => Some(k.strip_prefix('_').map(str::to_owned).unwrap_or(k)),
        Some(Step::Index(_)) => return None,
        None if index.is_none() => None,
        None => return None,
    };
    Some(Loc {
        parent: steps,
        key,
        index,
    })
}

/// Evaluates `path` on `doc` and finds each resulting element in the tree.
fn locate(doc: &Value, path: &Expression) -> Result<Vec<Target>, String> {
    let mut by_address = HashMap::new();
    index_tree(doc, &mut Vec::new(), &mut by_address);
    let items = path
        .evaluate(&Context::new(doc))
        .map_err(|e| format!("the path cannot be evaluated: {e}"))?;
    items
        .iter()
        .map(|item| {
            let Item::Node(n) = item else {
                return Err("the path yields a value, not an element of the resource".to_owned());
            };
            let address = n
                .value
                .or(n.ext)
                .map(|v| v as *const Value as usize)
                .ok_or("the path yields an empty element")?;
            let loc = by_address
                .get(&address)
                .cloned()
                .and_then(loc_of)
                .ok_or("the path yields an element outside the resource")?;
            Ok(Target {
                loc,
                ty: n.ty.to_owned(),
            })
        })
        .collect()
}

fn one(found: Vec<Target>, doing: &str) -> Result<Target, String> {
    let n = found.len();
    let mut it = found.into_iter();
    match (it.next(), n) {
        (Some(t), 1) => Ok(t),
        (None, _) => Err(format!("no content found at the path when {doing}")),
        _ => Err(format!(
            "the path matches {n} elements when {doing}; it must match exactly one"
        )),
    }
}

/// Adds `id` or an `extension` to a primitive: in FHIR JSON they live in
/// the `_name` object beside the value (`_birthDate`, or an item of
/// `_given`), which is created when missing.
fn add_to_primitive(
    doc: &mut Value,
    loc: &Loc,
    name: &str,
    value: Option<&NewValue>,
) -> Result<(), String> {
    let many = match name {
        "extension" => true,
        "id" => false,
        other => {
            return Err(format!(
                "a primitive has no element {other:?} (only id and extension)"
            ))
        }
    };
    let built = build(
        value,
        Some(if many { "Extension" } else { "string" }.to_owned()),
    )?;
    let Some(key) = &loc.key else {
        return Err("the resource is not a primitive".into());
    };
    let Some(Value::Object(parent)) = loc.parent_mut(doc) else {
        return Err("the element's parent is not an object".into());
    };
    let ext_key = format!("_{key}");
    let slot: &mut Value = match loc.index {
        Some(i) => {
            as_list(parent, key);
            if field(parent, &ext_key).is_none() {
                let len = list_len(parent, key);
                parent.push((ext_key.clone(), Value::Array(vec![Value::Null; len])));
            }
            match field_mut(parent, &ext_key) {
                Some(Value::Array(a)) if i < a.len() => &mut a[i],
                _ => return Err("the primitive is not in its list".into()),
            }
        }
        None => {
            if field(parent, &ext_key).is_none() {
                parent.push((ext_key.clone(), Value::Null));
            }
            field_mut(parent, &ext_key).ok_or("cannot reach the primitive's extensions")?
        }
    };
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    let Value::Object(obj) = slot else {
        return Err(format!("{ext_key} is not an object"));
    };
    if !many && field(obj, name).is_some() {
        return Err(format!("{name:?} already has a value; use replace"));
    }
    put(obj, name, built, many);
    Ok(())
}

/// The type a value for an element has, for building it from parts (a
/// choice's value names its own type with its suffix).
fn element_type(e: &ElementInfo) -> Option<String> {
    e.types.first().map(|t| (*t).to_owned())
}

/// The JSON key for element `name`: choice elements carry their type.
fn json_key(name: &str, elem: Option<&ElementInfo>, suffix: &str) -> String {
    match elem {
        Some(e) if e.choice && !suffix.is_empty() => format!("{name}{suffix}"),
        _ => name.to_owned(),
    }
}

/// Whether the object already has element `name` (any type of a choice).
fn element_present(obj: &Map, name: &str, elem: Option<&ElementInfo>) -> bool {
    let choice = elem.is_some_and(|e| e.choice);
    obj.iter().any(|(k, _)| {
        let k = k.strip_prefix('_').unwrap_or(k);
        k == name
            || (choice
                && k.strip_prefix(name)
                    .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase())))
    })
}

/// `valueQuantity` replaced by a `valueString`: the key follows the new type.
fn rename_choice(key: &str, old_ty: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        return key.to_owned();
    }
    let mut old = old_ty.to_owned();
    if let Some(f) = old.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    match key.strip_suffix(old.as_str()) {
        Some(base) if !base.is_empty() => format!("{base}{suffix}"),
        _ => key.to_owned(),
    }
}

/// Builds the JSON for a value; parts become an object of the element's
/// type, so nested choices and lists come out as FHIR JSON has them.
fn build(value: Option<&NewValue>, ty: Option<String>) -> Result<Built, String> {
    match value {
        None => Err("no value".into()),
        Some(NewValue::Typed { suffix, value, ext }) => Ok(Built {
            value: value.clone(),
            ext: ext.clone(),
            suffix: suffix.clone(),
        }),
        Some(NewValue::Parts(parts)) => {
            let info = ty.as_deref().and_then(meta::type_info);
            let mut obj = Map::new();
            for part in parts {
                let Value::Object(part) = part else {
                    return Err("a part is not an object".into());
                };
                let name = part_name(part).ok_or("a part has no name")?;
                let elem = info.and_then(|i| i.element(name));
                let v = typed_value(part).ok_or_else(|| format!("part {name:?} has no value"))?;
                let built = build(Some(&v), elem.and_then(element_type))?;
                let key = json_key(name, elem, &built.suffix);
                let many = elem.is_some_and(|e| e.many);
                if !many && element_present(&obj, name, elem) {
                    return Err(format!("part {name:?} is given twice but does not repeat"));
                }
                put(&mut obj, &key, built, many);
            }
            Ok(Built {
                value: Some(Value::Object(obj)),
                ext: None,
                suffix: String::new(),
            })
        }
    }
}

fn list_len(obj: &Map, key: &str) -> usize {
    let len = |k: &str| match field(obj, k) {
        Some(Value::Array(a)) => a.len(),
        Some(_) => 1,
        None => 0,
    };
    len(key).max(len(&format!("_{key}")))
}

/// Makes `obj[key]` (and `obj[_key]`) arrays of the list's length.
fn as_list(obj: &mut Map, key: &str) -> usize {
    let len = list_len(obj, key);
    for k in [key.to_owned(), format!("_{key}")] {
        if let Some(v) = field_mut(obj, &k) {
            if !v.is_array() {
                *v = Value::Array(vec![std::mem::replace(v, Value::Null)]);
            }
            if let Value::Array(a) = v {
                a.resize(len, Value::Null);
            }
        } else if k == key && len > 0 {
            // `_given` without `given`: values are all null.
            obj.push((k, Value::Array(vec![Value::Null; len])));
        }
    }
    len
}

fn insert_at(obj: &mut Map, key: &str, index: usize, built: Built) {
    as_list(obj, key);
    let ext_key = format!("_{key}");
    if built.ext.is_some() && field(obj, &ext_key).is_none() {
        let len = list_len(obj, key);
        obj.push((ext_key.clone(), Value::Array(vec![Value::Null; len])));
    }
    if field(obj, key).is_none() {
        obj.push((key.to_owned(), Value::Array(Vec::new())));
    }
    if let Some(Value::Array(a)) = field_mut(obj, key) {
        a.insert(index.min(a.len()), built.value.unwrap_or(Value::Null));
    }
    if let Some(Value::Array(a)) = field_mut(obj, &ext_key) {
        a.insert(index.min(a.len()), built.ext.unwrap_or(Value::Null));
    }
    tidy(obj, key);
}

fn remove_at(obj: &mut Map, key: &str, index: usize) -> Built {
    as_list(obj, key);
    let mut take = |k: &str| match field_mut(obj, k) {
        Some(Value::Array(a)) if index < a.len() => Some(a.remove(index)),
        _ => None,
    };
    let value = take(key).filter(|v| !v.is_null());
    let ext = take(&format!("_{key}")).filter(|v| !v.is_null());
    tidy(obj, key);
    Built {
        value,
        ext,
        suffix: String::new(),
    }
}

/// Drops lists left empty, and `_key` lists (or `key` lists) of nulls only.
fn tidy(obj: &mut Map, key: &str) {
    for k in [key.to_owned(), format!("_{key}")] {
        if matches!(field(obj, &k), Some(Value::Array(a)) if a.iter().all(Value::is_null)) {
            tree::take(obj, &k);
        }
    }
}

/// Adds a value under `key`: appended when the element repeats, set
/// otherwise.
fn put(obj: &mut Map, key: &str, built: Built, many: bool) {
    if many {
        let at = list_len(obj, key);
        insert_at(obj, key, at, built);
        return;
    }
    if let Some(v) = built.value {
        obj.push((key.to_owned(), v));
    }
    if let Some(e) = built.ext {
        obj.push((format!("_{key}"), e));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tree_of(v: serde_json::Value) -> Value {
        tree::parse(v.to_string().as_bytes()).expect("json")
    }

    /// Applies one operation (`parts`) to `input`; the result as serde JSON.
    fn check(
        input: serde_json::Value,
        parts: serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let params = tree_of(json!({
            "resourceType": "Parameters",
            "parameter": [{"name": "operation", "part": parts}],
        }));
        let mut doc = tree_of(input);
        FhirPathPatch::from_parameters(&params)?.apply(&mut doc)?;
        Ok(serde_json::from_slice(&tree::to_pretty_json(&doc)).expect("json"))
    }

    #[test]
    fn add_follows_the_type_tables() {
        // A choice gets its suffix; a repeating element becomes a list,
        // also inside a backbone element built from parts.
        let out = check(
            json!({"resourceType": "Patient"}),
            json!([
                {"name": "type", "valueCode": "add"},
                {"name": "path", "valueString": "Patient"},
                {"name": "name", "valueString": "deceased"},
                {"name": "value", "valueDateTime": "2020-01-01"},
            ]),
        )
        .expect("add");
        assert_eq!(out["deceasedDateTime"], "2020-01-01");
        let out = check(
            json!({"resourceType": "Patient"}),
            json!([
                {"name": "type", "valueCode": "add"},
                {"name": "path", "valueString": "Patient"},
                {"name": "name", "valueString": "contact"},
                {"name": "value", "part": [
                    {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "1"}},
                    {"name": "gender", "valueCode": "other"},
                ]},
            ]),
        )
        .expect("add parts");
        assert_eq!(
            out["contact"],
            json!([{"telecom": [{"system": "phone", "value": "1"}], "gender": "other"}])
        );
        // A single element that has a value already: use replace.
        let e = check(
            json!({"resourceType": "Patient", "gender": "male"}),
            json!([
                {"name": "type", "valueCode": "add"},
                {"name": "path", "valueString": "Patient"},
                {"name": "name", "valueString": "gender"},
                {"name": "value", "valueCode": "female"},
            ]),
        )
        .expect_err("single element");
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn primitive_extensions_move_with_their_values() {
        let input = json!({"resourceType": "Patient", "name": [{
            "given": ["a", "b"],
            "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}],
        }]});
        let out = check(
            input.clone(),
            json!([
                {"name": "type", "valueCode": "move"},
                {"name": "path", "valueString": "Patient.name[0].given"},
                {"name": "source", "valueInteger": 1},
                {"name": "destination", "valueInteger": 0},
            ]),
        )
        .expect("move");
        assert_eq!(out["name"][0]["given"], json!(["b", "a"]));
        assert_eq!(out["name"][0]["_given"][0]["extension"][0]["url"], "u");
        assert_eq!(out["name"][0]["_given"][1], json!(null));
        let out = check(
            input,
            json!([
                {"name": "type", "valueCode": "delete"},
                {"name": "path", "valueString": "Patient.name[0].given[1]"},
            ]),
        )
        .expect("delete");
        assert_eq!(out["name"][0], json!({"given": ["a"]}));
    }

    #[test]
    fn replace_changes_a_choice_type_and_insert_starts_a_list() {
        let out = check(
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "c"},
                   "valueQuantity": {"value": 1.50}}),
            json!([
                {"name": "type", "valueCode": "replace"},
                {"name": "path", "valueString": "Observation.value"},
                {"name": "value", "valueString": "high"},
            ]),
        )
        .expect("replace");
        assert_eq!(out["valueString"], "high");
        assert!(out.get("valueQuantity").is_none());
        let out = check(
            json!({"resourceType": "Patient"}),
            json!([
                {"name": "type", "valueCode": "insert"},
                {"name": "path", "valueString": "Patient.identifier"},
                {"name": "index", "valueInteger": 0},
                {"name": "value", "valueIdentifier": {"value": "1"}},
            ]),
        )
        .expect("insert into an empty list");
        assert_eq!(out["identifier"], json!([{"value": "1"}]));
    }

    #[test]
    fn match_counts_follow_the_spec() {
        let two = json!({"resourceType": "Patient", "name": [{"family": "a"}, {"family": "b"}]});
        // delete of nothing does nothing.
        let out = check(
            two.clone(),
            json!([
                {"name": "type", "valueCode": "delete"},
                {"name": "path", "valueString": "Patient.birthDate"},
            ]),
        )
        .expect("delete nothing");
        assert_eq!(out, two);
        // replace of two elements, or of none, fails.
        for path in ["Patient.name.family", "Patient.birthDate"] {
            let e = check(
                two.clone(),
                json!([
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": path},
                    {"name": "value", "valueString": "x"},
                ]),
            )
            .expect_err(path);
            assert_eq!(e.status(), 422, "{path}");
        }
        // Moving past the end fails.
        let e = check(
            two,
            json!([
                {"name": "type", "valueCode": "move"},
                {"name": "path", "valueString": "Patient.name"},
                {"name": "source", "valueInteger": 0},
                {"name": "destination", "valueInteger": 2},
            ]),
        )
        .expect_err("move");
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn extensions_are_added_to_primitives() {
        let ext = json!({"url": "http://example.org/e", "valueString": "x"});
        let add = |path: &str| {
            json!([
                {"name": "type", "valueCode": "add"},
                {"name": "path", "valueString": path},
                {"name": "name", "valueString": "extension"},
                {"name": "value", "valueExtension": ext},
            ])
        };
        let input = json!({"resourceType": "Patient", "birthDate": "2000-01-01",
                           "name": [{"given": ["a", "b"]}]});
        let out = check(input.clone(), add("Patient.birthDate")).expect("add");
        assert_eq!(out["_birthDate"], json!({"extension": [ext]}));
        let out = check(input, add("Patient.name.given[1]")).expect("add");
        assert_eq!(
            out["name"][0]["_given"],
            json!([null, {"extension": [ext]}])
        );
    }

    #[test]
    fn malformed_patches_are_400() {
        for parts in [
            json!([{"name": "type", "valueCode": "frobnicate"}, {"name": "path", "valueString": "Patient"}]),
            json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"}]),
            json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.("}]),
            json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Patient.name"},
                   {"name": "index", "valueInteger": -1}, {"name": "value", "valueString": "x"}]),
            json!([{"name": "path", "valueString": "Patient"}]),
        ] {
            let e =
                check(json!({"resourceType": "Patient"}), parts.clone()).expect_err("malformed");
            assert_eq!(e.status(), 400, "{parts}");
        }
    }
}
