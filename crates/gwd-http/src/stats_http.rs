//! Statistics over HTTP: the stats page of a frontend (`stats.uri`, its
//! CSV at `<uri>;csv`, optional Basic authentication) and the
//! `prometheus-exporter` service of `http-request use-service`.
//!
//! Model: the proxy does not render statistics itself; it holds a
//! [`StatsEndpoints`] (installed once, after the proxy is built, by the
//! composition crate, which renders with gwd-admin) and turns what it
//! returns into local answers, counted and logged like `http-request
//! return`. Only GET and HEAD requests reach the page (others go on to the
//! backend, as in HAProxy); the exporter answers other methods with 405.
//!
//! Invariants: credentials are compared in constant time with respect to
//! their content; a page request without valid credentials gets 401 with
//! `WWW-Authenticate: Basic realm="<realm>"` and never the page; a HEAD
//! answer carries the headers (including `Content-Length`) of the GET
//! answer and no body.

use std::time::Duration;

use bytes::Bytes;
use gwd_config::StatsPage;
use gwd_head::{Fields, Method, RequestHead, StatusCode};

use crate::local::LocalReply;

/// The `Content-Type` of Prometheus' text exposition format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of the stats page.
pub const PAGE_CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// The `Content-Type` of the stats CSV (`<uri>;csv`).
pub const CSV_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// What renders statistics for the HTTP endpoints. Implemented by the
/// composition crate over the runtime API's renderers, so this crate does
/// not depend on them. Each call renders fresh text from current counters.
///
/// ```
/// use std::time::Duration;
/// use gwd_http::StatsEndpoints;
///
/// #[derive(Debug)]
/// struct Fixed;
/// impl StatsEndpoints for Fixed {
///     fn page(&self, uri: &str, _refresh: Option<Duration>, _hide_version: bool) -> String {
///         format!("<a href=\"{uri};csv\">CSV</a>")
///     }
///     fn csv(&self) -> String { "# pxname,svname\n".into() }
///     fn prometheus(&self) -> String { "gwd_up 1\n".into() }
/// }
/// assert!(Fixed.page("/stats", None, false).contains("/stats;csv"));
/// ```
pub trait StatsEndpoints: Send + Sync + std::fmt::Debug {
    /// The HTML page, served at `uri` (its CSV link is `<uri>;csv`),
    /// reloading itself every `refresh`, without the version when
    /// `hide_version`.
    fn page(&self, uri: &str, refresh: Option<Duration>, hide_version: bool) -> String;
    /// `show stat` as CSV, every row.
    fn csv(&self) -> String;
    /// The Prometheus text exposition.
    fn prometheus(&self) -> String;
}

/// What a request to the stats URI asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatsRequest {
    /// The HTML page.
    Page,
    /// `<uri>;csv`: the CSV.
    Csv,
}

/// Whether `parts` is a stats request for `page`: GET or HEAD, with a
/// path-and-query starting with the stats URI (HAProxy's prefix match);
/// `;csv` anywhere after the prefix selects the CSV.
pub(crate) fn match_stats_uri(page: &StatsPage, head: &RequestHead) -> Option<StatsRequest> {
    if head.method != Method::GET && head.method != Method::HEAD {
        return None;
    }
    let pq = head.path_and_query();
    let rest = pq.strip_prefix(page.uri.as_str())?;
    Some(if rest.contains(";csv") {
        StatsRequest::Csv
    } else {
        StatsRequest::Page
    })
}

/// Byte-wise equality whose time depends only on the lengths, never on
/// where the contents differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Decodes standard base64 (RFC 4648, `=` padding optional); `None` on
/// any other character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Whether the request carries credentials of one of `page.auth` (always
/// true without users). Every user is compared, whatever matched.
pub(crate) fn authorized(page: &StatsPage, fields: &Fields) -> bool {
    if page.auth.is_empty() {
        return true;
    }
    let Some(given) = basic_credentials(fields) else {
        return false;
    };
    let mut ok = false;
    for u in &page.auth {
        let mut want = Vec::with_capacity(u.user.len() + 1 + u.password.len());
        want.extend_from_slice(u.user.as_bytes());
        want.push(b':');
        want.extend_from_slice(u.password.as_bytes());
        ok |= ct_eq(&given, &want);
    }
    ok
}

/// The decoded `user:password` of the request's `Authorization: Basic`
/// header (`stats.auth`, userlists).
pub(crate) fn basic_credentials(fields: &Fields) -> Option<Vec<u8>> {
    let v = std::str::from_utf8(fields.get("authorization")?).ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("basic")
        .then(|| base64_decode(rest.trim()))?
}

/// 401 with the realm to authenticate in.
pub(crate) fn unauthorized(realm: &str) -> LocalReply {
    let mut reply = LocalReply::error(StatusCode::UNAUTHORIZED);
    let value = format!("Basic realm=\"{realm}\"");
    if let Err(e) = reply
        .head
        .fields
        .try_append(b"www-authenticate", value.as_bytes())
    {
        tracing::debug!(error = %e, "realm left out of WWW-Authenticate");
    }
    reply
}

/// 405 for a method a service does not take.
pub(crate) fn method_not_allowed() -> LocalReply {
    let mut reply = LocalReply::error(StatusCode::METHOD_NOT_ALLOWED);
    reply.head.fields.append(b"allow", b"GET, HEAD");
    reply
}

/// 503 when no renderer was installed on the proxy.
pub(crate) fn unavailable() -> LocalReply {
    LocalReply::error(StatusCode::SERVICE_UNAVAILABLE)
}

/// A 200 carrying `text` (headers only for HEAD), not to be cached.
pub(crate) fn text_reply(text: String, content_type: &'static str, head: bool) -> LocalReply {
    let mut reply = LocalReply::new(StatusCode::OK, Some(content_type), Bytes::from(text), head);
    reply.head.fields.append(b"cache-control", b"no-cache");
    reply
}

/// The answer to a stats request that passed authentication.
pub(crate) fn stats_reply(
    endpoints: &dyn StatsEndpoints,
    page: &StatsPage,
    what: StatsRequest,
    head: bool,
) -> LocalReply {
    match what {
        StatsRequest::Page => text_reply(
            endpoints.page(&page.uri, page.refresh, page.hide_version),
            PAGE_CONTENT_TYPE,
            head,
        ),
        StatsRequest::Csv => text_reply(endpoints.csv(), CSV_CONTENT_TYPE, head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gwd_config::{Location, StatsUser};

    fn page(uri: &str, users: &[(&str, &str)]) -> StatsPage {
        StatsPage {
            uri: uri.into(),
            refresh: None,
            auth: users
                .iter()
                .map(|(u, p)| StatsUser {
                    user: (*u).into(),
                    password: (*p).into(),
                })
                .collect(),
            realm: "gwd statistics".into(),
            hide_version: false,
            location: Location::default(),
        }
    }

    fn parts(method: Method, uri: &str, auth: Option<&str>) -> RequestHead {
        let mut fields = Fields::new();
        if let Some(a) = auth {
            fields.append(b"Authorization", a.as_bytes());
        }
        RequestHead {
            method,
            uri: uri.parse().unwrap(),
            version: gwd_head::Version::HTTP_11,
            fields,
        }
    }

    #[test]
    fn uri_prefix_methods_and_csv() {
        let p = page("/stats", &[]);
        assert_eq!(
            match_stats_uri(&p, &parts(Method::GET, "/stats", None)),
            Some(StatsRequest::Page)
        );
        assert_eq!(
            match_stats_uri(&p, &parts(Method::HEAD, "/stats/x?y", None)),
            Some(StatsRequest::Page)
        );
        assert_eq!(
            match_stats_uri(&p, &parts(Method::GET, "/stats;csv", None)),
            Some(StatsRequest::Csv)
        );
        assert_eq!(
            match_stats_uri(&p, &parts(Method::GET, "/stats;csv;norefresh", None)),
            Some(StatsRequest::Csv)
        );
        assert_eq!(
            match_stats_uri(&p, &parts(Method::GET, "/stat", None)),
            None
        );
        assert_eq!(match_stats_uri(&p, &parts(Method::GET, "/", None)), None);
        assert_eq!(
            match_stats_uri(&p, &parts(Method::POST, "/stats", None)),
            None
        );
        // HAProxy's default URI carries a query.
        let q = page("/haproxy?stats", &[]);
        assert_eq!(
            match_stats_uri(&q, &parts(Method::GET, "/haproxy?stats;csv", None)),
            Some(StatsRequest::Csv)
        );
        assert_eq!(
            match_stats_uri(&q, &parts(Method::GET, "/haproxy", None)),
            None
        );
    }

    #[test]
    fn base64_round_trips_known_vectors() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode("YWRtaW46czNjcjN0").unwrap(), b"admin:s3cr3t");
        assert!(base64_decode("Zm9v!").is_none());
        assert!(base64_decode("Z").is_none());
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"", b"a"));
    }

    #[test]
    fn basic_auth() {
        let p = page("/stats", &[("admin", "s3cr3t"), ("ro", "x:y")]);
        let ok = |a: Option<&str>| authorized(&p, &parts(Method::GET, "/stats", a).fields);
        assert!(!ok(None));
        assert!(ok(Some("Basic YWRtaW46czNjcjN0")));
        assert!(ok(Some("basic   YWRtaW46czNjcjN0 ")));
        // "ro:x:y": the password may contain colons.
        assert!(ok(Some("Basic cm86eDp5")));
        // admin:wrong
        assert!(!ok(Some("Basic YWRtaW46d3Jvbmc=")));
        assert!(!ok(Some("Bearer YWRtaW46czNjcjN0")));
        assert!(!ok(Some("Basic !!!")));
        assert!(!ok(Some("Basic")));
        // No users: everyone.
        let open = page("/stats", &[]);
        assert!(authorized(
            &open,
            &parts(Method::GET, "/stats", None).fields
        ));
    }

    #[test]
    fn replies_carry_types_lengths_and_realm() {
        let r = unauthorized("gwd statistics");
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.head.fields.get("www-authenticate"),
            Some(&b"Basic realm=\"gwd statistics\""[..])
        );
        let r = text_reply("hello".into(), PAGE_CONTENT_TYPE, true);
        assert_eq!(r.status(), 200);
        assert_eq!(r.head.fields.get("content-length"), Some(&b"5"[..]));
        assert_eq!(
            r.head.fields.get("content-type"),
            Some(PAGE_CONTENT_TYPE.as_bytes())
        );
        assert!(r.body.is_empty());
        let r = method_not_allowed();
        assert_eq!(r.status(), 405);
        assert_eq!(r.head.fields.get("allow"), Some(&b"GET, HEAD"[..]));
    }
}
