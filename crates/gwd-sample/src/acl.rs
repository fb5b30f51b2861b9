//! ACL bodies and the per-proxy table of named ACLs.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use crate::context::SampleContext;
use crate::error::{ParseError, ParseErrorKind, Perr};
use crate::expr::{Expr, Mode, parse_expr};
use crate::lex::{Lexer, Word};
use crate::maps::{MapUse, ParseEnv};
use crate::pattern::{Matcher, Method};
use crate::sample::Sample;
use gwd_maps::{MatchKind, MatchSpec};

/// One ACL body: `<expr> [flags] [patterns...]`, compiled.
#[derive(Clone, Debug)]
pub(crate) struct AclBody {
    expr: Expr,
    /// Inline patterns; `None` when the body only has pattern files.
    matcher: Option<Matcher>,
    /// Pattern files (`-f`), each read through the shared engine.
    files: Box<[gwd_maps::Matcher]>,
    /// `http_auth_group(<userlist>) <groups>`: the group names, for the
    /// loader to check that the userlist declares them (HAProxy refuses
    /// an undeclared one: "invalid group").
    auth_groups: Box<[Box<str>]>,
}

impl AclBody {
    /// The expression whose values are matched.
    pub(crate) fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The group names of an `http_auth_group` body (empty otherwise).
    pub(crate) fn auth_groups(&self) -> &[Box<str>] {
        &self.auth_groups
    }

    /// True when some value of the expression matches some pattern (inline
    /// or from a file); false when the fetch produces no sample at all.
    pub(crate) fn eval(&self, ctx: &dyn SampleContext) -> bool {
        self.expr.each(ctx, &mut |s| {
            self.matcher.as_ref().is_some_and(|m| m.matches(&s))
                || self.files.iter().any(|m| file_matches(m, &s))
        })
    }
}

/// One sample against a pattern file, by the file matcher's kind.
fn file_matches(m: &gwd_maps::Matcher, s: &Sample<'_>) -> bool {
    match (m.spec().kind, s) {
        (MatchKind::Found, _) => true,
        // Like inline integer patterns: a sample that does not read as an
        // integer matches nothing.
        (MatchKind::Int, _) => s.as_int().is_some_and(|i| m.lookup_int(i).is_some()),
        (MatchKind::Ip, Sample::Ip(a)) => m.lookup_ip(*a).is_some(),
        (MatchKind::Ip, Sample::Int(_) | Sample::Bool(_)) => {
            s.as_ip().is_some_and(|a| m.lookup_ip(a).is_some())
        }
        _ => m.matches(&s.to_bytes()),
    }
}

fn kind_of(method: Method) -> Option<MatchKind> {
    Some(match method {
        Method::Found => MatchKind::Found,
        Method::Bool => return None,
        Method::Int => MatchKind::Int,
        Method::Ip => MatchKind::Ip,
        Method::Str => MatchKind::Str,
        Method::Beg => MatchKind::Beg,
        Method::End => MatchKind::End,
        Method::Sub => MatchKind::Sub,
        Method::Reg => MatchKind::Reg,
        Method::Dom => MatchKind::Dom,
        Method::Dir => MatchKind::Dir,
        Method::Len => MatchKind::Len,
    })
}

fn is_flag(w: &Word) -> bool {
    let mut b = w.text.bytes();
    !w.quoted && b.next() == Some(b'-') && b.next().is_some_and(|c| !c.is_ascii_digit())
}

/// Parses a body from the lexer. With `brace = Some(pos)` the body is an
/// inline `{ ... }` whose `{` is at `pos`; the closing `}` is consumed.
pub(crate) fn parse_body(
    lx: &mut Lexer<'_>,
    brace: Option<usize>,
    env: &mut ParseEnv<'_>,
) -> Result<AclBody, Perr> {
    let src = lx.src;
    let Some((s, e)) = lx.expr_word() else {
        return Err(match brace {
            Some(b) => Perr::new(ParseErrorKind::Unclosed, b, "unclosed `{`"),
            None => Perr::new(
                ParseErrorKind::Empty,
                lx.pos,
                "empty ACL body: expected a sample fetch",
            ),
        });
    };
    if let Some(b) = brace
        && &src[s..e] == "}"
    {
        return Err(Perr::new(
            ParseErrorKind::Empty,
            b,
            "empty inline ACL `{ }`: expected a sample fetch",
        ));
    }
    let (expr, derived) = parse_expr(src, s, e, Mode::Acl, env)?;
    let mut files: Vec<(String, usize)> = Vec::new();
    let mut as_map = false;
    let mut icase = false;
    let mut explicit: Option<Method> = None;
    let mut unique: Option<(u32, usize)> = None;
    let mut closed = false;
    loop {
        let save = lx.pos;
        let Some(w) = lx.word()? else { break };
        if brace.is_some() && !w.quoted && w.text == "}" {
            closed = true;
            break;
        }
        if !is_flag(&w) {
            lx.pos = save;
            break;
        }
        match w.text.as_str() {
            "-i" => icase = true,
            "--" => break,
            "-n" => {}
            "-m" => {
                let Some(m) = lx.word()? else {
                    return Err(Perr::new(ParseErrorKind::BadFlag, w.pos, "`-m` expects a match method")
                        .help("e.g. `-m beg`; methods: found, bool, int, ip, str, beg, end, sub, reg, dom, dir, len"));
                };
                explicit = Some(Method::lookup(&m.text, m.pos)?);
            }
            "-f" => {
                let Some(f) = lx.word()? else {
                    return Err(Perr::new(
                        ParseErrorKind::BadFlag,
                        w.pos,
                        "`-f` expects a file name",
                    )
                    .help("e.g. `-f maps/blocked.acl`"));
                };
                files.push((f.text, f.pos));
            }
            "-M" => as_map = true,
            "-u" => {
                let Some(n) = lx.word()? else {
                    return Err(Perr::new(
                        ParseErrorKind::BadFlag,
                        w.pos,
                        "`-u` expects the ACL's unique id",
                    )
                    .help("e.g. `-u 10`; the runtime API then names the patterns `#10`"));
                };
                let id = n.text.parse::<u32>().map_err(|_| {
                    Perr::new(
                        ParseErrorKind::BadFlag,
                        n.pos,
                        "the argument of -u must be an integer",
                    )
                })?;
                unique = Some((id, w.pos));
            }
            other => {
                return Err(Perr::new(ParseErrorKind::BadFlag, w.pos, format!("unknown flag `{other}`"))
                    .help("flags are -i, -m <method>, -n and --; put `--` before a pattern that starts with `-`"));
            }
        }
    }
    let mut pats = Vec::new();
    if !closed {
        while let Some(w) = lx.word()? {
            if brace.is_some() && !w.quoted && w.text == "}" {
                closed = true;
                break;
            }
            pats.push(w);
        }
    }
    if let (Some(b), false) = (brace, closed) {
        return Err(Perr::new(ParseErrorKind::Unclosed, b, "unclosed `{`")
            .help("`}` must be a separate word, e.g. `{ path /a }`"));
    }
    // `http_auth_group` patterns are group names, matched exactly against
    // the user's groups (HAProxy's `pat_match_auth`): another method would
    // let a user of any group through (`-m found`, `-m reg .*`).
    if matches!(
        expr.fetch,
        crate::fetch::Fetch::HttpAuth { group: true, .. }
    ) {
        if explicit.is_some() || icase || !files.is_empty() || unique.is_some() {
            return Err(Perr::new(
                ParseErrorKind::BadFlag,
                s,
                "`http_auth_group` patterns are group names, matched exactly: no `-m`, `-i`, `-f` or `-u`",
            )
            .help("e.g. `http_auth_group(admins) ops dev`"));
        }
        if pats.is_empty() {
            return Err(Perr::new(
                ParseErrorKind::Empty,
                s,
                "`http_auth_group` needs the groups to match",
            )
            .help("e.g. `http_auth_group(admins) ops dev`"));
        }
    }
    let auth_groups: Box<[Box<str>]> = if matches!(
        expr.fetch,
        crate::fetch::Fetch::HttpAuth { group: true, .. }
    ) {
        pats.iter().map(|w| w.text.as_str().into()).collect()
    } else {
        Box::default()
    };
    let method = explicit.or(derived).unwrap_or_else(|| {
        Method::default_for(expr.output_type(), !pats.is_empty() || !files.is_empty())
    });
    let mut fm = Vec::with_capacity(files.len() + 1);
    let matcher = if let Some((id, upos)) = unique {
        // `-u`: the inline patterns live in a runtime-modifiable reference.
        if matches!(method, Method::Found | Method::Bool) {
            Matcher::build(method, icase, &pats)?;
        }
        let Some(kind) = kind_of(method) else {
            return Err(Perr::new(
                ParseErrorKind::BadFlag,
                upos,
                "`-u` cannot be used with `-m bool`",
            ));
        };
        let spec = if icase {
            MatchSpec::icase(kind)
        } else {
            MatchSpec::new(kind)
        };
        let fetch = src[s..e]
            .split(['(', ','])
            .next()
            .unwrap_or_default()
            .trim();
        // Check the patterns before registering anything.
        let keys = ref_patterns(method, &pats)?;
        let scratch = gwd_maps::MapRef::new("", gwd_maps::RefKind::Acl);
        scratch
            .matcher(spec)
            .map_err(|err| Perr::new(ParseErrorKind::BadPattern, upos, err.to_string()))?;
        for (text, pos) in &keys {
            scratch
                .add(text.as_bytes(), b"")
                .map_err(|err| Perr::new(ParseErrorKind::BadPattern, *pos, err.to_string()))?;
        }
        let m = match env.inline_acl(id, fetch, spec) {
            None => {
                return Err(Perr::new(
                    ParseErrorKind::NoMaps,
                    upos,
                    "ACL unique ids (`-u`) are not available here",
                )
                .help(
                    "`-u` is accepted in configuration files (the loader keeps the map registry)",
                ));
            }
            Some(Err(msg)) => return Err(Perr::new(ParseErrorKind::BadFlag, upos, msg)),
            Some(Ok(m)) => m,
        };
        let map = m.map_ref();
        for (text, pos) in keys {
            map.add(text.as_bytes(), b"")
                .map_err(|err| Perr::new(ParseErrorKind::BadPattern, pos, err.to_string()))?;
        }
        fm.push(m);
        None
    } else if pats.is_empty() && !files.is_empty() {
        None
    } else {
        Some(Matcher::build(method, icase, &pats)?)
    };
    for (file, pos) in files {
        let Some(kind) = kind_of(method) else {
            return Err(Perr::new(
                ParseErrorKind::BadFlag,
                pos,
                "`-m bool` takes no pattern file",
            ));
        };
        let how = if as_map {
            MapUse::AclMap
        } else {
            MapUse::AclFile
        };
        let spec = if icase {
            MatchSpec::icase(kind)
        } else {
            MatchSpec::new(kind)
        };
        let m = match env.resolve(&file, how, spec) {
            None => {
                return Err(Perr::new(
                    ParseErrorKind::NoMaps,
                    pos,
                    format!("pattern file `{file}` is not available here"),
                )
                .help("`-f` is accepted in configuration files (the loader reads the files)"));
            }
            Some(Err(msg)) => return Err(Perr::new(ParseErrorKind::MapFile, pos, msg)),
            Some(Ok(m)) => m,
        };
        fm.push(m);
    }
    Ok(AclBody {
        expr,
        matcher,
        files: fm.into_boxed_slice(),
        auth_groups,
    })
}

/// The inline patterns of an ACL with `-u`, as pattern-reference keys:
/// HAProxy's operators (`eq`, `ge`, `gt`, `le`, `lt`, each applying to the
/// patterns after it) become `int` ranges; other patterns are kept as
/// written.
fn ref_patterns(method: Method, pats: &[Word]) -> Result<Vec<(String, usize)>, Perr> {
    if !matches!(method, Method::Int | Method::Len) {
        return Ok(pats.iter().map(|w| (w.text.clone(), w.pos)).collect());
    }
    let mut op = "eq";
    let mut out = Vec::with_capacity(pats.len());
    for w in pats {
        if !w.quoted
            && let Some(o) = ["eq", "ge", "gt", "le", "lt"]
                .into_iter()
                .find(|o| *o == w.text)
        {
            op = o;
            continue;
        }
        if op == "eq" || w.text.contains([':', '-']) {
            out.push((w.text.clone(), w.pos));
            continue;
        }
        let v: i64 = w
            .text
            .parse()
            .ok()
            .filter(|_| w.text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Perr::new(
                    ParseErrorKind::BadInt,
                    w.pos,
                    format!("'{}' is neither a number nor a supported operator", w.text),
                )
            })?;
        let text = match op {
            "ge" => format!("{v}:"),
            "gt" => format!("{}:", v.saturating_add(1)),
            "le" => format!(":{v}"),
            _ => format!(":{}", v - 1),
        };
        out.push((text, w.pos));
    }
    Ok(out)
}

/// A named ACL resolved for a condition: the OR of all its bodies.
#[derive(Clone, Debug)]
pub(crate) struct NamedAcl {
    #[allow(dead_code)] // kept for Debug output
    pub name: Arc<str>,
    pub bodies: Arc<[Arc<AclBody>]>,
}

impl NamedAcl {
    pub(crate) fn eval(&self, ctx: &dyn SampleContext) -> bool {
        self.bodies.iter().any(|b| b.eval(ctx))
    }
}

#[derive(Clone, Debug)]
struct AclEntry {
    name: Arc<str>,
    bodies: Vec<Arc<AclBody>>,
}

/// The named ACLs of one proxy (`acl <name> <body>` lines).
///
/// Defining a name again ORs the new body with the previous ones, as in
/// HAProxy. User definitions shadow the predefined ACLs (`TRUE`,
/// `METH_GET`, `LOCALHOST`, ...), which every [`crate::Condition`] can
/// otherwise use without defining them.
///
/// ```
/// use gwd_sample::{Acls, Condition, SampleContext};
///
/// struct Req;
/// impl SampleContext for Req {
///     fn path(&self) -> Option<&str> { Some("/api/v1/users") }
///     fn method(&self) -> Option<&str> { Some("POST") }
/// }
///
/// let mut acls = Acls::new();
/// acls.define("is_api", "path_beg /api/").unwrap();
/// acls.define("is_api", "hdr(host) -i api.example.com").unwrap(); // OR-ed
/// let cond = Condition::parse("is_api METH_POST", &acls).unwrap();
/// assert!(cond.eval(&Req));
/// assert_eq!(acls.names().collect::<Vec<_>>(), ["is_api"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Acls {
    entries: Vec<AclEntry>,
    index: HashMap<Arc<str>, usize>,
}

fn check_name(name: &str) -> Result<(), ParseError> {
    if name.is_empty() {
        return Err(ParseError::new(
            ParseErrorKind::BadAclName,
            1,
            "empty ACL name",
        ));
    }
    if let Some((i, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        return Err(ParseError::new(
            ParseErrorKind::BadAclName,
            i + 1,
            format!("invalid character `{c}` in ACL name `{name}`"),
        )
        .with_help("ACL names may contain letters, digits, `_`, `.`, `:` and `-`"));
    }
    Ok(())
}

impl Acls {
    /// An empty table (predefined ACLs are still available to conditions).
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines (or extends, by OR) the ACL `name` with `body`, e.g.
    /// `define("is_static", "path_end .css .js")`. Errors in the body carry
    /// columns within `body`; errors in the name carry columns within `name`.
    ///
    /// Pattern files (`-f`, `-M`) and map converters need map access: use
    /// [`Acls::define_in`].
    pub fn define(&mut self, name: &str, body: &str) -> Result<(), ParseError> {
        self.define_in(name, body, &mut ParseEnv::none())
    }

    /// [`Acls::define`] with pattern and map files reached through `env`
    /// (`define_in("blocked", "src -f blocked.acl", env)`).
    pub fn define_in(
        &mut self,
        name: &str,
        body: &str,
        env: &mut ParseEnv<'_>,
    ) -> Result<(), ParseError> {
        check_name(name)?;
        let mut lx = Lexer::new(body);
        let b = Arc::new(parse_body(&mut lx, None, env).map_err(|e| e.finish(body))?);
        match self.index.get(name) {
            Some(&i) => self.entries[i].bodies.push(b),
            None => {
                let name: Arc<str> = name.into();
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push(AclEntry {
                    name,
                    bodies: vec![b],
                });
            }
        }
        Ok(())
    }

    /// Names of the user-defined ACLs, in order of first definition.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| &*e.name)
    }

    /// Whether `name` is user-defined here.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Number of user-defined names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no ACL is user-defined.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names of the predefined ACLs.
    pub fn predefined_names() -> impl Iterator<Item = &'static str> {
        PREDEFINED_DEFS.iter().map(|(n, _)| *n)
    }

    fn get_own(&self, name: &str) -> Option<NamedAcl> {
        let e = &self.entries[*self.index.get(name)?];
        Some(NamedAcl {
            name: e.name.clone(),
            bodies: e.bodies.iter().cloned().collect(),
        })
    }

    /// Resolves `name`: user definitions first, then predefined ACLs.
    pub(crate) fn lookup(&self, name: &str) -> Option<NamedAcl> {
        self.get_own(name).or_else(|| PREDEFINED.get_own(name))
    }
}

/// HAProxy's predefined ACLs (those meaningful for gwd).
pub(crate) const PREDEFINED_DEFS: &[(&str, &str)] = &[
    ("FALSE", "always_false"),
    ("HTTP", "req.proto_http"),
    ("HTTP_1.0", "req.ver 1.0"),
    ("HTTP_1.1", "req.ver 1.1"),
    ("HTTP_2.0", "req.ver 2.0"),
    ("HTTP_CONTENT", "req.hdr_val(content-length) gt 0"),
    ("HTTP_URL_ABS", "url_reg ^[^/:]*://"),
    ("HTTP_URL_SLASH", "url_beg /"),
    ("HTTP_URL_STAR", "url *"),
    ("LOCALHOST", "src 127.0.0.1/8 ::1"),
    ("METH_CONNECT", "method CONNECT"),
    ("METH_DELETE", "method DELETE"),
    ("METH_GET", "method GET HEAD"),
    ("METH_HEAD", "method HEAD"),
    ("METH_OPTIONS", "method OPTIONS"),
    ("METH_POST", "method POST"),
    ("METH_PUT", "method PUT"),
    ("METH_TRACE", "method TRACE"),
    ("TRUE", "always_true"),
];

static PREDEFINED: LazyLock<Acls> = LazyLock::new(|| {
    let mut a = Acls::new();
    for (n, b) in PREDEFINED_DEFS {
        if let Err(e) = a.define(n, b) {
            unreachable!("predefined ACL {n} does not parse: {e}");
        }
    }
    a
});
