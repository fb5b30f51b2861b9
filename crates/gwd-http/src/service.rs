//! The request path: rules, backend choice, server choice, forwarding,
//! and the error mapping an HAProxy operator expects.
//!
//! | what happened                                | status | termination |
//! |----------------------------------------------|--------|-------------|
//! | request head over `tune.bufsize`             | 431    | `PR`        |
//! | `http-request deny`                          | 403/…  | `PR`        |
//! | no backend chosen, or backend has no server  | 503    | `SC`        |
//! | every connect attempt failed / timed out     | 503    | `SC`/`sC`   |
//! | no response head within `timeout server`     | 504    | `sH`        |
//! | invalid or truncated response head           | 502    | `SH`        |
//!
//! Connect failures are retried on the next server (round-robin), up to
//! the number of servers and at most 3 attempts. A request that failed to
//! be written on a *reused* connection (closed by the server while idle)
//! is retried once on a fresh connection: it never reached the server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use gwd_config::{BackendChoice, HttpRequestAction, HttpRequestRule, HttpService};
use gwd_sample::TlsInfo;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::access_log::{Ender, LogRecord, Phase};
use crate::body::{Body, BodyEnd, BoxError, FailKind, Watched, full};
use crate::conn_io::{ActiveGuard, ConnShared};
use crate::context::{RequestView, version_str};
use crate::error_page::error_response;
use crate::headers::{
    add_forwarded_for, head_size, strip_all_hop_by_hop, strip_connection_options, strip_hop_by_hop,
    wants_upgrade,
};
use crate::state::{Proxy, ServerRt};
use crate::stats_http;
use crate::upstream::{self, Sender};

/// What every request on one visitor connection shares.
#[derive(Debug)]
pub struct ConnCtx {
    pub proxy: Arc<Proxy>,
    pub fe: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: Option<TlsInfo>,
    pub shared: Arc<ConnShared>,
}

/// Entry point for one request.
pub async fn handle(
    cx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    Ok(handle_any(cx, req).await)
}

/// Entry point for one request with any body type (visitor connections
/// give hyper's, reverse-HTTP tunnels gwd-rhttp's).
pub async fn handle_any<B>(cx: Arc<ConnCtx>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let active = cx.shared.request_started();
    // The request future is large (it carries the log record and every
    // await point's locals); boxing it once keeps the future hyper moves
    // around (and spawns per HTTP/2 stream) one pointer wide.
    Box::pin(Request_::new(cx, active).run(req)).await
}

/// One request in flight.
struct Request_ {
    /// Whether an access line will be written: names are copied into the
    /// record only then.
    log: bool,
    cx: Arc<ConnCtx>,
    active: Option<ActiveGuard>,
    start: Instant,
    rec: LogRecord,
    be: Option<usize>,
    /// Backend and server session gauges, held until the response ends.
    backend_session: Option<gwd_stats::Guard<gwd_stats::ProxyCounters>>,
    server_session: Option<gwd_stats::Guard<gwd_stats::ServerCounters>>,
    /// The server the request body goes to, set when the request is first
    /// sent: the body is wrapped (and its bytes counted) before a server is
    /// chosen, and counts its bytes on this server's `bin` when it ends.
    body_server: Option<Arc<OnceLock<Arc<gwd_stats::ServerCounters>>>>,
}

impl Request_ {
    fn new(cx: Arc<ConnCtx>, active: ActiveGuard) -> Self {
        let fe = &cx.proxy.frontends[cx.fe];
        let log = LogRecord::enabled();
        let rec = LogRecord {
            client: Some(cx.peer),
            accept_date: log.then(SystemTime::now),
            frontend: if log {
                fe.conf.name.clone()
            } else {
                String::new()
            },
            tls: cx.tls.is_some(),
            t_request: Some(Duration::ZERO),
            conns: [
                cx.proxy.process_conns.current_conns(),
                fe.counters.current_conns(),
                0,
                0,
            ],
            ..Default::default()
        };
        Request_ {
            log,
            cx,
            active: Some(active),
            start: Instant::now(),
            rec,
            be: None,
            backend_session: None,
            server_session: None,
            body_server: None,
        }
    }

    /// Records that the request (and its body) is sent to `server`.
    fn body_goes_to(&self, server: &ServerRt) {
        if let Some(slot) = &self.body_server {
            let _ = slot.set(server.counters.clone());
        }
    }

    fn view<'a>(&'a self, parts: &'a Parts) -> RequestView<'a> {
        RequestView {
            parts,
            src: self.cx.peer,
            dst: self.cx.local,
            tls: self.cx.tls.as_ref(),
            fe: &self.cx.proxy.frontends[self.cx.fe],
            be: self.be.map(|b| &self.cx.proxy.backends[b]),
        }
    }

    /// Applies one proxy's `http-request` rules in order.
    fn apply_rules(
        &self,
        rules: &[HttpRequestRule],
        parts: &mut Parts,
    ) -> Option<(Response<Body>, &'static str, bool)> {
        for rule in rules {
            if let Some(c) = &rule.cond
                && !c.eval(&self.view(parts))
            {
                continue;
            }
            match &rule.action {
                HttpRequestAction::Return {
                    status,
                    content_type,
                    body,
                    headers,
                } => {
                    let view = self.view(parts);
                    let text = body.render(&view);
                    let mut resp = Response::new(full(text));
                    *resp.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                    if let Some(ct) = content_type
                        && let Ok(v) = HeaderValue::from_str(ct)
                    {
                        resp.headers_mut().insert(header::CONTENT_TYPE, v);
                    }
                    for (name, value) in headers {
                        if let (Ok(n), Ok(v)) = (
                            HeaderName::from_bytes(name.as_bytes()),
                            HeaderValue::from_str(&value.render(&view)),
                        ) {
                            resp.headers_mut().append(n, v);
                        }
                    }
                    return Some((resp, "http-request return", false));
                }
                HttpRequestAction::Deny { status } => {
                    let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN);
                    return Some((error_response(status), "denied by http-request deny", true));
                }
                HttpRequestAction::SetHeader { name, value } => {
                    let v = value.render(&self.view(parts));
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(&v),
                    ) {
                        parts.headers.insert(n, v);
                    }
                }
                HttpRequestAction::AddHeader { name, value } => {
                    let v = value.render(&self.view(parts));
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(&v),
                    ) {
                        parts.headers.append(n, v);
                    }
                }
                HttpRequestAction::DelHeader { name } => {
                    if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                        parts.headers.remove(n);
                    }
                }
                // Map updates from traffic: writers take the map's writer
                // lock briefly; readers on other threads never wait (the
                // engine publishes a new snapshot).
                HttpRequestAction::SetMap { map, key, value } => {
                    let view = self.view(parts);
                    let (k, v) = (key.render(&view), value.render(&view));
                    if let Err(e) = map.upsert(k.as_bytes(), v.as_bytes()) {
                        tracing::debug!(map = map.name(), error = %e, "set-map refused");
                    }
                }
                HttpRequestAction::DelMap { map, key } | HttpRequestAction::DelAcl { map, key } => {
                    let k = key.render(&self.view(parts));
                    let _ = map.del(k.as_bytes());
                }
                HttpRequestAction::AddAcl { map, key } => {
                    let k = key.render(&self.view(parts));
                    if let Err(e) = map.add_if_absent(k.as_bytes(), b"") {
                        tracing::debug!(map = map.name(), error = %e, "add-acl refused");
                    }
                }
                HttpRequestAction::UseService {
                    service: HttpService::PrometheusExporter,
                } => {
                    let head = parts.method == http::Method::HEAD;
                    let resp = if !head && parts.method != http::Method::GET {
                        stats_http::method_not_allowed()
                    } else {
                        match self.cx.proxy.stats_endpoints() {
                            Some(e) => stats_http::text_response(
                                e.prometheus(),
                                stats_http::PROMETHEUS_CONTENT_TYPE,
                                head,
                            ),
                            None => stats_http::unavailable(),
                        }
                    };
                    return Some((resp, "http-request use-service", false));
                }
            }
        }
        None
    }

    async fn run<B>(mut self, mut req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let proxy = self.cx.proxy.clone();
        let fe = &proxy.frontends[self.cx.fe];
        fe.counters.request_at(self.start);
        if self.log {
            self.rec.request_line = format!(
                "{} {} HTTP/{}",
                req.method(),
                req.uri().path_and_query().map_or("/", |p| p.as_str()),
                version_str(req.version())
            );
        }
        let upgrade = req.version() == Version::HTTP_11 && wants_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();

        // HTTP/2 carries the host in :authority; rules and HTTP/1 servers
        // expect a Host field, as HAProxy's H2 layer provides.
        if !parts.headers.contains_key(header::HOST)
            && let Some(a) = parts.uri.authority()
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            parts.headers.insert(header::HOST, v);
        }

        if head_size(&parts.method, &parts.uri, &parts.headers)
            > proxy.config.global.max_header_size
        {
            fe.counters.request_error();
            return self.local(
                error_response(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
                "request header too large",
                Ender::Resource,
                Phase::Request,
            );
        }

        // The fields the visitor's `Connection` names go before any rule
        // runs: what gwd adds below (rules, `option forwardfor`) is not
        // the visitor's to delete.
        strip_connection_options(&mut parts.headers, upgrade);

        if let Some((resp, reason, denied)) = self.apply_rules(&fe.conf.http_request, &mut parts) {
            if denied {
                fe.counters.denied();
            }
            let ender = if denied { Ender::Proxy } else { Ender::None };
            let phase = if denied { Phase::Request } else { Phase::None };
            return self.local(resp, reason, ender, phase);
        }

        // The stats page, as HAProxy's stats applet: after the frontend's
        // http-request rules (which may deny it), before any backend.
        if let Some(page) = &fe.conf.stats
            && let Some(what) = stats_http::match_stats_uri(page, &parts)
        {
            if !stats_http::authorized(page, &parts.headers) {
                return self.local(
                    stats_http::unauthorized(&page.realm),
                    "stats authentication required",
                    Ender::Proxy,
                    Phase::Request,
                );
            }
            let head = parts.method == http::Method::HEAD;
            let resp = match proxy.stats_endpoints() {
                Some(e) => stats_http::stats_response(e.as_ref(), page, what, head),
                None => stats_http::unavailable(),
            };
            return self.local(resp, "stats page unavailable", Ender::None, Phase::None);
        }

        let chosen = {
            let view = self.view(&parts);
            fe.conf
                .use_backend
                .iter()
                .filter(|u| u.cond.as_ref().is_none_or(|c| c.eval(&view)))
                .find_map(|u| match &u.backend {
                    BackendChoice::Static(i) => Some(*i),
                    // HAProxy: a computed name that is no backend makes
                    // the rule not apply.
                    BackendChoice::Dynamic(name) => proxy.backend_index(&name.render(&view)),
                })
                .or(fe.conf.default_backend)
        };
        let Some(bi) = chosen else {
            return self.local(
                error_response(StatusCode::SERVICE_UNAVAILABLE),
                "no backend for this request",
                Ender::Server,
                Phase::Connect,
            );
        };
        self.be = Some(bi);
        let be = &proxy.backends[bi];
        if self.log {
            self.rec.backend = Some(be.conf.name.clone());
        }
        be.counters.request_at(self.start);
        self.backend_session = Some(be.counters.session_opened_at(self.start));
        self.rec.conns[2] = be.counters.current_sessions();

        if let Some((resp, reason, denied)) = self.apply_rules(&be.conf.http_request, &mut parts) {
            if denied {
                be.counters.denied();
            }
            let ender = if denied { Ender::Proxy } else { Ender::None };
            let phase = if denied { Phase::Request } else { Phase::None };
            return self.local(resp, reason, ender, phase);
        }

        if let Some(h) = fe.forwardfor.as_ref().or(be.forwardfor.as_ref()) {
            add_forwarded_for(&mut parts.headers, h, self.cx.peer.ip());
        }
        strip_hop_by_hop(&mut parts.headers, upgrade);

        // The request body streams to the server as it arrives; while it
        // does, the client-side inactivity timeout applies.
        let body: Body = if body.is_end_stream() {
            body.map_err(Into::into).boxed()
        } else {
            let guard = self.cx.shared.body_reading();
            let fe_c = fe.counters.clone();
            let be_c = be.counters.clone();
            let server = Arc::new(OnceLock::<Arc<gwd_stats::ServerCounters>>::new());
            self.body_server = Some(server.clone());
            Watched::new(body, None, move |_end, bytes| {
                fe_c.bytes_in(bytes);
                be_c.bytes_in(bytes);
                if let Some(s) = server.get() {
                    s.bytes_in(bytes);
                }
                drop(guard);
            })
            .boxed()
        };

        self.forward(bi, parts, body, upgrade, client_upgrade).await
    }

    /// Sends to a server of backend `bi` and relays the answer.
    async fn forward(
        mut self,
        bi: usize,
        parts: Parts,
        body: Body,
        upgrade: bool,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ) -> Response<Body> {
        let proxy = self.cx.proxy.clone();
        let be = &proxy.backends[bi];
        let timeouts = be.conf.timeouts;
        let first_request = self.cx.shared.requests() == 1;
        let max_attempts = be.servers.len().clamp(1, 3);

        let mut req: Option<Request<Body>> = None;
        let mut unsent = Some((parts, body));
        let mut attempts = 0usize;
        let mut retried_stale = false;
        // A stale-connection retry stays on the same server: the request
        // was already shaped for its protocol.
        let mut same_server: Option<usize> = None;
        loop {
            let Some(si) = same_server.take().or_else(|| be.next_server()) else {
                be.counters.connection_error();
                return self.local(
                    error_response(StatusCode::SERVICE_UNAVAILABLE),
                    "no server available in backend",
                    Ender::Server,
                    Phase::Connect,
                );
            };
            let server = &be.servers[si];
            if server.tunnels.is_some() {
                let (parts, body) = match (req.take(), unsent.take()) {
                    (_, Some(u)) => u,
                    (Some(r), None) => r.into_parts(),
                    (None, None) => unreachable!("the request is kept until sent"),
                };
                return self.forward_tunnel(bi, si, parts, body).await;
            }
            if self.log {
                self.rec.server = Some(server.conf.name.clone());
            }
            self.rec.t_queue = Some(Duration::ZERO);
            self.server_session = Some(server.counters.session_opened_at(Instant::now()));
            self.rec.conns[3] = server.counters.current_sessions();

            let pooled = if upgrade {
                None
            } else {
                server.pool.lock().acquire(first_request)
            };
            let reused = pooled.is_some();
            let mut sender = match pooled {
                Some(s) => {
                    server.counters.reused();
                    s
                }
                None => {
                    server.counters.connect_attempt();
                    let t = Instant::now();
                    match upstream::connect(server, timeouts.connect, upgrade).await {
                        Ok(s) => {
                            self.rec.t_connect = Some(t.elapsed());
                            if !upgrade {
                                server.pool.lock().connected(&s);
                            }
                            s
                        }
                        Err(e) => {
                            tracing::debug!(server = %server.conf.name, error = %e, "connect failed");
                            server.counters.connection_error();
                            be.counters.connection_error();
                            attempts += 1;
                            self.rec.retries = attempts.saturating_sub(1) as u32;
                            if attempts < max_attempts {
                                continue;
                            }
                            let (ender, reason) = if e.is_timeout() {
                                (Ender::ServerTimeout, "connect timeout")
                            } else {
                                (Ender::Server, "connection to server failed")
                            };
                            // HAProxy counts this 503 on the last server tried.
                            server
                                .counters
                                .response(StatusCode::SERVICE_UNAVAILABLE.as_u16());
                            return self.local(
                                error_response(StatusCode::SERVICE_UNAVAILABLE),
                                reason,
                                ender,
                                Phase::Connect,
                            );
                        }
                    }
                }
            };
            if !reused && self.rec.t_connect.is_none() {
                self.rec.t_connect = Some(Duration::ZERO);
            }
            if reused {
                self.rec.t_connect = Some(Duration::ZERO);
            }

            let request = match req.take() {
                Some(r) => r,
                None => {
                    let (parts, body) = unsent.take().expect("the request is shaped once");
                    build_upstream_request(parts, body, &sender, server.tls.is_some())
                }
            };
            server.counters.request();
            self.body_goes_to(server);
            let sent_at = Instant::now();
            let res = match timeouts.server {
                Some(t) => match tokio::time::timeout(t, sender.send(request)).await {
                    Ok(r) => r,
                    Err(_) => {
                        server.pool.lock().discard(&sender);
                        return self.server_response_error(
                            bi,
                            si,
                            StatusCode::GATEWAY_TIMEOUT,
                            "server timeout waiting for response",
                            Ender::ServerTimeout,
                            Phase::Headers,
                        );
                    }
                },
                None => sender.send(request).await,
            };
            match res {
                Ok(resp) => {
                    self.rec.t_response = Some(sent_at.elapsed());
                    return self.relay(bi, si, sender, reused, resp, client_upgrade);
                }
                Err(mut e) => {
                    server.pool.lock().discard(&sender);
                    if reused
                        && !retried_stale
                        && let Some(r) = e.take_message()
                    {
                        // The pooled connection died before our request
                        // reached the server: try once more on a new one.
                        retried_stale = true;
                        req = Some(r);
                        same_server = Some(si);
                        continue;
                    }
                    let err = e.into_error();
                    tracing::debug!(server = %server.conf.name, error = %err, "bad response");
                    return self.server_response_error(
                        bi,
                        si,
                        StatusCode::BAD_GATEWAY,
                        "invalid or incomplete response from server",
                        Ender::Server,
                        Phase::Headers,
                    );
                }
            }
        }
    }

    /// Relays a server's response to the visitor, returning the server
    /// connection to its pool when the body has been delivered.
    fn relay(
        mut self,
        bi: usize,
        si: usize,
        sender: Sender,
        was_pooled: bool,
        resp: Response<Incoming>,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ) -> Response<Body> {
        let proxy = self.cx.proxy.clone();
        let (rparts, rbody) = resp.into_parts();
        let status = rparts.status.as_u16();
        self.rec.status = status;
        let fe = &proxy.frontends[self.cx.fe];
        let be = &proxy.backends[bi];
        fe.counters.response(status);
        be.counters.response(status);
        be.servers[si].counters.response(status);

        if status == 101
            && let Some(on_client) = client_upgrade
        {
            let mut resp = Response::from_parts(rparts, Body::default());
            let on_server = hyper::upgrade::on(&mut resp);
            let mut rec = std::mem::take(&mut self.rec);
            let active = self.active.take();
            let sessions = (self.backend_session.take(), self.server_session.take());
            let start = self.start;
            tokio::spawn(async move {
                let _active = active;
                let _sessions = sessions;
                let _sender = sender;
                match tokio::try_join!(on_client, on_server) {
                    Ok((c, s)) => {
                        let mut c = hyper_util::rt::TokioIo::new(c);
                        let mut s = hyper_util::rt::TokioIo::new(s);
                        match tokio::io::copy_bidirectional(&mut c, &mut s).await {
                            Ok((up, down)) => rec.bytes = down + up,
                            Err(_) => rec.ender = Ender::Client,
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "upgrade failed");
                        rec.ender = Ender::Proxy;
                    }
                }
                rec.phase = Phase::Data;
                rec.t_total = Some(start.elapsed());
                rec.emit();
            });
            let _ = &mut resp;
            return resp;
        }

        self.relay_body(
            bi,
            si,
            rparts,
            rbody,
            UpstreamConn::Pooled { sender, was_pooled },
        )
    }

    /// Streams a server's response body to the visitor, counting bytes,
    /// enforcing `timeout server` between frames, and settling the server
    /// connection (back to its pool, or closed) when the body ends.
    fn relay_body<B>(
        mut self,
        bi: usize,
        si: usize,
        mut rparts: http::response::Parts,
        rbody: B,
        conn: UpstreamConn,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let proxy = self.cx.proxy.clone();
        let be = &proxy.backends[bi];
        strip_all_hop_by_hop(&mut rparts.headers, false);
        let server_timeout = be.conf.timeouts.server;
        let mut rec = std::mem::take(&mut self.rec);
        let active = self.active.take();
        let sessions = (self.backend_session.take(), self.server_session.take());
        let start = self.start;
        let proxy2 = proxy.clone();
        let fe_i = self.cx.fe;
        let body = Watched::new(rbody, server_timeout, move |end, bytes| {
            let be = &proxy2.backends[bi];
            let server = &be.servers[si];
            proxy2.frontends[fe_i].counters.bytes_out(bytes);
            be.counters.bytes_out(bytes);
            server.counters.bytes_out(bytes);
            conn.settle(server, end);
            match end {
                BodyEnd::Complete => {}
                BodyEnd::Failed(kind) => {
                    server.counters.response_error();
                    be.counters.response_error();
                    rec.ender = if kind == FailKind::Timeout {
                        Ender::ServerTimeout
                    } else {
                        Ender::Server
                    };
                    rec.phase = Phase::Data;
                }
                BodyEnd::Abandoned => {
                    rec.ender = Ender::Client;
                    rec.phase = Phase::Data;
                }
            }
            rec.bytes = bytes;
            let total = start.elapsed();
            rec.t_total = Some(total);
            // HAProxy's qtime/ctime/rtime/ttime averages, per backend
            // and server, for served responses.
            let z = Duration::ZERO;
            let (q, c, r) = (
                rec.t_queue.unwrap_or(z),
                rec.t_connect.unwrap_or(z),
                rec.t_response.unwrap_or(z),
            );
            be.counters.record_timings(q, c, r, total);
            server.counters.record_timings(q, c, r, total);
            rec.emit();
            drop(sessions);
            drop(active);
        });
        Response::from_parts(rparts, body.boxed())
    }

    /// Sends to an `rhttp@` server: down a tunnel registered under the
    /// name the server's `pool-conn-name` gives for this request.
    async fn forward_tunnel(
        mut self,
        bi: usize,
        si: usize,
        parts: Parts,
        body: Body,
    ) -> Response<Body> {
        let proxy = self.cx.proxy.clone();
        let be = &proxy.backends[bi];
        let server = &be.servers[si];
        let registry = server.tunnels.as_ref().expect("an rhttp@ server");
        if self.log {
            self.rec.server = Some(server.conf.name.clone());
        }
        self.server_session = Some(server.counters.session_opened_at(Instant::now()));
        self.rec.conns[3] = server.counters.current_sessions();
        let name = match server.conf.reverse().and_then(|r| r.name.as_ref()) {
            None => String::new(),
            Some(expr) => {
                let view = self.view(&parts);
                match expr.eval_str(&view) {
                    Some(n) => n.to_ascii_lowercase(),
                    None => {
                        server.counters.connection_error();
                        be.counters.connection_error();
                        return self.local(
                            error_response(StatusCode::SERVICE_UNAVAILABLE),
                            "no tunnel name for request",
                            Ender::Server,
                            Phase::Connect,
                        );
                    }
                }
            }
        };
        let wait = be.conf.timeouts.tunnel_wait.unwrap_or(Duration::ZERO);
        let tls = self.cx.tls.is_some();
        let mut request = Some(build_tunnel_request(parts, body, tls));
        let queued_at = Instant::now();
        // A request that never left (tunnel closed or going away before the
        // stream opened) is offered to another tunnel, a bounded number of
        // times; anything already sent is not replayed.
        for attempt in 0..3u32 {
            let lease = if wait.is_zero() {
                registry.try_acquire(&name)
            } else {
                let _queued = server.counters.queued();
                registry.acquire(&name, wait).await
            };
            self.rec.t_queue = Some(queued_at.elapsed());
            let lease = match lease {
                Ok(l) => l,
                Err(e) => {
                    server.counters.connection_error();
                    be.counters.connection_error();
                    let reason = match e.kind() {
                        gwd_rhttp::RegistryErrorKind::NoTunnel => "no tunnel for name",
                        gwd_rhttp::RegistryErrorKind::Saturated => "tunnels saturated",
                    };
                    tracing::debug!(server = %server.conf.name, name = %name, reason, "no tunnel");
                    return self.local(
                        error_response(StatusCode::SERVICE_UNAVAILABLE),
                        reason,
                        Ender::Server,
                        Phase::Connect,
                    );
                }
            };
            self.rec.t_connect = Some(Duration::ZERO);
            self.rec.retries = attempt;
            server.counters.request();
            self.body_goes_to(server);
            let sent_at = Instant::now();
            let send = lease.try_send(request.take().expect("kept until sent"));
            let res = match be.conf.timeouts.server {
                Some(t) => match tokio::time::timeout(t, send).await {
                    Ok(r) => r,
                    Err(_) => {
                        return self.server_response_error(
                            bi,
                            si,
                            StatusCode::GATEWAY_TIMEOUT,
                            "server timeout waiting for response",
                            Ender::ServerTimeout,
                            Phase::Headers,
                        );
                    }
                },
                None => send.await,
            };
            match res {
                Ok(resp) => {
                    self.rec.t_response = Some(sent_at.elapsed());
                    let (rparts, rbody) = resp.into_parts();
                    let status = rparts.status.as_u16();
                    self.rec.status = status;
                    proxy.frontends[self.cx.fe].counters.response(status);
                    be.counters.response(status);
                    server.counters.response(status);
                    return self.relay_body(bi, si, rparts, rbody, UpstreamConn::Tunnel);
                }
                Err(f) => {
                    tracing::debug!(server = %server.conf.name, name = %name, error = %f.error, "tunnel request failed");
                    if let Some(r) = f.request {
                        request = Some(r);
                        continue;
                    }
                    return self.server_response_error(
                        bi,
                        si,
                        StatusCode::BAD_GATEWAY,
                        "tunnel failed before the response",
                        Ender::Server,
                        Phase::Headers,
                    );
                }
            }
        }
        server.counters.connection_error();
        be.counters.connection_error();
        self.local(
            error_response(StatusCode::SERVICE_UNAVAILABLE),
            "tunnels kept closing",
            Ender::Server,
            Phase::Connect,
        )
    }

    /// A server failed after it was chosen: counts a response error on it
    /// and its backend, then answers locally.
    fn server_response_error(
        self,
        bi: usize,
        si: usize,
        status: StatusCode,
        reason: &'static str,
        ender: Ender,
        phase: Phase,
    ) -> Response<Body> {
        let proxy = self.cx.proxy.clone();
        let be = &proxy.backends[bi];
        be.servers[si].counters.response_error();
        be.counters.response_error();
        self.local(error_response(status), reason, ender, phase)
    }

    /// Answers locally (rules, errors), logging when the page is sent.
    fn local(
        mut self,
        resp: Response<Body>,
        reason: &'static str,
        ender: Ender,
        phase: Phase,
    ) -> Response<Body> {
        let proxy = self.cx.proxy.clone();
        let fe = &proxy.frontends[self.cx.fe];
        let status = resp.status().as_u16();
        fe.counters.response(status);
        if let Some(bi) = self.be {
            proxy.backends[bi].counters.response(status);
        }
        self.rec.status = status;
        self.rec.ender = ender;
        self.rec.phase = phase;
        if status >= 400 {
            self.rec.reason = Some(reason);
        }
        let mut rec = std::mem::take(&mut self.rec);
        let active = self.active.take();
        let sessions = (self.backend_session.take(), self.server_session.take());
        let start = self.start;
        let fe_c = fe.counters.clone();
        let (rparts, body) = resp.into_parts();
        let body = Watched::new(body, None, move |_end, bytes| {
            fe_c.bytes_out(bytes);
            rec.bytes = bytes;
            rec.t_total = Some(start.elapsed());
            rec.emit();
            drop(sessions);
            drop(active);
        });
        Response::from_parts(rparts, body.boxed())
    }
}

/// Shapes the request for the server's protocol: origin-form target and a
/// Host field for HTTP/1.1; scheme + authority (no Host) for HTTP/2. The
/// visitor's request parts are reused, not rebuilt.
fn build_upstream_request(
    mut parts: Parts,
    body: Body,
    sender: &Sender,
    tls: bool,
) -> Request<Body> {
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut up = http::uri::Parts::default();
    match sender {
        Sender::H1(_) => {
            if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
                up.path_and_query = Some(pq);
                parts.uri = Uri::from_parts(up).unwrap_or_else(|_| Uri::from_static("/"));
            }
            parts.version = Version::HTTP_11;
        }
        Sender::H2(_) => {
            let authority = parts
                .headers
                .remove(header::HOST)
                .and_then(|h| Authority::try_from(h.as_bytes()).ok())
                .or_else(|| parts.uri.authority().cloned())
                .unwrap_or_else(|| Authority::from_static("localhost"));
            up.scheme = Some(if tls { Scheme::HTTPS } else { Scheme::HTTP });
            up.authority = Some(authority);
            up.path_and_query = Some(pq);
            parts.uri = Uri::from_parts(up).unwrap_or_else(|_| Uri::from_static("/"));
            parts.version = Version::HTTP_2;
        }
    }
    // Extensions belong to the visitor's connection (hyper's upgrade
    // handle, h2 protocol); none of them describe the server request.
    parts.extensions = http::Extensions::new();
    Request::from_parts(parts, body)
}

/// The server side of a relayed response, settled when its body ends.
enum UpstreamConn {
    /// A pooled server connection: back to the pool after a complete body.
    Pooled { sender: Sender, was_pooled: bool },
    /// A tunnel stream: its slot is freed with the body itself.
    Tunnel,
}

impl UpstreamConn {
    fn settle(self, server: &ServerRt, end: BodyEnd) {
        if let UpstreamConn::Pooled { sender, was_pooled } = self {
            let mut pool = server.pool.lock();
            match end {
                BodyEnd::Complete => pool.release(sender, true, was_pooled, Instant::now()),
                _ => pool.discard(&sender),
            }
        }
    }
}

/// Shapes a request for a tunnel (HTTP/2): scheme, authority from Host,
/// no Host field, no connection-specific fields.
fn build_tunnel_request(mut parts: Parts, body: Body, tls: bool) -> Request<Body> {
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let authority = parts
        .headers
        .remove(header::HOST)
        .and_then(|h| Authority::try_from(h.as_bytes()).ok())
        .or_else(|| parts.uri.authority().cloned())
        .unwrap_or_else(|| Authority::from_static("localhost"));
    let mut up = http::uri::Parts::default();
    up.scheme = Some(if tls { Scheme::HTTPS } else { Scheme::HTTP });
    up.authority = Some(authority);
    up.path_and_query = Some(pq);
    parts.uri = Uri::from_parts(up).unwrap_or_else(|_| Uri::from_static("/"));
    parts.version = Version::HTTP_2;
    parts.extensions = http::Extensions::new();
    Request::from_parts(parts, body)
}
