//! What a write may contain (issue 17 items 5, 6 and 16; issue 16 item 21),
//! over HTTP on both backends, on every kind of write: create, update,
//! PATCH and a transaction entry.
//!
//! - Strings hold no control characters below U+0020 but tab, CR and LF
//!   (datatypes.html#string), from JSON (`\u0000`) and XML (`&#1;`): 400
//!   naming the element. U+0000 used to be a 500 on PostgreSQL.
//! - The narrative `div` is XHTML in the XHTML namespace (narrative.html),
//!   checked the same for JSON and XML: no bare `<p>`, plain text,
//!   unclosed tags or HTML entities (`&nbsp;`), and no active content
//!   (txt-1: `<script>`, `onerror=`, `javascript:`).
//! - Codes of `code` elements bound `required` by the base spec, and
//!   dom-2/dom-4 on contained resources: 422 naming the element, with
//!   `--profile-enforcement` at its default `off`.

use conformance_tests::{assert_outcome, backend_tests, create_patient, Client};
use serde_json::{json, Value};

const FHIR_XML: &str = "application/fhir+xml";
const JSON_PATCH: &str = "application/json-patch+json";
const NS: &str = "http://www.w3.org/1999/xhtml";

fn patient_with_div(div: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "text": {"status": "generated", "div": div},
        "name": [{"family": "Content"}]
    })
}

/// The XML of a Patient whose narrative `div` is `div` (verbatim markup).
fn patient_xml(div: &str) -> Vec<u8> {
    format!(
        "<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/>{div}</text>\
         <name><family value=\"Content\"/></name></Patient>"
    )
    .into_bytes()
}

/// A transaction with one POST entry holding `resource`.
fn transaction_of(resource: Value) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "name": [{"family": "Fine"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"].as_str().unwrap_or("Patient")}}
        ]
    })
}

/// Nothing of a refused transaction was stored.
fn no_fine_patient(c: &Client) {
    let found = c.get("/Patient?family=Fine").json();
    assert_eq!(
        found["total"], 0,
        "a refused transaction stored something: {found}"
    );
}

/// The same refusal on create, update, PATCH (JSON Patch) and a
/// transaction entry: `status` with an OperationOutcome naming `element`
/// (`Patient.name[0].family`), located in the entry for the transaction.
fn refused_on_every_write(c: &Client, bad: &Value, status: u16, codes: &[&str], element: &str) {
    let rt = bad["resourceType"].as_str().unwrap_or("Patient");
    assert_outcome(
        &c.post(&format!("/{rt}"), bad),
        status,
        codes,
        Some(element),
    );
    let mut put = bad.clone();
    put["id"] = json!("content-put");
    assert_outcome(
        &c.put(&format!("/{rt}/content-put"), &put),
        status,
        codes,
        Some(element),
    );
    let tx = c.post("", &transaction_of(bad.clone()));
    let in_entry = match element.split_once('.') {
        Some((_, rest)) => format!("Bundle.entry[1].resource.{rest}"),
        None => "Bundle.entry[1].resource".to_owned(),
    };
    let body = tx.json();
    assert!(
        [400, 422].contains(&tx.status),
        "transaction answered {}: {body}",
        tx.status
    );
    let named = body["issue"].as_array().is_some_and(|issues| {
        issues.iter().any(|i| {
            i["expression"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|e| e == in_entry.as_str() || e == "Bundle.entry[1]")
            })
        })
    });
    assert!(named, "the transaction's outcome names no entry: {body}");
    no_fine_patient(c);
}

/// A JSON Patch replacing `path` of a stored Patient with `value`.
fn patch_patient(c: &Client, path: &str, value: &Value) -> conformance_tests::Response {
    let id = create_patient(c);
    let ops =
        serde_json::to_vec(&json!([{"op": "add", "path": path, "value": value}])).expect("json");
    c.request("PATCH", &format!("/Patient/{id}"), Some(JSON_PATCH), &ops)
}

backend_tests! {
    /// U+0000 and other control characters in a JSON string: 400 naming the
    /// element, on create, update (PostgreSQL answered 500 for U+0000),
    /// PATCH and a transaction entry. Tab, CR and LF stay allowed.
    fn control_characters_in_json_strings_are_refused(server) {
        let c = server.client();
        for ch in ["\u{0}", "\u{1}", "\u{1b}", "\u{1f}"] {
            let bad = json!({"resourceType": "Patient", "name": [{"family": format!("A{ch}B")}]});
            refused_on_every_write(&c, &bad, 400, &["invalid", "value", "structure"], "Patient.name[0].family");
        }
        let in_code = json!({"resourceType": "Patient", "gender": "male", "language": "e\u{0}n"});
        assert_outcome(&c.post("/Patient", &in_code), 400, &["invalid", "value"], Some("Patient.language"));
        let patched = patch_patient(&c, "/name/0/family", &json!("A\u{0}B"));
        assert!([400, 422].contains(&patched.status), "PATCH: {} {}", patched.status, patched.text());
        assert_outcome(&patched, patched.status, &["invalid", "value", "processing"], None);
        let ok = json!({"resourceType": "Patient", "name": [{"family": "A\tB", "text": "line\r\nbreak"}]});
        c.post("/Patient", &ok).expect_status(201);
    }

    /// XML input: `&#1;` in a value attribute and a raw control character
    /// are refused like JSON's, naming the element.
    fn control_characters_in_xml_are_refused(server) {
        let c = server.client();
        for family in ["A&#1;B", "A&#x1F;B", "A\u{1}B"] {
            let xml = format!(
                "<Patient xmlns=\"http://hl7.org/fhir\"><name><family value=\"{family}\"/></name></Patient>"
            );
            let resp = c.request("POST", "/Patient", Some(FHIR_XML), xml.as_bytes());
            assert_outcome(&resp, 400, &["invalid", "value", "structure"], None);
            assert!(resp.text().contains("Patient.name[0].family") || resp.text().contains("malformed"),
                "{family}: {}", resp.text());
        }
        let div = format!("<div xmlns=\"{NS}\">a&#1;b</div>");
        let resp = c.request("POST", "/Patient", Some(FHIR_XML), &patient_xml(&div));
        assert_outcome(&resp, 400, &["invalid", "value", "structure"], Some("Patient.text.div"));
    }

    /// Narratives that are not XHTML in the XHTML namespace, from JSON and
    /// from XML: refused, naming `Patient.text.div`, on every write.
    fn narrative_must_be_xhtml(server) {
        let c = server.client();
        let bad_divs = [
            "<p>x</p>".to_owned(),
            "plain text".to_owned(),
            "<div>no namespace</div>".to_owned(),
            format!("<div xmlns=\"{NS}\"><p>unclosed</div>"),
            format!("<div xmlns=\"{NS}\"><p>open"),
            format!("<div xmlns=\"{NS}\">a&nbsp;b</div>"),
        ];
        for div in &bad_divs {
            refused_on_every_write(&c, &patient_with_div(div), 400, &["invalid", "value", "structure"], "Patient.text.div");
        }
        for div in &bad_divs {
            let resp = c.request("POST", "/Patient", Some(FHIR_XML), &patient_xml(div));
            assert!([400, 422].contains(&resp.status), "XML {div}: {} {}", resp.status, resp.text());
            assert_outcome(&resp, resp.status, &["invalid", "value", "structure"], None);
        }
        let patched = patch_patient(&c, "/text", &json!({"status": "generated", "div": "<p>x</p>"}));
        assert!([400, 422].contains(&patched.status), "PATCH: {} {}", patched.status, patched.text());

        // What is XHTML passes both ways, and its XML rendering reads back.
        let good = format!("<div xmlns=\"{NS}\"><p>a &amp; b&#160;c</p></div>");
        let created = c.post("/Patient", &patient_with_div(&good));
        created.expect_status(201);
        let id = created.json()["id"].as_str().unwrap_or_default().to_owned();
        let xml = c.request("GET", &format!("/Patient/{id}?_format=xml"), None, b"");
        xml.expect_status(200);
        let back = c.request("POST", "/Patient", Some(FHIR_XML), xml.text().as_bytes());
        assert_eq!(back.status, 201, "the server's own XML is refused: {}", back.text());
        c.request("POST", "/Patient", Some(FHIR_XML), &patient_xml(&good)).expect_status(201);
    }

    /// Active content (issue 16 item 21, txt-1): `<script>`, event handler
    /// attributes, `javascript:` URLs and other elements outside basic
    /// XHTML are refused on every write, JSON and XML alike, with the
    /// default `--profile-enforcement off`.
    fn active_content_in_narrative_is_refused(server) {
        let c = server.client();
        let bad_divs = [
            format!("<div xmlns=\"{NS}\"><script>alert(1)</script></div>"),
            format!("<div xmlns=\"{NS}\"><img src=\"x.png\" onerror=\"alert(1)\"/></div>"),
            format!("<div xmlns=\"{NS}\"><a href=\"javascript:alert(1)\">x</a></div>"),
            format!("<div xmlns=\"{NS}\"><a href=\" JaVaScRiPt&#58;alert(1)\">x</a></div>"),
            format!("<div xmlns=\"{NS}\"><iframe src=\"http://evil.example\"></iframe></div>"),
            format!("<div xmlns=\"{NS}\"><p onclick=\"steal()\">x</p></div>"),
        ];
        for div in &bad_divs {
            refused_on_every_write(&c, &patient_with_div(div), 400, &["invalid", "value", "structure"], "Patient.text.div");
            let resp = c.request("POST", "/Patient", Some(FHIR_XML), &patient_xml(div));
            assert_outcome(&resp, 400, &["invalid", "value", "structure"], Some("Patient.text.div"));
        }
        let patched = patch_patient(
            &c,
            "/text",
            &json!({"status": "generated", "div": format!("<div xmlns=\"{NS}\"><script>x</script></div>")}),
        );
        assert!([400, 422].contains(&patched.status), "PATCH: {} {}", patched.status, patched.text());
        let stored = c.get("/Patient?_content=alert").json();
        assert_eq!(stored["total"], 0, "active content was stored: {stored}");
    }

    /// A code outside a required binding of the base spec: 422 naming the
    /// element, on every write, with profile enforcement off.
    fn codes_outside_required_bindings_are_refused(server) {
        let c = server.client();
        let bad = json!({"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}});
        refused_on_every_write(&c, &bad, 422, &["value", "code-invalid", "invalid"], "Observation.status");
        let nested = json!({"resourceType": "Patient", "telecom": [{"system": "phone", "value": "1"}, {"system": "carrier-pigeon", "value": "2"}]});
        assert_outcome(&c.post("/Patient", &nested), 422, &["value", "code-invalid", "invalid"], Some("Patient.telecom[1].system"));
        let patched = patch_patient(&c, "/gender", &json!("bogus"));
        assert_outcome(&patched, 422, &["value", "code-invalid", "invalid", "processing"], None);
        assert!(patched.text().contains("Patient.gender"), "{}", patched.text());
        let good = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
        c.post("/Observation", &good).expect_status(201);
    }

    /// dom-2 (a contained resource contains none) and dom-4 (nor has
    /// meta.versionId or meta.lastUpdated): 422 naming the element.
    fn contained_resource_rules_are_enforced(server) {
        let c = server.client();
        let nested = json!({"resourceType": "Patient",
            "contained": [{"resourceType": "Organization", "id": "o", "name": "O",
                "contained": [{"resourceType": "Organization", "id": "p", "name": "P"}]}],
            "managingOrganization": {"reference": "#o"}});
        refused_on_every_write(&c, &nested, 422, &["processing", "invariant", "invalid"], "Patient.contained[0].contained");
        let versioned = json!({"resourceType": "Patient",
            "contained": [{"resourceType": "Organization", "id": "o", "name": "O", "meta": {"versionId": "3"}}],
            "managingOrganization": {"reference": "#o"}});
        refused_on_every_write(&c, &versioned, 422, &["processing", "invariant", "invalid"], "Patient.contained[0].meta.versionId");
        let updated = json!({"resourceType": "Patient",
            "contained": [{"resourceType": "Organization", "id": "o", "name": "O", "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}}],
            "managingOrganization": {"reference": "#o"}});
        assert_outcome(&c.post("/Patient", &updated), 422, &["processing", "invariant", "invalid"], Some("Patient.contained[0].meta.lastUpdated"));
        let fine = json!({"resourceType": "Patient",
            "contained": [{"resourceType": "Organization", "id": "o", "name": "O", "meta": {"tag": [{"code": "t"}]}}],
            "managingOrganization": {"reference": "#o"}});
        c.post("/Patient", &fine).expect_status(201);
    }

    /// A batch refuses the entry, not the others.
    fn batch_entries_are_checked_alone(server) {
        let c = server.client();
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}},
             "request": {"method": "POST", "url": "Observation"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
             "request": {"method": "POST", "url": "Observation"}}
        ]});
        let resp = c.post("", &batch);
        let body = resp.json();
        if resp.status == 200 {
            assert!(body["entry"][0]["response"]["status"].as_str().is_some_and(|s| s.starts_with("422")), "{body}");
            assert!(body["entry"][1]["response"]["status"].as_str().is_some_and(|s| s.starts_with("201")), "{body}");
        } else {
            assert_outcome(&resp, 422, &["value", "code-invalid", "invalid"], None);
        }
    }
}
