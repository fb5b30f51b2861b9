//! Exact wire behaviour, checked with the raw-frame scripted peer over
//! loopback TLS: the gateway against a scripted origin, the origin (dialer)
//! against a scripted gateway, and PING-based dead-peer detection.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gwd_h2_test_support::{Frame, Peer, flags, hpack, kind, setting};
use gwd_rhttp::{CloseReason, GatewayOptions, NamePolicy, accept_tunnel, registration_names};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Spawns a one-connection gateway running `accept_tunnel`.
async fn one_shot_gateway(
    p: &TestPki,
    opts: GatewayOptions,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<(
        Vec<String>,
        Result<gwd_rhttp::Tunnel, gwd_rhttp::RhttpError>,
    )>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(p));
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        gwd_rhttp::check_alpn_h2(tls.get_ref().1).unwrap();
        let names = registration_names(tls.get_ref().1, NamePolicy::default()).unwrap();
        let t = accept_tunnel(tls, &opts).await;
        let _ = tx.send((names, t));
    });
    (addr, rx)
}

/// SETTINGS exactly as the gateway sends them with default options:
/// ENABLE_PUSH=0, INITIAL_WINDOW_SIZE=1 MiB, no preface before it.
const GATEWAY_SETTINGS: [u8; 21] = [
    0, 0, 12, 4, 0, 0, 0, 0, 0, // header: len 12, SETTINGS, no flags, stream 0
    0, 2, 0, 0, 0, 0, // ENABLE_PUSH = 0
    0, 4, 0, 0x10, 0, 0, // INITIAL_WINDOW_SIZE = 1048576
];

/// SETTINGS exactly as the origin sends them with default options:
/// MAX_CONCURRENT_STREAMS=100, INITIAL_WINDOW_SIZE=1 MiB.
const ORIGIN_SETTINGS: [u8; 27] = [
    0, 0, 18, 4, 0, 0, 0, 0, 0, //
    0, 3, 0, 0, 0, 100, // MAX_CONCURRENT_STREAMS = 100
    0, 4, 0, 0x10, 0, 0, // INITIAL_WINDOW_SIZE = 1048576
    0, 8, 0, 0, 0, 1, // ENABLE_CONNECT_PROTOCOL = 1 (WebSocket, RFC 8441)
];

/// The scripted origin's side of the reversal: the gateway's SETTINGS
/// (exactly), then our preface and SETTINGS (MAX_CONCURRENT_STREAMS 100).
async fn reverse_as_origin<S>(peer: &mut Peer<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    peer.expect_bytes(&GATEWAY_SETTINGS).await.unwrap();
    peer.send_preface().await.unwrap();
    peer.send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
        .await
        .unwrap();
}

/// HAProxy's reverse_server.vtc answer: `:status 200` (static index 8) and
/// content-length "0" (literal with indexing, static name 28).
const HAND_BUILT_200: [u8; 4] = [0x88, 0x5c, 0x01, 0x30];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sends_settings_only_then_opens_streams_1_3_5() {
    let p = pki(&["app.localhost"]);
    let (addr, rx) = one_shot_gateway(&p, GatewayOptions::default()).await;
    let tls = tls_connect(addr, client_tls(&p, "app.localhost")).await;
    let mut peer = Peer::new(tls, WAIT);

    // The gateway speaks first, with SETTINGS and no preface magic.
    peer.expect_bytes(&GATEWAY_SETTINGS).await.unwrap();

    // We are the TCP initiator: preface + SETTINGS, with the values a
    // HAProxy 3.4 origin sends (interop notes).
    peer.send_preface().await.unwrap();
    peer.send(&Frame::settings(&[
        (setting::ENABLE_PUSH, 0),
        (setting::ENABLE_CONNECT_PROTOCOL, 1),
        (setting::INITIAL_WINDOW_SIZE, 16384),
        (setting::MAX_CONCURRENT_STREAMS, 100),
    ]))
    .await
    .unwrap();
    let (ack, skipped) = peer.read_significant().await.unwrap();
    assert!(ack.is_settings_ack(), "expected SETTINGS ACK, got {ack:?}");
    assert!(
        skipped
            .iter()
            .all(|f| f.kind == kind::WINDOW_UPDATE && f.stream_id == 0)
    );

    let (names, tunnel) = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    let tunnel = tunnel.unwrap();
    assert_eq!(names, vec!["app.localhost"]);
    assert_eq!(tunnel.peer_max_concurrent_streams(), Some(100));
    assert_eq!(tunnel.peer_settings().initial_window_size, Some(16384));
    assert_eq!(tunnel.stream_limit(), 100);
    peer.send(&Frame::settings_ack()).await.unwrap();

    for sid in [1u32, 3, 5] {
        let t = tunnel.clone();
        let req = tokio::spawn(async move {
            t.send_request(get(&format!("https://app.localhost/r{sid}")))
                .await
        });
        let (h, skipped) = peer.read_significant().await.unwrap();
        assert!(skipped.iter().all(|f| f.kind == kind::WINDOW_UPDATE));
        assert_eq!(h.kind, kind::HEADERS, "{h:?}");
        assert_eq!(h.stream_id, sid);
        assert!(h.has_flags(flags::END_HEADERS | flags::END_STREAM));
        peer.send(&Frame::headers(sid, HAND_BUILT_200.to_vec(), true))
            .await
            .unwrap();
        let resp = tokio::time::timeout(WAIT, req)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], "0");
    }
    assert_eq!(tunnel.active_streams(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_rejects_missing_preface_and_times_out_silent_peers() {
    let p = pki(&["app.localhost"]);
    let opts = GatewayOptions {
        handshake_timeout: Duration::from_millis(300),
        ..GatewayOptions::default()
    };

    // SETTINGS without the preface: refused.
    let (addr, rx) = one_shot_gateway(&p, opts.clone()).await;
    let tls = tls_connect(addr, client_tls(&p, "app.localhost")).await;
    let mut peer = Peer::new(tls, WAIT);
    peer.expect_bytes(&GATEWAY_SETTINGS).await.unwrap();
    peer.send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
        .await
        .unwrap();
    peer.send_raw(&[0u8; 24]).await.unwrap();
    let (_, r) = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    let e = r.unwrap_err();
    assert!(!e.is_timeout(), "{e}");

    // Silence: the handshake deadline applies.
    let (addr, rx) = one_shot_gateway(&p, opts).await;
    let tls = tls_connect(addr, client_tls(&p, "app.localhost")).await;
    let mut peer = Peer::new(tls, WAIT);
    peer.expect_bytes(&GATEWAY_SETTINGS).await.unwrap();
    let t0 = Instant::now();
    let (_, r) = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    assert!(r.unwrap_err().is_timeout());
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_sends_preface_and_server_settings_and_opens_no_stream() {
    let p = pki(&["app.localhost"]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(&p));
    let mut d = run_dialer(
        dialer_config(addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    let (tcp, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let tls = acceptor.accept(tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let names = registration_names(tls.get_ref().1, NamePolicy::default()).unwrap();
    assert_eq!(names, vec!["app.localhost"]);
    let mut peer = Peer::new(tls, WAIT);

    // Preface, then SETTINGS with server-role values, first thing.
    peer.expect_preface().await.unwrap();
    peer.expect_bytes(&ORIGIN_SETTINGS).await.unwrap();
    assert_eq!(d.stats.snapshot().reversals, 0);

    // Gateway: SETTINGS only, no preface.
    peer.send(&Frame::settings(&[
        (setting::MAX_CONCURRENT_STREAMS, 100),
        (setting::INITIAL_WINDOW_SIZE, 16384),
        (setting::ENABLE_CONNECT_PROTOCOL, 1),
    ]))
    .await
    .unwrap();
    let mut seen = Vec::new();
    let (ack, skipped) = peer.read_significant().await.unwrap();
    assert!(ack.is_settings_ack(), "{ack:?}");
    seen.extend(skipped);
    assert!(
        d.stats
            .wait_until(|s| s.reversals == 1 && s.tunnels_up == 1, WAIT)
            .await
    );
    peer.send(&Frame::settings_ack()).await.unwrap();

    for sid in [1u32, 3] {
        let block = hpack::encode_literal(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/x"),
            (":authority", "app.localhost"),
        ]);
        peer.send(&Frame::headers(sid, block, true)).await.unwrap();
        let (h, skipped) = peer.read_significant().await.unwrap();
        seen.extend(skipped);
        assert_eq!(h.kind, kind::HEADERS, "{h:?}");
        assert_eq!(h.stream_id, sid);
        assert_eq!(h.header_block().unwrap()[0], 0x88, ":status 200 indexed");
        assert!(h.has_flags(flags::END_STREAM));
        seen.push(h);
    }

    // Shut the origin down: GOAWAY(2^31-1) and a PING; a request we send
    // before answering that PING (it crossed the first GOAWAY) is still
    // served; then the final GOAWAY names it, and the connection closes.
    d.stop();
    loop {
        let f = match peer.read_frame().await {
            Ok(f) => f,
            Err(e) if e.is_eof() => break,
            Err(gwd_h2_test_support::PeerError::Io(_)) => break,
            Err(e) => panic!("{e}"),
        };
        if f.goaway_fields() == Some((0x7fff_ffff, 0)) {
            let block = hpack::encode_literal(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/late"),
                (":authority", "app.localhost"),
            ]);
            peer.send(&Frame::headers(5, block, true)).await.unwrap();
        }
        if f.kind == kind::PING && !f.has_flags(flags::ACK) {
            let mut opaque = [0u8; 8];
            opaque.copy_from_slice(&f.payload);
            peer.send(&Frame::ping(opaque, true)).await.unwrap();
        }
        seen.push(f);
    }
    let goaways: Vec<_> = seen.iter().filter_map(|f| f.goaway_fields()).collect();
    assert_eq!(
        goaways,
        vec![(0x7fff_ffff, 0), (5, 0)],
        "two-step GOAWAY, the final one naming stream 5, NO_ERROR"
    );
    assert!(
        seen.iter().any(|f| f.kind == kind::HEADERS
            && f.stream_id == 5
            && f.header_block().unwrap()[0] == 0x88),
        "the request that crossed the first GOAWAY got its 200"
    );
    // The origin never opened a stream: every frame is on 0 or a stream we opened.
    for f in &seen {
        assert!([0, 1, 3, 5].contains(&f.stream_id), "{f:?}");
        assert_ne!(f.kind, kind::PUSH_PROMISE);
    }
    let r = tokio::time::timeout(WAIT, &mut d.task)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_ok());
    assert_eq!(d.stats.snapshot().tunnels_up, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_drops_an_origin_that_stops_answering_pings() {
    let p = pki(&["app.localhost"]);
    let iv = Duration::from_millis(200);
    let opts = GatewayOptions {
        idle_ping: Some(iv),
        ..GatewayOptions::default()
    };
    let (addr, rx) = one_shot_gateway(&p, opts).await;
    let tls = tls_connect(addr, client_tls(&p, "app.localhost")).await;
    let mut peer = Peer::new(tls, WAIT);
    reverse_as_origin(&mut peer).await;
    let (ack, _) = peer.read_significant().await.unwrap();
    assert!(ack.is_settings_ack());
    peer.send(&Frame::settings_ack()).await.unwrap();
    let last_byte = Instant::now();
    let (_, tunnel) = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    let tunnel = tunnel.unwrap();

    // From now on the origin is silent: it reads but never answers.
    let (ping, _) = peer.read_until(|f| f.kind == kind::PING).await.unwrap();
    assert!(!ping.has_flags(flags::ACK));
    let reason = tokio::time::timeout(WAIT, tunnel.closed()).await.unwrap();
    let took = last_byte.elapsed();
    assert_eq!(reason, CloseReason::PingTimeout);
    assert!(took >= iv, "closed too early: {took:?}");
    assert!(took <= 2 * iv + Duration::from_millis(400), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_drops_a_gateway_that_stops_answering_pings_and_redials() {
    let p = pki(&["app.localhost"]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(&p));
    let iv = Duration::from_millis(200);
    let mut cfg = dialer_config(addr, &p, "app.localhost", 1);
    cfg.idle_ping = Some(iv);
    cfg.handshake_timeout = Duration::from_millis(500);
    let d = run_dialer(cfg, echo_service("app"));

    let (tcp, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let tls = acceptor.accept(tcp).await.unwrap();
    let mut peer = Peer::new(tls, WAIT);
    peer.expect_preface().await.unwrap();
    peer.expect_bytes(&ORIGIN_SETTINGS).await.unwrap();
    peer.send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
        .await
        .unwrap();
    let last_byte = Instant::now();
    assert!(d.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);
    let (ping, _) = peer.read_until(|f| f.kind == kind::PING).await.unwrap();
    assert!(!ping.has_flags(flags::ACK));
    assert!(d.stats.wait_until(|s| s.ping_timeouts == 1, WAIT).await);
    let took = last_byte.elapsed();
    assert!(took <= 2 * iv + Duration::from_millis(400), "took {took:?}");
    assert!(d.stats.wait_until(|s| s.tunnels_up == 0, WAIT).await);
    // And it dials again.
    let again = tokio::time::timeout(WAIT, l.accept()).await.unwrap();
    assert!(again.is_ok());
    assert!(d.stats.wait_until(|s| s.dials >= 2, WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_goaway_before_any_stream_names_stream_0() {
    let p = pki(&["app.localhost"]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(&p));
    let mut d = run_dialer(
        dialer_config(addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    let (tcp, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let mut peer = Peer::new(acceptor.accept(tcp).await.unwrap(), WAIT);
    peer.expect_preface().await.unwrap();
    peer.expect_bytes(&ORIGIN_SETTINGS).await.unwrap();
    peer.send(&Frame::settings(&[])).await.unwrap();
    assert!(d.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);
    d.stop();
    let mut goaways = Vec::new();
    loop {
        let f = match peer.read_frame().await {
            Ok(f) => f,
            Err(e) if e.is_eof() => break,
            Err(gwd_h2_test_support::PeerError::Io(_)) => break,
            Err(e) => panic!("{e}"),
        };
        if f.kind == kind::PING && !f.has_flags(flags::ACK) {
            let mut opaque = [0u8; 8];
            opaque.copy_from_slice(&f.payload);
            peer.send(&Frame::ping(opaque, true)).await.unwrap();
        }
        assert!(f.stream_id == 0, "{f:?}");
        goaways.extend(f.goaway_fields());
    }
    assert_eq!(goaways.last(), Some(&(0, 0)));
    let r = tokio::time::timeout(WAIT, &mut d.task)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_without_h2_alpn_is_refused() {
    let p = pki(&["app.localhost"]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(&p));
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        gwd_rhttp::check_alpn_h2(tls.get_ref().1)
    });
    let (cert, key) = client_files(&p, "app.localhost");
    let no_alpn = gwd_tls::client_config(&gwd_tls::ClientTlsSettings {
        verify: gwd_tls::PeerVerify::Required,
        ca: Some(p.files.ca_cert.clone()),
        alpn: vec![],
        cert: Some(cert),
        key: Some(key),
    })
    .unwrap();
    let _tls = tls_connect(addr, no_alpn).await;
    let r = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert!(
        matches!(r, Err(gwd_rhttp::RhttpError::NotH2(None))),
        "{r:?}"
    );
}

/// A request body that yields one chunk and then fails.
struct FailingBody(u8);

impl http_body::Body for FailingBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        self.0 += 1;
        std::task::Poll::Ready(Some(if self.0 == 1 {
            Ok(http_body::Frame::data(bytes::Bytes::from_static(b"first")))
        } else {
            Err(std::io::Error::other("upload broke"))
        }))
    }
}

/// A request body that breaks: the gateway cancels the stream
/// (CANCEL: the request is abandoned, nothing went wrong inside) and the waiting request fails at once instead of
/// hanging, and the stream's place in the tunnel is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_body_resets_the_stream_and_frees_its_slot() {
    let p = pki(&["app.localhost"]);
    let (addr, rx) = one_shot_gateway(&p, GatewayOptions::default()).await;
    let tls = tls_connect(addr, client_tls(&p, "app.localhost")).await;
    let mut origin = Peer::new(tls, WAIT);
    reverse_as_origin(&mut origin).await;
    let (_, tunnel) = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    let tunnel = tunnel.unwrap();
    let req = http::Request::post("https://app.localhost/up")
        .body(FailingBody(0))
        .unwrap();
    let t2 = tunnel.clone();
    let sent = tokio::spawn(async move { t2.send_request(req).await });
    let (rst, _) = origin
        .read_until(|f| f.kind == kind::RST_STREAM)
        .await
        .unwrap();
    assert_eq!(rst.stream_id, 1);
    assert_eq!(&rst.payload[..], &8u32.to_be_bytes(), "CANCEL");
    let r = tokio::time::timeout(Duration::from_secs(2), sent)
        .await
        .expect("the request ends with the reset, not later")
        .unwrap();
    assert!(r.is_err());
    assert_eq!(tunnel.active_streams(), 0);
}

/// The origin answers before reading the request body: its handler drops
/// the body, the response goes out whole, then RST_STREAM(NO_ERROR)
/// (RFC 9113 section 8.1), and DATA still in flight is given back to the
/// gateway's window. The handler also sees the tunnel's info even when
/// the gateway's first HEADERS arrives together with its SETTINGS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_ends_the_stream_with_no_error_and_returns_credit() {
    let p = pki(&["app.localhost"]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(&p));
    let service = |req: http::Request<gwd_rhttp::IncomingBody>| async move {
        let status = if req
            .extensions()
            .get::<std::sync::Arc<gwd_rhttp::TunnelInfo>>()
            .is_some()
        {
            413
        } else {
            500
        };
        drop(req);
        http::Response::builder()
            .status(status)
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"no")))
            .unwrap()
    };
    let _d = run_dialer(dialer_config(addr, &p, "app.localhost", 1), service);
    let (tcp, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let tls = acceptor.accept(tcp).await.unwrap();
    let mut gw = Peer::new(tls, WAIT);
    gw.expect_preface().await.unwrap();
    // SETTINGS and the first request back to back, no waiting.
    gw.send(&Frame::settings(&[(setting::INITIAL_WINDOW_SIZE, 65_535)]))
        .await
        .unwrap();
    let block = hpack::encode_literal(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/upload"),
        (":authority", "app.localhost"),
    ]);
    gw.send(&Frame::headers(1, block, false)).await.unwrap();
    gw.send(&Frame::data(1, vec![0u8; 16_000], false))
        .await
        .unwrap();
    let (h, _) = gw
        .read_until(|f| f.kind == kind::HEADERS && f.stream_id == 1)
        .await
        .unwrap();
    let fields = hpack::decode_simple(&h.header_block().unwrap()).unwrap();
    assert!(
        fields.contains(&(":status".into(), "413".into())),
        "the handler saw the tunnel's info: {fields:?}"
    );
    let (rst, _) = gw
        .read_until(|f| f.kind == kind::RST_STREAM && f.stream_id == 1)
        .await
        .unwrap();
    assert_eq!(&rst.payload[..], &0u32.to_be_bytes(), "NO_ERROR");
    // More DATA already in flight on the reset stream: its connection
    // credit comes back (a WINDOW_UPDATE on stream 0 once half of the
    // origin's 4 MiB connection window is owed).
    for _ in 0..135 {
        gw.send(&Frame::data(1, vec![0u8; 16_000], false))
            .await
            .unwrap();
    }
    let (wu, _) = gw
        .read_until(|f| f.kind == kind::WINDOW_UPDATE && f.stream_id == 0)
        .await
        .unwrap();
    assert_eq!(wu.stream_id, 0);
}

/// Write semantics of rustls: `poll_write` takes bytes into its own buffer
/// (up to a bound) even when the socket is full; only `poll_flush` pushes
/// them out. Over a small pipe this makes flushes return Pending.
struct BufferingIo {
    inner: tokio::io::DuplexStream,
    buf: Vec<u8>,
}

impl BufferingIo {
    fn push(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use tokio::io::AsyncWrite;
        while !self.buf.is_empty() {
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &self.buf) {
                std::task::Poll::Ready(Ok(n)) => {
                    self.buf.drain(..n);
                }
                std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncRead for BufferingIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for BufferingIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        const CAP: usize = 64 * 1024;
        if self.buf.len() >= CAP {
            let _ = self.push(cx);
            if self.buf.len() >= CAP {
                return std::task::Poll::Pending;
            }
        }
        let n = data.len().min(CAP - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        std::task::Poll::Ready(Ok(n))
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.push(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.push(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Over a transport that buffers writes until flushed (TLS does), every
/// byte of a 200 KiB upload reaches a slow origin: the driver keeps
/// flushing until the transport has taken everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_writes_are_flushed_to_a_slow_peer() {
    let (ours, theirs) = tokio::io::duplex(2048);
    let io = BufferingIo {
        inner: ours,
        buf: Vec::new(),
    };
    let gateway = tokio::spawn(async move { accept_tunnel(io, &GatewayOptions::default()).await });
    let mut origin = Peer::new(theirs, WAIT);
    reverse_as_origin(&mut origin).await;
    let tunnel = tokio::time::timeout(WAIT, gateway)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    const SIZE: usize = 200 * 1024;
    let req = http::Request::post("https://app.localhost/up")
        .body(http_body_util::Full::new(bytes::Bytes::from(vec![
            5u8;
            SIZE
        ])))
        .unwrap();
    let _sent = tokio::spawn(async move { tunnel.send_request(req).await });
    let mut got = 0usize;
    loop {
        let f = origin.read_frame().await.expect("the whole body arrives");
        if f.kind == kind::DATA && f.stream_id == 1 {
            got += f.payload.len();
            if !f.payload.is_empty() {
                let n = f.payload.len() as u32;
                origin.send(&Frame::window_update(0, n)).await.unwrap();
                origin.send(&Frame::window_update(1, n)).await.unwrap();
            }
            if f.has_flags(flags::END_STREAM) {
                break;
            }
        }
    }
    assert_eq!(got, SIZE);
}

/// A gateway that breaks HTTP/2 (a zero WINDOW_UPDATE on stream 0) gets
/// GOAWAY(PROTOCOL_ERROR) from the origin, which counts the tunnel error
/// and dials again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_from_a_gateway_gets_goaway_and_is_counted() {
    let p = pki(&["app.localhost"]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_tls(&p));
    let d = run_dialer(
        dialer_config(addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    let (tcp, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let tls = acceptor.accept(tcp).await.unwrap();
    let mut gw = Peer::new(tls, WAIT);
    gw.expect_preface().await.unwrap();
    gw.send(&Frame::settings(&[])).await.unwrap();
    assert!(d.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);
    gw.send(&Frame::new(kind::WINDOW_UPDATE, 0, 0, &[0u8, 0, 0, 0][..]))
        .await
        .unwrap();
    let (goaway, _) = gw.read_until(|f| f.kind == kind::GOAWAY).await.unwrap();
    assert_eq!(
        goaway.goaway_fields().map(|g| g.1),
        Some(0x1),
        "PROTOCOL_ERROR"
    );
    assert!(
        d.stats
            .wait_until(|s| s.tunnel_errors == 1 && s.tunnels_up == 0, WAIT)
            .await
    );
    // And it dials again.
    let again = tokio::time::timeout(WAIT, l.accept()).await;
    assert!(again.is_ok(), "the origin re-dials after the error");
}
