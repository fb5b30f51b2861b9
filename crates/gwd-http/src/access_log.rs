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

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
        }
    }
}

/// Everything one log line says.
#[derive(Debug, Clone, Default)]
pub struct LogRecord {
    pub client: Option<SocketAddr>,
    pub accept_date: Option<SystemTime>,
    pub frontend: String,
    pub tls: bool,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub t_request: Option<Duration>,
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
    pub request_line: String,
    pub reason: Option<&'static str>,
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
        let _ = write!(
            s,
            " {}/{} {}/{}/{}/{}/{} {} {} - - {}{}-- {}/{}/{}/{}/{}{} 0/{} \"{}\"",
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
            self.backend_queue,
            truncated(&self.request_line, MAX_LOGGED_REQUEST_LINE).escape_debug(),
        );
        s
    }

    /// True when access lines are wanted (target `gwd::access` at INFO);
    /// callers skip building a record's strings otherwise.
    pub fn enabled() -> bool {
        tracing::enabled!(target: "gwd::access", tracing::Level::INFO)
    }

    /// Emits the line through tracing (formatting only when enabled).
    pub fn emit(&self) {
        if !Self::enabled() {
            return;
        }
        let line = self.line();
        match self.reason {
            Some(reason) => tracing::info!(target: "gwd::access", reason, "{line}"),
            None => tracing::info!(target: "gwd::access", "{line}"),
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

    #[test]
    fn line_has_httplog_shape() {
        let r = LogRecord {
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
        };
        assert_eq!(
            r.line(),
            "127.0.0.1:40112 [01/Jan/1970:00:00:00.000] www~ app/app1 0/0/1/2/3 200 215 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\""
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
}
