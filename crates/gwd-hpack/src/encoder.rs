//! The header block encoder.
//!
//! Model: the encoder never inserts into the peer's dynamic table, so it keeps
//! no table, never needs memory, and its output depends only on the fields and
//! on pending size updates. Each field becomes the first of:
//!
//! 1. an indexed field (§6.1) when name and value match a static entry;
//! 2. a literal without indexing (§6.2.2), with the name indexed when the name
//!    is in the static table, else a literal name;
//!
//! and fields marked `never_index` always use the never-indexed literal
//! (§6.2.3), so intermediaries keep them out of their tables too. Each string
//! is Huffman-coded when that is strictly shorter.
//!
//! Invariant: after the peer's SETTINGS_HEADER_TABLE_SIZE changes, the next
//! block starts with a dynamic table size update (§4.2, §6.3): the lowest value
//! seen since the previous block if it dipped below the last signalled size and
//! came back up, then the final value.

use bytes::{BufMut, BytesMut};

use crate::internal::{huffman, integer};
use crate::table::{StaticMatch, static_find};
use crate::{DEFAULT_TABLE_SIZE, Field};

/// Encodes header blocks sent on one HTTP/2 connection, using only the static
/// table and literals.
///
/// ```
/// use gwd_hpack::{Decoder, Encoder, Field};
///
/// let mut enc = Encoder::new();
/// let mut block = bytes::BytesMut::new();
/// enc.encode(
///     [
///         Field::new(b":status", b"200"),
///         Field::new(b"content-type", b"text/html"),
///         Field::new(b"x-request-id", b""),
///     ],
///     &mut block,
/// );
/// // ":status: 200" is static index 8: a single byte.
/// assert_eq!(block[0], 0x88);
///
/// // The peer lowered its table size: the next block says so first.
/// enc.set_peer_max_table_size(0);
/// let mut second = bytes::BytesMut::new();
/// enc.encode([Field::new(b":status", b"404")], &mut second);
/// assert_eq!(&second[..], &[0x20, 0x8d]);
///
/// // The peer's decoder, with the lowered limit acknowledged, accepts both.
/// let mut dec = Decoder::new(4096);
/// let mut names = Vec::new();
/// dec.decode(&block, 8192, &mut |f| names.push(f.name.to_vec())).unwrap();
/// dec.set_max_table_size(0);
/// dec.decode(&second, 8192, &mut |f| names.push(f.name.to_vec())).unwrap();
/// assert_eq!(names, [&b":status"[..], b"content-type", b"x-request-id", b":status"]);
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    /// The table size the peer's decoder last heard from us; `None` is the
    /// protocol default (4096), never signalled.
    signalled: Option<usize>,
    /// Changes of the peer's limit not yet written.
    pending: Option<PendingUpdate>,
    /// Strings go out as they are, never Huffman-coded.
    plain_strings: bool,
}

#[derive(Debug, Clone, Copy)]
struct PendingUpdate {
    /// Lowest limit since the last block.
    min: usize,
    /// Latest limit.
    last: usize,
}

impl Encoder {
    /// A new encoder; allocates nothing.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Writes every string literal as it is, never Huffman-coded: blocks
    /// are a little larger (about a quarter, for typical field values)
    /// and cost less CPU on both ends, which suits links where bytes are
    /// cheap (a datacenter, loopback: reverse-HTTP tunnels). Any HPACK
    /// decoder reads both forms.
    pub fn set_plain_strings(&mut self, plain: bool) {
        self.plain_strings = plain;
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed to `n`.
    ///
    /// The encoder never inserts into the dynamic table, but the next header
    /// block begins with a dynamic table size update announcing `n` (peers such
    /// as nghttp2 and HAProxy require one after they lower the size). If the
    /// limit went below the last signalled size and then up again before a
    /// block was written, the minimum is emitted first, then the final value.
    /// Setting the value the peer already has is a no-op.
    pub fn set_peer_max_table_size(&mut self, n: usize) {
        self.pending = Some(match self.pending {
            None => PendingUpdate { min: n, last: n },
            Some(p) => PendingUpdate {
                min: p.min.min(n),
                last: n,
            },
        });
    }

    /// Appends one header block for `fields` to `out`. Names are written
    /// lowercase whatever their case (HTTP/2 requires it; an HTTP/1.1
    /// head keeps the case it was received with).
    ///
    /// Fully indexed where name and value match a static entry, otherwise a
    /// literal without indexing (name indexed when the static table has it);
    /// `never_index` fields use the never-indexed literal. Strings are
    /// Huffman-coded when that is shorter. Starts with any pending dynamic
    /// table size update.
    pub fn encode<'a>(&mut self, fields: impl IntoIterator<Item = Field<'a>>, out: &mut BytesMut) {
        if let Some(p) = self.pending.take() {
            let current = self.signalled.unwrap_or(DEFAULT_TABLE_SIZE);
            if p.min < p.last && p.min < current {
                integer::encode(p.min, 5, 0x20, out);
            }
            if p.last != current || p.min < current {
                integer::encode(p.last, 5, 0x20, out);
            }
            self.signalled = Some(p.last);
        }
        let huffman = !self.plain_strings;
        for field in fields {
            encode_field(field, huffman, out);
        }
    }

    /// True when the next block will start with a dynamic table size update.
    pub fn has_pending_size_update(&self) -> bool {
        self.pending.is_some_and(|p| {
            let current = self.signalled.unwrap_or(DEFAULT_TABLE_SIZE);
            p.last != current || p.min < current
        })
    }
}

fn encode_field(field: Field<'_>, huffman: bool, out: &mut BytesMut) {
    if !field.name.iter().any(u8::is_ascii_uppercase) {
        return encode_lowercase(field, huffman, out);
    }
    // Names are short: lowered on the stack, on the heap past 64 bytes.
    let mut small = [0u8; 64];
    let mut large = Vec::new();
    let lower: &mut [u8] = match small.get_mut(..field.name.len()) {
        Some(s) => s,
        None => {
            large.resize(field.name.len(), 0);
            &mut large
        }
    };
    lower.copy_from_slice(field.name);
    lower.make_ascii_lowercase();
    encode_lowercase(
        Field {
            name: lower,
            ..field
        },
        huffman,
        out,
    );
}

fn encode_lowercase(field: Field<'_>, huffman: bool, out: &mut BytesMut) {
    let found = static_find(field.name, field.value);
    if field.never_index {
        match found {
            StaticMatch::Full(i) | StaticMatch::Name(i) => integer::encode(i, 4, 0x10, out),
            StaticMatch::None => {
                out.put_u8(0x10);
                encode_string(field.name, huffman, out);
            }
        }
        encode_string(field.value, huffman, out);
        return;
    }
    match found {
        StaticMatch::Full(i) => integer::encode(i, 7, 0x80, out),
        StaticMatch::Name(i) => {
            integer::encode(i, 4, 0x00, out);
            encode_string(field.value, huffman, out);
        }
        StaticMatch::None => {
            out.put_u8(0x00);
            encode_string(field.name, huffman, out);
            encode_string(field.value, huffman, out);
        }
    }
}

/// A string literal (§5.2), Huffman-coded when `huffman` and strictly
/// shorter.
fn encode_string(s: &[u8], huffman: bool, out: &mut BytesMut) {
    let huffman_len = if huffman {
        huffman::encoded_len(s)
    } else {
        usize::MAX
    };
    if huffman_len < s.len() {
        integer::encode(huffman_len, 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        integer::encode(s.len(), 7, 0x00, out);
        out.put_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(e: &mut Encoder, fields: &[Field<'_>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        e.encode(fields.iter().copied(), &mut out);
        out.to_vec()
    }

    #[test]
    fn names_are_written_lowercase() {
        let mut e = Encoder::new();
        let long = "X-".repeat(40);
        for (name, lower) in [
            ("Content-Type", "content-type".to_string()),
            ("X-Custom", "x-custom".to_string()),
            (long.as_str(), long.to_ascii_lowercase()),
        ] {
            let got = enc(&mut e, &[Field::new(name.as_bytes(), b"v")]);
            let want = enc(&mut e, &[Field::new(lower.as_bytes(), b"v")]);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn fully_indexed_when_name_and_value_match() {
        let mut e = Encoder::new();
        assert_eq!(
            enc(
                &mut e,
                &[
                    Field::new(b":method", b"GET"),
                    Field::new(b":scheme", b"https")
                ]
            ),
            [0x82, 0x87]
        );
    }

    #[test]
    fn indexed_name_literal_value() {
        let mut e = Encoder::new();
        // ":path: /x" -> 0000 0100 then raw "/x" (Huffman would not be shorter).
        assert_eq!(
            enc(&mut e, &[Field::new(b":path", b"/x")]),
            [0x04, 0x02, b'/', b'x']
        );
        // Index above 15 needs a continuation byte: content-type is 31.
        assert_eq!(
            enc(&mut e, &[Field::new(b"content-type", b"x")])[..3],
            [0x0f, 0x10, 0x01]
        );
    }

    #[test]
    fn literal_name_uses_huffman_when_shorter() {
        let mut e = Encoder::new();
        let out = enc(&mut e, &[Field::new(b"custom-key", b"custom-value")]);
        let mut want = vec![0x00, 0x88, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f];
        want.extend([0x89, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf]);
        assert_eq!(out, want);
    }

    #[test]
    fn plain_strings_are_never_huffman_coded_and_decode_the_same() {
        let mut e = Encoder::new();
        e.set_plain_strings(true);
        let fields = [
            Field::new(b"custom-key", b"custom-value"),
            Field::new(b"content-type", b"text/html"),
            Field::new(b":status", b"200"),
        ];
        let out = enc(&mut e, &fields);
        let mut want = vec![0x00, 0x0a];
        want.extend(b"custom-key");
        want.push(0x0c);
        want.extend(b"custom-value");
        // content-type is static index 31 (4-bit prefix: 0x0f, 16), the
        // value a plain literal; ":status: 200" fully indexed.
        want.extend([0x0f, 0x10, 0x09]);
        want.extend(b"text/html");
        want.push(0x88);
        assert_eq!(out, want);
        let mut dec = crate::Decoder::new(4096);
        let mut got = Vec::new();
        dec.decode(&out, 8192, &mut |f| {
            got.push((f.name.to_vec(), f.value.to_vec()))
        })
        .unwrap();
        let want: Vec<_> = fields
            .iter()
            .map(|f| (f.name.to_vec(), f.value.to_vec()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn never_indexed_even_on_a_full_static_match() {
        let mut e = Encoder::new();
        assert_eq!(
            enc(&mut e, &[Field::never_indexed(b":method", b"GET")]),
            [0x12, 0x03, b'G', b'E', b'T']
        );
        assert_eq!(
            enc(&mut e, &[Field::never_indexed(b"x", b"")]),
            [0x10, 0x01, b'x', 0x00]
        );
    }

    #[test]
    fn empty_value() {
        let mut e = Encoder::new();
        // ":authority" with empty value matches static 1.
        assert_eq!(enc(&mut e, &[Field::new(b":authority", b"")]), [0x81]);
        assert_eq!(
            enc(&mut e, &[Field::new(b"x", b"")]),
            [0x00, 0x01, b'x', 0x00]
        );
    }

    #[test]
    fn size_update_after_change_only_once() {
        let mut e = Encoder::new();
        assert!(!e.has_pending_size_update());
        e.set_peer_max_table_size(100);
        assert!(e.has_pending_size_update());
        assert_eq!(
            enc(&mut e, &[Field::new(b":method", b"GET")]),
            [0x3f, 0x45, 0x82]
        );
        assert!(!e.has_pending_size_update());
        assert_eq!(enc(&mut e, &[Field::new(b":method", b"GET")]), [0x82]);
    }

    #[test]
    fn dip_then_rise_emits_minimum_then_final() {
        let mut e = Encoder::new();
        e.set_peer_max_table_size(0);
        e.set_peer_max_table_size(4096);
        assert!(e.has_pending_size_update());
        assert_eq!(enc(&mut e, &[]), [0x20, 0x3f, 0xe1, 0x1f]);
        // Down then partly up: min then final.
        e.set_peer_max_table_size(1000);
        e.set_peer_max_table_size(2000);
        let out = enc(&mut e, &[]);
        let mut want = BytesMut::new();
        integer::encode(1000, 5, 0x20, &mut want);
        integer::encode(2000, 5, 0x20, &mut want);
        assert_eq!(out, want.to_vec());
    }

    #[test]
    fn unchanged_or_round_trip_above_is_silent() {
        let mut e = Encoder::new();
        e.set_peer_max_table_size(4096);
        assert!(!e.has_pending_size_update());
        assert_eq!(enc(&mut e, &[]), b"");
        e.set_peer_max_table_size(8192);
        e.set_peer_max_table_size(4096);
        assert_eq!(enc(&mut e, &[]), b"");
        // A rise alone is announced.
        e.set_peer_max_table_size(8192);
        assert_eq!(enc(&mut e, &[]), [0x3f, 0xe1, 0x3f]);
    }
}
