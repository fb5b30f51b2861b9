//! What a valid config resolves to: defaults inheritance and overrides,
//! listen shorthand, ids, TLS defaults, rules.

mod common;

use std::time::Duration;

use common::{ok, temp_files};
use gwd_config::*;

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

#[test]
fn builtin_defaults() {
    let c = ok("[frontend.f]\nbind = [ { addr = \":80\" } ]\n\n[backend.b]\n");
    assert!(!c.global.limited_quic);
    assert_eq!(c.global.hard_stop_after, None);
    assert_eq!(c.global.nbthread, None);
    assert_eq!(c.global.max_header_size, 16 * 1024);
    assert_eq!(c.global.max_poll_events, 200);
    let f = &c.frontends[0];
    assert_eq!(f.timeouts, Timeouts::default());
    assert!(f.forwardfor.is_none());
    assert!(f.http_request.is_empty() && f.use_backend.is_empty());
    assert_eq!(f.default_backend, None);
    let b = &c.backends[0];
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.http_reuse, HttpReuse::Safe);
    assert_eq!(b.pool, PoolSettings::default());
    assert!(b.servers.is_empty());
    // An unreferenced empty backend is not worth a warning; the missing
    // timeouts are (`missing_timeouts_are_warned`).
    assert!(common::other_warnings(&c).is_empty());
}

#[test]
fn global_values() {
    let c = ok(r#"[global]
hard-stop-after = "1m"
nbthread = 3
limited-quic = true
tune.bufsize = "32k"
tune.maxpollevents = 16
"#);
    assert_eq!(c.global.hard_stop_after, secs(60));
    assert_eq!(c.global.nbthread, Some(3));
    assert!(c.global.limited_quic);
    assert_eq!(c.global.max_header_size, 32 * 1024);
    assert_eq!(c.global.max_poll_events, 16);
    // The inline-table spelling is the same key.
    let c = ok("[global]\ntune = { maxpollevents = 1, bufsize = \"4k\" }\n");
    assert_eq!(
        (c.global.max_poll_events, c.global.max_header_size),
        (1, 4096)
    );
    let c = ok("[global]\ntune.bufsize = 8192\nhard-stop-after = 1500\n");
    assert_eq!(c.global.max_header_size, 8192);
    assert_eq!(c.global.hard_stop_after, Some(Duration::from_millis(1500)));
}

#[test]
fn defaults_are_inherited_and_overridden() {
    let c = ok(r#"[defaults]
mode = "http"
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
timeout.http-request = "10s"
timeout.http-keep-alive = "5s"
option.forwardfor = true
http-reuse = "always"
balance = "roundrobin"
pool-purge-delay = "7s"
pool-max-conn = 20
pool-low-conn = 2

[frontend.inherits]
bind = [ { addr = ":80" } ]

[frontend.overrides]
bind = [ { addr = ":81" } ]
timeout.client = "1m"
timeout.http-request = 0
option.forwardfor = { header = "X-Client-IP" }

[frontend.no-xff]
bind = [ { addr = ":82" } ]
option.forwardfor = false

[backend.inherits]
server = [ { name = "s1", addr = "127.0.0.1:1" } ]

[backend.overrides]
http-reuse = "never"
timeout.server = "2m"
pool-max-conn = -1
server = [
  { name = "s1", addr = "127.0.0.1:1" },
  { name = "s2", addr = "127.0.0.1:2", pool-max-conn = 0, pool-low-conn = 5, pool-purge-delay = "1s" },
]
"#);
    let all = Timeouts {
        connect: secs(5),
        client: secs(30),
        server: secs(30),
        http_request: secs(10),
        http_keep_alive: secs(5),
        tunnel: None,
        tunnel_wait: None,
        check: None,
        queue: None,
        tarpit: None,
    };
    let f = c.frontend("inherits").unwrap();
    assert_eq!(f.timeouts, all);
    assert_eq!(f.forwardfor.as_ref().unwrap().header, "X-Forwarded-For");

    let f = c.frontend("overrides").unwrap();
    assert_eq!(
        f.timeouts,
        Timeouts {
            client: secs(60),
            http_request: None,
            ..all
        }
    );
    assert_eq!(f.forwardfor.as_ref().unwrap().header, "X-Client-IP");
    assert!(c.frontend("no-xff").unwrap().forwardfor.is_none());

    let b = c.backend("inherits").unwrap();
    assert_eq!(b.timeouts, all);
    assert_eq!(b.http_reuse, HttpReuse::Always);
    let pool = PoolSettings {
        purge_delay: secs(7).unwrap(),
        max_conn: Some(20),
        low_conn: 2,
    };
    assert_eq!(b.pool, pool);
    assert_eq!(b.servers[0].pool, pool);
    assert!(b.forwardfor.is_some());

    let b = c.backend("overrides").unwrap();
    assert_eq!(b.http_reuse, HttpReuse::Never);
    assert_eq!(b.timeouts.server, secs(120));
    assert_eq!(b.timeouts.connect, secs(5));
    let bpool = PoolSettings {
        max_conn: None,
        ..pool
    };
    assert_eq!(b.pool, bpool);
    assert_eq!(b.servers[0].pool, bpool);
    assert_eq!(
        b.servers[1].pool,
        PoolSettings {
            purge_delay: secs(1).unwrap(),
            max_conn: Some(0),
            low_conn: 5,
        }
    );
}

#[test]
fn http_reuse_values() {
    for (text, want) in [
        ("never", HttpReuse::Never),
        ("safe", HttpReuse::Safe),
        ("aggressive", HttpReuse::Aggressive),
        ("always", HttpReuse::Always),
    ] {
        let c = ok(&format!(
            "[defaults]\nhttp-reuse = \"{text}\"\n\n[backend.inherits]\n\n\
             [backend.own]\nhttp-reuse = \"{text}\"\n\n[listen.l]\nbind = [ {{ addr = \":80\" }} ]\n"
        ));
        for name in ["inherits", "own", "l"] {
            assert_eq!(
                c.backend(name).unwrap().http_reuse,
                want,
                "{text} in {name}"
            );
        }
    }
    // A backend's own value wins over the inherited one.
    let c = ok("[defaults]\nhttp-reuse = \"never\"\n\n[backend.b]\nhttp-reuse = \"aggressive\"\n");
    assert_eq!(c.backend("b").unwrap().http_reuse, HttpReuse::Aggressive);
}

#[test]
fn listen_is_a_frontend_and_a_backend() {
    let c = ok(r#"[backend.first]
server = [ { name = "s", addr = "127.0.0.1:1" } ]

[listen.web]
bind = [ { addr = ":8080" } ]
acl.is_api = "path_beg /api"
http-request = [ { action = "deny", if = "is_api" } ]
timeout.client = "3s"
server = [ { name = "w1", addr = "127.0.0.1:2" }, { name = "w2", addr = "127.0.0.1:3" } ]

[frontend.edge]
bind = [ { addr = ":8081" } ]
default_backend = "web"

[listen.other]
bind = [ { addr = ":8082" } ]
default_backend = "first"
"#);
    let names: Vec<(&str, u32)> = c
        .frontends
        .iter()
        .map(|f| (f.name.as_str(), f.id))
        .collect();
    assert_eq!(names, [("web", 1), ("edge", 2), ("other", 3)]);
    let names: Vec<(&str, u32)> = c.backends.iter().map(|b| (b.name.as_str(), b.id)).collect();
    assert_eq!(names, [("first", 1), ("web", 2), ("other", 3)]);

    let fe = c.frontend("web").unwrap();
    assert_eq!(fe.default_backend, Some(BackendId::new(1)));
    assert_eq!(fe.http_request.len(), 1);
    assert!(fe.http_request[0].cond.is_some());
    assert_eq!(fe.timeouts.client, secs(3));
    let be = c.backend("web").unwrap();
    assert!(
        be.http_request.is_empty(),
        "listen rules run once, in the frontend"
    );
    assert_eq!(be.timeouts.client, secs(3));
    let servers: Vec<(&str, u32)> = be.servers.iter().map(|s| (s.name.as_str(), s.id)).collect();
    assert_eq!(servers, [("w1", 1), ("w2", 2)]);

    assert_eq!(
        c.frontend("edge").unwrap().default_backend,
        Some(BackendId::new(1))
    );
    assert_eq!(
        c.frontend("other").unwrap().default_backend,
        Some(BackendId::new(0))
    );
    // `listen.other` has no servers, but nothing routes to it.
    assert!(common::other_warnings(&c).is_empty(), "{:?}", c.warnings);
}

#[test]
fn binds_and_tls_defaults() {
    let dir = temp_files(&["gw.pem", "gw.key", "ca.pem"]);
    let p = |n: &str| dir.join(n).display().to_string();
    let c = ok(&format!(
        r#"[frontend.f]
bind = [
  {{ addr = ":80" }},
  {{ addr = "ipv6@:80", proto = "h2" }},
  {{ addr = "127.0.0.1:443", ssl = true, crt = "{crt}" }},
  {{ addr = "[::1]:443", ssl = true, crt = "{crt}", key = "{key}", alpn = ["http/1.1"], verify = "required", ca-file = "{ca}" }},
  {{ addr = "127.0.0.2:443", ssl = true, crt = "{crt}", verify = "optional", ca-file = "{ca}" }},
]
"#,
        crt = p("gw.pem"),
        key = p("gw.key"),
        ca = p("ca.pem"),
    ));
    let b = &c.frontends[0].binds;
    assert_eq!(b[0].addr, BindAddr::Tcp("0.0.0.0:80".parse().unwrap()));
    assert_eq!(b[0].proto, BindProto::Auto);
    assert!(b[0].tls.is_none());
    assert_eq!(b[1].addr, BindAddr::Tcp("[::]:80".parse().unwrap()));
    assert_eq!(b[1].proto, BindProto::H2);
    assert_eq!((b[1].location.line, b[1].location.column), (4, 3));
    assert_eq!(b[1].location.file, std::path::Path::new("gw.toml"));

    let t = b[2].tls.as_ref().unwrap();
    assert_eq!(t.crts, [dir.join("gw.pem")]);
    assert_eq!(t.key, None, "key in the crt file (or <crt>.key)");
    assert!(t.crt_lists.is_empty());
    assert_eq!(t.versions, [TlsVersion::Tls12, TlsVersion::Tls13]);
    assert_eq!((&t.ciphers, &t.ciphersuites), (&None, &None));
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
    assert_eq!(t.verify, Verify::None);
    assert_eq!(t.ca, None);

    let t = b[3].tls.as_ref().unwrap();
    assert_eq!(t.key, Some(dir.join("gw.key")));
    assert_eq!(t.alpn, ["http/1.1"]);
    assert_eq!(t.verify, Verify::Required);
    assert_eq!(t.ca.as_deref(), Some(dir.join("ca.pem").as_path()));
    assert_eq!(b[4].tls.as_ref().unwrap().verify, Verify::Optional);
}

#[test]
fn servers_and_tls_defaults() {
    let dir = temp_files(&["ca.pem"]);
    let ca = dir.join("ca.pem").display().to_string();
    let c = ok(&format!(
        r#"[backend.b]
server = [
  {{ name = "plain", addr = "backend.example.com:8080" }},
  {{ name = "h2", addr = "127.0.0.1:9003", proto = "h2" }},
  {{ name = "tls-name", addr = "app.internal:443", ssl = true, ca-file = "{ca}" }},
  {{ name = "tls-ip", addr = "10.0.0.1:443", ssl = true, verify = "none", proto = "h2" }},
  {{ name = "tls-all", addr = "[::1]:443", ssl = true, sni = "x.example", verify = "none", alpn = ["h2", "http/1.1"] }},
]
"#
    ));
    let s = &c.backends[0].servers;
    assert_eq!(
        s[0].net_addr(),
        Some(&ServerAddr {
            host: "backend.example.com".into(),
            port: 8080
        })
    );
    assert_eq!(s[0].proto, ServerProto::H1);
    assert!(s[0].tls.is_none());
    assert_eq!(s[1].proto, ServerProto::H2);

    let t = s[2].tls.as_ref().unwrap();
    assert_eq!(
        t.sni.as_deref(),
        Some("app.internal"),
        "SNI defaults to a host name"
    );
    assert_eq!(t.verify, Verify::Required);
    assert_eq!(t.ca.as_deref(), Some(dir.join("ca.pem").as_path()));
    assert_eq!(t.alpn, ["http/1.1"]);

    let t = s[3].tls.as_ref().unwrap();
    assert_eq!(t.sni, None, "no SNI for an IP literal");
    assert_eq!(t.verify, Verify::None);
    assert_eq!(t.alpn, ["h2"]);

    let t = s[4].tls.as_ref().unwrap();
    assert_eq!(s[4].net_addr().unwrap().host, "::1");
    assert_eq!(t.cert, None);
    assert_eq!(t.key, None);
    assert_eq!(t.sni.as_deref(), Some("x.example"));
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
}

#[test]
fn http_request_rules_and_routing() {
    let c = ok(r#"[frontend.f]
bind = [ { addr = ":80" } ]
acl.is_api = "path_beg /api"
acl.host_api = [ "req.hdr(host) -m str api.example", "req.hdr(host) -m str api2.example" ]
http-request = [
  { action = "return", status = 200, content-type = "text/plain", body = "ok\n", if = "{ path /healthz }" },
  { action = "return", lf-body = "%[src]\n", hdr = [ { name = "X-A", value = "%[dst_port]" }, { name = "X-B", value = "b" } ] },
  { action = "deny", unless = "is_api" },
  { action = "deny", status = 429 },
  { action = "set-header", name = "X-Forwarded-Proto", value = "https", if = "{ ssl_fc }" },
  { action = "add-header", name = "X-Via", value = "gwd %[fe_name]" },
  { action = "del-header", name = "X-Internal" },
]
use_backend = [ { backend = "api", if = "host_api || is_api" }, { backend = "app" } ]
default_backend = "app"

[backend.app]
server = [ { name = "s", addr = "127.0.0.1:1" } ]

[backend.api]
server = [ { name = "s", addr = "127.0.0.1:2" } ]
"#);
    let f = &c.frontends[0];
    let r = &f.http_request;
    assert_eq!(r.len(), 7);
    match &r[0].action {
        HttpRequestAction::Return {
            status,
            content_type,
            headers,
            ..
        } => {
            assert_eq!(*status, 200);
            assert_eq!(content_type.as_deref(), Some("text/plain"));
            assert!(headers.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(r[0].cond.is_some());
    match &r[1].action {
        HttpRequestAction::Return {
            status,
            content_type,
            headers,
            ..
        } => {
            assert_eq!(*status, 200, "return defaults to 200");
            assert_eq!(*content_type, None);
            let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["X-A", "X-B"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(r[1].cond.is_none());
    assert!(matches!(
        r[2].action,
        HttpRequestAction::Deny { status: 403 }
    ));
    assert!(r[2].cond.is_some());
    assert!(matches!(
        r[3].action,
        HttpRequestAction::Deny { status: 429 }
    ));
    assert!(
        matches!(&r[4].action, HttpRequestAction::SetHeader { name, .. } if name == "X-Forwarded-Proto")
    );
    assert!(matches!(&r[5].action, HttpRequestAction::AddHeader { name, .. } if name == "X-Via"));
    assert!(matches!(&r[6].action, HttpRequestAction::DelHeader { name } if name == "X-Internal"));

    assert_eq!(f.use_backend.len(), 2);
    assert_eq!(f.use_backend[0].backend.backend(), Some(BackendId::new(1)));
    assert!(f.use_backend[0].cond.is_some());
    assert_eq!(f.use_backend[1].backend.backend(), Some(BackendId::new(0)));
    assert!(f.use_backend[1].cond.is_none());
    assert_eq!(f.default_backend, Some(BackendId::new(0)));
}

#[test]
fn backend_rules_use_backend_acls() {
    let c = ok(r#"[backend.b]
acl.internal = "src 10.0.0.0/8"
http-request = [ { action = "deny", unless = "internal" } ]
server = [ { name = "s", addr = "127.0.0.1:1" } ]
"#);
    assert_eq!(c.backends[0].http_request.len(), 1);
    assert!(c.backends[0].http_request[0].cond.is_some());
}

#[test]
fn load_reads_files_and_names_them() {
    let dir = temp_files(&[]);
    let path = dir.join("gw.toml");
    assert!(dir.path().is_dir());
    std::fs::write(&path, "[frontend.f]\nbind = [ { addr = \":80\" } ]\n").unwrap();
    let c = load(&path).unwrap();
    assert_eq!(c.source, path);
    std::fs::write(&path, "[frontend.f]\n").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.diagnostics[0].location.file, path);
    assert_eq!(e.diagnostics[0].location.line, 1);
}

#[test]
fn dynamic_use_backend_is_a_log_format() {
    let c = gwd_config::parse_str(
        r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
use_backend = [ { backend = "%[req.hdr(host),lower]" }, { backend = "b", if = "{ path_beg /b }" } ]

[backend.b]
"#,
        "dyn.toml".as_ref(),
    )
    .unwrap();
    let rules = &c.frontends[0].use_backend;
    assert!(matches!(
        rules[0].backend,
        gwd_config::BackendChoice::Dynamic(_)
    ));
    assert_eq!(rules[0].backend.backend(), None);
    assert_eq!(rules[1].backend.backend(), Some(BackendId::new(0)));
}

#[test]
fn timeout_tunnel_is_inherited_and_overridden() {
    let c = ok(r#"
[defaults]
timeout.tunnel = "1h"

[frontend.f]
bind = [ { addr = ":80" } ]
default_backend = "b"

[backend.b]
timeout.tunnel = "30s"
"#);
    assert_eq!(c.frontends[0].timeouts.tunnel, secs(3600));
    assert_eq!(c.backends[0].timeouts.tunnel, secs(30));
}
