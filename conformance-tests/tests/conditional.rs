//! Conditional create, update and delete over HTTP against the real binary
//! (http.html#ccreate, #cond-update, #3.1.0.7.1), with the outcomes for 0,
//! 1 and several matches, and concurrent conditional creates.

use conformance_tests::{backend_tests, TestServer};
use serde_json::{json, Value};

fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
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
    let text = resp.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn patient(system: &str, value: &str, family: &str) -> Value {
    json!({"resourceType": "Patient",
           "identifier": [{"system": system, "value": value}],
           "name": [{"family": family}]})
}

fn count(server: &TestServer, query: &str) -> i64 {
    server
        .client()
        .get(&format!("/Patient?{query}&_summary=count"))
        .json()["total"]
        .as_i64()
        .unwrap_or(-1)
}

backend_tests! {
    /// If-None-Exist: 0 matches creates (201), 1 returns the match (200,
    /// nothing written), several is 412; unusable criteria are 400.
    fn conditional_create_outcomes(server) {
        let sys = "urn:cond:create";
        let crit = format!("identifier={sys}|1");
        let (s, first) = send(server, "POST", "/Patient", &[("If-None-Exist", &crit)], Some(&patient(sys, "1", "A")));
        assert_eq!(s, 201, "{first}");
        let (s, again) = send(server, "POST", "/Patient", &[("If-None-Exist", &crit)], Some(&patient(sys, "1", "B")));
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["id"], first["id"]);
        assert_eq!(count(server, &crit), 1);
        send(server, "POST", "/Patient", &[], Some(&patient(sys, "2", "C")));
        send(server, "POST", "/Patient", &[], Some(&patient(sys, "2", "D")));
        let (s, oo) = send(server, "POST", "/Patient", &[("If-None-Exist", &format!("identifier={sys}|2"))], Some(&patient(sys, "2", "E")));
        assert_eq!((s, oo["resourceType"].as_str()), (412, Some("OperationOutcome")));
        let (s, oo) = send(server, "POST", "/Patient", &[("If-None-Exist", "nonsense=1")], Some(&patient(sys, "3", "F")));
        assert_eq!((s, oo["resourceType"].as_str()), (400, Some("OperationOutcome")));
        assert_eq!(count(server, &format!("identifier={sys}|3")), 0);
    }

    /// PUT [type]?criteria: 0 creates, 1 updates that one, several is 412.
    fn conditional_update_outcomes(server) {
        let sys = "urn:cond:update";
        let (s, created) = send(server, "PUT", &format!("/Patient?identifier={sys}|1"), &[], Some(&patient(sys, "1", "A")));
        assert_eq!(s, 201, "{created}");
        let (s, updated) = send(server, "PUT", &format!("/Patient?identifier={sys}|1"), &[], Some(&patient(sys, "1", "B")));
        assert_eq!(s, 200, "{updated}");
        assert_eq!(updated["id"], created["id"]);
        assert_eq!(updated["meta"]["versionId"], "2");
        send(server, "POST", "/Patient", &[], Some(&patient(sys, "9", "C")));
        send(server, "POST", "/Patient", &[], Some(&patient(sys, "9", "D")));
        let (s, _) = send(server, "PUT", &format!("/Patient?identifier={sys}|9"), &[], Some(&patient(sys, "9", "E")));
        assert_eq!(s, 412);
        assert_eq!(count(server, "family=E"), 0);
    }

    /// DELETE [type]?criteria: 0 and 1 matches answer 2xx; several are all
    /// deleted.
    fn conditional_delete_outcomes(server) {
        let sys = "urn:cond:delete";
        let (s, _) = send(server, "DELETE", &format!("/Patient?identifier={sys}|none"), &[], None);
        assert!((200..300).contains(&s), "{s}");
        for family in ["A", "B", "C"] {
            send(server, "POST", "/Patient", &[], Some(&patient(sys, "many", family)));
        }
        let (s, _) = send(server, "DELETE", &format!("/Patient?identifier={sys}|many"), &[], None);
        assert!((200..300).contains(&s), "{s}");
        assert_eq!(count(server, &format!("identifier={sys}|many")), 0);
    }

    /// Eight clients send the same conditional create at once: exactly one
    /// resource exists afterwards.
    fn concurrent_conditional_creates_make_one(server) {
        let sys = "urn:cond:race";
        let crit = format!("identifier={sys}|1");
        std::thread::scope(|s| {
            for i in 0..8 {
                let crit = crit.clone();
                s.spawn(move || {
                    let (status, body) = send(server, "POST", "/Patient", &[("If-None-Exist", &crit)],
                        Some(&patient(sys, "1", &format!("N{i}"))));
                    assert!(status == 200 || status == 201, "{status} {body}");
                });
            }
        });
        assert_eq!(count(server, &crit), 1);
    }
}
