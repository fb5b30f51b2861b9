//! `http-request` redirects and rewrites: how each haproxy.cfg line's
//! TOML entry loads, and the errors of wrong ones.

mod common;

use common::{err, ok};
use gwd_config::{HttpRequestAction, RedirectKind, UriPart};

fn rules(rules: &str) -> Vec<gwd_config::HttpRequestRule> {
    let c = ok(&format!(
        "[frontend.f]\nbind = [ {{ addr = \":80\" }} ]\nhttp-request = [\n{rules}\n]\n"
    ));
    c.frontends[0].http_request.clone()
}

fn rule_err(rules: &str) -> String {
    err(&format!(
        "[frontend.f]\nbind = [ {{ addr = \":80\" }} ]\nhttp-request = [\n{rules}\n]\n"
    ))
}

#[test]
fn redirects_load_with_haproxy_defaults() {
    let r = rules(
        r#"{ action = "redirect", scheme = "https", if = "!{ ssl_fc }" },
{ action = "redirect", code = 301, prefix = "/", drop-query = true, append-slash = true },
{ action = "redirect", location = "/new", code = 308, set-cookie = "SEEN=1" },
{ action = "redirect", location = "%[query]", ignore-empty = true, clear-cookie = "USERID=" },"#,
    );
    let HttpRequestAction::Redirect(a) = &r[0].action else {
        panic!("{:?}", r[0].action)
    };
    assert_eq!(
        (a.kind, a.code, a.drop_query, a.append_slash, a.ignore_empty),
        (RedirectKind::Scheme, 302, false, false, false)
    );
    assert_eq!(a.cookie, None);
    assert!(r[0].cond.is_some());
    let HttpRequestAction::Redirect(b) = &r[1].action else {
        panic!()
    };
    assert_eq!(
        (b.kind, b.code, b.drop_query, b.append_slash),
        (RedirectKind::Prefix, 301, true, true)
    );
    let HttpRequestAction::Redirect(c) = &r[2].action else {
        panic!()
    };
    assert_eq!((c.kind, c.code), (RedirectKind::Location, 308));
    assert_eq!(c.cookie.as_deref(), Some("SEEN=1; path=/;"));
    let HttpRequestAction::Redirect(d) = &r[3].action else {
        panic!()
    };
    assert!(d.ignore_empty);
    assert_eq!(d.cookie.as_deref(), Some("USERID=; path=/; Max-Age=0;"));
}

#[test]
fn rewrites_load() {
    let r = rules(
        r#"{ action = "set-path", value = "/%[req.hdr(host)]%[path]" },
{ action = "set-pathq", value = "/p?x=1" },
{ action = "set-uri", value = "http://example.com/" },
{ action = "set-query", value = "%[query]&a=1" },
{ action = "set-method", value = "POST" },
{ action = "replace-path", regex = '/foo/(.*)', value = '/\1', if = "{ path_beg /foo/ }" },
{ action = "replace-pathq", regex = '([^?]*)(\?(.*))?', value = '\1/foo\2' },
{ action = "replace-uri", regex = '^http://(.*)', value = 'https://\1' },
{ action = "replace-header", name = "Cookie", regex = 'foo=([^;]*);(.*)', value = 'foo=\1;ip=%[src];\2' },
{ action = "replace-value", name = "X-Forwarded-For", regex = '^192\.168\.(.*)$', value = '172.16.\1' },"#,
    );
    let parts: Vec<_> = r
        .iter()
        .map(|r| match &r.action {
            HttpRequestAction::SetUri { part, .. } => format!("set-{}", part.name()),
            HttpRequestAction::SetMethod { .. } => "set-method".into(),
            HttpRequestAction::ReplaceUri { part, regex, .. } => {
                format!("replace-{} {}", part.name(), regex.as_str())
            }
            HttpRequestAction::ReplaceHeader {
                name, each_value, ..
            } => format!("replace {name} {each_value}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        parts,
        [
            "set-path",
            "set-pathq",
            "set-uri",
            "set-query",
            "set-method",
            "replace-path /foo/(.*)",
            r"replace-pathq ([^?]*)(\?(.*))?",
            "replace-uri ^http://(.*)",
            "replace Cookie false",
            "replace X-Forwarded-For true",
        ]
    );
    assert!(r[5].cond.is_some());
    assert!(matches!(
        r[0].action,
        HttpRequestAction::SetUri {
            part: UriPart::Path,
            ..
        }
    ));
}

#[test]
fn wrong_redirects_and_rewrites_are_located() {
    let e = rule_err(
        r#"{ action = "redirect" },
{ action = "redirect", scheme = "https", location = "/x" },
{ action = "redirect", location = "/x", code = 304 },
{ action = "redirect", location = "/x", set-cookie = "A=1", clear-cookie = "A=" },
{ action = "redirect", location = "/x", set-cookie = "A=1; path=/x" },
{ action = "redirect", location = "/x", drop-query = "yes" },
{ action = "replace-path", regex = '(', value = "/" },
{ action = "replace-header", regex = 'a', value = "b" },
{ action = "set-path" },
{ action = "set-path", value = "/%[nope]" },
{ action = "redirect", location = "/x", status = 301 },"#,
    );
    for want in [
        "error: a `redirect` rule has no `location`, `prefix` or `scheme`\n  --> gw.toml:4:1 (frontend.f.http-request[0])",
        "error: a `redirect` rule has only one of `location`, `prefix` and `scheme`\n  --> gw.toml:5:42 (frontend.f.http-request[1].location)",
        "error: invalid redirect code `304`\n  --> gw.toml:6:48 (frontend.f.http-request[2].code)",
        "error: a `redirect` rule has at most one of `set-cookie` and `clear-cookie`",
        "error: invalid cookie `A=1; path=/x`",
        "(frontend.f.http-request[5].drop-query)",
        "error: invalid regex `(`",
        "error: `replace-header` rule has no `name`",
        "error: `set-path` rule has no `value`",
        "(frontend.f.http-request[9].value)",
        "error: `status` is not allowed in an http-request `redirect` rule\n  --> gw.toml:14:41 (frontend.f.http-request[10].status)\n  help: a redirect's status is `code`: 301, 302, 303, 307 or 308",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn haproxy_actions_gwd_lacks_are_not_supported_yet_not_unknown() {
    for action in [
        "allow",
        "track-sc0",
        "sc-inc-gpc0(0)",
        "lua.hello",
        "silent-drop",
        "reject",
        "normalize-uri",
    ] {
        let e = rule_err(&format!("{{ action = \"{action}\" }},"));
        assert!(
            e.contains(&format!(
                "error: http-request action `{action}` is not supported yet"
            )) && e.contains("docs/CONFIG.md#not-supported"),
            "{action}: {e}"
        );
    }
    // A typo is still a typo.
    let e = rule_err(r#"{ action = "redriect", location = "/" },"#);
    assert!(
        e.contains("unknown or unsupported http-request action `redriect`")
            && e.contains("did you mean `\"redirect\"`?"),
        "{e}"
    );
    // HAProxy's spelling of set-var points at the TOML one.
    let e = rule_err(r#"{ action = "set-var(txn.x)" },"#);
    assert!(
        e.contains(r#"`{ action = "set-var", var = "txn.name""#),
        "{e}"
    );
}

#[test]
fn return_with_location_still_loads() {
    let r = rules(
        r#"{ action = "return", status = 301, hdr = [ { name = "Location", value = "https://%[req.hdr(host)]%[url]" } ] },"#,
    );
    assert!(matches!(
        r[0].action,
        HttpRequestAction::Return { status: 301, .. }
    ));
}
