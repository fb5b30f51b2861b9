//! The connection state machine, driven without sockets: two `Connection`s
//! exchange their output directly, or a test plays the peer with raw
//! frames and checks the exact bytes.

use bytes::{Bytes, BytesMut};
use gwd_mux_h2::conn::{Config, Connection, Event, Role, SendErrorKind};
use gwd_mux_h2::frame::{self, ErrorCode, Frame, PREFACE, Settings};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

/// Moves bytes both ways until neither side has anything to write.
fn pump(a: &mut Connection, b: &mut Connection) {
    for _ in 0..1000 {
        let mut ab = a.take_output();
        let mut ba = b.take_output();
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        if !ab.is_empty() {
            b.recv(&mut ab).expect("b accepts a's bytes");
            assert!(ab.is_empty(), "whole frames are consumed");
        }
        if !ba.is_empty() {
            a.recv(&mut ba).expect("a accepts b's bytes");
            assert!(ba.is_empty());
        }
    }
    panic!("pump did not settle");
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// The reverse-HTTP pair: the origin dials (sends the preface) and serves;
/// the gateway accepts (expects the preface) and sends requests.
fn reverse_pair(origin_cfg: impl FnOnce(&mut Config)) -> (Connection, Connection) {
    let mut o = Config::reverse_dialer();
    origin_cfg(&mut o);
    let g = Config::reverse_acceptor();
    let mut origin = Connection::new(o);
    let mut gateway = Connection::new(g);
    pump(&mut origin, &mut gateway);
    events(&mut origin);
    events(&mut gateway);
    (gateway, origin)
}

fn decode_all(mut b: BytesMut) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some(f) = frame::decode(&mut b, frame::MAX_MAX_FRAME_SIZE).expect("valid frames") {
        out.push(f);
    }
    assert!(b.is_empty());
    out
}

fn get(uri: &str) -> (Method, Uri, HeaderMap) {
    (Method::GET, uri.parse().unwrap(), HeaderMap::new())
}

#[test]
fn each_constructor_picks_the_role_and_the_preface_direction_together() {
    let cases = [
        (Config::new(Role::Client), Role::Client, true),
        (Config::new(Role::Server), Role::Server, false),
        // Reverse HTTP: whoever dialed sends the preface, then serves;
        // whoever accepted expects it, then opens the streams.
        (Config::reverse_dialer(), Role::Server, true),
        (Config::reverse_acceptor(), Role::Client, false),
    ];
    for (cfg, role, sends) in cases {
        assert_eq!((cfg.role(), cfg.sends_preface()), (role, sends));
        let out = Connection::new(cfg).take_output();
        assert_eq!(out.starts_with(PREFACE), sends, "{role:?}");
    }
}

#[test]
fn reverse_handshake_exact_order() {
    let o = Config::reverse_dialer();
    let mut origin = Connection::new(o);
    let out = origin.take_output();
    assert_eq!(&out[..24], PREFACE, "the origin writes the client preface");
    let frames = decode_all(BytesMut::from(&out[24..]));
    assert!(
        matches!(frames[0], Frame::Settings { ack: false, settings } if settings.max_concurrent_streams == Some(100)),
        "then its SETTINGS, with server-role values: {frames:?}"
    );

    let g = Config::reverse_acceptor();
    let mut gateway = Connection::new(g);
    let gout = gateway.take_output();
    let gframes = decode_all(gout);
    assert!(
        matches!(gframes[0], Frame::Settings { ack: false, .. }),
        "the gateway sends only SETTINGS, no preface"
    );
    assert!(!gateway.is_established() && !gateway.can_open());

    // The gateway reverses when the origin's SETTINGS arrive, after
    // queuing the ACK.
    let mut bytes = out;
    gateway.recv(&mut bytes).unwrap();
    assert!(gateway.is_established() && gateway.can_open());
    let ev = events(&mut gateway);
    assert!(matches!(ev[0], Event::Settings { first: true, .. }));
    let acks = decode_all(gateway.take_output());
    assert_eq!(
        acks,
        vec![Frame::Settings {
            ack: true,
            settings: Settings::default()
        }]
    );

    // Streams 1, 3, 5 from the gateway; the origin opens none.
    let (m, u, h) = get("https://app.localhost/");
    let ids: Vec<u32> = (0..3)
        .map(|_| gateway.send_request(&m, &u, &h, true).unwrap())
        .collect();
    assert_eq!(ids, vec![1, 3, 5]);
    assert_eq!(
        origin.send_request(&m, &u, &h, true).unwrap_err().kind(),
        SendErrorKind::WrongRole
    );
}

#[test]
fn request_and_response_with_bodies_and_trailers() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let mut h = HeaderMap::new();
    h.insert("x-test", HeaderValue::from_static("1"));
    h.insert("connection", HeaderValue::from_static("close"));
    h.insert("host", HeaderValue::from_static("ignored.example"));
    let uri: Uri = "https://app.localhost/path?q=1".parse().unwrap();
    let id = gw.send_request(&Method::POST, &uri, &h, false).unwrap();
    let rest = gw
        .send_data(id, Bytes::from_static(b"hello "), false)
        .unwrap();
    assert!(rest.is_empty());
    gw.send_data(id, Bytes::from_static(b"world"), true)
        .unwrap();
    pump(&mut gw, &mut or);
    let ev = events(&mut or);
    let Event::Request {
        stream,
        head: request,
        end_stream: false,
        ..
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*stream, id);
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.uri.to_string(), "https://app.localhost/path?q=1");
    assert_eq!(request.fields.get("x-test"), Some(&b"1"[..]));
    assert!(
        request.fields.get("connection").is_none(),
        "connection-specific fields are not sent"
    );
    let body: Vec<u8> = ev[1..]
        .iter()
        .flat_map(|e| match e {
            Event::Data { data, .. } => data.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(body, b"hello world");
    assert!(matches!(
        ev.last().unwrap(),
        Event::Data {
            end_stream: true,
            ..
        }
    ));

    let mut rh = HeaderMap::new();
    rh.insert("content-type", HeaderValue::from_static("text/plain"));
    or.send_response(id, StatusCode::CONTINUE, &HeaderMap::new(), false)
        .unwrap();
    or.send_response(id, StatusCode::OK, &rh, false).unwrap();
    // After the final head, no other head: neither a late 1xx nor a
    // second answer (the peer would read either as trailers).
    for late in [StatusCode::EARLY_HINTS, StatusCode::OK] {
        let e = or
            .send_response(id, late, &HeaderMap::new(), false)
            .unwrap_err();
        assert_eq!(e.kind(), SendErrorKind::InvalidHead, "{late}");
    }
    or.send_data(id, Bytes::from_static(b"ok"), false).unwrap();
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static("0"));
    // Never after the body: framing, routing, credentials.
    t.insert("content-length", HeaderValue::from_static("99"));
    t.insert("set-cookie", HeaderValue::from_static("sid=evil"));
    or.send_trailers(id, &t).unwrap();
    assert_eq!(or.open_streams(), 0, "both directions ended: stream gone");
    pump(&mut gw, &mut or);
    let ev = events(&mut gw);
    assert!(
        matches!(&ev[0], Event::Response { head, end_stream: false, .. } if head.status == 100)
    );
    assert!(
        matches!(&ev[1], Event::Response { head, end_stream: false, .. } if head.status == 200 && head.fields.get("content-type") == Some(&b"text/plain"[..]))
    );
    assert!(matches!(&ev[2], Event::Data { data, end_stream: false, .. } if &data[..] == b"ok"));
    assert!(
        matches!(&ev[3], Event::Trailers { trailers, .. } if trailers.get("grpc-status") == Some(&b"0"[..]) && trailers.len() == 1),
        "{:?}",
        ev[3]
    );
    assert_eq!(gw.open_streams(), 0);
}

/// Heads sent from gwd-head's `Fields` (as an HTTP/1.1 server's answer
/// arrives: names in their own case, connection-specific fields among
/// them) go out lowercased and without what HTTP/2 forbids, in order.
#[test]
fn fields_heads_go_out_lowercase_without_forbidden_fields() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let mut req = gwd_head::Fields::new();
    req.append(b"Host", b"app.localhost");
    req.append(b"X-Trace", b"a");
    req.append(b"Connection", b"keep-alive");
    let uri: Uri = "/f".parse().unwrap();
    let id = gw.send_request(&Method::GET, &uri, &req, true).unwrap();
    pump(&mut gw, &mut or);
    let ev = events(&mut or);
    let Event::Request { head, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(head.uri.authority().unwrap(), "app.localhost");
    let got: Vec<_> = head
        .fields
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(got, [(b"x-trace".to_vec(), b"a".to_vec())]);

    let mut answer = gwd_head::Fields::new();
    for (n, v) in [
        ("Content-Type", "text/plain"),
        ("Transfer-Encoding", "chunked"),
        ("Keep-Alive", "timeout=5"),
        // TE is a request field: HTTP/2 calls a response with it malformed.
        ("TE", "trailers"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ] {
        answer.append(n.as_bytes(), v.as_bytes());
    }
    or.send_response(id, StatusCode::OK, &answer, true).unwrap();
    pump(&mut gw, &mut or);
    let ev = events(&mut gw);
    let Event::Response { head, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    let got: Vec<_> = head
        .fields
        .iter()
        .map(|(n, v)| {
            format!(
                "{}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "content-type: text/plain",
            "set-cookie: a=1",
            "set-cookie: b=2"
        ]
    );
}

#[test]
fn host_becomes_authority_once() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("app.localhost"));
    let uri: Uri = "/x".parse().unwrap();
    gw.send_request(&Method::GET, &uri, &h, true).unwrap();
    pump(&mut gw, &mut or);
    let ev = events(&mut or);
    let Event::Request { head: request, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(request.uri.authority().unwrap(), "app.localhost");
    assert!(request.fields.get("host").is_none());
}

#[test]
fn flow_control_blocks_then_resumes() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = (
        Method::POST,
        "https://a/".parse::<Uri>().unwrap(),
        HeaderMap::new(),
    );
    let id = gw.send_request(&m, &u, &h, false).unwrap();
    let body = Bytes::from(vec![7u8; 1_000_000]);
    let mut rest = gw.send_data(id, body, true).unwrap();
    assert_eq!(rest.len(), 1_000_000 - 65_535, "stopped at the window");
    assert_eq!(gw.send_capacity(id), 0);
    let mut got = 0usize;
    let mut ended = false;
    for _ in 0..200 {
        pump(&mut gw, &mut or);
        for e in events(&mut or) {
            if let Event::Data {
                stream,
                data,
                end_stream,
            } = e
            {
                got += data.len();
                ended |= end_stream;
                or.release(stream, data.len());
            }
        }
        pump(&mut gw, &mut or);
        let writable = events(&mut gw).iter().any(|e| matches!(e, Event::Writable));
        if !rest.is_empty() {
            assert!(writable, "window updates wake the sender");
            rest = gw.send_data(id, rest, true).unwrap();
        }
        if ended {
            break;
        }
    }
    assert_eq!(got, 1_000_000);
    assert!(ended);
}

#[test]
fn data_beyond_the_window_is_a_flow_control_error() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = (
        Method::POST,
        "https://a/".parse::<Uri>().unwrap(),
        HeaderMap::new(),
    );
    let id = gw.send_request(&m, &u, &h, false).unwrap();
    pump(&mut gw, &mut or);
    events(&mut or);
    // A raw DATA frame sequence ignoring the window.
    let mut raw = BytesMut::new();
    for _ in 0..5 {
        frame::encode(
            &Frame::Data {
                stream: id,
                data: Bytes::from(vec![0u8; 16_384]),
                end_stream: false,
                flow_len: 16_384,
            },
            &mut raw,
        );
    }
    let err = or.recv(&mut raw).unwrap_err();
    assert_eq!(err.code(), ErrorCode::FLOW_CONTROL_ERROR);
    assert!(or.is_closed());
    let out = decode_all(or.take_output());
    assert!(out.iter().any(
        |f| matches!(f, Frame::GoAway { code, .. } if *code == ErrorCode::FLOW_CONTROL_ERROR)
    ));
}

#[test]
fn first_frame_must_be_settings_and_preface_must_match() {
    let cfg = Config::reverse_acceptor();
    let mut c = Connection::new(cfg.clone());
    let mut bad = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
    assert_eq!(
        c.recv(&mut bad).unwrap_err().code(),
        ErrorCode::PROTOCOL_ERROR
    );

    let mut c = Connection::new(cfg);
    let mut raw = BytesMut::from(&PREFACE[..]);
    frame::encode(
        &Frame::Ping {
            ack: false,
            payload: [1; 8],
        },
        &mut raw,
    );
    assert_eq!(
        c.recv(&mut raw).unwrap_err().code(),
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn preface_and_settings_split_across_reads() {
    let mut raw = BytesMut::from(&PREFACE[..]);
    frame::encode(
        &Frame::Settings {
            ack: false,
            settings: Settings::default(),
        },
        &mut raw,
    );
    let cfg = Config::new(Role::Server);
    let mut c = Connection::new(cfg);
    // A driver keeps the unconsumed tail and appends the next read to it.
    let mut pending = BytesMut::new();
    for chunk in raw.chunks(5) {
        assert!(!c.is_established());
        pending.extend_from_slice(chunk);
        c.recv(&mut pending).unwrap();
    }
    assert!(c.is_established());
    assert!(pending.is_empty());
}

#[test]
fn ping_is_answered_and_acks_are_reported() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    gw.send_ping(*b"rttprobe").unwrap();
    pump(&mut gw, &mut or);
    let ev = events(&mut gw);
    assert!(matches!(ev[..], [Event::PingAck(p)] if &p == b"rttprobe"));
    assert!(events(&mut or).is_empty());
}

#[test]
fn goaway_refuses_streams_above_last_and_ends_the_connection() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = get("https://a/");
    let s1 = gw.send_request(&m, &u, &h, true).unwrap();
    pump(&mut gw, &mut or);
    events(&mut or);
    // The origin starts a graceful stop; then the gateway, not yet
    // knowing, opens another stream.
    or.go_away(ErrorCode::NO_ERROR);
    let s3 = gw.send_request(&m, &u, &h, true).unwrap();
    pump(&mut gw, &mut or);
    assert!(
        events(&mut or).is_empty(),
        "a stream above GOAWAY's last id is not served"
    );
    let ev = events(&mut gw);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Reset { stream, retryable: true, .. } if *stream == s3)),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::GoAway(g) if g.last_stream == s1))
    );
    assert_eq!(
        gw.send_request(&m, &u, &h, true).unwrap_err().kind(),
        SendErrorKind::GoingAway
    );
    // Stream 1 still completes, then both sides are done.
    assert!(!or.is_closed());
    or.send_response(s1, StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    pump(&mut gw, &mut or);
    assert!(or.is_closed() && gw.is_closed());
}

#[test]
fn peer_stream_limit_is_respected() {
    let (mut gw, mut or) = reverse_pair(|c| c.settings.max_concurrent_streams = Some(2));
    let (m, u, h) = get("https://a/");
    gw.send_request(&m, &u, &h, true).unwrap();
    gw.send_request(&m, &u, &h, true).unwrap();
    assert!(!gw.can_open());
    let e = gw.send_request(&m, &u, &h, true).unwrap_err();
    assert_eq!(e.kind(), SendErrorKind::StreamLimit);
    assert!(e.is_retryable());
    pump(&mut gw, &mut or);
    let ids: Vec<u32> = events(&mut or)
        .into_iter()
        .filter_map(|e| match e {
            Event::Request { stream, .. } => Some(stream),
            _ => None,
        })
        .collect();
    or.send_response(ids[0], StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    pump(&mut gw, &mut or);
    assert!(gw.can_open(), "a finished stream frees its slot");
}

/// Sends a raw HEADERS frame from the gateway side with the fields given,
/// each a literal without indexing with a literal name (RFC 7541 §6.2.2),
/// bytes as given: names keep their case, which gwd-hpack's encoder would
/// lower. No dynamic table is touched, so the gateway's context matches.
fn raw_headers(stream: u32, fields: &[(&str, &str)], end_stream: bool) -> BytesMut {
    let mut block = BytesMut::new();
    let string = |s: &str, out: &mut BytesMut| {
        assert!(s.len() < 127, "a one-byte length prefix");
        out.extend_from_slice(&[s.len() as u8]);
        out.extend_from_slice(s.as_bytes());
    };
    for (n, v) in fields {
        block.extend_from_slice(&[0x00]);
        string(n, &mut block);
        string(v, &mut block);
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

#[test]
fn malformed_requests_are_reset_not_delivered() {
    let cases: &[&[(&str, &str)]] = &[
        // missing :path
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
        ],
        // uppercase field name
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("X-Up", "1"),
        ],
        // connection-specific field
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("connection", "close"),
        ],
        // pseudo-header after a regular one
        &[
            (":method", "GET"),
            (":scheme", "https"),
            ("x", "1"),
            (":path", "/"),
        ],
        // unknown pseudo-header
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            (":bogus", "1"),
        ],
        // te other than trailers
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("te", "gzip"),
        ],
    ];
    for (i, fields) in cases.iter().enumerate() {
        let (_gw, mut or) = reverse_pair(|_| {});
        let mut raw = raw_headers(1, fields, true);
        or.recv(&mut raw).unwrap();
        assert!(events(&mut or).is_empty(), "case {i} delivered");
        let out = decode_all(or.take_output());
        assert!(
            matches!(out[..], [Frame::RstStream { stream: 1, code }] if code == ErrorCode::PROTOCOL_ERROR),
            "case {i}: {out:?}"
        );
        // The connection goes on: a good request on stream 3 is served.
        let mut ok = raw_headers(
            3,
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
                (":path", "/"),
            ],
            true,
        );
        or.recv(&mut ok).unwrap();
        assert!(matches!(
            events(&mut or)[..],
            [Event::Request { stream: 3, .. }]
        ));
    }
}

#[test]
fn content_length_must_match_the_body() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = raw_headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("content-length", "3"),
        ],
        false,
    );
    frame::encode(
        &Frame::Data {
            stream: 1,
            data: Bytes::from_static(b"toolong"),
            end_stream: true,
            flow_len: 7,
        },
        &mut raw,
    );
    or.recv(&mut raw).unwrap();
    let ev = events(&mut or);
    assert!(matches!(ev[0], Event::Request { stream: 1, .. }));
    assert!(
        matches!(ev[1], Event::Reset { stream: 1, code, remote: false, .. } if code == ErrorCode::PROTOCOL_ERROR)
    );
    let out = decode_all(or.take_output());
    assert!(
        out.iter()
            .any(|f| matches!(f, Frame::RstStream { stream: 1, .. }))
    );
}

#[test]
fn header_blocks_span_continuation_frames_both_ways() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let mut h = HeaderMap::new();
    // ~40 KB of fields: more than two 16 KB frames.
    for i in 0..40 {
        let v = format!("{i:04}").repeat(250);
        h.insert(
            http::header::HeaderName::from_bytes(format!("x-big-{i}").as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    let uri: Uri = "https://a/".parse().unwrap();
    gw.send_request(&Method::GET, &uri, &h, true).unwrap();
    let out = gw.take_output();
    let frames = decode_all(out.clone());
    assert!(matches!(
        frames[0],
        Frame::Headers {
            end_headers: false,
            ..
        }
    ));
    assert!(matches!(
        frames.last().unwrap(),
        Frame::Continuation {
            end_headers: true,
            ..
        }
    ));
    let mut out = out;
    or.recv(&mut out).unwrap();
    let ev = events(&mut or);
    let Event::Request { head: request, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(request.fields.len(), 40);
}

#[test]
fn interleaved_frame_inside_a_header_block_is_a_protocol_error() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = BytesMut::new();
    frame::encode(
        &Frame::Headers {
            stream: 1,
            block: Bytes::from_static(&[0x82]),
            end_stream: true,
            end_headers: false,
            priority: None,
        },
        &mut raw,
    );
    frame::encode(
        &Frame::Ping {
            ack: false,
            payload: [0; 8],
        },
        &mut raw,
    );
    assert_eq!(
        or.recv(&mut raw).unwrap_err().code(),
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn peer_reset_is_reported_and_frees_the_stream() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = get("https://a/");
    let id = gw.send_request(&m, &u, &h, true).unwrap();
    pump(&mut gw, &mut or);
    events(&mut or);
    or.reset(id, ErrorCode::CANCEL);
    assert_eq!(or.open_streams(), 0);
    pump(&mut gw, &mut or);
    let ev = events(&mut gw);
    assert!(
        matches!(ev[..], [Event::Reset { stream, code, remote: true, retryable: false }] if stream == id && code == ErrorCode::CANCEL)
    );
    assert_eq!(gw.open_streams(), 0);
}

#[test]
fn idle_connection_owns_no_buffers() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = get("https://a/");
    let id = gw.send_request(&m, &u, &h, true).unwrap();
    pump(&mut gw, &mut or);
    events(&mut or);
    or.send_response(id, StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    pump(&mut gw, &mut or);
    events(&mut gw);
    assert!(gw.poll_event().is_none() && or.poll_event().is_none());
    assert!(!gw.has_output() && !or.has_output());
    assert_eq!(gw.open_streams() + or.open_streams(), 0);
}

#[test]
fn goaway_alone_refuses_our_streams_above_its_last_id() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = get("https://a/");
    let s1 = gw.send_request(&m, &u, &h, true).unwrap();
    let s3 = gw.send_request(&m, &u, &h, true).unwrap();
    pump(&mut gw, &mut or);
    let mut raw = BytesMut::new();
    frame::encode(
        &Frame::GoAway {
            last_stream: s1,
            code: ErrorCode::NO_ERROR,
            debug: Bytes::new(),
        },
        &mut raw,
    );
    gw.recv(&mut raw).unwrap();
    let ev = events(&mut gw);
    assert!(
        matches!(ev[0], Event::Reset { stream, retryable: true, remote: true, .. } if stream == s3),
        "{ev:?}"
    );
    assert!(matches!(&ev[1], Event::GoAway(g) if g.last_stream == s1));
    assert_eq!(gw.open_streams(), 1, "stream 1 may still be answered");
}

#[test]
fn a_request_that_ends_at_once_cannot_announce_a_body() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = raw_headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("content-length", "5"),
        ],
        true,
    );
    or.recv(&mut raw).unwrap();
    assert!(events(&mut or).is_empty());
    let out = decode_all(or.take_output());
    assert!(
        matches!(out[..], [Frame::RstStream { stream: 1, code }] if code == ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn te_trailers_is_the_only_te_allowed() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = raw_headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("te", "trailers"),
        ],
        true,
    );
    or.recv(&mut raw).unwrap();
    let ev = events(&mut or);
    assert!(
        matches!(&ev[..], [Event::Request { head, .. }] if head.fields.get("te") == Some(&b"trailers"[..]))
    );
}

#[test]
fn headers_with_priority_on_itself_end_the_connection() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = BytesMut::new();
    frame::encode(
        &Frame::Headers {
            stream: 1,
            block: Bytes::from_static(&[0x82]),
            end_stream: true,
            end_headers: true,
            priority: Some(frame::Priority {
                dependency: 1,
                exclusive: false,
                weight: 15,
            }),
        },
        &mut raw,
    );
    assert_eq!(
        or.recv(&mut raw).unwrap_err().code(),
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn streams_beyond_our_limit_are_refused() {
    let (_gw, mut or) = reverse_pair(|c| c.settings.max_concurrent_streams = Some(1));
    let req = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "a"),
        (":path", "/"),
    ];
    let mut raw = raw_headers(1, &req, true);
    raw.extend_from_slice(&raw_headers(3, &req, true));
    or.recv(&mut raw).unwrap();
    let ev = events(&mut or);
    assert!(
        matches!(ev[..], [Event::Request { stream: 1, .. }]),
        "{ev:?}"
    );
    let out = decode_all(or.take_output());
    assert!(
        matches!(out[..], [Frame::RstStream { stream: 3, code }] if code == ErrorCode::REFUSED_STREAM),
        "{out:?}"
    );
}

#[test]
fn stream_errors_on_idle_streams_are_connection_errors_not_resets() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = BytesMut::new();
    // WINDOW_UPDATE with a zero increment on stream 7, never opened.
    raw.extend_from_slice(&[
        0,
        0,
        4,
        gwd_mux_h2::internal::kind::WINDOW_UPDATE,
        0,
        0,
        0,
        0,
        7,
        0,
        0,
        0,
        0,
    ]);
    assert_eq!(
        or.recv(&mut raw).unwrap_err().code(),
        ErrorCode::PROTOCOL_ERROR
    );
    let out = decode_all(or.take_output());
    assert!(
        !out.iter().any(|f| matches!(f, Frame::RstStream { .. })),
        "no RST_STREAM for an idle stream: {out:?}"
    );

    // A self-dependent PRIORITY on an idle stream (a stream error, RFC
    // 9113 §5.3.1, that cannot be a reset there): the connection ends.
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut raw = BytesMut::new();
    raw.extend_from_slice(&[
        0,
        0,
        5,
        gwd_mux_h2::internal::kind::PRIORITY,
        0,
        0,
        0,
        0,
        9,
        0,
        0,
        0,
        9,
        15,
    ]);
    assert_eq!(
        or.recv(&mut raw).unwrap_err().code(),
        ErrorCode::PROTOCOL_ERROR
    );
    assert!(
        !decode_all(or.take_output())
            .iter()
            .any(|f| matches!(f, Frame::RstStream { .. }))
    );
}

fn get_fields() -> [(&'static str, &'static str); 4] {
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "a"),
        (":path", "/"),
    ]
}

/// A bodiless GET on `id`, then the peer's RST_STREAM(CANCEL) for it.
fn get_then_cancel(id: u32) -> BytesMut {
    let mut raw = raw_headers(id, &get_fields(), true);
    frame::encode(
        &Frame::RstStream {
            stream: id,
            code: ErrorCode::CANCEL,
        },
        &mut raw,
    );
    raw
}

#[test]
fn rapid_reset_is_cut_off_with_enhance_your_calm() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut err = None;
    for i in 0..150u32 {
        let id = 1 + 2 * i;
        let mut raw = get_then_cancel(id);
        if let Err(e) = or.recv(&mut raw) {
            err = Some((i, e));
            break;
        }
        events(&mut or);
    }
    let (i, e) = err.expect("a reset flood ends the connection");
    assert_eq!(e.code(), ErrorCode::ENHANCE_YOUR_CALM);
    assert_eq!(i, 100, "after the 101st premature reset");
}

#[test]
fn cancellations_paid_back_by_answered_streams_are_fine() {
    let (_gw, mut or) = reverse_pair(|_| {});
    for i in 0..300u32 {
        let id = 1 + 2 * i;
        let mut raw = raw_headers(id, &get_fields(), true);
        if i % 2 == 0 {
            frame::encode(
                &Frame::RstStream {
                    stream: id,
                    code: ErrorCode::CANCEL,
                },
                &mut raw,
            );
            or.recv(&mut raw).unwrap();
        } else {
            or.recv(&mut raw).unwrap();
            or.send_response(id, StatusCode::OK, &HeaderMap::new(), true)
                .unwrap();
        }
        events(&mut or);
        or.take_output();
    }
    assert!(!or.is_closed());
}

/// `u32::MAX` lifts the limit (a reverse-HTTP origin's tunnel: its
/// gateway relays its visitors' cancellations).
#[test]
fn no_premature_reset_limit_at_u32_max() {
    let (_gw, mut or) = reverse_pair(|c| c.max_premature_resets = u32::MAX);
    for i in 0..300u32 {
        let id = 1 + 2 * i;
        let mut raw = get_then_cancel(id);
        or.recv(&mut raw).unwrap();
        events(&mut or);
        or.take_output();
    }
    assert!(!or.is_closed());
}

/// Many large answers cancelled at once (a tunnel's visitors going
/// away): what the peer already had in flight on those streams, up to
/// each one's window, is thrown away without counting as a flood; DATA
/// beyond that still does.
#[test]
fn data_in_flight_on_cancelled_streams_is_no_flood() {
    // The tunnel's windows: 1 MiB a stream, 4 MiB for the connection
    // (the flood bound is then 9 MiB with nothing delivered).
    let mut g = Config::reverse_acceptor();
    g.settings.initial_window_size = Some(1 << 20);
    g.connection_window = 4 << 20;
    let mut gw = Connection::new(g);
    let mut or = Connection::new(Config::reverse_dialer());
    pump(&mut or, &mut gw);
    let (m, u, h) = (
        Method::GET,
        Uri::from_static("https://a/"),
        HeaderMap::new(),
    );
    let ids: Vec<u32> = (0..16)
        .map(|_| gw.send_request(&m, &u, &h, true).unwrap())
        .collect();
    pump(&mut gw, &mut or);
    events(&mut or);
    for &id in &ids {
        or.send_response(id, StatusCode::OK, &h, false).unwrap();
    }
    pump(&mut or, &mut gw);
    events(&mut gw);
    for &id in &ids {
        gw.reset(id, ErrorCode::CANCEL);
    }
    // 16 MiB: each stream's whole window, 16 KiB frames.
    let piece = Bytes::from(vec![0u8; 16_384]);
    let send = |gw: &mut Connection, id: u32| {
        let mut raw = BytesMut::new();
        frame::encode(
            &Frame::Data {
                stream: id,
                data: piece.clone(),
                end_stream: false,
                flow_len: 16_384,
            },
            &mut raw,
        );
        gw.recv(&mut raw)
    };
    for &id in &ids {
        for _ in 0..64 {
            send(&mut gw, id).expect("in flight before the reset: thrown away");
        }
        gw.take_output();
    }
    assert!(!gw.is_closed());
    // More than any window allowed: a flood, cut off past the usual bound.
    let mut err = None;
    for n in 0..1000 {
        if let Err(e) = send(&mut gw, ids[0]) {
            err = Some((n, e));
            break;
        }
        gw.take_output();
    }
    let (n, e) = err.expect("a flood on closed streams ends the connection");
    assert_eq!(e.code(), ErrorCode::ENHANCE_YOUR_CALM);
    assert!((500..=600).contains(&n), "cut off after {n} frames");
}

/// "MadeYouReset" (CVE-2025-8671): streams the peer makes us reset (here
/// a body longer than its content-length) count as premature resets too.
#[test]
fn resets_the_peer_provokes_count_as_premature() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut err = None;
    for i in 0..150u32 {
        let id = 1 + 2 * i;
        let mut fields = get_fields().to_vec();
        fields[0] = (":method", "POST");
        fields.push(("content-length", "1"));
        let mut raw = raw_headers(id, &fields, false);
        frame::encode(
            &Frame::Data {
                stream: id,
                data: Bytes::from_static(b"xx"),
                end_stream: false,
                flow_len: 2,
            },
            &mut raw,
        );
        if let Err(e) = or.recv(&mut raw) {
            err = Some((i, e));
            break;
        }
        events(&mut or);
        or.take_output();
    }
    let (i, e) = err.expect("a provoked-reset flood ends the connection");
    assert_eq!(e.code(), ErrorCode::ENHANCE_YOUR_CALM);
    assert_eq!(i, 100, "after the 101st premature reset");
}

/// Empty DATA frames without END_STREAM carry nothing and cost no window
/// (CVE-2019-9518): they raise no event, and a flood of them ends the
/// connection; real data in between pays them back.
#[test]
fn empty_data_frames_are_not_delivered_and_a_flood_is_cut_off() {
    let (_gw, mut or) = reverse_pair(|_| {});
    let mut fields = get_fields().to_vec();
    fields[0] = (":method", "POST");
    let mut raw = raw_headers(1, &fields, false);
    or.recv(&mut raw).unwrap();
    assert!(matches!(
        events(&mut or)[..],
        [Event::Request { stream: 1, .. }]
    ));
    let data = |data: &'static [u8], out: &mut BytesMut| {
        frame::encode(
            &Frame::Data {
                stream: 1,
                data: Bytes::from_static(data),
                end_stream: false,
                flow_len: data.len() as u32,
            },
            out,
        )
    };
    // Alternating empty and real frames: fine, only the real ones show.
    for _ in 0..500 {
        let mut raw = BytesMut::new();
        data(b"", &mut raw);
        data(b"x", &mut raw);
        or.recv(&mut raw).unwrap();
        let ev = events(&mut or);
        assert!(
            matches!(&ev[..], [Event::Data { data, .. }] if &data[..] == b"x"),
            "{ev:?}"
        );
        or.release(1, 1);
    }
    let mut raw = BytesMut::new();
    for _ in 0..101 {
        data(b"", &mut raw);
    }
    let e = or.recv(&mut raw).unwrap_err();
    assert_eq!(e.code(), ErrorCode::ENHANCE_YOUR_CALM);
}

/// RFC 8441: `:protocol` is accepted only on a CONNECT, only once this
/// side advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, and with `:scheme`
/// and `:path`; the request carries it as [`Protocol`].
#[test]
fn extended_connect_only_where_advertised() {
    let ws = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":authority", "a"),
        (":path", "/chat"),
        ("sec-websocket-version", "13"),
    ];
    // Not advertised: malformed.
    let (_gw, mut or) = reverse_pair(|_| {});
    or.recv(&mut raw_headers(1, &ws, false)).unwrap();
    assert!(events(&mut or).is_empty());
    assert!(matches!(
        decode_all(or.take_output())[..],
        [Frame::RstStream { stream: 1, code }] if code == ErrorCode::PROTOCOL_ERROR
    ));

    // Advertised: delivered with its protocol, the path kept.
    let (_gw, mut or) = reverse_pair(|c| c.settings.enable_connect_protocol = Some(true));
    or.recv(&mut raw_headers(1, &ws, false)).unwrap();
    match &events(&mut or)[..] {
        [
            Event::Request {
                stream: 1,
                head: request,
                protocol,
                end_stream: false,
            },
        ] => {
            assert_eq!(request.method, Method::CONNECT);
            assert_eq!(request.uri.path(), "/chat");
            let p = protocol.as_ref().expect(":protocol");
            assert!(p.is("WebSocket"));
            assert_eq!(p.as_bytes(), b"websocket");
        }
        other => panic!("{other:?}"),
    }
    // Without :path, on another method, or with a length: malformed.
    for (i, fields) in [
        &[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "a"),
        ][..],
        &[
            (":method", "GET"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
        ][..],
        // A length on the tunnel's bytes.
        &[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
            ("content-length", "5"),
        ][..],
    ]
    .into_iter()
    .enumerate()
    {
        let id = 3 + 2 * i as u32;
        or.recv(&mut raw_headers(id, fields, false)).unwrap();
        assert!(events(&mut or).is_empty(), "case {i}");
        assert!(
            matches!(decode_all(or.take_output())[..], [Frame::RstStream { stream, code }] if stream == id && code == ErrorCode::PROTOCOL_ERROR),
            "case {i}"
        );
    }
}

/// The client side of RFC 8441: an extended CONNECT goes out only to a
/// peer that announced the setting, with every pseudo-header a full
/// request has, and arrives with its protocol.
#[test]
fn extended_connect_is_sent_only_to_a_peer_that_allows_it() {
    use gwd_mux_h2::conn::Protocol;
    let ws = Protocol::new("websocket");
    let uri: Uri = "https://a.test/chat?x=1".parse().unwrap();
    let (mut gw, _or) = reverse_pair(|_| {});
    assert_eq!(
        gw.send_extended_connect(&ws, &uri, &HeaderMap::new(), false)
            .unwrap_err()
            .kind(),
        SendErrorKind::ExtendedConnectRefused
    );
    let (mut gw, mut or) = reverse_pair(|c| c.settings.enable_connect_protocol = Some(true));
    let id = gw
        .send_extended_connect(&ws, &uri, &HeaderMap::new(), false)
        .unwrap();
    pump(&mut gw, &mut or);
    match &events(&mut or)[..] {
        [
            Event::Request {
                stream,
                head: request,
                protocol,
                end_stream: false,
            },
        ] if *stream == id => {
            assert_eq!(request.method, Method::CONNECT);
            assert_eq!(request.uri.path_and_query().unwrap().as_str(), "/chat?x=1");
            assert_eq!(request.uri.authority().unwrap().as_str(), "a.test");
            assert!(protocol.as_ref().unwrap().is("websocket"));
        }
        other => panic!("{other:?}"),
    }
}

/// h2spec's "Stream States" and "Stream Identifiers" cases (RFC 9113
/// §5.1, §5.1.1), as gwd's own tests: DATA on a stream the peer reset or
/// finished is a stream error (STREAM_CLOSED); HEADERS on a finished
/// stream is a connection error (STREAM_CLOSED); a new stream below one
/// already opened is a connection error (PROTOCOL_ERROR); DATA that was in
/// flight when we reset a stream is ignored.
#[test]
fn frames_on_closed_streams_follow_rfc_9113_5_1() {
    let data = |stream: u32| {
        let mut b = BytesMut::new();
        frame::encode(
            &Frame::Data {
                stream,
                data: Bytes::from_static(b"x"),
                end_stream: false,
                flow_len: 1,
            },
            &mut b,
        );
        b
    };
    let rst = |stream: u32| {
        let mut b = BytesMut::new();
        frame::encode(
            &Frame::RstStream {
                stream,
                code: ErrorCode::CANCEL,
            },
            &mut b,
        );
        b
    };
    let reset_with = |out: &[Frame], id: u32, want: ErrorCode| {
        out.iter().any(
            |f| matches!(f, Frame::RstStream { stream, code } if *stream == id && *code == want),
        )
    };

    // DATA after the peer's own RST_STREAM.
    let (_gw, mut or) = reverse_pair(|_| {});
    or.recv(&mut raw_headers(1, &get_fields(), false)).unwrap();
    or.recv(&mut rst(1)).unwrap();
    events(&mut or);
    or.take_output();
    or.recv(&mut data(1)).unwrap();
    assert!(reset_with(
        &decode_all(or.take_output()),
        1,
        ErrorCode::STREAM_CLOSED
    ));

    // DATA, then HEADERS, on a stream finished both ways.
    let (_gw, mut or) = reverse_pair(|_| {});
    or.recv(&mut raw_headers(1, &get_fields(), true)).unwrap();
    events(&mut or);
    or.send_response(1, StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    or.take_output();
    or.recv(&mut data(1)).unwrap();
    assert!(reset_with(
        &decode_all(or.take_output()),
        1,
        ErrorCode::STREAM_CLOSED
    ));
    let e = or
        .recv(&mut raw_headers(1, &get_fields(), true))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::STREAM_CLOSED);

    // A lower id than one already opened.
    let (_gw, mut or) = reverse_pair(|_| {});
    or.recv(&mut raw_headers(5, &get_fields(), true)).unwrap();
    let e = or
        .recv(&mut raw_headers(3, &get_fields(), true))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);

    // DATA in flight after our own reset: ignored, no second reset.
    let (_gw, mut or) = reverse_pair(|_| {});
    or.recv(&mut raw_headers(1, &get_fields(), false)).unwrap();
    events(&mut or);
    or.reset(1, ErrorCode::CANCEL);
    or.take_output();
    or.recv(&mut data(1)).unwrap();
    assert!(
        !decode_all(or.take_output())
            .iter()
            .any(|f| matches!(f, Frame::RstStream { .. }))
    );
}

/// A peer that ignores our reset and keeps sending DATA on the stream
/// (the space is handed back at once, so flow control never stops it) is
/// cut off with ENHANCE_YOUR_CALM once it has sent well past a window
/// with nothing delivered; the DATA in flight when the reset left (up to
/// a window) is just ignored.
#[test]
fn data_flood_on_a_reset_stream_is_cut_off() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let (m, u, h) = get("https://a/");
    let id = gw.send_request(&m, &u, &h, true).unwrap();
    pump(&mut gw, &mut or);
    events(&mut or);
    or.send_response(id, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    pump(&mut or, &mut gw);
    events(&mut gw);
    gw.reset(id, ErrorCode::CANCEL);
    let frame = |out: &mut BytesMut| {
        frame::encode(
            &Frame::Data {
                stream: id,
                data: Bytes::from(vec![0u8; 16_384]),
                end_stream: false,
                flow_len: 16_384,
            },
            out,
        )
    };
    // A window's worth in flight after the reset: ignored.
    for _ in 0..4 {
        let mut raw = BytesMut::new();
        frame(&mut raw);
        gw.recv(&mut raw).unwrap();
        let _ = gw.take_output();
    }
    assert!(!gw.is_closed());
    // Then a flood: the connection ends, and says why.
    let mut ended = None;
    for _ in 0..10_000 {
        let mut raw = BytesMut::new();
        frame(&mut raw);
        if let Err(e) = gw.recv(&mut raw) {
            ended = Some(e.code());
            break;
        }
        let _ = gw.take_output();
    }
    assert_eq!(ended, Some(ErrorCode::ENHANCE_YOUR_CALM));
    assert!(gw.is_closed());
}

/// `plain_header_strings` (the default): the block carries the strings
/// as they are (no Huffman coding, as HAProxy sends them); off, they are
/// Huffman-coded; the peer reads the same head either way.
#[test]
fn plain_header_strings_go_out_verbatim_and_read_the_same() {
    for plain in [false, true] {
        let (mut gw, mut or) = reverse_pair(|c| c.plain_header_strings = plain);
        let uri: Uri = "https://app.localhost/p".parse().unwrap();
        let id = gw
            .send_request(&Method::GET, &uri, &gwd_head::Fields::new(), true)
            .unwrap();
        pump(&mut gw, &mut or);
        events(&mut or);
        let mut answer = gwd_head::Fields::new();
        answer.append(b"x-custom-field", b"some-distinctive-value");
        or.send_response(id, StatusCode::OK, &answer, true).unwrap();
        let out = or.take_output();
        let verbatim = out
            .windows(b"some-distinctive-value".len())
            .any(|w| w == b"some-distinctive-value");
        assert_eq!(verbatim, plain, "plain_header_strings = {plain}");
        gw.recv(&mut out.clone()).unwrap();
        let ev = events(&mut gw);
        let Event::Response { head, .. } = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            head.fields.get("x-custom-field"),
            Some(&b"some-distinctive-value"[..])
        );
    }
}

/// Credentials go out as never-indexed literals (RFC 7541 §6.2.3), from
/// gwd's fields as from a header map: an intermediary must keep the flag
/// a client sets on them.
#[test]
fn credentials_go_out_never_indexed() {
    let (mut gw, or) = reverse_pair(|_| {});
    let mut req = gwd_head::Fields::new();
    req.append(b"Authorization", b"Basic c2VjcmV0");
    req.append(b"x-other", b"v");
    let uri: Uri = "https://app.localhost/".parse().unwrap();
    gw.send_request(&Method::GET, &uri, &req, true).unwrap();
    let out = gw.take_output();
    let frames = decode_all(out);
    let Some(Frame::Headers { block, .. }) =
        frames.iter().find(|f| matches!(f, Frame::Headers { .. }))
    else {
        panic!("{frames:?}")
    };
    // `authorization` is static entry 23: never-indexed literal with an
    // indexed name is 0001xxxx with a 4-bit prefix: 0x1f, 23 - 15 = 8.
    let block = &block[..];
    let at = block
        .windows(2)
        .position(|w| w == [0x1f, 0x08])
        .expect("a never-indexed authorization field");
    assert_eq!(block[at + 2], 14, "a plain string of 14 bytes");
    assert_eq!(&block[at + 3..at + 3 + 14], b"Basic c2VjcmV0");
    drop(or);
}

/// A peer's trailers lose what a trailer section may not carry (framing,
/// routing, credentials) on arrival, as an HTTP/1.1 trailer section's
/// do: relayed on, `content-length: 99` or `host: evil` after a body
/// could reframe or reroute it at the next hop.
#[test]
fn a_peers_forbidden_trailers_are_dropped_on_arrival() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let uri: Uri = "http://app.localhost/up".parse().unwrap();
    let id = gw
        .send_request(&Method::POST, &uri, &HeaderMap::new(), false)
        .unwrap();
    gw.send_data(id, Bytes::from_static(b"abc"), false).unwrap();
    pump(&mut gw, &mut or);
    let _ = events(&mut or);
    let mut raw = raw_headers(
        id,
        &[
            ("x-checksum", "1"),
            ("content-length", "99"),
            ("host", "evil"),
            ("authorization", "Basic eA=="),
        ],
        true,
    );
    or.recv(&mut raw).unwrap();
    let ev = events(&mut or);
    let Some(Event::Trailers { trailers, .. }) = ev.first() else {
        panic!("{ev:?}")
    };
    let names: Vec<_> = trailers.iter().map(|(n, _)| n.to_vec()).collect();
    assert_eq!(names, [b"x-checksum".to_vec()]);
}

/// Trailers of which nothing may go out end the stream with an empty
/// DATA frame rather than an empty HEADERS block.
#[test]
fn trailers_with_nothing_to_send_end_the_stream_with_empty_data() {
    let (mut gw, mut or) = reverse_pair(|_| {});
    let uri: Uri = "http://app.localhost/t".parse().unwrap();
    let id = gw
        .send_request(&Method::GET, &uri, &HeaderMap::new(), true)
        .unwrap();
    pump(&mut gw, &mut or);
    let _ = events(&mut or);
    or.send_response(id, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    let mut t = HeaderMap::new();
    t.insert("content-length", HeaderValue::from_static("99"));
    or.send_trailers(id, &t).unwrap();
    assert_eq!(or.open_streams(), 0);
    pump(&mut gw, &mut or);
    let ev = events(&mut gw);
    assert!(
        matches!(&ev[..], [Event::Response { .. }, Event::Data { data, end_stream: true, .. }] if data.is_empty()),
        "{ev:?}"
    );
}
