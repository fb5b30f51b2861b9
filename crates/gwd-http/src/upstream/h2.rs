//! HTTP/2 to servers (`proto = "h2"`), on gwd-h2-conn's client (gwd's
//! own HTTP/2 state machine): one shared connection per server, requests
//! as streams on it; heads go out and come back as gwd-head heads.

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
use tokio::sync::Notify;

use super::conn::{ConnectError, dial};
use super::{
    BodyServer, OutRequest, ResponseBody, UpstreamError, UpstreamErrorKind, UpstreamFailure,
};
use crate::body::{Body, BoxError, Watched};
use crate::state::ServerRt;

/// A request sender on a shared HTTP/2 server connection.
pub(crate) type H2Sender = gwd_h2_conn::Client;

/// Opens an HTTP/2 connection to `server` (TCP, TLS, preface and
/// SETTINGS both ways); its driver task counts it as open while it runs.
pub(crate) async fn connect(server: &ServerRt) -> Result<H2Sender, ConnectError> {
    let io = dial(server).await?;
    let open = server.counters.conn_opened_at(std::time::Instant::now());
    let opts = gwd_h2_conn::ClientOptions::default();
    Ok(gwd_h2_conn::handshake(io, &opts, open).await?)
}

/// Shapes a request head for an HTTP/2 peer: scheme and authority in the
/// URI (from `Host`, which HTTP/2 does not carry), `Host` gone.
/// Connection-specific fields are left out when the head is sent.
pub(crate) fn to_h2_head(head: RequestHead, tls: bool) -> RequestHead {
    let RequestHead {
        method,
        uri,
        mut fields,
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
    fields.remove("host");
    RequestHead {
        method,
        uri: Uri::from_parts(up).unwrap_or_else(|_| Uri::from_static("/")),
        version: Version::HTTP_2,
        fields,
    }
}

/// [`to_h2_head`] as an `http::Request`, for the `http`-typed tunnels of
/// gwd-rhttp.
pub(crate) fn to_h2_request(head: RequestHead, body: Body, tls: bool) -> Request<Body> {
    let head = to_h2_head(head, tls);
    let mut req = Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = head.fields.to_header_map();
    req
}

/// A request head that came back unsent from an HTTP/2 stack, as the
/// core holds requests again (with `Host` from the authority).
pub(crate) fn from_h2_head(
    mut head: RequestHead,
    body: Option<Body>,
    codings: Option<Box<str>>,
    upgrade: bool,
    tls: bool,
    body_server: BodyServer,
) -> OutRequest {
    if !head.fields.contains("host")
        && let Some(a) = head.uri.authority()
    {
        let a = a.as_str().as_bytes().to_vec();
        head.fields.append(b"host", &a);
    }
    head.version = Version::HTTP_11;
    OutRequest {
        head,
        body: body.filter(|b| !b.is_end_stream()),
        codings,
        upgrade,
        tls,
        body_server,
    }
}

/// [`from_h2_head`] for a request that came back from gwd-rhttp.
pub(crate) fn from_h2_request(
    req: Request<Body>,
    codings: Option<Box<str>>,
    upgrade: bool,
    tls: bool,
    body_server: BodyServer,
) -> OutRequest {
    let (parts, body) = req.into_parts();
    let head = RequestHead::from_http_parts(&parts);
    from_h2_head(head, Some(body), codings, upgrade, tls, body_server)
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
    sender: H2Sender,
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
            (Some(b), s)
        }
        None => (None, Sent::done()),
    };
    // Waits for a free stream when the server's limit is reached; a
    // request that never left comes back.
    let sending = sender.send_request(to_h2_head(head, tls), body);
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
        Ok((head, body)) => {
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
        Err(f) => {
            let back = f
                .request
                .map(|r| from_h2_head(r.head, r.body, codings, upgrade, tls, body_server));
            let kind = sent.failure_kind(back.is_some());
            Err(UpstreamFailure::new(
                UpstreamError::with_source(kind, f.error),
                back,
            ))
        }
    }
}
