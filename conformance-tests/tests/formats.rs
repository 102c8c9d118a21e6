//! Formats: FHIR XML in and out, `_format` and `Accept`, `_pretty`
//! (https://hl7.org/fhir/R4/http.html#mime-type).

use conformance_tests::{backend_tests, create_patient, sample_patient, TestServer};
use serde_json::Value;

/// A request with exactly these headers; any status is returned.
fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let url = server.client().url(path);
    let mut req = ureq::request(method, &url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = if body.is_empty() {
        req.call()
    } else {
        req.send_bytes(body)
    };
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let ct = resp.header("content-type").unwrap_or("").to_owned();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).expect("body");
    (status, ct, bytes)
}

const XML_PATIENT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <id value="x1"/>
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Ann &amp; co</p></div></text>
  <name><family value="Yamada"/><given value="Hanako"/><given><extension url="http://example.org/kana"><valueString value="はなこ"/></extension></given></name>
  <birthDate value="1970-03-30"/>
</Patient>"#;

backend_tests! {
    /// A resource sent as XML is stored and reads back as the same
    /// resource in JSON, and as XML when asked, in either way of asking.
    fn xml_in_json_and_xml_out(server) {
        let (status, _, _) = send(server, "PUT", "/Patient/x1", &[("Content-Type", "application/fhir+xml")], XML_PATIENT.as_bytes());
        assert_eq!(status, 201);
        let json = server.client().get("/Patient/x1").json();
        assert_eq!(json["name"][0]["family"], "Yamada");
        assert_eq!(json["name"][0]["given"], serde_json::json!(["Hanako", null]));
        assert_eq!(json["name"][0]["_given"][1]["extension"][0]["valueString"], "はなこ");
        assert_eq!(json["text"]["div"], r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann &amp; co</p></div>"#);
        for (path, headers) in [
            ("/Patient/x1?_format=xml", vec![]),
            ("/Patient/x1?_format=application/fhir%2Bxml", vec![]),
            ("/Patient/x1", vec![("Accept", "application/fhir+xml")]),
            ("/Patient/x1?_format=xml&_pretty=true", vec![("Accept", "application/fhir+json")]),
        ] {
            let (status, ct, body) = send(server, "GET", path, &headers, b"");
            assert_eq!(status, 200, "{path}");
            assert!(ct.starts_with("application/fhir+xml"), "{path}: {ct}");
            let text = String::from_utf8(body).expect("utf-8");
            assert!(text.contains(r#"<Patient xmlns="http://hl7.org/fhir">"#), "{text}");
            assert!(text.contains(r#"<family value="Yamada"/>"#), "{text}");
            assert!(text.contains(r#"<versionId value="1"/>"#), "{text}");
            // What we write, we read: the XML is the same resource.
            let back = fhir_model::Resource::from_xml_slice(text.as_bytes()).expect("own XML");
            let again: Value = serde_json::from_slice(&back.to_json_vec()).expect("json");
            assert_eq!(again, json, "{path}");
        }
    }

    /// `_format` wins over `Accept`; `_pretty` indents without changing a
    /// value; errors come in the format asked for too.
    fn format_precedence_pretty_and_errors(server) {
        let id = create_patient(&server.client());
        let (_, ct, body) = send(server, "GET", &format!("/Patient/{id}?_format=json&_pretty=true"), &[("Accept", "application/fhir+xml")], b"");
        assert!(ct.starts_with("application/fhir+json"), "{ct}");
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.contains("\n  \"resourceType\": \"Patient\""), "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["id"], id.as_str());
        let (status, ct, body) = send(server, "GET", "/Patient/missing?_format=xml", &[], b"");
        assert_eq!(status, 404);
        assert!(ct.starts_with("application/fhir+xml"), "{ct}");
        assert!(String::from_utf8_lossy(&body).contains("<OperationOutcome"), "{}", String::from_utf8_lossy(&body));
        let (status, _, body) = send(server, "GET", &format!("/Patient/{id}?_format=text/csv"), &[], b"");
        assert_eq!(status, 406);
        let outcome: Value = serde_json::from_slice(&body).expect("json outcome");
        assert_eq!(outcome["issue"][0]["code"], "not-supported");
        let (_, ct, _) = send(server, "GET", "/metadata?_format=xml", &[], b"");
        assert!(ct.starts_with("application/fhir+xml"), "{ct}");
    }

    /// Bad XML gets the same treatment as bad JSON: 400 and an
    /// OperationOutcome that names the place.
    fn bad_xml_is_a_located_400(server) {
        for (xml, code, expression) in [
            ("<Patient xmlns=\"http://hl7.org/fhir\"><foo value=\"1\"/></Patient>", "structure", Some("Patient.foo")),
            ("<Patient xmlns=\"http://hl7.org/fhir\"><birthDate value=\"1970-13-01\"/></Patient>", "value", Some("Patient.birthDate")),
            ("<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"true\"></Patient>", "invalid", None),
        ] {
            let (status, _, body) = send(server, "POST", "/Patient", &[("Content-Type", "application/fhir+xml")], xml.as_bytes());
            assert_eq!(status, 400, "{xml}");
            let outcome: Value = serde_json::from_slice(&body).expect("json outcome");
            assert_eq!(outcome["issue"][0]["code"], code, "{xml}: {outcome}");
            if let Some(e) = expression {
                assert_eq!(outcome["issue"][0]["expression"][0], e, "{xml}");
            }
        }
        // A JSON body labelled as XML is not XML.
        let json = serde_json::to_vec(&sample_patient()).expect("json");
        let (status, _, _) = send(server, "POST", "/Patient", &[("Content-Type", "application/fhir+xml")], &json);
        assert_eq!(status, 400);
    }
}
