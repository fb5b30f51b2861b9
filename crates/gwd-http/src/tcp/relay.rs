//! The byte relay between a TCP-mode client and its server.
//!
//! Model: two [`Half`]s, client→server and server→client, each a buffer
//! that is filled by reads on one side and drained by writes on the other,
//! polled together from one future. When a side's read returns end of
//! stream and its half's buffer is drained, the other side gets
//! `shutdown(Write)` (a FIN, or TLS close_notify then FIN): half-close is
//! passed on and the other direction keeps flowing. The relay ends when
//! both halves are done, on the first I/O error, or when a side was idle
//! for its timeout.
//!
//! Invariants:
//! - a byte read is written before the half reads again (no unbounded
//!   buffering: at most one buffer per direction is held);
//! - a side's idle time counts from the last byte read from it or written
//!   to it; each side has its own timeout (HAProxy's `timeout client` and
//!   `timeout server`, or `timeout tunnel` for both);
//! - the counters see every byte as it is read ([`Meter`]), so statistics
//!   move while a long relay runs.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes per direction held at most. Large enough that bulk transfers
/// make few system calls; allocated per relay, freed with it. Not 64 KiB:
/// loopback's largest TCP segment is 65,483 bytes, and a 65,536-byte
/// write went out as a full segment plus a 53-byte one, which cost a
/// third more CPU per GB relayed (docs/PERFORMANCE.md, TCP mode, stop
/// 32; `crate::wire::BODY_READ_MAX` has the same bound for HTTP bodies).
pub(crate) const RELAY_BUF: usize = 60 * 1024;

/// Where relayed bytes are counted, as they are read.
pub(crate) trait Meter {
    /// `n` bytes read from the client (going to the server).
    fn up(&self, n: u64);
    /// `n` bytes read from the server (going to the client).
    fn down(&self, n: u64);
}

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Both sides closed their writing side and everything was passed on.
    Closed,
    /// The client was idle for its timeout.
    ClientTimeout,
    /// The server was idle for its timeout.
    ServerTimeout,
    /// Reading from or writing to the client failed.
    ClientError,
    /// Reading from or writing to the server failed.
    ServerError,
}

/// What a relay moved and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Relayed {
    /// Bytes client → server (`first` included).
    pub(crate) up: u64,
    /// Bytes server → client.
    pub(crate) down: u64,
    pub(crate) end: End,
}

/// One direction: what was read from one side and not yet written to the
/// other, and whether end of stream was seen and passed on.
struct Half {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    shut: bool,
    bytes: u64,
}

/// What one poll of a half did.
#[derive(Default)]
struct Progress {
    read: usize,
    wrote: bool,
}

/// Which side a failed operation was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Reader,
    Writer,
}

impl Half {
    fn new(size: usize) -> Half {
        Half {
            buf: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            shut: false,
            bytes: 0,
        }
    }

    fn done(&self) -> bool {
        self.shut
    }

    /// Moves what it can: reads while the buffer is empty, writes while it
    /// holds bytes, shuts the writer down after end of stream. `Ready(Ok)`
    /// once shut; `Pending` when waiting on either side.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        p: &mut Progress,
    ) -> Poll<Result<(), (Side, io::Error)>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.start < self.end {
                let n = ready!(w.as_mut().poll_write(cx, &self.buf[self.start..self.end]))
                    .map_err(|e| (Side::Writer, e))?;
                if n == 0 {
                    return Poll::Ready(Err((Side::Writer, io::ErrorKind::WriteZero.into())));
                }
                self.start += n;
                p.wrote = true;
                if self.start < self.end {
                    continue;
                }
                self.start = 0;
                self.end = 0;
                // Flushed before reading again: TLS writers buffer.
                ready!(w.as_mut().poll_flush(cx)).map_err(|e| (Side::Writer, e))?;
            }
            if self.eof {
                if !self.shut {
                    ready!(w.as_mut().poll_shutdown(cx)).map_err(|e| (Side::Writer, e))?;
                    self.shut = true;
                }
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut self.buf);
            ready!(r.as_mut().poll_read(cx, &mut rb)).map_err(|e| (Side::Reader, e))?;
            let n = rb.filled().len();
            if n == 0 {
                self.eof = true;
                continue;
            }
            self.end = n;
            self.bytes += n as u64;
            p.read += n;
        }
    }
}

/// Idle deadlines of both sides.
struct Idle {
    client: Option<Duration>,
    server: Option<Duration>,
    client_at: Instant,
    server_at: Instant,
}

impl Idle {
    /// The earliest deadline and which side it is; `None` without timeouts.
    fn next(&self) -> Option<(Instant, End)> {
        let c = self
            .client
            .map(|t| (self.client_at + t, End::ClientTimeout));
        let s = self
            .server
            .map(|t| (self.server_at + t, End::ServerTimeout));
        match (c, s) {
            (Some(c), Some(s)) => Some(if s.0 < c.0 { s } else { c }),
            (c, s) => c.or(s),
        }
    }
}

/// Relays until both directions closed, an error, or an idle timeout.
/// `first` (bytes already read from the client, e.g. during content
/// inspection) goes to the server before anything else; the caller has
/// counted them.
pub(crate) async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    first: &[u8],
    client_idle: Option<Duration>,
    server_idle: Option<Duration>,
    meter: &(dyn Meter + Sync),
) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Half::new(RELAY_BUF.max(first.len()));
    up.buf[..first.len()].copy_from_slice(first);
    up.end = first.len();
    up.bytes = first.len() as u64;
    let mut down = Half::new(RELAY_BUF);
    let now = Instant::now();
    let mut idle = Idle {
        client: client_idle,
        server: server_idle,
        client_at: now,
        server_at: now,
    };
    // One timer, moved only when it fires early (activity since): no timer
    // update per read.
    let mut sleep: Option<Pin<Box<Sleep>>> = idle
        .next()
        .map(|(at, _)| Box::pin(tokio::time::sleep_until(at)));
    let end = poll_fn(|cx| {
        loop {
            let (mut pu, mut pd) = (Progress::default(), Progress::default());
            let ru = if up.done() {
                Poll::Ready(Ok(()))
            } else {
                up.poll(cx, Pin::new(&mut *client), Pin::new(&mut *server), &mut pu)
            };
            let rd = if down.done() {
                Poll::Ready(Ok(()))
            } else {
                down.poll(cx, Pin::new(&mut *server), Pin::new(&mut *client), &mut pd)
            };
            if pu.read > 0 {
                meter.up(pu.read as u64);
            }
            if pd.read > 0 {
                meter.down(pd.read as u64);
            }
            if pu.read > 0 || pd.wrote || pu.wrote || pd.read > 0 {
                let now = Instant::now();
                if pu.read > 0 || pd.wrote {
                    idle.client_at = now;
                }
                if pd.read > 0 || pu.wrote {
                    idle.server_at = now;
                }
            }
            for (r, reader_end, writer_end) in [
                (&ru, End::ClientError, End::ServerError),
                (&rd, End::ServerError, End::ClientError),
            ] {
                if let Poll::Ready(Err((side, _))) = r {
                    return Poll::Ready(match side {
                        Side::Reader => reader_end,
                        Side::Writer => writer_end,
                    });
                }
            }
            if up.done() && down.done() {
                return Poll::Ready(End::Closed);
            }
            let Some(s) = sleep.as_mut() else {
                return Poll::Pending;
            };
            if s.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: a side is idle, or activity moved the
            // deadline and the timer is re-armed.
            let Some((at, which)) = idle.next() else {
                return Poll::Pending;
            };
            if at <= Instant::now() {
                return Poll::Ready(which);
            }
            s.as_mut().reset(at);
        }
    })
    .await;
    Relayed {
        up: up.bytes,
        down: down.bytes,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[derive(Default)]
    struct Count(AtomicU64, AtomicU64);
    impl Meter for Count {
        fn up(&self, n: u64) {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
        fn down(&self, n: u64) {
            self.1.fetch_add(n, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn half_close_is_passed_on_and_the_other_direction_keeps_flowing() {
        let (mut client, mut c_end) = duplex(1024);
        let (mut server, mut s_end) = duplex(1024);
        let meter = Count::default();
        let peers = async {
            client.write_all(b"hello").await.unwrap();
            client.shutdown().await.unwrap();
            // The server sees the bytes, then end of stream.
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"first hello");
            // It still answers after the client's FIN, at length (read
            // while written: the pipes hold 1 KiB).
            let big = vec![7u8; 200_000];
            let mut back = Vec::new();
            let (w, r) = tokio::join!(
                async {
                    server.write_all(&big).await?;
                    server.shutdown().await
                },
                client.read_to_end(&mut back)
            );
            w.unwrap();
            r.unwrap();
            assert_eq!(back.len(), big.len());
        };
        let relayed = async {
            relay(
                &mut c_end,
                &mut s_end,
                b"first ",
                Some(Duration::from_secs(5)),
                Some(Duration::from_secs(5)),
                &meter,
            )
            .await
        };
        let ((), r) = tokio::join!(peers, relayed);
        assert_eq!(r.end, End::Closed);
        assert_eq!((r.up, r.down), (11, 200_000));
        // `first` was counted by the caller; the meter saw the rest.
        assert_eq!(meter.0.load(Ordering::Relaxed), 5);
        assert_eq!(meter.1.load(Ordering::Relaxed), 200_000);
    }

    #[tokio::test]
    async fn an_idle_side_ends_the_relay_with_its_own_timeout() {
        let (_client, mut c_end) = duplex(64);
        let (mut server, mut s_end) = duplex(64);
        let meter = Count::default();
        // The server talks for 200 ms (the bytes written to the client
        // count as activity on both sides), then both fall silent: the
        // client's shorter timeout ends the relay 300 ms later.
        let talk = async {
            for _ in 0..5 {
                server.write_all(b"x").await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            std::future::pending::<()>().await;
        };
        let started = Instant::now();
        let r = tokio::select! {
            r = relay(&mut c_end, &mut s_end, b"", Some(Duration::from_millis(300)), Some(Duration::from_secs(30)), &meter) => r,
            () = talk => unreachable!(),
        };
        assert_eq!(r.end, End::ClientTimeout, "{r:?}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(10),
            "{took:?}"
        );
        assert_eq!(r.down, 5);
    }

    #[tokio::test]
    async fn a_silent_server_times_out_on_the_server_side() {
        let (mut client, mut c_end) = duplex(64);
        let (_server, mut s_end) = duplex(64);
        let meter = Count::default();
        client.write_all(b"ping").await.unwrap();
        let r = relay(
            &mut c_end,
            &mut s_end,
            b"",
            Some(Duration::from_secs(10)),
            Some(Duration::from_millis(200)),
            &meter,
        )
        .await;
        assert_eq!(r.end, End::ServerTimeout);
        assert_eq!(r.up, 4);
    }

    #[tokio::test]
    async fn a_reset_side_ends_the_relay_as_its_error() {
        let (client, mut c_end) = duplex(64);
        let (mut server, mut s_end) = duplex(64);
        drop(client);
        // The client is gone entirely: writing to it fails.
        server.write_all(b"late").await.unwrap();
        let r = relay(&mut c_end, &mut s_end, b"", None, None, &Count::default()).await;
        assert_eq!(r.end, End::ClientError);
    }
}
