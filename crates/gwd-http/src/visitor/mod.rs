//! Visitor connections, from accept to close: the TLS handshake, the
//! protocol (by ALPN, by the bind's `proto`, or by the first bytes for
//! h2c prior knowledge), and the connection driver for it.
//!
//! * HTTP/1.1 ([`h1`]): gwd-h1, one task per connection, no per-request
//!   task or channel.
//! * HTTP/2 ([`h2mux`]): gwd-mux-h2, one task per connection, every
//!   stream's request through the same core, no task per stream.
//!
//! [`h2`] adapts `http`-typed stacks (requests arriving on reverse-HTTP
//! tunnels) to the core.

pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod h2_websocket;
pub(crate) mod h2mux;
pub(crate) mod request_body;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::conn_io::{ConnShared, StopSignal, until_event};
use crate::core::ConnCtx;
use crate::state::Proxy;
use bytes::{Bytes, BytesMut};
use gwd_config::{BindProto, FrontendId};
use gwd_listen::Handshaker;
use tokio::net::TcpStream;

/// Serves an accepted TCP connection on frontend `fe` until it closes.
/// When `stop` fires the connection finishes the requests in progress and
/// closes (HTTP/1: after the current response; HTTP/2: GOAWAY).
///
/// The task lives as long as the connection, and a future is as large as
/// its largest state: opening the connection (what the accept handed
/// over, the `tcp-request connection` rules, the TLS handshake) runs in
/// its own box, freed once done, so none of it is sized into every idle
/// connection.
pub fn serve_connection(
    proxy: Arc<Proxy>,
    fe: FrontendId,
    handshaker: Handshaker,
    proto: BindProto,
    tcp: TcpStream,
    peer: SocketAddr,
    stop: StopSignal,
) -> impl Future<Output = ()> + Send + 'static {
    let opening = crate::heap::pin_in_place(|| open(proxy, fe, handshaker, proto, tcp, peer));
    // One clock reading per poll of the connection's task: the points a
    // request is timed at mostly fall in one poll (`crate::clock`).
    crate::clock::scoped(async move {
        if let Some(open) = opening.await {
            serve_open(open, stop).await;
        }
    })
}

/// An accepted connection, its TLS handshake done.
struct Opened {
    cx: Arc<ConnCtx>,
    stream: gwd_listen::Stream,
    /// HTTP/2 from the start (the bind's `proto`, or ALPN).
    h2: bool,
    /// h2c prior knowledge may open it (a clear connection).
    h2c: bool,
    accepted_at: std::time::Instant,
    /// The connection and session counts it holds until it closes.
    counted: [gwd_stats::ProxyGuard; 3],
}

/// Opens an accepted connection: counts it, applies the `tcp-request
/// connection` rules, runs the TLS handshake; `None` when it ends there.
async fn open(
    proxy: Arc<Proxy>,
    fe: FrontendId,
    handshaker: Handshaker,
    proto: BindProto,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<Box<Opened>> {
    let fe_rt = proxy.frontend(fe);
    let accepted_at = crate::clock::now_std();
    let process_conn = proxy.process_conns.conn_opened_at(accepted_at);
    let fe_conn = fe_rt.counters.conn_opened_at(accepted_at);
    // `tcp-request.connection` rules, before the TLS handshake.
    if !fe_rt.conf.tcp_request.connection.is_empty()
        && !crate::tcp::connection_allowed(&proxy, fe, peer, tcp.local_addr().unwrap_or(peer))
    {
        return None;
    }
    let t = fe_rt.conf.timeouts;
    let accepted = match handshaker
        .handshake(tcp, peer, t.http_request.or(t.client))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            fe_rt.counters.request_error();
            tracing::info!(target: "gwd::access", frontend = %fe_rt.conf.name, client = %peer, reason = "TLS handshake failure", "{e}");
            return None;
        }
    };
    let session = fe_rt.counters.session_opened_at(crate::clock::now_std());
    let h2 = proto == BindProto::H2 || accepted.alpn_h2();
    // h2c prior knowledge is detected on clear binds only; a TLS visitor
    // that did not pick `h2` by ALPN speaks HTTP/1.1.
    let h2c = accepted.tls.is_none();
    tracing::debug!(
        frontend = %fe_rt.conf.name,
        client = %peer,
        local = %accepted.local,
        tls = accepted.tls.is_some(),
        alpn_h2 = h2,
        "connection accepted"
    );
    let cx = Arc::new(ConnCtx {
        proxy: proxy.clone(),
        fe,
        peer,
        local: accepted.local,
        tls: accepted.tls.map(Box::new),
        shared: ConnShared::new(),
    });
    cx.shared.set_current(&proxy);
    Some(Box::new(Opened {
        cx,
        stream: accepted.stream,
        h2,
        h2c,
        accepted_at,
        counted: [process_conn, fe_conn, session],
    }))
}

/// The opened connection out of its box, the box freed (moving out of a
/// box in place would keep its allocation until the connection ends).
#[allow(clippy::boxed_local)] // the point: the box is freed here
fn unboxed(open: Box<Opened>) -> Opened {
    *open
}

/// Serves an opened connection until it ends.
///
/// The task keeps one waiter besides its socket and timers
/// ([`until_event`]): woken when any configuration expires or any stop
/// fires. It cuts the connection when its own configuration expired;
/// otherwise the wake-up polls the driver, which looks at `stop` itself
/// (the drivers keep no waiter for it: `tokio::select!` polls every
/// branch whenever the task is woken).
async fn serve_open(open: Box<Opened>, stop: StopSignal) {
    let Opened {
        cx,
        mut stream,
        h2,
        h2c,
        accepted_at,
        counted,
    } = unboxed(open);
    let peer = cx.peer;
    // From here on only the drivers hold a context (and so a
    // configuration): they move to the new one after a reload, and the
    // one this connection was accepted on is freed.
    let shared = cx.shared.clone();
    let frontend: Box<str> = cx.proxy.frontend(cx.fe).conf.name.as_str().into();
    let served = async move {
        if h2 {
            Box::pin(h2mux::serve(cx, &mut stream, Bytes::new(), &stop)).await;
        } else {
            // The HTTP/1.1 driver is the long-lived state of this task:
            // inline, it shares the task's allocation (its rare and
            // per-request parts are boxed inside it).
            let exit = h1::serve(cx, &mut stream, BytesMut::new(), h2c, &stop).await;
            if let h1::H1Exit::H2Preface(prefix, cx) = exit {
                Box::pin(h2mux::serve(cx, &mut stream, prefix, &stop)).await;
            }
        }
    };
    // A reload moves the connection to the new configuration at its next
    // request; one still on a replaced configuration when that one's
    // `hard-stop-after` runs out (a long download, a WebSocket) is cut,
    // as at a hard stop, so no old configuration lives on unbounded.
    let cut = until_event(usize::from(peer.port()), || {
        shared.current().is_some_and(|on| on.is_expired())
    });
    tokio::select! {
        () = served => {}
        () = cut => {
            tracing::info!(
                target: "gwd::access",
                frontend = %frontend,
                client = %peer,
                reason = "hard-stop-after",
                "connection cut: its configuration was replaced by a reload hard-stop-after ago"
            );
        }
    }
    tracing::debug!(
        frontend = %frontend,
        client = %peer,
        requests = shared.requests(),
        duration_ms = accepted_at.elapsed().as_millis() as u64,
        "connection closed"
    );
    drop(counted);
}

#[cfg(test)]
mod size_tests {
    fn size_of_future<F: Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An idle keep-alive connection is its task: keep the future small
    /// (the TLS handshake and each request's exchange are boxed apart).
    #[tokio::test]
    async fn connection_futures_stay_small() {
        let proxy = crate::state::test_proxy();
        let l = gwd_listen::Listener::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let client = tokio::net::TcpStream::connect(l.local_addr())
            .await
            .unwrap();
        let (tcp, peer) = l.accept().await.unwrap();
        let stop = super::StopSignal::new();
        let conn = super::serve_connection(
            proxy.clone(),
            gwd_config::FrontendId::new(0),
            l.handshaker(),
            gwd_config::BindProto::default(),
            tcp,
            peer,
            stop.clone(),
        );
        let conn_size = size_of_future(&conn);
        let cx = crate::state::test_conn(proxy);
        let mut io = client;
        let h1 = super::h1::serve(cx, &mut io, bytes::BytesMut::new(), true, &stop);
        let h1_size = size_of_future(&h1);
        eprintln!("serve_connection: {conn_size} bytes, h1::serve: {h1_size} bytes");
        // 1,568 and 952 bytes when this test was written; 1,736 and 1,096
        // once a transaction's end held its balancer slot; 1,872 and 1,128
        // once the connection watched its configuration's expiry after a
        // reload; 1,640 and 888 once the head reader took the timeouts by
        // reference; 1,000 and 560 (release: 992 and 560) once opening
        // the connection ran boxed, each request ran in one box and the
        // wait for the next one polled its timer and stop watch by hand
        // (2026-12-06); 800 and 392 (release: 792 and 392) once the
        // drivers looked at the stop instead of each keeping a waiter
        // for it, 840 (release: 832) once the events waiter kept the
        // waker it registered, to skip the list's lock when nothing
        // happened (2026-12-07). gwd-app's task holds this future inline
        // beside the connection's limits (56 bytes) and tokio's task
        // header and trailer, in 128-byte steps: at most 856 bytes keeps
        // the task in mimalloc's 1,024-byte class (the next is 1,280).
        assert!(
            conn_size <= 848,
            "serve_connection future: {conn_size} bytes"
        );
        assert!(h1_size <= 416, "h1::serve future: {h1_size} bytes");
    }
}
