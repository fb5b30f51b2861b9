//! The TOML a translation writes: values, tables in file order, one
//! `key = value` line per haproxy.cfg line where the table allows it.

use std::fmt::Write as _;

/// A TOML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    Str(String),
    Int(i64),
    Bool(bool),
    Arr(Vec<V>),
    /// An inline table, keys in order.
    Tab(Vec<(String, V)>),
}

impl V {
    pub(crate) fn s(text: impl Into<String>) -> V {
        V::Str(text.into())
    }

    /// An integer when `text` is one, else a string.
    pub(crate) fn int_or_str(text: &str) -> V {
        match text.parse::<i64>() {
            Ok(n) => V::Int(n),
            Err(_) => V::s(text),
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            V::Str(s) => quote(s, out),
            V::Int(n) => {
                let _ = write!(out, "{n}");
            }
            V::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            V::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { ", " });
                    v.write(out);
                }
                out.push_str(if items.is_empty() { "]" } else { " ]" });
            }
            V::Tab(kv) => {
                out.push('{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { ", " });
                    // One part: a header name such as `X.Y` is one key.
                    key_part(k, out);
                    out.push_str(" = ");
                    v.write(out);
                }
                out.push_str(if kv.is_empty() { "}" } else { " }" });
            }
        }
    }
}

/// A TOML basic string.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One key part: bare when TOML allows it, quoted otherwise.
fn key_part(k: &str, out: &mut String) {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        out.push_str(k);
    } else {
        quote(k, out);
    }
}

/// A key: its dotted parts (`timeout.client`), each quoted if needed.
/// `\u{1}` separates parts whose own text may hold dots (`acl.<name>`).
fn key(k: &str, out: &mut String) {
    let parts: Vec<&str> = if k.contains('\u{1}') {
        k.split('\u{1}').collect()
    } else {
        k.split('.').collect()
    };
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        key_part(p, out);
    }
}

/// A dotted key whose last part is a name that may hold dots.
pub(crate) fn named_key(prefix: &str, name: &str) -> String {
    format!("{prefix}\u{1}{name}")
}

/// One line of a section: a key and its value, or a comment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    Set(String, V),
    Comment(String),
}

/// A table (`[frontend.www]`) with its lines in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Section {
    /// The header's key parts (`["frontend", "www"]`); empty: top level.
    pub(crate) header: Vec<String>,
    pub(crate) lines: Vec<Line>,
    /// Each key's line.
    index: std::collections::HashMap<String, usize>,
    /// Every strict prefix of a key, as its parts (`timeout` of
    /// `timeout.client`): a value there would clash.
    prefixes: std::collections::HashSet<Vec<String>>,
}

/// A key's parts.
fn parts(k: &str) -> Vec<String> {
    if k.contains('\u{1}') {
        k.split('\u{1}').map(str::to_owned).collect()
    } else {
        k.split('.').map(str::to_owned).collect()
    }
}

/// Why a key cannot be written: it would make the TOML invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clash(pub(crate) String);

impl Section {
    pub(crate) fn new(header: Vec<String>) -> Section {
        Section {
            header,
            ..Section::default()
        }
    }

    /// The value of `k`, if set.
    pub(crate) fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        let i = *self.index.get(k)?;
        match &mut self.lines[i] {
            Line::Set(_, v) => Some(v),
            Line::Comment(_) => None,
        }
    }

    /// Whether a new key `k` would clash with a key already written
    /// (`a.b` after `a`, or `a` after `a.b`).
    fn clash(&self, k: &str) -> Result<(), Clash> {
        let p = parts(k);
        if self.prefixes.contains(&p) {
            return Err(Clash(format!("`{}` already holds keys", p.join("."))));
        }
        for n in 1..p.len() {
            let prefix = p[..n].join(if k.contains('\u{1}') { "\u{1}" } else { "." });
            if self.index.contains_key(&prefix) {
                return Err(Clash(format!("`{}` is already a value", p[..n].join("."))));
            }
        }
        Ok(())
    }

    fn insert(&mut self, k: String, v: V) -> Result<(), Clash> {
        self.clash(&k)?;
        let p = parts(&k);
        for n in 1..p.len() {
            self.prefixes.insert(p[..n].to_vec());
        }
        self.index.insert(k.clone(), self.lines.len());
        self.lines.push(Line::Set(k, v));
        Ok(())
    }

    /// Sets `k` (replacing an earlier value, as a later haproxy.cfg line
    /// replaces an earlier one).
    pub(crate) fn set(&mut self, k: impl Into<String>, v: V) -> Result<(), Clash> {
        let k = k.into();
        match self.get_mut(&k) {
            Some(old) => {
                *old = v;
                Ok(())
            }
            None => self.insert(k, v),
        }
    }

    /// Appends `v` to the array `k` (one entry per haproxy.cfg line).
    pub(crate) fn push(&mut self, k: impl Into<String>, v: V) -> Result<(), Clash> {
        let k = k.into();
        match self.get_mut(&k) {
            Some(V::Arr(items)) => {
                items.push(v);
                Ok(())
            }
            Some(other) => {
                let first = std::mem::replace(other, V::Arr(Vec::new()));
                *other = V::Arr(vec![first, v]);
                Ok(())
            }
            None => self.insert(k, V::Arr(vec![v])),
        }
    }

    /// Removes `k` (and its line), if set.
    pub(crate) fn remove(&mut self, k: &str) {
        if let Some(i) = self.index.remove(k) {
            self.lines.remove(i);
            for idx in self.index.values_mut() {
                if *idx > i {
                    *idx -= 1;
                }
            }
            self.prefixes.clear();
            let keys: Vec<String> = self.index.keys().cloned().collect();
            for key in keys {
                let p = parts(&key);
                for n in 1..p.len() {
                    self.prefixes.insert(p[..n].to_vec());
                }
            }
        }
    }

    /// Whether any key starts with `prefix` followed by a dot, or is it.
    pub(crate) fn has_under(&self, prefix: &str) -> bool {
        self.index.contains_key(prefix) || self.prefixes.contains(&parts(prefix))
    }

    pub(crate) fn comment(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Comment(text.into()));
    }

    fn write(&self, out: &mut String) {
        if !self.header.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push('[');
            for (i, p) in self.header.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                key_part(p, out);
            }
            out.push_str("]\n");
        }
        for l in &self.lines {
            match l {
                Line::Set(k, v) => {
                    key(k, out);
                    out.push_str(" = ");
                    match v {
                        // One table per line: arrays of tables are
                        // written one entry per line.
                        V::Arr(items) if items.iter().any(|i| matches!(i, V::Tab(_))) => {
                            out.push_str("[\n");
                            for i in items {
                                out.push_str("  ");
                                i.write(out);
                                out.push_str(",\n");
                            }
                            out.push(']');
                        }
                        v => v.write(out),
                    }
                    out.push('\n');
                }
                Line::Comment(c) => {
                    for part in c.lines() {
                        out.push_str("# ");
                        // TOML comments take no control character but tab.
                        for ch in part.chars() {
                            if ch.is_control() && ch != '\t' {
                                let _ = write!(out, "\\x{:02X}", ch as u32);
                            } else {
                                out.push(ch);
                            }
                        }
                        out.push('\n');
                    }
                }
            }
        }
    }
}

/// The whole document.
pub(crate) fn document(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        if s.header.is_empty() && s.lines.is_empty() {
            continue;
        }
        s.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_toml_in_file_order() {
        let mut top = Section::new(vec![]);
        top.comment("translated");
        let mut fe = Section::new(vec!["frontend".into(), "www.example".into()]);
        fe.push("bind", V::Tab(vec![("addr".into(), V::s(":80"))]))
            .unwrap();
        fe.set("timeout.client", V::s("30s")).unwrap();
        fe.set(named_key("acl", "is.api"), V::s("path_beg /api"))
            .unwrap();
        fe.push(named_key("acl", "two"), V::s("a")).unwrap();
        fe.push(named_key("acl", "two"), V::s("b \"q\"\n")).unwrap();
        fe.set("maxconn", V::Int(10)).unwrap();
        fe.set("maxconn", V::Int(20)).unwrap();
        // What would make the TOML invalid is refused.
        assert!(fe.set("timeout", V::s("1s")).is_err());
        assert!(fe.set("maxconn.x", V::s("1s")).is_err());
        let text = document(&[top, fe]);
        assert_eq!(
            text,
            "# translated\n\n[frontend.\"www.example\"]\nbind = [\n  { addr = \":80\" },\n]\n\
             timeout.client = \"30s\"\nacl.\"is.api\" = \"path_beg /api\"\n\
             acl.two = [ \"a\", \"b \\\"q\\\"\\n\" ]\nmaxconn = 20\n"
        );
        let parsed: toml::Table = text.parse().unwrap();
        let fe = &parsed["frontend"]["www.example"];
        assert_eq!(fe["acl"]["is.api"].as_str(), Some("path_beg /api"));
        assert_eq!(fe["acl"]["two"][1].as_str(), Some("b \"q\"\n"));
        assert_eq!(fe["timeout"]["client"].as_str(), Some("30s"));
    }
}
