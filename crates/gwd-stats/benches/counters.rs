//! Per-request counter cost: `request_at` + `response` + `bytes_in` +
//! `bytes_out`; and the hot-path cost of the counting calls that take the
//! time (`request_at`, `session_opened_at`, `conn_opened_at`) with a fixed,
//! a moving and a new-second clock, plus `record_timings`.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gwd_stats::ProxyCounters;

fn per_request(c: &ProxyCounters, i: u64, now: Instant) {
    c.request_at(black_box(now));
    c.bytes_in(black_box(300));
    c.response(black_box(200 + (i & 1) as u16 * 100));
    c.bytes_out(black_box(4000));
}

fn contended(iters: u64, threads: usize) -> Duration {
    let now = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(now));
    let b = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let c = Arc::clone(&c);
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.wait();
                for i in 0..iters {
                    per_request(&c, i, now);
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
    let now = Instant::now();
    let c = ProxyCounters::with_epoch(now);
    let mut i = 0u64;
    g.bench_function("single_thread", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            per_request(&c, i, now)
        })
    });
    // Time for each of 2 threads to do `iters` requests on the same counters
    // (so per-iteration figures are per request per thread).
    g.bench_function("contended_2_threads", |b| {
        b.iter_custom(|iters| contended(iters, 2))
    });
    let arc = Arc::new(ProxyCounters::new());
    g.bench_function("conn_guard_open_close", |b| {
        b.iter(|| drop(black_box(arc.conn_opened_at(black_box(now)))))
    });
    g.finish();
}

/// Time for each of `threads` threads to do `iters` `request_at` calls on the
/// same counters, the clock moving 1 µs per call (so seconds roll over).
fn contended_at(iters: u64, threads: usize) -> Duration {
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(t0));
    let b = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let c = Arc::clone(&c);
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.wait();
                for i in 0..iters {
                    c.request_at(t0 + Duration::from_micros(i));
                }
            })
        })
        .collect();
    b.wait();
    let start = Instant::now();
    for h in hs {
        h.join().unwrap();
    }
    start.elapsed()
}

fn bench_timed(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("hot_path");
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(t0));
    let now = t0 + Duration::from_millis(1_500);
    // The same second every call: the steady state.
    g.bench_function("request_at_same_second", |b| {
        b.iter(|| black_box(&c).request_at(black_box(now)))
    });
    // The clock moves 1 µs per call: a second rolls every 10^6 calls, and
    // the Instant changes every call as it does for a real caller.
    let mut k = 0u64;
    // Baseline for the next one: building the moving Instant alone.
    g.bench_function("moving_clock_instant_only", |b| {
        b.iter(|| {
            k += 1;
            black_box(t0 + Duration::from_micros(k))
        })
    });
    let mut i = 0u64;
    g.bench_function("request_at_moving_clock", |b| {
        b.iter(|| {
            i += 1;
            black_box(&c).request_at(t0 + Duration::from_micros(i))
        })
    });
    // A roll on every call (worst case: one CAS and one fetch_max each).
    let mut s = 0u64;
    g.bench_function("request_at_new_second_every_call", |b| {
        b.iter(|| {
            s += 1;
            black_box(&c).request_at(t0 + Duration::from_secs(s))
        })
    });
    let lazy = ProxyCounters::new();
    lazy.request_at(t0);
    g.bench_function("request_at_lazy_epoch", |b| {
        b.iter(|| black_box(&lazy).request_at(black_box(now)))
    });
    g.bench_function("session_open_close_at", |b| {
        b.iter(|| drop(black_box(c.session_opened_at(black_box(now)))))
    });
    g.bench_function("conn_open_close_at", |b| {
        b.iter(|| drop(black_box(c.conn_opened_at(black_box(now)))))
    });
    let d = Duration::from_micros(1234);
    g.bench_function("record_timings", |b| {
        b.iter(|| black_box(&c).record_timings(black_box(d), d, d, d))
    });
    g.bench_function("request_at_contended_2_threads", |b| {
        b.iter_custom(|iters| contended_at(iters, 2))
    });
    g.finish();
}

criterion_group!(benches, bench, bench_timed);
criterion_main!(benches);
