//! One test per decoding error kind, through the public `Decoder` API; each
//! block is valid except for the one thing the check rejects, so the test
//! fails if the check is removed.

use gwd_hpack::internal::huffman;
use gwd_hpack::{DecodeError, DecodeErrorKind, Decoder, Field};

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Pairs, DecodeError> {
    let mut out = Vec::new();
    d.decode(block, usize::MAX, &mut |f| {
        out.push((f.name.to_vec(), f.value.to_vec()))
    })?;
    Ok(out)
}

fn kind_of(block: &[u8]) -> DecodeErrorKind {
    decode(&mut Decoder::new(4096), block).unwrap_err().kind()
}

#[test]
fn truncated() {
    // ':path' literal whose value claims 5 bytes but has 4.
    let e = decode(
        &mut Decoder::new(4096),
        &[0x04, 0x05, b'/', b'a', b'b', b'c'],
    )
    .unwrap_err();
    assert_eq!(e.kind(), DecodeErrorKind::Truncated);
    assert!(e.is_compression_error());
    // The same block complete decodes.
    assert!(
        decode(
            &mut Decoder::new(4096),
            &[0x04, 0x04, b'/', b'a', b'b', b'c']
        )
        .is_ok()
    );
    // An integer cut in its continuation bytes.
    assert_eq!(kind_of(&[0xff, 0x80]), DecodeErrorKind::Truncated);
}

#[test]
fn integer_overflow() {
    // Indexed field with index 2^32 + 126 (prefix 127 + continuations).
    assert_eq!(
        kind_of(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        DecodeErrorKind::IntegerOverflow
    );
    // Six continuation bytes, even if the value would be small.
    assert_eq!(
        kind_of(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        DecodeErrorKind::IntegerOverflow
    );
    // A string length of 2^32.
    assert_eq!(
        kind_of(&[0x00, 0x7f, 0x81, 0xff, 0xff, 0xff, 0x0f]),
        DecodeErrorKind::IntegerOverflow
    );
}

#[test]
fn invalid_index_zero() {
    assert_eq!(kind_of(&[0x80]), DecodeErrorKind::InvalidIndex);
}

#[test]
fn invalid_index_past_the_dynamic_table() {
    let mut d = Decoder::new(4096);
    // 62 is invalid on an empty table...
    assert_eq!(
        decode(&mut d, &[0xbe]).unwrap_err().kind(),
        DecodeErrorKind::InvalidIndex
    );
    // ...and valid after one insertion, when 63 is not.
    let mut d = Decoder::new(4096);
    decode(&mut d, &[0x40, 0x01, b'k', 0x01, b'v']).unwrap();
    assert_eq!(
        decode(&mut d, &[0xbe]).unwrap(),
        [(b"k".to_vec(), b"v".to_vec())]
    );
    assert_eq!(
        decode(&mut d, &[0xbf]).unwrap_err().kind(),
        DecodeErrorKind::InvalidIndex
    );
    // Indexed names too.
    assert_eq!(
        decode(&mut d, &[0x7f, 0x01, 0x00]).unwrap_err().kind(),
        DecodeErrorKind::InvalidIndex
    );
}

#[test]
fn invalid_huffman_padding_too_long() {
    // ':path' value Huffman "a" (00011) + 3 ones, then a full byte of ones.
    assert_eq!(
        kind_of(&[0x04, 0x82, 0x1f, 0xff]),
        DecodeErrorKind::InvalidHuffman
    );
    assert_eq!(
        decode(&mut Decoder::new(4096), &[0x04, 0x81, 0x1f]).unwrap()[0].1,
        b"a"
    );
}

#[test]
fn invalid_huffman_padding_not_eos_prefix() {
    // "a" then padding 110.
    assert_eq!(
        kind_of(&[0x04, 0x81, 0x1e]),
        DecodeErrorKind::InvalidHuffman
    );
}

#[test]
fn invalid_huffman_eos_symbol() {
    // EOS (30 ones) + 2 padding ones as a literal name.
    assert_eq!(
        kind_of(&[0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]),
        DecodeErrorKind::InvalidHuffman
    );
    let mut out = Vec::new();
    let e = huffman::decode(&[0xff, 0xff, 0xff, 0xff], &mut out).unwrap_err();
    assert_eq!(e.kind(), DecodeErrorKind::InvalidHuffman);
}

#[test]
fn table_size_update_too_large() {
    // 4097 > 4096.
    assert_eq!(
        kind_of(&[0x3f, 0xe2, 0x1f, 0x82]),
        DecodeErrorKind::TableSizeUpdateTooLarge
    );
    // 4096 is fine.
    assert!(decode(&mut Decoder::new(4096), &[0x3f, 0xe1, 0x1f, 0x82]).is_ok());
    // After lowering our limit, a value above it is refused even though the
    // table currently is larger.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    // 101.
    assert_eq!(
        decode(&mut d, &[0x3f, 0x46, 0x82]).unwrap_err().kind(),
        DecodeErrorKind::TableSizeUpdateTooLarge
    );
}

#[test]
fn table_size_update_not_at_start() {
    assert_eq!(
        kind_of(&[0x82, 0x3f, 0xe1, 0x1f]),
        DecodeErrorKind::TableSizeUpdateNotAtStart
    );
    // At the start, twice, is fine.
    assert!(decode(&mut Decoder::new(4096), &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).is_ok());
}

#[test]
fn table_size_update_missing_after_lowering() {
    let mut d = Decoder::new(4096);
    d.set_max_table_size(0);
    let e = decode(&mut d, &[0x82]).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (DecodeErrorKind::TableSizeUpdateMissing, 0)
    );
    assert!(e.is_compression_error());

    let mut d = Decoder::new(4096);
    d.set_max_table_size(0);
    assert_eq!(decode(&mut d, &[0x20, 0x82]).unwrap().len(), 1);
}

#[test]
fn header_list_too_large_is_a_stream_error_and_keeps_the_table_in_sync() {
    let mut d = Decoder::new(4096);
    let big = vec![b'v'; 100];
    // Block 1: ":method: GET" (42), then "x-big: v*100" inserted (137, crosses
    // a 150 limit), then "x-after: 1" inserted after the limit was crossed.
    let mut block = vec![0x82, 0x40, 0x05];
    block.extend_from_slice(b"x-big");
    block.push(100);
    block.extend_from_slice(&big);
    block.extend([0x40, 0x07]);
    block.extend_from_slice(b"x-after");
    block.extend([0x01, b'1']);

    let mut seen = Vec::new();
    let e = d
        .decode(&block, 150, &mut |f: Field<'_>| seen.push(f.name.to_vec()))
        .unwrap_err();
    assert_eq!(e.kind(), DecodeErrorKind::HeaderListTooLarge);
    assert!(!e.is_compression_error());
    assert_eq!(e.offset(), 1, "the field that crossed the limit");
    assert_eq!(seen, [b":method".to_vec()], "no callback after the limit");
    assert_eq!(d.table_entries(), 2);
    assert_eq!(d.table_size(), (5 + 100 + 32) + (7 + 1 + 32));

    // Block 2 refers to both entries, the newest first.
    let got = decode(&mut d, &[0xbe, 0xbf]).unwrap();
    assert_eq!(
        got,
        [
            (b"x-after".to_vec(), b"1".to_vec()),
            (b"x-big".to_vec(), big)
        ]
    );
}

#[test]
fn compression_error_after_the_list_limit_still_wins() {
    let mut d = Decoder::new(4096);
    let e = d.decode(&[0x82, 0x82, 0x80], 50, &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), DecodeErrorKind::InvalidIndex);
    assert!(e.is_compression_error());
}
