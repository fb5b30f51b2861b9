//! One `log` line of HAProxy's configuration, parsed.
//!
//! `log <target> [len <n>] [format <fmt>] [sample <r>:<s>] <facility> [<max level> [<min level>]]`
//! (HAProxy 2.6 `configuration.txt`, section 4.2 `log`); `sample` is not
//! supported yet.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `stdout`: the process's standard output.
    Stdout,
    /// `stderr`: the process's standard error.
    Stderr,
    /// A Unix datagram socket (`/dev/log`, `unix@/dev/log`).
    Unix(PathBuf),
    /// A UDP address (`127.0.0.1:514`, `udp@...`, `ipv4@...`; port 514
    /// when none is given).
    Udp(SocketAddr),
}

/// How a line is framed (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `<PRI>Mmm dd hh:mm:ss tag[pid]: ` (HAProxy's default).
    #[default]
    Rfc3164,
    /// `<PRI>1 timestamp host tag pid - - `.
    Rfc5424,
    /// `<level>` then the message (for systemd's stdout capture).
    Short,
    /// The message alone.
    Raw,
}

/// Syslog severities, most severe first (`emerg` = 0 ... `debug` = 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Emerg = 0,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

const LEVELS: [(&str, Level); 8] = [
    ("emerg", Level::Emerg),
    ("alert", Level::Alert),
    ("crit", Level::Crit),
    ("err", Level::Err),
    ("warning", Level::Warning),
    ("notice", Level::Notice),
    ("info", Level::Info),
    ("debug", Level::Debug),
];

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

impl Level {
    /// The name HAProxy uses (`err`, `info`, ...).
    pub fn name(self) -> &'static str {
        LEVELS[self as usize].0
    }

    /// A level by its HAProxy name.
    pub fn from_name(s: &str) -> Option<Level> {
        LEVELS.iter().find(|(n, _)| *n == s).map(|(_, l)| *l)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `log` target with its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogTarget {
    pub target: Target,
    pub format: Format,
    /// Syslog facility, 0..=23 (`local0` = 16).
    pub facility: u8,
    /// Lines less severe than this are not sent (`<max level>`); default
    /// `debug`: all.
    pub max_level: Level,
    /// Lines more severe than this are sent at this level (`<min level>`).
    pub min_level: Option<Level>,
    /// Longest datagram or line, newline included (`len`; default 1024).
    pub len: usize,
}

/// HAProxy's default `len`.
pub const DEFAULT_LEN: usize = 1024;

/// What a `log` entry says: inherit the global targets, or one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// `log global`.
    Global,
    /// `log <target> ...`.
    Target(LogTarget),
}

/// A parse error: the byte offset in the line and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub at: usize,
    pub msg: String,
    pub help: Option<String>,
}

fn err(at: usize, msg: impl Into<String>) -> LineError {
    LineError {
        at,
        msg: msg.into(),
        help: None,
    }
}

/// Words of `s` with their byte offsets.
fn words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(b)) => {
                out.push((b, &s[b..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, &s[b..]));
    }
    out
}

fn parse_target(w: &str, at: usize) -> Result<Target, LineError> {
    match w {
        "stdout" | "fd@1" => return Ok(Target::Stdout),
        "stderr" | "fd@2" => return Ok(Target::Stderr),
        _ => {}
    }
    if let Some(p) = w.strip_prefix("unix@") {
        return Ok(Target::Unix(PathBuf::from(p)));
    }
    if w.starts_with('/') {
        return Ok(Target::Unix(PathBuf::from(w)));
    }
    let addr = ["udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"]
        .iter()
        .find_map(|p| w.strip_prefix(p))
        .unwrap_or(w);
    if let Some(p) = ["tcp@", "tcp4@", "tcp6@", "ring@", "fd@"]
        .iter()
        .find(|p| w.starts_with(**p))
    {
        return Err(LineError {
            help: Some(
                "log to `stdout`, `stderr`, a unix datagram socket path or a UDP address".into(),
            ),
            ..err(at, format!("`{p}` log targets are not supported yet"))
        });
    }
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(Target::Udp(a));
    }
    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        return Ok(Target::Udp(SocketAddr::new(ip, 514)));
    }
    if let Ok(ip) = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or("-")
        .parse::<std::net::IpAddr>()
    {
        return Ok(Target::Udp(SocketAddr::new(ip, 514)));
    }
    Err(LineError {
        help: Some(
            "write `stdout`, `stderr`, a socket path (`/dev/log`) or an IP address and port (`127.0.0.1:514`); host names are not supported".into(),
        ),
        ..err(at, format!("invalid log target `{w}`"))
    })
}

/// Parses the words after `log` in a haproxy.cfg line (`"global"`,
/// `"127.0.0.1:514 local0"`, `"stdout format raw local0 info"`, ...).
/// Offsets in errors are byte offsets in `s`.
pub fn parse_log_line(s: &str) -> Result<LogLine, LineError> {
    let ws = words(s);
    let Some(&(at0, first)) = ws.first() else {
        return Err(err(0, "empty log line").into_help("write `global` or `<target> <facility>`"));
    };
    if first == "global" {
        if let Some(&(at, w)) = ws.get(1) {
            return Err(err(at, format!("unexpected `{w}` after `global`")));
        }
        return Ok(LogLine::Global);
    }
    let target = parse_target(first, at0)?;
    let mut format = Format::default();
    let mut len = DEFAULT_LEN;
    let mut i = 1;
    loop {
        match ws.get(i) {
            Some(&(at, "len")) => {
                let (vat, v) = *ws
                    .get(i + 1)
                    .ok_or_else(|| err(at, "`len` needs a number"))?;
                len = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (80..=65_535).contains(n))
                    .ok_or_else(|| err(vat, format!("invalid len `{v}`: 80 to 65535")))?;
                i += 2;
            }
            Some(&(at, "format")) => {
                let (vat, v) = *ws
                    .get(i + 1)
                    .ok_or_else(|| err(at, "`format` needs a name"))?;
                format = match v {
                    "rfc3164" => Format::Rfc3164,
                    "rfc5424" => Format::Rfc5424,
                    "short" => Format::Short,
                    "raw" => Format::Raw,
                    "iso" | "local" | "priority" | "timed" => {
                        return Err(err(vat, format!("log format `{v}` is not supported yet")));
                    }
                    // HAProxy has no such framing (3.0 answers "unknown log
                    // format"); its JSON lines come from the log-format.
                    "json" => {
                        return Err(err(vat, "`format json` is not a log framing").into_help(
                            "JSON lines come from the log-format, as in HAProxy 3.0: \
                             `log-format = \"%{+json}o %(client_ip)ci %(status)ST ...\"` \
                             with `format raw` (see docs/CONFIG.md#json-log-lines)",
                        ));
                    }
                    _ => {
                        return Err(err(vat, format!("unknown log format `{v}`"))
                            .into_help("formats are rfc3164, rfc5424, short and raw"));
                    }
                };
                i += 2;
            }
            Some(&(at, "sample")) => {
                return Err(err(at, "`sample` in `log` is not supported yet"));
            }
            _ => break,
        }
    }
    let Some(&(fat, fac)) = ws.get(i) else {
        return Err(err(s.len(), "missing facility")
            .into_help("add a facility after the target, e.g. `local0`"));
    };
    let facility = FACILITIES.iter().position(|f| *f == fac).ok_or_else(|| {
        err(fat, format!("unknown facility `{fac}`"))
            .into_help("facilities are kern, user, ..., local0 to local7")
    })? as u8;
    let level = |k: usize| -> Result<Option<Level>, LineError> {
        match ws.get(k) {
            None => Ok(None),
            Some(&(at, w)) => Level::from_name(w).map(Some).ok_or_else(|| {
                err(at, format!("unknown level `{w}`"))
                    .into_help("levels are emerg, alert, crit, err, warning, notice, info, debug")
            }),
        }
    };
    let max_level = level(i + 1)?.unwrap_or(Level::Debug);
    let min_level = level(i + 2)?;
    if let Some(&(at, w)) = ws.get(i + 3) {
        return Err(err(at, format!("unexpected `{w}`")));
    }
    Ok(LogLine::Target(LogTarget {
        target,
        format,
        facility,
        max_level,
        min_level,
        len,
    }))
}

impl LineError {
    fn into_help(mut self, h: &str) -> Self {
        self.help = Some(h.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> LogTarget {
        match parse_log_line(s).unwrap() {
            LogLine::Target(t) => t,
            LogLine::Global => panic!("global"),
        }
    }

    #[test]
    fn parses_haproxy_lines() {
        assert_eq!(parse_log_line("global").unwrap(), LogLine::Global);
        let a = t("127.0.0.1:514 local0");
        assert_eq!(a.target, Target::Udp("127.0.0.1:514".parse().unwrap()));
        assert_eq!(
            (a.facility, a.max_level, a.format),
            (16, Level::Debug, Format::Rfc3164)
        );
        let b = t("/dev/log len 2048 format rfc5424 local1 notice err");
        assert_eq!(b.target, Target::Unix("/dev/log".into()));
        assert_eq!(b.len, 2048);
        assert_eq!(
            (b.facility, b.max_level, b.min_level),
            (17, Level::Notice, Some(Level::Err))
        );
        assert_eq!(t("stdout format raw daemon").target, Target::Stdout);
        assert_eq!(t("stderr format short local7").format, Format::Short);
        assert_eq!(
            t("10.0.0.1 user").target,
            Target::Udp("10.0.0.1:514".parse().unwrap())
        );
        assert_eq!(
            t("udp@127.0.0.1:5514 user").target,
            Target::Udp("127.0.0.1:5514".parse().unwrap())
        );
        assert_eq!(
            t("unix@/run/log.sock user").target,
            Target::Unix("/run/log.sock".into())
        );
    }

    #[test]
    fn errors_point_at_the_word() {
        let e = parse_log_line("127.0.0.1:514 local9").unwrap_err();
        assert_eq!((e.at, e.msg.as_str()), (14, "unknown facility `local9`"));
        let e = parse_log_line("127.0.0.1:514 format json local0").unwrap_err();
        assert_eq!(e.at, 21);
        let e = parse_log_line("stdout local0 info bogus").unwrap_err();
        assert_eq!(e.at, 19);
        let e = parse_log_line("stdout").unwrap_err();
        assert_eq!(e.msg, "missing facility");
        let e = parse_log_line("tcp@127.0.0.1:514 local0").unwrap_err();
        assert!(e.msg.contains("not supported yet"), "{e:?}");
        assert!(parse_log_line("log.example.com:514 local0").is_err());
    }
}
