//! Every request head gwd-h1 accepts or refuses, in one table: the
//! framing-ambiguity (smuggling) cases of RFC 9112 and the classic attack
//! corpora, each with the status HAProxy answers.

use gwd_h1::{BodyKind, HeadError, Limits, parse_request};

enum Want {
    /// Accepted with this framing and these codings kept.
    Ok(BodyKind, Option<&'static str>),
    /// Refused with this error.
    Err(HeadError),
}

fn cases() -> Vec<(&'static str, &'static [u8], Want)> {
    use BodyKind::*;
    use HeadError::*;
    use Want::*;
    vec![
        // --- accepted ---
        (
            "plain GET",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "HTTP/1.0 without Host",
            b"GET / HTTP/1.0\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "content-length",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            Ok(Length(5), Option::None),
        ),
        (
            "content-length 0 is no body",
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "repeated equal content-length",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Ok(Length(5), Option::None),
        ),
        (
            "equal content-length list",
            b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            Ok(Length(5), Option::None),
        ),
        (
            "chunked",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ok(Chunked, Option::None),
        ),
        (
            "chunked in capitals",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
            Ok(Chunked, Option::None),
        ),
        (
            "gzip then chunked keeps gzip",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Ok(Chunked, Some("gzip")),
        ),
        (
            "codings over two lines",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ok(Chunked, Some("gzip")),
        ),
        (
            "chunked on GET keeps its body",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ok(Chunked, Option::None),
        ),
        (
            "absolute form with the same Host",
            b"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "absolute form without Host",
            b"GET https://a.example/x HTTP/1.1\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "CONNECT authority form",
            b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "leading empty line",
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "bare LF line ends",
            b"GET / HTTP/1.1\nHost: a\n\n",
            Ok(None, Option::None),
        ),
        (
            "UTF-8 in a value",
            "GET / HTTP/1.1\r\nX-Name: zoë\r\n\r\n".as_bytes(),
            Ok(None, Option::None),
        ),
        (
            "empty Host",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
            Ok(None, Option::None),
        ),
        (
            "IPv6 Host",
            b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            Ok(None, Option::None),
        ),
        // --- framing ambiguity: refused ---
        (
            "content-length with chunked",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(LengthWithTransferEncoding),
        ),
        (
            "chunked with content-length",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            Err(LengthWithTransferEncoding),
        ),
        (
            "differing content-length lines",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            Err(ConflictingContentLength),
        ),
        (
            "differing content-length list",
            b"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
            Err(ConflictingContentLength),
        ),
        (
            "signed content-length",
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "negative content-length",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "hex content-length",
            b"POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "space inside content-length",
            b"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "empty content-length",
            b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "overflowing content-length",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "chunked not last",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Err(InvalidTransferEncoding),
        ),
        (
            "only gzip",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            Err(ChunkedNotLast),
        ),
        (
            "unknown coding",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
            Err(ChunkedNotLast),
        ),
        (
            "chunked twice",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            Err(InvalidTransferEncoding),
        ),
        (
            "chunked twice over two lines",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(InvalidTransferEncoding),
        ),
        (
            "empty transfer-encoding",
            b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
            Err(InvalidTransferEncoding),
        ),
        (
            "transfer-encoding in HTTP/1.0",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(TransferEncodingInHttp10),
        ),
        (
            "vertical tab before chunked",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: \x0bchunked\r\n\r\n",
            Err(FieldValue),
        ),
        // --- malformed field lines ---
        (
            "obs-fold",
            b"GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n",
            Err(ObsFold),
        ),
        (
            "obs-fold with a tab",
            b"GET / HTTP/1.1\r\nX-A: 1\r\n\t2\r\n\r\n",
            Err(ObsFold),
        ),
        (
            "space before the colon",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            Err(FieldName),
        ),
        (
            "tab before the colon",
            b"POST / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n",
            Err(FieldName),
        ),
        (
            "bare CR in a value",
            b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
            Err(FieldValue),
        ),
        (
            "NUL in a value",
            b"GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n",
            Err(FieldValue),
        ),
        (
            "LF splits a value into a nameless line",
            b"GET / HTTP/1.1\r\nX-A: a\nb\r\n\r\n",
            Err(FieldName),
        ),
        (
            "non-token in a name",
            b"GET / HTTP/1.1\r\nX(A): 1\r\n\r\n",
            Err(FieldName),
        ),
        (
            "empty name",
            b"GET / HTTP/1.1\r\n: 1\r\n\r\n",
            Err(FieldName),
        ),
        // --- host ---
        (
            "two Host fields",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            Err(MultipleHost),
        ),
        (
            "Host list",
            b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
            Err(InvalidHost),
        ),
        (
            "Host with a space",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            Err(InvalidHost),
        ),
        (
            "Host with userinfo",
            b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
            Err(InvalidHost),
        ),
        (
            "Host with a path",
            b"GET / HTTP/1.1\r\nHost: a/x\r\n\r\n",
            Err(InvalidHost),
        ),
        (
            "absolute form with another Host",
            b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
            Err(HostMismatch),
        ),
        // --- start line ---
        ("ftp scheme", b"GET ftp://a/ HTTP/1.1\r\n\r\n", Err(Target)),
        (
            "userinfo in the target",
            b"GET http://u@a/ HTTP/1.1\r\n\r\n",
            Err(Target),
        ),
        ("asterisk with GET", b"GET * HTTP/1.1\r\n\r\n", Err(Target)),
        (
            "CONNECT with origin form",
            b"CONNECT / HTTP/1.1\r\n\r\n",
            Err(Target),
        ),
        (
            "target without a slash",
            b"GET a HTTP/1.1\r\n\r\n",
            Err(Target),
        ),
        (
            "non-ASCII target",
            "GET /zoë HTTP/1.1\r\n\r\n".as_bytes(),
            Err(Target),
        ),
        ("HTTP/2.0 in text", b"GET / HTTP/2.0\r\n\r\n", Err(Version)),
        ("HTTP/1.2", b"GET / HTTP/1.2\r\n\r\n", Err(Version)),
        ("double space", b"GET  / HTTP/1.1\r\n\r\n", Err(StartLine)),
        ("trailing word", b"GET / HTTP/1.1 x\r\n\r\n", Err(NewLine)),
        ("bad method byte", b"G(T / HTTP/1.1\r\n\r\n", Err(StartLine)),
    ]
}

#[test]
fn every_request_in_the_table_is_read_as_expected() {
    let limits = Limits::default();
    let mut failures = Vec::new();
    for (name, wire, want) in cases() {
        let got = parse_request(wire, &limits);
        let ok = match (&want, &got) {
            (Want::Ok(kind, codings), Ok(Some(r))) => {
                r.body == *kind && r.codings.as_deref() == *codings
            }
            (Want::Err(e), Err(g)) => e == g,
            _ => false,
        };
        if !ok {
            let want = match want {
                Want::Ok(k, c) => format!("Ok({k:?}, {c:?})"),
                Want::Err(e) => format!("Err({e:?})"),
            };
            failures.push(format!(
                "{name}: want {want}, got {:?}",
                got.map(|r| r.map(|r| (r.body, r.codings)))
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn refusals_carry_haproxy_statuses() {
    let limits = Limits::default();
    for (name, wire, want) in cases() {
        if let Want::Err(_) = want {
            let e = parse_request(wire, &limits).unwrap_err();
            assert_eq!(e.status(), 400, "{name}");
        }
    }
}

#[test]
fn oversized_request_line_is_414_and_oversized_head_431() {
    let limits = Limits {
        max_head: 1024,
        max_fields: 10,
    };
    let mut line = b"GET /".to_vec();
    line.resize(2000, b'a');
    // Not even complete: the line alone is over the limit.
    let e = parse_request(&line, &limits).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::RequestLineTooLong, 414));
    line.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    assert_eq!(parse_request(&line, &limits).unwrap_err().status(), 414);

    let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    head.resize(2000, b'b');
    let e = parse_request(&head, &limits).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::HeadTooLarge, 431));
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_request(&head, &limits).unwrap_err().status(), 431);

    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..11 {
        many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let e = parse_request(&many, &limits).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::TooManyFields, 431));
}

#[test]
fn partial_heads_ask_for_more() {
    let limits = Limits::default();
    let full = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for cut in 0..full.len() {
        assert!(
            parse_request(&full[..cut], &limits).unwrap().is_none(),
            "cut at {cut}"
        );
    }
    assert!(parse_request(full, &limits).unwrap().is_some());
}

#[test]
fn fields_keep_order_case_and_duplicate_lengths_are_folded() {
    let wire = b"POST /p?q=1 HTTP/1.1\r\nhOsT: a\r\nX-One: 1\r\nContent-Length: 5\r\nx-one:  2  \r\nContent-Length: 5\r\n\r\n";
    let r = parse_request(wire, &Limits::default()).unwrap().unwrap();
    let names: Vec<_> = r
        .head
        .fields
        .iter()
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert_eq!(names, ["hOsT", "X-One", "x-one", "Content-Length"]);
    assert_eq!(
        r.head.fields.get_all("x-one").collect::<Vec<_>>(),
        [&b"1"[..], b"2"]
    );
    assert_eq!(r.head.fields.get("content-length"), Some(&b"5"[..]));
    assert_eq!(r.head.path_and_query(), "/p?q=1");
    assert_eq!(r.head_len, wire.len());
}

#[test]
fn connection_semantics() {
    let limits = Limits::default();
    let p = |w: &[u8]| parse_request(w, &limits).unwrap().unwrap();
    assert!(p(b"GET / HTTP/1.1\r\n\r\n").keep_alive);
    assert!(!p(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!p(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(p(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    assert!(
        p(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expect_continue
    );
    let u = p(b"GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert!(u.upgrade);
    assert!(!p(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").upgrade);
}
