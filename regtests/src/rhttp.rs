//! Reverse-HTTP fixtures: a gateway and an origin that trust each other
//! through the committed example PKI (`examples/reverse/pki`), loopback
//! only, every address chosen by the kernel.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::repo_root;

/// The committed example PKI: `ca.crt`, `gateway.{crt,key}`,
/// `origin.{crt,key}` (CN `app.localhost`).
pub fn pki_dir() -> PathBuf {
    repo_root().join("examples/reverse/pki")
}

/// A gateway: visitors in clear on bind 0 of frontend `visitors` (with
/// `visitor_rules`, TOML lines, before routing), registrations over TLS
/// (client certificate required) on frontend `registration`; tunnels of
/// server `tunnels/origins` (with `backend_extra` lines in its backend)
/// named by the certificate's CN and chosen by Host without its port.
pub fn gateway_config(visitor_rules: &str, backend_extra: &str) -> String {
    let p = pki_dir();
    format!(
        r#"
[global]
hard-stop-after = "5s"
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]

[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.visitors]
bind = [ {{ addr = "127.0.0.1:0" }} ]
{visitor_rules}
default_backend = "tunnels"

[frontend.registration]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, crt = "{p}/gateway.crt", key = "{p}/gateway.key", ca-file = "{p}/ca.crt", verify = "required", alpn = ["h2"] }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" }} ]

[backend.tunnels]
{backend_extra}
server = [ {{ name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" }} ]
"#,
        p = p.display()
    )
}

/// An origin keeping `nbconn` tunnels to `gateway` (server
/// `to-gateway/gw1`, SNI `gateway.localhost`), serving them from `app`
/// through frontend `from-gateway` (with `frontend_rules`, TOML lines).
pub fn origin_config(
    gateway: SocketAddr,
    nbconn: usize,
    app: SocketAddr,
    frontend_rules: &str,
) -> String {
    let p = pki_dir();
    format!(
        r#"
[global]
hard-stop-after = "5s"

[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.from-gateway]
bind = [ {{ addr = "rhttp@to-gateway/gw1", nbconn = {nbconn} }} ]
{frontend_rules}
default_backend = "app"

[backend.to-gateway]
server = [ {{ name = "gw1", addr = "{gateway}", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "{p}/ca.crt", crt = "{p}/origin.crt", key = "{p}/origin.key" }} ]

[backend.app]
server = [ {{ name = "app1", addr = "{app}" }} ]
"#,
        p = p.display(),
    )
}
