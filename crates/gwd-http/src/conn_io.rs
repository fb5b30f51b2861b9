//! Client-side timeouts, enforced on the connection's byte stream.
//!
//! hyper parses and frames; it does not know HAProxy's timeout model. This
//! wrapper does, from two facts the request handler publishes in
//! [`ConnShared`]: how many requests are in progress and how many request
//! bodies are still being read. From those it knows which phase the
//! connection is in and arms exactly one deadline for reads:
//!
//! | phase (HTTP/1)                        | deadline                                   | on expiry            |
//! |---------------------------------------|--------------------------------------------|----------------------|
//! | idle, no request yet                  | start + `http-request` (else `client`)     | close silently       |
//! | idle after a response                 | end + `http-keep-alive` (else `http-request`, else `client`) | close silently |
//! | request head partly received          | first byte + `http-request` (else `client`)| send 408, close      |
//! | request body being read               | last byte + `client`                       | close                |
//! | waiting for / sending the response    | none for reads                             |                      |
//!
//! Writes that cannot make progress for `client` fail the connection (a
//! visitor that stopped reading). HTTP/2 connections have no "partial
//! head" phase at this level (frames interleave), so they only use the
//! idle and body rules.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use gwd_config::Timeouts;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why a connection was closed by a client-side timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientTimeout {
    /// Idle between requests (`http-keep-alive` or `http-request`).
    Idle = 1,
    /// The request head did not arrive in time (`http-request`): 408 sent.
    RequestHead = 2,
    /// The request body or a response write stalled (`client`).
    Client = 3,
}

/// State shared between a connection's I/O wrapper and its request handler.
#[derive(Debug)]
pub struct ConnShared {
    base: Instant,
    active: AtomicUsize,
    reading_body: AtomicUsize,
    requests: AtomicU64,
    /// Nanoseconds after `base` when `active` last fell to 0.
    idle_since: AtomicU64,
    timed_out: AtomicU8,
}

impl ConnShared {
    pub fn new() -> Arc<ConnShared> {
        Arc::new(ConnShared {
            base: Instant::now(),
            active: AtomicUsize::new(0),
            reading_body: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            timed_out: AtomicU8::new(0),
        })
    }

    /// A request head was received; returns a guard that ends it.
    pub fn request_started(self: &Arc<Self>) -> ActiveGuard {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(self.clone())
    }

    /// A request body is being read; the guard marks its end.
    pub fn body_reading(self: &Arc<Self>) -> BodyGuard {
        self.reading_body.fetch_add(1, Ordering::AcqRel);
        BodyGuard(self.clone())
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Acquire)
    }

    pub fn timed_out(&self) -> Option<ClientTimeout> {
        match self.timed_out.load(Ordering::Acquire) {
            1 => Some(ClientTimeout::Idle),
            2 => Some(ClientTimeout::RequestHead),
            3 => Some(ClientTimeout::Client),
            _ => None,
        }
    }

    fn idle_since(&self) -> Instant {
        self.base + Duration::from_nanos(self.idle_since.load(Ordering::Acquire))
    }
}

/// Ends an in-progress request when dropped (after its response body).
#[derive(Debug)]
pub struct ActiveGuard(Arc<ConnShared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let s = &self.0;
        let nanos = s.base.elapsed().as_nanos() as u64;
        s.idle_since.store(nanos, Ordering::Release);
        s.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks the end of a request body read when dropped.
#[derive(Debug)]
pub struct BodyGuard(Arc<ConnShared>);

impl Drop for BodyGuard {
    fn drop(&mut self) {
        self.0.reading_body.fetch_sub(1, Ordering::AcqRel);
    }
}

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\ncontent-type: text/html\r\ncontent-length: 110\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";

/// The timed wrapper around a connection's stream.
#[derive(Debug)]
pub struct TimedIo<S> {
    inner: S,
    shared: Arc<ConnShared>,
    t: Timeouts,
    start: Instant,
    /// `Some(true)` once the stream is known to speak HTTP/2.
    h2: Option<bool>,
    /// Bytes seen so far while `h2` is undecided (reads may split the
    /// preface anywhere).
    probe: Vec<u8>,
    last_read: Instant,
    /// First byte of a request head not yet handed to the handler, and the
    /// request count at that moment.
    head: Option<(Instant, u64)>,
    /// Timers are armed lazily and only moved *earlier*: when one fires
    /// early (the real deadline moved later since), it is re-armed. This
    /// keeps the timer wheel out of the per-read path.
    read_timer: Pin<Box<Sleep>>,
    read_armed: Option<Instant>,
    write_stall: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
    write_armed: Option<Instant>,
}

impl<S> TimedIo<S> {
    /// `h2`: the protocol when already known (ALPN, `proto = "h2"`);
    /// `None` detects the HTTP/2 preface on the first bytes.
    pub fn new(inner: S, shared: Arc<ConnShared>, t: Timeouts, h2: Option<bool>) -> Self {
        let now = Instant::now();
        TimedIo {
            inner,
            shared,
            t,
            start: now,
            h2,
            probe: Vec::new(),
            last_read: now,
            head: None,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            read_armed: None,
            write_stall: None,
            write_timer: Box::pin(tokio::time::sleep_until(now)),
            write_armed: None,
        }
    }

    fn read_deadline(&mut self) -> Option<(Instant, ClientTimeout)> {
        let active = self.shared.active.load(Ordering::Acquire);
        let requests = self.shared.requests();
        if let Some((_, seen)) = self.head
            && requests != seen
        {
            self.head = None;
        }
        if self.shared.reading_body.load(Ordering::Acquire) > 0 {
            return self
                .t
                .client
                .map(|d| (self.last_read + d, ClientTimeout::Client));
        }
        if active > 0 {
            return None;
        }
        if let Some((first_byte, _)) = self.head {
            return self
                .t
                .http_request
                .or(self.t.client)
                .map(|d| (first_byte + d, ClientTimeout::RequestHead));
        }
        let (from, limit) = if requests == 0 {
            (self.start, self.t.http_request.or(self.t.client))
        } else {
            (
                self.shared.idle_since(),
                self.t
                    .http_keep_alive
                    .or(self.t.http_request)
                    .or(self.t.client),
            )
        };
        limit.map(|d| (from + d, ClientTimeout::Idle))
    }
}

/// The start of the HTTP/2 connection preface, enough to tell it from any
/// HTTP/1 request line.
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// Decides the protocol from the first bytes; `None` while they are still
/// a strict prefix of the preface.
fn detect_h2(probe: &mut Vec<u8>, got: &[u8]) -> Option<bool> {
    let need = H2_PREFACE_START.len() - probe.len();
    probe.extend_from_slice(&got[..got.len().min(need)]);
    if !H2_PREFACE_START.starts_with(probe) {
        return Some(false);
    }
    (probe.len() == H2_PREFACE_START.len()).then_some(true)
}

impl<S: AsyncRead + AsyncWrite + Unpin> TimedIo<S> {
    fn expire(&mut self, kind: ClientTimeout, cx: &mut Context<'_>) -> io::Error {
        self.shared.timed_out.store(kind as u8, Ordering::Release);
        if kind == ClientTimeout::RequestHead {
            // Best effort: the socket buffer is empty at this point (nothing
            // is being answered), so one write almost always takes it all.
            let _ = Pin::new(&mut self.inner).poll_write(cx, RESPONSE_408);
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
        }
        io::Error::new(io::ErrorKind::TimedOut, "client-side timeout")
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = &buf.filled()[before..];
                if !got.is_empty() {
                    let now = Instant::now();
                    this.last_read = now;
                    if this.h2.is_none() {
                        this.h2 = detect_h2(&mut this.probe, got);
                    }
                    if this.h2 == Some(false)
                        && this.head.is_none()
                        && this.shared.active.load(Ordering::Acquire) == 0
                    {
                        this.head = Some((now, this.shared.requests()));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => loop {
                let Some((deadline, kind)) = this.read_deadline() else {
                    return Poll::Pending;
                };
                match this.read_armed {
                    Some(armed) if armed <= deadline => {}
                    _ => {
                        this.read_timer.as_mut().reset(deadline);
                        this.read_armed = Some(deadline);
                    }
                }
                if this.read_timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.read_armed = None;
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(this.expire(kind, cx)));
                }
                // Fired for an older, earlier deadline: re-arm and wait on.
            },
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TimedIo<S> {
    fn on_write<T>(&mut self, r: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.write_stall = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let Some(limit) = self.t.client else {
                    return Poll::Pending;
                };
                let since = *self.write_stall.get_or_insert_with(Instant::now);
                let deadline = since + limit;
                loop {
                    match self.write_armed {
                        Some(armed) if armed <= deadline => {}
                        _ => {
                            self.write_timer.as_mut().reset(deadline);
                            self.write_armed = Some(deadline);
                        }
                    }
                    if self.write_timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.write_armed = None;
                    if Instant::now() >= deadline {
                        self.shared
                            .timed_out
                            .store(ClientTimeout::Client as u8, Ordering::Release);
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "client stopped reading",
                        )));
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.on_write(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.on_write(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.on_write(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// hyper's I/O traits over [`TimedIo`].
pub type HyperIo<S> = TokioIo<TimedIo<S>>;

use std::future::Future;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_preface_across_split_reads() {
        let mut p = Vec::new();
        assert_eq!(detect_h2(&mut p, b"PR"), None);
        assert_eq!(detect_h2(&mut p, b"I * HT"), None);
        assert_eq!(detect_h2(&mut p, b"TP/2.0\r\n\r\nSM\r\n\r\n"), Some(true));
        let mut p = Vec::new();
        assert_eq!(detect_h2(&mut p, b"POST / HTTP/1.1\r\n"), Some(false));
        let mut p = Vec::new();
        assert_eq!(detect_h2(&mut p, b"P"), None);
        assert_eq!(detect_h2(&mut p, b"UT /x HTTP/1.1"), Some(false));
        let mut p = Vec::new();
        assert_eq!(detect_h2(&mut p, b"GET / HTTP/1.1"), Some(false));
    }
}
