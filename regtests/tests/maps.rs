//! Map and pattern files at load time: `gwd check` errors and map
//! converters on the request path.

use std::time::Duration;

use gwd_regtests::client::raw_exchange;
use gwd_regtests::{Gwd, run_gwd};

#[test]
fn check_reports_missing_and_invalid_map_files() {
    let dir = gwd_regtests::scratch_dir("maps-check");
    std::fs::write(dir.join("ports.map"), "80 http\n# ok\n8x8 bad\n").unwrap();
    let d = dir.display();
    let cfg = dir.join("gw.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.blocked = "src -f {d}/missing.acl"
http-request = [ {{ action = "deny", if = "{{ dst_port,map_int({d}/ports.map) -m found }}" }} ]
"#
        ),
    )
    .unwrap();
    let path = cfg.display().to_string();
    let (status, stdout, stderr) = run_gwd(&["check", "--config", &path]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(&format!(
            "error: invalid ACL `blocked`: cannot read pattern file `{d}/missing.acl`: no such file\n  --> {path}:3:23 (frontend.www.acl.blocked)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: invalid condition: invalid map file: {d}/ports.map:3: '8x8' is not a valid 'int' pattern"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("(frontend.www.http-request[0].if)"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("2 error(s); configuration is invalid"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn map_converters_on_the_request_path() {
    let dir = gwd_regtests::scratch_dir("maps-path");
    std::fs::write(dir.join("paths.map"), "/api v1\n/api/v2 v2\n").unwrap();
    std::fs::write(dir.join("nets.map"), "127.0.0.0/8 loopback\n").unwrap();
    let d = dir.display();
    let gwd = Gwd::start(&format!(
        r#"[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", lf-body = "%[path,map_beg({d}/paths.map,none)] %[src,map_ip({d}/nets.map)]" }} ]
"#
    ));
    let www = gwd.addr("www", 0);
    for (path, want) in [
        ("/api/v2/x", "v2 loopback"),
        ("/api/x", "v1 loopback"),
        ("/x", "none loopback"),
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let resp = raw_exchange(www, req.as_bytes(), Duration::from_secs(10)).await;
        assert!(resp.ends_with(want), "{path}: {resp}");
    }
}
