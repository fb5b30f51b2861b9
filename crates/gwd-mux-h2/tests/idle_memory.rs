//! What an idle connection costs: the state machine's own heap after a
//! handshake and a finished exchange, counted by a counting allocator.
//! This is the budget the reverse-HTTP tunnels are built around (issue 3:
//! at most 16 KiB per idle tunnel per side, TLS included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use gwd_mux_h2::conn::{Config, Connection};
use http::{HeaderMap, Method, StatusCode, Uri};

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

fn pump(a: &mut Connection, b: &mut Connection) {
    loop {
        let mut ab = a.take_output();
        let mut ba = b.take_output();
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        b.recv(&mut ab).unwrap();
        a.recv(&mut ba).unwrap();
    }
}

/// A tunnel pair that has reversed and carried one request.
fn used_pair() -> (Box<Connection>, Box<Connection>) {
    let o = Config::reverse_dialer();
    let g = Config::reverse_acceptor();
    let mut origin = Box::new(Connection::new(o));
    let mut gateway = Box::new(Connection::new(g));
    pump(&mut origin, &mut gateway);
    let uri: Uri = "https://app.localhost/".parse().unwrap();
    let id = gateway
        .send_request(&Method::GET, &uri, &HeaderMap::new(), true)
        .unwrap();
    pump(&mut gateway, &mut origin);
    while origin.poll_event().is_some() {}
    origin
        .send_response(id, StatusCode::OK, &HeaderMap::new(), true)
        .unwrap();
    pump(&mut gateway, &mut origin);
    while gateway.poll_event().is_some() {}
    while origin.poll_event().is_some() {}
    (gateway, origin)
}

#[test]
fn an_idle_connection_costs_its_struct_and_nothing_else() {
    const N: usize = 1000;
    let mut keep = Vec::with_capacity(N);
    // Warm up lazily initialised statics (http's, the allocator's).
    drop(used_pair());
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..N {
        keep.push(used_pair());
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per_side = (after - before) as f64 / (2 * N) as f64;
    let size = std::mem::size_of::<Connection>() as f64;
    println!(
        "idle connection: {per_side:.0} bytes of heap per side, of which the struct is {size:.0}"
    );
    // Only the boxed struct itself: no buffers, queues or tables.
    assert!(
        per_side <= size + 16.0,
        "an idle connection holds {per_side} bytes (struct {size})"
    );
    assert!(size <= 1024.0, "Connection grew to {size} bytes");
    drop(keep);
}
