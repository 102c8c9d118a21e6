//! Required bindings of the base spec on `code` elements
//! (terminologies.html#required): `Patient.gender` must be one of the codes
//! of `administrative-gender`, whether or not a profile is applied. The
//! binding is read from the core StructureDefinition of the element's
//! type (compiled once by the [`Validator`]), so the rule holds for every
//! `code` element the core binds with strength `required` to a value set
//! whose codes the package set can list. Value sets it cannot list
//! (external systems such as MIME types or currencies) are not judged.

use crate::validate::IssueType;
use crate::validate::{Issue, Severity, Validator};

/// Checks the `code` value `code` of the element at definition path
/// `elem_path` (`Patient.gender`, `Bundle.entry.request.method`,
/// `ContactPoint.system`) located at `loc`.
pub(crate) fn check(
    v: &Validator,
    elem_path: &str,
    code: &str,
    loc: &str,
    issues: &mut Vec<Issue>,
) {
    if elem_path.ends_with("[x]") {
        return;
    }
    let Some(ty) = elem_path.split('.').next() else {
        return;
    };
    let Some(profile) = v.profile(&format!("http://hl7.org/fhir/StructureDefinition/{ty}")) else {
        return;
    };
    let Some((vs, Ok(allowed))) = profile.required_binding(elem_path) else {
        return;
    };
    if allowed.iter().any(|(_, c)| c == code) {
        return;
    }
    issues.push(Issue::new(
        Severity::Error,
        IssueType::CodeInvalid,
        loc,
        format!(
            "The value provided ('{code}') was not found in the value set {vs}, and a code is required from this value set"
        ),
    ));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Package, PackageSet, Validator};

    /// A core-like Patient definition binding `gender` (required) and
    /// `language` (preferred), with its value set and code system.
    fn validator() -> Validator {
        let sd = r#"{"resourceType":"StructureDefinition","id":"Patient",
          "url":"http://hl7.org/fhir/StructureDefinition/Patient","type":"Patient","kind":"resource",
          "snapshot":{"element":[
            {"id":"Patient","path":"Patient","min":0,"max":"*"},
            {"id":"Patient.language","path":"Patient.language","min":0,"max":"1","type":[{"code":"code"}],
             "binding":{"strength":"preferred","valueSet":"http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1"}},
            {"id":"Patient.gender","path":"Patient.gender","min":0,"max":"1","type":[{"code":"code"}],
             "binding":{"strength":"required","valueSet":"http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1"}}]}}"#;
        let vs = r#"{"resourceType":"ValueSet","id":"administrative-gender",
          "url":"http://hl7.org/fhir/ValueSet/administrative-gender","version":"4.0.1",
          "compose":{"include":[{"system":"http://hl7.org/fhir/administrative-gender"}]}}"#;
        let cs = r#"{"resourceType":"CodeSystem","id":"administrative-gender",
          "url":"http://hl7.org/fhir/administrative-gender","content":"complete",
          "concept":[{"code":"male"},{"code":"female"},{"code":"other"},{"code":"unknown"}]}"#;
        let files = [
            ("sd.json".to_owned(), sd.as_bytes().to_vec()),
            ("vs.json".to_owned(), vs.as_bytes().to_vec()),
            ("cs.json".to_owned(), cs.as_bytes().to_vec()),
        ];
        let mut set = PackageSet::new();
        set.add(Package::from_resources("core.like", "0.1.0", files).expect("package"));
        Validator::new(Arc::new(set))
    }

    fn gender_errors(json: &str) -> usize {
        validator()
            .validate_json(json.as_bytes(), &[])
            .iter()
            .filter(|i| i.severity.is_error() && i.expression == "Patient.gender")
            .count()
    }

    #[test]
    fn a_code_outside_a_required_base_binding_is_an_error() {
        assert_eq!(
            gender_errors(r#"{"resourceType":"Patient","gender":"invalid"}"#),
            1
        );
    }

    #[test]
    fn a_code_in_the_value_set_or_a_preferred_binding_passes() {
        assert_eq!(
            gender_errors(r#"{"resourceType":"Patient","gender":"female","language":"xx"}"#),
            0
        );
        let issues =
            validator().validate_json(br#"{"resourceType":"Patient","language":"xx"}"#, &[]);
        assert!(!issues.iter().any(|i| i.severity.is_error()), "{issues:?}");
    }
}
