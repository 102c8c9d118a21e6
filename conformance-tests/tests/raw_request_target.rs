//! Issue #17 item 23: "some URLs get an empty 400". Requests sent byte
//! for byte (`raw_http`), as `curl "…/Patient?family=山田"` sends them:
//! raw UTF-8 in the target is read as its percent-encoded form, bytes
//! that are not UTF-8 and malformed heads answer 400, long targets 414
//! and huge heads 431, always with an OperationOutcome; every request of
//! a keep-alive connection is read the same way.

use conformance_tests::raw_http::{self, Connection};
use conformance_tests::{assert_outcome, backend_tests, Response, TestServer};
use serde_json::{json, Value};

fn create_patient(server: &TestServer, family: &str, given: &str) {
    server
        .client()
        .post(
            "/Patient",
            &json!({"resourceType": "Patient", "name": [{"family": family, "given": [given]}]}),
        )
        .expect_status(201);
}

/// `GET target` with the target's bytes as they are.
fn get(server: &TestServer, target: &str) -> Response {
    raw_http::send(server.port(), "GET", target, &[], b"").expect("request")
}

/// The families of a searchset's matches.
fn families(resp: &Response) -> Vec<String> {
    assert_eq!(resp.status, 200, "body: {}", resp.text());
    let body: Value = resp.json();
    assert_eq!(body["resourceType"], "Bundle", "{body}");
    let mut out: Vec<String> = body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["name"][0]["family"].as_str())
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

fn one_request(server: &TestServer, request: &[u8]) -> Response {
    let mut answers = raw_http::send_bytes(server.port(), request).expect("request");
    assert_eq!(answers.len(), 1, "answers: {answers:?}");
    answers.remove(0)
}

/// The first issue's diagnostics.
fn diagnostics(outcome: &Value) -> String {
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

backend_tests! {
    /// The first thing a Japanese user types, and the widths the string
    /// search folds (NFKC): half-width katakana finds full-width, and
    /// full-width Latin finds ASCII.
    fn raw_utf8_search_finds_yamada(server) {
        create_patient(server, "山田", "太郎");
        create_patient(server, "ヤマダ", "ハナコ");
        create_patient(server, "Yamada", "Ken");
        create_patient(server, "佐藤", "次郎");
        assert_eq!(families(&get(server, "/fhir/Patient?family=山田")), ["山田"]);
        assert_eq!(families(&get(server, "/fhir/Patient?given=太郎")), ["山田"]);
        assert_eq!(families(&get(server, "/fhir/Patient?family=ﾔﾏﾀﾞ")), ["ヤマダ"]);
        assert_eq!(families(&get(server, "/fhir/Patient?family=ｙａｍａｄａ")), ["Yamada"]);
        // The same search percent-encoded gets the same answer.
        assert_eq!(
            families(&get(server, "/fhir/Patient?family=%E5%B1%B1%E7%94%B0")),
            ["山田"]
        );
        // Full text too.
        assert_eq!(families(&get(server, "/fhir/Patient?_content=佐藤")), ["佐藤"]);
    }

    /// After the rewrite the route decoder's rules hold as for any target:
    /// a raw non-ASCII id is as invalid as its encoded spelling, and the
    /// self link carries the encoded form.
    fn raw_utf8_follows_the_route_rules(server) {
        let raw = get(server, "/fhir/Patient/山田");
        let encoded = get(server, "/fhir/Patient/%E5%B1%B1%E7%94%B0");
        assert_eq!(raw.status, encoded.status, "raw {} encoded {}", raw.text(), encoded.text());
        assert!(raw.status >= 400 && raw.status < 500, "{}", raw.text());
        assert_eq!(raw.json()["resourceType"], "OperationOutcome");
        let search = get(server, "/fhir/Patient?family=山田");
        assert_eq!(search.status, 200);
        let self_link = search.json()["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "self").cloned())
            .expect("self link");
        let url = self_link["url"].as_str().unwrap_or_default();
        assert!(url.is_ascii(), "self link {url}");
    }

    /// Bytes of 0x80 and above that are not UTF-8: 400, saying where.
    fn invalid_utf8_in_the_target_is_400(server) {
        let resp = one_request(
            server,
            b"GET /fhir/Patient?family=\xE5\xB1 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let outcome = assert_outcome(&resp, 400, &["invalid"], None);
        assert!(diagnostics(&outcome).contains("UTF-8"), "{outcome}");
        let resp = one_request(server, b"GET /fhir/Patient?family=\xFF HTTP/1.1\r\n\r\n");
        assert_outcome(&resp, 400, &["invalid"], None);
        // Latin-1, as an old client might send it.
        let resp = one_request(server, b"GET /fhir/Patient?family=M\xFCller HTTP/1.1\r\n\r\n");
        assert_outcome(&resp, 400, &["invalid"], None);
    }

    /// 20 KB, 100 KB and 1 MB targets: 414 with an OperationOutcome, the
    /// 1 MB one read to its end so the answer is not lost to a reset.
    fn long_targets_are_414(server) {
        for size in [20_000, 100_000, 1_000_000] {
            let target = format!("/fhir/Patient?name={}", "a".repeat(size));
            let resp = get(server, &target);
            let outcome = assert_outcome(&resp, 414, &["too-costly"], None);
            assert!(diagnostics(&outcome).contains("_search"), "{outcome}");
        }
        // Raw UTF-8 counts as its encoded length: 6,000 characters of
        // three bytes are 54 KB encoded.
        let target = format!("/fhir/Patient?name={}", "山".repeat(6_000));
        assert_outcome(&get(server, &target), 414, &["too-costly"], None);
        // Under the limit still works.
        let target = format!("/fhir/Patient?name={}", "山".repeat(1_000));
        assert_eq!(get(server, &target).status, 200);
    }

    /// A keep-alive connection: every request on it is rewritten, with a
    /// body (Content-Length, then chunked) between them.
    fn keep_alive_requests_are_all_rewritten(server) {
        create_patient(server, "山田", "太郎");
        create_patient(server, "鈴木", "花子");
        let mut conn = Connection::open(server.port()).expect("connect");
        let first = conn
            .exchange("GET /fhir/Patient?family=山田 HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes())
            .expect("first");
        assert_eq!(families(&first), ["山田"]);
        let form = "family=鈴木";
        let post = format!(
            "POST /fhir/Patient/_search?given=花子 HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        assert_eq!(families(&conn.exchange(post.as_bytes()).expect("post")), ["鈴木"]);
        let chunked = "POST /fhir/Patient/_search?family=山田 HTTP/1.1\r\nHost: x\r\n\
                       Content-Type: application/x-www-form-urlencoded\r\n\
                       Transfer-Encoding: chunked\r\n\r\n\
                       c\r\ngiven=太郎\r\n0\r\n\r\n";
        assert_eq!(families(&conn.exchange(chunked.as_bytes()).expect("chunked")), ["山田"]);
        let last = conn
            .exchange("GET /fhir/Patient?given=花子 HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes())
            .expect("last");
        assert_eq!(families(&last), ["鈴木"]);
        // Pipelined in one write: both answered, in order.
        let answers = raw_http::send_bytes(
            server.port(),
            "GET /fhir/Patient?family=山田 HTTP/1.1\r\nHost: x\r\n\r\n\
             GET /fhir/Patient?family=鈴木 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .as_bytes(),
        )
        .expect("pipelined");
        assert_eq!(answers.len(), 2);
        assert_eq!(families(&answers[0]), ["山田"]);
        assert_eq!(families(&answers[1]), ["鈴木"]);
    }

    /// Heads actix-http refuses: an OperationOutcome, never an empty 400.
    fn malformed_heads_get_an_outcome(server) {
        let cases: [&[u8]; 6] = [
            b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n",
            b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\xE5\xB1\xB1: x\r\n\r\n",
            b"GET /fhir/Patient?a=\"b\" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /fhir/metadata HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            // RFC 9112 §3.2: HTTP/1.1 needs Host.
            b"GET /fhir/metadata HTTP/1.1\r\n\r\n",
        ];
        for case in cases {
            let resp = one_request(server, case);
            let outcome = assert_outcome(&resp, 400, &["structure"], None);
            assert!(
                diagnostics(&outcome).contains("malformed"),
                "{}: {outcome}",
                String::from_utf8_lossy(case)
            );
        }
        // More header fields than actix-http reads (96), or more bytes.
        let many = format!(
            "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "X-A: b\r\n".repeat(200)
        );
        assert_outcome(&one_request(server, many.as_bytes()), 431, &["too-costly"], None);
        let huge = format!(
            "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-A: {}\r\n\r\n",
            "b".repeat(200_000)
        );
        assert_outcome(&one_request(server, huge.as_bytes()), 431, &["too-costly"], None);
        // A good request first on the same connection is answered as usual.
        let mut both = b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        both.extend_from_slice(b"GET /\xFF HTTP/1.1\r\n\r\n");
        let answers = raw_http::send_bytes(server.port(), &both).expect("both");
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert_eq!(answers[0].status, 200);
        assert_outcome(&answers[1], 400, &["invalid"], None);
    }

    /// Raw UTF-8 in header values (obs-text): read like any other value,
    /// never an empty 400.
    fn raw_utf8_in_header_values_is_not_an_empty_400(server) {
        let body = r#"{"resourceType":"Patient","name":[{"family":"山田"}]}"#;
        let resp = raw_http::send(
            server.port(),
            "POST",
            "/fhir/Patient",
            &[
                ("Content-Type", "application/fhir+json"),
                ("Prefer", "return=最小"),
                ("X-Note", "山田"),
            ],
            body.as_bytes(),
        )
        .expect("request");
        assert_eq!(resp.status, 201, "{}", resp.text());
        let resp = raw_http::send(
            server.port(),
            "GET",
            "/fhir/Patient?family=山田",
            &[("Accept", "application/fhir+json; 文字=1")],
            b"",
        )
        .expect("request");
        assert!(!resp.body.is_empty(), "status {} with an empty body", resp.status);
        assert_eq!(resp.json()["resourceType"].as_str().map(|_| ()), Some(()));
    }
}
