//! Retries: which failures a request is tried again after (`retry-on`)
//! and which retries go to another server (`option redispatch`).

/// `option redispatch [<interval>]`: which retries of a request go to
/// another server, with HAProxy's meaning of the interval.
///
/// - `Redispatch(0)` (`no option redispatch`, `false`): none, every retry
///   stays on the server first chosen;
/// - `Redispatch(p)`, `p > 0`: every `p`-th retry (`1`: every retry, gwd's
///   default);
/// - `Redispatch(-n)`: the `n`-th retry before the end counting the last
///   one as the first (`-1`, HAProxy's `option redispatch` alone, and
///   `true`: the last retry), and every that many retries after it, as
///   HAProxy's modulo does.
///
/// ```
/// use gwd_config::Redispatch;
///
/// // `retries 3`: retries 1, 2 and 3.
/// let which = |r: Redispatch| (1..=3).filter(|&n| r.on_retry(n, 3)).collect::<Vec<_>>();
/// assert_eq!(which(Redispatch::EVERY_RETRY), [1, 2, 3]);
/// assert_eq!(which(Redispatch::LAST_RETRY), [3]);
/// assert_eq!(which(Redispatch(-2)), [2]);
/// assert_eq!(which(Redispatch(2)), [2]);
/// assert_eq!(which(Redispatch::NEVER), []);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redispatch(pub i32);

impl Redispatch {
    /// No retry moves (`false`, `no option redispatch`).
    pub const NEVER: Redispatch = Redispatch(0);
    /// Every retry moves: gwd's default (`option redispatch 1`).
    pub const EVERY_RETRY: Redispatch = Redispatch(1);
    /// The last retry moves: HAProxy's `option redispatch` (`true`).
    pub const LAST_RETRY: Redispatch = Redispatch(-1);

    /// Whether some retries may move (`option redispatch` on: any
    /// interval but 0).
    pub fn is_on(self) -> bool {
        self.0 != 0
    }

    /// Whether retry number `retry` (1 for the first) of at most
    /// `retries` goes to another server: HAProxy's rule, `retry % p == 0`
    /// with `p` the interval, or `retries + 1 + interval` when it is
    /// negative (never when that is not positive).
    pub fn on_retry(self, retry: u32, retries: u32) -> bool {
        let period = if self.0 >= 0 {
            i64::from(self.0)
        } else {
            i64::from(retries) + 1 + i64::from(self.0)
        };
        period > 0 && i64::from(retry) % period == 0
    }
}

impl Default for Redispatch {
    fn default() -> Self {
        Redispatch::EVERY_RETRY
    }
}

/// `retry-on`: the failures after which a request is tried again (up to
/// `retries`). Those after the request reached a server apply only to
/// requests that can be replayed safely: idempotent methods without a
/// body, which gwd then keeps a copy of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// `conn-failure` (HAProxy's default): the connection failed or timed
    /// out; nothing was sent.
    pub conn_failure: bool,
    /// `empty-response`: the server closed without answering.
    pub empty_response: bool,
    /// `junk-response`: the answer's head was invalid or cut.
    pub junk_response: bool,
    /// `response-timeout`: no answer within `timeout.server`.
    pub response_timeout: bool,
    /// Status codes whose answers are dropped for a retry (among 404, 408,
    /// 425, 500, 501, 502, 503, 504).
    pub statuses: StatusSet,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            conn_failure: true,
            empty_response: false,
            junk_response: false,
            response_timeout: false,
            statuses: StatusSet::default(),
        }
    }
}

impl RetryOn {
    /// Whether some failure after the request was sent is retried (so a
    /// copy of a replayable request must be kept).
    pub fn after_sending(&self) -> bool {
        self.empty_response
            || self.junk_response
            || self.response_timeout
            || !self.statuses.is_empty()
    }
}

/// A set of the status codes `retry-on` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSet(u16);

impl StatusSet {
    /// No status.
    pub const EMPTY: StatusSet = StatusSet(0);

    /// The codes `retry-on` names, in bit order.
    pub const CODES: [u16; 8] = [404, 408, 425, 500, 501, 502, 503, 504];

    /// The set with `code` added; `None` when it is not one of [`Self::CODES`].
    pub fn with(self, code: u16) -> Option<StatusSet> {
        let i = Self::CODES.iter().position(|c| *c == code)?;
        Some(StatusSet(self.0 | 1 << i))
    }

    pub fn contains(self, code: u16) -> bool {
        Self::CODES
            .iter()
            .position(|c| *c == code)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}
