//! The TCP-mode parts of the model: a proxy's `mode` and the
//! `tcp-request connection|content` rules with `inspect-delay`.
//!
//! Invariants the loader guarantees: a `mode = "tcp"` frontend routes
//! only to `mode = "tcp"` backends and an HTTP frontend only to HTTP
//! backends (HAProxy refuses the one and gwd does not upgrade the other);
//! `connection` rules use connection fetches only (addresses, `fe_*`,
//! constants: they run before any TLS handshake), `content` rules and a
//! TCP frontend's `use_backend` rules may also use content fetches
//! (`req.len`, `req.ssl_sni`, ...); a TCP frontend has no HTTP rules
//! (they are warned about and dropped, as HAProxy ignores them).

use std::time::Duration;

use gwd_sample::Condition;

/// `mode`: what a proxy speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ProxyMode {
    /// `http` (the default): requests are parsed, rules run per request.
    #[default]
    Http,
    /// `tcp`: bytes are relayed both ways between the client and one
    /// server, with connection and content rules before the relay.
    Tcp,
}

impl ProxyMode {
    /// The configuration word (`http`, `tcp`).
    pub fn name(self) -> &'static str {
        match self {
            ProxyMode::Http => "http",
            ProxyMode::Tcp => "tcp",
        }
    }
}

/// A frontend's `tcp-request connection` and `content` rules.
#[derive(Debug, Clone, Default)]
pub struct TcpRequest {
    /// `tcp-request.connection`: run on each accepted connection before
    /// its TLS handshake; the first `accept` or `reject` whose condition
    /// holds ends them. A reject closes the connection and counts `dcon`.
    pub connection: Vec<TcpRule>,
    /// `tcp-request.content`: run once the content is settled (see
    /// [`TcpRequest::inspect_delay`]) in a TCP frontend; a reject closes
    /// the connection and counts `dreq`.
    pub content: Vec<TcpRule>,
    /// `tcp-request.inspect-delay`: how long the first bytes a client
    /// sends are buffered for the content rules and `use_backend` before
    /// deciding. `None`: no wait, the rules see what already arrived.
    pub inspect_delay: Option<Duration>,
}

/// One `tcp-request connection|content` rule.
#[derive(Debug, Clone)]
pub struct TcpRule {
    /// What it does when its condition holds.
    pub action: TcpAction,
    /// `if`/`unless` folded in; `None` always applies.
    pub cond: Option<Condition>,
}

/// What a `tcp-request connection|content` rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAction {
    /// `accept`: stop evaluating this rule set; the connection goes on.
    Accept,
    /// `reject`: close the connection at once.
    Reject,
}
