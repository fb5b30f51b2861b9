//! The runtime API (`stats-socket`) of a running gwd: map and ACL files
//! changed with socat-style plain text, checked through the very next
//! request's routing.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::client::raw_exchange;
use gwd_regtests::runtime_api::{cli_tcp, cli_unix, stats_addr};

/// The backend that answered a request for `host` (the body of the
/// backends' `return` rules).
async fn routed(addr: SocketAddr, host: &str) -> String {
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let resp = raw_exchange(addr, req.as_bytes(), Duration::from_secs(10)).await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(head.starts_with("HTTP/1.1 "), "{resp}");
    if head.starts_with("HTTP/1.1 403") {
        return "denied".into();
    }
    body.to_string()
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }}, {{ addr = "{d}/gwd.sock", level = "user" }} ]

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.blocked = "req.hdr(host),field(1,:) -i -f {d}/blocked.acl"
http-request = [
  {{ action = "deny", if = "blocked" }},
  {{ action = "return", lf-body = "tag=%[req.hdr(host),map({d}/hosts.map,none)]", if = "{{ path /tag }}" }},
]
use_backend = [ {{ backend = "api", if = "{{ req.hdr(host),field(1,:),lower,map({d}/hosts.map) -m str api }}" }} ]
default_backend = "app"

[backend.api]
http-request = [ {{ action = "return", body = "api" }} ]

[backend.app]
http-request = [ {{ action = "return", body = "app" }} ]
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_follows_map_and_acl_changes_made_on_the_socket() {
    let dir = gwd_regtests::scratch_dir("runtime-api");
    std::fs::write(
        dir.join("hosts.map"),
        "# host -> backend\napi.local api\nweb.local app\n",
    )
    .unwrap();
    std::fs::write(dir.join("blocked.acl"), "evil.local\n").unwrap();
    let cfg = dir.join("gw.toml");
    std::fs::write(&cfg, config(&dir)).unwrap();
    let gwd = Gwd::start_file(&cfg, dir.clone());
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "admin");
    let hosts = dir.join("hosts.map").display().to_string();
    let blocked = dir.join("blocked.acl").display().to_string();

    assert_eq!(routed(www, "api.local").await, "api");
    assert_eq!(routed(www, "web.local").await, "app");
    assert_eq!(routed(www, "EVIL.local").await, "denied");

    // The listing names both files.
    let maps = cli_tcp(&admin, "show map");
    assert!(maps.starts_with("# id (file) description\n"), "{maps}");
    assert!(
        maps.contains(&format!(
            "({hosts}) pattern loaded from file '{hosts}' used by map at file"
        )),
        "{maps}"
    );
    assert!(maps.contains("entry_cnt=2\n"), "{maps}");
    assert!(maps.ends_with("\n\n"), "{maps:?}");
    let acls = cli_tcp(&admin, "show acl");
    assert!(acls.contains(&format!("({blocked})")), "{acls}");

    // set + add in one line; the very next requests see both.
    assert_eq!(
        cli_tcp(
            &admin,
            &format!("set map {hosts} api.local app; add map {hosts} new.local api")
        ),
        "\n\n"
    );
    assert_eq!(routed(www, "api.local").await, "app");
    assert_eq!(routed(www, "new.local:8080").await, "api");
    assert_eq!(
        cli_tcp(&admin, &format!("get map {hosts} new.local")),
        "type=str, case=sensitive, found=yes, idx=tree, key=\"new.local\", value=\"api\", type=\"str\"\n\n"
    );

    // Log-format users of the same file see the change too.
    let tag = raw_exchange(
        www,
        b"GET /tag HTTP/1.1\r\nHost: new.local\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(tag.ends_with("tag=api"), "{tag}");

    // del, with HAProxy's reply when the key is gone.
    assert_eq!(cli_tcp(&admin, &format!("del map {hosts} new.local")), "\n");
    assert_eq!(routed(www, "new.local").await, "app");
    assert_eq!(
        cli_tcp(&admin, &format!("del map {hosts} new.local")),
        "Key not found.\n\n"
    );

    // ACL files: add and delete patterns.
    assert_eq!(
        cli_tcp(&admin, &format!("add acl {blocked} web.local")),
        "\n"
    );
    assert_eq!(routed(www, "Web.Local").await, "denied");
    assert_eq!(cli_tcp(&admin, "del acl #0 web.local"), "\n");
    assert_eq!(routed(www, "web.local").await, "app");

    // prepare / add @ver / commit: nothing changes until the commit, then
    // the whole content is replaced at once.
    assert_eq!(
        cli_tcp(&admin, &format!("prepare map {hosts}")),
        "New version created: 1\n\n"
    );
    assert_eq!(
        cli_tcp(&admin, &format!("add map @1 {hosts} web.local api")),
        "\n"
    );
    assert_eq!(routed(www, "web.local").await, "app");
    assert_eq!(routed(www, "api.local").await, "app");
    assert_eq!(cli_tcp(&admin, &format!("commit map @1 {hosts}")), "\n");
    assert_eq!(routed(www, "web.local").await, "api");
    assert_eq!(
        routed(www, "api.local").await,
        "app",
        "api.local is gone with version 0"
    );
    assert_eq!(
        cli_tcp(&admin, &format!("commit map @1 {hosts}")),
        "Version number out of range.\n\n"
    );

    // The payload form.
    let mut s = std::net::TcpStream::connect(&admin).unwrap();
    s.write_all(format!("add map {hosts} <<\np1.local api\np2.local api\n\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "\n");
    assert_eq!(routed(www, "p2.local").await, "api");

    // clear empties the current version.
    assert_eq!(cli_tcp(&admin, &format!("clear map {hosts}")), "\n");
    assert_eq!(routed(www, "web.local").await, "app");

    // The user-level Unix socket reads but may not change anything.
    let sock = dir.join("gwd.sock");
    assert_eq!(stats_addr(&gwd, "user"), sock.display().to_string());
    assert_eq!(
        cli_unix(&sock, &format!("add map {hosts} web.local api")),
        "Permission denied\n\n"
    );
    assert_eq!(routed(www, "web.local").await, "app");
    assert_eq!(
        cli_unix(&sock, &format!("get acl {blocked} EVIL.LOCAL")),
        "type=str, case=insensitive, match=yes, idx=list, pattern=\"evil.local\"\n\n"
    );

    // Wrong commands get an answer, not a dropped connection.
    let unknown = cli_tcp(&admin, "show mapz");
    assert!(
        unknown.starts_with("Unknown command: 'show mapz'\n"),
        "{unknown}"
    );
    assert_eq!(
        cli_tcp(&admin, "show map /no/such.map"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_mode_keeps_the_connection() {
    let dir = gwd_regtests::scratch_dir("runtime-api-prompt");
    std::fs::write(dir.join("hosts.map"), "api.local api\n").unwrap();
    std::fs::write(dir.join("blocked.acl"), "").unwrap();
    let cfg = dir.join("gw.toml");
    std::fs::write(&cfg, config(&dir)).unwrap();
    let gwd = Gwd::start_file(&cfg, dir.clone());
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "admin");
    let hosts = dir.join("hosts.map").display().to_string();

    let mut s = std::net::TcpStream::connect(&admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let read_prompt = |s: &mut std::net::TcpStream| {
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while !got.ends_with(b"> ") {
            s.read_exact(&mut b).unwrap();
            got.push(b[0]);
        }
        String::from_utf8(got).unwrap()
    };
    s.write_all(b"prompt\n").unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    s.write_all(format!("set map {hosts} api.local app\n").as_bytes())
        .unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    assert_eq!(routed(www, "api.local").await, "app");
    s.write_all(format!("set map {hosts} api.local api\n").as_bytes())
        .unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    assert_eq!(routed(www, "api.local").await, "api");
    s.write_all(b"quit\n").unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

/// Maps without a file (`virt@`), optional files (`opt@`), typed values
/// and `map_regm`, through the binary: filled at runtime, read by the next
/// request.
#[tokio::test(flavor = "multi_thread")]
async fn virtual_optional_and_regm_maps() {
    let dir = gwd_regtests::scratch_dir("virt-maps");
    let regm = dir.join("rewrite.map");
    std::fs::write(&regm, "^/old/(.*)$ /new/\\1\n").unwrap();
    let gwd = Gwd::start(&format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "return", status = 200, lf-body = "virt=%[req.hdr(host),map_str(virt@hosts,none)] opt=%[req.hdr(host),map_str(opt@{missing},none)] port=%[req.hdr(x-n),map_int_int(virt@ports,0)] path=%[path,map_regm({regm},same)]" }},
]
"#,
        missing = dir.join("absent.map").display(),
        regm = regm.display(),
    ));
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "admin");
    let get = |host: &'static str, path: &'static str| async move {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nX-N: 7\r\nConnection: close\r\n\r\n");
        let resp = raw_exchange(www, req.as_bytes(), Duration::from_secs(10)).await;
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or(resp)
    };
    assert_eq!(
        get("a.test", "/old/x/y").await,
        "virt=none opt=none port=0 path=/new/x/y"
    );
    assert_eq!(cli_tcp(&admin, "add map virt@hosts a.test app"), "\n");
    // A value the `_int` use cannot read is refused, the map unchanged.
    let bad = cli_tcp(&admin, "add map virt@ports 7 seven");
    assert!(bad.contains("unable to parse 'seven'"), "{bad:?}");
    assert_eq!(cli_tcp(&admin, "add map virt@ports 7 8080"), "\n");
    assert_eq!(
        get("a.test", "/other").await,
        "virt=app opt=none port=8080 path=same"
    );
    let types = cli_tcp(&admin, "get map virt@ports 7");
    assert!(types.contains("type=\"sint\""), "{types:?}");
}

/// examples/maps/routing.toml, the shipped "route by Host through a map,
/// update it live" example: run as written except that the visitors' bind
/// and the runtime socket take free ports.
#[tokio::test(flavor = "multi_thread")]
async fn shipped_map_routing_example_switches_backends_live() {
    let root = gwd_regtests::repo_root();
    let toml = std::fs::read_to_string(root.join("examples/maps/routing.toml"))
        .unwrap()
        .replace("127.0.0.1:8090", "127.0.0.1:0")
        .replace("127.0.0.1:9999", "127.0.0.1:0");
    let gwd = Gwd::start(&toml);
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "operator");
    assert!(
        routed(www, "shop.localhost")
            .await
            .starts_with("served by blue (route blue)")
    );
    assert!(
        routed(www, "api.localhost:8090")
            .await
            .starts_with("served by green")
    );
    assert_eq!(
        cli_tcp(
            &admin,
            "set map examples/maps/hosts.map shop.localhost green"
        ),
        "\n"
    );
    assert!(
        routed(www, "shop.localhost")
            .await
            .starts_with("served by green (route green)")
    );
    assert_eq!(
        cli_tcp(
            &admin,
            "add map examples/maps/hosts.map new.localhost green"
        ),
        "\n"
    );
    assert!(
        routed(www, "NEW.localhost")
            .await
            .starts_with("served by green")
    );
    // A value naming no backend: the rule does not apply, default_backend does.
    assert_eq!(
        cli_tcp(
            &admin,
            "set map examples/maps/hosts.map api.localhost nosuch"
        ),
        "\n"
    );
    assert!(
        routed(www, "api.localhost")
            .await
            .starts_with("served by blue (route nosuch)")
    );
    // The file on disk is untouched: changes live in memory.
    let file = std::fs::read_to_string(root.join("examples/maps/hosts.map")).unwrap();
    assert!(file.contains("shop.localhost  blue") && !file.contains("new.localhost"));
}

/// gwd's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Hostile clients at level user cannot grow gwd's memory (issue 11): a
/// line of thousands of commands is answered one reply at a time, and a
/// `<<` payload for a command the level may not run is read and dropped,
/// never kept. Four clients of each kind at once: RSS stays within 20 MB
/// of idle.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_runtime_api_clients_cannot_grow_memory() {
    let dir = gwd_regtests::scratch_dir("runtime-api-memory");
    std::fs::write(dir.join("hosts.map"), "a.local app\n").unwrap();
    std::fs::write(dir.join("blocked.acl"), "").unwrap();
    let gwd = Gwd::start(&config(&dir));
    let sock = dir.join("gwd.sock");
    let pid = gwd.pid();
    let idle = rss_kib(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut clients = Vec::new();
    for _ in 0..4 {
        // Just under the line limit: about 12,000 `help` replies.
        let at = sock.clone();
        clients.push(std::thread::spawn(move || {
            let mut s = std::os::unix::net::UnixStream::connect(&at).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut line = "help;".repeat(60 * 1024 / 5);
            line.push('\n');
            s.write_all(line.as_bytes()).unwrap();
            let mut n = 0u64;
            let mut buf = [0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k as u64,
                }
            }
            assert!(n > 10_000_000, "the replies came back whole: {n} bytes");
        }));
        // 50 MB of payload for a command level user may not run.
        let at = sock.clone();
        clients.push(std::thread::spawn(move || {
            let mut s = std::os::unix::net::UnixStream::connect(&at).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            s.write_all(b"add map hosts.map <<\n").unwrap();
            let mut chunk = String::new();
            for i in 0..10_000 {
                chunk.push_str(&format!("key{i} {}\n", "v".repeat(90)));
            }
            for _ in 0..50 {
                s.write_all(chunk.as_bytes()).unwrap();
            }
            s.write_all(b"\n").unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            assert_eq!(out, "Permission denied\n\n");
        }));
    }
    for c in clients {
        c.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    sampler.join().unwrap();
    let grew = peak
        .load(std::sync::atomic::Ordering::SeqCst)
        .saturating_sub(idle);
    assert!(grew < 20 * 1024, "RSS grew by {grew} KiB (idle {idle} KiB)");
    // Nothing of the refused payloads reached the map.
    assert!(!cli_unix(&sock, "show map hosts.map").contains("key1 "));
}
