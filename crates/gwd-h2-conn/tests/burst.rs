//! A burst of commands issued in one go (many requests read in one turn
//! of the event loop) reaches the peer in pieces while it forms, and in
//! order, whatever the transport takes at a time.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use gwd_h2_conn::{Mux, NoObserver, StreamRef};
use gwd_h2_test_support::{Frame, Peer, kind};
use gwd_head::{Fields, Method, Uri};
use gwd_mux_h2::conn::{Config, Connection, Role};
use tokio::io::{AsyncRead, DuplexStream, ReadBuf};

/// A client-role connection over a pipe of `capacity` bytes, established
/// with a scripted server, whose SETTINGS ACK has been read.
async fn established(capacity: usize) -> (Mux, Peer<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    let mux = Mux::new(
        Connection::new(Config::new(Role::Client)),
        Arc::new(NoObserver),
    );
    let driver = mux.clone();
    tokio::spawn(async move { driver.drive(a, |_| {}).await });
    let mut peer = Peer::new(b, Duration::from_secs(5));
    peer.expect_preface().await.unwrap();
    assert_eq!(peer.read_frame().await.unwrap().kind, kind::SETTINGS);
    peer.send(&Frame::settings(&[])).await.unwrap();
    mux.established().await.unwrap();
    peer.read_until(|f| f.is_settings_ack()).await.unwrap();
    (mux, peer)
}

fn open(mux: &Mux) -> StreamRef {
    mux.open(
        &Method::GET,
        &Uri::from_static("http://a.test/"),
        &Fields::new(),
        None,
        true,
    )
    .expect("the connection is open")
}

/// What the pipe holds now, read without yielding to the runtime (so
/// without letting the connection's driver run).
fn read_now(io: &mut DuplexStream, into: &mut Vec<u8>) {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        let mut buf = [0u8; 4096];
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut *io).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if !rb.filled().is_empty() => into.extend_from_slice(rb.filled()),
            _ => return,
        }
    }
}

/// The HEADERS frames' stream ids in `bytes` (whole frames only).
fn headers_ids(bytes: &[u8]) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut at = 0;
    while let Some((f, used)) = Frame::parse(&bytes[at..]) {
        if f.kind == kind::HEADERS {
            ids.push(f.stream_id);
        }
        at += used;
    }
    ids
}

/// Forty requests opened without a pause: the first ones are on the wire
/// before the driver runs (it used to write the whole burst once the
/// burst was over), and the rest follow when it does, in order.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_of_requests_leaves_in_pieces_while_it_forms() {
    let (mux, peer) = established(1 << 20).await;
    let mut io = peer.into_inner();
    let mut wire = Vec::new();
    let mut streams = Vec::new();
    let mut seen_at = Vec::new();
    // No await in this loop: the driver's task cannot run.
    for _ in 0..40 {
        streams.push(open(&mux));
        read_now(&mut io, &mut wire);
        seen_at.push(headers_ids(&wire).len());
    }
    let before_driver = headers_ids(&wire).len();
    assert!(
        before_driver >= 32,
        "only {before_driver} of 40 requests left before the driver ran: {seen_at:?}"
    );
    assert!(
        seen_at[0] == 0 && seen_at.windows(2).any(|w| w[1] > w[0] + 1),
        "written one by one, not in pieces: {seen_at:?}"
    );
    // The driver writes the rest.
    let mut peer = Peer::new(io, Duration::from_secs(5));
    let mut ids = headers_ids(&wire);
    while ids.len() < 40 {
        let f = peer.read_frame().await.unwrap();
        if f.kind == kind::HEADERS {
            ids.push(f.stream_id);
        }
    }
    let expected: Vec<u32> = (0..40).map(|n| 1 + 2 * n).collect();
    assert_eq!(ids, expected);
    drop(streams);
}

/// A transport that takes a few bytes at a time: what a handle could not
/// write is the driver's to finish, and nothing is lost, doubled or
/// reordered.
#[tokio::test(flavor = "current_thread")]
async fn a_transport_that_takes_little_leaves_the_rest_to_the_driver() {
    let (mux, mut peer) = established(64).await;
    let streams: Vec<StreamRef> = (0..100).map(|_| open(&mux)).collect();
    let mut ids = Vec::new();
    while ids.len() < 100 {
        let f = peer.read_frame().await.unwrap();
        assert!(
            f.kind == kind::HEADERS || f.kind == kind::WINDOW_UPDATE,
            "unexpected {f:?}"
        );
        if f.kind == kind::HEADERS {
            ids.push(f.stream_id);
        }
    }
    let expected: Vec<u32> = (0..100).map(|n| 1 + 2 * n).collect();
    assert_eq!(ids, expected);
    drop(streams);
}
