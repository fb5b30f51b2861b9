//! gwd's HTTP reverse proxy.
//!
//! Model: each accepted connection runs [`serve_connection`] in its own
//! task. hyper handles HTTP/1.1 and HTTP/2 framing (h2 by ALPN or by the
//! prior-knowledge preface); gwd's handler applies the frontend's rules,
//! picks a backend and a server, and streams the request and response
//! bodies through without buffering them. Client-side timeouts live on the
//! byte stream (`conn_io`), server-side ones on the upstream calls and the
//! response body (`body::Watched`). Everything a request reads is in an
//! immutable [`Proxy`] built once from the config; only counters, the
//! round-robin cursor and the per-server pools change, each without a lock
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
//! Depends on: config (model), sample (rules), tls and listen (I/O set-up),
//! pool and stats (pure state). Never on the composition crate, nor on the
//! runtime API crate (gwd-admin).

pub mod access_log;
pub mod body;
pub mod conn_io;
mod context;
pub mod error_page;
pub mod headers;
mod reverse;
mod serve;
mod service;
mod state;
pub mod stats_http;
pub mod upstream;

pub use body::{Body, BoxError};
pub use reverse::{OriginService, serve_registration};
pub use serve::serve_connection;
pub use state::{BackendRt, BuildError, FrontendRt, Proxy, ServerRt};
pub use stats_http::StatsEndpoints;
