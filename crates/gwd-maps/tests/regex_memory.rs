//! Bytes per `reg` pattern, counted with a global allocator: a loaded
//! pattern costs little until a lookup first needs it (issue 11: 200,000
//! patterns used to take gigabytes).
#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: p was allocated by System with l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The shapes of `examples/regex_load.rs`.
fn pattern(i: usize) -> String {
    match i % 4 {
        0 => format!("^(www\\.)?shop{i}\\.example\\.com$"),
        1 => format!("^/api/v[0-9]+/tenant{i}/"),
        2 => format!("\\.cdn{i}\\.example\\.net$"),
        _ => format!("^/user-{i}-[a-z]+(/|$)"),
    }
}

fn input(i: usize) -> String {
    match i % 4 {
        0 => format!("www.shop{i}.example.com"),
        1 => format!("/api/v2/tenant{i}/x"),
        2 => format!("a.cdn{i}.example.net"),
        _ => format!("/user-{i}-abc"),
    }
}

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
