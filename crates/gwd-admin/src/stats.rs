//! `show stat` and `show info`: HAProxy's CSV statistics and process
//! information, rendered from a [`gwd_stats::RegistrySnapshot`].
//!
//! Rendering is pure: a snapshot, the proxies' configured ids and the
//! process facts go in, text comes out, so the exact bytes are unit tested.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gwd_config::Config;
use gwd_stats::{ProxySnapshot, RegistrySnapshot, ServerSnapshot};

/// HAProxy's `show stat` columns, in HAProxy's order (management guide,
/// "CSV format"), up to `uweight`. Columns gwd has no value for are left
/// empty, as HAProxy does for fields that do not apply.
pub const STAT_FIELDS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
];

/// The `type` column: what a row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowType {
    /// A frontend (`svname` `FRONTEND`, type 0).
    Frontend = 0,
    /// A backend (`svname` `BACKEND`, type 1).
    Backend = 1,
    /// A server (type 2).
    Server = 2,
}

/// The configured ids of every proxy and server (`iid`, `sid`), in the
/// registry's order. Missing entries fall back to position + 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsIds {
    /// Frontend ids, in registry order.
    pub frontends: Vec<u32>,
    /// Backend ids with their servers' ids, in registry order.
    pub backends: Vec<(u32, Vec<u32>)>,
}

impl StatsIds {
    /// The ids a configuration gives its frontends, backends and servers
    /// (the order gwd-http registers them in).
    pub fn from_config(config: &Config) -> Self {
        StatsIds {
            frontends: config.frontends.iter().map(|f| f.id).collect(),
            backends: config
                .backends
                .iter()
                .map(|b| (b.id, b.servers.iter().map(|s| s.id).collect()))
                .collect(),
        }
    }

    fn frontend(&self, i: usize) -> u32 {
        self.frontends.get(i).copied().unwrap_or(i as u32 + 1)
    }

    fn backend(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(i as u32 + 1, |b| b.0)
    }

    fn server(&self, b: usize, s: usize) -> u32 {
        self.backends
            .get(b)
            .and_then(|b| b.1.get(s).copied())
            .unwrap_or(s as u32 + 1)
    }
}

/// Facts about the running process for `show info`.
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
}

impl ProcessInfo {
    /// This process: `name` and `version` as given, its pid, `nbthread`
    /// worker threads, started at `started`.
    pub fn current(name: &str, version: &str, nbthread: usize, started: Instant) -> Self {
        ProcessInfo {
            name: name.into(),
            version: version.into(),
            release_date: None,
            pid: std::process::id(),
            nbthread,
            started,
        }
    }
}

/// Where `show stat` / `show info` read from: a snapshot function (called
/// once per command), the configured ids and the process facts.
#[derive(Clone)]
pub struct StatsSource {
    snapshot: Arc<dyn Fn() -> RegistrySnapshot + Send + Sync>,
    ids: StatsIds,
    info: ProcessInfo,
}

impl std::fmt::Debug for StatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsSource")
            .field("ids", &self.ids)
            .field("info", &self.info)
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
            ids,
            info,
        }
    }

    /// A fresh snapshot.
    pub fn snapshot(&self) -> RegistrySnapshot {
        (self.snapshot)()
    }

    /// The configured ids.
    pub fn ids(&self) -> &StatsIds {
        &self.ids
    }

    /// The process facts.
    pub fn info(&self) -> &ProcessInfo {
        &self.info
    }
}

/// A `show stat` filter: `<iid|proxy> <type mask> <sid>` (HAProxy: type
/// mask 1 frontends, 2 backends, 4 servers, -1 all; sid -1 all servers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatFilter {
    /// Proxy id or name; `None` (or `-1`): every proxy.
    pub proxy: Option<String>,
    /// Bit mask of row types.
    pub types: i64,
    /// Server id; `-1` every server.
    pub sid: i64,
}

impl Default for StatFilter {
    fn default() -> Self {
        StatFilter {
            proxy: None,
            types: -1,
            sid: -1,
        }
    }
}

impl StatFilter {
    fn proxy_matches(&self, name: &str, id: u32) -> bool {
        match &self.proxy {
            None => true,
            Some(p) if p == "-1" => true,
            Some(p) => p == name || p.parse::<u32>() == Ok(id),
        }
    }
    fn wants(&self, t: RowType) -> bool {
        self.types & (1 << t as u32) != 0
    }
}

/// One CSV field: quoted when it holds a comma, quote or line break.
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Builds one row: every column empty, then set by name.
struct Row(Vec<String>);

impl Row {
    fn new() -> Self {
        Row(vec![String::new(); STAT_FIELDS.len()])
    }
    fn set(&mut self, field: &str, v: impl ToString) {
        let i = STAT_FIELDS
            .iter()
            .position(|f| *f == field)
            .expect("a known column");
        self.0[i] = v.to_string();
    }
    fn render(&self, out: &mut String) {
        for v in &self.0 {
            out.push_str(&csv(v));
            out.push(',');
        }
        out.push('\n');
    }
}

/// Columns every row type shares.
fn common(row: &mut Row, px: &str, sv: &str, c: &ProxySnapshot, t: RowType, iid: u32, sid: u32) {
    row.set("pxname", px);
    row.set("svname", sv);
    row.set("scur", c.sessions.cur);
    row.set("smax", c.sessions.max);
    row.set("stot", c.sessions.total);
    row.set("bin", c.bytes_in);
    row.set("bout", c.bytes_out);
    row.set("dresp", 0);
    row.set("pid", 1);
    row.set("iid", iid);
    row.set("sid", sid);
    row.set("type", t as u8);
    row.set("hrsp_1xx", c.responses.r1xx);
    row.set("hrsp_2xx", c.responses.r2xx);
    row.set("hrsp_3xx", c.responses.r3xx);
    row.set("hrsp_4xx", c.responses.r4xx);
    row.set("hrsp_5xx", c.responses.r5xx);
    row.set("hrsp_other", c.responses.other);
    row.set("req_tot", c.requests);
    row.set("mode", "http");
}

fn frontend_row(name: &str, c: &ProxySnapshot, iid: u32) -> Row {
    let mut r = Row::new();
    common(&mut r, name, "FRONTEND", c, RowType::Frontend, iid, 0);
    r.set("dreq", c.denied);
    r.set("ereq", c.req_errors);
    r.set("status", "OPEN");
    r.set("conn_tot", c.conns.total);
    r
}

fn server_row(px: &str, name: &str, s: &ServerSnapshot, iid: u32, sid: u32) -> Row {
    let c = &s.counters;
    let mut r = Row::new();
    common(&mut r, px, name, c, RowType::Server, iid, sid);
    // gwd opens one server session per request sent to the server; the
    // proxy may not count server requests separately.
    r.set("req_tot", c.requests.max(c.sessions.total));
    r.set("qcur", c.queue.cur);
    r.set("qmax", c.queue.max);
    r.set("econ", c.conn_errors);
    r.set("eresp", c.resp_errors);
    r.set("wretr", 0);
    r.set("wredis", 0);
    // No health checks in gwd: HAProxy's wording for an unchecked server.
    r.set("status", "no check");
    r.set("weight", 1);
    r.set("act", 1);
    r.set("bck", 0);
    r.set("lbtot", c.sessions.total);
    r.set("connect", s.connect_attempts);
    r.set("reuse", s.reuses);
    r.set("uweight", 1);
    r
}

fn backend_row(name: &str, c: &ProxySnapshot, servers: &[ServerSnapshot], iid: u32) -> Row {
    let mut r = Row::new();
    common(&mut r, name, "BACKEND", c, RowType::Backend, iid, 0);
    let n = servers.len();
    r.set("qcur", c.queue.cur);
    r.set("qmax", c.queue.max);
    r.set("dreq", c.denied);
    r.set("econ", c.conn_errors);
    r.set("eresp", c.resp_errors);
    r.set("wretr", 0);
    r.set("wredis", 0);
    r.set("status", if n > 0 { "UP" } else { "DOWN" });
    r.set("weight", n);
    r.set("act", n);
    r.set("bck", 0);
    r.set("lbtot", c.sessions.total);
    r.set("algo", "roundrobin");
    r.set(
        "connect",
        servers.iter().map(|s| s.connect_attempts).sum::<u64>(),
    );
    r.set("reuse", servers.iter().map(|s| s.reuses).sum::<u64>());
    r.set("uweight", n);
    r
}

/// The `show stat` header line.
pub fn stat_header() -> String {
    let mut s = String::from("# ");
    for f in STAT_FIELDS {
        s.push_str(f);
        s.push(',');
    }
    s.push('\n');
    s
}

/// `show stat` in HAProxy's CSV: the header, then per proxy in order its
/// FRONTEND row, then (for a backend) its servers and its BACKEND row. A
/// frontend and a backend with the same name (a `listen` section) are one
/// proxy; backends without a frontend of their name follow the frontends.
///
/// ```
/// use gwd_admin::{StatFilter, StatsIds, render_stat_csv};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// reg.add_frontend("www").request();
/// let (b, _) = reg.add_backend("app");
/// reg.add_server(b, "s1").unwrap();
/// let csv = render_stat_csv(&reg.snapshot(), &StatsIds::default(), &StatFilter::default());
/// let rows: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/").leak() as &str).collect();
/// assert_eq!(rows, ["www/FRONTEND", "app/s1", "app/BACKEND"]);
/// ```
pub fn render_stat_csv(snap: &RegistrySnapshot, ids: &StatsIds, filter: &StatFilter) -> String {
    let mut out = stat_header();
    let mut done = vec![false; snap.backends.len()];
    let backend_rows = |out: &mut String, bi: usize| {
        let b = &snap.backends[bi];
        let iid = ids.backend(bi);
        if !filter.proxy_matches(&b.name, iid) {
            return;
        }
        if filter.wants(RowType::Server) {
            for (si, s) in b.servers.iter().enumerate() {
                let sid = ids.server(bi, si);
                if filter.sid == -1 || filter.sid == i64::from(sid) {
                    server_row(&b.name, &s.name, &s.counters, iid, sid).render(out);
                }
            }
        }
        if filter.wants(RowType::Backend) {
            let servers: Vec<ServerSnapshot> = b.servers.iter().map(|s| s.counters).collect();
            backend_row(&b.name, &b.counters, &servers, iid).render(out);
        }
    };
    for (fi, f) in snap.frontends.iter().enumerate() {
        let iid = ids.frontend(fi);
        if filter.wants(RowType::Frontend) && filter.proxy_matches(&f.name, iid) {
            frontend_row(&f.name, &f.counters, iid).render(&mut out);
        }
        if let Some(bi) = snap.backends.iter().position(|b| b.name == f.name)
            && !done[bi]
        {
            done[bi] = true;
            backend_rows(&mut out, bi);
        }
    }
    for (bi, d) in done.iter().enumerate() {
        if !d {
            backend_rows(&mut out, bi);
        }
    }
    out
}

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

/// `show info`: `Name: value` lines, HAProxy's names, for what gwd knows.
/// Connection and request totals are summed over the frontends.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gwd_admin::{ProcessInfo, render_info};
/// use gwd_stats::Registry;
///
/// let t0 = Instant::now();
/// let info = ProcessInfo::current("gwd", "0.1.0", 4, t0);
/// let out = render_info(&info, &Registry::new().snapshot(), t0 + Duration::from_secs(3725));
/// assert!(out.contains("Uptime: 0d 1h02m05s\nUptime_sec: 3725\n"));
/// ```
pub fn render_info(info: &ProcessInfo, snap: &RegistrySnapshot, now: Instant) -> String {
    let up = now.saturating_duration_since(info.started);
    let sum = |f: fn(&ProxySnapshot) -> u64| -> u64 {
        snap.frontends.iter().map(|n| f(&n.counters)).sum()
    };
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
    line("CurrConns", &sum(|c| c.conns.cur));
    line("CumConns", &sum(|c| c.conns.total));
    line("CumReq", &sum(|c| c.requests));
    line("MaxConnReached", &sum(|c| c.conns.max));
    line("CurrSessions", &sum(|c| c.sessions.cur));
    line("CumSessions", &sum(|c| c.sessions.total));
    line("Stopping", &0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use gwd_stats::Registry;

    fn col(line: &str, name: &str) -> String {
        let i = STAT_FIELDS.iter().position(|f| *f == name).unwrap();
        line.split(',').nth(i).unwrap().to_string()
    }

    #[test]
    fn header_is_haproxys() {
        let h = stat_header();
        assert!(h.starts_with(
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,\
             wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,\
             sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,\
             check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,\
             req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,\
             lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,\
             agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,\
             agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,\
             intercepted,dcon,dses,wrew,connect,reuse,"
        ));
        assert!(h.ends_with(",uweight,\n"));
        assert_eq!(STAT_FIELDS.len(), 100);
    }

    fn sample() -> (Registry, StatsIds) {
        let mut reg = Registry::new();
        let fe = reg.add_frontend("www");
        let (b0, be) = reg.add_backend("app");
        let s1 = reg.add_server(b0, "s1").unwrap();
        let _s2 = reg.add_server(b0, "s2").unwrap();
        let (b1, _) = reg.add_backend("www");
        reg.add_server(b1, "w1").unwrap();
        reg.add_backend("empty");
        {
            let _c = fe.conn_opened();
            let _s = fe.session_opened();
            let _held = be.session_opened();
            for _ in 0..5 {
                fe.request();
                fe.response(200);
                be.request();
                be.response(200);
                s1.request();
                s1.response(200);
            }
            fe.request();
            fe.response(503);
            fe.denied();
            fe.bytes_in(100);
            fe.bytes_out(2000);
            s1.connect_attempt();
            s1.reused();
            s1.connection_error();
            let csv = render_stat_csv(
                &reg.snapshot(),
                &StatsIds::default(),
                &StatFilter::default(),
            );
            let be_line = csv.lines().find(|l| l.starts_with("app,BACKEND,")).unwrap();
            assert_eq!(col(be_line, "scur"), "1");
        }
        let ids = StatsIds {
            frontends: vec![3],
            backends: vec![(7, vec![10, 11]), (3, vec![1]), (9, vec![])],
        };
        (reg, ids)
    }

    #[test]
    fn rows_in_haproxy_order_with_values() {
        let (reg, ids) = sample();
        let csv = render_stat_csv(&reg.snapshot(), &ids, &StatFilter::default());
        let lines: Vec<&str> = csv.lines().collect();
        let names: Vec<String> = lines[1..]
            .iter()
            .map(|l| {
                format!(
                    "{}/{}/{}",
                    col(l, "pxname"),
                    col(l, "svname"),
                    col(l, "type")
                )
            })
            .collect();
        // `www` is a listen (frontend and backend of one name): its backend
        // rows follow its frontend row; other backends follow.
        assert_eq!(
            names,
            [
                "www/FRONTEND/0",
                "www/w1/2",
                "www/BACKEND/1",
                "app/s1/2",
                "app/s2/2",
                "app/BACKEND/1",
                "empty/BACKEND/1"
            ]
        );
        for l in &lines {
            assert_eq!(l.split(',').count(), STAT_FIELDS.len() + 1, "{l}");
            assert!(l.ends_with(','));
        }
        let fe = lines[1];
        assert!(
            fe.starts_with(
                "www,FRONTEND,,,0,1,,1,100,2000,1,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,,,,,,,0,5,0,0,1,0,,,,6,"
            ),
            "{fe}"
        );
        assert_eq!(
            (col(fe, "mode"), col(fe, "conn_tot")),
            ("http".into(), "1".into())
        );
        // Past req_tot, only mode and conn_tot have values on a frontend.
        assert_eq!(fe.split(',').skip(49).filter(|v| !v.is_empty()).count(), 2);
        let s1 = lines[4];
        assert_eq!(col(s1, "status"), "no check");
        assert_eq!(
            (col(s1, "iid"), col(s1, "sid"), col(s1, "req_tot")),
            ("7".into(), "10".into(), "5".into())
        );
        assert_eq!(
            (
                col(s1, "hrsp_2xx"),
                col(s1, "econ"),
                col(s1, "connect"),
                col(s1, "reuse")
            ),
            ("5".into(), "1".into(), "1".into(), "1".into())
        );
        let be = lines[6];
        assert_eq!(
            (
                col(be, "status"),
                col(be, "act"),
                col(be, "req_tot"),
                col(be, "stot")
            ),
            ("UP".into(), "2".into(), "5".into(), "1".into())
        );
        assert_eq!((col(be, "scur"), col(be, "smax")), ("0".into(), "1".into()));
        assert_eq!(
            (col(be, "connect"), col(be, "algo")),
            ("1".into(), "roundrobin".into())
        );
        assert_eq!(col(lines[7], "status"), "DOWN");
        assert_eq!(col(lines[7], "iid"), "9");
    }

    #[test]
    fn filters_by_proxy_type_and_sid() {
        let (reg, ids) = sample();
        let snap = reg.snapshot();
        let f = |p: &str, t: i64, sid: i64| {
            render_stat_csv(
                &snap,
                &ids,
                &StatFilter {
                    proxy: Some(p.into()),
                    types: t,
                    sid,
                },
            )
            .lines()
            .skip(1)
            .map(|l| format!("{}/{}", col(l, "pxname"), col(l, "svname")))
            .collect::<Vec<_>>()
        };
        assert_eq!(f("app", 4, 11), ["app/s2"]);
        assert_eq!(f("7", 2, -1), ["app/BACKEND"]);
        assert_eq!(f("www", 1, -1), ["www/FRONTEND"]);
        assert_eq!(f("-1", 1, -1), ["www/FRONTEND"]);
        assert!(f("nope", -1, -1).is_empty());
    }

    #[test]
    fn csv_quotes_awkward_names() {
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv("ab"), "ab");
    }

    #[test]
    fn info_sums_frontends() {
        let (reg, _) = sample();
        let t0 = Instant::now();
        let mut info = ProcessInfo::current("gwd", "1.2.3", 2, t0);
        info.pid = 42;
        let out = render_info(&info, &reg.snapshot(), t0 + Duration::from_secs(90061));
        assert_eq!(
            out,
            "Name: gwd\nVersion: 1.2.3\nNbthread: 2\nNbproc: 1\nProcess_num: 1\nPid: 42\n\
             Uptime: 1d 1h01m01s\nUptime_sec: 90061\nCurrConns: 0\nCumConns: 1\nCumReq: 6\n\
             MaxConnReached: 1\nCurrSessions: 0\nCumSessions: 1\nStopping: 0\n"
        );
        info.release_date = Some("2026/11/27".into());
        assert!(
            render_info(&info, &reg.snapshot(), t0)
                .contains("Version: 1.2.3\nRelease_date: 2026/11/27\n")
        );
    }
}

#[cfg(test)]
mod cli_tests {
    use super::*;
    use crate::Cli;
    use gwd_config::{AdminLevel, MapRegistry};
    use gwd_stats::Registry;

    #[test]
    fn user_level_reads_stats_and_info() {
        let mut reg = Registry::new();
        let fe = reg.add_frontend("www");
        fe.request();
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
        fe.request();
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
        assert_eq!(
            s.feed_line("show stat json"),
            "Only the CSV format is supported.\n\n"
        );
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
