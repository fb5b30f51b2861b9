//! Clients for regtests: HTTP/1.1 and HTTP/2 over TCP or TLS, plus raw
//! sockets for malformed input.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::WAIT;

pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A request sender of either protocol.
#[derive(Debug)]
pub enum Client {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

async fn handshake(io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static, h2: bool) -> Client {
    let io = TokioIo::new(io);
    if h2 {
        let (tx, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        Client::H2(tx)
    } else {
        let (tx, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .expect("h1 handshake");
        tokio::spawn(conn.with_upgrades());
        Client::H1(tx)
    }
}

impl Client {
    /// HTTP/1.1 over TCP.
    pub async fn h1(addr: SocketAddr) -> Client {
        handshake(TcpStream::connect(addr).await.expect("connect"), false).await
    }

    /// HTTP/1.1 over a connection already made (for instance the one that
    /// found a server ready, so that no second connection is counted).
    pub async fn h1_on(stream: TcpStream) -> Client {
        handshake(stream, false).await
    }

    /// HTTP/2 over TCP with prior knowledge (h2c).
    pub async fn h2c(addr: SocketAddr) -> Client {
        handshake(TcpStream::connect(addr).await.expect("connect"), true).await
    }

    /// TLS, trusting `ca`, offering `alpn`; HTTP/2 when the server picks
    /// `h2`. Optionally presents a client certificate.
    pub async fn tls(
        addr: SocketAddr,
        server_name: &str,
        ca: &Path,
        alpn: &[&str],
        client_cert: Option<(&Path, &Path)>,
    ) -> Client {
        let (io, h2) = tls_connect(addr, server_name, ca, alpn, client_cert)
            .await
            .expect("TLS connect");
        handshake(io, h2).await
    }

    /// Whether the connection can take a request (`false` once the
    /// server closed it), bounded by [`WAIT`].
    pub async fn is_ready(&mut self) -> bool {
        let fut = async {
            match self {
                Client::H1(tx) => tx.ready().await.is_ok(),
                Client::H2(tx) => tx.ready().await.is_ok(),
            }
        };
        tokio::time::timeout(WAIT, fut).await.unwrap_or(false)
    }

    /// Sends a request, bounded by [`WAIT`].
    pub async fn send(&mut self, req: Request<Body>) -> Result<Response<Incoming>, hyper::Error> {
        let fut = async {
            match self {
                Client::H1(tx) => {
                    tx.ready().await?;
                    tx.send_request(req).await
                }
                Client::H2(tx) => {
                    tx.ready().await?;
                    tx.send_request(req).await
                }
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("request timed out")
    }

    /// GET `path` with a Host header; returns status, headers and body text.
    pub async fn get(&mut self, host: &str, path: &str) -> (u16, http::HeaderMap, String) {
        let is_h2 = matches!(self, Client::H2(_));
        let mut b = Request::get(path).header("host", host);
        if is_h2 {
            b = Request::get(format!("http://{host}{path}"));
        }
        let resp = self.send(b.body(empty()).unwrap()).await.expect("response");
        read_all(resp).await
    }
}

/// Collects a response (bounded by [`WAIT`]).
pub async fn read_all(resp: Response<Incoming>) -> (u16, http::HeaderMap, String) {
    let (parts, body) = resp.into_parts();
    let bytes = tokio::time::timeout(WAIT, body.collect())
        .await
        .expect("body timed out")
        .expect("body")
        .to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// A TLS connection; returns the stream and whether ALPN chose h2.
pub async fn tls_connect(
    addr: SocketAddr,
    server_name: &str,
    ca: &Path,
    alpn: &[&str],
    client_cert: Option<(&Path, &Path)>,
) -> std::io::Result<(tokio_rustls::client::TlsStream<TcpStream>, bool)> {
    let cfg = gwd_tls::client_config(&gwd_tls::ClientTlsSettings {
        verify: gwd_tls::PeerVerify::Required,
        ca: Some(ca.to_path_buf()),
        alpn: alpn.iter().map(|s| s.to_string()).collect(),
        cert: client_cert.map(|(c, _)| c.to_path_buf()),
        key: client_cert.map(|(_, k)| k.to_path_buf()),
    })
    .expect("client TLS config");
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(&cfg))
        .connect(name, tcp)
        .await?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    Ok((tls, h2))
}

/// Writes `bytes` on a fresh TCP connection and reads until the peer
/// closes (or `limit` passes); returns what was read.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_until_close(&mut s, limit).await
}

/// Reads until EOF, an error, or `limit`.
pub async fn read_until_close(s: &mut TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut b = [0u8; 4096];
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&b[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// True when the server closed `s` (read returns 0 or an error) within `limit`.
pub async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut b = [0u8; 1024];
    matches!(
        tokio::time::timeout(limit, async {
            loop {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        })
        .await,
        Ok(true)
    )
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// The head as text (status line and fields).
    pub head: String,
    pub body: String,
}

impl RawResponse {
    pub fn status_body(self) -> (u16, String) {
        (self.status, self.body)
    }

    /// The value of field `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one response (head, and a body delimited by Content-Length) off
/// `s`, within 10 s; interim 1xx heads are returned as responses too.
pub async fn read_response(s: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                return RawResponse { status, head, body };
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap_or(0);
        assert!(
            n > 0,
            "closed before a complete answer: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}
