//! Reverse HTTP through the real binary: a gwd gateway, a gwd origin (or a
//! scripted raw-frame origin), real TLS with client certificates, loopback
//! only. Readiness is always a signal: gwd's own log lines (`rhttp tunnel
//! registered` on the gateway) or the process's `ready` line, never a
//! sleep.

use std::path::Path;
use std::time::Duration;

use gwd_h2_test_support::{Frame, Peer, flags, kind, setting};
use gwd_regtests::backend::{Backend, Proto, pattern_byte};
use gwd_regtests::client::{Client, full, tls_connect};
use gwd_regtests::runtime_api::{cli_tcp, stats_addr};
use gwd_regtests::{Gwd, repo_root, scratch_dir};
use gwd_tls::pki::{Pki, PkiFiles};
use http::Request;

const REGISTERED: &str = "rhttp tunnel registered";
const CLOSED: &str = "rhttp tunnel closed";

use gwd_regtests::rhttp::pki_dir;

/// A gateway: visitors in clear on bind 0 of `visitors`, registrations
/// over TLS (client certificate required, CA of the committed example
/// PKI) on `registration`; tunnels named by the certificate CN, picked by
/// Host without port.
fn gateway_config(extra_backend: &str) -> String {
    gwd_regtests::rhttp::gateway_config("", extra_backend)
}

/// An origin dialing `gateway` with `nbconn` tunnels, serving them from `app`.
fn origin_config(gateway: std::net::SocketAddr, nbconn: usize, app: &Backend) -> String {
    gwd_regtests::rhttp::origin_config(
        gateway,
        nbconn,
        app.addr,
        r#"http-request = [ { action = "set-header", name = "X-Via-Tunnel", value = "%[fe_name]" } ]"#,
    )
}

fn registered(l: &str) -> bool {
    l.contains(REGISTERED)
}

async fn get(addr: std::net::SocketAddr, host: &str, path: &str) -> (u16, String) {
    let mut c = Client::h1(addr).await;
    let (status, _, body) = c.get(host, path).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_and_origin_pair_503_before_200_after() {
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(""));
    let visitors = gw.addr("visitors", 0);

    // Before any registration: 503 at once, logged as "no tunnel".
    let (status, _) = get(visitors, "app.localhost", "/").await;
    assert_eq!(status, 503);
    gw.stderr
        .wait_for("no-tunnel log line", |l| l.contains("no tunnel for name"));

    let origin = Gwd::start(&origin_config(gw.addr("registration", 0), 3, &app));
    assert!(
        origin
            .stderr
            .all()
            .iter()
            .any(|l| l.starts_with("gwd: dialing frontend=from-gateway server=to-gateway/gw1")),
        "{:?}",
        origin.stderr.all()
    );
    // nbconn = 3: exactly three tunnels register.
    gw.stderr.wait_count(REGISTERED, 3, registered);

    let (status, body) = get(visitors, "app.localhost:8080", "/hello").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("backend=app1"), "{body}");
    assert!(body.contains("uri=/hello"), "{body}");
    // The request went through the origin's frontend rules.
    assert!(body.contains("x-via-tunnel: from-gateway"), "{body}");

    // Another name: 503 although tunnels exist (name isolation).
    let (status, _) = get(visitors, "other.localhost", "/").await;
    assert_eq!(status, 503);

    // Many requests over HTTP/2 visitors spread over the tunnels.
    let mut c = Client::h2c(visitors).await;
    for i in 0..20 {
        let (status, _, body) = c.get("app.localhost", &format!("/r{i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        gw.stderr.count(registered),
        3,
        "no tunnel was re-dialed while idle or busy"
    );
    drop(origin);
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_megabytes_each_way_through_a_tunnel() {
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(""));
    let _origin = Gwd::start(&origin_config(gw.addr("registration", 0), 1, &app));
    gw.stderr.wait_count(REGISTERED, 1, registered);
    let visitors = gw.addr("visitors", 0);

    const N: usize = 10 << 20;
    let up: Vec<u8> = (0..N as u64).map(pattern_byte).collect();
    let mut c = Client::h1(visitors).await;
    let req = Request::post("/echo")
        .header("host", "app.localhost")
        .body(full(up.clone()))
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), N);
    assert!(body[..] == up[..], "echoed body differs");

    let mut c = Client::h2c(visitors).await;
    let req = Request::get(format!("/big/{N}"))
        .header("host", "app.localhost")
        .body(gwd_regtests::client::empty())
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), N);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, b)| *b == pattern_byte(i as u64))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_soft_stop_sends_goaway_and_exits_then_gauges_are_zero() {
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(""));
    let mut origin = Gwd::start(&origin_config(gw.addr("registration", 0), 2, &app));
    gw.stderr.wait_count(REGISTERED, 2, registered);
    let visitors = gw.addr("visitors", 0);
    assert_eq!(get(visitors, "app.localhost", "/").await.0, 200);

    origin.signal(libc::SIGTERM);
    let st = origin.wait_exit();
    assert!(st.success(), "origin exit status {st:?}");
    gw.stderr.wait_count(CLOSED, 2, |l| l.contains(CLOSED));
    assert_eq!(get(visitors, "app.localhost", "/").await.0, 503);

    // The tunnels were the rhttp@ server's connections; none is left, and
    // the registration frontend holds none either. The visitors' last
    // connection closes asynchronously, so poll the counters (bounded).
    let admin = stats_addr(&gw, "admin");
    let deadline = std::time::Instant::now() + gwd_regtests::WAIT;
    loop {
        let busy = rows_with_nonzero(&cli_tcp(&admin, "show stat"), "scur");
        if busy.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scur not back to 0: {busy:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `show stat` rows whose column `col` is neither empty nor 0.
fn rows_with_nonzero(stats: &str, col: &str) -> Vec<String> {
    let header: Vec<&str> = stats
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header.iter().position(|h| *h == col).unwrap();
    stats
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .filter(|l| !matches!(l.split(',').nth(i), Some("" | "0")))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_without_a_valid_certificate_are_refused_and_counted() {
    let gw = Gwd::start(&gateway_config(""));
    let reg = gw.addr("registration", 0);
    let ca = pki_dir().join("ca.crt");

    // No client certificate at all: the handshake fails (TLS alert).
    let no_cert = tls_connect(reg, "gateway.localhost", &ca, &["h2"], None).await;
    let refused_without_cert = match no_cert {
        Err(_) => true,
        // TLS 1.3: the client learns of the refusal on its first read.
        Ok((mut s, _)) => {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            matches!(
                tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await,
                Ok(Ok(0) | Err(_))
            )
        }
    };
    assert!(refused_without_cert);

    // A certificate from another CA.
    let dir = scratch_dir("foreign-pki");
    let foreign: PkiFiles = Pki::generate("foreign CA", &["localhost"], &["app.localhost"])
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let (_, cert, key) = &foreign.clients[0];
    let r = tls_connect(reg, "gateway.localhost", &ca, &["h2"], Some((cert, key))).await;
    if let Ok((mut s, _)) = r {
        use tokio::io::AsyncReadExt;
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await;
        assert!(
            matches!(n, Ok(Ok(0) | Err(_))),
            "foreign certificate accepted"
        );
    }
    gw.stderr.wait_count("two refusals", 2, |l| {
        l.contains("registration refused") && l.contains("TLS handshake failure")
    });
    // Counted as request errors on the registration frontend, which holds
    // no connection afterwards (polled: the close is asynchronous).
    let admin = stats_addr(&gw, "admin");
    let deadline = std::time::Instant::now() + gwd_regtests::WAIT;
    loop {
        let stats = cli_tcp(&admin, "show stat");
        let row = stats
            .lines()
            .find(|l| l.starts_with("registration,FRONTEND,"))
            .expect("registration frontend row")
            .to_string();
        let header: Vec<&str> = stats
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let f: Vec<&str> = row.split(',').collect();
        assert!(f[col("ereq")] <= "2", "{row}");
        if f[col("ereq")] == "2" && f[col("scur")] == "0" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{row}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each registration attempt was a session of the frontend.
    let stat =
        |col| gwd_regtests::runtime_api::stat_value_at(&gw, "admin", "registration,FRONTEND,", col);
    assert_eq!(stat("stot"), "2");
    // (The two handshakes may overlap.)
    assert!(["1", "2"].contains(&stat("smax").as_str()));
    assert_eq!(
        get(gw.addr("visitors", 0), "app.localhost", "/").await.0,
        503
    );
}

/// HAProxy's reverse_server.vtc, over real TLS: a scripted origin speaks
/// raw frames and checks the gateway's exact handshake, the stream ids of
/// successive requests (1, 3, 5) and that a hand-built 4-byte HPACK answer
/// is relayed as a 200.
#[tokio::test(flavor = "multi_thread")]
async fn raw_frame_origin_sees_the_exact_handshake_and_odd_stream_ids() {
    let gw = Gwd::start(&gateway_config(""));
    let p = pki_dir();
    let (tls, h2) = tls_connect(
        gw.addr("registration", 0),
        "gateway.localhost",
        &p.join("ca.crt"),
        &["h2"],
        Some((&p.join("origin.crt"), &p.join("origin.key"))),
    )
    .await
    .expect("TLS with the origin's certificate");
    assert!(h2, "ALPN h2 negotiated");
    let mut origin = Peer::new(tls, Duration::from_secs(10));
    // The origin (TLS client) sends the client preface and its SETTINGS.
    origin.send_preface().await.unwrap();
    origin
        .send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
        .await
        .unwrap();
    // The gateway sends only SETTINGS (no preface), then ACKs ours.
    let first = origin.read_frame().await.unwrap();
    assert_eq!(first.kind, kind::SETTINGS, "{first:?}");
    assert!(!first.is_settings_ack(), "{first:?}");
    assert_eq!(first.stream_id, 0);
    origin.send(&Frame::settings_ack()).await.unwrap();
    let (ack, _) = origin
        .read_until(|f| f.kind == kind::SETTINGS && f.is_settings_ack())
        .await
        .unwrap();
    assert_eq!(ack.payload.len(), 0);
    gw.stderr.wait_count(REGISTERED, 1, registered);

    let visitors = gw.addr("visitors", 0);
    for expected_id in [1u32, 3, 5] {
        let visitor = tokio::spawn(async move { get(visitors, "app.localhost", "/x").await });
        let (headers, _) = origin
            .read_until(|f| f.kind == kind::HEADERS)
            .await
            .unwrap();
        assert_eq!(headers.stream_id, expected_id, "{headers:?}");
        assert!(headers.has_flags(flags::END_HEADERS));
        assert!(headers.has_flags(flags::END_STREAM), "GET carries no body");
        // :status 200 (static index 8) + content-length (static name 28,
        // literal with incremental indexing) = "0": 4 bytes, as HAProxy's test.
        origin
            .send(&Frame::new(
                kind::HEADERS,
                flags::END_HEADERS | flags::END_STREAM,
                expected_id,
                &[0x88u8, 0x5c, 0x01, 0x30][..],
            ))
            .await
            .unwrap();
        let (status, body) = visitor.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, "");
    }
}

#[test]
fn shipped_reverse_examples_load() {
    for f in [
        "examples/quickstart.toml",
        "examples/reverse/gateway.toml",
        "examples/reverse/origin.toml",
    ] {
        let (st, out, err) = gwd_regtests::run_gwd(&["check", "--config", f]);
        assert!(st.success(), "{f}: {out}{err}");
    }
    assert!(Path::new(&repo_root().join("examples/reverse/pki/ca.key")).exists());
}

/// The README's main command: examples/quickstart.toml serves
/// `Host: app.localhost` through a tunnel (200) and any other Host 503.
/// It binds the example's fixed ports (8080, 8444, 30080).
#[tokio::test(flavor = "multi_thread")]
async fn quickstart_example_answers_through_its_tunnel() {
    let gw = Gwd::start_file(
        &repo_root().join("examples/quickstart.toml"),
        scratch_dir("quickstart"),
    );
    gw.stderr.wait_count(REGISTERED, 2, registered);
    let visitors = gw.addr("visitors", 0);
    let (status, body) = get(visitors, "app.localhost", "/").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello from the origin"), "{body}");
    assert_eq!(get(visitors, "other.localhost", "/").await.0, 503);
}

/// The hyper example app (examples/hyper-origin) registers with a gwd
/// gateway through the gwd-rhttp library alone, serves through it, and
/// leaves cleanly on shutdown.
#[tokio::test(flavor = "multi_thread")]
async fn hyper_app_registers_through_the_dialer_library() {
    let gw = Gwd::start(&gateway_config(""));
    let p = pki_dir();
    let dialer = gwd_example_hyper_origin::dialer(
        &gw.addr("registration", 0).to_string(),
        "gateway.localhost",
        &p.join("ca.crt"),
        &p.join("origin.crt"),
        &p.join("origin.key"),
        2,
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = tokio::spawn(async move {
        gwd_example_hyper_origin::serve(&dialer, async {
            let _ = stopped.await;
        })
        .await
    });
    gw.stderr.wait_count(REGISTERED, 2, registered);
    let visitors = gw.addr("visitors", 0);
    let (status, body) = get(visitors, "app.localhost", "/hello").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello from a hyper app"), "{body}");
    let mut c = Client::h1(visitors).await;
    let req = Request::post("/echo")
        .header("host", "app.localhost")
        .body(full("ping through the tunnel"))
        .unwrap();
    let (status, _, body) = gwd_regtests::client::read_all(c.send(req).await.unwrap()).await;
    assert_eq!((status, body.as_str()), (200, "ping through the tunnel"));
    assert_eq!(get(visitors, "app.localhost", "/nope").await.0, 404);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), app)
        .await
        .expect("the app drains and returns")
        .unwrap()
        .unwrap();
    gw.stderr.wait_count(CLOSED, 2, |l| l.contains(CLOSED));
    assert_eq!(get(visitors, "app.localhost", "/hello").await.0, 503);
}

/// Certificates the gateway must refuse, each with a log line and a
/// counter, while a good one registers: an expired certificate (TLS alert)
/// and a valid one whose name `allow-name` does not accept.
#[tokio::test(flavor = "multi_thread")]
async fn expired_and_disallowed_certificates_are_refused() {
    let dir = scratch_dir("allow-name-pki");
    let pki = Pki::generate("allow-name CA", &["localhost", "gateway.localhost"], &[]).unwrap();
    let files = pki.write_to(&dir).unwrap();
    let write = |stem: &str, (cert, key): (String, String)| {
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    };
    let good = write(
        "good",
        pki.client_valid_between("app.allowed.test", (2024, 1, 1), (2099, 12, 31))
            .unwrap(),
    );
    let expired = write(
        "expired",
        pki.client_valid_between("app.allowed.test", (2020, 1, 1), (2021, 1, 1))
            .unwrap(),
    );
    let foreign_name = write(
        "foreign-name",
        pki.client_valid_between("app.other.test", (2024, 1, 1), (2099, 12, 31))
            .unwrap(),
    );
    let gw = Gwd::start(&format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]

[defaults]
timeout.client = "10s"
timeout.server = "10s"

[frontend.visitors]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "tunnels"

[frontend.registration]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, crt = "{crt}", key = "{key}", ca-file = "{ca}", verify = "required" }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "tunnels/origins", name-from-cert = "cn", allow-name = "-m end .allowed.test" }} ]

[backend.tunnels]
server = [ {{ name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" }} ]
"#,
        crt = files.server_cert.display(),
        key = files.server_key.display(),
        ca = files.ca_cert.display(),
    ));
    let reg = gw.addr("registration", 0).to_string();
    let start = |(cert, key): &(std::path::PathBuf, std::path::PathBuf)| {
        let d = gwd_example_hyper_origin::dialer(
            &reg,
            "gateway.localhost",
            &files.ca_cert,
            cert,
            key,
            1,
        )
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            gwd_example_hyper_origin::serve(&d, async {
                let _ = stopped.await;
            })
            .await
        });
        (stop, task)
    };
    let runs = [start(&expired), start(&foreign_name), start(&good)];
    gw.stderr.wait_count(REGISTERED, 1, registered);
    gw.stderr.wait_for("expired certificate refused", |l| {
        l.contains("registration refused") && l.contains("TLS handshake failure")
    });
    gw.stderr.wait_for("name not allowed", |l| {
        l.contains("registration refused") && l.contains("no allowed name")
    });
    let visitors = gw.addr("visitors", 0);
    let (status, body) = get(visitors, "app.allowed.test", "/hello").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(visitors, "app.other.test", "/hello").await.0, 503);
    // Only the good certificate ever registered, whatever the retries.
    assert_eq!(gw.stderr.count(registered), 1);
    let stats = cli_tcp(&stats_addr(&gw, "admin"), "show stat");
    let refused = rows_with_nonzero(&stats, "ereq");
    assert!(
        refused
            .iter()
            .any(|r| r.starts_with("registration,FRONTEND,")),
        "{stats}"
    );
    for (stop, task) in runs {
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
}

/// Seconds since midnight of a tracing line's RFC 3339 timestamp
/// (`2026-11-27T09:26:27.725508Z ...`).
fn log_time_s(line: &str) -> f64 {
    let ts = line.split_whitespace().next().expect("timestamp");
    let t = ts.split('T').nth(1).expect("time").trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

/// A gateway killed under 50 origins and started again on the same ports:
/// all 50 come back, spread out by their jittered backoff rather than in
/// one burst.
#[tokio::test(flavor = "multi_thread")]
async fn fifty_origins_reconnect_spread_out_after_a_gateway_restart() {
    let first = Gwd::start(&gateway_config(""));
    let (visitors, reg) = (first.addr("visitors", 0), first.addr("registration", 0));
    let fixed = gateway_config("")
        .replacen(
            "bind = [ { addr = \"127.0.0.1:0\" } ]",
            &format!("bind = [ {{ addr = \"{visitors}\" }} ]"),
            1,
        )
        .replacen(
            "{ addr = \"127.0.0.1:0\", ssl",
            &format!("{{ addr = \"{reg}\", ssl"),
            1,
        );
    drop(first);
    let mut gw = Gwd::start(&fixed);
    assert_eq!(gw.addr("registration", 0), reg);
    assert_eq!(gw.addr("visitors", 0), visitors);
    let p = pki_dir();
    let mut stops = Vec::new();
    for _ in 0..50 {
        let d = gwd_example_hyper_origin::dialer(
            &reg.to_string(),
            "gateway.localhost",
            &p.join("ca.crt"),
            &p.join("origin.crt"),
            &p.join("origin.key"),
            1,
        )
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            gwd_example_hyper_origin::serve(&d, async {
                let _ = stopped.await;
            })
            .await
        });
        stops.push(stop);
    }
    gw.stderr.wait_count(REGISTERED, 50, registered);

    gw.signal(libc::SIGKILL);
    gw.wait_exit();
    let gw2 = Gwd::start(&fixed);
    gw2.stderr.wait_count(REGISTERED, 50, registered);
    let mut times: Vec<f64> = gw2
        .stderr
        .all()
        .iter()
        .filter(|l| registered(l))
        .map(|l| log_time_s(l))
        .collect();
    times.sort_by(f64::total_cmp);
    let spread_ms = (times[times.len() - 1] - times[0]) * 1000.0;
    let busiest_10ms = times
        .iter()
        .map(|t0| {
            times
                .iter()
                .filter(|t| **t >= *t0 && **t < t0 + 0.010)
                .count()
        })
        .max()
        .unwrap();
    eprintln!("50 reconnections: spread {spread_ms:.1} ms, busiest 10 ms window {busiest_10ms}");
    assert!(
        spread_ms >= 30.0 && busiest_10ms <= 25,
        "reconnections came in a burst: spread {spread_ms:.1} ms, {busiest_10ms} in the busiest 10 ms"
    );
    assert_eq!(get(visitors, "app.localhost", "/hello").await.0, 200);
    for s in stops {
        let _ = s.send(());
    }
}

/// Connects a scripted origin (origin.crt) and performs the reversal;
/// returns the peer once the gateway has registered the tunnel.
async fn raw_origin(
    gw: &Gwd,
    registered_before: usize,
) -> Peer<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    raw_origin_from(gw, registered_before, &pki_dir()).await
}

/// [`raw_origin`] with the CA and `origin.crt/.key` of the PKI in `p`.
async fn raw_origin_from(
    gw: &Gwd,
    registered_before: usize,
    p: &Path,
) -> Peer<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let (tls, _) = tls_connect(
        gw.addr("registration", 0),
        "gateway.localhost",
        &p.join("ca.crt"),
        &["h2"],
        Some((&p.join("origin.crt"), &p.join("origin.key"))),
    )
    .await
    .expect("TLS");
    let mut origin = Peer::new(tls, Duration::from_secs(10));
    origin.send_preface().await.unwrap();
    origin
        .send(&Frame::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)]))
        .await
        .unwrap();
    origin
        .read_until(|f| f.kind == kind::SETTINGS && !f.is_settings_ack())
        .await
        .unwrap();
    origin.send(&Frame::settings_ack()).await.unwrap();
    gw.stderr
        .wait_count(REGISTERED, registered_before + 1, registered);
    origin
}

/// A tunnel that dies after the request left: the visitor gets 502 (the
/// request is not replayed), logged with its reason; and a silent origin
/// is dropped by `idle-ping` within two intervals.
#[tokio::test(flavor = "multi_thread")]
async fn dead_tunnels_give_502_and_silent_origins_are_dropped_by_idle_ping() {
    let cfg = gateway_config("").replace(
        "pool-conn-name = \"req.hdr(host),field(1,:)\" }",
        "pool-conn-name = \"req.hdr(host),field(1,:)\", idle-ping = \"300ms\" }",
    );
    assert!(cfg.contains("idle-ping"));
    let gw = Gwd::start(&cfg);
    let visitors = gw.addr("visitors", 0);

    // 1. The origin takes the request, then its connection is cut.
    let mut origin = raw_origin(&gw, 0).await;
    let visitor = tokio::spawn(async move { get(visitors, "app.localhost", "/x").await });
    let (headers, _) = origin
        .read_until(|f| f.kind == kind::HEADERS)
        .await
        .unwrap();
    assert_eq!(headers.stream_id, 1);
    drop(origin);
    let (status, _) = visitor.await.unwrap();
    assert_eq!(status, 502);
    gw.stderr.wait_for("502 reason", |l| {
        l.contains("tunnel failed before the response")
    });

    // 2. An origin that never answers PINGs: dropped within two intervals
    //    of silence (300 ms each), well before any client timeout.
    let mut silent = raw_origin(&gw, 1).await;
    let registered_at = std::time::Instant::now();
    let (ping, _) = silent.read_until(|f| f.kind == kind::PING).await.unwrap();
    assert!(!ping.has_flags(flags::ACK));
    gw.stderr.wait_count(CLOSED, 2, |l| l.contains(CLOSED));
    let took = registered_at.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "silent tunnel dropped after {took:?}"
    );
    assert_eq!(get(visitors, "app.localhost", "/").await.0, 503);
}

/// With `timeout.tunnel-wait`, a request that arrives before any tunnel
/// waits for the origin to register instead of failing at once.
#[tokio::test(flavor = "multi_thread")]
async fn tunnel_wait_holds_requests_until_an_origin_registers() {
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config("timeout.tunnel-wait = \"20s\""));
    let visitors = gw.addr("visitors", 0);
    let waiting = tokio::spawn(async move { get(visitors, "app.localhost", "/early").await });
    // The request is parked on the rhttp@ server (its queue gauge), not
    // answered: poll the runtime API until it shows.
    let admin = stats_addr(&gw, "admin");
    let deadline = std::time::Instant::now() + gwd_regtests::WAIT;
    while !rows_with_nonzero(&cli_tcp(&admin, "show stat"), "qcur")
        .iter()
        .any(|r| r.starts_with("tunnels,origins,"))
    {
        assert!(std::time::Instant::now() < deadline, "request never queued");
        assert!(!waiting.is_finished(), "answered without a tunnel");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _origin = Gwd::start(&origin_config(gw.addr("registration", 0), 1, &app));
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("uri=/early"), "{body}");
}

/// One origin keeping tunnels to two gateways (the multi-path HA case):
/// each gateway serves the name through its own tunnels.
#[tokio::test(flavor = "multi_thread")]
async fn an_origin_keeps_tunnels_to_several_gateways() {
    let app = Backend::start("app1", Proto::H1).await;
    let gw1 = Gwd::start(&gateway_config(""));
    let gw2 = Gwd::start(&gateway_config(""));
    let p = pki_dir();
    let server = |name: &str, addr: std::net::SocketAddr| {
        format!(
            "{{ name = \"{name}\", addr = \"{addr}\", ssl = true, proto = \"h2\", sni = \"gateway.localhost\", ca-file = \"{p}/ca.crt\", crt = \"{p}/origin.crt\", key = \"{p}/origin.key\" }}",
            p = p.display()
        )
    };
    let origin = Gwd::start(&format!(
        r#"
[frontend.from-gateways]
bind = [ {{ addr = "rhttp@gateways/gw1", nbconn = 2 }}, {{ addr = "rhttp@gateways/gw2", nbconn = 3 }} ]
default_backend = "app"

[backend.gateways]
server = [ {s1}, {s2} ]

[backend.app]
server = [ {{ name = "app1", addr = "{app}" }} ]
"#,
        s1 = server("gw1", gw1.addr("registration", 0)),
        s2 = server("gw2", gw2.addr("registration", 0)),
        app = app.addr,
    ));
    assert_eq!(
        origin
            .stderr
            .count(|l| l.starts_with("gwd: dialing frontend=from-gateways")),
        2
    );
    gw1.stderr.wait_count(REGISTERED, 2, registered);
    gw2.stderr.wait_count(REGISTERED, 3, registered);
    for gw in [&gw1, &gw2] {
        let (status, body) = get(gw.addr("visitors", 0), "app.localhost", "/ha").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(gw1.stderr.count(registered), 2);
    assert_eq!(gw2.stderr.count(registered), 3);
}

/// The runtime API's views of tunnels and servers on a live gateway:
/// `show tunnels` (per tunnel: name, streams, age, PING, origin address),
/// `show servers conn`, and `show stat` in its typed and JSON forms.
#[tokio::test(flavor = "multi_thread")]
async fn runtime_api_shows_tunnels_and_typed_json_stats() {
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(""));
    let _origin = Gwd::start(&origin_config(gw.addr("registration", 0), 2, &app));
    gw.stderr.wait_count(REGISTERED, 2, registered);
    assert_eq!(
        get(gw.addr("visitors", 0), "app.localhost", "/").await.0,
        200
    );
    let admin = stats_addr(&gw, "admin");

    let tunnels = cli_tcp(&admin, "show tunnels");
    let mut lines = tunnels.lines().filter(|l| !l.is_empty());
    let header = lines.next().unwrap();
    assert!(header.starts_with('#'), "{tunnels}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{tunnels}");
    for r in &rows {
        assert!(r.starts_with("app.localhost "), "{r}");
        assert!(r.contains("127.0.0.1:"), "origin address in {r}");
        assert!(r.contains("tunnels/origins"), "server in {r}");
    }
    let none = cli_tcp(&admin, "show tunnels other.localhost");
    assert_eq!(
        none.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count(),
        0
    );

    let conns = cli_tcp(&admin, "show servers conn tunnels");
    assert!(conns.starts_with("# bkname/svname"), "{conns}");
    assert!(conns.contains("tunnels/origins"), "{conns}");

    let typed = cli_tcp(&admin, "show stat typed");
    assert!(
        typed
            .lines()
            .any(|l| l.starts_with("F.") && l.contains(".pxname.") && l.ends_with(":visitors")),
        "{typed}"
    );
    assert!(
        typed
            .lines()
            .any(|l| l.starts_with("S.") && l.contains(".svname.") && l.ends_with(":origins")),
        "{typed}"
    );
    let json = cli_tcp(&admin, "show stat json");
    assert!(json.trim_start().starts_with('['), "{json}");
    assert!(json.contains("\"objType\":\"Server\""), "{json}");
    assert!(json.contains("\"value\":\"origins\""), "{json}");
}

/// A gwd origin with `nbconn = 3` against a gateway built from the
/// gwd-rhttp library in this test: exactly 3 tunnels; one of them killed
/// by the gateway side, and the origin dials a replacement (4 in all, 3
/// alive).
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_tunnel_is_redialed_by_the_origin() {
    let app = Backend::start("app1", Proto::H1).await;
    let p = pki_dir();
    let tls = gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
        cert: p.join("gateway.crt"),
        key: Some(p.join("gateway.key")),
        alpn: vec!["h2".into()],
        verify: gwd_tls::PeerVerify::Required,
        ca: Some(p.join("ca.crt")),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = listener.local_addr().unwrap();
    let registry = gwd_rhttp::TunnelRegistry::new();
    let (tunnels_tx, mut tunnels_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let registry = registry.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, registry, tx) =
                    (acceptor.clone(), registry.clone(), tunnels_tx.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let opts = gwd_rhttp::GatewayOptions::default();
                    if let Ok(t) = gwd_rhttp::accept_tunnel(tls, &opts).await {
                        registry.register(["app.localhost"], t.clone());
                        let _ = tx.send(t);
                    }
                });
            }
        });
    }
    let _origin = Gwd::start(&origin_config(gateway, 3, &app));
    let mut up = Vec::new();
    for _ in 0..3 {
        up.push(
            tokio::time::timeout(gwd_regtests::WAIT, tunnels_rx.recv())
                .await
                .expect("a tunnel")
                .unwrap(),
        );
    }
    assert!(
        registry
            .wait_for_tunnels("app.localhost", 3, gwd_regtests::WAIT)
            .await
    );
    // Requests go through the library gateway to the gwd origin.
    let lease = registry.try_acquire("app.localhost").unwrap();
    let req = http::Request::get("http://app.localhost/via-library")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(lease.send_request(req).await.unwrap().status(), 200);

    // Kill one tunnel: the origin replaces it.
    up[0].abort();
    let replacement = tokio::time::timeout(gwd_regtests::WAIT, tunnels_rx.recv())
        .await
        .expect("the killed tunnel is re-dialed")
        .unwrap();
    assert!(!replacement.is_closed());
    assert!(
        registry
            .wait_for_tunnels("app.localhost", 3, gwd_regtests::WAIT)
            .await
    );
    assert_eq!(registry.stats().registered, 4);
}

/// An origin that breaks HTTP/2 after registering (a WINDOW_UPDATE with a
/// zero increment on stream 0) gets GOAWAY(PROTOCOL_ERROR); the gateway
/// logs it, counts an `eresp` on the `rhttp@` server, drops the tunnel,
/// and answers visitors 503 again instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_frame_from_an_origin_gets_goaway_a_log_line_and_a_counter() {
    let gw = Gwd::start(&gateway_config(""));
    let mut origin = raw_origin(&gw, 0).await;
    let visitors = gw.addr("visitors", 0);

    origin
        .send(&Frame::new(kind::WINDOW_UPDATE, 0, 0, &[0u8, 0, 0, 0][..]))
        .await
        .unwrap();
    let (goaway, _) = origin.read_until(|f| f.kind == kind::GOAWAY).await.unwrap();
    let code = u32::from_be_bytes(goaway.payload[4..8].try_into().unwrap());
    assert_eq!(code, 0x1, "PROTOCOL_ERROR: {goaway:?}");
    gw.stderr.wait_for("protocol error log line", |l| {
        l.contains("HTTP/2 protocol error from the peer") && l.contains("PROTOCOL_ERROR")
    });
    gw.stderr.wait_for("tunnel closed", |l| {
        l.contains("rhttp tunnel closed") && l.contains("Error")
    });
    let stats = cli_tcp(&stats_addr(&gw, "admin"), "show stat");
    assert!(
        rows_with_nonzero(&stats, "eresp")
            .iter()
            .any(|r| r.starts_with("tunnels,origins,")),
        "{stats}"
    );
    // The server's error is its backend's too.
    let eresp = |row| gwd_regtests::runtime_api::stat_value_at(&gw, "admin", row, "eresp");
    assert_eq!(eresp("tunnels,BACKEND,"), eresp("tunnels,origins,"));
    let (status, _) = get(visitors, "app.localhost", "/").await;
    assert_eq!(status, 503, "no tunnel left for the name");
}

/// A CA-signed origin certificate whose name holds a newline and blanks
/// cannot forge rows in `show tunnels`: the name is one escaped field.
/// It used to be written raw, a second line that read as another tunnel.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_with_a_newline_cannot_forge_show_tunnels_rows() {
    let dir = scratch_dir("evil-pki");
    let mut pki = Pki::generate(
        "evil CA",
        &["gateway.localhost"],
        &["evil\nforged.localhost 9 0 100 0 - - -"],
    )
    .unwrap();
    pki.clients[0].0 = "origin".into();
    pki.write_named(&dir, "gateway").unwrap();
    let cfg =
        gateway_config("").replace(&pki_dir().display().to_string(), &dir.display().to_string());
    let gw = Gwd::start(&cfg);
    let _origin = raw_origin_from(&gw, 0, &dir).await;
    let out = cli_tcp(&stats_addr(&gw, "admin"), "show tunnels");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(
        rows[0].starts_with("evil\\x0aforged.localhost\\x209\\x200"),
        "{out}"
    );
}

/// WebSocket through a tunnel, both kinds of visitor: the gateway sends it
/// down the tunnel as an extended CONNECT (RFC 8441; the origin announces
/// SETTINGS_ENABLE_CONNECT_PROTOCOL), the origin turns it into the
/// HTTP/1.1 handshake for its server, and bytes flow both ways. It used
/// to get 502 while the same WebSocket through a plain gwd hop worked.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_goes_through_a_tunnel() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(""));
    let _origin = Gwd::start(&origin_config(gw.addr("registration", 0), 1, &app));
    gw.stderr.wait_count(REGISTERED, 1, registered);
    let visitors = gw.addr("visitors", 0);

    // An HTTP/1.1 visitor: 101 with the accept value its key calls for.
    let mut s = tokio::net::TcpStream::connect(visitors).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: app.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .unwrap();
    // Nothing follows the 101 until the visitor writes.
    let answer = gwd_regtests::client::read_response(&mut s).await;
    assert_eq!(answer.status, 101, "{}", answer.head);
    let head = answer.head.to_lowercase();
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for msg in [&b"through the tunnel"[..], &[0u8, 200, 255][..]] {
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(gwd_regtests::WAIT, s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg);
    }
    drop(s);

    // An HTTP/2 visitor: extended CONNECT at the gateway too.
    let mut c = Client::h2c(visitors).await;
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri("http://app.localhost/ws")
        .header("sec-websocket-version", "13")
        .body(gwd_regtests::client::empty())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = c.send(req).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let mut ws = hyper_util::rt::TokioIo::new(hyper::upgrade::on(resp).await.unwrap());
    ws.write_all(b"h2 visitor").await.unwrap();
    let mut got = [0u8; 10];
    tokio::time::timeout(gwd_regtests::WAIT, ws.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"h2 visitor");
    drop(ws);
    gw.stderr.wait_for("the gateway's tunnel line", |l| {
        l.contains("\"GET /ws HTTP/2.0\"") && l.contains(" 101 ")
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn two_origins_with_the_same_name_share_sequential_traffic() {
    let app1 = Backend::start("app1", Proto::H1).await;
    let app2 = Backend::start("app2", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(""));
    let reg = gw.addr("registration", 0);
    // Both present the example origin certificate: the same name.
    let _o1 = Gwd::start(&origin_config(reg, 1, &app1));
    let _o2 = Gwd::start(&origin_config(reg, 1, &app2));
    gw.stderr.wait_count(REGISTERED, 2, registered);
    let mut c = Client::h1(gw.addr("visitors", 0)).await;
    for i in 0..20 {
        let (status, _, body) = c.get("app.localhost", &format!("/s{i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    // Equally idle tunnels take turns instead of the first one taking all.
    assert_eq!((app1.hits(), app2.hits()), (10, 10));
}

/// Repeated fields keep their exact order through gateway, tunnel and
/// origin, both ways (heads cross the tunnel as gwd's own field lists,
/// never regrouped by name).
#[tokio::test(flavor = "multi_thread")]
async fn interleaved_fields_keep_their_order_through_a_tunnel() {
    use gwd_regtests::backend::{raw_server, read_head};
    use gwd_regtests::client::read_response;
    use tokio::io::AsyncWriteExt;

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let (app, _) = raw_server(move |mut s| {
        let seen = seen2.clone();
        async move {
            loop {
                let head = read_head(&mut s).await;
                if head.is_empty() {
                    return;
                }
                seen.lock().unwrap().push(head);
                let answer =
                    b"HTTP/1.1 200 OK\r\nX-R: 1\r\nX-S: 2\r\nX-R: 3\r\nContent-Length: 2\r\n\r\nok";
                if s.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let gw = Gwd::start(&gateway_config(""));
    let _origin = Gwd::start(&gwd_regtests::rhttp::origin_config(
        gw.addr("registration", 0),
        1,
        app,
        "",
    ));
    gw.stderr.wait_count(REGISTERED, 1, registered);

    let mut s = tokio::net::TcpStream::connect(gw.addr("visitors", 0))
        .await
        .unwrap();
    s.write_all(b"GET /o HTTP/1.1\r\nHost: app.localhost\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut s).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let lower = resp.head.to_ascii_lowercase();
    let r1 = lower.find("x-r: 1").expect("x-r: 1");
    let s2 = lower.find("x-s: 2").expect("x-s: 2");
    let r3 = lower.find("x-r: 3").expect("x-r: 3");
    assert!(r1 < s2 && s2 < r3, "answer fields regrouped: {}", resp.head);

    let head = seen.lock().unwrap()[0].to_ascii_lowercase();
    let a1 = head.find("x-a: 1").expect("x-a: 1");
    let b2 = head.find("x-b: 2").expect("x-b: 2");
    let a3 = head.find("x-a: 3").expect("x-a: 3");
    assert!(a1 < b2 && b2 < a3, "request fields regrouped: {head}");
}

/// A WebSocket for a tunnel whose origin did not announce extended
/// CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL) gets 502 at once: nothing
/// goes down the tunnel, and it is not retried as a plain CONNECT.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_to_an_origin_without_extended_connect_gets_502() {
    use gwd_h2_test_support::hpack;
    use tokio::io::AsyncWriteExt;
    let gw = Gwd::start(&gateway_config(""));
    let mut origin = raw_origin(&gw, 0).await;
    let visitors = gw.addr("visitors", 0);

    let mut s = tokio::net::TcpStream::connect(visitors).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: app.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .unwrap();
    let answer = gwd_regtests::client::read_response(&mut s).await;
    assert_eq!(answer.status, 502, "{}", answer.head);

    // The first request the origin sees is the next plain GET: the
    // WebSocket never went down the tunnel in any form.
    let visitor = tokio::spawn(async move { get(visitors, "app.localhost", "/after").await });
    let (headers, _) = origin
        .read_until(|f| f.kind == kind::HEADERS)
        .await
        .unwrap();
    let fields = hpack::decode_simple(&headers.header_block().unwrap()).unwrap();
    assert!(
        fields.contains(&(":method".into(), "GET".into())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(":path".into(), "/after".into())),
        "{fields:?}"
    );
    drop(origin);
    let _ = visitor.await;
}
