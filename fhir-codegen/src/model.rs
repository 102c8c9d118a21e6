//! The part of the StructureDefinitions the generator needs: for every
//! resource and data type, its elements in order, each with a JSON name,
//! a cardinality and a type.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// The FHIR version whose definitions we generate. The package also holds a
/// few later definitions (e.g. `SubscriptionStatus`, 4.3.0); they are not R4.
const FHIR_VERSION: &str = "4.0.1";

/// The primitive types and the Rust type that holds each value.
pub const PRIMITIVES: &[(&str, &str)] = &[
    ("base64Binary", "Base64Binary"),
    ("boolean", "bool"),
    ("canonical", "Canonical"),
    ("code", "Code"),
    ("date", "Date"),
    ("dateTime", "DateTime"),
    ("decimal", "Decimal"),
    ("id", "Id"),
    ("instant", "Instant"),
    ("integer", "i32"),
    ("markdown", "Markdown"),
    ("oid", "Oid"),
    ("positiveInt", "PositiveInt"),
    ("string", "String"),
    ("time", "Time"),
    ("unsignedInt", "UnsignedInt"),
    ("uri", "Uri"),
    ("url", "Url"),
    ("uuid", "Uuid"),
    ("xhtml", "Xhtml"),
];

const SYSTEM_STRING: &str = "http://hl7.org/fhirpath/System.String";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A primitive; holds the Rust value type.
    Primitive(&'static str),
    /// A complex data type or backbone element; holds the Rust struct name.
    Complex(String),
    /// Any resource (`contained`, `Bundle.entry.resource`, …).
    Resource,
    /// `Resource.id`: an `id` that takes no extensions.
    ResourceId,
    /// `Element.id` and `Extension.url`: strings that take no extensions.
    PlainString,
    /// A choice element; holds the Rust enum name.
    Choice(String),
}

#[derive(Debug, Clone)]
pub struct Field {
    /// The JSON property name (for a choice, the name without `[x]`).
    pub json: String,
    pub rust: String,
    pub many: bool,
    pub ty: Ty,
    pub doc: String,
    /// `isSummary`: kept by `_summary=true` (search.html#summary).
    pub summary: bool,
    /// `min > 0`: kept by every `_summary` and `_elements` subset.
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct Struct {
    pub name: String,
    /// The element path (`Patient.contact`), or the type name.
    pub path: String,
    pub doc: String,
    /// Set for resources: the `resourceType` to write.
    pub resource: bool,
    /// The FHIR type this one specializes: the last part of
    /// `baseDefinition` for a type, `BackboneElement` or `Element` for a
    /// backbone element.
    pub base: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct Variant {
    /// The FHIR type code (`dateTime`).
    pub code: String,
    /// The suffix of the JSON name and the variant name (`DateTime`).
    pub suffix: String,
    pub ty: Ty,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub name: String,
    pub doc: String,
    pub variants: Vec<Variant>,
}

/// One generated file: a resource or data type with its backbone elements
/// and the choice enums first used by it.
#[derive(Debug, Clone)]
pub struct Unit {
    pub module: String,
    pub structs: Vec<Struct>,
    pub choices: Vec<Choice>,
}

#[derive(Debug, Default)]
pub struct Model {
    pub types: Vec<Unit>,
    pub resources: Vec<Unit>,
    /// `AnyValue`, the open choice, in a file of its own: it belongs to no
    /// one type.
    pub any_value: Option<Choice>,
    /// Names of all resources, sorted.
    pub resource_names: Vec<String>,
}

pub fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

fn field_name(json: &str) -> String {
    let s = snake(json);
    if KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// `Patient.contact.name` → `PatientContactName`.
fn struct_name(path: &str) -> String {
    path.split('.').map(upper_first).collect()
}

fn primitive(code: &str) -> Option<&'static str> {
    PRIMITIVES.iter().find(|(c, _)| *c == code).map(|(_, r)| *r)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Def<'a> {
    name: String,
    sd: &'a Value,
    resource: bool,
}

impl Model {
    pub fn build(defs: &[Value]) -> Result<Model, String> {
        let mut selected: Vec<Def> = defs
            .iter()
            .filter(|sd| {
                str_of(sd, "derivation") == "specialization"
                    && !sd.get("abstract").and_then(Value::as_bool).unwrap_or(false)
                    && str_of(sd, "fhirVersion") == FHIR_VERSION
                    && matches!(str_of(sd, "kind"), "resource" | "complex-type")
            })
            .map(|sd| Def {
                name: str_of(sd, "type").to_owned(),
                sd,
                resource: str_of(sd, "kind") == "resource",
            })
            .collect();
        selected.sort_by(|a, b| a.name.cmp(&b.name));

        let resource_names: Vec<String> = selected
            .iter()
            .filter(|d| d.resource)
            .map(|d| d.name.clone())
            .collect();
        let mut model = Model {
            resource_names,
            ..Default::default()
        };
        // Choice enums are shared by every element with the same type list.
        let mut choices: HashMap<Vec<String>, String> = HashMap::new();
        let mut struct_names: BTreeMap<String, String> = BTreeMap::new();

        for def in &selected {
            let unit = build_unit(def, &model.resource_names, &mut choices)?;
            for s in &unit.structs {
                if let Some(prev) = struct_names.insert(s.name.clone(), s.path.clone()) {
                    return Err(format!(
                        "struct name {} used by {prev} and {}",
                        s.name, s.path
                    ));
                }
            }
            let mut unit = unit;
            if let Some(at) = unit.choices.iter().position(|c| c.name == "AnyValue") {
                model.any_value = Some(unit.choices.remove(at));
            }
            if def.resource {
                model.resources.push(unit);
            } else {
                model.types.push(unit);
            }
        }
        Ok(model)
    }
}

fn build_unit(
    def: &Def,
    resources: &[String],
    choices: &mut HashMap<Vec<String>, String>,
) -> Result<Unit, String> {
    let elements = def
        .sd
        .pointer("/snapshot/element")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{} has no snapshot", def.name))?;
    let mut unit = Unit {
        module: snake(&def.name),
        structs: Vec::new(),
        choices: Vec::new(),
    };
    // Structs by path, in the order their elements appear.
    let mut order: Vec<String> = Vec::new();
    let mut structs: HashMap<String, Struct> = HashMap::new();
    let root_doc = one_line(str_of(def.sd, "description"));
    order.push(def.name.clone());
    structs.insert(
        def.name.clone(),
        Struct {
            name: def.name.clone(),
            path: def.name.clone(),
            doc: root_doc,
            resource: def.resource,
            base: str_of(def.sd, "baseDefinition")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            fields: Vec::new(),
        },
    );

    for e in elements {
        let path = str_of(e, "path");
        let Some((parent, last)) = path.rsplit_once('.') else {
            continue;
        };
        if str_of(e, "max") == "0" {
            continue;
        }
        let many = str_of(e, "max") != "1";
        let doc = one_line(str_of(e, "short"));
        let codes: Vec<String> = e
            .get("type")
            .and_then(Value::as_array)
            .map(|ts| ts.iter().map(|t| str_of(t, "code").to_owned()).collect())
            .unwrap_or_default();

        let (json, ty) = if let Some(r) = e.get("contentReference").and_then(Value::as_str) {
            let target = r.trim_start_matches('#');
            (last.to_owned(), Ty::Complex(struct_name(target)))
        } else if let Some(base) = last.strip_suffix("[x]") {
            let key = codes.clone();
            let name = match choices.get(&key) {
                Some(n) => n.clone(),
                None => {
                    let name = if codes.len() >= 40 {
                        "AnyValue".to_owned()
                    } else {
                        struct_name(parent) + &upper_first(base)
                    };
                    let mut variants = Vec::new();
                    for code in &codes {
                        variants.push(Variant {
                            code: code.clone(),
                            suffix: upper_first(code),
                            ty: element_type(code, path, &def.name, resources)?,
                        });
                    }
                    let doc = if name == "AnyValue" {
                        "Any data type: the open choice of `Extension.value[x]`, \
                         `Parameters.parameter.value[x]` and the like."
                            .to_owned()
                    } else {
                        format!("The types of `{path}`.")
                    };
                    unit.choices.push(Choice {
                        name: name.clone(),
                        doc,
                        variants,
                    });
                    choices.insert(key, name.clone());
                    name
                }
            };
            (base.to_owned(), Ty::Choice(name))
        } else {
            let [code] = codes.as_slice() else {
                return Err(format!("{path}: expected one type, found {codes:?}"));
            };
            let ty = if code == "BackboneElement" || code == "Element" {
                let name = struct_name(path);
                order.push(path.to_owned());
                structs.insert(
                    path.to_owned(),
                    Struct {
                        name: name.clone(),
                        path: path.to_owned(),
                        doc: one_line(str_of(e, "short")),
                        resource: false,
                        base: code.clone(),
                        fields: Vec::new(),
                    },
                );
                Ty::Complex(name)
            } else if code == SYSTEM_STRING {
                if def.resource && parent == def.name && last == "id" {
                    Ty::ResourceId
                } else {
                    Ty::PlainString
                }
            } else {
                element_type(code, path, &def.name, resources)?
            };
            (last.to_owned(), ty)
        };
        let field = Field {
            rust: field_name(&json),
            json,
            many,
            ty,
            doc,
            summary: e.get("isSummary").and_then(Value::as_bool).unwrap_or(false),
            required: e.get("min").and_then(Value::as_u64).unwrap_or(0) > 0,
        };
        structs
            .get_mut(parent)
            .ok_or_else(|| format!("{path}: parent {parent} is not a struct"))?
            .fields
            .push(field);
    }
    for path in order {
        if let Some(s) = structs.remove(&path) {
            unit.structs.push(s);
        }
    }
    Ok(unit)
}

fn element_type(code: &str, path: &str, owner: &str, resources: &[String]) -> Result<Ty, String> {
    if let Some(p) = primitive(code) {
        Ok(Ty::Primitive(p))
    } else if code == "Resource" || resources.iter().any(|r| r == code) {
        Ok(Ty::Resource)
    } else if code.starts_with(char::is_uppercase) && !code.contains('/') {
        Ok(Ty::Complex(code.to_owned()))
    } else {
        Err(format!("{owner}: {path} has unknown type {code}"))
    }
}
