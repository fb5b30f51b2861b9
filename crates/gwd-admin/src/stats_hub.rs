//! The statistics hub: every source the statistics outputs read (counter
//! snapshots, rates, process facts and resources, connection pools,
//! tunnels, server rows, map sizes) and the outputs rendered from them:
//! `show stat`, `show info`, Prometheus and the HTML stats page.
//!
//! # Model
//!
//! A [`StatsHub`] holds functions, each called once per output, so an
//! output is one consistent read of the proxy in force; it keeps no
//! counter of its own and changes nothing. The runtime API ([`Cli`]) and
//! the proxy's HTTP statistics endpoints hold the same hub (it is cheap to
//! clone: every source is shared), so `show stat` on the socket, the
//! `;csv` page, the HTML page and a Prometheus scrape all read the same
//! sources and agree. A source left out leaves its columns empty, never
//! invented.
//!
//! [`Cli`]: crate::Cli

use std::sync::Arc;
use std::time::Instant;

use gwd_config::MapRegistry;
use gwd_stats::RegistrySnapshot;
use gwd_stats_render::{
    MapSize, PageOptions, PoolRow, ProcessFacts, ProcessInfo, ProcessResources, PromExtra,
    RatesSnapshot, ServerRow, StatExtra, StatFilter, StatFormat, TunnelNameStats, TunnelRow,
    TunnelTotals, render_info_with, render_prometheus, render_rows, render_stats_page, stat_rows,
};

type SnapshotFn = Arc<dyn Fn() -> RegistrySnapshot + Send + Sync>;
type RatesFn = Arc<dyn Fn() -> RatesSnapshot + Send + Sync>;
type ProcessFn = Arc<dyn Fn() -> ProcessFacts + Send + Sync>;
type ResourcesFn = Arc<dyn Fn() -> ProcessResources + Send + Sync>;
type PoolsFn = Arc<dyn Fn() -> Vec<PoolRow> + Send + Sync>;
type TunnelsFn = Arc<dyn Fn() -> Vec<TunnelRow> + Send + Sync>;
type TunnelTotalsFn = Arc<dyn Fn() -> TunnelTotals + Send + Sync>;
type ServerRowsFn = Arc<dyn Fn(Instant) -> Vec<ServerRow> + Send + Sync>;

/// Where every statistics output reads from, and the outputs themselves.
///
/// ```
/// use std::time::Instant;
/// use gwd_admin::{ProcessInfo, StatFilter, StatFormat, StatsHub};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// reg.add_frontend("www").request_at(Instant::now());
/// let hub = StatsHub::new(
///     move || reg.snapshot(),
///     ProcessInfo::current("gwd", "1.0", 1, Instant::now()),
/// );
/// let csv = hub.stat(&StatFilter::default(), StatFormat::Csv);
/// assert!(csv.lines().nth(1).unwrap().starts_with("www,FRONTEND,"));
/// assert!(hub.prometheus(Instant::now()).contains("gwd_frontend_http_requests_total{proxy=\"www\"} 1\n"));
/// ```
#[derive(Clone)]
pub struct StatsHub {
    snapshot: SnapshotFn,
    info: ProcessInfo,
    rates: Option<RatesFn>,
    process: Option<ProcessFn>,
    resources: Option<ResourcesFn>,
    pools: Option<PoolsFn>,
    tunnels: Option<TunnelsFn>,
    tunnel_totals: Option<TunnelTotalsFn>,
    servers: Option<ServerRowsFn>,
    maps: Option<Arc<MapRegistry>>,
}

impl std::fmt::Debug for StatsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsHub")
            .field("info", &self.info)
            .field("rates", &self.rates.is_some())
            .field("process", &self.process.is_some())
            .field("resources", &self.resources.is_some())
            .field("pools", &self.pools.is_some())
            .field("tunnels", &self.tunnels.is_some())
            .field("tunnel_totals", &self.tunnel_totals.is_some())
            .field("servers", &self.servers.is_some())
            .field("maps", &self.maps.is_some())
            .finish()
    }
}

impl StatsHub {
    /// A hub taking counter snapshots with `snapshot` (e.g.
    /// `move || proxy.stats.snapshot()`; its rows describe themselves:
    /// ids, backend algorithms, `rhttp@` servers) for a process described
    /// by `info`.
    pub fn new(
        snapshot: impl Fn() -> RegistrySnapshot + Send + Sync + 'static,
        info: ProcessInfo,
    ) -> Self {
        StatsHub {
            snapshot: Arc::new(snapshot),
            info,
            rates: None,
            process: None,
            resources: None,
            pools: None,
            tunnels: None,
            tunnel_totals: None,
            servers: None,
            maps: None,
        }
    }

    /// Also reads rates and timing averages from `rates` (called once per
    /// output, after the snapshot).
    pub fn with_rates(mut self, rates: impl Fn() -> RatesSnapshot + Send + Sync + 'static) -> Self {
        self.rates = Some(Arc::new(rates));
        self
    }

    /// Also reads the process's memory, CPU time and open descriptors
    /// from `resources` for Prometheus (called once per scrape).
    pub fn with_resources(
        mut self,
        resources: impl Fn() -> ProcessResources + Send + Sync + 'static,
    ) -> Self {
        self.resources = Some(Arc::new(resources));
        self
    }

    /// Also reads process-wide rates and memory for `show info` from
    /// `process` (called once per `show info`).
    pub fn with_process(
        mut self,
        process: impl Fn() -> ProcessFacts + Send + Sync + 'static,
    ) -> Self {
        self.process = Some(Arc::new(process));
        self
    }

    /// Also reads connection pool rows from `pools`: the pool columns of
    /// `show stat`, and `show servers conn` on the runtime API.
    pub fn with_pools(mut self, pools: impl Fn() -> Vec<PoolRow> + Send + Sync + 'static) -> Self {
        self.pools = Some(Arc::new(pools));
        self
    }

    /// Also reads registered tunnels from `tunnels`: the states of `rhttp@`
    /// servers, the per-name Prometheus gauges, and `show tunnels` on the
    /// runtime API.
    pub fn with_tunnels(
        mut self,
        tunnels: impl Fn() -> Vec<TunnelRow> + Send + Sync + 'static,
    ) -> Self {
        self.tunnels = Some(Arc::new(tunnels));
        self
    }

    /// Also reports process-wide tunnel counters (dials, failures,
    /// reversals and the reversal latency histogram) in Prometheus.
    pub fn with_tunnel_totals(
        mut self,
        totals: impl Fn() -> TunnelTotals + Send + Sync + 'static,
    ) -> Self {
        self.tunnel_totals = Some(Arc::new(totals));
        self
    }

    /// Also reads each server's state, weight and checks from `servers`
    /// (e.g. a [`ServerControl`](crate::ServerControl)'s rows). Without
    /// it every server is an unchecked primary of weight 1.
    pub fn with_server_rows(
        mut self,
        servers: impl Fn(Instant) -> Vec<ServerRow> + Send + Sync + 'static,
    ) -> Self {
        self.servers = Some(Arc::new(servers));
        self
    }

    /// Also reports the entry count of every map and ACL file of `maps`
    /// in Prometheus.
    pub fn with_maps(mut self, maps: MapRegistry) -> Self {
        self.maps = Some(Arc::new(maps));
        self
    }

    /// A fresh counter snapshot.
    pub fn snapshot(&self) -> RegistrySnapshot {
        (self.snapshot)()
    }

    /// The process facts given at construction.
    pub fn info(&self) -> &ProcessInfo {
        &self.info
    }

    /// Fresh connection pool rows; `None` without a pool source.
    pub fn pools(&self) -> Option<Vec<PoolRow>> {
        self.pools.as_ref().map(|f| f())
    }

    /// Fresh tunnel rows; `None` without a tunnel source.
    pub fn tunnels(&self) -> Option<Vec<TunnelRow>> {
        self.tunnels.as_ref().map(|f| f())
    }

    /// Fresh extra facts from the sources: rates, pool rows, tunnel rows
    /// and server rows.
    pub fn stat_extra(&self) -> StatExtra {
        StatExtra {
            rates: self.rates.as_ref().map(|f| f()),
            pools: self.pools().unwrap_or_default(),
            tunnels: self.tunnels(),
            servers: self.servers.as_ref().map(|f| f(Instant::now())),
        }
    }

    /// Whether a frontend or backend is named `name` (`show stat`
    /// answers "No such proxy." otherwise).
    pub fn has_proxy(&self, name: &str) -> bool {
        let snap = self.snapshot();
        snap.frontends.iter().any(|f| f.name == name)
            || snap.backends.iter().any(|b| b.name == name)
    }

    /// `show stat` in `format` over the rows `filter` keeps, as the
    /// runtime API and `<stats uri>;csv` serve it.
    pub fn stat(&self, filter: &StatFilter, format: StatFormat) -> String {
        let snap = self.snapshot();
        render_rows(&stat_rows(&snap, filter, &self.stat_extra()), format)
    }

    /// `show info` at `now`.
    pub fn info_text(&self, now: Instant) -> String {
        let facts = self.process.as_ref().map(|f| f());
        render_info_with(&self.info, &self.snapshot(), facts.as_ref(), now)
    }

    /// The Prometheus text exposition at `now` (see [`render_prometheus`]):
    /// per-name tunnel gauges grouped from the tunnel rows, map sizes from
    /// the map registry, process resources from the resources source.
    pub fn prometheus(&self, now: Instant) -> String {
        let snap = self.snapshot();
        let stat = self.stat_extra();
        let extra = PromExtra {
            tunnel_names: stat
                .tunnels
                .as_deref()
                .map(TunnelNameStats::from_rows)
                .unwrap_or_default(),
            tunnel_totals: self.tunnel_totals.as_ref().map(|f| f()),
            maps: self
                .maps
                .iter()
                .flat_map(|maps| maps.iter())
                .map(|m| MapSize {
                    map: m.name.clone(),
                    entries: m.map.len() as u64,
                })
                .collect(),
            process: self.resources.as_ref().map(|f| f()).unwrap_or_default(),
            stat,
        };
        render_prometheus(&snap, &self.info, &extra, now)
    }

    /// The HTML stats page at `now` (see [`render_stats_page`]).
    pub fn stats_page(&self, opts: &PageOptions, now: Instant) -> String {
        let snap = self.snapshot();
        render_stats_page(&snap, &self.info, &self.stat_extra(), opts, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use gwd_config::{AdminLevel, MapRegistry};
    use gwd_stats::Registry;
    use gwd_stats_render::stat_header;

    #[test]
    fn user_level_reads_stats_and_info() {
        let mut reg = Registry::new();
        let fe = reg.add_frontend("www");
        fe.request_at(Instant::now());
        let reg = Arc::new(reg);
        let r = Arc::clone(&reg);
        let cli = Cli::new(MapRegistry::new()).with_stats(StatsHub::new(
            move || r.snapshot(),
            ProcessInfo::current("gwd", "9.9.9", 1, Instant::now()),
        ));
        let mut s = cli.session(AdminLevel::User);
        let out = s.feed_line("show stat");
        assert!(out.starts_with("# pxname,svname,"), "{out}");
        assert!(out.contains("\nwww,FRONTEND,"), "{out}");
        assert!(out.ends_with(",\n\n"), "{out:?}");
        // A snapshot per command: later traffic shows up.
        fe.request_at(Instant::now());
        let mut s = cli.session(AdminLevel::User);
        let out = s.feed_line("show info; show stat -1 1 -1");
        assert!(out.starts_with("Name: gwd\nVersion: 9.9.9\n"), "{out}");
        assert!(out.contains("\nCumReq: 2\n"), "{out}");
        let fe_line = out
            .lines()
            .find(|l| l.starts_with("www,FRONTEND,"))
            .unwrap();
        assert_eq!(fe_line.split(',').nth(48), Some("2"));
        let mut s = cli.session(AdminLevel::User);
        assert!(s.feed_line("help").contains("show stat"));
        // Read as HAProxy 2.6 reads them (each checked against it): one
        // word is no filter; an unknown name is no proxy; numbers are
        // C's atoi (a word is 0: no row type, the header alone).
        let mut s = cli.session(AdminLevel::User);
        assert!(s.feed_line("show stat www").contains("\nwww,FRONTEND,"));
        let mut s = cli.session(AdminLevel::User);
        assert_eq!(s.feed_line("show stat nope 4 -1"), "No such proxy.\n\n");
        let mut s = cli.session(AdminLevel::User);
        assert_eq!(s.feed_line("show stat 0 4 -1"), "No such proxy.\n\n");
        let mut s = cli.session(AdminLevel::User);
        assert_eq!(
            s.feed_line("show stat www x y"),
            format!("{}\n", stat_header())
        );
        let mut s = cli.session(AdminLevel::User);
        assert!(
            s.feed_line("show stat www 1 -1")
                .contains("\nwww,FRONTEND,")
        );
        let mut s = cli.session(AdminLevel::User);
        let out = s.feed_line("show stat domain proxy www 1 -1");
        assert!(out.contains("\nwww,FRONTEND,"), "{out}");
        for other in [
            "show stat domain dns",
            "show stat domain foo",
            "show stat domain",
        ] {
            let mut s = cli.session(AdminLevel::User);
            assert_eq!(
                s.feed_line(other),
                "Invalid statistics domain.\n\n",
                "{other}"
            );
        }
        let mut s = cli.session(AdminLevel::User);
        let json = s.feed_line("show stat json");
        assert!(json.starts_with("[[{\"objType\":\"Frontend\""), "{json}");
        assert!(json.ends_with("}]]\n\n"), "{json}");
        let mut s = cli.session(AdminLevel::User);
        let typed = s.feed_line("show stat -1 1 -1 typed");
        assert!(
            typed.starts_with("F.1.0.0.pxname.1:KNS:str:www\n"),
            "{typed}"
        );
        assert!(
            typed.contains("\nF.1.0.48.req_tot.1:MCP:u64:2\n"),
            "{typed}"
        );
        assert!(typed.ends_with("\n\n"));
    }

    #[test]
    fn without_a_source_show_stat_is_the_header() {
        let cli = Cli::new(MapRegistry::new());
        let mut s = cli.session(AdminLevel::User);
        assert_eq!(s.feed_line("show stat"), format!("{}\n", stat_header()));
        let mut s = cli.session(AdminLevel::User);
        assert_eq!(s.feed_line("show info"), "\n");
    }
}
