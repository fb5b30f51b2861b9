//! Test harness: a generated PKI, a TLS gateway accept loop feeding a
//! registry, dialers and services.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gwd_rhttp::{
    BackoffConfig, Dialer, DialerConfig, GatewayOptions, IncomingBody, NamePolicy, Tunnel,
    TunnelRegistry, accept_tunnel, check_alpn_h2, registration_names,
};
use gwd_tls::pki::{Pki, PkiFiles};
use http_body_util::Full;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Bound on every wait in tests.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestPki {
    pub files: PkiFiles,
    pub dir: PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn pki(clients: &[&str]) -> TestPki {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gwd-rhttp-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let pki = Pki::generate("rhttp test CA", &["localhost"], clients).unwrap();
    let files = pki.write_to(&dir).unwrap();
    TestPki { files, dir }
}

pub fn server_tls(p: &TestPki) -> Arc<rustls::ServerConfig> {
    gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
        cert: p.files.server_cert.clone(),
        key: Some(p.files.server_key.clone()),
        alpn: vec!["h2".into()],
        verify: gwd_tls::PeerVerify::Required,
        ca: Some(p.files.ca_cert.clone()),
    })
    .unwrap()
}

pub fn client_files(p: &TestPki, name: &str) -> (PathBuf, PathBuf) {
    let (_, c, k) = p
        .files
        .clients
        .iter()
        .find(|(n, _, _)| n == name)
        .expect("client in PKI");
    (c.clone(), k.clone())
}

pub fn client_tls(p: &TestPki, name: &str) -> Arc<rustls::ClientConfig> {
    let (cert, key) = client_files(p, name);
    gwd_tls::client_config(&gwd_tls::ClientTlsSettings {
        verify: gwd_tls::PeerVerify::Required,
        ca: Some(p.files.ca_cert.clone()),
        alpn: vec!["h2".into()],
        cert: Some(cert),
        key: Some(key),
    })
    .unwrap()
}

/// A raw TLS client connection (for scripted origins).
pub async fn tls_connect(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(cfg)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// A gateway: TLS registration listener -> accept_tunnel -> registry.
pub struct Gateway {
    pub addr: SocketAddr,
    pub registry: TunnelRegistry,
    pub tunnels: Arc<Mutex<Vec<Tunnel>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
        for t in self.tunnels.lock().unwrap().iter() {
            t.abort();
        }
    }
}

impl Gateway {
    pub async fn start(p: &TestPki, opts: GatewayOptions) -> Gateway {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(l, p, opts)
    }

    pub fn start_on(l: TcpListener, p: &TestPki, opts: GatewayOptions) -> Gateway {
        let addr = l.local_addr().unwrap();
        let registry = TunnelRegistry::new();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let acceptor = TlsAcceptor::from(server_tls(p));
        let reg = registry.clone();
        let list = tunnels.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let reg = reg.clone();
                let list = list.clone();
                let opts = opts.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if check_alpn_h2(tls.get_ref().1).is_err() {
                        return;
                    }
                    let Ok(names) = registration_names(tls.get_ref().1, NamePolicy::default())
                    else {
                        return;
                    };
                    if let Ok(t) = accept_tunnel(tls, &opts).await {
                        list.lock().unwrap().push(t.clone());
                        reg.register(names, t);
                    }
                });
            }
        });
        Gateway {
            addr,
            registry,
            tunnels,
            task,
        }
    }

    pub fn live_tunnels(&self) -> Vec<Tunnel> {
        self.tunnels
            .lock()
            .unwrap()
            .iter()
            .filter(|t| !t.is_unusable())
            .cloned()
            .collect()
    }
}

pub fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        multiplier: 2,
        reset_after: Duration::from_secs(60),
    }
}

pub fn dialer_config(addr: SocketAddr, p: &TestPki, name: &str, nbconn: usize) -> DialerConfig {
    let (cert, key) = client_files(p, name);
    let mut cfg =
        DialerConfig::from_pem_files(addr.to_string(), "localhost", &p.files.ca_cert, &cert, &key)
            .unwrap();
    cfg.nbconn = nbconn;
    cfg.backoff = fast_backoff();
    cfg.drain_timeout = WAIT;
    cfg
}

/// A running dialer with a shutdown trigger.
pub struct RunningDialer {
    pub stats: Arc<gwd_rhttp::DialerStats>,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), gwd_rhttp::RhttpError>>,
}

impl RunningDialer {
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for RunningDialer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn run_dialer<S: gwd_rhttp::TunnelService>(cfg: DialerConfig, service: S) -> RunningDialer {
    let dialer = Dialer::new(cfg).unwrap();
    let stats = dialer.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        dialer
            .run(service, async move {
                let _ = rx.await;
            })
            .await
    });
    RunningDialer {
        stats,
        stop: Some(tx),
        task,
    }
}

/// The boxed future of [`echo_service`].
pub type EchoFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<Full<Bytes>>> + Send>>;

/// Answers 200 with `x-origin: tag`, `x-path`, and the request body echoed.
pub fn echo_service(
    tag: &'static str,
) -> impl Fn(http::Request<IncomingBody>) -> EchoFuture + Send + Sync + 'static {
    move |req: http::Request<IncomingBody>| -> EchoFuture {
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let body = req
                .into_body()
                .collect_bytes(64 << 20)
                .await
                .unwrap_or_default();
            http::Response::builder()
                .header("x-origin", tag)
                .header("x-path", path)
                .body(Full::new(body))
                .unwrap()
        })
    }
}

pub fn get(uri: &str) -> http::Request<http_body_util::Empty<Bytes>> {
    http::Request::get(uri)
        .body(http_body_util::Empty::new())
        .unwrap()
}

/// Serialises the end-to-end tests of one binary. They dial, kill and
/// re-dial tunnels on timers; run side by side on a small machine they
/// starve each other (and reuse each other's freed ports), which made
/// the tunnel-loss tests flaky.
#[allow(dead_code)]
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
