//! TLS for gwd: turning PEM files into rustls configurations, and reading
//! the facts rules need (SNI, ALPN, client-certificate names) off a
//! finished handshake.
//!
//! Model: configurations are built once at start-up from files the config
//! crate has already checked exist; every failure here names the file and
//! what was wrong with it, because the operator fixes files, not code.
//! Handshake-time state never touches the file system.
//!
//! This crate owns rustls setup and the little certificate parsing gwd
//! needs (a DER walk to the names, version and expiry: see `x509.rs`). It
//! depends on `gwd-conn` (no dependencies) only for the [`TlsInfo`] type it
//! fills in, and never on tokio: the listener crate drives the handshakes.
//!
//! With the `pki` cargo feature (off by default), the `pki` module
//! generates a small CA with server and client certificates (rcgen), for
//! `gwd pki`, examples and tests; crates that only serve or dial TLS do not
//! build rcgen.
//!
//! ```
//! use std::path::PathBuf;
//! use gwd_tls::{PeerVerify, ServerTlsSettings, cert_info, load_certs, server_config};
//!
//! // The repository's example PKI (`gwd pki` makes one like it).
//! let pki = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/pki");
//! // A bind with `ssl crt gateway.crt alpn h2,http/1.1 ca-file ca.crt verify required`.
//! let tls = server_config(&ServerTlsSettings {
//!     cert: pki.join("gateway.crt"),
//!     key: Some(pki.join("gateway.key")),
//!     alpn: vec!["h2".into(), "http/1.1".into()],
//!     verify: PeerVerify::Required,
//!     ca: Some(pki.join("ca.crt")),
//! })
//! .unwrap();
//! assert_eq!(tls.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
//!
//! // The names rules read off a certificate (`ssl_c_s_dn(CN)`, SANs).
//! let chain = load_certs(&pki.join("gateway.crt")).unwrap();
//! let facts = cert_info(&chain[0]).unwrap();
//! assert!(facts.subject.contains(&("CN".into(), "localhost".into())));
//! assert!(facts.dns_sans.iter().any(|n| n == "app.localhost"));
//!
//! // A wrong file is named, with what is wrong with it.
//! let err = load_certs(&pki.join("gateway.key")).unwrap_err();
//! assert!(err.to_string().contains("gateway.key"), "{err}");
//! ```

pub mod certs;
#[cfg(feature = "pki")]
pub mod pki;
mod x509;
mod x509v1;

pub use certs::{CertSources, CertWarning, LoadedCerts, SniResolver, load_bind_certs};

pub use x509v1::{
    explain_handshake_error, is_x509_v1, is_x509_v1_error, rustls_error, x509_v1_help,
};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gwd_conn::{ClientCertInfo, TlsInfo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// Whether and how a peer certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerVerify {
    /// No certificate asked for (server side) or any accepted (client side).
    #[default]
    None,
    /// Server side only: asked for, verified when sent, connection allowed without.
    Optional,
    /// Must be present and chain to the CA.
    Required,
}

/// What went wrong building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {what}")]
    File { path: PathBuf, what: String },
    /// Several files at fault (one bind's certificates), each its own error.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Files(Vec<TlsError>),
    /// A setting rustls cannot honour (versions, cipher suites).
    #[error("{0}")]
    Settings(String),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// Only with the `pki` feature.
    #[cfg(feature = "pki")]
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A CA loaded back from files is unusable (not PEM, not X.509, or
    /// its key is not the certificate's).
    #[error("test PKI: {0}")]
    Pki(String),
}

impl TlsError {
    /// True when the problem is with a file's contents or readability.
    pub fn is_file(&self) -> bool {
        matches!(self, TlsError::File { .. } | TlsError::Files(_))
    }

    /// The single errors inside (a [`TlsError::Files`] opened up).
    pub fn each(&self) -> Vec<&TlsError> {
        match self {
            TlsError::Files(v) => v.iter().flat_map(TlsError::each).collect(),
            e => vec![e],
        }
    }
}

fn file_err(path: &Path, what: impl fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

/// The crypto provider every gwd config uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate in a PEM file, in order.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, format!("cannot read certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(path, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            if std::fs::read(path).is_ok_and(|b| certs::is_encrypted_key(&b)) {
                file_err(path, certs::ENCRYPTED_KEY)
            } else {
                file_err(path, "no PRIVATE KEY block found")
            }
        }
        e => file_err(path, format!("cannot read private key: {e}")),
    })
}

/// Builds a root store from a CA bundle.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| file_err(path, format!("unusable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// What a TLS listener needs.
#[derive(Debug, Clone)]
pub struct ServerTlsSettings {
    pub cert: PathBuf,
    /// When `None`, the key is read from the certificate file (combined PEM).
    pub key: Option<PathBuf>,
    pub alpn: Vec<String>,
    pub verify: PeerVerify,
    pub ca: Option<PathBuf>,
}

/// Builds the rustls server configuration for a bind.
///
/// ```
/// # #[cfg(feature = "pki")] {
/// # let dir = std::env::temp_dir().join(format!("gwd-tls-doc-{}", std::process::id()));
/// let pki = gwd_tls::pki::Pki::generate("Doc CA", &["localhost"], &["client.example"]).unwrap();
/// let files = pki.write_to(&dir).unwrap();
/// let cfg = gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
///     cert: files.server_cert.clone(),
///     key: Some(files.server_key.clone()),
///     alpn: vec!["h2".into(), "http/1.1".into()],
///     verify: gwd_tls::PeerVerify::Required,
///     ca: Some(files.ca_cert.clone()),
/// }).unwrap();
/// assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
/// # std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
pub fn server_config(s: &ServerTlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let b = BindTlsSettings {
        certs: CertSources {
            crts: vec![s.cert.clone()],
            crt_lists: Vec::new(),
            key: s.key.clone(),
        },
        alpn: s.alpn.clone(),
        verify: s.verify,
        ca: s.ca.clone(),
        ..BindTlsSettings::default()
    };
    Ok(bind_server_config(&b, unix_now())?.config)
}

/// TLS protocol versions gwd speaks (rustls has neither TLS 1.0 nor 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// Everything a TLS bind needs: HAProxy's `crt`/`crt-list`, versions and
/// cipher suites, ALPN and client-certificate checking.
#[derive(Debug, Clone, Default)]
pub struct BindTlsSettings {
    pub certs: CertSources,
    pub alpn: Vec<String>,
    pub verify: PeerVerify,
    pub ca: Option<PathBuf>,
    /// Versions offered, in any order; empty: TLS 1.2 and 1.3.
    pub versions: Vec<TlsVersion>,
    /// TLS 1.2 suites by IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`),
    /// in preference order; `None`: rustls's defaults.
    pub tls12_suites: Option<Vec<String>>,
    /// TLS 1.3 suites by IANA name (`TLS13_AES_128_GCM_SHA256`), in
    /// preference order; `None`: rustls's defaults.
    pub tls13_suites: Option<Vec<String>>,
}

/// A bind's server configuration and what its certificates warned of.
#[derive(Debug)]
pub struct BindTls {
    pub config: Arc<ServerConfig>,
    pub warnings: Vec<CertWarning>,
}

/// Now, in Unix seconds (for certificate expiry warnings).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The TLS 1.2 and 1.3 cipher suites this build can offer, by IANA name.
pub fn supported_suite_names() -> Vec<&'static str> {
    rustls::crypto::ring::default_provider()
        .cipher_suites
        .iter()
        .filter_map(|s| s.suite().as_str())
        .collect()
}

/// Builds the rustls server configuration of a bind: loads and checks
/// every certificate (see [`certs`]), restricts versions and suites.
/// `now` (Unix seconds) dates the expiry warnings. `gwd check`, start
/// and reload all call this, so what the check accepts starts.
///
/// ```
/// # #[cfg(feature = "pki")] {
/// # let dir = std::env::temp_dir().join(format!("gwd-tls-doc-{}", std::process::id()));
/// let pki = gwd_tls::pki::Pki::generate("Doc CA", &["localhost"], &["client.example"]).unwrap();
/// let files = pki.write_to(&dir).unwrap();
/// let tls = gwd_tls::bind_server_config(&gwd_tls::BindTlsSettings {
///     certs: gwd_tls::CertSources {
///         crts: vec![files.server_cert.clone()],
///         key: Some(files.server_key.clone()),
///         ..Default::default()
///     },
///     alpn: vec!["h2".into(), "http/1.1".into()],
///     verify: gwd_tls::PeerVerify::Required,
///     ca: Some(files.ca_cert.clone()),
///     versions: vec![gwd_tls::TlsVersion::Tls13],
///     ..Default::default()
/// }, gwd_tls::unix_now()).unwrap();
/// assert_eq!(tls.config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
/// assert!(tls.warnings.is_empty());
/// # std::fs::remove_dir_all(&dir).ok();
/// # }
/// ```
pub fn bind_server_config(s: &BindTlsSettings, now: i64) -> Result<BindTls, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    let ordered = s.tls12_suites.is_some() || s.tls13_suites.is_some();
    if ordered {
        provider.cipher_suites = choose_suites(
            &provider.cipher_suites,
            s.tls12_suites.as_deref(),
            s.tls13_suites.as_deref(),
        )?;
    }
    let provider = Arc::new(provider);
    let loaded = load_bind_certs(&s.certs, &provider, now)?;
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    let want = |v| s.versions.is_empty() || s.versions.contains(&v);
    if want(TlsVersion::Tls13) {
        versions.push(&rustls::version::TLS13);
    }
    if want(TlsVersion::Tls12) {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(format!("TLS versions and cipher suites: {e}")))?;
    let builder = match s.verify {
        PeerVerify::None => builder.with_no_client_auth(),
        PeerVerify::Optional | PeerVerify::Required => {
            let ca = s.ca.as_deref().ok_or_else(|| {
                TlsError::Verifier("client certificate verification needs a CA file".into())
            })?;
            let roots = Arc::new(load_roots(ca)?);
            let vb = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let vb = if s.verify == PeerVerify::Optional {
                vb.allow_unauthenticated()
            } else {
                vb
            };
            builder.with_client_cert_verifier(
                vb.build().map_err(|e| TlsError::Verifier(e.to_string()))?,
            )
        }
    };
    let mut cfg = builder.with_cert_resolver(loaded.resolver);
    cfg.alpn_protocols = s.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // HAProxy's default: the server's order of suites wins.
    cfg.ignore_client_order = ordered;
    Ok(BindTls {
        config: Arc::new(cfg),
        warnings: loaded.warnings,
    })
}

/// The provider's suites named in `tls12` / `tls13` (IANA names), TLS 1.3
/// first, each list in its order; an unset list keeps that version's
/// defaults.
fn choose_suites(
    all: &[rustls::SupportedCipherSuite],
    tls12: Option<&[String]>,
    tls13: Option<&[String]>,
) -> Result<Vec<rustls::SupportedCipherSuite>, TlsError> {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    let is13 =
        |s: &rustls::SupportedCipherSuite| matches!(s, rustls::SupportedCipherSuite::Tls13(_));
    for (names, v13) in [(tls13, true), (tls12, false)] {
        match names {
            None => out.extend(all.iter().filter(|s| is13(s) == v13).copied()),
            Some(names) => {
                for n in names {
                    match all
                        .iter()
                        .find(|s| is13(s) == v13 && s.suite().as_str() == Some(n.as_str()))
                    {
                        Some(s) if !out.contains(s) => out.push(*s),
                        Some(_) => {}
                        None => unknown.push(n.clone()),
                    }
                }
            }
        }
    }
    if !unknown.is_empty() {
        return Err(TlsError::Settings(format!(
            "cipher suites not available in this build: {}",
            unknown.join(", ")
        )));
    }
    Ok(out)
}

/// What a TLS connection to a server needs.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsSettings {
    pub verify: PeerVerify,
    pub ca: Option<PathBuf>,
    pub alpn: Vec<String>,
    /// Client certificate and key to present (reverse-HTTP origins).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Builds the rustls client configuration for connections to a server.
pub fn client_config(s: &ClientTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match (s.verify, s.ca.as_deref()) {
        (PeerVerify::None, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider))),
        (_, Some(ca)) => builder.with_root_certificates(load_roots(ca)?),
        (_, None) => {
            return Err(TlsError::Verifier(
                "server certificate verification needs a CA file (or verify = \"none\")".into(),
            ));
        }
    };
    let mut cfg = match &s.cert {
        Some(cert) => {
            let certs = load_certs(cert)?;
            let key = load_key(s.key.as_deref().unwrap_or(cert))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                if is_x509_v1_error(&e) {
                    return file_err(cert, x509_v1_help("client"));
                }
                file_err(
                    cert,
                    format!("client certificate and key do not form a usable pair: {e}"),
                )
            })?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = s.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// `verify = "none"` towards a server: the handshake still checks signatures,
/// so the session keys are bound to whatever key the server holds.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads subject, issuer and DNS names off a DER certificate.
///
/// Attribute names are the short forms OpenSSL prints, so the ones
/// operators write in rules (`CN`, `O`, `C`, `emailAddress`...); unknown
/// attribute types keep their dotted OID. `None` when the DER does not
/// parse as a certificate.
pub fn cert_info(der: &[u8]) -> Option<ClientCertInfo> {
    let facts = x509::cert_facts(der)?;
    Some(ClientCertInfo {
        subject: facts.subject,
        issuer: facts.issuer,
        dns_sans: facts.dns_sans.into_iter().map(str::to_owned).collect(),
    })
}

/// The rule-visible facts of a finished server-side handshake.
pub fn server_tls_info(conn: &rustls::ServerConnection) -> TlsInfo {
    TlsInfo {
        sni: conn.server_name().map(str::to_owned),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        client_cert: conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| cert_info(leaf)),
    }
}
