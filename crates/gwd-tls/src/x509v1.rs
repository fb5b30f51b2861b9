//! X.509 v1 certificates: recognising them and telling the operator how
//! to issue a v3 one. rustls-webpki accepts only v3 certificates, so gwd
//! refuses a v1 certificate on either side of a handshake (HAProxy, on
//! OpenSSL, accepts it); the refusal alone ("UnsupportedCertVersion")
//! does not tell a user what to do.

/// Whether a DER certificate is X.509 version 1 (no extensions: what
/// `openssl x509 -req` makes without `-extfile`). rustls-webpki accepts
/// only v3, so gwd refuses such a certificate on either side of a
/// handshake; HAProxy (OpenSSL) accepts it, which is why users meet it.
pub fn is_x509_v1(der: &[u8]) -> bool {
    crate::x509::cert_facts(der).is_some_and(|c| c.version == 0)
}

/// Whether a handshake failed because the peer's certificate is X.509 v1:
/// webpki's `UnsupportedCertVersion`, which rustls reports as
/// `InvalidCertificate(Other(..))` (matched by its name: rustls does not
/// re-export webpki's error type).
pub fn is_x509_v1_error(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))
            if o.0.to_string().contains("UnsupportedCertVersion")
    )
}

/// The rustls error inside an I/O error from tokio-rustls, if any.
pub fn rustls_error(err: &std::io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

/// What to tell the operator when `whose` ("client" or "server")
/// certificate is X.509 v1: what it is and how to issue a v3 one.
///
/// ```
/// let m = gwd_tls::x509_v1_help("client");
/// assert!(m.starts_with("the client certificate is X.509 v1"));
/// assert!(m.contains("-extfile"));
/// ```
pub fn x509_v1_help(whose: &str) -> String {
    format!(
        "the {whose} certificate is X.509 v1 (what `openssl x509 -req` makes without \
         `-extfile`); gwd accepts only X.509 v3 certificates (webpki's rule), so issue a v3 \
         one from the same CSR: `printf 'basicConstraints=CA:FALSE\\nsubjectAltName=DNS:<name>\\n' \
         > v3.ext; openssl x509 -req -in {whose}.csr -CA ca.crt -CAkey ca.key -days 365 \
         -extfile v3.ext -out {whose}.crt`"
    )
}

/// A handshake error's text, with [`x509_v1_help`] appended when the
/// peer's certificate was refused for being X.509 v1. `whose` names the
/// peer's role ("client" on a listener, "server" on a client).
pub fn explain_handshake_error(err: &std::io::Error, whose: &str) -> String {
    match rustls_error(err) {
        Some(e) if is_x509_v1_error(e) => format!("{err}: {}", x509_v1_help(whose)),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn v1_errors_are_recognised_by_webpki_name() {
        #[derive(Debug)]
        struct Fake;
        impl fmt::Display for Fake {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("UnsupportedCertVersion")
            }
        }
        impl std::error::Error for Fake {}
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(Arc::new(Fake)),
        ));
        assert!(is_x509_v1_error(&e));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let m = explain_handshake_error(&io, "client");
        assert!(
            m.contains("X.509 v1") && m.contains("openssl x509 -req"),
            "{m}"
        );
        let other = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(!is_x509_v1_error(&other));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, other);
        assert!(!explain_handshake_error(&io, "client").contains("v1"));
    }

    #[cfg(feature = "pki")]
    #[test]
    fn rcgen_certificates_are_v3() {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;

        let pki =
            crate::pki::Pki::generate("v1 test CA", &["localhost"], &["app.example"]).unwrap();
        let der = CertificateDer::from_pem_slice(pki.clients[0].1.as_bytes());
        let der = der.expect("client PEM");
        assert!(!is_x509_v1(&der));
        assert!(!is_x509_v1(b"not a certificate"));
    }
}
