//! Stats counters against known traffic: many concurrent visitors, a mix
//! of proxied, locally answered and failing requests; every counter must
//! equal what was sent, and every gauge must come back to zero.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use gwd_app::App;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const CLIENTS: usize = 16;
const ROUNDS: usize = 25;
const UPLOAD: usize = 1000;

/// A server answering every request with its request body length as text
/// (so response sizes are known) and 201 for `/created`.
async fn server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let created = req.uri().path() == "/created";
                    let n = req.into_body().collect().await.unwrap().to_bytes().len();
                    let mut r = Response::new(Full::new(Bytes::from(format!("{n:08}"))));
                    if created {
                        *r.status_mut() = http::StatusCode::CREATED;
                    }
                    Ok::<_, Infallible>(r)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    a
}

fn closed_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_match_traffic_under_concurrency() {
    let srv = server().await;
    let toml = format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", status = 200, body = "local", if = "{{ path /local }}" }} ]
use_backend = [ {{ backend = "down", if = "{{ path /down }}" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{srv}" }}, {{ name = "s2", addr = "{srv}" }} ]

[backend.down]
server = [ {{ name = "d1", addr = "{}" }} ]
"#,
        closed_port()
    );
    let cfg = gwd_config::parse_str(&toml, std::path::Path::new("counters.toml")).unwrap();
    let app = App::build(cfg).unwrap();
    let proxy = app.proxy().clone();
    let addr = app.listeners()[0].listener.local_addr();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async {
        let _ = stop_rx.await;
    }));

    // Each client, on its own connection: ROUNDS x (POST /data with
    // UPLOAD bytes -> 200 "00001000", GET /created -> 201, GET /local ->
    // 200 "local", GET /down -> 503).
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.unwrap();
            let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut statuses = Vec::new();
            let mut received = 0usize;
            for _ in 0..ROUNDS {
                for (method, path, body) in [
                    ("POST", "/data", vec![b'x'; UPLOAD]),
                    ("GET", "/created", vec![]),
                    ("GET", "/local", vec![]),
                    ("GET", "/down", vec![]),
                ] {
                    let req = Request::builder()
                        .method(method)
                        .uri(path)
                        .header("host", "t")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    tx.ready().await.unwrap();
                    let resp = tx.send_request(req).await.unwrap();
                    statuses.push(resp.status().as_u16());
                    received += resp.into_body().collect().await.unwrap().to_bytes().len();
                }
            }
            (statuses, received)
        }));
    }
    let mut received_total = 0usize;
    for c in clients {
        let (statuses, received) = c.await.unwrap();
        assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), ROUNDS);
        received_total += received;
    }

    let n = (CLIENTS * ROUNDS) as u64;
    // Gauges drain as connection tasks notice the closes: poll, bounded.
    let snap = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = proxy.stats.snapshot();
            let fe = &s.frontends[0].counters;
            let busy = fe.conns.cur
                + fe.sessions.cur
                + s.backends
                    .iter()
                    .map(|b| b.counters.sessions.cur)
                    .sum::<u64>()
                + s.backends
                    .iter()
                    .flat_map(|b| &b.servers)
                    .map(|sv| sv.counters.counters.sessions.cur)
                    .sum::<u64>();
            if busy == 0 {
                return s;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("gauges never returned to zero");

    let fe = &snap.frontends[0].counters;
    assert_eq!(fe.conns.total, CLIENTS as u64);
    assert!(fe.conns.max >= 1 && fe.conns.max <= CLIENTS as u64);
    assert_eq!(fe.requests, 4 * n);
    assert_eq!(fe.responses.r2xx, 3 * n);
    assert_eq!(fe.responses.r5xx, n);
    assert_eq!(fe.responses.total(), 4 * n);
    assert_eq!(fe.bytes_in, n * UPLOAD as u64);
    assert_eq!(fe.bytes_out, received_total as u64);
    // "00001000" or "00000000" (8 bytes) per proxied answer, "local" (5).
    let page_503 =
        gwd_http::error_page::page_html(http::StatusCode::SERVICE_UNAVAILABLE).len() as u64;
    assert_eq!(received_total as u64, n * (8 + 8 + 5 + page_503));

    let app_be = &snap.backends[0];
    assert_eq!(app_be.name, "app");
    assert_eq!(app_be.counters.requests, 2 * n);
    assert_eq!(app_be.counters.responses.r2xx, 2 * n);
    assert_eq!(app_be.counters.sessions.total, 2 * n);
    assert_eq!(app_be.counters.bytes_in, n * UPLOAD as u64);
    let per_server: Vec<u64> = app_be
        .servers
        .iter()
        .map(|s| s.counters.counters.responses.total())
        .collect();
    assert_eq!(per_server.iter().sum::<u64>(), 2 * n);
    assert_eq!(
        per_server[0], per_server[1],
        "round-robin splits evenly: {per_server:?}"
    );
    // Request bodies are counted on the server they went to, too.
    let server_bin: u64 = app_be
        .servers
        .iter()
        .map(|s| s.counters.counters.bytes_in)
        .sum();
    assert_eq!(server_bin, n * UPLOAD as u64);
    let server_bout: u64 = app_be
        .servers
        .iter()
        .map(|s| s.counters.counters.bytes_out)
        .sum();
    assert_eq!(server_bout, app_be.counters.bytes_out);
    for s in &app_be.servers {
        let c = &s.counters;
        assert_eq!(c.connect_attempts + c.reuses, c.counters.responses.total());
        assert!(c.counters.conns.total <= c.connect_attempts);
    }

    let down = &snap.backends[1];
    assert_eq!(down.counters.requests, n);
    assert_eq!(down.counters.responses.r5xx, n);
    assert_eq!(down.counters.conn_errors, n);
    assert_eq!(down.servers[0].counters.counters.conn_errors, n);
    assert_eq!(down.servers[0].counters.counters.conns.total, 0);
    // The 503 gwd answers after failed connects is the last server's too.
    assert_eq!(down.servers[0].counters.counters.responses.r5xx, n);
    assert_eq!(down.servers[0].counters.counters.responses.total(), n);
    assert_eq!(down.servers[0].counters.counters.bytes_in, 0);

    stop_tx.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped, gwd_app::Stopped::Drained);
}
