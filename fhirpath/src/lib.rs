//! FHIRPath for FHIR R4, evaluated over the `fhir-model` JSON tree.
//!
//! # How the pieces fit
//! - [`Expression::compile`] lexes ([`lexer`]) and parses ([`parser`]) the
//!   text into an [`ast::Ast`] with function names and literals resolved.
//!   An `Expression` is cheap to clone (an `Arc`), so callers compile each
//!   search-parameter or invariant expression once and cache it.
//! - [`Expression::evaluate`] runs it against a [`Context`]: the resource
//!   (a `json::tree::Value`), variables, and the optional [`Resolver`] and
//!   [`Terminology`] services.
//! - Values ([`value::Item`]) are either nodes of the JSON tree with their
//!   FHIR type, taken from the generated metadata in
//!   `fhir_model::meta` (so `Observation.value` finds `valueQuantity` and
//!   knows it is a `Quantity`), or System values (Boolean, Integer,
//!   exact [`decimal::Decimal`], String, Date/DateTime/Time with
//!   precision, [`quantity::Quantity`]).
//! - [`functions`] holds the function library, one module per family.
//!
//! **Invariant:** no input (expression or resource) makes the engine
//! panic; nesting is bounded ([`parser::MAX_DEPTH`]) so hostile
//! expressions cannot exhaust the stack.

pub mod ast;
mod context;
pub mod datetime;
pub mod decimal;
mod error;
mod eval;
pub mod func;
pub mod functions;
pub mod lexer;
mod model;
pub mod parser;
pub mod quantity;
pub mod value;

use std::sync::Arc;

pub use context::{Context, Resolver, Terminology};
pub use error::Error;
pub use value::{Collection, Item, Node};

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Expression {
    ast: Arc<ast::Ast>,
    text: Arc<str>,
}

impl Expression {
    /// Parses and checks `text`: syntax, function names and argument
    /// counts.
    pub fn compile(text: &str) -> Result<Expression, Error> {
        Ok(Expression {
            ast: Arc::new(parser::parse(text)?),
            text: Arc::from(text),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates against the context's input (the resource).
    pub fn evaluate<'a>(&self, ctx: &Context<'a>) -> Result<Collection<'a>, Error> {
        let ev = eval::Eval::new(ctx);
        let frame = eval::Frame {
            this: &ctx.input,
            index: None,
            total: None,
        };
        ev.eval(&self.ast, &ctx.input, &frame)
    }
}

/// The JSON form the CLI prints and the tests compare: the value of a
/// System value as JSON, a node as its JSON subtree.
pub fn item_json(item: &Item) -> fhir_model::json::tree::Value {
    use fhir_model::json::tree::Value as Json;
    match item {
        Item::Node(n) => match n.value {
            Some(v) => v.clone(),
            None => Json::Null,
        },
        Item::Boolean(b) => Json::Bool(*b),
        Item::Integer(i) => Json::Number(i.to_string()),
        Item::Decimal(d) => Json::Number(d.to_string()),
        Item::String(s) => Json::String(s.clone()),
        Item::Date(t) => Json::String(t.format_date()),
        Item::DateTime(t) => Json::String(t.format_datetime()),
        Item::Time(t) => Json::String(t.format_time()),
        Item::Quantity(q) => Json::Object(vec![
            ("value".into(), Json::Number(q.value.to_string())),
            ("unit".into(), Json::String(q.unit.clone())),
        ]),
        Item::TypeInfo(ns, name) => Json::Object(vec![
            ("namespace".into(), Json::String((*ns).to_owned())),
            ("name".into(), Json::String(name.clone())),
        ]),
    }
}

/// The text form of an item as the official tests write outputs
/// (`@2014-01`, `1.5 'cm'`, `true`).
pub fn item_text(item: &Item) -> String {
    match item.system() {
        Some(Item::Date(t)) => format!("@{}", t.format_date()),
        Some(Item::DateTime(t)) => format!("@{}", t.format_datetime()),
        Some(Item::Time(t)) => format!("@T{}", t.format_time()),
        Some(Item::Quantity(q)) => q.to_text(),
        Some(other) => functions::conversion::to_string(&other).unwrap_or_default(),
        None => match item {
            Item::TypeInfo(ns, name) => format!("{ns}.{name}"),
            _ => String::new(),
        },
    }
}

/// The result as the CLI prints it: a JSON array of
/// `{"type": T, "value": V}`, T as the official tests name types.
pub fn result_json(items: &[Item]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"type\":");
        write_json_string(&mut out, item.type_name());
        out.push_str(",\"value\":");
        write_json(&mut out, &item_json(item));
        out.push('}');
    }
    out.push(']');
    out
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(out: &mut String, v: &fhir_model::json::tree::Value) {
    use fhir_model::json::tree::Value as Json;
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => write_json_string(out, s),
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, x);
            }
            out.push(']');
        }
        Json::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, x);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree::{parse, Value as Json};

    fn json(s: &str) -> Json {
        parse(s.as_bytes()).expect("test json")
    }

    /// Evaluates `expr` on `resource` and returns the items as text.
    fn check(resource: &Json, expr: &str, expected: &[&str]) {
        let ctx = Context::new(resource);
        let got: Vec<String> = Expression::compile(expr)
            .and_then(|e| e.evaluate(&ctx))
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .iter()
            .map(item_text)
            .collect();
        assert_eq!(got, expected, "{expr}");
    }

    const OBS: &str = r#"{"resourceType":"Observation","id":"o1","status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"1234-5"}]},
        "subject":{"reference":"Patient/p1"},
        "valueQuantity":{"value":1.50,"unit":"g","system":"http://unitsofmeasure.org","code":"g"},
        "effectiveDateTime":"2020-01-02T10:00:00Z","_status":{"extension":[{"url":"u","valueString":"x"}]}}"#;

    #[test]
    fn navigates_choices_primitives_and_extensions() {
        let r = json(OBS);
        check(&r, "Observation.value.value", &["1.50"]);
        check(&r, "value.ofType(Quantity).code", &["g"]);
        check(&r, "value > 1400 'mg'", &["true"]);
        check(&r, "effective is dateTime", &["true"]);
        check(&r, "status.extension('u').value", &["x"]);
        check(
            &r,
            "status.hasValue() and status.extension.exists()",
            &["true"],
        );
        check(&r, "%resource.id & %context.id", &["o1o1"]);
        check(&r, "code.coding.system = %loinc", &["true"]);
    }

    struct Store(Json);
    impl Resolver for Store {
        fn resolve(&self, reference: &str) -> Option<&Json> {
            (reference == "Patient/p1").then_some(&self.0)
        }
    }

    struct Loinc;
    impl Terminology for Loinc {
        fn member_of(&self, system: Option<&str>, _code: &str, vs: &str) -> Option<bool> {
            (vs == "http://example.org/vs").then(|| system == Some("http://loinc.org"))
        }
        fn subsumes(&self, _system: &str, ancestor: &str, descendant: &str) -> Option<bool> {
            Some(descendant.starts_with(ancestor))
        }
    }

    #[test]
    fn resolver_and_terminology_are_plugged_in() {
        let r = json(OBS);
        let store = Store(json(
            r#"{"resourceType":"Patient","id":"p1","active":true}"#,
        ));
        let ctx = Context::new(&r)
            .with_resolver(&store)
            .with_terminology(&Loinc);
        let eval = |e: &str| Expression::compile(e).and_then(|x| x.evaluate(&ctx));
        let v = eval("subject.resolve().active").expect("resolve");
        assert_eq!(v.iter().map(item_text).collect::<Vec<_>>(), ["true"]);
        let v = eval("code.memberOf('http://example.org/vs')").expect("memberOf");
        assert_eq!(v.iter().map(item_text).collect::<Vec<_>>(), ["true"]);
        let v = eval("code.coding.subsumes(%sub)");
        assert!(v.is_err(), "no %sub variable");
        let sub = json(r#"{"system":"http://loinc.org","code":"1234-5-x"}"#);
        let ctx2 = Context::new(&r).with_terminology(&Loinc).with_var(
            "sub",
            vec![Item::Node(Node {
                value: Some(&sub),
                ext: None,
                ty: "Coding",
            })],
        );
        let e = Expression::compile("code.coding.subsumes(%sub) and %sub.subsumedBy(code.coding)")
            .expect("compile");
        assert_eq!(
            e.evaluate(&ctx2)
                .expect("subsumes")
                .iter()
                .map(item_text)
                .collect::<Vec<_>>(),
            ["true"]
        );
        let e = Expression::compile("checkModifiers('x').id").expect("compile");
        assert_eq!(e.evaluate(&ctx2).expect("checkModifiers").len(), 1);
        // Unknown value set: unknown, so empty.
        assert!(eval("code.memberOf('http://other')")
            .expect("memberOf")
            .is_empty());
        // Without a terminology, memberOf is empty.
        let plain = Context::new(&r);
        let e = Expression::compile("code.memberOf('http://example.org/vs')").expect("compile");
        assert!(e.evaluate(&plain).expect("eval").is_empty());
    }

    #[test]
    fn contained_references_resolve_from_a_bundle() {
        let b = json(
            r##"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation",
            "contained":[{"resourceType":"Device","id":"d"}],"device":{"reference":"#d"}}},
            {"resource":{"resourceType":"Observation","device":{"reference":"#x"}}}]}"##,
        );
        check(
            &b,
            "entry.resource.ofType(Observation).device.resolve().id",
            &["d"],
        );
        check(
            &b,
            "entry.resource.ofType(Observation).all(device.resolve().exists())",
            &["false"],
        );
    }

    #[test]
    fn reference_types_let_search_parameters_test_the_target_type() {
        let r = json(OBS);
        let e = Expression::compile("Observation.subject.where(resolve() is Patient)").expect("c");
        assert!(e.evaluate(&Context::new(&r)).expect("eval").is_empty());
        let ctx = Context::new(&r).with_reference_types(true);
        assert_eq!(e.evaluate(&ctx).expect("eval").len(), 1);
    }

    #[test]
    fn hostile_expressions_fail_cleanly() {
        let r = json(OBS);
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        let long_chain = vec!["1"; 5000].join(" + ");
        let long_path = format!("Observation{}", ".code".repeat(5000));
        for e in [deep.as_str(), long_chain.as_str(), long_path.as_str()] {
            assert!(matches!(Expression::compile(e), Err(Error::TooDeep(_))));
        }
        // Size blow-ups end in an error, not in exhausted memory or CPU.
        let big = r#"{"resourceType":"Basic","extension":[
            {"url":"a"},{"url":"b"},{"url":"c"},{"url":"d"},{"url":"e"},
            {"url":"f"},{"url":"g"},{"url":"h"},{"url":"i"},{"url":"j"}]}"#;
        let big = json(big);
        let ctx = Context::new(&big);
        for e in [
            "descendants().select(%resource.descendants().select(%resource.descendants().select(%resource.descendants())))",
            "'x'.replace('', 'yyyyyyyyyyyyyyyy').replace('', 'yyyyyyyyyyyyyyyy').replace('', 'yyyyyyyyyyyyyyyy').replace('', 'yyyyyyyyyyyyyyyy').replace('', 'yyyyyyyyyyyyyyyy').replace('', 'yyyyyyyyyyyyyyyy')",
        ] {
            let v = Expression::compile(e).and_then(|x| x.evaluate(&ctx));
            assert!(matches!(v, Err(Error::Evaluation(_))), "{e}: {v:?}");
        }
        // A union of 16,000 items that are mostly repeats is deduplicated
        // by hashing, quickly and correctly.
        let e = "descendants().select(%resource.descendants().select(%resource.descendants())) | descendants().select(%resource.descendants().select(%resource.descendants()))";
        let v = Expression::compile(e).and_then(|x| x.evaluate(&ctx));
        assert!(v.is_ok_and(|c| c.len() < 100), "{e}");
        // Just under the limit: compiles and evaluates on a test thread's
        // small stack, in a debug build.
        let n = parser::MAX_DEPTH / 2 - 2;
        let nested = format!("{}1{}", "(".repeat(n), ")".repeat(n));
        let chain = vec!["1"; n].join(" + ");
        let ctx = Context::new(&r);
        for e in [nested.as_str(), chain.as_str()] {
            let v = Expression::compile(e).and_then(|x| x.evaluate(&ctx));
            assert!(v.is_ok(), "{e}: {v:?}");
        }
        for e in [
            "",
            "(",
            "1 +",
            "'abc",
            "@",
            "@2020-13",
            "%",
            "$foo",
            "foo(",
            "1.",
            "a..b",
            "iif(",
            "where()",
            "x.is(1)",
            "'a'.matches('(')",
            "{}.single(",
            "1/0",
            "`",
        ] {
            let ctx = Context::new(&r);
            let _ = Expression::compile(e).and_then(|x| x.evaluate(&ctx));
        }
    }
}
