//! Bytes per `reg` pattern, counted with a global allocator: a loaded
//! pattern costs little until a lookup first needs it (issue 11: 200,000
//! patterns used to take gigabytes).
#![allow(unsafe_code)] // the counting allocator (its module)

use std::sync::atomic::Ordering;

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

#[path = "support/counting.rs"]
mod counting;
use counting::{Counting, LIVE};

#[global_allocator]
static A: Counting = Counting;

#[path = "support/patterns.rs"]
mod patterns;
use patterns::{hit as input, pattern};

#[test]
fn reg_patterns_cost_little_until_used() {
    const N: usize = 20_000;
    let mut text = String::new();
    let mut payload = 0;
    for i in 0..N {
        let p = pattern(i);
        payload += p.len();
        text.push_str(&p);
        text.push('\n');
    }
    let before = LIVE.load(Ordering::SeqCst);
    let acl = MapRef::new("acl", RefKind::Acl);
    let m = acl
        .register_use(MatchSpec::new(MatchKind::Reg), None)
        .unwrap();
    acl.load_acl_str("acl", text.as_bytes()).unwrap();
    let loaded = LIVE.load(Ordering::SeqCst) - before;
    let per = (loaded - payload as isize) as f64 / N as f64;
    // Each lookup compiles the patterns it needs: here exactly one.
    for i in (0..N).step_by(10) {
        assert!(m.matches(input(i).as_bytes()), "{i}");
    }
    assert!(!m.matches(b"/nothing/here"));
    let used = LIVE.load(Ordering::SeqCst) - before - loaded;
    let per_compiled = used as f64 / (N / 10) as f64;
    println!("{per:.1} bytes per loaded pattern, {per_compiled:.0} more per compiled one");
    assert!(per <= 200.0, "{per:.1} bytes per loaded pattern");
    assert!(per > 24.0, "implausible count {per:.1}");
    assert!(
        per_compiled <= 8192.0,
        "{per_compiled:.0} bytes per compiled pattern"
    );
    drop((m, acl));
    assert!(LIVE.load(Ordering::SeqCst) - before < 65536);
}
