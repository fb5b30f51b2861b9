//! Reverse HTTP inside the proxy.
//!
//! Gateway side: [`serve_registration`] runs one accepted connection of a
//! registration frontend (one with `tcp-request.session` `attach-srv`
//! rules). The connection is never served as ordinary traffic: the rules
//! attach it to an `rhttp@` server under the names they compute, or it is
//! closed. Once the origin's first SETTINGS arrive it becomes a tunnel in
//! that server's [`gwd_rhttp::TunnelRegistry`], where the tunnel upstream
//! (`upstream::tunnel`) finds it by name.
//!
//! Origin side: [`OriginService`] is the [`gwd_rhttp::TunnelService`] of an
//! `rhttp@<backend>/<server>` bind: each request arriving on a dialed
//! tunnel runs through that frontend's ordinary rules and backends.
//!
//! Counting (HAProxy's #2821 was gauges wrong across reversal): a
//! registration connection counts on its frontend (`conn_tot`, and the
//! current-connections gauge) only until it is reversed; from then on it is
//! a connection of the `rhttp@` server, held by an RAII gauge until the
//! tunnel closes. On the origin a tunnel is one connection of its rhttp
//! bind's frontend from reversal to close. Requests are counted where they
//! are served, once.

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gwd_config::{Backend, BindProto, Config, Server, SessionAction, TunnelNaming};
use gwd_listen::{Handshaker, Stream};
use gwd_rhttp::{GatewayOptions, IncomingBody, NamePolicy, TunnelInfo, TunnelService};
use gwd_sample::{ProxyRef, SampleContext, TlsInfo};
use http::{Request, Response};
use tokio::net::TcpStream;
use tokio::sync::watch;

use http_body_util::BodyExt;

use crate::body::{Body, BoxError};
use crate::conn_io::ConnShared;
use crate::core::{ConnCtx, Renewal};
use crate::named::{
    AcquireError, AcquireErrorKind, NamedConns, NamedConnsSource, NamedFuture, NamedSendFailed,
    NamedStream,
};
use crate::state::{FrontendRt, Proxy, ServerRt};
use crate::visitor::h2::handle_http;

/// Default bound on a registration's TLS handshake and reversal when the
/// frontend sets neither `timeout.http-request` nor `timeout.client`.
const DEFAULT_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection-level view `tcp-request.session` rules read.
struct SessionView<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    tls: Option<&'a TlsInfo>,
    fe: &'a FrontendRt,
}

impl SampleContext for SessionView<'_> {
    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        Some(self.dst)
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.tls
    }
    fn frontend(&self) -> Option<ProxyRef<'_>> {
        Some(self.fe.proxy_ref())
    }
}

fn refuse(fe: &FrontendRt, peer: SocketAddr, reason: &'static str, detail: &str) {
    fe.counters.request_error();
    tracing::info!(target: "gwd::access", frontend = %fe.conf.name, client = %peer, reason, "registration refused: {detail}");
}

/// Runs one accepted connection of a registration frontend until its
/// tunnel closes (or it is refused). On `shutdown` the tunnel gets GOAWAY
/// and drains.
pub async fn serve_registration(
    proxy: Arc<Proxy>,
    fe: usize,
    handshaker: Handshaker,
    proto: BindProto,
    tcp: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    // This task lives as long as the tunnel, and a future is as large as
    // its largest state: the handshake and registration run boxed, so only
    // the small wait below stays for the tunnel's life.
    let registered = Box::pin(register(
        &proxy,
        fe,
        handshaker,
        proto,
        tcp,
        peer,
        &mut shutdown,
    ))
    .await;
    let Some((tunnel, be, si, _server_conn)) = registered else {
        return;
    };
    // The tunnel outlives reloads: keep what its end needs, not the whole
    // configuration it registered under.
    let server = &proxy.backends[be].servers[si];
    let (server_counters, backend_counters, name) = (
        server.counters.clone(),
        proxy.backends[be].counters.clone(),
        server.conf.name.clone(),
    );
    drop(proxy);
    let reason = tokio::select! {
        r = tunnel.closed() => r,
        _ = stopping(&mut shutdown) => {
            tunnel.close();
            tunnel.closed().await
        }
    };
    if reason == gwd_rhttp::CloseReason::Error {
        // The origin broke the protocol or the connection failed under it:
        // the server's error, and so its backend's.
        server_counters.response_error();
        backend_counters.response_error();
    }
    tracing::info!(server = %name, origin = %peer, tunnel = tunnel.id(), ?reason, "rhttp tunnel closed");
}

/// The registration steps: TLS handshake, session rules, names, reversal
/// and registry entry. Returns the tunnel, its backend and server indexes
/// and the server's connection gauge, or `None` when refused.
async fn register(
    proxy: &Proxy,
    fe: usize,
    handshaker: Handshaker,
    proto: BindProto,
    tcp: TcpStream,
    peer: SocketAddr,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(
    gwd_rhttp::Tunnel,
    usize,
    usize,
    gwd_stats::Guard<gwd_stats::ServerCounters>,
)> {
    let fe_rt = &proxy.frontends[fe];
    let accepted_at = std::time::Instant::now();
    let process_conn = proxy.process_conns.conn_opened_at(accepted_at);
    let fe_conn = fe_rt.counters.conn_opened_at(accepted_at);
    // A session of the frontend (`stot`, `smax`) while the handshakes run.
    let fe_session = fe_rt.counters.session_opened_at(accepted_at);
    let t = fe_rt.conf.timeouts;
    let limit = t
        .http_request
        .or(t.client)
        .unwrap_or(DEFAULT_REGISTRATION_TIMEOUT);
    let accepted = match handshaker.handshake(tcp, peer, Some(limit)).await {
        Ok(a) => a,
        Err(e) => {
            // Missing, expired or foreign client certificates end here;
            // rustls has already sent the TLS alert. An X.509 v1
            // certificate gets a sentence on how to issue a v3 one.
            let detail = match &e {
                gwd_listen::HandshakeError::Tls(io) => format!(
                    "TLS handshake failed: {}",
                    gwd_tls::explain_handshake_error(io, "client")
                ),
                other => other.to_string(),
            };
            refuse(fe_rt, peer, "TLS handshake failure", &detail);
            return None;
        }
    };
    // From here on a refusal is also told to the origin: GOAWAY with the
    // reason as debug data, when it speaks HTTP/2.
    let h2 = match &accepted.stream {
        Stream::Tls(_) => accepted.alpn_h2(),
        Stream::Plain(_) => proto == BindProto::H2,
    };

    let view = SessionView {
        src: peer,
        dst: accepted.local,
        tls: accepted.tls.as_ref(),
        fe: fe_rt,
    };
    let mut attach = None;
    for rule in &fe_rt.conf.tcp_request_session {
        if !rule.cond.as_ref().is_none_or(|c| c.eval(&view)) {
            continue;
        }
        match &rule.action {
            SessionAction::Accept => break,
            SessionAction::Reject => {
                refuse(
                    fe_rt,
                    peer,
                    "rejected by tcp-request session",
                    "reject rule",
                );
                tell_origin(
                    accepted.stream,
                    h2,
                    "registration rejected by the gateway's tcp-request session rules",
                    shutdown,
                )
                .await;
                return None;
            }
            SessionAction::AttachSrv(a) => {
                attach = Some(a);
                break;
            }
        }
    }
    let Some(attach) = attach else {
        refuse(
            fe_rt,
            peer,
            "not attached",
            "no attach-srv rule matched; registration connections are never served",
        );
        tell_origin(
            accepted.stream,
            h2,
            "no attach-srv rule of the gateway matched this connection",
            shutdown,
        )
        .await;
        return None;
    };
    if !h2 {
        refuse(fe_rt, peer, "not HTTP/2", "ALPN did not select h2");
        return None;
    }

    let mut names: Vec<String> = match &attach.naming {
        TunnelNaming::Unnamed => vec![String::new()],
        TunnelNaming::Expr(e) => e
            .eval_str(&view)
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .into_iter()
            .collect(),
        TunnelNaming::Cert {
            common_name,
            dns_sans,
        } => match &accepted.stream {
            Stream::Tls(s) => gwd_rhttp::registration_names(
                s.get_ref().1,
                NamePolicy {
                    common_name: *common_name,
                    dns_sans: *dns_sans,
                },
            )
            .unwrap_or_default(),
            Stream::Plain(_) => Vec::new(),
        },
    };
    let candidates = names.clone();
    if let Some(allow) = &attach.allow_name {
        names.retain(|n| {
            allow.eval(&NameView {
                inner: &view,
                name: n,
            })
        });
    }
    if names.is_empty() {
        refuse(
            fe_rt,
            peer,
            "no allowed name",
            "the connection yields no name it may register",
        );
        let why = no_name_reason(&candidates, &attach.naming);
        tell_origin(accepted.stream, h2, &why, shutdown).await;
        return None;
    }

    let be = &proxy.backends[attach.backend];
    let server = &be.servers[attach.server];
    let (Some(registry), Some(rs)) = (registry(server), server.conf.reverse()) else {
        // The config only lets attach-srv name rhttp@ servers.
        refuse(
            fe_rt,
            peer,
            "not attached",
            "target is not an rhttp@ server",
        );
        tell_origin(
            accepted.stream,
            h2,
            "gateway misconfiguration: the attach-srv target is not an rhttp@ server",
            shutdown,
        )
        .await;
        return None;
    };
    let opts = GatewayOptions {
        handshake_timeout: limit,
        idle_ping: rs.idle_ping,
        ..GatewayOptions::default()
    };
    let local = accepted.local;
    let tunnel = tokio::select! {
        r = gwd_rhttp::accept_tunnel(accepted.stream, &opts) => match r {
            Ok(t) => t,
            Err(e) => {
                refuse(fe_rt, peer, "reversal handshake failed", &e.to_string());
                return None;
            }
        },
        _ = stopping(shutdown) => return None,
    };
    // Reversed: the connection leaves the frontend and becomes the
    // server's, counted there until it closes.
    drop(fe_session);
    drop(fe_conn);
    drop(process_conn);
    let _server_conn = server.counters.conn_opened_at(std::time::Instant::now());
    server.counters.connect_attempt();
    // Registered before it is announced: whoever reads the log line can
    // use the tunnel at once.
    tunnel.set_peer_addr(peer);
    registry.register(names.iter(), tunnel.clone());
    tracing::info!(
        frontend = %fe_rt.conf.name,
        backend = %be.conf.name,
        server = %server.conf.name,
        origin = %peer,
        local = %local,
        names = ?names,
        tunnel = tunnel.id(),
        reversal_us = tunnel.reversal_latency().as_micros() as u64,
        "rhttp tunnel registered"
    );
    Some((tunnel, attach.backend, attach.server, _server_conn))
}

/// Tells a refused origin why, when it speaks HTTP/2: the gateway's
/// SETTINGS and GOAWAY with `why` as debug data, then the close (at most
/// [`gwd_rhttp::REFUSAL_LINGER`] waiting for the origin to read it, cut
/// short by a stop). A gwd origin logs the reason; HAProxy ignores it.
async fn tell_origin(stream: Stream, h2: bool, why: &str, shutdown: &mut watch::Receiver<bool>) {
    if !h2 {
        return;
    }
    tokio::select! {
        _ = gwd_rhttp::refuse_registration(stream, why, gwd_rhttp::REFUSAL_LINGER) => {}
        _ = stopping(shutdown) => {}
    }
}

/// The reason sent to an origin none of whose names may register: the
/// names its own certificate offered, at most three, quoted (a name the
/// gateway's `name` expression computed is not echoed).
fn no_name_reason(candidates: &[String], naming: &TunnelNaming) -> String {
    let quoted: Vec<String> = candidates
        .iter()
        .take(3)
        .map(|n| format!("'{}'", n.chars().take(64).collect::<String>()))
        .collect();
    let more = if candidates.len() > 3 { ", ..." } else { "" };
    match (quoted.len(), naming) {
        (0, TunnelNaming::Cert { .. }) => {
            "this origin's certificate gives no registration name (CN or DNS SAN)".into()
        }
        (0, _) => "the gateway's attach-srv `name` gives no name for this connection".into(),
        // A name the gateway's own expression computed may come from its
        // maps or settings: not for a peer that may not be authenticated.
        (_, TunnelNaming::Expr(_)) => {
            "the name the gateway's attach-srv `name` gives this connection is not allowed (allow-name)"
                .into()
        }
        (1, _) => format!(
            "name {} is not allowed for this origin (allow-name)",
            quoted[0]
        ),
        _ => format!(
            "names {}{more} are not allowed for this origin (allow-name)",
            quoted.join(", ")
        ),
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopping(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The session view plus the name `allow-name` is checking.
struct NameView<'a> {
    inner: &'a SessionView<'a>,
    name: &'a str,
}

impl SampleContext for NameView<'_> {
    fn src(&self) -> Option<SocketAddr> {
        self.inner.src()
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.inner.dst()
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.inner.tls()
    }
    fn frontend(&self) -> Option<ProxyRef<'_>> {
        self.inner.frontend()
    }
    fn tunnel_name(&self) -> Option<&str> {
        Some(self.name)
    }
}

/// Serves the requests arriving on the tunnels of one
/// `rhttp@<backend>/<server>` bind through its frontend (origin side).
#[derive(Debug, Clone)]
pub struct OriginService {
    /// The proxy in force and the bind's frontend in it; moved on to the
    /// next proxy after a reload (a kept dialer outlives many), so no old
    /// configuration stays alive for the dialer's sake.
    at: Arc<arc_swap::ArcSwap<(Arc<Proxy>, usize)>>,
}

/// Per-tunnel state: the connection context requests share, and the
/// frontend's connection gauges, held for the tunnel's life.
#[derive(Debug)]
struct TunnelConn {
    /// Replaced after a reload by the context on the proxy in force.
    cx: arc_swap::ArcSwap<ConnCtx>,
    _process: gwd_stats::Guard<gwd_stats::ProxyCounters>,
    _conn: gwd_stats::Guard<gwd_stats::ProxyCounters>,
    _session: gwd_stats::Guard<gwd_stats::ProxyCounters>,
}

impl OriginService {
    /// Requests arriving on tunnels go through frontend `fe`.
    pub fn new(proxy: Arc<Proxy>, fe: usize) -> Self {
        OriginService {
            at: Arc::new(arc_swap::ArcSwap::from_pointee((proxy, fe))),
        }
    }

    /// The proxy in force and this bind's frontend in it (a reload that
    /// keeps the bind keeps the dialer and its service). Without the
    /// frontend there, the dialer is being stopped: the old one serves
    /// its last requests.
    fn current(&self) -> (Arc<Proxy>, usize) {
        let at = self.at.load_full();
        let (proxy, fe) = (&at.0, at.1);
        if let Some(next) = proxy.successor()
            && let Some(nfe) = next.frontend_index(&proxy.frontends[fe].conf.name)
        {
            self.at.store(Arc::new((next.clone(), nfe)));
            return (next, nfe);
        }
        (proxy.clone(), fe)
    }

    fn tunnel_conn(&self, info: &TunnelInfo) -> TunnelConn {
        let (proxy, fi) = self.current();
        let fe = &proxy.frontends[fi];
        let unknown = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        TunnelConn {
            _process: proxy.process_conns.conn_opened_at(info.opened()),
            _conn: fe.counters.conn_opened_at(info.opened()),
            _session: fe.counters.session_opened_at(info.opened()),
            cx: arc_swap::ArcSwap::from_pointee(ConnCtx {
                proxy: proxy.clone(),
                fe: fi,
                // Reversed: the gateway is the client of these requests.
                peer: info.gateway_addr().unwrap_or(unknown),
                local: info.local_addr().unwrap_or(unknown),
                tls: None,
                shared: ConnShared::new(),
            }),
        }
    }

    fn cx_for(&self, info: Option<&Arc<TunnelInfo>>) -> Arc<ConnCtx> {
        match info.and_then(|i| i.user_data(|| self.tunnel_conn(i))) {
            Some(t) => {
                let cx = t.cx.load_full();
                // A reload kept this tunnel: its requests run on the config
                // in force now. (Without the frontend, the dialer is being
                // stopped: the last requests keep the config they had.)
                match cx.renewed() {
                    Some(Renewal::Renewed(next)) => {
                        t.cx.store(next.clone());
                        // The service follows too, so the old proxy is
                        // freed once no request holds it.
                        if !Arc::ptr_eq(&self.at.load().0, &next.proxy) {
                            self.at.store(Arc::new((next.proxy.clone(), next.fe)));
                        }
                        next
                    }
                    None | Some(Renewal::FrontendGone) => cx,
                }
            }
            // A request without tunnel facts (driven by hand): a context
            // of its own, uncounted as a connection.
            None => {
                let unknown = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
                let (proxy, fe) = self.current();
                Arc::new(ConnCtx {
                    proxy,
                    fe,
                    peer: unknown,
                    local: unknown,
                    tls: None,
                    shared: ConnShared::new(),
                })
            }
        }
    }
}

impl TunnelService for OriginService {
    type Body = Body;

    fn call(
        &self,
        req: Request<IncomingBody>,
    ) -> impl Future<Output = Response<Body>> + Send + 'static {
        let cx = self.cx_for(req.extensions().get::<Arc<TunnelInfo>>());
        handle_http(cx, req)
    }

    fn tunnel_opened(&self, info: &Arc<TunnelInfo>) {
        let _ = info.user_data(|| self.tunnel_conn(info));
    }
}

/// An `rhttp@` server's tunnels as its named connections: gwd-rhttp's
/// registry behind gwd-http's [`NamedConns`] seam.
#[derive(Debug, Clone)]
pub struct Tunnels(pub gwd_rhttp::TunnelRegistry);

/// A stream slot on a chosen tunnel.
struct TunnelStream(gwd_rhttp::Lease);

fn acquire_error(e: gwd_rhttp::RegistryError) -> AcquireError {
    let kind = match e.kind() {
        gwd_rhttp::RegistryErrorKind::NoTunnel => AcquireErrorKind::NoConnection,
        gwd_rhttp::RegistryErrorKind::Saturated => AcquireErrorKind::Saturated,
    };
    AcquireError {
        kind,
        error: Box::new(e),
    }
}

impl NamedConns for Tunnels {
    fn try_acquire(&self, name: &str) -> Result<Box<dyn NamedStream>, AcquireError> {
        match self.0.try_acquire(name) {
            Ok(lease) => Ok(Box::new(TunnelStream(lease))),
            Err(e) => Err(acquire_error(e)),
        }
    }

    fn acquire<'a>(
        &'a self,
        name: &'a str,
        wait: Duration,
    ) -> NamedFuture<'a, Result<Box<dyn NamedStream>, AcquireError>> {
        Box::pin(async move {
            match self.0.acquire(name, wait).await {
                Ok(lease) => Ok(Box::new(TunnelStream(lease)) as Box<dyn NamedStream>),
                Err(e) => Err(acquire_error(e)),
            }
        })
    }

    fn connections(&self) -> u64 {
        self.0.stats().tunnels
    }
}

impl NamedStream for TunnelStream {
    fn send_request(
        self: Box<Self>,
        request: Request<Body>,
    ) -> NamedFuture<'static, Result<Response<Body>, NamedSendFailed>> {
        Box::pin(async move {
            match self.0.send_request(request).await {
                Ok(resp) => Ok(resp.map(|b| Body::new(BodyExt::map_err(b, BoxError::from)))),
                Err(f) => Err(NamedSendFailed {
                    error: Box::new(f.error),
                    request: f.request,
                }),
            }
        })
    }
}

/// The tunnel registry of an `rhttp@` server (`None` for other servers).
pub fn registry(server: &ServerRt) -> Option<&gwd_rhttp::TunnelRegistry> {
    let named: &dyn Any = &**server.named.as_ref()?;
    named.downcast_ref::<Tunnels>().map(|t| &t.0)
}

/// Gives every `rhttp@` server a tunnel registry when a proxy is built
/// ([`Proxy::with_named`], [`Proxy::succeed_with`]).
///
/// Registered tunnels stay across a reload only while the rules that
/// admitted them are the same: a reload that narrows them (another CA,
/// `allow-name`, session rules) revokes what they no longer admit, so
/// their origins register again under the new rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelRegistries;

impl NamedConnsSource for TunnelRegistries {
    fn named_conns(
        &self,
        config: &Config,
        backend: &Backend,
        server: &Server,
        previous: Option<(&Config, &Arc<dyn NamedConns>)>,
    ) -> Option<Arc<dyn NamedConns>> {
        server.reverse()?;
        if let Some((old_config, old)) = previous
            && (&**old as &dyn Any).is::<Tunnels>()
            && registration_rules(old_config, &backend.name, &server.name)
                == registration_rules(config, &backend.name, &server.name)
        {
            return Some(old.clone());
        }
        Some(Arc::new(Tunnels(gwd_rhttp::TunnelRegistry::new())))
    }
}

/// Everything that decides which origins may register tunnels for server
/// `backend/server`: each registration frontend with an `attach-srv` rule
/// for it (its binds' TLS settings and CA file contents, its session
/// rules), as text to compare. Conservative: any change (even a rule
/// merely moved) counts.
fn registration_rules(config: &Config, backend: &str, server: &str) -> Vec<String> {
    let target = config.backends.iter().enumerate().find_map(|(bi, b)| {
        (b.name == backend)
            .then(|| {
                b.servers
                    .iter()
                    .position(|s| s.name == server)
                    .map(|si| (bi, si))
            })
            .flatten()
    });
    let Some((bi, si)) = target else {
        return Vec::new();
    };
    config
        .frontends
        .iter()
        .filter(|f| {
            f.tcp_request_session.iter().any(|r| {
                matches!(&r.action, gwd_config::SessionAction::AttachSrv(a) if a.backend == bi && a.server == si)
            })
        })
        .map(|f| {
            let tls: Vec<String> = f
                .binds
                .iter()
                .map(|b| match &b.tls {
                    None => "clear".to_owned(),
                    Some(t) => format!(
                        "{:?} {:?} {:?}",
                        t.verify,
                        t.ca,
                        t.ca.as_ref().and_then(|p| std::fs::read(p).ok())
                    ),
                })
                .collect();
            format!("{} {tls:?} {:?}", f.name, f.tcp_request_session)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(previous: Option<&Proxy>, rule_extra: &str) -> Proxy {
        let cfg = gwd_config::parse_str(
            &format!(
                "[frontend.f]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\ndefault_backend = \"b\"\n\
                 [frontend.reg]\nbind = [ {{ addr = \"127.0.0.1:0\", proto = \"h2\" }} ]\n\
                 tcp-request.session = [ {{ action = \"attach-srv\", server = \"t/o\"{rule_extra} }} ]\n\
                 [backend.b]\nserver = [ {{ name = \"a\", addr = \"127.0.0.1:1\" }} ]\n\
                 [backend.t]\nserver = [ {{ name = \"o\", addr = \"rhttp@\" }} ]\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .expect("a valid test config");
        let config = Arc::new(cfg);
        match previous {
            None => Proxy::with_named(config, &TunnelRegistries),
            Some(p) => Proxy::succeed_with(config, p, &TunnelRegistries),
        }
        .expect("buildable")
    }

    #[test]
    fn rhttp_servers_get_registries_kept_while_their_rules_stay() {
        let old = proxy(None, "");
        assert!(registry(&old.backends[0].servers[0]).is_none());
        let ot = registry(&old.backends[1].servers[0]).expect("an rhttp@ server");
        let new = proxy(Some(&old), "");
        let nt = registry(&new.backends[1].servers[0]).expect("an rhttp@ server");
        assert!(ot.same_registry(nt), "the tunnels stay registered");
        // Other registration rules: the tunnels they admitted are revoked.
        let narrowed = proxy(Some(&new), ", if = \"LOCALHOST\"");
        let rt = registry(&narrowed.backends[1].servers[0]).expect("an rhttp@ server");
        assert!(!nt.same_registry(rt));
    }
}
