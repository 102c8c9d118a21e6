//! String parameters: string and markdown (and other primitives holding
//! text), HumanName (family, given, prefix, suffix, text) and Address
//! (line, city, district, state, postalCode, country, text), each part its
//! own row.

use fhirpath::Item;

use super::{node, primitive_text, strs};
use crate::search::index::{IndexEntries, StringEntry};
use crate::search::normalize::fold;

const NAME_PARTS: &[&str] = &["family", "given", "prefix", "suffix", "text"];
const ADDRESS_PARTS: &[&str] = &[
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
    "text",
];

pub(super) fn entries(item: &Item, param: &str, group: i32, out: &mut IndexEntries) {
    if let Some((ty, json)) = node(item) {
        let parts = match ty {
            "HumanName" => NAME_PARTS,
            "Address" => ADDRESS_PARTS,
            _ => &[][..],
        };
        if !parts.is_empty() {
            for part in parts {
                for s in strs(json, part) {
                    push(s, param, group, out);
                }
            }
            return;
        }
    }
    if matches!(item, Item::Node(n) if !n.is_primitive()) {
        return;
    }
    if let Some(s) = primitive_text(item) {
        push(&s, param, group, out);
    }
}

fn push(s: &str, param: &str, group: i32, out: &mut IndexEntries) {
    let normalized = fold(s);
    if normalized.is_empty() {
        return;
    }
    out.strings.push(StringEntry {
        param: param.to_owned(),
        group,
        normalized,
        exact: s.to_owned(),
    });
}

#[cfg(test)]
mod tests {
    use crate::search::extract::tests::one;
    use crate::search::param::ParamKind;

    fn strings(expr: &str, res: &str) -> Vec<(String, String)> {
        one(ParamKind::String, expr, res)
            .strings
            .into_iter()
            .map(|s| {
                assert_eq!((s.param.as_str(), s.group), ("p", 0));
                (s.normalized, s.exact)
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn human_name_parts() {
        let got = strings(
            "Patient.name",
            r#"{"resourceType":"Patient","name":[{"use":"official","family":"Müller",
               "given":["Hans","Peter"],"prefix":["Dr."],"suffix":["Jr"],"text":"Dr. Hans Peter Müller Jr"}]}"#,
        );
        assert_eq!(
            got,
            pairs(&[
                ("muller", "Müller"),
                ("hans", "Hans"),
                ("peter", "Peter"),
                ("dr.", "Dr."),
                ("jr", "Jr"),
                ("dr. hans peter muller jr", "Dr. Hans Peter Müller Jr"),
            ])
        );
    }

    #[test]
    fn address_parts() {
        let got = strings(
            "Patient.address",
            r#"{"resourceType":"Patient","address":[{"use":"home","line":["1 Main St","Apt 2"],
               "city":"Springfield","district":"Greene","state":"MO","postalCode":"65801",
               "country":"US","text":"1 Main St"}]}"#,
        );
        assert_eq!(
            got,
            pairs(
                &[
                    ("1 main st", "1 Main St"),
                    ("apt 2", "Apt 2"),
                    ("springfield", "Springfield"),
                    ("greene", "Greene"),
                    ("mo", "MO"),
                    ("65801", "65801"),
                    ("us", "US"),
                    ("1 main st", "1 Main St"),
                ][..7]
            )
        );
    }

    #[test]
    fn string_and_markdown() {
        let got = strings(
            "Patient.name.family",
            r#"{"resourceType":"Patient","name":[{"family":"山田"},{"family":"  "}]}"#,
        );
        assert_eq!(got, pairs(&[("山田", "山田")]));
        let got = strings(
            "ActivityDefinition.description",
            r#"{"resourceType":"ActivityDefinition","status":"draft","description":"**Bold** Text"}"#,
        );
        assert_eq!(got, pairs(&[("**bold** text", "**Bold** Text")]));
    }

    #[test]
    fn other_complex_types_and_extensions_only() {
        let got = strings(
            "Patient.identifier | Patient.name.family",
            r#"{"resourceType":"Patient","identifier":[{"value":"x"}],
               "name":[{"_family":{"extension":[{"url":"u","valueString":"v"}]}}]}"#,
        );
        assert!(got.is_empty());
    }
}
