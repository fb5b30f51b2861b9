//! ACLs, `if`/`unless` conditions and `http-request` rules.

use gwd_maps::{MapRef, MatchKind, MatchSpec};
use gwd_sample::{Acls, Condition, Expr, FetchScope, LogFormat, MapResolver, MapUse, VarName};
use toml::de::{DeTable, DeValue};

use super::*;

// ---- proxies: ACLs, conditions, rules ------------------------------------

impl Cx<'_> {
    /// An optional one-line text value at `key` (a media type, a reason
    /// phrase): `Some(None)` when absent, `None` (after an error) when it
    /// is no string or holds a control character, which would break the
    /// head it is written into.
    pub(super) fn optional_line(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
        example: &str,
        hint: &str,
    ) -> Option<Option<String>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        let kp = join(path, key);
        let s = self.string(v, &kp, example)?;
        if s.chars().any(|c| c.is_control()) {
            self.error(
                v.span().start,
                &kp,
                format!("`{key}` contains a control character"),
                help(hint),
            );
            return None;
        }
        Some(Some(s.to_owned()))
    }

    pub(super) fn acls(&mut self, v: &Val<'_>, path: &str) -> Acls {
        let mut acls = Acls::new();
        let Some(t) = self.table(
            v,
            path,
            "write ACLs as `acl.<name> = \"<fetch> <patterns>\"`",
        ) else {
            return acls;
        };
        for (k, body) in t.iter() {
            let name: &str = k.get_ref();
            let p = join(path, name);
            if !valid_name(name) {
                self.error(
                    k.span().start,
                    &p,
                    format!("invalid ACL name `{name}`"),
                    help("ACL names may contain letters, digits, `-`, `_`, `.` and `:`"),
                );
                continue;
            }
            let what = format!("ACL `{name}`");
            match body.get_ref() {
                DeValue::String(s) => {
                    if let Err(e) = acls.define_in(name, s, &mut self.env(body)) {
                        self.expr_error(body, &p, &what, &e);
                    }
                }
                DeValue::Array(items) => {
                    if items.is_empty() {
                        self.error(
                            body.span().start,
                            &p,
                            format!("ACL `{name}` is empty"),
                            help(format!("write `acl.{name} = \"<fetch> <patterns>\"`")),
                        );
                    }
                    for (i, item) in items.iter().enumerate() {
                        let ip = index(&p, i);
                        if let Some(s) = self.string(item, &ip, "`\"path_beg /api\"`")
                            && let Err(e) = acls.define_in(name, s, &mut self.env(item))
                        {
                            self.expr_error(item, &ip, &what, &e);
                        }
                    }
                }
                _ => self.type_error(
                    body,
                    &p,
                    "a string or an array of strings",
                    help(format!("write `acl.{name} = \"<fetch> <patterns>\"`")),
                ),
            }
        }
        acls
    }

    /// `if`/`unless` of a rule table.
    pub(super) fn condition(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        acls: &Acls,
    ) -> Option<Condition> {
        let if_v = t.get("if");
        let unless_v = t.get_key_value("unless");
        if let (Some(_), Some((k, _))) = (if_v, unless_v) {
            self.error(
                k.span().start,
                &join(path, "unless"),
                "a rule cannot have both `if` and `unless`",
                help("keep one of them; a single condition can combine ACLs, e.g. `if = \"acl1 !acl2\"`"),
            );
            return None;
        }
        if let Some(v) = if_v {
            let p = join(path, "if");
            let s = self.string(v, &p, "`\"<acl> ...\"` or `\"{ <fetch> <pattern> }\"`")?;
            return match Condition::parse_in(s, acls, &mut self.env(v)) {
                Ok(c) => {
                    self.check_condition_userlists(&c, v.span().start, &p);
                    Some(c)
                }
                Err(e) => {
                    self.expr_error(v, &p, "condition", &e);
                    None
                }
            };
        }
        if let Some((_, v)) = unless_v {
            let p = join(path, "unless");
            let s = self.string(v, &p, "`\"<acl> ...\"` or `\"{ <fetch> <pattern> }\"`")?;
            return match Condition::parse_in(s, acls, &mut self.env(v)) {
                Ok(c) => {
                    self.check_condition_userlists(&c, v.span().start, &p);
                    Some(c.negate())
                }
                Err(e) => {
                    self.expr_error(v, &p, "condition", &e);
                    None
                }
            };
        }
        None
    }

    pub(super) fn log_format(
        &mut self,
        v: &Val<'_>,
        path: &str,
        example: &str,
    ) -> Option<LogFormat> {
        let s = self.string(v, path, example)?;
        match LogFormat::parse_in(s, &mut self.env(v)) {
            Ok(f) => Some(f),
            Err(e) => {
                self.expr_error(v, path, "log-format string", &e);
                None
            }
        }
    }

    /// The shared reference of a map or ACL file named by an action,
    /// loading the file on first use like a converter or `-f` would.
    pub(super) fn map_ref(&mut self, v: &Val<'_>, path: &str, how: MapUse) -> Option<MapRef> {
        let file = self.string(v, path, "`\"maps/hosts.map\"`")?.to_owned();
        let spec = MatchSpec::new(MatchKind::Str);
        self.maps.line = self.location(v.span().start).line;
        let resolved = self.maps.resolve(&file, how, spec);
        match resolved {
            Ok(m) => Some(m.map_ref()),
            Err(msg) => {
                self.error(
                    v.span().start,
                    path,
                    msg,
                    help("name a readable map (key value per line) or ACL (one pattern per line) file"),
                );
                None
            }
        }
    }

    pub(super) fn header_name(&mut self, v: &Val<'_>, path: &str) -> Option<String> {
        let s = self.string(v, path, "`\"X-Example\"`")?;
        if valid_header_name(s) {
            Some(s.to_owned())
        } else {
            self.error(
                v.span().start,
                path,
                format!("invalid header name `{s}`"),
                help("header names are letters, digits and !#$%&'*+-.^_`|~"),
            );
            None
        }
    }

    pub(super) fn status(&mut self, v: &Val<'_>, path: &str) -> Option<u16> {
        let n = self.integer(v, path, "`status = 403`")?;
        match u16::try_from(n) {
            Ok(s) if (200..=599).contains(&s) => Some(s),
            _ => {
                self.error(
                    v.span().start,
                    path,
                    format!("invalid status `{n}`"),
                    help("use an HTTP status from 200 to 599"),
                );
                None
            }
        }
    }

    /// A key that the rule must have; reports its absence.
    pub(super) fn required<'t, 'i>(
        &mut self,
        t: &'t DeTable<'i>,
        at: usize,
        path: &str,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<&'t Val<'i>> {
        let v = t.get(key);
        if v.is_none() {
            self.error(
                at,
                path,
                format!("{what} has no `{key}`"),
                help(format!("add `{key} = {example}`")),
            );
        }
        v
    }

    /// The rules of an `http-request`, `http-response` or
    /// `http-after-response` list.
    pub(super) fn http_rules(
        &mut self,
        v: &Val<'_>,
        path: &str,
        acls: &Acls,
        rl: RuleList,
    ) -> Vec<HttpRequestRule> {
        let mut out = Vec::new();
        let Some(arr) = self.array(
            v,
            path,
            &format!(
                "write rules as `{} = [ {{ action = \"{}\", if = \"...\" }} ]`",
                rl.word(),
                rl.actions()[0]
            ),
        ) else {
            return out;
        };
        for (i, rv) in arr.iter().enumerate() {
            let p = index(path, i);
            if let Some(rule) = self.http_rule(rv, &p, acls, rl) {
                out.push(rule);
            }
        }
        out
    }

    /// Refuses fetches the rule's list cannot read: the response in an
    /// `http-request` rule, the request in a response rule (both gone or
    /// not there yet; HAProxy refuses them alike). Response rules may read
    /// the backend's name and id. Returns whether the rule is usable.
    fn check_rule_scope(
        &mut self,
        rule: &HttpRequestRule,
        rv: &Val<'_>,
        path: &str,
        rl: RuleList,
    ) -> bool {
        let values = action_exprs(&rule.action);
        let cond = rule.cond.iter().flat_map(|c| c.exprs());
        let mut ok = true;
        for (e, in_cond) in values
            .into_iter()
            .map(|e| (e, false))
            .chain(cond.map(|e| (e, true)))
        {
            let bad = match (rl, e.scope()) {
                (RuleList::Request, FetchScope::Response) => Some((
                    "an HTTP response",
                    "read the response in `http-response` rules; carry request facts to them with `set-var`",
                )),
                (RuleList::Response | RuleList::AfterResponse, FetchScope::Request)
                    if !matches!(e.fetch_name(), "be_name" | "be_id") =>
                {
                    Some((
                        "the HTTP request",
                        "the request is gone when responses are processed: copy what the rule needs into a variable in `http-request` (`{ action = \"set-var\", var = \"txn.host\", expr = \"req.hdr(host)\" }`) and read it with `var(txn.host)`",
                    ))
                }
                (_, FetchScope::Content) => Some((
                    "a TCP client's first bytes (`mode = \"tcp\"` content inspection)",
                    "in HTTP mode read the TLS name with `ssl_fc_sni` and the request with request fetches",
                )),
                (_, FetchScope::TunnelName) => Some((
                    "a reverse-HTTP tunnel name",
                    "`rhttp_name` only has a value inside `allow-name`",
                )),
                _ => None,
            };
            // Conditions are checked where they are parsed (`condition`).
            if !in_cond && !self.check_userlist_ref(e, rv.span().start, path) {
                ok = false;
            }
            if let Some((needs, fix)) = bad {
                ok = false;
                let place = if in_cond { "condition" } else { "value" };
                self.error(
                    rv.span().start,
                    path,
                    format!(
                        "`{}` in this {place} needs {needs}, which {} rules do not have",
                        e.fetch_name(),
                        rl.word()
                    ),
                    help(fix),
                );
            }
        }
        ok
    }

    pub(super) fn http_rule(
        &mut self,
        rv: &Val<'_>,
        path: &str,
        acls: &Acls,
        rl: RuleList,
    ) -> Option<HttpRequestRule> {
        let rule = self.http_rule_inner(rv, path, acls, rl)?;
        self.check_rule_scope(&rule, rv, path, rl).then_some(rule)
    }

    fn http_rule_inner(
        &mut self,
        rv: &Val<'_>,
        path: &str,
        acls: &Acls,
        rl: RuleList,
    ) -> Option<HttpRequestRule> {
        let word = rl.word();
        let actions = rl.actions();
        let t = self.table(
            rv,
            path,
            "write each rule as a table, e.g. `{ action = \"deny\", if = \"...\" }`",
        )?;
        let at = rv.span().start;
        let Some(av) = t.get("action") else {
            self.error(
                at,
                path,
                format!("{word} rule has no `action`"),
                help(format!("add `action = \"...\"`, one of {}", list(actions))),
            );
            return None;
        };
        let ap = join(path, "action");
        let action = self.string(av, &ap, "`\"deny\"`")?;
        if !actions.contains(&action) && !not_yet_action(action) {
            let h = if action.starts_with("set-var(") || action.starts_with("unset-var(") {
                "write the variable apart: `{ action = \"set-var\", var = \"txn.name\", expr = \"req.hdr(host)\" }`".to_owned()
            } else if some_list_has(action) {
                format!("{word} rules support {}", list(actions))
            } else {
                match did_you_mean(action, actions.iter().copied()) {
                    Some(c) => format!("did you mean `\"{c}\"`?"),
                    None => format!("supported actions: {}", list(actions)),
                }
            };
            let msg = if some_list_has(action) {
                format!("{word} action `{action}` is not supported yet")
            } else {
                format!("unknown or unsupported {word} action `{action}`")
            };
            self.error(av.span().start, &ap, msg, help(h));
            return None;
        }
        let specific: &[&str] = match action {
            "return" => &["status", "content-type", "body", "lf-body", "hdr"],
            "deny" | "tarpit" => &["status"],
            "set-header" | "add-header" => &["name", "value"],
            "del-header" => &["name"],
            "set-map" => &["map", "key", "value"],
            "del-map" | "add-acl" | "del-acl" => &["map", "key"],
            "use-service" => &["service"],
            "redirect" => &[
                "location",
                "prefix",
                "scheme",
                "code",
                "drop-query",
                "append-slash",
                "ignore-empty",
                "set-cookie",
                "clear-cookie",
            ],
            "set-path" | "set-pathq" | "set-uri" | "set-query" | "set-method" => &["value"],
            "replace-path" | "replace-pathq" | "replace-uri" => &["regex", "value"],
            "replace-header" | "replace-value" => &["name", "regex", "value"],
            "set-status" => &["status", "reason"],
            "set-var" => &["var", "expr"],
            "set-var-fmt" => &["var", "format"],
            "set-log-level" => &["level"],
            "unset-var" => &["var"],
            "capture" => &["expr", "len", "id"],
            "auth" => &["realm"],
            other => {
                self.error(
                    av.span().start,
                    &ap,
                    format!("{word} action `{other}` is not supported yet"),
                    help(format!(
                        "see docs/CONFIG.md#not-supported; supported actions: {}",
                        list(actions)
                    )),
                );
                return None;
            }
        };
        let mut valid = vec!["action", "if", "unless"];
        valid.extend_from_slice(specific);
        let what = format!("an {word} `{action}` rule");
        let redirect = action == "redirect";
        self.check_keys(t, path, &what, &valid, &[], &|k| {
            (redirect && k == "status")
                .then(|| "a redirect's status is `code`: 301, 302, 303, 307 or 308".to_owned())
        });
        let cond = self.condition(t, path, acls);
        let rule_what = format!("`{action}` rule");
        let action = match action {
            "capture" => self.capture_action(t, at, path, rl)?,
            "auth" => HttpRequestAction::Auth {
                realm: match t.get("realm") {
                    Some(v) => Some(self.realm(v, &join(path, "realm"))?),
                    None => None,
                },
            },
            "return" => {
                let status = match t.get("status") {
                    Some(v) => self.status(v, &join(path, "status"))?,
                    None => 200,
                };
                let content_type = self.optional_line(
                    t,
                    path,
                    "content-type",
                    "`\"text/plain\"`",
                    "write a media type such as `\"text/plain\"`",
                )?;
                let body = match (t.get("body"), t.get_key_value("lf-body")) {
                    (Some(_), Some((k, _))) => {
                        self.error(
                            k.span().start,
                            &join(path, "lf-body"),
                            "a `return` rule cannot have both `body` and `lf-body`",
                            help("keep `body` for fixed text or `lf-body` for a log-format with `%[...]`"),
                        );
                        return None;
                    }
                    (Some(b), None) => {
                        let s = self.string(b, &join(path, "body"), "`\"ok\\n\"`")?;
                        LogFormat::literal(s.to_owned())
                    }
                    (None, Some((_, b))) => {
                        self.log_format(b, &join(path, "lf-body"), "`\"%[src]\\n\"`")?
                    }
                    (None, None) => LogFormat::literal(String::new()),
                };
                let mut headers = Vec::new();
                if let Some(hv) = t.get("hdr") {
                    let hp = join(path, "hdr");
                    let arr = self.array(
                        hv,
                        &hp,
                        "write it as `hdr = [ { name = \"...\", value = \"...\" } ]`",
                    )?;
                    for (i, e) in arr.iter().enumerate() {
                        let ep = index(&hp, i);
                        let Some(et) =
                            self.table(e, &ep, "write it as `{ name = \"...\", value = \"...\" }`")
                        else {
                            continue;
                        };
                        self.check_keys(et, &ep, "a `hdr` entry", &["name", "value"], &[], &|_| {
                            None
                        });
                        let at = e.span().start;
                        let name = self
                            .required(et, at, &ep, "name", "a `hdr` entry", "\"X-Example\"")
                            .and_then(|v| self.header_name(v, &join(&ep, "name")));
                        let value = self
                            .required(et, at, &ep, "value", "a `hdr` entry", "\"...\"")
                            .and_then(|v| self.log_format(v, &join(&ep, "value"), "`\"...\"`"));
                        if let (Some(n), Some(v)) = (name, value) {
                            headers.push((n, v));
                        }
                    }
                }
                HttpRequestAction::Return {
                    status,
                    content_type,
                    body,
                    headers,
                }
            }
            // HAProxy: a response denied answers 502 by default.
            "tarpit" => HttpRequestAction::Tarpit {
                status: match t.get("status") {
                    Some(v) => self.status(v, &join(path, "status"))?,
                    None => 500,
                },
            },
            "deny" => HttpRequestAction::Deny {
                status: match t.get("status") {
                    Some(v) => self.status(v, &join(path, "status"))?,
                    None if rl == RuleList::Request => 403,
                    None => 502,
                },
            },
            "set-status" => {
                let sv = self.required(t, at, path, "status", &rule_what, "404")?;
                let sp = join(path, "status");
                let n = self.integer(sv, &sp, "`status = 404`")?;
                let Some(status) = u16::try_from(n).ok().filter(|s| (100..=999).contains(s)) else {
                    self.error(
                        sv.span().start,
                        &sp,
                        format!("invalid status `{n}`"),
                        help("use a three-digit HTTP status, 100 to 999"),
                    );
                    return None;
                };
                let reason = self.optional_line(
                    t,
                    path,
                    "reason",
                    "`\"Not Found\"`",
                    "write a reason phrase such as `\"Not Found\"`",
                )?;
                HttpRequestAction::SetStatus { status, reason }
            }
            "set-log-level" => {
                let lv = self.required(t, at, path, "level", &rule_what, "\"silent\"")?;
                let lp = join(path, "level");
                let name = self.string(lv, &lp, "`\"silent\"`")?;
                let level = if name == "silent" {
                    None
                } else {
                    match crate::model::LogLevel::from_name(name) {
                        Some(l) => Some(l),
                        None => {
                            self.error(
                                lv.span().start,
                                &lp,
                                format!("invalid log level `{name}`"),
                                help(
                                    "one of `emerg`, `alert`, `crit`, `err`, `warning`, \
                                     `notice`, `info`, `debug`, `silent`",
                                ),
                            );
                            return None;
                        }
                    }
                };
                HttpRequestAction::SetLogLevel { level }
            }
            "set-var" | "set-var-fmt" | "unset-var" => {
                let vv = self.required(t, at, path, "var", &rule_what, "\"txn.name\"")?;
                let vp = join(path, "var");
                let name = self.string(vv, &vp, "`\"txn.name\"`")?;
                let var = match VarName::parse(name) {
                    Ok(v) => v,
                    Err(e) => {
                        self.error(
                            vv.span().start,
                            &vp,
                            e,
                            help("write `<scope>.<name>`, e.g. `\"txn.host\"`"),
                        );
                        return None;
                    }
                };
                if action == "unset-var" {
                    HttpRequestAction::UnsetVar { var }
                } else if action == "set-var-fmt" {
                    let fv = self.required(t, at, path, "format", &rule_what, "\"%[src]\"")?;
                    let format =
                        self.log_format(fv, &join(path, "format"), "`\"%[src]:%[src_port]\"`")?;
                    HttpRequestAction::SetVarFmt { var, format }
                } else {
                    let ev = self.required(t, at, path, "expr", &rule_what, "\"req.hdr(host)\"")?;
                    let ep = join(path, "expr");
                    let text = self.string(ev, &ep, "`\"req.hdr(host),lower\"`")?;
                    let expr = match Expr::parse_in(text, &mut self.env(ev)) {
                        Ok(e) => e,
                        Err(e) => {
                            self.expr_error(ev, &ep, "expression", &e);
                            return None;
                        }
                    };
                    HttpRequestAction::SetVar { var, expr }
                }
            }
            "set-header" | "add-header" => {
                let name = self.required(t, at, path, "name", &rule_what, "\"X-Example\"");
                let value = self.required(t, at, path, "value", &rule_what, "\"...\"");
                let name = self.header_name(name?, &join(path, "name"));
                let value = self.log_format(value?, &join(path, "value"), "`\"%[src]\"`");
                let (name, value) = (name?, value?);
                if action == "set-header" {
                    HttpRequestAction::SetHeader { name, value }
                } else {
                    HttpRequestAction::AddHeader { name, value }
                }
            }
            "set-map" | "del-map" | "add-acl" | "del-acl" => {
                // Actions change a reference without reading it: they add no
                // use line to `get map` (HAProxy's behaviour).
                let how = if action.ends_with("-acl") {
                    MapUse::AclAction
                } else {
                    MapUse::MapAction
                };
                let mv = self.required(t, at, path, "map", &rule_what, "\"maps/hosts.map\"");
                let kv = self.required(t, at, path, "key", &rule_what, "\"%[req.hdr(host)]\"");
                let map = self.map_ref(mv?, &join(path, "map"), how);
                let key = self.log_format(kv?, &join(path, "key"), "`\"%[req.hdr(host)]\"`");
                let (map, key) = (map?, key?);
                match action {
                    "set-map" => {
                        let vv = self.required(t, at, path, "value", &rule_what, "\"%[src]\"")?;
                        let value = self.log_format(vv, &join(path, "value"), "`\"%[src]\"`")?;
                        HttpRequestAction::SetMap { map, key, value }
                    }
                    "del-map" => HttpRequestAction::DelMap { map, key },
                    "add-acl" => HttpRequestAction::AddAcl { map, key },
                    _ => HttpRequestAction::DelAcl { map, key },
                }
            }
            "use-service" => {
                let sv = self.required(
                    t,
                    at,
                    path,
                    "service",
                    &rule_what,
                    "\"prometheus-exporter\"",
                )?;
                HttpRequestAction::UseService {
                    service: self.service(sv, &join(path, "service"))?,
                }
            }
            "redirect" => {
                let r = self.redirect(t, at, path)?;
                if rl != RuleList::Request && r.kind != RedirectKind::Location {
                    self.error(
                        at,
                        path,
                        "an http-response `redirect` takes only `location`",
                        help("the request is gone when the response is processed (HAProxy allows only `location` there too); build it with `%[var(txn....)]`"),
                    );
                    return None;
                }
                HttpRequestAction::Redirect(Box::new(r))
            }
            "set-path" | "set-pathq" | "set-uri" | "set-query" | "set-method" => {
                let vv = self.required(t, at, path, "value", &rule_what, "\"/%[path]\"")?;
                let value = self.log_format(vv, &join(path, "value"), "`\"/new%[path]\"`")?;
                match action {
                    "set-path" => HttpRequestAction::SetUri {
                        part: UriPart::Path,
                        value,
                    },
                    "set-pathq" => HttpRequestAction::SetUri {
                        part: UriPart::PathQuery,
                        value,
                    },
                    "set-uri" => HttpRequestAction::SetUri {
                        part: UriPart::Uri,
                        value,
                    },
                    "set-query" => HttpRequestAction::SetUri {
                        part: UriPart::Query,
                        value,
                    },
                    _ => HttpRequestAction::SetMethod { value },
                }
            }
            "replace-path" | "replace-pathq" | "replace-uri" | "replace-header"
            | "replace-value" => {
                let header = action.starts_with("replace-header") || action == "replace-value";
                let name = if header {
                    let nv = self.required(t, at, path, "name", &rule_what, "\"X-Example\"");
                    nv.and_then(|v| self.header_name(v, &join(path, "name")))
                } else {
                    None
                };
                let rv = self.required(t, at, path, "regex", &rule_what, "'^/old/(.*)'");
                let vv = self.required(t, at, path, "value", &rule_what, "'/new/\\1'");
                let regex = rv.and_then(|v| self.replace_regex(v, &join(path, "regex")));
                let value =
                    vv.and_then(|v| self.log_format(v, &join(path, "value"), "`'/new/\\1'`"));
                let (regex, value) = (regex?, value?);
                match action {
                    "replace-path" => HttpRequestAction::ReplaceUri {
                        part: UriPart::Path,
                        regex,
                        value,
                    },
                    "replace-pathq" => HttpRequestAction::ReplaceUri {
                        part: UriPart::PathQuery,
                        regex,
                        value,
                    },
                    "replace-uri" => HttpRequestAction::ReplaceUri {
                        part: UriPart::Uri,
                        regex,
                        value,
                    },
                    _ => HttpRequestAction::ReplaceHeader {
                        name: name?,
                        regex,
                        value,
                        each_value: action == "replace-value",
                    },
                }
            }
            _ => {
                let name = self.required(t, at, path, "name", &rule_what, "\"X-Example\"")?;
                HttpRequestAction::DelHeader {
                    name: self.header_name(name, &join(path, "name"))?,
                }
            }
        };
        Some(HttpRequestRule { action, cond })
    }

    /// The `regex` of a `replace-*` rule.
    fn replace_regex(&mut self, v: &Val<'_>, path: &str) -> Option<ReplaceRegex> {
        let s = self.string(v, path, "`'^/old/(.*)'`")?;
        match ReplaceRegex::new(s) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(
                    v.span().start,
                    path,
                    format!("invalid regex `{s}`: {e}"),
                    help("write a regular expression (Rust regex syntax, close to PCRE); in TOML, a literal string ('...') keeps backslashes as they are"),
                );
                None
            }
        }
    }

    /// The keys of a `redirect` rule.
    fn redirect(&mut self, t: &DeTable<'_>, at: usize, path: &str) -> Option<Redirect> {
        let forms = [
            ("location", RedirectKind::Location),
            ("prefix", RedirectKind::Prefix),
            ("scheme", RedirectKind::Scheme),
        ];
        let mut given: Vec<_> = forms
            .iter()
            .filter_map(|(k, kind)| t.get_key_value(*k).map(|(key, v)| (*k, *kind, key, v)))
            .collect();
        // The second one written is the one reported.
        given.sort_by_key(|(_, _, key, _)| key.span().start);
        let (key, kind, v) = match given.as_slice() {
            [] => {
                self.error(
                    at,
                    path,
                    "a `redirect` rule has no `location`, `prefix` or `scheme`",
                    help("add one of them, e.g. `scheme = \"https\"` or `location = \"/new\"`"),
                );
                return None;
            }
            [(k, kind, _, v)] => (*k, *kind, *v),
            [_, (k, _, key, _), ..] => {
                self.error(
                    key.span().start,
                    &join(path, k),
                    "a `redirect` rule has only one of `location`, `prefix` and `scheme`",
                    help("keep one: HAProxy's `redirect` takes one form per line"),
                );
                return None;
            }
        };
        let value = self.log_format(v, &join(path, key), "`\"https://%[req.hdr(host)]\"`")?;
        let code = match t.get("code") {
            Some(cv) => {
                let cp = join(path, "code");
                let n = self.integer(cv, &cp, "`code = 301`")?;
                if ![301, 302, 303, 307, 308].contains(&n) {
                    self.error(
                        cv.span().start,
                        &cp,
                        format!("invalid redirect code `{n}`"),
                        help("use 301, 302, 303, 307 or 308 (302 when left out), as HAProxy"),
                    );
                    return None;
                }
                u16::try_from(n).ok()?
            }
            None => 302,
        };
        let mut flag = |name: &str| match t.get(name) {
            Some(fv) => self.boolean(fv, &join(path, name)),
            None => Some(false),
        };
        let drop_query = flag("drop-query")?;
        let append_slash = flag("append-slash")?;
        let ignore_empty = flag("ignore-empty")?;
        let cookie = match (t.get("set-cookie"), t.get_key_value("clear-cookie")) {
            (Some(_), Some((k, _))) => {
                self.error(
                    k.span().start,
                    &join(path, "clear-cookie"),
                    "a `redirect` rule has at most one of `set-cookie` and `clear-cookie`",
                    help("HAProxy keeps the last one written on the line: keep that one"),
                );
                return None;
            }
            (Some(cv), None) => Some(Redirect::set_cookie(
                self.cookie(cv, &join(path, "set-cookie"))?,
            )),
            (None, Some((_, cv))) => Some(Redirect::clear_cookie(
                self.cookie(cv, &join(path, "clear-cookie"))?,
            )),
            (None, None) => None,
        };
        Some(Redirect {
            kind,
            value,
            code,
            drop_query,
            append_slash,
            ignore_empty,
            cookie,
        })
    }

    /// The `NAME[=value]` of `set-cookie`/`clear-cookie`.
    fn cookie<'s>(&mut self, v: &'s Val<'_>, path: &str) -> Option<&'s str> {
        let s = self.string(v, path, "`\"SEEN=1\"`")?;
        let name = s.split('=').next().unwrap_or_default();
        let valid = valid_header_name(name)
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
        if valid {
            Some(s)
        } else {
            self.error(
                v.span().start,
                path,
                format!("invalid cookie `{s}`"),
                help(
                    "write `NAME` or `NAME=value`: a token, and a value without spaces, `;` or `,`",
                ),
            );
            None
        }
    }
}

/// HAProxy `http-request` actions gwd does not implement yet: refused as
/// such (pointing at CONFIG.md's list), never as a typo.
const NOT_YET_ACTIONS: &[&str] = &[
    "allow",
    "cache-use",
    "del-var",
    "disable-l7-retry",
    "do-log",
    "do-resolve",
    "early-hint",
    "normalize-uri",
    "pause",
    "reject",
    "send-spoe-group",
    "set-bandwidth-limit",
    "set-dst",
    "set-dst-port",
    "set-fc-mark",
    "set-fc-tos",
    "set-mark",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-retries",
    "set-src",
    "set-src-port",
    "set-timeout",
    "set-tos",
    "silent-drop",
    "strict-mode",
    "wait-for-body",
    "wait-for-handshake",
];

/// Whether `action` is an HAProxy action gwd lacks (including the
/// families `sc-*`, `track-sc*` and `lua.*`).
fn not_yet_action(action: &str) -> bool {
    NOT_YET_ACTIONS.contains(&action)
        || action.starts_with("sc-")
        || action.starts_with("track-sc")
        || action.starts_with("lua.")
        || action.starts_with("capture.")
}

/// Which rule list a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RuleList {
    /// `http-request`.
    Request,
    /// `http-response`.
    Response,
    /// `http-after-response`.
    AfterResponse,
}

impl RuleList {
    fn word(self) -> &'static str {
        match self {
            RuleList::Request => "http-request",
            RuleList::Response => "http-response",
            RuleList::AfterResponse => "http-after-response",
        }
    }

    fn actions(self) -> &'static [&'static str] {
        match self {
            RuleList::Request => ACTIONS,
            RuleList::Response => RESPONSE_ACTIONS,
            RuleList::AfterResponse => AFTER_RESPONSE_ACTIONS,
        }
    }
}

/// `http-response` actions.
const RESPONSE_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "deny",
    "return",
    "redirect",
    "set-var",
    "set-var-fmt",
    "set-log-level",
    "unset-var",
    "capture",
];

/// `http-after-response` actions.
const AFTER_RESPONSE_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "set-var",
    "set-var-fmt",
    "set-log-level",
    "unset-var",
];

/// Whether some rule list supports `action`: one missing from a list is
/// "not supported yet" there (HAProxy has most of them in every list).
/// `http-request`'s list holds every action but `set-status`.
fn some_list_has(action: &str) -> bool {
    ACTIONS.contains(&action) || RESPONSE_ACTIONS.contains(&action)
}

/// The expressions an action evaluates (its values), for scope checks.
fn action_exprs(a: &HttpRequestAction) -> Vec<&Expr> {
    fn lf(f: &LogFormat) -> Vec<&Expr> {
        f.exprs().collect()
    }
    match a {
        HttpRequestAction::Return { body, headers, .. } => {
            let mut v = lf(body);
            for (_, h) in headers {
                v.extend(h.exprs());
            }
            v
        }
        HttpRequestAction::SetHeader { value, .. }
        | HttpRequestAction::AddHeader { value, .. }
        | HttpRequestAction::SetUri { value, .. }
        | HttpRequestAction::ReplaceUri { value, .. }
        | HttpRequestAction::ReplaceHeader { value, .. }
        | HttpRequestAction::SetMethod { value } => lf(value),
        HttpRequestAction::SetMap { key, value, .. } => {
            let mut v = lf(key);
            v.extend(value.exprs());
            v
        }
        HttpRequestAction::DelMap { key, .. }
        | HttpRequestAction::AddAcl { key, .. }
        | HttpRequestAction::DelAcl { key, .. } => lf(key),
        HttpRequestAction::Redirect(r) => lf(&r.value),
        HttpRequestAction::SetVar { expr, .. } | HttpRequestAction::Capture { expr, .. } => {
            vec![expr]
        }
        HttpRequestAction::SetVarFmt { format, .. } => lf(format),
        HttpRequestAction::Deny { .. }
        | HttpRequestAction::UseService { .. }
        | HttpRequestAction::SetStatus { .. }
        | HttpRequestAction::UnsetVar { .. }
        | HttpRequestAction::SetLogLevel { .. }
        | HttpRequestAction::Tarpit { .. }
        | HttpRequestAction::Auth { .. }
        | HttpRequestAction::DelHeader { .. } => Vec::new(),
    }
}
