//! Request smuggling through the real binary: every framing ambiguity of
//! RFC 9112 in one table, each sent raw to gwd, with what the visitor got
//! back and what the server behind gwd received. The server is hyper (an
//! HTTP/1.1 implementation independent of gwd's), recording every request
//! it parses: a refused request must never reach it, and an accepted one
//! must reach it with one unambiguous framing.

use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Seen, recording_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads `n` responses (status codes) off `s`, or fewer if it closes.
async fn read_responses(s: &mut TcpStream, n: usize) -> Vec<u16> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            // Parse as many complete responses as the buffer holds.
            loop {
                let mut h = [httparse::EMPTY_HEADER; 32];
                let mut r = httparse::Response::new(&mut h);
                let Ok(httparse::Status::Complete(head)) = r.parse(&buf) else {
                    break;
                };
                let code = r.code.unwrap();
                let len: usize = r
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                    .unwrap_or(0);
                if buf.len() < head + len {
                    break;
                }
                buf.drain(..head + len);
                out.push(code);
                if out.len() == n {
                    return;
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
    })
    .await;
    out
}

/// What a case must lead to.
enum Want {
    /// The visitor gets this status and the server sees nothing.
    Refused(u16),
    /// The visitor gets 200s and the server sees these requests; the
    /// check looks at each one.
    Reaches(usize, fn(&[Seen])),
}

fn one_length(s: &Seen) {
    let cl = s.header("content-length");
    let te = s.header("transfer-encoding");
    assert!(
        cl.len() + te.len() <= 1,
        "one framing field at most, got content-length {cl:?} and transfer-encoding {te:?}"
    );
}

fn cases() -> Vec<(&'static str, &'static [u8], Want)> {
    use Want::*;
    vec![
        ("content-length with chunked", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", Refused(400)),
        ("chunked then content-length", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n", Refused(400)),
        ("differing content-length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nab", Refused(400)),
        ("content-length list that differs", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 40\r\n\r\nab", Refused(400)),
        ("chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(400)),
        ("chunked not last", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", Refused(400)),
        ("xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", Refused(400)),
        ("space before the colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", Refused(400)),
        ("vertical tab in transfer-encoding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", Refused(400)),
        ("obs-fold hiding chunked", b"POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", Refused(400)),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-B: 2\r\n\r\n", Refused(400)),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n", Refused(400)),
        ("transfer-encoding in HTTP/1.0", b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refused(400)),
        ("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Refused(400)),
        ("Host list", b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", Refused(400)),
        ("absolute form against Host", b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", Refused(400)),
        ("CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", Refused(501)),
        ("gzip, chunked keeps its coding", b"POST /gz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Reaches(1, |s| {
            one_length(&s[0]);
            assert_eq!(s[0].header("transfer-encoding"), ["gzip, chunked"]);
            assert_eq!(s[0].body, b"abc");
        })),
        ("equal content-length lines folded into one", b"POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", Reaches(1, |s| {
            assert_eq!(s[0].header("content-length"), ["3"]);
            assert_eq!(s[0].body, b"abc");
        })),
        ("GET with a chunked body keeps it", b"GET /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n", Reaches(1, |s| {
            one_length(&s[0]);
            assert_eq!(s[0].method, "GET");
            assert_eq!(s[0].body, b"wiki");
        })),
        ("chunk extensions are dropped, data kept", b"POST /ext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;name=\"x y\"\r\nabc\r\n0\r\n\r\n", Reaches(1, |s| {
            assert_eq!(s[0].body, b"abc");
        })),
        ("pipelined requests stay two requests", b"POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /two HTTP/1.1\r\nHost: a\r\n\r\n", Reaches(2, |s| {
            assert_eq!((s[0].path.as_str(), s[0].body.as_slice()), ("/one", &b"hello"[..]));
            assert_eq!((s[1].path.as_str(), s[1].body.as_slice()), ("/two", &b""[..]));
        })),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn no_ambiguous_request_reaches_the_server() {
    let (server, log) = recording_server().await;
    let gwd = Gwd::start(&format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "5s"
timeout.server = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    ));
    let addr = gwd.addr("www", 0);
    let mut failures = Vec::new();
    for (name, wire, want) in cases() {
        log.lock().unwrap().clear();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(wire).await.unwrap();
        let expected = match &want {
            Want::Refused(_) => 1,
            Want::Reaches(n, _) => *n,
        };
        let statuses = read_responses(&mut s, expected).await;
        let seen = log.lock().unwrap().clone();
        let result = std::panic::catch_unwind(|| match &want {
            Want::Refused(code) => {
                assert_eq!(statuses, [*code], "visitor's answer");
                assert!(seen.is_empty(), "the server received {seen:?}");
            }
            Want::Reaches(n, check) => {
                assert_eq!(statuses, vec![200; *n], "visitor's answers");
                assert_eq!(seen.len(), *n, "requests at the server: {seen:?}");
                check(&seen);
            }
        });
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Every refusal has its log line with a reason.
    gwd.stderr.wait_for("a 400 logged with its cause", |l| {
        l.contains(" 400 ")
            && l.contains("<BADREQ>")
            && l.contains("content-length with transfer-encoding")
    });
}
