//! The statistics and server operations the runtime API serves, read from
//! the proxy in force: counters, pools, tunnels, dialer totals, server rows,
//! process facts, and the proxy's HTTP statistics endpoints.

use super::*;
use gwd_config::ServerAt;

/// The runtime API of a proxy: its maps, its servers (read through a weak
/// reference, as every source here) and its statistics hub, which the
/// proxy's HTTP statistics endpoints hold too ([`HttpStats`]), so the
/// socket, the page and Prometheus read the same sources.
pub(crate) fn stats_cli(
    proxy: &Arc<Proxy>,
    dialers: Vec<Arc<gwd_rhttp::DialerStats>>,
) -> gwd_admin::Cli {
    let servers = Arc::new(ProxyServers {
        proxy: Arc::downgrade(proxy),
    });
    let hub = stats_hub(proxy, dialers, servers.clone());
    gwd_admin::Cli::new(proxy.config.maps.clone())
        .with_stats(hub)
        .with_servers(servers)
}

/// The statistics sources of a proxy (an empty snapshot once the proxy is
/// gone) and the totals of `dialers`.
fn stats_hub(
    proxy: &Arc<Proxy>,
    dialers: Vec<Arc<gwd_rhttp::DialerStats>>,
    servers: Arc<ProxyServers>,
) -> gwd_admin::StatsHub {
    let config = &proxy.config;
    let nbthread = config.global.nbthread.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let weak = Arc::downgrade(proxy);
    let mut hub = gwd_admin::StatsHub::new(
        move || match weak.upgrade() {
            Some(p) => p.stats.snapshot(),
            None => gwd_stats::RegistrySnapshot {
                frontends: Vec::new(),
                backends: Vec::new(),
                retired: gwd_stats::RetiredTotals::default(),
            },
        },
        gwd_admin::ProcessInfo::current("gwd", env!("CARGO_PKG_VERSION"), nbthread, Instant::now()),
    )
    .with_rates({
        let weak = Arc::downgrade(proxy);
        move || match weak.upgrade() {
            Some(p) => p.stats.rates_at(Instant::now()),
            None => gwd_admin::RatesSnapshot::default(),
        }
    })
    .with_process({
        let weak = Arc::downgrade(proxy);
        move || match weak.upgrade() {
            Some(p) => process_facts(&p),
            None => gwd_admin::ProcessFacts::default(),
        }
    })
    .with_resources(process_resources)
    .with_pools({
        let weak = Arc::downgrade(proxy);
        move || weak.upgrade().map(|p| pool_rows(&p)).unwrap_or_default()
    })
    .with_server_rows(move |now| gwd_admin::ServerControl::servers(&*servers, now))
    .with_maps(config.maps.clone());
    let has_reverse_servers = proxy
        .backends
        .iter()
        .any(|b| b.servers.iter().any(|s| gwd_reverse::registry(s).is_some()));
    if has_reverse_servers {
        let weak = Arc::downgrade(proxy);
        hub = hub.with_tunnels(move || weak.upgrade().map(|p| tunnel_rows(&p)).unwrap_or_default());
    }
    if !dialers.is_empty() {
        hub = hub.with_tunnel_totals(move || tunnel_totals(&dialers));
    }
    hub
}

/// The runtime API's server operations and server rows, over the proxy
/// (held weakly, like the statistics sources).
struct ProxyServers {
    proxy: Weak<Proxy>,
}

impl ProxyServers {
    /// The proxy and server `backend/server` in it.
    fn find(&self, backend: &str, server: &str) -> Result<(Arc<Proxy>, ServerAt), ServerError> {
        let p = self
            .proxy
            .upgrade()
            .ok_or_else(|| ServerError::Refused("Proxy is disabled.".into()))?;
        let at = p.find_server(backend, server).map_err(op_error)?;
        Ok((p, at))
    }
}

/// gwd-http's refusal as the runtime API's.
fn op_error(e: ServerOpError) -> ServerError {
    match e {
        ServerOpError::NoBackend => ServerError::NoBackend,
        ServerOpError::NoServer => ServerError::NoServer,
        ServerOpError::NotChecked => ServerError::NotChecked,
        other => ServerError::Refused(other.to_string()),
    }
}

impl gwd_admin::ServerControl for ProxyServers {
    fn set_admin(&self, backend: &str, server: &str, state: AdminState) -> Result<(), ServerError> {
        let (p, at) = self.find(backend, server)?;
        let admin = match state {
            AdminState::Ready => Admin::Ready,
            AdminState::Drain => Admin::Drain,
            AdminState::Maint => Admin::Maint,
        };
        p.set_server_admin(at, admin);
        Ok(())
    }

    fn weight(&self, backend: &str, server: &str) -> Result<(u32, u32), ServerError> {
        let (p, at) = self.find(backend, server)?;
        Ok(p.server_weight(at))
    }

    fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<(), ServerError> {
        let (p, at) = self.find(backend, server)?;
        p.set_server_weight(at, weight).map_err(op_error)
    }

    fn set_health(&self, backend: &str, server: &str, up: bool) -> Result<(), ServerError> {
        let (p, at) = self.find(backend, server)?;
        p.set_server_health(at, up).map_err(op_error)
    }

    fn set_checks(&self, backend: &str, server: &str, on: bool) -> Result<(), ServerError> {
        let (p, at) = self.find(backend, server)?;
        p.set_server_checks(at, on).map_err(op_error)
    }

    fn servers(&self, now: Instant) -> Vec<gwd_admin::ServerRow> {
        self.proxy
            .upgrade()
            .map(|p| server_rows(&p, now))
            .unwrap_or_default()
    }

    fn has_backend(&self, backend: &str) -> bool {
        self.proxy
            .upgrade()
            .is_some_and(|p| p.config.backends.iter().any(|b| b.name == backend))
    }
}

/// One [`gwd_admin::ServerRow`] per server, from the proxy's server views,
/// backends and servers in configuration order.
fn server_rows(p: &Proxy, now: Instant) -> Vec<gwd_admin::ServerRow> {
    let mut rows = Vec::new();
    for (b, be) in p.config.backends.iter().enumerate() {
        for (s, conf) in be.servers.iter().enumerate() {
            let v = p.server_view(ServerAt::new(b, s), now);
            let st = &v.status;
            let check = st.checked.then(|| gwd_admin::CheckRow {
                enabled: st.checks_enabled,
                running: st.running,
                health: st.health,
                rise: st.rise,
                fall: st.fall,
                up: st.check_up,
                status: st.last.as_ref().map(|o| o.status.code().to_owned()),
                description: st.last.as_ref().map(|o| o.status.description().to_owned()),
                code: st.last.as_ref().and_then(|o| o.code),
                info: st.last.as_ref().and_then(|o| o.info.clone()),
                duration: st.last.as_ref().map(|o| o.duration),
                failed: st.failed_checks,
                downs: st.downs,
                passive_failures: st.passive_failures,
            });
            rows.push(gwd_admin::ServerRow {
                backend: v.backend,
                backend_id: v.backend_id,
                server: v.name,
                server_id: v.id,
                host: v.host,
                port: v.port,
                admin: match v.state.admin {
                    Admin::Ready => AdminState::Ready,
                    Admin::Drain => AdminState::Drain,
                    Admin::Maint => AdminState::Maint,
                },
                up: v.state.up,
                weight: v.state.weight,
                initial_weight: v.state.initial_weight,
                backup: v.state.backup,
                maxconn: v.state.maxconn,
                status: v.status_text,
                tunnels: v.tunnels,
                check,
                check_port: v.check_port,
                check_addr: v.check_addr,
                use_ssl: conf.tls.is_some(),
                since_change: st.since_change,
                downtime: st.downtime,
            });
        }
    }
    rows
}

/// One [`gwd_admin::PoolRow`] per server, from its connection pool.
fn pool_rows(proxy: &Proxy) -> Vec<gwd_admin::PoolRow> {
    let mut rows = Vec::new();
    for be in &proxy.backends {
        for s in &be.servers {
            let st = s.pool_stats();
            let (addr, port) = match s.conf.net_addr() {
                Some(a) => (a.host.clone(), a.port),
                None => ("rhttp@".to_owned(), 0),
            };
            rows.push(gwd_admin::PoolRow {
                backend: be.conf.name.clone(),
                server: s.conf.name.clone(),
                backend_id: be.conf.id,
                server_id: s.conf.id,
                addr,
                port,
                purge_delay_ms: u64::try_from(s.conf.pool.purge_delay.as_millis())
                    .unwrap_or(u64::MAX),
                used_cur: st.used as u64,
                used_max: st.max_used as u64,
                need_est: st.est_need as u64,
                idle: st.idle as u64,
                safe: st.safe as u64,
                idle_limit: s.conf.pool.max_conn.map(|m| m as u64),
            });
        }
    }
    rows
}

/// One [`gwd_admin::TunnelRow`] per tunnel and name of every `rhttp@`
/// server.
fn tunnel_rows(proxy: &Proxy) -> Vec<gwd_admin::TunnelRow> {
    let mut rows = Vec::new();
    for be in &proxy.backends {
        for s in &be.servers {
            let Some(reg) = gwd_reverse::registry(s) else {
                continue;
            };
            rows.extend(reg.snapshot().into_iter().map(|t| gwd_admin::TunnelRow {
                name: t.name,
                id: t.id,
                backend: be.conf.name.clone(),
                server: s.conf.name.clone(),
                active_streams: t.active_streams as u64,
                stream_limit: t.stream_limit as u64,
                age: t.age,
                last_ping_rtt: t.last_ping_rtt,
                origin: t.peer_addr.map(|a| a.to_string()).unwrap_or_default(),
            }));
        }
    }
    rows
}

/// Dials, failures, reversals and the reversal latency histogram (in
/// seconds) summed over `dialers`.
fn tunnel_totals(dialers: &[Arc<gwd_rhttp::DialerStats>]) -> gwd_admin::TunnelTotals {
    const N: usize = gwd_rhttp::REVERSAL_LATENCY_BOUNDS_US.len();
    let mut t = gwd_admin::TunnelTotals::default();
    let mut cumulative = [0u64; N + 1];
    let mut sum_us = 0u64;
    for d in dialers {
        let s = d.snapshot();
        t.dials += s.dials;
        t.dial_failures += s.dial_failures;
        t.reversals += s.reversals;
        t.ping_timeouts += s.ping_timeouts;
        t.errors += s.tunnel_errors;
        t.tunnels_up += s.tunnels_up;
        sum_us = sum_us.saturating_add(s.reversal_latency_total_us);
        for (c, v) in cumulative.iter_mut().zip(s.reversal_latency_cumulative) {
            *c += v;
        }
    }
    let bounds = gwd_rhttp::REVERSAL_LATENCY_BOUNDS_US
        .iter()
        .map(|us| *us as f64 / 1e6)
        .collect();
    t.reversal_seconds = gwd_admin::Histogram::new(
        bounds,
        cumulative[..N].to_vec(),
        sum_us as f64 / 1e6,
        cumulative[N],
    )
    .ok();
    t
}

/// The proxy's HTTP statistics endpoints, rendered from the statistics
/// hub the runtime API holds too.
#[derive(Debug)]
pub(crate) struct HttpStats {
    pub(crate) hub: gwd_admin::StatsHub,
}

impl HttpStats {
    /// The endpoints over `cli`'s statistics hub; `None` when it has none.
    pub(crate) fn of(cli: &gwd_admin::Cli) -> Option<Arc<Self>> {
        cli.stats()
            .map(|hub| Arc::new(HttpStats { hub: hub.clone() }))
    }
}

impl gwd_http::StatsEndpoints for HttpStats {
    fn page(&self, uri: &str, refresh: Option<Duration>, hide_version: bool) -> String {
        let opts = gwd_admin::PageOptions {
            uri: uri.to_owned(),
            refresh,
            hide_version,
        };
        self.hub.stats_page(&opts, Instant::now())
    }

    fn csv(&self) -> String {
        self.hub.stat(
            &gwd_admin::StatFilter::default(),
            gwd_admin::StatFormat::Csv,
        )
    }

    fn prometheus(&self) -> String {
        self.hub.prometheus(Instant::now())
    }
}

/// Process-wide facts for `show info`: the process connection counter's
/// rate and peak, the frontends' request rates, and resident memory.
fn process_facts(p: &Proxy) -> gwd_admin::ProcessFacts {
    let now = Instant::now();
    let conns = p.process_conns.rates_at(now);
    let req_rate = p
        .stats
        .rates_at(now)
        .frontends
        .iter()
        .filter_map(|f| f.req_rate)
        .sum();
    gwd_admin::ProcessFacts {
        conn_rate: conns.conn_rate.unwrap_or(0),
        conn_rate_max: conns.conn_rate_max.unwrap_or(0),
        req_rate,
        max_conns: p.process_conns.snapshot().conns.max,
        dropped_logs: gwd_http::access_log::dropped_lines(),
        rss_bytes: rss_bytes(),
    }
}

/// The process's resident memory, CPU time and open descriptors from
/// `/proc/self` (Linux; each `None` where it cannot be read).
fn process_resources() -> gwd_admin::ProcessResources {
    gwd_admin::ProcessResources {
        resident_memory_bytes: rss_bytes(),
        cpu_seconds: cpu_seconds(),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64),
    }
}

/// User plus system CPU time from `/proc/self/stat` (its 14th and 15th
/// fields), in seconds.
fn cpu_seconds() -> Option<f64> {
    // The kernel reports these times in USER_HZ ticks, which is 100 on
    // every Linux ABI (`sysconf(_SC_CLK_TCK)` answers 100; reading it
    // would take `unsafe` libc, which this workspace denies).
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold blanks:
    // count fields from after its closing one, where field 3 starts.
    let mut after_name = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: u64 = after_name.nth(11)?.parse().ok()?;
    let stime: u64 = after_name.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Resident set size from `/proc/self/status` (Linux; `None` elsewhere).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_resources_read_this_process() {
        let before = cpu_seconds().expect("/proc/self/stat");
        // Burn some CPU so the counter is seen to move (or at least not
        // go back).
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let r = process_resources();
        let rss = r.resident_memory_bytes.expect("/proc/self/status");
        assert!(rss > 1 << 20, "a test binary holds more than 1 MiB: {rss}");
        let fds = r.open_fds.expect("/proc/self/fd");
        assert!(fds >= 3, "stdin, stdout, stderr at least: {fds}");
        let cpu = r.cpu_seconds.expect("/proc/self/stat");
        assert!(cpu >= before && cpu > 0.0, "{before} then {cpu}");
    }
}
