//! The `show stat` columns: one [`Field`] per column, in HAProxy's order,
//! and one table saying what each is (name, description, origin, nature,
//! scope, type) for every output.
//!
//! The table below is the only list of columns: the enum, its order (the
//! CSV position), [`STAT_FIELDS`] and [`Field::meta`] are all generated
//! from it, so they cannot drift apart.

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

/// The description of one `show stat` column: its name, what it means,
/// and the tags and type typed and JSON output give its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMeta {
    /// The CSV column name.
    pub name: &'static str,
    /// What the column means, in a sentence.
    pub description: &'static str,
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

/// Builds [`Field`], its table and [`STAT_FIELDS`] from one list of
/// `Variant = "name": Origin Nature Scope Type, "description";` entries.
macro_rules! stat_fields {
    ($( $variant:ident = $name:literal : $o:ident $n:ident $s:ident $ty:ident , $doc:literal ; )*) => {
        /// One `show stat` column. Declaration order is HAProxy's column
        /// order: `field as usize` is the CSV position.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field {
            $( #[doc = $doc] $variant, )*
        }

        impl Field {
            /// Every column, in order.
            pub const ALL: [Field; [$($name),*].len()] = [$(Field::$variant),*];

            /// The number of columns.
            pub const COUNT: usize = Self::ALL.len();
        }

        const META: [FieldMeta; Field::COUNT] = [$(
            FieldMeta {
                name: $name,
                description: $doc,
                origin: Origin::$o,
                nature: Nature::$n,
                scope: Scope::$s,
                ty: FieldType::$ty,
            },
        )*];

        /// The column names, in HAProxy's order (management guide, "CSV
        /// format"), up to `uweight`. Columns gwd has no value for are
        /// left empty, as HAProxy does for fields that do not apply.
        pub const STAT_FIELDS: [&str; Field::COUNT] = [$($name),*];
    };
}

// Tags and types follow what HAProxy reports for each column (one set per
// column; HAProxy varies a few by row type, e.g. `act` is a status on
// servers).
stat_fields! {
    Pxname = "pxname": Key Name Service Str, "Proxy name.";
    Svname = "svname": Key Name Service Str, "`FRONTEND`, `BACKEND` or the server name.";
    Qcur = "qcur": Metric Gauge Process U32, "Requests queued now, waiting for a server.";
    Qmax = "qmax": Metric Max Process U32, "Most requests queued at once.";
    Scur = "scur": Metric Gauge Process U32, "Sessions open now.";
    Smax = "smax": Metric Max Process U32, "Most sessions open at once.";
    Slim = "slim": Config Limit Process U32, "Session limit (`maxconn`).";
    Stot = "stot": Metric Counter Process U64, "Sessions ever opened.";
    Bin = "bin": Metric Counter Process U64, "Request bytes received.";
    Bout = "bout": Metric Counter Process U64, "Response bytes sent.";
    Dreq = "dreq": Metric Counter Process U64, "Requests denied by rules.";
    Dresp = "dresp": Metric Counter Process U64, "Responses denied by rules.";
    Ereq = "ereq": Metric Counter Process U64, "Request errors (malformed or aborted requests).";
    Econ = "econ": Metric Counter Process U64, "Failed connections to a server.";
    Eresp = "eresp": Metric Counter Process U64, "Responses aborted by an error.";
    Wretr = "wretr": Metric Counter Process U64, "Connection attempts made again after a failure.";
    Wredis = "wredis": Metric Counter Process U64, "Retries sent to another server.";
    Status = "status": Status Gauge Process Str, "State word: `OPEN`, `UP`, `DOWN`, `MAINT`, `no check`, ...";
    Weight = "weight": Metric Avg Process U32, "Weight taking traffic (a server's, or a backend's usable sum).";
    Act = "act": Status Gauge Process U32, "Usable primary servers (1 on a primary server's row).";
    Bck = "bck": Status Gauge Process U32, "Usable backup servers (1 on a backup server's row).";
    Chkfail = "chkfail": Metric Counter Process U64, "Failed health checks.";
    Chkdown = "chkdown": Metric Counter Process U64, "Transitions from UP to DOWN.";
    Lastchg = "lastchg": Metric Age Process U32, "Seconds since the last state change.";
    Downtime = "downtime": Metric Counter Process U32, "Seconds spent DOWN.";
    Qlimit = "qlimit": Config Gauge Service U32, "Queue limit (`maxqueue`).";
    Pid = "pid": Key Gauge Process U32, "Process number (always 1).";
    Iid = "iid": Key Gauge Service U32, "Proxy id.";
    Sid = "sid": Key Gauge Service U32, "Server id (0 on FRONTEND and BACKEND rows).";
    Throttle = "throttle": Metric Avg Process U32, "Slow-start throttle, in percent.";
    Lbtot = "lbtot": Metric Counter Process U64, "Times the server was picked by load balancing.";
    Tracked = "tracked": Config Name Service Str, "Server whose state this one follows.";
    Type = "type": Config Gauge Service U32, "Row type: 0 frontend, 1 backend, 2 server.";
    Rate = "rate": Metric Rate Process U32, "Sessions over the last second.";
    RateLim = "rate_lim": Config Limit Process U32, "Session rate limit.";
    RateMax = "rate_max": Metric Max Process U32, "Most sessions in one second.";
    CheckStatus = "check_status": Metric Output Process Str, "Status of the last health check.";
    CheckCode = "check_code": Metric Output Process U32, "HTTP status code of the last health check.";
    CheckDuration = "check_duration": Metric Duration Process U64, "Duration of the last health check, in milliseconds.";
    Hrsp1xx = "hrsp_1xx": Metric Counter Process U64, "HTTP responses with a 1xx status.";
    Hrsp2xx = "hrsp_2xx": Metric Counter Process U64, "HTTP responses with a 2xx status.";
    Hrsp3xx = "hrsp_3xx": Metric Counter Process U64, "HTTP responses with a 3xx status.";
    Hrsp4xx = "hrsp_4xx": Metric Counter Process U64, "HTTP responses with a 4xx status.";
    Hrsp5xx = "hrsp_5xx": Metric Counter Process U64, "HTTP responses with a 5xx status.";
    HrspOther = "hrsp_other": Metric Counter Process U64, "HTTP responses with another status.";
    Hanafail = "hanafail": Metric Counter Process U64, "Failed passive health checks.";
    ReqRate = "req_rate": Metric Rate Process U32, "HTTP requests over the last second.";
    ReqRateMax = "req_rate_max": Metric Max Process U32, "Most HTTP requests in one second.";
    ReqTot = "req_tot": Metric Counter Process U64, "HTTP requests received (sent, for servers).";
    CliAbrt = "cli_abrt": Metric Counter Process U64, "Transfers aborted by the client.";
    SrvAbrt = "srv_abrt": Metric Counter Process U64, "Transfers aborted by the server.";
    CompIn = "comp_in": Metric Counter Process U64, "Bytes fed to the compressor.";
    CompOut = "comp_out": Metric Counter Process U64, "Bytes the compressor produced.";
    CompByp = "comp_byp": Metric Counter Process U64, "Bytes that bypassed the compressor.";
    CompRsp = "comp_rsp": Metric Counter Process U64, "Responses compressed.";
    Lastsess = "lastsess": Metric Age Process S32, "Seconds since the last session.";
    LastChk = "last_chk": Metric Output Process Str, "Text of the last health check.";
    LastAgt = "last_agt": Metric Output Process Str, "Text of the last agent check.";
    Qtime = "qtime": Metric Avg Process U32, "Average queue time of recent requests, in milliseconds.";
    Ctime = "ctime": Metric Avg Process U32, "Average connect time of recent requests, in milliseconds.";
    Rtime = "rtime": Metric Avg Process U32, "Average response time of recent requests, in milliseconds.";
    Ttime = "ttime": Metric Avg Process U32, "Average total time of recent requests, in milliseconds.";
    AgentStatus = "agent_status": Metric Output Process Str, "Status of the last agent check.";
    AgentCode = "agent_code": Metric Output Process U32, "Code of the last agent check.";
    AgentDuration = "agent_duration": Metric Duration Process U64, "Duration of the last agent check, in milliseconds.";
    CheckDesc = "check_desc": Metric Output Process Str, "Description of the last health check's status.";
    AgentDesc = "agent_desc": Metric Output Process Str, "Description of the last agent check's status.";
    CheckRise = "check_rise": Config Gauge Service U32, "Good checks that bring a server UP (`rise`).";
    CheckFall = "check_fall": Config Gauge Service U32, "Failed checks that bring a server DOWN (`fall`).";
    CheckHealth = "check_health": Config Gauge Service U32, "Health counter of the checks.";
    AgentRise = "agent_rise": Config Gauge Service U32, "Good agent checks that bring a server UP.";
    AgentFall = "agent_fall": Config Gauge Service U32, "Failed agent checks that bring a server DOWN.";
    AgentHealth = "agent_health": Config Gauge Service U32, "Health counter of the agent checks.";
    Addr = "addr": Config Gauge Service Str, "Server address (`host:port`).";
    Cookie = "cookie": Config Name Service Str, "Server cookie value.";
    Mode = "mode": Config Gauge Service Str, "Proxy mode (`http` or `tcp`).";
    Algo = "algo": Config Gauge Service Str, "Load-balancing algorithm.";
    ConnRate = "conn_rate": Metric Rate Process U32, "Connections over the last second.";
    ConnRateMax = "conn_rate_max": Metric Max Process U32, "Most connections in one second.";
    ConnTot = "conn_tot": Metric Counter Process U64, "Connections ever accepted.";
    Intercepted = "intercepted": Metric Counter Process U64, "Requests answered by the proxy itself.";
    Dcon = "dcon": Metric Counter Process U64, "Connections denied by `tcp-request connection` rules.";
    Dses = "dses": Metric Counter Process U64, "Sessions denied by `tcp-request session` rules.";
    Wrew = "wrew": Metric Counter Process U64, "Failed header rewrites.";
    Connect = "connect": Metric Counter Process U64, "Connection attempts to servers.";
    Reuse = "reuse": Metric Counter Process U64, "Requests sent over a reused connection.";
    CacheLookups = "cache_lookups": Metric Counter Process U64, "Cache lookups.";
    CacheHits = "cache_hits": Metric Counter Process U64, "Cache hits.";
    SrvIcur = "srv_icur": Metric Gauge Process U32, "Idle connections kept for reuse now.";
    SrcIlim = "src_ilim": Config Limit Process U32, "Most idle connections kept for reuse.";
    QtimeMax = "qtime_max": Metric Max Process U32, "Longest queue time seen, in milliseconds.";
    CtimeMax = "ctime_max": Metric Max Process U32, "Longest connect time seen, in milliseconds.";
    RtimeMax = "rtime_max": Metric Max Process U32, "Longest response time seen, in milliseconds.";
    TtimeMax = "ttime_max": Metric Max Process U32, "Longest total time seen, in milliseconds.";
    Eint = "eint": Metric Counter Process U64, "Internal errors.";
    IdleConnCur = "idle_conn_cur": Metric Gauge Process U32, "Idle connections not yet proven reusable.";
    SafeConnCur = "safe_conn_cur": Metric Gauge Process U32, "Idle connections proven reusable.";
    UsedConnCur = "used_conn_cur": Metric Gauge Process U32, "Connections in use now.";
    NeedConnEst = "need_conn_est": Metric Gauge Process U32, "Estimate of the connections needed.";
    Uweight = "uweight": Metric Avg Process U32, "User weight (the weight set by configuration or runtime API).";
}

impl Field {
    /// The column's metadata.
    pub fn meta(self) -> &'static FieldMeta {
        &META[self as usize]
    }

    /// The CSV column name (`scur`).
    pub fn name(self) -> &'static str {
        self.meta().name
    }

    /// The 0-based CSV position.
    pub fn position(self) -> usize {
        self as usize
    }

    /// The column called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_names_and_table_agree() {
        for (pos, f) in Field::ALL.into_iter().enumerate() {
            assert_eq!(f.position(), pos);
            assert_eq!(STAT_FIELDS[pos], f.name());
            assert_eq!(Field::from_name(f.name()), Some(f));
            assert!(!f.meta().description.is_empty(), "{f:?}");
        }
        assert_eq!(Field::COUNT, 100);
        assert_eq!(Field::from_name("nope"), None);
        assert_eq!(Field::ReqTot.position(), 48);
        assert_eq!(Field::Scur.meta().tags(), "MGP");
    }
}
