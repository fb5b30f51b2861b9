//! Unit tests of the counters, gauges and registry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::counters::RequestCounters;
use crate::gauge::RatedGauge;
use crate::rate::Timings;

#[test]
fn new_is_zero() {
    assert_eq!(ProxyCounters::new().snapshot(), ProxySnapshot::default());
    assert_eq!(ServerCounters::new().snapshot(), ServerSnapshot::default());
}

#[test]
fn gauge_guards_track_cur_max_total() {
    let c = Arc::new(ProxyCounters::new());
    let a = c.conn_opened_at(Instant::now());
    let b = c.conn_opened_at(Instant::now());
    assert_eq!(a.kind(), GaugeKind::Connections);
    assert!(Arc::ptr_eq(a.owner(), &c));
    assert_eq!(
        c.snapshot().conns,
        GaugeSnapshot {
            cur: 2,
            max: 2,
            total: 2
        }
    );
    drop(a);
    let d = c.conn_opened_at(Instant::now());
    assert_eq!(
        c.snapshot().conns,
        GaugeSnapshot {
            cur: 2,
            max: 2,
            total: 3
        }
    );
    drop(b);
    drop(d);
    assert_eq!(
        c.snapshot().conns,
        GaugeSnapshot {
            cur: 0,
            max: 2,
            total: 3
        }
    );
    // Other gauges untouched.
    assert_eq!(c.snapshot().sessions, GaugeSnapshot::default());
    assert_eq!(c.snapshot().queue, GaugeSnapshot::default());
}

#[test]
fn each_gauge_is_separate() {
    let c = Arc::new(ServerCounters::new());
    let s1 = c.session_opened_at(Instant::now());
    let s2 = c.session_opened_at(Instant::now());
    let q = c.queued();
    let s = c.snapshot().counters;
    assert_eq!((s.conns.cur, s.sessions.cur, s.queue.cur), (0, 2, 1));
    assert_eq!(s1.kind(), GaugeKind::Sessions);
    assert_eq!(q.kind(), GaugeKind::Queue);
    drop((s1, s2, q));
    let s = c.snapshot().counters;
    assert_eq!(
        (s.sessions.cur, s.sessions.max, s.sessions.total),
        (0, 2, 2)
    );
    assert_eq!((s.queue.cur, s.queue.max, s.queue.total), (0, 1, 1));
}

#[test]
fn current_readers_follow_each_gauge() {
    let p = Arc::new(ProxyCounters::new());
    let s = Arc::new(ServerCounters::new());
    assert_eq!(
        (p.current_conns(), p.current_sessions(), p.current_queue()),
        (0, 0, 0)
    );
    assert_eq!(
        (s.current_conns(), s.current_sessions(), s.current_queue()),
        (0, 0, 0)
    );
    // Distinct counts per gauge, so a reader wired to the wrong gauge
    // fails.
    let pg: Vec<_> = (0..3)
        .map(|_| p.conn_opened_at(Instant::now()))
        .chain((0..2).map(|_| p.session_opened_at(Instant::now())))
        .chain([p.queued()])
        .collect();
    let sg: Vec<_> = (0..4)
        .map(|_| s.queued())
        .chain((0..5).map(|_| s.conn_opened_at(Instant::now())))
        .chain((0..6).map(|_| s.session_opened_at(Instant::now())))
        .collect();
    assert_eq!(
        (p.current_conns(), p.current_sessions(), p.current_queue()),
        (3, 2, 1)
    );
    assert_eq!(
        (s.current_conns(), s.current_sessions(), s.current_queue()),
        (5, 6, 4)
    );
    let snap = p.snapshot();
    assert_eq!(
        (snap.conns.cur, snap.sessions.cur, snap.queue.cur),
        (p.current_conns(), p.current_sessions(), p.current_queue())
    );
    // They read `cur`, not `max` or `total`.
    drop(pg);
    drop(p.conn_opened_at(Instant::now()));
    assert_eq!(
        (p.current_conns(), p.current_sessions(), p.current_queue()),
        (0, 0, 0)
    );
    assert_eq!(p.snapshot().conns.total, 4);
    drop(sg);
    assert_eq!(
        (s.current_conns(), s.current_sessions(), s.current_queue()),
        (0, 0, 0)
    );
    assert_eq!(s.snapshot().counters.sessions.max, 6);
}

#[test]
fn guard_keeps_owner_alive() {
    let c = Arc::new(ProxyCounters::new());
    let g = c.conn_opened_at(Instant::now());
    let weak = Arc::downgrade(&c);
    drop(c);
    assert!(weak.upgrade().is_some());
    drop(g);
    assert!(weak.upgrade().is_none());
}

#[test]
fn reset_max_sets_max_to_cur() {
    let c = Arc::new(ProxyCounters::new());
    let gs: Vec<_> = (0..5).map(|_| c.conn_opened_at(Instant::now())).collect();
    let keep = c.queued();
    drop(c.queued());
    drop(gs);
    let _one = c.conn_opened_at(Instant::now());
    assert_eq!(c.snapshot().conns.max, 5);
    c.reset_max();
    let s = c.snapshot();
    assert_eq!((s.conns.cur, s.conns.max, s.conns.total), (1, 1, 6));
    assert_eq!((s.queue.cur, s.queue.max), (1, 1));
    drop(keep);
}

#[test]
fn response_classes() {
    let c = ProxyCounters::new();
    for st in [
        100, 101, 199, 200, 204, 299, 301, 304, 400, 404, 499, 500, 503, 599,
    ] {
        c.response(st);
    }
    for st in [0, 99, 600, 999, u16::MAX] {
        c.response(st);
    }
    let r = c.snapshot().responses;
    assert_eq!(
        r,
        ResponseClasses {
            r1xx: 3,
            r2xx: 3,
            r3xx: 2,
            r4xx: 3,
            r5xx: 3,
            other: 5
        }
    );
    assert_eq!(r.total(), 19);
    assert_eq!(r.get(ResponseClass::of(404)), 3);
    assert_eq!(r.get(ResponseClass::Other), 5);
}

#[test]
fn monotonic_counters() {
    let c = ProxyCounters::new();
    c.request_at(Instant::now());
    c.request_at(Instant::now());
    c.bytes_in(10);
    c.bytes_in(5);
    c.bytes_out(7);
    c.request_error();
    c.connection_error();
    c.connection_error();
    c.response_error();
    c.denied();
    c.denied();
    c.denied();
    let s = c.snapshot();
    assert_eq!(s.requests, 2);
    assert_eq!((s.bytes_in, s.bytes_out), (15, 7));
    assert_eq!(
        (s.req_errors, s.conn_errors, s.resp_errors, s.denied),
        (1, 2, 1, 3)
    );
}

#[test]
fn server_extras() {
    let c = Arc::new(ServerCounters::new());
    c.connect_attempt();
    c.connect_attempt();
    c.connection_error();
    c.reused();
    c.request_at(Instant::now());
    c.bytes_out(3);
    let s = c.snapshot();
    assert_eq!((s.connect_attempts, s.reuses), (2, 1));
    assert_eq!(s.counters.conn_errors, 1);
    assert_eq!(s.counters.requests, 1);
    assert_eq!(s.counters.bytes_out, 3);
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn hot_groups_fit_their_padding() {
    assert_eq!(std::mem::size_of::<Padded<RatedGauge>>(), 128);
    assert_eq!(std::mem::size_of::<Padded<RequestCounters>>(), 128);
    assert_eq!(std::mem::size_of::<Padded<Timings>>(), 128);
}

#[test]
fn counting_calls_feed_gauges_and_rates() {
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(t0));
    assert_eq!(c.epoch(), Some(t0));
    let t = at(t0, 5_100);
    let conns: Vec<_> = (0..3).map(|_| c.conn_opened_at(t)).collect();
    let sess: Vec<_> = (0..2).map(|_| c.session_opened_at(t)).collect();
    for _ in 0..5 {
        c.request_at(t);
    }
    // Events of an earlier second count in the gauges, not in this
    // second's rates.
    let _u = (c.conn_opened_at(t0), c.session_opened_at(t0));
    c.request_at(t0);
    assert_eq!(conns[0].kind(), GaugeKind::Connections);
    assert_eq!(sess[0].kind(), GaugeKind::Sessions);

    let s = c.snapshot();
    assert_eq!((s.conns.cur, s.sessions.cur, s.requests), (4, 3, 6));
    let r = c.rates_at(at(t0, 5_900));
    assert_eq!(
        (r.conn_rate, r.rate, r.req_rate),
        (Some(3), Some(2), Some(5))
    );
    assert_eq!(
        (r.conn_rate_max, r.rate_max, r.req_rate_max),
        (Some(3), Some(2), Some(5))
    );
    drop((conns, sess));
    assert_eq!((c.current_conns(), c.current_sessions()), (1, 1));
}

#[test]
fn lazy_epoch_is_the_first_timed_event() {
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::new());
    assert_eq!(c.epoch(), None);
    // Reads before any timed event: zeros, no lastsess, epoch unset.
    let r = c.rates_at(at(t0, 10_000));
    assert_eq!((r.rate, r.req_rate, r.lastsess_s), (Some(0), Some(0), None));
    assert_eq!(c.epoch(), None);
    let t1 = at(t0, 700);
    c.request_at(t1);
    assert_eq!(c.epoch(), Some(t1));
    // Seconds count from t1, not t0: at t1 + 999 ms still second 0.
    assert_eq!(c.rates_at(at(t0, 1_699)).req_rate, Some(1));
    // An instant before the epoch counts as the epoch.
    c.request_at(t0);
    assert_eq!(c.rates_at(t1).req_rate, Some(2));
    assert_eq!(c.rates_at(at(t0, 3_700)).req_rate, Some(0));
}

#[test]
fn servers_count_requests_without_a_request_rate() {
    let t0 = Instant::now();
    let s = ServerCounters::with_epoch(t0);
    s.request_at(at(t0, 100));
    s.request_at(at(t0, 200));
    assert_eq!(s.snapshot().counters.requests, 2);
    assert_eq!(s.rates_at(at(t0, 300)).req_rate, Some(0));
}

#[test]
fn lastsess_follows_the_newest_timed_session() {
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(t0));
    assert_eq!(c.rates_at(at(t0, 5_000)).lastsess_s, None);
    drop(c.session_opened_at(at(t0, 1_000)));
    assert_eq!(c.rates_at(at(t0, 1_999)).lastsess_s, Some(0));
    assert_eq!(c.rates_at(at(t0, 3_500)).lastsess_s, Some(2));
    drop(c.session_opened_at(at(t0, 3_000)));
    assert_eq!(c.rates_at(at(t0, 3_500)).lastsess_s, Some(0));
    // An older instant does not move it back.
    drop(c.session_opened_at(at(t0, 2_000)));
    assert_eq!(c.rates_at(at(t0, 10_000)).lastsess_s, Some(7));
    // Reading before it (a stale clock) gives 0, not a wrap.
    assert_eq!(c.rates_at(at(t0, 500)).lastsess_s, Some(0));
    // A session at the epoch itself is "some", not "never".
    let d = Arc::new(ServerCounters::with_epoch(t0));
    drop(d.session_opened_at(t0));
    assert_eq!(d.rates_at(t0).lastsess_s, Some(0));
}

#[test]
fn reset_max_restarts_rate_and_timing_maxima() {
    let t0 = Instant::now();
    let c = Arc::new(ProxyCounters::with_epoch(t0));
    for _ in 0..7 {
        c.request_at(at(t0, 100));
        drop(c.session_opened_at(at(t0, 100)));
        drop(c.conn_opened_at(at(t0, 100)));
    }
    let ms = Duration::from_millis;
    c.record_timings(ms(9), ms(9), ms(9), ms(9));
    c.record_timings(ms(1), ms(1), ms(1), ms(1));
    // Two seconds later second 0 has left the slots (into the max).
    c.request_at(at(t0, 2_100));
    drop(c.session_opened_at(at(t0, 2_100)));
    drop(c.conn_opened_at(at(t0, 2_100)));
    let r = c.rates_at(at(t0, 2_200));
    assert_eq!(
        (r.req_rate_max, r.rate_max, r.conn_rate_max, r.qtime_max_ms),
        (Some(7), Some(7), Some(7), Some(9))
    );
    c.reset_max();
    let r = c.rates_at(at(t0, 2_200));
    assert_eq!(
        (r.req_rate_max, r.rate_max, r.conn_rate_max),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!((r.qtime_max_ms, r.ttime_max_ms), (Some(0), Some(0)));
    // Averages survive.
    assert_eq!((r.qtime_ms, r.ttime_ms), (Some(5), Some(5)));
}

#[test]
fn registry_rates_follow_registry_order_and_kinds() {
    let t0 = Instant::now();
    let mut reg = Registry::with_epoch(t0);
    let f0 = reg.add_frontend("a");
    let f1 = reg.add_frontend("b");
    let (b0, be0) = reg.add_backend("x");
    let (b1, be1) = reg.add_backend("y");
    let s00 = reg.add_server(b0, "s0").unwrap();
    let s01 = reg.add_server(b0, "s1").unwrap();
    let s10 = reg.add_server(b1, "t0").unwrap();
    for c in [&f0, &f1, &be0, &be1] {
        assert_eq!(c.epoch(), Some(t0));
    }
    for c in [&s00, &s01, &s10] {
        assert_eq!(c.epoch(), Some(t0));
    }
    let t = at(t0, 400);
    // Distinct counts per row so a mix-up shows.
    for _ in 0..2 {
        f1.request_at(t);
        drop(f1.conn_opened_at(t));
    }
    drop(f0.session_opened_at(t));
    for _ in 0..3 {
        drop(be1.session_opened_at(t));
    }
    drop(s01.session_opened_at(t));
    let ms = Duration::from_millis;
    s10.record_timings(ms(4), ms(5), ms(6), ms(7));
    be0.record_timings(ms(1), ms(1), ms(1), ms(1));

    let r = reg.rates_at(at(t0, 900));
    assert_eq!(r.frontends.len(), 2);
    assert_eq!(r.backends.len(), 2);
    assert_eq!(r.servers.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(
        r.frontends[0],
        RateSnapshot {
            rate: Some(1),
            rate_max: Some(1),
            req_rate: Some(0),
            req_rate_max: Some(0),
            conn_rate: Some(0),
            conn_rate_max: Some(0),
            ..RateSnapshot::default()
        }
    );
    assert_eq!(
        (r.frontends[1].req_rate, r.frontends[1].conn_rate),
        (Some(2), Some(2))
    );
    assert_eq!(
        r.backends[1],
        RateSnapshot {
            rate: Some(3),
            rate_max: Some(3),
            qtime_ms: Some(0),
            ctime_ms: Some(0),
            rtime_ms: Some(0),
            ttime_ms: Some(0),
            qtime_max_ms: Some(0),
            ctime_max_ms: Some(0),
            rtime_max_ms: Some(0),
            ttime_max_ms: Some(0),
            lastsess_s: Some(0),
            ..RateSnapshot::default()
        }
    );
    assert_eq!(
        (r.backends[0].qtime_ms, r.backends[0].lastsess_s),
        (Some(1), None)
    );
    assert_eq!(
        (r.servers[0][0].rate, r.servers[0][1].rate),
        (Some(0), Some(1))
    );
    assert_eq!(r.servers[0][1].lastsess_s, Some(0));
    let s = r.servers[1][0];
    assert_eq!(
        (s.qtime_ms, s.ctime_ms, s.rtime_ms, s.ttime_ms),
        (Some(4), Some(5), Some(6), Some(7))
    );
    assert_eq!((s.req_rate, s.conn_rate), (None, None));

    // Without an epoch each set fixes its own.
    let mut lazy = Registry::new();
    let f = lazy.add_frontend("f");
    let (b, _) = lazy.add_backend("b");
    let s = lazy.add_server(b, "s").unwrap();
    assert_eq!((f.epoch(), s.epoch()), (None, None));
    f.request_at(t);
    assert_eq!((f.epoch(), s.epoch()), (Some(t), None));
}

#[test]
fn registry_indexes_and_snapshot() {
    let mut reg = Registry::new();
    let f0 = reg.add_frontend("a");
    let f1 = reg.add_frontend("b");
    let (b0, be0) = reg.add_backend("x");
    let (b1, _be1) = reg.add_backend("y");
    assert_eq!((b0, b1), (0, 1));
    let s00 = reg.add_server(b0, "s0").unwrap();
    let s01 = reg.add_server(b0, "s1").unwrap();
    let s10 = reg.add_server(b1, "t0").unwrap();
    assert!(reg.add_server(7, "nope").is_none());

    assert!(Arc::ptr_eq(reg.frontend(1).unwrap(), &f1));
    assert!(Arc::ptr_eq(reg.backend(0).unwrap(), &be0));
    assert!(Arc::ptr_eq(reg.server(0, 1).unwrap(), &s01));
    assert!(Arc::ptr_eq(reg.server(1, 0).unwrap(), &s10));
    assert!(reg.server(1, 1).is_none());
    assert!(reg.frontend(2).is_none());
    assert_eq!(reg.frontend_index("b"), Some(1));
    assert_eq!(reg.backend_index("y"), Some(1));
    assert_eq!(reg.backend_index("z"), None);
    assert_eq!((reg.frontends_len(), reg.backends_len()), (2, 2));

    f0.request_at(Instant::now());
    let _g = f1.conn_opened_at(Instant::now());
    be0.denied();
    s00.reused();
    s10.response(302);

    let snap = reg.snapshot();
    let names: Vec<_> = snap.frontends.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(snap.frontends[0].counters.requests, 1);
    assert_eq!(snap.frontends[1].counters.conns.cur, 1);
    assert_eq!(snap.backends[0].name, "x");
    assert_eq!(snap.backends[0].counters.denied, 1);
    let srv: Vec<_> = snap.backends[0]
        .servers
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(srv, ["s0", "s1"]);
    assert_eq!(snap.backends[0].servers[0].counters.reuses, 1);
    assert_eq!(
        snap.backends[1].servers[0].counters.counters.responses.r3xx,
        1
    );
}

#[test]
fn snapshot_rows_carry_their_ids() {
    let mut reg = Registry::new();
    reg.add_frontend(Label::new("www", 40));
    reg.add_frontend("second");
    let (b, _) = reg.add_backend(Label::new("app", 7));
    reg.add_server(b, "s1").unwrap();
    reg.add_server(b, Label::new("s2", 12)).unwrap();
    let kept = reg.add_frontend("x");
    reg.keep_frontend(Label::new("kept", 9), kept);
    let snap = reg.snapshot();
    let fe: Vec<(&str, u32)> = snap
        .frontends
        .iter()
        .map(|f| (f.name.as_str(), f.id))
        .collect();
    // Without an id: the 1-based position.
    assert_eq!(fe, [("www", 40), ("second", 2), ("x", 3), ("kept", 9)]);
    assert_eq!(snap.backends[0].id, 7);
    let sv: Vec<u32> = snap.backends[0].servers.iter().map(|s| s.id).collect();
    assert_eq!(sv, [1, 12]);
}
