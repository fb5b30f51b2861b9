//! `http-response` and `http-after-response` rules and variables through
//! the real binary: the exact status and headers a visitor gets for each
//! action, the backend's rules before the frontend's, after-response rules
//! on gwd's own answers (a 503, a `return`) that response rules skip, a
//! request header carried to the response in `txn.*`, and a response fetch
//! in a request rule refused at load; HTTP/1.1 and h2c visitors alike.

use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::{Client, empty, raw_exchange, read_all};
use gwd_regtests::{Gwd, run_gwd, scratch_dir};
use http::{HeaderMap, Request};

fn config(server: std::net::SocketAddr) -> String {
    format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "10s"
http-request = [
  {{ action = "set-var", var = "txn.host", expr = "req.hdr(host),lower" }},
  {{ action = "set-var", var = "txn.path", expr = "path" }},
  {{ action = "set-var", var = "sess.hits", expr = "var(sess.hits),add(1)", if = "{{ var(sess.hits) -m found }}" }},
  {{ action = "set-var", var = "sess.hits", expr = "int(1)", unless = "{{ var(sess.hits) -m found }}" }},
  {{ action = "return", status = 200, content-type = "text/plain", body = "local\n", if = "{{ path /local }}" }},
]
http-response = [
  {{ action = "add-header", name = "X-Order", value = "fe saw %[res.hdr_cnt(x-order)]" }},
  {{ action = "set-header", name = "X-Host", value = "%[var(txn.host)]" }},
  {{ action = "set-header", name = "X-Hits", value = "%[var(sess.hits)]" }},
  {{ action = "del-header", name = "X-Served-By", if = "{{ var(txn.path) -m beg /hide }}" }},
  {{ action = "replace-header", name = "X-Served-By", regex = '^(.*)$', value = 'srv-\1', if = "{{ var(txn.path) -m beg /rep }}" }},
  {{ action = "set-status", status = 299, reason = "Fine Thanks", if = "{{ status 201 }}" }},
  {{ action = "deny", if = "{{ status 403 }}" }},
  {{ action = "deny", status = 451, if = "{{ status 410 }}" }},
  {{ action = "return", status = 503, content-type = "text/plain", lf-body = "maintenance (was %[status])\n", if = "{{ status 500 }}" }},
  {{ action = "redirect", location = "/elsewhere%[var(txn.path)]", if = "{{ status 404 }}" }},
]
http-after-response = [
  {{ action = "set-header", name = "X-After", value = "%[status] %[res.ver]" }},
  {{ action = "set-status", status = 418, if = "{{ var(txn.path) -m beg /teapot }}" }},
]
default_backend = "app"

[backend.app]
timeout.connect = "5s"
timeout.server = "10s"
http-response = [ {{ action = "add-header", name = "X-Order", value = "be" }} ]
http-after-response = [ {{ action = "add-header", name = "X-After-Be", value = "%[be_name]" }} ]
server = [ {{ name = "s", addr = "{server}" }} ]

[frontend.nobackend]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-response = [ {{ action = "set-header", name = "X-Response", value = "yes" }} ]
http-after-response = [ {{ action = "set-header", name = "X-After", value = "%[status]" }} ]
"#
    )
}

async fn send(c: &mut Client, h2: bool, path: &str) -> (u16, HeaderMap, String) {
    let b = if h2 {
        Request::builder().uri(format!("http://App.Test{path}"))
    } else {
        Request::builder().uri(path).header("host", "App.Test")
    };
    read_all(c.send(b.body(empty()).unwrap()).await.expect("a response")).await
}

fn values<'h>(h: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
}

async fn actions_apply(h2: bool) {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr));
    let a = gwd.addr("www", 0);
    let mut c = if h2 {
        Client::h2c(a).await
    } else {
        Client::h1(a).await
    };
    // `res.ver` is the server's version (an HTTP/1.1 server), whatever the
    // visitor speaks, as HAProxy's.
    let ver = "1.1";

    // Plain relay: backend's rule first, then the frontend's (which sees
    // the backend's header); variables carried from the request.
    let (st, h, _) = send(&mut c, h2, "/plain").await;
    assert_eq!(st, 200);
    assert_eq!(values(&h, "x-order"), ["be", "fe saw 1"]);
    assert_eq!(values(&h, "x-host"), ["app.test"]);
    assert_eq!(values(&h, "x-served-by"), ["app"]);
    assert_eq!(values(&h, "x-after"), [format!("200 {ver}").as_str()]);
    assert_eq!(values(&h, "x-after-be"), ["app"]);
    // `sess.*` lives as long as the connection.
    assert_eq!(values(&h, "x-hits"), ["1"]);
    let (_, h, _) = send(&mut c, h2, "/again").await;
    assert_eq!(values(&h, "x-hits"), ["2"]);

    let (_, h, _) = send(&mut c, h2, "/hide/x").await;
    assert!(values(&h, "x-served-by").is_empty());
    let (_, h, _) = send(&mut c, h2, "/rep/x").await;
    assert_eq!(values(&h, "x-served-by"), ["srv-app"]);

    // set-status (the reason phrase is checked on HTTP/1.1 below).
    let (st, h, body) = send(&mut c, h2, "/status/201").await;
    assert_eq!(st, 299);
    assert_eq!(body, "status 201\n");
    assert_eq!(values(&h, "x-after"), [format!("299 {ver}").as_str()]);

    // deny: HAProxy's 502, or the rule's status; the error page replaces
    // the server's answer, and after-response rules still run.
    let (st, h, body) = send(&mut c, h2, "/status/403").await;
    assert_eq!(st, 502);
    assert!(body.contains("502"), "{body}");
    assert!(values(&h, "x-order").is_empty());
    assert!(values(&h, "x-served-by").is_empty());
    assert_eq!(values(&h, "x-after-be"), ["app"]);
    assert_eq!(values(&h, "x-after")[0].split(' ').next(), Some("502"));
    let (st, _, _) = send(&mut c, h2, "/status/410").await;
    assert_eq!(st, 451);

    // return
    let (st, h, body) = send(&mut c, h2, "/status/500").await;
    assert_eq!(st, 503);
    assert_eq!(body, "maintenance (was 500)\n");
    assert_eq!(values(&h, "content-type"), ["text/plain"]);
    assert!(values(&h, "x-served-by").is_empty());
    assert_eq!(values(&h, "x-after")[0].split(' ').next(), Some("503"));

    // redirect, built from a variable the request set.
    let (st, h, body) = send(&mut c, h2, "/status/404").await;
    assert_eq!(st, 302);
    assert_eq!(body, "");
    assert_eq!(values(&h, "location"), ["/elsewhere/status/404"]);
    assert_eq!(values(&h, "cache-control"), ["no-cache"]);

    // A local `return` gets no http-response rule, but after-response ones.
    let (st, h, body) = send(&mut c, h2, "/local").await;
    assert_eq!(st, 200);
    assert_eq!(body, "local\n");
    assert!(values(&h, "x-order").is_empty());
    assert!(values(&h, "x-host").is_empty());
    assert_eq!(values(&h, "x-after")[0].split(' ').next(), Some("200"));
    assert_eq!(values(&h, "x-after-be"), Vec::<&str>::new());

    // After-response set-status on a relayed answer.
    let (st, _, _) = send(&mut c, h2, "/teapot").await;
    assert_eq!(st, 418);

    // gwd's own 503 (no backend): after-response only.
    let b = gwd.addr("nobackend", 0);
    let mut c2 = if h2 {
        Client::h2c(b).await
    } else {
        Client::h1(b).await
    };
    let (st, h, _) = send(&mut c2, h2, "/").await;
    assert_eq!(st, 503);
    assert_eq!(values(&h, "x-after"), ["503"]);
    assert!(values(&h, "x-response").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn response_actions_over_http1() {
    actions_apply(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn response_actions_over_h2c() {
    actions_apply(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn set_status_reason_goes_out_on_http1() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&config(app.addr));
    let out = raw_exchange(
        gwd.addr("www", 0),
        b"GET /status/201 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        gwd_regtests::WAIT,
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 299 Fine Thanks\r\n"), "{out}");
}

#[test]
fn a_response_fetch_in_a_request_rule_is_refused_at_load() {
    let dir = scratch_dir("resp-fetch");
    let path = dir.join("gwd.toml");
    std::fs::write(
        &path,
        r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "deny", if = "{ status 200 }" } ]
"#,
    )
    .unwrap();
    let (status, _, stderr) = run_gwd(&["check", "--config", path.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("`status` in this condition needs an HTTP response, which http-request rules do not have"),
        "{stderr}"
    );
}
