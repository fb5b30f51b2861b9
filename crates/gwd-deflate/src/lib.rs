//! A fast single-pass deflate encoder for HTTP response compression:
//! gzip (RFC 1952), zlib (RFC 1950, HTTP's `deflate` coding) and raw
//! deflate (RFC 1951) streams, with a few dozen bytes of state per
//! stream.
//!
//! ```
//! use gwd_deflate::{Encoder, Format};
//!
//! let mut enc = Encoder::new(Format::Gzip);
//! let mut out = Vec::new();
//! enc.encode(b"<p>hello, hello, hello</p>\n", &mut out);
//! // The server paused: make everything so far decodable now.
//! enc.flush(&mut out);
//! enc.encode(b"<p>world</p>\n", &mut out);
//! enc.finish(&mut out);
//! assert_eq!(enc.total_in(), 40);
//! assert_eq!(enc.total_out(), out.len() as u64);
//!
//! // Any gzip decoder reads it (flate2 here).
//! let mut text = String::new();
//! std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&out[..]), &mut text)
//!     .unwrap();
//! assert_eq!(text, "<p>hello, hello, hello</p>\n<p>world</p>\n");
//! ```
//!
//! # Model
//!
//! The class of encoder HAProxy uses through libslz, built for speed per
//! byte and for streams that mostly wait:
//!
//! - **One pass, one probe.** Each input chunk given to
//!   [`Encoder::encode`] is scanned once. At each position the hash of
//!   the next 4 bytes picks one slot of a hash table holding the last
//!   position with that hash: the only match candidate (no chains, no
//!   lazy matching). A candidate is verified, extended 8 bytes at a time
//!   up to 258 bytes, and taken if at least 4 bytes long and at most
//!   32 KiB back; otherwise the byte is a literal.
//! - **Fixed Huffman code.** Symbols are written with deflate's fixed
//!   code (block type 01) from precomputed, pre-reversed tables into a
//!   64-bit bit accumulator that stores whole words: no symbol counting,
//!   no tree building, no second pass. One block stays open across
//!   calls until a flush or the finish.
//! - **Matches within the chunk only.** A match never reaches into an
//!   earlier chunk, so nothing of the input is kept between calls. The
//!   hash table is per-thread scratch shared by every stream the thread
//!   serves (32 KiB per thread), not part of a stream. An [`Encoder`] is
//!   32 bytes: the pending bits (fewer than 8), whether a block is open,
//!   the CRC-32 or Adler-32 so far and two counters. A stream that waits
//!   (a slow server, a stalled visitor) costs that and nothing else,
//!   where a zlib deflate stream holds its window, hash chains and
//!   pending buffer from its first byte to its last (about 256 KiB at
//!   zlib's defaults: 2^(windowBits+2) + 2^(memLevel+9) bytes).
//! - **Bounded expansion.** Input that does not compress (already
//!   compressed or random bytes) is not coded at 8.5 bits a byte: each
//!   piece of a chunk (up to 65,535 bytes) whose fixed-Huffman coding
//!   would be larger than a stored block (type 00) is sent stored, at 5
//!   bytes of overhead.
//!
//! What this trades: the ratio is that of a fixed code over a one-chunk
//! window, a few points worse than zlib level 1 on text (which also
//! builds dynamic Huffman trees and keeps a 32 KiB window across calls),
//! for several times its speed; gwd gives the encoder whole buffers (16
//! KiB reads), as HAProxy gives libslz its buffers.
//!
//! # Invariants
//!
//! - After [`Encoder::flush`] every byte given so far can be decoded from
//!   the output so far (a sync flush: the open block ends and an empty
//!   stored block aligns the output to a byte, as zlib's `Z_SYNC_FLUSH`);
//!   a flush with nothing new to make decodable writes nothing.
//! - After [`Encoder::finish`] the output is one complete stream: the
//!   last block has BFINAL set and the trailer (gzip: CRC-32 and length
//!   mod 2^32; zlib: Adler-32) follows.
//! - The output of an [`Encoder`] depends only on its format and on the
//!   calls made with their inputs, never on what other streams of the
//!   thread compressed before (each call clears the part of the shared
//!   table its chunk uses, in proportion to the chunk, see `block.rs`).
//! - Every call appends whole bytes to `out` and never shortens or
//!   changes what was there; a piece of `n` input bytes adds at most
//!   `n + 7` bytes (a stored block's 4-byte header, the end of the open
//!   block and the padding to a byte).
//!
//! # Scope and dependencies
//!
//! Encoding only (decoders are plentiful; gwd never inflates). No
//! levels, no dictionaries, no dynamic Huffman blocks. Pure: no I/O, no
//! threads of its own, no clock. Depends only on `crc32fast`, for gzip's
//! CRC-32 (SIMD where the CPU has it).

#![warn(missing_docs, unreachable_pub)]

mod adler;
mod block;
mod tables;

#[cfg(test)]
mod tests;

use block::BitState;

/// The stream format: the same deflate data in one of three wrappers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// gzip (RFC 1952): 10-byte header, CRC-32 and length trailer. HTTP's
    /// `gzip` coding.
    Gzip,
    /// zlib (RFC 1950): 2-byte header, Adler-32 trailer. HTTP's `deflate`
    /// coding.
    Zlib,
    /// Raw deflate (RFC 1951), no header or trailer: what some old
    /// clients took `deflate` to mean.
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing written yet, not even the header.
    Start,
    /// Header written; blocks may follow.
    Body,
    /// Final block and trailer written.
    Done,
}

/// One compressed stream. See the [crate documentation](crate).
#[derive(Debug, Clone)]
pub struct Encoder {
    total_in: u64,
    total_out: u64,
    /// CRC-32 (gzip) or Adler-32 (zlib) of the input so far.
    check: u32,
    bits: BitState,
    format: Format,
    stage: Stage,
}

/// gzip's header: magic, CM 8 (deflate), no flags, no time, XFL 4
/// (fastest), OS 255 (unknown).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// zlib's header: CM 8 with a 32 KiB window, FLEVEL 0 (fastest), no
/// dictionary; 0x7801 is a multiple of 31 as FCHECK requires.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

impl Encoder {
    /// A stream of `format`; nothing is written until the first call.
    pub fn new(format: Format) -> Encoder {
        Encoder {
            total_in: 0,
            total_out: 0,
            check: match format {
                Format::Zlib => adler::INITIAL,
                Format::Gzip | Format::Raw => 0,
            },
            bits: BitState::default(),
            format,
            stage: Stage::Start,
        }
    }

    /// The stream's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Input bytes taken so far.
    pub fn total_in(&self) -> u64 {
        self.total_in
    }

    /// Output bytes appended so far (header and trailer included).
    pub fn total_out(&self) -> u64 {
        self.total_out
    }

    /// Whether [`Encoder::finish`] was called.
    pub fn is_finished(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Compresses `input`, appending to `out` what is ready (the header
    /// on the first call; the last few bits wait for the next call).
    /// Matches are found within `input` only: give whole buffers, not
    /// bytes one at a time.
    ///
    /// # Panics
    ///
    /// If the stream was finished.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        assert!(
            self.stage != Stage::Done,
            "gwd-deflate: encode after finish"
        );
        let at = out.len();
        self.start(out);
        if !input.is_empty() {
            match self.format {
                Format::Gzip => {
                    let mut h = crc32fast::Hasher::new_with_initial(self.check);
                    h.update(input);
                    self.check = h.finalize();
                }
                Format::Zlib => self.check = adler::update(self.check, input),
                Format::Raw => {}
            }
            block::compress(&mut self.bits, input, out);
            self.total_in += input.len() as u64;
        }
        self.total_out += (out.len() - at) as u64;
    }

    /// Sync flush: ends the open block and aligns the output to a byte
    /// with an empty stored block (`00 00 ff ff`), so that everything
    /// given so far is decodable from `out`. Writes nothing when nothing
    /// new needs it; does nothing once finished.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.stage == Stage::Done {
            return;
        }
        let at = out.len();
        self.start(out);
        if self.bits.open {
            // End of block, then BFINAL 0 / BTYPE 00 and the byte boundary.
            self.put_bits(out, 0, tables::END_OF_BLOCK_BITS + 3);
            self.align(out);
            out.extend_from_slice(&[0, 0, 0xff, 0xff]);
            self.bits.open = false;
        }
        self.total_out += (out.len() - at) as u64;
    }

    /// Ends the stream: closes the open block, writes an empty final
    /// block and the trailer. Does nothing the second time.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.stage == Stage::Done {
            return;
        }
        let at = out.len();
        self.start(out);
        if self.bits.open {
            self.put_bits(out, 0, tables::END_OF_BLOCK_BITS);
            self.bits.open = false;
        }
        // BFINAL 1, BTYPE 01, then the end-of-block symbol: 10 bits.
        self.put_bits(out, 0b011, 3 + tables::END_OF_BLOCK_BITS);
        self.align(out);
        match self.format {
            Format::Gzip => {
                out.extend_from_slice(&self.check.to_le_bytes());
                // ISIZE: the input's length modulo 2^32.
                out.extend_from_slice(&(self.total_in as u32).to_le_bytes());
            }
            Format::Zlib => out.extend_from_slice(&self.check.to_be_bytes()),
            Format::Raw => {}
        }
        self.stage = Stage::Done;
        self.total_out += (out.len() - at) as u64;
    }

    /// Writes the header on the first call.
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.stage == Stage::Start {
            match self.format {
                Format::Gzip => out.extend_from_slice(&GZIP_HEADER),
                Format::Zlib => out.extend_from_slice(&ZLIB_HEADER),
                Format::Raw => {}
            }
            self.stage = Stage::Body;
        }
    }

    /// Appends `count` bits (at most 16), writing the whole bytes.
    fn put_bits(&mut self, out: &mut Vec<u8>, bits: u32, count: u32) {
        let mut acc = u32::from(self.bits.acc) | bits << self.bits.nbits;
        let mut n = u32::from(self.bits.nbits) + count;
        while n >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            n -= 8;
        }
        self.bits.acc = acc as u8;
        self.bits.nbits = n as u8;
    }

    /// Pads the pending bits with zeros to a whole byte.
    fn align(&mut self, out: &mut Vec<u8>) {
        if self.bits.nbits > 0 {
            out.push(self.bits.acc);
            self.bits.acc = 0;
            self.bits.nbits = 0;
        }
    }
}

/// Compresses `data` as one whole stream of `format`.
///
/// ```
/// let z = gwd_deflate::compress(gwd_deflate::Format::Zlib, b"abcabcabcabc");
/// assert_eq!(&z[..2], &[0x78, 0x01]);
/// ```
pub fn compress(format: Format, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 32);
    let mut enc = Encoder::new(format);
    enc.encode(data, &mut out);
    enc.finish(&mut out);
    out
}
