//! Heads in and out: header blocks decoded straight into gwd-head's
//! [`RequestHead`] / [`ResponseHead`] / [`Fields`], and heads encoded from
//! [`Fields`] or an `http::HeaderMap` ([`HeadFields`]).
//!
//! # Model
//!
//! A decoded block is checked field by field as HPACK yields it (`Block`):
//! pseudo-header fields go to a few slots in one small buffer, regular
//! fields into one [`Fields`] buffer, and the first broken rule marks the
//! block malformed (RFC 9113 §8.1.1: the stream is reset, the connection
//! goes on). Decoding always runs to the end of the block, whatever it
//! holds, so the HPACK context stays in step with the peer.
//!
//! # Invariants
//!
//! * No regular field comes before a pseudo-header field; no pseudo-header
//!   field is unknown, repeated, or of the other kind of head.
//! * Regular names are lowercase tokens, never connection-specific
//!   (§8.2.2), and `te` carries only `trailers`; values have no NUL, CR,
//!   LF, other control byte or DEL (as `http::HeaderValue` requires).
//! * Repeated `content-length` fields agree; the value is parsed once.
//! * Outgoing names are written lowercase whatever their case (gwd-hpack
//!   lowers them), and connection-specific fields are left out.

use bytes::Bytes;
use gwd_head::{Fields, RequestHead, ResponseHead};
use gwd_hpack::Field;
use http::{HeaderMap, Method, StatusCode, Version};

/// The `:protocol` of an extended CONNECT request (RFC 8441), e.g.
/// `websocket`: given with the request when the peer sent one, which it
/// may only do once this side advertised `SETTINGS_ENABLE_CONNECT_PROTOCOL`
/// (`Config::settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol(Bytes);

impl Protocol {
    /// A protocol to send with a CONNECT (`Connection::send_extended_connect`).
    pub fn new(name: impl Into<Bytes>) -> Protocol {
        Protocol(name.into())
    }

    /// The protocol's name as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this names `name`, ASCII case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The fields of a head to send: gwd-head's [`Fields`] (names in any
/// case) or an `http::HeaderMap`. Connection-specific fields are left out
/// when sent (RFC 9113 §8.2.2), as is a `te` other than `trailers`.
pub trait HeadFields {
    /// The fields in order.
    fn head_fields(&self) -> impl Iterator<Item = Field<'_>>;
    /// The `host` field's value, if any.
    fn host(&self) -> Option<&[u8]>;
}

/// Credentials: always sent as never-indexed literals (RFC 7541 §6.2.3),
/// so no intermediary after us keeps them in a compression table. gwd's
/// fields do not carry the flag a peer set on what it sent; an
/// intermediary must keep it, and these are the fields peers flag.
fn sensitive(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"authorization") || name.eq_ignore_ascii_case(b"proxy-authorization")
}

impl HeadFields for Fields {
    fn head_fields(&self) -> impl Iterator<Item = Field<'_>> {
        self.iter().map(|(name, value)| Field {
            name,
            value,
            never_index: sensitive(name),
        })
    }

    fn host(&self) -> Option<&[u8]> {
        self.get("host")
    }
}

impl HeadFields for HeaderMap {
    fn head_fields(&self) -> impl Iterator<Item = Field<'_>> {
        self.iter().map(|(name, value)| Field {
            name: name.as_str().as_bytes(),
            value: value.as_bytes(),
            never_index: value.is_sensitive() || sensitive(name.as_str().as_bytes()),
        })
    }

    fn host(&self) -> Option<&[u8]> {
        self.get(http::header::HOST).map(|v| v.as_bytes())
    }
}

/// Fields HTTP/2 forbids (RFC 9113 §8.2.2); `name` lowercase.
fn connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
    )
}

/// As [`connection_specific`], for a name in any case.
fn connection_specific_any_case(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

/// The regular fields of `headers` as HTTP/2 allows them: without
/// connection-specific ones, without `host` when `skip_host` (it went out
/// as `:authority`), and `te` only as `trailers` in a request head:
/// `drop_te` (response heads and trailers) drops every `te`, which only a
/// request may carry (RFC 9113 §8.2.2).
pub(crate) fn regular_fields(
    headers: &impl HeadFields,
    skip_host: bool,
    drop_te: bool,
) -> impl Iterator<Item = Field<'_>> {
    headers.head_fields().filter(move |f| {
        let n = f.name;
        if connection_specific_any_case(n) || (skip_host && n.eq_ignore_ascii_case(b"host")) {
            return false;
        }
        !(n.eq_ignore_ascii_case(b"te") && (drop_te || f.value != b"trailers"))
    })
}

/// Why a head is malformed (RFC 9113 §8.1.1); the stream is reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// The pseudo-header fields a block may hold, as slot indexes.
#[derive(Clone, Copy)]
enum Pseudo {
    Method = 0,
    Scheme = 1,
    Authority = 2,
    Path = 3,
    Protocol = 4,
    Status = 5,
}

/// One header block as decoded: see the module docs.
#[derive(Default)]
pub(crate) struct Block {
    /// Pseudo-header values, one after the other.
    pseudo_bytes: Vec<u8>,
    /// Where each pseudo-header's value lies in `pseudo_bytes`.
    pseudo: [Option<(u32, u32)>; 6],
    fields: Fields,
    content_length: Option<u64>,
    regular_seen: bool,
    /// Any field named like a pseudo-header came, valid or not.
    pseudo_seen: bool,
    malformed: bool,
}

/// A `content-length` value: digits only (RFC 9110 §8.6), with the
/// spaces and tabs around them that a field value may carry. No sign, no
/// other whitespace: the field goes to HTTP/1.1 servers as received, and
/// one that reads `+1` or `1\u{a0}` differently from gwd would desync.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    let v = value.trim_ascii();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `http::HeaderValue`'s rule: visible bytes, space, tab and obs-text.
fn valid_value(value: &[u8]) -> bool {
    let bad = |b: u8| (b < 0x20 && b != b'\t') | (b == 0x7f);
    // Sixteen bytes at a time without a branch per byte, which the
    // compiler turns into vector compares: values are most of a head's
    // bytes, each checked as HPACK yields it.
    let mut chunks = value.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |any, &b| any | bad(b)) {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| bad(b))
}

impl Block {
    /// An empty block with room for `bytes` of regular fields in `count`
    /// fields (the size of the connection's previous block), and for
    /// pseudo-header values, so decoding a head like the last one does
    /// not grow its buffers field by field.
    pub(crate) fn with_capacity(bytes: usize, count: usize) -> Block {
        Block {
            pseudo_bytes: Vec::with_capacity(64),
            fields: Fields::with_capacity(bytes, count),
            ..Block::default()
        }
    }

    /// The decoded size of the regular fields: bytes and count (the hint
    /// for [`with_capacity`](Self::with_capacity)).
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.fields.bytes(), self.fields.len())
    }

    /// Takes the next decoded field.
    pub(crate) fn push(&mut self, name: &[u8], value: &[u8]) {
        self.pseudo_seen |= name.first() == Some(&b':');
        if self.malformed {
            return;
        }
        if self.check(name, value).is_err() {
            self.malformed = true;
        }
    }

    fn check(&mut self, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        if let Some(p) = name.strip_prefix(b":") {
            if self.regular_seen {
                return Err(Malformed);
            }
            let slot = match p {
                b"method" => Pseudo::Method,
                b"scheme" => Pseudo::Scheme,
                b"authority" => Pseudo::Authority,
                b"path" => Pseudo::Path,
                b"protocol" => Pseudo::Protocol,
                b"status" => Pseudo::Status,
                _ => return Err(Malformed),
            } as usize;
            if self.pseudo[slot].is_some() {
                return Err(Malformed);
            }
            let start = u32::try_from(self.pseudo_bytes.len()).map_err(|_| Malformed)?;
            let len = u32::try_from(value.len()).map_err(|_| Malformed)?;
            self.pseudo_bytes.extend_from_slice(value);
            self.pseudo[slot] = Some((start, len));
            return Ok(());
        }
        self.regular_seen = true;
        if !gwd_head::valid_lowercase_name(name)
            || connection_specific(name)
            || (name == b"te" && value != b"trailers")
            || !valid_value(value)
        {
            return Err(Malformed);
        }
        if name == b"content-length" {
            let parsed = parse_content_length(value).ok_or(Malformed)?;
            if self.content_length.is_some_and(|c| c != parsed) {
                return Err(Malformed);
            }
            self.content_length = Some(parsed);
        }
        self.fields.append(name, value);
        Ok(())
    }

    /// Whether the block held any field named like a pseudo-header
    /// (known or not, valid or not).
    pub(crate) fn has_pseudo(&self) -> bool {
        self.pseudo_seen
    }

    fn get(&self, p: Pseudo) -> Option<&[u8]> {
        self.pseudo[p as usize]
            .map(|(start, len)| &self.pseudo_bytes[start as usize..(start + len) as usize])
    }

    /// A request head, with its `content-length` and any `:protocol`.
    /// `allow_protocol`: this side advertised
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, so `:protocol` may come with a
    /// CONNECT (RFC 8441 §4); otherwise it makes the request malformed.
    pub(crate) fn into_request(
        self,
        allow_protocol: bool,
    ) -> Result<(RequestHead, Option<u64>, Option<Protocol>), Malformed> {
        if self.malformed || self.get(Pseudo::Status).is_some() {
            return Err(Malformed);
        }
        let method = Method::from_bytes(self.get(Pseudo::Method).ok_or(Malformed)?)
            .map_err(|_| Malformed)?;
        let protocol = self.get(Pseudo::Protocol);
        if protocol.is_some() && (!allow_protocol || method != Method::CONNECT) {
            return Err(Malformed);
        }
        let (scheme, path) = (self.get(Pseudo::Scheme), self.get(Pseudo::Path));
        let authority = self.get(Pseudo::Authority);
        let mut uri = http::uri::Builder::new();
        if method == Method::CONNECT && protocol.is_none() {
            // Plain CONNECT: authority only (RFC 9113 §8.5).
            if scheme.is_some() || path.is_some() {
                return Err(Malformed);
            }
            uri = uri.authority(authority.ok_or(Malformed)?);
        } else {
            let s = scheme.ok_or(Malformed)?;
            let p = path.ok_or(Malformed)?;
            // An origin-form path, or `*` for OPTIONS (RFC 9113 §8.3.1):
            // anything else would reach an HTTP/1.1 server as an invalid
            // request target.
            let asterisk = p == b"*" && method == Method::OPTIONS;
            if p.first() != Some(&b'/') && !asterisk {
                return Err(Malformed);
            }
            uri = uri.scheme(s).path_and_query(p);
            // Authority from Host when absent (RFC 9113 §8.3.1).
            let a = match authority {
                Some(a) => a,
                None => self.fields.get("host").ok_or(Malformed)?,
            };
            uri = uri.authority(a);
        }
        // No userinfo in the authority (RFC 9113 §8.3.1): `u@admin.example`
        // would become a Host that rules on `hdr(host)` do not match.
        if authority.is_some_and(|a| a.contains(&b'@')) {
            return Err(Malformed);
        }
        let uri = uri.build().map_err(|_| Malformed)?;
        let protocol = match protocol {
            // The stream carries the protocol's bytes, not a body of a
            // length (RFC 9110 §9.3.6 for CONNECT).
            Some(p) if p.is_empty() || self.content_length.is_some() => return Err(Malformed),
            Some(p) => Some(Protocol(Bytes::copy_from_slice(p))),
            None => None,
        };
        let mut fields = self.fields;
        join_cookies(&mut fields);
        let head = RequestHead {
            method,
            uri,
            version: Version::HTTP_2,
            fields,
        };
        Ok((head, self.content_length, protocol))
    }

    /// A response head, with its `content-length`.
    pub(crate) fn into_response(self) -> Result<(ResponseHead, Option<u64>), Malformed> {
        let only_status = self
            .pseudo
            .iter()
            .enumerate()
            .all(|(i, p)| p.is_none() || i == Pseudo::Status as usize);
        if self.malformed || !only_status {
            return Err(Malformed);
        }
        let status = StatusCode::from_bytes(self.get(Pseudo::Status).ok_or(Malformed)?)
            .map_err(|_| Malformed)?;
        let head = ResponseHead {
            version: Version::HTTP_2,
            status,
            reason: None,
            fields: self.fields,
        };
        Ok((head, self.content_length))
    }

    /// Trailing fields: no pseudo-header field allowed; fields a trailer
    /// section may not carry (framing, routing, credentials:
    /// [`gwd_head::allowed_in_trailers`]) are dropped, as an HTTP/1.1
    /// trailer section's are, so no relay of them ever reads them.
    pub(crate) fn into_trailers(mut self) -> Result<Fields, Malformed> {
        if self.malformed || self.has_pseudo() {
            return Err(Malformed);
        }
        if self
            .fields
            .iter()
            .any(|(n, _)| !gwd_head::allowed_in_trailers(n))
        {
            self.fields.retain(|n, _| gwd_head::allowed_in_trailers(n));
        }
        Ok(self.fields)
    }
}

/// Cookie fields split across several (as HTTP/2 clients send them) are
/// joined with `; ` into one before the request goes on as HTTP/1.1
/// (RFC 9113 §8.2.3).
fn join_cookies(fields: &mut Fields) {
    if fields.count("cookie") < 2 {
        return;
    }
    let mut joined = Vec::new();
    for v in fields.get_all("cookie") {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v);
    }
    fields.remove("cookie");
    fields.append(b"cookie", &joined);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_bytes_are_checked_in_every_position() {
        // The byte-by-byte rule the vectorised check replaced, for each
        // byte at each place of a value long enough to have whole chunks
        // and a remainder.
        let allowed = |b: u8| (b >= 0x20 && b != 0x7f) || b == b'\t';
        for len in [1, 15, 16, 17, 40] {
            for at in [0, len / 2, len - 1] {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    assert_eq!(valid_value(&v), allowed(b), "{b:#04x} at {at} of {len}");
                }
            }
        }
        assert!(valid_value(b""));
    }

    fn block(fields: &[(&str, &str)]) -> Block {
        let mut b = Block::default();
        for (n, v) in fields {
            b.push(n.as_bytes(), v.as_bytes());
        }
        b
    }

    #[test]
    fn a_request_keeps_its_fields_in_order() {
        let (head, cl, protocol) = block(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "app.example"),
            (":path", "/a?b"),
            ("x-b", "2"),
            ("content-length", "3"),
            ("x-a", "1"),
        ])
        .into_request(false)
        .unwrap();
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri, "https://app.example/a?b");
        assert_eq!(head.version, Version::HTTP_2);
        let names: Vec<_> = head.fields.iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(names, [&b"x-b"[..], b"content-length", b"x-a"]);
        assert_eq!((cl, protocol), (Some(3), None));
    }

    #[test]
    fn host_stands_in_for_a_missing_authority() {
        let (head, ..) = block(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("host", "h.example"),
        ])
        .into_request(false)
        .unwrap();
        assert_eq!(head.uri.authority().unwrap(), "h.example");
    }

    #[test]
    fn broken_rules_make_a_block_malformed() {
        let request = |extra: &[(&str, &str)]| {
            let mut f = vec![(":method", "GET"), (":scheme", "https"), (":path", "/")];
            f.push((":authority", "a"));
            f.extend_from_slice(extra);
            block(&f).into_request(true).map(|_| ())
        };
        assert_eq!(request(&[]), Ok(()));
        for bad in [
            &[("X-Upper", "v")][..],
            &[("connection", "close")],
            &[("te", "gzip")],
            &[("x", "a\u{1}b")],
            &[("x", "a\u{7f}")],
            &[("content-length", "1"), ("content-length", "2")],
            &[("content-length", "x")],
            &[("bad name", "v")],
            &[("x", "v"), (":method", "GET")],
            &[(":method", "GET")],
            &[(":unknown", "v")],
            &[(":status", "200")],
            &[(":protocol", "websocket")],
        ] {
            assert_eq!(request(bad), Err(Malformed), "{bad:?}");
        }
        assert!(
            block(&[(":status", "200"), (":path", "/")])
                .into_response()
                .is_err()
        );
        assert!(block(&[(":status", "2000")]).into_response().is_err());
        assert!(block(&[(":status", "200")]).into_trailers().is_err());
        assert!(block(&[("x", "1")]).into_trailers().is_ok());
    }

    #[test]
    fn extended_connect_carries_its_protocol() {
        let f = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/chat"),
        ];
        let (_, _, p) = block(&f).into_request(true).unwrap();
        assert!(p.unwrap().is("WebSocket"));
        assert!(block(&f).into_request(false).is_err());
    }

    #[test]
    fn sent_fields_leave_out_what_http2_forbids_in_any_case() {
        let mut f = Fields::new();
        for (n, v) in [
            ("Connection", "close"),
            ("Host", "h"),
            ("TE", "trailers"),
            ("Te", "gzip"),
            ("Content-Type", "text/plain"),
        ] {
            f.append(n.as_bytes(), v.as_bytes());
        }
        let kept = |skip_host, drop_te| -> Vec<String> {
            regular_fields(&f, skip_host, drop_te)
                .map(|x| String::from_utf8_lossy(x.name).into_owned())
                .collect()
        };
        assert_eq!(kept(true, false), ["TE", "Content-Type"]);
        assert_eq!(kept(false, true), ["Host", "Content-Type"]);
    }
}
