//! Body plumbing: one boxed body type for everything the proxy sends, and
//! the wrappers that watch bodies stream through (byte counts, server
//! inactivity, end-of-transfer hooks).
//!
//! Bodies are never collected: frames go from one side to the other as
//! they arrive, so a 10 GB upload costs a few buffers, not 10 GB.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response gwd produces.
pub type Body = BoxBody<Bytes, BoxError>;

/// A complete in-memory body (error pages, `http-request return`).
pub fn full(data: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body fed chunk by chunk through a channel; it ends when every
/// sender is gone.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    struct Channel(tokio::sync::mpsc::Receiver<Bytes>);
    impl HttpBody for Channel {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
        }
    }
    Channel(rx).boxed()
}

/// How a watched body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every frame was delivered, end of stream seen.
    Complete,
    /// The inner body failed (peer reset, server timeout...).
    Failed(FailKind),
    /// Dropped before the end: the consumer went away.
    Abandoned,
}

/// Why a body failed, and so who is blamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// The server went quiet for `timeout server`.
    Timeout,
    /// The server (or its connection) failed.
    Error,
    /// The visitor's request body stalled for `timeout client` while the
    /// answer streamed.
    ClientTimeout,
    /// The visitor went away during its request body.
    ClientAborted,
    /// The visitor's request body framing broke.
    ClientMalformed,
}

impl FailKind {
    /// Classifies a body error by where it came from.
    pub fn of(e: &BoxError) -> FailKind {
        match e.downcast_ref::<ClientBodyError>() {
            Some(ClientBodyError::Timeout) => FailKind::ClientTimeout,
            Some(ClientBodyError::Aborted) => FailKind::ClientAborted,
            Some(ClientBodyError::Malformed(_)) => FailKind::ClientMalformed,
            None if is_timeout(e) => FailKind::Timeout,
            None => FailKind::Error,
        }
    }
}

/// The visitor's request body failed: the client's fault, whatever the
/// server then does. Upstreams tell the cases apart to blame the right
/// side.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    /// The framing was broken (bad chunk size, truncated chunk).
    #[error("malformed request body: {0}")]
    Malformed(#[from] gwd_h1::BodyError),
    /// No body bytes for `timeout client`.
    #[error("client stopped sending the request body (timeout client)")]
    Timeout,
    /// The visitor closed its connection (or reset its stream) before the
    /// body's end.
    #[error("client closed the connection during the request body")]
    Aborted,
}

/// True when a body error is a timeout (gwd's inactivity timer, or a
/// server connection's `timeout server`).
pub(crate) fn is_timeout(e: &BoxError) -> bool {
    e.is::<InactivityTimeout>()
        || e.downcast_ref::<crate::upstream::h1::ResponseBodyError>()
            .is_some_and(|r| r.is_timeout())
}

/// Error raised by [`Watched`] when its inactivity limit passes.
#[derive(Debug, thiserror::Error)]
#[error("no data for {0:?}")]
pub struct InactivityTimeout(pub Duration);

/// Wraps a body: counts bytes, enforces an inactivity timeout between
/// frames, and calls `on_end` exactly once with how it ended.
pub struct Watched<B: HttpBody, F: FnOnce(BodyEnd, u64)> {
    inner: B,
    bytes: u64,
    /// Inactivity limit, and the timer once armed. The timer is created on
    /// the first wait and only re-armed when it fires early, so a body that
    /// keeps flowing never touches the timer wheel per frame.
    idle: Option<(Duration, Option<Pin<Box<Sleep>>>)>,
    last_progress: Instant,
    on_end: Option<F>,
}

impl<B: HttpBody, F: FnOnce(BodyEnd, u64)> std::fmt::Debug for Watched<B, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl<B: HttpBody, F: FnOnce(BodyEnd, u64)> Watched<B, F> {
    pub fn new(inner: B, idle_timeout: Option<Duration>, on_end: F) -> Self {
        Watched {
            inner,
            bytes: 0,
            idle: idle_timeout.map(|d| (d, None)),
            last_progress: crate::clock::now(),
            on_end: Some(on_end),
        }
    }

    fn finish(&mut self, how: BodyEnd) {
        if let Some(f) = self.on_end.take() {
            f(how, self.bytes);
        }
    }
}

impl<B, F> HttpBody for Watched<B, F>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    F: FnOnce(BodyEnd, u64) + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.on_end.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                if this.idle.is_some() {
                    this.last_progress = crate::clock::now();
                }
                if this.inner.is_end_stream() {
                    this.finish(BodyEnd::Complete);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                this.finish(BodyEnd::Failed(FailKind::of(&e)));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish(BodyEnd::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some((d, sleep)) = &mut this.idle else {
                    return Poll::Pending;
                };
                let d = *d;
                let sleep = sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(this.last_progress + d))
                });
                loop {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let deadline = this.last_progress + d;
                    if crate::clock::fresh() >= deadline {
                        this.finish(BodyEnd::Failed(FailKind::Timeout));
                        return Poll::Ready(Some(Err(Box::new(InactivityTimeout(d)))));
                    }
                    // Data arrived since the timer was armed: wait on.
                    sleep.as_mut().reset(deadline);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.on_end.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: HttpBody, F: FnOnce(BodyEnd, u64)> Drop for Watched<B, F> {
    fn drop(&mut self) {
        // An empty body may be dropped without ever being polled.
        let how = if self.inner.is_end_stream() {
            BodyEnd::Complete
        } else {
            BodyEnd::Abandoned
        };
        self.finish(how);
    }
}

use std::future::Future;
