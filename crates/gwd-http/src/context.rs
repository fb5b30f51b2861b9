//! The view of a request that sample fetches read.

use std::net::SocketAddr;

use gwd_head::{RequestHead, ResponseHead, Version};
use gwd_sample::{
    AuthUser, Captures, ProxyRef, Sample, SampleContext, TlsInfo, VarName, VarScope, Vars,
};

use crate::access_log::LogRecord;

use crate::core::ConnCtx;
use crate::state::{BackendRt, FrontendRt};

/// Where `var(...)` reads: the transaction's variables (`txn`, `req`,
/// `res`), the connection's (`sess`) and the process's (`proc`).
#[derive(Debug, Clone, Copy)]
pub struct VarsView<'a> {
    pub txn: Option<&'a Vars>,
    pub cx: &'a ConnCtx,
    /// The transaction's record: its captures and unique id.
    pub log: Option<&'a LogRecord>,
}

impl<'a> VarsView<'a> {
    fn captures(&self) -> Option<&'a Captures> {
        self.log?.captures.as_deref()
    }

    fn unique_id(&self) -> Option<&'a str> {
        self.log?.extra.as_ref()?.unique_id.as_deref()
    }

    pub fn get(&self, name: &VarName) -> Option<Sample<'static>> {
        match name.scope {
            VarScope::Txn | VarScope::Req | VarScope::Res => self.txn?.get(name).cloned(),
            VarScope::Sess => lock(&self.cx.shared.sess_vars).get(name).cloned(),
            VarScope::Proc => lock(&self.cx.proxy.proc_vars).get(name).cloned(),
        }
    }
}

/// A variable store's lock; a panic elsewhere never poisons variables.
pub(crate) fn lock(m: &std::sync::Mutex<Vars>) -> std::sync::MutexGuard<'_, Vars> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sets or removes `name` (`value` `None`) in the store of its scope.
pub(crate) fn store_var(txn: &mut Vars, cx: &ConnCtx, name: &VarName, value: Option<Sample<'_>>) {
    let apply = |vars: &mut Vars| match value {
        Some(v) => vars.set(name, v),
        None => vars.unset(name),
    };
    match name.scope {
        VarScope::Txn | VarScope::Req | VarScope::Res => apply(txn),
        VarScope::Sess => apply(&mut lock(&cx.shared.sess_vars)),
        VarScope::Proc => apply(&mut lock(&cx.proxy.proc_vars)),
    }
}

/// A request as rules see it, at one point of its processing.
#[derive(Debug)]
pub struct RequestView<'a> {
    pub head: &'a RequestHead,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tls: Option<&'a TlsInfo>,
    pub fe: &'a FrontendRt,
    pub be: Option<&'a BackendRt>,
    pub vars: VarsView<'a>,
}

impl<'a> RequestView<'a> {
    /// The view of `head` arriving on connection `cx`, with backend `be`
    /// chosen so far.
    pub(crate) fn new(cx: &'a ConnCtx, head: &'a RequestHead, be: Option<&'a BackendRt>) -> Self {
        RequestView {
            head,
            src: cx.peer,
            dst: cx.local,
            tls: cx.tls.as_deref(),
            fe: cx.proxy.frontend(cx.fe),
            be,
            vars: VarsView {
                txn: None,
                cx,
                log: None,
            },
        }
    }

    /// The view reading the transaction's variables `txn`.
    pub(crate) fn with_vars(mut self, txn: &'a Vars) -> Self {
        self.vars.txn = Some(txn);
        self
    }

    /// The view reading the transaction's captures and unique id.
    pub(crate) fn with_log(mut self, log: &'a LogRecord) -> Self {
        self.vars.log = Some(log);
        self
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

    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        // Bytes as received: obs-text (UTF-8 or Latin-1) reaches fetches.
        self.head.fields.get_all(name).collect()
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
        Some(self.fe.proxy_ref())
    }

    fn backend(&self) -> Option<ProxyRef<'_>> {
        self.be.map(BackendRt::proxy_ref)
    }

    fn version(&self) -> Option<&str> {
        Some(version_str(self.head.version))
    }

    fn var(&self, name: &VarName) -> Option<Sample<'static>> {
        self.vars.get(name)
    }

    fn captures(&self) -> Option<&Captures> {
        self.vars.captures()
    }

    fn unique_id(&self) -> Option<&str> {
        self.vars.unique_id()
    }

    fn http_auth(&self, userlist: &str) -> Option<AuthUser> {
        let list = self
            .vars
            .cx
            .proxy
            .config
            .userlists
            .iter()
            .find(|l| l.name == userlist)?;
        let creds = crate::stats_http::basic_credentials(&self.head.fields)?;
        let u = list.check_basic(&creds)?;
        Some(AuthUser {
            user: u.name.clone(),
            groups: u.groups.clone(),
        })
    }
}

/// A response as `http-response` and `http-after-response` rules see it:
/// its head, the connection, the proxies, the variables. The request is
/// gone by then (HAProxy's rules cannot read it either).
#[derive(Debug)]
pub struct ResponseView<'a> {
    pub head: &'a ResponseHead,
    pub cx: &'a ConnCtx,
    pub be: Option<&'a BackendRt>,
    pub vars: VarsView<'a>,
}

impl<'a> ResponseView<'a> {
    pub(crate) fn new(
        cx: &'a ConnCtx,
        head: &'a ResponseHead,
        be: Option<&'a BackendRt>,
        txn: &'a Vars,
    ) -> Self {
        ResponseView {
            head,
            cx,
            be,
            vars: VarsView {
                txn: Some(txn),
                cx,
                log: None,
            },
        }
    }

    /// The view reading the transaction's captures and unique id.
    pub(crate) fn with_log(mut self, log: &'a LogRecord) -> Self {
        self.vars.log = Some(log);
        self
    }
}

impl SampleContext for ResponseView<'_> {
    fn status(&self) -> Option<u16> {
        Some(self.head.status.as_u16())
    }

    fn res_header_values(&self, name: &str) -> Vec<&[u8]> {
        self.head.fields.get_all(name).collect()
    }

    fn res_version(&self) -> Option<&str> {
        Some(version_str(self.head.version))
    }

    fn src(&self) -> Option<SocketAddr> {
        Some(self.cx.peer)
    }

    fn dst(&self) -> Option<SocketAddr> {
        Some(self.cx.local)
    }

    fn tls(&self) -> Option<&TlsInfo> {
        self.cx.tls.as_deref()
    }

    fn frontend(&self) -> Option<ProxyRef<'_>> {
        Some(self.cx.proxy.frontend(self.cx.fe).proxy_ref())
    }

    fn backend(&self) -> Option<ProxyRef<'_>> {
        self.be.map(BackendRt::proxy_ref)
    }

    fn var(&self, name: &VarName) -> Option<Sample<'static>> {
        self.vars.get(name)
    }

    fn captures(&self) -> Option<&Captures> {
        self.vars.captures()
    }

    fn unique_id(&self) -> Option<&str> {
        self.vars.unique_id()
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
