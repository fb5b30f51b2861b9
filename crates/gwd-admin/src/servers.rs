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
use std::time::Instant;

use gwd_stats_render::{AdminState, ServerRow, check_status_number};

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
    use std::time::Duration;

    use gwd_stats_render::CheckRow;

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
    fn errors_are_haproxys_words() {
        assert_eq!(ServerError::NoBackend.to_string(), "No such backend.");
        assert_eq!(ServerError::NoServer.to_string(), "No such server.");
        assert_eq!(ServerError::Refused("x\n".into()).to_string(), "x");
        assert_eq!(AdminState::Drain.flags(), 8);
        assert_eq!(AdminState::Maint.word(), "maint");
    }
}
