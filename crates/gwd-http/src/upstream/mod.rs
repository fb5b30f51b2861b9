//! The upstream seam: where the core sends a request once it has chosen a
//! server, and what comes back.
//!
//! # Model
//!
//! [`Upstream::send`] takes one attempt ([`Attempt`]: which server, and
//! whether a fresh connection is required) and the request, and returns
//! the response head with its body, or an [`UpstreamFailure`]: an
//! [`UpstreamError`] that says what went wrong and where, plus the request
//! itself whenever it never reached the server (tokio's `SendError<T>`
//! idea), so the retry loop (`core::retry`) can offer it elsewhere.
//!
//! Two implementations sit behind it, chosen per server by [`ProxyUpstream`]:
//! network servers ([`network`]: the pool or a new TCP/TLS connection,
//! HTTP/1.1 on gwd-h1 or HTTP/2) and servers with named connections
//! ([`named`]: reverse-HTTP tunnels, through the
//! [`NamedConns`](crate::named::NamedConns) another crate provides).
//! The core never touches a socket; the unit tests of the retry loop drive
//! it with a scripted upstream and no sockets at all.
//!
//! # Invariants
//!
//! * A request is handed back only if no byte of it was written, or if the
//!   peer proved it unprocessed (HTTP/2 REFUSED_STREAM, GOAWAY below its
//!   id), and its body was never polled.
//! * `timeout server` bounds the wait for the response head from the
//!   moment the request is completely sent: a slow upload is the client's
//!   time, not the server's.

pub(crate) mod conn;
pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod named;
pub(crate) mod network;
pub(crate) mod pool;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gwd_head::{RequestHead, ResponseHead};

use crate::body::{Body, BoxError};
use crate::core::ConnCtx;
use crate::state::{Proxy, ServerRt};
use gwd_stats::ServerCounters;

pub use pool::ServerPool;

/// A server of a backend, by position in the config.
pub(crate) type ServerRef = gwd_config::ServerAt;

/// The request as upstreams take it: shaped for forwarding (hop-by-hop
/// fields gone, gwd's own fields added), protocol-neutral.
#[derive(Debug)]
pub(crate) struct OutRequest {
    pub head: RequestHead,
    /// `None`: the request has no body.
    pub body: Option<Body>,
    /// Transfer codings applied before chunked on the visitor's side
    /// (`gzip` of `gzip, chunked`), forwarded to HTTP/1.1 servers as is.
    pub codings: Option<Box<str>>,
    /// The visitor asked for a protocol switch (WebSocket) that gwd relays.
    pub upgrade: bool,
    /// The visitor's connection is TLS (the scheme HTTP/2 servers see).
    pub tls: bool,
    /// Where the request body's bytes are counted (`bin`): set to the
    /// server the request is sent to, once.
    pub body_server: BodyServer,
    /// Where the server's `1xx` answers go (`None`: dropped).
    pub interim: Option<crate::core::interim::InterimTo>,
}

/// The server a request body's bytes are counted on, once known.
pub(crate) type BodyServer = Option<Arc<OnceLock<Arc<ServerCounters>>>>;

impl OutRequest {
    /// A bodyless request built again from a kept head (`retry-on` after
    /// the first copy was sent).
    pub fn replay(
        head: RequestHead,
        tls: bool,
        interim: Option<crate::core::interim::InterimTo>,
    ) -> OutRequest {
        OutRequest {
            head,
            body: None,
            codings: None,
            upgrade: false,
            tls,
            body_server: None,
            interim,
        }
    }

    /// The request is being sent to `server`: its body's bytes count
    /// there.
    pub fn mark_sent_to(&self, server: &ServerRt) {
        if let Some(slot) = &self.body_server {
            let _ = slot.set(server.counters.clone());
        }
    }

    /// True when the method is idempotent (RFC 9110 §9.2.2): a request
    /// whose connection died before any answer may be sent again.
    pub fn is_idempotent(&self) -> bool {
        use gwd_head::Method;
        matches!(
            self.head.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        )
    }
}

/// What a server answered.
#[derive(Debug)]
pub(crate) struct UpstreamResponse {
    pub head: ResponseHead,
    pub body: ResponseBody,
    /// How the attempt went (for the log line).
    pub report: SendReport,
}

/// A response body as it comes from an upstream.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// No body (HEAD, 204, 304, or an empty HTTP/2 stream).
    Empty,
    /// Bytes to relay. `codings`: transfer codings an HTTP/1.1 server
    /// applied before chunked, to forward to an HTTP/1.1 visitor.
    Stream {
        body: Body,
        codings: Option<Box<str>>,
    },
    /// A `101` on an HTTP/1.1 server connection: from here on raw bytes
    /// both ways.
    Upgraded(h1::Upgraded),
}

/// Timings and facts of one attempt, for the access log.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SendReport {
    /// Time spent waiting for a free slot (`tunnel-wait`).
    pub queue: Duration,
    /// Time to connect; zero for a reused connection.
    pub connect: Duration,
    /// The connection came from the pool.
    pub reused: bool,
    /// From the request written to the response head.
    pub response: Duration,
}

/// One try at sending a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub server: ServerRef,
    /// Open a new connection even if the pool has one (the previous
    /// attempt's pooled connection died under the request).
    pub fresh: bool,
    /// The first request of its visitor connection (`http-reuse safe`).
    pub first_request: bool,
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// TCP, TLS or the HTTP/2 handshake failed; nothing was sent.
    ConnectFailed,
    /// `timeout connect` passed; nothing was sent.
    ConnectTimeout,
    /// The request never left: the connection or tunnel was closing, or
    /// the peer refused the stream unprocessed.
    Refused,
    /// A reused connection closed after the request was written and before
    /// any byte of an answer (the server timed it out while idle, or
    /// crashed on the request: the two cannot be told apart).
    ClosedBeforeResponse,
    /// No response head within `timeout server` once the request was sent.
    ResponseTimeout,
    /// The response head was malformed or cut, or the connection failed
    /// while waiting for it.
    BadResponse,
    /// The visitor's request body was malformed (a broken chunk): the
    /// client's fault, not the server's.
    RequestBody,
    /// The visitor went away during its request body.
    ClientAborted,
    /// The visitor's request body stalled past `timeout client`.
    RequestBodyTimeout,
    /// `rhttp@` server: the request yields no tunnel name.
    NoTunnelName,
    /// `rhttp@` server: no tunnel registered under the name.
    NoTunnel,
    /// `rhttp@` server: every tunnel for the name is at its stream limit.
    TunnelsSaturated,
}

/// An attempt's failure: its kind, the server it happened on, and the
/// underlying cause when there is one.
#[derive(Debug)]
pub struct UpstreamError {
    kind: UpstreamErrorKind,
    source: Option<BoxError>,
}

impl UpstreamError {
    pub(crate) fn new(kind: UpstreamErrorKind) -> Self {
        UpstreamError { kind, source: None }
    }

    pub(crate) fn with_source(kind: UpstreamErrorKind, source: impl Into<BoxError>) -> Self {
        UpstreamError {
            kind,
            source: Some(source.into()),
        }
    }

    pub fn kind(&self) -> UpstreamErrorKind {
        self.kind
    }

    /// Nothing of the request reached the server: safe to send elsewhere
    /// whatever the method.
    pub fn never_sent(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::ConnectFailed
                | UpstreamErrorKind::ConnectTimeout
                | UpstreamErrorKind::Refused
                | UpstreamErrorKind::NoTunnelName
                | UpstreamErrorKind::NoTunnel
                | UpstreamErrorKind::TunnelsSaturated
        )
    }

    /// The failure happened while connecting (counts as `econ`).
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::ConnectFailed | UpstreamErrorKind::ConnectTimeout
        )
    }

    /// The visitor, not the server, caused it.
    pub fn is_client_side(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::RequestBody
                | UpstreamErrorKind::RequestBodyTimeout
                | UpstreamErrorKind::ClientAborted
        )
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            UpstreamErrorKind::ConnectFailed => "connection to server failed",
            UpstreamErrorKind::ConnectTimeout => "connect timeout",
            UpstreamErrorKind::Refused => "request refused before it was sent",
            UpstreamErrorKind::ClosedBeforeResponse => "connection closed before any response",
            UpstreamErrorKind::ResponseTimeout => "server timeout waiting for response",
            UpstreamErrorKind::BadResponse => "invalid or incomplete response from server",
            UpstreamErrorKind::RequestBody => "malformed request body",
            UpstreamErrorKind::ClientAborted => "client aborted during the request body",
            UpstreamErrorKind::RequestBodyTimeout => "request body stalled (timeout client)",
            UpstreamErrorKind::NoTunnelName => "no tunnel name for request",
            UpstreamErrorKind::NoTunnel => "no tunnel for name",
            UpstreamErrorKind::TunnelsSaturated => "tunnels saturated",
        };
        match &self.source {
            Some(s) => write!(f, "{what}: {s}"),
            None => f.write_str(what),
        }
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// A failed attempt, with the request when it never left.
#[derive(Debug)]
pub(crate) struct UpstreamFailure {
    pub error: UpstreamError,
    pub request: Option<OutRequest>,
    pub report: SendReport,
}

impl UpstreamFailure {
    pub(crate) fn new(error: UpstreamError, request: Option<OutRequest>) -> Self {
        UpstreamFailure {
            error,
            request,
            report: SendReport::default(),
        }
    }
}

/// Where requests go once a server is chosen.
pub(crate) trait Upstream {
    fn send(
        &self,
        attempt: Attempt,
        request: OutRequest,
    ) -> impl Future<Output = Result<UpstreamResponse, UpstreamFailure>> + Send;
}

/// The proxy's upstream: each server is either reached over the network
/// or through its named connections (reverse-HTTP tunnels).
#[derive(Debug, Clone)]
pub(crate) struct ProxyUpstream {
    /// The visitor connection the requests come from: tunnel names are
    /// computed from the request as the frontend sees it.
    pub cx: Arc<ConnCtx>,
}

impl Upstream for ProxyUpstream {
    async fn send(
        &self,
        attempt: Attempt,
        request: OutRequest,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        let proxy: &Arc<Proxy> = &self.cx.proxy;
        let be = proxy.backend(attempt.server.backend);
        let server = be.server(attempt.server.server);
        if let Some(conns) = &server.named {
            // Boxed: only `rhttp@` servers take this path; inline, its
            // state would weigh on every request's future.
            Box::pin(named::send(&self.cx, attempt.server, &**conns, request)).await
        } else {
            let limits = gwd_h1::Limits {
                max_head: proxy.config.global.max_header_size,
                ..gwd_h1::Limits::default()
            };
            network::send(server, be.conf.timeouts, limits, attempt, request).await
        }
    }
}
