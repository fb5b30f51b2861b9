//! Gauges (`cur`, `max`, `total`) and the RAII [`Guard`]s that are the
//! only way to move them, so `cur` always equals the number of live guards.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::R;
use crate::counters::{ProxyCounters, ServerCounters};
use crate::rate::RawFreqCtr;

/// A gauge: current value, its high-water mark and the number of openings.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    pub(crate) cur: AtomicU64,
    max: AtomicU64,
    total: AtomicU64,
}

impl Gauge {
    #[inline]
    pub(crate) fn inc(&self) {
        let now = self.cur.fetch_add(1, R) + 1;
        self.total.fetch_add(1, R);
        self.max.fetch_max(now, R);
    }

    #[inline]
    pub(crate) fn dec(&self) {
        // Only called by a guard's drop, which pairs with exactly one `inc`;
        // so the value before this subtraction is at least 1.
        let prev = self.cur.fetch_sub(1, R);
        debug_assert!(prev > 0, "gauge decremented below zero");
    }

    pub(crate) fn reset_max(&self) {
        self.max.store(self.cur.load(R), R);
    }

    pub(crate) fn snapshot(&self) -> GaugeSnapshot {
        // Read `cur` first: a concurrent `inc` updates `cur` before `max`, but
        // reading in this order and clamping keeps `max >= cur` in the result.
        let cur = self.cur.load(R);
        let total = self.total.load(R);
        let max = self.max.load(R).max(cur);
        GaugeSnapshot {
            cur,
            max,
            total: total.max(cur),
        }
    }
}

/// A gauge with the rate of its openings and the time of the last one.
#[derive(Debug, Default)]
pub(crate) struct RatedGauge {
    pub(crate) gauge: Gauge,
    /// Openings per second (only those made through an `_at` method).
    pub(crate) rate: RawFreqCtr,
    /// Time of the last timed opening: nanoseconds since the epoch plus
    /// one; 0 means never.
    last: AtomicU64,
}

impl RatedGauge {
    /// Counts a timed opening's rate and time (the gauge itself is raised
    /// by the caller through [`Gauge::inc`]).
    #[inline]
    pub(crate) fn mark(&self, since_epoch: Duration, with_last: bool) {
        self.rate.add(since_epoch);
        if with_last {
            let t = u64::try_from(since_epoch.as_nanos())
                .unwrap_or(u64::MAX - 1)
                .saturating_add(1);
            // Newest wins, also against a concurrent opener with an older
            // clock reading; the load skips the read-modify-write when the
            // value is already newer.
            if t > self.last.load(R) {
                self.last.fetch_max(t, R);
            }
        }
    }

    /// Whole seconds from the last timed opening to `since_epoch`.
    pub(crate) fn age_s(&self, since_epoch: Duration) -> Option<u64> {
        let last = self.last.load(R).checked_sub(1)?;
        let now = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        Some(now.saturating_sub(last) / 1_000_000_000)
    }
}

/// Which gauge a [`Guard`] holds up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GaugeKind {
    /// Current transport connections.
    Connections,
    /// Current sessions.
    Sessions,
    /// Requests currently queued.
    Queue,
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Counter sets that own gauges: [`ProxyCounters`] and [`ServerCounters`].
/// Sealed; it exists so that [`Guard`] can be generic over its owner.
pub trait HasGauges: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn __gauge_dec(&self, kind: GaugeKind);
}

/// Holds one unit of a gauge ([`GaugeKind`]) of its owner; dropping it gives
/// the unit back. Keeps its owner alive (it holds an [`Arc`]), so it may be
/// moved into `'static` futures. Obtained from
/// [`ProxyCounters::conn_opened_at`], [`ProxyCounters::session_opened_at`],
/// [`ProxyCounters::queued`] and the [`ServerCounters`] equivalents.
#[must_use = "the gauge is decremented as soon as the guard is dropped"]
pub struct Guard<C: HasGauges> {
    pub(crate) owner: Arc<C>,
    pub(crate) kind: GaugeKind,
}

impl<C: HasGauges> Guard<C> {
    /// Which gauge this guard holds.
    pub fn kind(&self) -> GaugeKind {
        self.kind
    }

    /// The counters this guard belongs to.
    pub fn owner(&self) -> &Arc<C> {
        &self.owner
    }
}

impl<C: HasGauges> Drop for Guard<C> {
    #[inline]
    fn drop(&mut self) {
        self.owner.__gauge_dec(self.kind);
    }
}

impl<C: HasGauges> fmt::Debug for Guard<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").field("kind", &self.kind).finish()
    }
}

/// A guard on a frontend's or backend's gauge.
pub type ProxyGuard = Guard<ProxyCounters>;
/// A guard on a server's gauge.
pub type ServerGuard = Guard<ServerCounters>;

/// A gauge's values at snapshot time. `max >= cur` and `total >= cur` always
/// hold in a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GaugeSnapshot {
    /// Current value.
    pub cur: u64,
    /// Highest value seen since creation or the last `reset_max`.
    pub max: u64,
    /// Number of openings ever.
    pub total: u64,
}
