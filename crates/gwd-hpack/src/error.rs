//! Decoding errors.
//!
//! Every failure is one [`DecodeError`] carrying a [`DecodeErrorKind`] and the
//! byte offset where it was detected. Callers branch on the kind or on
//! [`DecodeError::is_compression_error`], never on the message.

use std::fmt;

/// What went wrong while decoding a header block or a Huffman string.
///
/// All kinds except [`HeaderListTooLarge`](DecodeErrorKind::HeaderListTooLarge)
/// mean the decoder may be out of sync with the peer's encoder: HTTP/2 must end
/// the connection with `COMPRESSION_ERROR` (RFC 9113 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The block ended in the middle of a representation, an integer or a string.
    Truncated,
    /// An integer (RFC 7541 §5.1) is larger than 2^32 - 1 or uses more
    /// continuation bytes than such a value needs.
    IntegerOverflow,
    /// Index 0, or an index past the end of the static plus dynamic table.
    InvalidIndex,
    /// A Huffman string (§5.2) has padding longer than 7 bits, padding that is
    /// not all 1s, an incomplete code, or contains the EOS symbol.
    InvalidHuffman,
    /// A dynamic table size update (§6.3) above the limit we announced.
    TableSizeUpdateTooLarge,
    /// A dynamic table size update after the first field representation of a block (§4.2).
    TableSizeUpdateNotAtStart,
    /// We lowered our announced limit below the table's current maximum size and
    /// the first block after that did not start with a size update at or below
    /// the lowest limit announced since the previous block (§4.2).
    TableSizeUpdateMissing,
    /// The decoded header list is larger than the caller's limit (RFC 9113 measure).
    /// Decoding went on to the end of the block, so the table is still in sync:
    /// this is a stream-level problem, not a compression error.
    HeaderListTooLarge,
}

impl DecodeErrorKind {
    /// A short, stable, lowercase description of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeErrorKind::Truncated => "truncated header block",
            DecodeErrorKind::IntegerOverflow => "integer overflow",
            DecodeErrorKind::InvalidIndex => "invalid table index",
            DecodeErrorKind::InvalidHuffman => "invalid Huffman string",
            DecodeErrorKind::TableSizeUpdateTooLarge => {
                "dynamic table size update above the announced limit"
            }
            DecodeErrorKind::TableSizeUpdateNotAtStart => {
                "dynamic table size update not at the start of the block"
            }
            DecodeErrorKind::TableSizeUpdateMissing => "required dynamic table size update missing",
            DecodeErrorKind::HeaderListTooLarge => "header list too large",
        }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HPACK decoding failure: a [`DecodeErrorKind`] and where it was found.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("HPACK: {kind} (at byte {offset})")]
pub struct DecodeError {
    kind: DecodeErrorKind,
    offset: usize,
}

impl DecodeError {
    /// Builds an error of `kind` found at byte `offset` of the input.
    pub fn new(kind: DecodeErrorKind, offset: usize) -> DecodeError {
        DecodeError { kind, offset }
    }

    /// What went wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// Byte offset in the decoded input (the header block, or the Huffman
    /// string for [`crate::internal::huffman::decode`]) where the problem was detected.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// True for everything except [`DecodeErrorKind::HeaderListTooLarge`]: the
    /// connection must end with `COMPRESSION_ERROR`.
    pub fn is_compression_error(&self) -> bool {
        self.kind != DecodeErrorKind::HeaderListTooLarge
    }

    pub(crate) fn shifted(self, by: usize) -> DecodeError {
        DecodeError {
            kind: self.kind,
            offset: self.offset + by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_header_list_too_large_is_not_a_compression_error() {
        let all = [
            DecodeErrorKind::Truncated,
            DecodeErrorKind::IntegerOverflow,
            DecodeErrorKind::InvalidIndex,
            DecodeErrorKind::InvalidHuffman,
            DecodeErrorKind::TableSizeUpdateTooLarge,
            DecodeErrorKind::TableSizeUpdateNotAtStart,
            DecodeErrorKind::TableSizeUpdateMissing,
        ];
        for k in all {
            assert!(DecodeError::new(k, 0).is_compression_error(), "{k:?}");
        }
        assert!(!DecodeError::new(DecodeErrorKind::HeaderListTooLarge, 0).is_compression_error());
    }

    #[test]
    fn display_names_kind_and_offset() {
        let e = DecodeError::new(DecodeErrorKind::InvalidIndex, 7);
        assert_eq!(e.to_string(), "HPACK: invalid table index (at byte 7)");
        assert_eq!(e.clone().shifted(3).offset(), 10);
    }
}
