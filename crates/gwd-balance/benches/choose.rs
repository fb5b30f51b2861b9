//! The request path's cost: one `choose` and the drop of its pick, for the
//! algorithms a backend of 100 servers (1,000 for consistent hashing)
//! would use. Servers are unlimited and idle (each pick is released at
//! once, except in `leastconn_100_busy`), so this is the single-thread
//! cost of the choice itself.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gwd_balance::{Algorithm, Ask, Balancer, ServerId, ServerSpec};

fn servers(n: usize) -> Vec<ServerSpec> {
    // Mixed weights, so the tables are not trivially uniform.
    (0..n)
        .map(|i| ServerSpec {
            weight: 1 + (i as u32 % 4),
            ..ServerSpec::default()
        })
        .collect()
}

fn choose(c: &mut Criterion) {
    for (name, algorithm) in [
        ("roundrobin_100", Algorithm::RoundRobin),
        ("leastconn_100", Algorithm::LeastConn),
        ("random2_100", Algorithm::Random { draws: 2 }),
    ] {
        let lb = Balancer::new(algorithm, false, servers(100));
        let mut r = 0u64;
        c.bench_function(&format!("choose/{name}"), |b| {
            b.iter(|| {
                r = r.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let ask = Ask {
                    random: r,
                    ..Ask::default()
                };
                black_box(lb.choose(black_box(&ask)).unwrap().server())
            })
        });
    }

    // Least connections when no server is idle: without the floor (the
    // lowest load known) every choice would scan all 100.
    let lb = Balancer::new(Algorithm::LeastConn, false, servers(100));
    let _held: Vec<_> = (0..1000)
        .map(|_| lb.choose(&Ask::default()).unwrap())
        .collect();
    c.bench_function("choose/leastconn_100_busy", |b| {
        b.iter(|| black_box(lb.choose(black_box(&Ask::default())).unwrap().server()))
    });

    // Client addresses as `balance source` would hash them (~20 bytes).
    let keys: Vec<Vec<u8>> = (0..4096u32)
        .map(|i| format!("2001:db8::{:x}:{:04x}", i * 7919, i).into_bytes())
        .collect();
    for (name, consistent) in [("hash_consistent_1000", true), ("hash_map_1000", false)] {
        let lb = Balancer::new(Algorithm::Hash { consistent }, false, servers(1000));
        let mut i = 0usize;
        c.bench_function(&format!("choose/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                let ask = Ask {
                    key: Some(&keys[i]),
                    ..Ask::default()
                };
                black_box(lb.choose(black_box(&ask)).unwrap().server())
            })
        });
    }
}

/// The rare path: a health check flips a server, and the snapshot is
/// rebuilt (two flips per iteration).
fn rebuild(c: &mut Criterion) {
    for (name, algorithm, n) in [
        ("roundrobin_100", Algorithm::RoundRobin, 100),
        (
            "hash_consistent_1000",
            Algorithm::Hash { consistent: true },
            1000,
        ),
    ] {
        let lb = Balancer::new(algorithm, false, servers(n));
        c.bench_function(&format!("rebuild/{name}"), |b| {
            b.iter(|| {
                lb.set_up(ServerId::new(7), false);
                lb.set_up(ServerId::new(7), true);
            })
        });
    }
}

criterion_group!(benches, choose, rebuild);
criterion_main!(benches);
