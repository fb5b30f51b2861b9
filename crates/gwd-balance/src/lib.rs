//! Server choice for a backend: HAProxy's `balance` algorithms over server
//! states, weights and in-flight counts.
//!
//! Model: a [`Balancer`] holds one backend's servers, numbered by
//! [`ServerId`] in config order. Each server has a fixed part (backup or
//! not, `maxconn`, initial weight) and three states changed from outside the
//! request path: its admin state ([`Admin`]: READY, DRAIN, MAINT), its
//! health (up or down, from health checks) and its current weight
//! (0..=256). A server is *usable* for a new request when it is Ready, up
//! and weighted above 0. The *candidate set* of a choice is the usable
//! primaries or, when there is none, the usable backups: only the first one
//! (lowest id) unless `option allbackups`, then all of them.
//! [`Balancer::choose`] picks a candidate with the backend's [`Algorithm`]
//! and takes an in-flight slot on it; the slot is the returned [`Pick`],
//! which gives it back when dropped.
//!
//! Invariants:
//! - a server's in-flight count never exceeds its `maxconn`, even under
//!   races: a slot is taken with a compare-and-swap that fails at the limit;
//! - every pick is in the candidate set, and has a free slot;
//! - [`NoPick::NoServer`] exactly when the candidate set is empty;
//!   [`NoPick::Full`] when it is not but no candidate has a free slot, or,
//!   with map-based hashing, the key's own server has none (a full primary
//!   set does not spill over to the backups: the caller queues, as HAProxy
//!   does);
//! - with [`Ask::avoid`], the avoided server is returned only when no other
//!   candidate has a free slot (HAProxy's redispatch keeps it as the last
//!   resort);
//! - changes of state and weight take effect on the next choice; slots
//!   taken before a change stay taken until their [`Pick`] drops.
//!
//! Concurrency: the request path ([`Balancer::choose`], [`Balancer::take`],
//! dropping a [`Pick`]) takes no lock. It reads an immutable snapshot of the
//! candidate sets, with each algorithm's tables precomputed, published
//! through `arc-swap`, and counts in-flight requests in atomics shared with
//! the picks (with least connections' floors, which releases lower). Changes (`set_up`, `set_admin`, `set_weight`) are rare: they
//! take a mutex, rebuild the snapshot and publish it. A choice racing with a
//! change may still use the previous snapshot, as a request that arrived a
//! moment earlier would have.
//!
//! Algorithms (see [`Algorithm`]):
//! - round robin, static or not: nginx's smooth weighted round robin,
//!   precomputed into a schedule that an atomic cursor walks;
//! - least connections: the lowest load, HAProxy's: 0 for an idle server
//!   whatever its weight (idle servers take turns), `(in_flight + 1) /
//!   weight` for a busy one; ties broken by a rotating starting point (the
//!   position after the last pick). Each
//!   group keeps a floor, a lower bound on its candidates' loads that a full
//!   scan sets and releases lower (choices only raise loads), so a choice
//!   takes the first of a few candidates at the floor and scans them all
//!   only when none is; exact on one thread, approximate under races;
//! - first: the lowest id with a free slot;
//! - random: the "power of N choices", `N` weighted draws (from an alias
//!   table, in constant time) of which the least loaded wins;
//! - hash (`source`, `uri`, `hdr()`): the key is hashed onto a weighted
//!   table (map-based) or a ring of points (consistent). When the key's
//!   server is full, a consistent ring sends it on to the next servers on
//!   the ring, the same ones each time; a map-based table answers
//!   [`NoPick::Full`] and the request waits for its server.
//!
//! This crate is pure: no tokio, no I/O, no clock and no random number
//! generator of its own. Randomness arrives as [`Ask::random`], hash keys
//! as bytes the caller extracted (see [`key`]). It depends on `arc-swap`,
//! `parking_lot` and `thiserror`.
//!
//! ```
//! use gwd_balance::{Algorithm, Ask, Balancer, ServerId, ServerSpec};
//!
//! // `balance roundrobin` over three servers of weight 1.
//! let lb = Balancer::new(Algorithm::RoundRobin, false, vec![ServerSpec::default(); 3]);
//! let pick = lb.choose(&Ask::default()).unwrap();
//! assert_eq!(pick.server(), ServerId::new(0));
//! assert_eq!(lb.in_flight(ServerId::new(0)), 1);
//! drop(pick); // the response is done: the slot is given back
//! assert_eq!(lb.in_flight(ServerId::new(0)), 0);
//!
//! // A health check marks server 1 down: it gets no new requests.
//! assert!(lb.set_up(ServerId::new(1), false));
//! assert_eq!(lb.usable().active, 2);
//! let next: Vec<usize> = (0..4)
//!     .map(|_| lb.choose(&Ask::default()).unwrap().server().index())
//!     .collect();
//! assert_eq!(next, [2, 0, 2, 0]);
//! ```

#![warn(missing_docs)]

mod alias;
pub mod key;
mod ring;
mod schedule;
mod slots;

use slots::{Best, Counter, Floor, Shared, Slot, load_of};
pub use slots::{Pick, SharedCount};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

/// The largest server weight (HAProxy's `SRV_UWGHT_MAX`).
pub const MAX_WEIGHT: u32 = 256;

/// The number of draws of `balance random` when none is given.
pub const DEFAULT_RANDOM_DRAWS: u32 = 2;

/// How many schedule entries (round robin, map-based hash) or ring points
/// (consistent hash) are tried after the first choice is full before the
/// choice falls back to a scan of every candidate. Keeps a choice cheap
/// when a few servers are full, and exact (no false [`NoPick::Full`]) when
/// all are.
const PROBES: usize = 16;

/// Rescans of least-connections after losing a race for the best slot.
const RESCANS: usize = 4;

/// How many candidates least-connections looks at, from its rotating
/// position, for one at the group's known lowest load before it scans them
/// all.
const WINDOW: usize = 16;

/// A server's position in its backend: 0-based, config order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(u32);

impl ServerId {
    /// The server at `index` in config order.
    pub const fn new(index: u32) -> ServerId {
        ServerId(index)
    }

    /// Its position in config order.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A backend's balancing algorithm (`balance` and `hash-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `roundrobin`: smooth weighted round robin; weights may change at run
    /// time.
    RoundRobin,
    /// `static-rr`: the same order, but weights are static (see
    /// [`Balancer::set_weight`]).
    StaticRr,
    /// `leastconn`: the server with the fewest in-flight requests relative
    /// to its weight; ties are rotated.
    LeastConn,
    /// `first`: the lowest id with a free slot (`maxconn`); weights are
    /// ignored except that 0 takes no traffic.
    First,
    /// `random(draws)`: `draws` weighted random servers, of which the least
    /// loaded relative to its weight wins (draws 0 counts as 1).
    Random {
        /// The number of draws ([`DEFAULT_RANDOM_DRAWS`] in HAProxy).
        draws: u32,
    },
    /// `source`, `uri`, `hdr(name)` and the other hashing `balance`
    /// methods: the key is hashed onto a weighted table (`hash-type
    /// map-based`, `consistent: false`) or a ring of points (`hash-type
    /// consistent`).
    Hash {
        /// `hash-type consistent`.
        consistent: bool,
    },
}

impl Algorithm {
    /// Whether weights may change at run time: false for HAProxy's static
    /// algorithms, `static-rr` and map-based hashing, whose tables are
    /// computed for fixed weights.
    pub fn is_dynamic(self) -> bool {
        !matches!(
            self,
            Algorithm::StaticRr | Algorithm::Hash { consistent: false }
        )
    }
}

/// A server's administrative state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// In service.
    Ready,
    /// No new requests; requests in flight (and those already assigned,
    /// see [`Balancer::take`]) continue.
    Drain,
    /// Maintenance: no requests at all; those in flight finish.
    Maint,
}

/// A server's configuration and initial state.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Initial weight, 0..=256 (larger values are treated as 256).
    pub weight: u32,
    /// A `backup` server: used only when no primary is usable.
    pub backup: bool,
    /// The most requests in flight at once. `None` and `Some(0)` mean no
    /// limit (HAProxy's `maxconn 0`).
    pub maxconn: Option<u32>,
    /// Initial admin state.
    pub admin: Admin,
    /// Initial health.
    pub up: bool,
}

impl Default for ServerSpec {
    /// Weight 1, a primary, no `maxconn`, Ready and up.
    fn default() -> Self {
        ServerSpec {
            weight: 1,
            backup: false,
            maxconn: None,
            admin: Admin::Ready,
            up: true,
        }
    }
}

/// A server's state as [`Balancer::server`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerState {
    /// Admin state.
    pub admin: Admin,
    /// Health.
    pub up: bool,
    /// Current (effective) weight.
    pub weight: u32,
    /// Configured weight (what a static algorithm calls "100%").
    pub initial_weight: u32,
    /// A backup server.
    pub backup: bool,
    /// The configured `maxconn`.
    pub maxconn: Option<u32>,
    /// Requests in flight now.
    pub in_flight: u32,
}

/// How many servers may take new requests (HAProxy's "N active and M backup
/// servers left"): Ready, up and weighted above 0, full or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usable {
    /// Usable primaries.
    pub active: u32,
    /// Usable backups (all of them, whether or not `allbackups`).
    pub backup: u32,
}

/// What the request path knows about a request when it asks for a server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask<'a> {
    /// Hash algorithms: the bytes to hash (client address, URI part, header
    /// value). None -> round robin among the usable set (HAProxy's fallback
    /// for hdr() when absent).
    pub key: Option<&'a [u8]>,
    /// Fresh randomness for Random (and nothing else needs it).
    pub random: u64,
    /// A retry (`option redispatch`): prefer any usable server other than
    /// this one when one exists.
    pub avoid: Option<ServerId>,
}

/// Why no server was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoPick {
    /// No usable server at all (HAProxy answers 503).
    #[error("no server available")]
    NoServer,
    /// Usable servers exist but every candidate is at its `maxconn`: the
    /// caller queues the request and asks again when a slot frees.
    #[error("every server is at its maxconn")]
    Full,
}

/// Why [`Balancer::set_weight`] refused a weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    /// Above [`MAX_WEIGHT`].
    #[error("weight must be between 0 and 256")]
    TooLarge,
    /// A static algorithm accepts only 0 and the initial weight (HAProxy's
    /// message, word for word, for the runtime API).
    #[error("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")]
    Static,
}

/// A cursor on its own cache line, so the primaries' and the backups'
/// cursors do not bounce one line between cores.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Cursor(AtomicUsize);

/// One candidate set (the usable primaries, or the backups in use) with the
/// tables its algorithm needs.
#[derive(Debug, Default)]
struct Group {
    /// Members' ids, ascending.
    ids: Box<[u32]>,
    /// Members' weights, by position in `ids`.
    weights: Box<[u32]>,
    /// One cycle of smooth weighted round robin, as ids: round robin, the
    /// map-based table, and hashing without a key.
    schedule: Box<[u32]>,
    /// Random: weighted draws of a position in `ids`.
    alias: alias::Alias,
    /// Consistent hashing.
    ring: Option<ring::Ring>,
}

impl Group {
    fn contains(&self, id: u32) -> bool {
        self.ids.binary_search(&id).is_ok()
    }
}

/// What the request path reads: rebuilt on every change.
#[derive(Debug)]
struct Snapshot {
    /// By id: may the server serve requests already assigned to it (up and
    /// not in maintenance)?
    serving: Box<[bool]>,
    /// The usable primaries; the backups in use.
    groups: [Group; 2],
    usable: Usable,
    /// Counts publications: a least-connections [`Floor`] holds only for
    /// the snapshot of its generation.
    generation: u32,
}

/// A server's configuration and state, under the control mutex.
#[derive(Debug, Clone)]
struct Conf {
    admin: Admin,
    up: bool,
    weight: u32,
    initial_weight: u32,
    backup: bool,
    maxconn: Option<u32>,
}

impl Conf {
    fn usable(&self) -> bool {
        self.admin == Admin::Ready && self.up && self.weight > 0
    }
}

#[derive(Debug)]
struct Control {
    servers: Vec<Conf>,
    /// Consistent hashing: points per unit of weight, fixed at creation.
    ring_k: u64,
    /// Consistent hashing: every weighted server's points; None when a
    /// weight changed since it was built.
    ring: Option<ring::Master>,
    /// The generation of the last snapshot built.
    generation: u32,
}

/// How an algorithm's search for a free candidate ended.
enum Step {
    /// A slot was taken on this server.
    Took(u32),
    /// Every candidate but the avoided one is full (or there is none).
    Exhausted,
    /// The algorithm's one choice is full and it will not look elsewhere.
    Full,
}

/// A backend's servers and their balancing. `Send + Sync`: share it by
/// reference or `Arc` between the request path and the health checks.
pub struct Balancer {
    algorithm: Algorithm,
    all_backups: bool,
    shared: Arc<Shared>,
    snapshot: ArcSwap<Snapshot>,
    control: Mutex<Control>,
    /// Round-robin and least-connections positions: primaries, backups.
    /// Least connections stores the position after its last pick there (a
    /// plain store: a lost update under a race only repeats a position).
    cursors: [Cursor; 2],
    /// Tests: how many least-connections choices scanned every candidate.
    #[cfg(test)]
    scans: AtomicUsize,
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("algorithm", &self.algorithm)
            .field("all_backups", &self.all_backups)
            .field("servers", &self.len())
            .field("usable", &self.usable())
            .finish_non_exhaustive()
    }
}

impl Balancer {
    /// A backend balanced with `algorithm` over `servers` (in config order:
    /// the first is [`ServerId::new(0)`](ServerId::new)). `all_backups` is
    /// `option allbackups`. Weights above 256 are treated as 256 (the
    /// configuration refuses them first).
    pub fn new(algorithm: Algorithm, all_backups: bool, servers: Vec<ServerSpec>) -> Balancer {
        let servers: Vec<Conf> = servers
            .into_iter()
            .map(|s| {
                let weight = s.weight.min(MAX_WEIGHT);
                Conf {
                    admin: s.admin,
                    up: s.up,
                    weight,
                    initial_weight: weight,
                    backup: s.backup,
                    maxconn: s.maxconn,
                }
            })
            .collect();
        assert!(u32::try_from(servers.len()).is_ok(), "too many servers");
        let slots = servers
            .iter()
            .map(|c| {
                let limit = match c.maxconn {
                    None | Some(0) => u32::MAX,
                    Some(n) => n,
                };
                Slot {
                    counter: Arc::new(Counter {
                        in_flight: AtomicU32::new(0),
                        limit: AtomicU32::new(limit),
                    }),
                    limit,
                    weight: AtomicU32::new(0),
                    group: u32::from(c.backup),
                }
            })
            .collect();
        let total: u64 = servers.iter().map(|c| u64::from(c.weight)).sum();
        let mut control = Control {
            servers,
            ring_k: ring::points_per_weight(total),
            ring: None,
            generation: 0,
        };
        let snapshot = build(algorithm, all_backups, &mut control);
        let balancer = Balancer {
            algorithm,
            all_backups,
            shared: Arc::new(Shared {
                slots,
                floors: Default::default(),
            }),
            snapshot: ArcSwap::from_pointee(snapshot),
            control: Mutex::new(control),
            cursors: Default::default(),
            #[cfg(test)]
            scans: AtomicUsize::new(0),
        };
        balancer.set_slot_weights(&balancer.snapshot.load());
        balancer
    }

    /// The backend's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// [`Balancer::new`], for a configuration that replaces another (a
    /// reload): server `i` counts its requests in flight on `counts[i]`
    /// when given (the server's [`SharedCount`] from the balancer of an
    /// earlier configuration), so every balancer of the server counts
    /// the others' requests against its `maxconn`: requests still running
    /// (or still to be handed a slot) on an old balancer keep their room
    /// on the server, however many reloads ago they started. The limit
    /// stays the old one's until [`Balancer::enforce_limits`] (when the
    /// new configuration is put in force).
    ///
    /// ```
    /// use gwd_balance::{Algorithm, Ask, Balancer, NoPick, ServerId, ServerSpec};
    /// let spec = || ServerSpec { maxconn: Some(1), ..ServerSpec::default() };
    /// let old = Balancer::new(Algorithm::RoundRobin, false, vec![spec()]);
    /// let running = old.choose(&Ask::default()).unwrap();
    /// // The reload adds a server in front of the old one.
    /// let counts = vec![None, Some(old.count(ServerId::new(0)))];
    /// let new = Balancer::new_sharing(Algorithm::RoundRobin, false, vec![spec(), spec()], counts);
    /// new.enforce_limits();
    /// let a = new.choose(&Ask::default()).unwrap();
    /// assert_eq!(a.server(), ServerId::new(0));
    /// // The old server is still busy with the old balancer's request.
    /// assert_eq!(new.choose(&Ask::default()).unwrap_err(), NoPick::Full);
    /// drop(running);
    /// assert_eq!(new.choose(&Ask::default()).unwrap().server(), ServerId::new(1));
    /// ```
    ///
    /// # Panics
    /// If `counts` does not give one entry per server.
    pub fn new_sharing(
        algorithm: Algorithm,
        all_backups: bool,
        servers: Vec<ServerSpec>,
        counts: Vec<Option<SharedCount>>,
    ) -> Balancer {
        assert_eq!(counts.len(), servers.len(), "one entry per server");
        let mut b = Balancer::new(algorithm, all_backups, servers);
        let shared = Arc::get_mut(&mut b.shared).expect("a new balancer is not shared yet");
        let slots = Arc::get_mut(&mut shared.slots).expect("a new balancer's slots are its own");
        for (slot, count) in slots.iter_mut().zip(counts) {
            if let Some(SharedCount(counter)) = count {
                slot.counter = counter;
            }
        }
        b
    }

    /// Server `id`'s count of requests in flight, for the balancer of a
    /// later configuration ([`Balancer::new_sharing`]).
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn count(&self, id: ServerId) -> SharedCount {
        SharedCount(self.shared.slots[self.check(id)].counter.clone())
    }

    /// This balancer's configuration is now in force: its servers'
    /// `maxconn` holds for every balancer sharing their counts (an old
    /// configuration's queue then takes slots up to the new limit).
    pub fn enforce_limits(&self) {
        for slot in self.shared.slots.iter() {
            slot.counter.limit.store(slot.limit, Relaxed);
        }
    }

    /// The number of servers, usable or not.
    pub fn len(&self) -> usize {
        self.shared.slots.len()
    }

    /// Whether the backend has no server at all.
    pub fn is_empty(&self) -> bool {
        self.shared.slots.is_empty()
    }

    /// Chooses a server for a new request and takes an in-flight slot on it.
    ///
    /// Where the first choice is full: round robin, least connections,
    /// first and random go on to another candidate; consistent hashing goes
    /// on to the next servers on the ring (so a full server's keys spill
    /// onto the same neighbours every time); map-based hashing returns
    /// [`NoPick::Full`] and keeps the key on its server (HAProxy queues the
    /// request on that server), leaving it only for [`Ask::avoid`].
    pub fn choose(&self, ask: &Ask<'_>) -> Result<Pick, NoPick> {
        let snap = self.snapshot.load();
        let which = if !snap.groups[0].ids.is_empty() {
            0
        } else if !snap.groups[1].ids.is_empty() {
            1
        } else {
            return Err(NoPick::NoServer);
        };
        let group = &snap.groups[which];
        // Avoiding the only candidate would leave nothing: ignore it then.
        let avoid = match ask.avoid {
            Some(a) if group.ids.len() > 1 => Some(a.0),
            _ => None,
        };
        let cursor = &self.cursors[which].0;
        let step = match self.algorithm {
            Algorithm::RoundRobin | Algorithm::StaticRr => self.rotate(group, cursor, avoid),
            Algorithm::LeastConn => self.least_conn(group, &snap, which, cursor, avoid),
            Algorithm::First => self.first(group, avoid),
            Algorithm::Random { draws } => self.random(group, draws, ask.random, avoid),
            Algorithm::Hash { consistent } => match ask.key {
                None => self.rotate(group, cursor, avoid),
                Some(key) if consistent => self.consistent(group, cursor, key, avoid),
                Some(key) => self.map_based(group, key, avoid),
            },
        };
        let id = match step {
            Step::Took(id) => id,
            Step::Full => return Err(NoPick::Full),
            Step::Exhausted => match avoid {
                // Redispatch's last resort: the server being retried.
                Some(a) if group.contains(a) && self.shared.take(a as usize) => a,
                _ => return Err(NoPick::Full),
            },
        };
        Ok(self.pick(id))
    }

    /// Map-based hashing: the server `key` belongs to now, full or not
    /// (`None` for the other algorithms, or without a candidate). A queue
    /// keeps waiters per home server with it, so a newcomer for a server
    /// that has waiters queues behind them, as in HAProxy's server queues.
    pub fn home(&self, key: &[u8]) -> Option<ServerId> {
        if self.algorithm != (Algorithm::Hash { consistent: false }) {
            return None;
        }
        let snap = self.snapshot.load();
        let g = snap.groups.iter().find(|g| !g.ids.is_empty())?;
        let len = g.schedule.len();
        if len == 0 {
            return None;
        }
        Some(ServerId(g.schedule[(key::hash(key) % len as u64) as usize]))
    }

    /// Takes a slot on one given server (a queued request, a retry on the
    /// same server); respects maxconn and usability.
    ///
    /// The server must be able to serve: up and not in maintenance
    /// ([`NoPick::NoServer`] otherwise). A server in DRAIN or of weight 0
    /// still accepts, as HAProxy still serves requests already assigned to
    /// a draining server; one at its `maxconn` gives [`NoPick::Full`].
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn take(&self, id: ServerId) -> Result<Pick, NoPick> {
        let i = self.check(id);
        if !self.snapshot.load().serving[i] {
            return Err(NoPick::NoServer);
        }
        if self.shared.take(i) {
            Ok(self.pick(id.0))
        } else {
            Err(NoPick::Full)
        }
    }

    /// Health from checks. Returns whether it changed.
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn set_up(&self, id: ServerId, up: bool) -> bool {
        let i = self.check(id);
        let mut ctl = self.control.lock();
        if ctl.servers[i].up == up {
            return false;
        }
        ctl.servers[i].up = up;
        self.publish(&mut ctl);
        true
    }

    /// Returns the previous admin state.
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn set_admin(&self, id: ServerId, admin: Admin) -> Admin {
        let i = self.check(id);
        let mut ctl = self.control.lock();
        let prev = ctl.servers[i].admin;
        if prev != admin {
            ctl.servers[i].admin = admin;
            self.publish(&mut ctl);
        }
        prev
    }

    /// Current (effective) weight; returns the previous one. Errors: above
    /// 256 -> WeightError::TooLarge; a static algorithm accepts only 0 or
    /// the initial weight -> WeightError::Static.
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn set_weight(&self, id: ServerId, weight: u32) -> Result<u32, WeightError> {
        let i = self.check(id);
        if weight > MAX_WEIGHT {
            return Err(WeightError::TooLarge);
        }
        let mut ctl = self.control.lock();
        let server = &mut ctl.servers[i];
        if !self.algorithm.is_dynamic() && weight != 0 && weight != server.initial_weight {
            return Err(WeightError::Static);
        }
        let prev = server.weight;
        if prev != weight {
            server.weight = weight;
            ctl.ring = None;
            self.publish(&mut ctl);
        }
        Ok(prev)
    }

    /// The server's configuration, state and in-flight count.
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn server(&self, id: ServerId) -> ServerState {
        let i = self.check(id);
        let ctl = self.control.lock();
        let c = &ctl.servers[i];
        ServerState {
            admin: c.admin,
            up: c.up,
            weight: c.weight,
            initial_weight: c.initial_weight,
            backup: c.backup,
            maxconn: c.maxconn,
            in_flight: self.shared.slots[i].counter().load(Relaxed),
        }
    }

    /// Servers that may take new requests now, primaries and backups
    /// separately (HAProxy's "N active and M backup servers left"): admin
    /// Ready, up, weight > 0.
    pub fn usable(&self) -> Usable {
        self.snapshot.load().usable
    }

    /// Requests in flight on the server now.
    ///
    /// # Panics
    /// If `id` is not one of this backend's servers.
    pub fn in_flight(&self, id: ServerId) -> u32 {
        let i = self.check(id);
        self.shared.slots[i].counter().load(Relaxed)
    }

    fn check(&self, id: ServerId) -> usize {
        let i = id.index();
        assert!(
            i < self.shared.slots.len(),
            "server {i} is not in this backend ({} servers)",
            self.shared.slots.len()
        );
        i
    }

    fn pick(&self, id: u32) -> Pick {
        Pick {
            shared: Arc::clone(&self.shared),
            id: ServerId(id),
        }
    }

    /// Rebuilds and publishes the snapshot; called with the control mutex
    /// held, so snapshots are published in the order of the changes.
    fn publish(&self, ctl: &mut Control) {
        ctl.generation = ctl.generation.wrapping_add(1) & Floor::GEN_MASK;
        let snap = build(self.algorithm, self.all_backups, ctl);
        self.set_slot_weights(&snap);
        self.snapshot.store(Arc::new(snap));
    }

    /// Least connections: gives each candidate's slot its weight, and the
    /// others 0, so that releases lower the right floor and only for
    /// candidates.
    fn set_slot_weights(&self, snap: &Snapshot) {
        if self.algorithm != Algorithm::LeastConn {
            return;
        }
        let mut weights = vec![0; self.shared.slots.len()];
        for g in &snap.groups {
            for (&id, &w) in g.ids.iter().zip(&g.weights) {
                weights[id as usize] = w;
            }
        }
        for (slot, w) in self.shared.slots.iter().zip(weights) {
            slot.weight.store(w, Relaxed);
        }
    }

    /// Least connections: from the position after the last pick, the
    /// first of a few candidates whose load is at the group's floor (a
    /// least loaded one, and the next among equals); else a scan of every
    /// candidate, which sets the floor to the lowest load it found.
    fn least_conn(
        &self,
        g: &Group,
        snap: &Snapshot,
        which: usize,
        cursor: &AtomicUsize,
        avoid: Option<u32>,
    ) -> Step {
        let n = g.ids.len();
        let mut start = cursor.load(Relaxed);
        if start >= n {
            start = 0;
        }
        let floor = &self.shared.floors[which];
        let seen = floor.0.load(Relaxed);
        let (fl, fw, generation) = Floor::unpack(seen);
        if fw != 0 && generation == snap.generation {
            let slots: &[Slot] = &self.shared.slots;
            let mut i = start;
            for _ in 0..n.min(WINDOW) {
                let id = g.ids[i];
                let slot = &slots[id as usize];
                let cur = slot.counter().load(Relaxed);
                if cur < slot.limit() && Some(id) != avoid {
                    let (load, weight) = (load_of(cur), u64::from(g.weights[i]));
                    // load / weight <= floor, cross-multiplied.
                    if load * fw <= fl * weight && self.shared.take(id as usize) {
                        if load * fw < fl * weight {
                            // Below the floor: a race left it too high.
                            // Lower it, unless it moved meanwhile.
                            let low = Floor::pack(load, weight, generation);
                            let _ = floor.0.compare_exchange(seen, low, Relaxed, Relaxed);
                        }
                        cursor.store(if i + 1 == n { 0 } else { i + 1 }, Relaxed);
                        return Step::Took(id);
                    }
                }
                i += 1;
                if i == n {
                    i = 0;
                }
            }
        }
        #[cfg(test)]
        self.scans.fetch_add(1, Relaxed);
        let (step, best) = self.least_loaded(g, start, avoid);
        if let Some(best) = best {
            // Avoiding a server leaves it out of the minimum: no floor then.
            if avoid.is_none() {
                floor.0.store(
                    Floor::pack(best.load, best.weight, snap.generation),
                    Relaxed,
                );
            }
            cursor.store(if best.pos + 1 == n { 0 } else { best.pos + 1 }, Relaxed);
        }
        step
    }

    /// Round robin: the schedule's next entry, else the next few, else any
    /// candidate with a free slot.
    fn rotate(&self, g: &Group, cursor: &AtomicUsize, avoid: Option<u32>) -> Step {
        let len = g.schedule.len();
        let pos = cursor.fetch_add(1, Relaxed) % len;
        let mut i = pos;
        for _ in 0..len.min(PROBES) {
            let id = g.schedule[i];
            if Some(id) != avoid && self.shared.take(id as usize) {
                return Step::Took(id);
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
        self.scan(g, pos % g.ids.len(), avoid)
    }

    /// The first candidate with a free slot, from position `start` on.
    fn scan(&self, g: &Group, start: usize, avoid: Option<u32>) -> Step {
        let (before, after) = g.ids.split_at(start);
        for &id in after.iter().chain(before) {
            if Some(id) != avoid && self.shared.take(id as usize) {
                return Step::Took(id);
            }
        }
        Step::Exhausted
    }

    /// The candidate with the lowest [`load_of`] / weight, the first
    /// from position `start` on among equals; with the load it had before
    /// the take when it came from the comparison (not from the final
    /// fallback).
    fn least_loaded(&self, g: &Group, start: usize, avoid: Option<u32>) -> (Step, Option<Best>) {
        let (ids_before, ids_after) = g.ids.split_at(start);
        let (w_before, w_after) = g.weights.split_at(start);
        for _ in 0..RESCANS {
            let mut best = Best::NONE;
            // Two plain loops rather than a chained iterator: this scan is
            // the whole cost of least-connections and `Chain` checks its
            // state on every step.
            if !self.scan_least(ids_after, w_after, start, avoid, &mut best) {
                self.scan_least(ids_before, w_before, 0, avoid, &mut best);
            }
            if best.id == u32::MAX {
                return (Step::Exhausted, None);
            }
            if self.shared.take(best.id as usize) {
                return (Step::Took(best.id), Some(best));
            }
            // Another request took the last slot between the scan and the
            // take: look again.
        }
        (self.scan(g, start, avoid), None)
    }

    /// Folds `ids` into `best`; true when `best` can no longer improve (an
    /// idle server: 0 is the lowest load there is, and the first idle one
    /// from the start wins the tie), which ends the scan early when servers
    /// are idle, with the same result as a full scan.
    #[inline]
    fn scan_least(
        &self,
        ids: &[u32],
        weights: &[u32],
        offset: usize,
        avoid: Option<u32>,
        best: &mut Best,
    ) -> bool {
        // A local slice: the atomic loads below would otherwise make the
        // compiler reload `self.shared.slots` on every step.
        let slots: &[Slot] = &self.shared.slots;
        for (k, (&id, &w)) in ids.iter().zip(weights).enumerate() {
            if Some(id) == avoid {
                continue;
            }
            let slot = &slots[id as usize];
            let cur = slot.counter().load(Relaxed);
            if cur >= slot.limit() {
                continue;
            }
            if best.offer(id, offset + k, cur, w) && cur == 0 {
                return true;
            }
        }
        false
    }

    fn first(&self, g: &Group, avoid: Option<u32>) -> Step {
        self.scan(g, 0, avoid)
    }

    /// Power of `draws` choices: weighted draws from `random`, the least
    /// loaded relative to its weight wins (the first drawn among equals).
    fn random(&self, g: &Group, draws: u32, random: u64, avoid: Option<u32>) -> Step {
        let mut state = random;
        let mut best = Best::NONE;
        for _ in 0..draws.max(1) {
            let i = g.alias.draw(splitmix64(&mut state));
            let id = g.ids[i];
            if Some(id) == avoid {
                continue;
            }
            let slot = &self.shared.slots[id as usize];
            let cur = slot.counter().load(Relaxed);
            if cur < slot.limit() {
                best.offer(id, i, cur, g.weights[i]);
            }
        }
        if best.id != u32::MAX && self.shared.take(best.id as usize) {
            return Step::Took(best.id);
        }
        // Every draw was full or avoided: the least loaded of all.
        let start = (splitmix64(&mut state) % g.ids.len() as u64) as usize;
        self.least_loaded(g, start, avoid).0
    }

    /// Consistent hashing: the owner of the key's point, else the next
    /// owners along the ring, else any candidate.
    fn consistent(&self, g: &Group, cursor: &AtomicUsize, key: &[u8], avoid: Option<u32>) -> Step {
        let Some(ring) = g.ring.as_ref().filter(|r| r.len() > 0) else {
            return self.rotate(g, cursor, avoid);
        };
        let h = key::hash(key);
        let len = ring.len();
        let home = ring.locate(h);
        let mut pos = home;
        let mut tried = u32::MAX;
        for _ in 0..len.min(PROBES) {
            let id = ring.owner(pos);
            if id != tried && Some(id) != avoid {
                if self.shared.take(id as usize) {
                    return Step::Took(id);
                }
                tried = id;
            }
            pos += 1;
            if pos == len {
                pos = 0;
            }
        }
        let start = g.ids.binary_search(&ring.owner(home)).unwrap_or(0);
        self.scan(g, start, avoid)
    }

    /// Map-based hashing: the key's entry in the weighted table. A full
    /// server keeps its keys ([`Step::Full`]); only `avoid` sends a key on
    /// to the following entries.
    fn map_based(&self, g: &Group, key: &[u8], avoid: Option<u32>) -> Step {
        let len = g.schedule.len();
        let h = key::hash(key);
        let mut i = (h % len as u64) as usize;
        let id = g.schedule[i];
        if Some(id) != avoid {
            return if self.shared.take(id as usize) {
                Step::Took(id)
            } else {
                Step::Full
            };
        }
        for _ in 1..len.min(PROBES) {
            i += 1;
            if i == len {
                i = 0;
            }
            let id = g.schedule[i];
            if Some(id) != avoid && self.shared.take(id as usize) {
                return Step::Took(id);
            }
        }
        self.scan(g, (h % g.ids.len() as u64) as usize, avoid)
    }
}

/// Builds the snapshot for the current configuration and states.
fn build(algorithm: Algorithm, all_backups: bool, ctl: &mut Control) -> Snapshot {
    let n = ctl.servers.len();
    let serving = ctl
        .servers
        .iter()
        .map(|c| c.up && c.admin != Admin::Maint)
        .collect();
    let mut primaries = Vec::new();
    let mut backups = Vec::new();
    for (id, c) in ctl.servers.iter().enumerate() {
        if c.usable() {
            if c.backup {
                backups.push(id as u32);
            } else {
                primaries.push(id as u32);
            }
        }
    }
    let usable = Usable {
        active: primaries.len() as u32,
        backup: backups.len() as u32,
    };
    if !all_backups {
        // HAProxy's first usable backup (`lbprm.fbck`).
        backups.truncate(1);
    }
    if matches!(algorithm, Algorithm::Hash { consistent: true }) && ctl.ring.is_none() {
        let weighted = ctl
            .servers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.weight > 0)
            .map(|(id, c)| (id as u32, c.weight));
        ctl.ring = Some(ring::Master::build(weighted, ctl.ring_k));
    }
    let ctl = &*ctl;
    let group = |ids: Vec<u32>| -> Group {
        if ids.is_empty() {
            return Group::default();
        }
        let weights: Vec<u32> = ids
            .iter()
            .map(|&id| ctl.servers[id as usize].weight)
            .collect();
        let mut g = Group::default();
        match algorithm {
            Algorithm::RoundRobin | Algorithm::StaticRr | Algorithm::Hash { .. } => {
                g.schedule = schedule::smooth(&weights)
                    .into_iter()
                    .map(|i| ids[i as usize])
                    .collect();
            }
            Algorithm::Random { .. } => g.alias = alias::Alias::new(&weights),
            Algorithm::LeastConn | Algorithm::First => {}
        }
        if let (Algorithm::Hash { consistent: true }, Some(master)) = (algorithm, &ctl.ring) {
            let mut member = vec![false; n];
            for &id in &ids {
                member[id as usize] = true;
            }
            g.ring = Some(master.filter(&member));
        }
        g.ids = ids.into_boxed_slice();
        g.weights = weights.into_boxed_slice();
        g
    };
    Snapshot {
        serving,
        groups: [group(primaries), group(backups)],
        usable,
        generation: ctl.generation,
    }
}

/// One step of splitmix64: turns one random `u64` into a stream.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
