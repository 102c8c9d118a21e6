//! Writing the generated types as compact FHIR JSON.
//!
//! Output goes straight into a byte buffer: no intermediate `Value`, and
//! element order is the order of the StructureDefinition, which is the
//! order the specification's own examples use.

use crate::json::Primitive;
use crate::primitives::*;
use crate::resource::Resource;

/// Appends JSON to a buffer, tracking only whether a comma is due: every
/// value is finished before its parent goes on, so one flag is enough.
pub struct JsonWriter {
    buf: Vec<u8>,
    first: bool,
}

impl Default for JsonWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonWriter {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(1024),
            first: true,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn comma(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    pub fn begin_object(&mut self) {
        self.buf.push(b'{');
        self.first = true;
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.first = false;
    }

    pub fn begin_array(&mut self) {
        self.buf.push(b'[');
        self.first = true;
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.first = false;
    }

    /// Starts an array item.
    pub fn item(&mut self) {
        self.comma();
    }

    /// Writes `"prefix suffix":`. Element names are ASCII identifiers, so
    /// they need no escaping.
    pub fn key(&mut self, prefix: &str, suffix: &str) {
        self.comma();
        self.buf.push(b'"');
        self.buf.extend_from_slice(prefix.as_bytes());
        self.buf.extend_from_slice(suffix.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Writes `"_prefix suffix":`, the key of a primitive's extension part.
    fn ext_key(&mut self, prefix: &str, suffix: &str) {
        self.comma();
        self.buf.extend_from_slice(b"\"_");
        self.buf.extend_from_slice(prefix.as_bytes());
        self.buf.extend_from_slice(suffix.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub fn string(&mut self, s: &str) {
        self.buf.reserve(s.len() + 2);
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f => {
                    self.buf.extend_from_slice(&bytes[start..i]);
                    self.buf.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                    start = i + 1;
                    continue;
                }
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            self.buf.extend_from_slice(esc);
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }

    /// Number text that is already valid JSON.
    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }
}

/// A complex type or backbone element written as a JSON object.
pub trait ToJson {
    fn write_json(&self, w: &mut JsonWriter);
}

/// A primitive value written as its JSON scalar.
pub trait WritePrimitive {
    fn write_value(&self, w: &mut JsonWriter);
}

impl WritePrimitive for bool {
    fn write_value(&self, w: &mut JsonWriter) {
        w.raw(if *self { "true" } else { "false" });
    }
}

impl WritePrimitive for i32 {
    fn write_value(&self, w: &mut JsonWriter) {
        w.raw(&self.to_string());
    }
}

impl WritePrimitive for PositiveInt {
    fn write_value(&self, w: &mut JsonWriter) {
        w.raw(&self.get().to_string());
    }
}

impl WritePrimitive for UnsignedInt {
    fn write_value(&self, w: &mut JsonWriter) {
        w.raw(&self.get().to_string());
    }
}

impl WritePrimitive for Decimal {
    fn write_value(&self, w: &mut JsonWriter) {
        w.raw(self.as_str());
    }
}

impl WritePrimitive for String {
    fn write_value(&self, w: &mut JsonWriter) {
        w.string(self);
    }
}

macro_rules! string_primitive {
    ($($t:ident),*) => {$(
        impl WritePrimitive for $t {
            fn write_value(&self, w: &mut JsonWriter) {
                w.string(self.as_str());
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
    Markdown,
    Xhtml
);

fn write_ext_part<T>(p: &Primitive<T>, w: &mut JsonWriter) {
    w.begin_object();
    if let Some(id) = &p.id {
        w.key("id", "");
        w.string(id);
    }
    many(w, "extension", &p.extension);
    w.end_object();
}

pub fn single<T: ToJson>(w: &mut JsonWriter, key: &str, v: &Option<Box<T>>) {
    if let Some(v) = v {
        w.key(key, "");
        v.write_json(w);
    }
}

pub fn many<T: ToJson>(w: &mut JsonWriter, key: &str, v: &[T]) {
    if v.is_empty() {
        return;
    }
    w.key(key, "");
    w.begin_array();
    for item in v {
        w.item();
        item.write_json(w);
    }
    w.end_array();
}

pub fn resource_single(w: &mut JsonWriter, key: &str, v: &Option<Resource>) {
    if let Some(r) = v {
        w.key(key, "");
        r.write_json(w);
    }
}

pub fn resource_many(w: &mut JsonWriter, key: &str, v: &[Resource]) {
    if v.is_empty() {
        return;
    }
    w.key(key, "");
    w.begin_array();
    for r in v {
        w.item();
        r.write_json(w);
    }
    w.end_array();
}

pub fn plain_string(w: &mut JsonWriter, key: &str, v: &Option<String>) {
    if let Some(s) = v {
        w.key(key, "");
        w.string(s);
    }
}

pub fn resource_id(w: &mut JsonWriter, key: &str, v: &Option<Id>) {
    if let Some(id) = v {
        w.key(key, "");
        w.string(id.as_str());
    }
}

/// Both properties of a single primitive: `"name": value` and
/// `"_name": {…}`, each only when it has content. The key is split in two
/// so that choice elements (`value` + `Quantity`) need no allocation.
pub fn prim_parts<T: WritePrimitive>(
    w: &mut JsonWriter,
    prefix: &str,
    suffix: &str,
    p: &Primitive<T>,
) {
    if let Some(v) = &p.value {
        w.key(prefix, suffix);
        v.write_value(w);
    }
    if p.has_extension_part() {
        w.ext_key(prefix, suffix);
        write_ext_part(p, w);
    }
}

pub fn prim<T: WritePrimitive>(w: &mut JsonWriter, key: &str, v: &Option<Primitive<T>>) {
    if let Some(p) = v {
        prim_parts(w, key, "", p);
    }
}

/// A repeating primitive: the value array with `null` where an item has
/// only extensions, and the `_name` array, with `null` where an item has
/// none, only when some item has any.
pub fn prim_many<T: WritePrimitive>(w: &mut JsonWriter, key: &str, v: &[Primitive<T>]) {
    if v.is_empty() {
        return;
    }
    if v.iter().any(|p| p.value.is_some()) {
        w.key(key, "");
        w.begin_array();
        for p in v {
            w.item();
            match &p.value {
                Some(x) => x.write_value(w),
                None => w.null(),
            }
        }
        w.end_array();
    }
    if v.iter().any(Primitive::has_extension_part) {
        w.ext_key(key, "");
        w.begin_array();
        for p in v {
            w.item();
            if p.has_extension_part() {
                write_ext_part(p, w);
            } else {
                w.null();
            }
        }
        w.end_array();
    }
}
