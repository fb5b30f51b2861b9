//! HTTP/2 to servers (`proto = "h2"`), on hyper's client: one shared
//! connection per server, requests as streams on it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gwd_head::{RequestHead, ResponseHead};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Uri, Version};
use http_body::{Body as _, Frame, SizeHint};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::Notify;

use super::conn::{ConnectError, dial};
use super::{
    BodyServer, OutRequest, ResponseBody, UpstreamError, UpstreamErrorKind, UpstreamFailure,
};
use crate::body::{Body, BoxError, Watched, empty};
use crate::state::ServerRt;

/// A request sender on a shared HTTP/2 server connection.
pub(crate) type H2Sender = http2::SendRequest<Body>;

/// Opens an HTTP/2 connection to `server` (TCP, TLS, preface and
/// SETTINGS); its task counts it as open while it runs.
pub(crate) async fn connect(server: &ServerRt) -> Result<H2Sender, ConnectError> {
    let io = TokioIo::new(dial(server).await?);
    let open = server.counters.conn_opened_at(std::time::Instant::now());
    let (tx, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(io)
        .await?;
    tokio::spawn(async move {
        let _open = open;
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "server h2 connection ended");
        }
    });
    Ok(tx)
}

/// Shapes a request for an HTTP/2 peer: scheme and authority in the URI
/// (from `Host`, which HTTP/2 does not carry), no connection fields.
pub(crate) fn to_h2_request(head: RequestHead, body: Body, tls: bool) -> Request<Body> {
    let RequestHead {
        method,
        uri,
        fields,
        ..
    } = head;
    let authority = fields
        .get("host")
        .and_then(|h| Authority::try_from(h).ok())
        .or_else(|| uri.authority().cloned())
        .unwrap_or_else(|| Authority::from_static("localhost"));
    let pq = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut up = http::uri::Parts::default();
    up.scheme = Some(if tls { Scheme::HTTPS } else { Scheme::HTTP });
    up.authority = Some(authority);
    up.path_and_query = Some(pq);
    let mut headers = fields.to_header_map();
    headers.remove(http::header::HOST);
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = Uri::from_parts(up).unwrap_or_else(|_| Uri::from_static("/"));
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = headers;
    req
}

/// A request that came back unsent from an HTTP/2 stack, as the core
/// holds requests again (with `Host` from the authority).
pub(crate) fn from_h2_request(
    req: Request<Body>,
    codings: Option<Box<str>>,
    upgrade: bool,
    tls: bool,
    body_server: BodyServer,
) -> OutRequest {
    let (parts, body) = req.into_parts();
    let mut head = RequestHead::from_http_parts(&parts);
    if !head.fields.contains("host")
        && let Some(a) = parts.uri.authority()
    {
        head.fields.append(b"host", a.as_str().as_bytes());
    }
    head.version = Version::HTTP_11;
    OutRequest {
        head,
        body: (!body.is_end_stream()).then_some(body),
        codings,
        upgrade,
        tls,
        body_server,
    }
}

/// Set once a request body has been completely taken (or dropped):
/// `timeout server` starts then.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    done: AtomicBool,
    notify: Notify,
    /// The visitor's body failed (how, for the blame): the stack sending
    /// it reports its own error, in which the cause is lost.
    client_failure: parking_lot::Mutex<Option<UpstreamErrorKind>>,
}

impl Sent {
    pub fn done() -> Arc<Sent> {
        let s = Arc::new(Sent::default());
        s.done.store(true, Ordering::Release);
        s
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// How a failed HTTP/2 exchange is blamed: the request came back
    /// unsent (`handed_back`): refused; the visitor's body failed: the
    /// visitor, whatever error the HTTP/2 stack reports for it; else a bad
    /// response.
    pub fn failure_kind(&self, handed_back: bool) -> UpstreamErrorKind {
        match *self.client_failure.lock() {
            _ if handed_back => UpstreamErrorKind::Refused,
            Some(kind) => kind,
            None => UpstreamErrorKind::BadResponse,
        }
    }

    /// Resolves once the body is completely sent.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.done.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// A request body that signals [`Sent`] when it ends.
pub(crate) struct Signalled {
    inner: Body,
    sent: Arc<Sent>,
}

impl std::fmt::Debug for Signalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signalled")
    }
}

impl Signalled {
    pub fn wrap(inner: Body) -> (Body, Arc<Sent>) {
        let sent = Arc::new(Sent::default());
        (
            Body::new(Signalled {
                inner,
                sent: sent.clone(),
            }),
            sent,
        )
    }
}

impl http_body::Body for Signalled {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(e))) = &r {
            *self.sent.client_failure.lock() = Some(super::h1::client_body_kind(e));
        }
        if matches!(r, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) || self.inner.is_end_stream()
        {
            self.sent.finish();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Signalled {
    fn drop(&mut self) {
        self.sent.finish();
    }
}

/// Runs `response` with `timeout server` counted from the moment the
/// request body is completely sent.
pub(crate) async fn after_sent<T>(
    response: impl Future<Output = T>,
    sent: &Sent,
    timeout: Option<Duration>,
) -> Option<T> {
    let Some(t) = timeout else {
        return Some(response.await);
    };
    tokio::select! {
        r = response => Some(r),
        _ = async { sent.wait().await; tokio::time::sleep(t).await } => None,
    }
}

/// Sends a request on a shared HTTP/2 connection.
pub(crate) async fn exchange(
    mut sender: H2Sender,
    req: OutRequest,
    server_timeout: Option<Duration>,
) -> Result<(ResponseHead, ResponseBody), UpstreamFailure> {
    let OutRequest {
        head,
        body,
        codings,
        upgrade,
        tls,
        body_server,
    } = req;
    let (body, sent) = match body {
        Some(b) => {
            let (b, s) = Signalled::wrap(b);
            (b, s)
        }
        None => (empty(), Sent::done()),
    };
    let request = to_h2_request(head, body, tls);
    // `ready` waits for a free stream slot; when it fails the connection
    // is gone and `try_send_request` hands the request back.
    let _ = sender.ready().await;
    let sending = sender.try_send_request(request);
    let result = match after_sent(sending, &sent, server_timeout).await {
        Some(r) => r,
        None => {
            return Err(UpstreamFailure::new(
                UpstreamError::new(UpstreamErrorKind::ResponseTimeout),
                None,
            ));
        }
    };
    match result {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let head = ResponseHead::from_http_parts(&parts);
            let body = if body.is_end_stream() {
                ResponseBody::Empty
            } else {
                // `timeout server` between frames of the answer.
                let body = http_body_util::BodyExt::map_err(body, BoxError::from);
                ResponseBody::Stream {
                    body: Body::new(Watched::new(body, server_timeout, |_, _| {})),
                    codings: None,
                }
            };
            Ok((head, body))
        }
        Err(mut e) => {
            let back = e
                .take_message()
                .map(|r| from_h2_request(r, codings, upgrade, tls, body_server));
            let err = e.into_error();
            let kind = sent.failure_kind(back.is_some());
            Err(UpstreamFailure::new(
                UpstreamError::with_source(kind, err),
                back,
            ))
        }
    }
}
