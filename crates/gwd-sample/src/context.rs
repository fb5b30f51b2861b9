//! The request/connection view that fetches read from.

use std::net::SocketAddr;

use gwd_conn::TlsInfo;

use crate::capture::Captures;
use crate::sample::Sample;
use crate::vars::VarName;

/// A named proxy (frontend or backend) and its numeric id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProxyRef<'a> {
    /// Proxy name as configured.
    pub name: &'a str,
    /// Proxy id (HAProxy's `id`, auto-assigned from 1 when not configured).
    pub id: u32,
}

/// Read-only access to one request and its connection, implemented by the proxy.
///
/// Every method has a default body returning `None` / empty, so partial
/// contexts (TCP-only, tests) implement only what they know. Fetches whose
/// data is missing produce no sample.
pub trait SampleContext {
    /// Request method (`GET`, ...).
    fn method(&self) -> Option<&str> {
        None
    }
    /// Request target as received (origin form `/a?b`, absolute form, `*`).
    fn url(&self) -> Option<&str> {
        None
    }
    /// Path without the query. When `None`, fetches derive it from [`SampleContext::url`].
    fn path(&self) -> Option<&str> {
        None
    }
    /// Raw field values, one per header line, in order; `name` is matched
    /// case-insensitively (fetches always pass it lower-cased).
    fn header_values(&self, _name: &str) -> Vec<&[u8]> {
        Vec::new()
    }
    /// Client address.
    fn src(&self) -> Option<SocketAddr> {
        None
    }
    /// Local address the client connected to.
    fn dst(&self) -> Option<SocketAddr> {
        None
    }
    /// TLS facts; `None` means the connection is in clear.
    fn tls(&self) -> Option<&TlsInfo> {
        None
    }
    /// The frontend that accepted the request.
    fn frontend(&self) -> Option<ProxyRef<'_>> {
        None
    }
    /// The backend selected so far.
    fn backend(&self) -> Option<ProxyRef<'_>> {
        None
    }
    /// HTTP version of the request, `"1.0"`, `"1.1"`, `"2.0"` or `"3.0"`
    /// (a leading `HTTP/` is accepted and stripped). Used by `req.ver`.
    fn version(&self) -> Option<&str> {
        None
    }
    /// The reverse-HTTP tunnel name being checked, read by `rhttp_name`.
    /// Only the check of an `attach-srv` rule's `allow-name` has one: it
    /// evaluates the condition once per candidate name.
    fn tunnel_name(&self) -> Option<&str> {
        None
    }
    /// The response's status code, once a response exists (`status`).
    fn status(&self) -> Option<u16> {
        None
    }
    /// Raw field values of the response head, as [`SampleContext::header_values`]
    /// for the request (`res.hdr`, `res.fhdr`, `res.hdr_cnt`).
    fn res_header_values(&self, _name: &str) -> Vec<&[u8]> {
        Vec::new()
    }
    /// HTTP version of the response, spelled as for [`SampleContext::version`]
    /// (`res.ver`).
    fn res_version(&self) -> Option<&str> {
        None
    }
    /// The bytes a TCP-mode client sent so far, buffered by
    /// `tcp-request inspect-delay` (`req.len`, `req.ssl_sni`, ...). `None`
    /// outside TCP content inspection.
    fn content(&self) -> Option<&[u8]> {
        None
    }
    /// The value of variable `name` in its scope, if set (`var(...)`).
    fn var(&self, _name: &VarName) -> Option<Sample<'static>> {
        None
    }
    /// The request's captured values (`capture.req.hdr`, `capture.res.hdr`).
    fn captures(&self) -> Option<&Captures> {
        None
    }
    /// The request's unique id (`unique-id`), made by `unique-id-format`
    /// once per request: the same text as `%ID` and `unique-id-header`.
    fn unique_id(&self) -> Option<&str> {
        None
    }
    /// The user of userlist `userlist` whose HTTP Basic credentials the
    /// request carries, once checked (`http_auth`, `http_auth_group`);
    /// `None` without valid credentials or without such a userlist.
    fn http_auth(&self, _userlist: &str) -> Option<AuthUser> {
        None
    }
}

/// A user whose credentials were checked: what `http_auth_group` reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthUser {
    /// The user name.
    pub user: String,
    /// Every group the user belongs to.
    pub groups: Vec<String>,
}
