//! Prometheus text exposition (format 0.0.4) of gwd's counters, with
//! metric names modeled on HAProxy's exporter and prefixed `gwd_`.
//!
//! Every family is written once, `# HELP` then `# TYPE` then its samples;
//! families with no sample are left out. Label values are escaped per the
//! text format (`\\`, `\"`, `\n`). Counters are printed as integers, never
//! rounded through a float. See `docs/STATS.md` for the list of families.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime};

use gwd_stats::{ProxySnapshot, RegistrySnapshot, ResponseClasses};

use crate::rows::{CHECK_STATUS_CODES, PoolRow, TunnelNameStats};
use crate::stats::{
    BackendSummary, ProcessInfo, ProcessTotals, RowRates, ServerIndex, ServerLook, ServerState,
    StatExtra,
};

/// The `Content-Type` of the text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why a [`Histogram`] was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HistogramError {
    /// Bounds and counts differ in length.
    #[error("{bounds} bucket bounds for {counts} counts")]
    LengthMismatch {
        /// Number of bounds.
        bounds: usize,
        /// Number of counts.
        counts: usize,
    },
    /// A bound is NaN, infinite, or not above the previous one.
    #[error("bucket bounds must be finite and strictly increasing")]
    BadBounds,
    /// A cumulative count is below the previous one, or above the total.
    #[error("bucket counts must be cumulative and at most the total count")]
    NotCumulative,
}

impl HistogramError {
    /// Whether the bounds themselves are wrong (as opposed to the counts).
    pub fn is_bad_bounds(&self) -> bool {
        matches!(
            self,
            HistogramError::BadBounds | HistogramError::LengthMismatch { .. }
        )
    }
}

/// A histogram in Prometheus' shape: finite bucket upper bounds, the
/// cumulative count of observations at or below each, their sum and
/// their total count (the implicit `+Inf` bucket).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    cumulative: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// Checks and builds a histogram.
    ///
    /// ```
    /// use gwd_stats_render::Histogram;
    /// let h = Histogram::new(vec![0.01, 0.1, 1.0], vec![2, 5, 5], 0.42, 6).unwrap();
    /// assert_eq!(h.count(), 6);
    /// assert!(Histogram::new(vec![0.1, 0.01], vec![1, 2], 0.0, 2).unwrap_err().is_bad_bounds());
    /// ```
    pub fn new(
        bounds: Vec<f64>,
        cumulative: Vec<u64>,
        sum: f64,
        count: u64,
    ) -> Result<Histogram, HistogramError> {
        if bounds.len() != cumulative.len() {
            return Err(HistogramError::LengthMismatch {
                bounds: bounds.len(),
                counts: cumulative.len(),
            });
        }
        if bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(HistogramError::BadBounds);
        }
        if cumulative.windows(2).any(|w| w[0] > w[1])
            || cumulative.last().is_some_and(|&l| l > count)
        {
            return Err(HistogramError::NotCumulative);
        }
        Ok(Histogram {
            bounds,
            cumulative,
            sum,
            count,
        })
    }

    /// The finite bucket upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The cumulative count of each finite bucket.
    pub fn cumulative(&self) -> &[u64] {
        &self.cumulative
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Process-wide tunnel counters: dials (origin side), failed dials, and
/// reversals (tunnels that completed the role reversal), with the
/// reversal latency histogram (seconds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TunnelTotals {
    /// Dial attempts.
    pub dials: u64,
    /// Dial attempts that failed (connect, TLS, handshake).
    pub dial_failures: u64,
    /// Completed reversals.
    pub reversals: u64,
    /// Tunnels dropped because PINGs went unanswered.
    pub ping_timeouts: u64,
    /// Tunnels that ended in error (the gateway broke HTTP/2, or the
    /// connection failed).
    pub errors: u64,
    /// Time from connection to completed reversal, in seconds.
    pub reversal_seconds: Option<Histogram>,
    /// Tunnels up now (reversed and not yet closed), over every dialer.
    pub tunnels_up: u64,
}

/// What the process uses of the machine, as the operating system reports
/// it; each is `None` where the caller could not read it (the families
/// are then left out). Named as Prometheus client libraries name them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessResources {
    /// Resident memory (`process_resident_memory_bytes`).
    pub resident_memory_bytes: Option<u64>,
    /// User plus system CPU time (`process_cpu_seconds_total`).
    pub cpu_seconds: Option<f64>,
    /// Open file descriptors (`process_open_fds`).
    pub open_fds: Option<u64>,
}

/// The number of entries of one map or ACL file (`gwd_map_entries`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapSize {
    /// The file name as written in the configuration.
    pub map: String,
    /// Entries visible to lookups now.
    pub entries: u64,
}

/// What Prometheus reports beyond the counters snapshot: the shared
/// extras (rates, pools, tunnel rows), per-name tunnel gauges, tunnel
/// totals and map sizes. Everything is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromExtra {
    /// Rates, pools and tunnel rows (server states come from the rows).
    pub stat: StatExtra,
    /// `gwd_tunnels{name}` and `gwd_tunnel_active_streams{name}`.
    pub tunnel_names: Vec<TunnelNameStats>,
    /// `gwd_tunnel_dials_total` and the other process-wide tunnel counters.
    pub tunnel_totals: Option<TunnelTotals>,
    /// `gwd_map_entries{map}`.
    pub maps: Vec<MapSize>,
    /// `process_resident_memory_bytes`, `process_cpu_seconds_total`,
    /// `process_open_fds`.
    pub process: ProcessResources,
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label_value(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// A float as Prometheus writes it (`+Inf`, `-Inf`, `NaN`, else the
/// shortest decimal that reads back the same).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

struct Family {
    name: &'static str,
    help: &'static str,
    ty: &'static str,
    samples: String,
}

#[derive(Default)]
struct Out {
    families: Vec<Family>,
    index: std::collections::HashMap<&'static str, usize>,
}

impl Out {
    fn family(&mut self, name: &'static str, ty: &'static str, help: &'static str) -> &mut Family {
        if let Some(&i) = self.index.get(name) {
            return &mut self.families[i];
        }
        self.index.insert(name, self.families.len());
        self.families.push(Family {
            name,
            help,
            ty,
            samples: String::new(),
        });
        self.families.last_mut().expect("just pushed")
    }

    fn sample(
        &mut self,
        name: &'static str,
        ty: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: &dyn std::fmt::Display,
    ) {
        let f = self.family(name, ty, help);
        sample_line(&mut f.samples, name, "", labels, value);
    }

    fn render(self) -> String {
        let mut s = String::new();
        for f in self.families {
            if f.samples.is_empty() {
                continue;
            }
            let _ = writeln!(s, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(s, "# TYPE {} {}", f.name, f.ty);
            s.push_str(&f.samples);
        }
        s
    }
}

fn sample_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    value: &dyn std::fmt::Display,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

const G: &str = "gauge";
const C: &str = "counter";

fn responses(
    o: &mut Out,
    name: &'static str,
    help: &'static str,
    labels: &[(&str, &str)],
    r: &ResponseClasses,
) {
    for (code, v) in [
        ("1xx", r.r1xx),
        ("2xx", r.r2xx),
        ("3xx", r.r3xx),
        ("4xx", r.r4xx),
        ("5xx", r.r5xx),
        ("other", r.other),
    ] {
        let mut l = labels.to_vec();
        l.push(("code", code));
        o.sample(name, C, help, &l, &v);
    }
}

/// Rate and timing families shared by the three row kinds.
macro_rules! rate_families {
    ($o:expr, $prefix:literal, $labels:expr, $r:expr) => {{
        let r: &RowRates = $r;
        let l = $labels;
        let ms = |v: u64| float(v as f64 / 1000.0);
        if let Some(v) = r.rate {
            $o.sample(
                concat!($prefix, "_current_session_rate"),
                G,
                "Sessions over the last second.",
                l,
                &v,
            );
        }
        if let Some(v) = r.rate_max {
            $o.sample(
                concat!($prefix, "_max_session_rate"),
                G,
                "Highest number of sessions per second seen.",
                l,
                &v,
            );
        }
        if let Some(v) = r.req_rate {
            $o.sample(
                concat!($prefix, "_http_requests_rate_current"),
                G,
                "HTTP requests over the last second.",
                l,
                &v,
            );
        }
        if let Some(v) = r.req_rate_max {
            $o.sample(
                concat!($prefix, "_http_requests_rate_max"),
                G,
                "Highest number of HTTP requests per second seen.",
                l,
                &v,
            );
        }
        if let Some(v) = r.conn_rate {
            $o.sample(
                concat!($prefix, "_connections_rate_current"),
                G,
                "Connections over the last second.",
                l,
                &v,
            );
        }
        if let Some(v) = r.conn_rate_max {
            $o.sample(
                concat!($prefix, "_connections_rate_max"),
                G,
                "Highest number of connections per second seen.",
                l,
                &v,
            );
        }
        if let Some(v) = r.qtime_ms {
            $o.sample(
                concat!($prefix, "_queue_time_average_seconds"),
                G,
                "Average queue time of the last 1024 requests.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.ctime_ms {
            $o.sample(
                concat!($prefix, "_connect_time_average_seconds"),
                G,
                "Average connect time of the last 1024 requests.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.rtime_ms {
            $o.sample(
                concat!($prefix, "_response_time_average_seconds"),
                G,
                "Average response time of the last 1024 requests.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.ttime_ms {
            $o.sample(
                concat!($prefix, "_total_time_average_seconds"),
                G,
                "Average total session time of the last 1024 requests.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.qtime_max_ms {
            $o.sample(
                concat!($prefix, "_max_queue_time_seconds"),
                G,
                "Longest queue time seen.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.ctime_max_ms {
            $o.sample(
                concat!($prefix, "_max_connect_time_seconds"),
                G,
                "Longest connect time seen.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.rtime_max_ms {
            $o.sample(
                concat!($prefix, "_max_response_time_seconds"),
                G,
                "Longest response time seen.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.ttime_max_ms {
            $o.sample(
                concat!($prefix, "_max_total_time_seconds"),
                G,
                "Longest total session time seen.",
                l,
                &ms(v),
            );
        }
        if let Some(v) = r.lastsess_s {
            $o.sample(
                concat!($prefix, "_last_session_seconds"),
                G,
                "Seconds since the last session.",
                l,
                &v,
            );
        }
    }};
}

/// Families common to backends and servers: queue, sessions, bytes,
/// errors, requests and responses.
macro_rules! proxy_families {
    ($o:expr, $prefix:literal, $labels:expr, $c:expr) => {{
        let c: &ProxySnapshot = $c;
        let l = $labels;
        $o.sample(
            concat!($prefix, "_current_queue"),
            G,
            "Requests queued now.",
            l,
            &c.queue.cur,
        );
        $o.sample(
            concat!($prefix, "_max_queue"),
            G,
            "Highest number of queued requests seen.",
            l,
            &c.queue.max,
        );
        $o.sample(
            concat!($prefix, "_current_sessions"),
            G,
            "Sessions now.",
            l,
            &c.sessions.cur,
        );
        $o.sample(
            concat!($prefix, "_max_sessions"),
            G,
            "Highest number of concurrent sessions seen.",
            l,
            &c.sessions.max,
        );
        $o.sample(
            concat!($prefix, "_sessions_total"),
            C,
            "Sessions ever.",
            l,
            &c.sessions.total,
        );
        $o.sample(
            concat!($prefix, "_bytes_in_total"),
            C,
            "Request body bytes: received from clients (frontend), sent to servers (backend, server).",
            l,
            &c.bytes_in,
        );
        $o.sample(
            concat!($prefix, "_bytes_out_total"),
            C,
            "Response body bytes sent to clients.",
            l,
            &c.bytes_out,
        );
        $o.sample(
            concat!($prefix, "_connection_errors_total"),
            C,
            "Failed connections to a server.",
            l,
            &c.conn_errors,
        );
        $o.sample(
            concat!($prefix, "_response_errors_total"),
            C,
            "Responses aborted by an error.",
            l,
            &c.resp_errors,
        );
        $o.sample(
            concat!($prefix, "_retry_warnings_total"),
            C,
            "Attempts made again after a failed one (wretr).",
            l,
            &c.retries,
        );
        $o.sample(
            concat!($prefix, "_redispatch_warnings_total"),
            C,
            "Retries sent to another server (wredis).",
            l,
            &c.redispatches,
        );
        $o.sample(
            concat!($prefix, "_http_requests_total"),
            C,
            "HTTP requests.",
            l,
            &c.requests,
        );
        responses(
            &mut $o,
            concat!($prefix, "_http_responses_total"),
            "HTTP responses by status class.",
            l,
            &c.responses,
        );
    }};
}

/// The whole exposition: process, frontend, backend and server families
/// from `snap`, then tunnels and maps from `extra`. `now` gives the
/// uptime.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gwd_stats_render::{ProcessInfo, PromExtra, render_prometheus};
/// use gwd_stats::Registry;
///
/// let mut reg = Registry::new();
/// let fe = reg.add_frontend("www");
/// fe.request_at(std::time::Instant::now());
/// fe.response(200);
/// let t0 = Instant::now();
/// let info = ProcessInfo::current("gwd", "0.1.0", 2, t0);
/// let text = render_prometheus(&reg.snapshot(), &info,
///     &PromExtra::default(), t0 + Duration::from_secs(5));
/// assert!(text.contains("# TYPE gwd_frontend_http_requests_total counter\n\
///                        gwd_frontend_http_requests_total{proxy=\"www\"} 1\n"));
/// assert!(text.contains("gwd_frontend_http_responses_total{proxy=\"www\",code=\"2xx\"} 1\n"));
/// assert!(text.contains("gwd_process_uptime_seconds 5\n"));
/// ```
pub fn render_prometheus(
    snap: &RegistrySnapshot,
    info: &ProcessInfo,
    extra: &PromExtra,
    now: Instant,
) -> String {
    let mut o = Out::default();
    let t = ProcessTotals::of(snap);
    let up = now.saturating_duration_since(info.started);
    o.sample(
        "gwd_process_build_info",
        G,
        "Build information (always 1).",
        &[("name", &info.name), ("version", &info.version)],
        &1,
    );
    if let Some(w) = info.started_wall
        && let Ok(d) = w.duration_since(SystemTime::UNIX_EPOCH)
    {
        o.sample(
            "gwd_process_start_time_seconds",
            G,
            "Start time of the process since the Unix epoch, in seconds.",
            &[],
            &float(d.as_secs_f64()),
        );
    }
    o.sample(
        "gwd_process_uptime_seconds",
        G,
        "Time since the process started, in seconds.",
        &[],
        &float(up.as_secs_f64()),
    );
    o.sample(
        "gwd_process_threads",
        G,
        "Worker threads.",
        &[],
        &info.nbthread,
    );
    o.sample(
        "gwd_process_current_connections",
        G,
        "Client connections open now (all frontends).",
        &[],
        &t.cur_conns,
    );
    o.sample(
        "gwd_process_connections_total",
        C,
        "Client connections accepted (all frontends).",
        &[],
        &t.cum_conns,
    );
    o.sample(
        "gwd_process_requests_total",
        C,
        "Requests received (all frontends).",
        &[],
        &t.cum_req,
    );
    let res = &extra.process;
    if let Some(v) = res.resident_memory_bytes {
        o.sample(
            "process_resident_memory_bytes",
            G,
            "Resident memory size in bytes.",
            &[],
            &v,
        );
    }
    if let Some(v) = res.cpu_seconds {
        o.sample(
            "process_cpu_seconds_total",
            C,
            "Total user and system CPU time spent in seconds.",
            &[],
            &float(v),
        );
    }
    if let Some(v) = res.open_fds {
        o.sample(
            "process_open_fds",
            G,
            "Number of open file descriptors.",
            &[],
            &v,
        );
    }

    let rates = extra.stat.rates.as_ref();
    for (fi, f) in snap.frontends.iter().enumerate() {
        let c = &f.counters;
        let l: &[(&str, &str)] = &[("proxy", &f.name)];
        o.sample(
            "gwd_frontend_current_connections",
            G,
            "Client connections open now.",
            l,
            &c.conns.cur,
        );
        o.sample(
            "gwd_frontend_max_connections",
            G,
            "Highest number of concurrent client connections seen.",
            l,
            &c.conns.max,
        );
        o.sample(
            "gwd_frontend_connections_total",
            C,
            "Client connections accepted.",
            l,
            &c.conns.total,
        );
        o.sample(
            "gwd_frontend_current_sessions",
            G,
            "Sessions now.",
            l,
            &c.sessions.cur,
        );
        o.sample(
            "gwd_frontend_max_sessions",
            G,
            "Highest number of concurrent sessions seen.",
            l,
            &c.sessions.max,
        );
        o.sample(
            "gwd_frontend_sessions_total",
            C,
            "Sessions ever.",
            l,
            &c.sessions.total,
        );
        o.sample(
            "gwd_frontend_bytes_in_total",
            C,
            "Bytes received from clients.",
            l,
            &c.bytes_in,
        );
        o.sample(
            "gwd_frontend_bytes_out_total",
            C,
            "Bytes sent to clients.",
            l,
            &c.bytes_out,
        );
        o.sample(
            "gwd_frontend_requests_denied_total",
            C,
            "Requests denied by rules.",
            l,
            &c.denied,
        );
        o.sample(
            "gwd_frontend_request_errors_total",
            C,
            "Malformed or aborted requests.",
            l,
            &c.req_errors,
        );
        o.sample(
            "gwd_frontend_failed_header_rewriting_total",
            C,
            "Requests an http-request rewrite made invalid (wrew).",
            l,
            &c.failed_rewrites,
        );
        o.sample(
            "gwd_frontend_http_requests_total",
            C,
            "HTTP requests.",
            l,
            &c.requests,
        );
        responses(
            &mut o,
            "gwd_frontend_http_responses_total",
            "HTTP responses by status class.",
            l,
            &c.responses,
        );
        if let Some(r) = rates.and_then(|r| r.frontends.get(fi)) {
            rate_families!(o, "gwd_frontend", l, r);
        }
    }

    let index = ServerIndex::new(&extra.stat);
    let looks: Vec<Vec<ServerLook<'_>>> = snap
        .backends
        .iter()
        .map(|b| {
            b.servers
                .iter()
                .map(|s| index.look(&extra.stat, &b.name, s))
                .collect()
        })
        .collect();
    for (bi, b) in snap.backends.iter().enumerate() {
        let l: &[(&str, &str)] = &[("proxy", &b.name)];
        let sum = BackendSummary::of(&looks[bi]);
        for st in ["UP", "DOWN"] {
            let on = (st == "UP") == sum.is_up();
            o.sample(
                "gwd_backend_status",
                G,
                "Current status of the backend, 1 for its state and 0 for the others.",
                &[("proxy", &b.name), ("state", st)],
                &u8::from(on),
            );
        }
        o.sample(
            "gwd_backend_active_servers",
            G,
            "Primary servers able to take requests now.",
            l,
            &sum.active,
        );
        o.sample(
            "gwd_backend_backup_servers",
            G,
            "Backup servers able to take requests now.",
            l,
            &sum.backup,
        );
        o.sample(
            "gwd_backend_weight",
            G,
            "Total weight of the servers taking requests (the primaries', or the backups' when no primary is usable).",
            l,
            &sum.weight,
        );
        proxy_families!(o, "gwd_backend", l, &b.counters);
        o.sample(
            "gwd_backend_requests_denied_total",
            C,
            "Requests denied by rules.",
            l,
            &b.counters.denied,
        );
        o.sample(
            "gwd_backend_failed_header_rewriting_total",
            C,
            "Requests an http-request rewrite made invalid (wrew).",
            l,
            &b.counters.failed_rewrites,
        );
        o.sample(
            "gwd_backend_connection_attempts_total",
            C,
            "Attempts to open a server connection.",
            l,
            &b.servers
                .iter()
                .map(|s| s.counters.connect_attempts)
                .sum::<u64>(),
        );
        o.sample(
            "gwd_backend_connection_reuses_total",
            C,
            "Requests sent over a reused server connection.",
            l,
            &b.servers.iter().map(|s| s.counters.reuses).sum::<u64>(),
        );
        if let Some(r) = rates.and_then(|r| r.backends.get(bi)) {
            rate_families!(o, "gwd_backend", l, r);
        }
    }

    for (bi, b) in snap.backends.iter().enumerate() {
        for (si, s) in b.servers.iter().enumerate() {
            let l: &[(&str, &str)] = &[("proxy", &b.name), ("server", &s.name)];
            let look = &looks[bi][si];
            for st in ServerState::ALL {
                o.sample(
                    "gwd_server_status",
                    G,
                    "Current status of the server, 1 for its state and 0 for the others.",
                    &[
                        ("proxy", &b.name),
                        ("server", &s.name),
                        ("state", st.label()),
                    ],
                    &u8::from(st.label() == look.state.label()),
                );
            }
            o.sample(
                "gwd_server_weight",
                G,
                "Current weight of the server.",
                l,
                &look.weight(),
            );
            if let Some(r) = look.row {
                o.sample(
                    "gwd_server_last_status_change_seconds",
                    G,
                    "Seconds since the server's last state change.",
                    l,
                    &r.since_change.as_secs(),
                );
            }
            if let Some((r, c)) = look.row.and_then(|r| r.active_check().map(|c| (r, c))) {
                for code in CHECK_STATUS_CODES {
                    o.sample(
                        "gwd_server_check_status",
                        G,
                        "Status of the last health check, 1 for its HAProxy check status and 0 for the others (all 0 before the first check).",
                        &[("proxy", &b.name), ("server", &s.name), ("state", code)],
                        &u8::from(c.status.as_deref() == Some(code)),
                    );
                }
                if let Some(code) = c.code {
                    o.sample(
                        "gwd_server_check_code",
                        G,
                        "HTTP status code of the last health check.",
                        l,
                        &code,
                    );
                }
                if let (Some(_), Some(d)) = (&c.status, c.duration) {
                    o.sample(
                        "gwd_server_check_duration_seconds",
                        G,
                        "Duration of the last health check, in seconds.",
                        l,
                        &float(d.as_secs_f64()),
                    );
                }
                o.sample(
                    "gwd_server_check_failures_total",
                    C,
                    "Failed health checks.",
                    l,
                    &c.failed,
                );
                o.sample(
                    "gwd_server_check_up_down_total",
                    C,
                    "Transitions of the server from UP to DOWN.",
                    l,
                    &c.downs,
                );
                o.sample(
                    "gwd_server_downtime_seconds_total",
                    C,
                    "Total time the server was DOWN, in seconds.",
                    l,
                    &r.downtime.as_secs(),
                );
            }
            let c = &s.counters;
            proxy_families!(o, "gwd_server", l, &c.counters);
            o.sample(
                "gwd_server_connection_attempts_total",
                C,
                "Attempts to open a connection to the server.",
                l,
                &c.connect_attempts,
            );
            o.sample(
                "gwd_server_connection_reuses_total",
                C,
                "Requests sent over a reused connection.",
                l,
                &c.reuses,
            );
            if let Some(r) = rates
                .and_then(|r| r.servers.get(bi))
                .and_then(|v| v.get(si))
            {
                rate_families!(o, "gwd_server", l, r);
            }
            if let Some(p) = extra
                .stat
                .pools
                .iter()
                .find(|p: &&PoolRow| p.backend == b.name && p.server == s.name)
            {
                o.sample(
                    "gwd_server_idle_connections_current",
                    G,
                    "Idle connections kept for reuse (unsafe and safe).",
                    l,
                    &p.idle_cur(),
                );
                if let Some(lim) = p.idle_limit {
                    o.sample(
                        "gwd_server_idle_connections_limit",
                        G,
                        "Most idle connections kept.",
                        l,
                        &lim,
                    );
                }
                o.sample(
                    "gwd_server_unsafe_idle_connections_current",
                    G,
                    "Idle connections not yet proven reusable.",
                    l,
                    &p.idle,
                );
                o.sample(
                    "gwd_server_safe_idle_connections_current",
                    G,
                    "Idle connections proven reusable.",
                    l,
                    &p.safe,
                );
                o.sample(
                    "gwd_server_used_connections_current",
                    G,
                    "Connections in use now.",
                    l,
                    &p.used_cur,
                );
                o.sample(
                    "gwd_server_need_connections_current",
                    G,
                    "Estimate of the connections needed.",
                    l,
                    &p.need_est,
                );
            }
        }
    }

    for t in &extra.tunnel_names {
        let l: &[(&str, &str)] = &[("name", &t.name)];
        o.sample(
            "gwd_tunnels",
            G,
            "Reverse-HTTP tunnels registered under a name.",
            l,
            &t.tunnels,
        );
        o.sample(
            "gwd_tunnel_active_streams",
            G,
            "Streams in flight over a name's tunnels.",
            l,
            &t.active_streams,
        );
    }
    if let Some(tt) = &extra.tunnel_totals {
        o.sample(
            "gwd_tunnel_dials_total",
            C,
            "Tunnel dial attempts.",
            &[],
            &tt.dials,
        );
        o.sample(
            "gwd_tunnel_dial_failures_total",
            C,
            "Tunnel dial attempts that failed.",
            &[],
            &tt.dial_failures,
        );
        o.sample(
            "gwd_tunnel_reversals_total",
            C,
            "Tunnels that completed the role reversal.",
            &[],
            &tt.reversals,
        );
        o.sample(
            "gwd_tunnel_ping_timeouts_total",
            C,
            "Tunnels dropped because PINGs went unanswered.",
            &[],
            &tt.ping_timeouts,
        );
        o.sample(
            "gwd_origin_tunnels_up",
            G,
            "Tunnels this process (origin side) has up to gateways now.",
            &[],
            &tt.tunnels_up,
        );
        o.sample(
            "gwd_tunnel_errors_total",
            C,
            "Tunnels that ended in error (HTTP/2 protocol error from the gateway, or the connection failed).",
            &[],
            &tt.errors,
        );
        if let Some(h) = &tt.reversal_seconds {
            let name = "gwd_tunnel_reversal_seconds";
            let f = o.family(
                name,
                "histogram",
                "Time from connection to completed role reversal, in seconds.",
            );
            for (b, c) in h.bounds.iter().zip(&h.cumulative) {
                sample_line(&mut f.samples, name, "_bucket", &[("le", &float(*b))], c);
            }
            sample_line(&mut f.samples, name, "_bucket", &[("le", "+Inf")], &h.count);
            sample_line(&mut f.samples, name, "_sum", &[], &float(h.sum));
            sample_line(&mut f.samples, name, "_count", &[], &h.count);
        }
    }
    for m in &extra.maps {
        o.sample(
            "gwd_map_entries",
            G,
            "Entries of a map or ACL file visible to lookups.",
            &[("map", &m.map)],
            &m.entries,
        );
    }
    o.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_resources_and_origin_tunnels_have_their_families() {
        let t0 = Instant::now();
        let info = ProcessInfo::current("gwd", "1", 1, t0);
        let snap = gwd_stats::Registry::new().snapshot();
        let bare = render_prometheus(&snap, &info, &PromExtra::default(), t0);
        for family in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "gwd_origin_tunnels_up",
        ] {
            assert!(!bare.contains(family), "{family} without a value: {bare}");
        }
        let extra = PromExtra {
            process: ProcessResources {
                resident_memory_bytes: Some(12 << 20),
                cpu_seconds: Some(1.25),
                open_fds: Some(9),
            },
            tunnel_totals: Some(TunnelTotals {
                tunnels_up: 3,
                ..TunnelTotals::default()
            }),
            ..PromExtra::default()
        };
        let text = render_prometheus(&snap, &info, &extra, t0);
        for block in [
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\n\
             process_resident_memory_bytes 12582912\n",
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.25\n",
            "# TYPE process_open_fds gauge\nprocess_open_fds 9\n",
            "# TYPE gwd_origin_tunnels_up gauge\ngwd_origin_tunnels_up 3\n",
        ] {
            assert!(text.contains(block), "{block} in {text}");
        }
    }

    #[test]
    fn label_values_and_floats() {
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_label_value("plain é"), "plain é");
        assert_eq!(float(0.005), "0.005");
        assert_eq!(float(1.0), "1");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
    }

    #[test]
    fn families_are_written_once_in_first_use_order() {
        let mut o = Out::default();
        o.sample("b_total", C, "B.", &[("x", "1")], &1);
        o.sample("a", G, "A.", &[], &2);
        o.sample("b_total", C, "B.", &[("x", "2")], &3);
        o.family("empty", G, "Never sampled.");
        assert_eq!(
            o.render(),
            "# HELP b_total B.\n# TYPE b_total counter\nb_total{x=\"1\"} 1\nb_total{x=\"2\"} 3\n\
             # HELP a A.\n# TYPE a gauge\na 2\n"
        );
    }

    #[test]
    fn large_counters_are_not_rounded() {
        let mut reg = gwd_stats::Registry::new();
        let fe = reg.add_frontend("www");
        fe.bytes_in(u64::MAX - 1);
        let t0 = Instant::now();
        let text = render_prometheus(
            &reg.snapshot(),
            &ProcessInfo::current("gwd", "0", 1, t0),
            &PromExtra::default(),
            t0,
        );
        assert!(text.contains(&format!(
            "gwd_frontend_bytes_in_total{{proxy=\"www\"}} {}\n",
            u64::MAX - 1
        )));
    }
}
