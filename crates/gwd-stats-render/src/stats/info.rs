//! `show info`: the process's facts and totals, in HAProxy's fields.

use super::*;

/// Facts about the running process for `show info`, the stats page and
/// Prometheus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `Name` (`gwd`).
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Release_date`; omitted when `None`.
    pub release_date: Option<String>,
    /// `Pid`.
    pub pid: u32,
    /// `Nbthread`: worker threads.
    pub nbthread: usize,
    /// When the process started (for `Uptime`).
    pub started: Instant,
    /// The same moment on the wall clock
    /// (`gwd_process_start_time_seconds`); `None` when unknown.
    pub started_wall: Option<SystemTime>,
}

impl ProcessInfo {
    /// This process: `name` and `version` as given, its pid, `nbthread`
    /// worker threads, started at `started` (its wall-clock time is derived
    /// from the clocks now).
    pub fn current(name: &str, version: &str, nbthread: usize, started: Instant) -> Self {
        ProcessInfo {
            name: name.into(),
            version: version.into(),
            release_date: None,
            pid: std::process::id(),
            nbthread,
            started,
            started_wall: SystemTime::now().checked_sub(started.elapsed()),
        }
    }
}

/// Per-second rates and timing averages of one row, in HAProxy's units:
/// gwd-stats' [`gwd_stats::RateSnapshot`] itself (its fields are the
/// `show stat` columns). `None` leaves the column empty.
pub type RowRates = gwd_stats::RateSnapshot;

/// Rates and timings of every row, in registry order (the shape of
/// [`RegistrySnapshot`]): gwd-stats' [`gwd_stats::RegistryRates`].
/// Missing entries leave their columns empty.
pub type RatesSnapshot = gwd_stats::RegistryRates;

/// HAProxy's uptime format: `<d>d <h>h<mm>m<ss>s`.
pub fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d {}h{:02}m{:02}s",
        s / 86400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// Sums of the frontends' counters: what `show info`, the stats page and
/// Prometheus report for the whole process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessTotals {
    /// Client connections open now.
    pub cur_conns: u64,
    /// Client connections ever accepted.
    pub cum_conns: u64,
    /// The sum of the frontends' highest concurrent connections.
    pub max_conns: u64,
    /// Requests received.
    pub cum_req: u64,
    /// Sessions now.
    pub cur_sessions: u64,
    /// Sessions ever.
    pub cum_sessions: u64,
}

impl ProcessTotals {
    /// Sums over `snap`'s frontends, and what frontends a reload removed
    /// or renamed counted (their connections still open, their totals).
    pub fn of(snap: &RegistrySnapshot) -> Self {
        let r = &snap.retired;
        let mut t = ProcessTotals {
            cur_conns: r.cur_conns,
            cum_conns: r.cum_conns,
            max_conns: 0,
            cum_req: r.cum_req,
            cur_sessions: r.cur_sessions,
            cum_sessions: r.cum_sessions,
        };
        for f in &snap.frontends {
            let c = &f.counters;
            t.cur_conns += c.conns.cur;
            t.cum_conns += c.conns.total;
            t.max_conns += c.conns.max;
            t.cum_req += c.requests;
            t.cur_sessions += c.sessions.cur;
            t.cum_sessions += c.sessions.total;
        }
        t
    }
}

/// `show info`: `Name: value` lines, HAProxy's names, for what gwd knows.
/// Connection and request totals are summed over the frontends, with
/// what frontends a reload removed or renamed counted
/// ([`gwd_stats::RetiredTotals`]).
///
/// ```
/// use std::time::{Duration, Instant};
/// use gwd_stats_render::{ProcessInfo, render_info};
/// use gwd_stats::Registry;
///
/// let t0 = Instant::now();
/// let info = ProcessInfo::current("gwd", "0.1.0", 4, t0);
/// let out = render_info(&info, &Registry::new().snapshot(), t0 + Duration::from_secs(3725));
/// assert!(out.contains("Uptime: 0d 1h02m05s\nUptime_sec: 3725\n"));
/// ```
pub fn render_info(info: &ProcessInfo, snap: &RegistrySnapshot, now: Instant) -> String {
    render_info_with(info, snap, None, now)
}

/// Process-wide facts `show info` adds when it has them: connection and
/// request rates over the last second (and the highest one-second
/// counts), the highest number of concurrent connections, and memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessFacts {
    /// `ConnRate`: connections accepted over the last second.
    pub conn_rate: u64,
    /// `MaxConnRate`: the most connections accepted in one second.
    pub conn_rate_max: u64,
    /// `ReqRate`: HTTP requests over the last second, all frontends.
    pub req_rate: u64,
    /// `MaxConn_seen` (gwd): the most concurrent connections so far.
    pub max_conns: u64,
    /// `DroppedLogs`: log lines dropped because the log queue was full.
    pub dropped_logs: u64,
    /// `Rss_bytes` (gwd): resident memory of the process, when known.
    pub rss_bytes: Option<u64>,
}

/// [`render_info`] plus the lines of [`ProcessFacts`], after HAProxy's
/// fields.
pub fn render_info_with(
    info: &ProcessInfo,
    snap: &RegistrySnapshot,
    facts: Option<&ProcessFacts>,
    now: Instant,
) -> String {
    let up = now.saturating_duration_since(info.started);
    let t = ProcessTotals::of(snap);
    let mut s = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{k}: {v}");
    };
    line("Name", &info.name);
    line("Version", &info.version);
    if let Some(d) = &info.release_date {
        line("Release_date", d);
    }
    line("Nbthread", &info.nbthread);
    line("Nbproc", &1);
    line("Process_num", &1);
    line("Pid", &info.pid);
    line("Uptime", &format_uptime(up));
    line("Uptime_sec", &up.as_secs());
    line("CurrConns", &t.cur_conns);
    line("CumConns", &t.cum_conns);
    line("CumReq", &t.cum_req);
    line("MaxConnReached", &t.max_conns);
    line("CurrSessions", &t.cur_sessions);
    line("CumSessions", &t.cum_sessions);
    line("Stopping", &0);
    if let Some(f) = facts {
        line("ConnRate", &f.conn_rate);
        line("MaxConnRate", &f.conn_rate_max);
        line("ReqRate", &f.req_rate);
        line("MaxConn_seen", &f.max_conns);
        line("DroppedLogs", &f.dropped_logs);
        if let Some(rss) = f.rss_bytes {
            line("Rss_bytes", &rss);
            line("Rss_MB", &(rss >> 20));
        }
    }
    s
}
