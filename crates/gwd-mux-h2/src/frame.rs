//! HTTP/2 frame codec (RFC 9113 §4 and §6): bytes in, [`Frame`]s out, and
//! back.
//!
//! # Model
//!
//! A connection's inbound bytes accumulate in a caller-owned [`BytesMut`].
//! [`decode`] looks at the front of that buffer and either takes exactly one
//! whole frame off it or takes nothing. Payloads that are byte strings (DATA,
//! header block fragments, GOAWAY debug data) are split off the caller's
//! buffer with [`BytesMut::split_to`] and frozen: no copy and no buffer of the
//! codec's own. Outbound, [`encode`] and [`encode_header`] only append to the
//! caller's `BytesMut`. The codec holds no state between calls, so an idle
//! connection costs it nothing.
//!
//! # Invariants
//!
//! * [`decode`] returns `Ok(None)` only when the buffer does not yet hold a
//!   whole frame, and then it has consumed nothing. The one early answer is a
//!   length above the caller's `max_frame_size`: it is reported as a
//!   connection `FRAME_SIZE_ERROR` as soon as the 9-byte header is there,
//!   without waiting for a payload that may never fit.
//! * `Ok(Some(frame))` consumes exactly that frame's `9 + length` bytes.
//! * [`FrameError::Stream`] consumes the frame too: the connection goes on.
//!   After [`FrameError::Connection`] the buffer's contents are unspecified:
//!   the connection is to be closed with GOAWAY.
//! * Everything that RFC 9113 lets a receiver check from one frame alone is
//!   checked here (stream id 0 or not, lengths, padding, setting values,
//!   self-dependency, zero window increments). Whether the frame is allowed
//!   in the current stream or connection *state* (an expected CONTINUATION,
//!   an idle or closed stream, flow-control windows) is not: that is the
//!   connection state machine's job.
//! * The reserved high bit of every 31-bit stream id is cleared on decode and
//!   never set on encode. Unknown frame types are consumed and returned as
//!   [`Frame::Unknown`] so the caller can ignore them; unknown flags are
//!   ignored.
//! * [`encode`] never pads and never splits: keeping DATA and header blocks
//!   within the peer's `SETTINGS_MAX_FRAME_SIZE` is the caller's job.
//!
//! The module depends only on `bytes` and `thiserror`; header block
//! fragments are carried opaque (HPACK lives in `gwd-hpack`).

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::internal::{FrameHeader, HEADER_LEN, encode_header, flags, kind, peek_header, setting};

/// The client connection preface (RFC 9113 §3.4), sent before the first
/// SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Initial value of `SETTINGS_MAX_FRAME_SIZE` and its smallest legal value.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// Largest legal value of `SETTINGS_MAX_FRAME_SIZE` (and of a frame length).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// Largest flow-control window, and largest `SETTINGS_INITIAL_WINDOW_SIZE`.
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Initial flow-control window of a connection and of a stream.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// Mask of the 31 bits of a stream id (the high bit is reserved).
pub(crate) const STREAM_MASK: u32 = 0x7fff_ffff;

/// An HTTP/2 error code (RFC 9113 §7), as carried by RST_STREAM and GOAWAY.
///
/// Any `u32` is a valid value: unknown codes must not be treated as errors
/// of their own. `Debug` and `Display` print the RFC name, or
/// `0x.. (unknown)`.
///
/// ```
/// use gwd_mux_h2::frame::ErrorCode;
/// assert_eq!(ErrorCode::PROTOCOL_ERROR.to_string(), "PROTOCOL_ERROR");
/// assert_eq!(ErrorCode(0xff).to_string(), "0xff (unknown)");
/// assert_eq!(ErrorCode::CANCEL.name(), Some("CANCEL"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown, or no error.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// Unspecific protocol error.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// Unexpected internal error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// The flow-control protocol was violated.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// A SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// A frame arrived after the stream was half-closed.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// A frame had an invalid size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// The stream was refused before any application processing.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// The field-compression context cannot be maintained.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// The CONNECT tunnel was reset or closed abnormally.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// The peer is generating excessive load.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// The transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// HTTP/1.1 must be used for this request.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC 9113 name of the code, or `None` if the code is unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x} (unknown)", self.0),
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<u32> for ErrorCode {
    fn from(code: u32) -> Self {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

/// The parameters of a SETTINGS frame (RFC 9113 §6.5.2); `None` means the
/// parameter was absent (and keeps its previous value).
///
/// Encoding writes the present fields in id order. Decoding lets a later
/// occurrence of an id win and ignores unknown ids; values are validated on
/// decode (see [`decode`]) but not on encode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `SETTINGS_HEADER_TABLE_SIZE` (0x1): HPACK dynamic table limit.
    pub header_table_size: Option<u32>,
    /// `SETTINGS_ENABLE_PUSH` (0x2): 0 or 1 on the wire.
    pub enable_push: Option<bool>,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (0x3).
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE` (0x4): at most [`MAX_WINDOW`].
    pub initial_window_size: Option<u32>,
    /// `SETTINGS_MAX_FRAME_SIZE` (0x5): within
    /// [`DEFAULT_MAX_FRAME_SIZE`]..=[`MAX_MAX_FRAME_SIZE`].
    pub max_frame_size: Option<u32>,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` (0x6): advisory.
    pub max_header_list_size: Option<u32>,
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (0x8, RFC 8441): 0 or 1 on the wire.
    pub enable_connect_protocol: Option<bool>,
}

impl Settings {
    /// The present parameters as `(id, value)` pairs, in id order: what
    /// [`encode`] writes.
    fn entries(&self) -> impl Iterator<Item = (u16, u32)> {
        [
            (setting::HEADER_TABLE_SIZE, self.header_table_size),
            (setting::ENABLE_PUSH, self.enable_push.map(u32::from)),
            (setting::MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (setting::INITIAL_WINDOW_SIZE, self.initial_window_size),
            (setting::MAX_FRAME_SIZE, self.max_frame_size),
            (setting::MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (
                setting::ENABLE_CONNECT_PROTOCOL,
                self.enable_connect_protocol.map(u32::from),
            ),
        ]
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
    }

    /// Number of parameters present (each takes 6 bytes on the wire).
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether no parameter is present (the payload of a SETTINGS ACK).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stream dependency and weight (RFC 9113 §5.3, deprecated signalling that
/// peers may still send), from a PRIORITY frame or a HEADERS frame with the
/// PRIORITY flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream depended on (31 bits; 0 for the root).
    pub dependency: u32,
    /// The exclusive flag (the high bit of the dependency field).
    pub exclusive: bool,
    /// The weight byte as on the wire: the weight is `weight + 1` (1..=256).
    pub weight: u8,
}

/// One decoded HTTP/2 frame, or one to encode.
///
/// Stream ids are 31-bit values (the reserved bit is never present).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// DATA (§6.1).
    Data {
        /// The stream (never 0).
        stream: u32,
        /// The data, with the pad-length byte and padding removed.
        data: Bytes,
        /// The END_STREAM flag.
        end_stream: bool,
        /// `flow_len`: the whole payload length including the pad-length
        /// byte and padding: what counts against flow control. Ignored by
        /// `encode` (gwd never pads).
        flow_len: u32,
    },
    /// HEADERS (§6.2).
    Headers {
        /// The stream (never 0).
        stream: u32,
        /// `block`: the header block fragment with padding and priority
        /// removed.
        block: Bytes,
        /// The END_STREAM flag.
        end_stream: bool,
        /// The END_HEADERS flag: no CONTINUATION follows.
        end_headers: bool,
        /// Present when the PRIORITY flag was set.
        priority: Option<Priority>,
    },
    /// PRIORITY (§6.3).
    Priority {
        /// The stream (never 0).
        stream: u32,
        /// Its dependency and weight (never on itself).
        priority: Priority,
    },
    /// RST_STREAM (§6.4).
    RstStream {
        /// The stream (never 0).
        stream: u32,
        /// Why the stream ends.
        code: ErrorCode,
    },
    /// SETTINGS (§6.5), always on stream 0.
    Settings {
        /// The ACK flag; an ACK carries no parameters.
        ack: bool,
        /// The parameters carried.
        settings: Settings,
    },
    /// PUSH_PROMISE (§6.6).
    PushPromise {
        /// The stream the promise is associated with (never 0).
        stream: u32,
        /// The promised stream id (31 bits; not validated here).
        promised: u32,
        /// The header block fragment with padding and promised id removed.
        block: Bytes,
        /// The END_HEADERS flag: no CONTINUATION follows.
        end_headers: bool,
    },
    /// PING (§6.7), always on stream 0.
    Ping {
        /// The ACK flag.
        ack: bool,
        /// Opaque data, echoed in the ACK.
        payload: [u8; 8],
    },
    /// GOAWAY (§6.8), always on stream 0.
    GoAway {
        /// The last peer-initiated stream that was or may be processed.
        last_stream: u32,
        /// Why the connection ends.
        code: ErrorCode,
        /// Opaque diagnostic data.
        debug: Bytes,
    },
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate {
        /// The stream, or 0 for the connection window.
        stream: u32,
        /// The increment, in 1..=[`MAX_WINDOW`].
        increment: u32,
    },
    /// CONTINUATION (§6.10).
    Continuation {
        /// The stream (never 0).
        stream: u32,
        /// The header block fragment.
        block: Bytes,
        /// The END_HEADERS flag: the header block ends here.
        end_headers: bool,
    },
    /// A frame of an unknown type: consumed and to be ignored (RFC 9113 §4.1).
    ///
    /// Its payload is discarded on decode; [`encode`] writes `len` zero
    /// bytes as its payload (so it round-trips, and can serve as a GREASE
    /// frame). `kind` must not be a known type for `encode`.
    Unknown {
        /// The frame type (10 or more).
        kind: u8,
        /// The flags, uninterpreted.
        flags: u8,
        /// The stream id (may be 0).
        stream: u32,
        /// The payload length.
        len: u32,
    },
}

impl Frame {
    /// The frame's stream id; 0 for SETTINGS, PING and GOAWAY.
    pub fn stream(&self) -> u32 {
        match *self {
            Frame::Data { stream, .. }
            | Frame::Headers { stream, .. }
            | Frame::Priority { stream, .. }
            | Frame::RstStream { stream, .. }
            | Frame::PushPromise { stream, .. }
            | Frame::WindowUpdate { stream, .. }
            | Frame::Continuation { stream, .. }
            | Frame::Unknown { stream, .. } => stream,
            Frame::Settings { .. } | Frame::Ping { .. } | Frame::GoAway { .. } => 0,
        }
    }

    /// The frame's type code (see [`kind`]).
    pub fn kind(&self) -> u8 {
        match *self {
            Frame::Data { .. } => kind::DATA,
            Frame::Headers { .. } => kind::HEADERS,
            Frame::Priority { .. } => kind::PRIORITY,
            Frame::RstStream { .. } => kind::RST_STREAM,
            Frame::Settings { .. } => kind::SETTINGS,
            Frame::PushPromise { .. } => kind::PUSH_PROMISE,
            Frame::Ping { .. } => kind::PING,
            Frame::GoAway { .. } => kind::GOAWAY,
            Frame::WindowUpdate { .. } => kind::WINDOW_UPDATE,
            Frame::Continuation { .. } => kind::CONTINUATION,
            Frame::Unknown { kind, .. } => kind,
        }
    }
}

/// Why [`decode`] rejected a frame. The caller reacts with GOAWAY or
/// RST_STREAM carrying [`FrameError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The connection must end: GOAWAY with `code`.
    #[error("connection error {code}: {reason}")]
    Connection {
        /// The error code for GOAWAY.
        code: ErrorCode,
        /// A fixed description, for logs.
        reason: &'static str,
    },
    /// Only `stream` is reset with RST_STREAM `code`; the frame was consumed and the connection goes on.
    ///
    /// Decode reports this for a PRIORITY frame of the wrong length or that
    /// depends on its own stream, a HEADERS frame whose priority depends on
    /// its own stream, and a WINDOW_UPDATE with increment 0 on a stream.
    /// Caution for the HEADERS case: its header block fragment was dropped
    /// unread, so a receiver that keeps HPACK state (and may be expecting
    /// CONTINUATION frames) should look at the frame type with
    /// [`peek_header`] before calling [`decode`] and decide whether the
    /// connection can go on.
    #[error("stream {stream} error {code}: {reason}")]
    Stream {
        /// The stream to reset.
        stream: u32,
        /// The error code for RST_STREAM.
        code: ErrorCode,
        /// A fixed description, for logs.
        reason: &'static str,
    },
}

impl FrameError {
    /// The error code to send (in GOAWAY or RST_STREAM).
    pub fn code(&self) -> ErrorCode {
        match *self {
            FrameError::Connection { code, .. } | FrameError::Stream { code, .. } => code,
        }
    }

    /// Whether the whole connection must end.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, FrameError::Connection { .. })
    }

    /// The stream to reset, for a stream error; `None` for a connection error.
    pub fn stream(&self) -> Option<u32> {
        match *self {
            FrameError::Connection { .. } => None,
            FrameError::Stream { stream, .. } => Some(stream),
        }
    }

    /// The fixed description of what was wrong.
    pub fn reason(&self) -> &'static str {
        match *self {
            FrameError::Connection { reason, .. } | FrameError::Stream { reason, .. } => reason,
        }
    }
}

fn conn_err(code: ErrorCode, reason: &'static str) -> FrameError {
    FrameError::Connection { code, reason }
}

fn stream_err(stream: u32, code: ErrorCode, reason: &'static str) -> FrameError {
    FrameError::Stream {
        stream,
        code,
        reason,
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes one frame from the front of `buf`. Ok(None): not a whole frame yet, nothing consumed — EXCEPT that a length above `max_frame_size` is reported as soon as the 9-byte header is there (Connection FRAME_SIZE_ERROR), without waiting for the payload. On Ok(Some) exactly that frame's bytes are consumed (payload via buf.split_to(..).freeze(), no copy). On Err::Stream the frame is consumed. After Err::Connection the buffer's state does not matter.
///
/// `max_frame_size` is the `SETTINGS_MAX_FRAME_SIZE` this endpoint
/// advertised (and the peer acknowledged), [`DEFAULT_MAX_FRAME_SIZE`]
/// before that.
///
/// Checks (RFC 9113 §4–§6), giving [`FrameError::Connection`] unless said:
///
/// * DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION on
///   stream 0, and SETTINGS, PING, GOAWAY on another stream:
///   `PROTOCOL_ERROR`.
/// * PADDED flag with a pad length not below the payload length (or no
///   room for the pad-length byte): `PROTOCOL_ERROR`.
/// * HEADERS with the PRIORITY flag and fewer than 5 bytes left after
///   padding, PUSH_PROMISE with fewer than 4: `FRAME_SIZE_ERROR`.
/// * PRIORITY frame length other than 5: stream `FRAME_SIZE_ERROR`.
/// * A priority (PRIORITY frame or HEADERS flag) depending on its own
///   stream: stream `PROTOCOL_ERROR`.
/// * RST_STREAM length other than 4, PING other than 8, WINDOW_UPDATE other
///   than 4, GOAWAY below 8, SETTINGS not a multiple of 6, SETTINGS ACK
///   with a payload: `FRAME_SIZE_ERROR`.
/// * ENABLE_PUSH or ENABLE_CONNECT_PROTOCOL other than 0/1, MAX_FRAME_SIZE
///   outside [16384, 2^24-1]: `PROTOCOL_ERROR`; INITIAL_WINDOW_SIZE above
///   [`MAX_WINDOW`]: `FLOW_CONTROL_ERROR`.
/// * WINDOW_UPDATE increment 0: `PROTOCOL_ERROR`, a stream error unless on
///   stream 0.
///
/// Payload bytes handed out (DATA, header block fragments, GOAWAY debug
/// data) share the caller's buffer allocation; holding them keeps that
/// allocation alive.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use gwd_mux_h2::frame::{decode, encode, Frame, DEFAULT_MAX_FRAME_SIZE};
///
/// let mut wire = BytesMut::new();
/// encode(&Frame::Ping { ack: false, payload: *b"12345678" }, &mut wire);
/// encode(
///     &Frame::Data { stream: 1, data: Bytes::from_static(b"hi"), end_stream: true, flow_len: 2 },
///     &mut wire,
/// );
///
/// // Only part of the first frame has arrived: nothing happens.
/// let mut rx = BytesMut::from(&wire[..10]);
/// assert_eq!(decode(&mut rx, DEFAULT_MAX_FRAME_SIZE), Ok(None));
/// assert_eq!(rx.len(), 10);
///
/// // The rest arrives: two frames come out, and the buffer is empty.
/// rx.extend_from_slice(&wire[10..]);
/// let ping = decode(&mut rx, DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
/// assert_eq!(ping, Frame::Ping { ack: false, payload: *b"12345678" });
/// let data = decode(&mut rx, DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
/// assert_eq!(data.stream(), 1);
/// assert_eq!(decode(&mut rx, DEFAULT_MAX_FRAME_SIZE), Ok(None));
/// assert!(rx.is_empty());
/// ```
pub fn decode(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(h) = peek_header(buf) else {
        return Ok(None);
    };
    if h.len > max_frame_size {
        return Err(conn_err(
            ErrorCode::FRAME_SIZE_ERROR,
            "frame length exceeds SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    let total = HEADER_LEN + h.len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let (mut frame, range) = match parse(h, &buf[HEADER_LEN..total]) {
        Ok(parsed) => parsed,
        Err(e) => {
            if !e.is_connection_error() {
                buf.advance(total);
            }
            return Err(e);
        }
    };
    match range {
        Some((start, end)) if start < end => {
            buf.advance(HEADER_LEN + start);
            let bytes = buf.split_to(end - start).freeze();
            buf.advance(total - HEADER_LEN - end);
            set_bytes(&mut frame, bytes);
        }
        _ => buf.advance(total),
    }
    Ok(Some(frame))
}

/// Puts the payload bytes split off the buffer into the frame's byte field.
fn set_bytes(frame: &mut Frame, bytes: Bytes) {
    match frame {
        Frame::Data { data: b, .. }
        | Frame::Headers { block: b, .. }
        | Frame::PushPromise { block: b, .. }
        | Frame::GoAway { debug: b, .. }
        | Frame::Continuation { block: b, .. } => *b = bytes,
        _ => debug_assert!(false, "frame without a byte field got bytes"),
    }
}

/// Validates one whole frame and builds it, with an empty byte field; the
/// range (within `payload`) of the bytes that belong in that field comes
/// beside it.
fn parse(h: FrameHeader, payload: &[u8]) -> Result<(Frame, Option<(usize, usize)>), FrameError> {
    let stream = h.stream;
    let flag = |f: u8| h.flags & f != 0;
    let needs_stream = |name: &'static str| {
        if stream == 0 {
            Err(conn_err(ErrorCode::PROTOCOL_ERROR, name))
        } else {
            Ok(())
        }
    };
    let needs_zero = |name: &'static str| {
        if stream != 0 {
            Err(conn_err(ErrorCode::PROTOCOL_ERROR, name))
        } else {
            Ok(())
        }
    };
    match h.kind {
        kind::DATA => {
            needs_stream("DATA on stream 0")?;
            let (start, end) = unpad(h, payload)?;
            let frame = Frame::Data {
                stream,
                data: Bytes::new(),
                end_stream: flag(flags::END_STREAM),
                flow_len: h.len,
            };
            Ok((frame, Some((start, end))))
        }
        kind::HEADERS => {
            needs_stream("HEADERS on stream 0")?;
            let (mut start, end) = unpad(h, payload)?;
            let mut priority = None;
            if flag(flags::PRIORITY) {
                if end - start < 5 {
                    return Err(conn_err(
                        ErrorCode::FRAME_SIZE_ERROR,
                        "HEADERS too short for its priority fields",
                    ));
                }
                let p = parse_priority(&payload[start..start + 5]);
                if p.dependency == stream {
                    return Err(stream_err(
                        stream,
                        ErrorCode::PROTOCOL_ERROR,
                        "HEADERS priority depends on its own stream",
                    ));
                }
                priority = Some(p);
                start += 5;
            }
            let frame = Frame::Headers {
                stream,
                block: Bytes::new(),
                end_stream: flag(flags::END_STREAM),
                end_headers: flag(flags::END_HEADERS),
                priority,
            };
            Ok((frame, Some((start, end))))
        }
        kind::PRIORITY => {
            needs_stream("PRIORITY on stream 0")?;
            if payload.len() != 5 {
                return Err(stream_err(
                    stream,
                    ErrorCode::FRAME_SIZE_ERROR,
                    "PRIORITY length is not 5",
                ));
            }
            let priority = parse_priority(payload);
            if priority.dependency == stream {
                return Err(stream_err(
                    stream,
                    ErrorCode::PROTOCOL_ERROR,
                    "PRIORITY depends on its own stream",
                ));
            }
            Ok((Frame::Priority { stream, priority }, None))
        }
        kind::RST_STREAM => {
            needs_stream("RST_STREAM on stream 0")?;
            if payload.len() != 4 {
                return Err(conn_err(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "RST_STREAM length is not 4",
                ));
            }
            let code = ErrorCode(be32(payload));
            Ok((Frame::RstStream { stream, code }, None))
        }
        kind::SETTINGS => {
            needs_zero("SETTINGS on a stream")?;
            let ack = flag(flags::ACK);
            if ack && !payload.is_empty() {
                return Err(conn_err(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "SETTINGS ACK with a payload",
                ));
            }
            if !payload.len().is_multiple_of(6) {
                return Err(conn_err(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "SETTINGS length is not a multiple of 6",
                ));
            }
            let settings = parse_settings(payload)?;
            Ok((Frame::Settings { ack, settings }, None))
        }
        kind::PUSH_PROMISE => {
            needs_stream("PUSH_PROMISE on stream 0")?;
            let (start, end) = unpad(h, payload)?;
            if end - start < 4 {
                return Err(conn_err(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "PUSH_PROMISE too short for its promised stream id",
                ));
            }
            let promised = be32(&payload[start..]) & STREAM_MASK;
            let frame = Frame::PushPromise {
                stream,
                promised,
                block: Bytes::new(),
                end_headers: flag(flags::END_HEADERS),
            };
            Ok((frame, Some((start + 4, end))))
        }
        kind::PING => {
            needs_zero("PING on a stream")?;
            let payload: [u8; 8] = payload
                .try_into()
                .map_err(|_| conn_err(ErrorCode::FRAME_SIZE_ERROR, "PING length is not 8"))?;
            Ok((
                Frame::Ping {
                    ack: flag(flags::ACK),
                    payload,
                },
                None,
            ))
        }
        kind::GOAWAY => {
            needs_zero("GOAWAY on a stream")?;
            if payload.len() < 8 {
                return Err(conn_err(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "GOAWAY shorter than 8",
                ));
            }
            let frame = Frame::GoAway {
                last_stream: be32(payload) & STREAM_MASK,
                code: ErrorCode(be32(&payload[4..])),
                debug: Bytes::new(),
            };
            Ok((frame, Some((8, payload.len()))))
        }
        kind::WINDOW_UPDATE => {
            if payload.len() != 4 {
                return Err(conn_err(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "WINDOW_UPDATE length is not 4",
                ));
            }
            let increment = be32(payload) & STREAM_MASK;
            if increment == 0 {
                let reason = "WINDOW_UPDATE increment is 0";
                return Err(if stream == 0 {
                    conn_err(ErrorCode::PROTOCOL_ERROR, reason)
                } else {
                    stream_err(stream, ErrorCode::PROTOCOL_ERROR, reason)
                });
            }
            Ok((Frame::WindowUpdate { stream, increment }, None))
        }
        kind::CONTINUATION => {
            needs_stream("CONTINUATION on stream 0")?;
            let frame = Frame::Continuation {
                stream,
                block: Bytes::new(),
                end_headers: flag(flags::END_HEADERS),
            };
            Ok((frame, Some((0, payload.len()))))
        }
        other => Ok((
            Frame::Unknown {
                kind: other,
                flags: h.flags,
                stream,
                len: h.len,
            },
            None,
        )),
    }
}

/// The range of `payload` left once the pad-length byte and the padding
/// are removed (all of it without the PADDED flag).
fn unpad(h: FrameHeader, payload: &[u8]) -> Result<(usize, usize), FrameError> {
    if h.flags & flags::PADDED == 0 {
        return Ok((0, payload.len()));
    }
    match payload.first() {
        Some(&pad) if usize::from(pad) < payload.len() => Ok((1, payload.len() - usize::from(pad))),
        _ => Err(conn_err(
            ErrorCode::PROTOCOL_ERROR,
            "padding not shorter than the payload",
        )),
    }
}

/// The 5 priority bytes: exclusive bit and dependency, then weight.
fn parse_priority(b: &[u8]) -> Priority {
    let dep = be32(b);
    Priority {
        dependency: dep & STREAM_MASK,
        exclusive: dep & !STREAM_MASK != 0,
        weight: b[4],
    }
}

/// Parses SETTINGS parameters (`payload.len()` is a multiple of 6).
fn parse_settings(payload: &[u8]) -> Result<Settings, FrameError> {
    let mut s = Settings::default();
    let flag = |v: u32, reason: &'static str| match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(conn_err(ErrorCode::PROTOCOL_ERROR, reason)),
    };
    for entry in payload.chunks_exact(6) {
        let id = u16::from_be_bytes([entry[0], entry[1]]);
        let v = be32(&entry[2..]);
        match id {
            setting::HEADER_TABLE_SIZE => s.header_table_size = Some(v),
            setting::ENABLE_PUSH => {
                s.enable_push = Some(flag(v, "SETTINGS_ENABLE_PUSH is not 0 or 1")?);
            }
            setting::MAX_CONCURRENT_STREAMS => s.max_concurrent_streams = Some(v),
            setting::INITIAL_WINDOW_SIZE => {
                if v > MAX_WINDOW {
                    return Err(conn_err(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                    ));
                }
                s.initial_window_size = Some(v);
            }
            setting::MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&v) {
                    return Err(conn_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "SETTINGS_MAX_FRAME_SIZE outside 16384..=2^24-1",
                    ));
                }
                s.max_frame_size = Some(v);
            }
            setting::MAX_HEADER_LIST_SIZE => s.max_header_list_size = Some(v),
            setting::ENABLE_CONNECT_PROTOCOL => {
                s.enable_connect_protocol =
                    Some(flag(v, "SETTINGS_ENABLE_CONNECT_PROTOCOL is not 0 or 1")?);
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Appends `frame` (header + payload) to `out`. Never pads. debug_assert that the payload fits in MAX_MAX_FRAME_SIZE; splitting DATA and header blocks to the peer's max frame size is the caller's job.
///
/// Reserved bits (of stream ids, the promised id, the last stream id and
/// the window increment) are written as 0. Setting values are written as
/// given, unchecked.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use gwd_mux_h2::frame::{decode, encode, Frame, Priority, MAX_MAX_FRAME_SIZE};
///
/// let frame = Frame::Headers {
///     stream: 3,
///     block: Bytes::from_static(b"\x82\x84"),
///     end_stream: false,
///     end_headers: true,
///     priority: Some(Priority { dependency: 1, exclusive: true, weight: 15 }),
/// };
/// let mut out = BytesMut::new();
/// encode(&frame, &mut out);
/// assert_eq!(&out[..9], &[0, 0, 7, 1, 0x24, 0, 0, 0, 3]);
/// assert_eq!(decode(&mut out, MAX_MAX_FRAME_SIZE), Ok(Some(frame)));
/// ```
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    let header = |len: usize, kind: u8, flags: u8, stream: u32| {
        debug_assert!(len <= MAX_MAX_FRAME_SIZE as usize, "frame payload too long");
        FrameHeader {
            len: len as u32,
            kind,
            flags,
            stream,
        }
    };
    let bit = |on: bool, f: u8| if on { f } else { 0 };
    let kind = frame.kind();
    let stream = frame.stream();
    match frame {
        Frame::Data {
            data, end_stream, ..
        } => {
            let h = header(
                data.len(),
                kind,
                bit(*end_stream, flags::END_STREAM),
                stream,
            );
            out.reserve(HEADER_LEN + data.len());
            encode_header(h, out);
            out.extend_from_slice(data);
        }
        Frame::Headers {
            block,
            end_stream,
            end_headers,
            priority,
            ..
        } => {
            let len = block.len() + if priority.is_some() { 5 } else { 0 };
            let f = bit(*end_stream, flags::END_STREAM)
                | bit(*end_headers, flags::END_HEADERS)
                | bit(priority.is_some(), flags::PRIORITY);
            out.reserve(HEADER_LEN + len);
            encode_header(header(len, kind, f, stream), out);
            if let Some(p) = priority {
                put_priority(p, out);
            }
            out.extend_from_slice(block);
        }
        Frame::Priority { priority, .. } => {
            out.reserve(HEADER_LEN + 5);
            encode_header(header(5, kind, 0, stream), out);
            put_priority(priority, out);
        }
        Frame::RstStream { code, .. } => {
            out.reserve(HEADER_LEN + 4);
            encode_header(header(4, kind, 0, stream), out);
            out.put_u32(code.0);
        }
        Frame::Settings { ack, settings } => {
            debug_assert!(!*ack || settings.is_empty(), "SETTINGS ACK with parameters");
            let len = 6 * settings.len();
            out.reserve(HEADER_LEN + len);
            encode_header(header(len, kind, bit(*ack, flags::ACK), 0), out);
            for (id, v) in settings.entries() {
                out.put_u16(id);
                out.put_u32(v);
            }
        }
        Frame::PushPromise {
            promised,
            block,
            end_headers,
            ..
        } => {
            let len = 4 + block.len();
            out.reserve(HEADER_LEN + len);
            encode_header(
                header(len, kind, bit(*end_headers, flags::END_HEADERS), stream),
                out,
            );
            out.put_u32(promised & STREAM_MASK);
            out.extend_from_slice(block);
        }
        Frame::Ping { ack, payload } => {
            out.reserve(HEADER_LEN + 8);
            encode_header(header(8, kind, bit(*ack, flags::ACK), 0), out);
            out.extend_from_slice(payload);
        }
        Frame::GoAway {
            last_stream,
            code,
            debug,
        } => {
            let len = 8 + debug.len();
            out.reserve(HEADER_LEN + len);
            encode_header(header(len, kind, 0, 0), out);
            out.put_u32(last_stream & STREAM_MASK);
            out.put_u32(code.0);
            out.extend_from_slice(debug);
        }
        Frame::WindowUpdate { increment, .. } => {
            debug_assert!(
                (1..=MAX_WINDOW).contains(increment),
                "WINDOW_UPDATE increment out of range"
            );
            out.reserve(HEADER_LEN + 4);
            encode_header(header(4, kind, 0, stream), out);
            out.put_u32(increment & STREAM_MASK);
        }
        Frame::Continuation {
            block, end_headers, ..
        } => {
            out.reserve(HEADER_LEN + block.len());
            encode_header(
                header(
                    block.len(),
                    kind,
                    bit(*end_headers, flags::END_HEADERS),
                    stream,
                ),
                out,
            );
            out.extend_from_slice(block);
        }
        Frame::Unknown { flags, len, .. } => {
            debug_assert!(kind > kind::CONTINUATION, "Unknown frame with a known type");
            let len = *len as usize;
            out.reserve(HEADER_LEN + len);
            encode_header(header(len, kind, *flags, stream), out);
            out.put_bytes(0, len);
        }
    }
}

/// Writes the 5 priority bytes.
fn put_priority(p: &Priority, out: &mut BytesMut) {
    let excl = if p.exclusive { !STREAM_MASK } else { 0 };
    out.put_u32((p.dependency & STREAM_MASK) | excl);
    out.put_u8(p.weight);
}

#[cfg(test)]
mod tests;
