//! A throw-away PKI for examples and tests: one CA, one server certificate
//! for a set of names, and client certificates whose CN is the name an
//! origin registers under.
//!
//! By default certificates are valid from 2024-01-01 to 2099-12-31 so
//! committed example files do not expire under anyone's feet
//! ([`Validity::Fixed`]); [`Validity::Days`] makes them valid from a day
//! before now for a number of days. Never use them outside tests: the CA
//! key is committed next to them.
//!
//! A [`Ca`] can be generated or loaded back from its PEM files, so more
//! certificates can be signed later by the same CA (`gwd pki` run again
//! to add an origin keeps the CA every earlier certificate chains to).
//! Private keys are written readable by their owner only (mode 0600).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::TlsError;

/// How long generated certificates are valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Validity {
    /// 2024-01-01 to 2099-12-31: files committed with examples and tests
    /// never expire.
    #[default]
    Fixed,
    /// From one day before now (for clocks that lag a little) to this many
    /// days after now.
    Days(u32),
}

impl Validity {
    fn apply(self, p: &mut CertificateParams) {
        match self {
            Validity::Fixed => {
                p.not_before = rcgen::date_time_ymd(2024, 1, 1);
                p.not_after = rcgen::date_time_ymd(2099, 12, 31);
            }
            Validity::Days(days) => {
                let epoch = rcgen::date_time_ymd(1970, 1, 1);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                const DAY: Duration = Duration::from_secs(86_400);
                p.not_before = epoch + now.saturating_sub(DAY);
                p.not_after = epoch + now + DAY * days;
            }
        }
    }
}

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    name: String,
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn params(cn: &str, sans: Vec<String>, validity: Validity) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "gwd test PKI");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    validity.apply(&mut p);
    Ok(p)
}

impl Ca {
    /// Generates a new CA whose CN is `name`.
    pub fn generate(name: &str, validity: Validity) -> Result<Ca, TlsError> {
        let key = KeyPair::generate()?;
        let mut p = params(name, Vec::new(), validity)?;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key)?;
        Ca::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// Loads a CA back from its certificate and private key (PEM), e.g.
    /// the `ca.crt` and `ca.key` an earlier run wrote. Fails when the key
    /// is not the certificate's.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let der = pem_der(cert_pem)?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| TlsError::Pki("the CA certificate is not X.509".into()))?;
        let is_ca = x509
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|b| b.value.ca);
        if !is_ca {
            return Err(TlsError::Pki(
                "the CA certificate is not a CA (no basicConstraints CA:TRUE)".into(),
            ));
        }
        if x509.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
            return Err(TlsError::Pki(
                "the CA key does not belong to the CA certificate".into(),
            ));
        }
        let name = x509
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_string();
        let issuer = Issuer::from_ca_cert_der(&der.into(), key)?;
        Ok(Ca {
            name,
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key (PEM).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Signs a server certificate for `names` (CN = the first name).
    /// Returns (cert PEM, key PEM).
    pub fn server(&self, names: &[&str], validity: Validity) -> Result<(String, String), TlsError> {
        let key = KeyPair::generate()?;
        let mut p = params(
            names.first().copied().unwrap_or("localhost"),
            names.iter().map(|s| s.to_string()).collect(),
            validity,
        )?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Signs a client certificate whose CN and DNS SAN are `name`.
    /// Returns (cert PEM, key PEM).
    pub fn client(&self, name: &str, validity: Validity) -> Result<(String, String), TlsError> {
        let key = KeyPair::generate()?;
        let mut p = params(name, vec![name.to_string()], validity)?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// The DNS names (subjectAltName) of the first certificate in `pem`;
/// `None` when it is no certificate.
pub fn dns_names(pem: &str) -> Option<Vec<String>> {
    let der = pem_der(pem).ok()?;
    crate::cert_info(&der).map(|i| i.dns_sans)
}

fn pem_der(pem: &str) -> Result<Vec<u8>, TlsError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|_| TlsError::Pki("the CA certificate is not PEM".into()))
}

/// What [`write_file`] does when `path` already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave it and fail with [`io::ErrorKind::AlreadyExists`] (also when
    /// another process creates it meanwhile).
    Keep,
    /// Replace it (a symbolic link is replaced, never written through).
    Replace,
}

/// Writes `text` to `path` through a new file in the same directory, then
/// links it into place: never through a symbolic link, never half
/// written. A private key (`secret`) is created readable by its owner
/// only (mode 0600).
pub fn write_file(path: &Path, text: &str, secret: bool, existing: Existing) -> io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let written = o.open(&tmp).and_then(|mut f| f.write_all(text.as_bytes()));
    let placed = written.and_then(|()| match existing {
        Existing::Replace => fs::rename(&tmp, path),
        // A hard link is created only where nothing is, atomically.
        Existing::Keep => fs::hard_link(&tmp, path),
    });
    if existing == Existing::Keep || placed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    placed
}

/// PEM texts of a generated PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
    /// (file stem, cert PEM, key PEM) per client. The stem starts as the
    /// client's name (its CN); change it to write the files under another
    /// name, e.g. `origin.crt` for a certificate whose CN is `app.localhost`.
    pub clients: Vec<(String, String, String)>,
    /// The CA's name (its CN), to sign more certificates later.
    pub ca_name: String,
}

/// Where [`Pki::write_to`] put each file.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

impl Pki {
    /// Generates a CA named `ca_name`, a server certificate for
    /// `server_names` (CN = first name) and one client certificate per
    /// entry of `client_names` (CN and DNS SAN = that name), valid
    /// 2024-2099 ([`Validity::Fixed`]).
    pub fn generate(
        ca_name: &str,
        server_names: &[&str],
        client_names: &[&str],
    ) -> Result<Pki, TlsError> {
        let ca = Ca::generate(ca_name, Validity::Fixed)?;
        Pki::signed_by(&ca, server_names, client_names, Validity::Fixed)
    }

    /// A server certificate and client certificates signed by `ca`.
    pub fn signed_by(
        ca: &Ca,
        server_names: &[&str],
        client_names: &[&str],
        validity: Validity,
    ) -> Result<Pki, TlsError> {
        let (server_cert, server_key) = ca.server(server_names, validity)?;
        let mut clients = Vec::new();
        for name in client_names {
            let (cert, key) = ca.client(name, validity)?;
            clients.push((name.to_string(), cert, key));
        }
        Ok(Pki {
            ca_name: ca.name().to_string(),
            ca_cert: ca.cert_pem().to_string(),
            ca_key: ca.key_pem().to_string(),
            server_cert,
            server_key,
            clients,
        })
    }

    /// Signs one more client certificate (CN and DNS SAN = `name`) with
    /// this PKI's CA, valid from `not_before` to `not_after` given as
    /// (year, month, day): tests use it for expired or not-yet-valid
    /// certificates. Returns (cert PEM, key PEM).
    ///
    /// ```
    /// let pki = gwd_tls::pki::Pki::generate("CA", &["gw"], &[]).unwrap();
    /// let (cert, _key) = pki.client_valid_between("old.example", (2020, 1, 1), (2021, 1, 1)).unwrap();
    /// assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    /// ```
    pub fn client_valid_between(
        &self,
        name: &str,
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> Result<(String, String), TlsError> {
        let ca = Ca::from_pem(&self.ca_cert, &self.ca_key)?;
        let key = KeyPair::generate()?;
        let mut cp = params(name, vec![name.to_string()], Validity::Fixed)?;
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        cp.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        cp.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert = cp.signed_by(&key, &ca.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Writes `ca.crt`, `ca.key`, `<server_stem>.crt/.key` (`server` by
    /// default via [`Pki::write_to`]) and `<client>.crt/.key` into `dir`,
    /// replacing files of those names; keys get mode 0600.
    pub fn write_named(&self, dir: &Path, server_stem: &str) -> io::Result<PkiFiles> {
        fs::create_dir_all(dir)?;
        let put = |name: &str, text: &str| -> io::Result<PathBuf> {
            let p = dir.join(name);
            write_file(&p, text, name.ends_with(".key"), Existing::Replace)?;
            Ok(p)
        };
        let mut clients = Vec::new();
        for (name, cert, key) in &self.clients {
            clients.push((
                name.clone(),
                put(&format!("{name}.crt"), cert)?,
                put(&format!("{name}.key"), key)?,
            ));
        }
        Ok(PkiFiles {
            ca_cert: put("ca.crt", &self.ca_cert)?,
            ca_key: put("ca.key", &self.ca_key)?,
            server_cert: put(&format!("{server_stem}.crt"), &self.server_cert)?,
            server_key: put(&format!("{server_stem}.key"), &self.server_key)?,
            clients,
        })
    }

    /// [`Pki::write_named`] with the server files called `server.crt/.key`.
    pub fn write_to(&self, dir: &Path) -> io::Result<PkiFiles> {
        self.write_named(dir, "server")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x509_validity(pem: &str) -> (i64, i64) {
        let der = pem_der(pem).unwrap();
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        (
            c.validity().not_before.timestamp(),
            c.validity().not_after.timestamp(),
        )
    }

    #[test]
    fn a_loaded_ca_signs_certificates_that_chain_to_it() {
        let ca = Ca::generate("reload CA", Validity::Fixed).unwrap();
        let again = Ca::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(again.name(), "reload CA");
        let (cert, _) = again.client("app.example", Validity::Fixed).unwrap();
        let der = pem_der(&cert).unwrap();
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ca_der = pem_der(ca.cert_pem()).unwrap();
        let (_, cac) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        assert_eq!(c.issuer(), cac.subject());
        c.verify_signature(Some(cac.public_key()))
            .expect("signed by the loaded CA's key");
    }

    #[test]
    fn a_ca_key_that_is_not_the_certificates_is_refused() {
        let a = Ca::generate("A", Validity::Fixed).unwrap();
        let b = Ca::generate("B", Validity::Fixed).unwrap();
        let e = Ca::from_pem(a.cert_pem(), b.key_pem()).unwrap_err();
        assert!(e.to_string().contains("does not belong"), "{e}");
    }

    #[test]
    fn days_validity_starts_a_day_back_and_lasts_that_many_days() {
        let ca = Ca::generate("days CA", Validity::Days(30)).unwrap();
        let (cert, _) = ca.server(&["gw"], Validity::Days(30)).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (nb, na) = x509_validity(&cert);
        assert!((nb - (now - 86_400)).abs() < 120, "{nb} vs {now}");
        assert!((na - (now + 30 * 86_400)).abs() < 120, "{na} vs {now}");
        let (nb, na) = x509_validity(ca.cert_pem());
        assert!(nb < now && na > now);
        let (_, fixed) = x509_validity(&ca.server(&["gw"], Validity::Fixed).unwrap().0);
        assert_eq!(fixed, 4_102_358_400, "2099-12-31T00:00:00Z");
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_written_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("gwd-pki-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let files = Pki::generate("mode CA", &["gw"], &["app"])
            .unwrap()
            .write_to(&dir)
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.ca_key), 0o600);
        assert_eq!(mode(&files.server_key), 0o600);
        assert_eq!(mode(&files.clients[0].2), 0o600);
        assert_eq!(mode(&files.ca_cert) & 0o077, 0o044 & mode(&files.ca_cert));
        // An existing key written with a wider mode is replaced by one
        // with the narrow mode.
        fs::set_permissions(&files.ca_key, fs::Permissions::from_mode(0o644)).unwrap();
        write_file(&files.ca_key, "x", true, Existing::Replace).unwrap();
        assert_eq!(mode(&files.ca_key), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_are_never_written_through_and_kept_files_stay() {
        let dir = std::env::temp_dir().join(format!("gwd-pki-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("out")).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.join("out/a.crt");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        // Keep: the link is there, so nothing is written.
        let e = write_file(&link, "new", false, Existing::Keep).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        // Replace: the link itself is replaced, its target untouched.
        write_file(&link, "new", false, Existing::Replace).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&link).unwrap(), "new");
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A dangling link is not written through either.
        let dangling = dir.join("out/b.key");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(write_file(&dangling, "k", true, Existing::Keep).is_err());
        assert!(!dir.join("nowhere").exists());
        // No temporary file is left behind.
        let left: Vec<_> = fs::read_dir(dir.join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_that_is_not_a_ca_is_refused_as_one() {
        let ca = Ca::generate("real CA", Validity::Fixed).unwrap();
        let (cert, key) = ca.server(&["gw"], Validity::Fixed).unwrap();
        let e = Ca::from_pem(&cert, &key).unwrap_err();
        assert!(e.to_string().contains("not a CA"), "{e}");
    }
}
