//! Reverse HTTP (`rhttp@`): a gateway and an origin config resolve to the
//! expected model, and every misuse is refused (or warned about) at the
//! right place with a fix.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ok, parse, temp_files};
use gwd_config::*;
use gwd_sample::{SampleContext, TlsInfo};

/// `examples/reverse/pki/<name>`, absolute (the loader checks the files).
fn pki(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let p = root.join("examples/reverse/pki").join(name);
    assert!(p.is_file(), "{} is missing", p.display());
    p.display().to_string()
}

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

/// The only error of a config that must fail (warnings allowed).
fn only_error(text: &str) -> Diagnostic {
    let e = match parse(text) {
        Ok(_) => panic!("config loaded but should not have:\n{text}"),
        Err(e) => e,
    };
    let errors: Vec<&Diagnostic> = e.errors().collect();
    assert_eq!(errors.len(), 1, "expected one error, got:\n{e}");
    errors[0].clone()
}

/// Every error of a config that must fail.
fn all_errors(text: &str) -> Vec<Diagnostic> {
    match parse(text) {
        Ok(_) => panic!("config loaded but should not have:\n{text}"),
        Err(e) => e.errors().cloned().collect(),
    }
}

/// Asserts a diagnostic's place, key path and message, and that its help
/// contains `help`.
#[track_caller]
fn check(d: &Diagnostic, line: usize, col: usize, path: &str, message: &str, help: &str) {
    assert_eq!(
        (
            d.location.line,
            d.location.column,
            d.key_path.as_str(),
            d.message.as_str()
        ),
        (line, col, path, message),
        "{d}"
    );
    let h = d.help.as_deref().unwrap_or("");
    assert!(h.contains(help), "help {h:?} lacks {help:?}");
}

/// A registration connection being checked: TLS facts and a tunnel name.
struct Conn {
    tls: Option<TlsInfo>,
    name: Option<&'static str>,
}

impl SampleContext for Conn {
    fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }
    fn tunnel_name(&self) -> Option<&str> {
        self.name
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        if name == "host" {
            vec![b"app.localhost:8080"]
        } else {
            Vec::new()
        }
    }
}

fn named(name: &'static str) -> Conn {
    Conn {
        tls: None,
        name: Some(name),
    }
}

fn gateway() -> String {
    let (crt, key, ca) = (pki("gateway.crt"), pki("gateway.key"), pki("ca.crt"));
    format!(
        r#"[global]
expose-experimental-directives = true

[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
timeout.tunnel-wait = "2s"

[frontend.visitors]
bind = [ {{ addr = "127.0.0.1:8080" }}, {{ addr = "127.0.0.1:8444", ssl = true, crt = "{crt}" }} ]
use_backend = [ {{ backend = "anon", if = "{{ req.hdr(host) -m str anon.localhost }}" }} ]
default_backend = "tunnels"

[frontend.registration]
bind = [ {{ addr = "127.0.0.1:8443", ssl = true, verify = "required", crt = "{crt}", key = "{key}", ca-file = "{ca}" }} ]
tcp-request.session = [
  {{ action = "reject", unless = "{{ ssl_c_used }}" }},
  {{ action = "attach-srv", server = "tunnels/pool", name = "ssl_c_s_dn(CN)", allow-name = "-m end .localhost" }},
]

[[frontend.by-cert.bind]]
addr = "127.0.0.1:8445"
ssl = true
verify = "optional"
alpn = ["h2"]
crt = "{crt}"
ca-file = "{ca}"

[[frontend.by-cert.tcp-request.session]]
action = "attach-srv"
server = "tunnels/pool"
name-from-cert = "cn+dns-san"
allow-name = "-i APP.localhost api.localhost"

[frontend.clear]
bind = [ {{ addr = "127.0.0.1:8446", proto = "h2" }} ]
tcp-request.session = [
  {{ action = "accept", if = "{{ src 10.0.0.0/8 }}" }},
  {{ action = "attach-srv", server = "anon/any", if = "LOCALHOST" }},
]

[backend.tunnels]
server = [ {{ name = "pool", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)", idle-ping = "20s" }} ]

[backend.anon]
timeout.tunnel-wait = 0
server = [ {{ name = "any", addr = "rhttp@" }} ]
"#
    )
}

#[test]
fn gateway_config_resolves() {
    let c = ok(&gateway());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let names: Vec<&str> = c.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["tunnels", "anon"]);

    // tunnel-wait is inherited from [defaults], and 0 turns it off.
    let tunnels = c.backend("tunnels").unwrap();
    assert_eq!(tunnels.timeouts.tunnel_wait, secs(2));
    assert_eq!(tunnels.timeouts.server, secs(30));
    assert_eq!(c.backend("anon").unwrap().timeouts.tunnel_wait, None);

    // The rhttp@ servers.
    let pool = &tunnels.servers[0];
    assert!(pool.net_addr().is_none());
    assert!(pool.tls.is_none());
    assert_eq!(pool.proto, ServerProto::H2);
    let rs = pool.reverse().unwrap();
    assert_eq!(rs.idle_ping, secs(20));
    let e = rs.name.as_ref().unwrap();
    assert_eq!(e.as_str(), "req.hdr(host),field(1,:)");
    assert_eq!(e.eval_str(&named("x")).as_deref(), Some("app.localhost"));
    let any = c.backend("anon").unwrap().servers[0].reverse().unwrap();
    assert!(any.name.is_none());
    assert_eq!(any.idle_ping, None);

    // An ordinary frontend: no session rules, its TLS bind keeps the usual ALPN.
    let v = c.frontend("visitors").unwrap();
    assert!(!v.is_registration());
    assert!(v.tcp_request_session.is_empty());
    assert_eq!(v.binds[1].tls.as_ref().unwrap().alpn, ["h2", "http/1.1"]);

    // Registration with a name from an expression.
    let r = c.frontend("registration").unwrap();
    assert!(r.is_registration());
    assert_eq!(r.default_backend, None);
    let tls = r.binds[0].tls.as_ref().unwrap();
    assert_eq!(tls.alpn, ["h2"], "registration binds default to h2 only");
    assert_eq!(tls.verify, Verify::Required);
    assert_eq!(tls.key, Some(PathBuf::from(pki("gateway.key"))));
    assert_eq!(r.tcp_request_session.len(), 2);
    let reject = &r.tcp_request_session[0];
    assert!(matches!(reject.action, SessionAction::Reject));
    let unless = reject.cond.as_ref().unwrap();
    assert!(unless.eval(&named("x")), "no certificate: rejected");
    let SessionAction::AttachSrv(a) = &r.tcp_request_session[1].action else {
        panic!("not attach-srv")
    };
    assert!(r.tcp_request_session[1].cond.is_none());
    assert_eq!(a.server, Some(ServerAt::new(0, 0)));
    let TunnelNaming::Expr(e) = &a.naming else {
        panic!("{:?}", a.naming)
    };
    assert_eq!(e.as_str(), "ssl_c_s_dn(CN)");
    let allow = a.allow_name.as_ref().unwrap();
    assert!(allow.eval(&named("app.localhost")));
    assert!(!allow.eval(&named("app.example.com")));

    // Registration with names from the certificate, written as arrays of tables.
    let b = c.frontend("by-cert").unwrap();
    assert_eq!(b.binds[0].tls.as_ref().unwrap().alpn, ["h2"]);
    let SessionAction::AttachSrv(a) = &b.tcp_request_session[0].action else {
        panic!("not attach-srv")
    };
    assert!(matches!(
        a.naming,
        TunnelNaming::Cert {
            common_name: true,
            dns_sans: true
        }
    ));
    let allow = a.allow_name.as_ref().unwrap();
    assert!(allow.eval(&named("app.localhost")), "-i");
    assert!(allow.eval(&named("API.localhost")));
    assert!(!allow.eval(&named("www.localhost")));

    // Clear registration (prior-knowledge h2), unnamed tunnels, conditions.
    let cl = c.frontend("clear").unwrap();
    assert_eq!(cl.binds[0].proto, BindProto::H2);
    assert!(cl.binds[0].tls.is_none());
    assert!(matches!(
        cl.tcp_request_session[0].action,
        SessionAction::Accept
    ));
    let SessionAction::AttachSrv(a) = &cl.tcp_request_session[1].action else {
        panic!("not attach-srv")
    };
    assert_eq!(a.server, Some(ServerAt::new(1, 0)));
    assert!(matches!(a.naming, TunnelNaming::Unnamed));
    assert!(a.allow_name.is_none());
    assert!(cl.tcp_request_session[1].cond.is_some());
}

fn origin() -> String {
    let (crt, key, ca) = (pki("origin.crt"), pki("origin.key"), pki("ca.crt"));
    format!(
        r#"[global]
expose-experimental-directives = true

[defaults]
timeout.connect = "5s"

[frontend.from_gw]
bind = [
  {{ addr = "rhttp@to_gw/gw1", nbconn = 4, idle-ping = "30s", backoff-max = "2s" }},
  {{ addr = "rhttp@to_gw/gw2" }},
  {{ addr = "127.0.0.1:8081" }},
]
default_backend = "app"

[backend.app]
server = [ {{ name = "local", addr = "127.0.0.1:9000" }} ]

[backend.to_gw]
server = [
  {{ name = "gw1", addr = "gateway.localhost:8443", ssl = true, proto = "h2", ca-file = "{ca}", crt = "{crt}", key = "{key}" }},
  {{ name = "gw2", addr = "127.0.0.1:8443", ssl = true, alpn = ["h2"], verify = "none", crt = "{crt}" }},
]
"#
    )
}

#[test]
fn origin_config_resolves() {
    let c = ok(&origin());
    assert!(common::other_warnings(&c).is_empty(), "{:?}", c.warnings);
    let f = c.frontend("from_gw").unwrap();
    assert!(!f.is_registration());
    // The backend is declared after the bind that names it.
    assert_eq!(
        f.binds[0].addr,
        BindAddr::Reverse(ReverseBind {
            server: Some(ServerAt::new(1, 0)),
            nbconn: 4,
            idle_ping: secs(30),
            backoff_max: secs(2),
        })
    );
    assert_eq!(
        f.binds[1].addr,
        BindAddr::Reverse(ReverseBind {
            server: Some(ServerAt::new(1, 1)),
            nbconn: 1,
            idle_ping: None,
            backoff_max: None,
        })
    );
    assert!(f.binds[0].tls.is_none());
    assert_eq!(
        f.binds[2].addr,
        BindAddr::Tcp("127.0.0.1:8081".parse().unwrap())
    );
    assert_eq!(f.default_backend, Some(BackendId::new(0)));

    let to_gw = c.backend("to_gw").unwrap();
    assert_eq!(to_gw.timeouts.connect, secs(5));
    assert_eq!(to_gw.timeouts.tunnel_wait, None);
    let gw1 = &to_gw.servers[0];
    assert_eq!(gw1.net_addr().unwrap().host, "gateway.localhost");
    let t = gw1.tls.as_ref().unwrap();
    assert_eq!(t.cert, Some(PathBuf::from(pki("origin.crt"))));
    assert_eq!(t.key, Some(PathBuf::from(pki("origin.key"))));
    assert_eq!(t.alpn, ["h2"]);
    assert_eq!(t.sni.as_deref(), Some("gateway.localhost"));
    let t = to_gw.servers[1].tls.as_ref().unwrap();
    assert_eq!(t.cert, Some(PathBuf::from(pki("origin.crt"))));
    assert_eq!(t.key, t.cert, "key defaults to the crt file");
    assert_eq!(to_gw.servers[1].proto, ServerProto::H1);
}

#[test]
fn names_may_use_map_converters_and_pattern_files() {
    let d = temp_files(&[]);
    std::fs::write(d.join("hosts.map"), "app.example.com app\n").unwrap();
    std::fs::write(d.join("names.lst"), "app\napi\n").unwrap();
    let hosts = d.join("hosts.map").display().to_string();
    let names = d.join("names.lst").display().to_string();
    let c = ok(&format!(
        r#"[frontend.reg]
bind = [ {{ addr = "127.0.0.1:8446", proto = "h2" }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "t/pool", name = "ssl_fc_sni,lower", allow-name = "-f {names}" }} ]

[backend.t]
server = [ {{ name = "pool", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:),map({hosts})" }} ]
"#
    ));
    let files: Vec<&str> = c.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(files, [names.as_str(), hosts.as_str()]);
    let rs = c.backends[0].servers[0].reverse().unwrap();
    struct Host;
    impl SampleContext for Host {
        fn header_values(&self, n: &str) -> Vec<&[u8]> {
            if n == "host" {
                vec![b"app.example.com:443"]
            } else {
                vec![]
            }
        }
    }
    assert_eq!(
        rs.name.as_ref().unwrap().eval_str(&Host).as_deref(),
        Some("app")
    );
    let SessionAction::AttachSrv(a) = &c.frontends[0].tcp_request_session[0].action else {
        panic!()
    };
    let allow = a.allow_name.as_ref().unwrap();
    assert!(allow.eval(&named("api")));
    assert!(!allow.eval(&named("www")));
}

#[test]
fn global_flag_is_accepted_and_typed() {
    ok("[global]\nexpose-experimental-directives = true\n");
    ok("[global]\nexpose-experimental-directives = false\n");
    let d = only_error("[global]\nexpose-experimental-directives = \"yes\"\n");
    check(
        &d,
        2,
        34,
        "global.expose-experimental-directives",
        "`expose-experimental-directives` must be a boolean, found a string",
        "`true`",
    );
}

#[test]
fn tunnel_wait_is_a_timeout() {
    let d = only_error("[backend.b]\ntimeout.tunnel-wait = \"2 s\"\n");
    assert_eq!((d.location.line, d.location.column), (2, 23));
    assert_eq!(d.key_path, "backend.b.timeout.tunnel-wait");
    assert!(
        d.message.starts_with("invalid duration for `tunnel-wait`"),
        "{d}"
    );
    let d = only_error("[defaults]\ntimeout.tunel-wait = \"2s\"\n");
    check(
        &d,
        2,
        9,
        "defaults.timeout.tunel-wait",
        "unknown key `tunel-wait` in the `timeout` table",
        "did you mean `tunnel-wait`?",
    );
}

// ---- rhttp@ servers ---------------------------------------------------------

/// A gateway whose rhttp@ server is `server` (written at line 5).
fn with_server(server: &str) -> String {
    format!(
        r#"[frontend.reg]
bind = [ {{ addr = "127.0.0.1:8446", proto = "h2" }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "t/s" }} ]
[backend.t]
server = [ {server} ]
"#
    )
}

#[test]
fn rhttp_server_refuses_pool_settings() {
    let d = only_error(&with_server(
        r#"{ name = "s", addr = "rhttp@", pool-max-conn = 10 }"#,
    ));
    check(
        &d,
        5,
        43,
        "backend.t.server[0].pool-max-conn",
        "`pool-max-conn` does not apply to an rhttp@ server",
        "tunnels are never purged: each one stays in the pool until it closes; remove \
         `pool-max-conn`",
    );
}

#[test]
fn rhttp_server_refuses_connection_settings() {
    let errs = all_errors(&with_server(
        r#"{ name = "s", addr = "rhttp@", ssl = true, proto = "h2", verify = "none", ca-file = "x", alpn = ["h2"], crt = "c", key = "k" }"#,
    ));
    let keys: Vec<&str> = errs.iter().map(|d| d.key_path.as_str()).collect();
    assert_eq!(
        keys,
        ["ssl", "proto", "verify", "ca-file", "alpn", "crt", "key"]
            .map(|k| format!("backend.t.server[0].{k}"))
    );
    check(
        &errs[0],
        5,
        43,
        "backend.t.server[0].ssl",
        "`ssl` does not apply to an rhttp@ server",
        "an rhttp@ server never connects: its tunnels get TLS and HTTP/2 from the registration \
         frontend's binds; remove `ssl` (HAProxy's `ssl sni <expr>` is `sni = \"<expr>\"` alone here)",
    );
    check(
        &errs[1],
        5,
        55,
        "backend.t.server[0].proto",
        "`proto` does not apply to an rhttp@ server",
        "an rhttp@ server never connects",
    );
}

#[test]
fn rhttp_server_takes_pool_conn_name_or_sni_not_both() {
    let d = only_error(&with_server(
        r#"{ name = "s", addr = "rhttp@", pool-conn-name = "src", sni = "src" }"#,
    ));
    check(
        &d,
        5,
        67,
        "backend.t.server[0].sni",
        "`sni` and `pool-conn-name` are the same setting on an rhttp@ server",
        "keep one of them",
    );
}

#[test]
fn rhttp_server_expression_errors_point_inside_the_string() {
    let src =
        with_server(r#"{ name = "s", addr = "rhttp@", pool-conn-name = "req.hdr(host),lowr" }"#);
    let d = only_error(&src);
    let e = gwd_sample::Expr::parse("req.hdr(host),lowr").unwrap_err();
    // The opening quote is at column 60.
    check(
        &d,
        5,
        60 + e.column,
        "backend.t.server[0].pool-conn-name",
        &format!("invalid sample expression: {}", e.message),
        "did you mean `lower`?",
    );
    assert_eq!(d.location.column, 75);
}

#[test]
fn rhttp_server_address_is_only_the_prefix() {
    let d = only_error(&with_server(r#"{ name = "s", addr = "rhttp@gw:443" }"#));
    check(
        &d,
        5,
        40,
        "backend.t.server[0].addr",
        "an rhttp@ server has no address, found `rhttp@gw:443`",
        "write `addr = \"rhttp@\"`",
    );
    let d = only_error(&with_server(r#"{ name = "s", addr = "@reverse" }"#));
    assert_eq!(d.key_path, "backend.t.server[0].addr");
    assert_eq!(
        d.help.as_deref(),
        Some("HAProxy 2.9 renamed `@reverse` to `rhttp@`: write `\"rhttp@\"`")
    );
}

#[test]
fn rhttp_server_idle_ping_is_a_duration() {
    let d = only_error(&with_server(
        r#"{ name = "s", addr = "rhttp@", idle-ping = true }"#,
    ));
    check(
        &d,
        5,
        55,
        "backend.t.server[0].idle-ping",
        "`idle-ping` must be a duration, found a boolean",
        "\"5s\"",
    );
}

#[test]
fn ordinary_servers_refuse_rhttp_keys() {
    let text = r#"[backend.b]
server = [ { name = "s", addr = "127.0.0.1:1", idle-ping = "5s", pool-conn-name = "src" } ]
"#;
    let errs = all_errors(text);
    assert_eq!(errs.len(), 2);
    check(
        &errs[0],
        2,
        48,
        "backend.b.server[0].idle-ping",
        "`idle-ping` only applies to an rhttp@ server",
        "set `addr = \"rhttp@\"`",
    );
    check(
        &errs[1],
        2,
        66,
        "backend.b.server[0].pool-conn-name",
        "`pool-conn-name` only applies to an rhttp@ server",
        "remove `pool-conn-name`",
    );
}

#[test]
fn client_certificates_need_ssl_and_readable_files() {
    let errs = all_errors(
        r#"[backend.b]
server = [ { name = "s", addr = "127.0.0.1:1", crt = "c.pem", key = "k.pem" } ]
"#,
    );
    assert_eq!(errs.len(), 2);
    check(
        &errs[0],
        2,
        48,
        "backend.b.server[0].crt",
        "`crt` needs `ssl = true`",
        "add `ssl = true` to this server, or remove `crt`",
    );
    check(
        &errs[1],
        2,
        63,
        "backend.b.server[0].key",
        "`key` needs `ssl = true`",
        "remove `key`",
    );

    let d = only_error(
        r#"[backend.b]
server = [ { name = "s", addr = "127.0.0.1:1", ssl = true, verify = "none", crt = "/nonexistent/c.pem" } ]
"#,
    );
    check(
        &d,
        2,
        83,
        "backend.b.server[0].crt",
        "cannot read `crt` file `/nonexistent/c.pem`: no such file",
        "check the path",
    );

    let d = only_error(&format!(
        r#"[backend.b]
server = [ {{ name = "s", addr = "127.0.0.1:1", ssl = true, verify = "none", key = "{}" }} ]
"#,
        pki("origin.key")
    ));
    check(
        &d,
        2,
        77,
        "backend.b.server[0].key",
        "`key` needs `crt`",
        "add `crt = \"...\"`",
    );
}

#[test]
fn unused_rhttp_server_is_a_warning() {
    let c = ok(r#"[backend.t]
server = [ { name = "pool", addr = "rhttp@" } ]
"#);
    let others = common::other_warnings(&c);
    assert_eq!(others.len(), 1);
    let w = others[0];
    assert!(w.is_warning());
    check(
        w,
        2,
        12,
        "backend.t.server[0]",
        "no tunnel can register with rhttp@ server `t/pool`: no `attach-srv` rule names it, so \
         its requests get 503",
        "add `tcp-request.session = [ { action = \"attach-srv\", server = \"t/pool\" } ]`",
    );
}

// ---- rhttp@ binds -----------------------------------------------------------

/// An origin whose rhttp@ bind is `bind` (line 2) and whose backend `gw`
/// (line 5) holds `server`.
fn with_bind(bind: &str, server: &str) -> String {
    format!(
        r#"[frontend.o]
bind = [ {bind} ]
default_backend = "app"

[backend.gw]
server = [ {server} ]
[backend.app]
server = [ {{ name = "a", addr = "127.0.0.1:9000" }} ]
"#
    )
}

const GW: &str =
    r#"{ name = "g", addr = "127.0.0.1:8443", ssl = true, verify = "none", proto = "h2" }"#;

#[test]
fn rhttp_bind_resolves_backend_and_server() {
    let c = ok(&with_bind(r#"{ addr = "rhttp@gw/g" }"#, GW));
    assert_eq!(
        c.frontends[0].binds[0].addr,
        BindAddr::Reverse(ReverseBind {
            server: Some(ServerAt::new(0, 0)),
            nbconn: 1,
            idle_ping: None,
            backoff_max: None,
        })
    );
}

#[test]
fn rhttp_bind_unknown_backend_or_server() {
    let d = only_error(&with_bind(r#"{ addr = "rhttp@gw2/g" }"#, GW));
    check(
        &d,
        2,
        26,
        "frontend.o.bind[0].addr",
        "unknown backend `gw2`",
        "did you mean `gw`?",
    );
    let d = only_error(&with_bind(r#"{ addr = "rhttp@gw/gg" }"#, GW));
    check(
        &d,
        2,
        29,
        "frontend.o.bind[0].addr",
        "unknown server `gg` in backend `gw`",
        "did you mean `g`?",
    );
    let d = only_error(&with_bind(r#"{ addr = "rhttp@app/zzzzz" }"#, GW));
    assert_eq!(d.help.as_deref(), Some("servers of backend `app`: `a`"));
}

#[test]
fn rhttp_bind_syntax() {
    let d = only_error(&with_bind(r#"{ addr = "rhttp@gw" }"#, GW));
    check(
        &d,
        2,
        26,
        "frontend.o.bind[0].addr",
        "invalid server reference `gw`",
        "write `<backend>/<server>`, e.g. `rhttp@to_gw/gw1`",
    );
    let d = only_error(&with_bind(r#"{ addr = "rev@gw/g" }"#, GW));
    assert_eq!(
        d.help.as_deref(),
        Some("HAProxy 2.9 renamed `rev@` to `rhttp@`: write `\"rhttp@gw/g\"`")
    );
}

#[test]
fn rhttp_bind_accepts_only_nbconn_and_idle_ping() {
    let errs = all_errors(&with_bind(
        r#"{ addr = "rhttp@gw/g", ssl = true, alpn = ["h2"], proto = "h2", verify = "none" }"#,
        GW,
    ));
    let keys: Vec<&str> = errs.iter().map(|d| d.key_path.as_str()).collect();
    assert_eq!(
        keys,
        ["ssl", "alpn", "proto", "verify"].map(|k| format!("frontend.o.bind[0].{k}"))
    );
    check(
        &errs[0],
        2,
        33,
        "frontend.o.bind[0].ssl",
        "an rhttp@ bind accepts only `nbconn`, `idle-ping` and `backoff-max`, not `ssl`",
        "that server carries every connection setting",
    );
}

#[test]
fn backoff_max_is_a_duration_above_the_base_and_rhttp_only() {
    let c = ok(&with_bind(
        r#"{ addr = "rhttp@gw/g", backoff-max = "1500ms" }"#,
        GW,
    ));
    assert!(matches!(
        c.frontends[0].binds[0].addr,
        BindAddr::Reverse(ReverseBind { backoff_max: Some(d), .. }) if d == Duration::from_millis(1500)
    ));
    // Integers are milliseconds, as for every duration.
    let c = ok(&with_bind(
        r#"{ addr = "rhttp@gw/g", backoff-max = 250 }"#,
        GW,
    ));
    assert!(matches!(
        c.frontends[0].binds[0].addr,
        BindAddr::Reverse(ReverseBind { backoff_max: Some(d), .. }) if d == Duration::from_millis(250)
    ));
    for (v, found) in [(r#""100ms""#, "100ms"), ("0", "0ns"), (r#""50ms""#, "50ms")] {
        let d = only_error(&with_bind(
            &format!(r#"{{ addr = "rhttp@gw/g", backoff-max = {v} }}"#),
            GW,
        ));
        check(
            &d,
            2,
            47,
            "frontend.o.bind[0].backoff-max",
            &format!(
                "`backoff-max` must be more than the 100ms first re-dial delay, found {found}"
            ),
            "leave it out for 5s",
        );
    }
    let d = only_error(&with_bind(
        r#"{ addr = "rhttp@gw/g", backoff-max = "soon" }"#,
        GW,
    ));
    assert_eq!(d.key_path, "frontend.o.bind[0].backoff-max");
    assert!(
        d.message.starts_with("invalid duration for `backoff-max`"),
        "{}",
        d.message
    );
    let d = only_error(&with_bind(r#"{ addr = ":8080", backoff-max = "1s" }"#, GW));
    check(
        &d,
        2,
        28,
        "frontend.o.bind[0].backoff-max",
        "`backoff-max` only applies to an rhttp@ bind",
        "remove `backoff-max`",
    );
}

#[test]
fn nbconn_is_positive_and_rhttp_only() {
    for (v, col) in [("0", 42), ("-2", 42)] {
        let d = only_error(&with_bind(
            &format!(r#"{{ addr = "rhttp@gw/g", nbconn = {v} }}"#),
            GW,
        ));
        check(
            &d,
            2,
            col,
            "frontend.o.bind[0].nbconn",
            &format!("`nbconn` must be 1 or more, found {v}"),
            "leave it out for 1",
        );
    }
    let d = only_error(&with_bind(r#"{ addr = "rhttp@gw/g", nbconn = "4" }"#, GW));
    assert_eq!(d.message, "`nbconn` must be an integer, found a string");
    let d = only_error(&with_bind(r#"{ addr = ":8080", nbconn = 2 }"#, GW));
    check(
        &d,
        2,
        28,
        "frontend.o.bind[0].nbconn",
        "`nbconn` only applies to an rhttp@ bind",
        "`addr = \"rhttp@<backend>/<server>\"`",
    );
    let d = only_error(&with_bind(r#"{ addr = ":8080", idle-ping = "1s" }"#, GW));
    check(
        &d,
        2,
        28,
        "frontend.o.bind[0].idle-ping",
        "`idle-ping` only applies to an rhttp@ bind",
        "remove `idle-ping`",
    );
}

#[test]
fn rhttp_bind_cannot_dial_an_rhttp_server() {
    let text = r#"[frontend.o]
bind = [ { addr = "rhttp@gw/g" } ]
[frontend.reg]
bind = [ { addr = "127.0.0.1:8446", proto = "h2" } ]
tcp-request.session = [ { action = "attach-srv", server = "gw/g" } ]
[backend.gw]
server = [ { name = "g", addr = "rhttp@" } ]
"#;
    let d = only_error(text);
    check(
        &d,
        2,
        29,
        "frontend.o.bind[0].addr",
        "an rhttp@ bind cannot dial `gw/g`: it is itself an rhttp@ server",
        "name the ordinary server that points at the gateway",
    );
}

#[test]
fn rhttp_bind_server_needs_tls_and_h2() {
    let cases = [
        (
            r#"{ name = "g", addr = "127.0.0.1:8443" }"#,
            "server `gw/g` must use TLS and HTTP/2 to carry tunnels",
            "add `ssl = true` (with `ca-file` and a client `crt`) and `proto = \"h2\"` to server \
             `g` (gw.toml:6:12)",
        ),
        (
            r#"{ name = "g", addr = "127.0.0.1:8443", proto = "h2" }"#,
            "server `gw/g` must use TLS to carry tunnels",
            "add `ssl = true` (with `ca-file` and a client `crt`) to server `g` (gw.toml:6:12)",
        ),
        (
            r#"{ name = "g", addr = "127.0.0.1:8443", ssl = true, verify = "none" }"#,
            "server `gw/g` must speak HTTP/2 to carry tunnels",
            "add `proto = \"h2\"` (or `alpn = [\"h2\"]`) to server `g` (gw.toml:6:12)",
        ),
        (
            r#"{ name = "g", addr = "127.0.0.1:8443", ssl = true, verify = "none", alpn = ["h2", "http/1.1"] }"#,
            "server `gw/g` must speak HTTP/2 to carry tunnels",
            "to server `g`",
        ),
    ];
    for (server, message, help) in cases {
        let d = only_error(&with_bind(r#"{ addr = "rhttp@gw/g" }"#, server));
        check(&d, 2, 29, "frontend.o.bind[0].addr", message, help);
    }
}

#[test]
fn frontends_may_mix_rhttp_and_ordinary_binds() {
    let c = ok(&with_bind(
        r#"{ addr = "rhttp@gw/g", nbconn = 2, idle-ping = 0 }, { addr = "127.0.0.1:0" }"#,
        GW,
    ));
    let b = &c.frontends[0].binds;
    assert!(matches!(
        b[0].addr,
        BindAddr::Reverse(ReverseBind {
            nbconn: 2,
            idle_ping: None,
            ..
        })
    ));
    assert!(matches!(b[1].addr, BindAddr::Tcp(_)));
}

// ---- tcp-request.session ----------------------------------------------------

/// A registration frontend with `rule` as its only session rule (line 3),
/// and rhttp@ servers `t/named` (with pool-conn-name) and `t/anon`.
fn with_rule(rule: &str) -> String {
    format!(
        r#"[frontend.reg]
bind = [ {{ addr = "127.0.0.1:8446", proto = "h2" }} ]
tcp-request.session = [ {rule} ]
[backend.t]
server = [ {{ name = "named", addr = "rhttp@", pool-conn-name = "req.hdr(host)" }}, {{ name = "anon", addr = "rhttp@" }} ]
[backend.plain]
server = [ {{ name = "p", addr = "127.0.0.1:1" }} ]
"#
    )
}

/// The same, with a verifying TLS bind.
fn with_tls_rule(rule: &str) -> String {
    with_rule(rule).replace(
        r#"{ addr = "127.0.0.1:8446", proto = "h2" }"#,
        &format!(
            r#"{{ addr = "127.0.0.1:8446", ssl = true, verify = "required", ca-file = "{}", crt = "{}" }}"#,
            pki("ca.crt"),
            pki("gateway.crt")
        ),
    )
}

#[test]
fn session_rule_actions() {
    let d = only_error(&with_rule(
        r#"{ action = "attach-server", server = "t/anon" }"#,
    ));
    check(
        &d,
        3,
        36,
        "frontend.reg.tcp-request.session[0].action",
        "unknown or unsupported tcp-request session action `attach-server`",
        "did you mean `\"attach-srv\"`?",
    );
    let d = only_error(&with_rule(r#"{ server = "t/anon" }"#));
    check(
        &d,
        3,
        25,
        "frontend.reg.tcp-request.session[0]",
        "tcp-request session rule has no `action`",
        "`attach-srv`, `reject`, `accept`",
    );
    let d = only_error(&with_rule(r#"{ action = "reject", server = "t/anon" }"#));
    check(
        &d,
        3,
        46,
        "frontend.reg.tcp-request.session[0].server",
        "unknown key `server` in a tcp-request session `reject` rule",
        "valid keys here: `action`, `if`, `unless`",
    );
    let d = only_error(&with_rule(r#"{ action = "attach-srv" }"#));
    check(
        &d,
        3,
        25,
        "frontend.reg.tcp-request.session[0]",
        "an `attach-srv` rule has no `server`",
        "add `server = \"tunnels/pool\"`",
    );
}

#[test]
fn tcp_request_table_and_placement() {
    let d = only_error("[frontend.f]\nbind = [ { addr = \":80\" } ]\ntcp-request.contents = []\n");
    check(
        &d,
        3,
        13,
        "frontend.f.tcp-request.contents",
        "unknown key `contents` in the `tcp-request` table",
        "did you mean `content`?",
    );
    let d = only_error("[backend.b]\ntcp-request.session = []\n");
    check(
        &d,
        2,
        1,
        "backend.b.tcp-request",
        "`tcp-request` is not allowed in backend `b`",
        "`tcp-request` is a frontend setting",
    );
    let d = only_error("[frontend.f]\nbind = [ { addr = \":80\" } ]\ntcp-request-session = []\n");
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `tcp-request.session`?")
    );
}

#[test]
fn attach_srv_may_name_a_later_backend() {
    // HAProxy bug b4db3be86: the rule is written before the backend.
    let c = ok(
        &(with_rule(r#"{ action = "attach-srv", server = "t/anon" }"#).replace(
            r#"pool-conn-name = "req.hdr(host)""#,
            r#"sni = "req.hdr(host)""#,
        ) + "[frontend.other]\nbind = [ { addr = \"127.0.0.1:8447\", proto = \"h2\" } ]\n\
           tcp-request.session = [ { action = \"attach-srv\", server = \"t/named\", name = \"src\" } ]\n"),
    );
    let SessionAction::AttachSrv(a) = &c.frontends[0].tcp_request_session[0].action else {
        panic!()
    };
    assert_eq!(a.server, Some(ServerAt::new(0, 1)));
    let SessionAction::AttachSrv(a) = &c.frontends[1].tcp_request_session[0].action else {
        panic!()
    };
    assert_eq!(a.server, Some(ServerAt::new(0, 0)));
    let sni = c.backends[0].servers[0].reverse().unwrap().name.as_ref();
    assert_eq!(sni.unwrap().as_str(), "req.hdr(host)", "`sni` is an alias");
}

#[test]
fn attach_srv_target_errors() {
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "tt/anon" }"#,
    ));
    check(
        &d,
        3,
        60,
        "frontend.reg.tcp-request.session[0].server",
        "unknown backend `tt`",
        "did you mean `t`?",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anom" }"#,
    ));
    check(
        &d,
        3,
        62,
        "frontend.reg.tcp-request.session[0].server",
        "unknown server `anom` in backend `t`",
        "did you mean `anon`?",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "plain/p" }"#,
    ));
    check(
        &d,
        3,
        66,
        "frontend.reg.tcp-request.session[0].server",
        "`attach-srv` needs an rhttp@ server, but `plain/p` connects to `127.0.0.1:1`",
        "set `addr = \"rhttp@\"` on server `p` (gw.toml:7:12), or name an rhttp@ server",
    );
    let d = only_error(&with_rule(r#"{ action = "attach-srv", server = "t" }"#));
    assert_eq!(d.message, "invalid server reference `t`");
    assert_eq!((d.location.line, d.location.column), (3, 60));
}

#[test]
fn name_and_pool_conn_name_go_together() {
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/named" }"#,
    ));
    check(
        &d,
        3,
        62,
        "frontend.reg.tcp-request.session[0].server",
        "rhttp@ server `t/named` picks tunnels by `pool-conn-name`, but this rule registers \
         them without a name",
        "add `name = \"ssl_c_s_dn(CN)\"` or `name-from-cert = \"cn\"` to this rule, or remove \
         `pool-conn-name` from server `named` (gw.toml:5:12)",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", name = "ssl_fc_sni" }"#,
    ));
    check(
        &d,
        3,
        62,
        "frontend.reg.tcp-request.session[0].server",
        "this rule names its tunnels, but rhttp@ server `t/anon` has no `pool-conn-name` to \
         pick them by",
        "add `pool-conn-name = \"req.hdr(host),field(1,:)\"` to server `anon` (gw.toml:5:83)",
    );
    ok(&with_rule(
        r#"{ action = "attach-srv", server = "t/named", name = "ssl_fc_sni" }"#,
    ));
}

#[test]
fn name_or_name_from_cert() {
    let d = only_error(&with_tls_rule(
        r#"{ action = "attach-srv", server = "t/named", name = "src", name-from-cert = "cn" }"#,
    ));
    check(
        &d,
        3,
        84,
        "frontend.reg.tcp-request.session[0].name-from-cert",
        "an `attach-srv` rule cannot have both `name` and `name-from-cert`",
        "keep `name`",
    );
    let d = only_error(&with_tls_rule(
        r#"{ action = "attach-srv", server = "t/named", name-from-cert = "san" }"#,
    ));
    check(
        &d,
        3,
        87,
        "frontend.reg.tcp-request.session[0].name-from-cert",
        "invalid value `san` for `name-from-cert`",
        "expected one of `cn`, `dns-san`, `cn+dns-san`",
    );
    for (v, cn, san) in [("cn", true, false), ("dns-san", false, true)] {
        let c = ok(&with_tls_rule(&format!(
            r#"{{ action = "attach-srv", server = "t/named", name-from-cert = "{v}" }}"#
        )));
        let SessionAction::AttachSrv(a) = &c.frontends[0].tcp_request_session[0].action else {
            panic!()
        };
        match a.naming {
            TunnelNaming::Cert {
                common_name,
                dns_sans,
            } => assert_eq!((common_name, dns_sans), (cn, san)),
            ref other => panic!("{other:?}"),
        }
    }
}

#[test]
fn name_expression_errors() {
    let src = r#"{ action = "attach-srv", server = "t/named", name = "ssl_c_s_dn(CN),lowr" }"#;
    let d = only_error(&with_rule(src));
    let e = gwd_sample::Expr::parse("ssl_c_s_dn(CN),lowr").unwrap_err();
    // The opening quote is at column 77.
    check(
        &d,
        3,
        77 + e.column,
        "frontend.reg.tcp-request.session[0].name",
        &format!("invalid sample expression: {}", e.message),
        "did you mean `lower`?",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/named", name = "req.hdr(host)" }"#,
    ));
    check(
        &d,
        3,
        77,
        "frontend.reg.tcp-request.session[0].name",
        "`req.hdr` needs an HTTP request, but the `name` of an `attach-srv` rule runs before \
         any request",
        "use connection fetches only",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/named", name = "rhttp_name" }"#,
    ));
    check(
        &d,
        3,
        77,
        "frontend.reg.tcp-request.session[0].name",
        "`rhttp_name` only has a value inside `allow-name`",
        "allow-name",
    );
}

#[test]
fn session_conditions_use_connection_fetches_only() {
    let d = only_error(&with_rule(
        r#"{ action = "reject", if = "{ src 10.0.0.0/8 } { path /x }" }"#,
    ));
    check(
        &d,
        3,
        51,
        "frontend.reg.tcp-request.session[0].if",
        "`path` needs an HTTP request, but a `tcp-request.session` rule runs before any request",
        "check requests with `http-request` rules instead",
    );
    // Through a predefined ACL, and with `unless`.
    let d = only_error(&with_rule(r#"{ action = "reject", unless = "METH_GET" }"#));
    check(
        &d,
        3,
        55,
        "frontend.reg.tcp-request.session[0].unless",
        "`method` needs an HTTP request, but a `tcp-request.session` rule runs before any \
         request",
        "use connection fetches only",
    );
    let d = only_error(&with_rule(
        r#"{ action = "reject", if = "{ rhttp_name foo }" }"#,
    ));
    assert_eq!(
        d.message,
        "`rhttp_name` only has a value inside `allow-name`"
    );
    // Connection fetches are fine, in ordinary frontends too.
    let c = ok(r#"[frontend.f]
bind = [ { addr = "127.0.0.1:0" } ]
acl.internal = "src 10.0.0.0/8"
tcp-request.session = [ { action = "accept", if = "internal" }, { action = "reject", if = "!{ ssl_fc }" } ]
"#);
    let f = &c.frontends[0];
    assert!(!f.is_registration());
    assert_eq!(f.tcp_request_session.len(), 2);
    let cond = f.tcp_request_session[1].cond.as_ref().unwrap();
    assert!(cond.eval(&Conn {
        tls: None,
        name: None
    }));
    assert!(!cond.eval(&Conn {
        tls: Some(TlsInfo::default()),
        name: None
    }));
}

#[test]
fn allow_name_errors_point_into_the_string() {
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", allow-name = "-m ends .localhost" }"#,
    ));
    // The opening quote is at column 82; `ends` is the 4th character.
    assert_eq!(
        (d.location.line, d.location.column, d.key_path.as_str()),
        (3, 86, "frontend.reg.tcp-request.session[0].allow-name")
    );
    assert!(d.message.starts_with("invalid `allow-name`: "), "{d}");
    assert!(d.message.contains("ends"), "{d}");
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", allow-name = "-x a" }"#,
    ));
    check(
        &d,
        3,
        83,
        "frontend.reg.tcp-request.session[0].allow-name",
        "invalid `allow-name`: unknown flag `-x`",
        "flags are -i",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", allow-name = "-f /nonexistent/names.lst" }"#,
    ));
    assert_eq!((d.location.line, d.location.column), (3, 86));
    assert!(d.message.contains("/nonexistent/names.lst"), "{d}");
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", allow-name = " " }"#,
    ));
    check(
        &d,
        3,
        82,
        "frontend.reg.tcp-request.session[0].allow-name",
        "`allow-name` is empty",
        "-m end .apps.example.com",
    );
    let d = only_error(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", allow-name = "rhttp_name -m end .x" }"#,
    ));
    check(
        &d,
        3,
        83,
        "frontend.reg.tcp-request.session[0].allow-name",
        "`allow-name` holds only flags and patterns",
        "remove `rhttp_name`",
    );
    // A `}` is a pattern, not the end of an inline ACL.
    let c = ok(&with_rule(
        r#"{ action = "attach-srv", server = "t/anon", allow-name = "a } || { always_true" }"#,
    ));
    let SessionAction::AttachSrv(a) = &c.frontends[0].tcp_request_session[0].action else {
        panic!()
    };
    let allow = a.allow_name.as_ref().unwrap();
    assert!(allow.eval(&named("a")) && allow.eval(&named("}")));
    assert!(!allow.eval(&named("b")));
}

#[test]
fn registration_frontend_serves_no_requests() {
    let text = with_rule(r#"{ action = "attach-srv", server = "t/anon" }"#).replace(
        "[backend.t]",
        "default_backend = \"plain\"\nuse_backend = [ { backend = \"plain\" } ]\n\
         http-request = [ { action = \"deny\" } ]\n[backend.t]",
    );
    let errs = all_errors(&text);
    assert_eq!(errs.len(), 3, "{errs:?}");
    check(
        &errs[0],
        4,
        1,
        "frontend.reg.default_backend",
        "a registration frontend serves no requests: remove `default_backend`",
        "frontend `reg` has an `attach-srv` rule, so its connections become tunnels; put \
         `default_backend` in a frontend that serves requests",
    );
    assert_eq!(errs[1].key_path, "frontend.reg.use_backend");
    assert_eq!((errs[1].location.line, errs[1].location.column), (5, 1));
    assert_eq!(errs[2].key_path, "frontend.reg.http-request");
    assert_eq!(
        errs[2].message,
        "a registration frontend serves no requests: remove `http-request`"
    );
}

#[test]
fn registration_binds_need_http2() {
    let d = only_error(
        &with_rule(r#"{ action = "attach-srv", server = "t/anon" }"#)
            .replace(r#", proto = "h2" }"#, " }"),
    );
    check(
        &d,
        2,
        19,
        "frontend.reg.bind[0].addr",
        "a clear registration bind needs `proto = \"h2\"`",
        "add `proto = \"h2\"`",
    );
    let text = format!(
        r#"[frontend.reg]
bind = [ {{ addr = "127.0.0.1:8446", ssl = true, alpn = ["h2", "http/1.1"], crt = "{}" }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "t/s" }} ]
[backend.t]
server = [ {{ name = "s", addr = "rhttp@" }} ]
"#,
        pki("gateway.crt")
    );
    let d = only_error(&text);
    check(
        &d,
        2,
        56,
        "frontend.reg.bind[0].alpn",
        "a registration bind must offer ALPN `h2` only",
        "set `alpn = [\"h2\"]`, or remove `alpn`",
    );
}

#[test]
fn certificate_names_need_a_verifying_bind() {
    for (rule, col, key) in [
        (
            r#"{ action = "attach-srv", server = "t/named", name-from-cert = "cn" }"#,
            87,
            "name-from-cert",
        ),
        (
            r#"{ action = "attach-srv", server = "t/named", name = "ssl_c_s_dn(CN)" }"#,
            77,
            "name",
        ),
    ] {
        let d = only_error(&with_rule(rule));
        check(
            &d,
            3,
            col,
            &format!("frontend.reg.tcp-request.session[0].{key}"),
            "tunnel names come from the client certificate, but no bind of frontend `reg` asks \
             for one",
            "set `verify = \"required\"` (or `\"optional\"`) and `ca-file` on a TLS bind",
        );
        ok(&with_tls_rule(rule));
    }
    // Names that do not read the certificate need no verification.
    ok(&with_rule(
        r#"{ action = "attach-srv", server = "t/named", name = "ssl_fc_sni" }"#,
    ));
}

#[test]
fn rhttp_bind_is_not_allowed_in_a_registration_frontend() {
    let text = r#"[frontend.reg]
bind = [ { addr = "127.0.0.1:8446", proto = "h2" }, { addr = "rhttp@gw/g" } ]
tcp-request.session = [ { action = "attach-srv", server = "t/s" } ]
[backend.t]
server = [ { name = "s", addr = "rhttp@" } ]
[backend.gw]
server = [ { name = "g", addr = "127.0.0.1:8443", ssl = true, verify = "none", proto = "h2" } ]
"#;
    let d = only_error(text);
    check(
        &d,
        2,
        62,
        "frontend.reg.bind[1].addr",
        "an rhttp@ bind cannot be in a frontend with an `attach-srv` rule",
        "belongs to the origin's configuration",
    );
}

#[test]
fn attach_srv_is_not_allowed_in_listen() {
    let text = r#"[listen.reg]
bind = [ { addr = "127.0.0.1:8446", proto = "h2" } ]
tcp-request.session = [ { action = "attach-srv", server = "reg/s" } ]
server = [ { name = "s", addr = "rhttp@" } ]
"#;
    let d = only_error(text);
    check(
        &d,
        3,
        36,
        "listen.reg.tcp-request.session[0].action",
        "`attach-srv` is not allowed in a listen section",
        "put the rule in a `[frontend.<name>]` section",
    );
}

#[test]
fn config_md_examples_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let doc = std::fs::read_to_string(root.join("docs/CONFIG.md")).unwrap();
    let section = doc
        .split("\n## Reverse HTTP\n")
        .nth(1)
        .expect("CONFIG.md has a Reverse HTTP section");
    let section = section.split("\n## ").next().unwrap();
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "a gateway and an origin example");
    let pki_dir = Path::new(&pki("ca.crt"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let configs: Vec<Config> = blocks
        .iter()
        .map(|b| ok(&b.replace("examples/reverse/pki", &pki_dir)))
        .collect();
    let (gw, origin) = (&configs[0], &configs[1]);
    assert!(gw.warnings.is_empty() && origin.warnings.is_empty());
    assert!(gw.frontend("registration").unwrap().is_registration());
    assert_eq!(gw.backend("tunnels").unwrap().timeouts.tunnel_wait, secs(2));
    let BindAddr::Reverse(rb) = origin.frontends[0].binds[0].addr else {
        panic!("not an rhttp@ bind")
    };
    assert_eq!((rb.server, rb.nbconn), (Some(ServerAt::new(0, 0)), 2));
    assert_eq!(origin.backends[0].name, "to-gateway");
}

#[test]
fn every_problem_is_reported_even_in_broken_rules() {
    let text = r#"[frontend.reg]
bind = [ { addr = "127.0.0.1:8446" } ]
default_backend = "t"
tcp-request.session = [
  { action = "reject", if = "{ req.hdr(host) foo }" },
  { action = "attach-srv", server = "t/pool", name = "ssl_c_s_dn(CN)", allow-name = "-f /nonexistent/x.lst" },
  { action = "attach-srv", server = "t/poll", allow-name = "-m ends x" },
]
[frontend.o]
bind = [ { addr = "rhttp@to_gw/gw", nbconn = 0, ssl = true } ]
[backend.t]
server = [ { name = "pool", addr = "rhttp@", ssl = true, pool-purge-delay = "1s" }, { name = "x", addr = "rhttp@" } ]
[backend.to_gw]
server = [ { name = "gw", addr = "gw:443" } ]
"#;
    let e = parse(text).unwrap_err();
    let got: Vec<(usize, &str)> = e
        .errors()
        .map(|d| (d.location.line, d.key_path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "frontend.reg.bind[0].addr"),
            (3, "frontend.reg.default_backend"),
            (5, "frontend.reg.tcp-request.session[0].if"),
            (6, "frontend.reg.tcp-request.session[1].server"),
            (6, "frontend.reg.tcp-request.session[1].name"),
            (6, "frontend.reg.tcp-request.session[1].allow-name"),
            (7, "frontend.reg.tcp-request.session[2].server"),
            (7, "frontend.reg.tcp-request.session[2].allow-name"),
            (10, "frontend.o.bind[0].addr"),
            (10, "frontend.o.bind[0].nbconn"),
            (10, "frontend.o.bind[0].ssl"),
            (12, "backend.t.server[0].ssl"),
            (12, "backend.t.server[0].pool-purge-delay"),
        ]
    );
    let w: Vec<&str> = e.warnings().map(|d| d.key_path.as_str()).collect();
    assert_eq!(w, ["backend.t.server[1]"]);
}
