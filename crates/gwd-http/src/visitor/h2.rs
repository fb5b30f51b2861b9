//! Requests of HTTP/2 streams that another driver owns (a reverse-HTTP
//! origin's tunnels, whose streams gwd-rhttp serves) through the core.
//!
//! [`serve_stream`] takes and gives gwd-head heads, as the HTTP/2 state
//! machine decodes and encodes them, so no header map is built per
//! request; [`handle_http`] is the same for an `http`-typed stack.

use std::sync::Arc;

use bytes::Bytes;
use gwd_head::{RequestHead, ResponseHead};
use gwd_mux_h2::conn::Protocol;
use http::{Request, Response};

use crate::body::{Body, BoxError, Watched, empty, full};
use crate::core::interim::InterimRoute;
use crate::core::{self, Answer, AnswerBody, ConnCtx, InRequest};

/// Runs one request of an HTTP/2 stream through the core: `head` as the
/// state machine decoded it, `protocol` for an extended CONNECT, `body`
/// the stream's (already at its end when the stream ended with its head).
/// Gives the answer's head and body; the access-log line is written when
/// the body has gone out (or was dropped).
pub async fn serve_stream<B>(
    cx: Arc<ConnCtx>,
    head: RequestHead,
    protocol: Option<&Protocol>,
    body: B,
) -> (ResponseHead, Body)
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    serve_stream_relaying(cx, head, protocol, body, None).await
}

/// [`serve_stream`], sending the server's interim (`1xx`) answers on the
/// request's stream through `interim` as they come, before the final
/// answer is given (a reverse-HTTP origin sends them up its tunnel). They
/// go without the server hop's own fields and without framing fields,
/// never a `100` (the core sends its own to a server that waits for one)
/// nor a `101`.
pub async fn serve_stream_relaying<B>(
    cx: Arc<ConnCtx>,
    mut head: RequestHead,
    protocol: Option<&Protocol>,
    body: B,
    interim: Option<gwd_h2_conn::InterimHandle>,
) -> (ResponseHead, Body)
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let body = (!body.is_end_stream())
        .then(|| Body::new(http_body_util::BodyExt::map_err(body, Into::into)));
    // A WebSocket (extended CONNECT, e.g. down a reverse-HTTP tunnel):
    // the HTTP/1.1 handshake goes to the server, the stream's DATA is
    // kept for the switch (see `h2_websocket`).
    let websocket = super::h2_websocket::is_websocket(&head, protocol);
    let (body, upload) = if websocket {
        super::h2_websocket::to_upgrade_request(&mut head);
        (None, body)
    } else {
        (body, None)
    };
    let req = InRequest {
        head,
        body,
        codings: None,
        upgrade: websocket,
        must_switch: websocket,
        interim: interim.map(InterimRoute::Stream),
        received: None,
    };
    // The request future is large (it carries the log record and every
    // step's locals); built in a box, what the caller moves around (and
    // spawns per stream) stays one pointer wide.
    let answer = core::handle_boxed(cx, req).await;
    match answer {
        Answer {
            head,
            body: AnswerBody::Upgraded(up),
            end,
            ..
        } => {
            let mut switched = ResponseHead::new(http::StatusCode::OK);
            switched.fields = super::h2_websocket::to_connect_response(&head);
            (switched, super::h2_websocket::start(up, upload, end))
        }
        answer => into_stream_answer(answer),
    }
}

/// Runs a request from an `http`-typed stack through the core
/// ([`serve_stream`]) and gives the answer back in the same types.
pub async fn handle_http<B>(cx: Arc<ConnCtx>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let head = RequestHead::from_http_parts(&parts);
    let protocol = parts.extensions.get::<Protocol>();
    let (head, body) = serve_stream(cx, head, protocol, body).await;
    Response::from_parts(head.to_http_parts(), body)
}

/// An answer as an HTTP/2 stream sends it: a head-only answer loses its
/// body; the log line is written when the body ends.
fn into_stream_answer(answer: Answer) -> (ResponseHead, Body) {
    let Answer {
        head,
        body,
        head_only,
        end,
    } = answer;
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
    (head, Body::new(body))
}
