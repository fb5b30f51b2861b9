use super::*;

const D: Duration = Duration::from_secs(5);

fn settings(reuse: HttpReuse, max_conn: Option<usize>) -> PoolSettings {
    PoolSettings {
        max_conn,
        low_conn: 0,
        purge_delay: D,
        reuse,
        idle_timeout: None,
    }
}

fn pool(reuse: HttpReuse) -> Pool<&'static str, u32> {
    Pool::new(settings(reuse, None))
}

/// A recent peak of `n` connections in use, all gone again: the release
/// budget (`est_need`) then keeps up to `n` pooled.
fn had_peak(p: &mut Pool<&'static str, u32>, n: usize) {
    for _ in 0..n {
        p.connected();
    }
    for _ in 0..n {
        p.discard();
    }
}

/// Opens `conns` as fresh connections and releases them as `how`, in order.
fn seed(
    p: &mut Pool<&'static str, u32>,
    key: &'static str,
    conns: &[u32],
    how: ReleaseAs,
    now: Instant,
) {
    for _ in conns {
        p.connected();
    }
    for &c in conns {
        p.release(&key, c, how, now).unwrap();
    }
}

#[test]
fn lifo_within_a_key() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Always);
    seed(&mut p, "a", &[1, 2, 3], ReleaseAs::Idle, t);
    assert_eq!(p.used_len(), 0);
    assert_eq!(p.acquire(&"a", false), Some(3));
    assert_eq!(p.acquire(&"a", false), Some(2));
    p.release(&"a", 3, ReleaseAs::Safe, t).unwrap();
    assert_eq!(p.acquire(&"a", false), Some(3));
    assert_eq!(p.acquire(&"a", false), Some(1));
    assert_eq!(p.acquire(&"a", false), None);
    assert_eq!(p.used_len(), 3);
    // The emptied key's entry stays until the next purge tick.
    assert_eq!(p.key_count(), 1);
    assert!(p.purge(p.next_purge_at().unwrap()).is_empty());
    assert_eq!(p.key_count(), 0, "empty keys are freed at a tick");
    assert_eq!(p.next_purge_at(), None);
}

#[test]
fn keys_are_compared_exactly() {
    let t = Instant::now();
    let mut p: Pool<(u32, String), u32> = Pool::new(settings(HttpReuse::Always, None));
    let k1 = (1, "a.example".to_owned());
    let k2 = (1, "b.example".to_owned());
    let k3 = (2, "a.example".to_owned());
    p.connected();
    p.connected();
    p.release(&k1, 10, ReleaseAs::Idle, t).unwrap();
    p.release(&k2, 20, ReleaseAs::Idle, t).unwrap();
    assert_eq!(p.key_count(), 2);
    assert_eq!(p.acquire(&k3, false), None);
    assert_eq!(p.acquire(&k1, false), Some(10));
    assert_eq!(p.acquire(&k1, false), None);
    assert_eq!(p.acquire(&k2, false), Some(20));
}

#[test]
fn safe_mode_first_request_takes_nothing() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Safe);
    had_peak(&mut p, 4);
    seed(&mut p, "a", &[1], ReleaseAs::Idle, t);
    seed(&mut p, "a", &[2], ReleaseAs::Safe, t);
    // Neither the proven (safe) nor the unproven (idle) one, whatever the
    // order of release.
    assert_eq!(p.acquire(&"a", true), None);
    seed(&mut p, "a", &[3], ReleaseAs::Idle, t);
    assert_eq!(p.acquire(&"a", true), None);
    assert_eq!((p.idle_len(), p.safe_len(), p.used_len()), (2, 1, 0));
    // Later requests: the most recent of either class.
    assert_eq!(p.acquire(&"a", false), Some(3));
    assert_eq!(p.acquire(&"a", false), Some(2));
    p.release(&"a", 2, ReleaseAs::Safe, t).unwrap();
    assert_eq!(p.acquire(&"a", true), None, "a safe one after reuse too");
    assert_eq!(p.acquire(&"a", false), Some(2));
    assert_eq!(p.acquire(&"a", false), Some(1));
}

#[test]
fn aggressive_mode_first_request_takes_only_safe() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Aggressive);
    had_peak(&mut p, 4);
    seed(&mut p, "a", &[1], ReleaseAs::Idle, t);
    assert_eq!(p.acquire(&"a", true), None);
    seed(&mut p, "a", &[2], ReleaseAs::Safe, t);
    seed(&mut p, "a", &[3], ReleaseAs::Idle, t);
    // First request: the safe one even though 3 is more recent.
    assert_eq!(p.acquire(&"a", true), Some(2));
    assert_eq!(p.acquire(&"a", true), None);
    // Later requests: the most recent of either class.
    assert_eq!(p.acquire(&"a", false), Some(3));
    assert_eq!(p.acquire(&"a", false), Some(1));
}

#[test]
fn non_first_picks_most_recent_across_classes() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Safe);
    had_peak(&mut p, 4);
    seed(&mut p, "a", &[1], ReleaseAs::Idle, t);
    seed(&mut p, "a", &[2], ReleaseAs::Safe, t);
    seed(&mut p, "a", &[3], ReleaseAs::Idle, t);
    seed(&mut p, "a", &[4], ReleaseAs::Safe, t);
    let got: Vec<_> = (0..4).map(|_| p.acquire(&"a", false).unwrap()).collect();
    assert_eq!(got, [4, 3, 2, 1]);
}

#[test]
fn always_mode_first_request_takes_idle() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Always);
    seed(&mut p, "a", &[1], ReleaseAs::Idle, t);
    assert_eq!(p.acquire(&"a", true), Some(1));
}

/// The crate docs' table: what a first and a later request get when both a
/// proven and an unproven connection are available, the unproven one being
/// preferred by the pick order (more recent).
#[test]
fn reuse_mode_table() {
    use HttpReuse::*;
    const PROVEN: u32 = 1;
    const FRESH: u32 = 2;
    // (mode, first request gets, later request gets)
    let table = [
        (Never, None, None),
        (Safe, None, Some(FRESH)),
        (Aggressive, Some(PROVEN), Some(FRESH)),
        (Always, Some(FRESH), Some(FRESH)),
    ];
    let t = Instant::now();
    for (mode, first, later) in table {
        for (is_first, want) in [(true, first), (false, later)] {
            let mut p = pool(mode);
            p.connected();
            p.connected();
            let _ = p.release(&"a", PROVEN, ReleaseAs::Safe, t);
            let _ = p.release(&"a", FRESH, ReleaseAs::Idle, t);
            assert_eq!(p.acquire(&"a", is_first), want, "{mode:?} first={is_first}");
        }
    }
}

#[test]
fn never_mode_pools_nothing() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Never);
    assert!(!p.pooling_enabled());
    p.connected();
    let e = p.release(&"a", 7, ReleaseAs::Safe, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::PoolingDisabled);
    assert_eq!(e.into_inner(), 7);
    assert_eq!(p.used_len(), 0);
    assert_eq!(p.acquire(&"a", false), None);
    assert_eq!(p.next_purge_at(), None);
}

#[test]
fn max_conn_zero_and_zero_purge_delay_disable_pooling() {
    let t = Instant::now();
    let mut p: Pool<u8, u8> = Pool::new(settings(HttpReuse::Always, Some(0)));
    assert!(!p.pooling_enabled());
    p.connected();
    let e = p.release(&0, 1, ReleaseAs::Idle, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::PoolingDisabled);

    let mut p: Pool<u8, u8> = Pool::new(PoolSettings {
        purge_delay: Duration::ZERO,
        ..settings(HttpReuse::Always, None)
    });
    assert!(!p.pooling_enabled());
    p.connected();
    let e = p.release(&0, 1, ReleaseAs::Idle, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::PoolingDisabled);
}

#[test]
fn full_pool_refuses_and_hands_back() {
    let t = Instant::now();
    let mut p: Pool<&str, String> = Pool::new(settings(HttpReuse::Always, Some(2)));
    for _ in 0..3 {
        p.connected();
    }
    p.release(&"a", "one".into(), ReleaseAs::Idle, t).unwrap();
    p.release(&"b", "two".into(), ReleaseAs::Idle, t).unwrap();
    let e = p
        .release(&"a", "three".into(), ReleaseAs::Safe, t)
        .unwrap_err();
    assert_eq!(e.reason(), RefusedReason::Full);
    assert_eq!(e.get_ref(), "three");
    assert_eq!(e.into_inner(), "three");
    assert_eq!(p.pooled_len(), 2);
    assert_eq!(p.used_len(), 0);
    // Making room lets the next one in.
    assert_eq!(p.acquire(&"a", false).as_deref(), Some("one"));
    p.release(&"a", "one".into(), ReleaseAs::Safe, t).unwrap();
}

#[test]
fn release_keeps_only_what_recent_use_needs() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Safe);
    // Visitors one after another, one request each: under `safe` each
    // first request opens its own connection. The first is kept; the
    // next would be a second idle one while one is ever in use at once.
    seed(&mut p, "a", &[1], ReleaseAs::Idle, t);
    p.connected();
    let e = p.release(&"a", 2, ReleaseAs::Idle, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::Surplus);
    assert_eq!(e.into_inner(), 2);
    assert_eq!((p.pooled_len(), p.used_len()), (1, 0));
    // Two in use at once: both are kept.
    assert_eq!(p.acquire(&"a", false), Some(1));
    p.connected();
    p.release(&"a", 1, ReleaseAs::Safe, t).unwrap();
    p.release(&"a", 3, ReleaseAs::Idle, t).unwrap();
    assert_eq!((p.idle_len(), p.safe_len()), (1, 1));
    // The first proven one is kept even beyond the estimate.
    let mut p = pool(HttpReuse::Safe);
    seed(&mut p, "a", &[1], ReleaseAs::Idle, t);
    p.connected();
    p.release(&"a", 2, ReleaseAs::Safe, t).unwrap();
    assert_eq!((p.idle_len(), p.safe_len()), (1, 1));

    // A burst of 3 at once keeps all 3: the estimate follows what is in use.
    let mut p = pool(HttpReuse::Safe);
    seed(&mut p, "a", &[1, 2, 3], ReleaseAs::Idle, t);
    assert_eq!(p.pooled_len(), 3);
    assert_eq!(p.stats().est_need, 3);
    // One more than the peak is not kept.
    p.connected();
    let e = p.release(&"a", 4, ReleaseAs::Idle, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::Surplus);
    assert_eq!(
        e.to_string(),
        "the pool refused the connection: recent use does not need another idle connection"
    );
}

#[test]
fn surplus_release_evicts_dead_pooled_connections_first() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Safe);
    // A peak of 3, all pooled; then the server closes the two oldest.
    seed(&mut p, "a", &[1, 2, 3], ReleaseAs::Idle, t);
    let alive = |c: &mut u32| *c >= 3;
    // Two more in use: the first to come back is weighed against the
    // oldest pooled (dead: out) until it fits, oldest first.
    p.connected();
    p.connected();
    let mut dead = Vec::new();
    p.release_evicting(&"a", 4, ReleaseAs::Idle, t, alive, &mut dead)
        .unwrap();
    assert_eq!(dead, [1, 2]);
    // Within the estimate again: nothing is looked at.
    p.release_evicting(&"a", 5, ReleaseAs::Safe, t, |_| unreachable!(), &mut dead)
        .unwrap();
    assert_eq!(p.pooled_len(), 3);
    // The oldest is alive: the released one is the surplus, handed back.
    p.connected();
    let e = p
        .release_evicting(&"a", 6, ReleaseAs::Idle, t, alive, &mut dead)
        .unwrap_err();
    assert_eq!(e.reason(), RefusedReason::Surplus);
    assert_eq!(e.into_inner(), 6);
    assert_eq!(dead, [1, 2], "a live one is never evicted");
    assert_eq!(p.used_len(), 0);
}

#[test]
fn low_conn_widens_the_release_budget() {
    let t = Instant::now();
    let mut p: Pool<&str, u32> = Pool::new(PoolSettings {
        low_conn: 2,
        ..settings(HttpReuse::Safe, None)
    });
    for c in 1..=3 {
        p.connected();
        p.release(&"a", c, ReleaseAs::Idle, t).unwrap();
    }
    p.connected();
    assert_eq!(
        p.release(&"a", 4, ReleaseAs::Idle, t).unwrap_err().reason(),
        RefusedReason::Surplus
    );
}

#[test]
fn not_reusable_is_refused_first() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Never);
    p.connected();
    let e = p.release(&"a", 1, ReleaseAs::NotReusable, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::NotReusable);
    assert_eq!(p.used_len(), 0);
    let e = std::error::Error::source(&e);
    assert!(e.is_none());
}

#[test]
fn release_as_from_flags() {
    assert_eq!(ReleaseAs::from_flags(false, true), ReleaseAs::NotReusable);
    assert_eq!(ReleaseAs::from_flags(false, false), ReleaseAs::NotReusable);
    assert_eq!(ReleaseAs::from_flags(true, true), ReleaseAs::Safe);
    assert_eq!(ReleaseAs::from_flags(true, false), ReleaseAs::Idle);
}

#[test]
fn discard_and_saturation() {
    let mut p = pool(HttpReuse::Safe);
    p.connected();
    p.connected();
    p.discard();
    assert_eq!(p.used_len(), 1);
    p.discard();
    p.discard(); // a caller bug; does not wrap
    assert_eq!(p.used_len(), 0);
}

#[test]
fn purge_waits_for_its_tick_and_rearms() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Always);
    assert_eq!(p.next_purge_at(), None);
    p.connected();
    p.connected();
    p.release(&"a", 1, ReleaseAs::Idle, t).unwrap();
    assert_eq!(p.next_purge_at(), Some(t + D));
    // A later release does not push the tick back.
    p.release(&"a", 2, ReleaseAs::Idle, t + Duration::from_secs(1))
        .unwrap();
    assert_eq!(p.next_purge_at(), Some(t + D));
    assert!(p.purge(t + D - Duration::from_millis(1)).is_empty());
    // Peak was 2: nothing goes at the first tick.
    assert!(p.purge(t + D).is_empty());
    assert_eq!(p.next_purge_at(), Some(t + 2 * D));
    // est_need 2 -> 1 at tick 2 (still keeps 2), then 1 is needed: LRU goes.
    assert!(p.purge(t + 2 * D).is_empty());
    assert_eq!(p.purge(t + 3 * D), vec![1]);
    assert_eq!(p.stats().est_need, 0);
    assert_eq!(p.purge(t + 4 * D), vec![2]);
    assert_eq!(p.pooled_len(), 0);
    assert_eq!(p.next_purge_at(), None, "disarmed when nothing is pooled");
}

#[test]
fn purge_keeps_what_recent_peak_needs_minus_used() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Always);
    // Peak of 6 in use; then 4 come back, 2 remain in use.
    for _ in 0..6 {
        p.connected();
    }
    for c in 1..=4 {
        p.release(&"a", c, ReleaseAs::Idle, t).unwrap();
    }
    assert_eq!(p.stats().max_used, 6);
    // needed 6, used 2 -> keep 4.
    assert!(p.purge(t + D).is_empty());
    // est_need = 6, max_used reset to 2. Now the 2 in-use come back too.
    p.release(&"a", 5, ReleaseAs::Idle, t + D).unwrap();
    p.release(&"a", 6, ReleaseAs::Idle, t + D).unwrap();
    // needed max(2, 6) = 6, used 0: keep all 6.
    assert!(p.purge(t + 2 * D).is_empty());
    // max_used was reset to 2 (then in use): est_need = max(2, (6 + 2) / 2).
    assert_eq!(p.stats().est_need, 4);
    // needed max(0, 4) = 4: two least recently used go, oldest first.
    assert_eq!(p.purge(t + 3 * D), vec![1, 2]);
    assert_eq!(p.stats().est_need, 2);
    assert_eq!(p.purge(t + 4 * D), vec![3, 4]);
    assert_eq!(p.purge(t + 5 * D), vec![5]);
    assert_eq!(p.purge(t + 6 * D), vec![6]);
}

#[test]
fn purge_order_is_lru_across_keys_and_classes() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Always);
    for _ in 0..4 {
        p.connected();
    }
    p.release(&"a", 1, ReleaseAs::Idle, t).unwrap();
    p.release(&"b", 2, ReleaseAs::Safe, t).unwrap();
    p.release(&"a", 3, ReleaseAs::Safe, t).unwrap();
    p.release(&"c", 4, ReleaseAs::Idle, t).unwrap();
    // Reusing 1 makes it the most recent.
    let one = p.acquire(&"a", false);
    assert_eq!(one, Some(3), "LIFO within a");
    p.release(&"a", 3, ReleaseAs::Safe, t).unwrap();
    let closed = p.close();
    assert_eq!(closed, vec![1, 2, 4, 3]);
    assert!(p.is_closed());
    assert_eq!(p.key_count(), 0);
}

#[test]
fn low_conn_is_a_floor() {
    let t = Instant::now();
    let mut p: Pool<u8, u32> = Pool::new(PoolSettings {
        low_conn: 2,
        ..settings(HttpReuse::Always, None)
    });
    for _ in 0..5 {
        p.connected();
    }
    for c in 1..=5 {
        p.release(&0, c, ReleaseAs::Idle, t).unwrap();
    }
    let mut closed = Vec::new();
    let mut now = t;
    for _ in 0..10 {
        now += D;
        closed.extend(p.purge(now));
    }
    assert_eq!(closed, vec![1, 2, 3]);
    assert_eq!(p.pooled_len(), 2);
    assert!(p.next_purge_at().is_some());
}

#[test]
fn idle_timeout_closes_old_connections_at_a_tick() {
    let t = Instant::now();
    let mut p: Pool<u8, u32> = Pool::new(PoolSettings {
        low_conn: 10,
        idle_timeout: Some(Duration::from_secs(7)),
        ..settings(HttpReuse::Always, None)
    });
    for _ in 0..3 {
        p.connected();
    }
    p.release(&0, 1, ReleaseAs::Idle, t).unwrap();
    p.release(&0, 2, ReleaseAs::Idle, t + Duration::from_secs(3))
        .unwrap();
    p.release(&0, 3, ReleaseAs::Idle, t + Duration::from_secs(6))
        .unwrap();
    // Tick at t+5: nothing is 7 s old yet; low_conn keeps everything.
    assert!(p.purge(t + D).is_empty());
    // Tick at t+10: 1 (10 s) and 2 (7 s) are expired, 3 (4 s) is not.
    assert_eq!(p.purge(t + 2 * D), vec![1, 2]);
    assert_eq!(p.purge(t + 3 * D), vec![3]);
}

#[test]
fn closed_pool_refuses_and_hands_out_nothing() {
    let t = Instant::now();
    let mut p = pool(HttpReuse::Always);
    seed(&mut p, "a", &[1, 2], ReleaseAs::Idle, t);
    p.connected();
    assert_eq!(p.close(), vec![1, 2]);
    assert_eq!(p.next_purge_at(), None);
    assert_eq!(p.acquire(&"a", false), None);
    let e = p.release(&"a", 3, ReleaseAs::Safe, t).unwrap_err();
    assert_eq!(e.reason(), RefusedReason::Closed);
    assert_eq!(p.used_len(), 0);
    assert!(!p.pooling_enabled());
}

#[test]
fn debug_does_not_need_debug_conns() {
    struct Opaque;
    let p: Pool<u8, Opaque> = Pool::new(PoolSettings::default());
    let s = format!("{p:?}");
    assert!(s.contains("used: 0"), "{s}");
    let r = Refused {
        conn: Opaque,
        reason: RefusedReason::Full,
    };
    assert!(format!("{r:?}").contains("Full"));
    assert_eq!(
        r.to_string(),
        "the pool refused the connection: the pool is full"
    );
}

#[test]
fn custom_hasher() {
    use std::hash::{BuildHasherDefault, DefaultHasher};
    let t = Instant::now();
    let mut p: Pool<&str, u32, BuildHasherDefault<DefaultHasher>> =
        Pool::with_hasher(settings(HttpReuse::Always, None), Default::default());
    p.connected();
    p.release(&"a", 1, ReleaseAs::Idle, t).unwrap();
    assert_eq!(p.acquire(&"b", false), None);
    assert_eq!(p.acquire(&"a", false), Some(1));
}
