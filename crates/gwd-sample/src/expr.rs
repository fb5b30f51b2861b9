//! Sample expressions: one fetch followed by a converter chain.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::args::{Arg, Call, parse_args};
use crate::context::SampleContext;
use crate::conv::{self, CONVERTERS, Conv};
use crate::error::{ParseError, ParseErrorKind, Perr, did_you_mean};
use crate::fetch::{self, FETCHES, Fetch, FetchScope};
use crate::maps::ParseEnv;
use crate::pattern::Method;
use crate::sample::{Sample, SampleType};

/// A parsed sample expression: `fetch[(args)][,converter[(args)]]...`.
///
/// Everything (names, arguments, regexes, masks) is resolved at parse time;
/// evaluation only reads the context. The static output type is known
/// ([`Expr::output_type`]).
///
/// ```
/// use gwd_sample::{Expr, Sample, SampleContext};
///
/// struct Req;
/// impl SampleContext for Req {
///     fn header_values(&self, name: &str) -> Vec<&[u8]> {
///         if name == "host" { vec![b"API.Example.com:8443"] } else { vec![] }
///     }
/// }
///
/// let e: Expr = "req.hdr(host),field(1,:),lower".parse().unwrap();
/// assert_eq!(e.eval(&Req), Some(Sample::from("api.example.com")));
/// assert_eq!(e.to_string(), "req.hdr(host),field(1,:),lower");
///
/// let err = Expr::parse("req.hdr(host),lowr").unwrap_err();
/// assert_eq!(err.column, 15);
/// assert_eq!(err.help.as_deref(), Some("did you mean `lower`?"));
/// ```
#[derive(Clone, Debug)]
pub struct Expr {
    pub(crate) fetch: Fetch,
    convs: Box<[Conv]>,
    out: SampleType,
    text: Box<str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Sample,
    Acl,
}

/// ACL shorthand suffixes: `path_beg` = `path -m beg`.
const DERIVED: &[(&str, Method)] = &[
    ("str", Method::Str),
    ("beg", Method::Beg),
    ("end", Method::End),
    ("sub", Method::Sub),
    ("reg", Method::Reg),
    ("dom", Method::Dom),
    ("dir", Method::Dir),
    ("len", Method::Len),
    ("val", Method::Int),
];

/// Fetches commonly used with shorthand suffixes (for suggestions only; any
/// string fetch accepts them).
const DERIVED_BASES: &[&str] = &[
    "path",
    "url",
    "hdr",
    "req.hdr",
    "base",
    "cook",
    "urlp",
    "ssl_fc_sni",
    "method",
];

fn castable(from: SampleType, to: SampleType) -> bool {
    use SampleType::*;
    from == to
        || to == Str
        || from == Str
        || matches!(
            (from, to),
            (Bool, Int) | (Int, Bool) | (Int, Ip) | (Ip, Int)
        )
}

fn name_end(src: &str, mut i: usize, end: usize) -> usize {
    let b = src.as_bytes();
    while i < end && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-')) {
        i += 1;
    }
    i
}

fn unexpected(src: &str, pos: usize) -> String {
    let c = src[pos..].chars().next().unwrap_or(' ');
    format!("unexpected `{c}`")
}

/// Parses `src[start..end]` as an expression; positions in errors are
/// absolute in `src`. In ACL mode, a shorthand name (`path_beg`) is
/// accepted and its match method returned.
pub(crate) fn parse_expr(
    src: &str,
    start: usize,
    end: usize,
    mode: Mode,
    env: &mut ParseEnv<'_>,
) -> Result<(Expr, Option<Method>), Perr> {
    let npos = start;
    let nend = name_end(src, start, end);
    if nend == npos {
        if npos >= end {
            return Err(Perr::new(
                ParseErrorKind::Empty,
                npos,
                "expected a sample fetch",
            ));
        }
        return Err(Perr::new(
            ParseErrorKind::Syntax,
            npos,
            format!("{}: expected a sample fetch name", unexpected(src, npos)),
        ));
    }
    let name = &src[npos..nend];
    let (args, mut i) = call_args(src, nend, end)?;
    let (fetch, derived) = resolve_fetch(name, npos, &args, mode)?;
    let mut out = fetch.out_type();
    let mut convs = Vec::new();
    while i < end {
        if src.as_bytes()[i] != b',' {
            return Err(Perr::new(
                ParseErrorKind::Syntax,
                i,
                format!("{} after the expression", unexpected(src, i)),
            )
            .help("converters are chained with `,` and must not be separated by spaces"));
        }
        let cpos = i + 1;
        let cend = name_end(src, cpos, end);
        if cend == cpos {
            return Err(Perr::new(
                ParseErrorKind::Syntax,
                cpos,
                "expected a converter name after `,`",
            ));
        }
        let cname = &src[cpos..cend];
        let (cargs, next) = call_args(src, cend, end)?;
        let usage = conv::usage(cname).unwrap_or(cname);
        let call = Call {
            name: cname,
            pos: cpos,
            args: &cargs,
            usage,
        };
        let built = match conv::build_map(&call, env)? {
            Some(c) => Some(c),
            None => conv::build(&call)?,
        };
        let Some(c) = built else {
            let help = if fetch::usage(cname).is_some() {
                Some(format!("`{cname}` is a sample fetch, not a converter"))
            } else {
                did_you_mean(cname, CONVERTERS.iter().map(|(n, _)| *n))
            };
            return Err(Perr::new(
                ParseErrorKind::UnknownConverter,
                cpos,
                format!("unknown converter `{cname}`"),
            )
            .help_opt(help));
        };
        if !castable(out, c.in_type()) {
            return Err(Perr::new(
                ParseErrorKind::TypeMismatch,
                cpos,
                format!(
                    "converter `{cname}` expects {} input but receives {}",
                    c.in_type().with_article(),
                    out.with_article()
                ),
            ));
        }
        out = c.out_type();
        convs.push(c);
        i = next;
    }
    let expr = Expr {
        fetch,
        convs: convs.into_boxed_slice(),
        out,
        text: src[start..end].into(),
    };
    Ok((expr, derived))
}

fn call_args(src: &str, at: usize, end: usize) -> Result<(Vec<Arg>, usize), Perr> {
    if at < end && src.as_bytes()[at] == b'(' {
        parse_args(src, at, end)
    } else {
        Ok((Vec::new(), at))
    }
}

fn resolve_fetch(
    name: &str,
    npos: usize,
    args: &[Arg],
    mode: Mode,
) -> Result<(Fetch, Option<Method>), Perr> {
    let usage = fetch::usage(name).unwrap_or(name);
    if let Some(f) = fetch::build(&Call {
        name,
        pos: npos,
        args,
        usage,
    })? {
        return Ok((f, None));
    }
    // ACL shorthand: <string fetch>_<method>
    let derived = name.rsplit_once('_').and_then(|(base, suf)| {
        let m = DERIVED.iter().find(|(s, _)| *s == suf)?.1;
        fetch::usage(base).map(|u| (base, u, m))
    });
    if let Some((base, busage, m)) = derived {
        if mode == Mode::Sample {
            return Err(Perr::new(
                ParseErrorKind::UnknownFetch,
                npos,
                format!("unknown sample fetch `{name}`"),
            )
            .help(format!(
                "`{name}` is an ACL shorthand; in an expression use `{base}` (and `-m` in the ACL)"
            )));
        }
        let f = fetch::build(&Call {
            name: base,
            pos: npos,
            args,
            usage: busage,
        })?;
        if let Some(f) = f {
            if f.out_type() != SampleType::Str {
                return Err(Perr::new(
                    ParseErrorKind::UnknownFetch,
                    npos,
                    format!(
                        "unknown sample fetch `{name}`: `{base}` returns {}, not a string",
                        f.out_type().with_article()
                    ),
                ));
            }
            return Ok((f, Some(m)));
        }
    }
    let help = if conv::usage(name).is_some() && name != "bool" {
        Some(format!(
            "`{name}` is a converter; apply it after a fetch, e.g. `path,{name}`"
        ))
    } else if mode == Mode::Acl {
        let derived: Vec<String> = DERIVED_BASES
            .iter()
            .flat_map(|b| DERIVED.iter().map(move |(s, _)| format!("{b}_{s}")))
            .collect();
        did_you_mean(
            name,
            FETCHES
                .iter()
                .map(|(n, _)| *n)
                .chain(derived.iter().map(String::as_str)),
        )
    } else {
        did_you_mean(name, FETCHES.iter().map(|(n, _)| *n))
    };
    Err(Perr::new(
        ParseErrorKind::UnknownFetch,
        npos,
        format!("unknown sample fetch `{name}`"),
    )
    .help_opt(help))
}

impl Expr {
    /// Parses an expression such as `req.hdr(host),lower`. Surrounding
    /// whitespace is ignored; anything else after the expression is an error.
    ///
    /// Map converters (`map(<file>)`, ...) need map access: use
    /// [`Expr::parse_in`]; here they are errors of kind
    /// [`ParseErrorKind::NoMaps`].
    pub fn parse(s: &str) -> Result<Expr, ParseError> {
        Self::parse_in(s, &mut ParseEnv::none())
    }

    /// [`Expr::parse`] with map and pattern files reached through `env`.
    pub fn parse_in(s: &str, env: &mut ParseEnv<'_>) -> Result<Expr, ParseError> {
        let start = s.len() - s.trim_start().len();
        let end = s.trim_end().len().max(start);
        parse_expr(s, start, end, Mode::Sample, env)
            .map(|(e, _)| e)
            .map_err(|e| e.finish(s))
    }

    /// Evaluates the expression; `None` when the fetch finds nothing (no such
    /// header, clear connection for `ssl_fc_sni`, ...) or a converter fails.
    /// Multi-valued fetches yield their last occurrence (see `SAMPLES.md`).
    pub fn eval<'c>(&self, ctx: &'c dyn SampleContext) -> Option<Sample<'c>> {
        let mut s = self.fetch.one(ctx)?;
        for c in &*self.convs {
            s = c.apply(s)?;
        }
        Some(s)
    }

    /// Evaluates and formats the result as text (booleans as `1`/`0`).
    /// A string result that is not UTF-8 (obs-text from a header) is no
    /// result: names built from it (tunnel names) must not fold distinct
    /// bytes into one U+FFFD spelling.
    pub fn eval_str<'c>(&self, ctx: &'c dyn SampleContext) -> Option<Cow<'c, str>> {
        match self.eval(ctx)? {
            Sample::Str(Cow::Borrowed(b)) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Sample::Str(Cow::Owned(b)) => String::from_utf8(b).ok().map(Cow::Owned),
            other => Some(other.into_str()),
        }
    }

    /// The type every successful evaluation returns.
    pub fn output_type(&self) -> SampleType {
        self.out
    }

    /// The expression text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The fetch name as written (`req.hdr`, `ssl_c_s_dn`, or an ACL
    /// shorthand such as `path_beg`), without arguments and converters.
    ///
    /// ```
    /// let e: gwd_sample::Expr = "ssl_c_s_dn(CN),lower".parse().unwrap();
    /// assert_eq!(e.fetch_name(), "ssl_c_s_dn");
    /// ```
    pub fn fetch_name(&self) -> &str {
        let end = self
            .text
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(self.text.len());
        &self.text[..end]
    }

    /// The userlist an `http_auth(<userlist>)` or `http_auth_group(...)`
    /// fetch names, for the loader to check it exists.
    ///
    /// ```
    /// let e: gwd_sample::Expr = "http_auth(admins)".parse().unwrap();
    /// assert_eq!(e.userlist(), Some("admins"));
    /// ```
    pub fn userlist(&self) -> Option<&str> {
        match &self.fetch {
            crate::fetch::Fetch::HttpAuth { userlist, .. } => Some(userlist),
            _ => None,
        }
    }

    /// When the expression can produce a sample: that of its fetch
    /// (converters need nothing more).
    pub fn scope(&self) -> FetchScope {
        self.fetch.scope()
    }

    /// ACL-style evaluation: `f` sees every value (all occurrences of
    /// multi-valued fetches), after converters, until it returns true.
    pub(crate) fn each<'c>(
        &self,
        ctx: &'c dyn SampleContext,
        f: &mut dyn FnMut(Sample<'c>) -> bool,
    ) -> bool {
        if self.convs.is_empty() {
            return self.fetch.each(ctx, f);
        }
        self.fetch.each(ctx, &mut |s| {
            let mut s = s;
            for c in &*self.convs {
                match c.apply(s) {
                    Some(v) => s = v,
                    None => return false,
                }
            }
            f(s)
        })
    }
}

impl FromStr for Expr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Expr::parse(s)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
