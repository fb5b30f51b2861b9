//! Header rules a proxy owes both sides (RFC 9110 §7.6.1): hop-by-hop
//! fields describe one connection and must not be forwarded, and neither
//! must any field the `Connection` header names.
//!
//! Requests take the two steps apart: the fields the visitor's
//! `Connection` names go first, before any rule runs
//! ([`strip_connection_options`]), so a visitor cannot delete what gwd
//! adds; the fixed set goes last ([`strip_hop_by_hop`]).

use gwd_head::{Fields, RequestHead};

/// Fields a `Connection` option never removes: they are meant for every
/// recipient (RFC 9110 §7.6.1 forbids listing them), and removing them
/// would change where the request goes (`Host`) or how it is framed
/// (`Content-Length`). A visitor listing them gets them forwarded.
const NEVER_CONNECTION_OPTION: [&str; 2] = ["host", "content-length"];

/// Options that are not field names to remove here: `close` and
/// `keep-alive` are connection semantics; `upgrade` is handled with the
/// fixed set.
fn is_semantic_option(t: &[u8]) -> bool {
    t.eq_ignore_ascii_case(b"close")
        || t.eq_ignore_ascii_case(b"keep-alive")
        || t.eq_ignore_ascii_case(b"upgrade")
}

/// Removes the fields the `Connection` header names, except `Upgrade`
/// when `keep_upgrade` and the fields in `NEVER_CONNECTION_OPTION`. Run
/// on a visitor's request *before* any rule.
///
/// ```
/// use gwd_head::Fields;
/// let mut f = Fields::new();
/// f.append(b"Connection", b"close, x-debug, host");
/// f.append(b"X-Debug", b"1");
/// f.append(b"Host", b"app.example");
/// gwd_http::headers::strip_connection_options(&mut f, false);
/// assert!(!f.contains("x-debug"));
/// assert_eq!(f.get("host"), Some(&b"app.example"[..]));
/// ```
pub fn strip_connection_options(fields: &mut Fields, keep_upgrade: bool) {
    // Most requests list nothing but `keep-alive` or `close`: no allocation.
    if !fields.tokens("connection").any(|t| !is_semantic_option(t)) {
        return;
    }
    let listed: Vec<Vec<u8>> = fields
        .tokens("connection")
        .filter(|t| !is_semantic_option(t))
        .map(<[u8]>::to_vec)
        .collect();
    for name in listed {
        let Ok(name) = std::str::from_utf8(&name) else {
            continue;
        };
        if (keep_upgrade && name.eq_ignore_ascii_case("upgrade"))
            || NEVER_CONNECTION_OPTION
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        fields.remove(name);
    }
}

/// The fixed hop-by-hop set.
fn is_hop_by_hop(name: &[u8]) -> bool {
    const SET: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "trailer",
    ];
    SET.iter()
        .any(|h| h.len() == name.len() && h.as_bytes().eq_ignore_ascii_case(name))
}

/// Removes the fixed hop-by-hop fields (`Connection`, `Keep-Alive`,
/// `Proxy-Connection`, `TE` except `trailers`, `Transfer-Encoding`,
/// `Upgrade`, `Proxy-Authorization`, `Trailer`). `keep_upgrade` keeps
/// `Upgrade` and sets `Connection: upgrade` for a relayed protocol switch.
/// `TE: trailers` survives (meaningful end to end in HTTP/2, harmless in
/// HTTP/1.1).
///
/// ```
/// use gwd_head::Fields;
/// let mut f = Fields::new();
/// f.append(b"Connection", b"close");
/// f.append(b"Keep-Alive", b"timeout=5");
/// f.append(b"Accept", b"*/*");
/// gwd_http::headers::strip_hop_by_hop(&mut f, false);
/// assert_eq!(f.len(), 1);
/// assert_eq!(f.get("accept"), Some(&b"*/*"[..]));
/// ```
pub fn strip_hop_by_hop(fields: &mut Fields, keep_upgrade: bool) {
    strip_fixed_set(fields, keep_upgrade, true);
}

/// The fixed set; `TE: trailers` is kept only for a request
/// (`keep_te_trailers`): TE is a request field, and HTTP/2 calls a
/// response that carries it malformed (RFC 9113 §8.2.2).
fn strip_fixed_set(fields: &mut Fields, keep_upgrade: bool, keep_te_trailers: bool) {
    let te_trailers = keep_te_trailers && fields.has_token("te", "trailers");
    let upgrade = if keep_upgrade {
        fields.get("upgrade").map(<[u8]>::to_vec)
    } else {
        None
    };
    fields.retain(|name, _| !is_hop_by_hop(name));
    if te_trailers {
        fields.append(b"te", b"trailers");
    }
    if let Some(u) = upgrade {
        fields.append(b"upgrade", &u);
        fields.append(b"connection", b"upgrade");
    }
}

/// Both steps at once, for a response (no rules run in between). Unlike
/// a request's, a response keeps no `TE` at all, `trailers` included.
pub fn strip_all_hop_by_hop(fields: &mut Fields, keep_upgrade: bool) {
    strip_connection_options(fields, keep_upgrade);
    strip_fixed_set(fields, keep_upgrade, false);
}

/// True when a request asks for a protocol switch (`Connection: upgrade`
/// with an `Upgrade` field), e.g. WebSocket.
pub fn wants_upgrade(fields: &Fields) -> bool {
    fields.contains("upgrade") && fields.has_token("connection", "upgrade")
}

/// True when the only protocol a request asks to switch to is `h2c`:
/// RFC 9113 removed that upgrade, and gwd never relays it.
pub fn upgrade_is_h2c(fields: &Fields) -> bool {
    let mut any = false;
    for t in fields.tokens("upgrade") {
        any = true;
        if !t.eq_ignore_ascii_case(b"h2c") {
            return false;
        }
    }
    any
}

/// True when `Upgrade` names `websocket` (any case), in a request or a
/// response: RFC 6455's handshake fields are then required.
pub fn upgrade_is_websocket(fields: &Fields) -> bool {
    fields
        .tokens("upgrade")
        .any(|t| t.eq_ignore_ascii_case(b"websocket"))
}

/// The `Sec-WebSocket-Accept` a server owes for `key` (RFC 6455 §4.2.2):
/// base64 of the SHA-1 of the key and the protocol's GUID.
pub fn websocket_accept(key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(ctx.finish().as_ref())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Appends the client address to the forwarded-for header, as HAProxy's
/// `option forwardfor` does (a new occurrence, earlier hops kept).
pub fn add_forwarded_for(fields: &mut Fields, name: &str, ip: std::net::IpAddr) {
    // Formatted on the stack: an address is at most 45 bytes.
    let mut text = [0u8; 64];
    let len = {
        let mut w = &mut text[..];
        let _ = std::io::Write::write_fmt(&mut w, format_args!("{ip}"));
        64 - w.len()
    };
    if let Err(e) = fields.try_append(name.as_bytes(), &text[..len]) {
        tracing::debug!(header = %name, error = %e, "forwardfor header left out");
    }
}

/// Size of a request head as it would be on the wire in HTTP/1.1, used to
/// enforce `tune.bufsize` the same way for HTTP/1 and HTTP/2 visitors.
pub fn head_size(head: &RequestHead) -> usize {
    head.method.as_str().len() + 1 + head.path_and_query().len() + 11 + head.fields.wire_len() + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (n, v) in pairs {
            f.append(n.as_bytes(), v.as_bytes());
        }
        f
    }

    #[test]
    fn strips_fixed_and_listed_fields() {
        let mut h = fields(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("x-kept", "yes"),
        ]);
        strip_all_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("x-kept"), Some(&b"yes"[..]));
    }

    #[test]
    fn keeps_upgrade_when_relaying_one() {
        let mut h = fields(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_all_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade"), Some(&b"websocket"[..]));
        assert_eq!(h.get("connection"), Some(&b"upgrade"[..]));
        let mut h = fields(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        strip_all_hop_by_hop(&mut h, false);
        assert!(h.is_empty());
    }

    #[test]
    fn te_trailers_survives_other_te_does_not() {
        let mut h = fields(&[("te", "trailers, deflate")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.get("te"), Some(&b"trailers"[..]));
        let mut h = fields(&[("te", "gzip")]);
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains("te"));
    }

    /// TE is a request field: a response keeps none, not even
    /// `trailers` (HTTP/2 visitors would reject the response).
    #[test]
    fn a_response_keeps_no_te() {
        let mut h = fields(&[("te", "trailers"), ("x-kept", "yes")]);
        strip_all_hop_by_hop(&mut h, false);
        assert!(!h.contains("te"));
        assert_eq!(h.get("x-kept"), Some(&b"yes"[..]));
    }

    #[test]
    fn connection_options_never_remove_host_or_framing() {
        let mut h = fields(&[
            ("connection", "host, content-length, x-a"),
            ("host", "app"),
            ("content-length", "3"),
            ("x-a", "1"),
        ]);
        strip_connection_options(&mut h, false);
        assert_eq!(h.get("host"), Some(&b"app"[..]));
        assert_eq!(h.get("content-length"), Some(&b"3"[..]));
        assert!(!h.contains("x-a"));
    }

    #[test]
    fn fields_added_after_the_options_were_stripped_stay() {
        // The request path strips the visitor's options first, then rules
        // add fields, then the fixed set goes: the additions survive.
        let mut h = fields(&[
            ("connection", "x-forwarded-for"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        strip_connection_options(&mut h, false);
        assert!(!h.contains("x-forwarded-for"));
        add_forwarded_for(&mut h, "x-forwarded-for", "127.0.0.1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.get("x-forwarded-for"), Some(&b"127.0.0.1"[..]));
        assert!(!h.contains("connection"));
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = fields(&[("x-forwarded-for", "10.0.0.1")]);
        add_forwarded_for(&mut h, "x-forwarded-for", "127.0.0.1".parse().unwrap());
        let all: Vec<_> = h.get_all("x-forwarded-for").collect();
        assert_eq!(all, [&b"10.0.0.1"[..], b"127.0.0.1"]);
    }

    #[test]
    fn h2c_upgrades_are_told_apart() {
        assert!(upgrade_is_h2c(&fields(&[("upgrade", "h2c")])));
        assert!(!upgrade_is_h2c(&fields(&[("upgrade", "websocket")])));
        assert!(upgrade_is_websocket(&fields(&[("upgrade", "WebSocket")])));
        assert!(upgrade_is_websocket(&fields(&[(
            "upgrade",
            "h2c, websocket"
        )])));
        assert!(!upgrade_is_websocket(&fields(&[("upgrade", "websocketx")])));
    }

    #[test]
    fn websocket_accept_and_base64_follow_the_rfcs() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // RFC 4648 §10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
        assert!(!upgrade_is_h2c(&fields(&[("upgrade", "h2c, websocket")])));
        assert!(!upgrade_is_h2c(&fields(&[])));
    }
}
