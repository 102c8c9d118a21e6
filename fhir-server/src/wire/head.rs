//! The request-head rewriter: a byte-stream filter, with no IO of its own,
//! between the client's bytes and actix-http's parser (see [`super`]).
//!
//! Each request of a connection goes through three states: its request
//! line (buffered up to [`MAX_LINE_BYTES`], its target rewritten), its
//! head (given to a shadow of actix-http's own [`Codec`], so what is
//! refused here is exactly what actix-http would refuse, and where the
//! head ends is where actix-http says it ends) and its body (framed by the
//! same codec: `Content-Length` or chunked), after which the next request
//! on the connection starts. Bodies pass through unchanged. What the codec
//! cannot frame (an upgrade, `CONNECT`, a body it rejects) makes the rest
//! of the connection pass through untouched: actix-http then judges it as
//! it would without this layer.
//!
//! A refused request is replaced by [`REFUSED_REQUEST`], a request of
//! this server's own, and nothing after it is read: the application sees
//! that request, finds the refusal in the connection's data and answers
//! with an OperationOutcome (`request_target.rs`), then closes.

use actix_codec::Decoder;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_http::{KeepAlive, ServiceConfig};
use bytes::{Buf, BytesMut};

use crate::request_target::MAX_TARGET_BYTES;

/// The path of [`REFUSED_REQUEST`]. A client may send it too; it is only
/// answered as a refusal on a connection this layer refused.
pub const REFUSED_PATH: &str = "/.refused-request";

/// What the application receives in place of a refused request. It asks
/// for the connection to close: nothing the client sent after the refused
/// head can be framed with confidence.
pub const REFUSED_REQUEST: &[u8] =
    b"GET /.refused-request HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";

/// The longest request line buffered: a target of [`MAX_TARGET_BYTES`]
/// plus room for the method and version. Beyond it the request is refused
/// without reading the rest of the line.
pub const MAX_LINE_BYTES: usize = MAX_TARGET_BYTES + 1024;

/// Why this layer refused a request before the application saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The target, percent-encoded, is longer than [`MAX_TARGET_BYTES`]
    /// (RFC 9110 §15.5.15).
    TargetTooLong,
    /// The target holds bytes of 0x80 and above that are not UTF-8 (RFC
    /// 3987 §3.1 maps only UTF-8 IRIs to URIs); `offset` is the first bad
    /// byte's position in the target.
    TargetNotUtf8 { offset: usize },
    /// The head is larger than actix-http reads (RFC 6585 §5, 431).
    HeadTooLarge,
    /// The request line or a header is malformed; the text is
    /// actix-http's reason.
    Malformed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TargetTooLong => write!(f, "target over {MAX_TARGET_BYTES} bytes"),
            Refusal::TargetNotUtf8 { offset } => {
                write!(f, "target not UTF-8 at offset {offset}")
            }
            Refusal::HeadTooLarge => f.write_str("head too large"),
            Refusal::Malformed(reason) => f.write_str(reason),
        }
    }
}

/// Where the rewriter is in the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request line (or the empty lines allowed before one).
    Line,
    /// The line is rewritten; reading header fields up to the empty line.
    Head,
    /// Forwarding a body framed by the codec.
    Body,
    /// Forwarding everything unchanged for the rest of the connection.
    Passthrough,
    /// A request was refused; everything after it is dropped.
    Refused,
}

/// The rewriter of one connection; see the module doc.
pub struct HeadRewriter {
    state: State,
    codec: Codec,
    /// Raw bytes received and not yet looked at.
    pending: BytesMut,
    /// The request line being read.
    line: Vec<u8>,
    /// The codec's input (rewritten line, then raw header and body bytes).
    buf: BytesMut,
    /// A copy of `buf`: the codec consumes its input, and what it consumed
    /// is what goes on to actix-http.
    fed: BytesMut,
}

/// The configuration the shadow codec needs. actix-http's configuration
/// starts a date timer on the current actix runtime, so call this inside
/// one, once per worker, and clone the result for each connection.
pub fn codec_config() -> ServiceConfig {
    ServiceConfig::new(
        KeepAlive::default(),
        std::time::Duration::from_secs(5),
        std::time::Duration::ZERO,
        false,
        None,
    )
}

impl HeadRewriter {
    pub fn new(config: ServiceConfig) -> Self {
        Self {
            state: State::Line,
            codec: Codec::new(config),
            pending: BytesMut::new(),
            line: Vec::new(),
            buf: BytesMut::new(),
            fed: BytesMut::new(),
        }
    }

    /// Takes bytes read from the client and appends to `out` what
    /// actix-http is to read. Returns the refusal when this input makes
    /// one; `out` then ends with [`REFUSED_REQUEST`] and later input is
    /// ignored.
    pub fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Option<Refusal> {
        match self.state {
            State::Passthrough => {
                out.extend_from_slice(input);
                return None;
            }
            State::Refused => return None,
            _ => self.pending.extend_from_slice(input),
        }
        loop {
            match self.state {
                State::Passthrough | State::Refused => return None,
                State::Line => match self.read_line() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(r) => return Some(self.refuse(r, out)),
                },
                State::Head => {
                    self.take_pending();
                    match self.codec.decode(&mut self.buf) {
                        Err(ParseError::TooLarge) => {
                            return Some(self.refuse(Refusal::HeadTooLarge, out))
                        }
                        Err(e) => return Some(self.refuse(malformed(&e), out)),
                        Ok(None) => return None,
                        Ok(Some(_)) => {
                            self.forward(out);
                            match self.codec.message_type() {
                                MessageType::None => self.next_request(),
                                MessageType::Payload => self.state = State::Body,
                                MessageType::Stream => self.pass_through(out),
                            }
                        }
                    }
                }
                State::Body => {
                    self.take_pending();
                    match self.codec.decode(&mut self.buf) {
                        Ok(Some(Message::Chunk(Some(_)))) => self.forward(out),
                        Ok(Some(Message::Chunk(None))) => {
                            self.forward(out);
                            self.next_request();
                        }
                        Ok(None) => {
                            self.forward(out);
                            return None;
                        }
                        // A body the codec cannot frame: actix-http will
                        // refuse it itself, mid-request, as it always has.
                        Ok(Some(Message::Item(_))) | Err(_) => self.pass_through(out),
                    }
                }
            }
        }
    }

    /// Moves a complete request line from `pending` into the codec's
    /// input, rewritten. `Ok(false)`: the line is not complete yet.
    fn read_line(&mut self) -> Result<bool, Refusal> {
        let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
            if self.line.len() + self.pending.len() > MAX_LINE_BYTES {
                return Err(overlong(&self.line, &self.pending));
            }
            self.line.extend_from_slice(&self.pending);
            self.pending.clear();
            return Ok(false);
        };
        if self.line.len() + end + 1 > MAX_LINE_BYTES {
            return Err(overlong(&self.line, &self.pending));
        }
        self.line.extend_from_slice(&self.pending[..=end]);
        self.pending.advance(end + 1);
        let line = std::mem::take(&mut self.line);
        if line == b"\n" || line == b"\r\n" {
            // The empty lines RFC 9112 §2.2 lets a server skip before a
            // request line: the codec skips them.
            self.feed(&line);
            return Ok(true);
        }
        let rewritten = rewrite_line(&line)?;
        self.feed(&rewritten);
        self.state = State::Head;
        Ok(true)
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.fed.extend_from_slice(bytes);
    }

    fn take_pending(&mut self) {
        if !self.pending.is_empty() {
            let pending = self.pending.split();
            self.feed(&pending);
        }
    }

    /// Hands what the codec consumed on to actix-http.
    fn forward(&mut self, out: &mut BytesMut) {
        let consumed = self.fed.len() - self.buf.len();
        out.extend_from_slice(&self.fed.split_to(consumed));
    }

    /// The request is complete: what follows is the next request's raw
    /// bytes, to be read from its request line again.
    fn next_request(&mut self) {
        let rest = self.buf.split();
        self.fed.clear();
        let later = self.pending.split();
        self.pending.extend_from_slice(&rest);
        self.pending.extend_from_slice(&later);
        self.state = State::Line;
    }

    fn pass_through(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.fed);
        out.extend_from_slice(&self.pending);
        self.fed.clear();
        self.buf.clear();
        self.pending.clear();
        self.state = State::Passthrough;
    }

    fn refuse(&mut self, refusal: Refusal, out: &mut BytesMut) -> Refusal {
        self.state = State::Refused;
        self.pending = BytesMut::new();
        self.buf = BytesMut::new();
        self.fed = BytesMut::new();
        self.line = Vec::new();
        out.extend_from_slice(REFUSED_REQUEST);
        refusal
    }
}

/// The refusal for the codec's error, its terse reason spelled out where
/// it covers several rules.
fn malformed(e: &ParseError) -> Refusal {
    Refusal::Malformed(match e {
        ParseError::Header => "a header field is invalid: a name or value with characters \
             HTTP does not allow, a bad or repeated Content-Length, a repeated Host or \
             Transfer-Encoding, or an HTTP/1.1 request without Host (RFC 9112 §3.2)"
            .to_owned(),
        other => other.to_string(),
    })
}

/// A request line longer than [`MAX_LINE_BYTES`]: a long target when it
/// starts like a request (a method token and a space), else malformed.
fn overlong(line: &[u8], pending: &[u8]) -> Refusal {
    let start: Vec<u8> = line.iter().chain(pending).take(64).copied().collect();
    let starts_like_request = start
        .iter()
        .position(|&b| b == b' ')
        .is_some_and(|sp| sp > 0 && start[..sp].iter().all(u8::is_ascii_alphabetic));
    if starts_like_request {
        Refusal::TargetTooLong
    } else {
        Refusal::Malformed("the request line is too long and is not a request line".to_owned())
    }
}

/// The request line with every byte of 0x80 and above in its target
/// percent-encoded (RFC 3987 §3.1: an IRI becomes a URI by encoding its
/// UTF-8 bytes). A line without the `method SP target SP version` shape is
/// returned as it is, for the codec to refuse with its own reason. ASCII
/// is never touched, so the route decoder's rules (one decoding, ambiguous
/// spellings refused) apply to the result as to any URI.
pub fn rewrite_line(line: &[u8]) -> Result<Vec<u8>, Refusal> {
    let Some(sp1) = line.iter().position(|&b| b == b' ') else {
        return Ok(line.to_vec());
    };
    let after = &line[sp1 + 1..];
    let Some(sp2) = after.iter().position(|&b| b == b' ') else {
        return Ok(line.to_vec());
    };
    let target = &after[..sp2];
    if target.is_ascii() {
        if target.len() > MAX_TARGET_BYTES {
            return Err(Refusal::TargetTooLong);
        }
        return Ok(line.to_vec());
    }
    if let Err(e) = std::str::from_utf8(target) {
        return Err(Refusal::TargetNotUtf8 {
            offset: e.valid_up_to(),
        });
    }
    let wide = target.iter().filter(|&&b| b >= 0x80).count();
    if target.len() + 2 * wide > MAX_TARGET_BYTES {
        return Err(Refusal::TargetTooLong);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(line.len() + 2 * wide);
    out.extend_from_slice(&line[..=sp1]);
    for &b in target {
        if b >= 0x80 {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&after[sp2..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through a fresh rewriter in pieces of `step` bytes.
    fn run(input: &[u8], step: usize) -> (Vec<u8>, Option<Refusal>) {
        let mut rw = HeadRewriter::new(codec_config());
        let mut out = BytesMut::new();
        let mut refusal = None;
        for piece in input.chunks(step.max(1)) {
            if let Some(r) = rw.push(piece, &mut out) {
                refusal = Some(r);
            }
        }
        (out.to_vec(), refusal)
    }

    fn check(input: &[u8], expected: &[u8], refusal: Option<Refusal>) {
        for step in [1, 3, 7, input.len().max(1)] {
            let (out, r) = run(input, step);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(expected),
                "step {step}"
            );
            assert_eq!(r, refusal, "step {step}");
        }
    }

    #[actix_web::test]
    async fn ascii_requests_pass_unchanged() {
        let two = b"GET /fhir/Patient?name=a HTTP/1.1\r\nHost: x\r\n\r\n\
                    POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                    GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n";
        check(two, two, None);
    }

    #[actix_web::test]
    async fn raw_utf8_in_every_request_is_percent_encoded() {
        let input = "GET /fhir/Patient?family=山田 HTTP/1.1\r\nHost: x\r\n\r\n\
                     POST /fhir/Patient/_search?given=太郎 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n山\
                     GET /fhir/Patient?family=ﾔﾏﾀﾞ HTTP/1.1\r\nHost: x\r\n\r\n";
        let expected = "GET /fhir/Patient?family=%E5%B1%B1%E7%94%B0 HTTP/1.1\r\nHost: x\r\n\r\n\
                        POST /fhir/Patient/_search?given=%E5%A4%AA%E9%83%8E HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n山\
                        GET /fhir/Patient?family=%EF%BE%94%EF%BE%8F%EF%BE%80%EF%BE%9E HTTP/1.1\r\nHost: x\r\n\r\n";
        check(input.as_bytes(), expected.as_bytes(), None);
    }

    #[actix_web::test]
    async fn chunked_bodies_are_framed() {
        let input = "POST /fhir HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\nGET\r\n0\r\n\r\n\
                     GET /fhir/Patient?family=山 HTTP/1.1\r\nHost: x\r\n\r\n";
        let expected = "POST /fhir HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                        3\r\nGET\r\n0\r\n\r\n\
                        GET /fhir/Patient?family=%E5%B1%B1 HTTP/1.1\r\nHost: x\r\n\r\n";
        check(input.as_bytes(), expected.as_bytes(), None);
    }

    #[actix_web::test]
    async fn invalid_utf8_is_refused_with_its_offset() {
        let mut input = b"GET /fhir/Patient?family=".to_vec();
        input.extend_from_slice(&[0xE5, 0xB1, b'x']);
        input.extend_from_slice(b" HTTP/1.1\r\n\r\n");
        check(
            &input,
            REFUSED_REQUEST,
            Some(Refusal::TargetNotUtf8 { offset: 21 }),
        );
    }

    #[actix_web::test]
    async fn long_targets_are_refused_without_reading_them_whole() {
        let long = format!(
            "GET /fhir/Patient?x={} HTTP/1.1\r\n\r\n",
            "a".repeat(20_000)
        );
        check(
            long.as_bytes(),
            REFUSED_REQUEST,
            Some(Refusal::TargetTooLong),
        );
        // Within the limit raw, over it once encoded.
        let wide = format!(
            "GET /fhir/Patient?x={} HTTP/1.1\r\n\r\n",
            "山".repeat(3_000)
        );
        check(
            wide.as_bytes(),
            REFUSED_REQUEST,
            Some(Refusal::TargetTooLong),
        );
        // The line has no end yet: refused as soon as it is too long.
        let (out, r) = run(&long.as_bytes()[..MAX_LINE_BYTES + 10], 4096);
        assert_eq!(out, REFUSED_REQUEST);
        assert_eq!(r, Some(Refusal::TargetTooLong));
    }

    #[actix_web::test]
    async fn malformed_heads_are_refused_with_the_codecs_reason() {
        let (out, r) = run(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", 100);
        assert_eq!(out, REFUSED_REQUEST);
        assert!(matches!(r, Some(Refusal::Malformed(_))), "{r:?}");
        // The http crate refuses `"` in a query (not in a path).
        let (_, r) = run(b"GET /?a=\"b\" HTTP/1.1\r\nHost: x\r\n\r\n", 100);
        assert!(matches!(r, Some(Refusal::Malformed(_))), "{r:?}");
        // RFC 9112 §3.2: an HTTP/1.1 request without Host.
        let (_, r) = run(b"GET / HTTP/1.1\r\n\r\n", 100);
        assert!(matches!(r, Some(Refusal::Malformed(m)) if m.contains("Host")));
        // More than actix-http's 96 header fields: "too large" to it.
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(200));
        let (_, r) = run(many.as_bytes(), 100);
        assert_eq!(r, Some(Refusal::HeadTooLarge));
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: {}\r\n\r\n",
            "b".repeat(140_000)
        );
        let (_, r) = run(big.as_bytes(), 8192);
        assert_eq!(r, Some(Refusal::HeadTooLarge));
    }

    #[actix_web::test]
    async fn a_refusal_after_a_good_request_keeps_the_good_one() {
        let mut input = b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        input.extend_from_slice(b"GET /\xFF HTTP/1.1\r\n\r\nGET /later HTTP/1.1\r\n\r\n");
        let mut expected = b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        expected.extend_from_slice(REFUSED_REQUEST);
        check(
            &input,
            &expected,
            Some(Refusal::TargetNotUtf8 { offset: 1 }),
        );
    }

    #[actix_web::test]
    async fn upgrades_pass_through() {
        let input =
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\xFF\xFE raw";
        check(input, input, None);
    }
}
