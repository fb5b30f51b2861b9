//! The loader: TOML document (with spans) → validated [`Config`].
//!
//! One pass over the document collects every problem as a [`Diagnostic`]
//! located by the spans the `toml` crate keeps; nothing stops at the first
//! error. Values that fail to parse are left out of the model under
//! construction, which is thrown away whenever an error was found.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gwd_sample::{MapRegistry, MapResolver, MapUse, MatchSpec, Matcher, ParseEnv, ParseError};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::*;
use crate::values::{parse_bind_addr, parse_duration, parse_server_addr, parse_size};
use keys::*;

type Val<'i> = Spanned<DeValue<'i>>;

/// Smallest and largest accepted `tune.bufsize`.
const MIN_BUFSIZE: usize = 1024;
const MAX_BUFSIZE: usize = 1 << 30;
/// Default `tune.maxpollevents` (see [`Global::max_poll_events`]).
pub(crate) const DEFAULT_MAX_POLL_EVENTS: usize = 200;
/// Largest accepted `nbthread`.
const MAX_THREADS: i64 = 4096;
/// Default `tune.bufsize`.
pub(crate) const DEFAULT_BUFSIZE: usize = 16 * 1024;
/// Default `X-Forwarded-For` header name.
const XFF: &str = "X-Forwarded-For";

/// Joins a key path and a key.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a key path and an array index.
fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The last segment of a key path, for messages.
fn last_seg(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// "a string", "an integer", ... for type errors.
fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Backquoted, comma-separated list.
fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest candidate to `word`, if one is close enough to be a likely
/// typo. `-` and `_` are treated alike, and case is ignored.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let w = norm(word);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let nc = norm(c);
        let d = strsim::damerau_levenshtein(&w, &nc);
        let limit = (w.chars().count().max(nc.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether `s` is a valid proxy, server or ACL name.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Whether `s` is a valid HTTP header name (an RFC 9110 token).
/// A name rustls accepts as a TLS server name (a DNS name or an IP
/// address), so that `gwd check` never passes an SNI that fails at start.
fn valid_tls_name(s: &str) -> bool {
    rustls_pki_types::ServerName::try_from(s).is_ok()
}

fn valid_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn help(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

/// What the kind of section a table is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Defaults => DEFAULTS_KEYS,
            Kind::Frontend => FRONTEND_KEYS,
            Kind::Backend => BACKEND_KEYS,
            Kind::Listen => LISTEN_KEYS,
        }
    }
    fn is_front(self) -> bool {
        matches!(self, Kind::Frontend | Kind::Listen)
    }
    fn is_back(self) -> bool {
        matches!(self, Kind::Backend | Kind::Listen)
    }
}

/// Why a key that is valid somewhere else is not valid in a `kind` section.
fn misplaced(kind: Kind, key: &str) -> Option<String> {
    if key == "declare" {
        return Some(
            "HAProxy's `declare capture` is a `capture` entry: \
             `capture = [ { declare = \"request\", len = 64 } ]`"
                .to_owned(),
        );
    }
    if key == "maxconn" {
        return Some(
            "`maxconn` limits the connections of `[global]` or of a frontend or listen section; \
             a server takes its own `maxconn` in its `server` entry"
                .to_owned(),
        );
    }
    if GLOBAL_KEYS.contains(&key) {
        return Some(format!("`{key}` is a `[global]` setting: move it there"));
    }
    if kind == Kind::Defaults
        && matches!(
            key,
            "acl" | "http-request" | "http-response" | "http-after-response" | "server"
        )
    {
        return Some(format!(
            "`[defaults]` holds only inherited settings: put `{key}` in a frontend, backend \
             or listen section"
        ));
    }
    if !kind.is_front() && FRONT_ONLY.contains(&key) {
        return Some(format!(
            "`{key}` is a frontend setting: put it in a `[frontend.<name>]` or \
             `[listen.<name>]` section"
        ));
    }
    if !kind.is_back() && BACK_ONLY.contains(&key) {
        let also = if key == "server" {
            ""
        } else {
            ", or in `[defaults]`"
        };
        return Some(format!(
            "`{key}` is a backend setting: put it in a `[backend.<name>]` or \
             `[listen.<name>]` section{also}"
        ));
    }
    None
}

/// Why a proxy key is not valid in `[global]`.
fn misplaced_in_global(key: &str) -> Option<String> {
    if key == "stats" {
        return Some(
            "the runtime API socket is `stats-socket` here; the stats page is `stats = { uri = \"/stats\" }` in a frontend or listen section".to_owned(),
        );
    }
    LISTEN_KEYS.contains(&key).then(|| {
        format!(
            "`{key}` is a proxy setting: put it in `[defaults]` or in a frontend, backend or \
             listen section"
        )
    })
}

/// The map and pattern files the rules name, read once each (HAProxy's
/// `pat_ref`), with the config line of the rule being parsed for the
/// `show map` description.
struct FileMaps {
    registry: MapRegistry,
    cfg: String,
    line: usize,
}

impl MapResolver for FileMaps {
    fn resolve(&mut self, file: &str, how: MapUse, spec: MatchSpec) -> Result<Matcher, String> {
        let user = format!(
            "{} at file '{}' line {}",
            if how.by_acl() { "acl" } else { "map" },
            self.cfg,
            self.line
        );
        // `virt@` names load nothing, `opt@` files may be missing, and on a
        // reload an unchanged file keeps its running reference; the registry
        // decides, this only reads files (regular ones, size-capped).
        self.registry.resolve_read(file, how, spec, &user, |path| {
            gwd_maps::file::read(Path::new(path))
        })
    }

    fn inline_acl(&mut self, id: u32, fetch: &str, spec: MatchSpec) -> Result<Matcher, String> {
        let description = format!("acl '{fetch}' file '{}' line {}", self.cfg, self.line);
        self.registry.add_inline(id, description, spec)
    }
}

/// Diagnostics collector and span → location mapping.
struct Cx<'s> {
    src: &'s str,
    file: PathBuf,
    line_starts: Vec<usize>,
    diags: Vec<Diagnostic>,
    maps: FileMaps,
    /// `[global]` `ssl-default-bind-*`, read before the sections.
    ssl_defaults: tls::SslDefaults,
    /// The capture slots of the frontend or listen section whose rules
    /// are being parsed (`None` in a backend): `capture ... len` rules
    /// add theirs, `id` rules are checked against them.
    captures: Option<CaptureSlots>,
    /// The names of the `[userlist.<name>]` sections, read before the
    /// proxies (`http_auth(<name>)` is checked against them).
    /// Each userlist declared so far, with its groups.
    userlists: Vec<(String, Vec<String>)>,
}

impl<'s> Cx<'s> {
    #[cfg(test)]
    fn new(src: &'s str, file: &Path) -> Self {
        Cx::with_maps(src, file, MapRegistry::new())
    }

    /// A context whose map files resolve in `registry` (empty for a plain
    /// load; see `MapRegistry::reusing` for a reload).
    fn with_maps(src: &'s str, file: &Path, registry: MapRegistry) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Cx {
            src,
            file: file.to_path_buf(),
            line_starts,
            diags: Vec::new(),
            ssl_defaults: tls::SslDefaults::default(),
            captures: None,
            userlists: Vec::new(),
            maps: FileMaps {
                registry,
                cfg: file.display().to_string(),
                line: 0,
            },
        }
    }

    fn location(&self, byte: usize) -> Location {
        let byte = byte.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= byte);
        let start = self.line_starts[line - 1];
        let column = self
            .src
            .get(start..byte)
            .map_or(1, |s| s.chars().count() + 1);
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        at: usize,
        path: &str,
        message: String,
        help: Option<String>,
    ) {
        let location = self.location(at);
        self.diags.push(Diagnostic {
            severity,
            location,
            key_path: path.to_owned(),
            message,
            help,
        });
    }

    fn error(&mut self, at: usize, path: &str, message: impl Into<String>, help: Option<String>) {
        self.push(Severity::Error, at, path, message.into(), help);
    }

    fn warn(&mut self, at: usize, path: &str, message: impl Into<String>, help: Option<String>) {
        self.push(Severity::Warning, at, path, message.into(), help);
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }

    /// Sorted diagnostics: file order, errors and warnings mixed.
    fn into_diags(mut self) -> Vec<Diagnostic> {
        self.diags
            .sort_by_key(|d| (d.location.line, d.location.column));
        self.diags
    }

    // ---- typed access ------------------------------------------------------

    fn type_error(&mut self, v: &Val<'_>, path: &str, expected: &str, help: Option<String>) {
        self.error(
            v.span().start,
            path,
            format!(
                "`{}` must be {expected}, found {}",
                last_seg(path),
                a_type(v.get_ref())
            ),
            help,
        );
    }

    fn table<'v, 'i>(&mut self, v: &'v Val<'i>, path: &str, hint: &str) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.type_error(v, path, "a table", help(hint));
                None
            }
        }
    }

    fn array<'v, 'i>(&mut self, v: &'v Val<'i>, path: &str, hint: &str) -> Option<&'v [Val<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a.as_ref()),
            _ => {
                self.type_error(v, path, "an array", help(hint));
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Val<'_>, path: &str, example: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => {
                self.type_error(v, path, "a string", help(format!("write it as {example}")));
                None
            }
        }
    }

    fn boolean(&mut self, v: &Val<'_>, path: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(
                    v,
                    path,
                    "a boolean",
                    help("write `true` or `false`, without quotes"),
                );
                None
            }
        }
    }

    fn integer(&mut self, v: &Val<'_>, path: &str, example: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(n) => match i64::from_str_radix(n.as_str(), n.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(
                        v.span().start,
                        path,
                        format!("`{}` is too large", last_seg(path)),
                        help(format!("write it as {example}")),
                    );
                    None
                }
            },
            _ => {
                self.type_error(
                    v,
                    path,
                    "an integer",
                    help(format!("write it as {example}, without quotes")),
                );
                None
            }
        }
    }

    /// A duration: a string (`"5s"`) or an integer (milliseconds).
    fn duration(&mut self, v: &Val<'_>, path: &str) -> Option<Duration> {
        match v.get_ref() {
            DeValue::String(s) => match parse_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(
                        v.span().start,
                        path,
                        format!("invalid duration for `{}`: {e}", last_seg(path)),
                        e.help(),
                    );
                    None
                }
            },
            DeValue::Integer(_) => {
                let n = self.integer(v, path, "`\"5s\"`")?;
                match u64::try_from(n) {
                    Ok(ms) => Some(Duration::from_millis(ms)),
                    Err(_) => {
                        self.error(
                            v.span().start,
                            path,
                            format!("`{}` cannot be negative", last_seg(path)),
                            help("write a duration such as `\"5s\"`, or 0 for none"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.type_error(
                    v,
                    path,
                    "a duration",
                    help("write it as a string such as `\"5s\"` (units us, ms, s, m, h, d)"),
                );
                None
            }
        }
    }

    /// A size: a string (`"16k"`) or an integer (bytes).
    fn size(&mut self, v: &Val<'_>, path: &str) -> Option<usize> {
        match v.get_ref() {
            DeValue::String(s) => match parse_size(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(
                        v.span().start,
                        path,
                        format!("invalid size for `{}`: {e}", last_seg(path)),
                        e.help(),
                    );
                    None
                }
            },
            DeValue::Integer(_) => {
                let n = self.integer(v, path, "`\"16k\"`")?;
                match usize::try_from(n) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.error(
                            v.span().start,
                            path,
                            format!("`{}` cannot be negative", last_seg(path)),
                            help("write a size such as `\"16k\"`"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.type_error(
                    v,
                    path,
                    "a size",
                    help("write it as a string such as `\"16k\"` (units k, m, g)"),
                );
                None
            }
        }
    }

    /// One of `choices` (a string), with a did-you-mean on a miss.
    fn choice<'c>(&mut self, v: &Val<'_>, path: &str, choices: &[&'c str]) -> Option<&'c str> {
        let s = self.string(v, path, &format!("`\"{}\"`", choices[0]))?;
        if let Some(c) = choices.iter().find(|c| **c == s) {
            return Some(c);
        }
        let h = match did_you_mean(s, choices.iter().copied()) {
            Some(c) => format!("did you mean `\"{c}\"`?"),
            None => format!("expected one of {}", list(choices)),
        };
        self.error(
            v.span().start,
            path,
            format!("invalid value `{s}` for `{}`", last_seg(path)),
            help(h),
        );
        None
    }

    /// A non-empty array of non-empty strings (ALPN lists).
    fn alpn(&mut self, v: &Val<'_>, path: &str) -> Option<Vec<String>> {
        let arr = self.array(v, path, "write it as `[\"h2\", \"http/1.1\"]`")?;
        if arr.is_empty() {
            self.error(
                v.span().start,
                path,
                "`alpn` is empty",
                help("list at least one protocol, e.g. `[\"h2\", \"http/1.1\"]`, or leave `alpn` out"),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, e) in arr.iter().enumerate() {
            let p = index(path, i);
            match self.string(e, &p, "`\"h2\"`") {
                Some(s) if !s.is_empty() && s.len() <= 255 && s.is_ascii() => {
                    out.push(s.to_owned());
                }
                Some(s) => {
                    ok = false;
                    self.error(
                        e.span().start,
                        &p,
                        format!("invalid ALPN protocol name `{s}`"),
                        help("protocol names are 1 to 255 ASCII characters, e.g. `h2`, `http/1.1`"),
                    );
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Reports keys of `t` that are not in `valid`.
    fn check_keys(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        what: &str,
        valid: &[&str],
        dotted: &[&str],
        misplaced: &dyn Fn(&str) -> Option<String>,
    ) {
        for (k, v) in t.iter() {
            let key: &str = k.get_ref();
            if valid.contains(&key) {
                continue;
            }
            let at = k.span().start;
            let p = join(path, key);
            if let Some((h, word)) = haproxy_words::not_yet_at(path, key) {
                // A dotted TOML key (`tune.h2.max-concurrent-streams = 100`)
                // is a table here: name the whole keyword, as written.
                let word = dotted_word(word, v.get_ref());
                self.error(at, &p, format!("`{word}` is not supported yet"), help(h));
                continue;
            }
            if let Some(h) = misplaced(key) {
                self.error(at, &p, format!("`{key}` is not allowed in {what}"), help(h));
                continue;
            }
            if let Some(h) = haproxy_words::entry_not_yet(path, key) {
                self.error(at, &p, format!("`{key}` is not supported yet"), help(h));
                continue;
            }
            let h = match did_you_mean(key, valid.iter().chain(dotted).copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => {
                    let shown: Vec<String> = valid
                        .iter()
                        .map(|v| {
                            if matches!(*v, "timeout" | "option" | "tune" | "acl") {
                                format!("`{v}.*`")
                            } else if *v == "tcp-request" {
                                "`tcp-request.session`".to_owned()
                            } else {
                                format!("`{v}`")
                            }
                        })
                        .collect();
                    format!("valid keys here: {}", shown.join(", "))
                }
            };
            self.error(at, &p, format!("unknown key `{key}` in {what}"), help(h));
        }
    }

    /// A file named by the config: must exist, be a regular file and be
    /// readable. Relative paths resolve against the process CWD.
    fn file(&mut self, v: &Val<'_>, path: &str) -> Option<PathBuf> {
        self.file_or_dir(v, path, false)
    }

    /// A file, or with `dir` also a directory (a bind's `crt`), that must
    /// exist and be readable.
    fn file_or_dir(&mut self, v: &Val<'_>, path: &str, dir: bool) -> Option<PathBuf> {
        let key = last_seg(path).to_owned();
        let s = self.string(v, path, "`\"path/to/file.pem\"`")?;
        let at = v.span().start;
        if s.is_empty() {
            self.error(
                at,
                path,
                format!("`{key}` is empty"),
                help("write the path of a PEM file"),
            );
            return None;
        }
        let p = PathBuf::from(s);
        let where_help = || {
            if p.is_relative() {
                let cwd = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "?".into());
                format!(
                    "check the path; relative paths resolve against the directory gwd runs \
                     in ({cwd})"
                )
            } else {
                "check the path and its permissions".to_owned()
            }
        };
        let reason = match std::fs::metadata(&p) {
            Err(e) => Some(io_reason(&e)),
            Ok(m) if m.is_dir() && dir => std::fs::read_dir(&p).err().map(|e| io_reason(&e)),
            Ok(m) if m.is_dir() => Some("it is a directory".to_owned()),
            // A device or a pipe (`/dev/zero`) would be read for ever.
            Ok(m) if !m.is_file() => Some("it is not a regular file".to_owned()),
            Ok(_) => std::fs::File::open(&p).err().map(|e| io_reason(&e)),
        };
        match reason {
            None => Some(p),
            Some(r) => {
                let h = where_help();
                self.error(
                    at,
                    path,
                    format!("cannot read `{key}` file `{s}`: {r}"),
                    help(h),
                );
                None
            }
        }
    }

    /// A parse environment whose map files are read on demand; `v` is the
    /// string being parsed (its line goes into `show map` descriptions).
    fn env(&mut self, v: &Val<'_>) -> ParseEnv<'_> {
        self.maps.line = self.location(v.span().start).line;
        ParseEnv::with_maps(&mut self.maps)
    }

    /// Reports a parse error from gwd-sample, pointing inside the string.
    fn expr_error(&mut self, v: &Val<'_>, path: &str, what: &str, e: &ParseError) {
        let at = self.string_char_pos(v, e.column);
        self.error(
            at,
            path,
            format!("invalid {what}: {}", e.message),
            e.help.clone(),
        );
    }

    /// Byte offset of the 1-based character `col` of the string value `v`.
    /// Exact for strings without escapes; approximate otherwise.
    fn string_char_pos(&self, v: &Val<'_>, col: usize) -> usize {
        let span = v.span();
        let raw = self.src.get(span.clone()).unwrap_or("");
        let delim = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else {
            1
        };
        if raw.len() < 2 * delim {
            return span.start;
        }
        let mut start = span.start + delim;
        let end = span.end - delim;
        if delim == 3 {
            if self.src[start..].starts_with("\r\n") {
                start += 2;
            } else if self.src[start..].starts_with('\n') {
                start += 1;
            }
        }
        let content = self.src.get(start..end.max(start)).unwrap_or("");
        let off = content
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(content.len(), |(i, _)| i);
        start + off
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

mod backends;
mod binds;
mod capture;
mod compression;
mod document;
mod errorpages;
mod haproxy_words;
mod keys;
mod logging;
mod process;
mod reload;
mod reverse;
mod rules;
mod settings;
mod stats;
mod tcp;
mod tls;
mod userlist;

pub use tls::known_suites;

pub(crate) use document::parse;
pub use reload::PendingMaps;
pub(crate) use reload::{parse_reusing, parse_reusing_pending};

/// The keys the loader reads, for the haproxy.cfg translation to write
/// only keys `gwd check` accepts.
pub(crate) struct KnownKeys {
    pub(crate) global: &'static [&'static str],
    pub(crate) defaults: &'static [&'static str],
    pub(crate) frontend: &'static [&'static str],
    pub(crate) backend: &'static [&'static str],
    pub(crate) listen: &'static [&'static str],
    pub(crate) option: &'static [&'static str],
    pub(crate) timeout: &'static [&'static str],
    pub(crate) bind: &'static [&'static str],
    pub(crate) server: &'static [&'static str],
    pub(crate) reverse_server: &'static [&'static str],
    /// A server's health-check keys (`check`, `inter`, `fall`, ...).
    pub(crate) check: &'static [&'static str],
}

pub(crate) const KNOWN_KEYS: KnownKeys = KnownKeys {
    global: keys::GLOBAL_KEYS,
    defaults: keys::DEFAULTS_KEYS,
    frontend: keys::FRONTEND_KEYS,
    backend: keys::BACKEND_KEYS,
    listen: keys::LISTEN_KEYS,
    option: keys::OPTION_KEYS,
    timeout: keys::TIMEOUT_KEYS,
    bind: keys::BIND_KEYS,
    server: keys::SERVER_KEYS,
    reverse_server: keys::REVERSE_SERVER_KEYS,
    check: keys::CHECK_KEYS,
};

/// The help of a HAProxy keyword gwd knows but does not implement yet
/// (what `gwd check` says after "not supported yet"), for the haproxy.cfg
/// translation.
/// A `tune.*` keyword followed by the keys of `value` while it is a table
/// of one key (`tune.h2` holding `{ max-concurrent-streams = 100 }` is
/// `tune.h2.max-concurrent-streams`): HAProxy's dotted keywords are the
/// `tune` ones; any other keyword's table is its value
/// (`default-server = { check = true }`).
fn dotted_word(mut word: String, mut value: &DeValue<'_>) -> String {
    if !word.starts_with("tune.") {
        return word;
    }
    while let DeValue::Table(t) = value {
        let mut keys = t.iter();
        let (Some((k, v)), None) = (keys.next(), keys.next()) else {
            break;
        };
        word.push('.');
        word.push_str(k.get_ref());
        value = v.get_ref();
    }
    word
}

pub(crate) fn not_yet_help(key: &str) -> Option<&'static str> {
    NOT_YET.iter().find(|(k, _)| *k == key).map(|(_, h)| *h)
}

/// The help of a section-level HAProxy keyword (`option httpclose`,
/// `timeout client-fin`, `tune.maxaccept`, `log-tag`, ...) gwd does not
/// implement, as haproxy.cfg spells it: what `gwd check` says after "not
/// supported yet".
pub(crate) fn haproxy_not_yet(word: &str) -> Option<std::borrow::Cow<'static, str>> {
    haproxy_words::not_yet(word)
}

#[cfg(test)]
mod tests {
    use super::settings::{Inherited, Overrides, PoolOverrides};
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("defualt_backend", FRONTEND_KEYS.iter().copied()),
            Some("default_backend")
        );
        assert_eq!(
            did_you_mean("default-backend", FRONTEND_KEYS.iter().copied()),
            Some("default_backend")
        );
        assert_eq!(
            did_you_mean("use-backend", FRONTEND_KEYS.iter().copied()),
            Some("use_backend")
        );
        assert_eq!(
            did_you_mean("option-forwardfor", PROXY_DOTTED.iter().copied()),
            Some("option.forwardfor")
        );
        assert_eq!(
            did_you_mean("clinet", TIMEOUT_KEYS.iter().copied()),
            Some("client")
        );
        assert_eq!(did_you_mean("zzzzzz", FRONTEND_KEYS.iter().copied()), None);
        assert_eq!(did_you_mean("x", ["y"]), Some("y"));
        assert_eq!(did_you_mean("ab", ["xy"]), None);
    }

    #[test]
    fn names_and_headers() {
        assert!(valid_name("www"));
        assert!(valid_name("demo-servers.v1:a_b"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("é"));
        assert!(valid_header_name("X-Forwarded-For"));
        assert!(!valid_header_name("X Forwarded"));
        assert!(!valid_header_name("X:Y"));
        assert!(!valid_header_name(""));
    }

    #[test]
    fn locations_count_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        let cx = Cx::new(src, Path::new("f.toml"));
        let l = cx.location(0);
        assert_eq!((l.line, l.column), (1, 1));
        let at = src.find('=').unwrap();
        assert_eq!(cx.location(at).line, 1);
        let at = src.rfind('=').unwrap();
        let l = cx.location(at);
        // "bé " is three characters (four bytes).
        assert_eq!((l.line, l.column), (2, 4));
        let l = cx.location(src.len());
        assert_eq!((l.line, l.column), (3, 1));
    }

    #[test]
    fn string_positions() {
        let src = "a = \"abc\"\nb = '''\nxyz'''\nc = \"\"\n";
        let (root, errs) = DeTable::parse_recoverable(src);
        assert!(errs.is_empty());
        let cx = Cx::new(src, Path::new("f.toml"));
        let root = root.get_ref();
        let a = root.get("a").unwrap();
        assert_eq!(cx.location(cx.string_char_pos(a, 1)).column, 6);
        assert_eq!(cx.location(cx.string_char_pos(a, 3)).column, 8);
        // Past the end: the closing quote.
        assert_eq!(cx.location(cx.string_char_pos(a, 4)).column, 9);
        let b = root.get("b").unwrap();
        let l = cx.location(cx.string_char_pos(b, 2));
        assert_eq!((l.line, l.column), (3, 2));
        let c = root.get("c").unwrap();
        assert_eq!(cx.location(cx.string_char_pos(c, 1)).column, 6);
    }

    #[test]
    fn inheritance_merges() {
        let base = Inherited::default();
        let o = Overrides {
            client: Some(Some(Duration::from_secs(1))),
            http_reuse: Some(HttpReuse::Never),
            pool: PoolOverrides {
                max_conn: Some(Some(3)),
                ..Default::default()
            },
            ..Default::default()
        };
        let d = base.with(&o);
        assert_eq!(d.timeouts.client, Some(Duration::from_secs(1)));
        assert_eq!(d.timeouts.server, None);
        assert_eq!(d.http_reuse, HttpReuse::Never);
        assert_eq!(d.pool.max_conn, Some(3));
        assert_eq!(d.pool.purge_delay, Duration::from_secs(5));
        // An explicit "none" wins over an inherited value.
        let o2 = Overrides {
            client: Some(None),
            forwardfor: Some(None),
            ..Default::default()
        };
        let d2 = Inherited {
            forwardfor: Some(ForwardFor { header: XFF.into() }),
            ..d
        }
        .with(&o2);
        assert_eq!(d2.timeouts.client, None);
        assert!(d2.forwardfor.is_none());
        assert_eq!(d2.http_reuse, HttpReuse::Never);
    }
}
