//! Uri parameters (search.html#uri): uri, url, canonical, oid and uuid
//! values (and other primitives holding text), as written.

use fhirpath::Item;

use super::primitive_text;
use crate::search::index::{IndexEntries, UriEntry};

pub(super) fn entries(item: &Item, param: &str, group: i32, out: &mut IndexEntries) {
    if matches!(item, Item::Node(n) if !n.is_primitive()) {
        if let Item::Node(n) = item {
            log::debug!("uri parameter {param}: cannot index a {}", n.ty);
        }
        return;
    }
    let Some(uri) = primitive_text(item) else {
        return;
    };
    if uri.is_empty() {
        return;
    }
    out.uris.push(UriEntry {
        param: param.to_owned(),
        group,
        uri,
    });
}

#[cfg(test)]
mod tests {
    use crate::search::extract::tests::one;
    use crate::search::param::ParamKind;

    fn uris(expr: &str, res: &str) -> Vec<String> {
        one(ParamKind::Uri, expr, res)
            .uris
            .into_iter()
            .map(|u| u.uri)
            .collect()
    }

    #[test]
    fn uri_types() {
        let vs = r#"{"resourceType":"ValueSet","status":"draft",
            "url":"http://example.org/ValueSet/v1",
            "compose":{"include":[{"system":"http://loinc.org","valueSet":["http://example.org/ValueSet/v0|1.0"]},
                                  {"system":"urn:oid:2.16.840.1.113883.6.1"}]}}"#;
        assert_eq!(
            uris("ValueSet.url", vs),
            vec!["http://example.org/ValueSet/v1"]
        );
        assert_eq!(
            uris("ValueSet.compose.include.system", vs),
            vec!["http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"]
        );
        assert_eq!(
            uris("ValueSet.compose.include.valueSet", vs),
            vec!["http://example.org/ValueSet/v0|1.0"]
        );
        let ep = r#"{"resourceType":"Endpoint","status":"active","connectionType":{"code":"x"},
            "payloadType":[{"text":"x"}],"address":"https://example.org/fhir"}"#;
        assert_eq!(
            uris("Endpoint.address", ep),
            vec!["https://example.org/fhir"]
        );
        let doc = r#"{"resourceType":"DocumentReference","status":"current","content":[
            {"attachment":{"url":"urn:uuid:2d3f0a4e-0000-4000-8000-000000000001"}}],
            "masterIdentifier":{"value":"x"}}"#;
        assert_eq!(
            uris("DocumentReference.content.attachment.url", doc),
            vec!["urn:uuid:2d3f0a4e-0000-4000-8000-000000000001"]
        );
        assert!(uris("DocumentReference.content", doc).is_empty());
    }
}
