//! The `show stat` columns: their names in HAProxy's order and what each
//! one is (origin, nature, scope, type), for the typed output.

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
