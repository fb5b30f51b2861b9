//! Why a stream (or its body) failed.

use gwd_mux_h2::frame::ErrorCode;

/// Why a stream's body (or the stream itself) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The stream was reset with an HTTP/2 error code.
    #[error("stream reset with {code} by {}", if *remote { "the peer" } else { "this side" })]
    Reset {
        /// The RST_STREAM code (RFC 9113 section 7).
        code: ErrorCode,
        /// Whether the peer sent the reset.
        remote: bool,
    },
    /// The connection ended before the stream did.
    #[error("HTTP/2 connection closed")]
    ConnectionClosed,
    /// [`crate::IncomingBody::collect_bytes`] hit its limit.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
}

impl BodyError {
    /// The reset code, when the stream was reset.
    pub fn reset_code(&self) -> Option<ErrorCode> {
        match self {
            BodyError::Reset { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the connection itself went away.
    pub fn is_connection_closed(&self) -> bool {
        matches!(self, BodyError::ConnectionClosed)
    }
}
