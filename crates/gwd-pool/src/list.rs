//! Intrusive doubly linked lists threaded through a [`Slab`].
//!
//! A node can sit in several lists at once, one per [`Link`] field; the
//! `link` accessor passed to each function selects which. All operations are
//! O(1). Index `NIL` means "none".

use slab::Slab;

pub(crate) const NIL: usize = usize::MAX;

/// One node's position in one list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub(crate) prev: usize,
    pub(crate) next: usize,
}

impl Link {
    pub(crate) const DETACHED: Link = Link {
        prev: NIL,
        next: NIL,
    };
}

/// A list's ends and length. `head` is the most recently pushed node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct List {
    pub(crate) head: usize,
    pub(crate) tail: usize,
    pub(crate) len: usize,
}

impl List {
    pub(crate) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Selects one of a node's links.
pub(crate) type LinkOf<N> = fn(&mut N) -> &mut Link;

/// Pushes `idx` (not in this list) at the head.
pub(crate) fn push_front<N>(nodes: &mut Slab<N>, list: &mut List, idx: usize, link: LinkOf<N>) {
    let old = list.head;
    *link(&mut nodes[idx]) = Link {
        prev: NIL,
        next: old,
    };
    if old == NIL {
        list.tail = idx;
    } else {
        link(&mut nodes[old]).prev = idx;
    }
    list.head = idx;
    list.len += 1;
}

/// Removes `idx` (which must be in this list).
pub(crate) fn unlink<N>(nodes: &mut Slab<N>, list: &mut List, idx: usize, link: LinkOf<N>) {
    let Link { prev, next } = std::mem::replace(link(&mut nodes[idx]), Link::DETACHED);
    if prev == NIL {
        list.head = next;
    } else {
        link(&mut nodes[prev]).next = next;
    }
    if next == NIL {
        list.tail = prev;
    } else {
        link(&mut nodes[next]).prev = prev;
    }
    list.len -= 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct N {
        v: u32,
        a: Link,
        b: Link,
    }

    fn la(n: &mut N) -> &mut Link {
        &mut n.a
    }
    fn lb(n: &mut N) -> &mut Link {
        &mut n.b
    }

    fn collect(nodes: &mut Slab<N>, list: &List, link: LinkOf<N>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = list.head;
        while i != NIL {
            out.push(nodes[i].v);
            i = link(&mut nodes[i]).next;
        }
        // Walk backwards too and check it mirrors.
        let mut back = Vec::new();
        let mut i = list.tail;
        while i != NIL {
            back.push(nodes[i].v);
            i = link(&mut nodes[i]).prev;
        }
        back.reverse();
        assert_eq!(out, back);
        assert_eq!(out.len(), list.len);
        out
    }

    #[test]
    fn two_lists_through_the_same_nodes() {
        let mut nodes = Slab::new();
        let mut a = List::EMPTY;
        let mut b = List::EMPTY;
        let ids: Vec<usize> = (0..4)
            .map(|v| {
                nodes.insert(N {
                    v,
                    a: Link::DETACHED,
                    b: Link::DETACHED,
                })
            })
            .collect();
        for &i in &ids {
            push_front(&mut nodes, &mut a, i, la);
        }
        for &i in ids.iter().rev() {
            push_front(&mut nodes, &mut b, i, lb);
        }
        assert_eq!(collect(&mut nodes, &a, la), [3, 2, 1, 0]);
        assert_eq!(collect(&mut nodes, &b, lb), [0, 1, 2, 3]);
        unlink(&mut nodes, &mut a, ids[2], la); // middle
        unlink(&mut nodes, &mut a, ids[3], la); // head
        unlink(&mut nodes, &mut b, ids[3], lb); // tail
        assert_eq!(collect(&mut nodes, &a, la), [1, 0]);
        assert_eq!(collect(&mut nodes, &b, lb), [0, 1, 2]);
        unlink(&mut nodes, &mut a, ids[0], la); // tail
        unlink(&mut nodes, &mut a, ids[1], la); // last
        assert!(a.is_empty());
        assert_eq!((a.head, a.tail), (NIL, NIL));
        push_front(&mut nodes, &mut a, ids[1], la);
        assert_eq!(collect(&mut nodes, &a, la), [1]);
    }
}
