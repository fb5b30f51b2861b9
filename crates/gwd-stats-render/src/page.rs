//! The HTML statistics page, in the spirit of HAProxy's: a process header,
//! one table per proxy (FRONTEND row, server rows, BACKEND row), states in
//! colour, an optional refresh, a link to the CSV, and a table of tunnels.
//!
//! Rendering is pure and the markup is stable: every table, row and cell
//! carries ids, classes or `data-*` attributes a browser test can query
//! (listed in `docs/STATS.md`). Every name is HTML-escaped.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use gwd_stats::RegistrySnapshot;

use crate::rows::TunnelNameStats;
use crate::stats::{
    Field, ProcessInfo, ProcessTotals, RowType, StatExtra, StatFilter, StatRow, format_uptime,
    stat_rows,
};

/// How the page is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageOptions {
    /// The stats URI (`stats uri`); the CSV link is `<uri>;csv`.
    pub uri: String,
    /// Reload the page this often (`<meta http-equiv="refresh">`); `None`:
    /// never.
    pub refresh: Option<Duration>,
    /// `stats hide-version`: the process header leaves out the version
    /// row.
    pub hide_version: bool,
}

impl Default for PageOptions {
    /// `/stats`, no refresh, version shown.
    fn default() -> Self {
        PageOptions {
            uri: "/stats".into(),
            refresh: None,
            hide_version: false,
        }
    }
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The CSS class of a `status` text: `status-goingdown` for a server up
/// but not fully (`UP 2/3`), `status-goingup` for one down whose checks
/// pass (`DOWN 1/2`), otherwise `status-` and the text in lower case
/// without blanks (`status-up`, `status-down`, `status-maint`,
/// `status-drain`, `status-nocheck`, `status-notunnel`, `status-open`).
pub fn status_class(status: &str) -> String {
    if status.starts_with("UP ") {
        return "status-goingdown".into();
    }
    if status.starts_with("DOWN ") {
        return "status-goingup".into();
    }
    let mut c = String::from("status-");
    c.extend(
        status
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase()),
    );
    c
}

/// Column groups and their columns: (group title, [(CSV field, title)]).
const COLUMNS: &[(&str, &[(Field, &str)])] = &[
    (
        "Queue",
        &[
            (Field::Qcur, "Cur"),
            (Field::Qmax, "Max"),
            (Field::Qlimit, "Limit"),
        ],
    ),
    (
        "Session rate",
        &[(Field::Rate, "Cur"), (Field::RateMax, "Max")],
    ),
    (
        "Sessions",
        &[
            (Field::Scur, "Cur"),
            (Field::Smax, "Max"),
            (Field::Slim, "Limit"),
            (Field::Stot, "Total"),
            (Field::Lbtot, "LbTot"),
        ],
    ),
    ("Bytes", &[(Field::Bin, "In"), (Field::Bout, "Out")]),
    ("Denied", &[(Field::Dreq, "Req"), (Field::Dresp, "Resp")]),
    (
        "Errors",
        &[
            (Field::Ereq, "Req"),
            (Field::Econ, "Conn"),
            (Field::Eresp, "Resp"),
        ],
    ),
    (
        "Responses",
        &[
            (Field::Hrsp1xx, "1xx"),
            (Field::Hrsp2xx, "2xx"),
            (Field::Hrsp3xx, "3xx"),
            (Field::Hrsp4xx, "4xx"),
            (Field::Hrsp5xx, "5xx"),
            (Field::HrspOther, "Other"),
        ],
    ),
    (
        "Server",
        &[
            (Field::Status, "Status"),
            (Field::Lastchg, "LastChg"),
            (Field::CheckStatus, "LastChk"),
            (Field::Weight, "Wght"),
            (Field::Act, "Act"),
            (Field::Bck, "Bck"),
            (Field::Chkfail, "Chk"),
            (Field::Chkdown, "Dwn"),
            (Field::Downtime, "Dwntme"),
        ],
    ),
];

const CSS: &str = "\
body{font-family:Arial,Helvetica,sans-serif;font-size:12px;margin:8px;color:#000;background:#fff}\
h1{font-size:18px;margin:4px 0}h2{font-size:14px;margin:12px 0 2px}\
table{border-collapse:collapse;margin-bottom:8px}\
th,td{border:1px solid #999;padding:1px 4px}\
td{text-align:right}\
thead th{background:#b0b0c8}\
table.proxy{width:100%}\
table.proxy caption{text-align:left;font-weight:bold;font-size:13px;background:#20a0ff;color:#fff;padding:2px 6px}\
tbody th{text-align:left;white-space:nowrap}\
tr.frontend td,tr.frontend th{background:#e8f0ff}\
tr.backend td,tr.backend th{font-weight:bold}\
tr.status-open td[data-col=status],tr.status-up td,tr.status-up th{background:#b8f0b8}\
tr.status-down td,tr.status-down th{background:#ff8080}\
tr.status-notunnel td,tr.status-notunnel th{background:#ffc060}\
tr.status-nocheck td,tr.status-nocheck th{background:#e4e4f0}\
tr.status-maint td,tr.status-maint th{background:#c07820}\
tr.status-drain td,tr.status-drain th{background:#20a0ff}\
tr.status-goingdown td,tr.status-goingdown th{background:#ffffa0}\
tr.status-goingup td,tr.status-goingup th{background:#ffd020}\
tr.server.backup.status-up td,tr.server.backup.status-up th{background:#b0d0ff}\
tr.frontend.status-open td,tr.frontend.status-open th{background:#c8f0d0}\
#legend td{text-align:left}\
";

/// The stats page: a complete HTML5 document.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gwd_stats_render::{PageOptions, ProcessInfo, StatExtra, render_stats_page};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// reg.add_frontend("www");
/// let t0 = Instant::now();
/// let html = render_stats_page(&reg.snapshot(),
///     &ProcessInfo::current("gwd", "0.1.0", 1, t0), &StatExtra::default(),
///     &PageOptions { uri: "/stats".into(), refresh: Some(Duration::from_secs(5)), hide_version: false }, t0);
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// assert!(html.contains(r#"<meta http-equiv="refresh" content="5">"#));
/// assert!(html.contains(r#"<table class="proxy" id="proxy-www" data-proxy="www">"#));
/// assert!(html.contains(r#"<tr class="frontend status-open" data-row="FRONTEND" data-status="OPEN">"#));
/// assert!(html.contains(r#"<a id="csv-link" href="/stats;csv">"#));
/// ```
pub fn render_stats_page(
    snap: &RegistrySnapshot,
    info: &ProcessInfo,
    extra: &StatExtra,
    opts: &PageOptions,
    now: Instant,
) -> String {
    let rows = stat_rows(snap, &StatFilter::default(), extra);
    let e = escape_html;
    let mut h = String::with_capacity(4096 + rows.len() * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    if let Some(r) = opts.refresh {
        let secs = r.as_secs().max(1);
        let _ = writeln!(h, "<meta http-equiv=\"refresh\" content=\"{secs}\">");
    }
    let _ = writeln!(h, "<title>Statistics Report for {}</title>", e(&info.name));
    let _ = writeln!(h, "<style>{CSS}</style>\n</head>\n<body>");

    // Process header.
    let up = now.saturating_duration_since(info.started);
    let t = ProcessTotals::of(snap);
    let _ = writeln!(
        h,
        "<header id=\"process\">\n<h1>{} statistics report</h1>",
        e(&info.name)
    );
    h.push_str("<table id=\"info\">\n<tbody>\n");
    let mut info_row = |key: &str, title: &str, value: String| {
        let _ = writeln!(
            h,
            "<tr data-info=\"{key}\"><th scope=\"row\">{title}</th><td>{}</td></tr>",
            e(&value)
        );
    };
    info_row("name", "Name", info.name.clone());
    if !opts.hide_version {
        info_row("version", "Version", info.version.clone());
    }
    info_row("pid", "Pid", info.pid.to_string());
    info_row("nbthread", "Threads", info.nbthread.to_string());
    info_row("uptime", "Uptime", format_uptime(up));
    info_row("curr_conns", "Current connections", t.cur_conns.to_string());
    info_row("cum_conns", "Total connections", t.cum_conns.to_string());
    info_row("cum_req", "Total requests", t.cum_req.to_string());
    info_row(
        "refresh",
        "Refresh",
        opts.refresh
            .map_or_else(|| "off".into(), |r| format!("{} s", r.as_secs().max(1))),
    );
    h.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        h,
        "<p id=\"links\"><a id=\"csv-link\" href=\"{}\">CSV export</a></p>",
        e(&format!("{};csv", opts.uri))
    );
    h.push_str(LEGEND);
    h.push_str("</header>\n<main>\n");

    // One table per proxy: consecutive rows of one pxname.
    let mut i = 0;
    while i < rows.len() {
        let px = rows[i].proxy();
        let end = rows[i..]
            .iter()
            .position(|r| r.proxy() != px)
            .map_or(rows.len(), |n| i + n);
        proxy_table(&mut h, &px, &rows[i..end]);
        i = end;
    }
    if rows.is_empty() {
        h.push_str("<p id=\"no-proxy\">No proxy configured.</p>\n");
    }

    if let Some(tunnels) = &extra.tunnels {
        tunnel_table(&mut h, &TunnelNameStats::from_rows(tunnels));
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

const LEGEND: &str = "<table id=\"legend\">\n<tbody>\n\
<tr class=\"status-up\"><td>UP: server passing its checks, rhttp@ server with tunnels, backend with a usable server</td></tr>\n\
<tr class=\"status-goingdown\"><td>UP, going down: its last checks failed</td></tr>\n\
<tr class=\"status-goingup\"><td>DOWN, going up: its last checks passed</td></tr>\n\
<tr class=\"status-down\"><td>DOWN: server failing its checks, backend with no usable server</td></tr>\n\
<tr class=\"status-drain\"><td>DRAIN: takes no new request (runtime API)</td></tr>\n\
<tr class=\"status-maint\"><td>MAINT: in maintenance (runtime API or disabled)</td></tr>\n\
<tr class=\"status-nocheck\"><td>no check: not health-checked</td></tr>\n\
<tr class=\"status-notunnel\"><td>no tunnel: rhttp@ server without tunnel</td></tr>\n\
</tbody>\n</table>\n";

/// A name made safe for an `id` attribute: characters other than ASCII
/// letters, digits, `-`, `_`, `.` and `:` become `_`.
fn id_token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn proxy_table(h: &mut String, px: &str, rows: &[StatRow]) {
    let e = escape_html;
    let _ = writeln!(
        h,
        "<section class=\"proxy\" data-proxy=\"{0}\">\n<table class=\"proxy\" id=\"proxy-{1}\" data-proxy=\"{0}\">\n<caption>{0}</caption>\n<thead>\n<tr><th rowspan=\"2\" scope=\"col\"></th>",
        e(px),
        id_token(px)
    );
    for (group, cols) in COLUMNS {
        let _ = write!(
            h,
            "<th colspan=\"{}\" scope=\"colgroup\">{}</th>",
            cols.len(),
            group
        );
    }
    h.push_str("</tr>\n<tr>");
    for (_, cols) in COLUMNS {
        for (field, title) in *cols {
            let _ = write!(
                h,
                "<th scope=\"col\" data-col=\"{}\">{title}</th>",
                field.name()
            );
        }
    }
    h.push_str("</tr>\n</thead>\n<tbody>\n");
    for r in rows {
        let status = r.text(Field::Status);
        let (class, data_row, label) = match r.kind {
            RowType::Frontend => ("frontend", "FRONTEND".to_string(), "Frontend".to_string()),
            RowType::Backend => ("backend", "BACKEND".to_string(), "Backend".to_string()),
            RowType::Server => ("server", "server".to_string(), r.name()),
        };
        let backup = if r.kind == RowType::Server && r.num(Field::Bck) == Some(1) {
            " backup"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr class=\"{class}{backup} {}\" data-row=\"{data_row}\"",
            status_class(&status)
        );
        if r.kind == RowType::Server {
            let _ = write!(h, " data-server=\"{}\"", e(&label));
        }
        let _ = write!(
            h,
            " data-status=\"{}\"><th scope=\"row\">{}</th>",
            e(&status),
            e(&label)
        );
        for (_, cols) in COLUMNS {
            for (field, _) in *cols {
                let _ = write!(
                    h,
                    "<td data-col=\"{}\">{}</td>",
                    field.name(),
                    e(&r.text(*field))
                );
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn tunnel_table(h: &mut String, names: &[TunnelNameStats]) {
    let e = escape_html;
    h.push_str(
        "<section id=\"tunnels\">\n<h2>Tunnels</h2>\n<table class=\"tunnels\" id=\"tunnel-table\">\n<thead>\n\
<tr><th scope=\"col\">Name</th><th scope=\"col\">Tunnels</th><th scope=\"col\">Streams</th></tr>\n</thead>\n<tbody>\n",
    );
    for t in names {
        let shown = if t.name.is_empty() {
            "(unnamed)".to_string()
        } else {
            t.name.clone()
        };
        let class = if t.tunnels > 0 {
            "status-up"
        } else {
            "status-notunnel"
        };
        let _ = writeln!(
            h,
            "<tr class=\"tunnel {class}\" data-tunnel=\"{}\"><th scope=\"row\" data-col=\"name\">{}</th><td data-col=\"tunnels\">{}</td><td data-col=\"streams\">{}</td></tr>",
            e(&t.name),
            e(&shown),
            t.tunnels,
            t.active_streams
        );
    }
    if names.is_empty() {
        h.push_str("<tr class=\"status-notunnel\" data-tunnel-none=\"\"><td colspan=\"3\">No tunnel registered.</td></tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_classes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain"), "plain");
        assert_eq!(status_class("no tunnel"), "status-notunnel");
        assert_eq!(status_class("UP"), "status-up");
        assert_eq!(status_class("no check"), "status-nocheck");
        assert_eq!(status_class(""), "status-");
        assert_eq!(status_class("MAINT"), "status-maint");
        assert_eq!(status_class("DRAIN"), "status-drain");
        assert_eq!(status_class("UP 1/3"), "status-goingdown");
        assert_eq!(status_class("DOWN 1/2"), "status-goingup");
        assert_eq!(id_token("a b\"c.d:e-f_g"), "a_b_c.d:e-f_g");
    }

    #[test]
    fn empty_registry_page() {
        let t0 = Instant::now();
        let html = render_stats_page(
            &gwd_stats::Registry::new().snapshot(),
            &ProcessInfo::current("g<w>d", "1", 1, t0),
            &StatExtra::default(),
            &PageOptions::default(),
            t0,
        );
        assert!(html.contains("<title>Statistics Report for g&lt;w&gt;d</title>"));
        assert!(html.contains("<p id=\"no-proxy\">No proxy configured.</p>"));
        assert!(!html.contains("<table class=\"proxy\""));
        assert!(html.ends_with("</main>\n</body>\n</html>\n"));
        assert!(
            html.contains(
                "<tr data-info=\"refresh\"><th scope=\"row\">Refresh</th><td>off</td></tr>"
            )
        );
    }

    #[test]
    fn hide_version_leaves_out_the_version_row_only() {
        let t0 = Instant::now();
        let page = |hide_version| {
            render_stats_page(
                &gwd_stats::Registry::new().snapshot(),
                &ProcessInfo::current("gwd", "7.7.7", 1, t0),
                &StatExtra::default(),
                &PageOptions {
                    hide_version,
                    ..PageOptions::default()
                },
                t0,
            )
        };
        let (shown, hidden) = (page(false), page(true));
        let row = "<tr data-info=\"version\"><th scope=\"row\">Version</th><td>7.7.7</td></tr>\n";
        assert!(shown.contains(row), "{shown}");
        assert!(!hidden.contains("7.7.7"), "{hidden}");
        assert_eq!(shown.replacen(row, "", 1), hidden);
    }
}
