//! Request heads HTTP/2 or HTTP/1.1 forbid must be
//! reset (RFC 9113 §8.1.1), not delivered and forwarded as they came to an
//! HTTP/1.1 server (gwd copies the `content-length` field and the target
//! verbatim into the request it writes there).

use bytes::BytesMut;
use gwd_mux_h2::conn::{Config, Connection, Event};
use gwd_mux_h2::frame::{self, ErrorCode, Frame};

fn pump(a: &mut Connection, b: &mut Connection) {
    for _ in 0..1000 {
        let mut ab = a.take_output();
        let mut ba = b.take_output();
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        if !ab.is_empty() {
            b.recv(&mut ab).expect("b accepts a's bytes");
        }
        if !ba.is_empty() {
            a.recv(&mut ba).expect("a accepts b's bytes");
        }
    }
    panic!("pump did not settle");
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn origin() -> Connection {
    let o = Config::reverse_dialer();
    let g = Config::reverse_acceptor();
    let mut origin = Connection::new(o);
    let mut gateway = Connection::new(g);
    pump(&mut origin, &mut gateway);
    events(&mut origin);
    origin
}

fn raw_headers(stream: u32, fields: &[(&str, &str)], end_stream: bool) -> BytesMut {
    let mut block = BytesMut::new();
    for (n, v) in fields {
        block.extend_from_slice(&[0x00, n.len() as u8]);
        block.extend_from_slice(n.as_bytes());
        block.extend_from_slice(&[v.len() as u8]);
        block.extend_from_slice(v.as_bytes());
    }
    let mut out = BytesMut::new();
    frame::encode(
        &Frame::Headers {
            stream,
            block: block.freeze(),
            end_stream,
            end_headers: true,
            priority: None,
        },
        &mut out,
    );
    out
}

fn is_reset(extra: &[(&str, &str)], path: &str) -> Result<(), String> {
    let mut or = origin();
    let mut f = vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "a"),
        (":path", path),
    ];
    f.extend_from_slice(extra);
    let mut raw = raw_headers(1, &f, false);
    or.recv(&mut raw).unwrap();
    let ev = events(&mut or);
    if ev.iter().any(|e| matches!(e, Event::Request { .. })) {
        return Err(format!("{extra:?} {path:?}: delivered"));
    }
    let mut out = or.take_output();
    let mut frames = Vec::new();
    while let Some(fr) = frame::decode(&mut out, frame::MAX_MAX_FRAME_SIZE).unwrap() {
        frames.push(fr);
    }
    if !frames.iter().any(|fr| {
        matches!(fr, Frame::RstStream { stream: 1, code } if *code == ErrorCode::PROTOCOL_ERROR)
    }) {
        return Err(format!("{extra:?} {path:?}: not reset: {frames:?}"));
    }
    Ok(())
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6), as gwd-h1's parser requires
/// of HTTP/1.1 visitors. `str::parse::<u64>` takes a leading `+`, and
/// `str::trim` strips Unicode whitespace (NBSP, NEL) that is obs-text on
/// the wire: the value then reaches the HTTP/1.1 server byte for byte.
#[test]
fn content_length_is_digits_only() {
    let mut failures = Vec::new();
    for v in ["+1", "1\u{a0}", "\u{85}1", "\u{2003}1"] {
        if let Err(e) = is_reset(&[("content-length", v)], "/") {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `:path` for http/https is an absolute path, or `*` for OPTIONS
/// (RFC 9113 §8.3.1); otherwise the target written to the HTTP/1.1 server
/// is not a valid request-target.
#[test]
fn path_must_start_with_a_slash() {
    let mut failures = Vec::new();
    for p in ["x", "?a=1", "evil.example/x", "*"] {
        if let Err(e) = is_reset(&[], p) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// RFC 9113 §8.3.1: `:authority` MUST NOT include userinfo. Delivered,
/// gwd copies it into the Host field the HTTP/1.1 server gets
/// (`host: u@admin.example`), past `hdr(host)` rules such as
/// `deny if { hdr(host) -i admin.example }`; gwd-h1 refuses the same
/// userinfo from HTTP/1.1 visitors (400), in Host or absolute form.
#[test]
fn authority_with_userinfo_is_malformed() {
    let mut or = origin();
    let mut raw = raw_headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "u@admin.example"),
            (":path", "/"),
        ],
        true,
    );
    or.recv(&mut raw).unwrap();
    let ev = events(&mut or);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Request { .. })),
        "delivered: {ev:?}"
    );
}
