//! HTTP/1.1 to servers on gwd-h1, in the task of the request that uses
//! the connection: no connection task, no channel between the two.
//!
//! # Model
//!
//! A [`ServerConn`] is a byte stream plus a read buffer, owned by exactly
//! one holder: the request using it, or the pool while it is idle (then
//! its buffer is freed). [`exchange`] writes the request head, streams the
//! request body while it waits for the response head (full duplex: a
//! server may answer before the upload ends), and returns the response
//! head with a body ([`H1ResponseBody`]) that owns the connection, keeps
//! uploading what is left, decodes the response framing, and gives the
//! connection back to the pool at the end when it may be reused.
//!
//! # Invariants
//!
//! * A connection goes back to the pool only after a complete response,
//!   a complete upload, and nothing unread left on it.
//! * A pooled connection is checked before reuse: one the server closed
//!   (or wrote to) while idle is dropped, never used.
//! * The request is handed back only when no byte of it was written.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gwd_h1::{
    BodyDecoder, BodyKind, CHUNK_END, ChunkHeader, LAST_CHUNK, Limits, OutFraming, Step,
    parse_response, write_last_chunk, write_request_head,
};
use gwd_head::{Fields, ResponseHead, StatusCode};
use gwd_stats::{Guard, ServerCounters};
use http_body::{Body as _, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::conn::UpStream;
use super::pool::ServerPool;
use super::{OutRequest, ResponseBody, UpstreamError, UpstreamErrorKind, UpstreamFailure};
use crate::body::{Body, BoxError, ClientBodyError};
use crate::core::interim::MAX_INTERIM_BYTES;
use crate::wire::Outgoing;

/// An HTTP/1.1 connection to a server.
#[derive(Debug)]
pub(crate) struct ServerConn {
    io: UpStream,
    /// Bytes read and not consumed; no allocation while idle.
    buf: BytesMut,
    /// The connection counts as open on its server while this lives.
    _open: Guard<ServerCounters>,
}

impl ServerConn {
    pub fn new(io: UpStream, open: Guard<ServerCounters>) -> ServerConn {
        ServerConn {
            io,
            buf: BytesMut::new(),
            _open: open,
        }
    }

    /// Whether an idle connection may carry a request: a pooled connection
    /// is not read while idle, so look now. The server closing it, an
    /// error, or bytes nobody asked for all make it unusable.
    pub fn is_usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut one = [0u8; 1];
        let mut rb = ReadBuf::new(&mut one);
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut rb)
            .is_pending()
    }

    /// Ready to sit in the pool: no buffer kept.
    fn idle(mut self) -> ServerConn {
        self.buf = BytesMut::new();
        self
    }
}

/// A byte stream a protocol switch runs on: a server connection, or a
/// WebSocket stream of a reverse-HTTP tunnel.
pub(crate) trait UpgradedIo:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug
{
}

impl<T> UpgradedIo for T where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug
{
}

/// A server connection switched to another protocol (`101`): the visitor
/// driver relays raw bytes both ways, starting with `leftover`.
#[derive(Debug)]
pub(crate) struct Upgraded {
    pub io: Box<dyn UpgradedIo>,
    /// Bytes the server sent after its `101` head.
    pub leftover: Bytes,
    /// The server connection's place in its counters (none for a tunnel
    /// stream, which its lease accounts for).
    pub _open: Option<Guard<ServerCounters>>,
}

/// Where a finished connection goes: back to the pool, or out of its
/// accounting. A guard: dropped unsettled (the request's future was
/// dropped, the visitor went away), the connection counts as discarded,
/// so the pool's "in use" never leaks.
#[derive(Debug)]
pub(crate) struct Settle {
    pub pool: Arc<Mutex<ServerPool>>,
    /// The connection came from the pool (so it is proven reusable).
    pub was_pooled: bool,
    /// The pool counts the connection as in use (not a protocol-switch
    /// connection, which never goes to the pool).
    pub tracked: bool,
    settled: bool,
}

impl Settle {
    pub fn new(pool: Arc<Mutex<ServerPool>>, was_pooled: bool, tracked: bool) -> Settle {
        Settle {
            pool,
            was_pooled,
            tracked,
            settled: false,
        }
    }

    /// `at`: about now (the pool orders and purges by it; the last time
    /// the connection made progress will do).
    fn release(mut self, conn: ServerConn, at: Instant) {
        self.settled = true;
        if self.tracked {
            self.pool
                .lock()
                .release_h1(conn.idle(), true, self.was_pooled, at);
        }
    }

    fn discard(mut self) {
        self.settled = true;
        if self.tracked {
            self.pool.lock().discard_h1();
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if !self.settled && self.tracked {
            self.pool.lock().discard_h1();
        }
    }
}

/// The request body on its way to the server.
struct Upload {
    body: Body,
    chunked: bool,
    out: Option<Outgoing>,
    /// The last framing was queued: once `out` is written, done.
    ending: bool,
    /// Some body frame was taken: the request can no longer be handed back.
    started: bool,
    /// `timeout server` while the server does not take what is written.
    server_timeout: Option<Duration>,
    stall: Option<Pin<Box<Sleep>>>,
}

/// Why an upload stopped.
enum UploadError {
    /// The visitor's body failed.
    Client(UpstreamErrorKind, BoxError),
    /// Writing to the server failed.
    Server(std::io::Error),
    /// The server took nothing for `timeout server`.
    Stalled(Duration),
}

/// How a visitor's body error is blamed.
pub(crate) fn client_body_kind(e: &BoxError) -> UpstreamErrorKind {
    match e.downcast_ref::<ClientBodyError>() {
        Some(ClientBodyError::Timeout) => UpstreamErrorKind::RequestBodyTimeout,
        Some(ClientBodyError::Malformed(_)) => UpstreamErrorKind::RequestBody,
        // The visitor went away (or reset its stream).
        _ => UpstreamErrorKind::ClientAborted,
    }
}

impl Upload {
    fn new(body: Body, chunked: bool, server_timeout: Option<Duration>) -> Upload {
        Upload {
            body,
            chunked,
            out: None,
            ending: false,
            started: false,
            server_timeout,
            stall: None,
        }
    }

    /// Writes `out` to the server; a server that takes nothing for
    /// `timeout server` fails the upload.
    fn poll_out(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut UpStream,
    ) -> Poll<Result<(), UploadError>> {
        let out = self.out.as_mut().expect("something to write");
        let before = out.written();
        match out.poll_write(cx, io) {
            Poll::Ready(Ok(())) => {
                self.out = None;
                self.stall = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(UploadError::Server(e))),
            Poll::Pending => {
                let Some(limit) = self.server_timeout else {
                    return Poll::Pending;
                };
                let now = crate::clock::now();
                if out.written() > before || self.stall.is_none() {
                    // Progress (or the first stall): the server's silence
                    // counts from now.
                    match &mut self.stall {
                        Some(t) => t.as_mut().reset(now + limit),
                        None => self.stall = Some(Box::pin(tokio::time::sleep_until(now + limit))),
                    }
                }
                let timer = self.stall.as_mut().expect("armed above");
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(UploadError::Stalled(limit)));
                }
                Poll::Pending
            }
        }
    }

    /// Moves body bytes to the server until the body ends (`Ready(Ok)`),
    /// either side blocks (`Pending`), or one fails.
    fn poll(&mut self, cx: &mut Context<'_>, io: &mut UpStream) -> Poll<Result<(), UploadError>> {
        loop {
            if self.out.is_some() {
                ready!(self.poll_out(cx, io))?;
            }
            if self.ending {
                ready!(Pin::new(&mut *io).poll_flush(cx)).map_err(UploadError::Server)?;
                return Poll::Ready(Ok(()));
            }
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => {
                    // Nothing more to send for now: push out what TLS holds.
                    ready!(Pin::new(&mut *io).poll_flush(cx)).map_err(UploadError::Server)?;
                    return Poll::Pending;
                }
                Poll::Ready(f) => f,
            };
            self.started = true;
            match frame {
                None => {
                    self.ending = true;
                    if self.chunked {
                        self.out = Some(Outgoing::new(
                            Vec::new(),
                            Bytes::from_static(LAST_CHUNK),
                            b"",
                        ));
                    }
                }
                Some(Err(e)) => {
                    return Poll::Ready(Err(UploadError::Client(client_body_kind(&e), e)));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) if self.chunked => {
                        let h = ChunkHeader::new(data.len());
                        self.out = Some(Outgoing::new(h.as_bytes().to_vec(), data, CHUNK_END));
                    }
                    Ok(data) => self.out = Some(Outgoing::data(data)),
                    Err(frame) => {
                        // Trailers: only chunked framing can carry them.
                        self.ending = true;
                        if self.chunked {
                            let mut last = Vec::new();
                            let trailers = frame
                                .into_trailers()
                                .ok()
                                .map(|t| Fields::from_header_map(&t));
                            write_last_chunk(&mut last, trailers.as_ref());
                            self.out = Some(Outgoing::new(last, Bytes::new(), b""));
                        }
                    }
                },
            }
        }
    }
}

/// How long a request with `Expect: 100-continue` waits for the server's
/// `100` (or its final answer) before its body goes anyway, as clients do
/// (RFC 9110 §10.1.1).
const EXPECT_WAIT: Duration = Duration::from_secs(1);

/// Sends `req` on `conn` and waits for the response head (1xx interim
/// answers other than `101` are skipped). `server_timeout` bounds the
/// wait once the request is completely sent.
///
/// `sent_at`: when the request goes out (read once by the caller, for its
/// counters; the clock is not read again for the same moment).
pub(crate) async fn exchange(
    mut conn: ServerConn,
    req: OutRequest,
    limits: Limits,
    server_timeout: Option<Duration>,
    settle: Settle,
    sent_at: std::time::Instant,
) -> Result<(ResponseHead, ResponseBody), UpstreamFailure> {
    let reused = settle.was_pooled;
    let chunked = req.body.is_some() && !req.head.fields.contains("content-length");
    let mut head = Vec::with_capacity(req.head.fields.wire_len() + 128);
    let target = origin_form(&req.head);
    write_request_head(
        &mut head,
        &req.head.method,
        target,
        gwd_head::Version::HTTP_11,
        &req.head.fields,
        if chunked {
            OutFraming::Chunked {
                codings: req.codings.as_deref(),
            }
        } else {
            OutFraming::AsIs
        },
    );

    // The head first: nothing of the request has left until it is taken.
    let mut out = Outgoing::new(head, Bytes::new(), b"");
    let written = std::future::poll_fn(|cx| out.poll_write(cx, &mut conn.io)).await;
    if let Err(e) = written {
        settle.discard();
        let back = (out.written() == 0).then_some(req);
        let kind = if back.is_some() {
            UpstreamErrorKind::Refused
        } else {
            UpstreamErrorKind::BadResponse
        };
        return Err(UpstreamFailure::new(
            UpstreamError::with_source(kind, e),
            back,
        ));
    }

    let OutRequest {
        head: req_head,
        body,
        codings,
        upgrade,
        tls,
        body_server,
        interim,
    } = req;
    let method = req_head.method.clone();
    // The key a WebSocket handshake's answer must match.
    let ws_key: Option<Vec<u8>> = upgrade
        .then(|| req_head.fields.get("sec-websocket-key").map(<[u8]>::to_vec))
        .flatten();
    let expects_continue = body.is_some() && req_head.fields.has_token("expect", "100-continue");
    let mut upload = body.map(|b| Upload::new(b, chunked, server_timeout));
    let sent_at = tokio::time::Instant::from_std(sent_at);
    let mut upload_done_at = upload.is_none().then_some(sent_at);
    // Kept in this future (no allocation); armed once the request is out.
    let deadline = tokio::time::sleep_until(sent_at);
    let mut deadline = std::pin::pin!(deadline);
    let mut armed = false;
    let mut server_write_failed = false;
    // `Expect: 100-continue`: the body waits for the server's `100` (or
    // its final answer, or EXPECT_WAIT), so a server can refuse it before
    // it is sent; the visitor gets its `100` when the body is first taken.
    // Boxed and only then: most requests expect nothing.
    let mut continue_wait = expects_continue.then(|| Box::pin(tokio::time::sleep(EXPECT_WAIT)));
    let mut waiting_continue = expects_continue;
    // The server answered something (a `1xx`): it read the request, so a
    // close now is a bad answer, never a stale connection to retry on.
    let mut spoke = false;
    // Interim head bytes relayed for this request, up to MAX_INTERIM_BYTES.
    let mut relayed = 0usize;

    let parsed = std::future::poll_fn(|cx| {
        loop {
            if waiting_continue
                && let Some(wait) = &mut continue_wait
                && wait.as_mut().poll(cx).is_ready()
            {
                waiting_continue = false;
            }
            // 1. Upload what the visitor has sent so far.
            if let Some(u) = &mut upload
                && upload_done_at.is_none()
                && !waiting_continue
            {
                match u.poll(cx, &mut conn.io) {
                    Poll::Ready(Ok(())) => upload_done_at = Some(crate::clock::now()),
                    Poll::Ready(Err(UploadError::Client(kind, e))) => {
                        return Poll::Ready(Err(UpstreamError::with_source(kind, e)));
                    }
                    Poll::Ready(Err(UploadError::Server(e))) => {
                        // The server stopped reading: it may still answer
                        // (413 and friends); read on.
                        tracing::debug!(error = %e, "server stopped reading the request body");
                        server_write_failed = true;
                        upload_done_at = Some(crate::clock::now());
                    }
                    Poll::Ready(Err(UploadError::Stalled(t))) => {
                        return Poll::Ready(Err(UpstreamError::with_source(
                            UpstreamErrorKind::ResponseTimeout,
                            format!("the server took none of the request body for {t:?}"),
                        )));
                    }
                    Poll::Pending => {}
                }
            }
            // 2. Look for a complete response head in what was read.
            if !conn.buf.is_empty() {
                match parse_response(&conn.buf, &method, &limits) {
                    Ok(Some(resp)) if resp.is_interim() => {
                        let _ = conn.buf.split_to(resp.head_len);
                        spoke = true;
                        if resp.head.status == StatusCode::CONTINUE {
                            waiting_continue = false;
                        } else if let Some(to) = &interim
                            && relayed + resp.head_len <= MAX_INTERIM_BYTES
                        {
                            // gwd sends the visitor its own `100`; any
                            // other `1xx` is the visitor's (RFC 9110
                            // §15.2), up to MAX_INTERIM_BYTES.
                            relayed += resp.head_len;
                            to.relay(resp.head);
                        }
                        // The server spoke: `timeout server` counts anew.
                        if upload_done_at.is_some() {
                            upload_done_at = Some(crate::clock::now());
                            armed = false;
                        }
                        continue;
                    }
                    Ok(Some(resp)) => return Poll::Ready(Ok(resp)),
                    Ok(None) => {}
                    Err(e) => {
                        return Poll::Ready(Err(UpstreamError::with_source(
                            UpstreamErrorKind::BadResponse,
                            e,
                        )));
                    }
                }
            }
            // 3. Read more: onto the stack, keeping only what arrived (a
            // typical answer, head and body, is one exact allocation
            // instead of a 16 KiB buffer per request).
            match crate::wire::poll_read_stack(&mut conn.io, cx, &mut conn.buf, limits.max_head + 1)
            {
                Poll::Ready(Ok(0)) => {
                    let kind = if conn.buf.is_empty() && reused && !spoke {
                        UpstreamErrorKind::ClosedBeforeResponse
                    } else {
                        UpstreamErrorKind::BadResponse
                    };
                    return Poll::Ready(Err(UpstreamError::new(kind)));
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => {
                    let kind = if conn.buf.is_empty() && reused && !spoke {
                        UpstreamErrorKind::ClosedBeforeResponse
                    } else {
                        UpstreamErrorKind::BadResponse
                    };
                    return Poll::Ready(Err(UpstreamError::with_source(kind, e)));
                }
                Poll::Pending => {}
            }
            // 4. Nothing moves: `timeout server` runs once the request is out.
            if let (Some(t), Some(done)) = (server_timeout, upload_done_at) {
                if !armed {
                    deadline.as_mut().reset(done + t);
                    armed = true;
                }
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(UpstreamError::new(
                        UpstreamErrorKind::ResponseTimeout,
                    )));
                }
            }
            return Poll::Pending;
        }
    })
    .await;

    let resp =
        match parsed {
            Ok(r) => r,
            Err(error) => {
                settle.discard();
                // Handed back only when the server proved it never read the
                // request (closed a reused connection before any answer) and
                // the body was never touched.
                let untouched = upload.as_ref().is_none_or(|u| !u.started);
                let back = (error.kind() == UpstreamErrorKind::ClosedBeforeResponse && untouched)
                    .then(|| OutRequest {
                        head: req_head,
                        body: upload.map(|u| u.body),
                        codings,
                        upgrade,
                        tls,
                        body_server,
                        interim,
                    });
                return Err(UpstreamFailure::new(error, back));
            }
        };
    let _ = conn.buf.split_to(resp.head_len);
    // Still waiting for `100` when the final answer came: the server
    // refused the body unseen; it is never sent (and the connection,
    // whose request the server may think unfinished, is not reused).
    let refused_body = waiting_continue && upload.as_ref().is_some_and(|u| !u.started);
    let upload = upload.filter(|_| upload_done_at.is_none() && !refused_body);
    let reusable = resp.keep_alive && !server_write_failed && !refused_body;

    if resp.head.status == StatusCode::SWITCHING_PROTOCOLS && !upgrade {
        // RFC 9110 §15.2.2: a server may only switch to a protocol the
        // client asked for. The connection now speaks something else.
        settle.discard();
        return Err(UpstreamFailure::new(
            UpstreamError::with_source(
                UpstreamErrorKind::BadResponse,
                "101 Switching Protocols to a request that asked for no upgrade",
            ),
            None,
        ));
    }
    if resp.head.status == StatusCode::SWITCHING_PROTOCOLS
        && crate::headers::upgrade_is_websocket(&resp.head.fields)
    {
        // RFC 6455 §4.1: the client must fail a handshake whose accept
        // value is missing or not the one its key calls for; gwd answers
        // 502 rather than relay it (HAProxy checks presence).
        let accept = resp.head.fields.get("sec-websocket-accept");
        let wrong = match (accept, &ws_key) {
            (None, _) => Some("101 to a WebSocket upgrade without Sec-WebSocket-Accept"),
            (Some(a), Some(k)) if a != crate::headers::websocket_accept(k).as_bytes() => {
                Some("101 to a WebSocket upgrade with a wrong Sec-WebSocket-Accept")
            }
            _ => None,
        };
        if let Some(why) = wrong {
            settle.discard();
            return Err(UpstreamFailure::new(
                UpstreamError::with_source(UpstreamErrorKind::BadResponse, why),
                None,
            ));
        }
    }
    if resp.head.status == StatusCode::SWITCHING_PROTOCOLS && upgrade {
        // The connection leaves the pool's accounting for good.
        settle.discard();
        let leftover = conn.buf.split().freeze();
        let ServerConn { io, _open, .. } = conn;
        return Ok((
            resp.head,
            ResponseBody::Upgraded(Upgraded {
                io: Box::new(io),
                leftover,
                _open: Some(_open),
            }),
        ));
    }
    // The head's arrival: the body's first progress, or the release.
    let now = crate::clock::now();
    if resp.body == BodyKind::None {
        if upload.is_none() && reusable && conn.buf.is_empty() {
            settle.release(conn, now.into_std());
        } else {
            settle.discard();
        }
        return Ok((resp.head, ResponseBody::Empty));
    }
    let decoder = BodyDecoder::new(resp.body, limits);
    // A chunk size line that came with the head is judged with it, as
    // HAProxy does: a broken one is a bad response (502, `SH`) while the
    // visitor has had nothing yet, not an answer cut before its first
    // byte. (One step on a copy of the decoder: no byte is consumed.)
    if resp.body == BodyKind::Chunked
        && !conn.buf.is_empty()
        && let Err(e) = decoder.clone().decode(&conn.buf)
    {
        settle.discard();
        return Err(UpstreamFailure::new(
            UpstreamError::with_source(UpstreamErrorKind::BadResponse, e),
            None,
        ));
    }
    let body = H1ResponseBody {
        conn: Some(conn),
        decoder,
        upload,
        reusable,
        settle: Some(settle),
        server_timeout,
        timer: None,
        last_progress: now,
        size: match resp.body {
            BodyKind::Length(n) => Some(n),
            _ => None,
        },
        reads: Default::default(),
    };
    Ok((
        resp.head,
        ResponseBody::Stream {
            body: Body::new(body),
            codings: resp.codings,
        },
    ))
}

/// The target an HTTP/1.1 server gets: origin form (`/a?b`), `*` for
/// `OPTIONS *`.
fn origin_form(head: &gwd_head::RequestHead) -> &str {
    head.path_and_query()
}

/// A response body read off an HTTP/1.1 server connection.
struct H1ResponseBody {
    conn: Option<ServerConn>,
    decoder: BodyDecoder,
    /// The rest of the request body, still being uploaded.
    upload: Option<Upload>,
    reusable: bool,
    settle: Option<Settle>,
    /// `timeout server` between two reads of the body.
    server_timeout: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    last_progress: tokio::time::Instant,
    size: Option<u64>,
    /// How much room the body's reads make.
    reads: crate::wire::BodyReads,
}

impl std::fmt::Debug for H1ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1ResponseBody")
            .field("received", &self.decoder.received())
            .finish()
    }
}

/// The server stopped in the middle of a response body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResponseBodyError {
    #[error("server response body: {0}")]
    Framing(#[from] gwd_h1::BodyError),
    #[error("server connection failed during the response body: {0}")]
    Io(std::io::Error),
    #[error("no data from the server for {0:?} (timeout server)")]
    Timeout(Duration),
}

impl ResponseBodyError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, ResponseBodyError::Timeout(_))
    }
}

impl H1ResponseBody {
    /// The body ended: the connection goes back to the pool when nothing
    /// is pending on it, else it is closed.
    fn finish(&mut self) {
        let (Some(conn), Some(settle)) = (self.conn.take(), self.settle.take()) else {
            return;
        };
        if self.reusable && self.upload.is_none() && conn.buf.is_empty() {
            settle.release(conn, self.last_progress.into_std());
        } else {
            settle.discard();
        }
    }

    fn fail(&mut self, e: ResponseBodyError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.reusable = false;
        self.finish();
        Poll::Ready(Some(Err(Box::new(e))))
    }
}

impl http_body::Body for H1ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Ready(None);
        };
        // The upload goes on while the answer streams back.
        if let Some(u) = &mut this.upload {
            match u.poll(cx, &mut conn.io) {
                Poll::Ready(Ok(())) => this.upload = None,
                Poll::Ready(Err(UploadError::Server(e))) => {
                    tracing::debug!(error = %e, "server stopped reading the request body");
                    this.upload = None;
                    this.reusable = false;
                }
                Poll::Ready(Err(UploadError::Client(_, e))) => {
                    this.reusable = false;
                    this.finish();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Err(UploadError::Stalled(t))) => {
                    return this.fail(ResponseBodyError::Timeout(t));
                }
                Poll::Pending => {}
            }
        }
        loop {
            let conn = this.conn.as_mut().expect("present until finished");
            match this.decoder.decode(&conn.buf) {
                Ok(Step::Data(n)) => {
                    let data = conn.buf.split_to(n).freeze();
                    this.last_progress = crate::clock::now();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Step::Skip(n)) => {
                    let _ = conn.buf.split_to(n);
                }
                Ok(Step::End { consumed, trailers }) => {
                    let _ = conn.buf.split_to(consumed);
                    this.finish();
                    return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t.to_header_map()))));
                }
                Err(e) => return this.fail(e.into()),
                Ok(Step::NeedMore) => {
                    let room = this.reads.room(this.decoder.remaining_in_frame());
                    match crate::wire::poll_read_body(&mut conn.io, cx, &mut conn.buf, room) {
                        Poll::Ready(Ok(0)) => {
                            if let Err(e) = this.decoder.eof() {
                                return this.fail(e.into());
                            }
                            // A close-delimited body ends here; the
                            // connection cannot be reused.
                            this.reusable = false;
                            this.finish();
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Ok(n)) => {
                            this.reads.took(n, room);
                            this.last_progress = crate::clock::now();
                            continue;
                        }
                        Poll::Ready(Err(e)) => return this.fail(ResponseBodyError::Io(e)),
                        Poll::Pending => {}
                    }
                    let Some(t) = this.server_timeout else {
                        return Poll::Pending;
                    };
                    let timer = this.timer.get_or_insert_with(|| {
                        Box::pin(tokio::time::sleep_until(this.last_progress + t))
                    });
                    loop {
                        if timer.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        let deadline = this.last_progress + t;
                        if crate::clock::fresh() >= deadline {
                            return this.fail(ResponseBodyError::Timeout(t));
                        }
                        // Data came since the timer was armed: wait on.
                        timer.as_mut().reset(deadline);
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.size {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for H1ResponseBody {
    fn drop(&mut self) {
        // Dropped before its end (the visitor went away): the connection
        // is mid-response and cannot be reused.
        if self.conn.is_some() {
            self.reusable = false;
            self.finish();
        }
    }
}
