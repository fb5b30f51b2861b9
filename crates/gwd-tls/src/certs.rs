//! A bind's server certificates: HAProxy's `crt` (files and directories)
//! and `crt-list`, loaded and checked once, then chosen per handshake by
//! SNI.
//!
//! Loading ([`load_bind_certs`]) reads every file, refuses what a
//! handshake could not use (not PEM, no key, a key that is encrypted or is
//! not the certificate's) with the file's path, and warns about
//! certificates expired or expiring soon. `gwd check`, start and reload
//! all go through it, so a configuration the check calls valid does not
//! fail at start on its certificates.
//!
//! Choice ([`SniResolver`]): the exact server name first, then a wildcard
//! (`*.example.com` covers one label), else the first certificate loaded.
//! A handshake costs at most a few hash lookups; nothing is read from disk.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::{TlsError, file_err, is_x509_v1_error, x509_v1_help};

/// A certificate expiring within this many days gets a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// File name endings a `crt` directory holds beside certificates, which
/// are not certificates themselves (HAProxy skips the same ones).
const SKIPPED_IN_DIR: &[&str] = &[".key", ".ocsp", ".issuer", ".sctl"];

/// Where a bind's certificates come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertSources {
    /// `crt`: PEM files (chain, and the key unless it is in `<file>.key`)
    /// and directories of them, in order.
    pub crts: Vec<PathBuf>,
    /// `crt-list`: files of `<crt> [sni filters]` lines.
    pub crt_lists: Vec<PathBuf>,
    /// gwd's `key`: the key of the one `crt` file, kept apart.
    pub key: Option<PathBuf>,
}

/// Something worth telling the operator about a certificate that still
/// loads (it expired, or expires soon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertWarning {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for CertWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// One certificate to load, with its SNI filters from a crt-list line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    cert: PathBuf,
    key: Option<PathBuf>,
    /// Positive filters: the names this certificate answers instead of
    /// its own. Empty: the names in the certificate.
    names: Vec<String>,
    /// `!name` filters: names this certificate never answers.
    excluded: Vec<String>,
}

/// Every certificate of a bind, loaded: the resolver and the warnings.
#[derive(Debug)]
pub struct LoadedCerts {
    pub resolver: Arc<SniResolver>,
    pub warnings: Vec<CertWarning>,
}

/// Reads every certificate `src` names; `now` is Unix seconds (for the
/// expiry warnings). All problems are collected: one error per file.
pub fn load_bind_certs(
    src: &CertSources,
    provider: &CryptoProvider,
    now: i64,
) -> Result<LoadedCerts, TlsError> {
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    for crt in &src.crts {
        if crt.is_dir() {
            match dir_entries(crt) {
                Ok(files) if files.is_empty() => errors.push(file_err(
                    crt,
                    "directory holds no certificate file (`.key`, `.ocsp`, `.issuer`, `.sctl` \
                     and hidden files are skipped)",
                )),
                Ok(files) => entries.extend(files.into_iter().map(|cert| Entry {
                    cert,
                    key: None,
                    names: Vec::new(),
                    excluded: Vec::new(),
                })),
                Err(e) => errors.push(e),
            }
        } else {
            entries.push(Entry {
                cert: crt.clone(),
                key: src.key.clone(),
                names: Vec::new(),
                excluded: Vec::new(),
            });
        }
    }
    for list in &src.crt_lists {
        match std::fs::read_to_string(list) {
            Ok(text) => {
                let (ok, bad) = parse_crt_list(list, &text);
                entries.extend(ok);
                errors.extend(bad);
            }
            Err(e) => errors.push(file_err(list, format!("cannot read crt-list: {e}"))),
        }
    }
    let mut builder = SniResolver::builder();
    let mut warnings = Vec::new();
    for e in &entries {
        match load_entry(e, provider, now, &mut warnings) {
            Ok((key, cert_names)) => {
                let names = if e.names.is_empty() {
                    cert_names
                } else {
                    e.names.clone()
                };
                builder.add(Arc::new(key), &names, &e.excluded);
            }
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() && builder.is_empty() {
        let at = src.crt_lists.first().or(src.crts.first());
        errors.push(match at {
            Some(p) => file_err(p, "no certificate in it"),
            None => TlsError::Verifier("a TLS bind needs `crt` or `crt-list`".into()),
        });
    }
    match errors.len() {
        0 => Ok(LoadedCerts {
            resolver: Arc::new(builder.build()),
            warnings,
        }),
        1 => Err(errors.remove(0)),
        _ => Err(TlsError::Files(errors)),
    }
}

/// The certificate files of a `crt` directory, in name order.
fn dir_entries(dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
    let rd = std::fs::read_dir(dir).map_err(|e| file_err(dir, format!("cannot list: {e}")))?;
    let mut files = Vec::new();
    for de in rd {
        let de = de.map_err(|e| file_err(dir, format!("cannot list: {e}")))?;
        let name = de.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || SKIPPED_IN_DIR.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let path = de.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses a crt-list: `<crt> [sni filter ...]` per line; `#` comments
/// and blank lines skipped. Per-line SSL options (`[...]`) are refused.
fn parse_crt_list(list: &Path, text: &str) -> (Vec<Entry>, Vec<TlsError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = PathBuf::from(format!("{}:{}", list.display(), i + 1));
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(cert) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        if rest.iter().any(|w| w.starts_with('[')) {
            bad.push(file_err(
                &at,
                format!(
                    "per-certificate SSL options (`[...]`) in a crt-list are not supported yet: \
                     `{line}`; set them on the bind instead"
                ),
            ));
            continue;
        }
        let mut names = Vec::new();
        let mut excluded = Vec::new();
        for w in rest {
            match w.strip_prefix('!') {
                Some(n) if !n.is_empty() => excluded.push(n.to_ascii_lowercase()),
                Some(_) => bad.push(file_err(&at, "empty negative SNI filter `!`")),
                None => names.push(w.to_ascii_lowercase()),
            }
        }
        ok.push(Entry {
            cert: PathBuf::from(cert),
            key: None,
            names,
            excluded,
        });
    }
    (ok, bad)
}

/// Loads one certificate chain and its key; returns the key ready for
/// rustls and the names the certificate carries.
fn load_entry(
    e: &Entry,
    provider: &CryptoProvider,
    now: i64,
    warnings: &mut Vec<CertWarning>,
) -> Result<(CertifiedKey, Vec<String>), TlsError> {
    let path = &e.cert;
    let bytes = std::fs::read(path).map_err(|err| file_err(path, format!("cannot read: {err}")))?;
    let chain = certs_from_pem(path, &bytes)?;
    let (key_path, key) = match &e.key {
        Some(k) => {
            let kb =
                std::fs::read(k).map_err(|err| file_err(k, format!("cannot read key: {err}")))?;
            (k.clone(), key_from_pem(k, &kb)?)
        }
        None => match key_from_pem(path, &bytes) {
            Ok(key) => (path.clone(), key),
            Err(TlsError::File { what, .. }) if what.starts_with(NO_KEY) => {
                let beside = with_suffix(path, ".key");
                match std::fs::read(&beside) {
                    Ok(kb) => (beside.clone(), key_from_pem(&beside, &kb)?),
                    Err(_) => {
                        return Err(file_err(
                            path,
                            format!(
                                "no private key: neither in this file nor in {}",
                                beside.display()
                            ),
                        ));
                    }
                }
            }
            Err(err) => return Err(err),
        },
    };
    let mut ck = CertifiedKey::from_der(chain, key, provider).map_err(|err| {
        if is_x509_v1_error(&err) {
            return file_err(path, x509_v1_help("server"));
        }
        match err {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => file_err(
                path,
                format!(
                    "private key does not match the certificate (key from {})",
                    key_path.display()
                ),
            ),
            err => file_err(
                path,
                format!("certificate and key do not form a usable pair: {err}"),
            ),
        }
    })?;
    let ocsp_path = with_suffix(path, ".ocsp");
    if ocsp_path.is_file() {
        let ocsp = std::fs::read(&ocsp_path)
            .map_err(|err| file_err(&ocsp_path, format!("cannot read OCSP response: {err}")))?;
        if ocsp.is_empty() {
            return Err(file_err(&ocsp_path, "OCSP response file is empty"));
        }
        ck.ocsp = Some(ocsp);
    }
    let facts = leaf_facts(&ck.cert[0]);
    if let Some(not_after) = facts.not_after {
        let days_left = (not_after - now).div_euclid(86_400);
        let date = utc_date(not_after);
        if not_after <= now {
            warnings.push(CertWarning {
                path: path.clone(),
                message: format!("certificate expired on {date}"),
            });
        } else if days_left < EXPIRY_WARNING_DAYS {
            warnings.push(CertWarning {
                path: path.clone(),
                message: format!("certificate expires on {date}, in {days_left} day(s)"),
            });
        }
    }
    Ok((ck, facts.names))
}

const NO_KEY: &str = "no PRIVATE KEY block";

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Every certificate of a PEM file, in order; a file with none is "not
/// PEM" (what operators meet when they point `crt` at a DER file or a
/// key).
fn certs_from_pem(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(
            path,
            "not a PEM certificate: no `-----BEGIN CERTIFICATE-----` block found",
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file; an encrypted one is refused by name.
fn key_from_pem(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(k) => Ok(k),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            if is_encrypted_key(bytes) {
                Err(file_err(path, ENCRYPTED_KEY))
            } else {
                Err(file_err(path, format!("{NO_KEY} found")))
            }
        }
        Err(e) => Err(file_err(path, format!("cannot read private key: {e}"))),
    }
}

/// The message for an encrypted private key.
pub const ENCRYPTED_KEY: &str = "private key is encrypted: gwd needs it unencrypted \
     (decrypt it with `openssl pkey -in <key> -out <plain key>`, mode 0600)";

/// PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy encrypted PEM
/// (`Proc-Type: 4,ENCRYPTED` in a PKCS#1/SEC1 block).
pub(crate) fn is_encrypted_key(pem: &[u8]) -> bool {
    let has = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED")
}

struct LeafFacts {
    /// SAN DNS names, else the subject CN (HAProxy's rule), lower case.
    names: Vec<String>,
    /// notAfter, Unix seconds.
    not_after: Option<i64>,
}

fn leaf_facts(der: &[u8]) -> LeafFacts {
    let Some(cert) = crate::x509::cert_facts(der) else {
        return LeafFacts {
            names: Vec::new(),
            not_after: None,
        };
    };
    let mut names: Vec<String> = cert
        .dns_sans
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    if names.is_empty() {
        names.extend(
            cert.subject
                .iter()
                .filter(|(k, _)| k == "CN")
                .map(|(_, v)| v.to_ascii_lowercase()),
        );
    }
    LeafFacts {
        names,
        not_after: cert.not_after,
    }
}

/// `YYYY-MM-DD` (UTC) of Unix seconds.
fn utc_date(secs: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Chooses a bind's certificate by SNI: exact name, then wildcard, then
/// the first certificate loaded.
#[derive(Debug)]
pub struct SniResolver {
    /// In load order; `certs[0]` is the default.
    certs: Vec<Arc<CertifiedKey>>,
    /// Lower-case name → the first certificate answering it.
    exact: HashMap<Box<str>, usize>,
    /// `example.com` for `*.example.com` → certificates in load order.
    wild: HashMap<Box<str>, Vec<usize>>,
    /// `!name` filters: name → certificates refusing it.
    excluded: HashMap<Box<str>, Vec<usize>>,
    /// `!*.suffix` filters: suffix → certificates refusing it.
    excluded_wild: HashMap<Box<str>, Vec<usize>>,
}

/// Builds an [`SniResolver`].
#[derive(Debug, Default)]
pub struct SniResolverBuilder {
    certs: Vec<Arc<CertifiedKey>>,
    exact: HashMap<Box<str>, usize>,
    wild: HashMap<Box<str>, Vec<usize>>,
    excluded: HashMap<Box<str>, Vec<usize>>,
    excluded_wild: HashMap<Box<str>, Vec<usize>>,
}

impl SniResolverBuilder {
    /// Adds a certificate answering `names` (exact or `*.` wildcards)
    /// except `excluded` ones. The first added is the default.
    pub fn add(&mut self, key: Arc<CertifiedKey>, names: &[String], excluded: &[String]) {
        let i = self.certs.len();
        self.certs.push(key);
        for n in excluded {
            let n = n.to_ascii_lowercase();
            match n.strip_prefix("*.") {
                Some(suffix) => self.excluded_wild.entry(suffix.into()).or_default(),
                None => self.excluded.entry(n.into()).or_default(),
            }
            .push(i);
        }
        for n in names {
            let n = n.to_ascii_lowercase();
            if excluded.iter().any(|x| x.eq_ignore_ascii_case(&n)) {
                continue;
            }
            match n.strip_prefix("*.") {
                Some(suffix) if !suffix.is_empty() => {
                    let v = self.wild.entry(suffix.into()).or_default();
                    if !v.contains(&i) {
                        v.push(i);
                    }
                }
                _ => {
                    self.exact.entry(n.into()).or_insert(i);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// # Panics
    /// When no certificate was added (a bind always has one).
    pub fn build(self) -> SniResolver {
        assert!(!self.certs.is_empty(), "a resolver needs a certificate");
        SniResolver {
            certs: self.certs,
            exact: self.exact,
            wild: self.wild,
            excluded: self.excluded,
            excluded_wild: self.excluded_wild,
        }
    }
}

impl SniResolver {
    pub fn builder() -> SniResolverBuilder {
        SniResolverBuilder::default()
    }

    /// How many certificates the bind holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true: a resolver holds at least its default.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The index (load order) of the certificate for `sni` (lower case,
    /// as rustls gives it).
    pub fn pick(&self, sni: Option<&str>) -> usize {
        let Some(name) = sni else { return 0 };
        if let Some(&i) = self.exact.get(name) {
            return i;
        }
        let Some((_, suffix)) = name.split_once('.') else {
            return 0;
        };
        let Some(cands) = self.wild.get(suffix) else {
            return 0;
        };
        if self.excluded.is_empty() && self.excluded_wild.is_empty() {
            return cands[0];
        }
        let by_name = self.excluded.get(name);
        let by_wild = self.excluded_wild.get(suffix);
        let refuses = |v: Option<&Vec<usize>>, i: &usize| v.is_some_and(|v| v.contains(i));
        cands
            .iter()
            .copied()
            .find(|i| !refuses(by_name, i) && !refuses(by_wild, i))
            .unwrap_or(0)
    }

    /// The certificate at `index` (load order).
    pub fn get(&self, index: usize) -> Option<&Arc<CertifiedKey>> {
        self.certs.get(index)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        let i = match name {
            Some(n) if n.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.pick(Some(&n.to_ascii_lowercase()))
            }
            n => self.pick(n),
        };
        Some(self.certs[i].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    /// A self-signed certificate for `names` and its key, as PEM.
    fn self_signed(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let c = rcgen::generate_simple_self_signed(names).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn key_for(names: &[&str]) -> Arc<CertifiedKey> {
        let (cert, key) = self_signed(names);
        let chain = certs_from_pem(Path::new("t"), cert.as_bytes()).unwrap();
        let key = key_from_pem(Path::new("t"), key.as_bytes()).unwrap();
        Arc::new(CertifiedKey::from_der(chain, key, &provider()).unwrap())
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn resolver(certs: &[(&[&str], &[&str])]) -> SniResolver {
        let mut b = SniResolver::builder();
        for (pos, neg) in certs {
            b.add(key_for(&["x.invalid"]), &names(pos), &names(neg));
        }
        b.build()
    }

    #[test]
    fn exact_name_first_then_wildcard_then_default() {
        let r = resolver(&[
            (&["default.test"], &[]),
            (&["*.example.com"], &[]),
            (&["www.example.com"], &[]),
        ]);
        assert_eq!(r.pick(Some("www.example.com")), 2, "exact beats wildcard");
        assert_eq!(r.pick(Some("api.example.com")), 1);
        assert_eq!(r.pick(Some("default.test")), 0);
        assert_eq!(r.pick(Some("other.test")), 0, "unknown: default");
        assert_eq!(r.pick(None), 0, "no SNI: default");
    }

    #[test]
    fn wildcard_covers_one_label_only() {
        let r = resolver(&[(&["d.test"], &[]), (&["*.example.com"], &[])]);
        assert_eq!(r.pick(Some("a.example.com")), 1);
        assert_eq!(r.pick(Some("a.b.example.com")), 0);
        assert_eq!(r.pick(Some("example.com")), 0);
        assert_eq!(r.pick(Some("com")), 0);
    }

    #[test]
    fn negative_filters_exclude_names_from_a_certificate() {
        let r = resolver(&[
            (&["d.test"], &[]),
            (&["*.example.com"], &["secure.example.com"]),
            (&["*.example.com"], &[]),
        ]);
        assert_eq!(r.pick(Some("www.example.com")), 1);
        assert_eq!(
            r.pick(Some("secure.example.com")),
            2,
            "the next certificate of that wildcard"
        );
        let r = resolver(&[
            (&["d.test"], &[]),
            (
                &["*.example.com", "a.test"],
                &["secure.example.com", "a.test"],
            ),
        ]);
        assert_eq!(r.pick(Some("secure.example.com")), 0, "else the default");
        assert_eq!(r.pick(Some("a.test")), 0, "a name both given and refused");
        let r = resolver(&[(&["d.test"], &[]), (&["*.example.com"], &["*.example.com"])]);
        assert_eq!(r.pick(Some("www.example.com")), 0);
    }

    #[test]
    fn first_certificate_wins_a_shared_name() {
        let r = resolver(&[(&["a.test"], &[]), (&["b.test"], &[]), (&["b.test"], &[])]);
        assert_eq!(r.pick(Some("b.test")), 1);
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gwd-tls-certs-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_pair(dir: &Path, stem: &str, names: &[&str], combined: bool) -> PathBuf {
        let (cert, key) = self_signed(names);
        let crt = dir.join(format!("{stem}.pem"));
        if combined {
            std::fs::write(&crt, format!("{cert}{key}")).unwrap();
        } else {
            std::fs::write(&crt, cert).unwrap();
            std::fs::write(dir.join(format!("{stem}.pem.key")), key).unwrap();
        }
        crt
    }

    fn names_of(l: &LoadedCerts, sni: &str) -> Vec<String> {
        let ck = l.resolver.get(l.resolver.pick(Some(sni))).unwrap();
        leaf_facts(&ck.cert[0]).names
    }

    #[test]
    fn directory_loads_every_certificate_skipping_companions() {
        let d = scratch("dir");
        write_pair(&d, "a", &["a.test"], true);
        write_pair(&d, "b", &["b.test"], false);
        std::fs::write(d.join("b.pem.ocsp"), b"\x30\x03\x0a\x01\x00").unwrap();
        std::fs::write(d.join("a.pem.issuer"), b"junk").unwrap();
        std::fs::write(d.join(".hidden"), b"junk").unwrap();
        let src = CertSources {
            crts: vec![d.clone()],
            ..Default::default()
        };
        let l = load_bind_certs(&src, &provider(), crate::unix_now()).unwrap();
        assert_eq!(l.resolver.len(), 2);
        assert_eq!(names_of(&l, "b.test"), ["b.test"]);
        assert_eq!(names_of(&l, "zzz"), ["a.test"], "default: first by name");
        let b = l.resolver.get(1).unwrap();
        assert_eq!(b.ocsp.as_deref(), Some(&b"\x30\x03\x0a\x01\x00"[..]));
        assert!(l.warnings.is_empty());
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn crt_list_lines_take_filters_and_refuse_options() {
        let d = scratch("list");
        let a = write_pair(&d, "a", &["a.test"], true);
        let w = write_pair(&d, "w", &["*.example.com"], true);
        let list = d.join("list.txt");
        std::fs::write(
            &list,
            format!(
                "# comment\n\n{} \n{} *.example.com !secure.example.com\n",
                a.display(),
                w.display()
            ),
        )
        .unwrap();
        let src = CertSources {
            crt_lists: vec![list.clone()],
            ..Default::default()
        };
        let l = load_bind_certs(&src, &provider(), crate::unix_now()).unwrap();
        assert_eq!(l.resolver.pick(Some("www.example.com")), 1);
        assert_eq!(l.resolver.pick(Some("secure.example.com")), 0);
        std::fs::write(&list, format!("{} [alpn h2] a.test\n", a.display())).unwrap();
        let e = load_bind_certs(&src, &provider(), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("list.txt:1"), "{e}");
        assert!(e.contains("not supported yet"), "{e}");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn broken_files_are_named_with_what_is_wrong() {
        let d = scratch("broken");
        let not_pem = d.join("notpem.pem");
        std::fs::write(&not_pem, b"\x30\x82\x01\x00 binary DER").unwrap();
        let (cert, _) = self_signed(&["m.test"]);
        let (_, other_key) = self_signed(&["m.test"]);
        let mismatch = d.join("mismatch.pem");
        std::fs::write(&mismatch, format!("{cert}{other_key}")).unwrap();
        let enc = d.join("enc.pem");
        std::fs::write(
            &enc,
            format!(
                "{cert}-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
            ),
        )
        .unwrap();
        let nokey = d.join("nokey.pem");
        std::fs::write(&nokey, &cert).unwrap();
        let src = CertSources {
            crts: vec![
                not_pem.clone(),
                mismatch.clone(),
                enc.clone(),
                nokey.clone(),
            ],
            ..Default::default()
        };
        let e = load_bind_certs(&src, &provider(), 0).unwrap_err();
        let msgs: Vec<String> = e.each().iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[0].starts_with(&format!("{}: not a PEM", not_pem.display())),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains("private key does not match the certificate"),
            "{msgs:?}"
        );
        assert!(
            msgs[2].contains("private key is encrypted: gwd needs it unencrypted"),
            "{msgs:?}"
        );
        assert!(msgs[3].contains("no private key"), "{msgs:?}");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn expired_and_expiring_certificates_warn_with_their_date() {
        let d = scratch("expiry");
        let crt = write_pair(&d, "a", &["a.test"], true);
        let src = CertSources {
            crts: vec![crt.clone()],
            ..Default::default()
        };
        // rcgen's simple certificates end on 4096-01-01.
        let end = 4_096i64;
        let not_after = (end - 1970) * 31_556_952; // near enough for "in N days"
        let l = load_bind_certs(&src, &provider(), not_after).unwrap();
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert!(
            l.warnings[0].message.contains("4096-01-01"),
            "{:?}",
            l.warnings
        );
        let l = load_bind_certs(&src, &provider(), i64::MAX / 2).unwrap();
        assert_eq!(
            l.warnings[0].message, "certificate expired on 4096-01-01",
            "{:?}",
            l.warnings
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_798_761_599), "2026-12-31");
    }

    #[test]
    fn names_fall_back_to_the_common_name_without_san() {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "CN.Only.Test");
        let k = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&k).unwrap();
        assert_eq!(leaf_facts(c.der()).names, ["cn.only.test"]);
    }
}
