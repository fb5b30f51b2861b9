//! `reg` and `regm` patterns: checked when they are added, compiled the
//! first time a lookup needs them, and found through an index of the
//! literals every match must contain.
//!
//! gwd used to compile each pattern with the `regex` crate when it was
//! added (the meta engine builds forward and reverse NFAs, prefilters and
//! lazy-DFA caches: about 16 KB per pattern) and build one `RegexSet` over
//! all of them; for 200,000 patterns that took 13 minutes and 3.7 GB, and
//! the set's lazy DFA thrashed on every lookup (10+ ms). So now:
//!
//! * Adding a pattern parses it with `regex-syntax`, exactly as the `regex`
//!   crate would (same options), so every syntax error is reported then.
//!   Patterns whose NFA could come near the size limit (large counted
//!   repetitions, big Unicode classes) are also compiled then, so that the
//!   size limit too is checked when the pattern is added: a pattern that was
//!   accepted always compiles later.
//! * From the syntax tree it keeps a small set of byte strings, one of
//!   which occurs in every match ([`required`]); the tree is then dropped.
//!   A loaded pattern costs about 175 bytes beyond its text.
//! * The first lookup that needs a pattern compiles its Thompson NFA (about
//!   1.2 KB, 5-20 µs) and keeps it; it runs on the bounded backtracker (the
//!   PikeVM for inputs too long for it), which give the same answers and
//!   groups as the `regex` crate (leftmost-first).
//! * A [`LitIndex`] over one window of up to eight bytes of each required
//!   literal (its rarest) finds the candidate patterns of an input in one
//!   pass over it; patterns without a required literal are always
//!   candidates. A candidate is compiled and run only if its whole literal
//!   occurs in the input.

use std::cell::RefCell;
use std::sync::OnceLock;

use regex_automata::nfa::thompson::backtrack::{self, BoundedBacktracker};
use regex_automata::nfa::thompson::{self, WhichCaptures, pikevm};
use regex_automata::util::syntax;
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::keys;

/// Heap limit of one pattern's NFA, as the `regex` crate's `size_limit`
/// gwd has always used.
const NFA_SIZE_LIMIT: usize = 1 << 24;
/// Patterns whose [`weight`] is above this are compiled when added, to check
/// the size limit. At most about 64 bytes of NFA per unit of weight, so those
/// below it stay far under [`NFA_SIZE_LIMIT`].
const EAGER_WEIGHT: u64 = 4096;
/// At most this many alternatives in a required-literal set.
const MAX_LITS: usize = 32;
/// Required literals are cut to this length (a part of a required literal is
/// required too).
const MAX_LIT_LEN: usize = 64;

/// Groups 0 to 9 of a match, as byte offsets.
pub(crate) type Groups = [Option<(usize, usize)>; 10];

/// One validated `reg`/`regm` pattern. The pattern text is the entry's key,
/// passed back to each method.
pub(crate) struct RegPat {
    /// One of these literals occurs in every match (none: no such set
    /// known), each as its length byte then its bytes, in one allocation.
    lits: Box<[u8]>,
    icase: bool,
    /// Compile capture groups (`regm`).
    caps: bool,
    /// The compiled NFA, ready for the bounded backtracker; `None` inside:
    /// compiling failed (never for a validated pattern).
    nfa: OnceLock<Option<Box<BoundedBacktracker>>>,
}

fn syntax_config(icase: bool) -> syntax::Config {
    // The options of `regex::bytes::RegexBuilder` with `.unicode(false)`.
    syntax::Config::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(icase)
}

fn thompson_config(caps: bool) -> thompson::Config {
    // What the `regex` crate's meta engine uses for its forward NFA.
    thompson::Config::new()
        .utf8(false)
        .nfa_size_limit(Some(NFA_SIZE_LIMIT))
        .shrink(false)
        .which_captures(if caps {
            WhichCaptures::All
        } else {
            WhichCaptures::None
        })
}

/// The last line of an error's text (the `regex` crate's syntax errors
/// quote the pattern first).
fn last_line(s: &str) -> String {
    s.lines()
        .last()
        .unwrap_or("invalid regex")
        .trim()
        .to_string()
}

fn nfa_error(e: &thompson::BuildError) -> String {
    match e.size_limit() {
        // The `regex` crate's text for the same failure.
        Some(limit) => format!("Compiled regex exceeds size limit of {limit} bytes."),
        None => last_line(&e.to_string()),
    }
}

/// Parses `key` the way the `regex` crate would (after gwd's PCRE2
/// adjustments).
fn parse(key: &[u8], icase: bool) -> Result<Hir, String> {
    let s = std::str::from_utf8(key).map_err(|_| "regex is not valid UTF-8".to_string())?;
    keys::check_pcre_limits(s)?;
    syntax::parse_with(&keys::pcre_compat(s), &syntax_config(icase))
        .map_err(|e| last_line(&e.to_string()))
}

fn compile_hir(hir: &Hir, caps: bool) -> Result<Box<BoundedBacktracker>, String> {
    let nfa = thompson::Compiler::new()
        .configure(thompson_config(caps))
        .build_from_hir(hir)
        .map_err(|e| nfa_error(&e))?;
    BoundedBacktracker::new_from_nfa(nfa)
        .map(Box::new)
        .map_err(|e| last_line(&e.to_string()))
}

impl RegPat {
    /// Validates `key` (see the module docs); the error says why it is
    /// rejected.
    pub(crate) fn new(key: &[u8], icase: bool, caps: bool) -> Result<RegPat, String> {
        let hir = parse(key, icase)?;
        let nfa = OnceLock::new();
        if weight(&hir) > EAGER_WEIGHT {
            let _ = nfa.set(Some(compile_hir(&hir, caps)?));
        }
        let mut lits = Vec::new();
        // An empty literal would occur everywhere: then no set at all.
        let set = required(&hir, icase).filter(|set| set.iter().all(|l| !l.is_empty()));
        for l in set.unwrap_or_default() {
            let l = &l[..l.len().min(MAX_LIT_LEN)];
            lits.push(l.len() as u8);
            lits.extend_from_slice(l);
        }
        Ok(RegPat {
            lits: lits.into_boxed_slice(),
            icase,
            caps,
            nfa,
        })
    }

    /// The required literals (lower case with `-i`); none when unknown.
    pub(crate) fn lits(&self) -> impl Iterator<Item = &[u8]> + Clone {
        let mut rest = &self.lits[..];
        std::iter::from_fn(move || {
            let (&n, tail) = rest.split_first()?;
            let (l, tail) = tail.split_at(usize::from(n));
            rest = tail;
            Some(l)
        })
    }

    /// Whether the pattern has required literals.
    pub(crate) fn has_lits(&self) -> bool {
        !self.lits.is_empty()
    }

    /// Whether the NFA has been compiled (tests and measurements).
    #[cfg(test)]
    pub(crate) fn is_compiled(&self) -> bool {
        self.nfa.get().is_some()
    }

    fn compiled(&self, key: &[u8]) -> Option<&BoundedBacktracker> {
        if let Some(n) = self.nfa.get() {
            return n.as_deref();
        }
        // Readers racing here each compile; the first stored wins. Nobody
        // waits on another reader.
        let n = parse(key, self.icase)
            .and_then(|h| compile_hir(&h, self.caps))
            .ok();
        debug_assert!(n.is_some(), "a validated regex compiles");
        let _ = self.nfa.set(n);
        self.nfa.get().and_then(Option::as_deref)
    }

    /// Whether some required literal occurs in `input` (true when none is
    /// known).
    fn lits_found(&self, input: &[u8]) -> bool {
        !self.has_lits()
            || self
                .lits()
                .any(|l| crate::layered::contains(input, l, self.icase))
    }

    /// Whether the pattern `key` (this entry's key) finds a match in
    /// `input`.
    pub(crate) fn is_match(&self, key: &[u8], input: &[u8]) -> bool {
        if !self.lits_found(input) {
            return false;
        }
        self.compiled(key).is_some_and(|bt| run_is_match(bt, input))
    }

    /// Groups 0 to 9 of the leftmost-first match of `key` in `input`.
    pub(crate) fn captures(&self, key: &[u8], input: &[u8]) -> Option<Groups> {
        if !self.lits_found(input) {
            return None;
        }
        run_captures(self.compiled(key)?, input)
    }
}

thread_local! {
    /// One backtracker cache per thread, reset for each pattern: lookups
    /// allocate nothing once it has grown to the longest input seen.
    static BT_CACHE: RefCell<Option<backtrack::Cache>> = const { RefCell::new(None) };
}

/// Runs `f` with a backtracker cache set up for `bt`.
fn with_bt_cache<R>(bt: &BoundedBacktracker, f: impl FnOnce(&mut backtrack::Cache) -> R) -> R {
    let mut f = Some(f);
    let r = BT_CACHE.try_with(|slot| match slot.try_borrow_mut() {
        Ok(mut slot) => {
            let cache = slot.get_or_insert_with(|| bt.create_cache());
            cache.reset(bt);
            Some((f.take().expect("once"))(cache))
        }
        Err(_) => None,
    });
    match r {
        Ok(Some(r)) => r,
        _ => (f.take().expect("once"))(&mut bt.create_cache()),
    }
}

/// Whether `bt` takes `input` (its visited set is bounded; longer inputs go
/// to the PikeVM, which gives the same answers).
fn fits(bt: &BoundedBacktracker, input: &[u8]) -> bool {
    input.len() <= bt.max_haystack_len()
}

fn run_is_match(bt: &BoundedBacktracker, input: &[u8]) -> bool {
    if fits(bt, input)
        && let Ok(m) = with_bt_cache(bt, |c| bt.try_is_match(c, input))
    {
        return m;
    }
    pikevm::PikeVM::new_from_nfa(bt.get_nfa().clone()).is_ok_and(|vm| {
        let mut cache = vm.create_cache();
        vm.is_match(&mut cache, input)
    })
}

fn run_captures(bt: &BoundedBacktracker, input: &[u8]) -> Option<Groups> {
    let mut caps = bt.create_captures();
    let done =
        fits(bt, input) && with_bt_cache(bt, |c| bt.try_captures(c, input, &mut caps)).is_ok();
    if !done {
        let vm = pikevm::PikeVM::new_from_nfa(bt.get_nfa().clone()).ok()?;
        vm.captures(&mut vm.create_cache(), input, &mut caps);
    }
    if !caps.is_match() {
        return None;
    }
    let mut g: Groups = [None; 10];
    for (i, slot) in g.iter_mut().enumerate() {
        *slot = caps.get_group(i).map(|s| (s.start, s.end));
    }
    Some(g)
}

/// A bound on the size of the NFA of `h`, in rough state units.
fn weight(h: &Hir) -> u64 {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(l) => l.0.len() as u64 + 1,
        HirKind::Class(Class::Bytes(c)) => c.ranges().len() as u64 + 1,
        // Unicode classes (`(?u)`) compile to UTF-8 automata.
        HirKind::Class(Class::Unicode(c)) => (c.ranges().len() as u64).saturating_mul(16) + 1,
        HirKind::Repetition(r) => {
            let copies = u64::from(r.max.unwrap_or(r.min).max(r.min)) + 1;
            weight(&r.sub).saturating_mul(copies).saturating_add(2)
        }
        HirKind::Capture(c) => weight(&c.sub).saturating_add(2),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs
            .iter()
            .fold(subs.len() as u64, |acc, s| acc.saturating_add(weight(s))),
    }
}

/// The byte a class stands for when it holds exactly one byte, or (with
/// `fold`) exactly the two cases of one ASCII letter (then the lower case).
fn class_byte(c: &Class, fold: bool) -> Option<u8> {
    let mut bytes = [0u8; 2];
    let mut n = 0;
    let mut push = |lo: u32, hi: u32| {
        if lo != hi || lo > 0x7f || n == 2 {
            return false;
        }
        bytes[n] = lo as u8;
        n += 1;
        true
    };
    let ok = match c {
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .all(|r| push(u32::from(r.start()), u32::from(r.end()))),
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .all(|r| push(u32::from(r.start()), u32::from(r.end()))),
    };
    match (ok, n) {
        (true, 1) if fold => Some(bytes[0].to_ascii_lowercase()),
        (true, 1) => Some(bytes[0]),
        (true, 2) if fold && bytes[0] != bytes[1] && bytes[0].eq_ignore_ascii_case(&bytes[1]) => {
            Some(bytes[0].to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The bytes `h` matches when it matches exactly one string (lower case with
/// `fold`), at most [`MAX_LIT_LEN`] long. Assertions (`^`, `\b`, ...) match
/// the empty string: the bytes on either side of one are adjacent in the
/// input.
fn exact_bytes(h: &Hir, fold: bool) -> Option<Vec<u8>> {
    let v = match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Vec::new(),
        HirKind::Literal(l) => {
            if fold {
                l.0.to_ascii_lowercase()
            } else {
                l.0.to_vec()
            }
        }
        HirKind::Class(c) => vec![class_byte(c, fold)?],
        HirKind::Capture(c) => exact_bytes(&c.sub, fold)?,
        HirKind::Concat(subs) => {
            let mut v = Vec::new();
            for s in subs {
                v.extend(exact_bytes(s, fold)?);
                if v.len() > MAX_LIT_LEN {
                    return None;
                }
            }
            v
        }
        HirKind::Repetition(r) if r.max == Some(r.min) => {
            let one = exact_bytes(&r.sub, fold)?;
            let n = usize::try_from(r.min).ok()?;
            if one.len().saturating_mul(n) > MAX_LIT_LEN {
                return None;
            }
            one.repeat(n)
        }
        _ => return None,
    };
    (v.len() <= MAX_LIT_LEN).then_some(v)
}

/// Which of two required sets filters better: the longer shortest literal,
/// then fewer literals.
fn better(a: Option<Vec<Vec<u8>>>, b: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    let score = |s: &Vec<Vec<u8>>| {
        (
            s.iter().map(Vec::len).min().unwrap_or(0),
            usize::MAX - s.len(),
        )
    };
    match a {
        Some(a) if score(&a) >= score(&b) => Some(a),
        _ => Some(b),
    }
}

/// A set of non-empty byte strings one of which occurs in every match of
/// `h` (lower case with `fold`, to be compared ignoring ASCII case); `None`
/// when no such set is found.
pub(crate) fn required(h: &Hir, fold: bool) -> Option<Vec<Vec<u8>>> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(l) => {
            let mut b = l.0[..l.0.len().min(MAX_LIT_LEN)].to_vec();
            if fold {
                b.make_ascii_lowercase();
            }
            (!b.is_empty()).then(|| vec![b])
        }
        HirKind::Class(c) => class_byte(c, fold).map(|b| vec![vec![b]]),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub, fold),
        HirKind::Repetition(_) => None,
        HirKind::Capture(c) => required(&c.sub, fold),
        HirKind::Concat(subs) => {
            // Runs of adjacent exact parts form one literal; otherwise the
            // best of the parts. `x+` (`x` exact) ends a run with one `x`
            // and starts the next with another.
            let mut best = None;
            let mut run: Vec<u8> = Vec::new();
            for s in subs {
                if let Some(b) = exact_bytes(s, fold) {
                    run.extend_from_slice(&b);
                    continue;
                }
                let edge = match s.kind() {
                    HirKind::Repetition(r) if r.min >= 1 => {
                        exact_bytes(&r.sub, fold).filter(|b| !b.is_empty())
                    }
                    _ => None,
                };
                if let Some(x) = &edge {
                    run.extend_from_slice(x);
                }
                if !run.is_empty() {
                    best = better(best, vec![std::mem::take(&mut run)]);
                }
                match edge {
                    Some(x) => run = x,
                    None => {
                        if let Some(set) = required(s, fold) {
                            best = better(best, set);
                        }
                    }
                }
            }
            if !run.is_empty() {
                best = better(best, vec![run]);
            }
            best
        }
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for s in subs {
                all.extend(required(s, fold)?);
                if all.len() > MAX_LITS {
                    return None;
                }
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        }
    }
}

// ------------------------------------------------------------ literal index

thread_local! {
    /// The index hits of the lookup running on this thread (reused, so a
    /// lookup allocates nothing once it has grown).
    static HITS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Longest window of a literal that the index keys on: eight bytes, so that
/// the rarest window of a literal is nearly always its own (`shop1234.e`
/// shares its four-byte windows with hundreds of other lines).
const GRAM: usize = 8;

fn gram_mask(len: usize) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * len)) - 1
    }
}

fn pack(bytes: &[u8], fold: bool) -> u64 {
    bytes.iter().fold(0u64, |g, &b| {
        (g << 8) | u64::from(if fold { b.to_ascii_lowercase() } else { b })
    })
}

/// A 32-bit hash of a window of `len` bytes packed in `g`.
fn gram_hash(g: u64, len: usize) -> u32 {
    let x =
        (g ^ (len as u64).wrapping_mul(0xff51_afd7_ed55_8ccd)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 32) ^ x) as u32
}

/// Finds the patterns that may match an input: for each pattern with
/// required literals, one window of up to [`GRAM`] bytes of each literal
/// (the rarest among the patterns) in a hash table; the others in a list.
/// Windows are kept as 32-bit hashes: a collision only adds a candidate,
/// which the pattern's own literal check then turns down.
#[derive(Default)]
pub(crate) struct LitIndex {
    fold: bool,
    /// The window lengths in use, ascending: `lens[..nlens]`.
    lens: [u8; GRAM],
    nlens: u8,
    mask: u32,
    /// Bucket `b` holds `items[starts[b]..starts[b + 1]]`.
    starts: Box<[u32]>,
    /// `(window hash, position)`, grouped by bucket.
    items: Box<[(u32, u32)]>,
    /// Positions of the patterns without required literals, ascending.
    always: Box<[u32]>,
}

impl LitIndex {
    /// Indexes `pats` (position = index in the slice).
    pub(crate) fn build<'a>(
        pats: impl ExactSizeIterator<Item = &'a RegPat> + Clone,
        fold: bool,
    ) -> LitIndex {
        let mut always = Vec::new();
        let mut windows = 0usize;
        for (pos, p) in pats.clone().enumerate() {
            if !p.has_lits() {
                always.push(pos as u32);
            }
            windows += p
                .lits()
                .map(|l| l.len().saturating_sub(GRAM - 1).max(1))
                .sum::<usize>();
        }
        // How often each window occurs (hashed, saturating), to key each
        // literal on its rarest window.
        let cbits = windows
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(4, 23);
        let cmask = (1u32 << cbits) - 1;
        let mut counts = vec![0u16; 1 << cbits];
        let each_window = |l: &[u8], f: &mut dyn FnMut(u32, usize)| {
            let n = l.len().min(GRAM);
            for w in l.windows(n) {
                f(gram_hash(pack(w, fold), n), n);
            }
        };
        for p in pats.clone() {
            for l in p.lits() {
                each_window(l, &mut |h, _| {
                    let c = &mut counts[(h & cmask) as usize];
                    *c = c.saturating_add(1);
                });
            }
        }
        let mut chosen: Vec<(u32, u32)> = Vec::new(); // (hash, pos)
        let mut lens = 0u16;
        for (pos, p) in pats.enumerate() {
            for l in p.lits() {
                let mut best: Option<(u16, u32, usize)> = None;
                each_window(l, &mut |h, n| {
                    let c = counts[(h & cmask) as usize];
                    if best.is_none_or(|b| c < b.0) {
                        best = Some((c, h, n));
                    }
                });
                if let Some((_, h, n)) = best {
                    lens |= 1 << n;
                    chosen.push((h, pos as u32));
                }
            }
        }
        drop(counts);
        let mut lens_in_use = [0u8; GRAM];
        let mut nlens = 0u8;
        for n in 1..=GRAM {
            if lens & (1 << n) != 0 {
                lens_in_use[usize::from(nlens)] = n as u8;
                nlens += 1;
            }
        }
        let nb = chosen.len().max(1).next_power_of_two();
        let mask = (nb - 1) as u32;
        let mut starts = vec![0u32; nb + 1];
        for &(h, _) in &chosen {
            starts[(h & mask) as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut fill = starts.clone();
        let mut items = vec![(0u32, 0u32); chosen.len()];
        for &(h, pos) in &chosen {
            let b = &mut fill[(h & mask) as usize];
            items[*b as usize] = (h, pos);
            *b += 1;
        }
        LitIndex {
            fold,
            lens: lens_in_use,
            nlens,
            mask,
            starts: starts.into(),
            items: items.into(),
            always: always.into(),
        }
    }

    /// Calls `f` with the position of every pattern that may match `input`,
    /// in increasing order, each once, until `f` returns true.
    pub(crate) fn candidates(&self, input: &[u8], f: &mut dyn FnMut(usize) -> bool) {
        HITS.with(|slot| match slot.try_borrow_mut() {
            Ok(mut hits) => {
                hits.clear();
                self.candidates_with(input, &mut hits, f);
            }
            Err(_) => self.candidates_with(input, &mut Vec::new(), f),
        });
    }

    fn candidates_with(&self, input: &[u8], hits: &mut Vec<u32>, f: &mut dyn FnMut(usize) -> bool) {
        if !self.items.is_empty() {
            let lens = &self.lens[..usize::from(self.nlens)];
            let mut w = 0u64;
            for (i, &b) in input.iter().enumerate() {
                let b = if self.fold { b.to_ascii_lowercase() } else { b };
                w = (w << 8) | u64::from(b);
                for &n in lens {
                    let n = usize::from(n);
                    if n > i + 1 {
                        break;
                    }
                    let h = gram_hash(w & gram_mask(n), n);
                    let b = (h & self.mask) as usize;
                    let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
                    for x in &self.items[lo..hi] {
                        if x.0 == h {
                            hits.push(x.1);
                        }
                    }
                }
            }
            if hits.len() > 1 {
                hits.sort_unstable();
                hits.dedup();
            }
        }
        // Merge with the patterns that are always candidates.
        let (mut a, mut b) = (0, 0);
        loop {
            let next = match (self.always.get(a), hits.get(b)) {
                (Some(&x), Some(&y)) if x <= y => {
                    a += 1;
                    x
                }
                (_, Some(&y)) => {
                    b += 1;
                    y
                }
                (Some(&x), None) => {
                    a += 1;
                    x
                }
                (None, None) => return,
            };
            if f(next as usize) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(p: &str, fold: bool) -> Option<Vec<String>> {
        let h = syntax::parse_with(p, &syntax_config(fold)).unwrap();
        required(&h, fold).map(|v| {
            v.into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        })
    }

    #[test]
    fn required_literals() {
        let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            req(r"^(www\.)?shop12\.example\.com$", false),
            s(&["shop12.example.com"])
        );
        assert_eq!(req(r"^/api/v[0-9]+/tenant7/", false), s(&["/tenant7/"]));
        assert_eq!(
            req(r"bot|crawler|spider", false),
            s(&["bot", "crawler", "spider"])
        );
        assert_eq!(req(r".*\.(jpg|png)$", false), s(&["jpg", "png"]));
        assert_eq!(req(r"(abc)+x?", false), s(&["abc"]));
        assert_eq!(req(r"(abc)*x", false), s(&["x"]));
        assert_eq!(req(r"^[0-9]+$", false), None);
        assert_eq!(req(r"a|[0-9]", false), None);
        assert_eq!(req(r"", false), None);
        assert_eq!(req(r"a?", false), None);
        // -i: literals folded; inline (?i) without -i gives none.
        assert_eq!(req(r"Shop\.EXAMPLE", true), s(&["shop.example"]));
        assert_eq!(req(r"(?i)shop", false), None);
        assert_eq!(req(r"x(?i)shop", false), s(&["x"]));
        assert_eq!(req(r"(?-i)AB", true), s(&["ab"]));
        // Assertions are zero-width: the bytes around them are adjacent.
        assert_eq!(req(r"ab\bcde", false), s(&["abcde"]));
        assert_eq!(req(r"^/x$", false), s(&["/x"]));
        // `x+` ends one run and starts the next; `x{n}` is exact.
        assert_eq!(req(r"^ab+c", false), s(&["ab"]));
        assert_eq!(req(r"[0-9]b+cde", false), s(&["bcde"]));
        assert_eq!(req(r"a{3}b", false), s(&["aaab"]));
        assert_eq!(req(r"(?:xy){2,}z", false), s(&["xyz"]));
        assert_eq!(req(r"(www)\.(shop)", false), s(&["www.shop"]));
        // Long literals are cut to MAX_LIT_LEN.
        let long = "x".repeat(100);
        assert_eq!(req(&long, false), Some(vec!["x".repeat(MAX_LIT_LEN)]));
        assert_eq!(
            req(&format!("a{long}b+"), false).unwrap()[0].len(),
            MAX_LIT_LEN
        );
        // Bytes above ASCII: kept as written; folded classes of them give none.
        let h = |p: &str, fold| syntax::parse_with(p, &syntax_config(fold)).unwrap();
        assert_eq!(
            required(&h(r"a(?-u:\xff)", false), false),
            Some(vec![b"a\xff".to_vec()])
        );
        assert_eq!(
            required(&h(r"(?-u:\xff)", true), true),
            Some(vec![b"\xff".to_vec()])
        );
        assert_eq!(required(&h(r"(?u:k)", true), true), None);
    }

    #[test]
    fn validation_and_lazy_compilation() {
        let p = RegPat::new(b"^ab+c", false, false).unwrap();
        assert!(!p.is_compiled());
        assert!(!p.is_match(b"^ab+c", b"xbbc"));
        assert!(!p.is_compiled(), "no literal 'ab': nothing compiled");
        assert!(!p.is_match(b"^ab+c", b"xabbc"));
        assert!(p.is_compiled(), "'ab' found: compiled and run");
        assert!(p.is_match(b"^ab+c", b"abbbc"));
        // Errors come from the parse, with the regex crate's texts.
        let e = RegPat::new(b"(?=x)", false, false).err().unwrap();
        assert!(e.contains("look-around"), "{e}");
        assert!(RegPat::new(b"(a)\\1", false, false).is_err());
        assert!(RegPat::new(b"x{99999}", false, false).is_err());
        assert!(RegPat::new(b"\\pL", false, false).is_err());
        assert!(RegPat::new(b"\xff", false, false).is_err());
        // Too big for the NFA size limit: checked eagerly.
        let e = RegPat::new(b"(?:a{1000}){1000}", false, false)
            .err()
            .unwrap();
        assert_eq!(e, "Compiled regex exceeds size limit of 16777216 bytes.");
        let big = RegPat::new(b"a{5000}", false, false).unwrap();
        assert!(big.is_compiled(), "large patterns are compiled when added");
    }

    #[test]
    fn matching_agrees_with_the_regex_crate() {
        let pats = [
            "a",
            "^a",
            "b$",
            "a|b",
            "[ab]b",
            "a*b",
            "A",
            "^$",
            ".",
            "ab",
            "a.b",
            "^b",
            "",
            r"\bfoo\b",
            r"(?i)x[yz]",
            r"^(www\.)?h\.com$",
            r"a{,3}",
            r"(?-u:\xff)",
        ];
        let inputs: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"BA",
            b"foo bar",
            b"XZ",
            b"www.h.com",
            b"a{,3}",
            b"\xffa",
        ];
        for icase in [false, true] {
            for p in pats {
                let rp = RegPat::new(p.as_bytes(), icase, true).unwrap();
                let re = regex::bytes::RegexBuilder::new(&keys::pcre_compat(p))
                    .unicode(false)
                    .case_insensitive(icase)
                    .build()
                    .unwrap();
                for i in inputs {
                    assert_eq!(rp.is_match(p.as_bytes(), i), re.is_match(i), "{p} {i:?}");
                    let want = re.captures(i).map(|c| {
                        let mut g: Groups = [None; 10];
                        for (k, s) in g.iter_mut().enumerate() {
                            *s = c.get(k).map(|m| (m.start(), m.end()));
                        }
                        g
                    });
                    assert_eq!(rp.captures(p.as_bytes(), i), want, "{p} {i:?}");
                }
            }
        }
        // Inputs longer than the backtracker takes go to the PikeVM.
        let rp = RegPat::new(b"(x+)y", false, true).unwrap();
        let mut long = vec![b'x'; 1 << 20];
        long.push(b'y');
        assert_eq!(rp.captures(b"(x+)y", &long).unwrap()[1], Some((0, 1 << 20)));
    }

    #[test]
    fn index_finds_candidates_in_order() {
        let keys: Vec<&[u8]> = vec![
            b"^[0-9]+$",
            b"shop1\\.example",
            b"shop2\\.example",
            b"cdn|img",
            b"^x",
            b"example",
        ];
        for fold in [false, true] {
            let pats: Vec<RegPat> = keys
                .iter()
                .map(|k| RegPat::new(k, fold, false).unwrap())
                .collect();
            let idx = LitIndex::build(pats.iter(), fold);
            let all = |input: &[u8]| {
                let mut v = Vec::new();
                idx.candidates(input, &mut |p| {
                    v.push(p);
                    false
                });
                v
            };
            let host: &[u8] = if fold {
                b"IMG.SHOP2.EXAMPLE"
            } else {
                b"img.shop2.example"
            };
            let got = all(host);
            // Candidates are a superset of the matches, ascending, unique.
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            for want in [0, 2, 3, 5] {
                assert!(got.contains(&want), "{want} in {got:?}");
            }
            assert!(!got.contains(&1));
            assert_eq!(all(b"zzz"), vec![0]);
            // Stops when asked.
            let mut seen = Vec::new();
            idx.candidates(host, &mut |p| {
                seen.push(p);
                p == 2
            });
            assert_eq!(seen.last(), Some(&2));
        }
    }

    /// Patterns compiled lazily stay far under the size limit: the NFA
    /// takes at most 64 bytes per unit of weight (plus a fixed part), so
    /// EAGER_WEIGHT units are under 1/64 of NFA_SIZE_LIMIT.
    #[test]
    fn weight_bounds_the_nfa_size() {
        const { assert!(EAGER_WEIGHT * 64 * 64 <= NFA_SIZE_LIMIT as u64) };
        let pats = [
            r"(?u)\w",
            r"(?u)[^a]",
            r"(?iu)\w+x",
            r"[a-z]{100}",
            r"(a|b|c|d){50}",
            r"(?u:.){20}",
            r"(?s-u:.){200}",
            r"x{4000}",
            r"((a{10}){10}){10}",
            r"(?i)[a-z0-9]{100}",
            r"(?u)\pL",
            r"^(www\.)?shop12\.example\.com$",
        ];
        for p in pats {
            for icase in [false, true] {
                let h = parse(p.as_bytes(), icase).unwrap();
                let mem = compile_hir(&h, true).unwrap().get_nfa().memory_usage() as u64;
                assert!(
                    mem <= 64 * weight(&h) + 2048,
                    "{p}: {mem} bytes, weight {}",
                    weight(&h)
                );
            }
        }
    }

    /// Random patterns from a small grammar: `RegPat` answers as the `regex`
    /// crate (match and groups), and the index never leaves out a pattern
    /// that matches.
    mod random {
        use super::*;
        use proptest::prelude::*;

        fn pattern() -> impl Strategy<Value = String> {
            let atom = prop::sample::select(vec![
                "a",
                "b",
                "A",
                "ab",
                "bA",
                "/",
                r"\.",
                "[ab]",
                "[0-9]",
                "[aA]",
                ".",
                "^",
                "$",
                r"\b",
                "x",
                "",
                r"(?i)a",
                r"(?-u:\xff)",
            ])
            .prop_map(str::to_string);
            atom.prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                    prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join("|")),
                    (
                        inner.clone(),
                        prop::sample::select(vec!["?", "*", "+", "{2}", "{1,3}", "+?", "{0}"])
                    )
                        .prop_map(|(a, r)| format!("(?:{a}){r}")),
                    inner.clone().prop_map(|a| format!("({a})")),
                ]
            })
        }

        fn input() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(prop::sample::select(b"abAB/.0x \xff".to_vec()), 0..10)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn agrees_with_the_regex_crate(
                pats in prop::collection::vec(pattern(), 1..6),
                inputs in prop::collection::vec(input(), 1..6),
                icase: bool,
            ) {
                let res: Vec<regex::bytes::Regex> = pats
                    .iter()
                    .map(|p| {
                        regex::bytes::RegexBuilder::new(p)
                            .unicode(false)
                            .case_insensitive(icase)
                            .build()
                            .unwrap()
                    })
                    .collect();
                let rps: Vec<RegPat> = pats
                    .iter()
                    .map(|p| RegPat::new(p.as_bytes(), icase, true).unwrap())
                    .collect();
                let idx = LitIndex::build(rps.iter(), icase);
                for i in &inputs {
                    let mut cands = Vec::new();
                    idx.candidates(i, &mut |p| {
                        cands.push(p);
                        false
                    });
                    for (k, (p, (re, rp))) in pats.iter().zip(res.iter().zip(&rps)).enumerate() {
                        let m = re.is_match(i);
                        prop_assert_eq!(rp.is_match(p.as_bytes(), i), m, "{} on {:?}", p, i);
                        if m {
                            prop_assert!(cands.contains(&k), "{} on {:?}: not a candidate", p, i);
                        }
                        let want = re.captures(i).map(|c| {
                            let mut g: Groups = [None; 10];
                            for (n, s) in g.iter_mut().enumerate() {
                                *s = c.get(n).map(|m| (m.start(), m.end()));
                            }
                            g
                        });
                        prop_assert_eq!(rp.captures(p.as_bytes(), i), want, "{} on {:?}", p, i);
                    }
                }
            }
        }
    }
}
