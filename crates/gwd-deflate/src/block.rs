//! The block writer: LZ77 with one hash probe per position, coded with
//! the fixed Huffman code, falling back to stored blocks where that would
//! be larger.
//!
//! One call compresses one input chunk. Matches point only into the
//! chunk itself (never into earlier chunks: nothing of them is kept), so
//! the hash table is scratch shared by every stream of a thread (see
//! [`Scratch`]). The chunk is coded in pieces of at most [`PIECE`] bytes;
//! each piece costs at most one stored block's overhead over its size.

use std::cell::RefCell;

use crate::tables::{self, COUNT_SHIFT, END_OF_BLOCK_BITS, LENGTH, LITERAL, VALUE_MASK};

/// The block state between calls: the bits not yet written as whole
/// bytes (fewer than 8) and whether a fixed-Huffman block is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BitState {
    pub(crate) acc: u8,
    pub(crate) nbits: u8,
    pub(crate) open: bool,
}

/// The most hash bits (table slots: 2^14 of 2 bytes, 32 KiB, which stays
/// in the L1 cache beside a 16 KiB chunk).
const MAX_HASH_BITS: u32 = 14;
/// The fewest hash bits (a 256-slot table for the smallest chunks).
const MIN_HASH_BITS: u32 = 8;
const TABLE_LEN: usize = 1 << MAX_HASH_BITS;

/// Knuth's multiplicative constant (2^32 / φ): spreads 4-byte words
/// evenly over the table's high-bit index.
const HASH_MUL: u32 = 0x9e37_79b1;

/// deflate's window: the farthest a match may reach back.
const MAX_DISTANCE: usize = 32 * 1024;
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;

/// The largest piece coded as one unit (the most a stored block holds).
pub(crate) const PIECE: usize = 65_535;

/// The per-thread scratch: the hash table of the chunk being coded.
///
/// A slot holds the low 16 bits of the last position (in the chunk)
/// that hashed to it. Each call first clears the part of the table its
/// chunk uses (as many slots as about twice its length, at most 2^14),
/// so the cost is in proportion to the chunk and the output depends on
/// the input only, never on what other streams of the thread did. A
/// slot is only a hint: the candidate it names (a position up to 32 KiB
/// back, position 0 for a cleared slot, or a wrong one when positions
/// wrapped past 64 KiB in a long chunk) is always checked against the
/// bytes before it is used.
struct Scratch {
    table: Box<[u16; TABLE_LEN]>,
}

impl Scratch {
    fn new() -> Scratch {
        let table: Box<[u16; TABLE_LEN]> = vec![0u16; TABLE_LEN]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("TABLE_LEN entries"));
        Scratch { table }
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Compresses `input` as a continuation of the stream whose block state
/// is `st`, appending whole bytes to `out`.
pub(crate) fn compress(st: &mut BitState, input: &[u8], out: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    // About two slots per position, within the bounds.
    let bits = (usize::BITS - input.len().leading_zeros()).clamp(MIN_HASH_BITS, MAX_HASH_BITS);
    SCRATCH.with_borrow_mut(|s| {
        let s = s.get_or_insert_with(Scratch::new);
        s.table[..1 << bits].fill(0);
        let mut start = 0;
        while start < input.len() {
            let end = input.len().min(start + PIECE);
            piece(st, &mut s.table, bits, input, start, end, out);
            start = end;
        }
    });
}

/// Most bytes one piece of `len` input bytes may take in `out`,
/// including the writer's 8-byte slack: 9 bits per byte at worst, plus
/// the end of the previous block, a block header and a partial byte.
fn worst_case(len: usize) -> usize {
    len + len / 8 + 16
}

/// The bit writer: a 64-bit accumulator over a byte slice reserved in
/// advance. After [`Sink::spill`] fewer than 8 bits are pending; a
/// literal (at most 9 bits) spills only from 32 pending bits on, a match
/// (at most 31 bits) always, so the accumulator never holds more than
/// 62.
struct Sink<'a> {
    buf: &'a mut [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
}

impl Sink<'_> {
    #[inline(always)]
    fn put(&mut self, bits: u32, count: u32) {
        self.acc |= u64::from(bits) << self.nbits;
        self.nbits += count;
    }

    /// Puts a packed table entry (`bits | count << COUNT_SHIFT`).
    #[inline(always)]
    fn put_packed(&mut self, packed: u32) {
        self.put(packed & VALUE_MASK, packed >> COUNT_SHIFT);
    }

    /// Writes the accumulator's whole bytes: all 8 bytes are stored (the
    /// slice always has room), the position moves by the whole ones.
    #[inline(always)]
    fn spill(&mut self) {
        let at = self.pos;
        if let Some(dst) = self.buf.get_mut(at..at + 8) {
            dst.copy_from_slice(&self.acc.to_le_bytes());
        } else {
            unreachable!("the piece's worst case was reserved");
        }
        let whole = self.nbits >> 3;
        self.pos += whole as usize;
        // At most 63 bits were pending, so at most 7 whole bytes.
        self.acc >>= whole * 8;
        self.nbits &= 7;
    }
}

/// Codes `data[start..end]` (matches may reach back to the chunk's first
/// byte), as fixed-Huffman symbols in the open block or as one stored
/// block when that is smaller.
fn piece(
    st: &mut BitState,
    table: &mut [u16; TABLE_LEN],
    bits: u32,
    data: &[u8],
    start: usize,
    end: usize,
    out: &mut Vec<u8>,
) {
    let len = end - start;
    let at = out.len();
    out.resize(at + worst_case(len), 0);
    let mut sink = Sink {
        buf: &mut out[at..],
        pos: 0,
        acc: u64::from(st.acc),
        nbits: u32::from(st.nbits),
    };
    let before = u32::from(st.nbits);
    if !st.open {
        // BFINAL 0, BTYPE 01 (fixed Huffman).
        sink.put(0b010, 3);
    }
    lz(&mut sink, table, bits, data, start, end);
    sink.spill();

    // What a stored block would cost instead, from the same start.
    let closing = if st.open { END_OF_BLOCK_BITS } else { 0 };
    let header_end = before + closing + 3;
    let stored_bits = header_end.div_ceil(8) as usize * 8 + 32 + len * 8;
    let fixed_bits = sink.pos * 8 + sink.nbits as usize;
    if fixed_bits <= stored_bits {
        st.open = true;
    } else {
        sink.pos = 0;
        sink.acc = u64::from(st.acc);
        sink.nbits = before;
        // End of the open block (symbol 256: seven zeros), then BFINAL 0,
        // BTYPE 00; the header ends at the next byte boundary.
        sink.put(0, closing + 3);
        sink.spill();
        if sink.nbits > 0 {
            sink.pos += 1;
        }
        let n = len as u16;
        let body = sink.pos;
        sink.buf[body..body + 2].copy_from_slice(&n.to_le_bytes());
        sink.buf[body + 2..body + 4].copy_from_slice(&(!n).to_le_bytes());
        sink.buf[body + 4..body + 4 + len].copy_from_slice(&data[start..end]);
        sink.pos = body + 4 + len;
        sink.acc = 0;
        sink.nbits = 0;
        st.open = false;
    }
    let (pos, acc, nbits) = (sink.pos, sink.acc, sink.nbits);
    out.truncate(at + pos);
    st.acc = acc as u8;
    st.nbits = nbits as u8;
}

/// The 4 bytes at `i` (little-endian), or `None` past the end.
#[inline(always)]
fn word(data: &[u8], i: usize) -> Option<u32> {
    data.get(i..i + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The slot of word `w` in a table of 2^`bits` slots.
#[inline(always)]
fn hash(w: u32, bits: u32) -> usize {
    (w.wrapping_mul(HASH_MUL) >> (32 - bits)) as usize & (TABLE_LEN - 1)
}

/// The LZ77 pass over `data[start..end]`: at each position, the last
/// position with the same hash is the one candidate; a match (4 bytes or
/// more, verified) is taken greedily and skipped over, anything else is
/// a literal.
fn lz(
    sink: &mut Sink<'_>,
    table: &mut [u16; TABLE_LEN],
    bits: u32,
    data: &[u8],
    start: usize,
    end: usize,
) {
    let data = &data[..end];
    let mut i = start;
    // The last position with 4 bytes left to hash.
    let last = end.saturating_sub(MIN_MATCH - 1);
    while i < last {
        let Some(w) = word(data, i) else { break };
        let h = hash(w, bits);
        // Positions are kept modulo 2^16: the distance to the slot's
        // position, if it is the one (it is checked below).
        let dist = usize::from((i as u16).wrapping_sub(table[h]));
        table[h] = i as u16;
        // One branch for both tests (the candidate is read even when too
        // far or none: it is then a readable position before `i`).
        let cand = i.saturating_sub(dist);
        let near = dist.wrapping_sub(1) < MAX_DISTANCE;
        if near & (word(data, cand) == Some(w)) {
            let max = (end - i).min(MAX_MATCH);
            let len = MIN_MATCH + common(data, cand + MIN_MATCH, i + MIN_MATCH, max - MIN_MATCH);
            sink.put_packed(LENGTH[len]);
            sink.put_packed(tables::distance(dist as u32));
            sink.spill();
            i += len;
            continue;
        }
        // The literal is the word's first byte.
        sink.put_packed(LITERAL[usize::from(w as u8)]);
        // Spilled only when half full: at most 31 bits are then pending,
        // so a match's 31 still fit before its own spill.
        if sink.nbits >= 32 {
            sink.spill();
        }
        i += 1;
    }
    for &b in &data[i..] {
        sink.put_packed(LITERAL[usize::from(b)]);
        sink.spill();
    }
}

/// How many bytes from `a` equal those from `b` (`a < b`), at most `max`
/// (`b + max` within `data`); 8 bytes at a time.
#[inline(always)]
fn common(data: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut n = 0;
    while n < max {
        let (Some(x), Some(y)) = (data.get(a + n..a + n + 8), data.get(b + n..b + n + 8)) else {
            // Fewer than 8 bytes left in the chunk: byte by byte.
            while n < max && data[a + n] == data[b + n] {
                n += 1;
            }
            return n;
        };
        let x = u64::from_le_bytes(x.try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(y.try_into().unwrap_or([0; 8]));
        let diff = x ^ y;
        if diff != 0 {
            return (n + (diff.trailing_zeros() / 8) as usize).min(max);
        }
        n += 8;
    }
    max
}
