//! Sample values and their casts.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// A typed value produced by a fetch or a converter.
///
/// String samples borrow from the [`crate::SampleContext`] whenever possible
/// (`'a` is the context's lifetime); converters that rewrite text produce an
/// owned string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample<'a> {
    /// A boolean (`ssl_fc`, `always_true`, the `bool` converter, ...).
    Bool(bool),
    /// A signed 64-bit integer (`src_port`, `be_id`, `len`, ...).
    Int(i64),
    /// Text (`path`, `req.hdr(host)`, ...).
    Str(Cow<'a, str>),
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

    /// The text of a [`Sample::Str`]; `None` for other variants (use
    /// [`Sample::to_str`] to format any sample).
    pub fn as_str(&self) -> Option<&str> {
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
    /// optionally signed leading decimal number (`"42abc"` is 42, `"abc"` fails),
    /// IPv4 addresses are their 32-bit value, IPv6 addresses do not cast.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Sample::Bool(b) => Some(i64::from(*b)),
            Sample::Int(i) => Some(*i),
            Sample::Str(s) => str_to_int(s),
            Sample::Ip(IpAddr::V4(a)) => Some(i64::from(u32::from(*a))),
            Sample::Ip(IpAddr::V6(a)) => a.to_ipv4_mapped().map(|a| i64::from(u32::from(a))),
        }
    }

    /// Cast to an address: strings are parsed, integers in `0..=u32::MAX` are
    /// IPv4 addresses, booleans do not cast.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Sample::Ip(a) => Some(*a),
            Sample::Str(s) => s.trim().parse().ok(),
            Sample::Int(i) => u32::try_from(*i)
                .ok()
                .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            Sample::Bool(_) => None,
        }
    }

    /// The textual form: strings borrowed as is, booleans as `1`/`0`
    /// (as HAProxy prints them), integers in decimal, addresses in their
    /// standard notation.
    pub fn to_str(&self) -> Cow<'_, str> {
        match self {
            Sample::Str(s) => Cow::Borrowed(s),
            Sample::Bool(b) => Cow::Borrowed(if *b { "1" } else { "0" }),
            Sample::Int(i) => Cow::Owned(i.to_string()),
            Sample::Ip(a) => Cow::Owned(a.to_string()),
        }
    }

    /// Like [`Sample::to_str`] but keeps the context borrow of string samples.
    pub fn into_str(self) -> Cow<'a, str> {
        match self {
            Sample::Str(s) => s,
            Sample::Bool(b) => Cow::Borrowed(if b { "1" } else { "0" }),
            Sample::Int(i) => Cow::Owned(i.to_string()),
            Sample::Ip(a) => Cow::Owned(a.to_string()),
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
            SampleType::Str => Some(Sample::Str(self.into_str())),
        }
    }
}

impl fmt::Display for Sample<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sample::Str(s) => f.write_str(s),
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
        Sample::Str(Cow::Borrowed(v))
    }
}
impl From<String> for Sample<'_> {
    fn from(v: String) -> Self {
        Sample::Str(Cow::Owned(v))
    }
}
impl From<IpAddr> for Sample<'_> {
    fn from(v: IpAddr) -> Self {
        Sample::Ip(v)
    }
}

/// Leading optionally-signed decimal integer of `s` (after leading blanks);
/// `None` when there is no digit or on overflow.
pub(crate) fn str_to_int(s: &str) -> Option<i64> {
    let b = s.trim_start().as_bytes();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_to_int_reads_leading_number() {
        assert_eq!(str_to_int("42"), Some(42));
        assert_eq!(str_to_int(" 42abc"), Some(42));
        assert_eq!(str_to_int("-7"), Some(-7));
        assert_eq!(str_to_int("+7"), Some(7));
        assert_eq!(str_to_int("abc"), None);
        assert_eq!(str_to_int("-"), None);
        assert_eq!(str_to_int("99999999999999999999"), None);
        assert_eq!(str_to_int("-9223372036854775808"), Some(i64::MIN));
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
