//! A small blocking HTTP client for talking to a test server.
//!
//! Unlike plain `ureq`, a 4xx or 5xx answer is a normal [`Response`] here:
//! the tests are about those answers. Only a transport failure (refused
//! connection, timeout) is an error.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

/// The FHIR JSON media type the tests send and expect.
pub const FHIR_JSON: &str = "application/fhir+json";

/// One HTTP answer, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Header names in lower case, in the order the server sent them.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body parsed as JSON, or `None`.
    pub fn try_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Panics with the status and body unless the status is `expected`.
    #[track_caller]
    pub fn expect_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "unexpected HTTP status; body: {}",
            self.text()
        );
        self
    }
}

/// A client bound to one FHIR base URL (`http://host:port/fhir`).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    /// Sent as `Authorization: Bearer …` on every request when set.
    bearer: Option<String>,
}

impl Client {
    /// A client with a 60-second timeout per request.
    pub fn new(base: &str) -> Client {
        Self::with_timeout(base, Duration::from_secs(60))
    }

    /// A client with the given per-request timeout.
    pub fn with_timeout(base: &str, timeout: Duration) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(timeout)
            .redirects(0)
            .build();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            bearer: None,
        }
    }

    /// This client, sending `Authorization: Bearer token` (for servers
    /// started with `--auth-issuer`).
    pub fn with_bearer(mut self, token: &str) -> Client {
        self.bearer = Some(token.to_owned());
        self
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` relative to the base (`/Patient/1`), or an absolute URL as-is
    /// (paging links are absolute).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// GET; panics on a transport error.
    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None, &[])
    }

    /// GET; returns transport errors instead of panicking.
    pub fn try_get(&self, path: &str) -> Result<Response, String> {
        self.try_request("GET", path, None, &[])
    }

    /// POST a JSON body as `application/fhir+json`.
    #[track_caller]
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.request(
            "POST",
            path,
            Some(FHIR_JSON),
            &serde_json::to_vec(body).expect("serialize"),
        )
    }

    /// PUT a JSON body as `application/fhir+json`.
    #[track_caller]
    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.request(
            "PUT",
            path,
            Some(FHIR_JSON),
            &serde_json::to_vec(body).expect("serialize"),
        )
    }

    /// DELETE.
    #[track_caller]
    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, None, &[])
    }

    /// Any request with raw bytes; panics on a transport error.
    #[track_caller]
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Response {
        match self.try_request(method, path, content_type, body) {
            Ok(r) => r,
            Err(e) => panic!("{method} {}: {e}", self.url(path)),
        }
    }

    /// POST a JSON body as `application/fhir+json` with extra headers
    /// (`Prefer`, `If-None-Exist`, …).
    #[track_caller]
    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
        let bytes = serde_json::to_vec(body).expect("serialize");
        match self.try_request_with("POST", path, Some(FHIR_JSON), &bytes, headers) {
            Ok(r) => r,
            Err(e) => panic!("POST {}: {e}", self.url(path)),
        }
    }

    /// Any request with raw bytes. 4xx and 5xx answers are `Ok`.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, String> {
        self.try_request_with(method, path, content_type, body, &[])
    }

    /// [`Client::try_request`] with extra headers.
    pub fn try_request_with(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Response, String> {
        let mut req = self
            .agent
            .request(method, &self.url(path))
            .set("Accept", FHIR_JSON);
        for (name, value) in headers {
            req = req.set(name, value);
        }
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        if let Some(token) = &self.bearer {
            req = req.set("Authorization", &format!("Bearer {token}"));
        }
        let result = if body.is_empty() && content_type.is_none() {
            req.call()
        } else {
            req.send_bytes(body)
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .flat_map(|n| {
                let values: Vec<String> = resp.all(&n).into_iter().map(str::to_string).collect();
                values.into_iter().map(move |v| (n.to_ascii_lowercase(), v))
            })
            .collect();
        let mut body = Vec::new();
        resp.into_reader()
            .take(512 * 1024 * 1024)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading body: {e}"))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
