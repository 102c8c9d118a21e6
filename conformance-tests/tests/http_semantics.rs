//! HTTP semantics a FHIR client relies on beyond the interactions
//! themselves (issue #17, items 21–24): HEAD on every GET route
//! (RFC 9110 §9.1), `Accept` weights, `Content-Encoding` request bodies,
//! Binary in its own media type (binary.html#rest), `_history` of an
//! unknown id, ids made only of dots, security labels kept across an
//! update, `metadata?mode=terminology`, operations this server does not
//! implement at the type or system level (501, not "bad id"), 414 for long
//! URIs, and client protocol errors logged at info.

use std::io::{Read, Write};

use conformance_tests::{assert_outcome, backend_tests, Client, Response};
use serde_json::json;

fn head(c: &Client, path: &str) -> Response {
    c.request("HEAD", path, None, &[])
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn seed(c: &Client) {
    c.put(
        "/Patient/p1",
        &json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Head"}]}),
    )
    .expect_status(201);
    c.put(
        "/Observation/o1",
        &json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}}),
    )
    .expect_status(201);
}

/// One raw HTTP/1.1 exchange (for what an HTTP library would not send).
fn raw_exchange(port: u16, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

backend_tests! {
    /// Every GET route answers HEAD with the GET's status and headers and
    /// no body: search, metadata, history at every level, compartment
    /// search, operations, read and vread.
    fn head_answers_like_get_without_a_body(server) {
        let c = server.client();
        seed(&c);
        for path in [
            "/metadata",
            "/Patient",
            "/Patient?family=Head",
            "?_type=Patient",
            "/Patient/p1",
            "/Patient/p1/_history",
            "/Patient/p1/_history/1",
            "/Patient/_history",
            "/_history",
            "/Patient/p1/Observation",
            "/Patient/p1/$everything",
            "/Patient/p1/$meta",
            "/CodeSystem/$unmapped-codes",
            "/Patient/nobody",
        ] {
            let get = c.get(path);
            let h = head(&c, path);
            assert_eq!(h.status, get.status, "HEAD {path}: {}", h.text());
            assert_ne!(h.status, 405, "HEAD {path}");
            assert!(h.body.is_empty(), "HEAD {path} has a body");
            assert_eq!(h.header("content-type"), get.header("content-type"), "HEAD {path}");
            if path == "/Patient/p1" {
                assert_eq!(h.header("etag"), get.header("etag"));
            }
        }
    }

    /// `Accept` weights decide between XML and JSON (RFC 9110 §12.5.1),
    /// not the order the types are listed in.
    fn accept_q_values_pick_the_format(server) {
        let c = server.client();
        seed(&c);
        let get = |accept: &str| {
            c.try_request_with("GET", "/Patient/p1", None, &[], &[("Accept", accept)])
                .expect("GET")
        };
        let r = get("application/fhir+xml;q=0.9, application/fhir+json;q=1");
        r.expect_status(200);
        assert!(r.header("content-type").unwrap_or("").starts_with("application/fhir+json"), "{:?}", r.headers);
        let r = get("application/fhir+json;q=0.5, application/fhir+xml");
        assert!(r.header("content-type").unwrap_or("").starts_with("application/fhir+xml"), "{:?}", r.headers);
        let r = get("application/fhir+xml;q=0, application/fhir+json");
        assert!(r.header("content-type").unwrap_or("").starts_with("application/fhir+json"), "{:?}", r.headers);
    }

    /// A gzip-encoded body is decoded; an unknown coding is 415.
    fn gzip_request_bodies_are_decoded(server) {
        let c = server.client();
        let body = serde_json::to_vec(&json!({"resourceType": "Patient", "id": "gz",
            "name": [{"family": "Zipped"}]})).expect("json");
        let r = c
            .try_request_with("PUT", "/Patient/gz", Some("application/fhir+json"), &gzip(&body),
                &[("Content-Encoding", "gzip")])
            .expect("PUT");
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(c.get("/Patient/gz").json()["name"][0]["family"], "Zipped");
        let r = c
            .try_request_with("PUT", "/Patient/gz", Some("application/fhir+json"), &body,
                &[("Content-Encoding", "compress")])
            .expect("PUT");
        assert_outcome(&r, 415, &["not-supported"], None);
    }

    /// The body limit applies to the decoded size: a small gzip body that
    /// expands past `--max-body-bytes` is 413.
    fn gzip_bodies_are_limited_by_their_decoded_size(server) with ["--max-body-bytes", "20000"] {
        let c = server.client();
        let text = "a".repeat(100_000);
        let body = serde_json::to_vec(&json!({"resourceType": "Patient", "id": "big",
            "name": [{"family": text}]})).expect("json");
        let zipped = gzip(&body);
        assert!(zipped.len() < 20_000);
        let r = c
            .try_request_with("PUT", "/Patient/big", Some("application/fhir+json"), &zipped,
                &[("Content-Encoding", "gzip")])
            .expect("PUT");
        assert_outcome(&r, 413, &["too-costly"], None);
    }

    /// Binary in its own media type: stored from a raw body, served raw to
    /// a non-FHIR `Accept`, and as a FHIR Binary to a FHIR one.
    fn binary_is_raw_in_and_out(server) {
        let c = server.client();
        let r = c.request("POST", "/Binary", Some("text/plain"), b"hello, world");
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let raw = c
            .try_request_with("GET", &format!("/Binary/{id}"), None, &[], &[("Accept", "text/plain")])
            .expect("GET");
        raw.expect_status(200);
        assert_eq!(raw.body, b"hello, world");
        assert!(raw.header("content-type").unwrap_or("").starts_with("text/plain"));
        let fhir = c.get(&format!("/Binary/{id}"));
        let b = fhir.json();
        assert_eq!(b["resourceType"], "Binary");
        assert_eq!(b["contentType"], "text/plain");
        assert_eq!(b["data"], "aGVsbG8sIHdvcmxk");
        let r = c.request("PUT", "/Binary/pdf1", Some("application/pdf"), b"%PDF-1.4 x");
        assert_eq!(r.status, 201, "{}", r.text());
        let raw = c
            .try_request_with("GET", "/Binary/pdf1/_history/1", None, &[], &[("Accept", "application/pdf")])
            .expect("GET");
        assert_eq!(raw.body, b"%PDF-1.4 x");
        assert_eq!(raw.header("content-type"), Some("application/pdf"));
    }

    /// `_history` of an id that never existed is 404, like its read; a
    /// deleted resource still has its history.
    fn history_of_an_unknown_id_is_404(server) {
        let c = server.client();
        seed(&c);
        assert_outcome(&c.get("/Patient/never-was/_history"), 404, &["not-found"], None);
        c.delete("/Observation/o1");
        let h = c.get("/Observation/o1/_history");
        h.expect_status(200);
        assert_eq!(h.json()["total"], 2);
    }

    /// Ids made only of dots are refused in the URL and in bodies: `.`
    /// and `..` are path segments every URL resolver removes.
    fn ids_of_dots_are_refused(server) {
        let c = server.client();
        let r = c.put("/Patient/...", &json!({"resourceType": "Patient", "id": "..."}));
        assert_outcome(&r, 400, &["value"], None);
        assert_outcome(&c.get("/Patient/..."), 400, &["value"], None);
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": {"resourceType": "Patient", "id": "....", "active": true},
            "request": {"method": "PUT", "url": "Patient/...."}}]});
        let r = c.post("", &tx);
        assert!(r.status >= 400 && r.status < 500, "{} {}", r.status, r.text());
        assert_eq!(c.get("/Patient?_id=....").json()["total"], 0);
    }

    /// An update without `meta` keeps the security labels of the version
    /// it replaces (and the CapabilityStatement says so); an update that
    /// names labels sets exactly those.
    fn updates_keep_security_labels(server) {
        let c = server.client();
        let label = json!({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"});
        c.put("/Patient/sec", &json!({"resourceType": "Patient", "id": "sec",
            "meta": {"security": [label]}})).expect_status(201);
        c.put("/Patient/sec", &json!({"resourceType": "Patient", "id": "sec", "active": true}))
            .expect_status(200);
        let p = c.get("/Patient/sec").json();
        assert_eq!(p["meta"]["security"], json!([label]), "{p}");
        assert_eq!(p["active"], true);
        let other = json!({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"});
        c.put("/Patient/sec", &json!({"resourceType": "Patient", "id": "sec",
            "meta": {"security": [other]}})).expect_status(200);
        assert_eq!(c.get("/Patient/sec").json()["meta"]["security"], json!([other]));
        let cs = c.get("/metadata").json();
        let doc = cs["rest"][0]["documentation"].as_str().unwrap_or("");
        assert!(doc.contains("security labels"), "{doc}");
    }

    /// `metadata?mode=terminology` is a TerminologyCapabilities listing
    /// the stored code systems.
    fn metadata_mode_terminology(server) {
        let c = server.client();
        c.put("/CodeSystem/cs1", &json!({"resourceType": "CodeSystem", "id": "cs1",
            "url": "http://example.org/cs1", "status": "active", "content": "complete",
            "concept": [{"code": "a"}]})).expect_status(201);
        let r = c.get("/metadata?mode=terminology");
        r.expect_status(200);
        let tc = r.json();
        assert_eq!(tc["resourceType"], "TerminologyCapabilities", "{tc}");
        let systems: Vec<&str> = tc["codeSystem"].as_array().into_iter().flatten()
            .filter_map(|s| s["uri"].as_str()).collect();
        assert!(systems.contains(&"http://example.org/cs1"), "{systems:?}");
        assert_eq!(c.get("/metadata").json()["resourceType"], "CapabilityStatement");
        assert_outcome(&c.get("/metadata?mode=bogus"), 400, &["value"], None);
    }

    /// A request target over 16 KiB is 414 with an OperationOutcome, not
    /// an empty 400.
    fn long_uris_are_414(server) {
        let c = server.client();
        let r = c.get(&format!("/Patient?family={}", "a".repeat(20_000)));
        let oo = assert_outcome(&r, 414, &["too-costly"], None);
        assert!(oo.to_string().contains("_search"), "{oo}");
        c.get(&format!("/Patient?family={}", "a".repeat(8_000))).expect_status(200);
    }

    /// A request the HTTP layer cannot parse is the client's error: logged
    /// at info, never at error.
    fn client_protocol_errors_are_logged_at_info(server) {
        let answer = raw_exchange(
            server.port(),
            b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        let mut log = String::new();
        for _ in 0..50 {
            log = server.log_text();
            if log.contains("request parse error") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let line = log
            .lines()
            .find(|l| l.contains("request parse error"))
            .unwrap_or_else(|| panic!("not logged: {log}"));
        assert!(line.contains("INFO"), "{line}");
        assert!(!log.lines().any(|l| l.contains("ERROR")), "{log}");
    }

    /// Type-level `$everything` and type/system `$meta` are answered 501
    /// naming the operation, never "not a valid id" or "not a type".
    fn unimplemented_levels_are_501(server) {
        let c = server.client();
        for (path, op) in [
            ("/Patient/$everything", "$everything"),
            ("/Patient/$meta", "$meta"),
            ("/$meta", "$meta"),
        ] {
            let oo = assert_outcome(&c.get(path), 501, &["not-supported"], None);
            let text = oo["issue"][0]["diagnostics"].as_str().unwrap_or("");
            assert!(text.contains(op), "{path}: {text}");
        }
    }
}
