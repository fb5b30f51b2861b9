//! HTTP/2 visitors on gwd-mux-h2: one task per connection drives the
//! HTTP/2 state machine, every stream's request through the core, and
//! every answer back, with no task spawned per stream.
//!
//! # Model
//!
//! The task owns the socket and the [`Connection`] (sans-I/O). Each pass
//! of its poll loop: reads what arrived (into a buffer on the stack: an
//! idle connection keeps none) and feeds it to the state machine; handles
//! its events (a request starts its stream's core future, kept in a
//! `FuturesUnordered` polled by this task; DATA goes to the stream's
//! one-chunk body slot, its flow-control credit given back only once the
//! upstream took it); polls the core futures and writes answer heads;
//! moves answer bodies into DATA frames as the peer's windows allow; and
//! writes the state machine's output.
//!
//! # Timeouts
//!
//! * No stream open: `http-keep-alive` (else `http-request`, else
//!   `client`) after the last one ended, `http-request` (else `client`)
//!   before the first: GOAWAY and close.
//! * A request body the visitor stops sending, for `client`: that body
//!   fails ([`ClientBodyError::Timeout`], `408` `cD` while no answer went
//!   out). The timer runs only while gwd waits on the visitor (nothing
//!   queued, the slot empty), not while the server is slow to read.
//! * An answer waiting for the peer's flow-control window (each stream on
//!   its own clock, moved only when that stream's data moves), or output
//!   the peer does not read, for `client`: the connection is closed and
//!   its answers are logged `cD` (a peer that never opens its window
//!   cannot hold streams and their server connections for ever, however
//!   many PINGs it sends).
//!
//! # Floods
//!
//! Request DATA is queued per stream only up to its flow-control window;
//! small frames are copied together rather than each pinning the read
//! buffer it came in. Empty DATA frames and streams the peer makes us
//! reset are counted by the state machine (ENHANCE_YOUR_CALM).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use gwd_head::{Fields, RequestHead};
use gwd_mux_h2::conn::{Config, Connection, Event, Protocol, Role};
use gwd_mux_h2::data::{JOIN_LIMIT, join_run};
use gwd_mux_h2::frame::ErrorCode;
use gwd_mux_h2::stream_map::StreamMap;
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::h2_websocket;
use super::request_body::{self, BodyFeed};
use crate::body::{Body, BodyEnd, ClientBodyError, FailKind};
use crate::conn_io::StopSignal;
use crate::core::{self, Answer, AnswerBody, ConnCtx, InRequest, Renewal, TxnEnd};

/// One TLS record's plaintext: the most the small DATA payloads of one
/// stream are joined into.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read from the visitor at a time, on the thread's stack (an idle
/// connection keeps no read buffer): several 16 KiB DATA frames of an
/// upload at once, which `feed_slot` hands to the server as one write.
const READ_SIZE: usize = JOIN_LIMIT;
/// Output waiting to be written above which the task stops reading: a
/// peer that does not read cannot make the answers it provokes pile up.
const MAX_BACKLOG: usize = 256 * 1024;
/// Receive window of the connection as a whole. Each stream's window
/// (64 KiB) bounds what one body may queue; the connection's is larger so
/// that one upload a server reads slowly does not stall the others.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// DATA payloads below this size are copied into one buffer per stream
/// instead of each keeping alive the 16 KiB read it arrived in.
const SMALL_DATA: usize = 1024;

/// A stream's request in the core.
type CoreTask = Abortable<Tagged>;

/// A stream's boxed request future with the stream's id beside it: a
/// small wrapper, so the large future is moved only into its box.
struct Tagged {
    stream: u32,
    answer: Pin<Box<dyn Future<Output = Answer> + Send>>,
}

impl Future for Tagged {
    type Output = (u32, Answer);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(u32, Answer)> {
        let stream = self.stream;
        self.answer.as_mut().poll(cx).map(|a| (stream, a))
    }
}

/// One stream's state on this side.
#[derive(Default)]
struct Stream {
    /// The request body's way to the core, while it is read.
    feed: Option<BodyFeed>,
    /// DATA received and not yet handed to the slot.
    queued: VecDeque<Bytes>,
    /// Small DATA payloads gathered, queued after `queued`.
    small: BytesMut,
    /// Since when the body waits on the visitor (nothing queued, the slot
    /// empty): `timeout client` runs from here.
    waiting_since: Option<Instant>,
    /// `Expect: 100-continue` still to answer once the body is wanted.
    expect_continue: bool,
    /// Bytes handed to the slot and not yet given back to the peer.
    in_slot: usize,
    /// The request body ended (END_STREAM or trailers).
    recv_ended: bool,
    trailers: Option<Fields>,
    /// The answer, once the core gave it.
    answer: Option<Reply>,
    /// Cancels the stream's core future (the visitor reset the stream
    /// before its answer: the request stops where it is).
    abort: Option<AbortHandle>,
    /// A WebSocket (extended CONNECT): the visitor's DATA, kept for the
    /// tunnel once the server switches protocols.
    websocket: Option<Option<Body>>,
    /// A WebSocket stream, for its whole life: no `timeout client` clock
    /// on its DATA (the tunnel has its own, `timeout tunnel`).
    tunnel: bool,
}

/// An answer on its way out.
struct Reply {
    body: ReplyBody,
    /// Data the peer's window did not take yet.
    pending: Option<Bytes>,
    /// The last frame (END_STREAM) goes with `pending`.
    ending: bool,
    bytes: u64,
    end: Option<TxnEnd>,
    /// Since when data waits on the peer's window.
    blocked_since: Option<Instant>,
}

enum ReplyBody {
    Done,
    Stream(Body),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("queued", &self.queued.len())
            .field("answered", &self.answer.is_some())
            .finish()
    }
}

/// Serves HTTP/2 on `io` until the connection ends. `prefix`: bytes
/// already read (the preface seen by the HTTP/1.1 driver). On `stop`:
/// GOAWAY, the open streams finish, then close. `stop` is looked at on
/// each poll; the connection's task wakes it (see `serve_open`).
///
/// The driver is built before the returned future: that future keeps it
/// and the borrowed stream, not the arguments as well (an `async fn`
/// keeps its arguments for its whole life).
pub(crate) fn serve<'a, S>(
    cx: Arc<ConnCtx>,
    // By reference: the caller's task holds the stream already.
    io: &'a mut S,
    prefix: Bytes,
    stop: &'a StopSignal,
) -> impl Future<Output = ()> + Send + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let max_head = cx.proxy.config.global.max_header_size;
    let mut cfg = Config::new(Role::Server);
    // gwd enforces `tune.bufsize` itself (431 with a page); the state
    // machine's limit is only a backstop against unbounded decoding.
    let list = u32::try_from(max_head * 2)
        .unwrap_or(u32::MAX)
        .max(16 * 1024);
    cfg.max_header_list_size = list;
    cfg.settings.max_header_list_size = Some(list);
    cfg.connection_window = CONNECTION_WINDOW;
    // RFC 8441: WebSocket over HTTP/2 (extended CONNECT).
    cfg.settings.enable_connect_protocol = Some(true);
    let mut d = Driver {
        cx,
        conn: Connection::new(cfg),
        streams: StreamMap::default(),
        tasks: None,
        input: BytesMut::from(&prefix[..]),
        out: BytesMut::new(),
        read_open: true,
        need_flush: false,
        stopping: false,
        failed: false,
        served: false,
        idle_since: crate::clock::now(),
        idle_timer: Box::pin(tokio::time::sleep_until(crate::clock::now())),
        idle_armed: false,
        write_stall_since: None,
        stall_timer: None,
        stalled: false,
        send_order: Vec::new(),
        send_after: 0,
    };
    // Copied: the buffer it came in is not kept for the connection's life.
    drop(prefix);
    if !d.input.is_empty()
        && let Err(e) = d.conn.recv(&mut d.input)
    {
        d.protocol_error(&e);
    }
    async move {
        std::future::poll_fn(|tcx| {
            if !d.stopping && stop.is_stopping() {
                d.stopping = true;
                d.conn.go_away(ErrorCode::NO_ERROR);
            }
            d.poll(tcx, io)
        })
        .await;
        // Streams still open (the connection failed, or the visitor
        // stopped reading): their answers end here.
        let stalled = d.stalled;
        for (_, s) in d.streams.drain() {
            abandon(s, stalled);
        }
    }
}

/// A stream that ends before its answer went out: the core's side sees
/// the body aborted, the log line says the visitor went away (`stalled`:
/// it stopped reading, `timeout client`).
fn abandon(mut s: Stream, stalled: bool) {
    if let Some(abort) = s.abort.take() {
        abort.abort();
    }
    if let Some(feed) = s.feed.take() {
        feed.fail(ClientBodyError::Aborted);
    }
    if let Some(mut r) = s.answer.take()
        && let Some(end) = r.end.take()
    {
        if stalled {
            end.finish_stalled(r.bytes);
        } else {
            end.finish(BodyEnd::Abandoned, r.bytes);
        }
    }
}

struct Driver {
    cx: Arc<ConnCtx>,
    conn: Connection,
    streams: StreamMap<Stream>,
    /// The streams' core futures; `None` while there is none (its queue
    /// is two allocations an idle connection need not keep).
    tasks: Option<FuturesUnordered<CoreTask>>,
    /// Received bytes the state machine has not consumed (a partial frame).
    input: BytesMut,
    /// Output being written.
    out: BytesMut,
    read_open: bool,
    need_flush: bool,
    stopping: bool,
    failed: bool,
    /// A request was received (the idle timeout is `http-keep-alive`
    /// from then on, `http-request` before).
    served: bool,
    idle_since: Instant,
    idle_timer: Pin<Box<Sleep>>,
    /// `idle_timer` is set for the idle deadline in force.
    idle_armed: bool,
    /// Since when output waits for the peer to read it.
    write_stall_since: Option<Instant>,
    /// The earliest of the `timeout client` clocks (output, windows,
    /// request bodies).
    stall_timer: Option<Pin<Box<Sleep>>>,
    /// Closed because the visitor stopped reading.
    stalled: bool,
    /// The streams with an answer to send, in this pass's order (kept
    /// between passes for its allocation; emptied when idle).
    send_order: Vec<u32>,
    /// The first stream that sent in the last pass: the next pass starts
    /// with the stream after it.
    send_after: u32,
}

impl Driver {
    fn protocol_error(&mut self, e: &gwd_mux_h2::conn::ConnError) {
        let fe = self.cx.proxy.frontend(self.cx.fe);
        tracing::info!(
            target: "gwd::access",
            frontend = %fe.conf.name,
            client = %self.cx.peer,
            code = %e.code(),
            reason = e.reason(),
            "HTTP/2 protocol error from the visitor; GOAWAY sent"
        );
        fe.counters.request_error();
        self.failed = true;
        self.read_open = false;
    }

    fn poll<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
    ) -> Poll<()> {
        loop {
            let mut progress = false;
            // 1. Read and feed the state machine.
            if self.read_open && self.out.len() + self.conn.output_len() < MAX_BACKLOG {
                // Not zeroed: the read writes what it returns.
                let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); READ_SIZE];
                let mut rb = ReadBuf::uninit(&mut buf);
                match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                        self.read_open = false;
                        self.visitor_closed();
                        progress = true;
                    }
                    Poll::Ready(Ok(())) => {
                        self.input.extend_from_slice(rb.filled());
                        if let Err(e) = self.conn.recv(&mut self.input) {
                            self.protocol_error(&e);
                        }
                        if self.input.is_empty() {
                            self.input = BytesMut::new();
                        }
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "HTTP/2 visitor read failed");
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            // 2. What the peer did.
            while let Some(ev) = self.conn.poll_event() {
                self.on_event(ev);
                progress = true;
            }
            // 3. Request bodies into their slots.
            for (&id, s) in self.streams.iter_mut() {
                progress |= feed_body(&mut self.conn, id, s, cx);
            }
            // 4. Answers from the core (cancelled ones end empty).
            while let Some(tasks) = &mut self.tasks {
                let polled = tasks.poll_next_unpin(cx);
                // A server's `1xx` heads, pushed during that poll, go out
                // before any final answer that came with them.
                if self.cx.shared.has_interim() {
                    self.send_interim();
                    progress = true;
                }
                let Poll::Ready(Some(done)) = polled else {
                    break;
                };
                if self.tasks.as_ref().is_some_and(FuturesUnordered::is_empty) {
                    self.tasks = None;
                }
                if let Ok((id, answer)) = done {
                    self.on_answer(id, answer);
                }
                progress = true;
            }
            // 5. Answer bodies into DATA frames.
            progress |= self.send_answers(cx);
            // 6. Output.
            if self.out.is_empty() {
                self.out = self.conn.take_output();
            }
            let mut wrote = false;
            let mut blocked_write = false;
            while !self.out.is_empty() {
                match Pin::new(&mut *io).poll_write(cx, &self.out) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(()),
                    Poll::Ready(Ok(n)) => {
                        self.out.advance(n);
                        wrote = true;
                    }
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "HTTP/2 visitor write failed");
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        blocked_write = true;
                        break;
                    }
                }
            }
            if wrote {
                progress = true;
                self.write_stall_since = None;
                self.need_flush = true;
                if self.out.is_empty() {
                    self.out = BytesMut::new();
                }
            }
            if self.need_flush && self.out.is_empty() {
                match Pin::new(&mut *io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.need_flush = false,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => blocked_write = true,
                }
            }
            // 7. The end: the peer closed, or GOAWAY went out and every
            // stream is done; the last bytes (GOAWAY, close_notify) first.
            let finished = self.conn.is_closed() || (!self.read_open && self.streams.is_empty());
            if finished && self.out.is_empty() && !self.conn.has_output() && !self.need_flush {
                let _ = Pin::new(&mut *io).poll_shutdown(cx);
                return Poll::Ready(());
            }
            if progress {
                continue;
            }
            // 8. Nothing moves: timers.
            if blocked_write {
                self.write_stall_since.get_or_insert_with(Instant::now);
            }
            if self.timers(cx) {
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
    }

    /// Arms and checks the idle and `timeout client` timers; true when
    /// the connection must close.
    fn timers(&mut self, cx: &mut Context<'_>) -> bool {
        // Read from the context (the configuration the connection is on),
        // not copied into every connection.
        let t = &self.cx.proxy.frontend(self.cx.fe).conf.timeouts;
        let (client, request, keep_alive) = (t.client, t.http_request, t.http_keep_alive);
        if let Some(limit) = client
            && self.client_timers(cx, limit)
        {
            return true;
        }
        if !self.streams.is_empty() || self.tasks.is_some() {
            self.idle_armed = false;
            return false;
        }
        let limit = if !self.served {
            request.or(client)
        } else {
            keep_alive.or(request).or(client)
        };
        let Some(limit) = limit else { return false };
        let deadline = self.idle_since + limit;
        if !self.idle_armed || self.idle_timer.deadline() != deadline {
            self.idle_timer.as_mut().reset(deadline);
            self.idle_armed = true;
        }
        if self.idle_timer.as_mut().poll(cx).is_ready() {
            // Idle too long: GOAWAY, then close once it is out.
            self.conn.go_away(ErrorCode::NO_ERROR);
            self.read_open = false;
            self.idle_armed = false;
            cx.waker().wake_by_ref();
        }
        false
    }

    /// The `timeout client` clocks: output the visitor does not read and
    /// answers waiting on its windows close the connection; a request
    /// body it stopped sending fails alone.
    fn client_timers(&mut self, cx: &mut Context<'_>, limit: std::time::Duration) -> bool {
        let now = crate::clock::now();
        let mut earliest = self.write_stall_since;
        let mut reading_stalled = earliest.is_some_and(|t| now >= t + limit);
        for (&id, s) in self.streams.iter_mut() {
            if let Some(t) = s.answer.as_ref().and_then(|r| r.blocked_since) {
                reading_stalled |= now >= t + limit;
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
            if let Some(t) = s.waiting_since {
                if now >= t + limit {
                    // The body stalls: it fails, the core answers (408
                    // when nothing went out yet).
                    tracing::debug!(stream = id, "request body stalled: timeout client");
                    if let Some(feed) = s.feed.take() {
                        feed.fail(ClientBodyError::Timeout);
                    }
                    s.waiting_since = None;
                    cx.waker().wake_by_ref();
                } else {
                    earliest = Some(earliest.map_or(t, |e| e.min(t)));
                }
            }
        }
        if reading_stalled {
            let fe = self.cx.proxy.frontend(self.cx.fe);
            tracing::info!(target: "gwd::access", frontend = %fe.conf.name, client = %self.cx.peer, reason = "timeout client", "connection closed: the visitor stopped reading or never opened its window");
            self.stalled = true;
            return true;
        }
        let Some(since) = earliest else {
            return false;
        };
        let deadline = since + limit;
        let timer = self
            .stall_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_ready() {
            // Due: the next pass acts on it.
            cx.waker().wake_by_ref();
        }
        false
    }

    /// The visitor closed its side: bodies still being sent can never
    /// end (`-1` `CD`); requests already complete still get answered.
    fn visitor_closed(&mut self) {
        for s in self.streams.values_mut() {
            if !s.recv_ended
                && let Some(feed) = s.feed.take()
            {
                feed.fail(ClientBodyError::Aborted);
                s.waiting_since = None;
                s.queued.clear();
                s.small = BytesMut::new();
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Request {
                stream,
                head,
                protocol,
                end_stream,
            } => self.on_request(stream, head, protocol, end_stream),
            Event::Data {
                stream,
                data,
                end_stream,
            } => match self.streams.get_mut(&stream) {
                Some(s) if s.feed.is_some() => {
                    s.push_data(data);
                    s.recv_ended |= end_stream;
                    s.waiting_since = None;
                    s.expect_continue = false;
                }
                // Nobody reads this body any more: give the window back.
                _ => self.conn.release(stream, data.len()),
            },
            Event::Trailers { stream, trailers } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.trailers = Some(trailers);
                    s.recv_ended = true;
                }
            }
            Event::Reset { stream, .. } => {
                if let Some(s) = self.streams.remove(&stream) {
                    abandon(s, false);
                    if self.streams.is_empty() {
                        self.went_idle();
                    }
                }
            }
            Event::GoAway(_) => {
                // The visitor stops opening streams; those open finish.
            }
            Event::Settings { .. }
            | Event::PingAck(_)
            | Event::Writable
            | Event::Response { .. } => {}
        }
    }

    fn on_request(
        &mut self,
        id: u32,
        mut head: RequestHead,
        protocol: Option<Protocol>,
        end_stream: bool,
    ) {
        self.served = true;
        let mut stream = Stream::default();
        if h2_websocket::is_websocket(&head, protocol.as_ref()) {
            h2_websocket::to_upgrade_request(&mut head);
            let upload = (!end_stream).then(|| {
                let (feed, body) = request_body::channel(None);
                stream.feed = Some(feed);
                Body::new(body)
            });
            stream.websocket = Some(upload);
            stream.tunnel = true;
            let req = InRequest {
                head,
                body: None,
                codings: None,
                upgrade: true,
                must_switch: true,
                interim: Some(crate::core::interim::InterimRoute::Key(id)),
                received: None,
            };
            self.start_core(id, stream, req);
            return;
        }
        let body = if end_stream {
            None
        } else {
            stream.expect_continue = head
                .fields
                .get("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
            // The state machine checked it (digits, repeats agreeing).
            let size = head
                .fields
                .get("content-length")
                .and_then(gwd_mux_h2::head::parse_content_length);
            let (feed, body) = request_body::channel(size);
            stream.feed = Some(feed);
            Some(Body::new(body))
        };
        let req = InRequest {
            head,
            body,
            codings: None,
            upgrade: false,
            must_switch: false,
            interim: Some(crate::core::interim::InterimRoute::Key(id)),
            received: None,
        };
        self.start_core(id, stream, req);
    }

    /// Files the stream and starts its request's core future.
    fn start_core(&mut self, id: u32, mut stream: Stream, req: InRequest) {
        // A reload since the last stream: this one runs on the config in
        // force now. Without its frontend there, the connection keeps its
        // config and says GOAWAY (the visitor opens a new connection).
        match self.cx.renewed() {
            Some(Renewal::Renewed(next)) => self.cx = next,
            Some(Renewal::FrontendGone) if !self.stopping => {
                self.stopping = true;
                self.conn.go_away(ErrorCode::NO_ERROR);
            }
            None | Some(Renewal::FrontendGone) => {}
        }
        let cx = self.cx.clone();
        let (abort, registration) = AbortHandle::new_pair();
        stream.abort = Some(abort);
        self.streams.insert(id, stream);
        // The transaction starts now, not at the first poll: a stream
        // reset before that still gets its log line.
        let task = Tagged {
            stream: id,
            answer: core::handle_boxed(cx, req),
        };
        self.tasks
            .get_or_insert_with(FuturesUnordered::new)
            .push(Abortable::new(task, registration));
    }

    /// Sends the servers' interim (`1xx`) heads to streams still waiting
    /// for their answer (RFC 9110 §15.2); a stream reset or answered in
    /// the meantime takes none.
    ///
    /// A visitor that does not read what is already queued gets no more
    /// of them (they are advisory; the final answer still goes out, and
    /// the write-stall timeout still applies): a server's flood of `1xx`
    /// is not buffered without bound.
    fn send_interim(&mut self) {
        let heads = self.cx.shared.take_interim();
        if self.out.len() + self.conn.output_len() >= MAX_BACKLOG {
            tracing::debug!(
                dropped = heads.len(),
                "interim answers dropped: the visitor is not reading"
            );
            return;
        }
        for (id, head) in heads {
            if self.streams.get(&id).is_some_and(|s| s.answer.is_none())
                && let Err(e) = self
                    .conn
                    .send_response(id, head.status, &head.fields, false)
            {
                tracing::debug!(stream = id, error = ?e.kind(), "interim answer not sent");
            }
        }
    }

    fn on_answer(&mut self, id: u32, answer: Answer) {
        let Answer {
            head,
            body,
            head_only,
            end,
        } = answer;
        let Some(s) = self.streams.get_mut(&id) else {
            // Reset while the core worked: nobody to answer.
            end.finish(BodyEnd::Abandoned, 0);
            return;
        };
        s.abort = None;
        s.expect_continue = false;
        if let AnswerBody::Upgraded(up) = body {
            // Only a WebSocket stream asks the core for a switch.
            let upload = s.websocket.take().flatten();
            let headers = h2_websocket::to_connect_response(&head);
            if let Err(e) = self
                .conn
                .send_response(id, http::StatusCode::OK, &headers, false)
            {
                tracing::debug!(stream = id, error = ?e.kind(), "WebSocket answer head not sent");
                drop(up);
                end.finish(BodyEnd::Abandoned, 0);
                if let Some(s) = self.streams.remove(&id) {
                    abandon(s, false);
                }
                if self.streams.is_empty() {
                    self.went_idle();
                }
                return;
            }
            let body = h2_websocket::start(up, upload, end);
            s.answer = Some(Reply {
                body: ReplyBody::Stream(body),
                pending: None,
                ending: false,
                bytes: 0,
                end: None,
                blocked_since: None,
            });
            return;
        }
        let (body, first) = match body {
            AnswerBody::Full(b) if !head_only => (ReplyBody::Done, Some(b)),
            AnswerBody::Stream { body, .. } if !head_only => (ReplyBody::Stream(body), None),
            _ => (ReplyBody::Done, None),
        };
        let end_stream = matches!(body, ReplyBody::Done) && first.is_none();
        if let Err(e) = self
            .conn
            .send_response(id, head.status, &head.fields, end_stream)
        {
            tracing::debug!(stream = id, error = ?e.kind(), "HTTP/2 answer head not sent");
            end.finish(BodyEnd::Abandoned, 0);
            if let Some(s) = self.streams.remove(&id) {
                abandon(s, false);
            }
            if self.streams.is_empty() {
                self.went_idle();
            }
            return;
        }
        let bytes = first.as_ref().map_or(0, |b| b.len() as u64);
        s.answer = Some(Reply {
            ending: first.is_some() && matches!(body, ReplyBody::Done),
            pending: first,
            body,
            bytes,
            end: Some(end),
            blocked_since: None,
        });
        if end_stream {
            self.finish_stream(id);
        }
    }

    /// The answer is out: log it, and close the stream's receiving side if
    /// the visitor is still sending a body nobody will read.
    fn finish_stream(&mut self, id: u32) {
        let Some(mut s) = self.streams.remove(&id) else {
            return;
        };
        if let Some(mut r) = s.answer.take()
            && let Some(end) = r.end.take()
        {
            end.finish(BodyEnd::Complete, r.bytes);
        }
        let unread = s.unread();
        if unread > 0 {
            self.conn.release(id, unread);
        }
        if !s.recv_ended && self.conn.stream_ends(id).is_some() {
            // RFC 9113 §8.1: a complete answer before the request's end;
            // NO_ERROR tells the visitor to stop sending.
            self.conn.reset(id, ErrorCode::NO_ERROR);
        }
        if let Some(feed) = s.feed.take() {
            feed.fail(ClientBodyError::Aborted);
        }
        if self.streams.is_empty() {
            self.went_idle();
        }
    }

    /// The last open stream is gone: the idle clock starts, and the stream
    /// table gives its memory back (a table that held a few streams keeps
    /// room for them, about 3 KB, for as long as the connection lives:
    /// measured on 3,000 idle h2c visitors).
    fn went_idle(&mut self) {
        self.idle_since = crate::clock::now();
        self.streams = StreamMap::default();
        self.send_order = Vec::new();
    }

    /// Moves answer bodies into DATA frames, each as far as the windows
    /// allow, the streams taking turns at going first: a pass starts with
    /// the stream (by id) after the one that sent first in the last pass.
    /// So when the peer's window cannot take everything, each opening of
    /// it goes to the next stream in turn. (The streams used to go in the
    /// stream map's order, which is fixed: the same few took the window
    /// every time, and four 512 KiB answers came one after the other.
    /// Turns are whole passes, not a slice per stream per round: slicing
    /// made each 1 MiB answer cost a third more CPU, the copies running
    /// out of cache, for no gain in a pass the window does not cut short.)
    /// Returns whether anything moved; finished streams are logged and
    /// dropped.
    fn send_answers(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut order = std::mem::take(&mut self.send_order);
        order.clear();
        order.extend(
            self.streams
                .iter()
                .filter(|(_, s)| s.answer.is_some())
                .map(|(&id, _)| id),
        );
        if order.len() > 1 {
            order.sort_unstable();
            let after = order.partition_point(|&id| id <= self.send_after) % order.len();
            order.rotate_left(after);
        }
        let mut first_sent = None;
        let mut done = Vec::new();
        for &id in &order {
            let Some(reply) = self.streams.get_mut(&id).and_then(|s| s.answer.as_mut()) else {
                continue;
            };
            let moved = match send_body(&mut self.conn, id, reply, cx) {
                Sent::Blocked { moved } => {
                    if !moved {
                        reply.blocked_since.get_or_insert_with(Instant::now);
                    } else {
                        reply.blocked_since = None;
                    }
                    moved
                }
                Sent::Idle { moved } => {
                    reply.blocked_since = None;
                    moved
                }
                Sent::Finished => {
                    done.push(id);
                    true
                }
            };
            if moved {
                progress = true;
                first_sent.get_or_insert(id);
            }
        }
        if let Some(id) = first_sent {
            self.send_after = id;
        }
        self.send_order = order;
        for id in done {
            self.finish_stream(id);
        }
        progress
    }
}

impl Stream {
    /// Queues a DATA payload; small ones are copied together.
    fn push_data(&mut self, data: Bytes) {
        if data.len() >= SMALL_DATA {
            if !self.small.is_empty() {
                self.queued.push_back(self.small.split().freeze());
            }
            self.queued.push_back(data);
            return;
        }
        if self.small.len() + data.len() > READ_CHUNK {
            self.queued.push_back(self.small.split().freeze());
        }
        self.small.extend_from_slice(&data);
    }

    /// Received bytes not yet given back to the peer's windows.
    fn unread(&self) -> usize {
        self.queued.iter().map(Bytes::len).sum::<usize>() + self.small.len() + self.in_slot
    }
}

/// Moves queued DATA of one stream into its body slot, and answers
/// `Expect: 100-continue` once the body is wanted; true on progress.
fn feed_body(conn: &mut Connection, id: u32, s: &mut Stream, cx: &mut Context<'_>) -> bool {
    let progress = feed_slot(conn, id, s, cx);
    if s.expect_continue
        && let Some(feed) = &s.feed
        && feed.poll_wanted(cx)
    {
        s.expect_continue = false;
        // A stream the state machine closed in the meantime takes no
        // interim head; its end is reported as an event.
        let _ = conn.send_response(
            id,
            http::StatusCode::CONTINUE,
            &http::HeaderMap::new(),
            false,
        );
    }
    // The visitor owes the next bytes (and is not waiting for our `100`):
    // its clock runs.
    if s.feed.is_some()
        && !s.tunnel
        && !s.recv_ended
        && !s.expect_continue
        && s.in_slot == 0
        && s.queued.is_empty()
        && s.small.is_empty()
    {
        s.waiting_since.get_or_insert_with(Instant::now);
    } else {
        s.waiting_since = None;
    }
    progress
}

fn feed_slot(conn: &mut Connection, id: u32, s: &mut Stream, cx: &mut Context<'_>) -> bool {
    let Some(feed) = &s.feed else { return false };
    let mut progress = false;
    loop {
        match feed.poll_room(cx) {
            Poll::Pending => return progress,
            Poll::Ready(false) => {
                // The core answered without the body: give its window
                // back and drop what is queued.
                let unread = s.unread();
                s.queued.clear();
                s.small = BytesMut::new();
                s.in_slot = 0;
                if unread > 0 {
                    conn.release(id, unread);
                }
                s.feed = None;
                return true;
            }
            Poll::Ready(true) => {}
        }
        // The last chunk was taken: its credit goes back to the peer.
        if s.in_slot > 0 {
            conn.release(id, s.in_slot);
            s.in_slot = 0;
            progress = true;
        }
        // The pieces waiting go to the server joined (`join_run`): each
        // handed over alone became a write to the server of its own.
        let next = match s.queued.pop_front() {
            Some(first) => Some(join_run(first, &mut s.queued, JOIN_LIMIT)),
            None => (!s.small.is_empty()).then(|| std::mem::take(&mut s.small).freeze()),
        };
        match next {
            Some(data) => {
                s.in_slot = data.len();
                feed.send(data);
                progress = true;
            }
            None => {
                if s.recv_ended {
                    feed.finish(s.trailers.take());
                    s.feed = None;
                    return true;
                }
                return progress;
            }
        }
    }
}

enum Sent {
    /// The windows ran out; `moved`: some went out before.
    Blocked { moved: bool },
    /// The body has nothing now; `moved`: some went out before.
    Idle { moved: bool },
    /// The answer is complete.
    Finished,
}

/// Moves an answer body into DATA frames as far as the windows allow.
fn send_body(conn: &mut Connection, id: u32, r: &mut Reply, cx: &mut Context<'_>) -> Sent {
    let mut moved = false;
    loop {
        if let Some(data) = r.pending.take() {
            let before = data.len();
            match conn.send_data(id, data, r.ending) {
                Ok(rest) if rest.is_empty() => {
                    moved = true;
                    if r.ending {
                        return Sent::Finished;
                    }
                }
                Ok(rest) => {
                    // Some went out (the next pass writes it) or none did:
                    // either way the rest waits for the peer's window.
                    moved |= rest.len() < before;
                    r.pending = Some(rest);
                    return Sent::Blocked { moved };
                }
                Err(e) => {
                    tracing::debug!(stream = id, error = ?e.kind(), "HTTP/2 answer body not sent");
                    if let Some(end) = r.end.take() {
                        end.finish(BodyEnd::Abandoned, r.bytes);
                    }
                    return Sent::Finished;
                }
            }
        }
        let ReplyBody::Stream(body) = &mut r.body else {
            return Sent::Idle { moved };
        };
        match Pin::new(body).poll_frame(cx) {
            Poll::Pending => return Sent::Idle { moved },
            Poll::Ready(None) => {
                r.body = ReplyBody::Done;
                r.pending = Some(Bytes::new());
                r.ending = true;
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(stream = id, error = %e, "answer body failed");
                conn.reset(id, ErrorCode::INTERNAL_ERROR);
                if let Some(end) = r.end.take() {
                    end.finish(BodyEnd::Failed(FailKind::of(&e)), r.bytes);
                }
                return Sent::Finished;
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    r.bytes += data.len() as u64;
                    r.pending = Some(data);
                }
                Err(frame) => {
                    r.body = ReplyBody::Done;
                    if let Ok(trailers) = frame.into_trailers() {
                        if let Err(e) = conn.send_trailers(id, &trailers) {
                            tracing::debug!(stream = id, error = ?e.kind(), "trailers not sent");
                        }
                        return Sent::Finished;
                    }
                    r.pending = Some(Bytes::new());
                    r.ending = true;
                }
            },
        }
    }
}
