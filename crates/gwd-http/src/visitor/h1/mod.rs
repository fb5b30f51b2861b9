//! HTTP/1.1 visitors on gwd-h1: one task per connection drives the
//! codec, the core and the answer, with no channel hop and no task spawn
//! per request.
//!
//! # Model
//!
//! The task owns the socket. For each request it reads and parses a head,
//! starts the core on it ([`core::handle`], boxed once), and then polls
//! three things in turn until the answer is out: the request body (read,
//! decoded, handed to the upstream through a one-chunk slot), the core,
//! and the answer being written. Reading and writing the same socket from
//! one poll function needs no split and no lock; an HTTP/1.1 server
//! connection is driven inside the core's future on this same task.
//!
//! # Timeouts (HAProxy's model)
//!
//! | phase | timeout | on expiry |
//! |---|---|---|
//! | no request yet | `http-request`, else `client` | close, nothing sent |
//! | idle after a response | `http-keep-alive`, else `http-request`, else `client` | close, nothing sent |
//! | request head partly received | `http-request`, else `client`, from its first byte | 408, close |
//! | request body stalled | `client` | 408 if nothing was answered yet, close |
//! | visitor not reading the answer | `client` | close |
//!
//! # Idle memory
//!
//! Between requests the task holds no buffer: reads go through a buffer on
//! the stack and only bytes that arrived are kept.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::conn_io::StopSignal;
use bytes::{Bytes, BytesMut};
use gwd_h1::{
    BodyDecoder, BodyKind, HeadError, Limits, OutFraming, ParsedRequest, Step, parse_request,
    write_response_head,
};
use gwd_head::{StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::request_body::{self, BodyFeed};
use crate::access_log::{Ender, LogRecord, Phase};
use crate::body::{Body, ClientBodyError};
use crate::core::{self, ConnCtx, InRequest, Renewal, TunnelEnd, TxnEnd};
use crate::upstream::h1::Upgraded;
use crate::wire::{Outgoing, STACK_READ, poll_read_stack};
use answer::{Stall, WriteEnd, Writer, poll_write_bounded};

mod answer;

/// The start of the HTTP/2 connection preface, enough to tell it from any
/// HTTP/1 request line.
pub(crate) const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// How long an idle keep-alive connection waits, once gwd stops, for a
/// request already on its way (answered with `Connection: close`).
const IDLE_CLOSE_GRACE: Duration = Duration::from_millis(500);

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\ncontent-type: text/html\r\ncontent-length: 110\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";
const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How long a closing connection keeps reading (and dropping) what the
/// visitor still sends, so the answer is not lost to a reset.
const LINGER: Duration = Duration::from_secs(1);

/// How an HTTP/1.1 connection ended.
#[derive(Debug)]
pub(crate) enum H1Exit {
    /// Closed (by either side, a timeout, or a stop).
    Closed,
    /// The first bytes were the HTTP/2 preface (h2c prior knowledge): the
    /// caller serves HTTP/2, starting with these bytes, on this context
    /// (handed back so the caller need not hold one meanwhile).
    H2Preface(Bytes, Arc<ConnCtx>),
}

/// Serves HTTP/1.1 on `io` until the connection ends. `buf`: bytes
/// already read. `h2c`: the HTTP/2 preface may open the connection.
///
/// This loop is what an idle connection keeps: its context and the wait
/// for the next request's first bytes. Each request, from
/// its first bytes to its answer, runs in one box (the one allocation the
/// exchange always took), freed when it is answered.
pub(crate) async fn serve<S>(
    cx: Arc<ConnCtx>,
    io: &mut S,
    buf: BytesMut,
    h2c: bool,
    stop: &StopSignal,
) -> H1Exit
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut c = Conn {
        cx,
        buf,
        h2c,
        // A reload removed this connection's frontend: from then on the
        // connection behaves as if gwd were stopping (the answer says
        // `close`), on its own.
        gone: false,
        requests: 0,
        idle_since: crate::clock::now(),
    };
    loop {
        if c.buf.is_empty() {
            let t = &c.cx.proxy.frontend(c.cx.fe).conf.timeouts;
            let limit = if c.requests == 0 {
                t.http_request.or(t.client)
            } else {
                t.http_keep_alive.or(t.http_request).or(t.client)
            };
            let deadline = limit.map(|d| c.idle_since + d);
            let stop = (!c.gone).then_some(stop);
            if !wait_request(io, &mut c.buf, deadline, stop).await {
                if c.requests == 0 {
                    log_null_connection(&c.cx, c.idle_since.elapsed());
                }
                return H1Exit::Closed;
            }
        }
        // Built in its box, not copied there (it holds the exchange and
        // the request's core future).
        match crate::heap::pin_in_place(|| request(&mut c, io, stop)).await {
            Next::KeepAlive => {}
            Next::Closed => return H1Exit::Closed,
            Next::H2Preface => return H1Exit::H2Preface(c.buf.freeze(), c.cx),
        }
        // Stopping: the answer said `close` and the exchange ended the
        // connection; or it said keep-alive before the stop began, and
        // the next request (if one comes at once) is answered with
        // `close` (see `wait_request`).
        if c.buf.is_empty() {
            // Nothing pipelined: give the buffer back while idle.
            c.buf = BytesMut::new();
        }
        c.idle_since = crate::clock::now();
    }
}

/// An HTTP/1.1 connection's state between requests.
struct Conn {
    cx: Arc<ConnCtx>,
    /// Bytes received and not yet consumed (empty while idle, and then
    /// without a buffer).
    buf: BytesMut,
    h2c: bool,
    gone: bool,
    requests: u64,
    idle_since: Instant,
}

/// What follows a request.
enum Next {
    KeepAlive,
    Closed,
    /// The first bytes were the HTTP/2 preface (in `buf`).
    H2Preface,
}

/// One request, its first bytes in `c.buf`: the rest of its head, then
/// its exchange.
async fn request<S>(c: &mut Conn, io: &mut S, stop: &StopSignal) -> Next
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let preface = c.h2c && c.requests == 0;
    // The head's first bytes came in this poll (or were pipelined behind
    // the previous request): HAProxy's `Ti` ends and its `TR` begins.
    let first_byte = crate::clock::now();
    let received = crate::core::Received {
        first_byte: first_byte.into_std(),
        idle: first_byte.saturating_duration_since(c.idle_since),
    };
    let head = {
        let limits = limits_of(&c.cx);
        match parse_head(&c.buf, &limits, preface) {
            Some(done) => done,
            None => {
                let t = &c.cx.proxy.frontend(c.cx.fe).conf.timeouts;
                let deadline = t.http_request.or(t.client).map(|d| first_byte + d);
                read_rest_of_head(io, &mut c.buf, &limits, deadline, preface).await
            }
        }
    };
    let cx = &c.cx;
    let parsed = match head {
        HeadRead::Request(p) => p,
        HeadRead::H2Preface => return Next::H2Preface,
        HeadRead::Aborted => {
            // HAProxy's `CR` line for a head cut by the visitor.
            cx.proxy.frontend(cx.fe).counters.request_error();
            bad_request_record(
                cx,
                &received,
                400,
                Ender::Client,
                "client closed during the request head",
            )
            .emit();
            return Next::Closed;
        }
        HeadRead::Bad(e) => {
            // Rare paths run boxed: their state is not sized into every
            // request's.
            Box::pin(refuse_head(cx, io, e, &received)).await;
            Box::pin(linger(io)).await;
            return Next::Closed;
        }
        HeadRead::Timeout => {
            // Best effort: the socket buffer is empty at this point.
            let _ = Box::pin(io.write_all(RESPONSE_408)).await;
            log_bad_request(
                cx,
                &received,
                408,
                Ender::ClientTimeout,
                "timeout http-request: incomplete request head",
            );
            return Next::Closed;
        }
    };
    c.requests += 1;
    // A reload since the last request: this one runs on the config in
    // force now (its head was read under the previous limits).
    match c.cx.renewed() {
        None => {}
        Some(Renewal::Renewed(next)) => c.cx = next,
        Some(Renewal::FrontendGone) => c.gone = true,
    }
    let stopping = (!c.gone).then_some(stop);
    match exchange(&c.cx, io, &mut c.buf, parsed, received, stopping).await {
        ExchangeEnd::KeepAlive => Next::KeepAlive,
        ExchangeEnd::Close => {
            let _ = io.shutdown().await;
            Next::Closed
        }
        ExchangeEnd::CloseLingering => {
            Box::pin(linger(io)).await;
            Next::Closed
        }
        ExchangeEnd::Upgraded(upgraded) => {
            let (up, end, from_visitor) = *upgraded;
            Box::pin(relay_upgraded(io, up, end, from_visitor)).await;
            Next::Closed
        }
    }
}

/// The head limits of the configuration `cx` is on.
fn limits_of(cx: &ConnCtx) -> Limits {
    Limits {
        max_head: cx.proxy.config.global.max_header_size,
        ..Limits::default()
    }
}

/// Whether the connection closes after the current answer: gwd stops
/// (`stop`), or `None`, a reload removed the connection's frontend.
fn stopping(stop: Option<&StopSignal>) -> bool {
    stop.is_none_or(StopSignal::is_stopping)
}

enum HeadRead {
    Request(Box<ParsedRequest>),
    H2Preface,
    /// The visitor closed in the middle of a head.
    Aborted,
    Bad(HeadError),
    Timeout,
}

/// A whole head in `buf` (or the HTTP/2 preface when `preface`), or
/// `None` to read on.
fn parse_head(buf: &BytesMut, limits: &Limits, preface: bool) -> Option<HeadRead> {
    if preface {
        let n = buf.len().min(H2_PREFACE_START.len());
        if H2_PREFACE_START[..n] == buf[..n] {
            // A strict prefix of the preface: read on.
            return (n == H2_PREFACE_START.len()).then_some(HeadRead::H2Preface);
        }
    }
    match parse_request(buf, limits) {
        Ok(Some(p)) => Some(HeadRead::Request(Box::new(p))),
        Ok(None) => None,
        Err(e) => Some(HeadRead::Bad(e)),
    }
}

/// Waits for the first bytes of the next request (true: they are in
/// `buf`) until `deadline`; false when the visitor closed or the time ran
/// out. The stop (or a binary upgrade) while idle: the connection waits a
/// moment for a request already on its way, answers it with `Connection:
/// close`, and closes. Closing at once would race the visitor's next
/// request (sent as the close arrives: lost).
async fn wait_request<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    deadline: Option<Instant>,
    stop: Option<&StopSignal>,
) -> bool {
    // One timer polled by hand, and the stop looked at on each poll (the
    // connection's task has the waiter that wakes it: `serve_open`): this
    // is the state every idle connection keeps (a `select!` of three
    // futures took 456 bytes, a waiter on a stop watch 160).
    let mut closing = stopping(stop);
    let first = if closing {
        earliest(deadline, Some(crate::clock::now() + IDLE_CLOSE_GRACE))
    } else {
        deadline
    };
    let mut sleep = std::pin::pin!(first.map(tokio::time::sleep_until));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = poll_read_stack(io, cx, buf, STACK_READ) {
            return Poll::Ready(matches!(r, Ok(n) if n > 0));
        }
        if !closing && stopping(stop) {
            closing = true;
            let at = earliest(deadline, Some(crate::clock::now() + IDLE_CLOSE_GRACE));
            sleep.set(at.map(tokio::time::sleep_until));
        }
        if let Some(s) = sleep.as_mut().as_pin_mut()
            && s.poll(cx).is_ready()
        {
            return Poll::Ready(false);
        }
        Poll::Pending
    })
    .await
}

/// The earlier of two deadlines, either of which may be absent.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The rest of a head whose first bytes are in `buf`, by `deadline`
/// (`timeout http-request`, else `client`, from its first byte).
async fn read_rest_of_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    limits: &Limits,
    deadline: Option<Instant>,
    preface: bool,
) -> HeadRead {
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    let mut sleep = std::pin::pin!(sleep);
    loop {
        let read = std::future::poll_fn(|cx| poll_read_stack(io, cx, buf, STACK_READ));
        tokio::select! {
            r = read => match r {
                Ok(0) | Err(_) => return HeadRead::Aborted,
                Ok(_) => {
                    if let Some(done) = parse_head(buf, limits, preface) {
                        return done;
                    }
                }
            },
            () = &mut sleep => return HeadRead::Timeout,
        }
    }
}

/// The log reason of a refused head.
fn head_error_reason(e: HeadError) -> &'static str {
    match e {
        HeadError::RequestLineTooLong => "request line too long",
        HeadError::HeadTooLarge | HeadError::TooManyFields => "request header too large",
        HeadError::StartLine => "bad request: malformed request line",
        HeadError::Version => "bad request: unsupported HTTP version",
        HeadError::Target => "bad request: invalid request target",
        HeadError::FieldName => "bad request: invalid header field name",
        HeadError::ObsFold => "bad request: obsolete line folding",
        HeadError::FieldValue => "bad request: forbidden byte in a header value",
        HeadError::NewLine => "bad request: invalid line ending",
        HeadError::LengthWithTransferEncoding => {
            "bad request: content-length with transfer-encoding"
        }
        HeadError::InvalidContentLength => "bad request: invalid content-length",
        HeadError::ConflictingContentLength => "bad request: conflicting content-length",
        HeadError::ChunkedNotLast => "bad request: transfer-encoding not ending in chunked",
        HeadError::InvalidTransferEncoding => "bad request: invalid transfer-encoding",
        HeadError::TransferEncodingInHttp10 => "bad request: transfer-encoding in HTTP/1.0",
        HeadError::MultipleHost => "bad request: more than one host field",
        HeadError::InvalidHost => "bad request: invalid host field",
        HeadError::HostMismatch => "bad request: host differs from the request target",
    }
}

fn log_bad_request(
    cx: &ConnCtx,
    received: &crate::core::Received,
    status: u16,
    ender: Ender,
    reason: &'static str,
) {
    let fe = cx.proxy.frontend(cx.fe);
    fe.counters.request_error();
    fe.counters.response(status);
    bad_request_record(cx, received, status, ender, reason).emit();
}

/// The log line of a head that never became a request (HAProxy's
/// `<BADREQ>`): `TR` is -1 (no complete head), `Ti` the idle time before
/// its first byte, and `Ta` the time since that byte, as HAProxy logs it
/// for a 408 or a refused head. (`Tt` is `Ta` here, as on every gwd line;
/// HAProxy's also counts the idle time before the first request.)
fn bad_request_record(
    cx: &ConnCtx,
    received: &crate::core::Received,
    status: u16,
    ender: Ender,
    reason: &'static str,
) -> LogRecord {
    let fe = cx.proxy.frontend(cx.fe);
    let elapsed = crate::clock::since(received.first_byte);
    LogRecord {
        client: Some(cx.peer),
        accept_date: Some(std::time::SystemTime::now() - elapsed),
        frontend: fe.conf.name.clone(),
        tls: cx.tls.is_some(),
        t_idle: Some(received.idle),
        t_total: Some(elapsed),
        status,
        ender,
        phase: Phase::Request,
        request_line: "<BADREQ>".into(),
        reason: Some(reason),
        extra: LogRecord::extra_for(&fe.conf.log, cx.local),
        ..Default::default()
    }
}

/// A connection closed before it sent anything: HAProxy's `CR--` line
/// with `<BADREQ>`, unless `option dontlognull`. Only to `log` targets:
/// the tracing line of frontends without any never had it.
fn log_null_connection(cx: &ConnCtx, age: Duration) {
    let fe = cx.proxy.frontend(cx.fe);
    if fe.conf.log.targets.is_empty() || fe.conf.log.dontlognull {
        return;
    }
    LogRecord {
        client: Some(cx.peer),
        accept_date: Some(std::time::SystemTime::now() - age),
        frontend: fe.conf.name.clone(),
        tls: cx.tls.is_some(),
        t_total: Some(age),
        status: 400,
        ender: Ender::Client,
        phase: Phase::Request,
        conns: [
            cx.proxy.process_conns.current_conns(),
            fe.counters.current_conns(),
            0,
            0,
        ],
        request_line: "<BADREQ>".into(),
        reason: Some("client closed without sending anything"),
        extra: LogRecord::extra_for(&fe.conf.log, cx.local),
        ..Default::default()
    }
    .emit();
}

/// Answers a refused head (400, 414, 431) and logs it; the connection
/// closes after (nothing after a bad head can be trusted).
async fn refuse_head<S: AsyncWrite + Unpin>(
    cx: &ConnCtx,
    io: &mut S,
    e: HeadError,
    received: &crate::core::Received,
) {
    // Built before the first await: only the bytes live in this future
    // (every connection's task holds it inline).
    let out = refusal_bytes(cx, e.status());
    let _ = io.write_all(&out).await;
    let _ = io.flush().await;
    let ender = if e.is_too_large() {
        Ender::Resource
    } else {
        Ender::Proxy
    };
    log_bad_request(cx, received, e.status(), ender, head_error_reason(e));
}

/// The answer to a refused head: gwd's page for `status`, or the
/// frontend's `errorfile` for it (no backend yet), with `Connection: close`.
fn refusal_bytes(cx: &ConnCtx, status: u16) -> Vec<u8> {
    let status = StatusCode::from_u16(status).expect("a valid status");
    let mut reply = crate::local::LocalReply::error(status);
    let vars = gwd_sample::Vars::new();
    let view = crate::context::ResponseView::new(cx, &reply.head, None, &vars);
    if let Some(page) = reply.replaced_by([&cx.proxy.frontend(cx.fe).conf.error_pages], &view) {
        reply = page;
    }
    let mut head = reply.head;
    head.fields.append(b"connection", b"close");
    let mut out = Vec::with_capacity(256 + reply.body.len());
    write_response_head(
        &mut out,
        Version::HTTP_11,
        head.status,
        head.reason.as_deref(),
        &head.fields,
        OutFraming::AsIs,
    );
    out.extend_from_slice(&reply.body);
    out
}

/// Closes gracefully: stop writing, then read and drop what the visitor
/// still sends for a moment, so it reads the answer before the close
/// (closing with unread input would reset the connection and lose it).
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) {
    let _ = io.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = BytesMut::new();
        loop {
            sink.clear();
            match std::future::poll_fn(|cx| poll_read_stack(io, cx, &mut sink, STACK_READ)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

enum ExchangeEnd {
    KeepAlive,
    Close,
    /// Close, reading what the visitor still sends for a moment first.
    CloseLingering,
    /// `101`: relay raw bytes; the bytes already read from the visitor
    /// go to the server first.
    Upgraded(Box<(Upgraded, TxnEnd, Bytes)>),
}

/// The request body on its way from the visitor into the slot.
struct Upload {
    feed: BodyFeed,
    decoder: BodyDecoder,
    client_timeout: Option<Duration>,
    last_progress: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    /// `Expect: 100-continue` still to answer when the body is wanted.
    expect_continue: bool,
    /// The answer went out, saying keep-alive, before the body ended: the
    /// rest is read and dropped (at most [`MAX_DISCARD`] bytes, framing
    /// included) so the connection stays in step with the visitor, as
    /// HAProxy and nginx do. Nothing more goes to the server: its answer
    /// is complete, and a server still taking the body could otherwise
    /// hold the connection with no timeout left to end the wait.
    discard: bool,
    discarded: u64,
    /// How much room the body's reads make.
    reads: crate::wire::BodyReads,
}

/// The most request body read and dropped after an early answer; beyond
/// it the connection closes (lingering) instead.
const MAX_DISCARD: u64 = 4 << 20;

impl Upload {
    /// The answer is out: from here the rest of the body is dropped, and a
    /// consumer still waiting for it learns it ends here.
    fn start_discarding(&mut self) {
        self.discard = true;
        if !self.feed.is_consumer_gone() {
            self.feed.fail(ClientBodyError::Aborted);
        }
    }

    /// Counts `n` bytes read and dropped; `false` once past the bound.
    fn dropped(&mut self, n: usize) -> bool {
        self.last_progress = crate::clock::now();
        self.discarded += n as u64;
        self.discarded <= MAX_DISCARD
    }
}

enum UploadEnd {
    Complete,
    /// The consumer went away before the end (a local answer, a failed
    /// server): the rest of the body is unread.
    Abandoned,
    Failed,
}

impl Upload {
    fn poll<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        buf: &mut BytesMut,
    ) -> Poll<UploadEnd> {
        loop {
            // Once dropping, the consumer no longer matters.
            let dropping = self.discard;
            if !dropping && self.feed.is_consumer_gone() {
                return Poll::Ready(UploadEnd::Abandoned);
            }
            // Framing is consumed whatever the slot holds, so the body's
            // end is handed over with its last chunk, in the same step:
            // the consumer learns the body is complete as soon as it has
            // every byte.
            // `decode` hands out data exactly once: ask only with room.
            if self.decoder.expects_data() && !dropping {
                match self.feed.poll_room(cx) {
                    Poll::Ready(true) => {}
                    Poll::Ready(false) => return Poll::Ready(UploadEnd::Abandoned),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match self.decoder.decode(buf) {
                Ok(Step::Data(n)) if dropping => {
                    let _ = buf.split_to(n);
                    if !self.dropped(n) {
                        return Poll::Ready(UploadEnd::Abandoned);
                    }
                }
                Ok(Step::Data(n)) => {
                    self.feed.send(buf.split_to(n).freeze());
                    self.last_progress = crate::clock::now();
                }
                Ok(Step::Skip(n)) => {
                    let _ = buf.split_to(n);
                    // Chunk sizes, extensions, trailers: bounded as data.
                    if dropping && !self.dropped(n) {
                        return Poll::Ready(UploadEnd::Abandoned);
                    }
                }
                Ok(Step::End { consumed, trailers }) => {
                    let _ = buf.split_to(consumed);
                    self.feed.finish(trailers);
                    return Poll::Ready(UploadEnd::Complete);
                }
                Err(e) => {
                    self.feed.fail(ClientBodyError::Malformed(e));
                    return Poll::Ready(UploadEnd::Failed);
                }
                Ok(Step::NeedMore) => {
                    let room = self.reads.room(self.decoder.remaining_in_frame());
                    match crate::wire::poll_read_body(io, cx, buf, room) {
                        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                            self.feed.fail(ClientBodyError::Aborted);
                            return Poll::Ready(UploadEnd::Failed);
                        }
                        Poll::Ready(Ok(n)) => {
                            self.reads.took(n, room);
                            self.last_progress = crate::clock::now();
                            continue;
                        }
                        Poll::Pending => {}
                    }
                    let Some(limit) = self.client_timeout else {
                        return Poll::Pending;
                    };
                    // Armed once, moved only when it fires early: a body
                    // that keeps flowing never touches the timer wheel.
                    let last = self.last_progress;
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(last + limit)));
                    loop {
                        if timer.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        let deadline = self.last_progress + limit;
                        if crate::clock::fresh() >= deadline {
                            self.feed.fail(ClientBodyError::Timeout);
                            return Poll::Ready(UploadEnd::Failed);
                        }
                        timer.as_mut().reset(deadline);
                    }
                }
            }
        }
    }
}

/// One request, from its parsed head to the end of its answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin + Send>(
    cx: &Arc<ConnCtx>,
    io: &mut S,
    buf: &mut BytesMut,
    parsed: Box<ParsedRequest>,
    received: crate::core::Received,
    // `None`: as if stopping (a reload removed the frontend).
    stop: Option<&StopSignal>,
) -> ExchangeEnd {
    // The configuration in force for this request (`cx` moved to it).
    let t = cx.proxy.frontend(cx.fe).conf.timeouts;
    let limits = &limits_of(cx);
    let ParsedRequest {
        head,
        head_len,
        body: kind,
        codings,
        keep_alive,
        expect_continue,
        upgrade,
    } = *parsed;
    let _ = buf.split_to(head_len);
    let version = head.version;
    let (mut upload, body) = if kind.is_none() {
        (None, None)
    } else {
        let size = match kind {
            BodyKind::Length(n) => Some(n),
            _ => None,
        };
        let (feed, body) = request_body::channel(size);
        (
            Some(Upload {
                feed,
                decoder: BodyDecoder::new(kind, *limits),
                client_timeout: t.client,
                last_progress: crate::clock::now(),
                timer: None,
                expect_continue,
                discard: false,
                discarded: 0,
                reads: Default::default(),
            }),
            Some(Body::new(body)),
        )
    };
    let req = InRequest {
        head,
        body,
        codings,
        upgrade: upgrade && kind.is_none(),
        must_switch: false,
        // No `1xx` to an HTTP/1.0 visitor (RFC 9110 §15.2).
        interim: (version == Version::HTTP_11)
            .then_some(crate::core::interim::InterimRoute::Key(0)),
        received: Some(received),
    };
    let mut keep_alive = keep_alive && !stopping(stop);
    let mut core = Some(crate::heap::pin_in_place(|| core::handle(cx.clone(), req)));
    let mut writer: Option<Writer> = None;
    let mut upload_end: Option<UploadEnd> = None;
    let mut continue_out: Option<Outgoing> = None;
    // Servers' `1xx` heads: serialized as they come, written before the
    // answer.
    let mut interim_bytes: Vec<u8> = Vec::new();
    let mut interim_out: Option<Outgoing> = None;
    // `timeout client` for a visitor that takes none of what goes out
    // before the answer (gwd's `100`, interim heads): re-armed whenever
    // some of it is taken.
    let mut early_stall: Stall = None;
    // The answer is out and only the request body's end is awaited.
    let mut answered = false;

    let written = std::future::poll_fn(|tcx| {
        // 1. The request body, while the upstream takes it.
        if let Some(u) = &mut upload {
            // Never in the middle of an interim head being written.
            // Never in the middle of, nor ahead of, interim heads.
            // Never after the final answer either (RFC 9110 §15.2).
            if u.expect_continue
                && !answered
                && writer.is_none()
                && interim_out.is_none()
                && interim_bytes.is_empty()
                && u.feed.poll_wanted(tcx)
            {
                u.expect_continue = false;
                continue_out = Some(Outgoing::new(
                    Vec::new(),
                    Bytes::from_static(CONTINUE_100),
                    b"",
                ));
            }
            if let Some(out) = &mut continue_out {
                match poll_write_bounded(out, &mut early_stall, t.client, tcx, io) {
                    Poll::Ready(Ok(())) => continue_out = None,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                        tracing::debug!("the visitor took no `100 Continue` for `timeout client`");
                        return Poll::Ready(WriteEnd::Broken);
                    }
                    Poll::Ready(Err(_)) => {
                        continue_out = None;
                        u.feed.fail(ClientBodyError::Aborted);
                        upload_end = Some(UploadEnd::Failed);
                    }
                    Poll::Pending => {}
                }
            }
            if continue_out.is_none()
                && upload_end.is_none()
                && let Poll::Ready(end) = u.poll(tcx, io, buf)
            {
                upload_end = Some(end);
            }
            if upload_end.is_some() {
                // What was read and dropped after an early answer still
                // came from the visitor: the frontend counts it, as it
                // counts what went on to a server.
                if u.discarded > 0 {
                    cx.proxy.frontend(cx.fe).counters.bytes_in(u.discarded);
                }
                upload = None;
            }
        }
        // 2. The core, until it answers; the `1xx` heads its upstream
        // pushed during the poll come first. Not while some are still
        // to write: the server waits (TCP pushes back) rather than gwd
        // buffering what a visitor does not read.
        if interim_out.is_none()
            && interim_bytes.is_empty()
            && let Some(c) = &mut core
        {
            let polled = c.as_mut().poll(tcx);
            if cx.shared.has_interim() {
                for (_, head) in cx.shared.take_interim() {
                    write_response_head(
                        &mut interim_bytes,
                        Version::HTTP_11,
                        head.status,
                        head.reason.as_deref(),
                        &head.fields,
                        OutFraming::AsIs,
                    );
                }
            }
            if let Poll::Ready(answer) = polled {
                core = None;
                // A body nobody will read (a local answer, a failed server):
                // the connection closes after this answer.
                // So does a body the visitor holds back for a `100
                // Continue` never sent: it may send its next request
                // instead, which must not be read as this body.
                let unread_body = match (&upload, &upload_end) {
                    (Some(u), _) => u.feed.is_consumer_gone() || u.expect_continue,
                    (None, None | Some(UploadEnd::Complete)) => false,
                    (None, Some(_)) => true,
                };
                // A stop began while the request was served: this answer
                // says `close`, so the visitor does not send another one.
                if unread_body || stopping(stop) {
                    keep_alive = false;
                }
                writer = Some(Writer::new(answer, version, &mut keep_alive, t.client));
            }
        }
        // 3. Interim heads, once no `100` of gwd's own is on its way.
        if continue_out.is_none() {
            if interim_out.is_none() && !interim_bytes.is_empty() {
                let bytes = std::mem::take(&mut interim_bytes);
                interim_out = Some(Outgoing::new(bytes, Bytes::new(), b""));
            }
            if let Some(out) = &mut interim_out {
                match poll_write_bounded(out, &mut early_stall, t.client, tcx, io) {
                    Poll::Ready(Ok(())) => {
                        interim_out = None;
                        // The core was not polled meanwhile: its turn.
                        if core.is_some() {
                            tcx.waker().wake_by_ref();
                        }
                    }
                    // The visitor is gone, or took nothing for `timeout
                    // client`: so is its request.
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "interim answer not written");
                        return Poll::Ready(WriteEnd::Broken);
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        // 4. The answer.
        if continue_out.is_none()
            && interim_bytes.is_empty()
            && let Some(w) = &mut writer
        {
            match w.poll(tcx, io) {
                // Out, saying keep-alive, while the body still comes (a
                // server that answered early): the rest is read and
                // dropped before the next request, not taken for one.
                Poll::Ready(WriteEnd::Complete) if keep_alive && upload.is_some() => {
                    writer = None;
                    answered = true;
                    if let Some(u) = &mut upload {
                        u.start_discarding();
                    }
                    tcx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                end => return end,
            }
        }
        if answered && upload.is_none() {
            return Poll::Ready(WriteEnd::Complete);
        }
        Poll::Pending
    })
    .await;

    // The body may still be arriving after the answer (a server that
    // answered early): the connection cannot be reused then.
    let body_complete = matches!(
        (&upload, &upload_end),
        (None, None | Some(UploadEnd::Complete))
    );
    match written {
        WriteEnd::Complete if keep_alive && body_complete => ExchangeEnd::KeepAlive,
        WriteEnd::Complete if !body_complete => ExchangeEnd::CloseLingering,
        WriteEnd::Complete => ExchangeEnd::Close,
        WriteEnd::Broken => ExchangeEnd::Close,
        WriteEnd::Upgraded(upgraded) => {
            let (up, end) = *upgraded;
            ExchangeEnd::Upgraded(Box::new((up, end, buf.split().freeze())))
        }
    }
}

/// After a `101`: bytes both ways until either side closes, or nothing
/// moves either way for the tunnel's inactivity timeout (`timeout
/// tunnel`, else the larger of `client` and `server`, as HAProxy).
async fn relay_upgraded<S: AsyncRead + AsyncWrite + Unpin>(
    visitor: &mut S,
    up: Upgraded,
    end: TxnEnd,
    from_visitor: Bytes,
) {
    let Upgraded {
        io: mut server,
        leftover,
        _open,
    } = up;
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    let mut how = TunnelEnd::Closed;
    if !from_visitor.is_empty() {
        if server.write_all(&from_visitor).await.is_err() {
            how = TunnelEnd::Failed;
        }
        up_bytes += from_visitor.len() as u64;
    }
    if !leftover.is_empty() {
        if visitor.write_all(&leftover).await.is_err() {
            how = TunnelEnd::Failed;
        }
        down_bytes += leftover.len() as u64;
    }
    if how == TunnelEnd::Closed {
        let base = crate::clock::now();
        let last = AtomicU64::new(0);
        let mut a = Tracked {
            inner: visitor,
            last: &last,
            base,
            written: 0,
        };
        let mut b = Tracked {
            inner: &mut server,
            last: &last,
            base,
            written: 0,
        };
        let idle = end.tunnel_timeout();
        let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
        let watch = async {
            let Some(limit) = idle else {
                return std::future::pending::<()>().await;
            };
            loop {
                let at = base + Duration::from_nanos(last.load(Ordering::Relaxed)) + limit;
                if crate::clock::fresh() >= at {
                    return;
                }
                tokio::time::sleep_until(at).await;
            }
        };
        tokio::select! {
            r = copy => if let Err(e) = r {
                tracing::debug!(error = %e, "upgraded connection ended with an error");
                how = TunnelEnd::Failed;
            },
            _ = watch => how = TunnelEnd::TimedOut,
        }
        // Counted as written, so a relay cut by the timer (or an error)
        // still reports what went through.
        up_bytes += b.written;
        down_bytes += a.written;
    }
    end.finish_tunnel(up_bytes, down_bytes, how);
}

/// A stream that notes when bytes last moved through it, and how many
/// were written to it.
struct Tracked<'a, S> {
    inner: &'a mut S,
    last: &'a AtomicU64,
    base: Instant,
    written: u64,
}

impl<S> Tracked<'_, S> {
    fn touch(&self) {
        let moved = crate::clock::now().saturating_duration_since(self.base);
        let nanos = u64::try_from(moved.as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut *this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            this.written += n as u64;
            this.touch();
        }
        r
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn step(
        out: &mut Outgoing,
        stall: &mut Stall,
        limit: Option<Duration>,
        io: &mut tokio::io::DuplexStream,
    ) -> Poll<io::Result<()>> {
        std::future::poll_fn(|tcx| Poll::Ready(poll_write_bounded(out, stall, limit, tcx, io)))
            .await
    }

    /// `timeout client` on a write counts from the last byte the visitor
    /// took, not from the write's start.
    #[tokio::test(start_paused = true)]
    async fn a_bounded_write_stalls_only_without_progress() {
        let (mut near, mut far) = tokio::io::duplex(16);
        let mut out = Outgoing::new(vec![b'x'; 64], Bytes::new(), b"");
        let mut stall: Stall = None;
        let limit = Some(Duration::from_secs(1));
        assert!(
            step(&mut out, &mut stall, limit, &mut near)
                .await
                .is_pending(),
            "16 of 64 bytes taken"
        );
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(
            step(&mut out, &mut stall, limit, &mut near)
                .await
                .is_pending()
        );
        // The visitor takes some: the clock starts again.
        let mut b = [0u8; 16];
        tokio::io::AsyncReadExt::read_exact(&mut far, &mut b)
            .await
            .unwrap();
        assert!(
            step(&mut out, &mut stall, limit, &mut near)
                .await
                .is_pending(),
            "32 taken"
        );
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(
            step(&mut out, &mut stall, limit, &mut near)
                .await
                .is_pending(),
            "0.6 s since progress"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        match step(&mut out, &mut stall, limit, &mut near).await {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_timeout_client_a_write_waits() {
        let (mut near, _far) = tokio::io::duplex(16);
        let mut out = Outgoing::new(vec![b'x'; 64], Bytes::new(), b"");
        let mut stall: Stall = None;
        for _ in 0..3 {
            let p = step(&mut out, &mut stall, None, &mut near).await;
            assert!(p.is_pending());
            tokio::time::advance(Duration::from_secs(3600)).await;
        }
    }
}
