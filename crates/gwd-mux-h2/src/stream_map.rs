//! A map keyed by stream id that hashes the id with one multiplication.
//!
//! The standard `HashMap` hashes with SipHash, which resists keys chosen
//! to collide; it cost a connection's handles about 450 instructions a
//! request (six lookups). A peer chooses its stream ids, but they only
//! grow and at most `SETTINGS_MAX_CONCURRENT_STREAMS` (a hundred or a few)
//! are in a map at once, so collisions it might arrange cost probes among
//! those few entries, never more.
//!
//! ```
//! let mut m = gwd_mux_h2::stream_map::StreamMap::default();
//! m.insert(1u32, "first");
//! m.insert(3u32, "second");
//! assert_eq!(m.get(&3), Some(&"second"));
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by stream id, hashed by [`StreamIdHasher`].
pub type StreamMap<V> = HashMap<u32, V, BuildHasherDefault<StreamIdHasher>>;

/// Multiplies the id by the 64-bit golden ratio and rotates the result,
/// so that both the bucket (low bits) and the tag (top bits) the table
/// takes depend on every bit of the id.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamIdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for StreamIdHasher {
    fn write_u32(&mut self, id: u32) {
        self.0 = (self.0 ^ u64::from(id)).wrapping_mul(K);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only ids are hashed with it; any other key still works.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn consecutive_ids_spread_over_buckets_and_tags() {
        // Client ids (odd) and server ids (even) of a busy connection: the
        // low seven bits (a 128-bucket table's index) and the top seven
        // (hashbrown's tag) take many values, not the two that an
        // identity hash of odd numbers would give.
        let b = BuildHasherDefault::<StreamIdHasher>::default();
        for start in [1u32, 2, 1_000_001] {
            let hashes: Vec<u64> = (0..128).map(|i| b.hash_one(start + 2 * i)).collect();
            let mut low: Vec<u64> = hashes.iter().map(|h| h & 127).collect();
            let mut top: Vec<u64> = hashes.iter().map(|h| h >> 57).collect();
            low.sort_unstable();
            low.dedup();
            top.sort_unstable();
            top.dedup();
            assert!(low.len() > 64, "{} buckets", low.len());
            assert!(top.len() > 64, "{} tags", top.len());
        }
    }

    #[test]
    fn a_stream_map_finds_what_it_holds() {
        let mut m = StreamMap::default();
        for id in (1..2000u32).step_by(2) {
            m.insert(id, id * 10);
        }
        for id in (1..2000u32).step_by(2) {
            assert_eq!(m.get(&id), Some(&(id * 10)));
            assert_eq!(m.get(&(id + 1)), None);
        }
    }
}
