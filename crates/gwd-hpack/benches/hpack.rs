//! HPACK cost for a typical browser request (8 fields), encode and decode.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use gwd_hpack::{Decoder, Encoder, Field};

const FIELDS: [(&[u8], &[u8]); 8] = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"app.example"),
    (b":path", b"/index.html?q=1"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
    ),
    (b"accept", b"text/html,application/xhtml+xml"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"cookie", b"session=0123456789abcdef0123456789abcdef"),
];

fn hpack(c: &mut Criterion) {
    let fields = || FIELDS.iter().map(|(n, v)| Field::new(n, v));
    let mut enc = Encoder::new();
    c.bench_function("hpack/encode_request_8_fields", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            enc.encode(fields(), &mut out);
            black_box(out)
        })
    });
    let mut block = BytesMut::new();
    Encoder::new().encode(fields(), &mut block);
    let mut dec = Decoder::new(4096);
    c.bench_function("hpack/decode_request_8_fields", |b| {
        b.iter(|| {
            let mut n = 0usize;
            dec.decode(&block, 64 * 1024, &mut |f: Field<'_>| {
                n += f.name.len() + f.value.len();
            })
            .unwrap();
            black_box(n)
        })
    });
}

criterion_group!(benches, hpack);
criterion_main!(benches);
