//! Writing a connection's output: the transport shared by the driver and
//! the handles ([`Wire`]), and when a handle writes early
//! ([`early_write_after`]).

use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use gwd_mux_h2::conn::Role;
use tokio::io::AsyncWrite;

use crate::mux::Mux;

/// Commands that queued output since the driver last took it, after
/// which the handle whose command made it that many writes the output
/// itself (see [`Wire`]): about 16 exchanges either way, a bodiless
/// request being one command (client role) and a small answer two, head
/// then body (server role). Measured on the reverse-HTTP chain with 50
/// visitors (docs/PERFORMANCE.md, stop 34): 2-8 commands a piece cost up
/// to a fifth more CPU per request, a burst written whole left a quarter
/// of the machine idle, and answers written early in pieces of 8 split
/// the batches an HTTP/2 visitor's connection would write, for a tenth
/// more CPU on that load.
pub(crate) fn early_write_after(role: Role) -> u32 {
    match role {
        Role::Client => 16,
        Role::Server => 32,
    }
}

/// The transport and the output taken from the state machine but not yet
/// written. The driver holds it through each of its passes; a handle may
/// take it between passes to write what the state machine queued, so
/// that a burst of commands (many visitors' requests read in one turn of
/// the event loop) reaches the peer in several writes as it forms, not in
/// one write after the burst: on a tunnel, the origin starts on the first
/// requests while the gateway still reads the last ones.
///
/// Output is taken from the state machine only under this lock, and
/// written before the lock is released or kept in `out`, which is
/// written before anything newer: frames leave in the order queued.
pub(crate) struct Wire<IO> {
    pub(crate) io: IO,
    pub(crate) out: BytesMut,
    /// Written and not yet flushed (TLS keeps bytes until a flush).
    pub(crate) need_flush: bool,
    /// The driver is closing the transport, or returned (or its task was
    /// dropped): handles write nothing more.
    pub(crate) ended: bool,
}

pub(crate) struct WireCell<IO>(pub(crate) Mutex<Wire<IO>>);

impl<IO> WireCell<IO> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Wire<IO>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle's side of [`Wire`], with the transport's type erased.
pub(crate) trait EarlyWrite: Send + Sync {
    /// Writes what the state machine has queued, if the driver is not in
    /// a pass and nothing older waits to be written (a transport that
    /// takes nothing now is the driver's to wait for). Never waits.
    /// True when something is left for the driver.
    fn write_now(&self, mux: &Mux) -> bool;

    /// The driver is gone (its future was dropped): no more early
    /// writes. Waits for a handle writing on another thread.
    fn end(&self);
}

impl std::fmt::Debug for dyn EarlyWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wire")
    }
}

impl<IO: AsyncWrite + Unpin + Send> EarlyWrite for WireCell<IO> {
    fn write_now(&self, mux: &Mux) -> bool {
        let mut wire = match self.0.try_lock() {
            Ok(w) => w,
            Err(_) => return true,
        };
        if wire.ended || !wire.is_idle() {
            return true;
        }
        wire.out = mux.take_output_for_wire();
        // Nobody to wake: whatever the transport does not take now, the
        // driver (woken for it) writes and waits for; an error it meets
        // itself.
        let mut cx = Context::from_waker(Waker::noop());
        wire.push(&mut cx).is_err() || !wire.is_idle()
    }

    fn end(&self) {
        self.lock().ended = true;
    }
}

impl<IO: AsyncWrite + Unpin> Wire<IO> {
    /// Writes `out` until it is empty or the transport takes no more,
    /// then flushes once all of it is written (TLS keeps bytes until a
    /// flush; a flush not done yet is retried by the next push). True
    /// when something was written; an error is the transport's failure.
    pub(crate) fn push(&mut self, cx: &mut Context<'_>) -> Result<bool, ()> {
        let mut wrote = false;
        while !self.out.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => return Err(()),
                Poll::Ready(Ok(n)) => {
                    self.out.advance(n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "HTTP/2 connection write failed");
                    return Err(());
                }
                Poll::Pending => break,
            }
        }
        if wrote {
            self.need_flush = true;
            if self.out.is_empty() {
                // The written buffer's memory goes back now, not at the
                // next write.
                self.out = BytesMut::new();
            }
        }
        if self.need_flush && self.out.is_empty() {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.need_flush = false,
                Poll::Ready(Err(_)) => return Err(()),
                Poll::Pending => {}
            }
        }
        Ok(wrote)
    }

    /// Nothing taken is left to write or flush.
    pub(crate) fn is_idle(&self) -> bool {
        self.out.is_empty() && !self.need_flush
    }
}
