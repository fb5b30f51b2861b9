//! `http-request` rules, applied in order to a request head.
//!
//! Each rule's condition and values are evaluated on the head as the
//! previous rules left it (HAProxy's order). Edits go through gwd-head's
//! checked adders: a value that would carry CR, LF or NUL is never
//! written, and the rule fails as a rewrite does (below).
//!
//! Every value here is rendered in [`RenderMode::Text`]: a missing or
//! empty sample writes nothing (only log lines write `-`), as HAProxy.
//!
//! Rewrites (`set-path`, `replace-header`, ...) change the head in place,
//! so the server receives the result and later rules and fetches read it.
//! A rewrite whose result is not a valid request (a target the URI
//! grammar refuses, a path not starting with `/`, a method that is not a
//! token, a `set-header` or `add-header` value with CR, LF or NUL) fails
//! the request: 500, counted in `wrew`, as HAProxy's default `strict-mode
//! on`. Skipping the rule instead would let a visitor who can make its
//! value invalid (`%[query,url_dec]` with `%0d`) keep their own copy of a
//! field the rule exists to replace.

use bytes::Bytes;
use gwd_config::{
    HttpRequestAction, HttpRequestRule, HttpService, Redirect, RedirectKind, ReplaceRegex, UriPart,
};
use gwd_head::{Fields, Method, RequestHead, ResponseHead, StatusCode, Uri};
use gwd_sample::{CaptureDir, RenderMode, Vars};

use super::outcome::Outcome;
use crate::access_log::{LogLevelChoice, LogRecord};
use crate::context::{RequestView, ResponseView, store_var};
use crate::core::ConnCtx;
use crate::local::LocalReply;
use crate::state::BackendRt;
use crate::stats_http;

/// A rule that ends the rules: what to answer and how it is counted.
#[derive(Debug)]
pub(crate) struct Stop {
    pub reply: LocalReply,
    pub outcome: Outcome,
}

/// Applies `rules` to `head`, arriving on `cx` with backend `be` chosen
/// (`Some` for a backend's rules). Conditions and values see the head as
/// it is at each step.
pub(crate) fn apply(
    rules: &[HttpRequestRule],
    head: &mut RequestHead,
    cx: &ConnCtx,
    be: Option<&BackendRt>,
    stats: Option<&dyn stats_http::StatsEndpoints>,
    vars: &mut Vars,
    log: &mut LogRecord,
) -> Option<Stop> {
    let by_backend = be.is_some();

    for rule in rules {
        if let Some(c) = &rule.cond
            && !c.eval(&RequestView::new(cx, head, be).with_vars(vars).with_log(log))
        {
            continue;
        }
        match &rule.action {
            HttpRequestAction::Return {
                status,
                content_type,
                body,
                headers,
            } => {
                let v = RequestView::new(cx, head, be).with_vars(vars).with_log(log);
                let text = body.render_bytes(&v, RenderMode::Text);
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                let mut reply = LocalReply::new(
                    status,
                    content_type.as_deref(),
                    Bytes::from(text),
                    head.method == Method::HEAD,
                );
                add_return_headers(
                    &mut reply,
                    headers,
                    |f| f.render_bytes(&v, RenderMode::Text),
                    "http-request",
                );
                return Some(Stop {
                    reply,
                    outcome: Outcome::Returned,
                });
            }
            HttpRequestAction::Deny { status } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN);
                return Some(Stop {
                    reply: LocalReply::error(status),
                    outcome: Outcome::Denied { by_backend },
                });
            }
            // The hold itself is the core's (it owns the clock and the
            // visitor): the rule only decides.
            HttpRequestAction::Tarpit { status } => {
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Some(Stop {
                    reply: LocalReply::error(status),
                    outcome: Outcome::Tarpitted { by_backend },
                });
            }
            // Header values render as bytes: obs-text copied from another
            // header stays the same bytes (HAProxy's behaviour).
            HttpRequestAction::SetHeader { name, value } => {
                let value = value.render_bytes(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                // A refused value fails the request (strict mode): skipped,
                // the rule would leave the visitor's own field in place.
                if let Err(e) = head.fields.try_set(name.as_bytes(), &value) {
                    return Some(rewrite_failed(name, &e.to_string()));
                }
            }
            HttpRequestAction::AddHeader { name, value } => {
                let value = value.render_bytes(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                if let Err(e) = head.fields.try_append(name.as_bytes(), &value) {
                    return Some(rewrite_failed(name, &e.to_string()));
                }
            }
            HttpRequestAction::DelHeader { name } => {
                head.fields.remove(name);
            }
            // Map updates from traffic: writers take the map's writer
            // lock briefly; readers on other threads never wait (the
            // engine publishes a new snapshot).
            HttpRequestAction::SetMap { map, key, value } => {
                let v = RequestView::new(cx, head, be).with_vars(vars).with_log(log);
                let (k, val) = (
                    key.render_bytes(&v, RenderMode::Text),
                    value.render_bytes(&v, RenderMode::Text),
                );
                if let Err(e) = map.upsert(&k, &val) {
                    tracing::debug!(map = map.name(), error = %e, "set-map refused");
                }
            }
            HttpRequestAction::DelMap { map, key } | HttpRequestAction::DelAcl { map, key } => {
                let k = key.render_bytes(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                let _ = map.del(&k);
            }
            HttpRequestAction::AddAcl { map, key } => {
                let k = key.render_bytes(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                if let Err(e) = map.add_if_absent(&k, b"") {
                    tracing::debug!(map = map.name(), error = %e, "add-acl refused");
                }
            }
            HttpRequestAction::Redirect(r) => {
                let v = RequestView::new(cx, head, be).with_vars(vars).with_log(log);
                let value = r.value.render(&v, RenderMode::Text);
                if r.ignore_empty && value.is_empty() {
                    continue;
                }
                return Some(match redirect_reply(r, &value, Some(head)) {
                    Ok(reply) => Stop {
                        reply,
                        outcome: Outcome::Redirected,
                    },
                    Err(e) => rewrite_failed("redirect", e),
                });
            }
            HttpRequestAction::SetUri { part, value } => {
                let value = value.render(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                if let Err(e) = set_uri_part(head, *part, &value) {
                    return Some(rewrite_failed(part.name(), e));
                }
            }
            HttpRequestAction::ReplaceUri { part, regex, value } => {
                let subject = uri_part(head, *part);
                if !regex.is_match(subject.as_bytes()) {
                    continue;
                }
                let format = value.render(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                let Some(new) = regex.replace(subject.as_bytes(), format.as_bytes()) else {
                    continue;
                };
                let done = String::from_utf8(new)
                    .map_err(|_| "not UTF-8")
                    .and_then(|new| set_uri_part(head, *part, &new));
                if let Err(e) = done {
                    return Some(rewrite_failed(part.name(), e));
                }
            }
            HttpRequestAction::ReplaceHeader {
                name,
                regex,
                value,
                each_value,
            } => {
                if !head
                    .fields
                    .get_all(name)
                    .any(|v| matches_value(regex, v, *each_value))
                {
                    continue;
                }
                let format = value.render_bytes(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                match replace_header(&head.fields, name, regex, &format, *each_value) {
                    Ok(fields) => head.fields = fields,
                    Err(e) => return Some(rewrite_failed("header", e)),
                }
            }
            HttpRequestAction::SetMethod { value } => {
                let value = value.render(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                match Method::from_bytes(value.as_bytes()) {
                    // gwd does not proxy CONNECT (refused before the rules).
                    Ok(m) if m == Method::CONNECT => {
                        return Some(rewrite_failed("method", "CONNECT is not supported"));
                    }
                    // A server answers HEAD with the length of a body it
                    // does not send: relayed to a visitor that asked for
                    // the body, that answer would swallow the visitor's
                    // next one (a desync on a shared connection). The
                    // other way round is safe: a HEAD visitor gets the
                    // head of the GET's answer and no body.
                    Ok(m) if m == Method::HEAD && head.method != Method::HEAD => {
                        return Some(rewrite_failed(
                            "method",
                            "a request that expects a body cannot become HEAD",
                        ));
                    }
                    Ok(m) => head.method = m,
                    Err(_) => return Some(rewrite_failed("method", "not a token")),
                }
            }
            HttpRequestAction::SetVar { var, expr } => {
                let value = expr
                    .eval(&RequestView::new(cx, head, be).with_vars(vars).with_log(log))
                    .map(gwd_sample::Sample::into_owned);
                // No sample: the variable keeps what it had (HAProxy).
                if value.is_some() {
                    store_var(vars, cx, var, value);
                }
            }
            HttpRequestAction::SetVarFmt { var, format } => {
                let value = format.render_bytes(
                    &RequestView::new(cx, head, be).with_vars(vars).with_log(log),
                    RenderMode::Text,
                );
                store_var(vars, cx, var, Some(gwd_sample::Sample::from(value)));
            }
            HttpRequestAction::UnsetVar { var } => store_var(vars, cx, var, None),
            HttpRequestAction::SetLogLevel { level } => log.level = log_choice(*level),
            HttpRequestAction::Auth { realm } => {
                // HAProxy's default realm: the name of the rule's proxy.
                let realm = realm.as_deref().unwrap_or(match be {
                    Some(b) => &b.conf.name,
                    None => &cx.proxy.frontend(cx.fe).conf.name,
                });
                return Some(Stop {
                    reply: stats_http::unauthorized(realm),
                    outcome: Outcome::AuthRequired,
                });
            }
            HttpRequestAction::Capture { expr, id } => {
                let v = RequestView::new(cx, head, be).with_vars(vars).with_log(log);
                if let Some(value) = expr.eval(&v).map(|s| s.into_bytes().into_owned()) {
                    let slots = &cx.proxy.frontend(cx.fe).conf.captures;
                    log.capture_value(slots, CaptureDir::Request, *id, &value);
                }
            }
            // Response actions: the loader keeps them out of request rules.
            HttpRequestAction::SetStatus { .. } => {}
            HttpRequestAction::UseService {
                service: HttpService::PrometheusExporter,
            } => {
                let is_head = head.method == Method::HEAD;
                let reply = if !is_head && head.method != Method::GET {
                    stats_http::method_not_allowed()
                } else {
                    match stats {
                        Some(e) => stats_http::text_reply(
                            e.prometheus(),
                            stats_http::PROMETHEUS_CONTENT_TYPE,
                            is_head,
                        ),
                        None => stats_http::unavailable(),
                    }
                };
                return Some(Stop {
                    reply,
                    outcome: Outcome::Service,
                });
            }
        }
    }
    None
}

/// The answer of a failed rewrite (HAProxy's strict mode: an internal
/// error), logged with what failed.
/// `set-log-level`'s level (`None`: `silent`).
fn log_choice(level: Option<gwd_config::LogLevel>) -> LogLevelChoice {
    level.map_or(LogLevelChoice::Silent, LogLevelChoice::Level)
}

fn rewrite_failed(what: &str, error: &str) -> Stop {
    tracing::info!(part = what, error, "http-request rewrite failed");
    Stop {
        reply: LocalReply::error(StatusCode::INTERNAL_SERVER_ERROR),
        outcome: Outcome::RewriteFailed,
    }
}

/// The answer of a failed `http-response` rewrite: the server's answer
/// is replaced by a 502, logged with what failed.
fn response_rewrite_failed(what: &str, error: &str) -> Stop {
    tracing::info!(part = what, error, "http-response rewrite failed");
    Stop {
        reply: LocalReply::error(StatusCode::BAD_GATEWAY),
        outcome: Outcome::ResponseRewriteFailed,
    }
}

/// The answer of a `redirect` whose location, prefix or scheme rendered
/// as `value`: the code, `Location`, `Cache-Control: no-cache` for the
/// temporary codes and the rule's cookie, with an empty body (HAProxy's
/// answer, field for field). An `Err` when the location cannot be a field
/// value.
fn redirect_reply(
    r: &Redirect,
    value: &str,
    head: Option<&RequestHead>,
) -> Result<LocalReply, &'static str> {
    // Response rules have no request: only `location` is allowed there
    // (the loader's check, as HAProxy).
    let path = head.map_or("/", RequestHead::path_and_query);
    let location = match r.kind {
        RedirectKind::Location => value.to_owned(),
        RedirectKind::Prefix => r.location(value, path),
        RedirectKind::Scheme => {
            // HAProxy: the first Host; an empty host when there is none.
            let host = head.and_then(RequestHead::host).unwrap_or_default();
            let base = format!("{value}://{}", String::from_utf8_lossy(host));
            r.location(&base, path)
        }
    };
    let status = StatusCode::from_u16(r.code).map_err(|_| "invalid code")?;
    // The head says nothing of a body (HAProxy sends `content-length: 0`
    // to HEAD too), so `head_only` changes nothing here.
    let mut reply = LocalReply::new(status, None, Bytes::new(), false);
    reply
        .head
        .fields
        .try_append(b"location", location.as_bytes())
        .map_err(|_| "location is not a valid field value")?;
    if r.no_cache() {
        reply.head.fields.append(b"cache-control", b"no-cache");
    }
    if let Some(c) = &r.cookie {
        reply
            .head
            .fields
            .try_append(b"set-cookie", c.as_bytes())
            .map_err(|_| "cookie is not a valid field value")?;
    }
    Ok(reply)
}

/// Which response list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseList {
    /// `http-response`: on a server's answer; may replace it.
    Response,
    /// `http-after-response`: on every answer; edits only.
    After,
}

/// Applies `http-response` or `http-after-response` `rules` to `head`
/// (an answer on `cx`, backend `be` if one was chosen), in order, each
/// seeing the head as the previous ones left it. `Some` when a rule
/// replaces the answer (`deny`, `return`, `redirect`, a failed rewrite):
/// only `http-response` rules do.
pub(crate) fn apply_response(
    rules: &[HttpRequestRule],
    head: &mut ResponseHead,
    cx: &ConnCtx,
    be: Option<&BackendRt>,
    vars: &mut Vars,
    log: &mut LogRecord,
    list: ResponseList,
) -> Option<Stop> {
    let word = match list {
        ResponseList::Response => "http-response",
        ResponseList::After => "http-after-response",
    };
    for rule in rules {
        if let Some(c) = &rule.cond
            && !c.eval(&ResponseView::new(cx, head, be, vars).with_log(log))
        {
            continue;
        }
        let render = |head: &ResponseHead, vars: &Vars, f: &gwd_sample::LogFormat| {
            f.render_bytes(
                &ResponseView::new(cx, head, be, vars).with_log(log),
                RenderMode::Text,
            )
        };
        match &rule.action {
            // A refused value fails an `http-response` answer (502, as
            // any failed rewrite); an `http-after-response` one is left
            // out, and `set-header` still removes the fields it would
            // have replaced (whoever chose the refused value never gets
            // the old one through).
            HttpRequestAction::SetHeader { name, value } => {
                let value = render(head, vars, value);
                if let Err(e) = head.fields.try_set(name.as_bytes(), &value) {
                    if list == ResponseList::Response {
                        return Some(response_rewrite_failed(name, &e.to_string()));
                    }
                    head.fields.remove(name);
                    tracing::info!(header = %name, error = %e, "{word} set-header left out");
                }
            }
            HttpRequestAction::AddHeader { name, value } => {
                let value = render(head, vars, value);
                if let Err(e) = head.fields.try_append(name.as_bytes(), &value) {
                    if list == ResponseList::Response {
                        return Some(response_rewrite_failed(name, &e.to_string()));
                    }
                    tracing::info!(header = %name, error = %e, "{word} add-header left out");
                }
            }
            HttpRequestAction::DelHeader { name } => {
                head.fields.remove(name);
            }
            HttpRequestAction::ReplaceHeader {
                name,
                regex,
                value,
                each_value,
            } => {
                if !head
                    .fields
                    .get_all(name)
                    .any(|v| matches_value(regex, v, *each_value))
                {
                    continue;
                }
                let format = render(head, vars, value);
                match replace_header(&head.fields, name, regex, &format, *each_value) {
                    Ok(fields) => head.fields = fields,
                    Err(e) if list == ResponseList::Response => {
                        return Some(response_rewrite_failed("header", e));
                    }
                    Err(e) => {
                        tracing::info!(error = e, "http-after-response rewrite left out");
                    }
                }
            }
            HttpRequestAction::SetStatus { status, reason } => {
                if let Ok(code) = StatusCode::from_u16(*status) {
                    head.status = code;
                    head.reason = reason.as_deref().map(Into::into);
                }
            }
            HttpRequestAction::SetVar { var, expr } => {
                let value = expr
                    .eval(&ResponseView::new(cx, head, be, vars).with_log(log))
                    .map(gwd_sample::Sample::into_owned);
                if value.is_some() {
                    store_var(vars, cx, var, value);
                }
            }
            HttpRequestAction::SetVarFmt { var, format } => {
                let value = render(head, vars, format);
                store_var(vars, cx, var, Some(gwd_sample::Sample::from(value)));
            }
            HttpRequestAction::UnsetVar { var } => store_var(vars, cx, var, None),
            HttpRequestAction::SetLogLevel { level } => log.level = log_choice(*level),
            HttpRequestAction::Capture { expr, id } => {
                let v = ResponseView::new(cx, head, be, vars).with_log(log);
                if let Some(value) = expr.eval(&v).map(|s| s.into_bytes().into_owned()) {
                    let slots = &cx.proxy.frontend(cx.fe).conf.captures;
                    log.capture_value(slots, CaptureDir::Response, *id, &value);
                }
            }
            // Request actions: the loader keeps them out of response rules.
            HttpRequestAction::Tarpit { .. } | HttpRequestAction::Auth { .. } => {}
            HttpRequestAction::Deny { status } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
                return Some(Stop {
                    reply: LocalReply::error(status),
                    outcome: Outcome::ResponseDenied,
                });
            }
            HttpRequestAction::Return {
                status,
                content_type,
                body,
                headers,
            } => {
                let text = render(head, vars, body);
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                // HEAD: the visitor side sends no body whatever the reply
                // holds (the answer's `head_only`).
                let mut reply =
                    LocalReply::new(status, content_type.as_deref(), Bytes::from(text), false);
                add_return_headers(
                    &mut reply,
                    headers,
                    |f| render(head, vars, f),
                    "http-response",
                );
                return Some(Stop {
                    reply,
                    outcome: Outcome::Returned,
                });
            }
            HttpRequestAction::Redirect(r) => {
                // A location is a URI: ASCII, so text.
                let value = r.value.render(
                    &ResponseView::new(cx, head, be, vars).with_log(log),
                    RenderMode::Text,
                );
                if r.ignore_empty && value.is_empty() {
                    continue;
                }
                return Some(match redirect_reply(r, &value, None) {
                    Ok(reply) => Stop {
                        reply,
                        outcome: Outcome::Redirected,
                    },
                    Err(e) => {
                        tracing::info!(error = e, "http-response redirect failed");
                        Stop {
                            reply: LocalReply::error(StatusCode::BAD_GATEWAY),
                            outcome: Outcome::ResponseRewriteFailed,
                        }
                    }
                });
            }
            // Request actions: the loader keeps them out of response rules.
            HttpRequestAction::SetMap { .. }
            | HttpRequestAction::DelMap { .. }
            | HttpRequestAction::AddAcl { .. }
            | HttpRequestAction::DelAcl { .. }
            | HttpRequestAction::SetUri { .. }
            | HttpRequestAction::ReplaceUri { .. }
            | HttpRequestAction::SetMethod { .. }
            | HttpRequestAction::UseService { .. } => {}
        }
    }
    None
}

/// The text of `part` of the request target, as `replace-*` match it.
fn uri_part(head: &RequestHead, part: UriPart) -> String {
    match part {
        UriPart::Path => head.path().to_owned(),
        UriPart::PathQuery => head.path_and_query().to_owned(),
        UriPart::Uri => head.uri.to_string(),
        UriPart::Query => head.uri.query().unwrap_or_default().to_owned(),
    }
}

/// Replaces `part` of the head's target with `value` (HAProxy's `set-*`).
/// Scheme and authority are kept unless `part` is the whole URI; an
/// absolute URI set by `set-uri` also sets `Host` to its authority, as
/// HAProxy does.
fn set_uri_part(head: &mut RequestHead, part: UriPart, value: &str) -> Result<(), &'static str> {
    let old = &head.uri;
    let path_and_query = match part {
        UriPart::Uri => {
            let uri: Uri = value.parse().map_err(|_| "invalid URI")?;
            let valid = match (uri.scheme(), uri.authority()) {
                (Some(_), Some(_)) => true,
                (None, None) => value.starts_with('/'),
                _ => false,
            };
            if !valid {
                return Err("not an absolute URI or an absolute path");
            }
            // The authority becomes the Host field: one host and an
            // optional port, as a visitor's own must be (a list would let
            // later rules match one element while the server reads the
            // whole; userinfo is refused in a visitor's target too).
            if let Some(a) = uri.authority() {
                let host = a.as_str();
                if host.contains('@') {
                    return Err("userinfo in the authority");
                }
                if !gwd_head::valid_host(host.as_bytes()) {
                    return Err("invalid host");
                }
                head.fields
                    .try_set(b"host", host.as_bytes())
                    .map_err(|_| "invalid host")?;
            }
            // `http://a.example?q` has an empty path: the server is sent
            // `/?q`, as an origin-form target must start with `/`.
            let rooted = uri
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|pq| !pq.starts_with('/'))
                .map(|pq| format!("/{pq}"));
            let uri = match rooted {
                Some(pq) => {
                    let mut parts = uri.into_parts();
                    parts.path_and_query = Some(pq.parse().map_err(|_| "invalid path or query")?);
                    Uri::from_parts(parts).map_err(|_| "invalid URI")?
                }
                None => uri,
            };
            head.uri = uri;
            return Ok(());
        }
        UriPart::Path => {
            if !value.starts_with('/') {
                return Err("path does not start with '/'");
            }
            match old.query() {
                Some(q) => format!("{value}?{q}"),
                None => value.to_owned(),
            }
        }
        UriPart::PathQuery => {
            if !value.starts_with('/') {
                return Err("path does not start with '/'");
            }
            value.to_owned()
        }
        UriPart::Query => {
            let path = head.path_and_query();
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            // HAProxy: no '?' is added for an empty query; one present
            // stays.
            if value.is_empty() && old.query().is_none() {
                return Ok(());
            }
            format!("{path}?{value}")
        }
    };
    let mut parts = old.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| "invalid path or query")?,
    );
    head.uri = Uri::from_parts(parts).map_err(|_| "invalid URI")?;
    Ok(())
}

/// Whether `regex` matches `value` (a field line's whole value, or one of
/// its comma-separated elements, trimmed).
fn matches_value(regex: &ReplaceRegex, value: &[u8], each_value: bool) -> bool {
    if each_value {
        value
            .split(|&b| b == b',')
            .any(|e| regex.is_match(gwd_head::trim_ows(e)))
    } else {
        regex.is_match(value)
    }
}

/// The fields with every `name` value (or comma-separated element, for
/// `replace-value`) that `regex` matches replaced by `format` with its
/// back-references expanded, in place and order. HAProxy's
/// `replace-value` replaces a matched element with the spaces around it
/// and joins elements with a bare `,`.
fn replace_header(
    fields: &Fields,
    name: &str,
    regex: &ReplaceRegex,
    format: &[u8],
    each_value: bool,
) -> Result<Fields, &'static str> {
    let mut out = Fields::with_capacity(fields.wire_len() + format.len(), fields.len());
    for (n, v) in fields.iter() {
        if !n.eq_ignore_ascii_case(name.as_bytes()) {
            out.append(n, v);
            continue;
        }
        let new = if each_value {
            let mut new = Vec::with_capacity(v.len());
            for (i, e) in v.split(|&b| b == b',').enumerate() {
                if i > 0 {
                    new.push(b',');
                }
                match regex.replace(gwd_head::trim_ows(e), format) {
                    Some(r) => new.extend_from_slice(&r),
                    None => new.extend_from_slice(e),
                }
            }
            new
        } else {
            match regex.replace(v, format) {
                Some(r) => r,
                None => v.to_vec(),
            }
        };
        out.try_append(n, &new)
            .map_err(|_| "value is not a valid field value")?;
    }
    Ok(out)
}

/// The headers of a `return` rule, rendered; HAProxy leaves out a header
/// whose value renders empty, and one that cannot be stored (a control
/// byte in the value) is left out with a debug line naming `list`.
fn add_return_headers(
    reply: &mut LocalReply,
    headers: &[(String, gwd_sample::LogFormat)],
    render: impl Fn(&gwd_sample::LogFormat) -> Vec<u8>,
    list: &str,
) {
    for (name, value) in headers {
        let name = name.as_str();
        let value = render(value);
        if value.is_empty() {
            continue;
        }
        if let Err(e) = reply.head.fields.try_append(name.as_bytes(), &value) {
            tracing::debug!(header = %name, error = %e, "{list} return: header left out");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gwd_head::Version;

    use super::*;
    use crate::state::{Proxy, test_conn};

    /// Runs the frontend rules `rules` (TOML entries) on `method uri` with
    /// `headers`; the head as the rules left it, and their stop if any.
    fn run(
        rules: &str,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (RequestHead, Option<Stop>) {
        let cfg = gwd_config::parse_str(
            &format!(
                "[frontend.f]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\ndefault_backend = \"b\"\n\
                 http-request = [\n{rules}\n]\n\
                 [backend.b]\nserver = [ {{ name = \"s\", addr = \"127.0.0.1:1\" }} ]\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let proxy = Arc::new(Proxy::new(Arc::new(cfg)).expect("buildable"));
        let cx = test_conn(proxy.clone());
        let mut fields = Fields::with_capacity(256, 8);
        for (n, v) in headers {
            fields.append(n.as_bytes(), v.as_bytes());
        }
        let mut head = RequestHead {
            method: method.parse().expect("a method"),
            uri: uri.parse().expect("a uri"),
            version: Version::HTTP_11,
            fields,
        };
        let stop = apply(
            &proxy.frontends[0].conf.http_request,
            &mut head,
            &cx,
            None,
            None,
            &mut Vars::new(),
            &mut LogRecord::default(),
        );
        (head, stop)
    }

    fn header<'h>(head: &'h RequestHead, name: &str) -> Vec<&'h str> {
        head.fields
            .get_all(name)
            .map(|v| std::str::from_utf8(v).expect("utf-8"))
            .collect()
    }

    #[test]
    fn rewrites_apply_in_order_and_later_rules_see_them() {
        let (head, stop) = run(
            r#"{ action = "set-path", value = "/v2%[path]" },
{ action = "set-header", name = "X-Path", value = "%[path]" },
{ action = "set-query", value = "%[query]&b=2" },
{ action = "set-header", name = "X-Url", value = "%[url]" },
{ action = "set-method", value = "PUT", if = "{ path_beg /v2/ }" },
{ action = "set-header", name = "X-Method", value = "%[method]" },
{ action = "replace-path", regex = '^/v2/(.*)$', value = '/api/\1/%[req.hdr(x-id)]' },
{ action = "set-header", name = "X-After", value = "%[url]" },"#,
            "GET",
            "/items?a=1",
            &[("X-Id", "7")],
        );
        assert!(stop.is_none());
        assert_eq!(head.uri, "/api/items/7?a=1&b=2");
        assert_eq!(head.method, Method::PUT);
        assert_eq!(header(&head, "x-path"), ["/v2/items"]);
        assert_eq!(header(&head, "x-url"), ["/v2/items?a=1&b=2"]);
        assert_eq!(header(&head, "x-method"), ["PUT"]);
        assert_eq!(header(&head, "x-after"), ["/api/items/7?a=1&b=2"]);
    }

    #[test]
    fn set_forms_follow_haproxy() {
        let set = |action: &str, value: &str, uri: &str| {
            let (head, stop) = run(
                &format!("{{ action = \"{action}\", value = \"{value}\" }},"),
                "GET",
                uri,
                &[("Host", "a.example")],
            );
            assert!(stop.is_none(), "{action} {value} {uri}");
            (head.uri.to_string(), header(&head, "host").join("|"))
        };
        // Scheme and authority (HTTP/2 visitors' targets) are kept.
        assert_eq!(
            set("set-path", "/x", "http://a.example/p?q=1").0,
            "http://a.example/x?q=1"
        );
        assert_eq!(set("set-path", "/x", "/p").0, "/x");
        assert_eq!(set("set-pathq", "/x?y", "/p?q=1").0, "/x?y");
        assert_eq!(set("set-pathq", "/x", "/p?q=1").0, "/x");
        assert_eq!(set("set-query", "z=1", "/p").0, "/p?z=1");
        assert_eq!(set("set-query", "", "/p").0, "/p");
        assert_eq!(set("set-query", "", "/p?q").0, "/p?");
        assert_eq!(set("set-query", "%[url]", "/f?a=1").0, "/f?/f?a=1");
        assert_eq!(set("set-uri", "/u?v", "http://a.example/p").0, "/u?v");
        // An absolute URI moves Host along, as HAProxy.
        assert_eq!(
            set("set-uri", "http://ex.com/zz?q", "/p"),
            ("http://ex.com/zz?q".to_owned(), "ex.com".to_owned())
        );
        // An empty path is `/`: the server is never sent a target that
        // does not start with one.
        let (uri, host) = set("set-uri", "http://ex.com?q", "/p");
        assert_eq!(
            (uri.as_str(), host.as_str()),
            ("http://ex.com/?q", "ex.com")
        );
    }

    #[test]
    fn replace_forms_follow_haproxy() {
        let (head, _) = run(
            r#"{ action = "replace-value", name = "X-L", regex = '^a(.*)$', value = 'b\1' },
{ action = "replace-header", name = "X-M", regex = '^a(.*)$', value = 'b\1' },
{ action = "replace-header", name = "User-Agent", regex = 'curl', value = 'foo' },
{ action = "replace-uri", regex = '^http://(.*)', value = 'https://\1' },
{ action = "replace-pathq", regex = '([^?]*)(\?(.*))?', value = '\1/foo\2' },"#,
            "GET",
            "http://a.example/bar?q=1",
            &[
                ("X-L", "x, a1 , y,a2,  z"),
                ("X-M", "a1, a2"),
                ("X-L", "a3"),
                ("User-Agent", "curl/7.47.0"),
                ("X-M", "q"),
            ],
        );
        // Each line checked against HAProxy 2.6.
        assert_eq!(header(&head, "x-l"), ["x,b1, y,b2,  z", "b3"]);
        assert_eq!(header(&head, "x-m"), ["b1, a2", "q"]);
        assert_eq!(header(&head, "user-agent"), ["foo"]);
        assert_eq!(head.uri, "https://a.example/bar/foo?q=1");
        // The fields keep their order; the absolute URI set its Host.
        let names: Vec<_> = head.fields.iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(
            names,
            [&b"X-L"[..], b"X-M", b"X-L", b"User-Agent", b"X-M", b"host"]
        );
        assert_eq!(header(&head, "host"), ["a.example"]);
    }

    #[test]
    fn invalid_results_fail_the_request_with_500() {
        for rule in [
            r#"{ action = "set-path", value = "foo" }"#,
            r#"{ action = "set-path", value = "/a b" }"#,
            r#"{ action = "set-uri", value = "zz" }"#,
            r#"{ action = "set-method", value = "A B" }"#,
            r#"{ action = "set-method", value = "" }"#,
            r#"{ action = "set-method", value = "CONNECT" }"#,
            r#"{ action = "replace-path", regex = '.*', value = 'nope' }"#,
            r#"{ action = "replace-header", name = "X-A", regex = '.*', value = '%[url,url_dec]' }"#,
            r#"{ action = "redirect", location = "/%[url,url_dec]" }"#,
            // An authority that is not one host, or with userinfo.
            r#"{ action = "set-uri", value = "http://a,b/x" }"#,
            r#"{ action = "set-uri", value = "http://u@evil/x" }"#,
            // Skipped, these left the visitor's own X-A in place.
            r#"{ action = "set-header", name = "X-A", value = '%[url,url_dec]' }"#,
            r#"{ action = "add-header", name = "X-A", value = '%[url,url_dec]' }"#,
        ] {
            let (head, stop) = run(rule, "GET", "/p%0d%0aX:y", &[("X-A", "1")]);
            let stop = stop.unwrap_or_else(|| panic!("{rule}: applied to {:?}", head.uri));
            assert_eq!(stop.reply.status(), 500, "{rule}");
            assert_eq!(stop.outcome, Outcome::RewriteFailed, "{rule}");
        }
    }

    fn redirect(rule: &str, method: &str, uri: &str, host: Option<&str>) -> LocalReply {
        let headers: Vec<(&str, &str)> = host.map(|h| ("Host", h)).into_iter().collect();
        let (_, stop) = run(rule, method, uri, &headers);
        let stop = stop.expect("a redirect");
        assert_eq!(stop.outcome, Outcome::Redirected);
        stop.reply
    }

    fn fields(reply: &LocalReply) -> Vec<(String, String)> {
        reply
            .head
            .fields
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn redirect_answers_are_haproxys() {
        let f = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        let r = redirect(
            r#"{ action = "redirect", prefix = "/", drop-query = true, append-slash = true }"#,
            "GET",
            "/r1/a?x=1",
            Some("h"),
        );
        assert_eq!(r.status(), 302);
        assert!(r.body.is_empty());
        assert_eq!(
            fields(&r),
            f(&[
                ("content-length", "0"),
                ("location", "/r1/a/"),
                ("cache-control", "no-cache")
            ])
        );
        let r = redirect(
            r#"{ action = "redirect", scheme = "https", code = 301 }"#,
            "GET",
            "/r2/b?y=2",
            Some("127.0.0.1:19100"),
        );
        assert_eq!(r.status(), 301);
        assert_eq!(
            fields(&r),
            f(&[
                ("content-length", "0"),
                ("location", "https://127.0.0.1:19100/r2/b?y=2")
            ])
        );
        // No Host: an empty host, as HAProxy; an HTTP/2 target's authority
        // stands for Host.
        let r = redirect(
            r#"{ action = "redirect", scheme = "https" }"#,
            "GET",
            "/b",
            None,
        );
        assert_eq!(fields(&r)[1].1, "https:///b");
        let r = redirect(
            r#"{ action = "redirect", scheme = "https" }"#,
            "GET",
            "http://h2.example/b?c",
            None,
        );
        assert_eq!(fields(&r)[1].1, "https://h2.example/b?c");
        let r = redirect(
            r#"{ action = "redirect", location = "/new", code = 308, set-cookie = "S" }"#,
            "HEAD",
            "/x",
            None,
        );
        assert_eq!(r.status(), 308);
        assert_eq!(
            fields(&r),
            f(&[
                ("content-length", "0"),
                ("location", "/new"),
                ("set-cookie", "S; path=/;")
            ])
        );
        let r = redirect(
            r#"{ action = "redirect", location = "/l", code = 303, clear-cookie = "B=" }"#,
            "POST",
            "/x",
            None,
        );
        assert_eq!(
            fields(&r),
            f(&[
                ("content-length", "0"),
                ("location", "/l"),
                ("cache-control", "no-cache"),
                ("set-cookie", "B=; path=/; Max-Age=0;")
            ])
        );
        let r = redirect(
            r#"{ action = "redirect", prefix = "http://x.com", code = 307 }"#,
            "GET",
            "/c?q=1",
            None,
        );
        assert_eq!(
            (r.status(), fields(&r)[1].1.as_str()),
            (307, "http://x.com/c?q=1")
        );
    }

    #[test]
    fn ignore_empty_skips_the_redirect_and_conditions_apply() {
        let rules = r#"{ action = "redirect", location = "%[query]", ignore-empty = true },
{ action = "redirect", location = "/other", if = "{ path /x }" },"#;
        let (_, stop) = run(rules, "GET", "/y", &[]);
        assert!(stop.is_none());
        let (_, stop) = run(rules, "GET", "/x", &[]);
        assert_eq!(fields(&stop.expect("a redirect").reply)[1].1, "/other");
        let (_, stop) = run(rules, "GET", "/y?http://e.com/", &[]);
        assert_eq!(
            fields(&stop.expect("a redirect").reply)[1].1,
            "http://e.com/"
        );
    }

    /// Runs the frontend's `list` rules (TOML entries) on a response
    /// `status` with `headers`, after `request` rules ran on `GET /` with
    /// `Host: h.example` (for variables).
    fn run_response(
        list: &str,
        request: &str,
        rules: &str,
        status: u16,
        headers: &[(&str, &str)],
    ) -> (ResponseHead, Option<Stop>) {
        let cfg = gwd_config::parse_str(
            &format!(
                "[frontend.f]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\ndefault_backend = \"b\"\n\
                 http-request = [\n{request}\n]\n{list} = [\n{rules}\n]\n\
                 [backend.b]\nserver = [ {{ name = \"s\", addr = \"127.0.0.1:1\" }} ]\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let proxy = Arc::new(Proxy::new(Arc::new(cfg)).expect("buildable"));
        let cx = test_conn(proxy.clone());
        let mut vars = Vars::new();
        let mut req = RequestHead {
            method: Method::GET,
            uri: "/".parse().expect("a uri"),
            version: Version::HTTP_11,
            fields: Fields::new(),
        };
        req.fields.append(b"host", b"h.example");
        let fe = &proxy.frontends[0].conf;
        assert!(
            apply(
                &fe.http_request,
                &mut req,
                &cx,
                None,
                None,
                &mut vars,
                &mut LogRecord::default()
            )
            .is_none()
        );
        let mut head = ResponseHead::new(StatusCode::from_u16(status).expect("a status"));
        for (n, v) in headers {
            head.fields.append(n.as_bytes(), v.as_bytes());
        }
        let (rules, which) = if list == "http-response" {
            (&fe.http_response, ResponseList::Response)
        } else {
            (&fe.http_after_response, ResponseList::After)
        };
        let stop = apply_response(
            rules,
            &mut head,
            &cx,
            None,
            &mut vars,
            &mut LogRecord::default(),
            which,
        );
        (head, stop)
    }

    fn res_header<'h>(head: &'h ResponseHead, name: &str) -> Vec<&'h str> {
        head.fields
            .get_all(name)
            .map(|v| std::str::from_utf8(v).expect("utf-8"))
            .collect()
    }

    /// A header rule whose value cannot be a field value: an
    /// `http-response` answer becomes a 502; an `http-after-response` one
    /// goes out without the rule, and never with the field `set-header`
    /// would have replaced.
    #[test]
    fn a_refused_header_value_fails_http_response_and_drops_the_old_field_after() {
        // `%0d` decodes to CR.
        let request = r#"{ action = "set-var", var = "txn.v", expr = "str(a%0db),url_dec" },"#;
        for action in ["set-header", "add-header"] {
            let rule =
                format!(r#"{{ action = "{action}", name = "X-S", value = "%[var(txn.v)]" }},"#);
            let (_, stop) = run_response("http-response", request, &rule, 200, &[("X-S", "old")]);
            let stop = stop.unwrap_or_else(|| panic!("{action}: applied"));
            assert_eq!(stop.reply.status(), 502, "{action}");
            assert_eq!(stop.outcome, Outcome::ResponseRewriteFailed, "{action}");
        }
        let rule = r#"{ action = "set-header", name = "X-S", value = "%[var(txn.v)]" },"#;
        let (head, stop) =
            run_response("http-after-response", request, rule, 200, &[("X-S", "old")]);
        assert!(stop.is_none());
        assert!(
            res_header(&head, "x-s").is_empty(),
            "the old value went out"
        );
    }

    #[test]
    fn response_rules_edit_the_head_in_order() {
        let (head, stop) = run_response(
            "http-response",
            r#"{ action = "set-var", var = "txn.host", expr = "req.hdr(host),upper" },
{ action = "set-var", var = "sess.n", expr = "int(3)" },
{ action = "set-var-fmt", var = "txn.fmt", format = "%[var(txn.host)]/%[var(sess.n)]%[req.hdr(x-none)]" },"#,
            r#"{ action = "set-header", name = "X-Host", value = "%[var(txn.host)]" },
{ action = "add-header", name = "X-Status", value = "%[status] %[res.hdr_cnt(x-a)] %[res.ver]" },
{ action = "del-header", name = "Server" },
{ action = "replace-value", name = "X-A", regex = '^b$', value = "c" },
{ action = "replace-header", name = "X-B", regex = '^(.*)-old$', value = '\1-new' },
{ action = "set-status", status = 299, reason = "Fine", if = "{ res.fhdr(x-a) -m sub b }" },
{ action = "add-header", name = "X-Then", value = "%[status] %[var(sess.n)]" },
{ action = "set-var-fmt", var = "txn.late", format = "s=%[status]" },
{ action = "add-header", name = "X-Fmt", value = "%[var(txn.fmt)] %[var(txn.late)]" },
{ action = "unset-var", var = "txn.host" },
{ action = "add-header", name = "X-Gone", value = "%[var(txn.host)]" },"#,
            200,
            &[("Server", "x"), ("X-A", "a, b"), ("X-B", "v-old")],
        );
        assert!(stop.is_none());
        assert_eq!(res_header(&head, "x-host"), ["H.EXAMPLE"]);
        assert_eq!(res_header(&head, "x-status"), ["200 2 1.1"]);
        assert!(res_header(&head, "server").is_empty());
        assert_eq!(res_header(&head, "x-a"), ["a,c"]);
        assert_eq!(res_header(&head, "x-b"), ["v-new"]);
        // The condition saw `X-A` as rewritten (`a,c`): the status stays.
        assert_eq!(head.status, 200);
        assert_eq!(res_header(&head, "x-then"), ["200 3"]);
        // set-var-fmt: a string of the rendered format, in either list.
        assert_eq!(res_header(&head, "x-fmt"), ["H.EXAMPLE/3 s=200"]);
        // An empty value adds an empty field (HAProxy).
        assert_eq!(res_header(&head, "x-gone"), [""]);
    }

    #[test]
    fn set_status_sets_code_and_reason() {
        let (head, _) = run_response(
            "http-after-response",
            "",
            r#"{ action = "set-status", status = 404, reason = "Gone Away", if = "{ status 200 }" },"#,
            200,
            &[],
        );
        assert_eq!(
            (head.status.as_u16(), head.reason.as_deref()),
            (404, Some("Gone Away"))
        );
    }

    #[test]
    fn response_deny_return_and_redirect_replace_the_answer() {
        let (_, stop) = run_response(
            "http-response",
            "",
            r#"{ action = "deny", if = "{ res.hdr(x-secret) -m found }" },"#,
            200,
            &[("X-Secret", "1")],
        );
        let stop = stop.expect("denied");
        assert_eq!(
            (stop.reply.status(), stop.outcome),
            (502, Outcome::ResponseDenied)
        );
        let (_, stop) = run_response(
            "http-response",
            "",
            r#"{ action = "deny", status = 403, if = "{ res.hdr(x-secret) -m found }" },"#,
            200,
            &[],
        );
        assert!(stop.is_none());
        let (_, stop) = run_response(
            "http-response",
            "",
            r#"{ action = "return", status = 503, content-type = "text/plain", lf-body = "down %[status]" },"#,
            500,
            &[],
        );
        let stop = stop.expect("returned");
        assert_eq!(stop.reply.status(), 503);
        assert_eq!(&stop.reply.body[..], b"down 500");
        let (_, stop) = run_response(
            "http-response",
            r#"{ action = "set-var", var = "txn.p", expr = "path" },"#,
            r#"{ action = "redirect", location = "/new%[var(txn.p)]", code = 301, if = "{ status 404 }" },"#,
            404,
            &[],
        );
        let stop = stop.expect("redirected");
        assert_eq!(stop.reply.status(), 301);
        assert_eq!(
            fields(&stop.reply)[1],
            ("location".to_owned(), "/new/".to_owned())
        );
    }
}
