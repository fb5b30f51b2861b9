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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

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

/// Every visitor connection's one waiter, in a few lists so that
/// connections opening on several threads do not all take one lock. It
/// is woken when a configuration expires (a reload's `hard-stop-after`)
/// and when a [`StopSignal`] fires; the connection then looks at its own
/// state. One waiter inline in the task does for both: a watch on the
/// connection's configuration took two allocations and a wake-up at each
/// move, and a waiter per event another 160 bytes per idle connection.
static CONN_EVENTS: [tokio::sync::Notify; 8] = [const { tokio::sync::Notify::const_new() }; 8];

/// Resolves at the next configuration expiry or stop, whichever
/// connection they concern. `key` spreads connections over the lists.
pub(crate) fn conn_events(key: usize) -> tokio::sync::futures::Notified<'static> {
    CONN_EVENTS[key % CONN_EVENTS.len()].notified()
}

/// Something every connection must look at happened.
pub(crate) fn wake_connections() {
    for n in &CONN_EVENTS {
        n.notify_waiters();
    }
}

/// The stop of the visitor connections served with it
/// ([`serve_connection`](crate::serve_connection)): once
/// [`stop`](Self::stop) is called, each finishes the requests in progress
/// and closes (HTTP/1.1: after the current answer, which says `close`;
/// an idle one after a short grace for a request already on its way;
/// HTTP/2: GOAWAY, then its open streams finish).
///
/// Clones share the signal. Holding one costs a connection one pointer
/// and no waiter of its own (see the module docs).
///
/// ```
/// let stop = gwd_http::StopSignal::new();
/// let held_by_a_connection = stop.clone();
/// assert!(!held_by_a_connection.is_stopping());
/// stop.stop();
/// assert!(held_by_a_connection.is_stopping());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal not yet fired.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Begins the stop of every connection served with this signal (or a
    /// clone). Calling it again does nothing.
    pub fn stop(&self) {
        if !self.0.swap(true, Ordering::AcqRel) {
            wake_connections();
        }
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.0.load(Ordering::Acquire)
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
