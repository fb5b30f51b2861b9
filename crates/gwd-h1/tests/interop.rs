//! gwd-h1 against hyper in memory, both roles: what hyper writes, gwd-h1
//! reads; what gwd-h1 writes, hyper reads. Bodies by length and chunked,
//! with trailers, over a duplex pipe in small pieces.

use bytes::Bytes;
use gwd_h1::{
    BodyDecoder, BodyKind, CHUNK_END, ChunkHeader, Limits, OutFraming, Step, parse_request,
    parse_response, write_last_chunk, write_request_head, write_response_head,
};
use gwd_head::{Fields, Method, StatusCode, Version};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Reads one message body framed as `kind` from `io`, starting with the
/// bytes already in `buf`; returns the data and trailers.
async fn read_body(
    io: &mut DuplexStream,
    buf: &mut Vec<u8>,
    kind: BodyKind,
) -> (Vec<u8>, Option<Fields>) {
    let mut d = BodyDecoder::new(kind, Limits::default());
    let mut data = Vec::new();
    loop {
        match d.decode(buf).unwrap() {
            Step::Skip(n) => {
                buf.drain(..n);
            }
            Step::Data(n) => data.extend(buf.drain(..n)),
            Step::End { consumed, trailers } => {
                buf.drain(..consumed);
                return (data, trailers);
            }
            Step::NeedMore => {
                let mut chunk = [0u8; 7];
                let n = io.read(&mut chunk).await.unwrap();
                if n == 0 {
                    d.eof().unwrap();
                    return (data, None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

async fn read_until<T>(
    io: &mut DuplexStream,
    buf: &mut Vec<u8>,
    mut parse: impl FnMut(&[u8]) -> Option<T>,
) -> T {
    loop {
        if let Some(t) = parse(buf) {
            return t;
        }
        let mut chunk = [0u8; 5];
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a complete head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn chunked(parts: &[&[u8]], trailers: Option<&Fields>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(ChunkHeader::new(p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(CHUNK_END);
    }
    write_last_chunk(&mut out, trailers);
    out
}

#[tokio::test]
async fn hyper_client_to_gwd_h1_server() {
    let (client_io, mut server_io) = tokio::io::duplex(64);
    let (mut tx, conn) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
    >(TokioIo::new(client_io))
    .await
    .unwrap();
    tokio::spawn(conn);

    let server = tokio::spawn(async move {
        let mut buf = Vec::new();
        // 1: a fixed-length POST, answered by length.
        let req = read_until(&mut server_io, &mut buf, |b| {
            parse_request(b, &Limits::default())
                .unwrap()
                .map(|r| (r.head_len, r))
        })
        .await;
        buf.drain(..req.0);
        let req = req.1;
        assert_eq!(req.head.method, Method::POST);
        assert_eq!(req.head.fields.get("x-case"), Some(&b"Kept"[..]));
        let (data, _) = read_body(&mut server_io, &mut buf, req.body).await;
        assert_eq!(data, b"hello world");
        let mut out = Vec::new();
        let mut f = Fields::new();
        f.append(b"Content-Length", b"2");
        f.append(b"X-Reply", b"1");
        write_response_head(
            &mut out,
            Version::HTTP_11,
            StatusCode::CREATED,
            None,
            &f,
            OutFraming::AsIs,
        );
        out.extend_from_slice(b"ok");
        server_io.write_all(&out).await.unwrap();

        // 2: a streamed (chunked) POST with a trailer, answered chunked.
        let req = read_until(&mut server_io, &mut buf, |b| {
            parse_request(b, &Limits::default())
                .unwrap()
                .map(|r| (r.head_len, r))
        })
        .await;
        buf.drain(..req.0);
        assert_eq!(req.1.body, BodyKind::Chunked);
        let (data, trailers) = read_body(&mut server_io, &mut buf, req.1.body).await;
        assert_eq!(data, b"part one, part two");
        assert_eq!(trailers.unwrap().get("x-checksum"), Some(&b"abc"[..]));
        let mut out = Vec::new();
        write_response_head(
            &mut out,
            Version::HTTP_11,
            StatusCode::OK,
            Some("Fine"),
            &Fields::new(),
            OutFraming::Chunked { codings: None },
        );
        let mut t = Fields::new();
        t.append(b"X-Done", b"yes");
        out.extend_from_slice(&chunked(&[b"streamed ", b"answer"], Some(&t)));
        server_io.write_all(&out).await.unwrap();
    });

    let req = http::Request::post("/up")
        .header("host", "a")
        .header("X-Case", "Kept")
        .body(Full::new(Bytes::from_static(b"hello world")).boxed())
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-reply"], "1");
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok");

    let frames = vec![
        Ok(Frame::data(Bytes::from_static(b"part one, "))),
        Ok(Frame::data(Bytes::from_static(b"part two"))),
        Ok(Frame::trailers({
            let mut h = http::HeaderMap::new();
            h.insert("x-checksum", "abc".parse().unwrap());
            h
        })),
    ];
    let req = http::Request::post("/stream")
        .header("host", "a")
        // hyper writes only the trailer fields declared here.
        .header("trailer", "x-checksum")
        .body(StreamBody::new(futures_util::stream::iter(frames)).boxed())
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let collected = resp.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-done"], "yes");
    assert_eq!(collected.to_bytes(), "streamed answer");
    server.await.unwrap();
}

#[tokio::test]
async fn gwd_h1_client_to_hyper_server() {
    use hyper::service::service_fn;
    let (mut client_io, server_io) = tokio::io::duplex(64);
    tokio::spawn(async move {
        let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
            let method = req.method().clone();
            let case_kept = req.headers().contains_key("x-case");
            let body = req.into_body().collect().await.unwrap();
            let trailer = body
                .trailers()
                .and_then(|t| t.get("x-sum"))
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = format!("{method} {} {case_kept} {trailer}", body.to_bytes().len());
            let resp = if method == http::Method::PUT {
                // Streamed: hyper sends it chunked.
                let frames = vec![
                    Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(text))),
                    Ok(Frame::data(Bytes::from_static(b" +more"))),
                ];
                http::Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed())
            } else {
                http::Response::new(Full::new(Bytes::from(text)).boxed())
            };
            Ok::<_, std::convert::Infallible>(resp)
        });
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), svc)
            .await
            .unwrap();
    });

    let mut buf = Vec::new();
    // A chunked request with a trailer and codings kept in order.
    let mut f = Fields::new();
    f.append(b"Host", b"srv");
    f.append(b"X-Case", b"Kept");
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        &Method::POST,
        "/a",
        Version::HTTP_11,
        &f,
        OutFraming::Chunked { codings: None },
    );
    let mut t = Fields::new();
    t.append(b"X-Sum", b"7");
    out.extend_from_slice(&chunked(&[b"abc", b"defg"], Some(&t)));
    client_io.write_all(&out).await.unwrap();
    let resp = read_until(&mut client_io, &mut buf, |b| {
        parse_response(b, &Method::POST, &Limits::default())
            .unwrap()
            .map(|r| (r.head_len, r))
    })
    .await;
    buf.drain(..resp.0);
    assert_eq!(resp.1.head.status, 200);
    assert!(resp.1.keep_alive);
    let (data, _) = read_body(&mut client_io, &mut buf, resp.1.body).await;
    assert_eq!(data, b"POST 7 true 7");

    // A PUT by length; the answer comes chunked.
    let mut f = Fields::new();
    f.append(b"Host", b"srv");
    f.append(b"Content-Length", b"5");
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        &Method::PUT,
        "/b",
        Version::HTTP_11,
        &f,
        OutFraming::AsIs,
    );
    out.extend_from_slice(b"12345");
    client_io.write_all(&out).await.unwrap();
    let resp = read_until(&mut client_io, &mut buf, |b| {
        parse_response(b, &Method::PUT, &Limits::default())
            .unwrap()
            .map(|r| (r.head_len, r))
    })
    .await;
    buf.drain(..resp.0);
    assert_eq!(resp.1.body, BodyKind::Chunked);
    let (data, _) = read_body(&mut client_io, &mut buf, resp.1.body).await;
    assert_eq!(data, b"PUT 5 false  +more");

    // HEAD: the answer announces a length but has no body.
    let mut out = Vec::new();
    let mut f = Fields::new();
    f.append(b"Host", b"srv");
    write_request_head(
        &mut out,
        &Method::HEAD,
        "/c",
        Version::HTTP_11,
        &f,
        OutFraming::AsIs,
    );
    client_io.write_all(&out).await.unwrap();
    let resp = read_until(&mut client_io, &mut buf, |b| {
        parse_response(b, &Method::HEAD, &Limits::default())
            .unwrap()
            .map(|r| (r.head_len, r))
    })
    .await;
    buf.drain(..resp.0);
    assert_eq!(resp.1.body, BodyKind::None);
    assert!(buf.is_empty());
}
