//! Event rates over a sliding second, sliding timing averages, and the plain
//! [`RateSnapshot`] they are read into.
//!
//! # Model
//!
//! Time is a [`Duration`] since an *epoch* (an [`Instant`] fixed once per
//! counter set). A *period* is one whole second of it: period `p` covers
//! `[p s, p+1 s)` after the epoch, so periods are aligned on the epoch.
//!
//! A frequency counter keeps two slots, indexed by the parity of the period.
//! Each slot is one `AtomicU64` packing `period << 32 | count`, so a slot says
//! by itself which period its count belongs to, and a reader never needs a
//! second word to be in step with the first. Invariants:
//! * a slot's count is the number of `add`s made while its period was the
//!   slot's (give or take an `add` delayed by two whole seconds between its
//!   two atomic operations, which lands in a later period instead);
//! * a slot changes period only through a compare-and-swap from the exact
//!   word it replaces, and the replaced count is then folded into the
//!   running maximum: so every period's final count is, at every instant,
//!   either still in a slot or already in the maximum;
//! * the rate read at `t` (in period `p`, a fraction `f` of the way through
//!   it) is `count(p) + count(p-1) * (1 - f)`, with a missing period
//!   counting 0: two idle seconds bring it to 0.
//!
//! The maximum is the highest count of any single period, the current one
//! included (it is what HAProxy's `rate_max` columns report); the sliding
//! rate may briefly exceed it when a burst straddles two periods.
//!
//! Timings keep, per measure, a sum in microseconds that is "average ×
//! samples" while there are at most [`TIME_SAMPLES`] samples (an exact mean),
//! and then slides: `sum ← sum − sum/N + sample`, so the average forgets old
//! samples with a time constant of `N` samples (sliding updates from two
//! threads at the same instant may lose one of the samples).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const R: Ordering = Ordering::Relaxed;
const NANOS_PER_SEC: u64 = 1_000_000_000;
const COUNT_MASK: u64 = u32::MAX as u64;

/// How many recent samples the timing averages ([`RateSnapshot::qtime_ms`]
/// and the others) cover once they are full.
pub const TIME_SAMPLES: u64 = 1024;

/// Largest sample a timing average accepts, in microseconds (about 35
/// years); larger samples are clamped so sums cannot overflow.
const MAX_SAMPLE_US: u64 = 1 << 50;

#[inline]
fn pack(period: u32, count: u64) -> u64 {
    (u64::from(period) << 32) | count
}

#[inline]
fn period_of(word: u64) -> u32 {
    (word >> 32) as u32
}

#[inline]
fn count_of(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The period a time since the epoch falls in (saturating after about 136
/// years).
#[inline]
fn period(since_epoch: Duration) -> u32 {
    u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX)
}

/// The frequency counter without its epoch: callers pass the time since
/// their own epoch. Counter sets share one epoch among several of these.
#[derive(Debug, Default)]
pub(crate) struct RawFreqCtr {
    slots: [AtomicU64; 2],
    /// Highest count of a period that has left the slots.
    max: AtomicU64,
}

impl RawFreqCtr {
    /// Counts one event at `since_epoch`. One load and one `fetch_add` while
    /// the period is unchanged; a compare-and-swap (then a `fetch_max`) for
    /// the first event of a period.
    #[inline]
    pub(crate) fn add(&self, since_epoch: Duration) {
        let p = period(since_epoch);
        let slot = &self.slots[(p & 1) as usize];
        let mut word = slot.load(R);
        loop {
            // `>=`: a caller whose clock reading is older than the slot's
            // period counts in that newer period rather than reviving an old
            // one.
            if period_of(word) >= p {
                slot.fetch_add(1, R);
                return;
            }
            match slot.compare_exchange_weak(word, pack(p, 1), R, R) {
                Ok(_) => {
                    self.max.fetch_max(count_of(word), R);
                    return;
                }
                Err(seen) => word = seen,
            }
        }
    }

    /// The count of period `p`, 0 if no slot holds it.
    #[inline]
    fn count_in(&self, p: u32) -> u64 {
        let word = self.slots[(p & 1) as usize].load(R);
        if period_of(word) == p {
            count_of(word)
        } else {
            0
        }
    }

    /// Events over the second before `since_epoch`: this period's count plus
    /// the previous period's weighted by the part of this period still to
    /// come.
    pub(crate) fn rate(&self, since_epoch: Duration) -> u64 {
        let p = period(since_epoch);
        let cur = self.count_in(p);
        let prev = match p.checked_sub(1) {
            Some(q) => self.count_in(q),
            None => 0,
        };
        let remaining = NANOS_PER_SEC - u64::from(since_epoch.subsec_nanos());
        // prev < 2^32 and remaining <= 10^9 < 2^30: no overflow.
        cur + prev * remaining / NANOS_PER_SEC
    }

    /// The highest count of one period since creation or the last
    /// [`reset_max`](Self::reset_max) (see the module docs for what a reset
    /// keeps).
    pub(crate) fn max(&self) -> u64 {
        let a = count_of(self.slots[0].load(R));
        let b = count_of(self.slots[1].load(R));
        self.max.load(R).max(a).max(b)
    }

    /// Forgets the maximum of periods that have left the slots. The two
    /// periods still in the slots (the current and the previous one) keep
    /// counting towards the maximum.
    pub(crate) fn reset_max(&self) {
        self.max.store(0, R);
    }
}

/// A lock-free count of events over a sliding one-second window, with the
/// highest one-second count seen (HAProxy's `freq_ctr` idea).
///
/// Time is passed in: [`add`](Self::add) and [`rate`](Self::rate) take the
/// caller's `Instant`, measured against the epoch given at construction
/// (instants before the epoch count as the epoch). Periods are whole seconds
/// after the epoch. See the crate docs ("Rates and timings") for the model.
///
/// * `add` is one atomic load and one `fetch_add` while the second has not
///   changed; the first event of a new second swaps the slot with a
///   compare-and-swap.
/// * `rate(t)` = events in `t`'s second + events in the second before,
///   weighted by how much of `t`'s second is still to come; 0 after two idle
///   seconds.
/// * `max()` = the highest count of a single second, the current one
///   included.
/// * Each slot holds at most 2^32 − 1 events per second.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gwd_stats::FreqCtr;
///
/// let t0 = Instant::now();
/// let at = |ms| t0 + Duration::from_millis(ms);
/// let f = FreqCtr::new(t0);
/// for _ in 0..100 {
///     f.add(at(500)); // 100 events in second 0
/// }
/// assert_eq!(f.rate(at(900)), 100);
/// // A quarter into second 1, three quarters of second 0 still count.
/// assert_eq!(f.rate(at(1_250)), 75);
/// assert_eq!(f.rate(at(2_000)), 0); // second 0 is out of the window
/// assert_eq!(f.max(), 100);
/// ```
#[derive(Debug)]
pub struct FreqCtr {
    epoch: Instant,
    raw: RawFreqCtr,
}

impl FreqCtr {
    /// A counter with no events, whose periods start at `epoch`.
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            raw: RawFreqCtr::default(),
        }
    }

    /// The instant periods are counted from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Counts one event at `now`.
    #[inline]
    pub fn add(&self, now: Instant) {
        self.raw.add(now.saturating_duration_since(self.epoch));
    }

    /// Events over the second before `now` (see the type docs).
    pub fn rate(&self, now: Instant) -> u64 {
        self.raw.rate(now.saturating_duration_since(self.epoch))
    }

    /// The highest number of events counted in one second (period) since
    /// creation or the last [`reset_max`](Self::reset_max).
    pub fn max(&self) -> u64 {
        self.raw.max()
    }

    /// Restarts the maximum. The current and previous seconds still count
    /// towards it (their counts are needed by [`rate`](Self::rate)), older
    /// ones no longer do.
    pub fn reset_max(&self) {
        self.raw.reset_max();
    }
}

/// Index of the queue time in [`Timings`]' arrays.
pub(crate) const QUEUE: usize = 0;
/// Index of the connect time.
pub(crate) const CONNECT: usize = 1;
/// Index of the response time.
pub(crate) const RESPONSE: usize = 2;
/// Index of the total time.
pub(crate) const TOTAL: usize = 3;

/// Sliding averages and maxima of the four request timings, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    /// Requests recorded.
    samples: AtomicU64,
    /// Per timing: average × min(samples, N), in µs.
    sums: [AtomicU64; 4],
    /// Per timing: the largest sample, in µs.
    maxes: [AtomicU64; 4],
}

/// Microseconds in `d`, clamped to [`MAX_SAMPLE_US`].
#[inline]
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(MAX_SAMPLE_US)
}

/// Rounds microseconds to the nearest millisecond.
#[inline]
fn us_to_ms(us: u64) -> u64 {
    us.saturating_add(500) / 1000
}

impl Timings {
    /// Adds one request's timings.
    pub(crate) fn record(
        &self,
        queue: Duration,
        connect: Duration,
        response: Duration,
        total: Duration,
    ) {
        let mut vals = [0; 4];
        vals[QUEUE] = micros(queue);
        vals[CONNECT] = micros(connect);
        vals[RESPONSE] = micros(response);
        vals[TOTAL] = micros(total);
        let k = self.samples.fetch_add(1, R) + 1;
        for ((sum, max), v) in self.sums.iter().zip(&self.maxes).zip(vals) {
            if k <= TIME_SAMPLES {
                // Still filling: the exact sum.
                sum.fetch_add(v, R);
            } else {
                // Full: slide, with a plain load and store. Two threads
                // recording at the same instant may lose one sample, which
                // a sliding average absorbs (HAProxy's are not exact
                // either); a compare-and-swap loop cost a locked
                // instruction per timing on every request.
                let s = sum.load(R);
                sum.store(s - s / TIME_SAMPLES + v, R);
            }
            if v > max.load(R) {
                max.fetch_max(v, R);
            }
        }
    }

    /// `(averages, maxima)` in milliseconds, indexed by [`QUEUE`],
    /// [`CONNECT`], [`RESPONSE`] and [`TOTAL`].
    pub(crate) fn read_ms(&self) -> ([u64; 4], [u64; 4]) {
        let n = self.samples.load(R).min(TIME_SAMPLES);
        let mut avg = [0; 4];
        let mut max = [0; 4];
        for i in 0..4 {
            // No sample yet: 0.
            avg[i] = us_to_ms(self.sums[i].load(R).checked_div(n).unwrap_or(0));
            max[i] = us_to_ms(self.maxes[i].load(R));
        }
        (avg, max)
    }

    /// Forgets the maxima (averages are kept).
    pub(crate) fn reset_max(&self) {
        for m in &self.maxes {
            m.store(0, R);
        }
    }
}

/// Where a row sits in HAProxy's `show stat`, which decides the rate and
/// timing columns it has ([`RateSnapshot::haproxy_columns`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// A frontend: `rate`, `req_rate`, `conn_rate` and their maxima.
    Frontend,
    /// A backend: `rate`, `rate_max`, timings and `lastsess`.
    Backend,
    /// A server: as a backend.
    Server,
}

/// Rates, timing averages and the age of the last session of one counter
/// set, in HAProxy's units. Field for field the same names, types and
/// meanings as `gwd_admin::RowRates`, so converting is a plain copy; `None`
/// means "no value" (an empty column).
///
/// Built by `rates_at` on [`ProxyCounters`](crate::ProxyCounters) and
/// [`ServerCounters`](crate::ServerCounters), which fill every measured
/// value, and by [`Registry::rates_at`](crate::Registry::rates_at), which
/// also blanks the columns HAProxy leaves empty for the row's kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSnapshot {
    /// `rate`: sessions over the last second
    /// ([`session_opened_at`](crate::ProxyCounters::session_opened_at)).
    pub rate: Option<u64>,
    /// `rate_max`: most sessions counted in one second.
    pub rate_max: Option<u64>,
    /// `req_rate`: requests over the last second
    /// ([`request_at`](crate::ProxyCounters::request_at)).
    pub req_rate: Option<u64>,
    /// `req_rate_max`: most requests counted in one second.
    pub req_rate_max: Option<u64>,
    /// `conn_rate`: connections over the last second
    /// ([`conn_opened_at`](crate::ProxyCounters::conn_opened_at)).
    pub conn_rate: Option<u64>,
    /// `conn_rate_max`: most connections counted in one second.
    pub conn_rate_max: Option<u64>,
    /// `qtime`: average queue time over the last [`TIME_SAMPLES`] requests,
    /// ms (0 before any sample).
    pub qtime_ms: Option<u64>,
    /// `ctime`: average connect time, ms.
    pub ctime_ms: Option<u64>,
    /// `rtime`: average response time, ms.
    pub rtime_ms: Option<u64>,
    /// `ttime`: average total time, ms.
    pub ttime_ms: Option<u64>,
    /// `qtime_max`: largest queue time, ms.
    pub qtime_max_ms: Option<u64>,
    /// `ctime_max`: largest connect time, ms.
    pub ctime_max_ms: Option<u64>,
    /// `rtime_max`: largest response time, ms.
    pub rtime_max_ms: Option<u64>,
    /// `ttime_max`: largest total time, ms.
    pub ttime_max_ms: Option<u64>,
    /// `lastsess`: whole seconds since the last session opened with
    /// [`session_opened_at`](crate::ProxyCounters::session_opened_at);
    /// `None` if none was.
    pub lastsess_s: Option<u64>,
}

impl RateSnapshot {
    /// Keeps only the columns HAProxy fills for `kind`, setting the others
    /// to `None`: frontends keep the three rates and their maxima;
    /// backends and servers keep `rate`, `rate_max`, the timings and
    /// `lastsess`.
    ///
    /// ```
    /// use gwd_stats::{RateSnapshot, RowKind};
    ///
    /// let all = RateSnapshot { rate: Some(3), req_rate: Some(5), qtime_ms: Some(1), ..Default::default() };
    /// let fe = all.haproxy_columns(RowKind::Frontend);
    /// assert_eq!((fe.rate, fe.req_rate, fe.qtime_ms), (Some(3), Some(5), None));
    /// let be = all.haproxy_columns(RowKind::Backend);
    /// assert_eq!((be.rate, be.req_rate, be.qtime_ms), (Some(3), None, Some(1)));
    /// ```
    pub fn haproxy_columns(self, kind: RowKind) -> Self {
        match kind {
            RowKind::Frontend => Self {
                rate: self.rate,
                rate_max: self.rate_max,
                req_rate: self.req_rate,
                req_rate_max: self.req_rate_max,
                conn_rate: self.conn_rate,
                conn_rate_max: self.conn_rate_max,
                ..Self::default()
            },
            RowKind::Backend | RowKind::Server => Self {
                req_rate: None,
                req_rate_max: None,
                conn_rate: None,
                conn_rate_max: None,
                ..self
            },
        }
    }
}

/// The rates of a whole [`Registry`](crate::Registry), in registry order
/// (the shape of `gwd_admin::RatesSnapshot`). Each row is already trimmed
/// with [`RateSnapshot::haproxy_columns`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryRates {
    /// Per frontend.
    pub frontends: Vec<RateSnapshot>,
    /// Per backend.
    pub backends: Vec<RateSnapshot>,
    /// Per backend, per server.
    pub servers: Vec<Vec<RateSnapshot>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pack_roundtrip() {
        let w = pack(7, 42);
        assert_eq!((period_of(w), count_of(w)), (7, 42));
        let w = pack(u32::MAX, COUNT_MASK);
        assert_eq!((period_of(w), count_of(w)), (u32::MAX, COUNT_MASK));
    }

    #[test]
    fn period_saturates() {
        assert_eq!(period(Duration::from_secs(u64::MAX)), u32::MAX);
        assert_eq!(period(ms(1_999)), 1);
    }

    #[test]
    fn rolled_out_counts_reach_max() {
        let f = RawFreqCtr::default();
        for _ in 0..9 {
            f.add(ms(100)); // period 0, slot 0
        }
        f.add(ms(1_100)); // period 1, slot 1
        f.add(ms(2_100)); // period 2 replaces period 0 in slot 0
        assert_eq!(f.max.load(R), 9, "the replaced count went to max");
        assert_eq!(f.max(), 9);
        f.reset_max();
        assert_eq!(f.max(), 1, "slots still count after a reset");
    }

    #[test]
    fn stale_add_counts_in_newer_period() {
        let f = RawFreqCtr::default();
        f.add(ms(2_500)); // period 2, slot 0
        f.add(ms(500)); // period 0 (stale), slot 0 holds period 2
        assert_eq!(f.rate(ms(2_600)), 2);
        assert_eq!(f.rate(ms(600)), 0, "period 0 is not in a slot");
    }

    #[test]
    fn timings_fill_then_slide() {
        let t = Timings::default();
        assert_eq!(t.read_ms(), ([0; 4], [0; 4]));
        t.record(ms(1), ms(2), ms(3), ms(4));
        assert_eq!(t.read_ms(), ([1, 2, 3, 4], [1, 2, 3, 4]));
        t.record(ms(3), ms(2), ms(1), ms(8));
        assert_eq!(t.read_ms(), ([2, 2, 2, 6], [3, 2, 3, 8]));
    }

    #[test]
    fn micros_clamp_and_rounding() {
        assert_eq!(micros(Duration::MAX), MAX_SAMPLE_US);
        assert_eq!(us_to_ms(1_499), 1);
        assert_eq!(us_to_ms(1_500), 2);
        assert_eq!(us_to_ms(u64::MAX), u64::MAX / 1000);
    }
}
