//! Reading Questionnaire and QuestionnaireResponse items: array
//! properties, extensions, `value[x]` choices, primitive text and items by
//! linkId, shared by the Questionnaire rules, the response walk, the
//! answer checks and enableWhen.

use fhir_model::json::tree::Value as Json;

use crate::json::{list, str_field};

/// The extensions of `v` with this url.
pub(crate) fn extensions<'a>(v: &'a Json, url: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    list(v, "extension")
        .iter()
        .filter(move |e| str_field(e, "url") == Some(url))
}

/// The `value[x]` (or other choice `prefix[x]`) of an object: the type
/// suffix as written (`Coding`, `Integer`) and the value.
pub(crate) fn choice<'a>(v: &'a Json, prefix: &str) -> Option<(&'a str, &'a Json)> {
    let Json::Object(m) = v else {
        return None;
    };
    m.iter().find_map(|(k, val)| {
        let rest = k.strip_prefix(prefix)?;
        rest.starts_with(|c: char| c.is_ascii_uppercase())
            .then_some((rest, val))
    })
}

/// The `value[x]` of the first extension with this url.
pub(crate) fn ext_value<'a>(v: &'a Json, url: &'a str) -> Option<(&'a str, &'a Json)> {
    extensions(v, url).find_map(|e| choice(e, "value"))
}

/// A primitive's text: strings as they are, numbers as written, booleans.
pub(crate) fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) | Json::Number(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The FHIR type name of a choice suffix: `Integer` → `integer`,
/// `DateTime` → `dateTime`, `Coding` stays.
pub(crate) fn type_of_suffix(suffix: &str) -> String {
    match suffix {
        "Boolean" | "Integer" | "Decimal" | "Date" | "DateTime" | "Time" | "String" | "Uri"
        | "Url" | "Canonical" | "Code" | "Id" | "Oid" | "Uuid" | "Markdown" | "Base64Binary"
        | "Instant" | "PositiveInt" | "UnsignedInt" => {
            let mut c = suffix.chars();
            match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => String::new(),
            }
        }
        other => other.to_owned(),
    }
}

/// The item with this linkId anywhere under `items`.
pub(crate) fn find_item<'a>(items: &'a [Json], link_id: &str) -> Option<&'a Json> {
    for i in items {
        if str_field(i, "linkId") == Some(link_id) {
            return Some(i);
        }
        if let Some(t) = find_item(list(i, "item"), link_id) {
            return Some(t);
        }
    }
    None
}
