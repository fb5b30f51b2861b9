//! The I/O adapter that lets stock `h2` roles run reversed, and the frame
//! sniffer that reports the peer's first SETTINGS, GOAWAY and activity.
//!
//! - Gateway ([`Side::Gateway`], h2 *client* role): the peer (origin) sends
//!   the 24-byte client preface, which an h2 client does not expect, so the
//!   adapter checks and swallows it on the read side; the h2 client writes a
//!   preface of its own, which the adapter drops on the write side. The
//!   gateway therefore sends only SETTINGS.
//! - Origin ([`Side::Origin`], h2 *server* role): the dialer writes the real
//!   preface itself before h2 starts; the gateway never sends one, so the
//!   adapter feeds h2's server the 24 bytes it expects on the read side.
//!
//! Past the preface every byte passes through unchanged; the sniffer only
//! follows frame boundaries on the read side.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

/// The 24-byte HTTP/2 client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const MAX_CAPTURE: usize = 6 * 64;

/// Which end of a tunnel an adapter serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Passive TLS server, HTTP/2 client after reversal.
    Gateway,
    /// Active TLS client (dialer), HTTP/2 server after reversal.
    Origin,
}

/// The values of the peer's first SETTINGS frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSettings {
    /// Every (identifier, value) pair, in wire order.
    pub raw: Vec<(u16, u32)>,
}

impl PeerSettings {
    fn get(&self, id: u16) -> Option<u32> {
        self.raw
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }
    /// SETTINGS_MAX_CONCURRENT_STREAMS, when sent (absent = unlimited).
    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.get(0x3)
    }
    /// SETTINGS_INITIAL_WINDOW_SIZE, when sent.
    pub fn initial_window_size(&self) -> Option<u32> {
        self.get(0x4)
    }
    /// SETTINGS_MAX_FRAME_SIZE, when sent.
    pub fn max_frame_size(&self) -> Option<u32> {
        self.get(0x5)
    }
    /// SETTINGS_ENABLE_PUSH, when sent.
    pub fn enable_push(&self) -> Option<u32> {
        self.get(0x2)
    }
}

/// A GOAWAY received from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoAway {
    /// The last stream id the peer will process.
    pub last_stream_id: u32,
    /// The HTTP/2 error code (0 = NO_ERROR, a graceful close).
    pub error_code: u32,
}

impl GoAway {
    /// True for NO_ERROR.
    pub fn is_graceful(&self) -> bool {
        self.error_code == 0
    }
}

/// Why a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The HTTP/2 connection finished (GOAWAY exchange or peer close).
    Finished,
    /// The HTTP/2 connection failed with an error.
    Error,
    /// PINGs went unanswered.
    PingTimeout,
    /// Closed by [`crate::Tunnel::abort`] or the dialer.
    Aborted,
}

/// What is known about the peer so far, published on a watch channel.
#[derive(Debug, Clone, Default)]
pub struct TunnelEvents {
    /// The peer's first SETTINGS (the reversal trigger), once received.
    pub settings: Option<PeerSettings>,
    /// The last GOAWAY received from the peer.
    pub goaway: Option<GoAway>,
    /// Set once this side decided to close gracefully.
    pub closing: bool,
    /// Set once the connection is gone.
    pub closed: Option<CloseReason>,
}

impl TunnelEvents {
    /// No new requests may go to this tunnel.
    pub fn is_unusable(&self) -> bool {
        self.goaway.is_some() || self.closing || self.closed.is_some()
    }
}

/// State shared between the adapter, the connection task and handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) events: watch::Sender<TunnelEvents>,
    base: Instant,
    last_read_ms: AtomicU64,
    /// Round trip of the last answered PING, µs + 1 (0: none yet).
    last_rtt_us: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            events: watch::Sender::new(TunnelEvents::default()),
            base: Instant::now(),
            last_read_ms: AtomicU64::new(0),
            last_rtt_us: AtomicU64::new(0),
        })
    }

    /// Records an answered PING's round trip.
    pub(crate) fn record_rtt(&self, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX - 1);
        self.last_rtt_us.store(us + 1, Ordering::Relaxed);
    }

    /// The last answered PING's round trip.
    pub(crate) fn last_rtt(&self) -> Option<Duration> {
        match self.last_rtt_us.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_micros(n - 1)),
        }
    }

    /// Time since bytes last arrived from the peer.
    pub(crate) fn idle_for(&self) -> Duration {
        let now = self.base.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.last_read_ms.load(Ordering::Relaxed),
        ))
    }

    fn touch(&self) {
        self.last_read_ms
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn mark_closed(&self, reason: CloseReason) {
        self.events.send_if_modified(|e| {
            if e.closed.is_none() {
                e.closed = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn mark_closing(&self) {
        self.events.send_if_modified(|e| {
            let changed = !e.closing;
            e.closing = true;
            changed
        });
    }
}

/// Marks the tunnel closed when dropped (the connection task holds one, so
/// aborting the task still publishes the close).
#[derive(Debug)]
pub(crate) struct CloseOnDrop(pub(crate) Arc<Shared>, pub(crate) CloseReason);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.mark_closed(self.1);
    }
}

/// Follows frame boundaries in the received byte stream.
#[derive(Debug, Default)]
struct Sniffer {
    hdr: [u8; 9],
    hdr_len: usize,
    remaining: usize,
    capture: Option<(u8, Vec<u8>)>,
    capture_limit: usize,
    settings_seen: bool,
}

impl Sniffer {
    fn feed(&mut self, mut data: &[u8], shared: &Shared) {
        while !data.is_empty() {
            if self.hdr_len < 9 {
                let n = (9 - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
                self.hdr_len += n;
                data = &data[n..];
                if self.hdr_len == 9 {
                    self.start_frame(shared);
                }
                continue;
            }
            let n = self.remaining.min(data.len());
            if let Some((_, buf)) = &mut self.capture {
                let take = n.min(self.capture_limit.saturating_sub(buf.len()));
                buf.extend_from_slice(&data[..take]);
            }
            self.remaining -= n;
            data = &data[n..];
            if self.remaining == 0 {
                self.end_frame(shared);
            }
        }
    }

    fn start_frame(&mut self, shared: &Shared) {
        let len = u32::from_be_bytes([0, self.hdr[0], self.hdr[1], self.hdr[2]]) as usize;
        let kind = self.hdr[3];
        let ack = self.hdr[4] & 0x1 != 0;
        self.remaining = len;
        self.capture = None;
        if kind == SETTINGS && !ack && !self.settings_seen {
            self.capture = Some((SETTINGS, Vec::with_capacity(len.min(MAX_CAPTURE))));
            self.capture_limit = MAX_CAPTURE;
        } else if kind == GOAWAY {
            self.capture = Some((GOAWAY, Vec::with_capacity(8)));
            self.capture_limit = 8;
        }
        if len == 0 {
            self.end_frame(shared);
        }
    }

    fn end_frame(&mut self, shared: &Shared) {
        self.hdr_len = 0;
        match self.capture.take() {
            Some((SETTINGS, buf)) => {
                self.settings_seen = true;
                let raw = buf
                    .chunks_exact(6)
                    .map(|c| {
                        (
                            u16::from_be_bytes([c[0], c[1]]),
                            u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                        )
                    })
                    .collect();
                shared.events.send_modify(|e| {
                    e.settings = Some(PeerSettings { raw });
                });
            }
            Some((GOAWAY, buf)) if buf.len() == 8 => {
                let g = GoAway {
                    last_stream_id: u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])
                        & 0x7fff_ffff,
                    error_code: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
                };
                shared.events.send_modify(|e| e.goaway = Some(g));
            }
            _ => {}
        }
    }
}

/// The reversing I/O adapter (see the module docs).
#[derive(Debug)]
pub(crate) struct ReverseIo<S> {
    inner: S,
    side: Side,
    /// Gateway: preface bytes of the peer still to check.
    /// Origin: preface bytes still to feed to h2's server.
    read_preface: usize,
    /// Gateway: bytes of h2's own preface still to drop.
    write_skip: usize,
    sniffer: Sniffer,
    shared: Arc<Shared>,
}

impl<S> ReverseIo<S> {
    pub(crate) fn new(inner: S, side: Side, shared: Arc<Shared>) -> Self {
        ReverseIo {
            inner,
            side,
            read_preface: PREFACE.len(),
            write_skip: if side == Side::Gateway {
                PREFACE.len()
            } else {
                0
            },
            sniffer: Sniffer::default(),
            shared,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReverseIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read_preface > 0 {
            let off = PREFACE.len() - this.read_preface;
            match this.side {
                Side::Origin => {
                    let n = this.read_preface.min(buf.remaining());
                    buf.put_slice(&PREFACE[off..off + n]);
                    this.read_preface -= n;
                    return Poll::Ready(Ok(()));
                }
                Side::Gateway => {
                    while this.read_preface > 0 {
                        let off = PREFACE.len() - this.read_preface;
                        let mut tmp = [0u8; 24];
                        let mut rb = ReadBuf::new(&mut tmp[..this.read_preface]);
                        match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                            Poll::Ready(Ok(())) => {}
                        }
                        let got = rb.filled();
                        if got.is_empty() {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "peer closed before sending the HTTP/2 preface",
                            )));
                        }
                        this.shared.touch();
                        if got != &PREFACE[off..off + got.len()] {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "peer did not send the HTTP/2 client preface",
                            )));
                        }
                        this.read_preface -= got.len();
                    }
                }
            }
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                this.shared.touch();
                this.sniffer.feed(new, &this.shared);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReverseIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_skip > 0 {
            let off = PREFACE.len() - this.write_skip;
            let n = this.write_skip.min(buf.len());
            if buf[..n] != PREFACE[off..off + n] {
                return Poll::Ready(Err(io::Error::other(
                    "h2 client did not start with its preface",
                )));
            }
            this.write_skip -= n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.write_skip > 0 {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_frame(values: &[(u16, u32)], ack: bool) -> Vec<u8> {
        let len = values.len() * 6;
        let mut v = vec![0, 0, len as u8, SETTINGS, ack as u8, 0, 0, 0, 0];
        for (i, x) in values {
            v.extend_from_slice(&i.to_be_bytes());
            v.extend_from_slice(&x.to_be_bytes());
        }
        v
    }

    #[test]
    fn sniffer_reports_first_settings_and_goaway_across_splits() {
        let mut wire = settings_frame(&[], true);
        wire.extend(settings_frame(&[(3, 100), (4, 65535)], false));
        wire.extend(settings_frame(&[(3, 7)], false));
        wire.extend([0, 0, 8, GOAWAY, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]);
        for chunk in [1usize, 2, 5, 64] {
            let shared = Shared::new();
            let mut s = Sniffer::default();
            for piece in wire.chunks(chunk) {
                s.feed(piece, &shared);
            }
            let e = shared.events.borrow().clone();
            let st = e.settings.expect("settings seen");
            assert_eq!(st.max_concurrent_streams(), Some(100), "chunk {chunk}");
            assert_eq!(st.initial_window_size(), Some(65535));
            assert_eq!(
                e.goaway,
                Some(GoAway {
                    last_stream_id: 5,
                    error_code: 0
                })
            );
        }
    }

    #[tokio::test]
    async fn gateway_rejects_a_missing_preface() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut a, b) = tokio::io::duplex(256);
        let mut io = ReverseIo::new(b, Side::Gateway, Shared::new());
        a.write_all(&settings_frame(&[(3, 1)], false))
            .await
            .unwrap();
        a.write_all(&[0u8; 24]).await.unwrap();
        let mut buf = [0u8; 64];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn origin_feeds_preface_and_gateway_drops_its_own() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = tokio::io::duplex(256);
        let mut io = ReverseIo::new(a, Side::Origin, Shared::new());
        let mut got = [0u8; 24];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, PREFACE);
        b.write_all(b"xyz").await.unwrap();
        let mut rest = [0u8; 3];
        io.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"xyz");

        let (c, mut d) = tokio::io::duplex(256);
        let mut gw = ReverseIo::new(c, Side::Gateway, Shared::new());
        gw.write_all(PREFACE).await.unwrap();
        gw.write_all(b"abc").await.unwrap();
        drop(gw);
        let mut out = Vec::new();
        d.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"abc");
    }
}
