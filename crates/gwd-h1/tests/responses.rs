//! Response heads: framing by status and method, reuse, and what a server
//! may not send.

use gwd_h1::{BodyKind, HeadError, Limits, parse_response};
use gwd_head::Method;

fn parse(wire: &[u8], method: &Method) -> Result<gwd_h1::ParsedResponse, HeadError> {
    parse_response(wire, method, &Limits::default()).map(|r| r.expect("complete"))
}

#[test]
fn framing_follows_status_method_and_fields() {
    let get = Method::GET;
    let cases: &[(&[u8], &Method, BodyKind, bool)] = &[
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", &get, BodyKind::Length(3), true),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &get, BodyKind::None, true),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &get, BodyKind::Chunked, true),
        (b"HTTP/1.1 200 OK\r\n\r\n", &get, BodyKind::UntilClose, false),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &get, BodyKind::UntilClose, false),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", &Method::HEAD, BodyKind::None, true),
        (b"HTTP/1.1 204 No Content\r\n\r\n", &get, BodyKind::None, true),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", &get, BodyKind::None, true),
        (b"HTTP/1.1 100 Continue\r\n\r\n", &get, BodyKind::None, true),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", &get, BodyKind::None, true),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", &get, BodyKind::Length(3), false),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", &get, BodyKind::Length(3), false),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", &get, BodyKind::Length(3), true),
    ];
    for (wire, method, kind, keep) in cases {
        let r = parse(wire, method).unwrap();
        assert_eq!(
            (r.body, r.keep_alive),
            (*kind, *keep),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn interim_answers_are_told_apart() {
    assert!(
        parse(b"HTTP/1.1 100 Continue\r\n\r\n", &Method::POST)
            .unwrap()
            .is_interim()
    );
    assert!(
        parse(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            &Method::GET
        )
        .unwrap()
        .is_interim()
    );
    assert!(
        !parse(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", &Method::GET)
            .unwrap()
            .is_interim()
    );
}

#[test]
fn reason_is_kept_only_when_it_differs() {
    assert_eq!(
        parse(b"HTTP/1.1 200 OK\r\n\r\n", &Method::GET)
            .unwrap()
            .head
            .reason,
        None
    );
    assert_eq!(
        parse(b"HTTP/1.1 200 Fine Thanks\r\n\r\n", &Method::GET)
            .unwrap()
            .head
            .reason
            .as_deref(),
        Some("Fine Thanks")
    );
}

#[test]
fn ambiguous_or_malformed_responses_are_refused() {
    let cases: &[(&[u8], HeadError)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::LengthWithTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            HeadError::ConflictingContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            HeadError::InvalidContentLength,
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::TransferEncodingInHttp10,
        ),
        (b"HTTP/1.1 2000 OK\r\n\r\n", HeadError::StartLine),
        (b"HTTP/1.1 abc OK\r\n\r\n", HeadError::StartLine),
        (b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", HeadError::FieldName),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", HeadError::ObsFold),
        (b"HTTP/2 200 OK\r\n\r\n", HeadError::Version),
        (b"garbage\r\n\r\n", HeadError::Version),
    ];
    for (wire, want) in cases {
        assert_eq!(
            parse(wire, &Method::GET).unwrap_err(),
            *want,
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}
