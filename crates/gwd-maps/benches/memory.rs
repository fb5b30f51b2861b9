//! Bytes per entry, counted with a global allocator. Prints one line per
//! size. `cargo bench -p gwd-maps --bench memory`
#![allow(unsafe_code)] // the counting allocator (its module)

use std::sync::atomic::Ordering;

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

#[path = "../tests/support/counting.rs"]
mod counting;
use counting::{Counting, LIVE};

#[global_allocator]
static A: Counting = Counting;

fn main() {
    for n in [1_000usize, 100_000, 1_000_000] {
        for (label, specs) in [
            ("str", vec![MatchSpec::new(MatchKind::Str)]),
            (
                "str+beg",
                vec![
                    MatchSpec::new(MatchKind::Str),
                    MatchSpec::new(MatchKind::Beg),
                ],
            ),
            ("ip", vec![MatchSpec::new(MatchKind::Ip)]),
        ] {
            let mut text = String::new();
            let mut payload = 0usize;
            for i in 0..n {
                let (k, v) = if label == "ip" {
                    (
                        format!("10.{}.{}.{}/32", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                        format!("b{}", i % 97),
                    )
                } else {
                    (format!("host{i:07}.example"), format!("backend_{}", i % 97))
                };
                payload += k.len() + v.len();
                text.push_str(&format!("{k} {v}\n"));
            }
            let before = LIVE.load(Ordering::Relaxed);
            let map = MapRef::new("m", RefKind::Map);
            for s in &specs {
                map.matcher(*s).unwrap();
            }
            map.load_map_str("m", text.as_bytes()).unwrap();
            let after_load = LIVE.load(Ordering::Relaxed);
            // Churn: set a tenth of the keys, then measure again.
            for i in (0..n).step_by(10) {
                let k = if label == "ip" {
                    format!("10.{}.{}.{}/32", (i >> 16) & 255, (i >> 8) & 255, i & 255)
                } else {
                    format!("host{i:07}.example")
                };
                map.set(k.as_bytes(), b"backend_x").unwrap();
            }
            map.reclaim();
            let after_set = LIVE.load(Ordering::Relaxed);
            let per = |b: isize| (b - before - payload as isize) as f64 / n as f64;
            println!(
                "bytes/entry beyond key+value: n={n:>8} {label:<8} after load {:6.1}  after 10% set {:6.1}",
                per(after_load),
                per(after_set)
            );
            drop(map);
        }
    }
}
