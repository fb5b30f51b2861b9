//! The proxy core: one request's life as named steps, the same whichever
//! protocol the visitor spoke and whichever kind of server answers.
//!
//! # Steps
//!
//! [`handle`] runs, in order:
//!
//! 1. **received**: counted on the frontend; the log line's request line.
//! 2. **check**: `Host` from `:authority` (HTTP/2), conflicting host
//!    information (400), head size (431), CONNECT (501), `h2c` upgrades
//!    dropped, and the fields the visitor's `Connection` names removed
//!    before any rule can add them back.
//! 3. **frontend rules** (`http-request`): may answer (`return`, `deny`,
//!    services) or edit the head.
//! 4. **stats page** of the frontend.
//! 5. **backend**: the first `use_backend` that applies, else the default.
//! 6. **backend rules**.
//! 7. **shape**: the compression algorithm the answer may use
//!    ([`crate::compress`]; `offload` removes `Accept-Encoding`),
//!    `option forwardfor`, the fixed hop-by-hop fields.
//! 8. **server**: a slot on a server from the backend's balancer
//!    ([`crate::backend`]: `balance`, weights, states, `maxconn`), or a
//!    wait in its queue (`timeout queue`, 503 `sQ`).
//! 9. **forward**: the retry loop ([`retry`]) over the upstream seam
//!    ([`crate::upstream`]); retries redispatch to another server
//!    (`option redispatch`) or stay.
//! 10. **response**: hop-by-hop fields of the answer removed; the
//!     backend's then the frontend's `http-response` rules ([`rules`]),
//!     which may replace the answer; compression, if the server's head
//!     allowed it, applied to the head and the streamed body; counted.
//! 11. **after-response**: every answer, relayed or local, gets the
//!     backend's (once chosen) then the frontend's `http-after-response`
//!     rules.
//!
//! The visitor side then delivers the [`Answer`] in its protocol and calls
//! [`TxnEnd::finish`] once: the access-log line, byte counts and timing
//! averages happen there.
//!
//! Every answer gwd makes itself goes through one table
//! ([`outcome::Outcome`]): status, log reason, termination state and
//! counters are never decided inline.
//!
//! # Invariants
//!
//! * Exactly one access-log line per request, written by
//!   [`TxnEnd::finish`] (or its drop, if the visitor side never got to
//!   deliver the answer).
//! * Gauges (requests in progress, backend and server sessions) are RAII
//!   guards held by the [`TxnEnd`], so they return to zero whatever path
//!   a request takes.

mod end;
pub(crate) mod interim;
pub(crate) mod outcome;
pub(crate) mod retry;
pub(crate) mod rules;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use gwd_config::{BackendChoice, BackendId, FrontendId};
use gwd_head::{Method, RequestHead, ResponseHead, StatusCode, Version};
use gwd_sample::{CaptureDir, TlsInfo, VarScope, Vars};
use gwd_stats::{Guard, ProxyCounters, ServerCounters};

use gwd_balance::{Ask, NoPick, ServerId};

pub(crate) use self::end::TxnEnd;
use self::outcome::{Blame, Outcome};
use self::retry::{AttemptObserver, RetryPolicy, send_with_retries};
use self::rules::ResponseList;
use crate::access_log::{Ender, LogRecord, Phase};
use crate::backend;
use crate::backend::passive::Seen;
use crate::backend::queue::{NoSlot, Slot};
use crate::body::{Body, BodyEnd, FailKind, Watched};
use crate::compress;
use crate::conn_io::{ActiveGuard, ConnShared};
use crate::context::{RequestView, ResponseView, version_str};
use crate::headers::{
    add_forwarded_for, head_size, strip_all_hop_by_hop, strip_connection_options, strip_hop_by_hop,
    upgrade_is_h2c, upgrade_is_websocket,
};
use crate::local::LocalReply;
use crate::state::Proxy;
use crate::stats_http;
use crate::upstream::h1::Upgraded;
use crate::upstream::{
    OutRequest, ProxyUpstream, ResponseBody, SendReport, ServerRef, UpstreamError,
    UpstreamErrorKind, UpstreamResponse,
};

/// What every request on one visitor connection shares.
#[derive(Debug)]
pub struct ConnCtx {
    pub proxy: Arc<Proxy>,
    pub fe: FrontendId,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Boxed: most connections are clear, and every idle one keeps
    /// its context (120 bytes more in each).
    pub tls: Option<Box<TlsInfo>>,
    pub shared: Arc<ConnShared>,
}

/// What a reload means for a visitor connection (see [`ConnCtx::renewed`]).
#[derive(Debug)]
pub enum Renewal {
    /// The config in force now has this connection's frontend: the next
    /// request runs on it.
    Renewed(Arc<ConnCtx>),
    /// The config in force now has no frontend of this name: the
    /// connection keeps the config it has and closes once the requests in
    /// progress are answered.
    FrontendGone,
}

impl ConnCtx {
    /// `None` while the connection's proxy is the one in force; after a
    /// reload, the connection's context on the new one. Requests already
    /// started keep the context they started with.
    pub fn renewed(&self) -> Option<Renewal> {
        let next = self.proxy.successor()?;
        let name = &self.proxy.frontend(self.fe).conf.name;
        Some(match next.frontend_id(name) {
            Some(fe) => Renewal::Renewed(Arc::new({
                self.shared.set_current(&next);
                ConnCtx {
                    proxy: next,
                    fe,
                    peer: self.peer,
                    local: self.local,
                    tls: self.tls.clone(),
                    shared: self.shared.clone(),
                }
            })),
            None => Renewal::FrontendGone,
        })
    }
}

/// A request entering the core.
#[derive(Debug)]
pub(crate) struct InRequest {
    pub head: RequestHead,
    /// `None`: no body.
    pub body: Option<Body>,
    /// Transfer codings before chunked, as the visitor sent them.
    pub codings: Option<Box<str>>,
    /// The visitor asked for a protocol switch it can relay (HTTP/1.1).
    pub upgrade: bool,
    /// Only a switch answers this request: an HTTP/2 WebSocket (extended
    /// CONNECT), to which any other 2xx would read as "tunnel open". A
    /// server that answers otherwise gets the visitor a 502.
    pub must_switch: bool,
    /// Where the server's interim (`1xx`) answers go: the request's key
    /// on its connection (the HTTP/2 stream id, 0 over HTTP/1.1) or its
    /// HTTP/2 stream itself (a tunnel origin's); `None` for a visitor
    /// that takes none (HTTP/1.0).
    pub interim: Option<interim::InterimRoute>,
    /// When the head's first byte came and how long the connection was
    /// idle before it (HAProxy's `TR` and `Ti`); `None` where the head
    /// arrives whole in one event (an HTTP/2 HEADERS frame): both 0.
    pub received: Option<Received>,
}

/// When a request's head began to arrive (see [`InRequest::received`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub first_byte: Instant,
    pub idle: Duration,
}

/// What the core answers.
#[derive(Debug)]
pub(crate) struct Answer {
    pub head: ResponseHead,
    pub body: AnswerBody,
    /// The request asked for the head only (HEAD): no body goes out
    /// whatever the head says.
    pub head_only: bool,
    pub end: TxnEnd,
}

/// An answer's body.
#[derive(Debug)]
pub(crate) enum AnswerBody {
    Empty,
    /// A local answer, complete.
    Full(Bytes),
    /// A server's body, streamed; `codings` as for
    /// [`ResponseBody::Stream`].
    Stream {
        body: Body,
        codings: Option<Box<str>>,
    },
    /// The server switched protocols (`101`).
    Upgraded(Upgraded),
}

/// Runs one request through the core. The transaction (its counters and
/// its log line) starts here, before the future is first polled: a
/// request whose stream is reset before that still gets its line.
pub(crate) fn handle(cx: Arc<ConnCtx>, req: InRequest) -> impl Future<Output = Answer> + Send {
    begin(cx, req).run()
}

/// As [`handle`], boxed. The request's future is large (the log record
/// and every step's locals, about 5.5 KB): it is built in its box
/// ([`crate::heap::pin_in_place`]), not moved there. Built into an
/// `async` wrapper first, it was copied twice more (into the wrapper, and
/// out of it at the first poll; measured: 4 % of an HTTP/2 visitor's CPU
/// in `memcpy`), and `Box::pin` still copied it once.
pub(crate) fn handle_boxed(
    cx: Arc<ConnCtx>,
    req: InRequest,
) -> std::pin::Pin<Box<dyn Future<Output = Answer> + Send>> {
    let begun = begin(cx, req);
    crate::heap::pin_in_place(|| begun.run())
}

/// A request whose transaction has started (counted, and logged even if
/// it is dropped unpolled), not yet run.
pub(crate) struct Begun {
    txn: Txn,
    req: InRequest,
}

pub(crate) fn begin(cx: Arc<ConnCtx>, req: InRequest) -> Begun {
    let active = cx.shared.request_started();
    let txn = Txn::new(cx, active, &req.head, req.received);
    Begun { txn, req }
}

impl Begun {
    pub(crate) fn run(self) -> impl Future<Output = Answer> + Send {
        self.txn.run(self.req)
    }
}

/// One request in flight.
struct Txn {
    /// Whether an access line will be written: names are copied into the
    /// record only then.
    log: bool,
    cx: Arc<ConnCtx>,
    active: Option<ActiveGuard>,
    start: Instant,
    rec: LogRecord,
    be: Option<BackendId>,
    backend_session: Option<Guard<ProxyCounters>>,
    server_session: Option<Guard<ServerCounters>>,
    /// The request's place on its server (balancer in-flight count,
    /// `maxconn`), held until the answer has gone out.
    slot: Option<Slot>,
    /// Time spent in the backend's queue.
    queue_wait: Duration,
    /// Waiting in the queue since then: a visitor leaving meanwhile is
    /// logged `CQ` with the time it waited (HAProxy's).
    queued_at: Option<Instant>,
    /// The server of the last attempt, to count retries and redispatches.
    last_attempt: Option<ServerRef>,
    /// The last attempt failed after the request went out (a `retry-on`
    /// answer, timeout or bad response: HAProxy's layer-7 retry, which
    /// counts `wretr` even when it moves), not at the connection.
    last_failed_late: bool,
    /// The transaction's variables (`txn.*`, `req.*`, `res.*`).
    vars: Vars,
    /// Compression: the algorithm the request side chose, and its facts.
    comp: compress::Exchange,
    /// The books passed to a [`TxnEnd`]; until then, dropping the
    /// transaction (the visitor reset its stream, the connection closed
    /// under a waiting request) still writes its line.
    handed_over: bool,
}

impl Drop for Txn {
    fn drop(&mut self) {
        if self.handed_over {
            return;
        }
        // No answer went out: the visitor left while gwd worked on it
        // (waiting for a server's head, when one was tried).
        self.rec.status = 0;
        self.rec.phase = if let Some(at) = self.queued_at {
            self.rec.t_queue = Some(crate::clock::since(at));
            Phase::Queue
        } else if self.rec.server.is_some() || self.server_session.is_some() {
            Phase::Headers
        } else {
            Phase::Request
        };
        self.rec.t_total = Some(crate::clock::since(self.start));
        if self.cx.proxy.is_hard_stopped() {
            self.rec.ender = Ender::Killed;
            self.rec.reason = Some("hard-stop-after");
        } else {
            self.rec.ender = Ender::Client;
            self.rec.reason = Some("client went away before the answer");
        }
        self.rec.emit();
    }
}

impl Txn {
    fn new(
        cx: Arc<ConnCtx>,
        active: ActiveGuard,
        head: &RequestHead,
        received: Option<Received>,
    ) -> Txn {
        let fe = cx.proxy.frontend(cx.fe);
        let log = LogRecord::enabled_for(&fe.conf.log);
        let head_done = crate::clock::now_std();
        // HAProxy's `Ta` counts from the head's first byte.
        let start = received.map_or(head_done, |r| r.first_byte.min(head_done));
        fe.counters.request_at(head_done);
        let mut rec = LogRecord {
            client: Some(cx.peer),
            accept_date: log.then(SystemTime::now),
            frontend: if log {
                fe.conf.name.clone()
            } else {
                String::new()
            },
            tls: cx.tls.is_some(),
            t_request: Some(head_done - start),
            t_idle: received.map(|r| r.idle),
            conns: [
                cx.proxy.process_conns.current_conns(),
                fe.counters.current_conns(),
                0,
                0,
            ],
            request_line: if log {
                format!(
                    "{} {} HTTP/{}",
                    head.method,
                    head.path_and_query(),
                    version_str(head.version)
                )
            } else {
                String::new()
            },
            extra: LogRecord::extra_for(&fe.conf.log, cx.local),
            captures: LogRecord::new_captures(&fe.conf.captures),
            ..Default::default()
        };
        // Headers are captured as received, before any rule.
        rec.capture_headers(&fe.conf.captures, CaptureDir::Request, &head.fields);
        if rec.extra.is_some() {
            // `%ID` and the `%[expr]` of `log-format` see the request as
            // received (the latter again before it leaves, see `shape`).
            rec.unique_id(&RequestView::new(&cx, head, None));
            let exprs = rec.log_exprs(&RequestView::new(&cx, head, None).with_log(&rec));
            rec.set_log_exprs(exprs);
        }
        Txn {
            log,
            cx,
            active: Some(active),
            start,
            rec,
            be: None,
            backend_session: None,
            server_session: None,
            slot: None,
            queue_wait: Duration::ZERO,
            queued_at: None,
            last_attempt: None,
            last_failed_late: false,
            vars: Vars::new(),
            comp: compress::Exchange::default(),
            handed_over: false,
        }
    }

    /// `unique-id-header` added, and the `%[expr]` of `log-format`
    /// rendered against the request as it leaves.
    fn log_shape(&mut self, head: &mut RequestHead) {
        if self.rec.extra.is_none() {
            return;
        }
        let fe = self.cx.proxy.frontend(self.cx.fe);
        if let Some(name) = &fe.conf.log.unique_id_header
            && let Some(id) = self.rec.extra.as_ref().and_then(|x| x.unique_id.as_deref())
            && let Err(e) = head.fields.try_append(name.as_bytes(), id.as_bytes())
        {
            tracing::debug!(header = %name, error = %e, "unique-id header left out");
        }
        let cx = self.cx.clone();
        let be = self.be.map(|b| cx.proxy.backend(b));
        let view = RequestView::new(&cx, head, be).with_vars(&self.vars);
        let exprs = self.rec.log_exprs(&view.with_log(&self.rec));
        self.rec.set_log_exprs(exprs);
    }

    fn view<'a>(&'a self, head: &'a RequestHead) -> RequestView<'a> {
        RequestView::new(&self.cx, head, self.be.map(|b| self.cx.proxy.backend(b)))
            .with_vars(&self.vars)
            .with_log(&self.rec)
    }

    async fn run(mut self, mut req: InRequest) -> Answer {
        let must_switch = req.must_switch;
        let proxy = self.cx.proxy.clone();
        let fe = proxy.frontend(self.cx.fe);

        // --- check ---
        if let Err(outcome) = self.check(&mut req) {
            let status = outcome
                .spec()
                .status
                .expect("checks fail with a fixed status");
            let reply = LocalReply::error(StatusCode::from_u16(status).expect("a valid status"));
            return self.local(reply, outcome, req.head.method == Method::HEAD);
        }
        let head_only = req.head.method == Method::HEAD;

        // --- frontend rules ---
        let stats = proxy.stats_endpoints().map(|e| &**e);
        let cx = self.cx.clone();
        if let Some(stop) = rules::apply(
            &fe.conf.http_request,
            &mut req.head,
            &cx,
            None,
            stats,
            &mut self.vars,
            &mut self.rec,
        ) {
            tracing::debug!(frontend = %fe.conf.name, outcome = ?stop.outcome, "frontend http-request rules answered");
            if stop.outcome == (Outcome::Tarpitted { by_backend: false }) {
                tarpit(fe.conf.timeouts.tarpit_delay()).await;
            }
            return self.local(stop.reply, stop.outcome, head_only);
        }
        tracing::debug!(frontend = %fe.conf.name, rules = fe.conf.http_request.len(), "frontend http-request rules passed");

        // --- stats page: after the frontend's rules (which may deny it),
        // before any backend, as HAProxy's stats applet ---
        if let Some(page) = &fe.conf.stats
            && let Some(what) = stats_http::match_stats_uri(page, &req.head)
        {
            if !stats_http::authorized(page, &req.head.fields) {
                return self.local(
                    stats_http::unauthorized(&page.realm),
                    Outcome::StatsAuth,
                    head_only,
                );
            }
            let reply = match proxy.stats_endpoints() {
                Some(e) => stats_http::stats_reply(e.as_ref(), page, what, head_only),
                None => stats_http::unavailable(),
            };
            return self.local(reply, Outcome::StatsPage, head_only);
        }

        // --- backend ---
        let chosen = {
            let view = self.view(&req.head);
            fe.conf
                .use_backend
                .iter()
                .filter(|u| u.cond.as_ref().is_none_or(|c| c.eval(&view)))
                .find_map(|u| match &u.backend {
                    BackendChoice::Static(id) => Some(*id),
                    // HAProxy: a computed name that is no backend makes
                    // the rule not apply.
                    BackendChoice::Dynamic(name) => {
                        proxy.backend_id(&name.render(&view, gwd_sample::RenderMode::Text))
                    }
                })
                .or(fe.conf.default_backend)
        };
        let Some(bi) = chosen else {
            return self.local(
                LocalReply::error(StatusCode::SERVICE_UNAVAILABLE),
                Outcome::NoBackend,
                head_only,
            );
        };
        self.be = Some(bi);
        let be = proxy.backend(bi);
        tracing::debug!(
            frontend = %fe.conf.name,
            backend = %be.conf.name,
            method = %req.head.method,
            "request routed"
        );
        if self.log {
            self.rec.backend = Some(be.conf.name.clone());
        }
        be.counters.request_at(self.start);
        self.backend_session = Some(be.counters.session_opened_at(self.start));
        // HAProxy 2.6 logs the sessions still active on the backend and
        // the server once this one has left them (1/1/0/0/0 for a lone
        // request): this request is not counted.
        self.rec.conns[2] = be.counters.current_sessions().saturating_sub(1);

        // --- backend rules ---
        if let Some(stop) = rules::apply(
            &be.conf.http_request,
            &mut req.head,
            &cx,
            Some(be),
            stats,
            &mut self.vars,
            &mut self.rec,
        ) {
            tracing::debug!(backend = %be.conf.name, outcome = ?stop.outcome, "backend http-request rules answered");
            if stop.outcome == (Outcome::Tarpitted { by_backend: true }) {
                tarpit(be.conf.timeouts.tarpit_delay()).await;
            }
            return self.local(stop.reply, stop.outcome, head_only);
        }

        // The balancing key is read before the head leaves for the server.
        let hash_key = backend::hash_key(&be.conf.balance, &req.head, self.cx.peer.ip());

        // --- shape: compression's choice (`offload` edits the head) ---
        self.comp = compress::on_request(&fe.conf.compression, &be.conf.compression, &mut req.head);
        self.log_shape(&mut req.head);
        if let Some(h) = fe.forwardfor.as_deref().or(be.forwardfor.as_deref()) {
            add_forwarded_for(&mut req.head.fields, h, self.cx.peer.ip());
        }
        strip_hop_by_hop(&mut req.head.fields, req.upgrade);
        let body_server = Arc::new(OnceLock::<Arc<ServerCounters>>::new());
        let body = req
            .body
            .map(|b| self.count_request_body(b, bi, body_server.clone()));
        let out = OutRequest {
            head: req.head,
            body,
            codings: req.codings,
            upgrade: req.upgrade,
            tls: self.cx.tls.is_some(),
            body_server: Some(body_server),
            interim: req.interim.map(|route| match route {
                interim::InterimRoute::Key(key) => interim::InterimTo::Driver {
                    shared: self.cx.shared.clone(),
                    key,
                },
                interim::InterimRoute::Stream(h) => interim::InterimTo::Stream(h),
            }),
        };

        // --- server: a slot from the balancer, or a place in the queue ---
        let mut slot = match be.lb.try_choose(&Ask {
            key: hash_key.as_deref(),
            random: be.lb.draw(),
            avoid: None,
        }) {
            Ok(slot) => slot,
            Err(NoPick::NoServer) => return self.no_server(head_only),
            Err(NoPick::Full) => {
                let waited_from = crate::clock::now_std();
                self.rec.backend_queue = be.lb.queued() as u64;
                let _queued = be.counters.queued();
                // A hashed key waits for its own server (HAProxy's server
                // queue; the queue counts it in that server's row), which
                // the log names should the visitor leave meanwhile.
                if let Some((home, ahead)) = be.lb.home_queue(hash_key.as_deref()) {
                    self.rec.srv_queue = ahead as u64;
                    if self.log {
                        self.rec.server = Some(be.servers[home.index()].conf.name.clone());
                    }
                }
                self.queued_at = Some(waited_from);
                let limit = be.conf.timeouts.queue_limit();
                // Boxed: a rare path whose timer would otherwise widen
                // every request's future.
                let got = Box::pin(be.lb.wait(hash_key.as_deref(), be.lb.draw(), limit)).await;
                self.queue_wait = crate::clock::since(waited_from);
                self.queued_at = None;
                match got {
                    Ok(slot) => slot,
                    Err(NoSlot::NoServer) => return self.no_server(head_only),
                    Err(NoSlot::QueueTimeout) => {
                        self.rec.t_queue = Some(self.queue_wait);
                        return self.local(
                            LocalReply::error(StatusCode::SERVICE_UNAVAILABLE),
                            Outcome::QueueTimeout,
                            head_only,
                        );
                    }
                }
            }
        };

        // --- forward ---
        let upstream = ProxyUpstream {
            cx: self.cx.clone(),
        };
        let first_request = self.cx.shared.requests() == 1;
        let policy = RetryPolicy {
            max_connect_attempts: be.conf.retries as usize + 1,
            max_refusals: 3,
            redispatch: be.conf.redispatch,
            retry_on: be.conf.retry_on,
        };
        let mut first = Some(bi.server(slot.server().index()));
        let sent = send_with_retries(
            &upstream,
            |avoid| {
                if let Some(f) = first.take() {
                    return Some(f);
                }
                let ask = Ask {
                    key: hash_key.as_deref(),
                    random: be.lb.draw(),
                    avoid: avoid.map(|a| ServerId::new(a.server.index() as u32)),
                };
                // A retry never queues: without a free slot elsewhere it
                // stays where it is, keeping its slot.
                let next = be.lb.try_choose(&ask).ok()?;
                let at = bi.server(next.server().index());
                slot = next;
                Some(at)
            },
            first_request,
            policy,
            &mut self,
            out,
        )
        .await;
        self.slot = Some(slot);
        match sent {
            Ok((at, resp)) => self.relay(at, resp, head_only, must_switch),
            Err(failure) => {
                let outcome = failure.outcome(|s| proxy.server(s).named.is_some());
                let server = match &failure {
                    retry::RetryFailure::Failed { server, error, .. } => {
                        self.log_upstream_failure(*server, error);
                        Some(*server)
                    }
                    retry::RetryFailure::NoServer => None,
                };
                let status = outcome
                    .spec()
                    .status
                    .expect("upstream failures have a fixed status");
                let reply =
                    LocalReply::error(StatusCode::from_u16(status).expect("a valid status"));
                self.local_on(reply, outcome, server, head_only)
            }
        }
    }

    /// The checks every request passes before any rule.
    fn check(&mut self, req: &mut InRequest) -> Result<(), Outcome> {
        let head = &mut req.head;
        let mut host_made = false;
        // A target's authority (HTTP/2's `:authority`, an absolute-form
        // HTTP/1.1 target) becomes the Host field: it must be one host,
        // as gwd-h1 already requires of an HTTP/1.1 Host. A list
        // (`allowed,internal`) would let a `req.hdr(host)` rule match one
        // element while the server reads the whole.
        if head
            .uri
            .authority()
            .is_some_and(|a| !gwd_head::valid_host(a.as_str().as_bytes()))
            || (head.version == Version::HTTP_2
                && head
                    .fields
                    .get_all("host")
                    .any(|h| !gwd_head::valid_host(h)))
        {
            return Err(Outcome::BadRequest("invalid host field"));
        }
        // An absolute-form HTTP/1.1 target without Host: the authority
        // becomes the Host field (RFC 9112 §3.2.2), or it would be lost on
        // the way to an origin-form server.
        if head.version != Version::HTTP_2
            && !head.fields.contains("host")
            && let Some(a) = head.uri.authority().map(|a| a.as_str().to_owned())
        {
            match head.fields.try_append(b"host", a.as_bytes()) {
                Ok(()) => host_made = true,
                Err(e) => tracing::debug!(error = %e, "authority not usable as host"),
            }
        }
        // HTTP/2 carries the host in :authority; rules and HTTP/1 servers
        // expect a Host field, as HAProxy's H2 layer provides.
        if head.version == Version::HTTP_2 {
            let authority = head.uri.authority().map(|a| a.as_str().to_owned());
            match (authority, head.fields.count("host")) {
                (_, n) if n > 1 => return Err(Outcome::BadRequest("more than one host field")),
                (Some(a), 1) => {
                    if head
                        .fields
                        .get("host")
                        .is_some_and(|h| !h.eq_ignore_ascii_case(a.as_bytes()))
                    {
                        return Err(Outcome::BadRequest("host field differs from :authority"));
                    }
                }
                (Some(a), _) => match head.fields.try_append(b"host", a.as_bytes()) {
                    Ok(()) => host_made = true,
                    Err(e) => tracing::debug!(error = %e, "authority not usable as host"),
                },
                (None, _) => {}
            }
        }
        if host_made {
            // The Host made from `:authority` (or an absolute target) is
            // captured as HAProxy's H2 layer shows it: as received.
            let slots = &self.cx.proxy.frontend(self.cx.fe).conf.captures;
            self.rec
                .capture_headers(slots, CaptureDir::Request, &head.fields);
        }
        if head_size(head) > self.cx.proxy.config.global.max_header_size {
            return Err(Outcome::HeadTooLarge);
        }
        if head.method == Method::CONNECT {
            return Err(Outcome::MethodNotSupported);
        }
        if req.upgrade && upgrade_is_h2c(&head.fields) {
            // RFC 9113 removed the h2c upgrade: the request goes on as a
            // plain HTTP/1.1 request.
            req.upgrade = false;
            head.fields.remove("upgrade");
            head.fields.remove("http2-settings");
        }
        if req.upgrade
            && upgrade_is_websocket(&head.fields)
            && head
                .fields
                .get("sec-websocket-key")
                .is_none_or(|k| k.trim_ascii().is_empty())
        {
            // RFC 6455 §4.1: no key, no handshake; HAProxy answers 400.
            return Err(Outcome::BadRequest(
                "websocket upgrade without Sec-WebSocket-Key",
            ));
        }
        // The fields the visitor's `Connection` names go before any rule
        // runs: what gwd adds below (rules, `option forwardfor`) is not
        // the visitor's to delete.
        strip_connection_options(&mut head.fields, req.upgrade);
        Ok(())
    }

    /// Wraps the request body to count its bytes on the frontend, the
    /// backend, and the server it is sent to.
    fn count_request_body(
        &self,
        body: Body,
        bi: BackendId,
        server: Arc<OnceLock<Arc<ServerCounters>>>,
    ) -> Body {
        let fe_c = self.cx.proxy.frontend(self.cx.fe).counters.clone();
        let be_c = self.cx.proxy.backend(bi).counters.clone();
        Body::new(Watched::new(body, None, move |_end, bytes| {
            fe_c.bytes_in(bytes);
            be_c.bytes_in(bytes);
            if let Some(s) = server.get() {
                s.bytes_in(bytes);
            }
        }))
    }

    fn log_upstream_failure(&self, at: ServerRef, error: &UpstreamError) {
        let server = self.cx.proxy.server(at);
        tracing::debug!(server = %server.conf.name, error = %error, "request failed upstream");
    }

    /// A server answered: count it and hand the answer to the visitor side.
    fn relay(
        mut self,
        at: ServerRef,
        resp: UpstreamResponse,
        head_only: bool,
        must_switch: bool,
    ) -> Answer {
        let proxy = self.cx.proxy.clone();
        let UpstreamResponse {
            mut head,
            body,
            report,
        } = resp;
        self.note_report(&report);
        if must_switch && !matches!(body, ResponseBody::Upgraded(_)) && head.status.is_success() {
            // The server answered the WebSocket with a 2xx that is no
            // switch: an HTTP/2 visitor would take it for an open tunnel.
            // Its answer is dropped, with its connection. (Other answers,
            // 401 or a redirect, are relayed as they are.)
            tracing::debug!(status = %head.status, "server did not switch protocols for an extended CONNECT");
            drop(body);
            return self.local_on(
                LocalReply::error(StatusCode::BAD_GATEWAY),
                Outcome::NoSwitch,
                Some(at),
                head_only,
            );
        }
        let status = head.status.as_u16();
        proxy.passive_seen(at, Seen::of_status(status));
        let be = proxy.backend(at.backend);
        be.server(at.server).counters.response(status);
        let upgraded = matches!(body, ResponseBody::Upgraded(_));
        let fe = proxy.frontend(self.cx.fe);
        // Decided on the server's head, before hop-by-hop fields go and
        // before any rule (HAProxy's order); applied after the rules.
        let streamed = matches!(body, ResponseBody::Stream { codings: None, .. });
        let (fc, bc) = (&fe.conf.compression, &be.conf.compression);
        let comp = compress::on_response(fc, bc, self.comp, &head, streamed);
        strip_all_hop_by_hop(&mut head.fields, upgraded);

        // --- response rules: the backend's, then the frontend's ---
        // `req.*` variables end with the request's processing.
        self.vars.clear_scope(VarScope::Req);
        let slots = &fe.conf.captures;
        self.rec
            .capture_headers(slots, CaptureDir::Response, &head.fields);
        let cx = self.cx.clone();
        for list in [&be.conf.http_response, &fe.conf.http_response] {
            if let Some(stop) = rules::apply_response(
                list,
                &mut head,
                &cx,
                Some(be),
                &mut self.vars,
                &mut self.rec,
                ResponseList::Response,
            ) {
                // The server's answer is replaced: its body is dropped
                // with its connection.
                drop(body);
                return self.local_on(stop.reply, stop.outcome, Some(at), head_only);
            }
        }
        if let Some(algo) = comp {
            compress::apply_head(&mut head.fields, algo);
        }
        self.after_response(&mut head);
        // The status as the rules left it decides what may follow the
        // head. No final answer is informational (a rule's `set-status
        // 1xx` would leave the visitor waiting for one): a failed rewrite.
        if head.status.is_informational() && !upgraded {
            tracing::info!(status = %head.status, "http-response rewrite failed: an informational status as the final answer");
            drop(body);
            return self.local_on(
                LocalReply::error(StatusCode::BAD_GATEWAY),
                Outcome::ResponseRewriteFailed,
                Some(at),
                head_only,
            );
        }
        // A 204 or 304 has no content, whatever came with it (an HTTP/2
        // server's DATA, a rule's `set-status` on a 200): relayed, its
        // bytes would be read as the start of the visitor's next answer.
        // A 204 states no length either (RFC 9110 §8.6; HTTP/2 visitors
        // refuse one); a 304's describes the representation and stays.
        // HAProxy does the same.
        let mut body = body;
        if !upgraded && matches!(head.status.as_u16(), 204 | 304) {
            if matches!(body, ResponseBody::Stream { .. }) {
                drop(std::mem::replace(&mut body, ResponseBody::Empty));
            }
            if head.status == StatusCode::NO_CONTENT {
                head.fields.remove("content-length");
            }
            if comp.is_some() {
                // gwd said it would compress a body that is now gone: no
                // coding was applied (a cache freshening a stored answer
                // with a 304's fields would take it for the stored one's).
                head.fields.remove("content-encoding");
            }
        }
        let status = head.status.as_u16();
        self.rec.status = status;
        fe.counters.response(status);
        be.counters.response(status);
        let body = match body {
            ResponseBody::Empty => AnswerBody::Empty,
            ResponseBody::Stream { body, codings } => AnswerBody::Stream {
                body: match comp {
                    Some(algo) => compress::encoder::Compressed::boxed_counted(
                        body,
                        algo,
                        compress::encoder::Counted::new(&fe.counters, &be.counters),
                    ),
                    None => body,
                },
                codings,
            },
            ResponseBody::Upgraded(u) => AnswerBody::Upgraded(u),
        };
        Answer {
            head,
            body,
            head_only,
            end: self.into_end(Some(at)),
        }
    }

    fn note_report(&mut self, report: &SendReport) {
        self.rec.t_queue = Some(self.queue_wait + report.queue);
        self.rec.t_connect = Some(report.connect);
        self.rec.t_response = Some(report.response);
    }

    /// No usable server in the chosen backend.
    fn no_server(self, head_only: bool) -> Answer {
        self.local(
            LocalReply::error(StatusCode::SERVICE_UNAVAILABLE),
            Outcome::NoServer,
            head_only,
        )
    }

    /// Answers locally (rules, errors, services), before any server.
    fn local(self, reply: LocalReply, outcome: Outcome, head_only: bool) -> Answer {
        self.local_on(reply, outcome, None, head_only)
    }

    /// Answers locally; `server`: the last server tried, if any.
    fn local_on(
        mut self,
        reply: LocalReply,
        outcome: Outcome,
        server: Option<ServerRef>,
        head_only: bool,
    ) -> Answer {
        let proxy = self.cx.proxy.clone();
        let mut reply = reply;
        // `errorfile`/`errorloc`: the backend's page, else the frontend's
        // (HAProxy's order); `http-after-response` rules apply to it.
        let pages = self
            .be
            .map(|b| &proxy.backend(b).conf.error_pages)
            .into_iter()
            .chain([&proxy.frontend(self.cx.fe).conf.error_pages]);
        let be = self.be.map(|b| proxy.backend(b));
        let view = ResponseView::new(&self.cx, &reply.head, be, &self.vars).with_log(&self.rec);
        if let Some(page) = reply.replaced_by(pages, &view) {
            reply = page;
        }
        self.after_response(&mut reply.head);
        // As for a server's answer: no informational final status (gwd's
        // plain 502 page then, the rules not run again), and no content
        // after a 204 or 304 (the page's bytes would be read as the
        // visitor's next answer).
        if reply.head.status.is_informational() {
            tracing::info!(status = %reply.head.status, "http-after-response rewrite failed: an informational status as the final answer");
            reply = LocalReply::error(StatusCode::BAD_GATEWAY);
        } else if matches!(reply.status(), 204 | 304) {
            reply.body = Bytes::new();
            if reply.head.status == StatusCode::NO_CONTENT {
                reply.head.fields.remove("content-length");
            }
        }
        let spec = outcome.spec();
        let status = reply.status();
        let fe = proxy.frontend(self.cx.fe);
        let be = self.be.map(|b| proxy.backend(b));
        if !spec.unanswered {
            fe.counters.response(status);
            if let Some(be) = be {
                be.counters.response(status);
            }
        }
        let srv = server.map(|s| proxy.server(s));
        match spec.blame {
            Blame::Nobody => {}
            Blame::Request => fe.counters.request_error(),
            Blame::Denied { by_backend: false } => fe.counters.denied(),
            Blame::Denied { by_backend: true } => {
                if let Some(be) = be {
                    be.counters.denied();
                }
            }
            Blame::Backend => {
                if let Some(be) = be {
                    be.counters.connection_error();
                }
            }
            Blame::Rewrite => {
                fe.counters.failed_rewrite();
                if let Some(be) = be {
                    be.counters.failed_rewrite();
                }
            }
            Blame::LastServer => {
                // HAProxy counts this 503 and the connection error on the
                // last server tried.
                if let Some(s) = srv {
                    s.counters.response(status);
                    s.counters.connection_error();
                }
                if let Some(be) = be {
                    be.counters.connection_error();
                }
            }
            Blame::ServerConnect => {
                if let Some(s) = srv {
                    s.counters.connection_error();
                }
                if let Some(be) = be {
                    be.counters.connection_error();
                }
            }
            Blame::ServerResponse => {
                if let Some(s) = srv {
                    s.counters.response_error();
                }
                if let Some(be) = be {
                    be.counters.response_error();
                }
            }
        }
        self.rec.status = if spec.unanswered { 0 } else { status };
        self.rec.ender = spec.ender;
        self.rec.phase = spec.phase;
        if status >= 400 {
            self.rec.reason = Some(spec.reason);
        }
        let LocalReply { head, body, .. } = reply;
        Answer {
            head,
            body: if body.is_empty() {
                AnswerBody::Empty
            } else {
                AnswerBody::Full(body)
            },
            head_only,
            end: self.into_end(None),
        }
    }

    /// `http-after-response` rules, the backend's (once chosen) then the
    /// frontend's, on any answer about to go out.
    fn after_response(&mut self, head: &mut ResponseHead) {
        let proxy = self.cx.proxy.clone();
        let be = self.be.map(|b| proxy.backend(b));
        let fe = proxy.frontend(self.cx.fe);
        let empty = Vec::new();
        let be_rules = be.map_or(&empty, |b| &b.conf.http_after_response);
        for list in [be_rules, &fe.conf.http_after_response] {
            if list.is_empty() {
                continue;
            }
            self.vars.clear_scope(VarScope::Req);
            // After-response rules only edit: they never stop.
            let _ = rules::apply_response(
                list,
                head,
                &self.cx,
                be,
                &mut self.vars,
                &mut self.rec,
                ResponseList::After,
            );
        }
    }

    fn into_end(mut self, relayed: Option<ServerRef>) -> TxnEnd {
        self.handed_over = true;
        TxnEnd {
            rec: std::mem::take(&mut self.rec),
            start: self.start,
            proxy: self.cx.proxy.clone(),
            fe: self.cx.fe,
            relayed,
            _active: self.active.take(),
            _backend_session: self.backend_session.take(),
            _server_session: self.server_session.take(),
            _slot: self.slot.take(),
            stalled: false,
            done: false,
        }
    }
}

impl AttemptObserver for Txn {
    fn redispatch_anyway(&self, at: ServerRef) -> bool {
        redispatch_anyway(self.cx.proxy.backend(at.backend), at.server.index())
    }

    fn attempt(&mut self, at: ServerRef, retries: u32) {
        let be = self.cx.proxy.backend(at.backend);
        let server = be.server(at.server);
        if let Some(prev) = self.last_attempt.replace(at) {
            // `wretr` on the backend and the server retried when the
            // retry stayed there; `wredis` when it moved away from it.
            // As HAProxy counts them: a connection retry that moved is a
            // redispatch only; a layer-7 retry (`retry-on` after the
            // request went out) is a retry, and a redispatch too when it
            // moved.
            let prev_server = be.server(prev.server);
            let moved = prev.server != at.server;
            if moved {
                be.counters.redispatch();
                prev_server.counters.redispatch();
            }
            if !moved || self.last_failed_late {
                be.counters.retry();
                prev_server.counters.retry();
            }
        }
        if self.log {
            if retries > 0 && self.rec.server.as_deref() != Some(server.conf.name.as_str()) {
                self.rec.redispatched = true;
            }
            self.rec.server = Some(server.conf.name.clone());
        }
        self.rec.retries = retries;
        self.rec.t_queue = Some(self.queue_wait);
        // One session on the server per attempt, replacing the last one.
        self.server_session = None;
        self.server_session = Some(server.counters.session_opened_at(crate::clock::now_std()));
        self.rec.conns[3] = server.counters.current_sessions().saturating_sub(1);
    }

    fn failed(&mut self, at: ServerRef, error: &UpstreamError, report: &SendReport) {
        self.last_failed_late = matches!(
            error.kind(),
            UpstreamErrorKind::ResponseTimeout | UpstreamErrorKind::BadResponse
        );
        let be = self.cx.proxy.backend(at.backend);
        let server = be.server(at.server);
        self.rec.t_queue = Some(self.queue_wait + report.queue);
        if outcome::attempt_counts_connect_error(error) {
            server.counters.connection_error();
            be.counters.connection_error();
        }
        if !error.is_connect() {
            self.rec.t_connect = Some(report.connect);
        }
        let seen = match error.kind() {
            UpstreamErrorKind::ConnectFailed => Some(Seen::ConnectFailed),
            UpstreamErrorKind::ConnectTimeout => Some(Seen::ConnectTimeout),
            UpstreamErrorKind::ResponseTimeout | UpstreamErrorKind::BadResponse => {
                Some(Seen::BadResponse)
            }
            _ => None,
        };
        if let Some(seen) = seen {
            self.cx.proxy.passive_seen(at, seen);
        }
        tracing::debug!(server = %server.conf.name, error = %error, "attempt failed");
    }

    fn retried_status(&mut self, at: ServerRef, status: u16) {
        self.last_failed_late = true;
        let proxy = &self.cx.proxy;
        let server = proxy.server(at);
        // The answer counts where it came from, as any answer.
        server.counters.response(status);
        proxy.passive_seen(at, Seen::of_status(status));
        tracing::debug!(server = %server.conf.name, status, "answer dropped for a retry (retry-on)");
    }
}

/// How a protocol switch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TunnelEnd {
    /// Either side closed.
    Closed,
    /// A side failed.
    Failed,
    /// Nothing moved either way for the tunnel's timeout.
    TimedOut,
}

/// `http-request tarpit`'s hold: the visitor waits `delay` for its
/// answer (a robot's connection slot stays taken, as in HAProxy).
async fn tarpit(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// HAProxy's reasons to move a retry to another server whatever
/// `option redispatch`'s interval (`back_handle_st_cer()`): the failed
/// server went down or into maintenance, or the balancing does not hash a
/// key and more than one active server is usable, so which one serves
/// does not matter.
pub(crate) fn redispatch_anyway(be: &crate::state::BackendRt, failed: usize) -> bool {
    let s = be.lb.balancer.server(ServerId::new(failed as u32));
    !s.up
        || s.admin == gwd_balance::Admin::Maint
        || (!be.conf.balance.is_hash() && be.lb.balancer.usable().active > 1)
}

#[cfg(test)]
mod size_tests;
