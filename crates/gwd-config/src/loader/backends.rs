//! How a backend spreads requests and watches its servers: `balance`,
//! `hash-type`, `retries`, `option.httpchk`/`allbackups`/`redispatch`,
//! `http-check.send`/`expect`, and the server keys for weights, backups,
//! limits and health checks (`weight`, `backup`, `maxconn`, `disabled`,
//! `check`, `inter`, `rise`, ...). HAProxy's keywords, one TOML key each.

use gwd_check::{Expect, HealthParams, HttpCheck};

use super::settings::Overrides;
use super::*;

/// HAProxy's largest server weight.
const MAX_WEIGHT: i64 = 256;

/// The parts of `http-check.send` a section sets.
#[derive(Clone, Debug, Default)]
pub(super) struct CheckSend {
    method: Option<String>,
    uri: Option<String>,
    version: Option<String>,
    headers: Option<Vec<(String, String)>>,
    body: Option<String>,
}

impl CheckSend {
    /// Overrides what `option.httpchk` (or an inherited `send`) set.
    pub(super) fn apply(&self, hc: &mut HttpCheck) {
        if let Some(m) = &self.method {
            hc.method = m.clone();
        }
        if let Some(u) = &self.uri {
            hc.uri = u.clone();
        }
        if let Some(v) = &self.version {
            hc.version = v.clone();
        }
        if let Some(h) = &self.headers {
            hc.headers = h.clone();
        }
        if let Some(b) = &self.body {
            hc.body = Some(b.clone());
        }
    }
}

/// What a server entry says about balancing, limits and checks.
#[derive(Debug)]
pub(super) struct ServerLb {
    pub(super) weight: u32,
    pub(super) backup: bool,
    pub(super) maxconn: Option<u32>,
    pub(super) disabled: bool,
    pub(super) check: Option<ServerCheck>,
}

/// A method token as RFC 9110 allows.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Cx<'_> {
    /// `balance`, `hash-type`, `retries` and `http-check` of a
    /// defaults/backend/listen table (`valid`: the keys allowed there).
    pub(super) fn backend_settings(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        valid: &[&str],
        o: &mut Overrides,
    ) {
        let get = |k: &str| if valid.contains(&k) { t.get(k) } else { None };
        if let Some(v) = get("balance") {
            o.balance = self.balance(v, &join(path, "balance"));
        }
        if let Some(v) = get("hash-type") {
            let p = join(path, "hash-type");
            if let DeValue::String(s) = v.get_ref()
                && let Some(func) = s.split_whitespace().nth(1)
            {
                self.error(
                    v.span().start,
                    &p,
                    format!("`hash-type` functions (`{func}`) are not supported yet"),
                    help(
                        "write `\"map-based\"` or `\"consistent\"`; gwd uses its own hash function",
                    ),
                );
            } else {
                o.hash_type = match self.choice(v, &p, &["map-based", "consistent"]) {
                    Some("consistent") => Some(HashType::Consistent),
                    Some(_) => Some(HashType::MapBased),
                    None => None,
                };
            }
        }
        if let Some(v) = get("retries") {
            let p = join(path, "retries");
            match self.integer(v, &p, "`3`") {
                Some(n) if (0..=100).contains(&n) => o.retries = u32::try_from(n).ok(),
                Some(n) => self.error(
                    v.span().start,
                    &p,
                    format!("`retries` must be between 0 and 100, found {n}"),
                    help("HAProxy's default is 3"),
                ),
                None => {}
            }
        }
        if let Some(v) = get("retry-on") {
            o.retry_on = self.retry_on(v, &join(path, "retry-on"));
        }
        if let Some(v) = get("http-check") {
            let p = join(path, "http-check");
            if let Some(hc) = self.table(
                v,
                &p,
                "write it as `http-check.expect = \"status 200\"` or `http-check.send = { meth = \"GET\", uri = \"/health\" }`",
            ) {
                self.check_keys(hc, &p, "the `http-check` table", &["send", "expect"], &[], &|k| {
                    matches!(k, "connect" | "comment" | "send-state" | "disable-on-404" | "set-var" | "unset-var")
                        .then(|| format!("`http-check {k}` is not supported yet"))
                });
                if let Some(v) = hc.get("send") {
                    o.check_send = self.check_send(v, &join(&p, "send"));
                }
                if let Some(v) = hc.get("expect") {
                    let ep = join(&p, "expect");
                    if let Some(s) = self.string(v, &ep, "`\"status 200\"`") {
                        match Expect::parse(s) {
                            Ok(e) => o.check_expect = Some(e),
                            Err(e) => self.error(
                                v.span().start,
                                &ep,
                                format!("invalid `http-check.expect`: {e}"),
                                help(
                                    "write `\"status 200\"`, `\"status 200-399\"`, `\"rstatus ^2\"`, \
                                     `\"string OK\"` or `\"rstring ^ok\"`, optionally after `! `",
                                ),
                            ),
                        }
                    }
                }
            }
        }
    }

    /// A `maxconn` of the global section or a frontend: at least 1.
    pub(super) fn maxconn(&mut self, v: &Val<'_>, path: &str) -> Option<usize> {
        match self.integer(v, path, "`10000`")? {
            n if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            n => {
                self.error(
                    v.span().start,
                    path,
                    format!("`maxconn` must be 1 or more, found {n}"),
                    help("remove the key for no limit beyond the file-descriptor budget"),
                );
                None
            }
        }
    }

    /// `retry-on = "conn-failure empty-response 503"`: HAProxy's keywords.
    fn retry_on(&mut self, v: &Val<'_>, path: &str) -> Option<RetryOn> {
        const KEYWORDS: &[&str] = &[
            "none",
            "conn-failure",
            "empty-response",
            "junk-response",
            "response-timeout",
            "0rtt-rejected",
            "all-retryable-errors",
        ];
        let s = self.string(v, path, "`\"conn-failure empty-response 503\"`")?;
        let mut r = RetryOn {
            conn_failure: false,
            ..RetryOn::default()
        };
        let mut ok = true;
        for word in s.split_whitespace() {
            match word {
                "none" => {}
                "conn-failure" => r.conn_failure = true,
                "empty-response" => r.empty_response = true,
                "junk-response" => r.junk_response = true,
                "response-timeout" => r.response_timeout = true,
                // gwd never sends early data to servers: nothing to retry.
                "0rtt-rejected" => {}
                "all-retryable-errors" => {
                    r.conn_failure = true;
                    r.empty_response = true;
                    r.junk_response = true;
                    r.response_timeout = true;
                    for code in [500, 502, 503, 504] {
                        r.statuses = r.statuses.with(code).unwrap_or(r.statuses);
                    }
                }
                w => match w.parse::<u16>().ok().and_then(|c| r.statuses.with(c)) {
                    Some(set) => r.statuses = set,
                    None => {
                        ok = false;
                        let hint = match did_you_mean(w, KEYWORDS.iter().copied()) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => format!(
                                "use {} or a status among 404, 408, 425, 500, 501, 502, 503, 504",
                                list(KEYWORDS)
                            ),
                        };
                        self.error(
                            v.span().start,
                            path,
                            format!("unknown `retry-on` keyword `{w}`"),
                            help(hint),
                        );
                    }
                },
            }
        }
        ok.then_some(r)
    }

    /// `option.httpchk`, `option.allbackups`, `option.redispatch`.
    pub(super) fn backend_options(
        &mut self,
        opts: &DeTable<'_>,
        path: &str,
        valid: &[&str],
        o: &mut Overrides,
    ) {
        let backendish = valid.contains(&"balance");
        for key in ["httpchk", "allbackups", "redispatch"] {
            let Some((k, v)) = opts.get_key_value(key) else {
                continue;
            };
            let p = join(path, key);
            if !backendish {
                self.error(
                    k.span().start,
                    &p,
                    format!("`option.{key}` is a backend setting"),
                    help(
                        "put it in a `[backend.<name>]` or `[listen.<name>]` section, or in \
                         `[defaults]`",
                    ),
                );
                continue;
            }
            match key {
                "httpchk" => o.httpchk = self.httpchk(v, &p),
                "allbackups" => o.all_backups = self.boolean(v, &p),
                _ => o.redispatch = self.redispatch(v, &p),
            }
        }
    }

    /// `option.redispatch = true | false | <interval>` (HAProxy's
    /// `option redispatch [<interval>]`; `true` is `-1`).
    fn redispatch(&mut self, v: &Val<'_>, path: &str) -> Option<crate::model::Redispatch> {
        use crate::model::Redispatch;
        match v.get_ref() {
            DeValue::Boolean(true) => Some(Redispatch::LAST_RETRY),
            DeValue::Boolean(false) => Some(Redispatch::NEVER),
            DeValue::Integer(_) => {
                let n = self.integer(v, path, "option.redispatch = 1")?;
                match i32::try_from(n) {
                    Ok(n) => Some(Redispatch(n)),
                    Err(_) => {
                        self.error(
                            v.span().start,
                            path,
                            format!("`option.redispatch` interval {n} is out of range"),
                            help("write `1` (every retry), `-1` (the last retry) or `0` (none)"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.type_error(
                    v,
                    path,
                    "a boolean or an integer",
                    help(
                        "write `true` (HAProxy's `option redispatch`: the last retry), \
                         `false`, or an interval: `1` every retry, `-2` the one before the last",
                    ),
                );
                None
            }
        }
    }

    /// `option.httpchk = true | false | "<method> <uri> <version>"`.
    fn httpchk(&mut self, v: &Val<'_>, path: &str) -> Option<Option<HttpCheck>> {
        match v.get_ref() {
            DeValue::Boolean(true) => Some(Some(HttpCheck::default())),
            DeValue::Boolean(false) => Some(None),
            DeValue::String(s) => match HttpCheck::from_option_args(s) {
                Ok(hc) => Some(Some(hc)),
                Err(e) => {
                    self.error(
                        v.span().start,
                        path,
                        format!("invalid `option.httpchk`: {e}"),
                        help("write `true`, or `\"GET /health\"` (method, URI, then optionally the version)"),
                    );
                    None
                }
            },
            _ => {
                self.type_error(
                    v,
                    path,
                    "a boolean or a string",
                    help("write `option.httpchk = true` or `option.httpchk = \"GET /health\"`"),
                );
                None
            }
        }
    }

    /// `http-check.send = { meth, uri, ver, hdr = { name = value }, body }`.
    fn check_send(&mut self, v: &Val<'_>, path: &str) -> Option<CheckSend> {
        let t = self.table(
            v,
            path,
            "write it as `http-check.send = { meth = \"GET\", uri = \"/health\", hdr = { Host = \"app\" } }`",
        )?;
        self.check_keys(
            t,
            path,
            "`http-check.send`",
            &["meth", "uri", "ver", "hdr", "body"],
            &[],
            &|k| {
                matches!(k, "uri-lf" | "body-lf" | "comment")
                    .then(|| format!("`http-check send {k}` is not supported yet"))
            },
        );
        let mut send = CheckSend::default();
        let mut ok = true;
        if let Some(v) = t.get("meth") {
            let p = join(path, "meth");
            if let Some(m) = self.string(v, &p, "`\"GET\"`") {
                if is_token(m) {
                    send.method = Some(m.to_owned());
                } else {
                    ok = false;
                    self.error(
                        v.span().start,
                        &p,
                        format!("invalid method `{m}`"),
                        help("a method is a token such as `GET`, `HEAD` or `OPTIONS`"),
                    );
                }
            }
        }
        if let Some(v) = t.get("uri") {
            let p = join(path, "uri");
            if let Some(u) = self.string(v, &p, "`\"/health\"`") {
                if (u.starts_with('/') || u == "*")
                    && !u
                        .bytes()
                        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
                {
                    send.uri = Some(u.to_owned());
                } else {
                    ok = false;
                    self.error(
                        v.span().start,
                        &p,
                        format!("invalid check URI `{u}`"),
                        help("write a path starting with `/`, without spaces"),
                    );
                }
            }
        }
        if let Some(v) = t.get("ver") {
            let p = join(path, "ver");
            match self.choice(v, &p, &["HTTP/1.1", "HTTP/1.0"]) {
                Some(ver) => send.version = Some(ver.to_owned()),
                None => ok = false,
            }
        }
        if let Some(v) = t.get("hdr") {
            let p = join(path, "hdr");
            if let Some(h) = self.table(v, &p, "write it as `hdr = { Host = \"app.internal\" }`") {
                let mut headers = Vec::new();
                for (k, hv) in h.iter() {
                    let name: &str = k.get_ref();
                    let hp = join(&p, name);
                    let Some(value) = self.string(hv, &hp, "`\"app.internal\"`") else {
                        ok = false;
                        continue;
                    };
                    if !valid_header_name(name) {
                        ok = false;
                        self.error(
                            k.span().start,
                            &hp,
                            format!("invalid header name `{name}`"),
                            help("header names are letters, digits and !#$%&'*+-.^_`|~"),
                        );
                    } else if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                        ok = false;
                        self.error(
                            hv.span().start,
                            &hp,
                            "a header value cannot contain CR, LF or NUL",
                            None,
                        );
                    } else {
                        headers.push((name.to_owned(), value.to_owned()));
                    }
                }
                send.headers = Some(headers);
            }
        }
        if let Some(v) = t.get("body")
            && let Some(b) = self.string(v, &join(path, "body"), "`\"ping\"`")
        {
            send.body = Some(b.to_owned());
        }
        ok.then_some(send)
    }

    pub(super) fn balance(&mut self, v: &Val<'_>, path: &str) -> Option<Balance> {
        const NOT_YET: &[&str] = &["url_param", "rdp-cookie", "hash"];
        const ALL: &[&str] = &[
            "roundrobin",
            "static-rr",
            "leastconn",
            "first",
            "source",
            "uri",
            "hdr(<name>)",
            "random",
        ];
        let s = self.string(v, path, "`\"roundrobin\"`")?;
        let at = v.span().start;
        let mut words = s.split_whitespace();
        let head = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        let no_args = |cx: &mut Self, b: Balance| {
            if rest.is_empty() {
                Some(b)
            } else {
                cx.error(
                    at,
                    path,
                    format!(
                        "`balance = \"{head}\"` takes no arguments, found `{}`",
                        rest.join(" ")
                    ),
                    help(format!("write `\"{head}\"`")),
                );
                None
            }
        };
        match head {
            "roundrobin" => no_args(self, Balance::RoundRobin),
            "static-rr" => no_args(self, Balance::StaticRr),
            "leastconn" => no_args(self, Balance::LeastConn),
            "first" => no_args(self, Balance::First),
            "source" => no_args(self, Balance::Source),
            "uri" => self.balance_uri(&rest, at, path),
            h if h.starts_with("random") => {
                let draws = match h.strip_prefix("random") {
                    Some("") => Some(2),
                    Some(a) => a
                        .strip_prefix('(')
                        .and_then(|a| a.strip_suffix(')'))
                        .and_then(|n| n.parse::<u32>().ok())
                        .filter(|n| (1..=100).contains(n)),
                    None => None,
                };
                match draws {
                    Some(draws) => no_args(self, Balance::Random { draws }),
                    None => {
                        self.error(
                            at,
                            path,
                            format!("invalid `{h}`"),
                            help("write `\"random\"` or `\"random(<draws>)\"` with 1 to 100 draws, e.g. `\"random(2)\"`"),
                        );
                        None
                    }
                }
            }
            h if h.starts_with("hdr(") && h.ends_with(')') => {
                let name = &h[4..h.len() - 1];
                if !valid_header_name(name) {
                    self.error(
                        at,
                        path,
                        format!("invalid header name `{name}` in `balance`"),
                        help("write `\"hdr(host)\"` with a header name"),
                    );
                    return None;
                }
                if rest.first() == Some(&"use_domain_only") {
                    self.error(
                        at,
                        path,
                        "`balance hdr(...) use_domain_only` is not supported yet",
                        help(format!("write `\"hdr({name})\"`")),
                    );
                    return None;
                }
                no_args(
                    self,
                    Balance::Hdr {
                        name: name.to_ascii_lowercase(),
                    },
                )
            }
            h => {
                let base = h.split('(').next().unwrap_or(h);
                if NOT_YET.contains(&base) {
                    self.error(
                        at,
                        path,
                        format!("`balance = \"{s}\"` is not supported yet"),
                        help(format!("gwd implements {}", list(ALL))),
                    );
                } else {
                    let hint = match did_you_mean(h, ALL.iter().copied()) {
                        Some(c) => format!("did you mean `\"{c}\"`?"),
                        None => format!("gwd implements {}", list(ALL)),
                    };
                    self.error(
                        at,
                        path,
                        format!("unknown balance algorithm `{s}`"),
                        help(hint),
                    );
                }
                None
            }
        }
    }

    /// `observe`, `error-limit`, `on-error` of a server.
    fn observe(&mut self, t: &DeTable<'_>, path: &str) -> Option<Observe> {
        let layer7 = match t.get("observe") {
            None => None,
            Some(v) => match self.choice(v, &join(path, "observe"), &["layer4", "layer7"]) {
                Some("layer7") => Some(true),
                Some(_) => Some(false),
                None => None,
            },
        };
        let mut error_limit = 10;
        if let Some(v) = t.get("error-limit") {
            let p = join(path, "error-limit");
            match self.integer(v, &p, "`10`") {
                Some(n) if (1..=100_000).contains(&n) => {
                    error_limit = u32::try_from(n).unwrap_or(10)
                }
                Some(n) => self.error(
                    v.span().start,
                    &p,
                    format!("`error-limit` must be between 1 and 100000, found {n}"),
                    help("HAProxy's default is 10"),
                ),
                None => {}
            }
        }
        let on_error = match t.get("on-error") {
            None => OnError::default(),
            Some(v) => match self.choice(
                v,
                &join(path, "on-error"),
                &["fastinter", "fail-check", "sudden-death", "mark-down"],
            ) {
                Some("fastinter") => OnError::FastInter,
                Some("sudden-death") => OnError::SuddenDeath,
                Some("mark-down") => OnError::MarkDown,
                _ => OnError::FailCheck,
            },
        };
        if layer7.is_none() {
            for key in ["error-limit", "on-error"] {
                if let Some((k, _)) = t.get_key_value(key) {
                    self.warn(
                        k.span().start,
                        &join(path, key),
                        format!("`{key}` has no effect without `observe`"),
                        help("add `observe = \"layer4\"` or `\"layer7\"`"),
                    );
                }
            }
        }
        layer7.map(|layer7| Observe {
            layer7,
            error_limit,
            on_error,
        })
    }

    /// `uri [len <n>] [depth <n>] [whole]`.
    fn balance_uri(&mut self, args: &[&str], at: usize, path: &str) -> Option<Balance> {
        let (mut len, mut depth, mut whole) = (None, None, false);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match *a {
                "whole" => whole = true,
                "len" | "depth" => {
                    let Some(n) = it
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| *n > 0)
                    else {
                        self.error(
                            at,
                            path,
                            format!("`uri {a}` needs a positive number"),
                            help(format!("write e.g. `\"uri {a} 3\"`")),
                        );
                        return None;
                    };
                    if *a == "len" {
                        len = Some(n);
                    } else {
                        depth = Some(n);
                    }
                }
                "path-only" => {
                    self.error(
                        at,
                        path,
                        "`balance uri path-only` is not supported yet",
                        help("the path is what gwd hashes by default; remove `path-only`"),
                    );
                    return None;
                }
                other => {
                    self.error(
                        at,
                        path,
                        format!("unknown `balance uri` option `{other}`"),
                        help("write `\"uri\"` optionally followed by `len <n>`, `depth <n>`, `whole`"),
                    );
                    return None;
                }
            }
        }
        Some(Balance::Uri { len, depth, whole })
    }

    /// The balancing, limit and check keys of a server entry. `reverse`:
    /// an `rhttp@` server (no check keys; the caller refuses them).
    pub(super) fn server_lb(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        reverse: bool,
        proto: ServerProto,
        ssl: bool,
    ) -> ServerLb {
        let mut lb = ServerLb {
            weight: 1,
            backup: false,
            maxconn: None,
            disabled: false,
            check: None,
        };
        if let Some(v) = t.get("weight") {
            let p = join(path, "weight");
            match self.integer(v, &p, "`10`") {
                Some(n) if (0..=MAX_WEIGHT).contains(&n) => {
                    lb.weight = u32::try_from(n).unwrap_or(1);
                }
                Some(n) => self.error(
                    v.span().start,
                    &p,
                    format!("`weight` must be between 0 and 256, found {n}"),
                    help("the default is 1; 0 sends the server no requests"),
                ),
                None => {}
            }
        }
        if let Some(v) = t.get("backup") {
            lb.backup = self.boolean(v, &join(path, "backup")).unwrap_or(false);
        }
        if let Some(v) = t.get("disabled") {
            lb.disabled = self.boolean(v, &join(path, "disabled")).unwrap_or(false);
        }
        if let Some(v) = t.get("maxconn") {
            let p = join(path, "maxconn");
            match self.integer(v, &p, "`50`") {
                Some(0) => lb.maxconn = None,
                Some(n) if n > 0 => lb.maxconn = Some(u32::try_from(n).unwrap_or(u32::MAX)),
                Some(n) => self.error(
                    v.span().start,
                    &p,
                    format!("`maxconn` must be 0 (no limit) or more, found {n}"),
                    None,
                ),
                None => {}
            }
        }
        if reverse {
            return lb;
        }
        let check = match t.get("check") {
            Some(v) => self.boolean(v, &join(path, "check")).unwrap_or(false),
            None => false,
        };
        let mut health = HealthParams::default();
        let mut c = ServerCheck {
            health,
            port: None,
            addr: None,
            ssl: false,
            sni: None,
            observe: None,
            h2: false,
        };
        for key in ["inter", "fastinter", "downinter"] {
            let Some(v) = t.get(key) else { continue };
            let p = join(path, key);
            match self.duration(v, &p) {
                Some(d) if d.is_zero() => self.error(
                    v.span().start,
                    &p,
                    format!("`{key}` cannot be 0"),
                    help("write an interval such as `\"2s\"`"),
                ),
                Some(d) => match key {
                    "inter" => health.inter = d,
                    "fastinter" => health.fastinter = Some(d),
                    _ => health.downinter = Some(d),
                },
                None => {}
            }
        }
        for key in ["rise", "fall"] {
            let Some(v) = t.get(key) else { continue };
            let p = join(path, key);
            match self.integer(v, &p, "`3`") {
                Some(n) if (1..=1000).contains(&n) => {
                    let n = u32::try_from(n).unwrap_or(1);
                    if key == "rise" {
                        health.rise = n;
                    } else {
                        health.fall = n;
                    }
                }
                Some(n) => self.error(
                    v.span().start,
                    &p,
                    format!("`{key}` must be between 1 and 1000, found {n}"),
                    None,
                ),
                None => {}
            }
        }
        c.health = health;
        if let Some(v) = t.get("port") {
            let p = join(path, "port");
            match self.integer(v, &p, "`8080`") {
                Some(n) if (1..=65535).contains(&n) => c.port = u16::try_from(n).ok(),
                Some(n) => self.error(
                    v.span().start,
                    &p,
                    format!("`port` must be between 1 and 65535, found {n}"),
                    None,
                ),
                None => {}
            }
        }
        if let Some(v) = t.get("check-addr") {
            let p = join(path, "check-addr");
            if let Some(s) = self.string(v, &p, "`\"10.0.0.2\"`") {
                let host = s.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty()
                    || host
                        .bytes()
                        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/')
                    || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err())
                {
                    self.error(
                        v.span().start,
                        &p,
                        format!("invalid check address `{s}`"),
                        help("write a host or an IP address without a port (set the port with `port`)"),
                    );
                } else {
                    c.addr = Some(host.to_owned());
                }
            }
        }
        // HAProxy: checks on the server's own address use its TLS unless
        // `check-ssl` says otherwise; checks elsewhere are clear by default.
        c.ssl = ssl && c.port.is_none() && c.addr.is_none();
        if let Some(v) = t.get("check-ssl") {
            c.ssl = self.boolean(v, &join(path, "check-ssl")).unwrap_or(c.ssl);
        }
        if let Some(v) = t.get("check-sni") {
            let p = join(path, "check-sni");
            if let Some(s) = self.string(v, &p, "`\"app.internal\"`") {
                if !valid_tls_name(s) {
                    self.error(
                        v.span().start,
                        &p,
                        format!("invalid SNI `{s}`"),
                        help("write a host name such as `\"app.internal\"`"),
                    );
                } else {
                    c.sni = Some(s.to_owned());
                }
            }
            if !c.ssl {
                self.error(
                    v.span().start,
                    &p,
                    "`check-sni` needs TLS checks: `check-ssl = true` (or a `ssl` server checked on its own address)",
                    help("add `check-ssl = true`, or remove `check-sni`"),
                );
            }
        }
        c.observe = self.observe(t, path);
        c.h2 = match t.get("check-proto") {
            Some(v) => self.choice(v, &join(path, "check-proto"), &["h1", "h2"]) == Some("h2"),
            // The server's own protocol when the checks go to it.
            None => proto == ServerProto::H2 && c.port.is_none() && c.addr.is_none(),
        };
        if check {
            lb.check = Some(c);
        } else {
            for (k, _) in t.iter() {
                let key: &str = k.get_ref();
                if key == "observe" {
                    self.error(
                        k.span().start,
                        &join(path, key),
                        "`observe` needs `check = true`",
                        help("passive checks act on the active checks' state: add `check = true`"),
                    );
                } else if !matches!(key, "check" | "error-limit" | "on-error")
                    && CHECK_KEYS.contains(&key)
                {
                    self.warn(
                        k.span().start,
                        &join(path, key),
                        format!("`{key}` has no effect without `check = true`"),
                        help("add `check = true` to run health checks on this server"),
                    );
                }
            }
        }
        lb
    }
}
