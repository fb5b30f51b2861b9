//! The HPACK Huffman code (RFC 7541 §5.2 and Appendix B).
//!
//! Model: a static prefix code of 257 symbols (the 256 byte values plus EOS),
//! 5 to 30 bits long, written most significant bit first. An encoded string is
//! the concatenation of its symbols' codes, padded to a byte boundary with the
//! most significant bits of EOS (all 1s).
//!
//! Invariants the decoder enforces (§5.2): padding is at most 7 bits and all 1s,
//! and EOS never appears in the string. Any violation, including a final code
//! cut short by the end of the input, is [`DecodeErrorKind::InvalidHuffman`].
//!
//! The code is canonical (within a length, codes increase with the symbol and
//! each length continues where the previous one ended). [`CODES`] holds the
//! table typed in from Appendix B; a compile-time check verifies that it is
//! canonical and complete, and the decoder relies on that: it reads a 30-bit
//! window, resolves codes of up to 8 bits with one 256-entry table lookup, and
//! longer ones by comparing the window against the per-length limits.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind};

/// The EOS symbol's number (its code is thirty 1 bits).
pub const EOS: u16 = 256;

/// RFC 7541 Appendix B: `(code, bit length)` for symbols 0..=255 and EOS (256),
/// the code aligned to the least significant bit.
pub const CODES: [(u32, u8); 257] = [
    // 0..=31: control characters
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    // 32..=47: ' ' ! " # $ % & ' ( ) * + , - . /
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    // 48..=63: 0-9 : ; < = > ?
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    // 64..=95: @ A-Z [ \ ] ^ _
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    // 96..=127: ` a-z { | } ~ DEL
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
    (0xffffffc, 28),
    // 128..=159
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    // 160..=191
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    // 192..=223
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    // 224..=255
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    // 256: EOS
    (0x3fffffff, 30),
];

/// Longest code length (EOS).
const MAX_LEN: u32 = 30;
/// Codes up to this many bits resolve with one lookup in `FAST`.
const FAST_BITS: u32 = 8;

/// Decoding tables derived from [`CODES`] at compile time.
struct DecodeTables {
    /// `first[len]`: the smallest code of that length.
    first: [u32; MAX_LEN as usize + 1],
    /// `count[len]`: how many codes have that length.
    count: [u32; MAX_LEN as usize + 1],
    /// `offset[len]`: index in `sorted` of the first symbol of that length.
    offset: [u32; MAX_LEN as usize + 1],
    /// Symbols ordered by (length, code).
    sorted: [u16; 257],
    /// Indexed by the next 8 input bits: `(len << 9) | symbol` for codes of at
    /// most 8 bits, 0 when the code is longer.
    fast: [u16; 1 << FAST_BITS],
}

const fn build_tables() -> DecodeTables {
    let mut t = DecodeTables {
        first: [0; MAX_LEN as usize + 1],
        count: [0; MAX_LEN as usize + 1],
        offset: [0; MAX_LEN as usize + 1],
        sorted: [0; 257],
        fast: [0; 1 << FAST_BITS],
    };
    let mut next_code: u64 = 0;
    let mut placed: usize = 0;
    let mut len: usize = 1;
    while len <= MAX_LEN as usize {
        t.first[len] = next_code as u32;
        t.offset[len] = placed as u32;
        let mut sym = 0;
        while sym < 257 {
            let (code, l) = CODES[sym];
            if l as usize == len {
                // Canonical: codes of one length are consecutive, in symbol order.
                assert!(code as u64 == next_code, "Huffman table is not canonical");
                t.sorted[placed] = sym as u16;
                placed += 1;
                t.count[len] += 1;
                next_code += 1;
                if l as u32 <= FAST_BITS {
                    let shift = FAST_BITS - l as u32;
                    let base = (code << shift) as usize;
                    let mut j = 0;
                    while j < (1usize << shift) {
                        t.fast[base + j] = ((l as u16) << 9) | sym as u16;
                        j += 1;
                    }
                }
            }
            sym += 1;
        }
        next_code <<= 1;
        len += 1;
    }
    assert!(placed == 257, "a Huffman code length is out of range");
    // Complete: the 30-bit code space is exactly used up (Kraft sum = 1).
    assert!(
        next_code == 1 << (MAX_LEN + 1),
        "Huffman table is not complete"
    );
    t
}

static TABLES: DecodeTables = build_tables();

/// Resolves the code at the top of a 30-bit window: `(symbol, length)`.
#[inline]
fn lookup(window: u32) -> (u16, u32) {
    let f = TABLES.fast[(window >> (MAX_LEN - FAST_BITS)) as usize];
    if f != 0 {
        return (f & 0x1ff, u32::from(f >> 9));
    }
    let mut len = FAST_BITS + 1;
    while len <= MAX_LEN {
        let l = len as usize;
        let c = window >> (MAX_LEN - len);
        if c < TABLES.first[l] + TABLES.count[l] {
            let i = TABLES.offset[l] + (c - TABLES.first[l]);
            return (TABLES.sorted[i as usize], len);
        }
        len += 1;
    }
    // Unreachable: the code is complete, so every 30-bit window has a code as
    // prefix. Answering EOS makes the caller reject the input.
    (EOS, MAX_LEN)
}

/// Length in bytes of the Huffman encoding of `src` (codes plus padding).
///
/// ```
/// assert_eq!(gwd_hpack::internal::huffman::encoded_len(b"www.example.com"), 12);
/// ```
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` to `dst`, padded with 1 bits.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// gwd_hpack::internal::huffman::encode(b"no-cache", &mut out);
/// assert_eq!(&out[..], &[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]);
/// ```
pub fn encode(src: &[u8], dst: &mut BytesMut) {
    dst.reserve(encoded_len(src));
    // Pending bits live in the low `nbits` bits of `acc` (nbits < 8 between symbols).
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        nbits += u32::from(len);
        while nbits >= 8 {
            nbits -= 8;
            dst.put_u8((acc >> nbits) as u8);
        }
    }
    if nbits > 0 {
        let pad = 8 - nbits;
        dst.put_u8(((acc << pad) as u8) | ((1u8 << pad) - 1));
    }
}

/// Decodes the Huffman string `src`, appending the bytes to `dst`.
///
/// Fails with [`DecodeErrorKind::InvalidHuffman`] (offset relative to `src`)
/// on padding longer than 7 bits, padding that is not all 1s, a truncated
/// code, or an EOS symbol; `dst` may then hold part of the output.
///
/// ```
/// let mut out = Vec::new();
/// gwd_hpack::internal::huffman::decode(&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], &mut out).unwrap();
/// assert_eq!(out, b"no-cache");
/// ```
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    // Every code is at least 5 bits long.
    dst.reserve(src.len() * 8 / 5);
    // Unconsumed input bits, left-aligned: the next bit is bit 63.
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut next = 0;
    loop {
        while nbits <= 56 && next < src.len() {
            acc |= u64::from(src[next]) << (56 - nbits);
            nbits += 8;
            next += 1;
        }
        if nbits == 0 {
            return Ok(());
        }
        // Bits past the end read as 1s, like padding.
        let window = if nbits >= 64 {
            acc
        } else {
            acc | (u64::MAX >> nbits)
        };
        let (sym, len) = lookup((window >> (64 - MAX_LEN)) as u32);
        if len > nbits {
            // Only possible at the end of the input: what is left must be
            // valid padding, i.e. at most 7 bits, all 1s.
            if nbits <= 7 && window == u64::MAX {
                return Ok(());
            }
            return Err(DecodeError::new(
                DecodeErrorKind::InvalidHuffman,
                src.len().saturating_sub(1),
            ));
        }
        if sym == EOS {
            // The byte holding the first EOS bit.
            let bit = next * 8 - nbits as usize;
            return Err(DecodeError::new(DecodeErrorKind::InvalidHuffman, bit / 8));
        }
        dst.push(sym as u8);
        acc <<= len;
        nbits -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(s, &mut out);
        assert_eq!(out.len(), encoded_len(s));
        out.to_vec()
    }

    fn dec(s: &[u8]) -> Result<Vec<u8>, DecodeErrorKind> {
        let mut out = Vec::new();
        decode(s, &mut out).map(|()| out).map_err(|e| e.kind())
    }

    /// The Huffman-coded strings of RFC 7541 C.4 and C.6.
    const RFC_STRINGS: &[(&str, &str)] = &[
        ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
        ("no-cache", "a8eb 1064 9cbf"),
        ("custom-key", "25a8 49e9 5ba9 7d7f"),
        ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
        ("302", "6402"),
        ("307", "640e ff"),
        ("private", "aec3 771a 4b"),
        (
            "Mon, 21 Oct 2013 20:13:21 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
        ),
        (
            "Mon, 21 Oct 2013 20:13:22 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff",
        ),
        (
            "https://www.example.com",
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
        ),
        ("gzip", "9bd9 ab"),
        (
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ];

    #[test]
    fn rfc_strings_encode_and_decode() {
        for &(plain, coded) in RFC_STRINGS {
            assert_eq!(enc(plain.as_bytes()), hex(coded), "{plain}");
            assert_eq!(dec(&hex(coded)).unwrap(), plain.as_bytes(), "{plain}");
        }
    }

    #[test]
    fn table_is_a_complete_prefix_code() {
        // Kraft sum over all 257 codes is exactly 1, and no code is a prefix of another.
        let kraft: u64 = CODES.iter().map(|&(_, l)| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
        for (a, &(ca, la)) in CODES.iter().enumerate() {
            assert!(
                u64::from(ca) < (1u64 << la),
                "symbol {a} code wider than its length"
            );
            for (b, &(cb, lb)) in CODES.iter().enumerate() {
                if a != b && la <= lb {
                    assert_ne!(cb >> (lb - la), ca, "{a} is a prefix of {b}");
                }
            }
        }
        assert_eq!(CODES[usize::from(EOS)], ((1 << 30) - 1, 30));
    }

    #[test]
    fn every_byte_round_trips_alone_and_together() {
        for b in 0..=255u8 {
            assert_eq!(dec(&enc(&[b])).unwrap(), [b], "byte {b}");
        }
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        assert_eq!(dec(&enc(&all)).unwrap(), all);
    }

    #[test]
    fn empty_string() {
        assert_eq!(enc(b""), b"");
        assert_eq!(dec(b"").unwrap(), b"");
    }

    #[test]
    fn padding_of_up_to_seven_ones_is_accepted() {
        // 'a' = 00011 (5 bits) + 3 padding bits.
        assert_eq!(dec(&[0b0001_1111]).unwrap(), b"a");
        // '0' '0' '0' = 15 bits + 1 padding bit.
        assert_eq!(dec(&[0x00, 0x01]).unwrap(), b"000");
    }

    #[test]
    fn padding_longer_than_seven_bits_is_rejected() {
        // 'a' then 3 + 8 padding bits.
        assert_eq!(
            dec(&[0b0001_1111, 0xff]),
            Err(DecodeErrorKind::InvalidHuffman)
        );
        // A whole byte of padding and nothing else.
        assert_eq!(dec(&[0xff]), Err(DecodeErrorKind::InvalidHuffman));
        // 'a' '0' (10 bits) then 6 ones, then 8 more.
        assert_eq!(
            dec(&[0x18, 0x3f, 0xff]),
            Err(DecodeErrorKind::InvalidHuffman)
        );
    }

    #[test]
    fn padding_not_all_ones_is_rejected() {
        // 'a' = 00011 then padding 110 / 000.
        assert_eq!(dec(&[0b0001_1110]), Err(DecodeErrorKind::InvalidHuffman));
        assert_eq!(dec(&[0b0001_1000]), Err(DecodeErrorKind::InvalidHuffman));
        // Three 5-bit '0's then a 0 padding bit.
        assert_eq!(dec(&[0x00, 0x00]), Err(DecodeErrorKind::InvalidHuffman));
    }

    #[test]
    fn eos_in_the_string_is_rejected() {
        // EOS (30 ones) followed by 2 padding ones.
        assert_eq!(
            dec(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecodeErrorKind::InvalidHuffman)
        );
        // 'a' then EOS then padding: 5 + 30 + 5 = 40 bits.
        let mut bits: u64 = 0b00011;
        bits = (bits << 30) | ((1 << 30) - 1);
        bits = (bits << 5) | 0b11111;
        let bytes = bits.to_be_bytes()[3..].to_vec();
        let mut out = Vec::new();
        let e = decode(&bytes, &mut out).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::InvalidHuffman);
        assert_eq!(e.offset(), 0);
        // EOS followed by a valid symbol is still an error.
        let mut bits: u64 = (1 << 30) - 1;
        bits = (bits << 5) | 0b00011;
        bits <<= 5;
        bits |= 0b11111;
        let bytes = bits.to_be_bytes()[3..].to_vec();
        assert_eq!(dec(&bytes), Err(DecodeErrorKind::InvalidHuffman));
    }

    #[test]
    fn truncated_long_code_is_rejected() {
        // 0xfe starts a 10-bit code ('!' or '"'): 8 bits, not all 1s.
        assert_eq!(dec(&[0xfe]), Err(DecodeErrorKind::InvalidHuffman));
        // First 16 of the 19 bits of '\\' (0x7fff0).
        assert_eq!(dec(&[0xff, 0xfe]), Err(DecodeErrorKind::InvalidHuffman));
        // The full code plus 5 padding ones decodes.
        assert_eq!(dec(&[0xff, 0xfe, 0x1f]).unwrap(), b"\\");
    }

    #[test]
    fn decode_appends() {
        let mut out = b"x".to_vec();
        decode(&hex("9bd9 ab"), &mut out).unwrap();
        assert_eq!(out, b"xgzip");
    }
}
