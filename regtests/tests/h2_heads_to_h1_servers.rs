//! What an h2c visitor's request head becomes on the
//! way to an HTTP/1.1 server.

use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Log, recording_server};
use gwd_regtests::client::raw_exchange;

fn config(server: std::net::SocketAddr) -> String {
    format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "5s"
default_backend = "app"

[backend.app]
timeout.connect = "5s"
timeout.server = "5s"
server = [ {{ name = "s", addr = "{server}" }} ]
"#
    )
}

/// The preface, an empty SETTINGS and one HEADERS (+ DATA) on stream 1,
/// every field a literal without indexing (RFC 7541 §6.2.2).
fn h2c_request(fields: &[(&[u8], &[u8])], body: Option<&[u8]>) -> Vec<u8> {
    fn frame(t: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[t, flags, 0, 0, 0, 1]);
        f.extend_from_slice(payload);
        f
    }
    let mut block = Vec::new();
    for (n, v) in fields {
        block.extend_from_slice(&[0, n.len() as u8]);
        block.extend_from_slice(n);
        block.push(v.len() as u8);
        block.extend_from_slice(v);
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let mut h = frame(1, 4 | u8::from(body.is_none()), &block);
    h[5..9].copy_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&h);
    if let Some(b) = body {
        out.extend_from_slice(&frame(0, 1, b));
    }
    out
}

async fn send(gwd: &Gwd, fields: &[(&[u8], &[u8])], body: Option<&[u8]>) {
    raw_exchange(
        gwd.addr("www", 0),
        &h2c_request(fields, body),
        Duration::from_millis(700),
    )
    .await;
}

fn seen(log: &Log, path: &str) -> Vec<(String, Vec<(String, String)>)> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == path)
        .map(|s| (s.method.clone(), s.headers.clone()))
        .collect()
}

/// RFC 9113 §8.2.3: cookie fields split by the visitor (browsers send one
/// per cookie) MUST be joined with "; " before an HTTP/1.1 hop, as
/// HAProxy does; HTTP/1.1 allows a single Cookie line (RFC 6265 §5.4).
#[tokio::test]
async fn split_cookies_are_joined_for_http1_servers() {
    let (server, log) = recording_server().await;
    let gwd = Gwd::start(&config(server));
    send(
        &gwd,
        &[
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":authority", b"a.example"),
            (b":path", b"/cookie"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
        ],
        None,
    )
    .await;
    let got = seen(&log, "/cookie");
    assert_eq!(got.len(), 1, "{got:?}");
    let cookies: Vec<_> = got[0]
        .1
        .iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1; b=2"]);
}

/// Content-Length = 1*DIGIT: `+1` (which `u64::from_str` takes) must be
/// refused as HAProxy and gwd's own HTTP/1.1 parser refuse it, not copied
/// to the server byte for byte (`content-length: +1`, which a server may
/// read as no length at all and take the body for the next request). The
/// server is raw: a hyper server would refuse the head itself.
#[tokio::test]
async fn a_signed_content_length_does_not_reach_the_server() {
    use tokio::io::AsyncWriteExt as _;
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let h2 = heads.clone();
    let (server, _conns) = gwd_regtests::backend::raw_server(move |mut s| {
        let heads = h2.clone();
        async move {
            let head = gwd_regtests::backend::read_head(&mut s).await;
            heads.lock().unwrap().push(head);
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    })
    .await;
    let gwd = Gwd::start(&config(server));
    for cl in [&b"+1"[..], "1\u{a0}".as_bytes()] {
        send(
            &gwd,
            &[
                (b":method", b"POST"),
                (b":scheme", b"http"),
                (b":authority", b"a.example"),
                (b":path", b"/cl"),
                (b"content-length", cl),
            ],
            Some(b"X"),
        )
        .await;
    }
    let got = heads.lock().unwrap().clone();
    assert!(got.is_empty(), "forwarded: {got:#?}");
}

/// `set-method` from a visitor's field turns its GET into HEAD: the
/// server answers HEAD (a `content-length` and no body), and gwd passes
/// that head on to a visitor that asked GET, so the visitor reads the
/// next answer on the connection as this one's body (a response desync
/// on the visitor's connection, and across visitors behind any proxy that
/// shares connections). HAProxy 2.6 does the same; the head for a GET
/// must describe the body that follows.
#[tokio::test]
async fn a_rewritten_head_request_does_not_desync_the_visitor() {
    let (server, _log) = recording_server().await;
    let gwd = Gwd::start(&format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "5s"
http-request = [
  {{ action = "set-method", value = "%[req.hdr(x-m)]", if = "{{ req.hdr(x-m) -m found }}" }},
]
default_backend = "app"

[backend.app]
timeout.connect = "5s"
timeout.server = "5s"
server = [ {{ name = "s", addr = "{server}" }} ]
"#
    ));
    let out = raw_exchange(
        gwd.addr("www", 0),
        b"GET /first HTTP/1.1\r\nHost: a\r\nX-M: HEAD\r\n\r\n\
          GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    let (head, rest) = out.split_once("\r\n\r\n").expect("a first answer");
    let cl: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    // The first answer's body is `cl` bytes; the second answer follows.
    assert!(
        rest.len() >= cl && rest[cl..].starts_with("HTTP/1.1 200"),
        "the second answer is read as the first one's body: {out:?}"
    );
}
