//! Every way a request ends without a server's answer, in one table: the
//! status gwd answers, the reason its log line gives, the termination
//! state, and the error counter it is blamed on.
//!
//! | outcome | status | termination | counted as | log reason |
//! |---|---|---|---|---|
//! | `Returned` | the rule's | `--` | nothing | `http-request return` |
//! | `Service` | the service's | `--` | nothing | `http-request use-service` |
//! | `Redirected` | the rule's code | `LR` | nothing | `http-request redirect` |
//! | `RewriteFailed` | 500 | `PR` | `wrew` of the frontend (and of the backend once chosen) | `http-request rewrite failed` |
//! | `StatsPage` | 200 (503 unrendered) | `--` | nothing | `stats page unavailable` |
//! | `StatsAuth` | 401 | `PR` | nothing | `stats authentication required` |
//! | `AuthRequired` | 401 | `LR` | nothing | `authentication required by http-request auth` |
//! | `Denied` | 403 (or the rule's) | `PR` | `dreq` of the denying proxy | `denied by http-request deny` |
//! | `Tarpitted` | 500 (or the rule's), after `timeout tarpit` | `PT` | `dreq` of the denying proxy | `tarpitted by http-request tarpit` |
//! | `ResponseDenied` | 502 (or the rule's) | `PH` | nothing | `denied by http-response deny` |
//! | `ResponseRewriteFailed` | 502 | `PH` | `wrew` | `http-response rewrite failed` |
//! | `HeadTooLarge` | 431 | `RR` | `ereq` | `request header too large` |
//! | `BadRequest` | 400 | `PR` | `ereq` | what was wrong |
//! | `MethodNotSupported` | 501 | `PR` | `ereq` | `CONNECT is not supported` |
//! | `RequestBody` | 400 | `PD` | `ereq` | `invalid request body` |
//! | `RequestBodyTimeout` | 408 | `cD` | `ereq` | `timeout client` |
//! | `ClientAborted` | none (logged `-1`) | `CD` | nothing | `client aborted during the request body` |
//! | `NoBackend` | 503 | `SC` | nothing | `no backend for this request` |
//! | `NoServer` | 503 | `SC` | `econ` (backend) | `no server available in backend` |
//! | `QueueTimeout` | 503 | `sQ` | nothing (HAProxy counts no error) | `timeout queue` |
//! | `ConnectFailed` | 503 | `SC` | `econ` once, on the last server and its backend, with the 503 | `connection to server failed` |
//! | `ConnectTimeout` | 503 | `sC` | as above | `connect timeout` |
//! | `KeptRefusing` | 503 | `SC` | `econ` | `tunnels kept refusing the request` / `server kept refusing the request` |
//! | `NoTunnelName` | 503 | `SC` | `econ` | `no tunnel name for request` |
//! | `NoTunnel` | 503 | `SC` | `econ` | `no tunnel for name` |
//! | `TunnelsSaturated` | 503 | `SC` | `econ` | `tunnels saturated` |
//! | `ResponseTimeout` | 504 | `sH` | `eresp` | `server timeout waiting for response` |
//! | `BadResponse` | 502 | `SH` | `eresp` | `invalid or incomplete response from server` |
//! | `TunnelFailed` | 502 | `SH` | `eresp` | `tunnel failed before the response` |
//! | `NoSwitch` | 502 | `SH` | `eresp` | `server did not switch protocols` |
//!
//! Attempts made again after a failure count in `wretr` (and `wredis`
//! when they moved to another server) as the retry loop's observer sees
//! them; tunnel failures, never retried, count `econ` as they happen;
//! this table covers what the final answer adds.

use crate::access_log::{Ender, Phase};
use crate::upstream::{UpstreamError, UpstreamErrorKind};

/// A request's end that gwd answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Returned,
    Service,
    /// `http-request redirect`.
    Redirected,
    /// A rewrite (or a redirect's location) that is no valid request.
    RewriteFailed,
    StatsPage,
    StatsAuth,
    /// `http-request auth`: credentials asked for.
    AuthRequired,
    /// Denied by a rule of the frontend (`false`) or the backend (`true`).
    Denied {
        by_backend: bool,
    },
    /// `http-request tarpit` of the frontend or the backend: answered
    /// after the tarpit delay.
    Tarpitted {
        by_backend: bool,
    },
    HeadTooLarge,
    BadRequest(&'static str),
    MethodNotSupported,
    RequestBody,
    RequestBodyTimeout,
    ClientAborted,
    NoBackend,
    NoServer,
    /// `timeout queue` passed while every server was at its `maxconn`.
    QueueTimeout,
    ConnectFailed,
    ConnectTimeout,
    KeptRefusing {
        tunnel: bool,
    },
    NoTunnelName,
    NoTunnel,
    TunnelsSaturated,
    ResponseTimeout,
    BadResponse,
    TunnelFailed,
    /// An HTTP/2 WebSocket (extended CONNECT) the server answered without
    /// switching protocols.
    NoSwitch,
    /// `http-response deny`: the server's answer replaced by an error.
    ResponseDenied,
    /// An `http-response` rewrite whose result is no valid head.
    ResponseRewriteFailed,
}

/// Who an outcome is counted against, beyond the response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blame {
    /// No error counter.
    Nobody,
    /// `ereq` on the frontend: a malformed or oversized request.
    Request,
    /// `dreq` on the proxy whose rule denied.
    Denied { by_backend: bool },
    /// `wrew` on the frontend, and on the backend when one is chosen
    /// (HAProxy's `failed_rewrites`).
    Rewrite,
    /// `econ` on the backend: nothing to connect to.
    Backend,
    /// `econ` on the last server tried and its backend, and the 503 on
    /// that server: a request whose every connection attempt failed
    /// counts one connection error, as HAProxy's (its retries count in
    /// `wretr`).
    LastServer,
    /// `econ` on the server and its backend.
    ServerConnect,
    /// `eresp` on the server and its backend.
    ServerResponse,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    /// `None`: the answer's own status (rules, services).
    pub status: Option<u16>,
    /// The visitor is gone: nothing is answered, counted or logged as a
    /// status (the line says `-1`, as HAProxy's).
    pub unanswered: bool,
    pub reason: &'static str,
    pub ender: Ender,
    pub phase: Phase,
    pub blame: Blame,
}

impl Outcome {
    /// The row of the table for this outcome.
    pub fn spec(self) -> Spec {
        use Blame as B;
        use Ender as E;
        use Phase as P;
        let row = |status, reason, ender, phase, blame| Spec {
            status,
            unanswered: false,
            reason,
            ender,
            phase,
            blame,
        };
        match self {
            Outcome::Returned => row(None, "http-request return", E::None, P::None, B::Nobody),
            Outcome::Service => row(
                None,
                "http-request use-service",
                E::None,
                P::None,
                B::Nobody,
            ),
            Outcome::Redirected => row(
                None,
                "http-request redirect",
                E::Local,
                P::Request,
                B::Nobody,
            ),
            Outcome::RewriteFailed => row(
                Some(500),
                "http-request rewrite failed",
                E::Proxy,
                P::Request,
                B::Rewrite,
            ),
            Outcome::StatsPage => row(None, "stats page unavailable", E::None, P::None, B::Nobody),
            Outcome::StatsAuth => row(
                Some(401),
                "stats authentication required",
                E::Proxy,
                P::Request,
                B::Nobody,
            ),
            // HAProxy 2.6.12 logs `LR--`: a local answer, not a denial.
            Outcome::AuthRequired => row(
                Some(401),
                "authentication required by http-request auth",
                E::Local,
                P::Request,
                B::Nobody,
            ),
            Outcome::Denied { by_backend } => row(
                None,
                "denied by http-request deny",
                E::Proxy,
                P::Request,
                B::Denied { by_backend },
            ),
            Outcome::Tarpitted { by_backend } => row(
                None,
                "tarpitted by http-request tarpit",
                E::Proxy,
                P::Tarpit,
                B::Denied { by_backend },
            ),
            Outcome::ResponseDenied => row(
                None,
                "denied by http-response deny",
                E::Proxy,
                P::Headers,
                B::Nobody,
            ),
            Outcome::ResponseRewriteFailed => row(
                Some(502),
                "http-response rewrite failed",
                E::Proxy,
                P::Headers,
                B::Rewrite,
            ),
            Outcome::HeadTooLarge => row(
                Some(431),
                "request header too large",
                E::Resource,
                P::Request,
                B::Request,
            ),
            Outcome::BadRequest(reason) => row(Some(400), reason, E::Proxy, P::Request, B::Request),
            Outcome::MethodNotSupported => row(
                Some(501),
                "CONNECT is not supported",
                E::Proxy,
                P::Request,
                B::Request,
            ),
            Outcome::RequestBody => row(
                Some(400),
                "invalid request body",
                E::Proxy,
                P::Data,
                B::Request,
            ),
            Outcome::RequestBodyTimeout => row(
                Some(408),
                "timeout client",
                E::ClientTimeout,
                P::Data,
                B::Request,
            ),
            Outcome::ClientAborted => Spec {
                unanswered: true,
                ..row(
                    Some(400),
                    "client aborted during the request body",
                    E::Client,
                    P::Data,
                    B::Nobody,
                )
            },
            Outcome::NoBackend => row(
                Some(503),
                "no backend for this request",
                E::Server,
                P::Connect,
                B::Nobody,
            ),
            Outcome::NoServer => row(
                Some(503),
                "no server available in backend",
                E::Server,
                P::Connect,
                B::Backend,
            ),
            Outcome::QueueTimeout => row(
                Some(503),
                "timeout queue",
                E::ServerTimeout,
                P::Queue,
                B::Nobody,
            ),
            Outcome::ConnectFailed => row(
                Some(503),
                "connection to server failed",
                E::Server,
                P::Connect,
                B::LastServer,
            ),
            Outcome::ConnectTimeout => row(
                Some(503),
                "connect timeout",
                E::ServerTimeout,
                P::Connect,
                B::LastServer,
            ),
            Outcome::KeptRefusing { tunnel } => row(
                Some(503),
                if tunnel {
                    "tunnels kept refusing the request"
                } else {
                    "server kept refusing the request"
                },
                E::Server,
                P::Connect,
                B::ServerConnect,
            ),
            Outcome::NoTunnelName => row(
                Some(503),
                "no tunnel name for request",
                E::Server,
                P::Connect,
                B::Nobody,
            ),
            Outcome::NoTunnel => row(
                Some(503),
                "no tunnel for name",
                E::Server,
                P::Connect,
                B::Nobody,
            ),
            Outcome::TunnelsSaturated => row(
                Some(503),
                "tunnels saturated",
                E::Server,
                P::Connect,
                B::Nobody,
            ),
            Outcome::ResponseTimeout => row(
                Some(504),
                "server timeout waiting for response",
                E::ServerTimeout,
                P::Headers,
                B::ServerResponse,
            ),
            Outcome::BadResponse => row(
                Some(502),
                "invalid or incomplete response from server",
                E::Server,
                P::Headers,
                B::ServerResponse,
            ),
            Outcome::TunnelFailed => row(
                Some(502),
                "tunnel failed before the response",
                E::Server,
                P::Headers,
                B::ServerResponse,
            ),
            Outcome::NoSwitch => row(
                Some(502),
                "server did not switch protocols",
                E::Server,
                P::Headers,
                B::ServerResponse,
            ),
        }
    }

    /// The final outcome of a request whose last attempt failed with
    /// `error` on a network server (`tunnel == false`) or a tunnel.
    /// `exhausted`: the retry loop gave up on a request that kept being
    /// refused unsent.
    pub fn of_upstream(error: &UpstreamError, tunnel: bool, exhausted: bool) -> Outcome {
        use UpstreamErrorKind as K;
        match error.kind() {
            K::ConnectFailed => Outcome::ConnectFailed,
            K::ConnectTimeout => Outcome::ConnectTimeout,
            K::Refused if exhausted => Outcome::KeptRefusing { tunnel },
            K::Refused | K::ClosedBeforeResponse | K::BadResponse if tunnel => {
                Outcome::TunnelFailed
            }
            K::Refused | K::ClosedBeforeResponse | K::BadResponse => Outcome::BadResponse,
            K::ResponseTimeout => Outcome::ResponseTimeout,
            K::RequestBody => Outcome::RequestBody,
            K::RequestBodyTimeout => Outcome::RequestBodyTimeout,
            K::ClientAborted => Outcome::ClientAborted,
            K::NoTunnelName => Outcome::NoTunnelName,
            K::NoTunnel => Outcome::NoTunnel,
            K::TunnelsSaturated => Outcome::TunnelsSaturated,
        }
    }
}

/// Whether a failed attempt counts `econ` on its server and backend as it
/// happens (the retry loop's observer uses this).
pub(crate) fn attempt_counts_connect_error(error: &UpstreamError) -> bool {
    use UpstreamErrorKind as K;
    matches!(
        error.kind(),
        K::NoTunnelName | K::NoTunnel | K::TunnelsSaturated
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_failure_has_a_5xx_and_every_client_failure_a_4xx() {
        use UpstreamErrorKind as K;
        for kind in [
            K::ConnectFailed,
            K::ConnectTimeout,
            K::Refused,
            K::ClosedBeforeResponse,
            K::ResponseTimeout,
            K::BadResponse,
            K::NoTunnelName,
            K::NoTunnel,
            K::TunnelsSaturated,
            K::RequestBody,
            K::RequestBodyTimeout,
            K::ClientAborted,
        ] {
            for tunnel in [false, true] {
                let e = UpstreamError::new(kind);
                let spec = Outcome::of_upstream(&e, tunnel, false).spec();
                let status = spec.status.expect("upstream failures have a fixed status");
                if e.is_client_side() {
                    assert!((400..500).contains(&status), "{kind:?} -> {status}");
                    let blame = if kind == K::ClientAborted {
                        Blame::Nobody
                    } else {
                        Blame::Request
                    };
                    assert_eq!(spec.blame, blame, "{kind:?}");
                } else {
                    assert!((500..600).contains(&status), "{kind:?} -> {status}");
                    assert_ne!(spec.blame, Blame::Request, "{kind:?}");
                }
            }
        }
    }

    #[test]
    fn timeouts_are_lower_case_terminations() {
        assert_eq!(Outcome::ConnectTimeout.spec().ender, Ender::ServerTimeout);
        assert_eq!(Outcome::ResponseTimeout.spec().ender, Ender::ServerTimeout);
        assert_eq!(
            Outcome::RequestBodyTimeout.spec().ender,
            Ender::ClientTimeout
        );
        assert_eq!(Outcome::ConnectFailed.spec().ender, Ender::Server);
    }

    #[test]
    fn refusals_become_kept_refusing_only_once_exhausted() {
        let e = UpstreamError::new(UpstreamErrorKind::Refused);
        assert_eq!(
            Outcome::of_upstream(&e, true, true),
            Outcome::KeptRefusing { tunnel: true }
        );
        assert_eq!(Outcome::of_upstream(&e, true, false), Outcome::TunnelFailed);
        assert_eq!(Outcome::of_upstream(&e, false, false), Outcome::BadResponse);
    }
}
