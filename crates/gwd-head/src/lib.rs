//! HTTP message heads as a proxy forwards them.
//!
//! # Model
//!
//! A head is a start line (method and target, or status) plus an ordered
//! list of header fields. [`Fields`] keeps every field's name and value as
//! bytes in **one buffer** and a small index of `(name, value)` spans over
//! it, in the order received and with the names' case as received, the
//! way HAProxy's HTX keeps them. Nothing is hashed or re-allocated per
//! field: parsing an HTTP/1.1 head copies its header section once,
//! forwarding writes the spans back out, and the rules in between edit the
//! index (remove) or append to the buffer (add, set).
//!
//! [`RequestHead`] and [`ResponseHead`] wrap [`Fields`] with the start
//! line, using the `http` crate's small value types ([`Method`], [`Uri`],
//! [`Version`], [`StatusCode`]) so a head converts cheaply to and from the
//! `http::request::Parts` other HTTP stacks use.
//!
//! # Invariants
//!
//! * Names are matched ASCII case-insensitively, never rewritten: a field
//!   received as `X-Custom` is forwarded as `X-Custom`.
//! * Order is kept: iteration yields fields in the order they were added,
//!   and removing a field keeps the others' order.
//! * Every name stored is an RFC 9110 token and every value is free of NUL,
//!   CR and LF: parsers check what they store, and the checked adders
//!   ([`Fields::try_append`], [`Fields::try_set`]) refuse anything else, so
//!   a head written back to the wire can never carry an injected line.
//!
//! # Example
//!
//! ```
//! use gwd_head::Fields;
//!
//! let mut f = Fields::new();
//! f.append(b"Host", b"app.example");
//! f.append(b"X-Forwarded-For", b"10.0.0.1");
//! f.append(b"x-forwarded-for", b"10.0.0.2");
//! assert_eq!(f.get("host"), Some(&b"app.example"[..]));
//! assert_eq!(f.get_all("X-FORWARDED-FOR").count(), 2);
//!
//! f.remove("x-forwarded-for");
//! f.try_set(b"X-Via", b"gwd").unwrap();
//! assert!(f.try_append(b"X-Bad", b"a\r\nInjected: 1").is_err());
//!
//! let mut wire = Vec::new();
//! f.write_h1(&mut wire);
//! assert_eq!(wire, b"Host: app.example\r\nX-Via: gwd\r\n");
//! ```
//!
//! Depends on `http` only (for its value types); pure, no I/O.

use std::fmt;

pub use http::{Method, StatusCode, Uri, Version};

/// Spare room [`Fields::from_section`] leaves for additions: bytes, and
/// fields.
const ROOM_BYTES: usize = 96;
const ROOM_FIELDS: usize = 4;

/// Where one field's name and value lie in [`Fields`]' buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
}

/// Header fields in one buffer, in order, case kept. See the crate docs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    buf: Vec<u8>,
    spans: Vec<Span>,
}

/// A name or value a checked adder refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidField {
    /// The name is empty or has a byte outside RFC 9110's `tchar`.
    Name,
    /// The value holds NUL, CR or LF.
    Value,
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidField::Name => "invalid header field name",
            InvalidField::Value => "header field value holds NUL, CR or LF",
        })
    }
}

impl std::error::Error for InvalidField {}

/// RFC 9110 `tchar`: the bytes a token (and so a field name) may hold.
pub const fn is_tchar(b: u8) -> bool {
    NAME_BYTE[b as usize] & TCHAR != 0
}

/// [`NAME_BYTE`]: a `tchar`.
const TCHAR: u8 = 1;
/// [`NAME_BYTE`]: an ASCII uppercase letter.
const UPPER: u8 = 2;

/// What each byte is in a field name, looked up instead of tested range by
/// range: names are checked on every head that crosses gwd (an answer's
/// names cost about 900 instructions a request with the range tests).
const NAME_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        if matches!(c,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
            | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
        {
            t[b] |= TCHAR;
        }
        if c.is_ascii_uppercase() {
            t[b] |= UPPER;
        }
        b += 1;
    }
    t
};

/// True when `name` is a valid field name (a non-empty token).
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| NAME_BYTE[usize::from(b)] & TCHAR != 0)
}

/// True when `name` is a valid field name without uppercase letters, as
/// HTTP/2 and HTTP/3 require (RFC 9113 §8.2.1): one pass instead of
/// [`valid_name`] and a search for uppercase.
///
/// ```
/// assert!(gwd_head::valid_lowercase_name(b"x-request-id"));
/// assert!(!gwd_head::valid_lowercase_name(b"X-Request-Id"));
/// assert!(!gwd_head::valid_lowercase_name(b"bad name"));
/// assert!(!gwd_head::valid_lowercase_name(b""));
/// ```
pub fn valid_lowercase_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| NAME_BYTE[usize::from(b)] == TCHAR)
}

/// True when `host` is one `uri-host [ ":" port ]`, as a Host field or an
/// HTTP/2 `:authority` must be: not a list, no userinfo, no path (RFC 9110
/// §7.2). Empty is allowed (RFC 9112 §3.2). A list (`a,b`) would let a
/// rule match one element while the server reads another.
///
/// ```
/// assert!(gwd_head::valid_host(b"app.example:8080"));
/// assert!(gwd_head::valid_host(b"[::1]:443"));
/// assert!(!gwd_head::valid_host(b"allowed,internal"));
/// assert!(!gwd_head::valid_host(b"a:80x"));
/// ```
pub fn valid_host(host: &[u8]) -> bool {
    if host.is_empty() {
        return true;
    }
    // host: an IP-literal in brackets, or a reg-name / IPv4 address made
    // of unreserved characters, percent escapes and sub-delims other than
    // the comma (which would make it a list).
    let (name, port) = if host[0] == b'[' {
        let Some(end) = host.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &host[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &host[end + 1..] {
            [] => (&[][..], None),
            [b':', port @ ..] => (&[][..], Some(port)),
            _ => return false,
        }
    } else {
        match host.iter().rposition(|&b| b == b':') {
            Some(i) => (&host[..i], Some(&host[i + 1..])),
            None => (host, None),
        }
    };
    let reg_name_byte = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b';'
                    | b'='
            )
    };
    if !name.iter().all(|&b| reg_name_byte(b)) {
        return false;
    }
    port.is_none_or(|p| p.iter().all(u8::is_ascii_digit))
}

/// Whether a field may travel in a trailer section: not framing
/// (`Content-Length`, `Transfer-Encoding`, `Trailer`), connection
/// (`Connection`, `Keep-Alive`, `TE`, `Upgrade`), routing (`Host`) or
/// authentication and cookies (RFC 9110 §6.5.1). The same list for
/// HTTP/1.1 and HTTP/2 trailers, in and out.
pub fn allowed_in_trailers(name: &[u8]) -> bool {
    const FORBIDDEN: [&str; 13] = [
        "content-length",
        "transfer-encoding",
        "trailer",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "host",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    !FORBIDDEN
        .iter()
        .any(|f| f.len() == name.len() && f.as_bytes().eq_ignore_ascii_case(name))
}

/// True when `value` may be stored: no NUL, CR or LF (RFC 9110 §5.5 lets
/// recipients reject them; gwd always does, as HAProxy does).
pub fn valid_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
}

/// `value` without leading and trailing spaces and tabs (RFC 9110 OWS).
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |p| p + 1);
    &value[start..end]
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a head is far below 4 GiB")
}

impl Fields {
    /// No fields, no allocation.
    pub const fn new() -> Fields {
        Fields {
            buf: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Room for `bytes` of names and values and `fields` fields.
    pub fn with_capacity(bytes: usize, fields: usize) -> Fields {
        Fields {
            buf: Vec::with_capacity(bytes),
            spans: Vec::with_capacity(fields),
        }
    }

    /// Bytes of names and values held: with [`len`](Self::len), what
    /// [`with_capacity`](Self::with_capacity) takes to hold the same
    /// fields without growing (a capacity hint for the next similar head).
    ///
    /// ```
    /// use gwd_head::Fields;
    ///
    /// let mut f = Fields::new();
    /// f.append(b"server", b"gwd");
    /// let mut g = Fields::with_capacity(f.bytes(), f.len());
    /// g.append(b"server", b"gwd");
    /// assert_eq!(g.bytes(), f.bytes());
    /// ```
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Number of fields (each repeated name counts once per line).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn name_of(&self, s: &Span) -> &[u8] {
        &self.buf[s.name as usize..(s.name + s.name_len) as usize]
    }

    fn value_of(&self, s: &Span) -> &[u8] {
        &self.buf[s.value as usize..(s.value + s.value_len) as usize]
    }

    /// Fields over one copy of `section` (a parser's header section), one
    /// field per `(name, value)` byte range into it, in order. The bytes
    /// between the ranges (`: `, line ends) are copied along and never
    /// read: one copy instead of one per name and value. The parser must
    /// have checked every name and value (debug builds assert it).
    pub fn from_section(
        section: &[u8],
        ranges: impl ExactSizeIterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)>,
    ) -> Fields {
        let mut spans = Vec::with_capacity(ranges.len());
        for (name, value) in ranges {
            debug_assert!(valid_name(&section[name.clone()]));
            debug_assert!(valid_value(&section[value.clone()]));
            spans.push(Span {
                name: to_u32(name.start),
                name_len: to_u32(name.len()),
                value: to_u32(value.start),
                value_len: to_u32(value.len()),
            });
        }
        // Room for what rules and gwd usually add (X-Forwarded-For, a
        // set-header or two) without growing either vector.
        let mut buf = Vec::with_capacity(section.len() + ROOM_BYTES);
        buf.extend_from_slice(section);
        spans.reserve(ROOM_FIELDS);
        Fields { buf, spans }
    }

    /// Appends a field whose name and value the caller has checked (a
    /// parser that validated them, or constants). Debug builds assert it.
    pub fn append(&mut self, name: &[u8], value: &[u8]) {
        debug_assert!(valid_name(name), "{:?}", String::from_utf8_lossy(name));
        debug_assert!(valid_value(value), "{:?}", String::from_utf8_lossy(value));
        let n = to_u32(self.buf.len());
        self.buf.extend_from_slice(name);
        let v = to_u32(self.buf.len());
        self.buf.extend_from_slice(value);
        self.spans.push(Span {
            name: n,
            name_len: to_u32(name.len()),
            value: v,
            value_len: to_u32(value.len()),
        });
    }

    /// Appends a field after checking it (values from rules and other
    /// untrusted sources).
    pub fn try_append(&mut self, name: &[u8], value: &[u8]) -> Result<(), InvalidField> {
        if !valid_name(name) {
            return Err(InvalidField::Name);
        }
        if !valid_value(value) {
            return Err(InvalidField::Value);
        }
        self.append(name, value);
        Ok(())
    }

    /// HAProxy's `set-header`: removes every field named `name`, then
    /// appends one (checked).
    pub fn try_set(&mut self, name: &[u8], value: &[u8]) -> Result<(), InvalidField> {
        if !valid_name(name) {
            return Err(InvalidField::Name);
        }
        if !valid_value(value) {
            return Err(InvalidField::Value);
        }
        self.remove_bytes(name);
        self.append(name, value);
        Ok(())
    }

    /// The fields in order, as `(name, value)`.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.spans
            .iter()
            .map(|s| (self.name_of(s), self.value_of(s)))
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.spans
            .iter()
            .find(|s| self.name_of(s).eq_ignore_ascii_case(name.as_bytes()))
            .map(|s| self.value_of(s))
    }

    /// Every value of `name`, one per field line, in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.spans
            .iter()
            .filter(move |s| self.name_of(s).eq_ignore_ascii_case(name.as_bytes()))
            .map(|s| self.value_of(s))
    }

    /// True when a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many field lines are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// The comma-separated elements of every `name` field, trimmed, empty
    /// ones skipped (RFC 9110 §5.6.1 lists: `Connection`, `TE`, ...).
    pub fn tokens<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows)
            .filter(|t| !t.is_empty())
    }

    /// True when a `name` list holds `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name)
            .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Removes every field named `name`; returns how many went.
    pub fn remove(&mut self, name: &str) -> usize {
        self.remove_bytes(name.as_bytes())
    }

    fn remove_bytes(&mut self, name: &[u8]) -> usize {
        let before = self.spans.len();
        let buf = &self.buf;
        self.spans.retain(|s| {
            !buf[s.name as usize..(s.name + s.name_len) as usize].eq_ignore_ascii_case(name)
        });
        before - self.spans.len()
    }

    /// Keeps the fields for which `keep(name, value)` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        let buf = &self.buf;
        self.spans.retain(|s| {
            keep(
                &buf[s.name as usize..(s.name + s.name_len) as usize],
                &buf[s.value as usize..(s.value + s.value_len) as usize],
            )
        });
    }

    /// Size of the fields as HTTP/1.1 lines (`name: value\r\n` each).
    pub fn wire_len(&self) -> usize {
        self.spans
            .iter()
            .map(|s| (s.name_len + s.value_len) as usize + 4)
            .sum()
    }

    /// Writes the fields as HTTP/1.1 lines, names in their case.
    pub fn write_h1(&self, out: &mut Vec<u8>) {
        out.reserve(self.wire_len());
        for (n, v) in self.iter() {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The fields as an `http::HeaderMap` (names lower-cased, as HTTP/2
    /// requires). Fields the `http` crate refuses (obs-text it does not
    /// take as a value) are left out.
    pub fn to_header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::with_capacity(self.len());
        for (n, v) in self.iter() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(n),
                http::HeaderValue::from_bytes(v),
            ) {
                map.append(n, v);
            }
        }
        map
    }

    /// Fields from an `http::HeaderMap`, in its iteration order.
    pub fn from_header_map(map: &http::HeaderMap) -> Fields {
        let bytes = map.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        let mut f = Fields::with_capacity(bytes, map.len());
        for (n, v) in map {
            // HeaderValue allows bytes Fields refuses only for NUL/CR/LF,
            // which it refuses too.
            if valid_value(v.as_bytes()) {
                f.append(n.as_str().as_bytes(), v.as_bytes());
            }
        }
        f
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            }))
            .finish()
    }
}

impl<'a> Extend<(&'a [u8], &'a [u8])> for Fields {
    fn extend<I: IntoIterator<Item = (&'a [u8], &'a [u8])>>(&mut self, iter: I) {
        for (n, v) in iter {
            self.append(n, v);
        }
    }
}

/// A request head: method, target, version and fields.
///
/// The target is an [`Uri`]: origin form (`/a?b`) for most HTTP/1.1
/// requests, absolute form (`http://host/a`) for proxy-style ones and for
/// HTTP/2 (scheme and `:authority` folded in), authority form for
/// CONNECT, `*` for `OPTIONS *`.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub fields: Fields,
}

impl RequestHead {
    /// The path and query (`/` when the target has none, `*` for
    /// `OPTIONS *`).
    pub fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |pq| pq.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The `Host` field when there is one, else the target's authority.
    pub fn host(&self) -> Option<&[u8]> {
        self.fields
            .get("host")
            .or_else(|| self.uri.authority().map(|a| a.as_str().as_bytes()))
    }

    /// The head as `http::request::Parts` (for HTTP stacks that take
    /// them). Fields become a header map; extensions are empty.
    pub fn to_http_parts(&self) -> http::request::Parts {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = self.method.clone();
        parts.uri = self.uri.clone();
        parts.version = self.version;
        parts.headers = self.fields.to_header_map();
        parts
    }

    /// A head from `http::request::Parts`.
    pub fn from_http_parts(parts: &http::request::Parts) -> RequestHead {
        RequestHead {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            fields: Fields::from_header_map(&parts.headers),
        }
    }
}

/// A response head: version, status, the reason phrase as received (if
/// any) and fields.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub version: Version,
    pub status: StatusCode,
    /// The reason phrase received on HTTP/1.x, forwarded as is; `None`
    /// writes the status's canonical phrase.
    pub reason: Option<Box<str>>,
    pub fields: Fields,
}

impl ResponseHead {
    /// A head with no fields.
    pub fn new(status: StatusCode) -> ResponseHead {
        ResponseHead {
            version: Version::HTTP_11,
            status,
            reason: None,
            fields: Fields::new(),
        }
    }

    /// The reason phrase to write: as received, else the canonical one.
    pub fn reason_phrase(&self) -> &str {
        match &self.reason {
            Some(r) => r,
            None => self.status.canonical_reason().unwrap_or(""),
        }
    }

    /// The head as `http::response::Parts`.
    pub fn to_http_parts(&self) -> http::response::Parts {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = self.status;
        parts.version = self.version;
        parts.headers = self.fields.to_header_map();
        parts
    }

    /// A head from `http::response::Parts`.
    pub fn from_http_parts(parts: &http::response::Parts) -> ResponseHead {
        ResponseHead {
            version: parts.version,
            status: parts.status,
            reason: None,
            fields: Fields::from_header_map(&parts.headers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_name_byte_table_is_rfc_9110_tchar() {
        // The definition the table replaced, byte by byte.
        for b in 0..=255u8 {
            let tchar = matches!(b,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
                | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
            assert_eq!(is_tchar(b), tchar, "{b:#04x}");
            assert_eq!(valid_name(&[b]), tchar, "{b:#04x}");
            assert_eq!(
                valid_lowercase_name(&[b'a', b]),
                tchar && !b.is_ascii_uppercase(),
                "{b:#04x}"
            );
        }
    }

    #[test]
    fn keeps_order_and_case_and_finds_case_insensitively() {
        let mut f = Fields::new();
        f.append(b"Host", b"a");
        f.append(b"X-One", b"1");
        f.append(b"x-one", b"2");
        f.append(b"Accept", b"*/*");
        let names: Vec<_> = f.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"Host"[..], b"X-One", b"x-one", b"Accept"]);
        assert_eq!(f.get_all("X-ONE").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert_eq!(f.count("x-one"), 2);
        assert!(f.contains("accept"));
        assert!(!f.contains("accept-encoding"));
    }

    #[test]
    fn from_section_reads_ranges_of_one_copy() {
        let section = b"Host: a\r\nX-B:  2\r\n";
        let f = Fields::from_section(section, [(0..4, 6..7), (9..12, 15..16)].into_iter());
        let got: Vec<_> = f.iter().collect();
        assert_eq!(got, [(&b"Host"[..], &b"a"[..]), (&b"X-B"[..], &b"2"[..])]);
        let mut more = f.clone();
        more.append(b"X-C", b"3");
        assert_eq!(more.get("x-c"), Some(&b"3"[..]));
    }

    #[test]
    fn remove_keeps_the_others_in_order() {
        let mut f = Fields::new();
        for (n, v) in [("a", "1"), ("b", "2"), ("A", "3"), ("c", "4")] {
            f.append(n.as_bytes(), v.as_bytes());
        }
        assert_eq!(f.remove("a"), 2);
        let got: Vec<_> = f.iter().collect();
        assert_eq!(got, [(&b"b"[..], &b"2"[..]), (&b"c"[..], &b"4"[..])]);
        assert_eq!(f.remove("zzz"), 0);
    }

    #[test]
    fn set_replaces_every_occurrence_and_appends() {
        let mut f = Fields::new();
        f.append(b"X-A", b"1");
        f.append(b"B", b"2");
        f.append(b"x-a", b"3");
        f.try_set(b"X-A", b"new").unwrap();
        let got: Vec<_> = f.iter().collect();
        assert_eq!(got, [(&b"B"[..], &b"2"[..]), (&b"X-A"[..], &b"new"[..])]);
    }

    #[test]
    fn checked_adders_refuse_injection() {
        let mut f = Fields::new();
        assert_eq!(f.try_append(b"X", b"a\r\nB: c"), Err(InvalidField::Value));
        assert_eq!(f.try_append(b"X", b"a\nB"), Err(InvalidField::Value));
        assert_eq!(f.try_append(b"X", b"a\0"), Err(InvalidField::Value));
        assert_eq!(f.try_append(b"X Y", b"v"), Err(InvalidField::Name));
        assert_eq!(f.try_append(b"", b"v"), Err(InvalidField::Name));
        assert_eq!(f.try_append(b"X:", b"v"), Err(InvalidField::Name));
        assert_eq!(f.try_set(b"X\r\n", b"v"), Err(InvalidField::Name));
        assert!(f.is_empty());
        // obs-text (UTF-8) values are stored as bytes.
        f.try_append(b"X-Name", "zoë".as_bytes()).unwrap();
        assert_eq!(f.get("x-name"), Some("zoë".as_bytes()));
    }

    #[test]
    fn tokens_split_lists_across_lines() {
        let mut f = Fields::new();
        f.append(b"Connection", b"keep-alive, X-A");
        f.append(b"connection", b" ,upgrade ,");
        let t: Vec<_> = f.tokens("connection").collect();
        assert_eq!(t, [&b"keep-alive"[..], b"X-A", b"upgrade"]);
        assert!(f.has_token("Connection", "x-a"));
        assert!(!f.has_token("Connection", "close"));
    }

    #[test]
    fn writes_h1_lines_and_counts_them() {
        let mut f = Fields::new();
        f.append(b"Host", b"a");
        f.append(b"X-Empty", b"");
        let mut out = Vec::new();
        f.write_h1(&mut out);
        assert_eq!(out, b"Host: a\r\nX-Empty: \r\n");
        assert_eq!(f.wire_len(), out.len());
    }

    #[test]
    fn converts_to_and_from_header_maps() {
        let mut f = Fields::new();
        f.append(b"Host", b"a");
        f.append(b"X-Two", b"1");
        f.append(b"x-two", b"2");
        let map = f.to_header_map();
        assert_eq!(map["host"], "a");
        assert_eq!(map.get_all("x-two").iter().count(), 2);
        let back = Fields::from_header_map(&map);
        assert_eq!(back.get("HOST"), Some(&b"a"[..]));
        assert_eq!(back.count("x-two"), 2);
    }

    #[test]
    fn request_head_round_trips_through_http_parts() {
        let mut fields = Fields::new();
        fields.append(b"Host", b"app.example");
        let head = RequestHead {
            method: Method::POST,
            uri: "/a/b?c=d".parse().unwrap(),
            version: Version::HTTP_11,
            fields,
        };
        assert_eq!(head.path_and_query(), "/a/b?c=d");
        assert_eq!(head.path(), "/a/b");
        assert_eq!(head.host(), Some(&b"app.example"[..]));
        let parts = head.to_http_parts();
        assert_eq!(parts.method, Method::POST);
        assert_eq!(parts.headers["host"], "app.example");
        let back = RequestHead::from_http_parts(&parts);
        assert_eq!(back.path_and_query(), "/a/b?c=d");
        assert_eq!(back.fields.get("host"), Some(&b"app.example"[..]));
    }

    #[test]
    fn host_falls_back_to_the_authority() {
        let head = RequestHead {
            method: Method::GET,
            uri: "https://app.example:8443/x".parse().unwrap(),
            version: Version::HTTP_2,
            fields: Fields::new(),
        };
        assert_eq!(head.host(), Some(&b"app.example:8443"[..]));
        assert_eq!(head.path_and_query(), "/x");
    }

    #[test]
    fn response_reason_defaults_to_canonical() {
        let mut r = ResponseHead::new(StatusCode::NOT_FOUND);
        assert_eq!(r.reason_phrase(), "Not Found");
        r.reason = Some("Nope".into());
        assert_eq!(r.reason_phrase(), "Nope");
    }

    #[test]
    fn trim_ows_trims_spaces_and_tabs_only() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9-]{0,6}"
    }

    proptest! {
        /// Against a model (a Vec of pairs): appends, removes and sets
        /// leave the same fields in the same order.
        #[test]
        fn behaves_like_a_list_of_pairs(ops in proptest::collection::vec(
            (0u8..3, name(), "[ -~]{0,8}"), 0..40))
        {
            let mut f = Fields::new();
            let mut model: Vec<(String, String)> = Vec::new();
            for (op, n, v) in ops {
                match op {
                    0 => {
                        f.append(n.as_bytes(), v.as_bytes());
                        model.push((n, v));
                    }
                    1 => {
                        let removed = f.remove(&n);
                        let before = model.len();
                        model.retain(|(m, _)| !m.eq_ignore_ascii_case(&n));
                        prop_assert_eq!(removed, before - model.len());
                    }
                    _ => {
                        f.try_set(n.as_bytes(), v.as_bytes()).unwrap();
                        model.retain(|(m, _)| !m.eq_ignore_ascii_case(&n));
                        model.push((n, v));
                    }
                }
                let got: Vec<(String, String)> = f
                    .iter()
                    .map(|(n, v)| (
                        String::from_utf8(n.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    ))
                    .collect();
                prop_assert_eq!(&got, &model);
            }
        }
    }
}
