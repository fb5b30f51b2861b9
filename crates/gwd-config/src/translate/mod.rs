//! `gwd translate`: a haproxy.cfg in, gw.toml out, line by line as
//! docs/CONFIG.md's translation table writes it.
//!
//! # Model
//!
//! Each haproxy.cfg line becomes one TOML line (or one table in an array,
//! for `bind`, `server`, rules and the like) in a section of the same name:
//! `global` → `[global]`, `frontend www` → `[frontend.www]`, and so on, in
//! file order. A line gwd cannot express is kept as a `#` comment in its
//! place, with a [`Note`] that says why ("not supported yet", as `gwd
//! check` says it) and the line number; so the output always parses, and
//! [`Translation::is_complete`] says whether anything was left behind.
//!
//! The translation is syntactic: it does not open the files a line names
//! nor check that an ACL or a backend exists. `gwd check` on the output
//! does that, with the same messages a hand-written file gets.
//!
//! `default-server` lines are applied to the `server` lines after them
//! (those of every later backend, for one in `defaults`), a server's own
//! keywords winning, as HAProxy applies them. Section-level `redirect`
//! lines become `http-request` `redirect` rules after the section's other
//! `http-request` rules, where HAProxy runs them.

mod emit;
mod keywords;
mod rules;
mod words;

use emit::{Section, V, named_key};
use keywords::{bind, http_check, http_error, option, server, server_options, stats};
use words::Word;

/// What [`translate_haproxy_cfg`] made of a haproxy.cfg.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The gw.toml text: always valid TOML.
    pub toml: String,
    /// The lines left behind or changed, in file order.
    pub notes: Vec<Note>,
}

impl Translation {
    /// Whether every line was translated (notes of kind
    /// [`NoteKind::Dropped`] left aside: they need nothing in gwd).
    pub fn is_complete(&self) -> bool {
        self.notes.iter().all(|n| n.kind == NoteKind::Dropped)
    }
}

/// One line the translation left behind or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line number in the haproxy.cfg.
    pub line: usize,
    /// What happened to it.
    pub kind: NoteKind,
    /// Why, in words.
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            NoteKind::NotSupported => "not translated",
            NoteKind::Invalid => "not translated",
            NoteKind::Dropped => "dropped",
        };
        write!(f, "line {}: {what}: {}", self.line, self.message)
    }
}

/// Kinds of [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// A keyword gwd does not implement yet; kept as a comment.
    NotSupported,
    /// A line HAProxy itself would refuse (a missing argument, an unclosed
    /// quote, an unknown keyword); kept as a comment.
    Invalid,
    /// A line gwd needs no equivalent for (`daemon`: gwd runs in the
    /// foreground under a service manager); kept as a comment.
    Dropped,
}

/// Why a line was not translated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    NotSupported(String),
    Bad(String),
    Dropped(String),
}

/// The line being translated, for handlers that take text as written.
struct Cx<'a> {
    line: &'a str,
    comment_at: usize,
    /// Parts of the line left out because gwd needs nothing for them
    /// (reported as one [`NoteKind::Dropped`] note).
    dropped: std::cell::RefCell<Vec<String>>,
}

impl Cx<'_> {
    /// Notes that `what` was left out of the line, and why.
    fn drop_part(&self, what: String) {
        self.dropped.borrow_mut().push(what);
    }

    /// Whether `w` is the bare word `text` (not quoted, not escaped).
    fn is_bare(&self, w: &Word, text: &str) -> bool {
        &self.line[w.start..w.end] == text
    }

    /// The line after `w`, as written (quotes kept), without its comment.
    fn raw_after(&self, w: &Word) -> String {
        self.line[w.end..self.comment_at].trim().to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    Userlist,
    /// A section gwd does not have: its lines are comments.
    Skipped,
}

/// Sections HAProxy has and gwd does not (yet).
const UNSUPPORTED_SECTIONS: &[&str] = &[
    "peers",
    "resolvers",
    "http-errors",
    "cache",
    "ring",
    "mailers",
    "program",
    "fcgi-app",
    "log-forward",
    "crt-store",
    "traces",
    "acme",
];

/// State while reading one section.
struct Open {
    kind: Kind,
    section: Section,
    /// This section's `default-server` keywords.
    default_server: Vec<(String, V)>,
    /// Section-level `redirect` rules, appended to `http-request` at the end.
    redirects: Vec<V>,
}

/// Translates haproxy.cfg text into gw.toml text; see the module docs.
///
/// ```
/// use gwd_config::translate::translate_haproxy_cfg;
///
/// let t = translate_haproxy_cfg("\
/// frontend www
///     bind :8080
///     http-request deny if { path_beg /admin }
///     default_backend app
/// backend app
///     server a1 127.0.0.1:9001 check weight 10
///     stick-table type ip size 1m
/// ");
/// assert!(t.toml.contains("[frontend.www]\nbind = [\n  { addr = \":8080\" },\n]\n"));
/// assert!(t.toml.contains("{ action = \"deny\", if = \"{ path_beg /admin }\" }"));
/// assert!(t.toml.contains("{ name = \"a1\", addr = \"127.0.0.1:9001\", check = true, weight = 10 }"));
/// assert_eq!(t.notes.len(), 1);
/// assert_eq!(t.notes[0].line, 7);
/// assert!(t.toml.contains("# stick-table type ip size 1m"));
/// ```
pub fn translate_haproxy_cfg(text: &str) -> Translation {
    let mut done: Vec<Section> = vec![Section::new(Vec::new())];
    let mut notes = Vec::new();
    let mut open: Option<Open> = None;
    let mut defaults_server: Vec<(String, V)> = Vec::new();
    let mut defaults_seen = false;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        let (words, comment_at) = match words::split(line) {
            Ok(w) => w,
            Err(e) => {
                keep(&mut open, &mut done, line);
                let (kind, message) = match e {
                    words::LineError::UnclosedQuote(q) => {
                        (NoteKind::Invalid, format!("a `{q}` quote is never closed"))
                    }
                    words::LineError::BadHex => (
                        NoteKind::Invalid,
                        "`\\x` must be followed by two hexadecimal digits of an ASCII character"
                            .into(),
                    ),
                    words::LineError::EnvVar(v) => (
                        NoteKind::NotSupported,
                        format!(
                            "environment variables (`{v}`) are not supported yet: write the value"
                        ),
                    ),
                };
                notes.push(Note {
                    line: lineno,
                    kind,
                    message,
                });
                continue;
            }
        };
        let Some(first) = words.first() else {
            // The file's own comments stay, where they were.
            if comment_at < line.len() {
                let text = line[comment_at + 1..].trim();
                match &mut open {
                    Some(o) => o.section.comment(text),
                    None => done[0].comment(text),
                }
            }
            continue;
        };
        let cx = Cx {
            line,
            comment_at,
            dropped: Default::default(),
        };
        // A section header.
        if let Some(kind) = section_kind(&first.text) {
            if let Some(o) = open.take() {
                close(o, &mut done, &mut defaults_server);
            }
            let name = words.get(1).map(|w| w.text.clone());
            let header = match (kind, &name) {
                (Kind::Global, _) => vec!["global".to_owned()],
                (Kind::Defaults, _) => vec!["defaults".to_owned()],
                (_, Some(name)) => vec![first.text.clone(), name.clone()],
                (_, None) => {
                    notes.push(Note {
                        line: lineno,
                        kind: NoteKind::Invalid,
                        message: format!("`{}` needs a name", first.text),
                    });
                    Vec::new()
                }
            };
            let mut kind = if header.is_empty() {
                Kind::Skipped
            } else {
                kind
            };
            if kind == Kind::Defaults && defaults_seen {
                // HAProxy: a new `defaults` replaces the last one for the
                // sections after it.
                defaults_server.clear();
                notes.push(Note {
                    line: lineno,
                    kind: NoteKind::NotSupported,
                    message:
                        "a second `defaults` section is not supported yet: gwd has one `[defaults]`"
                            .into(),
                });
                kind = Kind::Skipped;
            }
            defaults_seen |= kind == Kind::Defaults;
            // HAProxy reads several `global` sections as one; a proxy
            // name used twice by sections of one kind it refuses.
            let mut again = None;
            if kind != Kind::Skipped
                && let Some(i) = done.iter().position(|d| d.header == header)
            {
                if kind == Kind::Global {
                    again = Some(done.remove(i));
                } else {
                    notes.push(Note {
                        line: lineno,
                        kind: NoteKind::Invalid,
                        message: format!(
                            "`{}` is declared a second time",
                            line[first.start..comment_at].trim()
                        ),
                    });
                    kind = Kind::Skipped;
                }
            }
            // One note per line: a section skipped already has its own.
            let extra = match kind {
                Kind::Defaults | Kind::Frontend | Kind::Backend | Kind::Listen => words.get(2),
                _ => None,
            };
            if let Some(w) = extra {
                notes.push(Note {
                    line: lineno,
                    kind: NoteKind::NotSupported,
                    message: format!(
                        "`{}` after the section name is not supported yet (named defaults)",
                        w.text
                    ),
                });
            }
            let mut section = match again {
                Some(s) => s,
                None if kind == Kind::Skipped => Section::new(Vec::new()),
                None => Section::new(header),
            };
            if kind == Kind::Skipped {
                section.comment(line.trim());
            }
            open = Some(Open {
                kind,
                section,
                default_server: Vec::new(),
                redirects: Vec::new(),
            });
            continue;
        }
        if UNSUPPORTED_SECTIONS.contains(&first.text.as_str()) {
            if let Some(o) = open.take() {
                close(o, &mut done, &mut defaults_server);
            }
            notes.push(Note {
                line: lineno,
                kind: NoteKind::NotSupported,
                message: format!("the `{}` section is not supported yet", first.text),
            });
            let mut section = Section::new(Vec::new());
            section.comment(line.trim());
            open = Some(Open {
                kind: Kind::Skipped,
                section,
                default_server: Vec::new(),
                redirects: Vec::new(),
            });
            continue;
        }
        let Some(o) = open.as_mut() else {
            keep(&mut open, &mut done, line);
            notes.push(Note {
                line: lineno,
                kind: NoteKind::Invalid,
                message: format!("`{}` outside any section", first.text),
            });
            continue;
        };
        if o.kind == Kind::Skipped {
            o.section.comment(line.trim());
            continue;
        }
        let result = if o.kind == Kind::Global {
            global_line(&cx, &mut o.section, &words)
        } else if o.kind == Kind::Userlist {
            userlist_line(&mut o.section, &words)
        } else {
            proxy_line(&cx, o, &defaults_server, &words)
        };
        let dropped = cx.dropped.take();
        if result.is_ok() && !dropped.is_empty() {
            notes.push(Note {
                line: lineno,
                kind: NoteKind::Dropped,
                message: dropped.join("; "),
            });
        }
        if let Err(outcome) = result {
            o.section.comment(line.trim());
            let (kind, message) = match outcome {
                Outcome::NotSupported(m) => (NoteKind::NotSupported, m),
                Outcome::Bad(m) => (NoteKind::Invalid, m),
                Outcome::Dropped(m) => (NoteKind::Dropped, m),
            };
            notes.push(Note {
                line: lineno,
                kind,
                message,
            });
        }
    }
    if let Some(o) = open.take() {
        close(o, &mut done, &mut defaults_server);
    }
    Translation {
        toml: emit::document(&done),
        notes,
    }
}

fn section_kind(word: &str) -> Option<Kind> {
    Some(match word {
        "global" => Kind::Global,
        "defaults" => Kind::Defaults,
        "frontend" => Kind::Frontend,
        "backend" => Kind::Backend,
        "listen" => Kind::Listen,
        "userlist" => Kind::Userlist,
        _ => return None,
    })
}

/// Keeps `line` as a comment where it stands.
fn keep(open: &mut Option<Open>, done: &mut [Section], line: &str) {
    match open {
        Some(o) => o.section.comment(line.trim()),
        None => done[0].comment(line.trim()),
    }
}

fn close(mut o: Open, done: &mut Vec<Section>, defaults_server: &mut Vec<(String, V)>) {
    for r in o.redirects.drain(..) {
        // `http-request` is always an array here: no clash.
        let _ = o.section.push("http-request", r);
    }
    if o.kind == Kind::Defaults {
        *defaults_server = o.default_server;
    }
    // A skipped section is a block of comments where it stood.
    done.push(o.section);
}

impl From<emit::Clash> for Outcome {
    fn from(c: emit::Clash) -> Outcome {
        Outcome::Bad(format!("this line clashes with an earlier one: {}", c.0))
    }
}

/// Sets `k` in an inline table, a later value replacing an earlier one
/// (HAProxy keeps the last of a repeated keyword).
fn put(t: &mut Vec<(String, V)>, k: impl Into<String>, v: V) {
    let k = k.into();
    match t.iter_mut().find(|(tk, _)| *tk == k) {
        Some(slot) => slot.1 = v,
        None => t.push((k, v)),
    }
}

/// The words after the keyword, as one string (as written, unescaped).
fn rest(words: &[Word], from: usize) -> String {
    words[from.min(words.len())..]
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn one(words: &[Word], i: usize, kw: &str) -> Result<String, Outcome> {
    words
        .get(i)
        .map(|w| w.text.clone())
        .ok_or_else(|| Outcome::Bad(format!("`{kw}` needs a value")))
}

/// The one value of a keyword that takes exactly one (`words[1]`): more
/// words are refused, as HAProxy refuses them ("unexpected argument"),
/// rather than dropped.
fn only(words: &[Word], kw: &str) -> Result<String, Outcome> {
    if let Some(extra) = words.get(2) {
        return Err(Outcome::Bad(format!(
            "`{kw}` takes one value; `{}` is one too many",
            extra.text
        )));
    }
    one(words, 1, kw)
}

/// "not supported yet" for `shown`, with the loader's help for `key`.
fn not_yet(shown: &str, key: &str) -> Outcome {
    let kw = shown;
    let help = crate::loader::not_yet_help(key)
        .map(|h| format!(": {h}"))
        .unwrap_or_default();
    Outcome::NotSupported(format!("`{kw}` is not supported yet{help}"))
}

fn global_line(cx: &Cx<'_>, s: &mut Section, words: &[Word]) -> Result<(), Outcome> {
    let kw = words[0].text.as_str();
    match kw {
        "nbthread" | "maxconn" | "uid" | "gid" | "spread-checks" => {
            s.set(kw, V::int_or_str(&only(words, kw)?))?;
        }
        "hard-stop-after" | "pidfile" | "user" | "group" | "chroot" => {
            s.set(kw, V::s(only(words, kw)?))?;
        }
        "tune.bufsize" => s.set(kw, V::int_or_str(&only(words, kw)?))?,
        "tune.maxpollevents" => max_poll_events(cx, s, &only(words, kw)?)?,
        "limited-quic" | "expose-experimental-directives" => s.set(kw, V::Bool(true))?,
        "ssl-default-bind-ciphers"
        | "ssl-default-bind-ciphersuites"
        | "ssl-default-bind-options" => {
            s.set(kw, V::s(rest(words, 1)))?;
        }
        "log" => s.push("log", V::s(cx.raw_after(&words[0])))?,
        "stats" if words.get(1).is_some_and(|w| w.text == "socket") => {
            let mut t = vec![("addr".to_owned(), V::s(one(words, 2, "stats socket")?))];
            let mut i = 3;
            while i < words.len() {
                match words[i].text.as_str() {
                    k @ ("mode" | "level") => put(&mut t, k, V::s(one(words, i + 1, k)?)),
                    other => {
                        return Err(Outcome::NotSupported(format!(
                            "the `stats socket` option `{other}` is not supported yet"
                        )));
                    }
                }
                i += 2;
            }
            s.push("stats-socket", V::Tab(t))?;
        }
        "daemon" | "master-worker" => {
            return Err(Outcome::Dropped(format!(
                "`{kw}`: gwd runs in the foreground under a service manager (docs/OPERATIONS.md)"
            )));
        }
        _ => return Err(unknown(kw, "global")),
    }
    Ok(())
}

/// `tune.maxpollevents N` as HAProxy reads it: 0 or less is its default
/// (200, gwd's too), so the line says nothing gwd needs; above gwd's
/// [`crate::MAX_POLL_EVENTS`] it becomes that bound (one turn of gwd's
/// poller never takes more, whatever the setting); a value that is not an
/// integer is refused (HAProxy's `atol` would quietly read it as 0).
fn max_poll_events(cx: &Cx<'_>, s: &mut Section, value: &str) -> Result<(), Outcome> {
    let kw = "tune.maxpollevents";
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Outcome::Bad(format!(
            "`{kw}` takes an integer, found `{value}`"
        )));
    }
    // Past i64 the integer saturates, as HAProxy's `atol` does.
    let n = match digits.parse::<i64>() {
        Ok(n) if negative => -n,
        Ok(n) => n,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    };
    let max = crate::MAX_POLL_EVENTS as i64;
    if n <= 0 {
        return Err(Outcome::Dropped(format!(
            "`{kw} {value}` means HAProxy's default, 200, which is gwd's default too"
        )));
    }
    if n > max {
        cx.drop_part(format!(
            "the part of `{value}` above {max}, the most events gwd's poller takes in one turn"
        ));
    }
    s.set(kw, V::Int(n.min(max)))?;
    Ok(())
}

fn unknown(kw: &str, section: &str) -> Outcome {
    if crate::loader::not_yet_help(kw).is_some() {
        return not_yet(kw, kw);
    }
    if let Some(h) = crate::loader::haproxy_not_yet(kw) {
        return Outcome::NotSupported(format!("`{kw}` is not supported yet: {h}"));
    }
    Outcome::NotSupported(format!("`{kw}` in `{section}` has no gwd equivalent yet"))
}

/// The TOML key a proxy keyword writes (its first part).
fn top_key(words: &[Word]) -> &str {
    match (
        words[0].text.as_str(),
        words.get(1).map(|w| w.text.as_str()),
    ) {
        ("no", Some(w)) => w,
        ("redirect", _) => "http-request",
        ("declare", _) => "capture",
        (kw, _) => kw,
    }
}

/// The keys the loader reads in a section of `kind`.
fn section_keys(kind: Kind) -> &'static [&'static str] {
    let k = &crate::loader::KNOWN_KEYS;
    match kind {
        Kind::Defaults => k.defaults,
        Kind::Frontend => k.frontend,
        Kind::Backend => k.backend,
        Kind::Listen => k.listen,
        Kind::Global | Kind::Skipped | Kind::Userlist => k.global,
    }
}

fn section_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Defaults => "defaults",
        Kind::Frontend => "frontend",
        Kind::Backend => "backend",
        Kind::Listen => "listen",
        Kind::Userlist => "userlist",
        Kind::Global | Kind::Skipped => "global",
    }
}

/// A `userlist` line: `user <name> password|insecure-password <p>
/// [groups <a,b>]` or `group <name> [users <a,b>]`.
fn userlist_line(s: &mut Section, words: &[Word]) -> Result<(), Outcome> {
    let kw = words[0].text.as_str();
    let list = |w: &Word| {
        V::Arr(
            w.text
                .split(',')
                .filter(|x| !x.is_empty())
                .map(V::s)
                .collect(),
        )
    };
    match kw {
        "user" | "group" => {
            let mut t = vec![("name".to_owned(), V::s(one(words, 1, kw)?))];
            let mut i = 2;
            while i < words.len() {
                let k = words[i].text.as_str();
                let Some(v) = words.get(i + 1) else {
                    return Err(Outcome::Bad(format!("`{kw}`: `{k}` needs a value")));
                };
                match (kw, k) {
                    ("user", "password" | "insecure-password") => {
                        put(&mut t, k, V::s(v.text.clone()))
                    }
                    ("user", "groups") | ("group", "users") => put(&mut t, k, list(v)),
                    _ => {
                        return Err(Outcome::NotSupported(format!(
                            "the `{kw}` keyword `{k}` is not supported yet"
                        )));
                    }
                }
                i += 2;
            }
            s.push(kw, V::Tab(t))?;
            Ok(())
        }
        _ => Err(Outcome::Bad(format!(
            "`{kw}` does not belong in a userlist"
        ))),
    }
}

fn proxy_line(
    cx: &Cx<'_>,
    o: &mut Open,
    defaults_server: &[(String, V)],
    words: &[Word],
) -> Result<(), Outcome> {
    let kind = o.kind;
    let kw = words[0].text.as_str();
    // Only keys the loader reads in this section are written: anything
    // else would make `gwd check` fail on a line translated without a note.
    let top = top_key(words);
    if kw != "default-server" && !section_keys(kind).contains(&top) {
        if crate::loader::not_yet_help(kw).is_some() {
            return Err(not_yet(kw, kw));
        }
        if let Some(h) = crate::loader::haproxy_not_yet(kw) {
            return Err(Outcome::NotSupported(format!(
                "`{kw}` is not supported yet: {h}"
            )));
        }
        // What HAProxy itself refuses there.
        let wrong_side = match kind {
            Kind::Frontend => ["server", "balance", "hash-type"].contains(&top),
            Kind::Backend => ["bind", "use_backend", "default_backend"].contains(&top),
            _ => false,
        };
        if wrong_side {
            return Err(Outcome::Bad(format!(
                "`{kw}` does not belong in a {} section",
                section_name(kind)
            )));
        }
        return Err(Outcome::NotSupported(format!(
            "`{kw}` in a {} section is not supported yet",
            section_name(kind)
        )));
    }
    let s = &mut o.section;
    match kw {
        "mode" | "http-reuse" | "default_backend" => s.set(kw, V::s(one(words, 1, kw)?))?,
        "maxconn" | "retries" => s.set(kw, V::int_or_str(&one(words, 1, kw)?))?,
        "balance" | "hash-type" | "retry-on" => s.set(kw, V::s(rest(words, 1)))?,
        "log-format" | "unique-id-format" | "unique-id-header" => {
            s.set(kw, V::s(rest(words, 1)))?
        }
        "timeout" => {
            let which = one(words, 1, kw)?;
            if !crate::loader::KNOWN_KEYS.timeout.contains(&which.as_str()) {
                return Err(Outcome::NotSupported(format!(
                    "`timeout {which}` is not supported yet"
                )));
            }
            let v = one(words, 2, &format!("timeout {which}"))?;
            s.set(format!("timeout.{which}"), V::s(v))?;
        }
        "option" => option(s, words, true)?,
        "no" if words.get(1).is_some_and(|w| w.text == "option") => option(s, &words[1..], false)?,
        "no" if words.get(1).is_some_and(|w| w.text == "log") => {
            s.set("log", V::Arr(Vec::new()))?
        }
        "log" => {
            let target = cx.raw_after(&words[0]);
            if target == "global" && s.get_mut("log").is_none() {
                s.set("log", V::s("global"))?;
            } else {
                s.push("log", V::s(target))?;
            }
        }
        "bind" => {
            for b in bind(cx, words)? {
                s.push("bind", b)?;
            }
        }
        "acl" => {
            let name = one(words, 1, kw)?;
            let body = cx.raw_after(&words[1]);
            if body.is_empty() {
                return Err(Outcome::Bad(format!("ACL `{name}` has no body")));
            }
            let key = named_key("acl", &name);
            s.push(key.clone(), V::s(body))?;
            // One line stays a string; a second makes the array.
            if let Some(V::Arr(items)) = s.get_mut(&key)
                && items.len() == 1
            {
                let v = items.pop().expect("one item");
                s.set(key, v)?;
            }
        }
        "http-request" | "http-response" | "http-after-response" => {
            let rule = rules::rule(cx, kw, &words[1..])?;
            s.push(kw, rule)?;
        }
        "redirect" => {
            let (words, cond) = rules::split_condition(cx, &words[1..]);
            let mut t = vec![("action".to_owned(), V::s("redirect"))];
            rules::redirect(&mut t, "redirect", words)?;
            t.extend(cond);
            o.redirects.push(V::Tab(t));
        }
        "tcp-request" => {
            let (k, v) = rules::tcp_request(cx, &words[1..])?;
            if k == "tcp-request.inspect-delay" {
                s.set(k, v)?;
            } else {
                s.push(k, v)?;
            }
        }
        "use_backend" => {
            let (words, cond) = rules::split_condition(cx, &words[1..]);
            let Some(b) = words.first() else {
                return Err(Outcome::Bad("`use_backend` needs a backend".into()));
            };
            let mut t = vec![("backend".to_owned(), V::s(b.text.clone()))];
            t.extend(cond);
            s.push("use_backend", V::Tab(t))?;
        }
        "server" => {
            let t = server(cx, words, defaults_server, &o.default_server)?;
            o.section.push("server", V::Tab(t))?;
        }
        "default-server" => {
            if kind == Kind::Frontend {
                return Err(Outcome::Bad(
                    "`default-server` does not belong in a frontend section".into(),
                ));
            }
            for (k, v) in server_options(&words[1..])? {
                // `pool-*` are backend keys too: the table's translation.
                if k.starts_with("pool-") && k != "pool-conn-name" {
                    s.set(k.clone(), v.clone())?;
                }
                o.default_server.retain(|(dk, _)| *dk != k);
                o.default_server.push((k, v));
            }
        }
        "http-check" => http_check(s, words)?,
        "errorfile" => s.push(
            "errorfile",
            V::Tab(vec![
                ("code".into(), V::int_or_str(&one(words, 1, kw)?)),
                ("file".into(), V::s(one(words, 2, kw)?)),
            ]),
        )?,
        "errorloc" | "errorloc302" | "errorloc303" => s.push(
            kw,
            V::Tab(vec![
                ("code".into(), V::int_or_str(&one(words, 1, kw)?)),
                ("url".into(), V::s(one(words, 2, kw)?)),
            ]),
        )?,
        "http-error" => s.push("http-error", http_error(words)?)?,
        "stats" => stats(s, words)?,
        "compression" => match words.get(1).map(|w| w.text.as_str()) {
            Some(k @ ("algo" | "type")) if words.len() > 2 => {
                let list = words[2..].iter().map(|w| V::s(w.text.clone())).collect();
                s.set(format!("compression.{k}"), V::Arr(list))?;
            }
            Some("offload") if words.len() == 2 => s.set("compression.offload", V::Bool(true))?,
            Some("minsize-res") if words.len() == 3 => {
                s.set("compression.minsize-res", V::int_or_str(&words[2].text))?;
            }
            Some(other) => {
                return Err(Outcome::NotSupported(format!(
                    "`compression {other}` is not supported yet"
                )));
            }
            None => {
                return Err(Outcome::Bad(
                    "`compression` needs `algo`, `type` or `offload`".into(),
                ));
            }
        },
        "capture" => {
            let (dir, what) = (one(words, 1, kw)?, one(words, 2, kw)?);
            if what != "header" || !matches!(dir.as_str(), "request" | "response") {
                return Err(Outcome::NotSupported(format!(
                    "`capture {dir} {what}` is not supported yet (only `capture request|response header`)"
                )));
            }
            let name = one(words, 3, kw)?;
            if words.get(4).is_none_or(|w| w.text != "len") {
                return Err(Outcome::Bad(
                    "`capture ... header <name>` needs `len <n>`".into(),
                ));
            }
            s.push(
                "capture",
                V::Tab(vec![
                    (format!("{dir}-header"), V::s(name)),
                    ("len".into(), V::int_or_str(&one(words, 5, "len")?)),
                ]),
            )?;
        }
        "declare" if words.get(1).is_some_and(|w| w.text == "capture") => {
            let dir = one(words, 2, "declare capture")?;
            if words.get(3).is_none_or(|w| w.text != "len") {
                return Err(Outcome::Bad("`declare capture` needs `len <n>`".into()));
            }
            s.push(
                "capture",
                V::Tab(vec![
                    ("declare".into(), V::s(dir)),
                    ("len".into(), V::int_or_str(&one(words, 4, "len")?)),
                ]),
            )?;
        }
        _ => return Err(unknown(kw, section_name(kind))),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
