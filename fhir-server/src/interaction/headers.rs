//! The request headers that change what an interaction does:
//! `If-Match` (http.html#concurrency), `If-None-Match` and
//! `If-Modified-Since` (http.html#cread), and `Prefer: return=`
//! (http.html#ops).

use actix_web::http::header::{self, HeaderMap};

use crate::error::{Error, IssueCode};
use crate::store::{NoneMatch, Preconditions};

/// `If-Match: W/"3"`: the version an update or delete expects to replace.
/// The strong form `"3"` is accepted too; anything else is a 400, since
/// ignoring a precondition the client thinks it sent would lose updates.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i32>, Error> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    version_of(text).map(Some).ok_or_else(|| {
        Error::invalid(
            IssueCode::Invalid,
            format!("If-Match {text:?} is not a version ETag such as W/\"3\""),
        )
    })
}

/// `If-None-Match` on a write: `*` or a list of version ETags (RFC 9110
/// §13.1.2). Anything else is a 400, as for `If-Match`.
pub fn if_none_match(headers: &HeaderMap) -> Result<Option<NoneMatch>, Error> {
    let Some(v) = headers.get(header::IF_NONE_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    none_match_of(text).map(Some).ok_or_else(|| {
        Error::invalid(
            IssueCode::Invalid,
            format!("If-None-Match {text:?} is neither * nor a list of version ETags"),
        )
    })
}

/// `*`, or `W/"1", W/"2"`.
pub(crate) fn none_match_of(text: &str) -> Option<NoneMatch> {
    if text.trim() == "*" {
        return Some(NoneMatch::Any);
    }
    text.split(',')
        .map(version_of)
        .collect::<Option<Vec<i32>>>()
        .map(NoneMatch::Versions)
}

/// The preconditions of a PUT or DELETE: `If-Match` and `If-None-Match`.
pub fn preconditions(headers: &HeaderMap) -> Result<Preconditions, Error> {
    Ok(Preconditions {
        if_match: if_match(headers)?,
        if_none_match: if_none_match(headers)?,
    })
}

pub(crate) fn version_of(etag: &str) -> Option<i32> {
    let t = etag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"')?
        .strip_suffix('"')?
        .parse::<i32>()
        .ok()
        .filter(|v| *v > 0)
}

/// Whether a conditional read is answered 304 Not Modified: `If-None-Match`
/// names the current version (or `*`), or, without it, `If-Modified-Since`
/// is not older than `last_updated` (compared to the second, the precision
/// of an HTTP date).
pub fn not_modified(headers: &HeaderMap, version: i32, last_updated: &str) -> bool {
    if let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return v
            .split(',')
            .any(|tag| tag.trim() == "*" || version_of(tag) == Some(version));
    }
    let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
    else {
        return false;
    };
    match chrono::DateTime::parse_from_rfc3339(last_updated) {
        Ok(updated) => updated.timestamp() <= since.timestamp(),
        Err(_) => false,
    }
}

/// `Prefer: return=…`: what a create or update sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    Representation,
    OperationOutcome,
}

/// The spec's default is the resource itself.
pub fn prefer_return(headers: &HeaderMap) -> Return {
    let prefs = headers.get_all("prefer").filter_map(|v| v.to_str().ok());
    for pref in prefs.flat_map(|v| v.split([',', ';'])) {
        match pref
            .trim()
            .strip_prefix("return=")
            .map(|s| s.trim_matches('"'))
        {
            Some("minimal") => return Return::Minimal,
            Some("OperationOutcome") => return Return::OperationOutcome,
            Some("representation") => return Return::Representation,
            _ => {}
        }
    }
    Return::Representation
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn if_match_takes_weak_and_strong_version_tags() {
        assert_eq!(
            if_match(&headers(&[("if-match", "W/\"3\"")])).ok(),
            Some(Some(3))
        );
        assert_eq!(
            if_match(&headers(&[("if-match", "\"12\"")])).ok(),
            Some(Some(12))
        );
        assert_eq!(if_match(&HeaderMap::new()).ok(), Some(None));
        assert!(if_match(&headers(&[("if-match", "3")])).is_err());
        assert!(if_match(&headers(&[("if-match", "W/\"x\"")])).is_err());
    }

    #[test]
    fn conditional_reads() {
        let lu = "2026-11-25T20:01:06.717Z";
        assert!(not_modified(
            &headers(&[("if-none-match", "W/\"2\"")]),
            2,
            lu
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "W/\"1\"")]),
            2,
            lu
        ));
        assert!(not_modified(&headers(&[("if-none-match", "*")]), 2, lu));
        assert!(not_modified(
            &headers(&[("if-modified-since", "Wed, 25 Nov 2026 20:01:06 GMT")]),
            2,
            lu
        ));
        assert!(!not_modified(
            &headers(&[("if-modified-since", "Wed, 25 Nov 2026 20:01:05 GMT")]),
            2,
            lu
        ));
        assert!(!not_modified(
            &headers(&[("if-modified-since", "yesterday")]),
            2,
            lu
        ));
        assert!(!not_modified(&HeaderMap::new(), 2, lu));
    }

    #[test]
    fn prefer_return_values() {
        assert_eq!(
            prefer_return(&headers(&[("prefer", "return=minimal")])),
            Return::Minimal
        );
        assert_eq!(
            prefer_return(&headers(&[(
                "prefer",
                "handling=strict, return=OperationOutcome"
            )])),
            Return::OperationOutcome
        );
        assert_eq!(prefer_return(&HeaderMap::new()), Return::Representation);
    }
}
