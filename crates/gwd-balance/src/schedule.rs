//! Weighted round-robin schedules, precomputed once per snapshot.
//!
//! The order is nginx's *smooth* weighted round robin: each step every
//! member's credit grows by its weight, the member with the most credit is
//! picked (the first one on ties) and loses the total weight. Weights
//! 5, 1, 1 give `a a b a c a a`: heavy servers are spread through the
//! cycle instead of served in bursts. One cycle is `sum(weights)` picks
//! (after dividing the weights by their greatest common divisor) and each
//! member appears exactly its weight times in it.
//!
//! The exact algorithm costs `members x cycle` steps, 256 million for a
//! thousand servers of weight 256. Beyond [`EXACT_LIMIT`] steps the
//! schedule is built by stride scheduling instead (a member's `p`-th pick
//! at virtual time `(2p + 1) / 2w`, merged with a heap): the same
//! proportions and the same even spacing, in `cycle x log(members)`,
//! but not step for step nginx's order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The most steps the exact smooth algorithm may take (about a few
/// milliseconds of a rebuild).
pub(crate) const EXACT_LIMIT: u64 = 1 << 22;

/// One cycle of the schedule for members with these weights, as member
/// indexes. Empty when every weight is 0.
pub(crate) fn smooth(weights: &[u32]) -> Vec<u32> {
    smooth_with(weights, EXACT_LIMIT)
}

fn smooth_with(weights: &[u32], exact_limit: u64) -> Vec<u32> {
    let g = weights.iter().fold(0, |a, &w| gcd(a, w));
    if g == 0 {
        return Vec::new();
    }
    let w: Vec<u64> = weights.iter().map(|&x| u64::from(x / g)).collect();
    let total: u64 = w.iter().sum();
    if total.saturating_mul(w.len() as u64) <= exact_limit {
        exact(&w, total)
    } else {
        stride(&w, total)
    }
}

fn exact(w: &[u64], total: u64) -> Vec<u32> {
    let total = total as i64;
    let mut credit = vec![0i64; w.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let (mut best, mut most) = (0, i64::MIN);
        for (i, (c, &w)) in credit.iter_mut().zip(w).enumerate() {
            *c += w as i64;
            if *c > most {
                (best, most) = (i, *c);
            }
        }
        credit[best] -= total;
        out.push(best as u32);
    }
    out
}

/// A member's next pick in stride scheduling, due at `(2 * picks + 1) /
/// (2 * weight)`; the heap pops the earliest, lowest index first.
#[derive(PartialEq, Eq)]
struct Due {
    picks: u64,
    weight: u64,
    index: u32,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        // Earlier is greater (BinaryHeap pops its greatest). Times are
        // compared by cross-multiplication: (2p+1)/w against (2q+1)/v.
        let mine = (2 * self.picks + 1) * other.weight;
        let theirs = (2 * other.picks + 1) * self.weight;
        theirs.cmp(&mine).then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn stride(w: &[u64], total: u64) -> Vec<u32> {
    let mut heap: BinaryHeap<Due> = w
        .iter()
        .enumerate()
        .filter(|&(_, &weight)| weight > 0)
        .map(|(i, &weight)| Due {
            picks: 0,
            weight,
            index: i as u32,
        })
        .collect();
    let mut out = Vec::with_capacity(total as usize);
    while let Some(mut due) = heap.pop() {
        out.push(due.index);
        due.picks += 1;
        if due.picks < due.weight {
            heap.push(due);
        }
    }
    out
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(s: &[u32], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &i in s {
            c[i as usize] += 1;
        }
        c
    }

    #[test]
    fn nginx_order() {
        assert_eq!(smooth(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth(&[1, 1, 1]), [0, 1, 2]);
        assert_eq!(smooth(&[2, 1]), [0, 1, 0]);
    }

    #[test]
    fn gcd_shortens_the_cycle() {
        assert_eq!(smooth(&[10, 2, 2]), smooth(&[5, 1, 1]));
        assert_eq!(smooth(&[256, 256]), [0, 1]);
        assert!(smooth(&[0, 0]).is_empty());
        assert!(smooth(&[]).is_empty());
    }

    #[test]
    fn zero_weights_are_never_scheduled() {
        assert_eq!(counts(&smooth(&[3, 0, 2]), 3), [3, 0, 2]);
        assert_eq!(counts(&stride(&[3, 0, 2], 5), 3), [3, 0, 2]);
    }

    #[test]
    fn stride_keeps_proportions_and_spacing() {
        let weights: Vec<u32> = (0..200).map(|i| 1 + (i * 37) % 256).collect();
        let s = smooth_with(&weights, 0);
        let total: u32 = weights.iter().sum();
        assert_eq!(s.len(), total as usize);
        let c = counts(&s, weights.len());
        for (i, &w) in weights.iter().enumerate() {
            assert_eq!(c[i], w as usize);
        }
        // Evenly spread: a weight-256 member's consecutive picks are about
        // total/256 apart, never more than twice that.
        let heavy = weights.iter().position(|&w| w == 256).unwrap() as u32;
        let at: Vec<usize> = (0..s.len()).filter(|&k| s[k] == heavy).collect();
        let gap = total as usize / 256;
        for pair in at.windows(2) {
            assert!(pair[1] - pair[0] <= 2 * gap + 1, "{pair:?} gap {gap}");
        }
    }

    #[test]
    fn large_configs_use_the_fast_builder() {
        // 1,000 servers of distinct weights: the exact algorithm would take
        // ~10^8 steps; the stride one stays fast even unoptimized.
        let weights: Vec<u32> = (0..1000).map(|i| 1 + i % 256).collect();
        let s = smooth(&weights);
        assert_eq!(s.len() as u32, weights.iter().sum::<u32>());
    }
}
