//! `CodeSystem/$lookup` (codesystem-operation-lookup.html): `code` +
//! `system` (+ `version`), or `coding`; at instance level the system is
//! the stored CodeSystem. Answers `name`, `version`, `display`,
//! `designation` (language, use, value) and `property` (code, value;
//! `parent` and `child` as code-valued properties, `inactive` when so).

use serde_json::{json, Value};
use terminology::{Designation, PropertyValue, Registry};

use super::{coding_fields, instance_url, missing, parameters, Params, Target};
use crate::error::Error;

pub fn answer(registry: &Registry, params: &Params, target: &Target) -> Result<Value, Error> {
    let (mut system, mut version, mut code) = (
        params.str("system"),
        params.str("version"),
        params.str("code"),
    );
    if let Some(c) = params.complex("coding", "valueCoding") {
        let (s, v, k, _) = coding_fields(c);
        system = system.or(s);
        version = version.or(v);
        code = code.or(k);
    }
    if let Target::Instance(body) = target {
        let (url, v) = instance_url(body)?;
        system = Some(url);
        version = version.or(v);
    }
    let system = system.ok_or_else(|| missing("$lookup needs a system (or a coding)"))?;
    let code = code.ok_or_else(|| missing("$lookup needs a code (or a coding)"))?;
    let properties = params.strs("property");
    let props: Vec<&str> = properties.iter().map(String::as_str).collect();
    let display_language = params.str("displayLanguage");
    let l = registry.lookup(
        &system,
        &code,
        version.as_deref(),
        &props,
        display_language.as_deref(),
    )?;
    let mut out = vec![json!({"name": "name", "valueString": l.name})];
    if let Some(v) = l.version {
        out.push(json!({"name": "version", "valueString": v}));
    }
    if let Some(d) = l.display {
        out.push(json!({"name": "display", "valueString": d}));
    }
    for d in &l.designations {
        out.push(designation(d));
    }
    for p in &l.properties {
        out.push(json!({"name": "property", "part": [
            {"name": "code", "valueCode": p.code},
            property_value(&p.value),
        ]}));
    }
    for (name, codes) in [("parent", &l.parents), ("child", &l.children)] {
        for c in codes {
            out.push(json!({"name": "property", "part": [
                {"name": "code", "valueCode": name},
                {"name": "value", "valueCode": c},
            ]}));
        }
    }
    if l.inactive {
        out.push(json!({"name": "property", "part": [
            {"name": "code", "valueCode": "inactive"},
            {"name": "value", "valueBoolean": true},
        ]}));
    }
    if let Some(def) = l.definition {
        out.push(json!({"name": "property", "part": [
            {"name": "code", "valueCode": "definition"},
            {"name": "value", "valueString": def},
        ]}));
    }
    Ok(parameters(out))
}

/// `designation` with its parts.
pub fn designation(d: &Designation) -> Value {
    let mut parts = Vec::new();
    if let Some(l) = &d.language {
        parts.push(json!({"name": "language", "valueCode": l}));
    }
    if let Some(u) = &d.use_ {
        parts.push(json!({"name": "use", "valueCoding": coding(u)}));
    }
    parts.push(json!({"name": "value", "valueString": d.value}));
    json!({"name": "designation", "part": parts})
}

/// A `Coding` as JSON.
pub fn coding(c: &terminology::Coding) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("system", &c.system),
        ("version", &c.version),
        ("code", &c.code),
        ("display", &c.display),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

fn property_value(v: &PropertyValue) -> Value {
    match v {
        PropertyValue::Code(s) => json!({"name": "value", "valueCode": s}),
        PropertyValue::String(s) => json!({"name": "value", "valueString": s}),
        PropertyValue::DateTime(s) => json!({"name": "value", "valueDateTime": s}),
        PropertyValue::Integer(i) => json!({"name": "value", "valueInteger": i}),
        PropertyValue::Boolean(b) => json!({"name": "value", "valueBoolean": b}),
        PropertyValue::Coding(c) => json!({"name": "value", "valueCoding": coding(c)}),
        PropertyValue::Decimal(s) => {
            // Keep the exact decimal text (serde_json is arbitrary_precision).
            let n: Value = serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()));
            json!({"name": "value", "valueDecimal": n})
        }
    }
}
