//! What the owner of a connection hears about it ([`ConnObserver`]).

use std::time::Duration;

use gwd_mux_h2::conn::GoAway;
use gwd_mux_h2::frame::Settings;

#[cfg(doc)]
use crate::{DriveEnd, Mux};

/// What the owner of a [`Mux`] hears about its connection, from the
/// driver's task. Every method has an empty default; [`NoObserver`]
/// implements none.
///
/// The calls come while the connection's lock is held: they must be
/// quick and must not call back into the [`Mux`].
pub trait ConnObserver: std::fmt::Debug + Send + Sync + 'static {
    /// Bytes arrived from the peer (idle detection: a keepalive pings
    /// after a silence).
    fn bytes_read(&self) {}

    /// Reading the transport failed; the driver ends with
    /// [`DriveEnd::Failed`]. The error says why (a TLS alert, a reset).
    fn read_failed(&self, _error: std::io::Error) {}

    /// One of our PINGs was answered after `rtt`.
    fn ping_answered(&self, _rtt: Duration) {}

    /// The peer's first SETTINGS, a GOAWAY from the peer, or both, from
    /// one read: told together, so that whoever waits for the first
    /// SETTINGS also sees a refusal sent with them.
    fn peer_news(&self, _first_settings: Option<Settings>, _goaway: Option<GoAway>) {}
}

/// A [`ConnObserver`] that listens to nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl ConnObserver for NoObserver {}
