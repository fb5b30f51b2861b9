//! Wire compatibility with the `h2` crate (which gwd's other HTTP/2 paths
//! and HAProxy interop already rely on), both roles, over an in-memory
//! byte stream: HPACK with `h2`'s dynamic-table indexing and Huffman
//! strings, flow control on bodies larger than every window, trailers,
//! PING, GOAWAY. The state machine is driven by a minimal loop here; the
//! library itself has no runtime.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gwd_mux_h2::conn::{Config, Connection, Event, Role};
use gwd_mux_h2::frame::ErrorCode;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const BODY: usize = 300_000;

fn body(seed: u8) -> Bytes {
    (0..BODY)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Writes pending output, then waits for bytes (or `tick`) and feeds them.
async fn step(conn: &mut Connection, io: &mut DuplexStream, pending: &mut BytesMut) -> bool {
    let out = conn.take_output();
    if !out.is_empty() {
        // A peer that closed after its GOAWAY may still have bytes for us
        // to read: a failed write is not the end.
        let _ = io.write_all(&out).await;
    }
    let mut buf = [0u8; 8192];
    match tokio::time::timeout(Duration::from_millis(20), io.read(&mut buf)).await {
        Err(_) => true,
        Ok(Ok(0)) | Ok(Err(_)) => false,
        Ok(Ok(n)) => {
            pending.extend_from_slice(&buf[..n]);
            conn.recv(pending).expect("h2's bytes are valid HTTP/2");
            true
        }
    }
}

/// Our server: echoes each request body back with a response header that
/// names the request's `x-req` field, then trailers.
async fn serve(mut conn: Connection, mut io: DuplexStream) {
    let mut pending = BytesMut::new();
    let mut bodies: std::collections::HashMap<u32, (String, Vec<u8>)> = Default::default();
    let mut sending: Vec<(u32, Bytes)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if !step(&mut conn, &mut io, &mut pending).await {
            return;
        }
        while let Some(e) = conn.poll_event() {
            match e {
                Event::Request { stream, head, .. } => {
                    let tag =
                        String::from_utf8(head.fields.get("x-req").unwrap().to_vec()).unwrap();
                    bodies.insert(stream, (tag, Vec::new()));
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    conn.release(stream, data.len());
                    let b = bodies.get_mut(&stream).unwrap();
                    b.1.extend_from_slice(&data);
                    if end_stream {
                        let (tag, all) = bodies.remove(&stream).unwrap();
                        let mut h = HeaderMap::new();
                        h.insert("x-echo-of", HeaderValue::from_str(&tag).unwrap());
                        conn.send_response(stream, StatusCode::OK, &h, false)
                            .unwrap();
                        sending.push((stream, Bytes::from(all)));
                    }
                }
                _ => {}
            }
        }
        let mut still = Vec::new();
        for (stream, data) in sending.drain(..) {
            let rest = conn.send_data(stream, data, false).unwrap();
            if rest.is_empty() {
                let mut t = HeaderMap::new();
                t.insert("x-trailer", HeaderValue::from_static("done"));
                conn.send_trailers(stream, &t).unwrap();
            } else {
                still.push((stream, rest));
            }
        }
        sending = still;
    }
    panic!("server loop ran out of time");
}

#[tokio::test]
async fn h2_client_against_our_server() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve(Connection::new(Config::new(Role::Server)), b));
    let (client, conn) = h2::client::handshake(a).await.unwrap();
    let conn_task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut tasks = Vec::new();
    for i in 0..3u8 {
        let mut client = client.clone().ready().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let req = Request::post(format!("https://app.example/echo/{i}"))
                // Long, repeated values: h2 indexes them and Huffman-codes.
                .header("x-req", format!("request-{i}-{}", "abc".repeat(40)))
                .header("user-agent", "h2-interop-test")
                .body(())
                .unwrap();
            let (resp, mut send) = client.send_request(req, false).unwrap();
            let data = body(i);
            send.reserve_capacity(data.len());
            let mut off = 0;
            while off < data.len() {
                let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
                    .await
                    .unwrap()
                    .unwrap();
                let n = cap.min(data.len() - off);
                send.send_data(data.slice(off..off + n), off + n == data.len())
                    .unwrap();
                off += n;
            }
            let resp = resp.await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(
                resp.headers()["x-echo-of"],
                format!("request-{i}-{}", "abc".repeat(40)).as_str()
            );
            let mut rb = resp.into_body();
            let mut got = Vec::new();
            while let Some(chunk) = rb.data().await {
                let chunk = chunk.unwrap();
                rb.flow_control().release_capacity(chunk.len()).unwrap();
                got.extend_from_slice(&chunk);
            }
            assert_eq!(got, data, "echoed body of request {i}");
            let trailers = rb.trailers().await.unwrap().unwrap();
            assert_eq!(trailers["x-trailer"], "done");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(client);
    conn_task.await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn our_client_against_h2_server() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let h2_server = tokio::spawn(async move {
        let mut conn = h2::server::handshake(b).await.unwrap();
        let mut handlers = Vec::new();
        // The connection must keep being polled (accept) while handlers
        // run, or h2 makes no I/O progress.
        while let Some(r) = conn.accept().await {
            let (req, mut respond) = r.unwrap();
            handlers.push(tokio::spawn(async move {
                let tag = req.headers()["x-req"].clone();
                let mut body = req.into_body();
                let mut got = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.unwrap();
                    body.flow_control().release_capacity(chunk.len()).unwrap();
                    got.extend_from_slice(&chunk);
                }
                let resp = Response::builder()
                    .status(201)
                    .header("x-echo-of", tag)
                    .body(())
                    .unwrap();
                let mut send = respond.send_response(resp, false).unwrap();
                let data = Bytes::from(got);
                send.reserve_capacity(data.len());
                let mut off = 0;
                while off < data.len() {
                    let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
                        .await
                        .unwrap()
                        .unwrap();
                    let n = cap.min(data.len() - off);
                    send.send_data(data.slice(off..off + n), off + n == data.len())
                        .unwrap();
                    off += n;
                }
            }));
            if handlers.len() == 2 {
                conn.graceful_shutdown();
            }
        }
        let served = handlers.len();
        for h in handlers {
            h.await.unwrap();
        }
        served
    });

    let mut conn = Connection::new(Config::new(Role::Client));
    let mut io = a;
    let mut pending = BytesMut::new();
    while !conn.can_open() {
        assert!(step(&mut conn, &mut io, &mut pending).await);
    }
    let mut streams = Vec::new();
    let mut to_send: Vec<(u32, Bytes)> = Vec::new();
    for i in 0..2u8 {
        let mut h = HeaderMap::new();
        h.insert(
            "x-req",
            HeaderValue::from_str(&format!("ours-{i}-{}", "xyz".repeat(30))).unwrap(),
        );
        let uri = "https://h2.example/up".parse().unwrap();
        let id = conn.send_request(&Method::PUT, &uri, &h, false).unwrap();
        streams.push(id);
        to_send.push((id, body(100 + i)));
    }
    conn.send_ping(*b"interop!").unwrap();
    let mut got: std::collections::HashMap<u32, Vec<u8>> = Default::default();
    let (mut done, mut pinged, mut goaway) = (0, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while done < 2 || !goaway {
        assert!(
            tokio::time::Instant::now() < deadline,
            "client loop timed out"
        );
        let mut still = Vec::new();
        for (id, data) in to_send.drain(..) {
            let rest = conn.send_data(id, data, true).unwrap();
            if !rest.is_empty() {
                still.push((id, rest));
            }
        }
        to_send = still;
        let open = step(&mut conn, &mut io, &mut pending).await;
        while let Some(e) = conn.poll_event() {
            match e {
                Event::Response { stream, head, .. } => {
                    assert_eq!(head.status, 201);
                    let i = streams.iter().position(|s| *s == stream).unwrap();
                    assert_eq!(
                        head.fields.get("x-echo-of").unwrap(),
                        format!("ours-{i}-{}", "xyz".repeat(30)).as_bytes()
                    );
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    conn.release(stream, data.len());
                    got.entry(stream).or_default().extend_from_slice(&data);
                    if end_stream {
                        done += 1;
                    }
                }
                Event::PingAck(p) => {
                    assert_eq!(&p, b"interop!");
                    pinged = true;
                }
                Event::GoAway(g) => {
                    assert_eq!(g.code, ErrorCode::NO_ERROR);
                    goaway = true;
                }
                Event::Reset { stream, code, .. } => panic!("stream {stream} reset: {code}"),
                _ => {}
            }
        }
        if !open {
            break;
        }
    }
    assert_eq!(done, 2, "both responses complete");
    assert!(goaway, "h2's graceful shutdown arrived as GOAWAY");
    assert!(pinged, "h2 answered our PING");
    for (i, id) in streams.iter().enumerate() {
        assert_eq!(got[id], body(100 + i as u8), "body of stream {id}");
    }
    assert!(conn.is_closed(), "GOAWAY received and every stream done");
    drop(io);
    assert_eq!(h2_server.await.unwrap(), 2);
}
