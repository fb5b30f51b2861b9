//! Idle and shared connections of one server.
//!
//! HTTP/1.1 connections go through the `gwd-pool` crate (most recently
//! used first, purged from the cold end); an HTTP/2 connection is shared
//! by every concurrent request until it closes, so a server needs one,
//! not one per request (gwd-h2-conn's client counts its streams and waits
//! for a free one).
//!
//! `http-reuse` applies to both alike: under `safe` the first request of a
//! client connection never goes over a connection used before, shared
//! HTTP/2 ones included (it opens a new one, which later requests then
//! share); under `aggressive` it may take a proven one (one that answered
//! a request that reused it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gwd_config::{HttpReuse, PoolSettings};

use super::h1::ServerConn;
use super::h2::H2Sender;

/// Idle and shared connections of one server.
#[derive(Debug)]
pub struct ServerPool {
    h1: gwd_pool::Pool<(), ServerConn>,
    h2: Option<SharedH2>,
    reuse: HttpReuse,
}

/// The shared HTTP/2 connection of a server, as handed to a request.
#[derive(Debug, Clone)]
pub(crate) struct SharedH2 {
    pub(crate) sender: H2Sender,
    /// It answered a request that reused it: `http-reuse aggressive` lets
    /// a first request take it.
    proven: Arc<AtomicBool>,
}

impl SharedH2 {
    /// A request that reused this connection got its answer.
    pub(crate) fn mark_proven(&self) {
        self.proven.store(true, Ordering::Relaxed);
    }

    fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Relaxed)
    }

    /// Other requests are on it now: each holds a clone of this handle
    /// until its answer's head arrives, besides the pool's own. HAProxy
    /// hands such a connection (its "available" ones, with streams in
    /// flight and room for more) to any request, a first one included.
    fn in_use(&self) -> bool {
        Arc::strong_count(&self.proven) > 1
    }
}

fn pool_reuse(r: HttpReuse) -> gwd_pool::HttpReuse {
    match r {
        HttpReuse::Never => gwd_pool::HttpReuse::Never,
        HttpReuse::Safe => gwd_pool::HttpReuse::Safe,
        HttpReuse::Aggressive => gwd_pool::HttpReuse::Aggressive,
        HttpReuse::Always => gwd_pool::HttpReuse::Always,
    }
}

impl ServerPool {
    pub fn new(s: &PoolSettings, reuse: HttpReuse) -> ServerPool {
        ServerPool {
            h1: gwd_pool::Pool::new(gwd_pool::PoolSettings {
                max_conn: s.max_conn,
                low_conn: s.low_conn,
                purge_delay: s.purge_delay,
                reuse: pool_reuse(reuse),
                idle_timeout: None,
            }),
            h2: None,
            reuse,
        }
    }

    /// An idle HTTP/1.1 connection ready to carry a request, if one may be
    /// reused; connections the server closed while idle are dropped on
    /// the way.
    pub(crate) fn acquire_h1(&mut self, first_request: bool) -> Option<ServerConn> {
        while let Some(mut conn) = self.h1.acquire(&(), first_request) {
            if conn.is_usable() {
                return Some(conn);
            }
            self.h1.discard();
        }
        None
    }

    /// A new HTTP/1.1 connection was opened for a request.
    pub(crate) fn connected_h1(&mut self) {
        self.h1.connected();
    }

    /// A request is done with an HTTP/1.1 connection that may be reused.
    /// `was_pooled`: it came from [`acquire_h1`](Self::acquire_h1).
    pub(crate) fn release_h1(
        &mut self,
        conn: ServerConn,
        reusable: bool,
        was_pooled: bool,
        now: Instant,
    ) {
        let how = gwd_pool::ReleaseAs::from_flags(reusable, was_pooled);
        // Idle connections are not read, so one the server closed stays
        // pooled until taken: where the budget is full, such dead ones
        // make room rather than the connection that just served. Refused
        // and dead connections come back to us; dropping them closes them.
        let mut dead = Vec::new();
        let _ = self
            .h1
            .release_evicting(&(), conn, how, now, ServerConn::is_usable, &mut dead);
    }

    /// An in-use HTTP/1.1 connection ended (failed, closed, or switched
    /// protocols).
    pub(crate) fn discard_h1(&mut self) {
        self.h1.discard();
    }

    /// The shared HTTP/2 connection, while open and `http-reuse` lets
    /// this request take it (see the module docs). `first_request`: the
    /// first request of its client connection.
    pub(crate) fn shared_h2(&mut self, first_request: bool) -> Option<SharedH2> {
        let h2 = self.h2.as_ref()?;
        if h2.sender.is_closed() {
            self.h2 = None;
            return None;
        }
        let may_take = match self.reuse {
            HttpReuse::Never => false,
            // A connection carrying other streams right now is alive:
            // HAProxy's `safe` lets a first request multiplex on it, and
            // keeps only idle connections from first requests.
            HttpReuse::Safe => !first_request || h2.in_use(),
            HttpReuse::Aggressive => !first_request || h2.in_use() || h2.is_proven(),
            HttpReuse::Always => true,
        };
        may_take.then(|| h2.clone())
    }

    /// A new HTTP/2 connection was opened: later requests share it (it
    /// replaces the previous shared one, which is no longer handed out;
    /// it closes once its last handle is dropped and its streams are
    /// done).
    pub(crate) fn connected_h2(&mut self, sender: H2Sender) -> SharedH2 {
        let h2 = SharedH2 {
            sender,
            proven: Arc::default(),
        };
        if self.reuse != HttpReuse::Never {
            self.h2 = Some(h2.clone());
        }
        h2
    }

    /// Closes idle connections the purge selects; returns how many.
    pub fn purge(&mut self, now: Instant) -> usize {
        self.h1.purge(now).len()
    }

    pub fn next_purge_at(&self) -> Option<Instant> {
        self.h1.next_purge_at()
    }

    pub fn idle(&self) -> usize {
        self.h1.idle_len()
    }

    /// The pool's counters (HTTP/1 connections, from gwd-pool). A live
    /// shared HTTP/2 connection, kept here rather than in gwd-pool (its
    /// client already counts its streams), is counted once in `used`.
    pub fn stats(&self) -> gwd_pool::PoolStats {
        let mut s = self.h1.stats();
        if self.h2.as_ref().is_some_and(|h2| !h2.sender.is_closed()) {
            s.used += 1;
            s.max_used = s.max_used.max(s.used);
        }
        s
    }
}
