//! A burst of frames fills one output buffer, and a burst of received
//! frames one event queue, sized from the previous burst: neither grows
//! by doubling (a copy of everything before at each growth), and neither
//! is kept between bursts. Counted by an allocator that counts
//! reallocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use gwd_mux_h2::conn::{Config, Connection, Event};
use http::{HeaderMap, Method, StatusCode, Uri};

struct Counting;

static REALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same layout as requested.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: p was allocated by System with l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Ordering::Relaxed);
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

/// Opens `n` requests from the gateway and answers each with a head and
/// 1 KiB; returns the reallocations made while the origin encoded the
/// answers and while the gateway took them in, and the origin's output.
fn burst(gateway: &mut Connection, origin: &mut Connection, n: usize) -> (usize, usize, usize) {
    let uri: Uri = "https://app.localhost/".parse().unwrap();
    let ids: Vec<u32> = (0..n)
        .map(|_| {
            gateway
                .send_request(&Method::GET, &uri, &HeaderMap::new(), true)
                .unwrap()
        })
        .collect();
    pump(gateway, origin);
    while origin.poll_event().is_some() {}
    let body = Bytes::from(vec![b'x'; 1024]);
    let before = REALLOCS.load(Ordering::Relaxed);
    for &id in &ids {
        origin
            .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        let left = origin.send_data(id, body.clone(), true).unwrap();
        assert!(left.is_empty());
    }
    let encoding = REALLOCS.load(Ordering::Relaxed) - before;
    let mut out = origin.take_output();
    let len = out.len();
    let before = REALLOCS.load(Ordering::Relaxed);
    gateway.recv(&mut out).unwrap();
    let receiving = REALLOCS.load(Ordering::Relaxed) - before;
    let mut answers = 0;
    let mut read = Vec::new();
    while let Some(e) = gateway.poll_event() {
        match e {
            Event::Response { .. } => answers += 1,
            Event::Data { stream, data, .. } => read.push((stream, data.len())),
            _ => {}
        }
    }
    // The application read the answers: their window goes back.
    for (stream, n) in read {
        gateway.release(stream, n);
    }
    assert_eq!(answers, n);
    pump(gateway, origin);
    (encoding, receiving, len)
}

#[test]
fn a_burst_like_the_last_one_fills_one_buffer_and_one_queue() {
    let mut origin = Connection::new(Config::reverse_dialer());
    let mut gateway = Connection::new(Config::reverse_acceptor());
    pump(&mut origin, &mut gateway);
    // The first burst has nothing to go by: its buffers grow.
    let (encoding, receiving, len) = burst(&mut gateway, &mut origin, 16);
    assert!(encoding > 0 && receiving > 0, "{encoding} {receiving}");
    assert!(len > 16 * 1024);
    // The next ones of the same size start with the room they need.
    for _ in 0..3 {
        assert_eq!(burst(&mut gateway, &mut origin, 16).0, 0, "encoding");
        assert_eq!(burst(&mut gateway, &mut origin, 16).1, 0, "receiving");
    }
    // Between bursts neither side holds an output buffer.
    assert_eq!(origin.take_output().capacity(), 0);
    assert_eq!(gateway.take_output().capacity(), 0);
}
