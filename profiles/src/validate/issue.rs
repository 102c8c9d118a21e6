//! What validation finds: an [`Issue`] with its [`Severity`], and the
//! issues written as an OperationOutcome.

use fhir_model::json::tree::Value as Json;

/// Issue severity, as OperationOutcome names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// A constraint's `severity` (`error`, `warning`); unknown is error.
    pub fn parse(s: &str) -> Severity {
        match s {
            "fatal" => Severity::Fatal,
            "warning" => Severity::Warning,
            "information" => Severity::Information,
            _ => Severity::Error,
        }
    }

    pub fn is_error(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

/// The OperationOutcome `issue.code` of a finding (valueset-issue-type):
/// the codes this validator gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    CodeInvalid,
    Extension,
    BusinessRule,
    NotSupported,
    NotFound,
    TooLong,
    Informational,
    Processing,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::Invariant => "invariant",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Extension => "extension",
            IssueType::BusinessRule => "business-rule",
            IssueType::NotSupported => "not-supported",
            IssueType::NotFound => "not-found",
            IssueType::TooLong => "too-long",
            IssueType::Informational => "informational",
            IssueType::Processing => "processing",
        }
    }
}

impl std::fmt::Display for IssueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// The OperationOutcome `issue.code`.
    pub code: IssueType,
    pub message: String,
    /// The FHIRPath location (`Patient.name[0].given[1]`).
    pub expression: String,
    /// (line, column) of the location in the JSON text, when the input
    /// was text ([`Validator::validate_json`]) and the location was found.
    pub position: Option<(usize, usize)>,
}

impl Issue {
    pub fn new(
        severity: Severity,
        code: IssueType,
        expression: impl Into<String>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            severity,
            code,
            message: message.into(),
            expression: expression.into(),
            position: None,
        }
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.severity.as_str(),
            if self.expression.is_empty() {
                "(document)"
            } else {
                &self.expression
            },
            self.message
        )
    }
}

/// Whether any issue is an error or fatal.
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(|i| i.severity.is_error())
}

/// The issues as an OperationOutcome (a JSON tree); an `information`
/// "no issues" issue when there are none.
pub fn operation_outcome(issues: &[Issue]) -> Json {
    let s = |x: &str| Json::String(x.to_owned());
    let mut list: Vec<Json> = issues
        .iter()
        .map(|i| {
            let mut m = vec![
                ("severity".to_owned(), s(i.severity.as_str())),
                ("code".to_owned(), s(i.code.as_str())),
                (
                    "details".to_owned(),
                    Json::Object(vec![("text".to_owned(), s(&i.message))]),
                ),
            ];
            if let Some((line, col)) = i.position {
                let ext = |what: &str, n: usize| {
                    Json::Object(vec![
                        (
                            "url".to_owned(),
                            s(&format!(
                                "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-{what}"
                            )),
                        ),
                        ("valueInteger".to_owned(), Json::Number(n.to_string())),
                    ])
                };
                m.insert(
                    0,
                    (
                        "extension".to_owned(),
                        Json::Array(vec![ext("line", line), ext("col", col)]),
                    ),
                );
            }
            if !i.expression.is_empty() {
                m.push(("expression".to_owned(), Json::Array(vec![s(&i.expression)])));
            }
            Json::Object(m)
        })
        .collect();
    if list.is_empty() {
        list.push(Json::Object(vec![
            ("severity".to_owned(), s("information")),
            ("code".to_owned(), s("informational")),
            (
                "details".to_owned(),
                Json::Object(vec![("text".to_owned(), s("no issues"))]),
            ),
        ]));
    }
    Json::Object(vec![
        ("resourceType".to_owned(), s("OperationOutcome")),
        ("issue".to_owned(), Json::Array(list)),
    ])
}
