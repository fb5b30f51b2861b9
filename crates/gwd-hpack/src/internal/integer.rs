//! Prefixed integers (RFC 7541 §5.1).
//!
//! An integer starts in the low `N` bits (the prefix, 1 to 8) of a byte whose
//! high bits carry flags; values that do not fit continue in 7-bit groups, least
//! significant first, with the high bit of each byte saying "more follows".
//! The decoder accepts values up to [`MAX_INTEGER`] (2^32 - 1) and rejects
//! anything larger, including encodings padded with so many zero groups that
//! they need more than the five continuation bytes such a value can take.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind};

/// Largest integer [`decode`] accepts. Larger values are
/// [`DecodeErrorKind::IntegerOverflow`]: no header block, table size or string
/// length of a sane peer comes near it.
pub const MAX_INTEGER: usize = u32::MAX as usize;

/// Most continuation bytes a value up to [`MAX_INTEGER`] needs (5 × 7 bits ≥ 32).
const MAX_CONTINUATION_BYTES: usize = 5;

fn prefix_mask(prefix_bits: u8) -> u8 {
    assert!(
        (1..=8).contains(&prefix_bits),
        "HPACK integer prefix must be 1 to 8 bits, got {prefix_bits}"
    );
    (((1u16) << prefix_bits) - 1) as u8
}

/// Appends `value` with an `prefix_bits`-bit prefix to `out`; `flags` supplies
/// the bits of the first byte above the prefix (its prefix bits are ignored).
///
/// # Panics
///
/// If `prefix_bits` is not in `1..=8`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// gwd_hpack::internal::integer::encode(1337, 5, 0b1110_0000, &mut out);
/// assert_eq!(&out[..], &[0xff, 0x9a, 0x0a]);
/// ```
pub fn encode(value: usize, prefix_bits: u8, flags: u8, out: &mut BytesMut) {
    let mask = prefix_mask(prefix_bits);
    let flags = flags & !mask;
    let max_prefix = usize::from(mask);
    if value < max_prefix {
        // `value < mask <= 255`, so the cast is lossless.
        out.put_u8(flags | value as u8);
        return;
    }
    out.put_u8(flags | mask);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.put_u8((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.put_u8(rest as u8);
}

/// Number of bytes [`encode`] writes for `value` with a `prefix_bits`-bit prefix.
///
/// # Panics
///
/// If `prefix_bits` is not in `1..=8`.
pub fn encoded_len(value: usize, prefix_bits: u8) -> usize {
    let max_prefix = usize::from(prefix_mask(prefix_bits));
    if value < max_prefix {
        return 1;
    }
    let mut rest = value - max_prefix;
    let mut n = 2;
    while rest >= 0x80 {
        rest >>= 7;
        n += 1;
    }
    n
}

/// Decodes an integer with a `prefix_bits`-bit prefix from the start of `src`
/// (the flag bits of the first byte are ignored). Returns the value and the
/// number of bytes it used.
///
/// Errors: [`DecodeErrorKind::Truncated`] when `src` ends first,
/// [`DecodeErrorKind::IntegerOverflow`] above [`MAX_INTEGER`]; the error offset
/// is relative to `src`.
///
/// # Panics
///
/// If `prefix_bits` is not in `1..=8`.
///
/// ```
/// assert_eq!(gwd_hpack::internal::integer::decode(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
/// ```
pub fn decode(src: &[u8], prefix_bits: u8) -> Result<(usize, usize), DecodeError> {
    let mask = prefix_mask(prefix_bits);
    let Some(&first) = src.first() else {
        return Err(DecodeError::new(DecodeErrorKind::Truncated, 0));
    };
    let prefix = first & mask;
    if prefix < mask {
        return Ok((usize::from(prefix), 1));
    }
    let mut value = u64::from(mask);
    for i in 1..=MAX_CONTINUATION_BYTES {
        let Some(&b) = src.get(i) else {
            return Err(DecodeError::new(DecodeErrorKind::Truncated, i));
        };
        value += u64::from(b & 0x7f) << (7 * (i - 1));
        if value > MAX_INTEGER as u64 {
            return Err(DecodeError::new(DecodeErrorKind::IntegerOverflow, i));
        }
        if b & 0x80 == 0 {
            // `value <= MAX_INTEGER`, which fits `usize`.
            return Ok((value as usize, i + 1));
        }
    }
    Err(DecodeError::new(
        DecodeErrorKind::IntegerOverflow,
        MAX_CONTINUATION_BYTES + 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: usize, prefix: u8, flags: u8) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(value, prefix, flags, &mut out);
        assert_eq!(out.len(), encoded_len(value, prefix));
        out.to_vec()
    }

    /// RFC 7541 C.1.1: 10 with a 5-bit prefix.
    #[test]
    fn rfc_c_1_1_small_value() {
        assert_eq!(enc(10, 5, 0), [0x0a]);
        assert_eq!(decode(&[0x0a], 5), Ok((10, 1)));
        // Flag bits above the prefix are ignored.
        assert_eq!(decode(&[0xea], 5), Ok((10, 1)));
    }

    /// RFC 7541 C.1.2: 1337 with a 5-bit prefix.
    #[test]
    fn rfc_c_1_2_multi_byte() {
        assert_eq!(enc(1337, 5, 0), [0x1f, 0x9a, 0x0a]);
        assert_eq!(decode(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
        // Trailing bytes are not consumed.
        assert_eq!(decode(&[0xbf, 0x9a, 0x0a, 0x02], 5), Ok((1337, 3)));
    }

    /// RFC 7541 C.1.3: 42 starting at an octet boundary (8-bit prefix).
    #[test]
    fn rfc_c_1_3_full_octet_prefix() {
        assert_eq!(enc(42, 8, 0xff), [0x2a]);
        assert_eq!(decode(&[0x2a], 8), Ok((42, 1)));
    }

    #[test]
    fn flags_are_kept_above_the_prefix() {
        assert_eq!(enc(3, 4, 0x10), [0x13]);
        assert_eq!(enc(15, 4, 0x10), [0x1f, 0x00]);
        assert_eq!(enc(2, 7, 0x80), [0x82]);
    }

    #[test]
    fn round_trips_edges_for_every_prefix() {
        for prefix in 1..=8u8 {
            let m = (1usize << prefix) - 1;
            for v in [
                0,
                m.saturating_sub(1),
                m,
                m + 1,
                m + 127,
                m + 128,
                m + 16_383,
                m + 16_384,
                4096,
                MAX_INTEGER - 1,
                MAX_INTEGER,
            ] {
                let bytes = enc(v, prefix, 0);
                assert_eq!(
                    decode(&bytes, prefix),
                    Ok((v, bytes.len())),
                    "v={v} prefix={prefix}"
                );
            }
        }
    }

    #[test]
    fn rejects_values_above_max_integer() {
        for prefix in 1..=8u8 {
            let bytes = enc(MAX_INTEGER + 1, prefix, 0);
            assert_eq!(
                decode(&bytes, prefix).unwrap_err().kind(),
                DecodeErrorKind::IntegerOverflow,
                "prefix={prefix}"
            );
        }
        // A huge value in the 5th continuation byte.
        let e = decode(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], 5).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::IntegerOverflow);
        assert_eq!(e.offset(), 5);
    }

    #[test]
    fn rejects_endless_zero_continuations() {
        // Value stays 31 but the encoding never ends within 5 continuation bytes.
        let mut src = vec![0x1f];
        src.extend([0x80; 16]);
        src.push(0);
        let e = decode(&src, 5).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::IntegerOverflow);
        // Four padded zero groups still decode.
        assert_eq!(
            decode(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Ok((31, 6))
        );
    }

    #[test]
    fn truncated_inputs() {
        assert_eq!(
            decode(&[], 5).unwrap_err().kind(),
            DecodeErrorKind::Truncated
        );
        let e = decode(&[0x1f], 5).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (DecodeErrorKind::Truncated, 1));
        let e = decode(&[0x1f, 0x9a], 5).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (DecodeErrorKind::Truncated, 2));
    }

    #[test]
    #[should_panic(expected = "prefix must be 1 to 8")]
    fn prefix_zero_panics() {
        let _ = decode(&[0], 0);
    }
}
