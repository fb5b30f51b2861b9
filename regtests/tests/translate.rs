//! `gwd translate`: a haproxy.cfg becomes a gw.toml that the same binary
//! then serves, rules and routing included; what gwd lacks is named on
//! standard error, line by line, and left as a comment.

use std::process::Command;

use gwd_regtests::backend::recording_server;
use gwd_regtests::client::Client;
use gwd_regtests::{Gwd, gwd_bin, scratch_dir};

#[tokio::test]
async fn a_translated_haproxy_cfg_serves_as_haproxy_would() {
    let (api, api_log) = recording_server().await;
    let (app, app_log) = recording_server().await;
    let dir = scratch_dir("translate");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            r#"global
    nbthread 1
    daemon

defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s

frontend www
    bind 127.0.0.1:0
    acl is_api path_beg /api/
    http-request return status 200 content-type text/plain string "alive\n" if {{ path /healthz }}
    http-request set-header X-Via "gwd translate"
    http-request replace-path /api/v1/(.*) /api/v2/\1
    stick-table type ip size 1m
    use_backend api if is_api
    default_backend app

backend api
    server api1 {api}

backend app
    server app1 {app}
"#
        ),
    )
    .unwrap();
    let out = Command::new(gwd_bin())
        .arg("translate")
        .arg(&cfg)
        .output()
        .expect("run gwd translate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One line gwd lacks: exit 1, named with its line number.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].ends_with("line 3: dropped: `daemon`: gwd runs in the foreground under a service manager (docs/OPERATIONS.md)"), "{stderr}");
    assert!(
        lines[1].contains("line 17: not translated: `stick-table` is not supported yet"),
        "{stderr}"
    );
    let toml = String::from_utf8(out.stdout).unwrap();
    assert!(toml.contains("# stick-table type ip size 1m\n"), "{toml}");

    let gwd = Gwd::start(&toml);
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, _, body) = c.get("app.test", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "alive\n"));
    let (status, _, _) = c.get("app.test", "/api/v1/users").await;
    assert_eq!(status, 200);
    let (status, _, _) = c.get("app.test", "/index.html").await;
    assert_eq!(status, 200);
    let api_seen = api_log.lock().unwrap().clone();
    assert_eq!(api_seen.len(), 1);
    assert_eq!(api_seen[0].path, "/api/v2/users");
    assert_eq!(api_seen[0].header("x-via"), ["gwd translate"]);
    let app_seen = app_log.lock().unwrap().clone();
    assert_eq!(app_seen.len(), 1);
    assert_eq!(app_seen[0].path, "/index.html");
}

#[test]
fn an_unreadable_file_is_named() {
    let out = Command::new(gwd_bin())
        .arg("translate")
        .arg("/nonexistent/haproxy.cfg")
        .output()
        .expect("run gwd translate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot read /nonexistent/haproxy.cfg:"),
        "{stderr}"
    );
}
