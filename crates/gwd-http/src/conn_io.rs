//! What the requests of one visitor connection share: how many there have
//! been (`http-reuse safe` gives a connection's first request a new server
//! connection), how many are in progress, and which configuration the
//! connection is on (a reload moves it at its next request; an old
//! configuration's `hard-stop-after` cuts what is still on it). Also the
//! one waiter each connection keeps for what concerns every connection
//! (a configuration's expiry, the stop: [`StopSignal`]).
//!
//! Client-side timeouts are not here: each connection driver
//! (`visitor::h1`, `visitor::h2mux`) enforces HAProxy's timeout model as
//! explicit phases of its own loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Poll, Waker};

/// State shared by the requests of one visitor connection.
#[derive(Debug, Default)]
pub struct ConnShared {
    /// Requests in progress (32 bits leave room for the flag below in
    /// the word: every idle connection keeps this struct).
    active: AtomicU32,
    /// Whether `interim` holds anything: read on every turn of a
    /// connection's driver, without touching `interim`.
    interim_pending: AtomicBool,
    requests: AtomicU64,
    /// The proxy the connection's latest request runs on.
    current: arc_swap::ArcSwapOption<crate::state::Proxy>,
    /// The connection's `sess.*` variables, shared by its requests.
    pub(crate) sess_vars: std::sync::Mutex<gwd_sample::Vars>,
    /// Servers' `1xx` answers on their way to the visitor.
    interim: crate::core::interim::InterimHeads,
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
        self.active.load(Ordering::Acquire) as usize
    }

    /// Queues a server's interim head for the request keyed `key` (see
    /// [`crate::core::interim`]); false when it was dropped.
    pub(crate) fn push_interim(&self, key: u32, head: gwd_head::ResponseHead) -> bool {
        let queued = self.interim.push(key, head);
        if queued {
            self.interim_pending.store(true, Ordering::Release);
        }
        queued
    }

    /// Whether interim heads wait (one load; nothing else is touched).
    pub(crate) fn has_interim(&self) -> bool {
        self.interim_pending.load(Ordering::Acquire)
    }

    /// Takes every waiting interim head, in arrival order.
    pub(crate) fn take_interim(&self) -> Vec<(u32, gwd_head::ResponseHead)> {
        if !self.has_interim() {
            return Vec::new();
        }
        self.interim_pending.store(false, Ordering::Release);
        self.interim.take_all()
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

/// Bumped by every [`wake_connections`] before it wakes anyone.
static EVENTS_SEEN: AtomicU64 = AtomicU64::new(0);

/// Returns once `done()` holds, looking at it when registered and after
/// each configuration expiry or stop, whichever connection they concern.
/// `key` spreads connections over the lists.
///
/// Cheap to poll when nothing happened: a task is polled after every
/// wake-up of any of its futures (several per request), and polling a
/// waiting `Notified` takes its list's lock. While no event happened
/// since the waiter was registered, and the task's waker is the one it
/// holds, a poll only loads one counter.
pub(crate) async fn until_event(key: usize, done: impl Fn() -> bool) {
    let list = &CONN_EVENTS[key % CONN_EVENTS.len()];
    let mut after_event = false;
    loop {
        let mut events = std::pin::pin!(list.notified());
        // Registered before looking: an event in between wakes it.
        events.as_mut().enable();
        let seen = EVENTS_SEEN.load(Ordering::Acquire);
        if done() {
            return;
        }
        // Moved into the closure, not borrowed by it: the state is kept in
        // every idle connection's task.
        let mut holds: Option<Waker> = None;
        let mut rewake = after_event;
        std::future::poll_fn(move |cx| {
            if rewake {
                // An event woke the task, and what it polled before this
                // waiter was registered (the connection's driver, which
                // looks at the stop) may have missed a later event that
                // came in between: poll it again, now that one would wake
                // this waiter.
                rewake = false;
                cx.waker().wake_by_ref();
            }
            if EVENTS_SEEN.load(Ordering::Acquire) == seen
                && holds.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            let polled = events.as_mut().poll(cx);
            if polled.is_pending() {
                holds = Some(cx.waker().clone());
            }
            polled
        })
        .await;
        after_event = true;
    }
}

/// Something every connection must look at happened.
pub(crate) fn wake_connections() {
    EVENTS_SEEN.fetch_add(1, Ordering::AcqRel);
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
    use std::sync::atomic::AtomicUsize;

    /// Events reach every waiter in the process: the tests that count
    /// them or make them run one at a time.
    static EVENTS_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
        EVENTS_TESTS.lock().await
    }

    async fn poll_once<F: Future>(mut f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await
    }

    /// The waiter returns at once when its condition already holds, stays
    /// pending across polls while nothing happens, looks again at each
    /// event (and only returns once the condition holds); a stop wakes it.
    #[tokio::test]
    async fn until_event_looks_at_each_event() {
        let _one = one_at_a_time().await;
        use std::sync::atomic::AtomicBool;
        let flag = Arc::new(AtomicBool::new(true));
        let f = flag.clone();
        until_event(3, move || f.load(Ordering::Acquire)).await;

        flag.store(false, Ordering::Release);
        let looked = Arc::new(AtomicUsize::new(0));
        let (f, l) = (flag.clone(), looked.clone());
        let mut wait = std::pin::pin!(until_event(3, move || {
            l.fetch_add(1, Ordering::AcqRel);
            f.load(Ordering::Acquire)
        }));
        for _ in 0..3 {
            assert!(poll_once(wait.as_mut()).await.is_pending());
        }
        assert_eq!(looked.load(Ordering::Acquire), 1, "no event, no look");
        // An event whose condition does not hold: it looks, and waits on.
        wake_connections();
        assert!(poll_once(wait.as_mut()).await.is_pending());
        assert!(looked.load(Ordering::Acquire) >= 2);
        flag.store(true, Ordering::Release);
        wake_connections();
        tokio::time::timeout(std::time::Duration::from_secs(5), wait)
            .await
            .expect("woken by the event");

        // A stop is such an event. (In this test, not one of its own:
        // events reach every waiter of the process, and the first part
        // counts them.)
        let stop = StopSignal::new();
        let seen = stop.clone();
        let waiter = tokio::spawn(until_event(5, move || seen.is_stopping()));
        tokio::task::yield_now().await;
        stop.stop();
        stop.stop();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken by the stop")
            .unwrap();
    }

    /// The stop can fire between the moment a driver looked at it and the
    /// moment the waiter re-registers after an earlier event: the waiter
    /// then polls the task again, so the driver sees it.
    #[tokio::test]
    async fn a_stop_right_after_the_driver_looked_is_not_missed() {
        let _one = one_at_a_time().await;
        let stop = StopSignal::new();
        let stage = Arc::new(AtomicUsize::new(0));
        let (s, st) = (stop.clone(), stage.clone());
        let task = tokio::spawn(async move {
            // Like a driver: looks at the stop on each poll, registers no
            // waiter for it. Polled after the first event, it fires the
            // stop itself just after looking (the race, made certain).
            let driver = std::future::poll_fn(|_| {
                if s.is_stopping() {
                    return Poll::Ready(());
                }
                if st.load(Ordering::Acquire) == 1 {
                    st.store(2, Ordering::Release);
                    s.stop();
                }
                Poll::Pending
            });
            tokio::select! {
                biased;
                () = driver => {}
                () = until_event(7, || false) => unreachable!(),
            }
        });
        // Let it register, then the first event.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        stage.store(1, Ordering::Release);
        wake_connections();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("the driver saw the stop")
            .unwrap();
    }

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
