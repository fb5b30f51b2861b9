//! Parsing of pattern keys and lookup inputs for the typed match kinds
//! (`int`/`len`, `ip`, `reg`) and the delimiter rules of `dom`/`dir`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An `int`/`len` pattern: an inclusive range (`lo..=hi`, either side open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntKey {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
}

impl IntKey {
    pub(crate) fn is_exact(&self) -> bool {
        self.lo == self.hi
    }
    pub(crate) fn contains(&self, v: i64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

fn digits(s: &[u8]) -> Result<i64, String> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err("expected decimal digits".into());
    }
    let mut v: i64 = 0;
    for &b in s {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(|| "value above 9223372036854775807".to_string())?;
    }
    Ok(v)
}

/// Parses an `int` key: `N`, `A:B`/`A-B`, `A:`/`A-`, `:B`/`-B`, `:-B`/`--B`.
pub(crate) fn parse_int_key(key: &[u8]) -> Result<IntKey, String> {
    if key.is_empty() {
        return Err("empty integer pattern".into());
    }
    if key[0] == b':' || key[0] == b'-' {
        // "at most B"; a second '-' makes B negative.
        let rest = &key[1..];
        let hi = match rest.first() {
            Some(b'-') => -digits(&rest[1..])?,
            _ => digits(rest)?,
        };
        return Ok(IntKey { lo: i64::MIN, hi });
    }
    let sep = key.iter().position(|&b| b == b':' || b == b'-');
    match sep {
        None => {
            let v = digits(key)?;
            Ok(IntKey { lo: v, hi: v })
        }
        Some(i) => {
            let lo = digits(&key[..i])?;
            let rest = &key[i + 1..];
            if rest.is_empty() {
                return Ok(IntKey { lo, hi: i64::MAX });
            }
            let hi = digits(rest)?;
            if lo > hi {
                return Err(format!(
                    "range {lo}:{hi} has its lower bound above its upper bound"
                ));
            }
            Ok(IntKey { lo, hi })
        }
    }
}

/// Parses an `int` lookup input leniently: optional sign, then digits up to
/// the first other byte; no digits gives 0; saturates at the i64 bounds.
pub(crate) fn parse_int_input(s: &[u8]) -> i64 {
    let (neg, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        let d = i64::from(b - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

/// A parsed `ip` pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpKey {
    /// IPv4 network with a contiguous mask (`len` bits), host bits cleared.
    V4 { net: u32, len: u8 },
    /// IPv4 address with a non-contiguous dotted mask.
    V4Odd { net: u32, mask: u32 },
    /// IPv6 network, host bits cleared.
    V6 { net: u128, len: u8 },
}

pub(crate) fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

pub(crate) fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// Strict dotted quad: 4 decimal octets, no leading zeros, each <= 255.
fn strict_v4(s: &str) -> Option<u32> {
    let mut parts = s.split('.');
    let mut v: u32 = 0;
    for _ in 0..4 {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        let o: u32 = p.parse().ok()?;
        if o > 255 {
            return None;
        }
        v = (v << 8) | o;
    }
    parts.next().is_none().then_some(v)
}

fn bits(s: &str, max: u8) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = s.parse().ok()?;
    (n <= max).then_some(n)
}

/// Parses an `ip` pattern: `a.b.c.d[/bits|/a.b.c.d]` or `ipv6[/bits]`.
pub(crate) fn parse_ip_key(key: &[u8]) -> Result<IpKey, String> {
    let s = std::str::from_utf8(key).map_err(|_| "not an IP address".to_string())?;
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    if let Some(a) = strict_v4(addr) {
        return match mask {
            None => Ok(IpKey::V4 { net: a, len: 32 }),
            Some(m) => {
                if let Some(len) = bits(m, 32) {
                    Ok(IpKey::V4 {
                        net: a & mask4(len),
                        len,
                    })
                } else if let Some(mask) = strict_v4(m) {
                    let len = mask.leading_ones() as u8;
                    if mask4(len) == mask {
                        Ok(IpKey::V4 { net: a & mask, len })
                    } else {
                        Ok(IpKey::V4Odd {
                            net: a & mask,
                            mask,
                        })
                    }
                } else {
                    Err(format!("invalid IPv4 mask '{m}'"))
                }
            }
        };
    }
    if addr.contains(':')
        && !addr.contains('%')
        && let Ok(a) = addr.parse::<Ipv6Addr>()
    {
        let len = match mask {
            None => 128,
            Some(m) => bits(m, 128).ok_or_else(|| format!("invalid IPv6 prefix length '{m}'"))?,
        };
        return Ok(IpKey::V6 {
            net: u128::from(a) & mask6(len),
            len,
        });
    }
    Err(format!(
        "'{s}' is not a valid IPv4 or IPv6 address or network"
    ))
}

/// A lookup input converted to an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpInput {
    V4(u32),
    V6(u128),
}

/// Lenient IPv4 input: octets may have leading zeros; parsing stops at the
/// first byte that is neither a digit nor a dot after the 4th octet.
fn lenient_v4(s: &[u8]) -> Option<u32> {
    let mut octets = [0u32; 4];
    let mut n = 0usize; // octets started
    let mut saw_digit = false;
    for &c in s {
        if c.is_ascii_digit() {
            if !saw_digit {
                if n == 4 {
                    return None;
                }
                n += 1;
                saw_digit = true;
            }
            let o = &mut octets[n - 1];
            *o = *o * 10 + u32::from(c - b'0');
            if *o > 255 {
                return None;
            }
        } else if c == b'.' {
            if !saw_digit || n == 4 {
                return None;
            }
            saw_digit = false;
        } else {
            break;
        }
    }
    (n == 4 && saw_digit).then(|| octets.iter().fold(0u32, |acc, &o| (acc << 8) | o))
}

/// Converts a textual input to an address, HAProxy style: IPv4 first
/// (lenient), then a full IPv6 address.
pub(crate) fn parse_ip_input(s: &[u8]) -> Option<IpInput> {
    if let Some(v4) = lenient_v4(s) {
        return Some(IpInput::V4(v4));
    }
    let t = std::str::from_utf8(s).ok()?;
    t.parse::<Ipv6Addr>()
        .ok()
        .map(|a| IpInput::V6(u128::from(a)))
}

/// The IPv4 address embedded in an IPv6 one (`::ffff:a.b.c.d`,
/// `::a.b.c.d`, 6to4 `2002:AABB:CCDD::/48`), if any.
pub(crate) fn v6_to_v4(a: u128) -> Option<u32> {
    if a >> 32 == 0xffff || a >> 32 == 0 {
        return Some(a as u32);
    }
    if (a >> 112) as u16 == 0x2002 {
        return Some((a >> 80) as u32);
    }
    None
}

/// `::ffff:a.b.c.d`.
pub(crate) fn v4_mapped(a: u32) -> u128 {
    (0xffffu128 << 32) | u128::from(a)
}

/// Is `input` an IPv4 literal? (Used by typed callers.)
pub(crate) fn from_std_v4(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

/// Delimiters of `dom`.
pub(crate) const DOM_DELIMS: &[u8] = b"/?.:";
/// Delimiters of `dir`.
pub(crate) const DIR_DELIMS: &[u8] = b"/?";

/// The part of a `dom`/`dir` key that is compared: leading and trailing
/// delimiters removed. Empty when the key is only delimiters (such a key
/// matches nothing in gwd).
pub(crate) fn strip_delims<'a>(key: &'a [u8], delims: &[u8]) -> &'a [u8] {
    let start = key.iter().position(|b| !delims.contains(b));
    match start {
        None => &[],
        Some(s) => {
            let end = key
                .iter()
                .rposition(|b| !delims.contains(b))
                .expect("non-empty")
                + 1;
            &key[s..end]
        }
    }
}

/// Rewrites a PCRE2-style pattern into the `regex` crate's syntax where the
/// two read the same text differently: PCRE2 10.42 reads `{,N}` as literal
/// text, so its `{` is escaped.
pub(crate) fn pcre_compat(pat: &str) -> std::borrow::Cow<'_, str> {
    if !pat.contains("{,") {
        return std::borrow::Cow::Borrowed(pat);
    }
    let b = pat.as_bytes();
    let mut out = String::with_capacity(pat.len() + 4);
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            let ch_len = pat[i + 1..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&pat[i..i + 1 + ch_len]);
            i += 1 + ch_len;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
        } else if c == b'[' {
            in_class = true;
        } else if c == b'{' && b.get(i + 1) == Some(&b',') {
            out.push('\\');
        }
        let ch_len = pat[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&pat[i..i + ch_len]);
        i += ch_len;
    }
    std::borrow::Cow::Owned(out)
}

/// PCRE2 refuses repetition counts above 65535; the `regex` crate would
/// accept some of them.
pub(crate) fn check_pcre_limits(pat: &str) -> Result<(), String> {
    let b = pat.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b']' if in_class => in_class = false,
            b'[' if !in_class => in_class = true,
            b'{' if !in_class => {
                let body: Vec<u8> = b[i + 1..]
                    .iter()
                    .copied()
                    .take_while(|&c| c != b'}')
                    .collect();
                if i + 1 + body.len() < b.len()
                    && !body.is_empty()
                    && body.iter().all(|&c| c.is_ascii_digit() || c == b',')
                {
                    for n in body.split(|&c| c == b',') {
                        if n.len() > 5
                            || (!n.is_empty()
                                && std::str::from_utf8(n)
                                    .ok()
                                    .and_then(|t| t.parse::<u32>().ok())
                                    .unwrap_or(0)
                                    > 65535)
                        {
                            return Err("number too big in {} quantifier".into());
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ik(s: &str) -> Result<(i64, i64), String> {
        parse_int_key(s.as_bytes()).map(|k| (k.lo, k.hi))
    }

    #[test]
    fn int_keys_follow_haproxy() {
        assert_eq!(ik("5"), Ok((5, 5)));
        assert_eq!(ik("007"), Ok((7, 7)));
        assert_eq!(ik("1:3"), Ok((1, 3)));
        assert_eq!(ik("1-3"), Ok((1, 3)));
        assert_eq!(ik("4:"), Ok((4, i64::MAX)));
        assert_eq!(ik("4-"), Ok((4, i64::MAX)));
        assert_eq!(ik(":9"), Ok((i64::MIN, 9)));
        assert_eq!(ik("-5"), Ok((i64::MIN, 5)));
        assert_eq!(ik(":-5"), Ok((i64::MIN, -5)));
        assert_eq!(ik("--5"), Ok((i64::MIN, -5)));
        for bad in [
            "+5",
            "0x10",
            "5.5",
            "-1:2",
            "10:5",
            "9223372036854775808",
            "",
            "-",
            ":",
            "a",
        ] {
            assert!(ik(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(ik("9223372036854775807"), Ok((i64::MAX, i64::MAX)));
    }

    #[test]
    fn int_inputs_are_lenient() {
        for (s, v) in [
            ("12abc", 12),
            ("abc", 0),
            ("+5", 5),
            ("-5", -5),
            ("1e3", 1),
            ("0x10", 0),
            ("99999999999999999999", i64::MAX),
            ("-99999999999999999999", i64::MIN),
        ] {
            assert_eq!(parse_int_input(s.as_bytes()), v, "{s}");
        }
    }

    #[test]
    fn ip_keys_follow_haproxy() {
        assert_eq!(
            parse_ip_key(b"10.1.2.3/16"),
            Ok(IpKey::V4 {
                net: 0x0a01_0000,
                len: 16
            })
        );
        assert_eq!(
            parse_ip_key(b"10.0.0.0/255.0.0.0"),
            Ok(IpKey::V4 {
                net: 0x0a00_0000,
                len: 8
            })
        );
        assert!(matches!(
            parse_ip_key(b"10.0.0.0/255.0.255.0"),
            Ok(IpKey::V4Odd { .. })
        ));
        assert!(matches!(
            parse_ip_key(b"::ffff:10.0.0.0/104"),
            Ok(IpKey::V6 { len: 104, .. })
        ));
        for bad in [
            "10.12",
            "010.1.2.3",
            "example.com",
            "10.0.0.0/33",
            "::/129",
            "fe80::1%eth0",
            "1.2.3.4.5",
        ] {
            assert!(
                parse_ip_key(bad.as_bytes()).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn ip_inputs_are_lenient_for_v4() {
        assert_eq!(
            parse_ip_input(b"010.001.002.003"),
            Some(IpInput::V4(0x0a01_0203))
        );
        assert_eq!(
            parse_ip_input(b"10.1.2.3/8"),
            Some(IpInput::V4(0x0a01_0203))
        );
        assert_eq!(parse_ip_input(b"10.1.2"), None);
        assert_eq!(parse_ip_input(b"10.1.2.256"), None);
        assert_eq!(parse_ip_input(b"nope"), None);
        assert_eq!(parse_ip_input(b"::1"), Some(IpInput::V6(1)));
        assert_eq!(v6_to_v4(1), Some(1));
        assert_eq!(v6_to_v4(v4_mapped(0x0a00_0001)), Some(0x0a00_0001));
        let six_to_four: u128 = "2002:0a01:0203::".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(v6_to_v4(six_to_four), Some(0x0a01_0203));
        assert_eq!(
            v6_to_v4("2001:db8::1".parse::<Ipv6Addr>().unwrap().into()),
            None
        );
        assert_eq!(from_std_v4(Ipv4Addr::new(1, 2, 3, 4)), 0x0102_0304);
    }

    #[test]
    fn dom_keys_lose_outer_delimiters() {
        assert_eq!(strip_delims(b".example.com.", DOM_DELIMS), b"example.com");
        assert_eq!(strip_delims(b"..com", DOM_DELIMS), b"com");
        assert_eq!(strip_delims(b"..", DOM_DELIMS), b"");
        assert_eq!(strip_delims(b"/a/b/", DIR_DELIMS), b"a/b");
    }

    #[test]
    fn regex_dialect() {
        use crate::regpat::RegPat;
        assert!(RegPat::new(b"(a)\\1", false, false).is_err());
        assert!(RegPat::new(b"x{99999}", false, false).is_err());
        let r = RegPat::new(b"a{,3}", false, false).unwrap();
        assert!(r.is_match(b"a{,3}", b"xa{,3}y"));
        assert!(!r.is_match(b"a{,3}", b"aaa"));
        assert!(RegPat::new(b"(?P<n>x)", false, false).is_ok());
        assert!(
            RegPat::new(b"ABC", true, false)
                .unwrap()
                .is_match(b"ABC", b"xxabcxx")
        );
        assert_eq!(pcre_compat("[{,]{,2}\\{,"), "[{,]\\{,2}\\{,");
    }
}
