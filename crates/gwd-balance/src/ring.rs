//! The consistent-hashing ring (`hash-type consistent`).
//!
//! Every server of weight `w` owns `w * k` points on a 32-bit ring; point
//! `j` of server `id` is at `fmix64(id << 32 | j)`'s top 32 bits, so a
//! server's points depend only on its id and its own point count. A key
//! hashed to `h` goes to the owner of the first point at or after `h`
//! (wrapping around).
//!
//! The [`Master`] ring holds the points of every server with a weight,
//! usable or not, sorted once. A snapshot's [`Ring`] is the master filtered
//! to the candidate set: taking a server out (down, drain, maint) removes
//! its points and nothing else, so only the keys that were on it move, and
//! putting it back restores the original mapping exactly. Up/down changes
//! therefore only re-filter (linear, no hashing, no sorting); weight
//! changes rebuild the master.
//!
//! `k` is chosen once from the initial weights, [`BUDGET`] points in all
//! and at most [`MAX_K`] per unit of weight: a thousand servers of weight 1
//! get 65 points each (about 12 % standard deviation of their share;
//! HAProxy gives each unit of weight 16 points), a handful of servers 160
//! each. The budget bounds a backend's rings to 512 KiB each (the master
//! and a snapshot's filtered copy) unless the weights sum past it, when
//! each unit of weight keeps one point.
//! Keeping `k` fixed means a weight change adds or removes only that
//! server's points; only when raised weights would push the ring past the
//! budget is `k` lowered for that build (which then moves a small share of
//! every server's keys).

/// The number of points the ring aims at.
pub(crate) const BUDGET: u64 = 1 << 16;
/// The most points per unit of weight.
pub(crate) const MAX_K: u64 = 160;

/// Points per unit of weight for a backend whose weights sum to `total`.
pub(crate) fn points_per_weight(total: u64) -> u64 {
    (BUDGET / total.max(1)).clamp(1, MAX_K)
}

fn point(id: u32, j: u32) -> u32 {
    (crate::key::fmix64(((u64::from(id) << 32) | u64::from(j)) ^ 0x5bd1_e995_7f4a_7c15) >> 32)
        as u32
}

/// Every weighted server's points, sorted: `point << 32 | id`.
#[derive(Debug)]
pub(crate) struct Master {
    entries: Vec<u64>,
}

impl Master {
    /// Builds the ring of `(id, weight)` servers with `k` points per unit
    /// of weight (lowered to stay within [`BUDGET`]).
    pub(crate) fn build(servers: impl Iterator<Item = (u32, u32)> + Clone, k: u64) -> Master {
        let total: u64 = servers.clone().map(|(_, w)| u64::from(w)).sum();
        let k = if total.saturating_mul(k) > BUDGET {
            (BUDGET / total.max(1)).max(1)
        } else {
            k
        };
        let mut entries = Vec::with_capacity((total * k) as usize);
        for (id, w) in servers {
            for j in 0..(u64::from(w) * k) as u32 {
                entries.push((u64::from(point(id, j)) << 32) | u64::from(id));
            }
        }
        entries.sort_unstable();
        Master { entries }
    }

    /// The ring of the servers whose `member[id]` is set.
    pub(crate) fn filter(&self, member: &[bool]) -> Ring {
        // Sized for everyone up front: growing a megabyte vector by
        // doubling would copy it a dozen times.
        let mut entries = Vec::with_capacity(self.entries.len());
        entries.extend(
            self.entries
                .iter()
                .copied()
                .filter(|&e| member[e as u32 as usize]),
        );
        Ring::new(entries)
    }
}

/// A snapshot's ring: sorted `point << 32 | owner` entries (a point and its
/// owner share a cache line), and a bucket index by the points' top bits,
/// about four points a bucket, so a lookup costs two or three cache misses
/// instead of a twenty-step binary search over megabytes.
#[derive(Debug)]
pub(crate) struct Ring {
    entries: Box<[u64]>,
    /// `index[b]`: the first position whose point's top bits are `>= b`.
    index: Box<[u32]>,
    shift: u32,
}

impl Ring {
    fn new(entries: Vec<u64>) -> Ring {
        let log2 = (usize::BITS - entries.len().leading_zeros()).saturating_sub(1);
        let bits = log2.saturating_sub(2).clamp(1, 18);
        let shift = 32 - bits;
        let buckets = 1usize << bits;
        let mut index = Vec::with_capacity(buckets + 1);
        let mut pos = 0;
        for b in 0..=buckets {
            while pos < entries.len() && ((entries[pos] >> (32 + shift)) as usize) < b {
                pos += 1;
            }
            index.push(pos as u32);
        }
        Ring {
            entries: entries.into_boxed_slice(),
            index: index.into_boxed_slice(),
            shift,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The position of the first point at or after the key hash `h`'s top
    /// 32 bits, wrapping to 0. The ring must not be empty.
    #[inline]
    pub(crate) fn locate(&self, h: u64) -> usize {
        let p = (h >> 32) as u32;
        let b = (p >> self.shift) as usize;
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        // An entry's point is below `p` exactly when the entry is below
        // `p << 32`, whatever its owner.
        let below = u64::from(p) << 32;
        let pos = lo + self.entries[lo..hi].partition_point(|&e| e < below);
        if pos == self.entries.len() { 0 } else { pos }
    }

    #[inline]
    pub(crate) fn owner(&self, pos: usize) -> u32 {
        self.entries[pos] as u32
    }

    #[cfg(test)]
    fn point(&self, pos: usize) -> u32 {
        (self.entries[pos] >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(ring: &Ring, h: u64) -> usize {
        let p = (h >> 32) as u32;
        let pos = (0..ring.len()).find(|&i| ring.point(i) >= p);
        pos.unwrap_or(0)
    }

    #[test]
    fn locate_matches_a_plain_binary_search() {
        let master = Master::build((0..37).map(|i| (i, 1 + i % 5)), 16);
        let ring = master.filter(&[true; 37]);
        assert_eq!(
            ring.len(),
            (0..37).map(|i| (1 + i % 5) * 16).sum::<u32>() as usize
        );
        let mut h = 1u64;
        for _ in 0..10_000 {
            h = crate::key::fmix64(h.wrapping_add(1));
            assert_eq!(ring.locate(h), naive(&ring, h));
        }
        // Edges: before the first point, after the last one.
        assert_eq!(ring.locate(0), 0);
        assert_eq!(ring.locate(u64::MAX), naive(&ring, u64::MAX));
        // Two points can be equal (a 32-bit ring): the first one wins.
        for pos in 1..ring.len() {
            assert!(ring.point(pos - 1) <= ring.point(pos));
        }
    }

    #[test]
    fn a_thousand_servers_balance_within_fifteen_percent() {
        let k = points_per_weight(1000);
        assert_eq!(k, BUDGET / 1000);
        let master = Master::build((0..1000).map(|i| (i, 1)), k);
        let ring = master.filter(&[true; 1000]);
        assert!(ring.len() as u64 <= BUDGET);
        // Each server's share of the ring, from its arcs.
        let mut share = vec![0u64; 1000];
        for pos in 0..ring.len() {
            let prev = ring.point(if pos == 0 { ring.len() } else { pos } - 1);
            share[ring.owner(pos) as usize] += u64::from(ring.point(pos).wrapping_sub(prev));
        }
        let mean = (1u64 << 32) as f64 / 1000.0;
        let var = share
            .iter()
            .map(|&s| (s as f64 - mean).powi(2))
            .sum::<f64>()
            / 1000.0;
        let rel = var.sqrt() / mean;
        // About 1/sqrt(65): HAProxy's 16 points per weight give twice that.
        assert!(rel < 0.15, "relative standard deviation {rel}");
        // A handful of servers get the most points each.
        assert_eq!(points_per_weight(5), MAX_K);
    }

    #[test]
    fn budget_caps_raised_weights() {
        // Raised weights: the budget holds while a point per unit fits.
        let master = Master::build((0..100).map(|i| (i, 256)), points_per_weight(100));
        assert!(master.entries.len() as u64 <= BUDGET);
        assert!(master.entries.len() >= 100 * 256);
        // Beyond it, one point per unit of weight.
        let master = Master::build((0..2000).map(|i| (i, 256)), points_per_weight(2000));
        assert_eq!(master.entries.len(), 2000 * 256);
    }
}
