//! `show stat` and `show info`: HAProxy's statistics (CSV, typed and JSON)
//! and process information, rendered from a [`gwd_stats::RegistrySnapshot`].
//!
//! # Model
//!
//! A snapshot, the proxies' configured ids ([`StatsIds`]) and optional
//! extra facts ([`StatExtra`]: rates and timings, connection pools,
//! tunnels) become a list of [`StatRow`]s: one per frontend, server and
//! backend, in HAProxy's order, each holding a value or nothing for every
//! one of the [`STAT_FIELDS`]. Every output format (CSV, typed, JSON, the
//! HTML page, Prometheus) is rendered from the same rows or the same
//! snapshot, so they never disagree. A column with no value is empty in
//! CSV and absent from typed and JSON output, as in HAProxy.
//!
//! Rendering is pure: no clock is read (time comes in as arguments) and no
//! counter is changed, so the exact bytes are unit tested.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gwd_config::Config;
use gwd_stats::{ProxySnapshot, RegistrySnapshot, ServerSnapshot};

use crate::runtime::{PoolRow, TunnelRow};
use crate::servers::ServerRow;

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

/// Where a value comes from (the first tag of HAProxy's typed output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `M`: a measure that changes over time.
    Metric,
    /// `S`: a discrete state (`UP`, a pid, ...).
    Status,
    /// `K`: an identifier unique in its class (names, ids).
    Key,
    /// `C`: a value from the configuration.
    Config,
    /// `P`: a fact about the product (name, version).
    Product,
}

impl Origin {
    /// The one-letter tag of typed output.
    pub fn tag(self) -> char {
        match self {
            Origin::Metric => 'M',
            Origin::Status => 'S',
            Origin::Key => 'K',
            Origin::Config => 'C',
            Origin::Product => 'P',
        }
    }

    /// The word used by JSON output (`tags.origin`).
    pub fn json_name(self) -> &'static str {
        match self {
            Origin::Metric => "Metric",
            Origin::Status => "Status",
            Origin::Key => "Key",
            Origin::Config => "Config",
            Origin::Product => "Product",
        }
    }
}

/// What kind of quantity a value is (the second tag), which tells an
/// aggregator how to combine values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Nature {
    /// `G`: an instant measure (current sessions).
    Gauge,
    /// `L`: a limit.
    Limit,
    /// `m`: a minimum.
    Min,
    /// `M`: a maximum (high-water mark).
    Max,
    /// `R`: an event rate.
    Rate,
    /// `C`: a cumulative counter.
    Counter,
    /// `D`: a duration.
    Duration,
    /// `A`: an age since an event.
    Age,
    /// `T`: a date.
    Time,
    /// `N`: a name.
    Name,
    /// `O`: free text output.
    Output,
    /// `a`: an average.
    Avg,
}

impl Nature {
    /// The one-letter tag of typed output.
    pub fn tag(self) -> char {
        match self {
            Nature::Gauge => 'G',
            Nature::Limit => 'L',
            Nature::Min => 'm',
            Nature::Max => 'M',
            Nature::Rate => 'R',
            Nature::Counter => 'C',
            Nature::Duration => 'D',
            Nature::Age => 'A',
            Nature::Time => 'T',
            Nature::Name => 'N',
            Nature::Output => 'O',
            Nature::Avg => 'a',
        }
    }

    /// The word used by JSON output (`tags.nature`).
    pub fn json_name(self) -> &'static str {
        match self {
            Nature::Gauge => "Gauge",
            Nature::Limit => "Limit",
            Nature::Min => "Min",
            Nature::Max => "Max",
            Nature::Rate => "Rate",
            Nature::Counter => "Counter",
            Nature::Duration => "Duration",
            Nature::Age => "Age",
            Nature::Time => "Time",
            Nature::Name => "Name",
            Nature::Output => "Output",
            Nature::Avg => "Avg",
        }
    }
}

/// How far a value is valid (the third tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `P`: this process only.
    Process,
    /// `S`: every process started from the same configuration.
    Service,
    /// `s`: the whole system.
    System,
    /// `C`: a cluster of peers.
    Cluster,
}

impl Scope {
    /// The one-letter tag of typed output.
    pub fn tag(self) -> char {
        match self {
            Scope::Process => 'P',
            Scope::Service => 'S',
            Scope::System => 's',
            Scope::Cluster => 'C',
        }
    }

    /// The word used by JSON output (`tags.scope`).
    pub fn json_name(self) -> &'static str {
        match self {
            Scope::Process => "Process",
            Scope::Service => "Service",
            Scope::System => "System",
            Scope::Cluster => "Cluster",
        }
    }
}

/// How a value is encoded (typed output's type column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Signed 32-bit integer.
    S32,
    /// Signed 64-bit integer.
    S64,
    /// Unsigned 32-bit integer (larger values saturate).
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// A string.
    Str,
}

impl FieldType {
    /// `s32`, `s64`, `u32`, `u64` or `str`.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::S32 => "s32",
            FieldType::S64 => "s64",
            FieldType::U32 => "u32",
            FieldType::U64 => "u64",
            FieldType::Str => "str",
        }
    }
}

/// The description of one `show stat` column: its name and the tags and
/// type typed and JSON output give its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMeta {
    /// The CSV column name.
    pub name: &'static str,
    /// Where values come from.
    pub origin: Origin,
    /// What kind of quantity they are.
    pub nature: Nature,
    /// How far they are valid.
    pub scope: Scope,
    /// Their encoding.
    pub ty: FieldType,
}

impl FieldMeta {
    /// The three tag letters of typed output (`KNS`, `MCP`, ...).
    pub fn tags(&self) -> String {
        [self.origin.tag(), self.nature.tag(), self.scope.tag()]
            .iter()
            .collect()
    }
}

const fn fm(name: &'static str, o: Origin, n: Nature, s: Scope, ty: FieldType) -> FieldMeta {
    FieldMeta {
        name,
        origin: o,
        nature: n,
        scope: s,
        ty,
    }
}

use FieldType::{S32, Str, U32, U64};
use Nature as N;
use Origin as O;
use Scope as Sc;

/// Tags and types of [`STAT_FIELDS`], position for position. They follow
/// what HAProxy reports for each column (one set per column; HAProxy
/// varies a few by row type, e.g. `act` is a status on servers).
pub const STAT_FIELD_META: [FieldMeta; 100] = [
    fm("pxname", O::Key, N::Name, Sc::Service, Str),
    fm("svname", O::Key, N::Name, Sc::Service, Str),
    fm("qcur", O::Metric, N::Gauge, Sc::Process, U32),
    fm("qmax", O::Metric, N::Max, Sc::Process, U32),
    fm("scur", O::Metric, N::Gauge, Sc::Process, U32),
    fm("smax", O::Metric, N::Max, Sc::Process, U32),
    fm("slim", O::Config, N::Limit, Sc::Process, U32),
    fm("stot", O::Metric, N::Counter, Sc::Process, U64),
    fm("bin", O::Metric, N::Counter, Sc::Process, U64),
    fm("bout", O::Metric, N::Counter, Sc::Process, U64),
    fm("dreq", O::Metric, N::Counter, Sc::Process, U64),
    fm("dresp", O::Metric, N::Counter, Sc::Process, U64),
    fm("ereq", O::Metric, N::Counter, Sc::Process, U64),
    fm("econ", O::Metric, N::Counter, Sc::Process, U64),
    fm("eresp", O::Metric, N::Counter, Sc::Process, U64),
    fm("wretr", O::Metric, N::Counter, Sc::Process, U64),
    fm("wredis", O::Metric, N::Counter, Sc::Process, U64),
    fm("status", O::Status, N::Gauge, Sc::Process, Str),
    fm("weight", O::Metric, N::Avg, Sc::Process, U32),
    fm("act", O::Status, N::Gauge, Sc::Process, U32),
    fm("bck", O::Status, N::Gauge, Sc::Process, U32),
    fm("chkfail", O::Metric, N::Counter, Sc::Process, U64),
    fm("chkdown", O::Metric, N::Counter, Sc::Process, U64),
    fm("lastchg", O::Metric, N::Age, Sc::Process, U32),
    fm("downtime", O::Metric, N::Counter, Sc::Process, U32),
    fm("qlimit", O::Config, N::Gauge, Sc::Service, U32),
    fm("pid", O::Key, N::Gauge, Sc::Process, U32),
    fm("iid", O::Key, N::Gauge, Sc::Service, U32),
    fm("sid", O::Key, N::Gauge, Sc::Service, U32),
    fm("throttle", O::Metric, N::Avg, Sc::Process, U32),
    fm("lbtot", O::Metric, N::Counter, Sc::Process, U64),
    fm("tracked", O::Config, N::Name, Sc::Service, Str),
    fm("type", O::Config, N::Gauge, Sc::Service, U32),
    fm("rate", O::Metric, N::Rate, Sc::Process, U32),
    fm("rate_lim", O::Config, N::Limit, Sc::Process, U32),
    fm("rate_max", O::Metric, N::Max, Sc::Process, U32),
    fm("check_status", O::Metric, N::Output, Sc::Process, Str),
    fm("check_code", O::Metric, N::Output, Sc::Process, U32),
    fm("check_duration", O::Metric, N::Duration, Sc::Process, U64),
    fm("hrsp_1xx", O::Metric, N::Counter, Sc::Process, U64),
    fm("hrsp_2xx", O::Metric, N::Counter, Sc::Process, U64),
    fm("hrsp_3xx", O::Metric, N::Counter, Sc::Process, U64),
    fm("hrsp_4xx", O::Metric, N::Counter, Sc::Process, U64),
    fm("hrsp_5xx", O::Metric, N::Counter, Sc::Process, U64),
    fm("hrsp_other", O::Metric, N::Counter, Sc::Process, U64),
    fm("hanafail", O::Metric, N::Counter, Sc::Process, U64),
    fm("req_rate", O::Metric, N::Rate, Sc::Process, U32),
    fm("req_rate_max", O::Metric, N::Max, Sc::Process, U32),
    fm("req_tot", O::Metric, N::Counter, Sc::Process, U64),
    fm("cli_abrt", O::Metric, N::Counter, Sc::Process, U64),
    fm("srv_abrt", O::Metric, N::Counter, Sc::Process, U64),
    fm("comp_in", O::Metric, N::Counter, Sc::Process, U64),
    fm("comp_out", O::Metric, N::Counter, Sc::Process, U64),
    fm("comp_byp", O::Metric, N::Counter, Sc::Process, U64),
    fm("comp_rsp", O::Metric, N::Counter, Sc::Process, U64),
    fm("lastsess", O::Metric, N::Age, Sc::Process, S32),
    fm("last_chk", O::Metric, N::Output, Sc::Process, Str),
    fm("last_agt", O::Metric, N::Output, Sc::Process, Str),
    fm("qtime", O::Metric, N::Avg, Sc::Process, U32),
    fm("ctime", O::Metric, N::Avg, Sc::Process, U32),
    fm("rtime", O::Metric, N::Avg, Sc::Process, U32),
    fm("ttime", O::Metric, N::Avg, Sc::Process, U32),
    fm("agent_status", O::Metric, N::Output, Sc::Process, Str),
    fm("agent_code", O::Metric, N::Output, Sc::Process, U32),
    fm("agent_duration", O::Metric, N::Duration, Sc::Process, U64),
    fm("check_desc", O::Metric, N::Output, Sc::Process, Str),
    fm("agent_desc", O::Metric, N::Output, Sc::Process, Str),
    fm("check_rise", O::Config, N::Gauge, Sc::Service, U32),
    fm("check_fall", O::Config, N::Gauge, Sc::Service, U32),
    fm("check_health", O::Config, N::Gauge, Sc::Service, U32),
    fm("agent_rise", O::Config, N::Gauge, Sc::Service, U32),
    fm("agent_fall", O::Config, N::Gauge, Sc::Service, U32),
    fm("agent_health", O::Config, N::Gauge, Sc::Service, U32),
    fm("addr", O::Config, N::Gauge, Sc::Service, Str),
    fm("cookie", O::Config, N::Name, Sc::Service, Str),
    fm("mode", O::Config, N::Gauge, Sc::Service, Str),
    fm("algo", O::Config, N::Gauge, Sc::Service, Str),
    fm("conn_rate", O::Metric, N::Rate, Sc::Process, U32),
    fm("conn_rate_max", O::Metric, N::Max, Sc::Process, U32),
    fm("conn_tot", O::Metric, N::Counter, Sc::Process, U64),
    fm("intercepted", O::Metric, N::Counter, Sc::Process, U64),
    fm("dcon", O::Metric, N::Counter, Sc::Process, U64),
    fm("dses", O::Metric, N::Counter, Sc::Process, U64),
    fm("wrew", O::Metric, N::Counter, Sc::Process, U64),
    fm("connect", O::Metric, N::Counter, Sc::Process, U64),
    fm("reuse", O::Metric, N::Counter, Sc::Process, U64),
    fm("cache_lookups", O::Metric, N::Counter, Sc::Process, U64),
    fm("cache_hits", O::Metric, N::Counter, Sc::Process, U64),
    fm("srv_icur", O::Metric, N::Gauge, Sc::Process, U32),
    fm("src_ilim", O::Config, N::Limit, Sc::Process, U32),
    fm("qtime_max", O::Metric, N::Max, Sc::Process, U32),
    fm("ctime_max", O::Metric, N::Max, Sc::Process, U32),
    fm("rtime_max", O::Metric, N::Max, Sc::Process, U32),
    fm("ttime_max", O::Metric, N::Max, Sc::Process, U32),
    fm("eint", O::Metric, N::Counter, Sc::Process, U64),
    fm("idle_conn_cur", O::Metric, N::Gauge, Sc::Process, U32),
    fm("safe_conn_cur", O::Metric, N::Gauge, Sc::Process, U32),
    fm("used_conn_cur", O::Metric, N::Gauge, Sc::Process, U32),
    fm("need_conn_est", O::Metric, N::Gauge, Sc::Process, U32),
    fm("uweight", O::Metric, N::Avg, Sc::Process, U32),
];

/// Position of a column in [`STAT_FIELDS`].
pub fn field_index(name: &str) -> Option<usize> {
    STAT_FIELDS.iter().position(|f| *f == name)
}

/// The `type` column: what a row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowType {
    /// A frontend (`svname` `FRONTEND`, type 0).
    Frontend = 0,
    /// A backend (`svname` `BACKEND`, type 1).
    Backend = 1,
    /// A server (type 2).
    Server = 2,
}

impl RowType {
    /// The letter starting a typed-output line: `F`, `B` or `S`.
    pub fn letter(self) -> char {
        match self {
            RowType::Frontend => 'F',
            RowType::Backend => 'B',
            RowType::Server => 'S',
        }
    }

    /// JSON output's `objType`: `Frontend`, `Backend` or `Server`.
    pub fn json_name(self) -> &'static str {
        match self {
            RowType::Frontend => "Frontend",
            RowType::Backend => "Backend",
            RowType::Server => "Server",
        }
    }
}

/// The configured ids of every proxy and server (`iid`, `sid`), in the
/// registry's order, and which servers are `rhttp@` servers. Missing ids
/// fall back to position + 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsIds {
    /// Frontend ids, in registry order.
    pub frontends: Vec<u32>,
    /// Backend ids with their servers' ids, in registry order.
    pub backends: Vec<(u32, Vec<u32>)>,
    /// `(backend index, server index)` of every `rhttp@` server: its state
    /// comes from its tunnels ([`ServerState`]).
    pub reverse: Vec<(usize, usize)>,
    /// Each backend's `balance` algorithm as HAProxy names it (`algo`:
    /// `roundrobin`, `static-rr`, `leastconn`, `first`, `source`, `uri`,
    /// `hdr`, `random`), in registry order; `roundrobin` where missing.
    pub algos: Vec<String>,
}

impl StatsIds {
    /// The ids a configuration gives its frontends, backends and servers
    /// (the order gwd-http registers them in), and its `rhttp@` servers
    /// (the caller fills [`algos`](Self::algos)).
    pub fn from_config(config: &Config) -> Self {
        StatsIds {
            frontends: config.frontends.iter().map(|f| f.id).collect(),
            backends: config
                .backends
                .iter()
                .map(|b| (b.id, b.servers.iter().map(|s| s.id).collect()))
                .collect(),
            reverse: config
                .backends
                .iter()
                .enumerate()
                .flat_map(|(bi, b)| {
                    b.servers
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.reverse().is_some())
                        .map(move |(si, _)| (bi, si))
                })
                .collect(),
            algos: Vec::new(),
        }
    }

    /// The `algo` of backend `i`.
    pub(crate) fn algo(&self, i: usize) -> &str {
        self.algos.get(i).map_or("roundrobin", String::as_str)
    }

    pub(crate) fn frontend(&self, i: usize) -> u32 {
        self.frontends.get(i).copied().unwrap_or(i as u32 + 1)
    }

    pub(crate) fn backend(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(i as u32 + 1, |b| b.0)
    }

    pub(crate) fn server(&self, b: usize, s: usize) -> u32 {
        self.backends
            .get(b)
            .and_then(|b| b.1.get(s).copied())
            .unwrap_or(s as u32 + 1)
    }

    /// Whether server `s` of backend `b` is an `rhttp@` server.
    pub fn is_reverse(&self, b: usize, s: usize) -> bool {
        self.reverse.contains(&(b, s))
    }
}

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

/// Facts beyond the counters: rates, connection pools, tunnels and server
/// states. Each part is optional; what is missing leaves its columns
/// empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatExtra {
    /// Rates and timing averages.
    pub rates: Option<RatesSnapshot>,
    /// Connection pools per server (`idle_conn_cur`, `safe_conn_cur`,
    /// `used_conn_cur`, `need_conn_est`, `srv_icur`, `src_ilim`, `addr`).
    pub pools: Vec<PoolRow>,
    /// Registered tunnels; `None` when there is no tunnel source, and then
    /// `rhttp@` servers report `no check` like the others.
    pub tunnels: Option<Vec<TunnelRow>>,
    /// Server states, weights and checks, named by backend and server;
    /// `None` when there is no server source: every server is then an
    /// unchecked primary of weight 1 (`no check`, or its tunnel state).
    pub servers: Option<Vec<ServerRow>>,
}

/// What the `status` column says about a server, as a kind: it picks the
/// page's colour and the Prometheus `state` label. The text itself (`UP
/// 1/3`, ...) comes from the server source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// `UP`: checked and up, or an `rhttp@` server with tunnels attached.
    Up,
    /// `DOWN`: its checks (or the runtime API) say it is down.
    Down,
    /// `MAINT`: in maintenance (`disable server`, `state maint`).
    Maint,
    /// `DRAIN`: takes no new request (`state drain`).
    Drain,
    /// `no check`: not checked (HAProxy's wording); takes traffic.
    NoCheck,
    /// `no tunnel`: an `rhttp@` server with no tunnel: requests wait, then
    /// fail.
    NoTunnel,
    /// `UP 2/3`: up, not fully (2 more failed checks of `fall` 3 take it
    /// down): going down.
    GoingDown,
    /// `DOWN 1/2`: down, with 1 of the `rise` 2 good checks it needs:
    /// going up.
    GoingUp,
}

impl ServerState {
    /// One state per Prometheus `state` label, in the order Prometheus
    /// lists them (`UP`, `DOWN`, `MAINT`, `DRAIN`, `NO_CHECK`,
    /// `NO_TUNNEL`); the transitions share the labels of `UP` and `DOWN`.
    pub const ALL: [ServerState; 6] = [
        ServerState::Up,
        ServerState::Down,
        ServerState::Maint,
        ServerState::Drain,
        ServerState::NoCheck,
        ServerState::NoTunnel,
    ];

    /// The `status` column word: `UP`, `DOWN`, `MAINT`, `DRAIN`, `no
    /// check` or `no tunnel` (a transition says `UP` or `DOWN`; its counts
    /// come with the server source's text).
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Up | ServerState::GoingDown => "UP",
            ServerState::Down | ServerState::GoingUp => "DOWN",
            ServerState::Maint => "MAINT",
            ServerState::Drain => "DRAIN",
            ServerState::NoCheck => "no check",
            ServerState::NoTunnel => "no tunnel",
        }
    }

    /// The Prometheus `state` label: `UP`, `DOWN`, `MAINT`, `DRAIN`,
    /// `NO_CHECK` or `NO_TUNNEL` (HAProxy's exporter's, plus gwd's two).
    pub fn label(self) -> &'static str {
        match self {
            ServerState::Up | ServerState::GoingDown => "UP",
            ServerState::Down | ServerState::GoingUp => "DOWN",
            ServerState::Maint => "MAINT",
            ServerState::Drain => "DRAIN",
            ServerState::NoCheck => "NO_CHECK",
            ServerState::NoTunnel => "NO_TUNNEL",
        }
    }

    /// The kind of a `status` text: `UP`, `DOWN`, `MAINT`, `DRAIN`, `no
    /// check`, `no tunnel`, `UP <n>/<m>` (going down), `DOWN <n>/<m>`
    /// (going up); another text starting with `DOWN` is down, anything
    /// else up.
    pub fn from_status(text: &str) -> ServerState {
        match text {
            "UP" => ServerState::Up,
            "DOWN" => ServerState::Down,
            "MAINT" => ServerState::Maint,
            "DRAIN" => ServerState::Drain,
            "no check" => ServerState::NoCheck,
            "no tunnel" => ServerState::NoTunnel,
            t if t.starts_with("UP ") => ServerState::GoingDown,
            t if t.starts_with("DOWN ") => ServerState::GoingUp,
            t if t.starts_with("DOWN") || t.starts_with("MAINT") => ServerState::Down,
            _ => ServerState::Up,
        }
    }

    /// The page's CSS class: `status-up`, `status-down`, `status-maint`,
    /// `status-drain`, `status-nocheck`, `status-notunnel`,
    /// `status-goingdown` or `status-goingup`.
    pub fn class(self) -> &'static str {
        match self {
            ServerState::Up => "status-up",
            ServerState::Down => "status-down",
            ServerState::Maint => "status-maint",
            ServerState::Drain => "status-drain",
            ServerState::NoCheck => "status-nocheck",
            ServerState::NoTunnel => "status-notunnel",
            ServerState::GoingDown => "status-goingdown",
            ServerState::GoingUp => "status-goingup",
        }
    }

    /// Whether the server can take a new request now, as far as its state
    /// goes (`UP`, `UP 2/3`, `no check`).
    pub fn is_usable(self) -> bool {
        matches!(
            self,
            ServerState::Up | ServerState::NoCheck | ServerState::GoingDown
        )
    }

    /// The state of server `si` (named `server`) of backend `bi` (named
    /// `backend`): from the server source's row when there is one, else
    /// `no check`, or for an `rhttp@` server with a tunnel source, `UP`
    /// while a tunnel is attached and `no tunnel` otherwise.
    pub fn of(
        ids: &StatsIds,
        extra: &StatExtra,
        bi: usize,
        si: usize,
        backend: &str,
        server: &str,
    ) -> ServerState {
        let row = extra.servers.as_ref().and_then(|rows| {
            rows.iter()
                .find(|r| r.backend == backend && r.server == server)
        });
        ServerLook::new(ids, extra, row, bi, si, backend, server).state
    }
}

/// Server rows by (backend, server) name, for one rendering.
pub(crate) struct ServerIndex<'a>(Option<HashMap<(&'a str, &'a str), &'a ServerRow>>);

impl<'a> ServerIndex<'a> {
    pub(crate) fn new(extra: &'a StatExtra) -> Self {
        ServerIndex(extra.servers.as_ref().map(|rows| {
            rows.iter()
                .map(|r| ((r.backend.as_str(), r.server.as_str()), r))
                .collect()
        }))
    }

    fn get(&self, backend: &str, server: &str) -> Option<&'a ServerRow> {
        self.0.as_ref()?.get(&(backend, server)).copied()
    }

    /// What the outputs show of server `si` of backend `bi`.
    pub(crate) fn look(
        &self,
        ids: &StatsIds,
        extra: &StatExtra,
        bi: usize,
        si: usize,
        backend: &str,
        server: &str,
    ) -> ServerLook<'a> {
        ServerLook::new(
            ids,
            extra,
            self.get(backend, server),
            bi,
            si,
            backend,
            server,
        )
    }
}

/// What the outputs show of one server: its state, `status` text, and the
/// server source's row when there is one.
#[derive(Clone, Debug)]
pub(crate) struct ServerLook<'a> {
    pub(crate) state: ServerState,
    pub(crate) status: String,
    pub(crate) row: Option<&'a ServerRow>,
}

impl<'a> ServerLook<'a> {
    fn new(
        ids: &StatsIds,
        extra: &StatExtra,
        row: Option<&'a ServerRow>,
        bi: usize,
        si: usize,
        backend: &str,
        server: &str,
    ) -> Self {
        if let Some(r) = row {
            let status = r.status_text();
            return ServerLook {
                state: ServerState::from_status(&status),
                status,
                row,
            };
        }
        let state = match &extra.tunnels {
            Some(t) if ids.is_reverse(bi, si) => {
                if t.iter().any(|r| r.backend == backend && r.server == server) {
                    ServerState::Up
                } else {
                    ServerState::NoTunnel
                }
            }
            _ => ServerState::NoCheck,
        };
        ServerLook {
            state,
            status: state.as_str().to_owned(),
            row: None,
        }
    }

    /// The current weight (1 without a server source).
    pub(crate) fn weight(&self) -> u32 {
        self.row.map_or(1, |r| r.weight)
    }

    /// A `backup` server.
    pub(crate) fn backup(&self) -> bool {
        self.row.is_some_and(|r| r.backup)
    }

    /// Whether it can take a new request now: a usable state and a weight
    /// above 0.
    pub(crate) fn usable(&self) -> bool {
        self.state.is_usable() && self.weight() > 0
    }
}

/// A backend's servers summed up as HAProxy's backend rows show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BackendSummary {
    /// Usable primaries (`act`).
    pub(crate) active: u64,
    /// Usable backups (`bck`).
    pub(crate) backup: u64,
    /// The weight that takes traffic (`weight`, `uweight`): the usable
    /// primaries', or the usable backups' when no primary is usable.
    pub(crate) weight: u64,
}

impl BackendSummary {
    pub(crate) fn of(looks: &[ServerLook<'_>]) -> Self {
        let (mut s, mut wact, mut wbck) = (BackendSummary::default(), 0u64, 0u64);
        for l in looks.iter().filter(|l| l.usable()) {
            if l.backup() {
                s.backup += 1;
                wbck += u64::from(l.weight());
            } else {
                s.active += 1;
                wact += u64::from(l.weight());
            }
        }
        s.weight = if s.active > 0 { wact } else { wbck };
        s
    }

    /// `UP` when a server can take a request.
    pub(crate) fn is_up(&self) -> bool {
        self.active + self.backup > 0
    }
}

type RatesFn = Arc<dyn Fn() -> RatesSnapshot + Send + Sync>;

/// Where `show stat` / `show info` read from: a snapshot function (called
/// once per command), the configured ids, the process facts and,
/// optionally, a rates function.
#[derive(Clone)]
pub struct StatsSource {
    snapshot: Arc<dyn Fn() -> RegistrySnapshot + Send + Sync>,
    rates: Option<RatesFn>,
    process: Option<Arc<dyn Fn() -> ProcessFacts + Send + Sync>>,
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

/// The output format of `show stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StatFormat {
    /// HAProxy's CSV: a `# ` header line, one line per row.
    #[default]
    Csv,
    /// One line per non-empty field: `F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>`.
    Typed,
    /// A JSON array with one array of field objects per row.
    Json,
}

/// A value of one `show stat` cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatValue {
    /// A number (rendered with the column's [`FieldType`]).
    Num(u64),
    /// A string.
    Str(String),
}

impl std::fmt::Display for StatValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatValue::Num(n) => write!(f, "{n}"),
            StatValue::Str(s) => f.write_str(s),
        }
    }
}

impl StatValue {
    /// The number, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            StatValue::Num(n) => Some(*n),
            StatValue::Str(_) => None,
        }
    }

    /// The value as its column's type writes it: numbers beyond the
    /// type's range saturate.
    pub fn typed_text(&self, ty: FieldType) -> String {
        match (self, ty) {
            (StatValue::Num(n), FieldType::U32) => (*n).min(u64::from(u32::MAX)).to_string(),
            (StatValue::Num(n), FieldType::S32) => (*n).min(i32::MAX as u64).to_string(),
            (StatValue::Num(n), FieldType::S64) => (*n).min(i64::MAX as u64).to_string(),
            (v, _) => v.to_string(),
        }
    }

    /// The value on a typed-output line: [`typed_text`](Self::typed_text)
    /// with line feeds and carriage returns written as blanks, so a value
    /// never ends its line early.
    fn typed_line_text(&self, ty: FieldType) -> String {
        self.typed_text(ty).replace(['\n', '\r'], " ")
    }
}

/// One `show stat` row: a frontend, backend or server, with a value or
/// nothing for every column of [`STAT_FIELDS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatRow {
    /// What the row describes.
    pub kind: RowType,
    /// `iid`: the proxy id.
    pub iid: u32,
    /// `sid`: the server id (0 on FRONTEND and BACKEND rows).
    pub sid: u32,
    values: Vec<Option<StatValue>>,
}

impl StatRow {
    fn new(kind: RowType, iid: u32, sid: u32) -> Self {
        StatRow {
            kind,
            iid,
            sid,
            values: vec![None; STAT_FIELDS.len()],
        }
    }

    fn set(&mut self, field: &str, v: u64) {
        self.put(field, StatValue::Num(v));
    }

    fn set_str(&mut self, field: &str, v: impl Into<String>) {
        self.put(field, StatValue::Str(v.into()));
    }

    fn set_opt(&mut self, field: &str, v: Option<u64>) {
        if let Some(v) = v {
            self.set(field, v);
        }
    }

    fn put(&mut self, field: &str, v: StatValue) {
        let i = field_index(field).expect("a known column");
        self.values[i] = Some(v);
    }

    /// The value of column `field` (by name), if set.
    pub fn get(&self, field: &str) -> Option<&StatValue> {
        field_index(field).and_then(|i| self.values[i].as_ref())
    }

    /// The value of column `pos` (0-based in [`STAT_FIELDS`]), if set.
    pub fn value(&self, pos: usize) -> Option<&StatValue> {
        self.values.get(pos).and_then(Option::as_ref)
    }

    /// The number in column `field`, if set and numeric.
    pub fn num(&self, field: &str) -> Option<u64> {
        self.get(field).and_then(StatValue::as_u64)
    }

    /// The text of column `field` (empty when unset), as CSV shows it.
    pub fn text(&self, field: &str) -> String {
        self.get(field).map(|v| v.to_string()).unwrap_or_default()
    }

    /// `pxname`.
    pub fn proxy(&self) -> String {
        self.text("pxname")
    }

    /// `svname`: `FRONTEND`, `BACKEND` or the server name.
    pub fn name(&self) -> String {
        self.text("svname")
    }

    /// Every set column: `(position, value)`, in column order.
    pub fn values(&self) -> impl Iterator<Item = (usize, &StatValue)> {
        self.values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i, v)))
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

/// Columns every row type shares.
fn common(row: &mut StatRow, px: &str, sv: &str, c: &ProxySnapshot) {
    row.set_str("pxname", px);
    row.set_str("svname", sv);
    row.set("scur", c.sessions.cur);
    row.set("smax", c.sessions.max);
    row.set("stot", c.sessions.total);
    row.set("bin", c.bytes_in);
    row.set("bout", c.bytes_out);
    row.set("dresp", 0);
    row.set("pid", 1);
    row.set("iid", u64::from(row.iid));
    row.set("sid", u64::from(row.sid));
    row.set("type", row.kind as u64);
    row.set("hrsp_1xx", c.responses.r1xx);
    row.set("hrsp_2xx", c.responses.r2xx);
    row.set("hrsp_3xx", c.responses.r3xx);
    row.set("hrsp_4xx", c.responses.r4xx);
    row.set("hrsp_5xx", c.responses.r5xx);
    row.set("hrsp_other", c.responses.other);
    row.set("req_tot", c.requests);
    row.set_str("mode", "http");
}

fn rates(row: &mut StatRow, r: Option<&RowRates>) {
    let Some(r) = r else { return };
    row.set_opt("rate", r.rate);
    row.set_opt("rate_max", r.rate_max);
    row.set_opt("req_rate", r.req_rate);
    row.set_opt("req_rate_max", r.req_rate_max);
    row.set_opt("conn_rate", r.conn_rate);
    row.set_opt("conn_rate_max", r.conn_rate_max);
    row.set_opt("qtime", r.qtime_ms);
    row.set_opt("ctime", r.ctime_ms);
    row.set_opt("rtime", r.rtime_ms);
    row.set_opt("ttime", r.ttime_ms);
    row.set_opt("qtime_max", r.qtime_max_ms);
    row.set_opt("ctime_max", r.ctime_max_ms);
    row.set_opt("rtime_max", r.rtime_max_ms);
    row.set_opt("ttime_max", r.ttime_max_ms);
    row.set_opt("lastsess", r.lastsess_s);
}

fn frontend_row(name: &str, c: &ProxySnapshot, iid: u32, r: Option<&RowRates>) -> StatRow {
    let mut row = StatRow::new(RowType::Frontend, iid, 0);
    common(&mut row, name, "FRONTEND", c);
    row.set("dreq", c.denied);
    row.set("ereq", c.req_errors);
    row.set("wrew", c.failed_rewrites);
    row.set_str("status", "OPEN");
    row.set("conn_tot", c.conns.total);
    rates(&mut row, r);
    row
}

/// `host:port`, with brackets around an IPv6 literal; the bare address
/// when the port is 0.
pub(crate) fn host_port(addr: &str, port: u16) -> String {
    if port == 0 {
        addr.to_string()
    } else if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

#[allow(clippy::too_many_arguments)]
fn server_row(
    px: &str,
    name: &str,
    s: &ServerSnapshot,
    iid: u32,
    sid: u32,
    look: &ServerLook<'_>,
    r: Option<&RowRates>,
    pool: Option<&PoolRow>,
) -> StatRow {
    let c = &s.counters;
    let mut row = StatRow::new(RowType::Server, iid, sid);
    common(&mut row, px, name, c);
    // gwd opens one server session per request sent to the server; the
    // proxy may not count server requests separately.
    row.set("req_tot", c.requests.max(c.sessions.total));
    row.set("qcur", c.queue.cur);
    row.set("qmax", c.queue.max);
    row.set("econ", c.conn_errors);
    row.set("eresp", c.resp_errors);
    row.set("wretr", c.retries);
    row.set("wredis", c.redispatches);
    row.set_str("status", look.status.as_str());
    let backup = look.backup();
    row.set("weight", u64::from(look.weight()));
    row.set("act", u64::from(!backup));
    row.set("bck", u64::from(backup));
    row.set("lbtot", c.sessions.total);
    row.set("connect", s.connect_attempts);
    row.set("reuse", s.reuses);
    row.set("uweight", u64::from(look.weight()));
    rates(&mut row, r);
    if let Some(sv) = look.row {
        server_state_columns(&mut row, sv);
        row.set_opt("slim", sv.maxconn.map(u64::from));
    }
    if let Some(p) = pool {
        row.set("srv_icur", p.idle_cur());
        row.set_opt("src_ilim", p.idle_limit);
        row.set("idle_conn_cur", p.idle);
        row.set("safe_conn_cur", p.safe);
        row.set("used_conn_cur", p.used_cur);
        row.set("need_conn_est", p.need_est);
        if !p.addr.is_empty() {
            row.set_str("addr", host_port(&p.addr, p.port));
        }
    }
    if row.get("addr").is_none()
        && let Some(sv) = look.row
        && let Some(host) = sv.host.as_deref().filter(|h| !h.is_empty())
    {
        row.set_str("addr", host_port(host, sv.port.unwrap_or(0)));
    }
    row
}

/// The columns of a server's state from the server source: `lastchg`
/// always; with checks running, HAProxy's check columns (`chkfail`,
/// `chkdown`, `downtime`, `check_status`, `check_code`, `check_duration`
/// in ms, `last_chk`, `check_desc`, `check_rise`/`fall`/`health`).
fn server_state_columns(row: &mut StatRow, sv: &ServerRow) {
    row.set("lastchg", sv.since_change.as_secs());
    let Some(c) = sv.active_check() else { return };
    row.set("chkfail", c.failed);
    row.set("chkdown", c.downs);
    row.set("downtime", sv.downtime.as_secs());
    row.set_str("check_status", c.status_text());
    row.set_opt("check_code", c.code.map(u64::from));
    if c.status.is_some()
        && let Some(d) = c.duration
    {
        row.set(
            "check_duration",
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        );
    }
    let desc = match (&c.description, &c.status) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some("Initializing".to_owned()),
        (None, Some(_)) => None,
    };
    if let Some(text) = c
        .info
        .as_deref()
        .filter(|i| !i.is_empty())
        .or(desc.as_deref())
    {
        row.set_str("last_chk", text);
    }
    if let Some(d) = desc {
        row.set_str("check_desc", d);
    }
    row.set("check_rise", u64::from(c.rise));
    row.set("check_fall", u64::from(c.fall));
    row.set("check_health", u64::from(c.health));
}

fn backend_row(
    name: &str,
    algo: &str,
    c: &ProxySnapshot,
    servers: &[(ServerSnapshot, ServerLook<'_>)],
    iid: u32,
    r: Option<&RowRates>,
) -> StatRow {
    let mut row = StatRow::new(RowType::Backend, iid, 0);
    common(&mut row, name, "BACKEND", c);
    let looks: Vec<ServerLook<'_>> = servers.iter().map(|s| s.1.clone()).collect();
    let sum = BackendSummary::of(&looks);
    row.set("qcur", c.queue.cur);
    row.set("qmax", c.queue.max);
    row.set("dreq", c.denied);
    row.set("econ", c.conn_errors);
    row.set("eresp", c.resp_errors);
    row.set("wretr", c.retries);
    row.set("wredis", c.redispatches);
    row.set("wrew", c.failed_rewrites);
    row.set_str("status", if sum.is_up() { "UP" } else { "DOWN" });
    row.set("weight", sum.weight);
    row.set("act", sum.active);
    row.set("bck", sum.backup);
    row.set("lbtot", c.sessions.total);
    row.set_str("algo", algo);
    row.set(
        "connect",
        servers.iter().map(|s| s.0.connect_attempts).sum::<u64>(),
    );
    row.set("reuse", servers.iter().map(|s| s.0.reuses).sum::<u64>());
    row.set("uweight", sum.weight);
    rates(&mut row, r);
    row
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

/// The rows of `show stat`, in HAProxy's order: per proxy its FRONTEND
/// row, then (for a backend) its servers and its BACKEND row. A frontend
/// and a backend with the same name (a `listen` section) are one proxy;
/// backends without a frontend of their name follow the frontends.
pub fn stat_rows(
    snap: &RegistrySnapshot,
    ids: &StatsIds,
    filter: &StatFilter,
    extra: &StatExtra,
) -> Vec<StatRow> {
    let mut out = Vec::new();
    let mut done = vec![false; snap.backends.len()];
    let rate_of = |f: &dyn Fn(&RatesSnapshot) -> Option<&RowRates>| -> Option<RowRates> {
        extra.rates.as_ref().and_then(f).copied()
    };
    let index = ServerIndex::new(extra);
    let backend_rows = |out: &mut Vec<StatRow>, bi: usize| {
        let b = &snap.backends[bi];
        let iid = ids.backend(bi);
        if !filter.proxy_matches(&b.name, iid) {
            return;
        }
        let servers: Vec<(ServerSnapshot, ServerLook<'_>)> = b
            .servers
            .iter()
            .enumerate()
            .map(|(si, s)| (s.counters, index.look(ids, extra, bi, si, &b.name, &s.name)))
            .collect();
        if filter.wants(RowType::Server) {
            for (si, s) in b.servers.iter().enumerate() {
                let sid = ids.server(bi, si);
                if filter.sid == -1 || filter.sid == i64::from(sid) {
                    let pool = extra
                        .pools
                        .iter()
                        .find(|p| p.backend == b.name && p.server == s.name);
                    let r = rate_of(&|r| r.servers.get(bi).and_then(|v| v.get(si)));
                    out.push(server_row(
                        &b.name,
                        &s.name,
                        &s.counters,
                        iid,
                        sid,
                        &servers[si].1,
                        r.as_ref(),
                        pool,
                    ));
                }
            }
        }
        if filter.wants(RowType::Backend) {
            let r = rate_of(&|r| r.backends.get(bi));
            out.push(backend_row(
                &b.name,
                ids.algo(bi),
                &b.counters,
                &servers,
                iid,
                r.as_ref(),
            ));
        }
    };
    for (fi, f) in snap.frontends.iter().enumerate() {
        let iid = ids.frontend(fi);
        if filter.wants(RowType::Frontend) && filter.proxy_matches(&f.name, iid) {
            let r = rate_of(&|r| r.frontends.get(fi));
            out.push(frontend_row(&f.name, &f.counters, iid, r.as_ref()));
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

/// `show stat` in HAProxy's CSV, without extra facts: see [`stat_rows`]
/// for the rows and [`render_stat`] for the other formats.
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
/// let rows: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/")).collect();
/// assert_eq!(rows, ["www/FRONTEND", "app/s1", "app/BACKEND"]);
/// ```
pub fn render_stat_csv(snap: &RegistrySnapshot, ids: &StatsIds, filter: &StatFilter) -> String {
    render_stat(snap, ids, filter, &StatExtra::default(), StatFormat::Csv)
}

/// `show stat` in any [`StatFormat`], with extra facts.
///
/// ```
/// use gwd_admin::{StatExtra, StatFilter, StatFormat, StatsIds, render_stat};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// reg.add_frontend("www").request();
/// let typed = render_stat(&reg.snapshot(), &StatsIds::default(), &StatFilter::default(),
///     &StatExtra::default(), StatFormat::Typed);
/// assert!(typed.starts_with("F.1.0.0.pxname.1:KNS:str:www\nF.1.0.1.svname.1:KNS:str:FRONTEND\n"));
/// assert!(typed.contains("\nF.1.0.48.req_tot.1:MCP:u64:1\n"));
/// ```
pub fn render_stat(
    snap: &RegistrySnapshot,
    ids: &StatsIds,
    filter: &StatFilter,
    extra: &StatExtra,
    format: StatFormat,
) -> String {
    render_rows(&stat_rows(snap, ids, filter, extra), format)
}

/// Renders rows in a [`StatFormat`]. CSV: the header, then a line per row,
/// each field followed by a comma. Typed: a line per set field,
/// `<F|B|S>.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>`. JSON:
/// `[` rows `]`, each row `[` field objects `]`, on one line.
pub fn render_rows(rows: &[StatRow], format: StatFormat) -> String {
    let mut out = String::new();
    match format {
        StatFormat::Csv => {
            out.push_str(&stat_header());
            for r in rows {
                for v in &r.values {
                    if let Some(v) = v {
                        out.push_str(&csv(&v.to_string()));
                    }
                    out.push(',');
                }
                out.push('\n');
            }
        }
        StatFormat::Typed => {
            for r in rows {
                for (pos, v) in r.values() {
                    let m = &STAT_FIELD_META[pos];
                    let _ = writeln!(
                        out,
                        "{}.{}.{}.{}.{}.1:{}:{}:{}",
                        r.kind.letter(),
                        r.iid,
                        r.sid,
                        pos,
                        m.name,
                        m.tags(),
                        m.ty.name(),
                        v.typed_line_text(m.ty)
                    );
                }
            }
        }
        StatFormat::Json => {
            out.push('[');
            for (ri, r) in rows.iter().enumerate() {
                if ri > 0 {
                    out.push(',');
                }
                out.push('[');
                for (fi, (pos, v)) in r.values().enumerate() {
                    if fi > 0 {
                        out.push(',');
                    }
                    let m = &STAT_FIELD_META[pos];
                    let value = match m.ty {
                        FieldType::Str => json_string(&v.to_string()),
                        ty => match v {
                            StatValue::Num(_) => v.typed_text(ty),
                            StatValue::Str(s) => json_string(s),
                        },
                    };
                    let _ = write!(
                        out,
                        "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{},\"name\":\"{}\"}},\"processNum\":1,\"tags\":{{\"origin\":\"{}\",\"nature\":\"{}\",\"scope\":\"{}\"}},\"value\":{{\"type\":\"{}\",\"value\":{}}}}}",
                        r.kind.json_name(),
                        r.iid,
                        r.sid,
                        pos,
                        m.name,
                        m.origin.json_name(),
                        m.nature.json_name(),
                        m.scope.json_name(),
                        m.ty.name(),
                        value
                    );
                }
                out.push(']');
            }
            out.push_str("]\n");
        }
    }
    out
}

/// A JSON string literal (quotes included), escaped per RFC 8259.
pub(crate) fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
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
    /// Sums over `snap`'s frontends.
    pub fn of(snap: &RegistrySnapshot) -> Self {
        let mut t = ProcessTotals::default();
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
#[cfg(test)]
mod tests {
    use super::*;
    use gwd_stats::Registry;

    #[test]
    fn info_with_process_facts_appends_rates_and_memory() {
        let t0 = Instant::now();
        let info = ProcessInfo::current("gwd", "1.0", 2, t0);
        let facts = ProcessFacts {
            conn_rate: 3,
            conn_rate_max: 9,
            req_rate: 12,
            max_conns: 40,
            dropped_logs: 7,
            rss_bytes: Some(5 << 20),
        };
        let out = render_info_with(&info, &Registry::new().snapshot(), Some(&facts), t0);
        let tail: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("Stopping"))
            .collect();
        assert_eq!(
            tail,
            [
                "Stopping: 0",
                "ConnRate: 3",
                "MaxConnRate: 9",
                "ReqRate: 12",
                "MaxConn_seen: 40",
                "DroppedLogs: 7",
                "Rss_bytes: 5242880",
                "Rss_MB: 5"
            ]
        );
        // Without facts, exactly HAProxy's fields.
        let plain = render_info(&info, &Registry::new().snapshot(), t0);
        assert!(plain.ends_with("Stopping: 0\n"), "{plain}");
    }

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
            reverse: vec![],
            algos: vec![],
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
        // Past req_tot, only mode, conn_tot and wrew have values on a
        // frontend.
        assert_eq!(fe.split(',').skip(49).filter(|v| !v.is_empty()).count(), 3);
        assert_eq!(col(fe, "wrew"), "0");
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
    fn field_meta_follows_the_columns() {
        assert_eq!(STAT_FIELD_META.len(), STAT_FIELDS.len());
        for (m, f) in STAT_FIELD_META.iter().zip(STAT_FIELDS) {
            assert_eq!(m.name, *f);
        }
        let tags = |n: &str| {
            let m = &STAT_FIELD_META[field_index(n).unwrap()];
            format!("{}:{}", m.tags(), m.ty.name())
        };
        assert_eq!(tags("pxname"), "KNS:str");
        assert_eq!(tags("scur"), "MGP:u32");
        assert_eq!(tags("smax"), "MMP:u32");
        assert_eq!(tags("slim"), "CLP:u32");
        assert_eq!(tags("stot"), "MCP:u64");
        assert_eq!(tags("status"), "SGP:str");
        assert_eq!(tags("iid"), "KGS:u32");
        assert_eq!(tags("pid"), "KGP:u32");
        assert_eq!(tags("rate"), "MRP:u32");
        assert_eq!(tags("lastsess"), "MAP:s32");
        assert_eq!(tags("qtime"), "MaP:u32");
        assert_eq!(tags("mode"), "CGS:str");
        assert_eq!(field_index("uweight"), Some(99));
        assert_eq!(field_index("nope"), None);
    }

    #[test]
    fn typed_lines_are_haproxys() {
        let (reg, ids) = sample();
        let out = render_stat(
            &reg.snapshot(),
            &ids,
            &StatFilter {
                proxy: Some("www".into()),
                types: 1,
                sid: -1,
            },
            &StatExtra::default(),
            StatFormat::Typed,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            &lines[..6],
            [
                "F.3.0.0.pxname.1:KNS:str:www",
                "F.3.0.1.svname.1:KNS:str:FRONTEND",
                "F.3.0.4.scur.1:MGP:u32:0",
                "F.3.0.5.smax.1:MMP:u32:1",
                "F.3.0.7.stot.1:MCP:u64:1",
                "F.3.0.8.bin.1:MCP:u64:100",
            ]
        );
        assert!(lines.contains(&"F.3.0.17.status.1:SGP:str:OPEN"));
        assert!(lines.contains(&"F.3.0.32.type.1:CGS:u32:0"));
        assert!(lines.contains(&"F.3.0.79.conn_tot.1:MCP:u64:1"));
        // Empty columns are left out: one line per set CSV cell.
        let csv = render_stat_csv(
            &reg.snapshot(),
            &ids,
            &StatFilter {
                proxy: Some("www".into()),
                types: 1,
                sid: -1,
            },
        );
        let cells = csv
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .filter(|c| !c.is_empty())
            .count();
        assert_eq!(lines.len(), cells);
        // Server and backend rows start with S and B.
        let all = render_stat(
            &reg.snapshot(),
            &ids,
            &StatFilter::default(),
            &StatExtra::default(),
            StatFormat::Typed,
        );
        assert!(all.contains("\nS.7.11.1.svname.1:KNS:str:s2\n"), "{all}");
        assert!(
            all.contains("\nB.9.0.1.svname.1:KNS:str:BACKEND\n"),
            "{all}"
        );
    }

    #[test]
    fn json_objects_are_haproxys() {
        let (reg, ids) = sample();
        let out = render_stat(
            &reg.snapshot(),
            &ids,
            &StatFilter {
                proxy: Some("empty".into()),
                types: 2,
                sid: -1,
            },
            &StatExtra::default(),
            StatFormat::Json,
        );
        assert!(
            out.starts_with(
                "[[{\"objType\":\"Backend\",\"proxyId\":9,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"empty\"}},"
            ),
            "{out}"
        );
        assert!(out.contains(
            "{\"objType\":\"Backend\",\"proxyId\":9,\"id\":0,\"field\":{\"pos\":4,\"name\":\"scur\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\",\"value\":0}}"
        ));
        assert!(out.ends_with("}]]\n"));
        assert!(!out[..out.len() - 1].contains('\n'));
        let none = render_rows(&[], StatFormat::Json);
        assert_eq!(none, "[]\n");
        assert_eq!(render_rows(&[], StatFormat::Typed), "");
        assert_eq!(render_rows(&[], StatFormat::Csv), stat_header());
    }

    #[test]
    fn typed_values_saturate_and_strings_are_escaped() {
        assert_eq!(
            StatValue::Num(u64::MAX).typed_text(FieldType::U32),
            "4294967295"
        );
        assert_eq!(
            StatValue::Num(u64::MAX).typed_text(FieldType::S32),
            "2147483647"
        );
        assert_eq!(
            StatValue::Num(u64::MAX).typed_text(FieldType::U64),
            u64::MAX.to_string()
        );
        assert_eq!(StatValue::Num(7).typed_text(FieldType::Str), "7");
        assert_eq!(
            StatValue::Str("a\nb\rc".into()).typed_line_text(FieldType::Str),
            "a b c"
        );
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn rows_expose_their_values() {
        let (reg, ids) = sample();
        let rows = stat_rows(
            &reg.snapshot(),
            &ids,
            &StatFilter::default(),
            &StatExtra::default(),
        );
        let fe = &rows[0];
        assert_eq!((fe.kind, fe.iid, fe.sid), (RowType::Frontend, 3, 0));
        assert_eq!(
            (fe.proxy(), fe.name()),
            ("www".to_string(), "FRONTEND".to_string())
        );
        assert_eq!(fe.num("req_tot"), Some(6));
        assert_eq!(fe.get("status"), Some(&StatValue::Str("OPEN".into())));
        assert_eq!(fe.num("status"), None);
        assert_eq!(fe.get("qcur"), None);
        assert_eq!(fe.text("qcur"), "");
        assert_eq!(fe.value(48), fe.get("req_tot"));
        assert_eq!(fe.values().next().map(|(i, _)| i), Some(0));
        assert_eq!(RowType::Server.letter(), 'S');
        assert_eq!(RowType::Backend.json_name(), "Backend");
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
