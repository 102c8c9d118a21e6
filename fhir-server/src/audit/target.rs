//! What a request names, as the audit record states it.
//!
//! The one place the audit code turns a request target into the path it
//! classifies (interaction, resource, patient): percent-decoded, so
//! `/fhir/AuditEven%74/1` is recorded and refused as `AuditEvent/1`
//! whatever the spelling. When the decoded route of the request is
//! available as one typed value, this is the function to swap for it.

use percent_encoding::percent_decode_str;

/// The request path, percent-decoded (invalid UTF-8 replaced, which no
/// resource type or id contains, so such a path names nothing).
pub fn path(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_segments_are_decoded() {
        assert_eq!(super::path("/fhir/AuditEven%74/1"), "/fhir/AuditEvent/1");
        assert_eq!(
            super::path("/%66hir/Patient/%24meta"),
            "/fhir/Patient/$meta"
        );
        assert_eq!(super::path("/fhir/Patient/a"), "/fhir/Patient/a");
    }
}
