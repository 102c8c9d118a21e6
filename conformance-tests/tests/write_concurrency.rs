//! A large write does not hold other writes while the server works on it
//! (#17 item 25: one legal 6 MB Patient held every other write on SQLite
//! for 9 s, because the writer lock was taken before the body was
//! serialised, checked and indexed).
//!
//! The evidence is ordering, not a time limit: while a 6 MB Patient is in
//! flight, small creates are made one after another, and after each the
//! large one is read. A small create answered while the large one is
//! still unanswered *and* not yet readable was stored before the large
//! write committed. The same is counted first for a control request: the
//! same 6 MB body PUT under another id, which the server receives and
//! parses whole and then refuses (400) without writing. With the CPU
//! work under the lock, only the creates made while the large body was
//! being received and parsed get in (as many as during the control, and
//! then one create waits for the whole write: 6 against 2 with the
//! release server); with it outside, creates go on through the
//! serialising, checking and indexing too, many times the control's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conformance_tests::{backend_tests, Client};
use serde_json::{json, Value};

/// A legal Patient of about 6 MB: a narrative of many paragraphs of words
/// (every word is tokenised for `_text` and `_content`) and a few hundred
/// names (indexed by several string parameters).
fn large_patient(id: &str) -> Value {
    let mut div = String::with_capacity(6_200_000);
    div.push_str("<div xmlns=\"http://www.w3.org/1999/xhtml\">");
    let mut n = 0u64;
    while div.len() < 6_000_000 {
        div.push_str("<p>");
        for _ in 0..40 {
            n += 1;
            div.push_str(&format!("word{} ", n % 20_011));
        }
        div.push_str("</p>");
    }
    div.push_str("</div>");
    let names: Vec<Value> = (0..300)
        .map(|i| json!({"family": format!("Family{i}"), "given": [format!("Given{i}")]}))
        .collect();
    json!({
        "resourceType": "Patient",
        "id": id,
        "text": {"status": "generated", "div": div},
        "name": names,
    })
}

/// Small creates made one after another until `put` (run on its own
/// thread) is answered, and how many of them were stored while `id` was
/// not readable yet: (status of `put`, stored during, all small creates).
fn creates_during(
    server: &conformance_tests::TestServer,
    path: &str,
    body: &[u8],
    id: &str,
) -> (u16, usize, usize) {
    let c = server.client();
    let done = AtomicBool::new(false);
    let base = server.base_url().to_owned();
    let (mut during, mut small) = (0usize, 0usize);
    let status = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let c = Client::with_timeout(&base, Duration::from_secs(300));
            let r = c.request("PUT", path, Some("application/fhir+json"), body);
            done.store(true, Ordering::SeqCst);
            r.status
        });
        while !done.load(Ordering::SeqCst) {
            let r = c.post(
                "/Patient",
                &json!({"resourceType": "Patient", "name": [{"family": format!("Small{small}")}]}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
            small += 1;
            if !done.load(Ordering::SeqCst) && c.get(&format!("/Patient/{id}")).status == 404 {
                during += 1;
            }
        }
        writer.join().expect("the large request's thread")
    });
    (status, during, small)
}

backend_tests! {
    /// Small creates are stored while a 6 MB Patient is being written.
    fn small_writes_go_on_while_a_large_one_is_worked_on(server) {
        let c = server.client();
        let body = serde_json::to_vec(&large_patient("large")).expect("json");
        // Warm up: the first write of a server builds caches.
        c.post("/Patient", &json!({"resourceType": "Patient"})).expect_status(201);
        // The control: received and parsed whole, then refused (the id in
        // the URL is not the body's), nothing written.
        let (status, control, _) = creates_during(server, "/Patient/other", &body, "other");
        assert_eq!(status, 400);
        let (status, during, small) = creates_during(server, "/Patient/large", &body, "large");
        assert_eq!(status, 201);
        // The large Patient is stored whole and indexed.
        let found = c.get("/Patient?family=Family299&_summary=count").json();
        assert_eq!(found["total"], 1, "{found}");
        let found = c.get("/Patient?_content=word17&_summary=count").json();
        assert_eq!(found["total"], 1, "{found}");
        eprintln!(
            "{}: {during} of {small} small creates stored while the large one was written; \
             {control} during the control",
            server.backend().name()
        );
        assert!(
            during >= 3 * control + 10,
            "only {during} small creates were stored while the 6 MB Patient was written, \
             against {control} while the same body was only received and parsed: the large \
             write held the other writers"
        );
    }
}
