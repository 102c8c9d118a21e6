//! Reference parameters (search.html#reference): Reference (relative
//! `Type/id`, `Type/id/_history/v`, absolute URLs ending in `Type/id`,
//! other absolute URLs as URLs only; `#contained` skipped; the identifier
//! for `:identifier`), canonical/uri (URL and `|version`, nothing else,
//! even when it ends in `Type/id`), strings as references, and resources
//! selected directly (`Bundle.entry[0].resource`) as `Type/id`. Other
//! primitives (a `code` selected by a mistaken definition) yield nothing.

use fhir_model::meta::{self, Kind};
use fhirpath::Item;

use super::{field, node, primitive_text, str_field};
use crate::search::index::{IndexEntries, ReferenceEntry};

pub(super) fn entries(item: &Item, param: &str, group: i32, out: &mut IndexEntries) {
    let mut e = ReferenceEntry {
        param: param.to_owned(),
        group,
        target_type: None,
        target_id: None,
        target_version: None,
        url: None,
        url_version: None,
        identifier_system: None,
        identifier_value: None,
    };
    match node(item) {
        Some(("Reference", json)) => {
            if let Some(r) = str_field(json, "reference") {
                reference(r, &mut e);
            }
            if let Some(id) = field(json, "identifier") {
                e.identifier_system = str_field(id, "system").map(str::to_owned);
                e.identifier_value = str_field(id, "value").map(str::to_owned);
            }
        }
        Some((_, json)) if matches!(item, Item::Node(n) if n.is_resource()) => {
            let ty = str_field(json, "resourceType");
            let id = str_field(json, "id").filter(|id| valid_id(id));
            if let (Some(ty), Some(id)) = (ty, id) {
                e.target_type = Some(ty.to_owned());
                e.target_id = Some(id.to_owned());
            }
        }
        Some((ty, _)) if !matches!(item, Item::Node(n) if n.is_primitive()) => {
            log::debug!("reference parameter {param}: cannot index a {ty}");
        }
        _ => {
            let ty = match item {
                Item::Node(n) => n.ty,
                _ => "string",
            };
            match (ty, primitive_text(item)) {
                ("canonical" | "uri" | "url" | "oid" | "uuid", Some(s)) => canonical(&s, &mut e),
                ("string", Some(s)) => reference(&s, &mut e),
                _ => log::debug!("reference parameter {param}: cannot index a {ty}"),
            }
        }
    }
    let useful = e.target_id.is_some()
        || e.url.is_some()
        || e.identifier_system.is_some()
        || e.identifier_value.is_some();
    if useful {
        out.references.push(e);
    }
}

/// A canonical: the URL and its `|version` (a local `#id` is skipped, as
/// for references).
fn canonical(s: &str, e: &mut ReferenceEntry) {
    if s.is_empty() || s.starts_with('#') {
        return;
    }
    let url = match s.split_once('|') {
        Some((url, version)) => {
            e.url_version = Some(version.to_owned()).filter(|v| !v.is_empty());
            url
        }
        None => s,
    };
    e.url = Some(url.to_owned());
    // A relative canonical (`Library/l2`) also names a local resource, so
    // that `depends-on=Library/l2` finds it by type and id like any
    // reference, with one index lookup.
    if let Some((ty, id, None, true)) = target(url) {
        e.target_type = Some(ty.to_owned());
        e.target_id = Some(id.to_owned());
    }
}

/// A reference string: relative `Type/id[/_history/v]`, or an absolute
/// URL (whose `Type/id[/_history/v]` end, when it has one, also sets the
/// target). A local `#id` reference is skipped; anything else is kept as
/// written in `url`, so exact matches still work.
fn reference(s: &str, e: &mut ReferenceEntry) {
    if s.is_empty() || s.starts_with('#') {
        return;
    }
    let absolute = s.contains("://") || s.starts_with("urn:");
    let parsed = if s.starts_with("urn:") {
        None
    } else {
        target(s)
    };
    match parsed {
        Some((ty, id, version, whole)) if absolute || whole => {
            e.target_type = Some(ty.to_owned());
            e.target_id = Some(id.to_owned());
            e.target_version = version.map(str::to_owned);
            if absolute {
                e.url = Some(s.to_owned());
            }
        }
        _ => e.url = Some(s.to_owned()),
    }
}

/// The `Type/id[/_history/v]` at the end of a reference, and whether it is
/// the whole reference.
fn target(s: &str) -> Option<(&str, &str, Option<&str>, bool)> {
    let s = s.split(['?', '#']).next().unwrap_or(s);
    let segs: Vec<&str> = s.split('/').collect();
    let n = segs.len();
    let (ty_at, version) = if n >= 4 && segs[n - 2] == "_history" {
        (n - 4, Some(segs[n - 1]))
    } else if n >= 2 {
        (n - 2, None)
    } else {
        return None;
    };
    let (ty, id) = (segs[ty_at], segs[ty_at + 1]);
    let known = meta::type_info(ty).is_some_and(|t| t.kind == Kind::Resource);
    if !known || !valid_id(id) || version.is_some_and(|v| !valid_id(v)) {
        return None;
    }
    Some((ty, id, version, ty_at == 0))
}

/// FHIR ids: `[A-Za-z0-9\-\.]{1,64}`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use crate::search::extract::tests::one;
    use crate::search::index::ReferenceEntry;
    use crate::search::param::ParamKind;

    fn refs(expr: &str, res: &str) -> Vec<ReferenceEntry> {
        one(ParamKind::Reference, expr, res).references
    }

    fn empty() -> ReferenceEntry {
        ReferenceEntry {
            param: "p".into(),
            group: 0,
            target_type: None,
            target_id: None,
            target_version: None,
            url: None,
            url_version: None,
            identifier_system: None,
            identifier_value: None,
        }
    }

    fn target(ty: &str, id: &str, version: Option<&str>, url: Option<&str>) -> ReferenceEntry {
        ReferenceEntry {
            target_type: Some(ty.into()),
            target_id: Some(id.into()),
            target_version: version.map(Into::into),
            url: url.map(Into::into),
            ..empty()
        }
    }

    fn with_refs(refs: &[&str]) -> String {
        let items: Vec<String> = refs
            .iter()
            .map(|r| format!(r#"{{"reference":"{r}"}}"#))
            .collect();
        format!(
            r#"{{"resourceType":"Patient","generalPractitioner":[{}]}}"#,
            items.join(",")
        )
    }

    #[test]
    fn reference_forms() {
        let got = refs(
            "Patient.generalPractitioner",
            &with_refs(&[
                "Practitioner/123",
                "Practitioner/123/_history/2",
                "http://other.example/fhir/Organization/o-1",
                "http://other.example/fhir/Organization/o-1/_history/7",
                "#contained1",
                "urn:uuid:2d3f0a4e-0000-4000-8000-000000000001",
                "http://other.example/fhir/Nonsense/1",
                "Nonsense/1",
            ]),
        );
        let url = |s: &str| ReferenceEntry {
            url: Some(s.into()),
            ..empty()
        };
        assert_eq!(
            got,
            vec![
                target("Practitioner", "123", None, None),
                target("Practitioner", "123", Some("2"), None),
                target(
                    "Organization",
                    "o-1",
                    None,
                    Some("http://other.example/fhir/Organization/o-1")
                ),
                target(
                    "Organization",
                    "o-1",
                    Some("7"),
                    Some("http://other.example/fhir/Organization/o-1/_history/7")
                ),
                url("urn:uuid:2d3f0a4e-0000-4000-8000-000000000001"),
                url("http://other.example/fhir/Nonsense/1"),
                url("Nonsense/1"),
            ]
        );
    }

    #[test]
    fn identifier_references() {
        let got = refs(
            "Patient.generalPractitioner",
            r#"{"resourceType":"Patient","generalPractitioner":[
                {"identifier":{"system":"urn:npi","value":"99"},"display":"Dr X"},
                {"reference":"Practitioner/1","identifier":{"value":"7"}},
                {"display":"only a name"}]}"#,
        );
        assert_eq!(
            got,
            vec![
                ReferenceEntry {
                    identifier_system: Some("urn:npi".into()),
                    identifier_value: Some("99".into()),
                    ..empty()
                },
                ReferenceEntry {
                    identifier_value: Some("7".into()),
                    ..target("Practitioner", "1", None, None)
                },
            ]
        );
    }

    #[test]
    fn canonicals() {
        let got = refs(
            "QuestionnaireResponse.questionnaire",
            r#"{"resourceType":"QuestionnaireResponse","status":"completed",
                "questionnaire":"http://example.org/Questionnaire/q1|2.0"}"#,
        );
        assert_eq!(
            got,
            vec![ReferenceEntry {
                url: Some("http://example.org/Questionnaire/q1".into()),
                url_version: Some("2.0".into()),
                ..empty()
            }]
        );
        let got = refs(
            "PlanDefinition.library",
            r#"{"resourceType":"PlanDefinition","status":"draft",
                "library":["http://example.org/Library/l1"]}"#,
        );
        assert_eq!(
            got,
            vec![ReferenceEntry {
                url: Some("http://example.org/Library/l1".into()),
                ..empty()
            }]
        );
        let got = refs(
            "PlanDefinition.library",
            r##"{"resourceType":"PlanDefinition","status":"draft",
                "library":["#contained", "Library/l2"]}"##,
        );
        assert_eq!(
            got,
            vec![ReferenceEntry {
                url: Some("Library/l2".into()),
                target_type: Some("Library".into()),
                target_id: Some("l2".into()),
                ..empty()
            }]
        );
        // A code (R4's DocumentReference-relationship names the wrong
        // component) is not a reference.
        let doc = r#"{"resourceType":"DocumentReference","status":"current",
            "content":[{"attachment":{"url":"x"}}],
            "relatesTo":[{"code":"appends","target":{"reference":"DocumentReference/d0"}}]}"#;
        assert!(refs("DocumentReference.relatesTo.code", doc).is_empty());
        assert_eq!(
            refs("DocumentReference.relatesTo.target", doc),
            vec![target("DocumentReference", "d0", None, None)]
        );
        assert_eq!(
            refs("'Patient/p9'", doc),
            vec![target("Patient", "p9", None, None)]
        );
    }

    #[test]
    fn where_resolve_is_and_resources() {
        let obs = r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},
            "subject":{"reference":"Patient/p1"}}"#;
        assert_eq!(
            refs("Observation.subject.where(resolve() is Patient)", obs),
            vec![target("Patient", "p1", None, None)]
        );
        assert!(refs("Observation.subject.where(resolve() is Group)", obs).is_empty());
        let bundle = r#"{"resourceType":"Bundle","type":"document","entry":[
            {"resource":{"resourceType":"Composition","id":"c1","status":"final",
             "type":{"text":"t"},"date":"2020","author":[{"display":"a"}],"title":"t"}}]}"#;
        assert_eq!(
            refs("Bundle.entry[0].resource as Composition", bundle),
            vec![target("Composition", "c1", None, None)]
        );
    }
}
