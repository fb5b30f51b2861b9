//! Where gwd's answers must be HAProxy's to the byte: what a visitor sees
//! of sample casts and of empty `%[...]` interpolations outside log lines.
//! Every expected answer here was
//! first read off HAProxy 2.6.12 on loopback with the same rules (an
//! `haproxy.cfg` translated line by line from the fixture) and curl.

use std::net::SocketAddr;
use std::time::Duration;

use gwd_regtests::Gwd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer read off a raw HTTP/1.1 exchange, the body kept as bytes.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    /// The head as sent (obs-text kept).
    raw_head: Vec<u8>,
    body: Vec<u8>,
}

/// Sends `GET <path>` with the extra header lines `headers` (raw bytes, so
/// they may carry obs-text) on a fresh connection and reads the answer
/// until gwd closes (`Connection: close`), within 10 s.
async fn get(addr: SocketAddr, path: &str, headers: &[&[u8]]) -> Answer {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n").into_bytes();
    for h in headers {
        req.extend_from_slice(h);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&req).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("gwd answers and closes within 10 s")
        .expect("read");
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer {
        status,
        head,
        raw_head: out[..end].to_vec(),
        body: out[end + 4..].to_vec(),
    }
}

const CASTS: &str = r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [
  { action = "return", status = 200, lf-body = "%[str(99999999999999999999),add(0)] %[str(-99999999999999999999),add(0)] %[str(+),add(0)] %[str(-),add(0)] %[str(abc),add(0)] %[req.hdr(x-n),add(1)]", if = "{ path /int }" },
  { action = "return", status = 200, lf-body = "%[str(010.001.002.003),ipmask(32)] %[str(1.2.3.4:80),ipmask(32)] %[str(10.1.2.3/8),ipmask(32)]", if = "{ path /ip }" },
  { action = "return", status = 200, body = "in", if = "{ path /acl } { req.hdr(x-ip) -m ip 10.1.2.3 }" },
  { action = "return", status = 200, lf-body = "[%[req.hdr(x-miss)]] [%{+Q}[req.hdr(x-empty)]]", hdr = [ { name = "x-gone", value = "%[req.hdr(x-miss)]" }, { name = "x-kept", value = "a%[req.hdr(x-miss)]b" } ], if = "{ path /empty }" },
  { action = "return", status = 200, body = "out" },
]
"#;

/// String-to-integer and string-to-address casts, seen through
/// `%[str(...),add(0)]`, `ipmask` and an `-m ip` ACL.
///
/// HAProxy 2.6.12, same rules, curl: `/int` answered
/// `9223372036854775807 -9223372036854775808 0 0 0 9223372036854775807`
/// (with `x-n: 9223372036854775807`), `/ip` answered `10.1.2.3 1.2.3.4
/// 10.1.2.3`, and `/acl` answered `in` with `x-ip: 010.001.2.3/8`, `out`
/// with `x-ip: 10.1.2.4`.
#[tokio::test(flavor = "multi_thread")]
async fn casts_follow_haproxy() {
    let gwd = Gwd::start(CASTS);
    let www = gwd.addr("www", 0);

    let a = get(www, "/int", &[b"x-n: 9223372036854775807"]).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        "9223372036854775807 -9223372036854775808 0 0 0 9223372036854775807"
    );

    let a = get(www, "/ip", &[]).await;
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        "10.1.2.3 1.2.3.4 10.1.2.3"
    );

    let a = get(www, "/acl", &[b"x-ip: 010.001.2.3/8"]).await;
    assert_eq!(String::from_utf8_lossy(&a.body), "in");
    let a = get(www, "/acl", &[b"x-ip: 10.1.2.4"]).await;
    assert_eq!(String::from_utf8_lossy(&a.body), "out");
}

/// Outside log lines a missing or empty sample renders as nothing (HAProxy
/// 2.6.12 answered `[] []`, left out `x-gone`, and sent `x-kept: ab`).
#[tokio::test(flavor = "multi_thread")]
async fn empty_samples_render_as_nothing_outside_logs() {
    let gwd = Gwd::start(CASTS);
    let a = get(gwd.addr("www", 0), "/empty", &[b"x-empty:"]).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(String::from_utf8_lossy(&a.body), "[] []");
    let head = a.head.to_ascii_lowercase();
    assert!(!head.contains("x-gone"), "{}", a.head);
    assert!(head.contains("\r\nx-kept: ab\r\n"), "{}", a.head);
}

const OBS_TEXT: &str = r#"
[frontend.obs]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [
  { action = "return", status = 200, content-type = "text/plain", lf-body = "<%[req.hdr(x-name)]> %[req.hdr(x-name),length] %[req.hdr(x-name),upper]", hdr = [ { name = "x-copy", value = "%[req.hdr(x-name)]" } ], if = "{ req.hdr(x-name) -m beg Jos }" },
  { action = "return", status = 404, content-type = "text/plain", body = "no match" },
]
"#;

/// Header values with obs-text, Latin-1 (`é` as the one byte 0xE9) or
/// UTF-8, reach ACLs, fetches and converters as bytes and are copied
/// byte for byte into a header and a body.
///
/// HAProxy 2.6.12, same rules (`http-request return ... lf-string ... hdr
/// x-copy "%[req.hdr(x-name)]" if { req.hdr(x-name) -m beg Jos }`), raw
/// socket: `X-Name: Jos\xe9` answered 200, `x-copy: Jos\xe9`, body
/// `<Jos\xe9> 4 JOS\xe9`; `X-Name: Jos\xc3\xa9, b\xe9` answered `x-copy:
/// b\xe9`, body `<b\xe9> 2 B\xe9`; `X-Name: jos\xe9` answered 404.
#[tokio::test(flavor = "multi_thread")]
async fn obs_text_header_values_are_bytes_as_in_haproxy() {
    let gwd = Gwd::start(OBS_TEXT);
    let obs = gwd.addr("obs", 0);

    let a = get(obs, "/", &[b"X-Name: Jos\xe9"]).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(a.body, b"<Jos\xe9> 4 JOS\xe9");
    let copy = b"\r\nx-copy: Jos\xe9\r\n";
    assert!(
        a.raw_head
            .windows(copy.len())
            .any(|w| w.eq_ignore_ascii_case(copy)),
        "{}",
        a.head
    );

    let a = get(obs, "/", &[b"X-Name: Jos\xc3\xa9, b\xe9"]).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(a.body, b"<b\xe9> 2 B\xe9");

    let a = get(obs, "/", &[b"X-Name: jos\xe9"]).await;
    assert_eq!(a.status, 404, "{}", a.head);
}

const SET_VAR_FMT: &str = r#"
[frontend.v]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [
  { action = "set-var-fmt", var = "txn.who", format = "%[req.hdr(x-n)]/%[req.hdr(x-none)]/%[req.hdr(x-n),upper]" },
  { action = "return", status = 200, content-type = "text/plain", lf-body = "<%[var(txn.who)]>" },
]
"#;

/// `set-var-fmt`: the variable holds the rendered format, bytes kept, an
/// empty part rendering as nothing. HAProxy 2.6.12 (`http-request
/// set-var-fmt(txn.who) "..."`, same rules) answered `<ab\xe9//AB\xe9>`
/// to `X-N: ab\xe9`.
#[tokio::test(flavor = "multi_thread")]
async fn set_var_fmt_as_in_haproxy() {
    let gwd = Gwd::start(SET_VAR_FMT);
    let a = get(gwd.addr("v", 0), "/", &[b"X-N: ab\xe9"]).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(a.body, b"<ab\xe9//AB\xe9>");
}
