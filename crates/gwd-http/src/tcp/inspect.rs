//! Content inspection: the client's first bytes, buffered before any is
//! forwarded, for `tcp-request.content` rules and `use_backend`.
//!
//! Model: with an `inspect-delay`, bytes are read until the buffer is
//! [`settled`] or the delay runs out; without one, nothing is read (the
//! rules see an empty buffer, as HAProxy's do without a delay). The
//! buffer is then forwarded first by the relay, so inspection changes
//! nothing the server receives.
//!
//! Invariant: at most [`MAX_INSPECT`] bytes are buffered (reads are
//! sized to what is left of it).

use std::time::Duration;

use gwd_sample::hello::{HelloParse, parse_client_hello};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most bytes buffered for inspection (HAProxy's default `bufsize`).
pub(crate) const MAX_INSPECT: usize = 16 * 1024;

/// How inspection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inspected {
    /// The buffer settled, the delay ran out, or there was none.
    Done,
    /// The client closed its side (the buffer holds what it sent; the
    /// relay passes its FIN on).
    ClientClosed,
    /// Reading from the client failed.
    Failed,
}

/// Whether `buf` will not tell the rules more by waiting: a whole TLS
/// ClientHello, bytes that cannot start one, or a full buffer.
pub(crate) fn settled(buf: &[u8]) -> bool {
    buf.len() >= MAX_INSPECT || parse_client_hello(buf) != HelloParse::Incomplete
}

/// Buffers the client's first bytes into `buf` (see the module docs).
pub(crate) async fn inspect<R: AsyncRead + Unpin + ?Sized>(
    client: &mut R,
    buf: &mut Vec<u8>,
    delay: Option<Duration>,
) -> Inspected {
    let Some(delay) = delay else {
        return Inspected::Done;
    };
    let deadline = tokio::time::Instant::now() + delay;
    let mut chunk = [0u8; 4096];
    while !settled(buf) {
        let room = (MAX_INSPECT - buf.len()).min(chunk.len());
        match tokio::time::timeout_at(deadline, client.read(&mut chunk[..room])).await {
            Err(_) => return Inspected::Done,
            Ok(Ok(0)) => return Inspected::ClientClosed,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(_)) => return Inspected::Failed,
        }
    }
    Inspected::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, duplex};

    #[test]
    fn a_hello_prefix_is_not_settled_other_protocols_are() {
        assert!(!settled(b""));
        assert!(!settled(&[22, 3, 1, 0, 50, 1, 0]));
        assert!(settled(b"SSH-2.0-OpenSSH"));
        assert!(settled(&vec![22u8; MAX_INSPECT]));
    }

    #[tokio::test]
    async fn waits_for_the_rest_of_a_hello_until_the_delay() {
        let (mut client, mut server_side) = duplex(1024);
        // Half a record header and nothing more: the delay decides.
        client.write_all(&[22, 3]).await.unwrap();
        let mut buf = Vec::new();
        let started = tokio::time::Instant::now();
        let r = inspect(&mut server_side, &mut buf, Some(Duration::from_millis(200))).await;
        assert_eq!(r, Inspected::Done);
        assert_eq!(buf, [22, 3]);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn stops_as_soon_as_the_bytes_are_not_a_hello_or_the_client_closes() {
        let (mut client, mut server_side) = duplex(1024);
        client.write_all(b"GET / HTTP/1.0\r\n").await.unwrap();
        let mut buf = Vec::new();
        let r = inspect(&mut server_side, &mut buf, Some(Duration::from_secs(3600))).await;
        assert_eq!(r, Inspected::Done);
        assert_eq!(buf, b"GET / HTTP/1.0\r\n");
        let (mut client, mut server_side) = duplex(1024);
        client.write_all(&[22, 3, 1]).await.unwrap();
        client.shutdown().await.unwrap();
        let mut buf = Vec::new();
        let r = inspect(&mut server_side, &mut buf, Some(Duration::from_secs(3600))).await;
        assert_eq!(r, Inspected::ClientClosed);
        // No delay: nothing is read.
        let mut buf = Vec::new();
        assert_eq!(
            inspect(&mut server_side, &mut buf, None).await,
            Inspected::Done
        );
        assert!(buf.is_empty());
    }
}
