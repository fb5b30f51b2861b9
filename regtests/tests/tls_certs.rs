//! TLS binds with many certificates, through the real binary: `crt`
//! lists and directories, `crt-list` files with SNI filters, the choice
//! by SNI (exact, wildcard, default), `ssl-min-ver`, `ssl-max-ver`, the
//! `ciphers` and `ciphersuites` restrictions and order, and `gwd check`
//! refusing the certificate files that would stop gwd from starting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gwd_regtests::{Gwd, run_gwd, scratch_dir};
use gwd_tls::pki::{Ca, Validity};
use tokio::net::TcpStream;

/// A CA and the PEM files of server certificates it signed.
struct Pki {
    ca: Ca,
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = scratch_dir(tag);
        let ca = Ca::generate("tls_certs CA", Validity::Fixed).unwrap();
        std::fs::write(dir.join("ca.crt"), ca.cert_pem()).unwrap();
        Pki { ca, dir }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Writes `<file>` holding chain and key for `names`.
    fn combined(&self, file: &str, names: &[&str]) -> PathBuf {
        let (cert, key) = self.ca.server(names, Validity::Fixed).unwrap();
        let p = self.dir.join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, format!("{cert}{key}")).unwrap();
        p
    }
}

/// Handshakes with `sni`, trusting `ca` (only `versions` when given), and
/// returns the DNS names of the certificate gwd presented, or the error.
async fn served_names(
    addr: std::net::SocketAddr,
    sni: &str,
    ca: &Path,
    versions: Option<&[&'static rustls::SupportedProtocolVersion]>,
) -> Result<Vec<String>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in gwd_tls::load_certs(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(gwd_tls::provider());
    let builder = match versions {
        Some(v) => builder.with_protocol_versions(v),
        None => builder.with_safe_default_protocol_versions(),
    }
    .unwrap();
    let cfg = builder.with_root_certificates(roots).with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(gwd_tls::cert_info(&leaf).unwrap().dns_sans)
}

fn config(bind_tls: &str) -> String {
    format!(
        r#"
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, {bind_tls} }} ]
http-request = [ {{ action = "return", status = 200, body = "ok" }} ]
"#
    )
}

/// Three certificates in one `crt` list: exact names first, then the
/// wildcard (one label), else the first certificate.
#[tokio::test]
async fn sni_chooses_among_three_certificates() {
    let pki = Pki::new("tls-sni");
    let a = pki.combined("default.pem", &["default.test"]);
    let w = pki.combined("wild.pem", &["*.example.com"]);
    let e = pki.combined("www.pem", &["www.example.com"]);
    let gwd = Gwd::start(&config(&format!(
        r#"crt = ["{}", "{}", "{}"]"#,
        a.display(),
        w.display(),
        e.display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    let names = |sni: &'static str| {
        let ca = ca.clone();
        async move { served_names(addr, sni, &ca, None).await.unwrap() }
    };
    assert_eq!(names("www.example.com").await, ["www.example.com"]);
    assert_eq!(names("api.example.com").await, ["*.example.com"]);
    assert_eq!(names("default.test").await, ["default.test"]);
    // Neither exact nor wildcard (two labels under the wildcard): the
    // default, which the client then refuses for that name.
    assert!(
        served_names(addr, "a.b.example.com", &ca, None)
            .await
            .is_err()
    );
}

/// A `crt` directory: every certificate file in it, in name order,
/// `.key` and `.ocsp` files beside them read as such, not as certificates.
#[tokio::test]
async fn crt_directory_loads_every_certificate_file() {
    let pki = Pki::new("tls-dir");
    pki.combined("certs/10-first.pem", &["first.test"]);
    let (cert, key) = pki.ca.server(&["second.test"], Validity::Fixed).unwrap();
    std::fs::write(pki.dir.join("certs/20-second.pem"), cert).unwrap();
    std::fs::write(pki.dir.join("certs/20-second.pem.key"), key).unwrap();
    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}""#,
        pki.dir.join("certs").display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    assert_eq!(
        served_names(addr, "second.test", &ca, None).await.unwrap(),
        ["second.test"]
    );
    assert_eq!(
        served_names(addr, "first.test", &ca, None).await.unwrap(),
        ["first.test"]
    );
}

/// A `crt-list` line's filters replace the certificate's names; `!name`
/// keeps a name away from it (the default answers it instead).
#[tokio::test]
async fn crt_list_filters_choose_and_exclude_names() {
    let pki = Pki::new("tls-list");
    let d = pki.combined("default.pem", &["default.test"]);
    let w = pki.combined("wild.pem", &["*.example.com", "other.test"]);
    let list = pki.dir.join("certs.list");
    std::fs::write(
        &list,
        format!(
            "# default first\n{}\n{} *.example.com !secure.example.com\n",
            d.display(),
            w.display()
        ),
    )
    .unwrap();
    let gwd = Gwd::start(&config(&format!(r#"crt-list = "{}""#, list.display())));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    let got = |sni: &'static str| {
        let ca = ca.clone();
        async move { served_names(addr, sni, &ca, None).await }
    };
    assert_eq!(
        got("shop.example.com").await.unwrap(),
        ["*.example.com", "other.test"]
    );
    // Excluded by `!`: the default certificate, not valid for the name.
    assert!(got("secure.example.com").await.is_err());
    // `other.test` is in the certificate but not among the filters.
    assert!(got("other.test").await.is_err());
}

/// `ssl-min-ver = "TLSv1.3"` refuses a client that speaks TLS 1.2 only.
#[tokio::test]
async fn ssl_min_ver_tls13_refuses_a_tls12_client() {
    let pki = Pki::new("tls-minver");
    let c = pki.combined("site.pem", &["site.test"]);
    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}", ssl-min-ver = "TLSv1.3""#,
        c.display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    let only12: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let err = served_names(addr, "site.test", &ca, Some(only12))
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("version"), "{err}");
    assert_eq!(
        served_names(addr, "site.test", &ca, None).await.unwrap(),
        ["site.test"]
    );
}

/// A reload reads a `crt` directory again: a certificate added to it is
/// served after SIGHUP, on the kept socket.
#[tokio::test(flavor = "multi_thread")]
async fn reload_reads_a_crt_directory_again() {
    let pki = Pki::new("tls-reload-dir");
    pki.combined("certs/a.pem", &["a.test"]);
    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}""#,
        pki.dir.join("certs").display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    assert!(served_names(addr, "b.test", &ca, None).await.is_err());
    pki.combined("certs/b.pem", &["b.test"]);
    tokio::task::block_in_place(|| {
        gwd.signal(libc::SIGHUP);
        gwd.stderr.wait_for("reload line", |l| {
            l.starts_with("gwd: reload (signal): configuration reloaded")
        });
    });
    assert_eq!(
        served_names(addr, "b.test", &ca, None).await.unwrap(),
        ["b.test"]
    );
}

/// An encrypted PKCS#8 key: made by openssl when it is installed, else a
/// fixed one (its content does not matter: gwd refuses it unread).
fn encrypted_key(dir: &Path, plain: &Path) -> PathBuf {
    let out = dir.join("encrypted.key");
    let made = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:secret",
            "-in",
        ])
        .arg(plain)
        .arg("-out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        std::fs::write(
            &out,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
             MIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBDyc2VjcmV0c2FsdAIC\n\
             CAAwDAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEAAAAAAAAAAAAAAAAAAAAAAE\n\
             QAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\
             -----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
    }
    out
}

/// `gwd check` loads the certificates as start does: a file that is not
/// PEM, a key that is not the certificate's and an encrypted key are
/// each an error naming the file; a certificate expiring soon a warning.
#[test]
fn check_refuses_broken_certificate_files() {
    let pki = Pki::new("tls-check");
    let not_pem = pki.dir.join("not-pem.pem");
    std::fs::write(&not_pem, b"\x30\x82\x02\x0a this is DER, not PEM").unwrap();
    let (cert, _) = pki.ca.server(&["m.test"], Validity::Fixed).unwrap();
    let (_, other_key) = pki.ca.server(&["m.test"], Validity::Fixed).unwrap();
    let mismatched = pki.dir.join("mismatched.pem");
    std::fs::write(&mismatched, format!("{cert}{other_key}")).unwrap();
    let (enc_cert, enc_plain) = pki.ca.server(&["e.test"], Validity::Fixed).unwrap();
    let plain = pki.dir.join("plain.key");
    std::fs::write(&plain, enc_plain).unwrap();
    let enc_crt = pki.dir.join("enc.pem");
    std::fs::write(&enc_crt, enc_cert).unwrap();
    let enc_key = encrypted_key(&pki.dir, &plain);
    let (soon_cert, soon_key) = pki.ca.server(&["soon.test"], Validity::Days(3)).unwrap();
    let soon = pki.dir.join("soon.pem");
    std::fs::write(&soon, format!("{soon_cert}{soon_key}")).unwrap();

    let cfg = pki.dir.join("gw.toml");
    let bind = |addr: &str, tls: String| {
        format!(
            "[frontend.{addr}]\nbind = [ {{ addr = \"127.0.0.1:0\", ssl = true, {tls} }} ]\n\
             http-request = [ {{ action = \"return\", status = 200 }} ]\n"
        )
    };
    let mut text = String::from("[defaults]\ntimeout.client = \"5s\"\n");
    text += &bind("a", format!("crt = \"{}\"", not_pem.display()));
    text += &bind("b", format!("crt = \"{}\"", mismatched.display()));
    text += &bind(
        "c",
        format!(
            "crt = \"{}\", key = \"{}\"",
            enc_crt.display(),
            enc_key.display()
        ),
    );
    std::fs::write(&cfg, &text).unwrap();
    let (st, _out, err) = run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!st.success(), "{err}");
    assert!(
        err.contains("3 error(s); configuration is invalid"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}: not a PEM certificate", not_pem.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}: private key does not match the certificate",
            mismatched.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}: private key is encrypted: gwd needs it unencrypted",
            enc_key.display()
        )),
        "{err}"
    );
    // Start refuses the same file (the loader is shared).
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntimeout.client = \"5s\"\n{}",
            bind("b", format!("crt = \"{}\"", mismatched.display()))
        ),
    )
    .unwrap();
    let (st, _, err) = run_gwd(&["--config", cfg.to_str().unwrap()]);
    assert!(!st.success(), "{err}");
    assert!(
        err.contains("private key does not match the certificate"),
        "{err}"
    );

    // A certificate three days from its end: valid, with a warning.
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntimeout.client = \"5s\"\n{}",
            bind("s", format!("crt = \"{}\"", soon.display()))
        ),
    )
    .unwrap();
    let (st, out, err) = run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(st.success(), "{err}");
    assert!(out.contains("configuration is valid"), "{out}");
    assert!(
        err.contains(&format!(
            "warning: frontend `s`, bind 127.0.0.1:0: {}: certificate expires on",
            soon.display()
        )),
        "{err}"
    );
}

/// Versions and cipher names are checked with the rest of the file.
#[test]
fn check_refuses_old_versions_and_unknown_ciphers() {
    let pki = Pki::new("tls-check-names");
    let c = pki.combined("site.pem", &["site.test"]);
    let cfg = pki.dir.join("gw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\nssl-default-bind-options = \"no-sslv3 ssl-min-ver TLSv1.2 no-tls-tickets\"\n\
             [defaults]\ntimeout.client = \"5s\"\n[frontend.www]\n\
             bind = [ {{ addr = \"127.0.0.1:0\", ssl = true, crt = \"{}\", ssl-min-ver = \"TLSv1.1\", \
             ciphers = \"ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:RC4-MD5\" }} ]\n",
            c.display()
        ),
    )
    .unwrap();
    let (st, _, err) = run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!st.success(), "{err}");
    assert!(err.contains("`TLSv1.1` is not available"), "{err}");
    assert!(
        err.contains("DHE-RSA-AES256-GCM-SHA384, RC4-MD5"),
        "both unknown names, and only them: {err}"
    );
}

/// Accepts any server certificate and keeps the OCSP response stapled to it.
#[derive(Debug)]
struct RecordOcsp(
    std::sync::Mutex<Option<Vec<u8>>>,
    Arc<rustls::crypto::CryptoProvider>,
);

impl rustls::client::danger::ServerCertVerifier for RecordOcsp {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(ocsp_response.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

/// `<crt>.ocsp` beside a certificate is stapled to its handshakes; a
/// certificate without one staples nothing.
#[tokio::test]
async fn ocsp_response_beside_the_certificate_is_stapled() {
    let pki = Pki::new("tls-ocsp");
    let a = pki.combined("a.pem", &["a.test"]);
    let b = pki.combined("b.pem", &["b.test"]);
    // The bytes are gwd's to pass on, not to judge.
    let response = b"\x30\x03\x0a\x01\x00".to_vec();
    std::fs::write(pki.dir.join("b.pem.ocsp"), &response).unwrap();
    let gwd = Gwd::start(&config(&format!(
        r#"crt = ["{}", "{}"]"#,
        a.display(),
        b.display()
    )));
    let addr = gwd.addr("www", 0);
    for (sni, want) in [("b.test", response.clone()), ("a.test", Vec::new())] {
        let provider = gwd_tls::provider();
        let verifier = Arc::new(RecordOcsp(std::sync::Mutex::new(None), provider.clone()));
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(sni).unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(
            verifier.0.lock().unwrap().as_deref(),
            Some(&want[..]),
            "{sni}"
        );
    }
}

/// A server's client certificate is loaded by `gwd check` as by start:
/// an encrypted key is refused there too.
#[test]
fn check_refuses_an_encrypted_server_client_key() {
    let pki = Pki::new("tls-check-server");
    let (cert, plain_key) = pki.ca.client("origin.test", Validity::Fixed).unwrap();
    let crt = pki.dir.join("client.crt");
    std::fs::write(&crt, cert).unwrap();
    let plain = pki.dir.join("client.key");
    std::fs::write(&plain, plain_key).unwrap();
    let enc = encrypted_key(&pki.dir, &plain);
    let cfg = pki.dir.join("gw.toml");
    let text = |key: &Path| {
        format!(
            "[defaults]\ntimeout.connect = \"1s\"\ntimeout.server = \"1s\"\n[backend.app]\n\
             server = [ {{ name = \"s1\", addr = \"127.0.0.1:9\", ssl = true, verify = \"none\", \
             crt = \"{}\", key = \"{}\" }} ]\n",
            crt.display(),
            key.display()
        )
    };
    std::fs::write(&cfg, text(&enc)).unwrap();
    let (st, _, err) = run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!st.success(), "{err}");
    assert!(
        err.contains(&format!(
            "backend `app`, server `s1`: {}: private key is encrypted: gwd needs it unencrypted",
            enc.display()
        )),
        "{err}"
    );
    std::fs::write(&cfg, text(&plain)).unwrap();
    let (st, _, err) = run_gwd(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(st.success(), "{err}");
}

/// Handshakes with `sni` offering only `versions` and `suites` (the
/// provider's defaults for `None`), trusting `ca`; returns the version
/// and cipher suite negotiated, or the error.
async fn negotiated(
    addr: std::net::SocketAddr,
    ca: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<&[rustls::SupportedCipherSuite]>,
) -> Result<(rustls::ProtocolVersion, rustls::CipherSuite), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in gwd_tls::load_certs(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(s) = suites {
        provider.cipher_suites = s.to_vec();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("site.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let conn = tls.get_ref().1;
    Ok((
        conn.protocol_version().expect("a version"),
        conn.negotiated_cipher_suite().expect("a suite").suite(),
    ))
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
const ONLY13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
const ONLY12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// `ssl-max-ver = "TLSv1.2"` (HAProxy's bind keyword): a client that
/// speaks TLS 1.3 only is refused with a protocol-version alert, and a
/// client offering both gets TLS 1.2.
#[tokio::test]
async fn ssl_max_ver_tls12_refuses_a_tls13_only_client() {
    let pki = Pki::new("tls-maxver");
    let c = pki.combined("site.pem", &["site.test"]);
    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}", ssl-max-ver = "TLSv1.2""#,
        c.display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    let err = negotiated(addr, &ca, ONLY13, None).await.unwrap_err();
    assert!(err.to_lowercase().contains("version"), "{err}");
    let (v, _) = negotiated(addr, &ca, BOTH, None).await.unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
    let (v, _) = negotiated(addr, &ca, ONLY12, None).await.unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
}

/// `ciphersuites` (TLS 1.3): a bind limited to one suite negotiates it
/// with a client offering all three, and refuses a client that offers
/// only another; with two suites, gwd's order wins over the client's
/// (HAProxy's default, `prefer-client-ciphers` unset).
#[tokio::test]
async fn ciphersuites_restrict_and_order_the_tls13_suites() {
    use rustls::crypto::ring::cipher_suite as cs;
    let pki = Pki::new("tls-suites13");
    let c = pki.combined("site.pem", &["site.test"]);
    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}", ciphersuites = "TLS_CHACHA20_POLY1305_SHA256""#,
        c.display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    let (v, s) = negotiated(addr, &ca, ONLY13, None).await.unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(s, rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    let err = negotiated(addr, &ca, ONLY13, Some(&[cs::TLS13_AES_128_GCM_SHA256]))
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("handshake"), "{err}");

    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}", ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384""#,
        c.display()
    )));
    let client_order = [cs::TLS13_AES_256_GCM_SHA384, cs::TLS13_AES_128_GCM_SHA256];
    let (_, s) = negotiated(gwd.addr("www", 0), &ca, ONLY13, Some(&client_order))
        .await
        .unwrap();
    assert_eq!(s, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
}

/// `ciphers` (TLS 1.2, OpenSSL names): a bind limited to one suite
/// negotiates it with a TLS 1.2 client offering all, refuses a TLS 1.2
/// client offering only another, leaves TLS 1.3 alone, and with two
/// suites its order wins over the client's.
#[tokio::test]
async fn ciphers_restrict_and_order_the_tls12_suites() {
    use rustls::crypto::ring::cipher_suite as cs;
    let pki = Pki::new("tls-suites12");
    // The test PKI's keys are ECDSA: the ECDHE-ECDSA suites apply.
    let c = pki.combined("site.pem", &["site.test"]);
    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}", ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256""#,
        c.display()
    )));
    let addr = gwd.addr("www", 0);
    let ca = pki.ca_file();
    let (v, s) = negotiated(addr, &ca, ONLY12, None).await.unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
    assert_eq!(
        s,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
    let err = negotiated(
        addr,
        &ca,
        ONLY12,
        Some(&[cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]),
    )
    .await
    .unwrap_err();
    assert!(err.to_lowercase().contains("handshake"), "{err}");
    let (v, _) = negotiated(addr, &ca, BOTH, None).await.unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);

    let gwd = Gwd::start(&config(&format!(
        r#"crt = "{}", ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384""#,
        c.display()
    )));
    let client_order = [
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let (_, s) = negotiated(gwd.addr("www", 0), &ca, ONLY12, Some(&client_order))
        .await
        .unwrap();
    assert_eq!(
        s,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    );
}
