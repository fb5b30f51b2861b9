//! The command line itself. (Its presence also makes `cargo test
//! --workspace` build the `gwd` binary that regtests/ drives.)

use std::process::Command;

fn gwd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gwd"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    c
}

#[test]
fn version_names_features() {
    let out = gwd().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("gwd {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains("features: ") && text.contains("-quic"),
        "{text}"
    );
}

#[test]
fn shipped_example_checks_clean() {
    let out = gwd()
        .args(["check", "--config", "examples/gw.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "examples/gw.toml: configuration is valid\n"
    );
}

/// `-c` checks, as in HAProxy (`haproxy -c -f haproxy.cfg`); it used to
/// be another name for `--config` and start the proxy.
#[test]
fn dash_c_checks_like_haproxy() {
    let out = gwd()
        .args(["-c", "-f", "examples/gw.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "examples/gw.toml: configuration is valid\n"
    );
}

#[test]
fn missing_config_is_a_usage_error() {
    let out = gwd().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no configuration given"));
}

#[test]
fn pki_writes_a_usable_set() {
    let dir = std::env::temp_dir().join(format!("gwd-cli-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = gwd()
        .args(["pki", "--out"])
        .arg(&dir)
        .args([
            "--server-file",
            "gateway",
            "--server-name",
            "gw.test",
            "--client",
            "app.localhost",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "ca.crt",
        "ca.key",
        "gateway.crt",
        "gateway.key",
        "app.localhost.crt",
        "app.localhost.key",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // The client certificate carries its name as CN.
    let der = gwd_tls_der(&dir.join("app.localhost.crt"));
    let info = gwd_tls::cert_info(&der).unwrap();
    assert!(
        info.subject
            .contains(&("CN".to_string(), "app.localhost".to_string())),
        "{info:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn gwd_tls_der(path: &std::path::Path) -> Vec<u8> {
    gwd_tls::load_certs(path).unwrap().remove(0).to_vec()
}
