//! Steady-state heap allocations per keep-alive HTTP/1.1 request through
//! the whole proxy, counted by a global allocator.
//!
//! gwd runs on its own single-threaded runtime in its own thread; the
//! visitor and the server are plain blocking threads. The allocator counts
//! per thread, so only gwd's allocations are counted: after a warm-up
//! (pools filled, the server connection pooled), a fixed number of GET
//! requests on one visitor connection, each answered by the server over
//! the one pooled connection.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

thread_local! {
    /// Allocations made on this thread; only the gwd thread's are read.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}
/// The gwd thread's count, published by it between phases.
static GWD_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

struct Counting;

// SAFETY: delegates to the system allocator; the counter is a plain
// thread-local cell with a const initializer (no allocation, no reentry).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

mod common;
use common::{BODY, server};

/// Sends `n` GETs on `s`, reading each whole answer before the next.
fn requests(s: &mut TcpStream, n: usize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..n {
        s.write_all(b"GET /item?id=7 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: alloc-test\r\nAccept: */*\r\n\r\n")
            .unwrap();
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                && buf.len() >= end + 4 + BODY.len()
            {
                assert!(
                    buf.starts_with(b"HTTP/1.1 200 "),
                    "{}",
                    String::from_utf8_lossy(&buf)
                );
                buf.drain(..end + 4 + BODY.len());
                break;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "gwd closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn keep_alive_requests_allocate_a_bounded_number_of_times() {
    let srv = server();
    let toml = format!(
        r#"
[global]
nbthread = 1

[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
option.forwardfor = true
http-reuse = "always"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "set-header", name = "X-Via", value = "gwd" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{srv}" }} ]
"#
    );
    let cfg = gwd_config::parse_str(&toml, std::path::Path::new("alloc.toml")).unwrap();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (phase_tx, phase_rx) = mpsc::channel::<()>();
    let (count_tx, count_rx) = mpsc::channel::<u64>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = gwd_app::App::build(cfg).unwrap();
            addr_tx
                .send(app.listeners()[0].listener.local_addr())
                .unwrap();
            let running = tokio::spawn(app.run(std::future::pending()));
            // Publish this thread's count whenever the test asks.
            let phase = tokio::task::spawn_blocking(move || phase_rx);
            let phase = phase.await.unwrap();
            let (ask_tx, mut ask_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            std::thread::spawn(move || {
                while phase.recv().is_ok() {
                    if ask_tx.send(()).is_err() {
                        return;
                    }
                }
            });
            while ask_rx.recv().await.is_some() {
                let n = ALLOCATIONS.with(Cell::get);
                GWD_ALLOCATIONS.store(n, Ordering::SeqCst);
                count_tx.send(n).unwrap();
            }
            running.abort();
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    requests(&mut s, 200);
    let count = || {
        phase_tx.send(()).unwrap();
        count_rx.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    let before = count();
    const N: u64 = 2000;
    requests(&mut s, N as usize);
    let after = count();
    // Each count request itself costs the same few allocations: measure
    // that and take it out.
    let idle = count() - after;
    let per_request = (after - before).saturating_sub(idle) as f64 / N as f64;
    eprintln!("allocations per keep-alive request: {per_request:.2}");
    // 19 today: the visitor's read buffer, the request head (fields,
    // spans, URI), the request future's box and the exchange's, a
    // set-header value, the server request head, the server read buffer,
    // the response head (fields, spans), the response body's box and its
    // first data frame, the visitor response head; see
    // docs/PERFORMANCE.md.
    assert!(
        per_request <= 20.0,
        "{per_request:.2} allocations per keep-alive request, budget 20"
    );
}
