//! The text protocol, without I/O: a [`Session`] is fed request lines and
//! returns the bytes to send back.

mod map_commands;
mod server_commands;

use std::sync::Arc;

use gwd_config::{AdminLevel, MapRegistry, RegisteredMap};

use self::map_commands::Target;
use gwd_stats_render::{AdminState, StatFilter, StatFormat, render_rows, stat_header};

use crate::servers::ServerControl;
use crate::stats_hub::StatsHub;

type ReloadFn = Arc<dyn Fn() -> Reloaded + Send + Sync>;
type HandoverFn = Arc<dyn Fn() -> Vec<(String, std::os::fd::OwnedFd)> + Send + Sync>;

/// What a `reload` did: whether the new configuration is in force, and
/// the messages of its loading (errors with their file:line:col,
/// warnings), one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub success: bool,
    pub messages: String,
}

/// What a runtime API serves: the configuration's maps and ACL files
/// (whose references the proxy's rules read) and, optionally, the
/// statistics hub ([`StatsHub`]: `show stat`, `show info`, `show servers
/// conn`, `show tunnels`; the proxy's HTTP statistics endpoints hold the
/// same hub), the proxy's servers (states and weights to show and
/// change), reloading and socket handover.
#[derive(Clone)]
pub struct Cli {
    maps: Arc<MapRegistry>,
    stats: Option<StatsHub>,
    servers: Option<Arc<dyn ServerControl>>,
    reload: Option<ReloadFn>,
    handover: Option<HandoverFn>,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("maps", &self.maps)
            .field("stats", &self.stats)
            .field("servers", &self.servers.is_some())
            .field("reload", &self.reload.is_some())
            .field("handover", &self.handover.is_some())
            .finish()
    }
}

impl Cli {
    /// A command interpreter over `maps` (usually `Config::maps`).
    pub fn new(maps: MapRegistry) -> Self {
        Cli {
            maps: Arc::new(maps),
            stats: None,
            servers: None,
            reload: None,
            handover: None,
        }
    }

    /// Answers `_getsocks` (level admin, Unix sockets only) with the
    /// sockets `sockets` lists, as [`crate::handover`] describes: a new
    /// gwd takes them over (binary upgrade). Each call hands out fresh
    /// duplicates.
    pub fn with_handover(
        mut self,
        sockets: impl Fn() -> Vec<(String, std::os::fd::OwnedFd)> + Send + Sync + 'static,
    ) -> Self {
        self.handover = Some(Arc::new(sockets));
        self
    }

    /// The sockets to hand over, if this `Cli` offers any.
    pub(crate) fn handover_sockets(&self) -> Option<Vec<(String, std::os::fd::OwnedFd)>> {
        self.handover.as_ref().map(|f| f())
    }

    /// Serves `reload` (level admin) with `reload`, which loads the
    /// configuration again and puts it in force when valid. The reply
    /// reads as HAProxy 3's master CLI: `Success=1` or `Success=0`, a line
    /// `--`, then the messages of the load. Without it, `reload` answers
    /// that reloading is not available.
    pub fn with_reload(mut self, reload: impl Fn() -> Reloaded + Send + Sync + 'static) -> Self {
        self.reload = Some(Arc::new(reload));
        self
    }

    /// Serves the server commands (`disable server`, `set server`, `set
    /// weight`, `get weight`, `enable health`, `show servers state`, ...)
    /// with `servers`, whose rows also give `show stat`, the page and
    /// Prometheus each server's state, weight and checks. Without it, those
    /// commands answer `No server information available.`
    pub fn with_servers(mut self, servers: Arc<dyn ServerControl>) -> Self {
        self.servers = Some(servers);
        self
    }

    /// Serves `show stat`, `show info`, `show servers conn` and `show
    /// tunnels` from `stats`. Without it, `show stat` prints only the
    /// header, `show info` nothing, and the other two say that the
    /// information is not available.
    pub fn with_stats(mut self, stats: StatsHub) -> Self {
        self.stats = Some(stats);
        self
    }

    /// The statistics hub, if any.
    pub fn stats(&self) -> Option<&StatsHub> {
        self.stats.as_ref()
    }

    /// A new client session at `level`.
    pub fn session(&self, level: AdminLevel) -> Session {
        Session {
            cli: self.clone(),
            level,
            prompt: false,
            closed: false,
            payload: None,
        }
    }

    /// The registry served.
    pub fn maps(&self) -> &MapRegistry {
        &self.maps
    }
}

/// The [`Cli`] in force. A reload builds a new one (the new config's
/// statistics rows, maps and servers) and [`set`](Self::set)s it here;
/// each client connection serves its next command with it.
///
/// ```
/// use gwd_admin::{Cli, LiveCli};
/// use gwd_config::MapRegistry;
///
/// let live = LiveCli::from(Cli::new(MapRegistry::new()));
/// assert!(live.get().maps().iter().next().is_none());
/// live.set(Cli::new(MapRegistry::new()));
/// ```
#[derive(Clone, Debug)]
pub struct LiveCli(Arc<std::sync::RwLock<Cli>>);

impl LiveCli {
    /// The `Cli` in force now (a cheap clone).
    pub fn get(&self) -> Cli {
        match self.0.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `cli` in force for the next commands of every client.
    pub fn set(&self, cli: Cli) {
        match self.0.write() {
            Ok(mut c) => *c = cli,
            Err(poisoned) => *poisoned.into_inner() = cli,
        }
    }
}

impl From<Cli> for LiveCli {
    fn from(cli: Cli) -> Self {
        LiveCli(Arc::new(std::sync::RwLock::new(cli)))
    }
}

/// One client connection's state: its level, interactive (`prompt`) mode,
/// a `<<` payload being collected, and whether the connection must close.
///
/// Outside prompt mode, a connection serves one request line (with its
/// payload, if any) and closes, like HAProxy's non-interactive mode. Each
/// command's output is followed by an empty line.
///
/// ```
/// use gwd_admin::Cli;
/// use gwd_config::{AdminLevel, MapRegistry, MapUse};
/// use gwd_maps::{MatchKind, MatchSpec};
///
/// let mut reg = MapRegistry::new();
/// let exact = MatchSpec::new(MatchKind::Str);
/// reg.resolve_with("hosts.map", MapUse::Converter, exact, "map at file 'gw.toml' line 1", |m| {
///     m.load_map_str("hosts.map", b"a.local app\n").map(|_| ()).map_err(|e| e.to_string())
/// })
/// .unwrap();
/// let cli = Cli::new(reg);
/// let mut s = cli.session(AdminLevel::Operator);
/// assert_eq!(s.feed_line("set map hosts.map a.local api; del map hosts.map nope"), "\nKey not found.\n\n");
/// assert!(s.is_closed());
/// let mut s = cli.session(AdminLevel::User);
/// assert_eq!(s.feed_line("clear map hosts.map"), "Permission denied\n\n");
/// ```
#[derive(Debug)]
pub struct Session {
    cli: Cli,
    level: AdminLevel,
    prompt: bool,
    closed: bool,
    /// A command waiting for its payload (`add map <m> <<`).
    payload: Option<PendingPayload>,
}

/// The longest `<<` payload a command takes; more is refused (HAProxy
/// bounds payloads by its buffer size).
pub const MAX_PAYLOAD: usize = 16 << 20;

/// A `<<` payload being collected.
#[derive(Debug)]
struct PendingPayload {
    cmd: Vec<String>,
    text: String,
    /// Why the command will not run, decided before any payload byte is
    /// kept: the payload is read to its end and dropped.
    refused: Option<&'static str>,
}

/// What one request line still has to do: the server takes the outputs
/// one at a time ([`Session::next_output`]) and writes each before the
/// next is made, so a line of thousands of commands never builds its
/// whole reply in memory.
#[derive(Debug, Default)]
pub struct Pending {
    steps: std::collections::VecDeque<Step>,
}

impl Pending {
    /// Whether running this line runs a command whose first word is
    /// `verb` (however it was written: `\reload`, or a `<<` command whose
    /// payload ends here). The server runs a line that reloads off the
    /// runtime's workers.
    pub fn runs(&self, verb: &str) -> bool {
        self.steps.iter().any(|s| {
            let cmd = match s {
                Step::Run(c) | Step::RunBefore(c) => c,
                Step::RunPayload(p) => &p.cmd,
                _ => return false,
            };
            cmd.first().is_some_and(|w| w == verb)
        })
    }
}

#[derive(Debug)]
enum Step {
    /// Text to send as is.
    Text(String),
    /// A command; its output and an empty line unless it closed the
    /// session.
    Run(Vec<String>),
    /// A command before a `<<` one on the same line: its output and an
    /// empty line.
    RunBefore(Vec<String>),
    /// A command with its collected payload.
    RunPayload(PendingPayload),
    /// Start collecting the payload of this command.
    StartPayload(Vec<String>),
    /// The end of a request line: the prompt, or the close.
    EndRequest,
    /// The end of a line that held no command.
    EndEmpty,
}

/// Every command: (usage, description, level needed).
const COMMANDS: &[(&str, &str, AdminLevel)] = &[
    (
        "help",
        "list the commands valid at this level",
        AdminLevel::User,
    ),
    (
        "prompt",
        "toggle interactive mode with prompt",
        AdminLevel::User,
    ),
    ("quit", "disconnect", AdminLevel::User),
    (
        "show info",
        "report information about the running process",
        AdminLevel::User,
    ),
    (
        "show stat [<iid|px> <type> <sid>] [typed|json]",
        "report counters for each proxy and server",
        AdminLevel::User,
    ),
    (
        "show servers conn [<backend>]",
        "dump server connections status (all or for a single backend)",
        AdminLevel::User,
    ),
    (
        "show tunnels [<name>]",
        "report reverse-HTTP tunnels (all or for a single name)",
        AdminLevel::User,
    ),
    (
        "show servers state [<backend>]",
        "dump volatile server information (all or for a single backend)",
        AdminLevel::User,
    ),
    (
        "get weight <bk>/<srv>",
        "report a server's current weight",
        AdminLevel::User,
    ),
    (
        "set weight <bk>/<srv> <weight>[%]",
        "change a server's weight",
        AdminLevel::Operator,
    ),
    (
        "set server <bk>/<srv> state|weight|health <v>",
        "change a server's state (ready|drain|maint), weight or health (up|down)",
        AdminLevel::Operator,
    ),
    (
        "enable server <bk>/<srv>",
        "enable a disabled server (state ready)",
        AdminLevel::Operator,
    ),
    (
        "disable server <bk>/<srv>",
        "disable a server for maintenance (state maint)",
        AdminLevel::Operator,
    ),
    (
        "enable health <bk>/<srv>",
        "enable health checks",
        AdminLevel::Operator,
    ),
    (
        "disable health <bk>/<srv>",
        "disable health checks",
        AdminLevel::Operator,
    ),
    (
        "show map [[@<ver>] <map>]",
        "report available maps or dump a map's contents",
        AdminLevel::User,
    ),
    (
        "get map <map> <value>",
        "report the keys and values matching a sample for a map",
        AdminLevel::User,
    ),
    (
        "add map [@<ver>] <map> <key> <val>",
        "add a map entry (payload supported instead of key/val)",
        AdminLevel::Operator,
    ),
    (
        "set map <map> [<key>|#<ref>] <value>",
        "modify a map entry",
        AdminLevel::Operator,
    ),
    (
        "del map <map> [<key>|#<ref>]",
        "delete map entries matching <key>",
        AdminLevel::Operator,
    ),
    (
        "clear map [@<ver>] <map>",
        "clear the contents of this map",
        AdminLevel::Operator,
    ),
    (
        "prepare map <map>",
        "prepare a new version for atomic map replacement",
        AdminLevel::Operator,
    ),
    (
        "commit map @<ver> <map>",
        "commit the map at this version",
        AdminLevel::Operator,
    ),
    (
        "show acl [[@<ver>] <acl>]",
        "report available acls or dump an acl's contents",
        AdminLevel::User,
    ),
    (
        "get acl <acl> <value>",
        "report the patterns matching a sample for an ACL",
        AdminLevel::User,
    ),
    (
        "add acl [@<ver>] <acl> <pattern>",
        "add an acl entry",
        AdminLevel::Operator,
    ),
    (
        "del acl <acl> [<key>|#<ref>]",
        "delete acl entries matching <key>",
        AdminLevel::Operator,
    ),
    (
        "clear acl [@<ver>] <acl>",
        "clear the contents of this acl",
        AdminLevel::Operator,
    ),
    (
        "prepare acl <acl>",
        "prepare a new version for atomic ACL replacement",
        AdminLevel::Operator,
    ),
    (
        "commit acl @<ver> <acl>",
        "commit the ACL at this version",
        AdminLevel::Operator,
    ),
    (
        "reload",
        "load the configuration file again and apply it if valid",
        AdminLevel::Admin,
    ),
];

/// Splits a request line into commands (`;`) and words (blanks); a
/// backslash makes the next character literal (`\;`, `\ `, `\\`).
pub fn split_commands(line: &str) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
                in_word = true;
            }
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                cmds.push(std::mem::take(&mut words));
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    cmds.push(words);
    cmds
}

impl Session {
    /// Serves the next commands with `cli` (a reload replaced the one the
    /// session started with). A payload being collected keeps its command.
    pub fn set_cli(&mut self, cli: Cli) {
        self.cli = cli;
    }
}

impl Session {
    /// Whether the connection must be closed now (after sending what the
    /// last call returned).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether a `<<` payload is being collected (an empty line, or the end
    /// of the input, runs its command).
    pub fn has_pending_payload(&self) -> bool {
        self.payload.is_some()
    }

    /// Whether interactive (prompt) mode is on.
    pub fn is_interactive(&self) -> bool {
        self.prompt
    }

    /// Processes one request line (without its `\n`) and returns what to
    /// send back, all at once (see [`start_line`](Self::start_line) for
    /// the streaming form). Lines of a `<<` payload are collected until an
    /// empty line.
    pub fn feed_line(&mut self, line: &str) -> String {
        let mut pending = self.start_line(line);
        let mut out = String::new();
        while let Some(o) = self.next_output(&mut pending) {
            out.push_str(&o);
        }
        out
    }

    /// Takes one request line (without its `\n`); its outputs come from
    /// [`next_output`](Self::next_output), one command at a time.
    pub fn start_line(&mut self, line: &str) -> Pending {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut steps = std::collections::VecDeque::new();
        if let Some(mut p) = self.payload.take() {
            if !line.is_empty() {
                if p.refused.is_none() {
                    if p.text.len() + line.len() + 1 > MAX_PAYLOAD {
                        // Too large: drop what was kept, read on to the end.
                        p.text = String::new();
                        p.refused = Some("Payload too large.\n");
                    } else {
                        p.text.push_str(line);
                        p.text.push('\n');
                    }
                }
                self.payload = Some(p);
                if self.prompt {
                    steps.push_back(Step::Text("+ ".into()));
                }
                return Pending { steps };
            }
            steps.push_back(Step::RunPayload(p));
            steps.push_back(Step::EndRequest);
            return Pending { steps };
        }
        let trimmed = line.trim_end();
        if let Some(head) = trimmed.strip_suffix("<<")
            && (head.is_empty() || head.ends_with([' ', '\t']))
        {
            let mut cmds = split_commands(head);
            let last = cmds.pop().unwrap_or_default();
            steps.extend(cmds.into_iter().map(Step::RunBefore));
            steps.push_back(Step::StartPayload(last));
            return Pending { steps };
        }
        let cmds = split_commands(line);
        let empty = cmds.iter().all(Vec::is_empty);
        steps.extend(cmds.into_iter().filter(|c| !c.is_empty()).map(Step::Run));
        steps.push_back(if empty {
            Step::EndEmpty
        } else {
            Step::EndRequest
        });
        Pending { steps }
    }

    /// The next piece of output of a line taken by
    /// [`start_line`](Self::start_line); `None` when it is done.
    pub fn next_output(&mut self, pending: &mut Pending) -> Option<String> {
        loop {
            let step = pending.steps.pop_front()?;
            let out = match step {
                Step::Text(t) => t,
                Step::Run(_) | Step::RunBefore(_) | Step::StartPayload(_) if self.closed => {
                    continue;
                }
                Step::Run(c) => {
                    let mut out = self.run(&c, None);
                    if !self.closed {
                        out.push('\n');
                    }
                    out
                }
                Step::RunBefore(c) => {
                    let mut out = self.run(&c, None);
                    out.push('\n');
                    out
                }
                Step::StartPayload(cmd) => {
                    // The level is checked before any payload is kept: a
                    // command the session may not run reads its payload to
                    // the end and drops it.
                    let refused = self
                        .required_level(&cmd)
                        .is_some_and(|needed| self.level < needed)
                        .then_some("Permission denied\n");
                    self.payload = Some(PendingPayload {
                        cmd,
                        text: String::new(),
                        refused,
                    });
                    if self.prompt { "+ ".into() } else { continue }
                }
                Step::RunPayload(p) => {
                    let mut out = match p.refused {
                        Some(why) => why.to_string(),
                        None => self.run(&p.cmd, Some(&p.text)),
                    };
                    out.push('\n');
                    out
                }
                Step::EndRequest => {
                    let mut out = String::new();
                    self.end_request(&mut out);
                    if out.is_empty() {
                        continue;
                    }
                    out
                }
                Step::EndEmpty => {
                    if !self.prompt {
                        self.closed = true;
                        continue;
                    }
                    let mut out = String::new();
                    self.end_request(&mut out);
                    if out.is_empty() {
                        continue;
                    }
                    out
                }
            };
            return Some(out);
        }
    }

    /// The level a map, ACL or server command needs (`None`: any, or not
    /// such a command).
    fn required_level(&self, args: &[String]) -> Option<AdminLevel> {
        match args.first().map(String::as_str) {
            Some("show" | "get") => Some(AdminLevel::User),
            Some("add" | "set" | "del" | "clear" | "prepare" | "commit" | "enable" | "disable") => {
                Some(AdminLevel::Operator)
            }
            _ => None,
        }
    }

    fn end_request(&mut self, out: &mut String) {
        if self.closed {
            return;
        }
        if self.prompt {
            out.push_str("> ");
        } else {
            self.closed = true;
        }
    }

    fn help(&self) -> String {
        let mut s = String::from("The following commands are valid at this level:\n");
        for (usage, desc, level) in COMMANDS {
            if *level <= self.level {
                s.push_str(&format!("  {usage:<48} : {desc}\n"));
            }
        }
        s
    }

    fn lookup(&self, target: Target, ident: &str) -> Result<RegisteredMap, String> {
        self.cli
            .maps
            .find(ident)
            .filter(|m| target.accepts(m))
            .cloned()
            .ok_or_else(|| target.unknown())
    }

    /// Runs one command (its words) and returns its output, without the
    /// empty line that ends it.
    fn run(&mut self, args: &[String], payload: Option<&str>) -> String {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (verb, target) = match a.as_slice() {
            [] => return String::new(),
            ["help", ..] => return self.help(),
            ["prompt", ..] => {
                self.prompt = !self.prompt;
                return String::new();
            }
            ["quit", ..] => {
                self.closed = true;
                return String::new();
            }
            ["reload", ..] => return self.reload(),
            ["show", "info", ..] => return self.show_info(),
            ["show", "stat", rest @ ..] => return self.show_stat(rest),
            ["show", "servers", "conn", rest @ ..] => return self.show_servers_conn(rest),
            ["show", "tunnels", rest @ ..] => return self.show_tunnels(rest),
            ["show", "servers", "state", rest @ ..] => return self.show_servers_state(rest),
            ["get", "weight", rest @ ..] => return self.get_weight(rest),
            ["set", "weight", rest @ ..] => {
                return self.as_operator(|s| s.set_weight(rest));
            }
            ["set", "server", rest @ ..] => {
                return self.as_operator(|s| s.set_server(rest));
            }
            [verb @ ("enable" | "disable"), "server", rest @ ..] => {
                let state = if *verb == "enable" {
                    AdminState::Ready
                } else {
                    AdminState::Maint
                };
                return self.as_operator(|s| s.set_admin(rest, state));
            }
            [verb @ ("enable" | "disable"), "health", rest @ ..] => {
                let on = *verb == "enable";
                return self.as_operator(|s| s.set_checks(rest, on));
            }
            [verb, "map", ..] => (*verb, Target::Map),
            [verb, "acl", ..] => (*verb, Target::Acl),
            _ => return self.unknown(&a),
        };
        let needed = match verb {
            "show" | "get" => AdminLevel::User,
            "add" | "set" | "del" | "clear" | "prepare" | "commit" => AdminLevel::Operator,
            _ => return self.unknown(&a),
        };
        if verb == "set" && target == Target::Acl {
            return self.unknown(&a);
        }
        if self.level < needed {
            return "Permission denied\n".into();
        }
        let rest = &a[2..];
        match verb {
            "show" => self.show(target, rest),
            "get" => self.get(target, rest),
            "add" => self.add(target, rest, payload),
            "set" => self.set(rest),
            "del" => self.del(target, rest),
            "clear" => self.clear(target, rest),
            "prepare" => self.prepare(target, rest),
            _ => self.commit(target, rest),
        }
    }

    /// `reload`: HAProxy 3's master CLI answer.
    fn reload(&self) -> String {
        if self.level < AdminLevel::Admin {
            return "Permission denied\n".into();
        }
        let Some(reload) = &self.cli.reload else {
            return "Reloading is not available on this socket.\n".into();
        };
        let r = reload();
        let mut out = format!("Success={}\n--\n", u8::from(r.success));
        out.push_str(&r.messages);
        if !r.messages.is_empty() && !r.messages.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// `show info`.
    fn show_info(&self) -> String {
        match &self.cli.stats {
            Some(st) => st.info_text(std::time::Instant::now()),
            None => String::new(),
        }
    }

    /// `show stat [<iid|px> <type> <sid>]`, read as HAProxy reads it:
    /// the filter only with all three words, a proxy named or numbered
    /// (neither: "No such proxy."), the numbers as C's `atoi` reads them
    /// (`x` is 0); fewer words are ignored, as are those HAProxy also
    /// accepts after them (`desc`, `up`, ...).
    fn show_stat(&self, rest: &[&str]) -> String {
        // `domain proxy` is the only domain (HAProxy 2.6 answers the same
        // for any other, `dns` included, and for none).
        let rest = match rest {
            ["domain", "proxy", more @ ..] => more,
            ["domain", ..] => return "Invalid statistics domain.\n".into(),
            _ => rest,
        };
        let mut filter = StatFilter::default();
        if let [px, ty, sid, ..] = rest {
            let named = self.cli.stats.as_ref().is_some_and(|h| h.has_proxy(px));
            if !named && atoi(px) == 0 {
                return "No such proxy.\n".into();
            }
            filter = StatFilter {
                proxy: Some((*px).to_string()),
                types: atoi(ty),
                sid: atoi(sid),
            };
        }
        let format = if rest.contains(&"json") {
            StatFormat::Json
        } else if rest.contains(&"typed") {
            StatFormat::Typed
        } else {
            StatFormat::Csv
        };
        match (&self.cli.stats, format) {
            (Some(hub), _) => hub.stat(&filter, format),
            (None, StatFormat::Csv) => stat_header(),
            (None, f) => render_rows(&[], f),
        }
    }

    fn unknown(&self, a: &[&str]) -> String {
        format!("Unknown command: '{}'\n\n{}", a.join(" "), self.help())
    }
}

/// C's `atoi`, as HAProxy reads `show stat`'s numbers: an optional sign
/// and the digits that follow, 0 when there are none.
fn atoi(word: &str) -> i64 {
    let (sign, digits) = match word.as_bytes() {
        [b'-', rest @ ..] => (-1, rest),
        [b'+', rest @ ..] => (1, rest),
        rest => (1, rest),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, &b| {
            n.saturating_mul(10).saturating_add(i64::from(b - b'0'))
        });
    sign * n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts_cli() -> Cli {
        use gwd_config::MapUse;
        use gwd_maps::{MatchKind, MatchSpec};
        let mut reg = MapRegistry::new();
        reg.resolve_with(
            "hosts.map",
            MapUse::Converter,
            MatchSpec::new(MatchKind::Str),
            "u",
            |m| {
                m.load_map_str("hosts.map", b"a.local app\n")
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        )
        .unwrap();
        Cli::new(reg)
    }

    /// A line of thousands of commands is answered one command at a time:
    /// no single output holds more than one command's reply.
    #[test]
    fn replies_stream_one_command_at_a_time() {
        let cli = hosts_cli();
        let mut s = cli.session(AdminLevel::User);
        let one = cli.session(AdminLevel::User).feed_line("help").len();
        let line = "help;".repeat(10_000);
        let mut pending = s.start_line(&line);
        let (mut outputs, mut total, mut largest) = (0, 0, 0);
        while let Some(o) = s.next_output(&mut pending) {
            outputs += 1;
            total += o.len();
            largest = largest.max(o.len());
        }
        assert_eq!(outputs, 10_000);
        assert!(largest <= one, "one output of {largest} bytes");
        assert_eq!(total, 10_000 * one);
        assert!(s.is_closed());
    }

    /// A `<<` command the session may not run reads its payload to the end
    /// and keeps none of it; then says why.
    #[test]
    fn payloads_of_refused_commands_are_not_kept() {
        let cli = hosts_cli();
        let mut s = cli.session(AdminLevel::User);
        assert_eq!(s.feed_line("add map hosts.map <<"), "");
        for i in 0..1000 {
            assert_eq!(s.feed_line(&format!("k{i} v{i}")), "");
        }
        assert_eq!(s.payload.as_ref().map(|p| p.text.len()), Some(0));
        assert_eq!(s.feed_line(""), "Permission denied\n\n");
        let map = cli
            .session(AdminLevel::User)
            .feed_line("show map hosts.map");
        assert!(map.contains("a.local app") && !map.contains("k0"), "{map}");
    }

    /// A payload over the limit is dropped whole, and refused.
    #[test]
    fn payloads_over_the_limit_are_refused() {
        let cli = hosts_cli();
        let mut s = cli.session(AdminLevel::Operator);
        assert_eq!(s.feed_line("add map hosts.map <<"), "");
        let line = "k ".to_string() + &"v".repeat(1 << 16);
        for _ in 0..(MAX_PAYLOAD / line.len() + 2) {
            s.feed_line(&line);
        }
        assert_eq!(s.payload.as_ref().map(|p| p.text.len()), Some(0));
        assert_eq!(s.feed_line(""), "Payload too large.\n\n");
        assert_eq!(
            cli.session(AdminLevel::User)
                .feed_line("get map hosts.map k"),
            "type=str, case=sensitive, found=no\n\n"
        );
    }

    #[test]
    fn splitting() {
        assert_eq!(
            split_commands(r"add map m a\ b c\;d; show map"),
            vec![vec!["add", "map", "m", "a b", "c;d"], vec!["show", "map"]]
        );
        assert_eq!(split_commands("  "), vec![Vec::<String>::new()]);
    }

    /// `get map` prints one line per use, with the value's type as that use
    /// reads it (HAProxy's `smp_to_type` names).
    #[test]
    fn get_map_reports_each_uses_value_type() {
        use gwd_config::MapUse;
        use gwd_maps::{MatchKind, MatchSpec};
        let mut reg = MapRegistry::new();
        let exact = MatchSpec::new(MatchKind::Str);
        for (file, text) in [("n.map", "a 10.0.0.1\nb ::1\n"), ("w.map", "a 7\n")] {
            reg.resolve_with(file, MapUse::Converter, exact, "u", |m| {
                m.load_map_str(file, text.as_bytes())
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .unwrap();
        }
        let none = |_: &gwd_maps::MapRef| -> Result<(), String> { unreachable!() };
        reg.resolve_with("n.map", MapUse::ConverterIp, exact, "u", none)
            .unwrap();
        reg.resolve_with(
            "n.map",
            MapUse::AclMap,
            MatchSpec::new(MatchKind::Beg),
            "u",
            none,
        )
        .unwrap();
        reg.resolve_with("w.map", MapUse::ConverterInt, exact, "u", none)
            .unwrap();
        let cli = Cli::new(reg);
        let get = |line: &str| cli.session(AdminLevel::User).feed_line(line);
        assert_eq!(
            get("get map n.map a"),
            "type=str, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"10.0.0.1\", type=\"str\"\n\
             type=str, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"10.0.0.1\", type=\"ipv4\"\n\
             type=beg, case=sensitive, found=yes, idx=tree, key=\"a\", value=none\n\n"
        );
        assert!(get("get map n.map b").contains("type=\"ipv6\""));
        assert_eq!(
            get("get map w.map a"),
            "type=str, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"7\", type=\"str\"\n\
             type=str, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"7\", type=\"sint\"\n\n"
        );
        assert_eq!(
            get("get acl n.map zz"),
            "type=str, case=sensitive, match=no\n\
             type=str, case=sensitive, match=no\n\
             type=beg, case=sensitive, match=no\n\n"
        );
    }

    #[test]
    fn versions_parse_like_str2uic() {
        assert_eq!(super::map_commands::version_number("12"), 12);
        assert_eq!(super::map_commands::version_number("7x"), 7);
        assert_eq!(super::map_commands::version_number("x"), 0);
    }
}

#[cfg(test)]
mod reload_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn reload_is_admin_only_and_answers_like_haproxy_master_cli() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let cli = Cli::new(MapRegistry::new()).with_reload(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Reloaded {
                success: n == 0,
                messages: if n == 0 {
                    "reloaded".into()
                } else {
                    "error: x\n  --> gw.toml:3:1\n".into()
                },
            }
        });
        assert_eq!(
            cli.session(AdminLevel::Operator).feed_line("reload"),
            "Permission denied\n\n"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            cli.session(AdminLevel::Admin).feed_line("reload"),
            "Success=1\n--\nreloaded\n\n"
        );
        assert_eq!(
            cli.session(AdminLevel::Admin).feed_line("reload"),
            "Success=0\n--\nerror: x\n  --> gw.toml:3:1\n\n"
        );
        assert!(
            cli.session(AdminLevel::Admin)
                .feed_line("help")
                .contains("  reload ")
        );
        assert!(
            !cli.session(AdminLevel::Operator)
                .feed_line("help")
                .contains("  reload ")
        );
        assert_eq!(
            Cli::new(MapRegistry::new())
                .session(AdminLevel::Admin)
                .feed_line("reload"),
            "Reloading is not available on this socket.\n\n"
        );
    }

    #[test]
    fn a_session_serves_its_next_line_with_the_cli_in_force() {
        let with = Cli::new(MapRegistry::new()).with_reload(|| Reloaded {
            success: true,
            messages: String::new(),
        });
        let live = LiveCli::from(Cli::new(MapRegistry::new()));
        let mut s = live.get().session(AdminLevel::Admin);
        s.feed_line("prompt");
        assert!(
            s.feed_line("reload")
                .starts_with("Reloading is not available")
        );
        live.set(with);
        s.set_cli(live.get());
        assert!(s.feed_line("reload").starts_with("Success=1\n--\n"));
    }
}
