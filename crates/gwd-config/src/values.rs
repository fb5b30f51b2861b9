//! Parsers for the scalar values found in a config: durations, sizes, bind
//! addresses and server addresses.
//!
//! They are pure functions of a string, public so that other crates (and
//! tests) agree with the loader on what a value means. Each failure is a
//! [`ValueError`] whose [`ValueError::help`] suggests a correct spelling.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::model::{BindAddr, ServerAddr};

/// Why a duration, size or address string was rejected.
///
/// The `Display` text is one line naming the offending input; [`help`]
/// gives the fix to suggest.
///
/// [`help`]: ValueError::help
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The string was empty.
    #[error("empty value")]
    Empty,
    /// A duration or size that does not start with a digit.
    #[error("`{value}` is not a number followed by a unit")]
    NotANumber {
        /// The rejected input.
        value: String,
        /// What was being parsed: `"duration"` or `"size"`.
        what: &'static str,
    },
    /// A duration or size with a unit that is not known.
    #[error("unknown unit `{unit}` in `{value}`")]
    UnknownUnit {
        /// The rejected input.
        value: String,
        /// The unit as written.
        unit: String,
        /// What was being parsed: `"duration"` or `"size"`.
        what: &'static str,
    },
    /// The value does not fit (in a `u64` of microseconds, or in `usize`).
    #[error("`{0}` is too large")]
    TooLarge(String),
    /// An address with no `:port`.
    #[error("`{0}` has no port")]
    MissingPort(String),
    /// A server address with an empty host (`:8080`).
    #[error("`{0}` has no host")]
    MissingHost(String),
    /// A port that is not a number in range (ranges are not supported).
    #[error("invalid port `{port}` in `{value}`")]
    InvalidPort {
        /// The rejected input.
        value: String,
        /// The port as written.
        port: String,
        /// Whether port 0 would have been accepted (binds accept it).
        zero_ok: bool,
    },
    /// Something in brackets that is not an IPv6 address, or an invalid IP.
    #[error("invalid IP address `{host}` in `{value}`")]
    InvalidIp {
        /// The rejected input.
        value: String,
        /// The host part as written.
        host: String,
    },
    /// An IPv6 address written without brackets (`::1:8443`).
    #[error("IPv6 address `{host}` must be written in brackets")]
    UnbracketedIpv6 {
        /// The host part as written.
        host: String,
        /// The port as written.
        port: String,
    },
    /// A bind address that is a host name: binds take IP literals only.
    #[error("bind address `{0}` is not an IP address")]
    HostNameInBind(String),
    /// A server host that is neither an IP literal nor a valid DNS name.
    #[error("invalid host name `{host}` in `{value}`")]
    InvalidHostName {
        /// The rejected input.
        value: String,
        /// The host part as written.
        host: String,
    },
    /// An address prefix other than `ipv4@`, `ipv6@`, `quic4@`, `quic6@`
    /// (server addresses take only `ipv4@`/`ipv6@`).
    #[error("unsupported address prefix `{prefix}@` in `{value}`")]
    UnsupportedPrefix {
        /// The rejected input.
        value: String,
        /// The prefix, without `@`.
        prefix: String,
    },
    /// `ipv4@`/`quic4@` with an IPv6 address or the other way round.
    #[error("`{value}`: the `{prefix}@` prefix does not match the address family")]
    FamilyMismatch {
        /// The rejected input.
        value: String,
        /// The prefix, without `@`.
        prefix: String,
    },
}

impl ValueError {
    /// A suggested fix, one line.
    ///
    /// ```
    /// let err = gwd_config::parse_duration("5 sec").unwrap_err();
    /// assert!(err.help().unwrap().contains("`5s`"));
    /// ```
    pub fn help(&self) -> Option<String> {
        Some(match self {
            ValueError::Empty => {
                "write a value, e.g. `5s` for a duration or `16k` for a size".into()
            }
            ValueError::NotANumber { what, .. } | ValueError::UnknownUnit { what, .. } => {
                if *what == "size" {
                    "write a whole number with an optional unit `k`, `m` or `g` (×1024); \
                     a bare number is bytes, e.g. `16k`"
                        .into()
                } else {
                    "write a whole number followed by `us`, `ms`, `s`, `m`, `h` or `d`; \
                     a bare number is milliseconds, e.g. `5s`"
                        .into()
                }
            }
            ValueError::TooLarge(_) => "use a smaller value".into(),
            ValueError::MissingPort(v) => {
                format!("add the port, e.g. `{v}:80`")
            }
            ValueError::MissingHost(v) => format!("add the host, e.g. `127.0.0.1{v}`"),
            ValueError::InvalidPort { port, zero_ok, .. } => {
                let range = if *zero_ok { "0 to 65535" } else { "1 to 65535" };
                if port.contains('-') {
                    format!("port ranges are not supported: write one port, {range}")
                } else {
                    format!("the port must be a number from {range}")
                }
            }
            ValueError::InvalidIp { .. } => {
                "write an IPv4 address (`127.0.0.1`) or an IPv6 address in brackets (`[::1]`)"
                    .into()
            }
            ValueError::UnbracketedIpv6 { host, port } => format!("write `[{host}]:{port}`"),
            ValueError::HostNameInBind(_) => {
                "binds take IP addresses only: e.g. `127.0.0.1:8080`, `[::1]:8080`, \
                 or `:8080` for every IPv4 address"
                    .into()
            }
            ValueError::InvalidHostName { .. } => {
                "a host name is letters, digits, `-` and `_` in dot-separated labels".into()
            }
            ValueError::UnsupportedPrefix { .. } => {
                "the supported prefixes are `ipv4@`, `ipv6@`, `quic4@` and `quic6@` \
                 (servers: `ipv4@` and `ipv6@`)"
                    .into()
            }
            ValueError::FamilyMismatch { prefix, .. } => {
                if prefix.ends_with('4') {
                    format!("use an IPv4 address after `{prefix}@`, or the `ipv6@`/`quic6@` prefix")
                } else {
                    format!("use an IPv6 address in brackets after `{prefix}@`")
                }
            }
        })
    }
}

/// Splits `digits` + `unit`; `what` names the kind of value for messages.
fn split_number<'a>(s: &'a str, what: &'static str) -> Result<(u64, &'a str), ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return Err(ValueError::NotANumber {
            value: s.to_owned(),
            what,
        });
    }
    let n: u64 = s[..end]
        .parse()
        .map_err(|_| ValueError::TooLarge(s.to_owned()))?;
    Ok((n, &s[end..]))
}

/// Parses an HAProxy-style duration: a whole number and a unit, `us`, `ms`,
/// `s`, `m`, `h` or `d`. A bare number is milliseconds, as in HAProxy.
///
/// ```
/// use std::time::Duration;
/// use gwd_config::parse_duration;
/// assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
/// assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
/// assert!(parse_duration("5x").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let (n, unit) = split_number(s, "duration")?;
    let micros_per: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(ValueError::UnknownUnit {
                value: s.to_owned(),
                unit: unit.to_owned(),
                what: "duration",
            });
        }
    };
    n.checked_mul(micros_per)
        .map(Duration::from_micros)
        .ok_or_else(|| ValueError::TooLarge(s.to_owned()))
}

/// Parses a size: a whole number and an optional unit `k`, `m` or `g`
/// (powers of 1024, either case). A bare number is bytes.
///
/// ```
/// use gwd_config::parse_size;
/// assert_eq!(parse_size("16k"), Ok(16 * 1024));
/// assert_eq!(parse_size("100"), Ok(100));
/// ```
pub fn parse_size(s: &str) -> Result<usize, ValueError> {
    let (n, unit) = split_number(s, "size")?;
    let mul: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => {
            return Err(ValueError::UnknownUnit {
                value: s.to_owned(),
                unit: unit.to_owned(),
                what: "size",
            });
        }
    };
    n.checked_mul(mul)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| ValueError::TooLarge(s.to_owned()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

/// Splits an optional `prefix@`.
fn split_prefix(s: &str) -> (Option<&str>, &str) {
    match s.split_once('@') {
        Some((p, rest)) => (Some(p), rest),
        None => (None, s),
    }
}

/// Splits `host:port` / `[v6]:port`; returns (host, bracketed, port).
fn split_host_port(value: &str, rest: &str) -> Result<(String, bool, String), ValueError> {
    if let Some(inner) = rest.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(ValueError::InvalidIp {
                value: value.to_owned(),
                host: rest.to_owned(),
            });
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(ValueError::MissingPort(value.to_owned()));
        };
        return Ok((host.to_owned(), true, port.to_owned()));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), false, port.to_owned())),
        None => Err(ValueError::MissingPort(value.to_owned())),
    }
}

fn parse_port(value: &str, port: &str, zero_ok: bool) -> Result<u16, ValueError> {
    let bad = || ValueError::InvalidPort {
        value: value.to_owned(),
        port: port.to_owned(),
        zero_ok,
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(0) if !zero_ok => Err(bad()),
        Ok(p) => Ok(p),
        Err(_) => Err(bad()),
    }
}

/// Parses a bind address.
///
/// Accepted forms: `:443` and `*:443` (every IPv4 address, `0.0.0.0:443`,
/// like HAProxy), `127.0.0.1:8080`, `[::1]:8443`, `[::]:443`, each with an
/// optional `ipv4@`/`ipv6@` prefix (`ipv6@:443` is `[::]:443`), or a
/// `quic4@`/`quic6@` prefix for a QUIC bind. Port 0 lets the system pick a
/// port. Host names are refused: a bind takes IP literals only.
///
/// `rhttp@<backend>/<server>` binds name a server, not an address: the
/// loader resolves them ([`BindAddr::Reverse`]); here they are an
/// [`ValueError::UnsupportedPrefix`].
///
/// ```
/// use gwd_config::{parse_bind_addr, BindAddr, ValueError};
/// assert_eq!(parse_bind_addr(":8080"), Ok(BindAddr::Tcp("0.0.0.0:8080".parse().unwrap())));
/// assert_eq!(parse_bind_addr("quic6@[::]:443"), Ok(BindAddr::Quic("[::]:443".parse().unwrap())));
/// assert!(matches!(parse_bind_addr("rhttp@be/srv"), Err(ValueError::UnsupportedPrefix { .. })));
/// ```
pub fn parse_bind_addr(s: &str) -> Result<BindAddr, ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    let (prefix, rest) = split_prefix(s);
    let (family, quic) = match prefix {
        None => (Family::Any, false),
        Some("ipv4") => (Family::V4, false),
        Some("ipv6") => (Family::V6, false),
        Some("quic4") => (Family::V4, true),
        Some("quic6") => (Family::V6, true),
        Some(p) => {
            return Err(ValueError::UnsupportedPrefix {
                value: s.to_owned(),
                prefix: p.to_owned(),
            });
        }
    };
    let (host, bracketed, port_s) = split_host_port(s, rest)?;
    let ip: IpAddr = if !bracketed && (host.is_empty() || host == "*") {
        if family == Family::V6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        }
    } else if bracketed {
        match host.parse::<Ipv6Addr>() {
            Ok(ip) => ip.into(),
            Err(_) => {
                return Err(ValueError::InvalidIp {
                    value: s.to_owned(),
                    host,
                });
            }
        }
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        ip.into()
    } else if host.contains(':') {
        return Err(ValueError::UnbracketedIpv6 { host, port: port_s });
    } else if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ValueError::InvalidIp {
            value: s.to_owned(),
            host,
        });
    } else {
        return Err(ValueError::HostNameInBind(s.to_owned()));
    };
    let port = parse_port(s, &port_s, true)?;
    let mismatch = match family {
        Family::Any => false,
        Family::V4 => ip.is_ipv6(),
        Family::V6 => ip.is_ipv4(),
    };
    if mismatch {
        return Err(ValueError::FamilyMismatch {
            value: s.to_owned(),
            prefix: prefix.unwrap_or_default().to_owned(),
        });
    }
    let sa = SocketAddr::new(ip, port);
    Ok(if quic {
        BindAddr::Quic(sa)
    } else {
        BindAddr::Tcp(sa)
    })
}

/// Whether `host` is a syntactically valid DNS name.
fn valid_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Parses a server address: `host:port` where host is an IPv4 literal, an
/// IPv6 literal in brackets, or a DNS name (resolved when connecting), with
/// an optional `ipv4@`/`ipv6@` prefix. The port is required (1-65535).
///
/// IPv6 hosts are stored without brackets (`ServerAddr::host` parses as an
/// [`IpAddr`] whenever it is a literal).
///
/// ```
/// use gwd_config::parse_server_addr;
/// let a = parse_server_addr("backend.example.com:8080").unwrap();
/// assert_eq!((a.host.as_str(), a.port), ("backend.example.com", 8080));
/// assert!(parse_server_addr("backend.example.com").is_err());
/// ```
pub fn parse_server_addr(s: &str) -> Result<ServerAddr, ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    let (prefix, rest) = split_prefix(s);
    let family = match prefix {
        None => Family::Any,
        Some("ipv4") => Family::V4,
        Some("ipv6") => Family::V6,
        Some(p) => {
            return Err(ValueError::UnsupportedPrefix {
                value: s.to_owned(),
                prefix: p.to_owned(),
            });
        }
    };
    let (host, bracketed, port_s) = split_host_port(s, rest)?;
    let is_v6 = if bracketed {
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(ValueError::InvalidIp {
                value: s.to_owned(),
                host,
            });
        }
        true
    } else if host.is_empty() {
        return Err(ValueError::MissingHost(s.to_owned()));
    } else if host.parse::<Ipv4Addr>().is_ok() {
        false
    } else if host.contains(':') {
        return Err(ValueError::UnbracketedIpv6 { host, port: port_s });
    } else if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ValueError::InvalidIp {
            value: s.to_owned(),
            host,
        });
    } else if valid_host_name(&host) {
        // A name: the family prefix constrains resolution, not syntax.
        let port = parse_port(s, &port_s, false)?;
        return Ok(ServerAddr { host, port });
    } else {
        return Err(ValueError::InvalidHostName {
            value: s.to_owned(),
            host,
        });
    };
    let port = parse_port(s, &port_s, false)?;
    let mismatch = match family {
        Family::Any => false,
        Family::V4 => is_v6,
        Family::V6 => !is_v6,
    };
    if mismatch {
        return Err(ValueError::FamilyMismatch {
            value: s.to_owned(),
            prefix: prefix.unwrap_or_default().to_owned(),
        });
    }
    Ok(ServerAddr { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> BindAddr {
        BindAddr::Tcp(s.parse().unwrap())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn duration_errors() {
        assert_eq!(parse_duration(""), Err(ValueError::Empty));
        assert!(matches!(
            parse_duration("s"),
            Err(ValueError::NotANumber {
                what: "duration",
                ..
            })
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(ValueError::NotANumber { .. })
        ));
        assert!(matches!(
            parse_duration("1.5s"),
            Err(ValueError::UnknownUnit { ref unit, .. }) if unit == ".5s"
        ));
        assert!(matches!(
            parse_duration("5S"),
            Err(ValueError::UnknownUnit { ref unit, .. }) if unit == "S"
        ));
        assert!(matches!(
            parse_duration("5 s"),
            Err(ValueError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999"),
            Err(ValueError::TooLarge(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999d"),
            Err(ValueError::TooLarge(_))
        ));
        let e = parse_duration("5x").unwrap_err();
        assert_eq!(e.to_string(), "unknown unit `x` in `5x`");
        assert!(e.help().unwrap().contains("milliseconds"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("16K"), Ok(16384));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(""), Err(ValueError::Empty));
        assert!(matches!(
            parse_size("k"),
            Err(ValueError::NotANumber { what: "size", .. })
        ));
        assert!(matches!(
            parse_size("16kb"),
            Err(ValueError::UnknownUnit { ref unit, what: "size", .. }) if unit == "kb"
        ));
        assert!(matches!(
            parse_size("99999999999999999999g"),
            Err(ValueError::TooLarge(_))
        ));
        assert!(
            parse_size("1t")
                .unwrap_err()
                .help()
                .unwrap()
                .contains("bytes")
        );
    }

    #[test]
    fn bind_addrs() {
        assert_eq!(parse_bind_addr(":443"), Ok(tcp("0.0.0.0:443")));
        assert_eq!(parse_bind_addr("*:443"), Ok(tcp("0.0.0.0:443")));
        assert_eq!(parse_bind_addr("127.0.0.1:8080"), Ok(tcp("127.0.0.1:8080")));
        assert_eq!(parse_bind_addr("[::1]:8443"), Ok(tcp("[::1]:8443")));
        assert_eq!(parse_bind_addr("[::]:80"), Ok(tcp("[::]:80")));
        assert_eq!(parse_bind_addr("ipv4@:80"), Ok(tcp("0.0.0.0:80")));
        assert_eq!(parse_bind_addr("ipv6@:80"), Ok(tcp("[::]:80")));
        assert_eq!(parse_bind_addr("ipv4@10.0.0.1:80"), Ok(tcp("10.0.0.1:80")));
        assert_eq!(parse_bind_addr("ipv6@[::1]:80"), Ok(tcp("[::1]:80")));
        assert_eq!(parse_bind_addr("127.0.0.1:0"), Ok(tcp("127.0.0.1:0")));
        assert_eq!(
            parse_bind_addr("quic4@:443"),
            Ok(BindAddr::Quic("0.0.0.0:443".parse().unwrap()))
        );
        assert_eq!(
            parse_bind_addr("quic6@[::]:443"),
            Ok(BindAddr::Quic("[::]:443".parse().unwrap()))
        );
        assert_eq!(
            parse_bind_addr("quic6@:443"),
            Ok(BindAddr::Quic("[::]:443".parse().unwrap()))
        );
    }

    #[test]
    fn bind_addr_errors() {
        assert_eq!(parse_bind_addr(""), Err(ValueError::Empty));
        assert_eq!(
            parse_bind_addr("127.0.0.1"),
            Err(ValueError::MissingPort("127.0.0.1".into()))
        );
        assert_eq!(
            parse_bind_addr("[::1]"),
            Err(ValueError::MissingPort("[::1]".into()))
        );
        assert!(matches!(
            parse_bind_addr(":8080-8090"),
            Err(ValueError::InvalidPort { zero_ok: true, .. })
        ));
        assert!(
            parse_bind_addr(":8080-8090")
                .unwrap_err()
                .help()
                .unwrap()
                .contains("ranges")
        );
        assert!(matches!(
            parse_bind_addr(":65536"),
            Err(ValueError::InvalidPort { .. })
        ));
        assert!(matches!(
            parse_bind_addr(":"),
            Err(ValueError::InvalidPort { .. })
        ));
        assert!(matches!(
            parse_bind_addr("[zz]:80"),
            Err(ValueError::InvalidIp { .. })
        ));
        assert!(matches!(
            parse_bind_addr("[::1:80"),
            Err(ValueError::InvalidIp { .. })
        ));
        assert!(matches!(
            parse_bind_addr("300.0.0.1:80"),
            Err(ValueError::InvalidIp { .. })
        ));
        let e = parse_bind_addr("::1:8443").unwrap_err();
        assert_eq!(
            e,
            ValueError::UnbracketedIpv6 {
                host: "::1".into(),
                port: "8443".into()
            }
        );
        assert_eq!(e.help().unwrap(), "write `[::1]:8443`");
        assert_eq!(
            parse_bind_addr("localhost:80"),
            Err(ValueError::HostNameInBind("localhost:80".into()))
        );
        assert!(matches!(
            parse_bind_addr("unix@/tmp/x.sock"),
            Err(ValueError::UnsupportedPrefix { ref prefix, .. }) if prefix == "unix"
        ));
        assert!(matches!(
            parse_bind_addr("ipv4@[::1]:80"),
            Err(ValueError::FamilyMismatch { ref prefix, .. }) if prefix == "ipv4"
        ));
        assert!(matches!(
            parse_bind_addr("quic6@127.0.0.1:443"),
            Err(ValueError::FamilyMismatch { ref prefix, .. }) if prefix == "quic6"
        ));
    }

    #[test]
    fn server_addrs() {
        let a = parse_server_addr("127.0.0.1:9001").unwrap();
        assert_eq!(
            a,
            ServerAddr {
                host: "127.0.0.1".into(),
                port: 9001
            }
        );
        let a = parse_server_addr("[::1]:443").unwrap();
        assert_eq!(a.host, "::1");
        assert!(a.host.parse::<IpAddr>().is_ok());
        let a = parse_server_addr("backend.example.com:8080").unwrap();
        assert_eq!(a.host, "backend.example.com");
        assert_eq!(a.port, 8080);
        assert_eq!(parse_server_addr("localhost:1").unwrap().host, "localhost");
        assert_eq!(
            parse_server_addr("ipv4@10.1.2.3:80").unwrap().host,
            "10.1.2.3"
        );
        assert_eq!(parse_server_addr("ipv6@[::1]:80").unwrap().host, "::1");
        assert_eq!(
            parse_server_addr("my_svc.local:80").unwrap().host,
            "my_svc.local"
        );
    }

    #[test]
    fn server_addr_errors() {
        assert_eq!(parse_server_addr(""), Err(ValueError::Empty));
        assert_eq!(
            parse_server_addr("backend.example.com"),
            Err(ValueError::MissingPort("backend.example.com".into()))
        );
        assert_eq!(
            parse_server_addr("backend.example.com")
                .unwrap_err()
                .help()
                .unwrap(),
            "add the port, e.g. `backend.example.com:80`"
        );
        assert_eq!(
            parse_server_addr(":8080"),
            Err(ValueError::MissingHost(":8080".into()))
        );
        assert!(matches!(
            parse_server_addr("a.b:0"),
            Err(ValueError::InvalidPort { zero_ok: false, .. })
        ));
        assert!(matches!(
            parse_server_addr("a.b:http"),
            Err(ValueError::InvalidPort { .. })
        ));
        assert!(matches!(
            parse_server_addr("bad host:80"),
            Err(ValueError::InvalidHostName { .. })
        ));
        assert!(matches!(
            parse_server_addr("-bad.example:80"),
            Err(ValueError::InvalidHostName { .. })
        ));
        assert!(matches!(
            parse_server_addr("a..b:80"),
            Err(ValueError::InvalidHostName { .. })
        ));
        assert!(matches!(
            parse_server_addr("::1:80"),
            Err(ValueError::UnbracketedIpv6 { .. })
        ));
        assert!(matches!(
            parse_server_addr("1.2.3:80"),
            Err(ValueError::InvalidIp { .. })
        ));
        assert!(matches!(
            parse_server_addr("quic4@1.2.3.4:80"),
            Err(ValueError::UnsupportedPrefix { .. })
        ));
        assert!(matches!(
            parse_server_addr("ipv6@1.2.3.4:80"),
            Err(ValueError::FamilyMismatch { .. })
        ));
    }
}
