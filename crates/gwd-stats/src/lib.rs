//! Statistics counters for gwd's frontends, backends and servers.
//!
//! # Model
//!
//! Each proxy (frontend or backend) owns a [`ProxyCounters`]; each server owns
//! a [`ServerCounters`]. Both live behind an [`Arc`] and are updated from any
//! thread without locks: every counter is an atomic updated with
//! [`Ordering::Relaxed`]. Relaxed is enough because no counter is used to
//! synchronise other memory; each is an independent tally, and a
//! [`snapshot`](ProxyCounters::snapshot) is a per-field read, not a consistent
//! cut across fields.
//!
//! There are two kinds of counter:
//! * **monotonic counters** (requests, responses by class, bytes, errors,
//!   denials, connect attempts, reuses) only grow; they wrap only after 2^64
//!   increments;
//! * **gauges** (current connections, sessions, queued requests) carry
//!   `cur`, `max` and `total`. They are changed only through RAII guards
//!   ([`Guard`]): opening increments `cur` and `total` and raises `max` to at
//!   least the new `cur`; dropping the guard decrements `cur`.
//!
//! Invariants, holding at every instant for every gauge:
//! * `cur` equals the number of live guards of that gauge, so it never goes
//!   negative or wraps, and is exactly 0 once every guard is dropped (also
//!   when guards are dropped by unwinding or early returns);
//! * `max >= ` every value `cur` has had since the last
//!   [`reset_max`](ProxyCounters::reset_max);
//! * `total` counts guards ever created.
//!
//! (Leaking a guard with [`std::mem::forget`] leaves `cur` raised: don't.)
//!
//! Hot groups of counters sit on separate cache lines so that, e.g., the
//! connection gauge touched on accept does not false-share with the request
//! counters touched per request.
//!
//! A [`Registry`] holds the counters of a whole configuration (frontends,
//! backends and their servers, in configuration order) and produces a
//! [`RegistrySnapshot`] of plain structs.
//!
//! # Rates and timings
//!
//! Besides the tallies above, each counter set measures (for HAProxy's
//! `show stat` columns, read with [`rates_at`](ProxyCounters::rates_at) into
//! a [`RateSnapshot`], or [`Registry::rates_at`] into a [`RegistryRates`]):
//! * **rates**: sessions (`rate`), requests (`req_rate`) and connections
//!   (`conn_rate`) per second over a sliding one-second window, each with the
//!   highest count of a single second (`*_max`). Each is a lock-free
//!   frequency counter ([`FreqCtr`] is the stand-alone type): per second of
//!   time since an epoch, a slot packs the second's number with its count in
//!   one atomic word, so counting is one load plus one `fetch_add` while the
//!   second is unchanged, and the first event of a second swaps the slot in
//!   with a compare-and-swap, folding the replaced second's final count into
//!   the maximum. The rate at `t` is the count of `t`'s second plus the
//!   previous second's count weighted by how much of `t`'s second is left;
//!   two idle seconds bring it to 0;
//! * **timings** (backends and servers): queue, connect, response and total
//!   time per request ([`record_timings`](ProxyCounters::record_timings)),
//!   as averages over the last [`TIME_SAMPLES`] requests (an exact mean until
//!   that many, then a sliding average `sum ← sum − sum/N + sample`) and
//!   maxima, kept in microseconds and read in milliseconds;
//! * **`lastsess`**: the time of the newest session opening, read as whole
//!   seconds before the `now` given to `rates_at`.
//!
//! Like a snapshot, [`rates_at`](ProxyCounters::rates_at) reads each word
//! independently: while another thread records timings, an average may pair
//! a sample count and a sum a few samples apart. Rate counts are exact (an
//! `add` delayed by two whole seconds between its two atomic operations is
//! counted in a later second).
//!
//! ## Passing time
//!
//! The crate never reads the clock: time is an [`Instant`] argument. The
//! timed variants [`request_at`](ProxyCounters::request_at),
//! [`session_opened_at`](ProxyCounters::session_opened_at) and
//! [`conn_opened_at`](ProxyCounters::conn_opened_at) take the `now` the
//! caller already has (e.g. the accept or request-start instant it logs), and
//! do what the untimed [`request`](ProxyCounters::request),
//! [`session_opened`](ProxyCounters::session_opened) and
//! [`conn_opened`](ProxyCounters::conn_opened) do, plus the rate (and, for
//! sessions, `lastsess`). The untimed methods keep their cost and do **not**
//! feed rates or `lastsess`: callers migrate by switching to the `_at`
//! variants. Instants are measured from the counter set's *epoch*: the one
//! given to [`ProxyCounters::with_epoch`] / [`Registry::with_epoch`]
//! (typically the process start, so all rows' seconds line up), or else the
//! `now` of its first timed event. An instant before the epoch counts as the
//! epoch; an instant older than the newest second already counted is counted
//! in that newer second.
//!
//! ```
//! use std::sync::Arc;
//! use gwd_stats::ProxyCounters;
//!
//! let fe = Arc::new(ProxyCounters::new());
//! {
//!     let _conn = fe.conn_opened();       // cur=1, total=1, max=1
//!     fe.request();
//!     fe.bytes_in(120);
//!     fe.response(200);
//!     fe.bytes_out(4096);
//!     assert_eq!(fe.snapshot().conns.cur, 1);
//! }                                       // guard dropped: cur back to 0
//! let s = fe.snapshot();
//! assert_eq!((s.conns.cur, s.conns.max, s.conns.total), (0, 1, 1));
//! assert_eq!(s.requests, 1);
//! assert_eq!(s.responses.r2xx, 1);
//! assert_eq!((s.bytes_in, s.bytes_out), (120, 4096));
//! ```
//!
//! With time:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use gwd_stats::ServerCounters;
//!
//! let start = Instant::now();
//! let srv = Arc::new(ServerCounters::with_epoch(start));
//! let t = start + Duration::from_millis(10_200);
//! for _ in 0..4 {
//!     let _sess = srv.session_opened_at(t);
//!     srv.request_at(t);
//!     srv.record_timings(
//!         Duration::from_millis(1),  // queued
//!         Duration::from_millis(3),  // connecting
//!         Duration::from_millis(20), // waiting for the response headers
//!         Duration::from_millis(50), // in all
//!     );
//! }
//! let r = srv.rates_at(t + Duration::from_millis(1_300)); // 11.5 s
//! // Second 11, half gone: half of second 10's four sessions still count.
//! assert_eq!((r.rate, r.rate_max), (Some(2), Some(4)));
//! assert_eq!((r.ctime_ms, r.ttime_ms, r.ttime_max_ms), (Some(3), Some(50), Some(50)));
//! assert_eq!(r.lastsess_s, Some(1));
//! assert_eq!(srv.snapshot().counters.requests, 4);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod rate;

use rate::{CONNECT, QUEUE, RESPONSE, RawFreqCtr, TOTAL, Timings};
pub use rate::{FreqCtr, RateSnapshot, RegistryRates, RowKind, TIME_SAMPLES};

const R: Ordering = Ordering::Relaxed;

/// Aligns its content to 128 bytes (two 64-byte lines, covering the
/// adjacent-line prefetcher on x86 and the 128-byte lines of some ARM parts)
/// so two groups of hot counters never share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// A gauge: current value, its high-water mark and the number of openings.
#[derive(Debug, Default)]
struct Gauge {
    cur: AtomicU64,
    max: AtomicU64,
    total: AtomicU64,
}

impl Gauge {
    #[inline]
    fn inc(&self) {
        let now = self.cur.fetch_add(1, R) + 1;
        self.total.fetch_add(1, R);
        self.max.fetch_max(now, R);
    }

    #[inline]
    fn dec(&self) {
        // Only called by a guard's drop, which pairs with exactly one `inc`;
        // so the value before this subtraction is at least 1.
        let prev = self.cur.fetch_sub(1, R);
        debug_assert!(prev > 0, "gauge decremented below zero");
    }

    fn reset_max(&self) {
        self.max.store(self.cur.load(R), R);
    }

    fn snapshot(&self) -> GaugeSnapshot {
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
struct RatedGauge {
    gauge: Gauge,
    /// Openings per second (only those made through an `_at` method).
    rate: RawFreqCtr,
    /// Time of the last timed opening: nanoseconds since the epoch plus
    /// one; 0 means never.
    last: AtomicU64,
}

impl RatedGauge {
    /// Counts a timed opening's rate and time (the gauge itself is raised
    /// by the caller through [`Gauge::inc`]).
    #[inline]
    fn mark(&self, since_epoch: Duration, with_last: bool) {
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
    fn age_s(&self, since_epoch: Duration) -> Option<u64> {
        let last = self.last.load(R).checked_sub(1)?;
        let now = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        Some(now.saturating_sub(last) / 1_000_000_000)
    }
}

/// Counters touched once or twice per request.
#[derive(Debug, Default)]
struct RequestCounters {
    requests: AtomicU64,
    responses: [AtomicU64; 6],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Requests per second (only those counted by `request_at`).
    rate: RawFreqCtr,
}

/// Rarely touched counters (errors, denials).
#[derive(Debug, Default)]
struct ErrorCounters {
    req_errors: AtomicU64,
    conn_errors: AtomicU64,
    resp_errors: AtomicU64,
    denied: AtomicU64,
    retries: AtomicU64,
    redispatches: AtomicU64,
    failed_rewrites: AtomicU64,
}

/// Everything frontends, backends and servers share.
#[derive(Debug, Default)]
struct Common {
    conns: Padded<RatedGauge>,
    sessions: Padded<RatedGauge>,
    queue: Padded<Gauge>,
    req: Padded<RequestCounters>,
    err: Padded<ErrorCounters>,
    timings: Padded<Timings>,
    /// What rates and `lastsess` measure time from: set at construction
    /// ([`ProxyCounters::with_epoch`]) or by the first timed event.
    epoch: Padded<OnceLock<Instant>>,
}

impl Common {
    fn with_epoch(epoch: Instant) -> Self {
        let c = Self::default();
        // A fresh OnceLock: cannot already be set.
        let _ = c.epoch.0.set(epoch);
        c
    }

    #[inline]
    fn gauge(&self, kind: GaugeKind) -> &Gauge {
        match kind {
            GaugeKind::Connections => &self.conns.0.gauge,
            GaugeKind::Sessions => &self.sessions.0.gauge,
            GaugeKind::Queue => &self.queue.0,
        }
    }

    /// Time from the epoch to `now`, fixing the epoch at `now` if unset.
    #[inline]
    fn since_epoch(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.epoch.0.get_or_init(|| now))
    }

    fn rates_at(&self, now: Instant) -> RateSnapshot {
        // Before any timed event (and without an explicit epoch) nothing
        // was counted: every rate reads 0 whatever the duration.
        let since = self
            .epoch
            .0
            .get()
            .map_or(Duration::ZERO, |e| now.saturating_duration_since(*e));
        let (avg, max) = self.timings.0.read_ms();
        let sess = &self.sessions.0;
        let conns = &self.conns.0;
        let req = &self.req.0.rate;
        RateSnapshot {
            rate: Some(sess.rate.rate(since)),
            rate_max: Some(sess.rate.max()),
            req_rate: Some(req.rate(since)),
            req_rate_max: Some(req.max()),
            conn_rate: Some(conns.rate.rate(since)),
            conn_rate_max: Some(conns.rate.max()),
            qtime_ms: Some(avg[QUEUE]),
            ctime_ms: Some(avg[CONNECT]),
            rtime_ms: Some(avg[RESPONSE]),
            ttime_ms: Some(avg[TOTAL]),
            qtime_max_ms: Some(max[QUEUE]),
            ctime_max_ms: Some(max[CONNECT]),
            rtime_max_ms: Some(max[RESPONSE]),
            ttime_max_ms: Some(max[TOTAL]),
            lastsess_s: sess.age_s(since),
        }
    }

    #[inline]
    fn response(&self, status: u16) {
        self.req.0.responses[ResponseClass::of(status) as usize].fetch_add(1, R);
    }

    fn reset_max(&self) {
        self.conns.0.gauge.reset_max();
        self.sessions.0.gauge.reset_max();
        self.queue.0.reset_max();
        self.conns.0.rate.reset_max();
        self.sessions.0.rate.reset_max();
        self.req.0.rate.reset_max();
        self.timings.0.reset_max();
    }

    fn snapshot(&self) -> ProxySnapshot {
        let r = &self.req.0;
        let e = &self.err.0;
        let c = |i: ResponseClass| r.responses[i as usize].load(R);
        ProxySnapshot {
            conns: self.conns.0.gauge.snapshot(),
            sessions: self.sessions.0.gauge.snapshot(),
            queue: self.queue.0.snapshot(),
            requests: r.requests.load(R),
            responses: ResponseClasses {
                r1xx: c(ResponseClass::Informational),
                r2xx: c(ResponseClass::Success),
                r3xx: c(ResponseClass::Redirection),
                r4xx: c(ResponseClass::ClientError),
                r5xx: c(ResponseClass::ServerError),
                other: c(ResponseClass::Other),
            },
            bytes_in: r.bytes_in.load(R),
            bytes_out: r.bytes_out.load(R),
            req_errors: e.req_errors.load(R),
            conn_errors: e.conn_errors.load(R),
            resp_errors: e.resp_errors.load(R),
            denied: e.denied.load(R),
            retries: e.retries.load(R),
            redispatches: e.redispatches.load(R),
            failed_rewrites: e.failed_rewrites.load(R),
        }
    }
}

/// The class of an HTTP status code, as counted by
/// [`ProxyCounters::response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseClass {
    /// 100–199.
    Informational = 0,
    /// 200–299.
    Success = 1,
    /// 300–399.
    Redirection = 2,
    /// 400–499.
    ClientError = 3,
    /// 500–599.
    ServerError = 4,
    /// Anything else (e.g. 0 for "no response", or 600+).
    Other = 5,
}

impl ResponseClass {
    /// Classifies a status code.
    ///
    /// ```
    /// use gwd_stats::ResponseClass;
    /// assert_eq!(ResponseClass::of(204), ResponseClass::Success);
    /// assert_eq!(ResponseClass::of(99), ResponseClass::Other);
    /// assert_eq!(ResponseClass::of(600), ResponseClass::Other);
    /// ```
    #[inline]
    pub const fn of(status: u16) -> Self {
        match status {
            100..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::Other,
        }
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

mod sealed {
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
/// [`ProxyCounters::conn_opened`], [`ProxyCounters::session_opened`],
/// [`ProxyCounters::queued`] and the [`ServerCounters`] equivalents.
#[must_use = "the gauge is decremented as soon as the guard is dropped"]
pub struct Guard<C: HasGauges> {
    owner: Arc<C>,
    kind: GaugeKind,
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

macro_rules! common_methods {
    ($owner:ty) => {
        /// Counts a new connection: `conns.cur` and `conns.total` grow by one
        /// and `conns.max` follows; dropping the guard closes it.
        #[inline]
        pub fn conn_opened(self: &Arc<Self>) -> Guard<$owner> {
            self.open(GaugeKind::Connections)
        }

        /// Counts a new session (same rules as
        /// [`conn_opened`](Self::conn_opened), on the `sessions` gauge).
        #[inline]
        pub fn session_opened(self: &Arc<Self>) -> Guard<$owner> {
            self.open(GaugeKind::Sessions)
        }

        /// Counts a request entering the queue; dropping the guard means it
        /// left the queue (served, timed out or aborted).
        #[inline]
        pub fn queued(self: &Arc<Self>) -> Guard<$owner> {
            self.open(GaugeKind::Queue)
        }

        /// [`conn_opened`](Self::conn_opened), also counting the connection
        /// in `conn_rate` at `now` (see the crate docs on passing time).
        #[inline]
        pub fn conn_opened_at(self: &Arc<Self>, now: Instant) -> Guard<$owner> {
            let since = self.common.since_epoch(now);
            self.common.conns.0.mark(since, false);
            self.open(GaugeKind::Connections)
        }

        /// [`session_opened`](Self::session_opened), also counting the
        /// session in `rate` at `now` and recording `now` as the last
        /// session's start (`lastsess`).
        #[inline]
        pub fn session_opened_at(self: &Arc<Self>, now: Instant) -> Guard<$owner> {
            let since = self.common.since_epoch(now);
            self.common.sessions.0.mark(since, true);
            self.open(GaugeKind::Sessions)
        }

        #[inline]
        fn open(self: &Arc<Self>, kind: GaugeKind) -> Guard<$owner> {
            self.common.gauge(kind).inc();
            Guard {
                owner: Arc::clone(self),
                kind,
            }
        }

        /// Counts one request (not in `req_rate`: use
        /// [`request_at`](Self::request_at) for that).
        #[inline]
        pub fn request(&self) {
            self.common.req.0.requests.fetch_add(1, R);
        }

        /// Counts one request, also in `req_rate` at `now`.
        #[inline]
        pub fn request_at(&self, now: Instant) {
            let since = self.common.since_epoch(now);
            let r = &self.common.req.0;
            r.requests.fetch_add(1, R);
            r.rate.add(since);
        }

        /// Adds one request's timings to the sliding averages over the last
        /// [`TIME_SAMPLES`] requests and to the maxima (`qtime`, `ctime`,
        /// `rtime`, `ttime` and their `_max`): time spent queued, connecting
        /// to the server, from sending the request to the response headers,
        /// and in total. Pass [`Duration::ZERO`] for a phase the request did
        /// not go through. Kept at microsecond precision, read in ms.
        #[inline]
        pub fn record_timings(
            &self,
            queue: Duration,
            connect: Duration,
            response: Duration,
            total: Duration,
        ) {
            self.common
                .timings
                .0
                .record(queue, connect, response, total);
        }

        /// The rates, timing averages and `lastsess` at `now`, every
        /// measured column filled (`lastsess_s` is `None` before the first
        /// [`session_opened_at`](Self::session_opened_at)). Use
        /// [`RateSnapshot::haproxy_columns`] to keep only those HAProxy
        /// shows for a row kind.
        pub fn rates_at(&self, now: Instant) -> RateSnapshot {
            self.common.rates_at(now)
        }

        /// The instant rates and `lastsess` are measured from, once fixed
        /// (by [`with_epoch`](Self::with_epoch) or the first timed event).
        pub fn epoch(&self) -> Option<Instant> {
            self.common.epoch.0.get().copied()
        }

        /// Counts one response, by the class of `status` ([`ResponseClass`]).
        #[inline]
        pub fn response(&self, status: u16) {
            self.common.response(status);
        }

        /// Adds `n` bytes received from the peer (client side for a
        /// frontend, server side for a backend or server).
        #[inline]
        pub fn bytes_in(&self, n: u64) {
            self.common.req.0.bytes_in.fetch_add(n, R);
        }

        /// Adds `n` bytes sent to the peer.
        #[inline]
        pub fn bytes_out(&self, n: u64) {
            self.common.req.0.bytes_out.fetch_add(n, R);
        }

        /// Counts a request error (`ereq`: malformed or aborted request).
        #[inline]
        pub fn request_error(&self) {
            self.common.err.0.req_errors.fetch_add(1, R);
        }

        /// Counts a connection error (`econ`: failed to connect upstream).
        #[inline]
        pub fn connection_error(&self) {
            self.common.err.0.conn_errors.fetch_add(1, R);
        }

        /// Counts a response error (`eresp`: upstream failed while
        /// responding).
        #[inline]
        pub fn response_error(&self) {
            self.common.err.0.resp_errors.fetch_add(1, R);
        }

        /// Counts a denied request (`dreq`).
        #[inline]
        pub fn denied(&self) {
            self.common.err.0.denied.fetch_add(1, R);
        }

        /// Counts a retry (`wretr`): an attempt made again after a failed
        /// one.
        #[inline]
        pub fn retry(&self) {
            self.common.err.0.retries.fetch_add(1, R);
        }

        /// Counts a redispatch (`wredis`): a retry sent to another server.
        #[inline]
        pub fn redispatch(&self) {
            self.common.err.0.redispatches.fetch_add(1, R);
        }

        /// Counts a failed rewrite (`wrew`): an `http-request` rewrite
        /// whose result was not a valid request.
        #[inline]
        pub fn failed_rewrite(&self) {
            self.common.err.0.failed_rewrites.fetch_add(1, R);
        }

        /// Sets every gauge's `max` to its current value and restarts the
        /// rate and timing maxima (HAProxy's `clear counters`). Monotonic
        /// counters and timing averages are untouched; a rate maximum
        /// restarts from the counts of the current and previous seconds
        /// (see [`FreqCtr::reset_max`]).
        pub fn reset_max(&self) {
            self.common.reset_max();
        }

        /// Current connections (`conns.cur`: live
        /// [`conn_opened`](Self::conn_opened) guards). One relaxed load,
        /// for per-request use such as access-log lines; it is
        /// `snapshot().conns.cur` without building the snapshot. Concurrent
        /// guards may change it right after the read.
        #[inline]
        pub fn current_conns(&self) -> u64 {
            self.common.conns.0.gauge.cur.load(R)
        }

        /// Current sessions (`sessions.cur`: live
        /// [`session_opened`](Self::session_opened) guards). One relaxed
        /// load, as [`current_conns`](Self::current_conns).
        #[inline]
        pub fn current_sessions(&self) -> u64 {
            self.common.sessions.0.gauge.cur.load(R)
        }

        /// Requests currently queued (`queue.cur`: live
        /// [`queued`](Self::queued) guards). One relaxed load, as
        /// [`current_conns`](Self::current_conns).
        #[inline]
        pub fn current_queue(&self) -> u64 {
            self.common.queue.0.cur.load(R)
        }
    };
}

/// The counters of one frontend or backend. See the crate docs for the
/// model; share it as `Arc<ProxyCounters>`.
///
/// ```
/// use std::sync::Arc;
/// use gwd_stats::ProxyCounters;
///
/// let be = Arc::new(ProxyCounters::new());
/// let q = be.queued();
/// assert_eq!(be.snapshot().queue.cur, 1);
/// assert_eq!(be.current_queue(), 1); // the same, without a snapshot
/// drop(q);
/// be.connection_error();
/// let s = be.snapshot();
/// assert_eq!((s.queue.cur, s.queue.max, s.conn_errors), (0, 1, 1));
/// ```
#[derive(Debug, Default)]
pub struct ProxyCounters {
    common: Common,
}

impl sealed::Sealed for ProxyCounters {}
impl HasGauges for ProxyCounters {
    #[inline]
    fn __gauge_dec(&self, kind: GaugeKind) {
        self.common.gauge(kind).dec();
    }
}

impl ProxyCounters {
    /// All counters at zero; the epoch of rates is fixed by the first timed
    /// event.
    pub fn new() -> Self {
        Self::default()
    }

    /// All counters at zero, measuring rates and `lastsess` from `epoch`.
    pub fn with_epoch(epoch: Instant) -> Self {
        Self {
            common: Common::with_epoch(epoch),
        }
    }

    common_methods!(ProxyCounters);

    /// A plain copy of every counter (each read independently).
    pub fn snapshot(&self) -> ProxySnapshot {
        self.common.snapshot()
    }
}

/// The counters of one server: everything [`ProxyCounters`] has, plus
/// connection attempts and reuses.
///
/// ```
/// use std::sync::Arc;
/// use gwd_stats::ServerCounters;
///
/// let srv = Arc::new(ServerCounters::new());
/// srv.connect_attempt();
/// let c = srv.conn_opened();
/// srv.reused();
/// drop(c);
/// let s = srv.snapshot();
/// assert_eq!((s.connect_attempts, s.reuses, s.counters.conns.total), (1, 1, 1));
/// ```
#[derive(Debug, Default)]
pub struct ServerCounters {
    common: Common,
    extra: Padded<ServerExtra>,
}

#[derive(Debug, Default)]
struct ServerExtra {
    connect_attempts: AtomicU64,
    reuses: AtomicU64,
}

impl sealed::Sealed for ServerCounters {}
impl HasGauges for ServerCounters {
    #[inline]
    fn __gauge_dec(&self, kind: GaugeKind) {
        self.common.gauge(kind).dec();
    }
}

impl ServerCounters {
    /// All counters at zero; the epoch of rates is fixed by the first timed
    /// event.
    pub fn new() -> Self {
        Self::default()
    }

    /// All counters at zero, measuring rates and `lastsess` from `epoch`.
    pub fn with_epoch(epoch: Instant) -> Self {
        Self {
            common: Common::with_epoch(epoch),
            extra: Padded::default(),
        }
    }

    common_methods!(ServerCounters);

    /// Counts an attempt to open a new connection to this server (counted
    /// before the outcome is known; failures also go to
    /// [`connection_error`](Self::connection_error)).
    #[inline]
    pub fn connect_attempt(&self) {
        self.extra.0.connect_attempts.fetch_add(1, R);
    }

    /// Counts a request sent over a reused (pooled) connection.
    #[inline]
    pub fn reused(&self) {
        self.extra.0.reuses.fetch_add(1, R);
    }

    /// A plain copy of every counter (each read independently).
    pub fn snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            counters: self.common.snapshot(),
            connect_attempts: self.extra.0.connect_attempts.load(R),
            reuses: self.extra.0.reuses.load(R),
        }
    }
}

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

/// Responses counted by status class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseClasses {
    /// 1xx.
    pub r1xx: u64,
    /// 2xx.
    pub r2xx: u64,
    /// 3xx.
    pub r3xx: u64,
    /// 4xx.
    pub r4xx: u64,
    /// 5xx.
    pub r5xx: u64,
    /// Any other status.
    pub other: u64,
}

impl ResponseClasses {
    /// The count for one class.
    pub fn get(&self, class: ResponseClass) -> u64 {
        match class {
            ResponseClass::Informational => self.r1xx,
            ResponseClass::Success => self.r2xx,
            ResponseClass::Redirection => self.r3xx,
            ResponseClass::ClientError => self.r4xx,
            ResponseClass::ServerError => self.r5xx,
            ResponseClass::Other => self.other,
        }
    }

    /// The sum over all classes.
    pub fn total(&self) -> u64 {
        self.r1xx + self.r2xx + self.r3xx + self.r4xx + self.r5xx + self.other
    }
}

/// A plain copy of a [`ProxyCounters`] (also the shared part of a
/// [`ServerSnapshot`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxySnapshot {
    /// Transport connections.
    pub conns: GaugeSnapshot,
    /// Sessions.
    pub sessions: GaugeSnapshot,
    /// Queued requests.
    pub queue: GaugeSnapshot,
    /// Requests.
    pub requests: u64,
    /// Responses by class.
    pub responses: ResponseClasses,
    /// Bytes received from the peer.
    pub bytes_in: u64,
    /// Bytes sent to the peer.
    pub bytes_out: u64,
    /// Request errors (`ereq`).
    pub req_errors: u64,
    /// Connection errors (`econ`).
    pub conn_errors: u64,
    /// Response errors (`eresp`).
    pub resp_errors: u64,
    /// Denied requests (`dreq`).
    pub denied: u64,
    /// Attempts made again after a failed one (`wretr`).
    pub retries: u64,
    /// Retries sent to another server (`wredis`; on a server: retries
    /// that moved away from it).
    pub redispatches: u64,
    /// Rewrites that failed (`wrew`).
    pub failed_rewrites: u64,
}

/// A plain copy of a [`ServerCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// The counters servers share with proxies.
    pub counters: ProxySnapshot,
    /// Attempts to open a connection.
    pub connect_attempts: u64,
    /// Requests sent over a reused connection.
    pub reuses: u64,
}

/// The counters of a whole configuration: frontends, and backends with their
/// servers, each in the order added (configuration order, so the index of a
/// frontend is its 1-based id minus one).
///
/// Built once at configuration time, then shared read-only (e.g. inside an
/// `Arc<Registry>`); the hot path holds the `Arc`s it got from the
/// `add_*`/accessor methods.
///
/// ```
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// let fe = reg.add_frontend("www");
/// let (be_idx, be) = reg.add_backend("app");
/// let srv = reg.add_server(be_idx, "s1").unwrap();
///
/// fe.request();
/// be.request();
/// srv.response(503);
///
/// let snap = reg.snapshot();
/// assert_eq!(snap.frontends[0].name, "www");
/// assert_eq!(snap.frontends[0].counters.requests, 1);
/// assert_eq!(snap.backends[0].servers[0].name, "s1");
/// assert_eq!(snap.backends[0].servers[0].counters.counters.responses.r5xx, 1);
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    frontends: Vec<(String, Arc<ProxyCounters>)>,
    backends: Vec<BackendEntry>,
    /// Epoch given to every counter set added, if any.
    epoch: Option<Instant>,
}

#[derive(Debug)]
struct BackendEntry {
    name: String,
    counters: Arc<ProxyCounters>,
    servers: Vec<(String, Arc<ServerCounters>)>,
}

impl Registry {
    /// An empty registry. Each counter set added fixes its own rate epoch
    /// at its first timed event.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose counter sets all measure rates and
    /// `lastsess` from `epoch` (typically the process start), so their
    /// seconds line up.
    pub fn with_epoch(epoch: Instant) -> Self {
        Self {
            epoch: Some(epoch),
            ..Self::default()
        }
    }

    fn proxy(&self) -> Arc<ProxyCounters> {
        Arc::new(
            self.epoch
                .map_or_else(ProxyCounters::new, ProxyCounters::with_epoch),
        )
    }

    /// Adds a frontend; its index is the number of frontends before it.
    pub fn add_frontend(&mut self, name: impl Into<String>) -> Arc<ProxyCounters> {
        let c = self.proxy();
        self.frontends.push((name.into(), Arc::clone(&c)));
        c
    }

    /// Adds a backend; returns its index and counters.
    pub fn add_backend(&mut self, name: impl Into<String>) -> (usize, Arc<ProxyCounters>) {
        let c = self.proxy();
        self.backends.push(BackendEntry {
            name: name.into(),
            counters: Arc::clone(&c),
            servers: Vec::new(),
        });
        (self.backends.len() - 1, c)
    }

    /// Adds a server to backend `backend`; `None` if there is no such
    /// backend. Its index within the backend is the number of servers before
    /// it.
    pub fn add_server(
        &mut self,
        backend: usize,
        name: impl Into<String>,
    ) -> Option<Arc<ServerCounters>> {
        let epoch = self.epoch;
        let be = self.backends.get_mut(backend)?;
        let c = Arc::new(epoch.map_or_else(ServerCounters::new, ServerCounters::with_epoch));
        be.servers.push((name.into(), Arc::clone(&c)));
        Some(c)
    }

    /// Adds a frontend whose counters already exist (a reload keeps the
    /// counters of a frontend it keeps); its index is the number of
    /// frontends before it.
    ///
    /// ```
    /// use gwd_stats::Registry;
    ///
    /// let mut old = Registry::new();
    /// let fe = old.add_frontend("www");
    /// fe.request();
    /// let mut new = Registry::new();
    /// new.keep_frontend("www", fe.clone());
    /// assert_eq!(new.snapshot().frontends[0].counters.requests, 1);
    /// ```
    pub fn keep_frontend(&mut self, name: impl Into<String>, counters: Arc<ProxyCounters>) {
        self.frontends.push((name.into(), counters));
    }

    /// Adds a backend whose counters already exist (see
    /// [`keep_frontend`](Self::keep_frontend)); returns its index.
    pub fn keep_backend(&mut self, name: impl Into<String>, counters: Arc<ProxyCounters>) -> usize {
        self.backends.push(BackendEntry {
            name: name.into(),
            counters,
            servers: Vec::new(),
        });
        self.backends.len() - 1
    }

    /// Adds a server whose counters already exist to backend `backend`;
    /// `false` if there is no such backend.
    pub fn keep_server(
        &mut self,
        backend: usize,
        name: impl Into<String>,
        counters: Arc<ServerCounters>,
    ) -> bool {
        match self.backends.get_mut(backend) {
            Some(be) => {
                be.servers.push((name.into(), counters));
                true
            }
            None => false,
        }
    }

    /// The epoch given to every counter set added, if any.
    pub fn epoch(&self) -> Option<Instant> {
        self.epoch
    }

    /// Frontend by index.
    pub fn frontend(&self, idx: usize) -> Option<&Arc<ProxyCounters>> {
        self.frontends.get(idx).map(|(_, c)| c)
    }

    /// Backend by index.
    pub fn backend(&self, idx: usize) -> Option<&Arc<ProxyCounters>> {
        self.backends.get(idx).map(|b| &b.counters)
    }

    /// Server `server` of backend `backend`.
    pub fn server(&self, backend: usize, server: usize) -> Option<&Arc<ServerCounters>> {
        self.backends
            .get(backend)?
            .servers
            .get(server)
            .map(|(_, c)| c)
    }

    /// Index of the first frontend with this name.
    pub fn frontend_index(&self, name: &str) -> Option<usize> {
        self.frontends.iter().position(|(n, _)| n == name)
    }

    /// Index of the first backend with this name.
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }

    /// Number of frontends.
    pub fn frontends_len(&self) -> usize {
        self.frontends.len()
    }

    /// Number of backends.
    pub fn backends_len(&self) -> usize {
        self.backends.len()
    }

    /// Rates, timings and `lastsess` of every counter set at `now`, in
    /// registry order, each row trimmed to the columns HAProxy shows for
    /// its kind ([`RateSnapshot::haproxy_columns`]).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use gwd_stats::Registry;
    ///
    /// let t0 = Instant::now();
    /// let mut reg = Registry::with_epoch(t0);
    /// let fe = reg.add_frontend("www");
    /// let (b, be) = reg.add_backend("app");
    /// let srv = reg.add_server(b, "s1").unwrap();
    ///
    /// let now = t0 + Duration::from_millis(100);
    /// let _c = fe.conn_opened_at(now);
    /// let _s = fe.session_opened_at(now);
    /// fe.request_at(now);
    /// let _bs = be.session_opened_at(now);
    /// let _ss = srv.session_opened_at(now);
    /// srv.record_timings(
    ///     Duration::ZERO,
    ///     Duration::from_millis(2),
    ///     Duration::from_millis(30),
    ///     Duration::from_millis(40),
    /// );
    ///
    /// let r = reg.rates_at(t0 + Duration::from_millis(3_500));
    /// // Frontend columns; the second of the events is out of the window.
    /// assert_eq!((r.frontends[0].req_rate, r.frontends[0].req_rate_max), (Some(0), Some(1)));
    /// assert_eq!(r.frontends[0].lastsess_s, None);
    /// // Server columns.
    /// let s = r.servers[0][0];
    /// assert_eq!((s.rtime_ms, s.ttime_max_ms, s.lastsess_s), (Some(30), Some(40), Some(3)));
    /// assert_eq!(s.req_rate, None);
    /// ```
    pub fn rates_at(&self, now: Instant) -> RegistryRates {
        RegistryRates {
            frontends: self
                .frontends
                .iter()
                .map(|(_, c)| c.rates_at(now).haproxy_columns(RowKind::Frontend))
                .collect(),
            backends: self
                .backends
                .iter()
                .map(|b| b.counters.rates_at(now).haproxy_columns(RowKind::Backend))
                .collect(),
            servers: self
                .backends
                .iter()
                .map(|b| {
                    b.servers
                        .iter()
                        .map(|(_, c)| c.rates_at(now).haproxy_columns(RowKind::Server))
                        .collect()
                })
                .collect(),
        }
    }

    /// Plain copies of every counter, in registry order.
    pub fn snapshot(&self) -> RegistrySnapshot {
        RegistrySnapshot {
            frontends: self
                .frontends
                .iter()
                .map(|(n, c)| Named {
                    name: n.clone(),
                    counters: c.snapshot(),
                })
                .collect(),
            backends: self
                .backends
                .iter()
                .map(|b| BackendSnapshot {
                    name: b.name.clone(),
                    counters: b.counters.snapshot(),
                    servers: b
                        .servers
                        .iter()
                        .map(|(n, c)| Named {
                            name: n.clone(),
                            counters: c.snapshot(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A snapshot with the name of what it counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named<S> {
    /// Frontend, backend or server name.
    pub name: String,
    /// Its counters.
    pub counters: S,
}

/// A backend's snapshot with its servers'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendSnapshot {
    /// Backend name.
    pub name: String,
    /// The backend's own counters.
    pub counters: ProxySnapshot,
    /// Its servers, in the order added.
    pub servers: Vec<Named<ServerSnapshot>>,
}

/// A snapshot of a whole [`Registry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// Frontends, in the order added.
    pub frontends: Vec<Named<ProxySnapshot>>,
    /// Backends, in the order added.
    pub backends: Vec<BackendSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_is_zero() {
        assert_eq!(ProxyCounters::new().snapshot(), ProxySnapshot::default());
        assert_eq!(ServerCounters::new().snapshot(), ServerSnapshot::default());
    }

    #[test]
    fn gauge_guards_track_cur_max_total() {
        let c = Arc::new(ProxyCounters::new());
        let a = c.conn_opened();
        let b = c.conn_opened();
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
        let d = c.conn_opened();
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
        let s1 = c.session_opened();
        let s2 = c.session_opened();
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
            .map(|_| p.conn_opened())
            .chain((0..2).map(|_| p.session_opened()))
            .chain([p.queued()])
            .collect();
        let sg: Vec<_> = (0..4)
            .map(|_| s.queued())
            .chain((0..5).map(|_| s.conn_opened()))
            .chain((0..6).map(|_| s.session_opened()))
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
        drop(p.conn_opened());
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
        let g = c.conn_opened();
        let weak = Arc::downgrade(&c);
        drop(c);
        assert!(weak.upgrade().is_some());
        drop(g);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn reset_max_sets_max_to_cur() {
        let c = Arc::new(ProxyCounters::new());
        let gs: Vec<_> = (0..5).map(|_| c.conn_opened()).collect();
        let keep = c.queued();
        drop(c.queued());
        drop(gs);
        let _one = c.conn_opened();
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
        c.request();
        c.request();
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
        c.request();
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
    fn timed_methods_count_like_untimed_plus_rates() {
        let t0 = Instant::now();
        let c = Arc::new(ProxyCounters::with_epoch(t0));
        assert_eq!(c.epoch(), Some(t0));
        let t = at(t0, 5_100);
        let conns: Vec<_> = (0..3).map(|_| c.conn_opened_at(t)).collect();
        let sess: Vec<_> = (0..2).map(|_| c.session_opened_at(t)).collect();
        for _ in 0..5 {
            c.request_at(t);
        }
        // Untimed calls count but stay out of rates.
        let _u = (c.conn_opened(), c.session_opened());
        c.request();
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
        let c = Arc::new(ServerCounters::new());
        assert_eq!(c.epoch(), None);
        // Reads before any timed event: zeros, no lastsess, epoch unset.
        let r = c.rates_at(at(t0, 10_000));
        assert_eq!((r.rate, r.req_rate, r.lastsess_s), (Some(0), Some(0), None));
        assert_eq!(c.epoch(), None);
        c.request(); // untimed: leaves the epoch alone
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
    fn lastsess_follows_the_newest_timed_session() {
        let t0 = Instant::now();
        let c = Arc::new(ProxyCounters::with_epoch(t0));
        drop(c.session_opened());
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
    fn padding_separates_groups() {
        assert_eq!(std::mem::align_of::<Padded<Gauge>>(), 128);
        let c = Common::default();
        let a = &c.conns as *const _ as usize;
        let b = &c.req as *const _ as usize;
        assert!(a.abs_diff(b) >= 128);
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

        f0.request();
        let _g = f1.conn_opened();
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
}
