//! The tunnel's HTTP/2 connection: `gwd-mux-h2`'s state machine driven over
//! the TLS stream by one task, shared with request and body handles.
//!
//! # Model
//!
//! A [`Mux`] is the state machine plus, per open stream, what its handles
//! wait for (response head, received body items, send capacity), under one
//! mutex per tunnel. Handles issue commands under the lock and wake the
//! driver; the driver ([`Mux::drive`]) is the only code touching the
//! transport: it reads into a buffer on the thread's stack (so a quiet
//! tunnel keeps no read buffer), feeds the bytes to the state machine,
//! dispatches the events to the streams' handles, and writes out what the
//! state machine produced.
//!
//! # Invariants
//!
//! * The lock is never held across an await or an I/O call.
//! * Received DATA counts against the peer's window until the body handle
//!   hands it out; bytes nobody will read (a stream whose handles are gone)
//!   are given back at once, so a dropped body never starves the tunnel.
//! * A stream's entry lives while a handle refers to it; the last handle
//!   to go resets the stream (CANCEL) if it is still open.
//! * When the driver ends (closed, failed or aborted), every waiting handle
//!   is woken and sees the connection closed.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use gwd_mux_h2::conn::{Connection, Event, Role, SendErrorKind};
use gwd_mux_h2::frame::ErrorCode;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{BodyError, RhttpError};
use crate::gateway::StreamSlot;
use crate::io::{CloseReason, Shared};

/// Size of the on-stack read buffer: one TLS record's plaintext.
const READ_CHUNK: usize = 16 * 1024;
/// Output waiting to be written above which the driver stops reading: a
/// peer that does not read cannot make the answers it provokes (PING and
/// SETTINGS ACKs, resets) pile up.
const MAX_BACKLOG: usize = 256 * 1024;

/// What a body handle reads, in order.
#[derive(Debug)]
enum Item {
    Data(Bytes),
    Trailers(HeaderMap),
}

/// Per-stream state the handles wait on.
#[derive(Debug, Default)]
struct StreamIo {
    /// Handles referring to the stream (body reader, body pump, waiter).
    refs: usize,
    head: Option<http::Response<()>>,
    items: VecDeque<Item>,
    /// Bytes in `items` not yet handed out (owed to the peer's window).
    queued: usize,
    recv_end: bool,
    error: Option<BodyError>,
    /// A reset the peer may not have processed (GOAWAY / REFUSED_STREAM).
    retryable: bool,
    recv_waker: Option<Waker>,
    send_waker: Option<Waker>,
    /// The body reader is gone: DATA is given back at once, not queued.
    recv_dropped: bool,
    /// The gateway's place in the tunnel's stream count, held until every
    /// handle of the stream is gone (the stream counts against the peer's
    /// limit until then).
    slot: Option<StreamSlot>,
}

impl StreamIo {
    fn wake_all(&mut self) {
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
        if let Some(w) = self.send_waker.take() {
            w.wake();
        }
    }
}

#[derive(Debug)]
struct Ping {
    payload: [u8; 8],
    sent: Instant,
    rtt: Option<Duration>,
    waker: Option<Waker>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) conn: Connection,
    streams: HashMap<u32, StreamIo>,
    ping: Option<Ping>,
    /// Set once the driver ended; commands then fail.
    closed: bool,
    driver: Option<Waker>,
    ping_seq: u64,
    /// A two-step graceful shutdown waits for the answer to this PING.
    stopping: bool,
}

/// Payload of the PING between the two GOAWAYs of a graceful shutdown
/// (ordinary PINGs count up from 1).
const SHUTDOWN_PING: [u8; 8] = *b"gwd-stop";

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    shared: Arc<Shared>,
}

/// A tunnel's connection, shared by its driver and handles.
#[derive(Debug, Clone)]
pub(crate) struct Mux {
    inner: Arc<Inner>,
}

/// A counted reference to one stream of a [`Mux`].
#[derive(Debug)]
pub(crate) struct StreamRef {
    mux: Mux,
    id: u32,
}

impl Clone for StreamRef {
    fn clone(&self) -> Self {
        let mut st = self.mux.lock();
        if let Some(s) = st.streams.get_mut(&self.id) {
            s.refs += 1;
        }
        drop(st);
        StreamRef {
            mux: self.mux.clone(),
            id: self.id,
        }
    }
}

impl Drop for StreamRef {
    fn drop(&mut self) {
        let mut st = self.mux.lock();
        let gone = match st.streams.get_mut(&self.id) {
            Some(s) => {
                s.refs -= 1;
                s.refs == 0
            }
            None => false,
        };
        let mut slot = None;
        if gone {
            let mut s = st.streams.remove(&self.id).expect("present");
            if st.streams.is_empty() {
                st.streams = HashMap::new();
            }
            slot = s.slot.take();
            // Nobody will read what is queued: give it back to the peer.
            if s.queued > 0 {
                st.conn.release(self.id, s.queued);
            }
            if !st.closed {
                // Still open in the state machine (a visitor went away, a
                // handler dropped its body): stop the stream. Our side done
                // and the peer's not (a complete answer to a request whose
                // body is still coming) is NO_ERROR (RFC 9113 section 8.1).
                let code = match st.conn.stream_ends(self.id) {
                    Some((true, false)) => ErrorCode::NO_ERROR,
                    _ => ErrorCode::CANCEL,
                };
                st.conn.reset(self.id, code);
            }
        }
        self.mux.wake_driver(st);
        // After the lock: the slot may hold the last tunnel handle, whose
        // drop sends GOAWAY through this mutex.
        drop(slot);
    }
}

impl Mux {
    pub(crate) fn new(conn: Connection, shared: Arc<Shared>) -> Mux {
        Mux {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    conn,
                    streams: HashMap::new(),
                    ping: None,
                    closed: false,
                    driver: None,
                    ping_seq: 0,
                    stopping: false,
                }),
                shared,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Releases the lock, waking the driver when there is output to write.
    fn wake_driver(&self, st: MutexGuard<'_, State>) {
        let w = if st.conn.has_output() || st.conn.is_closed() {
            st.driver.clone()
        } else {
            None
        };
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Runs `f` on the state machine, then wakes the driver if needed.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.lock();
        let r = f(&mut st);
        self.wake_driver(st);
        r
    }

    /// Opens a client stream with `head` (see `Connection::send_request`).
    pub(crate) fn open(
        &self,
        parts: &http::request::Parts,
        end_stream: bool,
    ) -> Result<StreamRef, SendErrorKind> {
        self.with(|st| {
            if st.closed {
                return Err(SendErrorKind::Closed);
            }
            let protocol = parts.extensions.get::<gwd_mux_h2::conn::Protocol>();
            let id = match protocol {
                Some(p) if parts.method == http::Method::CONNECT => {
                    st.conn
                        .send_extended_connect(p, &parts.uri, &parts.headers, end_stream)
                }
                _ => st
                    .conn
                    .send_request(&parts.method, &parts.uri, &parts.headers, end_stream),
            }
            .map_err(|e| e.kind())?;
            st.streams.insert(
                id,
                StreamIo {
                    refs: 1,
                    ..StreamIo::default()
                },
            );
            Ok(StreamRef {
                mux: self.clone(),
                id,
            })
        })
    }

    /// Starts a graceful close (GOAWAY NO_ERROR): open streams finish.
    pub(crate) fn go_away(&self) {
        self.with(|st| st.conn.go_away(ErrorCode::NO_ERROR));
    }

    /// Graceful close in two steps, for the side that serves streams:
    /// GOAWAY(2^31-1) and a PING, then the final GOAWAY when the PING is
    /// answered, so requests the peer sent before it saw the first GOAWAY
    /// are still served rather than refused.
    pub(crate) fn go_away_two_step(&self) {
        self.with(|st| {
            if st.closed || st.stopping {
                return;
            }
            st.stopping = true;
            st.conn.announce_go_away();
            if st.conn.send_ping(SHUTDOWN_PING).is_err() {
                st.conn.go_away(ErrorCode::NO_ERROR);
            }
        });
    }

    /// Sends a PING and waits for its ACK.
    pub(crate) async fn ping(&self) -> Result<Duration, RhttpError> {
        self.ping_inner().await.map_err(|e| match e {
            BodyError::ConnectionClosed => RhttpError::TunnelClosed,
            other => RhttpError::Stream(other),
        })
    }

    async fn ping_inner(&self) -> Result<Duration, BodyError> {
        let payload = self.with(|st| {
            if st.closed {
                return Err(BodyError::ConnectionClosed);
            }
            st.ping_seq += 1;
            let payload = st.ping_seq.to_be_bytes();
            st.conn
                .send_ping(payload)
                .map_err(|_| BodyError::ConnectionClosed)?;
            st.ping = Some(Ping {
                payload,
                sent: Instant::now(),
                rtt: None,
                waker: None,
            });
            Ok(payload)
        })?;
        poll_fn(|cx| {
            let mut st = self.lock();
            let closed = st.closed;
            match &mut st.ping {
                Some(p) if p.payload == payload => {
                    if let Some(rtt) = p.rtt {
                        st.ping = None;
                        return Poll::Ready(Ok(rtt));
                    }
                    if closed {
                        return Poll::Ready(Err(BodyError::ConnectionClosed));
                    }
                    p.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                // Replaced by a later PING, or gone with the connection.
                _ => Poll::Ready(Err(BodyError::ConnectionClosed)),
            }
        })
        .await
    }

    /// Drives the connection over `io` until it ends. `on_request` is
    /// called (outside the lock) for each request the peer opens.
    pub(crate) async fn drive<IO>(
        &self,
        mut io: IO,
        mut on_request: impl FnMut(http::Request<IncomingStream>, bool),
    ) -> CloseReason
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let _guard = CloseStreams(self.clone());
        let mut pending = BytesMut::new();
        let mut out = BytesMut::new();
        let mut read_open = true;
        let mut failed = false;
        let mut need_flush = false;
        let mut requests = Vec::new();
        poll_fn(|cx| {
            loop {
                let mut progress = false;
                let backlog = out.len() + self.lock().conn.output_len();
                if read_open && backlog < MAX_BACKLOG {
                    // On the thread's stack, not in this future: a quiet
                    // tunnel owns no read buffer.
                    let mut buf = [0u8; READ_CHUNK];
                    let mut rb = ReadBuf::new(&mut buf);
                    match Pin::new(&mut io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                            read_open = false;
                            progress = true;
                        }
                        Poll::Ready(Ok(())) => {
                            self.inner.shared.touch();
                            pending.extend_from_slice(rb.filled());
                            let mut st = self.lock();
                            if let Err(e) = st.conn.recv(&mut pending) {
                                // The peer broke HTTP/2: GOAWAY with the code
                                // is queued; flush it and close.
                                tracing::info!(
                                    code = %e.code(),
                                    reason = e.reason(),
                                    "rhttp tunnel HTTP/2 protocol error from the peer; GOAWAY sent"
                                );
                                failed = true;
                                read_open = false;
                            }
                            self.dispatch(&mut st, &mut requests);
                            drop(st);
                            if pending.is_empty() {
                                pending = BytesMut::new();
                            }
                            for (req, end) in requests.drain(..) {
                                on_request(req, end);
                            }
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => {
                            tracing::debug!(error = %e, "rhttp tunnel read failed");
                            self.inner.shared.set_read_error(e);
                            return Poll::Ready(CloseReason::Error);
                        }
                        Poll::Pending => {}
                    }
                }
                if out.is_empty() {
                    let mut st = self.lock();
                    st.driver = Some(cx.waker().clone());
                    out = st.conn.take_output();
                }
                let mut wrote = false;
                while !out.is_empty() {
                    match Pin::new(&mut io).poll_write(cx, &out) {
                        Poll::Ready(Ok(0)) => return Poll::Ready(CloseReason::Error),
                        Poll::Ready(Ok(n)) => {
                            out.advance(n);
                            wrote = true;
                        }
                        Poll::Ready(Err(e)) => {
                            tracing::debug!(error = %e, "rhttp tunnel write failed");
                            return Poll::Ready(CloseReason::Error);
                        }
                        Poll::Pending => break,
                    }
                }
                if wrote {
                    progress = true;
                    need_flush = true;
                    if out.is_empty() {
                        out = BytesMut::new();
                    }
                }
                // Retried on every pass until done: TLS accepts bytes into
                // its own buffer and only a flush pushes them out.
                if need_flush && out.is_empty() {
                    match Pin::new(&mut io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => need_flush = false,
                        Poll::Ready(Err(_)) => return Poll::Ready(CloseReason::Error),
                        Poll::Pending => {}
                    }
                }
                if out.is_empty() && !need_flush {
                    let done = {
                        let st = self.lock();
                        !st.conn.has_output() && (st.conn.is_closed() || !read_open)
                    };
                    if done {
                        // GOAWAY and TLS close_notify go out before the
                        // socket closes.
                        match Pin::new(&mut io).poll_shutdown(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(_) => {
                                return Poll::Ready(if failed {
                                    CloseReason::Error
                                } else {
                                    CloseReason::Finished
                                });
                            }
                        }
                    }
                }
                if !progress {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// Applies the state machine's events to the streams' handles. The
    /// peer's first SETTINGS and a GOAWAY that arrive together are
    /// published together, so whoever waits for the reversal also sees a
    /// refusal sent with it.
    fn dispatch(&self, st: &mut State, requests: &mut Vec<(http::Request<IncomingStream>, bool)>) {
        let mut first_settings = None;
        let mut goaway = None;
        while let Some(e) = st.conn.poll_event() {
            match e {
                Event::Settings { first, settings } => {
                    if first {
                        first_settings = Some(settings);
                    }
                }
                Event::Request {
                    stream,
                    head,
                    protocol,
                    end_stream,
                } => {
                    let mut request = http::Request::from_parts(head.to_http_parts(), ());
                    if let Some(p) = protocol {
                        request.extensions_mut().insert(p);
                    }
                    st.streams.insert(
                        stream,
                        StreamIo {
                            refs: 1,
                            recv_end: end_stream,
                            ..StreamIo::default()
                        },
                    );
                    let sref = StreamRef {
                        mux: self.clone(),
                        id: stream,
                    };
                    requests.push((
                        request.map(|()| IncomingStream { sref: Some(sref) }),
                        end_stream,
                    ));
                }
                Event::Response {
                    stream,
                    head,
                    end_stream,
                } => {
                    if head.status.is_informational() {
                        continue;
                    }
                    if let Some(s) = st.streams.get_mut(&stream) {
                        s.head = Some(http::Response::from_parts(head.to_http_parts(), ()));
                        s.recv_end = end_stream;
                        s.wake_all();
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => match st.streams.get_mut(&stream) {
                    Some(s) if s.recv_dropped => {
                        s.recv_end |= end_stream;
                        st.conn.release(stream, data.len());
                    }
                    Some(s) => {
                        s.queued += data.len();
                        if !data.is_empty() {
                            s.items.push_back(Item::Data(data));
                        }
                        s.recv_end |= end_stream;
                        s.wake_all();
                    }
                    None => st.conn.release(stream, data.len()),
                },
                Event::Trailers { stream, trailers } => {
                    if let Some(s) = st.streams.get_mut(&stream)
                        && !s.recv_dropped
                    {
                        s.items.push_back(Item::Trailers(trailers.to_header_map()));
                        s.recv_end = true;
                        s.wake_all();
                    }
                }
                Event::Reset {
                    stream,
                    code,
                    remote,
                    retryable,
                } => {
                    if let Some(s) = st.streams.get_mut(&stream) {
                        s.error = Some(BodyError::Reset { code, remote });
                        s.retryable = retryable;
                        s.wake_all();
                    }
                }
                Event::PingAck(p) if p == SHUTDOWN_PING && st.stopping => {
                    st.conn.go_away(ErrorCode::NO_ERROR);
                }
                Event::PingAck(p) => {
                    if let Some(ping) = &mut st.ping
                        && ping.payload == p
                    {
                        let rtt = ping.sent.elapsed();
                        ping.rtt = Some(rtt);
                        self.inner.shared.record_rtt(rtt);
                        if let Some(w) = ping.waker.take() {
                            w.wake();
                        }
                    }
                }
                Event::GoAway(g) => goaway = Some(g),
                Event::Writable => {
                    for s in st.streams.values_mut() {
                        if let Some(w) = s.send_waker.take() {
                            w.wake();
                        }
                    }
                }
            }
        }
        if first_settings.is_some() || goaway.is_some() {
            self.inner.shared.events.send_modify(|ev| {
                if let Some(ps) = first_settings {
                    ev.settings = Some(ps);
                }
                if let Some(g) = goaway {
                    ev.goaway = Some(g);
                }
            });
        }
    }
}

/// Wakes every waiting handle when the driver ends, however it ends
/// (including an aborted task).
struct CloseStreams(Mux);

impl Drop for CloseStreams {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.closed = true;
        for s in st.streams.values_mut() {
            if s.error.is_none() && !(s.recv_end && s.head.is_none() && s.items.is_empty()) {
                s.error = Some(BodyError::ConnectionClosed);
            }
            s.wake_all();
        }
        if let Some(p) = &mut st.ping
            && let Some(w) = p.waker.take()
        {
            w.wake();
        }
    }
}

impl StreamRef {
    /// Waits for the response head (client streams).
    pub(crate) async fn response(&self) -> Result<http::Response<()>, (BodyError, bool)> {
        poll_fn(|cx| {
            let mut st = self.mux.lock();
            let closed = st.closed;
            let Some(s) = st.streams.get_mut(&self.id) else {
                return Poll::Ready(Err((BodyError::ConnectionClosed, false)));
            };
            if let Some(h) = s.head.take() {
                return Poll::Ready(Ok(h));
            }
            if let Some(e) = &s.error {
                return Poll::Ready(Err((e.clone(), s.retryable)));
            }
            if closed {
                return Poll::Ready(Err((BodyError::ConnectionClosed, false)));
            }
            s.recv_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Sends `data` (and END_STREAM when `end`), waiting for window space.
    pub(crate) async fn send_data(&self, mut data: Bytes, end: bool) -> Result<(), BodyError> {
        loop {
            let sent = self.mux.with(|st| {
                if st.closed {
                    return Err(BodyError::ConnectionClosed);
                }
                if let Some(e) = st.streams.get(&self.id).and_then(|s| s.error.clone()) {
                    return Err(e);
                }
                st.conn
                    .send_data(self.id, data.clone(), end)
                    .map_err(|_| BodyError::ConnectionClosed)
            })?;
            if sent.is_empty() {
                return Ok(());
            }
            data = sent;
            poll_fn(|cx| {
                let mut st = self.mux.lock();
                if st.closed {
                    return Poll::Ready(Err(BodyError::ConnectionClosed));
                }
                let cap = st.conn.send_capacity(self.id);
                let Some(s) = st.streams.get_mut(&self.id) else {
                    return Poll::Ready(Err(BodyError::ConnectionClosed));
                };
                if let Some(e) = &s.error {
                    return Poll::Ready(Err(e.clone()));
                }
                if cap > 0 {
                    return Poll::Ready(Ok(()));
                }
                s.send_waker = Some(cx.waker().clone());
                Poll::Pending
            })
            .await?;
        }
    }

    /// Sends trailing fields, ending this side.
    pub(crate) fn send_trailers(&self, t: &HeaderMap) -> Result<(), BodyError> {
        self.mux.with(|st| {
            st.conn
                .send_trailers(self.id, t)
                .map_err(|_| BodyError::ConnectionClosed)
        })
    }

    /// Resets the stream with `code`; every handle of it sees the error.
    pub(crate) fn reset(&self, code: ErrorCode) {
        self.mux.with(|st| {
            st.conn.reset(self.id, code);
            if let Some(s) = st.streams.get_mut(&self.id) {
                s.error.get_or_insert(BodyError::Reset {
                    code,
                    remote: false,
                });
                s.wake_all();
            }
        });
    }

    /// Keeps the gateway's stream slot until the stream's last handle goes.
    pub(crate) fn hold_slot(&self, slot: StreamSlot) {
        let mut st = self.mux.lock();
        let refused = match st.streams.get_mut(&self.id) {
            Some(s) => {
                s.slot = Some(slot);
                None
            }
            None => Some(slot),
        };
        drop(st);
        drop(refused);
    }

    /// The body reader is gone before the end: what is queued and whatever
    /// arrives later goes back to the peer's window at once. On the
    /// gateway (client role) an unfinished response also stops the stream:
    /// nobody wants the rest.
    pub(crate) fn drop_recv(&self) {
        self.mux.with(|st| {
            let client = st.conn.role() == Role::Client;
            let peer_open = st.conn.stream_ends(self.id).is_some_and(|(_, r)| !r);
            let Some(s) = st.streams.get_mut(&self.id) else {
                return;
            };
            s.recv_dropped = true;
            s.items.clear();
            let queued = std::mem::take(&mut s.queued);
            if client && peer_open && s.error.is_none() {
                s.error = Some(BodyError::Reset {
                    code: ErrorCode::CANCEL,
                    remote: false,
                });
                s.wake_all();
                st.conn.reset(self.id, ErrorCode::CANCEL);
            }
            if queued > 0 {
                st.conn.release(self.id, queued);
            }
        });
    }

    /// Sends the response head (server streams).
    pub(crate) fn send_response(
        &self,
        status: http::StatusCode,
        headers: &HeaderMap,
        end: bool,
    ) -> Result<(), BodyError> {
        self.mux.with(|st| {
            st.conn
                .send_response(self.id, status, headers, end)
                .map_err(|_| BodyError::ConnectionClosed)
        })
    }

    /// The next received body item; `None` at the end.
    pub(crate) fn poll_item(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        let mut st = self.mux.lock();
        let closed = st.closed;
        let Some(s) = st.streams.get_mut(&self.id) else {
            return Poll::Ready(Some(Err(BodyError::ConnectionClosed)));
        };
        match s.items.pop_front() {
            Some(Item::Data(d)) => {
                s.queued -= d.len();
                let n = d.len();
                st.conn.release(self.id, n);
                self.mux.wake_driver(st);
                Poll::Ready(Some(Ok(http_body::Frame::data(d))))
            }
            Some(Item::Trailers(t)) => Poll::Ready(Some(Ok(http_body::Frame::trailers(t)))),
            None if s.recv_end => Poll::Ready(None),
            None => {
                if let Some(e) = &s.error {
                    return Poll::Ready(Some(Err(e.clone())));
                }
                if closed {
                    return Poll::Ready(Some(Err(BodyError::ConnectionClosed)));
                }
                s.recv_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Whether nothing more will be received.
    pub(crate) fn is_recv_done(&self) -> bool {
        let st = self.mux.lock();
        st.streams
            .get(&self.id)
            .is_none_or(|s| s.recv_end && s.items.is_empty())
    }
}

/// The received side of a stream, before it is wrapped as a body.
#[derive(Debug)]
pub(crate) struct IncomingStream {
    pub(crate) sref: Option<StreamRef>,
}
