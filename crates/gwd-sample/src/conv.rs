//! Converters: transformations applied after a fetch (`fetch,conv1,conv2`).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gwd_maps::{MatchKind, MatchSpec, ValueType};

use crate::args::Call;
use crate::error::{ParseErrorKind, Perr};
use crate::maps::{MapUse, ParseEnv};
use crate::sample::{Sample, SampleType};

/// Known converter names with usage, in documentation order.
pub(crate) const CONVERTERS: &[(&str, &str)] = &[
    ("lower", "lower"),
    ("upper", "upper"),
    ("field", "field(<index>,<delimiters>[,<count>])"),
    ("word", "word(<index>,<delimiters>[,<count>])"),
    ("len", "len"),
    ("length", "length"),
    ("bool", "bool"),
    ("not", "not"),
    ("add", "add(<integer>)"),
    ("sub", "sub(<integer>)"),
    ("mul", "mul(<integer>)"),
    ("div", "div(<integer>)"),
    ("mod", "mod(<integer>)"),
    ("neg", "neg"),
    ("even", "even"),
    ("odd", "odd"),
    ("ltrim", "ltrim(<chars>)"),
    ("rtrim", "rtrim(<chars>)"),
    ("url_dec", "url_dec([<in_form>])"),
    ("regsub", "regsub(<regex>,<replacement>[,<flags>])"),
    ("ipmask", "ipmask(<mask4>[,<mask6>])"),
    ("map", "map(<file>[,<default>])"),
    ("map_str", "map_str(<file>[,<default>])"),
    ("map_beg", "map_beg(<file>[,<default>])"),
    ("map_end", "map_end(<file>[,<default>])"),
    ("map_sub", "map_sub(<file>[,<default>])"),
    ("map_dom", "map_dom(<file>[,<default>])"),
    ("map_dir", "map_dir(<file>[,<default>])"),
    ("map_reg", "map_reg(<file>[,<default>])"),
    ("map_regm", "map_regm(<file>[,<default>])"),
    ("map_int", "map_int(<file>[,<default>])"),
    ("map_ip", "map_ip(<file>[,<default>])"),
    ("map_str_int", "map_str_int(<file>[,<default integer>])"),
    ("map_beg_int", "map_beg_int(<file>[,<default integer>])"),
    ("map_end_int", "map_end_int(<file>[,<default integer>])"),
    ("map_sub_int", "map_sub_int(<file>[,<default integer>])"),
    ("map_dom_int", "map_dom_int(<file>[,<default integer>])"),
    ("map_dir_int", "map_dir_int(<file>[,<default integer>])"),
    ("map_reg_int", "map_reg_int(<file>[,<default integer>])"),
    ("map_int_int", "map_int_int(<file>[,<default integer>])"),
    ("map_ip_int", "map_ip_int(<file>[,<default integer>])"),
    ("map_str_ip", "map_str_ip(<file>[,<default address>])"),
    ("map_beg_ip", "map_beg_ip(<file>[,<default address>])"),
    ("map_end_ip", "map_end_ip(<file>[,<default address>])"),
    ("map_sub_ip", "map_sub_ip(<file>[,<default address>])"),
    ("map_dom_ip", "map_dom_ip(<file>[,<default address>])"),
    ("map_dir_ip", "map_dir_ip(<file>[,<default address>])"),
    ("map_reg_ip", "map_reg_ip(<file>[,<default address>])"),
    ("map_int_ip", "map_int_ip(<file>[,<default address>])"),
    ("map_ip_ip", "map_ip_ip(<file>[,<default address>])"),
    ("map_str_key", "map_str_key(<file>)"),
    ("map_beg_key", "map_beg_key(<file>)"),
    ("map_end_key", "map_end_key(<file>)"),
    ("map_sub_key", "map_sub_key(<file>)"),
    ("map_dom_key", "map_dom_key(<file>)"),
    ("map_dir_key", "map_dir_key(<file>)"),
    ("map_reg_key", "map_reg_key(<file>)"),
    ("map_int_key", "map_int_key(<file>)"),
    ("map_ip_key", "map_ip_key(<file>)"),
];

pub(crate) fn usage(name: &str) -> Option<&'static str> {
    CONVERTERS.iter().find(|(n, _)| *n == name).map(|(_, u)| *u)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Clone, Debug)]
pub(crate) enum Conv {
    Lower,
    Upper,
    Field {
        index: i64,
        delims: Box<str>,
        count: i64,
        words: bool,
    },
    Len,
    Bool,
    Not,
    Arith(Arith, i64),
    Neg,
    Even,
    Odd,
    Ltrim(Box<str>),
    Rtrim(Box<str>),
    UrlDec {
        form: bool,
    },
    Regsub {
        /// On bytes: a value may hold obs-text that is not UTF-8.
        re: regex::bytes::Regex,
        rep: Box<str>,
        global: bool,
    },
    Ipmask {
        v4: u32,
        v6: Option<u128>,
    },
    /// `map_<match>[_<out>](<file>[,<default>])`, `map_<match>_key(<file>)`,
    /// `map_regm(<file>[,<default>])`.
    Map {
        m: gwd_maps::Matcher,
        input: SampleType,
        out: MapOut,
        default: Option<Sample<'static>>,
    },
}

/// What a map converter returns on a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapOut {
    /// The value, read as this type (`_str`, `_int`, `_ip`).
    Value(SampleType),
    /// The matched key (`map_<match>_key`).
    Key,
    /// The value with the regex groups substituted (`map_regm`).
    Regm,
}

/// `map`, `map_<match>`, `map_<match>_<int|ip|str|key>` and `map_regm`:
/// (match kind, output).
fn map_conv(name: &str) -> Option<(MatchKind, MapOut)> {
    let rest = name.strip_prefix("map")?;
    if rest.is_empty() {
        return Some((MatchKind::Str, MapOut::Value(SampleType::Str)));
    }
    let rest = rest.strip_prefix('_')?;
    if rest == "regm" {
        return Some((MatchKind::Regm, MapOut::Regm));
    }
    let (m, out) = match rest.split_once('_') {
        None => (rest, MapOut::Value(SampleType::Str)),
        Some((m, "int")) => (m, MapOut::Value(SampleType::Int)),
        Some((m, "ip")) => (m, MapOut::Value(SampleType::Ip)),
        Some((m, "str")) => (m, MapOut::Value(SampleType::Str)),
        Some((m, "key")) => (m, MapOut::Key),
        Some(_) => return None,
    };
    let kind = match m {
        "str" => MatchKind::Str,
        "beg" => MatchKind::Beg,
        "end" => MatchKind::End,
        "sub" => MatchKind::Sub,
        "dom" => MatchKind::Dom,
        "dir" => MatchKind::Dir,
        "reg" => MatchKind::Reg,
        "int" => MatchKind::Int,
        "ip" => MatchKind::Ip,
        _ => return None,
    };
    Some((kind, out))
}

/// Converts a map value to the converter's output type (HAProxy's parsers:
/// values were checked when they entered the map).
fn map_value<'c>(v: &[u8], out: SampleType) -> Option<Sample<'c>> {
    match out {
        SampleType::Int => ValueType::parse_int(v).map(Sample::Int),
        SampleType::Ip => ValueType::parse_ip(v).map(Sample::Ip),
        _ => Some(Sample::Str(Cow::Owned(v.to_vec()))),
    }
}

fn bytes_sample<'c>(v: &[u8]) -> Sample<'c> {
    Sample::Str(Cow::Owned(v.to_vec()))
}

/// Builds a map converter; `Ok(None)` when `c` is not one.
pub(crate) fn build_map(c: &Call<'_>, env: &mut ParseEnv<'_>) -> Result<Option<Conv>, Perr> {
    let Some((kind, out)) = map_conv(c.name) else {
        return Ok(None);
    };
    if out == MapOut::Key {
        // HAProxy's `map_*_key` take the file only.
        c.count(1, 1)?;
    } else {
        c.count(1, 2)?;
    }
    let file = c.nonempty(0, "a map file name")?;
    let fpos = c.args[0].pos;
    let out_type = match out {
        MapOut::Value(t) => t,
        MapOut::Key | MapOut::Regm => SampleType::Str,
    };
    let default = match c.args.get(1) {
        None => None,
        Some(a) => Some(match out_type {
            SampleType::Int => Sample::Int(a.text.trim().parse::<i64>().map_err(|_| {
                Perr::new(
                    ParseErrorKind::BadInt,
                    a.pos,
                    format!("`{}`: the default value must be an integer", c.name),
                )
            })?),
            SampleType::Ip => Sample::Ip(
                ValueType::parse_ip(a.text.trim().as_bytes()).ok_or_else(|| {
                    Perr::new(
                        ParseErrorKind::BadIp,
                        a.pos,
                        format!("`{}`: the default value must be an IP address", c.name),
                    )
                })?,
            ),
            _ => Sample::Str(Cow::Owned(a.text.clone().into_bytes())),
        }),
    };
    let how = match out {
        MapOut::Value(SampleType::Int) => MapUse::ConverterInt,
        MapOut::Value(SampleType::Ip) => MapUse::ConverterIp,
        _ => MapUse::Converter,
    };
    let m = match env.resolve(file, how, MatchSpec::new(kind)) {
        None => {
            return Err(Perr::new(
                ParseErrorKind::NoMaps,
                c.pos,
                format!("converter `{}` needs map files, which are not available here", c.name),
            )
            .help("map converters are accepted in configuration files (the loader reads the map files)"));
        }
        Some(Err(msg)) => return Err(Perr::new(ParseErrorKind::MapFile, fpos, msg)),
        Some(Ok(m)) => m,
    };
    let input = match kind {
        MatchKind::Int => SampleType::Int,
        MatchKind::Ip => SampleType::Ip,
        _ => SampleType::Str,
    };
    Ok(Some(Conv::Map {
        m,
        input,
        out,
        default,
    }))
}

pub(crate) fn build(c: &Call<'_>) -> Result<Option<Conv>, Perr> {
    let v = match c.name {
        "field" | "word" => {
            c.count(2, 3)?;
            let index = c
                .int(0)?
                .ok_or_else(|| c.bad(c.args[0].pos, "the index must be an integer".into()))?;
            if index == 0 {
                return Err(c.bad(
                    c.args[0].pos,
                    format!(
                        "`{}`: index must not be 0 (1 is the first, -1 the last)",
                        c.name
                    ),
                ));
            }
            let delims = c.nonempty(1, "a list of delimiter characters")?.into();
            let count = c.int(2)?.unwrap_or(1);
            if count < 0 {
                return Err(c.bad(
                    c.args[2].pos,
                    "the count must not be negative (0 means all remaining)".into(),
                ));
            }
            Conv::Field {
                index,
                delims,
                count,
                words: c.name == "word",
            }
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            c.count(1, 1)?;
            let n = c
                .int(0)?
                .ok_or_else(|| c.bad(c.args[0].pos, format!("`{}` expects an integer", c.name)))?;
            let op = match c.name {
                "add" => Arith::Add,
                "sub" => Arith::Sub,
                "mul" => Arith::Mul,
                "div" => Arith::Div,
                _ => Arith::Mod,
            };
            Conv::Arith(op, n)
        }
        "ltrim" | "rtrim" => {
            c.count(1, 1)?;
            let chars: Box<str> = c.nonempty(0, "a list of characters")?.into();
            if c.name == "ltrim" {
                Conv::Ltrim(chars)
            } else {
                Conv::Rtrim(chars)
            }
        }
        "url_dec" => {
            c.count(0, 1)?;
            Conv::UrlDec {
                form: c.int(0)?.unwrap_or(0) != 0,
            }
        }
        "regsub" => {
            c.count(2, 3)?;
            let mut icase = false;
            let mut global = false;
            if let Some(a) = c.args.get(2) {
                for ch in a.text.chars() {
                    match ch {
                        'i' => icase = true,
                        'g' => global = true,
                        _ => {
                            return Err(c.bad(
                                a.pos,
                                format!(
                                    "invalid regsub flag `{ch}`, only `i` and `g` are supported"
                                ),
                            ));
                        }
                    }
                }
            }
            let a = &c.args[0];
            let re = haproxy_regex(&a.text, icase)
                .map(|(re, _)| re)
                .map_err(|e| {
                    Perr::new(
                        ParseErrorKind::BadRegex,
                        a.pos,
                        format!("invalid regex `{}`", a.text),
                    )
                    .help(regex_help(&e))
                })?;
            Conv::Regsub {
                re,
                rep: haproxy_replacement(&c.args[1].text).into(),
                global,
            }
        }
        "ipmask" => {
            c.count(1, 2)?;
            let a = &c.args[0];
            let v4 = match mask_bits(&a.text, false) {
                Some(0) => Some(0),
                Some(b) => Some(u32::MAX << (32 - b)),
                None => a
                    .text
                    .parse::<Ipv4Addr>()
                    .ok()
                    .map(u32::from)
                    .filter(|m| m.leading_ones() + m.trailing_zeros() == 32),
            };
            let Some(v4) = v4 else {
                return Err(Perr::new(
                    ParseErrorKind::BadIp,
                    a.pos,
                    format!("invalid IPv4 mask `{}`", a.text),
                ));
            };
            let v6 = match c.args.get(1) {
                None => None,
                Some(a) => match mask_bits(&a.text, true) {
                    Some(0) => Some(0),
                    Some(b) => Some(u128::MAX << (128 - b)),
                    None => {
                        return Err(Perr::new(
                            ParseErrorKind::BadIp,
                            a.pos,
                            format!("invalid IPv6 mask `{}`", a.text),
                        ));
                    }
                },
            };
            Conv::Ipmask { v4, v6 }
        }
        other => {
            let v = match other {
                "lower" => Conv::Lower,
                "upper" => Conv::Upper,
                "len" | "length" => Conv::Len,
                "bool" => Conv::Bool,
                "not" => Conv::Not,
                "neg" => Conv::Neg,
                "even" => Conv::Even,
                "odd" => Conv::Odd,
                _ => return Ok(None),
            };
            c.count(0, 0)?;
            v
        }
    };
    Ok(Some(v))
}

fn mask_bits(s: &str, v6: bool) -> Option<u32> {
    let b: u32 = s.parse().ok()?;
    (b <= if v6 { 128 } else { 32 }).then_some(b)
}

/// Compiles `pattern` as HAProxy's PCRE runs it (without its UTF flag):
/// on bytes, `.` any byte, `\w`, `\d` and case folding ASCII. A pattern
/// that needs Unicode (`\p{L}`, a class of non-ASCII letters) compiles in
/// Unicode mode instead; the flag says which.
pub(crate) fn haproxy_regex(
    pattern: &str,
    icase: bool,
) -> Result<(regex::bytes::Regex, bool), regex::Error> {
    let build = |unicode| {
        regex::bytes::RegexBuilder::new(pattern)
            .unicode(unicode)
            .case_insensitive(icase)
            .build()
    };
    match build(false) {
        Ok(re) => Ok((re, false)),
        Err(_) => build(true).map(|re| (re, true)),
    }
}

pub(crate) fn regex_help(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(&s)
        .trim();
    last.trim_start_matches("error: ").to_string()
}

/// HAProxy replacement strings use `\1`; the regex crate uses `${1}`.
fn haproxy_replacement(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' if it.peek().is_some_and(char::is_ascii_digit) => {
                let d = it.next().unwrap_or('0');
                out.push_str("${");
                out.push(d);
                out.push('}');
            }
            '\\' if it.peek() == Some(&'\\') => {
                it.next();
                out.push('\\');
            }
            c => out.push(c),
        }
    }
    out
}

/// Keeps `s[a..b]` of a cow without copying a borrowed string.
fn slice_cow(s: Cow<'_, [u8]>, a: usize, b: usize) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(x) => Cow::Borrowed(&x[a..b]),
        Cow::Owned(mut x) => {
            x.truncate(b);
            x.drain(..a);
            Cow::Owned(x)
        }
    }
}

/// Byte range selected by `field(index, delims, count)` (HAProxy semantics:
/// fields may be empty, negative indexes count from the end, count 0 = all
/// remaining fields in the direction of the count). Delimiters are bytes,
/// as in HAProxy. Does not allocate.
pub(crate) fn field_range(
    s: &[u8],
    index: i64,
    delims: &str,
    count: i64,
) -> Option<(usize, usize)> {
    let is_d = |c: u8| delims.as_bytes().contains(&c);
    if index > 0 {
        let mut it = s.iter().copied().enumerate();
        let mut start = 0;
        if index > 1 {
            let mut field = 1;
            start = it.by_ref().find_map(|(i, c)| {
                if is_d(c) {
                    field += 1;
                    if field == index {
                        return Some(i + 1);
                    }
                }
                None
            })?;
        }
        if count == 0 {
            return Some((start, s.len()));
        }
        let mut left = count;
        let end = it.find_map(|(i, c)| {
            if is_d(c) {
                left -= 1;
                if left == 0 {
                    return Some(i);
                }
            }
            None
        });
        Some((start, end.unwrap_or(s.len())))
    } else {
        let target = index.unsigned_abs();
        let mut it = s.iter().copied().enumerate().rev();
        let mut end = s.len();
        if target > 1 {
            let mut field = 1;
            end = it.by_ref().find_map(|(i, c)| {
                if is_d(c) {
                    field += 1;
                    if field == target {
                        return Some(i);
                    }
                }
                None
            })?;
        }
        if count == 0 {
            return Some((0, end));
        }
        let mut left = count;
        let start = it.find_map(|(i, c)| {
            if is_d(c) {
                left -= 1;
                if left == 0 {
                    return Some(i + 1);
                }
            }
            None
        });
        Some((start.unwrap_or(0), end))
    }
}

/// Byte range selected by `word(...)`: like field but empty words (runs of
/// delimiters, leading/trailing delimiters) do not count. Does not allocate.
pub(crate) fn word_range(s: &[u8], index: i64, delims: &str, count: i64) -> Option<(usize, usize)> {
    let is_d = |c: u8| delims.as_bytes().contains(&c);
    let want = index.unsigned_abs();
    let mut word = 0u64;
    let mut in_word = false;
    // `anchor` is where the chosen word begins (forward) or ends (backward);
    // `edge` tracks the far side of the last word seen after it.
    let mut anchor: Option<usize> = None;
    let mut edge = 0usize;
    let mut left = count;
    let mut step = |i: usize, c: u8, fwd: bool| -> Option<(usize, usize)> {
        let d = is_d(c);
        let near = if fwd { i } else { i + 1 };
        let far = if fwd { i + 1 } else { i };
        match (d, in_word) {
            (false, false) => {
                in_word = true;
                if anchor.is_none() {
                    word += 1;
                    if word == want {
                        anchor = Some(near);
                    }
                }
                edge = far;
            }
            (false, true) => edge = far,
            (true, true) => {
                in_word = false;
                if let Some(a) = anchor {
                    left -= 1;
                    if left == 0 {
                        return Some(if fwd { (a, near) } else { (near, a) });
                    }
                }
            }
            (true, false) => {}
        }
        None
    };
    if index > 0 {
        for (i, c) in s.iter().copied().enumerate() {
            if let Some(r) = step(i, c, true) {
                return Some(r);
            }
        }
    } else {
        for (i, c) in s.iter().copied().enumerate().rev() {
            if let Some(r) = step(i, c, false) {
                return Some(r);
            }
        }
    }
    let a = anchor?;
    Some(if index > 0 { (a, edge) } else { (edge, a) })
}

fn url_decode(b: &[u8], form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut in_query = form;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let hex = |c: u8| char::from(c).to_digit(16);
                let (hi, lo) = (hex(h[0])?, hex(h[1])?);
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
                continue;
            }
            b'+' if in_query => out.push(b' '),
            b'?' => {
                in_query = true;
                out.push(b'?');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

fn arith(op: Arith, a: i64, b: i64) -> i64 {
    match op {
        Arith::Add => a.saturating_add(b),
        Arith::Sub => a.saturating_sub(b),
        Arith::Mul => a.saturating_mul(b),
        Arith::Div if b == 0 => i64::MAX,
        Arith::Div => a.checked_div(b).unwrap_or(i64::MAX),
        Arith::Mod if b == 0 => 0,
        Arith::Mod => a.checked_rem(b).unwrap_or(0),
    }
}

impl Conv {
    pub(crate) fn in_type(&self) -> SampleType {
        match self {
            Conv::Bool | Conv::Not | Conv::Arith(..) | Conv::Neg | Conv::Even | Conv::Odd => {
                SampleType::Int
            }
            Conv::Ipmask { .. } => SampleType::Ip,
            Conv::Map { input, .. } => *input,
            _ => SampleType::Str,
        }
    }

    pub(crate) fn out_type(&self) -> SampleType {
        match self {
            Conv::Len | Conv::Arith(..) | Conv::Neg => SampleType::Int,
            Conv::Bool | Conv::Not | Conv::Even | Conv::Odd => SampleType::Bool,
            Conv::Ipmask { .. } => SampleType::Ip,
            Conv::Map {
                out: MapOut::Value(t),
                ..
            } => *t,
            _ => SampleType::Str,
        }
    }

    pub(crate) fn apply<'c>(&self, s: Sample<'c>) -> Option<Sample<'c>> {
        let s = s.cast(self.in_type())?;
        Some(match (self, s) {
            (Conv::Lower, Sample::Str(v)) => Sample::Str(if v.iter().any(u8::is_ascii_uppercase) {
                Cow::Owned(v.to_ascii_lowercase())
            } else {
                v
            }),
            (Conv::Upper, Sample::Str(v)) => Sample::Str(if v.iter().any(u8::is_ascii_lowercase) {
                Cow::Owned(v.to_ascii_uppercase())
            } else {
                v
            }),
            (
                Conv::Field {
                    index,
                    delims,
                    count,
                    words,
                },
                Sample::Str(v),
            ) => {
                let r = if *words {
                    word_range(&v, *index, delims, *count)
                } else {
                    field_range(&v, *index, delims, *count)
                };
                let (a, b) = r?;
                Sample::Str(slice_cow(v, a, b))
            }
            (Conv::Len, Sample::Str(v)) => Sample::Int(i64::try_from(v.len()).unwrap_or(i64::MAX)),
            (Conv::Bool, Sample::Int(i)) => Sample::Bool(i != 0),
            (Conv::Not, Sample::Int(i)) => Sample::Bool(i == 0),
            (Conv::Even, Sample::Int(i)) => Sample::Bool(i % 2 == 0),
            (Conv::Odd, Sample::Int(i)) => Sample::Bool(i % 2 != 0),
            (Conv::Arith(op, b), Sample::Int(a)) => Sample::Int(arith(*op, a, *b)),
            (Conv::Neg, Sample::Int(a)) => Sample::Int(a.checked_neg().unwrap_or(i64::MAX)),
            // The characters to trim are bytes, as in HAProxy.
            (Conv::Ltrim(chars), Sample::Str(v)) => {
                let trim = chars.as_bytes();
                let a = v.iter().take_while(|b| trim.contains(b)).count();
                let b = v.len();
                Sample::Str(slice_cow(v, a, b))
            }
            (Conv::Rtrim(chars), Sample::Str(v)) => {
                let trim = chars.as_bytes();
                let b = v.len() - v.iter().rev().take_while(|b| trim.contains(b)).count();
                Sample::Str(slice_cow(v, 0, b))
            }
            (Conv::UrlDec { form }, Sample::Str(v)) => {
                if v.iter().any(|&b| b == b'%' || b == b'+') {
                    Sample::Str(Cow::Owned(url_decode(&v, *form)?))
                } else {
                    Sample::Str(v)
                }
            }
            (Conv::Regsub { re, rep, global }, Sample::Str(v)) => {
                let out = if *global {
                    re.replace_all(&v, rep.as_bytes())
                } else {
                    re.replace(&v, rep.as_bytes())
                };
                match out {
                    Cow::Borrowed(_) => Sample::Str(v),
                    Cow::Owned(o) => Sample::Str(Cow::Owned(o)),
                }
            }
            (Conv::Ipmask { v4, v6 }, Sample::Ip(ip)) => Sample::Ip(match ip {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4)),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & (*v6)?)),
            }),
            (
                Conv::Map {
                    m,
                    out: MapOut::Value(out),
                    default,
                    ..
                },
                s,
            ) => {
                let hit = match s {
                    Sample::Int(i) => m.lookup_int(i).map(|e| map_value(e.value(), *out)),
                    Sample::Ip(a) => m.lookup_ip(a).map(|e| map_value(e.value(), *out)),
                    Sample::Str(v) => m.with_value(&v, |v| v.map(|v| map_value(v, *out))),
                    Sample::Bool(_) => None,
                };
                match hit {
                    Some(v) => v?,
                    None => default.clone()?,
                }
            }
            (
                Conv::Map {
                    m,
                    out: MapOut::Key,
                    ..
                },
                s,
            ) => match s {
                Sample::Int(i) => bytes_sample(m.lookup_int(i)?.key()),
                Sample::Ip(a) => bytes_sample(m.lookup_ip(a)?.key()),
                Sample::Str(v) => m.with_key(&v, |k| k.map(bytes_sample))?,
                Sample::Bool(_) => return None,
            },
            (
                Conv::Map {
                    m,
                    out: MapOut::Regm,
                    default,
                    ..
                },
                Sample::Str(v),
            ) => match m.lookup_regm(&v) {
                // A malformed template yields no sample, not the default.
                Some(hit) => bytes_sample(&hit.expand(&v)?),
                None => default.clone()?,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(s: &'a str, i: i64, d: &str, c: i64) -> Option<&'a str> {
        field_range(s.as_bytes(), i, d, c).map(|(a, b)| &s[a..b])
    }
    fn word<'a>(s: &'a str, i: i64, d: &str, c: i64) -> Option<&'a str> {
        word_range(s.as_bytes(), i, d, c).map(|(a, b)| &s[a..b])
    }

    #[test]
    fn field_semantics() {
        assert_eq!(field("a/b/c/d", 1, "/", 1), Some("a"));
        assert_eq!(field("a/b/c/d", 2, "/", 1), Some("b"));
        assert_eq!(field("a/b/c/d", 4, "/", 1), Some("d"));
        assert_eq!(field("a/b/c/d", 5, "/", 1), None);
        assert_eq!(field("a/b/c/d", -1, "/", 1), Some("d"));
        assert_eq!(field("a/b/c/d", -4, "/", 1), Some("a"));
        assert_eq!(field("a/b/c/d", -5, "/", 1), None);
        assert_eq!(field("a/b/c/d", 2, "/", 2), Some("b/c"));
        assert_eq!(field("a/b/c/d", 2, "/", 0), Some("b/c/d"));
        assert_eq!(field("a/b/c/d", 3, "/", 9), Some("c/d"));
        assert_eq!(field("a/b/c/d", -2, "/", 2), Some("b/c"));
        assert_eq!(field("a/b/c/d", -2, "/", 0), Some("a/b/c"));
        assert_eq!(field("/x//y/", 1, "/", 1), Some(""));
        assert_eq!(field("/x//y/", 3, "/", 1), Some(""));
        assert_eq!(field("/x//y/", -1, "/", 1), Some(""));
        assert_eq!(field("a:b.c", 2, ":.", 1), Some("b"));
        assert_eq!(field("", 1, "/", 1), Some(""));
    }

    #[test]
    fn word_semantics() {
        assert_eq!(word("/x//y/", 1, "/", 1), Some("x"));
        assert_eq!(word("/x//y/", 2, "/", 1), Some("y"));
        assert_eq!(word("/x//y/", 3, "/", 1), None);
        assert_eq!(word("/x//y/", -1, "/", 1), Some("y"));
        assert_eq!(word("/x//y//z", 1, "/", 2), Some("x//y"));
        assert_eq!(word("/x//y//z", -1, "/", 2), Some("y//z"));
        assert_eq!(word("a b c", 2, " ", 0), Some("b c"));
        assert_eq!(word("///", 1, "/", 1), None);
    }

    #[test]
    fn replacement_translation() {
        assert_eq!(haproxy_replacement(r"\1-\2$x\\"), "${1}-${2}$$x\\");
    }

    #[test]
    fn url_decoding() {
        assert_eq!(
            url_decode(b"a%20b+c?d+e", false).as_deref(),
            Some(&b"a b+c?d e"[..])
        );
        assert_eq!(url_decode(b"a+b", true).as_deref(), Some(&b"a b"[..]));
        assert_eq!(url_decode(b"%zz", false), None);
        assert_eq!(url_decode(b"%2", false), None);
        assert_eq!(url_decode(b"%+1", false), None);
        // Decoded bytes stay bytes (HAProxy does not check UTF-8).
        assert_eq!(
            url_decode(b"%E9t%C3%A9", false).as_deref(),
            Some(&b"\xE9t\xC3\xA9"[..])
        );
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(arith(Arith::Add, i64::MAX, 1), i64::MAX);
        assert_eq!(arith(Arith::Div, 7, 0), i64::MAX);
        assert_eq!(arith(Arith::Mod, 7, 0), 0);
        assert_eq!(arith(Arith::Div, i64::MIN, -1), i64::MAX);
        assert_eq!(arith(Arith::Mod, 7, 3), 1);
        assert_eq!(arith(Arith::Mul, 6, 7), 42);
        assert_eq!(arith(Arith::Sub, 6, 7), -1);
    }
}
