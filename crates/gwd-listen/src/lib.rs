//! Listeners: where connections enter gwd.
//!
//! Model: a [`Listener`] owns one bound TCP socket and, for TLS binds, the
//! rustls acceptor. `accept` only accepts (it never blocks on a slow
//! client); the TLS handshake runs in [`Handshaker::handshake`], which the
//! caller awaits inside the connection's own task, bounded by a deadline, so
//! one stalled client never holds up the accept loop. The result, an
//! [`Accepted`], carries the byte stream and everything rules may ask
//! about the connection (addresses, SNI, ALPN, client certificate).
//!
//! This crate owns sockets and handshakes. It depends on `gwd-tls` for
//! configurations and on `gwd-conn` (no dependencies) for the [`TlsInfo`]
//! type; it knows
//! nothing about HTTP.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let l = gwd_listen::Listener::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
//! let addr = l.local_addr();
//! let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
//! let (tcp, peer) = l.accept().await.unwrap();
//! let conn = l.handshaker().handshake(tcp, peer, None).await.unwrap();
//! assert!(conn.tls.is_none());
//! assert_eq!(conn.local, addr);
//! client.await.unwrap().unwrap();
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use gwd_conn::TlsInfo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A failed accept-side handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS handshake did not finish within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
}

impl HandshakeError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, HandshakeError::Timeout(_))
    }
}

/// A bound socket plus, for TLS binds, its acceptor.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    local: SocketAddr,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.local)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Binds a TCP listener the way a server should: `SO_REUSEADDR` so a
/// restart does not wait for TIME_WAIT, IPv6 sockets v6-only so `[::]` and
/// `0.0.0.0` can be bound side by side, and a deep accept queue.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}

impl Listener {
    /// Binds `addr`; `tls` makes it a TLS listener.
    pub fn bind(addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<Listener> {
        let tcp = bind_tcp(addr)?;
        let local = tcp.local_addr()?;
        Ok(Listener {
            tcp,
            tls: tls.map(TlsAcceptor::from),
            local,
        })
    }

    /// A listener on a socket already bound and listening (handed over by
    /// a running gwd on binary upgrade). Must run inside a Tokio runtime.
    pub fn from_std(
        tcp: std::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Listener> {
        tcp.set_nonblocking(true)?;
        let tcp = TcpListener::from_std(tcp)?;
        let local = tcp.local_addr()?;
        Ok(Listener {
            tcp,
            tls: tls.map(TlsAcceptor::from),
            local,
        })
    }

    /// A new descriptor of the listening socket (to hand it to another
    /// process); closing it leaves this listener open.
    pub fn duplicate_fd(&self) -> io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.tcp.as_fd().try_clone_to_owned()
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Accepts the next TCP connection. Errors such as EMFILE are returned
    /// to the caller, which should back off rather than spin.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, peer) = self.tcp.accept().await?;
        // Small writes (headers, H2 frames) must not wait for Nagle.
        let _ = s.set_nodelay(true);
        Ok((s, peer))
    }

    /// What finishes accepted connections. It does not keep the socket
    /// open: dropping the [`Listener`] stops new connections at once even
    /// while accepted ones are still being served.
    pub fn handshaker(&self) -> Handshaker {
        Handshaker {
            tls: self.tls.clone(),
            local: self.local,
        }
    }

    /// A handshaker for this socket with other TLS settings: a reload
    /// keeps the listening socket (no connection refused) and re-reads
    /// certificates, so connections accepted from then on present the new
    /// ones. `None` makes them clear-text connections.
    pub fn handshaker_with(&self, tls: Option<Arc<rustls::ServerConfig>>) -> Handshaker {
        Handshaker {
            tls: tls.map(TlsAcceptor::from),
            local: self.local,
        }
    }
}

/// Finishes accepted connections of one listener (see
/// [`Listener::handshaker`]).
#[derive(Clone)]
pub struct Handshaker {
    tls: Option<TlsAcceptor>,
    local: SocketAddr,
}

impl std::fmt::Debug for Handshaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshaker")
            .field("local", &self.local)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Handshaker {
    /// Finishes setting up an accepted connection: the TLS handshake on TLS
    /// listeners (bounded by `timeout`), nothing on clear ones.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        timeout: Option<Duration>,
    ) -> Result<Accepted, HandshakeError> {
        let local = tcp.local_addr().unwrap_or(self.local);
        let Some(acceptor) = &self.tls else {
            return Ok(Accepted {
                stream: Stream::Plain(tcp),
                peer,
                local,
                tls: None,
            });
        };
        let fut = acceptor.accept(tcp);
        let tls = match timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| HandshakeError::Timeout(t))?,
            None => fut.await,
        }
        .map_err(HandshakeError::Tls)?;
        let info = gwd_tls::server_tls_info(tls.get_ref().1);
        Ok(Accepted {
            stream: Stream::Tls(Box::new(tls)),
            peer,
            local,
            tls: Some(info),
        })
    }
}

/// An accepted, ready connection.
#[derive(Debug)]
pub struct Accepted {
    pub stream: Stream,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// `None` for clear connections.
    pub tls: Option<TlsInfo>,
}

impl Accepted {
    /// True when ALPN selected HTTP/2.
    pub fn alpn_h2(&self) -> bool {
        self.tls
            .as_ref()
            .and_then(|t| t.alpn.as_deref())
            .is_some_and(|p| p == "h2")
    }
}

/// The byte stream of a connection, in clear or TLS.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
