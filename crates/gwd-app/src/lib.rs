//! Composition: the one place that knows every part of gwd.
//!
//! Model: [`App::build`] turns a validated [`Config`] into bound listeners
//! (proxy binds and runtime API `stats-socket`s) and the proxy's runtime
//! state, failing before anything serves if a port or a certificate is
//! unusable. The runtime API serves `Config::maps`, the same references the
//! proxy's rules read. One [`gwd_admin::Cli`] ([`App::cli`]) reads every
//! statistics source (counters, server pools, `rhttp@` tunnels, dialer
//! totals, server states) and the server operations of the runtime API
//! (`set server`, `disable server`, `set weight`, ...); the runtime API
//! sockets and the proxy's HTTP endpoints (stats pages,
//! `prometheus-exporter`) share it, so they always agree. Its sources hold
//! the proxy weakly: no reference cycle through the proxy's endpoints.
//! [`App::run`] accepts on every listener, serves each connection in its
//! own task, runs the health checks, purges idle server connections on
//! time, and on the stop signal stops accepting, lets in-flight requests
//! finish (up to `hard-stop-after`) and returns.
//!
//! Depends on every I/O crate below it; nothing depends on it but the
//! `gwd` binary and tests.
//!
//! Embedding gwd in another program:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let toml = r#"
//! [frontend.www]
//! bind = [ { addr = "127.0.0.1:0" } ]
//! http-request = [ { action = "return", status = 200, body = "hi" } ]
//! "#;
//! let cfg = gwd_config::parse_str(toml, "inline.toml".as_ref()).unwrap();
//! let app = gwd_app::App::build(cfg).unwrap();
//! let addr = app.listeners()[0].listener.local_addr();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let run = tokio::spawn(app.run(async { let _ = stopped.await; }));
//!
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
//! s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
//! let mut out = String::new();
//! s.read_to_string(&mut out).await.unwrap();
//! assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("hi"));
//!
//! stop.send(()).unwrap();
//! assert_eq!(run.await.unwrap(), gwd_app::Stopped::Drained);
//! # }
//! ```

/// `eprintln!` for what a running gwd tells its operator: a stderr that
/// is gone (a closed pipe) loses the line instead of panicking the task
/// that wrote it (the signal watcher: SIGTERM would go unheard). The
/// binary writes its own lines with it too.
///
/// ```
/// gwd_app::say!("gwd: {} received", "SIGHUP");
/// ```
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod accept;
mod config_thread;
mod serving;
mod signals;
mod stats;

use accept::{bind_listener, bind_tls};
pub use config_thread::ConfigThread;
pub use signals::{Signals, signals, stop_signals};
use stats::{HttpStats, stats_cli};
pub mod upgrade;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use gwd_admin::{AdminState, ServerError};
use gwd_balance::Admin;
use gwd_config::{Bind, BindAddr, BindProto, Config, Frontend, FrontendId, Verify};
use gwd_http::Proxy;
use gwd_http::backend::admin::ServerOpError;
use gwd_listen::{Handshaker, Listener};
pub use serving::{
    ReloadError, ReloadEvent, ReloadReport, log_reload, start_only_changes,
    summary as reload_summary,
};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// `gwd check`'s TLS part: loads every TLS bind's certificates and keys
/// with the code start and reload use, so a file that would stop gwd
/// from starting (not PEM, key encrypted or not the certificate's) is an
/// error here, and a certificate expired or expiring within 30 days a
/// warning. Each diagnostic points at its bind. Servers' TLS files
/// (`ca-file`, client `crt`/`key`) are loaded as the proxy build loads
/// them.
pub fn check_tls(config: &Config) -> Vec<gwd_config::Diagnostic> {
    use gwd_config::{Diagnostic, Severity};
    let now = gwd_tls::unix_now();
    let mut out = Vec::new();
    for fe in &config.frontends {
        for bind in &fe.binds {
            let Some(t) = &bind.tls else { continue };
            let at = match bind.addr {
                BindAddr::Tcp(a) | BindAddr::Quic(a) => a.to_string(),
                BindAddr::Reverse(_) => "rhttp@".to_owned(),
            };
            let diag = |severity, message: String, help: Option<&str>| Diagnostic {
                severity,
                location: bind.location.clone(),
                key_path: String::new(),
                message: format!("frontend `{}`, bind {at}: {message}", fe.name),
                help: help.map(str::to_owned),
            };
            match gwd_tls::bind_server_config(&accept::tls_settings(t), now) {
                Ok(tls) => out.extend(tls.warnings.iter().map(|w| {
                    diag(
                        Severity::Warning,
                        w.to_string(),
                        Some("renew the certificate; gwd reads it again on reload"),
                    )
                })),
                Err(e) => out.extend(
                    e.each()
                        .into_iter()
                        .map(|e| diag(Severity::Error, e.to_string(), None)),
                ),
            }
        }
    }
    // Servers' CA files and client certificates, read as the proxy
    // build reads them.
    for b in &config.backends {
        for s in b.servers.iter().filter(|s| s.tls.is_some()) {
            if let Err(e) = gwd_http::server_tls(b, s) {
                out.push(Diagnostic {
                    severity: Severity::Error,
                    location: gwd_config::Location {
                        file: config.source.clone(),
                        line: 0,
                        column: 0,
                    },
                    key_path: String::new(),
                    message: e.to_string(),
                    help: None,
                });
            }
        }
    }
    out
}

/// Why gwd could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("frontend `{frontend}`: cannot bind {addr}: {source}")]
    Bind {
        frontend: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("frontend `{frontend}`, bind {addr}: {source}")]
    Tls {
        frontend: String,
        addr: SocketAddr,
        #[source]
        source: gwd_tls::TlsError,
    },
    #[error(transparent)]
    Proxy(#[from] gwd_http::BuildError),
    /// A `stats-socket` (runtime API) could not be opened.
    #[error(transparent)]
    Admin(#[from] gwd_admin::BindError),
    /// An `rhttp@` bind's dialer could not be set up.
    #[error("frontend `{frontend}`, bind rhttp@{backend}/{server}: {source}")]
    Rhttp {
        frontend: String,
        backend: String,
        server: String,
        #[source]
        source: gwd_rhttp::RhttpError,
    },
}

impl StartError {
    pub fn is_bind(&self) -> bool {
        matches!(self, StartError::Bind { .. } | StartError::Admin(_))
    }
}

/// One bound listener.
#[derive(Debug)]
pub struct BoundListener {
    pub frontend: FrontendId,
    pub proto: BindProto,
    /// The bind's `maxconn`.
    pub maxconn: Option<usize>,
    /// The listening socket; a reload that keeps the bind's address keeps
    /// it.
    pub listener: Arc<Listener>,
    /// The address as configured (port 0 before the kernel picked one):
    /// what a reload keeps the socket by.
    pub configured: SocketAddr,
    /// Finishes its connections (this configuration's TLS settings).
    pub handshaker: Handshaker,
}

/// One `rhttp@<backend>/<server>` bind: a dialer keeping `nbconn` tunnels
/// to the gateway that server names.
#[derive(Debug)]
pub struct ReverseDialer {
    pub frontend: FrontendId,
    /// `<backend>/<server>` as written.
    pub target: String,
    /// The bind's settings.
    pub bind: gwd_config::ReverseBind,
    pub dialer: gwd_rhttp::Dialer,
}

/// A ready-to-run gwd.
#[derive(Debug)]
pub struct App {
    proxy: Arc<Proxy>,
    listeners: Vec<BoundListener>,
    dialers: Vec<ReverseDialer>,
    admin: Vec<gwd_admin::AdminListener>,
    cli: gwd_admin::Cli,
    /// At most this many visitor connections at once (HAProxy's derived
    /// `maxconn`); `None`: no limit.
    max_conns: Option<usize>,
    /// The file a reload reads again; `None`: no reload.
    config_path: Option<PathBuf>,
    /// Each change is a reload request (SIGHUP).
    reloads: Option<watch::Receiver<u64>>,
    /// Told of each reload.
    observer: Option<serving::ReloadObserver>,
    /// Where reloads run (see [`App::reload_on`]).
    config_thread: Option<ConfigThread>,
}

/// Descriptors kept for what is not a visitor connection: listeners, the
/// runtime API, the reactor, logs, tunnels being dialed.
pub const RESERVED_DESCRIPTORS: u64 = 32;

/// The visitor connections a process with `nofile` descriptors can serve
/// (HAProxy derives its `maxconn` the same way): each may need one more
/// descriptor for its server connection, which stays open in the pool
/// after it.
///
/// ```
/// assert_eq!(gwd_app::max_conns_for(1024), 496);
/// assert_eq!(gwd_app::max_conns_for(16), 1);
/// ```
pub fn max_conns_for(nofile: u64) -> usize {
    usize::try_from(nofile.saturating_sub(RESERVED_DESCRIPTORS) / 2)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// How [`App::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished within `hard-stop-after`.
    Drained,
    /// `hard-stop-after` passed with connections still open; they were cut.
    HardStop { remaining: usize },
}

impl App {
    /// Binds every listener and builds the proxy. Must run inside a Tokio
    /// runtime (listeners register with its reactor).
    pub fn build(config: Config) -> Result<App, StartError> {
        Self::build_inheriting(config, &mut upgrade::Inherited::default())
    }

    /// As [`build`](Self::build), taking over the sockets a running gwd
    /// handed over ([`upgrade::Inherited`]) instead of binding their
    /// addresses again; binds with no such socket are bound as usual.
    pub fn build_inheriting(
        config: Config,
        inherited: &mut upgrade::Inherited,
    ) -> Result<App, StartError> {
        let config = Arc::new(config);
        let proxy = Arc::new(Proxy::with_named(
            config.clone(),
            &gwd_reverse::TunnelRegistries,
        )?);
        let mut listeners = Vec::new();
        let mut dialers = Vec::new();
        for (fi, fe) in config.frontends.iter().enumerate() {
            for bind in &fe.binds {
                let addr = match bind.addr {
                    BindAddr::Tcp(addr) => addr,
                    BindAddr::Reverse(rb) => {
                        dialers.push(reverse_dialer(&proxy, FrontendId::new(fi), rb)?);
                        continue;
                    }
                    // QUIC binds only reach here under `limited-quic`,
                    // where the config already warned they are skipped.
                    BindAddr::Quic(_) => continue,
                };
                let taken = match inherited.take_bind(&fe.name, addr) {
                    None => None,
                    Some(std) => {
                        let tls = bind_tls(fe, bind, addr)?;
                        Some(Arc::new(Listener::from_std(std, tls).map_err(
                            |source| StartError::Bind {
                                frontend: fe.name.clone(),
                                addr,
                                source,
                            },
                        )?))
                    }
                };
                listeners.push(bind_listener(fi, fe, bind, addr, taken)?);
            }
        }
        // The runtime API: its sockets serve the registry whose references
        // the proxy's rules read, so a change is seen by the next request.
        let admin = config
            .global
            .stats_sockets
            .iter()
            .map(|e| {
                let taken = match &e.addr {
                    gwd_config::StatsAddr::Tcp(a) => inherited.take_stats(*a),
                    gwd_config::StatsAddr::Unix(_) => None,
                };
                gwd_admin::AdminListener::bind_or_take(e, taken)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dialer_stats: Vec<_> = dialers.iter().map(|d| d.dialer.stats()).collect();
        let cli = stats_cli(&proxy, dialer_stats);
        // A freshly built proxy has no endpoints yet: this cannot fail.
        if let Some(endpoints) = HttpStats::of(&cli) {
            let _ = proxy.set_stats_endpoints(endpoints);
        }
        Ok(App {
            proxy,
            listeners,
            dialers,
            admin,
            cli,
            max_conns: None,
            config_path: None,
            reloads: None,
            observer: None,
            config_thread: None,
        })
    }

    /// Calls `observe` when a reload starts and when it ends (for a
    /// service manager: systemd's RELOADING=1, then READY=1).
    pub fn on_reload(&mut self, observe: impl Fn(ReloadEvent<'_>) + Send + Sync + 'static) {
        self.observer = Some(serving::ReloadObserver(Arc::new(observe)));
    }

    /// Makes reloading possible: `reload` on the runtime API (level
    /// admin), and each change of `reloads` (see [`signals`]), reads
    /// `path` again and puts it in force when valid.
    pub fn reload_from(&mut self, path: PathBuf, reloads: Option<watch::Receiver<u64>>) {
        self.config_path = Some(path);
        self.reloads = reloads;
    }

    /// Runs reloads on `thread`: give it the [`ConfigThread`] the
    /// starting configuration was loaded and built on, so every
    /// configuration is built in the same allocator heap (without it,
    /// reloads get a thread of their own).
    pub fn reload_on(&mut self, thread: ConfigThread) {
        self.config_thread = Some(thread);
    }

    /// Serves at most `n` visitor connections at once: past it, listeners
    /// stop accepting (the kernel queues new connections) until one
    /// closes, so the connections already served keep descriptors for
    /// their server connections. See [`max_conns_for`].
    pub fn set_max_conns(&mut self, n: usize) {
        self.max_conns = Some(n.max(1));
    }

    /// What the runtime API sockets and the HTTP statistics endpoints
    /// serve: maps, counters, pools, tunnels and tunnel totals.
    pub fn cli(&self) -> &gwd_admin::Cli {
        &self.cli
    }

    /// The `rhttp@` binds' dialers, in config order.
    pub fn dialers(&self) -> &[ReverseDialer] {
        &self.dialers
    }

    /// Puts the Unix runtime API sockets at their paths (until then they
    /// listen under names of their own, so a start that fails leaves
    /// another gwd's socket in place). [`run`](Self::run) does it too;
    /// call it before saying "ready".
    pub fn publish_admin_sockets(&self) -> Result<(), gwd_admin::BindError> {
        self.admin
            .iter()
            .try_for_each(gwd_admin::AdminListener::publish)
    }

    /// The bound runtime API sockets (`stats-socket`), in config order.
    pub fn admin_listeners(&self) -> &[gwd_admin::AdminListener] {
        &self.admin
    }

    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    pub fn listeners(&self) -> &[BoundListener] {
        &self.listeners
    }

    /// Serves until `stop` resolves, then drains.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Stopped {
        self.run_with(stop, std::future::pending()).await
    }

    /// As [`run`](Self::run), and `hard` (a second stop signal) ends the
    /// drain at once, as `hard-stop-after` would.
    pub async fn run_with(
        self,
        stop: impl Future<Output = ()>,
        hard: impl Future<Output = ()>,
    ) -> Stopped {
        let App {
            proxy,
            listeners,
            dialers,
            admin,
            cli,
            max_conns,
            config_path,
            reloads,
            observer,
            config_thread,
        } = self;
        let (tx, rx) = watch::channel(false);
        let conn_stop = gwd_http::StopSignal::new();
        let tracker = TaskTracker::new();
        let (tunnels_tx, tunnels_rx) = watch::channel(false);
        let tunnel_tracker = TaskTracker::new();
        // One budget of visitor connections for every listener: the
        // file-descriptor budget, and `global.maxconn` when lower.
        let process_limit = match (max_conns, proxy.config.global.maxconn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The TCP runtime API sockets, for a binary upgrade.
        let admin_fds = admin
            .iter()
            .zip(&proxy.config.global.stats_sockets)
            .filter_map(|(l, e)| match e.addr {
                gwd_config::StatsAddr::Tcp(a) => {
                    Some((upgrade::stats_tag(a), l.duplicate_tcp_fd()?.ok()?))
                }
                gwd_config::StatsAddr::Unix(_) => None,
            })
            .collect();
        let live = Arc::new(arc_swap::ArcSwap::new(proxy.clone()));
        let shared = Arc::new_cyclic(|me| serving::Shared {
            live: live.clone(),
            cli: gwd_admin::LiveCli::from(cli.clone()),
            tracker: tracker.clone(),
            shutdown: rx.clone(),
            conn_stop: conn_stop.clone(),
            tunnel_tracker: tunnel_tracker.clone(),
            tunnel_shutdown: tunnels_rx,
            process_slots: process_limit.map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
            path: config_path.clone(),
            started_with: proxy.config.global.clone(),
            serving: parking_lot::Mutex::new(serving::Generation::empty()),
            me: me.clone(),
            admin_fds,
            observer,
            slots: parking_lot::Mutex::new(std::collections::HashMap::new()),
            reload_thread: parking_lot::Mutex::new(None),
        });
        if config_path.is_some() {
            shared.start_reload_thread(config_thread);
        }
        // The first generation starts where reloads will start theirs, so
        // its tasks and the runtime API's wiring share their heap too.
        let start = {
            let shared = shared.clone();
            move || {
                shared.cli.set(shared.wire(cli));
                shared.start(&proxy, listeners, dialers);
                // From here the live slot holds it: a reload frees it.
                drop(proxy);
            }
        };
        match shared.config_thread() {
            Some((thread, runtime)) => {
                thread
                    .run_async(move || {
                        let _runtime = runtime.enter();
                        start()
                    })
                    .await
            }
            None => start(),
        }
        // Reload requests (SIGHUP): one at a time, each reading the file
        // anew; requests that pile up during one make one more.
        let reloader = reloads.map(|mut reloads| {
            let weak = Arc::downgrade(&shared);
            tokio::spawn(async move {
                while reloads.changed().await.is_ok() {
                    let Some(shared) = weak.upgrade() else { break };
                    // Files read and sockets bound off the runtime's
                    // workers: traffic goes on during a reload.
                    let r = shared.reload_async().await;
                    log_reload(&r, "signal");
                }
            })
        });
        let mut admin_loops = Vec::new();
        for l in admin {
            let mut rx_admin = rx.clone();
            admin_loops.push(tokio::spawn(l.serve(shared.cli.clone(), async move {
                let _ = rx_admin.wait_for(|s| *s).await;
            })));
        }

        stop.await;
        let _ = tx.send(true);
        conn_stop.stop();
        if let Some(r) = reloader {
            r.abort();
        }
        let listeners = shared.stop_accepting().await;
        for l in admin_loops {
            let _ = l.await;
        }
        // The accept loops held the only other references: this closes
        // every listening socket, so new connections are refused from here.
        drop(listeners);
        tracing::info!(
            connections = tracker.len(),
            tunnels = tunnel_tracker.len(),
            "stopping: no new connections; finishing requests in progress"
        );
        tracker.close();
        tunnel_tracker.close();
        let current = live.load_full();
        // Visitors first; the tunnels they may still need get GOAWAY
        // once they are done (a gateway handing over to a new process:
        // origins re-dial it only then, make-before-break).
        let both = async {
            tracker.wait().await;
            let _ = tunnels_tx.send(true);
            tunnel_tracker.wait().await;
        };
        let drained = async {
            match current.config.global.hard_stop_after {
                None => {
                    both.await;
                    true
                }
                Some(limit) => tokio::time::timeout(limit, both).await.is_ok(),
            }
        };
        let drained = tokio::select! {
            d = drained => d,
            () = hard => false,
        };
        let outcome = if drained {
            Stopped::Drained
        } else {
            // What is still open is dropped with the runtime: logged as
            // killed by gwd, not left by its clients.
            current.hard_stop();
            Stopped::HardStop {
                remaining: tracker.len() + tunnel_tracker.len(),
            }
        };
        shared.stop_background();
        outcome
    }
}

/// Builds the dialer of an `rhttp@<backend>/<server>` bind
/// ([`gwd_reverse::dialer`]: the server's address and TLS settings).
fn reverse_dialer(
    proxy: &Proxy,
    frontend: FrontendId,
    rb: gwd_config::ReverseBind,
) -> Result<ReverseDialer, StartError> {
    let fe = &proxy.config.frontends[frontend.index()];
    // (A loaded config has every `rhttp@` bind's server resolved.)
    let (backend, server) = rb
        .server
        .map(|at| {
            let be = proxy.backend(at.backend);
            let server = be.server(at.server);
            (be.conf.name.clone(), server.conf.name.clone())
        })
        .unwrap_or_default();
    let target = format!("{backend}/{server}");
    let err = |source| StartError::Rhttp {
        frontend: fe.name.clone(),
        backend,
        server,
        source,
    };
    let dialer = gwd_reverse::dialer(proxy, &rb).map_err(err)?;
    Ok(ReverseDialer {
        frontend,
        target,
        bind: rb,
        dialer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cipher_name_the_config_accepts_is_one_gwd_tls_offers() {
        let offered = gwd_tls::supported_suite_names();
        for name in gwd_config::known_tls_suites() {
            assert!(offered.contains(&name), "{name} not in {offered:?}");
        }
    }
    use gwd_config::AdminLevel;

    const CONFIG: &str = r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
default_backend = "app"

[backend.app]
balance = "leastconn"
server = [
  { name = "a", addr = "127.0.0.1:1", weight = 3 },
  { name = "b", addr = "127.0.0.1:2", check = true, port = 9002 },
]

[backend.fixed]
balance = "static-rr"
server = [ { name = "s", addr = "127.0.0.1:3", weight = 2 } ]
"#;

    fn admin(app: &App, line: &str) -> String {
        app.cli().session(AdminLevel::Operator).feed_line(line)
    }

    fn stat(app: &App, row: &str, column: &str) -> String {
        let csv = admin(app, "show stat");
        let i = csv
            .lines()
            .next()
            .and_then(|h| {
                h.trim_start_matches("# ")
                    .split(',')
                    .position(|c| c == column)
            })
            .unwrap();
        csv.lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no {row} in {csv}"))
            .split(',')
            .nth(i)
            .unwrap()
            .to_owned()
    }

    /// Given a configuration thread, the first generation's wiring and
    /// every reload run on it, so every configuration is built in one
    /// allocator heap (issue 13's memory target).
    #[tokio::test(flavor = "current_thread")]
    async fn reloads_run_on_the_thread_given() {
        let dir = std::env::temp_dir().join(format!("gwd-app-thread-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.toml");
        std::fs::write(
            &path,
            "[frontend.www]\nbind = [ { addr = \"127.0.0.1:0\" } ]\n\
             http-request = [ { action = \"return\", status = 200, body = \"v\" } ]\n",
        )
        .unwrap();
        // Never idle long enough to end: the reloads must find the thread
        // whose id was taken (a slow build would otherwise outlast it).
        let thread = ConfigThread::start_idling(Duration::from_secs(3600)).unwrap();
        let config_thread_id = thread.run(|| std::thread::current().id());
        let mut app = App::build(gwd_config::load(&path).unwrap()).unwrap();
        let (tx, rx) = watch::channel(0u64);
        app.reload_from(path.clone(), Some(rx));
        app.reload_on(thread);
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        app.on_reload(move |event| {
            if let ReloadEvent::Finished(r) = event {
                let _ = seen_tx.send((std::thread::current().id(), r.is_ok()));
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        for v in 1..=3u64 {
            tx.send_replace(v);
            let (on, ok) = tokio::time::timeout(Duration::from_secs(5), seen.recv())
                .await
                .expect("a reload within 5 s")
                .unwrap();
            assert!(ok, "reload {v} failed");
            assert_eq!(on, config_thread_id, "reload {v} ran elsewhere");
        }
        stop.send(()).unwrap();
        assert_eq!(run.await.unwrap(), Stopped::Drained);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reload frees the configuration it replaced once nothing uses it
    /// (no leak of old states across many reloads), and keeps the socket.
    #[tokio::test]
    async fn reloads_free_the_states_they_replace() {
        let dir = std::env::temp_dir().join(format!("gwd-app-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.toml");
        let body = |v: u32| {
            format!(
                "[frontend.www]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\n\
                 http-request = [ {{ action = \"return\", status = 200, body = \"v{v}\" }} ]\n"
            )
        };
        std::fs::write(&path, body(0)).unwrap();
        let mut app = App::build(gwd_config::load(&path).unwrap()).unwrap();
        let addr = app.listeners()[0].listener.local_addr();
        let first = Arc::downgrade(app.proxy());
        let (tx, rx) = watch::channel(0u64);
        app.reload_from(path.clone(), Some(rx));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        let get = || async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get().await.ends_with("v0"));
        // A keep-alive connection accepted on the first configuration,
        // which moves on with its requests and stays open throughout.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
        async fn ask(s: &mut tokio::net::TcpStream) -> String {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed");
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(h) = text.find("\r\n\r\n") {
                    let len: usize = text[..h]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if buf.len() >= h + 4 + len {
                        return text;
                    }
                }
            }
        }
        assert!(ask(&mut kept).await.ends_with("v0"));
        for v in 1..=20 {
            std::fs::write(&path, body(v)).unwrap();
            tx.send_replace(v.into());
            // The same socket answers with the new body (bounded wait).
            let deadline = Instant::now() + Duration::from_secs(5);
            while !get().await.ends_with(&format!("v{v}")) {
                assert!(Instant::now() < deadline, "reload {v} never applied");
                tokio::task::yield_now().await;
            }
        }
        // The kept connection's next request runs on the last one.
        assert!(ask(&mut kept).await.ends_with("v20"));
        // Bounded wait: the old accept loops end at their next poll; the
        // kept connection (still open) holds only the configuration it is on.
        let deadline = Instant::now() + Duration::from_secs(5);
        while first.upgrade().is_some() {
            assert!(Instant::now() < deadline, "the first proxy is still alive");
            tokio::task::yield_now().await;
        }
        drop(kept);
        stop.send(()).unwrap();
        assert_eq!(run.await.unwrap(), Stopped::Drained);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The runtime API's server commands reach the proxy's servers, and
    /// `show stat` / `show servers state` report what they did.
    #[tokio::test]
    async fn server_commands_drive_the_proxy() {
        let cfg = gwd_config::parse_str(CONFIG, "inline.toml".as_ref()).unwrap();
        let app = App::build(cfg).unwrap();
        assert_eq!(stat(&app, "app,a,", "status"), "no check");
        // Checked servers start UP, one failure from DOWN (HAProxy's
        // start), before their first check.
        assert_eq!(stat(&app, "app,b,", "status"), "UP 1/3");
        assert_eq!(stat(&app, "app,b,", "check_status"), "INI");
        assert_eq!(stat(&app, "app,BACKEND,", "algo"), "leastconn");
        assert_eq!(stat(&app, "app,BACKEND,", "act"), "2");

        assert_eq!(admin(&app, "get weight app/a"), "3 (initial 3)\n\n");
        assert_eq!(admin(&app, "set weight app/a 50%"), "\n");
        assert_eq!(admin(&app, "get weight app/a"), "1 (initial 3)\n\n");
        assert_eq!(stat(&app, "app,a,", "weight"), "1");
        assert_eq!(
            admin(&app, "set weight fixed/s 1"),
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"
        );

        assert_eq!(admin(&app, "set server app/a state drain"), "\n");
        assert_eq!(stat(&app, "app,a,", "status"), "DRAIN");
        assert_eq!(admin(&app, "disable server app/a"), "\n");
        assert_eq!(stat(&app, "app,a,", "status"), "MAINT");
        assert_eq!(
            admin(&app, "set server app/a health down"),
            "Health checks are not configured on this server, cannot set the health state.\n\n"
        );
        assert_eq!(admin(&app, "set server app/b health down"), "\n");
        assert_eq!(stat(&app, "app,b,", "status"), "DOWN");
        assert_eq!(stat(&app, "app,b,", "chkdown"), "1");
        assert_eq!(stat(&app, "app,BACKEND,", "status"), "DOWN");

        let state = admin(&app, "show servers state app");
        let lines: Vec<&str> = state.lines().collect();
        assert_eq!(lines[0], "1");
        assert!(lines[1].starts_with("# be_id be_name srv_id srv_name "));
        let fields = |l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let a = fields(lines[2]);
        assert_eq!(
            a[..9],
            ["1", "app", "1", "a", "127.0.0.1", "0", "1", "1", "3"]
        );
        let b = fields(lines[3]);
        // Stopped, ready, checks configured and enabled, check port 9002.
        assert_eq!((b[5].as_str(), b[6].as_str()), ("0", "0"));
        assert_eq!((b[12].as_str(), b[13].as_str()), ("0", "6"));
        assert_eq!(b[21], "9002");
        assert_eq!(lines.len(), 5, "{state}");

        assert_eq!(admin(&app, "enable server app/a"), "\n");
        assert_eq!(stat(&app, "app,a,", "status"), "no check");
        assert_eq!(stat(&app, "app,BACKEND,", "status"), "UP");
        assert_eq!(admin(&app, "set weight app/nope 1"), "No such server.\n\n");
        assert_eq!(admin(&app, "get weight nope/a"), "No such backend.\n\n");
        assert_eq!(
            admin(&app, "show servers state nope"),
            "Can't find backend.\n\n"
        );
        assert_eq!(
            app.cli()
                .session(AdminLevel::User)
                .feed_line("disable server app/a"),
            "Permission denied\n\n"
        );
    }
}
