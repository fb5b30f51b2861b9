//! The wire primitives under HPACK's header blocks: prefixed integers and
//! the Huffman code.
//!
//! Public only so that this crate's tests, benches and fuzz targets can
//! check them against the RFC directly; hidden from the docs and not part
//! of the stable API (rustls keeps its message types the same way). Use
//! [`crate::Decoder`] and [`crate::Encoder`] instead.

pub mod huffman;
pub mod integer;
