//! What an origin-side service knows about the tunnel a request came on.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// One reversed tunnel, origin side, as seen by a [`crate::TunnelService`].
///
/// Every request arriving on the tunnel carries an `Arc<TunnelInfo>` in its
/// extensions (`req.extensions().get::<Arc<TunnelInfo>>()`), and the
/// service's [`crate::TunnelService::tunnel_opened`] sees it first. The
/// value lives until the tunnel has closed and its last request has been
/// answered, so state kept in [`TunnelInfo::user_data`] (a connection
/// gauge, per-connection counters) ends with the tunnel.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// let info = gwd_rhttp::TunnelInfo::new(7, None, None);
/// let requests = info.user_data(|| AtomicU64::new(0)).unwrap();
/// requests.fetch_add(1, Ordering::Relaxed);
/// // The same value comes back on the next call, whatever the initialiser.
/// assert_eq!(info.user_data(|| AtomicU64::new(99)).unwrap().load(Ordering::Relaxed), 1);
/// assert!(info.user_data(|| "another type").is_none());
/// ```
#[derive(Debug)]
pub struct TunnelInfo {
    id: u64,
    local_addr: Option<SocketAddr>,
    gateway_addr: Option<SocketAddr>,
    opened: Instant,
    user: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl TunnelInfo {
    /// A tunnel description (the dialer builds these; public for tests and
    /// services driven by hand).
    pub fn new(id: u64, local_addr: Option<SocketAddr>, gateway_addr: Option<SocketAddr>) -> Self {
        TunnelInfo {
            id,
            local_addr,
            gateway_addr,
            opened: Instant::now(),
            user: OnceLock::new(),
        }
    }

    /// Process-unique tunnel id (dial order).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Our end of the TCP connection.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The gateway's end of the TCP connection (after reversal the gateway
    /// is the HTTP client, so this is the requests' source address).
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway_addr
    }

    /// When the tunnel finished its reversal.
    pub fn opened(&self) -> Instant {
        self.opened
    }

    /// The service's own per-tunnel value, created by `init` on first use.
    /// `None` when a value of another type was stored first (one slot per
    /// tunnel: a service keeps one struct there).
    pub fn user_data<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Option<Arc<T>> {
        self.user
            .get_or_init(|| Arc::new(init()))
            .clone()
            .downcast::<T>()
            .ok()
    }
}
