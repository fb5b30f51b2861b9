#![allow(dead_code)]

use std::net::SocketAddr;

use gwd_sample::{ClientCertInfo, ProxyRef, SampleContext, TlsInfo};

/// A request built field by field for tests.
#[derive(Default, Debug)]
pub struct Ctx {
    pub method: Option<String>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub version: Option<String>,
    /// Values are bytes: a header may carry obs-text that is not UTF-8.
    pub headers: Vec<(String, Vec<u8>)>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub tls: Option<TlsInfo>,
    pub fe: Option<(String, u32)>,
    pub be: Option<(String, u32)>,
    pub tunnel: Option<String>,
}

impl Ctx {
    pub fn get(url: &str) -> Ctx {
        Ctx {
            method: Some("GET".into()),
            url: Some(url.into()),
            path: Some(url.split('?').next().unwrap_or("").into()),
            version: Some("1.1".into()),
            ..Ctx::default()
        }
    }
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.into());
        self
    }
    pub fn hdr(mut self, n: &str, v: &str) -> Self {
        self.headers.push((n.into(), v.into()));
        self
    }
    /// A header whose value is any bytes (Latin-1 obs-text...).
    pub fn hdr_bytes(mut self, n: &str, v: &[u8]) -> Self {
        self.headers.push((n.into(), v.to_vec()));
        self
    }
    pub fn src(mut self, a: &str) -> Self {
        self.src = Some(a.parse().unwrap());
        self
    }
    pub fn dst(mut self, a: &str) -> Self {
        self.dst = Some(a.parse().unwrap());
        self
    }
    pub fn tls(mut self, t: TlsInfo) -> Self {
        self.tls = Some(t);
        self
    }
    pub fn fe(mut self, n: &str, id: u32) -> Self {
        self.fe = Some((n.into(), id));
        self
    }
    pub fn be(mut self, n: &str, id: u32) -> Self {
        self.be = Some((n.into(), id));
        self
    }
    pub fn tunnel(mut self, n: &str) -> Self {
        self.tunnel = Some(n.into());
        self
    }
}

impl SampleContext for Ctx {
    fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }
    fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
    fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }
    fn frontend(&self) -> Option<ProxyRef<'_>> {
        self.fe
            .as_ref()
            .map(|(n, id)| ProxyRef { name: n, id: *id })
    }
    fn backend(&self) -> Option<ProxyRef<'_>> {
        self.be
            .as_ref()
            .map(|(n, id)| ProxyRef { name: n, id: *id })
    }
    fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    fn tunnel_name(&self) -> Option<&str> {
        self.tunnel.as_deref()
    }
}

pub fn cert() -> ClientCertInfo {
    ClientCertInfo {
        subject: vec![
            ("C".into(), "FR".into()),
            ("O".into(), "Example".into()),
            ("OU".into(), "Ops".into()),
            ("OU".into(), "Web".into()),
            ("CN".into(), "client1".into()),
        ],
        issuer: vec![("C".into(), "US".into()), ("CN".into(), "Test CA".into())],
        dns_sans: vec!["client1.example".into()],
    }
}

pub fn tls_with_cert() -> TlsInfo {
    TlsInfo {
        sni: Some("www.example.com".into()),
        alpn: Some("h2".into()),
        client_cert: Some(cert()),
    }
}
