//! Heap use of idle codecs, measured with a counting global allocator.
//!
//! Only allocations made on the measuring thread while a measurement is active
//! are counted, so the test harness's own threads cannot disturb the figures.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use gwd_hpack::{Decoder, Encoder, Field};

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// Bytes currently allocated (allocations minus frees) while active.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Number of allocations while active.
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn record(delta: isize, new_alloc: bool) {
    let _ = ACTIVE.try_with(|a| {
        if a.get() {
            let _ = LIVE.try_with(|l| l.set(l.get() + delta));
            if new_alloc {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            }
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize, true);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize, true);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize), false);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as isize - layout.size() as isize, true);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with (live bytes after, allocations made).
fn measure<T>(f: impl FnOnce() -> T) -> (T, isize, usize) {
    LIVE.with(|l| l.set(0));
    COUNT.with(|c| c.set(0));
    ACTIVE.with(|a| a.set(true));
    let r = f();
    ACTIVE.with(|a| a.set(false));
    (r, LIVE.with(Cell::get), COUNT.with(Cell::get))
}

#[test]
fn idle_codecs_own_no_heap_memory() {
    const N: usize = 1000;

    // The counter works.
    let (v, live, count) = measure(|| vec![0u8; 100]);
    assert_eq!((live, count), (100, 1));
    drop(v);

    // 1000 decoders + encoders: only the Vec holding them.
    let mut codecs: Vec<(Decoder, Encoder)> = Vec::with_capacity(N);
    let ((), live, count) = measure(|| {
        for _ in 0..N {
            codecs.push((Decoder::new(4096), Encoder::new()));
        }
    });
    assert_eq!((live, count), (0, 0), "creating idle codecs allocated");

    // Encoding allocates only in the output buffer; decoding a block without
    // indexing (Huffman strings included) keeps nothing afterwards.
    let mut out = BytesMut::with_capacity(4096);
    let fields = [
        Field::new(b":method", b"GET"),
        Field::new(b":path", b"/a/rather/long/path/that/huffman/shrinks"),
        Field::new(b"x-custom-header", b"some value here"),
        Field::never_indexed(b"authorization", b"Bearer abcdef"),
    ];
    let ((), live, count) = measure(|| {
        for (d, e) in codecs.iter_mut() {
            e.set_peer_max_table_size(0);
            out.clear();
            e.encode(fields, &mut out);
            let mut n = 0;
            d.decode(&out, 1 << 16, &mut |_| n += 1).unwrap();
            assert_eq!(n, 4);
        }
    });
    assert_eq!(
        live, 0,
        "codecs kept heap memory after a block ({count} allocations)"
    );

    // A table that fills and is then emptied by a size update gives its
    // storage back.
    let (d, _) = &mut codecs[0];
    let ((), live, _) = measure(|| {
        d.set_max_table_size(4096);
        // The earlier blocks set the table size to 0: raise it back first.
        let mut block = vec![0x3f, 0xe1, 0x1f];
        for i in 0..20u8 {
            block.extend([0x40, 0x01, b'a' + i, 0x02, b'v', b'0' + i]);
        }
        d.decode(&block, 1 << 16, &mut |_| {}).unwrap();
        assert_eq!(d.table_entries(), 20);
    });
    assert!(live > 0, "the filled table holds its entries");
    let ((), live2, _) = measure(|| {
        d.decode(&[0x20], 1 << 16, &mut |_| {}).unwrap();
    });
    assert_eq!(d.table_entries(), 0);
    assert_eq!(live + live2, 0, "emptying the table released everything");

    drop(codecs);
}
