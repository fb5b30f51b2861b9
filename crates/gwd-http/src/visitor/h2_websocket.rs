//! WebSocket for HTTP/2 visitors (RFC 8441 extended CONNECT).
//!
//! # Model
//!
//! gwd advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` to its HTTP/2
//! visitors. A stream that opens with `:method CONNECT` and `:protocol
//! websocket` goes through the core as the HTTP/1.1 handshake a server
//! expects: `GET <path>` with `Connection: upgrade`, `Upgrade: websocket`
//! and a fresh `Sec-WebSocket-Key` (HTTP/2 has none); the visitor's
//! `Sec-WebSocket-Version`, `-Protocol` and `-Extensions` go along. Rules,
//! routing, the handshake checks and the server connection of its own are
//! those of an HTTP/1.1 WebSocket.
//!
//! When the server answers `101`, the visitor gets `200` (RFC 8441 §5)
//! without the connection-specific fields and `Sec-WebSocket-Accept`, and
//! the stream becomes a byte tunnel: its DATA goes to the server
//! connection, what the server sends comes back as DATA. Any other answer
//! is relayed as it is and the stream ends.
//!
//! # Invariants
//!
//! * Flow control holds both ways: the visitor's DATA is handed over one
//!   chunk at a time through the ordinary request-body slot (credit given
//!   back once written to the server); the server's bytes wait in a
//!   one-chunk channel until the connection driver sends them as the
//!   visitor's windows allow.
//! * One task per tunnel (not per request): it owns the server connection
//!   and ends when both directions are done, when either fails, or when
//!   nothing moves either way for `timeout tunnel` (else the larger of
//!   `client` and `server`, as for HTTP/1.1), then writes the access line.
//! * The visitor resetting the stream (or its connection ending) ends the
//!   tunnel: its upload body fails and its download channel closes.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gwd_head::{Fields, RequestHead, ResponseHead};
use gwd_mux_h2::conn::Protocol;
use http_body::Frame;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::body::{Body, BoxError};
use crate::core::{TunnelEnd, TxnEnd};
use crate::upstream::h1::Upgraded;

/// Whether an HTTP/2 request is an extended CONNECT for `websocket`.
pub(crate) fn is_websocket(head: &RequestHead, protocol: Option<&Protocol>) -> bool {
    head.method == http::Method::CONNECT && protocol.is_some_and(|p| p.is("websocket"))
}

/// Rewrites the head of an extended CONNECT into the HTTP/1.1 WebSocket
/// handshake request (see the module docs).
pub(crate) fn to_upgrade_request(head: &mut RequestHead) {
    head.method = gwd_head::Method::GET;
    let f = &mut head.fields;
    f.remove("connection");
    f.remove("upgrade");
    f.remove("sec-websocket-key");
    // The tunnel's bytes are no request body (the state machine refuses
    // a length on an extended CONNECT).
    f.remove("content-length");
    f.remove("transfer-encoding");
    f.append(b"connection", b"upgrade");
    f.append(b"upgrade", b"websocket");
    f.append(b"sec-websocket-key", new_key().as_bytes());
}

/// The visitor's `200` for a server's `101`: the connection-specific
/// fields and the handshake's accept value left out (RFC 8441 §5).
pub(crate) fn to_connect_response(head: &ResponseHead) -> Fields {
    let mut fields = Fields::new();
    for (name, value) in head.fields.iter() {
        let drop = [
            &b"connection"[..],
            b"upgrade",
            b"keep-alive",
            b"proxy-connection",
            b"transfer-encoding",
            b"te",
            b"trailer",
            b"content-length",
            b"sec-websocket-accept",
        ]
        .iter()
        .any(|d| name.eq_ignore_ascii_case(d));
        if !drop {
            fields.append(name, value);
        }
    }
    fields
}

/// A `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1).
fn new_key() -> String {
    let mut raw = [0u8; 16];
    if gwd_tls::provider().secure_random.fill(&mut raw).is_err() {
        // No system randomness: the key only has to differ between
        // handshakes (it is no secret), so time and a counter do.
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        raw[..8].copy_from_slice(&t.to_le_bytes());
        raw[8..].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    crate::headers::base64(&raw)
}

/// The server's bytes on their way to the visitor: a body the connection
/// driver polls like any answer body.
struct Downstream(mpsc::Receiver<Result<Bytes, BoxError>>);

impl http_body::Body for Downstream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// The tunnel went quiet for its timeout.
#[derive(Debug, thiserror::Error)]
#[error("timeout tunnel")]
struct TunnelTimeout;

/// Starts relaying between the visitor's stream (`upload`: its DATA;
/// the returned body: what it will receive) and the server connection
/// `up`; `end` is written when the tunnel ends.
pub(crate) fn start(up: Upgraded, upload: Option<Body>, end: TxnEnd) -> Body {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(relay(up, upload, tx, end));
    http_body_util::BodyExt::boxed(Downstream(rx))
}

async fn relay(
    up: Upgraded,
    upload: Option<Body>,
    tx: mpsc::Sender<Result<Bytes, BoxError>>,
    end: TxnEnd,
) {
    let Upgraded {
        io,
        leftover,
        _open,
    } = up;
    let idle = end.tunnel_timeout();
    let base = Instant::now();
    let last = AtomicU64::new(0);
    // Set once the server ended its side: the visitor's upload, cut by
    // the stream's end after that, closed rather than failed.
    let server_closed = std::sync::atomic::AtomicBool::new(false);
    let touch = |last: &AtomicU64| {
        last.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
    };
    let (mut rd, mut wr) = tokio::io::split(io);
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    // Only the downstream half holds the sender: the visitor's stream
    // ends (END_STREAM) as soon as the server's side does.
    let weak_tx = tx.downgrade();

    // Visitor to server; true when the visitor went away (reset, closed)
    // rather than ending its side.
    let upstream = async {
        let mut gone = false;
        if let Some(mut body) = upload {
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    // The visitor reset its stream or went away (or the
                    // stream ended after the server's side did).
                    gone = !server_closed.load(Ordering::Relaxed);
                    break;
                };
                if let Ok(data) = frame.into_data() {
                    if wr.write_all(&data).await.is_err() {
                        gone = false;
                        break;
                    }
                    up_bytes += data.len() as u64;
                    touch(&last);
                }
            }
        }
        // The visitor ended its side: so does the server's.
        let _ = wr.shutdown().await;
        gone
    };
    // Server to visitor; true on a failure (either side). It owns the
    // sender (moved in), the rest by reference.
    let (last_r, closed_r, down_r) = (&last, &server_closed, &mut down_bytes);
    let downstream = async move {
        if !leftover.is_empty() {
            *down_r += leftover.len() as u64;
            if tx.send(Ok(leftover)).await.is_err() {
                return true;
            }
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let read = tokio::select! {
                r = rd.read(&mut buf) => r,
                // The visitor's stream is gone: stop reading the server.
                () = tx.closed() => return true,
            };
            match read {
                Ok(0) => {
                    closed_r.store(true, Ordering::Relaxed);
                    return false;
                }
                Ok(n) => {
                    touch(last_r);
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return true;
                    }
                    *down_r += n as u64;
                }
                Err(e) => {
                    let _ = tx.send(Err(Box::new(e))).await;
                    return true;
                }
            }
        }
    };
    // Both halves, except that a visitor gone ends the whole tunnel (and
    // its server connection) at once.
    let both = async {
        tokio::pin!(upstream, downstream);
        let (mut up_done, mut down_done) = (None, None);
        loop {
            tokio::select! {
                gone = &mut upstream, if up_done.is_none() => {
                    if gone {
                        return TunnelEnd::Failed;
                    }
                    up_done = Some(());
                }
                failed = &mut downstream, if down_done.is_none() => {
                    if failed {
                        return TunnelEnd::Failed;
                    }
                    down_done = Some(());
                }
            }
            if up_done.is_some() && down_done.is_some() {
                return TunnelEnd::Closed;
            }
        }
    };
    let watch = async {
        let Some(limit) = idle else {
            return std::future::pending::<()>().await;
        };
        loop {
            let at = base + Duration::from_nanos(last.load(Ordering::Relaxed)) + limit;
            if Instant::now() >= at {
                return;
            }
            tokio::time::sleep_until(at).await;
        }
    };
    let how = tokio::select! {
        how = both => how,
        () = watch => TunnelEnd::TimedOut,
    };
    end.finish_tunnel(up_bytes, down_bytes, how);
    if how == TunnelEnd::TimedOut
        && let Some(tx) = weak_tx.upgrade()
    {
        // The visitor's stream is reset rather than ended cleanly.
        let _ = tx.send(Err(Box::new(TunnelTimeout))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_16_bytes_and_differ() {
        let (a, b) = (new_key(), new_key());
        assert_eq!(a.len(), 24);
        assert!(a.ends_with("=="));
        assert_ne!(a, b);
    }
}
