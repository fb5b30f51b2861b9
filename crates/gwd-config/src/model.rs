//! The resolved configuration model.
//!
//! Everything here has been validated: names are resolved to indexes, files
//! named by the config exist and are readable, durations and sizes are parsed.
//! Consumers (the proxy, the composition crate) never re-validate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gwd_sample::{Condition, Expr, LogFormat, VarName};

use crate::ids::{BackendId, ServerAt};

pub use crate::capture::{CaptureSlot, CaptureSlots};
pub use crate::error_page::{ErrorPage, ErrorPages, PageFormat};
pub use crate::retry::{Redispatch, RetryOn, StatusSet};
pub use crate::rewrite::{Redirect, RedirectKind, ReplaceRegex, UriPart};
pub use gwd_log::{Format as LogFormatKind, Level as LogLevel, LogTarget, Target as LogDest};
pub use gwd_sample::{MapRegistry, MapUse, RegisteredMap};

/// A whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (for messages).
    pub source: PathBuf,
    /// `[global]` settings.
    pub global: Global,
    /// In file order; `Frontend::id` is 1-based in the same order.
    pub frontends: Vec<Frontend>,
    /// In file order; `Backend::id` is 1-based in the same order.
    pub backends: Vec<Backend>,
    /// Warnings found while loading (e.g. QUIC binds skipped under
    /// `limited-quic`). `gwd check` prints them; `gwd` logs them at start.
    pub warnings: Vec<Diagnostic>,
    /// Every map and pattern file named by a rule (`map(<file>)`,
    /// `-f <file>`), loaded, one shared reference per file name, in order of
    /// first use. The rules hold matchers on these references; the runtime
    /// API changes them through this registry (by file name or `#<id>`).
    pub maps: MapRegistry,
    /// `[userlist.<name>]` sections, in file order.
    pub userlists: Vec<crate::userlist::Userlist>,
}

/// The largest `tune.maxpollevents` accepted, and the most events one
/// poller turn takes in all (the poller allocates its event buffer at
/// that size).
pub const MAX_POLL_EVENTS: usize = 65_536;

/// `[global]`.
#[derive(Debug, Clone)]
pub struct Global {
    /// `limited-quic`: start without QUIC binds instead of refusing them.
    pub limited_quic: bool,
    /// `hard-stop-after`: how long a graceful stop waits for in-flight
    /// requests. `None` waits for ever (HAProxy's default).
    pub hard_stop_after: Option<Duration>,
    /// `nbthread`: worker threads. `None`: one per CPU.
    pub nbthread: Option<usize>,
    /// `tune.bufsize`: the largest request head (request line + headers)
    /// accepted; larger gets 431. Default 16k.
    pub max_header_size: usize,
    /// `tune.maxpollevents`: the most socket events a worker thread takes
    /// from the kernel in one turn of its event loop before it runs what
    /// they woke. Shorter turns let the first answers of a burst leave
    /// before its last requests are read, so the processes of a chain
    /// (gateway, origin, server on one machine) work side by side; longer
    /// turns gather more work into each write and each wake-up, for less
    /// CPU per request. Default 200, HAProxy's (docs/PERFORMANCE.md
    /// measures both sides of the trade).
    pub max_poll_events: usize,
    /// `stats-socket`: runtime API listeners, in file order.
    pub stats_sockets: Vec<StatsSocket>,
    /// `maxconn`: visitor connections open at once, all frontends together;
    /// at the limit gwd stops accepting until one closes (nothing is
    /// refused). `None`: the limit the file-descriptor budget allows.
    pub maxconn: Option<usize>,
    /// `spread-checks`: each health check interval is moved by a random
    /// amount within this many percent (0..=50; 0 = none, HAProxy's default).
    pub spread_checks: u32,
    /// `pidfile`: gwd writes its pid there once its listeners are bound
    /// (before dropping privileges) and removes it at a clean stop. The
    /// directory exists (checked at load).
    pub pidfile: Option<PathBuf>,
    /// `user` (a name) or `uid` (a number): the account gwd switches to
    /// once its listeners are bound. Names are looked up by the binary, at
    /// check and at start (this crate does not read the account database).
    pub user: Option<Account>,
    /// `group` (a name) or `gid` (a number): the group gwd switches to;
    /// without it, the primary group of `user`.
    pub group: Option<Account>,
    /// `chroot`: gwd changes its root to this directory once its listeners
    /// are bound, before dropping privileges. The directory exists
    /// (checked at load).
    pub chroot: Option<PathBuf>,
    /// `log`: the global log targets, which `log global` in a frontend
    /// (or `[defaults]`) stands for.
    pub log: Vec<Arc<LogTarget>>,
}

/// A frontend's logging (`log`, `log-format`, `option.httplog`,
/// `option.dontlognull`, `option.log-separate-errors`, `unique-id-*`).
#[derive(Debug, Clone, Default)]
pub struct Logging {
    /// Where its access lines go, `log global` expanded. Empty: lines go
    /// through `tracing` (target `gwd::access`), as without any `log`.
    pub targets: Vec<Arc<LogTarget>>,
    /// `log-format`; `None`: HAProxy's httplog line.
    pub format: Option<gwd_sample::LogFormat>,
    /// `option.dontlognull`: no line for a connection that sent nothing.
    pub dontlognull: bool,
    /// `option.log-separate-errors`: lines of 5xx answers and errors are
    /// sent at level `err` instead of `info`.
    pub separate_errors: bool,
    /// `unique-id-format`: each request's unique id (`%ID`).
    pub unique_id_format: Option<gwd_sample::LogFormat>,
    /// `unique-id-header`: the request header that carries the unique id
    /// to the server.
    pub unique_id_header: Option<String>,
}

/// A user or a group named in `[global]`: `user`/`group` by name,
/// `uid`/`gid` by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name or the number, as written.
    pub id: AccountId,
    /// Where it was written (for the errors found when it is looked up).
    pub location: Location,
    /// `global.user`, `global.uid`, `global.group` or `global.gid`.
    pub key_path: String,
}

/// How an [`Account`] is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountId {
    /// A name to look up (`user = "gwd"`).
    Name(String),
    /// A number, used as is (`uid = 990`).
    Number(u32),
}

/// A runtime API listener (`stats-socket` entry; HAProxy's `stats socket`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    /// Where it listens.
    pub addr: StatsAddr,
    /// What its clients may do.
    pub level: AdminLevel,
    /// Unix sockets: permission bits set on the socket file (`mode`),
    /// default `0o600`.
    pub mode: u32,
    /// Where the entry was written.
    pub location: Location,
}

/// Address of a runtime API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    /// A Unix stream socket at this path (a stale file there is replaced).
    Unix(PathBuf),
    /// A TCP socket (port 0: any free port).
    Tcp(SocketAddr),
}

/// Runtime API access level (`level`), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum AdminLevel {
    /// Read only: `show`, `get`, `help`.
    User,
    /// Also changes maps and ACLs (`add`, `set`, `del`, `clear`,
    /// `prepare`, `commit`). The default.
    #[default]
    Operator,
    /// Everything.
    Admin,
}

impl AdminLevel {
    /// The config/HAProxy name: `user`, `operator`, `admin`.
    pub fn name(self) -> &'static str {
        match self {
            AdminLevel::User => "user",
            AdminLevel::Operator => "operator",
            AdminLevel::Admin => "admin",
        }
    }
}

/// Per-proxy timeouts (`timeout` table). `None` = no timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeout.connect`: establishing a server connection.
    pub connect: Option<Duration>,
    /// `timeout.client`: client inactivity.
    pub client: Option<Duration>,
    /// `timeout.server`: server inactivity.
    pub server: Option<Duration>,
    /// `timeout.http-request`: receiving a complete request head.
    pub http_request: Option<Duration>,
    /// `timeout.http-keep-alive`: idle time between two requests on a connection.
    pub http_keep_alive: Option<Duration>,
    /// `timeout.tunnel`: inactivity of a connection switched to another
    /// protocol (WebSocket after `101`), both ways. `None`: the larger of
    /// `client` and `server` applies (HAProxy uses those without it).
    pub tunnel: Option<Duration>,
    /// `timeout.tunnel-wait` (backends with `rhttp@` servers): how long a
    /// request waits for a tunnel to register or free a stream. `None`:
    /// no wait, 503 at once (HAProxy's behaviour).
    pub tunnel_wait: Option<Duration>,
    /// `timeout.check`: how long a health check waits for its answer once
    /// connected. `None`: the check's `inter` (HAProxy's behaviour).
    pub check: Option<Duration>,
    /// `timeout.queue`: how long a request waits for a server slot
    /// (`maxconn`) before 503 with termination state `sQ`. `None` (unset):
    /// the `connect` timeout (HAProxy's behaviour); `Duration::MAX`
    /// (written `0`): no limit. See [`Timeouts::queue_limit`].
    pub queue: Option<Duration>,
    /// `timeout.tarpit`: how long `http-request tarpit` holds a request
    /// before answering. `None`: the `connect` timeout (HAProxy's
    /// behaviour); see [`Timeouts::tarpit_delay`].
    pub tarpit: Option<Duration>,
}

impl Timeouts {
    /// How long a tarpitted request is held: `timeout.tarpit`, else
    /// `timeout.connect`, else not at all.
    pub fn tarpit_delay(&self) -> Duration {
        self.tarpit.or(self.connect).unwrap_or(Duration::ZERO)
    }

    /// How long a request may wait in the queue: `timeout.queue`, else
    /// `timeout.connect`; `None`: no limit.
    pub fn queue_limit(&self) -> Option<Duration> {
        match self.queue {
            Some(Duration::MAX) => None,
            Some(d) => Some(d),
            None => self.connect,
        }
    }
}

/// `[frontend.<name>]` (or the front half of a `[listen.<name>]`).
#[derive(Debug, Clone)]
pub struct Frontend {
    /// The section name.
    pub name: String,
    /// 1-based, in file order (HAProxy's `fe_id`).
    pub id: u32,
    /// `mode`: HTTP, or a TCP relay (see [`crate::TcpRequest`]).
    pub mode: crate::ProxyMode,
    /// Listening addresses, in file order (at least one).
    pub binds: Vec<Bind>,
    /// Timeouts: `[defaults]` with this section's overrides applied.
    pub timeouts: Timeouts,
    /// `option.forwardfor`: add `X-Forwarded-For: <client ip>` to requests.
    pub forwardfor: Option<ForwardFor>,
    /// `errorfile`/`errorloc*` pages (see [`ErrorPages`]).
    pub error_pages: ErrorPages,
    /// `compression`: inherited from `[defaults]`, extended here.
    pub compression: crate::compression::Compression,
    /// `http-request` rules, in order.
    pub http_request: Vec<HttpRequestRule>,
    /// `http-response` rules, run after the backend's on a server's answer.
    pub http_response: Vec<HttpResponseRule>,
    /// `http-after-response` rules, run after the backend's on every
    /// answer, gwd's own included.
    pub http_after_response: Vec<HttpResponseRule>,
    /// `use_backend` rules, in order; the first whose condition holds wins.
    pub use_backend: Vec<UseBackend>,
    /// The backend of requests no `use_backend` rule routes.
    pub default_backend: Option<BackendId>,
    /// `tcp-request.session` rules, in order, run once per accepted
    /// connection after the TLS handshake. A frontend with an `attach-srv`
    /// rule is a *registration* frontend: it serves no requests; a
    /// connection that no rule attaches is closed.
    pub tcp_request_session: Vec<SessionRule>,
    /// `tcp-request.connection`, `.content` and `.inspect-delay`.
    pub tcp_request: crate::TcpRequest,
    /// `stats`: the HTML statistics page (and its CSV) served on this
    /// frontend, after its `http-request` rules, for GET and HEAD requests
    /// whose URI starts with [`StatsPage::uri`]. `None`: no stats page.
    pub stats: Option<StatsPage>,
    /// `maxconn`: this frontend's connections open at once; at the limit
    /// its listeners stop accepting until one closes.
    pub maxconn: Option<usize>,
    /// Logging settings (shared with the log records of its requests).
    pub log: Arc<Logging>,
    /// `capture` slots (`%hr`, `%hs`, `capture.req.hdr`...).
    pub captures: CaptureSlots,
}

/// `stats = { uri, refresh, auth, realm, hide-version }` of a frontend or
/// listen section (HAProxy's `stats uri|refresh|auth|realm|hide-version`).
///
/// Invariants: `uri` starts with `/`; every user has a non-empty name; an
/// empty `auth` means no authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct StatsPage {
    /// The URI prefix that selects the page (`stats uri`), matched against
    /// the request's path and query; default `/haproxy?stats`. The CSV is
    /// served at `<uri>;csv`.
    pub uri: String,
    /// `stats refresh`: the page reloads itself this often. `None`: never.
    pub refresh: Option<Duration>,
    /// `stats auth`: the users allowed in (HTTP Basic); empty: anyone.
    pub auth: Vec<StatsUser>,
    /// `stats realm`: the realm announced with a 401; default
    /// `gwd statistics`.
    pub realm: String,
    /// `stats hide-version`: leave the version out of the page.
    pub hide_version: bool,
    /// Where the `stats` key was written.
    pub location: Location,
}

impl std::fmt::Debug for StatsPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsPage")
            .field("uri", &self.uri)
            .field("refresh", &self.refresh)
            .field("auth", &self.auth)
            .field("realm", &self.realm)
            .field("hide_version", &self.hide_version)
            .field("location", &self.location)
            .finish()
    }
}

/// One `stats auth` user. Its `Debug` output hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StatsUser {
    /// The user name (no `:`).
    pub user: String,
    /// The password, in clear as written in the configuration.
    pub password: String,
}

impl std::fmt::Debug for StatsUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsUser")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The services an `http-request use-service` rule can hand a request to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpService {
    /// `prometheus-exporter`: every counter in Prometheus' text format
    /// (HAProxy's `http-request use-service prometheus-exporter`).
    PrometheusExporter,
}

impl HttpService {
    /// Every service, by its configuration name.
    pub const ALL: [(&'static str, HttpService); 1] =
        [("prometheus-exporter", HttpService::PrometheusExporter)];

    /// The configuration name (`prometheus-exporter`).
    pub fn name(self) -> &'static str {
        match self {
            HttpService::PrometheusExporter => "prometheus-exporter",
        }
    }
}

impl Frontend {
    /// Whether this frontend registers reverse-HTTP tunnels (has an
    /// `attach-srv` rule) instead of serving requests.
    pub fn is_registration(&self) -> bool {
        self.tcp_request_session
            .iter()
            .any(|r| matches!(r.action, SessionAction::AttachSrv(_)))
    }
}

/// One `tcp-request.session` rule.
#[derive(Debug, Clone)]
pub struct SessionRule {
    /// What the rule does when its condition holds.
    pub action: SessionAction,
    /// `if`/`unless` folded in; `None` always applies. Evaluated with
    /// connection-level fetches only (`src`, `dst`, `ssl_*`).
    pub cond: Option<Condition>,
}

/// What a `tcp-request.session` rule does. Rules run in order; the first
/// `accept`, `reject` or `attach-srv` whose condition holds ends the
/// evaluation.
#[derive(Debug, Clone)]
pub enum SessionAction {
    /// `accept`: stop evaluating; the connection goes on (on a
    /// registration frontend it is then closed, as no rule attached it).
    Accept,
    /// `reject`: close the connection.
    Reject,
    /// `attach-srv <backend>/<server>`: register the connection as a tunnel
    /// of that `rhttp@` server.
    AttachSrv(AttachSrv),
}

/// `attach-srv`: where a registration connection is filed.
#[derive(Debug, Clone)]
pub struct AttachSrv {
    /// The `rhttp@` server (`server = "<backend>/<server>"`); `None` only
    /// inside the loader, until every section is read.
    pub server: Option<ServerAt>,
    /// How the tunnel's names are found.
    pub naming: TunnelNaming,
    /// `allow-name`: a name is kept only when this condition holds for it
    /// (the `rhttp_name` fetch returns the name being checked). A
    /// connection left with no name is refused.
    pub allow_name: Option<Condition>,
}

/// How a tunnel's registration names are found (`name` or `name-from-cert`).
#[derive(Debug, Clone)]
pub enum TunnelNaming {
    /// No `name`: the tunnel is filed without a name and serves every
    /// request for its server (the server then has no `pool-conn-name`).
    Unnamed,
    /// `name = "<expr>"`: one name, evaluated once per connection
    /// (`ssl_c_s_dn(CN)`, `ssl_fc_sni`, ...). No sample: refused.
    Expr(Expr),
    /// `name-from-cert`: every name the verified client certificate
    /// carries, from its subject CN and/or its DNS SANs.
    Cert {
        /// Use the subject CN.
        common_name: bool,
        /// Use every DNS subject alternative name.
        dns_sans: bool,
    },
}

/// A `bind` entry.
#[derive(Debug, Clone)]
pub struct Bind {
    /// The address to listen on.
    pub addr: BindAddr,
    /// Present for TLS binds; never for an `rhttp@` bind (the server it
    /// dials carries the TLS settings).
    pub tls: Option<BindTls>,
    /// `proto = "h2"`: HTTP/2 only (prior knowledge in clear). Otherwise
    /// HTTP/1.1 and HTTP/2 are both accepted (h2c preface detected, or ALPN).
    /// [`BindProto::Auto`] for an `rhttp@` bind (tunnels are HTTP/2).
    pub proto: BindProto,
    /// `maxconn`: this bind's connections open at once; at the limit it
    /// stops accepting until one closes (within its frontend's and the
    /// process's limits).
    pub maxconn: Option<usize>,
    /// Where the bind was written, for messages (`gw.toml:12:3`).
    pub location: Location,
}

/// Where a bind listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAddr {
    /// A TCP listener (clear or TLS).
    Tcp(SocketAddr),
    /// A `quic4@`/`quic6@` bind. This build never listens on these; the
    /// quic-gate decides whether their presence is an error or a warning.
    Quic(SocketAddr),
    /// `rhttp@<backend>/<server>`: no socket; gwd dials the server and
    /// serves the requests that arrive on the reversed connections.
    Reverse(ReverseBind),
}

/// An `rhttp@<backend>/<server>` bind (origin side of reverse HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReverseBind {
    /// The server dialed: an ordinary server with TLS and HTTP/2 (the
    /// gateway). `None` only inside the loader, until every section is
    /// read.
    pub server: Option<ServerAt>,
    /// `nbconn`: tunnels kept up (default 1).
    pub nbconn: usize,
    /// `idle-ping`: PING the gateway after this much silence; drop the
    /// tunnel when the PING is not answered within the same delay.
    pub idle_ping: Option<Duration>,
    /// `backoff-max`: the cap of the re-dial backoff delay, more than its
    /// [`RHTTP_BACKOFF_BASE`]; `None`: the dialer's default (5 s).
    pub backoff_max: Option<Duration>,
}

/// The first re-dial delay's ceiling of an `rhttp@` bind (gwd-backoff's
/// default base): `backoff-max` must be above it.
pub const RHTTP_BACKOFF_BASE: Duration = Duration::from_millis(100);

/// HTTP versions a bind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindProto {
    /// HTTP/1.1 and HTTP/2 (by preface in clear, by ALPN with TLS).
    #[default]
    Auto,
    /// HTTP/2 only (`proto = "h2"`).
    H2,
}

/// TLS settings of a bind (`ssl = true`).
#[derive(Debug, Clone)]
pub struct BindTls {
    /// `crt`: PEM files (chain, then the key unless `key` or `<crt>.key`
    /// holds it) and directories of them, in order. The first certificate
    /// loaded is the one served to clients whose SNI matches none.
    pub crts: Vec<PathBuf>,
    /// `crt-list`: files of `<crt> [sni filter ...]` lines, loaded after `crt`.
    pub crt_lists: Vec<PathBuf>,
    /// `key`: the private key of the one `crt` file, when kept apart
    /// (gwd only). `None`: in the `crt` file, else in `<crt>.key`.
    pub key: Option<PathBuf>,
    /// ALPN protocols offered, in preference order. Default `["h2", "http/1.1"]`;
    /// on a registration frontend always `["h2"]`.
    pub alpn: Vec<String>,
    /// Client certificate checking.
    pub verify: Verify,
    /// CA bundle for client certificates; required unless `verify = "none"`.
    pub ca: Option<PathBuf>,
    /// TLS versions offered, ascending, never empty (`ssl-min-ver`,
    /// `ssl-max-ver`, `ssl-default-bind-options`).
    pub versions: Vec<TlsVersion>,
    /// `ciphers` (or `ssl-default-bind-ciphers`): TLS 1.2 suites by IANA
    /// name, in preference order. `None`: every one gwd has.
    pub ciphers: Option<Vec<String>>,
    /// `ciphersuites` (or `ssl-default-bind-ciphersuites`): TLS 1.3
    /// suites by IANA name, in preference order. `None`: every one.
    pub ciphersuites: Option<Vec<String>>,
}

/// A TLS protocol version gwd speaks (rustls has no SSLv3, TLS 1.0, 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `TLSv1.2`
    Tls12,
    /// `TLSv1.3`
    Tls13,
}

/// Certificate checking (`verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// No check.
    #[default]
    None,
    /// Check a certificate when one is presented (binds only).
    Optional,
    /// Require a valid certificate.
    Required,
}

/// `option.forwardfor`.
#[derive(Debug, Clone)]
pub struct ForwardFor {
    /// Header name, default `X-Forwarded-For`.
    pub header: String,
}

/// An `http-response` or `http-after-response` rule: the same shape as an
/// `http-request` rule; the loader admits only the actions each list
/// supports.
pub type HttpResponseRule = HttpRequestRule;

/// One `http-request` rule.
#[derive(Debug, Clone)]
pub struct HttpRequestRule {
    /// What the rule does.
    pub action: HttpRequestAction,
    /// `if`/`unless` already folded in (an `unless` is a negated condition).
    pub cond: Option<Condition>,
}

/// What an `http-request` rule does.
#[derive(Debug, Clone)]
pub enum HttpRequestAction {
    /// `return`: answer directly without a backend.
    Return {
        /// Response status (200-599), default 200.
        status: u16,
        /// `content-type` response header, if any.
        content_type: Option<String>,
        /// `body` (literal) or `lf-body` (log-format with `%[expr]`).
        body: LogFormat,
        /// Extra response headers (`hdr` list).
        headers: Vec<(String, LogFormat)>,
    },
    /// `deny`: answer `status` (default 403) with the error page.
    Deny {
        /// Response status (200-599), default 403.
        status: u16,
    },
    /// `set-header`: replace every occurrence of `name` with `value`.
    SetHeader {
        /// Header name.
        name: String,
        /// Header value (log-format).
        value: LogFormat,
    },
    /// `add-header`: append one occurrence.
    AddHeader {
        /// Header name.
        name: String,
        /// Header value (log-format).
        value: LogFormat,
    },
    /// `del-header`: remove every occurrence.
    DelHeader {
        /// Header name.
        name: String,
    },
    /// `set-map(<file>)`: upsert — every entry with the key gets the value,
    /// or one entry is added when none has it (HAProxy's action).
    SetMap {
        map: gwd_maps::MapRef,
        key: LogFormat,
        value: LogFormat,
    },
    /// `del-map(<file>)`: remove every entry with the key.
    DelMap {
        map: gwd_maps::MapRef,
        key: LogFormat,
    },
    /// `add-acl(<file>)`: add the pattern unless it is already there.
    AddAcl {
        map: gwd_maps::MapRef,
        key: LogFormat,
    },
    /// `del-acl(<file>)`: remove every occurrence of the pattern.
    DelAcl {
        map: gwd_maps::MapRef,
        key: LogFormat,
    },
    /// `use-service`: the request is answered by a service built into gwd
    /// (only `prometheus-exporter` exists); evaluation stops, no backend is
    /// used.
    UseService {
        /// The service.
        service: HttpService,
    },
    /// `redirect`: answer a redirection; evaluation stops.
    Redirect(Box<Redirect>),
    /// `set-path`, `set-pathq`, `set-uri`, `set-query`: the part becomes
    /// the rendered value.
    SetUri {
        /// Which part of the target.
        part: UriPart,
        /// The new part (log-format).
        value: LogFormat,
    },
    /// `replace-path`, `replace-pathq`, `replace-uri`: when `regex`
    /// matches the part, the whole part becomes `value` with its
    /// back-references expanded.
    ReplaceUri {
        /// Which part of the target (never `Query`).
        part: UriPart,
        /// Matched against the part.
        regex: ReplaceRegex,
        /// The replacement (log-format, then `\1`...).
        value: LogFormat,
    },
    /// `replace-header` (each field line's whole value) or `replace-value`
    /// (each comma-separated value of each field line).
    ReplaceHeader {
        /// Header name.
        name: String,
        /// Matched against each value.
        regex: ReplaceRegex,
        /// The replacement (log-format, then `\1`...).
        value: LogFormat,
        /// `replace-value`: values are the comma-separated elements.
        each_value: bool,
    },
    /// `set-status` (responses only): the status code, and the reason
    /// phrase (HTTP/1 only) when one is given.
    SetStatus {
        /// The new code (100-999).
        status: u16,
        /// The reason phrase; the code's usual one when `None`.
        reason: Option<String>,
    },
    /// `set-var(<scope>.<name>) <expr>`: the variable takes the
    /// expression's sample (its type); an expression with no sample leaves
    /// the variable as it was (HAProxy).
    SetVar {
        /// The variable.
        var: VarName,
        /// The sample expression.
        expr: Expr,
    },
    /// `set-var-fmt(<scope>.<name>) <fmt>`: the variable takes the
    /// rendered format as a string (empty parts render as nothing).
    SetVarFmt {
        /// The variable.
        var: VarName,
        /// The format.
        format: LogFormat,
    },
    /// `set-log-level <level>`: the level of this request's access line;
    /// `None` is `silent` (no line).
    SetLogLevel {
        /// The level, `None` for `silent`.
        level: Option<LogLevel>,
    },
    /// `tarpit`: the request is held `timeout.tarpit` (else `timeout.connect`),
    /// then answered with `status`'s error page (500 by default), counted
    /// as denied, logged `PT`.
    Tarpit {
        /// The answer's status.
        status: u16,
    },
    /// `unset-var(<scope>.<name>)`.
    UnsetVar {
        /// The variable.
        var: VarName,
    },
    /// `set-method`: the method becomes the rendered value.
    SetMethod {
        /// The new method (log-format).
        value: LogFormat,
    },
    /// `http-request auth [realm <realm>]`: answer 401 with
    /// `WWW-Authenticate: Basic realm="<realm>"` (the name of the rule's
    /// proxy by default); evaluation stops.
    Auth {
        /// The realm; `None`: the proxy's name.
        realm: Option<String>,
    },
    /// `http-request capture <expr> len|id`, `http-response capture <expr>
    /// id`: the expression's value, as text, fills capture slot `id` of
    /// the request's frontend (cut to the slot's length); no sample
    /// leaves the slot as it was.
    Capture {
        /// The sample expression.
        expr: Expr,
        /// The slot (request slots in `http-request`, response slots in
        /// `http-response`).
        id: usize,
    },
}

/// One `use_backend` rule.
#[derive(Debug, Clone)]
pub struct UseBackend {
    /// Which backend.
    pub backend: BackendChoice,
    /// `if`/`unless` folded in; `None` always applies.
    pub cond: Option<Condition>,
}

/// The backend of a `use_backend` rule.
#[derive(Debug, Clone)]
pub enum BackendChoice {
    /// A backend named in the config.
    Static(BackendId),
    /// `backend = "%[...]"`: a log-format evaluated per request whose
    /// result names the backend (HAProxy's dynamic `use_backend`). A name
    /// that is not a backend makes the rule not apply; the next rule (or
    /// `default_backend`) decides.
    Dynamic(LogFormat),
}

impl BackendChoice {
    /// The backend of a static choice.
    pub fn backend(&self) -> Option<BackendId> {
        match self {
            BackendChoice::Static(i) => Some(*i),
            BackendChoice::Dynamic(_) => None,
        }
    }
}

/// `[backend.<name>]`.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The section name.
    pub name: String,
    /// 1-based, in file order (HAProxy's `be_id`).
    pub id: u32,
    /// `mode`: a TCP frontend routes only to TCP backends, an HTTP one only
    /// to HTTP backends.
    pub mode: crate::ProxyMode,
    /// Servers in file order; may be empty (requests get 503).
    pub servers: Vec<Server>,
    /// `balance`.
    pub balance: Balance,
    /// `hash-type`: how the hashing algorithms (`source`, `uri`, `hdr`) map a
    /// key to a server.
    pub hash_type: HashType,
    /// `option.allbackups`: when every primary server is unusable, balance
    /// over all usable backups instead of only the first one.
    pub all_backups: bool,
    /// `retries`: how many times a request that never reached a server is
    /// tried again (HAProxy's default 3).
    pub retries: u32,
    /// `option.redispatch`: which retries go to another server (when one
    /// is usable). gwd's default is every retry (HAProxy's is none).
    pub redispatch: Redispatch,
    /// `retry-on`: which failures a retry may follow.
    pub retry_on: RetryOn,
    /// `option.httpchk` and `http-check.*`: what the servers' health checks
    /// send and expect. `None`: checks are TCP connects (Layer4).
    pub http_check: Option<gwd_check::HttpCheck>,
    /// Timeouts: `[defaults]` with this section's overrides applied.
    pub timeouts: Timeouts,
    /// `option.forwardfor`, inherited or set here.
    pub forwardfor: Option<ForwardFor>,
    /// `errorfile`/`errorloc*` pages (see [`ErrorPages`]).
    pub error_pages: ErrorPages,
    /// `compression`: inherited from `[defaults]`, extended here.
    pub compression: crate::compression::Compression,
    /// `http-request` rules run once this backend is chosen (empty for a `listen`, whose rules are on its frontend).
    pub http_request: Vec<HttpRequestRule>,
    /// `http-response` rules, run first on a server's answer (empty for a
    /// `listen`, whose rules are on its frontend).
    pub http_response: Vec<HttpResponseRule>,
    /// `http-after-response` rules, run first on every answer (empty for a
    /// `listen`).
    pub http_after_response: Vec<HttpResponseRule>,
    /// `http-reuse`.
    pub http_reuse: HttpReuse,
    /// Pool settings of the backend (servers carry their own copy).
    pub pool: PoolSettings,
}

/// Load-balancing algorithm (`balance`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// `roundrobin`: each server in turn, in proportion to its weight;
    /// weights may change at run time.
    #[default]
    RoundRobin,
    /// `static-rr`: as `roundrobin`, weights fixed (only 0% and 100% at
    /// run time).
    StaticRr,
    /// `leastconn`: the server with the fewest requests in flight for its
    /// weight; ties rotate.
    LeastConn,
    /// `first`: the first server (in config order) with a free slot
    /// (`maxconn`).
    First,
    /// `source`: a hash of the client's IP address.
    Source,
    /// `uri [len N] [depth N] [whole]`: a hash of the path (and the query
    /// with `whole`), cut to `depth` directories and `len` characters.
    Uri {
        /// `len`: at most this many characters are hashed.
        len: Option<usize>,
        /// `depth`: at most this many directories are hashed.
        depth: Option<usize>,
        /// `whole`: the query string is part of the key.
        whole: bool,
    },
    /// `hdr(<name>)`: a hash of a request header's value; round robin for
    /// requests without it.
    Hdr {
        /// The header name, lower case.
        name: String,
    },
    /// `random(<draws>)`: the least busy of `draws` random servers (power of
    /// `draws` choices; default 2).
    Random {
        /// How many servers are drawn.
        draws: u32,
    },
}

impl Balance {
    /// HAProxy's name of the algorithm, as `show stat`'s `algo` column
    /// shows it (`roundrobin`, `static-rr`, `leastconn`, ...).
    pub fn haproxy_name(&self) -> &'static str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::StaticRr => "static-rr",
            Balance::LeastConn => "leastconn",
            Balance::First => "first",
            Balance::Source => "source",
            Balance::Uri { .. } => "uri",
            Balance::Hdr { .. } => "hdr",
            Balance::Random { .. } => "random",
        }
    }
}

impl Balance {
    /// Whether the algorithm hashes a key (`hash-type` applies).
    pub fn is_hash(&self) -> bool {
        matches!(
            self,
            Balance::Source | Balance::Uri { .. } | Balance::Hdr { .. }
        )
    }
}

/// `hash-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// `map-based` (HAProxy's default): the key picks a slot in a table of
    /// the usable servers; any change of that set moves most keys.
    #[default]
    MapBased,
    /// `consistent`: a hash ring; a server going away moves only its keys.
    Consistent,
}

/// `http-reuse`: which requests may be sent over an idle (pooled) server
/// connection. A connection is *proven* once it has been reused for a
/// request at least once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// `"never"`: never reuse an idle connection.
    Never,
    /// `"safe"` (the default): the first request of a client connection
    /// always gets a server connection of its own; later requests may reuse
    /// any idle connection.
    #[default]
    Safe,
    /// `"aggressive"`: like `Safe`, except that the first request of a client
    /// connection may reuse a proven idle connection.
    Aggressive,
    /// `"always"`: every request may reuse any idle connection.
    Always,
}

/// Idle server-connection pool settings (`pool-*`), per backend with
/// per-server overrides already applied in `Server::pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// `pool-purge-delay`, default 5s.
    pub purge_delay: Duration,
    /// `pool-max-conn`: idle connections kept per server; `None` = unlimited
    /// (HAProxy's -1), `Some(0)` = no pooling.
    pub max_conn: Option<usize>,
    /// `pool-low-conn`: below this many idle connections, a request that could
    /// reuse one opens a new one instead (keeps warm connections spread).
    pub low_conn: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            purge_delay: Duration::from_secs(5),
            max_conn: None,
            low_conn: 0,
        }
    }
}

/// A `server` entry.
#[derive(Debug, Clone)]
pub struct Server {
    /// The server name, unique within its backend.
    pub name: String,
    /// 1-based within its backend (HAProxy's `sv_id`).
    pub id: u32,
    /// Where to connect, or `rhttp@` (requests go down registered tunnels).
    pub target: ServerTarget,
    /// Protocol spoken to the server; always [`ServerProto::H2`] for an
    /// `rhttp@` server (tunnels are HTTP/2).
    pub proto: ServerProto,
    /// Present when `ssl = true`; always `None` for an `rhttp@` server
    /// (its tunnels' TLS is the registration bind's).
    pub tls: Option<ServerTls>,
    /// The backend's pool settings with this server's overrides applied
    /// (an `rhttp@` server takes no `pool-*` key: the backend's).
    pub pool: PoolSettings,
    /// `weight` (0..=256, default 1): its share of the backend's requests;
    /// 0 takes none.
    pub weight: u32,
    /// `backup`: used only when no primary server is usable.
    pub backup: bool,
    /// `maxconn`: at most this many requests in flight on the server; more
    /// wait in the backend's queue (`timeout.queue`).
    pub maxconn: Option<u32>,
    /// `disabled`: starts in maintenance (the runtime API's `enable server`
    /// brings it in).
    pub disabled: bool,
    /// `check = true`: active health checks and their settings.
    pub check: Option<ServerCheck>,
}

/// A server's active health checks (`check = true` and the keys that tune
/// it, HAProxy's server keywords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCheck {
    /// `rise`, `fall`, `inter`, `fastinter`, `downinter`.
    pub health: gwd_check::HealthParams,
    /// `port`: the port checks connect to (default: the server's).
    pub port: Option<u16>,
    /// `check-addr` (HAProxy's `addr`): the host checks connect to
    /// (default: the server's).
    pub addr: Option<String>,
    /// `check-ssl`: checks run over TLS (with the server's TLS settings,
    /// or none verified when the server has no `ssl`).
    pub ssl: bool,
    /// `check-sni`: the SNI of TLS checks.
    pub sni: Option<String>,
    /// `observe`: passive checks on real traffic.
    pub observe: Option<Observe>,
    /// `check-proto`: HTTP checks speak HTTP/2 (prior knowledge, or ALPN
    /// `h2` with `check-ssl`). Default: the server's `proto` when the
    /// checks go to the server's own address and port, else HTTP/1.x.
    pub h2: bool,
}

/// Passive health checks (`observe layer4|layer7`, `error-limit`,
/// `on-error`): errors seen by real requests count against the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observe {
    /// `layer7`: besides connection failures and timeouts, invalid answers
    /// and 5xx statuses (but 501 and 505) count as errors.
    pub layer7: bool,
    /// `error-limit`: consecutive errors that trigger `on-error` (default 10).
    pub error_limit: u32,
    /// `on-error`: what reaching the limit does.
    pub on_error: OnError,
}

/// `on-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// `fastinter`: the next active check runs at `fastinter` at once.
    FastInter,
    /// `fail-check` (the default): counts as one failed check.
    #[default]
    FailCheck,
    /// `sudden-death`: one failed check away from down.
    SuddenDeath,
    /// `mark-down`: down at once.
    MarkDown,
}

impl Server {
    /// The network address of an ordinary server; `None` for `rhttp@`.
    pub fn net_addr(&self) -> Option<&ServerAddr> {
        match &self.target {
            ServerTarget::Net(a) => Some(a),
            ServerTarget::Reverse(_) => None,
        }
    }

    /// The tunnel settings of an `rhttp@` server.
    pub fn reverse(&self) -> Option<&ReverseServer> {
        match &self.target {
            ServerTarget::Net(_) => None,
            ServerTarget::Reverse(r) => Some(r),
        }
    }
}

/// Where a server's requests go.
#[derive(Debug, Clone)]
pub enum ServerTarget {
    /// An address gwd connects to.
    Net(ServerAddr),
    /// `addr = "rhttp@"`: the server never connects; requests go down
    /// tunnels registered by `attach-srv` rules (gateway side).
    Reverse(ReverseServer),
}

/// Settings of an `rhttp@` server.
#[derive(Debug, Clone)]
pub struct ReverseServer {
    /// `pool-conn-name` (or `sni`, its alias as in HAProxy): evaluated per
    /// request, the tunnel name to use. `None`: the server uses tunnels
    /// attached without a name.
    pub name: Option<Expr>,
    /// `idle-ping`: PING an idle tunnel after this much silence; drop it
    /// when the PING is not answered within the same delay.
    pub idle_ping: Option<Duration>,
}

/// Host (IP literal or name, resolved at connect time) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// IP literal (IPv6 without brackets) or DNS name.
    pub host: String,
    /// 1-65535.
    pub port: u16,
}

/// Protocol spoken to a server (`proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerProto {
    /// HTTP/1.1 (default).
    #[default]
    H1,
    /// HTTP/2 (prior knowledge in clear, ALPN `h2` with TLS).
    H2,
}

/// TLS settings of a server (`ssl = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// SNI sent; default: the server host when it is a name.
    pub sni: Option<String>,
    /// `verify = "required"` (default) checks the chain against `ca`;
    /// `"none"` accepts any certificate.
    pub verify: Verify,
    /// CA bundle the server certificate must chain to (`ca-file`).
    pub ca: Option<PathBuf>,
    /// ALPN offered; default from `proto` (`h2` or `http/1.1`).
    pub alpn: Vec<String>,
    /// Client certificate chain presented to the server (`crt`), PEM.
    pub cert: Option<PathBuf>,
    /// Its private key (`key`; the `crt` file itself when unset).
    pub key: Option<PathBuf>,
}

pub use crate::diag::{Diagnostic, Location, Severity};
