//! HTTP/1.1 (RFC 9112) for a proxy, sans-I/O.
//!
//! # Model
//!
//! A connection's bytes are a sequence of messages, each a head and a
//! body. This crate turns bytes into those parts and back, and owns
//! nothing else: no sockets, no buffers kept between calls, no clock.
//!
//! * [`parse_request`] / [`parse_response`] read a head from the start of
//!   a buffer (httparse, strict) into a [`gwd_head::RequestHead`] or
//!   [`gwd_head::ResponseHead`] whose fields keep the bytes received,
//!   order and case included, and say how the body is framed
//!   ([`BodyKind`]) and whether the connection may be reused.
//! * [`BodyDecoder`] walks a body's framing step by step over whatever
//!   bytes the caller has ([`Step`]), zero-copy: data is a length into the
//!   caller's buffer.
//! * [`write_request_head`] / [`write_response_head`] write heads back;
//!   [`ChunkHeader`], [`CHUNK_END`] and [`write_last_chunk`] frame chunked
//!   bodies.
//!
//! # What it refuses, and why
//!
//! Request smuggling needs two parsers that disagree on where a message
//! ends. Anything that admits two readings is refused, with the status
//! HAProxy answers ([`HeadError::status`]): `Content-Length` together with
//! `Transfer-Encoding`; differing `Content-Length` values; a
//! `Transfer-Encoding` whose last coding is not `chunked`, or that repeats
//! it; `Transfer-Encoding` in HTTP/1.0; obsolete line folding; whitespace
//! before a colon; a bare CR; NUL or other control bytes in a value;
//! invalid or overflowing chunk sizes; more than one `Host`, a `Host` list,
//! a `Host` that disagrees with an absolute-form target. A request line
//! over the limit is 414, a head over it 431. Chunk extensions are
//! checked and dropped: the bytes forwarded are always re-framed by the
//! writer, never passed through.
//!
//! # Example: a request in, the same request out to a server
//!
//! ```
//! use gwd_h1::{BodyDecoder, Limits, OutFraming, Step, parse_request, write_request_head};
//!
//! let wire = b"POST /up HTTP/1.1\r\nHost: app\r\nX-Case: Kept\r\nContent-Length: 5\r\n\r\nhello";
//! let req = parse_request(wire, &Limits::default()).unwrap().expect("complete");
//! let mut body = BodyDecoder::new(req.body, Limits::default());
//! let rest = &wire[req.head_len..];
//! assert_eq!(body.decode(rest).unwrap(), Step::Data(5));
//!
//! let mut out = Vec::new();
//! write_request_head(&mut out, &req.head.method, req.head.path_and_query(),
//!                    req.head.version, &req.head.fields, OutFraming::AsIs);
//! assert_eq!(out, b"POST /up HTTP/1.1\r\nHost: app\r\nX-Case: Kept\r\nContent-Length: 5\r\n\r\n");
//! ```
//!
//! Depends on gwd-head (the head types), httparse and `http`'s URI type.

mod body;
mod error;
mod head;
mod write;

pub use body::{
    BodyDecoder, CHUNK_END, ChunkHeader, LAST_CHUNK, MAX_CHUNK_LINE, Step, allowed_in_trailers,
    write_last_chunk,
};
pub use error::{BodyError, HeadError};
pub use head::{BodyKind, Limits, ParsedRequest, ParsedResponse, parse_request, parse_response};
pub use write::{OutFraming, write_request_head, write_response_head};
