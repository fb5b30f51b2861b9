//! Per-request counter cost: `request` + `response` + `bytes_in` + `bytes_out`.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gwd_stats::ProxyCounters;

fn per_request(c: &ProxyCounters, i: u64) {
    c.request();
    c.bytes_in(black_box(300));
    c.response(black_box(200 + (i & 1) as u16 * 100));
    c.bytes_out(black_box(4000));
}

fn contended(iters: u64, threads: usize) -> Duration {
    let c = Arc::new(ProxyCounters::new());
    let b = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let c = Arc::clone(&c);
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.wait();
                for i in 0..iters {
                    per_request(&c, i);
                }
            })
        })
        .collect();
    b.wait();
    let t0 = Instant::now();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed()
}

fn bench(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("per_request");
    let c = ProxyCounters::new();
    let mut i = 0u64;
    g.bench_function("single_thread", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            per_request(&c, i)
        })
    });
    // Time for each of 2 threads to do `iters` requests on the same counters
    // (so per-iteration figures are per request per thread).
    g.bench_function("contended_2_threads", |b| {
        b.iter_custom(|iters| contended(iters, 2))
    });
    let arc = Arc::new(ProxyCounters::new());
    g.bench_function("conn_guard_open_close", |b| {
        b.iter(|| drop(black_box(arc.conn_opened())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
