//! One visitor connection, from accept to close.

use std::net::SocketAddr;
use std::sync::Arc;

use gwd_config::BindProto;
use gwd_listen::Handshaker;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::access_log::{Ender, LogRecord, Phase};
use crate::body::BoxError;
use crate::conn_io::{ClientTimeout, ConnShared, TimedIo};
use crate::service::{ConnCtx, handle};
use crate::state::Proxy;

/// Serves an accepted TCP connection on frontend `fe` until it closes.
/// When `shutdown` flips to `true` the connection finishes the requests
/// in progress and closes (HTTP/1: after the current response; HTTP/2:
/// GOAWAY).
pub async fn serve_connection(
    proxy: Arc<Proxy>,
    fe: usize,
    handshaker: Handshaker,
    proto: BindProto,
    tcp: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let fe_rt = &proxy.frontends[fe];
    let accepted_at = std::time::Instant::now();
    let _process_conn = proxy.process_conns.conn_opened_at(accepted_at);
    let _fe_conn = fe_rt.counters.conn_opened_at(accepted_at);
    let t = fe_rt.conf.timeouts;
    let accepted = match handshaker
        .handshake(tcp, peer, t.http_request.or(t.client))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            fe_rt.counters.request_error();
            tracing::info!(target: "gwd::access", frontend = %fe_rt.conf.name, client = %peer, reason = "TLS handshake failure", "{e}");
            return;
        }
    };
    let _session = fe_rt.counters.session_opened_at(std::time::Instant::now());
    let shared = ConnShared::new();
    let h2 = if proto == BindProto::H2 || accepted.alpn_h2() {
        Some(true)
    } else if accepted.tls.is_some() {
        Some(false)
    } else {
        None
    };
    let local = accepted.local;
    let tls = accepted.tls;
    let io = TokioIo::new(TimedIo::new(accepted.stream, shared.clone(), t, h2));
    let cx = Arc::new(ConnCtx {
        proxy: proxy.clone(),
        fe,
        peer,
        local,
        tls,
        shared: shared.clone(),
    });
    let svc = service_fn(move |req| handle(cx.clone(), req));

    let max_head = proxy.config.global.max_header_size;
    // gwd enforces `tune.bufsize` itself (431 with a page); hyper's own
    // limits are only a backstop against unbounded buffering.
    let h1_buf = (max_head * 2).max(8192) + 1024;
    let h2_list = ((max_head * 2) as u32).max(16 * 1024);
    let result = match h2 {
        Some(true) => {
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_header_list_size(h2_list)
                .serve_connection(io, svc);
            drive(conn, &mut shutdown, |c| c.graceful_shutdown()).await
        }
        Some(false) => {
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .max_buf_size(h1_buf)
                .serve_connection(io, svc)
                .with_upgrades();
            drive(conn, &mut shutdown, |c| c.graceful_shutdown()).await
        }
        None => {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().keep_alive(true).max_buf_size(h1_buf);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(h2_list);
            let conn = builder.serve_connection_with_upgrades(io, svc);
            drive(conn, &mut shutdown, |c| c.graceful_shutdown()).await
        }
    };

    match shared.timed_out() {
        Some(ClientTimeout::RequestHead) => {
            fe_rt.counters.request_error();
            fe_rt.counters.response(408);
            LogRecord {
                client: Some(peer),
                frontend: fe_rt.conf.name.clone(),
                status: 408,
                ender: Ender::ClientTimeout,
                phase: Phase::Request,
                request_line: "<BADREQ>".into(),
                reason: Some("timeout http-request: incomplete request head"),
                ..Default::default()
            }
            .emit();
        }
        Some(ClientTimeout::Client) => {
            tracing::info!(target: "gwd::access", frontend = %fe_rt.conf.name, client = %peer, reason = "timeout client", "connection closed: client inactive");
        }
        Some(ClientTimeout::Idle) | None => {}
    }
    if let Err(e) = result {
        let parse = e
            .downcast_ref::<hyper::Error>()
            .filter(|h| h.is_parse() || h.is_parse_too_large());
        if let Some(h) = parse {
            // hyper has already answered 400/431; count and log it.
            let status = if h.is_parse_too_large() { 431 } else { 400 };
            fe_rt.counters.request_error();
            fe_rt.counters.response(status);
            LogRecord {
                client: Some(peer),
                frontend: fe_rt.conf.name.clone(),
                status,
                ender: Ender::Proxy,
                phase: Phase::Request,
                request_line: "<BADREQ>".into(),
                reason: Some(if status == 431 {
                    "request header too large"
                } else {
                    "bad request"
                }),
                ..Default::default()
            }
            .emit();
        } else {
            tracing::debug!(frontend = %fe_rt.conf.name, client = %peer, error = %e, "connection ended with error");
        }
    }
}

/// Runs a connection future to completion; when `shutdown` flips, asks it
/// to finish gracefully and keeps driving it until it has.
async fn drive<F, E>(
    conn: F,
    shutdown: &mut watch::Receiver<bool>,
    graceful: fn(std::pin::Pin<&mut F>),
) -> Result<(), BoxError>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r.map_err(Into::into),
        _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
            graceful(conn.as_mut());
            conn.await.map_err(Into::into)
        }
    }
}
