//! `bind` and `server` entries.

use std::collections::HashMap;

use toml::de::DeValue;

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
}

impl Cx<'_> {
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
        let addr = addr_v.and_then(|av| {
            let s = self.string(av, &addr_path, "`\":8080\"`")?;
            match parse_bind_addr(s) {
                Ok(a) => Some((a, s.to_owned(), av.span().start)),
                Err(e) => {
                    self.error(
                        av.span().start,
                        &addr_path,
                        format!("invalid bind address: {e}"),
                        e.help(),
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
        let tls = if ssl {
            let cert = match self.required(t, at, path, "crt", "TLS bind", "\"path/to/cert.pem\"") {
                Some(v) => self.file(v, &join(path, "crt")),
                None => None,
            };
            let key = t.get("key").and_then(|v| self.file(v, &join(path, "key")));
            let ca = t
                .get("ca-file")
                .and_then(|v| self.file(v, &join(path, "ca-file")));
            let alpn = t
                .get("alpn")
                .and_then(|v| self.alpn(v, &join(path, "alpn")));
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
            cert.map(|cert| BindTls {
                key: key.unwrap_or_else(|| cert.clone()),
                cert,
                alpn: alpn.unwrap_or_else(|| vec!["h2".to_owned(), "http/1.1".to_owned()]),
                verify,
                ca,
            })
        } else {
            for (k, _) in t.iter() {
                let key: &str = k.get_ref();
                if matches!(key, "crt" | "key" | "alpn" | "verify" | "ca-file") {
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
        let (addr, addr_text, addr_at) = addr?;
        Some(ParsedBind {
            bind: Bind {
                addr,
                tls,
                proto,
                location: self.location(at),
            },
            addr_text,
            addr_at,
            addr_path,
            zero_rtt,
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
        let addr = self
            .required(t, at, path, "addr", "server", "\"127.0.0.1:8080\"")
            .and_then(|av| {
                let ap = join(path, "addr");
                let s = self.string(av, &ap, "`\"127.0.0.1:8080\"`")?;
                match parse_server_addr(s) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        self.error(
                            av.span().start,
                            &ap,
                            format!("invalid server address: {e}"),
                            e.help(),
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
                if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
            })
        } else {
            for (k, _) in t.iter() {
                let key: &str = k.get_ref();
                if matches!(key, "sni" | "verify" | "ca-file" | "alpn") {
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
        Some(Server {
            name: name?,
            id,
            addr: addr?,
            proto,
            tls,
            pool,
        })
    }
}
