//! Active health checks: one task per checked server, each on its own
//! timer, on a thread of their own, never on the request path.
//!
//! A check connects to the server (or to its `check-addr`/`port`), does
//! a TLS handshake with `check-ssl`, and with `option httpchk` sends the
//! backend's HTTP request and judges the answer (gwd-check); the result
//! feeds the server's health counter ([`ServerStatus`]), and a transition
//! updates the balancer at once, logs HAProxy's line, and serves queued
//! requests when a server comes back.
//!
//! Timing is HAProxy's: the first checks of all servers are spread over
//! one interval; then each server's checks start `inter` (fully up),
//! `fastinter` (in transition) or `downinter` (fully down) apart, start
//! to start, moved by `spread-checks` (a check that outlasts the interval
//! is followed by the next at once).
//! Timeouts: with `timeout check`, connecting is bounded by the smaller
//! of `timeout connect` and `inter`, and the answer by `timeout check`;
//! without it, the whole check is bounded by `inter`.
//!
//! [`ServerStatus`]: super::status::ServerStatus

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gwd_balance::ServerId;
use gwd_check::{CheckOutcome, CheckStatus, HttpCheck, Left, Transition};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::state::{BuildError, Proxy, ServerRt};
use crate::upstream::conn::ConnectError;

/// What a server's checks connect to and how.
#[derive(Debug)]
pub struct CheckTarget {
    host: String,
    port: u16,
    /// HTTP checks speak HTTP/2.
    h2: bool,
    /// `check-ssl`: the client config (the server's verification and
    /// client certificate; ALPN `http/1.1` for HTTP checks) and SNI.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl CheckTarget {
    /// The check target of a server with `check = true`; `None` for the
    /// others (and for `rhttp@` servers, which are never checked).
    pub(crate) fn of(
        conf: &gwd_config::Server,
        backend: &gwd_config::Backend,
    ) -> Result<Option<CheckTarget>, BuildError> {
        let (Some(check), Some(addr)) = (&conf.check, conf.net_addr()) else {
            return Ok(None);
        };
        let host = check.addr.clone().unwrap_or_else(|| addr.host.clone());
        let port = check.port.unwrap_or(addr.port);
        let tls = if check.ssl {
            let server_tls = conf.tls.as_ref();
            let settings = gwd_tls::ClientTlsSettings {
                verify: match server_tls.map(|t| t.verify) {
                    Some(gwd_config::Verify::Required) => gwd_tls::PeerVerify::Required,
                    _ => gwd_tls::PeerVerify::None,
                },
                ca: server_tls.and_then(|t| t.ca.clone()),
                alpn: match (&backend.http_check, check.h2) {
                    (None, _) => Vec::new(),
                    (Some(_), true) => vec!["h2".to_owned()],
                    (Some(_), false) => vec!["http/1.1".to_owned()],
                },
                cert: server_tls.and_then(|t| t.cert.clone()),
                key: server_tls.and_then(|t| t.key.clone()),
            };
            let cfg =
                gwd_tls::client_config(&settings).map_err(|source| BuildError::ServerTls {
                    backend: backend.name.clone(),
                    server: conf.name.clone(),
                    source,
                })?;
            let name = check
                .sni
                .clone()
                .or_else(|| server_tls.and_then(|t| t.sni.clone()))
                .unwrap_or_else(|| host.clone());
            let sn = ServerName::try_from(name.clone()).map_err(|_| BuildError::ServerName {
                backend: backend.name.clone(),
                server: conf.name.clone(),
                name,
            })?;
            Some((cfg, sn))
        } else {
            None
        };
        Ok(Some(CheckTarget {
            host,
            port,
            h2: check.h2,
            tls,
        }))
    }
}

/// The running checks; dropping this stops them.
///
/// The checks of one configuration run on a thread of their own
/// (`gwd-checks`, a current-thread runtime): they never take a worker
/// from the request path, and 500 checks a second wake one thread instead
/// of passing work between the workers of the request runtime (on the
/// 2-core development machine that took the cost of checking 1,000
/// servers every 2 s from about 1.6 % of a core to about 1 %; see
/// docs/PERFORMANCE.md). Should the thread not start, the checks run as
/// tasks of the current runtime instead.
#[derive(Debug, Default)]
pub struct HealthChecks {
    count: usize,
    runner: Runner,
}

#[derive(Debug, Default)]
enum Runner {
    /// Nothing is checked.
    #[default]
    Idle,
    /// The checks' own thread, stopped when this sender goes.
    Thread {
        _stop: tokio::sync::oneshot::Sender<()>,
    },
    /// Fallback: tasks of the runtime that started them.
    Tasks(Vec<JoinHandle<()>>),
}

impl HealthChecks {
    /// Starts one check loop per checked server, on the checks' own
    /// thread (else on the current Tokio runtime).
    pub fn start(proxy: &Arc<Proxy>) -> HealthChecks {
        let checked: Vec<(usize, usize)> = proxy
            .backends
            .iter()
            .enumerate()
            .flat_map(|(b, be)| {
                be.servers
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.check_target.is_some())
                    .map(move |(s, _)| (b, s))
            })
            .collect();
        let count = checked.len();
        if count == 0 {
            return HealthChecks::default();
        }
        let runner = match on_own_thread(proxy, &checked) {
            Ok(stop) => Runner::Thread { _stop: stop },
            Err(e) => {
                tracing::warn!(
                    target: "gwd::health",
                    "health checks run on the request threads: cannot start their own thread: {e}"
                );
                Runner::Tasks(spawn_loops(proxy, &checked))
            }
        };
        HealthChecks { count, runner }
    }

    /// How many servers are checked.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Drop for HealthChecks {
    fn drop(&mut self) {
        // A `Thread` runner stops when its sender drops: the thread's
        // runtime, and every check on it, goes with it.
        if let Runner::Tasks(tasks) = &self.runner {
            for t in tasks {
                t.abort();
            }
        }
    }
}

/// Starts the `gwd-checks` thread running the loops of `checked`; hands
/// back the sender whose drop stops it, once its runtime is built.
fn on_own_thread(
    proxy: &Arc<Proxy>,
    checked: &[(usize, usize)],
) -> io::Result<tokio::sync::oneshot::Sender<()>> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (built, is_built) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
    let proxy = proxy.clone();
    let checked = checked.to_vec();
    std::thread::Builder::new()
        .name("gwd-checks".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = built.send(Err(e));
                    return;
                }
            };
            let _ = built.send(Ok(()));
            rt.block_on(async move {
                let _loops = spawn_loops(&proxy, &checked);
                // Dropped sender or a sent value: stop.
                let _ = stopped.await;
            });
            // The runtime drops here, and every check task with it.
        })?;
    // Waits for the thread to build its runtime (microseconds).
    match is_built.recv() {
        Ok(Ok(())) => Ok(stop),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the checks' thread ended before starting")),
    }
}

/// One check loop per server of `checked`, on the current runtime, their
/// first checks spread over one interval from a common grid origin.
fn spawn_loops(proxy: &Arc<Proxy>, checked: &[(usize, usize)]) -> Vec<JoinHandle<()>> {
    let count = checked.len();
    let grid = Grid(tokio::time::Instant::now());
    checked
        .iter()
        .enumerate()
        .map(|(position, &(b, s))| {
            tokio::spawn(check_loop(proxy.clone(), b, s, position, count, grid))
        })
        .collect()
}

/// The time grid the checks of one configuration wake on: every deadline
/// is rounded up to a multiple of [`gwd_check::check_tick`] of its interval
/// after this origin, so the checks due within one tick (16 ms at `inter
/// 2s`) start in one wake-up of the process instead of one each; for 1,000
/// servers that is a few wake-ups a tick instead of one every 2 ms.
#[derive(Debug, Clone, Copy)]
struct Grid(tokio::time::Instant);

impl Grid {
    /// Sleeps about `wait` (at most one tick more), for a check whose
    /// interval is `interval`.
    async fn sleep(self, wait: Duration, interval: Duration) {
        let since = tokio::time::Instant::now().saturating_duration_since(self.0);
        self.sleep_from_origin(since + wait, interval).await
    }

    /// Sleeps until `at` after the origin, rounded up to the grid (the
    /// first checks count from the origin: the first server's is zero,
    /// checked at once).
    async fn sleep_from_origin(self, at: Duration, interval: Duration) {
        let at = gwd_check::on_tick(at, gwd_check::check_tick(interval));
        tokio::time::sleep_until(self.0 + at).await
    }
}

async fn check_loop(
    proxy: Arc<Proxy>,
    b: usize,
    s: usize,
    position: usize,
    count: usize,
    grid: Grid,
) {
    let be = &proxy.backends[b];
    let server = &be.servers[s];
    let Some(check) = &server.conf.check else {
        return;
    };
    let inter = check.health.inter;
    grid.sleep_from_origin(gwd_check::first_delay(inter, position, count), inter)
        .await;
    let id = ServerId::new(s as u32);
    loop {
        // When the check that just ran started: the next one starts one
        // interval after it, not after its end, so a server that hangs
        // every check until its timeout (at most `inter`) still fails a
        // check every `inter` and is DOWN within `fall x inter`.
        let mut started_at = None;
        // In maintenance a server is not checked (HAProxy pauses its
        // checks); leaving it restarts them at once.
        let in_maint = be.lb.balancer.server(id).admin == gwd_balance::Admin::Maint;
        if server.status.checks_enabled() && !in_maint {
            let epoch = server.status.check_started();
            started_at = Some(tokio::time::Instant::now());
            let started = Instant::now();
            let mut outcome = run_check(server, be).await;
            outcome.duration = started.elapsed();
            let now = Instant::now();
            tracing::debug!(
                backend = %be.conf.name,
                server = %server.conf.name,
                status = outcome.status.code(),
                code = ?outcome.code,
                info = ?outcome.info,
                "health check"
            );
            if let Some(t) = server.status.check_done(outcome.clone(), epoch, now) {
                apply_transition(&proxy, b, s, t, &outcome);
            }
        }
        let next = server.status.interval().unwrap_or(inter);
        let pct = proxy.config.global.spread_checks;
        let wait = gwd_check::spread(next, pct, super::random());
        let wait = started_at.map_or(wait, |at| wait.saturating_sub(at.elapsed()));
        tokio::select! {
            _ = grid.sleep(wait, next) => {}
            // Leaving maintenance: check at once. Passive checks saw
            // errors: check again at `fastinter`.
            _ = server.status.wake.notified() => {
                if !server.status.take_check_now() {
                    let fast = check.health.fastinter.unwrap_or(inter);
                    grid.sleep(fast, fast).await;
                }
            }
        }
    }
}

/// A check moved a server up or down: the balancer first (so no new
/// request goes to a dead server), then the log line, then the queue.
pub(crate) fn apply_transition(
    proxy: &Proxy,
    b: usize,
    s: usize,
    t: Transition,
    outcome: &CheckOutcome,
) {
    let be = &proxy.backends[b];
    let server = &be.servers[s];
    let up = t == Transition::Up;
    server
        .status
        .apply_level(|level| be.lb.balancer.set_up(ServerId::new(s as u32), level));
    let left = requeue(proxy, b, s, up);
    let line =
        gwd_check::check_transition_line(&be.conf.name, &server.conf.name, t, outcome, &left);
    if up {
        tracing::info!(target: "gwd::health", "{line}");
    } else {
        tracing::warn!(target: "gwd::health", "{line}");
    }
    warn_if_no_server(proxy, b);
}

/// Server `s` of backend `b` just went up (`up`) or down, into or out
/// of maintenance or drain: offers the queue what changed (its waiters to
/// other servers, or the server's room to the waiters), then gives the
/// counts HAProxy's state-change lines end with. Going away: the waiters
/// whose key moved to another server (`requeued`) and those still
/// waiting for it (`remaining in queue`: hashing's own queue, else
/// none); coming back: the waiters it took (`requeued`) and the whole
/// queue left (`total in queue`).
pub(crate) fn requeue(proxy: &Proxy, b: usize, s: usize, up: bool) -> Left {
    let be = &proxy.backends[b];
    let r = be.lb.dispatch_after(ServerId::new(s as u32));
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let usable = be.lb.balancer.usable();
    Left {
        active: usable.active,
        backup: usable.backup,
        sessions: u32::try_from(be.servers[s].counters.current_sessions()).unwrap_or(u32::MAX),
        requeued: count(if up { r.taken_over } else { r.moved_away }),
        queued: count(if up { r.queued } else { r.left_home }),
    }
}

/// Logs "backend app has no server available!" when no server of
/// backend `b` is usable any more.
pub(crate) fn warn_if_no_server(proxy: &Proxy, b: usize) {
    let be = &proxy.backends[b];
    let usable = be.lb.balancer.usable();
    if usable.active == 0 && usable.backup == 0 && !be.servers.is_empty() {
        tracing::error!(target: "gwd::health", "{}", gwd_check::no_server_line(&be.conf.name));
    }
}

/// After any change of a server's state or weight in backend `b` that
/// logs no line of its own: the "no server available" line when it
/// applies, and the queue offered freed or moved capacity (a server back,
/// or with hashing another home for waiting keys).
pub(crate) fn settle(proxy: &Proxy, b: usize) {
    warn_if_no_server(proxy, b);
    proxy.backends[b].lb.dispatch();
}

/// Runs one check; `duration` is filled by the caller.
async fn run_check(server: &ServerRt, be: &crate::state::BackendRt) -> CheckOutcome {
    let target = server
        .check_target
        .as_ref()
        .expect("only checked servers run checks");
    let inter = server
        .conf
        .check
        .as_ref()
        .map_or(Duration::from_secs(2), |c| c.health.inter);
    let (connect_limit, read_limit) = match be.conf.timeouts.check {
        Some(read) => (be.conf.timeouts.connect.unwrap_or(inter).min(inter), read),
        None => (inter, inter),
    };
    let deadline = tokio::time::Instant::now() + read_limit.max(connect_limit);
    let outcome = |status: CheckStatus, code: Option<u16>, info: Option<String>| CheckOutcome {
        status,
        code,
        info,
        duration: Duration::ZERO,
    };

    // Layer 4.
    let connect = crate::upstream::conn::connect_tcp(&target.host, target.port);
    let tcp = match tokio::time::timeout(connect_limit, connect).await {
        Err(_) => return outcome(CheckStatus::L4Tout, None, None),
        Ok(Err(ConnectError::Io(e))) => {
            return outcome(CheckStatus::L4Con, None, Some(io_info(&e)));
        }
        Ok(Err(e)) => return outcome(CheckStatus::L4Con, None, Some(e.to_string())),
        Ok(Ok(s)) => s,
    };
    let http = be.conf.http_check.as_ref();
    if http.is_some() || target.tls.is_some() {
        // Only a check that sends something needs it: a bare TCP check
        // saves the system call, 500 times a second for 1,000 servers.
        let _ = tcp.set_nodelay(true);
    }
    // Closed with a reset, as HAProxy closes its checks: no FIN exchange
    // and no TIME_WAIT left behind for every check of every server.
    // (Linger 0 never blocks: the close is a reset, nothing is flushed.)
    let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
    let read_deadline = match be.conf.timeouts.check {
        Some(read) => tokio::time::Instant::now() + read,
        None => deadline,
    };

    // Layer 6.
    match &target.tls {
        None => match http {
            None => outcome(CheckStatus::L4Ok, None, None),
            Some(h) if target.h2 => h2_exchange(tcp, h, target, read_deadline).await,
            Some(h) => http_exchange(tcp, h, read_deadline).await,
        },
        Some((cfg, name)) => {
            let hs = TlsConnector::from(cfg.clone()).connect(name.clone(), tcp);
            let tls = match tokio::time::timeout_at(read_deadline, hs).await {
                Err(_) => return outcome(CheckStatus::L6Tout, None, None),
                Ok(Err(e)) => return outcome(CheckStatus::L6Rsp, None, Some(e.to_string())),
                Ok(Ok(t)) => t,
            };
            match http {
                None => outcome(CheckStatus::L6Ok, None, None),
                Some(h) if target.h2 => h2_exchange(tls, h, target, read_deadline).await,
                Some(h) => http_exchange(tls, h, read_deadline).await,
            }
        }
    }
}

/// Layer 7: send the request, read until the answer is judged, the
/// server closes, or the check buffer is full.
async fn http_exchange<S>(
    mut io: S,
    check: &HttpCheck,
    deadline: tokio::time::Instant,
) -> CheckOutcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let outcome = |status, info: Option<String>| CheckOutcome {
        status,
        code: None,
        info,
        duration: Duration::ZERO,
    };
    let exchange = async {
        if let Err(e) = io.write_all(&check.request()).await {
            return outcome(CheckStatus::L7Rsp, Some(io_info(&e)));
        }
        let _ = io.flush().await;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let n = match io.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) if buf.is_empty() => return outcome(CheckStatus::L7Rsp, Some(io_info(&e))),
                // A reset after some bytes: judge what arrived.
                Err(_) => 0,
            };
            let take = n.min(gwd_check::MAX_RESPONSE - buf.len());
            buf.extend_from_slice(&chunk[..take]);
            let eof = n == 0 || buf.len() >= gwd_check::MAX_RESPONSE;
            if let Some(o) = check.judge(&buf, eof) {
                return o;
            }
            if eof {
                return outcome(CheckStatus::L7Rsp, Some("truncated response".into()));
            }
        }
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(o) => o,
        Err(_) => outcome(CheckStatus::L7Tout, None),
    }
}

/// Layer 7 over HTTP/2 (`check-proto h2`, or an `h2` server checked on
/// its own address): the check's request on one stream of a fresh
/// connection; the answer, its body read up to the check buffer, is
/// judged by the same rules as an HTTP/1.x one.
async fn h2_exchange<S>(
    io: S,
    check: &HttpCheck,
    target: &CheckTarget,
    deadline: tokio::time::Instant,
) -> CheckOutcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let outcome = |status, info: String| CheckOutcome {
        status,
        code: None,
        info: Some(info),
        duration: Duration::ZERO,
    };
    let exchange = async {
        let opts = gwd_h2_conn::ClientOptions::default();
        let client = match gwd_h2_conn::handshake(io, &opts, ()).await {
            Ok(c) => c,
            Err(e) => return outcome(CheckStatus::L7Rsp, format!("HTTP/2 handshake: {e}")),
        };
        // The connection ends with the check, however it ends.
        let _stop = AbortOnDrop(client.clone());
        // `:authority` from a configured Host header, else the target.
        let host = check
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                if target.host.contains(':') {
                    format!("[{}]:{}", target.host, target.port)
                } else {
                    format!("{}:{}", target.host, target.port)
                }
            });
        let scheme = if target.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let method = match http::Method::from_bytes(check.method.as_bytes()) {
            Ok(m) => m,
            Err(e) => return outcome(CheckStatus::SockErr, format!("check request: {e}")),
        };
        let uri = match http::Uri::try_from(format!("{scheme}://{host}{}", check.uri)) {
            Ok(u) => u,
            Err(e) => return outcome(CheckStatus::SockErr, format!("check request: {e}")),
        };
        let mut fields = gwd_head::Fields::new();
        for (n, v) in &check.headers {
            // Connection-specific fields do not exist in HTTP/2.
            if matches!(
                n.to_ascii_lowercase().as_str(),
                "host" | "connection" | "keep-alive" | "transfer-encoding" | "upgrade"
            ) {
                continue;
            }
            if let Err(e) = fields.try_append(n.as_bytes(), v.as_bytes()) {
                return outcome(CheckStatus::SockErr, format!("check request: {e}"));
            }
        }
        let head = gwd_head::RequestHead {
            method,
            uri,
            version: http::Version::HTTP_2,
            fields,
        };
        let body = check
            .body
            .clone()
            .filter(|b| !b.is_empty())
            .map(|b| http_body_util::Full::new(bytes::Bytes::from(b)));
        let (resp, mut body) = match client.send_request(head, body).await {
            Ok(r) => r,
            Err(e) => return outcome(CheckStatus::L7Rsp, e.to_string()),
        };
        let mut data = Vec::new();
        while data.len() < gwd_check::MAX_RESPONSE {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        data.extend_from_slice(&d);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        check.judge_answer(
            resp.status.as_u16(),
            resp.status.canonical_reason().unwrap_or(""),
            &data,
        )
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(o) => o,
        Err(_) => CheckOutcome {
            status: CheckStatus::L7Tout,
            code: None,
            info: None,
            duration: Duration::ZERO,
        },
    }
}

/// Stops the HTTP/2 connection's driver when the check ends.
struct AbortOnDrop(gwd_h2_conn::Client);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An I/O error as HAProxy's check info shows it ("Connection refused").
fn io_info(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        io::ErrorKind::TimedOut => "Connection timed out".into(),
        _ => {
            let s = e.to_string();
            // std appends " (os error N)".
            match s.find(" (os error") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn checked_proxy(addr: std::net::SocketAddr) -> Arc<Proxy> {
        let cfg = gwd_config::parse_str(
            &format!(
                "[frontend.f]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\ndefault_backend = \"b\"\n\
                 [backend.b]\nserver = [ {{ name = \"s\", addr = \"{addr}\", check = true, inter = \"100ms\" }} ]\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .expect("a valid test config");
        Arc::new(Proxy::new(Arc::new(cfg)).expect("buildable"))
    }

    /// Counts the connections `listener` (non-blocking) accepts within
    /// `window`, stopping at `enough`; polls every 5 ms.
    fn accepted(listener: &TcpListener, window: Duration, enough: usize) -> usize {
        let until = Instant::now() + window;
        let mut n = 0;
        while n < enough && Instant::now() < until {
            match listener.accept() {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        n
    }

    /// The checks need nothing from the runtime that started them: with
    /// its only thread blocked (here in a plain `accept`), the server is
    /// still checked, over and over; dropping the handle stops them.
    #[test]
    fn checks_run_off_the_request_runtime_and_stop_when_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let proxy = checked_proxy(listener.local_addr().expect("an address"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let checks = rt.block_on(async { HealthChecks::start(&proxy) });
        assert_eq!(checks.len(), 1);
        // The runtime's one thread is this one, busy below and never
        // polling: only the checks' own thread can be connecting. Two
        // checks prove they run on their timer.
        listener.set_nonblocking(true).expect("non-blocking");
        assert_eq!(accepted(&listener, Duration::from_secs(5), 2), 2);
        drop(checks);
        // Stopped: the thread's runtime is gone, no check connects again
        // over four intervals (one may have been connecting at the drop).
        let late = accepted(&listener, Duration::from_millis(400), usize::MAX);
        assert!(late <= 1, "{late} checks after the stop");
    }

    #[test]
    fn nothing_checked_starts_no_thread() {
        let proxy = crate::state::test_proxy();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let checks = rt.block_on(async { HealthChecks::start(&proxy) });
        assert!(checks.is_empty());
        assert!(matches!(checks.runner, Runner::Idle));
    }
}
