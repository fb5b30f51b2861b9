//! HTTP/2 to servers (`proto = "h2"`), on gwd-h2-conn's client (gwd's
//! own HTTP/2 state machine): one shared connection per server, requests
//! as streams on it; heads go out and come back as gwd-head heads.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gwd_head::{RequestHead, ResponseHead};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Uri, Version};
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::Notify;

use super::conn::{ConnectError, dial};
use super::{
    BodyServer, OutRequest, ResponseBody, UpstreamError, UpstreamErrorKind, UpstreamFailure,
};
use crate::body::{Body, BoxError, Watched};
use crate::core::interim::InterimSink;
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

/// A request head that came back unsent from an HTTP/2 stack, as the
/// core holds requests again (with `Host` from the authority).
pub(crate) fn from_h2_head(
    mut head: RequestHead,
    body: Option<Body>,
    codings: Option<Box<str>>,
    upgrade: bool,
    tls: bool,
    body_server: BodyServer,
    interim: Option<crate::core::interim::InterimTo>,
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
        interim,
    }
}

/// Set once a request body has been completely taken (or dropped):
/// `timeout server` starts then. Until then it also tells whose turn it
/// is: the server's while it has not taken the next frame (no free
/// stream, no flow-control window), the visitor's while its next bytes
/// have not come; the server's turn is bounded by `timeout server` too.
#[derive(Debug)]
pub(crate) struct Sent {
    done: AtomicBool,
    /// Waiting for the server to take the body (true until the first
    /// poll: the stream is not even open yet).
    on_server: AtomicBool,
    /// Polls of the body so far: progress of the upload.
    progress: AtomicU64,
    notify: Notify,
    /// The visitor's body failed (how, for the blame): the stack sending
    /// it reports its own error, in which the cause is lost.
    client_failure: parking_lot::Mutex<Option<UpstreamErrorKind>>,
}

impl Default for Sent {
    fn default() -> Self {
        Sent {
            done: AtomicBool::new(false),
            on_server: AtomicBool::new(true),
            progress: AtomicU64::new(0),
            notify: Notify::new(),
            client_failure: parking_lot::Mutex::new(None),
        }
    }
}

impl Sent {
    /// The state of a request without a body: sent once its head is.
    /// One shared value, nothing allocated per request: nothing ever
    /// changes it (no body reports progress or a failure on it).
    pub fn done() -> Arc<Sent> {
        static DONE: std::sync::LazyLock<Arc<Sent>> = std::sync::LazyLock::new(|| {
            let s = Arc::new(Sent::default());
            s.done.store(true, Ordering::Release);
            s
        });
        DONE.clone()
    }

    /// Resolves once the server has held the upload for `t` without
    /// taking any of it, or once `t` has passed since the body was
    /// completely sent (`timeout server`, both).
    async fn server_stalled(&self, t: Duration) {
        // Sent already (a request without a body: the shared `done()`):
        // no waiter is registered on its `Notify`.
        if self.done.load(Ordering::Acquire) {
            tokio::time::sleep(t).await;
            return;
        }
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.done.load(Ordering::Acquire) {
                tokio::time::sleep(t).await;
                return;
            }
            if self.on_server.load(Ordering::Acquire) {
                let at = self.progress.load(Ordering::Acquire);
                tokio::select! {
                    () = tokio::time::sleep(t) => {
                        if self.progress.load(Ordering::Acquire) == at
                            && self.on_server.load(Ordering::Acquire)
                            && !self.done.load(Ordering::Acquire)
                        {
                            return;
                        }
                    }
                    () = &mut notified => {}
                }
            } else {
                notified.await;
            }
        }
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

    /// [`Signalled::wrap`] for a request that may have no body (then
    /// it is sent already).
    pub fn wrap_optional(body: Option<Body>) -> (Option<Body>, Arc<Sent>) {
        match body {
            Some(b) => {
                let (b, sent) = Signalled::wrap(b);
                (Some(b), sent)
            }
            None => (None, Sent::done()),
        }
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
        // A frame handed over: the server's turn until it asks for the
        // next; nothing ready: the visitor's.
        self.sent.progress.fetch_add(1, Ordering::AcqRel);
        let on_server = !r.is_pending();
        if self.sent.on_server.swap(on_server, Ordering::AcqRel) != on_server {
            self.sent.notify.notify_waiters();
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
/// request body is completely sent, and over any time the server holds
/// the upload without taking it (a stream it never frees, a window it
/// never opens): a slow visitor's upload is the visitor's time, a server
/// that does not read is the server's (HAProxy's `sD`).
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
        () = sent.server_stalled(t) => None,
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
        interim,
    } = req;
    let (body, sent) = Signalled::wrap_optional(body);
    // Waits for a free stream when the server's limit is reached; a
    // request that never left comes back.
    // The server's interim answers go to the visitor as they come.
    let mut sink = InterimSink::new(interim);
    let mut relay = |h| sink.offer(h);
    let sending = sender.send_request_relaying(to_h2_head(head, tls), body, &mut relay);
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
            let interim = sink.into_to();
            let back = f
                .request
                .map(|r| from_h2_head(r.head, r.body, codings, upgrade, tls, body_server, interim));
            let kind = sent.failure_kind(back.is_some());
            Err(UpstreamFailure::new(
                UpstreamError::with_source(kind, f.error),
                back,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use http_body_util::BodyExt;

    use super::{Signalled, after_sent};

    const T: Duration = Duration::from_millis(150);

    /// A server that never takes the body (no free stream, no window):
    /// `timeout server` ends the wait, though no byte was sent.
    #[tokio::test]
    async fn a_server_that_never_takes_the_body_times_out() {
        let (_tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let (_body, sent) = Signalled::wrap(crate::body::channel_body(rx));
        let started = Instant::now();
        let r = tokio::time::timeout(
            T * 20,
            after_sent(std::future::pending::<()>(), &sent, Some(T)),
        )
        .await
        .expect("ended by timeout server, not left waiting");
        assert!(r.is_none());
        assert!(started.elapsed() >= T && started.elapsed() < T * 10);
    }

    /// The server took one frame and never asks for the next (its window
    /// stays shut): a stall of the server's, ended by `timeout server`.
    #[tokio::test]
    async fn a_server_that_stops_taking_the_body_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let (mut body, sent) = Signalled::wrap(crate::body::channel_body(rx));
        tx.send(Bytes::from_static(b"part")).await.unwrap();
        let _ = body.frame().await;
        let r = tokio::time::timeout(
            T * 20,
            after_sent(std::future::pending::<()>(), &sent, Some(T)),
        )
        .await
        .expect("ended by timeout server, not left waiting");
        assert!(r.is_none());
    }

    /// A visitor that uploads slowly is not the server's fault: while the
    /// body waits for the visitor's bytes, no server timeout runs, even
    /// over several `timeout server`.
    #[tokio::test]
    async fn a_slow_visitor_upload_is_not_a_server_timeout() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let (mut body, sent) = Signalled::wrap(crate::body::channel_body(rx));
        // The sender asks for the body; the visitor has sent nothing yet.
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while let Some(f) = body.frame().await {
                n += f.unwrap().into_data().unwrap().len();
            }
            n
        });
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(T).await;
                tx.send(Bytes::from_static(b"slow")).await.unwrap();
            }
            drop(tx);
            tokio::time::sleep(T / 2).await;
            let _ = done_tx.send(());
        });
        let r = after_sent(done_rx, &sent, Some(T * 2)).await;
        assert!(r.is_some(), "a slow upload timed out as the server's fault");
        assert_eq!(reader.await.unwrap(), 16);
    }
}
