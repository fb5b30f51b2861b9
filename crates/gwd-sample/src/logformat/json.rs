//! JSON encoding of log-format values (HAProxy 3.0's `+json` option).
//!
//! # Model
//!
//! `%{+json}o` anywhere in a log format turns the whole line into one JSON
//! object: each *named* item (`%(name)ci`, `%(name)[expr]`) becomes a
//! `"name": value` member, in order, written `{"a": 1, "b": "x"}` as
//! HAProxy writes it; literal text and unnamed items are left out. On a
//! single item (`%{+json}[expr]`) the option encodes that value alone.
//!
//! A value is written by its sample type: integers and booleans bare,
//! strings and addresses quoted; a missing or empty sample is `""`. A
//! name may give the type to write (`%(name:sint)`, `:str`, `:bool`,
//! `:raw`), converting as HAProxy's casts do (`"12ab"` as `sint` is `12`);
//! a value that cannot be converted (an address as `sint`) is written by
//! its own type.
//!
//! # Invariants
//!
//! * The output is always valid JSON text for a value (bar `:raw`, which
//!   writes a string unquoted on the operator's request). HAProxy 3.0
//!   escapes only `"` and `\`; gwd also escapes control characters
//!   (`\u0001`), so that a visitor-controlled header can neither break the
//!   line nor the object.
//! * Bytes that are not UTF-8 are written as U+FFFD.

use std::fmt::Write;

use crate::sample::Sample;

/// The type a named item is written as (`%(name:type)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JsonType {
    /// `:str`: always a JSON string.
    Str,
    /// `:sint`: a signed integer.
    Sint,
    /// `:bool`: `true` or `false`.
    Bool,
    /// `:raw`: a string written as is, neither quoted nor escaped.
    Raw,
}

impl JsonType {
    /// The type named `s`, as HAProxy spells it.
    pub(super) fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "str" => JsonType::Str,
            "sint" => JsonType::Sint,
            "bool" => JsonType::Bool,
            "raw" => JsonType::Raw,
            _ => return None,
        })
    }
}

/// True for the characters a custom name may hold (HAProxy refuses `.`
/// and other punctuation).
pub(super) fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Writes `s` as a JSON string, quotes included.
pub(super) fn write_str(out: &mut dyn Write, s: &str) {
    let _ = out.write_char('"');
    let mut from = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() && (c as u32) < 0x80 => "",
            _ => continue,
        };
        let _ = out.write_str(&s[from..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            let _ = out.write_str(esc);
        }
        from = i + c.len_utf8();
    }
    let _ = out.write_str(&s[from..]);
    let _ = out.write_char('"');
}

/// The integer at the start of `b` (optional sign, then digits), as
/// HAProxy's string-to-integer cast reads it; `None` when there is none.
fn leading_int(b: &[u8]) -> Option<i64> {
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
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    Some(if neg { -v } else { v })
}

/// Writes one value. `hex`: the value is an integer or address written
/// in hexadecimal, as a string (`+X` on a log variable).
pub(super) fn write_value(
    out: &mut dyn Write,
    s: Option<Sample<'_>>,
    ty: Option<JsonType>,
    hex: bool,
) {
    let s = match s {
        Some(Sample::Str(t)) if t.is_empty() => None,
        s => s,
    };
    let Some(s) = s else {
        let _ = out.write_str("\"\"");
        return;
    };
    if hex {
        match &s {
            Sample::Int(v) => {
                let _ = write!(out, "\"{v:X}\"");
                return;
            }
            Sample::Ip(std::net::IpAddr::V4(a)) => {
                let _ = write!(out, "\"{:08X}\"", u32::from(*a));
                return;
            }
            _ => {}
        }
    }
    match (ty, s) {
        (Some(JsonType::Raw), Sample::Str(t)) => {
            let _ = out.write_str(&String::from_utf8_lossy(&t));
        }
        (Some(JsonType::Sint), Sample::Str(t)) => {
            let _ = write!(out, "{}", leading_int(&t).unwrap_or(0));
        }
        (Some(JsonType::Bool), Sample::Str(t)) => {
            let _ = write!(out, "{}", leading_int(&t).unwrap_or(0) != 0);
        }
        (Some(JsonType::Str), other) => write_str(out, &other.to_string()),
        (Some(JsonType::Sint), Sample::Bool(b)) => {
            let _ = write!(out, "{}", i64::from(b));
        }
        (Some(JsonType::Bool), Sample::Int(v)) => {
            let _ = write!(out, "{}", v != 0);
        }
        (_, Sample::Int(v)) => {
            let _ = write!(out, "{v}");
        }
        (_, Sample::Bool(b)) => {
            let _ = write!(out, "{b}");
        }
        (_, Sample::Ip(a)) => write_str(out, &a.to_string()),
        (_, Sample::Str(t)) => write_str(out, &String::from_utf8_lossy(&t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn val(s: Option<Sample<'_>>, ty: Option<JsonType>, hex: bool) -> String {
        let mut out = String::new();
        write_value(&mut out, s, ty, hex);
        out
    }

    fn st(s: &str) -> Option<Sample<'_>> {
        Some(Sample::Str(Cow::Borrowed(s.as_bytes())))
    }

    /// The values HAProxy 3.0.11 writes for the same items (see
    /// `docs/CONFIG.md#json-log-lines`).
    #[test]
    fn values_as_haproxy_writes_them() {
        let ip = Some(Sample::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(val(st("GET / HTTP/1.1"), None, false), "\"GET / HTTP/1.1\"");
        assert_eq!(val(Some(Sample::Int(-3)), None, false), "-3");
        assert_eq!(val(ip.clone(), None, false), "\"127.0.0.1\"");
        assert_eq!(val(None, None, false), "\"\"");
        assert_eq!(val(st(""), None, false), "\"\"");
        assert_eq!(val(None, Some(JsonType::Sint), false), "\"\"");
        assert_eq!(val(None, Some(JsonType::Bool), false), "\"\"");
        assert_eq!(val(st(""), Some(JsonType::Bool), false), "\"\"");
        assert_eq!(
            val(Some(Sample::Int(0)), Some(JsonType::Bool), false),
            "false"
        );
        assert_eq!(val(st("abc"), Some(JsonType::Bool), false), "false");
        assert_eq!(val(st("5"), Some(JsonType::Bool), false), "true");
        assert_eq!(val(st("12ab"), Some(JsonType::Sint), false), "12");
        assert_eq!(val(st("x"), Some(JsonType::Sint), false), "0");
        assert_eq!(val(Some(Sample::Bool(true)), None, false), "true");
        assert_eq!(
            val(Some(Sample::Bool(true)), Some(JsonType::Sint), false),
            "1"
        );
        assert_eq!(
            val(Some(Sample::Bool(true)), Some(JsonType::Str), false),
            "\"1\""
        );
        assert_eq!(
            val(Some(Sample::Int(200)), Some(JsonType::Str), false),
            "\"200\""
        );
        assert_eq!(
            val(Some(Sample::Int(200)), Some(JsonType::Bool), false),
            "true"
        );
        assert_eq!(val(st("x7"), Some(JsonType::Raw), false), "x7");
        // A cast that cannot be made writes the value by its own type.
        assert_eq!(
            val(ip.clone(), Some(JsonType::Sint), false),
            "\"127.0.0.1\""
        );
        assert_eq!(
            val(ip.clone(), Some(JsonType::Bool), false),
            "\"127.0.0.1\""
        );
        // `+X` on a log variable: a hexadecimal string, whatever the type.
        assert_eq!(val(ip, None, true), "\"7F000001\"");
        assert_eq!(
            val(Some(Sample::Int(35266)), Some(JsonType::Sint), true),
            "\"89C2\""
        );
    }

    #[test]
    fn strings_are_always_valid_json() {
        assert_eq!(val(st("u\"a\\b"), None, false), r#""u\"a\\b""#);
        assert_eq!(
            val(st("a\u{1}b\u{7f}c\u{1b}d\te\nf"), None, false),
            r#""a\u0001b\u007fc\u001bd\te\nf""#
        );
        assert_eq!(val(st("é"), None, false), "\"é\"");
        let bad = Some(Sample::Str(Cow::Borrowed(&b"a\xffb"[..])));
        assert_eq!(val(bad, None, false), "\"a\u{fffd}b\"");
    }

    #[test]
    fn leading_integers() {
        assert_eq!(leading_int(b"-12x"), Some(-12));
        assert_eq!(leading_int(b"+7"), Some(7));
        assert_eq!(leading_int(b"99999999999999999999999"), Some(i64::MAX));
        assert_eq!(leading_int(b""), None);
        assert_eq!(leading_int(b"-"), None);
    }
}
