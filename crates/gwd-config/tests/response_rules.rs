//! `http-response` and `http-after-response` rules, and `set-var` /
//! `unset-var`: how each haproxy.cfg line's TOML entry loads, and what the
//! loader refuses (HAProxy refuses the same at load).

mod common;

use common::{err, ok};
use gwd_config::HttpRequestAction;
use gwd_sample::VarScope;

const FE: &str = "[frontend.f]\nbind = [ { addr = \":80\" } ]\ndefault_backend = \"b\"\n";
const BE: &str = "[backend.b]\nserver = [ { name = \"s\", addr = \"127.0.0.1:1\" } ]\n";

#[test]
fn response_lists_load_in_frontends_and_backends() {
    let c = ok(&format!(
        r#"{FE}http-request = [
  {{ action = "set-var", var = "txn.host", expr = "req.hdr(host),lower" }},
  {{ action = "unset-var", var = "sess.x" }},
]
http-response = [
  {{ action = "set-header", name = "X-Host", value = "%[var(txn.host)]", if = "{{ status 200 }}" }},
  {{ action = "del-header", name = "Server" }},
  {{ action = "replace-value", name = "Cache-Control", regex = '^private$', value = "no-store" }},
  {{ action = "set-status", status = 404, reason = "Gone Away", unless = "{{ res.hdr_cnt(x-keep) gt 0 }}" }},
  {{ action = "deny", if = "{{ res.hdr(x-secret) -m found }}" }},
  {{ action = "return", status = 503, content-type = "text/plain", body = "down" }},
  {{ action = "redirect", location = "/moved", code = 301 }},
  {{ action = "set-var", var = "res.v", expr = "res.ver" }},
]
http-after-response = [
  {{ action = "add-header", name = "X-After", value = "%[status]" }},
  {{ action = "set-status", status = 200 }},
]
{BE}http-response = [ {{ action = "add-header", name = "X-Be", value = "1" }} ]
http-after-response = [ {{ action = "del-header", name = "X-Be" }} ]
"#
    ));
    let fe = &c.frontends[0];
    let HttpRequestAction::SetVar { var, expr } = &fe.http_request[0].action else {
        panic!("{:?}", fe.http_request[0].action)
    };
    assert_eq!((var.scope, &*var.name), (VarScope::Txn, "host"));
    assert_eq!(expr.as_str(), "req.hdr(host),lower");
    assert!(matches!(
        &fe.http_request[1].action,
        HttpRequestAction::UnsetVar { var } if var.scope == VarScope::Sess
    ));
    assert_eq!(fe.http_response.len(), 8);
    assert!(matches!(
        &fe.http_response[3].action,
        HttpRequestAction::SetStatus { status: 404, reason: Some(r) } if r == "Gone Away"
    ));
    // http-response deny answers 502 unless told otherwise (HAProxy).
    assert!(matches!(
        fe.http_response[4].action,
        HttpRequestAction::Deny { status: 502 }
    ));
    assert_eq!(fe.http_after_response.len(), 2);
    assert_eq!(c.backends[0].http_response.len(), 1);
    assert_eq!(c.backends[0].http_after_response.len(), 1);
}

#[test]
fn response_fetches_are_refused_in_request_rules() {
    for rule in [
        r#"{ action = "set-header", name = "X", value = "%[status]" }"#,
        r#"{ action = "set-var", var = "txn.x", expr = "res.hdr(x)" }"#,
        r#"{ action = "deny", if = "{ status 200 }" }"#,
    ] {
        let e = err(&format!("{FE}http-request = [ {rule} ]\n{BE}"));
        assert!(
            e.contains("needs an HTTP response, which http-request rules do not have"),
            "{rule}: {e}"
        );
    }
}

#[test]
fn request_fetches_are_refused_in_response_rules() {
    for (key, rule) in [
        (
            "http-response",
            r#"{ action = "set-header", name = "X", value = "%[req.hdr(host)]" }"#,
        ),
        (
            "http-after-response",
            r#"{ action = "set-var", var = "txn.p", expr = "path" }"#,
        ),
    ] {
        let e = err(&format!("{FE}{key} = [ {rule} ]\n{BE}"));
        assert!(
            e.contains("needs the HTTP request") && e.contains("var(txn.host)"),
            "{rule}: {e}"
        );
    }
    // The backend's name and id are known to response rules.
    ok(&format!(
        "{FE}http-response = [ {{ action = \"set-header\", name = \"X-Be\", value = \"%[be_name]\" }} ]\n{BE}"
    ));
}

#[test]
fn actions_outside_their_list_and_bad_values_are_refused() {
    let e = err(&format!(
        "{FE}http-after-response = [ {{ action = \"deny\" }} ]\n{BE}"
    ));
    assert!(
        e.contains("http-after-response action `deny` is not supported yet"),
        "{e}"
    );
    let e = err(&format!(
        "{FE}http-response = [ {{ action = \"set-path\", value = \"/\" }} ]\n{BE}"
    ));
    assert!(
        e.contains("http-response action `set-path` is not supported yet"),
        "{e}"
    );
    let e = err(&format!(
        "{FE}http-response = [ {{ action = \"silent-drop\" }} ]\n{BE}"
    ));
    assert!(
        e.contains("not supported yet") && e.contains("docs/CONFIG.md#not-supported"),
        "{e}"
    );
    let e = err(&format!(
        "{FE}http-response = [ {{ action = \"redirect\", scheme = \"https\" }} ]\n{BE}"
    ));
    assert!(e.contains("takes only `location`"), "{e}");
    let e = err(&format!(
        "{FE}http-request = [ {{ action = \"set-var\", var = \"foo.x\", expr = \"src\" }} ]\n{BE}"
    ));
    assert!(e.contains("unknown variable scope `foo`"), "{e}");
    let e = err(&format!(
        "{FE}http-response = [ {{ action = \"set-status\", status = 1000 }} ]\n{BE}"
    ));
    assert!(e.contains("invalid status `1000`"), "{e}");
    let e = err(&format!(
        "[defaults]\nhttp-response = [ {{ action = \"del-header\", name = \"Server\" }} ]\n{FE}{BE}"
    ));
    assert!(
        e.contains("`[defaults]` holds only inherited settings"),
        "{e}"
    );
}
