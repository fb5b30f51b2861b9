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

/// A ready-to-run gwd.
#[derive(Debug)]
pub struct App {
    proxy: Arc<Proxy>,
    listeners: Vec<BoundListener>,
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
        for (fi, fe) in config.frontends.iter().enumerate() {
            for bind in &fe.binds {
                let BindAddr::Tcp(addr) = bind.addr else {
                    // QUIC binds only reach here under `limited-quic`,
                    // where the config already warned they are skipped.
                    continue;
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
            admin,
        })
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
