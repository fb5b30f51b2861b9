//! The model of the request rewrites and redirects of `http-request`
//! rules (`redirect`, `set-path`, `replace-header`, ...), and HAProxy's
//! back-reference expansion (`\1`) of their `replace-*` formats.
//!
//! Everything here is pure; gwd-http applies it to request heads.

use gwd_sample::LogFormat;
use regex::bytes::Regex;

/// The part of the request target that `set-*`/`replace-*` rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriPart {
    /// The path, without the query (`set-path`, `replace-path`); scheme,
    /// authority and query are kept.
    Path,
    /// The path and the query (`set-pathq`, `replace-pathq`).
    PathQuery,
    /// The whole target as received: scheme and authority too when the
    /// request has them (`set-uri`, `replace-uri`).
    Uri,
    /// The query after the first `?` (`set-query`).
    Query,
}

impl UriPart {
    /// HAProxy's name of the part, as in `set-<name>`.
    pub fn name(self) -> &'static str {
        match self {
            UriPart::Path => "path",
            UriPart::PathQuery => "pathq",
            UriPart::Uri => "uri",
            UriPart::Query => "query",
        }
    }
}

/// How a `redirect` builds its `Location`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location <fmt>`: the rendered format, as is.
    Location,
    /// `prefix <fmt>`: the format followed by the request's path and query
    /// (a prefix of exactly `/` adds nothing before them).
    Prefix,
    /// `scheme <fmt>`: the format, `://`, the first `Host` and the path and
    /// query (`/` when the request has no path or `*`).
    Scheme,
}

/// An `http-request redirect` rule.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// Which form.
    pub kind: RedirectKind,
    /// The location, prefix or scheme (log-format).
    pub value: LogFormat,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query`: the query is left out (prefix and scheme forms).
    pub drop_query: bool,
    /// `append-slash`: a `/` is added when the path (with the query unless
    /// dropped) does not end with one (prefix and scheme forms).
    pub append_slash: bool,
    /// `ignore-empty`: the rule does not apply when `value` renders empty.
    pub ignore_empty: bool,
    /// The whole `Set-Cookie` value of `set-cookie`/`clear-cookie`:
    /// `NAME[=value]; path=/;` or `NAME[=]; path=/; Max-Age=0;` (HAProxy's
    /// exact text).
    pub cookie: Option<String>,
}

impl Redirect {
    /// The `Set-Cookie` value HAProxy sends for `set-cookie <cookie>`.
    pub fn set_cookie(cookie: &str) -> String {
        format!("{cookie}; path=/;")
    }

    /// The `Set-Cookie` value HAProxy sends for `clear-cookie <cookie>`.
    pub fn clear_cookie(cookie: &str) -> String {
        format!("{cookie}; path=/; Max-Age=0;")
    }

    /// Whether HAProxy adds `Cache-Control: no-cache` to this code's
    /// answer (the temporary redirections).
    pub fn no_cache(&self) -> bool {
        matches!(self.code, 302 | 303 | 307)
    }

    /// The `Location` of a prefix or scheme redirect: `base` (the rendered
    /// prefix, or `<scheme>://<host>`) followed by the request's
    /// `path_and_query`, with this rule's `drop-query` and `append-slash`.
    /// A location redirect's `Location` is the rendered value itself.
    pub fn location(&self, base: &str, path_and_query: &str) -> String {
        let mut path = match self.kind {
            RedirectKind::Scheme if path_and_query.is_empty() || path_and_query == "*" => "/",
            RedirectKind::Location => return base.to_owned(),
            _ => path_and_query,
        };
        if self.drop_query
            && let Some(q) = path.find('?')
        {
            path = &path[..q];
        }
        let mut out = String::with_capacity(base.len() + path.len() + 1);
        // HAProxy: a prefix of exactly "/" redirects to the same URL.
        if !(self.kind == RedirectKind::Prefix && base == "/") {
            out.push_str(base);
        }
        out.push_str(path);
        if self.append_slash && !path.ends_with('/') {
            out.push('/');
        }
        out
    }
}

/// The regex of a `replace-*` rule (case-sensitive, unanchored, as
/// HAProxy's), over bytes so that any header value can be matched.
#[derive(Debug, Clone)]
pub struct ReplaceRegex {
    re: Regex,
}

impl ReplaceRegex {
    /// Compiles `pattern`; the error is the last line of the regex
    /// crate's message (the others repeat the pattern).
    pub fn new(pattern: &str) -> Result<ReplaceRegex, String> {
        Regex::new(pattern)
            .map(|re| ReplaceRegex { re })
            .map_err(|e| {
                let e = e.to_string();
                let last = e.lines().last().unwrap_or_default().trim();
                last.strip_prefix("error: ").unwrap_or(last).to_owned()
            })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }

    /// Whether the regex matches somewhere in `subject`.
    pub fn is_match(&self, subject: &[u8]) -> bool {
        self.re.is_match(subject)
    }

    /// When the regex matches somewhere in `subject`, the whole subject's
    /// replacement: `format` (already rendered) with `\0`..`\9` replaced by
    /// the groups of the first match (an unmatched group is empty), `\\`
    /// by a backslash, and `\` before any other character dropped (the
    /// character is kept). `None` when the regex does not match.
    pub fn replace(&self, subject: &[u8], format: &[u8]) -> Option<Vec<u8>> {
        let caps = self.re.captures(subject)?;
        let mut out = Vec::with_capacity(format.len() + subject.len());
        let mut i = 0;
        while i < format.len() {
            let c = format[i];
            if c == b'\\' && i + 1 < format.len() {
                let n = format[i + 1];
                if n.is_ascii_digit() {
                    if let Some(m) = caps.get(usize::from(n - b'0')) {
                        out.extend_from_slice(m.as_bytes());
                    }
                } else {
                    out.push(n);
                }
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> ReplaceRegex {
        ReplaceRegex::new(p).expect("valid regex")
    }

    #[test]
    fn replacement_is_the_whole_value_with_back_references() {
        // HAProxy's examples (configuration.txt, replace-header/-path).
        let r = re("foo=([^;]*);(.*)");
        assert_eq!(
            r.replace(b"foo=foobar; expires=x", br"foo=\1;ip=1.2.3.4;\2"),
            Some(b"foo=foobar;ip=1.2.3.4; expires=x".to_vec())
        );
        assert_eq!(
            re("curl").replace(b"curl/7.47.0", b"foo"),
            Some(b"foo".to_vec())
        );
        assert_eq!(
            re("/foo/(.*)").replace(b"/foo/bar", br"/\1"),
            Some(b"/bar".to_vec())
        );
        assert_eq!(
            re("(.*)").replace(b"/bar", br"/foo\1"),
            Some(b"/foo/bar".to_vec())
        );
        assert_eq!(
            re(r"([^?]*)(\?(.*))?").replace(b"/bar?q=1", br"\1/foo\2"),
            Some(b"/bar/foo?q=1".to_vec())
        );
        assert_eq!(
            re(r"([^?]*)(\?(.*))?").replace(b"/bar", br"\1/foo\2"),
            Some(b"/bar/foo".to_vec())
        );
    }

    #[test]
    fn no_match_no_replacement_and_escapes() {
        assert_eq!(re("^/x").replace(b"/y", b"z"), None);
        assert_eq!(
            re("(a)").replace(b"a", br"\0-\1-\9-\\-\q-\"),
            Some(br"a-a--\-q-\".to_vec())
        );
        assert!(ReplaceRegex::new("(").is_err());
        assert_eq!(re("a").as_str(), "a");
    }

    fn redirect(kind: RedirectKind, drop_query: bool, append_slash: bool) -> Redirect {
        Redirect {
            kind,
            value: LogFormat::literal(""),
            code: 302,
            drop_query,
            append_slash,
            ignore_empty: false,
            cookie: None,
        }
    }

    #[test]
    fn locations_as_haproxy_builds_them() {
        use RedirectKind::*;
        // Each line checked against HAProxy 2.6.
        let r = redirect(Prefix, true, true);
        assert_eq!(r.location("/", "/r1/a?x=1"), "/r1/a/");
        assert_eq!(r.location("/", "/r1/a/?x=1"), "/r1/a/");
        let r = redirect(Prefix, false, true);
        assert_eq!(r.location("/p", "/a/x?q=1"), "/p/a/x?q=1/");
        assert_eq!(r.location("/p", "/a/x"), "/p/a/x/");
        let r = redirect(Prefix, false, false);
        assert_eq!(r.location("http://x.com", "/c?q=1"), "http://x.com/c?q=1");
        assert_eq!(r.location("http://x.com/", "/c?q=1"), "http://x.com//c?q=1");
        assert_eq!(r.location("/", "/f/g?x"), "/f/g?x");
        let r = redirect(Scheme, false, false);
        assert_eq!(r.location("https://h:1", "/b?y=2"), "https://h:1/b?y=2");
        assert_eq!(r.location("https://", "*"), "https:///");
        let r = redirect(Scheme, true, true);
        assert_eq!(r.location("https://h", "/d?q=1"), "https://h/d/");
        let r = redirect(Location, true, true);
        assert_eq!(r.location("/new", "/a?b"), "/new");
    }

    #[test]
    fn cookies_and_cache_control() {
        assert_eq!(Redirect::set_cookie("S=1"), "S=1; path=/;");
        assert_eq!(Redirect::clear_cookie("B="), "B=; path=/; Max-Age=0;");
        let mut r = redirect(RedirectKind::Location, false, false);
        for (code, no_cache) in [
            (301, false),
            (302, true),
            (303, true),
            (307, true),
            (308, false),
        ] {
            r.code = code;
            assert_eq!(r.no_cache(), no_cache, "{code}");
        }
    }
}
