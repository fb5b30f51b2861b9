//! A request's end: the bookkeeping due once its answer has gone out or
//! was abandoned (the access-log line, byte counts, timing averages),
//! done exactly once, by [`TxnEnd::finish`] or by its drop.

use super::*;

/// The bookkeeping due once an answer has gone out (or was abandoned):
/// the access-log line, byte counts, timing averages, and the gauges.
#[derive(Debug)]
pub(crate) struct TxnEnd {
    pub(super) rec: LogRecord,
    pub(super) start: Instant,
    pub(super) proxy: Arc<Proxy>,
    pub(super) fe: gwd_config::FrontendId,
    /// The server that answered, for a relayed response.
    pub(super) relayed: Option<ServerRef>,
    // Gauges, held until the answer has gone out.
    pub(super) _active: Option<ActiveGuard>,
    pub(super) _backend_session: Option<Guard<ProxyCounters>>,
    pub(super) _server_session: Option<Guard<ServerCounters>>,
    pub(super) _slot: Option<Slot>,
    /// The visitor stopped reading (`timeout client` while writing).
    pub(super) stalled: bool,
    pub(super) done: bool,
}

impl TxnEnd {
    /// The answer's body ended `how`, after `bytes` body bytes went out.
    pub fn finish(mut self, how: BodyEnd, bytes: u64) {
        self.complete(how, bytes);
    }

    /// The visitor stopped reading the answer for `timeout client` after
    /// `bytes` went out.
    pub fn finish_stalled(mut self, bytes: u64) {
        self.stalled = true;
        self.complete(BodyEnd::Abandoned, bytes);
    }

    /// A protocol switch ended: `up` bytes went from the visitor to the
    /// server, `down` back (the log line counts `down`, the bytes the
    /// visitor received, as HAProxy's).
    pub fn finish_tunnel(mut self, up: u64, down: u64, how: TunnelEnd) {
        let proxy = &self.proxy;
        let fe = &proxy.frontend(self.fe).counters;
        fe.bytes_in(up);
        fe.bytes_out(down);
        if let Some(at) = self.relayed {
            let be = proxy.backend(at.backend);
            be.counters.bytes_in(up);
            be.counters.bytes_out(down);
            be.server(at.server).counters.bytes_in(up);
            be.server(at.server).counters.bytes_out(down);
        }
        self.rec.bytes = down;
        match how {
            TunnelEnd::Closed => {}
            TunnelEnd::Failed => {
                self.rec.ender = Ender::Client;
                self.rec.phase = Phase::Data;
            }
            TunnelEnd::TimedOut => {
                self.rec.ender = Ender::ClientTimeout;
                self.rec.phase = Phase::Data;
                self.rec.reason = Some("timeout tunnel");
            }
        }
        self.rec.t_total = Some(crate::clock::since(self.start));
        self.rec.emit();
        self.done = true;
    }

    /// The inactivity limit of a protocol switch: the backend's (else the
    /// frontend's) `timeout tunnel`, else the larger of `timeout client`
    /// and `timeout server`.
    pub fn tunnel_timeout(&self) -> Option<Duration> {
        let fe = &self.proxy.frontend(self.fe).conf.timeouts;
        let be = self
            .relayed
            .map(|at| &self.proxy.backend(at.backend).conf.timeouts);
        be.and_then(|b| b.tunnel).or(fe.tunnel).or_else(|| {
            match (fe.client, be.and_then(|b| b.server)) {
                (Some(c), Some(s)) => Some(c.max(s)),
                (c, s) => c.or(s),
            }
        })
    }

    fn complete(&mut self, how: BodyEnd, bytes: u64) {
        if self.done {
            return;
        }
        self.done = true;
        let proxy = &self.proxy;
        proxy.frontend(self.fe).counters.bytes_out(bytes);
        let total = crate::clock::since(self.start);
        self.rec.bytes = bytes;
        self.rec.t_total = Some(total);
        if let Some(at) = self.relayed {
            let be = proxy.backend(at.backend);
            let server = be.server(at.server);
            be.counters.bytes_out(bytes);
            server.counters.bytes_out(bytes);
            match how {
                BodyEnd::Complete => {}
                BodyEnd::Failed(
                    kind @ (FailKind::ClientTimeout
                    | FailKind::ClientAborted
                    | FailKind::ClientMalformed),
                ) => {
                    // The visitor's upload broke off while the answer
                    // streamed: its fault, not the server's.
                    let (ender, reason) = match kind {
                        FailKind::ClientTimeout => (Ender::ClientTimeout, "timeout client"),
                        FailKind::ClientMalformed => (Ender::Proxy, "invalid request body"),
                        _ => (Ender::Client, "client aborted during the request body"),
                    };
                    if kind != FailKind::ClientAborted {
                        proxy.frontend(self.fe).counters.request_error();
                    }
                    self.rec.ender = ender;
                    self.rec.reason = Some(reason);
                    self.rec.phase = Phase::Data;
                }
                BodyEnd::Failed(kind) => {
                    server.counters.response_error();
                    be.counters.response_error();
                    self.rec.ender = if kind == FailKind::Timeout {
                        Ender::ServerTimeout
                    } else {
                        Ender::Server
                    };
                    self.rec.phase = Phase::Data;
                }
                BodyEnd::Abandoned => {
                    self.rec.ender = if self.stalled {
                        Ender::ClientTimeout
                    } else if self.proxy.is_hard_stopped() {
                        self.rec.reason = Some("hard-stop-after");
                        Ender::Killed
                    } else {
                        Ender::Client
                    };
                    self.rec.phase = Phase::Data;
                }
            }
            // HAProxy's qtime/ctime/rtime/ttime averages, per backend
            // and server, for served responses.
            let z = Duration::ZERO;
            let (q, c, r) = (
                self.rec.t_queue.unwrap_or(z),
                self.rec.t_connect.unwrap_or(z),
                self.rec.t_response.unwrap_or(z),
            );
            be.counters.record_timings(q, c, r, total);
            server.counters.record_timings(q, c, r, total);
        }
        if self.relayed.is_none() && self.stalled {
            self.rec.ender = Ender::ClientTimeout;
            self.rec.phase = Phase::Data;
        }
        self.rec.emit();
    }
}

impl Drop for TxnEnd {
    fn drop(&mut self) {
        // The visitor side never delivered the answer (its connection
        // went away first): the request still gets its line.
        if !self.done {
            self.complete(BodyEnd::Abandoned, 0);
        }
    }
}
