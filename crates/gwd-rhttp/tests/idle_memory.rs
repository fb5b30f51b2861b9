//! Heap held by idle tunnels, both ends in this process (gateway and
//! origin over real TLS on loopback), counted by a counting allocator.
//! Guards the property the tunnels were rebuilt for: no HTTP/2 buffers
//! while idle (on the `h2` crate a pair held about 94 KiB; the RSS figures
//! are in docs/PERFORMANCE.md).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::*;
use gwd_rhttp::GatewayOptions;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as requested.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: p was allocated by System with l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Tunnels in the measured batch.
const N: usize = 200;
/// Both ends of one idle tunnel together, heap only. Today about 25 KiB
/// (rustls: a 4 KiB record buffer, the session and its keys on each side;
/// the tasks; the registry entry); 94 KiB on the `h2` crate.
const BUDGET_PER_PAIR: isize = 32 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tunnels_hold_no_http2_buffers() {
    let p = pki(&["app.localhost", "other.localhost"]);
    let gw = Gateway::start(&p, GatewayOptions::default()).await;
    // A first tunnel, used once, so that lazily built state (TLS configs,
    // caches, runtime structures) is in the baseline.
    let warm = run_dialer(
        dialer_config(gw.addr, &p, "app.localhost", 1),
        echo_service("warm"),
    );
    assert!(gw.registry.wait_for_tunnels("app.localhost", 1, WAIT).await);
    let resp = gw
        .registry
        .try_acquire("app.localhost")
        .unwrap()
        .send_request(get("https://app.localhost/"))
        .await
        .unwrap();
    resp.into_body().collect_bytes(1 << 20).await.unwrap();
    assert!(warm.stats.wait_until(|s| s.tunnels_up == 1, WAIT).await);
    let before = LIVE.load(Ordering::Relaxed);

    let batch = run_dialer(
        dialer_config(gw.addr, &p, "other.localhost", N),
        echo_service("batch"),
    );
    assert!(
        gw.registry
            .wait_for_tunnels("other.localhost", N, WAIT * 3)
            .await
    );
    assert!(
        batch
            .stats
            .wait_until(|s| s.tunnels_up == N as u64, WAIT)
            .await
    );
    // N requests through the registry, so stream-related structures have
    // been used and given back before the count.
    for _ in 0..N {
        let resp = gw
            .registry
            .try_acquire("other.localhost")
            .unwrap()
            .send_request(get("https://other.localhost/"))
            .await
            .unwrap();
        resp.into_body().collect_bytes(1 << 20).await.unwrap();
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per_pair = (after - before) / N as isize;
    println!("idle tunnel, both ends: {per_pair} bytes of heap");
    assert!(
        per_pair <= BUDGET_PER_PAIR,
        "an idle tunnel pair holds {per_pair} bytes (budget {BUDGET_PER_PAIR})"
    );
    drop(batch);
    drop(warm);
}
