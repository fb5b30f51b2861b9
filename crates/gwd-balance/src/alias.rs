//! Weighted random draws in constant time (Vose's alias method, in integers).
//!
//! `balance random` draws servers in proportion to their weights. Prefix
//! sums and a binary search would cost a chain of dependent loads per
//! draw (seven for 100 servers, a quarter of a choice's time); the alias
//! table costs one. Each of the `n` buckets holds `total` units of
//! probability: bucket `b` gives `threshold[b]` of them to member `b` and
//! the rest to `alias[b]`. A draw picks a bucket uniformly, then a unit in
//! it. Thresholds are integers, so member `i` is drawn with probability
//! exactly `w[i] / total` (up to the 2^-64 granularity of the random
//! input).

/// One bucket: `(threshold, alias)`.
#[derive(Debug, Default)]
pub(crate) struct Alias {
    buckets: Box<[(u32, u32)]>,
    total: u64,
}

impl Alias {
    /// The table for members of these weights (at least one above 0).
    pub(crate) fn new(weights: &[u32]) -> Alias {
        let n = weights.len() as u64;
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        // Scaled so that the buckets hold `total` each: sum(scaled) = n * total.
        let mut scaled: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
        let mut buckets: Vec<(u32, u32)> = (0..weights.len() as u32).map(|i| (0, i)).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..weights.len()).partition(|&i| scaled[i] < total);
        while let (Some(&l), Some(&g)) = (small.last(), large.last()) {
            small.pop();
            buckets[l] = (scaled[l] as u32, g as u32);
            scaled[g] -= total - scaled[l];
            if scaled[g] < total {
                large.pop();
                small.push(g);
            }
        }
        // What is left holds exactly `total` (up to nothing when `small`
        // ran dry first): the bucket is all its own.
        for i in small.into_iter().chain(large) {
            buckets[i] = (total as u32, i as u32);
        }
        Alias {
            buckets: buckets.into_boxed_slice(),
            total,
        }
    }

    /// The member index drawn by the random value `r`.
    #[inline]
    pub(crate) fn draw(&self, r: u64) -> usize {
        let wide = u128::from(r) * self.buckets.len() as u128;
        let b = (wide >> 64) as usize;
        // The remaining fraction is uniform too: the unit in the bucket.
        let unit = ((u128::from(wide as u64) * u128::from(self.total)) >> 64) as u32;
        let (threshold, alias) = self.buckets[b];
        if unit < threshold { b } else { alias as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact probability of each member, in units of 1/(n * total),
    /// from the table itself.
    fn exact(a: &Alias) -> Vec<u64> {
        let mut p = vec![0u64; a.buckets.len()];
        for (b, &(t, alias)) in a.buckets.iter().enumerate() {
            p[b] += u64::from(t);
            p[alias as usize] += a.total - u64::from(t);
        }
        p
    }

    #[test]
    fn probabilities_are_exactly_the_weights() {
        for weights in [
            vec![1u32],
            vec![5, 1, 1],
            vec![1, 2, 3, 4],
            vec![256, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            (0..100).map(|i| 1 + (i * 37) % 256).collect(),
        ] {
            let a = Alias::new(&weights);
            let n = weights.len() as u64;
            let want: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
            assert_eq!(exact(&a), want, "{weights:?}");
        }
    }

    #[test]
    fn draws_follow_the_weights() {
        let a = Alias::new(&[3, 1]);
        let mut counts = [0u32; 2];
        let mut r = 0u64;
        for _ in 0..40_000 {
            r = crate::key::fmix64(r.wrapping_add(1));
            counts[a.draw(r)] += 1;
        }
        assert!((29_000..=31_000).contains(&counts[0]), "{counts:?}");
        assert_eq!(a.draw(0), 0);
    }
}
