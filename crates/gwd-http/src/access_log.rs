//! One access-log line per request, in HAProxy's `option httplog` shape,
//! emitted through `tracing` (target `gwd::access`) so the usual
//! `RUST_LOG`-style filters apply:
//!
//! ```text
//! 127.0.0.1:40112 [27/Nov/2026:05:43:44.123] www~ app/app1 0/0/1/2/3 200 215 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
//! ```
//!
//! Fields: client address, accept date, frontend (`~` = TLS),
//! backend/server, timers TR/Tw/Tc/Tr/Ta in ms (-1 when the step did not
//! happen), status, bytes sent to the client, captured cookies (none),
//! termination state, connection counts (process/frontend/backend/server/
//! retries), queues, and the request line. A `reason` field says, in
//! words, why gwd answered an error itself.
//!
//! A frontend with `log` targets sends its lines there instead, framed
//! as its targets say, through one writer thread that a request never
//! waits for ([`gwd_log::Logger`]); `log-format` replaces the httplog
//! line with HAProxy's `%` variables rendered from the record
//! ([`LogVars`]), `%[expr]` parts evaluated while the request was there.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gwd_config::{CaptureSlots, Logging};
use gwd_head::Fields;
use gwd_sample::{CaptureDir, Captures, LogVar, LogVars, Sample, SampleContext};

/// Who ended the transfer (first termination character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ender {
    #[default]
    None,
    /// `C`: the client aborted.
    Client,
    /// `S`: the server aborted or refused.
    Server,
    /// `P`: the proxy decided (rules, internal errors).
    Proxy,
    /// `R`: a resource limit (e.g. header size).
    Resource,
    /// `c`: client-side timeout.
    ClientTimeout,
    /// `s`: server-side timeout.
    ServerTimeout,
    /// `K`: killed by gwd itself (`hard-stop-after`).
    Killed,
    /// `L`: answered locally without an error (`http-request redirect`).
    Local,
}

/// What the session was doing when it ended (second character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    None,
    /// `R`: waiting for the complete request.
    Request,
    /// `Q`: waiting in the queue for a server slot (`maxconn`).
    Queue,
    /// `C`: connecting to the server.
    Connect,
    /// `H`: waiting for the response headers.
    Headers,
    /// `D`: transferring data.
    Data,
    /// `T`: held by `http-request tarpit`.
    Tarpit,
}

impl Ender {
    fn ch(self) -> char {
        match self {
            Ender::None => '-',
            Ender::Client => 'C',
            Ender::Server => 'S',
            Ender::Proxy => 'P',
            Ender::Resource => 'R',
            Ender::ClientTimeout => 'c',
            Ender::ServerTimeout => 's',
            Ender::Killed => 'K',
            Ender::Local => 'L',
        }
    }
}

impl Phase {
    fn ch(self) -> char {
        match self {
            Phase::None => '-',
            Phase::Request => 'R',
            Phase::Queue => 'Q',
            Phase::Connect => 'C',
            Phase::Headers => 'H',
            Phase::Data => 'D',
            Phase::Tarpit => 'T',
        }
    }
}

/// Everything one log line says.
#[derive(Debug, Clone, Default)]
pub struct LogRecord {
    /// A TCP-mode session: the line is HAProxy's tcplog one (no status,
    /// request or HTTP timers).
    pub tcp: bool,
    /// `set-log-level`: the line's level, or no line.
    pub level: LogLevelChoice,
    pub client: Option<SocketAddr>,
    pub accept_date: Option<SystemTime>,
    pub frontend: String,
    pub tls: bool,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub t_request: Option<Duration>,
    /// Idle time before the request's first byte (`Ti`; 0 when unknown).
    pub t_idle: Option<Duration>,
    pub t_queue: Option<Duration>,
    pub t_connect: Option<Duration>,
    pub t_response: Option<Duration>,
    pub t_total: Option<Duration>,
    pub status: u16,
    pub bytes: u64,
    pub ender: Ender,
    pub phase: Phase,
    pub conns: [u64; 4],
    pub retries: u32,
    /// A retry went to another server than the first (`+` before the
    /// retries, as HAProxy's).
    pub redispatched: bool,
    /// Requests ahead of this one when it joined the backend's queue
    /// (HAProxy's `backend_queue`; 0 when it never queued).
    pub backend_queue: u64,
    /// Of those, the ones waiting for the same server (map-based hashing:
    /// HAProxy's `srv_queue`, its server queue; 0 for the other
    /// algorithms, whose waiters wait for any server).
    pub srv_queue: u64,
    pub request_line: String,
    pub reason: Option<&'static str>,
    /// What only frontends with logging settings need (boxed: the record
    /// lives in every request's future).
    pub extra: Option<Box<LogExtra>>,
    /// The request's captures (`%hr`, `%hs`, `capture.req.hdr`...), when
    /// its frontend declares capture slots.
    pub captures: Option<Box<Captures>>,
}

/// The parts of a record that `log`, `log-format` and `unique-id-*` use.
#[derive(Debug, Clone, Default)]
pub struct LogExtra {
    /// The frontend's logging settings.
    pub log: Arc<Logging>,
    /// The address the visitor connected to (`%fi`, `%fp`).
    pub local: Option<SocketAddr>,
    /// `%rt`: this request's number in the process.
    pub req_counter: u64,
    /// `%ID`.
    pub unique_id: Option<String>,
    /// The `%[expr]` parts of `log-format`, rendered while the request
    /// was there.
    pub exprs: Vec<String>,
}

/// Requests since the process started (`%rt`).
static REQ_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Log lines sent since the process started (`%lc`).
static LOG_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The next request number (`%rt`).
pub fn next_request_number() -> u64 {
    REQ_COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The process's log sender, made on first use, for every frontend and
/// every configuration (datagram lines leave from the request's thread;
/// stdout and stderr lines through one writer thread and queue).
fn logger() -> Option<&'static gwd_log::Logger> {
    static LOGGER: OnceLock<Option<gwd_log::Logger>> = OnceLock::new();
    LOGGER
        .get_or_init(
            || match gwd_log::Logger::start(gwd_log::QUEUE_LEN, Default::default()) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(
                        "cannot start the log writer thread: {e}; log lines are dropped"
                    );
                    None
                }
            },
        )
        .as_ref()
}

/// Lines dropped because the log queue was full (for `show info`).
pub fn dropped_lines() -> u64 {
    gwd_log::dropped_total()
}

fn host_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

/// Longest request line written in a log line: HAProxy truncates its log
/// lines at 1024 bytes by default (`log ... len`); a 32 KiB request line
/// must not make a 32 KiB log line.
pub const MAX_LOGGED_REQUEST_LINE: usize = 1024;

/// `line` cut to at most `max` bytes, on a character boundary.
fn truncated(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-1".to_string(), |d| d.as_millis().to_string())
}

impl LogRecord {
    /// The line, without the reason.
    pub fn line(&self) -> String {
        let mut s = String::with_capacity(160);
        match self.client {
            Some(a) => {
                let _ = write!(s, "{}:{}", a.ip(), a.port());
            }
            None => s.push_str("-:-"),
        }
        s.push_str(" [");
        s.push_str(&haproxy_date(
            self.accept_date.unwrap_or_else(SystemTime::now),
        ));
        s.push_str("] ");
        s.push_str(&self.frontend);
        if self.tls {
            s.push('~');
        }
        if self.tcp {
            // HAProxy's tcplog: Tw/Tc/Tt, bytes read (server to client),
            // a 2-character termination state, connection counts, queues.
            let _ = write!(
                s,
                " {}/{} {}/{}/{} {} {}{} {}/{}/{}/{}/{}{} {}/{}",
                self.backend.as_deref().unwrap_or(&self.frontend),
                self.server.as_deref().unwrap_or("<NOSRV>"),
                ms(self.t_queue),
                ms(self.t_connect),
                ms(self.t_total),
                self.bytes,
                self.ender.ch(),
                self.phase.ch(),
                self.conns[0],
                self.conns[1],
                self.conns[2],
                self.conns[3],
                if self.redispatched { "+" } else { "" },
                self.retries,
                self.srv_queue,
                self.backend_queue,
            );
            return s;
        }
        let _ = write!(
            s,
            " {}/{} {}/{}/{}/{}/{} {} {} - - {}{}-- {}/{}/{}/{}/{}{} {}/{} ",
            self.backend.as_deref().unwrap_or(&self.frontend),
            self.server.as_deref().unwrap_or("<NOSRV>"),
            ms(self.t_request),
            ms(self.t_queue),
            ms(self.t_connect),
            ms(self.t_response),
            ms(self.t_total),
            // No answer was given (the visitor went away first): HAProxy's -1.
            if self.status == 0 {
                -1
            } else {
                i32::from(self.status)
            },
            self.bytes,
            self.ender.ch(),
            self.phase.ch(),
            self.conns[0],
            self.conns[1],
            self.conns[2],
            self.conns[3],
            if self.redispatched { "+" } else { "" },
            self.retries,
            self.srv_queue,
            self.backend_queue,
        );
        // httplog's `%hr %hs`: each only when the frontend declares slots
        // of its direction.
        if let Some(c) = &self.captures {
            for dir in [CaptureDir::Request, CaptureDir::Response] {
                if c.len(dir) > 0 {
                    c.render_braces(dir, false, &mut s);
                    s.push(' ');
                }
            }
        }
        let _ = write!(
            s,
            "\"{}\"",
            truncated(&self.request_line, MAX_LOGGED_REQUEST_LINE).escape_debug()
        );
        s
    }

    /// Empty capture slots for a request of a frontend with `slots`; `None`
    /// when it declares none.
    pub fn new_captures(slots: &CaptureSlots) -> Option<Box<Captures>> {
        (!slots.is_empty())
            .then(|| Box::new(Captures::new(slots.request.len(), slots.response.len())))
    }

    /// Fills the `capture request|response header` slots of `dir` from a
    /// head as it arrives: each takes the last line of its header (HAProxy
    /// 2.6 keeps the last occurrence), cut to its length.
    pub fn capture_headers(&mut self, slots: &CaptureSlots, dir: CaptureDir, fields: &Fields) {
        let Some(c) = self.captures.as_deref_mut() else {
            return;
        };
        for (i, slot) in slots.of(dir).iter().enumerate() {
            if let Some(name) = &slot.header
                && let Some(v) = fields.get_all(name).last()
            {
                c.set(dir, i, v, slot.len);
            }
        }
    }

    /// A `capture` rule's value into slot `id` of `dir`, cut to the length
    /// the request's frontend declares for it; nothing when that frontend
    /// has no such slot (a backend's rule naming a slot another frontend
    /// declares).
    pub fn capture_value(&mut self, slots: &CaptureSlots, dir: CaptureDir, id: usize, v: &[u8]) {
        if let (Some(c), Some(slot)) = (self.captures.as_deref_mut(), slots.of(dir).get(id)) {
            c.set(dir, id, v, slot.len);
        }
    }

    /// True when access lines are wanted (target `gwd::access` at INFO);
    /// callers skip building a record's strings otherwise.
    pub fn enabled() -> bool {
        tracing::enabled!(target: "gwd::access", tracing::Level::INFO)
    }

    /// True when lines of a frontend with these settings are wanted: it
    /// has `log` targets, or tracing wants access lines.
    pub fn enabled_for(log: &Logging) -> bool {
        !log.targets.is_empty() || Self::enabled()
    }

    /// The extra part for a frontend's records, when its settings need one.
    pub fn extra_for(log: &Arc<Logging>, local: SocketAddr) -> Option<Box<LogExtra>> {
        let needed =
            !log.targets.is_empty() || log.format.is_some() || log.unique_id_format.is_some();
        needed.then(|| {
            Box::new(LogExtra {
                log: log.clone(),
                local: Some(local),
                req_counter: next_request_number(),
                unique_id: None,
                exprs: Vec::new(),
            })
        })
    }

    /// The `%[expr]` parts of `log-format` rendered against the request
    /// as it is now (they are written when the line is; hand them to
    /// [`LogRecord::set_log_exprs`]); `None` when there are none.
    pub fn log_exprs(&self, ctx: &dyn SampleContext) -> Option<Vec<String>> {
        let f = self.extra.as_ref()?.log.format.as_ref()?;
        f.has_exprs().then(|| f.eval_exprs(ctx))
    }

    /// Keeps what [`LogRecord::log_exprs`] rendered.
    pub fn set_log_exprs(&mut self, exprs: Option<Vec<String>>) {
        if let (Some(x), Some(e)) = (self.extra.as_mut(), exprs) {
            x.exprs = e;
        }
    }

    /// Computes the unique id (`unique-id-format`) once, against the
    /// request as it is now; returns it.
    pub fn unique_id(&mut self, ctx: &dyn SampleContext) -> Option<&str> {
        let log = self.extra.as_ref()?.log.clone();
        let fmt = log.unique_id_format.as_ref()?;
        if self.extra.as_ref()?.unique_id.is_none() {
            let mut id = String::new();
            fmt.render_log_with(ctx, &*self, gwd_sample::RenderMode::Log, &mut id);
            self.extra.as_mut()?.unique_id = Some(id);
        }
        self.extra.as_ref()?.unique_id.as_deref()
    }

    /// HAProxy's `log-separate-errors`: a 5xx answer, or an end that was
    /// not a normal one.
    fn is_error(&self) -> bool {
        self.status >= 500 || !matches!(self.ender, Ender::None | Ender::Local)
    }

    /// The line as the frontend's settings want it: `log-format`, else
    /// httplog.
    pub fn render(&self) -> String {
        match self
            .extra
            .as_ref()
            .and_then(|x| x.log.format.as_ref().map(|f| (x, f)))
        {
            Some((x, f)) => {
                let mut s = String::with_capacity(160);
                // Captures and the unique id belong to the record: read
                // them as they are now, with what the response added.
                let late = |e: &gwd_sample::Expr| {
                    matches!(
                        e.fetch_name(),
                        "capture.req.hdr" | "capture.res.hdr" | "unique-id"
                    )
                };
                if f.exprs().any(late) {
                    let mut exprs = x.exprs.clone();
                    f.refresh_exprs(&RecordView(self), &mut exprs, &late);
                    f.render_log(self, &exprs, &mut s);
                } else {
                    f.render_log(self, &x.exprs, &mut s);
                }
                s
            }
            None => self.line(),
        }
    }

    /// Emits the line: to the frontend's `log` targets when it has some,
    /// else through tracing (formatting only when enabled). None with
    /// `set-log-level silent`.
    pub fn emit(&self) {
        if self.level == LogLevelChoice::Silent {
            return;
        }
        if let Some(x) = &self.extra
            && !x.log.targets.is_empty()
        {
            let Some(logger) = logger() else {
                return;
            };
            let level = match self.level {
                LogLevelChoice::Level(l) => l,
                _ if x.log.separate_errors && self.is_error() => gwd_log::Level::Err,
                _ => gwd_log::Level::Info,
            };
            LOG_COUNTER.fetch_add(1, Ordering::Relaxed);
            logger.send(&x.log.targets, level, &self.render());
            return;
        }
        if !Self::enabled() {
            return;
        }
        let line = self.render();
        match self.reason {
            Some(reason) => tracing::info!(target: "gwd::access", reason, "{line}"),
            None => tracing::info!(target: "gwd::access", "{line}"),
        }
    }
}

/// The record as fetches see it when the line is written: its captures
/// and unique id.
struct RecordView<'a>(&'a LogRecord);

impl SampleContext for RecordView<'_> {
    fn captures(&self) -> Option<&Captures> {
        self.0.captures.as_deref()
    }

    fn unique_id(&self) -> Option<&str> {
        self.0.extra.as_ref()?.unique_id.as_deref()
    }
}

/// What `set-log-level` rules decided for a request's access line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogLevelChoice {
    /// No rule: `info`, or `err` with `option.log-separate-errors`.
    #[default]
    Default,
    /// This level (targets' level filters then apply).
    Level(gwd_log::Level),
    /// `silent`: no line.
    Silent,
}

fn ms_int(d: Option<Duration>) -> Option<Sample<'static>> {
    Some(Sample::Int(d.map_or(-1, |d| {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    })))
}

fn int(v: u64) -> Option<Sample<'static>> {
    Some(Sample::Int(i64::try_from(v).unwrap_or(i64::MAX)))
}

fn text(s: String) -> Option<Sample<'static>> {
    Some(Sample::from(s))
}

impl LogRecord {
    fn accept(&self) -> SystemTime {
        self.accept_date.unwrap_or(UNIX_EPOCH)
    }

    /// Method, target and version of the request line.
    fn request_parts(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        let mut it = self.request_line.splitn(3, ' ');
        (it.next(), it.next(), it.next())
    }
}

/// HAProxy's log variables, from the record.
impl LogVars for LogRecord {
    fn captures(&self) -> Option<&Captures> {
        self.captures.as_deref()
    }

    fn var(&self, v: LogVar) -> Option<Sample<'_>> {
        let x = self.extra.as_deref();
        match v {
            LogVar::ClientIp => self.client.map(|a| Sample::Ip(a.ip())),
            LogVar::ClientPort => self.client.map(|a| Sample::Int(i64::from(a.port()))),
            LogVar::FrontendIp => x?.local.map(|a| Sample::Ip(a.ip())),
            LogVar::FrontendPort => x?.local.map(|a| Sample::Int(i64::from(a.port()))),
            LogVar::DateRequest => text(haproxy_date(self.accept())),
            LogVar::DateGmt | LogVar::DateLocal => {
                let mut d = haproxy_date(self.accept());
                d.truncate(d.len() - 4);
                d.push_str(" +0000");
                text(d)
            }
            LogVar::Timestamp => int(self
                .accept()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()),
            LogVar::Millis => text(format!(
                "{:03}",
                self.accept()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_millis()
            )),
            LogVar::Frontend => Some(Sample::from(self.frontend.as_str())),
            LogVar::FrontendTransport => {
                if self.tls {
                    text(format!("{}~", self.frontend))
                } else {
                    Some(Sample::from(self.frontend.as_str()))
                }
            }
            LogVar::Backend => Some(Sample::from(
                self.backend.as_deref().unwrap_or(&self.frontend),
            )),
            LogVar::Server => Some(Sample::from(self.server.as_deref().unwrap_or("<NOSRV>"))),
            LogVar::Th => Some(Sample::Int(0)),
            LogVar::Ti => ms_int(self.t_idle.or(Some(Duration::ZERO))),
            LogVar::TR | LogVar::Tq => ms_int(self.t_request),
            LogVar::Tw => ms_int(self.t_queue),
            LogVar::Tc => ms_int(self.t_connect),
            LogVar::Tr => ms_int(self.t_response),
            LogVar::Ta | LogVar::Tt | LogVar::Tu => ms_int(self.t_total),
            LogVar::Td => match (
                self.t_total,
                self.t_request,
                self.t_queue,
                self.t_connect,
                self.t_response,
            ) {
                (Some(a), Some(q), Some(w), Some(c), Some(r)) => {
                    ms_int(Some(a.saturating_sub(q + w + c + r)))
                }
                _ => ms_int(None),
            },
            LogVar::Status => Some(Sample::Int(if self.status == 0 {
                -1
            } else {
                i64::from(self.status)
            })),
            LogVar::BytesOut => int(self.bytes),
            LogVar::CookieReq | LogVar::CookieRes => Some(Sample::from("-")),
            LogVar::TermStateCookie => text(format!("{}{}--", self.ender.ch(), self.phase.ch())),
            LogVar::TermState => text(format!("{}{}", self.ender.ch(), self.phase.ch())),
            LogVar::ActConn => int(self.conns[0]),
            LogVar::FeConn => int(self.conns[1]),
            LogVar::BeConn => int(self.conns[2]),
            LogVar::SrvConn => int(self.conns[3]),
            LogVar::Retries => {
                if self.redispatched {
                    text(format!("+{}", self.retries))
                } else {
                    int(u64::from(self.retries))
                }
            }
            LogVar::SrvQueue => int(self.srv_queue),
            LogVar::BackendQueue => int(self.backend_queue),
            LogVar::RequestLine => Some(Sample::from(truncated(
                &self.request_line,
                MAX_LOGGED_REQUEST_LINE,
            ))),
            LogVar::Method => self.request_parts().0.map(Sample::from),
            LogVar::Uri => self.request_parts().1.map(Sample::from),
            LogVar::Path => self
                .request_parts()
                .1
                .map(|s| Sample::from(s.split('?').next().unwrap_or(s))),
            LogVar::Query => self
                .request_parts()
                .1
                .and_then(|s| s.find('?').map(|i| Sample::from(&s[i..]))),
            LogVar::Version => self.request_parts().2.map(Sample::from),
            LogVar::UniqueId => x?.unique_id.as_deref().map(Sample::from),
            LogVar::Hostname => Some(Sample::from(host_name())),
            LogVar::Pid => Some(Sample::Int(i64::from(std::process::id()))),
            LogVar::ReqCounter => int(x?.req_counter),
            LogVar::LogCounter => int(LOG_COUNTER.load(Ordering::Relaxed)),
            _ => None,
        }
    }
}

/// `27/Nov/2026:05:43:44.123` in UTC.
pub fn haproxy_date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
        day,
        MONTHS[(m - 1) as usize],
        y,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_matches_known_instants() {
        assert_eq!(haproxy_date(UNIX_EPOCH), "01/Jan/1970:00:00:00.000");
        // 2026-11-27T05:43:44.123Z
        let t = UNIX_EPOCH + Duration::from_millis(1_795_758_224_123);
        assert_eq!(haproxy_date(t), "27/Nov/2026:05:43:44.123");
        // leap day
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(haproxy_date(t), "29/Feb/2000:00:00:00.000");
    }

    /// A request served by `app/app1` in 3 ms, as the line tests log it.
    fn served_record() -> LogRecord {
        LogRecord {
            client: Some("127.0.0.1:40112".parse().unwrap()),
            accept_date: Some(UNIX_EPOCH),
            frontend: "www".into(),
            tls: true,
            backend: Some("app".into()),
            server: Some("app1".into()),
            t_request: Some(Duration::ZERO),
            t_queue: Some(Duration::ZERO),
            t_connect: Some(Duration::from_millis(1)),
            t_response: Some(Duration::from_millis(2)),
            t_total: Some(Duration::from_millis(3)),
            status: 200,
            bytes: 215,
            conns: [1, 1, 0, 0],
            request_line: "GET / HTTP/1.1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn line_has_httplog_shape() {
        let r = served_record();
        assert_eq!(
            r.line(),
            "127.0.0.1:40112 [01/Jan/1970:00:00:00.000] www~ app/app1 0/0/1/2/3 200 215 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\""
        );
    }

    /// HAProxy 2.6.12's httplog with `capture request header Host len 5`,
    /// `capture request header User-Agent len 40` and `capture response
    /// header Server len 40`: the slots in braces before the request line,
    /// the last occurrence of each header, framing bytes encoded.
    #[test]
    fn httplog_shows_captures_as_haproxy() {
        let slots = CaptureSlots {
            request: vec![
                gwd_config::CaptureSlot {
                    header: Some("host".into()),
                    len: 5,
                },
                gwd_config::CaptureSlot {
                    header: Some("user-agent".into()),
                    len: 40,
                },
            ],
            response: vec![gwd_config::CaptureSlot {
                header: Some("server".into()),
                len: 40,
            }],
        };
        let mut r = LogRecord {
            captures: LogRecord::new_captures(&slots),
            ..served_record()
        };
        let mut req = Fields::new();
        req.append(b"Host", b"abcdefghij");
        req.append(b"User-Agent", b"UA1");
        req.append(b"user-agent", b"UA2");
        r.capture_headers(&slots, CaptureDir::Request, &req);
        let mut res = Fields::new();
        res.append(b"Server", b"py{|}\"#srv");
        r.capture_headers(&slots, CaptureDir::Response, &res);
        assert!(
            r.line()
                .ends_with(" 1/1/0/0/0 0/0 {abcde|UA2} {py#7B#7C#7D#22#23srv} \"GET / HTTP/1.1\""),
            "{}",
            r.line()
        );
        // Request slots only, none filled: `{|}` and no response braces.
        let slots = CaptureSlots {
            response: Vec::new(),
            ..slots
        };
        let r = LogRecord {
            captures: LogRecord::new_captures(&slots),
            ..served_record()
        };
        assert!(
            r.line().ends_with(" 0/0 {|} \"GET / HTTP/1.1\""),
            "{}",
            r.line()
        );
        // A rule's value is cut to its slot; an unknown slot is ignored.
        let mut r = r;
        r.capture_value(&slots, CaptureDir::Request, 0, b"0123456789");
        r.capture_value(&slots, CaptureDir::Request, 5, b"x");
        assert!(
            r.line().ends_with(" 0/0 {01234|} \"GET / HTTP/1.1\""),
            "{}",
            r.line()
        );
    }

    #[test]
    fn long_request_lines_are_truncated() {
        let r = LogRecord {
            frontend: "www".into(),
            accept_date: Some(UNIX_EPOCH),
            request_line: format!("GET /{} HTTP/1.1", "é".repeat(20_000)),
            ..Default::default()
        };
        let l = r.line();
        assert!(l.len() < MAX_LOGGED_REQUEST_LINE + 200, "{} bytes", l.len());
        assert!(l.ends_with('"'));
        assert_eq!(truncated("abc", 2), "ab");
        assert_eq!(truncated("aé", 2), "a");
    }

    #[test]
    fn error_line_shows_termination_and_nosrv() {
        let r = LogRecord {
            frontend: "www".into(),
            accept_date: Some(UNIX_EPOCH),
            status: 503,
            ender: Ender::Server,
            phase: Phase::Connect,
            request_line: "GET /x HTTP/1.1".into(),
            ..Default::default()
        };
        let l = r.line();
        assert!(
            l.contains(" www/<NOSRV> -1/-1/-1/-1/-1 503 0 - - SC-- "),
            "{l}"
        );
    }

    fn logging(format: &str) -> Arc<Logging> {
        Arc::new(Logging {
            format: Some(
                gwd_sample::LogFormat::parse_log_in(format, &mut gwd_sample::ParseEnv::none())
                    .unwrap(),
            ),
            ..Default::default()
        })
    }

    /// `log-format` with HAProxy's httplog format renders the same line
    /// as the built-in httplog.
    #[test]
    fn httplog_as_log_format_is_the_builtin_line() {
        let log = logging(
            "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r",
        );
        let r = LogRecord {
            retries: 2,
            redispatched: true,
            extra: LogRecord::extra_for(&log, "127.0.0.1:8080".parse().unwrap()),
            ..served_record()
        };
        assert_eq!(r.render(), r.line());
        assert!(r.render().contains(" 1/1/0/0/+2 0/0 \"GET / HTTP/1.1\""));
    }

    #[test]
    fn log_format_variables_and_errors() {
        let log = logging("%f %fi:%fp %HM %HP %HQ %HV %Td %ts %ms %trg %ST");
        let r = LogRecord {
            accept_date: Some(UNIX_EPOCH + Duration::from_millis(1_795_758_224_123)),
            frontend: "www".into(),
            t_request: Some(Duration::from_millis(1)),
            t_queue: Some(Duration::ZERO),
            t_connect: Some(Duration::from_millis(1)),
            t_response: Some(Duration::from_millis(2)),
            t_total: Some(Duration::from_millis(10)),
            ender: Ender::Server,
            phase: Phase::Headers,
            request_line: "POST /a/b?c=d HTTP/1.1".into(),
            extra: LogRecord::extra_for(&log, "127.0.0.1:8080".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            r.render(),
            "www 127.0.0.1:8080 POST /a/b ?c=d HTTP/1.1 6 SH 123 27/Nov/2026:05:43:44 +0000 -1"
        );
        assert!(r.is_error());
        let ok = LogRecord {
            status: 302,
            ender: Ender::Local,
            ..Default::default()
        };
        assert!(!ok.is_error());
        let five = LogRecord {
            status: 502,
            ..Default::default()
        };
        assert!(five.is_error());
    }
}
