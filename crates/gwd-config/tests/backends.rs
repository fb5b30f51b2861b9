//! Balancing, health checks and limits: `balance`, `hash-type`,
//! `retries`, `option.httpchk`/`allbackups`/`redispatch`, `http-check.*`,
//! `timeout.check`/`queue`, `spread-checks`, and the server keys
//! (`weight`, `backup`, `maxconn`, `disabled`, `check`, `inter`, ...).

mod common;

use std::time::Duration;

use common::{err, ok, warnings};
use gwd_config::*;

const FE: &str = "[frontend.f]\nbind = [ { addr = \":80\" } ]\ndefault_backend = \"app\"\n";

#[test]
fn the_issue_example_translates_line_for_line() {
    let c = ok(&format!(
        r#"[global]
spread-checks = 5

{FE}
[backend.app]
option.httpchk = true
timeout.check = "500ms"
server = [ {{ name = "a", addr = "10.0.0.1:80", check = true, inter = "2s", fall = 3, rise = 2, weight = 10, maxconn = 50 }} ]
"#
    ));
    assert_eq!(c.global.spread_checks, 5);
    let b = &c.backends[0];
    assert_eq!(b.timeouts.check, Some(Duration::from_millis(500)));
    let hc = b.http_check.as_ref().expect("option.httpchk");
    assert_eq!(
        hc.request(),
        b"OPTIONS / HTTP/1.0\r\nconnection: close\r\n\r\n"
    );
    let s = &b.servers[0];
    assert_eq!(
        (s.weight, s.maxconn, s.backup, s.disabled),
        (10, Some(50), false, false)
    );
    let check = s.check.as_ref().expect("check = true");
    assert_eq!(check.health.inter, Duration::from_secs(2));
    assert_eq!((check.health.rise, check.health.fall), (2, 3));
    assert_eq!(
        (check.port, check.addr.as_deref(), check.ssl),
        (None, None, false)
    );
}

#[test]
fn defaults_and_every_algorithm() {
    let c = ok(&format!(
        r#"[defaults]
balance = "leastconn"
retries = 5
option.redispatch = false
hash-type = "consistent"

{FE}
[backend.app]
[backend.rr]
balance = "roundrobin"
[backend.srr]
balance = "static-rr"
[backend.first]
balance = "first"
[backend.src]
balance = "source"
[backend.uri]
balance = "uri len 10 depth 2 whole"
[backend.hdr]
balance = "hdr(X-Tenant)"
hash-type = "map-based"
[backend.rnd]
balance = "random(3)"
[backend.rnd2]
balance = "random"
option.allbackups = true
"#
    ));
    let b = |n: &str| c.backends.iter().find(|b| b.name == n).unwrap();
    assert_eq!(b("app").balance, Balance::LeastConn);
    assert_eq!(
        (b("app").retries, b("app").redispatch),
        (5, Redispatch::NEVER)
    );
    assert_eq!(b("app").hash_type, HashType::Consistent);
    assert_eq!(b("rr").balance, Balance::RoundRobin);
    assert_eq!(b("srr").balance, Balance::StaticRr);
    assert_eq!(b("first").balance, Balance::First);
    assert_eq!(b("src").balance, Balance::Source);
    assert_eq!(
        b("uri").balance,
        Balance::Uri {
            len: Some(10),
            depth: Some(2),
            whole: true
        }
    );
    assert_eq!(
        b("hdr").balance,
        Balance::Hdr {
            name: "x-tenant".into()
        }
    );
    assert_eq!(b("hdr").hash_type, HashType::MapBased);
    assert_eq!(b("rnd").balance, Balance::Random { draws: 3 });
    assert_eq!(b("rnd2").balance, Balance::Random { draws: 2 });
    assert!(b("rnd2").all_backups && !b("rnd").all_backups);

    // Built-in defaults: HAProxy's retries, gwd's redispatch.
    let c = ok(&format!("{FE}\n[backend.app]\n"));
    let app = &c.backends[0];
    assert_eq!(
        (app.retries, app.redispatch, app.all_backups),
        (3, Redispatch::EVERY_RETRY, false)
    );
    assert!(app.http_check.is_none());
}

/// `option.redispatch`: `true` is HAProxy's `option redispatch` (the last
/// retry), an integer its interval; anything else is refused.
#[test]
fn redispatch_takes_a_boolean_or_haproxys_interval() {
    let c = ok(&format!(
        "{FE}\n[backend.app]\noption.redispatch = true\n[backend.b]\noption.redispatch = -2\n\
         [backend.c]\noption.redispatch = 3\n"
    ));
    let r: Vec<Redispatch> = c.backends.iter().map(|b| b.redispatch).collect();
    assert_eq!(r, [Redispatch::LAST_RETRY, Redispatch(-2), Redispatch(3)]);
    let e = err(&format!(
        "{FE}\n[backend.app]\noption.redispatch = \"sometimes\"\n"
    ));
    assert!(e.contains("a boolean or an integer"), "{e}");
}

#[test]
fn http_check_send_and_expect_override_option_httpchk() {
    let c = ok(&format!(
        r#"[defaults]
option.httpchk = "GET /health"
http-check.expect = "status 200-399"

{FE}
[backend.app]
http-check.send = {{ meth = "HEAD", ver = "HTTP/1.1", hdr = {{ Host = "app.internal" }} }}
[backend.off]
option.httpchk = false
"#
    ));
    let hc = c.backends[0].http_check.as_ref().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&hc.request()),
        "HEAD /health HTTP/1.1\r\nHost: app.internal\r\nconnection: close\r\n\r\n"
    );
    let ok200 = b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\n\r\n";
    assert!(hc.judge(ok200, false).unwrap().status.passed());
    let bad = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(hc.judge(bad, false).unwrap().code, Some(404));
    assert!(c.backends[1].http_check.is_none());
}

#[test]
fn server_check_keys() {
    let c = ok(&format!(
        r#"{FE}
[backend.app]
server = [
  {{ name = "b", addr = "10.0.0.2:80", check = true, port = 8081, check-addr = "10.0.0.9", backup = true, fastinter = "500ms", downinter = "10s" }},
  {{ name = "c", addr = "c.internal:443", ssl = true, verify = "none", check = true, check-ssl = true, check-sni = "c.internal", disabled = true, weight = 0 }},
  {{ name = "t", addr = "rhttp@", weight = 5, backup = true, maxconn = 0 }},
  {{ name = "d", addr = "d.internal:443", ssl = true, verify = "none", check = true }},
  {{ name = "e", addr = "e.internal:443", ssl = true, verify = "none", check = true, port = 8080 }},
]
"#
    ));
    let s = &c.backends[0].servers;
    let b = s[0].check.as_ref().unwrap();
    assert_eq!((b.port, b.addr.as_deref()), (Some(8081), Some("10.0.0.9")));
    assert_eq!(b.health.fastinter, Some(Duration::from_millis(500)));
    assert_eq!(b.health.downinter, Some(Duration::from_secs(10)));
    assert!(s[0].backup);
    let cc = s[1].check.as_ref().unwrap();
    assert!(cc.ssl && s[1].disabled && s[1].weight == 0);
    assert_eq!(cc.sni.as_deref(), Some("c.internal"));
    assert_eq!((s[2].weight, s[2].backup, s[2].maxconn), (5, true, None));
    // A TLS server checked on its own address is checked over TLS (as
    // HAProxy does); on another port, in clear unless `check-ssl`.
    assert!(s[3].check.as_ref().unwrap().ssl);
    assert!(!s[4].check.as_ref().unwrap().ssl);
}

#[test]
fn check_keys_without_check_are_warned() {
    let w = warnings(&format!(
        "{FE}\n[backend.app]\nserver = [ {{ name = \"a\", addr = \"127.0.0.1:1\", inter = \"1s\" }} ]\n"
    ));
    assert!(
        w.contains("`inter` has no effect without `check = true`"),
        "{w}"
    );
}

#[test]
fn errors_name_the_key_and_say_what_is_not_supported_yet() {
    let e = err(&format!(
        r#"{FE}
[backend.app]
balance = "hash path"
hash-type = "consistent sdbm"
retries = -1
http-check.expect = "statuss 200"
http-check.send = {{ meth = "GE T", uri = "health" }}
option.httpchk = "GET /a HTTP/1.1 extra"
server = [
  {{ name = "a", addr = "127.0.0.1:1", weight = 300, rise = 0, inter = "0s", port = 70000, check-sni = "x" }},
  {{ name = "r", addr = "rhttp@", check = true }},
  {{ name = "s", addr = "127.0.0.1:2", check = true, check-ssl = true, check-sni = "bad..name" }},
]
[backend.b]
balance = "leastconns"
[backend.c]
balance = "uri depth x"
[backend.d]
balance = "random(0)"
"#
    ));
    for needle in [
        "`balance = \"hash path\"` is not supported yet",
        "`hash-type` functions (`sdbm`) are not supported yet",
        "`retries` must be between 0 and 100, found -1",
        "invalid `http-check.expect`",
        "invalid method `GE T`",
        "invalid check URI `health`",
        "invalid `option.httpchk`",
        "`weight` must be between 0 and 256, found 300",
        "`rise` must be between 1 and 1000, found 0",
        "`inter` cannot be 0",
        "`port` must be between 1 and 65535, found 70000",
        "`check-sni` needs TLS checks",
        "invalid SNI `bad..name`",
        "`check` does not apply to an rhttp@ server",
        "unknown balance algorithm `leastconns`",
        "did you mean `\"leastconn\"`?",
        "`uri depth` needs a positive number",
        "invalid `random(0)`",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
}

#[test]
fn backend_options_in_a_frontend_are_misplaced() {
    let e = err("[frontend.f]\nbind = [ { addr = \":80\" } ]\noption.httpchk = true\n");
    assert!(e.contains("`option.httpchk` is a backend setting"), "{e}");
    let e = err("[frontend.f]\nbind = [ { addr = \":80\" } ]\nretries = 2\n");
    assert!(e.contains("`retries` is a backend setting"), "{e}");
}

#[test]
fn passive_checks() {
    let c = ok(&format!(
        r#"{FE}
[backend.app]
server = [
  {{ name = "a", addr = "127.0.0.1:1", check = true, observe = "layer7", error-limit = 5, on-error = "mark-down" }},
  {{ name = "b", addr = "127.0.0.1:2", check = true, observe = "layer4" }},
]
"#
    ));
    let s = &c.backends[0].servers;
    assert_eq!(
        s[0].check.as_ref().unwrap().observe,
        Some(Observe {
            layer7: true,
            error_limit: 5,
            on_error: OnError::MarkDown
        })
    );
    assert_eq!(
        s[1].check.as_ref().unwrap().observe,
        Some(Observe {
            layer7: false,
            error_limit: 10,
            on_error: OnError::FailCheck
        })
    );
    let e = err(&format!(
        "{FE}\n[backend.app]\nserver = [ {{ name = \"a\", addr = \"127.0.0.1:1\", observe = \"layer4\" }} ]\n"
    ));
    assert!(e.contains("`observe` needs `check = true`"), "{e}");
    let e = err(&format!(
        "{FE}\n[backend.app]\nserver = [ {{ name = \"a\", addr = \"127.0.0.1:1\", check = true, observe = \"layer3\", on-error = \"explode\" }} ]\n"
    ));
    assert!(
        e.contains("invalid value `layer3` for `observe`") || e.contains("`observe`"),
        "{e}"
    );
    assert!(e.contains("explode"), "{e}");
}

#[test]
fn retry_on_keywords() {
    let c = ok(&format!(
        "{FE}\n[backend.app]\nretry-on = \"conn-failure empty-response 503 504\"\n[backend.all]\nretry-on = \"all-retryable-errors\"\n[backend.none]\nretry-on = \"none\"\n"
    ));
    let r = c.backends[0].retry_on;
    assert!(r.conn_failure && r.empty_response && !r.junk_response && !r.response_timeout);
    assert!(r.statuses.contains(503) && r.statuses.contains(504) && !r.statuses.contains(502));
    assert!(r.after_sending());
    let all = c.backends[1].retry_on;
    assert!(all.junk_response && all.response_timeout && all.statuses.contains(500));
    assert!(!all.statuses.contains(404));
    let none = c.backends[2].retry_on;
    assert!(!none.conn_failure && !none.after_sending());
    // HAProxy's default.
    let d = ok(&format!("{FE}\n[backend.app]\n")).backends[0].retry_on;
    assert_eq!(d, RetryOn::default());
    assert!(d.conn_failure && !d.after_sending());

    let e = err(&format!(
        "{FE}\n[backend.app]\nretry-on = \"conn-failur 418\"\n"
    ));
    assert!(
        e.contains("unknown `retry-on` keyword `conn-failur`"),
        "{e}"
    );
    assert!(e.contains("did you mean `conn-failure`?"), "{e}");
    assert!(e.contains("unknown `retry-on` keyword `418`"), "{e}");
}

#[test]
fn global_and_frontend_maxconn() {
    let c =
        ok("[global]\nmaxconn = 500\n[frontend.f]\nbind = [ { addr = \":80\" } ]\nmaxconn = 20\n");
    assert_eq!(c.global.maxconn, Some(500));
    assert_eq!(c.frontends[0].maxconn, Some(20));
    let e =
        err("[frontend.f]\nbind = [ { addr = \":80\" } ]\nmaxconn = 0\n[backend.b]\nmaxconn = 3\n");
    assert!(e.contains("`maxconn` must be 1 or more, found 0"), "{e}");
    assert!(e.contains("a server takes its own `maxconn`"), "{e}");
}

#[test]
fn timeout_queue_zero_means_no_limit_and_unset_means_connect() {
    let c = ok(&format!(
        "[defaults]\ntimeout.connect = \"2s\"\n{FE}\n[backend.app]\n[backend.nolimit]\ntimeout.queue = 0\n[backend.set]\ntimeout.queue = \"5s\"\n"
    ));
    let q = |i: usize| c.backends[i].timeouts.queue_limit();
    assert_eq!(q(0), Some(Duration::from_secs(2)));
    assert_eq!(q(1), None);
    assert_eq!(q(2), Some(Duration::from_secs(5)));
}

#[test]
fn haproxy_keywords_not_implemented_say_so() {
    let e = err(&format!(
        "{FE}\n[backend.app]\ndefault-server = {{ check = true }}\nserver = [ {{ name = \"a\", addr = \"127.0.0.1:1\", agent-check = true, slowstart = \"10s\" }} ]\n"
    ));
    for k in ["default-server", "agent-check", "slowstart"] {
        assert!(
            e.contains(&format!("`{k}` is not supported yet")),
            "missing {k} in:\n{e}"
        );
    }
    assert!(!e.contains("unknown key"), "{e}");
}

/// An interval that names none of the retries is taken, with a warning.
#[test]
fn a_redispatch_interval_beyond_the_retries_is_warned_about() {
    const S: &str = "server = [ { name = \"s\", addr = \"127.0.0.1:1\" } ]";
    let w = warnings(&format!(
        "{FE}\n[backend.app]\nretries = 3\noption.redispatch = -5\n{S}\n"
    ));
    assert!(w.contains("names none of the 3 retries"), "{w}");
    let w = warnings(&format!("{FE}\n[backend.app]\nretries = 0\n{S}\n"));
    assert!(w.is_empty(), "{w}");
}
