//! HTTP/1.1 visitors through gwd to HTTP/1.1 and HTTP/2 servers.

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto, pattern_byte};
use gwd_regtests::client::{Client, full, read_all};
use http::Request;

fn two_backend_config(app1: &Backend, app2: &Backend, api: &Backend) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
option.forwardfor = true

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.is_api = "req.hdr(host),field(1,:),lower -m str api.localhost"
http-request = [
  {{ action = "return", status = 200, content-type = "text/plain", body = "healthy\n", if = "{{ path /healthz }}" }},
  {{ action = "set-header", name = "X-Via", value = "gwd %[fe_name]" }},
  {{ action = "del-header", name = "X-Secret" }},
  {{ action = "deny", status = 403, if = "{{ path_beg /admin }}" }},
]
use_backend = [ {{ backend = "api", if = "is_api" }} ]
default_backend = "app"

[backend.app]
server = [
  {{ name = "app1", addr = "{}" }},
  {{ name = "app2", addr = "{}" }},
]

[backend.api]
server = [ {{ name = "api1", addr = "{}", proto = "h2" }} ]
"#,
        app1.addr, app2.addr, api.addr
    )
}

struct Setup {
    gwd: Gwd,
    app1: Backend,
    app2: Backend,
    api: Backend,
}

async fn setup() -> Setup {
    let app1 = Backend::start("app1", Proto::H1).await;
    let app2 = Backend::start("app2", Proto::H1).await;
    let api = Backend::start("api1", Proto::H2).await;
    let gwd = Gwd::start(&two_backend_config(&app1, &app2, &api));
    Setup {
        gwd,
        app1,
        app2,
        api,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_host_and_round_robins() {
    let s = setup().await;
    let addr = s.gwd.addr("www", 0);
    let mut c = Client::h1(addr).await;
    let mut served = Vec::new();
    for _ in 0..4 {
        let (status, h, body) = c.get("app.localhost", "/x").await;
        assert_eq!(status, 200, "{body}");
        served.push(h["x-served-by"].to_str().unwrap().to_string());
    }
    assert_eq!(served, ["app1", "app2", "app1", "app2"]);
    let (status, h, body) = c.get("api.localhost:8080", "/y").await;
    assert_eq!(status, 200);
    assert_eq!(h["x-served-by"], "api1");
    assert!(
        body.contains("version=HTTP/2.0"),
        "h2 to the api server: {body}"
    );
    assert_eq!(s.api.hits(), 1);
    assert_eq!(s.app1.hits() + s.app2.hits(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_reuses_both_sides() {
    let s = setup().await;
    let addr = s.gwd.addr("www", 0);
    let mut c = Client::h1(addr).await;
    for _ in 0..6 {
        let (status, _, _) = c.get("app.localhost", "/").await;
        assert_eq!(status, 200);
    }
    // Six requests over one visitor connection; each server got three and,
    // thanks to the pool, needed one connection.
    assert_eq!(s.app1.hits(), 3);
    assert_eq!(s.app1.conns(), 1, "server connection reused");
    assert_eq!(s.app2.conns(), 1, "server connection reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_return_set_del_deny_and_forwardfor() {
    let s = setup().await;
    let addr = s.gwd.addr("www", 0);
    let mut c = Client::h1(addr).await;
    let (status, h, body) = c.get("app.localhost", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "healthy\n"));
    assert_eq!(h["content-type"], "text/plain");
    assert_eq!(s.app1.hits() + s.app2.hits(), 0, "answered by gwd itself");

    let req = Request::get("/headers")
        .header("host", "app.localhost")
        .header("x-secret", "hunter2")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .body(gwd_regtests::client::empty())
        .unwrap();
    let (status, _, body) = read_all(c.send(req).await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(body.contains("h:x-via: gwd www\n"), "{body}");
    assert!(body.contains("h:x-forwarded-for: 127.0.0.1\n"), "{body}");
    assert!(!body.contains("x-secret"), "{body}");
    assert!(!body.contains("x-hop"), "{body}");

    let (status, _, body) = c.get("app.localhost", "/admin/users").await;
    assert_eq!(status, 403);
    assert!(body.contains("<h1>403 Forbidden</h1>"), "{body}");
    s.gwd.stderr.wait_for("deny log line", |l| {
        l.contains("\"GET /admin/users HTTP/1.1\"") && l.contains(" 403 ") && l.contains("PR--")
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_megabytes_stream_both_ways() {
    let s = setup().await;
    let addr = s.gwd.addr("www", 0);
    let mut c = Client::h1(addr).await;
    let n = 10 * 1024 * 1024u64;
    let up: Vec<u8> = (0..n).map(pattern_byte).collect();
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
    assert_eq!(body.len() as u64, n);
    assert!(body.as_ref() == up.as_slice(), "echoed body differs");

    let (status, _, text) = {
        let req = Request::get(format!("/big/{n}"))
            .header("host", "app.localhost")
            .body(gwd_regtests::client::empty())
            .unwrap();
        let resp = c.send(req).await.unwrap();
        let st = resp.status().as_u16();
        let b = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert!(
            b.iter()
                .enumerate()
                .all(|(i, &x)| x == pattern_byte(i as u64))
        );
        (st, (), b.len())
    };
    assert_eq!(status, 200);
    assert_eq!(text as u64, n);
    s.gwd.stderr.wait_for("access log of the download", |l| {
        l.contains(&format!(" 200 {n} ")) && l.contains(&format!("GET /big/{n} HTTP/1.1"))
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_bind_and_server_named_by_hostname() {
    let app = Backend::start("byname", Proto::H1).await;
    let gwd = Gwd::start(&format!(
        r#"
[frontend.v6]
bind = [ {{ addr = "[::1]:0" }} ]
http-request = [ {{ action = "return", status = 200, lf-body = "src=%[src] hdr=%[req.hdr(x-a)]", hdr = [ {{ name = "X-Answered-By", value = "%[fe_name]" }} ], if = "{{ path /self }}" }} ]
default_backend = "named"

[backend.named]
server = [ {{ name = "n1", addr = "localhost:{}" }} ]
"#,
        app.addr.port()
    ));
    let addr = gwd.addr("v6", 0);
    assert!(addr.is_ipv6(), "{addr}");
    let mut c = Client::h1(addr).await;
    let (status, h, body) = c.get("x", "/").await;
    assert_eq!(
        (status, h["x-served-by"].to_str().unwrap()),
        (200, "byname"),
        "{body}"
    );
    let req = Request::get("/self")
        .header("host", "x")
        .header("x-a", "42")
        .body(gwd_regtests::client::empty())
        .unwrap();
    let (status, h, body) = read_all(c.send(req).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body, "src=::1 hdr=42");
    assert_eq!(h["x-answered-by"], "v6");
}
