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
mod rules;
mod words;

use emit::{Section, V, named_key};
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
}

impl Cx<'_> {
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
    /// A section gwd does not have: its lines are comments.
    Skipped,
}

impl Kind {
    fn has_front(self) -> bool {
        matches!(self, Kind::Frontend | Kind::Listen | Kind::Defaults)
    }
    fn has_back(self) -> bool {
        matches!(self, Kind::Backend | Kind::Listen | Kind::Defaults)
    }
}

/// Sections HAProxy has and gwd does not (yet).
const UNSUPPORTED_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "resolvers",
    "http-errors",
    "cache",
    "ring",
    "mailers",
    "program",
    "fcgi-app",
];

/// Keywords of `bind` lines that take no value.
const BIND_FLAGS: &[&str] = &["ssl", "allow-0rtt"];
/// Keywords of `server` lines that take no value.
const SERVER_FLAGS: &[&str] = &["check", "backup", "ssl", "disabled", "check-ssl"];
/// Server keywords that tune health checks (inert without `check`).
const CHECK_TUNING: &[&str] = &[
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "port",
    "check-addr",
    "check-ssl",
    "check-sni",
    "observe",
    "error-limit",
    "on-error",
    "check-proto",
];
/// `bind` and `server` keywords whose value is a comma-separated list.
const LIST_VALUES: &[&str] = &["alpn"];

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
///     compression algo gzip
/// ");
/// assert!(t.toml.contains("[frontend.www]\nbind = [\n  { addr = \":8080\" },\n]\n"));
/// assert!(t.toml.contains("{ action = \"deny\", if = \"{ path_beg /admin }\" }"));
/// assert!(t.toml.contains("{ name = \"a1\", addr = \"127.0.0.1:9001\", check = true, weight = 10 }"));
/// assert_eq!(t.notes.len(), 1);
/// assert_eq!(t.notes[0].line, 7);
/// assert!(t.toml.contains("# compression algo gzip"));
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
            Err(words::LineError::UnclosedQuote(q)) => {
                keep(&mut open, &mut done, line);
                notes.push(Note {
                    line: lineno,
                    kind: NoteKind::Invalid,
                    message: format!("a `{q}` quote is never closed"),
                });
                continue;
            }
        };
        let Some(first) = words.first() else {
            continue;
        };
        let cx = Cx { line, comment_at };
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
        } else {
            proxy_line(&cx, o, &defaults_server, &words)
        };
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
        o.section.push("http-request", r);
    }
    if o.kind == Kind::Defaults {
        *defaults_server = o.default_server;
    }
    if o.kind == Kind::Skipped {
        done[0].lines.extend(o.section.lines);
    } else {
        done.push(o.section);
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
            s.set(kw, V::int_or_str(&one(words, 1, kw)?));
        }
        "hard-stop-after" | "pidfile" | "user" | "group" | "chroot" => {
            s.set(kw, V::s(one(words, 1, kw)?));
        }
        "tune.bufsize" => s.set(kw, V::int_or_str(&one(words, 1, kw)?)),
        "limited-quic" | "expose-experimental-directives" => s.set(kw, V::Bool(true)),
        "ssl-default-bind-ciphers"
        | "ssl-default-bind-ciphersuites"
        | "ssl-default-bind-options" => {
            s.set(kw, V::s(rest(words, 1)));
        }
        "log" => s.push("log", V::s(cx.raw_after(&words[0]))),
        "stats" if words.get(1).is_some_and(|w| w.text == "socket") => {
            let mut t = vec![("addr".to_owned(), V::s(one(words, 2, "stats socket")?))];
            let mut i = 3;
            while i < words.len() {
                match words[i].text.as_str() {
                    k @ ("mode" | "level") => t.push((k.into(), V::s(one(words, i + 1, k)?))),
                    other => {
                        return Err(Outcome::NotSupported(format!(
                            "the `stats socket` option `{other}` is not supported yet"
                        )));
                    }
                }
                i += 2;
            }
            s.push("stats-socket", V::Tab(t));
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

fn unknown(kw: &str, section: &str) -> Outcome {
    if crate::loader::not_yet_help(kw).is_some() {
        return not_yet(kw, kw);
    }
    Outcome::NotSupported(format!("`{kw}` in `{section}` has no gwd equivalent yet"))
}

fn proxy_line(
    cx: &Cx<'_>,
    o: &mut Open,
    defaults_server: &[(String, V)],
    words: &[Word],
) -> Result<(), Outcome> {
    let kind = o.kind;
    let s = &mut o.section;
    let kw = words[0].text.as_str();
    let front = |ok: bool| -> Result<(), Outcome> {
        if ok {
            Ok(())
        } else {
            Err(Outcome::Bad(format!(
                "`{kw}` belongs in a frontend or listen section"
            )))
        }
    };
    match kw {
        "mode" | "http-reuse" | "default_backend" => s.set(kw, V::s(one(words, 1, kw)?)),
        "maxconn" | "retries" => s.set(kw, V::int_or_str(&one(words, 1, kw)?)),
        "balance" | "hash-type" | "retry-on" => s.set(kw, V::s(rest(words, 1))),
        "log-format" | "unique-id-format" | "unique-id-header" => s.set(kw, V::s(rest(words, 1))),
        "timeout" => {
            let which = one(words, 1, kw)?;
            s.set(
                format!("timeout.{which}"),
                V::s(one(words, 2, &format!("timeout {which}"))?),
            );
        }
        "option" => option(s, words, true)?,
        "no" if words.get(1).is_some_and(|w| w.text == "option") => option(s, &words[1..], false)?,
        "no" if words.get(1).is_some_and(|w| w.text == "log") => s.set("log", V::Arr(Vec::new())),
        "log" => {
            let target = cx.raw_after(&words[0]);
            if target == "global" && s.get_mut("log").is_none() {
                s.set("log", V::s("global"));
            } else {
                s.push("log", V::s(target));
            }
        }
        "bind" => {
            front(kind.has_front() && kind != Kind::Defaults)?;
            for b in bind(words)? {
                s.push("bind", b);
            }
        }
        "acl" => {
            let name = one(words, 1, kw)?;
            let body = cx.raw_after(&words[1]);
            if body.is_empty() {
                return Err(Outcome::Bad(format!("ACL `{name}` has no body")));
            }
            s.push(named_key("acl", &name), V::s(body));
            // One line stays a string; a second makes the array.
            if let Some(V::Arr(items)) = s.get_mut(&named_key("acl", &name))
                && items.len() == 1
            {
                let v = items.pop().expect("one item");
                s.set(named_key("acl", &name), v);
            }
        }
        "http-request" | "http-response" | "http-after-response" => {
            let rule = rules::rule(cx, kw, &words[1..])?;
            s.push(kw, rule);
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
                s.set(k, v);
            } else {
                s.push(k, v);
            }
        }
        "use_backend" => {
            let (words, cond) = rules::split_condition(cx, &words[1..]);
            let Some(b) = words.first() else {
                return Err(Outcome::Bad("`use_backend` needs a backend".into()));
            };
            let mut t = vec![("backend".to_owned(), V::s(b.text.clone()))];
            t.extend(cond);
            s.push("use_backend", V::Tab(t));
        }
        "server" => {
            if !kind.has_back() || kind == Kind::Defaults {
                return Err(Outcome::Bad(
                    "`server` belongs in a backend or listen section".into(),
                ));
            }
            let mut t = vec![
                ("name".to_owned(), V::s(one(words, 1, kw)?)),
                ("addr".to_owned(), V::s(one(words, 2, kw)?)),
            ];
            let own = server_options(&words[3..])?;
            let inherited: Vec<(String, V)> = defaults_server
                .iter()
                .chain(o.default_server.iter())
                .cloned()
                .collect();
            let checked = own
                .iter()
                .chain(inherited.iter())
                .find(|(k, _)| k == "check")
                .is_some_and(|(_, v)| *v == V::Bool(true));
            let reverse = words[2].text.starts_with("rhttp@");
            // HAProxy: defaults' default-server, then the section's, then
            // the server's own keywords. Inherited check tuning means
            // nothing on a server without `check` (nor on an `rhttp@` one),
            // where gwd would warn about it: it is left out.
            let inherited = inherited
                .into_iter()
                .filter(|(k, _)| (checked && !reverse) || !CHECK_TUNING.contains(&k.as_str()));
            for (k, v) in inherited.chain(own) {
                match t.iter_mut().find(|(tk, _)| *tk == k) {
                    Some(slot) => slot.1 = v,
                    None => t.push((k, v)),
                }
            }
            o.section.push("server", V::Tab(t));
        }
        "default-server" => {
            for (k, v) in server_options(&words[1..])? {
                // `pool-*` are backend keys too: the table's translation.
                if k.starts_with("pool-") && k != "pool-conn-name" {
                    s.set(k.clone(), v.clone());
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
        ),
        "errorloc" | "errorloc302" | "errorloc303" => s.push(
            kw,
            V::Tab(vec![
                ("code".into(), V::int_or_str(&one(words, 1, kw)?)),
                ("url".into(), V::s(one(words, 2, kw)?)),
            ]),
        ),
        "http-error" => s.push("http-error", http_error(words)?),
        "stats" => stats(s, words, kind)?,
        "compression" => match words.get(1).map(|w| w.text.as_str()) {
            Some(k @ ("algo" | "type")) if words.len() > 2 => {
                let list = words[2..].iter().map(|w| V::s(w.text.clone())).collect();
                s.set(format!("compression.{k}"), V::Arr(list));
            }
            Some("offload") if words.len() == 2 => s.set("compression.offload", V::Bool(true)),
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
            );
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
            );
        }
        _ => return Err(unknown(kw, "this section")),
    }
    Ok(())
}

fn option(s: &mut Section, words: &[Word], on: bool) -> Result<(), Outcome> {
    let name = one(words, 1, "option")?;
    let args = &words[2..];
    let v = match (name.as_str(), on) {
        (_, false) => V::Bool(false),
        ("forwardfor", true) if !args.is_empty() => {
            let mut t = Vec::new();
            let mut i = 0;
            while i < args.len() {
                match args[i].text.as_str() {
                    k @ ("header" | "except") => t.push((k.to_owned(), V::s(one(args, i + 1, k)?))),
                    "if-none" => {
                        t.push(("if-none".to_owned(), V::Bool(true)));
                        i -= 1;
                    }
                    other => {
                        return Err(Outcome::NotSupported(format!(
                            "the `option forwardfor` option `{other}` is not supported yet"
                        )));
                    }
                }
                i += 2;
            }
            V::Tab(t)
        }
        ("httpchk", true) if !args.is_empty() => V::s(rest(args, 0)),
        (_, true) if !args.is_empty() => {
            return Err(Outcome::NotSupported(format!(
                "`option {name} {}` is not supported yet",
                rest(args, 0)
            )));
        }
        (_, true) => V::Bool(true),
    };
    if crate::loader::not_yet_help(&name).is_some() {
        return Err(not_yet(&format!("option {name}"), &name));
    }
    s.set(format!("option.{name}"), v);
    Ok(())
}

/// One `bind` line: a table per address (`bind :80,:8080` gives two).
fn bind(words: &[Word]) -> Result<Vec<V>, Outcome> {
    let addrs = one(words, 1, "bind")?;
    let opts = key_values(&words[2..], BIND_FLAGS, "bind")?;
    let mut crts = Vec::new();
    let mut out_opts = Vec::new();
    for (k, v) in opts {
        if k == "crt" {
            crts.push(v);
        } else {
            out_opts.push((k, v));
        }
    }
    Ok(addrs
        .split(',')
        .map(|a| {
            let mut t = vec![("addr".to_owned(), V::s(a))];
            let mut opts = out_opts.clone();
            match crts.len() {
                0 => {}
                1 => opts.insert(
                    opts.iter()
                        .position(|(k, _)| k == "ssl")
                        .map_or(0, |i| i + 1),
                    ("crt".into(), crts[0].clone()),
                ),
                _ => opts.insert(
                    opts.iter()
                        .position(|(k, _)| k == "ssl")
                        .map_or(0, |i| i + 1),
                    ("crt".into(), V::Arr(crts.clone())),
                ),
            }
            t.extend(opts);
            V::Tab(t)
        })
        .collect())
}

/// The keywords of a `server` or `default-server` line as TOML keys.
fn server_options(words: &[Word]) -> Result<Vec<(String, V)>, Outcome> {
    Ok(key_values(words, SERVER_FLAGS, "server")?
        .into_iter()
        .map(|(k, v)| match (k.as_str(), v) {
            // `addr` on a server line is the check address.
            ("addr", v) => ("check-addr".to_owned(), v),
            // `sni str(x)`: the table's `sni = "x"`.
            ("sni", V::Str(s)) => {
                let s = s
                    .strip_prefix("str(")
                    .and_then(|x| x.strip_suffix(')'))
                    .map_or(s.clone(), str::to_owned);
                ("sni".to_owned(), V::s(s))
            }
            (_, v) => (k, v),
        })
        .collect())
}

/// `key value` pairs and flags (`flags` take no value); numbers become
/// integers, `alpn` a list.
fn key_values(words: &[Word], flags: &[&str], what: &str) -> Result<Vec<(String, V)>, Outcome> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let k = words[i].text.as_str();
        if let Some(help) = crate::loader::not_yet_help(k) {
            return Err(Outcome::NotSupported(format!(
                "the `{what}` keyword `{k}` is not supported yet: {help}"
            )));
        }
        if flags.contains(&k) {
            out.push((k.to_owned(), V::Bool(true)));
            i += 1;
            continue;
        }
        let Some(v) = words.get(i + 1) else {
            return Err(Outcome::Bad(format!(
                "the `{what}` keyword `{k}` needs a value"
            )));
        };
        let v = if LIST_VALUES.contains(&k) {
            V::Arr(v.text.split(',').map(V::s).collect())
        } else {
            V::int_or_str(&v.text)
        };
        out.push((k.to_owned(), v));
        i += 2;
    }
    Ok(out)
}

fn http_check(s: &mut Section, words: &[Word]) -> Result<(), Outcome> {
    match words.get(1).map(|w| w.text.as_str()) {
        Some("expect") => s.set("http-check.expect", V::s(rest(words, 2))),
        Some("send") => {
            let mut t = Vec::new();
            let mut hdr = Vec::new();
            let mut i = 2;
            while i < words.len() {
                match words[i].text.as_str() {
                    k @ ("meth" | "uri" | "ver" | "body") => {
                        t.push((k.to_owned(), V::s(one(words, i + 1, k)?)))
                    }
                    "hdr" => {
                        hdr.push((one(words, i + 1, "hdr")?, V::s(one(words, i + 2, "hdr")?)));
                        i += 1;
                    }
                    other => {
                        return Err(Outcome::NotSupported(format!(
                            "the `http-check send` option `{other}` is not supported yet"
                        )));
                    }
                }
                i += 2;
            }
            if !hdr.is_empty() {
                t.push(("hdr".to_owned(), V::Tab(hdr)));
            }
            s.set("http-check.send", V::Tab(t));
        }
        Some(other) => {
            return Err(Outcome::NotSupported(format!(
                "`http-check {other}` is not supported yet"
            )));
        }
        None => return Err(Outcome::Bad("`http-check` needs `send` or `expect`".into())),
    }
    Ok(())
}

/// `http-error status <code> [content-type <t>] [string <s>] [hdr <n> <v>]...`
fn http_error(words: &[Word]) -> Result<V, Outcome> {
    let mut t = Vec::new();
    let mut hdr = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let k = words[i].text.as_str();
        match k {
            "status" => t.push(("status".to_owned(), V::int_or_str(&one(words, i + 1, k)?))),
            "content-type" => t.push((k.to_owned(), V::s(one(words, i + 1, k)?))),
            "string" => t.push(("body".to_owned(), V::s(one(words, i + 1, k)?))),
            "file" => t.push(("file".to_owned(), V::s(one(words, i + 1, k)?))),
            "hdr" => {
                hdr.push(V::Tab(vec![
                    ("name".into(), V::s(one(words, i + 1, k)?)),
                    ("value".into(), V::s(one(words, i + 2, k)?)),
                ]));
                i += 1;
            }
            other => {
                return Err(Outcome::NotSupported(format!(
                    "the `http-error` option `{other}` is not supported yet"
                )));
            }
        }
        i += 2;
    }
    if !hdr.is_empty() {
        t.push(("hdr".to_owned(), V::Arr(hdr)));
    }
    Ok(V::Tab(t))
}

fn stats(s: &mut Section, words: &[Word], kind: Kind) -> Result<(), Outcome> {
    if !kind.has_front() || kind == Kind::Defaults {
        return Err(Outcome::NotSupported(
            "`stats` in this section is not supported yet: write it in a frontend or listen section".into(),
        ));
    }
    let what = one(words, 1, "stats")?;
    match what.as_str() {
        "enable" => {
            if !s
                .lines
                .iter()
                .any(|l| matches!(l, emit::Line::Set(k, _) if k.starts_with("stats")))
            {
                s.set("stats", V::Tab(Vec::new()));
            }
        }
        "uri" | "refresh" | "realm" => {
            drop_empty_stats(s);
            s.set(format!("stats.{what}"), V::s(rest(words, 2)));
        }
        "auth" => {
            drop_empty_stats(s);
            s.push("stats.auth", V::s(one(words, 2, "stats auth")?));
        }
        "hide-version" => {
            drop_empty_stats(s);
            s.set("stats.hide-version", V::Bool(true));
        }
        other => {
            return Err(Outcome::NotSupported(format!(
                "`stats {other}` is not supported yet"
            )));
        }
    }
    Ok(())
}

/// `stats enable` wrote `stats = {}`; a dotted `stats.*` key cannot
/// follow an inline table, and does not need it.
fn drop_empty_stats(s: &mut Section) {
    s.lines
        .retain(|l| !matches!(l, emit::Line::Set(k, V::Tab(t)) if k == "stats" && t.is_empty()));
}

#[cfg(test)]
mod tests;
