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
    let mut push = |n: &str| {
        let n = n.trim().to_ascii_lowercase();
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
