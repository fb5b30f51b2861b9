//! Reverse HTTP ("rhttp"), wire-compatible with HAProxy 2.9+: an origin
//! behind NAT dials a gateway over TLS (ALPN `h2`, client certificate) and
//! the HTTP/2 roles are reversed, so the gateway sends requests down the
//! connection the origin opened.
//!
//! The whole loop on loopback: a gateway that accepts tunnels and files
//! them under the names of the origin's client certificate, an origin
//! that dials it and serves, and one request from the gateway to the
//! origin.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use gwd_rhttp::{
//!     Dialer, DialerConfig, GatewayOptions, IncomingBody, NamePolicy, TunnelRegistry,
//!     accept_tunnel, registration_names,
//! };
//!
//! // A CA, the gateway's certificate (localhost) and the origin's
//! // client certificate (app.example), written as PEM files.
//! let dir = std::env::temp_dir().join(format!("gwd-rhttp-doc-{}", std::process::id()));
//! let pki = gwd_tls::pki::Pki::generate("example CA", &["localhost"], &["app.example"])?
//!     .write_to(&dir)?;
//!
//! // Gateway: TLS with a required client certificate, then the reversal.
//! let tls = gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
//!     cert: pki.server_cert.clone(),
//!     key: Some(pki.server_key.clone()),
//!     alpn: vec!["h2".into()],
//!     verify: gwd_tls::PeerVerify::Required,
//!     ca: Some(pki.ca_cert.clone()),
//! })?;
//! let acceptor = tokio_rustls::TlsAcceptor::from(tls);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let gateway_addr = listener.local_addr()?;
//! let registry = TunnelRegistry::new();
//! let tunnels = registry.clone();
//! tokio::spawn(async move {
//!     while let Ok((tcp, _)) = listener.accept().await {
//!         let Ok(tls) = acceptor.accept(tcp).await else { continue };
//!         let Ok(names) = registration_names(tls.get_ref().1, NamePolicy::default()) else {
//!             continue;
//!         };
//!         if let Ok(tunnel) = accept_tunnel(tls, &GatewayOptions::default()).await {
//!             tunnels.register(names, tunnel);
//!         }
//!     }
//! });
//!
//! // Origin: dials the gateway and serves what comes down the tunnel.
//! let (_, cert, key) = &pki.clients[0];
//! let cfg = DialerConfig::from_pem_files(
//!     gateway_addr.to_string(), "localhost", &pki.ca_cert, cert, key,
//! )?;
//! let dialer = Dialer::new(cfg)?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let origin = tokio::spawn(async move {
//!     let app = |req: http::Request<IncomingBody>| async move {
//!         let text = format!("hello from {}", req.uri().path());
//!         http::Response::new(http_body_util::Full::new(bytes::Bytes::from(text)))
//!     };
//!     dialer.run(app, async { let _ = stopped.await; }).await
//! });
//!
//! // The gateway sends a request to the origin behind its NAT.
//! let lease = registry.acquire("app.example", Duration::from_secs(5)).await?;
//! let req = http::Request::get("https://app.example/hi")
//!     .body(http_body_util::Empty::<bytes::Bytes>::new())?;
//! let body = lease.send_request(req).await?.into_body().collect_bytes(1024).await?;
//! assert_eq!(body, "hello from /hi");
//!
//! let _ = stop.send(());
//! origin.await??;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! Model and wire sequence (see `docs/REVERSE-HTTP.md`):
//! 1. the origin (TCP/TLS client) sends the 24-byte client preface and its
//!    SETTINGS, with server-role values (MAX_CONCURRENT_STREAMS, windows);
//! 2. the gateway (TCP/TLS server) sends only SETTINGS, no preface;
//! 3. each side ACKs the peer's first SETTINGS and from then on plays its
//!    reversed role: the gateway is the HTTP/2 client and opens streams 1,
//!    3, 5...; the origin is the HTTP/2 server and opens none.
//!
//! Both roles run on `gwd-mux-h2`, gwd's own HTTP/2 state machine, whose
//! `Config::reverse_dialer` (origin) and `Config::reverse_acceptor`
//! (gateway) set the preface direction apart from the role, so the
//! reversal needs no byte-level adapter. One task per tunnel drives it
//! (`gwd-h2-conn`'s `Mux`), reading into a buffer on the thread's stack: an idle tunnel
//! keeps no HTTP/2 buffers (about 15 KiB per idle tunnel per side in all,
//! TLS included, against 32–34 KiB on the `h2` crate; see
//! `docs/PERFORMANCE.md`).
//!
//! Invariants: a tunnel is reported usable only after the peer's first
//! SETTINGS arrived; a tunnel is handed out only for a name it was
//! registered under; every wait is bounded; the dialer never gives up
//! re-dialing until shut down.
//!
//! This crate owns the protocol core: [`accept_tunnel`] / [`Tunnel`] and
//! [`TunnelRegistry`] for the gateway, [`Dialer`] for the origin (usable by
//! any Rust application without gwd), and name derivation from client
//! certificates. It depends on tokio, gwd-mux-h2 and gwd-h2-conn, rustls/tokio-rustls, `gwd-tls`
//! (certificate facts, client configs) and `gwd-backoff`; never on the
//! config, HTTP proxy or app crates, which wire it in.
//!
//! Sending: [`Tunnel::send_request`] on a tunnel one holds (counted
//! against its stream limit, not bounded by it), [`Lease::send_request`]
//! on a tunnel chosen by the [`TunnelRegistry`] with its slot reserved.
//! Both hand a request that never left back in [`SendFailed`], so the
//! caller can send it elsewhere.
//!
//! Two forms of heads: `http` requests and responses for ease, and
//! gwd-head heads for a proxy that already holds its requests that way
//! ([`Lease::send_head`] on the gateway, [`TunnelService::call_head`] on
//! the origin). The HTTP/2 state machine decodes into and encodes from
//! gwd-head fields, so the second form builds no header map per request
//! either way; the `http` form is converted at this API.

#![warn(missing_docs, unreachable_pub)]

mod dialer;
mod error;
mod gateway;
mod info;
mod io;
mod keepalive;
mod names;
mod refusal;
mod registry;
mod tracker;

// The HTTP/2 connection's types, from gwd-h2-conn, where the connection
// driver lives.
pub use dialer::{
    Dialer, DialerConfig, DialerStats, DialerStatsSnapshot, REVERSAL_LATENCY_BOUNDS_US,
    TunnelRequest, TunnelResponse, TunnelService,
};
pub use error::{RegistryError, RegistryErrorKind, RhttpError};
pub use gateway::{GatewayOptions, HeadSendFailed, SendFailed, Tunnel, accept_tunnel};
pub use gwd_backoff::BackoffConfig;
pub use gwd_h2_conn::{BodyError, BoxError, IncomingBody, InterimHandle, Unsent};
// The HTTP/2 types this crate's API shows (the peer's SETTINGS and
// GOAWAY, error codes), so users need not depend on gwd-mux-h2 to name them.
pub use gwd_mux_h2::{conn::GoAway, frame::ErrorCode, frame::Settings};
pub use info::TunnelInfo;
pub use io::{CloseReason, TunnelEvents};
pub use names::{NamePolicy, check_alpn_h2, names_from_cert, registration_names};
pub use refusal::{
    MAX_REASON, REFUSAL_CODE, REFUSAL_LINGER, alert_meaning, alert_name, peer_text,
    refuse_registration,
};
pub use registry::{Lease, RegistryStats, TunnelRegistry, TunnelSummary};
