//! A JSON tree that keeps every number exactly as written.
//!
//! FHIR decimals carry their precision in their text (`1.50` is not `1.5`)
//! and must come back as they were sent, exponent form included. serde_json
//! rewrites exponents even with `arbitrary_precision` (`1.0e2` becomes
//! `1.0e+2`), so the reader is jiter, which hands over a number's bytes
//! untouched. Objects keep document order, so issues are reported in the
//! order a reader of the document meets them.

use jiter::{Jiter, JiterError, Peek};

/// Properties in document order. Objects in FHIR are small, so a vector
/// beats a map for both building and the one pass that reads it.
pub type Map = Vec<(String, Value)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's exact JSON text.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }
}

/// Removes and returns the property `key`.
pub fn take(map: &mut Map, key: &str) -> Option<Value> {
    let at = map.iter().position(|(k, _)| k == key)?;
    Some(map.remove(at).1)
}

/// Why the bytes are not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

/// Deeper than this is an attack, not a resource; stopping here keeps the
/// recursion far from the end of the stack.
const MAX_DEPTH: usize = 200;

pub fn parse(bytes: &[u8]) -> Result<Value, SyntaxError> {
    let mut j = Jiter::new(bytes);
    let result = j
        .peek()
        .map_err(ReadError::from)
        .and_then(|peek| read(&mut j, peek, 0))
        .and_then(|v| j.finish().map(|()| v).map_err(ReadError::from));
    result.map_err(|e| {
        let (message, index) = match e {
            ReadError::Jiter(e) => (e.error_type.to_string(), e.index),
            ReadError::Own { message, index } => (message, index),
        };
        let pos = j.error_position(index);
        SyntaxError {
            message,
            line: pos.line,
            column: pos.column,
        }
    })
}

/// jiter's errors, and the two the tree finds itself (depth, duplicate
/// names).
enum ReadError {
    Jiter(JiterError),
    Own { message: String, index: usize },
}

impl From<JiterError> for ReadError {
    fn from(e: JiterError) -> Self {
        ReadError::Jiter(e)
    }
}

fn own_error(j: &Jiter, message: String) -> ReadError {
    ReadError::Own {
        message,
        index: j.current_index(),
    }
}

fn read(j: &mut Jiter, peek: Peek, depth: usize) -> Result<Value, ReadError> {
    if depth > MAX_DEPTH {
        return Err(own_error(
            j,
            format!("nesting deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(match peek {
        Peek::Null => {
            j.known_null()?;
            Value::Null
        }
        Peek::True | Peek::False => Value::Bool(j.known_bool(peek)?),
        Peek::String => Value::String(j.known_str()?.to_owned()),
        Peek::Array => {
            let mut items = Vec::new();
            let mut next = j.known_array()?;
            while let Some(p) = next {
                items.push(read(j, p, depth + 1)?);
                next = j.array_step()?;
            }
            Value::Array(items)
        }
        Peek::Object => {
            let mut map = Map::new();
            let mut key = j.known_object()?.map(str::to_owned);
            while let Some(k) = key {
                if map.iter().any(|(seen, _)| *seen == k) {
                    return Err(own_error(j, format!("duplicate property '{k}'")));
                }
                let p = j.peek()?;
                let v = read(j, p, depth + 1)?;
                map.push((k, v));
                key = j.next_key()?.map(str::to_owned);
            }
            Value::Object(map)
        }
        p => {
            let bytes = j.known_number_bytes(p)?;
            // jiter has checked the JSON number grammar, which is ASCII.
            Value::Number(String::from_utf8_lossy(bytes).into_owned())
        }
    })
}

/// Writes `v` as compact JSON, numbers as their exact text.
pub fn to_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    write(&mut out, v, None);
    out
}

/// Writes `v` as indented JSON (two spaces), numbers as their exact text:
/// `_pretty=true` must not change a decimal.
pub fn to_pretty_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    write(&mut out, v, Some(0));
    out.push(b'\n');
    out
}

/// A new line and the indent of `depth`, when pretty printing.
fn indent(out: &mut Vec<u8>, depth: Option<usize>) {
    if let Some(depth) = depth {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(b"  ");
        }
    }
}

/// `depth` is `None` for compact output.
fn write(out: &mut Vec<u8>, v: &Value, depth: Option<usize>) {
    let inner = depth.map(|d| d + 1);
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.as_bytes()),
        Value::String(s) => {
            let mut w = crate::json::write::JsonWriter::new();
            w.string(s);
            out.extend_from_slice(&w.into_bytes());
        }
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                indent(out, inner);
                write(out, item, inner);
            }
            indent(out, depth);
            out.push(b']');
        }
        Value::Object(map) if map.is_empty() => out.extend_from_slice(b"{}"),
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                indent(out, inner);
                let mut w = crate::json::write::JsonWriter::new();
                w.string(k);
                out.extend_from_slice(&w.into_bytes());
                out.extend_from_slice(if depth.is_some() { b": " } else { b":" });
                write(out, item, inner);
            }
            indent(out, depth);
            out.push(b'}');
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n.to_string()),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let v = parse(br#"[1.0e2, 1E-3, -0.50, 12]"#).expect("json");
        let Value::Array(items) = v else {
            panic!("array")
        };
        let texts: Vec<_> = items
            .iter()
            .map(|i| match i {
                Value::Number(n) => n.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(texts, ["1.0e2", "1E-3", "-0.50", "12"]);
    }

    #[test]
    fn pretty_json_keeps_numbers_and_reads_back() {
        let v = parse(br#"{"a":[1.0e2,{"b":"x\"y"}],"c":{},"d":[]}"#).expect("json");
        let text = to_pretty_json(&v);
        let s = String::from_utf8(text.clone()).expect("utf-8");
        assert!(s.contains("1.0e2") && s.contains("\n  \"a\": ["), "{s}");
        assert_eq!(parse(&text).expect("pretty is JSON"), v);
    }

    #[test]
    fn bad_json_is_located() {
        let e = parse(b"{\n  \"a\": [1 2],\n  \"b\": 3\n}").expect_err("not json");
        assert_eq!(e.line, 2);
        assert!(parse(br#"{"a":1,"a":2}"#)
            .expect_err("dup")
            .message
            .contains("duplicate"));
        assert!(parse(br#"[1,]"#).is_err());
        assert!(parse(br#"{"a":1} x"#).is_err());
        assert!(parse(&b"[".repeat(100_000)).is_err());
        assert!(parse(b"NaN").is_err());
    }
}
