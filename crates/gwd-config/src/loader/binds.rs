//! `bind` and `server` entries.

use std::collections::HashMap;
use std::time::Duration;

use gwd_sample::{Expr, FetchScope};
use toml::de::{DeTable, DeValue};

use super::*;

// ---- binds and servers -----------------------------------------------------

/// A bind plus what the QUIC gate and the duplicate check need.
pub(super) struct ParsedBind {
    pub(super) bind: Bind,
    pub(super) addr_text: String,
    pub(super) addr_at: usize,
    pub(super) addr_path: String,
    /// `allow-0rtt`: value, key position, key path.
    pub(super) zero_rtt: Option<(bool, usize, String)>,
    /// `alpn` written explicitly on a TLS bind: value position, key path.
    pub(super) alpn_at: Option<(usize, String)>,
    /// An `rhttp@<backend>/<server>` bind, resolved once every backend
    /// is known (`bind.addr` holds no server until then).
    pub(super) reverse: Option<PendingRef>,
}

/// A `<backend>/<server>` reference written in a string, resolved after
/// every section has been read (the backend may come later in the file).
#[derive(Clone, Debug)]
pub(super) struct PendingRef {
    pub(super) backend: String,
    pub(super) server: String,
    /// Byte positions of the backend and server names in the source.
    pub(super) backend_at: usize,
    pub(super) server_at: usize,
    /// Key path of the string.
    pub(super) path: String,
}

impl Cx<'_> {
    /// Splits `<backend>/<server>` found at character `offset` (1-based
    /// column of its first character) of the string `v`.
    pub(super) fn backend_server(
        &mut self,
        v: &Val<'_>,
        text: &str,
        offset: usize,
        path: &str,
        example: &str,
    ) -> Option<PendingRef> {
        let parts: Option<(&str, &str)> = text
            .split_once('/')
            .filter(|(b, s)| valid_name(b) && valid_name(s));
        let Some((backend, server)) = parts else {
            self.error(
                self.string_char_pos(v, offset),
                path,
                format!("invalid server reference `{text}`"),
                help(format!(
                    "write `<backend>/<server>`, e.g. `{example}`, naming a backend section \
                     and one of its servers"
                )),
            );
            return None;
        };
        let server_col = offset + backend.chars().count() + 1;
        Some(PendingRef {
            backend: backend.to_owned(),
            server: server.to_owned(),
            backend_at: self.string_char_pos(v, offset),
            server_at: self.string_char_pos(v, server_col),
            path: path.to_owned(),
        })
    }

    /// A duration where 0 means "none" (`idle-ping`, timeouts).
    pub(super) fn optional_duration(
        &mut self,
        v: &Val<'_>,
        path: &str,
    ) -> Option<Option<Duration>> {
        self.duration(v, path)
            .map(|d| Some(d).filter(|d| !d.is_zero()))
    }

    /// The keys of `t` that apply only to another kind of entry: an error
    /// for each one present.
    fn refuse_keys(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        keys: &[&str],
        message: &dyn Fn(&str) -> String,
        fix: &dyn Fn(&str) -> String,
    ) {
        for (k, _) in t.iter() {
            let key: &str = k.get_ref();
            if keys.contains(&key) {
                self.error(
                    k.span().start,
                    &join(path, key),
                    message(key),
                    help(fix(key)),
                );
            }
        }
    }

    /// An `rhttp@<backend>/<server>` bind (origin side).
    fn reverse_bind(
        &mut self,
        t: &DeTable<'_>,
        at: usize,
        path: &str,
        av: &Val<'_>,
        text: &str,
    ) -> Option<ParsedBind> {
        let addr_path = join(path, "addr");
        let others: Vec<&str> = t
            .iter()
            .map(|(k, _)| -> &str { k.get_ref() })
            .filter(|k| BIND_KEYS.contains(k) && !REVERSE_BIND_KEYS.contains(k))
            .collect();
        self.refuse_keys(
            t,
            path,
            &others,
            &|k| {
                format!(
                    "an rhttp@ bind accepts only `nbconn`, `idle-ping` and `backoff-max`, not `{k}`"
                )
            },
            &|k| {
                format!(
                    "remove `{k}`: an rhttp@ bind dials the server it names, and that server \
                     carries every connection setting (`ssl`, `crt`, `proto`, ...)"
                )
            },
        );
        let pending = self.backend_server(
            av,
            text.strip_prefix("rhttp@").unwrap_or(text),
            "rhttp@".len() + 1,
            &addr_path,
            "rhttp@to_gw/gw1",
        );
        let nbconn = match t.get("nbconn") {
            None => Some(1),
            Some(v) => {
                let np = join(path, "nbconn");
                match self.integer(v, &np, "`nbconn = 4`") {
                    Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    Some(n) => {
                        self.error(
                            v.span().start,
                            &np,
                            format!("`nbconn` must be 1 or more, found {n}"),
                            help("`nbconn` is how many tunnels are kept up; leave it out for 1"),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        let idle_ping = match t.get("idle-ping") {
            None => Some(None),
            Some(v) => self.optional_duration(v, &join(path, "idle-ping")),
        };
        let backoff_max = match t.get("backoff-max") {
            None => None,
            Some(v) => {
                let bp = join(path, "backoff-max");
                match self.duration(v, &bp) {
                    Some(d) if d > RHTTP_BACKOFF_BASE => Some(d),
                    Some(d) => {
                        self.error(
                            v.span().start,
                            &bp,
                            format!(
                                "`backoff-max` must be more than the {:?} first re-dial delay, found {d:?}",
                                RHTTP_BACKOFF_BASE
                            ),
                            help(
                                "`backoff-max` caps the wait between re-dials of a gateway, e.g. \
                                 `\"2s\"`; leave it out for 5s",
                            ),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        // With a wrong `nbconn`, `idle-ping` or `backoff-max` (already
        // reported), the reference is still checked.
        let (pending, nbconn, idle_ping) = (pending?, nbconn.unwrap_or(1), idle_ping.flatten());
        Some(ParsedBind {
            bind: Bind {
                addr: BindAddr::Reverse(ReverseBind {
                    server: None,
                    nbconn,
                    idle_ping,
                    backoff_max,
                }),
                tls: None,
                proto: BindProto::Auto,
                maxconn: None,
                location: self.location(at),
            },
            addr_text: text.to_owned(),
            addr_at: av.span().start,
            addr_path,
            zero_rtt: None,
            alpn_at: None,
            reverse: Some(pending),
        })
    }

    /// `crt` / `crt-list`: one path or an array of them (HAProxy allows
    /// the keyword several times). `Some(empty)` when the key is absent;
    /// `None` when a path is bad (already reported).
    fn crt_paths(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
        dirs: bool,
    ) -> Option<Vec<PathBuf>> {
        let kp = join(path, key);
        let Some(v) = t.get(key) else {
            return Some(Vec::new());
        };
        match v.get_ref() {
            DeValue::Array(a) => {
                if a.is_empty() {
                    self.error(
                        v.span().start,
                        &kp,
                        format!("`{key}` is empty"),
                        help("list at least one path, or leave the key out"),
                    );
                    return None;
                }
                let mut out = Vec::new();
                let mut ok = true;
                for (i, e) in a.iter().enumerate() {
                    match self.file_or_dir(e, &index(&kp, i), dirs) {
                        Some(p) => out.push(p),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            _ => self.file_or_dir(v, &kp, dirs).map(|p| vec![p]),
        }
    }

    pub(super) fn bind(&mut self, v: &Val<'_>, path: &str) -> Option<ParsedBind> {
        let t = self.table(
            v,
            path,
            "write each bind as a table, e.g. `{ addr = \":8080\" }`",
        )?;
        let at = v.span().start;
        self.check_keys(t, path, "a bind", BIND_KEYS, &[], &|_| None);
        let addr_v = self.required(t, at, path, "addr", "bind", "\":8080\"");
        let addr_path = join(path, "addr");
        if let Some(av) = addr_v
            && let DeValue::String(s) = av.get_ref()
            && s.starts_with("rhttp@")
        {
            return self.reverse_bind(t, at, path, av, s);
        }
        self.refuse_keys(
            t,
            path,
            &["nbconn", "idle-ping", "backoff-max"],
            &|k| format!("`{k}` only applies to an rhttp@ bind"),
            &|k| {
                format!(
                    "remove `{k}`, or make this bind dial a gateway with \
                     `addr = \"rhttp@<backend>/<server>\"`"
                )
            },
        );
        let addr = addr_v.and_then(|av| {
            let s = self.string(av, &addr_path, "`\":8080\"`")?;
            match parse_bind_addr(s) {
                Ok(a) => Some((a, s.to_owned(), av.span().start)),
                Err(e) => {
                    let h = if let Some(rest) = s.strip_prefix("rev@") {
                        help(format!(
                            "HAProxy 2.9 renamed `rev@` to `rhttp@`: write `\"rhttp@{rest}\"`"
                        ))
                    } else {
                        e.help()
                    };
                    self.error(
                        av.span().start,
                        &addr_path,
                        format!("invalid bind address: {e}"),
                        h,
                    );
                    None
                }
            }
        });
        let ssl = match t.get("ssl") {
            Some(v) => self.boolean(v, &join(path, "ssl")).unwrap_or(false),
            None => false,
        };
        let mut zero_rtt = None;
        if let Some((k, v)) = t.get_key_value("allow-0rtt") {
            let kp = join(path, "allow-0rtt");
            if let Some(b) = self.boolean(v, &kp) {
                if b && matches!(addr, Some((BindAddr::Tcp(_), _, _))) {
                    self.error(
                        k.span().start,
                        &kp,
                        "`allow-0rtt` only applies to QUIC binds",
                        help("remove it: 0-RTT is not supported on TCP binds"),
                    );
                }
                zero_rtt = Some((b, k.span().start, kp));
            }
        }
        let proto = match t.get("proto") {
            Some(v) => {
                let pp = join(path, "proto");
                match self.string(v, &pp, "`\"h2\"`") {
                    Some("h2") => BindProto::H2,
                    Some(other) => {
                        self.error(
                            v.span().start,
                            &pp,
                            format!("invalid value `{other}` for `proto`"),
                            help(
                                "the only value is `\"h2\"` (HTTP/2 only); leave `proto` out to \
                                 accept both HTTP/1.1 and HTTP/2",
                            ),
                        );
                        BindProto::Auto
                    }
                    None => BindProto::Auto,
                }
            }
            None => BindProto::Auto,
        };
        let mut alpn_at = None;
        let tls = if ssl {
            let crts = self.crt_paths(t, path, "crt", true);
            let crt_lists = self.crt_paths(t, path, "crt-list", false);
            if !t.contains_key("crt") && !t.contains_key("crt-list") {
                self.error(
                    at,
                    path,
                    "TLS bind has no `crt`",
                    help(
                        "add `crt = \"path/to/cert.pem\"` (a PEM file with chain and key, a \
                         directory of them, or an array), or `crt-list = \"path/to/list\"`",
                    ),
                );
            }
            let key = t.get("key").and_then(|v| self.file(v, &join(path, "key")));
            if let (Some((k, _)), Some(c)) = (t.get_key_value("key"), &crts)
                && (c.len() != 1 || c[0].is_dir() || t.contains_key("crt-list"))
            {
                self.error(
                    k.span().start,
                    &join(path, "key"),
                    "`key` applies to a single `crt` file only",
                    help(
                        "put each key in its certificate's PEM file, or beside it as \
                         `<crt>.key` (HAProxy's rule), and remove `key`",
                    ),
                );
            }
            let params = self.bind_tls_params(t, at, path);
            let ca = t
                .get("ca-file")
                .and_then(|v| self.file(v, &join(path, "ca-file")));
            let alpn = t
                .get("alpn")
                .and_then(|v| self.alpn(v, &join(path, "alpn")));
            alpn_at = t
                .get("alpn")
                .filter(|_| alpn.is_some())
                .map(|v| (v.span().start, join(path, "alpn")));
            let verify = match t.get("verify") {
                Some(v) => {
                    let vp = join(path, "verify");
                    let verify = match self.choice(v, &vp, &["none", "optional", "required"]) {
                        Some("optional") => Verify::Optional,
                        Some("required") => Verify::Required,
                        _ => Verify::None,
                    };
                    if verify != Verify::None && !t.contains_key("ca-file") {
                        self.error(
                            v.span().start,
                            &vp,
                            "verifying client certificates needs `ca-file`",
                            help(
                                "add `ca-file = \"...\"` naming the CAs that sign client \
                                 certificates, or set `verify = \"none\"`",
                            ),
                        );
                    }
                    verify
                }
                None => Verify::None,
            };
            match (crts, crt_lists, params) {
                (Some(crts), Some(crt_lists), Some(p))
                    if !crts.is_empty() || !crt_lists.is_empty() =>
                {
                    Some(BindTls {
                        crts,
                        crt_lists,
                        key,
                        alpn: alpn.unwrap_or_else(|| vec!["h2".to_owned(), "http/1.1".to_owned()]),
                        verify,
                        ca,
                        versions: p.versions,
                        ciphers: p.ciphers,
                        ciphersuites: p.ciphersuites,
                    })
                }
                _ => None,
            }
        } else {
            for (k, _) in t.iter() {
                let key: &str = k.get_ref();
                if matches!(
                    key,
                    "crt"
                        | "crt-list"
                        | "key"
                        | "alpn"
                        | "verify"
                        | "ca-file"
                        | "ssl-min-ver"
                        | "ssl-max-ver"
                        | "ciphers"
                        | "ciphersuites"
                ) {
                    self.error(
                        k.span().start,
                        &join(path, key),
                        format!("`{key}` needs `ssl = true`"),
                        help(format!("add `ssl = true` to this bind, or remove `{key}`")),
                    );
                }
            }
            None
        };
        let maxconn = t
            .get("maxconn")
            .and_then(|v| self.maxconn(v, &join(path, "maxconn")));
        let (addr, addr_text, addr_at) = addr?;
        Some(ParsedBind {
            bind: Bind {
                addr,
                tls,
                proto,
                maxconn,
                location: self.location(at),
            },
            addr_text,
            addr_at,
            addr_path,
            zero_rtt,
            alpn_at,
            reverse: None,
        })
    }

    pub(super) fn server(
        &mut self,
        v: &Val<'_>,
        path: &str,
        id: u32,
        pool: PoolSettings,
        seen: &mut HashMap<String, Location>,
    ) -> Option<Server> {
        let t = self.table(
            v,
            path,
            "write each server as a table, e.g. `{ name = \"s1\", addr = \"127.0.0.1:8080\" }`",
        )?;
        let at = v.span().start;
        self.check_keys(t, path, "a server", SERVER_KEYS, &[], &|_| None);
        let name = self
            .required(t, at, path, "name", "server", "\"s1\"")
            .and_then(|nv| {
                let np = join(path, "name");
                let n = self.string(nv, &np, "`\"s1\"`")?;
                if !valid_name(n) {
                    self.error(
                        nv.span().start,
                        &np,
                        format!("invalid server name `{n}`"),
                        help("names may contain letters, digits, `-`, `_`, `.` and `:`"),
                    );
                    return None;
                }
                if let Some(first) = seen.get(n) {
                    self.error(
                        nv.span().start,
                        &np,
                        format!("duplicate server name `{n}`"),
                        help(format!("first defined at {first}; rename one of them")),
                    );
                    return None;
                }
                seen.insert(n.to_owned(), self.location(nv.span().start));
                Some(n.to_owned())
            });
        let addr_v = self.required(t, at, path, "addr", "server", "\"127.0.0.1:8080\"");
        if let Some(av) = addr_v
            && let DeValue::String(s) = av.get_ref()
            && s.starts_with("rhttp@")
        {
            let target = self.reverse_server(t, path, av, s);
            let lb = self.server_lb(t, path, true, ServerProto::H2, false);
            return Some(Server {
                name: name?,
                id,
                target: ServerTarget::Reverse(target?),
                // Tunnels are always HTTP/2.
                proto: ServerProto::H2,
                tls: None,
                pool,
                weight: lb.weight,
                backup: lb.backup,
                maxconn: lb.maxconn,
                disabled: lb.disabled,
                check: None,
            });
        }
        self.refuse_keys(
            t,
            path,
            &["pool-conn-name", "idle-ping"],
            &|k| format!("`{k}` only applies to an rhttp@ server"),
            &|k| {
                format!(
                    "remove `{k}`, or set `addr = \"rhttp@\"` to send this server's requests \
                     down reverse-HTTP tunnels"
                )
            },
        );
        let addr = addr_v.and_then(|av| {
            let ap = join(path, "addr");
            let s = self.string(av, &ap, "`\"127.0.0.1:8080\"`")?;
            match parse_server_addr(s) {
                Ok(a) => Some(a),
                Err(e) => {
                    let h = if s == "@reverse" {
                        help("HAProxy 2.9 renamed `@reverse` to `rhttp@`: write `\"rhttp@\"`")
                    } else {
                        e.help()
                    };
                    self.error(
                        av.span().start,
                        &ap,
                        format!("invalid server address: {e}"),
                        h,
                    );
                    None
                }
            }
        });
        let proto = match t.get("proto") {
            Some(v) => match self.choice(v, &join(path, "proto"), &["h1", "h2"]) {
                Some("h2") => ServerProto::H2,
                _ => ServerProto::H1,
            },
            None => ServerProto::H1,
        };
        let ssl = match t.get("ssl") {
            Some(v) => self.boolean(v, &join(path, "ssl")).unwrap_or(false),
            None => false,
        };
        let pool = self.pool(t, path, SERVER_KEYS).apply(pool);
        let tls = if ssl {
            let sni = t.get("sni").and_then(|v| {
                let sp = join(path, "sni");
                let s = self.string(v, &sp, "`\"app.internal\"`")?;
                if !valid_tls_name(s) {
                    self.error(
                        v.span().start,
                        &sp,
                        format!("invalid SNI `{s}`"),
                        help("write a host name such as `\"app.internal\"`"),
                    );
                    return None;
                }
                Some(s.to_owned())
            });
            let ca = t
                .get("ca-file")
                .and_then(|v| self.file(v, &join(path, "ca-file")));
            let cert = t.get("crt").and_then(|v| self.file(v, &join(path, "crt")));
            let key = t.get("key").and_then(|v| self.file(v, &join(path, "key")));
            if let Some((k, _)) = t.get_key_value("key")
                && !t.contains_key("crt")
            {
                self.error(
                    k.span().start,
                    &join(path, "key"),
                    "`key` needs `crt`",
                    help(
                        "add `crt = \"...\"` naming the client certificate chain to present, \
                         or remove `key`",
                    ),
                );
            }
            let alpn = t
                .get("alpn")
                .and_then(|v| self.alpn(v, &join(path, "alpn")));
            let verify = match t.get("verify") {
                Some(v) => {
                    let vp = join(path, "verify");
                    if let DeValue::String(s) = v.get_ref()
                        && s == "optional"
                    {
                        self.error(
                            v.span().start,
                            &vp,
                            "`verify = \"optional\"` only applies to binds",
                            help("use `\"required\"` (the default) or `\"none\"`"),
                        );
                        Verify::Required
                    } else {
                        match self.choice(v, &vp, &["required", "none"]) {
                            Some("none") => Verify::None,
                            _ => Verify::Required,
                        }
                    }
                }
                None => Verify::Required,
            };
            if verify == Verify::Required && !t.contains_key("ca-file") {
                let (at, kp) = match t.get_key_value("verify") {
                    Some((k, _)) => (k.span().start, join(path, "verify")),
                    None => (
                        t.get_key_value("ssl").map_or(at, |(k, _)| k.span().start),
                        join(path, "ssl"),
                    ),
                };
                self.error(
                    at,
                    &kp,
                    "server certificate verification needs `ca-file`",
                    help(
                        "add `ca-file = \"...\"` naming the CAs that sign the server's \
                         certificate, or set `verify = \"none\"` to skip verification",
                    ),
                );
            }
            let default_sni = addr
                .as_ref()
                .filter(|a| a.host.parse::<std::net::IpAddr>().is_err())
                .map(|a| a.host.clone());
            Some(ServerTls {
                sni: sni.or(default_sni),
                verify,
                ca,
                alpn: alpn.unwrap_or_else(|| {
                    vec![match proto {
                        ServerProto::H2 => "h2".to_owned(),
                        ServerProto::H1 => "http/1.1".to_owned(),
                    }]
                }),
                key: cert.as_ref().map(|c| key.unwrap_or_else(|| c.clone())),
                cert,
            })
        } else {
            for (k, _) in t.iter() {
                let key: &str = k.get_ref();
                if matches!(key, "sni" | "verify" | "ca-file" | "alpn" | "crt" | "key") {
                    self.error(
                        k.span().start,
                        &join(path, key),
                        format!("`{key}` needs `ssl = true`"),
                        help(format!(
                            "add `ssl = true` to this server, or remove `{key}`"
                        )),
                    );
                }
            }
            None
        };
        let lb = self.server_lb(t, path, false, proto, ssl);
        Some(Server {
            name: name?,
            id,
            target: ServerTarget::Net(addr?),
            proto,
            tls,
            pool,
            weight: lb.weight,
            backup: lb.backup,
            maxconn: lb.maxconn,
            disabled: lb.disabled,
            check: lb.check,
        })
    }

    /// The rest of an `rhttp@` server (gateway side).
    fn reverse_server(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        av: &Val<'_>,
        text: &str,
    ) -> Option<ReverseServer> {
        let mut ok = true;
        if text != "rhttp@" {
            ok = false;
            self.error(
                self.string_char_pos(av, "rhttp@".len() + 1),
                &join(path, "addr"),
                format!("an rhttp@ server has no address, found `{text}`"),
                help(
                    "write `addr = \"rhttp@\"`: the server's requests go down the tunnels that \
                     `attach-srv` rules register",
                ),
            );
        }
        let connecting: Vec<&str> = t
            .iter()
            .map(|(k, _)| -> &str { k.get_ref() })
            .filter(|k| SERVER_KEYS.contains(k) && !REVERSE_SERVER_KEYS.contains(k))
            .collect();
        let (pools, connecting): (Vec<&str>, Vec<&str>) =
            connecting.into_iter().partition(|k| k.starts_with("pool-"));
        let (checks, connecting): (Vec<&str>, Vec<&str>) =
            connecting.into_iter().partition(|k| CHECK_KEYS.contains(k));
        self.refuse_keys(
            t,
            path,
            &checks,
            &|k| format!("`{k}` does not apply to an rhttp@ server"),
            &|k| {
                format!(
                    "an rhttp@ server is not health-checked: it is usable while an origin keeps \
                     a tunnel registered for the request's name, and the origins ping their \
                     tunnels; remove `{k}`"
                )
            },
        );
        self.refuse_keys(
            t,
            path,
            &connecting,
            &|k| format!("`{k}` does not apply to an rhttp@ server"),
            &|k| {
                let alias = if k == "ssl" {
                    " (HAProxy's `ssl sni <expr>` is `sni = \"<expr>\"` alone here)"
                } else {
                    ""
                };
                format!(
                    "an rhttp@ server never connects: its tunnels get TLS and HTTP/2 from the \
                     registration frontend's binds; remove `{k}`{alias}"
                )
            },
        );
        self.refuse_keys(
            t,
            path,
            &pools,
            &|k| format!("`{k}` does not apply to an rhttp@ server"),
            &|k| {
                format!(
                    "tunnels are never purged: each one stays in the pool until it closes; \
                     remove `{k}`"
                )
            },
        );
        let pcn = t.get_key_value("pool-conn-name");
        let sni = t.get_key_value("sni");
        if let (Some(_), Some((k, _))) = (pcn, sni) {
            ok = false;
            self.error(
                k.span().start,
                &join(path, "sni"),
                "`sni` and `pool-conn-name` are the same setting on an rhttp@ server",
                help("keep one of them: `sni` is HAProxy's alias of `pool-conn-name` here"),
            );
        }
        let name = match pcn.or(sni) {
            None => Some(None),
            Some((k, v)) => {
                let key: &str = k.get_ref();
                self.sample_expr(v, &join(path, key)).map(Some)
            }
        };
        let idle_ping = match t.get("idle-ping") {
            None => Some(None),
            Some(v) => self.optional_duration(v, &join(path, "idle-ping")),
        };
        let (name, idle_ping) = (name?, idle_ping?);
        ok.then_some(ReverseServer { name, idle_ping })
    }

    /// A sample expression (`pool-conn-name`, `name`), map converters
    /// allowed.
    pub(super) fn sample_expr(&mut self, v: &Val<'_>, path: &str) -> Option<Expr> {
        let s = self.string(v, path, "`\"req.hdr(host),field(1,:)\"`")?;
        match Expr::parse_in(s, &mut self.env(v)) {
            Ok(e) => Some(e),
            Err(e) => {
                self.expr_error(v, path, "sample expression", &e);
                None
            }
        }
    }

    /// Reports an expression that needs more than a connection (a
    /// request, a tunnel name) in `what`, which runs at connection time.
    /// Returns whether the expression is usable there.
    pub(super) fn check_scope(&mut self, e: &Expr, v: &Val<'_>, path: &str, what: &str) -> bool {
        let (message, fix) = match e.scope() {
            FetchScope::Connection => return true,
            FetchScope::Request => (
                format!(
                    "`{}` needs an HTTP request, but {what} runs before any request",
                    e.fetch_name()
                ),
                "use connection fetches only (`src`, `dst`, `ssl_fc_sni`, `ssl_c_used`, \
                 `ssl_c_s_dn(CN)`, ...); check requests with `http-request` rules instead",
            ),
            FetchScope::Response => (
                format!(
                    "`{}` needs an HTTP response, but {what} runs before any request",
                    e.fetch_name()
                ),
                "use connection fetches only (`src`, `dst`, `ssl_fc_sni`, ...); read responses \
                 in `http-response` rules",
            ),
            FetchScope::Content => (
                format!(
                    "`{}` reads a TCP client's first bytes, but {what} runs before them",
                    e.fetch_name()
                ),
                "use content fetches in `tcp-request.content` rules or the `use_backend` rules \
                 of a `mode = \"tcp\"` frontend",
            ),
            FetchScope::TunnelName => (
                format!("`{}` only has a value inside `allow-name`", e.fetch_name()),
                "check tunnel names with `allow-name = \"<flags and patterns>\"` on the \
                 `attach-srv` rule",
            ),
        };
        self.error(v.span().start, path, message, help(fix));
        false
    }
}
