//! Request and response heads off the wire, and the body framing they
//! announce.
//!
//! Parsing is httparse's (strict settings: single spaces in the start
//! line, no whitespace before a colon, no obsolete line folding, no bare
//! CR); the fields are then copied once into a [`Fields`] and checked for
//! what httparse does not know: how the body is framed and whether the
//! message is ambiguous about it. Every check here exists because two
//! HTTP implementations reading the same bytes differently is how request
//! smuggling starts; when in doubt the head is refused.

use std::mem::MaybeUninit;

use gwd_head::{Fields, Method, RequestHead, ResponseHead, StatusCode, Uri, Version, trim_ows};

use crate::error::HeadError;

/// Limits on a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head accepted, start line and blank line included
    /// (HAProxy's `tune.bufsize`). A longer request line is 414, a longer
    /// head 431.
    pub max_head: usize,
    /// Most field lines in a head (HAProxy's `tune.http.maxhdr`, 101).
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_fields: 101,
        }
    }
}

/// How a message's body is delimited (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all.
    None,
    /// Exactly this many bytes (`Content-Length`, never 0: that is `None`).
    Length(u64),
    /// Chunked transfer coding, ending with the last chunk and trailers.
    Chunked,
    /// Everything until the connection closes (responses only).
    UntilClose,
}

impl BodyKind {
    /// True when no body bytes follow the head.
    pub fn is_none(self) -> bool {
        self == BodyKind::None
    }
}

/// A request head read off the wire.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    pub head: RequestHead,
    /// Bytes the head took: the body (or the next request) starts there.
    pub head_len: usize,
    /// How the body is delimited (`None` or `Length` or `Chunked`).
    pub body: BodyKind,
    /// Transfer codings applied before the final `chunked` (`gzip` in
    /// `Transfer-Encoding: gzip, chunked`), to forward as they are.
    pub codings: Option<Box<str>>,
    /// Whether the visitor may send another request after this one
    /// (version and `Connection`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
    /// A protocol switch was asked for (`Connection: upgrade` and an
    /// `Upgrade` field).
    pub upgrade: bool,
}

/// A response head read off the wire.
#[derive(Debug, Clone)]
pub struct ParsedResponse {
    pub head: ResponseHead,
    /// Bytes the head took.
    pub head_len: usize,
    /// How the body is delimited (given the request method).
    pub body: BodyKind,
    /// Transfer codings applied before the final `chunked`, to forward.
    pub codings: Option<Box<str>>,
    /// Whether the server's connection may carry another request.
    pub keep_alive: bool,
}

impl ParsedResponse {
    /// A 1xx answer other than 101: another head follows.
    pub fn is_interim(&self) -> bool {
        self.head.status.is_informational() && self.head.status != StatusCode::SWITCHING_PROTOCOLS
    }
}

/// Field lines httparse may hold on the stack; more are read into a
/// heap array (only when `max_fields` is raised above this).
const STACK_FIELDS: usize = 128;

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet (read more, then call again
/// with the whole buffer). Errors say what to answer ([`HeadError::status`]).
///
/// ```
/// use gwd_h1::{BodyKind, Limits, parse_request};
/// let buf = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
/// let req = parse_request(buf, &Limits::default()).unwrap().unwrap();
/// assert_eq!(req.head.path_and_query(), "/up");
/// assert_eq!(req.body, BodyKind::Length(3));
/// assert_eq!(&buf[req.head_len..], b"abc");
/// ```
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<ParsedRequest>, HeadError> {
    let mut stack = [const { MaybeUninit::uninit() }; STACK_FIELDS];
    let mut heap;
    let storage: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_fields <= STACK_FIELDS {
        &mut stack[..limits.max_fields]
    } else {
        heap = Vec::with_capacity(limits.max_fields);
        heap.resize_with(limits.max_fields, MaybeUninit::uninit);
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, storage) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(oversized(buf, limits.max_head));
            }
            return Ok(None);
        }
        Err(e) => {
            // A head over the limit is reported as such even when it is
            // also malformed further on.
            if buf.len() > limits.max_head && !buf[..limits.max_head].contains(&b'\n') {
                return Err(HeadError::RequestLineTooLong);
            }
            return Err(map_error(e, buf));
        }
    };
    if head_len > limits.max_head {
        return Err(oversized(buf, limits.max_head));
    }
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HeadError::Version),
    };
    let method = req
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(HeadError::StartLine)?;
    let target = req.path.ok_or(HeadError::StartLine)?;
    let uri = parse_target(&method, target)?;
    let (fields, facts) = copy_fields(buf, req.headers);

    if facts.hosts > 1 {
        return Err(HeadError::MultipleHost);
    }
    if let Some(host) = facts.host {
        check_host(host)?;
        if let Some(authority) = uri.authority()
            && !host.eq_ignore_ascii_case(authority.as_str().as_bytes())
        {
            return Err(HeadError::HostMismatch);
        }
    }

    let (body, codings, fields) = request_framing(version, fields, &facts)?;
    let keep_alive = match version {
        Version::HTTP_11 => !facts.close,
        _ => !facts.close && facts.keep_alive,
    };
    // RFC 9110 §10.1.1: an HTTP/1.0 client never waits for a 100 (and a
    // server must not send it one).
    let expect_continue = facts.expect_continue && version == Version::HTTP_11;
    let upgrade = facts.upgrade_token && facts.upgrade_field;
    Ok(Some(ParsedRequest {
        head: RequestHead {
            method,
            uri,
            version,
            fields,
        },
        head_len,
        body,
        codings,
        keep_alive,
        expect_continue,
        upgrade,
    }))
}

/// Parses a response head from the start of `buf`, for a request made
/// with `method` (a response to HEAD has no body).
///
/// ```
/// use gwd_h1::{BodyKind, Limits, parse_response};
/// use gwd_head::Method;
/// let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
/// let resp = parse_response(buf, &Method::GET, &Limits::default()).unwrap().unwrap();
/// assert_eq!(resp.head.status, 200);
/// assert_eq!(resp.body, BodyKind::Chunked);
/// assert!(resp.keep_alive);
/// ```
pub fn parse_response(
    buf: &[u8],
    method: &Method,
    limits: &Limits,
) -> Result<Option<ParsedResponse>, HeadError> {
    let mut stack = [const { MaybeUninit::uninit() }; STACK_FIELDS];
    let mut heap;
    let storage: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_fields <= STACK_FIELDS {
        &mut stack[..limits.max_fields]
    } else {
        heap = Vec::with_capacity(limits.max_fields);
        heap.resize_with(limits.max_fields, MaybeUninit::uninit);
        &mut heap
    };
    let mut resp = httparse::Response::new(&mut []);
    let head_len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, storage)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(HeadError::HeadTooLarge);
            }
            return Ok(None);
        }
        Err(e) => return Err(map_error(e, buf)),
    };
    if head_len > limits.max_head {
        return Err(HeadError::HeadTooLarge);
    }
    let version = match resp.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HeadError::Version),
    };
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(HeadError::StartLine)?;
    let reason = resp
        .reason
        .filter(|r| !r.is_empty() && Some(*r) != status.canonical_reason())
        .map(Box::from);
    let (fields, facts) = copy_fields(buf, resp.headers);

    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || *method == Method::HEAD
        || (*method == Method::CONNECT && status.is_success());
    let (body, codings, fields) = if no_body {
        (BodyKind::None, None, fields)
    } else if facts.transfer_encoding {
        if version == Version::HTTP_10 {
            return Err(HeadError::TransferEncodingInHttp10);
        }
        if facts.content_length {
            return Err(HeadError::LengthWithTransferEncoding);
        }
        let te = transfer_codings(&fields)?;
        if te.chunked_last {
            (BodyKind::Chunked, te.before_chunked, fields)
        } else {
            // RFC 9112 §6.3: a response whose final coding is not chunked
            // runs until the connection closes; its codings stay.
            (BodyKind::UntilClose, te.all, fields)
        }
    } else if !facts.content_length {
        (BodyKind::UntilClose, None, fields)
    } else {
        match content_length(fields)? {
            (Some(0), fields) => (BodyKind::None, None, fields),
            (Some(n), fields) => (BodyKind::Length(n), None, fields),
            (None, fields) => (BodyKind::UntilClose, None, fields),
        }
    };
    let keep_alive = body != BodyKind::UntilClose
        && match version {
            Version::HTTP_11 => !facts.close,
            _ => !facts.close && facts.keep_alive,
        };
    Ok(Some(ParsedResponse {
        head: ResponseHead {
            version,
            status,
            reason,
            fields,
        },
        head_len,
        body,
        codings,
        keep_alive,
    }))
}

/// Which limit a head over `max_head` broke: the request line (no line
/// end within the limit) or the head.
fn oversized(buf: &[u8], max_head: usize) -> HeadError {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    match buf[start..].iter().position(|&b| b == b'\n') {
        Some(end) if end <= max_head => HeadError::HeadTooLarge,
        _ => HeadError::RequestLineTooLong,
    }
}

fn map_error(e: httparse::Error, buf: &[u8]) -> HeadError {
    match e {
        httparse::Error::HeaderName => {
            // httparse reports a folded line as a bad name: tell them apart
            // for the log.
            let folded = buf
                .windows(2)
                .take_while(|w| w != b"\n\r" && w != b"\n\n")
                .any(|w| w[0] == b'\n' && (w[1] == b' ' || w[1] == b'\t'));
            if folded {
                HeadError::ObsFold
            } else {
                HeadError::FieldName
            }
        }
        httparse::Error::HeaderValue => HeadError::FieldValue,
        httparse::Error::NewLine => HeadError::NewLine,
        httparse::Error::Version => HeadError::Version,
        httparse::Error::TooManyHeaders => HeadError::TooManyFields,
        httparse::Error::Status | httparse::Error::Token => HeadError::StartLine,
    }
}

/// The request target as a URI, in a form its method allows (RFC 9112
/// §3.2): origin form, absolute form with an `http`/`https` scheme,
/// authority form for CONNECT only, `*` for OPTIONS only.
fn parse_target(method: &Method, target: &str) -> Result<Uri, HeadError> {
    if target == "*" {
        return if *method == Method::OPTIONS {
            Ok(Uri::from_static("*"))
        } else {
            Err(HeadError::Target)
        };
    }
    // Bytes above 0x7F are refused as HAProxy does by default: two
    // implementations decoding them differently is a classic confusion.
    if !target.is_ascii() {
        return Err(HeadError::Target);
    }
    let uri: Uri = target.parse().map_err(|_| HeadError::Target)?;
    let origin_form = target.starts_with('/');
    if *method == Method::CONNECT {
        // authority-form: host:port and nothing else.
        if uri.scheme().is_some() || uri.path_and_query().is_some() || uri.authority().is_none() {
            return Err(HeadError::Target);
        }
        return Ok(uri);
    }
    if origin_form {
        return Ok(uri);
    }
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            if uri.authority().is_none_or(|a| a.as_str().contains('@')) {
                return Err(HeadError::Target);
            }
            Ok(uri)
        }
        _ => Err(HeadError::Target),
    }
}

/// A Host value must be one `uri-host [ ":" port ]` ([`gwd_head::valid_host`]).
fn check_host(host: &[u8]) -> Result<(), HeadError> {
    if gwd_head::valid_host(host) {
        Ok(())
    } else {
        Err(HeadError::InvalidHost)
    }
}

/// What the fields say about framing and the connection, gathered while
/// copying them (one pass, no lookups afterwards).
#[derive(Debug, Default)]
struct Facts<'b> {
    hosts: usize,
    host: Option<&'b [u8]>,
    transfer_encoding: bool,
    content_length: bool,
    close: bool,
    keep_alive: bool,
    upgrade_token: bool,
    upgrade_field: bool,
    expect_continue: bool,
}

const MAY_BE_HOST: u8 = 1;
const MAY_BE_EXPECT: u8 = 2;
const MAY_BE_UPGRADE: u8 = 4;
const MAY_BE_CONNECTION: u8 = 8;
const MAY_BE_CONTENT_LENGTH: u8 = 16;
const MAY_BE_TRANSFER_ENCODING: u8 = 32;

/// By name length: which of the fields [`copy_fields`] reads a field of
/// that length may be.
static LENGTH_CANDIDATES: [u8; 18] = {
    let mut t = [0u8; 18];
    t[4] = MAY_BE_HOST;
    t[6] = MAY_BE_EXPECT;
    t[7] = MAY_BE_UPGRADE;
    t[10] = MAY_BE_CONNECTION;
    t[14] = MAY_BE_CONTENT_LENGTH;
    t[17] = MAY_BE_TRANSFER_ENCODING;
    t
};

fn copy_fields<'b>(buf: &'b [u8], headers: &[httparse::Header<'b>]) -> (Fields, Facts<'b>) {
    let mut facts = Facts::default();
    let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
        return (Fields::new(), facts);
    };
    // httparse hands out sub-slices of `buf`, in order: the header
    // section is one run of it. Copy that run once and keep offsets.
    let at = |p: *const u8| p as usize - buf.as_ptr() as usize;
    let start = at(first.name.as_ptr());
    let end = at(last.value.as_ptr()) + last.value.len();
    let ranges = headers.iter().map(|h| {
        // httparse checked the name (a token) and the value (no CTL but
        // HTAB, no bare CR); values lose their surrounding whitespace.
        let value = trim_ows(h.value);
        let n = at(h.name.as_ptr()) - start;
        // An empty value has no bytes to point at: place it after the name.
        let v = if value.is_empty() {
            n + h.name.len()
        } else {
            at(value.as_ptr()) - start
        };
        (n..n + h.name.len(), v..v + value.len())
    });
    let fields = Fields::from_section(&buf[start..end], ranges);
    // Most fields are none of these six. Their lengths pick the one a
    // field may be, through a table and bit tests: a `match` on the length
    // compiles to a jump table, whose indirect branch the CPU mispredicts
    // on most fields (10 times a request, measured with callgrind). The
    // table goes through `black_box` because LLVM otherwise sees its
    // contents and turns the lookup back into that jump table.
    let candidates: &[u8; 18] = std::hint::black_box(&LENGTH_CANDIDATES);
    for h in headers {
        let name = h.name.as_bytes();
        let may_be = candidates.get(name.len()).copied().unwrap_or(0);
        if may_be == 0 {
            continue;
        }
        let value = trim_ows(h.value);
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if may_be & MAY_BE_HOST != 0 && is("host") {
            facts.hosts += 1;
            facts.host = Some(value);
        } else if may_be & MAY_BE_CONNECTION != 0 && is("connection") {
            for t in value.split(|&b| b == b',').map(trim_ows) {
                if t.eq_ignore_ascii_case(b"close") {
                    facts.close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    facts.keep_alive = true;
                } else if t.eq_ignore_ascii_case(b"upgrade") {
                    facts.upgrade_token = true;
                }
            }
        } else if may_be & MAY_BE_CONTENT_LENGTH != 0 && is("content-length") {
            facts.content_length = true;
        } else if may_be & MAY_BE_TRANSFER_ENCODING != 0 && is("transfer-encoding") {
            facts.transfer_encoding = true;
        } else if may_be & MAY_BE_EXPECT != 0 && is("expect") {
            facts.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        } else if may_be & MAY_BE_UPGRADE != 0 && is("upgrade") {
            facts.upgrade_field = true;
        }
    }
    (fields, facts)
}

/// What a Transfer-Encoding list says.
struct TransferCodings {
    chunked_last: bool,
    /// The codings before the final `chunked`, as received.
    before_chunked: Option<Box<str>>,
    /// Every coding, as received.
    all: Option<Box<str>>,
}

fn transfer_codings(fields: &Fields) -> Result<TransferCodings, HeadError> {
    let mut list: Vec<&[u8]> = Vec::new();
    for value in fields.get_all("transfer-encoding") {
        for element in value.split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() {
                // Empty list elements are allowed (RFC 9110 §5.6.1) but a
                // field with nothing at all is not.
                continue;
            }
            list.push(element);
        }
    }
    if list.is_empty() {
        return Err(HeadError::InvalidTransferEncoding);
    }
    let name = |c: &[u8]| -> Vec<u8> {
        let end = c.iter().position(|&b| b == b';').unwrap_or(c.len());
        trim_ows(&c[..end]).to_ascii_lowercase()
    };
    let mut chunked = 0;
    for c in &list {
        let n = name(c);
        if n.is_empty() || !n.iter().all(|&b| gwd_head::is_tchar(b)) {
            return Err(HeadError::InvalidTransferEncoding);
        }
        if n == b"chunked" {
            chunked += 1;
        }
    }
    let chunked_last = name(list[list.len() - 1]) == b"chunked";
    if chunked > 1 || (chunked == 1 && !chunked_last) {
        return Err(HeadError::InvalidTransferEncoding);
    }
    let join = |items: &[&[u8]]| -> Option<Box<str>> {
        if items.is_empty() {
            return None;
        }
        let s: Vec<String> = items
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        Some(s.join(", ").into())
    };
    Ok(TransferCodings {
        chunked_last,
        before_chunked: if chunked_last {
            join(&list[..list.len() - 1])
        } else {
            None
        },
        all: join(&list),
    })
}

/// The request's framing; the fields come back with duplicate
/// Content-Length lines folded into one.
fn request_framing(
    version: Version,
    fields: Fields,
    facts: &Facts<'_>,
) -> Result<(BodyKind, Option<Box<str>>, Fields), HeadError> {
    if facts.transfer_encoding {
        if version == Version::HTTP_10 {
            return Err(HeadError::TransferEncodingInHttp10);
        }
        if facts.content_length {
            return Err(HeadError::LengthWithTransferEncoding);
        }
        let te = transfer_codings(&fields)?;
        if !te.chunked_last {
            return Err(HeadError::ChunkedNotLast);
        }
        return Ok((BodyKind::Chunked, te.before_chunked, fields));
    }
    if !facts.content_length {
        return Ok((BodyKind::None, None, fields));
    }
    match content_length(fields)? {
        (Some(0) | None, fields) => Ok((BodyKind::None, None, fields)),
        (Some(n), fields) => Ok((BodyKind::Length(n), None, fields)),
    }
}

/// The Content-Length, if any: every value (lines and list elements) must
/// be the same decimal number. Duplicates are folded into one line so the
/// next hop sees one value.
fn content_length(mut fields: Fields) -> Result<(Option<u64>, Fields), HeadError> {
    let mut value: Option<u64> = None;
    let mut elements = 0usize;
    for v in fields.get_all("content-length") {
        for element in v.split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(element)).ok_or(HeadError::InvalidContentLength)?;
            elements += 1;
            match value {
                Some(prev) if prev != n => return Err(HeadError::ConflictingContentLength),
                _ => value = Some(n),
            }
        }
    }
    let Some(n) = value else {
        return Ok((None, fields));
    };
    if elements > 1 {
        let name = fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(b"content-length"))
            .map(|(name, _)| name.to_vec())
            .unwrap_or_else(|| b"content-length".to_vec());
        fields.remove("content-length");
        fields.append(&name, n.to_string().as_bytes());
    }
    Ok((Some(n), fields))
}

/// A non-empty run of ASCII digits that fits 64 bits.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}
