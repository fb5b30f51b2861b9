//! Idle PINGs, shared by both sides: after `interval` without any byte
//! from the peer, send a PING; if nothing answers within `interval`, call
//! `kill`. A peer that dies is thus detected within two intervals of its
//! last byte.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::RhttpError;
use crate::io::{CloseReason, Shared};

pub(crate) async fn run<P, F>(
    interval: Duration,
    shared: Arc<Shared>,
    mut ping: P,
    kill: impl FnOnce(),
) where
    P: FnMut() -> Option<F>,
    F: Future<Output = Result<Duration, RhttpError>>,
{
    let mut events = shared.events.subscribe();
    loop {
        let idle = shared.idle_for();
        if idle < interval {
            tokio::select! {
                _ = tokio::time::sleep(interval - idle) => {}
                _ = events.wait_for(|e| e.closed.is_some()) => return,
            }
            continue;
        }
        let Some(fut) = ping() else { return };
        match tokio::time::timeout(interval, fut).await {
            Ok(Ok(rtt)) => shared.record_rtt(rtt),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "rhttp PING failed");
                if shared.events.borrow().closed.is_some() {
                    return;
                }
                shared.mark_closed(CloseReason::PingTimeout);
                kill();
                return;
            }
            Err(_) => {
                tracing::warn!(?interval, "rhttp tunnel PING unanswered, closing it");
                shared.mark_closed(CloseReason::PingTimeout);
                kill();
                return;
            }
        }
    }
}
