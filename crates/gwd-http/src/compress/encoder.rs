//! The streaming encoder: a body wrapper that compresses the frames of
//! the body it wraps as they arrive.
//!
//! Model: frames are pulled from the inner body while it has them ready
//! and each is given to one gwd-deflate stream (matches are found within
//! a frame, the server's reads of up to 16 KiB, as HAProxy's libslz finds
//! them within a buffer); output is handed on as soon as it reaches
//! [`OUT_CHUNK`] bytes, and whenever the inner body has nothing ready the
//! stream is sync-flushed and what it made handed on, so a server that
//! sends slowly is seen slowly, not at the end (HAProxy flushes at the
//! end of each buffer it forwards, the same effect). At the end of the
//! inner body the stream is finished (gzip/zlib trailer); trailers, if
//! any, follow the last data.
//!
//! Invariants: memory is bounded by the encoder's few dozen bytes of
//! state and one output chunk, whatever the body's size (gwd-deflate's
//! hash table is per-thread scratch, not per answer, so an answer that
//! waits holds no compression memory); the inner body is never polled
//! again after its end or an error; an error of the inner body is passed
//! on as is (the stream was not finished, so the visitor sees a
//! truncated answer, as with any failed body).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use gwd_config::CompressionAlgo;
use gwd_deflate::{Encoder, Format};
use gwd_stats::ProxyCounters;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::body::{Body, BoxError};

/// Output handed on once this many compressed bytes are ready.
const OUT_CHUNK: usize = 16 * 1024;

/// Wraps a body: what it yields is the wrapped body's data, compressed
/// with one algorithm (never [`CompressionAlgo::Identity`]).
pub(crate) struct Compressed {
    inner: Body,
    z: Encoder,
    out: Vec<u8>,
    /// Input given to `z` since the last flush.
    unflushed: bool,
    /// The inner body ended (or failed): it is not polled again.
    inner_done: bool,
    /// The compressed stream is finished and handed on.
    finished: bool,
    trailers: Option<HeaderMap>,
    /// Where the bytes in and out are counted (`comp_in`, `comp_out`),
    /// and how many were counted so far.
    counted: Option<Counted>,
}

/// The frontend's and backend's compression counters of one answer.
pub(crate) struct Counted {
    proxies: [Arc<ProxyCounters>; 2],
    bytes_in: u64,
    bytes_out: u64,
}

impl Counted {
    /// Counts an answer compressed for frontend `fe` and backend `be`
    /// (`comp_rsp` on both at once).
    pub(crate) fn new(fe: &Arc<ProxyCounters>, be: &Arc<ProxyCounters>) -> Counted {
        fe.compressed_response();
        be.compressed_response();
        Counted {
            proxies: [fe.clone(), be.clone()],
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Adds what the encoder consumed and made since the last call.
    fn update(&mut self, z: &Encoder) {
        let (din, dout) = (z.total_in() - self.bytes_in, z.total_out() - self.bytes_out);
        if din == 0 && dout == 0 {
            return;
        }
        for p in &self.proxies {
            p.compressed(din, dout);
        }
        (self.bytes_in, self.bytes_out) = (z.total_in(), z.total_out());
    }
}

impl std::fmt::Debug for Compressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed")
            .field("in", &self.z.total_in())
            .field("out", &self.z.total_out())
            .finish()
    }
}

impl Compressed {
    pub(crate) fn new(inner: Body, algo: CompressionAlgo) -> Compressed {
        let format = match algo {
            CompressionAlgo::Gzip => Format::Gzip,
            CompressionAlgo::Deflate | CompressionAlgo::Identity => Format::Zlib,
            CompressionAlgo::RawDeflate => Format::Raw,
        };
        Compressed {
            inner,
            z: Encoder::new(format),
            out: Vec::new(),
            unflushed: false,
            inner_done: false,
            finished: false,
            trailers: None,
            counted: None,
        }
    }

    /// Boxed, as every body gwd sends (uncounted: the tests').
    #[cfg(test)]
    pub(crate) fn boxed(inner: Body, algo: CompressionAlgo) -> Body {
        use http_body_util::BodyExt;
        Compressed::new(inner, algo).boxed()
    }

    /// [`Compressed::boxed`], its bytes counted as `counted` says.
    pub(crate) fn boxed_counted(inner: Body, algo: CompressionAlgo, counted: Counted) -> Body {
        use http_body_util::BodyExt;
        let mut c = Compressed::new(inner, algo);
        c.counted = Some(counted);
        c.boxed()
    }

    /// The output so far, as one frame; the counters follow.
    fn take_out(&mut self) -> Option<Frame<Bytes>> {
        if let Some(c) = &mut self.counted {
            c.update(&self.z);
        }
        (!self.out.is_empty()).then(|| Frame::data(Bytes::from(std::mem::take(&mut self.out))))
    }
}

impl HttpBody for Compressed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                if let Some(f) = this.take_out() {
                    return Poll::Ready(Some(Ok(f)));
                }
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            if this.inner_done {
                // End of the inner body: finish the stream (trailer).
                this.z.finish(&mut this.out);
                this.finished = true;
                continue;
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if data.is_empty() {
                            continue;
                        }
                        if this.out.is_empty() {
                            // Room for this frame's output and the
                            // next one's without growing (the encoder
                            // asks for a frame's worst case up front).
                            this.out
                                .reserve(OUT_CHUNK + data.len() + data.len() / 8 + 64);
                        }
                        this.z.encode(&data, &mut this.out);
                        this.unflushed = true;
                        if this.out.len() >= OUT_CHUNK
                            && let Some(f) = this.take_out()
                        {
                            return Poll::Ready(Some(Ok(f)));
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            this.trailers = Some(t);
                        }
                        this.inner_done = true;
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    this.inner_done = true;
                    this.finished = true;
                    this.out.clear();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => this.inner_done = true,
                Poll::Pending => {
                    // The server paused: what was compressed goes out now.
                    if this.unflushed {
                        this.z.flush(&mut this.out);
                        this.unflushed = false;
                    }
                    if let Some(f) = this.take_out() {
                        return Poll::Ready(Some(Ok(f)));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.out.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use http_body_util::BodyExt;

    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"the quick brown fox jumps over the lazy dog "[i % 44])
            .collect()
    }

    async fn compress_all(chunks: Vec<Vec<u8>>, algo: CompressionAlgo) -> Vec<u8> {
        let (tx, rx) = tokio::sync::mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.send(Bytes::from(c)).await.unwrap();
        }
        drop(tx);
        let body = Compressed::boxed(crate::body::channel_body(rx), algo);
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    fn inflate(algo: CompressionAlgo, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match algo {
            CompressionAlgo::Gzip => flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap(),
            CompressionAlgo::Deflate => flate2::read::ZlibDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap(),
            _ => flate2::read::DeflateDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap(),
        };
        out
    }

    #[tokio::test]
    async fn every_algorithm_round_trips_over_many_frames() {
        let original = text(300_000);
        let chunks: Vec<Vec<u8>> = original.chunks(7_001).map(<[u8]>::to_vec).collect();
        for algo in [
            CompressionAlgo::Gzip,
            CompressionAlgo::Deflate,
            CompressionAlgo::RawDeflate,
        ] {
            let z = compress_all(chunks.clone(), algo).await;
            assert!(z.len() < original.len() / 10, "{algo:?}: {}", z.len());
            assert_eq!(inflate(algo, &z), original, "{algo:?}");
        }
    }

    /// `comp_rsp`, `comp_in` and `comp_out` on the frontend and the
    /// backend: one answer, every byte read counted in, every byte sent
    /// counted out.
    #[tokio::test]
    async fn the_bytes_are_counted_on_both_proxies() {
        let (fe, be) = (
            Arc::new(ProxyCounters::new()),
            Arc::new(ProxyCounters::new()),
        );
        let original = text(100_000);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        for c in original.chunks(16_384) {
            tx.send(Bytes::copy_from_slice(c)).await.unwrap();
        }
        drop(tx);
        let body = Compressed::boxed_counted(
            crate::body::channel_body(rx),
            CompressionAlgo::Gzip,
            Counted::new(&fe, &be),
        );
        let z = body.collect().await.unwrap().to_bytes();
        assert_eq!(inflate(CompressionAlgo::Gzip, &z), original);
        for p in [&fe, &be] {
            let c = p.snapshot().compression;
            assert_eq!(c.responses, 1);
            assert_eq!(c.bytes_in, original.len() as u64);
            assert_eq!(c.bytes_out, z.len() as u64);
        }
    }

    #[tokio::test]
    async fn an_empty_body_is_a_valid_empty_stream() {
        let z = compress_all(vec![], CompressionAlgo::Gzip).await;
        assert!(!z.is_empty());
        assert!(inflate(CompressionAlgo::Gzip, &z).is_empty());
    }

    /// A frame that arrives alone is flushed out at once, decodable
    /// before the body ends: a slow stream is not held back.
    #[tokio::test]
    async fn a_pause_flushes_what_was_compressed() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut body = Compressed::boxed(crate::body::channel_body(rx), CompressionAlgo::Gzip);
        tx.send(Bytes::from_static(b"first part\n")).await.unwrap();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let mut d = flate2::write::GzDecoder::new(Vec::new());
        std::io::Write::write_all(&mut d, &first).unwrap();
        std::io::Write::flush(&mut d).unwrap();
        assert_eq!(d.get_ref().as_slice(), b"first part\n");
        tx.send(Bytes::from_static(b"second part\n")).await.unwrap();
        drop(tx);
        let mut rest = first.to_vec();
        while let Some(f) = body.frame().await {
            rest.extend_from_slice(&f.unwrap().into_data().unwrap());
        }
        assert_eq!(
            inflate(CompressionAlgo::Gzip, &rest),
            b"first part\nsecond part\n"
        );
    }
}
