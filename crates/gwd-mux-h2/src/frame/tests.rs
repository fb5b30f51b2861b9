//! Frame codec tests: every frame type round-trips, and each malformed
//! frame is refused with the error code RFC 9113 names.

use super::*;

/// A raw frame: header fields as given (the stream may carry the
/// reserved bit), then `payload`.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    let [_, l0, l1, l2] = (payload.len() as u32).to_be_bytes();
    b.extend_from_slice(&[l0, l1, l2, kind, flags]);
    b.extend_from_slice(&stream.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

fn dec(mut b: BytesMut) -> Result<Option<Frame>, FrameError> {
    decode(&mut b, DEFAULT_MAX_FRAME_SIZE)
}

/// Decodes `b` expecting an error; checks that a stream error consumed
/// the whole frame.
fn err(b: BytesMut) -> FrameError {
    let mut buf = b;
    let e = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).expect_err("decode succeeded");
    if !e.is_connection_error() {
        assert!(buf.is_empty(), "stream error left {} bytes", buf.len());
    }
    e
}

fn conn(code: ErrorCode) -> impl Fn(&FrameError) -> bool {
    move |e| e.is_connection_error() && e.code() == code
}

fn on_stream(stream: u32, code: ErrorCode) -> impl Fn(&FrameError) -> bool {
    move |e| e.stream() == Some(stream) && e.code() == code
}

fn settings_payload(entries: &[(u16, u32)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (id, val) in entries {
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&val.to_be_bytes());
    }
    v
}

#[test]
fn error_code_names_and_formatting() {
    assert_eq!(ErrorCode::NO_ERROR.name(), Some("NO_ERROR"));
    assert_eq!(
        ErrorCode::HTTP_1_1_REQUIRED.name(),
        Some("HTTP_1_1_REQUIRED")
    );
    assert_eq!(ErrorCode(0xe).name(), None);
    assert_eq!(
        format!("{:?}", ErrorCode::FLOW_CONTROL_ERROR),
        "FLOW_CONTROL_ERROR"
    );
    assert_eq!(format!("{}", ErrorCode(0x1234)), "0x1234 (unknown)");
    assert_eq!(format!("{:?}", ErrorCode(0xe)), "0xe (unknown)");
    for c in 0..=0xd {
        assert!(ErrorCode(c).name().is_some(), "code {c}");
    }
}

#[test]
fn frame_error_accessors_and_display() {
    let c = conn_err(ErrorCode::PROTOCOL_ERROR, "x");
    assert!(c.is_connection_error());
    assert_eq!(c.stream(), None);
    assert_eq!(c.code(), ErrorCode::PROTOCOL_ERROR);
    assert_eq!(c.to_string(), "connection error PROTOCOL_ERROR: x");
    let s = stream_err(7, ErrorCode::CANCEL, "y");
    assert!(!s.is_connection_error());
    assert_eq!(s.stream(), Some(7));
    assert_eq!(s.code(), ErrorCode::CANCEL);
    assert_eq!(s.reason(), "y");
    assert_eq!(s.to_string(), "stream 7 error CANCEL: y");
}

#[test]
fn peek_header_needs_nine_bytes_and_clears_reserved_bit() {
    let b = raw(kind::DATA, 0x29, 0x8000_0005, b"abc");
    assert_eq!(peek_header(&b[..8]), None);
    assert_eq!(
        peek_header(&b[..9]),
        Some(FrameHeader {
            len: 3,
            kind: kind::DATA,
            flags: 0x29,
            stream: 5
        })
    );
}

#[test]
fn reserved_stream_bit_is_ignored() {
    let f = dec(raw(kind::DATA, 0, 0x8000_0003, b"x")).unwrap().unwrap();
    assert_eq!(f.stream(), 3);
    // Stream 0 with only the reserved bit set is still stream 0.
    assert!(conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(
        kind::DATA,
        0,
        0x8000_0000,
        b"x"
    ))));
    let f = dec(raw(kind::PING, 0, 0x8000_0000, &[0; 8]))
        .unwrap()
        .unwrap();
    assert_eq!(f.kind(), kind::PING);
}

#[test]
fn stream_frames_on_stream_zero_are_protocol_errors() {
    let cases: [(u8, &[u8]); 6] = [
        (kind::DATA, b""),
        (kind::HEADERS, b""),
        (kind::PRIORITY, &[0, 0, 0, 0, 0]),
        (kind::RST_STREAM, &[0, 0, 0, 0]),
        (kind::PUSH_PROMISE, &[0, 0, 0, 2]),
        (kind::CONTINUATION, b""),
    ];
    for (k, p) in cases {
        assert!(
            conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(k, 0, 0, p))),
            "kind {k}"
        );
        assert!(dec(raw(k, 0, 1, p)).unwrap().is_some(), "kind {k} on 1");
    }
}

#[test]
fn connection_frames_on_a_stream_are_protocol_errors() {
    let cases: [(u8, &[u8]); 3] = [
        (kind::SETTINGS, b""),
        (kind::PING, &[0; 8]),
        (kind::GOAWAY, &[0; 8]),
    ];
    for (k, p) in cases {
        assert!(
            conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(k, 0, 1, p))),
            "kind {k}"
        );
        assert!(dec(raw(k, 0, 0, p)).unwrap().is_some(), "kind {k} on 0");
    }
}

#[test]
fn padding_must_be_shorter_than_payload() {
    for k in [kind::DATA, kind::HEADERS, kind::PUSH_PROMISE] {
        // No room for the pad-length byte.
        assert!(
            conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(k, flags::PADDED, 1, b""))),
            "kind {k}"
        );
        // Pad length equal to the payload length.
        let mut p = vec![7u8; 7];
        p[0] = 7;
        assert!(
            conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(k, flags::PADDED, 1, &p))),
            "kind {k}"
        );
        // Pad length above it.
        p[0] = 200;
        assert!(
            conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(k, flags::PADDED, 1, &p))),
            "kind {k}"
        );
    }
    // Pad length one below the payload length: empty data, fine.
    let f = dec(raw(kind::DATA, flags::PADDED, 1, &[3, 0, 0, 0]))
        .unwrap()
        .unwrap();
    assert_eq!(
        f,
        Frame::Data {
            stream: 1,
            data: Bytes::new(),
            end_stream: false,
            flow_len: 4
        }
    );
}

#[test]
fn padded_data_is_stripped_and_counted_for_flow_control() {
    let f = dec(raw(
        kind::DATA,
        flags::PADDED | flags::END_STREAM,
        1,
        b"\x03abcZZZ",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        f,
        Frame::Data {
            stream: 1,
            data: Bytes::from_static(b"abc"),
            end_stream: true,
            flow_len: 7
        }
    );
}

#[test]
fn padded_headers_with_priority_are_stripped() {
    // pad length 2, exclusive dependency on 5, weight 9, block "hb", pad.
    let p = b"\x02\x80\x00\x00\x05\x09hb\x00\x00";
    let f = dec(raw(
        kind::HEADERS,
        flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
        3,
        p,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        f,
        Frame::Headers {
            stream: 3,
            block: Bytes::from_static(b"hb"),
            end_stream: false,
            end_headers: true,
            priority: Some(Priority {
                dependency: 5,
                exclusive: true,
                weight: 9
            }),
        }
    );
}

#[test]
fn headers_priority_needs_five_bytes_after_padding() {
    // 1 pad-length byte + 4 bytes + 1 padding byte: only 4 left.
    let p = [1, 0, 0, 0, 5, 0];
    assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
        kind::HEADERS,
        flags::PADDED | flags::PRIORITY,
        3,
        &p
    ))));
    // Unpadded, 4 bytes.
    assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
        kind::HEADERS,
        flags::PRIORITY,
        3,
        &[0, 0, 0, 5]
    ))));
    // Exactly 5 bytes left: empty block.
    let f = dec(raw(
        kind::HEADERS,
        flags::PADDED | flags::PRIORITY,
        3,
        &[1, 0, 0, 0, 5, 0, 0],
    ))
    .unwrap()
    .unwrap();
    assert!(matches!(f, Frame::Headers { ref block, priority: Some(_), .. } if block.is_empty()));
}

#[test]
fn push_promise_needs_its_promised_id() {
    assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
        kind::PUSH_PROMISE,
        0,
        1,
        &[0, 0, 2]
    ))));
    let f = dec(raw(
        kind::PUSH_PROMISE,
        flags::PADDED | flags::END_HEADERS,
        1,
        b"\x01\x80\x00\x00\x02hb\x00",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        f,
        Frame::PushPromise {
            stream: 1,
            promised: 2,
            block: Bytes::from_static(b"hb"),
            end_headers: true
        }
    );
}

#[test]
fn priority_frame_length_must_be_five() {
    for p in [&[0u8, 0, 0, 1][..], &[0, 0, 0, 1, 0, 0]] {
        let e = err(raw(kind::PRIORITY, 0, 3, p));
        assert!(on_stream(3, ErrorCode::FRAME_SIZE_ERROR)(&e), "{e:?}");
    }
}

#[test]
fn self_dependency_is_a_stream_protocol_error() {
    let e = err(raw(kind::PRIORITY, 0, 3, &[0x80, 0, 0, 3, 0]));
    assert!(on_stream(3, ErrorCode::PROTOCOL_ERROR)(&e), "{e:?}");
    let e = err(raw(
        kind::HEADERS,
        flags::PRIORITY,
        3,
        &[0, 0, 0, 3, 0, 0x82],
    ));
    assert!(on_stream(3, ErrorCode::PROTOCOL_ERROR)(&e), "{e:?}");
    // Depending on another stream is fine.
    let f = dec(raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 1, 255]))
        .unwrap()
        .unwrap();
    assert_eq!(
        f,
        Frame::Priority {
            stream: 3,
            priority: Priority {
                dependency: 1,
                exclusive: false,
                weight: 255
            }
        }
    );
}

#[test]
fn stream_error_consumes_only_its_frame() {
    let mut b = raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 3, 0]);
    b.extend_from_slice(&raw(kind::PING, 0, 0, &[1; 8]));
    let e = decode(&mut b, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert!(!e.is_connection_error());
    assert_eq!(
        decode(&mut b, DEFAULT_MAX_FRAME_SIZE),
        Ok(Some(Frame::Ping {
            ack: false,
            payload: [1; 8]
        }))
    );
    assert!(b.is_empty());
}

#[test]
fn rst_stream_length_must_be_four() {
    for p in [&[0u8, 0, 8][..], &[0, 0, 0, 8, 0]] {
        assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
            kind::RST_STREAM,
            0,
            1,
            p
        ))));
    }
    assert_eq!(
        dec(raw(kind::RST_STREAM, 0, 1, &[0, 0, 0, 8])),
        Ok(Some(Frame::RstStream {
            stream: 1,
            code: ErrorCode::CANCEL
        }))
    );
}

#[test]
fn settings_length_must_be_a_multiple_of_six() {
    for n in [1, 5, 7, 13] {
        assert!(
            conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(kind::SETTINGS, 0, 0, &vec![0; n]))),
            "len {n}"
        );
    }
}

#[test]
fn settings_ack_must_be_empty() {
    let p = settings_payload(&[(setting::MAX_CONCURRENT_STREAMS, 1)]);
    assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
        kind::SETTINGS,
        flags::ACK,
        0,
        &p
    ))));
    assert_eq!(
        dec(raw(kind::SETTINGS, flags::ACK, 0, b"")),
        Ok(Some(Frame::Settings {
            ack: true,
            settings: Settings::default()
        }))
    );
}

#[test]
fn boolean_settings_must_be_zero_or_one() {
    for id in [setting::ENABLE_PUSH, setting::ENABLE_CONNECT_PROTOCOL] {
        for v in [2, 0x8000_0000, u32::MAX] {
            let p = settings_payload(&[(id, v)]);
            assert!(
                conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(kind::SETTINGS, 0, 0, &p))),
                "id {id} value {v}"
            );
        }
    }
    let p = settings_payload(&[
        (setting::ENABLE_PUSH, 0),
        (setting::ENABLE_CONNECT_PROTOCOL, 1),
    ]);
    let Some(Frame::Settings { settings, .. }) = dec(raw(kind::SETTINGS, 0, 0, &p)).unwrap() else {
        panic!("not settings");
    };
    assert_eq!(settings.enable_push, Some(false));
    assert_eq!(settings.enable_connect_protocol, Some(true));
}

#[test]
fn initial_window_size_limit() {
    let p = settings_payload(&[(setting::INITIAL_WINDOW_SIZE, MAX_WINDOW + 1)]);
    assert!(conn(ErrorCode::FLOW_CONTROL_ERROR)(&err(raw(
        kind::SETTINGS,
        0,
        0,
        &p
    ))));
    let p = settings_payload(&[(setting::INITIAL_WINDOW_SIZE, MAX_WINDOW)]);
    let Some(Frame::Settings { settings, .. }) = dec(raw(kind::SETTINGS, 0, 0, &p)).unwrap() else {
        panic!("not settings");
    };
    assert_eq!(settings.initial_window_size, Some(MAX_WINDOW));
}

#[test]
fn max_frame_size_setting_range() {
    for v in [
        0,
        DEFAULT_MAX_FRAME_SIZE - 1,
        MAX_MAX_FRAME_SIZE + 1,
        u32::MAX,
    ] {
        let p = settings_payload(&[(setting::MAX_FRAME_SIZE, v)]);
        assert!(
            conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(kind::SETTINGS, 0, 0, &p))),
            "value {v}"
        );
    }
    for v in [DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE] {
        let p = settings_payload(&[(setting::MAX_FRAME_SIZE, v)]);
        assert!(dec(raw(kind::SETTINGS, 0, 0, &p)).is_ok(), "value {v}");
    }
}

#[test]
fn settings_later_ids_win_and_unknown_ids_are_ignored() {
    let p = settings_payload(&[
        (setting::HEADER_TABLE_SIZE, 100),
        (0x9, 1),
        (setting::MAX_HEADER_LIST_SIZE, 5),
        (0xffff, 7),
        (setting::HEADER_TABLE_SIZE, 0),
        (0x7, 9),
    ]);
    assert_eq!(
        dec(raw(kind::SETTINGS, 0, 0, &p)),
        Ok(Some(Frame::Settings {
            ack: false,
            settings: Settings {
                header_table_size: Some(0),
                max_header_list_size: Some(5),
                ..Settings::default()
            }
        }))
    );
}

#[test]
fn settings_encode_in_id_order() {
    let s = Settings {
        header_table_size: Some(1),
        enable_push: Some(true),
        max_concurrent_streams: Some(3),
        initial_window_size: Some(4),
        max_frame_size: Some(16_385),
        max_header_list_size: Some(6),
        enable_connect_protocol: Some(false),
    };
    assert_eq!(s.len(), 7);
    let mut out = BytesMut::new();
    encode(
        &Frame::Settings {
            ack: false,
            settings: s,
        },
        &mut out,
    );
    let want = settings_payload(&[(1, 1), (2, 1), (3, 3), (4, 4), (5, 16_385), (6, 6), (8, 0)]);
    assert_eq!(&out[..HEADER_LEN], &[0, 0, 42, 4, 0, 0, 0, 0, 0]);
    assert_eq!(&out[HEADER_LEN..], &want[..]);
}

#[test]
fn ping_length_must_be_eight() {
    for n in [0, 7, 9] {
        assert!(
            conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(kind::PING, 0, 0, &vec![0; n]))),
            "len {n}"
        );
    }
    assert_eq!(
        dec(raw(kind::PING, flags::ACK, 0, b"abcdefgh")),
        Ok(Some(Frame::Ping {
            ack: true,
            payload: *b"abcdefgh"
        }))
    );
}

#[test]
fn goaway_needs_eight_bytes() {
    assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
        kind::GOAWAY,
        0,
        0,
        &[0; 7]
    ))));
    assert_eq!(
        dec(raw(
            kind::GOAWAY,
            0,
            0,
            b"\x80\x00\x00\x09\x00\x00\x00\x0bbye"
        )),
        Ok(Some(Frame::GoAway {
            last_stream: 9,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug: Bytes::from_static(b"bye")
        }))
    );
}

#[test]
fn window_update_length_must_be_four() {
    for (stream, n) in [(0, 3), (0, 5), (1, 3), (1, 5)] {
        assert!(
            conn(ErrorCode::FRAME_SIZE_ERROR)(&err(raw(
                kind::WINDOW_UPDATE,
                0,
                stream,
                &vec![1; n]
            ))),
            "stream {stream} len {n}"
        );
    }
}

#[test]
fn window_update_zero_increment() {
    for p in [[0u8, 0, 0, 0], [0x80, 0, 0, 0]] {
        assert!(conn(ErrorCode::PROTOCOL_ERROR)(&err(raw(
            kind::WINDOW_UPDATE,
            0,
            0,
            &p
        ))));
        let e = err(raw(kind::WINDOW_UPDATE, 0, 5, &p));
        assert!(on_stream(5, ErrorCode::PROTOCOL_ERROR)(&e), "{e:?}");
    }
    assert_eq!(
        dec(raw(kind::WINDOW_UPDATE, 0, 5, &[0x80, 0, 0, 1])),
        Ok(Some(Frame::WindowUpdate {
            stream: 5,
            increment: 1
        }))
    );
}

#[test]
fn unknown_flags_are_ignored() {
    let all = !(flags::PADDED | flags::PRIORITY);
    assert_eq!(
        dec(raw(kind::DATA, all, 1, b"ab")),
        Ok(Some(Frame::Data {
            stream: 1,
            data: Bytes::from_static(b"ab"),
            end_stream: true,
            flow_len: 2
        }))
    );
    assert_eq!(
        dec(raw(kind::CONTINUATION, !flags::END_HEADERS, 1, b"ab")),
        Ok(Some(Frame::Continuation {
            stream: 1,
            block: Bytes::from_static(b"ab"),
            end_headers: false
        }))
    );
    assert_eq!(
        dec(raw(kind::PING, 0xfe, 0, &[0; 8])),
        Ok(Some(Frame::Ping {
            ack: false,
            payload: [0; 8]
        }))
    );
    assert_eq!(
        dec(raw(kind::RST_STREAM, 0xff, 1, &[0, 0, 0, 1])),
        Ok(Some(Frame::RstStream {
            stream: 1,
            code: ErrorCode::PROTOCOL_ERROR
        }))
    );
}

#[test]
fn unknown_type_is_consumed_and_returned() {
    let mut b = raw(0xfa, 0x33, 0x8000_0000 | 7, b"whatever");
    b.extend_from_slice(b"next");
    assert_eq!(
        decode(&mut b, DEFAULT_MAX_FRAME_SIZE),
        Ok(Some(Frame::Unknown {
            kind: 0xfa,
            flags: 0x33,
            stream: 7,
            len: 8
        }))
    );
    assert_eq!(&b[..], b"next");
}

#[test]
fn oversized_length_is_reported_from_the_header_alone() {
    let mut b = BytesMut::from(&[0u8, 0x40, 0x01, kind::DATA, 0, 0, 0, 0, 1][..]);
    let e = decode(&mut b, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert!(conn(ErrorCode::FRAME_SIZE_ERROR)(&e), "{e:?}");
    // The same length is fine (just incomplete) under a larger limit.
    let mut b = BytesMut::from(&[0u8, 0x40, 0x01, kind::DATA, 0, 0, 0, 0, 1][..]);
    assert_eq!(decode(&mut b, DEFAULT_MAX_FRAME_SIZE + 1), Ok(None));
    assert_eq!(b.len(), HEADER_LEN);
    // Exactly the limit is allowed.
    let b = raw(kind::DATA, 0, 1, &vec![0; DEFAULT_MAX_FRAME_SIZE as usize]);
    assert!(dec(b).unwrap().is_some());
}

#[test]
fn payload_is_split_without_copy() {
    let mut b = raw(kind::DATA, 0, 1, b"hello");
    let payload_ptr = b[HEADER_LEN..].as_ptr();
    let Some(Frame::Data { data, .. }) = decode(&mut b, DEFAULT_MAX_FRAME_SIZE).unwrap() else {
        panic!("not data");
    };
    assert_eq!(data.as_ptr(), payload_ptr);
}

#[test]
fn encode_appends_and_clears_reserved_bits() {
    let mut out = BytesMut::from(&b"xy"[..]);
    encode(
        &Frame::WindowUpdate {
            stream: 1,
            increment: 10,
        },
        &mut out,
    );
    assert_eq!(
        &out[..],
        b"xy\x00\x00\x04\x08\x00\x00\x00\x00\x01\x00\x00\x00\x0a"
    );
    let mut out = BytesMut::new();
    encode(
        &Frame::GoAway {
            last_stream: 0x8000_0003,
            code: ErrorCode::NO_ERROR,
            debug: Bytes::new(),
        },
        &mut out,
    );
    assert_eq!(&out[HEADER_LEN..HEADER_LEN + 4], &[0, 0, 0, 3]);
}

#[test]
fn unknown_encodes_zero_payload() {
    let f = Frame::Unknown {
        kind: 0x20,
        flags: 0x5,
        stream: 0,
        len: 3,
    };
    let mut out = BytesMut::new();
    encode(&f, &mut out);
    assert_eq!(&out[..], &[0, 0, 3, 0x20, 0x5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decode(&mut out, DEFAULT_MAX_FRAME_SIZE), Ok(Some(f)));
}
