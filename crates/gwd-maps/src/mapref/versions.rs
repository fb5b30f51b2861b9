//! Versions: `clear`, `prepare` and `commit` (one atomic switch that drops
//! older versions), freeing retired snapshots, and the version counters.
//! Versions compare modulo 2^32 (`dist`).

use super::{MapRef, VersionInfo, Writer, dist};
use crate::error::MapError;
use crate::index::Snap;
use std::sync::Arc;

impl MapRef {
    /// Empties the current version (`clear map`).
    pub fn clear(&self) {
        let mut w = self.inner.lock();
        let curr = w.curr;
        let _ = self.clear_locked(&mut w, curr);
    }

    /// Empties version `ver` (`clear map @ver`).
    pub fn clear_at(&self, ver: u32) -> Result<(), MapError> {
        let mut w = self.inner.lock();
        self.clear_locked(&mut w, ver)
    }

    fn clear_locked(&self, w: &mut Writer, ver: u32) -> Result<(), MapError> {
        w.check_open(ver)?;
        let empty = Snap::empty(&w.specs);
        w.lines.retain(|t| t.ver != ver);
        self.inner.store(w, ver, empty);
        Ok(())
    }

    /// Allocates a new version (`prepare map`) and returns its number: 1, 2,
    /// ... for each reference. Entries added to it stay invisible until
    /// [`commit`](Self::commit).
    pub fn prepare(&self) -> u32 {
        let mut w = self.inner.lock();
        w.next = w.next.wrapping_add(1);
        w.next
    }

    /// Makes version `ver` current (`commit map @ver`) in one atomic switch
    /// and drops every older version. `ver` must be newer than the current
    /// version and not newer than the last prepared one, else
    /// [`MapError::VersionOutOfRange`]. Committing a version that received
    /// no entries empties the map. The old version's memory is freed by a
    /// writer once no reader holds it, never on a reader's path.
    pub fn commit(&self, ver: u32) -> Result<(), MapError> {
        let inner = &self.inner;
        let mut w = inner.lock();
        if !(dist(ver, w.curr) > 0 && dist(ver, w.next) <= 0) {
            return Err(MapError::VersionOutOfRange);
        }
        let snap = match w.snap_arc(ver) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(Snap::empty(&w.specs));
                w.versions.push((ver, s.clone()));
                s
            }
        };
        w.curr = ver;
        let (keep, dropped): (Vec<_>, Vec<_>) = std::mem::take(&mut w.versions)
            .into_iter()
            .partition(|(v, _)| dist(*v, ver) >= 0);
        w.versions = keep;
        w.lines.retain(|t| dist(t.ver, ver) >= 0);
        inner.publish(&mut w, snap);
        // Old versions: free now when unshared, else once readers let go.
        for (_, s) in dropped {
            if Arc::strong_count(&s) > 1 && !w.retired.iter().any(|r| Arc::ptr_eq(r, &s)) {
                w.retired.push(s);
            }
        }
        Ok(())
    }

    /// Frees retired versions that no reader holds any more. Writers do this
    /// on their own; call it to release memory sooner after a commit.
    pub fn reclaim(&self) {
        self.inner.w.0.lock().reclaim();
    }

    /// Version counters.
    pub fn versions(&self) -> VersionInfo {
        let w = self.inner.w.0.lock();
        VersionInfo {
            curr: w.curr,
            next: w.next,
            entry_cnt: w.versions.iter().map(|(_, s)| s.len()).sum(),
        }
    }
}
