//! Exponential backoff with full jitter ("AWS style") for re-dialing.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use gwd_backoff::{Backoff, BackoffConfig};
//!
//! // Any source of random u64s will do; this crate takes them as arguments.
//! let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
//! let mut random = move || {
//!     seed ^= seed << 13;
//!     seed ^= seed >> 7;
//!     seed ^= seed << 17;
//!     seed
//! };
//!
//! let mut slot = Backoff::new(BackoffConfig::default()); // 100 ms .. 5 s
//! // The peer refuses three times: wait a little longer each time.
//! for attempt in 0..3 {
//!     let wait = slot.failed(random());
//!     assert!(wait < BackoffConfig::default().ceiling(attempt));
//!     // std::thread::sleep(wait) or tokio::time::sleep(wait).await here.
//! }
//! // A connection that drops after a second does not reset the count...
//! let t0 = Instant::now();
//! slot.connected(t0);
//! slot.disconnected(t0 + Duration::from_secs(1), random());
//! assert_eq!(slot.attempts(), 4);
//! // ...one that stayed up `reset_after` (10 s by default) does.
//! slot.connected(t0);
//! let wait = slot.disconnected(t0 + Duration::from_secs(10), random());
//! assert_eq!((slot.attempts(), wait), (0, Duration::ZERO));
//! ```
//!
//! # Model
//!
//! A [`Backoff`] counts consecutive failed attempts `n`. Before the
//! next attempt the caller waits a delay drawn uniformly from
//! `[0, ceiling(n))`, where `ceiling(n) = min(cap, base * multiplier^n)`
//! ("full jitter": many dialers restarted at once spread out instead of
//! retrying in lock step). A success does not reset `n` by itself: a
//! connection resets it only once it has **stayed up** for at least
//! `reset_after`, so a peer that accepts and immediately drops connections
//! is still backed off.
//!
//! Invariants:
//! - every delay is `< ceiling(n) <= cap` (or zero when the ceiling is zero);
//! - the ceiling never decreases while attempts fail, and never exceeds `cap`;
//! - `n` returns to 0 only through a connection that lasted `reset_after`.
//!
//! This crate is pure: no tokio, no threads, no clock and no random number
//! generator of its own. Time is passed in as [`Instant`]s and randomness as
//! `u64` values, so tests are deterministic with a virtual clock. It depends
//! on `thiserror` only.

#![warn(missing_docs, unreachable_pub)]

use std::time::{Duration, Instant};

/// Why a [`BackoffConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackoffConfigError {
    /// `base` is larger than `cap`.
    #[error("backoff base ({base:?}) is larger than its cap ({cap:?})")]
    BaseAboveCap {
        /// The configured base delay.
        base: Duration,
        /// The configured cap.
        cap: Duration,
    },
    /// `multiplier` is below 1.
    #[error("backoff multiplier must be at least 1")]
    Multiplier,
}

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Ceiling of the first delay (attempt 0).
    pub base: Duration,
    /// Largest ceiling ever used.
    pub cap: Duration,
    /// Growth factor of the ceiling per failed attempt (2 = doubling).
    pub multiplier: u32,
    /// How long a connection must stay up before the attempt count resets.
    pub reset_after: Duration,
}

/// The default base: the ceiling of the first delay.
pub const DEFAULT_BASE: Duration = Duration::from_millis(100);

/// The default cap, 5 s. A slot waits a delay drawn uniformly under the
/// cap once failures have piled up, so after an outage a visitor may wait
/// up to the cap (half of it on average for one slot, `cap / (n + 1)` for
/// the first of `n` slots) before the first tunnel is back. HAProxy's
/// `rhttp` re-dials a fixed 1 s after a failure with no backoff at all; 30 s
/// (this crate's default until 2026-12) meant up to 30 s of 503 after the
/// gateway came back (7.2 s measured). 5 s keeps the worst case short
/// while the cost of waiting stays small: each slot probes a down gateway
/// about once per 2.5 s (a refused TCP connect), and when it comes back a
/// fleet's TLS handshakes are still spread over 5 s.
pub const DEFAULT_CAP: Duration = Duration::from_secs(5);

impl Default for BackoffConfig {
    /// 100 ms base, 5 s cap ([`DEFAULT_CAP`]), doubling, reset after 10 s
    /// up.
    fn default() -> Self {
        BackoffConfig {
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
            multiplier: 2,
            reset_after: Duration::from_secs(10),
        }
    }
}

impl BackoffConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), BackoffConfigError> {
        if self.base > self.cap {
            return Err(BackoffConfigError::BaseAboveCap {
                base: self.base,
                cap: self.cap,
            });
        }
        if self.multiplier == 0 {
            return Err(BackoffConfigError::Multiplier);
        }
        Ok(())
    }

    /// The ceiling for attempt number `attempt` (0-based):
    /// `min(cap, base * multiplier^attempt)`, saturating.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let mut c = self.base;
        for _ in 0..attempt {
            if c >= self.cap {
                return self.cap;
            }
            c = c.saturating_mul(self.multiplier);
        }
        c.min(self.cap)
    }
}

/// Scales `ceiling` by `random / 2^64`: a uniform draw in `[0, ceiling)`
/// (zero when the ceiling is zero).
pub fn full_jitter(ceiling: Duration, random: u64) -> Duration {
    let nanos = ceiling.as_nanos().min(u64::MAX as u128);
    let scaled = (nanos * random as u128) >> 64;
    Duration::from_nanos(scaled as u64)
}

/// The state of one re-dialing slot.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gwd_backoff::{Backoff, BackoffConfig};
///
/// let cfg = BackoffConfig {
///     base: Duration::from_millis(100),
///     cap: Duration::from_secs(1),
///     multiplier: 2,
///     reset_after: Duration::from_secs(5),
/// };
/// let mut b = Backoff::new(cfg);
/// // Two failures: delays drawn under 100 ms, then under 200 ms.
/// assert!(b.failed(u64::MAX) < Duration::from_millis(100));
/// assert!(b.failed(u64::MAX) < Duration::from_millis(200));
/// assert_eq!(b.attempts(), 2);
/// // A connection that stays up 5 s resets the count.
/// let t0 = Instant::now();
/// b.connected(t0);
/// assert_eq!(b.disconnected(t0 + Duration::from_secs(5), 0), Duration::ZERO);
/// assert_eq!(b.attempts(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    cfg: BackoffConfig,
    attempts: u32,
    up_since: Option<Instant>,
}

impl Backoff {
    /// A fresh slot: no failures, not connected.
    pub fn new(cfg: BackoffConfig) -> Self {
        Backoff {
            cfg,
            attempts: 0,
            up_since: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BackoffConfig {
        &self.cfg
    }

    /// Consecutive failed (or short-lived) attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The upper bound of the next delay.
    pub fn current_ceiling(&self) -> Duration {
        self.cfg.ceiling(self.attempts)
    }

    /// Whether a connection is currently counted as up.
    pub fn is_connected(&self) -> bool {
        self.up_since.is_some()
    }

    /// Records a failed attempt and returns how long to wait before the
    /// next one, drawn with full jitter from `random`.
    pub fn failed(&mut self, random: u64) -> Duration {
        self.up_since = None;
        let d = full_jitter(self.current_ceiling(), random);
        self.attempts = self.attempts.saturating_add(1);
        d
    }

    /// Records that a connection came up at `now`. The attempt count is
    /// kept until the connection has lasted `reset_after`.
    pub fn connected(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// Whether the current connection has been up long enough at `now`
    /// to reset the attempt count.
    pub fn is_stable(&self, now: Instant) -> bool {
        self.up_since
            .is_some_and(|t| now.saturating_duration_since(t) >= self.cfg.reset_after)
    }

    /// Records that the connection went away at `now` and returns the delay
    /// before re-dialing: zero when it stayed up `reset_after` (the attempt
    /// count resets), otherwise a jittered delay as for a failure.
    pub fn disconnected(&mut self, now: Instant, random: u64) -> Duration {
        if self.is_stable(now) {
            self.up_since = None;
            self.attempts = 0;
            Duration::ZERO
        } else {
            self.failed(random)
        }
    }

    /// Forgets every failure (e.g. after a configuration change).
    pub fn reset(&mut self) {
        self.attempts = 0;
        self.up_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BackoffConfig {
        BackoffConfig {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            multiplier: 2,
            reset_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn ceilings_double_then_cap() {
        let c = cfg();
        let ms: Vec<u128> = (0..7).map(|n| c.ceiling(n).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(c.ceiling(u32::MAX), c.cap);
    }

    #[test]
    fn full_jitter_extremes() {
        let c = Duration::from_millis(100);
        assert_eq!(full_jitter(c, 0), Duration::ZERO);
        assert!(full_jitter(c, u64::MAX) < c);
        assert!(full_jitter(c, u64::MAX) > Duration::from_micros(99_999));
        assert_eq!(full_jitter(c, 1 << 63), Duration::from_millis(50));
        assert_eq!(full_jitter(Duration::ZERO, u64::MAX), Duration::ZERO);
    }

    #[test]
    fn short_lived_connection_keeps_backing_off() {
        let mut b = Backoff::new(cfg());
        b.failed(0);
        b.failed(0);
        let t = Instant::now();
        b.connected(t);
        assert!(b.is_connected());
        let d = b.disconnected(t + Duration::from_secs(9), u64::MAX);
        assert_eq!(b.attempts(), 3);
        assert!(d < Duration::from_millis(400) && d > Duration::from_millis(399));
        assert!(!b.is_connected());
    }

    #[test]
    fn stable_connection_resets() {
        let mut b = Backoff::new(cfg());
        for _ in 0..10 {
            b.failed(7);
        }
        assert_eq!(b.current_ceiling(), Duration::from_millis(1000));
        let t = Instant::now();
        b.connected(t);
        assert!(!b.is_stable(t + Duration::from_millis(9999)));
        assert!(b.is_stable(t + Duration::from_secs(10)));
        assert_eq!(
            b.disconnected(t + Duration::from_secs(10), 7),
            Duration::ZERO
        );
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.current_ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn validate_rejects_bad_configs() {
        let mut c = cfg();
        c.base = Duration::from_secs(2);
        assert!(matches!(
            c.validate(),
            Err(BackoffConfigError::BaseAboveCap { .. })
        ));
        let mut c = cfg();
        c.multiplier = 0;
        assert_eq!(c.validate(), Err(BackoffConfigError::Multiplier));
        assert_eq!(cfg().validate(), Ok(()));
        assert_eq!(BackoffConfig::default().validate(), Ok(()));
    }

    #[test]
    fn default_cap_is_five_seconds_reached_after_six_failures() {
        let c = BackoffConfig::default();
        assert_eq!(c.cap, Duration::from_secs(5));
        let ms: Vec<u128> = (0..8).map(|n| c.ceiling(n).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // However long the outage, the wait after it is under the cap.
        let mut b = Backoff::new(c);
        for _ in 0..1000 {
            assert!(b.failed(u64::MAX) < DEFAULT_CAP);
        }
    }
}
