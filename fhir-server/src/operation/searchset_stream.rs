//! A whole search result as ONE searchset Bundle, written while it is
//! read: `$everything` without `_count` answers the complete record in one
//! Bundle (patient-operation-everything.html: paging is the server's
//! choice), and a complete record can be far larger than a page.
//!
//! The response body is pulled page by page: each chunk is one page of
//! [`PAGE`] matches read on the blocking pool only when the previous
//! chunk has been taken by the connection, so memory holds one page of
//! bodies (plus the keys of what was sent) however large the result. After
//! the matches come the resources they reference (one level,
//! `search.mode` `include`), each once and never one already sent as a
//! match. The first page is read before the answer starts, so its errors
//! are ordinary HTTP errors; a failure later can only cut the connection
//! (logged). Middlewares that rewrite bodies (XML, `_pretty`, the answer
//! filters of authorization and Consent) still see the whole Bundle.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::rt::task::{spawn_blocking, JoinHandle};
use actix_web::web::Bytes;

use crate::error::Error;
use crate::interaction::history::{bundle_head, push_field, to_json};
use crate::interaction::search::entry;
use crate::search::query::{SearchRequest, TotalMode};
use crate::store::{Found, Store};

/// Matches per page read, and referenced resources per load.
pub const PAGE: usize = 500;

type Key = (String, String);

/// Where the writing is.
enum Phase {
    /// Reading the matches; the next page's cursor is in the request.
    Matches,
    /// Sending the referenced resources, in key order.
    Included(std::vec::IntoIter<Key>),
    Done,
}

/// The state carried from one chunk to the next.
pub struct Pager {
    store: Store,
    search: SearchRequest,
    base: String,
    self_url: String,
    phase: Phase,
    entries: usize,
    /// Every resource sent, so none is sent twice.
    sent: HashSet<Key>,
    /// What the matches reference, not yet sent.
    referenced: BTreeSet<Key>,
}

impl Pager {
    /// `search` is the complete, authorised search; its `count` and
    /// `cursor` are the pager's.
    pub fn new(store: Store, mut search: SearchRequest, base: String, self_url: String) -> Self {
        search.count = PAGE;
        search.cursor = None;
        // Counted with the first page only.
        search.total = TotalMode::Estimate;
        search.includes.clear();
        search.revincludes.clear();
        Pager {
            store,
            search,
            base,
            self_url,
            phase: Phase::Matches,
            entries: 0,
            sent: HashSet::new(),
            referenced: BTreeSet::new(),
        }
    }

    /// The next piece of the Bundle; `None` once it is complete.
    /// Blocking (database reads).
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut out = Vec::new();
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Done => return Ok(None),
            Phase::Matches => {
                let first = self.search.cursor.is_none();
                let page = self.store.search(&self.search)?;
                if first {
                    let mut f = true;
                    bundle_head(&mut out, &mut f, "searchset");
                    if let Some(total) = page.total {
                        push_field(&mut out, &mut f, "total", total.to_string().as_bytes());
                    }
                    let links = serde_json::json!([{"relation": "self", "url": self.self_url}]);
                    push_field(&mut out, &mut f, "link", &to_json(&links));
                }
                let keys: Vec<Key> = page
                    .matches
                    .iter()
                    .map(|m| (m.resource_type.clone(), m.id.clone()))
                    .collect();
                self.write(&mut out, &page.matches, "match")?;
                for k in self.store.referenced(&keys)? {
                    if !self.sent.contains(&k) {
                        self.referenced.insert(k);
                    }
                }
                match page.next_cursor {
                    Some(c) => {
                        self.search.cursor = Some(c);
                        self.phase = Phase::Matches;
                    }
                    None => {
                        let sent = &self.sent;
                        let left: Vec<Key> = std::mem::take(&mut self.referenced)
                            .into_iter()
                            .filter(|k| !sent.contains(k))
                            .collect();
                        self.phase = Phase::Included(left.into_iter());
                    }
                }
            }
            Phase::Included(mut keys) => {
                let batch: BTreeSet<Key> = keys.by_ref().take(PAGE).collect();
                if batch.is_empty() {
                    if self.entries > 0 {
                        out.push(b']');
                    }
                    out.push(b'}');
                    return Ok(Some(out));
                }
                let found = self.store.current_of(&batch)?;
                self.write(&mut out, &found, "include")?;
                self.phase = Phase::Included(keys);
            }
        }
        Ok(Some(out))
    }

    fn write(&mut self, out: &mut Vec<u8>, found: &[Found], mode: &str) -> Result<(), Error> {
        for f in found {
            if !self.sent.insert((f.resource_type.clone(), f.id.clone())) {
                continue;
            }
            out.extend_from_slice(if self.entries == 0 {
                b",\"entry\":["
            } else {
                b","
            });
            self.entries += 1;
            entry(out, &self.base, f, mode, &self.search);
        }
        Ok(())
    }
}

type Pending = JoinHandle<Result<(Option<Vec<u8>>, Box<Pager>), Error>>;

/// The response body: the first chunk, then the pager's chunks.
pub struct Streamed {
    ready: Option<Bytes>,
    pager: Option<Box<Pager>>,
    pending: Option<Pending>,
}

impl Streamed {
    /// Reads the first chunk (errors are the caller's HTTP error) and
    /// returns the body that streams the rest.
    pub async fn start(pager: Pager) -> Result<Streamed, Error> {
        let mut pager = Box::new(pager);
        let (first, pager) = crate::interaction::run(move || {
            let chunk = pager.next_chunk()?;
            Ok::<_, Error>((chunk, pager))
        })
        .await?;
        Ok(Streamed {
            ready: first.map(Bytes::from),
            pager: Some(pager),
            pending: None,
        })
    }
}

impl MessageBody for Streamed {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Some(b) = this.ready.take() {
            return Poll::Ready(Some(Ok(b)));
        }
        loop {
            if let Some(pending) = this.pending.as_mut() {
                let done = match Pin::new(pending).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(done) => done,
                };
                this.pending = None;
                return match done {
                    Ok(Ok((Some(chunk), pager))) => {
                        this.pager = Some(pager);
                        Poll::Ready(Some(Ok(Bytes::from(chunk))))
                    }
                    Ok(Ok((None, _))) => Poll::Ready(None),
                    Ok(Err(e)) => {
                        log::error!("a streamed searchset stopped: {e}");
                        Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))))
                    }
                    Err(e) => {
                        log::error!("a streamed searchset stopped: {e}");
                        Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))))
                    }
                };
            }
            let Some(mut pager) = this.pager.take() else {
                return Poll::Ready(None);
            };
            this.pending = Some(spawn_blocking(move || {
                let chunk = pager.next_chunk()?;
                Ok((chunk, pager))
            }));
        }
    }
}
