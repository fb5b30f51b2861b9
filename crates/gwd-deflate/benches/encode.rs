//! gzip of a 100 KB text page in 16 KiB chunks (as gwd's server reads
//! arrive), gwd-deflate against flate2 (zlib-rs) at level 1, the encoder
//! gwd used before. The page is what `ci/bench-compression.sh` serves:
//! the first 102,400 bytes of `docs/*.md`, twice over.
//!
//! `cargo bench -p gwd-deflate --bench encode -- --warm-up-time 1 --measurement-time 3`
//! (the compressed sizes are printed first).

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gwd_deflate::{Encoder, Format};

const PAGE: usize = 102_400;
const CHUNK: usize = 16 * 1024;

fn page() -> Vec<u8> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut names: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    let mut text = Vec::new();
    for _ in 0..2 {
        for n in &names {
            text.extend_from_slice(&std::fs::read(n).expect("a doc"));
        }
    }
    text.truncate(PAGE);
    assert_eq!(text.len(), PAGE, "docs/*.md hold less than 100 KB");
    text
}

fn gwd(page: &[u8], flush: bool) -> Vec<u8> {
    let mut enc = Encoder::new(Format::Gzip);
    let mut out = Vec::with_capacity(64 * 1024);
    for c in page.chunks(CHUNK) {
        enc.encode(c, &mut out);
        if flush {
            enc.flush(&mut out);
        }
    }
    enc.finish(&mut out);
    out
}

fn flate2_level1(page: &[u8], flush: bool) -> Vec<u8> {
    let mut z =
        flate2::write::GzEncoder::new(Vec::with_capacity(64 * 1024), flate2::Compression::new(1));
    for c in page.chunks(CHUNK) {
        z.write_all(c).expect("to a vector");
        if flush {
            z.flush().expect("to a vector");
        }
    }
    z.finish().expect("to a vector")
}

fn encode(c: &mut Criterion) {
    let page = page();
    for (name, size) in [
        ("gwd-deflate", gwd(&page, false).len()),
        ("gwd-deflate, sync flush per chunk", gwd(&page, true).len()),
        ("flate2 level 1", flate2_level1(&page, false).len()),
        (
            "flate2 level 1, sync flush per chunk",
            flate2_level1(&page, true).len(),
        ),
    ] {
        println!(
            "{name}: {size} bytes ({:.1} % of {PAGE})",
            size as f64 * 100.0 / PAGE as f64
        );
    }
    let mut g = c.benchmark_group("gzip_100k_text_16k_chunks");
    g.throughput(Throughput::Bytes(PAGE as u64));
    g.bench_function("gwd_deflate", |b| b.iter(|| black_box(gwd(&page, false))));
    g.bench_function("gwd_deflate_flush_per_chunk", |b| {
        b.iter(|| black_box(gwd(&page, true)))
    });
    g.bench_function("flate2_level1", |b| {
        b.iter(|| black_box(flate2_level1(&page, false)))
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
