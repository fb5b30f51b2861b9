//! The counters of a whole configuration, in configuration order, and
//! their snapshot.

use std::sync::Arc;
use std::time::Instant;

use crate::counters::{ProxyCounters, ProxySnapshot, ServerCounters, ServerSnapshot};
use crate::rate::{RegistryRates, RowKind};

/// The counters of a whole configuration: frontends, and backends with their
/// servers, each in the order added (configuration order, so the index of a
/// frontend is its 1-based id minus one).
///
/// Built once at configuration time, then shared read-only (e.g. inside an
/// `Arc<Registry>`); the hot path holds the `Arc`s it got from the
/// `add_*`/accessor methods.
///
/// ```
/// use std::time::Instant;
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// let fe = reg.add_frontend("www");
/// let (be_idx, be) = reg.add_backend("app");
/// let srv = reg.add_server(be_idx, "s1").unwrap();
///
/// fe.request_at(Instant::now());
/// be.request_at(Instant::now());
/// srv.response(503);
///
/// let snap = reg.snapshot();
/// assert_eq!(snap.frontends[0].name, "www");
/// assert_eq!(snap.frontends[0].counters.requests, 1);
/// assert_eq!(snap.backends[0].servers[0].name, "s1");
/// assert_eq!(snap.backends[0].servers[0].counters.counters.responses.r5xx, 1);
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    frontends: Vec<(Label, Arc<ProxyCounters>)>,
    backends: Vec<BackendEntry>,
    /// Epoch given to every counter set added, if any.
    epoch: Option<Instant>,
    /// Frontends earlier registries had and this one does not (a reload
    /// removed or renamed them): the process totals go on counting them.
    retired: Retired,
}

/// Retired frontends: those still holding connections, by their
/// counters; the others folded into plain sums (the list stays as long
/// as what is still open).
#[derive(Debug, Default)]
struct Retired {
    folded: RetiredTotals,
    live: Vec<Arc<ProxyCounters>>,
}

/// What frontends no longer configured counted, for the process totals
/// (`show info`'s `CumConns`, `CumReq`... go on across a reload that
/// removes or renames a frontend, and its connections still open stay in
/// `CurrConns`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetiredTotals {
    /// Connections still open on them.
    pub cur_conns: u64,
    /// Connections they accepted.
    pub cum_conns: u64,
    /// Requests they received.
    pub cum_req: u64,
    /// Sessions still open on them.
    pub cur_sessions: u64,
    /// Sessions they had.
    pub cum_sessions: u64,
}

impl RetiredTotals {
    fn add(&mut self, s: &crate::ProxySnapshot) {
        self.cur_conns += s.conns.cur;
        self.cum_conns += s.conns.total;
        self.cum_req += s.requests;
        self.cur_sessions += s.sessions.cur;
        self.cum_sessions += s.sessions.total;
    }
}

#[derive(Debug)]
struct BackendEntry {
    label: Label,
    counters: Arc<ProxyCounters>,
    servers: Vec<(Label, Arc<ServerCounters>)>,
}

/// What a counter set is called, and the configuration facts its rows
/// show that no counter carries, so a snapshot row describes itself: its
/// name, its id (HAProxy's `id`, shown as `iid` for frontends and
/// backends and `sid` for servers), a backend's balancing algorithm and
/// whether a server is a reverse-HTTP (`rhttp@`) one. From a bare name the
/// id is the set's 1-based position among its kind (frontends, backends,
/// the backend's servers), as HAProxy numbers objects without an `id`.
///
/// ```
/// use gwd_stats::{Label, Registry};
///
/// let mut reg = Registry::new();
/// let (b, _) = reg.add_backend(Label::new("app", 7).with_algo("leastconn"));
/// reg.add_server(b, Label::from("edge").reverse()).unwrap();
/// let snap = reg.snapshot();
/// assert_eq!(snap.backends[0].algo.as_deref(), Some("leastconn"));
/// assert!(snap.backends[0].servers[0].reverse);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The name.
    pub name: String,
    /// The configured id; `None`: the position + 1.
    pub id: Option<u32>,
    /// A backend's `balance` algorithm as HAProxy names it in `algo`
    /// (`roundrobin`, `leastconn`, ...); `None` for frontends and servers,
    /// and for backends that did not say.
    pub algo: Option<String>,
    /// A server reached through reverse-HTTP tunnels (`rhttp@`): its
    /// state comes from its tunnels, not from checks. Always `false` for
    /// frontends and backends.
    pub reverse: bool,
    /// A proxy (or a server of one) in `mode tcp`: its rows say `tcp` and
    /// have no HTTP columns.
    pub tcp: bool,
}

impl Label {
    /// A name with its configured id.
    pub fn new(name: impl Into<String>, id: u32) -> Self {
        Label {
            name: name.into(),
            id: Some(id),
            algo: None,
            reverse: false,
            tcp: false,
        }
    }

    /// The same label, of a `mode tcp` proxy or of a server of one.
    #[must_use]
    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self
    }

    /// The same label with a backend's balancing algorithm.
    #[must_use]
    pub fn with_algo(mut self, algo: impl Into<String>) -> Self {
        self.algo = Some(algo.into());
        self
    }

    /// The same label, marked as a reverse-HTTP (`rhttp@`) server's.
    #[must_use]
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// The id, or `position + 1` without one.
    fn id_at(&self, position: usize) -> u32 {
        self.id
            .unwrap_or_else(|| u32::try_from(position + 1).unwrap_or(u32::MAX))
    }
}

impl From<&str> for Label {
    fn from(name: &str) -> Self {
        Label {
            name: name.to_owned(),
            id: None,
            algo: None,
            reverse: false,
            tcp: false,
        }
    }
}

impl From<String> for Label {
    fn from(name: String) -> Self {
        Label {
            name,
            id: None,
            algo: None,
            reverse: false,
            tcp: false,
        }
    }
}

impl Registry {
    /// An empty registry. Each counter set added fixes its own rate epoch
    /// at its first timed event.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose counter sets all measure rates and
    /// `lastsess` from `epoch` (typically the process start), so their
    /// seconds line up.
    pub fn with_epoch(epoch: Instant) -> Self {
        Self {
            epoch: Some(epoch),
            ..Self::default()
        }
    }

    fn proxy(&self) -> Arc<ProxyCounters> {
        Arc::new(
            self.epoch
                .map_or_else(ProxyCounters::new, ProxyCounters::with_epoch),
        )
    }

    /// Adds a frontend; its index is the number of frontends before it.
    pub fn add_frontend(&mut self, label: impl Into<Label>) -> Arc<ProxyCounters> {
        let c = self.proxy();
        self.frontends.push((label.into(), Arc::clone(&c)));
        c
    }

    /// Adds a backend; returns its index and counters.
    pub fn add_backend(&mut self, label: impl Into<Label>) -> (usize, Arc<ProxyCounters>) {
        let c = self.proxy();
        self.backends.push(BackendEntry {
            label: label.into(),
            counters: Arc::clone(&c),
            servers: Vec::new(),
        });
        (self.backends.len() - 1, c)
    }

    /// Adds a server to backend `backend`; `None` if there is no such
    /// backend. Its index within the backend is the number of servers before
    /// it.
    pub fn add_server(
        &mut self,
        backend: usize,
        label: impl Into<Label>,
    ) -> Option<Arc<ServerCounters>> {
        let epoch = self.epoch;
        let be = self.backends.get_mut(backend)?;
        let c = Arc::new(epoch.map_or_else(ServerCounters::new, ServerCounters::with_epoch));
        be.servers.push((label.into(), Arc::clone(&c)));
        Some(c)
    }

    /// Adds a frontend whose counters already exist (a reload keeps the
    /// counters of a frontend it keeps); its index is the number of
    /// frontends before it.
    ///
    /// ```
    /// use std::time::Instant;
    /// use gwd_stats::Registry;
    ///
    /// let mut old = Registry::new();
    /// let fe = old.add_frontend("www");
    /// fe.request_at(Instant::now());
    /// let mut new = Registry::new();
    /// new.keep_frontend("www", fe.clone());
    /// assert_eq!(new.snapshot().frontends[0].counters.requests, 1);
    /// ```
    pub fn keep_frontend(&mut self, label: impl Into<Label>, counters: Arc<ProxyCounters>) {
        self.frontends.push((label.into(), counters));
    }

    /// Carries over what `previous` counted that this registry does not:
    /// its frontends not kept here (by counter set) and its own retired
    /// ones. Call it once the frontends are added. Those with nothing
    /// open any more are folded into sums.
    ///
    /// ```
    /// use gwd_stats::Registry;
    ///
    /// let mut old = Registry::new();
    /// let fe = old.add_frontend("gone");
    /// fe.request_at(std::time::Instant::now());
    /// let mut new = Registry::new();
    /// new.add_frontend("other");
    /// new.retire_from(&old);
    /// assert_eq!(new.snapshot().retired.cum_req, 1);
    /// ```
    pub fn retire_from(&mut self, previous: &Registry) {
        let kept = |c: &Arc<ProxyCounters>| self.frontends.iter().any(|(_, k)| Arc::ptr_eq(k, c));
        let mut retired = Retired {
            folded: previous.retired.folded,
            live: Vec::new(),
        };
        let gone = previous
            .frontends
            .iter()
            .map(|(_, c)| c)
            .filter(|c| !kept(c))
            .chain(previous.retired.live.iter());
        for c in gone {
            let s = c.snapshot();
            if s.conns.cur == 0 && s.sessions.cur == 0 {
                retired.folded.add(&s);
            } else {
                retired.live.push(Arc::clone(c));
            }
        }
        self.retired = retired;
    }

    /// Adds a backend whose counters already exist (see
    /// [`keep_frontend`](Self::keep_frontend)); returns its index.
    pub fn keep_backend(&mut self, label: impl Into<Label>, counters: Arc<ProxyCounters>) -> usize {
        self.backends.push(BackendEntry {
            label: label.into(),
            counters,
            servers: Vec::new(),
        });
        self.backends.len() - 1
    }

    /// Adds a server whose counters already exist to backend `backend`;
    /// `false` if there is no such backend.
    pub fn keep_server(
        &mut self,
        backend: usize,
        label: impl Into<Label>,
        counters: Arc<ServerCounters>,
    ) -> bool {
        match self.backends.get_mut(backend) {
            Some(be) => {
                be.servers.push((label.into(), counters));
                true
            }
            None => false,
        }
    }

    /// The epoch given to every counter set added, if any.
    pub fn epoch(&self) -> Option<Instant> {
        self.epoch
    }

    /// Frontend by index.
    pub fn frontend(&self, idx: usize) -> Option<&Arc<ProxyCounters>> {
        self.frontends.get(idx).map(|(_, c)| c)
    }

    /// Backend by index.
    pub fn backend(&self, idx: usize) -> Option<&Arc<ProxyCounters>> {
        self.backends.get(idx).map(|b| &b.counters)
    }

    /// Server `server` of backend `backend`.
    pub fn server(&self, backend: usize, server: usize) -> Option<&Arc<ServerCounters>> {
        self.backends
            .get(backend)?
            .servers
            .get(server)
            .map(|(_, c)| c)
    }

    /// Index of the first frontend with this name.
    pub fn frontend_index(&self, name: &str) -> Option<usize> {
        self.frontends.iter().position(|(l, _)| l.name == name)
    }

    /// Index of the first backend with this name.
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.label.name == name)
    }

    /// Number of frontends.
    pub fn frontends_len(&self) -> usize {
        self.frontends.len()
    }

    /// Number of backends.
    pub fn backends_len(&self) -> usize {
        self.backends.len()
    }

    /// Rates, timings and `lastsess` of every counter set at `now`, in
    /// registry order, each row trimmed to the columns HAProxy shows for
    /// its kind ([`RateSnapshot::haproxy_columns`](crate::RateSnapshot::haproxy_columns)).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use gwd_stats::Registry;
    ///
    /// let t0 = Instant::now();
    /// let mut reg = Registry::with_epoch(t0);
    /// let fe = reg.add_frontend("www");
    /// let (b, be) = reg.add_backend("app");
    /// let srv = reg.add_server(b, "s1").unwrap();
    ///
    /// let now = t0 + Duration::from_millis(100);
    /// let _c = fe.conn_opened_at(now);
    /// let _s = fe.session_opened_at(now);
    /// fe.request_at(now);
    /// let _bs = be.session_opened_at(now);
    /// let _ss = srv.session_opened_at(now);
    /// srv.record_timings(
    ///     Duration::ZERO,
    ///     Duration::from_millis(2),
    ///     Duration::from_millis(30),
    ///     Duration::from_millis(40),
    /// );
    ///
    /// let r = reg.rates_at(t0 + Duration::from_millis(3_500));
    /// // Frontend columns; the second of the events is out of the window.
    /// assert_eq!((r.frontends[0].req_rate, r.frontends[0].req_rate_max), (Some(0), Some(1)));
    /// assert_eq!(r.frontends[0].lastsess_s, None);
    /// // Server columns.
    /// let s = r.servers[0][0];
    /// assert_eq!((s.rtime_ms, s.ttime_max_ms, s.lastsess_s), (Some(30), Some(40), Some(3)));
    /// assert_eq!(s.req_rate, None);
    /// ```
    pub fn rates_at(&self, now: Instant) -> RegistryRates {
        RegistryRates {
            frontends: self
                .frontends
                .iter()
                .map(|(_, c)| c.rates_at(now).haproxy_columns(RowKind::Frontend))
                .collect(),
            backends: self
                .backends
                .iter()
                .map(|b| b.counters.rates_at(now).haproxy_columns(RowKind::Backend))
                .collect(),
            servers: self
                .backends
                .iter()
                .map(|b| {
                    b.servers
                        .iter()
                        .map(|(_, c)| c.rates_at(now).haproxy_columns(RowKind::Server))
                        .collect()
                })
                .collect(),
        }
    }

    /// Plain copies of every counter, in registry order.
    pub fn snapshot(&self) -> RegistrySnapshot {
        RegistrySnapshot {
            frontends: self
                .frontends
                .iter()
                .enumerate()
                .map(|(i, (l, c))| Named {
                    name: l.name.clone(),
                    id: l.id_at(i),
                    tcp: l.tcp,
                    counters: c.snapshot(),
                })
                .collect(),
            backends: self
                .backends
                .iter()
                .enumerate()
                .map(|(bi, b)| BackendSnapshot {
                    name: b.label.name.clone(),
                    id: b.label.id_at(bi),
                    algo: b.label.algo.clone(),
                    tcp: b.label.tcp,
                    counters: b.counters.snapshot(),
                    servers: b
                        .servers
                        .iter()
                        .enumerate()
                        .map(|(si, (l, c))| ServerNamed {
                            name: l.name.clone(),
                            id: l.id_at(si),
                            reverse: l.reverse,
                            tcp: l.tcp,
                            counters: c.snapshot(),
                        })
                        .collect(),
                })
                .collect(),
            retired: {
                let mut t = self.retired.folded;
                for c in &self.retired.live {
                    t.add(&c.snapshot());
                }
                t
            },
        }
    }
}

/// A snapshot with the name of what it counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named<S> {
    /// Frontend, backend or server name.
    pub name: String,
    /// Its id ([`Label`]): `iid` of a frontend, `sid` of a server.
    pub id: u32,
    /// A `mode tcp` proxy ([`Label::tcp`]).
    pub tcp: bool,
    /// Its counters.
    pub counters: S,
}

/// A backend's snapshot with its servers'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendSnapshot {
    /// Backend name.
    pub name: String,
    /// Backend id (`iid`, [`Label`]).
    pub id: u32,
    /// Its balancing algorithm as HAProxy names it ([`Label::algo`]).
    pub algo: Option<String>,
    /// A `mode tcp` backend ([`Label::tcp`]).
    pub tcp: bool,
    /// The backend's own counters.
    pub counters: ProxySnapshot,
    /// Its servers, in the order added.
    pub servers: Vec<ServerNamed>,
}

/// A server's snapshot with its name and the facts of its [`Label`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNamed {
    /// Server name.
    pub name: String,
    /// Its id (`sid`, [`Label`]).
    pub id: u32,
    /// Whether it is a reverse-HTTP (`rhttp@`) server ([`Label::reverse`]).
    pub reverse: bool,
    /// A server of a `mode tcp` backend ([`Label::tcp`]).
    pub tcp: bool,
    /// Its counters.
    pub counters: ServerSnapshot,
}

/// A snapshot of a whole [`Registry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// Frontends, in the order added.
    pub frontends: Vec<Named<ProxySnapshot>>,
    /// Backends, in the order added.
    pub backends: Vec<BackendSnapshot>,
    /// What frontends no longer configured counted
    /// ([`Registry::retire_from`]): part of the process totals, not rows.
    pub retired: RetiredTotals,
}

#[cfg(test)]
mod retired_tests {
    use super::*;

    /// A frontend a reload removed keeps counting in the process totals:
    /// its open connections while they last, then as folded sums, across
    /// any number of later reloads.
    #[test]
    fn removed_frontends_stay_in_the_totals_until_and_after_they_close() {
        let now = Instant::now();
        let mut first = Registry::new();
        let gone = first.add_frontend("gone");
        let stays = first.add_frontend("stays");
        let open = gone.conn_opened_at(now);
        gone.request_at(now);
        stays.request_at(now);

        let mut second = Registry::new();
        second.keep_frontend("stays", Arc::clone(&stays));
        second.retire_from(&first);
        let r = second.snapshot().retired;
        assert_eq!((r.cur_conns, r.cum_conns, r.cum_req), (1, 1, 1));
        assert_eq!(second.snapshot().frontends.len(), 1, "not a row");

        // Still open at the next reload: still counted, then closed.
        let mut third = Registry::new();
        third.keep_frontend("stays", Arc::clone(&stays));
        third.retire_from(&second);
        assert_eq!(third.snapshot().retired.cur_conns, 1);
        drop(open);
        let r = third.snapshot().retired;
        assert_eq!((r.cur_conns, r.cum_conns, r.cum_req), (0, 1, 1));

        // Closed: folded into sums, the counter set let go.
        let mut fourth = Registry::new();
        fourth.retire_from(&third);
        let r = fourth.snapshot().retired;
        assert_eq!((r.cur_conns, r.cum_conns, r.cum_req), (0, 1, 2));
        assert!(fourth.retired.live.is_empty());
    }
}
