//! Hostile peers: random frame sequences (valid frames in random order,
//! random stream ids and payloads) and random bytes, fed to connections
//! in both roles after a valid opening. The state machine never panics,
//! and a connection error always leaves it closed with GOAWAY queued.

use bytes::{Bytes, BytesMut};
use gwd_mux_h2::conn::{Config, Connection, Role};
use gwd_mux_h2::frame::{self, ErrorCode, Frame, PREFACE, Priority, Settings};
use proptest::prelude::*;

fn opened(role: Role) -> Connection {
    // Both roles expecting the preface: a plain server, or the accepting
    // end of a reverse-HTTP tunnel.
    let cfg = match role {
        Role::Server => Config::new(Role::Server),
        Role::Client => Config::reverse_acceptor(),
    };
    let mut c = Connection::new(cfg);
    let mut raw = BytesMut::from(&PREFACE[..]);
    frame::encode(
        &Frame::Settings {
            ack: false,
            settings: Settings::default(),
        },
        &mut raw,
    );
    c.recv(&mut raw).unwrap();
    c
}

fn stream_id() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..8, any::<u32>().prop_map(|x| x & 0x7fff_ffff)]
}

fn payload() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

/// A plausible HPACK block: a few indexed static fields, or random bytes.
fn block() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::from_static(&[0x82, 0x87, 0x84, 0x41, 0x01, b'a'])),
        Just(Bytes::from_static(&[0x88])),
        payload(),
    ]
}

fn any_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (stream_id(), payload(), any::<bool>()).prop_map(|(stream, data, end_stream)| {
            let flow_len = data.len() as u32;
            Frame::Data {
                stream: stream.max(1),
                data,
                end_stream,
                flow_len,
            }
        }),
        (stream_id(), block(), any::<bool>(), any::<bool>()).prop_map(
            |(stream, block, end_stream, end_headers)| Frame::Headers {
                stream: stream.max(1),
                block,
                end_stream,
                end_headers,
                priority: None,
            }
        ),
        (stream_id(), 0u32..8).prop_map(|(stream, dep)| Frame::Priority {
            stream: stream.max(1),
            priority: Priority {
                dependency: if dep == stream.max(1) { 0 } else { dep },
                exclusive: false,
                weight: 15,
            },
        }),
        (stream_id(), any::<u32>()).prop_map(|(stream, c)| Frame::RstStream {
            stream: stream.max(1),
            code: ErrorCode(c),
        }),
        (any::<bool>(), 0u32..(1 << 20), 16384u32..32768).prop_map(|(ack, w, f)| {
            Frame::Settings {
                ack,
                settings: if ack {
                    Settings::default()
                } else {
                    Settings {
                        initial_window_size: Some(w),
                        max_frame_size: Some(f),
                        max_concurrent_streams: Some(w % 7),
                        header_table_size: Some(w % 5000),
                        ..Settings::default()
                    }
                },
            }
        }),
        (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, payload)| Frame::Ping { ack, payload }),
        (stream_id(), any::<u32>()).prop_map(|(last_stream, c)| Frame::GoAway {
            last_stream,
            code: ErrorCode(c % 16),
            debug: Bytes::new(),
        }),
        (stream_id(), 1u32..(1 << 31))
            .prop_map(|(stream, increment)| Frame::WindowUpdate { stream, increment }),
        (stream_id(), block(), any::<bool>()).prop_map(|(stream, block, end_headers)| {
            Frame::Continuation {
                stream: stream.max(1),
                block,
                end_headers,
            }
        }),
    ]
}

fn check(mut c: Connection, raw: &mut BytesMut) {
    match c.recv(raw) {
        Ok(()) => {
            while c.poll_event().is_some() {}
            // Whatever was queued decodes as frames.
            let mut out = c.take_output();
            while let Some(_f) = frame::decode(&mut out, frame::MAX_MAX_FRAME_SIZE).unwrap() {}
        }
        Err(e) => {
            assert!(c.is_closed(), "{e} but still open");
            let mut out = c.take_output();
            let mut saw_goaway = false;
            while let Some(f) = frame::decode(&mut out, frame::MAX_MAX_FRAME_SIZE).unwrap() {
                saw_goaway |= matches!(f, Frame::GoAway { code, .. } if code == e.code());
            }
            assert!(saw_goaway, "{e} without GOAWAY");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_frames_never_panic(frames in proptest::collection::vec(any_frame(), 1..24), server in any::<bool>()) {
        let mut raw = BytesMut::new();
        for f in &frames {
            frame::encode(f, &mut raw);
        }
        let role = if server { Role::Server } else { Role::Client };
        check(opened(role), &mut raw);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), server in any::<bool>()) {
        let mut raw = BytesMut::from(&bytes[..]);
        let role = if server { Role::Server } else { Role::Client };
        let mut c = opened(role);
        if c.recv(&mut raw).is_err() {
            prop_assert!(c.is_closed());
        }
    }
}
