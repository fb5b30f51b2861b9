//! Reading a reference's entries as `show map` does: consistent copies
//! taken from one snapshot, so writers are never blocked while a caller
//! iterates.

use std::sync::atomic::Ordering;

use super::MapRef;
use crate::entry::{Entry, EntryId, EntryRef};
use crate::error::MapError;

impl MapRef {
    /// `e` as the public [`Entry`] (which carries the reference's hash seed
    /// for its id).
    fn entry(&self, e: EntryRef) -> Entry {
        Entry {
            e,
            seed: self.seed(),
        }
    }

    /// Entries visible to lookups now.
    pub fn len(&self) -> usize {
        self.inner.read.published.load().len()
    }

    /// True when lookups see no entry.
    pub fn is_empty(&self) -> bool {
        !self.inner.read.nonempty.load(Ordering::Acquire)
    }

    /// A consistent copy of the current version's entries in file order
    /// (`show map`), as lookups see them. Taken from a snapshot: writers are
    /// not blocked while the caller iterates.
    pub fn entries(&self) -> Vec<Entry> {
        let snap = self.inner.read.published.load_full();
        snap.entries().into_iter().map(|e| self.entry(e)).collect()
    }

    /// The entries of version `ver` in file order (`show map @ver`).
    pub fn entries_at(&self, ver: u32) -> Result<Vec<Entry>, MapError> {
        let snap = {
            let w = self.inner.lock();
            w.check_open(ver)?;
            w.snap_arc(ver).cloned()
        };
        Ok(snap
            .map(|s| s.entries().into_iter().map(|e| self.entry(e)).collect())
            .unwrap_or_default())
    }

    /// Every entry of the current version whose key is exactly `key`, in file
    /// order, as lookups see them.
    pub fn find(&self, key: &[u8]) -> Vec<Entry> {
        let snap = self.inner.read.published.load();
        snap.find_key(self.seed(), key)
            .into_iter()
            .map(|e| self.entry(e))
            .collect()
    }

    /// The entry with this id, in any version.
    pub fn get_id(&self, id: EntryId) -> Option<Entry> {
        let w = self.inner.lock();
        w.versions
            .iter()
            .find_map(|(_, s)| s.get(id.hash, id.seq).cloned())
            .map(|e| self.entry(e))
    }
}
