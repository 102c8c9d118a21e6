//! HTTP hygiene (issue #16, items 15, 19, 20, 22): what the server says
//! about itself and its requests beyond the resources — cache headers,
//! the access log, forwarded headers, CORS, slow bodies.

use conformance_tests::{backend_tests, create_patient, Response};

const SECRET_NAME: &str = "SECRETNAME";
const SECRET_TOKEN: &str = "TOKENSECRET0123456789";

#[track_caller]
fn assert_no_store(resp: &Response, what: &str) {
    assert_eq!(
        resp.header("cache-control"),
        Some("no-store"),
        "{what} ({}) must not be cached",
        resp.status
    );
}

backend_tests! {
    /// Reads, searches and errors under /fhir carry patient data and say
    /// `Cache-Control: no-store`; the CapabilityStatement does not.
    fn patient_data_is_never_cached(server) {
        let c = server.client();
        let id = create_patient(&c);
        let read = c.get(&format!("/Patient/{id}"));
        assert_eq!(read.status, 200);
        assert_no_store(&read, "a read");
        let search = c.get("/Patient?family=Nobody");
        assert_eq!(search.status, 200);
        assert_no_store(&search, "a search");
        let missing = c.get("/Patient/does-not-exist");
        assert_eq!(missing.status, 404);
        assert_no_store(&missing, "a 404");
        let bad = c.request("PATCH", "/Patient", None, b"");
        assert_eq!(bad.status, 405);
        assert_no_store(&bad, "a 405");
        let meta = c.get("/metadata");
        assert_eq!(meta.status, 200);
        assert_eq!(meta.header("cache-control"), None, "/metadata may be cached");
    }

    /// The access log names the path and the query parameters, never a
    /// query value: neither a bearer token given as `access_token` nor a
    /// search value.
    fn log_holds_no_token_and_no_search_value(server) {
        let c = server.client();
        c.get(&format!("/Patient?family={SECRET_NAME}&birthdate=1970-01-01"));
        c.get(&format!("/Patient?access_token={SECRET_TOKEN}"));
        // The access log is written after the answer; wait for our lines.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut log = server.log_text();
        while !log.contains("access_token=…") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            log = server.log_text();
        }
        assert!(
            log.contains("GET /fhir/Patient?family=…&birthdate=… HTTP/1.1"),
            "the access log should name the parameters:\n{log}"
        );
        assert!(!log.contains(SECRET_TOKEN), "token in the log:\n{log}");
        assert!(!log.contains("1970-01-01"), "search value in the log:\n{log}");
        assert!(!log.contains(SECRET_NAME), "search value in the log:\n{log}");
    }
}

/// `POST Patient` with `headers`; the `Location` it answers.
fn location_with(server: &conformance_tests::TestServer, headers: &[(&str, &str)]) -> String {
    let resp = server
        .client()
        .post_with("/Patient", &conformance_tests::sample_patient(), headers);
    assert_eq!(resp.status, 201, "{}", resp.text());
    resp.header("location").expect("Location").to_owned()
}

/// The `fullUrl` of the first entry and the `self` link of a search sent
/// with `headers`.
fn search_urls(server: &conformance_tests::TestServer, headers: &[(&str, &str)]) -> Vec<String> {
    let resp = server
        .client()
        .try_request_with("GET", "/Patient", None, &[], headers)
        .expect("search");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let b = resp.json();
    let mut urls = vec![b["link"][0]["url"].as_str().expect("self link").to_owned()];
    urls.extend(b["entry"][0]["fullUrl"].as_str().map(str::to_owned));
    urls
}

const EVIL: &[(&str, &str)] = &[
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "javascript"),
];
const EVIL_FORWARDED: &[(&str, &str)] = &[("Forwarded", "host=evil.example;proto=javascript")];
const PROXY: &[(&str, &str)] = &[
    ("X-Forwarded-Host", "fhir.example.org:8443"),
    ("X-Forwarded-Proto", "https"),
];

backend_tests! {
    /// From a peer that is not a `--trusted-proxy`, forwarded headers are
    /// ignored: links name the address the client connected to.
    fn forwarded_headers_from_anyone_are_ignored(server) {
        let own = format!("http://127.0.0.1:{}/fhir/", server.port());
        for headers in [EVIL, EVIL_FORWARDED, PROXY] {
            let loc = location_with(server, headers);
            assert!(loc.starts_with(&own), "{headers:?} gave Location {loc}");
            for url in search_urls(server, headers) {
                assert!(url.starts_with(&own), "{headers:?} gave {url}");
            }
        }
    }

    /// From a trusted proxy, valid forwarded values are used; a scheme other
    /// than http(s) or a host that is not a plain authority never is.
    fn forwarded_headers_from_a_trusted_proxy(server) with ["--trusted-proxy", "127.0.0.1"] {
        let loc = location_with(server, PROXY);
        assert!(loc.starts_with("https://fhir.example.org:8443/fhir/Patient/"), "{loc}");
        for url in search_urls(server, PROXY) {
            assert!(url.starts_with("https://fhir.example.org:8443/fhir/"), "{url}");
        }
        let fwd = location_with(server, &[("Forwarded", "host=fhir.example.org;proto=https")]);
        assert!(fwd.starts_with("https://fhir.example.org/fhir/Patient/"), "{fwd}");
        for headers in [
            EVIL,
            EVIL_FORWARDED,
            &[("X-Forwarded-Host", "evil.example/x?"), ("X-Forwarded-Proto", "http")][..],
            &[("X-Forwarded-Host", "user@evil.example")][..],
        ] {
            let loc = location_with(server, headers);
            assert!(!loc.to_ascii_lowercase().starts_with("javascript"), "{loc}");
            assert!(loc.starts_with("http://") || loc.starts_with("https://"), "{loc}");
            assert!(!loc.contains('@') && !loc.contains('?'), "{loc}");
            assert!(
                loc.starts_with(&format!("http://127.0.0.1:{}/fhir/", server.port()))
                    || loc.starts_with("http://evil.example/fhir/"),
                "{headers:?} gave {loc}"
            );
        }
    }
}

const APP: &str = "https://app.example";

fn with_origin<'a>(origin: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("Origin", origin)];
    h.extend_from_slice(extra);
    h
}

/// `OPTIONS Patient` as a browser sends it before a conditional create.
fn preflight(server: &conformance_tests::TestServer, origin: &str) -> Response {
    server
        .client()
        .try_request_with(
            "OPTIONS",
            "/Patient",
            None,
            &[],
            &with_origin(
                origin,
                &[
                    ("Access-Control-Request-Method", "POST"),
                    (
                        "Access-Control-Request-Headers",
                        "authorization, content-type, if-none-exist, prefer",
                    ),
                ],
            ),
        )
        .expect("preflight")
}

backend_tests! {
    /// With `--cors-origin`, preflights are answered for that origin (no
    /// token needed), answers echo it and expose the FHIR headers, other
    /// origins get no CORS header, and the CapabilityStatement says so.
    fn cors_for_configured_origins_only(server) with ["--cors-origin", APP] {
        let pre = preflight(server, APP);
        assert!(pre.status < 300, "preflight answered {}: {}", pre.status, pre.text());
        assert_eq!(pre.header("access-control-allow-origin"), Some(APP));
        let methods = pre.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
        assert!(methods.contains("POST") && methods.contains("PUT"), "{methods}");
        let headers = pre.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
        for h in ["authorization", "content-type", "if-none-exist", "prefer"] {
            assert!(headers.contains(h), "{h} not allowed: {headers}");
        }
        assert!(pre.header("access-control-max-age").is_some());

        let c = server.client();
        let created = c.post_with("/Patient", &conformance_tests::sample_patient(), &with_origin(APP, &[]));
        assert_eq!(created.status, 201);
        assert_eq!(created.header("access-control-allow-origin"), Some(APP));
        let exposed = created.header("access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
        for h in ["location", "etag", "content-location", "last-modified"] {
            assert!(exposed.contains(h), "{h} not exposed: {exposed}");
        }
        assert!(
            created.header("vary").unwrap_or_default().to_ascii_lowercase().contains("origin"),
            "no Vary: Origin"
        );

        let evil = "https://evil.example";
        let pre = preflight(server, evil);
        assert_eq!(pre.header("access-control-allow-origin"), None);
        let other = c.try_request_with("GET", "/metadata", None, &[], &with_origin(evil, &[])).expect("get");
        assert_eq!(other.status, 200);
        assert_eq!(other.header("access-control-allow-origin"), None);

        let cs = c.get("/metadata").json();
        assert_eq!(cs["rest"][0]["security"]["cors"], true);
    }

    /// Without `--cors-origin` no CORS header is sent and the
    /// CapabilityStatement does not claim CORS.
    fn no_cors_without_origins(server) {
        let pre = preflight(server, APP);
        assert_eq!(pre.header("access-control-allow-origin"), None);
        let c = server.client();
        let got = c.try_request_with("GET", "/metadata", None, &[], &with_origin(APP, &[])).expect("get");
        assert_eq!(got.header("access-control-allow-origin"), None);
        assert_ne!(got.json()["rest"][0]["security"]["cors"], true);
    }

    /// A body that trickles in is cut off after `--body-timeout-secs` with
    /// 408 and an OperationOutcome, not held open forever.
    fn slow_body_times_out(server) with ["--body-timeout-secs", "2"] {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        // Without the cut-off the server would wait for the rest forever;
        // the read then times out with nothing read and the test fails.
        s.set_read_timeout(Some(std::time::Duration::from_secs(15))).expect("timeout");
        let head =
            "POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n\
             Accept: application/fhir+json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
        s.write_all(head.as_bytes()).expect("head");
        // A few bytes a second, never the whole body.
        for _ in 0..3 {
            let _ = s.write_all(b"{ ");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("OperationOutcome") && text.contains("timeout"), "{text}");
        assert!(text.contains("--body-timeout-secs"), "{text}");
    }
}
