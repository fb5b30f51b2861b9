//! A 150-line haproxy.cfg written as an operator would (tests/data/
//! full-haproxy.cfg) translates completely, and the TOML loads: issue
//! 14's translation target. Where HAProxy is installed, the same file is
//! first checked by HAProxy itself (`haproxy -c`), so the input is real
//! HAProxy configuration, not a dialect.

use std::path::{Path, PathBuf};
use std::process::Command;

use gwd_config::translate::{NoteKind, translate_haproxy_cfg};

const CFG: &str = include_str!("data/full-haproxy.cfg");
const REVERSE_MARK: &str = "# -- reverse HTTP (HAProxy 2.9 and later) --";

/// The files the configuration names, in a fresh folder.
fn files() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gwd-translate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pki");
    let mut pem = std::fs::read_to_string(pki.join("gateway.crt")).unwrap();
    pem.push_str(&std::fs::read_to_string(pki.join("gateway.key")).unwrap());
    std::fs::write(dir.join("site.pem"), pem).unwrap();
    std::fs::copy(pki.join("ca.crt"), dir.join("ca.crt")).unwrap();
    std::fs::write(
        dir.join("503.http"),
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n\r\nbusy\n",
    )
    .unwrap();
    std::fs::write(dir.join("blocked.acl"), "192.0.2.0/24\n198.51.100.7\n").unwrap();
    std::fs::write(
        dir.join("hosts.map"),
        "www.example.com app\napi.example.com api\n",
    )
    .unwrap();
    dir
}

/// HAProxy's version as (major, minor), when `haproxy` runs here.
fn haproxy_version() -> Option<(u32, u32)> {
    let out = Command::new("haproxy").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let mut it = v.split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

#[test]
fn a_150_line_haproxy_cfg_translates_and_loads() {
    let dir = files();
    let cfg = CFG.replace("@DIR@", dir.to_str().unwrap());
    assert!(
        cfg.lines().count() >= 140,
        "the file is the size the issue names"
    );

    // HAProxy accepts the input (without the reverse-HTTP sections before
    // 2.9, which introduced them).
    if let Some(version) = haproxy_version() {
        let input = if version >= (2, 9) {
            cfg.clone()
        } else {
            cfg[..cfg.find(REVERSE_MARK).unwrap()].to_owned()
        };
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, &input).unwrap();
        let out = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "HAProxy {version:?} refused the test's haproxy.cfg:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let t = translate_haproxy_cfg(&cfg);
    // Everything is translated; `daemon` needs nothing in gwd.
    let notes: Vec<String> = t.notes.iter().map(ToString::to_string).collect();
    assert!(t.is_complete(), "{notes:#?}\n{}", t.toml);
    assert_eq!(t.notes.len(), 1, "{notes:#?}");
    assert_eq!(t.notes[0].kind, NoteKind::Dropped);
    assert!(notes[0].contains("daemon"), "{}", notes[0]);

    let config = match gwd_config::parse_str(&t.toml, &dir.join("gw.toml")) {
        Ok(c) => c,
        Err(e) => panic!(
            "the translation does not load:\n{e}\n--- gw.toml ---\n{}",
            t.toml
        ),
    };
    assert_eq!(config.global.max_poll_events, 64);
    let names: Vec<&str> = config.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["www", "stats", "edge", "tls_passthrough", "registration"]
    );
    let backends: Vec<&str> = config.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        backends,
        [
            "app", "api", "static", "admin", "stats", "tls_a", "tls_b", "tunnels"
        ]
    );
    let tcp = config.frontend("tls_passthrough").unwrap();
    assert_eq!(tcp.mode, gwd_config::ProxyMode::Tcp);
    // `default-server` lines reached the servers after them.
    let app = config.backend("app").unwrap();
    assert_eq!(app.servers.len(), 3);
    assert!(
        app.servers.iter().all(|s| s.maxconn == Some(100)),
        "{:?}",
        app.servers[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
