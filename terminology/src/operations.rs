//! `$lookup`, `$validate-code` and `$subsumes` on one indexed CodeSystem,
//! as plain functions with typed answers; the server turns these into
//! `Parameters` (terminology-service.html, codesystem-operation-*.html).

use crate::code_system::{CodeSystem, Concept, Designation, Property};
use crate::Error;

/// The answer of `CodeSystem/$lookup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The code system's name (required in the answer).
    pub name: String,
    /// The code system's version.
    pub version: Option<String>,
    /// The display, in `displayLanguage` when a designation has it.
    pub display: Option<String>,
    /// The concept's definition.
    pub definition: Option<String>,
    /// Designations, when asked for (or when no properties were named).
    pub designations: Vec<Designation>,
    /// Properties, filtered by the requested property codes.
    pub properties: Vec<Property>,
    /// Codes of the direct parents.
    pub parents: Vec<String>,
    /// Codes of the direct children.
    pub children: Vec<String>,
    /// The concept is inactive (it still looks up).
    pub inactive: bool,
    /// The concept is abstract (`notSelectable`).
    pub abstract_: bool,
}

/// The answer of `$validate-code`: `result` and `message` as the
/// operation's output parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Whether the code (and display, if given) is valid.
    pub result: bool,
    /// Why not, or a warning that does not change `result` (inactive).
    pub message: Option<String>,
    /// The display the code system gives, for the client to use.
    pub display: Option<String>,
    /// The concept is inactive.
    pub inactive: bool,
}

/// What the client supplied beside the code for `$validate-code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateOptions<'a> {
    /// A display to check against the display and designations.
    pub display: Option<&'a str>,
    /// Only designations in this language count as correct displays
    /// (besides the display itself when the system's language matches).
    pub display_language: Option<&'a str>,
    /// The `abstract` parameter: whether abstract codes are acceptable in
    /// the caller's context. `true` by default, since a CodeSystem on its
    /// own does not say where a code is used; value-set binding checks turn
    /// it off.
    pub abstract_allowed: bool,
}

impl Default for ValidateOptions<'_> {
    fn default() -> Self {
        ValidateOptions {
            display: None,
            display_language: None,
            abstract_allowed: true,
        }
    }
}

/// The outcome of `CodeSystem/$subsumes` (codesystem-operation-subsumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsumption {
    /// A and B are the same concept.
    Equivalent,
    /// A is an ancestor of B.
    Subsumes,
    /// A is a descendant of B.
    SubsumedBy,
    /// Neither.
    NotSubsumed,
}

impl Subsumption {
    /// The `outcome` code of the operation.
    pub fn code(self) -> &'static str {
        match self {
            Subsumption::Equivalent => "equivalent",
            Subsumption::Subsumes => "subsumes",
            Subsumption::SubsumedBy => "subsumed-by",
            Subsumption::NotSubsumed => "not-subsumed",
        }
    }
}

/// Whether a designation's language serves a requested one: equal tags, or
/// the same primary language (`ja` serves `ja-JP` and the reverse), since
/// code systems rarely tag regions.
pub fn language_matches(have: &str, want: &str) -> bool {
    let primary = |t: &str| t.split('-').next().unwrap_or("").to_ascii_lowercase();
    have.eq_ignore_ascii_case(want) || primary(have) == primary(want)
}

impl CodeSystem {
    /// The display of a concept for a language: the first designation in
    /// that language, else the concept's own display.
    pub fn display_for<'a>(
        &'a self,
        concept: &'a Concept,
        language: Option<&str>,
    ) -> Option<&'a str> {
        if let Some(want) = language {
            let own = self.language().is_some_and(|l| language_matches(l, want));
            if !own {
                if let Some(d) = concept.designations.iter().find(|d| {
                    d.language
                        .as_deref()
                        .is_some_and(|l| language_matches(l, want))
                }) {
                    return Some(&d.value);
                }
            }
        }
        concept.display.as_deref()
    }

    /// `$lookup`. `properties` are the requested `property` codes: empty
    /// means "the server chooses", and this one returns everything. Named
    /// codes select concept properties, plus the pseudo-properties
    /// `designation`, `lang.X` (designations in language X), `parent` and
    /// `child` that lookup defines for every code system.
    pub fn lookup(
        &self,
        code: &str,
        properties: &[&str],
        display_language: Option<&str>,
    ) -> Result<Lookup, Error> {
        let concept = self.get(self.index(code)?);
        let all = properties.is_empty();
        let wants = |p: &str| all || properties.contains(&p);
        let langs: Vec<&str> = properties
            .iter()
            .filter_map(|p| p.strip_prefix("lang."))
            .collect();
        let designations = concept
            .designations
            .iter()
            .filter(|d| {
                wants("designation")
                    || d.language
                        .as_deref()
                        .is_some_and(|l| langs.iter().any(|w| language_matches(l, w)))
            })
            .cloned()
            .collect();
        Ok(Lookup {
            name: self.name().to_owned(),
            version: self.version().map(str::to_owned),
            display: self
                .display_for(concept, display_language)
                .map(str::to_owned),
            definition: concept.definition.clone(),
            designations,
            properties: concept
                .properties
                .iter()
                .filter(|p| wants(&p.code))
                .cloned()
                .collect(),
            parents: if wants("parent") {
                self.parents(concept).map(|c| c.code.clone()).collect()
            } else {
                Vec::new()
            },
            children: if wants("child") {
                self.children(concept).map(|c| c.code.clone()).collect()
            } else {
                Vec::new()
            },
            inactive: concept.inactive,
            abstract_: concept.abstract_,
        })
    }

    /// `CodeSystem/$validate-code`. An unknown code is `result = false`,
    /// not an error: the operation exists to answer that question. A wrong
    /// display fails (R4 has no display-warning mode); an inactive code
    /// passes with a message; an abstract code fails only when the caller
    /// says abstract codes are not allowed.
    pub fn validate_code(&self, code: &str, options: &ValidateOptions<'_>) -> Validation {
        let Some(concept) = self.concept(code) else {
            let version = self
                .version()
                .map(|v| format!(" version '{v}'"))
                .unwrap_or_default();
            // A fragment lists only some codes, so a code missing from it
            // may be valid elsewhere: a warning, not a failure (the wording
            // is the tx ecosystem suite's, tests/tx/fragment).
            let fragment = self.content() == Some("fragment");
            let message = if fragment {
                format!(
                    "Unknown Code '{code}' in the CodeSystem '{}'{version} - note that the code system is labeled as a fragment, so the code may be valid in some other fragment",
                    self.url()
                )
            } else {
                format!(
                    "Unknown code '{code}' in the CodeSystem '{}'{version}",
                    self.url()
                )
            };
            return Validation {
                result: fragment,
                message: Some(message),
                display: None,
                inactive: false,
            };
        };
        let display = self
            .display_for(concept, options.display_language)
            .map(str::to_owned);
        let mut messages = Vec::new();
        let mut result = true;
        if concept.abstract_ && !options.abstract_allowed {
            result = false;
            messages.push(format!(
                "Code '{}' is abstract, and not allowed in this context",
                concept.code
            ));
        }
        if let Some(given) = options.display {
            let valid = valid_displays(self, concept, options.display_language);
            if !valid.contains(&given) {
                result = false;
                let expected = match valid.as_slice() {
                    [] => "no display".to_owned(),
                    [one] => format!("'{one}'"),
                    many => format!(
                        "one of {} choices: {}",
                        many.len(),
                        many.iter()
                            .map(|v| format!("'{v}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                messages.push(format!(
                    "Wrong Display Name '{given}' for {}#{}. Valid display is {expected}",
                    self.url(),
                    concept.code
                ));
            }
        }
        if concept.inactive {
            messages.push(format!(
                "The concept '{}' has a status of inactive and its use should be reviewed",
                concept.code
            ));
        }
        Validation {
            result,
            message: (!messages.is_empty()).then(|| messages.join("; ")),
            display,
            inactive: concept.inactive,
        }
    }

    /// `CodeSystem/$subsumes` for two codes of this system. Both must be
    /// known: "not-subsumed" about a code the system lacks would be a
    /// claim it cannot make.
    pub fn subsumes(&self, a: &str, b: &str) -> Result<Subsumption, Error> {
        let (a, b) = (self.index(a)?, self.index(b)?);
        Ok(if a == b {
            Subsumption::Equivalent
        } else if self.is_ancestor(a, b) {
            Subsumption::Subsumes
        } else if self.is_ancestor(b, a) {
            Subsumption::SubsumedBy
        } else {
            Subsumption::NotSubsumed
        })
    }
}

/// The displays a client may send: the concept's display and every
/// designation, or, for a requested language, only those in it (the
/// display counts when the system's language is that language or unknown).
fn valid_displays<'a>(
    cs: &'a CodeSystem,
    concept: &'a Concept,
    language: Option<&str>,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    let own_ok = match (language, cs.language()) {
        (None, _) | (Some(_), None) => true,
        (Some(want), Some(l)) => language_matches(l, want),
    };
    if own_ok {
        out.extend(concept.display.as_deref());
    }
    for d in &concept.designations {
        let ok = match (language, d.language.as_deref()) {
            (None, _) => true,
            (Some(want), Some(l)) => language_matches(l, want),
            (Some(_), None) => false,
        };
        if ok && !out.contains(&d.value.as_str()) {
            out.push(&d.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JA: &str = r#"{"resourceType":"CodeSystem","url":"http://ex/drug","version":"1","name":"Drug","language":"en",
      "property":[{"code":"notSelectable","uri":"http://hl7.org/fhir/concept-properties#notSelectable","type":"boolean"},
                  {"code":"status","uri":"http://hl7.org/fhir/concept-properties#status","type":"code"},
                  {"code":"strength","type":"string"}],
      "concept":[{"code":"grp","display":"Analgesics","property":[{"code":"notSelectable","valueBoolean":true}],
        "concept":[{"code":"1","display":"Loxoprofen","designation":[{"language":"ja","value":"ロキソプロフェン"},
                     {"language":"ja-Hira","value":"ろきそぷろふぇん"}],
                     "property":[{"code":"strength","valueString":"60mg"}]},
                   {"code":"2","display":"Old","property":[{"code":"status","valueCode":"retired"}]}]},
        {"code":"other","display":"Other"}]}"#;

    fn cs() -> CodeSystem {
        CodeSystem::from_json(JA.as_bytes()).unwrap()
    }

    #[test]
    fn lookup_gives_japanese_display_and_hierarchy() {
        let l = cs().lookup("1", &[], Some("ja-JP")).unwrap();
        assert_eq!(l.display.as_deref(), Some("ロキソプロフェン"));
        assert_eq!(l.parents, ["grp"]);
        assert_eq!(l.designations.len(), 2);
        assert_eq!(l.properties.len(), 1);
        let en = cs()
            .lookup("1", &["lang.ja", "parent"], Some("en"))
            .unwrap();
        assert_eq!(en.display.as_deref(), Some("Loxoprofen"));
        assert!(en.properties.is_empty());
        assert_eq!(en.designations.len(), 2, "lang.ja picks ja and ja-Hira");
        assert_eq!(
            cs().lookup("grp", &["child"], None).unwrap().children,
            ["1", "2"]
        );
        assert!(matches!(
            cs().lookup("nope", &[], None),
            Err(Error::UnknownCode { .. })
        ));
    }

    #[test]
    fn validate_code_messages() {
        let cs = cs();
        let ok = cs.validate_code(
            "1",
            &ValidateOptions {
                display: Some("ロキソプロフェン"),
                ..Default::default()
            },
        );
        assert!(ok.result && ok.message.is_none());
        let wrong = cs.validate_code(
            "1",
            &ValidateOptions {
                display: Some("Loxo"),
                ..Default::default()
            },
        );
        assert!(!wrong.result);
        assert!(wrong
            .message
            .unwrap()
            .starts_with("Wrong Display Name 'Loxo' for http://ex/drug#1"));
        let en_only = ValidateOptions {
            display: Some("ロキソプロフェン"),
            display_language: Some("en"),
            ..Default::default()
        };
        assert!(!cs.validate_code("1", &en_only).result);
        let old = cs.validate_code("2", &ValidateOptions::default());
        assert!(old.result && old.inactive);
        assert!(old.message.unwrap().contains("inactive"));
        assert!(cs.validate_code("grp", &ValidateOptions::default()).result);
        let strict = ValidateOptions {
            abstract_allowed: false,
            ..Default::default()
        };
        assert!(!cs.validate_code("grp", &strict).result);
        let unknown = cs.validate_code("x", &ValidateOptions::default());
        assert_eq!(
            unknown.message.as_deref(),
            Some("Unknown code 'x' in the CodeSystem 'http://ex/drug' version '1'")
        );
    }

    #[test]
    fn unknown_code_in_a_fragment_is_a_warning() {
        let json = JA.replace(
            r#""language":"en","#,
            r#""language":"en","content":"fragment","#,
        );
        let cs = CodeSystem::from_json(json.as_bytes()).unwrap();
        let v = cs.validate_code("x", &ValidateOptions::default());
        assert!(v.result);
        assert!(v
            .message
            .unwrap()
            .ends_with("so the code may be valid in some other fragment"));
    }

    #[test]
    fn subsumes_four_outcomes() {
        let cs = cs();
        assert_eq!(cs.subsumes("grp", "1").unwrap(), Subsumption::Subsumes);
        assert_eq!(cs.subsumes("1", "grp").unwrap(), Subsumption::SubsumedBy);
        assert_eq!(cs.subsumes("1", "1").unwrap(), Subsumption::Equivalent);
        assert_eq!(cs.subsumes("1", "other").unwrap().code(), "not-subsumed");
        assert!(cs.subsumes("1", "zz").is_err());
    }

    #[test]
    fn language_tags() {
        assert!(language_matches("ja", "ja-JP"));
        assert!(language_matches("EN-us", "en"));
        assert!(!language_matches("en", "ja"));
    }
}
