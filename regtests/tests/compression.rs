//! Response compression (`compression.algo`, `type`, `offload`) through
//! the real binary: gzip and deflate answers decoded byte for byte (by
//! flate2 and by `curl --compressed`), for HTTP/1.1 and h2c visitors; the
//! answers left alone (a coding the visitor does not accept, an answer
//! already encoded, a type not listed, `HEAD`, `304`); a slow chunked
//! answer whose first part reaches the visitor before the server sends
//! the rest; and `offload` taking `Accept-Encoding` off the request.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{raw_server, read_head};
use gwd_regtests::client::{Client, empty};
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// The 100 KB text the server sends.
fn text() -> Vec<u8> {
    let mut t = Vec::with_capacity(100_000);
    let mut i = 0u32;
    while t.len() < 100_000 {
        t.extend_from_slice(
            format!("line {i}: the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        i += 1;
    }
    t.truncate(100_000);
    t
}

/// A server answering by path, one request per connection.
async fn server(release: Arc<Notify>) -> std::net::SocketAddr {
    let (addr, _) = raw_server(move |mut s| {
        let release = release.clone();
        async move {
            let head = read_head(&mut s).await;
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            let ae = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("accept-encoding")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_else(|| "none".into());
            let fixed = |ctype: &str, extra: &str, body: &[u8]| {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            };
            let out = match path.as_str() {
                "/text" => fixed("text/html; charset=utf-8", "ETag: \"v1\"\r\n", &text()),
                "/encoded" => fixed("text/html", "Content-Encoding: br\r\n", b"not really br"),
                "/png" => fixed("image/png", "", &text()),
                "/ae" => fixed("text/plain", "", ae.as_bytes()),
                "/small" => fixed("text/plain", "", &[b'x'; 100]),
                "/304" => b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n".to_vec(),
                "/slow" => {
                    let first = b"first part, sent alone\n";
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
                        first.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(first).await;
                    let _ = s.write_all(b"\r\n").await;
                    let _ = s.flush().await;
                    // The rest only once the visitor has the first part.
                    release.notified().await;
                    b"f\r\nthe rest, later\r\n0\r\n\r\n".to_vec()
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = s.write_all(&out).await;
            let _ = s.shutdown().await;
        }
    })
    .await;
    addr
}

fn config(server: std::net::SocketAddr) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "5s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
compression.algo = ["gzip", "deflate"]
compression.type = ["text/html", "text/plain"]
# Some answers of the test server are a few bytes long: compress any size.
compression.minsize-res = 0
default_backend = "app"

[frontend.dflt]
bind = [ {{ addr = "127.0.0.1:0" }} ]
compression.algo = ["gzip"]
default_backend = "app"

[frontend.off]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "offload"

[frontend.to204]
bind = [ {{ addr = "127.0.0.1:0" }} ]
compression.algo = ["gzip"]
compression.type = ["text/html"]
compression.minsize-res = 0
http-response = [ {{ action = "set-status", status = 204 }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{server}" }} ]

[backend.offload]
compression.algo = ["gzip"]
compression.offload = true
# The test server's answers here are a few bytes long: compress any size.
compression.minsize-res = 0
server = [ {{ name = "s", addr = "{server}" }} ]
"#
    )
}

async fn client(addr: std::net::SocketAddr, h2: bool) -> Client {
    if h2 {
        Client::h2c(addr).await
    } else {
        Client::h1(addr).await
    }
}

fn request(
    h2: bool,
    method: &str,
    path: &str,
    ae: Option<&str>,
) -> Request<gwd_regtests::client::Body> {
    let mut b = if h2 {
        Request::builder().uri(format!("http://app.test{path}"))
    } else {
        Request::builder().uri(path).header("host", "app.test")
    };
    b = b.method(method);
    if let Some(ae) = ae {
        b = b.header("accept-encoding", ae);
    }
    b.body(empty()).unwrap()
}

/// Status, head and raw (still encoded) body bytes.
async fn fetch(
    c: &mut Client,
    req: Request<gwd_regtests::client::Body>,
) -> (u16, HeaderMap, Vec<u8>) {
    let resp = c.send(req).await.expect("a response");
    let (parts, body) = resp.into_parts();
    let bytes = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (parts.status.as_u16(), parts.headers, bytes.to_vec())
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn inflate_zlib(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid zlib");
    out
}

async fn round_trips(h2: bool) {
    let addr = server(Arc::new(Notify::new())).await;
    let gwd = Gwd::start(&config(addr));
    let mut c = client(gwd.addr("www", 0), h2).await;

    let (status, h, body) = fetch(&mut c, request(h2, "GET", "/text", Some("gzip"))).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
    assert_eq!(
        header(&h, "etag"),
        Some("W/\"v1\""),
        "a strong ETag turns weak"
    );
    assert!(h.get("content-length").is_none(), "{h:?}");
    assert!(body.len() < 30_000, "compressed to {} bytes", body.len());
    assert_eq!(gunzip(&body), text());

    // The visitor's order at equal q: deflate first.
    let (_, h, body) = fetch(&mut c, request(h2, "GET", "/text", Some("deflate, gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), Some("deflate"));
    assert_eq!(inflate_zlib(&body), text());

    // q-values: gzip refused.
    let (_, h, body) = fetch(
        &mut c,
        request(h2, "GET", "/text", Some("gzip;q=0, deflate;q=0.5")),
    )
    .await;
    assert_eq!(header(&h, "content-encoding"), Some("deflate"));
    assert_eq!(inflate_zlib(&body), text());
}

#[tokio::test]
async fn gzip_and_deflate_round_trip_http1() {
    round_trips(false).await;
}

#[tokio::test]
async fn gzip_and_deflate_round_trip_h2c() {
    round_trips(true).await;
}

async fn left_alone(h2: bool) {
    let addr = server(Arc::new(Notify::new())).await;
    let gwd = Gwd::start(&config(addr));
    let mut c = client(gwd.addr("www", 0), h2).await;

    // A coding gwd does not have, and none at all.
    for ae in [Some("br"), Some("gzip;q=0"), None] {
        let (status, h, body) = fetch(&mut c, request(h2, "GET", "/text", ae)).await;
        assert_eq!(status, 200);
        assert!(h.get("content-encoding").is_none(), "{ae:?}: {h:?}");
        assert_eq!(header(&h, "etag"), Some("\"v1\""));
        assert_eq!(body, text(), "{ae:?}");
    }
    // Already encoded: relayed as it is.
    let (_, h, body) = fetch(&mut c, request(h2, "GET", "/encoded", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), Some("br"));
    assert_eq!(body, b"not really br");
    // A type not in `compression.type`.
    let (_, h, body) = fetch(&mut c, request(h2, "GET", "/png", Some("gzip"))).await;
    assert!(h.get("content-encoding").is_none(), "{h:?}");
    assert_eq!(body.len(), 100_000);
    // HEAD: the head of the uncompressed answer.
    let (status, h, body) = fetch(&mut c, request(h2, "HEAD", "/text", Some("gzip"))).await;
    assert_eq!(status, 200);
    assert!(h.get("content-encoding").is_none(), "{h:?}");
    assert!(body.is_empty());
    // 304.
    let (status, h, _) = fetch(&mut c, request(h2, "GET", "/304", Some("gzip"))).await;
    assert_eq!(status, 304);
    assert!(h.get("content-encoding").is_none(), "{h:?}");
    assert!(h.get("vary").is_none(), "{h:?}");
}

#[tokio::test]
async fn answers_left_alone_http1() {
    left_alone(false).await;
}

#[tokio::test]
async fn answers_left_alone_h2c() {
    left_alone(true).await;
}

/// The first chunk of a slow server's answer reaches the visitor,
/// compressed and decodable, while the server still holds the rest.
async fn streams(h2: bool) {
    let release = Arc::new(Notify::new());
    let addr = server(release.clone()).await;
    let gwd = Gwd::start(&config(addr));
    let mut c = client(gwd.addr("www", 0), h2).await;
    let resp = c
        .send(request(h2, "GET", "/slow", Some("gzip")))
        .await
        .expect("a response");
    assert_eq!(header(resp.headers(), "content-encoding"), Some("gzip"));
    let mut body = resp.into_body();
    let mut got = Vec::new();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    // Frames until the first part decodes; the server is still waiting.
    while decoder.get_ref().as_slice() != b"first part, sent alone\n" {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("the first part before the server sends the rest")
            .expect("a frame")
            .expect("no error");
        if let Ok(d) = frame.into_data() {
            got.extend_from_slice(&d);
            std::io::Write::write_all(&mut decoder, &d).unwrap();
            std::io::Write::flush(&mut decoder).unwrap();
        }
    }
    release.notify_one();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the rest")
    {
        if let Ok(d) = frame.expect("no error").into_data() {
            got.extend_from_slice(&d);
        }
    }
    assert_eq!(gunzip(&got), b"first part, sent alone\nthe rest, later");
}

#[tokio::test]
async fn a_slow_answer_streams_http1() {
    streams(false).await;
}

#[tokio::test]
async fn a_slow_answer_streams_h2c() {
    streams(true).await;
}

#[tokio::test]
async fn offload_takes_accept_encoding_off_the_request() {
    let addr = server(Arc::new(Notify::new())).await;
    let gwd = Gwd::start(&config(addr));
    // Without offload the server sees the visitor's field.
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (_, h, body) = fetch(&mut c, request(false, "GET", "/ae", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&body), b"gzip");
    // With it (set on the backend), the server sees none.
    let mut c = Client::h1(gwd.addr("off", 0)).await;
    let (_, h, body) = fetch(&mut c, request(false, "GET", "/ae", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&body), b"none");
    // No algorithm matched: the field stays.
    let (_, h, body) = fetch(&mut c, request(false, "GET", "/ae", Some("br"))).await;
    assert!(h.get("content-encoding").is_none());
    assert_eq!(body, b"br");
}

/// A real client: `curl --compressed` asks for its codings and decodes
/// the answer; the bytes are the server's.
#[tokio::test]
async fn curl_compressed_gets_the_original_bytes() {
    let addr = server(Arc::new(Notify::new())).await;
    let gwd = Gwd::start(&config(addr));
    let url = format!("http://{}/text", gwd.addr("www", 0));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-s",
                "--compressed",
                "-D",
                "/dev/stderr",
                "--max-time",
                "20",
                &url,
            ])
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let head = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(head.contains("content-encoding: "), "{head}");
    assert_eq!(out.stdout, text());
}

/// An answer coming down a reverse-HTTP tunnel (the gateway's backend
/// compresses) is compressed the same way, for an h2c visitor too.
#[tokio::test(flavor = "multi_thread")]
async fn answers_from_a_reverse_tunnel_are_compressed() {
    let app = server(Arc::new(Notify::new())).await;
    let gw = Gwd::start(&gwd_regtests::rhttp::gateway_config(
        "",
        "compression.algo = [\"gzip\"]",
    ));
    let _origin = Gwd::start(&gwd_regtests::rhttp::origin_config(
        gw.addr("registration", 0),
        1,
        app,
        "",
    ));
    gw.stderr.wait_count("a registered tunnel", 1, |l| {
        l.contains("rhttp tunnel registered")
    });
    for h2 in [false, true] {
        let mut c = client(gw.addr("visitors", 0), h2).await;
        let req = if h2 {
            Request::get("http://app.localhost/text")
        } else {
            Request::get("/text").header("host", "app.localhost")
        };
        let req = req.header("accept-encoding", "gzip").body(empty()).unwrap();
        let (status, h, body) = fetch(&mut c, req).await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&h, "content-encoding"),
            Some("gzip"),
            "h2 {h2}: {h:?}"
        );
        assert_eq!(gunzip(&body), text());
    }
}

/// `compression.minsize-res`: an answer shorter than the minimum (gwd's
/// default, 256 bytes) is relayed as it is, length and all; with
/// `minsize-res = 0` (HAProxy 2.6's behaviour) the same answer is
/// compressed.
#[tokio::test]
async fn small_answers_are_relayed_as_they_are() {
    let addr = server(Arc::new(Notify::new())).await;
    let gwd = Gwd::start(&config(addr));
    let mut c = Client::h1(gwd.addr("dflt", 0)).await;
    let (_, h, body) = fetch(&mut c, request(false, "GET", "/small", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(header(&h, "content-length"), Some("100"));
    assert_eq!(body, vec![b'x'; 100]);
    let mut c = Client::h1(gwd.addr("off", 0)).await;
    let (_, h, body) = fetch(&mut c, request(false, "GET", "/small", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&body), vec![b'x'; 100]);
}

/// `show stat`'s compression columns: a compressed answer counts once in
/// `comp_rsp` on its frontend and backend, its page in `comp_in`, what
/// the visitor received in `comp_out`; `comp_byp` stays 0 (gwd has no
/// CPU or rate limit to bypass the compressor); servers have none.
#[tokio::test(flavor = "multi_thread")]
async fn show_stat_counts_what_was_compressed() {
    use gwd_regtests::runtime_api::stat_value;
    let addr = server(Arc::new(Notify::new())).await;
    let toml = format!(
        "[global]\nstats-socket = [ {{ addr = \"127.0.0.1:0\", level = \"user\" }} ]\n{}",
        config(addr)
    );
    let gwd = Gwd::start(&toml);
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (_, h, body) = fetch(&mut c, request(false, "GET", "/text", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    let page = gunzip(&body).len();
    // One answer relayed as it is (not counted).
    let (_, h, _) = fetch(&mut c, request(false, "GET", "/png", Some("gzip"))).await;
    assert_eq!(header(&h, "content-encoding"), None);
    for row in ["www,FRONTEND,", "app,BACKEND,"] {
        assert_eq!(stat_value(&gwd, row, "comp_rsp"), "1", "{row}");
        assert_eq!(stat_value(&gwd, row, "comp_in"), page.to_string(), "{row}");
        assert_eq!(
            stat_value(&gwd, row, "comp_out"),
            body.len().to_string(),
            "{row}"
        );
        assert_eq!(stat_value(&gwd, row, "comp_byp"), "0", "{row}");
    }
    assert_eq!(stat_value(&gwd, "app,s,", "comp_rsp"), "");
}

/// A compressible answer a rule turns into a 204: its body is dropped,
/// and so is the `Content-Encoding` compression would have added (no
/// coding was applied to anything).
#[tokio::test(flavor = "multi_thread")]
async fn a_204_made_by_a_rule_says_no_coding() {
    let addr = server(Arc::new(Notify::new())).await;
    let gwd = Gwd::start(&config(addr));
    for h2 in [false, true] {
        let mut c = client(gwd.addr("to204", 0), h2).await;
        let (status, h, body) = fetch(&mut c, request(h2, "GET", "/text", Some("gzip"))).await;
        assert_eq!(status, 204);
        assert!(body.is_empty());
        assert_eq!(header(&h, "content-encoding"), None, "h2: {h2}");
    }
}
