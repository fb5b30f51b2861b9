use std::hint::black_box;
use std::time::Instant;
use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
fn main() {
    for n in [1000usize, 100_000, 1_000_000] {
        let map = MapRef::new("m", RefKind::Map);
        let m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
        let mut text = String::new();
        let mut hm = std::collections::HashMap::new();
        for i in 0..n { text.push_str(&format!("host{i:07}.example backend_{}\n", i % 97)); hm.insert(format!("host{i:07}.example").into_bytes(), i); }
        map.load_map_str("m", text.as_bytes()).unwrap();
        let inputs: Vec<Vec<u8>> = (0..4096).map(|i| format!("host{:07}.example", (i * 2654435761usize ^ 0x5bd1) % n).into_bytes()).collect();
        let iters = 1_000_000;
        let t = Instant::now();
        let mut s = 0;
        for k in 0..iters { s += m.with_value(black_box(&inputs[k & 4095]), |v| v.map_or(0, |v| v.len())); }
        let a = t.elapsed().as_nanos() as f64 / iters as f64;
        let t = Instant::now();
        for k in 0..iters { s += hm.get(black_box(&inputs[k & 4095])).copied().unwrap_or(0); }
        let b = t.elapsed().as_nanos() as f64 / iters as f64;
        let t = Instant::now();
        for k in 0..100_000 { map.set(&inputs[k & 4095], b"backend_new").unwrap(); }
        let c = t.elapsed().as_nanos() as f64 / 100_000.0;
        println!("n={n} gwd str {a:.1} ns, std HashMap {b:.1} ns, set {c:.0} ns ({s})");
    }
}
