//! JSON Patch (RFC 6902) over [`fhir_model::json::tree::Value`].
//!
//! Written here rather than taken from the `json-patch` crate because that
//! crate works on `serde_json::Value`, and serde_json rewrites numbers
//! (`1.0e2` becomes `1.0e+2` even with `arbitrary_precision`): a PATCH
//! that touches one element must not change the text of every decimal in
//! the resource. The tree keeps each number's exact text and the order of
//! object members, so untouched parts come back byte for byte.
//!
//! A malformed document (not an array of operation objects, unknown `op`,
//! missing `path`/`from`/`value`, a pointer not starting with `/`) is a 400;
//! a well-formed one that does not apply to this document (pointer to
//! nothing, index out of range, failed `test`) is a 422.

use fhir_model::json::tree::{self, Value};

use crate::error::{Error, Issue, IssueCode};

/// One parsed operation.
#[derive(Debug, Clone)]
enum Op {
    Add(Pointer, Value),
    Remove(Pointer),
    Replace(Pointer, Value),
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test(Pointer, Value),
}

/// A JSON Pointer (RFC 6901), unescaped into its reference tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pointer {
    text: String,
    tokens: Vec<String>,
}

/// A parsed JSON Patch document.
#[derive(Debug, Clone)]
pub struct JsonPatch {
    ops: Vec<Op>,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::invalid(IssueCode::Invalid, msg)
}

fn cannot_apply(op: usize, msg: impl Into<String>) -> Error {
    Error::Unprocessable(vec![Issue::new(
        IssueCode::Processing,
        format!("JSON Patch operation {op}: {}", msg.into()),
    )])
}

impl Pointer {
    fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer {
                text: String::new(),
                tokens: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "{text:?} is not a JSON Pointer (it must start with '/')"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut t = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => t.push('~'),
                        Some('1') => t.push('/'),
                        _ => return Err(format!("{text:?} has a '~' not followed by 0 or 1")),
                    }
                } else {
                    t.push(c);
                }
            }
            tokens.push(t);
        }
        Ok(Pointer {
            text: text.to_owned(),
            tokens,
        })
    }

    fn parent(&self) -> (&[String], Option<&str>) {
        match self.tokens.split_last() {
            Some((last, parent)) => (parent, Some(last)),
            None => (&[], None),
        }
    }
}

/// An array index token: digits without a leading zero (RFC 6901 §4).
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_digit())
        || (token.len() > 1 && token.starts_with('0'))
    {
        return None;
    }
    token.parse().ok()
}

fn get<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.iter().find(|(k, _)| k == t).map(|(_, v)| v)?,
            Value::Array(a) => a.get(array_index(t)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn get_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.iter_mut().find(|(k, _)| k == t).map(|(_, v)| v)?,
            Value::Array(a) => a.get_mut(array_index(t)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// RFC 6902 §4.6 equality: numbers by value, objects regardless of
/// member order, arrays element by element.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(p), Ok(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| k2 == k)
                        .is_some_and(|(_, w)| json_equal(v, w))
                })
        }
        _ => a == b,
    }
}

impl JsonPatch {
    /// Reads a JSON Patch document; anything malformed is a 400.
    pub fn parse(bytes: &[u8]) -> Result<JsonPatch, Error> {
        let doc =
            tree::parse(bytes).map_err(|e| malformed(format!("malformed JSON Patch: {e}")))?;
        let Value::Array(items) = doc else {
            return Err(malformed(
                "a JSON Patch document must be a JSON array of operations",
            ));
        };
        let mut ops = Vec::with_capacity(items.len());
        for (n, item) in items.into_iter().enumerate() {
            let Value::Object(mut m) = item else {
                return Err(malformed(format!(
                    "JSON Patch operation {n} is not a JSON object"
                )));
            };
            let mut string = |name: &str| match tree::take(&mut m, name) {
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(malformed(format!(
                    "JSON Patch operation {n}: \"{name}\" must be a string"
                ))),
                None => Err(malformed(format!(
                    "JSON Patch operation {n}: \"{name}\" is missing"
                ))),
            };
            let op = string("op")?;
            let pointer = |text: String| {
                Pointer::parse(&text)
                    .map_err(|e| malformed(format!("JSON Patch operation {n}: {e}")))
            };
            let path = pointer(string("path")?)?;
            let op = match op.as_str() {
                "remove" => Op::Remove(path),
                "move" | "copy" => {
                    let from = pointer(string("from")?)?;
                    if op == "move" {
                        Op::Move { from, path }
                    } else {
                        Op::Copy { from, path }
                    }
                }
                "add" | "replace" | "test" => {
                    let value = tree::take(&mut m, "value").ok_or_else(|| {
                        malformed(format!("JSON Patch operation {n}: \"value\" is missing"))
                    })?;
                    match op.as_str() {
                        "add" => Op::Add(path, value),
                        "replace" => Op::Replace(path, value),
                        _ => Op::Test(path, value),
                    }
                }
                other => {
                    return Err(malformed(format!(
                        "JSON Patch operation {n}: unknown op {other:?} (expected add, remove, replace, move, copy or test)"
                    )))
                }
            };
            // Other members are ignored (RFC 6902 §4).
            ops.push(op);
        }
        Ok(JsonPatch { ops })
    }

    /// Applies every operation in order. On error `doc` may be half
    /// patched: callers patch a copy and drop it (RFC 6902 §5: the patch
    /// applies whole or not at all).
    pub fn apply(&self, doc: &mut Value) -> Result<(), Error> {
        for (n, op) in self.ops.iter().enumerate() {
            match op {
                Op::Add(path, value) => {
                    add(doc, path, value.clone()).map_err(|e| cannot_apply(n, e))?
                }
                Op::Remove(path) => {
                    remove(doc, path).map_err(|e| cannot_apply(n, e))?;
                }
                Op::Replace(path, value) => {
                    let target = get_mut(doc, &path.tokens).ok_or_else(|| {
                        cannot_apply(n, format!("nothing at {:?} to replace", path.text))
                    })?;
                    *target = value.clone();
                }
                Op::Move { from, path } => {
                    if from != path {
                        if path.tokens.starts_with(&from.tokens) {
                            return Err(cannot_apply(
                                n,
                                format!(
                                    "cannot move {:?} into its own child {:?}",
                                    from.text, path.text
                                ),
                            ));
                        }
                        let v = remove(doc, from).map_err(|e| cannot_apply(n, e))?;
                        add(doc, path, v).map_err(|e| cannot_apply(n, e))?;
                    }
                }
                Op::Copy { from, path } => {
                    let v = get(doc, &from.tokens).cloned().ok_or_else(|| {
                        cannot_apply(n, format!("nothing at {:?} to copy", from.text))
                    })?;
                    add(doc, path, v).map_err(|e| cannot_apply(n, e))?;
                }
                Op::Test(path, value) => {
                    let found = get(doc, &path.tokens).ok_or_else(|| {
                        cannot_apply(n, format!("test: nothing at {:?}", path.text))
                    })?;
                    if !json_equal(found, value) {
                        return Err(cannot_apply(
                            n,
                            format!("test failed: the value at {:?} differs", path.text),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), String> {
    let (parent, last) = path.parent();
    let Some(last) = last else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent) {
        Some(Value::Object(m)) => {
            match m.iter_mut().find(|(k, _)| k == last) {
                Some((_, v)) => *v = value,
                None => m.push((last.to_owned(), value)),
            }
            Ok(())
        }
        Some(Value::Array(a)) => {
            let at = if last == "-" {
                a.len()
            } else {
                array_index(last)
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| format!("{:?}: index out of range", path.text))?
            };
            a.insert(at, value);
            Ok(())
        }
        Some(_) => Err(format!(
            "{:?}: the parent is neither an object nor an array",
            path.text
        )),
        None => Err(format!(
            "{:?}: the parent does not exist (missing objects are not created)",
            path.text
        )),
    }
}

fn remove(doc: &mut Value, path: &Pointer) -> Result<Value, String> {
    let (parent, last) = path.parent();
    let Some(last) = last else {
        return Err("cannot remove the whole document".to_owned());
    };
    match get_mut(doc, parent) {
        Some(Value::Object(m)) => {
            tree::take(m, last).ok_or_else(|| format!("nothing at {:?} to remove", path.text))
        }
        Some(Value::Array(a)) => match array_index(last).filter(|i| *i < a.len()) {
            Some(i) => Ok(a.remove(i)),
            None => Err(format!("{:?}: index out of range", path.text)),
        },
        _ => Err(format!("nothing at {:?} to remove", path.text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let mut doc = tree::parse(br#"{"a":1.0e2,"b":[1.50]}"#).expect("json");
        let p = JsonPatch::parse(br#"[{"op":"add","path":"/b/-","value":2.0E-3}]"#).expect("patch");
        p.apply(&mut doc).expect("apply");
        let expected = tree::parse(br#"{"a":1.0e2,"b":[1.50,2.0E-3]}"#).expect("json");
        assert_eq!(doc, expected);
    }

    #[test]
    fn malformed_documents_are_400() {
        for bad in [
            &b"{}"[..],
            b"[1]",
            br#"[{"path":"/a"}]"#,
            br#"[{"op":"jump","path":"/a"}]"#,
            br#"[{"op":"add","path":"a","value":1}]"#,
            br#"[{"op":"add","path":"/a"}]"#,
            br#"[{"op":"move","path":"/a"}]"#,
            b"[",
        ] {
            let e = JsonPatch::parse(bad).expect_err("malformed");
            assert_eq!(e.status(), 400, "{}", String::from_utf8_lossy(bad));
        }
    }
}
