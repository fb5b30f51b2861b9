//! Sample values and their casts.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A typed value produced by a fetch or a converter.
///
/// String samples borrow from the [`crate::SampleContext`] whenever possible
/// (`'a` is the context's lifetime); converters that rewrite text produce an
/// owned string.
///
/// A string sample is bytes, as HAProxy's are: header values may carry
/// obs-text (bytes 0x80-0xFF, UTF-8 or Latin-1 alike), and such a value
/// must still match, convert and be copied into another header byte for
/// byte. Text from the configuration is UTF-8, so most samples are too;
/// [`Sample::to_str`] gives a (lossy) `str` where text is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample<'a> {
    /// A boolean (`ssl_fc`, `always_true`, the `bool` converter, ...).
    Bool(bool),
    /// A signed 64-bit integer (`src_port`, `be_id`, `len`, ...).
    Int(i64),
    /// A string (`path`, `req.hdr(host)`, ...): bytes, usually UTF-8.
    Str(Cow<'a, [u8]>),
    /// An IPv4 or IPv6 address (`src`, `dst`, `req.hdr_ip(...)`).
    Ip(IpAddr),
}

/// The static type of a sample, known at parse time for every expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleType {
    /// [`Sample::Bool`].
    Bool,
    /// [`Sample::Int`].
    Int,
    /// [`Sample::Str`].
    Str,
    /// [`Sample::Ip`].
    Ip,
}

impl fmt::Display for SampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SampleType::Bool => "boolean",
            SampleType::Int => "integer",
            SampleType::Str => "string",
            SampleType::Ip => "ip",
        })
    }
}

impl SampleType {
    /// The type name with its indefinite article ("an integer", "a string").
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            SampleType::Bool => "a boolean",
            SampleType::Int => "an integer",
            SampleType::Str => "a string",
            SampleType::Ip => "an ip",
        }
    }
}

impl<'a> Sample<'a> {
    /// The type of this value.
    pub fn sample_type(&self) -> SampleType {
        match self {
            Sample::Bool(_) => SampleType::Bool,
            Sample::Int(_) => SampleType::Int,
            Sample::Str(_) => SampleType::Str,
            Sample::Ip(_) => SampleType::Ip,
        }
    }

    /// The text of a [`Sample::Str`] that is UTF-8; `None` for other
    /// variants and other bytes (use [`Sample::to_str`] to format any
    /// sample, [`Sample::as_bytes`] for the bytes).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Sample::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    /// The bytes of a [`Sample::Str`]; `None` for other variants.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Sample::Str(s) => Some(s),
            _ => None,
        }
    }

    /// HAProxy-style cast to boolean: booleans as is, integers non-zero,
    /// strings through their integer value; addresses do not cast.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Sample::Bool(b) => Some(*b),
            Sample::Int(i) => Some(*i != 0),
            Sample::Str(s) => str_to_int(s).map(|i| i != 0),
            Sample::Ip(_) => None,
        }
    }

    /// HAProxy-style cast to integer: booleans are 0/1, strings are read as an
    /// optionally signed leading decimal number, saturating at the 64-bit
    /// bounds (`"42abc"` is 42, `"abc"` and `"-"` are 0, the empty string
    /// fails), IPv4 addresses are their 32-bit value, IPv6 addresses do not
    /// cast.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Sample::Bool(b) => Some(i64::from(*b)),
            Sample::Int(i) => Some(*i),
            Sample::Str(s) => str_to_int(s),
            Sample::Ip(IpAddr::V4(a)) => Some(i64::from(u32::from(*a))),
            Sample::Ip(IpAddr::V6(a)) => a.to_ipv4_mapped().map(|a| i64::from(u32::from(a))),
        }
    }

    /// Cast to an address: strings as HAProxy reads them (a leading dotted
    /// quad, `010.1.2.3/8` is 10.1.2.3, else a whole IPv6 address), integers
    /// in `0..=u32::MAX` are IPv4 addresses, booleans do not cast.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Sample::Ip(a) => Some(*a),
            Sample::Str(s) => str_to_ip(s),
            Sample::Int(i) => u32::try_from(*i)
                .ok()
                .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            Sample::Bool(_) => None,
        }
    }

    /// The textual form: UTF-8 strings borrowed as is (other bytes
    /// replaced by U+FFFD: use [`Sample::to_bytes`] where bytes go on the
    /// wire), booleans as `1`/`0` (as HAProxy prints them), integers in
    /// decimal, addresses in their standard notation.
    pub fn to_str(&self) -> Cow<'_, str> {
        match self {
            Sample::Str(s) => String::from_utf8_lossy(s),
            Sample::Bool(b) => Cow::Borrowed(if *b { "1" } else { "0" }),
            Sample::Int(i) => Cow::Owned(i.to_string()),
            Sample::Ip(a) => Cow::Owned(a.to_string()),
        }
    }

    /// Like [`Sample::to_str`] but keeps the context borrow of string samples.
    pub fn into_str(self) -> Cow<'a, str> {
        match self {
            Sample::Str(Cow::Borrowed(s)) => String::from_utf8_lossy(s),
            Sample::Str(Cow::Owned(s)) => match String::from_utf8(s) {
                Ok(s) => Cow::Owned(s),
                Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            },
            other => Cow::Owned(other.to_str().into_owned()),
        }
    }

    /// The string form as bytes: strings exactly as they are, other
    /// types as [`Sample::to_str`] writes them.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Sample::Str(s) => Cow::Borrowed(s),
            other => Cow::Owned(other.to_str().into_owned().into_bytes()),
        }
    }

    /// Like [`Sample::to_bytes`] but keeps the context borrow of string
    /// samples.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        match self {
            Sample::Str(s) => s,
            other => Cow::Owned(other.to_str().into_owned().into_bytes()),
        }
    }

    /// Detaches the sample from the context.
    pub fn into_owned(self) -> Sample<'static> {
        match self {
            Sample::Bool(b) => Sample::Bool(b),
            Sample::Int(i) => Sample::Int(i),
            Sample::Str(s) => Sample::Str(Cow::Owned(s.into_owned())),
            Sample::Ip(a) => Sample::Ip(a),
        }
    }

    /// Converts to `ty` with HAProxy's casts; `None` when no cast applies.
    pub fn cast(self, ty: SampleType) -> Option<Sample<'a>> {
        if self.sample_type() == ty {
            return Some(self);
        }
        match ty {
            SampleType::Bool => self.as_bool().map(Sample::Bool),
            SampleType::Int => self.as_int().map(Sample::Int),
            SampleType::Ip => self.as_ip().map(Sample::Ip),
            SampleType::Str => Some(Sample::Str(self.into_bytes())),
        }
    }
}

impl fmt::Display for Sample<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sample::Str(s) => f.write_str(&String::from_utf8_lossy(s)),
            Sample::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
            Sample::Int(i) => write!(f, "{i}"),
            Sample::Ip(a) => write!(f, "{a}"),
        }
    }
}

impl From<bool> for Sample<'_> {
    fn from(v: bool) -> Self {
        Sample::Bool(v)
    }
}
impl From<i64> for Sample<'_> {
    fn from(v: i64) -> Self {
        Sample::Int(v)
    }
}
impl<'a> From<&'a str> for Sample<'a> {
    fn from(v: &'a str) -> Self {
        Sample::Str(Cow::Borrowed(v.as_bytes()))
    }
}
impl From<String> for Sample<'_> {
    fn from(v: String) -> Self {
        Sample::Str(Cow::Owned(v.into_bytes()))
    }
}
impl<'a> From<&'a [u8]> for Sample<'a> {
    fn from(v: &'a [u8]) -> Self {
        Sample::Str(Cow::Borrowed(v))
    }
}
impl From<Vec<u8>> for Sample<'_> {
    fn from(v: Vec<u8>) -> Self {
        Sample::Str(Cow::Owned(v))
    }
}
impl From<IpAddr> for Sample<'_> {
    fn from(v: IpAddr) -> Self {
        Sample::Ip(v)
    }
}

/// HAProxy's string-to-integer cast: an optional `+` or `-` then the
/// leading decimal digits, read until the first other byte, saturating at
/// `i64::MIN`/`i64::MAX` (`"99999999999999999999"` is `i64::MAX`). A
/// string with no digits there (`"abc"`, `"+"`, `" 42"`: blanks are not
/// skipped) is 0; only an empty string does not cast.
pub(crate) fn str_to_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        let d = i64::from(c - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    Some(v)
}

/// HAProxy's string-to-address cast: a dotted quad at the start of the
/// string (each part one or more decimal digits up to 255, leading zeros
/// read as decimal: `010.001.002.003` is 10.1.2.3) ends at the first byte
/// that is neither a digit nor a dot, so `10.1.2.3/8` and `1.2.3.4:80`
/// are their address; otherwise the whole string must be an IPv6 address.
pub(crate) fn str_to_ip(s: &[u8]) -> Option<IpAddr> {
    if let Some(a) = leading_ipv4(s) {
        return Some(IpAddr::V4(a));
    }
    std::str::from_utf8(s)
        .ok()?
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// The dotted quad that starts `s`, if any (see [`str_to_ip`]).
fn leading_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    // Parts started so far, and whether the current part has a digit.
    let mut parts = 0usize;
    let mut digit_seen = false;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                if !digit_seen {
                    if parts == 4 {
                        return None;
                    }
                    parts += 1;
                    digit_seen = true;
                }
                let o = &mut octets[parts - 1];
                *o = o.checked_mul(10)?.checked_add(c - b'0')?;
            }
            b'.' => {
                if !digit_seen || parts == 4 {
                    return None;
                }
                digit_seen = false;
            }
            _ => break,
        }
    }
    (parts == 4 && digit_seen).then(|| Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// String-to-integer casts, input and HAProxy's result. Every row was
    /// checked against HAProxy 2.6.12 as `%[str(<input>),add(0)]` in an
    /// `http-request return ... lf-string` body (the empty string as
    /// `%[req.hdr(x-empty),add(0)]` with an empty `x-empty` header: no
    /// sample, so nothing rendered).
    const HAPROXY_STR_TO_INT: &[(&str, Option<i64>)] = &[
        ("42", Some(42)),
        ("+7", Some(7)),
        ("42abc", Some(42)),
        ("00012", Some(12)),
        ("-0", Some(0)),
        ("1.2.3.4", Some(1)),
        ("0x10", Some(0)),
        // Overflow saturates at the 64-bit bounds.
        ("99999999999999999999", Some(i64::MAX)),
        ("-99999999999999999999", Some(i64::MIN)),
        ("9223372036854775808", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("-9223372036854775809", Some(i64::MIN)),
        // No digits: 0 (a lone sign, text, a leading blank).
        ("+", Some(0)),
        ("-", Some(0)),
        ("abc", Some(0)),
        (" 42", Some(0)),
        ("", None),
    ];

    /// String-to-address casts, input and HAProxy's result. Every row was
    /// checked against HAProxy 2.6.12 as `%[str(<input>),ipmask(32,128)]`
    /// in an `http-request return ... lf-string` body.
    const HAPROXY_STR_TO_IP: &[(&str, Option<&str>)] = &[
        ("1.2.3.4", Some("1.2.3.4")),
        // Leading zeros are decimal, not octal.
        ("010.001.002.003", Some("10.1.2.3")),
        ("0001.2.3.4", Some("1.2.3.4")),
        ("1.2.3.04", Some("1.2.3.4")),
        ("1.2.3.0004", Some("1.2.3.4")),
        // The address ends at the first byte that is no digit or dot.
        ("10.1.2.3/8", Some("10.1.2.3")),
        ("1.2.3.4/33", Some("1.2.3.4")),
        ("1.2.3.4:80", Some("1.2.3.4")),
        ("1.2.3.4xyz", Some("1.2.3.4")),
        ("1.2.3.4 ", Some("1.2.3.4")),
        (" 1.2.3.4", None),
        ("1.2.3", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("1.2.3.4.", None),
        ("1..2.3.4", None),
        (".1.2.3.4", None),
        ("12", None),
        ("4294967296", None),
        // IPv6: the whole string.
        ("::1", Some("::1")),
        ("::1/64", None),
        ("::1 ", None),
    ];

    #[test]
    fn str_to_int_follows_haproxy() {
        for &(input, want) in HAPROXY_STR_TO_INT {
            assert_eq!(str_to_int(input.as_bytes()), want, "{input:?}");
            assert_eq!(
                Sample::from(input).cast(SampleType::Int),
                want.map(Sample::Int),
                "{input:?}"
            );
        }
        // Booleans go through the integer: checked as `%[str(...),bool]`.
        assert_eq!(Sample::from("abc").as_bool(), Some(false));
        assert_eq!(Sample::from("5").as_bool(), Some(true));
        assert_eq!(Sample::from("").as_bool(), None);
    }

    #[test]
    fn str_to_ip_follows_haproxy() {
        for &(input, want) in HAPROXY_STR_TO_IP {
            let want = want.map(|a| a.parse::<IpAddr>().unwrap());
            assert_eq!(str_to_ip(input.as_bytes()), want, "{input:?}");
            assert_eq!(Sample::from(input).as_ip(), want, "{input:?}");
        }
    }

    #[test]
    fn casts() {
        assert_eq!(
            Sample::from("12").cast(SampleType::Int),
            Some(Sample::Int(12))
        );
        assert_eq!(
            Sample::Int(0).cast(SampleType::Bool),
            Some(Sample::Bool(false))
        );
        assert_eq!(
            Sample::Bool(true).cast(SampleType::Str),
            Some(Sample::from("1"))
        );
        assert_eq!(
            Sample::Int(0x0a000001).cast(SampleType::Ip),
            Some(Sample::Ip("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(Sample::from("::1").as_ip(), Some("::1".parse().unwrap()));
        assert_eq!(Sample::from("nope").cast(SampleType::Ip), None);
        assert_eq!(
            Sample::Ip("1.2.3.4".parse().unwrap()).to_string(),
            "1.2.3.4"
        );
        assert_eq!(
            Sample::Ip("1.2.3.4".parse().unwrap()).as_int(),
            Some(0x01020304)
        );
        assert_eq!(Sample::Bool(false).as_ip(), None);
        assert_eq!(Sample::from("x").as_str(), Some("x"));
        assert_eq!(Sample::Int(3).as_str(), None);
        assert_eq!(Sample::Int(3).to_str(), "3");
        let owned: Sample<'static> = Sample::from("abc").into_owned();
        assert_eq!(owned.sample_type(), SampleType::Str);
    }
}
