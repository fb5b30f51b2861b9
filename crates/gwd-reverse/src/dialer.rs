//! The dialer of an `rhttp@<backend>/<server>` bind (origin side).

use gwd_http::Proxy;
use gwd_rhttp::{Dialer, DialerConfig, RhttpError};

/// Builds the dialer of the `rhttp@<backend>/<server>` bind `rb` from the
/// server it names: its address, TLS settings (client certificate, CA,
/// SNI), the backend's `timeout.connect` and `hard-stop-after`. Its
/// tunnels are served by an [`OriginService`](crate::OriginService).
pub fn dialer(proxy: &Proxy, rb: &gwd_config::ReverseBind) -> Result<Dialer, RhttpError> {
    // The config refuses unresolved references and servers without an
    // address or TLS; keep the error rather than panic.
    let Some(at) = rb.server else {
        return Err(RhttpError::Config("the bind names no server".into()));
    };
    let be = proxy.backend(at.backend);
    let server = be.server(at.server);
    let (Some(addr), Some((tls, server_name))) = (server.conf.net_addr(), server.tls.clone())
    else {
        return Err(RhttpError::Config(
            "the server needs an address and `ssl = true`".into(),
        ));
    };
    let gateway = if addr.host.contains(':') {
        format!("[{}]:{}", addr.host, addr.port)
    } else {
        format!("{}:{}", addr.host, addr.port)
    };
    let mut cfg = DialerConfig::new(gateway, server_name, tls);
    cfg.nbconn = rb.nbconn;
    cfg.idle_ping = rb.idle_ping;
    if let Some(cap) = rb.backoff_max {
        cfg.backoff.cap = cap;
    }
    // Only for messages (its names in "tunnel up"): the TLS configuration
    // already holds the chain.
    cfg.client_cert = server
        .conf
        .tls
        .as_ref()
        .and_then(|t| t.cert.as_deref())
        .and_then(|p| gwd_tls::load_certs(p).ok())
        .and_then(|c| c.into_iter().next());
    if let Some(t) = be.conf.timeouts.connect {
        cfg.connect_timeout = t;
        cfg.handshake_timeout = t;
    }
    if let Some(t) = proxy.config.global.hard_stop_after {
        cfg.drain_timeout = t;
    }
    Dialer::new(cfg)
}
