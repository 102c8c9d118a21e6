//! Printing the JSON tree of a valid resource as FHIR XML.

use crate::json::tree::{Map, Value};
use crate::meta::{type_info, ElementInfo, Kind, TypeInfo};

use super::{is_attribute, is_primitive, type_suffix, FHIR_NS};

/// The XML of a resource given as its JSON tree. The tree must be one the
/// model wrote (valid, all names known); properties the type tables do not
/// know are left out. `pretty` indents elements by two spaces; the narrative
/// is never reindented, since white space inside XHTML is content.
pub fn write(resource: &Value, pretty: bool) -> Vec<u8> {
    let mut w = Out {
        buf: Vec::with_capacity(4096),
        pretty,
        depth: 0,
    };
    w.buf
        .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    if let Value::Object(map) = resource {
        write_resource(&mut w, map, true);
    }
    if pretty {
        w.buf.push(b'\n');
    }
    w.buf
}

/// The output and, for pretty printing, the depth of the next element.
struct Out {
    buf: Vec<u8>,
    pretty: bool,
    depth: usize,
}

impl Out {
    fn push(&mut self, b: u8) {
        self.buf.push(b);
    }

    fn extend_from_slice(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn truncate(&mut self, n: usize) {
        self.buf.truncate(n);
    }

    fn newline(&mut self) {
        if self.pretty {
            self.buf.push(b'\n');
            for _ in 0..self.depth {
                self.buf.extend_from_slice(b"  ");
            }
        }
    }
}

fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn write_resource(out: &mut Out, map: &Map, root: bool) {
    let Some(Value::String(name)) = get(map, "resourceType") else {
        return;
    };
    let Some(info) = type_info(name) else { return };
    open(out, name);
    if root {
        out.extend_from_slice(b" xmlns=\"");
        out.extend_from_slice(FHIR_NS.as_bytes());
        out.push(b'"');
    }
    out.push(b'>');
    nested(out, |out| write_children(out, info, map));
    close(out, name);
}

/// Writes an element's content one level deeper.
fn nested(out: &mut Out, f: impl FnOnce(&mut Out)) {
    out.depth += 1;
    f(out);
    out.depth -= 1;
}

/// The elements of `map` in the order `info` defines.
fn write_children(out: &mut Out, info: &TypeInfo, map: &Map) {
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

fn write_element(out: &mut Out, el: &ElementInfo, type_code: &str, name: &str, map: &Map) {
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
    out: &mut Out,
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
            out.newline();
            out.extend_from_slice(div.as_bytes());
        }
        return;
    }
    if type_code == "Resource" {
        if let Some(Value::Object(m)) = value {
            open(out, name);
            out.push(b'>');
            nested(out, |out| write_resource(out, m, false));
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
                nested(out, |out| {
                    for item in items {
                        write_one(out, "Extension", "extension", Some(item), None);
                    }
                });
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
    nested(out, |out| write_children(out, info, m));
    if out.len() == start + 1 {
        // No child elements: `<name id="x"/>`.
        out.truncate(start);
        out.extend_from_slice(b"/>");
    } else {
        close(out, name);
    }
}

fn open(out: &mut Out, name: &str) {
    out.newline();
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
}

fn close(out: &mut Out, name: &str) {
    out.newline();
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// ` name="value"`, escaped so that a parser gives back exactly `value`:
/// white space other than the space is written as character references,
/// since attribute-value normalisation would turn it into spaces.
fn attribute(out: &mut Out, name: &str, value: &str) {
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
