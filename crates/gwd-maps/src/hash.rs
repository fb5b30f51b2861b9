//! Seeded, byte-incremental 64-bit hashing.
//!
//! The hash of a prefix is the state after that many bytes, so `beg`, `end`,
//! `dom` and `dir` lookups hash every candidate length of an input in one pass.
//! The state update is FNV-1a; a murmur3 finaliser spreads the bits so the
//! hash can be used as an ordering key in the persistent tree. The seed is
//! random per reference. This is not a cryptographic hash: crafted colliding
//! keys degrade one bucket to a short scan, they never break correctness.

use std::hash::{BuildHasher, Hasher as _};

const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A fresh random seed (from the standard library's per-process keys).
pub(crate) fn random_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() | 1
}

/// Starts a hash with `seed`.
#[inline]
pub(crate) fn start(seed: u64) -> u64 {
    seed
}

/// Feeds one byte.
#[inline]
pub(crate) fn step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(PRIME)
}

/// Finalises a state into a well-spread hash.
#[inline]
pub(crate) fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hash of `bytes` read forwards.
#[inline]
pub(crate) fn bytes(seed: u64, bytes: &[u8]) -> u64 {
    finish(bytes.iter().fold(start(seed), |h, &b| step(h, b)))
}

/// Hash of `bytes` read forwards, ASCII-lowercased.
#[inline]
pub(crate) fn bytes_folded(seed: u64, bytes: &[u8]) -> u64 {
    finish(
        bytes
            .iter()
            .fold(start(seed), |h, &b| step(h, b.to_ascii_lowercase())),
    )
}

/// Hash of `bytes` read backwards (last byte first), optionally folded.
#[inline]
pub(crate) fn bytes_rev(seed: u64, bytes: &[u8], fold: bool) -> u64 {
    let mut h = start(seed);
    for &b in bytes.iter().rev() {
        h = step(h, if fold { b.to_ascii_lowercase() } else { b });
    }
    finish(h)
}

/// Mixes a 64-bit integer with the seed.
#[inline]
pub(crate) fn int(seed: u64, v: u64) -> u64 {
    finish(seed ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_state_equals_hash_of_prefix() {
        let s = 12345;
        let input = b"/api/v1/users";
        let mut h = start(s);
        for (i, &b) in input.iter().enumerate() {
            h = step(h, b);
            assert_eq!(finish(h), bytes(s, &input[..=i]));
        }
    }

    #[test]
    fn folded_and_reversed_agree_with_plain() {
        assert_eq!(bytes_folded(7, b"AbC"), bytes(7, b"abc"));
        assert_eq!(bytes_rev(7, b"abc", false), bytes(7, b"cba"));
        assert_ne!(bytes(7, b"abc"), bytes(8, b"abc"));
    }
}
