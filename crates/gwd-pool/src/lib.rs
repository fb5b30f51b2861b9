//! gwd's server-connection pool.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use gwd_pool::{HttpReuse, Pool, PoolSettings, ReleaseAs, RefusedReason};
//!
//! let t0 = Instant::now();
//! let mut pool: Pool<&str, u32> = Pool::new(PoolSettings {
//!     max_conn: Some(2),
//!     purge_delay: Duration::from_secs(5),
//!     reuse: HttpReuse::Safe,
//!     ..PoolSettings::default()
//! });
//!
//! // Nothing pooled yet: open connections 1 and 2.
//! assert_eq!(pool.acquire(&"a.example", false), None);
//! pool.connected();
//! pool.connected();
//! pool.release(&"a.example", 1, ReleaseAs::Idle, t0).unwrap();
//! pool.release(&"a.example", 2, ReleaseAs::Idle, t0).unwrap();
//!
//! // Under `Safe`, a client's first request never takes a pooled
//! // connection (it opens its own)…
//! assert_eq!(pool.acquire(&"a.example", true), None);
//! // …a later request takes the most recently released (LIFO).
//! assert_eq!(pool.acquire(&"a.example", false), Some(2));
//! pool.release(&"a.example", 2, ReleaseAs::Safe, t0).unwrap();
//! // Not even a proven one (`Aggressive` would allow that).
//! assert_eq!(pool.acquire(&"a.example", true), None);
//! assert_eq!(pool.acquire(&"a.example", false), Some(2));
//!
//! // A refused connection comes back to the caller, who closes it.
//! pool.connected();
//! pool.release(&"a.example", 2, ReleaseAs::Safe, t0).unwrap();
//! let err = pool.release(&"a.example", 3, ReleaseAs::Idle, t0).unwrap_err();
//! assert_eq!(err.reason(), RefusedReason::Full);
//! assert_eq!(err.into_inner(), 3);
//!
//! // Nothing is in use any more. The peak of 2 keeps both for two periods
//! // (est_need 2, then 2 again); then the estimate decays to 1 and the least
//! // recently used connection is closed.
//! let tick = pool.next_purge_at().unwrap();
//! assert_eq!(tick, t0 + Duration::from_secs(5));
//! assert!(pool.purge(tick).is_empty());
//! assert!(pool.purge(pool.next_purge_at().unwrap()).is_empty());
//! assert_eq!(pool.purge(pool.next_purge_at().unwrap()), vec![1]);
//! assert_eq!((pool.idle_len(), pool.safe_len()), (0, 1));
//! ```
//!
//! # Model
//!
//! A [`Pool`] holds the upstream connections of one server (or backend) that
//! are not serving a request right now, so later requests can reuse them. It
//! is generic over the key `K` (what makes two connections interchangeable,
//! e.g. (target, SNI, protocol)) and the connection type `C`; it never touches
//! the connections themselves. Time is passed in; the pool has no timers or
//! threads of its own and expects `now` to be non-decreasing across calls.
//!
//! ## Exclusive connections (HTTP/1)
//!
//! A connection is either *in use* (counted, not held by the pool) or *idle*
//! (held by the pool). Idle connections come in two classes:
//! * **idle**: reusable, but not yet proven: it served the requests of its
//!   first use only ([`ReleaseAs::Idle`]);
//! * **safe**: it was taken from the pool and served a request again, which
//!   proves the server keeps it open ([`ReleaseAs::Safe`]).
//!
//! Keys are compared exactly (`Eq + Hash`), never through a lossy hash.
//! Within a key, reuse is **LIFO**: [`Pool::acquire`] returns the most
//! recently released eligible connection. Which connections are eligible
//! depends on [`HttpReuse`]:
//!
//! | mode         | first request of a client connection | later requests |
//! |--------------|--------------------------------------|----------------|
//! | `Never`      | nothing                              | nothing        |
//! | `Safe`       | nothing                              | safe or idle   |
//! | `Aggressive` | safe only                            | safe or idle   |
//! | `Always`     | safe or idle                         | safe or idle   |
//!
//! ("safe or idle" takes whichever was released most recently.) These follow
//! HAProxy's `http-reuse` modes: under `safe` (the default) the first request
//! of a client connection always goes over a connection of its own: a client
//! expects a later request on a kept-alive connection to possibly fail and
//! retries it, but not the first one, which must therefore not risk a pooled
//! connection the server may be closing. Later requests may share.
//!
//! ## Multiplexed connections (HTTP/2)
//!
//! The pool holds exclusive connections only. A multiplexed connection is
//! shared by every concurrent request until it closes, and its client
//! library (hyper's `SendRequest` in gwd) already counts its streams and
//! waits for a free one, so the embedder keeps such a connection itself and
//! applies the same [`HttpReuse`] rule to it (gwd-http's server pool does).
//!
//! ## Counting and purging
//!
//! `used` counts connections in use: those between
//! [`acquire`](Pool::acquire)/[`connected`](Pool::connected) and
//! [`release`](Pool::release)/[`discard`](Pool::discard). `pooled` counts
//! idle + safe connections.
//!
//! All pooled connections sit in one list ordered by last use (release time).
//! A purge tick happens every `purge_delay` while anything is pooled
//! ([`Pool::next_purge_at`]); [`Pool::purge`] then returns, **least recently
//! used first**, the connections to close:
//!
//! ```text
//! needed  = max(max_used, est_need)
//! target  = max(needed - used, low_conn)        (saturating at 0)
//! close   = the (pooled - target) least recently used connections,
//!           plus any whose idle time reached `idle_timeout` (if set)
//! est_need = max(max_used, (est_need + max_used) / 2)
//! max_used = used                                (start a new period)
//! ```
//!
//! where `max_used` is the peak of `used` since the previous tick. So the pool
//! keeps enough idle connections to cover the recent peak of concurrent use,
//! less those already in use, and the estimate decays by half per period after
//! the peak passes (as HAProxy's `est_need_conns` does). Taking a connection
//! into use raises `est_need` to `used` at once.
//!
//! A release applies the same budget straight away (HAProxy's rule for adding
//! to its idle lists): the connection is refused as
//! [`RefusedReason::Surplus`] when
//!
//! ```text
//! used (this one included) + pooled  >  max(used, est_need) + low_conn
//! ```
//!
//! unless it is the first of its class (no safe connection is pooled and,
//! for an idle one, no idle one either). Without it, visitors that make
//! one request each would leave one pooled connection apiece (under `safe`
//! their first requests never reuse one), held until the purge ticks
//! catch up.
//!
//! ## Invariants
//! * `pooled <= max_conn` at all times (a release beyond it is refused with
//!   [`RefusedReason::Full`]);
//! * every refused connection is handed back unchanged ([`Refused`]);
//! * a connection is held by the pool at most once and returned at most once
//!   (by `acquire`, `purge` or `close`);
//! * operations are O(1) (hash lookup + list splice), except `purge`/`close`,
//!   which are O(returned + keys emptied since the previous tick).
//!
//! A key's bookkeeping entry is created when its first connection is pooled
//! and freed at the first purge tick that finds it empty (or at `close`), so
//! a busy key does not pay for freeing and re-creating its entry (a key
//! clone and two hash operations) on every acquire/release pair.
//!
//! The crate owns only this bookkeeping. It depends on `slab` (node storage)
//! and `thiserror`; it does no I/O and spawns nothing.

#![warn(missing_docs, unreachable_pub)]

mod list;

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::list::{LinkOf, List, NIL, push_front, unlink};
use list::Link;

/// When a request may use a pooled connection (`http-reuse`); see the table
/// in the crate docs.
///
/// ```
/// use std::time::Instant;
/// use gwd_pool::{HttpReuse, Pool, PoolSettings, ReleaseAs};
///
/// // One proven (safe) and one unproven (idle) connection, idle released last.
/// let first_request_gets = |reuse| {
///     let t = Instant::now();
///     let settings = PoolSettings { reuse, ..PoolSettings::default() };
///     let mut pool: Pool<u8, &str> = Pool::new(settings);
///     pool.connected();
///     pool.connected();
///     let _ = pool.release(&0, "proven", ReleaseAs::Safe, t);
///     let _ = pool.release(&0, "fresh", ReleaseAs::Idle, t);
///     pool.acquire(&0, true)
/// };
/// assert_eq!(first_request_gets(HttpReuse::Never), None);
/// assert_eq!(first_request_gets(HttpReuse::Safe), None);
/// assert_eq!(first_request_gets(HttpReuse::Aggressive), Some("proven"));
/// assert_eq!(first_request_gets(HttpReuse::Always), Some("fresh"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// Never reuse; nothing is pooled.
    Never,
    /// The first request of a client connection never uses a pooled
    /// connection; later requests may use any. HAProxy's `safe`, and the default.
    #[default]
    Safe,
    /// The first request of a client connection may only use *safe*
    /// (proven) connections; later requests may use any. HAProxy's
    /// `aggressive`.
    Aggressive,
    /// Any request may use any pooled connection. HAProxy's `always`.
    Always,
}

/// Which pooled connections a request may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Eligible {
    /// Nothing from the pool.
    Nothing,
    /// Proven (safe) connections only.
    ProvenOnly,
    /// Any pooled connection.
    Any,
}

impl HttpReuse {
    /// The crate docs' table, in code.
    fn eligible(self, first_request: bool) -> Eligible {
        match (self, first_request) {
            (Self::Never, _) | (Self::Safe, true) => Eligible::Nothing,
            (Self::Aggressive, true) => Eligible::ProvenOnly,
            (Self::Safe | Self::Aggressive, false) | (Self::Always, _) => Eligible::Any,
        }
    }
}

/// Pool settings (one pool per server or backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections pooled at once (idle + safe). `None`: unlimited;
    /// `Some(0)`: pooling disabled.
    pub max_conn: Option<usize>,
    /// The purge never takes the pooled count below this.
    pub low_conn: usize,
    /// Period of the purge. Zero disables pooling (nothing may stay idle).
    pub purge_delay: Duration,
    /// Reuse mode.
    pub reuse: HttpReuse,
    /// If set, a purge tick also closes every connection pooled for at least
    /// this long (regardless of `low_conn` and the estimate). Keep it below
    /// the server's keep-alive timeout.
    pub idle_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    /// Unlimited, `low_conn` 0, 5 s purge period, `Safe`, no idle timeout.
    fn default() -> Self {
        Self {
            max_conn: None,
            low_conn: 0,
            purge_delay: Duration::from_secs(5),
            reuse: HttpReuse::Safe,
            idle_timeout: None,
        }
    }
}

/// How a connection comes back to the pool ([`Pool::release`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseAs {
    /// Reusable; it has only served its first use (it was opened by the
    /// caller, not taken from the pool).
    Idle,
    /// Reusable, and proven: it was taken from the pool and served again.
    Safe,
    /// Not reusable (closed by the peer, protocol state, `max-reuse`
    /// reached…): always refused with [`RefusedReason::NotReusable`].
    NotReusable,
}

impl ReleaseAs {
    /// `NotReusable` when `!reusable`, else `Safe` when the connection came
    /// from the pool (`was_pooled`), else `Idle`.
    pub fn from_flags(reusable: bool, was_pooled: bool) -> Self {
        match (reusable, was_pooled) {
            (false, _) => Self::NotReusable,
            (true, true) => Self::Safe,
            (true, false) => Self::Idle,
        }
    }
}

/// Why the pool refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusedReason {
    /// The pool already holds `max_conn` connections.
    Full,
    /// Pooling is disabled: `HttpReuse::Never`, `max_conn == Some(0)` or a
    /// zero `purge_delay`.
    PoolingDisabled,
    /// The pool was [closed](Pool::close).
    Closed,
    /// The caller released it as [`ReleaseAs::NotReusable`].
    NotReusable,
    /// Recent use does not need it: the connections in use (this one
    /// included) plus those pooled would exceed the estimate of needed
    /// connections plus `low_conn` (see the crate docs).
    Surplus,
}

impl fmt::Display for RefusedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the pool is full",
            Self::PoolingDisabled => "pooling is disabled",
            Self::Closed => "the pool is closed",
            Self::NotReusable => "the connection is not reusable",
            Self::Surplus => "recent use does not need another idle connection",
        })
    }
}

/// A connection the pool did not take, handed back to the caller (who should
/// close it), with the reason.
///
/// ```
/// use gwd_pool::{HttpReuse, Pool, PoolSettings, ReleaseAs, RefusedReason};
/// let mut pool: Pool<u8, String> = Pool::new(PoolSettings {
///     reuse: HttpReuse::Never,
///     ..PoolSettings::default()
/// });
/// pool.connected();
/// let err = pool
///     .release(&0, "conn".to_owned(), ReleaseAs::Idle, std::time::Instant::now())
///     .unwrap_err();
/// assert_eq!(err.reason(), RefusedReason::PoolingDisabled);
/// assert_eq!(err.to_string(), "the pool refused the connection: pooling is disabled");
/// assert_eq!(err.into_inner(), "conn");
/// ```
#[derive(thiserror::Error)]
#[error("the pool refused the connection: {reason}")]
pub struct Refused<C> {
    conn: C,
    reason: RefusedReason,
}

impl<C> Refused<C> {
    /// Why it was refused.
    pub fn reason(&self) -> RefusedReason {
        self.reason
    }

    /// The connection, unchanged.
    pub fn into_inner(self) -> C {
        self.conn
    }

    /// The connection, borrowed.
    pub fn get_ref(&self) -> &C {
        &self.conn
    }
}

impl<C> fmt::Debug for Refused<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// A copy of a pool's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Pooled exclusive connections not yet proven.
    pub idle: usize,
    /// Pooled exclusive connections proven reusable.
    pub safe: usize,
    /// Connections in use.
    pub used: usize,
    /// Peak of `used` since the last purge tick.
    pub max_used: usize,
    /// The decaying estimate of needed connections.
    pub est_need: usize,
}

#[derive(Debug)]
enum Kind {
    Idle,
    Safe,
}

struct Node<C> {
    conn: C,
    /// Index into `Pool::entries`.
    entry: usize,
    /// Use sequence number: larger is more recent.
    seq: u64,
    /// When it was last released (pooled nodes only).
    last_used: Instant,
    /// In its entry's `idle` or `safe` list.
    key_link: Link,
    /// In `Pool::lru`.
    lru_link: Link,
    kind: Kind,
}

fn key_link<C>(n: &mut Node<C>) -> &mut Link {
    &mut n.key_link
}
fn lru_link<C>(n: &mut Node<C>) -> &mut Link {
    &mut n.lru_link
}

struct KeyEntry<K> {
    key: K,
    idle: List,
    safe: List,
    /// Listed in `Pool::emptied` (at most once).
    emptied: bool,
}

impl<K> KeyEntry<K> {
    fn is_empty(&self) -> bool {
        self.idle.is_empty() && self.safe.is_empty()
    }
}

/// The connection pool of one server. See the crate docs for the model.
///
/// `S` hashes keys (std's SipHash by default; see
/// [`with_hasher`](Pool::with_hasher)).
pub struct Pool<K, C, S = RandomState> {
    settings: PoolSettings,
    keys: HashMap<K, usize, S>,
    entries: Slab<KeyEntry<K>>,
    nodes: Slab<Node<C>>,
    /// Every pooled node; head = most recently released.
    lru: List,
    idle: usize,
    safe: usize,
    used: usize,
    max_used: usize,
    est_need: usize,
    next_purge: Option<Instant>,
    seq: u64,
    closed: bool,
    /// Entries that became empty since the last purge tick; the tick frees
    /// those still empty (so a key's entry is not freed and re-created on
    /// every acquire/release pair).
    emptied: Vec<usize>,
}

impl<K, C, S> fmt::Debug for Pool<K, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.settings)
            .field("keys", &self.keys.len())
            .field("idle", &self.idle)
            .field("safe", &self.safe)
            .field("used", &self.used)
            .field("max_used", &self.max_used)
            .field("est_need", &self.est_need)
            .field("next_purge", &self.next_purge)
            .field("closed", &self.closed)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, C> Pool<K, C> {
    /// An empty pool hashing keys with std's default hasher.
    pub fn new(settings: PoolSettings) -> Self {
        Self::with_hasher(settings, RandomState::new())
    }
}

impl<K: Eq + Hash + Clone, C, S: BuildHasher> Pool<K, C, S> {
    /// An empty pool hashing keys with `hasher` (e.g. a faster non-DoS-
    /// resistant one when keys are not attacker-chosen).
    pub fn with_hasher(settings: PoolSettings, hasher: S) -> Self {
        Self {
            settings,
            keys: HashMap::with_hasher(hasher),
            entries: Slab::new(),
            nodes: Slab::new(),
            lru: List::EMPTY,
            idle: 0,
            safe: 0,
            used: 0,
            max_used: 0,
            est_need: 0,
            next_purge: None,
            seq: 0,
            closed: false,
            emptied: Vec::new(),
        }
    }

    /// The settings it was created with.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Whether connections may be pooled at all (not `Never`, `max_conn` not
    /// 0, `purge_delay` not zero, not closed).
    pub fn pooling_enabled(&self) -> bool {
        !self.closed && self.disabled_reason().is_none()
    }

    fn disabled_reason(&self) -> Option<RefusedReason> {
        let s = &self.settings;
        if s.reuse == HttpReuse::Never || s.max_conn == Some(0) || s.purge_delay.is_zero() {
            Some(RefusedReason::PoolingDisabled)
        } else {
            None
        }
    }

    fn is_full(&self) -> bool {
        self.settings
            .max_conn
            .is_some_and(|m| self.pooled_len() >= m)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn mark_used(&mut self) {
        self.used += 1;
        self.max_used = self.max_used.max(self.used);
        // The estimate never lags what is in use right now (as HAProxy's
        // `srv_use_conn` raises `est_need_conns`), so a release during a
        // burst keeps what the burst needs before the first purge tick.
        self.est_need = self.est_need.max(self.used);
    }

    /// Whether keeping one more connection would exceed what recent use
    /// needs (HAProxy's rule for adding to the idle list): in use (this one
    /// included) plus pooled must stay within the estimate plus
    /// `low_conn`. The first of its class is always kept, so a quiet
    /// server still has one to reuse.
    fn is_surplus(&self, safe: bool) -> bool {
        let first_of_class = self.safe == 0 && (safe || self.idle == 0);
        if first_of_class {
            return false;
        }
        let used_with_this = self.used + 1;
        used_with_this + self.pooled_len()
            > used_with_this.max(self.est_need) + self.settings.low_conn
    }

    fn arm(&mut self, now: Instant) {
        if self.next_purge.is_none() {
            self.next_purge = Some(now + self.settings.purge_delay);
        }
    }

    fn entry_for(&mut self, key: &K) -> usize {
        if let Some(&e) = self.keys.get(key) {
            return e;
        }
        let e = self.entries.insert(KeyEntry {
            key: key.clone(),
            idle: List::EMPTY,
            safe: List::EMPTY,
            emptied: false,
        });
        self.keys.insert(key.clone(), e);
        e
    }

    /// Notes that entry `e` may have become empty.
    fn note_if_empty(&mut self, e: usize) {
        let entry = &mut self.entries[e];
        if self.closed && entry.is_empty() {
            // Closed: nothing will refill it.
            if entry.emptied {
                return; // freed by the `close` in progress
            }
            let entry = self.entries.remove(e);
            self.keys.remove(&entry.key);
        } else if !entry.emptied && entry.is_empty() {
            entry.emptied = true;
            self.emptied.push(e);
        }
    }

    /// Frees the noted entries that are still empty.
    fn free_empty_entries(&mut self) {
        for e in std::mem::take(&mut self.emptied) {
            let entry = &mut self.entries[e];
            entry.emptied = false;
            if entry.is_empty() {
                let entry = self.entries.remove(e);
                self.keys.remove(&entry.key);
            }
        }
    }

    /// Takes a pooled connection for `key`, if one is eligible (see the
    /// table in the crate docs), most recently released first. It then
    /// counts as in use: give it back with [`release`](Self::release) or
    /// report it dead with [`discard`](Self::discard). Requests that get it
    /// should release it as [`ReleaseAs::Safe`] once served.
    ///
    /// `first_request`: this is the first request of its client connection.
    pub fn acquire(&mut self, key: &K, first_request: bool) -> Option<C> {
        let eligible = self.settings.reuse.eligible(first_request);
        if self.closed || eligible == Eligible::Nothing {
            return None;
        }
        let e = *self.keys.get(key)?;
        let entry = &self.entries[e];
        let allow_idle = eligible == Eligible::Any;
        let safe = entry.safe.head;
        let idle = if allow_idle { entry.idle.head } else { NIL };
        let pick = match (safe != NIL, idle != NIL) {
            (true, true) => {
                if self.nodes[safe].seq > self.nodes[idle].seq {
                    safe
                } else {
                    idle
                }
            }
            (true, false) => safe,
            (false, true) => idle,
            (false, false) => return None,
        };
        let conn = self.take_pooled(pick);
        self.mark_used();
        Some(conn)
    }

    /// The caller opened a new (exclusive) connection: it counts as in use.
    /// Pair with [`release`](Self::release) or [`discard`](Self::discard).
    pub fn connected(&mut self) {
        self.mark_used();
    }

    /// An in-use exclusive connection ended without coming back (it failed
    /// or was closed); it no longer counts as in use.
    pub fn discard(&mut self) {
        self.used = self.used.saturating_sub(1);
    }

    /// Gives back an in-use connection. It stops counting as in use whatever
    /// the outcome. When pooled, it becomes the most recently used
    /// connection of its key and of the purge order. Otherwise it is handed
    /// back in [`Refused`]; reasons are checked in this order:
    /// `NotReusable`, `Closed`, `PoolingDisabled`, `Full`, `Surplus`.
    pub fn release(
        &mut self,
        key: &K,
        conn: C,
        how: ReleaseAs,
        now: Instant,
    ) -> Result<(), Refused<C>> {
        self.release_evicting(key, conn, how, now, |_| true, &mut Vec::new())
    }

    /// [`release`](Self::release), for pooled connections that can die
    /// unseen (the server closed one while it sat idle and nothing read
    /// it). Where the budget would refuse the connection as
    /// [`Surplus`](RefusedReason::Surplus), the least recently used pooled
    /// connections that `alive` says are dead are taken out first, pushed
    /// onto `dead` for the caller to close, and the connection is weighed
    /// again: a connection that just served is worth more than one the
    /// server may have closed.
    ///
    /// ```
    /// use std::time::Instant;
    /// use gwd_pool::{Pool, PoolSettings, ReleaseAs};
    /// let t = Instant::now();
    /// let mut pool: Pool<(), &str> = Pool::new(PoolSettings::default());
    /// pool.connected();
    /// pool.release(&(), "closed by the server since", ReleaseAs::Idle, t).unwrap();
    /// pool.connected();
    /// let mut dead = Vec::new();
    /// pool.release_evicting(&(), "fresh", ReleaseAs::Idle, t, |c| !c.starts_with("closed"), &mut dead)
    ///     .unwrap();
    /// assert_eq!(dead, ["closed by the server since"]);
    /// assert_eq!(pool.acquire(&(), false), Some("fresh"));
    /// ```
    pub fn release_evicting(
        &mut self,
        key: &K,
        conn: C,
        how: ReleaseAs,
        now: Instant,
        mut alive: impl FnMut(&mut C) -> bool,
        dead: &mut Vec<C>,
    ) -> Result<(), Refused<C>> {
        self.used = self.used.saturating_sub(1);
        let refuse = if how == ReleaseAs::NotReusable {
            Some(RefusedReason::NotReusable)
        } else if self.closed {
            Some(RefusedReason::Closed)
        } else if let Some(r) = self.disabled_reason() {
            Some(r)
        } else if self.is_full() {
            Some(RefusedReason::Full)
        } else {
            None
        };
        if let Some(reason) = refuse {
            return Err(Refused { conn, reason });
        }
        let safe = how == ReleaseAs::Safe;
        while self.is_surplus(safe) {
            let oldest = self.lru.tail;
            if oldest == NIL || alive(&mut self.nodes[oldest].conn) {
                return Err(Refused {
                    conn,
                    reason: RefusedReason::Surplus,
                });
            }
            dead.push(self.take_pooled(oldest));
        }
        let e = self.entry_for(key);
        let seq = self.next_seq();
        let safe = how == ReleaseAs::Safe;
        let idx = self.nodes.insert(Node {
            conn,
            entry: e,
            seq,
            last_used: now,
            key_link: Link::DETACHED,
            lru_link: Link::DETACHED,
            kind: if safe { Kind::Safe } else { Kind::Idle },
        });
        let entry = &mut self.entries[e];
        let list = if safe {
            &mut entry.safe
        } else {
            &mut entry.idle
        };
        push_front(&mut self.nodes, list, idx, key_link as LinkOf<Node<C>>);
        push_front(
            &mut self.nodes,
            &mut self.lru,
            idx,
            lru_link as LinkOf<Node<C>>,
        );
        if safe {
            self.safe += 1;
        } else {
            self.idle += 1;
        }
        self.arm(now);
        Ok(())
    }

    /// Removes a pooled node and returns its connection.
    fn take_pooled(&mut self, idx: usize) -> C {
        let e = self.nodes[idx].entry;
        let entry = &mut self.entries[e];
        let safe = matches!(self.nodes[idx].kind, Kind::Safe);
        let list = if safe {
            self.safe -= 1;
            &mut entry.safe
        } else {
            self.idle -= 1;
            &mut entry.idle
        };
        unlink(&mut self.nodes, list, idx, key_link as LinkOf<Node<C>>);
        unlink(
            &mut self.nodes,
            &mut self.lru,
            idx,
            lru_link as LinkOf<Node<C>>,
        );
        let conn = self.nodes.remove(idx).conn;
        self.note_if_empty(e);
        conn
    }

    // ---- purge -------------------------------------------------------------

    /// When [`purge`](Self::purge) next has work: `Some` while anything is
    /// pooled (every `purge_delay`), `None` otherwise.
    pub fn next_purge_at(&self) -> Option<Instant> {
        self.next_purge
    }

    /// Runs the purge tick if it is due (`now >= next_purge_at()`), and
    /// returns the connections to close, least recently used first; see the
    /// crate docs for the rule. Before the tick is due it does nothing. A
    /// late call counts as one period.
    pub fn purge(&mut self, now: Instant) -> Vec<C> {
        match self.next_purge {
            Some(t) if now >= t => {}
            _ => return Vec::new(),
        }
        let needed = self.max_used.max(self.est_need);
        let target = needed.saturating_sub(self.used).max(self.settings.low_conn);
        let mut excess = self.pooled_len().saturating_sub(target);
        let mut out = Vec::new();
        while self.lru.tail != NIL {
            let idx = self.lru.tail;
            let expired = self
                .settings
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(self.nodes[idx].last_used) >= t);
            if excess == 0 && !expired {
                break;
            }
            excess = excess.saturating_sub(1);
            out.push(self.take_pooled(idx));
        }
        self.free_empty_entries();
        self.est_need = self.max_used.max((self.est_need + self.max_used) / 2);
        self.max_used = self.used;
        self.next_purge = if self.pooled_len() > 0 {
            Some(now + self.settings.purge_delay)
        } else {
            None
        };
        out
    }

    /// Closes the pool (server removed, shutdown): returns every pooled
    /// connection, least recently used first. From now on nothing is handed
    /// out and releases are refused with [`RefusedReason::Closed`].
    pub fn close(&mut self) -> Vec<C> {
        self.closed = true;
        self.next_purge = None;
        let mut out = Vec::with_capacity(self.pooled_len());
        while self.lru.tail != NIL {
            out.push(self.take_pooled(self.lru.tail));
        }
        self.free_empty_entries();
        out
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ---- counts --------------------------------------------------------

    /// Pooled exclusive connections not yet proven.
    pub fn idle_len(&self) -> usize {
        self.idle
    }

    /// Pooled exclusive connections proven reusable.
    pub fn safe_len(&self) -> usize {
        self.safe
    }

    /// Connections held by the pool: idle + safe (what `max_conn` caps and
    /// the purge trims).
    pub fn pooled_len(&self) -> usize {
        self.idle + self.safe
    }

    /// Connections in use.
    pub fn used_len(&self) -> usize {
        self.used
    }

    /// Number of keys the pool keeps state for: those with pooled
    /// connections, plus those emptied since the last purge tick (freed at
    /// the tick, or by [`close`](Self::close)).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// A copy of the counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            idle: self.idle,
            safe: self.safe,
            used: self.used,
            max_used: self.max_used,
            est_need: self.est_need,
        }
    }
}

#[cfg(test)]
mod tests;
