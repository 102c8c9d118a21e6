//! Validation of a resource against the base spec and against profiles,
//! to OperationOutcome issues. This module is the entry point
//! ([`Validator`], its [`Policy`]); the rules sit in sub-folders by what
//! they validate:
//!
//! - [`input`]: the JSON text (the parser's structure check, comments,
//!   issue positions);
//! - [`base`]: the base spec on every resource (the element walk,
//!   cardinality, core invariants, required bindings, extensions);
//! - [`datatypes`]: rules on one data type wherever it occurs;
//! - [`references`]: resolving references, their targets, their existence;
//! - [`profile`]: a StructureDefinition applied to an instance (its
//!   elements, slicing, bindings, type and global profiles);
//! - [`structure_definition`]: rules on StructureDefinitions themselves;
//! - [`resources`]: rules of one resource type (Measure, CodeSystem,
//!   ValueSet, SearchParameter, CapabilityStatement);
//! - [`questionnaire`]: Questionnaires, and QuestionnaireResponses against
//!   them;
//! - [`bundle`]: Bundle fullUrls, links and references between entries;
//! - [`terminology`]: value-set membership answered from the packages.
//!
//! A [`Validator`] is built once (with the packages that provide profiles)
//! and shared: it caches compiled profiles; every FHIRPath expression is
//! compiled once.

pub mod base;
pub mod bundle;
pub mod datatypes;
pub mod input;
mod issue;
pub mod profile;
pub mod questionnaire;
pub mod references;
pub mod resources;
pub mod structure_definition;
pub mod terminology;

pub use issue::{has_errors, operation_outcome, Issue, IssueType, Severity};
pub use terminology::value_sets::{PackageValueSets, ValueSets};

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use fhir_model::json::tree::Value as Json;

use crate::json::field;
use crate::PackageSet;

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
    /// Where value-set membership is answered (bindings, `memberOf()`,
    /// Questionnaire answer value sets): the packages unless the caller
    /// hands its own ([`Validator::value_sets`]).
    value_sets: Arc<dyn terminology::value_sets::ValueSets>,
    /// The implementation guides' global profiles, read once.
    globals: OnceLock<profile::global_profiles::Globals>,
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
            value_sets: Arc::new(terminology::value_sets::PackageValueSets::new(
                packages.clone(),
            )),
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
    /// when the target cannot be resolved (see [`references::target`]).
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

    /// Answers value-set membership with `value_sets` (a server's
    /// terminology engine) instead of the packages alone. Set it before
    /// the first validation: compiled profiles keep the codes of their
    /// required bindings.
    pub fn value_sets(
        mut self,
        value_sets: Arc<dyn terminology::value_sets::ValueSets>,
    ) -> Validator {
        self.value_sets = value_sets;
        self
    }

    /// Where value-set membership is answered.
    pub(crate) fn value_set_provider(&self) -> &dyn terminology::value_sets::ValueSets {
        &*self.value_sets
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
            input::json_comments::blank(bytes)
        } else {
            std::borrow::Cow::Borrowed(bytes)
        };
        let bytes = &bytes[..];
        let mut issues = Vec::new();
        let tree = match input::structure::check(bytes, &mut issues) {
            Some(tree) => tree,
            None => return issues,
        };
        self.validate_tree_into(&tree, profiles, &mut issues);
        if !self.policy.validate_contained {
            issues.retain(|i| !i.expression.contains(".contained["));
        }
        for i in &mut issues {
            i.position = input::position::locate(bytes, &i.expression);
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
        let Some(ty) = crate::json::resource_type(resource) else {
            return;
        };
        let root = ty.to_owned();
        let base = format!("http://hl7.org/fhir/StructureDefinition/{ty}");
        if fhir_model::ResourceType::parse(ty).is_some() && self.packages.by_url(&base).is_none() {
            // The base walk needs the core definitions for the required
            // bindings; without them it must not look like a pass.
            issues.push(Issue::new(
                Severity::Warning,
                IssueType::NotSupported,
                root.clone(),
                format!("the base definition {base} is not loaded, so the base spec's required bindings of {ty} are not checked"),
            ));
        }
        base::invariants::walk_resource(self, resource, resource, &root, issues);
        if self.policy.check_references_exist {
            references::exists::check(resource, &root, issues);
        }
        let mut urls: Vec<String> = declared_profiles(resource);
        urls.extend(profile::vital_signs::profiles_for(resource));
        let globals = profile::global_profiles::for_type(self, ty)
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
                    IssueType::NotSupported,
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
        let p = profile::Profile::load(&self.packages, &*self.value_sets, url).map(Arc::new);
        if let Ok(mut map) = self.profiles.write() {
            map.insert(url.to_owned(), p.clone());
        }
        p
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

#[cfg(test)]
mod tests;
