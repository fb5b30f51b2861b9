//! Every keyword of HAProxy 2.6's manual that gwd does not implement, so
//! that `gwd check` answers "not supported yet" (with what to do instead)
//! for a real HAProxy keyword and keeps "unknown key" for typos.
//!
//! The lists are HAProxy's own: the global keywords of section 3 and the
//! proxy keywords matrix of section 4.1 of `configuration.txt` (Debian's
//! 2.6.12 package), less what gwd implements. Keywords are spelled as in
//! haproxy.cfg (`option http-server-close`, `timeout client-fin`,
//! `tune.maxaccept`); [`haproxy_spelling`] turns a TOML key and the table
//! it sits in into that spelling.

use std::borrow::Cow;

/// Global keywords (section 3) gwd has no equivalent for.
const GLOBAL: &[&str] = &[
    "51degrees-cache-size",
    "51degrees-data-file",
    "51degrees-property-name-list",
    "51degrees-property-separator",
    "busy-polling",
    "ca-base",
    "cluster-secret",
    "cpu-map",
    "crt-base",
    "daemon",
    "default-path",
    "description",
    "deviceatlas-json-file",
    "deviceatlas-log-level",
    "deviceatlas-properties-cookie",
    "deviceatlas-separator",
    "external-check",
    "fd-hard-limit",
    "grace",
    "h1-accept-payload-with-any-method",
    "h1-case-adjust",
    "h1-case-adjust-file",
    "h2-workaround-bogus-websocket-clients",
    "httpclient.resolvers.id",
    "httpclient.resolvers.prefer",
    "httpclient.ssl.ca-file",
    "httpclient.ssl.verify",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "issuers-chain-path",
    "localpeer",
    "log-send-hostname",
    "log-tag",
    "lua-load",
    "lua-load-per-thread",
    "lua-prepend-path",
    "master-worker",
    "max-spread-checks",
    "maxconnrate",
    "maxpipes",
    "maxsessrate",
    "maxsslconn",
    "maxsslrate",
    "mworker-max-reloads",
    "no-memory-trimming",
    "node",
    "noepoll",
    "noevports",
    "nogetaddrinfo",
    "nokqueue",
    "nopoll",
    "noreuseport",
    "nosplice",
    "numa-cpu-mapping",
    "pp2-never-send-local",
    "presetenv",
    "profiling.tasks",
    "quiet",
    "resetenv",
    "server-state-base",
    "server-state-file",
    "set-dumpable",
    "set-var",
    "setenv",
    "ssl-default-bind-curves",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
    "ssl-dh-param-file",
    "ssl-engine",
    "ssl-mode-async",
    "ssl-propquery",
    "ssl-provider",
    "ssl-provider-path",
    "ssl-server-verify",
    "ssl-skip-self-issued-ca",
    "strict-limits",
    "tune.buffers.limit",
    "tune.buffers.reserve",
    "tune.comp.maxlevel",
    "tune.fail-alloc",
    "tune.fd.edge-triggered",
    "tune.h2.header-table-size",
    "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams",
    "tune.http.cookielen",
    "tune.http.logurilen",
    "tune.http.maxhdr",
    "tune.idle-pool.shared",
    "tune.idletimer",
    "tune.lua.forced-yield",
    "tune.lua.maxmem",
    "tune.lua.service-timeout",
    "tune.lua.session-timeout",
    "tune.lua.task-timeout",
    "tune.maxaccept",
    "tune.maxrewrite",
    "tune.pattern.cache-size",
    "tune.peers.max-updates-at-once",
    "tune.pipesize",
    "tune.pool-high-fd-ratio",
    "tune.pool-low-fd-ratio",
    "tune.quic.frontend.conn-tx-buffers.limit",
    "tune.quic.frontend.max-idle-timeout",
    "tune.quic.frontend.max-streams-bidi",
    "tune.quic.retry-threshold",
    "tune.rcvbuf.client",
    "tune.rcvbuf.server",
    "tune.recv_enough",
    "tune.runqueue-depth",
    "tune.sched.low-latency",
    "tune.sndbuf.client",
    "tune.sndbuf.server",
    "tune.ssl.cachesize",
    "tune.ssl.capture-buffer-size",
    "tune.ssl.capture-cipherlist-size",
    "tune.ssl.default-dh-param",
    "tune.ssl.force-private-cache",
    "tune.ssl.hard-maxrecord",
    "tune.ssl.keylog",
    "tune.ssl.lifetime",
    "tune.ssl.maxrecord",
    "tune.ssl.ssl-ctx-cache-size",
    "tune.vars.global-max-size",
    "tune.vars.proc-max-size",
    "tune.vars.reqres-max-size",
    "tune.vars.sess-max-size",
    "tune.vars.txn-max-size",
    "tune.zlib.memlevel",
    "tune.zlib.windowsize",
    "ulimit-n",
    "unix-bind",
    "unsetenv",
    "wurfl-cache-size",
    "wurfl-data-file",
    "wurfl-information-list",
    "wurfl-information-list-separator",
    "zero-warning",
];

/// Proxy keywords (section 4.1) gwd has no equivalent for, besides the
/// ones `keys::NOT_YET` explains one by one.
const PROXY: &[&str] = &[
    "backlog",
    "bind-process",
    "clitcpka-cnt",
    "clitcpka-idle",
    "clitcpka-intvl",
    "description",
    "disabled",
    "enabled",
    "error-log-format",
    "external-check",
    "id",
    "load-server-state-from-file",
    "log-format-sd",
    "log-tag",
    "max-keep-alive-queue",
    "option abortonclose",
    "option accept-invalid-http-request",
    "option accept-invalid-http-response",
    "option checkcache",
    "option clitcpka",
    "option contstats",
    "option disable-h2-upgrade",
    "option dontlog-normal",
    "option external-check",
    "option h1-case-adjust-bogus-client",
    "option h1-case-adjust-bogus-server",
    "option http-buffer-request",
    "option http-ignore-probes",
    "option http-keep-alive",
    "option http-no-delay",
    "option http-pretend-keepalive",
    "option http-restrict-req-hdr-names",
    "option http-server-close",
    "option http-use-proxy-header",
    "option httpclose",
    "option httpslog",
    "option idle-close-on-response",
    "option independent-streams",
    "option ldap-check",
    "option log-health-checks",
    "option logasap",
    "option mysql-check",
    "option nolinger",
    "option originalto",
    "option persist",
    "option pgsql-check",
    "option prefer-last-server",
    "option redis-check",
    "option smtpchk",
    "option socket-stats",
    "option splice-auto",
    "option splice-request",
    "option splice-response",
    "option spop-check",
    "option srvtcpka",
    "option ssl-hello-chk",
    "option tcp-check",
    "option tcp-smart-accept",
    "option tcp-smart-connect",
    "option tcpka",
    "option transparent",
    "server-state-file-name",
    "source",
    "srvtcpka-cnt",
    "srvtcpka-idle",
    "srvtcpka-intvl",
    "timeout client-fin",
    "timeout server-fin",
    "transparent",
    "use-fcgi-app",
];

/// Bind options (section 5.1), those gwd takes included: a key of a
/// `bind` entry that is one of these and not one of gwd's is not supported
/// yet.
const BIND: &[&str] = &[
    "accept-netscaler-cip",
    "accept-proxy",
    "allow-0rtt",
    "alpn",
    "backlog",
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "defer-accept",
    "ecdhe",
    "expose-fd",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "gid",
    "group",
    "id",
    "interface",
    "level",
    "maxconn",
    "mode",
    "mss",
    "namespace",
    "nice",
    "no-ca-names",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "npn",
    "prefer-client-ciphers",
    "process",
    "proto",
    "quic-cc-algo",
    "quic-force-retry",
    "severity-output",
    "shards",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "strict-sni",
    "tcp-ut",
    "tfo",
    "thread",
    "tls-ticket-keys",
    "transparent",
    "uid",
    "user",
    "v4v6",
    "v6only",
    "verify",
];

/// Server options (section 5.2), those gwd takes included (same rule).
const SERVER: &[&str] = &[
    "addr",
    "agent-addr",
    "agent-check",
    "agent-inter",
    "agent-port",
    "agent-send",
    "allow-0rtt",
    "alpn",
    "backup",
    "ca-file",
    "check",
    "check-alpn",
    "check-proto",
    "check-send-proxy",
    "check-sni",
    "check-ssl",
    "check-via-socks4",
    "ciphers",
    "ciphersuites",
    "cookie",
    "crl-file",
    "crt",
    "disabled",
    "downinter",
    "enabled",
    "error-limit",
    "fall",
    "fastinter",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "id",
    "init-addr",
    "inter",
    "log-proto",
    "max-reuse",
    "maxconn",
    "maxqueue",
    "minconn",
    "namespace",
    "no-agent-check",
    "no-backup",
    "no-check",
    "no-check-ssl",
    "no-send-proxy",
    "no-send-proxy-v2",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "no-ssl",
    "no-ssl-reuse",
    "no-sslv3",
    "no-tfo",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-verifyhost",
    "non-stick",
    "npn",
    "observe",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "port",
    "proto",
    "proxy-v2-options",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "rise",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "slowstart",
    "sni",
    "socks4",
    "source",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "ssl-reuse",
    "stick",
    "tcp-ut",
    "tfo",
    "tls-tickets",
    "track",
    "verify",
    "verifyhost",
    "weight",
    "ws",
];

/// How HAProxy spells the key `key` of the table at `path` (`option`,
/// `timeout` and `tune` tables prefix their keys; every other key is a
/// keyword of its own).
pub(super) fn haproxy_spelling<'a>(path: &str, key: &'a str) -> Cow<'a, str> {
    match path.rsplit('.').next() {
        Some("option") => Cow::Owned(format!("option {key}")),
        Some("timeout") => Cow::Owned(format!("timeout {key}")),
        Some("tune") if path.ends_with("global.tune") => Cow::Owned(format!("tune.{key}")),
        _ => Cow::Borrowed(key),
    }
}

/// The help for key `key` of the table at `path` when it is a HAProxy
/// keyword gwd lacks: section keywords in sections and their `option`,
/// `timeout` and `tune` tables; only the keywords of `keys::NOT_YET`
/// inside entries (a server's or a bind's `id` is not a proxy's).
pub(super) fn not_yet_at(path: &str, key: &str) -> Option<(Cow<'static, str>, String)> {
    if path.contains('[') {
        let h = super::keys::NOT_YET.iter().find(|(k, _)| *k == key)?;
        return Some((Cow::Borrowed(h.1), key.to_owned()));
    }
    let word = haproxy_spelling(path, key);
    not_yet(&word).map(|h| (h, word.into_owned()))
}

/// The help for key `key` of a `server` or `bind` entry at `path` when it
/// is one of HAProxy's server or bind keywords that gwd lacks. Asked after
/// the entry's own checks (a key that belongs to another kind of entry, an
/// `rhttp@` server's limits), which say more.
pub(super) fn entry_not_yet(path: &str, key: &str) -> Option<Cow<'static, str>> {
    {
        let entry = path.rsplit('.').next().unwrap_or_default();
        let list = if entry.starts_with("server[") {
            SERVER
        } else if entry.starts_with("bind[") {
            BIND
        } else {
            return None;
        };
        list.contains(&key).then(|| Cow::Borrowed(entry_help(key)))
    }
}

/// What to do instead of `word`, a HAProxy keyword as haproxy.cfg spells
/// it, when gwd does not implement it; `None` when it is not one of
/// HAProxy's (a typo) or when gwd implements it. A TOML table that
/// groups several keywords (`tune.h2`, `tune.ssl`) counts as them.
pub(super) fn not_yet(word: &str) -> Option<Cow<'static, str>> {
    if let Some(h) = super::keys::NOT_YET.iter().find(|(k, _)| *k == word) {
        return Some(Cow::Borrowed(h.1));
    }
    let known = |list: &[&str]| {
        list.iter().any(|k| {
            *k == word
                || (k.len() > word.len() && k.starts_with(word) && k.as_bytes()[word.len()] == b'.')
        })
    };
    if !known(GLOBAL) && !known(PROXY) {
        return None;
    }
    Some(Cow::Borrowed(help(word)))
}

/// The advice for a server or bind keyword gwd lacks, by family.
fn entry_help(word: &str) -> &'static str {
    match word {
        w if w.contains("proxy") || w == "accept-netscaler-cip" => {
            "the PROXY protocol is not implemented"
        }
        w if w.starts_with("resolve") || w == "init-addr" || w == "resolvers" => {
            "server addresses are IP addresses: gwd does not resolve names at run time"
        }
        w if w.starts_with("force-") || w.starts_with("no-tls") || w == "no-sslv3" => {
            "gwd offers TLS 1.2 and 1.3 only: bound them with `ssl-min-ver` / `ssl-max-ver`"
        }
        "source" | "transparent" | "interface" | "namespace" | "usesrc" => {
            "gwd connects from the address the system chooses"
        }
        w if w.starts_with("agent-") || w.starts_with("check-") || w == "no-agent-check" => {
            "health checks take `check`, `inter`, `fastinter`, `downinter`, `rise`, `fall`, `port`, `check-addr`, `check-ssl`, `check-sni`, `check-proto`"
        }
        _ => "HAProxy has it; gwd does not implement it yet (docs/CONFIG.md#not-supported)",
    }
}

/// The advice for a keyword of [`GLOBAL`] or [`PROXY`], by family.
fn help(word: &str) -> &'static str {
    let w = word.strip_prefix("option ").unwrap_or(word);
    match w {
        "daemon" | "master-worker" | "mworker-max-reloads" | "quiet" | "zero-warning" => {
            "gwd runs in the foreground under a service manager (systemd `Type=notify`); see docs/OPERATIONS.md"
        }
        "http-keep-alive" => {
            "gwd always works in HAProxy's default keep-alive mode: remove the line"
        }
        "http-server-close"
        | "httpclose"
        | "http-pretend-keepalive"
        | "nolinger"
        | "idle-close-on-response" => {
            "gwd keeps visitor and server connections alive (HAProxy's default mode); bound idle ones with `timeout.http-keep-alive` and `pool-purge-delay`"
        }
        "accept-invalid-http-request"
        | "accept-invalid-http-response"
        | "h1-case-adjust-bogus-client"
        | "h1-case-adjust-bogus-server"
        | "h1-case-adjust"
        | "h1-case-adjust-file"
        | "h1-accept-payload-with-any-method"
        | "http-restrict-req-hdr-names"
        | "http-use-proxy-header" => {
            "gwd parses HTTP/1.1 strictly (RFC 9112) and keeps header names as received"
        }
        "ldap-check" | "mysql-check" | "pgsql-check" | "redis-check" | "smtpchk" | "spop-check"
        | "ssl-hello-chk" | "tcp-check" | "external-check" => {
            "protocol checks are not implemented: `check = true` checks the TCP connect, `option.httpchk` an HTTP answer"
        }
        "log-health-checks" => "health checks log their state changes, not each check",
        "dontlog-normal" | "logasap" | "httpslog" | "log-format-sd" | "log-tag"
        | "log-send-hostname" | "error-log-format" => {
            "access lines follow `log-format` (or `option.httplog`/`tcplog`) and are sent when the exchange ends, tagged `gwd`"
        }
        "clitcpka" | "srvtcpka" | "tcpka" | "clitcpka-cnt" | "clitcpka-idle" | "clitcpka-intvl"
        | "srvtcpka-cnt" | "srvtcpka-idle" | "srvtcpka-intvl" => {
            "TCP keep-alive probes are not sent; idle connections end with `timeout.client` and `timeout.server`"
        }
        "client-fin" | "timeout client-fin" | "server-fin" | "timeout server-fin" => {
            "a half-closed connection ends with `timeout.client` / `timeout.server`"
        }
        "splice-auto" | "splice-request" | "splice-response" | "nosplice" | "maxpipes" => {
            "gwd relays through user-space buffers, not splice(2)"
        }
        "source" | "transparent" | "originalto" | "unix-bind" => {
            "gwd connects from the address the system chooses and adds no `X-Original-To`"
        }
        "ca-base" | "crt-base" => {
            "write each file's full path (or one relative to the configuration file)"
        }
        "load-server-state-from-file"
        | "server-state-file-name"
        | "server-state-base"
        | "server-state-file" => {
            "servers start as the configuration says; change their state on the runtime API (`set server ... state`)"
        }
        "disabled" | "enabled" => "remove the section (or comment it out) to disable a proxy",
        "description" | "id" | "node" => {
            "proxies are named by their section and numbered in file order"
        }
        _ if w.starts_with("lua-") || w.starts_with("tune.lua.") => "Lua is not implemented",
        _ if w.starts_with("51degrees-")
            || w.starts_with("deviceatlas-")
            || w.starts_with("wurfl-") =>
        {
            "device detection is not implemented"
        }
        _ if w.starts_with("ssl-")
            || w.starts_with("tune.ssl.")
            || w.starts_with("httpclient.ssl.") =>
        {
            "gwd's TLS (rustls) has its own defaults; the TLS keys gwd takes are listed in docs/CONFIG.md#tls-certificates"
        }
        _ if w.starts_with("tune.") || w.starts_with("max") || w.starts_with("no") => {
            "gwd sizes and tunes this itself; `tune.bufsize`, `tune.maxpollevents`, `maxconn` and `nbthread` are the knobs it has"
        }
        _ => "HAProxy has it; gwd does not implement it yet (docs/CONFIG.md#not-supported)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Server and bind keywords of HAProxy's that gwd lacks are "not
    /// supported yet" in their entries; gwd's own keys never are (they
    /// are valid before this is asked), and a proxy keyword in an entry
    /// stays unknown there.
    #[test]
    fn entry_keywords() {
        for (path, key) in [
            ("backend.app.server[0]", "send-proxy"),
            ("backend.app.server[0]", "id"),
            ("backend.app.server[1]", "resolvers"),
            ("frontend.www.bind[0]", "accept-proxy"),
            ("frontend.www.bind[0]", "backlog"),
            ("frontend.www.bind[2]", "strict-sni"),
        ] {
            assert!(entry_not_yet(path, key).is_some(), "{path} {key}");
        }
        assert!(entry_not_yet("backend.app.server[0]", "sned-proxy").is_none());
        assert!(entry_not_yet("backend.app.server[0]", "balance").is_none());
        assert!(entry_not_yet("frontend.www.bind[0]", "option").is_none());
        assert!(
            entry_not_yet("backend.app.server[0]", "send-proxy")
                .unwrap()
                .contains("PROXY protocol")
        );
    }

    #[test]
    fn spellings_follow_the_table() {
        assert_eq!(
            haproxy_spelling("frontend.www.option", "httpclose"),
            "option httpclose"
        );
        assert_eq!(
            haproxy_spelling("defaults.timeout", "client-fin"),
            "timeout client-fin"
        );
        assert_eq!(
            haproxy_spelling("global.tune", "maxaccept"),
            "tune.maxaccept"
        );
        assert_eq!(haproxy_spelling("backend.app", "source"), "source");
    }

    #[test]
    fn real_keywords_are_not_yet_and_typos_are_not() {
        for w in [
            "option http-server-close",
            "timeout client-fin",
            "tune.maxaccept",
            "tune.h2",
            "log-tag",
            "crt-base",
            "backlog",
            "lua-load",
        ] {
            assert!(not_yet(w).is_some(), "{w}");
        }
        for w in [
            "option http-srever-close",
            "tune.h",
            "tune.h2x",
            "bakclog",
            "option httplog",
        ] {
            assert!(not_yet(w).is_none(), "{w}");
        }
        assert!(not_yet("lua-load").unwrap().contains("Lua"));
    }

    /// Every listed keyword, written in TOML where HAProxy writes it, is
    /// refused by the loader as "not supported yet", never as a typo.
    #[test]
    fn the_loader_says_not_supported_yet_for_each() {
        let toml_line = |w: &str| -> String {
            if let Some(o) = w.strip_prefix("option ") {
                format!("option.{o} = true")
            } else if let Some(t) = w.strip_prefix("timeout ") {
                format!("timeout.{t} = \"1s\"")
            } else if w.contains('.') {
                format!("{w} = 1")
            } else {
                format!("\"{w}\" = true")
            }
        };
        let check = |w: &str, cfg: String| {
            let e = crate::parse_str(&cfg, std::path::Path::new("gw.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not supported yet"), "{w}: {e}");
            assert!(!e.contains("unknown key"), "{w}: {e}");
        };
        for w in GLOBAL {
            check(w, format!("[global]\n{}\n", toml_line(w)));
        }
        for w in PROXY {
            check(
                w,
                format!(
                    "[backend.app]\n{}\nserver = [ {{ name = \"s\", addr = \"127.0.0.1:8080\" }} ]\n",
                    toml_line(w)
                ),
            );
        }
    }
}
