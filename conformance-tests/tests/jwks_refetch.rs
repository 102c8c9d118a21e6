//! #16 item 15, black-box: the JWKS is a URL served by the test (counting
//! its fetches); twelve requests at once with twelve unknown `kid`s make
//! the server refetch once, not twelve times (single-flight, and at most
//! one refetch a minute), and every one of them is a 401.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use conformance_tests::smart::{self, AUDIENCE, ISSUER};
use conformance_tests::{Backend, TestServer};

/// Serves `body` to every connection on a free port; counts them.
fn jwks_server(body: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
        }
    });
    (port, hits)
}

fn single_flight(backend: Backend) {
    if backend.skipped() {
        return;
    }
    let (port, hits) = jwks_server(smart::jwks_text());
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    let server = TestServer::start_with_args(
        backend,
        &[
            "--auth-issuer",
            ISSUER,
            "--auth-audience",
            AUDIENCE,
            "--auth-jwks",
            &url,
        ],
    );
    let good = smart::mint_with_kid("rsa", "system/*.rs");
    assert_eq!(
        server.client().with_bearer(&good).get("/Patient").status,
        200
    );
    let before = hits.load(Ordering::SeqCst);
    let tokens: Vec<String> = (0..12)
        .map(|i| smart::mint_with_kid(&format!("unknown-{i}"), "system/*.rs"))
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = tokens
            .iter()
            .map(|t| {
                let c = server.client().with_bearer(t);
                s.spawn(move || c.get("/Patient").status)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let refetches = hits.load(Ordering::SeqCst) - before;
    assert!(
        refetches <= 1,
        "{refetches} JWKS fetches for 12 unknown kids"
    );
}

#[test]
fn jwks_refetch_is_single_flight_sqlite() {
    single_flight(Backend::Sqlite);
}

#[test]
fn jwks_refetch_is_single_flight_postgres() {
    single_flight(Backend::Postgres);
}
