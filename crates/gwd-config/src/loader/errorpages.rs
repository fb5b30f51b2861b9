//! `errorfile`, `errorloc`, `errorloc302`, `errorloc303` and
//! `http-error`: the answers that replace gwd's own error pages for one
//! status.
//!
//! Model: each entry is read and checked when the configuration loads
//! (file read, response parsed, size bounded), so serving one is copying
//! a prepared answer, except the log-format parts of an `http-error`
//! (`lf-body`, `lf-file`, `%...` in `hdr`), parsed here and rendered per
//! answer. Entries of a section replace, code by code, those inherited
//! from `[defaults]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use toml::de::DeTable;

use super::*;
use gwd_sample::LogFormat;

use crate::model::{ErrorPage, ErrorPages, PageFormat};

/// The statuses HAProxy lets `errorfile`/`errorloc` replace.
pub(crate) const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// The largest `errorfile`: HAProxy's default buffer size (an error answer
/// is sent from one buffer).
pub(crate) const MAX_ERRORFILE: u64 = 16 * 1024;

/// Hop-by-hop fields: gwd frames and keeps the connection itself, so
/// these are left out of an `errorfile`'s answer.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

impl Cx<'_> {
    /// Reads the error-page keys of a defaults/proxy table.
    pub(super) fn error_pages(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        valid: &[&str],
    ) -> Vec<(u16, Arc<ErrorPage>)> {
        let mut out = Vec::new();
        for key in ["errorfile", "errorloc", "errorloc302", "errorloc303"] {
            if !valid.contains(&key) {
                continue;
            }
            let Some(v) = t.get(key) else { continue };
            let p = join(path, key);
            let example = if key == "errorfile" {
                "`[ { code = 503, file = \"errors/503.http\" } ]`"
            } else {
                "`[ { code = 503, url = \"https://status.example.com/\" } ]`"
            };
            let Some(items) = self.array(v, &p, &format!("write it as {example}")) else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                let Some(e) = self.table(item, &ip, &format!("write it as {example}")) else {
                    continue;
                };
                let second = if key == "errorfile" { "file" } else { "url" };
                self.check_keys(
                    e,
                    &ip,
                    &format!("an `{key}` entry"),
                    &["code", second],
                    &[],
                    &|_| None,
                );
                let code = match e.get("code") {
                    Some(c) => self.error_code(c, &join(&ip, "code")),
                    None => {
                        self.error(
                            item.span().start,
                            &ip,
                            format!("`{key}` entry without `code`"),
                            help(format!("write it as {example}")),
                        );
                        None
                    }
                };
                let Some(target) = e.get(second) else {
                    self.error(
                        item.span().start,
                        &ip,
                        format!("`{key}` entry without `{second}`"),
                        help(format!("write it as {example}")),
                    );
                    continue;
                };
                let tp = join(&ip, second);
                let page = if key == "errorfile" {
                    self.errorfile(target, &tp)
                } else {
                    let status = if key == "errorloc303" { 303 } else { 302 };
                    self.errorloc(target, &tp, status)
                };
                if let (Some(code), Some(page)) = (code, page) {
                    out.push((code, Arc::new(page)));
                }
            }
        }
        out
    }

    /// `http-error = [ { status, content-type, body | file | lf-body |
    /// lf-file, hdr } ]`: HAProxy's `http-error status <code> [content-type
    /// <type>] [string <text> | file <file> | lf-string <fmt> | lf-file
    /// <file>] [hdr <name> <fmt>]*`. A plain body is the text or the file's
    /// bytes as they are (not an HTTP response).
    pub(super) fn http_errors(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        valid: &[&str],
    ) -> Vec<(u16, Arc<ErrorPage>)> {
        let mut out = Vec::new();
        if !valid.contains(&"http-error") {
            return out;
        }
        let Some(v) = t.get("http-error") else {
            return out;
        };
        let p = join(path, "http-error");
        let example = "`[ { status = 503, content-type = \"text/html\", file = \"503.html\" } ]`";
        let Some(items) = self.array(v, &p, &format!("write it as {example}")) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let ip = format!("{p}[{i}]");
            let Some(e) = self.table(item, &ip, &format!("write it as {example}")) else {
                continue;
            };
            self.check_keys(
                e,
                &ip,
                "an `http-error` entry",
                &[
                    "status",
                    "content-type",
                    "body",
                    "file",
                    "lf-body",
                    "lf-file",
                    "hdr",
                ],
                &[],
                &|k| match k {
                    "lf-string" => Some("write the log-format as `lf-body`".into()),
                    "string" => Some("write the text as `body`".into()),
                    "errorfile" | "errorfiles" | "default-errorfiles" => {
                        Some("use an `errorfile` entry for a whole HTTP response file".into())
                    }
                    _ => None,
                },
            );
            let Some(sv) = e.get("status") else {
                self.error(
                    item.span().start,
                    &ip,
                    "`http-error` entry without `status`",
                    help(format!("write it as {example}")),
                );
                continue;
            };
            let code = self.error_code(sv, &join(&ip, "status"));
            let Ok(content_type) = self
                .optional_line(
                    e,
                    &ip,
                    "content-type",
                    "`\"text/html\"`",
                    "write a media type such as `\"text/html\"`",
                )
                .ok_or(())
            else {
                continue;
            };
            let mut given: Vec<_> = ["body", "file", "lf-body", "lf-file"]
                .into_iter()
                .filter_map(|k| e.get_key_value(k).map(|(key, v)| (k, key.span().start, v)))
                .collect();
            given.sort_by_key(|(_, at, _)| *at);
            if let [_, (k, at, _), ..] = given.as_slice() {
                self.error(
                    *at,
                    &join(&ip, k),
                    "an `http-error` entry has one of `body`, `file`, `lf-body` and `lf-file`",
                    help("keep one"),
                );
                continue;
            }
            let mut lf_body = None;
            let body = match given.first() {
                Some(("body", _, b)) => match self.string(b, &join(&ip, "body"), "`\"down\\n\"`") {
                    Some(s) => s.as_bytes().to_vec(),
                    None => continue,
                },
                Some(("file", _, f)) => match self.body_file(f, &join(&ip, "file")) {
                    Some(b) => b,
                    None => continue,
                },
                Some((k, _, v)) => {
                    let kp = join(&ip, k);
                    let Some(f) = self.page_format(v, &kp, *k == "lf-file") else {
                        continue;
                    };
                    lf_body = Some(f);
                    Vec::new()
                }
                None => Vec::new(),
            };
            // HAProxy 2.6's order: the `hdr` fields, `content-length`,
            // then `content-type`.
            let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
            let mut hdr_formats: Vec<(String, LogFormat)> = Vec::new();
            if let Some(hv) = e.get("hdr") {
                let hp = join(&ip, "hdr");
                let hint = "write it as `hdr = [ { name = \"Retry-After\", value = \"30\" } ]`";
                let Some(arr) = self.array(hv, &hp, hint) else {
                    continue;
                };
                for (j, h) in arr.iter().enumerate() {
                    let ep = format!("{hp}[{j}]");
                    let Some(ht) = self.table(h, &ep, hint) else {
                        continue;
                    };
                    self.check_keys(ht, &ep, "a `hdr` entry", &["name", "value"], &[], &|_| None);
                    let at = h.span().start;
                    let name = self
                        .required(ht, at, &ep, "name", "a `hdr` entry", "\"Retry-After\"")
                        .and_then(|v| self.header_name(v, &join(&ep, "name")));
                    let value = self
                        .required(ht, at, &ep, "value", "a `hdr` entry", "\"30\"")
                        .and_then(|v| self.hdr_value(v, &join(&ep, "value")));
                    if let (Some(n), Some(v)) = (name, value) {
                        hdr_formats.push((n, v));
                    }
                }
            }
            let dynamic = lf_body.is_some() || hdr_formats.iter().any(|(_, f)| !f.is_literal());
            let content_type = content_type.map(|ct| ("content-type".to_owned(), ct.into_bytes()));
            let lf = if dynamic {
                Some(PageFormat {
                    headers: hdr_formats,
                    body: lf_body.unwrap_or_else(|| {
                        LogFormat::literal(String::from_utf8_lossy(&body).into_owned())
                    }),
                    content_type,
                })
            } else {
                for (n, f) in hdr_formats {
                    headers.push((n, f.as_literal().unwrap_or_default().as_bytes().to_vec()));
                }
                headers.push(("content-length".into(), body.len().to_string().into_bytes()));
                headers.extend(content_type);
                None
            };
            if let Some(code) = code {
                out.push((
                    code,
                    Arc::new(ErrorPage {
                        status: code,
                        reason: None,
                        headers,
                        body,
                        lf,
                    }),
                ));
            }
        }
        out
    }

    /// An `hdr` value: a log-format when it has `%` sequences (rendered per
    /// answer), else plain text without control characters.
    fn hdr_value(&mut self, v: &Val<'_>, path: &str) -> Option<LogFormat> {
        let s = self.string(v, path, "`\"30\"`")?;
        if s.contains('%') {
            let f = self.log_format(v, path, "`\"%[unique-id]\"`")?;
            return self.page_scope(f, v, path);
        }
        if s.chars().any(|c| c.is_control() && c != '\t') {
            self.error(
                v.span().start,
                path,
                "the value contains a control character",
                help("header values are one line of text"),
            );
            return None;
        }
        Some(LogFormat::literal(s.to_owned()))
    }

    /// `lf-body` (the format) or `lf-file` (a file holding it, UTF-8).
    fn page_format(&mut self, v: &Val<'_>, path: &str, file: bool) -> Option<LogFormat> {
        let f = if file {
            let bytes = self.body_file(v, path)?;
            let Ok(text) = String::from_utf8(bytes) else {
                self.error(
                    v.span().start,
                    path,
                    "an `lf-file` must be UTF-8 text",
                    help("use `file` for a body sent as its bytes"),
                );
                return None;
            };
            match LogFormat::parse_in(&text, &mut self.env(v)) {
                Ok(f) => f,
                Err(e) => {
                    self.expr_error(v, path, "log-format file", &e);
                    return None;
                }
            }
        } else {
            self.log_format(v, path, "`\"<p>request %[unique-id]</p>\"`")?
        };
        self.page_scope(f, v, path)
    }

    /// Refuses fetches an error page cannot read: it is rendered without
    /// the request (gone once sent, or never parsed) and without a
    /// server's response.
    fn page_scope(&mut self, f: LogFormat, v: &Val<'_>, path: &str) -> Option<LogFormat> {
        let bad = f
            .exprs()
            .find(|e| e.scope() != gwd_sample::FetchScope::Connection)
            .map(|e| e.fetch_name().to_owned());
        match bad {
            Some(name) => {
                self.error(
                    v.span().start,
                    path,
                    format!("`{name}` is not available in an `http-error` page"),
                    help("an error page sees the connection, the proxies, variables, captures and `unique-id`, not the request: copy what it needs into a `txn` variable with `set-var`"),
                );
                None
            }
            None => Some(f),
        }
    }

    /// A body file (`http-error`'s `file`): its bytes, at most one buffer.
    fn body_file(&mut self, v: &Val<'_>, path: &str) -> Option<Vec<u8>> {
        let file = self.file(v, path)?;
        match read_page_file(&file) {
            Ok(b) => Some(b),
            Err(why) => {
                self.error(
                    v.span().start,
                    path,
                    format!("cannot use `{}`: {why}", file.display()),
                    help("write the path of the page's body"),
                );
                None
            }
        }
    }

    fn error_code(&mut self, v: &Val<'_>, path: &str) -> Option<u16> {
        let n = self.integer(v, path, "`503`")?;
        match u16::try_from(n).ok().filter(|c| ERROR_CODES.contains(c)) {
            Some(c) => Some(c),
            None => {
                let list = ERROR_CODES
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                self.error(
                    v.span().start,
                    path,
                    format!("status {n} has no error page to replace"),
                    help(format!("error pages exist for {list}")),
                );
                None
            }
        }
    }

    fn errorfile(&mut self, v: &Val<'_>, path: &str) -> Option<ErrorPage> {
        let file = self.file(v, path)?;
        let shown = file.display().to_string();
        let parsed = read_page_file(&file).and_then(|b| parse_errorfile(&b));
        match parsed {
            Ok(page) => Some(page),
            Err(why) => {
                self.error(
                    v.span().start,
                    path,
                    format!("invalid error file `{shown}`: {why}"),
                    help(
                        "an error file is a whole HTTP/1.x response: a status line, \
                         header lines, an empty line, the body",
                    ),
                );
                None
            }
        }
    }

    fn errorloc(&mut self, v: &Val<'_>, path: &str, status: u16) -> Option<ErrorPage> {
        let url = self.string(v, path, "`\"https://status.example.com/\"`")?;
        if url.is_empty() || url.bytes().any(|b| b <= b' ' || b == 0x7F) {
            self.error(
                v.span().start,
                path,
                format!("invalid location `{url}`"),
                help("write a URL without spaces or control characters"),
            );
            return None;
        }
        Some(ErrorPage {
            status,
            reason: None,
            headers: vec![
                ("Cache-Control".into(), b"no-cache".to_vec()),
                ("Content-Length".into(), b"0".to_vec()),
                ("Location".into(), url.as_bytes().to_vec()),
            ],
            body: Vec::new(),
            lf: None,
        })
    }
}

/// An error page's file (`errorfile`, `http-error`'s `file`): at most one
/// buffer, read before anything else is done with it.
fn read_page_file(file: &std::path::Path) -> Result<Vec<u8>, String> {
    match std::fs::metadata(file) {
        Ok(m) if m.len() > MAX_ERRORFILE => Err(format!(
            "it is {} bytes; an error page holds at most {MAX_ERRORFILE} (one buffer)",
            m.len()
        )),
        _ => std::fs::read(file).map_err(|e| e.to_string()),
    }
}

/// Parses an `errorfile`: `HTTP/1.x <code> [reason]`, header lines (CRLF
/// or LF), an empty line, the body. The body's length must match a
/// `Content-Length` line; one is added when there is none. Hop-by-hop
/// fields are left out.
pub(crate) fn parse_errorfile(b: &[u8]) -> Result<ErrorPage, String> {
    let (head, body) = split_head(b).ok_or("no empty line ends the head")?;
    let head = std::str::from_utf8(head).map_err(|_| "the head is not text".to_owned())?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .ok_or_else(|| {
            format!("the first line `{status_line}` is not `HTTP/1.x <code> <reason>`")
        })?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..=999).contains(c) && code.len() == 3)
        .ok_or_else(|| format!("`{code}` is not a status code"))?;
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Err(format!("status {status} cannot carry an answer"));
    }
    let mut headers = Vec::new();
    let mut length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line `{line}` has no `:`"))?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("`{name}` is not a header name"));
        }
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        if value.bytes().any(|c| c < b' ' && c != b'\t' || c == 0x7F) {
            return Err(format!("the value of `{name}` holds a control character"));
        }
        let lower = name.to_ascii_lowercase();
        if lower == "content-length" {
            let n = value
                .parse::<usize>()
                .map_err(|_| format!("`Content-Length: {value}` is not a length"))?;
            if length.replace(n).is_some_and(|m| m != n) {
                return Err("two different Content-Length lines".into());
            }
        }
        if HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        headers.push((name.to_owned(), value.as_bytes().to_vec()));
    }
    match length {
        Some(n) if n != body.len() => {
            return Err(format!(
                "`Content-Length: {n}` but the body is {} bytes",
                body.len()
            ));
        }
        Some(_) => {}
        None => headers.push(("Content-Length".into(), body.len().to_string().into_bytes())),
    }
    Ok(ErrorPage {
        status,
        reason: Some(reason.to_owned()).filter(|r| !r.is_empty()),
        headers,
        body: body.to_vec(),
        lf: None,
    })
}

/// The head (without its last line end) and the body.
fn split_head(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = b
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    let (end, body) = match (crlf, lf) {
        (Some(c), Some(l)) if l.0 < c.0 => l,
        (Some(c), _) => c,
        (None, Some(l)) => l,
        (None, None) => return None,
    };
    Some((&b[..end], &b[body..]))
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// The pages in force for a proxy: the inherited ones, then this
/// section's, code by code.
pub(super) fn merge(base: &ErrorPages, own: &[(u16, Arc<ErrorPage>)]) -> ErrorPages {
    let mut out: BTreeMap<u16, Arc<ErrorPage>> = base.clone();
    for (code, page) in own {
        out.insert(*code, page.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_pages_static_and_log_format() {
        let cfg = r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:8080" } ]
http-error = [
  { status = 503, content-type = "text/plain", body = "busy", hdr = [ { name = "Retry-After", value = "30" } ] },
  { status = 504, content-type = "text/plain", lf-body = "id %[unique-id]", hdr = [ { name = "X-Id", value = "%[unique-id]" } ] },
]
"#;
        let c = crate::parse_str(cfg, std::path::Path::new("gw.toml")).unwrap();
        let pages = &c.frontends[0].error_pages;
        let busy = &pages[&503];
        // HAProxy's order: `hdr` fields, content-length, content-type.
        let names: Vec<_> = busy.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Retry-After", "content-length", "content-type"]);
        assert!(busy.lf.is_none());
        let lf = pages[&504].lf.as_ref().expect("a log-format page");
        assert!(pages[&504].headers.is_empty());
        assert_eq!(lf.headers[0].0, "X-Id");
        assert!(!lf.body.is_literal());
        let bad = cfg.replace("lf-body = \"id %[unique-id]\"", "lf-string = \"x\"");
        let e = crate::parse_str(&bad, std::path::Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("write the log-format as `lf-body`"), "{e}");
        let bad = cfg.replace("body = \"busy\"", "body = \"busy\", lf-body = \"x\"");
        let e = crate::parse_str(&bad, std::path::Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has one of `body`, `file`, `lf-body` and `lf-file`"),
            "{e}"
        );
    }

    #[test]
    fn an_errorfile_parses_with_crlf_or_lf() {
        let p = parse_errorfile(
            b"HTTP/1.1 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<h1>Down</h1>\n",
        )
        .unwrap();
        assert_eq!(p.status, 503);
        assert_eq!(p.reason.as_deref(), Some("Service Unavailable"));
        assert_eq!(
            p.headers,
            vec![
                ("Cache-Control".to_owned(), b"no-cache".to_vec()),
                ("Content-Type".to_owned(), b"text/html".to_vec()),
                ("Content-Length".to_owned(), b"14".to_vec()),
            ]
        );
        assert_eq!(p.body, b"<h1>Down</h1>\n");
        let p = parse_errorfile(b"HTTP/1.0 200\nContent-Length: 2\n\nok").unwrap();
        assert_eq!(
            (p.status, p.reason.as_deref(), &p.body[..]),
            (200, None, &b"ok"[..])
        );
    }

    #[test]
    fn broken_errorfiles_say_why() {
        for (file, why) in [
            (&b"<h1>Down</h1>"[..], "no empty line"),
            (b"HTTP/2 503 x\r\n\r\n", "is not `HTTP/1.x"),
            (b"HTTP/1.1 5x3 x\r\n\r\n", "is not a status code"),
            (b"HTTP/1.1 204 No Content\r\n\r\n", "cannot carry"),
            (
                b"HTTP/1.1 503 x\r\nBad Name: v\r\n\r\n",
                "is not a header name",
            ),
            (b"HTTP/1.1 503 x\r\nnocolon\r\n\r\n", "has no `:`"),
            (
                b"HTTP/1.1 503 x\r\nContent-Length: 9\r\n\r\nab",
                "but the body is 2 bytes",
            ),
            (b"HTTP/1.1 503 x\r\nX: a\x01b\r\n\r\n", "control character"),
        ] {
            let e = parse_errorfile(file).unwrap_err();
            assert!(e.contains(why), "{e} / {why}");
        }
    }
}
