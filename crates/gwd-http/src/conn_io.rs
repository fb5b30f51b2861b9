//! What the requests of one visitor connection share: how many there have
//! been (`http-reuse safe` gives a connection's first request a new server
//! connection), how many are in progress, and which configuration the
//! connection is on (a reload moves it at its next request; an old
//! configuration's `hard-stop-after` cuts what is still on it).
//!
//! Client-side timeouts are not here: each connection driver
//! (`visitor::h1`, `visitor::h2mux`) enforces HAProxy's timeout model as
//! explicit phases of its own loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// State shared by the requests of one visitor connection.
#[derive(Debug, Default)]
pub struct ConnShared {
    active: AtomicUsize,
    requests: AtomicU64,
    /// The proxy the connection's latest request runs on.
    current: arc_swap::ArcSwapOption<crate::state::Proxy>,
    /// The connection's `sess.*` variables, shared by its requests.
    pub(crate) sess_vars: std::sync::Mutex<gwd_sample::Vars>,
}

impl ConnShared {
    pub fn new() -> Arc<ConnShared> {
        Arc::new(ConnShared::default())
    }

    /// A request head was received; returns a guard that ends it.
    pub fn request_started(self: &Arc<Self>) -> ActiveGuard {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(self.clone())
    }

    /// Requests received on the connection so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Acquire)
    }

    /// Requests in progress.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The connection moved to `proxy` (its start, or a reload).
    pub fn set_current(&self, proxy: &Arc<crate::state::Proxy>) {
        self.current.store(Some(proxy.clone()));
    }

    /// The proxy the connection's latest request runs on.
    pub fn current(&self) -> Option<Arc<crate::state::Proxy>> {
        self.current.load_full()
    }
}

/// Connections waiting for their configuration to expire (a reload's
/// `hard-stop-after`), in a few lists so that connections opening on
/// several threads do not all take one lock.
static EXPIRY_WATCHERS: [tokio::sync::Notify; 8] = [const { tokio::sync::Notify::const_new() }; 8];

/// Resolves at the next expiry of any configuration (then the connection
/// looks whether its own expired): one waiter inline in the connection's
/// task, where a watch on its own configuration took two allocations and
/// a wake-up at each move. `key` spreads connections over the lists.
pub(crate) fn expiry_watch(key: usize) -> tokio::sync::futures::Notified<'static> {
    EXPIRY_WATCHERS[key % EXPIRY_WATCHERS.len()].notified()
}

/// A configuration expired: every connection looks at its own.
pub(crate) fn wake_expiry_watchers() {
    for n in &EXPIRY_WATCHERS {
        n.notify_waiters();
    }
}

/// Ends an in-progress request when dropped (after its answer).
#[derive(Debug)]
pub struct ActiveGuard(Arc<ConnShared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_those_in_progress() {
        let s = ConnShared::new();
        let a = s.request_started();
        let b = s.request_started();
        assert_eq!((s.requests(), s.active()), (2, 2));
        drop(a);
        drop(b);
        assert_eq!((s.requests(), s.active()), (2, 0));
    }
}
