//! In-process servers that stand in for real backends.
//!
//! One service answers by path, so one backend serves every scenario:
//!
//! | path           | behaviour                                               |
//! |----------------|---------------------------------------------------------|
//! | `/echo`        | streams the request body back                           |
//! | `/slow/<ms>`   | answers after `<ms>` milliseconds (timeout tests)       |
//! | `/big/<bytes>` | streams `<bytes>` bytes of a repeating pattern          |
//! | `/status/<code>` | answers `<code>` with the body `status <code>\n`     |
//! | `/ws`          | accepts `Upgrade: websocket`, then echoes bytes         |
//! | anything else  | 200 describing the request it saw (method, path, headers) |
//!
//! Every response carries `x-served-by: <backend name>`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Body = BoxBody<Bytes, hyper::Error>;

/// The body `/status/<code>` answers with.
pub fn status_body(code: u16) -> String {
    format!("status {code}\n")
}

/// The repeating pattern `/big/<n>` sends: byte i is `i % 251`.
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Which protocol a test backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

/// A running test backend.
#[derive(Debug, Clone)]
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    /// Connections accepted so far.
    pub conns: Arc<AtomicUsize>,
    /// Connections that have ended (closed by either side).
    pub closed: Arc<AtomicUsize>,
    /// Requests served so far.
    pub hits: Arc<AtomicUsize>,
}

impl Backend {
    pub fn conns(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    /// Connections currently open.
    pub fn open(&self) -> usize {
        self.conns() - self.closed.load(Ordering::SeqCst)
    }

    /// Starts a TLS backend (ALPN `h2` or `http/1.1` by `proto`) with the
    /// given certificate and key files.
    pub async fn start_tls(
        name: &str,
        proto: Proto,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Backend {
        let cfg = gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
            cert: cert.to_path_buf(),
            key: Some(key.to_path_buf()),
            alpn: vec![match proto {
                Proto::H1 => "http/1.1".into(),
                Proto::H2 => "h2".into(),
            }],
            verify: gwd_tls::PeerVerify::None,
            ca: None,
        })
        .expect("backend TLS config");
        Backend::start_inner(name, proto, Some(tokio_rustls::TlsAcceptor::from(cfg))).await
    }

    /// Starts an HTTP backend on 127.0.0.1:0 in the current runtime.
    pub async fn start(name: &str, proto: Proto) -> Backend {
        Backend::start_inner(name, proto, None).await
    }

    async fn start_inner(
        name: &str,
        proto: Proto,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Backend {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let b = Backend {
            addr: l.local_addr().unwrap(),
            name: name.to_string(),
            conns: Arc::default(),
            closed: Arc::default(),
            hits: Arc::default(),
        };
        let b2 = b.clone();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                b2.conns.fetch_add(1, Ordering::SeqCst);
                let b3 = b2.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let closed = b3.closed.clone();
                    match tls {
                        None => serve(s, proto, b3).await,
                        Some(acc) => {
                            if let Ok(t) = acc.accept(s).await {
                                serve(t, proto, b3).await;
                            }
                        }
                    }
                    closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        b
    }

    async fn answer(&self, mut req: Request<Incoming>) -> Response<Body> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_string();
        let mut resp = if path == "/echo" {
            Response::new(req.into_body().boxed())
        } else if let Some(ms) = path.strip_prefix("/slow/") {
            let ms: u64 = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text("slow done\n")
        } else if let Some(code) = path
            .strip_prefix("/status/")
            .and_then(|c| StatusCode::from_bytes(c.as_bytes()).ok())
        {
            let mut r = text(&status_body(code.as_u16()));
            *r.status_mut() = code;
            r
        } else if let Some(n) = path.strip_prefix("/big/") {
            let n: u64 = n.parse().unwrap_or(0);
            big_body(n)
        } else if path == "/ws" && req.headers().contains_key(http::header::UPGRADE) {
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let mut io = TokioIo::new(up);
                    let mut buf = [0u8; 4096];
                    loop {
                        match io.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if io.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }
            });
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut()
                .insert(http::header::UPGRADE, "websocket".parse().unwrap());
            r.headers_mut()
                .insert(http::header::CONNECTION, "upgrade".parse().unwrap());
            // RFC 6455 §4.2.2 (gwd refuses a WebSocket 101 without the
            // accept value the key calls for).
            if let Some(key) = req.headers().get("sec-websocket-key") {
                r.headers_mut().insert(
                    "sec-websocket-accept",
                    crate::websocket_accept(key.as_bytes()).parse().unwrap(),
                );
            }
            r
        } else {
            let mut s = format!(
                "backend={}\nmethod={}\nuri={}\nversion={:?}\n",
                self.name,
                req.method(),
                req.uri(),
                req.version()
            );
            for (n, v) in req.headers() {
                s.push_str(&format!("h:{}: {}\n", n, v.to_str().unwrap_or("?")));
            }
            text(&s)
        };
        resp.headers_mut()
            .insert("x-served-by", self.name.parse().unwrap());
        resp
    }
}

async fn serve<S>(s: S, proto: Proto, b: Backend)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let b = b.clone();
        async move { Ok::<_, Infallible>(b.answer(req).await) }
    });
    let io = TokioIo::new(s);
    match proto {
        Proto::H1 => {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
        }
        Proto::H2 => {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, svc)
                .await;
        }
    }
}

fn text(s: &str) -> Response<Body> {
    Response::new(
        Full::new(Bytes::from(s.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    )
}

fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

fn big_body(n: u64) -> Response<Body> {
    const CHUNK: u64 = 64 * 1024;
    let chunks = n.div_ceil(CHUNK);
    let stream = futures_util::stream::iter((0..chunks).map(move |c| {
        let start = c * CHUNK;
        let end = (start + CHUNK).min(n);
        let v: Vec<u8> = (start..end).map(pattern_byte).collect();
        Ok::<_, hyper::Error>(Frame::data(Bytes::from(v)))
    }));
    Response::new(BodyExt::boxed(StreamBody::new(stream)))
}

/// A request as the server parsed it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// Every value of `name` (lower case), in order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What a recording server parsed, in order.
pub type Log = Arc<Mutex<Vec<Seen>>>;

/// A hyper server that reads each request whole, records what it parsed,
/// and then answers 200 "ok": the independent HTTP/1.1 reader behind gwd
/// in framing tests.
pub async fn recording_server() -> (SocketAddr, Log) {
    recording_server_speaking(Proto::H1).await
}

/// [`recording_server`] speaking `proto` (HTTP/2 with prior knowledge for
/// `Proto::H2`).
pub async fn recording_server_speaking(proto: Proto) -> (SocketAddr, Log) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log: Log = Arc::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let log = log2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        log.lock().unwrap().push(Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| {
                                    (
                                        n.to_string(),
                                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                    )
                                })
                                .collect(),
                            body,
                        });
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                match proto {
                    Proto::H1 => {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(s), svc)
                            .await;
                    }
                    Proto::H2 => {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(s), svc)
                            .await;
                    }
                }
            });
        }
    });
    (addr, log)
}

/// A raw TCP server whose every connection runs `script`: for broken
/// servers (garbage responses, resets, silence).
pub async fn raw_server<F, Fut>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind raw");
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let c2 = conns.clone();
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            c2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(script(s));
        }
    });
    (addr, conns)
}

/// Reads a request head (up to the blank line) from a raw connection.
pub async fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A free port with nothing listening (bound then released): for
/// "connection refused" scenarios.
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
