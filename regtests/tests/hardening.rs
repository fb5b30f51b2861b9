//! Defects found by attacking gwd (issue 11), each pinned by a test that
//! failed before its fix: what a visitor may add, remove or rewrite on
//! its way through gwd, and in which order.

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::{Client, empty, read_all};
use http::Request;

fn config(app: &Backend) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
option.forwardfor = true

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "set-header", name = "X-Via", value = "gwd %[fe_name]" }},
]
default_backend = "app"

[backend.app]
server = [ {{ name = "app1", addr = "{}" }} ]
"#,
        app.addr
    )
}

/// A visitor's `Connection` header names fields to drop at this hop. They
/// are dropped before gwd's rules run, so the visitor cannot delete what
/// gwd adds (`option forwardfor`, `set-header`), and never `Host`.
#[tokio::test(flavor = "multi_thread")]
async fn connection_options_cannot_delete_what_gwd_adds() {
    let app = Backend::start("app1", Proto::H1).await;
    let gwd = Gwd::start(&config(&app));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let req = Request::get("/headers")
        .header("host", "app.localhost")
        .header("connection", "x-forwarded-for, x-via, host, x-hop")
        .header("x-forwarded-for", "10.9.9.9")
        .header("x-hop", "dropped at this hop")
        .body(empty())
        .unwrap();
    let (status, _, body) = read_all(c.send(req).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    // The visitor's own X-Forwarded-For was a connection option: dropped;
    // gwd's is added after and survives.
    let xff: Vec<_> = body
        .lines()
        .filter(|l| l.starts_with("h:x-forwarded-for:"))
        .collect();
    assert_eq!(xff, ["h:x-forwarded-for: 127.0.0.1"], "{body}");
    assert!(body.contains("h:x-via: gwd www\n"), "{body}");
    assert!(body.contains("h:host: app.localhost\n"), "{body}");
    assert!(!body.contains("x-hop"), "{body}");
    assert!(!body.contains("h:connection"), "{body}");
}

fn recording_config(server: std::net::SocketAddr, server_timeout: &str) -> String {
    format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "user" }} ]

[defaults]
timeout.connect = "2s"
timeout.client = "5s"
timeout.server = "{server_timeout}"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    )
}

/// `timeout server` is the server's silence, not the visitor's upload: a
/// steady upload that takes three times `timeout server` completes
/// (it used to get 504 blamed on the server).
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_upload_is_the_visitors_time_not_the_servers() {
    use tokio::io::AsyncWriteExt;
    let (server, log) = gwd_regtests::backend::recording_server().await;
    let gwd = Gwd::start(&recording_config(server, "500ms"));
    let mut s = tokio::net::TcpStream::connect(gwd.addr("www", 0))
        .await
        .unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1500\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..15 {
        s.write_all(&[b'u'; 100]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = gwd_regtests::client::read_response(&mut s)
        .await
        .status_body();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(log.lock().unwrap()[0].body.len(), 1500);
}

/// A malformed chunked request body is the visitor's fault: 400, counted
/// as a request error on the frontend, never as the server's (it used to
/// be a 502 blamed on the server).
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_chunked_body_is_the_visitors_fault() {
    use tokio::io::AsyncWriteExt;
    let (server, _log) = gwd_regtests::backend::recording_server().await;
    let gwd = Gwd::start(&recording_config(server, "5s"));
    let mut s = tokio::net::TcpStream::connect(gwd.addr("www", 0))
        .await
        .unwrap();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
    )
    .await
    .unwrap();
    let (status, _) = gwd_regtests::client::read_response(&mut s)
        .await
        .status_body();
    assert_eq!(status, 400);
    gwd.stderr.wait_for("the 400 with its cause", |l| {
        l.contains(" 400 ") && l.contains("invalid request body") && l.contains("PD--")
    });
    use gwd_regtests::runtime_api::stat_value;
    assert_eq!(stat_value(&gwd, "www,FRONTEND,", "ereq"), "1");
    assert_eq!(stat_value(&gwd, "app,s1,", "eresp"), "0");
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "eresp"), "0");
}

/// RFC 9113 removed the h2c upgrade: such a request goes on as plain
/// HTTP/1.1, without `Upgrade` or `HTTP2-Settings` (with an h2c-capable
/// server, the requests after an upgrade would bypass every rule).
#[tokio::test(flavor = "multi_thread")]
async fn an_h2c_upgrade_request_goes_on_as_plain_http11() {
    use tokio::io::AsyncWriteExt;
    let (server, log) = gwd_regtests::backend::recording_server().await;
    let gwd = Gwd::start(&recording_config(server, "5s"));
    let mut s = tokio::net::TcpStream::connect(gwd.addr("www", 0))
        .await
        .unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
        .await
        .unwrap();
    let (status, body) = gwd_regtests::client::read_response(&mut s)
        .await
        .status_body();
    assert_eq!((status, body.as_str()), (200, "ok"));
    let seen = log.lock().unwrap()[0].clone();
    assert!(seen.header("upgrade").is_empty(), "{seen:?}");
    assert!(seen.header("http2-settings").is_empty(), "{seen:?}");
    assert!(seen.header("connection").is_empty(), "{seen:?}");
}

/// An over-long request is logged truncated (HAProxy cuts log lines at
/// 1024 bytes by default); it used to be logged whole, up to 32 KiB a line.
#[tokio::test(flavor = "multi_thread")]
async fn over_long_requests_are_logged_truncated() {
    let (server, _) = gwd_regtests::backend::recording_server().await;
    let gwd = Gwd::start(&recording_config(server, "5s"));
    let mut s = tokio::net::TcpStream::connect(gwd.addr("www", 0))
        .await
        .unwrap();
    let path = format!("/long-{}", "x".repeat(10_000));
    tokio::io::AsyncWriteExt::write_all(
        &mut s,
        format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let (status, _) = gwd_regtests::client::read_response(&mut s)
        .await
        .status_body();
    assert_eq!(status, 200);
    let line = gwd
        .stderr
        .wait_for("the request's line", |l| l.contains("GET /long-"));
    assert!(line.len() < 1600, "a {} byte log line", line.len());
}

/// Idle visitor connections cannot take the descriptors that the
/// connections already served need for their servers: gwd raises its
/// descriptor limit, derives its connection limit from it (as HAProxy
/// derives `maxconn`) and stops accepting past it. It used to accept
/// until `EMFILE`, and the next request of a served visitor got 503.
#[tokio::test(flavor = "multi_thread")]
async fn idle_visitors_cannot_starve_served_ones_of_descriptors() {
    let app = Backend::start("app1", Proto::H1).await;
    let cfg = config(&app).replace("[backend.app]", "[backend.app]\nhttp-reuse = \"never\"");
    // 64 descriptors: (64 - 32) / 2 = 16 visitor connections.
    let gwd = Gwd::start_with_nofile(&cfg, 64);
    let addr = gwd.addr("www", 0);
    let get = || {
        Request::get("/")
            .header("host", "app.localhost")
            .body(empty())
            .unwrap()
    };
    let mut served = Client::h1(addr).await;
    let (status, _, body) = read_all(served.send(get()).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    // More idle visitors than descriptors: the kernel queues those past
    // the limit.
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Every slot gwd can give is taken (`show info`-free check: the
    // queued connections get no answer, the served one does).
    for _ in 0..3 {
        let (status, _, body) = read_all(served.send(get()).await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
    }
    // A queued visitor is served once a slot frees.
    drop(served);
    let mut last = idle.pop().unwrap();
    drop(idle);
    tokio::io::AsyncWriteExt::write_all(&mut last, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = gwd_regtests::client::read_response(&mut last)
        .await
        .status_body();
    assert_eq!(status, 200);
    assert_eq!(gwd.stderr.count(|l| l.contains("maxconn=16")), 1);
    assert_eq!(
        gwd.stderr.count(|l| l.contains("accept failed")),
        0,
        "{:?}",
        gwd.stderr.all()
    );
}

/// A `set-header` whose value the visitor can make invalid (CR decoded
/// from the query) fails the request with 500 and a `wrew` count; it
/// used to be skipped, and the visitor's own `X-Q` reached the server.
#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_cannot_keep_a_field_by_making_set_header_fail() {
    let app = Backend::start("app1", Proto::H1).await;
    let cfg = config(&app).replace(
        "http-request = [",
        "http-request = [\n  { action = \"set-header\", name = \"X-Q\", value = \"%[query,url_dec]\" },",
    );
    let gwd = Gwd::start(&cfg);
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let req = |q: &str| {
        Request::get(format!("/headers?{q}"))
            .header("host", "app.localhost")
            .header("x-q", "forged-by-visitor")
            .body(empty())
            .unwrap()
    };
    let (status, _, body) = read_all(c.send(req("ok")).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("h:x-q: ok\n"), "{body}");
    assert!(!body.contains("forged"), "{body}");

    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, _, body) = read_all(c.send(req("a%0db")).await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("forged"), "{body}");
    assert_eq!(app.hits(), 1, "the failed request reached the server");
}
