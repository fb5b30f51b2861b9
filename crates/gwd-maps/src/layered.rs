//! Indexes that cannot be updated in place (Aho-Corasick automata, regex
//! sets, interval tables): an immutable base built from the entries in file
//! order, plus a small persistent delta.
//!
//! The delta is a [`PTree`] keyed by sequence number holding
//! * overrides of base entries (a new value, or a tombstone for a deletion),
//! * entries added since the base was built (always later in file order than
//!   every base entry, since sequence numbers only grow).
//!
//! A lookup asks the base for its matching positions in file order, skips
//! tombstones, applies overrides, and only when the base has no live match
//! scans the added entries. When the delta grows past
//! `max(64, sqrt(live entries))` the base is rebuilt from the live entries,
//! so a write costs O(log N) plus an amortised O(sqrt N) share of a rebuild.
//!
//! A bulk load appends its entries to a plain list instead of the delta and
//! rebuilds the base once at the end ([`Layered::rebuild`]).

use std::sync::Arc;

use crate::entry::EntryRef;
use crate::ptree::{Item, PTree};
use crate::regpat::{LitIndex, RegPat};

/// A static index over entries in file order.
pub(crate) trait Base: Sized {
    /// Precomputed per-entry data used to match delta additions.
    type Extra: Clone;
    /// What a lookup takes.
    type Query: ?Sized;
    /// Builds the base; `extras[i]` is entry `i`'s per-entry data where
    /// known (the base keeps it, or the entry was added since).
    fn build(entries: Vec<EntryRef>, extras: Vec<Option<Self::Extra>>, icase: bool) -> Self;
    fn entries(&self) -> &[EntryRef];
    /// Calls `f` with the positions (indexes into `entries`) that match, in
    /// increasing order, until `f` returns true.
    fn candidates(&self, q: &Self::Query, f: &mut dyn FnMut(usize) -> bool);
    fn extra_matches(x: &Self::Extra, key: &[u8], q: &Self::Query) -> bool;
    /// The per-entry data of the base entry at `pos`, where the base keeps it.
    fn extra_at(&self, _pos: usize) -> Option<&Self::Extra> {
        None
    }
}

#[derive(Clone)]
struct Delta<X> {
    seq: u64,
    entry: Option<EntryRef>,
    extra: Option<X>,
}

impl<X: Clone> Item for Delta<X> {
    fn seq(&self) -> u64 {
        self.seq
    }
}

pub(crate) struct Layered<B: Base> {
    base: Arc<B>,
    /// Highest sequence number in the base (0 when empty).
    base_max: u64,
    delta: PTree<Delta<B::Extra>>,
    /// Entries of a bulk load not yet in the base, in sequence order, all
    /// later than every entry of the base and the delta.
    bulk: Vec<(EntryRef, B::Extra)>,
    live: usize,
    icase: bool,
}

impl<B: Base> Clone for Layered<B> {
    fn clone(&self) -> Self {
        Layered {
            base: self.base.clone(),
            base_max: self.base_max,
            delta: self.delta.clone(),
            bulk: self.bulk.clone(),
            live: self.live,
            icase: self.icase,
        }
    }
}

impl<B: Base> Layered<B> {
    pub(crate) fn new(icase: bool) -> Self {
        Layered {
            base: Arc::new(B::build(Vec::new(), Vec::new(), icase)),
            base_max: 0,
            delta: PTree::default(),
            bulk: Vec::new(),
            live: 0,
            icase,
        }
    }

    pub(crate) fn icase(&self) -> bool {
        self.icase
    }

    fn base_pos(&self, seq: u64) -> Option<usize> {
        if seq > self.base_max {
            return None;
        }
        let ents = self.base.entries();
        let i = ents.partition_point(|e| e.seq() < seq);
        (ents.get(i).map(EntryRef::seq) == Some(seq)).then_some(i)
    }

    /// The earliest live matching entry.
    pub(crate) fn lookup(&self, q: &B::Query) -> Option<&EntryRef> {
        self.lookup_full(q).map(|(e, _)| e)
    }

    /// The earliest live matching entry, with its per-entry data when the
    /// base keeps it (or the entry was added since the base was built).
    pub(crate) fn lookup_full(&self, q: &B::Query) -> Option<(&EntryRef, Option<&B::Extra>)> {
        let mut found: Option<(&EntryRef, Option<&B::Extra>)> = None;
        let base = &*self.base;
        let ents = base.entries();
        let delta = &self.delta;
        let base_max = self.base_max;
        if !ents.is_empty() {
            base.candidates(q, &mut |pos| {
                let e = &ents[pos];
                if delta.is_empty() {
                    found = Some((e, base.extra_at(pos)));
                    return true;
                }
                match delta.get(e.seq(), e.seq()) {
                    None => {
                        found = Some((e, base.extra_at(pos)));
                        true
                    }
                    Some(d) => match &d.entry {
                        Some(new) => {
                            found = Some((new, base.extra_at(pos)));
                            true
                        }
                        None => false,
                    },
                }
            });
        }
        if found.is_some() {
            return found;
        }
        delta.scan_from(base_max + 1, 0, |_, d| {
            if let (Some(e), Some(x)) = (&d.entry, &d.extra)
                && B::extra_matches(x, e.key(), q)
            {
                found = Some((e, Some(x)));
                return true;
            }
            false
        });
        if found.is_none() {
            found = self
                .bulk
                .iter()
                .find(|(e, x)| B::extra_matches(x, e.key(), q))
                .map(|(e, x)| (e, Some(x)));
        }
        found
    }

    /// Adds `e`, later in file order than every entry present. A `bulk`
    /// addition waits in a list until [`rebuild`](Self::rebuild).
    pub(crate) fn insert(&mut self, e: &EntryRef, extra: B::Extra, bulk: bool) {
        let seq = e.seq();
        debug_assert!(seq > self.base_max);
        debug_assert!(self.bulk.last().is_none_or(|(b, _)| b.seq() < seq));
        if bulk {
            self.bulk.push((e.clone(), extra));
            self.live += 1;
            return;
        }
        self.flush_bulk();
        self.delta.insert(
            seq,
            Delta {
                seq,
                entry: Some(e.clone()),
                extra: Some(extra),
            },
        );
        self.live += 1;
        self.maybe_rebuild();
    }

    pub(crate) fn remove(&mut self, seq: u64) {
        self.flush_bulk();
        if self.base_pos(seq).is_some() {
            let d = Delta {
                seq,
                entry: None,
                extra: None,
            };
            if !self.delta.replace(seq, seq, d.clone()) {
                self.delta.insert(seq, d);
            }
        } else {
            self.delta.remove(seq, seq);
        }
        self.live -= 1;
        self.maybe_rebuild();
    }

    pub(crate) fn replace(&mut self, new: &EntryRef) {
        self.flush_bulk();
        let seq = new.seq();
        if self.base_pos(seq).is_some() {
            let d = Delta {
                seq,
                entry: Some(new.clone()),
                extra: None,
            };
            if !self.delta.replace(seq, seq, d.clone()) {
                self.delta.insert(seq, d);
            }
            self.maybe_rebuild();
        } else if let Some(old) = self.delta.get(seq, seq) {
            let d = Delta {
                seq,
                entry: Some(new.clone()),
                extra: old.extra.clone(),
            };
            self.delta.replace(seq, seq, d);
        }
    }

    fn threshold(&self) -> usize {
        (self.live as f64).sqrt() as usize * 2 + 64
    }

    fn maybe_rebuild(&mut self) {
        if self.delta.len() > self.threshold() {
            self.rebuild();
        }
    }

    /// Moves pending bulk additions into the base (not expected: every bulk
    /// load ends with a rebuild).
    fn flush_bulk(&mut self) {
        if !self.bulk.is_empty() {
            self.rebuild();
        }
    }

    /// Rebuilds the base from the live entries (also used after bulk loads).
    pub(crate) fn rebuild(&mut self) {
        if self.delta.is_empty() && self.bulk.is_empty() {
            return;
        }
        let mut live = Vec::with_capacity(self.live);
        let mut extras = Vec::with_capacity(self.live);
        for (pos, e) in self.base.entries().iter().enumerate() {
            let kept = match self.delta.get(e.seq(), e.seq()) {
                None => Some(e.clone()),
                Some(d) => d.entry.clone(),
            };
            if let Some(n) = kept {
                live.push(n);
                extras.push(self.base.extra_at(pos).cloned());
            }
        }
        self.delta.scan_from(self.base_max + 1, 0, |_, d| {
            if let Some(e) = &d.entry {
                live.push(e.clone());
                extras.push(d.extra.clone());
            }
            false
        });
        for (e, x) in std::mem::take(&mut self.bulk) {
            live.push(e);
            extras.push(Some(x));
        }
        self.base_max = live.last().map_or(0, EntryRef::seq);
        self.live = live.len();
        self.base = Arc::new(B::build(live, extras, self.icase));
        self.delta = PTree::default();
    }
}

// ---------------------------------------------------------------- sub

/// `sub`: an Aho-Corasick automaton over every key.
pub(crate) struct SubBase {
    ac: Option<aho_corasick::AhoCorasick>,
    entries: Vec<EntryRef>,
    icase: bool,
}

pub(crate) fn contains(hay: &[u8], needle: &[u8], icase: bool) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    if icase {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    } else {
        hay.windows(needle.len()).any(|w| w == needle)
    }
}

impl Base for SubBase {
    /// Whether the key is compared ignoring ASCII case.
    type Extra = bool;
    type Query = [u8];

    fn build(entries: Vec<EntryRef>, _extras: Vec<Option<bool>>, icase: bool) -> Self {
        // A build failure (automaton too large) degrades to a list scan.
        let ac = if entries.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(icase)
                .match_kind(aho_corasick::MatchKind::Standard)
                .build(entries.iter().map(EntryRef::key))
                .ok()
        };
        SubBase { ac, entries, icase }
    }
    fn entries(&self) -> &[EntryRef] {
        &self.entries
    }
    fn candidates(&self, q: &Self::Query, f: &mut dyn FnMut(usize) -> bool) {
        let Some(ac) = &self.ac else {
            for (pos, e) in self.entries.iter().enumerate() {
                if contains(q, e.key(), self.icase) && f(pos) {
                    return;
                }
            }
            return;
        };
        // Usually the earliest match is live: find it without allocating.
        let Some(min) = ac
            .find_overlapping_iter(q)
            .map(|m| m.pattern().as_usize())
            .min()
        else {
            return;
        };
        if f(min) {
            return;
        }
        let mut ids: Vec<usize> = ac
            .find_overlapping_iter(q)
            .map(|m| m.pattern().as_usize())
            .filter(|&id| id > min)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if f(id) {
                return;
            }
        }
    }
    fn extra_matches(icase: &bool, key: &[u8], q: &[u8]) -> bool {
        contains(q, key, *icase)
    }
}

// ---------------------------------------------------------------- reg

/// `reg` (`CAPS == false`) and `regm` (`CAPS == true`): every entry's
/// validated pattern, compiled on first use, and an index of their required
/// literals that gives the candidates of an input in file order (see
/// [`crate::regpat`]).
pub(crate) struct RegIndex<const CAPS: bool> {
    entries: Vec<EntryRef>,
    pats: Vec<Arc<RegPat>>,
    index: LitIndex,
}

/// `reg`.
pub(crate) type RegBase = RegIndex<false>;
/// `regm`: the same, with capture groups compiled.
pub(crate) type RegmBase = RegIndex<true>;

impl<const CAPS: bool> Base for RegIndex<CAPS> {
    type Extra = Arc<RegPat>;
    type Query = [u8];

    fn build(entries: Vec<EntryRef>, extras: Vec<Option<Self::Extra>>, icase: bool) -> Self {
        let pats: Vec<Arc<RegPat>> = entries
            .iter()
            .zip(extras.into_iter().chain(std::iter::repeat(None)))
            .map(|(e, x)| {
                x.unwrap_or_else(|| {
                    Arc::new(RegPat::new(e.key(), icase, CAPS).expect("validated when added"))
                })
            })
            .collect();
        let index = LitIndex::build(pats.iter().map(|p| &**p), icase);
        RegIndex {
            entries,
            pats,
            index,
        }
    }
    fn entries(&self) -> &[EntryRef] {
        &self.entries
    }
    fn candidates(&self, q: &[u8], f: &mut dyn FnMut(usize) -> bool) {
        self.index.candidates(q, &mut |pos| {
            self.pats[pos].is_match(self.entries[pos].key(), q) && f(pos)
        });
    }
    fn extra_matches(x: &Self::Extra, key: &[u8], q: &[u8]) -> bool {
        x.is_match(key, q)
    }
    fn extra_at(&self, pos: usize) -> Option<&Self::Extra> {
        self.pats.get(pos)
    }
}

// ---------------------------------------------------------------- int ranges

/// Covering lists are cut at this many entries; past it a lookup whose listed
/// candidates are all deleted falls back to a scan.
const COVER_MAX: usize = 4;

/// `int`/`len` ranges: elementary intervals, each with the first few covering
/// ranges in file order.
pub(crate) struct RangeBase {
    entries: Vec<EntryRef>,
    ranges: Vec<crate::keys::IntKey>,
    /// Start of each elementary interval (sorted); interval i is
    /// `[starts[i], starts[i+1])`.
    starts: Vec<i128>,
    cover: Vec<(Box<[u32]>, bool)>,
}

impl Base for RangeBase {
    type Extra = crate::keys::IntKey;
    type Query = i64;

    fn build(entries: Vec<EntryRef>, extras: Vec<Option<Self::Extra>>, _icase: bool) -> Self {
        let ranges: Vec<_> = entries
            .iter()
            .zip(extras.into_iter().chain(std::iter::repeat(None)))
            .map(|(e, x)| {
                x.unwrap_or_else(|| crate::keys::parse_int_key(e.key()).expect("validated"))
            })
            .collect();
        let mut events: Vec<(i128, bool, u32)> = Vec::with_capacity(ranges.len() * 2);
        for (i, r) in ranges.iter().enumerate() {
            events.push((i128::from(r.lo), true, i as u32));
            events.push((i128::from(r.hi) + 1, false, i as u32));
        }
        events.sort_unstable_by_key(|&(p, _, _)| p);
        let mut active = std::collections::BTreeSet::new();
        let mut starts = Vec::new();
        let mut cover = Vec::new();
        let mut i = 0;
        while i < events.len() {
            let p = events[i].0;
            while i < events.len() && events[i].0 == p {
                let (_, start, idx) = events[i];
                if start {
                    active.insert(idx);
                } else {
                    active.remove(&idx);
                }
                i += 1;
            }
            let list: Box<[u32]> = active.iter().take(COVER_MAX).copied().collect();
            starts.push(p);
            cover.push((list, active.len() > COVER_MAX));
        }
        RangeBase {
            entries,
            ranges,
            starts,
            cover,
        }
    }
    fn entries(&self) -> &[EntryRef] {
        &self.entries
    }
    fn candidates(&self, q: &i64, f: &mut dyn FnMut(usize) -> bool) {
        let v = i128::from(*q);
        let i = self.starts.partition_point(|&s| s <= v);
        if i == 0 {
            return;
        }
        let (list, more) = &self.cover[i - 1];
        for &pos in list.iter() {
            if f(pos as usize) {
                return;
            }
        }
        if *more {
            let last = *list.last().expect("non-empty when truncated") as usize;
            for (pos, r) in self.ranges.iter().enumerate().skip(last + 1) {
                if r.contains(*q) && f(pos) {
                    return;
                }
            }
        }
    }
    fn extra_matches(x: &Self::Extra, _key: &[u8], q: &i64) -> bool {
        x.contains(*q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(key: &str, icase: bool) -> Arc<RegPat> {
        Arc::new(RegPat::new(key.as_bytes(), icase, false).unwrap())
    }

    /// Loads `keys` as one bulk load (sequence numbers 1, 2, ...).
    fn load(keys: &[&str], icase: bool) -> Layered<RegBase> {
        let mut l = Layered::<RegBase>::new(icase);
        for (i, k) in keys.iter().enumerate() {
            let e = EntryRef::new(i as u64 + 1, k.as_bytes(), b"");
            l.insert(&e, pat(k, icase), true);
        }
        l.rebuild();
        l
    }

    fn first(l: &Layered<RegBase>, input: &str) -> Option<String> {
        l.lookup(input.as_bytes())
            .map(|e| String::from_utf8_lossy(e.key()).into_owned())
    }

    #[test]
    fn reg_first_line_wins_with_and_without_literals() {
        // Patterns with a required literal and patterns without one
        // (always candidates) interleave in file order.
        let keys = [
            r"^/api/v[0-9]+/tenant1/",
            r"^/[a-z]+/v2/",
            r"tenant1",
            r"^/api/",
            r".*",
        ];
        let l = load(&keys, false);
        assert_eq!(first(&l, "/api/v2/tenant1/x").as_deref(), Some(keys[0]));
        assert_eq!(first(&l, "/api/v2/tenant2/x").as_deref(), Some(keys[1]));
        assert_eq!(first(&l, "/x/v3/tenant1").as_deref(), Some(keys[2]));
        assert_eq!(first(&l, "/api/v3/").as_deref(), Some(keys[3]));
        assert_eq!(first(&l, "").as_deref(), Some(keys[4]));
        // -i: patterns and inputs compared ignoring ASCII case.
        let l = load(&[r"^/API/V[0-9]+/Tenant1/", r"shop\.example$"], true);
        assert_eq!(
            first(&l, "/api/v2/TENANT1/").as_deref(),
            Some(r"^/API/V[0-9]+/Tenant1/")
        );
        assert_eq!(
            first(&l, "WWW.SHOP.EXAMPLE").as_deref(),
            Some(r"shop\.example$")
        );
        let l = load(&[r"^/API/"], false);
        assert_eq!(first(&l, "/api/"), None);
    }

    #[test]
    fn reg_patterns_compile_on_first_use_and_survive_rebuilds() {
        let keys: Vec<String> = (0..100).map(|i| format!(r"^/user-{i}-[a-z]+$")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut l = load(&refs, false);
        let compiled = |l: &Layered<RegBase>| {
            (0..100)
                .filter(|&i| l.base.extra_at(i).unwrap().is_compiled())
                .collect::<Vec<_>>()
        };
        assert!(compiled(&l).is_empty(), "nothing compiled at load");
        assert_eq!(first(&l, "/user-42-abc").as_deref(), Some(refs[42]));
        // Only the patterns whose literal occurs were compiled: "/user-42-"
        // also holds "/user-4" but not "/user-4-".
        assert_eq!(compiled(&l), vec![42]);
        assert_eq!(first(&l, "/user-42-"), None);
        // A rebuild keeps compiled patterns.
        l.remove(1);
        l.rebuild();
        assert!(l.base.extra_at(41).unwrap().is_compiled());
        assert_eq!(first(&l, "/user-0-a"), None, "deleted");
    }

    #[test]
    fn reg_runtime_updates_keep_file_order() {
        let keys = [r"b", r"a", r"^x"];
        let mut l = load(&keys, false);
        // Added later: after every loaded line, even when it matches first.
        let add = |l: &mut Layered<RegBase>, seq: u64, k: &str| {
            l.insert(&EntryRef::new(seq, k.as_bytes(), b""), pat(k, false), false);
        };
        add(&mut l, 10, r"ab");
        add(&mut l, 11, r"z");
        assert_eq!(first(&l, "ab").as_deref(), Some("b"));
        assert_eq!(first(&l, "zz").as_deref(), Some("z"));
        // Deleting a base line uncovers the next candidate; then an added one.
        l.remove(1);
        assert_eq!(first(&l, "ab").as_deref(), Some("a"));
        l.remove(2);
        assert_eq!(first(&l, "ab").as_deref(), Some("ab"));
        // A new value keeps the line's place and pattern.
        let set = EntryRef::new(3, b"^x", b"new");
        l.replace(&set);
        assert_eq!(l.lookup(b"xy").unwrap().value(), b"new");
        // Through enough writes to rebuild the base more than once.
        for seq in 100..400 {
            add(&mut l, seq, &format!("^k{seq}$"));
        }
        for seq in (100..400).step_by(2) {
            l.remove(seq);
        }
        assert_eq!(first(&l, "k101").as_deref(), Some("^k101$"));
        assert_eq!(first(&l, "k102"), None);
        assert_eq!(l.lookup(b"xy").unwrap().value(), b"new");
        assert_eq!(first(&l, "ab").as_deref(), Some("ab"));
    }

    #[test]
    fn bulk_entries_are_seen_before_the_rebuild() {
        let mut l = Layered::<RegBase>::new(false);
        l.insert(&EntryRef::new(1, b"a", b""), pat("a", false), true);
        l.insert(&EntryRef::new(2, b"b", b""), pat("b", false), true);
        assert_eq!(first(&l, "ba").as_deref(), Some("a"));
        // A write that is not bulk moves them to the base first.
        l.remove(1);
        assert_eq!(first(&l, "ba").as_deref(), Some("b"));
        assert_eq!(l.base.entries().len(), 2);
    }
}
