//! Log-format strings: literal text with `%[expr]` interpolations.

mod json;

use json::JsonType;

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
    /// `+json`: the value is written as JSON (`json` module).
    json: bool,
    /// The type a named item is written as in JSON (`%(name:sint)`).
    ty: Option<JsonType>,
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
    /// The name of the item that follows (`%(name)`): its member name in
    /// a JSON line; written nowhere else.
    Key(Box<str>),
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
    /// `%{+json}o`: the line is one JSON object of the named items.
    json: bool,
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
            "json" => o.json = on,
            "cbor" | "bin" => {
                return Err(Perr::new(
                    ParseErrorKind::Unsupported,
                    i,
                    format!("log-format option `{}` is not supported yet", &flag[1..]),
                )
                .help("write JSON lines with `%{+json}o` and named items, e.g. `%{+json}o %(client_ip)ci`"));
            }
            other => {
                return Err(Perr::new(
                    ParseErrorKind::BadFlag,
                    i,
                    format!("unsupported log-format option `{other}`"),
                )
                .help("supported options are Q (quote), X (hex), E (escape) and json"));
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
    // `%{+json}o` was seen: the line is a JSON object.
    let mut json_line = false;
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
        if b.get(i) == Some(&b'(') {
            let close = s[i..]
                .find(')')
                .map(|o| i + o)
                .ok_or_else(|| Perr::new(ParseErrorKind::Unclosed, pct, "unclosed `(`"))?;
            let (name, ty) = match s[i + 1..close].split_once(':') {
                Some((n, t)) => (n, Some(t)),
                None => (&s[i + 1..close], None),
            };
            if let Some(bad) = name.find(|c| !json::name_char(c)) {
                return Err(Perr::new(
                    ParseErrorKind::Syntax,
                    i + 1 + bad,
                    "invalid character in a log-format item name",
                )
                .help("names take letters, digits, `_` and `-`, e.g. `%(client_ip)ci`"));
            }
            if let Some(t) = ty {
                opts.ty = Some(JsonType::parse(t).ok_or_else(|| {
                    Perr::new(
                        ParseErrorKind::Syntax,
                        i + 2 + name.len(),
                        format!("unknown log-format item type `{t}`"),
                    )
                    .help("types are str, sint, bool and raw, e.g. `%(status:str)ST`")
                })?);
            }
            i = close + 1;
            // An empty name leaves the item unnamed, as in HAProxy.
            if !name.is_empty() {
                flush(&mut parts, &mut lit);
                parts.push(Part::Key(name.into()));
            }
            if b.get(i) != Some(&b'{')
                && b.get(i) != Some(&b'[')
                && !b.get(i).is_some_and(u8::is_ascii_alphabetic)
            {
                return Err(Perr::new(ParseErrorKind::Syntax, pct, "a name must be followed by an item")
                    .help("name a variable or a sample, e.g. `%(client_ip)ci` or `%(host)[req.hdr(host)]`"));
            }
        }
        if b.get(i) == Some(&b'{') {
            let close = s[i..]
                .find('}')
                .map(|o| i + o)
                .ok_or_else(|| Perr::new(ParseErrorKind::Unclosed, pct, "unclosed `{`"))?;
            opts = parse_opts(s, i + 1, close, opts)?;
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
                if matches!(parts.last(), Some(Part::Key(_))) {
                    return Err(
                        Perr::new(ParseErrorKind::Syntax, pct, "`%o` cannot be named")
                            .help("write `%{+json}o` alone, then the named items"),
                    );
                }
                json_line |= opts.json;
                global = Opts { ty: None, ..opts };
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
    if json_line {
        // Every item of a JSON line is written as JSON, those before the
        // `%o` too, as HAProxy does. `+X` writes a log variable as a
        // hexadecimal string and is ignored on samples; `:raw` applies to
        // samples only.
        for p in &mut parts {
            match p {
                Part::Expr(_, o) => {
                    o.json = true;
                    o.hex = false;
                }
                Part::Var(_, o) => {
                    o.json = true;
                    if o.ty == Some(JsonType::Raw) {
                        o.ty = None;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(LogFormat {
        parts: parts.into_boxed_slice(),
        json: json_line,
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
    if o.json {
        json::write_value(out, s, o.ty, o.hex);
        return;
    }
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
        self.render_parts(vars, out, &mut |out, _e, o| {
            match exprs.get(k) {
                Some(s) => out.push_str(s),
                // No request to evaluate against (a line for a request
                // that never came whole): a missing value, as JSON too.
                None if o.json => out.push_str("\"\""),
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
        if self.json {
            return self.render_json_line(vars, out, expr);
        }
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
                Part::Key(_) => {}
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

    /// A `%{+json}o` line: `{"name": value, ...}` over the named items,
    /// in order; literal text and unnamed items are left out (an unnamed
    /// `%[expr]` is still handed to `expr`, which keeps its place).
    fn render_json_line(
        &self,
        vars: &dyn LogVars,
        out: &mut String,
        expr: &mut dyn FnMut(&mut String, &Expr, Opts),
    ) {
        out.push('{');
        let mut key: Option<&str> = None;
        let mut first = true;
        let mut begin = |out: &mut String, key: &mut Option<&str>| -> bool {
            let Some(k) = key.take() else {
                return false;
            };
            if !first {
                out.push_str(", ");
            }
            first = false;
            json::write_str(out, k);
            out.push_str(": ");
            true
        };
        for p in &*self.parts {
            match p {
                Part::Key(k) => key = Some(k),
                Part::Lit(_) | Part::Sep => {}
                Part::Expr(e, o) => {
                    if begin(out, &mut key) {
                        expr(out, e, *o);
                    } else {
                        expr(&mut String::new(), e, *o);
                    }
                }
                Part::Var(v, o) => {
                    if !begin(out, &mut key) {
                        continue;
                    }
                    if v.silent_when_absent() {
                        match vars.captures() {
                            Some(c) => {
                                let mut text = String::new();
                                render_captures(c, *v, false, &mut text);
                                json::write_str(out, &text);
                            }
                            None => out.push_str("null"),
                        }
                    } else {
                        render_sample(out, vars.var(*v), *o, RenderMode::Log);
                    }
                }
            }
        }
        out.push('}');
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
            json: false,
        }
    }

    /// The expressions the format interpolates, in order.
    pub fn exprs(&self) -> impl Iterator<Item = &crate::Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e, _) => Some(e),
            Part::Lit(_) | Part::Var(..) | Part::Sep | Part::Key(_) => None,
        })
    }

    /// True when the format has no interpolation (rendering needs no context).
    pub fn is_literal(&self) -> bool {
        !self.json && self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The text of a literal format; `None` when it interpolates.
    pub fn as_literal(&self) -> Option<&str> {
        if self.json {
            return None;
        }
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
        if self.json {
            let mut line = String::new();
            self.render_json_line(&NoLogVars, &mut line, &mut |out, e, o| {
                render_sample(out, e.eval(ctx), o, mode)
            });
            let _ = out.write_str(&line);
            return;
        }
        for p in &*self.parts {
            let _ = match p {
                Part::Key(_) => Ok(()),
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
mod tests;
