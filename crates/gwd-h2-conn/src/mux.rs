//! The connection: `gwd-mux-h2`'s state machine behind one mutex, the
//! driver that reads and waits on the transport (handles write to it
//! early, between the driver's passes: [`Wire`]), and the stream handles.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gwd_head::{Fields, RequestHead, ResponseHead};
use gwd_mux_h2::conn::{Connection, Event, HeadFields, Protocol, Role, SendErrorKind};
use gwd_mux_h2::data::{DataItem, JOIN_LIMIT, join_run};
use gwd_mux_h2::frame::ErrorCode;
use gwd_mux_h2::stream_map::StreamMap;
use http::{Method, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::BodyError;
use crate::interim::InterimHandle;
use crate::observer::ConnObserver;
use crate::wire::{EarlyWrite, Wire, WireCell, early_write_after};

/// Size of the on-stack read buffer: several DATA frames of a large body
/// at once (a TLS stream hands over what its records hold), which
/// [`StreamRef::poll_item`] then gives out joined.
const READ_CHUNK: usize = JOIN_LIMIT;
/// Output waiting to be written above which the driver stops reading: a
/// peer that does not read cannot make the answers it provokes (PING and
/// SETTINGS ACKs, resets) pile up.
const MAX_BACKLOG: usize = 256 * 1024;

/// How [`Mux::drive`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveEnd {
    /// The HTTP/2 connection finished (GOAWAY exchanged and every stream
    /// done, or the peer closed the transport).
    Finished,
    /// The connection failed: the transport broke, or the peer broke
    /// HTTP/2 (GOAWAY with the error code was sent first).
    Failed,
}

/// What a body handle reads, in order.
#[derive(Debug)]
enum Item {
    Data(Bytes),
    Trailers(Fields),
}

/// Interim heads one stream keeps until its waiter takes them.
pub const MAX_INTERIM_WAITING: usize = 8;

/// Per-stream state the handles wait on.
#[derive(Debug, Default)]
struct StreamIo {
    /// Handles referring to the stream (body reader, body pump, waiter).
    refs: usize,
    head: Option<ResponseHead>,
    /// Interim (1xx) heads received before the final one and not yet
    /// handed out (at most [`MAX_INTERIM_WAITING`]; more are dropped).
    interim: Vec<ResponseHead>,
    items: VecDeque<Item>,
    /// Bytes in `items` not yet handed out (owed to the peer's window).
    queued: usize,
    recv_end: bool,
    error: Option<BodyError>,
    /// A reset the peer may not have processed (GOAWAY / REFUSED_STREAM).
    retryable: bool,
    recv_waker: Option<Waker>,
    send_waker: Option<Waker>,
    /// Whoever waits for the stream to be reset or its connection to
    /// close ([`StreamRef::gone`]).
    gone_waker: Option<Waker>,
    /// Its place among the streams waiting for window space (see
    /// `State::send_waiters`), kept until it sends.
    send_ticket: Option<u64>,
    /// Woken for window space and not yet back in `send_data`: counted in
    /// `State::send_turns_owed`.
    send_turn_owed: bool,
    /// The body reader is gone: DATA is given back at once, not queued.
    recv_dropped: bool,
    /// What the owner attached with [`StreamRef::hold`], dropped once
    /// every handle of the stream is gone.
    guard: Option<Box<dyn Any + Send>>,
}

impl StreamIo {
    /// The stream is back for its turn (or a handle of it is gone): it is
    /// no longer owed one. `owed` is `State::send_turns_owed`.
    fn turn_taken(&mut self, owed: &mut usize) {
        if std::mem::take(&mut self.send_turn_owed) {
            *owed -= 1;
        }
    }

    fn wake_all(&mut self) {
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
        if let Some(w) = self.send_waker.take() {
            w.wake();
        }
        if let Some(w) = self.gone_waker.take() {
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
struct State {
    conn: Connection,
    streams: StreamMap<StreamIo>,
    ping: Option<Ping>,
    /// Set once the driver ended; commands then fail.
    closed: bool,
    driver: Option<Waker>,
    ping_seq: u64,
    /// A two-step graceful shutdown waits for the answer to this PING.
    stopping: bool,
    /// Tasks waiting to open a stream (the peer's first SETTINGS, or a
    /// free place under its stream limit), oldest first: as many are woken
    /// as streams may open, all of them when none ever will again.
    openers: VecDeque<Waker>,
    /// Streams waiting for window space to send DATA, by ticket: the
    /// order in which they began to wait. They are woken in that order; a
    /// stream that finds no window keeps its ticket, one that sent gets a
    /// new one when it waits again. (All were woken in the stream map's
    /// order, which is fixed, and the first took all the window allowed:
    /// the same few streams took it every time.)
    send_waiters: BTreeMap<u64, u32>,
    next_ticket: u64,
    /// Streams woken for window space that have not yet had their turn:
    /// while any has not, a stream that sent a piece lets them go first,
    /// so that the window goes round the waiting streams a piece each.
    send_turns_owed: usize,
    /// The transport while the driver runs, for handles to write early
    /// (see [`Wire`]).
    wire: Option<Arc<dyn EarlyWrite>>,
    /// Commands that queued output since it was last taken.
    commands_unwritten: u32,
}

impl State {
    /// Everything the state machine queued, for whoever holds the wire
    /// (see [`Wire`]); the count toward an early write starts again.
    fn take_output(&mut self) -> BytesMut {
        self.commands_unwritten = 0;
        self.conn.take_output()
    }

    /// Wakes the streams waiting for window space, oldest ticket first,
    /// each owed a turn.
    fn wake_senders(&mut self) {
        for id in std::mem::take(&mut self.send_waiters).into_values() {
            if let Some(s) = self.streams.get_mut(&id)
                && let Some(w) = s.send_waker.take()
            {
                if !s.send_turn_owed {
                    s.send_turn_owed = true;
                    self.send_turns_owed += 1;
                }
                w.wake();
            }
        }
    }

    /// Wakes every task waiting to open a stream (the connection is
    /// established, going away or closed: each sees which).
    fn wake_openers(&mut self) {
        for w in self.openers.drain(..) {
            w.wake();
        }
        if self.openers.capacity() > 4 {
            self.openers = VecDeque::new();
        }
    }

    /// Wakes as many of the tasks waiting to open a stream as streams may
    /// open now, oldest first (not all of them: hundreds of requests may
    /// wait on a busy connection, and each stream that ends would wake
    /// them all for one place).
    fn wake_openers_for_room(&mut self) {
        if self.openers.is_empty() || !self.conn.can_open() {
            return;
        }
        let room = match self.conn.peer_settings().max_concurrent_streams {
            Some(m) => (m as usize).saturating_sub(self.conn.open_streams()),
            None => self.openers.len(),
        };
        let n = room.clamp(1, self.openers.len());
        for w in self.openers.drain(..n) {
            w.wake();
        }
    }
}

/// Payload of the PING between the two GOAWAYs of a graceful shutdown
/// (ordinary PINGs count up from 1).
const SHUTDOWN_PING: [u8; 8] = *b"gwd-stop";

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    observer: Arc<dyn ConnObserver>,
}

/// An HTTP/2 connection shared by its driver ([`Mux::drive`]) and its
/// stream handles ([`StreamRef`]). Cheap to clone; all clones are the same
/// connection. See the crate docs for the model.
#[derive(Debug, Clone)]
pub struct Mux {
    inner: Arc<Inner>,
}

/// A counted reference to one stream of a [`Mux`]: the stream's entry
/// lives while one exists, and the last one to go resets the stream if
/// it is still open.
#[derive(Debug)]
pub struct StreamRef {
    mux: Mux,
    id: u32,
}

/// A request the peer opened (server role), as [`Mux::drive`] hands it
/// over.
#[derive(Debug)]
pub struct IncomingRequest {
    /// Method, URI (absolute form: scheme, authority, path) and fields in
    /// the order received; version `HTTP/2.0`.
    pub head: RequestHead,
    /// An extended CONNECT's `:protocol` (RFC 8441), e.g. `websocket`.
    pub protocol: Option<Protocol>,
    /// The stream: answer with [`StreamRef::send_response`], read the
    /// body with [`crate::IncomingBody::new`] on a clone.
    pub stream: StreamRef,
    /// The request has no body.
    pub end_stream: bool,
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
        let state = &mut *st;
        let gone = match state.streams.get_mut(&self.id) {
            Some(s) => {
                // Whichever handle this is, a turn owed to the stream's
                // sender is forgotten: at worst the sender loses its place,
                // where a turn owed for good would make every other sender
                // yield for nothing.
                s.turn_taken(&mut state.send_turns_owed);
                s.refs -= 1;
                s.refs == 0
            }
            None => false,
        };
        let mut guard = None;
        if gone {
            let mut s = st.streams.remove(&self.id).expect("present");
            if let Some(t) = s.send_ticket {
                st.send_waiters.remove(&t);
            }
            if st.streams.is_empty() {
                st.streams = StreamMap::default();
            }
            guard = s.guard.take();
            // Nobody will read what is queued: give it back to the peer.
            if s.queued > 0 {
                st.conn.release(self.id, s.queued);
            }
            if !st.closed {
                // Still open in the state machine (a visitor went away, a
                // handler dropped its body): stop the stream. A server
                // whose side is done and the peer's not (a complete answer
                // to a request whose body is still coming) says NO_ERROR
                // (RFC 9113 section 8.1); a client that no longer wants
                // the rest of an answer cancels.
                let server = st.conn.role() == Role::Server;
                let code = match st.conn.stream_ends(self.id) {
                    Some((true, false)) if server => ErrorCode::NO_ERROR,
                    _ => ErrorCode::CANCEL,
                };
                st.conn.reset(self.id, code);
            }
            st.wake_openers_for_room();
        }
        self.mux.wake_driver(st);
        // After the lock: the guard may hold the last handle of something
        // whose drop goes through this mutex (a tunnel sending GOAWAY).
        drop(guard);
    }
}

impl Mux {
    /// A connection over the state machine `conn` (its role, preface
    /// direction and SETTINGS already chosen), telling `observer` what
    /// happens. Nothing moves until [`Mux::drive`] runs.
    pub fn new(conn: Connection, observer: Arc<dyn ConnObserver>) -> Mux {
        Mux {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    conn,
                    streams: StreamMap::default(),
                    ping: None,
                    closed: false,
                    driver: None,
                    ping_seq: 0,
                    stopping: false,
                    openers: VecDeque::new(),
                    send_waiters: BTreeMap::new(),
                    next_ticket: 0,
                    send_turns_owed: 0,
                    wire: None,
                    commands_unwritten: 0,
                }),
                observer,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Releases the lock, waking the driver when there is output to write
    /// (and the tasks waiting to open a stream when one may open now: a
    /// command may have ended a stream without any frame arriving).
    fn wake_driver(&self, mut st: MutexGuard<'_, State>) {
        st.wake_openers_for_room();
        let has_output = st.conn.has_output();
        let conn_closed = st.conn.is_closed();
        let mut early = None;
        if has_output {
            st.commands_unwritten += 1;
            if st.commands_unwritten >= early_write_after(st.conn.role()) {
                early = st.wire.clone();
            }
        }
        let w = if has_output || conn_closed {
            st.driver.clone()
        } else {
            None
        };
        drop(st);
        // The driver needs no wake-up when the early write left nothing
        // for it (unless the state machine closed: the driver ends then).
        if let Some(wire) = early
            && !wire.write_now(self)
            && !conn_closed
        {
            return;
        }
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Queues an interim head on `stream` (see [`InterimHandle::send`]).
    pub(crate) fn send_interim(
        &self,
        stream: u32,
        status: StatusCode,
        fields: &impl HeadFields,
    ) -> Result<(), BodyError> {
        self.with(|st| {
            st.conn
                .send_response(stream, status, fields, false)
                .map_err(|_| BodyError::ConnectionClosed)
        })
    }

    /// [`State::take_output`], for a handle writing early.
    pub(crate) fn take_output_for_wire(&self) -> BytesMut {
        self.lock().take_output()
    }

    /// Runs `f` on the state machine, then wakes the driver if needed.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.lock();
        let r = f(&mut st);
        self.wake_driver(st);
        r
    }

    /// Client role: opens a stream with a request head (an extended
    /// CONNECT when `protocol` is given), `end_stream` when no body
    /// follows. The `:authority` is the URI's, else the fields' `host`
    /// (see `gwd_mux_h2::conn::Connection::send_request`). Fails, with
    /// nothing sent, when the connection is closed or going away, or the
    /// peer's stream limit (or its first SETTINGS) is not there yet.
    pub fn open(
        &self,
        method: &Method,
        uri: &Uri,
        fields: &impl HeadFields,
        protocol: Option<&Protocol>,
        end_stream: bool,
    ) -> Result<StreamRef, SendErrorKind> {
        self.with(|st| self.open_locked(st, method, uri, fields, protocol, end_stream))
    }

    fn open_locked(
        &self,
        st: &mut State,
        method: &Method,
        uri: &Uri,
        fields: &impl HeadFields,
        protocol: Option<&Protocol>,
        end_stream: bool,
    ) -> Result<StreamRef, SendErrorKind> {
        if st.closed {
            return Err(SendErrorKind::Closed);
        }
        let id = match protocol {
            Some(p) => st.conn.send_extended_connect(p, uri, fields, end_stream),
            None => st.conn.send_request(method, uri, fields, end_stream),
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
    }

    /// As [`Mux::open`], but waits while the stream would only be over
    /// the peer's limit (or its first SETTINGS have not come yet), until
    /// a stream goes or the connection ends.
    pub async fn open_when_ready(
        &self,
        method: &Method,
        uri: &Uri,
        fields: &impl HeadFields,
        protocol: Option<&Protocol>,
        end_stream: bool,
    ) -> Result<StreamRef, SendErrorKind> {
        poll_fn(|cx| {
            let mut st = self.lock();
            let r = self.open_locked(&mut st, method, uri, fields, protocol, end_stream);
            let r = match r {
                Err(SendErrorKind::StreamLimit) if !st.closed => {
                    st.openers.push_back(cx.waker().clone());
                    Poll::Pending
                }
                r => Poll::Ready(r),
            };
            self.wake_driver(st);
            r
        })
        .await
    }

    /// Waits for the peer's first SETTINGS (the connection is then
    /// usable); fails if the connection ends first.
    pub async fn established(&self) -> Result<(), BodyError> {
        poll_fn(|cx| {
            let mut st = self.lock();
            if st.conn.is_established() {
                return Poll::Ready(Ok(()));
            }
            if st.closed || st.conn.is_closed() {
                return Poll::Ready(Err(BodyError::ConnectionClosed));
            }
            st.openers.push_back(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// True once the driver ended or the state machine closed: nothing
    /// more will happen on the connection.
    pub fn is_closed(&self) -> bool {
        let st = self.lock();
        st.closed || st.conn.is_closed()
    }

    /// Streams open in the state machine (either direction).
    pub fn open_streams(&self) -> usize {
        self.lock().conn.open_streams()
    }

    /// Starts a graceful close (GOAWAY NO_ERROR): open streams finish.
    pub fn go_away(&self) {
        self.with(|st| st.conn.go_away(ErrorCode::NO_ERROR));
    }

    /// Graceful close in two steps, for the side that serves streams:
    /// GOAWAY(2^31-1) and a PING, then the final GOAWAY when the PING is
    /// answered, so requests the peer sent before it saw the first GOAWAY
    /// are still served rather than refused.
    pub fn go_away_two_step(&self) {
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

    /// Sends a PING and waits for its ACK; returns the round trip. Fails
    /// with [`BodyError::ConnectionClosed`] when the connection ends
    /// first, or when a later PING replaced this one.
    pub async fn ping(&self) -> Result<Duration, BodyError> {
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

    /// Drives the connection over `io` until it ends; this is the only
    /// code that reads or writes the transport. `on_request` is called
    /// (outside the lock) for each request the peer opens (server role;
    /// a client-role state machine refuses any). When it returns, however
    /// it returns (or when its future is dropped), every waiting handle
    /// is woken and sees the connection closed.
    pub async fn drive<IO>(&self, io: IO, mut on_request: impl FnMut(IncomingRequest)) -> DriveEnd
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _guard = CloseStreams(self.clone());
        let wire = Arc::new(WireCell(Mutex::new(Wire {
            io,
            out: BytesMut::new(),
            need_flush: false,
            ended: false,
        })));
        self.lock().wire = Some(wire.clone());
        let mut pending = BytesMut::new();
        let mut read_open = true;
        let mut failed = false;
        let mut requests = Vec::new();
        poll_fn(|cx| {
            // Held for the whole pass: handles find the wire busy and
            // leave their output to this pass.
            let mut wire = wire.lock();
            loop {
                let mut progress = false;
                let backlog = wire.out.len() + self.lock().conn.output_len();
                if read_open && backlog < MAX_BACKLOG {
                    // On the thread's stack, not in this future: a quiet
                    // connection owns no read buffer.
                    // Not zeroed: the read writes what it returns.
                    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
                    let mut rb = ReadBuf::uninit(&mut buf);
                    match Pin::new(&mut wire.io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                            read_open = false;
                            progress = true;
                        }
                        Poll::Ready(Ok(())) => {
                            self.inner.observer.bytes_read();
                            pending.extend_from_slice(rb.filled());
                            let mut st = self.lock();
                            if let Err(e) = st.conn.recv(&mut pending) {
                                // The peer broke HTTP/2: GOAWAY with the code
                                // is queued; flush it and close.
                                tracing::info!(
                                    code = %e.code(),
                                    reason = e.reason(),
                                    "HTTP/2 protocol error from the peer; GOAWAY sent"
                                );
                                failed = true;
                                read_open = false;
                            }
                            self.dispatch(&mut st, &mut requests);
                            drop(st);
                            if pending.is_empty() {
                                pending = BytesMut::new();
                            }
                            for req in requests.drain(..) {
                                on_request(req);
                            }
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => {
                            tracing::debug!(error = %e, "HTTP/2 connection read failed");
                            self.inner.observer.read_failed(e);
                            wire.ended = true;
                            return Poll::Ready(DriveEnd::Failed);
                        }
                        Poll::Pending => {}
                    }
                }
                if wire.out.is_empty() {
                    let mut st = self.lock();
                    st.driver = Some(cx.waker().clone());
                    wire.out = st.take_output();
                }
                // Retried on every pass until done: TLS accepts bytes into
                // its own buffer and only a flush pushes them out.
                match wire.push(cx) {
                    Ok(wrote) => progress |= wrote,
                    Err(()) => {
                        wire.ended = true;
                        return Poll::Ready(DriveEnd::Failed);
                    }
                }
                if wire.is_idle() {
                    let done = {
                        let st = self.lock();
                        !st.conn.has_output() && (st.conn.is_closed() || !read_open)
                    };
                    if done {
                        // GOAWAY and TLS close_notify go out before the
                        // socket closes; nothing a handle queues now is
                        // written after them.
                        wire.ended = true;
                        match Pin::new(&mut wire.io).poll_shutdown(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(_) => {
                                return Poll::Ready(if failed {
                                    DriveEnd::Failed
                                } else {
                                    DriveEnd::Finished
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

    /// Applies the state machine's events to the streams' handles.
    fn dispatch(&self, st: &mut State, requests: &mut Vec<IncomingRequest>) {
        let mut first_settings = None;
        let mut goaway = None;
        let mut any = false;
        while let Some(e) = st.conn.poll_event() {
            any = true;
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
                    st.streams.insert(
                        stream,
                        StreamIo {
                            refs: 1,
                            recv_end: end_stream,
                            ..StreamIo::default()
                        },
                    );
                    requests.push(IncomingRequest {
                        head,
                        protocol,
                        stream: StreamRef {
                            mux: self.clone(),
                            id: stream,
                        },
                        end_stream,
                    });
                }
                Event::Response {
                    stream,
                    head,
                    end_stream,
                } => {
                    if head.status.is_informational() {
                        // Kept for a waiter that relays them
                        // ([`StreamRef::response_relaying`]); a flood is
                        // cut, not queued.
                        if let Some(s) = st.streams.get_mut(&stream)
                            && s.head.is_none()
                            && s.interim.len() < MAX_INTERIM_WAITING
                        {
                            s.interim.push(head);
                            s.wake_all();
                        }
                        continue;
                    }
                    if let Some(s) = st.streams.get_mut(&stream) {
                        s.head = Some(head);
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
                        s.items.push_back(Item::Trailers(trailers));
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
                        self.inner.observer.ping_answered(rtt);
                        if let Some(w) = ping.waker.take() {
                            w.wake();
                        }
                    }
                }
                Event::GoAway(g) => goaway = Some(g),
                Event::Writable => st.wake_senders(),
            }
        }
        let news = first_settings.is_some() || goaway.is_some();
        if news {
            self.inner.observer.peer_news(first_settings, goaway);
        }
        if news || st.conn.is_closed() {
            st.wake_openers();
        } else if any {
            st.wake_openers_for_room();
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
        // Ended and dropped after the lock: the last reference closes the
        // transport.
        let wire = st.wire.take();
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
        st.wake_openers();
        drop(st);
        if let Some(w) = wire {
            w.end();
        }
    }
}

impl DataItem for Item {
    fn data(&self) -> Option<&Bytes> {
        match self {
            Item::Data(d) => Some(d),
            Item::Trailers(_) => None,
        }
    }

    fn into_data(self) -> Option<Bytes> {
        match self {
            Item::Data(d) => Some(d),
            Item::Trailers(_) => None,
        }
    }
}

impl StreamRef {
    /// The stream's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether this side opened the stream (a request sent in the client
    /// role), rather than the peer (a request received in the server
    /// role).
    pub fn opened_here(&self) -> bool {
        self.mux.lock().conn.role() == Role::Client
    }

    /// Waits for the final response head (client streams; 1xx heads are
    /// skipped). On failure: why, and whether the peer certainly did not
    /// process the stream (REFUSED_STREAM, or a GOAWAY below its id), in
    /// which case the request may go elsewhere.
    pub async fn response(&self) -> Result<ResponseHead, (BodyError, bool)> {
        self.response_relaying(&mut |_| {}).await
    }

    /// [`StreamRef::response`], handing each interim (1xx) head that comes
    /// before the final one to `on_interim`, in order, from the waiting
    /// task. A peer that sends more than [`MAX_INTERIM_WAITING`] before
    /// the waiter runs has the rest dropped. A peer that sent one has
    /// processed the request: a refusal after it (REFUSED_STREAM, a
    /// GOAWAY below the stream) is no longer reported as retryable.
    pub async fn response_relaying(
        &self,
        on_interim: &mut (dyn FnMut(ResponseHead) + Send),
    ) -> Result<ResponseHead, (BodyError, bool)> {
        // Given up before the answer (`timeout server`, the visitor
        // gone: this future dropped), the stream stops at once: a body
        // pump still holding it waits for window that may never come,
        // and would keep its slot of the peer's stream limit for good.
        struct Abandon<'a>(&'a StreamRef, bool);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.drop_recv();
                }
            }
        }
        let mut waiting = Abandon(self, true);
        let mut spoke = false;
        let answer = poll_fn(|cx| {
            let mut st = self.mux.lock();
            loop {
                let Some(s) = st.streams.get_mut(&self.id) else {
                    return Poll::Ready(Err((BodyError::ConnectionClosed, false)));
                };
                if s.interim.is_empty() {
                    break;
                }
                // Handed out without the lock (the callback is the
                // caller's), then looked at again: more may have come.
                let interim = std::mem::take(&mut s.interim);
                spoke = true;
                drop(st);
                interim.into_iter().for_each(&mut *on_interim);
                st = self.mux.lock();
            }
            let closed = st.closed;
            let Some(s) = st.streams.get_mut(&self.id) else {
                return Poll::Ready(Err((BodyError::ConnectionClosed, false)));
            };
            if let Some(h) = s.head.take() {
                return Poll::Ready(Ok(h));
            }
            if let Some(e) = &s.error {
                return Poll::Ready(Err((e.clone(), s.retryable && !spoke)));
            }
            if closed {
                return Poll::Ready(Err((BodyError::ConnectionClosed, false)));
            }
            s.recv_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        waiting.1 = false;
        answer
    }

    /// Sends `data` (and END_STREAM when `end`), waiting for window space
    /// in turn with the connection's other streams (`State::send_waiters`,
    /// `State::send_turns_owed`).
    pub async fn send_data(&self, mut data: Bytes, end: bool) -> Result<(), BodyError> {
        loop {
            let (rest, others_owed) = self.mux.with(|st| {
                let mut s = st.streams.get_mut(&self.id);
                if let Some(s) = s.as_deref_mut() {
                    s.turn_taken(&mut st.send_turns_owed);
                }
                if st.closed {
                    return Err(BodyError::ConnectionClosed);
                }
                if let Some(e) = s.as_ref().and_then(|s| s.error.clone()) {
                    return Err(e);
                }
                let before = data.len();
                let rest = st
                    .conn
                    .send_data(self.id, data.clone(), end)
                    .map_err(|_| BodyError::ConnectionClosed)?;
                if rest.len() < before
                    && let Some(s) = s
                {
                    // It had its turn: next time it waits, it waits last.
                    s.send_ticket = None;
                }
                Ok((rest, st.send_turns_owed > 0))
            })?;
            if rest.is_empty() {
                if others_owed {
                    tokio::task::yield_now().await;
                }
                return Ok(());
            }
            data = rest;
            poll_fn(|cx| {
                let mut guard = self.mux.lock();
                let st = &mut *guard;
                let cap = st.conn.send_capacity(self.id);
                let Some(s) = st.streams.get_mut(&self.id) else {
                    return Poll::Ready(Err(BodyError::ConnectionClosed));
                };
                // Woken for its turn: had it, whatever comes of it.
                s.turn_taken(&mut st.send_turns_owed);
                if st.closed {
                    return Poll::Ready(Err(BodyError::ConnectionClosed));
                }
                if let Some(e) = &s.error {
                    return Poll::Ready(Err(e.clone()));
                }
                if cap > 0 {
                    return Poll::Ready(Ok(()));
                }
                let ticket = *s.send_ticket.get_or_insert_with(|| {
                    st.next_ticket += 1;
                    st.next_ticket
                });
                st.send_waiters.insert(ticket, self.id);
                s.send_waker = Some(cx.waker().clone());
                Poll::Pending
            })
            .await?;
        }
    }

    /// Sends trailing fields, ending this side.
    pub fn send_trailers(&self, trailers: &impl HeadFields) -> Result<(), BodyError> {
        self.mux.with(|st| {
            st.conn
                .send_trailers(self.id, trailers)
                .map_err(|_| BodyError::ConnectionClosed)
        })
    }

    /// Completes once the stream is reset (by the peer or here) or its
    /// connection is gone: a server still working out an answer nobody
    /// will take can stop (a reverse-HTTP origin whose gateway cancelled a
    /// request drops the request to its server).
    pub async fn gone(&self) {
        poll_fn(|cx| {
            let mut st = self.mux.lock();
            let closed = st.closed;
            match st.streams.get_mut(&self.id) {
                Some(s) if s.error.is_none() && !closed => {
                    // Polled with every poll of the work it guards: the
                    // waker is kept, not cloned again, when it is the same.
                    if !s
                        .gone_waker
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        s.gone_waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await
    }

    /// Resets the stream with `code`; every handle of it sees the error.
    pub fn reset(&self, code: ErrorCode) {
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

    /// Keeps `guard` until the stream's last handle goes (then drops it,
    /// outside the connection's lock): a place in a count of streams, a
    /// metric's in-flight mark. Dropped at once if the stream is already
    /// gone from the connection.
    pub fn hold<G: Send + 'static>(&self, guard: G) {
        let mut st = self.mux.lock();
        let refused = match st.streams.get_mut(&self.id) {
            Some(s) => {
                s.guard = Some(Box::new(guard));
                None
            }
            None => Some(guard),
        };
        drop(st);
        drop(refused);
    }

    /// The body reader is gone before the end: what is queued and whatever
    /// arrives later goes back to the peer's window at once. In the client
    /// role an unfinished response also stops the stream: nobody wants
    /// the rest.
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
    pub fn send_response(
        &self,
        status: StatusCode,
        fields: &impl HeadFields,
        end: bool,
    ) -> Result<(), BodyError> {
        self.mux.with(|st| {
            st.conn
                .send_response(self.id, status, fields, end)
                .map_err(|_| BodyError::ConnectionClosed)
        })
    }

    /// A handle that sends interim (`1xx`) heads on this stream, without
    /// counting as a reference: it keeps neither the stream's entry nor
    /// its slot (stream ids are never reused, so a late send on a closed
    /// stream just fails).
    pub fn interim_handle(&self) -> InterimHandle {
        InterimHandle::new(self.mux.clone(), self.id)
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
            Some(Item::Data(first)) => {
                // Consecutive DATA goes out joined: each frame given out
                // alone became a write of its own on the other side.
                let d = join_run(first, &mut s.items, JOIN_LIMIT);
                s.queued -= d.len();
                let n = d.len();
                st.conn.release(self.id, n);
                self.mux.wake_driver(st);
                Poll::Ready(Some(Ok(http_body::Frame::data(d))))
            }
            Some(Item::Trailers(t)) => {
                drop(st);
                Poll::Ready(Some(Ok(http_body::Frame::trailers(t.to_header_map()))))
            }
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
