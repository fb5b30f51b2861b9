//! Choosing a server, or waiting in the backend's queue for one.
//!
//! Model: a [`Lb`] wraps the backend's [`Balancer`] with a FIFO of
//! waiting requests. A request first asks the balancer; when every usable
//! server is at its `maxconn` ([`NoPick::Full`]) it joins the queue and
//! waits, at most `timeout queue`. Each slot released ([`Slot`]'s drop),
//! and each server state change, runs [`Lb::dispatch`], which hands
//! freed slots to the waiters at the front of the queue in arrival order.
//!
//! Invariants:
//! - a request never jumps the queue: while anyone waits, newcomers queue
//!   behind them instead of asking the balancer. With a hashing algorithm
//!   a request belongs to its key's server, so the queue is per server in
//!   effect: a newcomer whose server has a free slot takes it, and a
//!   release serves the first waiter that can use it (HAProxy's server
//!   queues), never blocking the others behind one full server;
//! - a slot is handed over already taken (the balancer's in-flight count
//!   includes it), so no newcomer can steal it between release and
//!   hand-over; a waiter that left (timed out, visitor gone) gives it
//!   back at once and the next waiter gets it;
//! - when no server is usable at all, waiters stay queued (HAProxy's
//!   backend queue keeps them): a server coming back serves them, else
//!   `timeout queue` answers them 503 `sQ`; newcomers get 503 at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Duration;

use gwd_balance::{Ask, Balancer, NoPick, Pick, ServerId};
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// A backend's balancer and queue.
#[derive(Debug)]
pub struct Lb {
    pub balancer: Balancer,
    /// The algorithm hashes a key: each waiter can only use its own
    /// server (or the ring's next ones).
    keyed: bool,
    /// `random(<draws>)`: the only algorithm that needs randomness.
    random: bool,
    waiters: Mutex<VecDeque<Waiter>>,
    /// `waiters.len()`, readable without the lock (the release fast path).
    waiting: AtomicUsize,
    /// Itself, for the slots [`dispatch`](Self::dispatch) hands out.
    me: std::sync::Weak<Lb>,
    /// Map-based hashing: waiters per home server, so that a newcomer
    /// for a server with waiters queues behind them (HAProxy's server
    /// queues). Changed under the waiters lock, read without it.
    homes: Box<[AtomicUsize]>,
    /// Across reloads that rebuilt the balancer: the queues of the other
    /// balancers of the same backend still alive. They share each
    /// server's count of requests in flight ([`Balancer::new_sharing`]),
    /// so a slot freed on one is room for the others' waiters too.
    peers: Mutex<Vec<std::sync::Weak<Lb>>>,
    /// `peers` is not empty: releases look at it.
    linked: std::sync::atomic::AtomicBool,
    /// Map-based hashing: each server's stats, whose queue gauge
    /// (`qcur`/`qmax` of its row) counts the waiters homed on it, moved
    /// with them when states change homes. Set once by the proxy that
    /// builds the backend ([`count_queues_on`](Self::count_queues_on)).
    server_stats: std::sync::OnceLock<Box<[Arc<gwd_stats::ServerCounters>]>>,
}

#[derive(Debug)]
struct Waiter {
    key: Option<Box<[u8]>>,
    /// Map-based hashing: the server the key belongs to (counted in
    /// [`Lb::homes`]).
    home: Option<ServerId>,
    /// Counts this waiter in its home server's queue gauge while it waits.
    home_gauge: Option<gwd_stats::ServerGuard>,
    random: u64,
    /// Gets the slot, already taken. A slot sent to a waiter that left
    /// meanwhile is dropped with the channel, and its release serves the
    /// next waiter.
    tx: oneshot::Sender<Slot>,
}

/// Why no slot was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// No usable server.
    NoServer,
    /// `timeout queue` passed while every server was full.
    QueueTimeout,
}

/// A request's place on a server: released (and the next waiter served)
/// when dropped.
#[derive(Debug)]
pub struct Slot {
    pick: Option<Pick>,
    lb: Arc<Lb>,
}

impl Slot {
    /// The server it is on.
    pub fn server(&self) -> ServerId {
        self.pick.as_ref().map_or(ServerId::new(0), Pick::server)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(pick) = self.pick.take() {
            drop(pick);
            self.lb.released();
        }
    }
}

impl Lb {
    pub fn new(balancer: Balancer) -> Arc<Lb> {
        Arc::new_cyclic(|me| Lb {
            me: me.clone(),
            homes: (0..balancer.len()).map(|_| AtomicUsize::new(0)).collect(),
            // Map-based hashing: a full server is the key's only choice.
            // (Consistent hashing spills to the ring's next servers, so
            // "full" means every server is: one FIFO serves it.)
            keyed: matches!(
                balancer.algorithm(),
                gwd_balance::Algorithm::Hash { consistent: false }
            ),
            random: matches!(balancer.algorithm(), gwd_balance::Algorithm::Random { .. }),
            balancer,
            waiters: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
            peers: Mutex::new(Vec::new()),
            linked: std::sync::atomic::AtomicBool::new(false),
            server_stats: std::sync::OnceLock::new(),
        })
    }

    /// Map-based hashing: count each server's waiters in the queue gauge
    /// of `stats` (one per server, in order). Once; later calls change
    /// nothing.
    pub fn count_queues_on(&self, stats: Box<[Arc<gwd_stats::ServerCounters>]>) {
        let _ = self.server_stats.set(stats);
    }

    /// A waiter homed on `home` in its server's queue gauge.
    fn home_gauge(&self, home: Option<ServerId>) -> Option<gwd_stats::ServerGuard> {
        let stats = self.server_stats.get()?;
        Some(stats.get(home?.index())?.queued())
    }

    /// Drops the waiters that left (timed out, or their request went
    /// away): their counts go at once, not at the next dispatch.
    fn forget_gone(&self) {
        let mut q = self.waiters.lock();
        let before = q.len();
        q.retain(|w| {
            let gone = w.tx.is_closed();
            if gone {
                self.unhome(w.home);
            }
            !gone
        });
        if q.len() != before {
            self.waiting.store(q.len(), Ordering::Relaxed);
        }
    }

    /// This backend's queue replaces `old`'s, as a reload puts the new
    /// configuration in force. Their balancers share the servers' counts
    /// of requests in flight ([`Balancer::new_sharing`]), so a slot freed
    /// on one is room for the other's waiters: from now on each queue,
    /// and every queue linked to `old` before, is offered it.
    pub fn link_after(self: &Arc<Self>, old: &Arc<Lb>) {
        // The old queue and its live peers, and this one, all know each
        // other (gone ones are dropped on the way; each once).
        let mut others: Vec<Arc<Lb>> = old
            .peers
            .lock()
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        others.push(old.clone());
        others.retain(|o| !Arc::ptr_eq(o, self));
        for other in &others {
            let mut peers = other.peers.lock();
            peers.retain(|w| w.strong_count() > 0);
            if !peers
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(self)))
            {
                peers.push(Arc::downgrade(self));
            }
            other.linked.store(true, Ordering::Release);
        }
        let mut mine = self.peers.lock();
        mine.retain(|w| w.strong_count() > 0);
        for other in &others {
            if !mine
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(other)))
            {
                mine.push(Arc::downgrade(other));
            }
        }
        self.linked.store(!mine.is_empty(), Ordering::Release);
    }

    fn me(&self) -> Arc<Lb> {
        self.me.upgrade().expect("a balancer in use is alive")
    }

    /// Randomness for an [`Ask`]: fresh for `random(<draws>)`, 0 for the
    /// algorithms that do not read it (no work per request for them).
    pub fn draw(&self) -> u64 {
        if self.random { super::random() } else { 0 }
    }

    /// Requests waiting now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Map-based hashing: the server `key` waits for when its server is
    /// full (its home) and how many already wait for it (HAProxy's server
    /// queue: the log's `srv_queue`, the server's `qcur`). `None` for the
    /// other algorithms, whose waiters take whichever server frees first.
    pub fn home_queue(&self, key: Option<&[u8]>) -> Option<(ServerId, usize)> {
        if !self.keyed {
            return None;
        }
        let home = self.balancer.home(key?)?;
        Some((home, self.homes[home.index()].load(Ordering::Relaxed)))
    }

    /// A slot without waiting: `Err(Full)` when the caller should queue.
    pub fn try_choose(self: &Arc<Self>, ask: &Ask<'_>) -> Result<Slot, NoPick> {
        if !self.keyed && self.waiting.load(Ordering::Relaxed) > 0 {
            // No usable server: 503 at once, as for an empty queue.
            let usable = self.balancer.usable();
            if usable.active == 0 && usable.backup == 0 {
                return Err(NoPick::NoServer);
            }
            // Someone waits already: no overtaking. (Keyed waiters wait for
            // their own server; a free slot elsewhere is not theirs.)
            return Err(NoPick::Full);
        }
        if self.keyed
            && self.waiting.load(Ordering::Relaxed) > 0
            && let Some(home) = ask.key.and_then(|k| self.balancer.home(k))
            && self.homes[home.index()].load(Ordering::Relaxed) > 0
        {
            // Its server has waiters: behind them.
            return Err(NoPick::Full);
        }
        self.balancer.choose(ask).map(|p| self.slot(p))
    }

    /// A slot on the given server (a retry that stays there).
    pub fn take(self: &Arc<Self>, id: ServerId) -> Result<Slot, NoPick> {
        self.balancer.take(id).map(|p| self.slot(p))
    }

    /// Waits in the queue for a slot, at most `timeout` (`None`: as long
    /// as it takes). Cancel-safe: dropping the future leaves the queue.
    pub async fn wait(
        self: &Arc<Self>,
        key: Option<&[u8]>,
        random: u64,
        timeout: Option<Duration>,
    ) -> Result<Slot, NoSlot> {
        let (tx, rx) = oneshot::channel();
        let home = if self.keyed {
            key.and_then(|k| self.balancer.home(k))
        } else {
            None
        };
        {
            let mut q = self.waiters.lock();
            if let Some(h) = home {
                self.homes[h.index()].fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(Waiter {
                key: key.map(Box::from),
                home,
                home_gauge: self.home_gauge(home),
                random,
                tx,
            });
            self.waiting.store(q.len(), Ordering::Relaxed);
        }
        // Pairs with the fence in `released`: a slot freed while we were
        // joining is seen either there or by this dispatch.
        fence(Ordering::SeqCst);
        self.dispatch();
        // Leaving unserved (timed out, or this future dropped): the
        // receiver goes first, then the queue forgets its waiter.
        struct Leave<'a> {
            lb: &'a Lb,
            rx: Option<oneshot::Receiver<Slot>>,
        }
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                if self.rx.take().is_some() {
                    self.lb.forget_gone();
                }
            }
        }
        let mut leave = Leave {
            lb: self,
            rx: Some(rx),
        };
        let rx = leave.rx.as_mut().expect("just set");
        let got = match timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => return Err(NoSlot::QueueTimeout),
            },
            None => rx.await,
        };
        // Served, or the queue was emptied: nothing of ours is left in it.
        leave.rx = None;
        match got {
            Ok(slot) => Ok(slot),
            // The queue was emptied because no server is usable.
            Err(_) => Err(NoSlot::NoServer),
        }
    }

    fn unhome(&self, home: Option<ServerId>) {
        if let Some(h) = home {
            self.homes[h.index()].fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn slot(self: &Arc<Self>, pick: Pick) -> Slot {
        Slot {
            pick: Some(pick),
            lb: self.clone(),
        }
    }

    fn released(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.dispatch();
        }
        // Linked across reloads: the freed room is the other queues' too.
        if self.linked.load(Ordering::Acquire) {
            let waiting: Vec<Arc<Lb>> = self
                .peers
                .lock()
                .iter()
                .filter_map(std::sync::Weak::upgrade)
                .filter(|lb| lb.waiting.load(Ordering::Relaxed) > 0)
                .collect();
            for lb in waiting {
                lb.dispatch();
            }
        }
    }

    /// Hands free slots to the waiters at the front, in order. Called on
    /// every release while someone waits, and on server state changes.
    pub fn dispatch(&self) {
        self.dispatch_around(None);
    }

    /// [`dispatch`](Self::dispatch) after server `changed` changed state,
    /// counting what HAProxy's state-change line reports of it.
    pub fn dispatch_after(&self, changed: ServerId) -> Requeue {
        self.dispatch_around(Some(changed))
    }

    fn dispatch_around(&self, changed: Option<ServerId>) -> Requeue {
        let mut report = Requeue::default();
        let mut q = self.waiters.lock();
        let mut i = 0;
        while i < q.len() {
            if q[i].tx.is_closed() {
                if let Some(w) = q.remove(i) {
                    self.unhome(w.home);
                }
                continue;
            }
            if self.keyed {
                // States change homes: keep the counts true.
                let now = q[i].key.as_deref().and_then(|k| self.balancer.home(k));
                if now != q[i].home {
                    if changed.is_some() && q[i].home == changed {
                        report.moved_away += 1;
                    }
                    self.unhome(q[i].home);
                    if let Some(h) = now {
                        self.homes[h.index()].fetch_add(1, Ordering::Relaxed);
                    }
                    q[i].home = now;
                    q[i].home_gauge = self.home_gauge(now);
                }
            }
            let w = &q[i];
            let ask = Ask {
                key: w.key.as_deref(),
                random: w.random,
                avoid: None,
            };
            match self.balancer.choose(&ask) {
                Ok(pick) => {
                    if changed == Some(pick.server()) {
                        report.taken_over += 1;
                    }
                    let w = q.remove(i).expect("the waiter exists");
                    self.unhome(w.home);
                    // A waiter that left hands the slot back: released
                    // here, without a new dispatch (this is one), and the
                    // loop offers it to the next waiter.
                    if let Err(mut back) = w.tx.send(Slot {
                        pick: Some(pick),
                        lb: self.me(),
                    }) {
                        drop(back.pick.take());
                    }
                }
                // Keyed: this waiter's server is full, the next one's may
                // not be. Otherwise every waiter would get the same answer.
                Err(NoPick::Full) if self.keyed => i += 1,
                Err(NoPick::Full) => break,
                // No usable server now: the waiters stay, as in HAProxy's
                // backend queue, until one comes back or `timeout queue`
                // passes (a brief maintenance does not 503 them).
                Err(NoPick::NoServer) => break,
            }
        }
        self.waiting.store(q.len(), Ordering::Relaxed);
        report.queued = q.len();
        if let Some(c) = changed
            && self.keyed
        {
            report.left_home = q.iter().filter(|w| w.home == Some(c)).count();
        }
        report
    }
}

/// What a dispatch after a server's change did around that server (the
/// tail of HAProxy's state-change lines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requeue {
    /// Waiters whose key belonged to the server and now belongs to
    /// another (hashing: the server left).
    pub moved_away: usize,
    /// Waiters the server took (it came back, or has room again).
    pub taken_over: usize,
    /// Waiters still waiting for the server (hashing: its own queue).
    pub left_home: usize,
    /// Waiters left in the backend's queue.
    pub queued: usize,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gwd_balance::{Admin, Algorithm, ServerSpec};

    use super::*;

    fn lb(maxconn: u32) -> Arc<Lb> {
        Lb::new(Balancer::new(
            Algorithm::RoundRobin,
            false,
            vec![ServerSpec {
                maxconn: Some(maxconn),
                ..ServerSpec::default()
            }],
        ))
    }

    /// A waiter that times out, or whose request goes away, leaves the
    /// queue's counts at once (they used to wait for the next dispatch,
    /// and the next request's log counted it as ahead).
    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_leaves_the_counts_at_once() {
        let lb = lb(1);
        let held = lb.try_choose(&Ask::default()).expect("a free slot");
        let gave_up = lb.wait(None, 0, Some(Duration::from_millis(10))).await;
        assert_eq!(gave_up.unwrap_err(), NoSlot::QueueTimeout);
        assert_eq!(lb.queued(), 0);
        let lb2 = lb.clone();
        let task = tokio::spawn(async move { lb2.wait(None, 0, None).await });
        while lb.queued() == 0 {
            tokio::task::yield_now().await;
        }
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(lb.queued(), 0);
        drop(held);
    }

    #[tokio::test]
    async fn waiters_are_served_in_arrival_order_as_slots_free() {
        let lb = lb(1);
        let held = lb.try_choose(&Ask::default()).expect("a free slot");
        assert_eq!(lb.try_choose(&Ask::default()).unwrap_err(), NoPick::Full);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..3 {
            let (lb2, tx) = (lb.clone(), tx.clone());
            tokio::spawn(async move {
                let slot = lb2.wait(None, 0, None).await.expect("served");
                tx.send(i).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
                drop(slot);
            });
            // Each joins before the next.
            while lb.queued() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        // A newcomer does not overtake them.
        assert_eq!(lb.try_choose(&Ask::default()).unwrap_err(), NoPick::Full);
        drop(held);
        let order: Vec<usize> = [rx.recv().await, rx.recv().await, rx.recv().await]
            .into_iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(order, [0, 1, 2]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(lb.queued(), 0);
        assert_eq!(lb.balancer.in_flight(ServerId::new(0)), 0);
    }

    #[tokio::test]
    async fn the_queue_times_out_and_a_departed_waiter_passes_its_slot_on() {
        let lb = lb(1);
        let held = lb.try_choose(&Ask::default()).unwrap();
        let r = lb.wait(None, 0, Some(Duration::from_millis(100))).await;
        assert_eq!(r.unwrap_err(), NoSlot::QueueTimeout);
        // A waiter that gave up is skipped: the next one gets the slot.
        let gone = tokio::spawn({
            let lb = lb.clone();
            async move { lb.wait(None, 0, None).await.map(|_| ()) }
        });
        while lb.queued() < 1 {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        let next = tokio::spawn({
            let lb = lb.clone();
            async move { lb.wait(None, 0, Some(Duration::from_secs(5))).await.is_ok() }
        });
        // Joining pops the departed waiter: only `next` is left.
        while lb.queued() != 1 || lb.waiters.lock().front().is_none_or(|w| w.tx.is_closed()) {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(next.await.unwrap());
        assert_eq!(lb.balancer.in_flight(ServerId::new(0)), 0);
    }

    /// Two servers of `maxconn 1`, map-based hashing.
    fn hashed_pair() -> Arc<Lb> {
        let spec = ServerSpec {
            maxconn: Some(1),
            ..ServerSpec::default()
        };
        Lb::new(Balancer::new(
            Algorithm::Hash { consistent: false },
            false,
            vec![spec.clone(), spec],
        ))
    }

    #[tokio::test]
    async fn with_hashing_one_full_server_does_not_hold_up_the_others() {
        let lb = hashed_pair();
        // A key for each server.
        let key_of = |want: u32| {
            (0..1000u32)
                .map(|i| format!("/k/{i}").into_bytes())
                .find(|k| {
                    let ask = Ask {
                        key: Some(k),
                        ..Ask::default()
                    };
                    lb.balancer.choose(&ask).map(|p| p.server()) == Ok(ServerId::new(want))
                })
                .expect("a key for the server")
        };
        let (ka, kb) = (key_of(0), key_of(1));
        fn ask(k: &[u8]) -> Ask<'_> {
            Ask {
                key: Some(k),
                ..Ask::default()
            }
        }
        let held_a = lb.try_choose(&ask(&ka)).expect("a is free");
        let waiter = tokio::spawn({
            let (lb, ka) = (lb.clone(), ka.clone());
            async move { lb.wait(Some(&ka), 0, None).await.map(|s| s.server()) }
        });
        while lb.queued() < 1 {
            tokio::task::yield_now().await;
        }
        // b's key finds b free although a's waiter is queued.
        let on_b = lb.try_choose(&ask(&kb)).expect("b is free");
        assert_eq!(on_b.server(), ServerId::new(1));
        // A newcomer for a queues behind a's waiter, even if it comes
        // between a slot's release and its hand-over.
        assert_eq!(lb.try_choose(&ask(&ka)).unwrap_err(), NoPick::Full);
        // Releasing b serves nobody (the waiter needs a); releasing a does.
        drop(on_b);
        assert_eq!(lb.queued(), 1);
        drop(held_a);
        assert_eq!(waiter.await.unwrap(), Ok(ServerId::new(0)));
        assert_eq!(lb.homes[0].load(Ordering::Relaxed), 0);
    }

    /// What the state-change lines report: a waiter whose key belonged
    /// to a server put in maintenance moves to the other server
    /// (`requeued`); with room again, a server takes the waiters that
    /// were waiting for it.
    #[tokio::test]
    async fn dispatch_after_a_change_counts_the_waiters_moved_and_taken() {
        let lb = hashed_pair();
        let key_a = (0..1000u32)
            .map(|i| format!("/k/{i}").into_bytes())
            .find(|k| lb.balancer.home(k) == Some(ServerId::new(0)))
            .expect("a key for server 0");
        let ask = Ask {
            key: Some(&key_a),
            ..Ask::default()
        };
        let held = lb.try_choose(&ask).expect("free");
        let waiter = tokio::spawn({
            let (lb, k) = (lb.clone(), key_a.clone());
            async move { lb.wait(Some(&k), 0, None).await.map(|s| s.server()) }
        });
        while lb.queued() < 1 {
            tokio::task::yield_now().await;
        }
        lb.balancer.set_admin(ServerId::new(0), Admin::Maint);
        let r = lb.dispatch_after(ServerId::new(0));
        assert_eq!((r.moved_away, r.left_home, r.queued), (1, 0, 0), "{r:?}");
        assert_eq!(waiter.await.unwrap(), Ok(ServerId::new(1)));
        drop(held);

        // Server 0 back, busy, with a waiter: room again, it takes it.
        lb.balancer.set_admin(ServerId::new(0), Admin::Ready);
        let _ = lb.dispatch_after(ServerId::new(0));
        let held = lb.try_choose(&ask).expect("free");
        let waiter = tokio::spawn({
            let (lb, k) = (lb.clone(), key_a.clone());
            async move { lb.wait(Some(&k), 0, None).await.map(|s| s.server()) }
        });
        while lb.queued() < 1 {
            tokio::task::yield_now().await;
        }
        let r = lb.dispatch_after(ServerId::new(0));
        assert_eq!((r.taken_over, r.left_home), (0, 1), "{r:?}");
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(ServerId::new(0)));
    }

    /// Linked across a reload, a slot the old balancer frees serves the
    /// new queue's waiter (and the new side's room is the old's).
    #[tokio::test]
    async fn a_slot_freed_on_the_old_side_of_a_reload_serves_the_new_queue() {
        let old = lb(1);
        let held = old.try_choose(&Ask::default()).unwrap();
        let new = Lb::new(Balancer::new_sharing(
            Algorithm::RoundRobin,
            false,
            vec![ServerSpec {
                maxconn: Some(1),
                ..ServerSpec::default()
            }],
            vec![Some(old.balancer.count(ServerId::new(0)))],
        ));
        new.balancer.enforce_limits();
        new.link_after(&old);
        assert_eq!(
            new.try_choose(&Ask::default()).unwrap_err(),
            NoPick::Full,
            "the old request holds the server's one slot"
        );
        let waiter = tokio::spawn({
            let new = new.clone();
            async move {
                new.wait(None, 0, Some(Duration::from_secs(5)))
                    .await
                    .is_ok()
            }
        });
        while new.queued() < 1 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(waiter.await.unwrap(), "served once the old slot freed");
        assert_eq!(old.balancer.in_flight(ServerId::new(0)), 0);
    }

    #[tokio::test]
    async fn a_slot_sent_to_a_waiter_that_left_serves_the_next_one() {
        let lb = lb(1);
        let held = lb.try_choose(&Ask::default()).unwrap();
        let (tx, rx) = oneshot::channel::<Slot>();
        // A waiter whose receiver is gone (timed out between the send and
        // its poll): the slot comes back through its drop.
        drop(rx);
        lb.waiters.lock().push_back(Waiter {
            key: None,
            home: None,
            home_gauge: None,
            random: 0,
            tx,
        });
        let next = tokio::spawn({
            let lb = lb.clone();
            async move { lb.wait(None, 0, Some(Duration::from_secs(5))).await.is_ok() }
        });
        while lb.queued() < 1 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(next.await.unwrap());
        assert_eq!(lb.balancer.in_flight(ServerId::new(0)), 0);
    }

    #[tokio::test]
    async fn waiters_stay_queued_while_no_server_is_usable() {
        let lb = lb(1);
        let held = lb.try_choose(&Ask::default()).unwrap();
        let waiter = tokio::spawn({
            let lb = lb.clone();
            async move { lb.wait(None, 0, None).await.map(|s| s.server()) }
        });
        while lb.queued() < 1 {
            tokio::task::yield_now().await;
        }
        // The last server goes into maintenance: newcomers are refused,
        // the waiter stays.
        lb.balancer.set_admin(ServerId::new(0), Admin::Maint);
        lb.dispatch();
        assert_eq!(lb.queued(), 1);
        assert_eq!(
            lb.try_choose(&Ask::default()).unwrap_err(),
            NoPick::NoServer
        );
        drop(held);
        assert_eq!(lb.queued(), 1);
        // Back in service: the waiter gets it.
        lb.balancer.set_admin(ServerId::new(0), Admin::Ready);
        lb.dispatch();
        assert_eq!(waiter.await.unwrap(), Ok(ServerId::new(0)));
    }
}
