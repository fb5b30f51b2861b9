//! The gateway's tunnel registry: name -> tunnels, least-busy choice,
//! bounded waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tokio::sync::Notify;

use crate::error::RegistryError;
use crate::gateway::{HeadSendFailed, SendFailed, StreamSlot, Tunnel};
use gwd_h2_conn::{BoxError, IncomingBody};
use gwd_head::{RequestHead, ResponseHead};
use gwd_mux_h2::conn::Protocol;

#[derive(Debug, Default)]
struct Inner {
    by_name: Mutex<Names>,
    /// Woken on registration, removal and freed stream slots.
    changed: Arc<Notify>,
    stats: Counters,
    /// Rotates the order in which equally busy tunnels are tried.
    turn: AtomicUsize,
}

/// The tunnels by name, and whether the registry was retired
/// ([`TunnelRegistry::close_all`]): one lock, so a registration cannot
/// slip in between the retirement and its closing of what was there.
#[derive(Debug, Default)]
struct Names {
    map: HashMap<String, Vec<Tunnel>>,
    retired: bool,
}

#[derive(Debug, Default)]
struct Counters {
    registered: AtomicU64,
    removed: AtomicU64,
    no_tunnel: AtomicU64,
    saturated: AtomicU64,
}

/// Registry counters at one instant. `tunnels` is a gauge (distinct usable
/// tunnels registered; a tunnel stops counting the moment it receives
/// GOAWAY, closes or dies, before its asynchronous removal), the rest only
/// grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Distinct usable tunnels currently registered.
    pub tunnels: u64,
    /// Tunnels registered so far.
    pub registered: u64,
    /// Tunnels removed so far (GOAWAY, close, death or [`TunnelRegistry::remove`]).
    pub removed: u64,
    /// Acquisitions that ended with [`RegistryError::NoTunnel`].
    pub no_tunnel: u64,
    /// Acquisitions that ended with [`RegistryError::Saturated`].
    pub saturated: u64,
}

/// Registered tunnels by name.
///
/// Invariants: a tunnel is only ever handed out for a name it was
/// registered under (names are compared ASCII-case-insensitively); a tunnel
/// that received GOAWAY, is closing or closed is never handed out and is
/// removed from every name; tunnels are never closed by the registry for
/// being idle.
///
/// ```no_run
/// # async fn doc(tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use gwd_rhttp::{GatewayOptions, NamePolicy, TunnelRegistry, accept_tunnel, registration_names};
///
/// let registry = TunnelRegistry::new();
/// let names = registration_names(tls.get_ref().1, NamePolicy::default())?;
/// let tunnel = accept_tunnel(tls, &GatewayOptions::default()).await?;
/// registry.register(names, tunnel);
///
/// let lease = registry.acquire("app.example", Duration::from_secs(2)).await?;
/// let req = http::Request::get("https://app.example/").body(http_body_util::Empty::<bytes::Bytes>::new())?;
/// let resp = lease.send_request(req).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TunnelRegistry {
    inner: Arc<Inner>,
}

/// A tunnel chosen for one request, with its stream slot reserved.
#[derive(Debug)]
pub struct Lease {
    tunnel: Tunnel,
    slot: StreamSlot,
}

impl Lease {
    /// The chosen tunnel.
    pub fn tunnel(&self) -> &Tunnel {
        &self.tunnel
    }

    /// Sends the request on the leased tunnel, in the slot the lease
    /// reserved, and waits for the response head; see
    /// [`Tunnel::send_request`] for the request's form and the slot's
    /// life. A request that never left the gateway comes back in
    /// [`SendFailed::request`], to be retried on another tunnel.
    pub async fn send_request<B>(
        self,
        req: Request<B>,
    ) -> Result<Response<IncomingBody>, SendFailed<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.tunnel.send_in(self.slot, req).await
    }

    /// As [`Lease::send_request`], for a request given as a gwd-head
    /// [`RequestHead`] (scheme and authority in its URI, as HTTP/2 wants)
    /// and an optional body: the head goes out as it is and the response
    /// head comes back as a [`ResponseHead`], with no header map built
    /// either way. `protocol` makes a CONNECT an extended CONNECT (RFC
    /// 8441). A request that never left comes back in
    /// [`HeadSendFailed::request`].
    pub async fn send_head<B>(
        self,
        head: RequestHead,
        protocol: Option<Protocol>,
        body: Option<B>,
    ) -> Result<(ResponseHead, IncomingBody), HeadSendFailed<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.send_head_relaying(head, protocol, body, &mut |_| {})
            .await
    }

    /// [`Lease::send_head`], handing the origin's interim (1xx) heads to
    /// `on_interim` as they come, before the final head.
    pub async fn send_head_relaying<B>(
        self,
        head: RequestHead,
        protocol: Option<Protocol>,
        body: Option<B>,
        on_interim: &mut (dyn FnMut(ResponseHead) + Send),
    ) -> Result<(ResponseHead, IncomingBody), HeadSendFailed<B>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.tunnel
            .send_head_in(self.slot, head, protocol, body, on_interim)
            .await
    }
}

/// One row of [`TunnelRegistry::snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSummary {
    /// Registration name.
    pub name: String,
    /// Tunnel id.
    pub id: u64,
    /// Streams in flight.
    pub active_streams: usize,
    /// Stream limit.
    pub stream_limit: usize,
    /// Time since the reversal completed.
    pub age: Duration,
    /// The origin's address, when known ([`Tunnel::set_peer_addr`]).
    pub peer_addr: Option<std::net::SocketAddr>,
    /// Round trip of the last answered PING.
    pub last_ping_rtt: Option<Duration>,
    /// Reversal latency (accept to the origin's first SETTINGS).
    pub reversal_latency: Duration,
}

/// `a` before `b` by load (active / limit, without division), then by
/// active streams.
fn load_order(a: &Tunnel, b: &Tunnel) -> std::cmp::Ordering {
    let la = a.active_streams() as u128 * b.stream_limit() as u128;
    let lb = b.active_streams() as u128 * a.stream_limit() as u128;
    la.cmp(&lb)
        .then(a.active_streams().cmp(&b.active_streams()))
}

fn normalize(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl TunnelRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether both are handles on the same registry (a reload hands the
    /// registry of a kept `rhttp@` server to the new configuration).
    pub fn same_registry(&self, other: &TunnelRegistry) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Files `tunnel` under each of `names` (duplicates ignored) and watches
    /// it: once it becomes unusable (GOAWAY from the origin, closing,
    /// closed) it is removed. Must be called inside a tokio runtime.
    ///
    /// On a registry retired by [`TunnelRegistry::close_all`] (its server
    /// is gone, or a reload revoked what admitted its tunnels) the tunnel
    /// is closed instead, so its origin dials again and meets the rules in
    /// force; returns whether it was registered.
    pub fn register<I, S>(&self, names: I, tunnel: Tunnel) -> bool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut names: Vec<String> = names.into_iter().map(|n| normalize(n.as_ref())).collect();
        names.sort();
        names.dedup();
        {
            let mut table = self.inner.by_name.lock().expect("registry");
            if table.retired {
                drop(table);
                tunnel.close();
                return false;
            }
            tunnel.watch_freed(self.inner.changed.clone());
            for n in &names {
                table.map.entry(n.clone()).or_default().push(tunnel.clone());
            }
        }
        self.inner.stats.registered.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(id = tunnel.id(), ?names, "rhttp tunnel registered");
        self.inner.changed.notify_waiters();
        // The watcher holds neither the tunnel nor the registry.
        let weak = Arc::downgrade(&self.inner);
        let mut events = tunnel.subscribe();
        let id = tunnel.id();
        tokio::spawn(async move {
            let _ = events.wait_for(|e| e.is_unusable()).await;
            if let Some(inner) = weak.upgrade() {
                TunnelRegistry { inner }.remove(id);
            }
        });
        true
    }

    /// Closes every registered tunnel (GOAWAY, then the streams in flight
    /// finish) and retires the registry: the server they were registered
    /// for is gone, and later registrations close their tunnels too.
    /// Returns how many tunnels were asked to close.
    pub fn close_all(&self) -> usize {
        let tunnels: Vec<Tunnel> = {
            let mut names = self.inner.by_name.lock().expect("registry");
            // From now on a registration closes its tunnel instead (one
            // still in its handshake when the server went away).
            names.retired = true;
            let map = &names.map;
            let mut seen = std::collections::HashSet::new();
            map.values()
                .flatten()
                .filter(|t| seen.insert(t.id()))
                .cloned()
                .collect()
        };
        for t in &tunnels {
            t.close();
        }
        tunnels.len()
    }

    /// Removes a tunnel from every name (it is not closed).
    pub fn remove(&self, id: u64) {
        let mut found = false;
        {
            let mut names = self.inner.by_name.lock().expect("registry");
            names.map.retain(|_, v| {
                let before = v.len();
                v.retain(|t| t.id() != id);
                found |= v.len() != before;
                !v.is_empty()
            });
        }
        if found {
            self.inner.stats.removed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(id, "rhttp tunnel unregistered");
        }
        self.inner.changed.notify_waiters();
    }

    /// Number of usable tunnels registered under `name`.
    pub fn tunnel_count(&self, name: &str) -> usize {
        let names = self.inner.by_name.lock().expect("registry");
        let map = &names.map;
        map.get(&normalize(name))
            .map_or(0, |v| v.iter().filter(|t| !t.is_unusable()).count())
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<String> {
        let names = self.inner.by_name.lock().expect("registry");
        let map = &names.map;
        let mut v: Vec<String> = map.keys().cloned().collect();
        v.sort();
        v
    }

    /// One row per (name, tunnel).
    pub fn snapshot(&self) -> Vec<TunnelSummary> {
        let names = self.inner.by_name.lock().expect("registry");
        let map = &names.map;
        let mut out = Vec::new();
        for (name, v) in map.iter() {
            for t in v {
                out.push(TunnelSummary {
                    name: name.clone(),
                    id: t.id(),
                    active_streams: t.active_streams(),
                    stream_limit: t.stream_limit(),
                    age: t.up_since().elapsed(),
                    peer_addr: t.peer_addr(),
                    last_ping_rtt: t.last_ping_rtt(),
                    reversal_latency: t.reversal_latency(),
                });
            }
        }
        out.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        out
    }

    /// Picks, for `name`, the usable tunnel with the lowest load
    /// (active streams / stream limit) that has a free slot, and reserves
    /// that slot. Never waits.
    pub fn try_acquire(&self, name: &str) -> Result<Lease, RegistryError> {
        self.count(self.pick(name))
    }

    fn count(&self, r: Result<Lease, RegistryError>) -> Result<Lease, RegistryError> {
        match &r {
            Err(RegistryError::NoTunnel { .. }) => &self.inner.stats.no_tunnel,
            Err(RegistryError::Saturated { .. }) => &self.inner.stats.saturated,
            Ok(_) => return r,
        }
        .fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Registry counters.
    pub fn stats(&self) -> RegistryStats {
        let tunnels = {
            let names = self.inner.by_name.lock().expect("registry");
            let map = &names.map;
            let mut ids: Vec<u64> = map
                .values()
                .flatten()
                .filter(|t| !t.is_unusable())
                .map(|t| t.id())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len() as u64
        };
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RegistryStats {
            tunnels,
            registered: l(&self.inner.stats.registered),
            removed: l(&self.inner.stats.removed),
            no_tunnel: l(&self.inner.stats.no_tunnel),
            saturated: l(&self.inner.stats.saturated),
        }
    }

    fn pick(&self, name: &str) -> Result<Lease, RegistryError> {
        // Names are kept lower-cased; gwd looks them up lower-cased
        // already, so the common case makes no copy.
        let lowered;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = normalize(name);
            lowered.as_str()
        } else {
            name
        };
        let names = self.inner.by_name.lock().expect("registry");
        let Some(list) = names.map.get(name) else {
            return Err(RegistryError::NoTunnel {
                name: name.to_owned(),
            });
        };
        // Ties rotate: equally busy tunnels (often several idle origins)
        // take turns instead of the first registered taking everything.
        let turn = self.inner.turn.fetch_add(1, Ordering::Relaxed);
        // The usual case, without allocating: the least loaded usable
        // tunnel (load = active / limit, compared without division; then
        // fewer active streams), the first of equals in rotated order.
        let n = list.len();
        let mut best: Option<&Tunnel> = None;
        for i in 0..n {
            let t = &list[(turn + i) % n];
            if t.is_unusable() {
                continue;
            }
            if best.is_none_or(|b| load_order(t, b).is_lt()) {
                best = Some(t);
            }
        }
        let Some(best) = best else {
            return Err(RegistryError::NoTunnel {
                name: name.to_owned(),
            });
        };
        if let Some(slot) = best.try_reserve() {
            return Ok(Lease {
                tunnel: best.clone(),
                slot,
            });
        }
        // It filled up meanwhile (or was full): every usable one in order
        // of load.
        let mut candidates: Vec<&Tunnel> = list.iter().filter(|t| !t.is_unusable()).collect();
        let usable = candidates.len().max(1);
        candidates.rotate_left(turn % usable);
        // Stable: the rotated order breaks ties.
        candidates.sort_by(|a, b| load_order(a, b));
        for t in candidates {
            if let Some(slot) = t.try_reserve() {
                return Ok(Lease {
                    tunnel: t.clone(),
                    slot,
                });
            }
        }
        Err(RegistryError::Saturated {
            name: name.to_owned(),
        })
    }

    /// Like [`TunnelRegistry::try_acquire`], but when no tunnel is free,
    /// waits up to `wait` for one to register or free a slot. The error
    /// after waiting says whether tunnels existed for the name.
    pub async fn acquire(&self, name: &str, wait: Duration) -> Result<Lease, RegistryError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Ok(l) = self.pick(name) {
                return Ok(l);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count(self.pick(name));
            }
        }
    }

    /// Waits until at least `n` usable tunnels are registered under `name`,
    /// at most `timeout`. Returns whether they are.
    pub async fn wait_for_tunnels(&self, name: &str, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.tunnel_count(name) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.tunnel_count(name) >= n;
            }
        }
    }
}
