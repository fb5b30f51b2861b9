//! Writing frames to a byte stream without copying their data: a small
//! framing prefix, the data itself, and a fixed suffix, written with one
//! vectored write where the stream supports it. And reading heads without
//! keeping a buffer: [`poll_read_stack`].

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read onto the stack at a time by [`poll_read_stack`].
pub(crate) const STACK_READ: usize = 8 * 1024;

/// Reads up to `max` bytes (at most [`STACK_READ`]) into a buffer on the
/// stack and appends what arrived to `buf`: an idle connection keeps no
/// read buffer, and a head (with the body bytes that came with it) takes
/// one allocation of its size.
pub(crate) fn poll_read_stack<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    max: usize,
) -> Poll<io::Result<usize>> {
    let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
    let len = max.clamp(1, STACK_READ);
    let mut rb = ReadBuf::uninit(&mut stack[..len]);
    ready!(Pin::new(io).poll_read(cx, &mut rb))?;
    buf.extend_from_slice(rb.filled());
    Poll::Ready(Ok(rb.filled().len()))
}

/// The least room a body's read makes: HAProxy's buffer size, what a
/// slow or stalled body holds while gwd waits for its next bytes.
pub(crate) const BODY_READ_MIN: usize = 16 * 1024;
/// The most room a body's read makes. A 1 MiB upload then crosses in
/// about 20 reads and 20 writes instead of 50 of each, and wakes the
/// reading side as many times fewer: on loopback, where the kernel's
/// copies and wake-ups are most of the cost, 25-50 % less CPU per 1 MiB
/// upload (docs/PERFORMANCE.md, stop 32). Not 64 KiB: loopback's largest
/// segment is 65,483 bytes, so a 65,536-byte write goes out as a full
/// segment and a 53-byte one, and that second segment's sending and
/// acknowledging cost more than the larger write saved (1 MiB downloads
/// took 60 % more CPU than with 16 KiB reads; with 60 KiB, 10-15 % less).
pub(crate) const BODY_READ_MAX: usize = 60 * 1024;

/// Reads at most `room` bytes onto the end of `buf`, first making exactly
/// that much free space when there is less: `BytesMut::reserve` may
/// allocate more than asked (twice the old size, or the size of the
/// buffer's first allocation), and a read fills whatever is free, so
/// neither the read nor the memory a stalled body holds would stay
/// within `room`.
pub(crate) fn poll_read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    room: usize,
) -> Poll<io::Result<usize>> {
    use bytes::BufMut as _;
    if buf.capacity() - buf.len() < room {
        let mut fresh = BytesMut::with_capacity(buf.len() + room);
        fresh.extend_from_slice(buf);
        *buf = fresh;
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut buf.limit(room))
}

/// How much room a body's reads make: [`BODY_READ_MIN`] at first, twice
/// as much after a read that filled the room (the peer had more queued
/// than fit), up to [`BODY_READ_MAX`]; half as much after a read that
/// filled less than half of it; never more than the framing says is left
/// (but at least the minimum, so framing and what follows fit too). So
/// only a body that arrives faster than it is read holds 60 KiB: a
/// visitor that announces a large body and sends it a byte at a time
/// keeps gwd at 16 KiB, as before. A body whose receiver stops reading
/// holds what its last read took (at most 60 KiB) beside the piece
/// waiting to be written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyReads {
    size: usize,
}

impl Default for BodyReads {
    fn default() -> Self {
        BodyReads {
            size: BODY_READ_MIN,
        }
    }
}

impl BodyReads {
    /// Room to make before the next read; `remaining`: the body's bytes
    /// the framing says are still to come, when it says.
    pub(crate) fn room(&self, remaining: Option<u64>) -> usize {
        match remaining {
            Some(r) => usize::try_from(r).map_or(self.size, |r| r.clamp(BODY_READ_MIN, self.size)),
            None => self.size,
        }
    }

    /// A read took `n` bytes into `room` bytes of free space.
    pub(crate) fn took(&mut self, n: usize, room: usize) {
        if n >= room {
            self.size = (self.size * 2).min(BODY_READ_MAX);
        } else if n < self.size / 2 {
            self.size = (self.size / 2).max(BODY_READ_MIN);
        }
    }
}

/// Parts totalling at most this many bytes are joined into one write.
const JOIN_BELOW: usize = 2048;

/// Bytes waiting to be written: `prefix`, then `data`, then `suffix`.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    prefix: Vec<u8>,
    data: Bytes,
    suffix: &'static [u8],
    /// Bytes of the concatenation already written.
    written: usize,
}

impl Outgoing {
    pub fn new(prefix: Vec<u8>, data: Bytes, suffix: &'static [u8]) -> Outgoing {
        Outgoing {
            prefix,
            data,
            suffix,
            written: 0,
        }
    }

    pub fn data(data: Bytes) -> Outgoing {
        Outgoing::new(Vec::new(), data, b"")
    }

    pub fn len(&self) -> usize {
        self.prefix.len() + self.data.len() + self.suffix.len()
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    pub fn is_done(&self) -> bool {
        self.written >= self.len()
    }

    /// Writes until everything is out (`Ready(Ok)`), the stream would block
    /// (`Pending`), or it fails.
    pub fn poll_write<S: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
    ) -> Poll<io::Result<()>> {
        while !self.is_done() {
            let mut at = self.written;
            let mut slices: [IoSlice<'_>; 3] =
                [IoSlice::new(&[]), IoSlice::new(&[]), IoSlice::new(&[])];
            let mut n = 0;
            for part in [&self.prefix[..], &self.data[..], self.suffix] {
                if at >= part.len() {
                    at -= part.len();
                    continue;
                }
                slices[n] = IoSlice::new(&part[at..]);
                at = 0;
                n += 1;
            }
            let left = self.len() - self.written;
            let wrote = if n == 1 || !io.is_write_vectored() {
                ready!(Pin::new(&mut *io).poll_write(cx, &slices[0]))?
            } else if left <= JOIN_BELOW {
                // A small answer (a head and a short body) costs less
                // joined on the stack and sent with one plain write than
                // as a vectored write: the kernel's writev path (the
                // iovec import, the file layer) costs more than the copy.
                let mut joined = [0u8; JOIN_BELOW];
                let mut len = 0;
                for s in &slices[..n] {
                    joined[len..len + s.len()].copy_from_slice(s);
                    len += s.len();
                }
                ready!(Pin::new(&mut *io).poll_write(cx, &joined[..len]))?
            } else {
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n]))?
            };
            if wrote == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += wrote;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_read_takes_no_more_than_its_room_nor_holds_more() {
        let (mut tx, mut rx) = tokio::io::duplex(1 << 20);
        tokio::io::AsyncWriteExt::write_all(&mut tx, &[7u8; 300_000])
            .await
            .unwrap();
        // A buffer that once held a large allocation: `reserve` would
        // hand its size back.
        let mut big = BytesMut::with_capacity(200_000);
        big.extend_from_slice(&[1u8; 100]);
        let mut buf = big.split_off(100);
        drop(big);
        let n = std::future::poll_fn(|cx| poll_read_body(&mut rx, cx, &mut buf, 20_000))
            .await
            .unwrap();
        assert_eq!(n, 20_000);
        // Leftover bytes are kept, and the new space is exactly the room.
        let mut buf = BytesMut::from(&b"abc"[..]);
        let n = std::future::poll_fn(|cx| poll_read_body(&mut rx, cx, &mut buf, BODY_READ_MAX))
            .await
            .unwrap();
        assert_eq!(n, BODY_READ_MAX);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(buf.capacity(), 3 + BODY_READ_MAX);
    }

    #[test]
    fn body_reads_grow_while_they_fill_and_shrink_when_they_do_not() {
        let mut r = BodyReads::default();
        assert_eq!(r.room(None), BODY_READ_MIN);
        assert_eq!(r.room(Some(1 << 20)), BODY_READ_MIN);
        // A trickle never grows it.
        for _ in 0..10 {
            r.took(1, BODY_READ_MIN);
        }
        assert_eq!(r.room(Some(1 << 20)), BODY_READ_MIN);
        // Full reads double it, up to the most.
        r.took(BODY_READ_MIN, BODY_READ_MIN);
        assert_eq!(r.room(Some(1 << 20)), 2 * BODY_READ_MIN);
        for _ in 0..10 {
            let room = r.room(Some(1 << 20));
            r.took(room, room);
        }
        assert_eq!(r.room(Some(1 << 20)), BODY_READ_MAX);
        assert_eq!(r.room(Some(u64::MAX)), BODY_READ_MAX);
        assert_eq!(r.room(None), BODY_READ_MAX);
        // Never more than what is left, never under the least.
        assert_eq!(r.room(Some(40_000)), 40_000);
        assert_eq!(r.room(Some(10)), BODY_READ_MIN);
        // A half-empty read halves it.
        r.took(1000, BODY_READ_MAX);
        assert_eq!(r.room(None), BODY_READ_MAX / 2);
        // Reads that fill more than half of it keep it.
        r.took(BODY_READ_MAX / 3, BODY_READ_MAX / 2);
        assert_eq!(r.room(None), BODY_READ_MAX / 2);
    }
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn writes_all_three_parts_in_order_through_a_tiny_pipe() {
        let (mut a, mut b) = tokio::io::duplex(3);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut out = Outgoing::new(b"5\r\n".to_vec(), Bytes::from_static(b"hello"), b"\r\n");
        std::future::poll_fn(|cx| out.poll_write(cx, &mut a))
            .await
            .unwrap();
        assert!(out.is_done());
        drop(a);
        assert_eq!(reader.await.unwrap(), b"5\r\nhello\r\n");
    }
}
