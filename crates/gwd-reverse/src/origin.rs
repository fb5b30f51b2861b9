//! The origin side: [`OriginService`] is the [`TunnelService`] of an
//! `rhttp@<backend>/<server>` bind: each request arriving on a dialed
//! tunnel runs through that bind's frontend's ordinary rules and backends.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use gwd_config::FrontendId;
use gwd_http::conn_io::ConnShared;
use gwd_http::{Body, ConnCtx, Proxy, Renewal, handle_http, serve_stream_relaying};
use gwd_rhttp::{IncomingBody, TunnelInfo, TunnelRequest, TunnelResponse, TunnelService};
use http::{Request, Response};

/// Serves the requests arriving on the tunnels of one
/// `rhttp@<backend>/<server>` bind through its frontend (origin side).
#[derive(Debug, Clone)]
pub struct OriginService {
    /// The proxy in force and the bind's frontend in it; moved on to the
    /// next proxy after a reload (a kept dialer outlives many), so no old
    /// configuration stays alive for the dialer's sake.
    at: Arc<arc_swap::ArcSwap<(Arc<Proxy>, FrontendId)>>,
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
    pub fn new(proxy: Arc<Proxy>, fe: FrontendId) -> Self {
        OriginService {
            at: Arc::new(arc_swap::ArcSwap::from_pointee((proxy, fe))),
        }
    }

    /// The proxy in force and this bind's frontend in it (a reload that
    /// keeps the bind keeps the dialer and its service). Without the
    /// frontend there, the dialer is being stopped: the old one serves
    /// its last requests.
    fn current(&self) -> (Arc<Proxy>, FrontendId) {
        let at = self.at.load_full();
        let (proxy, fe) = (&at.0, at.1);
        if let Some(next) = proxy.successor()
            && let Some(nfe) = next.frontend_id(&proxy.frontend(fe).conf.name)
        {
            self.at.store(Arc::new((next.clone(), nfe)));
            return (next, nfe);
        }
        (proxy.clone(), fe)
    }

    fn tunnel_conn(&self, info: &TunnelInfo) -> TunnelConn {
        let (proxy, fi) = self.current();
        let fe = proxy.frontend(fi);
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

    /// The path every tunnel request takes: heads stay gwd-head heads
    /// from the HTTP/2 state machine through the core and back, with no
    /// header map built (and the fields' order kept exactly).
    fn call_head(
        &self,
        req: TunnelRequest,
    ) -> impl Future<Output = TunnelResponse<Body>> + Send + 'static {
        let cx = self.cx_for(req.info.as_ref());
        let TunnelRequest {
            head,
            protocol,
            body,
            interim,
            ..
        } = req;
        // The server's interim answers go up the tunnel stream as they
        // come; the gateway relays them to its visitor.
        // One clock reading per poll of the request (`gwd_http::clock`).
        gwd_http::clock::scoped(async move {
            let (head, body) =
                serve_stream_relaying(cx, head, protocol.as_ref(), body, Some(interim)).await;
            TunnelResponse::Head(head, body)
        })
    }

    fn tunnel_opened(&self, info: &Arc<TunnelInfo>) {
        let _ = info.user_data(|| self.tunnel_conn(info));
    }
}
