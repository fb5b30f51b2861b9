//! Per-(match kind, flags) indexes and the snapshot that groups them.

use std::sync::Arc;

use crate::entry::EntryRef;
use crate::hash;
use crate::keys::{self, IntKey, IpInput, IpKey};
use crate::layered::{Layered, RangeBase, RegBase, RegmBase, SubBase};
use crate::ptree::{Item, PTree};
use crate::regpat::RegPat;

/// How a sample is compared with the patterns of a reference (`-m <kind>`,
/// `map_<kind>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// Exact string. First line in file order among equal keys.
    Str,
    /// Key is a prefix of the input. Longest key wins (first line among
    /// equal keys); with `-i`, first matching line in file order.
    Beg,
    /// Key is a suffix of the input. First matching line in file order.
    End,
    /// Key occurs anywhere in the input. First matching line in file order.
    Sub,
    /// Key occurs bounded by the input's ends or `/ ? . :`. First matching
    /// line in file order.
    Dom,
    /// Key occurs bounded by the input's ends or `/ ?`. First matching line in
    /// file order.
    Dir,
    /// Regular expression search (unanchored). First matching line in file
    /// order.
    Reg,
    /// `map_regm`: like [`MatchKind::Reg`], and the match's capture groups
    /// can be substituted into the value (`\1`..`\9`, see
    /// [`Matcher::lookup_regm`](crate::Matcher::lookup_regm)). Maps only.
    Regm,
    /// Address in network, longest prefix first (see the crate docs for the
    /// IPv4/IPv6 order).
    Ip,
    /// Integer in range. First matching line in file order.
    Int,
    /// Input length in range. First matching line in file order.
    Len,
    /// Matches whenever a sample exists; patterns are ignored.
    Found,
}

impl MatchKind {
    /// Every kind, in a fixed order.
    pub const ALL: [MatchKind; 12] = [
        MatchKind::Str,
        MatchKind::Beg,
        MatchKind::End,
        MatchKind::Sub,
        MatchKind::Dom,
        MatchKind::Dir,
        MatchKind::Reg,
        MatchKind::Regm,
        MatchKind::Ip,
        MatchKind::Int,
        MatchKind::Len,
        MatchKind::Found,
    ];

    /// HAProxy's name (`str`, `beg`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Str => "str",
            MatchKind::Beg => "beg",
            MatchKind::End => "end",
            MatchKind::Sub => "sub",
            MatchKind::Dom => "dom",
            MatchKind::Dir => "dir",
            MatchKind::Reg => "reg",
            MatchKind::Regm => "regm",
            MatchKind::Ip => "ip",
            MatchKind::Int => "int",
            MatchKind::Len => "len",
            MatchKind::Found => "found",
        }
    }

    /// Parses HAProxy's name.
    ///
    /// ```
    /// use gwd_maps::MatchKind;
    /// assert_eq!(MatchKind::from_name("dom"), Some(MatchKind::Dom));
    /// assert_eq!(MatchKind::from_name("bogus"), None);
    /// ```
    pub fn from_name(s: &str) -> Option<MatchKind> {
        MatchKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether `-i` changes anything for this kind.
    pub fn supports_icase(self) -> bool {
        matches!(
            self,
            MatchKind::Str
                | MatchKind::Beg
                | MatchKind::End
                | MatchKind::Sub
                | MatchKind::Dom
                | MatchKind::Dir
                | MatchKind::Reg
                | MatchKind::Regm
        )
    }
}

/// One use of a reference: a match kind and the `-i` flag. Every
/// [`Matcher`](crate::Matcher) with the same spec on the same reference shares
/// one index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatchSpec {
    /// The comparison.
    pub kind: MatchKind,
    /// Ignore ASCII case (`-i`). Normalised to false for kinds it does not
    /// affect.
    pub icase: bool,
}

impl MatchSpec {
    /// Case-sensitive spec.
    pub fn new(kind: MatchKind) -> Self {
        MatchSpec { kind, icase: false }
    }
    /// Case-insensitive spec (`-i`), where the kind supports it.
    pub fn icase(kind: MatchKind) -> Self {
        MatchSpec {
            kind,
            icase: kind.supports_icase(),
        }
    }
    pub(crate) fn normalised(self) -> Self {
        MatchSpec {
            kind: self.kind,
            icase: self.icase && self.kind.supports_icase(),
        }
    }
    /// Whether HAProxy serves this spec from a tree (`idx=tree` in
    /// `get map`) rather than a list.
    pub fn haproxy_tree(self) -> bool {
        !self.icase && matches!(self.kind, MatchKind::Str | MatchKind::Beg | MatchKind::Ip)
    }
}

impl Item for EntryRef {
    fn seq(&self) -> u64 {
        EntryRef::seq(self)
    }
}

/// Key data parsed once per entry and spec, before anything changes.
pub(crate) enum Prep {
    None,
    Int(IntKey),
    Ip(IpKey),
    Reg(Arc<RegPat>),
}

/// Validates `key` for `spec`; the error text says why it is rejected.
/// Regexes are parsed (every error is found here) but compiled only when a
/// lookup first needs them (see [`RegPat`]).
pub(crate) fn prepare(spec: MatchSpec, key: &[u8]) -> Result<Prep, String> {
    match spec.kind {
        MatchKind::Int | MatchKind::Len => keys::parse_int_key(key).map(Prep::Int),
        MatchKind::Ip => keys::parse_ip_key(key).map(Prep::Ip),
        MatchKind::Reg | MatchKind::Regm => {
            RegPat::new(key, spec.icase, spec.kind == MatchKind::Regm)
                .map(|r| Prep::Reg(Arc::new(r)))
        }
        _ => Ok(Prep::None),
    }
}

/// Distinct key lengths with their counts, sorted by length. Copied on
/// change (the number of distinct lengths is small).
#[derive(Clone, Default)]
pub(crate) struct LenSet(Arc<[(u32, u32)]>);

impl LenSet {
    fn add(&mut self, len: usize) {
        let len = len as u32;
        let mut v = self.0.to_vec();
        match v.binary_search_by_key(&len, |p| p.0) {
            Ok(i) => v[i].1 += 1,
            Err(i) => v.insert(i, (len, 1)),
        }
        self.0 = v.into();
    }
    fn remove(&mut self, len: usize) {
        let len = len as u32;
        let mut v = self.0.to_vec();
        if let Ok(i) = v.binary_search_by_key(&len, |p| p.0) {
            v[i].1 -= 1;
            if v[i].1 == 0 {
                v.remove(i);
            }
        }
        self.0 = v.into();
    }
    fn max(&self) -> usize {
        self.0.last().map_or(0, |p| p.0 as usize)
    }
}

/// Hashes of the input's prefixes (or suffixes) at the lengths present in a
/// [`LenSet`], kept on the stack for the common case.
struct Probes {
    buf: [(u32, u64); 24],
    n: usize,
    spill: Vec<(u32, u64)>,
}

impl Probes {
    fn new() -> Self {
        Probes {
            buf: [(0, 0); 24],
            n: 0,
            spill: Vec::new(),
        }
    }
    fn push(&mut self, p: (u32, u64)) {
        if self.n < self.buf.len() {
            self.buf[self.n] = p;
            self.n += 1;
        } else {
            self.spill.push(p);
        }
    }
    fn iter(&self) -> impl DoubleEndedIterator<Item = &(u32, u64)> {
        self.buf[..self.n].iter().chain(self.spill.iter())
    }
    /// Hashes `bytes` (already oriented) stopping at each length in `lens`.
    fn collect(seed: u64, lens: &LenSet, bytes: impl Iterator<Item = u8>, fold: bool) -> Self {
        let mut p = Probes::new();
        let mut want = lens.0.iter().map(|x| x.0).peekable();
        let mut h = hash::start(seed);
        if want.peek() == Some(&0) {
            p.push((0, hash::finish(h)));
            want.next();
        }
        let mut n = 0u32;
        for b in bytes {
            let Some(&next) = want.peek() else { break };
            h = hash::step(h, if fold { b.to_ascii_lowercase() } else { b });
            n += 1;
            if n == next {
                p.push((n, hash::finish(h)));
                want.next();
            }
        }
        p
    }
}

fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn min_seq<'a>(a: Option<&'a EntryRef>, b: Option<&'a EntryRef>) -> Option<&'a EntryRef> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.seq() < x.seq() { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

#[derive(Clone)]
pub(crate) struct IpLeaf {
    v6: bool,
    len: u8,
    /// The network as two halves: a `u128` would force 16-byte alignment and
    /// 16 more bytes per slot.
    net: [u64; 2],
    e: EntryRef,
}

fn split(net: u128) -> [u64; 2] {
    [(net >> 64) as u64, net as u64]
}

impl Item for IpLeaf {
    fn seq(&self) -> u64 {
        self.e.seq()
    }
}

fn ip_hash(seed: u64, v6: bool, len: u8, net: u128) -> u64 {
    hash::int(
        seed ^ (u64::from(len) << 1 | u64::from(v6)),
        (net as u64) ^ ((net >> 64) as u64).rotate_left(29),
    )
}

#[derive(Clone)]
pub(crate) struct IpIndex {
    tree: PTree<IpLeaf>,
    /// Entries per prefix length: `[0..=32]` IPv4, `[33..=161]` IPv6.
    counts: Arc<[u32; 162]>,
    /// Non-contiguous IPv4 masks `(net, mask, entry)`, in file order.
    odd: Arc<Vec<(u32, u32, EntryRef)>>,
}

impl IpIndex {
    fn new() -> Self {
        IpIndex {
            tree: PTree::default(),
            counts: Arc::new([0; 162]),
            odd: Arc::new(Vec::new()),
        }
    }

    fn slot(v6: bool, len: u8) -> usize {
        if v6 {
            33 + usize::from(len)
        } else {
            usize::from(len)
        }
    }

    fn insert(&mut self, seed: u64, k: IpKey, e: &EntryRef) {
        match k {
            IpKey::V4 { net, len } => self.insert_net(seed, false, len, u128::from(net), e),
            IpKey::V6 { net, len } => self.insert_net(seed, true, len, net, e),
            IpKey::V4Odd { net, mask } => {
                let odd = Arc::make_mut(&mut self.odd);
                let i = odd.partition_point(|x| x.2.seq() < e.seq());
                odd.insert(i, (net, mask, e.clone()));
            }
        }
    }

    fn insert_net(&mut self, seed: u64, v6: bool, len: u8, net: u128, e: &EntryRef) {
        Arc::make_mut(&mut self.counts)[Self::slot(v6, len)] += 1;
        self.tree.insert(
            ip_hash(seed, v6, len, net),
            IpLeaf {
                v6,
                len,
                net: split(net),
                e: e.clone(),
            },
        );
    }

    fn remove(&mut self, seed: u64, k: IpKey, seq: u64) {
        let (v6, len, net) = match k {
            IpKey::V4 { net, len } => (false, len, u128::from(net)),
            IpKey::V6 { net, len } => (true, len, net),
            IpKey::V4Odd { .. } => {
                Arc::make_mut(&mut self.odd).retain(|x| x.2.seq() != seq);
                return;
            }
        };
        if self.tree.remove(ip_hash(seed, v6, len, net), seq).is_some() {
            Arc::make_mut(&mut self.counts)[Self::slot(v6, len)] -= 1;
        }
    }

    fn replace(&mut self, seed: u64, k: IpKey, new: &EntryRef) {
        let seq = new.seq();
        let (v6, len, net) = match k {
            IpKey::V4 { net, len } => (false, len, u128::from(net)),
            IpKey::V6 { net, len } => (true, len, net),
            IpKey::V4Odd { .. } => {
                for x in Arc::make_mut(&mut self.odd).iter_mut() {
                    if x.2.seq() == seq {
                        x.2 = new.clone();
                    }
                }
                return;
            }
        };
        self.tree.replace(
            ip_hash(seed, v6, len, net),
            seq,
            IpLeaf {
                v6,
                len,
                net: split(net),
                e: new.clone(),
            },
        );
    }

    fn longest(&self, seed: u64, v6: bool, addr: u128) -> Option<&EntryRef> {
        let (base, max) = if v6 { (33, 128u8) } else { (0, 32u8) };
        for len in (0..=max).rev() {
            if self.counts[base + usize::from(len)] == 0 {
                continue;
            }
            let net = if v6 {
                addr & keys::mask6(len)
            } else {
                u128::from(addr as u32 & keys::mask4(len))
            };
            let hit = self.tree.first_with(ip_hash(seed, v6, len, net), |l| {
                l.v6 == v6 && l.len == len && l.net == split(net)
            });
            if let Some(l) = hit {
                return Some(&l.e);
            }
        }
        None
    }

    fn odd_match(&self, a: u32) -> Option<&EntryRef> {
        self.odd.iter().find(|x| a & x.1 == x.0).map(|x| &x.2)
    }

    /// Returns the entry and whether it came from a tree (vs. the list).
    fn lookup(&self, seed: u64, input: IpInput) -> Option<(&EntryRef, bool)> {
        match input {
            IpInput::V4(a) => {
                if let Some(e) = self.longest(seed, false, u128::from(a)) {
                    return Some((e, true));
                }
                if let Some(e) = self.longest(seed, true, keys::v4_mapped(a)) {
                    return Some((e, true));
                }
                self.odd_match(a).map(|e| (e, false))
            }
            IpInput::V6(a) => {
                if let Some(e) = self.longest(seed, true, a) {
                    return Some((e, true));
                }
                let v4 = keys::v6_to_v4(a)?;
                if let Some(e) = self.longest(seed, false, u128::from(v4)) {
                    return Some((e, true));
                }
                self.odd_match(v4).map(|e| (e, false))
            }
        }
    }
}

/// One index of a version, for one [`MatchSpec`].
#[derive(Clone)]
pub(crate) enum Derived {
    /// Served by the snapshot's key tree.
    Str,
    /// Served by the key tree, probing the key lengths present.
    Beg(LenSet),
    /// `str -i` (`prefix == false`) and `beg -i`: a tree of folded keys.
    Folded {
        tree: PTree<EntryRef>,
        lens: LenSet,
        prefix: bool,
    },
    /// `end`: a tree of keys hashed last byte first.
    End {
        tree: PTree<EntryRef>,
        lens: LenSet,
        fold: bool,
    },
    /// `dom`/`dir`: a tree of keys without outer delimiters.
    Delim {
        tree: PTree<EntryRef>,
        lens: LenSet,
        fold: bool,
        delims: &'static [u8],
    },
    Sub(Layered<SubBase>),
    Reg(Layered<RegBase>),
    Regm(Layered<RegmBase>),
    Int {
        exact: PTree<EntryRef>,
        ranges: Layered<RangeBase>,
        len: bool,
    },
    Ip(IpIndex),
    Found,
}

fn int_order(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

impl Derived {
    pub(crate) fn new(spec: MatchSpec) -> Self {
        let fold = spec.icase;
        match spec.kind {
            MatchKind::Str if !fold => Derived::Str,
            MatchKind::Beg if !fold => Derived::Beg(LenSet::default()),
            MatchKind::Str | MatchKind::Beg => Derived::Folded {
                tree: PTree::default(),
                lens: LenSet::default(),
                prefix: spec.kind == MatchKind::Beg,
            },
            MatchKind::End => Derived::End {
                tree: PTree::default(),
                lens: LenSet::default(),
                fold,
            },
            MatchKind::Dom | MatchKind::Dir => Derived::Delim {
                tree: PTree::default(),
                lens: LenSet::default(),
                fold,
                delims: if spec.kind == MatchKind::Dom {
                    keys::DOM_DELIMS
                } else {
                    keys::DIR_DELIMS
                },
            },
            MatchKind::Sub => Derived::Sub(Layered::new(fold)),
            MatchKind::Reg => Derived::Reg(Layered::new(fold)),
            MatchKind::Regm => Derived::Regm(Layered::new(fold)),
            MatchKind::Int | MatchKind::Len => Derived::Int {
                exact: PTree::default(),
                ranges: Layered::new(false),
                len: spec.kind == MatchKind::Len,
            },
            MatchKind::Ip => Derived::Ip(IpIndex::new()),
            MatchKind::Found => Derived::Found,
        }
    }

    /// Adds `e` (already validated into `prep`).
    pub(crate) fn insert(&mut self, seed: u64, e: &EntryRef, prep: Prep, bulk: bool) {
        let key = e.key();
        match self {
            Derived::Str | Derived::Found => {}
            Derived::Beg(lens) => lens.add(key.len()),
            Derived::Folded { tree, lens, .. } => {
                lens.add(key.len());
                tree.insert(hash::bytes_folded(seed, key), e.clone());
            }
            Derived::End { tree, lens, fold } => {
                lens.add(key.len());
                tree.insert(hash::bytes_rev(seed, key, *fold), e.clone());
            }
            Derived::Delim {
                tree,
                lens,
                fold,
                delims,
            } => {
                let k = keys::strip_delims(key, delims);
                if !k.is_empty() {
                    lens.add(k.len());
                    tree.insert(delim_hash(seed, k, *fold), e.clone());
                }
            }
            Derived::Sub(l) => {
                let icase = l.icase();
                l.insert(e, icase, bulk);
            }
            Derived::Reg(l) => {
                let re = match prep {
                    Prep::Reg(r) => r,
                    _ => Arc::new(RegPat::new(key, l.icase(), false).expect("validated regex")),
                };
                l.insert(e, re, bulk);
            }
            Derived::Regm(l) => {
                let re = match prep {
                    Prep::Reg(r) => r,
                    _ => Arc::new(RegPat::new(key, l.icase(), true).expect("validated regex")),
                };
                l.insert(e, re, bulk);
            }
            Derived::Int { exact, ranges, .. } => {
                let k = match prep {
                    Prep::Int(k) => k,
                    _ => keys::parse_int_key(key).expect("validated int"),
                };
                if k.is_exact() {
                    exact.insert(int_order(k.lo), e.clone());
                } else {
                    ranges.insert(e, k, bulk);
                }
            }
            Derived::Ip(ip) => {
                let k = match prep {
                    Prep::Ip(k) => k,
                    _ => keys::parse_ip_key(key).expect("validated ip"),
                };
                ip.insert(seed, k, e);
            }
        }
    }

    /// Finishes a bulk insertion (rebuilds static bases once).
    pub(crate) fn finish_bulk(&mut self) {
        match self {
            Derived::Sub(l) => l.rebuild(),
            Derived::Reg(l) => l.rebuild(),
            Derived::Regm(l) => l.rebuild(),
            Derived::Int { ranges, .. } => ranges.rebuild(),
            _ => {}
        }
    }

    pub(crate) fn remove(&mut self, seed: u64, e: &EntryRef) {
        let key = e.key();
        let seq = e.seq();
        match self {
            Derived::Str | Derived::Found => {}
            Derived::Beg(lens) => lens.remove(key.len()),
            Derived::Folded { tree, lens, .. } => {
                if tree.remove(hash::bytes_folded(seed, key), seq).is_some() {
                    lens.remove(key.len());
                }
            }
            Derived::End { tree, lens, fold } => {
                if tree
                    .remove(hash::bytes_rev(seed, key, *fold), seq)
                    .is_some()
                {
                    lens.remove(key.len());
                }
            }
            Derived::Delim {
                tree,
                lens,
                fold,
                delims,
            } => {
                let k = keys::strip_delims(key, delims);
                if !k.is_empty() && tree.remove(delim_hash(seed, k, *fold), seq).is_some() {
                    lens.remove(k.len());
                }
            }
            Derived::Sub(l) => l.remove(seq),
            Derived::Reg(l) => l.remove(seq),
            Derived::Regm(l) => l.remove(seq),
            Derived::Int { exact, ranges, .. } => match keys::parse_int_key(key) {
                Ok(k) if k.is_exact() => {
                    exact.remove(int_order(k.lo), seq);
                }
                Ok(_) => ranges.remove(seq),
                Err(_) => {}
            },
            Derived::Ip(ip) => {
                if let Ok(k) = keys::parse_ip_key(key) {
                    ip.remove(seed, k, seq);
                }
            }
        }
    }

    /// Replaces `new`'s entry (same key and seq, new value).
    pub(crate) fn replace(&mut self, seed: u64, new: &EntryRef) {
        let key = new.key();
        let seq = new.seq();
        match self {
            Derived::Str | Derived::Found | Derived::Beg(_) => {}
            Derived::Folded { tree, .. } => {
                tree.replace(hash::bytes_folded(seed, key), seq, new.clone());
            }
            Derived::End { tree, fold, .. } => {
                tree.replace(hash::bytes_rev(seed, key, *fold), seq, new.clone());
            }
            Derived::Delim {
                tree, fold, delims, ..
            } => {
                let k = keys::strip_delims(key, delims);
                if !k.is_empty() {
                    tree.replace(delim_hash(seed, k, *fold), seq, new.clone());
                }
            }
            Derived::Sub(l) => l.replace(new),
            Derived::Reg(l) => l.replace(new),
            Derived::Regm(l) => l.replace(new),
            Derived::Int { exact, ranges, .. } => match keys::parse_int_key(key) {
                Ok(k) if k.is_exact() => {
                    exact.replace(int_order(k.lo), seq, new.clone());
                }
                Ok(_) => ranges.replace(new),
                Err(_) => {}
            },
            Derived::Ip(ip) => {
                if let Ok(k) = keys::parse_ip_key(key) {
                    ip.replace(seed, k, new);
                }
            }
        }
    }

    /// The matching entry for `input`, and whether HAProxy would have found
    /// it in a tree.
    pub(crate) fn lookup<'a>(
        &'a self,
        by_key: &'a PTree<EntryRef>,
        seed: u64,
        input: &[u8],
    ) -> Option<(&'a EntryRef, bool)> {
        match self {
            Derived::Str => by_key
                .first_with(hash::bytes(seed, input), |e| e.key() == input)
                .map(|e| (e, true)),
            Derived::Beg(lens) => {
                let probes = Probes::collect(seed, lens, input.iter().copied(), false);
                for &(n, h) in probes.iter().rev() {
                    let p = &input[..n as usize];
                    if let Some(e) = by_key.first_with(h, |e| e.key() == p) {
                        return Some((e, true));
                    }
                }
                None
            }
            Derived::Folded { tree, lens, prefix } => {
                if !*prefix {
                    return tree
                        .first_with(hash::bytes_folded(seed, input), |e| {
                            e.key().eq_ignore_ascii_case(input)
                        })
                        .map(|e| (e, false));
                }
                let probes = Probes::collect(seed, lens, input.iter().copied(), true);
                let mut best = None;
                for &(n, h) in probes.iter() {
                    let p = &input[..n as usize];
                    best = min_seq(
                        best,
                        tree.first_with(h, |e| e.key().eq_ignore_ascii_case(p)),
                    );
                }
                best.map(|e| (e, false))
            }
            Derived::End { tree, lens, fold } => {
                let probes = Probes::collect(seed, lens, input.iter().rev().copied(), *fold);
                let mut best = None;
                for &(n, h) in probes.iter() {
                    let s = &input[input.len() - n as usize..];
                    best = min_seq(best, tree.first_with(h, |e| eq(e.key(), s, *fold)));
                }
                best.map(|e| (e, false))
            }
            Derived::Delim {
                tree,
                lens,
                fold,
                delims,
            } => delim_lookup(tree, lens, seed, *fold, delims, input).map(|e| (e, false)),
            Derived::Sub(l) => l.lookup(input).map(|e| (e, false)),
            Derived::Reg(l) => l.lookup(input).map(|e| (e, false)),
            Derived::Regm(l) => l.lookup(input).map(|e| (e, false)),
            Derived::Int { len, .. } => {
                let v = if *len {
                    i64::try_from(input.len()).unwrap_or(i64::MAX)
                } else {
                    keys::parse_int_input(input)
                };
                self.lookup_int(v)
            }
            Derived::Ip(ip) => ip.lookup(seed, keys::parse_ip_input(input)?),
            Derived::Found => None,
        }
    }

    /// `int`/`len` lookup with an integer sample.
    pub(crate) fn lookup_int(&self, v: i64) -> Option<(&EntryRef, bool)> {
        match self {
            Derived::Int { exact, ranges, .. } => {
                let a = exact.first_with(int_order(v), |_| true);
                min_seq(a, ranges.lookup(&v)).map(|e| (e, false))
            }
            _ => None,
        }
    }

    /// `regm` lookup: the first matching entry and its pattern.
    pub(crate) fn lookup_regm(&self, input: &[u8]) -> Option<(&EntryRef, &Arc<RegPat>)> {
        match self {
            Derived::Regm(l) => match l.lookup_full(input)? {
                (e, Some(re)) => Some((e, re)),
                (_, None) => None,
            },
            _ => None,
        }
    }

    /// `ip` lookup with an address sample.
    pub(crate) fn lookup_ip(&self, seed: u64, a: IpInput) -> Option<(&EntryRef, bool)> {
        match self {
            Derived::Ip(ip) => ip.lookup(seed, a),
            _ => None,
        }
    }
}

fn delim_hash(seed: u64, k: &[u8], fold: bool) -> u64 {
    if fold {
        hash::bytes_folded(seed, k)
    } else {
        hash::bytes(seed, k)
    }
}

fn delim_lookup<'a>(
    tree: &'a PTree<EntryRef>,
    lens: &LenSet,
    seed: u64,
    fold: bool,
    delims: &[u8],
    input: &[u8],
) -> Option<&'a EntryRef> {
    if tree.is_empty() {
        return None;
    }
    let maxlen = lens.max();
    let is_delim = |b: u8| delims.contains(&b);
    let mut best: Option<&'a EntryRef> = None;
    let n = input.len();
    let mut s = 0;
    while s < n {
        // s is 0 or follows a delimiter.
        if !is_delim(input[s]) {
            let mut h = hash::start(seed);
            let end = n.min(s + maxlen);
            let mut want = lens.0.iter().map(|x| x.0 as usize).peekable();
            for e in s..end {
                let b = input[e];
                h = hash::step(h, if fold { b.to_ascii_lowercase() } else { b });
                let l = e + 1 - s;
                while want.peek().is_some_and(|&w| w < l) {
                    want.next();
                }
                if want.peek() == Some(&l) && (e + 1 == n || is_delim(input[e + 1])) {
                    let w = &input[s..=e];
                    let hit = tree.first_with(hash::finish(h), |x| {
                        eq(keys::strip_delims(x.key(), delims), w, fold)
                    });
                    best = min_seq(best, hit);
                }
            }
        }
        // advance to the byte after the next delimiter
        match input[s..].iter().position(|&b| is_delim(b)) {
            Some(p) => s += p + 1,
            None => break,
        }
    }
    best
}

/// An immutable version of a reference: the key tree plus one index per
/// registered spec. Cloning is O(number of specs) `Arc` increments.
#[derive(Clone, Default)]
pub(crate) struct Snap {
    pub(crate) by_key: PTree<EntryRef>,
    pub(crate) derived: Vec<Derived>,
}

impl Snap {
    pub(crate) fn empty(specs: &[MatchSpec]) -> Self {
        Snap {
            by_key: PTree::default(),
            derived: specs.iter().map(|s| Derived::new(*s)).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Looks `input` up in the index of `slot`.
    #[inline]
    pub(crate) fn lookup(&self, slot: usize, seed: u64, input: &[u8]) -> Option<(&EntryRef, bool)> {
        self.derived[slot].lookup(&self.by_key, seed, input)
    }

    /// The entry with this key hash and sequence number.
    pub(crate) fn get(&self, hash: u64, seq: u64) -> Option<&EntryRef> {
        self.by_key.get(hash, seq)
    }

    pub(crate) fn insert(&mut self, seed: u64, e: &EntryRef, preps: Vec<Prep>, bulk: bool) {
        self.by_key.insert(hash::bytes(seed, e.key()), e.clone());
        for (d, p) in self.derived.iter_mut().zip(preps) {
            d.insert(seed, e, p, bulk);
        }
    }

    /// Bulk insertion; the key tree is built in one pass when the version is
    /// empty. Call [`finish_bulk`](Self::finish_bulk) after.
    pub(crate) fn insert_bulk(&mut self, seed: u64, staged: Vec<(EntryRef, Vec<Prep>)>) {
        if self.by_key.is_empty() {
            let mut items: Vec<(u64, EntryRef)> = staged
                .iter()
                .map(|(e, _)| (hash::bytes(seed, e.key()), e.clone()))
                .collect();
            items.sort_unstable_by_key(|(h, e)| (*h, e.seq()));
            self.by_key = PTree::from_sorted(items);
        } else {
            for (e, _) in &staged {
                self.by_key.insert(hash::bytes(seed, e.key()), e.clone());
            }
        }
        for (e, preps) in staged {
            for (d, p) in self.derived.iter_mut().zip(preps) {
                d.insert(seed, &e, p, true);
            }
        }
    }

    pub(crate) fn finish_bulk(&mut self) {
        self.derived.iter_mut().for_each(Derived::finish_bulk);
    }

    pub(crate) fn remove(&mut self, seed: u64, e: &EntryRef) {
        if self
            .by_key
            .remove(hash::bytes(seed, e.key()), e.seq())
            .is_some()
        {
            for d in &mut self.derived {
                d.remove(seed, e);
            }
        }
    }

    pub(crate) fn replace(&mut self, seed: u64, new: &EntryRef) {
        if self
            .by_key
            .replace(hash::bytes(seed, new.key()), new.seq(), new.clone())
        {
            for d in &mut self.derived {
                d.replace(seed, new);
            }
        }
    }

    /// Every entry with exactly this key, in file order.
    pub(crate) fn find_key(&self, seed: u64, key: &[u8]) -> Vec<EntryRef> {
        self.by_key
            .all_with(hash::bytes(seed, key), |e| e.key() == key)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Every entry, in file order.
    pub(crate) fn entries(&self) -> Vec<EntryRef> {
        let mut v = Vec::with_capacity(self.len());
        self.by_key.for_each(|_, e| v.push(e.clone()));
        v.sort_unstable_by_key(EntryRef::seq);
        v
    }
}
