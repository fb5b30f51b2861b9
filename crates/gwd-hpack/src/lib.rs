//! HPACK (RFC 7541) header compression for HTTP/2, tuned for tiny idle
//! connections.
//!
//! ```
//! use gwd_hpack::{Decoder, Encoder, Field};
//!
//! // One header block, as the HEADERS frame of a request carries it.
//! let mut block = bytes::BytesMut::new();
//! Encoder::new().encode(
//!     [Field::new(b":method", b"GET"), Field::new(b"user-agent", b"example/1.0")],
//!     &mut block,
//! );
//!
//! // The peer's decoder (4096: the table size it announced), with a
//! // 16 KiB limit on the decoded list (SETTINGS_MAX_HEADER_LIST_SIZE).
//! let mut decoder = Decoder::new(4096);
//! let mut fields = Vec::new();
//! decoder
//!     .decode(&block, 16 * 1024, &mut |f| fields.push((f.name.to_vec(), f.value.to_vec())))
//!     .unwrap();
//! assert_eq!(fields[1], (b"user-agent".to_vec(), b"example/1.0".to_vec()));
//! ```
//!
//! # Model
//!
//! A header list travels as a *header block*: a sequence of representations
//! that either index the static table (61 entries, Appendix A) and the dynamic
//! table the peer's encoder builds, or carry literal strings (raw or
//! Huffman-coded). Each direction of a connection has its own encoder/decoder
//! pair and its own dynamic table:
//!
//! - [`Decoder`] mirrors the peer encoder's dynamic table. It must see every
//!   block of the connection, in order, to the end. Its table starts empty with
//!   no allocation, holds exactly what the peer inserts (each entry is one
//!   allocation of `name + value` bytes), and gives its storage back when it
//!   empties. Huffman scratch space exists only during a `decode` call.
//! - [`Encoder`] never inserts into the peer's table: it uses the static table
//!   and literals only, so it needs no memory at all and the peer's decoder
//!   never has to store anything for us.
//!
//! # Invariants
//!
//! - The dynamic table's RFC size (sum of `name + value + 32`) never exceeds its
//!   maximum size, which never exceeds the limit we announced.
//! - Size updates are accepted only at the start of a block, never above our
//!   limit, and one is required after we lower the limit below the table's size.
//! - Every decoding failure except [`DecodeErrorKind::HeaderListTooLarge`] is a
//!   compression error (the connection must end with `COMPRESSION_ERROR`);
//!   `HeaderListTooLarge` is reported only after the whole block was decoded,
//!   so the table stays in sync and only the stream is refused.
//! - An idle [`Decoder`] with an empty table and any [`Encoder`] own no heap memory.
//!
//! # Scope and dependencies
//!
//! This crate owns the HPACK wire format only: prefixed integers, the
//! Huffman code, the tables, and header block encoding and
//! decoding. HTTP/2 framing, header-name validation and pseudo-header rules
//! belong to the multiplexer using it. It is pure (no I/O, no threads, no
//! clock) and depends only on `bytes` and `thiserror`.

#![warn(missing_docs, unreachable_pub)]

mod decoder;
mod encoder;
mod error;
#[doc(hidden)]
pub mod internal;
mod table;

pub use decoder::Decoder;
pub use encoder::Encoder;
pub use error::{DecodeError, DecodeErrorKind};
pub use table::{ENTRY_OVERHEAD, STATIC_LEN, STATIC_TABLE};

/// The protocol's initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// One decoded (or to-be-encoded) header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name (lowercase in HTTP/2; not checked here).
    pub name: &'a [u8],
    /// The field value.
    pub value: &'a [u8],
    /// The field was (or is to be) sent with the "never indexed" literal
    /// representation (§6.2.3): intermediaries must not index it either.
    pub never_index: bool,
}

impl<'a> Field<'a> {
    /// A field that may be indexed.
    pub fn new(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field {
            name,
            value,
            never_index: false,
        }
    }

    /// A field sent with the never-indexed representation (e.g. credentials).
    pub fn never_indexed(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field {
            name,
            value,
            never_index: true,
        }
    }

    /// Size in the RFC's measure: `name.len() + value.len() + 32`, as used for
    /// the dynamic table and for SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}
