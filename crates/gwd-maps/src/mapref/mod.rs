//! References (one per map file or ACL id), their versions, and matchers.
//!
//! This module holds the shared state (the read side readers load, the
//! writer's bookkeeping under its mutex) and [`MapRef`]'s identity; the
//! operations sit in one module per concern, each with an `impl MapRef`:
//! `uses` (indexes and the configuration's uses), `update` (entry changes),
//! `versions` (clear, prepare, commit), `read` (`show map` copies), `load`
//! (texts and files); `matcher` holds the reader, [`Matcher`].
//!
//! Publication: the current version's snapshot is what readers load. Every
//! change (runtime-API commands and the traffic-driven `set-map`/`del-map`/
//! `add-acl` actions alike) builds the next snapshot and publishes it
//! before returning, as HAProxy applies them: a request that follows a
//! `set-map` sees its value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::error::{LoadError, MapError};
use crate::hash;
use crate::index::{Derived, MatchSpec, Prep, Snap, prepare};
use crate::rebind::PlannedUse;
use crate::value::{PatternUse, ValueType};

mod load;
mod matcher;
mod read;
mod update;
mod uses;
mod versions;

pub use matcher::Matcher;

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
}
