//! Broken configs: exact rendered diagnostics (file:line:col, key path,
//! help), all errors collected, suggestions.

mod common;

use common::{err, ok, parse, warnings};
use gwd_sample::{Acls, Condition, LogFormat, ParseError};

/// The rendered diagnostic for a gwd-sample parse error `e` found in a TOML
/// string whose opening quote is at `line:quote_col`: the message and help
/// are gwd-sample's, the location is the character the error points at.
fn sample_diag(what: &str, e: &ParseError, line: usize, quote_col: usize, path: &str) -> String {
    let mut s = format!(
        "error: invalid {what}: {}\n  --> gw.toml:{line}:{} ({path})",
        e.message,
        quote_col + e.column
    );
    if let Some(h) = &e.help {
        s.push_str(&format!("\n  help: {h}"));
    }
    s
}

fn api_acls() -> Acls {
    let mut acls = Acls::new();
    acls.define("is_api", "path_beg /api").unwrap();
    acls
}

#[test]
fn every_error_is_collected_in_file_order() {
    let text = r#"[global]
nbthread = "2"

[frontend.www]
bind = [ { addr = ":8080" } ]
defualt_backend = "app"

[backend.app]
server = [ { name = "app1", addr = "127.0.0.1" } ]
"#;
    assert_eq!(
        err(text),
        r#"error: `nbthread` must be an integer, found a string
  --> gw.toml:2:12 (global.nbthread)
  help: write it as `nbthread = 4`, without quotes

error: unknown key `defualt_backend` in frontend `www`
  --> gw.toml:6:1 (frontend.www.defualt_backend)
  help: did you mean `default_backend`?

error: invalid server address: `127.0.0.1` has no port
  --> gw.toml:9:36 (backend.app.server[0].addr)
  help: add the port, e.g. `127.0.0.1:80`"#
    );
    let e = parse(text).unwrap_err();
    assert_eq!(e.error_count(), 3);
    assert_eq!(e.warning_count(), 0);
    let d = &e.diagnostics[1];
    assert_eq!(d.location.file, std::path::Path::new("gw.toml"));
    assert_eq!((d.location.line, d.location.column), (6, 1));
    assert_eq!(d.key_path, "frontend.www.defualt_backend");
    assert_eq!(d.help.as_deref(), Some("did you mean `default_backend`?"));
}

#[test]
fn unknown_key_without_close_match_lists_valid_keys() {
    let text = "[frontend.www]\nbind = [ { addr = \":8080\" } ]\ncolour = \"blue\"\n";
    assert_eq!(
        err(text),
        "error: unknown key `colour` in frontend `www`
  --> gw.toml:3:1 (frontend.www.colour)
  help: valid keys here: `mode`, `timeout.*`, `option.*`, `bind`, `acl.*`, `tcp-request.session`, `http-request`, `http-response`, `http-after-response`, `use_backend`, `default_backend`, `stats`, `maxconn`, `log`, `log-format`, `unique-id-format`, `unique-id-header`, `compression`, `capture`, `errorfile`, `errorloc`, `errorloc302`, `errorloc303`, `http-error`"
    );
}

#[test]
fn haproxy_spellings_get_suggestions() {
    let text = r#"[global]
tune-bufsize = "16k"

[defaults]
option-forwardfor = true
timeout.clinet = "5s"

[frontend.www]
bind = [ { addr = ":8080" } ]
default-backend = "app"

[backend.app]
server = [ { name = "a", addr = "127.0.0.1:1" } ]
"#;
    assert_eq!(
        err(text),
        "error: unknown key `tune-bufsize` in `[global]`
  --> gw.toml:2:1 (global.tune-bufsize)
  help: did you mean `tune.bufsize`?

error: unknown key `option-forwardfor` in `[defaults]`
  --> gw.toml:5:1 (defaults.option-forwardfor)
  help: did you mean `option.forwardfor`?

error: unknown key `clinet` in the `timeout` table
  --> gw.toml:6:9 (defaults.timeout.clinet)
  help: did you mean `client`?

error: unknown key `default-backend` in frontend `www`
  --> gw.toml:10:1 (frontend.www.default-backend)
  help: did you mean `default_backend`?"
    );
}

#[test]
fn misplaced_keys_say_where_they_belong() {
    let text = r#"timeout = 1
[global]
mode = "http"

[defaults]
acl.x = "always_true"
nbthread = 2

[frontend.www]
bind = [ { addr = ":8080" } ]
server = []
balance = "roundrobin"

[backend.app]
bind = []
"#;
    assert_eq!(
        err(text),
        "error: `timeout` is not allowed in the top level
  --> gw.toml:1:1 (timeout)
  help: `timeout` must be inside a `[defaults]`, `[frontend.<name>]`, `[backend.<name>]` or `[listen.<name>]` section

error: `mode` is not allowed in `[global]`
  --> gw.toml:3:1 (global.mode)
  help: `mode` is a proxy setting: put it in `[defaults]` or in a frontend, backend or listen section

error: `acl` is not allowed in `[defaults]`
  --> gw.toml:6:1 (defaults.acl)
  help: `[defaults]` holds only inherited settings: put `acl` in a frontend, backend or listen section

error: `nbthread` is not allowed in `[defaults]`
  --> gw.toml:7:1 (defaults.nbthread)
  help: `nbthread` is a `[global]` setting: move it there

error: `server` is not allowed in frontend `www`
  --> gw.toml:11:1 (frontend.www.server)
  help: `server` is a backend setting: put it in a `[backend.<name>]` or `[listen.<name>]` section

error: `balance` is not allowed in frontend `www`
  --> gw.toml:12:1 (frontend.www.balance)
  help: `balance` is a backend setting: put it in a `[backend.<name>]` or `[listen.<name>]` section, or in `[defaults]`

error: `bind` is not allowed in backend `app`
  --> gw.toml:15:1 (backend.app.bind)
  help: `bind` is a frontend setting: put it in a `[frontend.<name>]` or `[listen.<name>]` section"
    );
}

#[test]
fn unknown_backends_get_suggestions_or_the_list() {
    let text = r#"[frontend.www]
bind = [ { addr = ":8080" } ]
use_backend = [ { backend = "apj", if = "{ path_beg /api }" } ]
default_backend = "web"

[backend.api]
server = [ { name = "a", addr = "127.0.0.1:9003" } ]

[backend.app]
server = [ { name = "a", addr = "127.0.0.1:9001" } ]
"#;
    assert_eq!(
        err(text),
        "error: unknown backend `apj`
  --> gw.toml:3:29 (frontend.www.use_backend[0].backend)
  help: did you mean `api`?

error: unknown backend `web`
  --> gw.toml:4:19 (frontend.www.default_backend)
  help: defined backends: `api`, `app`"
    );
    let text = "[frontend.www]\nbind = [ { addr = \":8080\" } ]\ndefault_backend = \"app\"\n";
    assert_eq!(
        err(text),
        "error: unknown backend `app`
  --> gw.toml:3:19 (frontend.www.default_backend)
  help: no backend is defined: add a `[backend.app]` section"
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    assert_eq!(
        err("[frontend.www]\nbind :8080\n"),
        "error: invalid TOML: key with no value, expected `=`
  --> gw.toml:2:6
  help: this is not valid TOML: check quotes, brackets and `key = value` syntax (a translation table from haproxy.cfg is in docs/CONFIG.md)"
    );
    let e = err("[frontend.a]\nbind = []\n[frontend.a]\n");
    assert!(
        e.starts_with("error: invalid TOML: duplicate key\n  --> gw.toml:3:"),
        "{e}"
    );
    assert!(
        e.contains("help: a key or `[section]` can be defined only once"),
        "{e}"
    );
}

#[test]
fn rule_errors() {
    let text = r#"[frontend.www]
bind = [ { addr = ":8080" } ]
acl.is_api = "path_beg /api"
http-request = [
  { action = "deny", if = "is_api", unless = "is_api" },
  { action = "deny", unless = "is_apj" },
  { action = "return", body = "x", lf-body = "y" },
  { action = "set-header", value = "1" },
  { action = "retrun" },
  { action = "deny", status = 99 },
  { action = "add-header", name = "X Y", value = "%[src" },
  { if = "is_api" },
  { action = "del-header", name = "X-A", value = "v" },
]
"#;
    let unknown_acl = Condition::parse("is_apj", &api_acls()).unwrap_err();
    let unclosed = LogFormat::parse("%[src").unwrap_err();
    assert!((1..=6).contains(&unclosed.column));
    let expected = format!(
        r#"error: a rule cannot have both `if` and `unless`
  --> gw.toml:5:37 (frontend.www.http-request[0].unless)
  help: keep one of them; a single condition can combine ACLs, e.g. `if = "acl1 !acl2"`

{}

error: a `return` rule cannot have both `body` and `lf-body`
  --> gw.toml:7:36 (frontend.www.http-request[2].lf-body)
  help: keep `body` for fixed text or `lf-body` for a log-format with `%[...]`

error: `set-header` rule has no `name`
  --> gw.toml:8:3 (frontend.www.http-request[3])
  help: add `name = "X-Example"`

error: unknown or unsupported http-request action `retrun`
  --> gw.toml:9:14 (frontend.www.http-request[4].action)
  help: did you mean `"return"`?

error: invalid status `99`
  --> gw.toml:10:31 (frontend.www.http-request[5].status)
  help: use an HTTP status from 200 to 599

error: invalid header name `X Y`
  --> gw.toml:11:35 (frontend.www.http-request[6].name)
  help: header names are letters, digits and !#$%&'*+-.^_`|~

{}

error: http-request rule has no `action`
  --> gw.toml:12:3 (frontend.www.http-request[7])
  help: add `action = "..."`, one of `return`, `deny`, `set-header`, `add-header`, `del-header`, `set-map`, `del-map`, `add-acl`, `del-acl`, `use-service`, `redirect`, `set-path`, `set-pathq`, `set-uri`, `set-query`, `set-method`, `replace-path`, `replace-pathq`, `replace-uri`, `replace-header`, `replace-value`, `set-var`, `set-var-fmt`, `set-log-level`, `tarpit`, `unset-var`, `capture`, `auth`

error: unknown key `value` in an http-request `del-header` rule
  --> gw.toml:13:42 (frontend.www.http-request[8].value)
  help: valid keys here: `action`, `if`, `unless`, `name`"#,
        sample_diag(
            "condition",
            &unknown_acl,
            6,
            31,
            "frontend.www.http-request[1].unless"
        ),
        sample_diag(
            "log-format string",
            &unclosed,
            11,
            50,
            "frontend.www.http-request[6].value"
        ),
    );
    assert_eq!(err(text), expected);
    // Today's gwd-sample wording, for the record.
    assert!(expected.contains("unknown ACL `is_apj`"), "{expected}");
    assert!(expected.contains("did you mean `is_api`?"), "{expected}");
}

#[test]
fn expression_errors_point_inside_the_string() {
    let text = r#"[frontend.www]
bind = [ { addr = ":8080" } ]
acl.host = [ "req.hdr(host) -m str a.example", "req.hdr(host) -m foo b" ]
acl.bad = "req.hdrx(host) -m str x"
http-request = [ { action = "deny", if = "host || { path_beg /x" } ]
"#;
    let mut acls = Acls::new();
    let bad_method = acls.define("host", "req.hdr(host) -m foo b").unwrap_err();
    let bad_fetch = acls.define("bad", "req.hdrx(host) -m str x").unwrap_err();
    acls.define("host", "req.hdr(host) -m str a.example")
        .unwrap();
    let unclosed = Condition::parse("host || { path_beg /x", &acls).unwrap_err();
    assert_eq!(
        err(text),
        [
            sample_diag("ACL `host`", &bad_method, 3, 48, "frontend.www.acl.host[1]"),
            sample_diag("ACL `bad`", &bad_fetch, 4, 11, "frontend.www.acl.bad"),
            sample_diag(
                "condition",
                &unclosed,
                5,
                42,
                "frontend.www.http-request[0].if"
            ),
        ]
        .join("\n\n")
    );
    // The columns land on the offending words.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[2][48 + bad_method.column - 1..][..3], "foo");
    assert_eq!(&lines[3][11 + bad_fetch.column - 1..][..8], "req.hdrx");
    assert!(bad_method.message.contains("foo") && bad_fetch.message.contains("req.hdrx"));
    assert!(unclosed.message.contains('{'));
}

#[test]
fn duplicate_names_and_addresses() {
    let text = r#"[frontend.www]
bind = [ { addr = "127.0.0.1:8080" }, { addr = ":8080" } ]

[listen.www]
bind = [ { addr = "127.0.0.1:8081" }, { addr = "127.0.0.1:8081" } ]
server = [ { name = "s", addr = "127.0.0.1:1" }, { name = "s", addr = "127.0.0.1:2" } ]

[backend.www]
server = [ { name = "s", addr = "127.0.0.1:1" } ]
"#;
    assert_eq!(
        err(text),
        "error: address `0.0.0.0:8080` overlaps `127.0.0.1:8080`
  --> gw.toml:2:48 (frontend.www.bind[1].addr)
  help: already bound at gw.toml:2:10 (frontend.www.bind[0].addr); remove one of the binds

error: duplicate frontend name `www`
  --> gw.toml:4:9 (listen.www)
  help: `frontend.www` already defines a frontend named `www`; rename one of them

error: address `127.0.0.1:8081` is bound twice
  --> gw.toml:5:48 (listen.www.bind[1].addr)
  help: already bound at gw.toml:5:10 (listen.www.bind[0].addr); remove one of the binds

error: duplicate server name `s`
  --> gw.toml:6:59 (listen.www.server[1].name)
  help: first defined at gw.toml:6:21; rename one of them

error: duplicate backend name `www`
  --> gw.toml:8:10 (backend.www)
  help: `listen.www` already defines a backend named `www`; rename one of them"
    );
    // Port 0 (any free port) never clashes; IPv4 and IPv6 wildcards do not
    // overlap each other.
    ok(r#"[frontend.a]
bind = [ { addr = "127.0.0.1:0" }, { addr = "127.0.0.1:0" }, { addr = ":80" }, { addr = "[::]:80" } ]
"#);
}

#[test]
fn missing_and_unreadable_files_name_key_and_path() {
    let text = r#"[frontend.www]
bind = [ { addr = ":8443", ssl = true, crt = "/nonexistent/gw.pem", ca-file = "/nonexistent/ca.pem", verify = "optional" } ]

[backend.b]
server = [ { name = "s", addr = "b.internal:443", ssl = true, ca-file = "/" } ]
"#;
    assert_eq!(
        err(text),
        "error: cannot read `crt` file `/nonexistent/gw.pem`: no such file
  --> gw.toml:2:46 (frontend.www.bind[0].crt)
  help: check the path and its permissions

error: cannot read `ca-file` file `/nonexistent/ca.pem`: no such file
  --> gw.toml:2:79 (frontend.www.bind[0].ca-file)
  help: check the path and its permissions

error: cannot read `ca-file` file `/`: it is a directory
  --> gw.toml:5:73 (backend.b.server[0].ca-file)
  help: check the path and its permissions"
    );
    // Relative paths resolve against the CWD, which the help names.
    let e = err(
        "[frontend.www]\nbind = [ { addr = \":8443\", ssl = true, crt = \"no/such/file.pem\" } ]\n",
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        e,
        format!(
            "error: cannot read `crt` file `no/such/file.pem`: no such file
  --> gw.toml:2:46 (frontend.www.bind[0].crt)
  help: check the path; relative paths resolve against the directory gwd runs in ({})",
            cwd.display()
        )
    );
    // A device would be read for ever: refused by name.
    let e =
        err("[frontend.www]\nbind = [ { addr = \":8443\", ssl = true, crt = \"/dev/zero\" } ]\n");
    assert!(
        e.starts_with("error: cannot read `crt` file `/dev/zero`: it is not a regular file"),
        "{e}"
    );
}

/// The config file itself: a device is refused at once, not read until
/// memory runs out; so is a file past the size cap.
#[test]
fn config_files_that_are_not_configs_are_refused() {
    let e = gwd_config::load(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("error: cannot read config file: not a regular file"),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("gwd-config-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(gwd_config::MAX_CONFIG_BYTES + 1).unwrap();
    let e = gwd_config::load(&big).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.to_string()
            .starts_with("error: cannot read config file: larger than 16 MiB"),
        "{e}"
    );
}

#[test]
fn tls_settings_need_ssl_and_verification_needs_a_ca() {
    let text = r#"[frontend.www]
bind = [
  { addr = ":8080", crt = "x.pem", alpn = ["h2"] },
  { addr = ":8443", ssl = true },
]

[backend.b]
server = [
  { name = "s1", addr = "b.internal:443", ssl = true },
  { name = "s2", addr = "b.internal:443", ssl = true, verify = "optional" },
  { name = "s3", addr = "b.internal:80", sni = "b" },
]
"#;
    assert_eq!(
        err(text),
        r#"error: `crt` needs `ssl = true`
  --> gw.toml:3:21 (frontend.www.bind[0].crt)
  help: add `ssl = true` to this bind, or remove `crt`

error: `alpn` needs `ssl = true`
  --> gw.toml:3:36 (frontend.www.bind[0].alpn)
  help: add `ssl = true` to this bind, or remove `alpn`

error: TLS bind has no `crt`
  --> gw.toml:4:3 (frontend.www.bind[1])
  help: add `crt = "path/to/cert.pem"` (a PEM file with chain and key, a directory of them, or an array), or `crt-list = "path/to/list"`

error: server certificate verification needs `ca-file`
  --> gw.toml:9:43 (backend.b.server[0].ssl)
  help: add `ca-file = "..."` naming the CAs that sign the server's certificate, or set `verify = "none"` to skip verification

error: server certificate verification needs `ca-file`
  --> gw.toml:10:55 (backend.b.server[1].verify)
  help: add `ca-file = "..."` naming the CAs that sign the server's certificate, or set `verify = "none"` to skip verification

error: `verify = "optional"` only applies to binds
  --> gw.toml:10:64 (backend.b.server[1].verify)
  help: use `"required"` (the default) or `"none"`

error: `sni` needs `ssl = true`
  --> gw.toml:11:42 (backend.b.server[2].sni)
  help: add `ssl = true` to this server, or remove `sni`"#
    );
}

#[test]
fn unsupported_modes_and_values() {
    let text = r#"[defaults]
mode = "health"
http-reuse = "agressive"
balance = "url_param userid"
timeout.server = "5 s"

[frontend.nobind]
timeout.client = "30"
"#;
    assert_eq!(
        err(text),
        r#"error: `mode = "health"` is not supported yet
  --> gw.toml:2:8 (defaults.mode)
  help: HAProxy removed it in 2.4; answer probes with an `http-request` `return` rule

error: invalid value `agressive` for `http-reuse`
  --> gw.toml:3:14 (defaults.http-reuse)
  help: did you mean `"aggressive"`?

error: `balance = "url_param userid"` is not supported yet
  --> gw.toml:4:11 (defaults.balance)
  help: gwd implements `roundrobin`, `static-rr`, `leastconn`, `first`, `source`, `uri`, `hdr(<name>)`, `random`

error: invalid duration for `server`: unknown unit ` s` in `5 s`
  --> gw.toml:5:18 (defaults.timeout.server)
  help: write a whole number followed by `us`, `ms`, `s`, `m`, `h` or `d`; a bare number is milliseconds, e.g. `5s`

error: frontend `nobind` has no bind
  --> gw.toml:7:1 (frontend.nobind)
  help: add `bind = [ { addr = ":8080" } ]`"#
    );
    assert_eq!(
        err("[backend.b]\nhttp-reuse = \"saef\"\n"),
        "error: invalid value `saef` for `http-reuse`
  --> gw.toml:2:14 (backend.b.http-reuse)
  help: did you mean `\"safe\"`?"
    );
}

/// HAProxy keywords gwd lacks (proxy keywords, top-level sections) are
/// "not supported yet" with what to do instead, never an "unknown key"
/// with a list of valid ones.
#[test]
fn haproxy_keywords_gwd_lacks_are_not_supported_yet() {
    let text = r#"[peers.mypeers]

[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
errorfiles = "site-errors"
persist = "rdp-cookie"
stick-table = { type = "ip" }

[backend.app]
monitor-uri = "/health"
server = [ { name = "a", addr = "127.0.0.1:80" } ]
"#;
    let e = err(text);
    for (key, at, hint) in [
        ("peers", "gw.toml:1:2 (peers)", "nothing to share"),
        (
            "errorfiles",
            "gw.toml:5:1 (frontend.www.errorfiles)",
            "`errorfile = [",
        ),
        (
            "persist",
            "gw.toml:6:1 (frontend.www.persist)",
            "persistence is not implemented",
        ),
        (
            "stick-table",
            "gw.toml:7:1 (frontend.www.stick-table)",
            "stick tables",
        ),
        (
            "monitor-uri",
            "gw.toml:10:1 (backend.app.monitor-uri)",
            "`return` rule",
        ),
    ] {
        let block = format!("error: `{key}` is not supported yet\n  --> {at}\n  help: ");
        let i = e.find(&block).unwrap_or_else(|| panic!("{key}: {e}"));
        let help = e[i + block.len()..].lines().next().unwrap();
        assert!(help.contains(hint), "{key}: {help}");
    }
    assert!(!e.contains("unknown key"), "{e}");
}

#[test]
fn bad_addresses() {
    let text = r#"[frontend.f]
bind = [ { addr = "localhost:80" }, { addr = "::1:8443" }, { addr = "unix@/run/gw.sock" }, { addr = 8080 }, {} ]

[backend.b]
server = [ { name = "s", addr = ":80" }, { name = "bad name", addr = "a.b:0" } ]
"#;
    assert_eq!(
        err(text),
        r#"error: invalid bind address: bind address `localhost:80` is not an IP address
  --> gw.toml:2:19 (frontend.f.bind[0].addr)
  help: binds take IP addresses only: e.g. `127.0.0.1:8080`, `[::1]:8080`, or `:8080` for every IPv4 address

error: invalid bind address: IPv6 address `::1` must be written in brackets
  --> gw.toml:2:46 (frontend.f.bind[1].addr)
  help: write `[::1]:8443`

error: invalid bind address: unsupported address prefix `unix@` in `unix@/run/gw.sock`
  --> gw.toml:2:69 (frontend.f.bind[2].addr)
  help: the supported prefixes are `ipv4@`, `ipv6@`, `quic4@` and `quic6@` (servers: `ipv4@` and `ipv6@`)

error: `addr` must be a string, found an integer
  --> gw.toml:2:101 (frontend.f.bind[3].addr)
  help: write it as `":8080"`

error: bind has no `addr`
  --> gw.toml:2:109 (frontend.f.bind[4])
  help: add `addr = ":8080"`

error: invalid server address: `:80` has no host
  --> gw.toml:5:33 (backend.b.server[0].addr)
  help: add the host, e.g. `127.0.0.1:80`

error: invalid server name `bad name`
  --> gw.toml:5:51 (backend.b.server[1].name)
  help: names may contain letters, digits, `-`, `_`, `.` and `:`

error: invalid server address: invalid port `0` in `a.b:0`
  --> gw.toml:5:70 (backend.b.server[1].addr)
  help: the port must be a number from 1 to 65535"#
    );
}

#[test]
fn global_range_checks() {
    let text = r#"[global]
nbthread = 0
tune.bufsize = "100"
tune.maxpollevents = 0
hard-stop-after = "soon"
limited-quic = "yes"
"#;
    assert_eq!(
        err(text),
        r#"error: `nbthread` must be between 1 and 4096, found 0
  --> gw.toml:2:12 (global.nbthread)
  help: leave `nbthread` out to run one thread per CPU

error: `tune.bufsize` must be between 1k and 1g, found 100 bytes
  --> gw.toml:3:16 (global.tune.bufsize)
  help: the default, `"16k"`, suits most sites

error: `tune.maxpollevents` must be between 1 and 65536, found 0
  --> gw.toml:4:22 (global.tune.maxpollevents)
  help: leave it out for the default, 200 (HAProxy's)

error: invalid duration for `hard-stop-after`: `soon` is not a number followed by a unit
  --> gw.toml:5:19 (global.hard-stop-after)
  help: write a whole number followed by `us`, `ms`, `s`, `m`, `h` or `d`; a bare number is milliseconds, e.g. `5s`

error: `limited-quic` must be a boolean, found a string
  --> gw.toml:6:16 (global.limited-quic)
  help: write `true` or `false`, without quotes"#
    );
}

/// HAProxy warns about proxies without timeouts; so does gwd, naming the
/// keys to set (and nothing when `[defaults]` sets them).
#[test]
fn missing_timeouts_are_warned() {
    let text = r#"[frontend.www]
bind = [ { addr = ":8080" } ]
default_backend = "app"

[backend.app]
server = [ { name = "s1", addr = "127.0.0.1:80" } ]

[backend.tunnels]
server = [ { name = "t", addr = "rhttp@" } ]
"#;
    let c = ok(text);
    let rendered: Vec<String> = c
        .warnings
        .iter()
        .filter(|w| w.message.contains("timeout."))
        .map(|w| w.render())
        .collect();
    assert_eq!(
        rendered.join("\n\n"),
        r#"warning: frontend `www` has no `timeout.client`: idle and stalled visitors are never closed
  --> gw.toml:1:1 (frontend.www)
  help: set `timeout.client = "30s"` here or in `[defaults]`

warning: backend `app` has no `timeout.connect` and `timeout.server`: a server that never answers holds its requests for ever
  --> gw.toml:5:1 (backend.app)
  help: set `timeout.connect = "5s"` and `timeout.server = "30s"` here or in `[defaults]`

warning: backend `tunnels` has no `timeout.server`: a server that never answers holds its requests for ever
  --> gw.toml:8:1 (backend.tunnels)
  help: set `timeout.server = "30s"` here or in `[defaults]`"#
    );
    let ok_text = format!(
        "[defaults]\ntimeout.connect = \"5s\"\ntimeout.client = \"30s\"\ntimeout.server = \"30s\"\n\n{text}"
    );
    assert_eq!(
        ok(&ok_text).warnings.len(),
        1,
        "only the unattached rhttp@ server is left"
    );
}

#[test]
fn warnings_for_empty_backends_and_sections_before_defaults() {
    let text = r#"[backend.early]
server = []

[defaults]
timeout.connect = "5s"

[frontend.www]
bind = [ { addr = ":8080" } ]
default_backend = "early"

[backend.unused]
"#;
    assert_eq!(
        warnings(text),
        r#"warning: backend `early` is declared before `[defaults]` and does not inherit from it
  --> gw.toml:1:1 (backend.early)
  help: move the `[defaults]` section above the first frontend, backend or listen section

warning: backend `early` has no servers: requests routed to it get 503
  --> gw.toml:1:1 (backend.early)
  help: add `server = [ { name = "s1", addr = "host:port" } ]`"#
    );
    let c = ok(text);
    assert_eq!(c.backend("early").unwrap().timeouts.connect, None);
    assert_eq!(
        c.frontend("www").unwrap().timeouts.connect,
        Some(std::time::Duration::from_secs(5))
    );
    // Warnings also travel with errors.
    let e = parse(&format!("{text}[frontend.nobind]\n")).unwrap_err();
    assert_eq!(e.error_count(), 1);
    assert_eq!(e.warning_count(), 2);
}

#[test]
fn unreadable_config_file() {
    let e = gwd_config::load(std::path::Path::new("/nonexistent/gw.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "error: cannot read config file: No such file or directory (os error 2)
  --> /nonexistent/gw.toml
  help: check the path given to gwd and its permissions"
    );
}

#[test]
fn sections_must_be_named_tables() {
    assert_eq!(
        err("[frontend]\nbind = [ { addr = \":80\" } ]\n\n[[backend]]\nname = \"x\"\n"),
        "error: `bind` must be a table, found an array
  --> gw.toml:2:8 (frontend.bind)
  help: each frontend is a named `[frontend.<name>]` section: put `bind` inside one

error: `backend` must be a table, found an array
  --> gw.toml:4:1 (backend)
  help: write one `[backend.<name>]` section per backend"
    );
}

#[test]
fn a_misplaced_key_is_reported_once() {
    // `http-reuse` has an invalid value too, but it is not read in a frontend.
    assert_eq!(
        err("[frontend.f]\nbind = [ { addr = \":80\" } ]\nhttp-reuse = \"bogus\"\n"),
        "error: `http-reuse` is not allowed in frontend `f`
  --> gw.toml:3:1 (frontend.f.http-reuse)
  help: `http-reuse` is a backend setting: put it in a `[backend.<name>]` or `[listen.<name>]` section, or in `[defaults]`"
    );
}

/// A HAProxy `tune` keyword written as a dotted TOML key is named whole
/// in its "not supported yet" answer, not cut at the first dot.
#[test]
fn dotted_tune_keywords_are_named_whole() {
    let text = "[global]\ntune.h2.max-concurrent-streams = 100\n";
    let e = err(text);
    assert!(
        e.starts_with("error: `tune.h2.max-concurrent-streams` is not supported yet"),
        "{e}"
    );
}
