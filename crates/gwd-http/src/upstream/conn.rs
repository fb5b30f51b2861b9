//! Server connections: dialing (name resolution, TCP, TLS) and the byte
//! stream they give.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::state::ServerRt;

/// A server connection's byte stream: TCP, or TLS over TCP.
pub type UpStream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

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
    #[error("HTTP/2 handshake with server failed: {0}")]
    Http(#[from] gwd_h2_conn::HandshakeError),
}

impl ConnectError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConnectError::Timeout(_))
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

/// TCP to `host:port`: each resolved address in turn (servers and their
/// health checks).
pub(crate) async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for a in resolve(host, port).await? {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(ConnectError::Io(
        last.unwrap_or_else(|| io::ErrorKind::NotConnected.into()),
    ))
}

/// Opens the byte stream to `server`: TCP to each resolved address in
/// turn, then TLS when the server has `ssl`. Not bounded here: callers
/// bound the whole connect with `timeout connect`.
pub(crate) async fn dial(server: &ServerRt) -> Result<UpStream, ConnectError> {
    let Some(addr) = server.conf.net_addr() else {
        return Err(ConnectError::Resolve("rhttp@".into()));
    };
    let tcp = connect_tcp(&addr.host, addr.port).await?;
    let _ = tcp.set_nodelay(true);
    match &server.tls {
        None => Ok(Either::Left(tcp)),
        Some((cfg, name)) => {
            let tls = TlsConnector::from(cfg.clone())
                .connect(name.clone(), tcp)
                .await
                .map_err(ConnectError::Tls)?;
            Ok(Either::Right(Box::new(tls)))
        }
    }
}

/// Runs `fut` under `timeout connect`.
pub(crate) async fn bounded<T>(
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| ConnectError::Timeout(t))?,
        None => fut.await,
    }
}
