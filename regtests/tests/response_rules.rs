//! `http-response` and `http-after-response` rules and variables through
//! the real binary: the exact status and headers a visitor gets for each
//! action, the backend's rules before the frontend's, after-response rules
//! on gwd's own answers (a 503, a `return`) that response rules skip, a
//! request header carried to the response in `txn.*`, the `req`, `res` and
//! `proc` variable scopes and `unset-var`, `replace-value`, `del-header`,
//! `replace-header` and variables in after-response rules on relayed and
//! own answers, and a response fetch in a request rule refused at load;
//! HTTP/1.1 and h2c visitors alike.

use gwd_regtests::backend::{Backend, Proto, closed_port, raw_server, read_head, recording_server};
use gwd_regtests::client::{Client, empty, raw_exchange, read_all};
use gwd_regtests::{Gwd, run_gwd, scratch_dir};
use http::{HeaderMap, Request};
use tokio::io::AsyncWriteExt;

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

/// The `req`, `res` and `proc` variable scopes, and `unset-var`, as
/// HAProxy's: a `req.*` variable lives through the request's rules and is
/// gone when the response rules start; a `res.*` variable set by an
/// `http-response` rule is read by later response rules and the
/// `http-after-response` ones; a `proc.*` variable set by a request on one
/// frontend is seen by a later request on another; `unset-var` leaves the
/// variable without a sample (`-m found` fails) in every scope.
#[tokio::test(flavor = "multi_thread")]
async fn req_res_proc_variable_scopes_and_unset_var() {
    let (server, log) = recording_server().await;
    let gwd = Gwd::start(&format!(
        r#"
[defaults]
timeout.client = "10s"
timeout.connect = "5s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "set-var", var = "req.seen", expr = "req.hdr(x-in)" }},
  {{ action = "set-header", name = "X-Req-Var", value = "%[var(req.seen)]", if = "{{ var(req.seen) -m found }}" }},
  {{ action = "set-var", var = "txn.kept", expr = "str(here)" }},
  {{ action = "unset-var", var = "txn.kept", if = "{{ path_beg /unset }}" }},
  {{ action = "set-header", name = "X-Txn-Kept", value = "%[var(txn.kept)]", if = "{{ var(txn.kept) -m found }}" }},
  {{ action = "set-var", var = "proc.last", expr = "req.hdr(x-proc)", if = "{{ req.hdr(x-proc) -m found }}" }},
  {{ action = "unset-var", var = "proc.last", if = "{{ path_beg /forget }}" }},
]
http-response = [
  {{ action = "set-header", name = "X-Req-In-Res", value = "leaked %[var(req.seen)]", if = "{{ var(req.seen) -m found }}" }},
  {{ action = "set-var", var = "res.code", expr = "status" }},
  {{ action = "set-header", name = "X-Res-Var", value = "%[var(res.code)]" }},
  {{ action = "set-var", var = "res.tmp", expr = "str(tmp)" }},
  {{ action = "unset-var", var = "res.tmp" }},
  {{ action = "set-header", name = "X-Res-Tmp", value = "%[var(res.tmp)]", if = "{{ var(res.tmp) -m found }}" }},
]
http-after-response = [
  {{ action = "set-header", name = "X-Res-After", value = "%[var(res.code)]", if = "{{ var(res.code) -m found }}" }},
]
default_backend = "app"

[frontend.other]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "set-header", name = "X-Proc", value = "%[var(proc.last)]", if = "{{ var(proc.last) -m found }}" }},
]
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{server}" }} ]
"#
    ));
    let last = || log.lock().unwrap().last().cloned().expect("a request");
    let mut www = Client::h1(gwd.addr("www", 0)).await;
    let mut other = Client::h1(gwd.addr("other", 0)).await;

    // req.*: read by a later request rule, gone in the response rules.
    let req = Request::get("/a")
        .header("host", "app.test")
        .header("x-in", "from-visitor")
        .body(empty())
        .unwrap();
    let (st, h, _) = read_all(www.send(req).await.expect("a response")).await;
    assert_eq!(st, 200);
    let seen = last();
    assert_eq!(seen.header("x-req-var"), ["from-visitor"]);
    assert!(values(&h, "x-req-in-res").is_empty(), "{h:?}");
    // res.*: set by one response rule, read by the next ones and by the
    // after-response rules; unset-var removes one.
    assert_eq!(values(&h, "x-res-var"), ["200"]);
    assert_eq!(values(&h, "x-res-after"), ["200"]);
    assert!(values(&h, "x-res-tmp").is_empty(), "{h:?}");
    // txn.*: kept unless unset.
    assert_eq!(seen.header("x-txn-kept"), ["here"]);
    let (st, _, _) = www.get("app.test", "/unset").await;
    assert_eq!(st, 200);
    let seen = last();
    assert_eq!(seen.path, "/unset");
    assert!(seen.header("x-txn-kept").is_empty(), "{seen:?}");
    assert!(seen.header("x-req-var").is_empty(), "no x-in, no req.seen");

    // proc.*: unset at first; set on www, seen on the other frontend (and
    // another connection); unset on www, gone there too.
    let (st, _, _) = other.get("app.test", "/before").await;
    assert_eq!(st, 200);
    assert!(last().header("x-proc").is_empty(), "{:?}", last());
    let req = Request::get("/set")
        .header("host", "app.test")
        .header("x-proc", "one")
        .body(empty())
        .unwrap();
    let (st, _, _) = read_all(www.send(req).await.expect("a response")).await;
    assert_eq!(st, 200);
    let (_, _, _) = other.get("app.test", "/after").await;
    let seen = last();
    assert_eq!(seen.path, "/after");
    assert_eq!(seen.header("x-proc"), ["one"]);
    let mut other2 = Client::h1(gwd.addr("other", 0)).await;
    let (_, _, _) = other2.get("app.test", "/again").await;
    assert_eq!(last().header("x-proc"), ["one"]);
    let (_, _, _) = www.get("app.test", "/forget").await;
    let (_, _, _) = other.get("app.test", "/gone").await;
    let seen = last();
    assert_eq!(seen.path, "/gone");
    assert!(seen.header("x-proc").is_empty(), "{seen:?}");
}

/// A server whose every answer carries the fields the response actions
/// below rewrite.
async fn fixed_headers_server() -> std::net::SocketAddr {
    raw_server(|mut s| async move {
        loop {
            let head = read_head(&mut s).await;
            if head.is_empty() {
                return;
            }
            let out = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\
                       cache-control: private, max-age=10\r\n\
                       x-tags: red, green, blue\r\nx-secret: s3cr3t\r\n\
                       x-version: v1\r\n\r\nok\n";
            if s.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
    .0
}

/// `http-response replace-value`, `set-var` and `unset-var`, and the
/// `http-after-response` actions `del-header`, `replace-header`,
/// `replace-value`, `set-var` and `unset-var`, as HAProxy applies them: on
/// a relayed answer (after the `http-response` rules), on an
/// `http-request return` and on gwd's 503 (which skip the `http-response`
/// rules but not the after-response ones).
async fn more_response_actions(h2: bool) {
    let server = fixed_headers_server().await;
    let dead = closed_port();
    let gwd = Gwd::start(&format!(
        r#"
[defaults]
timeout.client = "10s"
timeout.connect = "5s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "set-var", var = "txn.carried", expr = "str(c)" }},
  {{ action = "return", status = 200, content-type = "text/plain", body = "own\n", hdr = [ {{ name = "Cache-Control", value = "private, max-age=10" }}, {{ name = "X-Tags", value = "red, green, blue" }}, {{ name = "X-Secret", value = "s3cr3t" }}, {{ name = "X-Version", value = "v1" }} ], if = "{{ path /own }}" }},
]
use_backend = [ {{ backend = "dead", if = "{{ path /dead }}" }} ]
default_backend = "app"
http-response = [
  {{ action = "replace-value", name = "Cache-Control", regex = '^private$', value = "no-store" }},
  {{ action = "set-var", var = "txn.from_res", expr = "res.fhdr(x-version)" }},
  {{ action = "set-var", var = "txn.dropped", expr = "str(x)" }},
  {{ action = "unset-var", var = "txn.dropped" }},
  {{ action = "set-header", name = "X-From-Res", value = "%[var(txn.from_res)]" }},
  {{ action = "set-header", name = "X-Dropped", value = "still", if = "{{ var(txn.dropped) -m found }}" }},
]
http-after-response = [
  {{ action = "del-header", name = "X-Secret" }},
  {{ action = "replace-header", name = "X-Version", regex = '^v(\d+)$', value = 'version-\1' }},
  {{ action = "replace-value", name = "X-Tags", regex = '^green$', value = "lime" }},
  {{ action = "replace-value", name = "Cache-Control", regex = '^no-cache$', value = "no-store" }},
  {{ action = "del-header", name = "Content-Type", if = "{{ status 503 }}" }},
  {{ action = "set-var", var = "txn.after", expr = "status" }},
  {{ action = "set-header", name = "X-After-Var", value = "%[var(txn.after)]" }},
  {{ action = "set-header", name = "X-Carried-Before", value = "%[var(txn.carried)]", if = "{{ var(txn.carried) -m found }}" }},
  {{ action = "unset-var", var = "txn.carried" }},
  {{ action = "set-header", name = "X-Carried", value = "%[var(txn.carried)]", if = "{{ var(txn.carried) -m found }}" }},
  {{ action = "set-header", name = "X-From-Res-After", value = "%[var(txn.from_res)]", if = "{{ var(txn.from_res) -m found }}" }},
]

[backend.app]
server = [ {{ name = "s", addr = "{server}" }} ]

[backend.dead]
retries = 0
server = [ {{ name = "d", addr = "{dead}" }} ]
"#
    ));
    let a = gwd.addr("www", 0);
    let mut c = if h2 {
        Client::h2c(a).await
    } else {
        Client::h1(a).await
    };

    // Relayed: http-response rules, then the after-response ones.
    let (st, h, body) = send(&mut c, h2, "/relayed").await;
    assert_eq!((st, body.as_str()), (200, "ok\n"));
    assert_eq!(values(&h, "cache-control"), ["no-store, max-age=10"]);
    assert_eq!(values(&h, "x-from-res"), ["v1"]);
    assert!(values(&h, "x-dropped").is_empty(), "{h:?}");
    assert!(values(&h, "x-secret").is_empty(), "{h:?}");
    assert_eq!(values(&h, "x-version"), ["version-1"]);
    // HAProxy's replace-value: the matched value goes with the spaces
    // around it, and is joined by a bare `,`.
    assert_eq!(values(&h, "x-tags"), ["red,lime, blue"]);
    assert_eq!(values(&h, "x-after-var"), ["200"]);
    assert_eq!(values(&h, "x-carried-before"), ["c"]);
    assert!(values(&h, "x-carried").is_empty(), "{h:?}");
    assert_eq!(values(&h, "x-from-res-after"), ["v1"]);

    // gwd's own `return`: no http-response rule (Cache-Control untouched,
    // no variable from them), the after-response rules all apply.
    let (st, h, body) = send(&mut c, h2, "/own").await;
    assert_eq!((st, body.as_str()), (200, "own\n"));
    assert_eq!(values(&h, "cache-control"), ["private, max-age=10"]);
    assert!(values(&h, "x-from-res").is_empty(), "{h:?}");
    assert!(values(&h, "x-from-res-after").is_empty(), "{h:?}");
    assert!(values(&h, "x-secret").is_empty(), "{h:?}");
    assert_eq!(values(&h, "x-version"), ["version-1"]);
    assert_eq!(values(&h, "x-tags"), ["red,lime, blue"]);
    assert_eq!(values(&h, "content-type"), ["text/plain"]);
    assert_eq!(values(&h, "x-after-var"), ["200"]);
    assert_eq!(values(&h, "x-carried-before"), ["c"]);
    assert!(values(&h, "x-carried").is_empty(), "{h:?}");

    // gwd's 503 (the server refuses): its `Cache-Control: no-cache`
    // rewritten, its Content-Type deleted.
    let (st, h, body) = send(&mut c, h2, "/dead").await;
    assert_eq!(st, 503);
    assert!(body.contains("503"), "{body}");
    assert_eq!(values(&h, "cache-control"), ["no-store"]);
    assert!(values(&h, "content-type").is_empty(), "{h:?}");
    assert!(values(&h, "x-from-res").is_empty(), "{h:?}");
    assert_eq!(values(&h, "x-after-var"), ["503"]);
    assert_eq!(values(&h, "x-carried-before"), ["c"]);
    assert!(values(&h, "x-carried").is_empty(), "{h:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn more_response_actions_over_http1() {
    more_response_actions(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn more_response_actions_over_h2c() {
    more_response_actions(true).await;
}
