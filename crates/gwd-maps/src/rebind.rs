//! Handing references over to a new configuration (a reload that keeps
//! the references of unchanged files, with their run-time changes).
//!
//! A configuration's uses live on the reference: its indexes (one per
//! [`MatchSpec`]), the value types its converters require and the uses
//! `get map` reports. A reload that keeps a reference must give it the new
//! configuration's uses without disturbing the running configuration
//! while the new one may still fail:
//!
//! 1. [`MapRef::check_use`] tells, reading only, whether the reference
//!    suits each use of the new configuration (the caller validates the
//!    whole configuration this way, changing nothing);
//! 2. [`Rebinding::begin`] then checks again (run-time changes may have
//!    happened meanwhile) and adds, all or nothing and under the writer
//!    locks of every reference at once, the new indexes and value types.
//!    Until [`Rebinding::finish`], every entry must suit both
//!    configurations, so either can run;
//! 3. [`Rebinding::finish`] makes the uses and value types exactly the new
//!    configuration's (a type only the old configuration required is
//!    lifted); [`Rebinding::undo`] (or dropping the [`Rebinding`]) puts
//!    back the indexes, uses and value types there were before `begin`.
//!
//! Indexes of the old configuration stay after `finish`: its matchers
//! read them until it is dropped. They are bounded (one per match spec,
//! and there are few specs) and are dropped with the reference.

use crate::error::LoadError;
use crate::index::MatchSpec;
use crate::mapref::MapRef;
use crate::value::{PatternUse, ValueType};

/// One use of a reference by a configuration, as a reload plans it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlannedUse {
    /// An index only, as [`MapRef::matcher`] registers it (traffic actions
    /// such as `set-map`): puts no constraint on values, not reported by
    /// `get map`.
    Index(MatchSpec),
    /// A use, as [`MapRef::register_use`] registers it.
    Use(PatternUse),
}

impl PlannedUse {
    /// The match spec (not normalised).
    pub fn spec(&self) -> MatchSpec {
        match self {
            PlannedUse::Index(s) => *s,
            PlannedUse::Use(u) => u.spec,
        }
    }

    /// The value type the use requires of every value, if any (never
    /// [`ValueType::Str`]).
    pub fn value_type(&self) -> Option<ValueType> {
        match self {
            PlannedUse::Use(PatternUse {
                values: Some(t), ..
            }) if *t != ValueType::Str => Some(*t),
            _ => None,
        }
    }
}

/// What one reference had before [`Rebinding::begin`], and what it gets.
struct Bound {
    map: MapRef,
    specs_before: usize,
    uses_before: Vec<PatternUse>,
    types_before: Vec<ValueType>,
    uses_after: Vec<PatternUse>,
    types_after: Vec<ValueType>,
}

/// New configuration uses added to kept references, pending
/// [`finish`](Self::finish) or [`undo`](Self::undo) (see the module docs of
/// `rebind`). Dropping it undoes.
///
/// ```
/// use gwd_maps::{MapRef, MatchKind, MatchSpec, PatternUse, PlannedUse, Rebinding, RefKind, ValueType};
/// let ports = MapRef::new("ports.map", RefKind::Map);
/// // The running configuration: `map_str_int(ports.map)`.
/// let old = ports.register_use(MatchSpec::new(MatchKind::Str), Some(ValueType::Int)).unwrap();
/// ports.load_map_str("ports.map", b"http 80\n").unwrap();
/// // The new one: `map_beg(ports.map)`, values read as strings.
/// let beg = PlannedUse::Use(PatternUse { spec: MatchSpec::new(MatchKind::Beg), values: Some(ValueType::Str) });
/// ports.check_use(beg).unwrap();
/// let r = Rebinding::begin(vec![(ports.clone(), vec![beg])]).unwrap();
/// let new = ports.register_use(MatchSpec::new(MatchKind::Beg), Some(ValueType::Str)).unwrap();
/// assert!(ports.set(b"http", b"eighty").is_err(), "both configurations may run");
/// r.finish();
/// ports.set(b"http", b"eighty").unwrap();
/// assert_eq!(new.lookup(b"https").unwrap().value(), b"eighty");
/// assert_eq!(ports.uses().len(), 1);
/// drop(old);
/// ```
#[must_use = "dropping a Rebinding undoes it"]
pub struct Rebinding {
    bound: Vec<Bound>,
    done: bool,
}

impl std::fmt::Debug for Rebinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebinding")
            .field(
                "maps",
                &self.bound.iter().map(|b| b.map.name()).collect::<Vec<_>>(),
            )
            .field("done", &self.done)
            .finish()
    }
}

impl Rebinding {
    /// Gives every reference of `plan` its planned uses, all or nothing:
    /// under the writer locks of all of them at once (taken in a fixed
    /// order), every entry of
    /// every version is checked against each index and value type the
    /// reference lacks, and only when all pass are the indexes built and
    /// the value types added. A reference named twice gets both lists.
    ///
    /// On failure nothing changed; the error names the reference
    /// ([`LoadError::Existing`]) and the offending key or value.
    pub fn begin(plan: Vec<(MapRef, Vec<PlannedUse>)>) -> Result<Rebinding, (MapRef, LoadError)> {
        let mut merged: Vec<(MapRef, Vec<PlannedUse>)> = Vec::with_capacity(plan.len());
        for (m, uses) in plan {
            match merged.iter_mut().find(|(x, _)| x.ptr_eq(&m)) {
                Some((_, u)) => u.extend(uses),
                None => merged.push((m, uses)),
            }
        }
        // One global order (the address) so that two callers cannot
        // deadlock; run-time operations lock one reference at a time.
        merged.sort_by_key(|(m, _)| m.addr());
        let mut guards: Vec<_> = merged.iter().map(|(m, _)| m.lock_writer()).collect();

        // Validate everything and build the new indexes; nothing changes.
        let mut staged = Vec::with_capacity(merged.len());
        for ((m, uses), w) in merged.iter().zip(&guards) {
            let mut specs: Vec<MatchSpec> = Vec::new();
            let mut types: Vec<ValueType> = Vec::new();
            for u in uses {
                let s = u.spec().normalised();
                if !w.specs.contains(&s) && !specs.contains(&s) {
                    specs.push(s);
                }
                if let Some(t) = u.value_type()
                    && !w.value_types.contains(&t)
                    && !types.contains(&t)
                {
                    types.push(t);
                }
            }
            for t in &types {
                w.check_value_type(m.name(), *t)
                    .map_err(|e| (m.clone(), e))?;
            }
            let mut built = Vec::with_capacity(specs.len());
            for s in specs {
                let b = m.build_index(w, s).map_err(|(e, _)| {
                    (
                        m.clone(),
                        LoadError::Existing {
                            file: m.name().to_owned(),
                            source: e,
                        },
                    )
                })?;
                built.push((s, b));
            }
            staged.push((built, types));
        }

        // Install.
        let mut bound = Vec::with_capacity(merged.len());
        for (((m, uses), w), (built, types)) in merged.iter().zip(&mut guards).zip(staged) {
            let before = Bound {
                map: m.clone(),
                specs_before: w.specs.len(),
                uses_before: w.uses.clone(),
                types_before: w.value_types.clone(),
                uses_after: folded_uses(uses),
                types_after: planned_types(uses),
            };
            for (s, b) in built {
                m.install_index(w, s, b);
            }
            w.value_types.extend(types);
            bound.push(before);
        }
        drop(guards);
        Ok(Rebinding { bound, done: false })
    }

    /// The new configuration is in place: each reference's uses and value
    /// types become exactly the planned ones, in plan order (`get map`
    /// reports them; a value type only the old configuration required no
    /// longer constrains run-time changes).
    pub fn finish(mut self) {
        for b in &self.bound {
            let mut w = b.map.lock_writer();
            w.uses = b.uses_after.clone();
            w.value_types = b.types_after.clone();
        }
        self.done = true;
    }

    /// The new configuration will not run: each reference gets back the
    /// indexes, uses and value types it had before [`begin`](Self::begin)
    /// (entries changed meanwhile stay changed: every one of them suited
    /// the old configuration too).
    ///
    /// Every matcher made on the references since `begin` (the failed
    /// configuration's) must have been dropped: the indexes they read are
    /// removed.
    pub fn undo(mut self) {
        self.undo_now();
    }

    fn undo_now(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        for b in &self.bound {
            let mut w = b.map.lock_writer();
            b.map.truncate_indexes(&mut w, b.specs_before);
            w.uses = b.uses_before.clone();
            w.value_types = b.types_before.clone();
        }
    }
}

impl Drop for Rebinding {
    fn drop(&mut self) {
        self.undo_now();
    }
}

/// The uses `register_use` would have recorded, in order.
fn folded_uses(plan: &[PlannedUse]) -> Vec<PatternUse> {
    let mut out: Vec<PatternUse> = Vec::new();
    for p in plan {
        if let PlannedUse::Use(u) = p {
            let u = PatternUse {
                spec: u.spec.normalised(),
                values: u.values,
            };
            if !out.iter().any(|x| x.same_expression(&u)) {
                out.push(u);
            }
        }
    }
    out
}

/// The value types the plan requires, in order.
fn planned_types(plan: &[PlannedUse]) -> Vec<ValueType> {
    let mut out = Vec::new();
    for t in plan.iter().filter_map(PlannedUse::value_type) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}
