//! The request path, percent-decoded once into segments.
//!
//! Every layer used to look at the raw path while actix routed on its own
//! decoded form, so `/%66hir/Patient/x` or `/fhir/Conditio%6E/c` reached a
//! handler that the authorization layer had never recognised. Here the
//! path is decoded exactly once; a spelling that could be read two ways
//! is refused instead of guessed at:
//! - an escape that decodes to `/`, `\`, `%`, `?` or `#` (a second layer
//!   of encoding, or a separator hidden in a segment);
//! - `.` and `..` segments and empty segments (`//`);
//! - escapes that are not two hex digits, or bytes that are not UTF-8;
//! - any character outside what FHIR path segments are made of (resource
//!   types, ids, `_history`, `_search`, `$operation`, `*`,
//!   `.well-known`): letters, digits, `-`, `.`, `_`, `$`.
//!
//! The canonical path (segments joined by `/`, one trailing `/` dropped)
//! is then the only path anyone sees: the middleware rewrites the request
//! URI to it before routing.

use std::fmt;

use crate::error::{Error, IssueCode};

/// Why a path was refused; `value` when a segment holds a character no
/// FHIR path has (a bad id, say), else the encoding itself is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String, pub IssueCode);

impl PathError {
    pub fn into_error(self) -> Error {
        Error::invalid(self.1, self.0)
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decoded path: its segments, and the canonical text they make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPath {
    pub segments: Vec<String>,
}

impl DecodedPath {
    /// `/a/b/c`, or `/` for no segments.
    pub fn canonical(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_owned();
        }
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            s.push_str(seg);
        }
        s
    }
}

/// A byte a decoded segment may hold.
fn segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'$' | b'*')
}

/// Decodes `raw` (the path part of a request target, without the query).
pub fn decode_path(raw: &str) -> Result<DecodedPath, PathError> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathError(
            format!("the URL path {raw:?} does not start with '/'"),
            IssueCode::Invalid,
        ));
    };
    // One trailing slash names the same thing (`[base]/`); more do not.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(DecodedPath {
            segments: Vec::new(),
        });
    }
    let segments = rest
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            decode_segment(seg).map_err(|(m, code)| {
                PathError(format!("URL path segment {} ({seg:?}): {m}", i + 1), code)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DecodedPath { segments })
}

fn decode_segment(seg: &str) -> Result<String, (String, IssueCode)> {
    let bad = |m: String| Err((m, IssueCode::Invalid));
    if seg.is_empty() {
        return bad("empty segments (`//`) are not allowed".into());
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                return bad("'%' is not followed by two hex digits".into());
            };
            if matches!(v, b'/' | b'\\' | b'%' | b'?' | b'#') {
                return bad(format!(
                    "the escape %{:02X} encodes {:?}, which would change how the path is read",
                    v, v as char
                ));
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let Ok(text) = String::from_utf8(out) else {
        return bad("the decoded segment is not UTF-8".into());
    };
    if text == "." || text == ".." {
        return bad("'.' and '..' segments are not allowed".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| !c.is_ascii() || !segment_byte(*c as u8))
    {
        return Err((format!(
            "{c:?} cannot appear in a FHIR URL path (letters, digits, '-', '.', '_', '$' and '*' only)"
        ), IssueCode::Value));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        decode_path(raw)
            .map(|p| p.canonical())
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn decodes_once_to_the_canonical_path() {
        assert_eq!(ok("/%66hir/Patient/pb"), "/fhir/Patient/pb");
        assert_eq!(ok("/fhir/Conditio%6E/cb"), "/fhir/Condition/cb");
        assert_eq!(
            ok("/fhir/Patient/pb/%24meta-add"),
            "/fhir/Patient/pb/$meta-add"
        );
        assert_eq!(ok("/fhir/"), "/fhir");
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/fhir/Patient/1/*"), "/fhir/Patient/1/*");
    }

    #[test]
    fn refuses_ambiguous_spellings() {
        for raw in [
            "/fhir/Patient%2Fpb",
            "/fhir/Patient%2fpb",
            "/%2566hir/Patient",
            "/fhir/Patient/%5C",
            "/fhir/../fhir/Patient",
            "/fhir/%2e%2e/Patient",
            "/fhir/./Patient",
            "/fhir//Patient",
            "/fhir/Patient/%zz",
            "/fhir/Patient/%4",
            "/fhir/Patient/%C3%28",
            "/fhir/Patient/a%00b",
            "/fhir/Patient/a b",
            "/fhir/Patient/%E5%B1%B1",
            "/fhir/Patient?x",
            "/fhir/Patient%3Fx=1",
            "fhir/Patient",
        ] {
            assert!(decode_path(raw).is_err(), "{raw} should be refused");
        }
    }
}
