//! TLS settings of binds beside the certificates: HAProxy's `ssl-min-ver`,
//! `ssl-max-ver`, `ciphers` (TLS 1.2, OpenSSL names), `ciphersuites`
//! (TLS 1.3) and their `[global]` defaults `ssl-default-bind-ciphers`,
//! `ssl-default-bind-ciphersuites`, `ssl-default-bind-options`.
//!
//! Names are checked here, against gwd's (rustls's) suites, so errors
//! point at the key; the model holds IANA names, which gwd-tls matches
//! against its crypto provider.

use toml::de::DeTable;

use super::{Cx, Val, help, join};
use crate::model::TlsVersion;

/// TLS 1.2 suites gwd has: OpenSSL name, IANA name (rustls's).
pub(super) const TLS12_CIPHERS: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// TLS 1.3 suites gwd has: OpenSSL name (the RFC's), IANA name (rustls's).
pub(super) const TLS13_SUITES: &[(&str, &str)] = &[
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
];

/// The IANA names of every suite a config may name (TLS 1.2, then 1.3):
/// gwd-tls must know each (a test there says so).
pub fn known_suites() -> impl Iterator<Item = &'static str> {
    TLS12_CIPHERS
        .iter()
        .chain(TLS13_SUITES)
        .map(|&(_, iana)| iana)
}

/// `[global]` `ssl-default-bind-*`: what binds inherit.
#[derive(Debug, Clone, Default)]
pub(super) struct SslDefaults {
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
    /// `no-tlsv12`, `no-tlsv13`.
    no: Vec<TlsVersion>,
    /// `force-tlsv12`, `force-tlsv13`.
    force: Option<TlsVersion>,
    ciphers: Option<Vec<String>>,
    ciphersuites: Option<Vec<String>>,
}

/// A bind's TLS settings besides its certificates, resolved.
pub(super) struct BindTlsParams {
    pub versions: Vec<TlsVersion>,
    pub ciphers: Option<Vec<String>>,
    pub ciphersuites: Option<Vec<String>>,
}

impl Cx<'_> {
    /// Reads `ssl-default-bind-*` of `[global]` (`t`).
    pub(super) fn ssl_defaults(&mut self, t: &DeTable<'_>) {
        let mut d = SslDefaults::default();
        if let Some(v) = t.get("ssl-default-bind-ciphers") {
            d.ciphers = self.cipher_list(v, "global.ssl-default-bind-ciphers", false);
        }
        if let Some(v) = t.get("ssl-default-bind-ciphersuites") {
            d.ciphersuites = self.cipher_list(v, "global.ssl-default-bind-ciphersuites", true);
        }
        if let Some(v) = t.get("ssl-default-bind-options") {
            self.ssl_options(v, "global.ssl-default-bind-options", &mut d);
        }
        self.ssl_defaults = d;
    }

    /// `ssl-default-bind-options`: space-separated HAProxy bind options.
    fn ssl_options(&mut self, v: &Val<'_>, path: &str, d: &mut SslDefaults) {
        let Some(s) = self.string(v, path, "`\"ssl-min-ver TLSv1.2 no-tls-tickets\"`") else {
            return;
        };
        let at = v.span().start;
        let mut words = s.split_whitespace();
        while let Some(w) = words.next() {
            match w {
                "ssl-min-ver" | "ssl-max-ver" => {
                    let Some(ver) = words.next() else {
                        self.error(
                            at,
                            path,
                            format!("`{w}` needs a version"),
                            help(format!("write `{w} TLSv1.2` or `{w} TLSv1.3`")),
                        );
                        return;
                    };
                    if let Some(ver) = self.tls_version(at, path, ver) {
                        if w == "ssl-min-ver" {
                            d.min = Some(ver);
                        } else {
                            d.max = Some(ver);
                        }
                    }
                }
                // Never offered by gwd: asking not to is already so.
                "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
                "no-tlsv12" => d.no.push(TlsVersion::Tls12),
                "no-tlsv13" => d.no.push(TlsVersion::Tls13),
                "force-tlsv12" => d.force = Some(TlsVersion::Tls12),
                "force-tlsv13" => d.force = Some(TlsVersion::Tls13),
                "force-sslv3" | "force-tlsv10" | "force-tlsv11" => self.error(
                    at,
                    path,
                    format!("`{w}`: gwd (rustls) has no SSLv3, TLS 1.0 or TLS 1.1"),
                    help("use `force-tlsv12` or `force-tlsv13`, or `ssl-min-ver TLSv1.2`"),
                ),
                // rustls issues no stateless (ticket-key) tickets: the
                // option's effect is already gwd's behaviour.
                "no-tls-tickets" => {}
                other => self.error(
                    at,
                    path,
                    format!(
                        "bind option `{other}` in `ssl-default-bind-options` is not supported yet"
                    ),
                    help(
                        "supported: `ssl-min-ver`, `ssl-max-ver`, `no-tlsv12`, `no-tlsv13`, \
                         `force-tlsv12`, `force-tlsv13`, and (no effect in gwd) `no-sslv3`, \
                         `no-tlsv10`, `no-tlsv11`, `no-tls-tickets`",
                    ),
                ),
            }
        }
    }

    /// `TLSv1.2` / `TLSv1.3`; older ones refused by name.
    fn tls_version(&mut self, at: usize, path: &str, s: &str) -> Option<TlsVersion> {
        match s {
            "TLSv1.2" => Some(TlsVersion::Tls12),
            "TLSv1.3" => Some(TlsVersion::Tls13),
            "SSLv3" | "TLSv1.0" | "TLSv1.1" => {
                self.error(
                    at,
                    path,
                    format!(
                        "`{s}` is not available: gwd (rustls) has no SSLv3, TLS 1.0 or TLS 1.1"
                    ),
                    help("use `TLSv1.2` (the oldest gwd speaks) or `TLSv1.3`"),
                );
                None
            }
            other => {
                self.error(
                    at,
                    path,
                    format!("unknown TLS version `{other}`"),
                    help("write `TLSv1.2` or `TLSv1.3` (HAProxy's spelling)"),
                );
                None
            }
        }
    }

    /// A colon-separated cipher list (HAProxy's `ciphers` / `ciphersuites`
    /// syntax) to IANA names; every unknown name is reported in one error.
    fn cipher_list(&mut self, v: &Val<'_>, path: &str, tls13: bool) -> Option<Vec<String>> {
        let example = if tls13 {
            "`\"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\"`"
        } else {
            "`\"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\"`"
        };
        let s = self.string(v, path, example)?;
        let table = if tls13 { TLS13_SUITES } else { TLS12_CIPHERS };
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for name in s.split(':').map(str::trim).filter(|n| !n.is_empty()) {
            match table
                .iter()
                .find(|(openssl, iana)| name == *openssl || name == *iana)
            {
                Some((_, iana)) => {
                    if !out.iter().any(|o: &String| o == iana) {
                        out.push((*iana).to_owned());
                    }
                }
                None => unknown.push(name),
            }
        }
        let known: Vec<&str> = table.iter().map(|(o, _)| *o).collect();
        if !unknown.is_empty() {
            let which = if tls13 {
                "TLS 1.3 cipher suite"
            } else {
                "TLS 1.2 cipher"
            };
            let other = if tls13 {
                " (TLS 1.2 ciphers go in `ciphers`)"
            } else {
                " (TLS 1.3 suites go in `ciphersuites`; OpenSSL keywords such as `HIGH` or `!aNULL` \
                 are not supported)"
            };
            self.error(
                v.span().start,
                path,
                format!(
                    "unknown or unavailable {which}(s): {} (gwd offers ECDHE with AES-GCM or \
                     ChaCha20-Poly1305 only)",
                    unknown.join(", ")
                ),
                help(format!("use names among: {}{other}", known.join(":"))),
            );
            return None;
        }
        if out.is_empty() {
            self.error(
                v.span().start,
                path,
                format!("`{}` names no cipher", super::last_seg(path)),
                help(format!("list some of: {}", known.join(":"))),
            );
            return None;
        }
        Some(out)
    }

    /// A TLS bind's versions and suites: its own keys over `[global]`'s
    /// `ssl-default-bind-*`.
    pub(super) fn bind_tls_params(
        &mut self,
        t: &DeTable<'_>,
        at: usize,
        path: &str,
    ) -> Option<BindTlsParams> {
        let mut ok = true;
        let mut version = |cx: &mut Self, key: &str| -> Option<TlsVersion> {
            let v = t.get(key)?;
            let kp = join(path, key);
            let s = cx.string(v, &kp, "`\"TLSv1.2\"`")?;
            let r = cx.tls_version(v.span().start, &kp, s);
            if r.is_none() {
                ok = false;
            }
            r
        };
        let min = version(self, "ssl-min-ver");
        let max = version(self, "ssl-max-ver");
        let d = self.ssl_defaults.clone();
        let min_max_set = min.is_some() || max.is_some() || d.min.is_some() || d.max.is_some();
        let lo = min.or(d.min).unwrap_or(TlsVersion::Tls12);
        let hi = max.or(d.max).unwrap_or(TlsVersion::Tls13);
        let mut versions: Vec<TlsVersion> = [TlsVersion::Tls12, TlsVersion::Tls13]
            .into_iter()
            .filter(|v| (lo..=hi).contains(v))
            .collect();
        if !min_max_set {
            // HAProxy's rule: `no-*`/`force-*` count only without
            // `ssl-min-ver`/`ssl-max-ver`.
            versions.retain(|v| !d.no.contains(v) && d.force.is_none_or(|f| f == *v));
        }
        if ok && versions.is_empty() {
            self.error(
                at,
                path,
                "no TLS version left for this bind (`ssl-min-ver` above `ssl-max-ver`, or \
                 `ssl-default-bind-options` removing both TLSv1.2 and TLSv1.3)",
                help("gwd speaks TLSv1.2 and TLSv1.3: keep at least one"),
            );
            ok = false;
        }
        let ciphers = match t.get("ciphers") {
            Some(v) => {
                let r = self.cipher_list(v, &join(path, "ciphers"), false);
                ok &= r.is_some();
                r
            }
            None => d.ciphers,
        };
        let ciphersuites = match t.get("ciphersuites") {
            Some(v) => {
                let r = self.cipher_list(v, &join(path, "ciphersuites"), true);
                ok &= r.is_some();
                r
            }
            None => d.ciphersuites,
        };
        ok.then_some(BindTlsParams {
            versions,
            ciphers,
            ciphersuites,
        })
    }
}
