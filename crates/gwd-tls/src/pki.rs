//! A throw-away PKI for examples and tests: one CA, one server certificate
//! for a set of names, and client certificates whose CN is the name an
//! origin registers under.
//!
//! Certificates are valid from 2024-01-01 to 2099-12-31 so committed
//! example files do not expire under anyone's feet. Never use them outside
//! tests: the CA key is committed next to them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::TlsError;

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

fn params(cn: &str, sans: Vec<String>) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "gwd test PKI");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 12, 31);
    Ok(p)
}

impl Pki {
    /// Generates a CA named `ca_name`, a server certificate for
    /// `server_names` (CN = first name) and one client certificate per
    /// entry of `client_names` (CN and DNS SAN = that name).
    pub fn generate(
        ca_name: &str,
        server_names: &[&str],
        client_names: &[&str],
    ) -> Result<Pki, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = params(ca_name, Vec::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);

        let server_key = KeyPair::generate()?;
        let mut sp = params(
            server_names.first().copied().unwrap_or("localhost"),
            server_names.iter().map(|s| s.to_string()).collect(),
        )?;
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = sp.signed_by(&server_key, &issuer)?;

        let mut clients = Vec::new();
        for name in client_names {
            let key = KeyPair::generate()?;
            let mut cp = params(name, vec![name.to_string()])?;
            cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let cert = cp.signed_by(&key, &issuer)?;
            clients.push((name.to_string(), cert.pem(), key.serialize_pem()));
        }
        Ok(Pki {
            ca_name: ca_name.to_string(),
            ca_cert: ca_cert.pem(),
            ca_key: ca_key.serialize_pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
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
        let ca_key = KeyPair::from_pem(&self.ca_key)?;
        let mut ca_params = params(&self.ca_name, Vec::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let key = KeyPair::generate()?;
        let mut cp = params(name, vec![name.to_string()])?;
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        cp.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        cp.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert = cp.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Writes `ca.crt`, `ca.key`, `<server_stem>.crt/.key` (`server` by
    /// default via [`Pki::write_to`]) and `<client>.crt/.key` into `dir`.
    pub fn write_named(&self, dir: &Path, server_stem: &str) -> io::Result<PkiFiles> {
        fs::create_dir_all(dir)?;
        let put = |name: &str, text: &str| -> io::Result<PathBuf> {
            let p = dir.join(name);
            fs::write(&p, text)?;
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
