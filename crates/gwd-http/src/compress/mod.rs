//! HTTP response compression (HAProxy's `compression algo|type|offload`).
//!
//! # Model
//!
//! Compression is decided twice per request, by pure functions of the
//! heads, and applied once by a body wrapper:
//!
//! 1. **Request** ([`choose`], after the backend's `http-request` rules):
//!    the algorithm, from the visitor's `Accept-Encoding` and the
//!    algorithms configured ([`Settings`]: the backend's when it has any,
//!    else the frontend's). With `offload`, `Accept-Encoding` is removed
//!    before the request goes to the server.
//! 2. **Response** ([`plan`], on the server's head as it arrived, before
//!    `http-response` rules, as HAProxy decides before its rules run):
//!    whether this answer may be compressed at all.
//! 3. **Apply** ([`apply_head`] after the `http-response` rules, and
//!    [`encoder::Compressed`] around the body): `Content-Length` goes,
//!    `Content-Encoding` and `Vary: Accept-Encoding` come, a strong
//!    `ETag` turns weak; the body is compressed frame by frame as it
//!    streams.
//!
//! # HAProxy 2.6's rules, reproduced (checked against haproxy 2.6.12)
//!
//! * `Accept-Encoding` elements are read in order; an element wins over
//!   the current choice only with a strictly greater q-value (default 1,
//!   `q=0` never wins), so at equal q the visitor's first listed coding
//!   wins. Codings match whatever their case (`GZIP` is `gzip`), as in
//!   HAProxy 2.6.12. `*`
//!   matches the *last* configured algorithm (HAProxy keeps its list in
//!   reverse). With no match and `identity` configured, `identity` is
//!   chosen, which leaves the answer untouched.
//! * User agents `Mozilla/4...` get nothing compressed, except MSIE 6 with
//!   `SV1` and MSIE 7 and later.
//! * Compressed only: answers to HTTP/1.1 or HTTP/2 requests (not 1.0),
//!   from HTTP/1.1 or HTTP/2 servers; not to `HEAD`; status 200 to 203
//!   (so never 1xx, 204, 206, 304); with a body whose length is known
//!   (`Content-Length` above 0 or chunked, or any HTTP/2 body: an
//!   HTTP/1.1 body delimited by the close is left alone); without
//!   `Content-Encoding`; without `Cache-Control: no-transform`; with at
//!   most one well-formed `ETag`; whose `Content-Type` is not
//!   `multipart/*` and starts (case-insensitively) with one of the
//!   configured types when `type` is set (no `Content-Type` then means
//!   not compressed).
//! * gwd adds one rule: an answer carrying `Content-Range` is left alone
//!   (a range of a representation cannot be re-encoded; HAProxy only
//!   excludes it through the 206 status).
//! * An answer whose `Content-Length` is below `minsize-res` (HAProxy's
//!   later keyword; gwd's default is 256 bytes, HAProxy 2.6 has no
//!   minimum: `minsize-res = 0`) is left alone. A body of unknown length
//!   (chunked, HTTP/2 without `content-length`) is compressed.
//!
//! # Invariants
//!
//! * An answer is compressed only if [`plan`] said so on the server's
//!   head; a body is never collected, each frame is compressed as it
//!   arrives and flushed when the server pauses, so a slow stream flows.
//! * [`choose`] never picks an algorithm the visitor refused (`q=0`) or
//!   did not name (except through `*`).

pub(crate) mod encoder;

use gwd_config::{Compression, CompressionAlgo};
use gwd_head::{Fields, Method, RequestHead, ResponseHead, Version};

/// The compression settings one request uses: per field, the backend's
/// when it sets them, else the frontend's (HAProxy's precedence).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings<'a> {
    pub algos: &'a [CompressionAlgo],
    pub types: &'a [String],
    pub offload: bool,
    /// Answers with a `Content-Length` below this are left alone.
    pub minsize: u64,
}

impl<'a> Settings<'a> {
    pub(crate) fn of(fe: &'a Compression, be: &'a Compression) -> Settings<'a> {
        Settings {
            algos: if be.algos.is_empty() {
                &fe.algos
            } else {
                &be.algos
            },
            types: if be.types.is_empty() {
                &fe.types
            } else {
                &be.types
            },
            offload: fe.offload || be.offload,
            minsize: be
                .minsize_res
                .or(fe.minsize_res)
                .unwrap_or(gwd_config::DEFAULT_MINSIZE_RES),
        }
    }
}

/// What the request side decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    /// The algorithm for the answer (`Identity` leaves it untouched).
    pub algo: Option<CompressionAlgo>,
    /// `offload`: remove `Accept-Encoding` before the server sees it.
    pub strip_accept_encoding: bool,
}

/// The request side: which algorithm the answer may use.
pub(crate) fn choose(settings: &Settings<'_>, req: &RequestHead) -> Choice {
    let none = Choice {
        algo: None,
        strip_accept_encoding: false,
    };
    if settings.algos.is_empty() || old_mozilla(req.fields.get("user-agent")) {
        return none;
    }
    let mut best_q = 0u16;
    let mut algo = None;
    for element in req.fields.tokens("accept-encoding") {
        let tok_len = element
            .iter()
            .position(|&b| !gwd_head::is_tchar(b))
            .unwrap_or(element.len());
        let (token, params) = element.split_at(tok_len);
        let q = qvalue(params);
        if q <= best_q {
            continue;
        }
        // HAProxy walks its list newest first: `*` takes the last one
        // configured.
        let hit = settings.algos.iter().rev().find(|a| {
            token.first() == Some(&b'*') || token.eq_ignore_ascii_case(a.coding().as_bytes())
        });
        if let Some(a) = hit {
            algo = Some(*a);
            best_q = q;
        }
    }
    if algo.is_some() {
        return Choice {
            algo,
            strip_accept_encoding: settings.offload,
        };
    }
    if settings.algos.contains(&CompressionAlgo::Identity) {
        return Choice {
            algo: Some(CompressionAlgo::Identity),
            strip_accept_encoding: false,
        };
    }
    none
}

/// `Mozilla/4` user agents are refused compression, except MSIE 6 with
/// XP SP2 (`SV1`) and MSIE 7 and later (their positions are fixed in the
/// `Mozilla/4.0 (compatible; MSIE N.N; ...` string).
fn old_mozilla(ua: Option<&[u8]>) -> bool {
    let Some(ua) = ua else { return false };
    if !ua.starts_with(b"Mozilla/4") {
        return false;
    }
    if ua.len() < 31 || &ua[25..30] != b"MSIE " || ua[30] < b'6' {
        return true;
    }
    ua[30] == b'6' && (ua.len() < 54 || &ua[51..54] != b"SV1")
}

/// The q-value of an `Accept-Encoding` element's parameters, in
/// thousandths (1000 when absent); the first `q=` parameter counts.
fn qvalue(params: &[u8]) -> u16 {
    for p in params.split(|&b| b == b';').skip(1) {
        let p = trim(p);
        if let Some(v) = p.strip_prefix(b"q=") {
            // `q=` with no value counts as no `q` (HAProxy 2.6.12
            // compresses for `gzip;q=`).
            let v = trim(v);
            return if v.is_empty() { 1000 } else { parse_q(v) };
        }
    }
    1000
}

/// HTTP's qvalue (`0`, `0.5`, `1.000`), in thousandths; digits beyond
/// the third decimal are ignored, anything unreadable counts as 0 and a
/// leading 1 as 1000, as HAProxy reads it.
fn parse_q(v: &[u8]) -> u16 {
    match v.first() {
        Some(b'1') => 1000,
        Some(b'0') => {
            let mut q = 0u16;
            let mut scale = 100u16;
            if v.get(1) == Some(&b'.') {
                for &d in v[2..].iter().take(3) {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    q += u16::from(d - b'0') * scale;
                    scale /= 10;
                }
            }
            q
        }
        _ => 0,
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(s, |e| e + 1);
    &v[s..e.max(s)]
}

/// The facts of the request and of the server's body that the response
/// side needs besides the response head.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Exchange {
    /// The request side's algorithm.
    pub algo: Option<CompressionAlgo>,
    pub method_head: bool,
    /// The visitor spoke HTTP/1.0.
    pub request_http10: bool,
    /// The server sent a body to relay (not an empty one, not a
    /// protocol switch) without transfer codings of its own.
    pub streamed_body: bool,
}

impl Exchange {
    pub(crate) fn of(algo: Option<CompressionAlgo>, req: &RequestHead) -> Exchange {
        Exchange {
            algo,
            method_head: req.method == Method::HEAD,
            request_http10: req.version == Version::HTTP_10 || req.version == Version::HTTP_09,
            streamed_body: false,
        }
    }
}

/// The request step: decides the algorithm for this request's answer
/// (removing `Accept-Encoding` under `offload`), and keeps what the
/// response step needs.
pub(crate) fn on_request(fe: &Compression, be: &Compression, req: &mut RequestHead) -> Exchange {
    let settings = Settings::of(fe, be);
    let choice = choose(&settings, req);
    if choice.strip_accept_encoding {
        req.fields.remove("accept-encoding");
    }
    Exchange::of(choice.algo, req)
}

/// The response step, on the server's head as it arrived: the algorithm
/// to compress this answer with, if any.
pub(crate) fn on_response(
    fe: &Compression,
    be: &Compression,
    ex: Exchange,
    head: &ResponseHead,
    streamed_body: bool,
) -> Option<CompressionAlgo> {
    ex.algo?;
    let ex = Exchange {
        streamed_body,
        ..ex
    };
    plan(&Settings::of(fe, be), &ex, head)
}

/// The response side: the algorithm to compress this answer with, or
/// `None` to relay it as it is. `head` is the server's, before
/// hop-by-hop fields are removed and before any rule.
pub(crate) fn plan(
    settings: &Settings<'_>,
    ex: &Exchange,
    head: &ResponseHead,
) -> Option<CompressionAlgo> {
    let algo = ex.algo.filter(|a| *a != CompressionAlgo::Identity)?;
    if ex.request_http10
        || head.version == Version::HTTP_10
        || head.version == Version::HTTP_09
        || ex.method_head
        || !(200..=203).contains(&head.status.as_u16())
        || !ex.streamed_body
    {
        return None;
    }
    let f = &head.fields;
    // An HTTP/1.1 body with neither length nor chunking ends at the close.
    if head.version == Version::HTTP_11
        && !f.contains("content-length")
        && !f.contains("transfer-encoding")
    {
        return None;
    }
    // Too small to gain anything (`minsize-res`); `0` stays uncompressed
    // whatever the minimum, as in HAProxy.
    let length = f.get("content-length").map(|v| {
        std::str::from_utf8(trim(v))
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
    });
    if matches!(length, Some(Some(n)) if n == 0 || n < settings.minsize)
        || f.contains("content-encoding")
        || f.contains("content-range")
        || f.has_token("cache-control", "no-transform")
    {
        return None;
    }
    let mut etags = f.get_all("etag");
    if let Some(tag) = etags.next()
        && (!well_formed_etag(tag) || etags.next().is_some())
    {
        return None;
    }
    match f.get("content-type") {
        Some(ct) => {
            if starts_with_ignore_case(ct, b"multipart") {
                return None;
            }
            if !settings.types.is_empty()
                && !settings
                    .types
                    .iter()
                    .any(|t| starts_with_ignore_case(ct, t.as_bytes()))
            {
                return None;
            }
        }
        None if !settings.types.is_empty() => return None,
        None => {}
    }
    Some(algo)
}

/// `"x"` or `W/"x"`.
fn well_formed_etag(v: &[u8]) -> bool {
    let v = trim(v);
    let strong = v.len() >= 2 && v[0] == b'"';
    let weak = v.len() >= 4 && v.starts_with(b"W/\"");
    (strong || weak) && v.last() == Some(&b'"')
}

fn starts_with_ignore_case(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The head of an answer being compressed with `algo`: its length is no
/// longer known, its coding is named, caches are told it varies, and a
/// strong validator becomes weak (the bytes differ from the original's).
pub(crate) fn apply_head(fields: &mut Fields, algo: CompressionAlgo) {
    fields.remove("content-length");
    if let Some(tag) = fields.get("etag").map(trim)
        && tag.first() == Some(&b'"')
    {
        let mut weak = Vec::with_capacity(tag.len() + 2);
        weak.extend_from_slice(b"W/");
        weak.extend_from_slice(tag);
        // The tag passed `well_formed_etag`: a valid field value.
        let _ = fields.try_set(b"etag", &weak);
    }
    fields.append(b"vary", b"Accept-Encoding");
    fields.append(b"content-encoding", algo.coding().as_bytes());
}

#[cfg(test)]
mod tests;
