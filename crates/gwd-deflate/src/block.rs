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

/// Hash table size, in bits of the hash.
const HASH_BITS: u32 = 14;
const TABLE_LEN: usize = 1 << HASH_BITS;

/// Knuth's multiplicative constant (2^32 / φ): spreads 4-byte words
/// evenly over the table's high-bit index.
const HASH_MUL: u32 = 0x9e37_79b1;

/// deflate's window: the farthest a match may reach back.
const MAX_DISTANCE: u32 = 32 * 1024;
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;

/// The largest piece coded as one unit (the most a stored block holds).
pub(crate) const PIECE: usize = 65_535;

/// The most input one table epoch covers; longer chunks are split (with
/// no matches across the split).
const MAX_EPOCH_INPUT: usize = 1 << 30;

/// Between the last key of one chunk and the first of the next: more
/// than [`MAX_DISTANCE`], so no entry of an earlier chunk ever looks
/// close enough to be a candidate.
const EPOCH_GAP: u64 = 1 << 16;

/// The per-thread scratch: the hash table of the chunk being coded.
///
/// A slot holds the *key* of the last position that hashed to it: the
/// position plus the chunk's `base`. Each chunk takes a base past every
/// key handed out before, so entries left by earlier chunks (of any
/// stream) sit more than [`MAX_DISTANCE`] behind every key of the new
/// chunk and are never taken as candidates: the table needs no clearing
/// between chunks, and the output depends on the input only. When the
/// keys would wrap, the table is cleared once.
struct Scratch {
    table: Box<[u32; TABLE_LEN]>,
    next_base: u32,
}

impl Scratch {
    fn new() -> Scratch {
        let table: Box<[u32; TABLE_LEN]> = vec![0u32; TABLE_LEN]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("TABLE_LEN entries"));
        Scratch {
            table,
            next_base: EPOCH_GAP as u32,
        }
    }

    /// The base for a chunk of `len` bytes.
    fn take_base(&mut self, len: usize) -> u32 {
        let end = u64::from(self.next_base) + len as u64 + EPOCH_GAP;
        if end > u64::from(u32::MAX) {
            self.table.fill(0);
            self.next_base = EPOCH_GAP as u32;
        }
        let base = self.next_base;
        self.next_base = base + len as u32 + EPOCH_GAP as u32;
        base
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
    SCRATCH.with_borrow_mut(|s| {
        let s = s.get_or_insert_with(Scratch::new);
        for chunk in input.chunks(MAX_EPOCH_INPUT) {
            let base = s.take_base(chunk.len());
            let mut start = 0;
            while start < chunk.len() {
                let end = chunk.len().min(start + PIECE);
                piece(st, &mut s.table, base, chunk, start, end, out);
                start = end;
            }
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
/// advance. After [`Sink::spill`] fewer than 8 bits are pending, so up
/// to 56 bits may be put before the next spill.
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
    table: &mut [u32; TABLE_LEN],
    base: u32,
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
    lz(&mut sink, table, base, data, start, end);
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

#[inline(always)]
fn hash(w: u32) -> usize {
    (w.wrapping_mul(HASH_MUL) >> (32 - HASH_BITS)) as usize
}

/// The LZ77 pass over `data[start..end]`: at each position, the last
/// position with the same hash is the one candidate; a match (4 bytes or
/// more, verified) is taken greedily and skipped over, anything else is
/// a literal.
fn lz(
    sink: &mut Sink<'_>,
    table: &mut [u32; TABLE_LEN],
    base: u32,
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
        let h = hash(w);
        let key = base.wrapping_add(i as u32);
        let dist = key.wrapping_sub(table[h]);
        table[h] = key;
        if dist.wrapping_sub(1) < MAX_DISTANCE {
            let cand = i - dist as usize;
            if word(data, cand) == Some(w) {
                let max = (end - i).min(MAX_MATCH);
                let len =
                    MIN_MATCH + common(data, cand + MIN_MATCH, i + MIN_MATCH, max - MIN_MATCH);
                sink.put_packed(LENGTH[len]);
                sink.put_packed(tables::distance(dist));
                sink.spill();
                i += len;
                continue;
            }
        }
        sink.put_packed(LITERAL[usize::from(data[i])]);
        sink.spill();
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
