//! Printing the JSON tree of a valid resource as FHIR XML.

use crate::json::tree::{Map, Value};
use crate::meta::{type_info, ElementInfo, Kind, TypeInfo};

use super::{is_attribute, is_primitive, type_suffix, FHIR_NS};

/// The XML of a resource given as its JSON tree. The tree must be one the
/// model wrote (valid, all names known); properties the type tables do not
/// know are left out.
pub fn write(resource: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    if let Value::Object(map) = resource {
        write_resource(&mut out, map, true);
    }
    out
}

fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn write_resource(out: &mut Vec<u8>, map: &Map, root: bool) {
    let Some(Value::String(name)) = get(map, "resourceType") else {
        return;
    };
    let Some(info) = type_info(name) else { return };
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    if root {
        out.extend_from_slice(b" xmlns=\"");
        out.extend_from_slice(FHIR_NS.as_bytes());
        out.push(b'"');
    }
    out.push(b'>');
    write_children(out, info, map);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// The elements of `map` in the order `info` defines.
fn write_children(out: &mut Vec<u8>, info: &TypeInfo, map: &Map) {
    let is_resource = info.kind == Kind::Resource;
    for el in info.elements {
        if is_attribute(is_resource, info.name, el.name) {
            continue;
        }
        if el.choice {
            for t in el.types {
                let name = format!("{}{}", el.name, type_suffix(t));
                write_element(out, el, t, &name, map);
            }
        } else if let Some(t) = el.types.first() {
            write_element(out, el, t, el.name, map);
        }
    }
}

fn write_element(out: &mut Vec<u8>, el: &ElementInfo, type_code: &str, name: &str, map: &Map) {
    let value = get(map, name);
    let ext = if is_primitive(type_code) {
        get(map, &format!("_{name}"))
    } else {
        None
    };
    if value.is_none() && ext.is_none() {
        return;
    }
    if el.many {
        let values = match value {
            Some(Value::Array(a)) => a.as_slice(),
            _ => &[],
        };
        let exts = match ext {
            Some(Value::Array(a)) => a.as_slice(),
            _ => &[],
        };
        for i in 0..values.len().max(exts.len()) {
            write_one(out, type_code, name, values.get(i), exts.get(i));
        }
    } else {
        write_one(out, type_code, name, value, ext);
    }
}

fn write_one(
    out: &mut Vec<u8>,
    type_code: &str,
    name: &str,
    value: Option<&Value>,
    ext: Option<&Value>,
) {
    let value = value.filter(|v| !v.is_null());
    let ext = match ext {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    };
    if type_code == "xhtml" {
        // The narrative is XHTML markup already; JSON carries it as text.
        if let Some(Value::String(div)) = value {
            out.extend_from_slice(div.as_bytes());
        }
        return;
    }
    if type_code == "Resource" {
        if let Some(Value::Object(m)) = value {
            open(out, name);
            out.push(b'>');
            write_resource(out, m, false);
            close(out, name);
        }
        return;
    }
    if is_primitive(type_code) {
        open(out, name);
        if let Some(Value::String(id)) = ext.and_then(|m| get(m, "id")) {
            attribute(out, "id", id);
        }
        match value {
            Some(Value::String(s)) => attribute(out, "value", s),
            Some(Value::Number(n)) => attribute(out, "value", n),
            Some(Value::Bool(b)) => attribute(out, "value", if *b { "true" } else { "false" }),
            _ => {}
        }
        match ext.and_then(|m| get(m, "extension")) {
            Some(Value::Array(items)) => {
                out.push(b'>');
                for item in items {
                    write_one(out, "Extension", "extension", Some(item), None);
                }
                close(out, name);
            }
            _ => out.extend_from_slice(b"/>"),
        }
        return;
    }
    let (Some(Value::Object(m)), Some(info)) = (value, type_info(type_code)) else {
        return;
    };
    open(out, name);
    for attr in ["id", "url"] {
        if is_attribute(false, info.name, attr) {
            if let Some(Value::String(s)) = get(m, attr) {
                attribute(out, attr, s);
            }
        }
    }
    let start = out.len();
    out.push(b'>');
    write_children(out, info, m);
    if out.len() == start + 1 {
        // No child elements: `<name id="x"/>`.
        out.truncate(start);
        out.extend_from_slice(b"/>");
    } else {
        close(out, name);
    }
}

fn open(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
}

fn close(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// ` name="value"`, escaped so that a parser gives back exactly `value`:
/// white space other than the space is written as character references,
/// since attribute-value normalisation would turn it into spaces.
fn attribute(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    for &b in value.as_bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
