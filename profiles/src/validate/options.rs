//! Switches that make the validator stricter than the base rules, as the
//! HL7 validator's settings do (its test manifest names them per case:
//! `security-checks`, `noHtmlInMarkdown`, `examples`, `allow-comments`,
//! `validateContains`, `validateReference`). Every switch is off by
//! default: off is what the specification requires.

/// Validation settings; see [`super::Validator::with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Strings that look like they hold HTML tags are errors, not
    /// information (HL7 validator `-security-checks`).
    pub security_checks: bool,
    /// Markdown with raw HTML is an error, not a warning (HL7 validator
    /// `noHtmlInMarkdown`).
    pub no_html_in_markdown: bool,
    /// Example domains (example.org, acme.com, …) are not allowed in uri
    /// and url values (HL7 validator `examples: false`).
    pub no_example_urls: bool,
    /// JSON comments are blanked out before reading (HL7 validator
    /// `allow-comments`).
    pub allow_json_comments: bool,
    /// Contained resources are not validated (HL7 validator
    /// `validateContains: IGNORE`).
    pub ignore_contained: bool,
    /// Literal references must resolve inside the payload (HL7 validator
    /// `validateReference: CHECK_EXISTS…`); see [`super::reference_exists`].
    pub check_references_exist: bool,
}

#[cfg(test)]
mod tests {
    use super::super::{has_errors, Validator};
    use super::*;

    #[test]
    fn json_comments_only_when_allowed() {
        let text = b"// note\n{\"resourceType\":\"Basic\", /* c */ \"code\":{\"text\":\"x\"}}";
        assert!(has_errors(&Validator::default().validate_json(text, &[])));
        let v = Validator::default().with_options(Options {
            allow_json_comments: true,
            ..Options::default()
        });
        let issues = v.validate_json(text, &[]);
        assert!(!has_errors(&issues), "{issues:?}");
    }

    #[test]
    fn contained_resources_can_be_left_alone() {
        let id = "1".repeat(65);
        let text = format!(
            r##"{{"resourceType":"Basic","code":{{"text":"x"}},"author":{{"reference":"#{id}"}},
            "contained":[{{"resourceType":"Practitioner","id":"{id}"}}]}}"##
        );
        assert!(has_errors(
            &Validator::default().validate_json(text.as_bytes(), &[])
        ));
        let v = Validator::default().with_options(Options {
            ignore_contained: true,
            ..Options::default()
        });
        let issues = v.validate_json(text.as_bytes(), &[]);
        assert!(!has_errors(&issues), "{issues:?}");
    }
}
