use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
fn main() {
    let n = 1_000_000usize;
    let map = MapRef::new("m", RefKind::Map);
    let _m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let mut text = String::new();
    for i in 0..n { text.push_str(&format!("host{i:07}.example backend_{}\n", i % 97)); }
    map.load_map_str("m", text.as_bytes()).unwrap();
    let inputs: Vec<Vec<u8>> = (0..4096).map(|i| format!("host{:07}.example", (i * 2654435761usize ^ 0x5bd1) % n).into_bytes()).collect();
    let t = std::time::Instant::now();
    for k in 0..2_000_000 { map.set(&inputs[k & 4095], b"backend_new").unwrap(); }
    println!("set {:.0} ns", t.elapsed().as_nanos() as f64 / 2_000_000.0);
}
