//! Gateway side: turning an accepted registration connection into a
//! [`Tunnel`] on which the gateway sends requests (HTTP/2 client role, on
//! `gwd-mux-h2`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gwd_h2_conn::{BoxError, IncomingBody, Mux, Unsent, pump};
use gwd_head::{RequestHead, ResponseHead};
use gwd_mux_h2::conn::{Config, Connection, HeadFields, Protocol, SendErrorKind};
use gwd_mux_h2::frame::Settings;
use http::{Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::error::{RhttpError, ping_error};
use crate::io::{CloseOnDrop, CloseReason, Shared, TunnelEvents};
use crate::keepalive;

/// Settings of the gateway end of tunnels.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// How long the origin has to send its preface and first SETTINGS.
    pub handshake_timeout: Duration,
    /// Send a PING after this much silence from the origin; close the tunnel
    /// when it is not answered within the same delay (so a dead origin is
    /// dropped within two intervals). `None`: no PINGs.
    pub idle_ping: Option<Duration>,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE (response bodies).
    pub initial_window_size: u32,
    /// Our connection-level receive window.
    pub initial_connection_window_size: u32,
    /// Stream limit used when the origin sends no MAX_CONCURRENT_STREAMS.
    pub default_stream_limit: usize,
    /// Upper bound on the per-tunnel stream limit, whatever the origin allows.
    pub max_stream_limit: usize,
}

impl Default for GatewayOptions {
    /// 5 s handshake, no PINGs, 1 MiB stream / 4 MiB connection windows,
    /// 100 streams by default, at most 1000.
    fn default() -> Self {
        GatewayOptions {
            handshake_timeout: Duration::from_secs(5),
            idle_ping: None,
            initial_window_size: 1 << 20,
            initial_connection_window_size: 4 << 20,
            default_stream_limit: 100,
            max_stream_limit: 1000,
        }
    }
}

static NEXT_TUNNEL_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
struct TunnelInner {
    id: u64,
    mux: Mux,
    /// Cleared by [`Tunnel::close`]: slots reserved later cannot send.
    accepting: std::sync::atomic::AtomicBool,
    shared: Arc<Shared>,
    settings: Settings,
    limit: usize,
    active: AtomicUsize,
    freed: Mutex<Vec<Arc<Notify>>>,
    driver: AbortHandle,
    /// One PING in flight per tunnel.
    ping: tokio::sync::Mutex<()>,
    reversal_latency: Duration,
    up_since: Instant,
    peer_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

impl Drop for TunnelInner {
    fn drop(&mut self) {
        // The last handle is gone: nobody can send any more; in-flight
        // streams finish, then GOAWAY closes the connection.
        self.shared.mark_closing();
        self.mux.go_away();
    }
}

/// One reversed connection, gateway side: the gateway sends requests on it.
///
/// Cheap to clone; all clones are the same tunnel. Dropping every clone (and
/// every in-flight response) closes the tunnel gracefully with GOAWAY.
#[derive(Debug, Clone)]
pub struct Tunnel {
    inner: Arc<TunnelInner>,
}

/// A reserved place in a tunnel's stream count; releases it when dropped.
#[derive(Debug)]
pub(crate) struct StreamSlot {
    tunnel: Arc<TunnelInner>,
    /// Taken at reservation: a slot reserved before [`Tunnel::close`] can
    /// still send.
    may_send: bool,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.tunnel.active.fetch_sub(1, Ordering::AcqRel);
        let list = self.tunnel.freed.lock().expect("freed list");
        for n in list.iter() {
            n.notify_waiters();
        }
    }
}

/// Performs the gateway half of the reversal on an accepted connection
/// (normally a `tokio_rustls::server::TlsStream` whose client certificate
/// rustls has verified and whose ALPN is `h2`, see
/// [`crate::check_alpn_h2`]).
///
/// Wire sequence: we send SETTINGS (no preface); the origin's 24-byte
/// preface is checked and its first SETTINGS awaited (bounded by
/// `handshake_timeout`); h2 ACKs it. The returned tunnel sends requests on
/// streams 1, 3, 5...
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use gwd_h2_test_support::{Frame, Peer, kind, setting};
/// use gwd_rhttp::{GatewayOptions, accept_tunnel};
///
/// let (gateway_io, origin_io) = tokio::io::duplex(64 * 1024);
/// let gateway =
///     tokio::spawn(async move { accept_tunnel(gateway_io, &GatewayOptions::default()).await });
/// // A scripted origin, doing what HAProxy's dialer does.
/// let mut origin = Peer::new(origin_io, Duration::from_secs(5));
/// let first = origin.read_frame().await.unwrap();
/// assert_eq!(first.kind, kind::SETTINGS); // the gateway sends no preface
/// origin.send_preface().await.unwrap();
/// origin
///     .send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
///     .await
///     .unwrap();
/// let tunnel = gateway.await.unwrap().unwrap();
/// assert_eq!(tunnel.peer_max_concurrent_streams(), Some(100));
/// # }
/// ```
pub async fn accept_tunnel<IO>(io: IO, opts: &GatewayOptions) -> Result<Tunnel, RhttpError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if opts.default_stream_limit == 0 || opts.max_stream_limit == 0 {
        return Err(RhttpError::Config("stream limits must be positive".into()));
    }
    let started = Instant::now();
    let shared = Shared::new();
    // Reversed: the origin dialed, so it sends the preface; we do not, and
    // we open the streams once its SETTINGS arrive.
    let mut cfg = Config::reverse_acceptor();
    cfg.settings = Settings {
        enable_push: Some(false),
        initial_window_size: Some(opts.initial_window_size),
        ..Settings::default()
    };
    cfg.connection_window = opts.initial_connection_window_size;
    let mux = Mux::new(Connection::new(cfg), shared.clone());
    let guard_shared = shared.clone();
    let driver_mux = mux.clone();
    let driver = tokio::spawn(async move {
        let mut guard = CloseOnDrop(guard_shared, CloseReason::Finished);
        // The gateway never accepts streams: the state machine refuses any.
        guard.1 = driver_mux.drive(io, |_| {}).await.into();
        if guard.1 == CloseReason::Error {
            tracing::debug!("rhttp gateway tunnel connection ended with an error");
        }
    });
    let mut events = shared.events.subscribe();
    let waited = tokio::time::timeout(
        opts.handshake_timeout,
        events.wait_for(|e| e.settings.is_some() || e.closed.is_some()),
    )
    .await;
    let settings = match waited {
        Err(_) => {
            driver.abort();
            return Err(RhttpError::Timeout {
                what: "reversal handshake",
                after: opts.handshake_timeout,
            });
        }
        Ok(Err(_)) => {
            driver.abort();
            return Err(RhttpError::ClosedDuringHandshake);
        }
        Ok(Ok(e)) => match &e.settings {
            Some(s) => *s,
            None => {
                driver.abort();
                return Err(RhttpError::ClosedDuringHandshake);
            }
        },
    };
    let limit = settings
        .max_concurrent_streams
        .map_or(opts.default_stream_limit, |m| m as usize)
        .min(opts.max_stream_limit);
    let inner = Arc::new(TunnelInner {
        id: NEXT_TUNNEL_ID.fetch_add(1, Ordering::Relaxed),
        mux,
        accepting: std::sync::atomic::AtomicBool::new(true),
        shared: shared.clone(),
        settings,
        limit,
        active: AtomicUsize::new(0),
        freed: Mutex::new(Vec::new()),
        driver: driver.abort_handle(),
        ping: tokio::sync::Mutex::new(()),
        reversal_latency: started.elapsed(),
        up_since: Instant::now(),
        peer_addr: std::sync::OnceLock::new(),
    });
    let tunnel = Tunnel { inner };
    if let Some(iv) = opts.idle_ping {
        let weak = Arc::downgrade(&tunnel.inner);
        tokio::spawn(keepalive::run(
            iv,
            shared,
            move || {
                let inner = weak.upgrade()?;
                let t = Tunnel { inner };
                Some(async move { t.ping_once().await })
            },
            {
                let abort = driver.abort_handle();
                move || abort.abort()
            },
        ));
    }
    Ok(tunnel)
}

impl Tunnel {
    /// Records the origin's address (the accepted socket's peer), for
    /// [`crate::TunnelRegistry::snapshot`]. Only the first call counts.
    pub fn set_peer_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.inner.peer_addr.set(addr);
    }

    /// The origin's address, when [`Tunnel::set_peer_addr`] was called.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.peer_addr.get().copied()
    }

    /// Round trip of the last answered idle PING (`idle_ping` set), or of
    /// the last [`Tunnel::ping`].
    pub fn last_ping_rtt(&self) -> Option<Duration> {
        self.inner.shared.last_rtt()
    }

    /// A process-unique id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The origin's first SETTINGS (what it did not send is `None`).
    pub fn peer_settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The origin's SETTINGS_MAX_CONCURRENT_STREAMS, if it sent one.
    pub fn peer_max_concurrent_streams(&self) -> Option<u32> {
        self.inner.settings.max_concurrent_streams
    }

    /// How many streams this side allows itself at once on the tunnel.
    pub fn stream_limit(&self) -> usize {
        self.inner.limit
    }

    /// Streams currently counted (requests whose response body is not done).
    pub fn active_streams(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Time from accept to the origin's SETTINGS.
    pub fn reversal_latency(&self) -> Duration {
        self.inner.reversal_latency
    }

    /// When the tunnel became usable.
    pub fn up_since(&self) -> Instant {
        self.inner.up_since
    }

    /// A snapshot of what is known about the peer and the connection.
    pub fn events(&self) -> TunnelEvents {
        self.inner.shared.events.borrow().clone()
    }

    /// A receiver for changes (GOAWAY received, closing, closed).
    pub fn subscribe(&self) -> watch::Receiver<TunnelEvents> {
        self.inner.shared.events.subscribe()
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.events.borrow().closed.is_some()
    }

    /// True when no new request may be sent (GOAWAY received, closing or
    /// closed).
    pub fn is_unusable(&self) -> bool {
        self.inner.shared.events.borrow().is_unusable()
    }

    /// Completes when the connection is gone, with the reason.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.subscribe();
        match rx.wait_for(|e| e.closed.is_some()).await {
            Ok(e) => e.closed.unwrap_or(CloseReason::Finished),
            Err(_) => CloseReason::Finished,
        }
    }

    /// Completes when the tunnel stops taking new requests.
    pub async fn unusable(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|e| e.is_unusable()).await;
    }

    /// Graceful close: no new requests; GOAWAY(NO_ERROR) is sent and the
    /// connection closes once in-flight streams finish.
    pub fn close(&self) {
        self.inner.shared.mark_closing();
        self.inner.accepting.store(false, Ordering::Release);
        self.inner.mux.go_away();
    }

    /// Immediate close: in-flight requests fail.
    pub fn abort(&self) {
        self.inner.shared.mark_closing();
        self.inner.accepting.store(false, Ordering::Release);
        self.inner.shared.mark_closed(CloseReason::Aborted);
        self.inner.driver.abort();
    }

    /// Sends one PING and returns the round-trip time, waiting at most
    /// `timeout`. Only one PING is in flight per tunnel; concurrent calls wait.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, RhttpError> {
        tokio::time::timeout(timeout, self.ping_once())
            .await
            .map_err(|_| RhttpError::Timeout {
                what: "PING",
                after: timeout,
            })?
    }

    async fn ping_once(&self) -> Result<Duration, RhttpError> {
        let _one = self.inner.ping.lock().await;
        // The RTT is recorded by the driver when the ACK arrives.
        self.inner.mux.ping().await.map_err(ping_error)
    }

    /// Reserves a stream slot if the tunnel is usable and below its limit.
    pub(crate) fn try_reserve(&self) -> Option<StreamSlot> {
        if self.is_unusable() {
            return None;
        }
        let mut cur = self.inner.active.load(Ordering::Acquire);
        loop {
            if cur >= self.inner.limit {
                return None;
            }
            match self.inner.active.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let may_send = self.inner.accepting.load(Ordering::Acquire);
                    // Dropping a slot that may not send gives the place back.
                    let slot = StreamSlot {
                        tunnel: self.inner.clone(),
                        may_send,
                    };
                    return may_send.then_some(slot);
                }
                Err(c) => cur = c,
            }
        }
    }

    pub(crate) fn watch_freed(&self, n: Arc<Notify>) {
        self.inner.freed.lock().expect("freed list").push(n);
    }

    /// Sends a request on this tunnel and waits for the response head.
    ///
    /// The stream counts against the tunnel's stream limit even when the
    /// limit is already reached: this is the direct way, for a caller that
    /// holds the tunnel and paces itself. To respect limits across callers
    /// and tunnels, take a [`crate::Lease`] from a
    /// [`crate::TunnelRegistry`] and use [`crate::Lease::send_request`].
    ///
    /// The URI must carry scheme and authority (`https://app.example/x`),
    /// as HTTP/2 requires. A non-empty body is streamed by a spawned task.
    /// The stream is counted until it is done both ways (response body
    /// read or dropped, request body sent or failed).
    ///
    /// On failure, a request that never left (the tunnel was closed or
    /// going away before the stream opened, or the origin refused the
    /// bodiless stream unprocessed) comes back in [`SendFailed::request`],
    /// to be sent elsewhere.
    pub async fn send_request<B>(
        &self,
        req: Request<B>,
    ) -> Result<Response<IncomingBody>, SendFailed<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        let slot = StreamSlot {
            tunnel: self.inner.clone(),
            may_send: self.inner.accepting.load(Ordering::Acquire),
        };
        self.send_in(slot, req).await
    }

    /// Sends a request in a slot reserved on this tunnel: the `http`-typed
    /// path behind [`Tunnel::send_request`] and [`crate::Lease::send_request`].
    pub(crate) async fn send_in<B>(
        &self,
        slot: StreamSlot,
        req: Request<B>,
    ) -> Result<Response<IncomingBody>, SendFailed<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        // An extended CONNECT (RFC 8441) when the request names a protocol.
        let protocol = parts
            .extensions
            .get::<Protocol>()
            .filter(|_| parts.method == http::Method::CONNECT);
        let head = Outgoing {
            method: &parts.method,
            uri: &parts.uri,
            fields: &parts.headers,
            protocol,
        };
        match self.exchange(slot, head, Some(body), &mut |_| {}).await {
            Ok((head, body)) => Ok(Response::from_parts(head.to_http_parts(), body)),
            Err(f) => Err(SendFailed {
                error: f.error,
                request: f.back.flatten().map(|b| Request::from_parts(parts, b)),
            }),
        }
    }

    /// Sends a request given as a gwd-head [`RequestHead`] in a slot
    /// reserved on this tunnel: the path behind [`crate::Lease::send_head`],
    /// which builds no header map either way.
    pub(crate) async fn send_head_in<B>(
        &self,
        slot: StreamSlot,
        head: RequestHead,
        protocol: Option<Protocol>,
        body: Option<B>,
        on_interim: &mut (dyn FnMut(ResponseHead) + Send),
    ) -> Result<(ResponseHead, IncomingBody), HeadSendFailed<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let out = Outgoing {
            method: &head.method,
            uri: &head.uri,
            fields: &head.fields,
            protocol: protocol
                .as_ref()
                .filter(|_| head.method == http::Method::CONNECT),
        };
        match self.exchange(slot, out, body, on_interim).await {
            Ok(answer) => Ok(answer),
            Err(f) => Err(HeadSendFailed {
                error: f.error,
                request: f.back.map(|body| Unsent { head, body }),
            }),
        }
    }

    /// The one sending path: opens the stream in `slot`, streams `body`
    /// (by a spawned task), waits for the response head, handing the
    /// interim (1xx) heads before it to `on_interim`. The head is only
    /// borrowed, so the caller still holds it when the request must go
    /// back.
    async fn exchange<B, F>(
        &self,
        mut slot: StreamSlot,
        head: Outgoing<'_, F>,
        body: Option<B>,
        on_interim: &mut (dyn FnMut(ResponseHead) + Send),
    ) -> Result<(ResponseHead, IncomingBody), Exchange<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: HeadFields,
    {
        debug_assert!(
            Arc::ptr_eq(&slot.tunnel, &self.inner),
            "a slot is only used on its own tunnel"
        );
        if !std::mem::take(&mut slot.may_send) || self.is_closed() {
            return Err(Exchange {
                error: RhttpError::TunnelClosed,
                back: Some(body),
            });
        }
        let eos = body.as_ref().is_none_or(Body::is_end_stream);
        let stream =
            match self
                .inner
                .mux
                .open(head.method, head.uri, head.fields, head.protocol, eos)
            {
                Ok(s) => s,
                Err(kind) => {
                    // Nothing was written: the request goes back whole,
                    // unless no tunnel of this kind can take it.
                    let (error, back) = match kind {
                        SendErrorKind::Closed => (RhttpError::TunnelClosed, Some(body)),
                        SendErrorKind::ExtendedConnectRefused => {
                            (RhttpError::ExtendedConnectRefused, None)
                        }
                        other => (RhttpError::NotSent(format!("{other:?}")), Some(body)),
                    };
                    return Err(Exchange { error, back });
                }
            };
        // The stream counts against the tunnel until its last handle goes
        // (response body and request body pump both done).
        stream.hold(slot);
        // A request without a body can go elsewhere if the origin refuses
        // the stream unprocessed (its GOAWAY crossed our HEADERS): its
        // (empty) body is kept for that.
        let kept = match body {
            Some(b) if !eos => {
                let s2 = stream.clone();
                tokio::spawn(async move {
                    if let Err(e) = pump(b, s2).await {
                        tracing::debug!(error = %e, "rhttp request body not fully sent");
                    }
                });
                None
            }
            b => Some(b),
        };
        match stream.response_relaying(on_interim).await {
            Ok(h) => Ok((h, IncomingBody::new(stream))),
            Err((_, true)) => Err(Exchange {
                error: RhttpError::Refused,
                back: kept,
            }),
            Err((e, false)) => Err(Exchange {
                error: RhttpError::Stream(e),
                back: None,
            }),
        }
    }
}

/// A request head as [`Tunnel::exchange`] sends it, whatever type holds
/// its fields.
struct Outgoing<'a, F> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    fields: &'a F,
    protocol: Option<&'a Protocol>,
}

/// A failed [`Tunnel::exchange`]: `back` holds the body (`Some(None)`
/// for a bodiless request) when the request is to be handed back.
struct Exchange<B> {
    error: RhttpError,
    back: Option<Option<B>>,
}

/// A request that could not be sent with [`crate::Lease::send_head`], with
/// the request itself when it never left (or the origin refused a
/// bodiless one unprocessed), as [`SendFailed`] does for `http` requests.
pub struct HeadSendFailed<B> {
    /// What went wrong; [`RhttpError::is_retryable`] says whether the
    /// origin certainly did not process the request.
    pub error: RhttpError,
    /// The head and the never-polled body, to send elsewhere.
    pub request: Option<Unsent<B>>,
}

impl<B> std::fmt::Debug for HeadSendFailed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSendFailed")
            .field("error", &self.error)
            .field("request_returned", &self.request.is_some())
            .finish()
    }
}

impl<B> std::fmt::Display for HeadSendFailed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<B> std::error::Error for HeadSendFailed<B> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl<B> From<HeadSendFailed<B>> for RhttpError {
    fn from(f: HeadSendFailed<B>) -> RhttpError {
        f.error
    }
}

/// A request that could not be sent on a tunnel, with the request itself
/// when it never left (tokio's `SendError<T>` pattern): the caller may
/// send it on another tunnel without rebuilding it. Converts into
/// [`RhttpError`] (`?`) for callers that will not retry.
pub struct SendFailed<B> {
    /// What went wrong; [`RhttpError::is_retryable`] says whether the
    /// origin certainly did not process the request.
    pub error: RhttpError,
    /// The request, when no byte of it was written to the tunnel (or the
    /// origin refused a bodiless one unprocessed).
    pub request: Option<Request<B>>,
}

// By hand, so that a body type without `Debug` still gives a `Debug`
// error (`unwrap`, `?` into `Box<dyn Error>`).
impl<B> std::fmt::Debug for SendFailed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFailed")
            .field("error", &self.error)
            .field("request_returned", &self.request.is_some())
            .finish()
    }
}

impl<B> std::fmt::Display for SendFailed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<B> std::error::Error for SendFailed<B> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl<B> From<SendFailed<B>> for RhttpError {
    fn from(f: SendFailed<B>) -> RhttpError {
        f.error
    }
}
