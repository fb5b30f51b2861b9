//! The rise/fall health counter and the check schedule.

use std::time::Duration;

/// A server's check parameters (`server ... rise <n> fall <n> inter <t>
/// fastinter <t> downinter <t>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthParams {
    /// Consecutive successful checks needed to mark a down server UP.
    pub rise: u32,
    /// Consecutive failed checks needed to mark a fully up server DOWN.
    pub fall: u32,
    /// Interval between two checks of a stable server.
    pub inter: Duration,
    /// Interval while the server is transitioning (health strictly between
    /// 0 and its maximum); `inter` when unset.
    pub fastinter: Option<Duration>,
    /// Interval while the server is fully down (health 0); `inter` when
    /// unset.
    pub downinter: Option<Duration>,
}

impl Default for HealthParams {
    /// HAProxy's defaults: `rise 2 fall 3 inter 2s`, no `fastinter`, no
    /// `downinter`.
    fn default() -> Self {
        HealthParams {
            rise: 2,
            fall: 3,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
        }
    }
}

/// A change of a server's operational state caused by its checks (or a
/// forced state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The server went from DOWN to UP.
    Up,
    /// The server went from UP to DOWN.
    Down,
}

/// HAProxy's health counter: `health` in `0..=rise+fall-1`; the server is
/// UP iff `health >= rise`.
///
/// A success increments (capped at `rise+fall-1`); reaching `rise` from
/// below is the UP transition, and health jumps to `rise+fall-1`. A failure
/// decrements (floored at 0); dropping below `rise` from UP is the DOWN
/// transition, and health jumps to 0. Like HAProxy
/// (`set_server_check_status()`), a failure that leaves the counter below
/// `rise` always resets it to 0, so a server that is coming back needs
/// `rise` *consecutive* successes: with `rise 3`, S S F S S is still DOWN.
///
/// `Health::new(params, true)` starts UP with health = `rise` ("up, but
/// falls at the first failure", as HAProxy starts checked servers);
/// `Health::new(params, false)` starts DOWN with health = 0.
///
/// `rise` and `fall` of 0 are taken as 1 (HAProxy refuses them in the
/// configuration), so the counter always has an UP and a DOWN state.
///
/// ```
/// use gwd_check::{Health, HealthParams, Transition};
///
/// let mut h = Health::new(HealthParams::default(), true); // rise 2, fall 3
/// assert_eq!(h.record(false), Some(Transition::Down)); // first failure
/// assert_eq!(h.record(true), None);
/// assert_eq!(h.record(true), Some(Transition::Up)); // `rise` successes
/// assert_eq!(h.health(), 4); // fully up: `fall` failures to go down
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    params: HealthParams,
    health: u32,
}

impl Health {
    /// A counter for a server that starts UP (health = `rise`) or DOWN
    /// (health = 0).
    pub fn new(params: HealthParams, up: bool) -> Health {
        let params = HealthParams {
            rise: params.rise.max(1),
            fall: params.fall.max(1),
            ..params
        };
        Health {
            params,
            health: if up { params.rise } else { 0 },
        }
    }

    /// The parameters (with `rise` and `fall` at least 1).
    pub fn params(&self) -> &HealthParams {
        &self.params
    }

    /// Whether the checks say the server is UP.
    pub fn is_up(&self) -> bool {
        self.health >= self.params.rise
    }

    /// The counter, in `0..=rise+fall-1`.
    pub fn health(&self) -> u32 {
        self.health
    }

    /// The largest value of the counter, `rise + fall - 1`.
    pub fn max(&self) -> u32 {
        self.params.rise.saturating_add(self.params.fall) - 1
    }

    /// Records a check result; returns the transition it caused, if any.
    ///
    /// Feed it [`CheckStatus::passed`](crate::CheckStatus::passed) of each
    /// finished check.
    pub fn record(&mut self, passed: bool) -> Option<Transition> {
        let was_up = self.is_up();
        if passed {
            if self.health < self.max() {
                self.health += 1;
                if self.health >= self.params.rise {
                    self.health = self.max();
                }
            }
        } else if self.health > 0 {
            self.health -= 1;
            if self.health < self.params.rise {
                self.health = 0;
            }
        }
        self.transition_from(was_up)
    }

    /// Forces a state (runtime API `set server ... health up|down`, passive
    /// `mark-down`): health to its maximum or to 0. Returns the transition,
    /// if any.
    pub fn force(&mut self, up: bool) -> Option<Transition> {
        let was_up = self.is_up();
        self.health = if up { self.max() } else { 0 };
        self.transition_from(was_up)
    }

    /// `on-error sudden-death`: an up server is left one failure away from
    /// down (health at `rise`), as if it had failed every check but the
    /// last. A down server is unchanged. Never a transition by itself.
    pub fn sudden_death(&mut self) {
        if self.is_up() {
            self.health = self.params.rise;
        }
    }

    /// HAProxy's `srv_getinter()`: the delay before the next check. Health
    /// 0 (fully down) uses `downinter`, the maximum (fully up) `inter`, and
    /// anything between (going up or down) `fastinter`, so a changing server
    /// is confirmed sooner; an unset interval falls back to `inter`.
    pub fn interval(&self) -> Duration {
        let p = &self.params;
        if self.health == 0 {
            p.downinter.unwrap_or(p.inter)
        } else if self.health >= self.max() {
            p.inter
        } else {
            p.fastinter.unwrap_or(p.inter)
        }
    }

    fn transition_from(&self, was_up: bool) -> Option<Transition> {
        match (was_up, self.is_up()) {
            (false, true) => Some(Transition::Up),
            (true, false) => Some(Transition::Down),
            _ => None,
        }
    }
}

/// `spread-checks <pct>`: `d` moved by a uniform random amount within
/// ±`pct`% (`pct` 0..=50, larger values are taken as 50 as HAProxy refuses
/// them; 0 = unchanged), from `random` (a uniform `u64`).
///
/// The result lies in `[d - d*pct/100, d + d*pct/100)`; `random = 2^63`
/// gives `d` itself. Spreading each interval keeps servers that were
/// checked together from staying in lock step forever.
pub fn spread(d: Duration, pct: u32, random: u64) -> Duration {
    let pct = u128::from(pct.min(50));
    if pct == 0 {
        return d;
    }
    // Capped at 2^64 ns (584 years; `gwd check` takes longer intervals):
    // then 2 * span * random stays within u128.
    let nanos = d.as_nanos().min(u128::from(u64::MAX));
    let span = nanos * pct / 100;
    // (2 * span) * random / 2^64: uniform in [0, 2 * span).
    let offset = (2 * span * u128::from(random)) >> 64;
    nanos_to_duration(nanos - span + offset)
}

/// When the first check of the `position`-th (0-based) of `count` checked
/// servers runs: `inter * position / count`, so the first checks of all
/// servers are spread evenly over one `inter` and 1,000 servers never check
/// at once (HAProxy's `start_checks()` does the same with the smallest
/// interval of all servers). A `position` at or past `count` wraps around;
/// `count` 0 gives zero.
pub fn first_delay(inter: Duration, position: usize, count: usize) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    let pos = (position % count) as u128;
    // Capped as in `spread`, so the product stays within u128.
    let inter = inter.as_nanos().min(u128::from(u64::MAX));
    nanos_to_duration(inter * pos / count as u128)
}

/// The grid a check of interval `interval` wakes on: the largest power of
/// two of milliseconds that is at most `interval / 64` and at most 16 ms
/// (at least 1 ms).
///
/// Why: 1,000 servers checked every 2 s are 500 checks a second; each
/// one waking the process on its own millisecond costs a sleep and a
/// wake-up in the kernel that is worth more than the check's own work.
/// Deadlines rounded up to a shared grid ([`on_tick`]) let the checks due
/// in one tick start in one wake-up, and their connects complete in one
/// poll. Powers of two keep the grids of different intervals aligned (a
/// 16 ms tick is also an 8 ms one), and `interval / 64` keeps the delay
/// added to any check under 1/64 of its interval.
pub fn check_tick(interval: Duration) -> Duration {
    let ms = (interval.as_millis() / 64).clamp(1, 16) as u64;
    // Round down to a power of two: 1, 2, 4, 8 or 16.
    Duration::from_millis(1 << (63 - ms.leading_zeros()))
}

/// `at` (a deadline, measured from any fixed origin shared by all checks)
/// rounded up to the next multiple of `tick` ([`check_tick`]); a deadline
/// already on the grid stays. A zero `tick` leaves `at` unchanged.
pub fn on_tick(at: Duration, tick: Duration) -> Duration {
    let t = tick.as_nanos();
    if t == 0 {
        return at;
    }
    let n = at.as_nanos();
    nanos_to_duration(n.div_ceil(t) * t)
}

fn nanos_to_duration(nanos: u128) -> Duration {
    const NS: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NS).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % NS) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Intervals of centuries (which the configuration accepts) neither
    /// overflow nor wrap: they are spread as 2^64 ns.
    #[test]
    fn huge_intervals_do_not_overflow() {
        let huge = Duration::from_secs(18_446_744_073_709);
        let capped = Duration::from_nanos(u64::MAX);
        for random in [0, 1 << 63, u64::MAX] {
            let d = spread(huge, 50, random);
            assert!(d >= capped / 2 && d <= capped + capped / 2, "{d:?}");
        }
        assert_eq!(spread(Duration::MAX, 50, 1 << 63), capped);
        assert!(first_delay(Duration::MAX, usize::MAX - 1, usize::MAX) < capped);
    }

    #[test]
    fn check_tick_is_a_power_of_two_of_ms_under_a_64th_of_the_interval() {
        let ms = Duration::from_millis;
        assert_eq!(check_tick(Duration::from_secs(2)), ms(16));
        assert_eq!(check_tick(Duration::from_secs(60)), ms(16));
        assert_eq!(check_tick(ms(1000)), ms(8));
        assert_eq!(check_tick(ms(500)), ms(4));
        assert_eq!(check_tick(ms(200)), ms(2));
        assert_eq!(check_tick(ms(100)), ms(1));
        assert_eq!(check_tick(ms(10)), ms(1));
        assert_eq!(check_tick(Duration::ZERO), ms(1));
    }

    #[test]
    fn on_tick_rounds_up_to_the_grid() {
        let ms = Duration::from_millis;
        assert_eq!(on_tick(ms(0), ms(16)), ms(0));
        assert_eq!(on_tick(ms(1), ms(16)), ms(16));
        assert_eq!(on_tick(ms(16), ms(16)), ms(16));
        assert_eq!(on_tick(Duration::from_nanos(16_000_001), ms(16)), ms(32));
        assert_eq!(on_tick(ms(7), Duration::ZERO), ms(7));
    }

    proptest! {
        #[test]
        fn on_tick_adds_less_than_a_tick_and_lands_on_every_smaller_grid(
            at in 0u64..10_000_000_000, interval in 0u64..100_000,
        ) {
            let at = Duration::from_nanos(at);
            let tick = check_tick(Duration::from_millis(interval));
            let t = on_tick(at, tick);
            prop_assert!(t >= at && t - at < tick);
            // A 16 ms grid point is also on the 8, 4, 2 and 1 ms grids.
            for smaller in [1u64, 2, 4, 8, 16] {
                let g = Duration::from_millis(smaller);
                if g <= tick {
                    prop_assert_eq!(on_tick(t, g), t);
                }
            }
        }
    }

    fn params(rise: u32, fall: u32) -> HealthParams {
        HealthParams {
            rise,
            fall,
            ..HealthParams::default()
        }
    }

    #[test]
    fn sudden_death_leaves_one_failure_to_down() {
        let mut h = Health::new(HealthParams::default(), true);
        h.record(true);
        assert_eq!(h.health(), h.max());
        h.sudden_death();
        assert!(h.is_up());
        assert_eq!(h.record(false), Some(Transition::Down));
        let mut down = Health::new(HealthParams::default(), false);
        down.sudden_death();
        assert_eq!(down.health(), 0);
    }

    #[test]
    fn defaults_are_haproxys() {
        let p = HealthParams::default();
        assert_eq!((p.rise, p.fall), (2, 3));
        assert_eq!(p.inter, Duration::from_secs(2));
        assert_eq!((p.fastinter, p.downinter), (None, None));
    }

    #[test]
    fn starting_up_falls_at_first_failure_then_needs_rise() {
        for rise in 1..5 {
            let mut h = Health::new(params(rise, 3), true);
            assert!(h.is_up());
            assert_eq!(h.health(), rise);
            assert_eq!(h.record(false), Some(Transition::Down));
            assert_eq!(h.health(), 0);
            for _ in 1..rise {
                assert_eq!(h.record(true), None);
                assert!(!h.is_up());
            }
            assert_eq!(h.record(true), Some(Transition::Up));
            assert_eq!(h.health(), rise + 3 - 1);
        }
    }

    #[test]
    fn starting_up_successes_make_it_fully_up() {
        let mut h = Health::new(params(2, 3), true);
        assert_eq!(h.record(true), None);
        assert_eq!(h.health(), 4);
        assert_eq!(h.record(true), None);
        assert_eq!(h.health(), 4);
    }

    #[test]
    fn starting_down_needs_rise_successes() {
        let mut h = Health::new(params(3, 2), false);
        assert!(!h.is_up());
        assert_eq!(h.health(), 0);
        assert_eq!(h.record(false), None);
        assert_eq!(h.health(), 0);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Transition::Up));
        assert_eq!(h.health(), 4);
    }

    #[test]
    fn a_failure_while_rising_starts_over() {
        let mut h = Health::new(params(3, 2), false);
        h.record(true);
        h.record(true);
        assert_eq!(h.health(), 2);
        assert_eq!(h.record(false), None);
        assert_eq!(h.health(), 0);
        h.record(true);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Transition::Up));
    }

    #[test]
    fn mixed_sequences_follow_the_counter() {
        // Fully up with rise 2 fall 3: health 4.
        let mut h = Health::new(params(2, 3), false);
        h.force(true);
        assert_eq!(h.health(), 4);
        // F S F F stays up: 3, 4, 3, 2.
        for (passed, health) in [(false, 3), (true, 4), (false, 3), (false, 2)] {
            assert_eq!(h.record(passed), None);
            assert_eq!(h.health(), health);
            assert!(h.is_up());
        }
        // From fully up, F F F goes down at the third.
        h.force(true);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(Transition::Down));
        assert_eq!(h.health(), 0);
    }

    #[test]
    fn force_sets_the_extremes() {
        let mut h = Health::new(params(2, 3), false);
        assert_eq!(h.force(false), None);
        assert_eq!(h.force(true), Some(Transition::Up));
        assert_eq!(h.health(), 4);
        assert_eq!(h.force(true), None);
        assert_eq!(h.force(false), Some(Transition::Down));
        assert_eq!(h.health(), 0);
        // An UP server at health `rise` forced up becomes fully up, no
        // transition.
        let mut h = Health::new(params(2, 3), true);
        assert_eq!(h.force(true), None);
        assert_eq!(h.health(), 4);
    }

    #[test]
    fn zero_rise_or_fall_is_taken_as_one() {
        let mut h = Health::new(params(0, 0), true);
        assert_eq!((h.params().rise, h.params().fall), (1, 1));
        assert_eq!(h.max(), 1);
        assert_eq!(h.record(false), Some(Transition::Down));
        assert_eq!(h.record(true), Some(Transition::Up));
    }

    #[test]
    fn interval_per_state() {
        let s = Duration::from_secs;
        let plain = params(2, 3);
        let mut h = Health::new(plain, false);
        assert_eq!(h.interval(), s(2));
        h.record(true);
        assert_eq!(h.interval(), s(2));
        h.force(true);
        assert_eq!(h.interval(), s(2));

        let tuned = HealthParams {
            fastinter: Some(s(1)),
            downinter: Some(s(10)),
            ..plain
        };
        let mut h = Health::new(tuned, false);
        assert_eq!(h.interval(), s(10), "fully down: downinter");
        h.record(true);
        assert_eq!(h.interval(), s(1), "rising: fastinter");
        h.record(true);
        assert_eq!(h.health(), 4);
        assert_eq!(h.interval(), s(2), "fully up: inter");
        h.record(false);
        assert_eq!(h.interval(), s(1), "falling: fastinter");
        // Starting UP at health `rise` is "between": fastinter.
        assert_eq!(Health::new(tuned, true).interval(), s(1));

        let only_fast = HealthParams {
            fastinter: Some(s(1)),
            ..plain
        };
        assert_eq!(Health::new(only_fast, false).interval(), s(2));
        let only_down = HealthParams {
            downinter: Some(s(7)),
            ..plain
        };
        assert_eq!(Health::new(only_down, true).interval(), s(2));
        assert_eq!(Health::new(only_down, false).interval(), s(7));
    }

    #[test]
    fn spread_bounds_and_identity() {
        let d = Duration::from_secs(10);
        assert_eq!(spread(d, 0, 12345), d);
        assert_eq!(spread(d, 10, 0), Duration::from_secs(9));
        assert_eq!(spread(d, 10, 1 << 63), d);
        let hi = spread(d, 10, u64::MAX);
        assert!(hi < Duration::from_secs(11) && hi > Duration::from_millis(10_999));
        // Above 50 % is taken as 50 %.
        assert_eq!(spread(d, 90, 0), Duration::from_secs(5));
        assert_eq!(spread(Duration::ZERO, 50, u64::MAX), Duration::ZERO);
    }

    #[test]
    fn first_delay_spreads_over_one_inter() {
        let inter = Duration::from_secs(2);
        let delays: Vec<Duration> = (0..4).map(|i| first_delay(inter, i, 4)).collect();
        assert_eq!(
            delays,
            vec![
                Duration::ZERO,
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_millis(1500)
            ]
        );
        assert_eq!(first_delay(inter, 0, 0), Duration::ZERO);
        assert_eq!(first_delay(inter, 5, 4), Duration::from_millis(500));
        let many: Vec<Duration> = (0..1000).map(|i| first_delay(inter, i, 1000)).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]));
        assert!(*many.last().unwrap() < inter);
    }

    proptest! {
        #[test]
        fn counter_invariants(
            rise in 1u32..6,
            fall in 1u32..6,
            start_up: bool,
            steps in proptest::collection::vec((any::<bool>(), 0u8..10), 0..200),
        ) {
            let mut h = Health::new(params(rise, fall), start_up);
            let mut last = if start_up { Transition::Up } else { Transition::Down };
            for (passed, force) in steps {
                let was_up = h.is_up();
                // Mostly checks, sometimes a forced state.
                let t = match force {
                    0 => h.force(passed),
                    _ => h.record(passed),
                };
                prop_assert!(h.health() < rise + fall);
                prop_assert_eq!(h.is_up(), h.health() >= rise);
                if let Some(t) = t {
                    prop_assert_ne!(t, last, "transitions alternate");
                    prop_assert_eq!(t == Transition::Up, h.is_up());
                    last = t;
                } else {
                    prop_assert_eq!(was_up, h.is_up());
                }
            }
        }

        #[test]
        fn spread_within_pct(secs in 0u64..100_000, pct in 0u32..=50, random: u64) {
            let d = Duration::from_millis(secs);
            let s = spread(d, pct, random);
            let span = d.as_nanos() * u128::from(pct) / 100;
            prop_assert!(s.as_nanos() + span >= d.as_nanos());
            prop_assert!(s.as_nanos() <= d.as_nanos() + span);
        }

        #[test]
        fn first_delay_below_inter(ms in 1u64..100_000, count in 1usize..5000, pos: usize) {
            let inter = Duration::from_millis(ms);
            prop_assert!(first_delay(inter, pos, count) < inter);
        }
    }
}
