//! Parsing and writing a typical proxied request and response.

use criterion::{Criterion, criterion_group, criterion_main};
use gwd_h1::{Limits, OutFraming, parse_request, parse_response, write_request_head};
use gwd_head::Method;

// gwd runs on mimalloc: measure the heads' allocations on the same one.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUEST: &[u8] = b"GET /api/v1/items?page=2 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=0123456789abcdef\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 05 Dec 2026 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 1024\r\nConnection: keep-alive\r\nETag: \"abc\"\r\n\r\n";

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    // The floor: httparse alone, nothing copied or checked.
    c.bench_function("httparse alone (8 fields)", |b| {
        b.iter(|| {
            let mut h = [httparse::EMPTY_HEADER; 16];
            let mut r = httparse::Request::new(&mut h);
            std::hint::black_box(r.parse(std::hint::black_box(REQUEST)).unwrap());
        })
    });
    c.bench_function("parse request (8 fields)", |b| {
        b.iter(|| {
            parse_request(std::hint::black_box(REQUEST), &limits)
                .unwrap()
                .unwrap()
        })
    });
    c.bench_function("parse response (6 fields)", |b| {
        b.iter(|| {
            parse_response(std::hint::black_box(RESPONSE), &Method::GET, &limits)
                .unwrap()
                .unwrap()
        })
    });
    let req = parse_request(REQUEST, &limits).unwrap().unwrap();
    let mut out = Vec::with_capacity(1024);
    c.bench_function("write request (8 fields)", |b| {
        b.iter(|| {
            out.clear();
            write_request_head(
                &mut out,
                &req.head.method,
                req.head.path_and_query(),
                req.head.version,
                &req.head.fields,
                OutFraming::AsIs,
            );
            std::hint::black_box(out.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
