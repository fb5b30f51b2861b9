//! The fixed Huffman code of RFC 1951 §3.2.6, precomputed at compile time
//! into the exact bits the encoder writes.
//!
//! Deflate sends Huffman codes most significant bit first inside an
//! otherwise least-significant-bit-first stream, so every code here is
//! stored bit-reversed: the writer ORs it into its accumulator as is.
//! Each entry packs `bits | count << 24` (`bits` fits 24 bits: the
//! longest entry, a distance code with its 13 extra bits, is 18 bits).

/// Bits in a packed entry's value part.
pub(crate) const COUNT_SHIFT: u32 = 24;

/// The value part of a packed entry.
pub(crate) const VALUE_MASK: u32 = (1 << COUNT_SHIFT) - 1;

/// `code` (its `len` low bits) reversed.
const fn reverse(code: u32, len: u32) -> u32 {
    let mut out = 0;
    let mut i = 0;
    while i < len {
        out |= ((code >> i) & 1) << (len - 1 - i);
        i += 1;
    }
    out
}

/// The fixed code of literal/length symbol `sym` (0 to 287): (code, length).
const fn fixed_code(sym: u32) -> (u32, u32) {
    if sym < 144 {
        (0x30 + sym, 8)
    } else if sym < 256 {
        (0x190 + sym - 144, 9)
    } else if sym < 280 {
        (sym - 256, 7)
    } else {
        (0xc0 + sym - 280, 8)
    }
}

const fn packed_symbol(sym: u32) -> u32 {
    let (code, len) = fixed_code(sym);
    reverse(code, len) | len << COUNT_SHIFT
}

/// Literal byte `b`: its packed code (8 or 9 bits).
pub(crate) static LITERAL: [u32; 256] = {
    let mut t = [0; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = packed_symbol(b as u32);
        b += 1;
    }
    t
};

/// The end-of-block symbol (256): seven zero bits.
pub(crate) const END_OF_BLOCK_BITS: u32 = 7;

/// Match length `len` (3 to 258): the packed length symbol followed by
/// its extra bits (at most 8 + 5 bits). Entries 0 to 2 are unused.
pub(crate) static LENGTH: [u32; 259] = {
    let mut t = [0; 259];
    // Symbols 257..=284: the first eight have no extra bits, then four
    // symbols per extra-bit count from 1 to 5.
    let mut sym = 257u32;
    let mut base = 3u32;
    while sym <= 284 {
        let extra = if sym < 265 { 0 } else { (sym - 261) / 4 };
        let (code, len) = fixed_code(sym);
        let code = reverse(code, len);
        let mut e = 0;
        while e < (1 << extra) && base + e <= 258 {
            t[(base + e) as usize] = (code | e << len) | (len + extra) << COUNT_SHIFT;
            e += 1;
        }
        base += 1 << extra;
        sym += 1;
    }
    // 258 has its own symbol, 285, with no extra bits (257 + 31 with
    // symbol 284 would be a length some decoders refuse).
    t[258] = packed_symbol(285);
    t
};

/// Distance codes 0 to 29: the smallest distance of each.
const DIST_BASE: [u32; 30] = {
    let mut t = [0; 30];
    let mut code = 0;
    let mut base = 1;
    while code < 30 {
        t[code] = base;
        base += 1 << dist_extra(code as u32);
        code += 1;
    }
    t
};

/// Extra bits after distance code `code`.
const fn dist_extra(code: u32) -> u32 {
    if code < 4 { 0 } else { (code - 2) / 2 }
}

/// The distance code of `d - 1` for `d` up to 256 at index `d - 1`, and
/// of larger distances at `256 + ((d - 1) >> 7)` (from 257 on, codes
/// cover whole multiples of 128).
static DIST_CODE: [u8; 512] = {
    let mut t = [0; 512];
    let mut code = 0;
    while code < 30 {
        let first = DIST_BASE[code] - 1;
        let last = first + (1 << dist_extra(code as u32)) - 1;
        let mut d = first;
        while d <= last {
            if d < 256 {
                t[d as usize] = code as u8;
            } else {
                t[256 + (d >> 7) as usize] = code as u8;
            }
            d += 1;
        }
        code += 1;
    }
    t
};

/// Per distance code: its reversed 5-bit code, extra-bit count and base
/// (`DIST_BASE`), packed as `rev | extra << 8 | base << 16` (32 entries,
/// the last two unused, so that a 5-bit index needs no bounds check).
static DIST_PACKED: [u32; 32] = {
    let mut t = [0; 32];
    let mut code = 0;
    while code < 30 {
        t[code] = reverse(code as u32, 5) | dist_extra(code as u32) << 8 | DIST_BASE[code] << 16;
        code += 1;
    }
    t
};

/// Distance `d` (1 to 32768): its packed code followed by its extra bits
/// (5 + at most 13 bits).
#[inline(always)]
pub(crate) fn distance(d: u32) -> u32 {
    let d1 = (d - 1) as usize;
    let code = if d1 < 256 {
        DIST_CODE[d1 & 511]
    } else {
        DIST_CODE[(256 + (d1 >> 7)) & 511]
    };
    let p = DIST_PACKED[code as usize & 31];
    let extra = p >> 8 & 0xff;
    let value = (p & 0x1f) | (d - (p >> 16)) << 5;
    value | (5 + extra) << COUNT_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_codes_are_the_rfc_ones() {
        // 0 is 00110000 (8 bits), 144 is 110010000 (9 bits), reversed.
        assert_eq!(LITERAL[0], 0b0000_1100 | 8 << COUNT_SHIFT);
        assert_eq!(LITERAL[144], 0b0_0001_0011 | 9 << COUNT_SHIFT);
        assert_eq!(LITERAL[255] >> COUNT_SHIFT, 9);
    }

    #[test]
    fn lengths_cover_3_to_258() {
        // 3 is symbol 257 (0000001, 7 bits), no extra.
        assert_eq!(LENGTH[3], 0b100_0000 | 7 << COUNT_SHIFT);
        // 11 is symbol 265 (0001001) + extra 0; 12 the same with extra 1.
        assert_eq!(LENGTH[11], 0b100_1000 | 8 << COUNT_SHIFT);
        assert_eq!(LENGTH[12], (0b100_1000 | 1 << 7) | 8 << COUNT_SHIFT);
        // 257 is symbol 284 (11000100, 8 bits) + 5 extra bits = 30.
        assert_eq!(LENGTH[257] >> COUNT_SHIFT, 13);
        assert_eq!(LENGTH[257] & VALUE_MASK, 0b0010_0011 | 30 << 8);
        // 258 is symbol 285 (11000101), no extra.
        assert_eq!(LENGTH[258], 0b1010_0011 | 8 << COUNT_SHIFT);
        for (len, &packed) in LENGTH.iter().enumerate().skip(3) {
            assert_ne!(packed, 0, "{len}");
        }
    }

    #[test]
    fn distances_cover_1_to_32768() {
        assert_eq!(distance(1), 5 << COUNT_SHIFT);
        // 5 is code 4 (00100 reversed 00100), extra 1 bit = 0.
        assert_eq!(distance(5), 0b00100 | 6 << COUNT_SHIFT);
        assert_eq!(distance(6), (0b00100 | 1 << 5) | 6 << COUNT_SHIFT);
        // 32768 is code 29 (11101, reversed 10111) + 13 extra bits, all 1.
        assert_eq!(distance(32768), (0b10111 | 0x1fff << 5) | 18 << COUNT_SHIFT);
        for d in 1..=32768u32 {
            let p = distance(d);
            let n = p >> COUNT_SHIFT;
            assert!((5..=18).contains(&n), "{d}");
            let extra = (p & VALUE_MASK) >> 5;
            assert!(extra < 1 << (n - 5), "{d}");
        }
    }
}
