//! What an HTTP check sends (`option httpchk`, `http-check send`) and how
//! its answer is judged (`http-check expect`).

use std::borrow::Cow;

use crate::expect::{Expect, ExpectKind};
use crate::status::{CheckOutcome, CheckStatus};

/// The most bytes of an answer a check reads (HAProxy's check buffer,
/// `tune.bufsize` 16 KiB). [`HttpCheck::judge`] looks at no more than this
/// and decides once this much has arrived, as if the server had closed.
pub const MAX_RESPONSE: usize = 16 * 1024;

/// The most header fields an answer's head may have.
const MAX_HEADERS: usize = 100;

/// Why an `option httpchk` line or a check request part is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpCheckError {
    /// More than `<method> <uri> <version>`.
    #[error(
        "option httpchk takes at most 3 arguments (<method> <uri> <version>); unexpected '{0}'"
    )]
    TooManyArgs(String),
    /// The method is not an HTTP token.
    #[error("http check: bad method '{0}' (expected a token such as GET, HEAD or OPTIONS)")]
    BadMethod(String),
    /// The URI does not start with `/` or `*`, or contains blanks or control
    /// characters.
    #[error("http check: bad uri '{0}' (expected a path starting with '/', or '*')")]
    BadUri(String),
    /// The version is not `HTTP/<digit>.<digit>`.
    #[error("http check: bad version '{0}' (expected HTTP/1.0 or HTTP/1.1)")]
    BadVersion(String),
    /// A header name is not an HTTP token.
    #[error("http check: bad header name '{0}'")]
    BadHeaderName(String),
    /// A header value contains CR, LF or NUL (it would inject lines).
    #[error("http check: the value of header '{0}' contains CR, LF or NUL")]
    BadHeaderValue(String),
    /// A header line of the legacy `option httpchk` version form
    /// (`"HTTP/1.1\r\nHost: x"`) has no colon.
    #[error("http check: bad header line '{0}' (expected 'name: value')")]
    BadHeaderLine(String),
}

/// What an HTTP check sends, and what it expects back.
///
/// The default is HAProxy's `option httpchk` with no arguments:
/// `OPTIONS / HTTP/1.0`, no headers, no body, and the default expectation
/// (a 2xx or 3xx status).
///
/// ```
/// use gwd_check::{CheckStatus, Expect, HttpCheck};
///
/// let mut check = HttpCheck::from_option_args("GET /health HTTP/1.1").unwrap();
/// check.add_header("host", "app.example").unwrap();
/// check.expect = Some(Expect::parse("string ready").unwrap());
/// assert_eq!(
///     check.request(),
///     b"GET /health HTTP/1.1\r\nhost: app.example\r\nconnection: close\r\n\r\n"
/// );
/// let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nready";
/// assert_eq!(check.judge(&answer[..30], false), None); // needs more bytes
/// assert_eq!(check.judge(answer, false).unwrap().status, CheckStatus::L7Ok);
/// ```
#[derive(Debug, Clone)]
pub struct HttpCheck {
    /// The request method (`OPTIONS` by default).
    pub method: String,
    /// The request target (`/` by default).
    pub uri: String,
    /// The protocol version (`HTTP/1.0` by default).
    pub version: String,
    /// Header fields, sent in this order with the case given. Use
    /// [`add_header`](Self::add_header), which refuses what would break the
    /// request.
    pub headers: Vec<(String, String)>,
    /// The body, sent with a `content-length`.
    pub body: Option<String>,
    /// How the answer is judged; `None` is HAProxy's default, a status in
    /// 200-399.
    pub expect: Option<Expect>,
}

impl Default for HttpCheck {
    /// `OPTIONS / HTTP/1.0`, no headers, no body, no expectation.
    fn default() -> Self {
        HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: Vec::new(),
            body: None,
            expect: None,
        }
    }
}

impl HttpCheck {
    /// Parses the arguments of `option httpchk [<method>] [<uri>]
    /// [<version>]` in HAProxy's forms: none (the default), `<uri>`,
    /// `<method> <uri>`, `<method> <uri> <version>`.
    ///
    /// The version may carry headers and a body the old way, separated by
    /// CRLF (`GET / "HTTP/1.1\r\nHost:\ www"` in a configuration): with real
    /// CR LF characters if the configuration parser already unescaped them,
    /// or with the literal `\r\n`, `\ `, `\t` and `\\` escapes, which are
    /// decoded here. A blank line starts the body.
    ///
    /// Refused: more than three words, a method that is not a token, a URI
    /// not starting with `/` or `*` (or with blanks or control characters
    /// in it), a version other than `HTTP/<digit>.<digit>`, and bad header
    /// lines.
    pub fn from_option_args(args: &str) -> Result<HttpCheck, HttpCheckError> {
        let mut check = HttpCheck::default();
        let args = args.trim();
        if args.is_empty() {
            return Ok(check);
        }
        let (first, rest) = split_word(args);
        if rest.is_empty() {
            check_uri(first)?;
            check.uri = first.to_string();
            return Ok(check);
        }
        let (second, rest) = split_word(rest);
        check_method(first)?;
        check_uri(second)?;
        check.method = first.to_string();
        check.uri = second.to_string();
        if rest.is_empty() {
            return Ok(check);
        }
        let rest: Cow<'_, str> = if rest.contains("\\r") || rest.contains("\\n") {
            Cow::Owned(unescape(rest))
        } else {
            Cow::Borrowed(rest)
        };
        if !rest.contains(['\r', '\n']) {
            let (version, extra) = split_word(&rest);
            if !extra.is_empty() {
                return Err(HttpCheckError::TooManyArgs(extra.to_string()));
            }
            check_version(version)?;
            check.version = version.to_string();
            return Ok(check);
        }
        // Legacy form: "<version>\r\n<header>\r\n...[\r\n\r\n<body>]".
        let (head, body) = split_blank_line(&rest);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let version = lines.next().unwrap_or("").trim();
        let (version, extra) = split_word(version);
        if !extra.is_empty() {
            return Err(HttpCheckError::TooManyArgs(extra.to_string()));
        }
        check_version(version)?;
        check.version = version.to_string();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| HttpCheckError::BadHeaderLine(line.to_string()))?;
            check.add_header(name, value.trim_matches([' ', '\t']))?;
        }
        check.body = body.filter(|b| !b.is_empty()).map(str::to_string);
        Ok(check)
    }

    /// Appends a header field after checking it: the name must be an HTTP
    /// token, the value must not contain CR, LF or NUL.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), HttpCheckError> {
        check_header(name, value)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// Checks every part of the request as [`from_option_args`] and
    /// [`add_header`] do; for a check whose fields were set directly (from
    /// `http-check send meth ... uri ... ver ... hdr ...`).
    ///
    /// [`from_option_args`]: Self::from_option_args
    /// [`add_header`]: Self::add_header
    pub fn validate(&self) -> Result<(), HttpCheckError> {
        check_method(&self.method)?;
        check_uri(&self.uri)?;
        check_version(&self.version)?;
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        Ok(())
    }

    /// The bytes of the request: the start line, the headers in order, a
    /// `content-length` when there is a body (replacing any given one, so
    /// the framing is always right), `connection: close` unless a
    /// `connection` header was given, the blank line, then the body.
    ///
    /// An HTTP/1.1 request without a `host` header gets none added, as
    /// HAProxy sends it (servers that insist answer 400, which the check
    /// reports); add one with [`add_header`](Self::add_header).
    ///
    /// Nothing here can inject a line: headers that [`validate`] would
    /// refuse are left out, and blanks and control characters are dropped
    /// from the start-line parts. Call [`validate`] first to report them.
    ///
    /// [`validate`]: Self::validate
    pub fn request(&self) -> Vec<u8> {
        let body = self.body.as_deref();
        let mut out = Vec::with_capacity(64 + body.map_or(0, str::len));
        push_start_part(&mut out, &self.method);
        out.push(b' ');
        push_start_part(&mut out, &self.uri);
        out.push(b' ');
        push_start_part(&mut out, &self.version);
        out.extend_from_slice(b"\r\n");
        let mut has_connection = false;
        for (name, value) in &self.headers {
            if check_header(name, value).is_err()
                || (body.is_some() && name.eq_ignore_ascii_case("content-length"))
            {
                continue;
            }
            has_connection |= name.eq_ignore_ascii_case("connection");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(body) = body {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        if !has_connection {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if let Some(body) = body {
            out.extend_from_slice(body.as_bytes());
        }
        out
    }

    /// Judges what the server sent so far. `eof`: the server closed (or the
    /// read limit was reached; [`MAX_RESPONSE`] bytes count as that too).
    /// Returns `None` when more bytes are needed to decide, else the
    /// status, code and info; `duration` is left at zero for the caller to
    /// fill.
    ///
    /// Rules (HAProxy 2.6's `tcpcheck_eval_expect_http()`):
    /// - nothing at eof: `L7RSP` "empty response"; eof inside the head:
    ///   `L7RSP` "truncated response"; a head that is not HTTP/1.x:
    ///   `L7RSP` "invalid HTTP response: ..." (interim 1xx answers other
    ///   than 101 are skipped);
    /// - no expectation: 200-399 is `L7OK` with the code, anything else
    ///   `L7STS` with the code and the reason phrase as info;
    /// - `status`/`rstatus` decide on the head alone, the same way;
    /// - `string`/`rstring` need the body, complete by `content-length`,
    ///   by the last chunk (decoded) or at eof. A `string` found early
    ///   decides at once; otherwise the whole body is awaited (an `rstring`
    ///   always waits, as `$` needs the end). A match is `L7OK` with the
    ///   code, a miss `L7RSP` "HTTP content check did not match"; an empty
    ///   body `L7RSP` "HTTP content check could not find a response body";
    /// - `!` flips the verdict (a negated content match says "HTTP check
    ///   matched unwanted content").
    ///
    /// The codes follow HAProxy: `L7RSP` outcomes carry no code.
    pub fn judge(&self, received: &[u8], eof: bool) -> Option<CheckOutcome> {
        let full = received.len() >= MAX_RESPONSE;
        let data = &received[..received.len().min(MAX_RESPONSE)];
        let last = eof || full;
        if data.is_empty() {
            return last.then(|| invalid("empty response"));
        }

        // The final head, after any interim 1xx answers.
        let mut start = 0;
        let (code, reason, body_start, framing) = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&data[start..]) {
                Ok(httparse::Status::Partial) => {
                    return last.then(|| {
                        invalid(if full {
                            "response head larger than the check buffer"
                        } else {
                            "truncated response"
                        })
                    });
                }
                Err(e) => return Some(invalid(&format!("invalid HTTP response: {e}"))),
                Ok(httparse::Status::Complete(n)) => {
                    let code = resp.code.unwrap_or(0);
                    if (100..200).contains(&code) && code != 101 {
                        start += n;
                        continue;
                    }
                    let framing = match framing(code, resp.headers, self.is_head()) {
                        Ok(f) => f,
                        Err(why) => return Some(invalid(why)),
                    };
                    break (code, resp.reason.unwrap_or(""), start + n, framing);
                }
            }
        };

        self.verdict(code, reason, &data[body_start..], framing, last)
    }

    /// Judges an answer received whole by another layer (an HTTP/2
    /// check): its status, reason phrase and body (cut to
    /// [`MAX_RESPONSE`]), by the same rules as [`judge`](Self::judge).
    pub fn judge_answer(&self, code: u16, reason: &str, body: &[u8]) -> CheckOutcome {
        let body = &body[..body.len().min(MAX_RESPONSE)];
        let framing = Framing::Length(body.len() as u64);
        self.verdict(code, reason, body, framing, true)
            .unwrap_or_else(|| invalid("incomplete response"))
    }

    /// The verdict once the final head is known; `raw` is what follows
    /// it, framed by `framing`; `last`: nothing more will come.
    fn verdict(
        &self,
        code: u16,
        reason: &str,
        raw: &[u8],
        framing: Framing,
        last: bool,
    ) -> Option<CheckOutcome> {
        let Some(expect) = &self.expect else {
            return Some(status_verdict((200..=399).contains(&code), code, reason));
        };
        let matched = match &expect.kind {
            ExpectKind::Status(ranges) => ranges.iter().any(|&(lo, hi)| lo <= code && code <= hi),
            ExpectKind::RStatus(re) => re.is_match(&code.to_string()),
            ExpectKind::String(_) | ExpectKind::RString(_) => {
                return self.judge_body(expect, code, raw, framing, last);
            }
        };
        Some(status_verdict(matched != expect.negate, code, reason))
    }

    fn judge_body(
        &self,
        expect: &Expect,
        code: u16,
        raw: &[u8],
        framing: Framing,
        last: bool,
    ) -> Option<CheckOutcome> {
        let (body, complete): (Cow<'_, [u8]>, bool) = match framing {
            Framing::Empty => (Cow::Borrowed(&[]), true),
            Framing::Length(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                (Cow::Borrowed(&raw[..raw.len().min(n)]), raw.len() >= n)
            }
            Framing::Chunked => match decode_chunked(raw) {
                Ok((body, complete)) => (Cow::Owned(body), complete),
                Err(()) => return Some(invalid("invalid chunked body")),
            },
            Framing::Close => (Cow::Borrowed(raw), false),
        };
        let done = complete || last;
        let matched = match &expect.kind {
            ExpectKind::String(s) => {
                let found = contains(&body, s.as_bytes());
                if !found && !done {
                    return None;
                }
                found
            }
            ExpectKind::RString(re) => {
                if !done {
                    return None;
                }
                re.is_match(&String::from_utf8_lossy(&body))
            }
            ExpectKind::Status(_) | ExpectKind::RStatus(_) => unreachable!("decided on the head"),
        };
        if body.is_empty() {
            return Some(invalid("HTTP content check could not find a response body"));
        }
        if matched != expect.negate {
            Some(CheckOutcome {
                code: Some(code),
                ..CheckOutcome::new(CheckStatus::L7Ok)
            })
        } else {
            let info = if expect.negate {
                "HTTP check matched unwanted content"
            } else {
                "HTTP content check did not match"
            };
            // The answer's status goes with the verdict (`check_code`), as
            // HAProxy reports it for a content mismatch.
            Some(CheckOutcome {
                code: Some(code),
                ..invalid(info)
            })
        }
    }

    fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// `content-length`.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the server closes.
    Close,
}

fn framing(
    code: u16,
    headers: &[httparse::Header<'_>],
    head_request: bool,
) -> Result<Framing, &'static str> {
    if head_request || code < 200 || code == 204 || code == 304 {
        return Ok(Framing::Empty);
    }
    let mut te_seen = false;
    let mut chunked_last = false;
    let mut length: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_seen = true;
            for coding in String::from_utf8_lossy(h.value).split(',') {
                let coding = coding.trim();
                if !coding.is_empty() {
                    chunked_last = coding.eq_ignore_ascii_case("chunked");
                }
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or("invalid content-length")?;
            if length.is_some_and(|l| l != v) {
                return Err("invalid content-length");
            }
            length = Some(v);
        }
    }
    // Transfer-Encoding wins over Content-Length (RFC 9112, 6.3).
    Ok(match (te_seen, chunked_last, length) {
        (true, true, _) => Framing::Chunked,
        (true, false, _) => Framing::Close,
        (false, _, Some(n)) => Framing::Length(n),
        (false, _, None) => Framing::Close,
    })
}

/// Decodes as much of a chunked body as is there: the data so far, and
/// whether the last chunk was seen (trailers are not needed to judge).
fn decode_chunked(mut raw: &[u8]) -> Result<(Vec<u8>, bool), ()> {
    let mut out = Vec::with_capacity(raw.len());
    loop {
        let (n, size) = match httparse::parse_chunk_size(raw) {
            Ok(httparse::Status::Complete(v)) => v,
            Ok(httparse::Status::Partial) => return Ok((out, false)),
            Err(_) => return Err(()),
        };
        raw = &raw[n..];
        if size == 0 {
            return Ok((out, true));
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if raw.len() < size {
            out.extend_from_slice(raw);
            return Ok((out, false));
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size..];
        match raw {
            [] | [b'\r'] => return Ok((out, false)),
            [b'\r', b'\n', rest @ ..] => raw = rest,
            _ => return Err(()),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn invalid(info: &str) -> CheckOutcome {
    CheckOutcome {
        info: Some(info.to_string()),
        ..CheckOutcome::new(CheckStatus::L7Rsp)
    }
}

fn status_verdict(ok: bool, code: u16, reason: &str) -> CheckOutcome {
    if ok {
        CheckOutcome {
            code: Some(code),
            ..CheckOutcome::new(CheckStatus::L7Ok)
        }
    } else {
        CheckOutcome {
            code: Some(code),
            info: (!reason.is_empty()).then(|| reason.to_string()),
            ..CheckOutcome::new(CheckStatus::L7Sts)
        }
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim_matches([' ', '\t'])),
        None => (s, ""),
    }
}

/// Splits at the first blank line (`\r\n\r\n` or `\n\n`).
fn split_blank_line(s: &str) -> (&str, Option<&str>) {
    let crlf = s.find("\r\n\r\n").map(|i| (i, 4));
    let lf = s.find("\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => {
            let (i, len) = if a.0 <= b.0 { a } else { b };
            (&s[..i], Some(&s[i + len..]))
        }
        (Some((i, len)), None) | (None, Some((i, len))) => (&s[..i], Some(&s[i + len..])),
        (None, None) => (s, None),
    }
}

/// Decodes the backslash escapes of HAProxy's configuration language that
/// the legacy `option httpchk` version form uses.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(' ') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

fn check_method(m: &str) -> Result<(), HttpCheckError> {
    if is_token(m) {
        Ok(())
    } else {
        Err(HttpCheckError::BadMethod(m.to_string()))
    }
}

fn check_uri(u: &str) -> Result<(), HttpCheckError> {
    let ok = (u.starts_with('/') || u == "*") && u.bytes().all(|b| b > b' ' && b != 0x7f);
    if ok {
        Ok(())
    } else {
        Err(HttpCheckError::BadUri(u.to_string()))
    }
}

fn check_version(v: &str) -> Result<(), HttpCheckError> {
    match v.as_bytes() {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Ok(())
        }
        _ => Err(HttpCheckError::BadVersion(v.to_string())),
    }
}

fn check_header(name: &str, value: &str) -> Result<(), HttpCheckError> {
    if !is_token(name) {
        return Err(HttpCheckError::BadHeaderName(name.to_string()));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(HttpCheckError::BadHeaderValue(name.to_string()));
    }
    Ok(())
}

/// Writes a start-line part without blanks or control characters.
fn push_start_part(out: &mut Vec<u8>, part: &str) {
    out.extend(part.bytes().filter(|&b| b > b' ' && b != 0x7f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(expect: Option<&str>) -> HttpCheck {
        HttpCheck {
            expect: expect.map(|e| Expect::parse(e).unwrap()),
            ..HttpCheck::default()
        }
    }

    fn outcome(status: CheckStatus, code: Option<u16>, info: Option<&str>) -> CheckOutcome {
        CheckOutcome {
            status,
            code,
            info: info.map(str::to_string),
            duration: Duration::ZERO,
        }
    }

    fn judge(c: &HttpCheck, answer: &str, eof: bool) -> Option<CheckOutcome> {
        c.judge(answer.as_bytes(), eof)
    }

    #[test]
    fn default_request_bytes() {
        assert_eq!(
            String::from_utf8(HttpCheck::default().request()).unwrap(),
            "OPTIONS / HTTP/1.0\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn request_with_headers_and_body() {
        let mut c = HttpCheck::from_option_args("POST /check HTTP/1.1").unwrap();
        c.add_header("Host", "app.example").unwrap();
        c.add_header("X-Probe", "gwd").unwrap();
        c.add_header("Content-Length", "99").unwrap();
        c.body = Some("ping".into());
        assert_eq!(
            String::from_utf8(c.request()).unwrap(),
            "POST /check HTTP/1.1\r\nHost: app.example\r\nX-Probe: gwd\r\n\
             content-length: 4\r\nconnection: close\r\n\r\nping"
        );
        // A given connection header replaces `connection: close`; without a
        // body a given content-length stays.
        let mut c = HttpCheck::from_option_args("GET /").unwrap();
        c.add_header("Connection", "keep-alive").unwrap();
        c.add_header("content-length", "0").unwrap();
        assert_eq!(
            String::from_utf8(c.request()).unwrap(),
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
        );
        // An empty body is still announced.
        let c = HttpCheck {
            body: Some(String::new()),
            ..HttpCheck::default()
        };
        assert_eq!(
            String::from_utf8(c.request()).unwrap(),
            "OPTIONS / HTTP/1.0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn http11_without_host_gets_none() {
        let c = HttpCheck::from_option_args("HEAD /ping HTTP/1.1").unwrap();
        assert_eq!(
            String::from_utf8(c.request()).unwrap(),
            "HEAD /ping HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn request_never_injects_lines() {
        let mut c = HttpCheck::default();
        assert_eq!(
            c.add_header("x", "a\r\nevil: 1"),
            Err(HttpCheckError::BadHeaderValue("x".into()))
        );
        assert_eq!(
            c.add_header("bad name", "v"),
            Err(HttpCheckError::BadHeaderName("bad name".into()))
        );
        assert_eq!(
            c.add_header("x", "nul\0"),
            Err(HttpCheckError::BadHeaderValue("x".into()))
        );
        assert!(c.headers.is_empty());
        // Set directly: validate() reports, request() leaves them out.
        c.headers.push(("x".into(), "a\r\nevil: 1".into()));
        c.headers.push(("ok".into(), "1".into()));
        c.uri = "/a b\r\nevil: 1".into();
        assert_eq!(
            c.validate(),
            Err(HttpCheckError::BadUri("/a b\r\nevil: 1".into()))
        );
        assert_eq!(
            String::from_utf8(c.request()).unwrap(),
            "OPTIONS /abevil:1 HTTP/1.0\r\nok: 1\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(HttpCheck::default().validate(), Ok(()));
    }

    #[test]
    fn option_args_forms() {
        let c = HttpCheck::from_option_args("").unwrap();
        assert_eq!((c.method.as_str(), c.uri.as_str()), ("OPTIONS", "/"));
        assert_eq!(c.version, "HTTP/1.0");
        let c = HttpCheck::from_option_args("/health").unwrap();
        assert_eq!((c.method.as_str(), c.uri.as_str()), ("OPTIONS", "/health"));
        let c = HttpCheck::from_option_args("GET /health").unwrap();
        assert_eq!((c.method.as_str(), c.uri.as_str()), ("GET", "/health"));
        assert_eq!(c.version, "HTTP/1.0");
        let c = HttpCheck::from_option_args("  HEAD\t/ping  HTTP/1.1 ").unwrap();
        assert_eq!(
            (c.method.as_str(), c.uri.as_str(), c.version.as_str()),
            ("HEAD", "/ping", "HTTP/1.1")
        );
        let c = HttpCheck::from_option_args("OPTIONS *").unwrap();
        assert_eq!(c.uri, "*");
    }

    #[test]
    fn option_args_legacy_headers_in_version() {
        // As a configuration parser that unescaped the quotes hands it.
        let c = HttpCheck::from_option_args("GET / HTTP/1.1\r\nHost: www").unwrap();
        assert_eq!(c.version, "HTTP/1.1");
        assert_eq!(c.headers, vec![("Host".to_string(), "www".to_string())]);
        assert_eq!(c.body, None);
        // Raw, with HAProxy's escapes.
        let c =
            HttpCheck::from_option_args(r"POST /x HTTP/1.1\r\nHost:\ www\r\nX-A:\ 1\r\n\r\nhello")
                .unwrap();
        assert_eq!(
            c.headers,
            vec![
                ("Host".to_string(), "www".to_string()),
                ("X-A".to_string(), "1".to_string())
            ]
        );
        assert_eq!(c.body.as_deref(), Some("hello"));
        assert_eq!(
            String::from_utf8(c.request()).unwrap(),
            "POST /x HTTP/1.1\r\nHost: www\r\nX-A: 1\r\ncontent-length: 5\r\n\
             connection: close\r\n\r\nhello"
        );
        assert_eq!(
            HttpCheck::from_option_args("GET / HTTP/1.1\r\nno colon").unwrap_err(),
            HttpCheckError::BadHeaderLine("no colon".into())
        );
    }

    #[test]
    fn option_args_errors() {
        assert_eq!(
            HttpCheck::from_option_args("GET / HTTP/1.1 extra").unwrap_err(),
            HttpCheckError::TooManyArgs("extra".into())
        );
        assert_eq!(
            HttpCheck::from_option_args("GET / HTTP/1.1 a b").unwrap_err(),
            HttpCheckError::TooManyArgs("a b".into())
        );
        assert_eq!(
            HttpCheck::from_option_args("G(T /").unwrap_err(),
            HttpCheckError::BadMethod("G(T".into())
        );
        assert_eq!(
            HttpCheck::from_option_args("GET health").unwrap_err(),
            HttpCheckError::BadUri("health".into())
        );
        assert_eq!(
            HttpCheck::from_option_args("GET").unwrap_err(),
            HttpCheckError::BadUri("GET".into())
        );
        assert_eq!(
            HttpCheck::from_option_args("GET *x").unwrap_err(),
            HttpCheckError::BadUri("*x".into())
        );
        for v in ["HTTP/1", "http/1.1", "HTTP/1.10", "HTTP/x.1", "1.1"] {
            assert_eq!(
                HttpCheck::from_option_args(&format!("GET / {v}")).unwrap_err(),
                HttpCheckError::BadVersion(v.into())
            );
        }
        assert_eq!(
            HttpCheck::from_option_args("GET / HTTP/1.1")
                .unwrap()
                .version,
            "HTTP/1.1"
        );
        assert!(
            HttpCheckError::TooManyArgs("x".into())
                .to_string()
                .starts_with("option httpchk takes at most 3 arguments")
        );
    }

    #[test]
    fn answers_received_whole_are_judged_alike() {
        assert_eq!(
            check(None).judge_answer(204, "No Content", b"").status,
            CheckStatus::L7Ok
        );
        assert_eq!(check(None).judge_answer(503, "Busy", b"").code, Some(503));
        let c = check(Some("string ready"));
        assert_eq!(
            c.judge_answer(200, "OK", b"all ready").status,
            CheckStatus::L7Ok
        );
        let miss = c.judge_answer(200, "OK", b"starting");
        assert_eq!(miss.status, CheckStatus::L7Rsp);
        assert_eq!(
            c.judge(
                b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nstarting",
                false
            ),
            Some(miss)
        );
    }

    #[test]
    fn no_expect_judges_the_status() {
        let c = check(None);
        assert_eq!(
            judge(&c, "HTTP/1.1 200 OK\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
        assert_eq!(
            judge(&c, "HTTP/1.0 302 Found\r\nlocation: /x\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Ok, Some(302), None))
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 500 Internal Server Error\r\n\r\n", false),
            Some(outcome(
                CheckStatus::L7Sts,
                Some(500),
                Some("Internal Server Error")
            ))
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 404 \r\n\r\n", false),
            Some(outcome(CheckStatus::L7Sts, Some(404), None))
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 199 Odd\r\n\r\n", false),
            None,
            "an interim answer is skipped"
        );
    }

    #[test]
    fn interim_answers_are_skipped() {
        let c = check(None);
        let a = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\n\r\n";
        assert_eq!(
            judge(&c, a, false),
            Some(outcome(CheckStatus::L7Sts, Some(503), Some("Busy")))
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 100 Continue\r\n\r\n", true),
            Some(outcome(
                CheckStatus::L7Rsp,
                None,
                Some("truncated response")
            ))
        );
    }

    #[test]
    fn expect_status_ranges_and_negation() {
        let c = check(Some("status 200-399"));
        assert_eq!(
            judge(&c, "HTTP/1.1 301 Moved\r\n\r\n", false)
                .unwrap()
                .status,
            CheckStatus::L7Ok
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 404 Not Found\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Sts, Some(404), Some("Not Found")))
        );
        let c = check(Some("! status 500"));
        assert_eq!(
            judge(&c, "HTTP/1.1 500 Oops\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Sts, Some(500), Some("Oops")))
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 404 Not Found\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Ok, Some(404), None))
        );
        let c = check(Some("status 200,301-302"));
        let codes: Vec<CheckStatus> = [200, 201, 301, 302, 303]
            .iter()
            .map(|code| {
                judge(&c, &format!("HTTP/1.1 {code} X\r\n\r\n"), false)
                    .unwrap()
                    .status
            })
            .collect();
        use CheckStatus::{L7Ok, L7Sts};
        assert_eq!(codes, vec![L7Ok, L7Sts, L7Ok, L7Ok, L7Sts]);
    }

    #[test]
    fn expect_rstatus() {
        let c = check(Some("rstatus ^2"));
        assert_eq!(
            judge(&c, "HTTP/1.1 204 No Content\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Ok, Some(204), None))
        );
        assert_eq!(
            judge(&c, "HTTP/1.1 302 Found\r\n\r\n", false),
            Some(outcome(CheckStatus::L7Sts, Some(302), Some("Found")))
        );
        let c = check(Some("! rstatus ^5"));
        assert_eq!(
            judge(&c, "HTTP/1.1 302 Found\r\n\r\n", false)
                .unwrap()
                .status,
            CheckStatus::L7Ok
        );
    }

    #[test]
    fn status_decides_on_the_head_alone() {
        let c = check(Some("status 200"));
        assert_eq!(judge(&c, "HTTP/1.1 200 OK\r\ncontent-le", false), None);
        assert_eq!(
            judge(
                &c,
                "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nab",
                false
            ),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
    }

    #[test]
    fn expect_string_content_length_body() {
        let c = check(Some("string OK"));
        let a = "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nstatus OK";
        assert_eq!(
            judge(&c, a, false),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
        let a = "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nstatus KO";
        assert_eq!(
            judge(&c, a, false),
            Some(outcome(
                CheckStatus::L7Rsp,
                Some(200),
                Some("HTTP content check did not match")
            ))
        );
        // The body is judged whatever the status.
        let a = "HTTP/1.1 503 Busy\r\ncontent-length: 2\r\n\r\nOK";
        assert_eq!(judge(&c, a, false).unwrap().status, CheckStatus::L7Ok);
        // Past the content-length is not body.
        let a = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nnoOK";
        assert_eq!(judge(&c, a, false).unwrap().status, CheckStatus::L7Rsp);
    }

    #[test]
    fn expect_string_chunked_body() {
        let c = check(Some("string ready"));
        let a = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                 3;ext=1\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n";
        assert_eq!(
            judge(&c, a, false),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
        // The chunk sizes are not body: "3\r\nrea" + "dy" only matches decoded.
        let c = check(Some("string a\r\n2"));
        let a = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                 3\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n";
        assert_eq!(judge(&c, a, false).unwrap().status, CheckStatus::L7Rsp);
        // A miss is final at the last chunk.
        let c = check(Some("string nope"));
        assert_eq!(judge(&c, a, false).unwrap().status, CheckStatus::L7Rsp);
        assert_eq!(judge(&c, &a[..a.len() - 5], false), None);
        // Bad framing.
        let bad = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            judge(&c, bad, false),
            Some(outcome(
                CheckStatus::L7Rsp,
                None,
                Some("invalid chunked body")
            ))
        );
        let bad = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXY";
        assert_eq!(judge(&c, bad, false).unwrap().status, CheckStatus::L7Rsp);
    }

    #[test]
    fn partial_feeds_wait_until_decided() {
        let c = check(Some("string ready"));
        let a = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nstill ready!";
        let first_decided = (0..=a.len())
            .find(|&n| c.judge(&a[..n], false).is_some())
            .unwrap();
        // Decided as soon as "ready" is in, before the body is complete.
        assert_eq!(first_decided, a.len() - 1);
        assert_eq!(
            c.judge(&a[..first_decided], false),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
        // A miss waits for the whole body.
        let c = check(Some("string absent"));
        assert!((0..a.len()).all(|n| c.judge(&a[..n], false).is_none()));
        assert_eq!(c.judge(a, false).unwrap().status, CheckStatus::L7Rsp);
        // An rstring always waits for the whole body.
        let c = check(Some("rstring ^still"));
        assert!((0..a.len()).all(|n| c.judge(&a[..n], false).is_none()));
        assert_eq!(c.judge(a, false).unwrap().status, CheckStatus::L7Ok);
    }

    #[test]
    fn body_complete_only_at_eof() {
        let c = check(Some("rstring ^up$"));
        let a = "HTTP/1.0 200 OK\r\n\r\nup";
        assert_eq!(judge(&c, a, false), None);
        assert_eq!(
            judge(&c, a, true),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
        assert_eq!(
            judge(&c, "HTTP/1.0 200 OK\r\n\r\nup!", true)
                .unwrap()
                .status,
            CheckStatus::L7Rsp
        );
        // A cut content-length body is judged as it is at eof.
        let c = check(Some("string up"));
        let a = "HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nnot";
        assert_eq!(judge(&c, a, false), None);
        assert_eq!(judge(&c, a, true).unwrap().status, CheckStatus::L7Rsp);
    }

    #[test]
    fn empty_body_and_negated_content() {
        let c = check(Some("string OK"));
        let none = Some(outcome(
            CheckStatus::L7Rsp,
            None,
            Some("HTTP content check could not find a response body"),
        ));
        assert_eq!(
            judge(&c, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false),
            none
        );
        assert_eq!(judge(&c, "HTTP/1.1 204 No Content\r\n\r\n", false), none);
        let head = HttpCheck {
            method: "HEAD".into(),
            ..check(Some("string OK"))
        };
        assert_eq!(
            judge(
                &head,
                "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
                false
            ),
            none
        );
        let c = check(Some("! string error"));
        assert_eq!(
            judge(
                &c,
                "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nall fine.",
                false
            ),
            Some(outcome(CheckStatus::L7Ok, Some(200), None))
        );
        assert_eq!(
            judge(
                &c,
                "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nerror 42!",
                false
            ),
            Some(outcome(
                CheckStatus::L7Rsp,
                Some(200),
                Some("HTTP check matched unwanted content")
            ))
        );
    }

    #[test]
    fn garbage_and_truncation() {
        let c = check(None);
        let bad = judge(&c, "SSH-2.0-OpenSSH_9.6\r\n", false).unwrap();
        assert_eq!(bad.status, CheckStatus::L7Rsp);
        assert_eq!(bad.code, None);
        assert!(bad.info.unwrap().starts_with("invalid HTTP response: "));
        assert_eq!(
            judge(&c, "HTTP/2.0 200 OK\r\n\r\n", false).unwrap().status,
            CheckStatus::L7Rsp
        );
        assert_eq!(judge(&c, "HTTP/1.1 200 O", false), None);
        assert_eq!(
            judge(&c, "HTTP/1.1 200 O", true),
            Some(outcome(
                CheckStatus::L7Rsp,
                None,
                Some("truncated response")
            ))
        );
        assert_eq!(judge(&c, "", false), None);
        assert_eq!(
            judge(&c, "", true),
            Some(outcome(CheckStatus::L7Rsp, None, Some("empty response")))
        );
        let bad_len = "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n";
        assert_eq!(
            judge(&check(Some("string a")), bad_len, false),
            Some(outcome(
                CheckStatus::L7Rsp,
                None,
                Some("invalid content-length")
            ))
        );
    }

    #[test]
    fn the_check_buffer_limits_what_is_read() {
        let c = check(None);
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        while huge.len() < MAX_RESPONSE + 10 {
            huge.extend_from_slice(b"x-pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            c.judge(&huge, false),
            Some(outcome(
                CheckStatus::L7Rsp,
                None,
                Some("invalid HTTP response: too many headers")
            ))
        );
        // A body bigger than the buffer is judged on what fits.
        let c = check(Some("string needle"));
        let mut a = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n".to_vec();
        a.resize(MAX_RESPONSE, b'.');
        assert_eq!(c.judge(&a[..MAX_RESPONSE - 1], false), None);
        assert_eq!(c.judge(&a, false).unwrap().status, CheckStatus::L7Rsp);
        a.extend_from_slice(b"needle");
        assert_eq!(c.judge(&a, false).unwrap().status, CheckStatus::L7Rsp);
    }
}
