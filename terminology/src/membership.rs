//! `ValueSet/$validate-code` (valueset-operation-validate-code.html):
//! whether a coding, or any coding of a CodeableConcept, is in a value set
//! and valid in its code system.

use std::sync::Arc;

use crate::expand::{ExpandOptions, Run};
use crate::members::{Item, Members};
use crate::operations::{ValidateOptions, Validation};
use crate::registry::Registry;
use crate::value_set::ValueSet;
use crate::Error;

/// What `ValueSet/$validate-code` checks: one coding (`code`, `system`,
/// `display`), or the codings of a CodeableConcept, any of which may be
/// valid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodingToCheck {
    /// `system`.
    pub system: Option<String>,
    /// `systemVersion` or `coding.version`.
    pub version: Option<String>,
    /// `code`.
    pub code: String,
    /// `display`.
    pub display: Option<String>,
}

/// What one coding of a request came to.
enum Outcome {
    /// In the value set, and checked in its code system (display,
    /// abstract, inactive): valid or not.
    Checked(Validation),
    /// In the value set, but of a version other than the one the value
    /// set pins: not valid, with why.
    OtherVersion(Validation, String),
    /// Not in the value set, or without a system to look for: why.
    NotMember(String),
}

impl Registry {
    /// The codes of a value set with a hash index, worked out once per
    /// ValueSet object.
    fn members(&self, vs: &ValueSet) -> Result<Arc<Members>, Error> {
        if let Some(m) = vs.members.get() {
            return Ok(m.clone());
        }
        let options = ExpandOptions::default();
        let items = self.items(vs, &mut Run::new(&options))?;
        let m = Arc::new(Members::new(items));
        // Another thread may have set it meanwhile: the same answer.
        let _ = vs.members.set(m.clone());
        Ok(m)
    }

    /// `ValueSet/$validate-code`: whether any of the codings is in the
    /// value set (and, when it is, valid in its code system: display,
    /// abstract, inactive), with a `message` saying why not.
    pub fn validate_in_value_set(
        &self,
        vs: &ValueSet,
        codings: &[CodingToCheck],
        display_language: Option<&str>,
        active_only: bool,
    ) -> Result<Validation, Error> {
        let all = match self.members(vs) {
            Ok(all) => all,
            // A code system (version) the value set needs is missing: the
            // code cannot be validated, which is an answer, not an error.
            Err(Error::UnknownSystem { system, version }) => {
                let version = version
                    .map(|v| format!(" version '{v}'"))
                    .unwrap_or_default();
                return Ok(invalid(Some(format!(
                    "A definition for CodeSystem '{system}'{version} could not be found, so the code cannot be validated"
                ))));
            }
            Err(e) => return Err(e),
        };
        let mut messages = Vec::new();
        let mut first: Option<Validation> = None;
        for c in codings {
            match self.check_coding(vs, &all, c, display_language, active_only) {
                Outcome::Checked(v) if v.result => return Ok(v),
                Outcome::Checked(v) => {
                    messages.extend(v.message.clone());
                    first.get_or_insert(v);
                }
                Outcome::OtherVersion(v, m) => {
                    messages.push(m);
                    first.get_or_insert(v);
                }
                Outcome::NotMember(m) => messages.push(m),
            }
        }
        let message = (!messages.is_empty()).then(|| messages.join("; "));
        Ok(match first {
            Some(mut v) => {
                v.message = message;
                v
            }
            None => invalid(message),
        })
    }

    /// One coding: is it a member, of the version pinned, and valid.
    fn check_coding(
        &self,
        vs: &ValueSet,
        all: &Members,
        c: &CodingToCheck,
        display_language: Option<&str>,
        active_only: bool,
    ) -> Outcome {
        let Some(system) = c.system.as_deref().or_else(|| all.only_system()) else {
            return Outcome::NotMember(format!(
                "The code '{}' has no system, so it cannot be validated against the value set '{}'",
                c.code,
                vs.label()
            ));
        };
        let found = all.get(system, &c.code).or_else(|| {
            // Case-insensitive systems match their codes folded.
            let cs = self.get(system, c.version.as_deref()).ok()?;
            let concept = cs.concept(&c.code)?;
            all.get(system, &concept.code)
        });
        let Some(item) = found else {
            return Outcome::NotMember(self.not_a_member(vs, system, c));
        };
        match self.version_to_check(system, item, c) {
            Ok(version) => Outcome::Checked(self.check_member(
                system,
                item,
                version.as_deref(),
                c,
                display_language,
                active_only,
            )),
            Err(other_version) => other_version,
        }
    }

    /// Why a coding is not in the value set: its system is unknown, its
    /// code unknown in the system, or it is simply not included.
    fn not_a_member(&self, vs: &ValueSet, system: &str, c: &CodingToCheck) -> String {
        let known = self.get(system, c.version.as_deref());
        let m = match known {
            Err(_) if c.version.is_none() => format!(
                "A definition for CodeSystem '{system}' could not be found, so the code cannot be validated"
            ),
            _ => format!(
                "The provided code '{system}#{}' was not found in the value set '{}'",
                c.code,
                vs.label()
            ),
        };
        match known {
            Ok(cs) if cs.concept(&c.code).is_none() && !cs.is_empty() => format!(
                "Unknown code '{}' in the CodeSystem '{system}'; {m}",
                c.code
            ),
            _ => m,
        }
    }

    /// The code system version to check a member in. The coding's version
    /// must be the one the value set pins (a pattern such as 1.x matches
    /// several); unpinned, the coding's version is the one checked. `Err`
    /// is the answer when the coding's version does not fit.
    fn version_to_check(
        &self,
        system: &str,
        item: &Item,
        c: &CodingToCheck,
    ) -> Result<Option<String>, Outcome> {
        let Some(given) = &c.version else {
            return Ok(item.version.clone());
        };
        let ok = match &item.pinned {
            Some(p) => p == given || crate::registry::version_matches(p, given),
            None => true,
        };
        let used = item.version.clone().unwrap_or_default();
        if ok && self.get(system, Some(given)).is_ok() {
            Ok(Some(given.clone()))
        } else if given != &used {
            Err(Outcome::OtherVersion(
                Validation {
                    result: false,
                    message: None,
                    display: item.display.clone(),
                    inactive: item.inactive,
                },
                format!(
                    "The code system '{system}' version '{used}' in the ValueSet include is different to the one in the value ('{given}')"
                ),
            ))
        } else {
            Ok(item.version.clone())
        }
    }

    /// A member checked in its code system (display, abstract, inactive);
    /// a member from a system without concepts has only the value set's
    /// display to check against.
    fn check_member(
        &self,
        system: &str,
        item: &Item,
        version: Option<&str>,
        c: &CodingToCheck,
        display_language: Option<&str>,
        active_only: bool,
    ) -> Validation {
        match self.get(system, version) {
            Ok(cs) if cs.concept(&item.code).is_some() => {
                let mut v = cs.validate_code(
                    &item.code,
                    &ValidateOptions {
                        display: c.display.as_deref(),
                        display_language,
                        abstract_allowed: false,
                    },
                );
                if active_only && v.inactive {
                    v.result = false;
                }
                v
            }
            _ => {
                let ok = match (&c.display, &item.display) {
                    (Some(given), Some(d)) => given == d,
                    _ => true,
                };
                Validation {
                    result: ok,
                    message: (!ok).then(|| {
                        format!(
                            "Wrong Display Name '{}' for {system}#{}. Valid display is '{}'",
                            c.display.as_deref().unwrap_or(""),
                            c.code,
                            item.display.as_deref().unwrap_or("")
                        )
                    }),
                    display: item.display.clone(),
                    inactive: false,
                }
            }
        }
    }
}

/// Not valid, saying why.
fn invalid(message: Option<String>) -> Validation {
    Validation {
        result: false,
        message,
        display: None,
        inactive: false,
    }
}
