//! The proxy's runtime state, built once from a validated config and
//! shared (behind `Arc`) by every connection task.
//!
//! Invariants: backends and servers in rules and requests
//! (`BackendChoice::Static`, `ServerAt`) are the config's positions, and
//! the runtime vectors follow the config's order ([`Proxy::backend`],
//! [`Proxy::server`]), so no name lookup happens per request; the
//! only mutable parts are atomics (counters, the balancers' cursors and
//! in-flight counts), the balancers' snapshots (swapped on state
//! changes), and the per-server connection pools and status records, each
//! behind its own short-held lock.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;

use gwd_balance::{Admin, ServerId};
use gwd_config::{
    Backend, BackendId, Config, Frontend, FrontendId, Server, ServerAt, ServerProto, Verify,
};
use gwd_stats::{Label, ProxyCounters, Registry, ServerCounters};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;

use crate::backend::balancer_sharing;
use crate::backend::health::CheckTarget;
use crate::backend::passive::Passive;
use crate::backend::queue::Lb;
use crate::backend::status::ServerStatus;
use crate::named::{NamedConns, NamedConnsSource, NoNamedConns};
use crate::stats_http::StatsEndpoints;
use crate::upstream::ServerPool;

/// Why the runtime state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("backend `{backend}`, server `{server}`: {source}")]
    ServerTls {
        backend: String,
        server: String,
        #[source]
        source: gwd_tls::TlsError,
    },
    #[error("backend `{backend}`, server `{server}`: `{name}` is not a valid TLS server name")]
    ServerName {
        backend: String,
        server: String,
        name: String,
    },
}

/// Everything the request path needs.
#[derive(Debug)]
pub struct Proxy {
    pub config: Arc<Config>,
    pub frontends: Vec<FrontendRt>,
    pub backends: Vec<BackendRt>,
    pub stats: Registry,
    /// Connections open on every frontend (HAProxy's `actconn`).
    pub process_conns: Arc<ProxyCounters>,
    /// What renders the stats page and the Prometheus text; installed once
    /// with [`Proxy::set_stats_endpoints`] after the proxy is built.
    stats_endpoints: OnceLock<Arc<dyn StatsEndpoints>>,
    /// Backend names to ids, for dynamic `use_backend` rules.
    backend_names: std::collections::HashMap<String, BackendId>,
    /// Each server's count of requests in flight by (backend, server)
    /// name: this configuration's servers, and servers of earlier ones
    /// that still have requests in flight. A reload's new balancers count
    /// on them ([`gwd_balance::Balancer::new_sharing`]), however many
    /// reloads ago the server was last configured.
    server_counts: std::collections::HashMap<(String, String), gwd_balance::SharedCount>,
    /// The queues of earlier configurations still alive (requests are
    /// queued or running on them), by backend name: a slot their
    /// requests free is room for this configuration's queue of the same
    /// backend, even when a reload in between left the backend out.
    earlier_queues: std::collections::HashMap<String, Vec<Weak<Lb>>>,
    /// `hard-stop-after` passed: what is cut from here on was killed by
    /// gwd, not left by its client. Shared by every proxy a reload
    /// replaced: their connections are cut too.
    hard_stopped: Arc<std::sync::atomic::AtomicBool>,
    /// When the first proxy of this process was built: the epoch of every
    /// counter, kept across reloads so rates line up.
    epoch: Instant,
    /// A reload replaced this proxy and its `hard-stop-after` passed since:
    /// connections still on it are cut.
    expired: tokio::sync::watch::Sender<bool>,
    /// Set once a reload replaced this proxy: where the proxy in force now
    /// is. Weak, so a connection that still holds this proxy keeps no
    /// later one alive.
    retired: OnceLock<Weak<ArcSwap<Proxy>>>,
    /// `proc.*` variables, shared by every connection on this proxy.
    pub(crate) proc_vars: std::sync::Mutex<gwd_sample::Vars>,
}

#[derive(Debug)]
pub struct FrontendRt {
    pub conf: Frontend,
    pub counters: Arc<ProxyCounters>,
    /// `option forwardfor`: the header to append the client address to.
    pub forwardfor: Option<String>,
}

#[derive(Debug)]
pub struct BackendRt {
    pub conf: Backend,
    pub servers: Vec<ServerRt>,
    pub counters: Arc<ProxyCounters>,
    pub forwardfor: Option<String>,
    /// Server choice (`balance`, weights, states) and the `maxconn` queue.
    pub lb: Arc<Lb>,
}

#[derive(Debug)]
pub struct ServerRt {
    pub conf: Server,
    pub counters: Arc<ServerCounters>,
    /// Client TLS config and the name to send, for TLS servers.
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// Idle and shared connections; a response body in flight holds a
    /// reference to give its connection back at the end.
    pub pool: Arc<Mutex<ServerPool>>,
    /// Servers whose connections their peers open (`rhttp@`): those
    /// connections, by name (reverse-HTTP tunnels), from the
    /// [`NamedConnsSource`] the proxy was built with. Servers gwd-http
    /// dials: `None`.
    pub named: Option<Arc<dyn NamedConns>>,
    /// Health counter, check results and state history, for stats
    /// (shared with the next proxy when a reload keeps the server).
    pub status: Arc<ServerStatus>,
    /// `check = true`: where and how its checks connect.
    pub check_target: Option<CheckTarget>,
    /// `observe`: passive checks.
    pub passive: Option<Arc<Passive>>,
}

impl FrontendRt {
    /// How rules see this frontend (`fe_name`, `fe_id`).
    pub fn proxy_ref(&self) -> gwd_sample::ProxyRef<'_> {
        gwd_sample::ProxyRef {
            name: &self.conf.name,
            id: self.conf.id,
        }
    }
}

impl BackendRt {
    /// How rules see this backend (`be_name`, `be_id`).
    pub fn proxy_ref(&self) -> gwd_sample::ProxyRef<'_> {
        gwd_sample::ProxyRef {
            name: &self.conf.name,
            id: self.conf.id,
        }
    }
}

impl BackendRt {
    /// Server `id` of this backend (its position in the config).
    pub fn server(&self, id: gwd_config::ServerId) -> &ServerRt {
        &self.servers[id.index()]
    }
}

impl ServerRt {
    /// The server's connection pool at this instant (idle, safe, used,
    /// peak, estimated need), for statistics: a copy, taken under the
    /// pool's lock for as long as the copy takes.
    pub fn pool_stats(&self) -> gwd_pool::PoolStats {
        self.pool.lock().stats()
    }
}

/// A frontend's statistics label: its name, id and mode.
fn fe_label(f: &gwd_config::Frontend) -> Label {
    let label = Label::new(f.name.clone(), f.id);
    if f.mode == gwd_config::ProxyMode::Tcp {
        label.tcp()
    } else {
        label
    }
}

fn ff_header(ff: &Option<gwd_config::ForwardFor>) -> Option<String> {
    ff.as_ref()
        .filter(|f| gwd_head::valid_name(f.header.as_bytes()))
        .map(|f| f.header.to_ascii_lowercase())
}

impl Proxy {
    /// `hard-stop-after` passed: requests cut from now on are logged as
    /// killed (`K`), not as left by their clients.
    pub fn hard_stop(&self) {
        self.hard_stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`hard_stop`](Self::hard_stop) was called, or this proxy
    /// [`expire`](Self::expire)d: what is cut now was killed by gwd.
    pub fn is_hard_stopped(&self) -> bool {
        self.hard_stopped.load(std::sync::atomic::Ordering::Relaxed) || *self.expired.borrow()
    }

    /// A reload replaced this proxy `hard-stop-after` ago: the connections
    /// still on it are cut (as at a hard stop), so an old configuration
    /// does not live on behind a long request.
    pub fn expire(&self) {
        self.expired.send_replace(true);
        crate::conn_io::wake_connections();
    }

    /// Whether [`expire`](Self::expire) was called.
    pub(crate) fn is_expired(&self) -> bool {
        *self.expired.borrow()
    }

    /// Resolves once [`expire`](Self::expire) was called.
    pub async fn expired(&self) {
        let mut rx = self.expired.subscribe();
        let _ = rx.wait_for(|e| *e).await;
    }

    /// The runtime state of `config`, every counter at zero, with no
    /// named connections: an `rhttp@` server gets none (its requests fail
    /// to connect). See [`Proxy::with_named`].
    pub fn new(config: Arc<Config>) -> Result<Proxy, BuildError> {
        Self::build(config, None, &NoNamedConns)
    }

    /// [`Proxy::new`], each server's named connections (`rhttp@` tunnels)
    /// from `named`.
    pub fn with_named(
        config: Arc<Config>,
        named: &dyn NamedConnsSource,
    ) -> Result<Proxy, BuildError> {
        Self::build(config, None, named)
    }

    /// The runtime state of `config` replacing `previous` (a reload):
    /// what the new config keeps carries over, what it drops is left to
    /// `previous` (and freed with it), what it adds starts fresh.
    ///
    /// * Frontends, backends and servers keep their counters by name.
    /// * A server whose connections are made the same way (address,
    ///   protocol, TLS settings, pool settings, the backend's
    ///   `http-reuse`) keeps its pool of idle connections; one that also
    ///   keeps its `check` settings keeps its health (the counter, the
    ///   last results, its passive-check errors).
    /// * A backend whose balancing and servers (names, weights, backup,
    ///   `maxconn`, `disabled`) are unchanged keeps its balancer whole:
    ///   run-time weights and states, requests in flight, its queue.
    ///   Otherwise each kept server brings its run-time state (admin
    ///   state unless `disabled` changed, weight unless `weight` changed,
    ///   health when kept) into a new balancer; once the new
    ///   configuration is in force, [`Proxy::link_balancers_after`] links
    ///   it to the old one.
    /// * Named connections (`rhttp@` tunnels) are what `named` says, given
    ///   those the same server had (see [`NamedConnsSource`]); with
    ///   [`Proxy::succeed`], none.
    /// * Certificates and keys are read again (TLS settings are rebuilt).
    pub fn succeed_with(
        config: Arc<Config>,
        previous: &Proxy,
        named: &dyn NamedConnsSource,
    ) -> Result<Proxy, BuildError> {
        Self::build(config, Some(previous), named)
    }

    /// [`Proxy::succeed_with`] without named connections.
    pub fn succeed(config: Arc<Config>, previous: &Proxy) -> Result<Proxy, BuildError> {
        Self::build(config, Some(previous), &NoNamedConns)
    }

    fn build(
        config: Arc<Config>,
        previous: Option<&Proxy>,
        named: &dyn NamedConnsSource,
    ) -> Result<Proxy, BuildError> {
        // One epoch for every counter: rates of all rows count the same
        // seconds, across reloads too.
        let epoch = previous.map_or_else(Instant::now, |p| p.epoch);
        let mut stats = Registry::with_epoch(epoch);
        let frontends = config
            .frontends
            .iter()
            .map(|f| {
                let kept = previous
                    .and_then(|p| p.frontends.iter().find(|o| o.conf.name == f.name))
                    .map(|o| o.counters.clone());
                let counters = match kept {
                    Some(c) => {
                        stats.keep_frontend(fe_label(f), c.clone());
                        c
                    }
                    None => stats.add_frontend(fe_label(f)),
                };
                FrontendRt {
                    counters,
                    forwardfor: ff_header(&f.forwardfor),
                    conf: f.clone(),
                }
            })
            .collect();
        // Frontends the previous configuration had and this one has not:
        // the process totals go on counting them (`show info`).
        if let Some(p) = previous {
            stats.retire_from(&p.stats);
        }
        let mut backends = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let old_b = previous.and_then(|p| p.backends.iter().find(|o| o.conf.name == b.name));
            let tcp = b.mode == gwd_config::ProxyMode::Tcp;
            let mut label = Label::new(b.name.clone(), b.id).with_algo(b.balance.haproxy_name());
            if tcp {
                label = label.tcp();
            }
            let (bidx, counters) = match old_b {
                Some(o) => (
                    stats.keep_backend(label, o.counters.clone()),
                    o.counters.clone(),
                ),
                None => stats.add_backend(label),
            };
            let mut servers = Vec::with_capacity(b.servers.len());
            // Per new server: its old self and whether its health carried.
            let mut olds: Vec<Option<(usize, bool)>> = Vec::with_capacity(b.servers.len());
            for s in &b.servers {
                let tls = server_tls(b, s)?;
                let check_target = CheckTarget::of(s, b)?;
                let old = old_b.and_then(|ob| {
                    ob.servers
                        .iter()
                        .position(|o| o.conf.name == s.name)
                        .map(|i| (i, &ob.servers[i]))
                });
                let same_conns = old.is_some_and(|(_, o)| {
                    old_b.is_some_and(|ob| ob.conf.http_reuse == b.http_reuse)
                        && same_connections(&o.conf, s)
                });
                let same_health = same_conns && old.is_some_and(|(_, o)| o.conf.check == s.check);
                let mut label = Label::new(s.name.clone(), s.id);
                if s.reverse().is_some() {
                    label = label.reverse();
                }
                if tcp {
                    label = label.tcp();
                }
                let counters = match old {
                    Some((_, o)) => {
                        stats.keep_server(bidx, label, o.counters.clone());
                        o.counters.clone()
                    }
                    None => stats
                        .add_server(bidx, label)
                        .expect("the backend was just registered"),
                };
                let kept = old.filter(|_| same_conns).map(|(_, o)| o);
                let healthy = old.filter(|_| same_health).map(|(_, o)| o);
                olds.push(old.map(|(i, _)| (i, same_health)));
                servers.push(ServerRt {
                    status: match healthy {
                        Some(o) => o.status.clone(),
                        None => {
                            Arc::new(ServerStatus::new(s.check.as_ref().map(|c| c.health), epoch))
                        }
                    },
                    check_target,
                    passive: match healthy {
                        Some(o) => o.passive.clone(),
                        None => s
                            .check
                            .as_ref()
                            .and_then(|c| c.observe)
                            .map(|o| Arc::new(Passive::new(o))),
                    },
                    counters,
                    tls,
                    pool: match kept {
                        Some(o) => o.pool.clone(),
                        None => Arc::new(Mutex::new(ServerPool::new(&s.pool, b.http_reuse))),
                    },
                    named: named.named_conns(
                        &config,
                        b,
                        s,
                        previous
                            .zip(old.and_then(|(_, o)| o.named.as_ref()))
                            .map(|(p, n)| (&*p.config, n)),
                    ),
                    conf: s.clone(),
                });
            }
            let lb = match old_b {
                Some(ob)
                    if same_balancing(&ob.conf, b)
                        && olds.iter().all(|o| matches!(o, Some((_, true)))) =>
                {
                    ob.lb.clone()
                }
                _ => {
                    // Requests in flight on the earlier balancers of a
                    // server keep counting against its `maxconn`.
                    let lb = Lb::new(balancer_sharing(b, |server| {
                        previous.and_then(|p| {
                            p.server_counts
                                .get(&(b.name.clone(), server.to_owned()))
                                .cloned()
                        })
                    }));
                    if let Some(ob) = old_b {
                        carry_server_states(&ob.lb, &ob.conf, &lb, b, &olds);
                    }
                    lb.count_queues_on(servers.iter().map(|s| s.counters.clone()).collect());
                    lb
                }
            };
            backends.push(BackendRt {
                counters,
                forwardfor: ff_header(&b.forwardfor),
                servers,
                lb,
                conf: b.clone(),
            });
        }
        let backend_names = config
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.clone(), BackendId::new(i)))
            .collect();
        // This configuration's servers, then those only earlier ones had
        // that still have requests in flight (a count at 0 is let go).
        let mut server_counts = std::collections::HashMap::new();
        for be in &backends {
            for (i, s) in be.conf.servers.iter().enumerate() {
                server_counts.insert(
                    (be.conf.name.clone(), s.name.clone()),
                    be.lb.balancer.count(server_id(i)),
                );
            }
        }
        let mut earlier_queues: std::collections::HashMap<String, Vec<Weak<Lb>>> =
            std::collections::HashMap::new();
        if let Some(p) = previous {
            for (key, count) in &p.server_counts {
                if count.in_flight() > 0 && !server_counts.contains_key(key) {
                    server_counts.insert(key.clone(), count.clone());
                }
            }
            let previous_queues = p
                .backends
                .iter()
                .map(|b| (&b.conf.name, Arc::downgrade(&b.lb)))
                .chain(
                    p.earlier_queues
                        .iter()
                        .flat_map(|(name, qs)| qs.iter().map(move |q| (name, q.clone()))),
                );
            for (name, q) in previous_queues {
                // Kept whole by this configuration: not an earlier queue.
                let kept = backends
                    .iter()
                    .any(|b| &b.conf.name == name && std::ptr::eq(Arc::as_ptr(&b.lb), q.as_ptr()));
                if q.strong_count() > 0 && !kept {
                    earlier_queues.entry(name.clone()).or_default().push(q);
                }
            }
        }
        Ok(Proxy {
            proc_vars: std::sync::Mutex::default(),
            config,
            frontends,
            backends,
            stats,
            // Connections open on every frontend: the process's, whatever
            // the config.
            process_conns: previous.map_or_else(
                || Arc::new(ProxyCounters::new()),
                |p| p.process_conns.clone(),
            ),
            stats_endpoints: OnceLock::new(),
            backend_names,
            server_counts,
            earlier_queues,
            hard_stopped: previous.map_or_else(
                || Arc::new(std::sync::atomic::AtomicBool::new(false)),
                |p| p.hard_stopped.clone(),
            ),
            epoch,
            expired: tokio::sync::watch::Sender::new(false),
            retired: OnceLock::new(),
        })
    }

    /// A reload replaced this proxy by the one `live` holds (and will
    /// hold after later reloads). Connections still on this proxy move to
    /// that one at their next request ([`Proxy::successor`]).
    pub fn retire(&self, live: &Arc<ArcSwap<Proxy>>) {
        let _ = self.retired.set(Arc::downgrade(live));
    }

    /// The proxy in force now when a reload replaced this one; `None`
    /// while this one is in force (one atomic load: the request path
    /// asks at every request).
    pub fn successor(&self) -> Option<Arc<Proxy>> {
        let live = self.retired.get()?.upgrade()?;
        let now = live.load_full();
        (!std::ptr::eq(Arc::as_ptr(&now), self)).then_some(now)
    }

    /// The frontend named `name`.
    pub fn frontend_id(&self, name: &str) -> Option<FrontendId> {
        self.frontends
            .iter()
            .position(|f| f.conf.name == name)
            .map(FrontendId::new)
    }

    /// Frontend `id` (a position the config gave it).
    pub fn frontend(&self, id: FrontendId) -> &FrontendRt {
        &self.frontends[id.index()]
    }

    /// Installs what renders the stats page (`stats.uri`) and the
    /// `prometheus-exporter` service. Only the first call takes effect; a
    /// later one gets its argument back. Until one is installed those
    /// requests are answered 503.
    pub fn set_stats_endpoints(
        &self,
        endpoints: Arc<dyn StatsEndpoints>,
    ) -> Result<(), Arc<dyn StatsEndpoints>> {
        self.stats_endpoints.set(endpoints)
    }

    /// The installed statistics renderer, if any.
    pub fn stats_endpoints(&self) -> Option<&Arc<dyn StatsEndpoints>> {
        self.stats_endpoints.get()
    }
}

/// The client TLS settings of a TLS server (certificates read now).
/// Proxy building uses it, and `gwd check` too, so that the check
/// refuses what would stop the start.
pub fn server_tls(
    b: &Backend,
    s: &Server,
) -> Result<Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>, BuildError> {
    let Some(t) = &s.tls else {
        return Ok(None);
    };
    let alpn = if t.alpn.is_empty() {
        vec![match s.proto {
            ServerProto::H2 => "h2".to_string(),
            ServerProto::H1 => "http/1.1".to_string(),
        }]
    } else {
        t.alpn.clone()
    };
    let cfg = gwd_tls::client_config(&gwd_tls::ClientTlsSettings {
        verify: match t.verify {
            Verify::None => gwd_tls::PeerVerify::None,
            _ => gwd_tls::PeerVerify::Required,
        },
        ca: t.ca.clone(),
        alpn,
        cert: t.cert.clone(),
        key: t.key.clone(),
    })
    .map_err(|source| BuildError::ServerTls {
        backend: b.name.clone(),
        server: s.name.clone(),
        source,
    })?;
    let host = s.net_addr().map(|a| a.host.clone()).unwrap_or_default();
    let name = t.sni.clone().unwrap_or(host);
    let sn = ServerName::try_from(name.clone()).map_err(|_| BuildError::ServerName {
        backend: b.name.clone(),
        server: s.name.clone(),
        name,
    })?;
    Ok(Some((cfg, sn)))
}

/// The balancer's id of a backend's `i`th server (a backend has far fewer
/// than 2^32 servers: the config caps them).
fn server_id(i: usize) -> ServerId {
    ServerId::new(u32::try_from(i).unwrap_or(u32::MAX))
}

/// Whether two versions of a server make their connections the same way,
/// so the idle ones of the first serve the second.
fn same_connections(a: &Server, b: &Server) -> bool {
    a.net_addr() == b.net_addr()
        && a.reverse().is_some() == b.reverse().is_some()
        && a.proto == b.proto
        && a.tls == b.tls
        && a.pool == b.pool
}

/// Whether two versions of a backend balance the same servers the same
/// way, so the first's balancer (states, weights, slots, queue) serves the
/// second as it is.
fn same_balancing(a: &Backend, b: &Backend) -> bool {
    a.balance == b.balance
        && a.hash_type == b.hash_type
        && a.all_backups == b.all_backups
        && a.servers.len() == b.servers.len()
        && a.servers.iter().zip(&b.servers).all(|(x, y)| {
            x.name == y.name
                && x.weight == y.weight
                && x.backup == y.backup
                && x.maxconn == y.maxconn
                && x.disabled == y.disabled
        })
}

/// Brings the run-time state of the servers a reload keeps from the old
/// balancer into the new one: the admin state (unless the config changed
/// `disabled`), a run-time weight (unless it changed `weight`), and the
/// health where the server's checks carried over (`olds[i]`: the old
/// position of new server `i`, and whether its health carried).
fn carry_server_states(
    old: &Lb,
    old_conf: &Backend,
    new: &Lb,
    new_conf: &Backend,
    olds: &[Option<(usize, bool)>],
) {
    for (i, o) in olds.iter().enumerate() {
        let Some((oi, health)) = *o else { continue };
        let was = old.balancer.server(server_id(oi));
        let (old_s, new_s) = (&old_conf.servers[oi], &new_conf.servers[i]);
        let id = server_id(i);
        if old_s.disabled == new_s.disabled && was.admin != Admin::Ready {
            new.balancer.set_admin(id, was.admin);
        }
        if old_s.weight == new_s.weight && was.weight != was.initial_weight {
            let _ = new.balancer.set_weight(id, was.weight);
        }
        if health && !was.up {
            new.balancer.set_up(id, false);
        }
    }
}

impl Proxy {
    /// This proxy now serves in place of `previous` (a reload put it in
    /// force): every rebuilt balancer's `maxconn` holds for the earlier
    /// balancers sharing its servers' counts (built with them; see
    /// `server_counts`), and its queue is linked to the old one of the
    /// same name, so a slot freed on any is offered to all their queues;
    /// an old queue's waiters are still served by the old servers.
    /// Without it, requests running or queued on an old balancer did not
    /// count, and servers took more than their `maxconn` across a reload.
    pub fn link_balancers_after(&self, previous: &Proxy) {
        for be in &self.backends {
            let kept = previous
                .backends
                .iter()
                .any(|o| o.conf.name == be.conf.name && Arc::ptr_eq(&be.lb, &o.lb));
            if kept {
                continue;
            }
            be.lb.balancer.enforce_limits();
            let earlier = self.earlier_queues.get(&be.conf.name);
            for q in earlier.into_iter().flatten().filter_map(Weak::upgrade) {
                be.lb.link_after(&q);
            }
        }
    }

    /// Backend `id` (a position the config gave it).
    pub fn backend(&self, id: BackendId) -> &BackendRt {
        &self.backends[id.index()]
    }

    /// Server `at` (positions the config gave it).
    pub fn server(&self, at: ServerAt) -> &ServerRt {
        self.backend(at.backend).server(at.server)
    }

    /// The backend named `name` (dynamic `use_backend`).
    pub fn backend_id(&self, name: &str) -> Option<BackendId> {
        self.backend_names.get(name).copied()
    }
}

/// A proxy with one frontend (`f`) and one backend (`b`, one server on a
/// closed port), for unit tests.
#[cfg(test)]
pub(crate) fn test_proxy() -> Arc<Proxy> {
    let cfg = gwd_config::parse_str(
        "[frontend.f]\nbind = [ { addr = \"127.0.0.1:0\" } ]\ndefault_backend = \"b\"\n[backend.b]\nserver = [ { name = \"s\", addr = \"127.0.0.1:1\" } ]\n",
        std::path::Path::new("t.toml"),
    )
    .expect("a valid test config");
    Arc::new(Proxy::new(Arc::new(cfg)).expect("buildable"))
}

/// A visitor connection's context on [`test_proxy`]'s frontend.
#[cfg(test)]
pub(crate) fn test_conn(proxy: Arc<Proxy>) -> Arc<crate::core::ConnCtx> {
    Arc::new(crate::core::ConnCtx {
        proxy,
        fe: FrontendId::new(0),
        peer: "127.0.0.1:1".parse().expect("an address"),
        local: "127.0.0.1:2".parse().expect("an address"),
        tls: None,
        shared: crate::conn_io::ConnShared::new(),
    })
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    fn proxy(servers: &str, balance: &str) -> Proxy {
        let cfg = gwd_config::parse_str(
            &format!(
                "[frontend.f]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\ndefault_backend = \"b\"\n\
                 [backend.b]\nbalance = \"{balance}\"\nserver = [ {servers} ]\n\
                 [backend.t]\nserver = [ {{ name = \"o\", addr = \"rhttp@\" }} ]\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .expect("a valid test config");
        Proxy::new(Arc::new(cfg)).expect("buildable")
    }

    fn next(previous: &Proxy, servers: &str, balance: &str) -> Proxy {
        let fresh = proxy(servers, balance);
        Proxy::succeed(fresh.config.clone(), previous).expect("buildable")
    }

    const A: &str = r#"{ name = "a", addr = "127.0.0.1:1", weight = 4 }"#;
    const B: &str = r#"{ name = "b", addr = "127.0.0.1:2" }"#;

    #[test]
    fn an_unchanged_backend_keeps_everything() {
        let old = proxy(&format!("{A}, {B}"), "roundrobin");
        old.set_server_admin(ServerAt::new(0, 1), Admin::Drain);
        old.backends[0].servers[0].counters.connect_attempt();
        let new = next(&old, &format!("{A}, {B}"), "roundrobin");
        let (o, n) = (&old.backends[0], &new.backends[0]);
        assert!(Arc::ptr_eq(&o.lb, &n.lb), "the balancer is kept whole");
        assert!(Arc::ptr_eq(&o.counters, &n.counters));
        assert!(Arc::ptr_eq(
            &old.frontends[0].counters,
            &new.frontends[0].counters
        ));
        assert!(Arc::ptr_eq(&old.process_conns, &new.process_conns));
        for (os, ns) in o.servers.iter().zip(&n.servers) {
            assert!(Arc::ptr_eq(&os.counters, &ns.counters));
            assert!(Arc::ptr_eq(&os.pool, &ns.pool));
            assert!(Arc::ptr_eq(&os.status, &ns.status));
        }
        assert_eq!(new.epoch, old.epoch);
    }

    #[test]
    fn a_changed_backend_carries_runtime_states_into_a_new_balancer() {
        let old = proxy(&format!("{A}, {B}"), "roundrobin");
        old.set_server_admin(ServerAt::new(0, 1), Admin::Maint);
        old.set_server_weight(ServerAt::new(0, 0), 2).unwrap();
        // A server added in front, `b` moved to a new address.
        let c = r#"{ name = "c", addr = "127.0.0.1:3" }"#;
        let b2 = r#"{ name = "b", addr = "127.0.0.1:9" }"#;
        let new = next(&old, &format!("{c}, {A}, {b2}"), "roundrobin");
        let (o, n) = (&old.backends[0], &new.backends[0]);
        assert!(!Arc::ptr_eq(&o.lb, &n.lb));
        let state = |i: u32| n.lb.balancer.server(ServerId::new(i));
        assert_eq!(state(0).admin, Admin::Ready, "a new server starts ready");
        assert_eq!((state(1).weight, state(1).initial_weight), (2, 4));
        assert_eq!(
            state(2).admin,
            Admin::Maint,
            "kept across the address change"
        );
        // `a` keeps its pool; `b` connects elsewhere now: a new pool, the
        // same counters.
        assert!(Arc::ptr_eq(&o.servers[0].pool, &n.servers[1].pool));
        assert!(!Arc::ptr_eq(&o.servers[1].pool, &n.servers[2].pool));
        assert!(Arc::ptr_eq(&o.servers[1].counters, &n.servers[2].counters));
        assert_eq!(new.stats.snapshot().backends[0].servers.len(), 3);
    }

    #[test]
    fn a_config_change_of_weight_or_disabled_wins_over_runtime_state() {
        let old = proxy(&format!("{A}, {B}"), "roundrobin");
        old.set_server_weight(ServerAt::new(0, 0), 1).unwrap();
        old.set_server_admin(ServerAt::new(0, 1), Admin::Maint);
        let a8 = r#"{ name = "a", addr = "127.0.0.1:1", weight = 8 }"#;
        let new = next(&old, &format!("{a8}, {B}"), "leastconn");
        let state = |i: u32| new.backends[0].lb.balancer.server(ServerId::new(i));
        assert_eq!(state(0).weight, 8);
        // `disabled` unchanged: the maintenance set at run time stays.
        assert_eq!(state(1).admin, Admin::Maint);
        let b_on = r#"{ name = "b", addr = "127.0.0.1:2", disabled = true }"#;
        let newer = next(&new, &format!("{a8}, {b_on}"), "leastconn");
        let off = next(&newer, &format!("{a8}, {B}"), "leastconn");
        let state = |i: u32| off.backends[0].lb.balancer.server(ServerId::new(i));
        assert_eq!(
            state(1).admin,
            Admin::Ready,
            "the config says enabled again"
        );
    }

    #[test]
    fn a_retired_proxy_names_its_successor() {
        let first = Arc::new(proxy(A, "roundrobin"));
        let live = Arc::new(ArcSwap::new(first.clone()));
        assert!(first.successor().is_none());
        let second = Arc::new(next(&first, A, "roundrobin"));
        live.store(second.clone());
        first.retire(&live);
        assert!(Arc::ptr_eq(&first.successor().unwrap(), &second));
        assert!(second.successor().is_none());
        // A later reload: the first one skips straight to the newest.
        let third = Arc::new(next(&second, A, "roundrobin"));
        live.store(third.clone());
        second.retire(&live);
        assert!(Arc::ptr_eq(&first.successor().unwrap(), &third));
        assert_eq!(third.frontend_id("f"), Some(FrontendId::new(0)));
        assert_eq!(third.frontend_id("nope"), None);
    }
}
