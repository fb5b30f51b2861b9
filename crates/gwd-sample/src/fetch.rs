//! Sample fetches: where a value comes from.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::args::Call;
use crate::context::SampleContext;
use crate::error::{ParseErrorKind, Perr};
use crate::sample::{Sample, SampleType};
use crate::values::{cookie_iter, each_occ, hdr_iter, ows, pick, split_once_eq};
use gwd_conn::ClientCertInfo;

/// Known fetch names with their usage, in documentation order.
pub(crate) const FETCHES: &[(&str, &str)] = &[
    ("req.hdr", "req.hdr(<name>[,<occ>])"),
    ("hdr", "hdr(<name>[,<occ>])"),
    ("req.fhdr", "req.fhdr(<name>[,<occ>])"),
    ("req.hdr_cnt", "req.hdr_cnt(<name>)"),
    ("hdr_cnt", "hdr_cnt(<name>)"),
    ("req.fhdr_cnt", "req.fhdr_cnt(<name>)"),
    ("req.hdr_val", "req.hdr_val(<name>[,<occ>])"),
    ("hdr_val", "hdr_val(<name>[,<occ>])"),
    ("req.hdr_ip", "req.hdr_ip(<name>[,<occ>])"),
    ("hdr_ip", "hdr_ip(<name>[,<occ>])"),
    ("req.cook", "req.cook([<name>])"),
    ("cook", "cook([<name>])"),
    ("req.cook_cnt", "req.cook_cnt(<name>)"),
    ("cook_cnt", "cook_cnt(<name>)"),
    ("url_param", "url_param(<name>[,<delim>])"),
    ("urlp", "urlp(<name>[,<delim>])"),
    ("method", "method"),
    ("path", "path"),
    ("url", "url"),
    ("query", "query"),
    ("base", "base"),
    ("req.ver", "req.ver"),
    ("req_ver", "req_ver"),
    ("req.proto_http", "req.proto_http"),
    ("src", "src"),
    ("dst", "dst"),
    ("src_port", "src_port"),
    ("dst_port", "dst_port"),
    ("ssl_fc", "ssl_fc"),
    ("ssl_fc_sni", "ssl_fc_sni"),
    ("ssl_fc_alpn", "ssl_fc_alpn"),
    ("ssl_c_used", "ssl_c_used"),
    ("ssl_c_s_dn", "ssl_c_s_dn([<entry>[,<occ>[,rfc2253]]])"),
    ("ssl_c_i_dn", "ssl_c_i_dn([<entry>[,<occ>[,rfc2253]]])"),
    ("req.len", "req.len"),
    ("req_len", "req_len"),
    ("req.ssl_sni", "req.ssl_sni"),
    ("req_ssl_sni", "req_ssl_sni"),
    ("req.ssl_hello_type", "req.ssl_hello_type"),
    ("req_ssl_hello_type", "req_ssl_hello_type"),
    ("req.ssl_ver", "req.ssl_ver"),
    ("req_ssl_ver", "req_ssl_ver"),
    ("be_name", "be_name"),
    ("be_id", "be_id"),
    ("fe_name", "fe_name"),
    ("fe_id", "fe_id"),
    ("rhttp_name", "rhttp_name"),
    ("status", "status"),
    ("res.hdr", "res.hdr(<name>[,<occ>])"),
    ("res.fhdr", "res.fhdr(<name>[,<occ>])"),
    ("res.hdr_cnt", "res.hdr_cnt(<name>)"),
    ("res.fhdr_cnt", "res.fhdr_cnt(<name>)"),
    ("res.ver", "res.ver"),
    ("resp_ver", "resp_ver"),
    ("var", "var(<scope>.<name>)"),
    ("capture.req.hdr", "capture.req.hdr(<idx>)"),
    ("capture.res.hdr", "capture.res.hdr(<idx>)"),
    ("unique-id", "unique-id"),
    ("http_auth", "http_auth(<userlist>)"),
    ("http_auth_group", "http_auth_group(<userlist>)"),
    ("str", "str(<text>)"),
    ("int", "int(<integer>)"),
    ("bool", "bool(<0|1>)"),
    ("ipv4", "ipv4(<address>)"),
    ("ipv6", "ipv6(<address>)"),
    ("always_true", "always_true"),
    ("always_false", "always_false"),
];

pub(crate) fn usage(name: &str) -> Option<&'static str> {
    FETCHES.iter().find(|(n, _)| *n == name).map(|(_, u)| *u)
}

/// What a sample fetch needs before it can produce a sample.
///
/// Rules that run before any HTTP request exists (`tcp-request session`)
/// can only use [`FetchScope::Connection`] fetches; the configuration
/// loader refuses the others there ([`crate::Expr::scope`],
/// [`crate::Condition::exprs`]).
///
/// ```
/// use gwd_sample::{Expr, FetchScope};
/// assert_eq!(Expr::parse("ssl_c_s_dn(CN),lower").unwrap().scope(), FetchScope::Connection);
/// assert_eq!(Expr::parse("req.hdr(host)").unwrap().scope(), FetchScope::Request);
/// assert_eq!(Expr::parse("rhttp_name").unwrap().scope(), FetchScope::TunnelName);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchScope {
    /// Known once a connection is accepted (and its TLS handshake done):
    /// addresses, TLS facts, the frontend, constants.
    Connection,
    /// Needs an HTTP request (headers, path, method, version, ...) or the
    /// backend chosen for it.
    Request,
    /// Only while a reverse-HTTP tunnel name is checked (`rhttp_name`, in
    /// an `attach-srv` rule's `allow-name`).
    TunnelName,
    /// Needs the server's response head (`status`, `res.hdr`, `res.ver`):
    /// `http-response` and `http-after-response` rules only.
    Response,
    /// Reads the first bytes a TCP-mode client sent (`req.len`,
    /// `req.ssl_sni`, ...): `tcp-request content` rules and the
    /// `use_backend` rules of a `mode = "tcp"` frontend only.
    Content,
}

/// A parsed fetch with its arguments resolved.
#[derive(Clone, Debug)]
pub(crate) enum Fetch {
    /// `req.hdr` (split = true) / `req.fhdr` (split = false). occ 0 = all/last.
    Hdr {
        name: Box<str>,
        occ: i64,
        split: bool,
    },
    HdrCnt {
        name: Box<str>,
        split: bool,
    },
    HdrVal {
        name: Box<str>,
        occ: i64,
    },
    HdrIp {
        name: Box<str>,
        occ: i64,
    },
    Cook {
        name: Option<Box<str>>,
    },
    CookCnt {
        name: Box<str>,
    },
    UrlParam {
        name: Box<str>,
        delim: char,
    },
    Method,
    Path,
    Url,
    Query,
    Base,
    Ver,
    ProtoHttp,
    Src,
    Dst,
    SrcPort,
    DstPort,
    SslFc,
    SslFcSni,
    SslFcAlpn,
    SslCUsed,
    SslDn {
        issuer: bool,
        entry: Option<Box<str>>,
        occ: i64,
        rfc2253: bool,
    },
    BeName,
    BeId,
    FeName,
    FeId,
    /// The reverse-HTTP tunnel name being checked (`allow-name`).
    RhttpName,
    /// `status`: the response's code.
    Status,
    /// `res.hdr` (split) / `res.fhdr`.
    ResHdr {
        name: Box<str>,
        occ: i64,
        split: bool,
    },
    /// `res.hdr_cnt` / `res.fhdr_cnt`.
    ResHdrCnt {
        name: Box<str>,
        split: bool,
    },
    /// `res.ver`.
    ResVer,
    /// `req.len`: bytes of content buffered so far.
    ReqLen,
    /// `req.ssl_sni`: the server name of the buffered ClientHello.
    ReqSslSni,
    /// `req.ssl_hello_type`: the first handshake message's type.
    ReqSslHelloType,
    /// `req.ssl_ver`: the ClientHello's version, `major << 16 | minor`.
    ReqSslVer,
    /// `var(<scope>.<name>)`.
    Var(crate::vars::VarName),
    /// `capture.req.hdr(<idx>)` / `capture.res.hdr(<idx>)`.
    Capture(crate::CaptureDir, usize),
    /// `unique-id`.
    UniqueId,
    /// `http_auth(<userlist>)` (bool) / `http_auth_group(<userlist>)` (the
    /// user name; each of the user's groups when an ACL matches).
    HttpAuth {
        userlist: Box<str>,
        group: bool,
    },
    ConstStr(Box<str>),
    ConstInt(i64),
    ConstBool(bool),
    ConstIp(IpAddr),
}

fn hdr_name(c: &Call<'_>) -> Result<Box<str>, Perr> {
    Ok(c.nonempty(0, "a header name")?
        .to_ascii_lowercase()
        .into_boxed_str())
}

fn occ(c: &Call<'_>, i: usize) -> Result<i64, Perr> {
    Ok(c.int(i)?.unwrap_or(0))
}

/// Builds the fetch `name`; `Ok(None)` when the name is unknown.
pub(crate) fn build(c: &Call<'_>) -> Result<Option<Fetch>, Perr> {
    let f = match c.name {
        "req.hdr" | "hdr" | "req.fhdr" => {
            c.count(1, 2)?;
            Fetch::Hdr {
                name: hdr_name(c)?,
                occ: occ(c, 1)?,
                split: c.name != "req.fhdr",
            }
        }
        "req.hdr_cnt" | "hdr_cnt" | "req.fhdr_cnt" => {
            c.count(1, 1)?;
            Fetch::HdrCnt {
                name: hdr_name(c)?,
                split: c.name != "req.fhdr_cnt",
            }
        }
        "req.hdr_val" | "hdr_val" => {
            c.count(1, 2)?;
            Fetch::HdrVal {
                name: hdr_name(c)?,
                occ: occ(c, 1)?,
            }
        }
        "req.hdr_ip" | "hdr_ip" => {
            c.count(1, 2)?;
            Fetch::HdrIp {
                name: hdr_name(c)?,
                occ: occ(c, 1)?,
            }
        }
        "req.cook" | "cook" => {
            c.count(0, 1)?;
            Fetch::Cook {
                name: c.str(0).filter(|s| !s.is_empty()).map(Into::into),
            }
        }
        "req.cook_cnt" | "cook_cnt" => {
            c.count(1, 1)?;
            Fetch::CookCnt {
                name: c.nonempty(0, "a cookie name")?.into(),
            }
        }
        "url_param" | "urlp" => {
            c.count(1, 2)?;
            let name = c.nonempty(0, "a parameter name")?.into();
            let delim = match c.args.get(1) {
                None => '&',
                Some(a) => {
                    let mut ch = a.text.chars();
                    match (ch.next(), ch.next()) {
                        (Some(d), None) => d,
                        _ => {
                            return Err(
                                c.bad(a.pos, "the delimiter must be exactly one character".into())
                            );
                        }
                    }
                }
            };
            Fetch::UrlParam { name, delim }
        }
        "ssl_c_s_dn" | "ssl_c_i_dn" => {
            c.count(0, 3)?;
            let entry = c.str(0).filter(|s| !s.is_empty()).map(Into::into);
            let occ = occ(c, 1)?;
            if let (Some(a), None) = (c.args.get(1), &entry)
                && occ != 0
            {
                return Err(c.bad(a.pos, "an occurrence needs an entry name".into()));
            }
            let rfc2253 = match c.args.get(2) {
                None => false,
                Some(a) if a.text.eq_ignore_ascii_case("rfc2253") => true,
                Some(a) if a.text.is_empty() => false,
                Some(a) => {
                    return Err(c.bad(
                        a.pos,
                        format!(
                            "unknown DN format `{}`, only `rfc2253` is supported",
                            a.text
                        ),
                    ));
                }
            };
            Fetch::SslDn {
                issuer: c.name == "ssl_c_i_dn",
                entry,
                occ,
                rfc2253,
            }
        }
        "res.hdr" | "res.fhdr" => {
            c.count(1, 2)?;
            Fetch::ResHdr {
                name: hdr_name(c)?,
                occ: occ(c, 1)?,
                split: c.name == "res.hdr",
            }
        }
        "res.hdr_cnt" | "res.fhdr_cnt" => {
            c.count(1, 1)?;
            Fetch::ResHdrCnt {
                name: hdr_name(c)?,
                split: c.name == "res.hdr_cnt",
            }
        }
        "http_auth" | "http_auth_group" => {
            c.count(1, 1)?;
            Fetch::HttpAuth {
                userlist: c.nonempty(0, "a userlist name")?.into(),
                group: c.name == "http_auth_group",
            }
        }
        "capture.req.hdr" | "capture.res.hdr" => {
            c.count(1, 1)?;
            let a = &c.args[0];
            let idx = c
                .int(0)?
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| c.bad(a.pos, "a capture slot is a number from 0".into()))?;
            let dir = if c.name == "capture.req.hdr" {
                crate::CaptureDir::Request
            } else {
                crate::CaptureDir::Response
            };
            Fetch::Capture(dir, idx)
        }
        "var" => {
            c.count(1, 1)?;
            let a = &c.args[0];
            match crate::vars::VarName::parse(&a.text) {
                Ok(v) => Fetch::Var(v),
                Err(e) => return Err(c.bad(a.pos, e)),
            }
        }
        "str" => {
            c.count(1, 1)?;
            Fetch::ConstStr(c.str(0).unwrap_or_default().into())
        }
        "int" => {
            c.count(1, 1)?;
            match c.int(0)? {
                Some(v) => Fetch::ConstInt(v),
                None => return Err(c.bad(c.args[0].pos, "`int` expects an integer".into())),
            }
        }
        "bool" => {
            c.count(1, 1)?;
            match c.int(0)? {
                Some(v) => Fetch::ConstBool(v != 0),
                None => return Err(c.bad(c.args[0].pos, "`bool` expects 0 or 1".into())),
            }
        }
        "ipv4" | "ipv6" => {
            c.count(1, 1)?;
            let a = &c.args[0];
            let ip: IpAddr = a.text.parse().map_err(|_| {
                Perr::new(
                    ParseErrorKind::BadIp,
                    a.pos,
                    format!("invalid IP address `{}`", a.text),
                )
            })?;
            if ip.is_ipv4() != (c.name == "ipv4") {
                return Err(Perr::new(
                    ParseErrorKind::BadIp,
                    a.pos,
                    format!("`{}` is not an {} address", a.text, c.name),
                ));
            }
            Fetch::ConstIp(ip)
        }
        other => {
            let f = match other {
                "method" => Fetch::Method,
                "path" => Fetch::Path,
                "url" => Fetch::Url,
                "query" => Fetch::Query,
                "base" => Fetch::Base,
                "req.ver" | "req_ver" => Fetch::Ver,
                "req.proto_http" => Fetch::ProtoHttp,
                "src" => Fetch::Src,
                "dst" => Fetch::Dst,
                "src_port" => Fetch::SrcPort,
                "dst_port" => Fetch::DstPort,
                "ssl_fc" => Fetch::SslFc,
                "ssl_fc_sni" => Fetch::SslFcSni,
                "ssl_fc_alpn" => Fetch::SslFcAlpn,
                "ssl_c_used" => Fetch::SslCUsed,
                "be_name" => Fetch::BeName,
                "be_id" => Fetch::BeId,
                "fe_name" => Fetch::FeName,
                "fe_id" => Fetch::FeId,
                "rhttp_name" => Fetch::RhttpName,
                "status" => Fetch::Status,
                "res.ver" | "resp_ver" => Fetch::ResVer,
                "unique-id" => Fetch::UniqueId,
                "req.len" | "req_len" => Fetch::ReqLen,
                "req.ssl_sni" | "req_ssl_sni" => Fetch::ReqSslSni,
                "req.ssl_hello_type" | "req_ssl_hello_type" => Fetch::ReqSslHelloType,
                "req.ssl_ver" | "req_ssl_ver" => Fetch::ReqSslVer,
                "always_true" => Fetch::ConstBool(true),
                "always_false" => Fetch::ConstBool(false),
                _ => return Ok(None),
            };
            c.count(0, 0)?;
            f
        }
    };
    Ok(Some(f))
}

fn query_of(url: &str) -> Option<&str> {
    url.split_once('?').map(|(_, q)| q)
}

fn param_iter<'c, 'n>(
    url: Option<&'c str>,
    name: &'n str,
    delim: char,
) -> impl Iterator<Item = &'c str> + Clone + use<'c, 'n> {
    url.and_then(query_of).into_iter().flat_map(move |q| {
        q.split(delim)
            .filter_map(move |kv| match kv.split_once('=') {
                Some((k, v)) if k == name => Some(v),
                None if kv == name => Some(""),
                _ => None,
            })
    })
}

/// `hdr_val`'s reading of a header value: the leading optionally-signed
/// decimal integer after leading blanks; `None` when there is no digit or
/// on overflow. (Casts of string samples are [`crate::sample::str_to_int`].)
fn hdr_int(s: &[u8]) -> Option<i64> {
    let b = s.trim_ascii_start();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in &digits[..n] {
        let d = i64::from(c - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// Path part of a request target (origin or absolute form).
pub(crate) fn path_of(url: &str) -> Option<&str> {
    let no_q = url.split_once('?').map_or(url, |(p, _)| p);
    if no_q.starts_with('/') {
        return Some(no_q);
    }
    let (_, after) = no_q.split_once("://")?;
    after.find('/').map(|i| &after[i..])
}

/// Parses an address as found in headers such as X-Forwarded-For:
/// `a.b.c.d`, `a.b.c.d:port`, IPv6, `[v6]:port`.
pub(crate) fn parse_hdr_ip(v: &[u8]) -> Option<IpAddr> {
    // Addresses are ASCII: other bytes are not one.
    let v = std::str::from_utf8(v).ok()?;
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    let (a, p) = v.rsplit_once(':')?;
    if p.bytes().all(|b| b.is_ascii_digit()) {
        a.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        None
    }
}

/// Attribute short names (as certificates' facts carry them, OpenSSL's)
/// and the long names OpenSSL also accepts in `ssl_c_s_dn(<entry>)`.
const DN_LONG_NAMES: &[(&str, &str)] = &[
    ("CN", "commonName"),
    ("SN", "surname"),
    ("C", "countryName"),
    ("L", "localityName"),
    ("ST", "stateOrProvinceName"),
    ("street", "streetAddress"),
    ("O", "organizationName"),
    ("OU", "organizationalUnitName"),
    ("GN", "givenName"),
    ("DC", "domainComponent"),
    ("UID", "userId"),
    // x509-parser's spelling, which gwd printed before 2026-12.
    ("emailAddress", "Email"),
];

/// Whether attribute `key` is the `entry` a rule names: the same short
/// name, or its long name, case-insensitively.
fn dn_entry_is(key: &str, entry: &str) -> bool {
    key.eq_ignore_ascii_case(entry)
        || DN_LONG_NAMES
            .iter()
            .any(|(short, long)| short == &key && long.eq_ignore_ascii_case(entry))
}

fn cert(ctx: &dyn SampleContext) -> Option<&ClientCertInfo> {
    ctx.tls()?.client_cert.as_ref()
}

fn dn_string(rdns: &[(String, String)], rfc2253: bool) -> String {
    let mut out = String::new();
    if rfc2253 {
        for (i, (k, v)) in rdns.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            let last = v.chars().count().saturating_sub(1);
            for (j, ch) in v.chars().enumerate() {
                let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
                    || (j == 0 && (ch == '#' || ch == ' '))
                    || (j == last && ch == ' ');
                if special {
                    out.push('\\');
                }
                out.push(ch);
            }
        }
    } else {
        for (k, v) in rdns {
            out.push('/');
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

impl Fetch {
    /// When the fetch can produce a sample.
    pub(crate) fn scope(&self) -> FetchScope {
        use Fetch::*;
        match self {
            Hdr { .. }
            | HdrCnt { .. }
            | HdrVal { .. }
            | HdrIp { .. }
            | Cook { .. }
            | CookCnt { .. }
            | UrlParam { .. }
            | Method
            | Path
            | Url
            | Query
            | Base
            | Ver
            | ProtoHttp
            | BeName
            | BeId
            | HttpAuth { .. } => FetchScope::Request,
            RhttpName => FetchScope::TunnelName,
            Status | ResHdr { .. } | ResHdrCnt { .. } | ResVer => FetchScope::Response,
            ReqLen | ReqSslSni | ReqSslHelloType | ReqSslVer => FetchScope::Content,
            // Variables exist in every context; unset ones give no sample.
            // Captures and the unique id too: they belong to the request
            // and outlive its head, so response rules read them (HAProxy
            // allows both there); elsewhere they give no sample.
            Var(_) | Capture(..) | UniqueId => FetchScope::Connection,
            Src
            | Dst
            | SrcPort
            | DstPort
            | SslFc
            | SslFcSni
            | SslFcAlpn
            | SslCUsed
            | SslDn { .. }
            | FeName
            | FeId
            | ConstStr(_)
            | ConstInt(_)
            | ConstBool(_)
            | ConstIp(_) => FetchScope::Connection,
        }
    }

    pub(crate) fn out_type(&self) -> SampleType {
        use Fetch::*;
        match self {
            HdrCnt { .. }
            | ResHdrCnt { .. }
            | Status
            | HdrVal { .. }
            | CookCnt { .. }
            | SrcPort
            | DstPort
            | BeId
            | FeId
            | ReqLen
            | ReqSslHelloType
            | ReqSslVer
            | ConstInt(_) => SampleType::Int,
            HdrIp { .. } | Src | Dst | ConstIp(_) => SampleType::Ip,
            ProtoHttp | SslFc | SslCUsed | ConstBool(_) | HttpAuth { group: false, .. } => {
                SampleType::Bool
            }
            _ => SampleType::Str,
        }
    }

    /// Single-sample evaluation (expressions, log formats): multi-valued
    /// fetches return their last (headers, cookies) or first (URL
    /// parameters) occurrence unless an occurrence is given.
    pub(crate) fn one<'c>(&self, ctx: &'c dyn SampleContext) -> Option<Sample<'c>> {
        use Fetch::*;
        let b = |v: &'c [u8]| Sample::Str(Cow::Borrowed(v));
        let s = |v: &'c str| Sample::Str(Cow::Borrowed(v.as_bytes()));
        match self {
            Hdr { name, occ, split } => {
                let lines = ctx.header_values(name);
                pick(hdr_iter(&lines, *split), *occ).map(b)
            }
            HdrCnt { name, split } => {
                let lines = ctx.header_values(name);
                let n = hdr_iter(&lines, *split).count();
                Some(Sample::Int(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            HdrVal { name, occ } => {
                let lines = ctx.header_values(name);
                pick(hdr_iter(&lines, true), *occ)
                    .and_then(hdr_int)
                    .map(Sample::Int)
            }
            HdrIp { name, occ } => {
                let lines = ctx.header_values(name);
                pick(hdr_iter(&lines, true), *occ)
                    .and_then(parse_hdr_ip)
                    .map(Sample::Ip)
            }
            Cook { name: Some(name) } => {
                let lines = ctx.header_values("cookie");
                pick(cookie_iter(&lines, name), 0).map(b)
            }
            Cook { name: None } => {
                let lines = ctx.header_values("cookie");
                lines
                    .iter()
                    .flat_map(|l| l.split(|&c| c == b';'))
                    .find_map(|kv| split_once_eq(kv).map(|(_, v)| ows(v)))
                    .map(b)
            }
            CookCnt { name } => {
                let lines = ctx.header_values("cookie");
                Some(Sample::Int(
                    i64::try_from(cookie_iter(&lines, name).count()).unwrap_or(i64::MAX),
                ))
            }
            UrlParam { name, delim } => param_iter(ctx.url(), name, *delim).next().map(s),
            Method => ctx.method().map(s),
            Path => ctx.path().or_else(|| ctx.url().and_then(path_of)).map(s),
            Url => ctx.url().map(s),
            Query => ctx.url().and_then(query_of).map(s),
            Base => {
                let path = ctx.path().or_else(|| ctx.url().and_then(path_of))?;
                let lines = ctx.header_values("host");
                match lines.first() {
                    Some(h) => Some(Sample::Str(Cow::Owned([ows(h), path.as_bytes()].concat()))),
                    None => Some(s(path)),
                }
            }
            Ver => ctx
                .version()
                .map(|v| v.strip_prefix("HTTP/").unwrap_or(v))
                .map(s),
            ProtoHttp => Some(Sample::Bool(ctx.method().is_some())),
            Src => ctx.src().map(|a| Sample::Ip(a.ip())),
            Dst => ctx.dst().map(|a| Sample::Ip(a.ip())),
            SrcPort => ctx.src().map(|a| Sample::Int(i64::from(a.port()))),
            DstPort => ctx.dst().map(|a| Sample::Int(i64::from(a.port()))),
            SslFc => Some(Sample::Bool(ctx.tls().is_some())),
            SslFcSni => ctx.tls()?.sni.as_deref().map(s),
            SslFcAlpn => ctx.tls()?.alpn.as_deref().map(s),
            SslCUsed => Some(Sample::Bool(cert(ctx).is_some())),
            SslDn {
                issuer,
                entry,
                occ,
                rfc2253,
            } => {
                let c = cert(ctx)?;
                let rdns = if *issuer { &c.issuer } else { &c.subject };
                match entry {
                    None => Some(Sample::from(dn_string(rdns, *rfc2253))),
                    Some(e) => {
                        let it = rdns
                            .iter()
                            .filter(|(k, _)| dn_entry_is(k, e))
                            .map(|(_, v)| v.as_str());
                        let occ = if *occ == 0 { 1 } else { *occ };
                        pick(it, occ).map(s)
                    }
                }
            }
            BeName => ctx.backend().map(|p| s(p.name)),
            BeId => ctx.backend().map(|p| Sample::Int(i64::from(p.id))),
            FeName => ctx.frontend().map(|p| s(p.name)),
            FeId => ctx.frontend().map(|p| Sample::Int(i64::from(p.id))),
            RhttpName => ctx.tunnel_name().map(s),
            Status => ctx.status().map(|c| Sample::Int(i64::from(c))),
            ResHdr { name, occ, split } => {
                let lines = ctx.res_header_values(name);
                pick(hdr_iter(&lines, *split), *occ).map(b)
            }
            ResHdrCnt { name, split } => {
                let lines = ctx.res_header_values(name);
                let n = hdr_iter(&lines, *split).count();
                Some(Sample::Int(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            ResVer => ctx
                .res_version()
                .map(|v| v.strip_prefix("HTTP/").unwrap_or(v))
                .map(s),
            ReqLen => ctx
                .content()
                .map(|c| Sample::Int(i64::try_from(c.len()).unwrap_or(i64::MAX))),
            ReqSslSni => match crate::hello::parse_client_hello(ctx.content()?) {
                crate::hello::HelloParse::Complete(h) => h.sni.map(|n| Sample::Str(Cow::Owned(n))),
                _ => None,
            },
            ReqSslHelloType => {
                crate::hello::hello_type(ctx.content()?).map(|t| Sample::Int(i64::from(t)))
            }
            ReqSslVer => match crate::hello::parse_client_hello(ctx.content()?) {
                crate::hello::HelloParse::Complete(h) => {
                    let [major, minor] = h.version.to_be_bytes();
                    Some(Sample::Int(i64::from(major) << 16 | i64::from(minor)))
                }
                _ => None,
            },
            Var(name) => ctx.var(name),
            Capture(dir, idx) => ctx.captures()?.get(*dir, *idx).map(b),
            UniqueId => ctx.unique_id().map(s),
            HttpAuth {
                userlist,
                group: false,
            } => Some(Sample::Bool(ctx.http_auth(userlist).is_some())),
            HttpAuth {
                userlist,
                group: true,
            } => ctx.http_auth(userlist).map(|u| Sample::from(u.user)),
            ConstStr(v) => Some(Sample::from(v.to_string())),
            ConstInt(v) => Some(Sample::Int(*v)),
            ConstBool(v) => Some(Sample::Bool(*v)),
            ConstIp(v) => Some(Sample::Ip(*v)),
        }
    }

    /// ACL evaluation: calls `f` on every value (all header, cookie and
    /// parameter occurrences when no occurrence is fixed) until it returns
    /// true. Returns whether some call returned true.
    pub(crate) fn each<'c>(
        &self,
        ctx: &'c dyn SampleContext,
        f: &mut dyn FnMut(Sample<'c>) -> bool,
    ) -> bool {
        use Fetch::*;
        match self {
            Hdr {
                name,
                occ: 0,
                split,
            } => {
                let lines = ctx.header_values(name);
                each_occ(hdr_iter(&lines, *split), 0, &mut |v| {
                    f(Sample::Str(Cow::Borrowed(v)))
                })
            }
            HdrVal { name, occ: 0 } => {
                let lines = ctx.header_values(name);
                each_occ(hdr_iter(&lines, true), 0, &mut |v| {
                    hdr_int(v).is_some_and(|i| f(Sample::Int(i)))
                })
            }
            HdrIp { name, occ: 0 } => {
                let lines = ctx.header_values(name);
                each_occ(hdr_iter(&lines, true), 0, &mut |v| {
                    parse_hdr_ip(v).is_some_and(|i| f(Sample::Ip(i)))
                })
            }
            Cook { name: Some(name) } => {
                let lines = ctx.header_values("cookie");
                each_occ(cookie_iter(&lines, name), 0, &mut |v| {
                    f(Sample::Str(Cow::Borrowed(v)))
                })
            }
            ResHdr {
                name,
                occ: 0,
                split,
            } => {
                let lines = ctx.res_header_values(name);
                each_occ(hdr_iter(&lines, *split), 0, &mut |v| {
                    f(Sample::Str(Cow::Borrowed(v)))
                })
            }
            UrlParam { name, delim } => each_occ(
                param_iter(ctx.url(), name, *delim).map(str::as_bytes),
                0,
                &mut |v| f(Sample::Str(Cow::Borrowed(v))),
            ),
            // An ACL on `http_auth_group` matches the user's groups
            // (HAProxy's `pat_match_auth`).
            HttpAuth {
                userlist,
                group: true,
            } => ctx
                .http_auth(userlist)
                .is_some_and(|u| u.groups.into_iter().any(|g| f(Sample::from(g)))),
            _ => self.one(ctx).is_some_and(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context that only knows a tunnel name.
    struct Tunnel(Option<&'static str>);

    impl SampleContext for Tunnel {
        fn tunnel_name(&self) -> Option<&str> {
            self.0
        }
    }

    fn rhttp_name() -> Fetch {
        let args = [];
        let call = Call {
            name: "rhttp_name",
            pos: 0,
            args: &args,
            usage: "rhttp_name",
        };
        build(&call).unwrap().unwrap()
    }

    #[test]
    fn rhttp_name_reads_the_tunnel_name() {
        let f = rhttp_name();
        assert_eq!(f.out_type(), SampleType::Str);
        assert_eq!(f.scope(), FetchScope::TunnelName);
        assert_eq!(
            f.one(&Tunnel(Some("app.localhost"))),
            Some(Sample::from("app.localhost"))
        );
        assert_eq!(f.one(&Tunnel(None)), None);
        // The default context method has no name: no sample.
        struct Nothing;
        impl SampleContext for Nothing {}
        assert_eq!(f.one(&Nothing), None);
        let mut seen = Vec::new();
        assert!(!f.each(&Tunnel(Some("x")), &mut |s| {
            seen.push(s.to_string());
            false
        }));
        assert_eq!(seen, ["x"]);
    }

    #[test]
    fn scopes() {
        let scope = |name: &str| {
            let args = [];
            let call = Call {
                name,
                pos: 0,
                args: &args,
                usage: name,
            };
            build(&call).unwrap().unwrap().scope()
        };
        for n in [
            "src",
            "dst",
            "src_port",
            "dst_port",
            "ssl_fc",
            "ssl_fc_sni",
            "ssl_fc_alpn",
        ] {
            assert_eq!(scope(n), FetchScope::Connection, "{n}");
        }
        for n in [
            "ssl_c_used",
            "ssl_c_s_dn",
            "ssl_c_i_dn",
            "fe_name",
            "fe_id",
            "always_true",
        ] {
            assert_eq!(scope(n), FetchScope::Connection, "{n}");
        }
        for n in [
            "method",
            "path",
            "url",
            "query",
            "base",
            "req.ver",
            "req.proto_http",
        ] {
            assert_eq!(scope(n), FetchScope::Request, "{n}");
        }
        for n in ["be_name", "be_id", "req.cook"] {
            assert_eq!(scope(n), FetchScope::Request, "{n}");
        }
        assert_eq!(scope("rhttp_name"), FetchScope::TunnelName);
    }

    #[test]
    fn path_of_forms() {
        assert_eq!(path_of("/a/b?x=1"), Some("/a/b"));
        assert_eq!(path_of("http://h:8/p?q"), Some("/p"));
        assert_eq!(path_of("http://h"), None);
        assert_eq!(path_of("*"), None);
    }

    #[test]
    fn hdr_ip_forms() {
        assert_eq!(parse_hdr_ip(b"10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            parse_hdr_ip(b"10.0.0.1:8080"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_hdr_ip(b"2001:db8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_hdr_ip(b"[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_hdr_ip(b"unknown"), None);
        assert_eq!(parse_hdr_ip(b"10.0.0.1\xE9"), None);
    }

    #[test]
    fn dn_entries_by_short_or_long_name() {
        assert!(dn_entry_is("CN", "cn") && dn_entry_is("CN", "commonName"));
        assert!(dn_entry_is("SN", "surname") && dn_entry_is("GN", "GIVENNAME"));
        assert!(
            dn_entry_is("emailAddress", "Email") && dn_entry_is("emailAddress", "emailaddress")
        );
        assert!(!dn_entry_is("CN", "surname") && !dn_entry_is("O", "OU"));
    }

    #[test]
    fn rfc2253_escapes_and_reverses() {
        let rdns = vec![
            ("C".to_string(), "FR".to_string()),
            ("O".into(), "A, B".into()),
            ("CN".into(), " x".into()),
        ];
        assert_eq!(dn_string(&rdns, true), "CN=\\ x,O=A\\, B,C=FR");
        assert_eq!(dn_string(&rdns, false), "/C=FR/O=A, B/CN= x");
    }
}

#[cfg(test)]
mod response_tests {
    use super::*;
    use crate::vars::{VarName, Vars};

    /// A response view: status 404, two `X-A` lines, HTTP/1.1, a variable.
    struct Res(Vars);

    impl SampleContext for Res {
        fn status(&self) -> Option<u16> {
            Some(404)
        }
        fn res_header_values(&self, name: &str) -> Vec<&[u8]> {
            match name {
                "x-a" => vec![b"1, 2", b"3"],
                _ => Vec::new(),
            }
        }
        fn res_version(&self) -> Option<&str> {
            Some("1.1")
        }
        fn var(&self, name: &VarName) -> Option<Sample<'static>> {
            self.0.get(name).cloned()
        }
    }

    fn fetch(name: &str, args: &[&str]) -> Fetch {
        let args: Vec<_> = args
            .iter()
            .map(|a| crate::args::Arg {
                text: (*a).to_owned(),
                pos: 0,
            })
            .collect();
        build(&Call {
            name,
            pos: 0,
            args: &args,
            usage: name,
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn response_fetches_read_the_response() {
        let mut vars = Vars::new();
        vars.set(&VarName::parse("txn.x").unwrap(), Sample::Int(7));
        let ctx = Res(vars);
        let one = |f: Fetch| f.one(&ctx).map(|s| s.to_string());
        assert_eq!(one(fetch("status", &[])).as_deref(), Some("404"));
        assert_eq!(one(fetch("res.hdr", &["X-A"])).as_deref(), Some("3"));
        assert_eq!(one(fetch("res.hdr", &["x-a", "2"])).as_deref(), Some("2"));
        assert_eq!(
            one(fetch("res.fhdr", &["x-a", "1"])).as_deref(),
            Some("1, 2")
        );
        assert_eq!(one(fetch("res.hdr_cnt", &["x-a"])).as_deref(), Some("3"));
        assert_eq!(one(fetch("res.fhdr_cnt", &["x-a"])).as_deref(), Some("2"));
        assert_eq!(one(fetch("res.ver", &[])).as_deref(), Some("1.1"));
        assert_eq!(one(fetch("var", &["txn.x"])).as_deref(), Some("7"));
        assert_eq!(one(fetch("var", &["txn.y"])), None);
        for n in ["status", "res.ver"] {
            assert_eq!(fetch(n, &[]).scope(), FetchScope::Response, "{n}");
        }
        assert_eq!(fetch("res.hdr", &["a"]).scope(), FetchScope::Response);
        assert_eq!(fetch("var", &["sess.a"]).scope(), FetchScope::Connection);
        assert_eq!(fetch("status", &[]).out_type(), SampleType::Int);
        // ACL evaluation sees every value.
        let mut seen = Vec::new();
        fetch("res.hdr", &["x-a"]).each(&ctx, &mut |s| {
            seen.push(s.to_string());
            false
        });
        assert_eq!(seen, ["1", "2", "3"]);
    }
}
