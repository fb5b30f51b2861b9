//! HTTP/2 visitors (TLS ALPN `h2`, `proto = "h2"` binds, h2c prior
//! knowledge) on hyper's server, each stream's request through the core.
//!
//! Client-side timeouts live on the byte stream ([`crate::conn_io`]):
//! frames of many streams interleave, so only the idle and body rules
//! apply there.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gwd_head::RequestHead;
use http::{Request, Response};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::body::{Body, BoxError, Watched, empty, full};
use crate::conn_io::{ClientTimeout, TimedIo};
use crate::core::{self, Answer, AnswerBody, ConnCtx, InRequest};

/// Serves HTTP/2 on `io` until the connection ends; on `shutdown`, GOAWAY
/// and drain.
pub(crate) async fn serve<S>(cx: Arc<ConnCtx>, io: S, shutdown: &mut watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let proxy = cx.proxy.clone();
    let fe = &proxy.frontends[cx.fe];
    let shared = cx.shared.clone();
    let max_head = proxy.config.global.max_header_size;
    // gwd enforces `tune.bufsize` itself (431 with a page); hyper's limit
    // is only a backstop against unbounded buffering.
    let h2_list = ((max_head * 2) as u32).max(16 * 1024);
    let io = TokioIo::new(TimedIo::new(
        io,
        shared.clone(),
        fe.conf.timeouts,
        Some(true),
    ));
    let peer = cx.peer;
    let svc = service_fn(move |req| {
        let cx = cx.clone();
        async move { Ok::<_, Infallible>(handle_http(cx, req).await) }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(h2_list)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if shared.timed_out() == Some(ClientTimeout::Client) {
        tracing::info!(target: "gwd::access", frontend = %fe.conf.name, client = %peer, reason = "timeout client", "connection closed: client inactive");
    }
    if let Err(e) = result {
        tracing::debug!(frontend = %fe.conf.name, client = %peer, error = %e, "connection ended with error");
    }
}

/// Runs a request from an `http`-typed stack (hyper's HTTP/2 server, a
/// reverse-HTTP tunnel) through the core and gives the answer back in the
/// same types.
pub(crate) async fn handle_http<B>(cx: Arc<ConnCtx>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let head = RequestHead::from_http_parts(&parts);
    let body = if body.is_end_stream() {
        None
    } else {
        // While the body streams in, the client-side inactivity timeout
        // applies on the connection.
        let guard = cx.shared.body_reading();
        let body = http_body_util::BodyExt::map_err(body, Into::into);
        Some(Body::new(Watched::new(body, None, move |_, _| drop(guard))))
    };
    let req = InRequest {
        head,
        body,
        codings: None,
        upgrade: false,
    };
    // The request future is large (it carries the log record and every
    // step's locals); boxing it once keeps what hyper moves around (and
    // spawns per stream) one pointer wide.
    let answer = Box::pin(core::handle(cx, req)).await;
    into_http_response(answer)
}

/// An answer as an `http::Response`; its access-log line is written when
/// the body has gone out (or was dropped).
pub(crate) fn into_http_response(answer: Answer) -> Response<Body> {
    let Answer {
        head,
        body,
        head_only,
        end,
    } = answer;
    let parts = head.to_http_parts();
    let body = match body {
        AnswerBody::Full(b) if !head_only => full(b),
        AnswerBody::Stream { body, .. } => body,
        AnswerBody::Full(_) | AnswerBody::Empty => empty(),
        AnswerBody::Upgraded(_) => {
            // HTTP/2 visitors never ask for an HTTP/1.1 protocol switch.
            empty()
        }
    };
    let body = Watched::new(body, None, move |how, bytes| end.finish(how, bytes));
    Response::from_parts(parts, Body::new(body))
}
