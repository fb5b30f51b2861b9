//! Map and pattern files named by rules, and `stats-socket`.

mod common;

use common::{err, ok, temp_files};
use gwd_config::{AdminLevel, StatsAddr};

/// A temp dir with `hosts.map`, `blocked.acl` and `bad.map`.
fn files() -> common::TempDir {
    let d = temp_files(&[]);
    std::fs::write(
        d.join("hosts.map"),
        "# hosts\napi.local api\napp.local app\n",
    )
    .unwrap();
    std::fs::write(d.join("blocked.acl"), "10.0.0.0/8\n").unwrap();
    std::fs::write(d.join("bad.map"), "80 a\n8x b\n").unwrap();
    d
}

fn p(d: &common::TempDir, name: &str) -> String {
    d.join(name).display().to_string()
}

#[test]
fn files_are_loaded_once_and_shared() {
    let d = files();
    let hosts = p(&d, "hosts.map");
    let blocked = p(&d, "blocked.acl");
    let cfg = ok(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.blocked = "src -f {blocked}"
acl.known = "req.hdr(host) -M -f {hosts}"
http-request = [ {{ action = "set-header", name = "X-Be", value = "%[req.hdr(host),map({hosts},none)]" }} ]
use_backend = [ {{ backend = "api", if = "{{ req.hdr(host),map({hosts}) -m str api }}" }} ]

[backend.api]
"#
    ));
    let names: Vec<_> = cfg.maps.iter().map(|m| (m.id, m.name.clone())).collect();
    assert_eq!(names, [(0, blocked.clone()), (1, hosts.clone())]);
    let h = cfg.maps.get(&hosts).unwrap();
    assert!(h.used_by_acl && h.used_by_map);
    assert_eq!(h.map.len(), 2);
    assert_eq!(
        h.description,
        format!("pattern loaded from file '{hosts}' used by acl at file 'gw.toml' line 4")
    );
    assert!(cfg.maps.find("#0").unwrap().used_by_acl);
    // The rules hold matchers on the registry's reference.
    assert_eq!(h.map.specs().len(), 1, "one `str` index shared by all uses");
}

#[test]
fn missing_and_invalid_files_are_located() {
    let d = files();
    let e = err(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.x = "path -f {}"
"#,
        p(&d, "nope.acl")
    ));
    assert!(
        e.starts_with(&format!(
            "error: invalid ACL `x`: cannot read pattern file `{}`: no such file\n  --> gw.toml:3:18 (frontend.www.acl.x)",
            p(&d, "nope.acl")
        )),
        "{e}"
    );
    let bad = p(&d, "bad.map");
    let e = err(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "deny", if = "{{ dst_port,map_int({bad}) -m found }}" }} ]
"#
    ));
    assert!(
        e.contains(&format!(
            "invalid map file: {bad}:2: '8x' is not a valid 'int' pattern"
        )),
        "{e}"
    );
    assert!(e.contains("(frontend.www.http-request[0].if)"), "{e}");
    let e = err(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.a = "path -f {bad}"
acl.b = "path,map({bad})"
"#
    ));
    assert!(e.contains("is already used as an ACL pattern file"), "{e}");
}

#[test]
fn stats_sockets() {
    let cfg = ok(r#"[global]
stats-socket = [ { addr = "/tmp/gwd.sock", level = "admin", mode = "660" }, { addr = "127.0.0.1:0", level = "user" }, { addr = "unix@rel.sock" } ]
"#);
    let s = &cfg.global.stats_sockets;
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].addr, StatsAddr::Unix("/tmp/gwd.sock".into()));
    assert_eq!((s[0].level, s[0].mode), (AdminLevel::Admin, 0o660));
    assert_eq!(s[1].addr, StatsAddr::Tcp("127.0.0.1:0".parse().unwrap()));
    assert_eq!(s[1].level, AdminLevel::User);
    assert_eq!(s[2].addr, StatsAddr::Unix("rel.sock".into()));
    assert_eq!((s[2].level, s[2].mode), (AdminLevel::Operator, 0o600));

    let e = err(r#"[global]
stats-socket = [ { addr = "localhost:99", level = "root", mode = "999" } ]
"#);
    assert!(
        e.contains("invalid stats-socket address `localhost:99`"),
        "{e}"
    );
    assert!(e.contains("global.stats-socket[0].level"), "{e}");
    assert!(e.contains("invalid mode `999`"), "{e}");
}

#[test]
fn map_actions_share_the_reference_and_locate_missing_files() {
    let d = files();
    let hosts = p(&d, "hosts.map");
    let cfg = ok(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "set-map", map = "{hosts}", key = "%[req.hdr(x-k)]", value = "%[req.hdr(x-v)]" }},
  {{ action = "del-map", map = "{hosts}", key = "%[req.hdr(x-k)]" }},
]
use_backend = [ {{ backend = "api", if = "{{ req.hdr(host),map({hosts}) -m str api }}" }} ]

[backend.api]
"#
    ));
    assert_eq!(
        cfg.maps.iter().count(),
        1,
        "actions and converter share one reference"
    );
    match &cfg.frontends[0].http_request[0].action {
        gwd_config::HttpRequestAction::SetMap { map, .. } => {
            map.upsert(b"new.local", b"api").unwrap();
            assert_eq!(cfg.maps.get(&hosts).unwrap().map.len(), 3, "same reference");
        }
        other => panic!("{other:?}"),
    }

    let e = err(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "add-acl", map = "{}", key = "%[src]" }} ]
"#,
        p(&d, "nope.acl")
    ));
    assert!(e.contains("cannot read pattern file"), "{e}");
    assert!(e.contains("frontend.www.http-request[0].map"), "{e}");
}
