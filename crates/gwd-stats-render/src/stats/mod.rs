//! `show stat` and `show info`: HAProxy's statistics (CSV, typed and JSON)
//! and process information, rendered from a [`gwd_stats::RegistrySnapshot`].
//!
//! # Model
//!
//! A snapshot (whose rows describe themselves: names, ids, backend
//! algorithms, which servers are `rhttp@` ones; [`gwd_stats::Label`]) and
//! optional extra facts ([`StatExtra`]: rates and timings, connection pools,
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
use std::time::{Duration, Instant, SystemTime};

use gwd_stats::{ProxySnapshot, RegistrySnapshot, ServerNamed, ServerSnapshot};

use crate::rows::{PoolRow, ServerRow, TunnelRow};

mod fields;
mod info;
#[cfg(test)]
mod tests;

pub use fields::*;
pub use info::*;

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

    /// The state of `server` of the backend named `backend`: from the
    /// server source's row when there is one, else `no check`, or for an
    /// `rhttp@` server with a tunnel source, `UP` while a tunnel is
    /// attached and `no tunnel` otherwise.
    pub fn of(extra: &StatExtra, backend: &str, server: &ServerNamed) -> ServerState {
        let row = extra.servers.as_ref().and_then(|rows| {
            rows.iter()
                .find(|r| r.backend == backend && r.server == server.name)
        });
        ServerLook::new(extra, row, backend, server).state
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

    /// What the outputs show of `server` of the backend named `backend`.
    pub(crate) fn look(
        &self,
        extra: &StatExtra,
        backend: &str,
        server: &ServerNamed,
    ) -> ServerLook<'a> {
        ServerLook::new(extra, self.get(backend, &server.name), backend, server)
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
        extra: &StatExtra,
        row: Option<&'a ServerRow>,
        backend: &str,
        server: &ServerNamed,
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
            Some(t) if server.reverse => {
                if t.iter()
                    .any(|r| r.backend == backend && r.server == server.name)
                {
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
/// nothing for every [`Field`]. Columns are set and read by [`Field`], so
/// a misspelt column is a compile error, not a panic.
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
    /// An empty row of `kind` for proxy `iid` and server `sid`.
    pub fn new(kind: RowType, iid: u32, sid: u32) -> Self {
        StatRow {
            kind,
            iid,
            sid,
            values: vec![None; Field::COUNT],
        }
    }

    /// Sets a numeric column.
    pub fn set(&mut self, field: Field, v: u64) {
        self.values[field.position()] = Some(StatValue::Num(v));
    }

    /// Sets a text column.
    pub fn set_str(&mut self, field: Field, v: impl Into<String>) {
        self.values[field.position()] = Some(StatValue::Str(v.into()));
    }

    /// Sets a numeric column when there is a value; leaves it as it was
    /// otherwise.
    pub fn set_opt(&mut self, field: Field, v: Option<u64>) {
        if let Some(v) = v {
            self.set(field, v);
        }
    }

    /// The value of column `field`, if set.
    pub fn get(&self, field: Field) -> Option<&StatValue> {
        self.values[field.position()].as_ref()
    }

    /// The number in column `field`, if set and numeric.
    pub fn num(&self, field: Field) -> Option<u64> {
        self.get(field).and_then(StatValue::as_u64)
    }

    /// The text of column `field` (empty when unset), as CSV shows it.
    pub fn text(&self, field: Field) -> String {
        self.get(field).map(|v| v.to_string()).unwrap_or_default()
    }

    /// `pxname`.
    pub fn proxy(&self) -> String {
        self.text(Field::Pxname)
    }

    /// `svname`: `FRONTEND`, `BACKEND` or the server name.
    pub fn name(&self) -> String {
        self.text(Field::Svname)
    }

    /// Every set column with its value, in column order.
    pub fn values(&self) -> impl Iterator<Item = (Field, &StatValue)> {
        Field::ALL
            .into_iter()
            .zip(&self.values)
            .filter_map(|(f, v)| v.as_ref().map(|v| (f, v)))
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

/// A row of a `mode tcp` proxy: `mode` says so, and the HTTP columns
/// (requests, responses by class) are empty, as HAProxy leaves them.
fn tcp_row(mut row: StatRow, tcp: bool) -> StatRow {
    if tcp {
        row.set_str(Field::Mode, "tcp");
        for f in [
            Field::ReqTot,
            Field::Hrsp1xx,
            Field::Hrsp2xx,
            Field::Hrsp3xx,
            Field::Hrsp4xx,
            Field::Hrsp5xx,
            Field::HrspOther,
            Field::CompIn,
            Field::CompOut,
            Field::CompByp,
            Field::CompRsp,
        ] {
            row.values[f.position()] = None;
        }
    }
    row
}

/// Columns every row type shares.
fn common(row: &mut StatRow, px: &str, sv: &str, c: &ProxySnapshot) {
    row.set_str(Field::Pxname, px);
    row.set_str(Field::Svname, sv);
    row.set(Field::Scur, c.sessions.cur);
    row.set(Field::Smax, c.sessions.max);
    row.set(Field::Stot, c.sessions.total);
    row.set(Field::Bin, c.bytes_in);
    row.set(Field::Bout, c.bytes_out);
    row.set(Field::Dresp, 0);
    row.set(Field::Pid, 1);
    row.set(Field::Iid, u64::from(row.iid));
    row.set(Field::Sid, u64::from(row.sid));
    row.set(Field::Type, row.kind as u64);
    row.set(Field::Hrsp1xx, c.responses.r1xx);
    row.set(Field::Hrsp2xx, c.responses.r2xx);
    row.set(Field::Hrsp3xx, c.responses.r3xx);
    row.set(Field::Hrsp4xx, c.responses.r4xx);
    row.set(Field::Hrsp5xx, c.responses.r5xx);
    row.set(Field::HrspOther, c.responses.other);
    row.set(Field::ReqTot, c.requests);
    row.set_str(Field::Mode, "http");
}

/// HTTP compression's columns of a frontend or backend row (servers have
/// none, as in HAProxy). `comp_byp` is what HAProxy lets bypass the
/// compressor under its CPU and rate limits, which gwd does not have: 0.
fn compression(row: &mut StatRow, c: &ProxySnapshot) {
    row.set(Field::CompIn, c.compression.bytes_in);
    row.set(Field::CompOut, c.compression.bytes_out);
    row.set(Field::CompByp, 0);
    row.set(Field::CompRsp, c.compression.responses);
}

fn rates(row: &mut StatRow, r: Option<&RowRates>) {
    let Some(r) = r else { return };
    row.set_opt(Field::Rate, r.rate);
    row.set_opt(Field::RateMax, r.rate_max);
    row.set_opt(Field::ReqRate, r.req_rate);
    row.set_opt(Field::ReqRateMax, r.req_rate_max);
    row.set_opt(Field::ConnRate, r.conn_rate);
    row.set_opt(Field::ConnRateMax, r.conn_rate_max);
    row.set_opt(Field::Qtime, r.qtime_ms);
    row.set_opt(Field::Ctime, r.ctime_ms);
    row.set_opt(Field::Rtime, r.rtime_ms);
    row.set_opt(Field::Ttime, r.ttime_ms);
    row.set_opt(Field::QtimeMax, r.qtime_max_ms);
    row.set_opt(Field::CtimeMax, r.ctime_max_ms);
    row.set_opt(Field::RtimeMax, r.rtime_max_ms);
    row.set_opt(Field::TtimeMax, r.ttime_max_ms);
    row.set_opt(Field::Lastsess, r.lastsess_s);
}

fn frontend_row(name: &str, c: &ProxySnapshot, iid: u32, r: Option<&RowRates>) -> StatRow {
    let mut row = StatRow::new(RowType::Frontend, iid, 0);
    common(&mut row, name, "FRONTEND", c);
    row.set(Field::Dreq, c.denied);
    row.set(Field::Dcon, c.denied_conns);
    row.set(Field::Ereq, c.req_errors);
    row.set(Field::Wrew, c.failed_rewrites);
    row.set_str(Field::Status, "OPEN");
    row.set(Field::ConnTot, c.conns.total);
    compression(&mut row, c);
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
    row.set(Field::ReqTot, c.requests.max(c.sessions.total));
    row.set(Field::Qcur, c.queue.cur);
    row.set(Field::Qmax, c.queue.max);
    row.set(Field::Econ, c.conn_errors);
    row.set(Field::Eresp, c.resp_errors);
    row.set(Field::Wretr, c.retries);
    row.set(Field::Wredis, c.redispatches);
    row.set_str(Field::Status, look.status.as_str());
    let backup = look.backup();
    row.set(Field::Weight, u64::from(look.weight()));
    row.set(Field::Act, u64::from(!backup));
    row.set(Field::Bck, u64::from(backup));
    row.set(Field::Lbtot, c.sessions.total);
    row.set(Field::Connect, s.connect_attempts);
    row.set(Field::Reuse, s.reuses);
    row.set(Field::Uweight, u64::from(look.weight()));
    rates(&mut row, r);
    if let Some(sv) = look.row {
        server_state_columns(&mut row, sv);
        row.set_opt(Field::Slim, sv.maxconn.map(u64::from));
    }
    if let Some(p) = pool {
        row.set(Field::SrvIcur, p.idle_cur());
        row.set_opt(Field::SrcIlim, p.idle_limit);
        row.set(Field::IdleConnCur, p.idle);
        row.set(Field::SafeConnCur, p.safe);
        row.set(Field::UsedConnCur, p.used_cur);
        row.set(Field::NeedConnEst, p.need_est);
        if !p.addr.is_empty() {
            row.set_str(Field::Addr, host_port(&p.addr, p.port));
        }
    }
    if row.get(Field::Addr).is_none()
        && let Some(sv) = look.row
        && let Some(host) = sv.host.as_deref().filter(|h| !h.is_empty())
    {
        row.set_str(Field::Addr, host_port(host, sv.port.unwrap_or(0)));
    }
    row
}

/// The columns of a server's state from the server source: `lastchg`
/// always; with checks running, HAProxy's check columns (`chkfail`,
/// `chkdown`, `hanafail`, `downtime`, `check_status`, `check_code`, `check_duration`
/// in ms, `last_chk`, `check_desc`, `check_rise`/`fall`/`health`).
fn server_state_columns(row: &mut StatRow, sv: &ServerRow) {
    row.set(Field::Lastchg, sv.since_change.as_secs());
    let Some(c) = sv.active_check() else { return };
    row.set(Field::Chkfail, c.failed);
    row.set(Field::Chkdown, c.downs);
    row.set(Field::Hanafail, c.passive_failures);
    row.set(Field::Downtime, sv.downtime.as_secs());
    row.set_str(Field::CheckStatus, c.status_text());
    row.set_opt(Field::CheckCode, c.code.map(u64::from));
    if c.status.is_some()
        && let Some(d) = c.duration
    {
        row.set(
            Field::CheckDuration,
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
        row.set_str(Field::LastChk, text);
    }
    if let Some(d) = desc {
        row.set_str(Field::CheckDesc, d);
    }
    row.set(Field::CheckRise, u64::from(c.rise));
    row.set(Field::CheckFall, u64::from(c.fall));
    row.set(Field::CheckHealth, u64::from(c.health));
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
    row.set(Field::Qcur, c.queue.cur);
    row.set(Field::Qmax, c.queue.max);
    row.set(Field::Dreq, c.denied);
    row.set(Field::Econ, c.conn_errors);
    row.set(Field::Eresp, c.resp_errors);
    row.set(Field::Wretr, c.retries);
    row.set(Field::Wredis, c.redispatches);
    row.set(Field::Wrew, c.failed_rewrites);
    row.set_str(Field::Status, if sum.is_up() { "UP" } else { "DOWN" });
    row.set(Field::Weight, sum.weight);
    row.set(Field::Act, sum.active);
    row.set(Field::Bck, sum.backup);
    row.set(Field::Lbtot, c.sessions.total);
    row.set_str(Field::Algo, algo);
    row.set(
        Field::Connect,
        servers.iter().map(|s| s.0.connect_attempts).sum::<u64>(),
    );
    row.set(
        Field::Reuse,
        servers.iter().map(|s| s.0.reuses).sum::<u64>(),
    );
    row.set(Field::Uweight, sum.weight);
    compression(&mut row, c);
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
pub fn stat_rows(snap: &RegistrySnapshot, filter: &StatFilter, extra: &StatExtra) -> Vec<StatRow> {
    let mut out = Vec::new();
    let mut done = vec![false; snap.backends.len()];
    let rate_of = |f: &dyn Fn(&RatesSnapshot) -> Option<&RowRates>| -> Option<RowRates> {
        extra.rates.as_ref().and_then(f).copied()
    };
    let index = ServerIndex::new(extra);
    let backend_rows = |out: &mut Vec<StatRow>, bi: usize| {
        let b = &snap.backends[bi];
        let iid = b.id;
        if !filter.proxy_matches(&b.name, iid) {
            return;
        }
        let servers: Vec<(ServerSnapshot, ServerLook<'_>)> = b
            .servers
            .iter()
            .map(|s| (s.counters, index.look(extra, &b.name, s)))
            .collect();
        if filter.wants(RowType::Server) {
            for (si, s) in b.servers.iter().enumerate() {
                let sid = s.id;
                if filter.sid == -1 || filter.sid == i64::from(sid) {
                    let pool = extra
                        .pools
                        .iter()
                        .find(|p| p.backend == b.name && p.server == s.name);
                    let r = rate_of(&|r| r.servers.get(bi).and_then(|v| v.get(si)));
                    out.push(tcp_row(
                        server_row(
                            &b.name,
                            &s.name,
                            &s.counters,
                            iid,
                            sid,
                            &servers[si].1,
                            r.as_ref(),
                            pool,
                        ),
                        s.tcp,
                    ));
                }
            }
        }
        if filter.wants(RowType::Backend) {
            let r = rate_of(&|r| r.backends.get(bi));
            out.push(tcp_row(
                backend_row(
                    &b.name,
                    b.algo.as_deref().unwrap_or("roundrobin"),
                    &b.counters,
                    &servers,
                    iid,
                    r.as_ref(),
                ),
                b.tcp,
            ));
        }
    };
    for (fi, f) in snap.frontends.iter().enumerate() {
        let iid = f.id;
        if filter.wants(RowType::Frontend) && filter.proxy_matches(&f.name, iid) {
            let r = rate_of(&|r| r.frontends.get(fi));
            out.push(tcp_row(
                frontend_row(&f.name, &f.counters, iid, r.as_ref()),
                f.tcp,
            ));
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
/// use gwd_stats_render::{StatFilter, render_stat_csv};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// reg.add_frontend("www").request_at(std::time::Instant::now());
/// let (b, _) = reg.add_backend("app");
/// reg.add_server(b, "s1").unwrap();
/// let csv = render_stat_csv(&reg.snapshot(), &StatFilter::default());
/// let rows: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/")).collect();
/// assert_eq!(rows, ["www/FRONTEND", "app/s1", "app/BACKEND"]);
/// ```
pub fn render_stat_csv(snap: &RegistrySnapshot, filter: &StatFilter) -> String {
    render_stat(snap, filter, &StatExtra::default(), StatFormat::Csv)
}

/// `show stat` in any [`StatFormat`], with extra facts.
///
/// ```
/// use gwd_stats_render::{StatExtra, StatFilter, StatFormat, render_stat};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// reg.add_frontend("www").request_at(std::time::Instant::now());
/// let typed = render_stat(&reg.snapshot(), &StatFilter::default(),
///     &StatExtra::default(), StatFormat::Typed);
/// assert!(typed.starts_with("F.1.0.0.pxname.1:KNS:str:www\nF.1.0.1.svname.1:KNS:str:FRONTEND\n"));
/// assert!(typed.contains("\nF.1.0.48.req_tot.1:MCP:u64:1\n"));
/// ```
pub fn render_stat(
    snap: &RegistrySnapshot,
    filter: &StatFilter,
    extra: &StatExtra,
    format: StatFormat,
) -> String {
    render_rows(&stat_rows(snap, filter, extra), format)
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
                for (field, v) in r.values() {
                    let (pos, m) = (field.position(), field.meta());
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
                for (fi, (field, v)) in r.values().enumerate() {
                    if fi > 0 {
                        out.push(',');
                    }
                    let (pos, m) = (field.position(), field.meta());
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
