//! Profile control of the narrative, by two extensions on a profile's
//! Narrative element (hl7.fhir.uv.extensions):
//!
//! - `narrative-language-control`: the language sections of the narrative
//!   (top-level `div`s with `xml:lang`, narrative.html#lang): `_no` forbids
//!   them, `_yes` requires some, `_resource` requires one in the resource's
//!   own `language`, and a language code requires a section in that
//!   language.
//! - `narrative-source-control`: every top-level node of the narrative
//!   says where it comes from with a class `boilerplate`, `generated` or
//!   `original`. The HL7 validator reports a missing class as an error
//!   whatever level the extension names, and so do we.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::datatypes::xhtml::{self, XNode};
use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

const LANGUAGE_CONTROL: &str = "http://hl7.org/fhir/StructureDefinition/narrative-language-control";
const SOURCE_CONTROL: &str = "http://hl7.org/fhir/StructureDefinition/narrative-source-control";

/// What a profile's element asks of the narrative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    /// The `narrative-language-control` codes.
    pub languages: Vec<String>,
    /// The `narrative-source-control` code.
    pub source: Option<String>,
}

/// The controls on an ElementDefinition, if any.
pub fn compile(element: &Json) -> Option<Control> {
    let Some(Json::Array(exts)) = field(element, "extension") else {
        return None;
    };
    let mut c = Control::default();
    for x in exts {
        let code = str_field(x, "valueCode").map(str::to_owned);
        match str_field(x, "url") {
            Some(LANGUAGE_CONTROL) => c.languages.extend(code),
            Some(SOURCE_CONTROL) => c.source = code.or(Some(String::new())),
            _ => {}
        }
    }
    (c != Control::default()).then_some(c)
}

/// Checks the Narrative `narrative` of `resource` at `location` against
/// the controls of the profile `profile_url`.
pub fn check(
    c: &Control,
    narrative: Option<&Json>,
    resource: &Json,
    profile_url: &str,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(div) = narrative.and_then(|n| str_field(n, "div")) else {
        return;
    };
    let Some(root) = xhtml::parse(div).root else {
        return;
    };
    let profile = format!("StructureDefinition[{profile_url}]");
    let mut error = |message: String| {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::BusinessRule,
            location,
            message,
        ));
    };
    let mut sections: Vec<&str> = root
        .children()
        .iter()
        .filter(|n| n.name() == Some("div"))
        .filter_map(|n| n.attr("xml:lang"))
        .collect();
    sections.sort_unstable();
    sections.dedup();
    let found = sections.join(", ");
    for code in &c.languages {
        match code.as_str() {
            "_no" if !sections.is_empty() => error(format!(
                "The xhtml has some language sections ({found}), but language sections are prohibited in this context by the profile {profile}"
            )),
            "_yes" if sections.is_empty() => error(format!(
                "The xhtml has no language sections, but language sections are required in this context by the profile {profile}"
            )),
            "_no" | "_yes" => {}
            "_resource" => {
                if let Some(lang) = str_field(resource, "language") {
                    if !sections.contains(&lang) {
                        error(format!(
                            "The profile {profile} requires a section in the narrative for the resource language ({lang}), but it was not found (found {found})"
                        ));
                    }
                }
            }
            lang => {
                if !sections.contains(&lang) {
                    error(format!(
                        "The profile {profile} requires a section in the narrative for the language {lang}, but it was not found (found {found})"
                    ));
                }
            }
        }
    }
    if c.source.is_some() {
        for node in root.children() {
            let text = node.text();
            let text = text.trim();
            let sourced = match node {
                XNode::Text(_) => text.is_empty(),
                XNode::Element { .. } => node.attr("class").is_some_and(|cl| {
                    cl.split_whitespace()
                        .any(|k| matches!(k, "boilerplate" | "generated" | "original"))
                }),
            };
            if !sourced {
                error(format!(
                    "The xhtml node at '{text}' does not have a class attribute to indicate its source (boilerplate, generated, or original) and this is required by the profile {profile}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn run(control: &str, resource: &str) -> Vec<String> {
        let (url, code) = control.split_once('|').expect("url|code");
        let element = tree::parse(
            format!(
                r#"{{"path":"Patient.text","extension":[{{"url":"{url}","valueCode":"{code}"}}]}}"#
            )
            .as_bytes(),
        )
        .expect("json");
        let c = compile(&element).expect("control");
        let r = tree::parse(resource.as_bytes()).expect("json");
        let mut issues = Vec::new();
        check(
            &c,
            field(&r, "text"),
            &r,
            "http://x/p",
            "Patient.text",
            &mut issues,
        );
        issues.into_iter().map(|i| i.message).collect()
    }

    const NONE: &str = r#"{"resourceType":"Patient","language":"en","text":{"status":"extensions","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Text</div>"}}"#;
    const TWO: &str = r#"{"resourceType":"Patient","language":"en","text":{"status":"extensions","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><div xml:lang=\"pt\" lang=\"pt\">a</div><div xml:lang=\"de\">b</div></div>"}}"#;

    #[test]
    fn language_sections() {
        let lc = format!("{LANGUAGE_CONTROL}|");
        assert_eq!(run(&format!("{lc}_yes"), NONE).len(), 1);
        assert!(run(&format!("{lc}_yes"), TWO).is_empty());
        assert!(run(&format!("{lc}_no"), NONE).is_empty());
        let m = run(&format!("{lc}_no"), TWO);
        assert!(m[0].contains("(de, pt)"), "{m:?}");
        let m = run(&format!("{lc}_resource"), TWO);
        assert!(m[0].contains("resource language (en)"), "{m:?}");
        assert!(run(&format!("{lc}_resource"), &TWO.replace("pt", "en")).is_empty());
    }

    #[test]
    fn source_classes() {
        let r = r#"{"resourceType":"Patient","text":{"status":"extensions","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Loose <h1 class=\"boilerplate\">H</h1><p>No class</p><p class=\"x generated\">G</p></div>"}}"#;
        let m = run(&format!("{SOURCE_CONTROL}|warning"), r);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("The xhtml node at 'Loose'"));
        assert!(m[1].starts_with("The xhtml node at 'No class'"));
    }
}
