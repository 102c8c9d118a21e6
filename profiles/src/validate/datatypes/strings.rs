//! Rules on the text of primitive values:
//!
//! - No primitive value may be longer than 1 MB (datatypes.html#primitive:
//!   "strings SHALL NOT exceed 1MB in size"); base64Binary carries
//!   attachments and is exempt, as is the narrative.
//! - A `string` that looks like it holds HTML tags (`<script>`) is a risk
//!   wherever it is rendered without escaping; a `markdown` with raw HTML
//!   will (or should) be escaped by the presentation layer. Both are
//!   reported, not rejected: plain text may legitimately say `a <b> c`.
//!   With security checks on ([`crate::validate::Policy::security_checks`],
//!   [`crate::validate::Policy::no_html_in_markdown`]) they are errors, as the HL7
//!   validator makes them.

use crate::validate::IssueType;
use crate::validate::{Issue, Policy, Severity};

/// 1 MB, the largest primitive value.
pub const MAX_PRIMITIVE_BYTES: usize = 1024 * 1024;

/// Checks the value `s` of a primitive of FHIR type `ty` at `location`.
pub fn check(s: &str, ty: &str, options: &Policy, location: &str, issues: &mut Vec<Issue>) {
    if s.len() > MAX_PRIMITIVE_BYTES && !matches!(ty, "base64Binary" | "xhtml") {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::TooLong,
            location,
            format!(
                "value is longer than permitted maximum length of 1 MB ({MAX_PRIMITIVE_BYTES} bytes): it has {} bytes",
                s.len()
            ),
        ));
        return;
    }
    match ty {
        "string" if contains_html_tags(s) => {
            let (severity, message) = if options.security_checks {
                (
                    Severity::Error,
                    "The string value contains text that looks like embedded HTML tags, which are not allowed for security reasons in this context",
                )
            } else {
                (
                    Severity::Information,
                    "The string value contains text that looks like embedded HTML tags. If this content is rendered to HTML without appropriate post-processing, it may be a security risk",
                )
            };
            issues.push(Issue::new(severity, IssueType::Invalid, location, message));
        }
        "uri" | "url" if !options.allow_examples && is_example_url(s) => {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                location,
                format!("Example URLs are not allowed in this context ({s})"),
            ));
        }
        "markdown" => {
            if let Some(at) = html_tag_start(s) {
                let start: String = s[at..].chars().take(2).collect();
                let severity = if options.no_html_in_markdown {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                issues.push(Issue::new(
                    severity,
                    IssueType::Invalid,
                    location,
                    format!(
                        "The markdown contains content that appears to be an embedded HTML tag starting at '{start}'. This will (or SHOULD) be escaped by the presentation layer. The content should be checked to confirm that this is the desired behaviour"
                    ),
                ));
            }
        }
        _ => {}
    }
}

/// A URL in a domain reserved for examples (RFC 2606 and the ones FHIR
/// examples use), or an OID from the example arcs.
pub(crate) fn is_example_url(url: &str) -> bool {
    const DOMAINS: [&str; 5] = [
        "example.org",
        "acme.com",
        "acme.org",
        "example.com",
        "example.net",
    ];
    DOMAINS
        .iter()
        .any(|d| url.contains(&format!("{d}/")) || url.ends_with(d))
        || url.starts_with("urn:oid:1.3.6.1.4.1.32473.")
        || url.starts_with("urn:oid:2.999.")
}

/// Whether `s` has something shaped like a tag: `<name …>` or `</name>`
/// with no `<` before its `>`.
pub(crate) fn contains_html_tags(s: &str) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let body = after.strip_prefix('/').unwrap_or(after);
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
            .unwrap_or(body.len());
        let starts_with_letter = body.starts_with(|c: char| c.is_ascii_alphabetic());
        if starts_with_letter {
            let tail = &body[name_len..];
            if let Some(close) = tail.find('>') {
                let inner = &tail[..close];
                if !inner.contains('<')
                    && (inner.is_empty() || inner.starts_with([' ', '/', '\t', '\n']))
                {
                    return true;
                }
            }
        }
        rest = after;
    }
    false
}

/// Where raw HTML seems to start in markdown: a `<` followed by a letter,
/// `/` or `!`.
fn html_tag_start(s: &str) -> Option<usize> {
    s.char_indices().find_map(|(i, c)| {
        (c == '<'
            && s[i + 1..].starts_with(|n: char| n.is_ascii_alphabetic() || n == '/' || n == '!'))
        .then_some(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str, ty: &str, options: &Policy) -> Vec<Issue> {
        let mut issues = Vec::new();
        check(s, ty, options, "X.y", &mut issues);
        issues
    }

    #[test]
    fn max_length() {
        let long = "a".repeat(MAX_PRIMITIVE_BYTES + 1);
        let issues = run(&long, "string", &Policy::default());
        assert_eq!(issues.len(), 1);
        assert!(issues[0].severity.is_error());
        assert!(run(&long, "base64Binary", &Policy::default()).is_empty());
        assert!(run(
            &"a".repeat(MAX_PRIMITIVE_BYTES),
            "string",
            &Policy::default()
        )
        .is_empty());
    }

    #[test]
    fn html_in_strings() {
        assert!(contains_html_tags("Standard <script>somescript</script>"));
        assert!(contains_html_tags("a <b class=\"x\">c</b>"));
        assert!(!contains_html_tags("a < b and c > d"));
        assert!(!contains_html_tags("x <= 5 or y<3"));
        let default = run("<script>x</script>", "string", &Policy::default());
        assert_eq!(default.len(), 1);
        assert_eq!(default[0].severity, Severity::Information);
        let strict = Policy {
            security_checks: true,
            ..Policy::default()
        };
        assert!(run("<script>x</script>", "string", &strict)[0]
            .severity
            .is_error());
        assert!(run("Standard Name", "string", &strict).is_empty());
    }

    #[test]
    fn example_urls() {
        let url = "http://repository.example.org/fhir/DocumentReference/example";
        assert!(run(url, "url", &Policy::default()).is_empty());
        let strict = Policy {
            allow_examples: false,
            ..Policy::default()
        };
        assert!(run(url, "url", &strict)[0].severity.is_error());
        assert!(run("http://hl7.org/fhir", "uri", &strict).is_empty());
    }

    #[test]
    fn html_in_markdown() {
        let w = run("<resource type>\\<id>", "markdown", &Policy::default());
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].severity, Severity::Warning);
        assert!(w[0].message.contains("starting at '<r'"));
        let strict = Policy {
            no_html_in_markdown: true,
            ..Policy::default()
        };
        assert!(run("<resource type>", "markdown", &strict)[0]
            .severity
            .is_error());
        assert!(run("a < b, *bold*", "markdown", &strict).is_empty());
    }
}
