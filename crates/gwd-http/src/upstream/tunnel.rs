//! Reverse-HTTP tunnels as an upstream: an `rhttp@` server's requests go
//! down a tunnel registered under the name its `pool-conn-name` gives for
//! the request, as an HTTP/2 stream.

use std::time::{Duration, Instant};

use gwd_head::ResponseHead;

use super::h2::{Sent, Signalled, after_sent, from_h2_request, to_h2_request};
use super::{
    OutRequest, ResponseBody, SendReport, ServerRef, UpstreamError, UpstreamErrorKind,
    UpstreamFailure, UpstreamResponse,
};
use crate::body::{Body, BoxError, Watched, empty};
use crate::context::RequestView;
use crate::core::ConnCtx;

/// Sends one attempt down a tunnel of the `rhttp@` server `at`. A request
/// the tunnel refused before it left (closing, GOAWAY) comes back for the
/// retry loop to offer to another tunnel.
pub(crate) async fn send(
    cx: &ConnCtx,
    at: ServerRef,
    req: OutRequest,
) -> Result<UpstreamResponse, UpstreamFailure> {
    let proxy = &cx.proxy;
    let be = &proxy.backends[at.backend];
    let server = &be.servers[at.server];
    let registry = server.tunnels.as_ref().expect("an rhttp@ server");
    let name = match server.conf.reverse().and_then(|r| r.name.as_ref()) {
        None => String::new(),
        Some(expr) => {
            let view = RequestView::new(cx, &req.head, Some(be));
            match expr.eval_str(&view) {
                Some(n) => n.to_ascii_lowercase(),
                None => {
                    return Err(UpstreamFailure::new(
                        UpstreamError::new(UpstreamErrorKind::NoTunnelName),
                        None,
                    ));
                }
            }
        }
    };
    let wait = be.conf.timeouts.tunnel_wait.unwrap_or(Duration::ZERO);
    let queued_at = Instant::now();
    let lease = if wait.is_zero() {
        registry.try_acquire(&name)
    } else {
        let _queued = server.counters.queued();
        registry.acquire(&name, wait).await
    };
    let mut report = SendReport {
        queue: queued_at.elapsed(),
        ..SendReport::default()
    };
    let lease = match lease {
        Ok(l) => l,
        Err(e) => {
            let kind = match e.kind() {
                gwd_rhttp::RegistryErrorKind::NoTunnel => UpstreamErrorKind::NoTunnel,
                gwd_rhttp::RegistryErrorKind::Saturated => UpstreamErrorKind::TunnelsSaturated,
            };
            tracing::debug!(server = %server.conf.name, name = %name, error = %e, "no tunnel");
            return Err(UpstreamFailure {
                error: UpstreamError::new(kind),
                request: None,
                report,
            });
        }
    };
    server.counters.request();
    req.mark_sent_to(server);
    let OutRequest {
        head,
        body,
        codings,
        upgrade,
        tls,
        body_server,
    } = req;
    let (body, sent) = match body {
        Some(b) => Signalled::wrap(b),
        None => (empty(), Sent::done()),
    };
    let request = to_h2_request(head, body, tls);
    let sent_at = Instant::now();
    let result = match after_sent(lease.try_send(request), &sent, be.conf.timeouts.server).await {
        Some(r) => r,
        None => {
            return Err(UpstreamFailure {
                error: UpstreamError::new(UpstreamErrorKind::ResponseTimeout),
                request: None,
                report,
            });
        }
    };
    match result {
        Ok(resp) => {
            report.response = sent_at.elapsed();
            let (parts, body) = resp.into_parts();
            let head = ResponseHead::from_http_parts(&parts);
            let body = if http_body::Body::is_end_stream(&body) {
                ResponseBody::Empty
            } else {
                // `timeout server` between frames of the answer.
                let body = http_body_util::BodyExt::map_err(body, BoxError::from);
                ResponseBody::Stream {
                    body: Body::new(Watched::new(body, be.conf.timeouts.server, |_, _| {})),
                    codings: None,
                }
            };
            Ok(UpstreamResponse { head, body, report })
        }
        Err(f) => {
            tracing::debug!(server = %server.conf.name, name = %name, error = %f.error, "tunnel request failed");
            let back = f
                .request
                .map(|r| from_h2_request(r, codings, upgrade, tls, body_server));
            let kind = sent.failure_kind(back.is_some());
            Err(UpstreamFailure {
                error: UpstreamError::with_source(kind, f.error),
                request: back,
                report,
            })
        }
    }
}
