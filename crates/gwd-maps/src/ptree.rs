//! A persistent (path-copying) B+tree of `(key: u64, item)` pairs ordered by
//! `(key, item.seq())`.
//!
//! Readers hold an `Arc` to a root and never see it change. A writer clones
//! the tree (one `Arc` increment) and mutates the clone: `Arc::make_mut` copies
//! each node on the path from the root to the touched leaf only when that node
//! is shared, so an update costs O(depth × fanout) and a tree the writer owns
//! alone (bulk loading) is updated in place.
//!
//! Keys are hashes (or other order keys); several items may share a key
//! (duplicate patterns or hash collisions), and they are kept in `seq`
//! (file) order, so "the first matching item with key k" is the earliest
//! entry in file order.

use std::sync::Arc;

/// Maximum items per leaf / children per inner node.
const MAX: usize = 32;
/// Below this a node is merged with a neighbour when the two fit in one.
const MIN: usize = MAX / 4;
/// Fill used by [`PTree::from_sorted`].
const FILL: usize = MAX * 7 / 8;

/// What the tree stores: anything cloneable with a sequence number.
pub(crate) trait Item: Clone {
    fn seq(&self) -> u64;
}

type Pos = (u64, u64);

#[derive(Clone)]
enum Node<T> {
    Leaf(Vec<(u64, T)>),
    Inner(Vec<Child<T>>),
}

#[derive(Clone)]
struct Child<T> {
    /// Lower bound of every position in `node`, and above every position of
    /// the previous sibling.
    lo: Pos,
    node: Arc<Node<T>>,
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
#[derive(Clone)]
pub(crate) struct PTree<T> {
    root: Option<Arc<Node<T>>>,
    len: usize,
}

impl<T> Default for PTree<T> {
    fn default() -> Self {
        PTree { root: None, len: 0 }
    }
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
            let start = items.partition_point(|(h, _)| *h < k);
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
            let i = ch.partition_point(|c| c.lo.0 < k).saturating_sub(1);
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

fn get_exact<T: Item>(node: &Node<T>, p: Pos) -> Option<&T> {
    match node {
        Node::Leaf(items) => {
            let i = items.partition_point(|(h, t)| pos_of(*h, t) < p);
            items
                .get(i)
                .filter(|(h, t)| pos_of(*h, t) == p)
                .map(|(_, t)| t)
        }
        Node::Inner(ch) => {
            let i = ch.partition_point(|c| c.lo <= p).saturating_sub(1);
            get_exact(&ch[i].node, p)
        }
    }
}

fn insert_rec<T: Item>(node: &mut Node<T>, k: u64, item: T) -> Option<(Pos, Node<T>)> {
    let p = pos_of(k, &item);
    match node {
        Node::Leaf(items) => {
            let i = items.partition_point(|(h, t)| pos_of(*h, t) < p);
            items.reserve_exact(1);
            items.insert(i, (k, item));
            if items.len() > MAX {
                let right = items.split_off(items.len() / 2);
                items.shrink_to_fit();
                let lo = pos_of(right[0].0, &right[0].1);
                return Some((lo, Node::Leaf(right)));
            }
            None
        }
        Node::Inner(ch) => {
            let i = ch.partition_point(|c| c.lo <= p).saturating_sub(1);
            if p < ch[i].lo {
                ch[i].lo = p;
            }
            let split = insert_rec(Arc::make_mut(&mut ch[i].node), k, item);
            if let Some((lo, right)) = split {
                ch.reserve_exact(1);
                ch.insert(
                    i + 1,
                    Child {
                        lo,
                        node: Arc::new(right),
                    },
                );
                if ch.len() > MAX {
                    let right = ch.split_off(ch.len() / 2);
                    ch.shrink_to_fit();
                    return Some((right[0].lo, Node::Inner(right)));
                }
            }
            None
        }
    }
}

fn remove_rec<T: Item>(node: &mut Node<T>, p: Pos) -> Option<T> {
    match node {
        Node::Leaf(items) => {
            let i = items.partition_point(|(h, t)| pos_of(*h, t) < p);
            if items.get(i).is_some_and(|(h, t)| pos_of(*h, t) == p) {
                Some(items.remove(i).1)
            } else {
                None
            }
        }
        Node::Inner(ch) => {
            let i = ch.partition_point(|c| c.lo <= p).saturating_sub(1);
            let child = Arc::make_mut(&mut ch[i].node);
            let removed = remove_rec(child, p)?;
            let clen = child.len();
            if clen == 0 {
                ch.remove(i);
            } else if clen < MIN && ch.len() > 1 {
                let (l, r) = if i + 1 < ch.len() { (i, i + 1) } else { (i - 1, i) };
                if ch[l].node.len() + ch[r].node.len() <= MAX {
                    let right = ch.remove(r);
                    let right_lo = right.lo;
                    let right_node = Arc::try_unwrap(right.node).unwrap_or_else(|a| (*a).clone());
                    match (Arc::make_mut(&mut ch[l].node), right_node) {
                        (Node::Leaf(a), Node::Leaf(b)) => {
                            a.reserve_exact(b.len());
                            a.extend(b);
                        }
                        (Node::Inner(a), Node::Inner(mut b)) => {
                            b[0].lo = right_lo;
                            a.reserve_exact(b.len());
                            a.extend(b);
                        }
                        _ => unreachable!("siblings have the same height"),
                    }
                }
            }
            Some(removed)
        }
    }
}

fn replace_rec<T: Item>(node: &mut Node<T>, p: Pos, item: T) {
    match node {
        Node::Leaf(items) => {
            let i = items.partition_point(|(h, t)| pos_of(*h, t) < p);
            items[i].1 = item;
        }
        Node::Inner(ch) => {
            let i = ch.partition_point(|c| c.lo <= p).saturating_sub(1);
            replace_rec(Arc::make_mut(&mut ch[i].node), p, item);
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
            let i = items.partition_point(|(h, t)| pos_of(*h, t) < from);
            items[i..].iter().any(|(h, t)| f(*h, t))
        }
        Node::Inner(ch) => {
            let i = ch.partition_point(|c| c.lo <= from).saturating_sub(1);
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
        match find(self.root.as_deref()?, k, &mut pred) {
            Flow::Found(t) => Some(t),
            _ => None,
        }
    }

    /// Every item with key `k` satisfying `pred`, in seq order.
    pub(crate) fn all_with<'a>(&'a self, k: u64, mut pred: impl FnMut(&T) -> bool) -> Vec<&'a T> {
        let mut out = Vec::new();
        if let Some(root) = self.root.as_deref() {
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
        get_exact(self.root.as_deref()?, (k, seq))
    }

    /// Inserts `item` under key `k`. `(k, item.seq())` must not be present.
    pub(crate) fn insert(&mut self, k: u64, item: T) {
        self.len += 1;
        let Some(root) = self.root.as_mut() else {
            self.root = Some(Arc::new(Node::Leaf(vec![(k, item)])));
            return;
        };
        if let Some((lo, right)) = insert_rec(Arc::make_mut(root), k, item) {
            let left = self.root.take().expect("root");
            self.root = Some(Arc::new(Node::Inner(vec![
                Child {
                    lo: (0, 0),
                    node: left,
                },
                Child {
                    lo,
                    node: Arc::new(right),
                },
            ])));
        }
    }

    /// Removes the item at `(k, seq)`.
    pub(crate) fn remove(&mut self, k: u64, seq: u64) -> Option<T> {
        self.get(k, seq)?;
        let root = self.root.as_mut()?;
        let removed = remove_rec(Arc::make_mut(root), (k, seq));
        if removed.is_some() {
            self.len -= 1;
        }
        loop {
            match self.root.as_deref() {
                Some(Node::Inner(ch)) if ch.len() == 1 => {
                    self.root = Some(ch[0].node.clone());
                }
                Some(n) if n.len() == 0 => self.root = None,
                _ => break,
            }
        }
        removed
    }

    /// Replaces the item at `(k, seq)` (which must keep the same seq).
    /// Returns false when absent.
    pub(crate) fn replace(&mut self, k: u64, seq: u64, item: T) -> bool {
        debug_assert_eq!(item.seq(), seq);
        if self.get(k, seq).is_none() {
            return false;
        }
        let root = self.root.as_mut().expect("present");
        replace_rec(Arc::make_mut(root), (k, seq), item);
        true
    }

    /// Visits every item in `(key, seq)` order.
    pub(crate) fn for_each<'a>(&'a self, mut f: impl FnMut(u64, &'a T)) {
        if let Some(root) = self.root.as_deref() {
            for_each_rec(root, &mut f);
        }
    }

    /// Visits items at or after `(k, seq)` until `f` returns true.
    pub(crate) fn scan_from<'a>(&'a self, k: u64, seq: u64, mut f: impl FnMut(u64, &'a T) -> bool) {
        if let Some(root) = self.root.as_deref() {
            scan_from_rec(root, (k, seq), &mut f);
        }
    }

    /// Builds a tree from items sorted by `(key, seq)` (bulk load).
    pub(crate) fn from_sorted(items: Vec<(u64, T)>) -> Self {
        let len = items.len();
        if len == 0 {
            return PTree::default();
        }
        let mut level: Vec<Child<T>> = Vec::with_capacity(len / FILL + 1);
        let mut it = items.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<(u64, T)> = it.by_ref().take(FILL).collect();
            let lo = pos_of(chunk[0].0, &chunk[0].1);
            let mut chunk = chunk;
            chunk.shrink_to_fit();
            level.push(Child {
                lo,
                node: Arc::new(Node::Leaf(chunk)),
            });
        }
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len() / FILL + 1);
            let mut it = level.into_iter().peekable();
            while it.peek().is_some() {
                let mut chunk: Vec<Child<T>> = it.by_ref().take(FILL).collect();
                chunk.shrink_to_fit();
                next.push(Child {
                    lo: chunk[0].lo,
                    node: Arc::new(Node::Inner(chunk)),
                });
            }
            level = next;
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
                0 | 1 | 2 => {
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
