//! Load time, memory and lookup time of a large regex pattern file: writes
//! N generated regexes to a file, registers the use first (as the
//! configuration does), loads the file with `MapRef::load_file`, then times
//! lookups of several input shapes and prints the process's resident memory.
//!
//! ```text
//! cargo run --release -p gwd-maps --example regex_load -- [N] [acl|map|regm] [-i] [--file PATH] [--lookups K] [--all]
//! ```
//! Defaults: 200000 patterns, `acl` (`-m reg -f`); `map` is `map_reg`,
//! `regm` is `map_regm`. `--file PATH` keeps the generated file there (to
//! load the same file in HAProxy: `acl x path -m reg -f PATH`; see
//! docs/PERFORMANCE.md, "Regex ACLs: 200,000 patterns"). `--lookups K`
//! (default 2000) hit inputs per shape, spread over the file, each looked up
//! cold (the first lookup that needs a pattern compiles it) and then warm.
//! `--all` then looks up one hit of every pattern, so that every pattern
//! is compiled (the most memory the reference can come to hold).

use std::hint::black_box;
use std::time::{Duration, Instant};

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

/// The allocator the `gwd` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/patterns.rs"]
mod patterns;
use patterns::{hit, pattern};

const SHAPES: [&str; 4] = [
    "host ^(www\\.)?shopN\\.",
    "path ^/api/v[0-9]+/tenantN/",
    "host \\.cdnN\\.…$",
    "path ^/user-N-[a-z]+",
];

/// Inputs that match nothing.
const MISSES: [&str; 4] = [
    "www.nothing.example.org",
    "/api/v2/tenantX/orders/17",
    "/static/js/app.0c1d2e.js",
    "/user--abc",
];

fn proc_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// Cheap deterministic permutation of 0..n.
fn scramble(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ 0x5bd1) % n
}

fn per_lookup(d: Duration, n: usize) -> String {
    let ns = d.as_secs_f64() * 1e9 / n.max(1) as f64;
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let mut n = 200_000usize;
    let mut mode = "acl".to_string();
    let mut icase = false;
    let mut keep: Option<std::path::PathBuf> = None;
    let mut lookups = 2000usize;
    let mut all = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-i" => icase = true,
            "--all" => all = true,
            "--file" => keep = Some(args.next().expect("--file PATH").into()),
            "--lookups" => {
                lookups = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--lookups K")
            }
            "acl" | "map" | "regm" => mode = a,
            _ => n = a.parse().expect("N is a number"),
        }
    }
    let kind = match mode.as_str() {
        "regm" => MatchKind::Regm,
        _ => MatchKind::Reg,
    };
    let spec = if icase {
        MatchSpec::icase(kind)
    } else {
        MatchSpec::new(kind)
    };
    let path = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("gwd-regex-load-{}.lst", std::process::id()))
    });
    let mut text = String::with_capacity(n * 40);
    for i in 0..n {
        text.push_str(&pattern(i));
        if mode != "acl" {
            text.push_str(&format!(" backend_{}", i % 97));
        }
        text.push('\n');
    }
    std::fs::write(&path, &text).expect("write the pattern file");
    drop(text);
    let rss_before = proc_status("VmRSS:");

    let t = Instant::now();
    let rk = if mode == "acl" {
        RefKind::Acl
    } else {
        RefKind::Map
    };
    let m = MapRef::new(path.display().to_string(), rk);
    let matcher = m.register_use(spec, None).expect("register the use");
    let loaded = m.load_file(&path).expect("load the file");
    let load = t.elapsed();
    if keep.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    let rss_loaded = proc_status("VmRSS:");
    println!(
        "{loaded} patterns ({mode}{}): load {:.2} s; RSS before {rss_before}, after load {rss_loaded}",
        if icase { " -i" } else { "" },
        load.as_secs_f64(),
    );

    // Hits of each shape spread over the file: cold (compiles), then warm.
    for (s, shape) in SHAPES.iter().enumerate() {
        let inputs: Vec<String> = (0..lookups)
            .map(|k| {
                let i = scramble(k, n.div_ceil(4)) * 4 + s;
                hit(if i < n { i } else { s })
            })
            .collect();
        let mut times = [Duration::ZERO; 2];
        for t in &mut times {
            let start = Instant::now();
            for x in &inputs {
                assert!(matcher.matches(black_box(x.as_bytes())), "{x} must match");
            }
            *t = start.elapsed();
        }
        println!(
            "  hit  {shape:<30} cold {:>9}, warm {:>9} per lookup",
            per_lookup(times[0], inputs.len()),
            per_lookup(times[1], inputs.len()),
        );
    }
    for x in MISSES {
        let reps = 200;
        let start = Instant::now();
        for _ in 0..reps {
            assert!(
                !matcher.matches(black_box(x.as_bytes())),
                "{x} must not match"
            );
        }
        println!(
            "  miss {x:<30} {:>9} per lookup",
            per_lookup(start.elapsed(), reps)
        );
    }
    if all {
        let start = Instant::now();
        for i in 0..n {
            assert!(matcher.matches(hit(i).as_bytes()));
        }
        println!(
            "  every pattern looked up once: {:.2} s, RSS {}",
            start.elapsed().as_secs_f64(),
            proc_status("VmRSS:")
        );
    }
    println!(
        "RSS after lookups {}, peak {}",
        proc_status("VmRSS:"),
        proc_status("VmHWM:"),
    );
}
