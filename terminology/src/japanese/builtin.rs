//! What the [`Registry`] answers for a Japanese system: the loaded master
//! when there is one (under the canonical url or any alias), and the
//! syntax-only answers when there is none.
//!
//! Without a master the engine knows a code's shape and nothing else, and
//! says so: `$validate-code` is `true` for a well-formed code with a
//! message that it was checked for shape only, `$lookup` has no display,
//! only the parts the shape defines, and `$subsumes` answers from
//! structure alone: the HOT levels nest by prefix, and the other systems
//! are flat (two different well-formed codes are never in a subsumption
//! relation, whether or not they exist).

use super::{HotCode, JpCode, JpSystem};
use crate::code_system::{CodeSystem, Coding, Property, PropertyValue};
use crate::operations::{Lookup, Subsumption, ValidateOptions, Validation};
use crate::{Error, Registry};

impl Registry {
    /// The loaded master of a Japanese system: a CodeSystem under its
    /// canonical url or any alias (the last version added).
    pub(crate) fn jp_master(&self, system: JpSystem) -> Option<&CodeSystem> {
        system.urls().iter().find_map(|u| self.get(u, None).ok())
    }

    /// `$lookup` for a Japanese system the registry has no CodeSystem for
    /// under the url asked. `missing` is that failure, returned when a
    /// master exists but not in the version asked for.
    pub(crate) fn jp_lookup(
        &self,
        system: JpSystem,
        version: Option<&str>,
        code: &str,
        properties: &[&str],
        display_language: Option<&str>,
        missing: Error,
    ) -> Result<Lookup, Error> {
        let parsed = system.check(code)?;
        match self.jp_master(system) {
            Some(_) if version.is_some() => Err(missing),
            Some(cs) => cs.lookup(code, properties, display_language),
            None => Ok(shape_lookup(system, &parsed, properties)),
        }
    }

    /// `$validate-code` for a Japanese system, after the shape check
    /// passed, when no CodeSystem has the url asked. `None` when a master
    /// exists but not in the version asked (the caller's message says so).
    pub(crate) fn jp_validate(
        &self,
        system: JpSystem,
        version: Option<&str>,
        code: &JpCode,
        options: &ValidateOptions<'_>,
    ) -> Option<Validation> {
        match self.jp_master(system) {
            Some(_) if version.is_some() => None,
            Some(cs) => Some(cs.validate_code(code.as_str(), options)),
            None => Some(shape_validation(system, code, options)),
        }
    }

    /// `$subsumes` for a Japanese system: both codes must have its shape;
    /// then the master answers if one is loaded, else the structure does
    /// (see `Registry::subsumes_codings` for HOT codes of two levels).
    pub(crate) fn jp_subsumes(
        &self,
        system: JpSystem,
        url: &str,
        version: Option<&str>,
        a: &str,
        b: &str,
    ) -> Result<Subsumption, Error> {
        let ca = system.check(a)?;
        let cb = system.check(b)?;
        if let (JpCode::Hot(ha), JpCode::Hot(hb)) = (&ca, &cb) {
            return self.hot_subsumes(ha, hb);
        }
        let master = match self.get(url, version) {
            Ok(cs) => Some(cs),
            Err(e) if version.is_some() => return Err(e),
            Err(_) => self.jp_master(system),
        };
        match master {
            Some(cs) => cs.subsumes(a, b),
            None if a == b => Ok(Subsumption::Equivalent),
            None => Ok(Subsumption::NotSubsumed),
        }
    }

    /// HOT nesting: a code subsumes the longer codes it is a prefix of.
    /// A code must be in its level's master when one is loaded.
    pub(crate) fn hot_subsumes(&self, a: &HotCode, b: &HotCode) -> Result<Subsumption, Error> {
        for c in [a, b] {
            let system = JpSystem::Hot(c.level());
            if let Some(cs) = self.jp_master(system) {
                if cs.concept(c.as_str()).is_none() {
                    return Err(Error::UnknownCode {
                        system: cs.url().to_owned(),
                        code: c.as_str().to_owned(),
                    });
                }
            }
        }
        Ok(if a == b {
            Subsumption::Equivalent
        } else if a.is_prefix_of(b) {
            Subsumption::Subsumes
        } else if b.is_prefix_of(a) {
            Subsumption::SubsumedBy
        } else {
            Subsumption::NotSubsumed
        })
    }
}

/// `$validate-code` of a malformed code: `false`, with the shape error.
pub(crate) fn malformed(e: &Error) -> Validation {
    Validation {
        result: false,
        message: Some(e.to_string()),
        display: None,
        inactive: false,
    }
}

/// `$validate-code` with no master: true, saying what was checked.
fn shape_validation(system: JpSystem, code: &JpCode, options: &ValidateOptions<'_>) -> Validation {
    let parts = code.parts();
    let described = if parts.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            parts
                .iter()
                .map(|(name, value)| format!("{name} {value}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut message = format!(
        "Code '{}' has the shape of a {} code{described}; no {} master (CodeSystem '{}') is loaded, so it was checked for shape only: whether the code exists is not known",
        code.as_str(),
        system.name(),
        system.name(),
        system.url()
    );
    if options.display.is_some() {
        message.push_str("; the display was not checked");
    }
    Validation {
        result: true,
        message: Some(message),
        display: None,
        inactive: false,
    }
}

/// `$lookup` with no master: the parts, and for HOT codes the level and
/// the parent (the code one level up, a coding of that level's system).
fn shape_lookup(system: JpSystem, code: &JpCode, properties: &[&str]) -> Lookup {
    let wants = |p: &str| properties.is_empty() || properties.contains(&p);
    let mut props: Vec<Property> = code
        .parts()
        .into_iter()
        .filter(|(name, _)| wants(name))
        .map(|(name, value)| Property {
            code: name.to_owned(),
            value: PropertyValue::Code(value.to_owned()),
        })
        .collect();
    if let JpCode::Hot(hot) = code {
        if wants("level") {
            props.push(Property {
                code: "level".to_owned(),
                value: PropertyValue::Code(hot.level().name().to_owned()),
            });
        }
        if let (Some(parent), true) = (hot.parent(), wants("parent")) {
            props.push(Property {
                code: "parent".to_owned(),
                value: PropertyValue::Coding(Coding {
                    system: Some(JpSystem::Hot(parent.level()).url().to_owned()),
                    code: Some(parent.as_str().to_owned()),
                    ..Coding::default()
                }),
            });
        }
    }
    Lookup {
        name: system.name().to_owned(),
        version: None,
        display: None,
        definition: None,
        designations: Vec::new(),
        properties: props,
        parents: Vec::new(),
        children: Vec::new(),
        inactive: false,
        abstract_: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
    const HOT9: &str = "http://medis.or.jp/CodeSystem/master-HOT9";
    const HOT7: &str = "http://medis.or.jp/CodeSystem/master-HOT7";

    #[test]
    fn validate_without_a_master_checks_the_shape_only() {
        let r = Registry::new();
        let ok = r.validate_code(
            JLAC10,
            None,
            "3H015000002326101",
            &ValidateOptions::default(),
        );
        assert!(ok.result);
        assert_eq!(
            ok.message.as_deref(),
            Some("Code '3H015000002326101' has the shape of a JLAC10 code (analyte 3H015, identification 0000, material 023, method 261, result-identification 01); no JLAC10 master (CodeSystem 'http://medis.or.jp/CodeSystem/master-JLAC10-17digits') is loaded, so it was checked for shape only: whether the code exists is not known")
        );
        let bad = r.validate_code(
            JLAC10,
            None,
            "3H01500000232610X",
            &ValidateOptions::default(),
        );
        assert!(!bad.result);
        assert!(bad
            .message
            .unwrap()
            .contains("result-identification part '0X'"));
        // An alias url: the same system.
        assert!(
            r.validate_code(
                "urn:oid:1.2.392.200119.4.403.1",
                None,
                "103831601",
                &ValidateOptions::default()
            )
            .result
        );
        assert!(
            !r.validate_code(HOT9, None, "1038316", &ValidateOptions::default())
                .result
        );
        let with_display = r.validate_code(
            HOT9,
            None,
            "103831601",
            &ValidateOptions {
                display: Some("anything"),
                ..Default::default()
            },
        );
        assert!(with_display.result);
        assert!(with_display
            .message
            .unwrap()
            .ends_with("; the display was not checked"));
    }

    #[test]
    fn lookup_without_a_master_gives_the_parts() {
        let r = Registry::new();
        let l = r
            .lookup(JLAC10, "3A015000002327101", None, &[], None)
            .unwrap();
        assert_eq!(l.name, "JLAC10");
        assert!(l.display.is_none());
        let props: Vec<(&str, &PropertyValue)> = l
            .properties
            .iter()
            .map(|p| (p.code.as_str(), &p.value))
            .collect();
        assert_eq!(props.len(), 5);
        assert_eq!(props[0], ("analyte", &PropertyValue::Code("3A015".into())));
        assert_eq!(
            props[4],
            ("result-identification", &PropertyValue::Code("01".into()))
        );
        let only = r
            .lookup(JLAC10, "3A015000002327101", None, &["material"], None)
            .unwrap();
        assert_eq!(only.properties.len(), 1);

        let hot = r
            .lookup(
                "http://medis.or.jp/CodeSystem/master-HOT13",
                "1038316010101",
                None,
                &[],
                None,
            )
            .unwrap();
        assert_eq!(hot.properties[0].value, PropertyValue::Code("HOT13".into()));
        assert_eq!(
            hot.properties[1].value,
            PropertyValue::Coding(Coding {
                system: Some("http://medis.or.jp/CodeSystem/master-HOT11".into()),
                code: Some("10383160101".into()),
                ..Coding::default()
            })
        );
        assert!(matches!(
            r.lookup(JLAC10, "ALB", None, &[], None),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            r.lookup("http://example.org/other", "x", None, &[], None),
            Err(Error::UnknownSystem { .. })
        ));
    }

    #[test]
    fn subsumes_along_the_hot_nesting() {
        let r = Registry::new();
        let s = |sa: &str, a: &str, sb: &str, b: &str| r.subsumes_codings(sa, a, sb, b, None);
        assert_eq!(
            s(HOT7, "1038316", HOT9, "103831601").unwrap(),
            Subsumption::Subsumes
        );
        assert_eq!(
            s(HOT9, "103831601", HOT7, "1038316").unwrap(),
            Subsumption::SubsumedBy
        );
        assert_eq!(
            s(
                HOT7,
                "1038316",
                "http://medis.or.jp/CodeSystem/master-HOT13",
                "1038316010101"
            )
            .unwrap(),
            Subsumption::Subsumes
        );
        assert_eq!(
            s(HOT7, "1038317", HOT9, "103831601").unwrap(),
            Subsumption::NotSubsumed
        );
        assert_eq!(
            r.subsumes(HOT9, None, "103831601", "103831601").unwrap(),
            Subsumption::Equivalent
        );
        assert_eq!(
            r.subsumes(HOT9, None, "103831601", "103831602").unwrap(),
            Subsumption::NotSubsumed
        );
        assert!(matches!(
            s(HOT7, "103831601", HOT9, "103831601"),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            s(HOT7, "1038316", JLAC10, "3A015000002327101"),
            Err(Error::NotSupported(_))
        ));
        // Flat systems: equal or not.
        assert_eq!(
            r.subsumes(JLAC10, None, "3A015000002327101", "3A015000002227101")
                .unwrap(),
            Subsumption::NotSubsumed
        );
    }

    #[test]
    fn a_loaded_master_answers_and_shapes_still_apply() {
        let mut r = Registry::new();
        r.insert_json(
            r#"{"resourceType":"CodeSystem","url":"http://medis.or.jp/CodeSystem/master-HOT9","name":"HOT9","content":"complete",
                "concept":[{"code":"103831601","display":"カルボシステイン錠250mg「サワイ」"}]}"#
                .as_bytes(),
        )
        .unwrap();
        let known = r.validate_code(HOT9, None, "103831601", &ValidateOptions::default());
        assert!(known.result && known.message.is_none());
        assert_eq!(
            known.display.as_deref(),
            Some("カルボシステイン錠250mg「サワイ」")
        );
        let unknown = r.validate_code(HOT9, None, "103831699", &ValidateOptions::default());
        assert!(!unknown.result);
        assert!(unknown
            .message
            .unwrap()
            .starts_with("Unknown code '103831699'"));
        let malformed = r.validate_code(HOT9, None, "10383160", &ValidateOptions::default());
        assert!(malformed.message.unwrap().contains("not a valid HOT9 code"));
        // Found under an alias url too.
        let l = r
            .lookup(
                "urn:oid:1.2.392.100495.20.2.74",
                "103831601",
                None,
                &[],
                None,
            )
            .unwrap();
        assert_eq!(
            l.display.as_deref(),
            Some("カルボシステイン錠250mg「サワイ」")
        );
        // The nesting still holds, but a code must be in its level's master.
        assert_eq!(
            r.subsumes_codings(HOT7, "1038316", HOT9, "103831601", None)
                .unwrap(),
            Subsumption::Subsumes
        );
        assert!(matches!(
            r.subsumes_codings(HOT7, "1038316", HOT9, "103831699", None),
            Err(Error::UnknownCode { .. })
        ));
    }
}
