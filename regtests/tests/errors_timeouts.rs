//! Every error status gwd produces itself, and every timeout, each with
//! its page and its log reason.

use std::net::SocketAddr;
use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto, closed_port, raw_server, read_head};
use gwd_regtests::client::{Client, closed_within, raw_exchange, read_until_close};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(10);

fn config(default_backend: &str, servers: &[(&str, String)], extra_global: &str) -> String {
    let mut backends = String::new();
    for (name, addr) in servers {
        backends.push_str(&format!(
            "[backend.{name}]\nserver = [ {{ name = \"s1\", addr = \"{addr}\" }} ]\n\n"
        ));
    }
    format!(
        r#"
[global]
{extra_global}

[defaults]
timeout.connect = "500ms"
timeout.client = "400ms"
timeout.server = "400ms"
timeout.http-request = "400ms"
timeout.http-keep-alive = "400ms"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
use_backend = [ {{ backend = "empty", if = "{{ path_beg /empty }}" }} ]
default_backend = "{default_backend}"

[backend.empty]
server = []

{backends}
"#
    )
}

async fn start(default_backend: &str, servers: &[(&str, String)]) -> (Gwd, SocketAddr) {
    let gwd = Gwd::start(&config(default_backend, servers, ""));
    let a = gwd.addr("www", 0);
    (gwd, a)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_server_and_refused_connect_give_503() {
    let (gwd, addr) = start("down", &[("down", closed_port().to_string())]).await;
    let mut c = Client::h1(addr).await;
    let (status, h, body) = c.get("x", "/").await;
    assert_eq!(status, 503);
    assert_eq!(h["content-type"], "text/html");
    assert!(body.contains("<h1>503 Service Unavailable</h1>"), "{body}");
    gwd.stderr.wait_for("503 log with reason", |l| {
        l.contains(" down/s1 ")
            && l.contains(" 503 ")
            && l.contains("SC--")
            && l.contains("connection to server failed")
    });
    let (status, _, _) = c.get("x", "/empty").await;
    assert_eq!(status, 503, "backend without servers");
    gwd.stderr.wait_for("empty backend reason", |l| {
        l.contains("\"GET /empty HTTP/1.1\"") && l.contains("no server available")
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_timeout_gives_503() {
    // A listener that never accepts, with its queue filled, makes new
    // connects hang: the SYN is dropped.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sock = socket2::SockRef::from(&l);
    sock.listen(0).unwrap();
    let target = l.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(target)).await
        {
            fillers.push(s);
        }
    }
    let (gwd, addr) = start("blackhole", &[("blackhole", target.to_string())]).await;
    let mut c = Client::h1(addr).await;
    let (status, _, _) = c.get("x", "/").await;
    assert_eq!(status, 503);
    gwd.stderr.wait_for("connect timeout reason", |l| {
        l.contains(" 503 ")
            && (l.contains("connect timeout") || l.contains("connection to server failed"))
    });
    drop(l);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_timeout_gives_504() {
    let app = Backend::start("slow", Proto::H1).await;
    let (gwd, addr) = start("slow", &[("slow", app.addr.to_string())]).await;
    let mut c = Client::h1(addr).await;
    let (status, _, body) = c.get("x", "/slow/3000").await;
    assert_eq!(status, 504);
    assert!(body.contains("<h1>504 Gateway Timeout</h1>"), "{body}");
    gwd.stderr.wait_for("504 log", |l| {
        l.contains(" 504 ") && l.contains("sH--") && l.contains("server timeout")
    });
    // The visitor's connection is still usable.
    let (status, _, _) = c.get("x", "/fast").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_or_missing_response_gives_502() {
    let (garbage, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s.write_all(b"THIS IS NOT HTTP\r\n\r\n").await;
    })
    .await;
    let (hangup, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        drop(s);
    })
    .await;
    let (gwd, addr) = start(
        "garbage",
        &[
            ("garbage", garbage.to_string()),
            ("hangup", hangup.to_string()),
        ],
    )
    .await;
    let mut c = Client::h1(addr).await;
    let (status, _, body) = c.get("x", "/").await;
    assert_eq!(status, 502);
    assert!(body.contains("<h1>502 Bad Gateway</h1>"), "{body}");
    gwd.stderr.wait_for("502 log", |l| {
        l.contains(" 502 ") && l.contains("invalid or incomplete response")
    });
    drop(gwd);

    let (gwd, addr) = start("hangup", &[("hangup", hangup.to_string())]).await;
    let mut c = Client::h1(addr).await;
    let (status, _, _) = c.get("x", "/").await;
    assert_eq!(status, 502);
    drop(gwd);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_head_gives_431_and_garbage_gives_400() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(
        "app",
        &[("app", app.addr.to_string())],
        "tune.bufsize = \"4k\"",
    ));
    let addr = gwd.addr("www", 0);
    let big = "a".repeat(6000);
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let out = raw_exchange(addr, req.as_bytes(), BOUND).await;
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    assert!(
        out.contains("<h1>431 Request Header Fields Too Large</h1>"),
        "{out}"
    );
    gwd.stderr.wait_for("431 log", |l| {
        l.contains(" 431 ") && l.contains("request header too large")
    });

    // Far past any buffer: hyper's backstop answers 431 too, and it is logged.
    let huge = "b".repeat(64 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\n\r\n");
    let out = raw_exchange(addr, req.as_bytes(), BOUND).await;
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");

    let out = raw_exchange(addr, b"THIS IS NOT HTTP\r\n\r\n", BOUND).await;
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    gwd.stderr.wait_for("400 log", |l| {
        l.contains(" 400 ") && l.contains("bad request")
    });
    assert_eq!(app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_request_timeout_gives_408() {
    let app = Backend::start("app", Proto::H1).await;
    let (gwd, addr) = start("app", &[("app", app.addr.to_string())]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let out = read_until_close(&mut s, BOUND).await;
    assert!(
        out.starts_with("HTTP/1.1 408 Request Time-out\r\n"),
        "{out}"
    );
    let line = gwd.stderr.wait_for("408 log", |l| {
        l.contains(" 408 ") && l.contains("cR--") && l.contains("timeout http-request")
    });
    // As HAProxy: no complete head (`TR` -1), and `Ta` the time since the
    // head's first byte, at least `timeout http-request` (400 ms).
    let ta = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("-1/-1/-1/-1/"))
        .unwrap_or_else(|| panic!("no -1/-1/-1/-1/Ta timers: {line}"));
    let ta: u64 = ta.parse().unwrap_or_else(|_| panic!("Ta {ta:?}: {line}"));
    assert!((400..5_000).contains(&ta), "Ta {ta} ms: {line}");
    assert_eq!(app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_close_silently() {
    let app = Backend::start("app", Proto::H1).await;
    let (_gwd, addr) = start("app", &[("app", app.addr.to_string())]).await;
    // No request at all: closed after http-request, with nothing sent.
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_until_close(&mut s, BOUND).await, "");

    // After a response: kept alive, then closed after http-keep-alive.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    use tokio::io::AsyncReadExt;
    while !String::from_utf8_lossy(&got).contains("h:host: x\n") {
        let n = tokio::time::timeout(BOUND, s.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&b[..n]);
    }
    assert!(
        closed_within(&mut s, BOUND).await,
        "keep-alive connection never closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_timeout_on_stalled_body() {
    let app = Backend::start("app", Proto::H1).await;
    let (gwd, addr) = start("app", &[("app", app.addr.to_string())]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    assert!(
        closed_within(&mut s, BOUND).await,
        "stalled upload never timed out"
    );
    gwd.stderr
        .wait_for("client timeout log", |l| l.contains("timeout client"));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_stalling_mid_body_is_cut() {
    let (stall, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            .await;
        // Then nothing, but keep the socket open.
        let _ = read_until_close(&mut s, Duration::from_secs(20)).await;
    })
    .await;
    let (gwd, addr) = start("stall", &[("stall", stall.to_string())]).await;
    let out = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", BOUND).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.ends_with("0123456789"), "only the 10 bytes sent: {out}");
    gwd.stderr.wait_for("sD termination", |l| {
        l.contains(" 200 10 ") && l.contains("sD--")
    });
}

/// `http-request tarpit`: the request is held `timeout.tarpit`, then
/// answered with the rule's status page, counted in `dreq` and logged `PT`.
#[tokio::test(flavor = "multi_thread")]
async fn tarpit_holds_then_answers_and_logs_pt() {
    let app = Backend::start("app", Proto::H1).await;
    let toml = format!(
        r#"
[defaults]
timeout.connect = "5s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.tarpit = "400ms"
stats = {{ uri = "/stats" }}
http-request = [ {{ action = "tarpit", status = 429, if = "{{ path_beg /bot }}" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{}" }} ]
"#,
        app.addr
    );
    let gwd = Gwd::start_with_log(&toml, "gwd::access=info");
    let addr = gwd.addr("www", 0);
    let mut c = Client::h1(addr).await;
    let t0 = std::time::Instant::now();
    let (status, _, body) = tokio::time::timeout(BOUND, c.get("x", "/bot/1"))
        .await
        .unwrap();
    let held = t0.elapsed();
    assert_eq!(status, 429);
    assert!(body.contains("429 Too Many Requests"), "{body}");
    assert!(
        held >= Duration::from_millis(400),
        "answered after {held:?}"
    );
    assert_eq!(app.hits(), 0, "a tarpitted request never reaches a server");
    // Other requests are not held.
    let (status, _, _) = c.get("x", "/").await;
    assert_eq!(status, 200);
    let line = gwd
        .stderr
        .wait_for("the tarpit log line", |l| l.contains("GET /bot/1"));
    assert!(line.contains(" PT-- "), "{line}");
    let (_, _, csv) = c.get("x", "/stats;csv").await;
    let fe = csv
        .lines()
        .find(|l| l.starts_with("www,FRONTEND,"))
        .unwrap();
    let cols: Vec<&str> = csv
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let dreq = cols.iter().position(|c| *c == "dreq").unwrap();
    assert_eq!(fe.split(',').nth(dreq), Some("1"), "{fe}");
}

/// An HTTP/2 server (`proto = "h2"`) that never opens its flow-control
/// window holds an upload it never takes: `timeout server` ends the wait
/// (HAProxy: `sD`), where the visitor used to wait for ever.
#[tokio::test(flavor = "multi_thread")]
async fn an_h2_server_that_never_takes_an_upload_times_out() {
    use gwd_h2_test_support::{Frame, Peer, kind};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = l.local_addr().unwrap();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut peer = Peer::new(s, Duration::from_secs(30));
        peer.expect_preface().await.unwrap();
        // SETTINGS_INITIAL_WINDOW_SIZE = 0, and never a WINDOW_UPDATE.
        peer.send(&Frame::settings(&[(0x4, 0)])).await.unwrap();
        let (_, _) = peer.read_until(|f| f.kind == kind::HEADERS).await.unwrap();
        let _ = seen_tx.send(());
        // Read (and ack) whatever comes, never answering the request.
        while let Ok(f) = peer.read_frame().await {
            if f.kind == kind::SETTINGS && !f.is_settings_ack() {
                let _ = peer.send(&Frame::settings_ack()).await;
            }
        }
    });
    let gwd = Gwd::start(&format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "30s"
default_backend = "app"

[backend.app]
timeout.connect = "2s"
timeout.server = "1s"
retries = 0
server = [ {{ name = "h2", addr = "{server}", proto = "h2" }} ]
"#
    ));
    let body = vec![b'x'; 4096];
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let started = std::time::Instant::now();
    let answer = raw_exchange(gwd.addr("www", 0), &req, Duration::from_secs(20)).await;
    seen_rx.await.expect("the server saw the request's HEADERS");
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
