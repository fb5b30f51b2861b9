//! Indexes and the configuration's uses of a reference: matchers, the
//! value types uses impose on every entry, and `get map`'s replies (one per
//! use).

use super::{BuiltIndex, MapRef, Matcher, Writer, invalid_key};
use crate::entry::Entry;
use crate::error::{LoadError, MapError};
use crate::index::{Derived, MatchSpec, prepare};
use crate::rebind::PlannedUse;
use crate::reply::GetReply;
use crate::value::{PatternUse, ValueType};

impl MapRef {
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
}
