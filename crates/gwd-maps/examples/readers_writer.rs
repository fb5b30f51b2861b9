//! Reader throughput with and without a writer doing ~100k updates per
//! second on a 1e5-entry `str` map (`set`, each change published before it
//! returns). Trials of each mode are interleaved so that drift
//! in machine load affects all modes alike; medians are printed.
//!
//! ```text
//! cargo run --release -p gwd-maps --example readers_writer -- [readers] [ms] [trials]
//! ```
//! Defaults: 2 readers, 1000 ms per trial, 5 trials.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

/// The allocator the `gwd` binary ships with: a write allocates path-copied
/// nodes and frees the old ones, so the allocator is part of its cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    NoWriter,
    Immediate,
    /// Control: the same immediate writer on another map of the same size,
    /// to tell cache pollution apart from sharing with the readers.
    OtherMap,
}

fn scramble(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ 0x5bd1) % n
}

/// CPU time of the calling thread in ns (Linux), to tell per-lookup cost
/// apart from CPU stolen by other threads on small machines.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let readers = args.first().copied().unwrap_or(2) as usize;
    let ms = args.get(1).copied().unwrap_or(1000);
    let trials = args.get(2).copied().unwrap_or(5);
    let n = 100_000;
    let map = MapRef::new("bench", RefKind::Map);
    let m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("host{i:07}.example backend_{}\n", i % 97));
    }
    map.load_map_str("bench", text.as_bytes()).unwrap();
    let inputs: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..4096)
            .map(|i| format!("host{:07}.example", scramble(i, n)).into_bytes())
            .collect(),
    );
    // The writer's own cost per update, alone (it competes with readers for
    // CPU on small machines).
    {
        let ops = 200_000;
        let start = Instant::now();
        for j in 0..ops {
            let i = scramble(j, n);
            let key = format!("host{i:07}.example");
            map.set(key.as_bytes(), b"v3").unwrap();
        }
        let ns = start.elapsed().as_nanos() as f64 / ops as f64;
        println!("{:?} update alone: {ns:.0} ns", Mode::Immediate);
    }
    let other = MapRef::new("other", RefKind::Map);
    other.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    other.load_map_str("other", text.as_bytes()).unwrap();
    let modes = [Mode::NoWriter, Mode::Immediate, Mode::OtherMap];
    let only: Option<usize> = std::env::var("ONLY_MODE").ok().and_then(|v| v.parse().ok());
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut writer_rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut per_cpu: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for t in 0..trials {
        for k in 0..modes.len() {
            let idx = (k + t as usize) % modes.len();
            if only.is_some_and(|o| o != idx) {
                continue;
            }
            let mode = modes[idx];
            let stop = Arc::new(AtomicBool::new(false));
            let w = (mode != Mode::NoWriter).then(|| {
                let target = if mode == Mode::OtherMap { &other } else { &map };
                let (map, stop) = (target.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0usize;
                    let mut done = 0u64;
                    let start = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..100 {
                            i = (i + 1) % n;
                            let key = format!("host{i:07}.example");
                            map.set(key.as_bytes(), b"v2").unwrap();
                        }
                        done += 100;
                        let due = start + Duration::from_micros(done * 10);
                        if let Some(d) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(d);
                        }
                    }
                    done as f64 / start.elapsed().as_secs_f64()
                })
            });
            let count = Arc::new(AtomicU64::new(0));
            let cpu = Arc::new(AtomicU64::new(0));
            let go = Arc::new(AtomicBool::new(true));
            let hs: Vec<_> = (0..readers)
                .map(|r| {
                    let (m, inputs, go, count, cpu) = (
                        m.clone(),
                        inputs.clone(),
                        go.clone(),
                        count.clone(),
                        cpu.clone(),
                    );
                    std::thread::Builder::new()
                        .name("reader".into())
                        .spawn(move || {
                            let cpu0 = thread_cpu_ns().unwrap_or(0);
                            let mut k = r;
                            let mut local = 0u64;
                            while go.load(Ordering::Relaxed) {
                                for _ in 0..256 {
                                    black_box(m.matches(&inputs[k & 4095]));
                                    k += 1;
                                }
                                local += 256;
                            }
                            count.fetch_add(local, Ordering::Relaxed);
                            cpu.fetch_add(
                                thread_cpu_ns().unwrap_or(0).saturating_sub(cpu0),
                                Ordering::Relaxed,
                            );
                        })
                        .unwrap()
                })
                .collect();
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(ms));
            go.store(false, Ordering::Relaxed);
            for h in hs {
                h.join().unwrap();
            }
            let secs = start.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            if let Some(w) = w {
                writer_rates[idx].push(w.join().unwrap());
            }
            let lookups = count.load(Ordering::Relaxed) as f64;
            results[idx].push(lookups / secs);
            let cpu_s = cpu.load(Ordering::Relaxed) as f64 / 1e9;
            if cpu_s > 0.0 {
                per_cpu[idx].push(lookups / cpu_s);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if results.iter().any(Vec::is_empty) {
        for (i, mode) in modes.iter().enumerate() {
            if !results[i].is_empty() {
                println!("{mode:?}: {:.2} M lookups/s", median(&mut results[i]) / 1e6);
            }
        }
        return;
    }
    let base = median(&mut results[0].clone());
    let cpu_base = (!per_cpu[0].is_empty()).then(|| median(&mut per_cpu[0].clone()));
    println!("{readers} reader(s), {trials} trials of {ms} ms, 1e5-entry str map");
    for (i, mode) in modes.iter().enumerate() {
        let med = median(&mut results[i]);
        let wr = if writer_rates[i].is_empty() {
            String::new()
        } else {
            format!(", writer {:.0} sets/s", median(&mut writer_rates[i]))
        };
        let cpu = match cpu_base {
            Some(b) if !per_cpu[i].is_empty() => {
                let c = median(&mut per_cpu[i]);
                format!(
                    "; per reader CPU second {:.2} M ({:.1} %)",
                    c / 1e6,
                    100.0 * c / b
                )
            }
            _ => String::new(),
        };
        println!(
            "{:<10} {:>8.2} M lookups/s  {:>5.1} % of no writer{wr}{cpu}",
            format!("{mode:?}"),
            med / 1e6,
            100.0 * med / base
        );
    }
}
