//! The keys each section of the file accepts, the `http-request` actions
//! and conditions, and what gwd answers "not supported yet" for (a
//! HAProxy keyword it lacks, as opposed to a typo).

pub(super) const TOP_KEYS: &[&str] = &[
    "global", "defaults", "frontend", "backend", "listen", "userlist",
];
pub(super) const GLOBAL_KEYS: &[&str] = &[
    "hard-stop-after",
    "nbthread",
    "limited-quic",
    "tune",
    "stats-socket",
    "expose-experimental-directives",
    "spread-checks",
    "maxconn",
    "pidfile",
    "user",
    "uid",
    "group",
    "gid",
    "chroot",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "log",
];
pub(super) const GLOBAL_DOTTED: &[&str] = &["tune.bufsize", "tune.maxpollevents"];
pub(super) const TIMEOUT_KEYS: &[&str] = &[
    "connect",
    "client",
    "server",
    "http-request",
    "http-keep-alive",
    "tunnel",
    "tunnel-wait",
    "check",
    "queue",
    "tarpit",
];
/// The keys of the `option` table.
pub(super) const OPTION_KEYS: &[&str] = &[
    "forwardfor",
    "httpchk",
    "allbackups",
    "redispatch",
    "httplog",
    "dontlognull",
    "log-separate-errors",
    "tcplog",
];
/// HAProxy's default `retries`.
pub(super) const DEFAULT_RETRIES: u32 = 3;
pub(super) const PROXY_DOTTED: &[&str] = &[
    "timeout.connect",
    "timeout.client",
    "timeout.server",
    "timeout.http-request",
    "timeout.http-keep-alive",
    "timeout.tunnel",
    "timeout.tunnel-wait",
    "timeout.check",
    "timeout.queue",
    "timeout.tarpit",
    "option.forwardfor",
    "option.httpchk",
    "option.allbackups",
    "option.redispatch",
    "option.httplog",
    "option.dontlognull",
    "option.log-separate-errors",
    "option.tcplog",
    "http-check.send",
    "http-check.expect",
    "tcp-request.session",
    "tcp-request.connection",
    "tcp-request.content",
    "tcp-request.inspect-delay",
    "stats.uri",
    "stats.refresh",
    "stats.auth",
    "stats.realm",
    "stats.hide-version",
];
/// The error-page keys every proxy section and `[defaults]` take.
const ERROR_PAGE_KEYS: [&str; 5] = [
    "errorfile",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "http-error",
];
const DEFAULTS_OWN_KEYS: [&str; 17] = [
    "mode",
    "timeout",
    "option",
    "http-reuse",
    "balance",
    "hash-type",
    "retries",
    "retry-on",
    "http-check",
    "pool-purge-delay",
    "pool-max-conn",
    "pool-low-conn",
    "log",
    "log-format",
    "unique-id-format",
    "unique-id-header",
    "compression",
];
pub(super) const DEFAULTS_KEYS: &[&str] =
    &concat_keys::<17, 5, 22>(DEFAULTS_OWN_KEYS, ERROR_PAGE_KEYS);
const FRONTEND_OWN_KEYS: [&str; 19] = [
    "mode",
    "timeout",
    "option",
    "bind",
    "acl",
    "tcp-request",
    "http-request",
    "http-response",
    "http-after-response",
    "use_backend",
    "default_backend",
    "stats",
    "maxconn",
    "log",
    "log-format",
    "unique-id-format",
    "unique-id-header",
    "compression",
    "capture",
];
pub(super) const FRONTEND_KEYS: &[&str] =
    &concat_keys::<19, 5, 24>(FRONTEND_OWN_KEYS, ERROR_PAGE_KEYS);
const BACKEND_OWN_KEYS: [&str; 18] = [
    "mode",
    "timeout",
    "option",
    "acl",
    "http-request",
    "http-response",
    "http-after-response",
    "balance",
    "hash-type",
    "retries",
    "retry-on",
    "http-check",
    "server",
    "http-reuse",
    "pool-purge-delay",
    "pool-max-conn",
    "pool-low-conn",
    "compression",
];
pub(super) const BACKEND_KEYS: &[&str] =
    &concat_keys::<18, 5, 23>(BACKEND_OWN_KEYS, ERROR_PAGE_KEYS);
const LISTEN_OWN_KEYS: [&str; 29] = [
    "mode",
    "timeout",
    "option",
    "bind",
    "acl",
    "tcp-request",
    "http-request",
    "http-response",
    "http-after-response",
    "use_backend",
    "default_backend",
    "stats",
    "maxconn",
    "balance",
    "hash-type",
    "retries",
    "retry-on",
    "http-check",
    "server",
    "http-reuse",
    "pool-purge-delay",
    "pool-max-conn",
    "pool-low-conn",
    "log",
    "log-format",
    "unique-id-format",
    "unique-id-header",
    "compression",
    "capture",
];
pub(super) const LISTEN_KEYS: &[&str] = &concat_keys::<29, 5, 34>(LISTEN_OWN_KEYS, ERROR_PAGE_KEYS);
pub(super) const FRONT_ONLY: &[&str] = &[
    "capture",
    "bind",
    "tcp-request",
    "use_backend",
    "default_backend",
    "stats",
    "log",
    "log-format",
    "unique-id-format",
    "unique-id-header",
];
/// The keys of a `stats` table (the stats page).
pub(super) const STATS_KEYS: &[&str] = &["uri", "refresh", "auth", "realm", "hide-version"];
pub(super) const BACK_ONLY: &[&str] = &[
    "server",
    "balance",
    "hash-type",
    "retries",
    "retry-on",
    "http-check",
    "http-reuse",
    "pool-purge-delay",
    "pool-max-conn",
    "pool-low-conn",
];
pub(super) const BIND_KEYS: &[&str] = &[
    "addr",
    "ssl",
    "crt",
    "crt-list",
    "key",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "alpn",
    "verify",
    "ca-file",
    "proto",
    "allow-0rtt",
    "nbconn",
    "idle-ping",
    "backoff-max",
    "maxconn",
];
/// The only keys of an `rhttp@` bind.
pub(super) const REVERSE_BIND_KEYS: &[&str] = &["addr", "nbconn", "idle-ping", "backoff-max"];
/// A server's own keys (besides its health-check keys).
pub(super) const SERVER_OWN_KEYS: [&str; 19] = [
    "name",
    "addr",
    "proto",
    "ssl",
    "sni",
    "verify",
    "ca-file",
    "alpn",
    "crt",
    "key",
    "pool-purge-delay",
    "pool-max-conn",
    "pool-low-conn",
    "pool-conn-name",
    "idle-ping",
    "weight",
    "backup",
    "maxconn",
    "disabled",
];
/// Every key of a server entry.
pub(super) const SERVER_KEYS: &[&str] = &concat_keys::<19, 14, 33>(SERVER_OWN_KEYS, CHECK_KEY_LIST);
/// The only keys of an `rhttp@` server.
pub(super) const REVERSE_SERVER_KEYS: &[&str] = &[
    "name",
    "addr",
    "pool-conn-name",
    "sni",
    "idle-ping",
    "weight",
    "backup",
    "maxconn",
    "disabled",
];
/// The health-check keys of a server.
pub(super) const CHECK_KEY_LIST: [&str; 14] = [
    "check",
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
pub(super) const CHECK_KEYS: &[&str] = &CHECK_KEY_LIST;

/// `a` then `b`, at compile time (`C` must be `A + B`).
const fn concat_keys<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}
/// HAProxy keywords gwd knows but does not implement yet: refused as
/// "not supported yet" (with what to do instead), never as a typo.
pub(super) const NOT_YET: &[(&str, &str)] = &[
    (
        "default-server",
        "write the keys on each `server` entry; backends and `[defaults]` already carry `pool-*`",
    ),
    (
        "agent-check",
        "agent checks are not implemented; use `check` with `option.httpchk`",
    ),
    (
        "agent-port",
        "agent checks are not implemented; use `check` with `option.httpchk`",
    ),
    (
        "agent-inter",
        "agent checks are not implemented; use `check` with `option.httpchk`",
    ),
    (
        "agent-addr",
        "agent checks are not implemented; use `check` with `option.httpchk`",
    ),
    (
        "agent-send",
        "agent checks are not implemented; use `check` with `option.httpchk`",
    ),
    (
        "slowstart",
        "a server takes its full weight as soon as it is up",
    ),
    (
        "track",
        "each server is checked on its own; use `check` on it",
    ),
    (
        "cookie",
        "cookie persistence is not implemented; `balance = \"source\"` or `hdr(...)` keeps a client on one server",
    ),
    ("minconn", "use `maxconn`"),
    ("maxqueue", "use `timeout.queue` to bound the wait"),
    (
        "on-marked-down",
        "servers going down keep their connections",
    ),
    ("on-marked-up", "servers coming up take new requests only"),
    ("fullconn", "use `maxconn` on the servers"),
    // Proxy keywords (HAProxy's section 4).
    (
        "errorfiles",
        "write one `errorfile = [ { code = 503, file = \"...\" } ]` entry per page",
    ),
    (
        "stick-table",
        "stick tables are not implemented; `balance = \"source\"` keeps a client on one server",
    ),
    (
        "stick",
        "stick tables are not implemented; `balance = \"source\"` keeps a client on one server",
    ),
    (
        "redirect",
        "write it as an `http-request` rule: `{ action = \"redirect\", location = \"...\" }`",
    ),
    (
        "monitor-uri",
        "answer probes with an `http-request` `return` rule on their path",
    ),
    (
        "monitor",
        "answer probes with an `http-request` `return` rule on their path",
    ),
    ("rate-limit", "limit connections with `maxconn`"),
    (
        "persist",
        "persistence is not implemented; `balance = \"source\"` keeps a client on one server",
    ),
    (
        "force-persist",
        "persistence is not implemented; `balance = \"source\"` keeps a client on one server",
    ),
    (
        "ignore-persist",
        "persistence is not implemented; `balance = \"source\"` keeps a client on one server",
    ),
    (
        "use-server",
        "route with `use_backend` to a backend holding that server",
    ),
    ("server-template", "write one `server` entry per server"),
    ("dispatch", "write it as a `server` entry"),
    (
        "tcp-response",
        "TCP mode relays the server's bytes unchanged: no rules run on them",
    ),
    (
        "tcp-check",
        "TCP scripts are not implemented: `check = true` checks the TCP connect, `option.httpchk` an HTTP answer",
    ),
    (
        "filter",
        "filters (cache, SPOE, bandwidth limits, traces) are not implemented; `compression` is a key of its own",
    ),
    (
        "http-send-name-header",
        "add the header with an `http-request` `set-header` rule",
    ),
    ("email-alert", "log to syslog and alert from there"),
    // Global compression limits (gwd-deflate is a fixed fast encoder, with
    // no rate, CPU or memory cap).
    (
        "maxcomprate",
        "gwd compresses at a fixed fast level with no rate limit; narrow `compression.type` to compress less",
    ),
    (
        "maxcompcpuusage",
        "gwd compresses at a fixed fast level with no CPU limit; narrow `compression.type` to compress less",
    ),
    (
        "maxzlibmem",
        "gwd's encoder keeps 32 bytes per compressed answer (and 32 KiB of scratch per thread), so there is no zlib memory to cap",
    ),
    // Top-level sections.
    (
        "peers",
        "stick tables are not implemented, so nothing to share",
    ),
    (
        "resolvers",
        "server addresses are IP addresses: gwd does not resolve names at run time",
    ),
    (
        "http-errors",
        "write `errorfile` entries in `[defaults]` or in each section",
    ),
    ("cache", "caching is not implemented"),
    (
        "ring",
        "log to stdout, stderr, a unix socket or a UDP address",
    ),
    ("mailers", "log to syslog and alert from there"),
    ("program", "run other programs from your service manager"),
    ("fcgi-app", "FastCGI is not implemented: gwd proxies HTTP"),
];
pub(super) const SESSION_ACTIONS: &[&str] = &["attach-srv", "reject", "accept"];
pub(super) const ACTIONS: &[&str] = &[
    "return",
    "deny",
    "set-header",
    "add-header",
    "del-header",
    "set-map",
    "del-map",
    "add-acl",
    "del-acl",
    "use-service",
    "redirect",
    "set-path",
    "set-pathq",
    "set-uri",
    "set-query",
    "set-method",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "replace-header",
    "replace-value",
    "set-var",
    "set-var-fmt",
    "set-log-level",
    "tarpit",
    "unset-var",
    "capture",
    "auth",
];
pub(super) const COND_KEYS: &[&str] = &["if", "unless"];
