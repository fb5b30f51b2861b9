//! What a tunnel publishes about itself: the peer's first SETTINGS (the
//! reversal point), GOAWAY, closing and closed, on a watch channel shared
//! by the connection's driver (`mux`), the handles and the keepalive;
//! plus the time of the last byte received and the last PING round trip.
//!
//! The preface direction that reverse HTTP swaps is handled by the
//! `gwd-mux-h2` state machine itself (it is configured apart from the
//! role), so no byte-level adapter sits between TLS and HTTP/2.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The 24-byte HTTP/2 client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The values of the peer's first SETTINGS frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSettings {
    /// Every (identifier, value) pair, in wire order.
    pub raw: Vec<(u16, u32)>,
}

impl PeerSettings {
    fn get(&self, id: u16) -> Option<u32> {
        self.raw
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }
    /// SETTINGS_MAX_CONCURRENT_STREAMS, when sent (absent = unlimited).
    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.get(0x3)
    }
    /// SETTINGS_INITIAL_WINDOW_SIZE, when sent.
    pub fn initial_window_size(&self) -> Option<u32> {
        self.get(0x4)
    }
    /// SETTINGS_MAX_FRAME_SIZE, when sent.
    pub fn max_frame_size(&self) -> Option<u32> {
        self.get(0x5)
    }
    /// SETTINGS_ENABLE_PUSH, when sent.
    pub fn enable_push(&self) -> Option<u32> {
        self.get(0x2)
    }
}

/// A GOAWAY received from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoAway {
    /// The last stream id the peer will process.
    pub last_stream_id: u32,
    /// The HTTP/2 error code (0 = NO_ERROR, a graceful close).
    pub error_code: u32,
}

impl GoAway {
    /// True for NO_ERROR.
    pub fn is_graceful(&self) -> bool {
        self.error_code == 0
    }
}

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

/// What is known about the peer so far, published on a watch channel.
#[derive(Debug, Clone, Default)]
pub struct TunnelEvents {
    /// The peer's first SETTINGS (the reversal trigger), once received.
    pub settings: Option<PeerSettings>,
    /// The last GOAWAY received from the peer.
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
    /// Debug data of the last GOAWAY received (peer-controlled bytes).
    goaway_debug: Mutex<bytes::Bytes>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            events: watch::Sender::new(TunnelEvents::default()),
            base: Instant::now(),
            last_read_ms: AtomicU64::new(0),
            last_rtt_us: AtomicU64::new(0),
            read_error: Mutex::new(None),
            goaway_debug: Mutex::new(bytes::Bytes::new()),
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

    /// Records the debug data of a GOAWAY received.
    pub(crate) fn set_goaway_debug(&self, debug: bytes::Bytes) {
        *self.goaway_debug.lock().unwrap_or_else(|e| e.into_inner()) = debug;
    }

    /// The last GOAWAY's debug data, escaped and cut for a log line.
    pub(crate) fn goaway_reason(&self) -> String {
        let d = self.goaway_debug.lock().unwrap_or_else(|e| e.into_inner());
        crate::refusal::peer_text(&d).into_owned()
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

/// Marks the tunnel closed when dropped (the connection task holds one, so
/// aborting the task still publishes the close).
#[derive(Debug)]
pub(crate) struct CloseOnDrop(pub(crate) Arc<Shared>, pub(crate) CloseReason);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.mark_closed(self.1);
    }
}
