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

use std::sync::Arc;

use crate::entry::EntryRef;
use crate::ptree::{Item, PTree};

/// A static index over entries in file order.
pub(crate) trait Base: Sized {
    /// Precomputed per-entry data used to match delta additions.
    type Extra: Clone;
    /// What a lookup takes.
    type Query: ?Sized;
    fn build(entries: Vec<EntryRef>, icase: bool) -> Self;
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
    live: usize,
    icase: bool,
}

impl<B: Base> Clone for Layered<B> {
    fn clone(&self) -> Self {
        Layered {
            base: self.base.clone(),
            base_max: self.base_max,
            delta: self.delta.clone(),
            live: self.live,
            icase: self.icase,
        }
    }
}

impl<B: Base> Layered<B> {
    pub(crate) fn new(icase: bool) -> Self {
        Layered {
            base: Arc::new(B::build(Vec::new(), icase)),
            base_max: 0,
            delta: PTree::default(),
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
        found
    }

    pub(crate) fn insert(&mut self, e: &EntryRef, extra: B::Extra, bulk: bool) {
        let seq = e.seq();
        debug_assert!(seq > self.base_max);
        self.delta.insert(
            seq,
            Delta {
                seq,
                entry: Some(e.clone()),
                extra: Some(extra),
            },
        );
        self.live += 1;
        if !bulk {
            self.maybe_rebuild();
        }
    }

    pub(crate) fn remove(&mut self, seq: u64) {
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

    /// Rebuilds the base from the live entries (also used after bulk loads).
    pub(crate) fn rebuild(&mut self) {
        if self.delta.is_empty() {
            return;
        }
        let mut live = Vec::with_capacity(self.live);
        for e in self.base.entries() {
            match self.delta.get(e.seq(), e.seq()) {
                None => live.push(e.clone()),
                Some(d) => {
                    if let Some(n) = &d.entry {
                        live.push(n.clone());
                    }
                }
            }
        }
        self.delta.scan_from(self.base_max + 1, 0, |_, d| {
            if let Some(e) = &d.entry {
                live.push(e.clone());
            }
            false
        });
        self.base_max = live.last().map_or(0, EntryRef::seq);
        self.live = live.len();
        self.base = Arc::new(B::build(live, self.icase));
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

    fn build(entries: Vec<EntryRef>, icase: bool) -> Self {
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

/// `reg`: a `RegexSet` over every key.
pub(crate) struct RegBase {
    set: Option<regex::bytes::RegexSet>,
    /// Used only when the combined set could not be built (too large).
    list: Vec<regex::bytes::Regex>,
    entries: Vec<EntryRef>,
}

impl Base for RegBase {
    type Extra = Arc<regex::bytes::Regex>;
    type Query = [u8];

    fn build(entries: Vec<EntryRef>, icase: bool) -> Self {
        if entries.is_empty() {
            return RegBase {
                set: None,
                list: Vec::new(),
                entries,
            };
        }
        let pats: Vec<String> = entries
            .iter()
            .map(|e| {
                crate::keys::pcre_compat(std::str::from_utf8(e.key()).unwrap_or_default())
                    .into_owned()
            })
            .collect();
        let set = regex::bytes::RegexSetBuilder::new(&pats)
            .unicode(false)
            .case_insensitive(icase)
            .size_limit(1 << 30)
            .dfa_size_limit(1 << 24)
            .build()
            .ok();
        let list = if set.is_some() {
            Vec::new()
        } else {
            entries
                .iter()
                .map(|e| crate::keys::compile_regex(e.key(), icase).expect("validated one by one"))
                .collect()
        };
        RegBase { set, list, entries }
    }
    fn entries(&self) -> &[EntryRef] {
        &self.entries
    }
    fn candidates(&self, q: &[u8], f: &mut dyn FnMut(usize) -> bool) {
        let Some(set) = &self.set else {
            for (pos, r) in self.list.iter().enumerate() {
                if r.is_match(q) && f(pos) {
                    return;
                }
            }
            return;
        };
        for id in set.matches(q).iter() {
            if f(id) {
                return;
            }
        }
    }
    fn extra_matches(x: &Self::Extra, _key: &[u8], q: &[u8]) -> bool {
        x.is_match(q)
    }
}

// ---------------------------------------------------------------- regm

/// `regm`: a `RegexSet` finds the first matching line, and each entry keeps
/// its own compiled regex for the capture groups.
pub(crate) struct RegmBase {
    set: RegBase,
    regs: Vec<Arc<regex::bytes::Regex>>,
}

impl Base for RegmBase {
    type Extra = Arc<regex::bytes::Regex>;
    type Query = [u8];

    fn build(entries: Vec<EntryRef>, icase: bool) -> Self {
        let regs = entries
            .iter()
            .map(|e| {
                Arc::new(crate::keys::compile_regex(e.key(), icase).expect("validated one by one"))
            })
            .collect();
        RegmBase {
            set: RegBase::build(entries, icase),
            regs,
        }
    }
    fn entries(&self) -> &[EntryRef] {
        self.set.entries()
    }
    fn candidates(&self, q: &[u8], f: &mut dyn FnMut(usize) -> bool) {
        self.set.candidates(q, f);
    }
    fn extra_matches(x: &Self::Extra, _key: &[u8], q: &[u8]) -> bool {
        x.is_match(q)
    }
    fn extra_at(&self, pos: usize) -> Option<&Self::Extra> {
        self.regs.get(pos)
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

    fn build(entries: Vec<EntryRef>, _icase: bool) -> Self {
        let ranges: Vec<_> = entries
            .iter()
            .map(|e| crate::keys::parse_int_key(e.key()).expect("validated"))
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
