//! Hash keys: which bytes of a request are hashed, and the hash itself.
//!
//! The request path extracts the key (client address bytes for `balance
//! source`, part of the URI for `balance uri`, a header value for
//! `balance hdr(name)`) and passes it in [`crate::Ask::key`]; the balancer
//! hashes it (FNV-1a, then murmur3's finalizer). [`uri`] picks the part of
//! a URI that `balance uri` hashes; it is a pure function.

/// HAProxy's `balance uri [len N] [depth N] [whole]`: the part of
/// `path_and_query` that is hashed.
///
/// - `len` keeps at most that many bytes (cut back to a character
///   boundary), applied first, as HAProxy does;
/// - then the scan stops at the first `?` unless `whole` (the query string
///   is then hashed too);
/// - and `depth` keeps that many directories: the scan stops before the
///   `depth + 1`-th `/` (HAProxy counts one level per slash, so depth 2 of
///   `/a/b/c` is `/a/b`).
///
/// HAProxy refuses `len 0` and `depth 0` in its configuration and uses 0
/// internally for "not set"; `Some(0)` here is the same as `None`.
///
/// ```
/// use gwd_balance::key::uri;
/// assert_eq!(uri("/img/a/b.png?v=2", None, None, false), "/img/a/b.png");
/// assert_eq!(uri("/img/a/b.png?v=2", None, Some(2), false), "/img/a");
/// assert_eq!(uri("/img/a/b.png?v=2", Some(6), None, false), "/img/a");
/// assert_eq!(uri("/img/a/b.png?v=2", None, None, true), "/img/a/b.png?v=2");
/// ```
pub fn uri(path_and_query: &str, len: Option<usize>, depth: Option<usize>, whole: bool) -> &str {
    let mut s = path_and_query;
    if let Some(max) = len.filter(|&n| n > 0)
        && max < s.len()
    {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = &s[..cut];
    }
    // `stop_at` is HAProxy's arg_opt3: the position (in slashes) of the
    // slash that ends the hashed part.
    let stop_at = depth.filter(|&d| d > 0).map(|d| d + 1);
    let mut slashes = 0usize;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if c == b'/' {
            slashes += 1;
            if Some(slashes) == stop_at {
                return &s[..i];
            }
        } else if c == b'?' && !whole {
            return &s[..i];
        }
    }
    s
}

/// The 64-bit hash of a key: FNV-1a over the bytes, then murmur3's 64-bit
/// finalizer. FNV-1a alone is cheap but its high bits barely depend on the
/// last bytes (keys that differ only at the end, like `10.0.0.1` and
/// `10.0.0.2`, would land next to each other on the ring); the finalizer
/// makes every input bit flip about half of the output bits.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

/// murmur3's 64-bit finalizer (a bijection with full avalanche).
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_stops_at_query_unless_whole() {
        assert_eq!(uri("/a/b?x=1", None, None, false), "/a/b");
        assert_eq!(uri("/a/b?x=1", None, None, true), "/a/b?x=1");
        assert_eq!(uri("/a/b", None, None, false), "/a/b");
        assert_eq!(uri("?only", None, None, false), "");
        assert_eq!(uri("", None, None, false), "");
    }

    #[test]
    fn uri_depth_counts_slashes() {
        assert_eq!(uri("/a/b/c/d", None, Some(1), false), "/a");
        assert_eq!(uri("/a/b/c/d", None, Some(2), false), "/a/b");
        assert_eq!(uri("/a/b/c/d", None, Some(3), false), "/a/b/c");
        // Fewer directories than the depth: the whole path.
        assert_eq!(uri("/a/b/c/d", None, Some(9), false), "/a/b/c/d");
        // A trailing slash is the one that ends the part.
        assert_eq!(uri("/a/", None, Some(1), false), "/a");
        // The query stops the scan before the depth is reached ...
        assert_eq!(uri("/a?x=/b/c", None, Some(2), false), "/a");
        // ... unless whole, where slashes in the query count too.
        assert_eq!(uri("/a?x=/b/c", None, Some(2), true), "/a?x=/b");
        // 0 means unset, as in HAProxy.
        assert_eq!(uri("/a/b", None, Some(0), false), "/a/b");
    }

    #[test]
    fn uri_len_applies_first() {
        assert_eq!(uri("/abcdef?q", Some(4), None, false), "/abc");
        assert_eq!(uri("/ab?q=1", Some(5), None, true), "/ab?q");
        assert_eq!(uri("/ab", Some(50), None, false), "/ab");
        assert_eq!(uri("/ab/cd/ef", Some(5), Some(2), false), "/ab/c");
        assert_eq!(uri("/ab/cd/ef", Some(8), Some(2), false), "/ab/cd");
        assert_eq!(uri("/ab", Some(0), None, false), "/ab");
        // Never splits a character: "é" is two bytes.
        assert_eq!(uri("/é", Some(2), None, false), "/");
    }

    #[test]
    fn hash_avalanches() {
        // Keys differing in their last byte differ in about half the bits,
        // high bits included (the ring uses the top 32).
        let a = hash(b"10.0.0.1");
        let b = hash(b"10.0.0.2");
        let flipped = (a ^ b).count_ones();
        assert!((16..=48).contains(&flipped), "{flipped} bits differ");
        assert_ne!(a >> 32, b >> 32);
        assert_eq!(hash(b"x"), hash(b"x"));
    }
}
