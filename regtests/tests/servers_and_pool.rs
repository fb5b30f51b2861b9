//! Server side: TLS servers (SNI, verification, ALPN), and the idle
//! connection pool as seen from a server: reuse, `pool-max-conn`, the
//! purge, `http-reuse never`.

use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gwd_regtests::backend::{Backend, Proto, raw_server, read_head};
use gwd_regtests::client::Client;
use gwd_regtests::{Gwd, WAIT, scratch_dir};
use gwd_tls::pki::Pki;
use tokio::io::AsyncWriteExt;

async fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_servers_h1_and_h2_with_verification() {
    let dir = scratch_dir("srv-pki");
    let f = Pki::generate("srv CA", &["backend.test"], &[])
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let h1 = Backend::start_tls("tls-h1", Proto::H1, &f.server_cert, &f.server_key).await;
    let h2 = Backend::start_tls("tls-h2", Proto::H2, &f.server_cert, &f.server_key).await;
    let gwd = Gwd::start(&format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.server = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
use_backend = [ {{ backend = "b2", if = "{{ path_beg /two }}" }}, {{ backend = "bad", if = "{{ path_beg /bad }}" }} ]
default_backend = "b1"

[backend.b1]
server = [ {{ name = "s1", addr = "{h1}", ssl = true, sni = "backend.test", ca-file = "{ca}" }} ]

[backend.b2]
server = [ {{ name = "s2", addr = "{h2}", proto = "h2", ssl = true, sni = "backend.test", ca-file = "{ca}" }} ]

# Wrong name: verification must fail, and that is a 503, not a silent accept.
[backend.bad]
server = [ {{ name = "s3", addr = "{h1}", ssl = true, sni = "other.test", ca-file = "{ca}" }} ]
"#,
        h1 = h1.addr,
        h2 = h2.addr,
        ca = f.ca_cert.display()
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, h, body) = c.get("x", "/one").await;
    assert_eq!(
        (status, h["x-served-by"].to_str().unwrap()),
        (200, "tls-h1"),
        "{body}"
    );
    let (status, h, body) = c.get("x", "/two").await;
    assert_eq!(
        (status, h["x-served-by"].to_str().unwrap()),
        (200, "tls-h2"),
        "{body}"
    );
    assert!(body.contains("version=HTTP/2.0"), "{body}");
    let (status, _, _) = c.get("x", "/bad").await;
    assert_eq!(status, 503);
    gwd.stderr.wait_for("TLS failure reason", |l| {
        l.contains(" bad/s3 ") && l.contains(" 503 ")
    });
}

fn pool_config(app: std::net::SocketAddr, server_opts: &str, backend_opts: &str) -> String {
    format!(
        r#"
[defaults]
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
{backend_opts}
server = [ {{ name = "s1", addr = "{app}" {server_opts} }} ]
"#
    )
}

/// `n` visitors each send two requests (the second may reuse), the first
/// being slow so that `n` server connections are open at once.
async fn burst(gwd: &Gwd, n: usize) {
    let addr = gwd.addr("www", 0);
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::h1(addr).await;
            assert_eq!(c.get("x", "/slow/200").await.0, 200);
            assert_eq!(c.get("x", "/").await.0, 200);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_closes_idle_connections_over_time() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&pool_config(app.addr, ", pool-purge-delay = \"100ms\"", ""));
    burst(&gwd, 6).await;
    assert_eq!(
        app.conns(),
        6,
        "one server connection per concurrent request"
    );
    // Nothing in use any more: the purge trims the idle ones tick by tick.
    poll_until("idle connections purged", || app.open() == 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_max_conn_caps_idle_connections() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&pool_config(
        app.addr,
        ", pool-max-conn = 2, pool-purge-delay = \"1h\"",
        "",
    ));
    burst(&gwd, 6).await;
    // At most two may stay idle; the others were closed when released.
    poll_until("idle connections capped at 2", || app.open() == 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_reuse_never_opens_one_connection_per_request() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&pool_config(app.addr, "", "http-reuse = \"never\""));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for _ in 0..5 {
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    assert_eq!(app.hits(), 5);
    assert_eq!(app.conns(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn safe_reuse_gives_first_requests_their_own_connection() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&pool_config(app.addr, "", ""));
    let addr = gwd.addr("www", 0);
    // Three visitors one after another, two requests each: each first
    // request opens a connection (HAProxy's `safe`), each second reuses.
    for _ in 0..3 {
        let mut c = Client::h1(addr).await;
        assert_eq!(c.get("x", "/").await.0, 200);
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    assert_eq!(app.hits(), 6);
    assert_eq!(app.conns(), 3);
}

/// A server that closes idle connections (its keep-alive timeout, as
/// nginx's, Node's or Apache's): the connection it closed sits in gwd's
/// pool unseen until taken. It must not cost the next visitor's
/// connection its place in the pool (its second request would then find
/// the dead one and open a third).
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_the_server_closed_while_pooled_makes_room() {
    let closed = Arc::new(AtomicUsize::new(0));
    let closed_by_server = closed.clone();
    let (addr, conns) = raw_server(move |mut s| {
        let closed = closed_by_server.clone();
        async move {
            // Answers until the connection has been idle for 500 ms.
            while let Ok(head) =
                tokio::time::timeout(Duration::from_millis(500), read_head(&mut s)).await
            {
                if head.is_empty()
                    || s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await
                        .is_err()
                {
                    break;
                }
            }
            drop(s);
            closed.fetch_add(1, Ordering::SeqCst);
        }
    })
    .await;
    let gwd = Gwd::start(&pool_config(addr, "", ""));
    // Visitors one after another, two requests each, each after the
    // server closed the previous visitor's connection.
    for visitor in 1..=3 {
        let mut c = Client::h1(gwd.addr("www", 0)).await;
        assert_eq!(c.get("x", "/a").await.0, 200);
        assert_eq!(c.get("x", "/b").await.0, 200);
        drop(c);
        poll_until("the server closed the idle connection", || {
            closed.load(Ordering::SeqCst) >= visitor
        })
        .await;
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        3,
        "one server connection per visitor: each second request reuses its first's"
    );
}

/// `http-reuse safe` (the default) with an HTTP/2 server: a visitor's first
/// request never takes the shared connection while it is idle; it opens
/// one of its own, which its later requests (and others') then share.
#[tokio::test(flavor = "multi_thread")]
async fn safe_reuse_gives_first_requests_their_own_h2_connection() {
    let app = Backend::start("app", Proto::H2).await;
    let gwd = Gwd::start(&pool_config(app.addr, ", proto = \"h2\"", ""));
    let addr = gwd.addr("www", 0);
    for _ in 0..3 {
        let mut c = Client::h1(addr).await;
        assert_eq!(c.get("x", "/").await.0, 200);
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    assert_eq!(app.hits(), 6);
    assert_eq!(app.conns(), 3, "one HTTP/2 connection per first request");
}

/// `http-reuse safe` with an HTTP/2 server: a first request multiplexes on
/// the connection while other requests are on it (HAProxy's "available"
/// connections): one visitor's slow request in flight, another visitor's
/// first request shares its connection.
#[tokio::test(flavor = "multi_thread")]
async fn safe_reuse_lets_a_first_request_join_a_busy_h2_connection() {
    let app = Backend::start("app", Proto::H2).await;
    let gwd = Gwd::start(&pool_config(app.addr, ", proto = \"h2\"", ""));
    let addr = gwd.addr("www", 0);
    let mut slow = Client::h1(addr).await;
    let in_flight = tokio::spawn(async move { slow.get("x", "/slow/2000").await.0 });
    // Poll until the slow request is at the server.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.hits() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow request never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut c = Client::h1(addr).await;
    assert_eq!(c.get("x", "/").await.0, 200);
    assert_eq!(
        app.conns(),
        1,
        "the first request joined the busy connection"
    );
    assert_eq!(in_flight.await.unwrap(), 200);
}

/// `http-reuse always` with an HTTP/2 server: every request, first ones
/// included, shares the one open connection.
#[tokio::test(flavor = "multi_thread")]
async fn always_reuse_shares_one_h2_connection_among_visitors() {
    let app = Backend::start("app", Proto::H2).await;
    let gwd = Gwd::start(&pool_config(
        app.addr,
        ", proto = \"h2\"",
        "http-reuse = \"always\"",
    ));
    let addr = gwd.addr("www", 0);
    for _ in 0..3 {
        let mut c = Client::h1(addr).await;
        assert_eq!(c.get("x", "/").await.0, 200);
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    assert_eq!(app.hits(), 6);
    assert_eq!(app.conns(), 1);
}
