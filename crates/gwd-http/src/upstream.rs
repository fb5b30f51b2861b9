//! Connections to servers: dialing (TCP, optional TLS, HTTP/1.1 or HTTP/2
//! handshake) and keeping idle ones for reuse.
//!
//! Each server owns a [`ServerPool`]: HTTP/1.1 connections go through the
//! `gwd-pool` crate (most recently used first, purged from the cold end);
//! an HTTP/2 connection is shared by every concurrent request until it
//! closes, so a server needs one, not one per request.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gwd_config::{HttpReuse, PoolSettings, ServerProto};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::body::Body;
use crate::state::ServerRt;

/// A server connection's byte stream.
#[derive(Debug)]
pub enum UpStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for UpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            UpStream::Plain(s) => s.is_write_vectored(),
            UpStream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a server could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve `{0}`")]
    Resolve(String),
    #[error("connect timeout after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("TLS handshake with server failed: {0}")]
    Tls(io::Error),
    #[error("HTTP handshake with server failed: {0}")]
    Http(#[from] hyper::Error),
}

impl ConnectError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConnectError::Timeout(_))
    }
}

/// A request sender on a server connection.
#[derive(Debug)]
pub enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// Sends a request; when it could not even be written (a pooled
    /// connection closed under us), the request comes back for a retry.
    pub async fn send(
        &mut self,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Body>>> {
        // `ready` waits for a free HTTP/2 stream slot; when it fails the
        // connection is gone and `try_send_request` hands the request back.
        match self {
            Sender::H1(s) => {
                let _ = s.ready().await;
                s.try_send_request(req).await
            }
            Sender::H2(s) => {
                let _ = s.ready().await;
                s.try_send_request(req).await
            }
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| ConnectError::Resolve(host.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Resolve(host.to_string()));
    }
    Ok(addrs)
}

async fn dial(server: &ServerRt) -> Result<UpStream, ConnectError> {
    let Some(addr) = server.conf.net_addr() else {
        return Err(ConnectError::Resolve("rhttp@".into()));
    };
    let addrs = resolve(&addr.host, addr.port).await?;
    let mut last = None;
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match tcp {
        Some(t) => t,
        None => {
            return Err(ConnectError::Io(
                last.unwrap_or_else(|| io::ErrorKind::NotConnected.into()),
            ));
        }
    };
    let _ = tcp.set_nodelay(true);
    match &server.tls {
        None => Ok(UpStream::Plain(tcp)),
        Some((cfg, name)) => {
            let tls = TlsConnector::from(cfg.clone())
                .connect(name.clone(), tcp)
                .await
                .map_err(ConnectError::Tls)?;
            Ok(UpStream::Tls(Box::new(tls)))
        }
    }
}

/// Opens a new connection to `server`, bounded by the connect timeout
/// (TCP + TLS + HTTP handshake). `upgrade` keeps an HTTP/1 connection
/// able to switch protocols (it is then never pooled).
pub async fn connect(
    server: &ServerRt,
    timeout: Option<Duration>,
    upgrade: bool,
) -> Result<Sender, ConnectError> {
    let fut = async {
        let io = TokioIo::new(dial(server).await?);
        // Counts the connection as open for exactly as long as its task runs.
        let open = server.counters.conn_opened_at(std::time::Instant::now());
        match server.conf.proto {
            ServerProto::H1 => {
                let (tx, conn) = http1::Builder::new().handshake(io).await?;
                tokio::spawn(async move {
                    let _open = open;
                    let r = if upgrade {
                        conn.with_upgrades().await
                    } else {
                        conn.await
                    };
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "server connection ended");
                    }
                });
                Ok(Sender::H1(tx))
            }
            ServerProto::H2 => {
                let (tx, conn) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .handshake(io)
                    .await?;
                tokio::spawn(async move {
                    let _open = open;
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "server h2 connection ended");
                    }
                });
                Ok(Sender::H2(tx))
            }
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| ConnectError::Timeout(t))?,
        None => fut.await,
    }
}

/// Idle and shared connections of one server.
#[derive(Debug)]
pub struct ServerPool {
    h1: gwd_pool::Pool<(), http1::SendRequest<Body>>,
    h2: Option<http2::SendRequest<Body>>,
    reuse: HttpReuse,
}

fn pool_reuse(r: HttpReuse) -> gwd_pool::HttpReuse {
    match r {
        HttpReuse::Never => gwd_pool::HttpReuse::Never,
        HttpReuse::Safe => gwd_pool::HttpReuse::Safe,
        HttpReuse::Aggressive => gwd_pool::HttpReuse::Aggressive,
        HttpReuse::Always => gwd_pool::HttpReuse::Always,
    }
}

impl ServerPool {
    pub fn new(s: &PoolSettings, reuse: HttpReuse) -> ServerPool {
        ServerPool {
            h1: gwd_pool::Pool::new(gwd_pool::PoolSettings {
                max_conn: s.max_conn,
                low_conn: s.low_conn,
                purge_delay: s.purge_delay,
                reuse: pool_reuse(reuse),
                idle_timeout: None,
            }),
            h2: None,
            reuse,
        }
    }

    /// A connection ready to carry a request, if one can be reused.
    pub fn acquire(&mut self, first_request: bool) -> Option<Sender> {
        if let Some(h2) = &self.h2 {
            if !h2.is_closed() && self.reuse != HttpReuse::Never {
                return Some(Sender::H2(h2.clone()));
            }
            self.h2 = None;
        }
        while let Some(tx) = self.h1.acquire(&(), first_request) {
            // Not `is_ready()`: a connection whose last response just ended
            // may not have signalled readiness yet; `send` waits for it, and
            // one that turns out closed hands the request back for a retry.
            if !tx.is_closed() {
                return Some(Sender::H1(tx));
            }
            // Closed while idle (server timeout): forget it and look again.
            self.h1.discard();
        }
        None
    }

    /// A new connection was opened for a request.
    pub fn connected(&mut self, sender: &Sender) {
        match sender {
            Sender::H1(_) => self.h1.connected(),
            Sender::H2(tx) => {
                if self.reuse != HttpReuse::Never {
                    self.h2 = Some(tx.clone());
                }
            }
        }
    }

    /// A request finished with this connection. `was_pooled`: it came
    /// from [`acquire`](Self::acquire) (so it is now proven reusable).
    pub fn release(&mut self, sender: Sender, reusable: bool, was_pooled: bool, now: Instant) {
        if let Sender::H1(tx) = sender {
            let how = gwd_pool::ReleaseAs::from_flags(reusable && !tx.is_closed(), was_pooled);
            // A refused connection comes back to us; dropping it closes it.
            let _ = self.h1.release(&(), tx, how, now);
        }
    }

    /// An in-use HTTP/1 connection died.
    pub fn discard(&mut self, sender: &Sender) {
        if let Sender::H1(_) = sender {
            self.h1.discard();
        }
    }

    /// Closes idle connections the purge selects; returns how many.
    pub fn purge(&mut self, now: Instant) -> usize {
        self.h1.purge(now).len()
    }

    pub fn next_purge_at(&self) -> Option<Instant> {
        self.h1.next_purge_at()
    }

    pub fn idle(&self) -> usize {
        self.h1.idle_len()
    }

    /// The pool's counters (HTTP/1 connections, from gwd-pool). A live
    /// shared HTTP/2 connection, kept outside gwd-pool, is counted once in
    /// `shared` and in `used`.
    pub fn stats(&self) -> gwd_pool::PoolStats {
        let mut s = self.h1.stats();
        if self.h2.as_ref().is_some_and(|h2| !h2.is_closed()) {
            s.shared += 1;
            s.used += 1;
            s.max_used = s.max_used.max(s.used);
        }
        s
    }
}
