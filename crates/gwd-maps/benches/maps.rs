//! Criterion benchmarks for gwd-maps. Run with short times on small machines:
//!
//! ```text
//! cargo bench -p gwd-maps --bench maps -- --warm-up-time 1 --measurement-time 2
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gwd_maps::{MapRef, MatchKind, MatchSpec, Matcher, RefKind};

/// Cheap deterministic permutation of 0..n.
fn scramble(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ 0x5bd1) % n
}

struct Case {
    kind: MatchKind,
    key: fn(usize) -> String,
    input: fn(usize) -> String,
}

fn cases() -> Vec<(Case, Vec<usize>)> {
    let big = vec![1_000, 100_000, 1_000_000];
    let mid = vec![1_000, 100_000];
    vec![
        (
            Case {
                kind: MatchKind::Str,
                key: |i| format!("host{i:07}.example"),
                input: |i| format!("host{i:07}.example"),
            },
            big.clone(),
        ),
        (
            Case {
                kind: MatchKind::Beg,
                key: |i| format!("/api/{i}/"),
                input: |i| format!("/api/{i}/users/42"),
            },
            big.clone(),
        ),
        (
            Case {
                kind: MatchKind::Ip,
                key: |i| format!("10.{}.{}.0/24", (i >> 8) & 255, i & 255),
                input: |i| format!("10.{}.{}.7", (i >> 8) & 255, i & 255),
            },
            big,
        ),
        (
            Case {
                kind: MatchKind::End,
                key: |i| format!(".d{i}.com"),
                input: |i| format!("www.d{i}.com"),
            },
            mid.clone(),
        ),
        (
            Case {
                kind: MatchKind::Sub,
                key: |i| format!("tok{i}x"),
                input: |i| format!("GET /search?q=tok{i}x&page=2"),
            },
            mid.clone(),
        ),
        (
            Case {
                kind: MatchKind::Dom,
                key: |i| format!("d{i}.example.com"),
                input: |i| format!("www.d{i}.example.com"),
            },
            mid.clone(),
        ),
        (
            Case {
                kind: MatchKind::Dir,
                key: |i| format!("dir{i}"),
                input: |i| format!("/static/dir{i}/logo.png"),
            },
            mid.clone(),
        ),
        (
            Case {
                kind: MatchKind::Int,
                key: |i| format!("{}:{}", i * 10, i * 10 + 5),
                input: |i| (i * 10 + 3).to_string(),
            },
            mid.clone(),
        ),
        (
            Case {
                kind: MatchKind::Len,
                key: |i| format!("{}:{}", i * 10, i * 10 + 5),
                input: |i| "x".repeat((i % 100) * 10 + 2),
            },
            vec![1_000],
        ),
        (
            Case {
                kind: MatchKind::Reg,
                key: |i| format!("^/r{i}/[a-z]+$"),
                input: |i| format!("/r{i}/abc"),
            },
            // 1e5 took minutes to build and 10+ ms a lookup with one
            // `RegexSet`; each regex is now compiled on first use.
            mid,
        ),
    ]
}

fn build(kind: MatchKind, n: usize, key: fn(usize) -> String) -> (MapRef, Matcher) {
    let map = MapRef::new("bench", RefKind::Map);
    let m = map.matcher(MatchSpec::new(kind)).unwrap();
    let mut text = String::with_capacity(n * 32);
    for i in 0..n {
        text.push_str(&key(i));
        text.push_str(" backend_");
        text.push_str(&(i % 97).to_string());
        text.push('\n');
    }
    map.load_map_str("bench", text.as_bytes()).unwrap();
    (map, m)
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(1));
    for (case, sizes) in cases() {
        for n in sizes {
            let (_map, m) = build(case.kind, n, case.key);
            // Inputs: hits spread over the whole map.
            let inputs: Vec<Vec<u8>> = (0..4096)
                .map(|i| (case.input)(scramble(i, n)).into_bytes())
                .collect();
            assert!(
                inputs.iter().take(64).all(|x| m.matches(x)),
                "{:?} inputs must hit",
                case.kind
            );
            let mut i = 0usize;
            g.bench_with_input(BenchmarkId::new(case.kind.name(), n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(m.with_value(black_box(&inputs[i]), |v| v.map(<[u8]>::len)))
                })
            });
            if case.kind == MatchKind::Str {
                // Calibration on this machine: std HashMap with the same keys.
                let hm: std::collections::HashMap<Vec<u8>, Vec<u8>> = (0..n)
                    .map(|i| {
                        (
                            (case.key)(i).into_bytes(),
                            format!("backend_{}", i % 97).into_bytes(),
                        )
                    })
                    .collect();
                g.bench_with_input(BenchmarkId::new("baseline_std_hashmap", n), &n, |b, _| {
                    b.iter(|| {
                        i = (i + 1) & 4095;
                        black_box(hm.get(black_box(&inputs[i])).map(Vec::len))
                    })
                });
            }
        }
    }
    g.finish();
}

fn empty(c: &mut Criterion) {
    let mut g = c.benchmark_group("empty");
    let map = MapRef::new("empty", RefKind::Map);
    for kind in [
        MatchKind::Str,
        MatchKind::Sub,
        MatchKind::Reg,
        MatchKind::Ip,
    ] {
        let m = map.matcher(MatchSpec::new(kind)).unwrap();
        g.bench_function(kind.name(), |b| {
            b.iter(|| black_box(m.matches(black_box(b"/some/path"))))
        });
    }
    g.finish();
}

fn set_map(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_map");
    g.throughput(Throughput::Elements(1));
    for n in [1_000usize, 100_000, 1_000_000] {
        let (map, _m) = build(MatchKind::Str, n, |i| format!("host{i:07}.example"));
        let keys: Vec<Vec<u8>> = (0..4096)
            .map(|i| format!("host{:07}.example", scramble(i, n)).into_bytes())
            .collect();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("str", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) & 4095;
                map.set(&keys[i], b"backend_new").unwrap()
            })
        });
        // The same reference also indexed by beg and dom: three indexes to update.
        let beg = map.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
        let dom = map.matcher(MatchSpec::new(MatchKind::Dom)).unwrap();
        g.bench_with_input(BenchmarkId::new("str+beg+dom", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) & 4095;
                map.set(&keys[i], b"backend_new2").unwrap()
            })
        });
        drop((beg, dom));
    }
    g.finish();
}

/// How the writer thread of [`concurrent`] publishes its changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriterMode {
    /// No writer.
    None,
    /// `set`: each change published before returning.
    Immediate,
}

/// Starts a writer doing ~100k updates per second until `stop`; returns the
/// rate it achieved.
fn writer(
    map: &MapRef,
    n: usize,
    mode: WriterMode,
    stop: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<f64>> {
    if mode == WriterMode::None {
        return None;
    }
    let (map, stop) = (map.clone(), stop.clone());
    Some(std::thread::spawn(move || {
        let mut i = 0usize;
        let mut done = 0u64;
        let start = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            // 100 sets per millisecond = 100k/s, sleeping in between.
            for _ in 0..100 {
                i = (i + 1) % n;
                let k = format!("host{i:07}.example");
                map.set(k.as_bytes(), b"v2").unwrap();
            }
            done += 100;
            let due = start + Duration::from_micros(done * 10);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        done as f64 / start.elapsed().as_secs_f64()
    }))
}

/// Reader threads (two, and one for machines with few cores) with and
/// without a third thread updating ~100k entries per second of a 1e5-entry
/// `str` map, immediate or batched.
fn concurrent(c: &mut Criterion) {
    let n = 100_000;
    let (map, m) = build(MatchKind::Str, n, |i| format!("host{i:07}.example"));
    let inputs: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..4096)
            .map(|i| format!("host{:07}.example", scramble(i, n)).into_bytes())
            .collect(),
    );
    for readers in [2usize, 1] {
        let group = if readers == 2 {
            "two_readers"
        } else {
            "one_reader"
        };
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(readers as u64));
        for (mode, name) in [
            (WriterMode::None, "no_writer"),
            (WriterMode::Immediate, "writer_100k_per_s"),
        ] {
            let stop = Arc::new(AtomicBool::new(false));
            let w = writer(&map, n, mode, &stop);
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    let hs: Vec<_> = (0..readers)
                        .map(|t| {
                            let (m, inputs) = (m.clone(), inputs.clone());
                            std::thread::spawn(move || {
                                let mut hits = 0u64;
                                for k in 0..iters {
                                    let x = &inputs[((k as usize) * 2 + t) & 4095];
                                    hits += u64::from(m.matches(x));
                                }
                                hits
                            })
                        })
                        .collect();
                    for h in hs {
                        black_box(h.join().unwrap());
                    }
                    start.elapsed()
                })
            });
            stop.store(true, Ordering::Relaxed);
            if let Some(w) = w {
                let rate = w.join().unwrap();
                eprintln!("{group}/{name}: writer achieved {rate:.0} sets/s");
            }
        }
        g.finish();
    }
}

fn load(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("gwd-maps-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.map");
    let mut text = String::with_capacity(40_000_000);
    for i in 0..1_000_000 {
        text.push_str(&format!("host{i:07}.example backend_{}\n", i % 97));
    }
    std::fs::write(&path, text).unwrap();
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for kind in [MatchKind::Str, MatchKind::Beg] {
        g.bench_function(format!("1e6_lines_{}", kind.name()), |b| {
            b.iter(|| {
                let map = MapRef::new("big.map", RefKind::Map);
                map.matcher(MatchSpec::new(kind)).unwrap();
                black_box(map.load_file(&path).unwrap())
            })
        });
    }
    g.finish();
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, empty, lookups, set_map, concurrent, load);
criterion_main!(benches);
