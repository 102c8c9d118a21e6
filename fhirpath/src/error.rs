//! The one error type of the crate.

/// Why an expression could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not FHIRPath (category: invalid).
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The text parses but means nothing: an unknown function, a wrong
    /// number of arguments, an unknown type or element (category: invalid).
    #[error("invalid expression: {0}")]
    Semantic(String),
    /// Evaluation failed on this input: a collection with more than one
    /// item where one is needed, incomparable types, … (category: invalid).
    #[error("evaluation error: {0}")]
    Evaluation(String),
    /// The expression nests deeper than the engine allows (category:
    /// invalid); keeps hostile input from exhausting the stack.
    #[error("expression nests deeper than {0} levels")]
    TooDeep(usize),
}

pub(crate) fn eval_err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::Evaluation(msg.into()))
}
