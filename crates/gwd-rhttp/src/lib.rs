//! Reverse HTTP ("rhttp"), wire-compatible with HAProxy 2.9+: an origin
//! behind NAT dials a gateway over TLS (ALPN `h2`, client certificate) and
//! the HTTP/2 roles are reversed, so the gateway sends requests down the
//! connection the origin opened.
//!
//! Model and wire sequence (see `docs/REVERSE-HTTP.md`):
//! 1. the origin (TCP/TLS client) sends the 24-byte client preface and its
//!    SETTINGS, with server-role values (MAX_CONCURRENT_STREAMS, windows);
//! 2. the gateway (TCP/TLS server) sends only SETTINGS, no preface;
//! 3. each side ACKs the peer's first SETTINGS and from then on plays its
//!    reversed role: the gateway is the HTTP/2 client and opens streams 1,
//!    3, 5...; the origin is the HTTP/2 server and opens none.
//!
//! Both roles run on `gwd-mux-h2`, gwd's own HTTP/2 state machine, in
//! which the preface direction is configured apart from the role, so the
//! reversal needs no byte-level adapter. One task per tunnel drives it
//! (`mux`), reading into a buffer on the thread's stack: an idle tunnel
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
//! certificates. It depends on tokio, gwd-mux-h2, rustls/tokio-rustls, `gwd-tls`
//! (certificate facts, client configs) and `gwd-backoff`; never on the
//! config, HTTP proxy or app crates, which wire it in.

mod body;
mod dialer;
mod error;
mod gateway;
mod info;
mod io;
mod keepalive;
mod mux;
mod names;
mod refusal;
mod registry;
mod tracker;

pub use body::{BoxError, IncomingBody};
pub use dialer::{
    Dialer, DialerConfig, DialerStats, DialerStatsSnapshot, REVERSAL_LATENCY_BOUNDS_US,
    TunnelService,
};
pub use error::{BodyError, RegistryError, RegistryErrorKind, RhttpError};
pub use gateway::{GatewayOptions, SendFailed, StreamSlot, Tunnel, accept_tunnel};
pub use gwd_backoff::BackoffConfig;
pub use info::TunnelInfo;
pub use io::{CloseReason, GoAway, PREFACE, PeerSettings, TunnelEvents};
pub use names::{NamePolicy, check_alpn_h2, names_from_cert, registration_names};
pub use refusal::{
    MAX_REASON, REFUSAL_CODE, REFUSAL_LINGER, alert_meaning, alert_name, peer_text,
    refuse_registration,
};
pub use registry::{Lease, RegistryStats, TunnelRegistry, TunnelSummary};
