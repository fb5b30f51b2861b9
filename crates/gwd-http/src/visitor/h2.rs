//! Requests from `http`-typed stacks through the core: the reverse-HTTP
//! origin's tunnels (gwd-rhttp hands requests as `http::Request`s) run
//! here, converted to and from gwd's heads once per request.

use std::sync::Arc;

use bytes::Bytes;
use gwd_head::RequestHead;
use http::{Request, Response};

use crate::body::{Body, BoxError, Watched, empty, full};
use crate::core::{self, Answer, AnswerBody, ConnCtx, InRequest};

/// Runs a request from an `http`-typed stack (hyper's HTTP/2 server, a
/// reverse-HTTP tunnel) through the core and gives the answer back in the
/// same types.
pub async fn handle_http<B>(cx: Arc<ConnCtx>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let mut head = RequestHead::from_http_parts(&parts);
    let body = if http_body::Body::is_end_stream(&body) {
        None
    } else {
        Some(Body::new(http_body_util::BodyExt::map_err(
            body,
            Into::into,
        )))
    };
    // A WebSocket (extended CONNECT, e.g. down a reverse-HTTP tunnel):
    // the HTTP/1.1 handshake goes to the server, the stream's DATA is
    // kept for the switch (see `h2_websocket`).
    let protocol = parts.extensions.get::<gwd_mux_h2::conn::Protocol>();
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
    };
    // The request future is large (it carries the log record and every
    // step's locals); boxing it once keeps what hyper moves around (and
    // spawns per stream) one pointer wide.
    let answer = Box::pin(core::handle(cx, req)).await;
    match answer {
        Answer {
            head,
            body: AnswerBody::Upgraded(up),
            end,
            ..
        } => {
            let headers = super::h2_websocket::to_connect_response(&head);
            let mut resp = Response::new(super::h2_websocket::start(up, upload, end));
            *resp.headers_mut() = headers.to_header_map();
            resp
        }
        answer => into_http_response(answer),
    }
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
