//! Heads onto the wire. Fields are written as they are held (order and
//! case kept); the writer adds only what framing needs: the
//! `Transfer-Encoding` line of a chunked body. Everything else a hop
//! adds or removes (`Connection`, `Content-Length`) is the caller's edit
//! of the fields, done before writing.

use gwd_head::{Fields, Method, StatusCode, Version};

fn version_bytes(v: Version) -> &'static [u8] {
    if v == Version::HTTP_10 {
        b"HTTP/1.0"
    } else {
        b"HTTP/1.1"
    }
}

/// How the body that follows a written head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFraming<'a> {
    /// No body, or a body delimited by the fields' `Content-Length`, or by
    /// closing the connection: nothing to add.
    AsIs,
    /// Chunked: writes `Transfer-Encoding: [codings, ]chunked`.
    Chunked { codings: Option<&'a str> },
}

fn finish(out: &mut Vec<u8>, fields: &Fields, framing: OutFraming<'_>) {
    fields.write_h1(out);
    if let OutFraming::Chunked { codings } = framing {
        out.extend_from_slice(b"transfer-encoding: ");
        if let Some(c) = codings {
            out.extend_from_slice(c.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a request head: `METHOD target HTTP/1.x`, the fields, the
/// framing line, the blank line. `target` must be a valid request target
/// (it comes from a parsed URI).
///
/// ```
/// use gwd_head::{Fields, Method, Version};
/// use gwd_h1::{OutFraming, write_request_head};
/// let mut f = Fields::new();
/// f.append(b"Host", b"a");
/// let mut out = Vec::new();
/// write_request_head(&mut out, &Method::POST, "/x", Version::HTTP_11, &f,
///                    OutFraming::Chunked { codings: Some("gzip") });
/// assert_eq!(out, b"POST /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
/// ```
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    version: Version,
    fields: &Fields,
    framing: OutFraming<'_>,
) {
    out.reserve(method.as_str().len() + target.len() + fields.wire_len() + 48);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(version_bytes(version));
    out.extend_from_slice(b"\r\n");
    finish(out, fields, framing);
}

/// Writes a response head: `HTTP/1.x code reason`, the fields, the
/// framing line, the blank line. A reason holding CR or LF is replaced by
/// the canonical one.
///
/// ```
/// use gwd_head::{Fields, StatusCode, Version};
/// use gwd_h1::{OutFraming, write_response_head};
/// let mut out = Vec::new();
/// write_response_head(&mut out, Version::HTTP_11, StatusCode::NOT_FOUND, None,
///                     &Fields::new(), OutFraming::AsIs);
/// assert_eq!(out, b"HTTP/1.1 404 Not Found\r\n\r\n");
/// ```
pub fn write_response_head(
    out: &mut Vec<u8>,
    version: Version,
    status: StatusCode,
    reason: Option<&str>,
    fields: &Fields,
    framing: OutFraming<'_>,
) {
    let reason = reason
        .filter(|r| !r.bytes().any(|b| b == b'\r' || b == b'\n'))
        .or_else(|| status.canonical_reason())
        .unwrap_or("");
    out.reserve(reason.len() + fields.wire_len() + 48);
    out.extend_from_slice(version_bytes(version));
    out.push(b' ');
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    finish(out, fields, framing);
}
