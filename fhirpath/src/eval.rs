//! The evaluator: walks the compiled tree over a collection.

use std::cmp::Ordering;

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use crate::ast::{Ast, BinOp, TypeSpec};
use crate::context::Context;
use crate::datetime::Temporal;
use crate::error::{eval_err, Error};
use crate::functions;
use crate::model::upper_first;
use crate::value::{self, fhir_is, Collection, Item, Node};

/// `$this`, `$index` and `$total` of the innermost iteration.
pub struct Frame<'f, 'a> {
    pub this: &'f [Item<'a>],
    pub index: Option<usize>,
    pub total: Option<&'f [Item<'a>]>,
}

pub struct Eval<'c, 'a> {
    pub ctx: &'c Context<'a>,
    /// `now()`: the same instant for the whole evaluation, read from the
    /// clock only if asked for (most expressions never do).
    now: std::cell::OnceCell<Temporal>,
}

impl<'c, 'a> Eval<'c, 'a> {
    pub fn new(ctx: &'c Context<'a>) -> Self {
        Eval {
            ctx,
            now: std::cell::OnceCell::new(),
        }
    }

    pub fn now(&self) -> Temporal {
        *self.now.get_or_init(functions::utility::current_time)
    }

    pub fn eval(
        &self,
        ast: &Ast,
        focus: &[Item<'a>],
        frame: &Frame<'_, 'a>,
    ) -> Result<Collection<'a>, Error> {
        Ok(match ast {
            Ast::Literal(v) => vec![v.clone()],
            Ast::Empty => Vec::new(),
            Ast::Ident(name) => self.ident(focus, name)?,
            Ast::Member(e, name) => {
                let base = self.eval(e, focus, frame)?;
                let mut out = Vec::new();
                for item in &base {
                    self.child(item, name, &mut out)?;
                }
                out
            }
            Ast::Call {
                target,
                func,
                args,
                ty,
            } => {
                let input = match target {
                    Some(t) => self.eval(t, focus, frame)?,
                    None => focus.to_vec(),
                };
                functions::call(self, *func, input, args, ty.as_ref(), frame)?
            }
            Ast::Index(e, i) => {
                let base = self.eval(e, focus, frame)?;
                let idx = self.eval(i, frame.this, frame)?;
                match singleton(&idx)? {
                    None => Vec::new(),
                    Some(Item::Integer(n)) => usize::try_from(n)
                        .ok()
                        .and_then(|n| base.into_iter().nth(n))
                        .into_iter()
                        .collect(),
                    Some(_) => return eval_err("index must be an integer"),
                }
            }
            Ast::Neg(e) => {
                let v = self.eval(e, focus, frame)?;
                match singleton_system(&v)? {
                    None => Vec::new(),
                    Some(Item::Integer(i)) => {
                        i.checked_neg().map(Item::Integer).into_iter().collect()
                    }
                    Some(Item::Decimal(d)) => vec![Item::Decimal(d.neg())],
                    Some(Item::Quantity(mut q)) => {
                        q.value = q.value.neg();
                        vec![Item::Quantity(q)]
                    }
                    Some(other) => return eval_err(format!("cannot negate {}", other.type_name())),
                }
            }
            Ast::Binary(op, l, r) => self.binary(*op, l, r, focus, frame)?,
            Ast::Is(e, ty) => {
                let v = self.eval(e, focus, frame)?;
                match v.as_slice() {
                    [] => Vec::new(),
                    [one] => vec![Item::Boolean(self.is_type(one, ty)?)],
                    _ => return eval_err("'is' needs a single item"),
                }
            }
            Ast::As(e, ty) => {
                let v = self.eval(e, focus, frame)?;
                if v.len() > 1 {
                    return eval_err("'as' needs a single item");
                }
                let mut out = Vec::new();
                for item in v {
                    if is_type_exact(&item, ty) {
                        out.push(item);
                    }
                }
                out
            }
            Ast::This => frame.this.to_vec(),
            Ast::IndexVar => match frame.index {
                Some(i) => vec![Item::Integer(i as i64)],
                None => Vec::new(),
            },
            Ast::Total => frame.total.map(<[_]>::to_vec).unwrap_or_default(),
            Ast::Var(name) => self.var(name)?,
        })
    }

    fn var(&self, name: &str) -> Result<Collection<'a>, Error> {
        let ctx = self.ctx;
        if let Some((_, v)) = ctx.vars.iter().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        let node = |j: Option<&'a Json>| -> Collection<'a> {
            j.map(|j| Item::Node(Node::resource(j)))
                .into_iter()
                .collect()
        };
        Ok(match name {
            "context" => ctx.input.clone(),
            "resource" => node(ctx.resource),
            "rootResource" => node(ctx.root_resource),
            "ucum" => vec![Item::String("http://unitsofmeasure.org".into())],
            "sct" => vec![Item::String("http://snomed.info/sct".into())],
            "loinc" => vec![Item::String("http://loinc.org".into())],
            _ => {
                if let Some(vs) = name.strip_prefix("vs-") {
                    vec![Item::String(format!("http://hl7.org/fhir/ValueSet/{vs}"))]
                } else if let Some(ext) = name.strip_prefix("ext-") {
                    vec![Item::String(format!(
                        "http://hl7.org/fhir/StructureDefinition/{ext}"
                    ))]
                } else {
                    return Err(Error::Semantic(format!("unknown variable %{name}")));
                }
            }
        })
    }

    /// An identifier at the start of a path: a type name selects the
    /// focus items of that type; anything else is an element name.
    fn ident(&self, focus: &[Item<'a>], name: &str) -> Result<Collection<'a>, Error> {
        let mut out = Vec::new();
        let is_type_name = name.starts_with(|c: char| c.is_ascii_uppercase());
        for item in focus {
            if is_type_name {
                if let Item::Node(n) = item {
                    if fhir_is(n.ty, name) {
                        out.push(item.clone());
                        continue;
                    }
                }
                if meta::type_info(name).is_some_and(|t| t.kind == Kind::Resource)
                    || matches!(name, "Resource" | "DomainResource")
                {
                    if self.ctx.strict {
                        return Err(Error::Semantic(format!(
                            "the context is a {}, not a {name}",
                            item.type_name()
                        )));
                    }
                    continue;
                }
            }
            self.child(item, name, &mut out)?;
        }
        Ok(out)
    }

    /// Appends the children called `name` of `item`.
    /// Like [`Eval::child`], never strict (for names read from the data).
    pub fn child_lenient(
        &self,
        item: &Item<'a>,
        name: &str,
        out: &mut Collection<'a>,
    ) -> Result<(), Error> {
        self.child_in(item, name, out, false)
    }

    pub fn child(
        &self,
        item: &Item<'a>,
        name: &str,
        out: &mut Collection<'a>,
    ) -> Result<(), Error> {
        self.child_in(item, name, out, self.ctx.strict)
    }

    fn child_in(
        &self,
        item: &Item<'a>,
        name: &str,
        out: &mut Collection<'a>,
        strict: bool,
    ) -> Result<(), Error> {
        let node = match item {
            Item::Node(n) => n,
            Item::TypeInfo(ns, n) => {
                match name {
                    "namespace" => out.push(Item::String((*ns).to_owned())),
                    "name" => out.push(Item::String(n.clone())),
                    _ => {}
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        if node.is_primitive() {
            // A primitive's children live in its `_name` object.
            if let Some(Json::Object(m)) = node.ext {
                let ty = match name {
                    "extension" => "Extension",
                    "id" => "string",
                    _ => return Ok(()),
                };
                push_values(m, name, ty, out);
            } else if strict && !matches!(name, "extension" | "id") {
                return Err(Error::Semantic(format!(
                    "{} has no element '{name}'",
                    node.ty
                )));
            }
            return Ok(());
        }
        let Some(obj) = node.object() else {
            return Ok(());
        };
        match meta::type_info(node.ty) {
            Some(info) => {
                if let Some(el) = info.element(name) {
                    if el.choice {
                        // The one property `name` + type suffix present, if any.
                        for (k, _) in obj {
                            let k = k.strip_prefix('_').unwrap_or(k);
                            let Some(suffix) = k.strip_prefix(name) else {
                                continue;
                            };
                            if let Some(ty) = el.types.iter().find(|t| suffix_matches(t, suffix)) {
                                push_values(obj, k, ty, out);
                                break;
                            }
                        }
                    } else {
                        let ty = el.types.first().copied().unwrap_or("Element");
                        push_values(obj, name, ty, out);
                    }
                    return Ok(());
                }
                // A choice element by its JSON name (`valueQuantity`) is
                // not a FHIRPath name: the spec writes `value.ofType(Quantity)`.
                let choice_json = info.elements.iter().filter(|e| e.choice).any(|el| {
                    name.strip_prefix(el.name)
                        .is_some_and(|suffix| el.types.iter().any(|t| upper_first(t) == suffix))
                });
                if strict || choice_json {
                    return Err(Error::Semantic(format!(
                        "{} has no element '{name}'",
                        node.ty
                    )));
                }
                Ok(())
            }
            None => {
                push_values(obj, name, "", out);
                Ok(())
            }
        }
    }

    fn binary(
        &self,
        op: BinOp,
        l: &Ast,
        r: &Ast,
        focus: &[Item<'a>],
        frame: &Frame<'_, 'a>,
    ) -> Result<Collection<'a>, Error> {
        let left = self.eval(l, focus, frame)?;
        // `and`/`or`/`implies` do not need the right side in some cases,
        // but the spec allows evaluating it; errors there still count.
        match op {
            BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies => {
                let a = to_bool(&left)?;
                if op == BinOp::And && a == Some(false) {
                    return Ok(vec![Item::Boolean(false)]);
                }
                if op == BinOp::Or && a == Some(true) {
                    return Ok(vec![Item::Boolean(true)]);
                }
                if op == BinOp::Implies && a == Some(false) {
                    return Ok(vec![Item::Boolean(true)]);
                }
                let b = to_bool(&self.eval(r, focus, frame)?)?;
                let res = match op {
                    BinOp::And => match (a, b) {
                        (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    BinOp::Or => match (a, b) {
                        (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    BinOp::Xor => match (a, b) {
                        (Some(x), Some(y)) => Some(x != y),
                        _ => None,
                    },
                    _ => match (a, b) {
                        (_, Some(true)) => Some(true),
                        (Some(true), Some(false)) => Some(false),
                        _ => None,
                    },
                };
                return Ok(res.map(Item::Boolean).into_iter().collect());
            }
            _ => {}
        }
        let right = self.eval(r, focus, frame)?;
        binary_values(op, left, right)
    }

    pub fn is_type(&self, item: &Item<'a>, ty: &TypeSpec) -> Result<bool, Error> {
        Ok(is_type(item, ty))
    }
}

/// Whether an item is of the named type (or derives from it). `as` and
/// `ofType` want the exact primitive type (`code` is not a `string`
/// there), while `is` follows the primitive hierarchy.
pub fn is_type_exact(item: &Item, ty: &TypeSpec) -> bool {
    match item {
        Item::Node(n) if n.is_primitive() => {
            ty.namespace.as_deref() != Some("System") && n.ty == ty.name
        }
        other => is_type(other, ty),
    }
}

pub fn is_type(item: &Item, ty: &TypeSpec) -> bool {
    let ns = ty.namespace.as_deref();
    match item {
        Item::Node(n) => {
            if ns == Some("System") {
                return false;
            }
            fhir_is(n.ty, &ty.name)
                || (n.ty == "Resource" && ty.name == "Resource")
                || (ty.name == "Resource" && n.is_resource())
                || (ty.name == "DomainResource"
                    && n.is_resource()
                    && !matches!(n.ty, "Bundle" | "Binary" | "Parameters"))
        }
        other => {
            if ns == Some("FHIR") {
                return false;
            }
            other.system_type() == Some(ty.name.as_str())
        }
    }
}

/// Appends `obj[key]` (and `obj["_" + key]` for primitives), typed `ty`;
/// `ty` empty means unknown, so the type is guessed from the JSON.
fn push_values<'a>(obj: &'a [(String, Json)], key: &str, ty: &'a str, out: &mut Collection<'a>) {
    let want_ext = ty.is_empty() || value::is_primitive_type(ty);
    let mut val = None;
    let mut ext = None;
    for (k, v) in obj {
        if k == key {
            val = Some(v);
        } else if want_ext && k.strip_prefix('_') == Some(key) {
            ext = Some(v);
        }
    }
    let make = |v: Option<&'a Json>, e: Option<&'a Json>| -> Option<Item<'a>> {
        let v = v.filter(|v| !v.is_null());
        let e = e.filter(|e| !e.is_null());
        if v.is_none() && e.is_none() {
            return None;
        }
        let ty: &'a str = if ty == "Resource" || (ty.is_empty() && is_resource_json(v)) {
            return v.map(|v| Item::Node(Node::resource(v)));
        } else if ty.is_empty() {
            match v {
                Some(Json::Bool(_)) => "boolean",
                Some(Json::Number(n)) if !n.contains(['.', 'e', 'E']) => "integer",
                Some(Json::Number(_)) => "decimal",
                Some(Json::String(_)) => "string",
                _ => "Element",
            }
        } else {
            ty
        };
        Some(Item::Node(Node {
            value: v,
            ext: e,
            ty,
        }))
    };
    match (val, ext) {
        (Some(Json::Array(vs)), e) => {
            let es = match e {
                Some(Json::Array(es)) => Some(es),
                _ => None,
            };
            for (i, v) in vs.iter().enumerate() {
                if let Some(item) = make(Some(v), es.and_then(|es| es.get(i))) {
                    out.push(item);
                }
            }
        }
        (None, Some(Json::Array(es))) => {
            for e in es {
                if let Some(item) = make(None, Some(e)) {
                    out.push(item);
                }
            }
        }
        (v, e) => {
            if let Some(item) = make(v, e) {
                out.push(item);
            }
        }
    }
}

fn is_resource_json(v: Option<&Json>) -> bool {
    matches!(v, Some(Json::Object(m)) if m.iter().any(|(k, _)| k == "resourceType"))
}

/// The single item of a collection: `None` if empty, an error if more.
pub fn singleton<'a>(c: &[Item<'a>]) -> Result<Option<Item<'a>>, Error> {
    match c {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => eval_err(format!("expected a single item, found {}", c.len())),
    }
}

/// The single item as a System value (primitive nodes converted).
pub fn singleton_system(c: &[Item]) -> Result<Option<Item<'static>>, Error> {
    match c {
        [] => Ok(None),
        [one] => Ok(one.system()),
        _ => eval_err(format!("expected a single item, found {}", c.len())),
    }
}

/// A collection as a boolean: empty is unknown, one boolean is itself,
/// one other item is `true`, more is an error.
pub fn to_bool(c: &[Item]) -> Result<Option<bool>, Error> {
    match c {
        [] => Ok(None),
        [one] => Ok(Some(match one.system() {
            Some(Item::Boolean(b)) => b,
            _ => true,
        })),
        _ => eval_err(format!(
            "expected a single boolean, found {} items",
            c.len()
        )),
    }
}

/// `left | right` without duplicates. Strings (and string-valued nodes:
/// codes, uris, ids) are bucketed by their text so that a union of
/// thousands of codes (a ValueSet's `code` search parameter) is linear;
/// other items are compared pairwise, bounded by [`value::MAX_COMPARED`].
pub fn union<'a>(left: Collection<'a>, right: Collection<'a>) -> Result<Collection<'a>, Error> {
    let mut out: Collection<'a> = Vec::with_capacity(left.len() + right.len());
    let mut by_text: std::collections::HashMap<String, Vec<usize>> = Default::default();
    let mut others: Vec<usize> = Vec::new();
    for item in left.into_iter().chain(right) {
        let key = match item.system() {
            Some(Item::String(s)) => Some(s),
            _ => None,
        };
        let same = |i: &usize| value::equals(&out[*i], &item) == Some(true);
        let dup = match &key {
            Some(k) => {
                by_text.get(k).is_some_and(|ix| ix.iter().any(same)) || others.iter().any(same)
            }
            None => out.iter().any(|o| value::equals(o, &item) == Some(true)),
        };
        if dup {
            continue;
        }
        match key {
            Some(k) => by_text.entry(k).or_default().push(out.len()),
            None => {
                others.push(out.len());
                value::check_compared(others.len())?;
            }
        }
        out.push(item);
    }
    Ok(out)
}

fn binary_values<'a>(
    op: BinOp,
    left: Collection<'a>,
    right: Collection<'a>,
) -> Result<Collection<'a>, Error> {
    let b = |v: Option<bool>| -> Collection<'a> { v.map(Item::Boolean).into_iter().collect() };
    Ok(match op {
        BinOp::Union => union(left, right)?,
        BinOp::Eq | BinOp::Ne => {
            if left.is_empty() || right.is_empty() {
                return Ok(Vec::new());
            }
            let eq = if left.len() != right.len() {
                Some(false)
            } else {
                let mut res = Some(true);
                for (x, y) in left.iter().zip(&right) {
                    match value::equals(x, y) {
                        Some(true) => {}
                        Some(false) => {
                            res = Some(false);
                            break;
                        }
                        None => res = None,
                    }
                }
                res
            };
            b(if op == BinOp::Eq { eq } else { eq.map(|x| !x) })
        }
        BinOp::Equiv | BinOp::NotEquiv => {
            let eq = equivalent_collections(&left, &right);
            b(Some(if op == BinOp::Equiv { eq } else { !eq }))
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let (Some(x), Some(y)) = (singleton(&left)?, singleton(&right)?) else {
                return Ok(Vec::new());
            };
            let ord = value::compare(&x, &y)?;
            b(ord.map(|o| match op {
                BinOp::Lt => o == Ordering::Less,
                BinOp::Le => o != Ordering::Greater,
                BinOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        BinOp::In | BinOp::Contains => {
            let (item, coll) = if op == BinOp::In {
                (left, right)
            } else {
                (right, left)
            };
            match singleton(&item)? {
                None => Vec::new(),
                Some(x) => b(Some(
                    coll.iter().any(|y| value::equals(&x, y) == Some(true)),
                )),
            }
        }
        BinOp::Concat => {
            let s = |c: &[Item]| -> Result<String, Error> {
                Ok(match singleton_system(c)? {
                    None => String::new(),
                    Some(Item::String(s)) => s,
                    Some(other) => functions::conversion::to_string(&other).unwrap_or_default(),
                })
            };
            let joined = s(&left)? + &s(&right)?;
            if joined.len() > value::MAX_STRING {
                return eval_err("string too long");
            }
            vec![Item::String(joined)]
        }
        _ => {
            let (Some(x), Some(y)) = (singleton_system(&left)?, singleton_system(&right)?) else {
                return Ok(Vec::new());
            };
            arithmetic(op, x, y)?.into_iter().collect()
        }
    })
}

pub fn equivalent_collections(left: &[Item], right: &[Item]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let mut used = vec![false; right.len()];
    'outer: for x in left {
        for (i, y) in right.iter().enumerate() {
            if !used[i] && value::equivalent(x, y) {
                used[i] = true;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

fn arithmetic<'a>(
    op: BinOp,
    x: Item<'static>,
    y: Item<'static>,
) -> Result<Option<Item<'a>>, Error> {
    use Item::*;
    let type_err = |x: &Item, y: &Item| {
        Error::Evaluation(format!(
            "cannot apply {op:?} to {} and {}",
            x.type_name(),
            y.type_name()
        ))
    };
    Ok(match (&x, &y) {
        (Integer(a), Integer(b)) => match op {
            BinOp::Add => a.checked_add(*b).map(Integer),
            BinOp::Sub => a.checked_sub(*b).map(Integer),
            BinOp::Mul => a.checked_mul(*b).map(Integer),
            BinOp::Div => crate::decimal::Decimal::from_int(*a)
                .div(&crate::decimal::Decimal::from_int(*b))
                .map(Decimal),
            BinOp::IntDiv => a.checked_div(*b).map(Integer),
            BinOp::Mod => a.checked_rem(*b).map(Integer),
            _ => return Err(type_err(&x, &y)),
        },
        (Integer(_) | Decimal(_), Integer(_) | Decimal(_)) => {
            let (Some(a), Some(b)) = (value::to_dec(&x), value::to_dec(&y)) else {
                return Ok(None);
            };
            match op {
                BinOp::Add => a.add(&b).map(Decimal),
                BinOp::Sub => a.sub(&b).map(Decimal),
                BinOp::Mul => a.mul(&b).map(Decimal),
                BinOp::Div => a.div(&b).map(Decimal),
                BinOp::IntDiv => {
                    if b.is_zero() {
                        None
                    } else {
                        a.div(&b).and_then(|q| q.truncate().to_i64()).map(Integer)
                    }
                }
                BinOp::Mod => {
                    if b.is_zero() {
                        None
                    } else {
                        a.div(&b)
                            .map(|q| q.truncate())
                            .and_then(|q| q.mul(&b))
                            .and_then(|m| a.sub(&m))
                            .map(Decimal)
                    }
                }
                _ => return Err(type_err(&x, &y)),
            }
        }
        (String(a), String(b)) if op == BinOp::Add => {
            if a.len() + b.len() > value::MAX_STRING {
                return eval_err("string too long");
            }
            Some(String(format!("{a}{b}")))
        }
        (Quantity(a), Quantity(b)) => match op {
            BinOp::Add => a.add(b, false).map(Quantity),
            BinOp::Sub => a.add(b, true).map(Quantity),
            BinOp::Mul => a.mul(b).map(Quantity),
            BinOp::Div => a.div(b).map(Quantity),
            _ => return Err(type_err(&x, &y)),
        },
        (Quantity(a), Integer(_) | Decimal(_)) | (Integer(_) | Decimal(_), Quantity(a))
            if matches!(op, BinOp::Mul | BinOp::Div) =>
        {
            let n = value::to_dec(if matches!(x, Quantity(_)) { &y } else { &x });
            let Some(n) = n else { return Ok(None) };
            let one = crate::quantity::Quantity::new(n, "1");
            if matches!(x, Quantity(_)) {
                if op == BinOp::Mul {
                    a.mul(&one)
                } else {
                    a.div(&one)
                }
                .map(Quantity)
            } else {
                one.mul(a).map(Quantity)
            }
        }
        (Date(t) | DateTime(t), Quantity(q)) if matches!(op, BinOp::Add | BinOp::Sub) => {
            let is_date = matches!(x, Date(_));
            date_add(t, q, op == BinOp::Sub, is_date)?.map(|r| {
                if is_date {
                    Date(r)
                } else {
                    DateTime(r)
                }
            })
        }
        (Time(t), Quantity(q)) if matches!(op, BinOp::Add | BinOp::Sub) => {
            date_add(t, q, op == BinOp::Sub, false)?.map(|mut r| {
                r.year = t.year;
                r.month = t.month;
                r.day = t.day;
                Time(r)
            })
        }
        _ => return Err(type_err(&x, &y)),
    })
}

/// Date arithmetic with calendar units; a date only moves by whole
/// days or more.
fn date_add(
    t: &Temporal,
    q: &crate::quantity::Quantity,
    neg: bool,
    is_date: bool,
) -> Result<Option<Temporal>, Error> {
    // UCUM `a` and `mo` are not calendar years and months: an error.
    let unit = crate::quantity::calendar_singular(q.unit.as_str());
    let mut amount = q.value.truncate().to_i64().unwrap_or(0);
    if neg {
        amount = -amount;
    }
    let known = matches!(
        unit,
        "year"
            | "month"
            | "week"
            | "day"
            | "hour"
            | "minute"
            | "second"
            | "millisecond"
            | "wk"
            | "d"
            | "h"
            | "min"
            | "s"
            | "ms"
    );
    if !known {
        return eval_err(format!("cannot add '{}' to a date", q.unit));
    }
    if is_date
        && matches!(
            unit,
            "hour" | "minute" | "second" | "millisecond" | "h" | "min" | "s" | "ms"
        )
    {
        return Ok(Some(*t));
    }
    let mut r = t.add(amount, unit);
    if let Some(r) = r.as_mut() {
        r.precision = t.precision;
        r.tz = t.tz;
    }
    Ok(r)
}

/// Whether `suffix` is type code `ty` with its first letter upper-cased
/// (`dateTime` → `DateTime`), without allocating.
fn suffix_matches(ty: &str, suffix: &str) -> bool {
    let mut a = ty.chars();
    let mut b = suffix.chars();
    match (a.next(), b.next()) {
        (Some(x), Some(y)) if x.to_ascii_uppercase() == y => a.eq(b),
        _ => false,
    }
}
