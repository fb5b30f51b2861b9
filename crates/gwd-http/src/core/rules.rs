//! `http-request` rules, applied in order to a request head.
//!
//! Each rule's condition and values are evaluated on the head as the
//! previous rules left it (HAProxy's order). Edits go through gwd-head's
//! checked adders: a value that would carry CR, LF or NUL is refused and
//! logged, never written.
//!
//! Every value here is rendered in [`RenderMode::Text`]: a missing or
//! empty sample writes nothing (only log lines write `-`), as HAProxy.

use bytes::Bytes;
use gwd_config::{HttpRequestAction, HttpRequestRule, HttpService};
use gwd_head::{Method, RequestHead, StatusCode};
use gwd_sample::RenderMode;

use super::outcome::Outcome;
use crate::context::RequestView;
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
) -> Option<Stop> {
    let by_backend = be.is_some();

    for rule in rules {
        if let Some(c) = &rule.cond
            && !c.eval(&RequestView::new(cx, head, be))
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
                let v = RequestView::new(cx, head, be);
                let text = body.render(&v, RenderMode::Text);
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                let mut reply = LocalReply::new(
                    status,
                    content_type.as_deref(),
                    Bytes::from(text),
                    head.method == Method::HEAD,
                );
                for (name, value) in headers {
                    let value = value.render(&v, RenderMode::Text);
                    // HAProxy leaves out a header whose value renders empty.
                    if value.is_empty() {
                        continue;
                    }
                    if let Err(e) = reply
                        .head
                        .fields
                        .try_append(name.as_bytes(), value.as_bytes())
                    {
                        tracing::debug!(header = %name, error = %e, "http-request return: header left out");
                    }
                }
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
            HttpRequestAction::SetHeader { name, value } => {
                let value = value.render(&RequestView::new(cx, head, be), RenderMode::Text);
                if let Err(e) = head.fields.try_set(name.as_bytes(), value.as_bytes()) {
                    tracing::debug!(header = %name, error = %e, "set-header refused");
                }
            }
            HttpRequestAction::AddHeader { name, value } => {
                let value = value.render(&RequestView::new(cx, head, be), RenderMode::Text);
                if let Err(e) = head.fields.try_append(name.as_bytes(), value.as_bytes()) {
                    tracing::debug!(header = %name, error = %e, "add-header refused");
                }
            }
            HttpRequestAction::DelHeader { name } => {
                head.fields.remove(name);
            }
            // Map updates from traffic: writers take the map's writer
            // lock briefly; readers on other threads never wait (the
            // engine publishes a new snapshot).
            HttpRequestAction::SetMap { map, key, value } => {
                let v = RequestView::new(cx, head, be);
                let (k, val) = (
                    key.render(&v, RenderMode::Text),
                    value.render(&v, RenderMode::Text),
                );
                if let Err(e) = map.upsert(k.as_bytes(), val.as_bytes()) {
                    tracing::debug!(map = map.name(), error = %e, "set-map refused");
                }
            }
            HttpRequestAction::DelMap { map, key } | HttpRequestAction::DelAcl { map, key } => {
                let k = key.render(&RequestView::new(cx, head, be), RenderMode::Text);
                let _ = map.del(k.as_bytes());
            }
            HttpRequestAction::AddAcl { map, key } => {
                let k = key.render(&RequestView::new(cx, head, be), RenderMode::Text);
                if let Err(e) = map.add_if_absent(k.as_bytes(), b"") {
                    tracing::debug!(map = map.name(), error = %e, "add-acl refused");
                }
            }
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
