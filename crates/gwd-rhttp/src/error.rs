//! Error types of the crate.

use std::io;
use std::time::Duration;

use gwd_h2_conn::BodyError;
use gwd_mux_h2::frame::ErrorCode;

/// What went wrong setting up, using or keeping a tunnel.
#[derive(Debug, thiserror::Error)]
pub enum RhttpError {
    /// The TCP connection to the gateway failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The address dialed.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// A step did not finish in time (`what` says which).
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// The step: "connect", "TLS handshake", "reversal handshake", "PING".
        what: &'static str,
        /// The limit that was hit.
        after: Duration,
    },
    /// The TLS handshake failed (on this side: the gateway's certificate
    /// was not accepted, or the connection failed).
    #[error("TLS handshake: {}", describe_tls(.0))]
    Tls(io::Error),
    /// The gateway refused the tunnel with a TLS alert: mostly its verdict
    /// on this origin's client certificate.
    #[error(
        "gateway refused the tunnel: TLS alert {} ({})",
        crate::refusal::alert_name(*.0),
        crate::refusal::alert_meaning(*.0)
    )]
    GatewayAlert(rustls::AlertDescription),
    /// The gateway refused the registration after the TLS handshake: a
    /// GOAWAY before any request, whose debug data says why.
    #[error(
        "gateway refused registration: {} (GOAWAY {})",
        if reason.is_empty() { "no reason given" } else { reason.as_str() },
        code
    )]
    GatewayRefused {
        /// The GOAWAY error code.
        code: ErrorCode,
        /// The GOAWAY debug data, escaped and cut (see [`crate::peer_text`]).
        reason: String,
    },
    /// The TLS session did not negotiate ALPN `h2`.
    #[error("ALPN negotiated {0:?}, expected \"h2\"")]
    NotH2(Option<String>),
    /// The peer closed the connection before sending its first SETTINGS.
    #[error("connection closed during the reversal handshake")]
    ClosedDuringHandshake,
    /// The stream failed after it was sent (reset, or the tunnel closed
    /// under it).
    #[error("HTTP/2 stream: {0}")]
    Stream(#[from] BodyError),
    /// The peer refused the stream without processing it (GOAWAY with a
    /// lower last-stream id, or REFUSED_STREAM): safe to send again
    /// elsewhere, though the request body may already be consumed.
    #[error("stream refused by the peer before processing")]
    Refused,
    /// The request never left: the tunnel was closed or going away. Safe to
    /// retry on another tunnel.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// The tunnel is closed (or closing) and takes no new requests.
    #[error("tunnel is closed")]
    TunnelClosed,
    /// An extended CONNECT (a WebSocket, RFC 8441) on a tunnel whose
    /// origin did not announce SETTINGS_ENABLE_CONNECT_PROTOCOL: nothing
    /// was sent, and sending it again on the same kind of origin cannot
    /// succeed, so the request is not handed back.
    #[error("the origin does not accept extended CONNECT (no SETTINGS_ENABLE_CONNECT_PROTOCOL)")]
    ExtendedConnectRefused,
    /// Writing the preface or reading the socket failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The peer certificate yielded no registration name.
    #[error("peer certificate gives no usable registration name")]
    NoName,
}

/// A TLS error on the origin's side of the handshake, with what to check.
fn describe_tls(e: &io::Error) -> String {
    use rustls::CertificateError as C;
    let Some(inner) = gwd_tls::rustls_error(e) else {
        return e.to_string();
    };
    if gwd_tls::is_x509_v1_error(inner) {
        return format!("{e}: {}", gwd_tls::x509_v1_help("gateway"));
    }
    let hint = match inner {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "the gateway's certificate is not signed by a CA in `ca-file`",
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the gateway's certificate does not name the server name sent (`sni`)"
            }
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => {
                "the gateway's certificate has expired or is not yet valid"
            }
            _ => "the gateway's certificate was not accepted",
        },
        _ => return e.to_string(),
    };
    format!("{e} ({hint})")
}

/// A PING's failure as this crate tells it: the tunnel closed, or else
/// what the stream layer said.
pub(crate) fn ping_error(e: BodyError) -> RhttpError {
    match e {
        BodyError::ConnectionClosed => RhttpError::TunnelClosed,
        other => RhttpError::Stream(other),
    }
}

impl RhttpError {
    /// The error for a TLS failure: [`RhttpError::GatewayAlert`] when the
    /// gateway sent an alert, else [`RhttpError::Tls`].
    pub(crate) fn from_tls(e: io::Error) -> RhttpError {
        match gwd_tls::rustls_error(&e) {
            Some(rustls::Error::AlertReceived(alert)) => RhttpError::GatewayAlert(*alert),
            _ => RhttpError::Tls(e),
        }
    }

    /// True when the gateway refused this origin (a TLS alert or a refusal
    /// GOAWAY): the same attempt will fail again until someone fixes a
    /// certificate or the gateway's rules.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RhttpError::GatewayAlert(_) | RhttpError::GatewayRefused { .. }
        )
    }

    /// True when a deadline was hit.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RhttpError::Timeout { .. })
    }

    /// True when the request certainly did not reach the peer (closed
    /// tunnel, or the peer refused the stream before processing it), so it
    /// may be sent again on another tunnel.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RhttpError::NotSent(_) | RhttpError::TunnelClosed | RhttpError::Refused
        )
    }
}

/// Why [`crate::TunnelRegistry`] could not hand out a tunnel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No tunnel is registered under the name (after waiting, if asked).
    #[error("no tunnel for name {name:?}")]
    NoTunnel {
        /// The (normalised) name asked for.
        name: String,
    },
    /// Tunnels exist for the name but all are at their stream limit.
    #[error("tunnels for name {name:?} are saturated")]
    Saturated {
        /// The (normalised) name asked for.
        name: String,
    },
}

/// The kinds of [`RegistryError`], for logging and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// See [`RegistryError::NoTunnel`].
    NoTunnel,
    /// See [`RegistryError::Saturated`].
    Saturated,
}

impl RegistryError {
    /// The error's kind.
    pub fn kind(&self) -> RegistryErrorKind {
        match self {
            RegistryError::NoTunnel { .. } => RegistryErrorKind::NoTunnel,
            RegistryError::Saturated { .. } => RegistryErrorKind::Saturated,
        }
    }
}
