//! A server's interim answers (`1xx` before the final one: `103 Early
//! Hints`, `102 Processing`) reach the visitor, as RFC 9110 §15.2 asks of
//! a proxy: over HTTP/1.1 and HTTP/2, in order, before the final answer,
//! without the server hop's own fields, and never to an HTTP/1.0 visitor.

use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{raw_server, read_head};
use gwd_regtests::client::read_response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// `Content-Length` in a `1xx` is wrong (RFC 9110 §8.6) but seen; relayed,
// it made HTTP/2 clients reset the stream and lose the final answer.
const EARLY_HINTS: &[u8] = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nConnection: x-hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n";
const PROCESSING: &[u8] = b"HTTP/1.1 102 Processing\r\n\r\n";
const FINAL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A keep-alive server that answers every request with `103`, then (a
/// moment later when `pause`) `102`, then `200`.
async fn hinting_server(pause: bool) -> std::net::SocketAddr {
    let (addr, _) = raw_server(move |mut s| async move {
        loop {
            let head = read_head(&mut s).await;
            if head.is_empty() {
                return;
            }
            if pause {
                // The hints go out while the final answer is still to come.
                if s.write_all(EARLY_HINTS).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = s.write_all(PROCESSING).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = s.write_all(FINAL).await;
            } else {
                let all = [EARLY_HINTS, PROCESSING, FINAL].concat();
                if s.write_all(&all).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    addr
}

fn config(server: std::net::SocketAddr) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    )
}

/// Reads until the final answer's 2-byte body has come.
async fn read_answer(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !out.ends_with(b"\r\n\r\nok") {
            let n = s.read(&mut b).await.expect("read");
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&b[..n]);
        }
    })
    .await
    .expect("the answer in time");
    String::from_utf8(out).unwrap()
}

/// The interim heads of one answer, in order, then the final one.
fn assert_relayed(got: &str) {
    let early = got.find("HTTP/1.1 103 Early Hints\r\n").expect(got);
    let processing = got.find("HTTP/1.1 102 Processing\r\n").expect(got);
    let done = got.find("HTTP/1.1 200 OK\r\n").expect(got);
    assert!(
        early == 0 && early < processing && processing < done,
        "{got}"
    );
    let hints = &got[..processing];
    assert!(
        hints.contains("Link: </style.css>; rel=preload\r\n"),
        "{got}"
    );
    assert!(
        !hints.to_ascii_lowercase().contains("x-hop"),
        "hop field relayed: {got}"
    );
    assert!(!hints.to_ascii_lowercase().contains("connection"), "{got}");
    assert!(
        !hints.to_ascii_lowercase().contains("content-length"),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn early_hints_reach_an_http11_visitor_before_the_answer() {
    for pause in [true, false] {
        let gwd = Gwd::start(&config(hinting_server(pause).await));
        let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
        for _ in 0..2 {
            // The second request, on the same connection, gets its own
            // hints and nothing left over from the first.
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let got = read_answer(&mut s).await;
            assert_relayed(&got);
            assert_eq!(
                got.matches("HTTP/1.1 103").count(),
                1,
                "pause {pause}: {got}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http10_visitor_gets_no_interim_answer() {
    let gwd = Gwd::start(&config(hinting_server(false).await));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = read_answer(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(!got.contains(" 103 ") && !got.contains(" 102 "), "{got}");
}

/// curl, speaking h2c, sees the hints as interim HEADERS frames.
#[tokio::test(flavor = "multi_thread")]
async fn early_hints_reach_an_http2_visitor_before_the_answer() {
    let gwd = Gwd::start(&config(hinting_server(true).await));
    assert_curl_h2_sees_the_hints(gwd.addr("www", 0), "a").await;
}

/// curl, speaking h2c to `addr` for `host`, gets `103`, `102`, then the
/// final `200` with its body, and no hop field of the server's.
async fn assert_curl_h2_sees_the_hints(addr: std::net::SocketAddr, host: &str) {
    let url = format!("http://{addr}/");
    let host = format!("Host: {host}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-s",
                "--http2-prior-knowledge",
                "-H",
                &host,
                "-D",
                "/dev/stderr",
                "--max-time",
                "10",
                &url,
            ])
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let heads = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    let early = heads.find("http/2 103").expect(&heads);
    let processing = heads.find("http/2 102").expect(&heads);
    let done = heads.find("http/2 200").expect(&heads);
    assert!(early < processing && processing < done, "{heads}");
    assert!(
        heads[..processing].contains("link: </style.css>; rel=preload"),
        "{heads}"
    );
    assert!(!heads.contains("x-hop"), "{heads}");
    assert_eq!(out.stdout, b"ok");
}

/// A server that floods interim answers: the visitor gets the first 64 KiB
/// of them, then the final answer (clients cap the header bytes of an
/// answer, and gwd holds nothing for a visitor that does not read).
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_hints_is_capped_and_the_answer_still_arrives() {
    let (server, _) = raw_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let hint = format!(
            "HTTP/1.1 103 Early Hints\r\nLink: <{}>\r\n\r\n",
            "x".repeat(8000)
        );
        // 16 MB of hints, if gwd relayed them all.
        for _ in 0..2000 {
            if s.write_all(hint.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = s.write_all(FINAL).await;
    })
    .await;
    let gwd = Gwd::start(&config(server));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    // Not reading for a while: what gwd would buffer piles up meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = read_answer(&mut s).await;
    let hints = got.matches("HTTP/1.1 103 Early Hints\r\n").count();
    assert!((1..=8).contains(&hints), "{hints} hints relayed");
    assert!(
        got.len() < 80 * 1024,
        "{} bytes reached the visitor",
        got.len()
    );
    assert!(got.contains("HTTP/1.1 200 OK\r\n"));
}

/// A reused server connection that sends a `1xx` and then closes has read
/// the request: it is a bad answer (502), never a stale connection whose
/// request is sent again.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_hints_then_closes_is_not_sent_the_request_again() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = seen.clone();
    let (server, _) = raw_server(move |mut s| {
        let seen = seen2.clone();
        async move {
            loop {
                let head = read_head(&mut s).await;
                if head.is_empty() {
                    return;
                }
                if head.starts_with("GET /first ") {
                    let _ = s.write_all(FINAL).await;
                } else {
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = s.write_all(EARLY_HINTS).await;
                    return;
                }
            }
        }
    })
    .await;
    let gwd = Gwd::start(&config(server));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    // The second request goes down the pooled connection.
    s.write_all(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&got).contains("HTTP/1.1 502") {
            let n = s.read(&mut b).await.expect("read");
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&b[..n]);
        }
    })
    .await
    .expect("an answer in time");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 103 Early Hints\r\n"), "{got}");
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sent again"
    );
}

/// A proxy in front of one HTTP/2 server (`proto = "h2"`), with `extra`
/// lines in its backend.
fn h2_server_config(server: std::net::SocketAddr, extra: &str) -> String {
    format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "10s"
default_backend = "app"

[backend.app]
timeout.connect = "2s"
timeout.server = "10s"
{extra}
server = [ {{ name = "h2", addr = "{server}", proto = "h2" }} ]
"#
    )
}

/// An HTTP/2 server (`proto = "h2"`): its interim HEADERS reach an
/// HTTP/1.1 visitor as interim heads, in order, without framing fields.
#[tokio::test(flavor = "multi_thread")]
async fn early_hints_from_an_http2_server_reach_the_visitor() {
    use gwd_h2_test_support::{Frame, Peer, hpack, kind};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut peer = Peer::new(s, Duration::from_secs(30));
        peer.expect_preface().await.unwrap();
        peer.send(&Frame::settings(&[])).await.unwrap();
        loop {
            let Ok((f, _)) = peer.read_until(|f| f.kind == kind::HEADERS).await else {
                return;
            };
            let id = f.stream_id;
            for (status, link) in [("103", "</style.css>; rel=preload"), ("102", "</p>")] {
                let block = hpack::encode_literal(&[
                    (":status", status),
                    ("link", link),
                    ("content-length", "0"),
                ]);
                peer.send(&Frame::headers(id, block, false)).await.unwrap();
            }
            // A `100` is the server's business with gwd: gwd answers the
            // visitor's `Expect` itself, so this one is not relayed.
            let block = hpack::encode_literal(&[(":status", "100")]);
            peer.send(&Frame::headers(id, block, false)).await.unwrap();
            let block = hpack::encode_literal(&[(":status", "200"), ("content-length", "2")]);
            peer.send(&Frame::headers(id, block, false)).await.unwrap();
            peer.send(&Frame::data(id, &b"ok"[..], true)).await.unwrap();
        }
    });
    let gwd = Gwd::start(&h2_server_config(server, ""));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = read_answer(&mut s).await;
    let early = got.find("HTTP/1.1 103 Early Hints\r\n").expect(&got);
    let processing = got.find("HTTP/1.1 102 Processing\r\n").expect(&got);
    let done = got.find("HTTP/1.1 200 OK\r\n").expect(&got);
    assert!(
        early == 0 && early < processing && processing < done,
        "{got}"
    );
    assert!(!got.contains(" 100 "), "{got}");
    let hints = got[..done].to_ascii_lowercase();
    assert!(
        hints.contains("link: </style.css>; rel=preload\r\n"),
        "{got}"
    );
    assert!(!hints.contains("content-length"), "{got}");
}

/// Behind a reverse-HTTP tunnel: the origin's server hints, the origin
/// sends the hints up the tunnel stream, the gateway relays them to its
/// visitor (HTTP/1.1 here, HTTP/2 with curl) before the final answer.
#[tokio::test(flavor = "multi_thread")]
async fn early_hints_cross_a_reverse_http_tunnel() {
    let app = hinting_server(true).await;
    let gw = Gwd::start(&gwd_regtests::rhttp::gateway_config("", ""));
    let _origin = Gwd::start(&gwd_regtests::rhttp::origin_config(
        gw.addr("registration", 0),
        1,
        app,
        "",
    ));
    gw.stderr.wait_count("rhttp tunnel registered", 1, |l| {
        l.contains("rhttp tunnel registered")
    });
    let visitors = gw.addr("visitors", 0);
    let mut s = TcpStream::connect(visitors).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
        .await
        .unwrap();
    // HTTP/2 lowered the field names on the way.
    let got = read_answer(&mut s).await.to_ascii_lowercase();
    let early = got.find("http/1.1 103 early hints\r\n").expect(&got);
    let processing = got.find("http/1.1 102 processing\r\n").expect(&got);
    let done = got.find("http/1.1 200 ok\r\n").expect(&got);
    assert!(
        early == 0 && early < processing && processing < done,
        "{got}"
    );
    let hints = &got[..processing];
    assert!(
        hints.contains("link: </style.css>; rel=preload\r\n"),
        "{got}"
    );
    assert!(
        !hints.contains("x-hop") && !hints.contains("content-length"),
        "{got}"
    );

    assert_curl_h2_sees_the_hints(visitors, "app.localhost").await;
}

/// An HTTP/2 server that hints, then refuses the stream: it has read the
/// request (the hint says so), so the request is not sent again, to it or
/// elsewhere; the visitor gets the hint, then a 502.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_server_that_hints_then_refuses_is_not_sent_the_request_again() {
    use gwd_h2_test_support::{Frame, Peer, hpack, kind};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = l.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut peer = Peer::new(s, Duration::from_secs(30));
                peer.expect_preface().await.unwrap();
                peer.send(&Frame::settings(&[])).await.unwrap();
                while let Ok((f, _)) = peer.read_until(|f| f.kind == kind::HEADERS).await {
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let block = hpack::encode_literal(&[(":status", "103"), ("link", "</a>")]);
                    peer.send(&Frame::headers(f.stream_id, block, false))
                        .await
                        .unwrap();
                    // REFUSED_STREAM: "not processed", which the hint belies.
                    peer.send(&Frame::rst_stream(f.stream_id, 0x7))
                        .await
                        .unwrap();
                }
            });
        }
    });
    let gwd = Gwd::start(&h2_server_config(server, "retries = 3"));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("the answer in time")
        .unwrap();
    let got = String::from_utf8_lossy(&got);
    assert_eq!(got.matches(" 103 ").count(), 1, "{got}");
    let final_at = got.find("HTTP/1.1 502 ").expect(&got);
    assert!(got.find(" 103 ").unwrap() < final_at, "{got}");
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the request was sent again"
    );
}
