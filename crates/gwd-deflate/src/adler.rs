//! Adler-32 (RFC 1950 §8.2), zlib's trailer.

/// The checksum of no bytes.
pub(crate) const INITIAL: u32 = 1;

/// The largest prime below 2^16.
const MOD: u32 = 65_521;

/// The most bytes summed before `b` could overflow 32 bits (zlib's NMAX).
const RUN: usize = 5552;

/// `adler`, continued over `data`.
pub(crate) fn update(adler: u32, data: &[u8]) -> u32 {
    let (mut a, mut b) = (adler & 0xffff, adler >> 16);
    for run in data.chunks(RUN) {
        // Four bytes a step: b gains 4a plus the bytes weighted 4, 3, 2, 1.
        let mut quads = run.chunks_exact(4);
        for q in &mut quads {
            let (x0, x1, x2, x3) = (
                u32::from(q[0]),
                u32::from(q[1]),
                u32::from(q[2]),
                u32::from(q[3]),
            );
            b += 4 * a + 4 * x0 + 3 * x1 + 2 * x2 + x3;
            a += x0 + x1 + x2 + x3;
        }
        for &x in quads.remainder() {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    b << 16 | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(update(INITIAL, b""), 1);
        // Wikipedia's example.
        assert_eq!(update(INITIAL, b"Wikipedia"), 0x11e6_0398);
        let long: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut simple = (1u32, 0u32);
        for &x in &long {
            simple.0 = (simple.0 + u32::from(x)) % MOD;
            simple.1 = (simple.1 + simple.0) % MOD;
        }
        assert_eq!(update(INITIAL, &long), simple.1 << 16 | simple.0);
        let (x, y) = long.split_at(12_345);
        assert_eq!(update(update(INITIAL, x), y), update(INITIAL, &long));
    }
}
