//! TLS bind keys: `crt` lists and directories, `crt-list`, versions and
//! cipher suites, and `[global]`'s `ssl-default-bind-*`.

mod common;

use common::{err, ok, temp_files};
use gwd_config::*;

fn bind_tls(c: &Config) -> &BindTls {
    c.frontends[0].binds[0].tls.as_ref().unwrap()
}

#[test]
fn crt_takes_files_directories_and_crt_lists() {
    let dir = temp_files(&["a.pem", "b.pem", "list.txt"]);
    let d = dir.path().display();
    let c = ok(&format!(
        r#"
[frontend.www]
bind = [ {{ addr = ":443", ssl = true, crt = ["{d}/a.pem", "{d}"], crt-list = "{d}/list.txt" }} ]
"#
    ));
    let t = bind_tls(&c);
    assert_eq!(t.crts, [dir.join("a.pem"), dir.path().to_path_buf()]);
    assert_eq!(t.crt_lists, [dir.join("list.txt")]);
    assert_eq!(t.key, None);

    let c = ok(&format!(
        "[frontend.www]\nbind = [ {{ addr = \":443\", ssl = true, crt-list = \"{d}/list.txt\" }} ]\n"
    ));
    assert!(bind_tls(&c).crts.is_empty());
}

#[test]
fn key_goes_with_one_crt_file_only() {
    let dir = temp_files(&["a.pem", "b.pem", "a.key"]);
    let d = dir.path().display();
    let e = err(&format!(
        "[frontend.www]\nbind = [ {{ addr = \":443\", ssl = true, crt = [\"{d}/a.pem\", \"{d}/b.pem\"], key = \"{d}/a.key\" }} ]\n"
    ));
    assert!(
        e.contains("`key` applies to a single `crt` file only"),
        "{e}"
    );
    let e = err(&format!(
        "[frontend.www]\nbind = [ {{ addr = \":443\", ssl = true, crt = \"{d}\", key = \"{d}/a.key\" }} ]\n"
    ));
    assert!(
        e.contains("`key` applies to a single `crt` file only"),
        "{e}"
    );
}

#[test]
fn versions_come_from_the_bind_then_the_global_options() {
    let dir = temp_files(&["a.pem"]);
    let d = dir.path().display();
    let conf = |global: &str, bind: &str| {
        format!(
            "[global]\n{global}\n[frontend.www]\nbind = [ {{ addr = \":443\", ssl = true, crt = \"{d}/a.pem\"{bind} }} ]\n"
        )
    };
    use TlsVersion::{Tls12, Tls13};
    let v = |g: &str, b: &str| bind_tls(&ok(&conf(g, b))).versions.clone();
    assert_eq!(v("", ""), [Tls12, Tls13]);
    assert_eq!(v("", ", ssl-min-ver = \"TLSv1.3\""), [Tls13]);
    assert_eq!(v("", ", ssl-max-ver = \"TLSv1.2\""), [Tls12]);
    assert_eq!(
        v("ssl-default-bind-options = \"ssl-min-ver TLSv1.3\"", ""),
        [Tls13]
    );
    assert_eq!(
        v(
            "ssl-default-bind-options = \"ssl-min-ver TLSv1.3\"",
            ", ssl-min-ver = \"TLSv1.2\""
        ),
        [Tls12, Tls13],
        "the bind's own key wins"
    );
    assert_eq!(
        v(
            "ssl-default-bind-options = \"no-sslv3 no-tlsv10 no-tlsv11 no-tlsv13 no-tls-tickets\"",
            ""
        ),
        [Tls12]
    );
    assert_eq!(
        v("ssl-default-bind-options = \"force-tlsv13\"", ""),
        [Tls13]
    );

    let e = err(&conf("", ", ssl-min-ver = \"TLSv1.0\""));
    assert!(
        e.contains("`TLSv1.0` is not available: gwd (rustls) has no SSLv3, TLS 1.0 or TLS 1.1"),
        "{e}"
    );
    assert!(e.contains("(frontend.www.bind[0].ssl-min-ver)"), "{e}");
    let e = err(&conf(
        "",
        ", ssl-min-ver = \"TLSv1.3\", ssl-max-ver = \"TLSv1.2\"",
    ));
    assert!(e.contains("no TLS version left"), "{e}");
    let e = err(&conf(
        "ssl-default-bind-options = \"no-tlsv12 no-tlsv13\"",
        "",
    ));
    assert!(e.contains("no TLS version left"), "{e}");
    let e = err(&conf(
        "ssl-default-bind-options = \"prefer-client-ciphers\"",
        "",
    ));
    assert!(
        e.contains("`prefer-client-ciphers` in `ssl-default-bind-options` is not supported yet"),
        "{e}"
    );
    let e = err(&conf("", ", ssl-max-ver = \"TLSv1.4\""));
    assert!(e.contains("unknown TLS version `TLSv1.4`"), "{e}");
}

#[test]
fn cipher_names_map_to_iana_names_and_unknown_ones_are_named() {
    let dir = temp_files(&["a.pem"]);
    let d = dir.path().display();
    let conf = |global: &str, bind: &str| {
        format!(
            "[global]\n{global}\n[frontend.www]\nbind = [ {{ addr = \":443\", ssl = true, crt = \"{d}/a.pem\"{bind} }} ]\n"
        )
    };
    let c = ok(&conf(
        "ssl-default-bind-ciphers = \"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305\"\n\
         ssl-default-bind-ciphersuites = \"TLS_CHACHA20_POLY1305_SHA256\"",
        "",
    ));
    let t = bind_tls(&c);
    assert_eq!(
        t.ciphers.as_deref().unwrap(),
        [
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        ]
    );
    assert_eq!(
        t.ciphersuites.as_deref().unwrap(),
        ["TLS13_CHACHA20_POLY1305_SHA256"]
    );
    let c = ok(&conf(
        "ssl-default-bind-ciphersuites = \"TLS_CHACHA20_POLY1305_SHA256\"",
        ", ciphersuites = \"TLS_AES_128_GCM_SHA256\"",
    ));
    assert_eq!(
        bind_tls(&c).ciphersuites.as_deref().unwrap(),
        ["TLS13_AES_128_GCM_SHA256"],
        "the bind's own list wins"
    );
    let e = err(&conf(
        "",
        ", ciphers = \"ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:HIGH\"",
    ));
    assert!(e.contains("TLS 1.2 cipher(s): AES128-SHA, HIGH"), "{e}");
    let e = err(&conf(
        "ssl-default-bind-ciphersuites = \"TLS_AES_128_CCM_SHA256\"",
        "",
    ));
    assert!(
        e.contains("TLS 1.3 cipher suite(s): TLS_AES_128_CCM_SHA256"),
        "{e}"
    );
    assert!(e.contains("(global.ssl-default-bind-ciphersuites)"), "{e}");
}

#[test]
fn tls_keys_need_ssl() {
    let e = err(
        "[frontend.www]\nbind = [ { addr = \":80\", ssl-min-ver = \"TLSv1.3\", ciphers = \"x\", crt-list = \"l\" } ]\n",
    );
    for k in ["ssl-min-ver", "ciphers", "crt-list"] {
        assert!(e.contains(&format!("`{k}` needs `ssl = true`")), "{e}");
    }
}
