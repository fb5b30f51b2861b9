//! The HTTP statistics endpoints of a built [`App`]: the stats page (auth,
//! CSV, HEAD, hide-version, rules first) and the `prometheus-exporter`
//! service, rendered from the same `Cli` the runtime API serves.

use std::sync::Arc;
use std::time::Duration;

use gwd_app::App;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request on its own connection; returns status, head (lower-cased
/// field names) and body.
async fn raw(addr: std::net::SocketAddr, req: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n")
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

async fn start(toml: &str) -> (std::net::SocketAddr, Arc<gwd_http::Proxy>, Running) {
    let cfg = gwd_config::parse_str(toml, std::path::Path::new("stats.toml")).unwrap();
    let app = App::build(cfg).unwrap();
    let proxy = app.proxy().clone();
    assert!(proxy.stats_endpoints().is_some(), "installed by build");
    let addr = app.listeners()[0].listener.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    (addr, proxy, Running { stop, task })
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<gwd_app::Stopped>,
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r, gwd_app::Stopped::Drained);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_page_auth_csv_head_and_rules_first() {
    let (addr, proxy, running) = start(
        r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "deny", status = 403, if = "{ path_beg /stats/private }" } ]
stats = { uri = "/stats", refresh = "7s", auth = ["admin:s3cr3t"], realm = "Ops area" }

[frontend.open]
bind = [ { addr = "127.0.0.1:0" } ]
stats = { uri = "/s", hide-version = true }
"#,
    )
    .await;

    // No credentials, wrong ones: 401 with the realm, never the page.
    let (status, head, body) = raw(addr, &get("/stats", "")).await;
    assert_eq!(status, 401, "{head}");
    assert_eq!(
        header(&head, "www-authenticate"),
        Some("basic realm=\"ops area\"")
    );
    assert!(!body.contains("<table"), "{body}");
    // admin:wrong
    let (status, _, _) = raw(
        addr,
        &get("/stats", "Authorization: Basic YWRtaW46d3Jvbmc=\r\n"),
    )
    .await;
    assert_eq!(status, 401);

    // admin:s3cr3t
    let auth = "Authorization: Basic YWRtaW46czNjcjN0\r\n";
    let (status, head, page) = raw(addr, &get("/stats", auth)).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains(r#"<meta http-equiv="refresh" content="7">"#));
    assert!(page.contains(r#"<a id="csv-link" href="/stats;csv">"#));
    assert!(page.contains(r#"data-proxy="www""#));
    assert!(page.contains(r#"<tr data-info="version">"#));

    // HEAD: the GET's length, no body.
    let (status, head, body) = raw(
        addr,
        &format!("HEAD /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{auth}\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
    assert!(len > 1000, "{head}");
    assert!(body.is_empty());

    // CSV: the same as `show stat` on the runtime API.
    let (status, head, csv) = raw(addr, &get("/stats;csv", auth)).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    let first = csv.lines().next().unwrap();
    assert_eq!(format!("{first}\n"), gwd_admin::stat_header());
    assert!(csv.lines().any(|l| l.starts_with("www,FRONTEND,")));
    assert!(csv.lines().any(|l| l.starts_with("open,FRONTEND,")));

    // The frontend's rules run first and may deny.
    let (status, _, _) = raw(addr, &get("/stats/private", auth)).await;
    assert_eq!(status, 403);
    // Other methods are not the page's: no backend here, 503.
    let (status, _, _) = raw(
        addr,
        &format!("POST /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n{auth}\r\n"),
    )
    .await;
    assert_eq!(status, 503);
    // Outside the URI: an ordinary request.
    let (status, _, _) = raw(addr, &get("/other", auth)).await;
    assert_eq!(status, 503);

    // Served on this frontend only; the other frontend counts in the CSV.
    assert_eq!(proxy.frontends.len(), 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_page_hides_the_version_and_counts_as_local_answers() {
    let toml = r#"
[frontend.open]
bind = [ { addr = "127.0.0.1:0" } ]
stats = { uri = "/s", hide-version = true }
"#;
    let (addr, proxy, running) = start(toml).await;
    let (status, _, page) = raw(addr, &get("/s?x", "")).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-proxy="open""#));
    assert!(!page.contains(r#"data-info="version""#), "{page}");
    let (status, _, _) = raw(addr, &get("/s;csv", "")).await;
    assert_eq!(status, 200);

    // Both answers were counted on the frontend (200), when sent.
    let fe = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = proxy.stats.snapshot();
            let fe = s.frontends[0].counters;
            if fe.responses.r2xx == 2 && fe.sessions.cur == 0 {
                return fe;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("two 200s counted");
    assert_eq!(fe.requests, 2);
    assert!(fe.bytes_out > page.len() as u64);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_exporter_service() {
    let (addr, proxy, running) = start(
        r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [
  { action = "use-service", service = "prometheus-exporter", if = "{ path /metrics }" },
  { action = "return", status = 200, body = "hello" },
]
"#,
    )
    .await;
    for _ in 0..3 {
        let (status, _, body) = raw(addr, &get("/", "")).await;
        assert_eq!((status, body.as_str()), (200, "hello"));
    }
    // Counters settle when the answers have been sent.
    tokio::time::timeout(Duration::from_secs(20), async {
        while proxy.stats.snapshot().frontends[0].counters.responses.r2xx < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let (status, head, text) = raw(addr, &get("/metrics", "")).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    // The scrape itself is the 4th request; its response is counted later.
    assert!(
        text.contains("gwd_frontend_http_requests_total{proxy=\"www\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("gwd_frontend_http_responses_total{proxy=\"www\",code=\"2xx\"} 3\n"),
        "{text}"
    );
    // HEAD: headers only; POST: 405.
    let (status, head, body) = raw(
        addr,
        "HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&head, "content-length").is_some());
    assert!(body.is_empty());
    let (status, head, _) = raw(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(header(&head, "allow"), Some("get, head"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_is_freed_after_the_app() {
    let (addr, proxy, running) = start(
        r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
stats = { uri = "/stats" }
"#,
    )
    .await;
    assert_eq!(raw(addr, &get("/stats", "")).await.0, 200);
    running.stop().await;
    let weak = Arc::downgrade(&proxy);
    drop(proxy);
    // The statistics sources hold the proxy weakly; the purge task lets go
    // of its reference once its abort is processed.
    tokio::time::timeout(Duration::from_secs(20), async {
        while weak.upgrade().is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("no reference cycle keeps the proxy alive");
}
