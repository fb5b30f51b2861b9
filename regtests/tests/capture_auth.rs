//! Captures (`capture` entries, `capture` rules, `%hr %hrl %hs %hsl`, the
//! `capture.req.hdr`/`capture.res.hdr` fetches), the `unique-id` fetch,
//! and `http-request auth` with `userlist` sections, through the real
//! binary on loopback.
//!
//! Expected log lines and answers were first read off HAProxy 2.6.12 on
//! loopback with the same configuration (an `haproxy.cfg` translated line
//! by line from each fixture, `log stdout format raw daemon`) and the same
//! raw requests; the comments quote what it wrote.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{raw_server, read_head};
use gwd_regtests::client::raw_exchange;
use tokio::io::AsyncWriteExt;

fn udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// The next log line (raw format: the line and a newline).
fn recv(s: &UdpSocket) -> String {
    let mut buf = vec![0u8; 8192];
    let n = s.recv(&mut buf).expect("a log datagram within 10 s");
    String::from_utf8_lossy(&buf[..n])
        .trim_end_matches('\n')
        .to_owned()
}

/// A server answering every request with the `Server` and two `X-Res`
/// lines of the HAProxy run.
async fn server() -> SocketAddr {
    let (addr, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(
                b"HTTP/1.1 200 OK\r\nServer: py{|}\"#srv\r\nX-Res: abcdefghijklmnop\r\n\
                  X-Res: second\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            )
            .await;
    })
    .await;
    addr
}

async fn send(addr: SocketAddr, raw: &[u8]) -> String {
    raw_exchange(addr, raw, Duration::from_secs(10)).await
}

fn captures_config(log: SocketAddr, server: SocketAddr) -> String {
    format!(
        r#"
[global]
log = ["{log} format raw daemon"]

[defaults]
log = "global"
option.httplog = true
timeout.client = "5s"
timeout.server = "5s"
timeout.connect = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
capture = [
  {{ request-header = "Host", len = 5 }},
  {{ request-header = "User-Agent", len = 40 }},
  {{ response-header = "Server", len = 40 }},
  {{ declare = "response", len = 4 }},
]
http-request = [
  {{ action = "set-header", name = "User-Agent", value = "changed", if = "{{ path /set }}" }},
  {{ action = "capture", expr = "req.hdr(x-a)", len = 3 }},
  {{ action = "return", status = 200, content-type = "text/plain", lf-body = "[%[capture.req.hdr(0)]][%[capture.req.hdr(1)]][%[capture.req.hdr(2)]]\n", if = "{{ path /ret }}" }},
]
http-response = [ {{ action = "capture", expr = "res.hdr(x-res)", id = 1 }} ]
default_backend = "app"
log-format = "%hr|%hrl|%hs|%hsl|%{{+Q}}hr|%{{+Q}}hrl|%{{+Q}}hsl|%[capture.req.hdr(1)]|%[capture.res.hdr(1)]"

[frontend.plain]
bind = [ {{ addr = "127.0.0.1:0" }} ]
capture = [
  {{ request-header = "Host", len = 5 }},
  {{ request-header = "User-Agent", len = 40 }},
  {{ response-header = "Server", len = 40 }},
]
default_backend = "app"

[frontend.none]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{server}" }} ]
"#
    )
}

/// The user agent of the HAProxy run: every byte the capture encoding
/// must escape that a request head may carry (`"`, `#`, `{`, `|`, `}`, a
/// tab, UTF-8).
const UA: &[u8] = b"x\"y#z{a|b}c\t\xc3\xa9";

fn request(path: &str, extra: &[u8]) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\n").into_bytes();
    r.extend_from_slice(extra);
    r.extend_from_slice(b"Connection: close\r\n\r\n");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn captures_log_as_haproxy() {
    let srv = server().await;
    let log = udp();
    let gwd = Gwd::start(&captures_config(log.local_addr().unwrap(), srv));
    let www = gwd.addr("www", 0);
    let mut ua_head = b"Host: abcdefghij\r\nUser-Agent: ".to_vec();
    ua_head.extend_from_slice(UA);
    ua_head.extend_from_slice(b"\r\nx-a: 123456\r\n");

    // Relayed: request slots as received (cut to 5, 40 and 3 bytes),
    // response slots from the server's head and the `http-response
    // capture` rule (the last `X-Res`, cut to 4).
    let a = send(www, &request("/a", &ua_head)).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    assert_eq!(
        recv(&log),
        "{abcde|x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9|123}|abcde x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9 123|\
         {py#7B#7C#7D#22#23srv|seco}|py#7B#7C#7D#22#23srv seco|\
         \"{abcde|x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9|123}\"|\"abcde\" \"x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9\" \"123\"|\
         \"py#7B#7C#7D#22#23srv\" \"seco\"|x\"y#z{a|b}c\té|seco"
    );

    // Answered by gwd: the fetches read the slots (the body holds the raw
    // values), the response slots stay empty (`{|}`, `- -`, `"" ""`).
    let a = send(www, &request("/ret", &ua_head)).await;
    assert!(
        a.ends_with("\r\n\r\n[abcde][x\"y#z{a|b}c\té][123]\n"),
        "{a:?}"
    );
    assert_eq!(
        recv(&log),
        "{abcde|x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9|123}|abcde x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9 123|{|}|- -|\
         \"{abcde|x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9|123}\"|\"abcde\" \"x#22y#23z#7Ba#7Cb#7Dc#09#C3#A9\" \"123\"|\
         \"\" \"\"|x\"y#z{a|b}c\té|-"
    );

    // Header slots hold the head as received, before any rule.
    send(www, &request("/set", b"Host: h\r\nUser-Agent: orig\r\n")).await;
    assert_eq!(
        recv(&log),
        "{h|orig|}|h orig -|{py#7B#7C#7D#22#23srv|seco}|py#7B#7C#7D#22#23srv seco|\
         \"{h|orig|}\"|\"h\" \"orig\" \"\"|\"py#7B#7C#7D#22#23srv\" \"seco\"|orig|seco"
    );

    // The httplog line: `{...}` for each direction with slots, before the
    // request line; the last of two `User-Agent` lines.
    send(
        gwd.addr("plain", 0),
        &request(
            "/a",
            b"Host: abcdefghij\r\nUser-Agent: UA1\r\nuser-agent: UA2\r\n",
        ),
    )
    .await;
    let line = recv(&log);
    // (The byte count is left out: HAProxy's server sent other headers.
    // `%ac`, the process's connections, may still count the previous
    // connection, whose close the client does not wait for.)
    assert!(
        ends_with_counts(
            &line,
            "/1/0/0/0 0/0 {abcde|UA2} {py#7B#7C#7D#22#23srv} \"GET /a HTTP/1.1\""
        ),
        "{line}"
    );
    send(gwd.addr("none", 0), &request("/c", b"Host: h\r\n")).await;
    let line = recv(&log);
    assert!(
        ends_with_counts(&line, "/1/0/0/0 0/0 \"GET /c HTTP/1.1\""),
        "{line}"
    );
}

/// `line` ends with ` - - ---- <ac><rest>`, `<ac>` (the process's current
/// connections) at least 1.
fn ends_with_counts(line: &str, rest: &str) -> bool {
    let Some(head) = line.strip_suffix(rest) else {
        return false;
    };
    let Some((before, ac)) = head.rsplit_once(' ') else {
        return false;
    };
    before.ends_with(" - - ----") && ac.parse::<u32>().is_ok_and(|n| n >= 1)
}

/// The `unique-id` fetch is the id of `%ID` and `unique-id-header`: the
/// server receives it, an `http-response` rule copies it into the answer,
/// the log line writes it, all the same text; an answer gwd makes itself
/// reads it too.
#[tokio::test(flavor = "multi_thread")]
async fn unique_id_fetch_header_and_log_agree() {
    // The server echoes the id it received in `X-Seen`.
    let (srv, _) = raw_server(|mut s| async move {
        let head = read_head(&mut s).await;
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Unique-ID: "))
            .unwrap_or("none")
            .to_owned();
        let _ = s
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nX-Seen: {id}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
    })
    .await;
    let log = udp();
    let cfg = format!(
        r#"
[global]
log = ["{log} format raw daemon"]

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
log = "global"
unique-id-format = "%{{+X}}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid"
unique-id-header = "X-Unique-ID"
log-format = "id=%ID fetch=%[unique-id]"
http-request = [ {{ action = "return", status = 200, content-type = "text/plain", lf-body = "%[unique-id]", if = "{{ path /local }}" }} ]
http-response = [ {{ action = "set-header", name = "X-Id", value = "%[unique-id]" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{srv}" }} ]
"#,
        log = log.local_addr().unwrap()
    );
    let gwd = Gwd::start(&cfg);
    let www = gwd.addr("www", 0);
    let a = send(www, &request("/", b"Host: h\r\n")).await;
    let header = |name: &str| {
        a.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then(|| v.to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} in {a}"))
    };
    let (seen, copied) = (header("x-seen"), header("x-id"));
    // `%{+X}o %ci:%cp_...`: hexadecimal address and port, then the rest.
    assert!(
        seen.starts_with("7F000001:") && seen.contains("_7F000001:"),
        "{seen}"
    );
    assert_eq!(copied, seen);
    assert_eq!(recv(&log), format!("id={seen} fetch={seen}"));

    let a = send(www, &request("/local", b"Host: h\r\n")).await;
    let body = a.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    assert!(body.starts_with("7F000001:"), "{a}");
    assert_ne!(body, seen, "each request has its own id");
    assert_eq!(recv(&log), format!("id={body} fetch={body}"));
}

const AUTH: &str = r#"
[global]
log = ["LOGADDR format raw daemon"]

[userlist.admins]
group = [ { name = "ops", users = ["bob"] }, { name = "dev" } ]
user = [
  { name = "alice", password = "$6$saltsalt$JV6rkFgxoWXPSBkfOn2dQke2iT8fL.OraqmFLrlj3mNwaz7tQuzY6l4KzwCrMKP0kIjIJ80/UJGSOOMLSkbB4/", groups = ["dev"] },
  { name = "bob", password = "$5$saltsalt$t7Kj8mIGBfDkYxgEzoewrJINMU5Jc9W3QvnyXvqEjH4" },
  { name = "carol", password = "$1$saltsalt$/I.FJgwCsi2qv/AoBov0b1" },
  { name = "dave", insecure-password = "plain" },
  { name = "erin", password = "$2b$04$abcdefghijklmnopqrstuutOxS4VSSgaJ9jpZUWYprtqO00KTt1tm" },
]

[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
log = "global"
option.httplog = true
acl.ok = "http_auth(admins)"
acl.isops = "http_auth_group(admins) ops"
http-request = [
  { action = "return", status = 200, content-type = "text/plain", lf-body = "ops %[http_auth_group(admins)]\n", if = "isops" },
  { action = "auth", realm = "Admins area", if = "!ok { path_beg /r }" },
  { action = "auth", unless = "ok" },
  { action = "return", status = 200, content-type = "text/plain", lf-body = "hello %[http_auth_group(admins)]\n" },
]
"#;

/// HAProxy 2.6.12's 401 for `http-request auth`, byte for byte (realm
/// `Admins area` here; the proxy's name without `realm`).
fn haproxy_401(realm: &str) -> String {
    format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n\
         content-type: text/html\r\nwww-authenticate: Basic realm=\"{realm}\"\r\n\
         connection: close\r\n\r\n<html><body><h1>401 Unauthorized</h1>\n\
         You need a valid user and password to access this content.\n</body></html>\n"
    )
}

/// Standard base64 with padding (RFC 4648), for `Authorization: Basic`.
fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(path: &str, creds: Option<&str>) -> Vec<u8> {
    let mut h = b"Host: h\r\n".to_vec();
    if let Some(c) = creds {
        h.extend_from_slice(format!("Authorization: Basic {}\r\n", b64(c)).as_bytes());
    }
    request(path, &h)
}

/// `http-request auth` answers HAProxy's 401; each hash form of the
/// userlist lets its user in (what HAProxy answered for the same
/// credentials: `hello alice`, `ops bob`, `hello carol`, `hello dave`),
/// a wrong password or garbage does not.
#[tokio::test(flavor = "multi_thread")]
async fn http_request_auth_answers_as_haproxy() {
    let log = udp();
    let gwd = Gwd::start(&AUTH.replace("LOGADDR", &log.local_addr().unwrap().to_string()));
    let www = gwd.addr("www", 0);
    assert_eq!(
        send(www, &basic("/r", None)).await,
        haproxy_401("Admins area")
    );
    // HAProxy 2.6.12: `www www/<NOSRV> 0/-1/-1/-1/0 401 256 - - LR-- ...`
    // (the total time and byte count left out).
    let line = recv(&log);
    assert!(
        line.contains(" www www/<NOSRV> 0/-1/-1/-1/")
            && line.contains(" 401 ")
            && line.ends_with(" - - LR-- 1/1/0/0/0 0/0 \"GET /r HTTP/1.1\""),
        "{line}"
    );
    assert_eq!(send(www, &basic("/x", None)).await, haproxy_401("www"));
    for (creds, body) in [
        ("alice:s3cret6", "hello alice\n"),
        ("bob:s3cret5", "ops bob\n"),
        ("carol:s3cret1", "hello carol\n"),
        ("dave:plain", "hello dave\n"),
        ("erin:s3cretb", "hello erin\n"),
        // Again: from the userlist's cache, the same answer.
        ("alice:s3cret6", "hello alice\n"),
    ] {
        let a = send(www, &basic("/x", Some(creds))).await;
        assert!(a.starts_with("HTTP/1.1 200"), "{creds}: {a}");
        assert!(a.ends_with(&format!("\r\n\r\n{body}")), "{creds}: {a}");
    }
    for creds in [
        "dave:bad",
        "alice:bad",
        "alice:s3cret5",
        "nobody:plain",
        "dave",
    ] {
        let a = send(www, &basic("/r", Some(creds))).await;
        assert_eq!(a, haproxy_401("Admins area"), "{creds}");
    }
    let a = send(
        www,
        &request("/r", b"Host: h\r\nAuthorization: Basic !!!\r\n"),
    )
    .await;
    assert_eq!(a, haproxy_401("Admins area"));
}

/// `http-error` with log-format parts, rendered per answer: HAProxy
/// 2.6.12 answered this 503 (same rules, server refusing connections)
/// byte for byte so.
#[tokio::test(flavor = "multi_thread")]
async fn http_error_log_format_pages_render_per_answer() {
    let cfg = format!(
        r#"
[defaults]
timeout.client = "5s"
timeout.server = "5s"
timeout.connect = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
unique-id-format = "%{{+X}}o %ci"
http-request = [ {{ action = "set-var", var = "txn.who", expr = "str(me)" }} ]
http-error = [ {{ status = 503, content-type = "text/plain", lf-body = "id=%[unique-id] fe=%[fe_name] who=%[var(txn.who)] miss=[%[var(txn.nope)]]\n", hdr = [ {{ name = "x-id", value = "%[unique-id]" }}, {{ name = "retry-after", value = "30" }} ] }} ]
default_backend = "app"

[backend.app]
retries = 0
server = [ {{ name = "s", addr = "{}" }} ]
"#,
        gwd_regtests::backend::closed_port()
    );
    let gwd = Gwd::start(&cfg);
    let a = send(gwd.addr("www", 0), &request("/", b"Host: h\r\n")).await;
    assert_eq!(
        a,
        "HTTP/1.1 503 Service Unavailable\r\nx-id: 7F000001\r\nretry-after: 30\r\n\
         content-length: 34\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n\
         id=7F000001 fe=www who=me miss=[]\n"
    );
}

/// `gwd check` accepts the userlist the server runs with, and refuses a
/// hash gwd could not verify (it never calls valid what then fails).
#[test]
fn gwd_check_knows_the_hash_forms() {
    let dir = gwd_regtests::scratch_dir("capture_auth");
    let cfg = dir.join("gw.toml");
    let good = AUTH.replace("LOGADDR", "127.0.0.1:514");
    std::fs::write(&cfg, &good).unwrap();
    let (status, _out, err) = gwd_regtests::run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    // A yescrypt hash (Debian's default for /etc/shadow): refused.
    let bad = good.replace(
        "$1$saltsalt$/I.FJgwCsi2qv/AoBov0b1",
        "$y$j9T$abcdefghijklmnopqrstu.$0123456789abcdefghijklmnopqrstuvwxyzABCDE",
    );
    std::fs::write(&cfg, &bad).unwrap();
    let (status, _out, err) = gwd_regtests::run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("not a crypt(3) hash gwd can verify")
            && err.contains("userlist.admins.user[2].password"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A custom 401 page (`http-error status 401`) keeps the challenge: the
/// page replaces the body, not `WWW-Authenticate` (HAProxy 2.6.12 adds
/// it to the page too); a password longer than 512 bytes is refused
/// (before any hashing: see `Userlist::check`).
#[tokio::test(flavor = "multi_thread")]
async fn a_custom_401_page_keeps_the_challenge_and_long_passwords_cost_nothing() {
    let srv = server().await;
    let gwd = Gwd::start(&format!(
        r#"
[userlist.admins]
user = [ {{ name = "alice", password = "$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1" }} ]

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-error = [ {{ status = 401, content-type = "text/plain", body = "who are you?\n" }} ]
http-request = [ {{ action = "auth", realm = "Admins", unless = "{{ http_auth(admins) }}" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{srv}" }} ]
"#
    ));
    let addr = gwd.addr("www", 0);
    let out = send(addr, &basic("/", None)).await;
    assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("\r\nwww-authenticate: basic realm=\"admins\"\r\n"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nwho are you?\n"), "{out}");
    let long = format!("alice:{}", "x".repeat(10_000));
    let out = send(addr, &basic("/", Some(&long))).await;
    assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
    let out = send(addr, &basic("/", Some("alice:s3cret"))).await;
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
}

/// An HTTP/2 request carries its host in `:authority`: `capture request
/// header Host` sees the Host made from it, as HAProxy's H2 layer shows
/// it.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_host_is_captured_from_its_authority() {
    let srv = server().await;
    let log = udp();
    let gwd = Gwd::start(&captures_config(log.local_addr().unwrap(), srv));
    let mut c = gwd_regtests::client::Client::h2c(gwd.addr("plain", 0)).await;
    let (status, _, _) = c.get("h2host.test", "/").await;
    assert_eq!(status, 200);
    let line = recv(&log);
    assert!(line.contains(" {h2hos|"), "{line}");
}
