//! Map values read as typed samples (`map_*_int`, `map_*_ip`), with
//! HAProxy's parsing rules, and the uses of a reference that `get map`
//! reports.

use std::net::IpAddr;

use crate::index::{MatchKind, MatchSpec};

/// How a converter reads the values of a map: the `_str` (default), `_int`
/// and `_ip` output variants.
///
/// A reference used by an `_int` or `_ip` converter requires every value to
/// parse as that type: a file with a bad value fails to load, and a runtime
/// `add`/`set` with one is refused (`unable to parse '<value>'.`).
///
/// ```
/// use gwd_maps::ValueType;
/// assert_eq!(ValueType::parse_int(b"-42"), Some(-42));
/// assert_eq!(ValueType::parse_int(b""), Some(0)); // no digits: 0, as in HAProxy
/// assert_eq!(ValueType::parse_int(b"12abc"), None); // the whole value must be read
/// assert!(ValueType::Ip.accepts(b"10.0.0.1"));
/// assert_eq!(ValueType::Ip.sample_type(b"::1"), Some("ipv6"));
/// assert_eq!(ValueType::Int.sample_type(b"7"), Some("sint"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Strings: every value is valid.
    Str,
    /// Signed 64-bit integers (`map_*_int`).
    Int,
    /// IPv4 or IPv6 addresses (`map_*_ip`).
    Ip,
}

impl ValueType {
    /// The converter suffix: `str`, `int`, `ip`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Ip => "ip",
        }
    }

    /// Whether `value` reads as this type.
    pub fn accepts(self, value: &[u8]) -> bool {
        match self {
            ValueType::Str => true,
            ValueType::Int => Self::parse_int(value).is_some(),
            ValueType::Ip => Self::parse_ip(value).is_some(),
        }
    }

    /// The sample type name `get map` prints for `value` read as this type
    /// (`type="str"`, `"sint"`, `"ipv4"`, `"ipv6"`); `None` when the value
    /// does not parse.
    pub fn sample_type(self, value: &[u8]) -> Option<&'static str> {
        match self {
            ValueType::Str => Some("str"),
            ValueType::Int => Self::parse_int(value).map(|_| "sint"),
            ValueType::Ip => Self::parse_ip(value).map(|a| match a {
                IpAddr::V4(_) => "ipv4",
                IpAddr::V6(_) => "ipv6",
            }),
        }
    }

    /// An integer value, HAProxy's way: an optional sign, then decimal
    /// digits, and nothing else. No digits at all reads as 0 (so an empty
    /// value is 0); values beyond the i64 range saturate.
    pub fn parse_int(value: &[u8]) -> Option<i64> {
        let (neg, digits) = match value.first() {
            Some(b'-') => (true, &value[1..]),
            Some(b'+') => (false, &value[1..]),
            _ => (false, value),
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut v: i64 = 0;
        for &b in digits {
            let d = i64::from(b - b'0');
            v = if neg {
                v.saturating_mul(10).saturating_sub(d)
            } else {
                v.saturating_mul(10).saturating_add(d)
            };
        }
        Some(v)
    }

    /// An address value, HAProxy's way: a dotted IPv4 address (octets may
    /// have leading zeros; anything after the fourth octet is ignored), else
    /// a complete IPv6 address.
    pub fn parse_ip(value: &[u8]) -> Option<IpAddr> {
        crate::keys::parse_ip_input(value).map(|a| match a {
            crate::keys::IpInput::V4(v4) => IpAddr::V4(v4.into()),
            crate::keys::IpInput::V6(v6) => IpAddr::V6(v6.into()),
        })
    }
}

/// One use of a reference by the configuration, as `get map` / `get acl`
/// report it: a match spec and how values are read (`None` for ACLs, which
/// ignore values).
///
/// Uses that HAProxy serves from one pattern expression are reported once,
/// under the first one registered: the same value type and `-i` flag, and
/// kinds that share an index (`sub`, `dir`, `dom` and `end`; `int` and
/// `len`). See [`MapRef::uses`](crate::MapRef::uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PatternUse {
    /// The match spec.
    pub spec: MatchSpec,
    /// How a converter reads values; `None` for an ACL (`value=none`).
    pub values: Option<ValueType>,
}

/// HAProxy's index/parser family of a kind: kinds in one family share one
/// pattern expression per value type and flags.
fn family(kind: MatchKind) -> u8 {
    match kind {
        MatchKind::Str => 0,
        MatchKind::Beg => 1,
        MatchKind::Sub | MatchKind::Dir | MatchKind::Dom | MatchKind::End => 2,
        MatchKind::Reg => 3,
        MatchKind::Regm => 4,
        MatchKind::Int | MatchKind::Len => 5,
        MatchKind::Ip => 6,
        MatchKind::Found => 7,
    }
}

impl PatternUse {
    /// Whether HAProxy would serve both uses from one pattern expression.
    pub fn same_expression(&self, other: &PatternUse) -> bool {
        family(self.spec.kind) == family(other.spec.kind)
            && self.spec.icase == other.spec.icase
            && self.values == other.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_values_follow_haproxy() {
        assert_eq!(ValueType::parse_int(b"7"), Some(7));
        assert_eq!(ValueType::parse_int(b"+7"), Some(7));
        assert_eq!(ValueType::parse_int(b"-7"), Some(-7));
        assert_eq!(ValueType::parse_int(b"007"), Some(7));
        assert_eq!(ValueType::parse_int(b"-"), Some(0));
        assert_eq!(ValueType::parse_int(b""), Some(0));
        assert_eq!(
            ValueType::parse_int(b"99999999999999999999"),
            Some(i64::MAX)
        );
        assert_eq!(
            ValueType::parse_int(b"-99999999999999999999"),
            Some(i64::MIN)
        );
        for bad in [
            &b"1.5"[..],
            b"0x10",
            b"12abc",
            b"abc",
            b" 1",
            b"--1",
            b"1e3",
        ] {
            assert_eq!(ValueType::parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ip_values_follow_haproxy() {
        assert_eq!(
            ValueType::parse_ip(b"010.001.002.003"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            ValueType::parse_ip(b"10.1.2.3/8"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            ValueType::parse_ip(b"::ffff:1.2.3.4"),
            Some("::ffff:1.2.3.4".parse().unwrap())
        );
        for bad in [
            &b"10.12"[..],
            b"host.example",
            b"",
            b"1.2.3.256",
            b"fe80::1%eth0",
        ] {
            assert_eq!(ValueType::parse_ip(bad), None, "{bad:?}");
        }
        assert_eq!(ValueType::Ip.sample_type(b"1.2.3.4"), Some("ipv4"));
        assert_eq!(ValueType::Ip.sample_type(b"x"), None);
        assert_eq!(ValueType::Str.sample_type(b"x"), Some("str"));
    }

    #[test]
    fn expressions_group_like_haproxy() {
        let u = |k, i, v| PatternUse {
            spec: if i {
                MatchSpec::icase(k)
            } else {
                MatchSpec::new(k)
            },
            values: v,
        };
        let s = Some(ValueType::Str);
        assert!(u(MatchKind::Sub, false, s).same_expression(&u(MatchKind::End, false, s)));
        assert!(u(MatchKind::Int, false, s).same_expression(&u(MatchKind::Len, false, s)));
        assert!(!u(MatchKind::Str, false, s).same_expression(&u(MatchKind::Beg, false, s)));
        assert!(!u(MatchKind::Sub, true, None).same_expression(&u(MatchKind::Sub, false, None)));
        assert!(!u(MatchKind::Str, false, s).same_expression(&u(
            MatchKind::Str,
            false,
            Some(ValueType::Int)
        )));
        assert!(!u(MatchKind::Reg, false, s).same_expression(&u(MatchKind::Regm, false, s)));
    }
}
