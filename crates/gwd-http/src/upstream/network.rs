//! Network servers: a pooled connection or a new one, then the exchange
//! in the server's protocol (HTTP/1.1 on gwd-h1, or HTTP/2).

use std::time::Instant;

use gwd_config::{ServerProto, Timeouts};
use gwd_h1::Limits;

use super::conn::{ConnectError, bounded, dial};
use super::h1::{ServerConn, Settle};
use super::{
    Attempt, OutRequest, ResponseBody, SendReport, UpstreamError, UpstreamErrorKind,
    UpstreamFailure, UpstreamResponse, h1, h2,
};
use crate::state::ServerRt;

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
        // Boxed: the HTTP/2 exchange's future is large, and inline it would
        // weigh on every request's future, HTTP/1.1 ones included.
        ServerProto::H2 => Box::pin(send_h2(server, timeouts, attempt, req)).await,
    }
}

/// The pooled connection when there is one, else a new one opened by
/// `open` within `timeout connect`; counts the reuse or the attempt and
/// notes the connect time in `report`.
///
/// `open` makes the connecting future only when it is needed: a future
/// is as large as its largest state (TCP then TLS here), and every move
/// of one copies all of it, even unstarted; passed by value it was
/// copied on every request, pooled ones included.
async fn reuse_or_connect<C, F>(
    server: &ServerRt,
    timeouts: Timeouts,
    pooled: Option<C>,
    open: impl FnOnce() -> F,
    report: &mut SendReport,
) -> Result<C, ConnectError>
where
    F: Future<Output = Result<C, ConnectError>>,
{
    report.reused = pooled.is_some();
    if let Some(c) = pooled {
        server.counters.reused();
        tracing::debug!(server = %server.conf.name, "reusing an idle server connection");
        return Ok(c);
    }
    server.counters.connect_attempt();
    let t = crate::clock::now_std();
    // Boxed: connecting (TCP, then TLS) is a large future and a rare one
    // once pools are warm; inline, it would make every request's future
    // that much larger to move and keep.
    let r = crate::heap::pin_in_place(|| bounded(timeouts.connect, open())).await;
    report.connect = crate::clock::since(t);
    match &r {
        Ok(_) => tracing::debug!(
            server = %server.conf.name,
            connect_ms = report.connect.as_millis() as u64,
            "server connection opened"
        ),
        Err(e) => tracing::debug!(server = %server.conf.name, error = %e, "connect failed"),
    }
    r
}

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

/// The request goes out on a connection: counted on the server, its
/// body's bytes counted there; returns when, for the response time.
fn going_out(server: &ServerRt, req: &OutRequest) -> Instant {
    let now = crate::clock::now_std();
    server.counters.request_at(now);
    req.mark_sent_to(server);
    now
}

/// Completes the attempt's report with the exchange's outcome.
// The failure carries the request back by value (tokio's `SendError<T>`
// idea), as every upstream's result does: large, and rare.
#[allow(clippy::result_large_err)]
fn answered(
    result: Result<(gwd_head::ResponseHead, ResponseBody), UpstreamFailure>,
    mut report: SendReport,
    sent_at: Instant,
) -> Result<UpstreamResponse, UpstreamFailure> {
    match result {
        Ok((head, body)) => {
            report.response = crate::clock::since(sent_at);
            Ok(UpstreamResponse { head, body, report })
        }
        Err(mut f) => {
            f.report = report;
            Err(f)
        }
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
    let mut report = SendReport::default();
    let conn = match reuse_or_connect(
        server,
        timeouts,
        pooled,
        || dial_h1(server, !req.upgrade),
        &mut report,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return Err(connect_failure(e, req, report)),
    };
    let settle = Settle::new(server.pool.clone(), report.reused, !req.upgrade);
    let sent_at = going_out(server, &req);
    answered(
        h1::exchange(conn, req, limits, timeouts.server, settle, sent_at).await,
        report,
        sent_at,
    )
}

/// A new HTTP/1.1 connection; `pooled`: it counts in the pool's use (a
/// protocol-switch connection does not).
async fn dial_h1(server: &ServerRt, pooled: bool) -> Result<ServerConn, ConnectError> {
    let io = dial(server).await?;
    if pooled {
        server.pool.lock().connected_h1();
    }
    Ok(ServerConn::new(
        io,
        server.counters.conn_opened_at(crate::clock::now_std()),
    ))
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
        server.pool.lock().shared_h2(attempt.first_request)
    };
    let mut report = SendReport::default();
    let open = || async {
        let s = h2::connect(server).await?;
        Ok(server.pool.lock().connected_h2(s))
    };
    let conn = match reuse_or_connect(server, timeouts, shared, open, &mut report).await {
        Ok(s) => s,
        Err(e) => return Err(connect_failure(e, req, report)),
    };
    let sent_at = going_out(server, &req);
    let result = h2::exchange(conn.sender.clone(), req, timeouts.server).await;
    if result.is_ok() && report.reused {
        conn.mark_proven();
    }
    answered(result, report, sent_at)
}
