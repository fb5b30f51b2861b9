//! HTTP/2 visitors (h2c prior knowledge, TLS + ALPN) and TLS features:
//! SNI, client certificates, `ssl_*` fetches.

use std::path::PathBuf;

use gwd_regtests::backend::{Backend, Proto, pattern_byte};
use gwd_regtests::client::{Client, full, tls_connect};
use gwd_regtests::{Gwd, scratch_dir};
use gwd_tls::pki::{Pki, PkiFiles};
use http::Request;

fn pki() -> (PkiFiles, PathBuf) {
    let dir = scratch_dir("pki");
    let files = Pki::generate("regtest CA", &["localhost", "gw.test"], &["alice.test"])
        .unwrap()
        .write_to(&dir)
        .unwrap();
    (files, dir)
}

fn config(app: &Backend, f: &PkiFiles) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.server = "10s"

[frontend.www]
bind = [
  {{ addr = "127.0.0.1:0" }},
  {{ addr = "127.0.0.1:0", ssl = true, crt = "{crt}", key = "{key}", alpn = ["h2", "http/1.1"], verify = "optional", ca-file = "{ca}" }},
  {{ addr = "127.0.0.1:0", proto = "h2" }},
  {{ addr = "127.0.0.1:0", ssl = true, crt = "{crt}", key = "{key}", verify = "required", ca-file = "{ca}" }},
]
http-request = [
  {{ action = "set-header", name = "X-Proto", value = "https", if = "{{ ssl_fc }}" }},
  {{ action = "set-header", name = "X-SNI", value = "%[ssl_fc_sni]", if = "{{ ssl_fc }}" }},
  {{ action = "set-header", name = "X-Client-CN", value = "%[ssl_c_s_dn(CN)]", if = "{{ ssl_c_used }}" }},
]
default_backend = "app"

[backend.app]
server = [ {{ name = "app1", addr = "{app}" }} ]
"#,
        crt = f.server_cert.display(),
        key = f.server_key.display(),
        ca = f.ca_cert.display(),
        app = app.addr,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c_prior_knowledge_to_h1_server() {
    let app = Backend::start("app1", Proto::H1).await;
    let (f, _d) = pki();
    let gwd = Gwd::start(&config(&app, &f));
    for bind in [0, 2] {
        let mut c = Client::h2c(gwd.addr("www", bind)).await;
        let (status, _, body) = c.get("app.test", "/hello").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("version=HTTP/1.1"), "{body}");
        assert!(
            body.contains("h:host: app.test\n"),
            "authority became Host: {body}"
        );
        assert!(!body.contains("x-proto"), "not TLS: {body}");
    }
    gwd.stderr
        .wait_for("h2 access line", |l| l.contains("\"GET /hello HTTP/2.0\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn h2_bind_refuses_http1() {
    let app = Backend::start("app1", Proto::H1).await;
    let (f, _d) = pki();
    let gwd = Gwd::start(&config(&app, &f));
    let out = gwd_regtests::client::raw_exchange(
        gwd.addr("www", 2),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(
        !out.starts_with("HTTP/1.1 200"),
        "an h2-only bind served HTTP/1: {out}"
    );
    assert_eq!(app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_alpn_h2_and_http11_with_ssl_fetches() {
    let app = Backend::start("app1", Proto::H1).await;
    let (f, _d) = pki();
    let gwd = Gwd::start(&config(&app, &f));
    let addr = gwd.addr("www", 1);

    let mut c = Client::tls(addr, "gw.test", &f.ca_cert, &["h2", "http/1.1"], None).await;
    assert!(matches!(c, Client::H2(_)), "ALPN picked h2");
    let (status, _, body) = c.get("gw.test", "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("h:x-proto: https\n"), "{body}");
    assert!(body.contains("h:x-sni: gw.test\n"), "{body}");
    assert!(!body.contains("x-client-cn"), "no client cert: {body}");

    let mut c = Client::tls(addr, "localhost", &f.ca_cert, &["http/1.1"], None).await;
    assert!(matches!(c, Client::H1(_)));
    let (status, _, body) = c.get("localhost", "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("h:x-sni: localhost\n"), "{body}");

    let (cert, key) = (&f.clients[0].1, &f.clients[0].2);
    let mut c = Client::tls(addr, "gw.test", &f.ca_cert, &["h2"], Some((cert, key))).await;
    let (_, _, body) = c.get("gw.test", "/").await;
    assert!(body.contains("h:x-client-cn: alice.test\n"), "{body}");
    gwd.stderr
        .wait_for("TLS marker in the log", |l| l.contains(" www~ app/app1 "));
}

#[tokio::test(flavor = "multi_thread")]
async fn required_client_cert_is_enforced() {
    let app = Backend::start("app1", Proto::H1).await;
    let (f, _d) = pki();
    let gwd = Gwd::start(&config(&app, &f));
    let addr = gwd.addr("www", 3);
    // Without a certificate the handshake (or the first read) fails.
    let refused = match tls_connect(addr, "gw.test", &f.ca_cert, &["http/1.1"], None).await {
        Err(_) => true,
        Ok((mut s, _)) => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let mut b = [0u8; 64];
            !matches!(s.read(&mut b).await, Ok(n) if n > 0)
        }
    };
    assert!(
        refused,
        "a connection without a client certificate was served"
    );
    assert_eq!(app.hits(), 0);
    gwd.stderr.wait_for("handshake failure logged", |l| {
        l.contains("TLS handshake failure")
    });

    let (cert, key) = (&f.clients[0].1, &f.clients[0].2);
    let mut c = Client::tls(
        addr,
        "gw.test",
        &f.ca_cert,
        &["http/1.1"],
        Some((cert, key)),
    )
    .await;
    let (status, _, body) = c.get("gw.test", "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("h:x-client-cn: alice.test\n"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2_visitor_streams_a_body_to_an_h2_server() {
    let app = Backend::start("h2app", Proto::H2).await;
    let (f, _d) = pki();
    // `always`: the visitors below each send their first request, which
    // under the default `safe` would open a connection of its own.
    let toml = config(&app, &f)
        .replace(
            &format!("addr = \"{}\" }}", app.addr),
            &format!("addr = \"{}\", proto = \"h2\" }}", app.addr),
        )
        .replace(
            "[backend.app]\n",
            "[backend.app]\nhttp-reuse = \"always\"\n",
        );
    let gwd = Gwd::start(&toml);
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let n = 3 * 1024 * 1024u64;
    let up: Vec<u8> = (0..n).map(pattern_byte).collect();
    let req = Request::post("http://app.test/echo")
        .body(full(up.clone()))
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert!(body.as_ref() == up.as_slice());
    // Concurrent streams of several visitors share one server connection.
    let mut handles = Vec::new();
    for i in 0..8 {
        let addr = gwd.addr("www", 0);
        handles.push(tokio::spawn(async move {
            let mut c = Client::h2c(addr).await;
            c.get("app.test", &format!("/p{i}")).await.0
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 200);
    }
    assert_eq!(
        app.conns(),
        1,
        "one h2 server connection carries every stream"
    );
}
