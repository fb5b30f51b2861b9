//! What a tunnel publishes about itself: the peer's first SETTINGS (the
//! reversal point), GOAWAY, closing and closed, on a watch channel shared
//! by the connection's driver (gwd-h2-conn's `Mux`, told through
//! [`ConnObserver`]), the handles and the keepalive;
//! plus the time of the last byte received and the last PING round trip.
//!
//! The preface direction that reverse HTTP swaps is handled by the
//! `gwd-mux-h2` state machine itself (`Config::reverse_dialer` and
//! `Config::reverse_acceptor`), so no byte-level adapter sits between TLS
//! and HTTP/2.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gwd_h2_conn::{ConnObserver, DriveEnd};
use gwd_mux_h2::conn::GoAway;
use gwd_mux_h2::frame::Settings;
use tokio::sync::watch;

/// Why a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The HTTP/2 connection finished (GOAWAY exchange or peer close).
    Finished,
    /// The HTTP/2 connection failed with an error.
    Error,
    /// PINGs went unanswered.
    PingTimeout,
    /// Closed by [`crate::Tunnel::abort`] or the dialer.
    Aborted,
}

impl From<DriveEnd> for CloseReason {
    fn from(end: DriveEnd) -> CloseReason {
        match end {
            DriveEnd::Finished => CloseReason::Finished,
            DriveEnd::Failed => CloseReason::Error,
        }
    }
}

/// What is known about the peer so far, published on a watch channel.
#[derive(Debug, Clone, Default)]
pub struct TunnelEvents {
    /// The peer's first SETTINGS (the reversal trigger), once received;
    /// parameters the peer did not send are `None`.
    pub settings: Option<Settings>,
    /// The last GOAWAY received from the peer (its debug data is
    /// peer-controlled bytes: escape before logging, see
    /// [`crate::peer_text`]).
    pub goaway: Option<GoAway>,
    /// Set once this side decided to close gracefully.
    pub closing: bool,
    /// Set once the connection is gone.
    pub closed: Option<CloseReason>,
}

impl TunnelEvents {
    /// No new requests may go to this tunnel.
    pub fn is_unusable(&self) -> bool {
        self.goaway.is_some() || self.closing || self.closed.is_some()
    }
}

/// State shared between the adapter, the connection task and handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) events: watch::Sender<TunnelEvents>,
    base: Instant,
    last_read_ms: AtomicU64,
    /// Round trip of the last answered PING, µs + 1 (0: none yet).
    last_rtt_us: AtomicU64,
    /// Why reading failed, when it did (a TLS alert from the peer, most
    /// usefully).
    read_error: Mutex<Option<std::io::Error>>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            events: watch::Sender::new(TunnelEvents::default()),
            base: Instant::now(),
            last_read_ms: AtomicU64::new(0),
            last_rtt_us: AtomicU64::new(0),
            read_error: Mutex::new(None),
        })
    }

    /// Records why reading the connection failed.
    pub(crate) fn set_read_error(&self, e: std::io::Error) {
        *self.read_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    /// Takes the read error recorded, if any.
    pub(crate) fn take_read_error(&self) -> Option<std::io::Error> {
        self.read_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Records an answered PING's round trip.
    pub(crate) fn record_rtt(&self, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX - 1);
        self.last_rtt_us.store(us + 1, Ordering::Relaxed);
    }

    /// The last answered PING's round trip.
    pub(crate) fn last_rtt(&self) -> Option<Duration> {
        match self.last_rtt_us.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_micros(n - 1)),
        }
    }

    /// Time since bytes last arrived from the peer.
    pub(crate) fn idle_for(&self) -> Duration {
        let now = self.base.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.last_read_ms.load(Ordering::Relaxed),
        ))
    }

    pub(crate) fn touch(&self) {
        self.last_read_ms
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn mark_closed(&self, reason: CloseReason) {
        self.events.send_if_modified(|e| {
            if e.closed.is_none() {
                e.closed = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn mark_closing(&self) {
        self.events.send_if_modified(|e| {
            let changed = !e.closing;
            e.closing = true;
            changed
        });
    }
}

impl ConnObserver for Shared {
    fn bytes_read(&self) {
        self.touch();
    }

    fn read_failed(&self, error: std::io::Error) {
        self.set_read_error(error);
    }

    fn ping_answered(&self, rtt: Duration) {
        self.record_rtt(rtt);
    }

    fn peer_news(&self, first_settings: Option<Settings>, goaway: Option<GoAway>) {
        self.events.send_modify(|ev| {
            if let Some(ps) = first_settings {
                ev.settings = Some(ps);
            }
            if let Some(g) = goaway {
                ev.goaway = Some(g);
            }
        });
    }
}

/// Marks the tunnel closed when dropped (the connection task holds one, so
/// aborting the task still publishes the close).
#[derive(Debug)]
pub(crate) struct CloseOnDrop(pub(crate) Arc<Shared>, pub(crate) CloseReason);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.mark_closed(self.1);
    }
}
