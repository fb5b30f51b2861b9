//! What a lookup reports beyond the value: [`GetReply`] (the runtime
//! API's `get map` / `get acl` lines, in HAProxy's format) and
//! [`RegmMatch`] (a `map_regm` hit with its capture groups, and the
//! value template expanded against them).

use crate::entry::Entry;
use crate::index::MatchSpec;
use crate::value::ValueType;

/// The result of [`Matcher::get`](crate::Matcher::get) and
/// [`MapRef::get_replies`](crate::MapRef::get_replies): what `get map` /
/// `get acl` print.
#[derive(Clone, Debug)]
pub struct GetReply {
    /// The matcher's spec.
    pub spec: MatchSpec,
    /// The matching entry, if any.
    pub hit: Option<Entry>,
    /// Whether HAProxy would report `idx=tree` (vs `list`).
    pub tree: bool,
    /// How the use reads values (`None`: an ACL use, `value=none`). Always
    /// `Some(Str)` from [`Matcher::get`](crate::Matcher::get).
    pub values: Option<ValueType>,
}

impl GetReply {
    fn head(&self) -> String {
        format!(
            "type={}, case={}",
            self.spec.kind.name(),
            if self.spec.icase {
                "insensitive"
            } else {
                "sensitive"
            }
        )
    }

    /// The `get map` line, e.g.
    /// `type=beg, case=sensitive, found=yes, idx=tree, key="/api", value="v 1", type="str"`.
    /// `value_type` is the sample type of the value (`str`, `sint`, `ipv4`...);
    /// `None` prints `value=none` (a file loaded by an ACL).
    /// [`map_text`](Self::map_text) derives it from the use.
    pub fn map_line(&self, value_type: Option<&str>) -> String {
        match &self.hit {
            None => format!("{}, found=no", self.head()),
            Some(e) => {
                let idx = if self.tree { "tree" } else { "list" };
                match value_type {
                    Some(t) => format!(
                        "{}, found=yes, idx={idx}, key=\"{}\", value=\"{}\", type=\"{t}\"",
                        self.head(),
                        e.key_str(),
                        e.value_str()
                    ),
                    None => format!(
                        "{}, found=yes, idx={idx}, key=\"{}\", value=none",
                        self.head(),
                        e.key_str()
                    ),
                }
            }
        }
    }

    /// The `get map` line with the value's type as the use reads it:
    /// `type="str"`, `"sint"` (`map_*_int`), `"ipv4"`/`"ipv6"`
    /// (`map_*_ip`), or `value=none` for an ACL use.
    ///
    /// ```
    /// use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind, ValueType};
    /// let m = MapRef::new("w.map", RefKind::Map);
    /// m.register_use(MatchSpec::new(MatchKind::Str), Some(ValueType::Int)).unwrap();
    /// m.register_use(MatchSpec::new(MatchKind::Str), None).unwrap();
    /// m.load_map_str("w.map", b"a 10\n").unwrap();
    /// let lines: Vec<String> = m.get_replies(b"a").iter().map(|r| r.map_text()).collect();
    /// assert_eq!(lines, [
    ///     r#"type=str, case=sensitive, found=yes, idx=tree, key="a", value="10", type="sint""#,
    ///     r#"type=str, case=sensitive, found=yes, idx=tree, key="a", value=none"#,
    /// ]);
    /// ```
    pub fn map_text(&self) -> String {
        let ty = match (&self.hit, self.values) {
            (Some(e), Some(t)) => t.sample_type(e.value()),
            _ => None,
        };
        self.map_line(ty)
    }

    /// The `get acl` line, e.g.
    /// `type=beg, case=insensitive, match=yes, idx=list, pattern="/API"`.
    pub fn acl_line(&self) -> String {
        match &self.hit {
            None => format!("{}, match=no", self.head()),
            Some(e) => format!(
                "{}, match=yes, idx={}, pattern=\"{}\"",
                self.head(),
                if self.tree { "tree" } else { "list" },
                e.key_str()
            ),
        }
    }
}

/// A `regm` match ([`Matcher::lookup_regm`](crate::Matcher::lookup_regm)):
/// the entry and where the regex's groups 0 to 9 matched in the input.
#[derive(Clone, Debug)]
pub struct RegmMatch {
    /// The matching entry (first in file order).
    pub entry: Entry,
    pub(crate) groups: [Option<(usize, usize)>; 10],
}

impl RegmMatch {
    /// Byte range of group `i` (0 = the whole match) in the input, when the
    /// group took part in the match.
    pub fn group(&self, i: usize) -> Option<std::ops::Range<usize>> {
        self.groups.get(i).copied().flatten().map(|(a, b)| a..b)
    }

    /// The entry's value with HAProxy's substitutions against `input` (the
    /// string that was matched):
    /// * `\0`..`\9` insert that group's text (nothing for a group that did
    ///   not take part or does not exist);
    /// * `\xHH` inserts the byte with hex value `HH`;
    /// * `\` before any other byte inserts that byte (`\\` is `\`).
    ///
    /// `None` when the value ends with a lone `\`, or `\x` is not followed
    /// by two hex digits (the converter then yields no sample, as HAProxy
    /// does for a malformed template).
    pub fn expand(&self, input: &[u8]) -> Option<Vec<u8>> {
        expand_template(self.entry.value(), input, &self.groups)
    }
}

fn expand_template(
    tpl: &[u8],
    input: &[u8],
    groups: &[Option<(usize, usize)>; 10],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(tpl.len() + input.len());
    let mut i = 0;
    while i < tpl.len() {
        let c = tpl[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let &n = tpl.get(i)?;
        i += 1;
        if n.is_ascii_digit() {
            if let Some((a, b)) = groups[usize::from(n - b'0')] {
                out.extend_from_slice(input.get(a..b)?);
            }
        } else if n == b'x' {
            let hex = tpl.get(i..i + 2)?;
            let s = std::str::from_utf8(hex).ok()?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 2;
        } else {
            out.push(n);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(spans: &[(usize, usize)]) -> [Option<(usize, usize)>; 10] {
        let mut g = [None; 10];
        for (i, s) in spans.iter().enumerate() {
            g[i] = Some(*s);
        }
        g
    }

    #[test]
    fn templates_follow_haproxy() {
        let input = b"abc-def";
        let g = groups(&[(0, 7), (0, 3), (4, 7)]);
        let x = |t: &[u8]| expand_template(t, input, &g);
        assert_eq!(x(br"\2.\1").unwrap(), b"def.abc");
        assert_eq!(x(br"[\0]").unwrap(), b"[abc-def]");
        assert_eq!(x(br"\3\9|").unwrap(), b"|"); // unset groups: empty
        assert_eq!(x(br"a\\b\.c").unwrap(), br"a\b.c");
        assert_eq!(x(br"\x41\x7e").unwrap(), b"A~");
        assert_eq!(x(b"plain").unwrap(), b"plain");
        assert_eq!(x(br"bad\"), None);
        assert_eq!(x(br"\x4"), None);
        assert_eq!(x(br"\xzz"), None);
    }
}
