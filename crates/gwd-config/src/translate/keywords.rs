//! The keywords with options of their own: `server` and `default-server`,
//! `bind`, `option`, `http-check`, `http-error` and `stats` lines.

use super::emit::{Section, V};
use super::words::Word;
use super::{Cx, Outcome, one, put, rest};

/// Keywords of `bind` lines that take no value (HAProxy's).
const BIND_FLAGS: &[&str] = &[
    "ssl",
    "allow-0rtt",
    "accept-proxy",
    "defer-accept",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "no-ca-names",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "prefer-client-ciphers",
    "quic-force-retry",
    "strict-sni",
    "tfo",
    "transparent",
    "v4v6",
    "v6only",
    "no-alpn",
];
/// `bind` flags that change nothing in gwd, which never offers those
/// versions nor issues stateless tickets.
const BIND_NO_OPS: &[&str] = &["no-sslv3", "no-tlsv10", "no-tlsv11", "no-tls-tickets"];
/// Keywords of `server` lines that take no value (HAProxy's).
const SERVER_FLAGS: &[&str] = &[
    "check",
    "backup",
    "ssl",
    "disabled",
    "enabled",
    "check-ssl",
    "agent-check",
    "allow-0rtt",
    "check-send-proxy",
    "check-via-socks4",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
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
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-verifyhost",
    "no-tfo",
    "non-stick",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "ssl-reuse",
    "stick",
    "tfo",
    "tls-tickets",
];
/// `bind` and `server` keywords whose value is a comma-separated list.
const LIST_VALUES: &[&str] = &["alpn"];

/// One `server` line, with the `default-server` keywords before it.
pub(super) fn server(
    cx: &Cx<'_>,
    words: &[Word],
    defaults_server: &[(String, V)],
    section_default: &[(String, V)],
) -> Result<Vec<(String, V)>, Outcome> {
    let mut t = vec![
        ("name".to_owned(), V::s(one(words, 1, "server")?)),
        ("addr".to_owned(), V::s(one(words, 2, "server")?)),
    ];
    let own = server_options(&words[3..])?;
    let inherited: Vec<(String, V)> = defaults_server
        .iter()
        .chain(section_default.iter())
        .cloned()
        .collect();
    let reverse = words[2].text.starts_with("rhttp@");
    let checked = !reverse
        && own
            .iter()
            .rev()
            .chain(inherited.iter().rev())
            .find(|(k, _)| k == "check")
            .is_some_and(|(_, v)| *v == V::Bool(true));
    // HAProxy: defaults' default-server, then the section's, then the
    // server's own keywords. Inherited check settings mean nothing on a
    // server without `check` (nor on an `rhttp@` one, never checked),
    // where gwd would warn or refuse: they are left out.
    let inherited = inherited
        .into_iter()
        .filter(|(k, _)| checked || !crate::loader::KNOWN_KEYS.check.contains(&k.as_str()));
    for (k, v) in inherited.chain(own) {
        put(&mut t, k, v);
    }
    let known = if reverse {
        crate::loader::KNOWN_KEYS.reverse_server
    } else {
        crate::loader::KNOWN_KEYS.server
    };
    let mut out = Vec::with_capacity(t.len());
    for (k, v) in t {
        match k.as_str() {
            // `enabled` is every server's default.
            "enabled" => cx.drop_part("`enabled` (the default)".into()),
            // An rhttp@ server's TLS is the origin's registration
            // connection: gwd reads no TLS setting on it.
            "ssl" | "verify" | "alpn" | "ca-file" if reverse => cx.drop_part(format!(
                "`{k}` on an rhttp@ server (its TLS is the origin's registration connection)"
            )),
            k if known.contains(&k) => out.push((k.to_owned(), v)),
            k => {
                return Err(Outcome::NotSupported(format!(
                    "the server keyword `{k}` is not supported yet{}",
                    if reverse { " on an rhttp@ server" } else { "" }
                )));
            }
        }
    }
    Ok(out)
}

pub(super) fn option(s: &mut Section, words: &[Word], on: bool) -> Result<(), Outcome> {
    let name = one(words, 1, "option")?;
    let word = format!("option {name}");
    if let Some(h) = crate::loader::haproxy_not_yet(&word) {
        return Err(Outcome::NotSupported(format!(
            "`{word}` is not supported yet: {h}"
        )));
    }
    if !crate::loader::KNOWN_KEYS.option.contains(&name.as_str()) {
        return Err(Outcome::NotSupported(format!(
            "`option {name}` is not supported yet"
        )));
    }
    let args = &words[2..];
    let v = match (name.as_str(), on) {
        (_, false) => V::Bool(false),
        ("forwardfor", true) if !args.is_empty() => {
            let mut t = Vec::new();
            let mut i = 0;
            while i < args.len() {
                match args[i].text.as_str() {
                    "header" => {
                        put(&mut t, "header", V::s(one(args, i + 1, "header")?));
                        i += 2;
                    }
                    other => {
                        return Err(Outcome::NotSupported(format!(
                            "the `option forwardfor` option `{other}` is not supported yet"
                        )));
                    }
                }
            }
            V::Tab(t)
        }
        ("httpchk", true) if !args.is_empty() => V::s(rest(args, 0)),
        // `option redispatch <interval>`: HAProxy's integer, as is.
        ("redispatch", true) if args.len() == 1 => match args[0].text.parse::<i32>() {
            Ok(n) => V::Int(i64::from(n)),
            Err(_) => {
                return Err(Outcome::Bad(format!(
                    "`option redispatch` takes an integer interval, not `{}`",
                    args[0].text
                )));
            }
        },
        (_, true) if !args.is_empty() => {
            return Err(Outcome::NotSupported(format!(
                "`option {name} {}` is not supported yet",
                rest(args, 0)
            )));
        }
        (_, true) => V::Bool(true),
    };
    s.set(format!("option.{name}"), v)?;
    Ok(())
}

/// One `bind` line: a table per address (`bind :80,:8080` gives two).
pub(super) fn bind(cx: &Cx<'_>, words: &[Word]) -> Result<Vec<V>, Outcome> {
    let addrs = one(words, 1, "bind")?;
    let opts = key_values(&words[2..], BIND_FLAGS, "bind")?;
    let mut crts = Vec::new();
    let mut out_opts: Vec<(String, V)> = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "crt" => crts.push(v),
            // The TOML key of the address itself, not a HAProxy keyword.
            "addr" => {
                return Err(Outcome::Bad("`addr` is not a `bind` keyword".into()));
            }
            k if BIND_NO_OPS.contains(&k) => cx.drop_part(format!(
                "`{k}` (gwd never offers SSLv3, TLS 1.0 or 1.1, nor issues stateless tickets)"
            )),
            k if crate::loader::KNOWN_KEYS.bind.contains(&k) => put(&mut out_opts, k, v),
            k => {
                return Err(Outcome::NotSupported(format!(
                    "the `bind` keyword `{k}` is not supported yet"
                )));
            }
        }
    }
    let crt = match crts.len() {
        0 => None,
        1 => Some(crts[0].clone()),
        _ => Some(V::Arr(crts)),
    };
    Ok(addrs
        .split(',')
        .map(|a| {
            let mut t = vec![("addr".to_owned(), V::s(a))];
            let mut opts = out_opts.clone();
            if let Some(c) = &crt {
                let at = opts
                    .iter()
                    .position(|(k, _)| k == "ssl")
                    .map_or(0, |i| i + 1);
                opts.insert(at, ("crt".into(), c.clone()));
            }
            t.extend(opts);
            V::Tab(t)
        })
        .collect())
}

/// The keywords of a `server` or `default-server` line as TOML keys.
pub(super) fn server_options(words: &[Word]) -> Result<Vec<(String, V)>, Outcome> {
    let mut out = Vec::new();
    for (k, v) in key_values(words, SERVER_FLAGS, "server")? {
        if k == "name" {
            return Err(Outcome::Bad("`name` is not a `server` keyword".into()));
        }
        let (k, v) = match (k.as_str(), v) {
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
            // `no-check` and friends: the keyword, off.
            (n @ ("no-check" | "no-ssl" | "no-backup" | "no-check-ssl"), _) => {
                (n["no-".len()..].to_owned(), V::Bool(false))
            }
            (_, v) => (k, v),
        };
        put(&mut out, k, v);
    }
    Ok(out)
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

pub(super) fn http_check(s: &mut Section, words: &[Word]) -> Result<(), Outcome> {
    match words.get(1).map(|w| w.text.as_str()) {
        Some(k @ ("expect" | "send")) if s.get_mut(&format!("http-check.{k}")).is_some() => {
            return Err(Outcome::NotSupported(format!(
                "a second `http-check {k}` is not supported yet: gwd runs one request and one expectation"
            )));
        }
        Some("expect") => s.set("http-check.expect", V::s(rest(words, 2)))?,
        Some("send") => {
            let mut t = Vec::new();
            let mut hdr = Vec::new();
            let mut i = 2;
            while i < words.len() {
                match words[i].text.as_str() {
                    k @ ("meth" | "uri" | "ver" | "body") => {
                        put(&mut t, k, V::s(one(words, i + 1, k)?));
                    }
                    "hdr" => {
                        put(
                            &mut hdr,
                            one(words, i + 1, "hdr")?,
                            V::s(one(words, i + 2, "hdr")?),
                        );
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
            s.set("http-check.send", V::Tab(t))?;
        }
        Some(other) => {
            return Err(Outcome::NotSupported(format!(
                "`http-check {other}` is not supported yet"
            )));
        }
        None => {
            return Err(Outcome::Bad("`http-check` needs `send` or `expect`".into()));
        }
    }
    Ok(())
}

/// `http-error status <code> [content-type <t>] [string <s>] [hdr <n> <v>]...`
pub(super) fn http_error(words: &[Word]) -> Result<V, Outcome> {
    let mut t = Vec::new();
    let mut hdr = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let k = words[i].text.as_str();
        match k {
            "status" => put(&mut t, "status", V::int_or_str(&one(words, i + 1, k)?)),
            "content-type" => put(&mut t, k, V::s(one(words, i + 1, k)?)),
            "string" => put(&mut t, "body", V::s(one(words, i + 1, k)?)),
            "file" => put(&mut t, "file", V::s(one(words, i + 1, k)?)),
            "lf-string" => put(&mut t, "lf-body", V::s(one(words, i + 1, k)?)),
            "lf-file" => put(&mut t, "lf-file", V::s(one(words, i + 1, k)?)),
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

pub(super) fn stats(s: &mut Section, words: &[Word]) -> Result<(), Outcome> {
    let what = one(words, 1, "stats")?;
    match what.as_str() {
        "enable" => {
            if !s.has_under("stats") {
                s.set("stats", V::Tab(Vec::new()))?;
            }
        }
        "uri" | "refresh" | "realm" => {
            drop_empty_stats(s);
            s.set(format!("stats.{what}"), V::s(rest(words, 2)))?;
        }
        "auth" => {
            drop_empty_stats(s);
            s.push("stats.auth", V::s(one(words, 2, "stats auth")?))?;
        }
        "hide-version" => {
            drop_empty_stats(s);
            s.set("stats.hide-version", V::Bool(true))?;
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
    if matches!(s.get_mut("stats"), Some(V::Tab(t)) if t.is_empty()) {
        s.remove("stats");
    }
}
