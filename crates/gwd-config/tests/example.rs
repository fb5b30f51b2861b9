//! The shipped examples/gw.toml loads cleanly from the repository root (as
//! gwd resolves its relative paths against the CWD), and examples/haproxy.cfg
//! stays its line-by-line translation.
//!
//! One test only: it changes the process CWD.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gwd_config::*;

fn repo_root() -> PathBuf {
    // Lexical, so that a workspace reached through a symlink keeps its own
    // examples/ directory.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap().parent().unwrap().to_path_buf()
}

fn tcp(s: &str) -> BindAddr {
    BindAddr::Tcp(s.parse().unwrap())
}

#[test]
fn shipped_example_loads_and_matches_haproxy_cfg() {
    let root = repo_root();
    std::env::set_current_dir(&root).unwrap();
    for f in ["examples/pki/gateway.crt", "examples/pki/gateway.key"] {
        assert!(
            Path::new(f).is_file(),
            "{f} is missing under {}: examples/gw.toml needs it",
            root.display()
        );
    }
    let c = match load(Path::new("examples/gw.toml")) {
        Ok(c) => c,
        Err(e) => panic!("examples/gw.toml does not load:\n{e}"),
    };
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let g = &c.global;
    assert_eq!(g.hard_stop_after, Some(Duration::from_secs(10)));
    assert_eq!(g.nbthread, Some(2));
    assert!(!g.limited_quic);
    assert_eq!(g.max_header_size, 16 * 1024);

    let timeouts = Timeouts {
        connect: Some(Duration::from_secs(5)),
        client: Some(Duration::from_secs(30)),
        server: Some(Duration::from_secs(30)),
        http_request: Some(Duration::from_secs(10)),
        http_keep_alive: Some(Duration::from_secs(5)),
        tunnel: None,
        tunnel_wait: None,
        check: None,
        queue: None,
        tarpit: None,
    };

    let fe: Vec<(&str, u32)> = c
        .frontends
        .iter()
        .map(|f| (f.name.as_str(), f.id))
        .collect();
    assert_eq!(fe, [("www", 1), ("demo-servers", 2)]);
    let be: Vec<(&str, u32)> = c.backends.iter().map(|b| (b.name.as_str(), b.id)).collect();
    assert_eq!(be, [("app", 1), ("api", 2)]);

    let www = &c.frontends[0];
    assert_eq!(www.timeouts, timeouts);
    assert_eq!(www.forwardfor.as_ref().unwrap().header, "X-Forwarded-For");
    assert_eq!(www.binds.len(), 2);
    assert_eq!(www.binds[0].addr, tcp("127.0.0.1:8080"));
    assert!(www.binds[0].tls.is_none());
    assert_eq!(www.binds[1].addr, tcp("127.0.0.1:8443"));
    let tls = www.binds[1].tls.as_ref().unwrap();
    assert_eq!(tls.crts, [Path::new("examples/pki/gateway.crt")]);
    assert_eq!(
        tls.key.as_deref(),
        Some(Path::new("examples/pki/gateway.key"))
    );
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    assert_eq!(tls.verify, Verify::None);
    assert_eq!(www.http_request.len(), 2);
    assert!(matches!(
        www.http_request[0].action,
        HttpRequestAction::Return { status: 200, .. }
    ));
    assert!(www.http_request[0].cond.is_some());
    assert!(matches!(
        &www.http_request[1].action,
        HttpRequestAction::SetHeader { name, .. } if name == "X-Forwarded-Proto"
    ));
    assert_eq!(www.use_backend.len(), 1);
    assert_eq!(
        c.backends[www.use_backend[0].backend.backend().unwrap().index()].name,
        "api"
    );
    assert!(www.use_backend[0].cond.is_some());
    assert_eq!(
        www.default_backend
            .map(|i| c.backends[i.index()].name.as_str()),
        Some("app")
    );

    let app = &c.backends[0];
    assert_eq!(app.timeouts, timeouts);
    assert_eq!(app.http_reuse, HttpReuse::Safe);
    assert_eq!(app.balance, Balance::RoundRobin);
    assert_eq!(app.pool.purge_delay, Duration::from_secs(5));
    let servers: Vec<(&str, &str, u16, ServerProto)> = c
        .backends
        .iter()
        .flat_map(|b| &b.servers)
        .map(|s| {
            let a = s.net_addr().expect("no rhttp@ server in examples/gw.toml");
            (s.name.as_str(), a.host.as_str(), a.port, s.proto)
        })
        .collect();
    assert_eq!(
        servers,
        [
            ("app1", "127.0.0.1", 9001, ServerProto::H1),
            ("app2", "127.0.0.1", 9002, ServerProto::H1),
            ("api1", "127.0.0.1", 9003, ServerProto::H2),
        ]
    );
    assert!(
        c.backends
            .iter()
            .flat_map(|b| &b.servers)
            .all(|s| s.tls.is_none())
    );

    // gwd plays the servers itself: one bind per server address, same protocol.
    let demo = &c.frontends[1];
    let binds: Vec<(BindAddr, BindProto)> = demo.binds.iter().map(|b| (b.addr, b.proto)).collect();
    assert_eq!(
        binds,
        [
            (tcp("127.0.0.1:9001"), BindProto::Auto),
            (tcp("127.0.0.1:9002"), BindProto::Auto),
            (tcp("127.0.0.1:9003"), BindProto::H2),
        ]
    );
    assert_eq!(demo.http_request.len(), 1);
    assert!(demo.http_request[0].cond.is_none());
    assert!(matches!(
        demo.http_request[0].action,
        HttpRequestAction::Return { status: 200, .. }
    ));
    assert_eq!(demo.default_backend, None);

    // examples/haproxy.cfg: same sections in the same order, same addresses.
    let cfg = std::fs::read_to_string("examples/haproxy.cfg").unwrap();
    let sections: Vec<&str> = cfg
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with([' ', '#']))
        .collect();
    assert_eq!(
        sections,
        [
            "global",
            "defaults",
            "frontend www",
            "backend app",
            "backend api",
            "frontend demo-servers"
        ]
    );
    for fe in &c.frontends {
        for b in &fe.binds {
            let BindAddr::Tcp(a) = b.addr else {
                unreachable!()
            };
            assert!(cfg.contains(&format!("    bind {a}")), "bind {a} missing");
        }
    }
    for s in c.backends.iter().flat_map(|b| &b.servers) {
        let a = s.net_addr().expect("no rhttp@ server in examples/gw.toml");
        let line = format!("    server {} {}:{}", s.name, a.host, a.port);
        assert!(cfg.contains(&line), "{line} missing");
    }
}
