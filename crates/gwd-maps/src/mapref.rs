//! References (one per map file or ACL id), their versions, and matchers.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::entry::{Entry, EntryId, EntryRef};
use crate::error::{LoadError, MapError};
use crate::hash;
use crate::index::{MatchKind, MatchSpec, Prep, Snap, prepare};
use crate::keys::IpInput;

/// Whether a reference carries values (map) or only patterns (ACL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// Key/value entries (`map_*` converters, `-M` ACLs).
    Map,
    /// Patterns only (`acl ... -f`); values are empty.
    Acl,
}

struct Inner {
    name: String,
    kind: RefKind,
    seed: u64,
    /// False while the published version is empty: lets lookups skip the
    /// snapshot load entirely.
    nonempty: AtomicBool,
    published: ArcSwap<Snap>,
    w: Mutex<Writer>,
}

struct Writer {
    curr: u32,
    next: u32,
    /// Every version that has storage; always holds `curr`.
    versions: Vec<(u32, Arc<Snap>)>,
    specs: Vec<MatchSpec>,
    next_seq: u64,
    /// Snapshots swapped out while readers may still hold them; freed by the
    /// next writer that finds them unreferenced (never by a reader).
    retired: Vec<Arc<Snap>>,
}

/// Signed distance between versions (they are compared modulo 2^32).
fn dist(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl Writer {
    fn reclaim(&mut self) {
        self.retired.retain(|s| Arc::strong_count(s) > 1);
    }

    /// `v` may receive entries / be cleared / be shown: `curr <= v <= next`.
    fn check_open(&self, v: u32) -> Result<(), MapError> {
        if dist(v, self.curr) >= 0 && dist(v, self.next) <= 0 {
            Ok(())
        } else {
            Err(MapError::VersionOutOfRange)
        }
    }

    fn snap(&self, v: u32) -> Snap {
        match self.versions.iter().find(|x| x.0 == v) {
            Some((_, s)) => (**s).clone(),
            None => Snap::empty(&self.specs),
        }
    }

    fn snap_arc(&self, v: u32) -> Option<&Arc<Snap>> {
        self.versions.iter().find(|x| x.0 == v).map(|x| &x.1)
    }

    fn preps(&self, key: &[u8]) -> Result<Vec<Prep>, MapError> {
        self.specs
            .iter()
            .map(|s| {
                prepare(*s, key, true).map_err(|reason| MapError::InvalidKey {
                    kind: s.kind,
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason,
                })
            })
            .collect()
    }
}

impl Inner {
    /// Stores `snap` as version `v`, publishing it when `v` is current.
    fn store(&self, w: &mut Writer, v: u32, snap: Snap) {
        let arc = Arc::new(snap);
        match w.versions.iter_mut().find(|x| x.0 == v) {
            Some(slot) => slot.1 = arc.clone(),
            None => w.versions.push((v, arc.clone())),
        }
        if v == w.curr {
            self.publish(w, arc);
        }
    }

    fn publish(&self, w: &mut Writer, arc: Arc<Snap>) {
        let nonempty = arc.len() > 0;
        if !nonempty {
            self.nonempty.store(false, Ordering::Release);
        }
        let old = self.published.swap(arc);
        if nonempty {
            self.nonempty.store(true, Ordering::Release);
        }
        if Arc::strong_count(&old) > 1 {
            w.retired.push(old);
        }
    }
}

/// A pattern reference: the entries of one map file or ACL id, shared by
/// every rule that names it, with HAProxy's runtime operations.
///
/// Cloning is cheap (an `Arc`). Writers serialise on an internal mutex;
/// readers ([`Matcher`]) never take it.
///
/// ```
/// use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
///
/// let hosts = MapRef::new("hosts.map", RefKind::Map);
/// let by_prefix = hosts.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
/// hosts.load_map_str("hosts.map", b"/api  api_backend\n/api/v2 v2_backend\n").unwrap();
///
/// // beg: the longest prefix wins.
/// let hit = by_prefix.lookup(b"/api/v2/users").unwrap();
/// assert_eq!(hit.value(), b"v2_backend");
///
/// // set acts on every entry with the key; the next lookup sees it.
/// hosts.set(b"/api", b"new_backend").unwrap();
/// assert_eq!(by_prefix.lookup(b"/api/x").unwrap().value(), b"new_backend");
///
/// // prepare / add @ver / commit: an atomic replacement of the content.
/// let v = hosts.prepare();
/// hosts.add_at(v, b"/", b"default").unwrap();
/// assert!(by_prefix.lookup(b"/other").is_none()); // staged, invisible
/// hosts.commit(v).unwrap();
/// assert_eq!(by_prefix.lookup(b"/api/x").unwrap().value(), b"default");
/// ```
#[derive(Clone)]
pub struct MapRef {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MapRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapRef")
            .field("name", &self.inner.name)
            .field("kind", &self.inner.kind)
            .field("len", &self.len())
            .finish()
    }
}

/// Version counters of a reference (`show map` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version lookups see.
    pub curr: u32,
    /// The last version handed out by [`MapRef::prepare`].
    pub next: u32,
    /// Entries in every version together.
    pub entry_cnt: usize,
}

impl MapRef {
    /// An empty reference. `name` is the file name or ACL id it stands for.
    pub fn new(name: impl Into<String>, kind: RefKind) -> Self {
        MapRef {
            inner: Arc::new(Inner {
                name: name.into(),
                kind,
                seed: hash::random_seed(),
                nonempty: AtomicBool::new(false),
                published: ArcSwap::from_pointee(Snap::default()),
                w: Mutex::new(Writer {
                    curr: 0,
                    next: 0,
                    versions: vec![(0, Arc::new(Snap::default()))],
                    specs: Vec::new(),
                    next_seq: 1,
                    retired: Vec::new(),
                }),
            }),
        }
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Map or ACL.
    pub fn kind(&self) -> RefKind {
        self.inner.kind
    }

    /// The specs registered with [`matcher`](Self::matcher), in registration
    /// order (what `get map` / `get acl` report one line each for).
    ///
    /// ```
    /// use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
    /// let m = MapRef::new("hosts.map", RefKind::Map);
    /// m.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
    /// m.matcher(MatchSpec::icase(MatchKind::Str)).unwrap();
    /// m.matcher(MatchSpec::new(MatchKind::Beg)).unwrap(); // shared, not added again
    /// assert_eq!(m.specs(), [MatchSpec::new(MatchKind::Beg), MatchSpec::icase(MatchKind::Str)]);
    /// ```
    pub fn specs(&self) -> Vec<MatchSpec> {
        self.inner.w.lock().specs.clone()
    }

    /// A matcher for `spec`, sharing the index of any earlier matcher with the
    /// same spec. Building a new index is O(N log N); every later change
    /// updates it in O(log N). Fails when an existing entry is not a valid
    /// pattern for the kind (e.g. `abc` for `int`); nothing changes then.
    pub fn matcher(&self, spec: MatchSpec) -> Result<Matcher, MapError> {
        let spec = spec.normalised();
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        if let Some(slot) = w.specs.iter().position(|s| *s == spec) {
            return Ok(Matcher {
                inner: inner.clone(),
                slot,
                spec,
            });
        }
        // Validate every entry of every version first.
        let mut built = Vec::with_capacity(w.versions.len());
        for (v, snap) in &w.versions {
            let mut d = crate::index::Derived::new(spec);
            for e in snap.entries() {
                let prep = prepare(spec, e.key(), true).map_err(|reason| MapError::InvalidKey {
                    kind: spec.kind,
                    key: String::from_utf8_lossy(e.key()).into_owned(),
                    reason,
                })?;
                d.insert(inner.seed, &e, prep, true);
            }
            d.finish_bulk();
            built.push((*v, d));
        }
        w.specs.push(spec);
        let slot = w.specs.len() - 1;
        for (v, d) in built {
            let mut s = w.snap(v);
            s.derived.push(d);
            inner.store(&mut w, v, s);
        }
        Ok(Matcher {
            inner: inner.clone(),
            slot,
            spec,
        })
    }

    fn entry(&self, e: EntryRef) -> Entry {
        Entry {
            e,
            seed: self.inner.seed,
        }
    }

    /// Appends an entry to the current version (`add map`; no duplicate
    /// check). Returns its id.
    pub fn add(&self, key: &[u8], value: &[u8]) -> Result<EntryId, MapError> {
        let curr = self.inner.w.lock().curr;
        self.add_at(curr, key, value)
    }

    /// Appends an entry to version `ver` (`add map @ver`), which must lie
    /// between the current and the last prepared version.
    pub fn add_at(&self, ver: u32, key: &[u8], value: &[u8]) -> Result<EntryId, MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        w.check_open(ver)?;
        let preps = w.preps(key)?;
        let seq = w.next_seq;
        w.next_seq += 1;
        let e = EntryRef::new(seq, key, value);
        let mut s = w.snap(ver);
        s.insert(inner.seed, &e, preps, false);
        inner.store(&mut w, ver, s);
        Ok(EntryId {
            hash: hash::bytes(inner.seed, key),
            seq,
        })
    }

    /// Changes the value of every entry with this key, in every version
    /// (`set map <key>`). Never adds. Returns how many entries changed, or
    /// [`MapError::EntryNotFound`].
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<usize, MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        let n = Self::set_locked(inner, &mut w, key, value);
        if n == 0 {
            Err(MapError::EntryNotFound)
        } else {
            Ok(n)
        }
    }

    fn set_locked(inner: &Inner, w: &mut Writer, key: &[u8], value: &[u8]) -> usize {
        let mut n = 0;
        let vers: Vec<u32> = w.versions.iter().map(|x| x.0).collect();
        for v in vers {
            let found = w
                .snap_arc(v)
                .map(|s| s.find_key(inner.seed, key))
                .unwrap_or_default();
            if found.is_empty() {
                continue;
            }
            let mut s = w.snap(v);
            for e in &found {
                s.replace(inner.seed, &e.with_value(value));
            }
            n += found.len();
            inner.store(w, v, s);
        }
        n
    }

    /// Changes the value of the entry `id` (`set map #<id>`).
    pub fn set_id(&self, id: EntryId, value: &[u8]) -> Result<(), MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        let found = w
            .versions
            .iter()
            .find_map(|(v, s)| s.get(id.hash, id.seq).map(|e| (*v, e.clone())));
        let (v, e) = found.ok_or(MapError::EntryNotFound)?;
        let mut s = w.snap(v);
        s.replace(inner.seed, &e.with_value(value));
        inner.store(&mut w, v, s);
        Ok(())
    }

    /// Deletes every entry with this key, in every version (`del map <key>`).
    /// Returns how many, or [`MapError::KeyNotFound`].
    pub fn del(&self, key: &[u8]) -> Result<usize, MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        let mut n = 0;
        let vers: Vec<u32> = w.versions.iter().map(|x| x.0).collect();
        for v in vers {
            let found = w
                .snap_arc(v)
                .map(|s| s.find_key(inner.seed, key))
                .unwrap_or_default();
            if found.is_empty() {
                continue;
            }
            let mut s = w.snap(v);
            for e in &found {
                s.remove(inner.seed, e);
            }
            n += found.len();
            inner.store(&mut w, v, s);
        }
        if n == 0 {
            Err(MapError::KeyNotFound)
        } else {
            Ok(n)
        }
    }

    /// Deletes the entry `id` (`del map #<id>`).
    pub fn del_id(&self, id: EntryId) -> Result<(), MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        let found = w
            .versions
            .iter()
            .find_map(|(v, s)| s.get(id.hash, id.seq).map(|e| (*v, e.clone())));
        let (v, e) = found.ok_or(MapError::KeyNotFound)?;
        let mut s = w.snap(v);
        s.remove(inner.seed, &e);
        inner.store(&mut w, v, s);
        Ok(())
    }

    /// The `set-map` action: sets every entry with the key (any version), or
    /// appends one to the current version when there is none.
    pub fn upsert(&self, key: &[u8], value: &[u8]) -> Result<(), MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        if Self::set_locked(inner, &mut w, key, value) > 0 {
            return Ok(());
        }
        let preps = w.preps(key)?;
        let seq = w.next_seq;
        w.next_seq += 1;
        let curr = w.curr;
        let mut s = w.snap(curr);
        s.insert(inner.seed, &EntryRef::new(seq, key, value), preps, false);
        inner.store(&mut w, curr, s);
        Ok(())
    }

    /// The `add-acl` action: appends to the current version only when no
    /// version has the key. Returns whether it added.
    pub fn add_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        if w.versions
            .iter()
            .any(|(_, s)| !s.find_key(inner.seed, key).is_empty())
        {
            return Ok(false);
        }
        let preps = w.preps(key)?;
        let seq = w.next_seq;
        w.next_seq += 1;
        let curr = w.curr;
        let mut s = w.snap(curr);
        s.insert(inner.seed, &EntryRef::new(seq, key, value), preps, false);
        inner.store(&mut w, curr, s);
        Ok(true)
    }

    /// Empties the current version (`clear map`).
    pub fn clear(&self) {
        let curr = self.inner.w.lock().curr;
        let _ = self.clear_at(curr);
    }

    /// Empties version `ver` (`clear map @ver`).
    pub fn clear_at(&self, ver: u32) -> Result<(), MapError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        w.check_open(ver)?;
        let empty = Snap::empty(&w.specs);
        inner.store(&mut w, ver, empty);
        Ok(())
    }

    /// Allocates a new version (`prepare map`) and returns its number: 1, 2,
    /// ... for each reference. Entries added to it stay invisible until
    /// [`commit`](Self::commit).
    pub fn prepare(&self) -> u32 {
        let mut w = self.inner.w.lock();
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
        let mut w = inner.w.lock();
        w.reclaim();
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
        self.inner.w.lock().reclaim();
    }

    /// Version counters.
    pub fn versions(&self) -> VersionInfo {
        let w = self.inner.w.lock();
        VersionInfo {
            curr: w.curr,
            next: w.next,
            entry_cnt: w.versions.iter().map(|(_, s)| s.len()).sum(),
        }
    }

    /// Entries visible to lookups now.
    pub fn len(&self) -> usize {
        self.inner.published.load().len()
    }

    /// True when lookups see no entry.
    pub fn is_empty(&self) -> bool {
        !self.inner.nonempty.load(Ordering::Acquire)
    }

    /// A consistent copy of the current version's entries in file order
    /// (`show map`). Taken from a snapshot: writers are not blocked while the
    /// caller iterates.
    pub fn entries(&self) -> Vec<Entry> {
        let snap = self.inner.published.load_full();
        snap.entries().into_iter().map(|e| self.entry(e)).collect()
    }

    /// The entries of version `ver` in file order (`show map @ver`).
    pub fn entries_at(&self, ver: u32) -> Result<Vec<Entry>, MapError> {
        let snap = {
            let w = self.inner.w.lock();
            w.check_open(ver)?;
            w.snap_arc(ver).cloned()
        };
        Ok(snap
            .map(|s| s.entries().into_iter().map(|e| self.entry(e)).collect())
            .unwrap_or_default())
    }

    /// Every entry of the current version whose key is exactly `key`, in file
    /// order.
    pub fn find(&self, key: &[u8]) -> Vec<Entry> {
        let snap = self.inner.published.load();
        snap.find_key(self.inner.seed, key)
            .into_iter()
            .map(|e| self.entry(e))
            .collect()
    }

    /// The entry with this id, in any version.
    pub fn get_id(&self, id: EntryId) -> Option<Entry> {
        let w = self.inner.w.lock();
        w.versions
            .iter()
            .find_map(|(_, s)| s.get(id.hash, id.seq).cloned())
            .map(|e| self.entry(e))
    }

    /// Appends the entries of a map-format text to the current version (or
    /// `ver`), all or nothing: a key rejected by one of the registered
    /// matchers fails the load with `source:line` and changes nothing.
    pub fn load_map_str(&self, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::map_lines(text);
        self.load_lines(source, None, lines.iter().map(|l| (l.line, l.key, l.value)))
    }

    /// [`load_map_str`](Self::load_map_str) into version `ver`.
    pub fn load_map_str_at(&self, ver: u32, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::map_lines(text);
        self.load_lines(
            source,
            Some(ver),
            lines.iter().map(|l| (l.line, l.key, l.value)),
        )
    }

    /// Appends the patterns of an ACL-format text (one per line, no values).
    pub fn load_acl_str(&self, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::acl_lines(text);
        self.load_lines(
            source,
            None,
            lines.iter().map(|l| (l.line, l.pattern, &b""[..])),
        )
    }

    /// Reads `path` and loads it: map format for [`RefKind::Map`], ACL format
    /// for [`RefKind::Acl`]. Errors name the file (and line).
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<usize, LoadError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| LoadError::Io {
            file: file.clone(),
            source,
        })?;
        match self.inner.kind {
            RefKind::Map => self.load_map_str(&file, &text),
            RefKind::Acl => self.load_acl_str(&file, &text),
        }
    }

    fn load_lines<'a>(
        &self,
        source: &str,
        ver: Option<u32>,
        lines: impl Iterator<Item = (usize, &'a [u8], &'a [u8])>,
    ) -> Result<usize, LoadError> {
        let inner = &self.inner;
        let mut w = inner.w.lock();
        w.reclaim();
        let ver = ver.unwrap_or(w.curr);
        w.check_open(ver).map_err(|source_err| LoadError::Version {
            file: source.to_string(),
            source: source_err,
        })?;
        // Validate and build entries before touching anything.
        let mut staged = Vec::new();
        let mut seq = w.next_seq;
        for (line, key, value) in lines {
            let preps = w.preps(key).map_err(|e| LoadError::Line {
                file: source.to_string(),
                line,
                source: e,
            })?;
            staged.push((EntryRef::new(seq, key, value), preps));
            seq += 1;
        }
        let n = staged.len();
        w.next_seq = seq;
        let mut s = w.snap(ver);
        s.insert_bulk(inner.seed, staged);
        s.finish_bulk();
        inner.store(&mut w, ver, s);
        Ok(n)
    }
}

/// The result of [`Matcher::get`]: what `get map` / `get acl` print.
#[derive(Clone, Debug)]
pub struct GetReply {
    /// The matcher's spec.
    pub spec: MatchSpec,
    /// The matching entry, if any.
    pub hit: Option<Entry>,
    /// Whether HAProxy would report `idx=tree` (vs `list`).
    pub tree: bool,
}

impl GetReply {
    fn head(&self) -> String {
        format!(
            "type={}, case={}",
            self.spec.kind.name(),
            if self.spec.icase {
                "insensitive"
            } else {
                "sensitive"
            }
        )
    }

    /// The `get map` line, e.g.
    /// `type=beg, case=sensitive, found=yes, idx=tree, key="/api", value="v 1", type="str"`.
    /// `value_type` is the sample type of the value (`str`, `sint`, `ip`...);
    /// `None` prints `value=none` (a file loaded by an ACL).
    pub fn map_line(&self, value_type: Option<&str>) -> String {
        match &self.hit {
            None => format!("{}, found=no", self.head()),
            Some(e) => {
                let idx = if self.tree { "tree" } else { "list" };
                match value_type {
                    Some(t) => format!(
                        "{}, found=yes, idx={idx}, key=\"{}\", value=\"{}\", type=\"{t}\"",
                        self.head(),
                        e.key_str(),
                        e.value_str()
                    ),
                    None => format!(
                        "{}, found=yes, idx={idx}, key=\"{}\", value=none",
                        self.head(),
                        e.key_str()
                    ),
                }
            }
        }
    }

    /// The `get acl` line, e.g.
    /// `type=beg, case=insensitive, match=yes, idx=list, pattern="/API"`.
    pub fn acl_line(&self) -> String {
        match &self.hit {
            None => format!("{}, match=no", self.head()),
            Some(e) => format!(
                "{}, match=yes, idx={}, pattern=\"{}\"",
                self.head(),
                if self.tree { "tree" } else { "list" },
                e.key_str()
            ),
        }
    }
}

/// A lock-free reader of one reference with one [`MatchSpec`].
///
/// Each lookup loads the current snapshot (one atomic load through
/// `arc-swap`, no lock a writer can hold) and answers from it alone, so it
/// sees a whole version before or after any concurrent change. Cheap to
/// clone; `Send + Sync`.
///
/// ```
/// use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
/// let acl = MapRef::new("bad-agents", RefKind::Acl);
/// let m = acl.matcher(MatchSpec::icase(MatchKind::Sub)).unwrap();
/// acl.load_acl_str("bad-agents", b"curl\nsqlmap\n").unwrap();
/// assert!(m.matches(b"Mozilla SQLMap/1.0"));
/// assert!(!m.matches(b"Mozilla/5.0"));
/// assert_eq!(m.get(b"CURL/8").acl_line(), r#"type=sub, case=insensitive, match=yes, idx=list, pattern="curl""#);
/// ```
#[derive(Clone)]
pub struct Matcher {
    inner: Arc<Inner>,
    slot: usize,
    spec: MatchSpec,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("map", &self.inner.name)
            .field("spec", &self.spec)
            .finish()
    }
}

impl Matcher {
    /// The spec this matcher was created with (normalised).
    pub fn spec(&self) -> MatchSpec {
        self.spec
    }

    /// The reference it reads.
    pub fn map_ref(&self) -> MapRef {
        MapRef {
            inner: self.inner.clone(),
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&Snap) -> Option<R>) -> Option<R> {
        if !self.inner.nonempty.load(Ordering::Acquire) {
            return None;
        }
        let snap = self.inner.published.load();
        f(&snap)
    }

    /// The entry that matches `input` under this spec's rule, if any. For
    /// [`MatchKind::Found`] this is always `None` (see [`matches`](Self::matches)).
    #[inline]
    pub fn lookup(&self, input: &[u8]) -> Option<Entry> {
        let seed = self.inner.seed;
        self.with(|s| {
            s.lookup(self.slot, seed, input)
                .map(|(e, _)| Entry { e: e.clone(), seed })
        })
    }

    /// Calls `f` with the matching entry's value (borrowed from the snapshot,
    /// no reference count touched) or `None`.
    #[inline]
    pub fn with_value<R>(&self, input: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        if !self.inner.nonempty.load(Ordering::Acquire) {
            return f(None);
        }
        let snap = self.inner.published.load();
        let hit = snap.lookup(self.slot, self.inner.seed, input);
        f(hit.map(|(e, _)| e.value()))
    }

    /// Whether `input` matches. [`MatchKind::Found`] always matches (the
    /// sample exists since it was passed).
    #[inline]
    pub fn matches(&self, input: &[u8]) -> bool {
        if self.spec.kind == MatchKind::Found {
            return true;
        }
        self.with(|s| s.lookup(self.slot, self.inner.seed, input).map(|_| ()))
            .is_some()
    }

    /// `int`/`len` lookup with an integer sample (no text parsing). Other
    /// kinds: `None`.
    pub fn lookup_int(&self, v: i64) -> Option<Entry> {
        let seed = self.inner.seed;
        self.with(|s| {
            s.derived[self.slot]
                .lookup_int(v)
                .map(|(e, _)| Entry { e: e.clone(), seed })
        })
    }

    /// `ip` lookup with an address sample. Other kinds: `None`.
    pub fn lookup_ip(&self, a: IpAddr) -> Option<Entry> {
        let seed = self.inner.seed;
        let a = match a {
            IpAddr::V4(v4) => IpInput::V4(crate::keys::from_std_v4(v4)),
            IpAddr::V6(v6) => IpInput::V6(u128::from(v6)),
        };
        self.with(|s| {
            s.derived[self.slot]
                .lookup_ip(seed, a)
                .map(|(e, _)| Entry { e: e.clone(), seed })
        })
    }

    /// What `get map <ref> <input>` / `get acl` report for `input`.
    pub fn get(&self, input: &[u8]) -> GetReply {
        let seed = self.inner.seed;
        let r = self.with(|s| {
            s.lookup(self.slot, seed, input)
                .map(|(e, tree)| (Entry { e: e.clone(), seed }, tree))
        });
        GetReply {
            spec: self.spec,
            tree: r.as_ref().is_some_and(|(_, t)| *t) && self.spec.haproxy_tree(),
            hit: r.map(|(e, _)| e),
        }
    }
}
