//! A persistent (path-copying) B+tree of `(key: u64, item)` pairs ordered by
//! `(key, item.seq())`.
//!
//! Readers hold an `Arc` to a root and never see it change. A writer clones
//! the tree (one `Arc` increment) and changes the clone: each node on the path
//! from the root to the touched leaf is rebuilt (one allocation, at most 17
//! slots copied), the rest is shared, so an update costs O(depth × fanout).
//!
//! Keys are hashes (or other order keys); several items may share a key
//! (duplicate patterns or hash collisions), and they are kept in `seq`
//! (file) order, so "the first matching item with key k" is the earliest
//! entry in file order.

use std::sync::Arc;

/// Maximum items per leaf / children per inner node. A write copies one node
/// per level and touches the reference count of each slot it copies, so
/// smaller nodes make writes on large trees cheaper (fewer cache misses);
/// lookups use interpolation search, so depth costs about one miss per level.
const MAX: usize = 16;
/// Below this a node is merged with a neighbour when the two fit in one.
const MIN: usize = MAX / 4;
/// Fill used by [`PTree::from_sorted`].
const FILL: usize = MAX * 7 / 8;

/// What the tree stores: anything cloneable with a sequence number.
pub(crate) trait Item: Clone {
    fn seq(&self) -> u64;
}

type Pos = (u64, u64);

/// A node: its items or children live inline in one `Arc<[_]>` allocation,
/// so a lookup takes one cache miss per level.
enum Node<T> {
    Leaf(Arc<[(u64, T)]>),
    Inner(Arc<[Child<T>]>),
}

impl<T> Clone for Node<T> {
    fn clone(&self) -> Self {
        match self {
            Node::Leaf(a) => Node::Leaf(a.clone()),
            Node::Inner(a) => Node::Inner(a.clone()),
        }
    }
}

struct Child<T> {
    /// Lower bound of every position in `node`, and above every position of
    /// the previous sibling.
    lo: Pos,
    node: Node<T>,
}

impl<T> Clone for Child<T> {
    fn clone(&self) -> Self {
        Child {
            lo: self.lo,
            node: self.node.clone(),
        }
    }
}

impl<T> Node<T> {
    fn len(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(v) => v.len(),
        }
    }
}

/// See the module docs.
pub(crate) struct PTree<T> {
    root: Option<Node<T>>,
    len: usize,
}

impl<T> Clone for PTree<T> {
    fn clone(&self) -> Self {
        PTree {
            root: self.root.clone(),
            len: self.len,
        }
    }
}

impl<T> Default for PTree<T> {
    fn default() -> Self {
        PTree { root: None, len: 0 }
    }
}

/// First index whose position is `>= target` (or `> target` when `upper`).
/// Order keys are mostly hashes, hence uniform: interpolate on the key, then
/// step to the exact boundary (O(1) expected, O(n) worst case, n <= MAX).
#[inline]
fn bound<E>(s: &[E], target: Pos, upper: bool, pos: impl Fn(&E) -> Pos) -> usize {
    let before = |e: &E| {
        if upper {
            pos(e) <= target
        } else {
            pos(e) < target
        }
    };
    let n = s.len();
    if n < 6 {
        return s.partition_point(before);
    }
    let (a, b, t) = (pos(&s[0]).0, pos(&s[n - 1]).0, target.0);
    let mut i = if t <= a {
        0
    } else if t >= b {
        n - 1
    } else {
        (u128::from(t - a) * (n as u128 - 1) / u128::from(b - a)) as usize
    };
    while i > 0 && !before(&s[i - 1]) {
        i -= 1;
    }
    while i < n && before(&s[i]) {
        i += 1;
    }
    i
}

fn item_pos<T: Item>(e: &(u64, T)) -> Pos {
    (e.0, e.1.seq())
}

fn child_pos<T>(c: &Child<T>) -> Pos {
    c.lo
}

enum Flow<'a, T> {
    Found(&'a T),
    Next,
    Stop,
}

fn find<'a, T: Item>(
    node: &'a Node<T>,
    k: u64,
    pred: &mut impl FnMut(&'a T) -> bool,
) -> Flow<'a, T> {
    match node {
        Node::Leaf(items) => {
            let start = bound(items, (k, 0), false, item_pos);
            for (h, t) in &items[start..] {
                if *h != k {
                    return Flow::Stop;
                }
                if pred(t) {
                    return Flow::Found(t);
                }
            }
            Flow::Next
        }
        Node::Inner(ch) => {
            let i = bound(ch, (k, 0), false, child_pos).saturating_sub(1);
            for c in &ch[i..] {
                if c.lo.0 > k {
                    return Flow::Stop;
                }
                match find(&c.node, k, pred) {
                    Flow::Next => {}
                    other => return other,
                }
            }
            Flow::Next
        }
    }
}

fn pos_of<T: Item>(k: u64, t: &T) -> Pos {
    (k, t.seq())
}

fn child_index<T>(ch: &[Child<T>], p: Pos) -> usize {
    bound(ch, p, true, child_pos).saturating_sub(1)
}

fn get_exact<T: Item>(node: &Node<T>, p: Pos) -> Option<&T> {
    match node {
        Node::Leaf(items) => {
            let i = bound(items, p, false, item_pos);
            items
                .get(i)
                .filter(|(h, t)| pos_of(*h, t) == p)
                .map(|(_, t)| t)
        }
        Node::Inner(ch) => get_exact(&ch[child_index(ch, p)].node, p),
    }
}

/// Result of inserting into a node: the new node, or two halves.
enum Ins<T> {
    One(Node<T>),
    Split(Node<T>, Pos, Node<T>),
}

fn leaf_or_split<T: Item>(v: Vec<(u64, T)>) -> Ins<T> {
    if v.len() <= MAX {
        return Ins::One(Node::Leaf(v.into()));
    }
    let mid = v.len() / 2;
    let lo = pos_of(v[mid].0, &v[mid].1);
    let right: Arc<[(u64, T)]> = v[mid..].iter().cloned().collect();
    let left: Arc<[(u64, T)]> = v[..mid].iter().cloned().collect();
    Ins::Split(Node::Leaf(left), lo, Node::Leaf(right))
}

fn inner_or_split<T>(v: Vec<Child<T>>) -> Ins<T> {
    if v.len() <= MAX {
        return Ins::One(Node::Inner(v.into()));
    }
    let mid = v.len() / 2;
    let lo = v[mid].lo;
    let right: Arc<[Child<T>]> = v[mid..].iter().cloned().collect();
    let left: Arc<[Child<T>]> = v[..mid].iter().cloned().collect();
    Ins::Split(Node::Inner(left), lo, Node::Inner(right))
}

fn insert_rec<T: Item>(node: &Node<T>, k: u64, item: T) -> Ins<T> {
    let p = pos_of(k, &item);
    match node {
        Node::Leaf(items) => {
            let i = bound(items, p, false, item_pos);
            if items.len() < MAX {
                let out: Arc<[(u64, T)]> = items[..i]
                    .iter()
                    .cloned()
                    .chain(std::iter::once((k, item)))
                    .chain(items[i..].iter().cloned())
                    .collect();
                return Ins::One(Node::Leaf(out));
            }
            let mut v = Vec::with_capacity(items.len() + 1);
            v.extend(items[..i].iter().cloned());
            v.push((k, item));
            v.extend(items[i..].iter().cloned());
            leaf_or_split(v)
        }
        Node::Inner(ch) => {
            let i = child_index(ch, p);
            let lo = ch[i].lo.min(p);
            let mut v: Vec<Child<T>> = Vec::with_capacity(ch.len() + 1);
            v.extend(ch[..i].iter().cloned());
            match insert_rec(&ch[i].node, k, item) {
                Ins::One(n) => v.push(Child { lo, node: n }),
                Ins::Split(a, lo2, b) => {
                    v.push(Child { lo, node: a });
                    v.push(Child { lo: lo2, node: b });
                }
            }
            v.extend(ch[i + 1..].iter().cloned());
            inner_or_split(v)
        }
    }
}

/// Concatenates two siblings (`right_lo` is the parent's bound of `b`).
fn merge<T: Clone>(a: &Node<T>, b: &Node<T>, right_lo: Pos) -> Node<T> {
    match (a, b) {
        (Node::Leaf(x), Node::Leaf(y)) => Node::Leaf(x.iter().chain(y.iter()).cloned().collect()),
        (Node::Inner(x), Node::Inner(y)) => {
            let mut v: Vec<Child<T>> = Vec::with_capacity(x.len() + y.len());
            v.extend(x.iter().cloned());
            v.extend(y.iter().cloned());
            v[x.len()].lo = right_lo;
            Node::Inner(v.into())
        }
        _ => unreachable!("siblings have the same height"),
    }
}

/// Removes the item at `p` (known to be present); returns the new node.
fn remove_rec<T: Item>(node: &Node<T>, p: Pos, out: &mut Option<T>) -> Node<T> {
    match node {
        Node::Leaf(items) => {
            let i = bound(items, p, false, item_pos);
            *out = Some(items[i].1.clone());
            Node::Leaf(
                items[..i]
                    .iter()
                    .chain(items[i + 1..].iter())
                    .cloned()
                    .collect(),
            )
        }
        Node::Inner(ch) => {
            let i = child_index(ch, p);
            let child = remove_rec(&ch[i].node, p, out);
            let mut v: Vec<Child<T>> = ch.to_vec();
            if child.len() == 0 {
                v.remove(i);
            } else {
                v[i].node = child;
                if v[i].node.len() < MIN && v.len() > 1 {
                    let (l, r) = if i + 1 < v.len() {
                        (i, i + 1)
                    } else {
                        (i - 1, i)
                    };
                    if v[l].node.len() + v[r].node.len() <= MAX {
                        let merged = merge(&v[l].node, &v[r].node, v[r].lo);
                        v[l].node = merged;
                        v.remove(r);
                    }
                }
            }
            Node::Inner(v.into())
        }
    }
}

/// Replaces in place where this writer owns the node alone (a node copied
/// earlier in the same batch), copying it first otherwise.
fn replace_rec<T: Item>(node: &mut Node<T>, p: Pos, item: T) {
    match node {
        Node::Leaf(items) => {
            let i = bound(items, p, false, item_pos);
            if let Some(slots) = Arc::get_mut(items) {
                slots[i].1 = item;
            } else {
                let k = items[i].0;
                *items = items[..i]
                    .iter()
                    .cloned()
                    .chain(std::iter::once((k, item)))
                    .chain(items[i + 1..].iter().cloned())
                    .collect();
            }
        }
        Node::Inner(ch) => {
            let i = child_index(ch, p);
            if let Some(slots) = Arc::get_mut(ch) {
                replace_rec(&mut slots[i].node, p, item);
            } else {
                let mut v: Vec<Child<T>> = ch.to_vec();
                replace_rec(&mut v[i].node, p, item);
                *ch = v.into();
            }
        }
    }
}

fn for_each_rec<'a, T>(node: &'a Node<T>, f: &mut impl FnMut(u64, &'a T)) {
    match node {
        Node::Leaf(items) => items.iter().for_each(|(h, t)| f(*h, t)),
        Node::Inner(ch) => ch.iter().for_each(|c| for_each_rec(&c.node, f)),
    }
}

/// Visits items at positions >= `from` in order until `f` returns true.
fn scan_from_rec<'a, T: Item>(
    node: &'a Node<T>,
    from: Pos,
    f: &mut impl FnMut(u64, &'a T) -> bool,
) -> bool {
    match node {
        Node::Leaf(items) => {
            let i = bound(items, from, false, item_pos);
            items[i..].iter().any(|(h, t)| f(*h, t))
        }
        Node::Inner(ch) => {
            let i = child_index(ch, from);
            ch[i..].iter().any(|c| scan_from_rec(&c.node, from, f))
        }
    }
}

impl<T: Item> PTree<T> {
    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first item (lowest seq) with key `k` for which `pred` holds.
    #[inline]
    pub(crate) fn first_with<'a>(
        &'a self,
        k: u64,
        mut pred: impl FnMut(&'a T) -> bool,
    ) -> Option<&'a T> {
        match find(self.root.as_ref()?, k, &mut pred) {
            Flow::Found(t) => Some(t),
            _ => None,
        }
    }

    /// Every item with key `k` satisfying `pred`, in seq order.
    pub(crate) fn all_with<'a>(&'a self, k: u64, mut pred: impl FnMut(&T) -> bool) -> Vec<&'a T> {
        let mut out = Vec::new();
        if let Some(root) = self.root.as_ref() {
            find(root, k, &mut |t: &'a T| {
                if pred(t) {
                    out.push(t);
                }
                false
            });
        }
        out
    }

    /// The item at exactly `(k, seq)`.
    pub(crate) fn get(&self, k: u64, seq: u64) -> Option<&T> {
        get_exact(self.root.as_ref()?, (k, seq))
    }

    /// Inserts `item` under key `k`. `(k, item.seq())` must not be present.
    pub(crate) fn insert(&mut self, k: u64, item: T) {
        self.len += 1;
        let Some(root) = self.root.as_ref() else {
            self.root = Some(Node::Leaf(Arc::from([(k, item)])));
            return;
        };
        self.root = Some(match insert_rec(root, k, item) {
            Ins::One(n) => n,
            Ins::Split(a, lo, b) => Node::Inner(Arc::from([
                Child {
                    lo: (0, 0),
                    node: a,
                },
                Child { lo, node: b },
            ])),
        });
    }

    /// Removes the item at `(k, seq)`.
    pub(crate) fn remove(&mut self, k: u64, seq: u64) -> Option<T> {
        self.get(k, seq)?;
        let mut out = None;
        let mut root = remove_rec(self.root.as_ref()?, (k, seq), &mut out);
        self.len -= 1;
        loop {
            match root {
                Node::Inner(ref ch) if ch.len() == 1 => root = ch[0].node.clone(),
                _ => break,
            }
        }
        self.root = (root.len() > 0).then_some(root);
        out
    }

    /// Replaces the item at `(k, seq)` (which must keep the same seq).
    /// Returns false when absent.
    pub(crate) fn replace(&mut self, k: u64, seq: u64, item: T) -> bool {
        debug_assert_eq!(item.seq(), seq);
        if self.get(k, seq).is_none() {
            return false;
        }
        let root = self.root.as_mut().expect("present");
        replace_rec(root, (k, seq), item);
        true
    }

    /// Visits every item in `(key, seq)` order.
    pub(crate) fn for_each<'a>(&'a self, mut f: impl FnMut(u64, &'a T)) {
        if let Some(root) = self.root.as_ref() {
            for_each_rec(root, &mut f);
        }
    }

    /// Visits items at or after `(k, seq)` until `f` returns true.
    pub(crate) fn scan_from<'a>(&'a self, k: u64, seq: u64, mut f: impl FnMut(u64, &'a T) -> bool) {
        if let Some(root) = self.root.as_ref() {
            scan_from_rec(root, (k, seq), &mut f);
        }
    }

    /// Builds a tree from items sorted by `(key, seq)` (bulk load).
    pub(crate) fn from_sorted(items: Vec<(u64, T)>) -> Self {
        let len = items.len();
        if len == 0 {
            return PTree::default();
        }
        let mut level: Vec<Child<T>> = items
            .chunks(FILL)
            .map(|c| Child {
                lo: pos_of(c[0].0, &c[0].1),
                node: Node::Leaf(c.iter().cloned().collect()),
            })
            .collect();
        drop(items);
        while level.len() > 1 {
            level = level
                .chunks(FILL)
                .map(|c| Child {
                    lo: c[0].lo,
                    node: Node::Inner(c.iter().cloned().collect()),
                })
                .collect();
        }
        PTree {
            root: level.pop().map(|c| c.node),
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug, PartialEq)]
    struct It(u64, u32);
    impl Item for It {
        fn seq(&self) -> u64 {
            self.0
        }
    }

    fn check(t: &PTree<It>, model: &BTreeMap<(u64, u64), u32>) {
        assert_eq!(t.len(), model.len());
        let mut got = Vec::new();
        t.for_each(|k, it| got.push(((k, it.0), it.1)));
        let want: Vec<_> = model.iter().map(|(a, b)| (*a, *b)).collect();
        assert_eq!(got, want);
        for &(k, s) in model.keys() {
            assert!(t.get(k, s).is_some());
            let first = model.range((k, 0)..=(k, u64::MAX)).next().unwrap();
            assert_eq!(t.first_with(k, |_| true).map(|i| i.0), Some(first.0.1));
        }
    }

    #[test]
    fn random_ops_match_btreemap_and_snapshots_stay_frozen() {
        let mut t = PTree::default();
        let mut model = BTreeMap::new();
        let mut x: u64 = 0x1234_5678;
        let mut snaps = Vec::new();
        for seq in 1..6000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = x % 700; // many duplicate keys
            match x % 5 {
                0..=2 => {
                    t.insert(k, It(seq, seq as u32));
                    model.insert((k, seq), seq as u32);
                }
                3 => {
                    if let Some((&(k, s), _)) = model.range((k, 0)..).next() {
                        assert!(t.remove(k, s).is_some());
                        model.remove(&(k, s));
                    }
                    assert!(t.remove(k, u64::MAX).is_none());
                }
                _ => {
                    if let Some((&(k, s), _)) = model.range((k, 0)..).next() {
                        assert!(t.replace(k, s, It(s, 7)));
                        model.insert((k, s), 7);
                    }
                }
            }
            if seq % 1000 == 0 {
                check(&t, &model);
                snaps.push((t.clone(), model.clone()));
            }
        }
        for (t, m) in &snaps {
            check(t, m);
        }
        // drain
        let keys: Vec<_> = model.keys().copied().collect();
        for (k, s) in keys {
            assert!(t.remove(k, s).is_some());
        }
        assert!(t.is_empty());
        for (t, m) in &snaps {
            check(t, m);
        }
    }

    #[test]
    fn from_sorted_then_update() {
        let items: Vec<_> = (0..5000u64).map(|i| (i / 3, It(i + 1, 0))).collect();
        let mut model: BTreeMap<_, _> = items.iter().map(|(k, it)| ((*k, it.0), 0)).collect();
        let mut t = PTree::from_sorted(items);
        check(&t, &model);
        t.insert(10, It(99_999, 1));
        model.insert((10, 99_999), 1);
        t.remove(0, 1);
        model.remove(&(0, 1));
        check(&t, &model);
        assert_eq!(t.all_with(10, |_| true).len(), 4);
        let mut seen = Vec::new();
        t.scan_from(1660, 0, |k, it| {
            seen.push((k, it.0));
            seen.len() == 3
        });
        assert_eq!(seen, vec![(1660, 4981), (1660, 4982), (1660, 4983)]);
    }
}
