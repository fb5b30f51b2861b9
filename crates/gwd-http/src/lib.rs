//! gwd's HTTP reverse proxy.
//!
//! Model: each accepted connection runs [`serve_connection`] in its own
//! task. HTTP/1.1 visitors are driven by gwd's own codec (gwd-h1), one
//! task per connection that parses, runs the request through the core and
//! writes the answer; HTTP/2 visitors (ALPN `h2`, or the prior-knowledge
//! preface) run on gwd-mux-h2. Either way a request goes through one core
//! (`core`): rules, backend and server choice ([`backend`]: balancing,
//! the `maxconn` queue, health checks, server states), and the retry loop
//! over the upstream seam (`upstream`: network servers on gwd-h1 or
//! HTTP/2, and servers with [`named`] connections, reverse-HTTP tunnels,
//! which gwd-reverse provides). Bodies stream through without being
//! buffered. Everything a request reads is in a [`Proxy`] built once from
//! the config; only counters, the balancers' state and queues, server
//! status records and the per-server pools change, each without a lock
//! held across an await.
//!
//! Invariants:
//! - every request produces exactly one access-log line, when its response
//!   has been delivered or abandoned;
//! - a server connection is returned to its pool only after its response
//!   body was read to the end; anything else closes it;
//! - gauges (current connections, requests in progress) are RAII guards,
//!   so they return to zero whatever path a request takes.
//!
//! Statistics over HTTP (`stats.uri` pages and the `prometheus-exporter`
//! service, see [`stats_http`]) are local answers rendered by a
//! [`StatsEndpoints`] the composition crate installs on the [`Proxy`].
//!
//! Reverse HTTP builds on this crate from above (gwd-reverse): the
//! [`named`] seam for `rhttp@` servers' tunnels, [`serve_stream`] to run a
//! request arriving on a dialed tunnel through its frontend, and
//! [`ConnCtx::renewed`] to follow reloads.
//!
//! Depends on: config (model), sample (rules), tls and listen (I/O set-up),
//! pool and stats (pure state). Never on the composition crate, nor on the
//! runtime API crate (gwd-admin), nor on gwd-rhttp.

pub mod access_log;
pub mod backend;
pub mod body;
pub mod clock;
mod compress;
pub mod conn_io;
mod context;
mod core;
pub mod error_page;
pub mod headers;
mod heap;
mod local;
pub mod named;
mod state;
pub mod stats_http;
mod tcp;
mod upstream;
mod visitor;
mod wire;

pub use body::{Body, BoxError};
pub use conn_io::StopSignal;
pub use core::{ConnCtx, Renewal};
pub use state::{BackendRt, BuildError, FrontendRt, Proxy, ServerRt, server_tls};
pub use stats_http::StatsEndpoints;
pub use tcp::{TcpView, connection_allowed, serve_tcp};
pub use upstream::{ServerPool, UpstreamError, UpstreamErrorKind};
pub use visitor::h2::{handle_http, serve_stream, serve_stream_relaying};
pub use visitor::serve_connection;
