//! Bodies: receiving (`h2::RecvStream` as an [`http_body::Body`], with flow
//! control released as data is consumed) and sending (pumping any
//! [`http_body::Body`] into an `h2::SendStream`, honouring the peer's window).

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use http_body::{Body, Frame, SizeHint};

use crate::gateway::StreamSlot;

/// Boxed error type accepted from user bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A received HTTP/2 body (request body on the origin, response body on the
/// gateway). Implements [`http_body::Body`]; each data chunk handed out
/// gives its bytes back to the peer's flow-control window.
///
/// On the gateway, the body also holds the stream's slot in its tunnel's
/// concurrency count, released when the body ends or is dropped.
#[derive(Debug)]
pub struct IncomingBody {
    recv: RecvStream,
    data_done: bool,
    done: bool,
    slot: Option<StreamSlot>,
}

impl IncomingBody {
    pub(crate) fn new(recv: RecvStream, slot: Option<StreamSlot>) -> Self {
        let mut b = IncomingBody {
            recv,
            data_done: false,
            done: false,
            slot,
        };
        if b.recv.is_end_stream() {
            b.finish();
        }
        b
    }

    fn finish(&mut self) {
        self.data_done = true;
        self.done = true;
        self.slot = None;
    }

    /// The raw h2 stream (flow control is then the caller's job).
    pub fn into_inner(self) -> RecvStream {
        self.recv
    }

    /// Reads the whole body into memory, up to `limit` bytes.
    pub async fn collect_bytes(mut self, limit: usize) -> Result<Bytes, h2::Error> {
        let mut out = bytes::BytesMut::new();
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut self).poll_frame(cx)).await {
            if let Ok(d) = frame?.into_data() {
                if out.len() + d.len() > limit {
                    return Err(h2::Error::from(h2::Reason::FLOW_CONTROL_ERROR));
                }
                out.extend_from_slice(&d);
            }
        }
        Ok(out.freeze())
    }
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    this.finish();
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.data_done = true,
            }
        }
        let r = ready!(this.recv.poll_trailers(cx));
        this.finish();
        match r {
            Ok(Some(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
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
/// stream is reset with INTERNAL_ERROR.
pub(crate) async fn pump<B>(body: B, mut stream: SendStream<Bytes>) -> Result<(), BoxError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    loop {
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => {
                stream.send_data(Bytes::new(), true)?;
                return Ok(());
            }
            Some(Err(e)) => {
                stream.send_reset(h2::Reason::INTERNAL_ERROR);
                return Err(e.into());
            }
            Some(Ok(f)) => f,
        };
        let frame = match frame.into_data() {
            Ok(mut data) => {
                while !data.is_empty() {
                    stream.reserve_capacity(data.len());
                    let cap = match poll_fn(|cx| stream.poll_capacity(cx)).await {
                        Some(Ok(n)) => n,
                        Some(Err(e)) => return Err(e.into()),
                        None => return Err("stream closed while sending".into()),
                    };
                    if cap == 0 {
                        continue;
                    }
                    let chunk = data.split_to(cap.min(data.len()));
                    stream.send_data(chunk, false)?;
                }
                continue;
            }
            Err(f) => f,
        };
        if let Ok(trailers) = frame.into_trailers() {
            stream.send_trailers(trailers)?;
            return Ok(());
        }
    }
}
