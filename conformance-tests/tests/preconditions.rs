//! Version-aware updates (`If-Match`, http.html#concurrency), conditional
//! reads (`If-None-Match`, `If-Modified-Since`, http.html#cread) and
//! `Prefer: return=` (http.html#ops).

use std::sync::atomic::{AtomicUsize, Ordering};

use conformance_tests::{backend_tests, create_patient, etag_version, sample_patient, TestServer};
use serde_json::{json, Value};

fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Option<String>, Vec<u8>) {
    let url = server.client().url(path);
    let mut req = ureq::request(method, &url).set("Content-Type", "application/fhir+json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match body {
        Some(b) => req.send_bytes(&serde_json::to_vec(b).expect("json")),
        None => req.call(),
    };
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let etag = resp.header("etag").map(str::to_owned);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).expect("body");
    (status, etag, bytes)
}

fn patient(id: &str, family: &str) -> Value {
    let mut p = sample_patient();
    p["id"] = json!(id);
    p["name"] = json!([{"family": family}]);
    p
}

backend_tests! {
    /// `If-Match` with the current version updates; a stale one is 412 and
    /// changes nothing; a malformed one is 400.
    fn if_match_guards_updates(server) {
        let id = create_patient(&server.client());
        let path = format!("/Patient/{id}");
        let (s, etag, _) = send(server, "PUT", &path, &[("If-Match", "W/\"1\"")], Some(&patient(&id, "Two")));
        assert_eq!((s, etag.as_deref()), (200, Some("W/\"2\"")));
        let (s, _, body) = send(server, "PUT", &path, &[("If-Match", "W/\"1\"")], Some(&patient(&id, "Stale")));
        assert_eq!(s, 412);
        let outcome: Value = serde_json::from_slice(&body).expect("outcome");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "conflict");
        let now = server.client().get(&path);
        assert_eq!(etag_version(&now), "2");
        assert_eq!(now.json()["name"][0]["family"], "Two");
        let (s, _, _) = send(server, "PUT", &path, &[("If-Match", "2")], Some(&patient(&id, "Bad")));
        assert_eq!(s, 400);
        let (s, _, _) = send(server, "PUT", "/Patient/nobody", &[("If-Match", "W/\"1\"")], Some(&patient("nobody", "X")));
        assert_eq!(s, 412, "If-Match on a resource that does not exist");
    }

    /// N clients update the same version with `If-Match`: exactly one wins,
    /// the others get 412, and no update is lost.
    fn concurrent_if_match_updates_have_one_winner(server) {
        let id = create_patient(&server.client());
        let (wins, conflicts) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..8 {
                let (id, wins, conflicts) = (&id, &wins, &conflicts);
                s.spawn(move || {
                    let (status, _, _) = send(server, "PUT", &format!("/Patient/{id}"), &[("If-Match", "W/\"1\"")], Some(&patient(id, &format!("T{t}"))));
                    match status {
                        200 => wins.fetch_add(1, Ordering::SeqCst),
                        412 => conflicts.fetch_add(1, Ordering::SeqCst),
                        other => panic!("unexpected status {other}"),
                    };
                });
            }
        });
        assert_eq!(wins.load(Ordering::SeqCst), 1, "exactly one writer wins");
        assert_eq!(conflicts.load(Ordering::SeqCst), 7);
        let read = server.client().get(&format!("/Patient/{id}"));
        assert_eq!(etag_version(&read), "2");
        let history = server.client().get(&format!("/Patient/{id}/_history")).json();
        assert_eq!(history["total"], 2, "one create and one update, nothing lost or doubled");
    }

    /// A read whose `If-None-Match` names the current version, or whose
    /// `If-Modified-Since` is not older than it, answers 304 with no body.
    fn conditional_reads_answer_304(server) {
        let id = create_patient(&server.client());
        let path = format!("/Patient/{id}");
        let (s, etag, body) = send(server, "GET", &path, &[("If-None-Match", "W/\"1\"")], None);
        assert_eq!((s, etag.as_deref(), body.len()), (304, Some("W/\"1\""), 0));
        let (s, _, _) = send(server, "GET", &path, &[("If-None-Match", "W/\"7\"")], None);
        assert_eq!(s, 200);
        let last_modified = server.client().get(&path).header("last-modified").expect("Last-Modified").to_owned();
        let (s, _, _) = send(server, "GET", &path, &[("If-Modified-Since", &last_modified)], None);
        assert_eq!(s, 304);
        let (s, _, _) = send(server, "GET", &path, &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")], None);
        assert_eq!(s, 200);
        let (s, _, _) = send(server, "GET", &format!("{path}/_history/1"), &[("If-None-Match", "W/\"1\"")], None);
        assert_eq!(s, 304, "vread is conditional too");
    }

    /// `Prefer: return=minimal` sends no body, `return=OperationOutcome` an
    /// OperationOutcome; the headers are the same as with the default.
    fn prefer_return(server) {
        let (s, etag, body) = send(server, "POST", "/Patient", &[("Prefer", "return=minimal")], Some(&sample_patient()));
        assert_eq!((s, etag.as_deref(), body.len()), (201, Some("W/\"1\""), 0));
        let (s, _, body) = send(server, "POST", "/Patient", &[("Prefer", "return=OperationOutcome")], Some(&sample_patient()));
        assert_eq!(s, 201);
        let outcome: Value = serde_json::from_slice(&body).expect("outcome");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["severity"], "information");
        let (s, _, body) = send(server, "PUT", "/Patient/pref-1", &[("Prefer", "return=representation")], Some(&patient("pref-1", "R")));
        assert_eq!(s, 201);
        let resource: Value = serde_json::from_slice(&body).expect("resource");
        assert_eq!(resource["meta"]["versionId"], "1");
    }
}
