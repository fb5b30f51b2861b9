//! Match methods and pre-compiled pattern lists of ACL bodies.

use std::collections::HashSet;
use std::net::IpAddr;

// On bytes: a sample may hold obs-text that is not UTF-8.
use regex::bytes::{Regex, RegexSet, RegexSetBuilder};

use crate::conv::{haproxy_regex, regex_help};
use crate::error::{ParseErrorKind, Perr, did_you_mean};
use crate::lex::Word;
use crate::sample::{Sample, SampleType};

/// How an ACL compares samples with its patterns (`-m <method>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Found,
    Bool,
    Int,
    Ip,
    Str,
    Beg,
    End,
    Sub,
    Reg,
    Dom,
    Dir,
    Len,
}

pub(crate) const METHODS: &[(&str, Method)] = &[
    ("found", Method::Found),
    ("bool", Method::Bool),
    ("int", Method::Int),
    ("ip", Method::Ip),
    ("str", Method::Str),
    ("beg", Method::Beg),
    ("end", Method::End),
    ("sub", Method::Sub),
    ("reg", Method::Reg),
    ("dom", Method::Dom),
    ("dir", Method::Dir),
    ("len", Method::Len),
];

impl Method {
    pub(crate) fn lookup(name: &str, pos: usize) -> Result<Method, Perr> {
        METHODS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let help =
                    did_you_mean(name, METHODS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                        format!(
                            "match methods: {}",
                            METHODS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                Perr::new(
                    ParseErrorKind::UnknownMatch,
                    pos,
                    format!("unknown match method `{name}`"),
                )
                .help(help)
            })
    }

    /// The default method for a fetch of type `ty`.
    pub(crate) fn default_for(ty: SampleType, has_patterns: bool) -> Method {
        match ty {
            SampleType::Str => Method::Str,
            SampleType::Int => Method::Int,
            SampleType::Ip => Method::Ip,
            SampleType::Bool if has_patterns => Method::Int,
            SampleType::Bool => Method::Bool,
        }
    }
}

/// Inclusive integer range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntRange {
    lo: i64,
    hi: i64,
}

impl IntRange {
    fn contains(self, v: i64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// An IP network with the host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

impl Net {
    pub(crate) fn parse(s: &str) -> Option<Net> {
        let (a, m) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        match a.parse::<IpAddr>().ok()? {
            IpAddr::V4(ip) => {
                let mask = match m {
                    None => u32::MAX,
                    Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => {
                        let bits: u32 = m.parse().ok().filter(|b| *b <= 32)?;
                        if bits == 0 {
                            0
                        } else {
                            u32::MAX << (32 - bits)
                        }
                    }
                    Some(m) => {
                        let v = u32::from(m.parse::<std::net::Ipv4Addr>().ok()?);
                        (v.leading_ones() + v.trailing_zeros() == 32).then_some(v)?
                    }
                };
                Some(Net::V4 {
                    addr: u32::from(ip) & mask,
                    mask,
                })
            }
            IpAddr::V6(ip) => {
                let mask = match m {
                    None => u128::MAX,
                    Some(m) => {
                        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        let bits: u32 = m.parse().ok().filter(|b| *b <= 128)?;
                        if bits == 0 {
                            0
                        } else {
                            u128::MAX << (128 - bits)
                        }
                    }
                };
                Some(Net::V6 {
                    addr: u128::from(ip) & mask,
                    mask,
                })
            }
        }
    }

    /// IPv4 networks also match IPv4-mapped IPv6 addresses, and IPv6
    /// networks match IPv4 addresses through their mapped form.
    pub(crate) fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Net::V4 { addr, mask }, IpAddr::V4(a)) => u32::from(a) & mask == addr,
            (Net::V4 { addr, mask }, IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|a| u32::from(a) & mask == addr),
            (Net::V6 { addr, mask }, IpAddr::V6(a)) => u128::from(a) & mask == addr,
            (Net::V6 { addr, mask }, IpAddr::V4(a)) => {
                u128::from(a.to_ipv6_mapped()) & mask == addr
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Pats {
    None,
    Strs(Box<[Box<str>]>),
    StrSet(HashSet<Box<str>>),
    Regex(Regex),
    RegexSet(RegexSet),
    /// `sub` with `-i` or several patterns: one literal alternation, which
    /// the regex engine runs as a multi-substring search (ASCII case folding).
    Substrings(regex::bytes::Regex),
    Ints(Box<[IntRange]>),
    Nets(Box<[Net]>),
}

/// A match method with its compiled patterns and `-i` flag.
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    method: Method,
    icase: bool,
    pats: Pats,
}

/// Above this many `-m str` patterns, a hash set is used.
const SET_THRESHOLD: usize = 8;

fn parse_int(text: &str, pos: usize) -> Result<i64, Perr> {
    text.parse::<i64>().map_err(|_| {
        Perr::new(
            ParseErrorKind::BadInt,
            pos,
            format!("invalid integer `{text}`"),
        )
    })
}

fn parse_int_patterns(words: &[Word]) -> Result<Vec<IntRange>, Perr> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let op = if w.quoted {
            None
        } else {
            ["eq", "ge", "gt", "le", "lt"]
                .into_iter()
                .find(|o| *o == w.text)
        };
        if let Some(op) = op {
            let Some(n) = words.get(i + 1) else {
                return Err(Perr::new(
                    ParseErrorKind::BadInt,
                    w.pos,
                    format!("operator `{op}` expects an integer after it"),
                ));
            };
            let v = parse_int(&n.text, n.pos)?;
            let r = match op {
                "eq" => IntRange { lo: v, hi: v },
                "ge" => IntRange {
                    lo: v,
                    hi: i64::MAX,
                },
                "gt" => v
                    .checked_add(1)
                    .map_or(IntRange { lo: 1, hi: 0 }, |lo| IntRange {
                        lo,
                        hi: i64::MAX,
                    }),
                "le" => IntRange {
                    lo: i64::MIN,
                    hi: v,
                },
                _ => v
                    .checked_sub(1)
                    .map_or(IntRange { lo: 1, hi: 0 }, |hi| IntRange {
                        lo: i64::MIN,
                        hi,
                    }),
            };
            out.push(r);
            i += 2;
            continue;
        }
        let r = match w.text.split_once(':') {
            Some((a, b)) => {
                let lo = if a.is_empty() {
                    i64::MIN
                } else {
                    parse_int(a, w.pos)?
                };
                let hi = if b.is_empty() {
                    i64::MAX
                } else {
                    parse_int(b, w.pos + a.len() + 1)?
                };
                if lo > hi {
                    return Err(Perr::new(
                        ParseErrorKind::BadInt,
                        w.pos,
                        format!("empty range `{}`: {lo} > {hi}", w.text),
                    ));
                }
                IntRange { lo, hi }
            }
            None => {
                let v = parse_int(&w.text, w.pos)?;
                IntRange { lo: v, hi: v }
            }
        };
        out.push(r);
        i += 1;
    }
    Ok(out)
}

fn delims(method: Method) -> &'static [u8] {
    if method == Method::Dom {
        b"/?.:"
    } else {
        b"/?"
    }
}

impl Matcher {
    pub(crate) fn build(method: Method, icase: bool, words: &[Word]) -> Result<Matcher, Perr> {
        let pats = match method {
            Method::Found | Method::Bool => {
                if let Some(w) = words.first() {
                    let name = if method == Method::Found {
                        "found"
                    } else {
                        "bool"
                    };
                    return Err(Perr::new(
                        ParseErrorKind::BadPattern,
                        w.pos,
                        format!("match method `{name}` takes no pattern"),
                    )
                    .help(format!("remove `{}` and the patterns after it", w.text)));
                }
                Pats::None
            }
            Method::Int | Method::Len => Pats::Ints(parse_int_patterns(words)?.into_boxed_slice()),
            Method::Ip => {
                let mut nets = Vec::with_capacity(words.len());
                for w in words {
                    let net = Net::parse(&w.text).ok_or_else(|| {
                        Perr::new(ParseErrorKind::BadIp, w.pos, format!("invalid IP address or network `{}`", w.text))
                            .help("expected `a.b.c.d`, `a.b.c.d/len`, `a.b.c.d/m.m.m.m`, `v6addr` or `v6addr/len` (host names are not resolved)")
                    })?;
                    nets.push(net);
                }
                Pats::Nets(nets.into_boxed_slice())
            }
            Method::Reg => {
                let mut compiled = Vec::with_capacity(words.len());
                for w in words {
                    compiled.push(haproxy_regex(&w.text, icase).map_err(|e| {
                        Perr::new(
                            ParseErrorKind::BadRegex,
                            w.pos,
                            format!("invalid regex `{}`", w.text),
                        )
                        .help(regex_help(&e))
                    })?);
                }
                match compiled.len() {
                    0 => Pats::None,
                    1 => Pats::Regex(compiled.swap_remove(0).0),
                    _ => Pats::RegexSet(
                        // One mode for the set: Unicode if a pattern needs it.
                        RegexSetBuilder::new(words.iter().map(|w| w.text.as_str()))
                            .unicode(compiled.iter().any(|(_, unicode)| *unicode))
                            .case_insensitive(icase)
                            .build()
                            .map_err(|e| {
                                Perr::new(
                                    ParseErrorKind::BadRegex,
                                    words[0].pos,
                                    format!("regex set too large: {e}"),
                                )
                            })?,
                    ),
                }
            }
            Method::Str | Method::Beg | Method::End | Method::Sub | Method::Dom | Method::Dir => {
                let d = delims(method);
                let norm = |w: &Word| -> Box<str> {
                    let t = if icase {
                        w.text.to_ascii_lowercase()
                    } else {
                        w.text.clone()
                    };
                    if matches!(method, Method::Dom | Method::Dir) {
                        t.trim_matches(|c: char| c.is_ascii() && d.contains(&(c as u8)))
                            .into()
                    } else {
                        t.into()
                    }
                };
                if method == Method::Str && words.len() > SET_THRESHOLD {
                    Pats::StrSet(words.iter().map(norm).collect())
                } else if method == Method::Sub && (icase || words.len() > 1) {
                    let alt: Vec<String> = words.iter().map(|w| regex::escape(&w.text)).collect();
                    let re = regex::bytes::RegexBuilder::new(&alt.join("|"))
                        .unicode(false)
                        .case_insensitive(icase)
                        .build()
                        .map_err(|e| {
                            Perr::new(
                                ParseErrorKind::BadPattern,
                                words[0].pos,
                                format!("too many patterns: {e}"),
                            )
                        })?;
                    Pats::Substrings(re)
                } else {
                    Pats::Strs(words.iter().map(norm).collect())
                }
            }
        };
        Ok(Matcher {
            method,
            icase,
            pats,
        })
    }

    pub(crate) fn matches(&self, s: &Sample<'_>) -> bool {
        match self.method {
            Method::Found => true,
            Method::Bool => s.as_bool().unwrap_or(false),
            Method::Int => match (&self.pats, s.as_int()) {
                (Pats::Ints(r), Some(v)) => r.iter().any(|r| r.contains(v)),
                _ => false,
            },
            Method::Len => match &self.pats {
                Pats::Ints(r) => {
                    let v = i64::try_from(s.to_bytes().len()).unwrap_or(i64::MAX);
                    r.iter().any(|r| r.contains(v))
                }
                _ => false,
            },
            Method::Ip => match (&self.pats, s.as_ip()) {
                (Pats::Nets(n), Some(ip)) => n.iter().any(|n| n.contains(ip)),
                _ => false,
            },
            _ => self.match_str(&s.to_bytes()),
        }
    }

    fn match_str(&self, t: &[u8]) -> bool {
        let ic = self.icase;
        match &self.pats {
            Pats::Regex(re) => re.is_match(t),
            Pats::RegexSet(set) => set.is_match(t),
            Pats::Substrings(re) => re.is_match(t),
            Pats::StrSet(set) => {
                // Patterns come from the configuration, so are UTF-8:
                // other bytes equal none of them.
                let Ok(t) = std::str::from_utf8(t) else {
                    return false;
                };
                if ic && t.bytes().any(|b| b.is_ascii_uppercase()) {
                    set.contains(t.to_ascii_lowercase().as_str())
                } else {
                    set.contains(t)
                }
            }
            Pats::Strs(ps) => {
                let tb = t;
                ps.iter().any(|p| {
                    let pb = p.as_bytes();
                    match self.method {
                        Method::Str => eq(tb, pb, ic),
                        Method::Beg => tb.len() >= pb.len() && eq(&tb[..pb.len()], pb, ic),
                        Method::End => {
                            tb.len() >= pb.len() && eq(&tb[tb.len() - pb.len()..], pb, ic)
                        }
                        Method::Sub => {
                            if ic {
                                pb.is_empty()
                                    || tb.windows(pb.len()).any(|w| w.eq_ignore_ascii_case(pb))
                            } else {
                                memchr::memmem::find(tb, pb).is_some()
                            }
                        }
                        _ => word_match(tb, pb, delims(self.method), ic),
                    }
                })
            }
            _ => false,
        }
    }
}

fn eq(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// `dom`/`dir` matching: the pattern must appear in the sample with a
/// delimiter (or the sample's start/end) on both sides. A pattern made only
/// of delimiters matches an empty sample or one ending with a delimiter.
fn word_match(s: &[u8], p: &[u8], d: &[u8], icase: bool) -> bool {
    if p.is_empty() {
        return s.last().is_none_or(|c| d.contains(c));
    }
    if p.len() > s.len() {
        return false;
    }
    (0..=s.len() - p.len()).any(|i| {
        let end = i + p.len();
        (i == 0 || d.contains(&s[i - 1]))
            && (end == s.len() || d.contains(&s[end]))
            && eq(&s[i..end], p, icase)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets() {
        let n = Net::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert_eq!(
            Net::parse("10.1.2.3/255.255.0.0"),
            Net::parse("10.1.0.0/16")
        );
        assert_eq!(Net::parse("0.0.0.0/0"), Some(Net::V4 { addr: 0, mask: 0 }));
        assert!(Net::parse("10.0.0.0/33").is_none());
        assert!(Net::parse("10.0.0.0/255.0.255.0").is_none());
        assert!(Net::parse("10.0.0/8").is_none());
        assert!(Net::parse("::1/129").is_none());
        assert!(Net::parse("::1/ffff::").is_none());
        let v6 = Net::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        let mapped = Net::parse("::ffff:192.168.0.0/112").unwrap();
        assert!(mapped.contains("192.168.3.4".parse().unwrap()));
    }

    #[test]
    fn substring_alternation() {
        let w = |t: &str| Word {
            text: t.into(),
            pos: 0,
            quoted: false,
        };
        let m = Matcher::build(
            Method::Sub,
            true,
            &[w("bot"), w("Crawler"), w("é"), w("a.b"), w("kelvin")],
        )
        .unwrap();
        assert!(matches!(m.pats, Pats::Substrings(_)));
        for yes in ["GoogleBOT/2", "my-crawler", "café", "xa.by"] {
            assert!(m.match_str(yes.as_bytes()), "{yes}");
        }
        for no in ["robo t", "cafe", "axb", "\u{212A}elvin"] {
            assert!(!m.match_str(no.as_bytes()), "{no}");
        }
        let m = Matcher::build(Method::Sub, false, &[w("bot"), w("x")]).unwrap();
        assert!(m.match_str(b"robot") && !m.match_str(b"BOT"));
        // Latin-1 obs-text around a match.
        assert!(m.match_str(b"\xE9robot\xFF") && !m.match_str(b"\xE9rob\xFF"));
    }

    #[test]
    fn word_matching() {
        let dom = delims(Method::Dom);
        assert!(word_match(b"www.example.com", b"example.com", dom, false));
        assert!(word_match(b"www.example.com", b"www", dom, false));
        assert!(!word_match(b"www.example.com", b"ample.com", dom, false));
        assert!(!word_match(b"www.example.com", b"example.co", dom, false));
        assert!(word_match(b"WWW.Example.com", b"example", dom, true));
        assert!(!word_match(b"WWW.Example.com", b"example", dom, false));
        let dir = delims(Method::Dir);
        assert!(word_match(b"/img/a.png", b"img", dir, false));
        assert!(word_match(b"/a/img/b/c", b"img/b", dir, false));
        assert!(!word_match(b"/images/a", b"img", dir, false));
        assert!(word_match(b"/x/", b"", dir, false));
        assert!(!word_match(b"/x", b"", dir, false));
    }
}
