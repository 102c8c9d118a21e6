//! What a resource gives full-text search: the tokens of its narrative
//! (`_text`) and of all its text (`_content`), computed once per write.
//!
//! "All its text" is every string-ish primitive value, found by walking
//! the JSON with the R4 type tables (`fhir_model::meta`): `string`,
//! `markdown`, `code` and narrative XHTML (markup stripped), in contained
//! resources too. Left out, as they are not text a person would search
//! for: ids (resource and element), `meta`, extension urls,
//! `Reference.reference`, and the values of other primitive types (uris,
//! canonicals, dates, base64 data, numbers, booleans).

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::type_info;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::tokenize::document_tokens;

/// At most this many bytes of tokens per field; the rest of a very large
/// resource is not searchable (keeps a PostgreSQL `tsvector` far below
/// its 1 MB limit).
pub const MAX_FIELD_BYTES: usize = 256 * 1024;

/// The tokens of one resource, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// `text.div` of the resource itself, markup stripped.
    pub narrative: Vec<String>,
    /// Every text value (the narrative included).
    pub content: Vec<String>,
}

impl Document {
    pub fn is_empty(&self) -> bool {
        self.narrative.is_empty() && self.content.is_empty()
    }
}

/// The [`Document`] of a resource's JSON tree.
pub fn document(resource: &Json) -> Document {
    let mut content = Vec::new();
    walk(resource, "Resource", &mut content);
    let mut narrative = Vec::new();
    if let Some(Json::String(div)) = field(resource, "text").and_then(|t| field(t, "div")) {
        document_tokens(&strip_markup(div), &mut narrative);
    }
    Document {
        narrative: capped(narrative),
        content: capped(content),
    }
}

fn field<'a>(v: &'a Json, name: &str) -> Option<&'a Json> {
    match v {
        Json::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    }
}

/// The first tokens, up to [`MAX_FIELD_BYTES`].
fn capped(mut tokens: Vec<String>) -> Vec<String> {
    let mut bytes = 0;
    let keep = tokens
        .iter()
        .position(|t| {
            bytes += t.len() + 1;
            bytes > MAX_FIELD_BYTES
        })
        .unwrap_or(tokens.len());
    tokens.truncate(keep);
    tokens
}

/// Appends the tokens of `v`, a value of FHIR type `ty`.
fn walk(v: &Json, ty: &str, out: &mut Vec<String>) {
    match v {
        Json::Array(items) => items.iter().for_each(|i| walk(i, ty, out)),
        Json::String(s) => match ty {
            "string" | "markdown" | "code" => document_tokens(s, out),
            "xhtml" => document_tokens(&strip_markup(s), out),
            _ => {}
        },
        Json::Object(map) => {
            let ty = if ty == "Resource" {
                match field(v, "resourceType") {
                    Some(Json::String(t)) => t.as_str(),
                    _ => return,
                }
            } else {
                ty
            };
            let Some(info) = type_info(ty) else { return };
            for (key, child) in map {
                let skipped = matches!(key.as_str(), "resourceType" | "id" | "meta")
                    || (ty == "Extension" && key == "url")
                    || (ty == "Reference" && key == "reference")
                    || (ty == "Narrative" && key == "status");
                if skipped {
                    continue;
                }
                if key.starts_with('_') {
                    // A primitive's id and extensions: only the extensions.
                    primitive_extensions(child, out);
                    continue;
                }
                if let Some((_, _, child_ty)) = info.element_named(key) {
                    walk(child, child_ty, out);
                }
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

fn primitive_extensions(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Array(items) => items.iter().for_each(|i| primitive_extensions(i, out)),
        Json::Object(_) => {
            if let Some(ext) = field(v, "extension") {
                walk(ext, "Extension", out);
            }
        }
        _ => {}
    }
}

/// Elements that do not separate words when rendered (`<b>Dia</b>betes`
/// reads as one word); every other tag does.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "big", "cite", "code", "dfn", "em", "i", "kbd", "q", "s", "samp", "small",
    "span", "strike", "strong", "sub", "sup", "tt", "u", "var",
];

/// The text of an XHTML fragment (a narrative `div`): character data with
/// references resolved, tags as word breaks except [`INLINE`] ones.
/// Markup that does not parse ends the text there (stored narratives were
/// checked on input, so this only guards against surprises).
pub fn strip_markup(xhtml: &str) -> String {
    let mut reader = Reader::from_str(xhtml);
    let mut out = String::with_capacity(xhtml.len() / 2);
    loop {
        match reader.read_event() {
            Ok(Event::Text(t)) => out.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => out.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_xml_entity(&r.xml10_content()) {
                    out.push_str(s);
                } else {
                    out.push(' ');
                }
            }
            Ok(Event::Start(t)) | Ok(Event::Empty(t)) => {
                if !INLINE.contains(&t.local_name().as_ref()) {
                    out.push(' ');
                }
            }
            Ok(Event::End(t)) => {
                if !INLINE.contains(&t.local_name().as_ref()) {
                    out.push(' ');
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: serde_json::Value) -> Document {
        let tree = fhir_model::json::tree::parse(json.to_string().as_bytes()).expect("json");
        document(&tree)
    }

    #[test]
    fn markup_is_stripped() {
        assert_eq!(
            strip_markup("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Dia<b>betes</b></p><p>A&amp;B &#x3042;&lt;</p></div>")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["Diabetes", "A&B", "あ<"]
        );
        assert_eq!(
            strip_markup("<div>x<br/>y</div>")
                .split_whitespace()
                .count(),
            2
        );
    }

    #[test]
    fn narrative_and_content() {
        let d = doc(serde_json::json!({
            "resourceType": "Condition", "id": "secretid",
            "meta": {"versionId": "7", "tag": [{"display": "tagged"}]},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">糖尿病 <b>note</b></div>"},
            "extension": [{"url": "http://example.org/ext", "valueString": "extvalue"}],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}], "text": "2型糖尿病"},
            "subject": {"reference": "Patient/p1", "display": "Yamada"},
            "onsetDateTime": "2020-01-01",
            "note": [{"text": "see **chart**"}],
            "_recordedDate": {"extension": [{"url": "http://example.org/x", "valueString": "approx"}]},
            "contained": [{"resourceType": "Practitioner", "id": "c1", "name": [{"family": "Sato"}]}]
        }));
        assert_eq!(d.narrative, ["糖尿", "尿病", "病", "note"]);
        for t in [
            "糖尿", "note", "extvalue", "44054006", "diabetes", "型糖", "yamada", "chart",
            "approx", "sato",
        ] {
            assert!(d.content.iter().any(|c| c == t), "{t} in {:?}", d.content);
        }
        for t in [
            "secretid",
            "7",
            "tagged",
            "http",
            "snomed",
            "patient",
            "p1",
            "2020",
            "c1",
            "example",
            "generated",
        ] {
            assert!(
                !d.content.iter().any(|c| c == t),
                "{t} not in {:?}",
                d.content
            );
        }
    }

    #[test]
    fn large_fields_are_capped() {
        let text = "word ".repeat(MAX_FIELD_BYTES);
        let d = doc(serde_json::json!({"resourceType": "Basic", "code": {"text": text}}));
        assert!(d.content.len() * 5 <= MAX_FIELD_BYTES);
        assert!(d.content.len() * 5 > MAX_FIELD_BYTES - 10);
    }
}
