//! The stats page (`stats = { uri, refresh, auth, realm, hide-version }`)
//! and `http-request use-service`: what they resolve to, and their errors
//! with file:line:col, key path and help.

mod common;

use std::time::Duration;

use common::{err, ok};
use gwd_config::*;

const BIND: &str = "bind = [ { addr = \":8080\" } ]";

#[test]
fn stats_table_resolves_with_defaults_and_every_key() {
    let c = ok(&format!(
        r#"[frontend.plain]
{BIND}

[frontend.defaults]
bind = [ {{ addr = ":8081" }} ]
stats = {{}}

[frontend.full]
bind = [ {{ addr = ":8082" }} ]
stats = {{ uri = "/stats", refresh = "10s", auth = ["admin:s3cr3t", "ro:a:b"], realm = "Ops only", hide-version = true }}
"#
    ));
    assert!(c.frontends[0].stats.is_none());

    let d = c.frontends[1].stats.as_ref().unwrap();
    assert_eq!(d.uri, "/haproxy?stats");
    assert_eq!(d.refresh, None);
    assert!(d.auth.is_empty());
    assert_eq!(d.realm, "gwd statistics");
    assert!(!d.hide_version);
    assert_eq!((d.location.line, d.location.column), (6, 1));

    let f = c.frontends[2].stats.as_ref().unwrap();
    assert_eq!(f.uri, "/stats");
    assert_eq!(f.refresh, Some(Duration::from_secs(10)));
    assert_eq!(
        f.auth,
        [
            StatsUser {
                user: "admin".into(),
                password: "s3cr3t".into()
            },
            // The password is everything after the first colon.
            StatsUser {
                user: "ro".into(),
                password: "a:b".into()
            },
        ]
    );
    assert_eq!(f.realm, "Ops only");
    assert!(f.hide_version);
    // Debug output never shows a password.
    let dbg = format!("{f:?}");
    assert!(dbg.contains("admin") && !dbg.contains("s3cr3t"), "{dbg}");
}

#[test]
fn dotted_keys_single_user_and_zero_refresh() {
    let c = ok(&format!(
        r#"[listen.www]
{BIND}
stats.uri = "/admin/stats"
stats.auth = "admin:pw"
stats.refresh = 0
server = [ {{ name = "s1", addr = "127.0.0.1:9000" }} ]
"#
    ));
    let s = c.frontends[0].stats.as_ref().unwrap();
    assert_eq!(s.uri, "/admin/stats");
    assert_eq!(s.auth.len(), 1);
    assert_eq!(s.auth[0].user, "admin");
    assert_eq!(s.refresh, None, "0 means no refresh");
}

#[test]
fn stats_errors_are_located_with_help() {
    let text = format!(
        r#"[frontend.www]
{BIND}
stats = {{ uri = "stats", refresh = "10 parsecs", auth = ["nopassword", ":pw", 3], realm = "a\"b", hide-version = "yes", enable = true, colour = 1 }}
"#
    );
    assert_eq!(
        err(&text),
        r#"error: invalid stats uri `stats`
  --> gw.toml:3:17 (frontend.www.stats.uri)
  help: write a path starting with `/` and without blanks, e.g. `"/stats"`

error: invalid duration for `refresh`: unknown unit ` parsecs` in `10 parsecs`
  --> gw.toml:3:36 (frontend.www.stats.refresh)
  help: write a whole number followed by `us`, `ms`, `s`, `m`, `h` or `d`; a bare number is milliseconds, e.g. `5s`

error: a stats user must be written `user:password`
  --> gw.toml:3:58 (frontend.www.stats.auth[0])
  help: write it as `"admin:secret"` (a non-empty user name, a colon, the password)

error: a stats user must be written `user:password`
  --> gw.toml:3:72 (frontend.www.stats.auth[1])
  help: write it as `"admin:secret"` (a non-empty user name, a colon, the password)

error: `auth[2]` must be a string, found an integer
  --> gw.toml:3:79 (frontend.www.stats.auth[2])
  help: write it as `"admin:secret"`

error: invalid realm `a\"b`
  --> gw.toml:3:91 (frontend.www.stats.realm)
  help: write a non-empty text without `"`, `\` or control characters

error: `hide-version` must be a boolean, found a string
  --> gw.toml:3:114 (frontend.www.stats.hide-version)
  help: write `true` or `false`, without quotes

error: `enable` is not allowed in the `stats` table
  --> gw.toml:3:121 (frontend.www.stats.enable)
  help: the `stats` table itself enables the page: remove `enable` (set `uri` to choose where it is served)

error: unknown key `colour` in the `stats` table
  --> gw.toml:3:136 (frontend.www.stats.colour)
  help: valid keys here: `uri`, `refresh`, `auth`, `realm`, `hide-version`"#
    );
}

#[test]
fn stats_in_the_wrong_place() {
    assert_eq!(
        err("[backend.app]\nstats = { uri = \"/stats\" }\n"),
        "error: `stats` is not allowed in backend `app`
  --> gw.toml:2:1 (backend.app.stats)
  help: `stats` is a frontend setting: put it in a `[frontend.<name>]` or `[listen.<name>]` section"
    );
    assert_eq!(
        err("[global]\nstats = { uri = \"/stats\" }\n"),
        "error: `stats` is not allowed in `[global]`
  --> gw.toml:2:1 (global.stats)
  help: the runtime API socket is `stats-socket` here; the stats page is `stats = { uri = \"/stats\" }` in a frontend or listen section"
    );
    assert_eq!(
        err(&format!("[frontend.www]\n{BIND}\nstats = \"/stats\"\n")),
        "error: `stats` must be a table, found a string
  --> gw.toml:3:9 (frontend.www.stats)
  help: write it as `stats = { uri = \"/stats\", auth = [\"admin:secret\"] }`"
    );
    assert_eq!(
        err(&format!(
            "[frontend.www]\n{BIND}\nstats = {{ socket = \"/run/x\" }}\n"
        )),
        "error: `socket` is not allowed in the `stats` table
  --> gw.toml:3:11 (frontend.www.stats.socket)
  help: the runtime API is `stats-socket` in `[global]`, not part of the stats page"
    );
    assert!(
        err(&format!("[frontend.www]\n{BIND}\nstats = {{ auth = true }}\n")).contains(
            "error: `auth` must be an array of strings, found a boolean\n  --> gw.toml:3:18 (frontend.www.stats.auth)"
        )
    );
}

#[test]
fn use_service_prometheus_exporter() {
    let c = ok(&format!(
        r#"[frontend.www]
{BIND}
http-request = [
  {{ action = "use-service", service = "prometheus-exporter", if = "{{ path /metrics }}" }},
  {{ action = "use-service", service = "prometheus-exporter" }},
]
"#
    ));
    let r = &c.frontends[0].http_request;
    assert!(matches!(
        r[0].action,
        HttpRequestAction::UseService {
            service: HttpService::PrometheusExporter
        }
    ));
    assert!(r[0].cond.is_some());
    assert!(r[1].cond.is_none());
    assert_eq!(
        HttpService::PrometheusExporter.name(),
        "prometheus-exporter"
    );
}

#[test]
fn use_service_errors() {
    let rule = |body: &str| {
        err(&format!(
            "[frontend.www]\n{BIND}\nhttp-request = [ {{ {body} }} ]\n"
        ))
    };
    assert_eq!(
        rule(r#"action = "use-service", service = "prometheus""#),
        r#"error: unknown service `prometheus`
  --> gw.toml:3:54 (frontend.www.http-request[0].service)
  help: the only service gwd provides is `prometheus-exporter`"#
    );
    assert_eq!(
        rule(r#"action = "use-service", service = "prometheus-exportr""#),
        r#"error: unknown service `prometheus-exportr`
  --> gw.toml:3:54 (frontend.www.http-request[0].service)
  help: did you mean `"prometheus-exporter"`?"#
    );
    assert_eq!(
        rule(r#"action = "use-service""#),
        r#"error: `use-service` rule has no `service`
  --> gw.toml:3:18 (frontend.www.http-request[0])
  help: add `service = "prometheus-exporter"`"#
    );
    assert_eq!(
        rule(r#"action = "use-service", service = "prometheus-exporter", status = 200"#),
        r#"error: unknown key `status` in an http-request `use-service` rule
  --> gw.toml:3:77 (frontend.www.http-request[0].status)
  help: valid keys here: `action`, `if`, `unless`, `service`"#
    );
    assert!(
        rule(r#"action = "use-servic""#).contains("help: did you mean `\"use-service\"`?"),
        "{}",
        rule(r#"action = "use-servic""#)
    );
}

/// A Unix socket path the kernel cannot bind is refused by `gwd check`,
/// not at start.
#[test]
fn an_over_long_unix_socket_path_is_refused() {
    let long = format!("/tmp/{}.sock", "d".repeat(120));
    let out = err(&format!(
        "[global]\nstats-socket = [ {{ addr = \"{long}\" }} ]\n"
    ));
    assert!(
        out.starts_with("error: Unix socket path too long: 130 bytes, at most 107"),
        "{out}"
    );
    let out = err(&format!(
        "[global]\nstats-socket = [ {{ addr = \"unix@{}\" }} ]\n",
        "x".repeat(108)
    ));
    assert!(out.contains("108 bytes, at most 107"), "{out}");
    // 107 bytes is the longest that binds.
    let ok_path = format!("/tmp/{}", "p".repeat(102));
    assert_eq!(ok_path.len(), 107);
    ok(&format!(
        "[global]\nstats-socket = [ {{ addr = \"{ok_path}\" }} ]\n"
    ));
}
