//! Rates, timing averages and `lastsess` on a virtual clock (instants built
//! from a base plus durations), under threads, and against a model.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use gwd_stats::{FreqCtr, ProxyCounters, ServerCounters, TIME_SAMPLES};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The instant `n` milliseconds after `t0`.
fn at(t0: Instant, n: u64) -> Instant {
    t0 + ms(n)
}

#[test]
fn rate_counts_the_events_of_the_current_second() {
    let t0 = Instant::now();
    let f = FreqCtr::new(t0);
    assert_eq!(f.epoch(), t0);
    assert_eq!((f.rate(t0), f.max()), (0, 0));
    for i in 0..37 {
        f.add(at(t0, 3_000 + i * 20)); // second 3
    }
    assert_eq!(f.rate(at(t0, 3_740)), 37);
    assert_eq!(f.rate(at(t0, 3_999)), 37);
    assert_eq!(f.max(), 37);
}

#[test]
fn previous_second_is_weighted_by_what_is_left_of_this_one() {
    let t0 = Instant::now();
    let f = FreqCtr::new(t0);
    for _ in 0..200 {
        f.add(at(t0, 4_100));
    }
    for _ in 0..10 {
        f.add(at(t0, 5_050));
    }
    assert_eq!(f.rate(at(t0, 5_000)), 210, "start of second 5: all of 4");
    assert_eq!(f.rate(at(t0, 5_250)), 10 + 150);
    assert_eq!(f.rate(at(t0, 5_500)), 10 + 100);
    assert_eq!(f.rate(at(t0, 5_900)), 10 + 20);
    // Sub-millisecond: 1 ns before the end of second 5, second 4 weighs
    // 200 * 1 ns / 1 s, which truncates to 0.
    assert_eq!(f.rate(at(t0, 6_000) - Duration::from_nanos(1)), 10);
    assert_eq!(f.rate(at(t0, 6_000)), 10, "second 4 has left the window");
    assert_eq!(f.max(), 200);
}

#[test]
fn idle_seconds_bring_the_rate_to_zero_and_keep_the_max() {
    let t0 = Instant::now();
    let f = FreqCtr::new(t0);
    for _ in 0..50 {
        f.add(at(t0, 10_500));
    }
    assert_eq!(f.rate(at(t0, 10_600)), 50);
    // One idle second: only the weighted previous second is left.
    assert_eq!(f.rate(at(t0, 11_600)), 20);
    // Two idle seconds: nothing.
    assert_eq!(f.rate(at(t0, 12_000)), 0);
    assert_eq!(f.rate(at(t0, 12_600)), 0);
    assert_eq!(f.rate(at(t0, 100_000)), 0);
    assert_eq!(f.max(), 50);

    // Activity after a long idle gap starts from scratch, slots reused in
    // both parities.
    for _ in 0..3 {
        f.add(at(t0, 200_100)); // even second
    }
    for _ in 0..4 {
        f.add(at(t0, 201_100)); // odd second
    }
    assert_eq!(f.rate(at(t0, 201_500)), 4 + 1); // 3 * 0.5 truncated
    assert_eq!(f.max(), 50, "an older, larger second is retained");
    f.reset_max();
    assert_eq!(f.max(), 4, "after a reset, the seconds still in the window");
    for _ in 0..5 {
        f.add(at(t0, 202_100));
    }
    for _ in 0..2 {
        f.add(at(t0, 203_100));
    }
    assert_eq!(f.max(), 5);
}

#[test]
fn max_is_the_best_single_second() {
    let t0 = Instant::now();
    let f = FreqCtr::new(t0);
    let per_second = [3, 9, 0, 4, 1, 7, 2];
    for (s, &n) in per_second.iter().enumerate() {
        for _ in 0..n {
            f.add(at(t0, s as u64 * 1_000 + 10));
        }
        let best = per_second[..=s].iter().copied().max().unwrap();
        assert_eq!(f.max(), best, "after second {s}");
    }
}

#[test]
fn instants_before_the_epoch_count_as_the_epoch() {
    let t0 = Instant::now();
    let later = at(t0, 2_000);
    let f = FreqCtr::new(later);
    f.add(t0);
    assert_eq!(f.rate(later), 1);
    assert_eq!(f.rate(t0), 1);
}

/// All threads add in the same second, between barriers, second after
/// second; each second's count must be exact, so the slot swap at the start
/// of each second (raced by every thread) loses nothing.
#[test]
fn concurrent_adds_are_counted_exactly() {
    const THREADS: usize = 8;
    let per_thread = [1_000u64, 3_000, 17, 2_500, 0, 1];
    let t0 = Instant::now();
    let f = Arc::new(FreqCtr::new(t0));
    let b = Arc::new(Barrier::new(THREADS + 1));
    let hs: Vec<_> = (0..THREADS)
        .map(|t| {
            let f = Arc::clone(&f);
            let b = Arc::clone(&b);
            thread::spawn(move || {
                for (s, &n) in per_thread.iter().enumerate() {
                    b.wait();
                    for i in 0..n {
                        // Spread over the second, each thread its own order.
                        let off = (i * 7 + t as u64 * 13) % 1_000;
                        f.add(at(t0, s as u64 * 1_000 + off));
                    }
                    b.wait();
                }
            })
        })
        .collect();
    let mut total = 0;
    for (s, &n) in per_thread.iter().enumerate() {
        b.wait();
        b.wait();
        let end = at(t0, (s as u64 + 1) * 1_000) - Duration::from_nanos(1);
        let want = n * THREADS as u64;
        assert_eq!(f.rate(end), want, "second {s}");
        if s > 0 {
            // At the start of the next second, both seconds count fully.
            let prev = per_thread[s - 1] * THREADS as u64;
            assert_eq!(f.rate(at(t0, s as u64 * 1_000)), want + prev, "second {s}");
        }
        total += want;
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(total, per_thread.iter().sum::<u64>() * THREADS as u64);
    assert_eq!(f.max(), 3_000 * THREADS as u64);
}

#[test]
fn concurrent_counter_rates_and_totals() {
    const THREADS: usize = 4;
    const N: u64 = 5_000;
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(t0));
    let b = Arc::new(Barrier::new(THREADS));
    let hs: Vec<_> = (0..THREADS)
        .map(|_| {
            let c = Arc::clone(&c);
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.wait();
                for i in 0..N {
                    let t = at(t0, 7_000 + i % 1_000);
                    let _conn = c.conn_opened_at(t);
                    let _sess = c.session_opened_at(t);
                    c.request_at(t);
                    c.record_timings(ms(2), ms(3), ms(5), ms(11));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let n = N * THREADS as u64;
    let s = c.snapshot();
    assert_eq!((s.conns.total, s.sessions.total, s.requests), (n, n, n));
    assert_eq!((s.conns.cur, s.sessions.cur), (0, 0));
    let r = c.rates_at(at(t0, 7_999));
    assert_eq!(
        (r.conn_rate, r.rate, r.req_rate),
        (Some(n), Some(n), Some(n))
    );
    assert_eq!(r.rate_max, Some(n));
    // Constant samples: the average is that constant, filling or sliding.
    assert!(n > TIME_SAMPLES);
    assert_eq!(
        (r.qtime_ms, r.ctime_ms, r.rtime_ms, r.ttime_ms),
        (Some(2), Some(3), Some(5), Some(11))
    );
    assert_eq!(
        (
            r.qtime_max_ms,
            r.ctime_max_ms,
            r.rtime_max_ms,
            r.ttime_max_ms
        ),
        (Some(2), Some(3), Some(5), Some(11))
    );
    assert_eq!(r.lastsess_s, Some(0));
    assert_eq!(c.rates_at(at(t0, 9_999)).lastsess_s, Some(2));
}

#[test]
fn first_samples_are_an_exact_mean() {
    let c = ServerCounters::new();
    let t = Instant::now();
    let r = c.rates_at(t);
    assert_eq!(
        (r.qtime_ms, r.ttime_ms, r.ttime_max_ms),
        (Some(0), Some(0), Some(0))
    );
    c.record_timings(ms(0), ms(4), ms(40), ms(100));
    let r = c.rates_at(t);
    assert_eq!(
        (r.qtime_ms, r.ctime_ms, r.rtime_ms, r.ttime_ms),
        (Some(0), Some(4), Some(40), Some(100)),
        "the first sample gives itself"
    );
    c.record_timings(ms(6), ms(8), ms(20), ms(300));
    c.record_timings(ms(0), ms(0), ms(30), ms(200));
    let r = c.rates_at(t);
    assert_eq!(
        (r.qtime_ms, r.ctime_ms, r.rtime_ms, r.ttime_ms),
        (Some(2), Some(4), Some(30), Some(200))
    );
    assert_eq!(
        (
            r.qtime_max_ms,
            r.ctime_max_ms,
            r.rtime_max_ms,
            r.ttime_max_ms
        ),
        (Some(6), Some(8), Some(40), Some(300))
    );
    // Kept in microseconds: 0.4 ms and 0.8 ms average 0.6 ms, read as 1 ms.
    let d = ProxyCounters::new();
    let us = Duration::from_micros;
    d.record_timings(us(400), us(400), us(400), us(400));
    d.record_timings(us(800), us(800), us(800), us(800));
    assert_eq!(d.rates_at(t).qtime_ms, Some(1));
}

#[test]
fn sliding_average_forgets_old_samples() {
    let c = ProxyCounters::new();
    let t = Instant::now();
    let z = Duration::ZERO;
    for _ in 0..TIME_SAMPLES {
        c.record_timings(z, z, z, ms(100));
    }
    assert_eq!(c.rates_at(t).ttime_ms, Some(100));
    // Past N samples the average slides: after N more samples of 10 ms it
    // is 10 + 90 * (1 - 1/N)^N ≈ 43.1 ms.
    for _ in 0..TIME_SAMPLES {
        c.record_timings(z, z, z, ms(10));
    }
    let expect = 10.0 + 90.0 * (1.0 - 1.0 / TIME_SAMPLES as f64).powi(TIME_SAMPLES as i32);
    let got = c.rates_at(t).ttime_ms.unwrap() as f64;
    assert!((got - expect).abs() <= 1.0, "{got} vs {expect}");
    // And converges to the new constant.
    for _ in 0..12 * TIME_SAMPLES {
        c.record_timings(z, z, z, ms(10));
    }
    let r = c.rates_at(t);
    assert_eq!(r.ttime_ms, Some(10));
    assert_eq!(r.ttime_max_ms, Some(100));
    assert_eq!(r.qtime_ms, Some(0));
}

#[test]
fn an_exact_mean_until_n_samples() {
    // Mean of 1..=N ms is (N+1)/2 = 512.5 ms → 513 (rounded to nearest).
    let c = ProxyCounters::new();
    let z = Duration::ZERO;
    for i in 1..=TIME_SAMPLES {
        c.record_timings(z, z, ms(i), z);
    }
    assert_eq!(c.rates_at(Instant::now()).rtime_ms, Some(513));
}

#[derive(Clone, Debug)]
enum Op {
    /// Advance the clock, then count an event.
    Add(u64),
    /// Advance the clock, then read.
    Read(u64),
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly small steps (many events per second), sometimes gaps of up to
    // four seconds (idle seconds), in nanoseconds.
    let step = prop_oneof![
        6 => 0u64..20_000_000,
        3 => 0u64..1_500_000_000,
        1 => 0u64..4_000_000_000,
    ];
    prop_oneof![
        3 => step.clone().prop_map(Op::Add),
        1 => step.prop_map(Op::Read),
    ]
}

/// The specification, from every event time kept in a list.
fn model_rate(events: &[Duration], now: Duration) -> u64 {
    let p = now.as_secs();
    let in_sec = |s: u64| events.iter().filter(|e| e.as_secs() == s).count() as u64;
    let cur = in_sec(p);
    let prev = if p == 0 { 0 } else { in_sec(p - 1) };
    let left = 1_000_000_000 - u64::from(now.subsec_nanos());
    cur + prev * left / 1_000_000_000
}

fn model_max(events: &[Duration]) -> u64 {
    let mut best = 0;
    let mut i = 0;
    // Events are in time order: count runs of equal seconds.
    while i < events.len() {
        let s = events[i].as_secs();
        let n = events[i..].iter().take_while(|e| e.as_secs() == s).count();
        best = best.max(n as u64);
        i += n;
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn freq_ctr_matches_the_model(start_ns in 0u64..3_000_000_000, ops in prop::collection::vec(op(), 1..400)) {
        let t0 = Instant::now();
        let f = FreqCtr::new(t0);
        let mut now = Duration::from_nanos(start_ns);
        let mut events = Vec::new();
        for op in ops {
            match op {
                Op::Add(step) => {
                    now += Duration::from_nanos(step);
                    f.add(t0 + now);
                    events.push(now);
                }
                Op::Read(step) => {
                    now += Duration::from_nanos(step);
                    prop_assert_eq!(f.rate(t0 + now), model_rate(&events, now), "at {:?}", now);
                    prop_assert_eq!(f.max(), model_max(&events));
                }
            }
        }
        prop_assert_eq!(f.rate(t0 + now), model_rate(&events, now));
        prop_assert_eq!(f.max(), model_max(&events));
    }
}
