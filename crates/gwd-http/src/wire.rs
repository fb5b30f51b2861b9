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

/// Room made before reading a body when little of it is left, or its
/// framing does not say (a chunk's size line, a close-delimited body):
/// HAProxy's buffer size.
pub(crate) const BODY_READ_MIN: usize = 16 * 1024;
/// Room made before reading a body with at least this much left. A
/// 1 MiB upload then crosses in about 17 reads and 17 writes instead of
/// 50 of each, and wakes the reading side as many times fewer: on
/// loopback, where the kernel's copies and wake-ups are most of the cost,
/// 15-30 % less CPU per upload (docs/PERFORMANCE.md, stop 32). Only a
/// connection moving a large body holds this much, and only while it
/// does.
pub(crate) const BODY_READ_MAX: usize = 64 * 1024;

/// How much room to make in a body's read buffer before the next read:
/// what the framing says is left (`remaining`), within
/// [`BODY_READ_MIN`]..=[`BODY_READ_MAX`].
pub(crate) fn body_read_size(remaining: Option<u64>) -> usize {
    remaining.map_or(BODY_READ_MIN, |r| {
        usize::try_from(r).map_or(BODY_READ_MAX, |r| r.clamp(BODY_READ_MIN, BODY_READ_MAX))
    })
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

    #[test]
    fn body_reads_grow_with_what_is_left_of_the_body() {
        assert_eq!(body_read_size(None), BODY_READ_MIN);
        assert_eq!(body_read_size(Some(10)), BODY_READ_MIN);
        assert_eq!(body_read_size(Some(40_000)), 40_000);
        assert_eq!(body_read_size(Some(1 << 20)), BODY_READ_MAX);
        assert_eq!(body_read_size(Some(u64::MAX)), BODY_READ_MAX);
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
