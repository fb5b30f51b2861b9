//! Received DATA payloads handed on joined.
//!
//! A peer sends a large body as DATA frames of at most its frame size
//! (16 KiB unless SETTINGS say more), and one socket read brings several
//! of them. Each payload handed on alone becomes a write of its own on
//! the other side (a server over HTTP/1.1, a visitor): 64 writes and 64
//! wake-ups of the reader for 1 MiB in 16 KiB frames. Copying the
//! payloads that are already waiting into one piece costs less than the
//! calls it saves.
//!
//! [`join_run`] is the rule, shared by every queue of received DATA in
//! gwd: a payload taken from the front of a queue and the run of data
//! pieces behind it, in order, up to [`JOIN_LIMIT`] bytes (always at
//! least the first piece, whatever its size), stopping at the first item
//! that is not data (trailers end a run). A run of one piece is handed
//! over uncopied.
//!
//! ```
//! use std::collections::VecDeque;
//! use bytes::Bytes;
//! use gwd_mux_h2::data::{JOIN_LIMIT, join_run};
//!
//! let mut queue: VecDeque<Bytes> = (0..5u8).map(|b| Bytes::from(vec![b; 16 * 1024])).collect();
//! let first = queue.pop_front().unwrap();
//! // Three 16 KiB payloads fit under the limit; the fourth would not.
//! let joined = join_run(first, &mut queue, JOIN_LIMIT);
//! assert_eq!(joined.len(), 48 * 1024);
//! assert_eq!(queue.len(), 2);
//! ```

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// The most bytes gwd hands on as one joined piece: under 64 KiB because
/// on loopback a 65,536-byte write goes out as a full segment (65,483
/// bytes) plus a 53-byte one.
pub const JOIN_LIMIT: usize = 60 * 1024;

/// An item of a queue of received body items, some of which are data.
pub trait DataItem {
    /// The payload, when the item is data; `None` ends a run.
    fn data(&self) -> Option<&Bytes>;
    /// The payload of an item for which [`DataItem::data`] is `Some`.
    fn into_data(self) -> Option<Bytes>;
}

impl DataItem for Bytes {
    fn data(&self) -> Option<&Bytes> {
        Some(self)
    }

    fn into_data(self) -> Option<Bytes> {
        Some(self)
    }
}

/// `first` (a payload just taken from the front of `rest`) joined with
/// the run of data pieces right behind it in `rest`, in order, up to
/// `limit` bytes in all; `first` alone and uncopied when nothing joins
/// it (it may itself be larger than `limit`). The pieces joined leave
/// `rest`; the item that ended the run stays.
pub fn join_run<T: DataItem>(first: Bytes, rest: &mut VecDeque<T>, limit: usize) -> Bytes {
    let mut total = first.len();
    let mut n = 0;
    for item in rest.iter() {
        match item.data() {
            Some(d) if total + d.len() <= limit => {
                total += d.len();
                n += 1;
            }
            _ => break,
        }
    }
    if n == 0 {
        return first;
    }
    let mut joined = BytesMut::with_capacity(total);
    joined.extend_from_slice(&first);
    for item in rest.drain(..n) {
        if let Some(d) = item.into_data() {
            joined.extend_from_slice(&d);
        }
    }
    joined.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Item {
        Data(Bytes),
        End,
    }

    impl DataItem for Item {
        fn data(&self) -> Option<&Bytes> {
            match self {
                Item::Data(d) => Some(d),
                Item::End => None,
            }
        }

        fn into_data(self) -> Option<Bytes> {
            match self {
                Item::Data(d) => Some(d),
                Item::End => None,
            }
        }
    }

    fn piece(b: u8, n: usize) -> Bytes {
        Bytes::from(vec![b; n])
    }

    #[test]
    fn joins_in_order_up_to_the_limit() {
        let mut q: VecDeque<Bytes> = (2..=5).map(|b| piece(b, 16 * 1024)).collect();
        let d = join_run(piece(1, 16 * 1024), &mut q, JOIN_LIMIT);
        assert_eq!(d.len(), 48 * 1024);
        assert_eq!((d[0], d[16 * 1024], d[48 * 1024 - 1]), (1, 2, 3));
        assert_eq!(q.len(), 2);
        // Exactly the limit joins; one byte more does not.
        let mut q: VecDeque<Bytes> = [piece(2, 30 * 1024), piece(3, 1)].into();
        assert_eq!(
            join_run(piece(1, 30 * 1024), &mut q, JOIN_LIMIT).len(),
            JOIN_LIMIT
        );
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_first_piece_over_the_limit_goes_whole_and_uncopied() {
        let big = piece(9, 100 * 1024);
        let mut q: VecDeque<Bytes> = [piece(1, 1)].into();
        let d = join_run(big.clone(), &mut q, JOIN_LIMIT);
        assert_eq!(d.as_ptr(), big.as_ptr());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_non_data_item_ends_the_run_and_is_left_in_place() {
        let first = piece(6, 10);
        let mut q: VecDeque<Item> = [Item::End, Item::Data(piece(7, 1))].into();
        let d = join_run(first.clone(), &mut q, JOIN_LIMIT);
        assert_eq!(d.as_ptr(), first.as_ptr());
        assert!(matches!(q.front(), Some(Item::End)));
        assert_eq!(q.len(), 2);
        let d = join_run(piece(1, 3), &mut VecDeque::<Item>::new(), JOIN_LIMIT);
        assert_eq!(&d[..], &[1, 1, 1]);
    }
}
