//! Header rules a proxy owes both sides (RFC 9110 §7.6.1): hop-by-hop
//! fields describe one connection and must not be forwarded, and neither
//! must any field the `Connection` header names.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The fixed hop-by-hop set. `Upgrade` is in it: it is put back explicitly
/// for a protocol upgrade that gwd relays.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
];

/// Fields a `Connection` option never removes: they are meant for every
/// recipient (RFC 9110 §7.6.1 forbids listing them), and removing them
/// would change where the request goes (`Host`) or how it is framed
/// (`Content-Length`). A visitor listing them gets them forwarded.
const NEVER_CONNECTION_OPTION: [HeaderName; 2] = [header::HOST, header::CONTENT_LENGTH];

/// Removes the fields the `Connection` header names (RFC 9110 §7.6.1),
/// except `Upgrade` when `keep_upgrade` and the fields in
/// [`NEVER_CONNECTION_OPTION`]. Run on a visitor's request *before* any
/// rule: a visitor must not be able to delete what gwd's own rules and
/// `option forwardfor` add (`Connection: x-forwarded-for`).
///
/// ```
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("connection", "close, x-debug, host".parse().unwrap());
/// h.insert("x-debug", "1".parse().unwrap());
/// h.insert("host", "app.example".parse().unwrap());
/// gwd_http::headers::strip_connection_options(&mut h, false);
/// assert!(!h.contains_key("x-debug"));
/// assert_eq!(h["host"], "app.example");
/// ```
pub fn strip_connection_options(h: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        if (keep_upgrade && name == header::UPGRADE) || NEVER_CONNECTION_OPTION.contains(&name) {
            continue;
        }
        h.remove(&name);
    }
}

/// Removes the fixed hop-by-hop fields (`Connection`, `Keep-Alive`,
/// `Proxy-Connection`, `TE` except `trailers`, `Transfer-Encoding`,
/// `Upgrade`, `Proxy-Authorization`, `Trailer`). The fields `Connection`
/// names are [`strip_connection_options`]'s job, done earlier on requests
/// so that what gwd added in between stays. `keep_upgrade` keeps
/// `Connection: upgrade` + `Upgrade` for a relayed protocol switch.
/// `TE: trailers` survives (it is meaningful end to end in HTTP/2 and
/// harmless in HTTP/1.1).
///
/// ```
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("connection", "close".parse().unwrap());
/// h.insert("keep-alive", "timeout=5".parse().unwrap());
/// h.insert("accept", "*/*".parse().unwrap());
/// gwd_http::headers::strip_hop_by_hop(&mut h, false);
/// assert_eq!(h.len(), 1);
/// assert_eq!(h["accept"], "*/*");
/// ```
pub fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    let te_trailers = h.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    let upgrade = h.get(header::UPGRADE).cloned();
    for name in &HOP_BY_HOP {
        h.remove(name);
    }
    h.remove("keep-alive");
    h.remove("proxy-connection");
    if te_trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade && let Some(u) = upgrade {
        h.insert(header::UPGRADE, u);
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Both steps at once, for a response (no rules run in between).
pub fn strip_all_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    strip_connection_options(h, keep_upgrade);
    strip_hop_by_hop(h, keep_upgrade);
}

/// True when a request asks for a protocol switch (`Connection: upgrade`
/// with an `Upgrade` field), e.g. WebSocket.
pub fn wants_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Appends the client address to the forwarded-for header, as HAProxy's
/// `option forwardfor` does (a new occurrence, earlier hops kept).
pub fn add_forwarded_for(h: &mut HeaderMap, name: &HeaderName, ip: std::net::IpAddr) {
    if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
        h.append(name.clone(), v);
    }
}

/// Size of a request head as it would be on the wire in HTTP/1.1, used to
/// enforce `tune.bufsize` the same way for HTTP/1 and HTTP/2 visitors.
pub fn head_size(method: &http::Method, uri: &http::Uri, h: &HeaderMap) -> usize {
    let line =
        method.as_str().len() + 1 + uri.path_and_query().map_or(1, |p| p.as_str().len()) + 11;
    h.iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum::<usize>()
        + line
        + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_fixed_and_listed_fields() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("x-kept", "yes"),
        ]);
        strip_all_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn keeps_upgrade_when_relaying_one() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_all_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        strip_all_hop_by_hop(&mut h, false);
        assert!(h.is_empty());
    }

    #[test]
    fn te_trailers_survives_other_te_does_not() {
        let mut h = map(&[("te", "trailers, deflate")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["te"], "trailers");
        let mut h = map(&[("te", "gzip")]);
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("te"));
    }

    #[test]
    fn connection_options_never_remove_host_or_framing() {
        let mut h = map(&[
            ("connection", "host, content-length, x-a"),
            ("host", "app"),
            ("content-length", "3"),
            ("x-a", "1"),
        ]);
        strip_connection_options(&mut h, false);
        assert_eq!(h["host"], "app");
        assert_eq!(h["content-length"], "3");
        assert!(!h.contains_key("x-a"));
    }

    #[test]
    fn fields_added_after_the_options_were_stripped_stay() {
        // The request path strips the visitor's options first, then rules
        // add fields, then the fixed set goes: the additions survive.
        let mut h = map(&[
            ("connection", "x-forwarded-for"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        strip_connection_options(&mut h, false);
        assert!(!h.contains_key("x-forwarded-for"));
        let name = HeaderName::from_static("x-forwarded-for");
        add_forwarded_for(&mut h, &name, "127.0.0.1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert!(!h.contains_key("connection"));
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = map(&[("x-forwarded-for", "10.0.0.1")]);
        let name = HeaderName::from_static("x-forwarded-for");
        add_forwarded_for(&mut h, &name, "127.0.0.1".parse().unwrap());
        let all: Vec<_> = h.get_all(&name).iter().collect();
        assert_eq!(all, ["10.0.0.1", "127.0.0.1"]);
    }
}
