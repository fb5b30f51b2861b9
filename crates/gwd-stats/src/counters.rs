//! The counter sets of frontends and backends ([`ProxyCounters`]) and of
//! servers ([`ServerCounters`]), and their plain snapshots.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::gauge::{Gauge, GaugeKind, GaugeSnapshot, Guard, HasGauges, RatedGauge, sealed};
use crate::rate::{CONNECT, QUEUE, RESPONSE, RawFreqCtr, TOTAL, Timings};
use crate::{Padded, R, RateSnapshot};

/// Counters touched once or twice per request.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
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
    denied_conns: AtomicU64,
    retries: AtomicU64,
    redispatches: AtomicU64,
    failed_rewrites: AtomicU64,
}

/// Everything frontends, backends and servers share.
#[derive(Debug, Default)]
pub(crate) struct Common {
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
            denied_conns: e.denied_conns.load(R),
            retries: e.retries.load(R),
            redispatches: e.redispatches.load(R),
            failed_rewrites: e.failed_rewrites.load(R),
            compression: CompSnapshot::default(),
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

macro_rules! common_methods {
    // `$req_rate`: whether `request_at` feeds `req_rate` (HAProxy shows it
    // for proxies only: a server's would cost an atomic per request for
    // nothing).
    ($owner:ty, $req_rate:expr) => {
        /// Counts a request entering the queue; dropping the guard means it
        /// left the queue (served, timed out or aborted).
        #[inline]
        pub fn queued(self: &Arc<Self>) -> Guard<$owner> {
            self.open(GaugeKind::Queue)
        }

        /// Counts a new connection opened at `now`: `conns.cur` and
        /// `conns.total` grow by one, `conns.max` follows, and `conn_rate`
        /// counts it (see the crate docs on passing time); dropping the
        /// guard closes it.
        #[inline]
        pub fn conn_opened_at(self: &Arc<Self>, now: Instant) -> Guard<$owner> {
            let since = self.common.since_epoch(now);
            self.common.conns.0.mark(since, false);
            self.open(GaugeKind::Connections)
        }

        /// Counts a new session opened at `now` (same rules as
        /// [`conn_opened_at`](Self::conn_opened_at), on the `sessions`
        /// gauge and `rate`), and records `now` as the last session's start
        /// (`lastsess`).
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

        /// Counts one request received (or sent, on a server) at `now`,
        /// also in `req_rate` (proxies only: servers have none).
        #[inline]
        pub fn request_at(&self, now: Instant) {
            let r = &self.common.req.0;
            r.requests.fetch_add(1, R);
            if $req_rate {
                r.rate.add(self.common.since_epoch(now));
            }
        }

        /// Adds one request's timings to the sliding averages over the last
        /// [`TIME_SAMPLES`](crate::TIME_SAMPLES) requests and to the maxima (`qtime`, `ctime`,
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

        /// Counts a connection refused by a `tcp-request connection` rule
        /// (`dcon`).
        #[inline]
        pub fn denied_conn(&self) {
            self.common.err.0.denied_conns.fetch_add(1, R);
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
        /// (see [`FreqCtr::reset_max`](crate::FreqCtr::reset_max)).
        pub fn reset_max(&self) {
            self.common.reset_max();
        }

        /// Current connections (`conns.cur`: live
        /// [`conn_opened_at`](Self::conn_opened_at) guards). One relaxed load,
        /// for per-request use such as access-log lines; it is
        /// `snapshot().conns.cur` without building the snapshot. Concurrent
        /// guards may change it right after the read.
        #[inline]
        pub fn current_conns(&self) -> u64 {
            self.common.conns.0.gauge.cur.load(R)
        }

        /// Current sessions (`sessions.cur`: live
        /// [`session_opened_at`](Self::session_opened_at) guards). One relaxed
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
    comp: Padded<CompCounters>,
}

/// HTTP compression's counters of a frontend or backend (`comp_in`,
/// `comp_out`, `comp_rsp`).
#[derive(Debug, Default)]
struct CompCounters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    responses: AtomicU64,
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
            comp: Padded::default(),
        }
    }

    common_methods!(ProxyCounters, true);

    /// Counts a response whose body is being compressed (`comp_rsp`).
    #[inline]
    pub fn compressed_response(&self) {
        self.comp.0.responses.fetch_add(1, R);
    }

    /// Counts `input` bytes of a response body given to the compressor
    /// and the `output` bytes it made of them (`comp_in`, `comp_out`).
    #[inline]
    pub fn compressed(&self, input: u64, output: u64) {
        self.comp.0.bytes_in.fetch_add(input, R);
        self.comp.0.bytes_out.fetch_add(output, R);
    }

    /// A plain copy of every counter (each read independently).
    pub fn snapshot(&self) -> ProxySnapshot {
        let mut s = self.common.snapshot();
        let c = &self.comp.0;
        s.compression = CompSnapshot {
            bytes_in: c.bytes_in.load(R),
            bytes_out: c.bytes_out.load(R),
            responses: c.responses.load(R),
        };
        s
    }
}

/// The counters of one server: everything [`ProxyCounters`] has, plus
/// connection attempts and reuses.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use gwd_stats::ServerCounters;
///
/// let srv = Arc::new(ServerCounters::new());
/// srv.connect_attempt();
/// let c = srv.conn_opened_at(Instant::now());
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

    common_methods!(ServerCounters, false);

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
    /// Connections denied by `tcp-request connection` rules (`dcon`).
    pub denied_conns: u64,
    /// Attempts made again after a failed one (`wretr`).
    pub retries: u64,
    /// Retries sent to another server (`wredis`; on a server: retries
    /// that moved away from it).
    pub redispatches: u64,
    /// Rewrites that failed (`wrew`).
    pub failed_rewrites: u64,
    /// HTTP compression (frontends and backends; zero on servers).
    pub compression: CompSnapshot,
}

/// A plain copy of a proxy's compression counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompSnapshot {
    /// Bytes of response bodies given to the compressor (`comp_in`).
    pub bytes_in: u64,
    /// Bytes the compressor made of them (`comp_out`).
    pub bytes_out: u64,
    /// Responses compressed (`comp_rsp`).
    pub responses: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_separates_groups() {
        assert_eq!(std::mem::align_of::<Padded<Gauge>>(), 128);
        let c = Common::default();
        let a = &c.conns as *const _ as usize;
        let b = &c.req as *const _ as usize;
        assert!(a.abs_diff(b) >= 128);
    }
}
