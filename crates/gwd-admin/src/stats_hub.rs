//! Where `show stat`, `show info`, Prometheus and the stats page read
//! from: functions the proxy registers, called once per command.

use std::sync::Arc;
use std::time::Instant;

use gwd_stats::RegistrySnapshot;
use gwd_stats_render::{
    ProcessFacts, ProcessInfo, ProcessResources, RatesSnapshot, StatsIds, render_info_with,
};

type RatesFn = Arc<dyn Fn() -> RatesSnapshot + Send + Sync>;
type ResourcesFn = Arc<dyn Fn() -> ProcessResources + Send + Sync>;

/// Where `show stat` / `show info` read from: a snapshot function (called
/// once per command; its rows carry their ids), the `rhttp@` servers and
/// backend algorithms ([`StatsIds`]), the process facts and,
/// optionally, a rates function.
#[derive(Clone)]
pub struct StatsSource {
    snapshot: Arc<dyn Fn() -> RegistrySnapshot + Send + Sync>,
    rates: Option<RatesFn>,
    process: Option<Arc<dyn Fn() -> ProcessFacts + Send + Sync>>,
    resources: Option<ResourcesFn>,
    ids: StatsIds,
    info: ProcessInfo,
}

impl std::fmt::Debug for StatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsSource")
            .field("ids", &self.ids)
            .field("info", &self.info)
            .field("rates", &self.rates.is_some())
            .finish_non_exhaustive()
    }
}

impl StatsSource {
    /// A source taking snapshots with `snapshot` (e.g.
    /// `move || proxy.stats.snapshot()`).
    pub fn new(
        snapshot: impl Fn() -> RegistrySnapshot + Send + Sync + 'static,
        ids: StatsIds,
        info: ProcessInfo,
    ) -> Self {
        StatsSource {
            snapshot: Arc::new(snapshot),
            rates: None,
            process: None,
            resources: None,
            ids,
            info,
        }
    }

    /// Also reads rates and timing averages from `rates` (called once per
    /// command, after the snapshot).
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

    /// Fresh process resources; all unknown without a resources function.
    pub fn resources(&self) -> ProcessResources {
        self.resources.as_ref().map(|f| f()).unwrap_or_default()
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

    /// `show info` for this source, at `now`.
    pub fn info_text(&self, now: Instant) -> String {
        let facts = self.process.as_ref().map(|f| f());
        render_info_with(&self.info, &self.snapshot(), facts.as_ref(), now)
    }

    /// A fresh snapshot.
    pub fn snapshot(&self) -> RegistrySnapshot {
        (self.snapshot)()
    }

    /// Fresh rates, if a rates function was given.
    pub fn rates(&self) -> Option<RatesSnapshot> {
        self.rates.as_ref().map(|f| f())
    }

    /// The `rhttp@` servers and backend algorithms.
    pub fn ids(&self) -> &StatsIds {
        &self.ids
    }

    /// The process facts.
    pub fn info(&self) -> &ProcessInfo {
        &self.info
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
        let cli = Cli::new(MapRegistry::new()).with_stats(StatsSource::new(
            move || r.snapshot(),
            StatsIds::default(),
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
        let mut s = cli.session(AdminLevel::User);
        assert!(s.feed_line("show stat www").starts_with("Require 'iid'"));
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
