//! Origin side: the dialer keeps `nbconn` tunnels up to a gateway and
//! serves the requests that arrive on them (HTTP/2 server role, on
//! `gwd-mux-h2`).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::tracker::TaskTracker;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use gwd_backoff::{Backoff, BackoffConfig};
use gwd_head::{RequestHead, ResponseHead};
use gwd_mux_h2::conn::{Config, Connection, Protocol};
use gwd_mux_h2::frame::{ErrorCode, Settings};
use http::{Request, Response};
use http_body::Body;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot, watch};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use crate::error::RhttpError;
use crate::info::TunnelInfo;
use crate::io::{CloseOnDrop, CloseReason, Shared, TunnelEvents};
use crate::keepalive;
use crate::names::{NamePolicy, check_alpn_h2, names_from_cert};
use crate::refusal::peer_text;
use gwd_h2_conn::{BoxError, IncomingBody, IncomingRequest, InterimHandle, Mux, pump};

/// Everything a dialer needs.
#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// Gateway address, `host:port` (a host name is resolved at each dial).
    pub gateway: String,
    /// TLS server name: sent as SNI and used to verify the gateway's
    /// certificate.
    pub server_name: ServerName<'static>,
    /// TLS client configuration with the origin's client certificate and
    /// the CA that signs the gateway. Its ALPN list is replaced by `h2`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Tunnels to keep up (at least 1).
    pub nbconn: usize,
    /// Re-dial backoff (full jitter; reset after a tunnel stayed up). Its
    /// cap is gwd's `backoff-max`. A slot waiting out its delay re-dials
    /// at once when another tunnel of the dialer comes up (once, until its
    /// own tunnel stays up `reset_after`): the gateway is back.
    pub backoff: BackoffConfig,
    /// Send a PING after this much silence from the gateway; drop the
    /// tunnel if it is not answered within the same delay.
    pub idle_ping: Option<Duration>,
    /// TCP connect deadline.
    pub connect_timeout: Duration,
    /// Deadline for the TLS handshake plus the gateway's first SETTINGS.
    pub handshake_timeout: Duration,
    /// On shutdown, how long in-flight streams may take before tunnels are
    /// cut.
    pub drain_timeout: Duration,
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise (server-role value).
    /// Keep it at 100 or more when the gateway is HAProxy, which ignores
    /// lower values.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise (request bodies).
    pub initial_window_size: u32,
    /// Connection-level receive window.
    pub initial_connection_window_size: u32,
    /// This origin's own certificate (the leaf of `tls`'s client chain),
    /// when known. Only for messages: its names (CN, DNS SANs) are logged
    /// with "tunnel up". [`DialerConfig::from_pem_files`] fills it.
    pub client_cert: Option<CertificateDer<'static>>,
}

impl DialerConfig {
    /// A configuration with defaults: 1 tunnel, default backoff (100 ms
    /// base, 5 s cap, reset after 10 s up), no PINGs, 5 s connect and
    /// handshake deadlines, 30 s drain, 100 streams, 1 MiB / 4 MiB windows.
    pub fn new(
        gateway: impl Into<String>,
        server_name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        DialerConfig {
            gateway: gateway.into(),
            server_name,
            tls,
            nbconn: 1,
            backoff: BackoffConfig::default(),
            idle_ping: None,
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
            max_concurrent_streams: 100,
            initial_window_size: 1 << 20,
            initial_connection_window_size: 4 << 20,
            client_cert: None,
        }
    }

    /// Builds the TLS part from PEM files (client cert + key, CA of the
    /// gateway) with [`gwd_tls::client_config`], verifying the gateway's
    /// certificate for `sni`.
    pub fn from_pem_files(
        gateway: impl Into<String>,
        sni: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Self, RhttpError> {
        let tls = gwd_tls::client_config(&gwd_tls::ClientTlsSettings {
            verify: gwd_tls::PeerVerify::Required,
            ca: Some(ca.to_path_buf()),
            alpn: vec!["h2".into()],
            cert: Some(cert.to_path_buf()),
            key: Some(key.to_path_buf()),
        })
        .map_err(|e| RhttpError::Config(e.to_string()))?;
        let server_name = ServerName::try_from(sni.to_string())
            .map_err(|e| RhttpError::Config(format!("server name {sni:?}: {e}")))?;
        let mut cfg = DialerConfig::new(gateway, server_name, tls);
        cfg.client_cert = gwd_tls::load_certs(cert)
            .ok()
            .and_then(|c| c.into_iter().next());
        Ok(cfg)
    }
}

/// What serves the requests arriving on the tunnels.
///
/// Implemented for every `Fn(Request<IncomingBody>) -> impl Future<Output =
/// Response<B>>` closure that is `Send + Sync + 'static`, where `B` is any
/// [`http_body::Body`] of [`Bytes`] (e.g. `http_body_util::Full<Bytes>`).
/// The service cannot fail: it answers errors with an error status.
/// Each request carries the tunnel's `Arc<`[`TunnelInfo`]`>` in its
/// extensions. The requests of a tunnel are served in the tunnel's task,
/// beside its connection driver (no task per stream): a request's future
/// runs only when that task runs, so work that blocks the thread or runs
/// long without yielding holds up the tunnel's other streams; spawn it.
pub trait TunnelService: Send + Sync + 'static {
    /// Response body type.
    type Body: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
    /// The response future.
    fn call(
        &self,
        req: Request<IncomingBody>,
    ) -> impl Future<Output = Response<Self::Body>> + Send + 'static;

    /// Serves one request given in gwd-head types, which is how requests
    /// come off the tunnel. The default builds the `http` request (the
    /// protocol of an extended CONNECT and the tunnel's
    /// `Arc<`[`TunnelInfo`]`>` in its extensions) and calls
    /// [`TunnelService::call`]; a service that works on gwd-head types
    /// overrides it, and then no header map is built either way.
    fn call_head(
        &self,
        req: TunnelRequest,
    ) -> impl Future<Output = TunnelResponse<Self::Body>> + Send + 'static {
        let TunnelRequest {
            head,
            protocol,
            body,
            info,
            interim: _,
        } = req;
        let mut req = Request::from_parts(head.to_http_parts(), body);
        if let Some(p) = protocol {
            req.extensions_mut().insert(p);
        }
        if let Some(info) = info {
            req.extensions_mut().insert(info);
        }
        let answer = self.call(req);
        async move { TunnelResponse::Http(answer.await) }
    }

    /// Called once per tunnel, right after its reversal and before its
    /// first request. Per-tunnel state goes in [`TunnelInfo::user_data`].
    fn tunnel_opened(&self, info: &Arc<TunnelInfo>) {
        let _ = info;
    }
}

/// A request that arrived on a tunnel, as [`TunnelService::call_head`]
/// takes it.
#[derive(Debug)]
pub struct TunnelRequest {
    /// The head as the state machine decoded and checked it (scheme and
    /// authority in the URI).
    pub head: RequestHead,
    /// The protocol of an extended CONNECT (RFC 8441), e.g. `websocket`.
    pub protocol: Option<Protocol>,
    /// The request body (empty when the stream ended with its head).
    pub body: IncomingBody,
    /// The tunnel it came on; `None` only when the tunnel is already gone.
    pub info: Option<Arc<TunnelInfo>>,
    /// Sends interim (`1xx`) answers on the stream before the final one.
    pub interim: InterimHandle,
}

/// The answer of a [`TunnelService`]: an `http` response, or a gwd-head
/// response head and its body.
#[derive(Debug)]
pub enum TunnelResponse<B> {
    /// As [`TunnelService::call`] gives it.
    Http(Response<B>),
    /// Head and body, for services on gwd-head types.
    Head(ResponseHead, B),
}

impl<F, Fut, B> TunnelService for F
where
    F: Fn(Request<IncomingBody>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Body = B;
    fn call(
        &self,
        req: Request<IncomingBody>,
    ) -> impl Future<Output = Response<B>> + Send + 'static {
        self(req)
    }
}

/// Counters of one dialer (all sides of a tunnel are counted here once, on
/// the origin side). Gauges return to 0 when tunnels close.
#[derive(Debug, Default)]
pub struct DialerStats {
    tunnels_up: AtomicU64,
    dials: AtomicU64,
    dial_failures: AtomicU64,
    reversals: AtomicU64,
    tunnels_closed: AtomicU64,
    goaways_received: AtomicU64,
    ping_timeouts: AtomicU64,
    tunnel_errors: AtomicU64,
    requests: AtomicU64,
    reversal_latency_total_us: AtomicU64,
    reversal_latency_last_us: AtomicU64,
    /// Reversals per latency bucket (not cumulative), by
    /// [`REVERSAL_LATENCY_BOUNDS_US`]; the last slot is "above every bound".
    reversal_latency_buckets: [AtomicU64; REVERSAL_LATENCY_BOUNDS_US.len() + 1],
    changed: Notify,
    /// Since when no tunnel is up, with `dial_failures` at that moment
    /// (`None` while tunnels are up, and before the first). Changed with
    /// `tunnels_up`, under this lock.
    down_since: Mutex<Option<(Instant, u64)>>,
    /// The last dial failure, in words.
    last_error: Mutex<Option<String>>,
    /// When "tunnel up" was last logged at INFO for a first tunnel: a
    /// gateway that accepts then drops makes that every dial.
    last_first_up_info: Mutex<Option<Instant>>,
}

/// Upper bounds (µs, inclusive) of the reversal-latency histogram buckets:
/// 1 ms to 5 s, Prometheus' usual 1-2.5-5 progression.
pub const REVERSAL_LATENCY_BOUNDS_US: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000,
];

/// A copy of [`DialerStats`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DialerStatsSnapshot {
    /// Gauge: tunnels reversed and not yet closed.
    pub tunnels_up: u64,
    /// Dial attempts started.
    pub dials: u64,
    /// Dial attempts that failed (connect, TLS, ALPN or reversal handshake).
    pub dial_failures: u64,
    /// Tunnels that completed the reversal.
    pub reversals: u64,
    /// Reversed tunnels that have closed since.
    pub tunnels_closed: u64,
    /// GOAWAY frames received from the gateway (one per tunnel at most).
    pub goaways_received: u64,
    /// Tunnels dropped because PINGs went unanswered.
    pub ping_timeouts: u64,
    /// Tunnels that ended in error: the gateway broke HTTP/2 (answered
    /// with GOAWAY and the error code) or the connection failed.
    pub tunnel_errors: u64,
    /// Requests received on tunnels.
    pub requests: u64,
    /// Sum of reversal latencies (connect start to gateway SETTINGS), µs.
    pub reversal_latency_total_us: u64,
    /// Latest reversal latency, µs.
    pub reversal_latency_last_us: u64,
    /// Reversal-latency histogram, cumulative: element `i` counts the
    /// reversals that took at most [`REVERSAL_LATENCY_BOUNDS_US`]`[i]`; the
    /// last element counts them all (Prometheus' `+Inf` bucket).
    pub reversal_latency_cumulative: [u64; REVERSAL_LATENCY_BOUNDS_US.len() + 1],
}

impl DialerStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> DialerStatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Acquire);
        DialerStatsSnapshot {
            tunnels_up: l(&self.tunnels_up),
            dials: l(&self.dials),
            dial_failures: l(&self.dial_failures),
            reversals: l(&self.reversals),
            tunnels_closed: l(&self.tunnels_closed),
            goaways_received: l(&self.goaways_received),
            ping_timeouts: l(&self.ping_timeouts),
            tunnel_errors: l(&self.tunnel_errors),
            requests: l(&self.requests),
            reversal_latency_total_us: l(&self.reversal_latency_total_us),
            reversal_latency_last_us: l(&self.reversal_latency_last_us),
            reversal_latency_cumulative: {
                let mut acc = 0;
                let mut out = [0; REVERSAL_LATENCY_BOUNDS_US.len() + 1];
                for (o, b) in out.iter_mut().zip(&self.reversal_latency_buckets) {
                    acc += l(b);
                    *o = acc;
                }
                out
            },
        }
    }

    /// Waits until `pred` holds for a snapshot, at most `timeout`; returns
    /// whether it does. Woken on every counter change (no polling).
    pub async fn wait_until(
        &self,
        mut pred: impl FnMut(&DialerStatsSnapshot) -> bool,
        timeout: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n = self.changed.notified();
            let mut n = std::pin::pin!(n);
            n.as_mut().enable();
            if pred(&self.snapshot()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, n).await.is_err() {
                return pred(&self.snapshot());
            }
        }
    }

    /// Why the last dial failed (as logged), if one did: for an
    /// application's own status page, since the gateway's log is out of an
    /// origin's reach.
    pub fn last_dial_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn bump(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    fn down_since(&self) -> std::sync::MutexGuard<'_, Option<(Instant, u64)>> {
        self.down_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a tunnel up; returns how many are up now and, when it is
    /// the first after an outage in which dials failed, how long that
    /// outage lasted.
    fn tunnel_up(&self) -> (u64, Option<Duration>) {
        let mut down = self.down_since();
        let prev = self.tunnels_up.fetch_add(1, Ordering::AcqRel);
        let outage = if prev == 0 { down.take() } else { None };
        let failures = self.dial_failures.load(Ordering::Acquire);
        let outage = outage.and_then(|(t, f)| (failures > f).then(|| t.elapsed()));
        (prev + 1, outage)
    }
}

/// Holds the `tunnels_up` gauge for one reversed tunnel.
#[derive(Debug)]
struct UpGuard(Arc<DialerStats>);

impl Drop for UpGuard {
    fn drop(&mut self) {
        let mut down = self.0.down_since();
        if self.0.tunnels_up.fetch_sub(1, Ordering::AcqRel) == 1 {
            *down = Some((Instant::now(), self.0.dial_failures.load(Ordering::Acquire)));
        }
        drop(down);
        self.0.bump(&self.0.tunnels_closed);
    }
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// The origin-side dialer.
///
/// ```no_run
/// # async fn doc() -> Result<(), gwd_rhttp::RhttpError> {
/// use std::path::Path;
/// use gwd_rhttp::{Dialer, DialerConfig, IncomingBody};
///
/// let mut cfg = DialerConfig::from_pem_files(
///     "gateway.example:8444", "gateway.example",
///     Path::new("ca.crt"), Path::new("app.crt"), Path::new("app.key"),
/// )?;
/// cfg.nbconn = 4;
/// let dialer = Dialer::new(cfg)?;
/// let service = |_req: http::Request<IncomingBody>| async {
///     http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"hello\n")))
/// };
/// dialer.run(service, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
#[derive(Debug)]
pub struct Dialer {
    cfg: Arc<DialerConfig>,
    stats: Arc<DialerStats>,
    own: Arc<OwnCert>,
}

/// What the dialer knows of its own certificate, for messages.
#[derive(Debug, Default)]
struct OwnCert {
    /// CN and DNS SANs, lower-cased: the names a gateway may register.
    names: Vec<String>,
}

type OriginIo = tokio_rustls::client::TlsStream<TcpStream>;

impl Dialer {
    /// Checks the configuration and forces ALPN to exactly `h2`.
    pub fn new(mut cfg: DialerConfig) -> Result<Dialer, RhttpError> {
        if cfg.nbconn == 0 {
            return Err(RhttpError::Config("nbconn must be at least 1".into()));
        }
        if cfg.max_concurrent_streams == 0 {
            return Err(RhttpError::Config(
                "max_concurrent_streams must be at least 1".into(),
            ));
        }
        if cfg.idle_ping == Some(Duration::ZERO) {
            return Err(RhttpError::Config("idle_ping must be positive".into()));
        }
        cfg.backoff
            .validate()
            .map_err(|e| RhttpError::Config(e.to_string()))?;
        if cfg.tls.alpn_protocols != [b"h2".to_vec()] {
            let mut tls = (*cfg.tls).clone();
            tls.alpn_protocols = vec![b"h2".to_vec()];
            cfg.tls = Arc::new(tls);
        }
        let own = OwnCert {
            names: cfg.client_cert.as_ref().map_or_else(Vec::new, |der| {
                names_from_cert(
                    der,
                    NamePolicy {
                        common_name: true,
                        dns_sans: true,
                    },
                )
            }),
        };
        Ok(Dialer {
            cfg: Arc::new(cfg),
            stats: Arc::new(DialerStats::default()),
            own: Arc::new(own),
        })
    }

    /// The dialer's counters (shared; keep the `Arc` to export them).
    pub fn stats(&self) -> Arc<DialerStats> {
        self.stats.clone()
    }

    /// The configuration in use.
    pub fn config(&self) -> &DialerConfig {
        &self.cfg
    }

    /// Keeps `nbconn` tunnels up and serves their requests with `service`
    /// until `shutdown` completes; then sends GOAWAY on every tunnel, lets
    /// in-flight streams finish (up to `drain_timeout`) and returns.
    /// Dial failures, including the first, are retried with backoff; they
    /// never end `run`. Dropping the future stops dialing too (tunnels
    /// then drain in the background).
    pub async fn run<S: TunnelService>(
        &self,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RhttpError> {
        let service = Arc::new(service);
        let token = CancellationToken::new();
        // Dropping `run` (instead of completing `shutdown`) also stops the
        // slots; tunnels then send GOAWAY and drain in the background.
        let _stop_on_drop = token.clone().drop_guard();
        let tracker = TaskTracker::new();
        let ctx = Arc::new(Ctx {
            cfg: self.cfg.clone(),
            stats: self.stats.clone(),
            own: self.own.clone(),
            service,
            token: token.clone(),
            tracker: tracker.clone(),
            ups: watch::Sender::new(0),
        });
        for slot in 0..self.cfg.nbconn {
            tracker.spawn(slot_loop(slot, ctx.clone()));
        }
        shutdown.await;
        tracing::info!("rhttp dialer stopping: GOAWAY and drain");
        token.cancel();
        tracker.close();
        tracker.wait().await;
        Ok(())
    }
}

enum Ended {
    GoAway,
    Closed,
    Shutdown,
}

/// What every slot of one [`Dialer::run`] shares.
struct Ctx<S> {
    cfg: Arc<DialerConfig>,
    stats: Arc<DialerStats>,
    own: Arc<OwnCert>,
    service: Arc<S>,
    token: CancellationToken,
    tracker: TaskTracker,
    /// Counts tunnels that came up: a slot waiting out a backoff delay
    /// re-dials at once when it changes (the gateway is back).
    ups: watch::Sender<u64>,
}

async fn slot_loop<S: TunnelService>(slot: usize, ctx: Arc<Ctx<S>>) {
    let (cfg, stats, token) = (&ctx.cfg, &ctx.stats, &ctx.token);
    let mut backoff = Backoff::new(cfg.backoff);
    let mut ups = ctx.ups.subscribe();
    // Woken early by another tunnel at most once until this slot's own
    // tunnel stays up `reset_after`: against a gateway that accepts and
    // drops, slots cannot keep waking each other into a hot loop.
    let mut may_wake = true;
    loop {
        if token.is_cancelled() {
            return;
        }
        stats.bump(&stats.dials);
        let attempt = tokio::select! {
            // Boxed: the dial's large state (TLS handshake) lives on the
            // heap only while dialing, not for the tunnel's whole life.
            r = Box::pin(dial_once(&ctx, slot)) => r,
            _ = token.cancelled() => return,
        };
        let delay = match attempt {
            Err(e) => {
                let d = backoff.failed(random_u64());
                let text = match &e {
                    // A gateway that refuses without a reason (HAProxy, an
                    // older gwd) just closes.
                    RhttpError::ClosedDuringHandshake => format!(
                        "{e} (the gateway gave no reason: it may have refused this origin; its log says why)"
                    ),
                    _ => e.to_string(),
                };
                tracing::warn!(slot, gateway = %cfg.gateway, retry_in = ?d, "rhttp dial failed: {text}");
                // Before the count: whoever sees the failure counted can
                // read its reason.
                *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
                stats.bump(&stats.dial_failures);
                d
            }
            Ok((shared, done)) => {
                backoff.connected(Instant::now());
                let mut events = shared.events.subscribe();
                let mut done = done;
                let ended = tokio::select! {
                    _ = events.wait_for(|e| e.goaway.is_some()) => Ended::GoAway,
                    _ = &mut done => Ended::Closed,
                    _ = token.cancelled() => Ended::Shutdown,
                };
                // A GOAWAY followed at once by the close may surface as either.
                let ended = match ended {
                    Ended::Closed if shared.events.borrow().goaway.is_some() => Ended::GoAway,
                    other => other,
                };
                let graceful_goaway = match ended {
                    Ended::Shutdown => {
                        // The connection task sends GOAWAY and drains.
                        let _ = done.await;
                        return;
                    }
                    Ended::GoAway => {
                        stats.bump(&stats.goaways_received);
                        let goaway = shared.events.borrow().goaway.clone();
                        let graceful = goaway.as_ref().is_some_and(|g| g.is_graceful());
                        if graceful {
                            tracing::info!(
                                slot,
                                "rhttp gateway sent GOAWAY; dialing a replacement"
                            );
                        } else {
                            let code = goaway.as_ref().map_or(ErrorCode::NO_ERROR, |g| g.code);
                            let reason = goaway.as_ref().map(|g| peer_text(&g.debug));
                            let reason = reason.as_deref().unwrap_or_default();
                            tracing::warn!(
                                slot,
                                gateway = %cfg.gateway,
                                "rhttp gateway sent GOAWAY {code}: {}; re-dialing",
                                if reason.is_empty() { "no reason given" } else { reason }
                            );
                        }
                        graceful
                    }
                    Ended::Closed => {
                        match shared.take_read_error() {
                            Some(e) => tracing::info!(
                                slot,
                                gateway = %cfg.gateway,
                                "rhttp tunnel closed: {}; re-dialing",
                                closed_by(&e)
                            ),
                            None => {
                                tracing::info!(slot, gateway = %cfg.gateway, "rhttp tunnel closed; re-dialing")
                            }
                        }
                        false
                    }
                };
                // Make-before-break: after a graceful GOAWAY the replacement
                // is dialed at once unless this slot is already backing off
                // (a gateway that keeps sending GOAWAY still gets backoff).
                let no_failures_yet = backoff.attempts() == 0;
                let d = backoff.disconnected(Instant::now(), random_u64());
                if backoff.attempts() == 0 {
                    // Stayed up long enough: may be woken early again.
                    may_wake = true;
                }
                if graceful_goaway && no_failures_yet {
                    Duration::ZERO
                } else {
                    d
                }
            }
        };
        if !delay.is_zero() {
            // Only tunnels that come up from now on (this slot's own
            // included) cut the wait short.
            ups.borrow_and_update();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                r = ups.changed(), if may_wake => {
                    may_wake = false;
                    if r.is_ok() {
                        tracing::debug!(slot, "rhttp another tunnel came up: re-dialing now");
                    }
                }
                _ = token.cancelled() => return,
            }
        }
    }
}

/// Dials, reverses and spawns the connection task. Returns the tunnel's
/// shared state and a receiver completed when the connection task ends.
async fn dial_once<S: TunnelService>(
    ctx: &Ctx<S>,
    slot: usize,
) -> Result<(Arc<Shared>, oneshot::Receiver<()>), RhttpError> {
    let Ctx {
        cfg,
        stats,
        service,
        token,
        tracker,
        ..
    } = ctx;
    let started = Instant::now();
    let tcp = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.gateway))
        .await
        .map_err(|_| RhttpError::Timeout {
            what: "connect",
            after: cfg.connect_timeout,
        })?
        .map_err(|source| RhttpError::Connect {
            addr: cfg.gateway.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let (local_addr, gateway_addr) = (tcp.local_addr().ok(), tcp.peer_addr().ok());
    let hs_deadline = tokio::time::Instant::now() + cfg.handshake_timeout;
    let hs_timeout = || RhttpError::Timeout {
        what: "reversal handshake",
        after: cfg.handshake_timeout,
    };
    let connector = TlsConnector::from(cfg.tls.clone());
    let tls = tokio::time::timeout_at(hs_deadline, connector.connect(cfg.server_name.clone(), tcp))
        .await
        .map_err(|_| hs_timeout())?
        .map_err(RhttpError::from_tls)?;
    check_alpn_h2(tls.get_ref().1)?;
    // We are the TCP/TLS initiator: the client preface is ours to send,
    // followed by SETTINGS with server-role values; then we serve.
    let mut conn_cfg = Config::reverse_dialer();
    conn_cfg.settings = Settings {
        max_concurrent_streams: Some(cfg.max_concurrent_streams),
        initial_window_size: Some(cfg.initial_window_size),
        // WebSocket down the tunnel (RFC 8441 extended CONNECT); the
        // service sees the request's `:protocol` as `conn::Protocol`.
        enable_connect_protocol: Some(true),
        ..Settings::default()
    };
    conn_cfg.connection_window = cfg.initial_connection_window_size;
    // No rapid-reset limit on a tunnel: the gateway resets a stream when
    // its visitor goes away before the answer, so its resets are its
    // visitors' cancellations, and cutting the tunnel for them would
    // answer every visitor of the name with 503 because of one. The
    // gateway is the peer this origin chose and authenticated; its
    // visitors' own floods are bounded where they arrive (a visitor's
    // HTTP/2 connection has the limit; an HTTP/1.1 visitor pays a
    // connection per cancellation).
    conn_cfg.max_premature_resets = u32::MAX;
    let shared = Shared::new();
    let mux = Mux::new(Connection::new(conn_cfg), shared.clone());
    let kill = CancellationToken::new();
    let (up_tx, up_rx) = oneshot::channel::<(UpGuard, Arc<TunnelInfo>)>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    tracker.spawn(drive(
        // Boxed so the task's future holds a pointer, not the ~1 KiB TLS
        // session (which async state layout may otherwise store twice).
        Box::new(tls),
        mux.clone(),
        service.clone(),
        shared.clone(),
        token.clone(),
        kill.clone(),
        cfg.drain_timeout,
        stats.clone(),
        up_rx,
        done_tx,
    ));
    let mut events = shared.events.subscribe();
    let got = tokio::time::timeout_at(
        hs_deadline,
        events.wait_for(|e| e.settings.is_some() || e.closed.is_some()),
    )
    .await;
    let reversed = matches!(&got, Ok(Ok(e)) if e.settings.is_some());
    drop(got);
    let ev = shared.events.borrow().clone();
    // A refusal comes as the gateway's SETTINGS with a GOAWAY(0, error):
    // no tunnel, whatever the SETTINGS said.
    let refused = ev
        .goaway
        .as_ref()
        .is_some_and(|g| !g.is_graceful() && g.last_stream == 0);
    if !reversed || refused {
        kill.cancel();
        return Err(handshake_failure(&shared, &ev).unwrap_or_else(hs_timeout));
    }
    let latency = started.elapsed().as_micros() as u64;
    let (up_now, outage) = stats.tunnel_up();
    stats
        .reversal_latency_total_us
        .fetch_add(latency, Ordering::AcqRel);
    stats
        .reversal_latency_last_us
        .store(latency, Ordering::Release);
    let bucket = REVERSAL_LATENCY_BOUNDS_US
        .iter()
        .position(|b| latency <= *b)
        .unwrap_or(REVERSAL_LATENCY_BOUNDS_US.len());
    stats.reversal_latency_buckets[bucket].fetch_add(1, Ordering::AcqRel);
    stats.bump(&stats.reversals);
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let info = Arc::new(TunnelInfo::new(
        NEXT_ID.fetch_add(1, Ordering::Relaxed),
        local_addr,
        gateway_addr,
    ));
    service.tunnel_opened(&info);
    let _ = up_tx.send((UpGuard(stats.clone()), info));
    log_tunnel_up(ctx, slot, gateway_addr, up_now, outage);
    ctx.ups.send_modify(|n| *n += 1);
    if let Some(iv) = cfg.idle_ping {
        let stats = stats.clone();
        let ka_shared = shared.clone();
        tokio::spawn(async move {
            keepalive::run(
                iv,
                ka_shared.clone(),
                move || {
                    let mux = mux.clone();
                    Some(async move { mux.ping().await.map_err(crate::error::ping_error) })
                },
                move || {
                    stats.bump(&stats.ping_timeouts);
                    kill.cancel();
                },
            )
            .await;
        });
    }
    Ok((shared, done_rx))
}

/// Why a tunnel's connection failed, in words: a gateway that stops or
/// crashes closes without TLS close_notify, and rustls' text for that is
/// a link to its manual.
fn closed_by(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            "the gateway closed the connection abruptly (no TLS close_notify: it stopped or crashed)"
                .into()
        }
        std::io::ErrorKind::ConnectionReset => "the gateway reset the connection".into(),
        _ => match gwd_tls::rustls_error(e) {
            Some(rustls::Error::AlertReceived(a)) => format!(
                "TLS alert {} from the gateway",
                crate::refusal::alert_name(*a)
            ),
            _ => e.to_string(),
        },
    }
}

/// Why a dial that got a connection ended without a tunnel: the
/// gateway's refusal (GOAWAY with its reason, or a TLS alert) or the
/// connection's failure; `None` when it is still open (a timeout).
fn handshake_failure(shared: &Shared, ev: &TunnelEvents) -> Option<RhttpError> {
    if let Some(g) = ev.goaway.as_ref().filter(|g| !g.is_graceful()) {
        return Some(RhttpError::GatewayRefused {
            code: g.code,
            reason: peer_text(&g.debug).into_owned(),
        });
    }
    ev.closed?;
    Some(match shared.take_read_error() {
        Some(e) if gwd_tls::rustls_error(&e).is_some() => RhttpError::from_tls(e),
        Some(e) => RhttpError::Io(e),
        None => RhttpError::ClosedDuringHandshake,
    })
}

/// Whether a first tunnel's "tunnel up" goes to INFO: at most once per
/// [`FIRST_UP_INFO_EVERY`], so a gateway that accepts tunnels and drops
/// them at once (each dial then brings a "first" tunnel) cannot flood the
/// log; the rest go to DEBUG.
fn first_up_info_due(stats: &DialerStats) -> bool {
    let mut last = stats
        .last_first_up_info
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let due = last.is_none_or(|t| t.elapsed() >= FIRST_UP_INFO_EVERY);
    if due {
        *last = Some(Instant::now());
    }
    due
}

/// See [`first_up_info_due`].
const FIRST_UP_INFO_EVERY: Duration = Duration::from_secs(10);

/// "tunnel up" at INFO for the first tunnel (after start or an outage)
/// and the one that completes the set, at DEBUG in between, so a large
/// `nbconn` logs two lines, not one per tunnel; "reconnected after N s"
/// when dials failed while no tunnel was up.
fn log_tunnel_up<S>(
    ctx: &Ctx<S>,
    slot: usize,
    gateway_addr: Option<std::net::SocketAddr>,
    up_now: u64,
    outage: Option<Duration>,
) {
    let cfg = &ctx.cfg;
    let addr = gateway_addr.map(|a| a.to_string()).unwrap_or_default();
    let sni = cfg.server_name.to_str();
    let names = &ctx.own.names;
    let nbconn = cfg.nbconn;
    if let Some(d) = outage {
        tracing::info!(
            slot, gateway = %cfg.gateway, %addr, %sni, ?names, tunnels = up_now, nbconn,
            "rhttp tunnel up; reconnected after {:.1} s",
            d.as_secs_f64()
        );
    } else if (up_now == 1 && first_up_info_due(&ctx.stats))
        || (up_now > 1 && up_now == nbconn as u64)
    {
        tracing::info!(slot, gateway = %cfg.gateway, %addr, %sni, ?names, tunnels = up_now, nbconn, "rhttp tunnel up");
    } else {
        tracing::debug!(slot, gateway = %cfg.gateway, %addr, %sni, ?names, tunnels = up_now, nbconn, "rhttp tunnel up");
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive<S: TunnelService>(
    io: Box<OriginIo>,
    mux: Mux,
    service: Arc<S>,
    shared: Arc<Shared>,
    token: CancellationToken,
    kill: CancellationToken,
    drain_timeout: Duration,
    stats: Arc<DialerStats>,
    up: oneshot::Receiver<(UpGuard, Arc<TunnelInfo>)>,
    done: oneshot::Sender<()>,
) {
    let mut close = CloseOnDrop(shared.clone(), CloseReason::Finished);
    // Filled once `dial_once` has seen the reversal and called
    // `tunnel_opened` (Some(None) if it gave up). The gateway's first
    // HEADERS may arrive in the same read as its SETTINGS, before that:
    // handlers wait for it, so every request carries the tunnel's info and
    // `tunnel_opened` runs before the first request.
    let (info_tx, info_rx) = tokio::sync::watch::channel::<Option<Option<Arc<TunnelInfo>>>>(None);
    let mut up = Some(up);
    let _done = done;
    let mut guard: Option<UpGuard> = None;
    let mut stopping = false;
    let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    let drain = tokio::time::sleep_until(far);
    let mut drain = std::pin::pin!(drain);
    // The requests the connection's driver takes in. Their handlers run
    // in this task beside the driver, not in a task each (as HAProxy
    // serves a connection's streams on its thread): a spawn per stream,
    // its scheduling and the wake-ups between the tasks were about 3 % of
    // an origin's CPU.
    let arrived: Mutex<Vec<IncomingRequest>> = Mutex::default();
    let on_request = {
        let arrived = &arrived;
        let stats = stats.clone();
        move |req: IncomingRequest| {
            stats.bump(&stats.requests);
            arrived.lock().unwrap_or_else(|e| e.into_inner()).push(req);
        }
    };
    let mut handlers = FuturesUnordered::new();
    let driving = mux.drive(io, on_request);
    let mut driving = std::pin::pin!(driving);
    loop {
        tokio::select! {
            // The driver first: the handlers' branch then picks up what
            // it took in during the same pass.
            biased;
            end = &mut driving => {
                let reason = CloseReason::from(end);
                // Whether the tunnel was ever up: a dial that failed is
                // counted and logged once, by the slot, with its reason.
                if let Some(mut rx) = up.take()
                    && let Ok((g, _)) = rx.try_recv()
                {
                    guard = Some(g);
                }
                // (The slot logs the close, with the error if any.)
                if reason == CloseReason::Error && guard.is_some() {
                    stats.bump(&stats.tunnel_errors);
                }
                close.1 = reason;
                break;
            }
            () = std::future::poll_fn(|cx| {
                for req in arrived.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                    handlers.push(handle(&*service, req, info_rx.clone()));
                }
                while let Poll::Ready(Some(())) = handlers.poll_next_unpin(cx) {}
                Poll::Pending
            }) => {}
            r = async { up.as_mut().expect("polled only while pending").await }, if up.is_some() => {
                up = None;
                let info = match r {
                    Ok((g, info)) => {
                        guard = Some(g);
                        Some(info)
                    }
                    Err(_) => None,
                };
                let _ = info_tx.send(Some(info));
            }
            _ = token.cancelled(), if !stopping => {
                stopping = true;
                shared.mark_closing();
                mux.go_away_two_step();
                drain.as_mut().reset(tokio::time::Instant::now() + drain_timeout);
            }
            _ = kill.cancelled() => {
                close.1 = if shared.events.borrow().closed.is_some() {
                    CloseReason::PingTimeout
                } else {
                    CloseReason::Aborted
                };
                break;
            }
            _ = &mut drain => {
                tracing::warn!(?drain_timeout, "rhttp drain timeout; cutting the tunnel");
                close.1 = CloseReason::Aborted;
                break;
            }
        }
    }
    drop(guard);
}

async fn handle<S: TunnelService>(
    service: &S,
    incoming: IncomingRequest,
    mut info: tokio::sync::watch::Receiver<Option<Option<Arc<TunnelInfo>>>>,
) {
    let IncomingRequest {
        head,
        protocol,
        stream,
        ..
    } = incoming;
    let info = match info.wait_for(Option::is_some).await {
        Ok(v) => v.clone().flatten(),
        // The tunnel task is gone: nobody will answer anyway.
        Err(_) => None,
    };
    // The responder keeps its own reference: the request body may be
    // dropped first.
    let req = TunnelRequest {
        head,
        protocol,
        body: IncomingBody::new(stream.clone()),
        info,
        interim: stream.interim_handle(),
    };
    // A gateway that resets the stream (its visitor went away) wants no
    // answer: the request to the server is dropped then, not run to its
    // end for nobody (a visitor resetting streams in a loop would
    // otherwise keep a server connection busy per reset).
    let answer = tokio::select! {
        biased;
        () = stream.gone() => {
            tracing::debug!(stream = stream.id(), "rhttp request cancelled by the gateway before its answer");
            return;
        }
        answer = service.call_head(req) => answer,
    };
    let eos = match &answer {
        TunnelResponse::Http(resp) => resp.body().is_end_stream(),
        TunnelResponse::Head(_, body) => body.is_end_stream(),
    };
    let (sent, body) = match answer {
        TunnelResponse::Http(resp) => {
            let (parts, body) = resp.into_parts();
            (
                stream.send_response(parts.status, &parts.headers, eos),
                body,
            )
        }
        TunnelResponse::Head(head, body) => {
            (stream.send_response(head.status, &head.fields, eos), body)
        }
    };
    match sent {
        Ok(()) => {
            if !eos && let Err(e) = pump(body, stream).await {
                tracing::debug!(error = %e, "rhttp response body not fully sent");
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "rhttp response not sent");
            stream.reset(ErrorCode::INTERNAL_ERROR);
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_first_tunnel_is_logged_at_info_once_per_ten_seconds() {
        let stats = DialerStats::default();
        assert!(super::first_up_info_due(&stats));
        // A gateway that drops every tunnel at once: the next "first"
        // tunnels go to DEBUG.
        assert!(!super::first_up_info_due(&stats));
        assert!(!super::first_up_info_due(&stats));
        *stats.last_first_up_info.lock().unwrap() =
            Some(Instant::now() - super::FIRST_UP_INFO_EVERY);
        assert!(super::first_up_info_due(&stats));
    }
    use super::*;

    #[test]
    fn reconnected_is_told_only_after_an_outage_in_which_dials_failed() {
        let stats = Arc::new(DialerStats::default());
        // The first tunnel ever: nothing to reconnect from.
        assert_eq!(stats.tunnel_up(), (1, None));
        drop(UpGuard(stats.clone()));
        // Back at once, no dial failed (a gateway's GOAWAY and the
        // replacement): a plain "tunnel up".
        assert_eq!(stats.tunnel_up(), (1, None));
        drop(UpGuard(stats.clone()));
        // Down while dials failed: the first tunnel back says for how long.
        stats.bump(&stats.dial_failures);
        let (n, outage) = stats.tunnel_up();
        assert_eq!(n, 1);
        assert!(outage.is_some_and(|d| d < Duration::from_secs(5)));
        // Another tunnel while one is up: no outage to tell.
        stats.bump(&stats.dial_failures);
        assert_eq!(stats.tunnel_up(), (2, None));
        drop(UpGuard(stats.clone()));
        drop(UpGuard(stats.clone()));
        assert_eq!(stats.snapshot().tunnels_up, 0);
    }

    #[test]
    fn closed_by_names_an_abrupt_gateway_close() {
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "peer closed");
        assert!(closed_by(&eof).contains("stopped or crashed"));
        let alert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::InternalError),
        );
        assert_eq!(
            closed_by(&alert),
            "TLS alert internal_error from the gateway"
        );
    }
}
