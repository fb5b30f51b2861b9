//! Registration (gateway side): [`serve_registration`] runs one accepted
//! connection of a registration frontend (one with `tcp-request.session`
//! `attach-srv` rules). The connection is never served as ordinary
//! traffic: the rules attach it to an `rhttp@` server under the names they
//! compute, or it is closed. Once the origin's first SETTINGS arrive it
//! becomes a tunnel in that server's [`gwd_rhttp::TunnelRegistry`], where
//! requests find it by name (`crate::tunnels`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gwd_config::{BindProto, FrontendId, ServerAt, SessionAction, TunnelNaming};
use gwd_http::{FrontendRt, Proxy, TcpView};
use gwd_listen::{Handshaker, Stream};
use gwd_rhttp::{GatewayOptions, NamePolicy};
use gwd_sample::{ProxyRef, SampleContext, TlsInfo};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::tunnels::registry;

/// Default bound on a registration's TLS handshake and reversal when the
/// frontend sets neither `timeout.http-request` nor `timeout.client`.
const DEFAULT_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);

fn refuse(fe: &FrontendRt, peer: SocketAddr, reason: &'static str, detail: &str) {
    fe.counters.request_error();
    tracing::info!(target: "gwd::access", frontend = %fe.conf.name, client = %peer, reason, "registration refused: {detail}");
}

/// Runs one accepted connection of a registration frontend until its
/// tunnel closes (or it is refused). On `shutdown` the tunnel gets GOAWAY
/// and drains.
pub async fn serve_registration(
    proxy: Arc<Proxy>,
    fe: FrontendId,
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
    let Some((tunnel, at, _server_conn)) = registered else {
        return;
    };
    // The tunnel outlives reloads: keep what its end needs, not the whole
    // configuration it registered under.
    let be = proxy.backend(at.backend);
    let server = be.server(at.server);
    let (server_counters, backend_counters, name) = (
        server.counters.clone(),
        be.counters.clone(),
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
/// and registry entry. Returns the tunnel, its server and the server's
/// connection gauge, or `None` when refused.
async fn register(
    proxy: &Proxy,
    fe: FrontendId,
    handshaker: Handshaker,
    proto: BindProto,
    tcp: TcpStream,
    peer: SocketAddr,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(
    gwd_rhttp::Tunnel,
    ServerAt,
    gwd_stats::Guard<gwd_stats::ServerCounters>,
)> {
    let fe_rt = proxy.frontend(fe);
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

    let view = TcpView {
        src: peer,
        dst: accepted.local,
        tls: accepted.tls.as_ref(),
        fe: fe_rt,
        be: None,
        content: None,
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
            // As the expression gives it (no trimming: see
            // `names_from_cert`), ASCII letters lowered.
            .map(|n| n.to_ascii_lowercase())
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

    let target = attach.server.map(|at| {
        let be = proxy.backend(at.backend);
        (at, be, be.server(at.server))
    });
    let Some((at, be, server, registry, rs)) = target.and_then(|(at, be, server)| {
        Some((at, be, server, registry(server)?, server.conf.reverse()?))
    }) else {
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
    if !registry.register(names.iter(), tunnel.clone()) {
        // A reload replaced this server's registry (its rules changed, or
        // the server went) while the handshake ran: the registry closed
        // the tunnel, and the origin dials again under the rules in force.
        tracing::info!(
            frontend = %fe_rt.conf.name,
            server = %format_args!("{}/{}", be.conf.name, server.conf.name),
            origin = %peer,
            names = ?names,
            "rhttp tunnel closed at once: a reload revoked its registration during the handshake"
        );
        return None;
    }
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
    Some((tunnel, at, _server_conn))
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
    inner: &'a TcpView<'a>,
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
