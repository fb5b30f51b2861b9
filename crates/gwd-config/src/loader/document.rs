//! The whole document: sections in file order, names, references, and
//! the checks that span sections (duplicate binds, QUIC gate).

use std::collections::HashMap;
use std::path::Path;

use gwd_quic_gate as gate;
use gwd_sample::Acls;
use toml::de::DeTable;

use super::binds::ParsedBind;
use super::reverse::{self, PendingAttach, ServerEntry, SessionRules};
use super::rules::RuleList;
use super::settings::Inherited;
use super::*;
use crate::diag::LoadErrors;
use crate::ids::BackendId;

// ---- the document ---------------------------------------------------------

/// A frontend/backend/listen section, found at the top level.
struct Section<'a, 'i> {
    kind: Kind,
    name: &'a str,
    /// Position of the section (its `[kind.name]` header).
    at: usize,
    /// Position of the name (for duplicate-name errors).
    name_at: usize,
    path: String,
    table: &'a DeTable<'i>,
}

/// A backend name → index, with where it was defined.
struct BackendNames {
    index: HashMap<String, usize>,
    order: Vec<String>,
}

impl BackendNames {
    fn resolve(&self, cx: &mut Cx<'_>, v: &Val<'_>, path: &str) -> Option<usize> {
        let name = cx.string(v, path, "`\"app\"`")?;
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        let h = if name.contains("%[") {
            "a computed name is allowed in `use_backend` rules only, not in `default_backend`"
                .to_owned()
        } else if let Some(c) = did_you_mean(name, self.order.iter().map(String::as_str)) {
            format!("did you mean `{c}`?")
        } else if self.order.is_empty() {
            format!("no backend is defined: add a `[backend.{name}]` section")
        } else {
            let names: Vec<&str> = self.order.iter().map(String::as_str).collect();
            format!("defined backends: {}", list(&names))
        };
        cx.error(
            v.span().start,
            path,
            format!("unknown backend `{name}`"),
            help(h),
        );
        None
    }
}

pub(crate) fn parse(src: &str, file: &Path) -> Result<Config, LoadErrors> {
    parse_with(src, file, MapRegistry::new())
}

/// [`parse`], map and pattern files resolving in `maps` (see
/// `super::reload` for a registry that keeps running references).
pub(super) fn parse_with(src: &str, file: &Path, maps: MapRegistry) -> Result<Config, LoadErrors> {
    let mut cx = Cx::with_maps(src, file, maps);
    let (root, errors) = DeTable::parse_recoverable(src);
    if !errors.is_empty() {
        for e in errors {
            let at = e.span().map_or(0, |s| s.start);
            let msg = e.message().trim_end().to_owned();
            let h = if msg.contains("duplicate key") {
                "a key or `[section]` can be defined only once: merge the two, or rename one"
            } else {
                "this is not valid TOML: check quotes, brackets and `key = value` syntax \
                 (a translation table from haproxy.cfg is in docs/CONFIG.md)"
            };
            cx.error(at, "", format!("invalid TOML: {msg}"), help(h));
        }
        return Err(LoadErrors {
            diagnostics: cx.into_diags(),
        });
    }
    let root = root.get_ref();
    cx.check_keys(root, "", "the top level", TOP_KEYS, &[], &|k| {
        LISTEN_KEYS.contains(&k).then(|| {
            format!("`{k}` must be inside a `[defaults]`, `[frontend.<name>]`, `[backend.<name>]` or `[listen.<name>]` section")
        }).or_else(|| GLOBAL_KEYS.contains(&k).then(|| format!("`{k}` must be inside the `[global]` section")))
    });

    let global = match root.get("global") {
        Some(v) => cx.global(v),
        None => super::settings::default_global(),
    };

    let userlists = match root.get("userlist") {
        Some(v) => cx.userlists(v),
        None => Vec::new(),
    };

    let builtin = Inherited::default();
    let mut defaults_at = None;
    let mut inherited = builtin.clone();
    if let Some(v) = root.get("defaults")
        && let Some(t) = cx.table(v, "defaults", "write a `[defaults]` section")
    {
        defaults_at = Some(v.span().start);
        cx.check_keys(
            t,
            "defaults",
            "`[defaults]`",
            DEFAULTS_KEYS,
            PROXY_DOTTED,
            &|k| misplaced(Kind::Defaults, k),
        );
        let o = cx.overrides(t, "defaults", DEFAULTS_KEYS);
        inherited = builtin.with(&o);
    }

    // Sections in file order.
    let mut sections: Vec<Section<'_, '_>> = Vec::new();
    for kind in [Kind::Frontend, Kind::Backend, Kind::Listen] {
        let word = kind.word();
        let Some(v) = root.get(word) else { continue };
        let Some(t) = cx.table(
            v,
            word,
            &format!("write one `[{word}.<name>]` section per {word}"),
        ) else {
            continue;
        };
        for (k, sv) in t.iter() {
            let name: &str = k.get_ref();
            let path = join(word, name);
            if !valid_name(name) {
                cx.error(
                    k.span().start,
                    &path,
                    format!("invalid {word} name `{name}`"),
                    help("names may contain letters, digits, `-`, `_`, `.` and `:`"),
                );
                continue;
            }
            let Some(st) = cx.table(
                sv,
                &path,
                &format!(
                    "each {word} is a named `[{word}.<name>]` section: put `{name}` inside one"
                ),
            ) else {
                continue;
            };
            sections.push(Section {
                kind,
                name,
                at: sv.span().start,
                name_at: k.span().start,
                path,
                table: st,
            });
        }
    }
    sections.sort_by_key(|s| s.at);

    // Names and ids.
    let mut fe_seen: HashMap<&str, &str> = HashMap::new();
    let mut be_names = BackendNames {
        index: HashMap::new(),
        order: Vec::new(),
    };
    let mut be_seen: HashMap<&str, &str> = HashMap::new();
    for s in &sections {
        for (side, is, seen) in [
            ("frontend", s.kind.is_front(), &mut fe_seen),
            ("backend", s.kind.is_back(), &mut be_seen),
        ] {
            if !is {
                continue;
            }
            if let Some(first) = seen.get(s.name) {
                cx.error(
                    s.name_at,
                    &s.path,
                    format!("duplicate {side} name `{}`", s.name),
                    help(format!(
                        "`{first}` already defines a {side} named `{}`; rename one of them",
                        s.name
                    )),
                );
            } else {
                seen.insert(s.name, &s.path);
            }
        }
        if s.kind.is_back() {
            be_names
                .index
                .entry(s.name.to_owned())
                .or_insert(be_names.order.len());
            be_names.order.push(s.name.to_owned());
        }
    }

    let mut frontends = Vec::new();
    // Per frontend: section position and key path.
    let mut fe_at: Vec<(usize, String)> = Vec::new();
    let mut backends: Vec<Backend> = Vec::new();
    // Per backend: section position, key path, whether it declares servers.
    let mut be_at: Vec<(usize, String, bool)> = Vec::new();
    let mut referenced = vec![false; be_names.order.len()];
    let mut parsed_binds: Vec<Vec<ParsedBind>> = Vec::new();
    // Per backend: where each server entry was written.
    let mut server_entries: Vec<Vec<ServerEntry>> = Vec::new();
    // Per frontend: its `attach-srv` rules, resolved at the end.
    let mut pending_attach: Vec<Vec<PendingAttach>> = Vec::new();
    // Static routes (frontend, position, key path, backend), checked
    // against the backends' modes once every section is read.
    let mut routes: Vec<(usize, usize, String, usize)> = Vec::new();
    for s in &sections {
        let what = format!("{} `{}`", s.kind.word(), s.name);
        let t = s.table;
        let base = match defaults_at {
            Some(d) if s.at > d => &inherited,
            Some(_) => {
                cx.warn(
                    s.at,
                    &s.path,
                    format!("{what} is declared before `[defaults]` and does not inherit from it"),
                    help("move the `[defaults]` section above the first frontend, backend or listen section"),
                );
                &builtin
            }
            None => &builtin,
        };
        let kind = s.kind;
        cx.check_keys(t, &s.path, &what, kind.keys(), PROXY_DOTTED, &|k| {
            misplaced(kind, k)
        });
        let o = cx.overrides(t, &s.path, kind.keys());
        let eff = base.with(&o);
        let acls = match t.get("acl") {
            Some(v) => cx.acls(v, &join(&s.path, "acl")),
            None => Acls::new(),
        };
        // A frontend's capture slots come before its rules, which may add
        // to them (`capture ... len`) or name them (`id`).
        cx.captures = kind.is_front().then(|| match t.get("capture") {
            Some(v) => cx.capture_entries(v, &join(&s.path, "capture")),
            None => CaptureSlots::default(),
        });
        let mut rule_list = |key: &str, list: RuleList| match t.get(key) {
            Some(v) => cx.http_rules(v, &join(&s.path, key), &acls, list),
            None => Vec::new(),
        };
        let mut rules = Some(rule_list("http-request", RuleList::Request));
        let mut res_rules = Some(rule_list("http-response", RuleList::Response));
        let mut after_rules = Some(rule_list("http-after-response", RuleList::AfterResponse));
        let tcp_mode = eff.mode == crate::ProxyMode::Tcp;
        if tcp_mode {
            // HAProxy ignores HTTP rules in TCP mode; `mode_checks` warns.
            for r in [&mut rules, &mut res_rules, &mut after_rules] {
                *r = Some(Vec::new());
            }
        }
        if kind == Kind::Backend {
            cx.mode_checks(eff.mode, t, &s.path, &what, None);
        }
        if kind.is_back() {
            let mut servers = Vec::new();
            let mut entries = Vec::new();
            let mut declares_servers = false;
            if let Some(v) = t.get("server") {
                let sp = join(&s.path, "server");
                if let Some(arr) = cx.array(
                    v,
                    &sp,
                    "write servers as `server = [ { name = \"s1\", addr = \"127.0.0.1:8080\" } ]`",
                ) {
                    let mut seen = HashMap::new();
                    declares_servers = !arr.is_empty();
                    for (i, sv) in arr.iter().enumerate() {
                        let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        let path = index(&sp, i);
                        let name = match sv.get_ref() {
                            toml::de::DeValue::Table(st) => {
                                st.get("name").and_then(|n| match n.get_ref() {
                                    toml::de::DeValue::String(n) => Some(n.to_string()),
                                    _ => None,
                                })
                            }
                            _ => None,
                        };
                        let srv = cx.server(sv, &path, id, eff.pool, &mut seen);
                        entries.push(ServerEntry {
                            name,
                            at: sv.span().start,
                            path,
                            index: srv.as_ref().map(|_| servers.len()),
                        });
                        if let Some(srv) = srv {
                            servers.push(srv);
                        }
                    }
                }
            }
            let r = eff.redispatch;
            if r.is_on()
                && eff.retries > 0
                && !(1..=eff.retries).any(|n| r.on_retry(n, eff.retries))
            {
                cx.warn(
                    s.at,
                    &s.path,
                    format!(
                        "`option.redispatch = {}` names none of the {} retries: only a failed \
                         server that is down, or balancing that hashes no key over several \
                         servers, moves a retry",
                        r.0, eff.retries
                    ),
                    help("an interval from -retries to retries (`-1`: the last retry, `1`: every retry)"),
                );
            }
            let id = u32::try_from(backends.len() + 1).unwrap_or(u32::MAX);
            backends.push(Backend {
                name: s.name.to_owned(),
                id,
                mode: eff.mode,
                servers,
                balance: eff.balance.clone(),
                hash_type: eff.hash_type,
                all_backups: eff.all_backups,
                retries: eff.retries,
                retry_on: eff.retry_on,
                redispatch: eff.redispatch,
                http_check: eff.http_check.clone(),
                timeouts: eff.timeouts,
                forwardfor: eff.forwardfor.clone().filter(|_| !tcp_mode),
                error_pages: eff.error_pages.clone(),
                compression: eff.compression.clone(),
                // In a listen section the rules run once, in the frontend half.
                http_request: if kind == Kind::Backend {
                    rules.take().unwrap_or_default()
                } else {
                    Vec::new()
                },
                http_response: if kind == Kind::Backend {
                    res_rules.take().unwrap_or_default()
                } else {
                    Vec::new()
                },
                http_after_response: if kind == Kind::Backend {
                    after_rules.take().unwrap_or_default()
                } else {
                    Vec::new()
                },
                http_reuse: eff.http_reuse,
                pool: eff.pool,
            });
            be_at.push((s.at, s.path.clone(), declares_servers));
            server_entries.push(entries);
        }
        if kind.is_front() {
            let mut binds = Vec::new();
            let bind_v = t.get("bind");
            let mut any_bind = false;
            if let Some(v) = bind_v {
                let bp = join(&s.path, "bind");
                if let Some(arr) =
                    cx.array(v, &bp, "write binds as `bind = [ { addr = \":8080\" } ]`")
                {
                    any_bind = !arr.is_empty();
                    for (i, bv) in arr.iter().enumerate() {
                        if let Some(b) = cx.bind(bv, &index(&bp, i)) {
                            binds.push(b);
                        }
                    }
                } else {
                    any_bind = true;
                }
            }
            if !any_bind {
                let (at, p) = match bind_v {
                    Some(v) => (v.span().start, join(&s.path, "bind")),
                    None => (s.at, s.path.clone()),
                };
                cx.error(
                    at,
                    &p,
                    format!("{what} has no bind"),
                    help("add `bind = [ { addr = \":8080\" } ]`"),
                );
            }
            let session = match t.get("tcp-request") {
                Some(v) => cx.tcp_request(v, &join(&s.path, "tcp-request"), &acls),
                None => SessionRules::default(),
            };
            cx.mode_checks(eff.mode, t, &s.path, &what, Some(&session));
            cx.registration(kind, t, &s.path, &what, &mut binds, &session);
            let fi = frontends.len();
            let mut use_backend = Vec::new();
            if let Some(v) = t.get("use_backend") {
                let up = join(&s.path, "use_backend");
                if let Some(arr) = cx.array(
                    v,
                    &up,
                    "write rules as `use_backend = [ { backend = \"api\", if = \"...\" } ]`",
                ) {
                    for (i, rv) in arr.iter().enumerate() {
                        let rp = index(&up, i);
                        let Some(rt) = cx.table(
                            rv,
                            &rp,
                            "write each rule as `{ backend = \"api\", if = \"...\" }`",
                        ) else {
                            continue;
                        };
                        let mut valid = vec!["backend"];
                        valid.extend_from_slice(COND_KEYS);
                        cx.check_keys(rt, &rp, "a `use_backend` rule", &valid, &[], &|_| None);
                        let bv = cx.required(
                            rt,
                            rv.span().start,
                            &rp,
                            "backend",
                            "`use_backend` rule",
                            "\"app\"",
                        );
                        let bp = join(&rp, "backend");
                        let dynamic = bv.filter(
                            |v| matches!(v.get_ref(), DeValue::String(s) if s.contains("%[")),
                        );
                        let be = match (bv, dynamic) {
                            // `%[...]`: the name is computed per request.
                            (_, Some(v)) => cx
                                .log_format(v, &bp, "`\"%[req.hdr(host),map(hosts.map,app)]\"`")
                                .map(BackendChoice::Dynamic),
                            (Some(v), None) => be_names.resolve(&mut cx, v, &bp).map(|i| {
                                referenced[i] = true;
                                routes.push((fi, v.span().start, bp.clone(), i));
                                BackendChoice::Static(BackendId::new(i))
                            }),
                            (None, None) => None,
                        };
                        let cond = cx.condition(rt, &rp, &acls);
                        if let Some(c) = &cond
                            && let Some((k, cv)) = rt
                                .get_key_value("if")
                                .or_else(|| rt.get_key_value("unless"))
                        {
                            let cp = join(&rp, k.get_ref());
                            if tcp_mode {
                                cx.tcp_scope(c, cv, &cp, true, "a `use_backend` rule");
                            } else if let Some(e) = c
                                .exprs()
                                .find(|e| e.scope() == gwd_sample::FetchScope::Content)
                            {
                                cx.error(
                                    cv.span().start,
                                    &cp,
                                    format!("`{}` reads a TCP client's first bytes, but {what} is `mode = \"http\"`", e.fetch_name()),
                                    help("use `ssl_fc_sni` and request fetches in HTTP mode"),
                                );
                            }
                        }
                        if let Some(backend) = be {
                            use_backend.push(UseBackend { backend, cond });
                        }
                    }
                }
            }
            let default_backend = match t.get("default_backend") {
                Some(v) => {
                    let dp = join(&s.path, "default_backend");
                    let i = be_names.resolve(&mut cx, v, &dp);
                    if let Some(i) = i {
                        routes.push((fi, v.span().start, dp, i));
                    }
                    i
                }
                None if kind == Kind::Listen => be_names.index.get(s.name).copied(),
                None => None,
            };
            if let Some(be) = default_backend {
                referenced[be] = true;
            }
            let stats = match t.get_key_value("stats").filter(|_| !tcp_mode) {
                Some((k, v)) => cx.stats_page(k.span().start, v, &join(&s.path, "stats")),
                None => None,
            };
            let id = u32::try_from(frontends.len() + 1).unwrap_or(u32::MAX);
            frontends.push(Frontend {
                name: s.name.to_owned(),
                id,
                mode: eff.mode,
                tcp_request: session.tcp,
                binds: binds.iter().map(|b| b.bind.clone()).collect(),
                timeouts: eff.timeouts,
                forwardfor: eff.forwardfor.clone().filter(|_| !tcp_mode),
                error_pages: eff.error_pages.clone(),
                compression: eff.compression.clone(),
                http_request: rules.take().unwrap_or_default(),
                http_response: res_rules.take().unwrap_or_default(),
                http_after_response: after_rules.take().unwrap_or_default(),
                use_backend,
                default_backend: default_backend.map(BackendId::new),
                tcp_request_session: session.rules,
                stats,
                maxconn: t
                    .get("maxconn")
                    .and_then(|v| cx.maxconn(v, &join(&s.path, "maxconn"))),
                log: eff.log.resolve(&global.log),
                captures: cx.captures.take().unwrap_or_default(),
            });
            parsed_binds.push(binds);
            fe_at.push((s.at, s.path.clone()));
            pending_attach.push(session.attach);
        }
    }

    // Reverse HTTP: `rhttp@` binds and `attach-srv` rules may name servers
    // declared after them.
    reverse::resolve(
        &mut cx,
        &reverse::Reverse {
            backend_index: &be_names.index,
            backend_order: &be_names.order,
            servers: &server_entries,
            binds: &parsed_binds,
            attach: &pending_attach,
        },
        &backends,
        &mut frontends,
    );

    // Routes between modes.
    for (fi, at, path, bi) in &routes {
        if let (Some(f), Some(b)) = (frontends.get(*fi), backends.get(*bi)) {
            cx.route_mode(*at, path, (&f.name, f.mode), (&b.name, b.mode));
        }
    }

    // Backends routed to but declared without servers.
    for (i, be) in backends.iter().enumerate() {
        let (at, path, declares_servers) = &be_at[i];
        if referenced.get(i).copied().unwrap_or(false) && !declares_servers {
            cx.warn(
                *at,
                path,
                format!(
                    "backend `{}` has no servers: requests routed to it get 503",
                    be.name
                ),
                help("add `server = [ { name = \"s1\", addr = \"host:port\" } ]`"),
            );
        }
    }

    // Duplicate TCP addresses (port 0 = any free port, never a clash).
    let mut bound: Vec<(std::net::SocketAddr, &ParsedBind)> = Vec::new();
    for pb in parsed_binds.iter().flatten() {
        let BindAddr::Tcp(sa) = pb.bind.addr else {
            continue;
        };
        if sa.port() == 0 {
            continue;
        }
        let clash = bound.iter().find(|(other, _)| {
            other.port() == sa.port()
                && other.is_ipv4() == sa.is_ipv4()
                && (other.ip() == sa.ip()
                    || other.ip().is_unspecified()
                    || sa.ip().is_unspecified())
        });
        if let Some((other, first)) = clash {
            let msg = if *other == sa {
                format!("address `{sa}` is bound twice")
            } else {
                format!("address `{sa}` overlaps `{other}`")
            };
            let h = format!(
                "already bound at {} ({}); remove one of the binds",
                first.bind.location, first.addr_path
            );
            cx.error(pb.addr_at, &pb.addr_path, msg, help(h));
        } else {
            bound.push((sa, pb));
        }
    }

    // The QUIC gate.
    let all: Vec<&ParsedBind> = parsed_binds.iter().flatten().collect();
    let gate_binds: Vec<gate::QuicBind<'_>> = all
        .iter()
        .map(|b| gate::QuicBind {
            addr: &b.addr_text,
            allow_0rtt: b.zero_rtt.as_ref().is_some_and(|z| z.0),
        })
        .collect();
    let findings = gate::check(
        gate::Capabilities::of_this_build(),
        gate::Policy {
            limited_quic: global.limited_quic,
        },
        &gate_binds,
    );
    for f in findings {
        let Some(b) = all.get(f.bind) else { continue };
        let (at, path) = match (f.kind, &b.zero_rtt) {
            (gate::FindingKind::ZeroRttIgnored, Some((_, at, path))) => (*at, path.clone()),
            _ => (b.addr_at, b.addr_path.clone()),
        };
        let severity = match f.severity {
            gate::Severity::Error => Severity::Error,
            gate::Severity::Warning => Severity::Warning,
        };
        cx.push(severity, at, &path, f.message, f.help);
    }

    if cx.has_errors() {
        return Err(LoadErrors {
            diagnostics: cx.into_diags(),
        });
    }
    missing_timeouts(&mut cx, &frontends, &fe_at, &backends, &be_at);
    let maps = std::mem::take(&mut cx.maps.registry);
    Ok(Config {
        source: file.to_path_buf(),
        global,
        frontends,
        backends,
        warnings: cx.into_diags(),
        maps,
        userlists,
    })
}

/// HAProxy's "missing timeouts" warning: without `timeout.client` an idle
/// or stalled visitor is never closed; without `timeout.connect` and
/// `timeout.server`, a silent server holds requests (and their visitors)
/// for ever. Given for valid configurations only (an invalid one does not
/// run).
fn missing_timeouts(
    cx: &mut Cx<'_>,
    frontends: &[Frontend],
    fe_at: &[(usize, String)],
    backends: &[Backend],
    be_at: &[(usize, String, bool)],
) {
    let help = |names: &[&str]| {
        let keys: Vec<String> = names
            .iter()
            .map(|n| {
                format!(
                    "`timeout.{n} = \"{}\"`",
                    if *n == "connect" { "5s" } else { "30s" }
                )
            })
            .collect();
        Some(format!(
            "set {} here or in `[defaults]`",
            keys.join(" and ")
        ))
    };
    for (f, (at, path)) in frontends.iter().zip(fe_at) {
        // A registration frontend bounds its handshakes itself (5 s).
        if f.timeouts.client.is_none() && !f.is_registration() {
            cx.warn(
                *at,
                path,
                format!("frontend `{}` has no `timeout.client`: idle and stalled visitors are never closed", f.name),
                help(&["client"]),
            );
        }
    }
    for (b, (at, path, _)) in backends.iter().zip(be_at) {
        // `rhttp@` servers are not connected to.
        let dials = b.servers.iter().any(|s| s.reverse().is_none());
        let mut missing = Vec::new();
        if dials && b.timeouts.connect.is_none() {
            missing.push("connect");
        }
        if !b.servers.is_empty() && b.timeouts.server.is_none() {
            missing.push("server");
        }
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|m| format!("`timeout.{m}`")).collect();
            cx.warn(
                *at,
                path,
                format!(
                    "backend `{}` has no {}: a server that never answers holds its requests for ever",
                    b.name,
                    list.join(" and ")
                ),
                help(&missing),
            );
        }
    }
}
