//! Registration names from the origin's client certificate.

use crate::error::RhttpError;

/// Which certificate fields name a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamePolicy {
    /// Use the subject CN (HAProxy's `ssl_c_s_dn(CN)`).
    pub common_name: bool,
    /// Also use every DNS subject alternative name.
    pub dns_sans: bool,
}

impl Default for NamePolicy {
    /// CN only, as HAProxy's usual `name ssl_c_s_dn(CN)`.
    fn default() -> Self {
        NamePolicy {
            common_name: true,
            dns_sans: false,
        }
    }
}

/// The names a DER certificate may register under, by `policy`: lower-cased,
/// deduplicated, CN first. Empty when the certificate cannot be parsed or
/// has none of the fields asked for.
///
/// ```
/// let pki = gwd_tls::pki::Pki::generate("CA", &["gw"], &["App.Example"]).unwrap();
/// let pem = &pki.clients[0].1;
/// let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
/// # use rustls_pki_types::pem::PemObject;
/// let names = gwd_rhttp::names_from_cert(&der, gwd_rhttp::NamePolicy { common_name: true, dns_sans: true });
/// assert_eq!(names, vec!["app.example".to_string()]);
/// ```
pub fn names_from_cert(der: &[u8], policy: NamePolicy) -> Vec<String> {
    let Some(info) = gwd_tls::cert_info(der) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    // Exactly as the certificate gives it, ASCII letters lowered: no
    // trimming (Unicode white space trimmed made "b.localhost\u{a0}" the
    // name "b.localhost", one the certificate does not carry). A name
    // with white space matches no Host, as in HAProxy.
    let mut push = |n: &str| {
        let n = n.to_ascii_lowercase();
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
    };
    if policy.common_name {
        for (k, v) in &info.subject {
            if k == "CN" {
                push(v);
            }
        }
    }
    if policy.dns_sans {
        for n in &info.dns_sans {
            push(n);
        }
    }
    out
}

/// The registration names of a finished server-side TLS session: from the
/// verified client certificate's leaf, by `policy`. Errors with
/// [`RhttpError::NoName`] when there is no certificate or no name.
pub fn registration_names(
    conn: &rustls::ServerConnection,
    policy: NamePolicy,
) -> Result<Vec<String>, RhttpError> {
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or(RhttpError::NoName)?;
    let names = names_from_cert(leaf, policy);
    if names.is_empty() {
        return Err(RhttpError::NoName);
    }
    Ok(names)
}

/// Checks that a TLS session negotiated ALPN `h2` (HAProxy closes
/// registrations that did not, with its error 44).
pub fn check_alpn_h2(conn: &rustls::CommonState) -> Result<(), RhttpError> {
    match conn.alpn_protocol() {
        Some(b"h2") => Ok(()),
        other => Err(RhttpError::NotH2(
            other.map(|p| String::from_utf8_lossy(p).into_owned()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name is the certificate's, ASCII letters lowered, nothing
    /// trimmed: a CN ending in a no-break space is not "b.localhost"
    /// (it used to register as that, joining another origin's tunnels).
    #[test]
    fn names_are_not_trimmed() {
        for cn in ["B.localhost\u{a0}", "\u{3000}b.localhost", "b.localhost "] {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let names = names_from_cert(
                cert.der(),
                NamePolicy {
                    common_name: true,
                    dns_sans: false,
                },
            );
            assert_eq!(names, vec![cn.to_ascii_lowercase()], "{cn:?}");
        }
    }
}
