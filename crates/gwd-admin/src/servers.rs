//! Servers at run time: what the runtime API may change about them
//! ([`ServerControl`]: admin state, weight, forced health, checks on or
//! off) and what every output shows of them ([`ServerRow`]: state, weight,
//! last check), plus `show servers state` ([`render_servers_state`]).
//!
//! The proxy implements [`ServerControl`] (gwd-app, over gwd-http's
//! server operations); this crate only parses commands, checks levels and
//! renders rows, so it depends on neither gwd-http nor gwd-balance, and a
//! test double drives it in unit tests.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A server's administrative state (HAProxy's `set server <b>/<s> state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AdminState {
    /// In service (`ready`, `enable server`).
    #[default]
    Ready,
    /// No new requests; those in flight finish (`drain`).
    Drain,
    /// Maintenance: no requests at all (`maint`, `disable server`).
    Maint,
}

impl AdminState {
    /// The word `set server ... state` takes: `ready`, `drain` or `maint`.
    pub fn word(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }

    /// `show servers state`'s `srv_admin_state` bits: HAProxy's
    /// `SRV_ADMF_FMAINT` (0x01) for maintenance, `SRV_ADMF_FDRAIN` (0x08)
    /// for drain, 0 when ready.
    pub fn flags(self) -> u32 {
        match self {
            AdminState::Ready => 0,
            AdminState::Drain => 0x08,
            AdminState::Maint => 0x01,
        }
    }
}

/// Why a server operation was refused. `Display` is the runtime API's
/// answer (HAProxy's wording), without the line end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// `No such backend.`
    NoBackend,
    /// `No such server.`
    NoServer,
    /// The server has no health checks (`enable health`, `disable health`,
    /// `set server ... health`); the answer depends on the command.
    NotChecked,
    /// Any other refusal, with its answer (e.g. HAProxy's static-LB weight
    /// message).
    Refused(String),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::NoBackend => f.write_str("No such backend."),
            ServerError::NoServer => f.write_str("No such server."),
            ServerError::NotChecked => {
                f.write_str("Health checks are not configured on this server.")
            }
            ServerError::Refused(why) => f.write_str(why.trim_end_matches('\n')),
        }
    }
}

impl std::error::Error for ServerError {}

/// The server operations of the runtime API, on the running proxy. Every
/// method names a server by backend and server name, as the commands do;
/// a change takes effect on the next request.
pub trait ServerControl: Send + Sync {
    /// `enable server`, `disable server`, `set server <b>/<s> state`.
    fn set_admin(&self, backend: &str, server: &str, state: AdminState) -> Result<(), ServerError>;

    /// `get weight`: the current and the initial weight.
    fn weight(&self, backend: &str, server: &str) -> Result<(u32, u32), ServerError>;

    /// `set weight`, `set server <b>/<s> weight`: an absolute weight,
    /// 0..=256 (the command has already turned a percentage into one).
    /// A static algorithm refuses weights other than 0 and the initial one
    /// ([`ServerError::Refused`] with HAProxy's message).
    fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<(), ServerError>;

    /// `set server <b>/<s> health up|down`: forces what the checks say
    /// until the next checks say otherwise.
    fn set_health(&self, backend: &str, server: &str, up: bool) -> Result<(), ServerError>;

    /// `enable health` / `disable health`: the server's checks run or stop.
    fn set_checks(&self, backend: &str, server: &str, on: bool) -> Result<(), ServerError>;

    /// Every server at `now`, backends and servers in configuration order.
    fn servers(&self, now: Instant) -> Vec<ServerRow>;

    /// Whether a backend of this name exists (`show servers state
    /// <backend>`); by default, whether one of [`servers`](Self::servers)'
    /// rows names it.
    fn has_backend(&self, backend: &str) -> bool {
        self.servers(Instant::now())
            .iter()
            .any(|r| r.backend == backend)
    }
}

/// One server's health checks at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckRow {
    /// Checks run (`disable health` turns them off; the server then counts
    /// as unchecked).
    pub enabled: bool,
    /// A check is running now (`check_status` is prefixed with `* `).
    pub running: bool,
    /// The health counter, `0..=rise + fall - 1`.
    pub health: u32,
    /// `rise` and `fall`.
    pub rise: u32,
    pub fall: u32,
    /// What the checks say (UP or DOWN), before admin states.
    pub up: bool,
    /// The `check_status` text of the last check (`L7OK`, `L4CON`, ...,
    /// HAProxy's codes); `None` before the first one.
    pub status: Option<String>,
    /// The last check's description (`Layer7 check passed`).
    pub description: Option<String>,
    /// The last check's HTTP status code.
    pub code: Option<u16>,
    /// Free text about the last check (reason phrase, connection error).
    pub info: Option<String>,
    /// How long the last check took.
    pub duration: Option<Duration>,
    /// Failed checks (`chkfail`).
    pub failed: u64,
    /// Transitions to DOWN (`chkdown`).
    pub downs: u64,
}

impl CheckRow {
    /// The `check_status` column: the last status (`INI` before the first
    /// check), `* `-prefixed while a check runs.
    pub fn status_text(&self) -> String {
        let code = self.status.as_deref().unwrap_or("INI");
        if self.running {
            format!("* {code}")
        } else {
            code.to_owned()
        }
    }
}

/// One server at one instant, as the proxy sees it: what `show stat`, `show
/// servers state`, the stats page and Prometheus show of its state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerRow {
    /// Backend name and id (`be_id`).
    pub backend: String,
    pub backend_id: u32,
    /// Server name and id within its backend (`srv_id`).
    pub server: String,
    pub server_id: u32,
    /// The host as configured (an address or a name); `None` for an
    /// `rhttp@` server.
    pub host: Option<String>,
    /// The port; `None` for an `rhttp@` server.
    pub port: Option<u16>,
    /// Administrative state.
    pub admin: AdminState,
    /// Usable as far as health goes (checks, forced, or unchecked).
    pub up: bool,
    /// Current and initial weight.
    pub weight: u32,
    pub initial_weight: u32,
    /// A `backup` server.
    pub backup: bool,
    /// `maxconn` (`slim`); `None`: no limit.
    pub maxconn: Option<u32>,
    /// HAProxy's `status` column as the proxy words it: `UP`, `DOWN`,
    /// `MAINT`, `DRAIN`, `no check`, `UP 2/3` (going down), `DOWN 1/2`
    /// (going up), `no tunnel`.
    pub status: String,
    /// `rhttp@` servers: tunnels attached now (all names).
    pub tunnels: Option<usize>,
    /// Health checks; `None`: the server has none.
    pub check: Option<CheckRow>,
    /// The port and address checks connect to.
    pub check_port: Option<u16>,
    pub check_addr: Option<String>,
    /// `ssl = true`.
    pub use_ssl: bool,
    /// How long the current operational state holds (`lastchg`).
    pub since_change: Duration,
    /// Total time down (`downtime`).
    pub downtime: Duration,
}

impl ServerRow {
    /// The `status` column: [`status`](Self::status), except that an
    /// unchecked `rhttp@` server with tunnels attached is `UP` (its
    /// tunnels are its health) and one without any is `no tunnel`.
    pub fn status_text(&self) -> String {
        match self.tunnels {
            Some(0) if matches!(self.status.as_str(), "no check" | "UP") => "no tunnel".into(),
            Some(n) if n > 0 && self.status == "no check" => "UP".into(),
            _ => self.status.clone(),
        }
    }

    /// Checks that run now (configured and not disabled).
    pub fn active_check(&self) -> Option<&CheckRow> {
        self.check.as_ref().filter(|c| c.enabled)
    }
}

/// HAProxy's `HCHK_STATUS_*` number of a check status code (`show servers
/// state`'s `srv_check_status`): `UNK` 0, `INI` 1, `HANA` 4, `SOCKERR` 5,
/// `L4OK` 6, `L4TOUT` 7, `L4CON` 8, `L6OK` 9, `L6TOUT` 10, `L6RSP` 11,
/// `L7TOUT` 12, `L7RSP` 13, `L7OK` 15, `L7OKC` 16, `L7STS` 17, `PROCERR`
/// 18, `PROCTOUT` 19, `PROCOK` 20; 0 for anything else.
pub fn check_status_number(code: &str) -> u32 {
    match code {
        "INI" => 1,
        "HANA" => 4,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        "PROCERR" => 18,
        "PROCTOUT" => 19,
        "PROCOK" => 20,
        _ => 0,
    }
}

/// The check status codes a finished check can report, in HAProxy's
/// order (the `state` label values of `gwd_server_check_status`): `HANA`
/// is the passive checks' (`observe`, `error-limit`).
pub const CHECK_STATUS_CODES: [&str; 13] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS",
];

/// `show servers state`'s first line (the format version) and header,
/// HAProxy 2.6's.
pub const SERVERS_STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

/// `show servers state [<backend>]`, HAProxy 2.6's format: the version
/// line `1`, the header, then one line per server (of `backend` only when
/// given), in the rows' order, with HAProxy's encodings:
///
/// * `srv_op_state`: 0 (stopped: DOWN, or in maintenance) or 2
///   (running); gwd has no slow start (1) and no `stopping` health (3).
/// * `srv_admin_state`: [`AdminState::flags`].
/// * `srv_check_status`: [`check_status_number`] of the last check (0
///   without checks, 1 before the first); `srv_check_result`: 0 unknown, 2
///   failed, 3 passed, 4 conditionally passed; `srv_check_state`: 0x02
///   configured, 0x04 enabled, 0x01 running.
/// * `srv_addr`: the host as configured; `srv_fqdn`: the host when it is
///   a name, not an address. Empty fields are `-`, absent numbers 0.
///
/// ```
/// use gwd_admin::{ServerRow, render_servers_state};
/// let row = ServerRow {
///     backend: "app".into(), backend_id: 2, server: "s1".into(), server_id: 1,
///     host: Some("10.0.0.1".into()), port: Some(80), up: true,
///     weight: 1, initial_weight: 1, status: "no check".into(),
///     ..ServerRow::default()
/// };
/// let out = render_servers_state(&[row], None);
/// assert!(out.ends_with("\n2 app 1 s1 10.0.0.1 2 0 1 1 0 0 0 0 0 0 0 0 - 80 - 0 0 - - 0\n"));
/// ```
pub fn render_servers_state(rows: &[ServerRow], backend: Option<&str>) -> String {
    let mut out = String::from(SERVERS_STATE_HEADER);
    for r in rows {
        if backend.is_some_and(|b| b != r.backend) {
            continue;
        }
        let admin = r.admin;
        let op_state = if admin == AdminState::Maint || !r.up {
            0
        } else {
            2
        };
        let (status, result, health, state) = match &r.check {
            None => (0, 0, 0, 0),
            Some(c) => {
                let status = c.status.as_deref().map_or(1, check_status_number);
                let result = match c.status.as_deref() {
                    None => 0,
                    Some("L7OKC") => 4,
                    Some("L4OK" | "L6OK" | "L7OK" | "PROCOK") => 3,
                    Some(_) => 2,
                };
                let state = 0x02 | if c.enabled { 0x04 } else { 0 } | u32::from(c.running);
                (status, result, c.health, state)
            }
        };
        let addr = r.host.as_deref().filter(|h| !h.is_empty()).unwrap_or("-");
        let fqdn = match r.host.as_deref() {
            Some(h) if !h.is_empty() && h.parse::<std::net::IpAddr>().is_err() => h,
            _ => "-",
        };
        let _ = writeln!(
            out,
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 {} {} - {} {} {} - 0",
            r.backend_id,
            field(&r.backend),
            r.server_id,
            field(&r.server),
            field(addr),
            op_state,
            admin.flags(),
            r.weight,
            r.initial_weight,
            r.since_change.as_secs(),
            status,
            result,
            health,
            state,
            field(fqdn),
            r.port.unwrap_or(0),
            u8::from(r.use_ssl),
            r.check_port.unwrap_or(0),
            field(
                r.check_addr
                    .as_deref()
                    .filter(|a| !a.is_empty())
                    .unwrap_or("-")
            ),
        );
    }
    out
}

/// A space-separated field: blanks and line breaks inside become `_` so a
/// line keeps its field count (HAProxy's names have none).
fn field(s: &str) -> String {
    s.replace([' ', '\t', '\n', '\r'], "_")
}

/// HAProxy's `server_parse_weight_change_request`: `<w>` (0..=256) or
/// `<w>%` of `initial` (clamped to 256). Errors are HAProxy's answers.
pub fn parse_weight(spec: &str, initial: u32) -> Result<u32, String> {
    if spec.is_empty() {
        return Err("Require <weight> or <weight%>.".into());
    }
    // strtol: blanks, a sign, digits.
    let s = spec.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits_at) = match s.as_bytes().first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let digits = s[digits_at..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 {
        return Err("Empty weight string empty or preceded by garbage".into());
    }
    let magnitude = s[digits_at..digits_at + digits]
        .parse::<i64>()
        .unwrap_or(i64::MAX);
    let w = if neg { -magnitude } else { magnitude };
    let rest = &s[digits_at + digits..];
    if rest == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.".into());
        }
        let pct = w.min(25_600) as u64;
        return Ok((u64::from(initial) * pct / 100).min(256) as u32);
    }
    if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.".into());
    }
    if !rest.is_empty() {
        return Err("Trailing garbage in weight string".into());
    }
    Ok(w as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_like_haproxy() {
        assert_eq!(parse_weight("10", 4), Ok(10));
        assert_eq!(parse_weight("0", 4), Ok(0));
        assert_eq!(parse_weight("256", 4), Ok(256));
        assert_eq!(parse_weight("+3", 4), Ok(3));
        assert_eq!(parse_weight("50%", 4), Ok(2));
        assert_eq!(parse_weight("100%", 3), Ok(3));
        assert_eq!(parse_weight("0%", 3), Ok(0));
        // Percentages are capped at 25600 % and the result at 256.
        assert_eq!(parse_weight("99999%", 200), Ok(256));
        assert_eq!(
            parse_weight("", 1),
            Err("Require <weight> or <weight%>.".into())
        );
        assert_eq!(
            parse_weight("x1", 1),
            Err("Empty weight string empty or preceded by garbage".into())
        );
        assert_eq!(
            parse_weight("-5%", 1),
            Err("Relative weight must be positive.".into())
        );
        for bad in ["257", "-1", "99999999999999999999999"] {
            assert_eq!(
                parse_weight(bad, 1),
                Err("Absolute weight can only be between 0 and 256 inclusive.".into()),
                "{bad}"
            );
        }
        assert_eq!(
            parse_weight("5x", 1),
            Err("Trailing garbage in weight string".into())
        );
        assert_eq!(
            parse_weight("5%x", 1),
            Err("Trailing garbage in weight string".into())
        );
    }

    #[test]
    fn check_status_numbers_are_haproxys() {
        let n: Vec<u32> = CHECK_STATUS_CODES
            .iter()
            .map(|c| check_status_number(c))
            .collect();
        assert_eq!(n, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17]);
        assert_eq!(check_status_number("UNK"), 0);
        assert_eq!(check_status_number("INI"), 1);
        assert_eq!(check_status_number("nope"), 0);
    }

    fn row(server: &str) -> ServerRow {
        ServerRow {
            backend: "app".into(),
            backend_id: 2,
            server: server.into(),
            server_id: 1,
            host: Some("10.0.0.1".into()),
            port: Some(8080),
            admin: AdminState::Ready,
            up: true,
            weight: 10,
            initial_weight: 10,
            status: "UP".into(),
            since_change: Duration::from_secs(42),
            ..ServerRow::default()
        }
    }

    #[test]
    fn servers_state_lines_use_haproxys_encodings() {
        let checked = |status: Option<&str>, running| CheckRow {
            enabled: true,
            running,
            health: 4,
            rise: 2,
            fall: 3,
            up: true,
            status: status.map(str::to_owned),
            ..CheckRow::default()
        };
        let mut up = row("up");
        up.check = Some(checked(Some("L7OK"), false));
        up.check_port = Some(8081);
        let mut maint = row("maint");
        maint.admin = AdminState::Maint;
        maint.server_id = 2;
        maint.check = Some(checked(Some("L4CON"), true));
        let mut drain = row("drain");
        drain.admin = AdminState::Drain;
        drain.server_id = 3;
        drain.weight = 5;
        drain.use_ssl = true;
        drain.check = Some(checked(None, false));
        drain.check_addr = Some("192.0.2.9".into());
        let mut down = row("down");
        down.up = false;
        down.server_id = 4;
        down.host = Some("db.internal".into());
        let mut disabled = row("off");
        disabled.server_id = 5;
        disabled.check = Some(CheckRow {
            enabled: false,
            ..checked(Some("L7OKC"), false)
        });
        let mut rev = row("rev");
        rev.backend = "tun nel".into();
        rev.backend_id = 3;
        rev.host = None;
        rev.port = None;
        let rows = [up, maint, drain, down, disabled, rev];
        let out = render_servers_state(&rows, None);
        assert_eq!(
            out,
            format!(
                "{SERVERS_STATE_HEADER}\
                 2 app 1 up 10.0.0.1 2 0 10 10 42 15 3 4 6 0 0 0 - 8080 - 0 8081 - - 0\n\
                 2 app 2 maint 10.0.0.1 0 1 10 10 42 8 2 4 7 0 0 0 - 8080 - 0 0 - - 0\n\
                 2 app 3 drain 10.0.0.1 2 8 5 10 42 1 0 4 6 0 0 0 - 8080 - 1 0 192.0.2.9 - 0\n\
                 2 app 4 down db.internal 0 0 10 10 42 0 0 0 0 0 0 0 db.internal 8080 - 0 0 - - 0\n\
                 2 app 5 off 10.0.0.1 2 0 10 10 42 16 4 4 2 0 0 0 - 8080 - 0 0 - - 0\n\
                 3 tun_nel 1 rev - 2 0 10 10 42 0 0 0 0 0 0 0 - 0 - 0 0 - - 0\n"
            )
        );
        // Every server line has the header's 25 fields.
        for l in out.lines().skip(2) {
            assert_eq!(l.split(' ').count(), 25, "{l}");
        }
        let only = render_servers_state(&rows, Some("tun nel"));
        assert_eq!(only.lines().count(), 3);
        assert!(only.ends_with(" rev - 2 0 10 10 42 0 0 0 0 0 0 0 - 0 - 0 0 - - 0\n"));
    }

    #[test]
    fn rhttp_status_follows_tunnels() {
        let mut r = row("edge");
        r.status = "no check".into();
        assert_eq!(r.status_text(), "no check");
        r.tunnels = Some(0);
        assert_eq!(r.status_text(), "no tunnel");
        r.tunnels = Some(2);
        assert_eq!(r.status_text(), "UP");
        r.status = "MAINT".into();
        assert_eq!(r.status_text(), "MAINT");
        r.tunnels = Some(0);
        assert_eq!(r.status_text(), "MAINT");
        r.status = "no tunnel".into();
        assert_eq!(r.status_text(), "no tunnel");
    }

    #[test]
    fn check_status_text_marks_running_checks() {
        let mut c = CheckRow::default();
        assert_eq!(c.status_text(), "INI");
        c.status = Some("L4CON".into());
        c.running = true;
        assert_eq!(c.status_text(), "* L4CON");
    }

    #[test]
    fn errors_are_haproxys_words() {
        assert_eq!(ServerError::NoBackend.to_string(), "No such backend.");
        assert_eq!(ServerError::NoServer.to_string(), "No such server.");
        assert_eq!(ServerError::Refused("x\n".into()).to_string(), "x");
        assert_eq!(AdminState::Drain.flags(), 8);
        assert_eq!(AdminState::Maint.word(), "maint");
    }
}
