//! A scripted HTTP/2 peer that speaks raw frames, for tests that must check
//! exact bytes on the wire (handshakes, stream ids, hand-built HPACK).
//!
//! Model: a [`Peer`] owns any `AsyncRead + AsyncWrite` stream and an input
//! buffer. Tests write frames built with [`Frame`] (or raw bytes), and read
//! the peer's output frame by frame with [`Peer::read_frame`], each read
//! bounded by the peer's timeout so a silent or stuck implementation fails
//! the test instead of hanging it. Nothing is interpreted behind the test's
//! back: no automatic ACKs, no flow control, no HPACK state.
//!
//! HPACK support is deliberately minimal: [`hpack::encode_literal`] writes
//! "literal header field without indexing, new name" entries (no Huffman),
//! which every decoder must accept; [`hpack::decode_simple`] reads back the
//! subset of representations that tests hand-build (indexed static
//! entries and non-Huffman literals), and reports anything else as
//! unsupported rather than guessing.
//!
//! This crate depends on tokio (I/O traits, timeouts) and bytes only. It is a
//! test utility: it panics nowhere, but its errors are meant to be unwrapped.

use std::fmt;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The 24-byte HTTP/2 client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame type codes (RFC 9113 section 6).
pub mod kind {
    /// DATA
    pub const DATA: u8 = 0x0;
    /// HEADERS
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING
    pub const PING: u8 = 0x6;
    /// GOAWAY
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flag bits.
pub mod flags {
    /// END_STREAM (DATA, HEADERS)
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING)
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, CONTINUATION)
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS)
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS)
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers.
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// What went wrong reading from or writing to the peer.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The stream failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing (or not enough) arrived in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The stream ended.
    #[error("peer closed the stream while waiting for {0}")]
    Eof(&'static str),
    /// The bytes did not match what the script expected.
    #[error("unexpected bytes: {0}")]
    Mismatch(String),
}

impl PeerError {
    /// True for [`PeerError::Eof`] (the peer closed the connection).
    pub fn is_eof(&self) -> bool {
        matches!(self, PeerError::Eof(_))
    }
    /// True for [`PeerError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, PeerError::Timeout(..))
    }
}

/// One raw HTTP/2 frame: the 9-byte header fields and the payload.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Frame type code (see [`kind`]).
    pub kind: u8,
    /// Flag bits (see [`flags`]).
    pub flags: u8,
    /// Stream identifier (31 bits).
    pub stream_id: u32,
    /// Payload bytes.
    pub payload: Bytes,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Frame {{ {} flags={:#x} stream={} len={} }}",
            kind_name(self.kind),
            self.flags,
            self.stream_id,
            self.payload.len()
        )
    }
}

/// The RFC name of a frame type code.
pub fn kind_name(k: u8) -> &'static str {
    match k {
        kind::DATA => "DATA",
        kind::HEADERS => "HEADERS",
        kind::PRIORITY => "PRIORITY",
        kind::RST_STREAM => "RST_STREAM",
        kind::SETTINGS => "SETTINGS",
        kind::PUSH_PROMISE => "PUSH_PROMISE",
        kind::PING => "PING",
        kind::GOAWAY => "GOAWAY",
        kind::WINDOW_UPDATE => "WINDOW_UPDATE",
        kind::CONTINUATION => "CONTINUATION",
        _ => "UNKNOWN",
    }
}

impl Frame {
    /// A frame from its parts.
    pub fn new(kind: u8, flags: u8, stream_id: u32, payload: impl Into<Bytes>) -> Frame {
        Frame {
            kind,
            flags,
            stream_id,
            payload: payload.into(),
        }
    }

    /// SETTINGS with the given (identifier, value) pairs, in order.
    pub fn settings(values: &[(u16, u32)]) -> Frame {
        let mut p = BytesMut::with_capacity(values.len() * 6);
        for (id, v) in values {
            p.put_u16(*id);
            p.put_u32(*v);
        }
        Frame::new(kind::SETTINGS, 0, 0, p.freeze())
    }

    /// SETTINGS with the ACK flag.
    pub fn settings_ack() -> Frame {
        Frame::new(kind::SETTINGS, flags::ACK, 0, Bytes::new())
    }

    /// HEADERS carrying a complete header block (END_HEADERS set).
    pub fn headers(stream_id: u32, block: impl Into<Bytes>, end_stream: bool) -> Frame {
        let f = flags::END_HEADERS | if end_stream { flags::END_STREAM } else { 0 };
        Frame::new(kind::HEADERS, f, stream_id, block)
    }

    /// DATA.
    pub fn data(stream_id: u32, data: impl Into<Bytes>, end_stream: bool) -> Frame {
        let f = if end_stream { flags::END_STREAM } else { 0 };
        Frame::new(kind::DATA, f, stream_id, data)
    }

    /// PING (ACK when `ack`).
    pub fn ping(opaque: [u8; 8], ack: bool) -> Frame {
        Frame::new(
            kind::PING,
            if ack { flags::ACK } else { 0 },
            0,
            Bytes::copy_from_slice(&opaque),
        )
    }

    /// GOAWAY with last stream id, error code and optional debug data.
    pub fn goaway(last_stream_id: u32, error_code: u32, debug: &[u8]) -> Frame {
        let mut p = BytesMut::with_capacity(8 + debug.len());
        p.put_u32(last_stream_id & 0x7fff_ffff);
        p.put_u32(error_code);
        p.put_slice(debug);
        Frame::new(kind::GOAWAY, 0, 0, p.freeze())
    }

    /// RST_STREAM.
    pub fn rst_stream(stream_id: u32, error_code: u32) -> Frame {
        Frame::new(
            kind::RST_STREAM,
            0,
            stream_id,
            Bytes::copy_from_slice(&error_code.to_be_bytes()),
        )
    }

    /// WINDOW_UPDATE.
    pub fn window_update(stream_id: u32, increment: u32) -> Frame {
        Frame::new(
            kind::WINDOW_UPDATE,
            0,
            stream_id,
            Bytes::copy_from_slice(&(increment & 0x7fff_ffff).to_be_bytes()),
        )
    }

    /// The wire encoding: 9-byte header then payload.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(9 + self.payload.len());
        let len = self.payload.len() as u32;
        b.put_slice(&len.to_be_bytes()[1..]);
        b.put_u8(self.kind);
        b.put_u8(self.flags);
        b.put_u32(self.stream_id & 0x7fff_ffff);
        b.put_slice(&self.payload);
        b.freeze()
    }

    /// Parses one frame from the front of `buf`; `None` if incomplete.
    pub fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
        if buf.len() < 9 {
            return None;
        }
        let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
        if buf.len() < 9 + len {
            return None;
        }
        let sid = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
        Some((
            Frame::new(
                buf[3],
                buf[4],
                sid,
                Bytes::copy_from_slice(&buf[9..9 + len]),
            ),
            9 + len,
        ))
    }

    /// True when the frame has all of `f`'s bits.
    pub fn has_flags(&self, f: u8) -> bool {
        self.flags & f == f
    }

    /// Whether this is a SETTINGS frame with the ACK flag.
    pub fn is_settings_ack(&self) -> bool {
        self.kind == kind::SETTINGS && self.has_flags(flags::ACK)
    }

    /// The (identifier, value) pairs of a SETTINGS frame, in order.
    pub fn settings_values(&self) -> Option<Vec<(u16, u32)>> {
        if self.kind != kind::SETTINGS || !self.payload.len().is_multiple_of(6) {
            return None;
        }
        Some(
            self.payload
                .chunks(6)
                .map(|c| {
                    (
                        u16::from_be_bytes([c[0], c[1]]),
                        u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                    )
                })
                .collect(),
        )
    }

    /// The value of one SETTINGS identifier, if present.
    pub fn setting(&self, id: u16) -> Option<u32> {
        self.settings_values()?
            .into_iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v)
    }

    /// (last stream id, error code) of a GOAWAY frame.
    pub fn goaway_fields(&self) -> Option<(u32, u32)> {
        if self.kind != kind::GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let mut p = &self.payload[..];
        Some((p.get_u32() & 0x7fff_ffff, p.get_u32()))
    }

    /// The header block fragment of a HEADERS frame, without padding and
    /// priority fields.
    pub fn header_block(&self) -> Option<Bytes> {
        if self.kind != kind::HEADERS {
            return None;
        }
        let mut start = 0usize;
        let mut end = self.payload.len();
        if self.has_flags(flags::PADDED) {
            let pad = *self.payload.first()? as usize;
            start += 1;
            end = end.checked_sub(pad)?;
        }
        if self.has_flags(flags::PRIORITY) {
            start += 5;
        }
        if start > end {
            return None;
        }
        Some(self.payload.slice(start..end))
    }
}

/// Minimal HPACK helpers (see the crate docs for what is supported).
pub mod hpack {
    use bytes::{BufMut, Bytes, BytesMut};

    /// The static table (RFC 7541 appendix A), index 1..=61.
    pub const STATIC_TABLE: [(&str, &str); 61] = [
        (":authority", ""),
        (":method", "GET"),
        (":method", "POST"),
        (":path", "/"),
        (":path", "/index.html"),
        (":scheme", "http"),
        (":scheme", "https"),
        (":status", "200"),
        (":status", "204"),
        (":status", "206"),
        (":status", "304"),
        (":status", "400"),
        (":status", "404"),
        (":status", "500"),
        ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""),
        ("accept-ranges", ""),
        ("accept", ""),
        ("access-control-allow-origin", ""),
        ("age", ""),
        ("allow", ""),
        ("authorization", ""),
        ("cache-control", ""),
        ("content-disposition", ""),
        ("content-encoding", ""),
        ("content-language", ""),
        ("content-length", ""),
        ("content-location", ""),
        ("content-range", ""),
        ("content-type", ""),
        ("cookie", ""),
        ("date", ""),
        ("etag", ""),
        ("expect", ""),
        ("expires", ""),
        ("from", ""),
        ("host", ""),
        ("if-match", ""),
        ("if-modified-since", ""),
        ("if-none-match", ""),
        ("if-range", ""),
        ("if-unmodified-since", ""),
        ("last-modified", ""),
        ("link", ""),
        ("location", ""),
        ("max-forwards", ""),
        ("proxy-authenticate", ""),
        ("proxy-authorization", ""),
        ("range", ""),
        ("referer", ""),
        ("refresh", ""),
        ("retry-after", ""),
        ("server", ""),
        ("set-cookie", ""),
        ("strict-transport-security", ""),
        ("transfer-encoding", ""),
        ("user-agent", ""),
        ("vary", ""),
        ("via", ""),
        ("www-authenticate", ""),
    ];

    fn put_int(out: &mut BytesMut, first: u8, prefix_bits: u8, mut v: usize) {
        let max = (1usize << prefix_bits) - 1;
        if v < max {
            out.put_u8(first | v as u8);
            return;
        }
        out.put_u8(first | max as u8);
        v -= max;
        while v >= 128 {
            out.put_u8((v % 128) as u8 | 0x80);
            v /= 128;
        }
        out.put_u8(v as u8);
    }

    /// Encodes each (name, value) as "literal without indexing, new name",
    /// no Huffman. Names should be lower case.
    pub fn encode_literal(headers: &[(&str, &str)]) -> Bytes {
        let mut out = BytesMut::new();
        for (n, v) in headers {
            out.put_u8(0x00);
            put_int(&mut out, 0, 7, n.len());
            out.put_slice(n.as_bytes());
            put_int(&mut out, 0, 7, v.len());
            out.put_slice(v.as_bytes());
        }
        out.freeze()
    }

    fn get_int(buf: &[u8], pos: &mut usize, prefix_bits: u8) -> Option<usize> {
        let max = (1usize << prefix_bits) - 1;
        let mut v = (*buf.get(*pos)? as usize) & max;
        *pos += 1;
        if v < max {
            return Some(v);
        }
        let mut shift = 0;
        loop {
            let b = *buf.get(*pos)?;
            *pos += 1;
            v = v.checked_add(((b & 0x7f) as usize).checked_shl(shift)?)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
            if shift > 28 {
                return None;
            }
        }
    }

    fn get_str(buf: &[u8], pos: &mut usize) -> Result<String, &'static str> {
        let huffman = buf.get(*pos).ok_or("truncated")? & 0x80 != 0;
        if huffman {
            return Err("Huffman-coded string");
        }
        let len = get_int(buf, pos, 7).ok_or("bad length")?;
        let s = buf.get(*pos..*pos + len).ok_or("truncated string")?;
        *pos += len;
        String::from_utf8(s.to_vec()).map_err(|_| "non-UTF-8 string")
    }

    /// Decodes blocks made of indexed static entries and non-Huffman
    /// literals (any indexing mode, static-table or new names). Dynamic
    /// table references and Huffman strings give `Err` with the reason.
    pub fn decode_simple(block: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                let i = get_int(block, &mut pos, 7).ok_or("bad index")?;
                let (n, v) = STATIC_TABLE
                    .get(i.wrapping_sub(1))
                    .ok_or("dynamic table reference")?;
                out.push((n.to_string(), v.to_string()));
                continue;
            }
            if b & 0xe0 == 0x20 {
                // dynamic table size update
                get_int(block, &mut pos, 5).ok_or("bad size update")?;
                continue;
            }
            let prefix = if b & 0x40 != 0 { 6 } else { 4 };
            let i = get_int(block, &mut pos, prefix).ok_or("bad index")?;
            let name = if i == 0 {
                get_str(block, &mut pos)?
            } else {
                STATIC_TABLE
                    .get(i - 1)
                    .ok_or("dynamic table reference")?
                    .0
                    .to_string()
            };
            let value = get_str(block, &mut pos)?;
            out.push((name, value));
        }
        Ok(out)
    }
}

/// A scripted HTTP/2 endpoint over any byte stream.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use gwd_h2_test_support::{Frame, Peer, hpack, kind, setting};
///
/// let (a, b) = tokio::io::duplex(4096);
/// let mut client = Peer::new(a, Duration::from_secs(5));
/// let mut server = Peer::new(b, Duration::from_secs(5));
/// client.send_preface().await.unwrap();
/// client.send(&Frame::settings(&[(setting::ENABLE_PUSH, 0)])).await.unwrap();
/// client
///     .send(&Frame::headers(1, hpack::encode_literal(&[(":method", "GET")]), true))
///     .await
///     .unwrap();
///
/// server.expect_preface().await.unwrap();
/// server.expect_bytes(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]).await.unwrap();
/// let h = server.read_frame().await.unwrap();
/// assert_eq!((h.kind, h.stream_id), (kind::HEADERS, 1));
/// let fields = hpack::decode_simple(&h.header_block().unwrap()).unwrap();
/// assert_eq!(fields, vec![(":method".to_string(), "GET".to_string())]);
/// // Nothing more arrives: the read gives up after the timeout.
/// let mut quick = Peer::new(server.into_inner(), Duration::from_millis(20));
/// assert!(quick.read_frame().await.unwrap_err().is_timeout());
/// # }
/// ```
#[derive(Debug)]
pub struct Peer<S> {
    io: S,
    buf: BytesMut,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    /// Wraps `io`; every read waits at most `timeout`.
    pub fn new(io: S, timeout: Duration) -> Peer<S> {
        Peer {
            io,
            buf: BytesMut::with_capacity(16 * 1024),
            timeout,
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Writes raw bytes and flushes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), PeerError> {
        self.io.write_all(bytes).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Writes the client preface magic.
    pub async fn send_preface(&mut self) -> Result<(), PeerError> {
        self.send_raw(PREFACE).await
    }

    /// Writes one frame and flushes.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), PeerError> {
        self.send_raw(&frame.encode()).await
    }

    async fn fill(&mut self, n: usize, what: &'static str) -> Result<(), PeerError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        while self.buf.len() < n {
            let read = tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf))
                .await
                .map_err(|_| PeerError::Timeout(self.timeout, what))??;
            if read == 0 {
                return Err(PeerError::Eof(what));
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes.
    pub async fn read_exact_bytes(&mut self, n: usize) -> Result<Bytes, PeerError> {
        self.fill(n, "raw bytes").await?;
        Ok(self.buf.split_to(n).freeze())
    }

    /// Reads `expected.len()` bytes and checks they are exactly `expected`.
    pub async fn expect_bytes(&mut self, expected: &[u8]) -> Result<(), PeerError> {
        let got = self.read_exact_bytes(expected.len()).await?;
        if got[..] != expected[..] {
            return Err(PeerError::Mismatch(format!(
                "expected {expected:02x?}, got {:02x?}",
                &got[..]
            )));
        }
        Ok(())
    }

    /// Reads and checks the 24-byte client preface.
    pub async fn expect_preface(&mut self) -> Result<(), PeerError> {
        self.expect_bytes(PREFACE).await
    }

    /// Reads the next frame, waiting at most the peer's timeout.
    pub async fn read_frame(&mut self) -> Result<Frame, PeerError> {
        self.fill(9, "a frame header").await?;
        let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
        self.fill(9 + len, "a frame payload").await?;
        let (f, used) = Frame::parse(&self.buf).expect("complete frame");
        self.buf.advance(used);
        Ok(f)
    }

    /// Reads frames until one satisfies `pred`, returning it and the frames
    /// skipped before it.
    pub async fn read_until(
        &mut self,
        mut pred: impl FnMut(&Frame) -> bool,
    ) -> Result<(Frame, Vec<Frame>), PeerError> {
        let mut skipped = Vec::new();
        loop {
            let f = self.read_frame().await?;
            if pred(&f) {
                return Ok((f, skipped));
            }
            skipped.push(f);
        }
    }

    /// Reads the next frame that is not WINDOW_UPDATE or PING (those are
    /// returned in the second element; PINGs are not answered).
    pub async fn read_significant(&mut self) -> Result<(Frame, Vec<Frame>), PeerError> {
        self.read_until(|f| f.kind != kind::WINDOW_UPDATE && f.kind != kind::PING)
            .await
    }

    /// Waits until the peer closes the stream (EOF or a reset), returning
    /// the frames received meanwhile.
    pub async fn read_until_eof(&mut self) -> Result<Vec<Frame>, PeerError> {
        let mut frames = Vec::new();
        loop {
            match self.read_frame().await {
                Ok(f) => frames.push(f),
                Err(PeerError::Eof(_)) => return Ok(frames),
                Err(PeerError::Io(_)) => return Ok(frames),
                Err(e) => return Err(e),
            }
        }
    }

    /// Consumes the peer, returning the stream.
    pub fn into_inner(self) -> S {
        self.io
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_roundtrip() {
        let f = Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]);
        let wire = f.encode();
        assert_eq!(
            &wire[..],
            &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100][..]
        );
        let (back, used) = Frame::parse(&wire).unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(back, f);
        assert_eq!(back.setting(setting::MAX_CONCURRENT_STREAMS), Some(100));
        assert!(Frame::parse(&wire[..8]).is_none());
        assert!(Frame::parse(&wire[..14]).is_none());
        assert_eq!(
            &Frame::settings_ack().encode()[..],
            &[0, 0, 0, 4, 1, 0, 0, 0, 0][..]
        );
        assert_eq!(Frame::goaway(7, 2, b"x").goaway_fields(), Some((7, 2)));
    }

    #[test]
    fn hpack_literal_roundtrip_and_static() {
        let block = hpack::encode_literal(&[(":status", "200"), ("x-a", "b")]);
        assert_eq!(
            hpack::decode_simple(&block).unwrap(),
            vec![
                (":status".to_string(), "200".to_string()),
                ("x-a".to_string(), "b".to_string())
            ]
        );
        // HAProxy reg-test block: :status 200 + content-length "0" with indexing.
        let got = hpack::decode_simple(&[0x88, 0x5c, 0x01, 0x30]).unwrap();
        assert_eq!(got[0], (":status".into(), "200".into()));
        assert_eq!(got[1], ("content-length".into(), "0".into()));
        assert!(hpack::decode_simple(&[0xbe]).is_err());
        let long = "v".repeat(300);
        let block = hpack::encode_literal(&[("k", &long)]);
        assert_eq!(hpack::decode_simple(&block).unwrap()[0].1, long);
    }

    #[tokio::test]
    async fn peer_reads_frames_and_times_out() {
        let (a, b) = tokio::io::duplex(1024);
        let mut pa = Peer::new(a, Duration::from_secs(5));
        let mut pb = Peer::new(b, Duration::from_millis(50));
        pa.send_preface().await.unwrap();
        pa.send(&Frame::ping([1; 8], false)).await.unwrap();
        pb.expect_preface().await.unwrap();
        let f = pb.read_frame().await.unwrap();
        assert_eq!(f.kind, kind::PING);
        assert_eq!(&f.payload[..], &[1; 8]);
        assert!(pb.read_frame().await.unwrap_err().is_timeout());
        drop(pa);
        assert!(pb.read_frame().await.unwrap_err().is_eof());
    }
}
