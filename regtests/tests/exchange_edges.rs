//! The edges of an exchange, each found by attacking gwd: who is blamed
//! when a side stops, what is relayed when a server misbehaves, and that
//! nothing hangs or leaks. Each test failed before its fix.

use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{
    Backend, Proto, raw_server, read_head, recording_server, recording_server_speaking,
};
use gwd_regtests::client::{Client, empty, read_response, read_until_close};
use gwd_regtests::runtime_api::{cli_tcp, stat_value, stats_addr};
use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(server: impl std::fmt::Display, timeouts: &str, proto: &str) -> String {
    format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "user" }} ]

[defaults]
timeout.connect = "2s"
{timeouts}

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}"{proto} }} ]
"#
    )
}

const TIMEOUTS: &str = "timeout.client = \"5s\"\ntimeout.server = \"5s\"";

/// A server that stops reading an upload is cut at `timeout server`; the
/// request used to hang for as long as the visitor kept trying.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_stops_reading_the_upload_is_cut_at_timeout_server() {
    let (server, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        // Never reads again, never answers.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let gwd = Gwd::start(&config(
        server,
        "timeout.client = \"5s\"\ntimeout.server = \"1s\"",
        "",
    ));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n")
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let (mut r, mut w) = s.into_split();
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(15), r.read_to_end(&mut out)).await;
            out
        });
        for _ in 0..2000 {
            if tokio::time::timeout(Duration::from_secs(15), w.write_all(&chunk))
                .await
                .is_err()
            {
                break;
            }
        }
        reader.await.unwrap()
    });
    let got = tokio::time::timeout(Duration::from_secs(12), writer)
        .await
        .expect("the stalled upload was never cut")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 504 "),
        "{text}"
    );
    gwd.stderr.wait_for("the cut upload's log line", |l| {
        l.contains("POST /up") && l.contains(" 504 ")
    });
}

/// A `101` to a request that asked for no upgrade is a bad response
/// (502), and that connection, which now speaks something else, never
/// serves another request.
#[tokio::test(flavor = "multi_thread")]
async fn an_unasked_switch_of_protocols_is_a_bad_response_and_its_connection_is_dropped() {
    let (server, conns) = raw_server(|mut s| async move {
        let head = read_head(&mut s).await;
        let answer: &[u8] = if head.starts_with("GET /sw ") {
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        };
        let _ = s.write_all(answer).await;
        let _ = read_until_close(&mut s, Duration::from_secs(10)).await;
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /sw HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 502);
    let mut s2 = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s2.write_all(b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut s2).await.status_body(),
        (200, "ok".to_string())
    );
    assert_eq!(
        conns.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a fresh server connection"
    );
}

/// RFC 6455 handshakes are checked as HAProxy checks them: a WebSocket
/// upgrade without `Sec-WebSocket-Key` gets 400 and never reaches the
/// server; a `101` to it without `Sec-WebSocket-Accept`, or with one that
/// is not its key's, gets 502 and its connection is dropped. They used to
/// be relayed.
#[tokio::test(flavor = "multi_thread")]
async fn websocket_handshakes_without_their_key_or_accept_are_refused() {
    // `/ws`: a 101 without an accept value; `/wrong`: with one that is
    // not the key's.
    let (server, conns) = raw_server(|mut s| async move {
        let head = read_head(&mut s).await;
        let accept = if head.starts_with("GET /wrong ") {
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
        } else {
            ""
        };
        let switch = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\n"
        );
        let _ = s.write_all(switch.as_bytes()).await;
        let _ = read_until_close(&mut s, Duration::from_secs(10)).await;
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));

    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 400);
    gwd.stderr.wait_for("the refusal's log line", |l| {
        l.contains("GET /ws") && l.contains(" 400 ")
    });
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 0);

    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 502);
    gwd.stderr.wait_for("the bad answer's log line", |l| {
        l.contains("GET /ws") && l.contains(" 502 ") && l.contains("SH")
    });

    // An accept value that is not the key's: 502 as well.
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /wrong HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 502);
}

/// An HTTP/2 visitor that resets its stream before the answer gets a log
/// line (`-1`, client's doing), and the server connection it held does
/// not stay counted as in use.
#[tokio::test(flavor = "multi_thread")]
async fn an_h2_stream_reset_before_the_answer_is_logged_and_frees_its_server_connection() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr, TIMEOUTS, ""));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    for _ in 0..3 {
        let req = Request::get("/slow/1500")
            .header("host", "a")
            .body(empty())
            .unwrap();
        let r = tokio::time::timeout(Duration::from_millis(300), c.send(req)).await;
        assert!(r.is_err(), "the slow answer came early");
    }
    gwd.stderr
        .wait_count("three lines for the reset streams", 3, |l| {
            l.contains("GET /slow/1500") && l.contains(" -1 ") && l.contains("CH--")
        });
    // Once the server's answers came (and were dropped), nothing is in use.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = cli_tcp(&stats_addr(&gwd, "user"), "show servers conn");
        let used: u64 = out
            .lines()
            .find(|l| l.starts_with("app/s1 "))
            .and_then(|l| l.split_whitespace().nth(6)?.parse().ok())
            .unwrap_or(u64::MAX);
        if used == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections stay in use: {out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Behind an HTTP/2 server too, a malformed request body is the visitor's
/// fault: 400 `PD`, not a 502 blamed on the server.
#[tokio::test(flavor = "multi_thread")]
async fn behind_an_h2_server_a_malformed_body_is_still_the_visitors_fault() {
    let (server, _) = recording_server_speaking(Proto::H2).await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ", proto = \"h2\""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n",
    )
    .await
    .unwrap();
    assert_eq!(read_response(&mut s).await.status, 400);
    gwd.stderr.wait_for("the 400 line", |l| {
        l.contains(" 400 ") && l.contains("PD--") && l.contains("invalid request body")
    });
    assert_eq!(stat_value(&gwd, "app,s1,", "eresp"), "0");
}

/// A switched connection (WebSocket) where nothing moves for `timeout
/// tunnel` is closed and logged; it used to stay open for ever.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_websocket_is_closed_after_timeout_tunnel() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(
        app.addr,
        "timeout.client = \"5s\"\ntimeout.server = \"5s\"\ntimeout.tunnel = \"500ms\"",
        "",
    ));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 101);
    s.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");
    let started = std::time::Instant::now();
    assert!(gwd_regtests::client::closed_within(&mut s, Duration::from_secs(5)).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    let line = gwd.stderr.wait_for("the tunnel's line", |l| {
        l.contains("GET /ws") && l.contains("timeout tunnel")
    });
    // The bytes relayed to the visitor (the echo) are counted, even though
    // the timer, not the relay, ended the tunnel.
    assert!(line.contains(" 101 4 "), "{line}");
}

/// `Expect: 100-continue`: a server that refuses the body before seeing
/// it (401 without `100`) is relayed as is; the visitor is never told to
/// send its body.
#[tokio::test(flavor = "multi_thread")]
async fn with_expect_100_continue_the_server_may_refuse_before_the_body() {
    let (server, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        // Thinks a moment (less than the 1 s a 100 is waited for).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = s
            .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
            .await;
        let _ = read_until_close(&mut s, Duration::from_secs(10)).await;
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut s).await;
    assert_eq!(
        (first.status, first.body.as_str()),
        (401, "nope"),
        "{first:?}"
    );
}

/// A visitor that goes away in the middle of its upload is logged as such
/// (`-1`, `CD`), not as a 400 and a bad request.
#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_gone_mid_upload_is_logged_cd_and_not_counted_as_a_bad_request() {
    let (server, _) = recording_server().await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"POST /gone HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
    gwd.stderr.wait_for("the aborted upload's line", |l| {
        l.contains("POST /gone") && l.contains(" -1 ") && l.contains("CD--")
    });
    assert_eq!(stat_value(&gwd, "www,FRONTEND,", "ereq"), "0");
}

/// Interim answers (`103 Early Hints`) show the server is alive: `timeout
/// server` counts again from each one.
#[tokio::test(flavor = "multi_thread")]
async fn interim_answers_restart_timeout_server() {
    let (server, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let _ = s
            .write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
        let _ = read_until_close(&mut s, Duration::from_secs(10)).await;
    })
    .await;
    let gwd = Gwd::start(&config(
        server,
        "timeout.client = \"5s\"\ntimeout.server = \"1s\"",
        "",
    ));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /hints HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    // The hint itself is relayed (tests/interim_answers.rs), then the
    // answer, which came 1.4 s after the request.
    let hint = read_response(&mut s).await;
    assert_eq!(hint.status, 103, "{}", hint.head);
    assert_eq!(
        read_response(&mut s).await.status_body(),
        (200, "ok".to_string())
    );
}

/// A stop while a request is served: its answer says `Connection: close`,
/// so the visitor does not send another request into a closing
/// connection.
#[tokio::test(flavor = "multi_thread")]
async fn answers_in_flight_at_a_stop_say_close() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /slow/600 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    gwd.signal(libc::SIGTERM);
    let resp = read_response(&mut s).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"), "{}", resp.head);
}

/// A visitor that closes in the middle of a request head gets a line
/// (`<BADREQ>`, `CR`), as in HAProxy.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_cut_by_the_visitor_is_logged() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Half")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    gwd.stderr.wait_for("the cut head's line", |l| {
        l.contains("<BADREQ>") && l.contains("CR--")
    });
}

/// An absolute-form request without `Host` keeps its authority: the
/// server gets it as `Host` (RFC 9112 §3.2.2).
#[tokio::test(flavor = "multi_thread")]
async fn an_absolute_form_target_without_host_becomes_the_host() {
    let (server, log) = recording_server().await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET http://app.example/p HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/p");
    assert_eq!(seen.header("host"), ["app.example"]);
}

/// A keep-alive server that answers every request with `answer`.
async fn answering_server(answer: &'static [u8]) -> std::net::SocketAddr {
    let (server, _) = raw_server(move |mut s| async move {
        while !read_head(&mut s).await.is_empty() {
            if s.write_all(answer).await.is_err() {
                return;
            }
        }
    })
    .await;
    server
}

/// `GET /` over a new HTTP/1.1 connection to `addr`, and its answer.
async fn get_over_http11(addr: std::net::SocketAddr) -> gwd_regtests::client::RawResponse {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut s).await
}

/// curl's `GET /` to `addr` over h2c (prior knowledge), with `args`;
/// asserts that curl took the answer.
async fn curl_h2(addr: std::net::SocketAddr, args: &[&str]) -> std::process::Output {
    let url = format!("http://{addr}/");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-s", "--http2-prior-knowledge", "--max-time", "10"])
            .args(&args)
            .arg(&url)
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    out
}

/// A server's own hop fields stay on the server's hop: `Connection` and
/// what it names, `Keep-Alive`, `Proxy-Connection`, and `TE`, a request
/// field that HTTP/2 calls malformed in a response (RFC 9113 §8.2.2).
/// Over HTTP/1.1 the visitor never sees them; over HTTP/2 (curl) the
/// answer is accepted and carries none of them.
#[tokio::test(flavor = "multi_thread")]
async fn a_servers_hop_fields_never_reach_the_visitor() {
    let server = answering_server(
        b"HTTP/1.1 200 OK\r\nConnection: x-private\r\nX-Private: 1\r\n\
        Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\
        X-Kept: yes\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let addr = gwd.addr("www", 0);
    let got = get_over_http11(addr).await;
    let head = got.head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-kept: yes"), "{head}");
    for hop in ["x-private", "keep-alive", "proxy-connection", "\nte:"] {
        assert!(!head.contains(hop), "{hop} relayed: {head}");
    }

    let out = curl_h2(addr, &["-D", "/dev/stderr"]).await;
    let heads = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(heads.starts_with("http/2 200"), "{heads}");
    assert!(heads.contains("x-kept: yes"), "{heads}");
    for hop in ["x-private", "keep-alive", "proxy-connection", "\nte:"] {
        assert!(!heads.contains(hop), "{hop} relayed: {heads}");
    }
    assert_eq!(out.stdout, b"ok");
}

/// A server's `204` with a stray `Content-Length` goes on without it:
/// curl over HTTP/2 used to fail the answer ("stream was not closed
/// cleanly: PROTOCOL_ERROR") while gwd logged a success.
#[tokio::test(flavor = "multi_thread")]
async fn a_204_goes_on_without_the_servers_content_length() {
    let server =
        answering_server(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kept: yes\r\n\r\n")
            .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let addr = gwd.addr("www", 0);
    let got = get_over_http11(addr).await;
    let head = got.head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 204"), "{head}");
    assert!(head.contains("x-kept: yes"), "{head}");
    assert!(!head.contains("content-length"), "{head}");

    let out = curl_h2(addr, &["-o", "/dev/null", "-w", "%{http_code}"]).await;
    assert_eq!(out.stdout, b"204");
}

/// A chunked answer whose first chunk size is not a size, in the same
/// read as its head: a bad response (502), as HAProxy answers. The
/// visitor used to get nothing at all, logged as a 200 cut short.
#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_answer_broken_from_its_first_size_is_a_502() {
    let server = answering_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ""));
    let got = get_over_http11(gwd.addr("www", 0)).await;
    assert!(got.head.starts_with("HTTP/1.1 502"), "{}", got.head);
    gwd.stderr.wait_for("the bad answer's log line", |l| {
        l.contains("GET / ") && l.contains(" 502 ") && l.contains("SH")
    });
}

/// Two pipelined requests on one HTTP/1.1 connection to `addr`: the
/// first for `path`, the second for `/next` with `Connection: close`;
/// everything the visitor read.
async fn pipelined_pair(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    read_until_close(&mut s, Duration::from_secs(10)).await
}

/// `got` (from [`pipelined_pair`]) is a 204 without `Content-Length` or
/// content, then the second request's answer.
fn assert_a_bare_204_then_the_next_answer(got: &str) {
    assert!(got.starts_with("HTTP/1.1 204 No Content\r\n"), "{got}");
    let head_end = got.find("\r\n\r\n").expect(got) + 4;
    assert!(
        !got[..head_end]
            .to_ascii_lowercase()
            .contains("content-length"),
        "{got}"
    );
    assert!(got[head_end..].starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
}

/// A raw HTTP/2 server (prior knowledge) that writes, for each request's
/// HEADERS, the bytes `answer(stream id, header block as text)` gives.
async fn scripted_h2_server(answer: fn(u32, &str) -> Vec<u8>) -> std::net::SocketAddr {
    use gwd_h2_test_support::{Frame, Peer, kind};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut peer = Peer::new(s, Duration::from_secs(30));
                peer.expect_preface().await.unwrap();
                peer.send(&Frame::settings(&[])).await.unwrap();
                while let Ok((f, _)) = peer.read_until(|f| f.kind == kind::HEADERS).await {
                    let path = String::from_utf8_lossy(&f.payload).into_owned();
                    if peer.send_raw(&answer(f.stream_id, &path)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    server
}

/// A 204 or 304 has no content, whatever came with it: an HTTP/2
/// server's DATA after such a head used to go to the HTTP/1.1 visitor
/// as bytes after the head, read as the start of its next answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_204_or_304_from_an_http2_server_carries_no_body() {
    use gwd_h2_test_support::{Frame, hpack};
    let server = scripted_h2_server(|id, path| {
        let status = if path.contains("/304") {
            "304"
        } else if path.contains("/204") {
            "204"
        } else {
            "200"
        };
        let block = hpack::encode_literal(&[(":status", status)]);
        let mut out = Frame::headers(id, block, false).encode().to_vec();
        out.extend_from_slice(&Frame::data(id, &b"hello"[..], true).encode());
        out
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ", proto = \"h2\""));
    let addr = gwd.addr("www", 0);
    for (path, status) in [("/204", "204 No Content"), ("/304", "304 Not Modified")] {
        let got = pipelined_pair(addr, path).await;
        let first = format!("HTTP/1.1 {status}\r\n");
        assert!(got.starts_with(&first), "{got}");
        let head_end = got.find("\r\n\r\n").expect(&got) + 4;
        assert!(
            got[head_end..].starts_with("HTTP/1.1 200 OK\r\n"),
            "bytes after the {status}: {got}"
        );
    }
}

/// An HTTP/2 server whose DATA contradicts its `content-length`, all of
/// it arriving with the head: the HTTP/1.1 visitor gets the head, the
/// bytes that came, and a close (the answer is visibly cut, as the log's
/// `SD` says). It used to get a connection closed on nothing, which
/// clients take for a request never served. Where the framing could not
/// show the cut (`Content-Length: 0`, or an HTTP/1.0 visitor's
/// close-delimited answer) nothing goes out: a head there would read as
/// a whole, empty answer.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_answer_broken_before_its_body_reaches_the_visitor_cut_or_not_at_all() {
    use gwd_h2_test_support::{Frame, hpack};
    // Head and what breaks it in one write.
    let server = scripted_h2_server(|id, path| {
        if path.contains("/short") {
            let block = hpack::encode_literal(&[(":status", "200"), ("content-length", "10")]);
            let mut b = Frame::headers(id, block, false).encode().to_vec();
            b.extend_from_slice(&Frame::data(id, &b"hello"[..], true).encode());
            return b;
        }
        let fields: &[(&str, &str)] = if path.contains("/empty") {
            &[(":status", "200"), ("content-length", "0")]
        } else {
            &[(":status", "200")]
        };
        let mut b = Frame::headers(id, hpack::encode_literal(fields), false)
            .encode()
            .to_vec();
        b.extend_from_slice(&Frame::rst_stream(id, 2).encode());
        b
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ", proto = \"h2\""));
    let ask = |line: &'static str| {
        let addr = gwd.addr("www", 0);
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(line.as_bytes()).await.unwrap();
            read_until_close(&mut s, Duration::from_secs(10)).await
        }
    };
    let got = ask("GET /short HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(got.contains("content-length: 10\r\n"), "{got:?}");
    let body = &got[got.find("\r\n\r\n").expect(&got) + 4..];
    assert!(body.len() < 10, "{got:?}");
    gwd.stderr.wait_for("the cut answer's log line", |l| {
        l.contains("GET /short") && l.contains(" 200 ") && l.contains("SD")
    });
    // Chunked to an HTTP/1.1 visitor: the head, no last chunk.
    let got = ask("GET /reset HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(!got.ends_with("0\r\n\r\n"), "{got:?}");
    // Nothing that could pass for a whole answer.
    assert_eq!(ask("GET /empty HTTP/1.1\r\nHost: a\r\n\r\n").await, "");
    assert_eq!(ask("GET /reset HTTP/1.0\r\nHost: a\r\n\r\n").await, "");
}

/// `http-response set-status 204` on a 200 with a body: the visitor
/// gets a 204 without the body or its length, and its next answer
/// intact. They used to follow the 204.
#[tokio::test(flavor = "multi_thread")]
async fn set_status_204_drops_the_body() {
    let server =
        answering_server(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-S: old\r\n\r\nok\n").await;
    let cfg = config(server, TIMEOUTS, "").replace(
        "default_backend = \"app\"",
        "default_backend = \"app\"\n\
         http-request = [ { action = \"set-var\", var = \"txn.p\", expr = \"path\" } ]\n\
         http-response = [ { action = \"set-status\", status = 204, if = \"{ var(txn.p) -m str /204 }\" } ]",
    );
    let gwd = Gwd::start(&cfg);
    let got = pipelined_pair(gwd.addr("www", 0), "/204").await;
    assert_a_bare_204_then_the_next_answer(&got);
}

/// `http-after-response set-status` on gwd's own answers: a 204 goes
/// without the page (and its length), a 1xx is no final answer (502).
/// The page used to follow the 204, read as the visitor's next answer.
#[tokio::test(flavor = "multi_thread")]
async fn after_response_set_status_on_a_local_answer_keeps_the_framing() {
    let cfg = r#"
[defaults]
timeout.client = "5s"

[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [
  { action = "set-var", var = "txn.p", expr = "path" },
  { action = "return", status = 200, body = "LOCALBODY" },
]
http-after-response = [
  { action = "set-status", status = 204, if = "{ var(txn.p) -m str /204 }" },
  { action = "set-status", status = 103, if = "{ var(txn.p) -m str /103 }" },
]
"#;
    let gwd = Gwd::start(cfg);
    let addr = gwd.addr("www", 0);
    let got = pipelined_pair(addr, "/204").await;
    assert_a_bare_204_then_the_next_answer(&got);
    let got = pipelined_pair(addr, "/103").await;
    assert!(got.starts_with("HTTP/1.1 502 "), "{got}");
    assert!(!got.contains(" 103 "), "{got}");
}

/// A server that answers as soon as it has a request's head ("early" to a
/// POST, "next" otherwise), then reads and drops what follows for up to
/// 5 s and closes, as nginx's `return` does: still reading when its
/// answer is out, so the answer says keep-alive.
async fn early_answer_server() -> std::net::SocketAddr {
    let (server, _) = raw_server(|mut s| async move {
        let head = read_head(&mut s).await;
        let answer: &[u8] = if head.starts_with("POST") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
        };
        let _ = s.write_all(answer).await;
        let mut sink = [0u8; 16 * 1024];
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    })
    .await;
    server
}

/// Sends `head`, then `piece` again and again (1,000 times at most, the
/// write half held open after: no FIN ends the connection for gwd), and
/// checks that gwd answers "early" and closes within 3 s (it lingers a
/// moment, reading, as after any answer it closes on).
async fn closes_while_the_body_comes(gwd: &Gwd, head: &[u8], piece: Vec<u8>) {
    let s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(head).await.unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..1000 {
            if wr.write_all(&piece).await.is_err() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(wr);
    });
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), rd.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection was held open");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200 OK") && text.ends_with("early"),
        "{text}"
    );
    writer.abort();
}

/// A server that answers before the upload ends (nginx's `return`, an
/// early 413): the answer says keep-alive, so the rest of the body is
/// read and dropped (and counted as received) and the visitor's next
/// request on the connection is served. gwd used to close the connection
/// after such an answer, without `Connection: close`.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_answer_keeps_the_connection_once_the_body_is_in() {
    let gwd = Gwd::start(&config(early_answer_server().await, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b'x'; 1000]).await.unwrap();
    let first = read_response(&mut s).await;
    assert_eq!((first.status, first.body.as_str()), (200, "early"));
    assert_eq!(first.header("connection"), None, "{}", first.head);
    // The rest of the body, then the next request on the same connection.
    s.write_all(&vec![b'x'; 299_000]).await.unwrap();
    s.write_all(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let next = read_response(&mut s).await;
    assert_eq!((next.status, next.body.as_str()), (200, "next"));
    // The dropped part still counts as received from the visitor.
    let bin: u64 = tokio::task::block_in_place(|| stat_value(&gwd, "www,FRONTEND,", "bin"))
        .parse()
        .unwrap();
    assert!(bin >= 300_000, "frontend bytes in: {bin}");
}

/// After an early answer gwd reads and drops at most 4 MiB of the rest of
/// the body: a visitor that keeps sending past that has its connection
/// closed. Without the bound it would go on dropping whatever comes, until
/// `timeout client` (5 s) after the visitor pauses.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_answer_drops_at_most_4_mib_of_the_rest() {
    let gwd = Gwd::start(&config(early_answer_server().await, TIMEOUTS, ""));
    let head = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n";
    closes_while_the_body_comes(&gwd, head, vec![b'x'; 64 * 1024]).await;
}

/// The bound counts the chunked framing too: 1-byte chunks with 4,000-byte
/// extensions used to pass 200 MB for 50 KB of "data".
#[tokio::test(flavor = "multi_thread")]
async fn the_drop_bound_counts_chunk_framing() {
    let gwd = Gwd::start(&config(early_answer_server().await, TIMEOUTS, ""));
    let head = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let piece = format!("1;e={}\r\nx\r\n", "a".repeat(4000)).repeat(16);
    closes_while_the_body_comes(&gwd, head, piece.into_bytes()).await;
}

/// An early answer to a request that waits for `100 Continue` (none was
/// sent) says `Connection: close`, and no `100` follows it: the visitor
/// may send its next request instead of the body, and that request must
/// not be read as the body.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_answer_before_100_continue_closes_the_connection() {
    let gwd = Gwd::start(&config(early_answer_server().await, TIMEOUTS, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 40\r\n\r\n",
    )
    .await
    .unwrap();
    let first = read_response(&mut s).await;
    assert_eq!((first.status, first.body.as_str()), (200, "early"));
    assert_eq!(first.header("connection"), Some("close"), "{}", first.head);
    // The visitor skips the body: its next request is not taken as one.
    let _ = s.write_all(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(read_until_close(&mut s, Duration::from_secs(3)).await, "");
}

/// An HTTP/2 server that answers a POST early and then neither reads the
/// body nor resets the stream (RFC 9113 allows both): gwd stops feeding
/// it once the answer is out and drops the rest itself, so the visitor's
/// next request is served. The first version of the drain waited on the
/// server's flow-control window with no timeout left to end the wait.
#[tokio::test(flavor = "multi_thread")]
async fn an_early_h2_answer_from_a_server_that_takes_no_more_body() {
    let (server, _) = raw_server(|mut s| async move {
        let mut preface = [0u8; 24];
        if s.read_exact(&mut preface).await.is_err() {
            return;
        }
        // SETTINGS: a 100-byte window for each stream, never widened.
        let _ = s
            .write_all(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 100])
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            let mut head = [0u8; 9];
            while s.read_exact(&mut head).await.is_ok() {
                let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                let mut payload = vec![0u8; len];
                if s.read_exact(&mut payload).await.is_err() {
                    return;
                }
                let stream = &head[5..9];
                match (head[3], head[4] & 1) {
                    // The client's SETTINGS: acknowledged.
                    (4, 0) => {
                        let _ = s.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).await;
                    }
                    // A request: `:status 200` at once, END_STREAM.
                    (1, _) => {
                        let mut f = vec![0, 0, 1, 1, 5];
                        f.extend_from_slice(stream);
                        f.push(0x88);
                        let _ = s.write_all(&f).await;
                    }
                    _ => {}
                }
            }
        })
        .await;
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ", proto = \"h2\""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b'x'; 50]).await.unwrap();
    let first = read_response(&mut s).await;
    assert_eq!(first.status, 200, "{}", first.head);
    assert_eq!(first.header("connection"), None, "{}", first.head);
    s.write_all(&vec![b'x'; 99_950]).await.unwrap();
    s.write_all(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let next = read_response(&mut s).await;
    assert_eq!(next.status, 200, "{}", next.head);
}

/// An HTTP/2 server's trailers reach an HTTP/2 visitor whether or not the
/// answer's head carried `content-length`: HEADERS, DATA without
/// END_STREAM, then the trailers ending the stream. (curl prints no
/// trailers after a body whose length was given, from gwd or from nginx
/// alike: that is curl's reading, not a loss; this test reads frames.)
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_servers_trailers_reach_an_http2_visitor_after_a_sized_body() {
    use gwd_h2_test_support::{Frame, Peer, flags, hpack, kind};
    let server = scripted_h2_server(|id, path| {
        let mut head = vec![(":status", "200")];
        if path.contains("/sized") {
            head.push(("content-length", "5"));
        }
        let mut out = Frame::headers(id, hpack::encode_literal(&head), false)
            .encode()
            .to_vec();
        out.extend_from_slice(&Frame::data(id, &b"hello"[..], false).encode());
        let trailers = hpack::encode_literal(&[("x-checksum", "abc")]);
        out.extend_from_slice(&Frame::headers(id, trailers, true).encode());
        out
    })
    .await;
    let gwd = Gwd::start(&config(server, TIMEOUTS, ", proto = \"h2\""));
    let io = tokio::net::TcpStream::connect(gwd.addr("www", 0))
        .await
        .unwrap();
    let mut peer = Peer::new(io, Duration::from_secs(5));
    peer.send_preface().await.unwrap();
    peer.send(&Frame::settings(&[])).await.unwrap();
    let mut decoder = gwd_hpack::Decoder::new(4096);
    for (stream, path) in [(1, "/chunked"), (3, "/sized")] {
        let block = hpack::encode_literal(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", path),
        ]);
        peer.send(&Frame::headers(stream, block, true))
            .await
            .unwrap();
        // (HEADERS, END_STREAM, names in the block) for each HEADERS frame,
        // and the DATA, of the stream, in order, up to its end.
        let mut got = Vec::new();
        loop {
            let f = peer.read_frame().await.unwrap();
            if f.kind == kind::SETTINGS && !f.has_flags(flags::ACK) {
                peer.send(&Frame::settings_ack()).await.unwrap();
                continue;
            }
            if f.stream_id != stream {
                continue;
            }
            let end = f.has_flags(flags::END_STREAM);
            if f.kind == kind::HEADERS {
                let mut names = Vec::new();
                decoder
                    .decode(&f.header_block().unwrap(), 1 << 20, &mut |field| {
                        names.push(String::from_utf8_lossy(field.name).into_owned())
                    })
                    .unwrap();
                got.push(format!(
                    "HEADERS{} {}",
                    if end { "+END" } else { "" },
                    names.join(",")
                ));
            } else if f.kind == kind::DATA {
                let data = String::from_utf8_lossy(&f.payload).into_owned();
                got.push(format!("DATA{} {data}", if end { "+END" } else { "" }));
            }
            if end {
                break;
            }
        }
        let got = got.join(" | ");
        assert!(
            got.contains("DATA hello | HEADERS+END x-checksum"),
            "{path}: {got}"
        );
    }
}
