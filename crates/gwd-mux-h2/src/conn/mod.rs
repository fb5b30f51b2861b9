//! The HTTP/2 connection as a deterministic state machine, fed bytes and
//! commands, with no I/O, no clock and no buffers of its own while idle.
//!
//! # Model
//!
//! A [`Connection`] holds the protocol state of one HTTP/2 connection:
//! SETTINGS of both sides, the streams that are open, flow-control windows,
//! the HPACK contexts and the frames waiting to be written. The caller (an
//! I/O driver) does three things in a loop:
//!
//! * hands it the bytes read from the transport with [`Connection::recv`],
//!   then takes what they meant with [`Connection::poll_event`];
//! * issues commands ([`Connection::send_request`], [`Connection::send_data`],
//!   [`Connection::send_ping`], [`Connection::go_away`], ...);
//! * writes out whatever [`Connection::take_output`] returns.
//!
//! # Roles and the preface
//!
//! [`Role`] says who opens streams (a `Client` opens odd streams and sends
//! requests; a `Server` answers them). Whether the 24-byte connection
//! preface is sent or expected is chosen apart from the role, because reverse
//! HTTP swaps them: the origin dials (sends the preface) and then serves; the
//! gateway accepts (expects the preface) and then sends requests. The
//! constructors [`Config::new`], [`Config::reverse_dialer`] and
//! [`Config::reverse_acceptor`] are the only ways to pick a combination, so
//! a side always either sends the preface or expects it.
//!
//! # Invariants
//!
//! * The first frame each side sends is SETTINGS; a peer whose first frame
//!   is anything else is a connection error (PROTOCOL_ERROR).
//! * A stream leaves the table as soon as both directions have ended or it
//!   was reset, so an idle connection holds an empty table.
//! * Flow control is exact: the connection and every stream keep signed
//!   send and receive windows; DATA beyond a receive window is a
//!   FLOW_CONTROL_ERROR, and nothing is sent beyond a send window.
//! * Every header block is decoded, even for streams that are refused or
//!   already gone, so that the HPACK context stays in step with the peer.
//! * After a connection error the state machine queues GOAWAY and refuses
//!   everything else; [`Connection::is_closed`] tells the driver to flush and
//!   close.
//! * Output is one byte buffer taken whole by the driver: when there is
//!   nothing to write it owns no memory. The same holds for the event queue
//!   and the stream table.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use gwd_head::{Fields, RequestHead, ResponseHead};
use gwd_hpack::{Decoder, Encoder, Field};
use http::{Method, StatusCode, Uri};

use crate::head::{Block, regular_fields};
mod recv_data;
mod recv_heads;
mod send;

pub use crate::head::{HeadFields, Protocol};

use crate::frame::{
    self, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, ErrorCode, Frame, FrameError, MAX_WINDOW,
    PREFACE, Settings,
};

/// Which side opens streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Opens odd-numbered streams and sends requests on them.
    Client,
    /// Accepts the peer's streams and answers them.
    Server,
}

/// Empty DATA frames (no END_STREAM) the peer may send beyond its
/// non-empty ones before the connection ends with ENHANCE_YOUR_CALM.
const MAX_EMPTY_DATA_FRAMES: u32 = 100;

/// How a [`Connection`] starts and what it announces.
///
/// The role and the preface direction are chosen together, by the
/// constructor, and cannot be changed afterwards: only four combinations
/// make sense and each has its constructor. [`Config::new`] gives plain
/// HTTP/2 (the client sends the preface); [`Config::reverse_dialer`] and
/// [`Config::reverse_acceptor`] give the two ends of a reverse-HTTP
/// tunnel, where the side that dialed the transport serves and the side
/// that accepted it sends requests. The other fields are what this side
/// announces and enforces, and may be set freely.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client or server, for streams.
    role: Role,
    /// Whether this side writes the 24-byte preface before its SETTINGS;
    /// otherwise the peer's bytes must start with it.
    send_preface: bool,
    /// The SETTINGS this side sends first. `max_concurrent_streams` bounds
    /// the streams the peer may open; `initial_window_size` each stream's
    /// receive window; `header_table_size` the HPACK table the peer may
    /// make us keep (smaller saves memory per idle connection).
    pub settings: Settings,
    /// Receive window of the connection as a whole (at least 65,535; the
    /// extra is announced with a WINDOW_UPDATE right after SETTINGS).
    pub connection_window: u32,
    /// Decoded header blocks above this size (RFC 9113's measure) are
    /// refused: the stream is reset (REFUSED_STREAM for a new request,
    /// PROTOCOL_ERROR otherwise) and an event says why.
    pub max_header_list_size: u32,
    /// Server role: how far streams the peer resets before they are
    /// answered may outnumber streams answered in full before the
    /// connection ends with ENHANCE_YOUR_CALM. Each new stream costs the
    /// server work (a handler) that a reset throws away; a peer that
    /// opens and resets streams in a loop ("rapid reset") is cut off,
    /// while ordinary cancellations are paid back by completed streams.
    /// `u32::MAX`: no limit (a peer that relays others' cancellations,
    /// such as a reverse-HTTP gateway, is not the one to cut off).
    pub max_premature_resets: u32,
    /// Header blocks this side sends carry their strings as they are,
    /// never Huffman-coded (the default, as HAProxy does): about a
    /// quarter more header bytes than Huffman coding, and less CPU on
    /// both ends (coding and decoding were 1-3 % of a proxy's CPU). Off:
    /// each string is Huffman-coded when that is shorter.
    pub plain_header_strings: bool,
}

impl Config {
    /// HTTP/2 defaults for `role`, with the usual preface direction (a
    /// client sends it, a server expects it).
    pub fn new(role: Role) -> Config {
        Config::with_preface(role, role == Role::Client)
    }

    /// The end of a reverse-HTTP tunnel that dialed the transport (the
    /// origin, HAProxy's `rhttp` pre-connect side): it writes the client
    /// preface, as whoever opens a TCP/TLS connection for HTTP/2 does, and
    /// then plays the server: it opens no streams and answers those the
    /// peer opens.
    pub fn reverse_dialer() -> Config {
        Config::with_preface(Role::Server, true)
    }

    /// The end of a reverse-HTTP tunnel that accepted the transport (the
    /// gateway, HAProxy's `rhttp@` server): it expects the peer's client
    /// preface and sends none, and once the peer's first SETTINGS have
    /// arrived it plays the client: it opens streams 1, 3, 5... and sends
    /// requests on them.
    pub fn reverse_acceptor() -> Config {
        Config::with_preface(Role::Client, false)
    }

    /// `role`, sending the preface (`sends_preface`) or expecting it
    /// (otherwise): one side of a connection always does one of the two.
    fn with_preface(role: Role, sends_preface: bool) -> Config {
        Config {
            role,
            send_preface: sends_preface,
            settings: Settings {
                enable_push: Some(false),
                max_concurrent_streams: Some(100),
                initial_window_size: Some(DEFAULT_WINDOW),
                max_header_list_size: Some(64 * 1024),
                ..Settings::default()
            },
            connection_window: DEFAULT_WINDOW,
            max_header_list_size: 64 * 1024,
            max_premature_resets: 100,
            plain_header_strings: true,
        }
    }

    /// Which side opens streams.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this side writes the 24-byte preface before its SETTINGS
    /// (otherwise it expects the peer's).
    pub fn sends_preface(&self) -> bool {
        self.send_preface
    }
}

/// Something the peer did, in the order it happened.
#[derive(Debug)]
pub enum Event {
    /// The peer's SETTINGS were applied (`first`: the first ones, which
    /// in reverse HTTP is the moment the roles flip).
    Settings {
        /// Whether these are the first SETTINGS of the connection.
        first: bool,
        /// What the frame carried.
        settings: Settings,
    },
    /// Server role: a new stream with its request head.
    Request {
        /// The stream.
        stream: u32,
        /// Method, URI (absolute form: scheme, authority, path) and fields
        /// in the order received; version `HTTP/2.0`.
        head: RequestHead,
        /// An extended CONNECT's `:protocol` (RFC 8441), e.g. `websocket`.
        protocol: Option<Protocol>,
        /// The request has no body.
        end_stream: bool,
    },
    /// Client role: a response head (1xx heads come first, each as its own
    /// event, before the final one).
    Response {
        /// The stream.
        stream: u32,
        /// Status and fields in the order received; version `HTTP/2.0`.
        head: ResponseHead,
        /// The response has no body.
        end_stream: bool,
    },
    /// Trailing fields; the stream's receiving side has ended.
    Trailers {
        /// The stream.
        stream: u32,
        /// The fields, in the order received.
        trailers: Fields,
    },
    /// Body bytes. Give the space back with [`Connection::release`] once
    /// consumed, or the peer stops sending.
    Data {
        /// The stream.
        stream: u32,
        /// The bytes.
        data: Bytes,
        /// The last bytes of this direction.
        end_stream: bool,
    },
    /// The stream ended abnormally: reset by the peer (`remote`), refused
    /// by GOAWAY before the peer processed it, or reset here because the
    /// peer broke a rule on it.
    Reset {
        /// The stream.
        stream: u32,
        /// The RST_STREAM (or implied) code.
        code: ErrorCode,
        /// Whether the peer reset it.
        remote: bool,
        /// True when the peer certainly did not process the stream (GOAWAY
        /// with a lower last-stream id, or REFUSED_STREAM): safe to retry.
        retryable: bool,
    },
    /// The answer to one of our PINGs.
    PingAck([u8; 8]),
    /// The peer is going away: no new streams; ours above
    /// [`GoAway::last_stream`] were reset with `retryable` set.
    GoAway(GoAway),
    /// Send windows grew: streams waiting for capacity may send more.
    Writable,
}

/// A GOAWAY received from the peer (RFC 9113 §6.8): it opens no new
/// streams and did not process ours above `last_stream`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway {
    /// Highest stream id the peer may have processed.
    pub last_stream: u32,
    /// Why: NO_ERROR for a graceful shutdown.
    pub code: ErrorCode,
    /// Debug data the peer attached (opaque, peer-controlled bytes).
    pub debug: Bytes,
}

impl GoAway {
    /// True for NO_ERROR: the peer is shutting down in good order, not
    /// reporting a fault.
    pub fn is_graceful(&self) -> bool {
        self.code == ErrorCode::NO_ERROR
    }
}

/// A fatal connection error. GOAWAY has been queued; flush the output and
/// close the transport.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 connection error {code}: {reason}")]
pub struct ConnError {
    code: ErrorCode,
    reason: &'static str,
}

impl ConnError {
    /// The code sent in GOAWAY.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Why, in words (not API).
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// As many streams are open as the peer allows.
    StreamLimit,
    /// GOAWAY was sent or received: no new streams.
    GoingAway,
    /// The connection has ended.
    Closed,
    /// No such open stream.
    UnknownStream,
    /// This side of the stream has already ended (or its head is not sent).
    NotWritable,
    /// The command does not fit the role (a server sending a request).
    WrongRole,
    /// The head cannot be sent in HTTP/2 (no authority, a bad method...).
    InvalidHead,
    /// An extended CONNECT (`:protocol`, RFC 8441) to a peer that did not
    /// announce `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
    ExtendedConnectRefused,
}

/// A refused command; nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 command refused: {kind:?}")]
pub struct SendError {
    kind: SendErrorKind,
}

impl SendError {
    fn new(kind: SendErrorKind) -> SendError {
        SendError { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// True when a new stream could not be opened but the request could go
    /// on another connection.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            SendErrorKind::StreamLimit | SendErrorKind::GoingAway | SendErrorKind::Closed
        )
    }
}

/// The peer's settings in effect (RFC defaults until it says otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSettings {
    /// Streams we may have open towards the peer (None: unlimited).
    pub max_concurrent_streams: Option<u32>,
    /// Initial send window of new streams.
    pub initial_window_size: u32,
    /// Largest frame payload the peer accepts.
    pub max_frame_size: u32,
    /// HPACK table size the peer's decoder keeps.
    pub header_table_size: u32,
    /// The peer's header list limit, if it announced one.
    pub max_header_list_size: Option<u32>,
    /// The peer accepts extended CONNECT (RFC 8441).
    pub enable_connect_protocol: bool,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_WINDOW,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            header_table_size: 4096,
            max_header_list_size: None,
            enable_connect_protocol: false,
        }
    }
}

/// The most DATA on streams we reset that is allowed beyond the usual
/// bound (see `Connection::discard`): 128 streams' worth of a 1 MiB
/// window, a burst of cancelled large answers on a tunnel.
const MAX_DISCARD_ALLOWANCE: u64 = 128 << 20;

#[derive(Debug)]
struct Stream {
    /// We sent END_STREAM (or RST).
    local_end: bool,
    /// The peer sent END_STREAM.
    remote_end: bool,
    /// Our head has been sent (server: the final response head).
    head_sent: bool,
    /// The peer's final head arrived (client: a non-1xx response).
    head_received: bool,
    send_window: i64,
    recv_window: i64,
    /// Bytes released by the application and not yet announced.
    unannounced: u32,
    /// content-length the peer announced, and what it sent so far.
    content_length: Option<u64>,
    received: u64,
    /// Request of a HEAD: the response has no body whatever it says.
    head_request: bool,
}

/// The header block being assembled from HEADERS + CONTINUATION frames.
#[derive(Debug)]
struct Partial {
    stream: u32,
    end_stream: bool,
    block: BytesMut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) the preface.
    Preface(usize),
    /// Waiting for the peer's first SETTINGS.
    FirstSettings,
    Open,
    Closed,
}

/// One HTTP/2 connection's state; see the module docs.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    phase: Phase,
    local: Settings,
    /// Our SETTINGS sent and not yet acknowledged.
    unacked_settings: u32,
    peer: PeerSettings,
    max_header_list_size: u32,
    max_premature_resets: u32,
    /// Streams the peer reset before we answered, less those answered in
    /// full (never below 0).
    premature_resets: u32,
    /// Empty DATA frames without END_STREAM, less the non-empty ones since.
    empty_data_frames: u32,
    /// Bytes of DATA thrown away (closed or reset streams) since the last
    /// DATA delivered: bounded, or a peer that ignores our resets could
    /// keep the connection busy for ever (the space is handed back at
    /// once, so flow control alone does not stop it).
    discarded_data: u64,
    /// DATA the peer may still send on streams we reset (what was left
    /// of each one's window; at most [`MAX_DISCARD_ALLOWANCE`]), thrown
    /// away without counting in `discarded_data`: many large answers
    /// cancelled at once can have more in flight than twice the
    /// connection window, since discarded bytes are handed back at once.
    discard_allowance: u64,
    streams: BTreeMap<u32, Stream>,
    /// Next stream id we open (odd for a client).
    next_local: u32,
    /// Highest stream id the peer opened.
    max_peer: u32,
    send_window: i64,
    recv_window: i64,
    /// The connection receive window we aim to keep open.
    recv_target: u32,
    unannounced: u32,
    decoder: Decoder,
    /// The decoded size of the last header block (bytes, fields): the
    /// room the next one starts with.
    head_hint: (usize, usize),
    encoder: Encoder,
    partial: Option<Partial>,
    out: BytesMut,
    /// About how much output the writer took last: the room a fresh
    /// output buffer starts with.
    out_hint: Hint,
    events: VecDeque<Event>,
    /// The same for the event queue, in events.
    events_hint: Hint,
    /// Events queued since the queue last started afresh: the size of
    /// the burst its hint learns (its capacity would only ever grow).
    events_in_burst: u16,
    goaway_sent: Option<u32>,
    goaway_received: Option<u32>,
    established: bool,
    /// The peer's streams closed last, to answer frames on them as RFC
    /// 9113 §5.1 asks (see [`ClosedStreams`]).
    closed: ClosedStreams,
}

/// The last few streams of the peer's that closed, and whether this side
/// reset them: frames on a stream we reset may still be in flight and are
/// ignored; on a stream closed otherwise they are the peer's error
/// (STREAM_CLOSED); on a lower id never opened, PROTOCOL_ERROR (§5.1.1).
/// Inline and fixed-size: an idle connection keeps no heap for it.
#[derive(Debug, Default)]
struct ClosedStreams {
    /// Stream ids, the high bit set for "reset by us"; 0 is empty.
    ids: [u32; 16],
    next: u8,
}

/// How a stream of the peer's ended, as [`ClosedStreams`] remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// This side reset it: late frames are expected, and ignored.
    ByUs,
    /// Ended both ways, or the peer reset it.
    Otherwise,
    /// Not remembered: never opened, or closed long ago.
    Unknown,
}

impl ClosedStreams {
    const OURS: u32 = 1 << 31;

    fn note(&mut self, id: u32, by_us: bool) {
        let entry = id | if by_us { Self::OURS } else { 0 };
        if let Some(e) = self.ids.iter_mut().find(|e| **e & !Self::OURS == id) {
            *e = entry;
            return;
        }
        self.ids[usize::from(self.next)] = entry;
        self.next = (self.next + 1) % self.ids.len() as u8;
    }

    fn get(&self, id: u32) -> Closed {
        match self.ids.iter().find(|e| **e & !Self::OURS == id && id != 0) {
            Some(e) if e & Self::OURS != 0 => Closed::ByUs,
            Some(_) => Closed::Otherwise,
            None => Closed::Unknown,
        }
    }
}

fn conn_err(code: ErrorCode, reason: &'static str) -> ConnError {
    ConnError { code, reason }
}

impl Connection {
    /// A connection that has queued its preface (if it sends one), its
    /// SETTINGS and its connection WINDOW_UPDATE.
    pub fn new(cfg: Config) -> Connection {
        let mut local = cfg.settings;
        if cfg.role == Role::Client {
            // We never accept pushes.
            local.enable_push = Some(false);
        }
        let table = local.header_table_size.unwrap_or(4096) as usize;
        let mut c = Connection {
            role: cfg.role,
            phase: if !cfg.send_preface {
                Phase::Preface(0)
            } else {
                Phase::FirstSettings
            },
            local,
            unacked_settings: 1,
            peer: PeerSettings::default(),
            max_header_list_size: cfg.max_header_list_size,
            max_premature_resets: cfg.max_premature_resets,
            premature_resets: 0,
            empty_data_frames: 0,
            discarded_data: 0,
            discard_allowance: 0,
            streams: BTreeMap::new(),
            next_local: if cfg.role == Role::Client { 1 } else { 2 },
            max_peer: 0,
            send_window: i64::from(DEFAULT_WINDOW),
            recv_window: i64::from(DEFAULT_WINDOW),
            recv_target: cfg.connection_window.clamp(DEFAULT_WINDOW, MAX_WINDOW),
            unannounced: 0,
            // Until the peer acknowledges our SETTINGS it may still use
            // the default table size; the smaller limit applies on ACK.
            decoder: Decoder::new(table.max(4096)),
            head_hint: (0, 0),
            encoder: {
                let mut e = Encoder::new();
                e.set_plain_strings(cfg.plain_header_strings);
                e
            },
            partial: None,
            out: BytesMut::new(),
            out_hint: Hint::default(),
            events: VecDeque::new(),
            events_hint: Hint::default(),
            events_in_burst: 0,
            goaway_sent: None,
            goaway_received: None,
            established: false,
            closed: ClosedStreams::default(),
        };
        if cfg.send_preface {
            c.out.extend_from_slice(PREFACE);
        }
        frame::encode(
            &Frame::Settings {
                ack: false,
                settings: local,
            },
            &mut c.out,
        );
        let extra = c.recv_target - DEFAULT_WINDOW;
        if extra > 0 {
            frame::encode(
                &Frame::WindowUpdate {
                    stream: 0,
                    increment: extra,
                },
                &mut c.out,
            );
            c.recv_window += i64::from(extra);
        }
        c
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's settings in effect.
    pub fn peer_settings(&self) -> &PeerSettings {
        &self.peer
    }

    /// Whether the peer's first SETTINGS have arrived.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The connection has ended (error, or GOAWAY exchanged and every
    /// stream done): flush [`take_output`](Self::take_output) and close.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
            || ((self.goaway_sent.is_some() || self.goaway_received.is_some())
                && self.streams.is_empty())
    }

    /// Streams in the table (open in at least one direction).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether a new stream may be opened now.
    pub fn can_open(&self) -> bool {
        self.phase == Phase::Open
            && self.role == Role::Client
            && self.goaway_sent.is_none()
            && self.goaway_received.is_none()
            && self
                .peer
                .max_concurrent_streams
                .is_none_or(|m| self.local_streams() < m as usize)
            && self.next_local <= MAX_WINDOW
    }

    /// Removes a stream; an emptied table gives its node back (a
    /// `BTreeMap` keeps its root leaf otherwise: ~700 bytes per idle
    /// connection).
    fn drop_stream(&mut self, id: u32) -> Option<Stream> {
        let s = self.streams.remove(&id);
        let peers = (id % 2 == 1) == (self.role == Role::Server);
        if peers && s.is_some() {
            self.closed.note(id, false);
        }
        if self.streams.is_empty() {
            self.streams = BTreeMap::new();
        }
        s
    }

    fn local_streams(&self) -> usize {
        let odd = self.role == Role::Client;
        self.streams
            .keys()
            .filter(|id| (*id % 2 == 1) == odd)
            .count()
    }

    /// Bytes waiting to be written.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// How many bytes are waiting to be written (a driver stops reading
    /// while this is large, so a peer that does not read cannot make the
    /// answers it provokes pile up).
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// For a stream in the table: whether this side has ended it (END_STREAM
    /// sent) and whether the peer has.
    pub fn stream_ends(&self, stream: u32) -> Option<(bool, bool)> {
        self.streams
            .get(&stream)
            .map(|s| (s.local_end, s.remote_end))
    }

    /// Everything waiting to be written, leaving no buffer behind.
    pub fn take_output(&mut self) -> BytesMut {
        let out = std::mem::take(&mut self.out);
        self.out_hint.saw(out.len(), MAX_OUT_HINT);
        out
    }

    /// The output buffer, given the room the last output needed when it
    /// starts afresh: a burst of frames then fills one allocation instead
    /// of growing one by doubling (each growth a copy of all before it).
    /// An idle connection still keeps no buffer: the writer takes it.
    fn out_with_room(&mut self) -> &mut BytesMut {
        let want = self.out_hint.get();
        if self.out.capacity() < want {
            self.out.reserve(want - self.out.len());
        }
        &mut self.out
    }

    /// Queues an event, with the room the last burst of events needed
    /// when the queue starts afresh (see [`Self::out_with_room`]).
    fn push_event(&mut self, event: Event) {
        if self.events.capacity() == 0 {
            self.events.reserve(self.events_hint.get());
        }
        self.events_in_burst = self.events_in_burst.saturating_add(1);
        self.events.push_back(event);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if e.is_none() && self.events.capacity() > 0 {
            // Idle connections keep no queue memory.
            self.events_hint
                .saw(usize::from(self.events_in_burst), MAX_EVENTS_HINT);
            self.events_in_burst = 0;
            self.events = VecDeque::new();
        }
        e
    }

    /// How many bytes of DATA `stream` may send now.
    pub fn send_capacity(&self, stream: u32) -> usize {
        match self.streams.get(&stream) {
            Some(s) if !s.local_end && s.head_sent => {
                s.send_window.min(self.send_window).max(0) as usize
            }
            _ => 0,
        }
    }

    /// Feeds bytes read from the transport; consumes every whole frame in
    /// `buf` and leaves a partial one. Events come out of
    /// [`poll_event`](Self::poll_event).
    pub fn recv(&mut self, buf: &mut BytesMut) -> Result<(), ConnError> {
        if self.phase == Phase::Closed {
            buf.clear();
            return Err(conn_err(ErrorCode::NO_ERROR, "connection closed"));
        }
        if let Phase::Preface(seen) = self.phase {
            let want = &PREFACE[seen..];
            let n = want.len().min(buf.len());
            if buf[..n] != want[..n] {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "bad connection preface"));
            }
            let _ = buf.split_to(n);
            if seen + n < PREFACE.len() {
                self.phase = Phase::Preface(seen + n);
                return Ok(());
            }
            self.phase = Phase::FirstSettings;
        }
        loop {
            let kind = crate::internal::peek_header(buf).map(|h| h.kind);
            let f = match frame::decode(buf, self.local_max_frame_size()) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(FrameError::Stream { .. })
                    if kind == Some(crate::internal::kind::HEADERS) || self.partial.is_some() =>
                {
                    // A header block dropped unread would leave HPACK out of
                    // step with the peer: the connection cannot go on.
                    return Err(self.fail(
                        ErrorCode::PROTOCOL_ERROR,
                        "invalid HEADERS frame (priority on its own stream)",
                    ));
                }
                Err(FrameError::Stream { stream, code, .. }) => {
                    if self.is_idle(stream) {
                        // RST_STREAM must not be sent on an idle stream
                        // (RFC 9113 section 6.4): the stream error becomes
                        // a connection error.
                        // A self-dependent PRIORITY included (§5.3.1
                        // makes it a stream error, which h2spec checks).
                        return Err(
                            self.fail(ErrorCode::PROTOCOL_ERROR, "invalid frame on an idle stream")
                        );
                    }
                    self.reset_local(stream, code);
                    self.check_calm()?;
                    continue;
                }
                Err(FrameError::Connection { code, reason }) => {
                    return Err(self.fail(code, reason));
                }
            };
            if let Err(e) = self.on_frame(f).and_then(|()| self.check_calm()) {
                self.phase = Phase::Closed;
                return Err(e);
            }
        }
    }

    fn local_max_frame_size(&self) -> u32 {
        self.local.max_frame_size.unwrap_or(DEFAULT_MAX_FRAME_SIZE)
    }

    fn fail(&mut self, code: ErrorCode, reason: &'static str) -> ConnError {
        if self.phase != Phase::Closed {
            frame::encode(
                &Frame::GoAway {
                    last_stream: self.max_peer,
                    code,
                    debug: Bytes::from_static(reason.as_bytes()),
                },
                &mut self.out,
            );
            self.phase = Phase::Closed;
        }
        self.streams.clear();
        conn_err(code, reason)
    }

    fn on_frame(&mut self, f: Frame) -> Result<(), ConnError> {
        if let Some(p) = &self.partial {
            match &f {
                Frame::Continuation { stream, .. } if *stream == p.stream => {}
                _ => {
                    return Err(self.fail(
                        ErrorCode::PROTOCOL_ERROR,
                        "expected CONTINUATION of the open header block",
                    ));
                }
            }
        }
        if self.phase == Phase::FirstSettings && !matches!(f, Frame::Settings { ack: false, .. }) {
            return Err(self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "the first frame must be SETTINGS",
            ));
        }
        match f {
            Frame::Settings { ack: true, .. } => {
                if self.unacked_settings == 0 {
                    return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "unexpected SETTINGS ACK"));
                }
                self.unacked_settings -= 1;
                if self.unacked_settings == 0 {
                    let table = self.local.header_table_size.unwrap_or(4096) as usize;
                    self.decoder.set_max_table_size(table);
                }
                Ok(())
            }
            Frame::Settings {
                ack: false,
                settings,
            } => self.on_settings(settings),
            Frame::Ping {
                ack: false,
                payload,
            } => {
                frame::encode(&Frame::Ping { ack: true, payload }, &mut self.out);
                Ok(())
            }
            Frame::Ping { ack: true, payload } => {
                self.push_event(Event::PingAck(payload));
                Ok(())
            }
            Frame::GoAway {
                last_stream,
                code,
                debug,
            } => {
                self.on_goaway(last_stream, code, debug);
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.on_window_update(stream, increment),
            Frame::RstStream { stream, code } => {
                self.check_not_idle(stream)?;
                if let Some(s) = self.drop_stream(stream) {
                    self.note_premature_reset(stream, &s);
                    self.push_event(Event::Reset {
                        stream,
                        code,
                        remote: true,
                        retryable: code == ErrorCode::REFUSED_STREAM,
                    });
                }
                Ok(())
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::PushPromise { .. } => Err(self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "PUSH_PROMISE while push is disabled",
            )),
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len),
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                ..
            } => {
                if end_headers {
                    self.on_header_block(stream, &block, end_stream)
                } else {
                    let mut b = BytesMut::with_capacity(block.len() * 2);
                    b.extend_from_slice(&block);
                    self.partial = Some(Partial {
                        stream,
                        end_stream,
                        block: b,
                    });
                    Ok(())
                }
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                let Some(mut p) = self.partial.take() else {
                    return Err(self.fail(
                        ErrorCode::PROTOCOL_ERROR,
                        "CONTINUATION without a header block",
                    ));
                };
                p.block.extend_from_slice(&block);
                let cap = (self.max_header_list_size as usize).max(16 * 1024) * 4;
                if p.block.len() > cap {
                    return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "header block too large"));
                }
                if end_headers {
                    self.on_header_block(p.stream, &p.block, p.end_stream)
                } else {
                    self.partial = Some(p);
                    Ok(())
                }
            }
        }
    }

    fn on_settings(&mut self, s: Settings) -> Result<(), ConnError> {
        let first = self.phase == Phase::FirstSettings;
        if first {
            self.phase = Phase::Open;
            self.established = true;
        }
        if let Some(n) = s.initial_window_size {
            let delta = i64::from(n) - i64::from(self.peer.initial_window_size);
            for st in self.streams.values_mut() {
                st.send_window += delta;
                if st.send_window > i64::from(MAX_WINDOW) {
                    return Err(self.fail(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window",
                    ));
                }
            }
            self.peer.initial_window_size = n;
        }
        if let Some(n) = s.max_frame_size {
            self.peer.max_frame_size = n;
        }
        if let Some(n) = s.header_table_size
            && n != self.peer.header_table_size
        {
            self.peer.header_table_size = n;
            self.encoder.set_peer_max_table_size(n as usize);
        }
        if let Some(n) = s.max_concurrent_streams {
            self.peer.max_concurrent_streams = Some(n);
        }
        if let Some(n) = s.max_header_list_size {
            self.peer.max_header_list_size = Some(n);
        }
        if let Some(on) = s.enable_connect_protocol {
            self.peer.enable_connect_protocol = on;
        }
        frame::encode(
            &Frame::Settings {
                ack: true,
                settings: Settings::default(),
            },
            &mut self.out,
        );
        self.push_event(Event::Settings { first, settings: s });
        if s.initial_window_size.is_some() {
            self.push_event(Event::Writable);
        }
        Ok(())
    }

    fn on_goaway(&mut self, last_stream: u32, code: ErrorCode, debug: Bytes) {
        self.goaway_received = Some(last_stream);
        let odd = self.role == Role::Client;
        let refused: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|id| (*id % 2 == 1) == odd && *id > last_stream)
            .collect();
        for id in refused {
            self.drop_stream(id);
            self.push_event(Event::Reset {
                stream: id,
                code: ErrorCode::REFUSED_STREAM,
                remote: true,
                retryable: true,
            });
        }
        self.push_event(Event::GoAway(GoAway {
            last_stream,
            code,
            debug,
        }));
    }

    /// An id the peer may not mention yet (never opened by either side).
    fn is_idle(&self, stream: u32) -> bool {
        let ours = (stream % 2 == 1) == (self.role == Role::Client);
        if ours {
            stream >= self.next_local
        } else {
            stream > self.max_peer
        }
    }

    fn check_not_idle(&mut self, stream: u32) -> Result<(), ConnError> {
        if self.is_idle(stream) {
            Err(self.fail(ErrorCode::PROTOCOL_ERROR, "frame on an idle stream"))
        } else {
            Ok(())
        }
    }

    fn end_remote(&mut self, stream: u32) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.remote_end = true;
            if s.local_end {
                self.drop_stream(stream);
            }
        }
    }

    /// Resets a stream in the table because the peer broke a rule on it.
    ///
    /// Counts as a premature reset like the peer's own RST_STREAM: a peer
    /// that makes us reset its streams ("MadeYouReset", CVE-2025-8671)
    /// throws away the same work.
    fn reset_local(&mut self, stream: u32, code: ErrorCode) {
        frame::encode(&Frame::RstStream { stream, code }, &mut self.out);
        let dropped = self.drop_stream(stream);
        self.closed.note(stream, true);
        if let Some(s) = dropped {
            self.note_premature_reset(stream, &s);
            self.push_event(Event::Reset {
                stream,
                code,
                remote: false,
                retryable: false,
            });
        }
    }

    /// A stream of the peer's (server role) ends before its answer head.
    fn note_premature_reset(&mut self, stream: u32, s: &Stream) {
        let peers = (stream % 2 == 1) == (self.role == Role::Server);
        if peers && self.role == Role::Server && !s.head_sent {
            self.premature_resets = self.premature_resets.saturating_add(1);
        }
    }

    /// Ends the connection with ENHANCE_YOUR_CALM once the peer's streams
    /// reset before an answer (by it or, for its faults, by us) or its
    /// empty DATA frames outrun what finished streams and real data paid
    /// back.
    fn check_calm(&mut self) -> Result<(), ConnError> {
        if self.premature_resets > self.max_premature_resets {
            return Err(self.fail(
                ErrorCode::ENHANCE_YOUR_CALM,
                "too many streams reset before an answer",
            ));
        }
        if self.empty_data_frames > MAX_EMPTY_DATA_FRAMES {
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "too many empty DATA frames"));
        }
        Ok(())
    }

    /// Resets a stream that never entered the table.
    fn reset_local_gone(&mut self, stream: u32, code: ErrorCode) {
        frame::encode(&Frame::RstStream { stream, code }, &mut self.out);
        self.closed.note(stream, true);
    }
}

/// The largest room a fresh output buffer starts with; output beyond it
/// grows as before (and is large enough that the copies are a small part
/// of writing it).
const MAX_OUT_HINT: usize = 64 * 1024;

/// The most events a fresh event queue has room for.
const MAX_EVENTS_HINT: usize = 64;

/// A size remembered from the recent uses of a buffer that is given back
/// between uses: the largest of the last 16 to 32 uses that needed one.
/// Uses that alternate between a burst and small writes (a WINDOW_UPDATE,
/// a PING acknowledgement) keep the burst's size; a burst long past is
/// forgotten.
#[derive(Debug, Default, Clone, Copy)]
struct Hint {
    /// The largest size in the current round of uses (sizes are capped
    /// far below `u32::MAX`: a hint is a few words of an idle connection).
    current: u32,
    /// The largest size in the round before.
    previous: u32,
    /// Uses counted in the current round.
    uses: u8,
}

impl Hint {
    const ROUND: u8 = 16;

    fn saw(&mut self, n: usize, max: usize) {
        if n == 0 {
            return;
        }
        let n = u32::try_from(n.min(max)).unwrap_or(u32::MAX);
        self.current = self.current.max(n);
        self.uses += 1;
        if self.uses == Self::ROUND {
            self.previous = self.current;
            self.current = 0;
            self.uses = 0;
        }
    }

    fn get(self) -> usize {
        self.current.max(self.previous) as usize
    }
}

#[cfg(test)]
mod hint_tests {
    use super::{Config, Connection, Event, Hint, MAX_EVENTS_HINT, Role};

    #[test]
    fn the_event_queue_forgets_a_burst_long_past() {
        let mut c = Connection::new(Config::new(Role::Client));
        let burst = |c: &mut Connection, n: usize| {
            for _ in 0..n {
                c.push_event(Event::Writable);
            }
            let room = c.events.capacity();
            while c.poll_event().is_some() {}
            room
        };
        assert!(burst(&mut c, 100) >= 100);
        // The next burst starts with the room the last one needed.
        assert!(burst(&mut c, 1) >= MAX_EVENTS_HINT);
        // Two rounds of one event each later, the room is one event's
        // again (the queue's capacity, which never shrinks below what it
        // was given, must not be what the hint learns).
        for _ in 0..40 {
            burst(&mut c, 1);
        }
        assert!(burst(&mut c, 1) < 8, "{}", c.events_hint.get());
    }

    #[test]
    fn a_hint_keeps_a_recent_burst_and_forgets_an_old_one() {
        let mut h = Hint::default();
        assert_eq!(h.get(), 0);
        h.saw(20_000, 64 * 1024);
        // Small uses between bursts, and takes of nothing, keep it.
        for _ in 0..15 {
            h.saw(13, 64 * 1024);
            h.saw(0, 64 * 1024);
        }
        assert_eq!(h.get(), 20_000);
        // Two rounds of small uses later it is gone.
        for _ in 0..32 {
            h.saw(13, 64 * 1024);
        }
        assert_eq!(h.get(), 13);
        // Never above the cap.
        h.saw(1 << 30, 64 * 1024);
        assert_eq!(h.get(), 64 * 1024);
    }
}
