//! The header block decoder.
//!
//! Model: one [`Decoder`] per HTTP/2 connection mirrors the peer encoder's
//! dynamic table. Every header block must be decoded, in order, to the end
//! (even one whose stream is being refused), or the two tables drift apart.
//!
//! Invariants: the dynamic table's maximum size never exceeds the limit we
//! announced; size updates are accepted only before the first field of a block;
//! after we lower the limit below the table's current maximum, the next block
//! must open with a size update down to the lowest limit announced in between.
//! The decoder keeps no buffers between blocks: Huffman scratch space lives only
//! for the duration of one [`Decoder::decode`] call.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::internal::{huffman, integer};
use crate::table::{DynamicTable, ENTRY_OVERHEAD};
use crate::{DEFAULT_TABLE_SIZE, Field};

/// Decodes header blocks received on one HTTP/2 connection (RFC 7541).
///
/// Holds the dynamic table, which starts empty and unallocated and owns only
/// what the peer inserts.
///
/// ```
/// use gwd_hpack::{Decoder, Encoder, Field};
///
/// let mut block = bytes::BytesMut::new();
/// Encoder::new().encode(
///     [
///         Field::new(b":method", b"GET"),
///         Field::new(b":path", b"/search?q=hpack"),
///         Field::never_indexed(b"authorization", b"Bearer secret"),
///     ],
///     &mut block,
/// );
///
/// let mut decoder = Decoder::new(4096);
/// let mut got = Vec::new();
/// decoder
///     .decode(&block, 16 * 1024, &mut |f| {
///         got.push((f.name.to_vec(), f.value.to_vec(), f.never_index))
///     })
///     .unwrap();
/// assert_eq!(got[0], (b":method".to_vec(), b"GET".to_vec(), false));
/// assert_eq!(got[1], (b":path".to_vec(), b"/search?q=hpack".to_vec(), false));
/// assert_eq!(got[2], (b"authorization".to_vec(), b"Bearer secret".to_vec(), true));
/// assert_eq!(decoder.table_entries(), 0); // our encoder never inserts
///
/// // A list over the limit is refused, but the block was still fully decoded.
/// let err = decoder.decode(&block, 64, &mut |_| {}).unwrap_err();
/// assert_eq!(err.kind(), gwd_hpack::DecodeErrorKind::HeaderListTooLarge);
/// assert!(!err.is_compression_error());
/// ```
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE we announced (and the peer acknowledged).
    limit: usize,
    /// Lowest limit announced since the last block, when it went below the
    /// table's maximum size: the next block must start with an update to it or lower.
    required_update: Option<usize>,
}

impl Default for Decoder {
    /// A decoder for the protocol default table size (4096).
    fn default() -> Decoder {
        Decoder::new(DEFAULT_TABLE_SIZE)
    }
}

impl Decoder {
    /// A decoder whose table may grow to `max_table_size`: the
    /// SETTINGS_HEADER_TABLE_SIZE we announced (default 4096), which the peer's
    /// encoder also starts from.
    ///
    /// If our first SETTINGS announces a value other than 4096, the peer may
    /// send blocks before it sees it: create the decoder with 4096 and call
    /// [`set_max_table_size`](Decoder::set_max_table_size) when the SETTINGS is
    /// acknowledged. Allocates nothing.
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            limit: max_table_size,
            required_update: None,
        }
    }

    /// Our announced limit changed (call it when the peer ACKs our SETTINGS).
    ///
    /// Updates above the new limit are refused from now on. If it is below the
    /// table's current maximum size, the next block must start with a size
    /// update at or below the lowest limit set since the previous block
    /// (RFC 7541 §4.2), or decoding fails with
    /// [`DecodeErrorKind::TableSizeUpdateMissing`]. The table itself shrinks
    /// when that update arrives, in step with the peer.
    pub fn set_max_table_size(&mut self, n: usize) {
        self.limit = n;
        if n < self.table.max_size() {
            self.required_update = Some(self.required_update.map_or(n, |m| m.min(n)));
        }
    }

    /// The limit we announced, as last given to [`new`](Decoder::new) or
    /// [`set_max_table_size`](Decoder::set_max_table_size).
    pub fn max_table_size(&self) -> usize {
        self.limit
    }

    /// The table's current maximum size, as last set by the peer's size update
    /// (initially the limit given to [`new`](Decoder::new)).
    pub fn current_max_table_size(&self) -> usize {
        self.table.max_size()
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION payloads
    /// joined), calling `f` for each field in order.
    ///
    /// `max_header_list_size` is the limit in RFC 9113's measure (sum of
    /// `name.len() + value.len() + 32`). When the list goes past it, decoding
    /// continues to the end of the block so the dynamic table stays in sync with
    /// the peer, `f` is no longer called, and the result is an error of kind
    /// [`DecodeErrorKind::HeaderListTooLarge`] (a stream error). Any other error
    /// is a compression error: the decoder is then out of sync and the
    /// connection must end; fields already passed to `f` are not taken back.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_header_list_size: usize,
        f: &mut dyn FnMut(Field<'_>),
    ) -> Result<(), DecodeError> {
        let mut sink = Sink {
            f,
            list_size: 0,
            max: max_header_list_size,
            exceeded_at: None,
        };
        // Scratch space for Huffman strings; allocated only if one shows up.
        let mut name_buf = Vec::new();
        let mut value_buf = Vec::new();

        let required = self.required_update.take();
        let mut update_seen = required.is_none();
        let mut at_start = true;
        let mut pos = 0;
        while let Some(&b) = block.get(pos) {
            let start = pos;
            if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if !at_start {
                    return Err(err(DecodeErrorKind::TableSizeUpdateNotAtStart, start));
                }
                let n = read_int(block, &mut pos, 5)?;
                if n > self.limit {
                    return Err(err(DecodeErrorKind::TableSizeUpdateTooLarge, start));
                }
                if required.is_some_and(|m| n <= m) {
                    update_seen = true;
                }
                self.table.set_max_size(n);
                continue;
            }
            if !update_seen {
                return Err(err(DecodeErrorKind::TableSizeUpdateMissing, start));
            }
            at_start = false;

            if b & 0x80 != 0 {
                // Indexed header field (§6.1).
                let index = read_int(block, &mut pos, 7)?;
                let (name, value) = self
                    .table
                    .get(index)
                    .ok_or_else(|| err(DecodeErrorKind::InvalidIndex, start))?;
                sink.emit(name, value, false, start);
                continue;
            }

            // Literal header field (§6.2): with incremental indexing (01),
            // never indexed (0001) or without indexing (0000).
            let (prefix, indexing, never_index) = if b & 0x40 != 0 {
                (6, true, false)
            } else if b & 0x10 != 0 {
                (4, false, true)
            } else {
                (4, false, false)
            };
            let index = read_int(block, &mut pos, prefix)?;
            let name: &[u8] = if index == 0 {
                read_string(block, &mut pos, &mut name_buf)?
            } else {
                self.table
                    .get(index)
                    .ok_or_else(|| err(DecodeErrorKind::InvalidIndex, start))?
                    .0
            };
            let value = read_string(block, &mut pos, &mut value_buf)?;
            if indexing {
                let name_len = name.len();
                let mut data = Vec::with_capacity(name_len + value.len());
                data.extend_from_slice(name);
                data.extend_from_slice(value);
                let data = data.into_boxed_slice();
                sink.emit(&data[..name_len], &data[name_len..], false, start);
                self.table.insert(data, name_len);
            } else {
                sink.emit(name, value, never_index, start);
            }
        }
        if !update_seen {
            return Err(err(DecodeErrorKind::TableSizeUpdateMissing, pos));
        }
        match sink.exceeded_at {
            Some(at) => Err(err(DecodeErrorKind::HeaderListTooLarge, at)),
            None => Ok(()),
        }
    }

    /// Number of entries in the dynamic table.
    pub fn table_entries(&self) -> usize {
        self.table.len()
    }

    /// The dynamic table's size in the RFC's measure: sum of
    /// `name.len() + value.len() + 32` over its entries.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// `(name, value)` at HPACK index `index`: 1..=61 is the static table, 62
    /// the newest dynamic entry, 63 the one before, ... `None` for 0 or past
    /// the end. For inspection and tests.
    pub fn entry(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.table.get(index)
    }
}

fn err(kind: DecodeErrorKind, at: usize) -> DecodeError {
    DecodeError::new(kind, at)
}

/// Passes fields to the caller until the header list limit is crossed.
struct Sink<'f> {
    f: &'f mut dyn FnMut(Field<'_>),
    list_size: usize,
    max: usize,
    exceeded_at: Option<usize>,
}

impl Sink<'_> {
    fn emit(&mut self, name: &[u8], value: &[u8], never_index: bool, at: usize) {
        self.list_size = self
            .list_size
            .saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
        if self.exceeded_at.is_some() {
            return;
        }
        if self.list_size > self.max {
            self.exceeded_at = Some(at);
            return;
        }
        (self.f)(Field {
            name,
            value,
            never_index,
        });
    }
}

fn read_int(block: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, DecodeError> {
    let (value, used) =
        integer::decode(&block[*pos..], prefix_bits).map_err(|e| e.shifted(*pos))?;
    *pos += used;
    Ok(value)
}

/// Reads a string literal (§5.2) at `pos`: a borrow of `block`, or of `buf`
/// when it is Huffman-coded.
fn read_string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    buf: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    let start = *pos;
    let Some(&first) = block.get(start) else {
        return Err(err(DecodeErrorKind::Truncated, start));
    };
    let len = read_int(block, pos, 7)?;
    let begin = *pos;
    if len > block.len() - begin {
        return Err(err(DecodeErrorKind::Truncated, block.len()));
    }
    let raw = &block[begin..begin + len];
    *pos = begin + len;
    if first & 0x80 == 0 {
        return Ok(raw);
    }
    buf.clear();
    huffman::decode(raw, buf).map_err(|e| e.shifted(begin))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        d: &mut Decoder,
        block: &[u8],
    ) -> Result<Vec<(String, String, bool)>, DecodeError> {
        let mut out = Vec::new();
        d.decode(block, usize::MAX, &mut |f| {
            out.push((
                String::from_utf8(f.name.to_vec()).unwrap(),
                String::from_utf8(f.value.to_vec()).unwrap(),
                f.never_index,
            ))
        })?;
        Ok(out)
    }

    fn kind(r: Result<Vec<(String, String, bool)>, DecodeError>) -> DecodeErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn empty_block_is_an_empty_list() {
        let mut d = Decoder::new(4096);
        assert_eq!(decode_all(&mut d, &[]).unwrap(), []);
    }

    #[test]
    fn index_zero_is_invalid() {
        let mut d = Decoder::new(4096);
        let e = decode_all(&mut d, &[0x80]).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (DecodeErrorKind::InvalidIndex, 0));
    }

    #[test]
    fn index_past_the_tables_is_invalid() {
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode_all(&mut d, &[0xbd]).unwrap()[0].0,
            "www-authenticate"
        );
        assert_eq!(
            kind(decode_all(&mut d, &[0xbe])),
            DecodeErrorKind::InvalidIndex
        );
        // Literal with an indexed name past the end.
        assert_eq!(
            kind(decode_all(&mut d, &[0x7f, 0x00, 0x00])),
            DecodeErrorKind::InvalidIndex
        );
        assert_eq!(
            kind(decode_all(&mut d, &[0x0f, 0x2f, 0x00])),
            DecodeErrorKind::InvalidIndex
        );
        // After one insertion, 62 is valid and 63 is not.
        decode_all(&mut d, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
        assert_eq!(
            decode_all(&mut d, &[0xbe]).unwrap()[0],
            ("a".into(), "b".into(), false)
        );
        assert_eq!(
            kind(decode_all(&mut d, &[0xbf])),
            DecodeErrorKind::InvalidIndex
        );
    }

    #[test]
    fn truncated_representations() {
        let mut d = Decoder::new(4096);
        for block in [
            &[0xff][..],                     // indexed, integer cut
            &[0x40],                         // literal, name string missing
            &[0x40, 0x03, b'a', b'b'],       // name shorter than its length
            &[0x40, 0x01, b'a'],             // value missing
            &[0x40, 0x01, b'a', 0x02, b'b'], // value shorter than its length
            &[0x04, 0x7f],                   // length integer cut
            &[0x3f],                         // size update integer cut
        ] {
            assert_eq!(
                kind(decode_all(&mut d, block)),
                DecodeErrorKind::Truncated,
                "{block:x?}"
            );
        }
    }

    #[test]
    fn integer_overflow_in_a_string_length() {
        let mut d = Decoder::new(4096);
        let block = [0x04, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(
            kind(decode_all(&mut d, &block)),
            DecodeErrorKind::IntegerOverflow
        );
    }

    #[test]
    fn huffman_error_offset_is_in_block_coordinates() {
        let mut d = Decoder::new(4096);
        // ':path' literal, value Huffman 1 byte 0xff (8 bits of padding).
        let e = decode_all(&mut d, &[0x04, 0x81, 0xff]).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (DecodeErrorKind::InvalidHuffman, 2));
    }

    #[test]
    fn size_updates_at_start_only_and_within_limit() {
        let mut d = Decoder::new(4096);
        // Two updates then a field: fine.
        assert_eq!(
            decode_all(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82])
                .unwrap()
                .len(),
            1
        );
        assert_eq!(d.current_max_table_size(), 4096);
        // Update after a field.
        let e = decode_all(&mut d, &[0x82, 0x20]).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset()),
            (DecodeErrorKind::TableSizeUpdateNotAtStart, 1)
        );
        // Above the limit: 4097.
        let e = decode_all(&mut d, &[0x3f, 0xe2, 0x1f]).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::TableSizeUpdateTooLarge);
    }

    #[test]
    fn lowering_the_limit_requires_an_update() {
        let mut d = Decoder::new(4096);
        d.set_max_table_size(100);
        assert_eq!(d.max_table_size(), 100);
        assert_eq!(
            kind(decode_all(&mut d, &[0x82])),
            DecodeErrorKind::TableSizeUpdateMissing
        );

        let mut d = Decoder::new(4096);
        d.set_max_table_size(100);
        assert_eq!(
            kind(decode_all(&mut d, &[])),
            DecodeErrorKind::TableSizeUpdateMissing
        );

        // With the update: accepted, and only once required.
        let mut d = Decoder::new(4096);
        d.set_max_table_size(100);
        decode_all(&mut d, &[0x3f, 0x45, 0x82]).unwrap(); // update to 100
        assert_eq!(d.current_max_table_size(), 100);
        decode_all(&mut d, &[0x82]).unwrap();
    }

    #[test]
    fn lowered_then_raised_needs_the_minimum_first() {
        let mut d = Decoder::new(4096);
        d.set_max_table_size(0);
        d.set_max_table_size(4096);
        // Only the final value: the dip to 0 was not signalled.
        assert_eq!(
            kind(decode_all(&mut d, &[0x3f, 0xe1, 0x1f, 0x82])),
            DecodeErrorKind::TableSizeUpdateMissing
        );
        let mut d = Decoder::new(4096);
        d.set_max_table_size(0);
        d.set_max_table_size(4096);
        decode_all(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).unwrap();
        assert_eq!(d.current_max_table_size(), 4096);
    }

    #[test]
    fn raising_the_limit_requires_nothing() {
        let mut d = Decoder::new(4096);
        d.set_max_table_size(8192);
        decode_all(&mut d, &[0x82]).unwrap();
        // And an update up to the new limit is accepted.
        decode_all(&mut d, &[0x3f, 0xe1, 0x3f]).unwrap();
        assert_eq!(d.current_max_table_size(), 8192);
    }

    #[test]
    fn size_update_evicts() {
        let mut d = Decoder::new(4096);
        decode_all(&mut d, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
        assert_eq!((d.table_entries(), d.table_size()), (1, 34));
        decode_all(&mut d, &[0x20]).unwrap();
        assert_eq!((d.table_entries(), d.table_size()), (0, 0));
        // With max 0 nothing is inserted.
        decode_all(&mut d, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
        assert_eq!(d.table_entries(), 0);
    }

    #[test]
    fn literal_kinds_and_indexing() {
        let mut d = Decoder::new(4096);
        // Without indexing, never indexed: no insertion.
        let got = decode_all(
            &mut d,
            &[0x00, 0x01, b'x', 0x01, b'1', 0x10, 0x01, b'y', 0x00],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("x".into(), "1".into(), false),
                ("y".into(), "".into(), true)
            ]
        );
        assert_eq!(d.table_entries(), 0);
        // Never indexed with a static name.
        let got = decode_all(&mut d, &[0x1f, 0x08, 0x01, b'k']).unwrap();
        assert_eq!(got, [("authorization".into(), "k".into(), true)]);
        // Incremental indexing with a static name (cookie = 32).
        let got = decode_all(&mut d, &[0x60, 0x03, b'a', b'=', b'b']).unwrap();
        assert_eq!(got, [("cookie".into(), "a=b".into(), false)]);
        assert_eq!((d.table_entries(), d.table_size()), (1, 6 + 3 + 32));
        // Then a literal naming the dynamic entry.
        let got = decode_all(&mut d, &[0x0f, 0x2f, 0x01, b'c']).unwrap();
        assert_eq!(got, [("cookie".into(), "c".into(), false)]);
    }

    #[test]
    fn header_list_limit_counts_rfc9113_size() {
        let mut d = Decoder::new(4096);
        // ":method: GET" is 7 + 3 + 32 = 42.
        let block = [0x82, 0x82];
        let mut n = 0;
        d.decode(&block, 84, &mut |_| n += 1).unwrap();
        assert_eq!(n, 2);
        let mut n = 0;
        let e = d.decode(&block, 83, &mut |_| n += 1).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset()),
            (DecodeErrorKind::HeaderListTooLarge, 1)
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn compression_error_wins_over_list_size() {
        let mut d = Decoder::new(4096);
        let e = d.decode(&[0x82, 0x80], 0, &mut |_| {}).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::InvalidIndex);
    }
}
