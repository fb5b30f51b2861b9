//! Statistics counters for gwd's frontends, backends and servers.
//!
//! # Model
//!
//! Each proxy (frontend or backend) owns a [`ProxyCounters`]; each server owns
//! a [`ServerCounters`]. Both live behind an [`Arc`](std::sync::Arc) and are updated from any
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
//! The crate never reads the clock: time is an [`Instant`](std::time::Instant) argument. The
//! counting calls that feed rates, [`request_at`](ProxyCounters::request_at),
//! [`session_opened_at`](ProxyCounters::session_opened_at) and
//! [`conn_opened_at`](ProxyCounters::conn_opened_at), take the `now` the
//! caller already has (e.g. the accept or request-start instant it logs);
//! there is no untimed twin, so no caller can forget the rates. Instants
//! are measured from the counter set's *epoch*: the one given to
//! [`ProxyCounters::with_epoch`] / [`Registry::with_epoch`] (typically the
//! process start, so all rows' seconds line up), or else the `now` of its
//! first timed event. An instant before the epoch counts as the
//! epoch; an instant older than the newest second already counted is counted
//! in that newer second.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use gwd_stats::ProxyCounters;
//!
//! let fe = Arc::new(ProxyCounters::new());
//! let now = Instant::now();
//! {
//!     let _conn = fe.conn_opened_at(now); // cur=1, total=1, max=1
//!     fe.request_at(now);
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

#![warn(missing_docs, unreachable_pub)]

use std::sync::atomic::Ordering;

mod counters;
mod gauge;
mod rate;
mod registry;
#[cfg(test)]
mod tests;

pub use counters::{
    CompSnapshot, ProxyCounters, ProxySnapshot, ResponseClass, ResponseClasses, ServerCounters,
    ServerSnapshot,
};
pub use gauge::{GaugeKind, GaugeSnapshot, Guard, HasGauges, ProxyGuard, ServerGuard};
pub use rate::{FreqCtr, RateSnapshot, RegistryRates, RowKind, TIME_SAMPLES};
pub use registry::{
    BackendSnapshot, Label, Named, Registry, RegistrySnapshot, RetiredTotals, ServerNamed,
};

/// Every counter is an independent tally: relaxed ordering (see the model).
const R: Ordering = Ordering::Relaxed;

/// Aligns its content to 128 bytes (two 64-byte lines, covering the
/// adjacent-line prefetcher on x86 and the 128-byte lines of some ARM parts)
/// so two groups of hot counters never share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);
