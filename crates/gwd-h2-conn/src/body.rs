//! Bodies: receiving (a stream's DATA and trailers as an
//! [`http_body::Body`], giving window space back to the peer as each chunk
//! is handed out) and sending (pumping any [`http_body::Body`] into a
//! stream, waiting for the peer's window).

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use gwd_mux_h2::frame::ErrorCode;
use http_body::{Body, Frame, SizeHint};

use crate::error::BodyError;
use crate::mux::StreamRef;

/// Boxed error type accepted from user bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A received HTTP/2 body (the request body in the server role, the
/// response body in the client role). Implements [`http_body::Body`];
/// each data chunk handed out gives its bytes back to the peer's
/// flow-control window.
///
/// Dropping it before the end gives the unread bytes back to the peer's
/// window at once; in the client role it also resets the stream
/// (CANCEL), since nobody wants the rest of the response.
#[derive(Debug)]
pub struct IncomingBody {
    stream: Option<StreamRef>,
    done: bool,
}

impl Drop for IncomingBody {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            s.drop_recv();
        }
    }
}

impl IncomingBody {
    /// The body received on `stream` (a handle of its own: the stream
    /// lives on while the body is read).
    pub fn new(stream: StreamRef) -> Self {
        let mut b = IncomingBody {
            stream: Some(stream),
            done: false,
        };
        if b.stream.as_ref().is_none_or(|s| s.is_recv_done()) {
            // Nothing will ever be read: let the stream go now.
            b.finish();
        }
        b
    }

    fn finish(&mut self) {
        self.done = true;
        self.stream = None;
    }

    /// Reads the whole body into memory, up to `limit` bytes.
    pub async fn collect_bytes(mut self, limit: usize) -> Result<Bytes, BodyError> {
        let mut out = bytes::BytesMut::new();
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut self).poll_frame(cx)).await {
            if let Ok(d) = frame?.into_data() {
                if out.len() + d.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                out.extend_from_slice(&d);
            }
        }
        Ok(out.freeze())
    }
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let Some(s) = &this.stream else {
            return Poll::Ready(None);
        };
        let r = s.poll_item(cx);
        match &r {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Ready(Some(Ok(f))) if f.is_trailers() => this.finish(),
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

/// Sends `body` on `stream`, waiting for flow-control capacity, then ends
/// the stream (with trailers when the body has some). On a body error the
/// stream is reset: with CANCEL on a stream this side opened (the request
/// is abandoned: its sender left, or its answer came early, RFC 9113
/// section 8.1), with INTERNAL_ERROR on an answer (what was being sent
/// broke).
pub async fn pump<B>(body: B, stream: StreamRef) -> Result<(), BoxError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    loop {
        // The body's error is not Send: it must not live across an await.
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => None,
            Some(Err(e)) => {
                stream.reset(if stream.opened_here() {
                    ErrorCode::CANCEL
                } else {
                    ErrorCode::INTERNAL_ERROR
                });
                return Err(e.into());
            }
            Some(Ok(f)) => Some(f),
        };
        let Some(frame) = frame else {
            stream.send_data(Bytes::new(), true).await?;
            return Ok(());
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                if !data.is_empty() {
                    stream.send_data(data, false).await?;
                }
                continue;
            }
            Err(f) => f,
        };
        if let Ok(trailers) = frame.into_trailers() {
            stream.send_trailers(&trailers)?;
            return Ok(());
        }
    }
}
