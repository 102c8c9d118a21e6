//! The crate's one error type.

/// What went wrong in the terminology engine.
///
/// Each variant names its category ([`Category`]), so the server can turn it
/// into an HTTP status and an OperationOutcome `issue.code` in its one
/// table without matching on messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not JSON at all.
    #[error("not JSON: {0}")]
    Syntax(String),
    /// JSON, but not a CodeSystem (ValueSet, ConceptMap) the engine can index (wrong
    /// `resourceType`, a concept without `code`, a property of the wrong
    /// shape). `path` is FHIRPath-style, as `fhir-model` reports issues.
    #[error("invalid resource at {path}: {message}")]
    Invalid {
        /// Where, e.g. `CodeSystem.concept[3].code`.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The same code twice in one CodeSystem. Codes identify concepts
    /// (codesystem.html#invs, csd-1), so the index refuses to guess which
    /// one a lookup means.
    #[error("duplicate code '{code}' in {system}")]
    DuplicateCode {
        /// The CodeSystem's canonical url.
        system: String,
        /// The repeated code.
        code: String,
    },
    /// No CodeSystem with this url (and version, when one was asked for)
    /// is in the registry.
    #[error("unknown code system {system}{}", version.as_deref().map(|v| format!(" version {v}")).unwrap_or_default())]
    UnknownSystem {
        /// The canonical url asked for.
        system: String,
        /// The version asked for, if any.
        version: Option<String>,
    },
    /// The code is not in the CodeSystem. `$lookup` and `$subsumes` fail
    /// with this; `$validate-code` instead answers `result=false`.
    #[error("unknown code '{code}' in {system}")]
    UnknownCode {
        /// The CodeSystem's canonical url.
        system: String,
        /// The code asked for.
        code: String,
    },
    /// No ValueSet with this url (and version) is in the registry.
    #[error("unknown value set {url}{}", version.as_deref().map(|v| format!(" version {v}")).unwrap_or_default())]
    UnknownValueSet {
        /// The canonical url asked for.
        url: String,
        /// The version asked for, if any.
        version: Option<String>,
    },
    /// No ConceptMap with this url (and version) is in the registry.
    #[error("unknown concept map {url}")]
    UnknownConceptMap {
        /// The canonical url asked for.
        url: String,
    },
    /// A request the engine understands but cannot answer: a filter
    /// operator on a property it cannot evaluate, a value set that
    /// includes itself, a code system without its concepts.
    #[error("{0}")]
    NotSupported(String),
    /// A code master CSV (`local_codes`) that cannot be read: `line` 1 is
    /// the header; `column` when the problem is in one.
    #[error("CSV line {line}{}: {message}", column.as_deref().map(|c| format!(", column {c}")).unwrap_or_default())]
    Csv {
        /// The line of the file.
        line: u64,
        /// The column's name, when one is at fault.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A code that does not have the shape of its Japanese standard
    /// system (`japanese`): the message names the part that is wrong.
    #[error("{0}")]
    Shape(crate::japanese::ShapeError),
    /// An expansion larger than the caller's limit.
    #[error("the expansion of {url} has more than {limit} codes")]
    TooCostly {
        /// The value set.
        url: String,
        /// The limit that was passed.
        limit: usize,
    },
}

/// Blaze-style anomaly categories; fhir-server maps each to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Bad input: 400.
    Invalid,
    /// Something asked for does not exist: 404 (or 400 inside an
    /// operation's parameters, at the server's choice).
    NotFound,
    /// Too large an answer: 422 or 400 with `too-costly`.
    TooCostly,
}

impl Error {
    /// The anomaly category of this error.
    pub fn category(&self) -> Category {
        match self {
            Error::Syntax(_) | Error::Invalid { .. } | Error::DuplicateCode { .. } => {
                Category::Invalid
            }
            Error::NotSupported(_) | Error::Csv { .. } | Error::Shape(_) => Category::Invalid,
            Error::UnknownSystem { .. }
            | Error::UnknownCode { .. }
            | Error::UnknownValueSet { .. }
            | Error::UnknownConceptMap { .. } => Category::NotFound,
            Error::TooCostly { .. } => Category::TooCostly,
        }
    }
}

impl From<crate::japanese::ShapeError> for Error {
    fn from(e: crate::japanese::ShapeError) -> Self {
        Error::Shape(e)
    }
}

#[cfg(test)]
impl Error {
    /// The shape error inside, for the tests of the code parsers.
    pub(crate) fn into_shape(self) -> crate::japanese::ShapeError {
        match self {
            Error::Shape(e) => e,
            other => panic!("{other:?} is not a shape error"),
        }
    }
}
