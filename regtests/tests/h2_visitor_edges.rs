//! HTTP/2 visitors that stall, leave, flood or wait, driven frame by frame
//! (each case failed before its fix): what ends a stream, who is blamed,
//! and what no visitor can make gwd hold for ever.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gwd_h2_test_support::{Frame, Peer, PeerError, flags, hpack, kind, setting};
use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto, raw_server, recording_server};
use tokio::net::TcpStream;

const ENHANCE_YOUR_CALM: u32 = 0xb;

/// `extra`: more `[defaults]` keys; `timeout.client` is 1 s unless set.
fn config(server: SocketAddr, extra: &str) -> String {
    let client = if extra.contains("timeout.client") {
        ""
    } else {
        "timeout.client = \"1s\""
    };
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.server = "5s"
{client}
{extra}

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    )
}

/// A visitor speaking raw frames, with an HPACK decoder for the heads it
/// gets back.
struct Visitor {
    peer: Peer<TcpStream>,
    decoder: gwd_hpack::Decoder,
}

/// What the visitor read next.
#[derive(Debug)]
enum In {
    Head { stream: u32, status: u16 },
    Frame(Frame),
}

impl Visitor {
    async fn connect(addr: SocketAddr, settings: &[(u16, u32)]) -> Visitor {
        let io = TcpStream::connect(addr).await.unwrap();
        let mut peer = Peer::new(io, Duration::from_secs(5));
        peer.send_preface().await.unwrap();
        peer.send(&Frame::settings(settings)).await.unwrap();
        Visitor {
            peer,
            decoder: gwd_hpack::Decoder::new(4096),
        }
    }

    async fn request(&mut self, stream: u32, method: &str, path: &str, extra: &[(&str, &str)]) {
        let end_stream = method == "GET";
        let mut fields = vec![
            (":method", method),
            (":scheme", "http"),
            (":authority", "app.localhost"),
            (":path", path),
        ];
        fields.extend_from_slice(extra);
        let block = hpack::encode_literal(&fields);
        self.peer
            .send(&Frame::headers(stream, block, end_stream))
            .await
            .unwrap();
    }

    async fn data(&mut self, stream: u32, data: &'static [u8], end_stream: bool) {
        self.peer
            .send(&Frame::data(stream, data, end_stream))
            .await
            .unwrap();
    }

    /// The next frame, the server's SETTINGS acknowledged on the way and
    /// heads decoded.
    async fn next(&mut self) -> Result<In, PeerError> {
        loop {
            let f = self.peer.read_frame().await?;
            if f.kind == kind::SETTINGS && !f.has_flags(flags::ACK) {
                self.peer.send(&Frame::settings_ack()).await?;
                continue;
            }
            if f.kind == kind::HEADERS {
                let block = f.header_block().unwrap();
                let mut status = None;
                self.decoder
                    .decode(&block, 1 << 20, &mut |field| {
                        if field.name == b":status" {
                            status = std::str::from_utf8(field.value)
                                .ok()
                                .and_then(|v| v.parse().ok());
                        }
                    })
                    .unwrap();
                return Ok(In::Head {
                    stream: f.stream_id,
                    status: status.expect(":status"),
                });
            }
            return Ok(In::Frame(f));
        }
    }

    /// The status of the next head on `stream`.
    async fn head(&mut self, stream: u32) -> u16 {
        loop {
            match self.next().await.unwrap() {
                In::Head { stream: s, status } if s == stream => return status,
                In::Frame(f) if f.kind == kind::GOAWAY => panic!("GOAWAY {:?}", f.goaway_fields()),
                _ => {}
            }
        }
    }

    /// The error code of the GOAWAY that ends the connection (`None`: it
    /// closed without one).
    async fn goaway(&mut self) -> Option<u32> {
        loop {
            match self.next().await {
                Ok(In::Frame(f)) if f.kind == kind::GOAWAY => return Some(f.goaway_fields()?.1),
                Ok(_) => {}
                Err(e) if e.is_eof() => return None,
                Err(PeerError::Io(_)) => return None,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// A request body the visitor never sends is its fault after `timeout
/// client`: 408, `cD`. The stream (and its server connection) used to be
/// held for ever, and a graceful stop never finished.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_body_never_sent_gets_408_at_timeout_client() {
    let (server, _) = recording_server().await;
    let gwd = Gwd::start(&config(server, ""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    v.request(1, "POST", "/stalled", &[("content-length", "10")])
        .await;
    let started = Instant::now();
    assert_eq!(v.head(1).await, 408);
    assert!(started.elapsed() < Duration::from_secs(4));
    let line = gwd
        .stderr
        .wait_for("the 408 line", |l| l.contains("POST /stalled"));
    assert!(line.contains(" 408 ") && line.contains("cD"), "{line}");
}

/// A visitor that closes its connection in the middle of an upload is
/// logged at once (`-1`, `CD`), and its server connection is freed. The
/// stream used to stay open, unlogged, for as long as the server waited.
#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_that_leaves_mid_upload_is_logged_at_once() {
    let (server, seen) = recording_server().await;
    let gwd = Gwd::start(&config(server, "timeout.client = \"30s\""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    v.request(1, "POST", "/left", &[("content-length", "1000")])
        .await;
    v.data(1, b"0123456789", false).await;
    assert_eq!(
        v.peer.read_frame().await.unwrap().kind,
        kind::SETTINGS,
        "gwd read the request"
    );
    drop(v);
    let line = gwd
        .stderr
        .wait_for("the request's line", |l| l.contains("POST /left"));
    assert!(line.contains(" -1 ") && line.contains("CD"), "{line}");
    assert!(
        seen.lock().unwrap().iter().all(|r| r.body.len() < 1000),
        "no request reached the server whole"
    );
}

/// Empty DATA frames cost no flow-control window, so nothing else bounds
/// them: they are not queued, and a flood ends the connection with
/// ENHANCE_YOUR_CALM (CVE-2019-9518). Each used to be queued.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_data_flood_is_cut_off() {
    let (server, _) = recording_server().await;
    let gwd = Gwd::start(&config(server, "timeout.client = \"30s\""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    v.request(1, "POST", "/flood", &[]).await;
    let mut burst = Vec::new();
    for _ in 0..500 {
        burst.extend_from_slice(&Frame::data(1, &b""[..], false).encode());
    }
    v.peer.send_raw(&burst).await.unwrap();
    assert_eq!(v.goaway().await, Some(ENHANCE_YOUR_CALM));
}

/// "MadeYouReset" (CVE-2025-8671): streams the visitor makes gwd reset
/// (here, DATA beyond the announced content-length) count against the
/// rapid-reset budget like its own RST_STREAMs; they used not to, and
/// each stream's request went on to the server.
#[tokio::test(flavor = "multi_thread")]
async fn streams_the_visitor_makes_gwd_reset_count_as_rapid_resets() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr, "timeout.client = \"30s\""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    let mut burst = Vec::new();
    for i in 0..150u32 {
        let id = 1 + 2 * i;
        let block = hpack::encode_literal(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/made-you-reset"),
            ("content-length", "1"),
        ]);
        burst.extend_from_slice(&Frame::headers(id, block, false).encode());
        burst.extend_from_slice(&Frame::data(id, &b"xx"[..], false).encode());
    }
    v.peer.send_raw(&burst).await.unwrap();
    assert_eq!(v.goaway().await, Some(ENHANCE_YOUR_CALM));
}

/// A stream reset before its request ever ran still gets its access-log
/// line (and counts as a request); such streams used to leave no trace.
#[tokio::test(flavor = "multi_thread")]
async fn streams_reset_before_their_request_ran_are_logged() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr, ""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    let mut burst = Vec::new();
    for i in 0..5u32 {
        let id = 1 + 2 * i;
        let block = hpack::encode_literal(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/reset-at-once"),
            ("content-length", "1"),
        ]);
        burst.extend_from_slice(&Frame::headers(id, block, false).encode());
        burst.extend_from_slice(&Frame::data(id, &b"xx"[..], false).encode());
    }
    v.peer.send_raw(&burst).await.unwrap();
    gwd.stderr
        .wait_count("a line per stream", 5, |l| l.contains("/reset-at-once"));
}

/// A visitor that never opens its flow-control window is cut after
/// `timeout client` and its answer logged `cD`, however many PINGs it
/// sends. Any write (a PING's ACK) used to restart the clock.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_window_is_cut_at_timeout_client_despite_pings() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr, ""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[(setting::INITIAL_WINDOW_SIZE, 0)]).await;
    v.request(1, "GET", "/big/100000", &[]).await;
    assert_eq!(v.head(1).await, 200);
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(4) {
        if v.peer
            .send(&Frame::ping(*b"stillhr!", false))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(300), v.next()).await {
            Ok(Ok(In::Frame(f))) if f.kind == kind::GOAWAY => {
                closed = true;
                break;
            }
            Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "still open after {:?}", started.elapsed());
    let line = gwd
        .stderr
        .wait_for("the answer's line", |l| l.contains("GET /big/100000"));
    assert!(line.contains("cD"), "{line}");
}

/// `Expect: 100-continue` over HTTP/2: the visitor gets `100` once the
/// server wants the body, then the answer. It used to get nothing until
/// its own wait ran out.
#[tokio::test(flavor = "multi_thread")]
async fn expect_100_continue_is_answered_over_http2() {
    let (server, seen) = recording_server().await;
    let gwd = Gwd::start(&config(server, "timeout.client = \"30s\""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    v.request(
        1,
        "POST",
        "/expect",
        &[("content-length", "5"), ("expect", "100-continue")],
    )
    .await;
    assert_eq!(v.head(1).await, 100);
    v.data(1, b"hello", true).await;
    assert_eq!(v.head(1).await, 200);
    assert_eq!(seen.lock().unwrap()[0].body, b"hello");
}

/// The connection's receive window is announced larger than a stream's,
/// so one upload a server reads slowly cannot stall the others on the
/// same connection.
#[tokio::test(flavor = "multi_thread")]
async fn the_connection_window_is_larger_than_a_streams() {
    let (server, _) = recording_server().await;
    let gwd = Gwd::start(&config(server, ""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    let (update, _) = v
        .peer
        .read_until(|f| f.kind == kind::WINDOW_UPDATE && f.stream_id == 0)
        .await
        .unwrap();
    let inc = u32::from_be_bytes(update.payload[..4].try_into().unwrap());
    assert_eq!(65_535 + inc, 1024 * 1024);
}

/// After the last stream ends by the visitor's reset, `http-keep-alive`
/// counts from that moment; the connection used to be closed at once.
#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_counts_from_a_reset_stream() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(
        app.addr,
        "timeout.client = \"30s\"\ntimeout.http-keep-alive = \"1s\"",
    ));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    v.request(1, "GET", "/slow/5000", &[]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    v.peer.send(&Frame::rst_stream(1, 0x8)).await.unwrap();
    let reset = Instant::now();
    assert_eq!(v.goaway().await, Some(0));
    let idle = reset.elapsed();
    assert!(idle >= Duration::from_millis(800), "GOAWAY after {idle:?}");
}

/// `:authority` is held to the rules of an HTTP/1.1 Host: one host, an
/// optional numeric port. A list used to pass, and a rule matching
/// `req.hdr(host)` saw one element while the server read the whole (a
/// `deny unless { req.hdr(host) -i allowed }` let `allowed,internal`
/// through). Each gets 400, on its own stream; the connection goes on.
#[tokio::test(flavor = "multi_thread")]
async fn an_authority_that_is_not_one_host_gets_400() {
    let (server, seen) = recording_server().await;
    let gwd = Gwd::start(&config(server, "timeout.client = \"30s\""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    let mut stream = 1;
    for (authority, host) in [
        ("allowed,internal", None),
        ("a:80x", None),
        ("app.localhost", Some("allowed,internal")),
    ] {
        let mut fields = vec![
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority),
            (":path", "/"),
        ];
        fields.extend(host.map(|h| ("host", h)));
        let block = hpack::encode_literal(&fields);
        v.peer
            .send(&Frame::headers(stream, block, true))
            .await
            .unwrap();
        assert_eq!(v.head(stream).await, 400, "{authority} {host:?}");
        stream += 2;
    }
    v.request(stream, "GET", "/", &[]).await;
    assert_eq!(v.head(stream).await, 200);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a bad host reached the server"
    );
}

/// An HTTP/2 visitor's trailers reach an HTTP/1.1 server without what a
/// trailer section may not carry, as an HTTP/1.1 visitor's do: they used
/// to go through whole (`content-length: 99`, `host: evil` and a
/// forwarded-for after the body, seen by no rule).
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_visitors_trailers_lose_framing_and_routing_fields() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let (server, _) = raw_server(move |mut s| {
        let keep = keep.clone();
        async move {
            let mut buf = Vec::new();
            let mut b = [0u8; 4096];
            // The head, then the chunked body up to its trailer section's end.
            while !chunked_request_complete(&buf) {
                match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&b[..n]),
                    _ => break,
                }
            }
            *keep.lock().unwrap() = buf;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
    })
    .await;
    let gwd = Gwd::start(&config(server, "timeout.client = \"30s\""));
    let mut v = Visitor::connect(gwd.addr("www", 0), &[]).await;
    v.request(1, "POST", "/up", &[]).await;
    v.data(1, b"abc", false).await;
    let block = hpack::encode_literal(&[
        ("x-checksum", "1"),
        ("content-length", "99"),
        ("host", "evil"),
        ("x-forwarded-for", "6.6.6.6"),
        ("cookie", "sid=evil"),
    ]);
    v.peer.send(&Frame::headers(1, block, true)).await.unwrap();
    assert_eq!(v.head(1).await, 200);
    let seen = String::from_utf8_lossy(&got.lock().unwrap()).to_ascii_lowercase();
    let body = &seen[seen.find("\r\n\r\n").expect("a head") + 4..];
    assert!(body.contains("x-checksum: 1"), "{seen}");
    for f in ["content-length", "host", "cookie"] {
        assert!(!body.contains(f), "{f} in the trailers: {seen}");
    }
}

/// Whether `buf` holds a request head and a whole chunked body: its last
/// chunk and the (possibly empty) trailer section after it.
fn chunked_request_complete(buf: &[u8]) -> bool {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let body = &buf[head_end + 4..];
    let last_chunk = body.starts_with(b"0\r\n") || body.windows(4).any(|w| w == b"\n0\r\n");
    last_chunk && body.ends_with(b"\r\n\r\n")
}

/// Answers waiting on an HTTP/2 visitor's connection window take turns:
/// each opening of the window goes round the streams instead of to the
/// same one every time (the streams were served in their map's fixed
/// order, the first taking all the window allowed: four answers of 512
/// KiB came one after the other, and the last waited four times as long).
#[tokio::test(flavor = "multi_thread")]
async fn answers_waiting_for_the_connection_window_take_turns() {
    use tokio::io::AsyncWriteExt;
    const SIZE: usize = 512 * 1024;
    let (server, _) = raw_server(|mut s| async move {
        let _ = gwd_regtests::backend::read_head(&mut s).await;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n");
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&vec![b'x'; SIZE]).await;
    })
    .await;
    let gwd = Gwd::start(&config(server, "timeout.client = \"30s\""));
    // Stream windows of 1 MiB: only the connection's window holds back.
    let mut v = Visitor::connect(
        gwd.addr("www", 0),
        &[(setting::INITIAL_WINDOW_SIZE, 1 << 20)],
    )
    .await;
    for stream in [1, 3, 5, 7] {
        v.request(stream, "GET", "/big", &[]).await;
    }
    // The window becomes 64 KiB exactly, and opens by 64 KiB each time it
    // is used up. `runs`: consecutive bytes from one stream.
    v.peer.send(&Frame::window_update(0, 1)).await.unwrap();
    let mut window = 65_536usize;
    let mut runs: Vec<(u32, usize)> = Vec::new();
    let mut ended = 0;
    let mut first_end = None;
    while ended < 4 {
        let f = match v.next().await.unwrap() {
            In::Frame(f) if f.kind == kind::DATA => f,
            In::Frame(f) if f.kind == kind::GOAWAY || f.kind == kind::RST_STREAM => {
                panic!("{f:?}")
            }
            _ => continue,
        };
        let n = f.payload.len();
        match runs.last_mut() {
            Some((s, len)) if *s == f.stream_id => *len += n,
            _ => runs.push((f.stream_id, n)),
        }
        if f.has_flags(flags::END_STREAM) {
            ended += 1;
            first_end.get_or_insert(runs.len());
        }
        window -= n;
        if window == 0 {
            v.peer.send(&Frame::window_update(0, 65_536)).await.unwrap();
            window = 65_536;
        }
    }
    // While all four were sending, no stream took more than about two
    // windows in a row (one server read of up to 60 KiB over a turn's
    // 32 KiB), where it used to take its whole answer.
    let while_all = &runs[..first_end.unwrap()];
    let longest = while_all.iter().map(|r| r.1).max().unwrap();
    assert!(longest <= 128 * 1024, "a run of {longest} bytes: {runs:?}");
    let total: usize = runs.iter().map(|r| r.1).sum();
    assert_eq!(total, 4 * SIZE);
}
