//! Additional bindings (the R5 `ElementDefinition.binding.additional`,
//! carried in R4 by the cross-version extension
//! `http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional`):
//! one whose `purpose` is `required` binds the element as a required
//! binding does, whatever the strength of the main binding.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};

/// The value sets of an element definition's binding that additional
/// bindings make required.
pub(crate) fn required_value_sets(e: &Json) -> Vec<String> {
    let Some(Json::Array(exts)) = field(e, "binding").and_then(|b| field(b, "extension")) else {
        return Vec::new();
    };
    exts.iter()
        .filter(|x| {
            str_field(x, "url").is_some_and(|u| u.ends_with("ElementDefinition.binding.additional"))
        })
        .filter_map(|x| {
            let Some(Json::Array(parts)) = field(x, "extension") else {
                return None;
            };
            let part = |name: &str| parts.iter().find(|p| str_field(p, "url") == Some(name));
            if part("purpose").and_then(|p| str_field(p, "valueCode")) != Some("required") {
                return None;
            }
            let vs = part("valueSet")?;
            str_field(vs, "valueCanonical")
                .or_else(|| str_field(vs, "valueUri"))
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    #[test]
    fn only_required_additional_bindings_bind() {
        let e = tree::parse(
            br#"{"binding":{"strength":"example","valueSet":"http://x/main","extension":[
              {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional",
               "extension":[{"url":"purpose","valueCode":"required"},{"url":"valueSet","valueCanonical":"http://x/req"}]},
              {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional",
               "extension":[{"url":"purpose","valueCode":"preferred"},{"url":"valueSet","valueCanonical":"http://x/pref"}]}]}}"#,
        )
        .expect("json");
        assert_eq!(required_value_sets(&e), vec!["http://x/req".to_owned()]);
        assert!(required_value_sets(&tree::parse(br#"{"path":"X"}"#).expect("json")).is_empty());
    }
}
