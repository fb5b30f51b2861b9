//! A request body read by the visitor's connection task and handed, one
//! chunk at a time, to whichever upstream sends it on.
//!
//! The connection task owns the socket: it reads and decodes the body and
//! puts each chunk in a one-chunk slot ([`BodyFeed`]); the upstream polls
//! the other end ([`VisitorBody`], an `http_body::Body`). One chunk in
//! flight is the backpressure: the visitor is not read while the server
//! has not taken the last chunk. Whether the upstream has asked for data
//! yet is what `Expect: 100-continue` waits on.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use gwd_head::Fields;
use http_body::{Frame, SizeHint};
use parking_lot::Mutex;

use crate::body::{BoxError, ClientBodyError};

#[derive(Debug, Default)]
struct Slot {
    data: Option<Bytes>,
    trailers: Option<Fields>,
    ended: bool,
    error: Option<ClientBodyError>,
    /// The consumer asked for data at least once.
    wanted: bool,
    consumer_gone: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct BodyFeed {
    slot: Arc<Mutex<Slot>>,
}

/// The upstream's end: the request body as an `http_body::Body`.
#[derive(Debug)]
pub(crate) struct VisitorBody {
    slot: Arc<Mutex<Slot>>,
    /// Bytes the framing announced (`Content-Length`), if it did.
    size: Option<u64>,
    done: bool,
}

/// A new slot for a body of `size` bytes (when known).
pub(crate) fn channel(size: Option<u64>) -> (BodyFeed, VisitorBody) {
    let slot = Arc::new(Mutex::new(Slot::default()));
    (
        BodyFeed { slot: slot.clone() },
        VisitorBody {
            slot,
            size,
            done: false,
        },
    )
}

impl BodyFeed {
    /// `Ready(true)`: the slot is free for a chunk. `Ready(false)`: the
    /// consumer is gone. `Pending`: full; the task is woken when it frees.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut s = self.slot.lock();
        if s.consumer_gone {
            return Poll::Ready(false);
        }
        if s.data.is_none() {
            return Poll::Ready(true);
        }
        s.tx_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Whether the consumer has asked for data (so a `100 Continue` is
    /// due); registers the task to learn when it does.
    pub fn poll_wanted(&self, cx: &mut Context<'_>) -> bool {
        let mut s = self.slot.lock();
        if !s.wanted {
            s.tx_waker = Some(cx.waker().clone());
        }
        s.wanted
    }

    pub fn is_consumer_gone(&self) -> bool {
        self.slot.lock().consumer_gone
    }

    fn put(&self, f: impl FnOnce(&mut Slot)) {
        let waker = {
            let mut s = self.slot.lock();
            f(&mut s);
            s.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Hands over a chunk; the slot must be free ([`poll_room`](Self::poll_room)).
    /// The end ([`finish`](Self::finish)) may follow at once: the consumer
    /// gets the chunk first.
    pub fn send(&self, data: Bytes) {
        self.put(|s| {
            debug_assert!(s.data.is_none());
            s.data = Some(data);
        });
    }

    /// The body ended, with `trailers` if it had any.
    pub fn finish(&self, trailers: Option<Fields>) {
        self.put(|s| {
            s.trailers = trailers;
            s.ended = true;
        });
    }

    /// The body failed on the visitor's side.
    pub fn fail(&self, e: ClientBodyError) {
        self.put(|s| s.error = Some(e));
    }
}

impl Drop for BodyFeed {
    fn drop(&mut self) {
        // The connection task went away without ending the body.
        self.put(|s| {
            if !s.ended && s.error.is_none() {
                s.error = Some(ClientBodyError::Aborted);
            }
        });
    }
}

impl http_body::Body for VisitorBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let (out, waker) = {
            let mut s = self.slot.lock();
            s.wanted = true;
            let out = if let Some(d) = s.data.take() {
                Some(Some(Ok(Frame::data(d))))
            } else if let Some(e) = s.error.take() {
                Some(Some(Err(Box::new(e) as BoxError)))
            } else if s.ended {
                Some(
                    s.trailers
                        .take()
                        .map(|t| Ok(Frame::trailers(t.to_header_map()))),
                )
            } else {
                s.rx_waker = Some(cx.waker().clone());
                None
            };
            (out, s.tx_waker.take())
        };
        // The feed waits for room (or for the first ask): tell it.
        if let Some(w) = waker {
            w.wake();
        }
        match out {
            Some(frame) => {
                if !matches!(frame, Some(Ok(ref f)) if f.is_data()) {
                    self.done = true;
                }
                Poll::Ready(frame)
            }
            None => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match self.size {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for VisitorBody {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.slot.lock();
            s.consumer_gone = true;
            s.tx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn chunks_pass_one_at_a_time_then_trailers() {
        let (feed, body) = channel(Some(6));
        let reader = tokio::spawn(async move { body.collect().await.unwrap() });
        for chunk in [&b"abc"[..], b"def"] {
            std::future::poll_fn(|cx| feed.poll_room(cx)).await;
            feed.send(Bytes::copy_from_slice(chunk));
        }
        std::future::poll_fn(|cx| feed.poll_room(cx)).await;
        let mut t = Fields::new();
        t.append(b"x-sum", b"1");
        feed.finish(Some(t));
        let collected = reader.await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-sum"], "1");
        assert_eq!(collected.to_bytes(), "abcdef");
    }

    #[tokio::test]
    async fn a_dropped_feed_is_an_aborted_body_and_a_dropped_body_frees_the_feed() {
        let (feed, body) = channel(None);
        drop(feed);
        let err = body.collect().await.unwrap_err();
        assert!(matches!(
            err.downcast_ref::<ClientBodyError>(),
            Some(ClientBodyError::Aborted)
        ));

        let (feed, body) = channel(None);
        feed.send(Bytes::from_static(b"x"));
        drop(body);
        assert!(feed.is_consumer_gone());
        assert_eq!(
            std::future::poll_fn(|cx| Poll::Ready(feed.poll_room(cx))).await,
            Poll::Ready(false)
        );
    }

    #[tokio::test]
    async fn wanted_turns_true_on_the_first_poll() {
        let (feed, mut body) = channel(None);
        assert!(!std::future::poll_fn(|cx| Poll::Ready(feed.poll_wanted(cx))).await);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        assert!(std::future::poll_fn(|cx| Poll::Ready(feed.poll_wanted(cx))).await);
    }
}
