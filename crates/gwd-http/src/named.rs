//! Named server connections: the extension seam for servers whose
//! connections gwd-http does not dial itself.
//!
//! # Model
//!
//! Most servers are reached over the network: gwd-http connects, pools
//! and reuses. Some are not: their connections were opened by the peer
//! and filed under names (reverse HTTP's `rhttp@` servers, whose tunnels
//! origins register). gwd-http knows such a server only through the
//! [`NamedConns`] its [`ServerRt::named`](crate::ServerRt::named) holds,
//! which another crate provides (gwd-reverse, over gwd-rhttp's tunnel
//! registry) when the proxy is built ([`NamedConnsSource`],
//! [`Proxy::with_named`](crate::Proxy::with_named)).
//!
//! For each request to such a server the core computes the name (the
//! server's `pool-conn-name`, evaluated on the request as the frontend
//! sees it), asks [`NamedConns`] for a stream on a connection of that name
//! ([`NamedConns::try_acquire`], or [`NamedConns::acquire`] up to
//! `timeout.tunnel-wait`), and sends the request on it as an gwd-head
//! HTTP/2 request ([`NamedStream::send`]). Everything about the
//! request itself (heads, WebSocket as extended CONNECT, timeouts,
//! counters, the log line, retries) stays in gwd-http.
//!
//! # Invariants
//!
//! * Only servers with named connections pay for the seam (dynamic calls,
//!   boxed futures); a network server's request path has no extra branch
//!   beyond one `Option` test, no allocation and no dynamic dispatch.
//! * A request comes back in [`NamedSendFailed::request`] only if no byte
//!   of it was written (or the peer refused it unprocessed): the retry
//!   loop may then offer it to another connection.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gwd_config::{Backend, Config, Server};
use gwd_head::{RequestHead, ResponseHead};
use gwd_mux_h2::conn::Protocol;

use crate::body::{Body, BoxError};
pub use crate::core::interim::InterimSink;

/// A boxed future, as the seam's dynamic calls return them.
pub type NamedFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The connections of one server, filed under names by their peers.
///
/// `Any`: the crate that provides them reaches its own type again with
/// `(&*conns as &dyn Any).downcast_ref()` (statistics, reloads).
pub trait NamedConns: Any + fmt::Debug + Send + Sync {
    /// A stream on a connection registered under `name`, without
    /// waiting.
    fn try_acquire(&self, name: &str) -> Result<Box<dyn NamedStream>, AcquireError>;

    /// A stream on a connection registered under `name`, waiting up to
    /// `wait` for one to register or to free a stream.
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        wait: Duration,
    ) -> NamedFuture<'a, Result<Box<dyn NamedStream>, AcquireError>>;

    /// Connections registered now, all names together (statistics: an
    /// `rhttp@` server without any is `no tunnel`).
    fn connections(&self) -> u64;
}

/// A stream slot on one named connection, held until the request is
/// sent (or dropped unsent).
pub trait NamedStream: Send {
    /// Sends a request and waits for the response head: `head` shaped for
    /// HTTP/2 (scheme and authority in the URI, no connection-specific
    /// fields), `protocol` for an extended CONNECT (RFC 8441), `body`
    /// `None` when the request has none. The response body streams; its
    /// errors are the peer's. Heads cross the seam as gwd-head heads, as
    /// the HTTP/2 state machine takes and gives them: no header map is
    /// built per request. The peer's interim (`1xx`) heads go to
    /// `interim` as they come, before the final head.
    fn send(
        self: Box<Self>,
        head: RequestHead,
        protocol: Option<Protocol>,
        body: Option<Body>,
        interim: InterimSink,
    ) -> NamedFuture<'static, Result<(ResponseHead, Body), NamedSendFailed>>;
}

/// Why no stream could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireErrorKind {
    /// No connection is registered under the name.
    NoConnection,
    /// Every connection of the name is at its stream limit.
    Saturated,
}

/// No stream for a name: its kind, and the provider's error (logged).
#[derive(Debug)]
pub struct AcquireError {
    pub kind: AcquireErrorKind,
    pub error: BoxError,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// A request that failed on its stream; `request` is the request itself
/// (head and never-polled body) when none of it was written.
#[derive(Debug)]
pub struct NamedSendFailed {
    pub error: BoxError,
    pub request: Option<(RequestHead, Option<Body>)>,
}

/// Where a proxy being built gets the named connections of its servers.
pub trait NamedConnsSource {
    /// The named connections of `server` of `backend` in `config` (the
    /// configuration being built), or `None` for a server gwd-http dials.
    /// `previous`: on a reload, the replaced configuration and the named
    /// connections the same server (by backend and server name) had in
    /// it, to keep them when nothing that admitted them changed.
    fn named_conns(
        &self,
        config: &Config,
        backend: &Backend,
        server: &Server,
        previous: Option<(&Config, &Arc<dyn NamedConns>)>,
    ) -> Option<Arc<dyn NamedConns>>;
}

/// No named connections at all: every server is dialed
/// ([`Proxy::new`](crate::Proxy::new)).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNamedConns;

impl NamedConnsSource for NoNamedConns {
    fn named_conns(
        &self,
        _: &Config,
        _: &Backend,
        _: &Server,
        _: Option<(&Config, &Arc<dyn NamedConns>)>,
    ) -> Option<Arc<dyn NamedConns>> {
        None
    }
}
