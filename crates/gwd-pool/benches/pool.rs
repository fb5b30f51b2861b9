//! Cost of an acquire + release pair with 1, 100 and 10k pooled connections.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gwd_pool::{HttpReuse, Pool, PoolSettings, ReleaseAs};

fn settings() -> PoolSettings {
    PoolSettings {
        max_conn: None,
        low_conn: 0,
        purge_delay: Duration::from_secs(5),
        reuse: HttpReuse::Always,
        idle_timeout: None,
    }
}

/// A realistic key: (server id, SNI).
type Key = (u32, String);

fn filled(n: usize, distinct_keys: bool, now: Instant) -> Pool<Key, u64> {
    let mut p = Pool::new(settings());
    for i in 0..n {
        let key = (
            1,
            format!("host{}.example.com", if distinct_keys { i } else { 0 }),
        );
        p.connected();
        p.release(&key, i as u64, ReleaseAs::Safe, now).unwrap();
    }
    p
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("acquire_release");
    for n in [1usize, 100, 10_000] {
        // All connections under one key: LIFO stack depth n.
        let mut p = filled(n, false, now);
        let key: Key = (1, "host0.example.com".to_owned());
        g.bench_with_input(BenchmarkId::new("one_key", n), &n, |b, _| {
            b.iter(|| {
                let conn = p.acquire(black_box(&key), false).unwrap();
                p.release(&key, conn, ReleaseAs::Safe, now).unwrap();
            })
        });
        // n keys with one connection each: the hash lookup dominates.
        let mut p = filled(n, true, now);
        let keys: Vec<Key> = (0..n)
            .map(|i| (1, format!("host{i}.example.com")))
            .collect();
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("n_keys", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % n;
                let key = &keys[i];
                let conn = p.acquire(black_box(key), false).unwrap();
                p.release(key, conn, ReleaseAs::Safe, now).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
