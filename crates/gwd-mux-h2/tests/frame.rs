//! Integration and property tests of the HTTP/2 frame codec: round trips of
//! every frame variant through `encode` → `decode` with the byte stream cut
//! at random points, padding, unknown frames, oversized lengths, and
//! robustness against arbitrary bytes.

use bytes::{Bytes, BytesMut};
use gwd_mux_h2::frame::{
    DEFAULT_MAX_FRAME_SIZE, ErrorCode, Frame, FrameError, MAX_MAX_FRAME_SIZE, MAX_WINDOW, PREFACE,
    Priority, Settings, decode, encode,
};
use gwd_mux_h2::internal::{FrameHeader, HEADER_LEN, encode_header, flags, kind, peek_header};
use proptest::prelude::*;

const MAX_STREAM: u32 = MAX_WINDOW; // 2^31 - 1: the largest 31-bit id

fn stream_id() -> impl Strategy<Value = u32> {
    1..=MAX_STREAM
}

fn any_id() -> impl Strategy<Value = u32> {
    0..=MAX_STREAM
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// A priority that does not depend on `stream`.
fn priority_for(stream: u32) -> impl Strategy<Value = Priority> {
    (any_id(), any::<bool>(), any::<u8>()).prop_map(move |(d, exclusive, weight)| Priority {
        dependency: if d == stream { 0 } else { d },
        exclusive,
        weight,
    })
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(0..=MAX_WINDOW),
        proptest::option::of(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(hts, push, mcs, iws, mfs, mhls, connect)| Settings {
            header_table_size: hts,
            enable_push: push,
            max_concurrent_streams: mcs,
            initial_window_size: iws,
            max_frame_size: mfs,
            max_header_list_size: mhls,
            enable_connect_protocol: connect,
        })
}

/// Any valid frame, as `decode` would return it (so `flow_len` of DATA is
/// the data length: `encode` never pads).
fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (stream_id(), bytes(200), any::<bool>()).prop_map(|(stream, data, end_stream)| {
            let flow_len = data.len() as u32;
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            }
        }),
        stream_id()
            .prop_flat_map(|s| (
                Just(s),
                bytes(100),
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(priority_for(s))
            ))
            .prop_map(
                |(stream, block, end_stream, end_headers, priority)| Frame::Headers {
                    stream,
                    block,
                    end_stream,
                    end_headers,
                    priority,
                }
            ),
        stream_id()
            .prop_flat_map(|s| (Just(s), priority_for(s)))
            .prop_map(|(stream, priority)| Frame::Priority { stream, priority }),
        (stream_id(), any::<u32>()).prop_map(|(stream, c)| Frame::RstStream {
            stream,
            code: ErrorCode(c)
        }),
        settings().prop_map(|settings| Frame::Settings {
            ack: false,
            settings
        }),
        Just(Frame::Settings {
            ack: true,
            settings: Settings::default()
        }),
        (stream_id(), any_id(), bytes(100), any::<bool>()).prop_map(
            |(stream, promised, block, end_headers)| Frame::PushPromise {
                stream,
                promised,
                block,
                end_headers,
            }
        ),
        (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, payload)| Frame::Ping { ack, payload }),
        (any_id(), any::<u32>(), bytes(50)).prop_map(|(last_stream, c, debug)| Frame::GoAway {
            last_stream,
            code: ErrorCode(c),
            debug,
        }),
        (any_id(), 1..=MAX_WINDOW)
            .prop_map(|(stream, increment)| Frame::WindowUpdate { stream, increment }),
        (stream_id(), bytes(100), any::<bool>()).prop_map(|(stream, block, end_headers)| {
            Frame::Continuation {
                stream,
                block,
                end_headers,
            }
        }),
        (10u8..=255, any::<u8>(), any_id(), 0u32..100).prop_map(|(kind, flags, stream, len)| {
            Frame::Unknown {
                kind,
                flags,
                stream,
                len,
            }
        }),
    ]
}

fn encoded(frame: &Frame) -> BytesMut {
    let mut out = BytesMut::new();
    encode(frame, &mut out);
    out
}

/// Feeds `wire` to `decode` in chunks of the given sizes (cycled), draining
/// after every chunk. Checks that `Ok(None)` never consumes anything and
/// that each frame consumes exactly `9 + length` bytes.
fn feed(wire: &[u8], chunks: &[usize], max_frame_size: u32) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = chunks[i % chunks.len()].min(wire.len() - pos);
        i += 1;
        buf.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        loop {
            let before = buf.len();
            let header = peek_header(&buf);
            match decode(&mut buf, max_frame_size) {
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    if let Some(h) = header {
                        assert!(
                            before < HEADER_LEN + h.len as usize,
                            "whole frame not decoded"
                        );
                    }
                    break;
                }
                Ok(Some(f)) => {
                    let h = header.expect("frame decoded without a header");
                    assert_eq!(before - buf.len(), HEADER_LEN + h.len as usize);
                    frames.push(f);
                }
                Err(e) => panic!("decode error {e}"),
            }
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frames
}

proptest! {
    #[test]
    fn round_trip_single(f in frame()) {
        let mut wire = encoded(&f);
        let len = wire.len();
        let h = peek_header(&wire).unwrap();
        prop_assert_eq!(h.len as usize + HEADER_LEN, len);
        prop_assert_eq!(h.kind, f.kind());
        prop_assert_eq!(h.stream, f.stream());
        prop_assert_eq!(decode(&mut wire, MAX_MAX_FRAME_SIZE), Ok(Some(f)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn round_trip_split_stream(
        frames in proptest::collection::vec(frame(), 1..12),
        chunks in proptest::collection::vec(1usize..40, 1..20),
    ) {
        let mut wire = BytesMut::new();
        for f in &frames {
            encode(f, &mut wire);
        }
        prop_assert_eq!(feed(&wire, &chunks, DEFAULT_MAX_FRAME_SIZE), frames.clone());
        // One byte at a time.
        prop_assert_eq!(feed(&wire, &[1], DEFAULT_MAX_FRAME_SIZE), frames.clone());
        // All at once.
        prop_assert_eq!(feed(&wire, &[wire.len()], DEFAULT_MAX_FRAME_SIZE), frames);
    }

    #[test]
    fn every_prefix_is_incomplete(f in frame()) {
        let wire = encoded(&f);
        for cut in 0..wire.len() {
            let mut part = BytesMut::from(&wire[..cut]);
            prop_assert_eq!(decode(&mut part, MAX_MAX_FRAME_SIZE), Ok(None), "cut {}", cut);
            prop_assert_eq!(part.len(), cut);
        }
    }

    #[test]
    fn padded_data_strips_padding(
        stream in stream_id(),
        data in bytes(100),
        pad in any::<u8>(),
        end_stream in any::<bool>(),
    ) {
        let payload_len = 1 + data.len() + pad as usize;
        let mut wire = BytesMut::new();
        let f = flags::PADDED | if end_stream { flags::END_STREAM } else { 0 };
        encode_header(FrameHeader { len: payload_len as u32, kind: kind::DATA, flags: f, stream }, &mut wire);
        wire.extend_from_slice(&[pad]);
        wire.extend_from_slice(&data);
        wire.extend_from_slice(&vec![0xee; pad as usize]);
        prop_assert_eq!(
            decode(&mut wire, DEFAULT_MAX_FRAME_SIZE),
            Ok(Some(Frame::Data { stream, data, end_stream, flow_len: payload_len as u32 }))
        );
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn padded_headers_strip_padding_and_priority(
        (stream, priority) in stream_id().prop_flat_map(|s| (Just(s), proptest::option::of(priority_for(s)))),
        block in bytes(100),
        pad in any::<u8>(),
        end_headers in any::<bool>(),
    ) {
        let prio_len = if priority.is_some() { 5 } else { 0 };
        let payload_len = 1 + prio_len + block.len() + pad as usize;
        let mut f = flags::PADDED;
        if end_headers { f |= flags::END_HEADERS; }
        if priority.is_some() { f |= flags::PRIORITY; }
        let mut wire = BytesMut::new();
        encode_header(FrameHeader { len: payload_len as u32, kind: kind::HEADERS, flags: f, stream }, &mut wire);
        wire.extend_from_slice(&[pad]);
        if let Some(p) = priority {
            let dep = p.dependency | if p.exclusive { 0x8000_0000 } else { 0 };
            wire.extend_from_slice(&dep.to_be_bytes());
            wire.extend_from_slice(&[p.weight]);
        }
        wire.extend_from_slice(&block);
        wire.extend_from_slice(&vec![0xee; pad as usize]);
        prop_assert_eq!(
            decode(&mut wire, DEFAULT_MAX_FRAME_SIZE),
            Ok(Some(Frame::Headers { stream, block, end_stream: false, end_headers, priority }))
        );
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        max in prop_oneof![Just(0u32), Just(8), Just(DEFAULT_MAX_FRAME_SIZE), Just(MAX_MAX_FRAME_SIZE)],
    ) {
        let mut buf = BytesMut::from(&data[..]);
        loop {
            let before = buf.len();
            let header = peek_header(&buf);
            match decode(&mut buf, max) {
                Ok(None) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
                Ok(Some(_)) => {
                    let h = header.unwrap();
                    prop_assert!(h.len <= max);
                    prop_assert_eq!(before - buf.len(), HEADER_LEN + h.len as usize);
                }
                Err(FrameError::Stream { stream, .. }) => {
                    let h = header.unwrap();
                    prop_assert_eq!(stream, h.stream);
                    prop_assert!(stream != 0);
                    prop_assert_eq!(before - buf.len(), HEADER_LEN + h.len as usize);
                }
                Err(FrameError::Connection { .. }) => break,
            }
        }
    }

    /// Arbitrary frame headers over arbitrary payloads of the stated length:
    /// reaches every decoder branch far more often than raw bytes do.
    #[test]
    fn arbitrary_frames_never_panic(
        kind in 0u8..12,
        flags in any::<u8>(),
        stream in prop_oneof![Just(0u32), Just(1), any::<u32>()],
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = BytesMut::new();
        encode_header(FrameHeader { len: payload.len() as u32, kind, flags, stream: stream & MAX_STREAM }, &mut buf);
        buf.extend_from_slice(&payload);
        match decode(&mut buf, DEFAULT_MAX_FRAME_SIZE) {
            Ok(Some(f)) => {
                prop_assert!(buf.is_empty());
                prop_assert_eq!(f.kind(), kind);
                prop_assert_eq!(f.stream(), stream & MAX_STREAM);
            }
            Ok(None) => prop_assert!(false, "whole frame not decoded"),
            Err(e) => {
                prop_assert!(e.code() != ErrorCode::NO_ERROR);
                if !e.is_connection_error() {
                    prop_assert!(buf.is_empty());
                }
            }
        }
    }
}

#[test]
fn unknown_type_between_frames_is_skipped() {
    let mut wire = BytesMut::new();
    encode(
        &Frame::Ping {
            ack: false,
            payload: [1; 8],
        },
        &mut wire,
    );
    encode_header(
        FrameHeader {
            len: 5,
            kind: 0x0b,
            flags: 0xff,
            stream: 3,
        },
        &mut wire,
    );
    wire.extend_from_slice(b"12345");
    encode(
        &Frame::WindowUpdate {
            stream: 0,
            increment: 9,
        },
        &mut wire,
    );
    let frames = feed(&wire, &[3], DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(
        frames,
        vec![
            Frame::Ping {
                ack: false,
                payload: [1; 8]
            },
            Frame::Unknown {
                kind: 0x0b,
                flags: 0xff,
                stream: 3,
                len: 5
            },
            Frame::WindowUpdate {
                stream: 0,
                increment: 9
            },
        ]
    );
}

#[test]
fn oversized_frame_reported_before_payload_arrives() {
    let mut buf = BytesMut::new();
    encode_header(
        FrameHeader {
            len: MAX_MAX_FRAME_SIZE,
            kind: kind::HEADERS,
            flags: 0,
            stream: 1,
        },
        &mut buf,
    );
    // Only part of the header: not yet.
    let mut part = BytesMut::from(&buf[..HEADER_LEN - 1]);
    assert_eq!(decode(&mut part, DEFAULT_MAX_FRAME_SIZE), Ok(None));
    // The header alone is enough.
    let e = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert!(e.is_connection_error());
    assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
    assert_eq!(e.stream(), None);
    // Also for unknown types: the limit applies to every frame.
    let mut buf = BytesMut::new();
    encode_header(
        FrameHeader {
            len: DEFAULT_MAX_FRAME_SIZE + 1,
            kind: 0x42,
            flags: 0,
            stream: 0,
        },
        &mut buf,
    );
    assert_eq!(
        decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err().code(),
        ErrorCode::FRAME_SIZE_ERROR
    );
}

#[test]
fn large_frames_round_trip_under_a_raised_limit() {
    let f = Frame::Data {
        stream: 1,
        data: Bytes::from(vec![7u8; 100_000]),
        end_stream: false,
        flow_len: 100_000,
    };
    let mut wire = encoded(&f);
    let mut copy = wire.clone();
    assert_eq!(
        decode(&mut copy, DEFAULT_MAX_FRAME_SIZE)
            .unwrap_err()
            .code(),
        ErrorCode::FRAME_SIZE_ERROR
    );
    assert_eq!(decode(&mut wire, 100_000), Ok(Some(f)));
}

#[test]
fn data_flow_len_ignored_by_encode() {
    let f = Frame::Data {
        stream: 1,
        data: Bytes::from_static(b"abc"),
        end_stream: false,
        flow_len: 999,
    };
    let mut wire = encoded(&f);
    assert_eq!(wire.len(), HEADER_LEN + 3);
    assert_eq!(
        decode(&mut wire, DEFAULT_MAX_FRAME_SIZE),
        Ok(Some(Frame::Data {
            stream: 1,
            data: Bytes::from_static(b"abc"),
            end_stream: false,
            flow_len: 3
        }))
    );
}

#[test]
fn preface_is_not_a_frame() {
    // The preface read as a frame header has a huge length: a server that
    // forgot to strip it fails loudly rather than waiting.
    assert_eq!(PREFACE.len(), 24);
    let mut buf = BytesMut::from(&PREFACE[..]);
    let e = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
}
