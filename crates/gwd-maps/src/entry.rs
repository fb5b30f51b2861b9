//! Entries: one immutable allocation per pattern (key, value, sequence).

use std::fmt;
use std::sync::Arc;

/// Header: sequence number (u64 LE) then key length (u32 LE).
const HDR: usize = 12;

/// One entry of a reference, shared by every index that holds it.
///
/// Layout: a single `Arc<[u8]>` holding `[seq:u64][key_len:u32][key][value]`,
/// i.e. one allocation and a 16-byte handle per index slot. Entries are
/// immutable: `set` replaces the handle in each index with a new entry that
/// keeps the same sequence number (file position) and key.
#[derive(Clone)]
pub(crate) struct EntryRef(Arc<[u8]>);

impl EntryRef {
    pub(crate) fn new(seq: u64, key: &[u8], value: &[u8]) -> Self {
        let klen = u32::try_from(key.len()).expect("key longer than 4 GiB");
        let mut v = Vec::with_capacity(HDR + key.len() + value.len());
        v.extend_from_slice(&seq.to_le_bytes());
        v.extend_from_slice(&klen.to_le_bytes());
        v.extend_from_slice(key);
        v.extend_from_slice(value);
        EntryRef(Arc::from(v))
    }

    /// Same entry (sequence, key) with another value.
    pub(crate) fn with_value(&self, value: &[u8]) -> Self {
        Self::new(self.seq(), self.key(), value)
    }

    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }

    #[inline]
    fn klen(&self) -> usize {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[8..12]);
        u32::from_le_bytes(b) as usize
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        &self.0[HDR..HDR + self.klen()]
    }

    #[inline]
    pub(crate) fn value(&self) -> &[u8] {
        &self.0[HDR + self.klen()..]
    }
}

impl fmt::Debug for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("seq", &self.seq())
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &String::from_utf8_lossy(self.value()))
            .finish()
    }
}

/// Identifies one entry of a reference for the `#<id>` forms of `set`/`del`.
///
/// An id is the entry's key hash (under the reference's private seed) and its
/// sequence number, so it resolves in O(log N) through the key index and is
/// validated: an id whose entry was deleted is simply not found, and sequence
/// numbers are never reused. Text form: `0x` then 32 hex digits
/// ([`EntryId::parse`] reads it back, with or without `#` / `0x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId {
    pub(crate) hash: u64,
    pub(crate) seq: u64,
}

impl EntryId {
    /// Parses the text form written by [`Display`](fmt::Display), optionally
    /// prefixed by `#`. Returns `None` for anything else.
    ///
    /// ```
    /// use gwd_maps::EntryId;
    /// let id = EntryId::parse("#0x0000000000000abc0000000000000001").unwrap();
    /// assert_eq!(id.to_string(), "0x0000000000000abc0000000000000001");
    /// assert!(EntryId::parse("0x12").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<EntryId> {
        let s = s.strip_prefix('#').unwrap_or(s);
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let hash = u64::from_str_radix(&s[..16], 16).ok()?;
        let seq = u64::from_str_radix(&s[16..], 16).ok()?;
        Some(EntryId { hash, seq })
    }

    /// The entry's position in insertion order (smaller is earlier in file
    /// order). Unique within a reference and never reused.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}{:016x}", self.hash, self.seq)
    }
}

/// A matched or listed entry: key, value, id. Cheap to clone (one atomic
/// increment) and independent of later changes to the map.
#[derive(Clone)]
pub struct Entry {
    pub(crate) e: EntryRef,
    pub(crate) seed: u64,
}

impl Entry {
    /// The key (pattern) as written in the file or the `add` command.
    pub fn key(&self) -> &[u8] {
        self.e.key()
    }
    /// The value (empty for ACL references and key-only map lines).
    pub fn value(&self) -> &[u8] {
        self.e.value()
    }
    /// The id to use with the `#<id>` forms.
    pub fn id(&self) -> EntryId {
        EntryId {
            hash: crate::hash::bytes(self.seed, self.key()),
            seq: self.e.seq(),
        }
    }
    /// Key as (lossy) UTF-8, for messages.
    pub fn key_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.key())
    }
    /// Value as (lossy) UTF-8, for messages.
    pub fn value_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.value())
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id())
            .field("key", &self.key_str())
            .field("value", &self.value_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let e = EntryRef::new(42, b"key", b"a value");
        assert_eq!(e.seq(), 42);
        assert_eq!(e.key(), b"key");
        assert_eq!(e.value(), b"a value");
        let f = e.with_value(b"");
        assert_eq!((f.seq(), f.key(), f.value()), (42, &b"key"[..], &b""[..]));
    }

    #[test]
    fn id_text_round_trips() {
        let id = EntryId {
            hash: 0xdead_beef,
            seq: 7,
        };
        assert_eq!(EntryId::parse(&id.to_string()), Some(id));
        assert_eq!(EntryId::parse(&format!("#{id}")), Some(id));
        assert_eq!(EntryId::parse("#zz"), None);
    }
}
