//! The few facts gwd reads off a DER X.509 certificate: its version, the
//! subject and issuer attributes, the DNS subject alternative names and
//! `notAfter`.
//!
//! Model: a certificate is nested DER TLVs (tag, length, contents). This
//! module walks only the path to those fields:
//!
//! ```text
//! Certificate  SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! TBS          SEQUENCE { [0] version?, serial, signature, issuer Name,
//!                         validity { notBefore, notAfter }, subject Name,
//!                         subjectPublicKeyInfo, [1]?, [2]?, [3] extensions? }
//! Name         SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
//! SAN (2.5.29.17) extnValue: SEQUENCE OF GeneralName, dNSName = [2] IA5String
//! ```
//!
//! Invariants: every read is bounds-checked and returns `None` on a short,
//! indefinite-length or multi-byte-tag encoding, so no input panics; only
//! definite DER lengths up to 4 bytes are read (a certificate is far
//! smaller than 4 GiB). Nothing here verifies a signature or a chain:
//! rustls/webpki did that before a peer's certificate reaches these
//! functions, and the operator's own files are checked by rustls when a
//! configuration is built. A full ASN.1 crate (x509-parser) did this
//! before; the walk below replaced it because the reverse-HTTP crates built
//! on gwd-tls pulled its ~20 dependencies for these four facts.

/// The facts of one certificate, borrowing the DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFacts<'a> {
    /// X.509 version as encoded: 0 is v1 (no `[0]` field), 2 is v3.
    pub(crate) version: u64,
    /// Issuer attributes in order: (short name, value).
    pub(crate) issuer: Vec<(String, String)>,
    /// Subject attributes in order: (short name, value).
    pub(crate) subject: Vec<(String, String)>,
    /// `notAfter`, Unix seconds (UTC).
    pub(crate) not_after: Option<i64>,
    /// DNS names of the subject alternative name extension, as written.
    pub(crate) dns_sans: Vec<&'a str>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT` version.
const VERSION: u8 = 0xA0;
/// `[3] EXPLICIT` extensions.
const EXTENSIONS: u8 = 0xA3;
/// GeneralName `dNSName`: `[2] IMPLICIT IA5String`.
const DNS_NAME: u8 = 0x82;
/// id-ce-subjectAltName, 2.5.29.17, as DER contents.
const SAN_OID: &[u8] = &[0x55, 0x1D, 0x11];

/// A cursor over consecutive TLVs.
struct Tlvs<'a>(&'a [u8]);

impl<'a> Tlvs<'a> {
    /// The next TLV's tag and contents; `None` at the end or on a
    /// malformed or unsupported encoding.
    fn next_tlv(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        // High-tag-number form: X.509 never uses it.
        if tag & 0x1F == 0x1F {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            // 0x80 is the indefinite form (BER only); more than 4 length
            // bytes cannot describe a certificate.
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        self.0 = rest;
        Some((tag, contents))
    }

    /// The next TLV's contents if its tag is `want`.
    fn expect(&mut self, want: u8) -> Option<&'a [u8]> {
        match self.next_tlv()? {
            (tag, contents) if tag == want => Some(contents),
            _ => None,
        }
    }

    /// The next TLV's contents if its tag is `want`, leaving the cursor
    /// where it was otherwise (OPTIONAL fields).
    fn optional(&mut self, want: u8) -> Option<&'a [u8]> {
        let save = self.0;
        match self.next_tlv() {
            Some((tag, contents)) if tag == want => Some(contents),
            _ => {
                self.0 = save;
                None
            }
        }
    }
}

/// Reads the facts of a DER certificate; `None` when it does not parse
/// as far as the subject.
pub(crate) fn cert_facts(der: &[u8]) -> Option<CertFacts<'_>> {
    let cert = Tlvs(der).expect(SEQUENCE)?;
    let mut tbs = Tlvs(Tlvs(cert).expect(SEQUENCE)?);
    let version = match tbs.optional(VERSION) {
        Some(v) => uint(Tlvs(v).expect(0x02)?)?,
        None => 0,
    };
    let _serial = tbs.expect(0x02)?;
    let _signature = tbs.expect(SEQUENCE)?;
    let issuer = name(tbs.expect(SEQUENCE)?)?;
    let mut validity = Tlvs(tbs.expect(SEQUENCE)?);
    let _not_before = validity.next_tlv()?;
    let not_after = validity.next_tlv().and_then(|(tag, t)| time(tag, t));
    let subject = name(tbs.expect(SEQUENCE)?)?;
    let mut dns_sans = Vec::new();
    // The fields after the subject are read leniently: a certificate whose
    // extensions do not parse still has its names.
    let _spki = tbs.next_tlv();
    while let Some((tag, contents)) = tbs.next_tlv() {
        if tag == EXTENSIONS
            && let Some(exts) = Tlvs(contents).expect(SEQUENCE)
        {
            san_dns_names(exts, &mut dns_sans);
        }
    }
    Some(CertFacts {
        version,
        issuer,
        subject,
        not_after,
        dns_sans,
    })
}

/// Appends the dNSNames of the SAN extension found in `exts` (the
/// contents of `Extensions`).
fn san_dns_names<'a>(exts: &'a [u8], out: &mut Vec<&'a str>) {
    let mut exts = Tlvs(exts);
    while let Some(ext) = exts.expect(SEQUENCE) {
        let mut ext = Tlvs(ext);
        if ext.expect(OID) != Some(SAN_OID) {
            continue;
        }
        let _critical = ext.optional(BOOLEAN);
        let Some(value) = ext.expect(OCTET_STRING) else {
            return;
        };
        let Some(names) = Tlvs(value).expect(SEQUENCE) else {
            return;
        };
        let mut names = Tlvs(names);
        while let Some((tag, n)) = names.next_tlv() {
            if tag == DNS_NAME {
                // IA5String: ASCII; anything else is not a name to use.
                if let Ok(s) = std::str::from_utf8(n)
                    && s.is_ascii()
                {
                    out.push(s);
                }
            }
        }
        return;
    }
}

/// A DER INTEGER's contents as an unsigned value (versions are 0..=2).
fn uint(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// A Name's attributes in order, each as (short name, value).
fn name(contents: &[u8]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rdns = Tlvs(contents);
    while !rdns.0.is_empty() {
        let mut rdn = Tlvs(rdns.expect(SET)?);
        while !rdn.0.is_empty() {
            let mut atv = Tlvs(rdn.expect(SEQUENCE)?);
            let oid = atv.expect(OID)?;
            let (tag, value) = atv.next_tlv()?;
            out.push((short_name(oid), string_value(tag, value)));
        }
    }
    Some(out)
}

/// The text of a directory string. UTF8String, PrintableString,
/// IA5String and the other 8-bit string types are taken as UTF-8 (lossy:
/// a T61String with Latin-1 bytes keeps the rest of its text); BMPString
/// is UTF-16BE and UniversalString UTF-32BE.
fn string_value(tag: u8, value: &[u8]) -> String {
    match tag {
        // BMPString
        0x1E => {
            let units = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        // UniversalString
        0x1C => value
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => String::from_utf8_lossy(value).into_owned(),
    }
}

/// Attribute types by the short names OpenSSL prints (so HAProxy's DNs):
/// (DER contents of the OID, name).
const SHORT_NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x04], "SN"),
    (&[0x55, 0x04, 0x05], "serialNumber"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "street"),
    (&[0x55, 0x04, 0x0A], "O"),
    (&[0x55, 0x04, 0x0B], "OU"),
    (&[0x55, 0x04, 0x0C], "title"),
    (&[0x55, 0x04, 0x0D], "description"),
    (&[0x55, 0x04, 0x0F], "businessCategory"),
    (&[0x55, 0x04, 0x11], "postalCode"),
    (&[0x55, 0x04, 0x29], "name"),
    (&[0x55, 0x04, 0x2A], "GN"),
    (&[0x55, 0x04, 0x2B], "initials"),
    (&[0x55, 0x04, 0x2C], "generationQualifier"),
    (&[0x55, 0x04, 0x2D], "x500UniqueIdentifier"),
    (&[0x55, 0x04, 0x2E], "dnQualifier"),
    (&[0x55, 0x04, 0x41], "pseudonym"),
    (&[0x55, 0x04, 0x61], "organizationIdentifier"),
    // 1.2.840.113549.1.9.1
    (
        &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01],
        "emailAddress",
    ),
    // 0.9.2342.19200300.100.1.25
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19],
        "DC",
    ),
    // 0.9.2342.19200300.100.1.1
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// An attribute type's short name, else its dotted form.
fn short_name(oid: &[u8]) -> String {
    SHORT_NAMES
        .iter()
        .find(|(der, _)| *der == oid)
        .map_or_else(|| dotted(oid), |(_, n)| (*n).to_string())
}

/// An OID's dotted decimal form (`1.2.3.4`); a malformed encoding keeps
/// the arcs read so far.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for &b in oid {
        acc = acc.saturating_mul(128) | u128::from(b & 0x7F);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                // The first subidentifier packs the first two arcs.
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`) as Unix seconds; DER requires the `Z` form.
fn time(tag: u8, t: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match tag {
        UTC_TIME if t.len() == 13 => {
            let yy = digits(&t[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &t[2..])
        }
        GENERALIZED_TIME if t.len() == 15 => (digits(&t[..4])?, &t[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, min, sec) = (field(4)?, field(6)?, field(8)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    // Second 60: a leap second (UTCTime allows it).
    if !(1..=12).contains(&month)
        || !(1..=days_in_month).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER TLV with a definite length.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = contents.len();
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend([0x81, n as u8]);
        } else {
            out.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(contents);
        out
    }

    #[test]
    fn times_read_as_unix_seconds() {
        assert_eq!(time(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(time(UTC_TIME, b"500101000000Z"), Some(-631_152_000));
        assert_eq!(
            time(GENERALIZED_TIME, b"20261206132000Z"),
            Some(1_796_563_200)
        );
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            time(GENERALIZED_TIME, b"99991231235959Z"),
            Some(253_402_300_799)
        );
        // Not the Z form, wrong lengths, non-digits, out-of-range fields.
        assert_eq!(time(UTC_TIME, b"700101000000+"), None);
        assert_eq!(time(UTC_TIME, b"7001010000Z"), None);
        assert_eq!(time(UTC_TIME, b"70a101000000Z"), None);
        assert_eq!(time(UTC_TIME, b"701301000000Z"), None);
        assert_eq!(time(UTC_TIME, b"700231000000Z"), None);
        assert_eq!(time(UTC_TIME, b"230229000000Z"), None);
        assert_eq!(time(UTC_TIME, b"240229000000Z"), Some(1_709_164_800));
        assert_eq!(time(0x04, b"700101000000Z"), None);
    }

    #[test]
    fn oids_print_short_names_or_dotted() {
        assert_eq!(short_name(&[0x55, 0x04, 0x03]), "CN");
        assert_eq!(
            short_name(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01]),
            "emailAddress"
        );
        // 1.3.6.1.4.1.311.60.2.1.3 (jurisdictionC): no short name here.
        assert_eq!(
            short_name(&[
                0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3C, 0x02, 0x01, 0x03
            ]),
            "1.3.6.1.4.1.311.60.2.1.3"
        );
        assert_eq!(dotted(&[0x88, 0x37, 0x01]), "2.999.1");
    }

    #[test]
    fn string_types_decode() {
        assert_eq!(string_value(0x0C, "é".as_bytes()), "é");
        assert_eq!(string_value(0x1E, &[0x00, 0x41, 0x00, 0xE9]), "Aé");
        assert_eq!(string_value(0x1C, &[0, 0, 0, 0x41]), "A");
        assert_eq!(string_value(0x14, &[0x41, 0xE9]), "A\u{FFFD}");
    }

    #[test]
    fn lengths_are_bounds_checked() {
        // Length longer than the input, indefinite form, 5 length bytes,
        // high tag number: each ends the walk without a panic.
        for bad in [
            &[0x30, 0x05, 0x01][..],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x85, 0, 0, 0, 0, 1, 0],
            &[0x1F, 0x01, 0x00],
            &[0x30],
            &[],
        ] {
            assert_eq!(Tlvs(bad).next_tlv(), None, "{bad:?}");
            assert_eq!(cert_facts(bad), None);
        }
        let long = tlv(0x04, &[7u8; 300]);
        assert_eq!(Tlvs(&long).next_tlv(), Some((0x04, &[7u8; 300][..])));
    }

    #[test]
    fn a_minimal_v1_certificate_reads() {
        let cn = tlv(
            SET,
            &tlv(
                SEQUENCE,
                &[tlv(OID, &[0x55, 0x04, 0x03]), tlv(0x13, b"a.example")].concat(),
            ),
        );
        let name = tlv(SEQUENCE, &cn);
        let validity = tlv(
            SEQUENCE,
            &[
                tlv(UTC_TIME, b"700101000000Z"),
                tlv(UTC_TIME, b"700102000000Z"),
            ]
            .concat(),
        );
        let tbs = tlv(
            SEQUENCE,
            &[
                tlv(0x02, &[1]),
                tlv(SEQUENCE, &[]),
                name.clone(),
                validity,
                name,
                tlv(SEQUENCE, &[]),
            ]
            .concat(),
        );
        let cert = tlv(
            SEQUENCE,
            &[tbs, tlv(SEQUENCE, &[]), tlv(0x03, &[0])].concat(),
        );
        let f = cert_facts(&cert).unwrap();
        assert_eq!(f.version, 0);
        assert_eq!(f.subject, vec![("CN".to_string(), "a.example".to_string())]);
        assert_eq!(f.issuer, f.subject);
        assert_eq!(f.not_after, Some(86_400));
        assert!(f.dns_sans.is_empty());
        // Every truncation of it is refused or read, never a panic.
        for cut in 0..cert.len() {
            let _ = cert_facts(&cert[..cut]);
        }
    }

    /// What x509-parser reads off `der`, in this module's shapes (names
    /// compared by dotted OID, since the short-name tables differ).
    /// (version, subject, issuer, notAfter, DNS SANs).
    type Facts = (
        u64,
        Vec<(String, String)>,
        Vec<(String, String)>,
        i64,
        Vec<String>,
    );

    fn reference(der: &[u8]) -> Facts {
        use x509_parser::prelude::*;
        let (_, c) = X509Certificate::from_der(der).unwrap();
        let name = |n: &X509Name<'_>| -> Vec<(String, String)> {
            n.iter_attributes()
                .map(|a| {
                    let v = match a.as_str() {
                        Ok(s) => s.to_string(),
                        Err(_) => String::from_utf8_lossy(a.attr_value().data).into_owned(),
                    };
                    (a.attr_type().to_id_string(), v)
                })
                .collect()
        };
        let sans = match c.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        (
            u64::from(c.version().0),
            name(c.subject()),
            name(c.issuer()),
            c.validity().not_after.timestamp(),
            sans,
        )
    }

    /// Ours, with names mapped back to dotted OIDs for the comparison.
    fn ours(der: &[u8]) -> Facts {
        let f = cert_facts(der).unwrap();
        let back = |n: Vec<(String, String)>| -> Vec<(String, String)> {
            n.into_iter()
                .map(|(k, v)| {
                    let oid = SHORT_NAMES
                        .iter()
                        .find(|(_, s)| *s == k)
                        .map_or(k.clone(), |(der, _)| dotted(der));
                    (oid, v)
                })
                .collect()
        };
        (
            f.version,
            back(f.subject),
            back(f.issuer),
            f.not_after.unwrap(),
            f.dns_sans.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn agrees_with_x509_parser_on_generated_certificates() {
        use rcgen::{CertificateParams, DnType, DnValue, KeyPair, SanType};
        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(vec!["a.example".to_string(), "*.Wild.Example".to_string()])
                .unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.subject_alt_names
            .push(SanType::Rfc822Name("ops@example.com".try_into().unwrap()));
        let dn = &mut p.distinguished_name;
        dn.push(DnType::CountryName, "FR");
        dn.push(DnType::OrganizationName, "Acme, Inc.");
        dn.push(DnType::OrganizationalUnitName, "Ops");
        dn.push(DnType::CommonName, DnValue::Utf8String("Zoë".into()));
        dn.push(
            DnType::LocalityName,
            DnValue::BmpString("Köln".try_into().unwrap()),
        );
        dn.push(
            DnType::StateOrProvinceName,
            DnValue::PrintableString("NRW".try_into().unwrap()),
        );
        dn.push(
            DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
            DnValue::Ia5String("ops@example.com".try_into().unwrap()),
        );
        dn.push(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3]),
            "DE",
        );
        p.not_after = rcgen::date_time_ymd(2051, 7, 4);
        let cert = p.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let (mut r, o) = (reference(&der), ours(&der));
        // x509-parser gives no text for a BMPString (gwd used to show its
        // raw UTF-16 bytes); the walk decodes it.
        for (k, v) in r.1.iter_mut().chain(r.2.iter_mut()) {
            if k == "2.5.4.7" {
                *v = "Köln".into();
            }
        }
        assert_eq!(o, r);
        assert_eq!(o.4, vec!["a.example", "*.Wild.Example"]);
        assert!(o.1.contains(&("2.5.4.7".into(), "Köln".into())));
        // Rules name attributes as OpenSSL prints them.
        let info = crate::cert_info(&der).unwrap();
        let has = |k: &str, v: &str| info.subject.contains(&(k.into(), v.into()));
        assert!(has("emailAddress", "ops@example.com") && has("CN", "Zoë") && has("C", "FR"));
        assert!(has("1.3.6.1.4.1.311.60.2.1.3", "DE"));
        // A CA-signed leaf: issuer differs from subject.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "Test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf = CertificateParams::new(vec!["leaf.example".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        for der in [leaf.der().to_vec(), ca_cert.der().to_vec()] {
            assert_eq!(ours(&der), reference(&der));
        }
    }

    #[test]
    fn agrees_with_x509_parser_on_the_repositorys_certificates() {
        use rustls::pki_types::pem::PemObject;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seen = 0;
        for dir in [
            "examples/pki",
            "examples/reverse/pki",
            "regtests/fixtures/x509-v1",
        ] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "crt") {
                    continue;
                }
                for der in rustls::pki_types::CertificateDer::pem_file_iter(&path).unwrap() {
                    let der = der.unwrap();
                    assert_eq!(ours(&der), reference(&der), "{}", path.display());
                    seen += 1;
                }
            }
        }
        // The v1 fixtures (openssl without -extfile) are among them.
        assert!(seen >= 8, "{seen}");
    }
}
