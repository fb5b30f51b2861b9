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

fn parse_opts(s: &str, start: usize, end: usize) -> Result<Opts, Perr> {
    let mut o = Opts::default();
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

fn parse_lf(s: &str, env: &mut ParseEnv<'_>) -> Result<LogFormat, Perr> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < s.len() {
        let Some(off) = s[i..].find('%') else {
            lit.push_str(&s[i..]);
            break;
        };
        lit.push_str(&s[i..i + off]);
        let pct = i + off;
        i = pct + 1;
        if b.get(i) == Some(&b'%') {
            lit.push('%');
            i += 1;
            continue;
        }
        let mut opts = Opts::default();
        if b.get(i) == Some(&b'{') {
            let close = s[i..]
                .find('}')
                .map(|o| i + o)
                .ok_or_else(|| Perr::new(ParseErrorKind::Unclosed, pct, "unclosed `{`"))?;
            opts = parse_opts(s, i + 1, close)?;
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

fn render_sample(out: &mut String, s: Option<Sample<'_>>, o: Opts, mode: RenderMode) {
    use std::fmt::Write as _;
    // HAProxy quotes in log lines only.
    let quote = o.quote && mode == RenderMode::Log;
    let text = match s {
        Some(Sample::Str(t)) if !t.is_empty() => t,
        None | Some(Sample::Str(_)) => {
            if mode == RenderMode::Log {
                out.push_str(if quote { "\"\"" } else { "-" });
            }
            return;
        }
        // Numbers, addresses and booleans never need escaping: write them
        // straight into the output.
        Some(other) => {
            if quote {
                out.push('"');
            }
            let _ = match other {
                Sample::Int(v) if o.hex => write!(out, "{v:X}"),
                Sample::Ip(std::net::IpAddr::V4(a)) if o.hex => write!(out, "{:08X}", u32::from(a)),
                other => write!(out, "{other}"),
            };
            if quote {
                out.push('"');
            }
            return;
        }
    };
    if quote {
        out.push('"');
    }
    push_escaped(out, &text, o);
    if quote {
        out.push('"');
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
        parse_lf(s, env).map_err(|e| e.finish(s))
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
            Part::Lit(_) => None,
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
    pub fn render_into(&self, ctx: &dyn SampleContext, mode: RenderMode, out: &mut String) {
        for p in &*self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(e, o) => render_sample(out, e.eval(ctx), *o, mode),
            }
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
        fn header_values(&self, name: &str) -> Vec<&str> {
            match name {
                "x-empty" => vec![""],
                "x-a" => vec!["ab"],
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
}
