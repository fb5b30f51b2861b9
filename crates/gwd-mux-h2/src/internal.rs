//! The raw layer under [`crate::frame`]: frame type, flag and SETTINGS
//! identifier numbers, and the 9-byte frame header read and written on
//! its own.
//!
//! Public only so that this crate's tests and benches (and a driver that
//! must peek at a header before a whole frame is there) can reach it;
//! hidden from the docs and not part of the stable API, as rustls keeps
//! its message types. [`crate::frame::Frame`], [`crate::frame::decode`]
//! and [`crate::frame::encode`] are the API.

use bytes::BytesMut;

use crate::frame::{MAX_MAX_FRAME_SIZE, STREAM_MASK};

/// Length of a frame header on the wire.
pub const HEADER_LEN: usize = 9;

/// Frame type codes (RFC 9113 §6).
pub mod kind {
    /// DATA (§6.1).
    pub const DATA: u8 = 0;
    /// HEADERS (§6.2).
    pub const HEADERS: u8 = 1;
    /// PRIORITY (§6.3, deprecated but still parsed).
    pub const PRIORITY: u8 = 2;
    /// RST_STREAM (§6.4).
    pub const RST_STREAM: u8 = 3;
    /// SETTINGS (§6.5).
    pub const SETTINGS: u8 = 4;
    /// PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: u8 = 5;
    /// PING (§6.7).
    pub const PING: u8 = 6;
    /// GOAWAY (§6.8).
    pub const GOAWAY: u8 = 7;
    /// WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: u8 = 8;
    /// CONTINUATION (§6.10).
    pub const CONTINUATION: u8 = 9;
}

/// Frame flag bits (RFC 9113 §6). Each is meaningful only on the frame
/// types named in its doc; elsewhere it is ignored.
pub mod flags {
    /// DATA, HEADERS: the last frame the sender will send on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: this frame acknowledges the peer's.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad-length byte and padding are present.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: exclusive flag, stream dependency and weight are present.
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameter identifiers (RFC 9113 §6.5.2, RFC 8441 §3).
pub mod setting {
    /// `SETTINGS_HEADER_TABLE_SIZE`.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// `SETTINGS_ENABLE_PUSH`.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// `SETTINGS_INITIAL_WINDOW_SIZE`.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// `SETTINGS_MAX_FRAME_SIZE`.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441).
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// A frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub len: u32,
    /// Frame type (see [`kind`]).
    pub kind: u8,
    /// Flags (see [`flags`]).
    pub flags: u8,
    /// Stream id (31 bits, reserved bit cleared).
    pub stream: u32,
}

/// Parses the 9-byte header at the start of `buf` (reserved bit of the stream id cleared); None if fewer than 9 bytes.
///
/// Nothing is validated: the length may exceed any limit.
pub fn peek_header(buf: &[u8]) -> Option<FrameHeader> {
    let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
    Some(FrameHeader {
        len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
        kind: h[3],
        flags: h[4],
        stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & STREAM_MASK,
    })
}

/// Appends only a frame header (for callers that write a payload themselves).
///
/// The reserved bit of `h.stream` is cleared; `h.len` must fit in 24 bits
/// (debug-asserted).
///
/// ```
/// use bytes::BytesMut;
/// use gwd_mux_h2::internal::{encode_header, kind, peek_header, FrameHeader};
///
/// let h = FrameHeader { len: 3, kind: kind::DATA, flags: 0, stream: 5 };
/// let mut out = BytesMut::new();
/// encode_header(h, &mut out);
/// out.extend_from_slice(b"abc");
/// assert_eq!(peek_header(&out), Some(h));
/// ```
pub fn encode_header(h: FrameHeader, out: &mut BytesMut) {
    out.extend_from_slice(&header_bytes(h));
}

/// The 9 bytes of a frame header (the reserved bit of `h.stream`
/// cleared; `h.len` must fit in 24 bits, debug-asserted): for a caller
/// that writes the payload first and the header into the room it kept.
///
/// ```
/// use gwd_mux_h2::internal::{header_bytes, kind, peek_header, FrameHeader};
///
/// let h = FrameHeader { len: 3, kind: kind::HEADERS, flags: 4, stream: 1 };
/// assert_eq!(header_bytes(h), [0, 0, 3, 1, 4, 0, 0, 0, 1]);
/// assert_eq!(peek_header(&header_bytes(h)), Some(h));
/// ```
pub fn header_bytes(h: FrameHeader) -> [u8; HEADER_LEN] {
    debug_assert!(h.len <= MAX_MAX_FRAME_SIZE, "frame payload too long");
    debug_assert!(
        h.stream <= STREAM_MASK,
        "stream id has the reserved bit set"
    );
    let [_, l0, l1, l2] = h.len.to_be_bytes();
    let [s0, s1, s2, s3] = (h.stream & STREAM_MASK).to_be_bytes();
    [l0, l1, l2, h.kind, h.flags, s0, s1, s2, s3]
}
