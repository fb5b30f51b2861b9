//! Servers' in-flight slots: the count of requests each server has in
//! flight and the `maxconn` it is held to (shared by every balancer of
//! the server across reloads), the picks that hold a slot until they are
//! dropped, and the least-connections bookkeeping on top of the counts
//! (the load of a server, the floor a group's loads cannot go under, the
//! best candidate of a scan).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use crate::ServerId;

/// A server's count of requests in flight and the `maxconn` it is held
/// to, shared by every balancer of the server across reloads
/// ([`crate::Balancer::new_sharing`]): each counts the others' requests.
#[derive(Debug)]
pub(crate) struct Counter {
    pub(crate) in_flight: AtomicU32,
    /// `maxconn` of the configuration in force, or `u32::MAX` for none
    /// ([`crate::Balancer::enforce_limits`]).
    pub(crate) limit: AtomicU32,
}

/// A server's count of requests in flight, to hand to the balancer of a
/// later configuration of the same server ([`crate::Balancer::new_sharing`]).
#[derive(Debug, Clone)]
pub struct SharedCount(pub(crate) Arc<Counter>);

impl SharedCount {
    /// Requests in flight on the server, across the balancers sharing it.
    pub fn in_flight(&self) -> u32 {
        self.0.in_flight.load(Relaxed)
    }
}

/// One server's counter and limit, shared with its picks.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) counter: Arc<Counter>,
    /// `maxconn` as this balancer's configuration says (`u32::MAX` for
    /// none); the counter's own limit is the configuration in force.
    pub(crate) limit: u32,
    /// Least connections: the server's weight while it is a candidate, 0
    /// otherwise (and always 0 for the other algorithms). A release reads
    /// it to lower its group's [`Floor`].
    pub(crate) weight: AtomicU32,
    /// Which [`Floor`] a release lowers: 0 for a primary, 1 for a backup.
    pub(crate) group: u32,
}

/// Least connections: a lower bound on the load ([`load_of`] / weight) of
/// every candidate in one group, packed with the snapshot generation it
/// holds for (see [`Floor::pack`]); a weight of 0 means none is known.
///
/// A full scan stores the load it found lowest; a release whose server
/// drops below it lowers it; a choice only raises loads. A candidate whose
/// load equals the floor is therefore a least loaded one, found without a
/// scan (exactly so on one thread; races can leave the floor a little off,
/// which costs a slightly less balanced choice, never a wrong server).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Floor(pub(crate) AtomicU64);

impl Floor {
    /// Generations are kept modulo 2^23.
    pub(crate) const GEN_MASK: u32 = (1 << 23) - 1;

    /// `load` ([`load_of`], saturated to 32 bits) in bits 9..41,
    /// `weight` (0..=256) in bits 0..9, the generation above.
    pub(crate) fn pack(load: u64, weight: u64, generation: u32) -> u64 {
        (u64::from(generation & Self::GEN_MASK) << 41)
            | (load.min(u64::from(u32::MAX)) << 9)
            | weight
    }

    /// `(load, weight, generation)`.
    pub(crate) fn unpack(v: u64) -> (u64, u64, u32) {
        ((v >> 9) & u64::from(u32::MAX), v & 0x1ff, (v >> 41) as u32)
    }

    /// A release: its server's load is now `load / weight`; lower the
    /// floor to it if it is below.
    #[inline]
    pub(crate) fn lower(&self, load: u64, weight: u64) {
        let mut cur = self.0.load(Relaxed);
        loop {
            let (fl, fw, generation) = Self::unpack(cur);
            // None known, or not below: nothing to do (the common case).
            if fw == 0 || load * fw >= fl * weight {
                return;
            }
            let new = Self::pack(load, weight, generation);
            match self.0.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }
}

/// What a balancer shares with its picks: the in-flight counters and the
/// least-connections floors (primaries, backups).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) slots: Arc<[Slot]>,
    pub(crate) floors: [Floor; 2],
}

impl Slot {
    /// The count of the server's requests in flight.
    #[inline]
    pub(crate) fn counter(&self) -> &AtomicU32 {
        &self.counter.in_flight
    }

    /// The `maxconn` in force for the server.
    #[inline]
    pub(crate) fn limit(&self) -> u32 {
        self.counter.limit.load(Relaxed)
    }

    /// Takes a slot unless the server is at its limit.
    #[inline]
    pub(crate) fn try_take(&self) -> bool {
        let counter = &self.counter.in_flight;
        let limit = self.limit();
        if limit == u32::MAX {
            counter.fetch_add(1, Relaxed);
            return true;
        }
        // All changes to one atomic are totally ordered, so Relaxed is
        // enough for the bound: no increment can land above the limit,
        // whichever balancer sharing the counter makes it.
        let mut cur = counter.load(Relaxed);
        loop {
            if cur >= limit {
                return false;
            }
            match counter.compare_exchange_weak(cur, cur + 1, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}

impl Shared {
    #[inline]
    pub(crate) fn take(&self, i: usize) -> bool {
        self.slots[i].try_take()
    }
}

/// The chosen server and its in-flight slot: dropping it releases the slot.
/// It keeps the counters alive on its own, so it may outlive its
/// [`Balancer`](crate::Balancer) (a reload) and move between threads.
pub struct Pick {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: ServerId,
}

impl Pick {
    /// The chosen server.
    pub fn server(&self) -> ServerId {
        self.id
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        let slot = &self.shared.slots[self.id.index()];
        let before = slot.counter().fetch_sub(1, Relaxed);
        let weight = slot.weight.load(Relaxed);
        if weight != 0 {
            let load = load_of(before.saturating_sub(1));
            self.shared.floors[slot.group as usize & 1].lower(load, u64::from(weight));
        }
    }
}

impl fmt::Debug for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pick").field("server", &self.id).finish()
    }
}

/// Least connections' load of a server with `in_flight` requests, to be
/// divided by its weight: HAProxy's key. An idle server is at 0 whatever
/// its weight, so idle servers take turns (ranking them by `1 / weight`
/// sent every request of a light load to the heaviest one); a busy one is
/// at `in_flight + 1`, its load once it takes the request.
#[inline]
pub(crate) fn load_of(in_flight: u32) -> u64 {
    if in_flight == 0 {
        0
    } else {
        u64::from(in_flight) + 1
    }
}

/// The least loaded server seen so far, relative to its weight.
#[derive(Clone, Copy)]
pub(crate) struct Best {
    /// `u32::MAX` for none yet.
    pub(crate) id: u32,
    /// Its position in the group.
    pub(crate) pos: usize,
    /// [`load_of`] its in-flight count.
    pub(crate) load: u64,
    pub(crate) weight: u64,
}

impl Best {
    pub(crate) const NONE: Best = Best {
        id: u32::MAX,
        pos: 0,
        load: 1,
        weight: 0,
    };

    /// Keeps server `id`, at position `pos`, if strictly less loaded than
    /// the best so far; returns whether it did.
    #[inline]
    pub(crate) fn offer(&mut self, id: u32, pos: usize, in_flight: u32, weight: u32) -> bool {
        let (load, weight) = (load_of(in_flight), u64::from(weight));
        // load / weight < self.load / self.weight, cross-multiplied (NONE's
        // weight 0 makes it infinitely loaded).
        if load * self.weight < self.load * weight {
            *self = Best {
                id,
                pos,
                load,
                weight,
            };
            true
        } else {
            false
        }
    }
}
