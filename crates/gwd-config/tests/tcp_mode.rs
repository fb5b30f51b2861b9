//! `mode = "tcp"`: inheritance, `tcp-request` rules, routes between
//! modes, HTTP-only keywords and reverse HTTP in TCP proxies.

mod common;

use common::{err, ok, parse};
use gwd_config::{ProxyMode, TcpAction};
use std::time::Duration;

const TIMEOUTS: &str = r#"timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "5s"
"#;

#[test]
fn a_tcp_frontend_with_rules_and_sni_routing_loads() {
    let cfg = ok(&format!(
        r#"[defaults]
mode = "tcp"
{TIMEOUTS}
[frontend.tls]
bind = [ {{ addr = "127.0.0.1:0" }} ]
tcp-request.connection = [ {{ action = "reject", if = "{{ src 10.0.0.0/8 }}" }}, {{ action = "accept" }} ]
tcp-request.inspect-delay = "5s"
tcp-request.content = [ {{ action = "accept", if = "{{ req.ssl_hello_type 1 }}" }}, {{ action = "reject" }} ]
use_backend = [ {{ backend = "a", if = "{{ req.ssl_sni -i a.example }}" }} ]
default_backend = "b"

[backend.a]
server = [ {{ name = "a1", addr = "127.0.0.1:9001" }} ]

[backend.b]
server = [ {{ name = "b1", addr = "127.0.0.1:9002" }} ]
"#
    ));
    let f = &cfg.frontends[0];
    assert_eq!(f.mode, ProxyMode::Tcp);
    assert_eq!(cfg.backends[0].mode, ProxyMode::Tcp);
    let t = &f.tcp_request;
    assert_eq!(t.connection.len(), 2);
    assert_eq!(t.connection[0].action, TcpAction::Reject);
    assert_eq!(t.content.len(), 2);
    assert_eq!(t.inspect_delay, Some(Duration::from_secs(5)));
    assert_eq!(f.use_backend.len(), 1);
}

#[test]
fn modes_must_match_along_routes() {
    let e = err(r#"[frontend.f]
mode = "tcp"
bind = [ { addr = "127.0.0.1:0" } ]
default_backend = "web"

[backend.web]
server = [ { name = "s", addr = "127.0.0.1:80" } ]
"#);
    assert!(
        e.contains("frontend `f` (mode tcp) cannot use backend `web` (mode http)"),
        "{e}"
    );
    let e = err(r#"[frontend.f]
bind = [ { addr = "127.0.0.1:0" } ]
use_backend = [ { backend = "raw" } ]

[backend.raw]
mode = "tcp"
server = [ { name = "s", addr = "127.0.0.1:80" } ]
"#);
    assert!(
        e.contains("frontend `f` (mode http) cannot use backend `raw` (mode tcp)"),
        "{e}"
    );
}

#[test]
fn fetches_are_checked_against_where_rules_run() {
    // Content fetches in connection rules, HTTP fetches in TCP rules.
    let e = err(r#"[frontend.f]
mode = "tcp"
bind = [ { addr = "127.0.0.1:0" } ]
tcp-request.connection = [ { action = "reject", if = "{ req.ssl_sni -m found }" } ]
tcp-request.content = [ { action = "reject", if = "{ path /x }" } ]
"#);
    assert!(
        e.contains("`req.ssl_sni` cannot be used in a `tcp-request.connection` rule"),
        "{e}"
    );
    assert!(
        e.contains("`path` cannot be used in a `tcp-request.content` rule"),
        "{e}"
    );
    // Content fetches in HTTP mode.
    let e = err(r#"[frontend.f]
bind = [ { addr = "127.0.0.1:0" } ]
use_backend = [ { backend = "b", if = "{ req.ssl_sni a }" } ]
[backend.b]
"#);
    assert!(
        e.contains("`req.ssl_sni` reads a TCP client's first bytes"),
        "{e}"
    );
}

#[test]
fn unsupported_actions_and_content_rules_in_http_mode_say_so() {
    let e = err(r#"[frontend.f]
mode = "tcp"
bind = [ { addr = "127.0.0.1:0" } ]
tcp-request.content = [ { action = "track-sc0" }, { action = "rejekt" } ]
"#);
    assert!(
        e.contains("tcp-request content action `track-sc0` is not supported yet"),
        "{e}"
    );
    assert!(e.contains("did you mean `\"reject\"`?"), "{e}");
    let e = err(r#"[frontend.f]
bind = [ { addr = "127.0.0.1:0" } ]
tcp-request.inspect-delay = "1s"
"#);
    assert!(
        e.contains("`tcp-request.inspect-delay` is not supported yet in `mode = \"http\"`"),
        "{e}"
    );
    // Connection rules are fine in HTTP mode (they run before the handshake).
    let cfg = ok(r#"[frontend.f]
bind = [ { addr = "127.0.0.1:0" } ]
tcp-request.connection = [ { action = "reject", if = "{ src 10.0.0.0/8 }" } ]
"#);
    assert_eq!(cfg.frontends[0].tcp_request.connection.len(), 1);
}

#[test]
fn http_keywords_in_a_tcp_proxy_are_warned_about_and_dropped() {
    let cfg = ok(&format!(
        r#"[defaults]
{TIMEOUTS}
[listen.l]
mode = "tcp"
bind = [ {{ addr = "127.0.0.1:0" }} ]
option.forwardfor = true
option.httplog = true
http-request = [ {{ action = "deny" }} ]
stats = {{ uri = "/s" }}
server = [ {{ name = "s", addr = "127.0.0.1:80" }} ]
"#
    ));
    let w: Vec<String> = cfg.warnings.iter().map(|w| w.render()).collect();
    let all = w.join("\n");
    for k in [
        "`http-request` is ignored",
        "`stats` is ignored",
        "`option.forwardfor` is ignored",
        "`option.httplog` is ignored",
    ] {
        assert!(all.contains(k), "{k}: {all}");
    }
    let f = &cfg.frontends[0];
    assert!(f.http_request.is_empty() && f.stats.is_none() && f.forwardfor.is_none());
}

#[test]
fn reverse_http_stays_http() {
    let e = err(r#"[frontend.f]
mode = "tcp"
bind = [ { addr = "127.0.0.1:0" } ]
default_backend = "t"
[backend.t]
mode = "tcp"
server = [ { name = "o", addr = "rhttp@" } ]
"#);
    assert!(
        e.contains(
            "reverse HTTP (`rhttp@`) needs `mode = \"http\"`: backend `t` is `mode = \"tcp\"`"
        ),
        "{e}"
    );
    let e = err(r#"[frontend.f]
mode = "tcp"
bind = [ { addr = "127.0.0.1:0", proto = "h2" } ]
"#);
    assert!(e.contains("`proto` is an HTTP setting"), "{e}");
}

#[test]
fn option_tcplog_is_accepted_in_tcp_mode_and_warned_in_http_mode() {
    let cfg = ok(&format!(
        r#"[defaults]
{TIMEOUTS}
[frontend.t]
mode = "tcp"
option.tcplog = true
bind = [ {{ addr = "127.0.0.1:0" }} ]
[frontend.h]
option.tcplog = true
bind = [ {{ addr = "127.0.0.1:0" }} ]
"#
    ));
    let all: Vec<String> = cfg.warnings.iter().map(|w| w.render()).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].contains("`option.tcplog` is ignored in frontend `h`"),
        "{all:?}"
    );
    assert!(parse("[defaults]\nmode = \"udp\"\n").is_err());
}

#[test]
fn config_md_tcp_example_loads_without_warnings() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let doc = std::fs::read_to_string(root.join("docs/CONFIG.md")).unwrap();
    let section = doc
        .split("\n## TCP mode\n")
        .nth(1)
        .expect("CONFIG.md has a TCP mode section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a TOML example");
    let cfg = ok(block);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.frontends[0].mode, ProxyMode::Tcp);
    assert_eq!(cfg.frontends[0].tcp_request.content.len(), 2);
}
