//! Reverse HTTP: `tcp-request.session` rules (`attach-srv`), the checks
//! of a registration frontend, and the resolution of `<backend>/<server>`
//! references once every section has been read.
//!
//! `rhttp@` binds and `attach-srv` rules may name a server declared later
//! in the file (HAProxy had to fix exactly that ordering), so they are
//! parsed with no server (`None`) and a [`PendingRef`], then patched by
//! [`resolve`] at the end of the document.

use std::collections::HashMap;

use gwd_sample::{Acls, Condition};
use toml::de::DeTable;

use super::binds::{ParsedBind, PendingRef};
use super::*;
use crate::ids::ServerAt;

/// An `attach-srv` rule whose server is resolved after every section.
pub(super) struct PendingAttach {
    /// Index in the frontend's `tcp_request_session`; `None` when the rule
    /// had errors (its reference is still checked).
    pub(super) rule: Option<usize>,
    /// The `server = "<backend>/<server>"` reference.
    pub(super) target: PendingRef,
    /// The rule names its tunnels (`name` or `name-from-cert`); `None`
    /// when its naming had errors.
    pub(super) named: Option<bool>,
}

/// The `tcp-request.session` rules of one frontend, with what the checks
/// after them need.
#[derive(Default)]
pub(super) struct SessionRules {
    pub(super) rules: Vec<SessionRule>,
    /// One per `attach-srv` rule whose server reference parsed, in order.
    pub(super) attach: Vec<PendingAttach>,
    /// The first `attach-srv` action (value position, key path), even one
    /// with errors: it makes the frontend a registration frontend.
    pub(super) first_attach: Option<(usize, String)>,
    /// `name`/`name-from-cert` values that read the client certificate:
    /// value position, key path.
    pub(super) needs_cert: Vec<(usize, String)>,
    /// `tcp-request.connection`, `.content`, `.inspect-delay`.
    pub(super) tcp: crate::TcpRequest,
    /// Where each of those keys was written (position, key path), for
    /// the checks that need the frontend's mode.
    pub(super) tcp_at: Vec<(&'static str, usize, String)>,
}

/// Where a server entry was written, by backend (aligned with
/// `Config::backends`), including entries that failed to parse.
pub(super) struct ServerEntry {
    /// Its `name`, when that was a string.
    pub(super) name: Option<String>,
    /// Position of the entry (its table).
    pub(super) at: usize,
    /// Key path of the entry (`backend.x.server[0]`).
    pub(super) path: String,
    /// Index in the backend's `servers`, when it parsed.
    pub(super) index: Option<usize>,
}

/// The prefix that turns `allow-name` into an ACL body.
const ALLOW_NAME_FETCH: &str = "rhttp_name ";

impl Cx<'_> {
    /// `tcp-request = { session = [ ... ] }` of a frontend.
    pub(super) fn tcp_request(&mut self, v: &Val<'_>, path: &str, acls: &Acls) -> SessionRules {
        let mut out = SessionRules::default();
        let Some(t) = self.table(
            v,
            path,
            "write rules as `tcp-request.session = [ { action = \"reject\", if = \"...\" } ]`",
        ) else {
            return out;
        };
        self.check_keys(
            t,
            path,
            "the `tcp-request` table",
            &["session", "connection", "content", "inspect-delay"],
            &[],
            &|_| None,
        );
        self.tcp_request_rules(t, path, acls, &mut out);
        let Some(sv) = t.get("session") else {
            return out;
        };
        let sp = join(path, "session");
        let Some(arr) = self.array(
            sv,
            &sp,
            "write rules as `tcp-request.session = [ { action = \"reject\", if = \"...\" } ]`",
        ) else {
            return out;
        };
        for (i, rv) in arr.iter().enumerate() {
            self.session_rule(rv, &index(&sp, i), acls, &mut out);
        }
        out
    }

    fn session_rule(&mut self, rv: &Val<'_>, path: &str, acls: &Acls, out: &mut SessionRules) {
        let Some(t) = self.table(
            rv,
            path,
            "write each rule as a table, e.g. `{ action = \"attach-srv\", server = \"tunnels/pool\" }`",
        ) else {
            return;
        };
        let at = rv.span().start;
        let Some(av) = t.get("action") else {
            self.error(
                at,
                path,
                "tcp-request session rule has no `action`",
                help(format!(
                    "add `action = \"...\"`, one of {}",
                    list(SESSION_ACTIONS)
                )),
            );
            return;
        };
        let ap = join(path, "action");
        let Some(action) = self.string(av, &ap, "`\"attach-srv\"`") else {
            return;
        };
        let specific: &[&str] = match action {
            "attach-srv" => &["server", "name", "name-from-cert", "allow-name"],
            "accept" | "reject" => &[],
            other => {
                let h = match did_you_mean(other, SESSION_ACTIONS.iter().copied()) {
                    Some(c) => format!("did you mean `\"{c}\"`?"),
                    None => format!("supported actions: {}", list(SESSION_ACTIONS)),
                };
                self.error(
                    av.span().start,
                    &ap,
                    format!("unknown or unsupported tcp-request session action `{other}`"),
                    help(h),
                );
                return;
            }
        };
        let mut valid = vec!["action"];
        valid.extend_from_slice(COND_KEYS);
        valid.extend_from_slice(specific);
        let what = format!("a tcp-request session `{action}` rule");
        self.check_keys(t, path, &what, &valid, &[], &|_| None);
        let cond = self.condition(t, path, acls);
        if let Some(c) = &cond
            && let Some((k, v)) = t.get_key_value("if").or_else(|| t.get_key_value("unless"))
        {
            let cp = join(path, k.get_ref());
            for e in c.exprs() {
                if !self.check_scope(e, v, &cp, "a `tcp-request.session` rule") {
                    break;
                }
            }
        }
        let action = match action {
            "accept" => SessionAction::Accept,
            "reject" => SessionAction::Reject,
            _ => {
                if out.first_attach.is_none() {
                    out.first_attach = Some((av.span().start, ap.clone()));
                }
                match self.attach_srv(t, at, path, out) {
                    Some(a) => SessionAction::AttachSrv(a),
                    None => return,
                }
            }
        };
        out.rules.push(SessionRule { action, cond });
    }

    fn attach_srv(
        &mut self,
        t: &DeTable<'_>,
        at: usize,
        path: &str,
        out: &mut SessionRules,
    ) -> Option<AttachSrv> {
        let target = self
            .required(
                t,
                at,
                path,
                "server",
                "an `attach-srv` rule",
                "\"tunnels/pool\"",
            )
            .and_then(|sv| {
                let sp = join(path, "server");
                let s = self.string(sv, &sp, "`\"tunnels/pool\"`")?;
                self.backend_server(sv, s, 1, &sp, "tunnels/pool")
            });
        let mut ok = true;
        let name_kv = t.get_key_value("name");
        let cert_kv = t.get_key_value("name-from-cert");
        if let (Some(_), Some((k, _))) = (name_kv, cert_kv) {
            ok = false;
            self.error(
                k.span().start,
                &join(path, "name-from-cert"),
                "an `attach-srv` rule cannot have both `name` and `name-from-cert`",
                help(
                    "keep `name` for one name computed by an expression, or `name-from-cert` \
                     for every name of the client certificate",
                ),
            );
        }
        let naming = if let Some((_, v)) = name_kv {
            let np = join(path, "name");
            self.sample_expr(v, &np).map(|e| {
                if !self.check_scope(&e, v, &np, "the `name` of an `attach-srv` rule") {
                    ok = false;
                }
                if e.fetch_name().starts_with("ssl_c_") {
                    out.needs_cert.push((v.span().start, np.clone()));
                }
                TunnelNaming::Expr(e)
            })
        } else if let Some((_, v)) = cert_kv {
            let cp = join(path, "name-from-cert");
            self.choice(v, &cp, &["cn", "dns-san", "cn+dns-san"])
                .map(|c| {
                    out.needs_cert.push((v.span().start, cp.clone()));
                    TunnelNaming::Cert {
                        common_name: c != "dns-san",
                        dns_sans: c != "cn",
                    }
                })
        } else {
            Some(TunnelNaming::Unnamed)
        };
        let allow_name = match t.get("allow-name") {
            None => Some(None),
            Some(v) => self.allow_name(v, &join(path, "allow-name")).map(Some),
        };
        // The reference is checked even when the rest of the rule is wrong
        // (against the server's `pool-conn-name` when the naming is known).
        let named = naming.as_ref().map(|n| !matches!(n, TunnelNaming::Unnamed));
        let complete = ok && target.is_some() && naming.is_some() && allow_name.is_some();
        let rule = complete.then_some(out.rules.len());
        if let Some(target) = target {
            out.attach.push(PendingAttach {
                rule,
                target,
                named,
            });
        }
        rule?;
        let (naming, allow_name) = (naming?, allow_name?);
        Some(AttachSrv {
            server: None,
            naming,
            allow_name,
        })
    }

    /// `allow-name = "<flags and patterns>"`: the condition
    /// `{ rhttp_name <flags and patterns> }`.
    fn allow_name(&mut self, v: &Val<'_>, path: &str) -> Option<Condition> {
        let text = self.string(v, path, "`\"-m end .apps.example.com\"`")?;
        if text.trim().is_empty() {
            self.error(
                v.span().start,
                path,
                "`allow-name` is empty",
                help(
                    "write the flags and patterns each tunnel name must match, e.g. \
                     `\"-m end .apps.example.com\"`, or remove `allow-name`",
                ),
            );
            return None;
        }
        if text.split_whitespace().next() == Some(ALLOW_NAME_FETCH.trim_end()) {
            let lead = text.chars().take_while(|c| c.is_whitespace()).count();
            self.error(
                self.string_char_pos(v, lead + 1),
                path,
                "`allow-name` holds only flags and patterns",
                help(
                    "remove `rhttp_name`: the patterns are matched against each tunnel name \
                     as `{ rhttp_name <allow-name> }`",
                ),
            );
            return None;
        }
        let body = format!("{ALLOW_NAME_FETCH}{text}");
        let mut acls = Acls::new();
        if let Err(e) = acls.define_in("allow-name", &body, &mut self.env(v)) {
            // Columns count from the start of `body`; point into the user's text.
            let col = e
                .column
                .saturating_sub(ALLOW_NAME_FETCH.chars().count())
                .max(1);
            let h = e.help.clone().or_else(|| {
                help(
                    "write the flags and patterns each tunnel name must match, e.g. \
                     `\"-m end .apps.example.com\"`, or `\"-f <file>\"` for one pattern per line",
                )
            });
            self.error(
                self.string_char_pos(v, col),
                path,
                format!("invalid `allow-name`: {}", e.message),
                h,
            );
            return None;
        }
        match Condition::parse("allow-name", &acls) {
            Ok(c) => Some(c),
            Err(e) => {
                self.error(
                    v.span().start,
                    path,
                    format!("invalid `allow-name`: {}", e.message),
                    e.help,
                );
                None
            }
        }
    }

    /// The checks of a frontend with an `attach-srv` rule; sets the ALPN
    /// of its TLS binds to `["h2"]` where the config left it out.
    pub(super) fn registration(
        &mut self,
        kind: Kind,
        t: &DeTable<'_>,
        path: &str,
        what: &str,
        binds: &mut [ParsedBind],
        session: &SessionRules,
    ) {
        let Some((first_at, first_path)) = &session.first_attach else {
            return;
        };
        if kind == Kind::Listen {
            self.error(
                *first_at,
                first_path,
                "`attach-srv` is not allowed in a listen section",
                help(
                    "a registration frontend serves no requests, while a listen section serves \
                     its own servers: put the rule in a `[frontend.<name>]` section",
                ),
            );
            return;
        }
        for key in ["default_backend", "use_backend", "http-request"] {
            if let Some((k, _)) = t.get_key_value(key) {
                self.error(
                    k.span().start,
                    &join(path, key),
                    format!("a registration frontend serves no requests: remove `{key}`"),
                    help(format!(
                        "{what} has an `attach-srv` rule, so its connections become tunnels; \
                         put `{key}` in a frontend that serves requests"
                    )),
                );
            }
        }
        for b in binds.iter_mut() {
            if b.reverse.is_some() {
                self.error(
                    b.addr_at,
                    &b.addr_path,
                    "an rhttp@ bind cannot be in a frontend with an `attach-srv` rule",
                    help(
                        "the frontend with `attach-srv` is the gateway side; the rhttp@ bind \
                         belongs to the origin's configuration",
                    ),
                );
                continue;
            }
            match (&mut b.bind.tls, &b.alpn_at) {
                (Some(tls), None) => tls.alpn = vec!["h2".to_owned()],
                (Some(tls), Some((at, p))) => {
                    if tls.alpn != ["h2"] {
                        self.error(
                            *at,
                            p,
                            "a registration bind must offer ALPN `h2` only",
                            help(
                                "set `alpn = [\"h2\"]`, or remove `alpn` (it defaults to \
                                 `[\"h2\"]` here): tunnels are HTTP/2 connections",
                            ),
                        );
                    }
                }
                (None, _) => {
                    if b.bind.proto != BindProto::H2 {
                        self.error(
                            b.addr_at,
                            &b.addr_path,
                            "a clear registration bind needs `proto = \"h2\"`",
                            help(
                                "add `proto = \"h2\"` (tunnels are HTTP/2 with prior \
                                 knowledge), or make it a TLS bind with `ssl = true`",
                            ),
                        );
                    }
                }
            }
        }
        let verifies = binds.iter().any(|b| {
            b.bind
                .tls
                .as_ref()
                .is_some_and(|tls| tls.verify != Verify::None)
        });
        if !verifies {
            for (at, p) in &session.needs_cert {
                self.error(
                    *at,
                    p,
                    format!(
                        "tunnel names come from the client certificate, but no bind of {what} \
                         asks for one"
                    ),
                    help(
                        "set `verify = \"required\"` (or `\"optional\"`) and `ca-file` on a TLS \
                         bind of this frontend",
                    ),
                );
            }
        }
    }
}

/// Backend name → index, for references.
pub(super) type BackendIndex = HashMap<String, usize>;

/// What [`resolve`] reads and patches.
pub(super) struct Reverse<'a> {
    pub(super) backend_index: &'a BackendIndex,
    pub(super) backend_order: &'a [String],
    pub(super) servers: &'a [Vec<ServerEntry>],
    /// Per frontend (aligned with `frontends`): its parsed binds.
    pub(super) binds: &'a [Vec<ParsedBind>],
    /// Per frontend: its `attach-srv` rules.
    pub(super) attach: &'a [Vec<PendingAttach>],
}

impl Cx<'_> {
    /// Resolves a `<backend>/<server>` reference to indexes.
    fn resolve_ref(&mut self, r: &Reverse<'_>, p: &PendingRef) -> Option<(usize, usize)> {
        let Some(&be) = r.backend_index.get(&p.backend) else {
            let h = if let Some(c) =
                did_you_mean(&p.backend, r.backend_order.iter().map(String::as_str))
            {
                format!("did you mean `{c}`?")
            } else if r.backend_order.is_empty() {
                format!(
                    "no backend is defined: add a `[backend.{}]` section",
                    p.backend
                )
            } else {
                let names: Vec<&str> = r.backend_order.iter().map(String::as_str).collect();
                format!("defined backends: {}", list(&names))
            };
            self.error(
                p.backend_at,
                &p.path,
                format!("unknown backend `{}`", p.backend),
                help(h),
            );
            return None;
        };
        let entries = r.servers.get(be)?;
        if let Some(e) = entries
            .iter()
            .find(|e| e.name.as_deref() == Some(p.server.as_str()))
        {
            // A server that failed to parse has its own error already.
            return e.index.map(|i| (be, i));
        }
        let names: Vec<&str> = entries.iter().filter_map(|e| e.name.as_deref()).collect();
        let h = if let Some(c) = did_you_mean(&p.server, names.iter().copied()) {
            format!("did you mean `{c}`?")
        } else if names.is_empty() {
            format!(
                "backend `{}` has no servers: add `server = [ {{ name = \"{}\", addr = ... }} ]`",
                p.backend, p.server
            )
        } else {
            format!("servers of backend `{}`: {}", p.backend, list(&names))
        };
        self.error(
            p.server_at,
            &p.path,
            format!("unknown server `{}` in backend `{}`", p.server, p.backend),
            help(h),
        );
        None
    }
}

/// Resolves every `rhttp@` bind and `attach-srv` rule, checks what each
/// needs of its server, and warns about `rhttp@` servers no rule targets.
pub(super) fn resolve(
    cx: &mut Cx<'_>,
    r: &Reverse<'_>,
    backends: &[Backend],
    frontends: &mut [Frontend],
) {
    let mut targeted: Vec<Vec<bool>> = backends
        .iter()
        .map(|b| vec![false; b.servers.len()])
        .collect();
    let entry = |be: usize, si: usize| {
        r.servers[be]
            .iter()
            .find(|e| e.index == Some(si))
            .map(|e| (e.at, e.path.clone()))
            .unwrap_or((0, String::new()))
    };
    for (fi, pbs) in r.binds.iter().enumerate() {
        for (bi, pb) in pbs.iter().enumerate() {
            let Some(p) = &pb.reverse else { continue };
            let Some((be, si)) = cx.resolve_ref(r, p) else {
                continue;
            };
            let srv = &backends[be].servers[si];
            let loc = cx.location(entry(be, si).0);
            let who = format!("`{}/{}`", p.backend, p.server);
            if srv.reverse().is_some() {
                cx.error(
                    p.server_at,
                    &p.path,
                    format!("an rhttp@ bind cannot dial {who}: it is itself an rhttp@ server"),
                    help(
                        "name the ordinary server that points at the gateway's registration \
                         bind, with `ssl = true` and `proto = \"h2\"`",
                    ),
                );
                continue;
            }
            let tls = srv.tls.is_some();
            let h2 =
                srv.proto == ServerProto::H2 || srv.tls.as_ref().is_some_and(|t| t.alpn == ["h2"]);
            if !tls || !h2 {
                let (message, fix) = match (tls, h2) {
                    (false, false) => (
                        format!("server {who} must use TLS and HTTP/2 to carry tunnels"),
                        "`ssl = true` (with `ca-file` and a client `crt`) and `proto = \"h2\"`",
                    ),
                    (false, true) => (
                        format!("server {who} must use TLS to carry tunnels"),
                        "`ssl = true` (with `ca-file` and a client `crt`)",
                    ),
                    _ => (
                        format!("server {who} must speak HTTP/2 to carry tunnels"),
                        "`proto = \"h2\"` (or `alpn = [\"h2\"]`)",
                    ),
                };
                cx.error(
                    p.server_at,
                    &p.path,
                    message,
                    help(format!(
                        "add {fix} to server `{}` ({loc}): the rhttp@ bind dials it, registers \
                         over TLS, then serves HTTP/2 requests on the connection",
                        p.server
                    )),
                );
                continue;
            }
            if let Some(b) = frontends.get_mut(fi).and_then(|f| f.binds.get_mut(bi))
                && let BindAddr::Reverse(rb) = &mut b.addr
            {
                rb.server = Some(ServerAt::new(be, si));
            }
        }
    }
    for (fi, attach) in r.attach.iter().enumerate() {
        for a in attach {
            let p = &a.target;
            let Some((be, si)) = cx.resolve_ref(r, p) else {
                continue;
            };
            let srv = &backends[be].servers[si];
            let loc = cx.location(entry(be, si).0);
            let who = format!("`{}/{}`", p.backend, p.server);
            let Some(rs) = srv.reverse() else {
                let addr = srv
                    .net_addr()
                    .map(|a| format!("{}:{}", a.host, a.port))
                    .unwrap_or_default();
                cx.error(
                    p.server_at,
                    &p.path,
                    format!("`attach-srv` needs an rhttp@ server, but {who} connects to `{addr}`"),
                    help(format!(
                        "set `addr = \"rhttp@\"` on server `{}` ({loc}), or name an rhttp@ \
                         server",
                        p.server
                    )),
                );
                continue;
            };
            targeted[be][si] = true;
            match (a.named, rs.name.is_some()) {
                (None, _) => {}
                (Some(true), false) => cx.error(
                    p.server_at,
                    &p.path,
                    format!(
                        "this rule names its tunnels, but rhttp@ server {who} has no \
                         `pool-conn-name` to pick them by"
                    ),
                    help(format!(
                        "add `pool-conn-name = \"req.hdr(host),field(1,:)\"` to server `{}` \
                         ({loc}), or remove `name`/`name-from-cert` from this rule so that its \
                         tunnels serve every request",
                        p.server
                    )),
                ),
                (Some(false), true) => cx.error(
                    p.server_at,
                    &p.path,
                    format!(
                        "rhttp@ server {who} picks tunnels by `pool-conn-name`, but this rule \
                         registers them without a name"
                    ),
                    help(format!(
                        "add `name = \"ssl_c_s_dn(CN)\"` or `name-from-cert = \"cn\"` to this \
                         rule, or remove `pool-conn-name` from server `{}` ({loc})",
                        p.server
                    )),
                ),
                _ => {
                    if let Some(rule) = a
                        .rule
                        .and_then(|i| frontends.get_mut(fi)?.tcp_request_session.get_mut(i))
                        && let SessionAction::AttachSrv(at) = &mut rule.action
                    {
                        at.server = Some(ServerAt::new(be, si));
                    }
                }
            }
        }
    }
    for (be, entries) in r.servers.iter().enumerate() {
        for e in entries {
            let Some(si) = e.index else { continue };
            let Some(srv) = backends.get(be).and_then(|b| b.servers.get(si)) else {
                continue;
            };
            if srv.reverse().is_some() && !targeted[be][si] {
                let bname = &backends[be].name;
                cx.warn(
                    e.at,
                    &e.path,
                    format!(
                        "no tunnel can register with rhttp@ server `{bname}/{}`: no \
                         `attach-srv` rule names it, so its requests get 503",
                        srv.name
                    ),
                    help(format!(
                        "add `tcp-request.session = [ {{ action = \"attach-srv\", server = \
                         \"{bname}/{}\" }} ]` to the frontend where tunnels register",
                        srv.name
                    )),
                );
            }
        }
    }
}
