//! [`WireIo`]: a connection (TCP, or TLS after decryption) whose read side
//! goes through the [`HeadRewriter`], as actix-http reads it.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use actix_codec::{AsyncRead, AsyncWrite, ReadBuf};
use actix_http::ServiceConfig;
use bytes::{Buf, BytesMut};

use super::head::{HeadRewriter, Refusal};

/// How much a refused client may still send, read and dropped, before the
/// connection is closed anyway: enough for a 1 MB URL, bounded so a client
/// cannot keep a worker reading forever (actix-http's disconnect timeout
/// bounds the time).
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// The refusal of a connection, if any; put in each request's connection
/// data (`HttpRequest::conn_data`) so the application can answer it.
#[derive(Debug, Clone, Default)]
pub struct ConnRefusal(Rc<RefCell<Option<Refusal>>>);

impl ConnRefusal {
    pub fn get(&self) -> Option<Refusal> {
        self.0.borrow().clone()
    }

    fn is_set(&self) -> bool {
        self.0.borrow().is_some()
    }
}

/// An HTTP/1 connection seen through the rewriter, or (for HTTP/2, whose
/// binary framing carries no raw request line) passed through untouched.
pub struct WireIo<T> {
    io: T,
    rewriter: Option<Box<HeadRewriter>>,
    /// Rewritten bytes actix-http has not read yet.
    out: BytesMut,
    scratch: Box<[u8]>,
    refusal: ConnRefusal,
    read_eof: bool,
    shut_down: bool,
    lingered: usize,
}

impl<T> WireIo<T> {
    /// HTTP/1: every request head is rewritten.
    pub fn http1(io: T, config: ServiceConfig) -> Self {
        Self::with(io, Some(Box::new(HeadRewriter::new(config))))
    }

    /// HTTP/2 (negotiated by ALPN): passed through.
    pub fn passthrough(io: T) -> Self {
        Self::with(io, None)
    }

    fn with(io: T, rewriter: Option<Box<HeadRewriter>>) -> Self {
        Self {
            io,
            rewriter,
            out: BytesMut::new(),
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
            refusal: ConnRefusal::default(),
            read_eof: false,
            shut_down: false,
            lingered: 0,
        }
    }

    /// The handle the application reads the refusal through.
    pub fn refusal(&self) -> ConnRefusal {
        self.refusal.clone()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WireIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(rewriter) = this.rewriter.as_mut() else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        loop {
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out[..n]);
                this.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            // After a refusal actix-http reads an end of stream: the
            // refused request is the connection's last.
            if this.read_eof || this.refusal.is_set() {
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.read_eof = true;
                continue;
            }
            if let Some(refusal) = rewriter.push(read.filled(), &mut this.out) {
                // The client's fault: at info, as `log_levels.rs` puts
                // actix-http's own parse errors.
                log::info!("request parse error, refused before actix-http: {refusal}");
                *this.refusal.0.borrow_mut() = Some(refusal);
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WireIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// After a refusal, a lingering close (RFC 9112 §9.6): the client may
    /// still be sending the rest of a long request; closing with its bytes
    /// unread would reset the connection and could destroy the answer
    /// before the client reads it. So: end our side, then read and drop
    /// until the client closes (bounded by [`LINGER_BYTES`]).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.refusal.is_set() {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        }
        if !this.shut_down {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.shut_down = true;
        }
        while !this.read_eof && this.lingered < LINGER_BYTES {
            let mut read = ReadBuf::new(&mut this.scratch);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut read)) {
                Ok(()) if read.filled().is_empty() => this.read_eof = true,
                Ok(()) => this.lingered += read.filled().len(),
                Err(_) => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}
