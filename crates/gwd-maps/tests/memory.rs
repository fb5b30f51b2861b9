//! Bytes per exact-string entry beyond key and value bytes, counted with a
//! global allocator: at most 72.
#![allow(unsafe_code)] // the counting allocator (its module)

use std::sync::atomic::Ordering;

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

#[path = "support/counting.rs"]
mod counting;
use counting::{Counting, LIVE};

#[global_allocator]
static A: Counting = Counting;

#[test]
fn exact_string_entries_cost_at_most_72_bytes() {
    const N: usize = 50_000;
    let mut text = String::new();
    let mut payload = 0;
    for i in 0..N {
        let (k, v) = (format!("host{i:07}.example"), format!("backend_{}", i % 97));
        payload += k.len() + v.len();
        text.push_str(&format!("{k} {v}\n"));
    }
    let before = LIVE.load(Ordering::SeqCst);
    let map = MapRef::new("m", RefKind::Map);
    let m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    map.load_map_str("m", text.as_bytes()).unwrap();
    // Runtime churn must not leak or bloat: set every 4th key, add and delete.
    for i in (0..N).step_by(4) {
        map.set(format!("host{i:07}.example").as_bytes(), b"backend_x")
            .unwrap();
    }
    for i in 0..1000 {
        map.add(format!("extra{i}").as_bytes(), b"").unwrap();
    }
    for i in 0..1000 {
        map.del(format!("extra{i}").as_bytes()).unwrap();
    }
    // A full reload through prepare/commit must free the old version.
    for _ in 0..2 {
        let v = map.prepare();
        map.load_map_str_at(v, "m", text.as_bytes()).unwrap();
        map.commit(v).unwrap();
    }
    for i in (0..N).step_by(4) {
        map.set(format!("host{i:07}.example").as_bytes(), b"backend_x")
            .unwrap();
    }
    map.reclaim();
    let used = LIVE.load(Ordering::SeqCst) - before;
    let per = (used - payload as isize) as f64 / N as f64;
    assert!(m.matches(b"host0000004.example"));
    assert!(per <= 72.0, "{per:.1} bytes per entry");
    assert!(
        per > 24.0,
        "implausible count {per:.1}: the allocator is not counting"
    );
    drop((m, map));
    // Everything is returned.
    assert!(LIVE.load(Ordering::SeqCst) - before < 4096);
}
