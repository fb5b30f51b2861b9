//! The answer's way out to an HTTP/1.1 visitor: its head (framing chosen
//! for the visitor's version and what the body is), then its body as it
//! comes, chunked when its length is not known, under `timeout client`
//! for a visitor that stops reading. A `101` hands the connection over
//! to the raw relay.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use gwd_h1::{
    CHUNK_END, ChunkHeader, LAST_CHUNK, OutFraming, write_last_chunk, write_response_head,
};
use gwd_head::{Fields, ResponseHead, StatusCode, Version};
use http_body::Body as _;
use tokio::io::AsyncWrite;
use tokio::time::Sleep;

use crate::body::{Body, BodyEnd, FailKind};
use crate::core::{Answer, AnswerBody, TxnEnd};
use crate::upstream::h1::Upgraded;
use crate::wire::Outgoing;

/// Writes an answer to an HTTP/1.1 visitor.
///
/// Framing bytes (the head, chunk size lines, the last chunk) wait in
/// `prefix` and go out in front of the next data: a response whose body
/// is already there leaves in one write, head and body together.
pub(super) struct Writer {
    end: Option<TxnEnd>,
    /// Bytes being written.
    out: Option<Outgoing>,
    /// Framing waiting for the next data (or the end).
    prefix: Vec<u8>,
    body: WriteBody,
    chunked: bool,
    /// The head promises body bytes the visitor can count (chunked, or a
    /// `Content-Length` above 0): a close before them shows the answer
    /// was cut. A close-delimited or empty answer cut the same way would
    /// look complete.
    framing_shows_cut: bool,
    bytes: u64,
    client_timeout: Option<Duration>,
    stall: Stall,
}

enum WriteBody {
    /// Everything is in `out` (or nothing is left).
    Done,
    Stream(Body),
    /// After the `101` head, raw bytes.
    Upgraded(Upgraded),
    /// The last framing is queued in `out`.
    Ending,
    /// The body failed before the head went out: the head (queued in
    /// `out`) goes, then the connection closes.
    Failed(FailKind),
}

pub(super) enum WriteEnd {
    Complete,
    /// The body failed or the visitor stopped reading: the connection
    /// cannot carry another request.
    Broken,
    Upgraded(Box<(Upgraded, TxnEnd)>),
}

/// A write's stall timer: how much of it was written when the timer was
/// armed, and the timer.
pub(super) type Stall = Option<(usize, Pin<Box<Sleep>>)>;

/// Writes `out` to the visitor, bounding a stall by `limit` (`timeout
/// client`, an inactivity timeout as in HAProxy): an
/// [`io::ErrorKind::TimedOut`] error once the visitor has taken none of it
/// for that long. The timer is armed when the socket first pushes back
/// and re-armed whenever more was taken. Every write to an HTTP/1.1
/// visitor goes through here: the answer, gwd's `100`, interim heads.
pub(super) fn poll_write_bounded<S: AsyncWrite + Unpin>(
    out: &mut Outgoing,
    stall: &mut Stall,
    limit: Option<Duration>,
    cx: &mut Context<'_>,
    io: &mut S,
) -> Poll<io::Result<()>> {
    if let Poll::Ready(r) = out.poll_write(cx, io) {
        *stall = None;
        return Poll::Ready(r);
    }
    let Some(limit) = limit else {
        return Poll::Pending;
    };
    let written = out.written();
    match stall {
        Some((at, _)) if *at == written => {}
        _ => *stall = Some((written, Box::pin(tokio::time::sleep(limit)))),
    }
    if let Some((_, timer)) = stall
        && timer.as_mut().poll(cx).is_ready()
    {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        )));
    }
    Poll::Pending
}

/// How the head frames the body: chunked, and whether a close before the
/// body's end shows the visitor the answer was cut (chunked, or a
/// `Content-Length` above 0).
struct Framing {
    chunked: bool,
    shows_cut: bool,
}

/// Builds the head an HTTP/1.1 visitor gets, and how the body is framed.
fn encode_head(answer: &mut Answer, version: Version, keep_alive: &mut bool) -> (Vec<u8>, Framing) {
    let head: &mut ResponseHead = &mut answer.head;
    let status = head.status;
    let bodyless = answer.head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // One look at the field: whether there is one, and whether it is
    // above 0.
    let len = head.fields.get("content-length");
    let has_len = len.is_some();
    let nonzero_len = len.is_some_and(|v| v.iter().any(|&b| b.is_ascii_digit() && b != b'0'));
    let mut chunked = false;
    let mut codings = None;
    match &answer.body {
        AnswerBody::Stream { codings: c, .. } if !bodyless && !has_len => {
            if version == Version::HTTP_11 {
                chunked = true;
                codings = c.as_deref();
            } else {
                // HTTP/1.0 has no chunked coding: the close ends the body.
                *keep_alive = false;
            }
        }
        AnswerBody::Empty if !bodyless && !has_len => {
            head.fields.append(b"content-length", b"0");
        }
        _ => {}
    }
    if matches!(answer.body, AnswerBody::Upgraded(_)) {
        // The core kept `Connection: upgrade` and `Upgrade`.
    } else if !*keep_alive {
        head.fields.append(b"connection", b"close");
    } else if version == Version::HTTP_10 {
        head.fields.append(b"connection", b"keep-alive");
    }
    let mut out = Vec::with_capacity(head.fields.wire_len() + 64);
    write_response_head(
        &mut out,
        Version::HTTP_11,
        status,
        head.reason.as_deref(),
        &head.fields,
        if chunked {
            OutFraming::Chunked { codings }
        } else {
            OutFraming::AsIs
        },
    );
    (
        out,
        Framing {
            chunked,
            shows_cut: chunked || nonzero_len,
        },
    )
}

impl Writer {
    pub(super) fn new(
        mut answer: Answer,
        version: Version,
        keep_alive: &mut bool,
        client_timeout: Option<Duration>,
    ) -> Writer {
        let (
            head,
            Framing {
                chunked,
                shows_cut: framing_shows_cut,
            },
        ) = encode_head(&mut answer, version, keep_alive);
        let Answer {
            body,
            head_only,
            end,
            ..
        } = answer;
        let (first, body) = match body {
            AnswerBody::Full(b) if !head_only => (b, WriteBody::Done),
            AnswerBody::Full(_) | AnswerBody::Empty => (Bytes::new(), WriteBody::Done),
            AnswerBody::Stream { .. } if head_only => (Bytes::new(), WriteBody::Done),
            AnswerBody::Stream { body, .. } => (Bytes::new(), WriteBody::Stream(body)),
            AnswerBody::Upgraded(u) => (Bytes::new(), WriteBody::Upgraded(u)),
        };
        let bytes = first.len() as u64;
        let (out, prefix) = if first.is_empty() {
            (None, head)
        } else {
            (Some(Outgoing::new(head, first, b"")), Vec::new())
        };
        Writer {
            end: Some(end),
            out,
            prefix,
            body,
            chunked,
            framing_shows_cut,
            bytes,
            client_timeout,
            stall: None,
        }
    }

    /// Writes `out`, bounding a stall by `timeout client`.
    fn poll_out<S: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
    ) -> Poll<io::Result<()>> {
        let Some(out) = &mut self.out else {
            return Poll::Ready(Ok(()));
        };
        let r = ready!(poll_write_bounded(
            out,
            &mut self.stall,
            self.client_timeout,
            cx,
            io
        ));
        self.out = None;
        Poll::Ready(r)
    }

    pub(super) fn poll<S: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
    ) -> Poll<WriteEnd> {
        loop {
            if let Err(e) = ready!(self.poll_out(cx, io)) {
                let end = self.end.take().expect("finished once");
                if e.kind() == io::ErrorKind::TimedOut {
                    end.finish_stalled(self.bytes);
                } else {
                    end.finish(BodyEnd::Abandoned, self.bytes);
                }
                return Poll::Ready(WriteEnd::Broken);
            }
            match &mut self.body {
                WriteBody::Failed(kind) => {
                    let kind = *kind;
                    let _ = ready!(Pin::new(&mut *io).poll_flush(cx));
                    let end = self.end.take().expect("finished once");
                    end.finish(BodyEnd::Failed(kind), self.bytes);
                    return Poll::Ready(WriteEnd::Broken);
                }
                WriteBody::Done | WriteBody::Ending | WriteBody::Upgraded(_) => {
                    // Everything is produced: the last framing, a flush,
                    // then the end (or the switch to raw bytes).
                    if !self.prefix.is_empty() {
                        let prefix = std::mem::take(&mut self.prefix);
                        self.out = Some(Outgoing::new(prefix, Bytes::new(), b""));
                        continue;
                    }
                    let flushed = ready!(Pin::new(&mut *io).poll_flush(cx));
                    let end = self.end.take().expect("finished once");
                    if flushed.is_err() {
                        end.finish(BodyEnd::Abandoned, self.bytes);
                        return Poll::Ready(WriteEnd::Broken);
                    }
                    if let WriteBody::Upgraded(up) =
                        std::mem::replace(&mut self.body, WriteBody::Done)
                    {
                        return Poll::Ready(WriteEnd::Upgraded(Box::new((up, end))));
                    }
                    end.finish(BodyEnd::Complete, self.bytes);
                    return Poll::Ready(WriteEnd::Complete);
                }
                WriteBody::Stream(body) => match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Pending => {
                        if !self.prefix.is_empty() {
                            // Nothing to join the head with yet: send it.
                            let prefix = std::mem::take(&mut self.prefix);
                            self.out = Some(Outgoing::new(prefix, Bytes::new(), b""));
                            continue;
                        }
                        // Nothing new from the server: push out what TLS holds.
                        let _ = Pin::new(&mut *io).poll_flush(cx);
                        return Poll::Pending;
                    }
                    Poll::Ready(None) => {
                        self.body = WriteBody::Ending;
                        if self.chunked {
                            self.prefix.extend_from_slice(LAST_CHUNK);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        let kind = FailKind::of(&e);
                        tracing::debug!(error = %e, "response body failed");
                        if !self.prefix.is_empty() && self.framing_shows_cut {
                            // The head waited to go out with the first
                            // bytes, and the body failed first (an HTTP/2
                            // server's DATA contradicting its
                            // content-length, say): the head goes now. The
                            // visitor sees an answer begun and cut (short
                            // of its length or last chunk, then closed),
                            // as the log says, not a connection closed on
                            // nothing, which clients take for a request
                            // never served and may send again. Not when
                            // the framing could not show the cut (a
                            // close-delimited answer to HTTP/1.0, a
                            // `Content-Length: 0`): the head would read as
                            // a whole, empty answer.
                            let prefix = std::mem::take(&mut self.prefix);
                            self.out = Some(Outgoing::new(prefix, Bytes::new(), b""));
                            self.body = WriteBody::Failed(kind);
                            continue;
                        }
                        let end = self.end.take().expect("finished once");
                        end.finish(BodyEnd::Failed(kind), self.bytes);
                        return Poll::Ready(WriteEnd::Broken);
                    }
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) if data.is_empty() => {}
                        Ok(data) => {
                            self.bytes += data.len() as u64;
                            let mut prefix = std::mem::take(&mut self.prefix);
                            let suffix = if self.chunked {
                                prefix.extend_from_slice(ChunkHeader::new(data.len()).as_bytes());
                                CHUNK_END
                            } else {
                                b""
                            };
                            self.out = Some(Outgoing::new(prefix, data, suffix));
                        }
                        Err(frame) => {
                            self.body = WriteBody::Ending;
                            if self.chunked {
                                let trailers = frame
                                    .into_trailers()
                                    .ok()
                                    .map(|t| Fields::from_header_map(&t));
                                write_last_chunk(&mut self.prefix, trailers.as_ref());
                            }
                        }
                    },
                },
            }
        }
    }
}
