//! Facts about an accepted connection that rules may read: the server
//! name the client sent (SNI), the negotiated ALPN protocol, and the
//! client certificate's names.
//!
//! # Model
//!
//! * [`TlsInfo`] is what one finished server-side TLS handshake taught
//!   gwd. The TLS crate (gwd-tls) fills it from rustls, the listener
//!   (gwd-listen) carries it on every accepted connection, and the
//!   expression language (gwd-sample, which re-exports these types)
//!   answers `ssl_fc_sni`, `ssl_fc_alpn`, `ssl_c_used`, `ssl_c_s_dn`,
//!   `ssl_c_i_dn`... from it. A plain-TCP connection has no `TlsInfo`.
//! * [`ClientCertInfo`] is the client certificate as rules see it: the
//!   subject and issuer attributes in certificate order, with the short
//!   names operators write (`CN`, `O`, `C`, `emailAddress`...), and the
//!   DNS subject alternative names. It is present only when the client
//!   presented a certificate and the handshake accepted it.
//!
//! Both are plain data: owned, cloneable, comparable, `Send + Sync`, and
//! built once per connection. The crate has no dependencies, so a crate
//! that only carries or reads these facts pulls in neither TLS nor the
//! expression language.
//!
//! # Example
//!
//! ```
//! use gwd_conn::{ClientCertInfo, TlsInfo};
//!
//! let info = TlsInfo {
//!     sni: Some("app.example".into()),
//!     alpn: Some("h2".into()),
//!     client_cert: Some(ClientCertInfo {
//!         subject: vec![("O".into(), "Example".into()), ("CN".into(), "client-1".into())],
//!         issuer: vec![("CN".into(), "Example CA".into())],
//!         dns_sans: vec!["client-1.example".into()],
//!     }),
//! };
//! assert_eq!(info.sni.as_deref(), Some("app.example"));
//! let cert = info.client_cert.as_ref().unwrap();
//! let cn = cert.subject.iter().find(|(k, _)| k == "CN").map(|(_, v)| v.as_str());
//! assert_eq!(cn, Some("client-1"));
//!
//!
//! // A TLS connection without SNI, ALPN or client certificate.
//! assert_eq!(TlsInfo::default().client_cert, None);
//! ```

#![warn(missing_docs)]

/// What the TLS layer learned about a client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCertInfo {
    /// Subject RDN attributes in certificate order, short names
    /// (`C`, `ST`, `L`, `O`, `OU`, `CN`, `emailAddress`, ...).
    pub subject: Vec<(String, String)>,
    /// Issuer RDN attributes in certificate order, short names.
    pub issuer: Vec<(String, String)>,
    /// DNS subject alternative names.
    pub dns_sans: Vec<String>,
}

/// TLS facts of the client connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Server name sent by the client, if any.
    pub sni: Option<String>,
    /// Negotiated ALPN protocol, if any.
    pub alpn: Option<String>,
    /// Client certificate, when one was presented (and accepted).
    pub client_cert: Option<ClientCertInfo>,
}
