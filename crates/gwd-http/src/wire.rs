//! Writing frames to a byte stream without copying their data: a small
//! framing prefix, the data itself, and a fixed suffix, written with one
//! vectored write where the stream supports it.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::AsyncWrite;

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
            let wrote = if n == 1 || !io.is_write_vectored() {
                ready!(Pin::new(&mut *io).poll_write(cx, &slices[0]))?
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
