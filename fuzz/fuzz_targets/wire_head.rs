//! The connection layer's head rewriter (`fhir_server::wire::head`) over
//! any bytes a client can send: it never panics; fed in two pieces split
//! anywhere it gives the same bytes to actix-http and the same refusal as
//! fed at once (reads split requests arbitrarily); pure ASCII that is not
//! refused comes out as a prefix of itself (nothing but non-ASCII targets
//! is rewritten); a refusal ends the output with the layer's own request.
//! The first two bytes pick the split point; the rest is the stream.
#![no_main]

use actix_web::web::BytesMut;
use fhir_server::wire::head::{codec_config, HeadRewriter, Refusal, REFUSED_REQUEST};
use libfuzzer_sys::fuzz_target;

thread_local! {
    // actix-http's codec configuration starts a timer on an actix
    // runtime: made once, inside one.
    static RUNNER: actix_web::rt::SystemRunner = actix_web::rt::System::new();
    static CONFIG: actix_http::ServiceConfig = RUNNER.with(|r| r.block_on(async { codec_config() }));
}

fn run(pieces: &[&[u8]]) -> (Vec<u8>, Option<Refusal>) {
    let mut rewriter = CONFIG.with(|c| HeadRewriter::new(c.clone()));
    let mut out = BytesMut::new();
    let mut refusal = None;
    for piece in pieces {
        if let Some(r) = rewriter.push(piece, &mut out) {
            assert!(refusal.is_none(), "refused twice");
            refusal = Some(r);
        }
    }
    (out.to_vec(), refusal)
}

fuzz_target!(|data: &[u8]| {
    let [a, b, stream @ ..] = data else {
        return;
    };
    let split = usize::from(u16::from_le_bytes([*a, *b])) % (stream.len() + 1);
    let whole = run(&[stream]);
    let pieces = run(&[&stream[..split], &stream[split..]]);
    // Past actix-http's 128 KiB head buffer, whether a head is "too
    // large" depends on how it was read, in actix-http as here.
    if stream.len() < 100_000 {
        assert_eq!(whole, pieces, "split at {split}");
    }
    let (out, refusal) = whole;
    if refusal.is_some() {
        assert!(out.ends_with(REFUSED_REQUEST));
    } else if stream.is_ascii() {
        assert!(stream.starts_with(&out), "ASCII was rewritten");
    }
});
