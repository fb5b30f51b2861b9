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
const ORIGIN_SETTINGS: [u8; 21] = [
    0, 0, 12, 4, 0, 0, 0, 0, 0, //
    0, 3, 0, 0, 0, 100, // MAX_CONCURRENT_STREAMS = 100
    0, 4, 0, 0x10, 0, 0, // INITIAL_WINDOW_SIZE = 1048576
];

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
    assert_eq!(tunnel.peer_settings().initial_window_size(), Some(16384));
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

    // Shut the origin down: GOAWAY, a PING we answer, final GOAWAY, close.
    d.stop();
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
        seen.push(f);
    }
    let goaways: Vec<_> = seen.iter().filter_map(|f| f.goaway_fields()).collect();
    assert!(!goaways.is_empty());
    assert_eq!(
        goaways.last().unwrap(),
        &(3, 0),
        "final GOAWAY names stream 3, NO_ERROR"
    );
    // The origin never opened a stream: every frame is on 0 or a stream we opened.
    for f in &seen {
        assert!([0, 1, 3].contains(&f.stream_id), "{f:?}");
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
    peer.expect_bytes(&GATEWAY_SETTINGS).await.unwrap();
    peer.send_preface().await.unwrap();
    peer.send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
        .await
        .unwrap();
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
