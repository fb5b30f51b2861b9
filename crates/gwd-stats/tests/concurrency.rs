//! Counters under concurrent use and unwinding.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use gwd_stats::{ProxyCounters, ServerCounters};

const THREADS: usize = 8;
const ROUNDS: usize = 5_000;

#[test]
fn exact_totals_and_gauges_back_to_zero() {
    let c = Arc::new(ProxyCounters::new());
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = Arc::clone(&c);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                // Each thread keeps at most 3 connections, 2 sessions and one
                // queued request open at once, and records the largest `cur`
                // it observed through a snapshot.
                let mut observed = 0;
                let mut held = Vec::new();
                for i in 0..ROUNDS {
                    let conn = c.conn_opened_at(Instant::now());
                    let sess = c.session_opened_at(Instant::now());
                    {
                        let _q = c.queued();
                        c.request_at(Instant::now());
                    }
                    c.response(if i % 2 == 0 { 200 } else { 503 });
                    c.bytes_in(t as u64 + 1);
                    c.bytes_out(2);
                    if i % 10 == 0 {
                        c.request_error();
                        c.denied();
                    }
                    observed = observed.max(c.snapshot().conns.cur);
                    // This thread holds a connection and a session guard.
                    assert!(c.current_conns() >= 1 && c.current_sessions() >= 1);
                    held.push((conn, sess));
                    if held.len() > 2 {
                        drop(held.remove(0));
                    }
                }
                drop(held);
                observed
            })
        })
        .collect();
    let observed = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap();

    let s = c.snapshot();
    let n = (THREADS * ROUNDS) as u64;
    assert_eq!(
        (c.current_conns(), c.current_sessions(), c.current_queue()),
        (0, 0, 0)
    );
    assert_eq!(s.conns.cur, 0);
    assert_eq!(s.sessions.cur, 0);
    assert_eq!(s.queue.cur, 0);
    assert_eq!(s.conns.total, n);
    assert_eq!(s.sessions.total, n);
    assert_eq!(s.queue.total, n);
    assert!(s.conns.max >= observed, "{} < {observed}", s.conns.max);
    assert!(s.conns.max >= 3, "each thread held 3 at once");
    assert!(s.conns.max <= 3 * THREADS as u64);
    assert!(s.sessions.max >= 3 && s.sessions.max <= 3 * THREADS as u64);
    assert!(s.queue.max >= 1 && s.queue.max <= THREADS as u64);
    assert_eq!(s.requests, n);
    assert_eq!(s.responses.r2xx, n / 2);
    assert_eq!(s.responses.r5xx, n / 2);
    assert_eq!(s.responses.total(), n);
    let per_thread_in: u64 = (1..=THREADS as u64).sum();
    assert_eq!(s.bytes_in, per_thread_in * ROUNDS as u64);
    assert_eq!(s.bytes_out, 2 * n);
    let tenth = (THREADS * ROUNDS.div_ceil(10)) as u64;
    assert_eq!(s.req_errors, tenth);
    assert_eq!(s.denied, tenth);
}

#[test]
fn max_reaches_the_peak_of_simultaneous_guards() {
    // All threads hold a guard at the same time (between two barriers), so
    // the max must be exactly THREADS.
    let c = Arc::new(ServerCounters::new());
    let b = Arc::new(Barrier::new(THREADS));
    let hs: Vec<_> = (0..THREADS)
        .map(|_| {
            let c = Arc::clone(&c);
            let b = Arc::clone(&b);
            thread::spawn(move || {
                let g = c.conn_opened_at(Instant::now());
                c.connect_attempt();
                b.wait();
                drop(g);
                c.reused();
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let s = c.snapshot();
    assert_eq!(s.counters.conns.max, THREADS as u64);
    assert_eq!(s.counters.conns.cur, 0);
    assert_eq!(s.connect_attempts, THREADS as u64);
    assert_eq!(s.reuses, THREADS as u64);
}

fn work_that_panics(c: &Arc<ProxyCounters>, fail: bool) -> Result<(), &'static str> {
    let _conn = c.conn_opened_at(Instant::now());
    let _sess = c.session_opened_at(Instant::now());
    let _q = c.queued();
    if fail {
        return Err("early return");
    }
    panic!("boom");
}

#[test]
fn unwinding_and_early_returns_release_gauges() {
    let c = Arc::new(ProxyCounters::new());
    assert_eq!(work_that_panics(&c, true), Err("early return"));
    let r = catch_unwind(AssertUnwindSafe(|| work_that_panics(&c, false)));
    assert!(r.is_err());

    // Panics on other threads too.
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&c);
            thread::spawn(move || {
                let _g = c.conn_opened_at(Instant::now());
                panic!("thread panic");
            })
        })
        .collect();
    for h in hs {
        assert!(h.join().is_err());
    }

    let s = c.snapshot();
    assert_eq!((s.conns.cur, s.sessions.cur, s.queue.cur), (0, 0, 0));
    assert_eq!((s.conns.total, s.sessions.total, s.queue.total), (6, 2, 2));
    assert!(s.conns.max >= 1);
}
