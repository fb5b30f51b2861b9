//! Protocol cost of the HTTP/2 state machine, both ends in memory (no I/O):
//! one GET exchange on a reversed tunnel pair, and a 64 KiB body.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gwd_mux_h2::conn::{Config, Connection, Event};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

fn pump(a: &mut Connection, b: &mut Connection) {
    loop {
        let (mut ab, mut ba) = (a.take_output(), b.take_output());
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        b.recv(&mut ab).unwrap();
        a.recv(&mut ba).unwrap();
    }
}

fn pair() -> (Connection, Connection) {
    let mut o = Config::reverse_dialer();
    o.connection_window = 4 << 20;
    o.settings.initial_window_size = Some(1 << 20);
    let mut g = Config::reverse_acceptor();
    g.connection_window = 4 << 20;
    g.settings.initial_window_size = Some(1 << 20);
    let (mut gw, mut or) = (Connection::new(g), Connection::new(o));
    pump(&mut or, &mut gw);
    while gw.poll_event().is_some() {}
    while or.poll_event().is_some() {}
    (gw, or)
}

fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
        ),
        ("accept", "text/html,application/xhtml+xml"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.5"),
        ("x-forwarded-for", "192.0.2.10"),
        ("cookie", "session=0123456789abcdef0123456789abcdef"),
    ] {
        h.insert(n, HeaderValue::from_static(v));
    }
    h
}

fn exchange(c: &mut Criterion) {
    let (mut gw, mut or) = pair();
    let uri: Uri = "https://app.example/index.html?q=1".parse().unwrap();
    let req_h = request_headers();
    let mut resp_h = HeaderMap::new();
    resp_h.insert("content-type", HeaderValue::from_static("text/html"));
    resp_h.insert("content-length", HeaderValue::from_static("1024"));
    let body = Bytes::from(vec![b'x'; 1024]);
    c.bench_function("mux_h2/get_exchange_1KiB", |b| {
        b.iter(|| {
            let id = gw.send_request(&Method::GET, &uri, &req_h, true).unwrap();
            pump(&mut gw, &mut or);
            while let Some(e) = or.poll_event() {
                black_box(e);
            }
            or.send_response(id, StatusCode::OK, &resp_h, false)
                .unwrap();
            or.send_data(id, body.clone(), true).unwrap();
            pump(&mut gw, &mut or);
            while let Some(e) = gw.poll_event() {
                if let Event::Data { stream, data, .. } = e {
                    gw.release(stream, data.len());
                }
            }
            pump(&mut gw, &mut or);
        })
    });

    let big = Bytes::from(vec![7u8; 64 * 1024]);
    let mut g = c.benchmark_group("mux_h2/body");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("64KiB_upload", |b| {
        b.iter(|| {
            let id = gw
                .send_request(&Method::POST, &uri, &HeaderMap::new(), false)
                .unwrap();
            let rest = gw.send_data(id, big.clone(), true).unwrap();
            assert!(rest.is_empty());
            pump(&mut gw, &mut or);
            while let Some(e) = or.poll_event() {
                if let Event::Data { stream, data, .. } = e {
                    or.release(stream, data.len());
                }
            }
            or.send_response(id, StatusCode::NO_CONTENT, &HeaderMap::new(), true)
                .unwrap();
            pump(&mut gw, &mut or);
            while let Some(e) = gw.poll_event() {
                black_box(e);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, exchange);
criterion_main!(benches);
