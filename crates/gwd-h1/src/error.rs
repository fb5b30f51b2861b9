//! What the codec refuses, as kinds with the status a proxy answers.

/// A head the codec refuses. For a request, [`HeadError::status`] is the
/// status HAProxy answers with (the connection is then closed: after a
/// framing doubt nothing later on it can be trusted); a response with any
/// of these is a bad response (502) and its connection is not reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The request line alone is longer than the head limit.
    #[error("request line longer than the head limit")]
    RequestLineTooLong,
    /// The head (start line and fields) is longer than the limit.
    #[error("head larger than the limit")]
    HeadTooLarge,
    /// More fields than the limit.
    #[error("more header fields than the limit")]
    TooManyFields,
    /// The start line is malformed (method, spacing, status code).
    #[error("malformed start line")]
    StartLine,
    /// Not HTTP/1.0 or HTTP/1.1.
    #[error("unsupported HTTP version")]
    Version,
    /// The request target is not a valid URI of a form HTTP/1.1 allows.
    #[error("invalid request target")]
    Target,
    /// A field name holds a byte outside the token set, or whitespace
    /// separates it from the colon.
    #[error("invalid header field name (a non-token byte, or whitespace before the colon)")]
    FieldName,
    /// A field line starts with whitespace (obsolete line folding).
    #[error("obsolete line folding in a header field")]
    ObsFold,
    /// A field value holds NUL, a bare CR or another control byte.
    #[error("header field value holds NUL, a bare CR or another control byte")]
    FieldValue,
    /// A line ends in a bare CR.
    #[error("invalid line ending")]
    NewLine,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.3).
    #[error("Content-Length together with Transfer-Encoding")]
    LengthWithTransferEncoding,
    /// A Content-Length that is not a decimal number that fits 64 bits.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length values that differ.
    #[error("differing Content-Length values")]
    ConflictingContentLength,
    /// A request Transfer-Encoding whose last coding is not `chunked`.
    #[error("Transfer-Encoding whose last coding is not chunked")]
    ChunkedNotLast,
    /// `chunked` listed more than once, or an empty coding.
    #[error("invalid Transfer-Encoding list")]
    InvalidTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1).
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingInHttp10,
    /// More than one Host field (RFC 9112 §3.2).
    #[error("more than one Host field")]
    MultipleHost,
    /// A Host field that is not a single `host[:port]`.
    #[error("invalid Host field")]
    InvalidHost,
    /// An absolute-form target whose authority differs from Host.
    #[error("Host differs from the request target's authority")]
    HostMismatch,
}

impl HeadError {
    /// The status to answer a request refused for this reason: 414 for a
    /// request line over the limit, 431 for a head over the limits, 400
    /// for everything else.
    pub fn status(self) -> u16 {
        match self {
            HeadError::RequestLineTooLong => 414,
            HeadError::HeadTooLarge | HeadError::TooManyFields => 431,
            _ => 400,
        }
    }

    /// True for the limits (414, 431), as opposed to malformed input.
    pub fn is_too_large(self) -> bool {
        matches!(
            self,
            HeadError::RequestLineTooLong | HeadError::HeadTooLarge | HeadError::TooManyFields
        )
    }
}

/// A body whose framing is broken. On a request it is the client's fault
/// (400); on a response the server's (502, the transfer is cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A chunk-size line that is not hex digits, optional extensions and
    /// CRLF.
    #[error("invalid chunk size line")]
    ChunkSize,
    /// A chunk size over 64 bits.
    #[error("chunk size overflows")]
    ChunkSizeOverflow,
    /// A chunk-size line (with its extensions) over the line limit.
    #[error("chunk size line too long")]
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    ChunkDataEnd,
    /// A malformed trailer section.
    #[error("invalid trailer section")]
    Trailers,
    /// A trailer section over the head limits.
    #[error("trailer section too large")]
    TrailersTooLarge,
    /// The connection closed before the body's end.
    #[error("connection closed before the end of the body")]
    Truncated,
}
