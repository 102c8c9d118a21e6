//! Index extraction: the rows ([`IndexEntries`]) one resource yields for
//! the search parameters of its type (search.html).
//!
//! Each parameter's FHIRPath expression is evaluated over the resource
//! (with reference types on, so `where(resolve() is Patient)` works
//! without a lookup); each item it selects is turned into rows by the
//! parameter's type and the item's FHIR type, one module per parameter
//! type. Composite parameters evaluate each component's expression on
//! every item the composite's own expression selects; the rows of one item
//! share a `group` (1, 2, …) and are stored under
//! [`component_param`]`(code, n)`.
//!
//! Extraction never fails a write: an expression that fails to evaluate
//! is logged at debug level and skipped, and values that cannot be read
//! (a malformed date, a number that is not finite) yield no row.

pub mod date;
pub mod number;
mod quantity;
mod reference;
mod string;
mod token;
mod uri;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use fhir_model::json::tree::Value as Json;
use fhirpath::{Context, Expression, Item};

use super::index::IndexEntries;
use super::param::{ParamDef, ParamKind, ParamRegistry};

/// The rows `resource` (of type `resource_type`) yields for every
/// parameter of its type that has an expression, without duplicates.
pub fn extract(registry: &ParamRegistry, resource_type: &str, resource: &Json) -> IndexEntries {
    extract_some(registry, resource_type, resource, |_| true)
}

/// [`extract`] for the parameters `keep` selects. A write extracts the
/// parameters that read `meta` ([`reads_meta`]) apart from the others:
/// `meta.versionId` and `meta.lastUpdated` are known only under the
/// writer lock, the rest of the work is done before it.
pub fn extract_some(
    registry: &ParamRegistry,
    resource_type: &str,
    resource: &Json,
    keep: impl Fn(&ParamDef) -> bool,
) -> IndexEntries {
    let mut defs: Vec<&ParamDef> = registry
        .for_type(resource_type)
        .map(|d| d.as_ref())
        .filter(|d| keep(d))
        .collect();
    // A stable order, so the same resource always gives the same rows.
    defs.sort_by(|a, b| a.code.cmp(&b.code));
    let mut out = IndexEntries::default();
    for def in defs {
        extract_param(def, resource, &mut out);
    }
    dedup(&mut out);
    out
}

/// Whether a parameter may read the resource's `meta` (`_lastUpdated`,
/// `_tag`, `_profile`, `_security`, `_source`, or a custom parameter that
/// names it): judged on the expressions' text, so it errs on the side of
/// "yes", which only moves work under the writer lock.
pub fn reads_meta(def: &ParamDef) -> bool {
    let mentions = |e: &Expression| e.text().contains("meta");
    def.expression.as_ref().is_some_and(mentions)
        || def.components.iter().any(|c| mentions(&c.expression))
}

/// The parameter name under which component `n` (0-based, in the order of
/// [`ParamDef::components`]) of composite `code` is stored.
pub fn component_param(code: &str, n: usize) -> String {
    format!("{code}#{n}")
}

fn extract_param(def: &ParamDef, resource: &Json, out: &mut IndexEntries) {
    let Some(expr) = &def.expression else { return };
    let ctx = Context::new(resource).with_reference_types(true);
    let items = match expr.evaluate(&ctx) {
        Ok(items) => items,
        Err(e) => {
            log::debug!(
                "search parameter {} ({}): {}: {e}",
                def.code,
                def.url,
                expr.text()
            );
            return;
        }
    };
    if def.kind == ParamKind::Composite {
        for (i, item) in items.iter().enumerate() {
            let group = i32::try_from(i + 1).unwrap_or(i32::MAX);
            composite_item(def, resource, item, group, out);
        }
    } else {
        for item in &items {
            add(
                def.kind,
                &def.code,
                0,
                item,
                def.code_system.as_deref(),
                out,
            );
        }
    }
}

/// The name of the variable that holds a composite's item while its
/// components are evaluated.
const ITEM_VAR: &str = "compositeItem";

fn composite_item<'a>(
    def: &ParamDef,
    resource: &'a Json,
    item: &Item<'a>,
    group: i32,
    out: &mut IndexEntries,
) {
    for (n, comp) in def.components.iter().enumerate() {
        let Some(expr) = relative(&comp.expression) else {
            log::debug!(
                "composite {}: component {n} does not compile relative to an item: {}",
                def.code,
                comp.expression.text()
            );
            continue;
        };
        let ctx = Context::new(resource)
            .with_reference_types(true)
            .with_var(ITEM_VAR, vec![item.clone()]);
        match expr.evaluate(&ctx) {
            Ok(items) => {
                let param = component_param(&def.code, n);
                for it in &items {
                    add(comp.kind, &param, group, it, None, out);
                }
            }
            Err(e) => log::debug!(
                "composite {} component {n}: {}: {e}",
                def.code,
                comp.expression.text()
            ),
        }
    }
}

/// `expr` evaluated with the composite's item as its input:
/// `%compositeItem.select(expr)` (the context's input is the resource,
/// and `select` makes the item both `$this` and the focus). Compiled once
/// per component text.
fn relative(expr: &Expression) -> Option<Expression> {
    const MAX_CACHED: usize = 10_000;
    static CACHE: OnceLock<Mutex<HashMap<String, Expression>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(e) = map.get(expr.text()) {
            return Some(e.clone());
        }
    }
    let compiled = Expression::compile(&format!("%{ITEM_VAR}.select({})", expr.text())).ok()?;
    if let Ok(mut map) = cache.lock() {
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(expr.text().to_owned(), compiled.clone());
    }
    Some(compiled)
}

/// `code_system`: the system a `code` value of the parameter's element is
/// indexed with ([`ParamDef::code_system`]).
fn add(
    kind: ParamKind,
    param: &str,
    group: i32,
    item: &Item,
    code_system: Option<&str>,
    out: &mut IndexEntries,
) {
    match kind {
        ParamKind::String => string::entries(item, param, group, out),
        ParamKind::Token => token::entries(item, param, group, code_system, out),
        ParamKind::Reference => reference::entries(item, param, group, out),
        ParamKind::Date => date::entries(item, param, group, out),
        ParamKind::Number => number::entries(item, param, group, out),
        ParamKind::Quantity => quantity::entries(item, param, group, out),
        ParamKind::Uri => uri::entries(item, param, group, out),
        ParamKind::Composite | ParamKind::Special => {}
    }
}

fn dedup(out: &mut IndexEntries) {
    fn keep_first<T: std::fmt::Debug>(v: &mut Vec<T>) {
        let mut seen = HashSet::new();
        v.retain(|e| seen.insert(format!("{e:?}")));
    }
    keep_first(&mut out.strings);
    keep_first(&mut out.tokens);
    keep_first(&mut out.references);
    keep_first(&mut out.dates);
    keep_first(&mut out.numbers);
    keep_first(&mut out.quantities);
    keep_first(&mut out.uris);
}

// Reading the JSON of complex types.

/// A node's FHIR type and its JSON value.
fn node<'a>(item: &Item<'a>) -> Option<(&'a str, &'a Json)> {
    match item {
        Item::Node(n) => Some((n.ty, n.value?)),
        _ => None,
    }
}

fn field<'a>(json: &'a Json, key: &str) -> Option<&'a Json> {
    match json {
        Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// A string property.
fn str_field<'a>(json: &'a Json, key: &str) -> Option<&'a str> {
    match field(json, key) {
        Some(Json::String(s)) => Some(s),
        _ => None,
    }
}

/// A number property's text.
fn num_field<'a>(json: &'a Json, key: &str) -> Option<&'a str> {
    match field(json, key) {
        Some(Json::Number(s)) => Some(s),
        _ => None,
    }
}

/// Every value of a property that may repeat: the values of an array, or
/// the one value.
fn many<'a>(json: &'a Json, key: &str) -> Vec<&'a Json> {
    match field(json, key) {
        Some(Json::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

/// Every string value of a property that may repeat.
fn strs<'a>(json: &'a Json, key: &str) -> Vec<&'a str> {
    many(json, key)
        .into_iter()
        .filter_map(|v| match v {
            Json::String(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// The text of a primitive item: a primitive node's string, number or
/// boolean, or a System value.
fn primitive_text(item: &Item) -> Option<String> {
    match item {
        Item::Node(n) if n.is_primitive() => match n.value? {
            Json::String(s) => Some(s.clone()),
            Json::Number(t) => Some(t.clone()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        },
        Item::Node(_) | Item::TypeInfo(..) | Item::Quantity(_) => None,
        Item::String(s) => Some(s.clone()),
        Item::Boolean(b) => Some(b.to_string()),
        Item::Integer(i) => Some(i.to_string()),
        Item::Decimal(d) => Some(d.to_string()),
        other => Some(
            fhirpath::item_text(other)
                .trim_start_matches('@')
                .to_owned(),
        ),
    }
}

#[cfg(test)]
pub mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use fhir_model::json::tree::{parse, Value as Json};
    use fhirpath::Expression;

    use super::*;
    use crate::search::index::{QuantityEntry, TokenEntry};
    use crate::search::param::Component;

    pub fn json(text: &str) -> Json {
        parse(text.as_bytes()).expect("test JSON")
    }

    pub fn def(code: &str, kind: ParamKind, expr: &str) -> ParamDef {
        ParamDef {
            code: code.to_owned(),
            url: format!("http://example.org/SearchParameter/{code}"),
            kind,
            expression: Some(Expression::compile(expr).expect("test expression")),
            targets: Vec::new(),
            components: Vec::new(),
            code_system: None,
        }
    }

    pub fn registry(ty: &str, defs: Vec<ParamDef>) -> ParamRegistry {
        let params = defs
            .into_iter()
            .map(|d| (d.code.clone(), Arc::new(d)))
            .collect::<HashMap<_, _>>();
        ParamRegistry::new(HashMap::from([(ty.to_owned(), params)]))
    }

    /// Extracts one parameter of `kind` with `expr` from `resource`.
    pub fn one(kind: ParamKind, expr: &str, resource: &str) -> IndexEntries {
        let res = json(resource);
        let ty = match &res {
            Json::Object(m) => m
                .iter()
                .find_map(|(k, v)| match (k.as_str(), v) {
                    ("resourceType", Json::String(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        extract(&registry(&ty, vec![def("p", kind, expr)]), &ty, &res)
    }

    fn code_value_quantity() -> ParamDef {
        let mut d = def(
            "code-value-quantity",
            ParamKind::Composite,
            "Observation | Observation.component",
        );
        d.components = vec![
            Component {
                kind: ParamKind::Token,
                expression: Expression::compile("code").expect("code"),
            },
            Component {
                kind: ParamKind::Quantity,
                expression: Expression::compile("value.as(Quantity)").expect("value"),
            },
        ];
        d
    }

    const BP: &str = r#"{"resourceType":"Observation","status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
        "component":[
          {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
           "valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
          {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},
           "valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}
        ]}"#;

    #[test]
    fn composite_groups_components_per_item() {
        let reg = registry("Observation", vec![code_value_quantity()]);
        let out = extract(&reg, "Observation", &json(BP));
        let tokens: Vec<(&str, i32, Option<&str>)> = out
            .tokens
            .iter()
            .map(|t| (t.param.as_str(), t.group, t.code.as_deref()))
            .collect();
        assert_eq!(
            tokens,
            vec![
                ("code-value-quantity#0", 1, Some("85354-9")),
                ("code-value-quantity#0", 2, Some("8480-6")),
                ("code-value-quantity#0", 3, Some("8462-4")),
            ]
        );
        let q: Vec<(&str, i32, f64)> = out
            .quantities
            .iter()
            .map(|q| (q.param.as_str(), q.group, q.value))
            .collect();
        // The panel itself has no value: group 1 has only its code.
        assert_eq!(
            q,
            vec![
                ("code-value-quantity#1", 2, 120.0),
                ("code-value-quantity#1", 3, 80.0)
            ]
        );
        let QuantityEntry { canonical_code, .. } = &out.quantities[0];
        assert_eq!(canonical_code.as_deref(), Some("m[Hg]"));
        assert!(out.strings.is_empty() && out.dates.is_empty());
    }

    #[test]
    fn several_params_and_groups_zero() {
        let reg = registry(
            "Observation",
            vec![
                def("code", ParamKind::Token, "Observation.code"),
                def(
                    "component-code",
                    ParamKind::Token,
                    "Observation.component.code",
                ),
                def("status", ParamKind::Token, "Observation.status"),
                def("_content", ParamKind::Special, "Observation"),
                ParamDef {
                    expression: None,
                    ..def("_text", ParamKind::String, "Observation")
                },
                code_value_quantity(),
            ],
        );
        let out = extract(&reg, "Observation", &json(BP));
        let plain: Vec<&TokenEntry> = out.tokens.iter().filter(|t| t.group == 0).collect();
        assert_eq!(plain.len(), 4);
        assert!(plain.iter().any(|t| t.param == "status"
            && t.code.as_deref() == Some("final")
            && t.system.is_none()));
        assert_eq!(out.tokens.len(), 7);
        // Unknown type: nothing.
        assert!(extract(&reg, "Patient", &json(BP)).is_empty());
    }

    #[test]
    fn evaluation_errors_skip_the_parameter() {
        // `single()` on two items is an evaluation error.
        let reg = registry(
            "Observation",
            vec![
                def(
                    "bad",
                    ParamKind::Token,
                    "Observation.component.code.single()",
                ),
                def("code", ParamKind::Token, "Observation.code"),
            ],
        );
        let out = extract(&reg, "Observation", &json(BP));
        assert_eq!(out.tokens.len(), 1);
        assert_eq!(out.tokens[0].param, "code");
    }

    #[test]
    fn duplicates_are_removed() {
        let out = one(
            ParamKind::Token,
            "Patient.identifier | Patient.identifier",
            r#"{"resourceType":"Patient","identifier":[
                {"system":"urn:s","value":"1"},{"system":"urn:s","value":"1"}]}"#,
        );
        assert_eq!(out.tokens.len(), 1);
    }

    #[test]
    fn hostile_resources_yield_what_can_be_read() {
        let defs = vec![
            def("birthdate", ParamKind::Date, "Patient.birthDate"),
            def("name", ParamKind::String, "Patient.name"),
            def("family", ParamKind::String, "Patient.name.family"),
            def("identifier", ParamKind::Token, "Patient.identifier"),
            def("telecom", ParamKind::Token, "Patient.telecom"),
            def("gp", ParamKind::Reference, "Patient.generalPractitioner"),
            def("mb", ParamKind::Number, "Patient.multipleBirth"),
            def("q", ParamKind::Quantity, "Patient.extension.value"),
            def("u", ParamKind::Uri, "Patient.implicitRules"),
            def("d2", ParamKind::Date, "Patient.extension.value"),
        ];
        let reg = registry("Patient", defs);
        let res = json(
            r#"{"resourceType":"Patient","birthDate":5,"implicitRules":{"a":1},
            "name":[{"family":["x"],"given":[1,null,{"a":"b"}]},"oops",null],
            "identifier":[{"system":7,"value":{"x":1},"type":"MR"}],
            "telecom":[{"value":[]}],
            "generalPractitioner":[{"reference":"Practitioner/"},{"reference":"/"},
              {"reference":"Patient/../../etc"},{"reference":"Patient/a/_history/"},
              {"identifier":"x"}],
            "multipleBirthInteger":99999999999999999999999999,
            "extension":[{"url":"u","valueQuantity":{"value":"NaN","code":"mg"}},
              {"url":"u","valueDateTime":"2013-02-29"},
              {"url":"u","valuePeriod":{"start":"2013-01-01","end":"not a date"}},
              {"url":"u","valueDecimal":1e999}]}"#,
        );
        let out = extract(&reg, "Patient", &res);
        // Only the numbers survive: the integer is large but exact, and
        // 1e999 (beyond f64) is kept by its exact key.
        assert!(out.dates.is_empty(), "{:?}", out.dates);
        assert!(out.tokens.is_empty(), "{:?}", out.tokens);
        assert!(out.uris.is_empty());
        let keys: Vec<Option<&str>> = out.quantities.iter().map(|q| q.key.as_deref()).collect();
        let huge = crate::search::decimal_key::key_range("1e999").map(|k| k.value);
        assert_eq!(keys, vec![huge.as_deref()]);
        assert_eq!(out.numbers.len(), 1);
        let urls: Vec<Option<&str>> = out.references.iter().map(|r| r.url.as_deref()).collect();
        assert_eq!(
            urls,
            vec![
                Some("Practitioner/"),
                Some("/"),
                Some("Patient/../../etc"),
                Some("Patient/a/_history/")
            ]
        );
        assert!(out.references.iter().all(|r| r.target_id.is_none()));
    }

    #[test]
    fn integers() {
        let out = one(
            ParamKind::Number,
            "Patient.multipleBirth",
            r#"{"resourceType":"Patient","multipleBirthInteger":2}"#,
        );
        let n: Vec<(f64, f64, f64)> = out.numbers.iter().map(|n| (n.value, n.lo, n.hi)).collect();
        assert_eq!(n, vec![(2.0, 1.5, 2.5)]);
    }

    #[test]
    fn common_parameters() {
        let reg = registry(
            "Patient",
            vec![
                def("_id", ParamKind::Token, "Resource.id"),
                def("_lastUpdated", ParamKind::Date, "Resource.meta.lastUpdated"),
                def("_tag", ParamKind::Token, "Resource.meta.tag"),
                def("_profile", ParamKind::Reference, "Resource.meta.profile"),
                def("_source", ParamKind::Uri, "Resource.meta.source"),
                def(
                    "deceased",
                    ParamKind::Token,
                    "Patient.deceased.exists() and Patient.deceased != false",
                ),
            ],
        );
        let res = json(
            r#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"1",
            "lastUpdated":"2020-01-01T00:00:00.000Z","source":"urn:src",
            "profile":["http://example.org/StructureDefinition/p|1"],
            "tag":[{"system":"urn:t","code":"x"}]},"deceasedDateTime":"2019"}"#,
        );
        let out = extract(&reg, "Patient", &res);
        let tokens: Vec<(&str, Option<&str>, Option<&str>)> = out
            .tokens
            .iter()
            .map(|t| (t.param.as_str(), t.system.as_deref(), t.code.as_deref()))
            .collect();
        assert_eq!(
            tokens,
            vec![
                ("_id", None, Some("p1")),
                ("_tag", Some("urn:t"), Some("x")),
                ("deceased", None, Some("true")),
            ]
        );
        assert_eq!(out.dates.len(), 1);
        assert_eq!(out.dates[0].lo, 1_577_836_800_000);
        assert_eq!(out.dates[0].hi, 1_577_836_800_000);
        assert_eq!(
            out.references[0].url.as_deref(),
            Some("http://example.org/StructureDefinition/p")
        );
        assert_eq!(out.references[0].url_version.as_deref(), Some("1"));
        assert_eq!(out.uris[0].uri, "urn:src");
    }
}
