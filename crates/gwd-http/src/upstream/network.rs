//! Network servers: a pooled connection or a new one, then the exchange
//! in the server's protocol (HTTP/1.1 on gwd-h1, or HTTP/2).

use std::time::{Duration, Instant};

use gwd_config::{ServerProto, Timeouts};
use gwd_h1::Limits;

use super::conn::{ConnectError, bounded, dial};
use super::h1::{ServerConn, Settle};
use super::{
    Attempt, OutRequest, SendReport, UpstreamError, UpstreamErrorKind, UpstreamFailure,
    UpstreamResponse, h1, h2,
};
use crate::state::ServerRt;

fn connect_failure(e: ConnectError, req: OutRequest, report: SendReport) -> UpstreamFailure {
    let kind = if e.is_timeout() {
        UpstreamErrorKind::ConnectTimeout
    } else {
        UpstreamErrorKind::ConnectFailed
    };
    UpstreamFailure {
        error: UpstreamError::with_source(kind, e),
        request: Some(req),
        report,
    }
}

/// Sends one attempt to a network server.
pub(crate) async fn send(
    server: &ServerRt,
    timeouts: Timeouts,
    limits: Limits,
    attempt: Attempt,
    req: OutRequest,
) -> Result<UpstreamResponse, UpstreamFailure> {
    match server.conf.proto {
        ServerProto::H1 => send_h1(server, timeouts, limits, attempt, req).await,
        // Boxed: hyper's client futures are large, and inline they would
        // weigh on every request's future, HTTP/1.1 ones included.
        ServerProto::H2 => Box::pin(send_h2(server, timeouts, attempt, req)).await,
    }
}

async fn send_h1(
    server: &ServerRt,
    timeouts: Timeouts,
    limits: Limits,
    attempt: Attempt,
    req: OutRequest,
) -> Result<UpstreamResponse, UpstreamFailure> {
    // A protocol switch gets a connection of its own, never pooled.
    let pooled = if req.upgrade || attempt.fresh {
        None
    } else {
        server.pool.lock().acquire_h1(attempt.first_request)
    };
    let mut report = SendReport {
        reused: pooled.is_some(),
        ..SendReport::default()
    };
    let conn = match pooled {
        Some(c) => {
            server.counters.reused();
            c
        }
        None => {
            server.counters.connect_attempt();
            let t = Instant::now();
            // Boxed: connecting (TCP, then TLS) is a large future and a
            // rare one once pools are warm; inline, it would make every
            // request's future that much larger to move and keep.
            match Box::pin(bounded(timeouts.connect, dial(server))).await {
                Ok(io) => {
                    report.connect = t.elapsed();
                    if !req.upgrade {
                        server.pool.lock().connected_h1();
                    }
                    ServerConn::new(io, server.counters.conn_opened_at(Instant::now()))
                }
                Err(e) => {
                    tracing::debug!(server = %server.conf.name, error = %e, "connect failed");
                    return Err(connect_failure(e, req, report));
                }
            }
        }
    };
    let settle = Settle::new(server.pool.clone(), report.reused, !req.upgrade);
    server.counters.request();
    req.mark_sent_to(server);
    let sent_at = Instant::now();
    match h1::exchange(conn, req, limits, timeouts.server, settle).await {
        Ok((head, body)) => {
            report.response = sent_at.elapsed();
            Ok(UpstreamResponse { head, body, report })
        }
        Err(mut f) => {
            f.report = report;
            Err(f)
        }
    }
}

async fn send_h2(
    server: &ServerRt,
    timeouts: Timeouts,
    attempt: Attempt,
    req: OutRequest,
) -> Result<UpstreamResponse, UpstreamFailure> {
    let shared = if attempt.fresh {
        None
    } else {
        server.pool.lock().shared_h2()
    };
    let mut report = SendReport {
        reused: shared.is_some(),
        connect: Duration::ZERO,
        ..SendReport::default()
    };
    let sender = match shared {
        Some(s) => {
            server.counters.reused();
            s
        }
        None => {
            server.counters.connect_attempt();
            let t = Instant::now();
            match Box::pin(bounded(timeouts.connect, h2::connect(server))).await {
                Ok(s) => {
                    report.connect = t.elapsed();
                    server.pool.lock().connected_h2(&s);
                    s
                }
                Err(e) => {
                    tracing::debug!(server = %server.conf.name, error = %e, "connect failed");
                    return Err(connect_failure(e, req, report));
                }
            }
        }
    };
    server.counters.request();
    req.mark_sent_to(server);
    let sent_at = Instant::now();
    match h2::exchange(sender, req, timeouts.server).await {
        Ok((head, body)) => {
            report.response = sent_at.elapsed();
            Ok(UpstreamResponse { head, body, report })
        }
        Err(mut f) => {
            f.report = report;
            Err(f)
        }
    }
}
