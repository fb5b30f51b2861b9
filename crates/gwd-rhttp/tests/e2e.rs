//! Gateway <-> origin end to end through the public APIs, over loopback
//! TLS with a PKI generated per test.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use gwd_rhttp::{GatewayOptions, RegistryErrorKind};
use http_body_util::{BodyExt, Full};
use tokio::sync::Notify;

async fn body_of(resp: http::Response<gwd_rhttp::IncomingBody>) -> Bytes {
    resp.into_body().collect_bytes(64 << 20).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_the_origin_and_answers_come_back() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let d = run_dialer(
        dialer_config(gw.addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);
    assert!(d.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);

    let lease = gw.registry.acquire("APP.localhost", WAIT).await.unwrap();
    assert_eq!(lease.tunnel().peer_max_concurrent_streams(), Some(100));
    let resp = lease
        .send_request(get("https://app.localhost/hello"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-origin"], "app");
    assert_eq!(resp.headers()["x-path"], "/hello");
    assert!(body_of(resp).await.is_empty());

    // A 3 MB body each way, streamed through flow control.
    let big = Bytes::from(vec![7u8; 3 << 20]);
    let req = http::Request::post("https://app.localhost/upload")
        .body(Full::new(big.clone()))
        .unwrap();
    let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
    let resp = lease.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), big.len());
    assert_eq!(got, big);
    assert!(d.stats.snapshot().requests >= 2);
    // Slots are released once the bodies are consumed.
    assert_eq!(gw.live_tunnels()[0].active_streams(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbconn_tunnels_and_least_busy_choice() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    // Dial by host name: resolved at each dial, the right port used.
    let mut cfg = dialer_config(gw.addr, &p, "app.localhost", 3);
    cfg.gateway = format!("localhost:{}", gw.addr.port());
    let d = run_dialer(cfg, echo_service("app"));
    assert!(gw.registry.wait_for_tunnels("app.localhost", 3, WAIT).await);
    assert!(d.stats.wait_until(|s| s.tunnels_up == 3, WAIT).await);
    let s = d.stats.snapshot();
    assert_eq!(s.reversals, 3);
    assert_eq!(s.dial_failures, 0);
    assert!(s.reversal_latency_last_us > 0);
    // The histogram is cumulative and its last bucket counts every reversal.
    let h = s.reversal_latency_cumulative;
    assert_eq!(h[h.len() - 1], 3);
    assert!(h.windows(2).all(|w| w[0] <= w[1]), "{h:?}");
    let slot = gwd_rhttp::REVERSAL_LATENCY_BOUNDS_US
        .iter()
        .position(|b| s.reversal_latency_last_us <= *b)
        .unwrap_or(h.len() - 1);
    assert!(h[slot] >= 1, "the last reversal is in its bucket: {h:?}");
    // The gateway side knows each tunnel's age and latency.
    let snap = gw.registry.snapshot();
    assert_eq!(snap.len(), 3);
    assert!(
        snap.iter()
            .all(|t| t.reversal_latency > std::time::Duration::ZERO)
    );

    // Three leases land on three different tunnels, the next three again
    // spread one per tunnel.
    let mut leases = Vec::new();
    for round in 1..=2 {
        for _ in 0..3 {
            leases.push(gw.registry.try_acquire("app.localhost").unwrap());
        }
        let mut counts: Vec<usize> = gw
            .registry
            .snapshot()
            .iter()
            .map(|r| r.active_streams)
            .collect();
        counts.sort();
        assert_eq!(counts, vec![round, round, round]);
    }
    // Requests still work with leases held.
    let lease = gw.registry.try_acquire("app.localhost").unwrap();
    let chosen = lease.tunnel().id();
    let resp = lease
        .send_request(get("https://app.localhost/x"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    drop(leases);
    assert!(gw.registry.snapshot().iter().all(|r| r.active_streams == 0));
    assert!(gw.registry.snapshot().iter().any(|r| r.id == chosen));

    // Idle tunnels tie: one lease at a time, each dropped before the
    // next, still takes turns over all three. Names match whatever their
    // case.
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..6 {
        let name = if i % 2 == 0 {
            "app.localhost"
        } else {
            "App.LocalHost"
        };
        let lease = gw.registry.try_acquire(name).unwrap();
        ids.insert(lease.tunnel().id());
    }
    assert_eq!(ids.len(), 3, "ties went to {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_tunnels_queue_then_serve() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let mut cfg = dialer_config(gw.addr, &p, "app.localhost", 1);
    cfg.max_concurrent_streams = 2;
    let _d = run_dialer(cfg, echo_service("app"));
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);

    let a = gw.registry.try_acquire("app.localhost").unwrap();
    assert_eq!(a.tunnel().stream_limit(), 2);
    let b = gw.registry.try_acquire("app.localhost").unwrap();
    let e = gw.registry.try_acquire("app.localhost").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::Saturated);
    let t0 = Instant::now();
    let e = gw
        .registry
        .acquire("app.localhost", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::Saturated);
    assert!(t0.elapsed() >= Duration::from_millis(100));
    assert_eq!(gw.registry.stats().saturated, 2);

    // A waiter gets the slot as soon as one frees up.
    let reg = gw.registry.clone();
    let waiter = tokio::spawn(async move { reg.acquire("app.localhost", WAIT).await });
    tokio::task::yield_now().await;
    let resp = a
        .send_request(get("https://app.localhost/a"))
        .await
        .unwrap();
    drop(resp); // releases the slot
    let c = tokio::time::timeout(WAIT, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let resp = c
        .send_request(get("https://app.localhost/c"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tunnel_is_a_distinct_error_and_waiters_see_late_registration() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let e = gw.registry.try_acquire("app.localhost").unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::NoTunnel);
    let e = gw
        .registry
        .acquire("app.localhost", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), RegistryErrorKind::NoTunnel);
    assert_eq!(gw.registry.stats().no_tunnel, 2);

    // A request waiting with tunnel-wait is served once the origin registers.
    let reg = gw.registry.clone();
    let waiter = tokio::spawn(async move { reg.acquire("app.localhost", WAIT).await });
    let _d = run_dialer(
        dialer_config(gw.addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    let lease = tokio::time::timeout(WAIT, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let resp = lease
        .send_request(get("https://app.localhost/"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_never_mixed() {
    let _serial = serial().await;
    let p = pki(&["app.localhost", "other.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let _a = run_dialer(
        dialer_config(gw.addr, &p, "app.localhost", 2),
        echo_service("app.localhost"),
    );
    let _b = run_dialer(
        dialer_config(gw.addr, &p, "other.localhost", 1),
        echo_service("other.localhost"),
    );
    assert!(gw.registry.wait_for_tunnels("app.localhost", 2, WAIT).await);
    assert!(
        gw.registry
            .wait_for_tunnels("other.localhost", 1, WAIT)
            .await
    );
    assert_eq!(
        gw.registry.names(),
        vec!["app.localhost", "other.localhost"]
    );

    // A pseudo-random interleaving of names, concurrent requests.
    let names = ["app.localhost", "other.localhost", "nobody.localhost"];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut tasks = Vec::new();
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let name = names[(x % 3) as usize];
        let reg = gw.registry.clone();
        tasks.push(tokio::spawn(async move {
            match reg.try_acquire(name) {
                Ok(lease) => {
                    let resp = lease
                        .send_request(get(&format!("https://{name}/")))
                        .await
                        .unwrap();
                    let origin = resp.headers()["x-origin"].to_str().unwrap().to_string();
                    (name, Some(origin))
                }
                Err(e) => {
                    assert_eq!(e.kind(), RegistryErrorKind::NoTunnel, "{name}");
                    (name, None)
                }
            }
        }));
    }
    let mut served = 0;
    for t in tasks {
        let (name, origin) = tokio::time::timeout(WAIT, t).await.unwrap().unwrap();
        match origin {
            Some(o) => {
                assert_eq!(o, name, "request for {name} reached {o}");
                served += 1;
            }
            None => assert_eq!(name, "nobody.localhost"),
        }
    }
    assert!(served > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_goaway_dials_replacement_without_failed_requests() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let d = run_dialer(
        dialer_config(gw.addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);

    // Steady traffic, each request allowed to wait for a tunnel.
    let reg = gw.registry.clone();
    let stop = Arc::new(Notify::new());
    let stop2 = stop.clone();
    let traffic = tokio::spawn(async move {
        let mut ok = 0u32;
        loop {
            let lease = reg.acquire("app.localhost", WAIT).await.expect("tunnel");
            let resp = lease
                .send_request(get("https://app.localhost/t"))
                .await
                .expect("response");
            assert_eq!(resp.status(), 200);
            ok += 1;
            let n = stop2.notified();
            tokio::select! {
                _ = n => return ok,
                _ = tokio::task::yield_now() => {}
            }
        }
    });
    assert!(d.stats.wait_until(|s| s.requests >= 5, WAIT).await);
    let old = gw.live_tunnels();
    assert_eq!(old.len(), 1);
    old[0].close();
    assert!(d.stats.wait_until(|s| s.goaways_received == 1, WAIT).await);
    assert!(d.stats.wait_until(|s| s.reversals == 2, WAIT).await);
    let before = d.stats.snapshot().requests;
    assert!(d.stats.wait_until(|s| s.requests >= before + 5, WAIT).await);
    stop.notify_one();
    let ok = tokio::time::timeout(WAIT, traffic).await.unwrap().unwrap();
    assert!(ok >= 10);
    assert!(tokio::time::timeout(WAIT, old[0].closed()).await.is_ok());
    let s = d.stats.snapshot();
    assert_eq!(s.dial_failures, 0);
    assert!(d.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_shutdown_sends_goaway_and_drains() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (r2, e2) = (release.clone(), entered.clone());
    let service = move |_req: http::Request<gwd_rhttp::IncomingBody>| {
        let (r, e) = (r2.clone(), e2.clone());
        async move {
            e.notify_one();
            r.notified().await;
            http::Response::new(Full::new(Bytes::from_static(b"done")))
        }
    };
    let mut d = run_dialer(dialer_config(gw.addr, &p, "app.localhost", 2), service);
    assert!(gw.registry.wait_for_tunnels("app.localhost", 2, WAIT).await);
    assert!(d.stats.wait_until(|s| s.tunnels_up == 2, WAIT).await);

    let lease = gw.registry.try_acquire("app.localhost").unwrap();
    let tunnel = lease.tunnel().clone();
    let inflight =
        tokio::spawn(async move { lease.send_request(get("https://app.localhost/slow")).await });
    tokio::time::timeout(WAIT, entered.notified())
        .await
        .unwrap();

    d.stop();
    // Both tunnels announce GOAWAY and leave the registry...
    let mut ev = tunnel.subscribe();
    tokio::time::timeout(WAIT, ev.wait_for(|e| e.goaway.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert!(gw.registry.wait_for_tunnels("app.localhost", 0, WAIT).await);
    let deadline = tokio::time::Instant::now() + WAIT;
    while gw.registry.tunnel_count("app.localhost") > 0 && tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert_eq!(gw.registry.tunnel_count("app.localhost"), 0);
    // ...but run() waits for the in-flight request.
    assert!(!d.task.is_finished());
    release.notify_one();
    let resp = tokio::time::timeout(WAIT, inflight)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(body_of(resp).await, "done");
    let r = tokio::time::timeout(WAIT, &mut d.task)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_ok());
    assert_eq!(gw.registry.stats().tunnels, 0, "registry gauge back to 0");
    let s = d.stats.snapshot();
    assert_eq!(s.tunnels_up, 0, "gauge back to 0");
    assert_eq!(s.tunnels_closed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connects_back_off_then_succeed_when_the_gateway_appears() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    // Reserve a port, then free it so connects are refused.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let d = run_dialer(
        dialer_config(addr, &p, "app.localhost", 2),
        echo_service("app"),
    );
    assert!(d.stats.wait_until(|s| s.dial_failures >= 6, WAIT).await);
    let s = d.stats.snapshot();
    assert_eq!(s.tunnels_up, 0);
    assert_eq!(s.reversals, 0);
    // Backed off, not a hot loop: refused connects take well under a
    // millisecond, while 2 slots backing off (20 ms base, 200 ms cap) make
    // about 16 attempts in half a second. A time-based check.
    let before = d.stats.snapshot().dial_failures;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let more = d.stats.snapshot().dial_failures - before;
    assert!(more <= 60, "{more} dial attempts in 500 ms");
    assert!(more >= 2, "slots stopped retrying: {more}");

    let l = tokio::net::TcpListener::bind(addr).await.unwrap();
    let gw = Gateway::start_on(l, &p, GatewayOptions::default());
    assert!(gw.registry.wait_for_tunnels("app.localhost", 2, WAIT).await);
    assert!(d.stats.wait_until(|s| s.tunnels_up == 2, WAIT).await);
    let lease = gw.registry.try_acquire("app.localhost").unwrap();
    let resp = lease
        .send_request(get("https://app.localhost/"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_tunnel_is_redialed_and_gauge_follows() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let d = run_dialer(
        dialer_config(gw.addr, &p, "app.localhost", 2),
        echo_service("app"),
    );
    assert!(gw.registry.wait_for_tunnels("app.localhost", 2, WAIT).await);
    let t = gw.live_tunnels();
    t[0].abort();
    let deadline = tokio::time::Instant::now() + WAIT;
    while gw.registry.stats().removed < 1 && tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert!(gw.registry.stats().removed >= 1);
    // On a loaded machine another tunnel may also be recycled meanwhile, so
    // count "at least"; what matters is that every loss is re-dialed and the
    // gauges come back to nbconn.
    assert!(d.stats.wait_until(|s| s.tunnels_closed >= 1, WAIT).await);
    assert!(
        d.stats
            .wait_until(
                |s| s.reversals == 2 + s.tunnels_closed && s.tunnels_up == 2,
                WAIT
            )
            .await
    );
    assert!(gw.registry.wait_for_tunnels("app.localhost", 2, WAIT).await);
    let rs = gw.registry.stats();
    assert_eq!(rs.tunnels, 2);
    assert_eq!(rs.registered, 2 + rs.removed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pings_keep_healthy_tunnels_up() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let iv = Duration::from_millis(50);
    let gw = Gateway::start(
        &p,
        GatewayOptions {
            idle_ping: Some(iv),
            ..GatewayOptions::default()
        },
    )
    .await;
    let mut cfg = dialer_config(gw.addr, &p, "app.localhost", 2);
    cfg.idle_ping = Some(iv);
    let d = run_dialer(cfg, echo_service("app"));
    assert!(gw.registry.wait_for_tunnels("app.localhost", 2, WAIT).await);
    // A time-based check, not a readiness wait: ten idle intervals pass.
    tokio::time::sleep(10 * iv).await;
    let s = d.stats.snapshot();
    assert_eq!(s.ping_timeouts, 0);
    assert_eq!(s.tunnels_up, 2);
    assert_eq!(s.reversals, 2);
    assert_eq!(gw.registry.tunnel_count("app.localhost"), 2);
    let rtt = gw.live_tunnels()[0].ping(WAIT).await.unwrap();
    assert!(rtt < WAIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_another_ca_are_refused_and_retried() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let rogue = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    // The rogue origin trusts the real gateway but presents a certificate
    // signed by another CA.
    let mut cfg = dialer_config(gw.addr, &rogue, "app.localhost", 1);
    let (cert, key) = client_files(&rogue, "app.localhost");
    cfg.tls = gwd_tls::client_config(&gwd_tls::ClientTlsSettings {
        verify: gwd_tls::PeerVerify::Required,
        ca: Some(p.files.ca_cert.clone()),
        alpn: vec!["h2".into()],
        cert: Some(cert),
        key: Some(key),
    })
    .unwrap();
    let d = run_dialer(cfg, echo_service("rogue"));
    assert!(d.stats.wait_until(|s| s.dial_failures >= 2, WAIT).await);
    let s = d.stats.snapshot();
    assert_eq!(s.reversals, 0);
    assert_eq!(s.tunnels_up, 0);
    assert_eq!(s.tunnel_errors, 0, "a refused dial is not a tunnel error");
    assert_eq!(gw.registry.tunnel_count("app.localhost"), 0);
    assert!(gw.tunnels.lock().unwrap().is_empty());
    // The origin learns why from the gateway's TLS alert. (Both test CAs
    // have the same name, so the gateway finds an "issuer" whose signature
    // does not verify; another name gives unknown_ca, see
    // regtests/tests/origin_feedback.rs.)
    let why = d.stats.last_dial_error().unwrap();
    assert!(
        why.starts_with("gateway refused the tunnel: TLS alert decrypt_error (a signature did not verify: this origin's certificate is signed by a CA the gateway does not trust"),
        "{why}"
    );
}

/// A gateway that refuses after the TLS handshake: its SETTINGS, then
/// GOAWAY(0, REFUSED_STREAM) with `debug`, then the close.
async fn refusing_gateway(
    p: &TestPki,
    debug: Bytes,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls(p));
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let mut out = bytes::BytesMut::new();
            gwd_mux_h2::frame::encode(
                &gwd_mux_h2::frame::Frame::Settings {
                    ack: false,
                    settings: Default::default(),
                },
                &mut out,
            );
            gwd_mux_h2::frame::encode(
                &gwd_mux_h2::frame::Frame::GoAway {
                    last_stream: 0,
                    code: gwd_rhttp::REFUSAL_CODE,
                    debug: debug.clone(),
                },
                &mut out,
            );
            let _ = tls.write_all(&out).await;
            let _ = tls.shutdown().await;
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut sink)).await;
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_goaway_is_no_tunnel_and_its_reason_is_kept_escaped() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let (addr, gw) = refusing_gateway(
        &p,
        Bytes::from_static(b"name 'app.localhost' is not allowed"),
    )
    .await;
    let d = run_dialer(
        dialer_config(addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    assert!(d.stats.wait_until(|s| s.dial_failures >= 2, WAIT).await);
    let s = d.stats.snapshot();
    // The SETTINGS before the GOAWAY is not a reversal.
    assert_eq!((s.reversals, s.tunnels_up, s.tunnel_errors), (0, 0, 0));
    assert_eq!(
        d.stats.last_dial_error().unwrap(),
        "gateway refused registration: name 'app.localhost' is not allowed (GOAWAY REFUSED_STREAM)"
    );
    drop(d);
    gw.abort();

    // The debug data is the peer's: escaped and cut before it is logged.
    let mut hostile = b"\x1b[2J\r\nFAKE LOG LINE ".to_vec();
    hostile.extend_from_slice(&[b'x'; 1000]);
    let (addr, gw) = refusing_gateway(&p, Bytes::from(hostile)).await;
    let d = run_dialer(
        dialer_config(addr, &p, "app.localhost", 1),
        echo_service("app"),
    );
    assert!(d.stats.wait_until(|s| s.dial_failures >= 1, WAIT).await);
    let kept = 256 - b"\x1b[2J\r\nFAKE LOG LINE ".len();
    assert_eq!(
        d.stats.last_dial_error().unwrap(),
        format!(
            "gateway refused registration: \\x1b[2J\\x0d\\x0aFAKE LOG LINE {}... (GOAWAY REFUSED_STREAM)",
            "x".repeat(kept)
        )
    );
    drop(d);
    gw.abort();
}

/// When one tunnel of a set comes back, the slots still waiting out
/// their backoff re-dial at once. Each slot waits up to 8 s (base = cap)
/// after its failure; without the wake-up the four tunnels would come
/// back spread over those 8 s (within 1 s of each other by chance less
/// than 1% of the time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_coming_back_wakes_the_slots_still_backing_off() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut cfg = dialer_config(addr, &p, "app.localhost", 4);
    cfg.backoff = gwd_rhttp::BackoffConfig {
        base: Duration::from_secs(8),
        cap: Duration::from_secs(8),
        multiplier: 2,
        reset_after: Duration::from_secs(60),
    };
    let d = run_dialer(cfg, echo_service("app"));
    // Every slot failed once and sleeps up to 8 s.
    assert!(d.stats.wait_until(|s| s.dial_failures >= 4, WAIT).await);
    let l = tokio::net::TcpListener::bind(addr).await.unwrap();
    let _gw = Gateway::start_on(l, &p, GatewayOptions::default());
    assert!(
        d.stats
            .wait_until(|s| s.tunnels_up >= 1, Duration::from_secs(20))
            .await
    );
    let first = Instant::now();
    assert!(
        d.stats
            .wait_until(|s| s.tunnels_up == 4, Duration::from_secs(20))
            .await
    );
    let spread = first.elapsed();
    assert!(
        spread < Duration::from_secs(1),
        "the set took {spread:?} to fill after the first tunnel"
    );
    // Woken dials succeeded: no extra failure.
    assert_eq!(d.stats.snapshot().dial_failures, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_fail_when_a_tunnel_dies_and_unsent_ones_are_retryable() {
    let _serial = serial().await;
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let entered = Arc::new(Notify::new());
    let e2 = entered.clone();
    let service = move |_req: http::Request<gwd_rhttp::IncomingBody>| {
        let e = e2.clone();
        async move {
            e.notify_one();
            std::future::pending::<()>().await;
            http::Response::new(Full::new(Bytes::new()))
        }
    };
    let d = run_dialer(dialer_config(gw.addr, &p, "app.localhost", 1), service);
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);
    let lease = gw.registry.try_acquire("app.localhost").unwrap();
    let tunnel = lease.tunnel().clone();
    let inflight =
        tokio::spawn(async move { lease.send_request(get("https://app.localhost/")).await });
    tokio::time::timeout(WAIT, entered.notified())
        .await
        .unwrap();
    tunnel.abort();
    let err = tokio::time::timeout(WAIT, inflight)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(!err.error.is_retryable(), "{err}");
    let failed = tunnel
        .send_request(get("https://app.localhost/"))
        .await
        .unwrap_err();
    assert!(failed.error.is_retryable(), "{failed}");
    assert!(
        failed.request.is_some(),
        "a request that never left comes back to be sent elsewhere"
    );
    // The origin notices and dials again.
    assert!(d.stats.wait_until(|s| s.reversals == 2, WAIT).await);
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);
}

/// A gateway and one origin serving `service` for `app.localhost`, its
/// tunnel registered and up on both sides.
async fn app_pair<S: gwd_rhttp::TunnelService>(service: S) -> (Gateway, RunningDialer) {
    let p = pki(&["app.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    let d = run_dialer(dialer_config(gw.addr, &p, "app.localhost", 1), service);
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);
    assert!(d.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);
    (gw, d)
}

/// A service on gwd-head types: answers with the request's fields
/// echoed in order (case kept) and a body naming the path.
struct HeadEcho;

// The answers must be `'static` futures, which an `async fn` taking
// `&self` is not.
#[allow(clippy::manual_async_fn)]
impl gwd_rhttp::TunnelService for HeadEcho {
    type Body = Full<Bytes>;

    fn call(
        &self,
        _req: http::Request<gwd_rhttp::IncomingBody>,
    ) -> impl std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static {
        // Never used: call_head below answers every request.
        async {
            http::Response::builder()
                .status(500)
                .body(Full::default())
                .unwrap()
        }
    }

    fn call_head(
        &self,
        req: gwd_rhttp::TunnelRequest,
    ) -> impl std::future::Future<Output = gwd_rhttp::TunnelResponse<Full<Bytes>>> + Send + 'static
    {
        async move {
            let mut head = gwd_head::ResponseHead::new(http::StatusCode::CREATED);
            for (name, value) in req.head.fields.iter() {
                let mut echoed = b"x-echo-".to_vec();
                echoed.extend_from_slice(name);
                head.fields.append(&echoed, value);
            }
            let protocol = req.protocol.map(|p| p.as_bytes().to_vec());
            head.fields
                .append(b"x-protocol", &protocol.unwrap_or_default());
            head.fields
                .append(b"x-tunnel", req.info.is_some().to_string().as_bytes());
            let body = Full::new(Bytes::from(req.head.uri.path().to_owned()));
            gwd_rhttp::TunnelResponse::Head(head, body)
        }
    }
}

fn request_head(method: http::Method, uri: &str) -> gwd_head::RequestHead {
    gwd_head::RequestHead {
        method,
        uri: uri.parse().unwrap(),
        version: http::Version::HTTP_2,
        fields: gwd_head::Fields::default(),
    }
}

fn head_get(uri: &str) -> gwd_head::RequestHead {
    let mut head = request_head(http::Method::GET, uri);
    head.fields.append(b"x-one", b"1");
    head.fields.append(b"x-two", b"2");
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_cross_a_tunnel_without_http_types_both_ways() {
    let _serial = serial().await;
    let (gw, _d) = app_pair(HeadEcho).await;

    let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
    let (head, body) = lease
        .send_head::<Full<Bytes>>(head_get("https://app.localhost/h"), None, None)
        .await
        .unwrap();
    assert_eq!(head.status, 201);
    let echoed: Vec<_> = head
        .fields
        .iter()
        .filter(|(n, _)| n.starts_with(b"x-echo-"))
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(
        echoed,
        vec![
            (b"x-echo-x-one".to_vec(), b"1".to_vec()),
            (b"x-echo-x-two".to_vec(), b"2".to_vec())
        ],
        "the fields arrive in order"
    );
    assert_eq!(head.fields.get("x-protocol"), Some(&b""[..]));
    assert_eq!(head.fields.get("x-tunnel"), Some(&b"true"[..]));
    assert_eq!(body.collect_bytes(1024).await.unwrap(), "/h");

    // An extended CONNECT names its protocol to the service.
    let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
    let connect = request_head(http::Method::CONNECT, "https://app.localhost/ws");
    let (head, _body) = lease
        .send_head(
            connect,
            Some(gwd_mux_h2::conn::Protocol::new("websocket")),
            Some(Full::new(Bytes::from_static(b"hi"))),
        )
        .await
        .unwrap();
    assert_eq!(head.fields.get("x-protocol"), Some(&b"websocket"[..]));

    // A request on a closed tunnel comes back whole, body unpolled.
    let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
    let tunnel = lease.tunnel().clone();
    tunnel.close();
    let failed = lease
        .send_head(
            head_get("https://app.localhost/again"),
            None,
            Some(Full::new(Bytes::from_static(b"kept"))),
        )
        .await
        .unwrap_err();
    assert!(failed.error.is_retryable(), "{failed}");
    let back = failed.request.expect("an unsent request comes back");
    assert_eq!(back.head.uri.path(), "/again");
    assert_eq!(back.head.fields.get("x-two"), Some(&b"2"[..]));
    let body = back.body.expect("its body too");
    assert_eq!(body.collect().await.unwrap().to_bytes(), "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_service_answers_head_requests_through_the_default_call_head() {
    let _serial = serial().await;
    let (gw, _d) = app_pair(echo_service("app")).await;
    let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
    let (head, body) = lease
        .send_head(
            head_get("https://app.localhost/p?q=1"),
            None,
            Some(Full::new(Bytes::from_static(b"payload"))),
        )
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.fields.get("x-origin"), Some(&b"app"[..]));
    assert_eq!(head.fields.get("x-path"), Some(&b"/p"[..]));
    assert_eq!(body.collect_bytes(1024).await.unwrap(), "payload");
}

/// A registry retired by `close_all` (its server went, or a reload revoked
/// it) takes no tunnel: one still in its handshake at that moment is
/// closed when it registers, so its origin dials again under the rules in
/// force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_registry_closes_tunnels_registered_late() {
    let _serial = serial().await;
    let (gw, d) = app_pair(echo_service("app")).await;
    let tunnel = gw.live_tunnels()[0].clone();

    let retired = gwd_rhttp::TunnelRegistry::new();
    assert_eq!(retired.close_all(), 0);
    assert!(!retired.register(["app.localhost"], tunnel.clone()));
    assert_eq!(retired.tunnel_count("app.localhost"), 0);
    tokio::time::timeout(WAIT, tunnel.unusable()).await.unwrap();
    // The origin notices the GOAWAY and dials a replacement.
    assert!(d.stats.wait_until(|s| s.reversals == 2, WAIT).await);
}

/// A tunnel's requests are served in the tunnel's task, each its own
/// future: one whose answer waits does not hold up the others on the same
/// tunnel, and it is answered once it may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_does_not_hold_up_the_others_on_its_tunnel() {
    let _serial = serial().await;
    let release = Arc::new(Notify::new());
    let held = release.clone();
    let (gw, _d) = app_pair(
        move |req: http::Request<gwd_rhttp::IncomingBody>| -> EchoFuture {
            let held = held.clone();
            Box::pin(async move {
                let path = req.uri().path().to_owned();
                if path == "/slow" {
                    held.notified().await;
                }
                http::Response::new(Full::new(Bytes::from(path)))
            })
        },
    )
    .await;
    let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
    let slow = tokio::spawn(async move {
        let resp = lease
            .send_request(get("https://app.localhost/slow"))
            .await
            .unwrap();
        body_of(resp).await
    });
    for i in 0..3 {
        let lease = gw.registry.acquire("app.localhost", WAIT).await.unwrap();
        let resp = tokio::time::timeout(
            WAIT,
            lease.send_request(get(&format!("https://app.localhost/fast{i}"))),
        )
        .await
        .expect("not held up by the waiting request")
        .unwrap();
        assert_eq!(body_of(resp).await, format!("/fast{i}"));
    }
    assert!(!slow.is_finished(), "still waiting");
    assert_eq!(gw.live_tunnels().len(), 1, "all on one tunnel");
    release.notify_one();
    let body = tokio::time::timeout(WAIT, slow).await.unwrap().unwrap();
    assert_eq!(body, "/slow");
}
