//! TCP mode (`mode = "tcp"`): a connection relayed byte for byte to one
//! server.
//!
//! Model: one task per accepted connection runs these steps in order:
//! 1. `tcp-request.connection` rules on the bare connection (addresses
//!    only: it runs before any TLS handshake); a reject closes it and
//!    counts `dcon`;
//! 2. the TLS handshake when the bind has `ssl` (TLS terminated here),
//!    then the `tcp-request.session` accept/reject rules;
//! 3. content inspection ([`inspect`]): with `tcp-request.inspect-delay`,
//!    the client's first bytes are buffered until they settle (a whole
//!    TLS ClientHello, bytes that cannot be one, 16 KiB, the client's FIN)
//!    or the delay runs out; then the `tcp-request.content` rules run (a
//!    reject closes and counts `dreq`), and the `use_backend` rules pick a
//!    backend, both able to read the buffer (`req.ssl_sni`, `req.len`);
//! 4. a server from the backend's balancer, through the same queue as
//!    HTTP requests ([`crate::backend::queue::Lb`]: weights, health and
//!    admin states, `maxconn`, `timeout queue`), connected within
//!    `timeout connect`, with `retries` more attempts (each to another
//!    server with `option redispatch`, gwd's default);
//! 5. the relay ([`relay`]): the buffered bytes, then both directions at
//!    once with half-close passed on, until both sides closed, an error,
//!    or an idle timeout (`timeout tunnel` when set, else `timeout client`
//!    on the client side and `timeout server` on the server side);
//! 6. one tcplog line (or the `log-format` line) when it ends.
//!
//! Invariants:
//! - the connection holds its server slot (and so counts in `maxconn` and
//!   leastconn) and its gauges (connections, sessions) for exactly as
//!   long as it is relayed: RAII guards, whatever path ends it;
//! - bytes are counted on the frontend, backend and server as they are
//!   read (`bin`: client → server, `bout`: server → client);
//! - a connection stays on the configuration it was accepted on; when a
//!   reload replaced that one and its `hard-stop-after` passed, it is cut.

pub(crate) mod inspect;
pub(crate) mod relay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gwd_balance::{Ask, NoPick, ServerId};
use gwd_config::{BackendChoice, BackendId, FrontendId, ProxyMode, TcpAction, TcpRule};
use gwd_listen::Handshaker;
use gwd_sample::{ProxyRef, SampleContext, TlsInfo};
use tokio::net::TcpStream;

use crate::access_log::{Ender, LogRecord, Phase};
use crate::backend::passive::Seen;
use crate::backend::queue::{NoSlot, Slot};
use crate::state::{BackendRt, FrontendRt, Proxy, ServerRt};
use crate::upstream::conn::{ConnectError, UpStream, bounded, dial};

/// What the rules of a TCP connection read: its addresses, TLS facts,
/// frontend, the backend once chosen, and the buffered content. Also the
/// view of connection-level rules elsewhere (`tcp-request.session` on a
/// reverse-HTTP registration: no backend, no content).
#[derive(Debug)]
pub struct TcpView<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tls: Option<&'a TlsInfo>,
    pub fe: &'a FrontendRt,
    pub be: Option<&'a BackendRt>,
    pub content: Option<&'a [u8]>,
}

impl SampleContext for TcpView<'_> {
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
    fn backend(&self) -> Option<ProxyRef<'_>> {
        self.be.map(BackendRt::proxy_ref)
    }
    fn content(&self) -> Option<&[u8]> {
        self.content
    }
}

/// The first `accept` or `reject` whose condition holds; `Accept` when
/// none does (HAProxy's default).
pub(crate) fn decide(rules: &[TcpRule], view: &dyn SampleContext) -> TcpAction {
    rules
        .iter()
        .find(|r| r.cond.as_ref().is_none_or(|c| c.eval(view)))
        .map_or(TcpAction::Accept, |r| r.action)
}

/// Runs the `tcp-request.connection` rules of frontend `fe` on a bare
/// connection; `false` (and `dcon` counted) when one rejects it. HTTP
/// frontends run them too, before their TLS handshake.
pub fn connection_allowed(
    proxy: &Proxy,
    fe: FrontendId,
    peer: SocketAddr,
    local: SocketAddr,
) -> bool {
    let fe_rt = proxy.frontend(fe);
    let rules = &fe_rt.conf.tcp_request.connection;
    if rules.is_empty() {
        return true;
    }
    let view = TcpView {
        src: peer,
        dst: local,
        tls: None,
        fe: fe_rt,
        be: None,
        content: None,
    };
    if decide(rules, &view) == TcpAction::Reject {
        fe_rt.counters.denied_conn();
        tracing::debug!(frontend = %fe_rt.conf.name, client = %peer, "connection rejected by tcp-request connection rule");
        return false;
    }
    true
}

/// Counts relayed bytes on the frontend, backend and server as they move.
struct Counting<'a> {
    fe: &'a FrontendRt,
    be: &'a BackendRt,
    server: &'a ServerRt,
}

impl relay::Meter for Counting<'_> {
    fn up(&self, n: u64) {
        self.fe.counters.bytes_in(n);
        self.be.counters.bytes_in(n);
        self.server.counters.bytes_in(n);
    }
    fn down(&self, n: u64) {
        self.fe.counters.bytes_out(n);
        self.be.counters.bytes_out(n);
        self.server.counters.bytes_out(n);
    }
}

/// Serves one accepted connection of a `mode = "tcp"` frontend until the
/// relay ends (see the module docs).
pub async fn serve_tcp(
    proxy: Arc<Proxy>,
    fe: FrontendId,
    handshaker: Handshaker,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    let served = Box::pin(session(&proxy, fe, handshaker, tcp, peer));
    tokio::select! {
        () = served => {}
        () = proxy.expired() => {
            tracing::info!(target: "gwd::access", frontend = %proxy.frontend(fe).conf.name, client = %peer, reason = "hard-stop-after", "TCP connection cut: its configuration was replaced by a reload hard-stop-after ago");
        }
    }
}

/// The log record of a TCP session, filled as it goes.
fn record(fe: &FrontendRt, peer: SocketAddr, local: SocketAddr) -> LogRecord {
    LogRecord {
        tcp: true,
        client: Some(peer),
        accept_date: Some(SystemTime::now()),
        frontend: fe.conf.name.clone(),
        extra: LogRecord::extra_for(&fe.conf.log, local),
        ..LogRecord::default()
    }
}

async fn session(
    proxy: &Proxy,
    fe: FrontendId,
    handshaker: Handshaker,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    let fe_rt = proxy.frontend(fe);
    let started = Instant::now();
    let _process_conn = proxy.process_conns.conn_opened_at(started);
    let _fe_conn = fe_rt.counters.conn_opened_at(started);
    let local = tcp.local_addr().unwrap_or(peer);
    if !connection_allowed(proxy, fe, peer, local) {
        return;
    }
    let t = fe_rt.conf.timeouts;
    let mut rec = record(fe_rt, peer, local);
    let log = LogRecord::enabled_for(&fe_rt.conf.log);
    let accepted = match handshaker.handshake(tcp, peer, t.client).await {
        Ok(a) => a,
        Err(e) => {
            fe_rt.counters.request_error();
            tracing::info!(target: "gwd::access", frontend = %fe_rt.conf.name, client = %peer, reason = "TLS handshake failure", "{e}");
            return;
        }
    };
    let _session = fe_rt.counters.session_opened_at(Instant::now());
    tracing::debug!(
        frontend = %fe_rt.conf.name,
        client = %peer,
        local = %local,
        tls = accepted.tls.is_some(),
        "TCP connection accepted"
    );
    rec.tls = accepted.tls.is_some();
    let mut stream = accepted.stream;
    let tls = accepted.tls;
    let finish = |mut rec: LogRecord, ender: Ender, phase: Phase| {
        if log {
            rec.ender = ender;
            rec.phase = phase;
            rec.t_total = Some(started.elapsed());
            rec.conns[0] = proxy.process_conns.current_conns();
            rec.conns[1] = fe_rt.counters.current_conns();
            rec.emit();
        }
    };

    // Session rules (accept/reject; `attach-srv` is refused in TCP mode).
    let session_view = TcpView {
        src: peer,
        dst: local,
        tls: tls.as_ref(),
        fe: fe_rt,
        be: None,
        content: None,
    };
    if let Some(r) = fe_rt
        .conf
        .tcp_request_session
        .iter()
        .find(|r| r.cond.as_ref().is_none_or(|c| c.eval(&session_view)))
        && matches!(r.action, gwd_config::SessionAction::Reject)
    {
        fe_rt.counters.denied();
        return finish(rec, Ender::Proxy, Phase::Request);
    }

    // Content inspection, content rules, backend choice.
    let mut buf = Vec::new();
    let inspected =
        inspect::inspect(&mut stream, &mut buf, fe_rt.conf.tcp_request.inspect_delay).await;
    if inspected == inspect::Inspected::Failed {
        fe_rt.counters.request_error();
        return finish(rec, Ender::Client, Phase::Request);
    }
    let mut view = TcpView {
        src: peer,
        dst: local,
        tls: tls.as_ref(),
        fe: fe_rt,
        be: None,
        content: Some(&buf),
    };
    if decide(&fe_rt.conf.tcp_request.content, &view) == TcpAction::Reject {
        fe_rt.counters.denied();
        tracing::debug!(frontend = %fe_rt.conf.name, client = %peer, "connection rejected by tcp-request content rule");
        return finish(rec, Ender::Proxy, Phase::Request);
    }
    let chosen = fe_rt
        .conf
        .use_backend
        .iter()
        .filter(|r| r.cond.as_ref().is_none_or(|c| c.eval(&view)))
        .find_map(|r| match &r.backend {
            BackendChoice::Static(id) => Some(*id),
            BackendChoice::Dynamic(name) => proxy
                .backend_id(&name.render(&view, gwd_sample::RenderMode::Text))
                // A computed name of an HTTP backend does not apply.
                .filter(|id| proxy.backend(*id).conf.mode == ProxyMode::Tcp),
        })
        .or(fe_rt.conf.default_backend);
    let Some(bi) = chosen else {
        return finish(rec, Ender::Proxy, Phase::Request);
    };
    let be = proxy.backend(bi);
    tracing::debug!(frontend = %fe_rt.conf.name, client = %peer, backend = %be.conf.name, "TCP connection routed");
    view.be = Some(be);
    let exprs = rec.log_exprs(&view);
    rec.set_log_exprs(exprs);
    rec.backend = Some(be.conf.name.clone());
    let _be_session = be.counters.session_opened_at(Instant::now());
    rec.conns[2] = be.counters.current_sessions().saturating_sub(1);
    let key = crate::backend::source_key(&be.conf.balance, peer.ip());

    // A server slot, then a connection.
    let queued_at = Instant::now();
    let slot = match be.lb.try_choose(&Ask {
        key: key.as_deref(),
        random: be.lb.draw(),
        avoid: None,
    }) {
        Ok(s) => Ok(s),
        Err(NoPick::NoServer) => Err(NoSlot::NoServer),
        Err(NoPick::Full) => {
            rec.backend_queue = be.lb.queued() as u64;
            let _queued = be.counters.queued();
            // A hashed source waits for its own server (HAProxy's server
            // queue; the queue counts it in that server's row).
            if let Some((_, ahead)) = be.lb.home_queue(key.as_deref()) {
                rec.srv_queue = ahead as u64;
            }
            be.lb
                .wait(key.as_deref(), be.lb.draw(), be.conf.timeouts.queue_limit())
                .await
        }
    };
    rec.t_queue = Some(queued_at.elapsed());
    let mut slot = match slot {
        Ok(s) => s,
        Err(NoSlot::NoServer) => return finish(rec, Ender::Server, Phase::Connect),
        Err(NoSlot::QueueTimeout) => return finish(rec, Ender::Server, Phase::Queue),
    };
    let connecting = Instant::now();
    let connected = connect(proxy, bi, &mut slot, key.as_deref(), &mut rec).await;
    rec.t_connect = Some(connecting.elapsed());
    let Some((mut upstream, server)) = connected else {
        return finish(rec, Ender::Server, Phase::Connect);
    };
    tracing::debug!(backend = %be.conf.name, server = %server.conf.name, client = %peer, "TCP relay started");
    let _server_conn = server.counters.conn_opened_at(Instant::now());
    let _server_session = server.counters.session_opened_at(Instant::now());
    rec.conns[3] = server.counters.current_sessions().saturating_sub(1);

    // The relay.
    let meter = Counting {
        fe: fe_rt,
        be,
        server,
    };
    relay::Meter::up(&meter, buf.len() as u64);
    let (client_idle, server_idle) = idle_timeouts(&fe_rt.conf.timeouts, &be.conf.timeouts);
    let relayed = relay::relay(
        &mut stream,
        &mut upstream,
        &buf,
        client_idle,
        server_idle,
        &meter,
    )
    .await;
    drop(slot);
    rec.bytes = relayed.down;
    let ender = match relayed.end {
        relay::End::Closed => Ender::None,
        relay::End::ClientTimeout => Ender::ClientTimeout,
        relay::End::ServerTimeout => Ender::ServerTimeout,
        relay::End::ClientError => Ender::Client,
        relay::End::ServerError => Ender::Server,
    };
    let phase = if ender == Ender::None {
        Phase::None
    } else {
        Phase::Data
    };
    tracing::debug!(frontend = %fe_rt.conf.name, client = %peer, up = relayed.up, down = relayed.down, end = ?relayed.end, "TCP relay ended");
    finish(rec, ender, phase);
}

/// The idle timeouts of the client and server sides: `timeout tunnel`
/// for both when set (on the backend, else the frontend), else the
/// frontend's `timeout client` and the backend's `timeout server`.
pub(crate) fn idle_timeouts(
    fe: &gwd_config::Timeouts,
    be: &gwd_config::Timeouts,
) -> (Option<Duration>, Option<Duration>) {
    match be.tunnel.or(fe.tunnel) {
        Some(t) => (Some(t), Some(t)),
        None => (fe.client, be.server),
    }
}

/// Connects to the slot's server within `timeout connect`; on failure,
/// up to `retries` more attempts, each on another server when one has a
/// free slot (`option redispatch`), else the same. Counts connection
/// errors, retries and redispatches as the HTTP path does, and tells the
/// passive checks (`observe layer4`) what each attempt saw.
async fn connect<'p>(
    proxy: &'p Proxy,
    bi: BackendId,
    slot: &mut Slot,
    key: Option<&[u8]>,
    rec: &mut LogRecord,
) -> Option<(UpStream, &'p ServerRt)> {
    let be = proxy.backend(bi);
    let attempts = be.conf.retries as usize + 1;
    for attempt in 0..attempts {
        let si = slot.server().index();
        let server = &be.servers[si];
        rec.server = Some(server.conf.name.clone());
        server.counters.connect_attempt();
        let r: Result<_, ConnectError> = bounded(be.conf.timeouts.connect, dial(server)).await;
        match r {
            Ok(io) => {
                proxy.passive_seen(bi.server(si), Seen::Fine);
                return Some((io, server));
            }
            Err(e) => {
                proxy.passive_seen(
                    bi.server(si),
                    if e.is_timeout() {
                        Seen::ConnectTimeout
                    } else {
                        Seen::ConnectFailed
                    },
                );
                tracing::debug!(backend = %be.conf.name, server = %server.conf.name, error = %e, "TCP connect failed");
            }
        }
        if attempt + 1 == attempts {
            // The last attempt failed too: the connection error counts
            // once, on the last server tried (as the HTTP path's and
            // HAProxy's `econ`).
            server.counters.connection_error();
            be.counters.connection_error();
            break;
        }
        rec.retries += 1;
        let redispatch = be.conf.redispatch.is_on() && crate::core::redispatch_anyway(be, si)
            || be.conf.redispatch.on_retry(rec.retries, be.conf.retries);
        if redispatch
            && let Ok(next) = be.lb.try_choose(&Ask {
                key,
                random: be.lb.draw(),
                avoid: Some(ServerId::new(si as u32)),
            })
            && next.server().index() != si
        {
            be.counters.redispatch();
            server.counters.redispatch();
            rec.redispatched = true;
            *slot = next;
        } else {
            // Stayed: a retry (a moved one counts as a redispatch only).
            be.counters.retry();
            server.counters.retry();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tunnel: Option<u64>, client: Option<u64>, server: Option<u64>) -> gwd_config::Timeouts {
        gwd_config::Timeouts {
            tunnel: tunnel.map(Duration::from_secs),
            client: client.map(Duration::from_secs),
            server: server.map(Duration::from_secs),
            ..Default::default()
        }
    }

    #[test]
    fn tunnel_wins_over_client_and_server_timeouts() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(
            idle_timeouts(&t(None, Some(5), None), &t(None, None, Some(7))),
            (s(5), s(7))
        );
        assert_eq!(
            idle_timeouts(&t(None, Some(5), None), &t(Some(60), None, Some(7))),
            (s(60), s(60))
        );
        assert_eq!(
            idle_timeouts(&t(Some(9), Some(5), None), &t(None, None, None)),
            (s(9), s(9))
        );
    }

    #[test]
    fn the_first_matching_rule_decides_and_accept_is_the_default() {
        let acls = gwd_sample::Acls::new();
        let rule = |a, c: Option<&str>| TcpRule {
            action: a,
            cond: c.map(|c| gwd_sample::Condition::parse(c, &acls).unwrap()),
        };
        struct Len(Vec<u8>);
        impl SampleContext for Len {
            fn content(&self) -> Option<&[u8]> {
                Some(&self.0)
            }
        }
        let rules = [
            rule(TcpAction::Accept, Some("{ req.len gt 3 }")),
            rule(TcpAction::Reject, Some("{ req.len gt 0 }")),
        ];
        assert_eq!(decide(&rules, &Len(b"abcd".to_vec())), TcpAction::Accept);
        assert_eq!(decide(&rules, &Len(b"ab".to_vec())), TcpAction::Reject);
        assert_eq!(decide(&rules, &Len(Vec::new())), TcpAction::Accept);
        assert_eq!(decide(&[], &Len(Vec::new())), TcpAction::Accept);
    }
}
