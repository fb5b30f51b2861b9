//! `http-request` rewrites and redirects through the real binary: what
//! the server receives after each rewrite, what later rules see, the
//! exact redirect answers, and the 500 of a rewrite that makes an invalid
//! request; HTTP/1.1 and h2c visitors alike.

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Log, Seen, recording_server};
use gwd_regtests::client::{Client, empty, read_all};
use http::{HeaderMap, Request};

fn config(server: std::net::SocketAddr) -> String {
    format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "10s"
stats = {{ uri = "/stats" }}
http-request = [
  {{ action = "redirect", prefix = "/", code = 301, drop-query = true, append-slash = true, if = "{{ path_beg /article/ }}" }},
  {{ action = "redirect", scheme = "https", if = "{{ path_beg /secure }}" }},
  {{ action = "redirect", location = "/login", code = 303, set-cookie = "SEEN=1", if = "{{ path /go }}" }},
  {{ action = "redirect", location = "/", code = 307, clear-cookie = "USERID=", if = "{{ path /logout }}" }},
  {{ action = "redirect", prefix = "https://new.example", code = 308, if = "{{ path_beg /moved/ }}" }},
  {{ action = "redirect", location = "%[query]", ignore-empty = true, if = "{{ path /jump }}" }},
  {{ action = "return", status = 301, hdr = [ {{ name = "Location", value = "https://%[req.hdr(host)]%[path]" }} ], if = "{{ path /old-style }}" }},
  {{ action = "set-path", value = "/v2%[path]", if = "{{ path_beg /sp/ }}" }},
  {{ action = "set-pathq", value = "/pq?x=1", if = "{{ path_beg /spq }}" }},
  {{ action = "set-uri", value = "/u%[path]?%[query]", if = "{{ path_beg /su/ }}" }},
  {{ action = "set-query", value = "%[query]&added=1", if = "{{ path_beg /sq }}" }},
  {{ action = "set-method", value = "PUT", if = "{{ path_beg /sm }}" }},
  {{ action = "replace-path", regex = '^/rp/(.*)$', value = '/\1/%[req.hdr(x-id)]' }},
  {{ action = "replace-pathq", regex = '^/rpq([^?]*)(\?.*)?$', value = '/pq\1/x\2' }},
  {{ action = "replace-uri", regex = '^(http://[^/]*)?/ru/(.*)$', value = '/uri/\2' }},
  {{ action = "replace-header", name = "X-Cookie", regex = 'foo=([^;]*);(.*)', value = 'foo=\1;id=%[req.hdr(x-id)];\2' }},
  {{ action = "replace-value", name = "X-Forwarded-For", regex = '^192\.168\.(.*)$', value = '172.16.\1' }},
  {{ action = "set-header", name = "X-Seen", value = "%[method] %[path] %[query]" }},
  {{ action = "set-path", value = "nope", if = "{{ path_beg /bad-path }}" }},
  {{ action = "set-method", value = "%[req.hdr(x-m)]", if = "{{ path_beg /bad-method }}" }},
  {{ action = "replace-header", name = "X-A", regex = '.*', value = '%[url,url_dec]', if = "{{ path_beg /bad-header }}" }},
]
default_backend = "app"

[backend.app]
timeout.connect = "5s"
timeout.server = "10s"
server = [ {{ name = "s", addr = "{server}" }} ]
"#
    )
}

async fn start() -> (Gwd, Log) {
    let (server, log) = recording_server().await;
    (Gwd::start(&config(server)), log)
}

/// Sends `method path` with `headers` (the Host is `app.test`; h2c
/// visitors send the absolute form, as browsers do).
async fn send(
    c: &mut Client,
    h2: bool,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, String) {
    let mut b = if h2 {
        Request::builder().uri(format!("http://app.test{path}"))
    } else {
        Request::builder().uri(path).header("host", "app.test")
    }
    .method(method);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    read_all(c.send(b.body(empty()).unwrap()).await.expect("a response")).await
}

fn last(log: &Log) -> Seen {
    log.lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the server saw a request")
}

async fn client(gwd: &Gwd, h2: bool) -> Client {
    let a = gwd.addr("www", 0);
    if h2 {
        Client::h2c(a).await
    } else {
        Client::h1(a).await
    }
}

/// Method, path sent, headers, method seen, target seen, `X-Seen`.
type RewriteCase<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    &'a str,
    &'a str,
);

/// Path, code, `Location`, `Cache-Control`, `Set-Cookie`.
type RedirectCase<'a> = (&'a str, u16, &'a str, Option<&'a str>, Option<&'a str>);

/// What the server received for each rewrite: method, target, headers;
/// `X-Seen` is what a rule after the rewrites read.
async fn rewrites_reach_the_server(h2: bool) {
    let (gwd, log) = start().await;
    let mut c = client(&gwd, h2).await;
    let cases: &[RewriteCase<'_>] = &[
        // method, path sent, headers, method seen, target seen, X-Seen
        // (the server trims the space an empty query leaves at its end)
        (
            "GET",
            "/sp/a?q=1",
            &[],
            "GET",
            "/v2/sp/a?q=1",
            "GET /v2/sp/a q=1",
        ),
        ("GET", "/spq/a?q=1", &[], "GET", "/pq?x=1", "GET /pq x=1"),
        (
            "GET",
            "/su/a?q=1",
            &[],
            "GET",
            "/u/su/a?q=1",
            "GET /u/su/a q=1",
        ),
        (
            "GET",
            "/sq?a=1",
            &[],
            "GET",
            "/sq?a=1&added=1",
            "GET /sq a=1&added=1",
        ),
        ("GET", "/sq", &[], "GET", "/sq?&added=1", "GET /sq &added=1"),
        ("POST", "/sm", &[], "PUT", "/sm", "PUT /sm"),
        (
            "GET",
            "/rp/a/b?k=v",
            &[("x-id", "7")],
            "GET",
            "/a/b/7?k=v",
            "GET /a/b/7 k=v",
        ),
        (
            "GET",
            "/rpq/a?k=v",
            &[],
            "GET",
            "/pq/a/x?k=v",
            "GET /pq/a/x k=v",
        ),
        ("GET", "/rpq/a", &[], "GET", "/pq/a/x", "GET /pq/a/x"),
        ("GET", "/ru/z?k", &[], "GET", "/uri/z?k", "GET /uri/z k"),
    ];
    for (method, path, headers, want_method, want_target, want_seen) in cases {
        let (status, _, _) = send(&mut c, h2, method, path, headers).await;
        assert_eq!(status, 200, "{method} {path}");
        let seen = last(&log);
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            (*want_method, *want_target),
            "{method} {path} (h2: {h2})"
        );
        assert_eq!(seen.header("x-seen"), [*want_seen], "{method} {path}");
    }

    let (status, _, _) = send(
        &mut c,
        h2,
        "GET",
        "/h",
        &[
            ("x-id", "9"),
            (
                "x-cookie",
                "foo=foobar; expires=Tue, 14-Jun-2016 01:40:45 GMT;",
            ),
            ("x-forwarded-for", "192.168.10.1, 192.168.13.24, 10.0.0.37"),
            ("x-forwarded-for", "10.1.1.1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let seen = last(&log);
    assert_eq!(
        seen.header("x-cookie"),
        ["foo=foobar;id=9; expires=Tue, 14-Jun-2016 01:40:45 GMT;"]
    );
    // HAProxy joins replace-value's elements with a bare comma.
    assert_eq!(
        seen.header("x-forwarded-for"),
        ["172.16.10.1,172.16.13.24, 10.0.0.37", "10.1.1.1"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rewrites_reach_the_server_h1() {
    rewrites_reach_the_server(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rewrites_reach_the_server_h2c() {
    rewrites_reach_the_server(true).await;
}

/// The exact redirect answers, as HAProxy 2.6 writes them.
async fn redirects_are_answered_by_gwd(h2: bool) {
    let (gwd, log) = start().await;
    let mut c = client(&gwd, h2).await;
    let cases: &[RedirectCase<'_>] = &[
        // path, code, Location, Cache-Control, Set-Cookie
        ("/article/a?x=1", 301, "/article/a/", None, None),
        ("/article/a/?x=1", 301, "/article/a/", None, None),
        (
            "/secure/p?y=2",
            302,
            "https://app.test/secure/p?y=2",
            Some("no-cache"),
            None,
        ),
        (
            "/go",
            303,
            "/login",
            Some("no-cache"),
            Some("SEEN=1; path=/;"),
        ),
        (
            "/logout",
            307,
            "/",
            Some("no-cache"),
            Some("USERID=; path=/; Max-Age=0;"),
        ),
        (
            "/moved/x?q",
            308,
            "https://new.example/moved/x?q",
            None,
            None,
        ),
        (
            "/jump?http://e.example/",
            302,
            "http://e.example/",
            Some("no-cache"),
            None,
        ),
        ("/old-style", 301, "https://app.test/old-style", None, None),
    ];
    for (path, code, location, cache, cookie) in cases {
        let (status, h, body) = send(&mut c, h2, "GET", path, &[]).await;
        assert_eq!(status, *code, "{path} (h2: {h2})");
        assert_eq!(h["location"], *location, "{path}");
        assert_eq!(
            h.get("cache-control").map(|v| v.to_str().unwrap()),
            *cache,
            "{path}"
        );
        assert_eq!(
            h.get("set-cookie").map(|v| v.to_str().unwrap()),
            *cookie,
            "{path}"
        );
        assert_eq!(body, "", "{path}");
        if *path != "/old-style" {
            assert_eq!(h["content-length"], "0", "{path}");
        }
    }
    assert!(
        log.lock().unwrap().is_empty(),
        "no redirect reached the server"
    );
    gwd.stderr.wait_for("a redirect's log line", |l| {
        l.contains(" 303 ") && l.contains("LR--") && l.contains("/go")
    });
    // ignore-empty: no query, no redirect; the request goes on.
    let (status, _, _) = send(&mut c, h2, "GET", "/jump", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(last(&log).path, "/jump");
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_answered_by_gwd_h1() {
    redirects_are_answered_by_gwd(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_answered_by_gwd_h2c() {
    redirects_are_answered_by_gwd(true).await;
}

/// A rewrite whose result is not a valid request ends it with 500 (HAProxy's
/// default strict mode), logged as `PR` with its reason and counted in the
/// frontend's `wrew`; nothing reaches the server.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_rewrites_fail_with_500_and_count() {
    let (gwd, log) = start().await;
    for h2 in [false, true] {
        let mut c = client(&gwd, h2).await;
        for (path, headers) in [
            ("/bad-path", &[][..]),
            ("/bad-method", &[("x-m", "A(B")][..]),
            ("/bad-header%0d%0aX-Evil:%201", &[("x-a", "1")][..]),
        ] {
            let (status, _, body) = send(&mut c, h2, "GET", path, headers).await;
            assert_eq!(status, 500, "{path} (h2: {h2})");
            assert!(body.contains("500 Internal Server Error"), "{body}");
        }
    }
    assert!(log.lock().unwrap().is_empty(), "nothing reached the server");
    gwd.stderr.wait_for("a failed rewrite's log line", |l| {
        l.contains(" 500 ") && l.contains("PR--") && l.contains("http-request rewrite failed")
    });
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, _, csv) = send(&mut c, false, "GET", "/stats;csv", &[]).await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = header
        .iter()
        .position(|c| *c == "wrew")
        .expect("a wrew column");
    let fe: Vec<&str> = lines
        .find(|l| l.starts_with("www,FRONTEND,"))
        .expect("the frontend's row")
        .split(',')
        .collect();
    assert_eq!(fe[col], "6", "six failed rewrites counted");
}
