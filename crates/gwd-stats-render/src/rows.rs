//! The plain rows the proxy's sources hand to the renderers: connection
//! pools ([`PoolRow`]), reverse-HTTP tunnels ([`TunnelRow`], grouped by
//! name in [`TunnelNameStats`]) and servers ([`ServerRow`], with their
//! checks in [`CheckRow`] and admin state in [`AdminState`]).
//!
//! Rows are copies taken once per command or scrape; nothing here points
//! back into the proxy, so rendering never takes a lock of the data path.

use std::time::Duration;

/// One server's connection pool at one instant (`show servers conn`, and
/// the pool columns of `show stat`).
///
/// The idle counts follow HAProxy: `idle` connections have served only
/// their first use, `safe` ones were reused and proved the server keeps
/// them open; `idle + safe` is `idle_cur`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolRow {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
    /// Backend id (`bkid`).
    pub backend_id: u32,
    /// Server id within its backend (`svid`).
    pub server_id: u32,
    /// The server's address as configured (IP or host name; `rhttp@` for a
    /// reverse server).
    pub addr: String,
    /// The server's port (0 when it has none).
    pub port: u16,
    /// Period of the pool's purge, in milliseconds.
    pub purge_delay_ms: u64,
    /// Connections in use now.
    pub used_cur: u64,
    /// Peak of `used_cur` since the last purge.
    pub used_max: u64,
    /// Estimate of the connections needed.
    pub need_est: u64,
    /// Pooled connections not yet proven reusable (HAProxy's `unsafe_nb`).
    pub idle: u64,
    /// Pooled connections proven reusable (`safe_nb`).
    pub safe: u64,
    /// Most connections kept idle; `None`: no limit (`-1`).
    pub idle_limit: Option<u64>,
}

impl PoolRow {
    /// Every idle connection: `idle + safe` (HAProxy's `idle_cur`).
    pub fn idle_cur(&self) -> u64 {
        self.idle + self.safe
    }
}

/// One registered reverse-HTTP tunnel under one name (a tunnel filed under
/// several names gives one row per name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelRow {
    /// The registration name (empty for a tunnel filed without a name).
    pub name: String,
    /// The tunnel id (unique in the process).
    pub id: u64,
    /// The `attach-srv` backend the tunnel serves (empty when unknown).
    pub backend: String,
    /// The `attach-srv` server the tunnel serves (empty when unknown).
    pub server: String,
    /// Streams in flight now.
    pub active_streams: u64,
    /// Most streams at once (the origin's MAX_CONCURRENT_STREAMS, capped).
    pub stream_limit: u64,
    /// Time since the tunnel was registered.
    pub age: Duration,
    /// Round trip of the last answered PING; `None` if none was sent.
    pub last_ping_rtt: Option<Duration>,
    /// The origin's address (`ip:port`).
    pub origin: String,
}

/// Tunnels and streams under one name: what `gwd_tunnels{name}`,
/// `gwd_tunnel_active_streams{name}` and the stats page's tunnel table
/// report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelNameStats {
    /// The name (empty for unnamed tunnels).
    pub name: String,
    /// Tunnels registered under it.
    pub tunnels: u64,
    /// Streams in flight over them.
    pub active_streams: u64,
}

impl TunnelNameStats {
    /// Groups rows by name (exact name), sorted by name.
    ///
    /// ```
    /// use gwd_stats_render::{TunnelNameStats, TunnelRow};
    ///
    /// let row = |name: &str, id, active_streams| TunnelRow {
    ///     name: name.into(), id, active_streams, ..TunnelRow::default()
    /// };
    /// let by_name = TunnelNameStats::from_rows(&[row("b", 1, 2), row("a", 2, 0), row("b", 3, 5)]);
    /// assert_eq!(by_name.iter().map(|t| (t.name.as_str(), t.tunnels, t.active_streams)).collect::<Vec<_>>(),
    ///            [("a", 1, 0), ("b", 2, 7)]);
    /// ```
    pub fn from_rows(rows: &[TunnelRow]) -> Vec<TunnelNameStats> {
        let mut map: std::collections::BTreeMap<&str, TunnelNameStats> = Default::default();
        for r in rows {
            let e = map
                .entry(r.name.as_str())
                .or_insert_with(|| TunnelNameStats {
                    name: r.name.clone(),
                    ..Default::default()
                });
            e.tunnels += 1;
            e.active_streams += r.active_streams;
        }
        map.into_values().collect()
    }
}

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
    /// Good checks in a row that bring the server up (`rise`).
    pub rise: u32,
    /// Failed checks in a row that bring the server down (`fall`).
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
    /// Times passive checks (`observe`) reached `error-limit` and applied
    /// `on-error` (`hanafail`).
    pub passive_failures: u64,
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
    /// Backend name.
    pub backend: String,
    /// Backend id (`be_id`).
    pub backend_id: u32,
    /// Server name.
    pub server: String,
    /// Server id within its backend (`srv_id`).
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
    /// Current weight.
    pub weight: u32,
    /// Weight as configured.
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
    /// The port checks connect to, when not the server's.
    pub check_port: Option<u16>,
    /// The address checks connect to, when not the server's.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: &str) -> ServerRow {
        ServerRow {
            backend: "app".into(),
            backend_id: 2,
            server: server.into(),
            server_id: 1,
            status: "UP".into(),
            ..ServerRow::default()
        }
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
}
