//! The view of a request that sample fetches read.

use std::net::SocketAddr;

use gwd_head::{RequestHead, Version};
use gwd_sample::{ProxyRef, SampleContext, TlsInfo};

use crate::core::ConnCtx;
use crate::state::{BackendRt, FrontendRt};

/// A request as rules see it, at one point of its processing.
#[derive(Debug)]
pub struct RequestView<'a> {
    pub head: &'a RequestHead,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tls: Option<&'a TlsInfo>,
    pub fe: &'a FrontendRt,
    pub be: Option<&'a BackendRt>,
}

impl<'a> RequestView<'a> {
    /// The view of `head` arriving on connection `cx`, with backend `be`
    /// chosen so far.
    pub(crate) fn new(cx: &'a ConnCtx, head: &'a RequestHead, be: Option<&'a BackendRt>) -> Self {
        RequestView {
            head,
            src: cx.peer,
            dst: cx.local,
            tls: cx.tls.as_ref(),
            fe: &cx.proxy.frontends[cx.fe],
            be,
        }
    }
}

impl SampleContext for RequestView<'_> {
    fn method(&self) -> Option<&str> {
        Some(self.head.method.as_str())
    }

    fn url(&self) -> Option<&str> {
        Some(self.head.path_and_query())
    }

    fn path(&self) -> Option<&str> {
        Some(self.head.path())
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        self.head
            .fields
            .get_all(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect()
    }

    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }

    fn dst(&self) -> Option<SocketAddr> {
        Some(self.dst)
    }

    fn tls(&self) -> Option<&TlsInfo> {
        self.tls
    }

    fn frontend(&self) -> Option<ProxyRef<'_>> {
        Some(ProxyRef {
            name: &self.fe.conf.name,
            id: self.fe.conf.id,
        })
    }

    fn backend(&self) -> Option<ProxyRef<'_>> {
        self.be.map(|b| ProxyRef {
            name: &b.conf.name,
            id: b.conf.id,
        })
    }

    fn version(&self) -> Option<&str> {
        Some(version_str(self.head.version))
    }
}

/// HAProxy's `req.ver` spelling.
pub fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2.0",
        Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}
