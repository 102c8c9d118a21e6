//! The connection layer under actix-http: what reaches the HTTP parser is
//! first read here, so requests that actix-http would refuse with an empty
//! 400 before any of our code runs get an answer with an OperationOutcome.
//!
//! - Raw UTF-8 in the request target (`curl '…/Patient?family=山田'` sends
//!   the bytes as they are) is percent-encoded, as RFC 3987 §3.1 maps an
//!   IRI to a URI; the route decoder then decodes it once like any other
//!   target. Bytes of 0x80 and above that are not UTF-8 are refused (400).
//! - A target longer than `request_target::MAX_TARGET_BYTES` once encoded
//!   is refused (414) without being read whole: actix-http would stop at
//!   64 KiB with an empty 400.
//! - A head actix-http's own codec refuses (bad header name, too many
//!   headers, …) is refused with that codec's reason (400), and one too
//!   large for it with 431.
//!
//! A refused request reaches the application as a request of this layer's
//! own, with the refusal in the connection's data, and
//! `request_target::check` answers it through `error.rs` like any other
//! error; the connection then closes. Every request of a keep-alive
//! connection is rewritten: the layer follows actix-http's framing (same
//! codec), and passes through what it cannot frame.
//!
//! `head.rs` is the rewriter (no IO; fuzzed by `fuzz/fuzz_targets/
//! wire_head.rs`), `io.rs` the connection type over TCP or decrypted TLS,
//! `server.rs` the listening server built around them.

pub mod head;
pub mod io;
pub mod server;

pub use head::{Refusal, REFUSED_PATH};
pub use io::ConnRefusal;
