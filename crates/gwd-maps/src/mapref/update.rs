//! Entry changes: the runtime API's `add`/`set`/`del` (by key or id) and
//! the traffic actions' `upsert` (`set-map`) and `add_if_absent`
//! (`add-acl`). Each validates first (nothing changes on error), then
//! publishes the changed versions before returning.

use super::{MapRef, Writer};
use crate::entry::{EntryId, EntryRef};
use crate::error::MapError;
use crate::hash;

impl MapRef {
    /// Appends an entry to the current version (`add map`; no duplicate
    /// check). Returns its id.
    pub fn add(&self, key: &[u8], value: &[u8]) -> Result<EntryId, MapError> {
        let mut w = self.inner.lock();
        let curr = w.curr;
        self.add_locked(&mut w, curr, key, value)
    }

    /// Appends an entry to version `ver` (`add map @ver`), which must lie
    /// between the current and the last prepared version.
    pub fn add_at(&self, ver: u32, key: &[u8], value: &[u8]) -> Result<EntryId, MapError> {
        let mut w = self.inner.lock();
        self.add_locked(&mut w, ver, key, value)
    }

    fn add_locked(
        &self,
        w: &mut Writer,
        ver: u32,
        key: &[u8],
        value: &[u8],
    ) -> Result<EntryId, MapError> {
        let inner = &self.inner;
        w.check_open(ver)?;
        let preps = w.preps(key)?;
        w.check_value(value)?;
        let seq = w.next_seq;
        w.next_seq += 1;
        let e = EntryRef::new(seq, key, value);
        let mut s = w.snap(ver);
        s.insert(self.seed(), &e, preps, false);
        inner.store(w, ver, s);
        Ok(EntryId {
            hash: hash::bytes(self.seed(), key),
            seq,
        })
    }

    /// Changes the value of every entry with this key, in every version
    /// (`set map <key>`). Never adds. Returns how many entries changed, or
    /// [`MapError::EntryNotFound`]; [`MapError::InvalidValue`] when a use
    /// requires values of another type.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<usize, MapError> {
        let mut w = self.inner.lock();
        w.check_value(value)?;
        let n = self.set_versions(&mut w, key, value, None);
        if n == 0 {
            Err(MapError::EntryNotFound)
        } else {
            Ok(n)
        }
    }

    /// Sets every entry with `key` in every version but `skip`.
    fn set_versions(&self, w: &mut Writer, key: &[u8], value: &[u8], skip: Option<u32>) -> usize {
        let seed = self.seed();
        let mut n = 0;
        let vers: Vec<u32> = w.versions.iter().map(|x| x.0).collect();
        for v in vers.into_iter().filter(|v| Some(*v) != skip) {
            let found = w
                .snap_arc(v)
                .map(|s| s.find_key(seed, key))
                .unwrap_or_default();
            if found.is_empty() {
                continue;
            }
            let mut s = w.snap(v);
            for e in &found {
                s.replace(seed, &e.with_value(value));
            }
            n += found.len();
            self.inner.store(w, v, s);
        }
        n
    }

    /// Deletes every entry with `key` in every version but `skip`.
    fn del_versions(&self, w: &mut Writer, key: &[u8], skip: Option<u32>) -> usize {
        let seed = self.seed();
        let mut n = 0;
        let vers: Vec<u32> = w.versions.iter().map(|x| x.0).collect();
        for v in vers.into_iter().filter(|v| Some(*v) != skip) {
            let found = w
                .snap_arc(v)
                .map(|s| s.find_key(seed, key))
                .unwrap_or_default();
            if found.is_empty() {
                continue;
            }
            let mut s = w.snap(v);
            for e in &found {
                s.remove(seed, e);
            }
            n += found.len();
            self.inner.store(w, v, s);
        }
        n
    }

    /// Changes the value of the entry `id` (`set map #<id>`).
    pub fn set_id(&self, id: EntryId, value: &[u8]) -> Result<(), MapError> {
        let mut w = self.inner.lock();
        let found = w
            .versions
            .iter()
            .find_map(|(v, s)| s.get(id.hash, id.seq).map(|e| (*v, e.clone())));
        let (v, e) = found.ok_or(MapError::EntryNotFound)?;
        w.check_value(value)?;
        let mut s = w.snap(v);
        s.replace(self.seed(), &e.with_value(value));
        self.inner.store(&mut w, v, s);
        Ok(())
    }

    /// Deletes every entry with this key, in every version (`del map <key>`).
    /// Returns how many, or [`MapError::KeyNotFound`].
    pub fn del(&self, key: &[u8]) -> Result<usize, MapError> {
        let mut w = self.inner.lock();
        let n = self.del_versions(&mut w, key, None);
        if n == 0 {
            Err(MapError::KeyNotFound)
        } else {
            Ok(n)
        }
    }

    /// Deletes the entry `id` (`del map #<id>`).
    pub fn del_id(&self, id: EntryId) -> Result<(), MapError> {
        let mut w = self.inner.lock();
        let found = w
            .versions
            .iter()
            .find_map(|(v, s)| s.get(id.hash, id.seq).map(|e| (*v, e.clone())));
        let (v, e) = found.ok_or(MapError::KeyNotFound)?;
        let mut s = w.snap(v);
        s.remove(self.seed(), &e);
        self.inner.store(&mut w, v, s);
        Ok(())
    }

    /// The `set-map` action: sets every entry with the key (any version), or
    /// appends one to the current version when there is none. Published
    /// before returning.
    pub fn upsert(&self, key: &[u8], value: &[u8]) -> Result<(), MapError> {
        let mut w = self.inner.lock();
        w.check_value(value)?;
        if self.set_versions(&mut w, key, value, None) > 0 {
            return Ok(());
        }
        let curr = w.curr;
        self.add_locked(&mut w, curr, key, value).map(drop)
    }

    /// The `add-acl` action: appends to the current version only when no
    /// version has the key. Returns whether it added. The value is not
    /// checked against value types (HAProxy adds such entries without one).
    pub fn add_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, MapError> {
        let inner = &self.inner;
        let mut w = inner.lock();
        if w.versions
            .iter()
            .any(|(_, s)| !s.find_key(self.seed(), key).is_empty())
        {
            return Ok(false);
        }
        let preps = w.preps(key)?;
        let seq = w.next_seq;
        w.next_seq += 1;
        let curr = w.curr;
        let mut s = w.snap(curr);
        s.insert(self.seed(), &EntryRef::new(seq, key, value), preps, false);
        inner.store(&mut w, curr, s);
        Ok(true)
    }
}
