//! What runs while gwd serves, one *generation* per configuration: the
//! accept loops of its listeners, its `rhttp@` dialers, its health checks
//! and its pool purger; and the reload that replaces one generation by
//! the next.
//!
//! # Model and invariants
//!
//! * The proxy in force is in [`Shared::live`]. Connections hold the
//!   proxy they started on and move to the one in force at their next
//!   request ([`Proxy::retire`] / [`Proxy::successor`]); a request in
//!   flight finishes on the config it started with.
//! * A reload changes nothing until the new configuration is loaded,
//!   every new socket is bound, every certificate read and the new proxy
//!   built: any error leaves the running generation untouched.
//! * Listening sockets are kept by configured address: a bind whose
//!   address stays keeps its socket (connections queued in the kernel's
//!   backlog are accepted by the next generation's loop, none refused),
//!   with the new TLS settings (certificates read again). Removed
//!   addresses close once their old accept loop has stopped; their
//!   connections finish.
//! * An `rhttp@` dialer whose settings (and certificate files' contents)
//!   are unchanged keeps running with its tunnels; its requests move to
//!   the new proxy like any connection's.
//! * Every connection, of any generation, is tracked by one tracker and
//!   told to finish by one shutdown signal: the stop drains them all.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use gwd_config::{BindAddr, Config, FrontendId};
use gwd_http::Proxy;
use gwd_http::backend::health::HealthChecks;
use parking_lot::Mutex;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::accept::{AcceptLoop, accept_loop, bind_listener};
use crate::config_thread::ConfigThread;
use crate::stats::{HttpStats, stats_cli};
use crate::{BoundListener, ReverseDialer, StartError, reverse_dialer};

/// What every generation shares: the process's limits and the stop.
pub(crate) struct Shared {
    /// The proxy in force.
    pub live: Arc<ArcSwap<Proxy>>,
    /// The runtime API's commands, rebuilt with each generation.
    pub cli: gwd_admin::LiveCli,
    /// Every connection and dialer of every generation.
    pub tracker: TaskTracker,
    /// Flips to `true` at the stop.
    pub shutdown: watch::Receiver<bool>,
    /// Fired at the stop (with `shutdown`): visitor connections finish
    /// and close.
    pub conn_stop: gwd_http::StopSignal,
    /// Registration connections (tunnels from origins, gateway side):
    /// tracked apart and told to close only once the visitors' requests
    /// are done, so a request still being served can use its tunnel.
    pub tunnel_tracker: TaskTracker,
    pub tunnel_shutdown: watch::Receiver<bool>,
    /// The process's visitor connection budget (descriptors,
    /// `global.maxconn`).
    pub process_slots: Option<Arc<Semaphore>>,
    /// The file `reload` reads; `None`: reloading is not available.
    pub path: Option<PathBuf>,
    /// `[global]` as the process started with it: what the keys a reload
    /// cannot apply are still running with, whatever later files said.
    pub started_with: gwd_config::Global,
    /// The generation serving now.
    pub serving: Mutex<Generation>,
    /// Itself, for the runtime API's `reload` in each new `Cli`.
    pub me: Weak<Shared>,
    /// The TCP runtime API sockets, tagged, for a binary upgrade.
    pub admin_fds: Vec<(String, std::os::fd::OwnedFd)>,
    /// Told of each reload (systemd notifications).
    pub observer: Option<ReloadObserver>,
    /// Where reloads run ([`Shared::start_reload_thread`]), and the
    /// runtime they run in.
    pub reload_thread: Mutex<Option<(ConfigThread, tokio::runtime::Handle)>>,
    /// The `maxconn` budgets in force, kept by a reload that keeps their
    /// limit.
    pub slots: Mutex<HashMap<SlotKey, (usize, Arc<Semaphore>)>>,
}

/// Whose `maxconn` budget: a frontend's (by name) or a bind's (its
/// frontend and configured address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SlotKey {
    Frontend(String),
    Bind(String, std::net::SocketAddr, usize),
}

/// One configuration's running parts.
pub(crate) struct Generation {
    pub listeners: Vec<BoundListener>,
    /// Stops this generation's accept loops (not its connections).
    accept_stop: watch::Sender<bool>,
    accept_loops: Vec<JoinHandle<()>>,
    dialers: Vec<RunningDialer>,
    _health: HealthChecks,
    purger: JoinHandle<()>,
    /// The stop began: a reload is refused from here on.
    stopping: bool,
}

impl Generation {
    /// Nothing running yet (before [`Shared::start`]).
    pub fn empty() -> Generation {
        Generation {
            listeners: Vec::new(),
            accept_stop: watch::channel(false).0,
            accept_loops: Vec::new(),
            dialers: Vec::new(),
            _health: HealthChecks::default(),
            purger: tokio::spawn(async {}),
            stopping: false,
        }
    }
}

/// An `rhttp@` bind's dialer while it runs.
struct RunningDialer {
    key: DialerKey,
    stats: Arc<gwd_rhttp::DialerStats>,
    /// Stops this dialer alone (a reload dropped or changed its bind).
    stop: watch::Sender<bool>,
}

/// What makes two `rhttp@` binds the same dialer: everything the dialer
/// was built from, certificate files' contents included (a renewed
/// certificate makes a new dialer, which dials with it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DialerKey {
    frontend: String,
    target: String,
    gateway: Option<gwd_config::ServerAddr>,
    tls: Option<gwd_config::ServerTls>,
    tls_files: Vec<Option<Vec<u8>>>,
    nbconn: usize,
    idle_ping: Option<Duration>,
    backoff_max: Option<Duration>,
    connect_timeout: Option<Duration>,
    hard_stop_after: Option<Duration>,
}

impl DialerKey {
    fn of(config: &Config, frontend: FrontendId, rb: &gwd_config::ReverseBind) -> DialerKey {
        // (A loaded config has every `rhttp@` bind's server resolved.)
        let target = rb.server.map(|at| {
            let be = &config.backends[at.backend.index()];
            (be, &be.servers[at.server.index()])
        });
        let s = target.map(|(_, s)| s);
        let read = |p: &Option<PathBuf>| p.as_ref().and_then(|p| std::fs::read(p).ok());
        DialerKey {
            frontend: config.frontends[frontend.index()].name.clone(),
            target: target
                .map(|(be, s)| format!("{}/{}", be.name, s.name))
                .unwrap_or_default(),
            gateway: s.and_then(|s| s.net_addr().cloned()),
            tls: s.and_then(|s| s.tls.clone()),
            tls_files: s
                .and_then(|s| s.tls.as_ref())
                .map(|t| vec![read(&t.cert), read(&t.key), read(&t.ca)])
                .unwrap_or_default(),
            nbconn: rb.nbconn,
            idle_ping: rb.idle_ping,
            backoff_max: rb.backoff_max,
            connect_timeout: target.and_then(|(be, _)| be.timeouts.connect),
            hard_stop_after: config.global.hard_stop_after,
        }
    }
}

/// A reload's progress, for a service manager (systemd's RELOADING=1,
/// then READY=1).
#[derive(Debug)]
pub enum ReloadEvent<'a> {
    /// A reload begins.
    Started,
    /// It ended: in force, or refused.
    Finished(&'a Result<ReloadReport, ReloadError>),
}

/// What is told of each reload.
#[derive(Clone)]
pub(crate) struct ReloadObserver(pub Arc<dyn Fn(ReloadEvent<'_>) + Send + Sync>);

impl std::fmt::Debug for ReloadObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReloadObserver")
    }
}

/// What a reload did, for its log line and the runtime API's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Listening sockets kept, bound new, closed.
    pub listeners_kept: usize,
    pub listeners_new: usize,
    pub listeners_closed: usize,
    /// The sockets bound new: frontend, address, TLS.
    pub new_listeners: Vec<(String, std::net::SocketAddr, bool)>,
    /// Registered tunnels closed because their `rhttp@` server is gone.
    pub tunnels_closed: usize,
    /// `rhttp@` dialers kept (their tunnels untouched), started, stopped.
    pub dialers_kept: usize,
    pub dialers_new: usize,
    pub dialers_stopped: usize,
    /// The new configuration's warnings, and what it changed that applies
    /// only at the next start.
    pub warnings: Vec<String>,
    /// From the signal or command to the new configuration in force.
    pub took: Duration,
}

/// Why a reload left the running configuration in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reloading is not available: gwd was not started from a configuration file")]
    NoConfigFile,
    #[error("gwd is stopping")]
    Stopping,
    /// The file has errors: every diagnostic, as `gwd check` prints them.
    #[error("{}", .0)]
    Config(gwd_config::LoadErrors),
    /// A socket, certificate or dialer of the new configuration could not
    /// be set up.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The reload panicked: a gwd bug. The panic's message; the reload
    /// thread goes on, and the service manager is told the reload ended.
    #[error("the reload failed on an internal error (a gwd bug, please report it): {0}")]
    Internal(String),
}

/// Aborts the process when dropped during a panic: marks code after which
/// unwinding would leave shared state inconsistent (fail-stop).
struct AbortOnPanic(&'static str);

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            say!(
                "gwd: panic during {}: stopping (state cannot be trusted)",
                self.0
            );
            std::process::abort();
        }
    }
}

/// Runs `reload`, telling `observer` before and after. A panic inside it
/// becomes [`ReloadError::Internal`], so the observer always hears the end
/// (a service manager left in "reloading" would refuse the next reload)
/// and the caller gets the cause instead of a dropped reply that reads as
/// "gwd is stopping".
fn observe_reload(
    observer: Option<&ReloadObserver>,
    reload: impl FnOnce() -> Result<ReloadReport, ReloadError>,
) -> Result<ReloadReport, ReloadError> {
    if let Some(o) = observer {
        (o.0)(ReloadEvent::Started);
    }
    // Unwind safety: a reload prepares everything that can fail before it
    // changes shared state, parking_lot locks are not poisoned, and a
    // panic in the swap itself aborts the process (`AbortOnPanic`).
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(reload)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        tracing::error!(panic = %what, "reload panicked; the reload thread goes on");
        Err(ReloadError::Internal(what))
    });
    if let Some(o) = observer {
        (o.0)(ReloadEvent::Finished(&r));
    }
    r
}

impl Shared {
    /// Starts serving `listeners` and `dialers` on `proxy` (the first
    /// generation).
    pub fn start(
        self: &Arc<Self>,
        proxy: &Arc<Proxy>,
        listeners: Vec<BoundListener>,
        dialers: Vec<ReverseDialer>,
    ) {
        let (accept_stop, accept_rx) = watch::channel(false);
        let accept_loops = self.spawn_accept_loops(proxy, &listeners, &accept_rx);
        let dialers = dialers
            .into_iter()
            .map(|d| {
                let key = DialerKey::of(&proxy.config, d.frontend, &d.bind);
                self.spawn_dialer(proxy, d, key)
            })
            .collect();
        *self.serving.lock() = Generation {
            listeners,
            accept_stop,
            accept_loops,
            dialers,
            _health: HealthChecks::start(proxy),
            purger: tokio::spawn(purge_loop(proxy.clone())),
            stopping: false,
        };
    }

    /// One accept loop per listener, stopped by `stop` (a reload or the
    /// stop).
    fn spawn_accept_loops(
        &self,
        proxy: &Arc<Proxy>,
        listeners: &[BoundListener],
        stop: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        // One budget per frontend with `maxconn`, shared by its binds, and
        // one per bind with `maxconn`. A reload that keeps a limit keeps
        // its budget: the connections of the old configuration count
        // against it, and one waiting for a slot gets the next freed,
        // whichever configuration frees it.
        let mut kept = self.slots.lock();
        let mut slots: HashMap<SlotKey, (usize, Arc<Semaphore>)> = HashMap::new();
        let mut budget = |key: SlotKey, n: usize| -> Arc<Semaphore> {
            let sem = match kept.get(&key) {
                Some((limit, sem)) if *limit == n => sem.clone(),
                _ => Arc::new(Semaphore::new(n)),
            };
            slots.insert(key, (n, sem.clone()));
            sem
        };
        let fe_slots: Vec<Option<Arc<Semaphore>>> = proxy
            .config
            .frontends
            .iter()
            .map(|f| {
                f.maxconn
                    .map(|n| budget(SlotKey::Frontend(f.name.clone()), n))
            })
            .collect();
        // Binds of one frontend on one configured address (several on
        // port 0) are told apart by their order.
        let mut seen: HashMap<(FrontendId, std::net::SocketAddr), usize> = HashMap::new();
        let bind_slots: Vec<Option<Arc<Semaphore>>> = listeners
            .iter()
            .map(|bl| {
                let fe = &proxy.config.frontends[bl.frontend.index()].name;
                let nth = seen.entry((bl.frontend, bl.configured)).or_insert(0);
                *nth += 1;
                let key = SlotKey::Bind(fe.clone(), bl.configured, *nth);
                bl.maxconn.map(|n| budget(key, n))
            })
            .collect();
        *kept = slots;
        drop(kept);
        listeners
            .iter()
            .zip(bind_slots)
            .map(|(bl, bind_slot)| {
                tokio::spawn(accept_loop(AcceptLoop {
                    proxy: proxy.clone(),
                    listener: bl.listener.clone(),
                    handshaker: bl.handshaker.clone(),
                    frontend: bl.frontend,
                    proto: bl.proto,
                    bind_slot,
                    fe_slot: fe_slots[bl.frontend.index()].clone(),
                    process_slot: self.process_slots.clone(),
                    tracker: self.tracker.clone(),
                    tunnel_tracker: self.tunnel_tracker.clone(),
                    stop: stop.clone(),
                    shutdown: self.shutdown.clone(),
                    conn_stop: self.conn_stop.clone(),
                    tunnel_shutdown: self.tunnel_shutdown.clone(),
                }))
            })
            .collect()
    }

    fn spawn_dialer(&self, proxy: &Arc<Proxy>, d: ReverseDialer, key: DialerKey) -> RunningDialer {
        let (stop, mut own) = watch::channel(false);
        let mut shutdown = self.shutdown.clone();
        let stats = d.dialer.stats();
        let service = gwd_reverse::OriginService::new(proxy.clone(), d.frontend);
        self.tracker.spawn(async move {
            let stop = async move {
                tokio::select! {
                    _ = own.wait_for(|s| *s) => {}
                    _ = shutdown.wait_for(|s| *s) => {}
                }
            };
            if let Err(e) = d.dialer.run(service, stop).await {
                tracing::error!(target = %d.target, error = %e, "rhttp dialer ended");
            }
        });
        RunningDialer { key, stats, stop }
    }

    /// The stop: no more reloads; stops the accept loops and returns
    /// once they have, with the listening sockets (dropping them closes
    /// them).
    pub async fn stop_accepting(&self) -> Vec<BoundListener> {
        let (loops, listeners) = {
            let mut g = self.serving.lock();
            g.stopping = true;
            let _ = g.accept_stop.send(true);
            (
                std::mem::take(&mut g.accept_loops),
                std::mem::take(&mut g.listeners),
            )
        };
        for l in loops {
            let _ = l.await;
        }
        listeners
    }

    /// Stops the health checks and the purger (after the drain).
    pub fn stop_background(&self) {
        let mut g = self.serving.lock();
        g.purger.abort();
        g._health = HealthChecks::default();
    }

    /// Sets the thread reloads run on: off the runtime's workers (a slow
    /// reload does not hold traffic up), the configuration thread the
    /// starting configuration was built on when the caller gave it (see
    /// [`ConfigThread`]: it ends when idle and starts again for the next
    /// job); otherwise a new one.
    pub fn start_reload_thread(self: &Arc<Self>, given: Option<ConfigThread>) {
        let thread = match given {
            Some(t) => t,
            None => match ConfigThread::start() {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "no reload thread: reloads run where asked");
                    return;
                }
            },
        };
        let handle = tokio::runtime::Handle::current();
        *self.reload_thread.lock() = Some((thread, handle));
    }

    /// Runs a reload on the reload thread and waits for it (from a
    /// blocking context).
    pub fn reload_waiting(&self) -> Result<ReloadReport, ReloadError> {
        match self.submit_reload() {
            Some(rx) => rx.blocking_recv().unwrap_or(Err(ReloadError::Stopping)),
            None => self.reload_observed(),
        }
    }

    /// Runs a reload on the reload thread and waits for it (from async
    /// code).
    pub async fn reload_async(self: Arc<Self>) -> Result<ReloadReport, ReloadError> {
        match self.submit_reload() {
            Some(rx) => rx.await.unwrap_or(Err(ReloadError::Stopping)),
            None => tokio::task::spawn_blocking(move || self.reload_observed())
                .await
                .unwrap_or(Err(ReloadError::Stopping)),
        }
    }

    fn submit_reload(
        &self,
    ) -> Option<tokio::sync::oneshot::Receiver<Result<ReloadReport, ReloadError>>> {
        let (thread, handle) = self.config_thread()?;
        let (reply, rx) = tokio::sync::oneshot::channel();
        let weak = self.me.clone();
        thread.submit(move || {
            let _runtime = handle.enter();
            let outcome = match weak.upgrade() {
                Some(shared) => shared.reload_observed(),
                None => Err(ReloadError::Stopping),
            };
            let _ = reply.send(outcome);
        });
        Some(rx)
    }

    /// The thread configurations are built on, and the runtime to enter
    /// there; `None` where reloads are not available.
    pub fn config_thread(&self) -> Option<(ConfigThread, tokio::runtime::Handle)> {
        self.reload_thread.lock().clone()
    }

    /// [`reload`](Self::reload), with the observer told before and after.
    pub fn reload_observed(&self) -> Result<ReloadReport, ReloadError> {
        observe_reload(self.observer.as_ref(), || self.reload())
    }

    /// Loads the configuration file again and, when it is valid and every
    /// part of it can be set up, puts it in force (see the module docs).
    /// Runs inside the Tokio runtime; blocks its thread for the time it
    /// takes to read the files and bind new sockets.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let started = Instant::now();
        let path = self.path.as_ref().ok_or(ReloadError::NoConfigFile)?;
        let mut g = self.serving.lock();
        if g.stopping {
            return Err(ReloadError::Stopping);
        }
        let old = self.live.load_full();
        // Map and ACL files whose contents did not change keep their
        // running references (and the changes made at run time).
        // Their new uses become final only once the new configuration is
        // in force: a failure below gives the running one back its maps.
        let (config, pending_maps) =
            gwd_config::load_reusing_pending(path, &old.config).map_err(ReloadError::Config)?;
        let mut report = ReloadReport {
            warnings: config.warnings.iter().map(|w| w.render()).collect(),
            ..ReloadReport::default()
        };
        report
            .warnings
            .extend(restart_only_changes(&self.started_with, &config.global));

        // Everything that can fail, before anything changes.
        let config = Arc::new(config);
        let mut prepare = || -> Result<_, StartError> {
            let mut listeners = Vec::new();
            let mut claimed = vec![false; g.listeners.len()];
            for (fi, fe) in config.frontends.iter().enumerate() {
                for bind in &fe.binds {
                    let BindAddr::Tcp(addr) = bind.addr else {
                        continue;
                    };
                    // A socket goes to the bind of its address; with port 0
                    // (the kernel's pick) only to the same frontend's, each
                    // socket to one bind.
                    let kept = g.listeners.iter().enumerate().position(|(i, l)| {
                        !claimed[i]
                            && l.configured == addr
                            && (addr.port() != 0
                                || old.config.frontends[l.frontend.index()].name == fe.name)
                    });
                    let kept = kept.map(|i| {
                        claimed[i] = true;
                        g.listeners[i].listener.clone()
                    });
                    let new = kept.is_none();
                    let bl = bind_listener(fi, fe, bind, addr, kept)?;
                    if new {
                        report.listeners_new += 1;
                        report.new_listeners.push((
                            fe.name.clone(),
                            bl.listener.local_addr(),
                            bl.listener.is_tls(),
                        ));
                    } else {
                        report.listeners_kept += 1;
                    }
                    listeners.push(bl);
                }
            }
            let proxy = Arc::new(
                Proxy::succeed_with(config.clone(), &old, &gwd_reverse::TunnelRegistries)
                    .map_err(StartError::from)?,
            );
            // Dialers: kept when nothing they were built from changed.
            let mut kept_dialers = Vec::new();
            let mut new_dialers = Vec::new();
            let mut unclaimed: Vec<Option<&RunningDialer>> = g.dialers.iter().map(Some).collect();
            for (fi, fe) in config.frontends.iter().enumerate() {
                for bind in &fe.binds {
                    let BindAddr::Reverse(rb) = bind.addr else {
                        continue;
                    };
                    let key = DialerKey::of(&config, FrontendId::new(fi), &rb);
                    match unclaimed
                        .iter()
                        .position(|d| d.is_some_and(|d| d.key == key))
                    {
                        Some(i) => {
                            unclaimed[i] = None;
                            kept_dialers.push(i);
                        }
                        None => new_dialers
                            .push((reverse_dialer(&proxy, FrontendId::new(fi), rb)?, key)),
                    }
                }
            }
            Ok((listeners, claimed, proxy, kept_dialers, new_dialers))
        };
        let prepared = prepare();
        let (listeners, claimed, proxy, kept_dialers, new_dialers) = match prepared {
            Ok(p) => p,
            Err(e) => {
                // The new configuration goes (its matchers with it), then
                // the kept map references get back exactly their uses.
                match Arc::try_unwrap(config) {
                    Ok(config) => pending_maps.undo(config),
                    Err(_) => drop(pending_maps),
                }
                return Err(e.into());
            }
        };
        let kept_set: Vec<bool> = (0..g.dialers.len())
            .map(|i| kept_dialers.contains(&i))
            .collect();

        // The swap. From here a panic would leave the serving state half
        // old, half new (dialers taken, maps rebound, listeners pointing
        // into the replaced configuration): no later reload could be
        // trusted on it, so gwd stops at once instead of going on
        // (`observe_reload` reports only panics before this point).
        let _swap = AbortOnPanic("the configuration swap of a reload");
        let mut dialers: Vec<RunningDialer> = Vec::new();
        let old_dialers = std::mem::take(&mut g.dialers);
        for (i, d) in old_dialers.into_iter().enumerate() {
            if kept_set[i] {
                report.dialers_kept += 1;
                dialers.push(d);
            } else {
                // GOAWAY on its tunnels; their requests finish.
                report.dialers_stopped += 1;
                let _ = d.stop.send(true);
            }
        }
        for (d, key) in new_dialers {
            report.dialers_new += 1;
            dialers.push(self.spawn_dialer(&proxy, d, key));
        }
        let cli = stats_cli(&proxy, dialers.iter().map(|d| d.stats.clone()).collect());
        let cli = self.wire(cli);
        if let Some(endpoints) = HttpStats::of(&cli) {
            let _ = proxy.set_stats_endpoints(endpoints);
        }
        // Backends whose balancer was rebuilt: the old one's requests in
        // flight and queued keep counting against `maxconn`.
        proxy.link_balancers_after(&old);
        self.live.store(proxy.clone());
        old.retire(&self.live);
        pending_maps.commit();
        // Connections still on the old configuration `hard-stop-after`
        // (its own) from now are cut: a long request or a WebSocket does
        // not keep an old configuration alive for ever. The timer holds
        // it weakly: freed sooner when nothing is on it.
        if let Some(limit) = old.config.global.hard_stop_after {
            let weak = Arc::downgrade(&old);
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                if let Some(p) = weak.upgrade() {
                    p.expire();
                }
            });
        }
        self.cli.set(cli);
        // Tunnels the new proxy did not keep (their `rhttp@` server is
        // gone, or the rules that admitted them changed: a revocation)
        // serve no request any more: GOAWAY, so their origins stop
        // holding them and register again under the new rules.
        report.tunnels_closed += gwd_reverse::close_revoked(&old, &proxy);

        let (accept_stop, accept_rx) = watch::channel(false);
        let accept_loops = self.spawn_accept_loops(&proxy, &listeners, &accept_rx);
        // The old loops stop between two accepts; a connection one of them
        // already took is served on the old configuration.
        let _ = g.accept_stop.send(true);
        report.listeners_closed = claimed.iter().filter(|c| !**c).count();
        g.purger.abort();
        *g = Generation {
            listeners,
            accept_stop,
            accept_loops,
            dialers,
            _health: HealthChecks::start(&proxy),
            purger: tokio::spawn(purge_loop(proxy.clone())),
            stopping: false,
        };
        report.took = started.elapsed();
        Ok(report)
    }

    /// `cli` with the process's own commands wired in: `_getsocks` (the
    /// listening sockets, for a binary upgrade) always, `reload` when gwd
    /// was started from a file.
    pub fn wire(&self, cli: gwd_admin::Cli) -> gwd_admin::Cli {
        let me = self.me.clone();
        let cli = cli.with_handover(move || match me.upgrade() {
            Some(shared) => shared.sockets_to_hand_over(),
            None => Vec::new(),
        });
        if self.path.is_none() {
            return cli;
        }
        let me = self.me.clone();
        cli.with_reload(move || match me.upgrade() {
            None => gwd_admin::Reloaded {
                success: false,
                messages: "gwd is stopping\n".into(),
            },
            Some(shared) => reloaded(&shared.reload_waiting()),
        })
    }
}

impl Shared {
    /// Fresh descriptors of every listening socket, tagged for
    /// [`crate::upgrade::Inherited::parse`]: the binds of the generation
    /// in force and the TCP runtime API sockets.
    fn sockets_to_hand_over(&self) -> Vec<(String, std::os::fd::OwnedFd)> {
        let proxy = self.live.load_full();
        let g = self.serving.lock();
        let mut out = Vec::new();
        for l in &g.listeners {
            match l.listener.duplicate_fd() {
                Ok(fd) => out.push((
                    crate::upgrade::bind_tag(
                        l.configured,
                        l.listener.local_addr(),
                        &proxy.config.frontends[l.frontend.index()].name,
                    ),
                    fd,
                )),
                Err(e) => tracing::warn!(error = %e, "cannot duplicate a listening socket"),
            }
        }
        for (tag, fd) in &self.admin_fds {
            match fd.try_clone() {
                Ok(fd) => out.push((tag.clone(), fd)),
                Err(e) => tracing::warn!(error = %e, "cannot duplicate a runtime API socket"),
            }
        }
        out
    }
}

/// What the runtime API answers, and logs the outcome as a signal's
/// reload does.
fn reloaded(r: &Result<ReloadReport, ReloadError>) -> gwd_admin::Reloaded {
    log_reload(r, "runtime API");
    match r {
        Ok(report) => gwd_admin::Reloaded {
            success: true,
            messages: summary(report)
                + "\n"
                + &report
                    .warnings
                    .iter()
                    .map(|w| format!("{w}\n"))
                    .collect::<String>(),
        },
        Err(ReloadError::Config(e)) => gwd_admin::Reloaded {
            success: false,
            messages: format!(
                "{e}\n{} error(s); the running configuration stays in force\n",
                e.error_count()
            ),
        },
        Err(e) => gwd_admin::Reloaded {
            success: false,
            messages: format!("{e}; the running configuration stays in force\n"),
        },
    }
}

/// One line saying what a reload kept and changed.
pub fn summary(r: &ReloadReport) -> String {
    format!(
        "configuration reloaded in {:.1} ms: listeners {} kept, {} new, {} closed; rhttp dialers {} kept, {} new, {} stopped{}",
        r.took.as_secs_f64() * 1000.0,
        r.listeners_kept,
        r.listeners_new,
        r.listeners_closed,
        r.dialers_kept,
        r.dialers_new,
        r.dialers_stopped,
        if r.tunnels_closed > 0 {
            format!(
                "; {} tunnel(s) closed (rhttp@ server removed or registration rules changed)",
                r.tunnels_closed
            )
        } else {
            String::new()
        }
    )
}

/// Logs a reload's outcome on stderr, in the style of gwd's other
/// process lines.
pub fn log_reload(r: &Result<ReloadReport, ReloadError>, cause: &str) {
    match r {
        Ok(report) => {
            for w in &report.warnings {
                say!("{w}");
            }
            for (fe, addr, tls) in &report.new_listeners {
                say!(
                    "gwd: listening frontend={fe} addr={addr}{}",
                    if *tls { " tls" } else { "" }
                );
            }
            say!("gwd: reload ({cause}): {}", summary(report));
        }
        Err(ReloadError::Config(e)) => {
            say!("{e}");
            say!(
                "gwd: reload ({cause}) refused: {} error(s); the running configuration stays in force",
                e.error_count()
            );
        }
        Err(e) => {
            say!("gwd: reload ({cause}) refused: {e}; the running configuration stays in force")
        }
    }
}

/// What a new configuration's `[global]` holds that differs from what the
/// process runs with and only a restart applies: said at every reload
/// until the file and the process agree again.
fn restart_only_changes(running: &gwd_config::Global, new: &gwd_config::Global) -> Vec<String> {
    start_only_changes(running, new)
        .into_iter()
        .map(|key| {
            format!(
                "warning: global.{key} changed; it applies at the next start (the running value stays)"
            )
        })
        .collect()
}

/// The `[global]` keys whose change a reload cannot apply (threads and
/// their event loops, the process-wide connection limit, the runtime API
/// sockets, and what the process did before giving up its privileges),
/// in that order.
///
/// ```
/// let load = |t: &str| gwd_config::parse_str(t, "gw.toml".as_ref()).unwrap().global;
/// let a = load("[global]\nuser = \"nobody\"\n");
/// // The same account written on another line is no change.
/// let b = load("[global]\nhard-stop-after = \"1s\"\nuser = \"nobody\"\n");
/// assert!(gwd_app::start_only_changes(&a, &b).is_empty());
/// let c = load("[global]\nuid = 65534\ngid = 0\npidfile = \"gwd.pid\"\nnbthread = 2\ntune.maxpollevents = 64\n");
/// assert_eq!(
///     gwd_app::start_only_changes(&a, &c),
///     ["nbthread", "tune.maxpollevents", "pidfile", "user", "group"]
/// );
/// ```
pub fn start_only_changes(old: &gwd_config::Global, new: &gwd_config::Global) -> Vec<&'static str> {
    let sockets = |g: &gwd_config::Global| {
        g.stats_sockets
            .iter()
            .map(|s| (s.addr.clone(), s.level, s.mode))
            .collect::<Vec<_>>()
    };
    let id = |a: &Option<gwd_config::Account>| a.as_ref().map(|a| a.id.clone());
    let mut out = Vec::new();
    if old.nbthread != new.nbthread {
        out.push("nbthread");
    }
    if old.max_poll_events != new.max_poll_events {
        out.push("tune.maxpollevents");
    }
    if old.maxconn != new.maxconn {
        out.push("maxconn");
    }
    if sockets(old) != sockets(new) {
        out.push("stats-socket");
    }
    if old.pidfile != new.pidfile {
        out.push("pidfile");
    }
    if id(&old.user) != id(&new.user) {
        out.push("user");
    }
    if id(&old.group) != id(&new.group) {
        out.push("group");
    }
    if old.chroot != new.chroot {
        out.push("chroot");
    }
    out
}

/// Closes idle server connections on each server's purge schedule.
pub(crate) async fn purge_loop(proxy: Arc<Proxy>) {
    loop {
        let now = Instant::now();
        let mut next = now + Duration::from_secs(1);
        for be in &proxy.backends {
            for s in &be.servers {
                let mut pool = s.pool.lock();
                let closed = pool.purge(now);
                if closed > 0 {
                    tracing::debug!(server = %s.conf.name, closed, "purged idle connections");
                }
                if let Some(at) = pool.next_purge_at() {
                    next = next.min(at.max(now + Duration::from_millis(10)));
                }
            }
        }
        tokio::time::sleep_until(next.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The observer's record: "started", then "ok" or the error text.
    fn recording() -> (ReloadObserver, Arc<parking_lot::Mutex<Vec<String>>>) {
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = seen.clone();
        let observer = ReloadObserver(Arc::new(move |e: ReloadEvent<'_>| {
            log.lock().push(match e {
                ReloadEvent::Started => "started".to_owned(),
                ReloadEvent::Finished(Ok(_)) => "ok".to_owned(),
                ReloadEvent::Finished(Err(e)) => e.to_string(),
            });
        }));
        (observer, seen)
    }

    #[test]
    fn a_panicking_reload_is_reported_as_such_and_the_observer_hears_its_end() {
        let (observer, seen) = recording();
        let r = observe_reload(Some(&observer), || panic!("index out of bounds"));
        let Err(ReloadError::Internal(what)) = r else {
            panic!("{r:?}");
        };
        assert_eq!(what, "index out of bounds");
        let seen = seen.lock().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], "started");
        assert!(seen[1].contains("internal error") && seen[1].contains("index out of bounds"));
        assert!(!seen[1].contains("stopping"));
        // A formatted panic message is kept too.
        let r = observe_reload(None, || panic!("reload {} failed", 7));
        assert!(matches!(r, Err(ReloadError::Internal(m)) if m == "reload 7 failed"));
    }

    #[test]
    fn an_ordinary_reload_is_observed_before_and_after() {
        let (observer, seen) = recording();
        assert!(observe_reload(Some(&observer), || Ok(ReloadReport::default())).is_ok());
        let r = observe_reload(Some(&observer), || Err(ReloadError::NoConfigFile));
        assert!(matches!(r, Err(ReloadError::NoConfigFile)));
        let seen = seen.lock().clone();
        assert_eq!(seen[..3], ["started", "ok", "started"]);
        assert!(seen[3].starts_with("reloading is not available"));
    }
}
