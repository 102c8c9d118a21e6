//! Switches that make the validator stricter than the base rules, as the
//! HL7 validator's settings do (its test manifest names them per case:
//! `security-checks`, `noHtmlInMarkdown`). Every switch is off by default:
//! off is what the specification requires.

/// Validation settings; see [`super::Validator::with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Strings that look like they hold HTML tags are errors, not
    /// information (HL7 validator `-security-checks`).
    pub security_checks: bool,
    /// Markdown with raw HTML is an error, not a warning (HL7 validator
    /// `noHtmlInMarkdown`).
    pub no_html_in_markdown: bool,
}
