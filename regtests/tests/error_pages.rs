//! `errorfile` and `errorloc*`: gwd's own error pages replaced, per
//! status, by the backend's page, else the frontend's, else `[defaults]`'.

use std::net::SocketAddr;
use std::time::Duration;

use gwd_regtests::{Gwd, scratch_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `raw` on a fresh connection and reads until gwd closes, within
/// 10 s.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(raw).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("gwd answers and closes within 10 s")
        .expect("read");
    out
}

fn get(path: &str, method: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").into_bytes()
}

const MAINTENANCE: &[u8] = b"HTTP/1.1 503 Maintenance\r\nCache-Control: no-cache\r\nContent-Type: text/html; charset=utf-8\r\nRetry-After: 120\r\nConnection: close\r\n\r\n<html><body><h1>Back soon</h1>\xc3\xa9</body></html>\n";

#[tokio::test(flavor = "multi_thread")]
async fn error_pages_replace_gwds_own_by_backend_then_frontend_then_defaults() {
    let dir = scratch_dir("error-pages");
    let maint = dir.join("503.http");
    std::fs::write(&maint, MAINTENANCE).unwrap();
    let bad = dir.join("400.http");
    std::fs::write(
        &bad,
        b"HTTP/1.1 400 Bad Request\nContent-Type: text/plain\n\nno.\n",
    )
    .unwrap();
    let default_503 = dir.join("default-503.http");
    std::fs::write(
        &default_503,
        b"HTTP/1.1 503 Service Unavailable\r\n\r\ndefaults",
    )
    .unwrap();
    // Port 1 on loopback refuses connections: every forwarded request
    // gets 503.
    let toml = format!(
        r#"
[defaults]
errorfile = [ {{ code = 503, file = "{default_503}" }} ]

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
errorfile = [ {{ code = 400, file = "{bad}" }} ]
errorloc303 = [ {{ code = 403, url = "https://example.com/denied" }} ]
http-request = [ {{ action = "deny", if = "{{ path /private }}" }} ]
use_backend = [ {{ backend = "maint", if = "{{ path_beg /maint }}" }}, {{ backend = "busy", if = "{{ path_beg /busy }}" }} ]
default_backend = "plain"

[backend.maint]
errorfile = [ {{ code = 503, file = "{maint}" }} ]
server = [ {{ name = "down", addr = "127.0.0.1:1" }} ]

[backend.busy]
http-error = [ {{ status = 503, content-type = "text/plain", body = "busy, retry\n", hdr = [ {{ name = "Retry-After", value = "30" }} ] }} ]
server = [ {{ name = "down", addr = "127.0.0.1:1" }} ]

[backend.plain]
server = [ {{ name = "down", addr = "127.0.0.1:1" }} ]
"#,
        default_503 = default_503.display(),
        bad = bad.display(),
        maint = maint.display(),
    );
    let gwd = Gwd::start(&toml);
    let www = gwd.addr("www", 0);

    // The backend's file: served byte for byte (hop-by-hop
    // `Connection` left to gwd, which adds its own on close).
    let out = exchange(www, &get("/maint/x", "GET")).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with(b"HTTP/1.1 503 Maintenance\r\nCache-Control: no-cache\r\nContent-Type: text/html; charset=utf-8\r\nRetry-After: 120\r\n"),
        "{text}"
    );
    assert!(
        out.ends_with(b"\r\n\r\n<html><body><h1>Back soon</h1>\xc3\xa9</body></html>\n"),
        "{text}"
    );
    assert!(text.contains("Content-Length: 47\r\n"), "{text}");
    // HEAD: the same head, no body.
    let out = exchange(www, &get("/maint/x", "HEAD")).await;
    assert!(out.starts_with(b"HTTP/1.1 503 Maintenance\r\n"));
    assert!(
        out.ends_with(b"\r\n\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // `http-error`: status, type, headers and body as configured.
    let out = exchange(www, &get("/busy", "GET")).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nRetry-After: 30\r\ncontent-length: 12\r\ncontent-type: text/plain\r\n"),
        "{text}"
    );
    assert!(out.ends_with(b"\r\n\r\nbusy, retry\n"), "{text}");

    // Another backend: the page inherited from [defaults].
    let out = exchange(www, &get("/", "GET")).await;
    assert!(out.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
    assert!(
        out.ends_with(b"\r\n\r\ndefaults"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // `deny` answers 403: the frontend's `errorloc303`.
    let out = exchange(www, &get("/private", "GET")).await;
    let text = String::from_utf8_lossy(&out);
    assert!(out.starts_with(b"HTTP/1.1 303 See Other\r\n"), "{text}");
    assert!(
        text.contains("\r\nLocation: https://example.com/denied\r\n"),
        "{text}"
    );

    // A request gwd cannot parse: the frontend's `errorfile 400`.
    let out = exchange(www, b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"),
        "{text}"
    );
    assert!(out.ends_with(b"\r\n\r\nno.\n"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gwd_check_refuses_broken_error_pages() {
    let dir = scratch_dir("error-pages-check");
    let no_head = dir.join("503.html");
    std::fs::write(&no_head, b"<h1>down</h1>").unwrap();
    let cfg = dir.join("gw.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
errorfile = [ {{ code = 503, file = "{}" }}, {{ code = 418, file = "{}" }} ]
errorloc = [ {{ code = 502, url = "" }} ]
http-error = [ {{ status = 504, lf-body = "%[path]" }}, {{ status = 500, hdr = [ {{ name = "X", value = "%[req.hdr(host)]" }} ] }} ]
"#,
            no_head.display(),
            no_head.display()
        ),
    )
    .unwrap();
    let (status, _out, err) = gwd_regtests::run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!status.success(), "{err}");
    assert!(err.contains("invalid error file"), "{err}");
    assert!(err.contains("no empty line ends the head"), "{err}");
    assert!(
        err.contains("status 418 has no error page to replace"),
        "{err}"
    );
    assert!(err.contains("invalid location ``"), "{err}");
    // Log-format parts are rendered without the request: request
    // fetches are refused at load.
    assert!(
        err.contains("`path` is not available in an `http-error` page"),
        "{err}"
    );
    assert!(
        err.contains("`req.hdr` is not available in an `http-error` page"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
