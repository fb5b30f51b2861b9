//! References (one per map file or ACL id), their versions, and matchers.
//!
//! Publication: the current version's snapshot is what readers load. Every
//! change (runtime-API commands and the traffic-driven `set-map`/`del-map`/
//! `add-acl` actions alike) builds the next snapshot and publishes it
//! before returning, as HAProxy applies them: a request that follows a
//! `set-map` sees its value.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::entry::{Entry, EntryId, EntryRef};
use crate::error::{LoadError, MapError};
use crate::hash;
use crate::index::{Derived, MatchKind, MatchSpec, Prep, Snap, prepare};
use crate::keys::IpInput;
use crate::rebind::PlannedUse;
use crate::reply::{GetReply, RegmMatch};
use crate::value::{PatternUse, ValueType};

/// Whether a reference carries values (map) or only patterns (ACL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// Key/value entries (`map_*` converters, `-M` ACLs).
    Map,
    /// Patterns only (`acl ... -f`); values are empty.
    Acl,
}

/// What readers touch, on cache lines of its own: a writer's lock word and
/// bookkeeping never share a line with it.
#[repr(align(128))]
struct ReadSide {
    seed: u64,
    /// False while the published version is empty: lets lookups skip the
    /// snapshot load entirely.
    nonempty: AtomicBool,
    published: ArcSwap<Snap>,
}

#[repr(align(128))]
struct WriteSide(Mutex<Writer>);

struct Inner {
    read: ReadSide,
    name: String,
    kind: RefKind,
    w: WriteSide,
}

/// Source lines of entries loaded from a file, for error messages of
/// later uses (`hosts.map:3: ...`).
struct LineTable {
    ver: u32,
    source: Arc<str>,
    first_seq: u64,
    lines: Box<[u32]>,
}

pub(crate) struct Writer {
    curr: u32,
    next: u32,
    /// Every version that has storage; always holds `curr` (as published).
    versions: Vec<(u32, Arc<Snap>)>,
    pub(crate) specs: Vec<MatchSpec>,
    /// The configuration's uses, one per HAProxy pattern expression.
    pub(crate) uses: Vec<PatternUse>,
    /// Value types every value must parse as (never `Str`).
    pub(crate) value_types: Vec<ValueType>,
    next_seq: u64,
    /// Snapshots swapped out while readers may still hold them; freed by the
    /// next writer that finds them unreferenced (never by a reader).
    retired: Vec<Arc<Snap>>,
    lines: Vec<LineTable>,
}

/// A new index, built for every version (`(version, index)`), not yet
/// installed.
pub(crate) type BuiltIndex = Vec<(u32, Derived)>;

/// A key that `spec` rejects.
fn invalid_key(spec: MatchSpec, key: &[u8], reason: String) -> MapError {
    MapError::InvalidKey {
        kind: spec.kind,
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    }
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
                prepare(*s, key).map_err(|reason| MapError::InvalidKey {
                    kind: s.kind,
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason,
                })
            })
            .collect()
    }

    /// Every required value type accepts `value`.
    fn check_value(&self, value: &[u8]) -> Result<(), MapError> {
        match self.value_types.iter().find(|t| !t.accepts(value)) {
            None => Ok(()),
            Some(t) => Err(MapError::InvalidValue {
                ty: *t,
                value: String::from_utf8_lossy(value).into_owned(),
            }),
        }
    }

    /// A use's error, located at the source line of the offending entry
    /// when it was loaded from a file.
    fn located(&self, name: &str, e: MapError, seq: Option<u64>) -> LoadError {
        match seq.and_then(|q| self.line_of(q)) {
            Some((file, line)) => LoadError::Line {
                file: file.to_string(),
                line: line as usize,
                source: e,
            },
            None => LoadError::Existing {
                file: name.to_owned(),
                source: e,
            },
        }
    }

    /// See [`MapRef::check_use`].
    pub(crate) fn check_planned(&self, name: &str, u: PlannedUse) -> Result<(), LoadError> {
        let spec = u.spec().normalised();
        let new_spec = !self.specs.contains(&spec);
        let new_type = u.value_type().filter(|t| !self.value_types.contains(t));
        if !new_spec && new_type.is_none() {
            return Ok(());
        }
        let existing = |source| LoadError::Existing {
            file: name.to_owned(),
            source,
        };
        for (_, s) in &self.versions {
            for e in s.entries() {
                if new_spec && let Err(reason) = prepare(spec, e.key()) {
                    return Err(existing(invalid_key(spec, e.key(), reason)));
                }
                if let Some(ty) = new_type
                    && !ty.accepts(e.value())
                {
                    return Err(existing(MapError::InvalidValue {
                        ty,
                        value: String::from_utf8_lossy(e.value()).into_owned(),
                    }));
                }
            }
        }
        Ok(())
    }

    /// Every value of every version reads as `ty`;
    /// the error is a [`LoadError::Existing`] naming `name`.
    pub(crate) fn check_value_type(&self, name: &str, ty: ValueType) -> Result<(), LoadError> {
        for (_, s) in &self.versions {
            for e in s.entries() {
                if !ty.accepts(e.value()) {
                    return Err(LoadError::Existing {
                        file: name.to_owned(),
                        source: MapError::InvalidValue {
                            ty,
                            value: String::from_utf8_lossy(e.value()).into_owned(),
                        },
                    });
                }
            }
        }
        Ok(())
    }

    fn line_of(&self, seq: u64) -> Option<(&str, u32)> {
        self.lines.iter().find_map(|t| {
            let i = usize::try_from(seq.checked_sub(t.first_seq)?).ok()?;
            t.lines.get(i).map(|l| (&*t.source, *l))
        })
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
        let was = self.read.nonempty.load(Ordering::Relaxed);
        if !nonempty && was {
            self.read.nonempty.store(false, Ordering::Release);
        }
        let old = self.read.published.swap(arc);
        // Written only on a change: readers load this flag on every lookup.
        if nonempty && !was {
            self.read.nonempty.store(true, Ordering::Release);
        }
        if Arc::strong_count(&old) > 1 {
            w.retired.push(old);
        }
    }

    /// Locks the writer for a change, first freeing retired snapshots no
    /// reader holds any more.
    fn lock(&self) -> parking_lot::MutexGuard<'_, Writer> {
        let mut w = self.w.0.lock();
        w.reclaim();
        w
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
                read: ReadSide {
                    seed: hash::random_seed(),
                    nonempty: AtomicBool::new(false),
                    published: ArcSwap::from_pointee(Snap::default()),
                },
                name: name.into(),
                kind,
                w: WriteSide(Mutex::new(Writer {
                    curr: 0,
                    next: 0,
                    versions: vec![(0, Arc::new(Snap::default()))],
                    specs: Vec::new(),
                    uses: Vec::new(),
                    value_types: Vec::new(),
                    next_seq: 1,
                    retired: Vec::new(),
                    lines: Vec::new(),
                })),
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

    fn seed(&self) -> u64 {
        self.inner.read.seed
    }

    /// The specs registered with [`matcher`](Self::matcher) or
    /// [`register_use`](Self::register_use), in registration order (one
    /// index each).
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
        self.inner.w.0.lock().specs.clone()
    }

    /// A matcher for `spec`, sharing the index of any earlier matcher with the
    /// same spec. Building a new index is O(N log N); every later change
    /// updates it in O(log N). Fails when an existing entry is not a valid
    /// pattern for the kind (e.g. `abc` for `int`); nothing changes then.
    ///
    /// This registers an index only; a use by the configuration, which
    /// `get map` reports and which may constrain values, is
    /// [`register_use`](Self::register_use).
    pub fn matcher(&self, spec: MatchSpec) -> Result<Matcher, MapError> {
        let mut w = self.inner.lock();
        self.matcher_locked(&mut w, spec.normalised())
            .map_err(|(e, _)| e)
    }

    /// Registers `spec`'s index; on failure, the error and the offending
    /// entry's sequence number.
    fn matcher_locked(
        &self,
        w: &mut Writer,
        spec: MatchSpec,
    ) -> Result<Matcher, (MapError, Option<u64>)> {
        let slot = match w.specs.iter().position(|s| *s == spec) {
            Some(slot) => slot,
            None => {
                let built = self.build_index(w, spec)?;
                self.install_index(w, spec, built)
            }
        };
        Ok(Matcher {
            inner: self.inner.clone(),
            slot,
            spec,
        })
    }

    /// The index of `spec` for every version, every entry validated first;
    /// changes nothing. On failure, the error and the offending entry's
    /// sequence number.
    pub(crate) fn build_index(
        &self,
        w: &Writer,
        spec: MatchSpec,
    ) -> Result<BuiltIndex, (MapError, Option<u64>)> {
        let mut built = Vec::with_capacity(w.versions.len());
        for (v, snap) in &w.versions {
            let mut d = Derived::new(spec);
            for e in snap.entries() {
                let prep = prepare(spec, e.key())
                    .map_err(|reason| (invalid_key(spec, e.key(), reason), Some(e.seq())))?;
                d.insert(self.inner.read.seed, &e, prep, true);
            }
            d.finish_bulk();
            built.push((*v, d));
        }
        Ok(built)
    }

    /// Adds an index made by [`build_index`](Self::build_index) under the
    /// same lock; returns its slot.
    pub(crate) fn install_index(
        &self,
        w: &mut Writer,
        spec: MatchSpec,
        built: BuiltIndex,
    ) -> usize {
        w.specs.push(spec);
        for (v, d) in built {
            let mut s = w.snap(v);
            s.derived.push(d);
            self.inner.store(w, v, s);
        }
        w.specs.len() - 1
    }

    /// Drops the indexes from slot `n` on (every version).
    pub(crate) fn truncate_indexes(&self, w: &mut Writer, n: usize) {
        if w.specs.len() <= n {
            return;
        }
        w.specs.truncate(n);
        let vers: Vec<u32> = w.versions.iter().map(|x| x.0).collect();
        for v in vers {
            let mut s = w.snap(v);
            s.derived.truncate(n);
            self.inner.store(w, v, s);
        }
    }

    /// Locks the writer for a change.
    pub(crate) fn lock_writer(&self) -> parking_lot::MutexGuard<'_, Writer> {
        self.inner.lock()
    }

    /// Whether `self` and `other` are the same reference (clones of one
    /// [`MapRef`]), like [`Arc::ptr_eq`].
    ///
    /// ```
    /// use gwd_maps::{MapRef, RefKind};
    /// let a = MapRef::new("a.map", RefKind::Map);
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&MapRef::new("a.map", RefKind::Map)));
    /// ```
    pub fn ptr_eq(&self, other: &MapRef) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// An address that orders references for locking several at once.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Whether every entry (every version) suits `u`: a key valid for its match spec when that spec
    /// has no index yet, a value of its type when no use requires that
    /// type yet (what is already registered holds for every entry). Reads
    /// only: nothing changes, nothing is published. The error is a
    /// [`LoadError::Existing`] naming this reference: the entries checked
    /// are the current contents, which run-time changes may have made
    /// differ from any file.
    ///
    /// This is how a reload asks whether a reference it means to keep
    /// suits the new configuration before touching it (see
    /// [`Rebinding`](crate::Rebinding)).
    ///
    /// ```
    /// use gwd_maps::{MapRef, MatchKind, MatchSpec, PatternUse, PlannedUse, RefKind, ValueType};
    /// let ports = MapRef::new("ports.map", RefKind::Map);
    /// ports.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    /// ports.load_map_str("ports.map", b"http 80\n").unwrap();
    /// ports.set(b"http", b"eighty").unwrap();
    /// let as_int = PlannedUse::Use(PatternUse { spec: MatchSpec::new(MatchKind::Str), values: Some(ValueType::Int) });
    /// let err = ports.check_use(as_int).unwrap_err();
    /// assert_eq!(err.to_string(), "ports.map: unable to parse 'eighty'.");
    /// assert!(ports.value_types().is_empty() && ports.uses().is_empty()); // untouched
    /// assert!(ports.check_use(PlannedUse::Index(MatchSpec::new(MatchKind::Beg))).is_ok());
    /// assert_eq!(ports.specs().len(), 1);
    /// ```
    pub fn check_use(&self, u: PlannedUse) -> Result<(), LoadError> {
        let w = self.inner.w.0.lock();
        w.check_planned(&self.inner.name, u)
    }

    /// Registers a use of this reference by the configuration: an index for
    /// `spec` (shared as with [`matcher`](Self::matcher)) and how a
    /// converter reads values (`None` for ACLs). From then on every value
    /// must parse as `values` (`map_*_int`, `map_*_ip`): existing entries of
    /// every version are checked now (the error names the source line of
    /// entries loaded from a file), and later adds, sets and loads are
    /// refused with [`MapError::InvalidValue`]. Nothing changes on error.
    ///
    /// Call it before loading the file so that load errors name the line.
    ///
    /// ```
    /// use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind, ValueType};
    /// let ports = MapRef::new("ports.map", RefKind::Map);
    /// ports.register_use(MatchSpec::new(MatchKind::Str), Some(ValueType::Int)).unwrap();
    /// let err = ports.load_map_str("ports.map", b"http 80\nhttps 443x\n").unwrap_err();
    /// assert_eq!(err.to_string(), "ports.map:2: unable to parse '443x'.");
    /// assert!(ports.is_empty());
    /// ports.load_map_str("ports.map", b"http 80\n").unwrap();
    /// assert_eq!(ports.set(b"http", b"eighty").unwrap_err().to_string(), "unable to parse 'eighty'.");
    /// ```
    pub fn register_use(
        &self,
        spec: MatchSpec,
        values: Option<ValueType>,
    ) -> Result<Matcher, LoadError> {
        let spec = spec.normalised();
        let mut w = self.inner.lock();
        let located =
            |w: &Writer, e: MapError, seq: Option<u64>| w.located(&self.inner.name, e, seq);
        let new_type = values.filter(|t| *t != ValueType::Str && !w.value_types.contains(t));
        if let Some(t) = new_type {
            for (_, snap) in &w.versions {
                for e in snap.entries() {
                    if !t.accepts(e.value()) {
                        let err = MapError::InvalidValue {
                            ty: t,
                            value: String::from_utf8_lossy(e.value()).into_owned(),
                        };
                        return Err(located(&w, err, Some(e.seq())));
                    }
                }
            }
        }
        let m = match self.matcher_locked(&mut w, spec) {
            Ok(m) => m,
            Err((e, seq)) => return Err(located(&w, e, seq)),
        };
        if let Some(t) = new_type {
            w.value_types.push(t);
        }
        let u = PatternUse { spec, values };
        if !w.uses.iter().any(|x| x.same_expression(&u)) {
            w.uses.push(u);
        }
        Ok(m)
    }

    /// The configuration's uses, one per HAProxy pattern expression, in
    /// registration order: what `get map` / `get acl` print one line for.
    /// Uses HAProxy serves from one expression are folded into the first
    /// (see [`PatternUse`]).
    ///
    /// ```
    /// use gwd_maps::{MapRef, MatchKind, MatchSpec, PatternUse, RefKind, ValueType};
    /// let m = MapRef::new("paths.map", RefKind::Map);
    /// m.register_use(MatchSpec::new(MatchKind::Beg), Some(ValueType::Str)).unwrap();
    /// m.register_use(MatchSpec::new(MatchKind::Beg), Some(ValueType::Int)).unwrap();
    /// m.register_use(MatchSpec::new(MatchKind::Sub), None).unwrap();
    /// m.register_use(MatchSpec::new(MatchKind::End), None).unwrap(); // folded into `sub`
    /// assert_eq!(m.uses().len(), 3);
    /// assert_eq!(m.uses()[1], PatternUse { spec: MatchSpec::new(MatchKind::Beg), values: Some(ValueType::Int) });
    /// ```
    pub fn uses(&self) -> Vec<PatternUse> {
        self.inner.w.0.lock().uses.clone()
    }

    /// The value types every value must parse as (from
    /// [`register_use`](Self::register_use); `str` is never listed).
    pub fn value_types(&self) -> Vec<ValueType> {
        self.inner.w.0.lock().value_types.clone()
    }

    /// What `get map <ref> <input>` / `get acl` report: one reply per use
    /// ([`uses`](Self::uses)), all answered from one snapshot.
    pub fn get_replies(&self, input: &[u8]) -> Vec<GetReply> {
        let (uses, slots) = {
            let w = self.inner.lock();
            let slots: Vec<Option<usize>> = w
                .uses
                .iter()
                .map(|u| w.specs.iter().position(|s| *s == u.spec))
                .collect();
            (w.uses.clone(), slots)
        };
        let seed = self.seed();
        let snap = self.inner.read.published.load();
        uses.into_iter()
            .zip(slots)
            .map(|(u, slot)| {
                let r = slot.and_then(|slot| {
                    if snap.derived.len() <= slot {
                        return None;
                    }
                    snap.lookup(slot, seed, input)
                        .map(|(e, tree)| (Entry { e: e.clone(), seed }, tree))
                });
                GetReply {
                    spec: u.spec,
                    tree: r.as_ref().is_some_and(|(_, t)| *t) && u.spec.haproxy_tree(),
                    hit: r.map(|(e, _)| e),
                    values: u.values,
                }
            })
            .collect()
    }

    fn entry(&self, e: EntryRef) -> Entry {
        Entry {
            e,
            seed: self.seed(),
        }
    }

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

    // ------------------------------------------------------------ versions

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

    /// Appends the entries of a map-format text to the current version (or
    /// `ver`), all or nothing: a key rejected by one of the registered
    /// matchers, or a value rejected by a registered use, fails the load
    /// with `source:line` and changes nothing.
    pub fn load_map_str(&self, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::map_lines(text);
        self.load_lines(
            source,
            None,
            lines.iter().map(|l| (l.line, l.key, l.value)),
            true,
        )
    }

    /// [`load_map_str`](Self::load_map_str) into version `ver`.
    pub fn load_map_str_at(&self, ver: u32, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::map_lines(text);
        self.load_lines(
            source,
            Some(ver),
            lines.iter().map(|l| (l.line, l.key, l.value)),
            true,
        )
    }

    /// Appends the patterns of an ACL-format text (one per line, no values).
    pub fn load_acl_str(&self, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::acl_lines(text);
        self.load_lines(
            source,
            None,
            lines.iter().map(|l| (l.line, l.pattern, &b""[..])),
            false,
        )
    }

    /// Reads `path` and loads it: map format for [`RefKind::Map`], ACL format
    /// for [`RefKind::Acl`]. Errors name the file (and line); a missing file
    /// is a [`LoadError::Io`] for which [`LoadError::is_not_found`] holds.
    /// Only a regular file of at most [`crate::file::MAX_FILE_BYTES`] is
    /// read (see [`crate::file::read`]): a device, FIFO or directory, or a
    /// larger file, is a [`LoadError::Io`] too.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<usize, LoadError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = crate::file::read(path).map_err(|source| LoadError::Io {
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
        check_values: bool,
    ) -> Result<usize, LoadError> {
        let inner = &self.inner;
        let mut w = inner.lock();
        let ver = ver.unwrap_or(w.curr);
        w.check_open(ver).map_err(|source_err| LoadError::Version {
            file: source.to_string(),
            source: source_err,
        })?;
        // Validate and build entries before touching anything.
        let mut staged = Vec::new();
        let mut line_nos = Vec::new();
        let first_seq = w.next_seq;
        let mut seq = first_seq;
        for (line, key, value) in lines {
            let at_line = |e| LoadError::Line {
                file: source.to_string(),
                line,
                source: e,
            };
            let preps = w.preps(key).map_err(at_line)?;
            if check_values {
                w.check_value(value).map_err(at_line)?;
            }
            staged.push((EntryRef::new(seq, key, value), preps));
            line_nos.push(u32::try_from(line).unwrap_or(u32::MAX));
            seq += 1;
        }
        let n = staged.len();
        w.next_seq = seq;
        if n > 0 {
            w.lines.push(LineTable {
                ver,
                source: source.into(),
                first_seq,
                lines: line_nos.into(),
            });
        }
        let mut s = w.snap(ver);
        s.insert_bulk(self.seed(), staged);
        s.finish_bulk();
        inner.store(&mut w, ver, s);
        Ok(n)
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
        if !self.inner.read.nonempty.load(Ordering::Acquire) {
            return None;
        }
        let snap = self.inner.read.published.load();
        f(&snap)
    }

    /// The entry that matches `input` under this spec's rule, if any. For
    /// [`MatchKind::Found`] this is always `None` (see [`matches`](Self::matches)).
    #[inline]
    pub fn lookup(&self, input: &[u8]) -> Option<Entry> {
        let seed = self.inner.read.seed;
        self.with(|s| {
            s.lookup(self.slot, seed, input)
                .map(|(e, _)| Entry { e: e.clone(), seed })
        })
    }

    /// Calls `f` with the matching entry's value (borrowed from the snapshot,
    /// no reference count touched) or `None`.
    #[inline]
    pub fn with_value<R>(&self, input: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        if !self.inner.read.nonempty.load(Ordering::Acquire) {
            return f(None);
        }
        let snap = self.inner.read.published.load();
        let hit = snap.lookup(self.slot, self.inner.read.seed, input);
        f(hit.map(|(e, _)| e.value()))
    }

    /// Calls `f` with the matching entry's key (borrowed from the snapshot)
    /// or `None`: the `map_*_key` converters.
    #[inline]
    pub fn with_key<R>(&self, input: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        if !self.inner.read.nonempty.load(Ordering::Acquire) {
            return f(None);
        }
        let snap = self.inner.read.published.load();
        let hit = snap.lookup(self.slot, self.inner.read.seed, input);
        f(hit.map(|(e, _)| e.key()))
    }

    /// Whether `input` matches. [`MatchKind::Found`] always matches (the
    /// sample exists since it was passed).
    #[inline]
    pub fn matches(&self, input: &[u8]) -> bool {
        if self.spec.kind == MatchKind::Found {
            return true;
        }
        self.with(|s| s.lookup(self.slot, self.inner.read.seed, input).map(|_| ()))
            .is_some()
    }

    /// `int`/`len` lookup with an integer sample (no text parsing). Other
    /// kinds: `None`.
    pub fn lookup_int(&self, v: i64) -> Option<Entry> {
        let seed = self.inner.read.seed;
        self.with(|s| {
            s.derived[self.slot]
                .lookup_int(v)
                .map(|(e, _)| Entry { e: e.clone(), seed })
        })
    }

    /// `ip` lookup with an address sample. Other kinds: `None`.
    pub fn lookup_ip(&self, a: IpAddr) -> Option<Entry> {
        let seed = self.inner.read.seed;
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

    /// `regm` lookup: the first entry in file order whose regex matches
    /// `input`, with the groups of that match (see [`RegmMatch::expand`]).
    /// Other kinds: `None`.
    ///
    /// ```
    /// use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
    /// let m = MapRef::new("rewrite.map", RefKind::Map);
    /// let re = m.matcher(MatchSpec::new(MatchKind::Regm)).unwrap();
    /// m.load_map_str("rewrite.map", br"^/u/([0-9]+)/(\w+) /users/\2?id=\1").unwrap();
    /// let hit = re.lookup_regm(b"/u/42/profile").unwrap();
    /// assert_eq!(hit.expand(b"/u/42/profile").unwrap(), b"/users/profile?id=42");
    /// ```
    pub fn lookup_regm(&self, input: &[u8]) -> Option<RegmMatch> {
        let seed = self.inner.read.seed;
        self.with(|s| {
            let (e, re) = s.derived[self.slot].lookup_regm(input)?;
            let groups = re.captures(e.key(), input)?;
            Some(RegmMatch {
                entry: Entry { e: e.clone(), seed },
                groups,
            })
        })
    }

    /// What `get map <ref> <input>` / `get acl` report for `input`, values
    /// read as strings (see [`MapRef::get_replies`] for the uses' types).
    pub fn get(&self, input: &[u8]) -> GetReply {
        let seed = self.inner.read.seed;
        let r = self.with(|s| {
            s.lookup(self.slot, seed, input)
                .map(|(e, tree)| (Entry { e: e.clone(), seed }, tree))
        });
        GetReply {
            spec: self.spec,
            tree: r.as_ref().is_some_and(|(_, t)| *t) && self.spec.haproxy_tree(),
            hit: r.map(|(e, _)| e),
            values: Some(ValueType::Str),
        }
    }
}
