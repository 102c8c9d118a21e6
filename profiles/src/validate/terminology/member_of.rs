//! `memberOf()` in invariants and profile constraints, answered from the
//! value sets and code systems of the loaded packages: a value set made
//! of concept lists and whole (complete, small) code systems is known;
//! anything else (filters, imports, excludes, code systems not at hand)
//! is unknown, and the expression's result is empty, as FHIRPath makes
//! an unknown membership.

use fhirpath::Terminology;

use crate::validate::terminology::value_sets::ValueSets;

/// The FHIRPath engine's terminology, answered by the validator's value
/// sets.
pub(crate) struct MemberOf<'a> {
    pub value_sets: &'a dyn ValueSets,
}

impl Terminology for MemberOf<'_> {
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool> {
        let codes = self.value_sets.codes(value_set).ok()?;
        Some(match system {
            Some(s) => codes.contains(&(s.to_owned(), code.to_owned())),
            None => codes.iter().any(|(_, c)| c == code),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::validate::Validator;
    use crate::{Package, PackageSet};

    const VS: &str = r#"{"resourceType":"ValueSet","id":"vs","url":"http://example.org/vs",
        "status":"draft","compose":{"include":[{"system":"http://example.org/cs",
        "concept":[{"code":"low"}]}]}}"#;
    const PROFILE: &str = r#"{"resourceType":"StructureDefinition","id":"p",
        "url":"http://example.org/p","name":"P","status":"draft","kind":"resource",
        "abstract":false,"type":"Basic","derivation":"constraint",
        "baseDefinition":"http://hl7.org/fhir/StructureDefinition/Basic",
        "snapshot":{"element":[{"id":"Basic","path":"Basic","min":0,"max":"*"},
        {"id":"Basic.code","path":"Basic.code","min":1,"max":"1","type":[{"code":"CodeableConcept"}],
        "constraint":[{"key":"mm-1","severity":"error","human":"in the value set",
         "expression":"memberOf('http://example.org/vs')"}]}]}}"#;

    fn errors(code: &str) -> Vec<String> {
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources(
                "t",
                "0.0.0",
                vec![
                    ("vs.json".to_owned(), VS.as_bytes().to_vec()),
                    ("p.json".to_owned(), PROFILE.as_bytes().to_vec()),
                ],
            )
            .expect("package"),
        );
        let basic = format!(
            r#"{{"resourceType":"Basic","code":{{"coding":[{{"system":"http://example.org/cs","code":"{code}"}}]}}}}"#
        );
        Validator::new(Arc::new(set))
            .validate_json(basic.as_bytes(), &["http://example.org/p"])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    #[test]
    fn member_of_reads_the_loaded_value_set_provider() {
        assert!(errors("low").is_empty(), "{:?}", errors("low"));
        let e = errors("high");
        assert!(
            e.iter()
                .any(|m| m.starts_with("Basic.code:") && m.contains("mm-1")),
            "{e:?}"
        );
    }
}
