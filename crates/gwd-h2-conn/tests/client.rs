//! The client API against a scripted server (refusals, resets, closes)
//! and against this crate's own server role (flow control, stream limit).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gwd_h2_conn::{
    Client, ClientOptions, IncomingBody, IncomingRequest, Mux, NoObserver, RequestError,
    SendFailed, handshake,
};
use gwd_h2_test_support::{Frame, Peer, hpack, kind};
use gwd_head::{Fields, Method, RequestHead, StatusCode, Uri, Version};
use gwd_mux_h2::conn::{Config, Connection, Role};
use gwd_mux_h2::frame::{ErrorCode, Settings};
use http_body_util::Full;
use tokio::io::DuplexStream;

fn get(path: &'static str) -> RequestHead {
    RequestHead {
        method: Method::GET,
        uri: Uri::from_static(path),
        version: Version::HTTP_2,
        fields: Fields::new(),
    }
}

/// A client whose server is a script: preface and SETTINGS checked,
/// empty SETTINGS sent back.
async fn scripted() -> (Client, Peer<DuplexStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let mut peer = Peer::new(b, Duration::from_secs(5));
    let hs = tokio::spawn(async move { handshake(a, &ClientOptions::default(), ()).await });
    peer.expect_preface().await.unwrap();
    let first = peer.read_frame().await.unwrap();
    assert_eq!(first.kind, kind::SETTINGS);
    peer.send(&Frame::settings(&[])).await.unwrap();
    let client = hs.await.unwrap().unwrap();
    (client, peer)
}

/// What a spawned [`Client::send_request`] gives.
type Sent = Result<(gwd_head::ResponseHead, IncomingBody), SendFailed<Full<Bytes>>>;

/// Sends a bodiless GET of `uri` on a task of its own.
fn spawn_get(client: &Client, uri: &'static str) -> tokio::task::JoinHandle<Sent> {
    let client = client.clone();
    tokio::spawn(async move { client.send_request::<Full<Bytes>>(get(uri), None).await })
}

/// Reads up to the request's HEADERS; returns its stream id.
async fn request_headers(peer: &mut Peer<DuplexStream>) -> u32 {
    let (f, _) = peer.read_until(|f| f.kind == kind::HEADERS).await.unwrap();
    f.stream_id
}

#[tokio::test]
async fn a_refused_bodiless_request_comes_back() {
    let (client, mut peer) = scripted().await;
    let sending = spawn_get(&client, "http://a.test/x");
    let id = request_headers(&mut peer).await;
    peer.send(&Frame::rst_stream(id, 0x7)).await.unwrap();
    let failed = sending.await.unwrap().unwrap_err();
    assert_eq!(failed.error, RequestError::Refused);
    assert!(failed.error.is_retryable());
    let back = failed.request.expect("handed back");
    assert_eq!(back.head.uri.path(), "/x");
    // The connection itself is still usable.
    assert!(!client.is_closed());
}

#[tokio::test]
async fn a_goaway_below_the_stream_refuses_it_and_closes_the_client() {
    let (client, mut peer) = scripted().await;
    let sending = spawn_get(&client, "http://a.test/");
    request_headers(&mut peer).await;
    peer.send(&Frame::goaway(0, 0, b"")).await.unwrap();
    let failed = sending.await.unwrap().unwrap_err();
    assert_eq!(failed.error, RequestError::Refused);
    assert!(failed.request.is_some());
    assert!(client.is_closed());
    // What comes next never leaves.
    let next = client
        .send_request::<Full<Bytes>>(get("http://a.test/"), None)
        .await
        .unwrap_err();
    assert!(matches!(next.error, RequestError::NotSent(_)));
    assert!(next.error.is_retryable());
    assert!(next.request.is_some());
}

#[tokio::test]
async fn a_reset_by_the_server_is_told_and_the_request_stays_gone() {
    let (client, mut peer) = scripted().await;
    let sending = spawn_get(&client, "http://a.test/");
    let id = request_headers(&mut peer).await;
    peer.send(&Frame::rst_stream(id, 0x2)).await.unwrap();
    let failed = sending.await.unwrap().unwrap_err();
    assert_eq!(failed.error, RequestError::Reset(ErrorCode::INTERNAL_ERROR));
    assert!(!failed.error.is_retryable());
    assert!(failed.request.is_none());
}

#[tokio::test]
async fn a_closed_connection_fails_the_request_in_flight() {
    let (client, mut peer) = scripted().await;
    let sending = spawn_get(&client, "http://a.test/");
    request_headers(&mut peer).await;
    drop(peer);
    let failed = sending.await.unwrap().unwrap_err();
    assert_eq!(failed.error, RequestError::ConnectionClosed);
    assert!(failed.request.is_none());
    tokio::time::timeout(Duration::from_secs(5), async {
        while !client.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_response_head_and_body_come_through() {
    let (client, mut peer) = scripted().await;
    let sending = tokio::spawn({
        let client = client.clone();
        async move {
            let (head, body) = client
                .send_request::<Full<Bytes>>(get("http://a.test/"), None)
                .await
                .unwrap();
            (head, body.collect_bytes(1024).await.unwrap())
        }
    });
    let id = request_headers(&mut peer).await;
    let block = hpack::encode_literal(&[(":status", "201"), ("x-a", "1")]);
    peer.send(&Frame::headers(id, block, false)).await.unwrap();
    peer.send(&Frame::data(id, &b"done"[..], true))
        .await
        .unwrap();
    let (head, body) = sending.await.unwrap();
    assert_eq!(head.status, StatusCode::CREATED);
    assert_eq!(head.fields.get("x-a"), Some(&b"1"[..]));
    assert_eq!(body, "done");
}

#[tokio::test]
async fn interim_heads_reach_a_relaying_caller_in_order_before_the_final_one() {
    let (client, mut peer) = scripted().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sending = tokio::spawn({
        let client = client.clone();
        async move {
            let mut relay = move |h: gwd_head::ResponseHead| {
                let link = h.fields.get("link").map(<[u8]>::to_vec);
                tx.send((h.status.as_u16(), link)).unwrap();
            };
            let (head, body) = client
                .send_request_relaying::<Full<Bytes>>(get("http://a.test/"), None, &mut relay)
                .await
                .unwrap();
            (head, body.collect_bytes(1024).await.unwrap())
        }
    });
    let id = request_headers(&mut peer).await;
    for (status, link) in [("103", "</a.css>"), ("102", ""), ("103", "</b.js>")] {
        let block = hpack::encode_literal(&[(":status", status), ("link", link)]);
        peer.send(&Frame::headers(id, block, false)).await.unwrap();
    }
    let block = hpack::encode_literal(&[(":status", "200")]);
    peer.send(&Frame::headers(id, block, false)).await.unwrap();
    peer.send(&Frame::data(id, &b"ok"[..], true)).await.unwrap();
    let (head, body) = sending.await.unwrap();
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(body, "ok");
    let mut got = Vec::new();
    while let Ok(h) = rx.try_recv() {
        got.push(h);
    }
    assert_eq!(
        got,
        [
            (103, Some(b"</a.css>".to_vec())),
            (102, Some(Vec::new())),
            (103, Some(b"</b.js>".to_vec())),
        ]
    );
}

/// A server that sent an interim head has processed the request: its
/// refusal afterwards (REFUSED_STREAM, or a GOAWAY below the stream) no
/// longer hands the request back to go elsewhere.
#[tokio::test]
async fn a_refusal_after_an_interim_head_is_not_retryable() {
    for goaway in [false, true] {
        let (client, mut peer) = scripted().await;
        let sending = spawn_get(&client, "http://a.test/x");
        let id = request_headers(&mut peer).await;
        let block = hpack::encode_literal(&[(":status", "103"), ("link", "</a>")]);
        peer.send(&Frame::headers(id, block, false)).await.unwrap();
        if goaway {
            peer.send(&Frame::goaway(0, 0, b"")).await.unwrap();
        } else {
            peer.send(&Frame::rst_stream(id, 0x7)).await.unwrap();
        }
        let failed = sending.await.unwrap().unwrap_err();
        assert!(
            !failed.error.is_retryable(),
            "goaway {goaway}: {:?}",
            failed.error
        );
        assert!(failed.request.is_none(), "goaway {goaway}: handed back");
    }
}

#[tokio::test]
async fn a_flood_of_interim_heads_is_cut_and_the_answer_still_comes() {
    let (client, mut peer) = scripted().await;
    // A caller that does not relay: nothing of the flood is kept for it
    // beyond the cap, and its answer comes as usual.
    let sending = spawn_get(&client, "http://a.test/");
    let id = request_headers(&mut peer).await;
    for _ in 0..1000 {
        let block = hpack::encode_literal(&[(":status", "103"), ("link", "</x>")]);
        peer.send(&Frame::headers(id, block, false)).await.unwrap();
    }
    let block = hpack::encode_literal(&[(":status", "204")]);
    peer.send(&Frame::headers(id, block, true)).await.unwrap();
    let (head, _) = sending.await.unwrap().unwrap();
    assert_eq!(head.status, StatusCode::NO_CONTENT);

    // A relaying caller whose server floods before it runs gets at most
    // the cap.
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stream = {
        let c = count.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let mut relay = move |_h: gwd_head::ResponseHead| {
                c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            };
            client
                .send_request_relaying::<Full<Bytes>>(get("http://a.test/2"), None, &mut relay)
                .await
                .map(|(h, _)| h.status)
                .map_err(|e| e.error)
        })
    };
    let id = request_headers(&mut peer).await;
    let mut flood = Vec::new();
    for _ in 0..100 {
        let block = hpack::encode_literal(&[(":status", "103"), ("link", "</y>")]);
        flood.extend_from_slice(&Frame::headers(id, block, false).encode());
    }
    let block = hpack::encode_literal(&[(":status", "200")]);
    flood.extend_from_slice(&Frame::headers(id, block, true).encode());
    peer.send_raw(&flood).await.unwrap();
    assert_eq!(stream.await.unwrap().unwrap(), StatusCode::OK);
    let relayed = count.load(std::sync::atomic::Ordering::Relaxed);
    // The flood arrives in one read, before the waiter runs again.
    assert!(
        (1..=gwd_h2_conn::MAX_INTERIM_WAITING).contains(&relayed),
        "relayed {relayed} interim heads"
    );
}

#[tokio::test]
async fn a_handshake_with_a_server_that_closes_fails() {
    let (a, b) = tokio::io::duplex(1 << 16);
    drop(b);
    let r = handshake(a, &ClientOptions::default(), ()).await;
    assert!(r.is_err());
}

/// A server on this crate's own server role that answers each request
/// with the size of its body; `max_streams` is its stream limit.
fn counting_server(io: DuplexStream, max_streams: u32) {
    let mut cfg = Config::new(Role::Server);
    cfg.settings = Settings {
        max_concurrent_streams: Some(max_streams),
        ..cfg.settings
    };
    let server = Mux::new(Connection::new(cfg), Arc::new(NoObserver));
    tokio::spawn(async move {
        server
            .clone()
            .drive(io, |req: IncomingRequest| {
                tokio::spawn(async move {
                    let body = IncomingBody::new(req.stream.clone());
                    let n = body.collect_bytes(16 << 20).await.map_or(0, |b| b.len());
                    // A slow answer, so that streams overlap.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = req
                        .stream
                        .send_response(StatusCode::OK, &Fields::new(), false);
                    let _ = req.stream.send_data(Bytes::from(n.to_string()), true).await;
                });
            })
            .await
    });
}

#[tokio::test]
async fn a_body_larger_than_the_windows_goes_through_flow_control() {
    let (a, b) = tokio::io::duplex(1 << 16);
    counting_server(b, 100);
    let client = handshake(a, &ClientOptions::default(), ()).await.unwrap();
    let mut head = get("http://a.test/up");
    head.method = Method::POST;
    // Well above the 65,535-byte default windows of the server.
    let body = Full::new(Bytes::from(vec![7u8; 1 << 20]));
    let (resp, body) = client.send_request(head, Some(body)).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(body.collect_bytes(64).await.unwrap(), "1048576");
}

#[tokio::test]
async fn requests_over_the_stream_limit_wait_for_a_free_stream() {
    let (a, b) = tokio::io::duplex(1 << 16);
    counting_server(b, 1);
    let client = handshake(a, &ClientOptions::default(), ()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (resp, body) = client
                .send_request::<Full<Bytes>>(get("http://a.test/"), None)
                .await
                .unwrap();
            assert!(client.open_streams() <= 1);
            (resp.status, body.collect_bytes(64).await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "0");
    }
}

#[tokio::test]
async fn dropping_the_last_client_closes_the_connection() {
    let (client, mut peer) = scripted().await;
    drop(client);
    let frames = peer.read_until_eof().await.unwrap();
    assert!(frames.iter().any(|f| f.kind == kind::GOAWAY), "{frames:?}");
}

#[tokio::test]
async fn waiters_that_give_up_do_not_hold_the_others_back() {
    let (a, b) = tokio::io::duplex(1 << 16);
    counting_server(b, 2);
    let client = handshake(a, &ClientOptions::default(), ()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (resp, body) = client
                .send_request::<Full<Bytes>>(get("http://a.test/"), None)
                .await
                .unwrap();
            (resp.status, body.collect_bytes(64).await.unwrap())
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Some waiting requests go away (a visitor left).
    for t in tasks.iter().skip(10).step_by(2) {
        t.abort();
    }
    let all = async {
        for t in tasks {
            if let Ok((status, body)) = t.await {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body, "0");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all)
        .await
        .expect("every remaining request is answered");
}

/// The server role's interim handle: `1xx` heads go out as non-final
/// HEADERS before the answer; anything else is refused, and once the
/// stream is over nothing more goes out.
#[tokio::test]
async fn a_servers_interim_handle_sends_1xx_before_the_answer_and_nothing_after() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = Mux::new(
        Connection::new(Config::new(Role::Server)),
        Arc::new(NoObserver),
    );
    let (late_tx, late_rx) = tokio::sync::oneshot::channel();
    let mut late_tx = Some(late_tx);
    tokio::spawn(async move {
        server
            .clone()
            .drive(b, move |req: IncomingRequest| {
                let handle = req.stream.interim_handle();
                let mut hint = Fields::new();
                hint.append(b"link", b"</a.css>");
                handle.send(StatusCode::EARLY_HINTS, &hint).unwrap();
                handle.send(StatusCode::PROCESSING, &Fields::new()).unwrap();
                assert!(handle.send(StatusCode::OK, &Fields::new()).is_err());
                assert!(
                    handle
                        .send(StatusCode::SWITCHING_PROTOCOLS, &Fields::new())
                        .is_err()
                );
                let late = late_tx.take();
                tokio::spawn(async move {
                    let _ = req
                        .stream
                        .send_response(StatusCode::OK, &Fields::new(), true);
                    drop(req);
                    // The stream is over: a late hint does not go out.
                    tokio::task::yield_now().await;
                    let sent = handle.send(StatusCode::EARLY_HINTS, &Fields::new());
                    if let Some(tx) = late {
                        let _ = tx.send(sent.is_err());
                    }
                });
            })
            .await
    });
    let client = handshake(a, &ClientOptions::default(), ()).await.unwrap();
    let mut seen = Vec::new();
    let (head, _) = client
        .send_request_relaying::<Full<Bytes>>(get("http://a.test/"), None, &mut |h| {
            seen.push(h.status.as_u16())
        })
        .await
        .unwrap();
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(seen, [103, 102]);
    assert!(late_rx.await.unwrap(), "a hint after the answer was sent");
}

/// A request given up before its answer (the caller's future dropped: a
/// `timeout server`, a visitor gone) stops its stream with CANCEL even
/// while its body waits for window the server never gives: the stream
/// used to stay open for good, holding a slot of the server's limit.
#[tokio::test]
async fn a_request_given_up_while_its_body_waits_for_window_is_cancelled() {
    let (client, mut peer) = scripted().await;
    let mut head = get("http://a.test/up");
    head.method = Method::POST;
    // Above the server's 65,535-byte window, which it never opens.
    let body = Full::new(Bytes::from(vec![7u8; 1 << 17]));
    let sending = {
        let client = client.clone();
        tokio::spawn(async move { client.send_request(head, Some(body)).await.is_ok() })
    };
    let id = request_headers(&mut peer).await;
    // The window's worth of DATA arrives, then nothing more can.
    let mut got = 0;
    while got < 65_535 {
        let f = peer.read_frame().await.unwrap();
        if f.kind == kind::DATA {
            got += f.payload.len();
        }
    }
    assert_eq!(client.open_streams(), 1);
    sending.abort();
    let (f, _) = peer
        .read_until(|f| f.kind == kind::RST_STREAM)
        .await
        .expect("the stream is reset");
    assert_eq!(f.stream_id, id);
    let code = u32::from_be_bytes(f.payload[..4].try_into().unwrap());
    assert_eq!(code, ErrorCode::CANCEL.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client.open_streams() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream stays open"
        );
        tokio::task::yield_now().await;
    }
}

/// A body of `pieces` DATA pieces of 16 KiB, all ready at once (a server
/// answer read faster than the window lets it out).
struct Pieces(usize, u8);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(None);
        }
        self.0 -= 1;
        let piece = Bytes::from(vec![self.1; 16 * 1024]);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(piece))))
    }
}

/// Streams waiting on the connection's window share it in turn: each
/// opening of the window goes first to the stream that has waited
/// longest, and a stream lets the others woken with it send a piece
/// before it sends another. (They used to be woken in the stream map's
/// order, and the first took all it could: the same stream, opening after
/// opening.)
#[tokio::test]
async fn streams_waiting_for_the_connection_window_take_turns() {
    let (client, mut peer) = scripted().await;
    // Stream windows far above the connection's 65,535 bytes.
    peer.send(&Frame::settings(&[(0x4, 1 << 20)]))
        .await
        .unwrap();
    let mut uploads = Vec::new();
    for n in 0..4u8 {
        let client = client.clone();
        let mut head = get("http://a.test/up");
        head.method = Method::POST;
        uploads.push(tokio::spawn(async move {
            let _ = client.send_request(head, Some(Pieces(8, n))).await;
        }));
    }
    // One byte more makes the window 4 pieces exactly; it then opens by
    // 4 pieces each time it is used up. The DATA frames' streams, in order:
    peer.send(&Frame::window_update(0, 1)).await.unwrap();
    let mut order = Vec::new();
    let mut window = 65_536usize;
    while order.len() < 4 * 8 {
        let f = peer.read_frame().await.unwrap();
        if f.kind != kind::DATA || f.payload.is_empty() {
            continue;
        }
        assert_eq!(f.payload.len(), 16 * 1024, "{order:?}");
        window -= f.payload.len();
        order.push(f.stream_id);
        if window == 0 {
            peer.send(&Frame::window_update(0, 64 * 1024))
                .await
                .unwrap();
            window = 64 * 1024;
        }
    }
    // The first window goes to one stream (nobody waited yet). Each of the
    // next four goes to the four streams, a piece each, until the first
    // stream is done.
    for run in order[4..20].chunks(4) {
        let mut ids = run.to_vec();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4, "not in turn: {order:?}");
    }
    for u in uploads {
        u.abort();
    }
}
