//! Passive health checks (`observe layer4|layer7`): what real requests
//! see counts against their server. `error-limit` consecutive errors
//! trigger `on-error` on the server's active-check state; a success in
//! between starts the count again.
//!
//! Per request this is one relaxed atomic load (and a store only when the
//! count was not zero); the rest runs only when the limit is reached.

use std::sync::atomic::{AtomicU32, Ordering};

use gwd_config::{Observe, OnError};

/// One server's passive check state.
#[derive(Debug)]
pub struct Passive {
    conf: Observe,
    errors: AtomicU32,
}

/// What a request saw of its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A connection failed.
    ConnectFailed,
    /// A connection timed out.
    ConnectTimeout,
    /// No (valid) answer in time, or an invalid one (layer7).
    BadResponse,
    /// A 5xx status but 501 and 505 (layer7).
    ServerError(u16),
    /// A usable answer.
    Fine,
}

impl Seen {
    /// HAProxy's wording in the `info` of the resulting log line.
    fn text(self) -> String {
        match self {
            Seen::ConnectFailed => "L4 unsuccessful connection".into(),
            Seen::ConnectTimeout => "L4 timeout".into(),
            Seen::BadResponse => "L7 invalid response or timeout".into(),
            Seen::ServerError(code) => format!("L7 status {code}"),
            Seen::Fine => String::new(),
        }
    }

    /// The status of a relayed answer.
    pub fn of_status(status: u16) -> Seen {
        if status >= 500 && status != 501 && status != 505 {
            Seen::ServerError(status)
        } else {
            Seen::Fine
        }
    }
}

/// The limit was reached: what to do, and the info for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripped {
    pub action: OnError,
    pub info: String,
}

impl Passive {
    pub fn new(conf: Observe) -> Passive {
        Passive {
            conf,
            errors: AtomicU32::new(0),
        }
    }

    /// Counts what a request saw; `Some` when it completes `error-limit`
    /// consecutive errors (the count starts again).
    pub fn observe(&self, seen: Seen) -> Option<Tripped> {
        let counts = match seen {
            Seen::Fine => false,
            Seen::ConnectFailed | Seen::ConnectTimeout => true,
            Seen::BadResponse | Seen::ServerError(_) => self.conf.layer7,
        };
        if !counts {
            if matches!(seen, Seen::Fine) && self.errors.load(Ordering::Relaxed) != 0 {
                self.errors.store(0, Ordering::Relaxed);
            }
            return None;
        }
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n < self.conf.error_limit {
            return None;
        }
        // Whoever completes the limit resets it; racing requests may add a
        // few more errors to the next round, which only makes it sooner.
        self.errors.store(0, Ordering::Relaxed);
        Some(Tripped {
            action: self.conf.on_error,
            info: format!(
                "Detected {} consecutive errors, last one was: {}",
                self.conf.error_limit,
                seen.text()
            ),
        })
    }
}

impl crate::state::Proxy {
    /// What a request saw of server `at`, for its passive checks (a no-op
    /// for servers without `observe`).
    pub(crate) fn passive_seen(&self, at: gwd_config::ServerAt, seen: Seen) {
        let server = self.server(at);
        let Some(passive) = &server.passive else {
            return;
        };
        let Some(tripped) = passive.observe(seen) else {
            return;
        };
        let now = std::time::Instant::now();
        tracing::debug!(
            backend = %self.backend(at.backend).conf.name,
            server = %server.conf.name,
            info = %tripped.info,
            "passive check tripped"
        );
        if let Some((t, outcome)) = server
            .status
            .passive_tripped(tripped.action, tripped.info, now)
        {
            let (b, s) = (at.backend.index(), at.server.index());
            super::health::apply_transition(self, b, s, t, &outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passive(layer7: bool, limit: u32) -> Passive {
        Passive::new(Observe {
            layer7,
            error_limit: limit,
            on_error: OnError::MarkDown,
        })
    }

    #[test]
    fn consecutive_errors_trip_and_a_success_resets() {
        let p = passive(false, 3);
        assert_eq!(p.observe(Seen::ConnectFailed), None);
        assert_eq!(p.observe(Seen::ConnectTimeout), None);
        assert_eq!(p.observe(Seen::Fine), None);
        assert_eq!(p.observe(Seen::ConnectFailed), None);
        assert_eq!(p.observe(Seen::ConnectFailed), None);
        let t = p.observe(Seen::ConnectFailed).expect("third in a row");
        assert_eq!(t.action, OnError::MarkDown);
        assert_eq!(
            t.info,
            "Detected 3 consecutive errors, last one was: L4 unsuccessful connection"
        );
        // Counting starts again.
        assert_eq!(p.observe(Seen::ConnectFailed), None);
    }

    #[test]
    fn layer4_ignores_statuses_and_layer7_counts_5xx_but_501_and_505() {
        let l4 = passive(false, 1);
        assert_eq!(l4.observe(Seen::of_status(503)), None);
        assert_eq!(l4.observe(Seen::BadResponse), None);
        let l7 = passive(true, 1);
        assert_eq!(l7.observe(Seen::of_status(501)), None);
        assert_eq!(l7.observe(Seen::of_status(505)), None);
        assert_eq!(l7.observe(Seen::of_status(404)), None);
        let t = l7.observe(Seen::of_status(502)).expect("a 502 counts");
        assert!(t.info.ends_with("L7 status 502"), "{}", t.info);
        assert!(l7.observe(Seen::BadResponse).is_some());
    }
}
