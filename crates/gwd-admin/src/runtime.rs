//! `show servers conn` and `show tunnels`: connection pools and reverse-HTTP
//! tunnels, rendered from plain rows that the proxy's sources produce.
//!
//! The rows are copies taken once per command ([`PoolRow`], [`TunnelRow`]);
//! rendering is pure and sorted, so the exact bytes are unit tested.

use std::fmt::Write as _;

use gwd_stats_render::{PoolRow, TunnelRow};

/// The `show servers conn` header line (without its newline).
pub const SERVERS_CONN_HEADER: &str = "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]";

/// `show servers conn [<backend>]`, HAProxy's format: the header, then one
/// line per server, `bk/sv bkid/svid addr port - purge_delay used_cur
/// used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr...`,
/// in `(backend id, server id)` order. gwd keeps one pool per server for
/// all threads, so the per-thread list has one entry: `idle_cur`.
/// `idle_lim` is `-1` without a limit, the port `0` when there is none.
///
/// ```
/// use gwd_admin::{PoolRow, render_servers_conn};
///
/// let rows = vec![PoolRow {
///     backend: "app".into(), server: "s1".into(), backend_id: 2, server_id: 1,
///     addr: "10.0.0.7".into(), port: 8080, purge_delay_ms: 5000,
///     used_cur: 3, used_max: 5, need_est: 5, idle: 1, safe: 2, idle_limit: None,
/// }];
/// let out = render_servers_conn(&rows, None);
/// assert_eq!(out.lines().nth(1), Some("app/s1 2/1 10.0.0.7 8080 - 5000 3 5 5 1 2 -1 3 3"));
/// ```
pub fn render_servers_conn(rows: &[PoolRow], backend: Option<&str>) -> String {
    let mut rows: Vec<&PoolRow> = rows
        .iter()
        .filter(|r| backend.is_none_or(|b| r.backend == b))
        .collect();
    rows.sort_by_key(|r| (r.backend_id, r.server_id));
    let mut out = String::from(SERVERS_CONN_HEADER);
    out.push('\n');
    for r in rows {
        let lim = r
            .idle_limit
            .map_or_else(|| "-1".to_string(), |l| l.to_string());
        let addr = if r.addr.is_empty() { "-" } else { &r.addr };
        let _ = writeln!(
            out,
            "{}/{} {}/{} {} {} - {} {} {} {} {} {} {} {} {}",
            r.backend,
            r.server,
            r.backend_id,
            r.server_id,
            addr,
            r.port,
            r.purge_delay_ms,
            r.used_cur,
            r.used_max,
            r.need_est,
            r.idle,
            r.safe,
            lim,
            r.idle_cur(),
            r.idle_cur()
        );
    }
    out
}

/// The `show tunnels` header line (without its newline).
pub const TUNNELS_HEADER: &str =
    "# name id active_streams stream_limit age_s ping_rtt_ms origin server";

/// `show tunnels [<name>]`: the header, then one line per tunnel and
/// name, `name id active_streams stream_limit age_s ping_rtt_ms origin
/// server`, sorted by name then id. `<name>` is matched without regard to
/// ASCII case, as the registry does. An unnamed tunnel shows `-` as its
/// name, an unknown RTT, origin or server `-`; the RTT is in milliseconds
/// with three decimals, the age in whole seconds.
///
/// ```
/// use std::time::Duration;
/// use gwd_admin::{TunnelRow, render_tunnels};
///
/// let rows = vec![TunnelRow {
///     name: "edge1".into(), id: 7, backend: "be".into(), server: "rev".into(),
///     active_streams: 2, stream_limit: 100, age: Duration::from_secs(61),
///     last_ping_rtt: Some(Duration::from_micros(1500)), origin: "192.0.2.9:40000".into(),
/// }];
/// let out = render_tunnels(&rows, None);
/// assert_eq!(out.lines().nth(1), Some("edge1 7 2 100 61 1.500 192.0.2.9:40000 be/rev"));
/// ```
pub fn render_tunnels(rows: &[TunnelRow], name: Option<&str>) -> String {
    let mut rows: Vec<&TunnelRow> = rows
        .iter()
        .filter(|r| name.is_none_or(|n| r.name.eq_ignore_ascii_case(n)))
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut out = String::from(TUNNELS_HEADER);
    out.push('\n');
    // Names come from origins' certificates: escaped, so a name with a
    // line break or a blank cannot forge rows or columns.
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            escape_field(s)
        }
    };
    for r in rows {
        let rtt = r.last_ping_rtt.map_or_else(
            || "-".to_string(),
            |d| format!("{:.3}", d.as_secs_f64() * 1000.0),
        );
        let server = if r.backend.is_empty() && r.server.is_empty() {
            "-".to_string()
        } else {
            format!("{}/{}", r.backend, r.server)
        };
        let _ = writeln!(
            out,
            "{} {} {} {} {} {} {} {}",
            dash(&r.name),
            r.id,
            r.active_streams,
            r.stream_limit,
            r.age.as_secs(),
            rtt,
            dash(&r.origin),
            server
        );
    }
    out
}

/// `s` as one field of a blank-separated text row: bytes outside visible
/// ASCII, blanks and backslashes written `\xNN`.
pub fn escape_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn fields_are_escaped_so_names_cannot_forge_rows() {
        assert_eq!(escape_field("app.example"), "app.example");
        assert_eq!(
            escape_field("evil\nfake 1 0 100 0 - - -"),
            "evil\\x0afake\\x201\\x200\\x20100\\x200\\x20-\\x20-\\x20-"
        );
        assert_eq!(escape_field("a\\b"), "a\\x5cb");
        assert_eq!(escape_field("zoë"), "zo\\xc3\\xab");
    }

    fn pool(b: &str, bid: u32, s: &str, sid: u32) -> PoolRow {
        PoolRow {
            backend: b.into(),
            server: s.into(),
            backend_id: bid,
            server_id: sid,
            addr: "::1".into(),
            port: 443,
            purge_delay_ms: 1000,
            used_cur: 1,
            used_max: 2,
            need_est: 3,
            idle: 4,
            safe: 5,
            idle_limit: Some(64),
        }
    }

    #[test]
    fn servers_conn_sorted_and_filtered() {
        let rows = vec![
            pool("b", 3, "y", 2),
            pool("a", 1, "x", 1),
            pool("b", 3, "x", 1),
        ];
        let out = render_servers_conn(&rows, None);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], SERVERS_CONN_HEADER);
        assert_eq!(lines[1], "a/x 1/1 ::1 443 - 1000 1 2 3 4 5 64 9 9");
        assert_eq!(lines[2].split(' ').next(), Some("b/x"));
        assert_eq!(lines[3].split(' ').next(), Some("b/y"));
        assert_eq!(lines.len(), 4);
        let only_b = render_servers_conn(&rows, Some("b"));
        assert_eq!(only_b.lines().count(), 3);
        assert!(!only_b.contains("a/x"));
        // Header fields and value fields line up, one per blank.
        let header_fields = SERVERS_CONN_HEADER.split(' ').count() - 1;
        assert_eq!(lines[1].split(' ').count(), header_fields);
        let mut no_addr = pool("c", 4, "z", 1);
        no_addr.addr.clear();
        no_addr.port = 0;
        no_addr.idle_limit = None;
        assert!(
            render_servers_conn(&[no_addr], None)
                .ends_with("\nc/z 4/1 - 0 - 1000 1 2 3 4 5 -1 9 9\n")
        );
    }

    #[test]
    fn tunnels_sorted_filtered_and_formatted() {
        let t = |name: &str, id| TunnelRow {
            name: name.into(),
            id,
            backend: "be".into(),
            server: "rev".into(),
            active_streams: id,
            stream_limit: 100,
            age: Duration::from_millis(2999),
            last_ping_rtt: None,
            origin: "198.51.100.4:5000".into(),
        };
        let mut anon = t("", 9);
        anon.backend.clear();
        anon.server.clear();
        anon.origin.clear();
        anon.last_ping_rtt = Some(Duration::from_nanos(1_234_567));
        let rows = vec![t("Edge", 5), t("alpha", 3), t("Edge", 2), anon];
        let out = render_tunnels(&rows, None);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], TUNNELS_HEADER);
        assert_eq!(lines[1], "- 9 9 100 2 1.235 - -");
        assert_eq!(lines[2], "Edge 2 2 100 2 - 198.51.100.4:5000 be/rev");
        assert_eq!(lines[3], "Edge 5 5 100 2 - 198.51.100.4:5000 be/rev");
        assert_eq!(lines[4].split(' ').next(), Some("alpha"));
        let edge = render_tunnels(&rows, Some("EDGE"));
        assert_eq!(edge.lines().count(), 3, "{edge}");
        assert_eq!(
            render_tunnels(&rows, Some("nope")),
            format!("{TUNNELS_HEADER}\n")
        );
        let header_fields = TUNNELS_HEADER.split(' ').count() - 1;
        assert_eq!(lines[2].split(' ').count(), header_fields);
    }
}
