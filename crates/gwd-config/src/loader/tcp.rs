//! TCP mode: `tcp-request.connection|content|inspect-delay` rules, and
//! the checks that need a section's `mode` (HTTP-only keywords in a TCP
//! proxy, routes between modes, reverse HTTP kept to HTTP).

use gwd_sample::{Acls, Condition, FetchScope};
use toml::de::DeTable;

use super::reverse::SessionRules;
use super::*;
use crate::{ProxyMode, TcpAction, TcpRule};

/// HAProxy's `tcp-request connection|content` actions gwd does not have.
const TCP_NOT_YET: &[&str] = &[
    "capture",
    "do-resolve",
    "expect-netscaler-cip",
    "expect-proxy",
    "lua",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "send-spoe-group",
    "set-dst",
    "set-dst-port",
    "set-log-level",
    "set-mark",
    "set-src",
    "set-src-port",
    "set-tos",
    "set-var",
    "silent-drop",
    "switch-mode",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "unset-var",
    "use-service",
];

/// HTTP keywords a TCP proxy ignores (HAProxy warns and drops them).
const HTTP_ONLY: &[&str] = &[
    "http-request",
    "http-response",
    "http-after-response",
    "http-reuse",
    "retry-on",
    "stats",
    "errorfile",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "http-error",
    "unique-id-header",
];

impl Cx<'_> {
    /// `tcp-request.connection`, `.content` and `.inspect-delay` of a
    /// `tcp-request` table (its keys already checked).
    pub(super) fn tcp_request_rules(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        acls: &Acls,
        out: &mut SessionRules,
    ) {
        for (key, content) in [("connection", false), ("content", true)] {
            let Some(v) = t.get(key) else { continue };
            let p = join(path, key);
            out.tcp_at.push((
                if content { "content" } else { "connection" },
                v.span().start,
                p.clone(),
            ));
            let hint = format!(
                "write rules as `tcp-request.{key} = [ {{ action = \"reject\", if = \"...\" }} ]`"
            );
            let Some(arr) = self.array(v, &p, &hint) else {
                continue;
            };
            for (i, rv) in arr.iter().enumerate() {
                if let Some(r) = self.tcp_rule(rv, &index(&p, i), acls, content) {
                    if content {
                        out.tcp.content.push(r);
                    } else {
                        out.tcp.connection.push(r);
                    }
                }
            }
        }
        if let Some(v) = t.get("inspect-delay") {
            let p = join(path, "inspect-delay");
            out.tcp_at
                .push(("inspect-delay", v.span().start, p.clone()));
            out.tcp.inspect_delay = self.duration(v, &p).filter(|d| !d.is_zero());
        }
    }

    fn tcp_rule(
        &mut self,
        rv: &Val<'_>,
        path: &str,
        acls: &Acls,
        content: bool,
    ) -> Option<TcpRule> {
        let set = if content { "content" } else { "connection" };
        let t = self.table(
            rv,
            path,
            "write each rule as a table, e.g. `{ action = \"reject\", if = \"!{ src 10.0.0.0/8 }\" }`",
        )?;
        let Some(av) = t.get("action") else {
            self.error(
                rv.span().start,
                path,
                format!("tcp-request {set} rule has no `action`"),
                help("add `action = \"accept\"` or `action = \"reject\"`"),
            );
            return None;
        };
        let ap = join(path, "action");
        let action = match self.string(av, &ap, "`\"reject\"`")? {
            "accept" => TcpAction::Accept,
            "reject" => TcpAction::Reject,
            other if TCP_NOT_YET.contains(&other) => {
                self.error(
                    av.span().start,
                    &ap,
                    format!("tcp-request {set} action `{other}` is not supported yet"),
                    help(
                        "supported actions: `accept`, `reject` (see docs/CONFIG.md#not-supported)",
                    ),
                );
                return None;
            }
            other => {
                let h = match did_you_mean(other, ["accept", "reject"]) {
                    Some(c) => format!("did you mean `\"{c}\"`?"),
                    None => "supported actions: `accept`, `reject`".to_owned(),
                };
                self.error(
                    av.span().start,
                    &ap,
                    format!("unknown tcp-request {set} action `{other}`"),
                    help(h),
                );
                return None;
            }
        };
        let mut valid = vec!["action"];
        valid.extend_from_slice(COND_KEYS);
        self.check_keys(
            t,
            path,
            &format!("a tcp-request {set} rule"),
            &valid,
            &[],
            &|_| None,
        );
        let cond = self.condition(t, path, acls);
        if let Some(c) = &cond
            && let Some((k, v)) = t.get_key_value("if").or_else(|| t.get_key_value("unless"))
        {
            let cp = join(path, k.get_ref());
            self.tcp_scope(c, v, &cp, content, &format!("a `tcp-request.{set}` rule"));
        }
        Some(TcpRule { action, cond })
    }

    /// Refuses the fetches `cond` cannot read where it runs: connection
    /// fetches anywhere, content fetches only when `content` (content
    /// rules, a TCP frontend's `use_backend`). Returns whether it passed.
    pub(super) fn tcp_scope(
        &mut self,
        cond: &Condition,
        v: &Val<'_>,
        path: &str,
        content: bool,
        what: &str,
    ) -> bool {
        for e in cond.exprs() {
            let bad = match e.scope() {
                FetchScope::Connection => None,
                FetchScope::Content if content => None,
                FetchScope::Content => Some(
                    "content fetches are read after the connection rules: use them in \
                     `tcp-request.content` rules (with `tcp-request.inspect-delay`)",
                ),
                FetchScope::Request | FetchScope::Response => Some(
                    "a `mode = \"tcp\"` proxy has no HTTP request: use connection fetches \
                     (`src`, `dst`, `ssl_fc_sni`, ...) or content fetches (`req.ssl_sni`, \
                     `req.len`, ...)",
                ),
                FetchScope::TunnelName => {
                    Some("`rhttp_name` only has a value inside an `attach-srv` rule's `allow-name`")
                }
            };
            if let Some(fix) = bad {
                self.error(
                    v.span().start,
                    path,
                    format!("`{}` cannot be used in {what}", e.fetch_name()),
                    help(fix),
                );
                return false;
            }
        }
        true
    }

    /// The checks of one frontend, backend or listen section that need
    /// its `mode`: HTTP-only keywords in a TCP proxy are warned about
    /// (and dropped by the caller), reverse HTTP and HTTP-only bind
    /// settings refused, content rules refused in HTTP mode.
    pub(super) fn mode_checks(
        &mut self,
        mode: ProxyMode,
        t: &DeTable<'_>,
        path: &str,
        what: &str,
        session: Option<&SessionRules>,
    ) {
        match mode {
            ProxyMode::Http => {
                for (key, at, p) in session.map_or(&[][..], |s| &s.tcp_at[..]) {
                    if *key != "connection" {
                        self.error(
                            *at,
                            p,
                            format!(
                                "`tcp-request.{key}` is not supported yet in `mode = \"http\"`"
                            ),
                            help(
                                "use `http-request` rules in HTTP mode; content rules run in \
                                 `mode = \"tcp\"` frontends",
                            ),
                        );
                    }
                }
                if let Some(opts) = option_table(t)
                    && let Some((k, _)) = opts.get_key_value("tcplog")
                {
                    self.warn(
                        k.span().start,
                        &join(path, "option.tcplog"),
                        format!("`option.tcplog` is ignored in {what}: it is in `mode = \"http\"`"),
                        help("gwd logs HTTP proxies with the httplog line; remove the key"),
                    );
                }
            }
            ProxyMode::Tcp => {
                for key in HTTP_ONLY {
                    if let Some((k, _)) = t.get_key_value(*key) {
                        self.warn(
                            k.span().start,
                            &join(path, key),
                            format!("`{key}` is ignored in {what}: it requires `mode = \"http\"`"),
                            help("HAProxy ignores it too in TCP mode; remove it"),
                        );
                    }
                }
                if let Some(opts) = option_table(t) {
                    for key in ["forwardfor", "httplog"] {
                        if let Some((k, _)) = opts.get_key_value(key) {
                            let fallback = if key == "httplog" {
                                " (the tcplog line is used)"
                            } else {
                                ""
                            };
                            self.warn(
                                k.span().start,
                                &join(path, &format!("option.{key}")),
                                format!(
                                    "`option.{key}` is ignored in {what}: it requires \
                                     `mode = \"http\"`{fallback}"
                                ),
                                help("remove it"),
                            );
                        }
                    }
                }
                if let Some(v) = t.get("bind")
                    && let DeValue::Array(arr) = v.get_ref()
                {
                    for (i, b) in arr.iter().enumerate() {
                        let DeValue::Table(bt) = b.get_ref() else {
                            continue;
                        };
                        let bp = index(&join(path, "bind"), i);
                        if let Some((k, _)) = bt.get_key_value("proto") {
                            self.error(
                                k.span().start,
                                &join(&bp, "proto"),
                                format!("`proto` is an HTTP setting: {what} is `mode = \"tcp\"`"),
                                help(
                                    "remove `proto`; TCP mode relays whatever protocol it carries",
                                ),
                            );
                        }
                        if let Some(a) = bt.get("addr")
                            && matches!(a.get_ref(), DeValue::String(s) if s.starts_with("rhttp@"))
                        {
                            self.error(
                                a.span().start,
                                &join(&bp, "addr"),
                                format!("reverse HTTP (`rhttp@`) needs `mode = \"http\"`: {what} is `mode = \"tcp\"`"),
                                help("reverse HTTP carries HTTP/2 only; put the `rhttp@` bind in an HTTP frontend"),
                            );
                        }
                    }
                }
                if let Some(s) = session
                    && let Some((at, p)) = &s.first_attach
                {
                    self.error(
                        *at,
                        p,
                        format!("`attach-srv` needs `mode = \"http\"`: {what} is `mode = \"tcp\"`"),
                        help("reverse HTTP registers HTTP/2 tunnels; use an HTTP frontend"),
                    );
                }
                if let Some(v) = t.get("server")
                    && let DeValue::Array(arr) = v.get_ref()
                {
                    for (i, sv) in arr.iter().enumerate() {
                        let DeValue::Table(st) = sv.get_ref() else {
                            continue;
                        };
                        let sp = index(&join(path, "server"), i);
                        if let Some(a) = st.get("addr")
                            && matches!(a.get_ref(), DeValue::String(s) if s.starts_with("rhttp@"))
                        {
                            self.error(
                                a.span().start,
                                &join(&sp, "addr"),
                                format!("reverse HTTP (`rhttp@`) needs `mode = \"http\"`: {what} is `mode = \"tcp\"`"),
                                help("reverse-HTTP servers carry HTTP/2 requests only; put them in an HTTP backend"),
                            );
                        }
                        if let Some((k, _)) = st.get_key_value("proto") {
                            self.error(
                                k.span().start,
                                &join(&sp, "proto"),
                                format!("`proto` is an HTTP setting: {what} is `mode = \"tcp\"`"),
                                help(
                                    "remove `proto`; TCP mode relays whatever protocol it carries",
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// A frontend's route to a backend of another mode: refused (HAProxy
    /// refuses an HTTP frontend on a TCP backend; gwd does not upgrade a
    /// TCP stream to HTTP either).
    pub(super) fn route_mode(
        &mut self,
        at: usize,
        path: &str,
        fe: (&str, ProxyMode),
        be: (&str, ProxyMode),
    ) {
        if fe.1 == be.1 {
            return;
        }
        let h = match fe.1 {
            ProxyMode::Tcp => format!(
                "a `mode = \"tcp\"` frontend relays bytes: set `mode = \"tcp\"` in backend `{}` \
                 (upgrading a TCP stream to HTTP is not supported yet)",
                be.0
            ),
            ProxyMode::Http => format!(
                "set `mode = \"http\"` in backend `{}`, or route from a `mode = \"tcp\"` frontend",
                be.0
            ),
        };
        self.error(
            at,
            path,
            format!(
                "frontend `{}` (mode {}) cannot use backend `{}` (mode {})",
                fe.0,
                fe.1.name(),
                be.0,
                be.1.name()
            ),
            help(h),
        );
    }
}

/// The section's `option` table, when it is one.
fn option_table<'a, 'i>(t: &'a DeTable<'i>) -> Option<&'a DeTable<'i>> {
    match t.get("option")?.get_ref() {
        DeValue::Table(o) => Some(o),
        _ => None,
    }
}
