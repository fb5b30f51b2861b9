//! Log-format strings: literal text with `%[expr]` interpolations.

use crate::context::SampleContext;
use crate::error::{ParseError, ParseErrorKind, Perr, did_you_mean};
use crate::expr::{Expr, Mode, parse_expr};
use crate::maps::ParseEnv;
use crate::sample::Sample;

/// Output options of one interpolation (`%{+Q}[...]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Opts {
    /// `+Q`: wrap strings in double quotes.
    quote: bool,
    /// `+X`: integers and addresses in hexadecimal.
    hex: bool,
    /// `+E`: escape `"`, `\` and control characters.
    escape: bool,
}

/// What a format string is rendered for, which decides how a missing or
/// empty sample looks (HAProxy sets its "mandatory" option on log formats
/// alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RenderMode {
    /// A log line: a missing or empty sample is written `-` (`""` with
    /// `+Q`), so every field keeps its place; `+Q` quotes strings.
    Log,
    /// Every other format string: `set-header`/`add-header` values,
    /// `return` bodies and headers, redirect locations, map keys, dynamic
    /// backend names. A missing or empty sample is written as nothing, and
    /// `+Q` is ignored (HAProxy 2.6 quotes in log lines only); `+E` and
    /// `+X` apply.
    Text,
}

#[derive(Clone, Debug)]
enum Part {
    Lit(String),
    Expr(Expr, Opts),
    /// A log variable (`%ST`, `%tr`, ...): formats parsed for log lines only.
    Var(LogVar, Opts),
    /// A run of spaces in a log format: written once, and only after
    /// something that was written (HAProxy's separator).
    Sep,
}

/// The `%` variables of a log line (HAProxy's `log-format` table,
/// `configuration.txt` 8.2.4), which the log writer provides through
/// [`LogVars`]. Parsed by [`LogFormat::parse_log_in`] only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // documented in groups, by their `%` names
pub enum LogVar {
    /// `%ci`, `%cp`: client address and port.
    ClientIp,
    ClientPort,
    /// `%fi`, `%fp`: the address and port the client connected to.
    FrontendIp,
    FrontendPort,
    /// `%bi`, `%bp`: the server connection's source address and port.
    BackendIp,
    BackendPort,
    /// `%si`, `%sp`: the server's address and port.
    ServerIp,
    ServerPort,
    /// `%tr` / `%t` (accept date with ms), `%trg` (GMT), `%trl` (local),
    /// `%Ts` (Unix seconds), `%ms` (milliseconds of the accept date).
    DateRequest,
    DateGmt,
    DateLocal,
    Timestamp,
    Millis,
    /// `%f`, `%ft` (with `~` for TLS), `%b`, `%s`.
    Frontend,
    FrontendTransport,
    Backend,
    Server,
    /// Timers: `%Th %Ti %TR %Tq %Tw %Tc %Tr %Td %Ta %Tt %Tu`.
    Th,
    Ti,
    TR,
    Tq,
    Tw,
    Tc,
    Tr,
    Td,
    Ta,
    Tt,
    Tu,
    /// `%ST` status, `%B` bytes to the client, `%U` bytes from it.
    Status,
    BytesOut,
    BytesIn,
    /// `%CC`, `%CS`: captured cookies.
    CookieReq,
    CookieRes,
    /// `%tsc` (4 characters), `%ts` (2).
    TermStateCookie,
    TermState,
    /// `%ac %fc %bc %sc %rc %sq %bq`.
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BackendQueue,
    /// `%hr %hrl %hs %hsl`: captured values (nothing without capture slots).
    CapReq,
    CapReqList,
    CapRes,
    CapResList,
    /// `%r` request line, `%HM %HU %HP %HQ %HV`.
    RequestLine,
    Method,
    Uri,
    Path,
    Query,
    Version,
    /// `%ID` unique id, `%H` host name, `%pid`, `%rt` request counter,
    /// `%lc` log counter.
    UniqueId,
    Hostname,
    Pid,
    ReqCounter,
    LogCounter,
    /// `%sslc`, `%sslv`: TLS cipher and version.
    SslCipher,
    SslVersion,
}

impl LogVar {
    /// Captures: rendered from [`LogVars::captures`], nothing at all
    /// without slots (not `-`), as HAProxy's.
    fn silent_when_absent(self) -> bool {
        matches!(
            self,
            LogVar::CapReq | LogVar::CapReqList | LogVar::CapRes | LogVar::CapResList
        )
    }
}

const LOG_VARS: &[(&str, LogVar)] = &[
    ("ci", LogVar::ClientIp),
    ("cp", LogVar::ClientPort),
    ("fi", LogVar::FrontendIp),
    ("fp", LogVar::FrontendPort),
    ("bi", LogVar::BackendIp),
    ("bp", LogVar::BackendPort),
    ("si", LogVar::ServerIp),
    ("sp", LogVar::ServerPort),
    ("tr", LogVar::DateRequest),
    ("t", LogVar::DateRequest),
    ("trg", LogVar::DateGmt),
    ("T", LogVar::DateGmt),
    ("trl", LogVar::DateLocal),
    ("Tl", LogVar::DateLocal),
    ("Ts", LogVar::Timestamp),
    ("ms", LogVar::Millis),
    ("f", LogVar::Frontend),
    ("ft", LogVar::FrontendTransport),
    ("b", LogVar::Backend),
    ("s", LogVar::Server),
    ("Th", LogVar::Th),
    ("Ti", LogVar::Ti),
    ("TR", LogVar::TR),
    ("Tq", LogVar::Tq),
    ("Tw", LogVar::Tw),
    ("Tc", LogVar::Tc),
    ("Tr", LogVar::Tr),
    ("Td", LogVar::Td),
    ("Ta", LogVar::Ta),
    ("Tt", LogVar::Tt),
    ("Tu", LogVar::Tu),
    ("ST", LogVar::Status),
    ("B", LogVar::BytesOut),
    ("U", LogVar::BytesIn),
    ("CC", LogVar::CookieReq),
    ("CS", LogVar::CookieRes),
    ("tsc", LogVar::TermStateCookie),
    ("ts", LogVar::TermState),
    ("ac", LogVar::ActConn),
    ("fc", LogVar::FeConn),
    ("bc", LogVar::BeConn),
    ("sc", LogVar::SrvConn),
    ("rc", LogVar::Retries),
    ("sq", LogVar::SrvQueue),
    ("bq", LogVar::BackendQueue),
    ("hr", LogVar::CapReq),
    ("hrl", LogVar::CapReqList),
    ("hs", LogVar::CapRes),
    ("hsl", LogVar::CapResList),
    ("r", LogVar::RequestLine),
    ("HM", LogVar::Method),
    ("HU", LogVar::Uri),
    ("HP", LogVar::Path),
    ("HQ", LogVar::Query),
    ("HV", LogVar::Version),
    ("ID", LogVar::UniqueId),
    ("H", LogVar::Hostname),
    ("pid", LogVar::Pid),
    ("rt", LogVar::ReqCounter),
    ("lc", LogVar::LogCounter),
    ("sslc", LogVar::SslCipher),
    ("sslv", LogVar::SslVersion),
];

/// What a log line's variables are worth: the log writer's record.
pub trait LogVars {
    /// The value of `v`; `None` writes `-` (nothing for captures).
    fn var(&self, v: LogVar) -> Option<Sample<'_>>;
    /// The request's captures (`%hr %hrl %hs %hsl`); `None` (no slot
    /// declared) writes nothing.
    fn captures(&self) -> Option<&crate::Captures> {
        None
    }
}

/// No variable has a value (every one writes `-`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLogVars;

impl LogVars for NoLogVars {
    fn var(&self, _v: LogVar) -> Option<Sample<'_>> {
        None
    }
}

/// A string with interpolations, as used by `log-format`, `set-header`
/// values, redirect locations, ...: literal text, `%%` for a percent sign,
/// `%[expr]` for a sample expression and a few HAProxy aliases (`%ci`,
/// `%cp`, `%fi`, `%fp`, `%f`, `%ft`, `%b`, `%HM`, `%HU`, `%HP`).
///
/// The caller says what the string is for ([`RenderMode`]): in a log line
/// a missing or empty sample renders as `-`; everywhere else (header
/// values, `return` bodies, redirect locations, ...) it renders as
/// nothing, as HAProxy does.
///
/// ```
/// use gwd_sample::{LogFormat, RenderMode, SampleContext};
///
/// struct Req;
/// impl SampleContext for Req {
///     fn method(&self) -> Option<&str> { Some("GET") }
///     fn src(&self) -> Option<std::net::SocketAddr> { Some("192.0.2.7:5555".parse().unwrap()) }
/// }
///
/// let f = LogFormat::parse("%ci:%cp %[method] 100%% %[req.hdr(x-id)]").unwrap();
/// assert_eq!(f.render(&Req, RenderMode::Log), "192.0.2.7:5555 GET 100% -");
/// assert_eq!(f.render(&Req, RenderMode::Text), "192.0.2.7:5555 GET 100% ");
/// assert!(!f.is_literal());
/// assert!(LogFormat::literal("no %[interpolation]").is_literal());
/// ```
#[derive(Clone, Debug)]
pub struct LogFormat {
    parts: Box<[Part]>,
}

/// Aliases that map onto request data available here.
const ALIASES: &[(&str, &str)] = &[
    ("ci", "src"),
    ("cp", "src_port"),
    ("fi", "dst"),
    ("fp", "dst_port"),
    ("f", "fe_name"),
    ("ft", "fe_name"),
    ("b", "be_name"),
    ("HM", "method"),
    ("HU", "url"),
    ("HP", "path"),
];

/// HAProxy aliases that need data a request context does not have.
const UNAVAILABLE: &[&str] = &[
    "ST", "B", "Ta", "Tc", "Td", "Th", "Ti", "Tq", "TR", "Tr", "Ts", "Tt", "Tu", "Tw", "ac", "bc",
    "bi", "bp", "bq", "CC", "CS", "fc", "H", "HQ", "HV", "hr", "hrl", "hs", "hsl", "ID", "lc",
    "ms", "pid", "r", "rc", "rt", "s", "sc", "si", "sp", "sq", "sslc", "sslv", "t", "tr", "trg",
    "trl", "ts", "tsc", "U", "o", "rl",
];

/// Byte index of the `]` closing an interpolation that starts at `from`.
fn closing_bracket(s: &str, from: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut depth = 0usize;
    for (i, c) in s[from..].char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if depth > 0 => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ']') if depth == 0 => return Some(from + i),
            _ => {}
        }
    }
    None
}

fn parse_opts(s: &str, start: usize, end: usize, base: Opts) -> Result<Opts, Perr> {
    let mut o = base;
    let mut i = start;
    for flag in s[start..end].split(',') {
        let on = match flag.as_bytes().first() {
            Some(b'+') => true,
            Some(b'-') => false,
            _ => {
                return Err(Perr::new(
                    ParseErrorKind::BadFlag,
                    i,
                    format!("invalid log-format option `{flag}`"),
                )
                .help("options are +Q, +X, +E (or - to disable), e.g. `%{+Q}[path]`"));
            }
        };
        match &flag[1..] {
            "Q" => o.quote = on,
            "X" => o.hex = on,
            "E" => o.escape = on,
            other => {
                return Err(Perr::new(
                    ParseErrorKind::BadFlag,
                    i,
                    format!("unsupported log-format option `{other}`"),
                )
                .help("supported options are Q (quote), X (hex) and E (escape)"));
            }
        }
        i += flag.len() + 1;
    }
    Ok(o)
}

fn parse_lf(s: &str, env: &mut ParseEnv<'_>, log: bool) -> Result<LogFormat, Perr> {
    let mut parts = Vec::new();
    // `%{+X}o`: options every later variable starts from.
    let mut global = Opts::default();
    let mut lit = String::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < s.len() {
        if log && b[i] == b' ' {
            flush(&mut parts, &mut lit);
            if !matches!(parts.last(), Some(Part::Sep)) {
                parts.push(Part::Sep);
            }
            i += 1;
            continue;
        }
        let stop = if log { &['%', ' '][..] } else { &['%'][..] };
        let Some(off) = s[i..].find(stop) else {
            lit.push_str(&s[i..]);
            break;
        };
        lit.push_str(&s[i..i + off]);
        if b[i + off] == b' ' {
            i += off;
            continue;
        }
        let pct = i + off;
        i = pct + 1;
        if b.get(i) == Some(&b'%') {
            lit.push('%');
            i += 1;
            continue;
        }
        let mut opts = global;
        if b.get(i) == Some(&b'{') {
            let close = s[i..]
                .find('}')
                .map(|o| i + o)
                .ok_or_else(|| Perr::new(ParseErrorKind::Unclosed, pct, "unclosed `{`"))?;
            opts = parse_opts(s, i + 1, close, global)?;
            i = close + 1;
        }
        if b.get(i) == Some(&b'[') {
            let close = closing_bracket(s, i + 1).ok_or_else(|| {
                Perr::new(ParseErrorKind::Unclosed, pct, "unclosed `[`")
                    .help("close the sample expression with `]`")
            })?;
            let start = i + 1 + (s[i + 1..close].len() - s[i + 1..close].trim_start().len());
            let end = (i + 1 + s[i + 1..close].trim_end().len()).max(start);
            let (expr, _) = parse_expr(s, start, end, Mode::Sample, env)?;
            flush(&mut parts, &mut lit);
            parts.push(Part::Expr(expr, opts));
            i = close + 1;
            continue;
        }
        let name_len = s[i..].bytes().take_while(u8::is_ascii_alphabetic).count();
        if name_len == 0 {
            return Err(Perr::new(ParseErrorKind::Syntax, pct, "lone `%`")
                .help("write `%%` for a literal percent sign, or `%[expr]` for a sample"));
        }
        let name = &s[i..i + name_len];
        if log {
            if name == "o" {
                global = opts;
                i += name_len;
                continue;
            }
            // A variable's name is every letter after the `%`.
            let found = LOG_VARS
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .next();
            match found {
                Some(v) => {
                    flush(&mut parts, &mut lit);
                    parts.push(Part::Var(v, opts));
                    i += name_len;
                    continue;
                }
                None => {
                    let help =
                        did_you_mean(name, LOG_VARS.iter().map(|(a, _)| *a)).unwrap_or_else(|| {
                            "write `%%` for a literal percent sign, or `%[expr]` for a sample"
                                .into()
                        });
                    return Err(Perr::new(
                        ParseErrorKind::Syntax,
                        pct,
                        format!("unknown log-format variable `%{name}`"),
                    )
                    .help(help));
                }
            }
        }
        match ALIASES.iter().find(|(a, _)| *a == name) {
            Some((_, e)) => {
                let (expr, _) = parse_expr(e, 0, e.len(), Mode::Sample, &mut ParseEnv::none())
                    .map_err(|_| Perr::new(ParseErrorKind::Syntax, pct, "internal alias error"))?;
                flush(&mut parts, &mut lit);
                parts.push(Part::Expr(expr, opts));
            }
            None if UNAVAILABLE.contains(&name) => {
                return Err(Perr::new(
                    ParseErrorKind::Unsupported,
                    pct,
                    format!("`%{name}` is not available here"),
                )
                .help("only request data can be interpolated; use `%[expr]` with a sample fetch"));
            }
            None => {
                let help =
                    did_you_mean(name, ALIASES.iter().map(|(a, _)| *a)).unwrap_or_else(|| {
                        "write `%%` for a literal percent sign, or `%[expr]` for a sample".into()
                    });
                return Err(Perr::new(
                    ParseErrorKind::Syntax,
                    pct,
                    format!("unknown log-format alias `%{name}`"),
                )
                .help(help));
            }
        }
        i += name_len;
    }
    flush(&mut parts, &mut lit);
    Ok(LogFormat {
        parts: parts.into_boxed_slice(),
    })
}

/// `%hr %hrl %hs %hsl`: captured values, encoded (never escaped by
/// `+E`: the `#XX` encoding already keeps them on one line).
fn render_captures(c: &crate::Captures, v: LogVar, quote: bool, out: &mut String) {
    use crate::CaptureDir::{Request, Response};
    match v {
        LogVar::CapReq => c.render_braces(Request, quote, out),
        LogVar::CapRes => c.render_braces(Response, quote, out),
        LogVar::CapReqList => c.render_list(Request, quote, out),
        LogVar::CapResList => c.render_list(Response, quote, out),
        _ => {}
    }
}

fn flush(parts: &mut Vec<Part>, lit: &mut String) {
    if !lit.is_empty() {
        parts.push(Part::Lit(std::mem::take(lit)));
    }
}

fn push_escaped(out: &mut String, s: &str, o: Opts) {
    use std::fmt::Write as _;
    if !o.escape {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02X}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Where a rendering goes: text (log lines, bodies shown as text) or
/// bytes (header values, which keep a sample's obs-text bytes exactly).
trait Sink: std::fmt::Write {
    /// A string sample's bytes, escaped as `o` asks.
    fn sample_bytes(&mut self, b: &[u8], o: Opts);
}

impl Sink for String {
    fn sample_bytes(&mut self, b: &[u8], o: Opts) {
        push_escaped(self, &String::from_utf8_lossy(b), o);
    }
}

/// A byte buffer as a [`Sink`].
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Sink for Bytes<'_> {
    fn sample_bytes(&mut self, b: &[u8], o: Opts) {
        if !o.escape {
            self.0.extend_from_slice(b);
            return;
        }
        for &c in b {
            match c {
                b'"' | b'\\' => self.0.extend_from_slice(&[b'\\', c]),
                c if c < 0x20 || c == 0x7F => {
                    let _ = std::fmt::Write::write_fmt(self, format_args!("\\x{c:02X}"));
                }
                c => self.0.push(c),
            }
        }
    }
}

fn render_sample(out: &mut dyn Sink, s: Option<Sample<'_>>, o: Opts, mode: RenderMode) {
    // HAProxy quotes in log lines only.
    let quote = o.quote && mode == RenderMode::Log;
    let text = match s {
        Some(Sample::Str(t)) if !t.is_empty() => t,
        None | Some(Sample::Str(_)) => {
            if mode == RenderMode::Log {
                let _ = out.write_str(if quote { "\"\"" } else { "-" });
            }
            return;
        }
        // Numbers, addresses and booleans never need escaping: write them
        // straight into the output.
        Some(other) => {
            if quote {
                let _ = out.write_char('"');
            }
            let _ = match other {
                Sample::Int(v) if o.hex => write!(out, "{v:X}"),
                Sample::Ip(std::net::IpAddr::V4(a)) if o.hex => write!(out, "{:08X}", u32::from(a)),
                other => write!(out, "{other}"),
            };
            if quote {
                let _ = out.write_char('"');
            }
            return;
        }
    };
    if quote {
        let _ = out.write_char('"');
    }
    out.sample_bytes(&text, o);
    if quote {
        let _ = out.write_char('"');
    }
}

impl LogFormat {
    /// Parses a format string. Errors point at the offending `%` sequence
    /// or inside the `%[...]` expression.
    ///
    /// Map converters need map access: use [`LogFormat::parse_in`].
    pub fn parse(s: &str) -> Result<LogFormat, ParseError> {
        Self::parse_in(s, &mut ParseEnv::none())
    }

    /// [`LogFormat::parse`] with map files reached through `env`
    /// (`%[req.hdr(host),map(hosts.map)]`).
    pub fn parse_in(s: &str, env: &mut ParseEnv<'_>) -> Result<LogFormat, ParseError> {
        parse_lf(s, env, false).map_err(|e| e.finish(s))
    }

    /// Parses a format for log lines (`log-format`, `unique-id-format`):
    /// besides `%[expr]`, HAProxy's `%` variables ([`LogVar`]), `%{...}o`
    /// (options for every later variable) and spaces as separators (a run
    /// of spaces is written once, and not after something that wrote
    /// nothing). Unknown variables are errors.
    pub fn parse_log_in(s: &str, env: &mut ParseEnv<'_>) -> Result<LogFormat, ParseError> {
        parse_lf(s, env, true).map_err(|e| e.finish(s))
    }

    /// True when the format has `%[expr]` parts.
    pub fn has_exprs(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Expr(..)))
    }

    /// Each `%[expr]` part rendered against `ctx` for a log line, in
    /// order: what [`LogFormat::render_log`] writes later, when the
    /// request is gone.
    pub fn eval_exprs(&self, ctx: &dyn SampleContext) -> Vec<String> {
        let mut out = Vec::new();
        for p in &*self.parts {
            if let Part::Expr(e, o) = p {
                let mut s = String::new();
                render_sample(&mut s, e.eval(ctx), *o, RenderMode::Log);
                out.push(s);
            }
        }
        out
    }

    /// Renders again, into `exprs` (as [`LogFormat::eval_exprs`] made
    /// them), the `%[expr]` parts `pick` chooses, against `ctx`: those
    /// whose value is only final when the line is written (captures
    /// filled by the response, HAProxy's log-time evaluation).
    pub fn refresh_exprs(
        &self,
        ctx: &dyn SampleContext,
        exprs: &mut [String],
        pick: &dyn Fn(&Expr) -> bool,
    ) {
        let all = self.parts.iter().filter_map(|p| match p {
            Part::Expr(e, o) => Some((e, *o)),
            _ => None,
        });
        for ((e, o), out) in all.zip(exprs.iter_mut()) {
            if pick(e) {
                out.clear();
                render_sample(out, e.eval(ctx), o, RenderMode::Log);
            }
        }
    }

    /// Renders a log format with its variables from `vars` and its
    /// `%[expr]` parts from `exprs` (as [`LogFormat::eval_exprs`] made
    /// them; `-` where missing).
    pub fn render_log(&self, vars: &dyn LogVars, exprs: &[String], out: &mut String) {
        let mut k = 0;
        self.render_parts(vars, out, &mut |out, _e, _o| {
            match exprs.get(k) {
                Some(s) => out.push_str(s),
                None => out.push('-'),
            }
            k += 1;
        });
    }

    /// Renders a log format with `%[expr]` evaluated against `ctx` now
    /// (`unique-id-format`).
    pub fn render_log_with(
        &self,
        ctx: &dyn SampleContext,
        vars: &dyn LogVars,
        mode: RenderMode,
        out: &mut String,
    ) {
        self.render_parts(vars, out, &mut |out, e, o| {
            render_sample(out, e.eval(ctx), o, mode)
        });
    }

    fn render_parts(
        &self,
        vars: &dyn LogVars,
        out: &mut String,
        expr: &mut dyn FnMut(&mut String, &Expr, Opts),
    ) {
        let mut after_space = true;
        for p in &*self.parts {
            let before = out.len();
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Sep => {
                    if !after_space {
                        out.push(' ');
                        after_space = true;
                    }
                    continue;
                }
                Part::Expr(e, o) => expr(out, e, *o),
                Part::Var(v, o) if v.silent_when_absent() => {
                    if let Some(c) = vars.captures() {
                        render_captures(c, *v, o.quote, out);
                    }
                }
                Part::Var(v, o) => render_sample(out, vars.var(*v), *o, RenderMode::Log),
            }
            if out.len() != before {
                after_space = false;
            }
        }
    }

    /// A format that renders `s` verbatim (no `%` processing).
    pub fn literal(s: impl Into<String>) -> LogFormat {
        let s = s.into();
        let parts = if s.is_empty() {
            Vec::new()
        } else {
            vec![Part::Lit(s)]
        };
        LogFormat {
            parts: parts.into_boxed_slice(),
        }
    }

    /// The expressions the format interpolates, in order.
    pub fn exprs(&self) -> impl Iterator<Item = &crate::Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e, _) => Some(e),
            Part::Lit(_) | Part::Var(..) | Part::Sep => None,
        })
    }

    /// True when the format has no interpolation (rendering needs no context).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The text of a literal format; `None` when it interpolates.
    pub fn as_literal(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Renders the format against `ctx`, for a log line or for anything
    /// else ([`RenderMode`]).
    pub fn render(&self, ctx: &dyn SampleContext, mode: RenderMode) -> String {
        let mut out = String::new();
        self.render_into(ctx, mode, &mut out);
        out
    }

    /// Appends the rendering to `out` (lets callers reuse a buffer).
    /// String samples that are not UTF-8 (obs-text header values) are
    /// written lossily: where the rendering goes on the wire, use
    /// [`LogFormat::render_bytes_into`].
    pub fn render_into(&self, ctx: &dyn SampleContext, mode: RenderMode, out: &mut String) {
        self.render_sink(ctx, mode, out);
    }

    /// Renders as bytes: string samples are written byte for byte (a
    /// header value's obs-text copied into another header stays the same
    /// bytes, as in HAProxy).
    pub fn render_bytes(&self, ctx: &dyn SampleContext, mode: RenderMode) -> Vec<u8> {
        let mut out = Vec::new();
        self.render_bytes_into(ctx, mode, &mut out);
        out
    }

    /// Appends [`LogFormat::render_bytes`]'s output to `out`.
    pub fn render_bytes_into(&self, ctx: &dyn SampleContext, mode: RenderMode, out: &mut Vec<u8>) {
        self.render_sink(ctx, mode, &mut Bytes(out));
    }

    fn render_sink(&self, ctx: &dyn SampleContext, mode: RenderMode, out: &mut dyn Sink) {
        for p in &*self.parts {
            let _ = match p {
                Part::Lit(s) => out.write_str(s),
                Part::Expr(e, o) => {
                    render_sample(out, e.eval(ctx), *o, mode);
                    Ok(())
                }
                Part::Var(v, o) => {
                    render_sample(out, NoLogVars.var(*v), *o, mode);
                    Ok(())
                }
                Part::Sep => out.write_char(' '),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SampleContext;

    /// A request with an empty `x-empty` header and a `x-a: ab` header.
    struct Req;
    impl SampleContext for Req {
        fn method(&self) -> Option<&str> {
            Some("GET")
        }
        fn header_values(&self, name: &str) -> Vec<&[u8]> {
            match name {
                "x-empty" => vec![b""],
                "x-a" => vec![b"ab"],
                _ => Vec::new(),
            }
        }
    }

    fn text(f: &str) -> String {
        LogFormat::parse(f).unwrap().render(&Req, RenderMode::Text)
    }

    fn log(f: &str) -> String {
        LogFormat::parse(f).unwrap().render(&Req, RenderMode::Log)
    }

    /// Checked against HAProxy 2.6.12: `lf-string "[%[req.hdr(x-miss)]]"`
    /// in `http-request return` answers `[]`, with or without `+Q`, for a
    /// missing header and for an empty one; `set-header x-set2
    /// "a%[req.hdr(x-miss)]b"` sets `ab`; `redirect location
    /// "/r%[req.hdr(x-miss)]x"` sends `/rx`; `+Q` on `ab` gives `ab` in a
    /// return body, a set-header value and a redirect location, `+E`
    /// escapes there too.
    #[test]
    fn text_mode_renders_missing_and_empty_as_nothing() {
        assert_eq!(text("[%[req.hdr(x-miss)]]"), "[]");
        assert_eq!(text("[%[req.hdr(x-empty)]]"), "[]");
        assert_eq!(text("[%{+Q}[req.hdr(x-miss)]]"), "[]");
        assert_eq!(text("[%{+Q}[req.hdr(x-empty)]]"), "[]");
        assert_eq!(text("a%[req.hdr(x-miss)]b"), "ab");
        assert_eq!(text("/r%[req.hdr(x-miss)]x"), "/rx");
        assert_eq!(text("%{+Q}[req.hdr(x-a)]"), "ab");
        assert_eq!(text("%{+Q}[method]"), "GET");
        assert_eq!(text("%[method] %[req.hdr(x-a)]"), "GET ab");
    }

    /// Checked against HAProxy 2.6.12 with `log-format "[%[var(txn.nope)]]
    /// [%{+Q}[var(txn.nope)]] [%[var(txn.empty)]] [%{+Q}[var(txn.empty)]]"`:
    /// `[-] [""] [-] [""]`, and `%{+Q}` on `ab` logs `"ab"`.
    #[test]
    fn log_mode_keeps_dashes_and_quotes() {
        assert_eq!(
            log(
                "[%[req.hdr(x-miss)]] [%{+Q}[req.hdr(x-miss)]] [%[req.hdr(x-empty)]] [%{+Q}[req.hdr(x-empty)]]"
            ),
            "[-] [\"\"] [-] [\"\"]"
        );
        assert_eq!(log("%{+Q}[req.hdr(x-a)]"), "\"ab\"");
    }

    struct Vars;
    impl LogVars for Vars {
        fn var(&self, v: LogVar) -> Option<Sample<'_>> {
            match v {
                LogVar::ClientIp => Some(Sample::from("127.0.0.1")),
                LogVar::ClientPort => Some(Sample::Int(40170)),
                LogVar::Status => Some(Sample::Int(200)),
                LogVar::Tw => Some(Sample::Int(0)),
                LogVar::Tc => Some(Sample::Int(1)),
                LogVar::RequestLine => Some(Sample::from("GET / HTTP/1.1")),
                LogVar::ReqCounter => Some(Sample::Int(26)),
                _ => None,
            }
        }
    }

    fn lf(f: &str) -> String {
        let fmt = LogFormat::parse_log_in(f, &mut ParseEnv::none()).unwrap();
        let mut out = String::new();
        let exprs = fmt.eval_exprs(&Req);
        fmt.render_log(&Vars, &exprs, &mut out);
        out
    }

    #[test]
    fn log_variables_render_from_the_record() {
        assert_eq!(
            lf("%ci:%cp %ST %Tw/%Tc %{+Q}r"),
            "127.0.0.1:40170 200 0/1 \"GET / HTTP/1.1\""
        );
        assert_eq!(
            lf("%ci %[method] %[req.hdr(x-miss)] 100%%"),
            "127.0.0.1 GET - 100%"
        );
        // Captures write nothing, and the separators around them collapse
        // (httplog's `%sq/%bq %hr %hs %{+Q}r` without captures).
        assert_eq!(lf("%ST %hr %hs %{+Q}r"), "200 \"GET / HTTP/1.1\"");
        // Missing values write `-`; runs of spaces are one separator.
        assert_eq!(lf("%ST   %b %ID"), "200 - -");
        // `%{+X}o` applies to every later variable.
        assert_eq!(lf("%{+X}o %cp_%rt"), "9CEA_1A");
    }

    struct WithCaptures(crate::Captures);
    impl LogVars for WithCaptures {
        fn var(&self, v: LogVar) -> Option<Sample<'_>> {
            Vars.var(v)
        }
        fn captures(&self) -> Option<&crate::Captures> {
            Some(&self.0)
        }
    }

    /// HAProxy 2.6.12's httplog tail with two request slots (the second
    /// not filled) and one response slot: `{Host|} {srv} "GET ..."`, and a
    /// value that tries to fake the framing is encoded.
    #[test]
    fn captures_render_in_log_lines() {
        use crate::CaptureDir::{Request, Response};
        let mut c = crate::Captures::new(2, 1);
        c.set(Request, 0, b"a|b}\n{", 64);
        c.set(Response, 0, b"srv", 64);
        let fmt =
            LogFormat::parse_log_in("%ST %hr %hs %{+Q}r %hrl", &mut ParseEnv::none()).unwrap();
        let mut out = String::new();
        fmt.render_log(&WithCaptures(c), &[], &mut out);
        assert_eq!(
            out,
            "200 {a#7Cb#7D#0A#7B|} {srv} \"GET / HTTP/1.1\" a#7Cb#7D#0A#7B -"
        );
    }

    #[test]
    fn log_variable_errors_point_at_the_percent() {
        let e = LogFormat::parse_log_in("%ci %Tx", &mut ParseEnv::none()).unwrap_err();
        assert!(
            e.to_string().contains("unknown log-format variable `%Tx`"),
            "{e}"
        );
        assert!(e.to_string().starts_with("column 5:"), "{e}");
        let e = LogFormat::parse_log_in("%ci %{+Z}ST", &mut ParseEnv::none()).unwrap_err();
        assert!(e.to_string().contains("`Z`"), "{e}");
        // Outside log lines the variables stay unavailable.
        assert!(LogFormat::parse("%ST").is_err());
    }
}
