//! `gwd pki` run as a user runs it: a second run to add an origin keeps
//! the CA (so the first origin's certificate stays trusted), keys are
//! owner-only, `--days` bounds validity, `--force` starts over. Trust is
//! checked the way it matters: a gwd started on the generated server
//! certificate with `verify = "required"` accepts a client certificate
//! issued by a later run.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use gwd_regtests::client::tls_connect;
use gwd_regtests::{Gwd, run_gwd, scratch_dir};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn pki(dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["pki", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (st, out, err) = run_gwd(&args);
    (st.success(), out, err)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Answers through a TLS bind that requires a client certificate from the
/// generated CA; true when the handshake and a request succeed.
async fn accepted(gwd: &Gwd, dir: &Path, client: &str) -> bool {
    let Ok((mut tls, _)) = tls_connect(
        gwd.addr("www", 0),
        "localhost",
        &dir.join("ca.crt"),
        &["http/1.1"],
        Some((
            &dir.join(format!("{client}.crt")),
            &dir.join(format!("{client}.key")),
        )),
    )
    .await
    else {
        return false;
    };
    if tls
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_keeps_the_ca_and_adds_the_new_origin() {
    let dir = scratch_dir("pki-cli");
    let (ok, out, err) = pki(&dir, &["--client", "one.localhost=one"]);
    assert!(ok, "{out}\n{err}");
    let ca_before = fs::read(dir.join("ca.crt")).unwrap();
    let one_before = fs::read(dir.join("one.crt")).unwrap();
    for key in ["ca.key", "server.key", "one.key"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&dir.join("ca.crt")) & 0o600, 0o600);

    // Run again for a second origin: the CA and the existing files stay.
    let (ok, out, err) = pki(&dir, &["--client", "two.localhost=two"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("using the existing CA"), "{out}");
    assert!(out.contains("kept") && out.contains("server.crt"), "{out}");
    assert!(!err.contains("warning"), "same names: {err}");
    assert_eq!(fs::read(dir.join("ca.crt")).unwrap(), ca_before);
    assert_eq!(fs::read(dir.join("one.crt")).unwrap(), one_before);
    assert_eq!(mode(&dir.join("two.key")), 0o600);

    // Both origins' certificates are trusted by a gwd on this PKI.
    let gwd = Gwd::start(&format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, crt = "{d}/server.crt", key = "{d}/server.key", ca-file = "{d}/ca.crt", verify = "required" }} ]
http-request = [ {{ action = "return", status = 200, body = "ok" }} ]
"#,
        d = dir.display()
    ));
    assert!(accepted(&gwd, &dir, "one").await, "first origin");
    assert!(accepted(&gwd, &dir, "two").await, "second origin");

    // --force makes a new CA: the running gwd no longer trusts what it
    // signs, and the old origin's files are replaced only when named.
    let (ok, out, err) = pki(&dir, &["--force", "--client", "three.localhost=three"]);
    assert!(ok, "{out}\n{err}");
    assert_ne!(fs::read(dir.join("ca.crt")).unwrap(), ca_before);
    assert_eq!(fs::read(dir.join("one.crt")).unwrap(), one_before);
    assert!(!accepted(&gwd, &dir, "three").await, "signed by the new CA");
}

#[test]
fn half_a_ca_and_zero_days_are_refused() {
    let dir = scratch_dir("pki-cli-half");
    let (ok, out, err) = pki(&dir, &["--days", "3"]);
    assert!(ok, "{out}\n{err}");
    fs::remove_file(dir.join("ca.key")).unwrap();
    let (ok, _, err) = pki(&dir, &["--client", "x"]);
    assert!(!ok);
    assert!(
        err.contains("ca.crt exists but")
            && err.contains("ca.key does not")
            && err.contains("--force"),
        "{err}"
    );
    let (ok, _, err) = pki(&dir, &["--days", "0"]);
    assert!(!ok, "0 days is refused: {err}");
}

/// A kept server certificate for other names is said to be kept for them;
/// a certificate that is no CA is not taken as the CA; files are never
/// written through a symbolic link.
#[test]
fn reruns_say_what_they_kept_and_refuse_what_is_no_ca() {
    let dir = scratch_dir("pki-cli-names");
    let (ok, out, err) = pki(&dir, &["--server-name", "a.test"]);
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = pki(&dir, &["--server-name", "b.test"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        err.contains("warning") && err.contains("a.test") && err.contains("b.test"),
        "{err}"
    );

    // server.crt/.key copied over the CA: refused, with the way out.
    fs::copy(dir.join("server.crt"), dir.join("ca.crt")).unwrap();
    fs::copy(dir.join("server.key"), dir.join("ca.key")).unwrap();
    let (ok, _, err) = pki(&dir, &["--client", "o1"]);
    assert!(!ok);
    assert!(err.contains("not a CA") && err.contains("--force"), "{err}");

    // A link where a key goes: not written through, even with --force.
    let links = scratch_dir("pki-cli-links");
    let victim = links.join("victim");
    fs::write(&victim, "precious").unwrap();
    fs::create_dir_all(links.join("out")).unwrap();
    std::os::unix::fs::symlink(&victim, links.join("out/ca.key")).unwrap();
    let out_dir = links.join("out");
    let (ok, _, err) = pki(&out_dir, &[]);
    assert!(!ok, "half a CA (a link where ca.key goes): {err}");
    let (ok, out, err) = pki(&out_dir, &["--force"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(mode(&out_dir.join("ca.key")), 0o600);
}
