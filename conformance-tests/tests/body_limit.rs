//! `serve --max-body-bytes`: a body above the limit answers 413 with an
//! OperationOutcome that says the limit and how to raise it, whether the
//! client declares its length (`Content-Length`) or streams it
//! (`Transfer-Encoding: chunked`, where the server only finds out while
//! reading), in JSON and in XML; a body under the limit is processed.
//!
//! The server runs with a small limit, so the tests never send more than a
//! few kilobytes; that the default limit admits a 50 MB transaction is
//! shown by `ingest_bench` (its `big` row).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use conformance_tests::{assert_outcome, backend_tests, Response, TestServer, FHIR_JSON};
use serde_json::{json, Value};

const LIMIT: usize = 4096;

/// A transaction Bundle of `n` Patients with `urn:uuid` fullUrls.
fn transaction(n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "fullUrl": format!("urn:uuid:00000000-0000-4000-8000-{i:012x}"),
                "resource": {"resourceType": "Patient", "name": [{"family": format!("Limit{i}")}]},
                "request": {"method": "POST", "url": "Patient"}
            })
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// The same kind of Bundle in FHIR XML, at least `min_len` bytes long.
fn xml_transaction(min_len: usize) -> Vec<u8> {
    let mut s = String::from(r#"<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/>"#);
    let mut i = 0;
    while s.len() < min_len {
        s.push_str(&format!(
            r#"<entry><fullUrl value="urn:uuid:00000000-0000-4000-8000-{i:012x}"/><resource><Patient xmlns="http://hl7.org/fhir"><name><family value="Limit{i}"/></name></Patient></resource><request><method value="POST"/><url value="Patient"/></request></entry>"#
        ));
        i += 1;
    }
    s.push_str("</Bundle>");
    s.into_bytes()
}

/// Checks a 413: an OperationOutcome naming the limit in bytes and the
/// option that raises it.
#[track_caller]
fn assert_too_large(resp: &Response) {
    let body = assert_outcome(resp, 413, &["too-costly", "too-long"], None);
    let text = body["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(text.contains(&LIMIT.to_string()), "limit not named: {text}");
    assert!(
        text.contains("--max-body-bytes"),
        "no way to raise it: {text}"
    );
}

/// `POST /fhir` with a chunked body and no `Content-Length`, over a raw
/// socket (HTTP clients set `Content-Length` when they know the length).
/// Write errors are ignored: the server may answer and close before the
/// whole body is sent.
fn post_chunked(server: &TestServer, body: &[u8]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set timeout");
    let head = format!(
        "POST /fhir HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FHIR_JSON}\r\n\
         Accept: {FHIR_JSON}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes());
    for chunk in body.chunks(1000) {
        let framed = [
            format!("{:x}\r\n", chunk.len()).as_bytes(),
            chunk,
            b"\r\n".as_slice(),
        ]
        .concat();
        if s.write_all(&framed).is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

/// A fully read HTTP/1.1 response with a `Content-Length` body.
fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Response {
        status,
        headers,
        body,
    }
}

backend_tests! {
    /// Declared lengths above the limit: 413 for JSON and for XML.
    fn bundle_over_the_limit_is_413_with_the_limit_named(server) with ["--max-body-bytes", "4096"] {
        let c = server.client();
        let big = serde_json::to_vec(&transaction(60)).expect("serialize");
        assert!(big.len() > LIMIT);
        assert_too_large(&c.request("POST", "", Some(FHIR_JSON), &big));
        let xml = xml_transaction(2 * LIMIT);
        assert_too_large(&c.request("POST", "", Some("application/fhir+xml"), &xml));
        // Nothing of either was stored.
        let count = c.get("/Patient?_summary=count").json();
        assert_eq!(count["total"], 0, "{count}");
    }

    /// A chunked body gives no length up front: the server counts while
    /// reading and answers 413 once it passes the limit.
    fn chunked_body_over_the_limit_is_413(server) with ["--max-body-bytes", "4096"] {
        let big = serde_json::to_vec(&transaction(60)).expect("serialize");
        assert_too_large(&post_chunked(server, &big));
        // Under the limit, chunked works like any other body.
        let small = serde_json::to_vec(&transaction(2)).expect("serialize");
        assert!(small.len() < LIMIT);
        let r = post_chunked(server, &small);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["type"], "transaction-response");
    }

    /// Just under the limit is processed: the limit is the cut, not a guess.
    fn bundle_under_the_limit_is_processed(server) with ["--max-body-bytes", "4096"] {
        let c = server.client();
        let mut n = 1;
        while serde_json::to_vec(&transaction(n + 1)).expect("serialize").len() <= LIMIT {
            n += 1;
        }
        let body = serde_json::to_vec(&transaction(n)).expect("serialize");
        let r = c.request("POST", "", Some(FHIR_JSON), &body);
        assert_eq!(r.status, 200, "{} bytes: {}", body.len(), r.text());
        let count = c.get("/Patient?_summary=count").json();
        assert_eq!(count["total"], n, "{count}");
        let over = serde_json::to_vec(&transaction(n + 1)).expect("serialize");
        assert_too_large(&c.request("POST", "", Some(FHIR_JSON), &over));
    }
}
