//! Requests sent byte for byte, as `curl --path-as-is` would: URL
//! libraries normalise targets (`%2e%2e` becomes `..` and is resolved,
//! some decode unreserved escapes), which would hide exactly the
//! spellings an attacker tries. [`send`] sends one request per connection;
//! [`send_bytes`] writes whole requests as bytes (raw UTF-8, bytes that are
//! not UTF-8, several pipelined) and [`Connection`] keeps one connection
//! open across requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::Response;

/// Sends `method target` with `headers` and `body` to `127.0.0.1:port`,
/// `target` written into the request line as given.
pub fn send(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    parse(&raw)
}

/// Writes `request` (one or more whole requests, byte for byte) on a new
/// connection, half-closes it and reads every answer until the server
/// closes.
pub fn send_bytes(port: u16, request: &[u8]) -> Result<Vec<Response>, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let mut answers = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let (response, used) = split_response(rest)?.ok_or("truncated answer")?;
        answers.push(response);
        rest = &rest[used..];
    }
    Ok(answers)
}

/// One keep-alive connection: each [`Connection::exchange`] writes a
/// request and reads exactly one answer, so a server sees the requests
/// arrive one after the other on the same connection.
pub struct Connection {
    stream: TcpStream,
    unread: Vec<u8>,
}

impl Connection {
    pub fn open(port: u16) -> Result<Connection, String> {
        let stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        Ok(Connection {
            stream,
            unread: Vec::new(),
        })
    }

    /// Writes `request` (a whole request, byte for byte) and reads one
    /// answer.
    pub fn exchange(&mut self, request: &[u8]) -> Result<Response, String> {
        self.stream
            .write_all(request)
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some((response, used)) = split_response(&self.unread)? {
                self.unread.drain(..used);
                return Ok(response);
            }
            let mut buf = [0u8; 16 * 1024];
            let n = self
                .stream
                .read(&mut buf)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.unread.extend_from_slice(&buf[..n]);
        }
    }
}

/// The first answer in `raw` and its length, framed by `Content-Length`
/// or chunked encoding; `None` when it is not complete yet.
fn split_response(raw: &[u8]) -> Result<Option<(Response, usize)>, String> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let (status, headers) = parse_head(&raw[..split])?;
    let rest = &raw[split + 4..];
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let used = if chunked {
        match chunked_length(rest)? {
            Some(n) => n,
            None => return Ok(None),
        }
    } else if let Some(n) = length {
        if rest.len() < n {
            return Ok(None);
        }
        n
    } else {
        // Neither: the body runs to the end of the connection.
        rest.len()
    };
    let body = if chunked {
        dechunk(&rest[..used])?
    } else {
        rest[..used].to_vec()
    };
    let response = Response {
        status,
        headers,
        body,
    };
    Ok(Some((response, split + 4 + used)))
}

/// The length of a complete chunked body at the start of `rest`.
fn chunked_length(rest: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(line_end) = rest[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&rest[at..at + line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        at += line_end + 2 + size + 2;
        if at > rest.len() {
            return Ok(None);
        }
        if size == 0 {
            return Ok(Some(at));
        }
    }
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let (status, headers) = parse_head(&raw[..split])?;
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Status and headers (names in lower case) of a response head without
/// its final empty line.
fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), String> {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
