//! Servers with named connections as an upstream (reverse-HTTP `rhttp@`
//! servers): a request goes down a connection registered under the name
//! the server's `pool-conn-name` gives for it, as an HTTP/2 stream, through
//! the server's [`NamedConns`](crate::named::NamedConns).

use std::time::{Duration, Instant};

use super::h2::{Signalled, after_sent, from_h2_head, to_h2_head};
use super::{
    OutRequest, ResponseBody, SendReport, ServerRef, UpstreamError, UpstreamErrorKind,
    UpstreamFailure, UpstreamResponse,
};
use crate::body::{Body, Watched};
use crate::context::RequestView;
use crate::core::ConnCtx;
use crate::named::{AcquireErrorKind, InterimSink, NamedConns};

/// Sends one attempt down a named connection of server `at`, whose
/// connections are `conns`. A request the connection refused before it
/// left (closing, GOAWAY) comes back for the retry loop to offer to
/// another connection.
pub(crate) async fn send(
    cx: &ConnCtx,
    at: ServerRef,
    conns: &dyn NamedConns,
    req: OutRequest,
) -> Result<UpstreamResponse, UpstreamFailure> {
    let proxy = &cx.proxy;
    let be = proxy.backend(at.backend);
    let server = be.server(at.server);
    let name = match server.conf.reverse().and_then(|r| r.name.as_ref()) {
        None => String::new(),
        Some(expr) => {
            let view = RequestView::new(cx, &req.head, Some(be));
            match expr.eval_str(&view) {
                Some(n) => {
                    // Lowered in place: one allocation at most (none when
                    // the expression already made its own string).
                    let mut n = n.into_owned();
                    n.make_ascii_lowercase();
                    n
                }
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
    // One clock read when nothing waits (the usual case): the lease is
    // taken at once, and that instant is also when the request is sent.
    let (lease, queue, sent_at) = if wait.is_zero() {
        (conns.try_acquire(&name), Duration::ZERO, Instant::now())
    } else {
        let queued_at = Instant::now();
        let _queued = server.counters.queued();
        let lease = conns.acquire(&name, wait).await;
        let now = Instant::now();
        (lease, now - queued_at, now)
    };
    let mut report = SendReport {
        queue,
        ..SendReport::default()
    };
    let lease = match lease {
        Ok(l) => l,
        Err(e) => {
            let kind = match e.kind {
                AcquireErrorKind::NoConnection => UpstreamErrorKind::NoTunnel,
                AcquireErrorKind::Saturated => UpstreamErrorKind::TunnelsSaturated,
            };
            tracing::debug!(server = %server.conf.name, name = %name, error = %e, "no tunnel");
            return Err(UpstreamFailure {
                error: UpstreamError::new(kind),
                request: None,
                report,
            });
        }
    };
    server.counters.request_at(sent_at);
    req.mark_sent_to(server);
    let OutRequest {
        head,
        body,
        codings,
        upgrade,
        tls,
        body_server,
        interim,
    } = req;
    // A WebSocket goes down the tunnel as an extended CONNECT (RFC 8441);
    // the visitor's bytes after the switch are its request body.
    let ws_key = (upgrade && crate::headers::upgrade_is_websocket(&head.fields))
        .then(|| head.fields.get("sec-websocket-key").map(<[u8]>::to_vec))
        .flatten();
    let mut to_origin = None;
    let body = match (&ws_key, body) {
        (Some(_), _) => {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            to_origin = Some(tx);
            Some(crate::body::channel_body(rx))
        }
        (None, b) => b,
    };
    let (body, sent) = Signalled::wrap_optional(body);
    let mut head = to_h2_head(head, tls);
    // The visitor's method, kept to undo the extended CONNECT on a
    // request handed back unsent (the retry must see the WebSocket again).
    let mut visitor_method = None;
    let protocol = if ws_key.is_some() {
        visitor_method = Some(std::mem::replace(&mut head.method, http::Method::CONNECT));
        head.fields.remove("sec-websocket-key");
        Some(gwd_mux_h2::conn::Protocol::new("websocket"))
    } else {
        None
    };
    // The origin's interim answers go to the visitor as they come.
    let sending = lease.send(head, protocol, body, InterimSink::new(interim.clone()));
    let result = match after_sent(sending, &sent, be.conf.timeouts.server).await {
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
        Ok((mut head, body)) => {
            report.response = sent_at.elapsed();
            if let (Some(key), Some(tx)) = (&ws_key, to_origin)
                && head.status.is_success()
            {
                // The origin opened the WebSocket: the visitor gets the
                // HTTP/1.1 switch, and the stream becomes its byte stream.
                head.status = http::StatusCode::SWITCHING_PROTOCOLS;
                head.fields.remove("content-length");
                head.fields.append(b"upgrade", b"websocket");
                head.fields.append(b"connection", b"upgrade");
                head.fields.append(
                    b"sec-websocket-accept",
                    crate::headers::websocket_accept(key).as_bytes(),
                );
                let from_origin = body;
                return Ok(UpstreamResponse {
                    head,
                    body: ResponseBody::Upgraded(super::h1::Upgraded {
                        io: Box::new(StreamIo::new(tx, from_origin)),
                        leftover: bytes::Bytes::new(),
                        _open: None,
                    }),
                    report,
                });
            }
            let body = if http_body::Body::is_end_stream(&body) {
                ResponseBody::Empty
            } else {
                // `timeout server` between frames of the answer.
                ResponseBody::Stream {
                    body: Body::new(Watched::new(body, be.conf.timeouts.server, |_, _| {})),
                    codings: None,
                }
            };
            Ok(UpstreamResponse { head, body, report })
        }
        Err(f) => {
            tracing::debug!(server = %server.conf.name, name = %name, error = %f.error, "tunnel request failed");
            let back = f.request.map(|(mut head, mut body)| {
                // Back as the visitor sent it: a WebSocket upgrade, not the
                // extended CONNECT it became for the tunnel, and without
                // the stream body that stood for its bytes after the switch
                // (a retry on an HTTP/1.1 server would send it as chunks).
                if let (Some(method), Some(key)) = (visitor_method, &ws_key) {
                    head.method = method;
                    head.fields.append(b"sec-websocket-key", key);
                    body = None;
                }
                from_h2_head(head, body, codings, upgrade, tls, body_server, interim)
            });
            let kind = sent.failure_kind(back.is_some());
            Err(UpstreamFailure {
                error: UpstreamError::with_source(kind, f.error),
                request: back,
                report,
            })
        }
    }
}

/// A tunnel stream as a byte stream, for a WebSocket relayed to an
/// HTTP/1.1 visitor: writes become the request body's DATA (one chunk in
/// flight: the stream's flow control pushes back), reads come from the
/// response body; shutting down the write side ends the request body.
#[derive(Debug)]
struct StreamIo {
    to_origin: tokio_util::sync::PollSender<bytes::Bytes>,
    from_origin: Body,
    /// Received and not yet read.
    pending: bytes::Bytes,
    read_done: bool,
}

impl StreamIo {
    fn new(tx: tokio::sync::mpsc::Sender<bytes::Bytes>, from_origin: Body) -> StreamIo {
        StreamIo {
            to_origin: tokio_util::sync::PollSender::new(tx),
            from_origin,
            pending: bytes::Bytes::new(),
            read_done: false,
        }
    }
}

impl tokio::io::AsyncRead for StreamIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while self.pending.is_empty() && !self.read_done {
            match http_body::Body::poll_frame(std::pin::Pin::new(&mut self.from_origin), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.read_done = true,
                Poll::Ready(Some(Err(e))) => {
                    self.read_done = true;
                    return Poll::Ready(Err(std::io::Error::other(e)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
            }
        }
        let n = self.pending.len().min(buf.remaining());
        let chunk = self.pending.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for StreamIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        let closed = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        match self.to_origin.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(closed())),
            Poll::Ready(Ok(())) => {
                let chunk = bytes::Bytes::copy_from_slice(buf);
                match self.to_origin.send_item(chunk) {
                    Ok(()) => Poll::Ready(Ok(buf.len())),
                    Err(_) => Poll::Ready(Err(closed())),
                }
            }
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.to_origin.close();
        std::task::Poll::Ready(Ok(()))
    }
}
