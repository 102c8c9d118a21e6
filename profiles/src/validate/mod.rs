//! Validation of a resource against the base spec and against profiles,
//! to OperationOutcome issues.
//!
//! One module per concern: [`structure`] (the `fhir-model` parser's
//! issues), [`cardinality`] (base `min`, from the generated type tables),
//! [`invariants`] (the base constraints of `data/core-constraints.json`,
//! evaluated with `fhirpath` at every element they apply to), [`profile`]
//! (a StructureDefinition snapshot: cardinality, fixed and pattern values,
//! maxLength, types, the profile's own constraints, required bindings and
//! slicing), [`extensions`] (which extension urls may be used, and
//! where), with the other rules in modules of their own (listed in
//! ARCHITECTURE.md).
//!
//! A [`Validator`] is built once (with the packages that provide profiles)
//! and shared: it caches compiled profiles; every FHIRPath expression is
//! compiled once.

pub mod additional_binding;
pub mod attachment;
pub mod base_binding;
pub mod bundle;
pub mod bundle_links;
pub mod bundle_refs;
pub mod canonical;
pub mod capability_statement;
pub mod cardinality;
pub mod code_system;
pub mod coding;
pub mod content;
pub mod derived_fixed;
pub mod discriminator;
pub mod element_ids;
pub mod element_rules;
pub mod enable_when;
pub mod errata;
pub mod extensions;
pub mod global_profiles;
pub mod identifier;
pub mod invariants;
pub mod json_comments;
pub mod measure;
pub mod min_max;
pub mod narrative_control;
pub mod obligations;
pub mod position;
pub mod profile;
pub mod qr_answers;
pub mod qr_value_set;
pub mod questionnaire;
pub mod questionnaire_response;
pub mod reference_exists;
pub mod reference_target;
pub mod resolve;
pub mod resource_profiles;
pub mod resource_rules;
pub mod sd_discriminators;
pub mod sd_paths;
pub mod sd_type_profiles;
pub mod search_parameter;
pub mod strings;
pub mod structure;
pub mod terminology;
pub mod value_controls;
pub mod value_set;
pub mod vital_signs;
pub mod vs_systems;
pub mod xhtml;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use fhir_model::json::tree::Value as Json;

use crate::PackageSet;

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

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// The OperationOutcome `issue.code` (`structure`, `required`,
    /// `invariant`, `value`, `code-invalid`, `not-supported`, …).
    pub code: &'static str,
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
        code: &'static str,
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

/// The validator: packages for profiles and the cache of compiled
/// profiles (each compiles its expressions once; the base constraints are
/// compiled once per process). `Send + Sync`; share it behind an `Arc`.
pub struct Validator {
    packages: Arc<PackageSet>,
    profiles: RwLock<HashMap<String, Option<Arc<profile::Profile>>>>,
    /// Whether the type a REST reference URL names (`Group/1`) is taken
    /// as the target's type when the target is not at hand (the HL7
    /// validator's `assumeValidRestReferences`; off by default).
    assume_valid_rest_references: bool,
    /// Whether `//` and `/* */` comments are accepted in JSON input.
    allow_json_comments: bool,
    /// Reads a resource a reference names when it is neither contained
    /// nor in the Bundle (a server's store, a folder of files), so its
    /// type and target profiles can be checked.
    fetcher: Option<Fetcher>,
    /// Policy switches of the HL7 validator that some deployments want
    /// and others do not; see [`Policy`].
    pub(crate) policy: Policy,
    /// The implementation guides' global profiles, read once.
    globals: OnceLock<global_profiles::Globals>,
}

/// Optional checks, each named as the HL7 validator's setting is.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `security-checks`: strings that look like HTML or script are
    /// errors (they are an injection risk wherever strings are shown).
    pub security_checks: bool,
    /// `examples`: URLs at `example.org`/`example.com` (and extensions
    /// defined there) are allowed. On by default; off for production
    /// exchange where an example URL is always a mistake.
    pub allow_examples: bool,
    /// `noHtmlInMarkdown`: markdown must not embed HTML tags.
    pub no_html_in_markdown: bool,
    /// `validateContains`: contained resources are validated (on by
    /// default).
    pub validate_contained: bool,
    /// `for-publication`: the stricter rules for resources published by
    /// HL7 (work group extension, modifier reasons).
    pub for_publication: bool,
    /// `validateReference: CHECK_EXISTS`: a literal reference must
    /// resolve in the enclosing Bundle, Parameters or the resource itself
    /// (for exchanges that must be self-contained).
    pub check_references_exist: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            security_checks: false,
            allow_examples: true,
            no_html_in_markdown: false,
            validate_contained: true,
            for_publication: false,
            check_references_exist: false,
        }
    }
}

/// Given a reference (`Patient/123` or an absolute URL), the resource it
/// names, if it can be found.
pub type Fetcher = Arc<dyn Fn(&str) -> Option<Json> + Send + Sync>;

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("packages", &self.packages.packages().len())
            .finish_non_exhaustive()
    }
}

/// A validator of the base spec: the built-in R4 core definitions only.
/// Should they fail to load (a broken build), every resource it validates
/// says that its base definition is missing.
impl Default for Validator {
    fn default() -> Self {
        let mut set = PackageSet::new();
        let _ = set.add_builtin_core();
        Validator::new(Arc::new(set))
    }
}

impl Validator {
    pub fn new(packages: Arc<PackageSet>) -> Validator {
        Validator {
            packages,
            profiles: RwLock::new(HashMap::new()),
            assume_valid_rest_references: false,
            allow_json_comments: false,
            fetcher: None,
            policy: Policy::default(),
            globals: OnceLock::new(),
        }
    }

    /// Takes the type named by a REST reference URL as its target's type
    /// when the target cannot be resolved (see [`reference_target`]).
    pub fn assume_valid_rest_references(mut self, yes: bool) -> Validator {
        self.assume_valid_rest_references = yes;
        self
    }

    /// Accepts `//` and `/* */` comments in JSON input (the HL7
    /// validator's `allow-comments`); off by default, since FHIR JSON has
    /// none.
    pub fn allow_json_comments(mut self, yes: bool) -> Validator {
        self.allow_json_comments = yes;
        self
    }

    /// Resolves references outside the resource with `fetcher` (see
    /// [`Fetcher`]).
    pub fn fetcher(mut self, fetcher: Fetcher) -> Validator {
        self.fetcher = Some(fetcher);
        self
    }

    /// Sets the optional checks (see [`Policy`]).
    pub fn policy(mut self, policy: Policy) -> Validator {
        self.policy = policy;
        self
    }

    /// The resource `reference` names, through the fetcher.
    pub(crate) fn fetch(&self, reference: &str) -> Option<Json> {
        (self.fetcher.as_ref()?)(reference)
    }

    pub fn packages(&self) -> &PackageSet {
        &self.packages
    }

    /// Validates JSON bytes: structure, base rules, the profiles in
    /// `meta.profile` and the ones in `profiles`.
    pub fn validate_json(&self, bytes: &[u8], profiles: &[&str]) -> Vec<Issue> {
        let bytes = if self.allow_json_comments {
            json_comments::blank(bytes)
        } else {
            std::borrow::Cow::Borrowed(bytes)
        };
        let bytes = &bytes[..];
        let mut issues = Vec::new();
        let tree = match structure::check(bytes, &mut issues) {
            Some(tree) => tree,
            None => return issues,
        };
        self.validate_tree_into(&tree, profiles, &mut issues);
        if !self.policy.validate_contained {
            issues.retain(|i| !i.expression.contains(".contained["));
        }
        for i in &mut issues {
            i.position = position::locate(bytes, &i.expression);
        }
        issues
    }

    /// Validates a resource already parsed as a JSON tree, without the
    /// structure check.
    pub fn validate_tree(&self, resource: &Json, profiles: &[&str]) -> Vec<Issue> {
        let mut issues = Vec::new();
        self.validate_tree_into(resource, profiles, &mut issues);
        issues
    }

    fn validate_tree_into(&self, resource: &Json, profiles: &[&str], issues: &mut Vec<Issue>) {
        let from = issues.len();
        self.validate_tree_once(resource, profiles, issues);
        // An extension is checked by the base walk and again by a profile
        // slice naming its definition: keep each issue once.
        let mut seen = std::collections::HashSet::new();
        let mut i = from;
        while i < issues.len() {
            let key = (
                issues[i].severity,
                issues[i].expression.clone(),
                issues[i].message.clone(),
            );
            if seen.insert(key) {
                i += 1;
            } else {
                issues.remove(i);
            }
        }
    }

    fn validate_tree_once(&self, resource: &Json, profiles: &[&str], issues: &mut Vec<Issue>) {
        let Some(ty) = resource_type(resource) else {
            return;
        };
        let root = ty.to_owned();
        let base = format!("http://hl7.org/fhir/StructureDefinition/{ty}");
        if fhir_model::ResourceType::parse(ty).is_some() && self.packages.by_url(&base).is_none() {
            // The base walk needs the core definitions for the required
            // bindings; without them it must not look like a pass.
            issues.push(Issue::new(
                Severity::Warning,
                "not-supported",
                root.clone(),
                format!("the base definition {base} is not loaded, so the base spec's required bindings of {ty} are not checked"),
            ));
        }
        invariants::walk_resource(self, resource, resource, &root, issues);
        if self.policy.check_references_exist {
            reference_exists::check(resource, &root, issues);
        }
        let mut urls: Vec<String> = declared_profiles(resource);
        urls.extend(vital_signs::profiles_for(resource));
        let globals = global_profiles::for_type(self, ty)
            .iter()
            .map(String::as_str);
        for p in profiles.iter().copied().chain(globals) {
            if !urls.iter().any(|u| u == p) {
                urls.push(p.to_owned());
            }
        }
        for url in urls {
            let bare = url.split('|').next().unwrap_or(&url);
            if bare == format!("http://hl7.org/fhir/StructureDefinition/{ty}") {
                continue;
            }
            match self.profile(&url) {
                Some(p) => p.validate(self, resource, &root, issues),
                None => issues.push(Issue::new(
                    Severity::Warning,
                    "not-supported",
                    root.clone(),
                    format!("profile {url} is not known; validated against the base spec only"),
                )),
            }
        }
    }

    /// The compiled profile for a canonical url, compiled once.
    pub fn profile(&self, url: &str) -> Option<Arc<profile::Profile>> {
        if let Ok(map) = self.profiles.read() {
            if let Some(p) = map.get(url) {
                return p.clone();
            }
        }
        let p = profile::Profile::load(&self.packages, url).map(Arc::new);
        if let Ok(mut map) = self.profiles.write() {
            map.insert(url.to_owned(), p.clone());
        }
        p
    }
}

/// `resourceType` of a JSON object.
pub(crate) fn resource_type(v: &Json) -> Option<&str> {
    match field(v, "resourceType")? {
        Json::String(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn field<'a>(v: &'a Json, name: &str) -> Option<&'a Json> {
    match v {
        Json::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    }
}

pub(crate) fn str_field<'a>(v: &'a Json, name: &str) -> Option<&'a str> {
    match field(v, name)? {
        Json::String(s) => Some(s),
        _ => None,
    }
}

fn declared_profiles(resource: &Json) -> Vec<String> {
    let Some(Json::Array(list)) = field(resource, "meta").and_then(|m| field(m, "profile")) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|v| match v {
            Json::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
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
                ("code".to_owned(), s(i.code)),
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

#[cfg(test)]
mod tests;
