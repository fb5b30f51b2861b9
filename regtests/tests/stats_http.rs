//! Statistics over HTTP through the real binary: the `prometheus-exporter`
//! service scraped after known traffic (plain proxying from concurrent
//! clients, and through a reverse-HTTP tunnel between a gateway and an
//! origin), parsed with a real Prometheus text-format parser; and the
//! stats page (Basic auth, `;csv`), loaded in headless Chromium when it is
//! installed (DOM rows checked, screenshot saved under
//! `target/tmp/stats_http/`).
//!
//! Readiness is a signal (gwd's `ready` and `rhttp tunnel registered`
//! lines); counters are polled, bounded by [`WAIT`], until the last
//! response has been counted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gwd_regtests::backend::{Backend, Proto, closed_port, status_body};
use gwd_regtests::client::{Client, empty, full, read_all};
use gwd_regtests::runtime_api::{cli_tcp, stats_addr};
use gwd_regtests::{Gwd, WAIT, repo_root, scratch_dir};
use http::Request;
use http_body_util::BodyExt;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};

type Expo = MetricsExposition<PrometheusType, PrometheusValue>;

/// Scrapes `http://<addr>/metrics` and parses it strictly.
async fn scrape(addr: SocketAddr) -> Expo {
    let mut c = Client::h1(addr).await;
    let (status, headers, text) = c.get("metrics", "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not valid Prometheus text: {e:?}\n{text}"))
}

/// The value of the sample of `family` whose labels are exactly `labels`;
/// `None` when there is no such sample (or no such family).
fn try_value(expo: &Expo, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let fam = expo.families.get(family)?;
    let mut found = None;
    for s in fam.iter_samples() {
        let ls = s.get_labelset().unwrap();
        if ls.iter().count() == labels.len()
            && labels.iter().all(|(k, v)| ls.get_label_value(k) == Some(v))
        {
            assert!(found.is_none(), "two samples {family}{labels:?}");
            found = Some(match &s.value {
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                v => panic!("{family}: {v:?}"),
            });
        }
    }
    found
}

fn value(expo: &Expo, family: &str, labels: &[(&str, &str)]) -> u64 {
    let v =
        try_value(expo, family, labels).unwrap_or_else(|| panic!("no sample {family}{labels:?}"));
    assert!(v >= 0.0 && v.fract() == 0.0, "{family}{labels:?} = {v}");
    v as u64
}

/// The sum of every sample of `family` having `labels` (among others).
fn sum_where(expo: &Expo, family: &str, labels: &[(&str, &str)]) -> u64 {
    let Some(fam) = expo.families.get(family) else {
        return 0;
    };
    fam.iter_samples()
        .filter(|s| {
            let ls = s.get_labelset().unwrap();
            labels.iter().all(|(k, v)| ls.get_label_value(k) == Some(v))
        })
        .map(|s| match &s.value {
            PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64() as u64,
            PrometheusValue::Counter(c) => c.value.as_f64() as u64,
            v => panic!("{family}: {v:?}"),
        })
        .sum()
}

fn kind(expo: &Expo, family: &str) -> PrometheusType {
    expo.families[family].family_type.clone()
}

/// Scrapes until `done` holds (bounded by [`WAIT`]); returns that scrape.
async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&Expo) -> bool) -> Expo {
    let deadline = Instant::now() + WAIT;
    loop {
        let e = scrape(addr).await;
        if done(&e) {
            return e;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const CLIENTS: usize = 8;
const ROUNDS: usize = 10;
const UPLOAD: usize = 1500;
const BIG: usize = 2000;

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_counts_known_traffic_from_concurrent_clients() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
use_backend = [ {{ backend = "down", if = "{{ path_beg /down }}" }} ]
default_backend = "app"

[frontend.metrics]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "use-service", service = "prometheus-exporter", if = "{{ path /metrics }}" }} ]

[backend.app]
server = [ {{ name = "s1", addr = "{app}" }}, {{ name = "s2", addr = "{app}" }} ]

[backend.down]
server = [ {{ name = "d1", addr = "{dead}" }} ]
"#,
        app = app.addr,
        dead = closed_port(),
    ));
    let www = gwd.addr("www", 0);
    let metrics = gwd.addr("metrics", 0);

    // Before any traffic: the families exist and are zero.
    let e = scrape(metrics).await;
    assert_eq!(
        value(&e, "gwd_frontend_http_requests_total", &[("proxy", "www")]),
        0
    );
    assert_eq!(
        kind(&e, "gwd_frontend_http_requests_total"),
        PrometheusType::Counter
    );
    assert_eq!(
        kind(&e, "gwd_frontend_current_sessions"),
        PrometheusType::Gauge
    );

    // Every client, on its own connection (half HTTP/1.1, half h2c):
    // ROUNDS x (POST /echo UPLOAD bytes -> 200 echoed; GET /big/BIG -> 200;
    // GET /status/404 -> 404; GET /down -> 503 from gwd).
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        tasks.push(tokio::spawn(async move {
            let mut c = if i % 2 == 0 {
                Client::h1(www).await
            } else {
                Client::h2c(www).await
            };
            let h2 = i % 2 == 1;
            let uri = |p: &str| {
                if h2 {
                    format!("http://www.test{p}")
                } else {
                    p.to_string()
                }
            };
            let mut received = 0u64;
            let mut statuses = BTreeMap::<u16, u64>::new();
            for _ in 0..ROUNDS {
                for (method, path, body) in [
                    ("POST", "/echo", vec![b'u'; UPLOAD]),
                    ("GET", &*format!("/big/{BIG}"), vec![]),
                    ("GET", "/status/404", vec![]),
                    ("GET", "/down", vec![]),
                ] {
                    let req = Request::builder()
                        .method(method)
                        .uri(uri(path))
                        .header("host", "www.test")
                        .body(if body.is_empty() { empty() } else { full(body) })
                        .unwrap();
                    let resp = c.send(req).await.expect("response");
                    let status = resp.status().as_u16();
                    let body = tokio::time::timeout(WAIT, resp.into_body().collect())
                        .await
                        .expect("body in time")
                        .expect("body")
                        .to_bytes();
                    *statuses.entry(status).or_default() += 1;
                    received += body.len() as u64;
                }
            }
            (statuses, received)
        }));
    }
    let mut received = 0u64;
    let mut statuses = BTreeMap::<u16, u64>::new();
    for t in tasks {
        let (s, r) = t.await.unwrap();
        received += r;
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let n = (CLIENTS * ROUNDS) as u64;
    assert_eq!(statuses, BTreeMap::from([(200, 2 * n), (404, n), (503, n)]));
    let page_503 = received - n * (UPLOAD + BIG) as u64 - n * status_body(404).len() as u64;
    assert_eq!(page_503 % n, 0, "every 503 page has the same size");

    // The clients are gone: wait until every response and close counted.
    let fe = [("proxy", "www")];
    let e = scrape_until(metrics, "www's last response and close", |e| {
        try_value(
            e,
            "gwd_frontend_http_responses_total",
            &[("proxy", "www"), ("code", "5xx")],
        ) == Some(n as f64)
            && try_value(e, "gwd_frontend_current_connections", &fe) == Some(0.0)
    })
    .await;

    // Frontend: everything sent, everything received.
    let code = |c: &'static str| [("proxy", "www"), ("code", c)];
    assert_eq!(value(&e, "gwd_frontend_http_requests_total", &fe), 4 * n);
    assert_eq!(
        value(&e, "gwd_frontend_http_responses_total", &code("2xx")),
        2 * n
    );
    assert_eq!(
        value(&e, "gwd_frontend_http_responses_total", &code("4xx")),
        n
    );
    assert_eq!(
        value(&e, "gwd_frontend_http_responses_total", &code("5xx")),
        n
    );
    assert_eq!(
        value(&e, "gwd_frontend_http_responses_total", &code("1xx")),
        0
    );
    assert_eq!(
        value(&e, "gwd_frontend_http_responses_total", &code("3xx")),
        0
    );
    assert_eq!(
        value(&e, "gwd_frontend_http_responses_total", &code("other")),
        0
    );
    assert_eq!(
        value(&e, "gwd_frontend_connections_total", &fe),
        CLIENTS as u64
    );
    assert_eq!(
        value(&e, "gwd_frontend_bytes_in_total", &fe),
        n * UPLOAD as u64
    );
    assert_eq!(value(&e, "gwd_frontend_bytes_out_total", &fe), received);
    assert_eq!(value(&e, "gwd_frontend_current_sessions", &fe), 0);
    let max_conns = value(&e, "gwd_frontend_max_connections", &fe);
    assert!((1..=CLIENTS as u64).contains(&max_conns), "{max_conns}");

    // Backend `app` and its servers: the three proxied requests per round.
    let be = [("proxy", "app")];
    let be_code = |c: &'static str| [("proxy", "app"), ("code", c)];
    assert_eq!(value(&e, "gwd_backend_http_requests_total", &be), 3 * n);
    assert_eq!(
        value(&e, "gwd_backend_http_responses_total", &be_code("2xx")),
        2 * n
    );
    assert_eq!(
        value(&e, "gwd_backend_http_responses_total", &be_code("4xx")),
        n
    );
    assert_eq!(
        value(&e, "gwd_backend_bytes_in_total", &be),
        n * UPLOAD as u64
    );
    let proxied_out = n * (UPLOAD + BIG + status_body(404).len()) as u64;
    assert_eq!(value(&e, "gwd_backend_bytes_out_total", &be), proxied_out);
    assert_eq!(value(&e, "gwd_backend_current_sessions", &be), 0);
    assert_eq!(
        value(
            &e,
            "gwd_backend_status",
            &[("proxy", "app"), ("state", "UP")]
        ),
        1
    );
    assert_eq!(sum_where(&e, "gwd_server_http_requests_total", &be), 3 * n);
    assert_eq!(
        sum_where(&e, "gwd_server_http_responses_total", &be_code("2xx")),
        2 * n
    );
    assert_eq!(
        sum_where(&e, "gwd_server_http_responses_total", &be_code("4xx")),
        n
    );
    assert_eq!(
        sum_where(&e, "gwd_server_bytes_in_total", &be),
        n * UPLOAD as u64
    );
    assert_eq!(
        sum_where(&e, "gwd_server_bytes_out_total", &be),
        proxied_out
    );
    assert_eq!(sum_where(&e, "gwd_server_current_sessions", &be), 0);
    for s in ["s1", "s2"] {
        let l = [("proxy", "app"), ("server", s)];
        let reqs = value(&e, "gwd_server_http_requests_total", &l);
        assert!(reqs > 0, "round-robin reached {s}");
        assert_eq!(
            value(&e, "gwd_server_connection_attempts_total", &l)
                + value(&e, "gwd_server_connection_reuses_total", &l),
            reqs
        );
        assert_eq!(
            value(
                &e,
                "gwd_server_status",
                &[("proxy", "app"), ("server", s), ("state", "NO_CHECK")]
            ),
            1
        );
        // From the pool source: gauges present, nothing in use now.
        assert_eq!(value(&e, "gwd_server_used_connections_current", &l), 0);
        let _ = value(&e, "gwd_server_idle_connections_current", &l);
    }

    // Backend `down`: every request answered 503 by gwd after failed
    // connects, counted on the backend and on its server.
    let down = [("proxy", "down"), ("server", "d1")];
    assert_eq!(
        value(
            &e,
            "gwd_backend_http_responses_total",
            &[("proxy", "down"), ("code", "5xx")]
        ),
        n
    );
    assert_eq!(
        value(
            &e,
            "gwd_server_http_responses_total",
            &[("proxy", "down"), ("server", "d1"), ("code", "5xx")]
        ),
        n
    );
    assert_eq!(value(&e, "gwd_server_connection_errors_total", &down), n);
    assert_eq!(value(&e, "gwd_server_bytes_in_total", &down), 0);

    // Process: the scrapes are requests too (on `metrics`), so only bounds.
    assert!(value(&e, "gwd_process_requests_total", &[]) > 4 * n);
    assert_eq!(
        value(
            &e,
            "gwd_process_build_info",
            &[("name", "gwd"), ("version", env!("CARGO_PKG_VERSION"))]
        ),
        1
    );
    // No tunnel source or dialer here: no tunnel families.
    assert!(!e.families.contains_key("gwd_tunnel_dials_total"));
    assert!(!e.families.contains_key("gwd_origin_tunnels_up"));
    // The process's resources, as Prometheus client libraries name them.
    assert_eq!(
        kind(&e, "process_resident_memory_bytes"),
        PrometheusType::Gauge
    );
    assert!(value(&e, "process_resident_memory_bytes", &[]) > 1 << 20);
    assert_eq!(kind(&e, "process_open_fds"), PrometheusType::Gauge);
    assert!(value(&e, "process_open_fds", &[]) >= 3);
    assert_eq!(
        kind(&e, "process_cpu_seconds_total"),
        PrometheusType::Counter
    );
    assert!(try_value(&e, "process_cpu_seconds_total", &[]).is_some_and(|v| v >= 0.0));

    // Counters never go back: a later scrape is at least as high.
    let later = scrape(metrics).await;
    for (family, labels) in [
        ("gwd_frontend_http_requests_total", &fe[..]),
        ("gwd_frontend_bytes_out_total", &fe[..]),
        ("gwd_backend_bytes_in_total", &be[..]),
    ] {
        assert_eq!(value(&later, family, labels), value(&e, family, labels));
    }
}

fn pki_dir() -> PathBuf {
    repo_root().join("examples/reverse/pki")
}

/// A gateway with a metrics frontend, a runtime API socket, a `listen www`
/// whose stats page needs `admin:s3cr3t`, and an open stats page.
fn gateway_config(app: &Backend) -> String {
    let p = pki_dir();
    format!(
        r#"
[global]
hard-stop-after = "5s"
stats-socket = [ {{ addr = "127.0.0.1:0", level = "user" }} ]

[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.visitors]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "tunnels"

[frontend.registration]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, crt = "{p}/gateway.crt", key = "{p}/gateway.key", ca-file = "{p}/ca.crt", verify = "required", alpn = ["h2"] }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" }} ]

[frontend.metrics]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "use-service", service = "prometheus-exporter", if = "{{ path /metrics }}" }} ]

[frontend.open-stats]
bind = [ {{ addr = "127.0.0.1:0" }} ]
stats = {{ uri = "/", refresh = "30s" }}

[listen.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
stats = {{ uri = "/stats", auth = ["admin:s3cr3t"], realm = "gwd statistics" }}
server = [ {{ name = "s1", addr = "{app}" }} ]

[backend.tunnels]
server = [ {{ name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" }} ]
"#,
        p = p.display(),
        app = app.addr,
    )
}

/// An origin keeping `nbconn` tunnels to `gateway`, serving `app`, with
/// its own metrics frontend.
fn origin_config(gateway: SocketAddr, nbconn: usize, app: &Backend) -> String {
    let p = pki_dir();
    format!(
        r#"
[global]
hard-stop-after = "5s"

[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.from-gateway]
bind = [ {{ addr = "rhttp@to-gateway/gw1", nbconn = {nbconn} }} ]
default_backend = "app"

[frontend.metrics]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "use-service", service = "prometheus-exporter" }} ]

[backend.to-gateway]
server = [ {{ name = "gw1", addr = "{gateway}", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "{p}/ca.crt", crt = "{p}/origin.crt", key = "{p}/origin.key" }} ]

[backend.app]
server = [ {{ name = "app1", addr = "{app}" }} ]
"#,
        p = p.display(),
        app = app.addr,
    )
}

const REGISTERED: &str = "rhttp tunnel registered";
const CLOSED: &str = "rhttp tunnel closed";

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_through_a_reverse_tunnel_and_back_to_zero() {
    const NBCONN: usize = 3;
    const PER_CLIENT: usize = 10;
    const TUNNEL_CLIENTS: usize = 4;
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(&app));
    let gw_metrics = gw.addr("metrics", 0);

    // No origin yet: the rhttp@ server has no tunnel, no name is listed.
    let e = scrape(gw_metrics).await;
    let origins = [("proxy", "tunnels"), ("server", "origins")];
    assert_eq!(
        value(
            &e,
            "gwd_server_status",
            &[
                ("proxy", "tunnels"),
                ("server", "origins"),
                ("state", "NO_TUNNEL")
            ]
        ),
        1
    );
    assert_eq!(
        try_value(&e, "gwd_tunnels", &[("name", "app.localhost")]),
        None
    );

    let mut origin = Gwd::start(&origin_config(gw.addr("registration", 0), NBCONN, &app));
    gw.stderr
        .wait_count(REGISTERED, NBCONN, |l| l.contains(REGISTERED));
    let origin_metrics = origin.addr("metrics", 0);

    // Gateway: one gauge per name, equal to nbconn; the server is UP.
    let e = scrape(gw_metrics).await;
    assert_eq!(
        value(&e, "gwd_tunnels", &[("name", "app.localhost")]),
        NBCONN as u64
    );
    assert_eq!(kind(&e, "gwd_tunnels"), PrometheusType::Gauge);
    assert_eq!(
        value(
            &e,
            "gwd_tunnel_active_streams",
            &[("name", "app.localhost")]
        ),
        0
    );
    assert_eq!(
        value(
            &e,
            "gwd_server_status",
            &[("proxy", "tunnels"), ("server", "origins"), ("state", "UP")]
        ),
        1
    );
    // Origin: every tunnel dialed and reversed once, with its latency (the
    // origin counts a reversal when the gateway's SETTINGS arrive, which
    // may be just after the gateway registered the tunnel).
    let o = scrape_until(origin_metrics, "the origin's reversals", |o| {
        try_value(o, "gwd_tunnel_reversals_total", &[]) == Some(NBCONN as f64)
    })
    .await;
    assert_eq!(value(&o, "gwd_tunnel_reversals_total", &[]), NBCONN as u64);
    assert_eq!(value(&o, "gwd_tunnel_dials_total", &[]), NBCONN as u64);
    assert_eq!(value(&o, "gwd_tunnel_dial_failures_total", &[]), 0);
    assert_eq!(value(&o, "gwd_tunnel_errors_total", &[]), 0);
    assert_eq!(kind(&o, "gwd_origin_tunnels_up"), PrometheusType::Gauge);
    assert_eq!(value(&o, "gwd_origin_tunnels_up", &[]), NBCONN as u64);
    assert_eq!(value(&o, "gwd_tunnel_ping_timeouts_total", &[]), 0);
    let h = &o.families["gwd_tunnel_reversal_seconds"];
    assert_eq!(h.family_type, PrometheusType::Histogram);
    let PrometheusValue::Histogram(hv) = &h.iter_samples().next().unwrap().value else {
        panic!("not a histogram");
    };
    assert_eq!(hv.count, Some(NBCONN as u64));
    assert!(hv.sum.as_ref().is_some_and(|s| s.as_f64() > 0.0));
    assert_eq!(
        hv.buckets.last().map(|b| (b.upper_bound, b.count.as_f64())),
        Some((f64::INFINITY, NBCONN as f64))
    );

    // Known traffic through the tunnels from concurrent visitors: each
    // client alternates /status/201 and /status/404.
    let visitors = gw.addr("visitors", 0);
    let mut tasks = Vec::new();
    for i in 0..TUNNEL_CLIENTS {
        tasks.push(tokio::spawn(async move {
            let mut c = if i % 2 == 0 {
                Client::h1(visitors).await
            } else {
                Client::h2c(visitors).await
            };
            let mut out = Vec::new();
            for r in 0..PER_CLIENT {
                let code = if r % 2 == 0 { 201 } else { 404 };
                let (status, _, body) = c.get("app.localhost", &format!("/status/{code}")).await;
                assert_eq!(body, status_body(code));
                out.push(status);
            }
            out
        }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert_eq!(s.iter().filter(|&&c| c == 201).count(), PER_CLIENT / 2);
        assert_eq!(s.iter().filter(|&&c| c == 404).count(), PER_CLIENT / 2);
    }
    let m = (TUNNEL_CLIENTS * PER_CLIENT) as u64;
    let body_bytes = (m / 2) * (status_body(201).len() + status_body(404).len()) as u64;

    // Counted once on each side.
    let vis = [("proxy", "visitors")];
    let e = scrape_until(gw_metrics, "the visitors' responses", |e| {
        try_value(
            e,
            "gwd_frontend_http_responses_total",
            &[("proxy", "visitors"), ("code", "4xx")],
        ) == Some((m / 2) as f64)
            && try_value(e, "gwd_frontend_current_sessions", &vis) == Some(0.0)
    })
    .await;
    // No request reached `visitors` but these.
    assert_eq!(value(&e, "gwd_frontend_http_requests_total", &vis), m);
    assert_eq!(
        value(
            &e,
            "gwd_frontend_http_responses_total",
            &[("proxy", "visitors"), ("code", "2xx")]
        ),
        m / 2
    );
    assert_eq!(value(&e, "gwd_frontend_bytes_out_total", &vis), body_bytes);
    assert_eq!(value(&e, "gwd_server_http_requests_total", &origins), m);
    assert_eq!(
        value(
            &e,
            "gwd_server_http_responses_total",
            &[("proxy", "tunnels"), ("server", "origins"), ("code", "2xx")]
        ),
        m / 2
    );
    assert_eq!(
        value(
            &e,
            "gwd_server_http_responses_total",
            &[("proxy", "tunnels"), ("server", "origins"), ("code", "4xx")]
        ),
        m / 2
    );
    assert_eq!(
        value(&e, "gwd_server_bytes_out_total", &origins),
        body_bytes
    );
    assert_eq!(
        value(
            &e,
            "gwd_tunnel_active_streams",
            &[("name", "app.localhost")]
        ),
        0
    );

    let fg = [("proxy", "from-gateway")];
    let o = scrape_until(origin_metrics, "the origin's responses", |o| {
        try_value(
            o,
            "gwd_frontend_http_responses_total",
            &[("proxy", "from-gateway"), ("code", "4xx")],
        ) == Some((m / 2) as f64)
            && try_value(o, "gwd_backend_current_sessions", &[("proxy", "app")]) == Some(0.0)
    })
    .await;
    assert_eq!(value(&o, "gwd_frontend_http_requests_total", &fg), m);
    // On the origin, each tunnel is a connection (and a session) of the
    // rhttp@ bind's frontend, for as long as it is up.
    assert_eq!(
        value(&o, "gwd_frontend_current_connections", &fg),
        NBCONN as u64
    );
    assert_eq!(
        value(&o, "gwd_frontend_current_sessions", &fg),
        NBCONN as u64
    );
    assert_eq!(
        value(
            &o,
            "gwd_frontend_http_responses_total",
            &[("proxy", "from-gateway"), ("code", "2xx")]
        ),
        m / 2
    );
    assert_eq!(
        value(
            &o,
            "gwd_frontend_http_responses_total",
            &[("proxy", "from-gateway"), ("code", "4xx")]
        ),
        m / 2
    );
    assert_eq!(
        value(&o, "gwd_backend_http_requests_total", &[("proxy", "app")]),
        m
    );
    assert_eq!(value(&o, "gwd_frontend_bytes_out_total", &fg), body_bytes);
    // No tunnel was re-dialed.
    assert_eq!(value(&o, "gwd_tunnel_reversals_total", &[]), NBCONN as u64);

    // The origin stops: its tunnels close, every gateway gauge is back to
    // zero and the name disappears.
    origin.signal(libc::SIGTERM);
    assert!(origin.wait_exit().success());
    gw.stderr.wait_count(CLOSED, NBCONN, |l| l.contains(CLOSED));
    let e = scrape_until(gw_metrics, "gauges back to zero", |e| {
        try_value(e, "gwd_tunnels", &[("name", "app.localhost")]).unwrap_or(0.0) == 0.0
            && try_value(e, "gwd_frontend_current_connections", &vis) == Some(0.0)
            && try_value(
                e,
                "gwd_frontend_current_connections",
                &[("proxy", "registration")],
            ) == Some(0.0)
    })
    .await;
    assert_eq!(
        try_value(
            &e,
            "gwd_tunnel_active_streams",
            &[("name", "app.localhost")]
        )
        .unwrap_or(0.0),
        0.0
    );
    assert_eq!(value(&e, "gwd_server_current_sessions", &origins), 0);
    assert_eq!(
        value(&e, "gwd_backend_current_sessions", &[("proxy", "tunnels")]),
        0
    );
    assert_eq!(
        value(
            &e,
            "gwd_frontend_current_connections",
            &[("proxy", "registration")]
        ),
        0
    );
    assert_eq!(
        value(
            &e,
            "gwd_server_status",
            &[
                ("proxy", "tunnels"),
                ("server", "origins"),
                ("state", "NO_TUNNEL")
            ]
        ),
        1
    );
    // Counters stay as they were.
    assert_eq!(value(&e, "gwd_server_http_requests_total", &origins), m);
}

/// Runs a command to completion, at most `limit`; returns (success,
/// stdout, stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    let dir = scratch_dir("cmd-out");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start command");
    let deadline = Instant::now() + limit;
    let ok = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st.success();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        // A child's exit has no readiness signal in std.
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        ok,
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default(),
    )
}

/// Where this test leaves its screenshot: `target/tmp/stats_http/`.
fn output_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stats_http");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The text from `start` (which must occur in `dom`) to the first `end`
/// after it.
fn section<'d>(dom: &'d str, start: &str, end: &str) -> &'d str {
    let i = dom
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the DOM:\n{dom}"));
    let j = dom[i..].find(end).map_or(dom.len(), |j| i + j);
    &dom[i..j]
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_page_auth_csv_and_headless_chromium() {
    let app = Backend::start("app", Proto::H1).await;
    let gw = Gwd::start(&gateway_config(&app));
    let _origin = Gwd::start(&origin_config(gw.addr("registration", 0), 1, &app));
    gw.stderr
        .wait_count(REGISTERED, 1, |l| l.contains(REGISTERED));
    let www = gw.addr("www", 0);
    // Some traffic on www, so its rows carry numbers.
    let mut c = Client::h1(www).await;
    for _ in 0..3 {
        assert_eq!(c.get("www.test", "/hello").await.0, 200);
    }

    // No credentials, wrong credentials: 401 and the realm.
    let (status, headers, body) = c.get("www.test", "/stats").await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        "Basic realm=\"gwd statistics\""
    );
    assert!(!body.contains("<table"));
    let with_auth = |path: &str, creds: &str| {
        Request::get(path.to_string())
            .header("host", "www.test")
            .header("authorization", format!("Basic {creds}"))
            .body(empty())
            .unwrap()
    };
    // admin:wrong
    let resp = c
        .send(with_auth("/stats", "YWRtaW46d3Jvbmc="))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let _ = read_all(resp).await;

    // admin:s3cr3t: the page, then the CSV.
    const CREDS: &str = "YWRtaW46czNjcjN0";
    let resp = c.send(with_auth("/stats", CREDS)).await.unwrap();
    let (status, headers, page) = read_all(resp).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(page.contains(r#"<table class="proxy" id="proxy-www" data-proxy="www">"#));
    assert!(page.contains(r#"<a id="csv-link" href="/stats;csv">"#));
    let resp = c.send(with_auth("/stats;csv", CREDS)).await.unwrap();
    let (status, headers, csv) = read_all(resp).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let show_stat = cli_tcp(&stats_addr(&gw, "user"), "show stat");
    assert_eq!(csv.lines().next(), show_stat.lines().next());
    let rows = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/"))
            .collect()
    };
    assert_eq!(rows(&csv), rows(&show_stat));
    assert!(rows(&csv).contains(&"tunnels/origins".to_string()));
    drop(c);

    // A browser: the DOM it builds, and what it draws.
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!(
            "skipped: chromium not installed (apt-get install chromium); the HTTP, auth and CSV checks above ran"
        );
        return;
    }
    let url = format!("http://{}/", gw.addr("open-stats", 0));
    let profile = scratch_dir("chromium-profile");
    let browser = |extra: &[&str]| {
        let mut cmd = Command::new(chromium);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url);
        cmd
    };
    let (ok, dom, err) = run_bounded(&mut browser(&["--dump-dom"]), Duration::from_secs(90));
    assert!(ok, "chromium --dump-dom failed:\n{err}");
    assert!(dom.contains(r#"<html lang="en">"#), "{dom}");
    assert!(
        dom.contains("<title>Statistics Report for gwd</title>"),
        "{dom}"
    );
    assert!(dom.contains(r#"<meta http-equiv="refresh" content="30">"#));
    // One table per proxy; `www` (a listen) has its three kinds of rows.
    let www_table = section(
        &dom,
        r#"<table class="proxy" id="proxy-www" data-proxy="www">"#,
        "</table>",
    );
    assert!(
        www_table.contains(
            r#"<tr class="frontend status-open" data-row="FRONTEND" data-status="OPEN">"#
        ),
        "{www_table}"
    );
    assert!(
        www_table.contains(r#"data-row="server" data-server="s1" data-status="no check""#),
        "{www_table}"
    );
    assert!(
        www_table.contains(r#"<tr class="backend status-up" data-row="BACKEND" data-status="UP">"#),
        "{www_table}"
    );
    // 3 proxied requests, plus the stats requests (local answers) on the
    // frontend row.
    let s1 = section(www_table, r#"data-server="s1""#, "</tr>");
    assert!(s1.contains(r#"<td data-col="hrsp_2xx">3</td>"#), "{s1}");
    for px in [
        "visitors",
        "registration",
        "metrics",
        "open-stats",
        "tunnels",
    ] {
        assert!(
            dom.contains(&format!(r#"data-proxy="{px}""#)),
            "no {px} table"
        );
    }
    let tunnels = section(&dom, r#"data-proxy="tunnels">"#, "</table>");
    assert!(
        tunnels.contains(r#"<tr class="server status-up" data-row="server" data-server="origins" data-status="UP">"#),
        "{tunnels}"
    );
    // The tunnel table: one row for the name, one tunnel, no stream.
    let row = section(
        &dom,
        r#"<tr class="tunnel status-up" data-tunnel="app.localhost">"#,
        "</tr>",
    );
    assert!(row.contains(r#"<td data-col="tunnels">1</td>"#), "{row}");
    assert!(row.contains(r#"<td data-col="streams">0</td>"#), "{row}");

    let png = output_dir().join("stats.png");
    let _ = std::fs::remove_file(&png);
    let (ok, _, err) = run_bounded(
        &mut browser(&[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,1024",
        ]),
        Duration::from_secs(90),
    );
    assert!(ok, "chromium --screenshot failed:\n{err}");
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    // IHDR: width and height, big-endian, right after the chunk header.
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1024));
    // A blank 1280x1024 page compresses to a few kB; tables of text do not.
    assert!(
        bytes.len() > 20_000,
        "screenshot of {} bytes looks empty: {}",
        bytes.len(),
        png.display()
    );
    eprintln!("stats page screenshot: {}", png.display());
}
