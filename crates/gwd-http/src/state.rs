//! The proxy's runtime state, built once from a validated config and
//! shared (behind `Arc`) by every connection task.
//!
//! Invariants: indexes in rules (`UseBackend::backend`, server positions)
//! are the config's indexes, so no name lookup happens per request; the
//! only mutable parts are atomics (counters, the balancers' cursors and
//! in-flight counts), the balancers' snapshots (swapped on state
//! changes), and the per-server connection pools and status records, each
//! behind its own short-held lock.

use std::sync::{Arc, OnceLock};

use gwd_config::{Backend, Config, Frontend, Server, ServerProto, Verify};
use gwd_stats::{ProxyCounters, Registry, ServerCounters};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;

use crate::backend::balancer_for;
use crate::backend::health::CheckTarget;
use crate::backend::passive::Passive;
use crate::backend::queue::Lb;
use crate::backend::status::ServerStatus;
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
    /// Backend names to indexes, for dynamic `use_backend` rules.
    backend_names: std::collections::HashMap<String, usize>,
    /// `hard-stop-after` passed: what is cut from here on was killed by
    /// gwd, not left by its client.
    hard_stopped: std::sync::atomic::AtomicBool,
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
    /// `rhttp@` servers: the tunnels registered for this server, by name.
    /// Ordinary servers: `None`.
    pub tunnels: Option<gwd_rhttp::TunnelRegistry>,
    /// Health counter, check results and state history, for stats.
    pub status: ServerStatus,
    /// `check = true`: where and how its checks connect.
    pub check_target: Option<CheckTarget>,
    /// `observe`: passive checks.
    pub passive: Option<Passive>,
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

    /// Whether [`hard_stop`](Self::hard_stop) was called.
    pub fn is_hard_stopped(&self) -> bool {
        self.hard_stopped.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new(config: Arc<Config>) -> Result<Proxy, BuildError> {
        // One epoch for every counter: rates of all rows count the same seconds.
        let epoch = std::time::Instant::now();
        let mut stats = Registry::with_epoch(epoch);
        let frontends = config
            .frontends
            .iter()
            .map(|f| FrontendRt {
                counters: stats.add_frontend(f.name.clone()),
                forwardfor: ff_header(&f.forwardfor),
                conf: f.clone(),
            })
            .collect();
        let mut backends = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let (bidx, counters) = stats.add_backend(b.name.clone());
            let mut servers = Vec::with_capacity(b.servers.len());
            for s in &b.servers {
                let tls = match &s.tls {
                    None => None,
                    Some(t) => {
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
                        let sn = ServerName::try_from(name.clone()).map_err(|_| {
                            BuildError::ServerName {
                                backend: b.name.clone(),
                                server: s.name.clone(),
                                name,
                            }
                        })?;
                        Some((cfg, sn))
                    }
                };
                let check_target = CheckTarget::of(s, b)?;
                servers.push(ServerRt {
                    status: ServerStatus::new(s.check.as_ref().map(|c| c.health), epoch),
                    check_target,
                    passive: s.check.as_ref().and_then(|c| c.observe).map(Passive::new),
                    counters: stats
                        .add_server(bidx, s.name.clone())
                        .expect("the backend was just registered"),
                    tls,
                    pool: Arc::new(Mutex::new(ServerPool::new(&s.pool, b.http_reuse))),
                    tunnels: s.reverse().map(|_| gwd_rhttp::TunnelRegistry::new()),
                    conf: s.clone(),
                });
            }
            backends.push(BackendRt {
                counters,
                forwardfor: ff_header(&b.forwardfor),
                servers,
                lb: Lb::new(balancer_for(b)),
                conf: b.clone(),
            });
        }
        let backend_names = config
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.clone(), i))
            .collect();
        Ok(Proxy {
            config,
            frontends,
            backends,
            stats,
            process_conns: Arc::new(ProxyCounters::new()),
            stats_endpoints: OnceLock::new(),
            backend_names,
            hard_stopped: std::sync::atomic::AtomicBool::new(false),
        })
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

impl Proxy {
    /// The index of the backend named `name` (dynamic `use_backend`).
    pub fn backend_index(&self, name: &str) -> Option<usize> {
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
        fe: 0,
        peer: "127.0.0.1:1".parse().expect("an address"),
        local: "127.0.0.1:2".parse().expect("an address"),
        tls: None,
        shared: crate::conn_io::ConnShared::new(),
    })
}
