use std::time::{Duration, Instant};

use gwd_backoff::{Backoff, BackoffConfig, full_jitter};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = BackoffConfig> {
    (1u64..5_000, 0u64..100_000, 1u32..5, 0u64..60_000).prop_map(|(base, extra, m, reset)| {
        BackoffConfig {
            base: Duration::from_millis(base),
            cap: Duration::from_millis(base + extra),
            multiplier: m,
            reset_after: Duration::from_millis(reset),
        }
    })
}

proptest! {
    /// Every delay lies under the ceiling of its attempt, and under the cap.
    #[test]
    fn delays_within_bounds(cfg in config(), randoms in proptest::collection::vec(any::<u64>(), 1..64)) {
        let mut b = Backoff::new(cfg);
        for (n, r) in randoms.into_iter().enumerate() {
            let ceiling = cfg.ceiling(n as u32);
            prop_assert_eq!(b.current_ceiling(), ceiling);
            let d = b.failed(r);
            prop_assert!(d < ceiling || (d == Duration::ZERO && ceiling == Duration::ZERO));
            prop_assert!(d <= cfg.cap);
        }
    }

    /// Ceilings never decrease and never exceed the cap; they reach it.
    #[test]
    fn ceilings_grow_to_cap(cfg in config()) {
        let mut prev = Duration::ZERO;
        for n in 0..80 {
            let c = cfg.ceiling(n);
            prop_assert!(c >= prev);
            prop_assert!(c <= cfg.cap);
            prev = c;
        }
        if cfg.multiplier >= 2 {
            prop_assert_eq!(cfg.ceiling(80), cfg.cap);
        }
    }

    /// Full jitter is monotonic in the random value and bounded.
    #[test]
    fn jitter_monotonic(ceiling_ms in 0u64..100_000, a in any::<u64>(), b in any::<u64>()) {
        let c = Duration::from_millis(ceiling_ms);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(full_jitter(c, lo) <= full_jitter(c, hi));
        prop_assert!(full_jitter(c, hi) <= c);
    }

    /// The attempt count resets if and only if the connection lasted
    /// `reset_after`.
    #[test]
    fn reset_rule(cfg in config(), fails in 0u32..20, up_ms in 0u64..120_000, r in any::<u64>()) {
        let mut b = Backoff::new(cfg);
        for _ in 0..fails {
            b.failed(r);
        }
        let t0 = Instant::now();
        b.connected(t0);
        let d = b.disconnected(t0 + Duration::from_millis(up_ms), r);
        if Duration::from_millis(up_ms) >= cfg.reset_after {
            prop_assert_eq!(d, Duration::ZERO);
            prop_assert_eq!(b.attempts(), 0);
        } else {
            prop_assert_eq!(b.attempts(), fails + 1);
            prop_assert!(d <= cfg.ceiling(fails));
        }
    }
}
