//! [`Matcher`]: the lock-free reader of one reference under one match
//! spec.

use super::{Inner, MapRef};
use crate::entry::Entry;
use crate::index::{MatchKind, MatchSpec, Snap};
use crate::keys::IpInput;
use crate::reply::{GetReply, RegmMatch};
use crate::value::ValueType;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
    pub(super) inner: Arc<Inner>,
    /// The index of `spec` in every snapshot's `derived`.
    pub(super) slot: usize,
    pub(super) spec: MatchSpec,
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
