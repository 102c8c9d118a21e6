//! Errors found while reading FHIR JSON.
//!
//! Parsing does not stop at the first problem: a client that sends a broken
//! resource wants to see every broken element at once, so the parser collects
//! [`ParseIssue`]s and returns them all in one [`ParseError`].

use std::fmt;

/// What kind of problem an issue is; the server maps each to an
/// OperationOutcome `issue.code` in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    /// The bytes are not JSON at all (the message carries line and column).
    Syntax,
    /// The JSON shape is wrong for FHIR: an array where one value belongs, an
    /// object where a primitive belongs, an empty object, a `null`.
    Structure,
    /// An element name the definition of its parent does not have.
    UnknownElement,
    /// A primitive whose value breaks its type's format (`date`, `id`, …).
    Value,
    /// `resourceType` is missing or names no R4 resource.
    UnknownResourceType,
}

/// One problem, located by a FHIRPath-style expression such as
/// `Patient.contact[0].name.family`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIssue {
    pub kind: IssueKind,
    pub expression: String,
    pub message: String,
}

impl fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.expression.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.expression, self.message)
        }
    }
}

/// Every issue found in one document; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub issues: Vec<ParseIssue>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}
