//! Composition: the one place that knows every part of gwd.
//!
//! Model: [`App::build`] turns a validated [`Config`] into bound listeners
//! (proxy binds and runtime API `stats-socket`s) and the proxy's runtime
//! state, failing before anything serves if a port or a certificate is
//! unusable. The runtime API serves `Config::maps`, the same references the
//! proxy's rules read. [`App::run`] accepts on every listener,
//! serves each connection in its own task, purges idle server connections
//! on time, and on the stop signal stops accepting, lets in-flight requests
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

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gwd_config::{BindAddr, BindProto, Config, Verify};
use gwd_http::Proxy;
use gwd_listen::Listener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

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
    pub frontend: usize,
    pub proto: BindProto,
    pub listener: Arc<Listener>,
}

/// One `rhttp@<backend>/<server>` bind: a dialer keeping `nbconn` tunnels
/// to the gateway that server names.
#[derive(Debug)]
pub struct ReverseDialer {
    pub frontend: usize,
    /// `<backend>/<server>` as written.
    pub target: String,
    pub dialer: gwd_rhttp::Dialer,
}

/// A ready-to-run gwd.
#[derive(Debug)]
pub struct App {
    proxy: Arc<Proxy>,
    listeners: Vec<BoundListener>,
    dialers: Vec<ReverseDialer>,
    admin: Vec<gwd_admin::AdminListener>,
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
        let config = Arc::new(config);
        let proxy = Arc::new(Proxy::new(config.clone())?);
        let mut listeners = Vec::new();
        let mut dialers = Vec::new();
        for (fi, fe) in config.frontends.iter().enumerate() {
            for bind in &fe.binds {
                let addr = match bind.addr {
                    BindAddr::Tcp(addr) => addr,
                    BindAddr::Reverse(rb) => {
                        dialers.push(reverse_dialer(&proxy, fi, rb)?);
                        continue;
                    }
                    // QUIC binds only reach here under `limited-quic`,
                    // where the config already warned they are skipped.
                    BindAddr::Quic(_) => continue,
                };
                let tls = match &bind.tls {
                    None => None,
                    Some(t) => Some(
                        gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
                            cert: t.cert.clone(),
                            key: Some(t.key.clone()),
                            alpn: t.alpn.clone(),
                            verify: match t.verify {
                                Verify::None => gwd_tls::PeerVerify::None,
                                Verify::Optional => gwd_tls::PeerVerify::Optional,
                                Verify::Required => gwd_tls::PeerVerify::Required,
                            },
                            ca: t.ca.clone(),
                        })
                        .map_err(|source| StartError::Tls {
                            frontend: fe.name.clone(),
                            addr,
                            source,
                        })?,
                    ),
                };
                let listener = Listener::bind(addr, tls).map_err(|source| StartError::Bind {
                    frontend: fe.name.clone(),
                    addr,
                    source,
                })?;
                listeners.push(BoundListener {
                    frontend: fi,
                    proto: bind.proto,
                    listener: Arc::new(listener),
                });
            }
        }
        // The runtime API: its sockets serve the registry whose references
        // the proxy's rules read, so a change is seen by the next request.
        let admin = config
            .global
            .stats_sockets
            .iter()
            .map(gwd_admin::AdminListener::bind)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(App {
            proxy,
            listeners,
            dialers,
            admin,
        })
    }

    /// The `rhttp@` binds' dialers, in config order.
    pub fn dialers(&self) -> &[ReverseDialer] {
        &self.dialers
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
        let (tx, rx) = watch::channel(false);
        let tracker = TaskTracker::new();
        let mut accept_loops = Vec::new();
        for bl in &self.listeners {
            let proxy = self.proxy.clone();
            let listener = bl.listener.clone();
            let handshaker = listener.handshaker();
            let fe = bl.frontend;
            let proto = bl.proto;
            let registration = self.proxy.config.frontends[fe].is_registration();
            let tracker = tracker.clone();
            let mut rx_accept = rx.clone();
            let rx_conn = rx.clone();
            accept_loops.push(tokio::spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        r = listener.accept() => r,
                        _ = async { let _ = rx_accept.wait_for(|s| *s).await; } => break,
                    };
                    match accepted {
                        Ok((tcp, peer)) if registration => {
                            tracker.spawn(gwd_http::serve_registration(
                                proxy.clone(),
                                fe,
                                handshaker.clone(),
                                proto,
                                tcp,
                                peer,
                                rx_conn.clone(),
                            ));
                        }
                        Ok((tcp, peer)) => {
                            tracker.spawn(gwd_http::serve_connection(
                                proxy.clone(),
                                fe,
                                handshaker.clone(),
                                proto,
                                tcp,
                                peer,
                                rx_conn.clone(),
                            ));
                        }
                        Err(e) => {
                            // EMFILE and friends: back off instead of
                            // spinning; the listener stays up.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        // Origin side: each rhttp@ bind keeps its tunnels up until the
        // stop, then sends GOAWAY and drains them (tracked like any
        // connection, so `hard-stop-after` bounds it).
        for d in self.dialers {
            let service = gwd_http::OriginService::new(self.proxy.clone(), d.frontend);
            let mut rx_dial = rx.clone();
            tracker.spawn(async move {
                let stop = async move {
                    let _ = rx_dial.wait_for(|s| *s).await;
                };
                if let Err(e) = d.dialer.run(service, stop).await {
                    tracing::error!(target = %d.target, error = %e, "rhttp dialer ended");
                }
            });
        }
        let purger = tokio::spawn(purge_loop(self.proxy.clone()));
        let stats_proxy = self.proxy.clone();
        let nbthread = self.proxy.config.global.nbthread.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let cli = gwd_admin::Cli::new(self.proxy.config.maps.clone()).with_stats(
            gwd_admin::StatsSource::new(
                move || stats_proxy.stats.snapshot(),
                gwd_admin::StatsIds::from_config(&self.proxy.config),
                gwd_admin::ProcessInfo::current(
                    "gwd",
                    env!("CARGO_PKG_VERSION"),
                    nbthread,
                    std::time::Instant::now(),
                ),
            ),
        );
        let mut admin_loops = Vec::new();
        for l in self.admin {
            let mut rx_admin = rx.clone();
            admin_loops.push(tokio::spawn(l.serve(cli.clone(), async move {
                let _ = rx_admin.wait_for(|s| *s).await;
            })));
        }

        stop.await;
        let _ = tx.send(true);
        for l in accept_loops.into_iter().chain(admin_loops) {
            let _ = l.await;
        }
        // The accept loops held the only other references: this closes
        // every listening socket, so new connections are refused from here.
        drop(self.listeners);
        tracing::info!(
            connections = tracker.len(),
            "stopping: no new connections; finishing requests in progress"
        );
        tracker.close();
        let outcome = match self.proxy.config.global.hard_stop_after {
            None => {
                tracker.wait().await;
                Stopped::Drained
            }
            Some(limit) => match tokio::time::timeout(limit, tracker.wait()).await {
                Ok(()) => Stopped::Drained,
                Err(_) => Stopped::HardStop {
                    remaining: tracker.len(),
                },
            },
        };
        purger.abort();
        outcome
    }
}

/// Builds the dialer of an `rhttp@<backend>/<server>` bind from the
/// server's address and TLS settings (client certificate, CA, SNI).
fn reverse_dialer(
    proxy: &Proxy,
    frontend: usize,
    rb: gwd_config::ReverseBind,
) -> Result<ReverseDialer, StartError> {
    let fe = &proxy.config.frontends[frontend];
    let be = &proxy.backends[rb.backend];
    let server = &be.servers[rb.server];
    let target = format!("{}/{}", be.conf.name, server.conf.name);
    let err = |source| StartError::Rhttp {
        frontend: fe.name.clone(),
        backend: be.conf.name.clone(),
        server: server.conf.name.clone(),
        source,
    };
    let (Some(addr), Some((tls, server_name))) = (server.conf.net_addr(), server.tls.clone())
    else {
        // The config refuses such binds; keep the error rather than panic.
        return Err(err(gwd_rhttp::RhttpError::Config(
            "the server needs an address and `ssl = true`".into(),
        )));
    };
    let gateway = if addr.host.contains(':') {
        format!("[{}]:{}", addr.host, addr.port)
    } else {
        format!("{}:{}", addr.host, addr.port)
    };
    let mut cfg = gwd_rhttp::DialerConfig::new(gateway, server_name, tls);
    cfg.nbconn = rb.nbconn;
    cfg.idle_ping = rb.idle_ping;
    if let Some(t) = be.conf.timeouts.connect {
        cfg.connect_timeout = t;
        cfg.handshake_timeout = t;
    }
    if let Some(t) = proxy.config.global.hard_stop_after {
        cfg.drain_timeout = t;
    }
    let dialer = gwd_rhttp::Dialer::new(cfg).map_err(err)?;
    Ok(ReverseDialer {
        frontend,
        target,
        dialer,
    })
}

/// Closes idle server connections on each server's purge schedule.
async fn purge_loop(proxy: Arc<Proxy>) {
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

/// Resolves on SIGTERM or SIGINT.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
